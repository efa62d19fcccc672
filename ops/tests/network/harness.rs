//! Starting a local network for one test, and the transfers a test sends on it.

use ledger::genesis::Genesis;
use ledger::primitives::{Address, U256};
use ledger::signature::SecretKey;
use ledger::state::Account;
use ledger::transaction::{TRANSFER_GAS, Transfer, TxKind};
use ops::devnet;

use crate::Expected;
use crate::client::Client;

/// A running local network in its own temporary folder.
pub struct Network {
    pub client: Client,
    pub keys: Vec<SecretKey>,
    pub genesis: Genesis,
    pub admin_token: String,
    prepared: devnet::Prepared,
    running: Option<devnet::Running>,
    _dir: tempfile::TempDir,
}

impl Network {
    /// Prepares and starts a network with this many validators and shards.
    pub fn start(validators: usize, shards: u32) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let options = devnet::Options {
            validators,
            shards,
            port: free_port(),
            dir: dir.path().to_path_buf(),
            fresh: true,
            pinning: devnet::Pinning::Kubo,
        };
        let prepared = devnet::prepare(&options).expect("the network prepares");
        let running = prepared.spawn().expect("the network starts");
        Self {
            client: Client::new(running.url()),
            keys: prepared.dev_keys().to_vec(),
            genesis: prepared.genesis().clone(),
            admin_token: prepared.admin_token().to_owned(),
            prepared,
            running: Some(running),
            _dir: dir,
        }
    }

    /// Stops the whole network (every process) and starts it again on the same state.
    pub fn restart(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().expect("the network stops");
        }
        let running = self.prepared.spawn().expect("the network restarts");
        self.client = Client::new(running.url());
        self.running = Some(running);
    }

    /// Stops the network, deletes the storage of the named Durable Object classes (as
    /// `<script>-<Class>`, e.g. `edgeledger-sequencer-Sequencer`), and starts it again: those
    /// objects start over from genesis, the others keep their state.
    pub fn restart_forgetting(&mut self, objects: &[&str]) {
        if let Some(running) = self.running.take() {
            running.stop().expect("the network stops");
        }
        for object in objects {
            let path = self.prepared.dir().join("state/v3/do").join(object);
            assert!(path.exists(), "no storage at {}", path.display());
            std::fs::remove_dir_all(&path).expect("storage deleted");
        }
        let running = self.prepared.spawn().expect("the network restarts");
        self.client = Client::new(running.url());
        self.running = Some(running);
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
                eprintln!("--- the network's log (end) ---\n{}", running.log_tail());
            }
        }
    }
}

/// A free TCP port on loopback (the OS picks; a race with another process is unlikely).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
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
