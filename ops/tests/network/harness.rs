//! Starting a local network for one test, and the transfers a test sends on it.

use ledger::api::SubmissionStatus;
use ledger::genesis::Genesis;
use ledger::limits::BATCH_TXS_MAX;
use ledger::primitives::{Address, U256};
use ledger::signature::SecretKey;
use ledger::state::Account;
use ledger::transaction::{Submission, TRANSFER_GAS, Transfer, TxKind};
use ops::devnet;

use crate::Expected;
use crate::client::Client;

/// A running local network in its own temporary folder.
pub struct Network {
    pub client: Client,
    pub keys: Vec<SecretKey>,
    pub genesis: Genesis,
    pub admin_token: String,
    options: devnet::Options,
    prepared: devnet::Prepared,
    running: Option<devnet::Running>,
    original_backup_key: String,
    _dir: tempfile::TempDir,
}

/// What a test's network runs.
pub struct NetworkOptions {
    pub validators: usize,
    pub shards: u32,
    pub pinning: devnet::Pinning,
    /// Run the archiver on this timer (`None`: only when the test asks).
    pub archive_every: Option<std::time::Duration>,
    /// Public requests per client address per 10 s.
    pub rate_limit: u32,
    /// Gateway processes (more than one: behind the balancer on the API's port).
    pub gateways: usize,
}

impl Default for NetworkOptions {
    /// The smallest network that still has more than one shard; no archiver timer.
    fn default() -> Self {
        Self {
            validators: 1,
            shards: 2,
            pinning: devnet::Pinning::Kubo,
            archive_every: None,
            rate_limit: devnet::LOCAL_RATE_LIMIT,
            gateways: 1,
        }
    }
}

impl Network {
    /// Prepares and starts a network with this many validators and shards.
    pub fn start(validators: usize, shards: u32) -> Self {
        Self::start_with(NetworkOptions {
            validators,
            shards,
            ..NetworkOptions::default()
        })
    }

    /// Prepares and starts a network as `options` say.
    pub fn start_with(options: NetworkOptions) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let options = devnet::Options {
            validators: options.validators,
            shards: options.shards,
            port: ops::ports::reserve_one().expect("a free port"),
            dir: dir.path().to_path_buf(),
            fresh: true,
            pinning: options.pinning,
            archive_every: options.archive_every,
            rate_limit: options.rate_limit,
            gateways: options.gateways,
        };
        let prepared = devnet::prepare(&options).expect("the network prepares");
        let running = prepared.spawn().expect("the network starts");
        Self {
            client: Client::new(running.url()),
            keys: prepared.dev_keys().to_vec(),
            genesis: prepared.genesis().clone(),
            admin_token: prepared.admin_token().to_owned(),
            original_backup_key: prepared.backup_key().to_owned(),
            options,
            prepared,
            running: Some(running),
            _dir: dir,
        }
    }

    /// The network folder.
    pub fn dir(&self) -> &std::path::Path {
        self.prepared.dir()
    }

    /// An admin API call with the network's token.
    pub fn admin(
        &self,
        method: &str,
        path: &str,
        json_body: Option<&[u8]>,
    ) -> crate::client::Answer {
        let authorization = format!("Bearer {}", self.admin_token);
        let mut headers = vec![("authorization", authorization.as_str())];
        if json_body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        self.client.send(method, path, &headers, json_body)
    }

    /// The IPFS node's RPC API.
    pub fn ipfs_api_url(&self) -> String {
        self.prepared.ipfs_api_url()
    }

    /// The archiver's backup key now.
    pub fn backup_key(&self) -> String {
        self.prepared.backup_key().to_owned()
    }

    /// The backup key the network was created with.
    pub fn original_backup_key(&self) -> String {
        self.original_backup_key.clone()
    }

    /// Makes the Pinata stand-in's gateway flip a byte of `cid` (or stop doing so).
    pub fn pinata_tamper(&self, cid: &str, on: bool) {
        let off = if on { "" } else { "&off=1" };
        let url = format!(
            "{}/__standin/tamper?cid={cid}{off}",
            self.prepared.pinata_url()
        );
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let response = agent
            .post(&url)
            .header(
                "authorization",
                format!("Bearer {}", self.prepared.pinata_jwt()),
            )
            .send_empty()
            .expect("the stand-in answers");
        assert_eq!(response.status(), 200, "tamper switch");
    }

    fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().expect("the network stops");
        }
    }

    /// Where miniflare keeps the Durable Objects' storage: a folder per class.
    fn object_storage(&self) -> std::path::PathBuf {
        self.dir().join("state/v3/do")
    }

    /// Starts the prepared network again (after a stop) and points the client at it.
    fn spawn_again(&mut self) {
        let running = self.prepared.spawn().expect("the network restarts");
        self.client = Client::new(running.url());
        self.running = Some(running);
    }

    fn start_again(&mut self) {
        self.prepared = devnet::prepare(&self.options).expect("the network prepares again");
        self.spawn_again();
    }

    /// Restarts with the archiver holding another backup key.
    pub fn restart_with_backup_key(&mut self, key: &str) {
        self.stop();
        let path = self.dir().join("network.json");
        let mut secrets: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("network.json")).expect("JSON");
        secrets["backup_key"] = serde_json::Value::String(key.to_owned());
        std::fs::write(&path, serde_json::to_vec_pretty(&secrets).expect("JSON")).expect("written");
        self.options.fresh = false;
        self.start_again();
    }

    /// Restarts with the named KV namespaces (bindings) emptied.
    pub fn restart_deleting_kv(&mut self, bindings: &[&str]) {
        self.stop();
        for binding in bindings {
            let deleted = delete_kv_namespace(self.dir(), binding);
            assert_eq!(deleted, 1, "no KV storage holds {binding}'s keys");
        }
        self.options.fresh = false;
        self.start_again();
    }

    /// The disaster: every Durable Object's storage (sequencer, shards, validators' guards)
    /// and the archived blocks are deleted; only the backup index (its own KV namespace) and
    /// the off-site IPFS node survive. Then the network starts again.
    pub fn restart_destroying_all_but_the_index(&mut self) {
        self.stop();
        let objects = self.object_storage();
        for entry in std::fs::read_dir(&objects).expect("Durable Object storage") {
            let entry = entry.expect("an entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            // Miniflare keeps KV namespaces as objects of its own: those are kept here and
            // deleted (or not) by binding below.
            if !name.starts_with("miniflare-") {
                std::fs::remove_dir_all(entry.path()).expect("deleted");
            }
        }
        // The archived blocks too, if any were archived yet.
        delete_kv_namespace(self.dir(), "ARCHIVE");
        self.options.fresh = false;
        self.start_again();
    }

    /// Stops the whole network (every process) and starts it again on the same state.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn_again();
    }

    /// Stops the network, deletes the storage of the named Durable Object classes (as
    /// `<script>-<Class>`, e.g. `edgeledger-sequencer-Sequencer`), and starts it again: those
    /// objects start over from genesis, the others keep their state.
    pub fn restart_forgetting(&mut self, objects: &[&str]) {
        self.stop();
        for object in objects {
            let path = self.object_storage().join(object);
            assert!(path.exists(), "no storage at {}", path.display());
            std::fs::remove_dir_all(&path).expect("storage deleted");
        }
        self.spawn_again();
    }

    /// Stops the network, hands `edit` each SQLite database of the named Durable Object class
    /// (as in [`Self::restart_forgetting`]), and starts it again on what `edit` left.
    pub fn restart_editing_storage(
        &mut self,
        object: &str,
        mut edit: impl FnMut(&rusqlite::Connection),
    ) {
        self.stop();
        let folder = self.object_storage().join(object);
        let mut edited = 0;
        for entry in std::fs::read_dir(&folder).expect("the class's storage") {
            let path = entry.expect("an entry").path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            // Miniflare's own `metadata.sqlite` sits beside the objects' databases.
            if name.ends_with(".sqlite") && !name.starts_with("metadata") {
                edit(&rusqlite::Connection::open(&path).expect("the database opens"));
                edited += 1;
            }
        }
        assert!(edited > 0, "no database in {}", folder.display());
        self.spawn_again();
    }

    /// With several gateways, how many client connections the balancer handed each since the
    /// last start.
    pub fn gateway_connections(&self) -> Vec<u64> {
        self.running
            .as_ref()
            .map(devnet::Running::gateway_connections)
            .unwrap_or_default()
    }

    /// Everything the runtime logged since the last start.
    pub fn log(&self) -> String {
        self.running
            .as_ref()
            .map(devnet::Running::log)
            .unwrap_or_default()
    }

    /// The address of development account `index`.
    pub fn address(&self, index: usize) -> Address {
        self.keys[index].public_key().address()
    }
}

impl Drop for Network {
    /// A failing test shows what the runtime logged, since its folder is deleted.
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(running) = &self.running {
                // The request lines (polls, mostly) would hide what went wrong.
                let log = running.log();
                let telling: Vec<&str> = log
                    .lines()
                    .filter(|line| {
                        !line.starts_with("[wrangler:info] GET ")
                            && !line.starts_with("[wrangler:info] POST ")
                    })
                    .collect();
                let tail = &telling[telling.len().saturating_sub(80)..];
                eprintln!(
                    "--- the network's log, requests left out (end) ---\n{}",
                    tail.join("\n")
                );
            }
        }
    }
}

/// Deletes the local storage of the KV namespace bound as `binding`.
///
/// Miniflare keeps each namespace in a SQLite file named after a hash of the namespace id, in
/// `state/v3/kv/miniflare-KVNamespaceObject/`; the file is recognised by the keys it holds
/// (`backup_index` for the index, `blocks/…` for archived blocks; each namespace holds only its
/// own), found in the database or its write-ahead log.
fn delete_kv_namespace(dir: &std::path::Path, binding: &str) -> usize {
    let marker: &[u8] = match binding {
        "ARCHIVE" => ledger::archive::ARCHIVED_BLOCK_KEY_PREFIX.as_bytes(),
        "BACKUP_INDEX" => ledger::archive::BACKUP_INDEX_KEY.as_bytes(),
        other => panic!("no KV namespace bound as {other}"),
    };
    let folder = dir.join("state/v3/kv/miniflare-KVNamespaceObject");
    let mut deleted = 0;
    for entry in std::fs::read_dir(&folder).expect("KV storage") {
        let path = entry.expect("an entry").path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with("metadata") || !name.ends_with(".sqlite") {
            continue;
        }
        let holds_marker = ["", "-wal"].iter().any(|suffix| {
            let file = folder.join(format!("{name}{suffix}"));
            std::fs::read(file).is_ok_and(|bytes| bytes.windows(marker.len()).any(|w| w == marker))
        });
        if holds_marker {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(folder.join(format!("{name}{suffix}")));
            }
            deleted += 1;
        }
    }
    assert!(deleted <= 1, "one namespace holds {binding}'s keys");
    deleted
}

/// Signs transfers from the development accounts with the right nonces, and keeps the
/// balances and nonces they must produce once committed.
pub struct Transfers {
    keys: Vec<SecretKey>,
    chain_id: u64,
    fee_recipient: Address,
    /// What every touched account must hold afterwards.
    pub expected: Expected,
}

/// Priority fee per gas: the local network's base fee is zero, so this is the price paid.
const PRIORITY_FEE_PER_GAS: u128 = 3;

impl Transfers {
    /// Asserts that every account the transfers touched holds exactly the nonce and balance
    /// booked for it; `context` goes into the failure message (a seed, say).
    pub fn assert_on_chain(&self, network: &Network, context: &str) {
        for (address, expected) in &self.expected {
            let now = network.client.account(address, false);
            assert_eq!(
                (now.nonce, now.balance),
                (expected.nonce, expected.balance),
                "{address} {context}"
            );
        }
    }

    pub fn new(network: &Network) -> Self {
        let mut expected = Expected::new();
        for account in &network.genesis.accounts {
            expected.insert(
                account.address,
                Account {
                    nonce: 0,
                    balance: account.balance,
                },
            );
        }
        let fee_recipient = network.genesis.config.fee_recipient;
        expected.entry(fee_recipient).or_default();
        Self {
            keys: network.keys.clone(),
            chain_id: network.genesis.config.chain_id,
            fee_recipient,
            expected,
        }
    }

    /// A transfer from development account `sender` with its next nonce; books its effect.
    pub fn transfer(&mut self, sender: usize, to: Address, value: U256) -> Vec<u8> {
        let raw = self.transfer_on_chain(sender, self.chain_id, to, value);
        let from = self.keys[sender].public_key().address();
        let fee = U256::from(u128::from(TRANSFER_GAS) * PRIORITY_FEE_PER_GAS);
        let account = self.expected.entry(from).or_default();
        account.nonce += 1;
        account.balance -= value + fee;
        self.expected.entry(to).or_default().balance += value;
        self.expected.entry(self.fee_recipient).or_default().balance += fee;
        raw
    }

    /// A transfer signed for `chain_id` with the sender's next nonce, booking nothing.
    pub fn transfer_on_chain(
        &self,
        sender: usize,
        chain_id: u64,
        to: Address,
        value: U256,
    ) -> Vec<u8> {
        let from = self.keys[sender].public_key().address();
        let nonce = self.expected.get(&from).map_or(0, |account| account.nonce);
        Transfer {
            kind: TxKind::DynamicFee,
            chain_id,
            nonce,
            max_fee_per_gas: PRIORITY_FEE_PER_GAS,
            max_priority_fee_per_gas: PRIORITY_FEE_PER_GAS,
            gas_limit: TRANSFER_GAS,
            to,
            value,
        }
        .sign(&self.keys[sender])
        .raw()
        .to_vec()
    }
}

/// A transfer of one wei with `nonce` from `key` to `to`, naming the sender's key.
pub fn keyed_transfer(key: &SecretKey, chain_id: u64, nonce: u64, to: Address) -> Submission {
    let raw = Transfer {
        kind: TxKind::DynamicFee,
        chain_id,
        nonce,
        max_fee_per_gas: 3,
        max_priority_fee_per_gas: 3,
        gas_limit: TRANSFER_GAS,
        to,
        value: U256::from(1u64),
    }
    .sign(key)
    .raw()
    .to_vec();
    Submission::with_key(raw, key.public_key().to_xy().to_vec())
}

/// A key of its own for each `seed`, in a family named by `family` (its other bytes).
pub fn seeded_key(family: u8, seed: u64) -> SecretKey {
    let mut bytes = [family; 32];
    bytes[24..].copy_from_slice(&seed.to_be_bytes());
    SecretKey::from_bytes(&bytes).expect("a valid key")
}

/// Submits in the largest batches, asserting that every transfer is accepted.
pub fn submit_all_accepted(network: &Network, submissions: &[Submission]) {
    for batch in submissions.chunks(BATCH_TXS_MAX) {
        let results = network.client.submit_keyed_batch(batch);
        let refused: Vec<_> = results
            .iter()
            .filter(|result| result.status != SubmissionStatus::Accepted)
            .collect();
        assert!(refused.is_empty(), "{:?}", &refused[..refused.len().min(3)]);
    }
}
