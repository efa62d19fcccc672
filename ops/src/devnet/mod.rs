//! The local network: every service of the chain on 127.0.0.1, in `wrangler dev` (workerd)
//! processes (the gateways, by default two behind a [`balancer`] on the API's port; the core;
//! the archiver; and the validators in two), with generated keys, genesis and secrets, and
//! state persisted on disk.
//!
//! [`prepare`] writes (once) and then reuses everything under the network folder:
//!
//! | file | holds |
//! | --- | --- |
//! | `network.json` (mode 0600) | the genesis, validator keys, admin token, backup key |
//! | `config/<service>/wrangler.json` | flattened wrangler configs ([`config`]) |
//! | `config/<service>/.dev.vars` (mode 0600) | that service's `GENESIS` and secrets |
//! | `state/` | Durable Object and KV storage (`--persist-to`) |
//! | `wrangler.log` | the runtime's output |
//! | `ipfs/` | the IPFS node's repository: the "off-site" store backups are pinned to, with the Pinata stand-in's file records (`pinata-standin.json`) |
//! | `pinata.jwt` (mode 0600) | the token the Pinata stand-in accepts (the archiver's `PINATA_JWT`) |
//! | `ipfs.log`, `pinata-standin.log` | their output |
//!
//! so stopping and starting again resumes the same chain. `ipfs/` outlives the rest: `--fresh`
//! keeps it, as a real off-site store would outlive a chain, and nothing else refers to it.
//!
//! [`Prepared::spawn`] starts an IPFS node ([`crate::ipfs::IpfsNode`]) and the Pinata stand-in
//! ([`crate::ipfs::PinataStandin`]) on free loopback ports, then the Workers, and waits until
//! the API answers; the archiver is configured to pin backups to one of them ([`Pinning`]).

pub mod balancer;
pub mod config;
pub mod keys;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use ledger::consensus::ValidatorSet;
use ledger::genesis::{ChainConfig, Genesis, GenesisAccount};
use ledger::limits::VALIDATORS_MAX;
use ledger::primitives::{U256, to_hex};
use ledger::signature::SecretKey;
use ledger::state::ShardLayout;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ipfs::{IpfsNode, PinataStandin};

/// The local network's chain id (the one local Ethereum nodes use).
pub const CHAIN_ID: u64 = 31_337;

/// Balance of each development account: 10,000 ether, as anvil and hardhat fund them.
pub fn development_balance() -> U256 {
    U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18u64))
}

/// How long the sequencer waits after the first pending transaction before proposing.
const BATCH_WINDOW_MS: u64 = 25;

/// Public requests per client address per 10 s on the local network by default (production's
/// wrangler.toml allows 1,000): the benchmark's observer alone makes about 800.
pub const LOCAL_RATE_LIMIT: u32 = 3_000;

/// Most validators the local network runs (the root wrangler.toml binds seven).
pub const LOCAL_VALIDATORS_MAX: usize = 7;

/// Gateway processes `ops net start` runs by default: one a core of these machines, so the
/// front door's sender recovery can use both (see [`balancer`]).
pub const LOCAL_GATEWAYS: usize = 2;

/// Most gateway processes the local network runs.
pub const LOCAL_GATEWAYS_MAX: usize = 4;

/// How long a start may take before it is reported as failed.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Blocks the local network's `Sequencer` keeps hot (the archiver's `ARCHIVE_HOT_BLOCKS`): the
/// smallest allowed, so a few seconds of transfers already exercise cold storage.
pub const LOCAL_ARCHIVE_HOT_BLOCKS: u64 = ledger::archive::HOT_BLOCKS_MIN;

/// The local archiver's backup schedule: every 100 blocks, or every minute with new blocks.
const LOCAL_BACKUP_EVERY_BLOCKS: u64 = 100;
const LOCAL_BACKUP_EVERY_MS: u64 = 60_000;
/// Backups the local archiver keeps pinned.
pub const LOCAL_BACKUP_RETENTION: u64 = 5;

/// How long a local archiver run holds its lease (production: 10 min): a run killed midway
/// keeps backups and restores waiting this long.
pub const LOCAL_ARCHIVER_LEASE_MS: u64 = 15_000;

/// How often `ops net start` runs the archiver (crons do not fire in local workerd).
pub const LOCAL_ARCHIVE_EVERY: Duration = Duration::from_secs(10);

/// The IPFS repository in the network folder (kept by `--fresh`).
const IPFS_DIR: &str = "ipfs";

/// Where the backups go: the archiver's `BACKUP_PINNING`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Pinning {
    /// Straight to the IPFS node's RPC API (`KUBO_API_URL`), as to a Kubo node.
    #[default]
    Kubo,
    /// Through the Pinata stand-in's API (`PINATA_API_URL`, `PINATA_UPLOADS_URL`,
    /// `PINATA_GATEWAY_URL`, `PINATA_JWT`), as to Pinata.
    Pinata,
}

impl Pinning {
    /// The archiver's `BACKUP_PINNING` value.
    pub fn as_var(self) -> &'static str {
        match self {
            Pinning::Kubo => "kubo",
            Pinning::Pinata => "pinata",
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Validators, 1 to [`LOCAL_VALIDATORS_MAX`].
    pub validators: usize,
    /// Shards, a power of two from 1 to 256.
    pub shards: u32,
    /// Port of the API on 127.0.0.1.
    pub port: u16,
    /// The network folder (git-ignored `.local/net` by default).
    pub dir: PathBuf,
    /// Start over: delete the folder's keys, genesis and state first (not `ipfs/`).
    pub fresh: bool,
    /// Where the archiver pins backups.
    pub pinning: Pinning,
    /// Run the archiver's scheduled work this often (`POST /v1/admin/archive/run`), as its
    /// cron would in production; `None`: only when asked.
    pub archive_every: Option<Duration>,
    /// Public requests per client address per 10 s (each gateway process counts its own).
    pub rate_limit: u32,
    /// Gateway processes, 1 to [`LOCAL_GATEWAYS_MAX`]: one serves the API's port itself; more
    /// serve ports of their own behind a [`balancer::Balancer`] on it.
    pub gateways: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            validators: 4,
            shards: 4,
            port: 8787,
            dir: repository_root().join(".local/net"),
            fresh: false,
            pinning: Pinning::default(),
            archive_every: Some(LOCAL_ARCHIVE_EVERY),
            rate_limit: LOCAL_RATE_LIMIT,
            gateways: LOCAL_GATEWAYS,
        }
    }
}

/// Everything a network generates once and reuses: `network.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Secrets {
    genesis: Genesis,
    validator_keys: Vec<String>,
    admin_token: String,
    backup_key: String,
    /// The Pinata stand-in's token; folders from before it existed get one on their next start.
    #[serde(default)]
    pinata_jwt: String,
}

/// The loopback ports of the services beside the Workers, and of the Workers' processes
/// other than the gateway (which serves the API's port), chosen by [`prepare`].
#[derive(Debug, Clone)]
struct Ports {
    ipfs_api: u16,
    pinata: u16,
    /// Each workerd process's own HTTP port, in [`PROCESSES`] order (the gateway's is unused:
    /// it serves the API's port).
    process: [u16; PROCESSES.len()],
    /// Each wrangler process's inspector port (they would all take 9229 otherwise).
    inspector: [u16; PROCESSES.len()],
    /// With more than one gateway, each one's HTTP and inspector port.
    gateways: Vec<(u16, u16)>,
}

/// The Workers' processes, in start order, and the services each runs (a process with none
/// of them, as the second validators' with one validator, is not started). One workerd
/// process runs its Workers on one thread, so spreading them over processes is what lets the
/// local network use more than one core: the validators verify in two (each verifies every
/// proposal, so two halves run at once), the `Sequencer` and shards order and store in
/// another, the archiver (a cron Worker of its own in production) copies blocks to KV and
/// checks backups in a fourth, so that its runs take no turns from the `Sequencer`'s thread,
/// and the gateway (the stateless front door, which finds every sender) admits in a fifth,
/// as edge isolates would in production. The shards keep their trees in a sixth: in
/// production each is a Durable Object of its own, never on the `Sequencer`'s thread, and
/// locally a commit's writes and the next block's witnesses then overlap the `Sequencer`'s
/// own work (bursts about a tenth faster than with the two on one thread; ARCHITECTURE,
/// *The shards in a process of their own*). Services in different processes reach each other
/// through wrangler's dev registry; a process starts after those whose services it binds.
const PROCESSES: [(&str, &[&str]); 6] = [
    (
        "validators-even",
        &[
            "validator-v0",
            "validator-v2",
            "validator-v4",
            "validator-v6",
        ],
    ),
    (
        "validators-odd",
        &["validator-v1", "validator-v3", "validator-v5"],
    ),
    ("shards", &["shards"]),
    ("core", &["sequencer"]),
    ("archiver", &["archiver"]),
    ("gateway", &["gateway"]),
];

/// The gateway's Worker name (the sequencer's front door in a process of its own).
const GATEWAY_SCRIPT: &str = "edgeledger-gateway";

/// The sequencer's Worker name, which hosts the `Sequencer` object.
const SEQUENCER_SCRIPT: &str = "edgeledger-sequencer";

/// A network ready to start.
pub struct Prepared {
    options: Options,
    secrets: Secrets,
    development_keys: Vec<SecretKey>,
    /// Each Workers process's configs, in [`PROCESSES`] order.
    processes: Vec<Vec<PathBuf>>,
    ports: Ports,
}

/// The repository root: where the committed configs, the built Workers and `node_modules`
/// are. `EDGELEDGER_ROOT` overrides it.
pub fn repository_root() -> PathBuf {
    std::env::var_os("EDGELEDGER_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let ops_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
            ops_dir.parent().unwrap_or(ops_dir).to_path_buf()
        })
}

/// Checks the options, generates or reloads keys and genesis, and writes the configs.
pub fn prepare(options: &Options) -> Result<Prepared> {
    ensure!(
        (1..=LOCAL_VALIDATORS_MAX).contains(&options.validators),
        "--validators must be 1 to {LOCAL_VALIDATORS_MAX}"
    );
    ensure!(
        options.shards.is_power_of_two() && options.shards <= 256,
        "--shards must be a power of two from 1 to 256"
    );
    ensure!(
        (1..=LOCAL_GATEWAYS_MAX).contains(&options.gateways),
        "--gateways must be 1 to {LOCAL_GATEWAYS_MAX}"
    );
    if options.fresh && options.dir.exists() {
        remove_all_but_ipfs(&options.dir)?;
    }
    fs::create_dir_all(&options.dir)?;
    let secrets_path = options.dir.join("network.json");
    let secrets = if secrets_path.exists() {
        let mut secrets: Secrets = serde_json::from_slice(&fs::read(&secrets_path)?)
            .with_context(|| format!("reading {}", secrets_path.display()))?;
        check_same_shape(&secrets.genesis, options)?;
        if secrets.pinata_jwt.is_empty() {
            secrets.pinata_jwt = to_hex(keys::random_bytes()?);
            write_private(&secrets_path, &serde_json::to_vec_pretty(&secrets)?)?;
        }
        secrets
    } else {
        let secrets = generate(options)?;
        write_private(&secrets_path, &serde_json::to_vec_pretty(&secrets)?)?;
        secrets
    };
    write_private(
        &options.dir.join(PINATA_JWT_FILE),
        secrets.pinata_jwt.as_bytes(),
    )?;
    let ports = free_ports(options.port, options.gateways)?;
    let configs = write_configs(options, &secrets, &ports)?;
    Ok(Prepared {
        options: options.clone(),
        development_keys: keys::development_keys(keys::DEVELOPMENT_ACCOUNT_COUNT)?,
        secrets,
        processes: group_by_process(&configs),
        ports,
    })
}

/// The file the Pinata stand-in reads its token from.
const PINATA_JWT_FILE: &str = "pinata.jwt";

/// `--fresh`: deletes everything in the network folder except the off-site store.
fn remove_all_but_ipfs(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        if entry.file_name() == IPFS_DIR {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        }
        .with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}

/// Distinct free loopback ports ([`crate::ports`]) other than the API's: for the IPFS API, the
/// Pinata stand-in, each Workers' process and its inspector, and with several gateways each
/// one's two.
fn free_ports(api_port: u16, gateways: usize) -> Result<Ports> {
    let processes = PROCESSES.len();
    let balanced = if gateways > 1 { gateways } else { 0 };
    // One spare: the API's port can be among them only when the system leaves no room below
    // its ephemeral range and the OS picks them all.
    let mut ports = crate::ports::reserve(2 + 2 * processes + 2 * balanced + 1)?;
    ports.retain(|&port| port != api_port);
    let mut process = [0; PROCESSES.len()];
    let mut inspector = [0; PROCESSES.len()];
    process.copy_from_slice(&ports[2..2 + processes]);
    inspector.copy_from_slice(&ports[2 + processes..2 + 2 * processes]);
    let gateways = ports[2 + 2 * processes..2 + 2 * processes + 2 * balanced]
        .chunks(2)
        .map(|pair| (pair[0], pair[1]))
        .collect();
    Ok(Ports {
        ipfs_api: ports[0],
        pinata: ports[1],
        process,
        inspector,
        gateways,
    })
}

/// Each service's config under the process that runs it ([`PROCESSES`]), in that order.
fn group_by_process(configs: &[(String, PathBuf)]) -> Vec<Vec<PathBuf>> {
    PROCESSES
        .iter()
        .map(|(_, services)| {
            configs
                .iter()
                .filter(|(name, _)| services.contains(&name.as_str()))
                .map(|(_, path)| path.clone())
                .collect()
        })
        .collect()
}

/// A restart must run the chain its folder holds.
fn check_same_shape(genesis: &Genesis, options: &Options) -> Result<()> {
    let validators = genesis.config.validators.len();
    let shards = genesis.config.layout().shard_count();
    if validators != options.validators || shards != options.shards {
        bail!(
            "{} holds a chain with {validators} validators and {shards} shards, not {} and {}: \
             start it with those, or pass --fresh to start a new chain (its state is deleted)",
            options.dir.display(),
            options.validators,
            options.shards
        );
    }
    Ok(())
}

fn generate(options: &Options) -> Result<Secrets> {
    let validator_keys = (0..options.validators)
        .map(|_| keys::random_secret_key_hex())
        .collect::<Result<Vec<_>>>()?;
    let public_keys = validator_keys
        .iter()
        .map(|key| Ok(keys::parse_secret_key(key)?.public_key()))
        .collect::<Result<Vec<_>>>()?;
    let validators = ValidatorSet::new(public_keys)
        .map_err(|error| anyhow::anyhow!("validator set: {error}"))?;
    let operator = validators
        .members()
        .first()
        .map(|validator| validator.address)
        .context("no validators")?;
    let accounts = keys::development_keys(keys::DEVELOPMENT_ACCOUNT_COUNT)?
        .iter()
        .map(|key| GenesisAccount {
            address: key.public_key().address(),
            balance: development_balance(),
        })
        .collect();
    let genesis = Genesis {
        config: ChainConfig {
            chain_id: CHAIN_ID,
            shard_bits: ShardLayout::new(options.shards.trailing_zeros() as u8)
                .map_err(|error| anyhow::anyhow!("shard layout: {error}"))?,
            validators,
            // The first validator is the operator of a local network: it is named as the
            // proposer in headers and collects the (priority) fees.
            proposer: operator,
            fee_recipient: operator,
            base_fee_per_gas: 0,
            batch_window_ms: BATCH_WINDOW_MS,
        },
        timestamp_ms: now_ms(),
        accounts,
    };
    genesis
        .validate()
        .map_err(|error| anyhow::anyhow!("genesis: {error}"))?;
    debug_assert!(options.validators <= VALIDATORS_MAX);
    Ok(Secrets {
        genesis,
        validator_keys,
        admin_token: to_hex(keys::random_bytes()?),
        backup_key: to_hex(keys::random_bytes()?),
        pinata_jwt: to_hex(keys::random_bytes()?),
    })
}

/// One service of the local network: its folder name, flattened config and `.dev.vars`.
type Service<'a> = (String, Map<String, Value>, Vec<(&'a str, &'a str)>);

/// Writes every service's flattened config and `.dev.vars`; returns each service's name and
/// config path.
fn write_configs(
    options: &Options,
    secrets: &Secrets,
    ports: &Ports,
) -> Result<Vec<(String, PathBuf)>> {
    let root = repository_root();
    let genesis = serde_json::to_string(&secrets.genesis)?;
    let mut services: Vec<Service<'_>> = Vec::new();
    let read =
        |path: &str| fs::read_to_string(root.join(path)).with_context(|| format!("reading {path}"));
    let mut sequencer = config::flatten(&read("wrangler.toml")?, &root, None)?;
    set_public_limits(&mut sequencer, options.port, options.rate_limit);
    let front_door_vars = vec![
        ("GENESIS", genesis.as_str()),
        ("ADMIN_TOKEN", secrets.admin_token.as_str()),
    ];
    services.push((
        "gateway".to_owned(),
        config::gateway(&sequencer, GATEWAY_SCRIPT, SEQUENCER_SCRIPT),
        front_door_vars.clone(),
    ));
    services.push(("sequencer".to_owned(), sequencer, front_door_vars));
    services.push((
        "shards".to_owned(),
        config::flatten(&read("shards/wrangler.toml")?, &root.join("shards"), None)?,
        vec![("GENESIS", &genesis)],
    ));
    let validator_toml = read("validator/wrangler.toml")?;
    for (index, key) in secrets.validator_keys.iter().enumerate() {
        let environment = format!("v{index}");
        let mut flattened =
            config::flatten(&validator_toml, &root.join("validator"), Some(&environment))?;
        config::set_var(&mut flattened, "FAULT_INJECTION", "enabled");
        services.push((
            format!("validator-{environment}"),
            flattened,
            vec![("GENESIS", &genesis), ("VALIDATOR_SECRET_KEY", key)],
        ));
    }
    let mut archiver = config::flatten(
        &read("archiver/wrangler.toml")?,
        &root.join("archiver"),
        None,
    )?;
    set_pinning_vars(&mut archiver, options.pinning, ports);
    set_archive_vars(&mut archiver);
    services.push((
        "archiver".to_owned(),
        archiver,
        vec![
            ("GENESIS", &genesis),
            ("BACKUP_ENCRYPTION_KEY", &secrets.backup_key),
            ("PINATA_JWT", &secrets.pinata_jwt),
        ],
    ));
    let mut paths = Vec::new();
    for (name, flattened, variables) in services {
        let dir = options.dir.join("config").join(&name);
        fs::create_dir_all(&dir)?;
        let path = dir.join("wrangler.json");
        fs::write(&path, serde_json::to_vec_pretty(&flattened)?)?;
        write_private(
            &dir.join(".dev.vars"),
            config::dev_vars(&variables)?.as_bytes(),
        )?;
        paths.push((name, path));
    }
    Ok(paths)
}

/// The local network's public limits: a rate limit high enough for the benchmark's observer
/// and the test suite from one address, and CORS for the API's own origin (what the
/// dashboard needs when a browser sends `Origin` on its own requests).
fn set_public_limits(sequencer: &mut Map<String, Value>, port: u16, rate_limit: u32) {
    config::set_rate_limit(sequencer, rate_limit);
    let origins = format!("http://127.0.0.1:{port},http://localhost:{port}");
    config::set_var(sequencer, "CORS_ORIGINS", &origins);
}

/// Points the archiver at the local IPFS node and Pinata stand-in. The stand-in serves
/// Pinata's API, upload and gateway hosts on one port, so the three URLs are the same.
fn set_pinning_vars(archiver: &mut Map<String, Value>, pinning: Pinning, ports: &Ports) {
    let kubo = format!("http://127.0.0.1:{}", ports.ipfs_api);
    let pinata = format!("http://127.0.0.1:{}", ports.pinata);
    config::set_var(archiver, "BACKUP_PINNING", pinning.as_var());
    config::set_var(archiver, "KUBO_API_URL", &kubo);
    config::set_var(archiver, "PINATA_API_URL", &pinata);
    config::set_var(archiver, "PINATA_UPLOADS_URL", &pinata);
    config::set_var(archiver, "PINATA_GATEWAY_URL", &pinata);
}

/// The local archiver's cold storage and backup schedule: small, so they show within minutes.
fn set_archive_vars(archiver: &mut Map<String, Value>) {
    let settings = [
        ("ARCHIVE_HOT_BLOCKS", LOCAL_ARCHIVE_HOT_BLOCKS),
        ("ARCHIVE_BLOCKS_PER_RUN", 64),
        ("BACKUP_EVERY_BLOCKS", LOCAL_BACKUP_EVERY_BLOCKS),
        ("BACKUP_EVERY_MS", LOCAL_BACKUP_EVERY_MS),
        ("BACKUP_RETENTION", LOCAL_BACKUP_RETENTION),
        ("ARCHIVER_LEASE_MS", LOCAL_ARCHIVER_LEASE_MS),
    ];
    for (name, value) in settings {
        config::set_var(archiver, name, &value.to_string());
    }
}

/// What an operator's tool needs from a local network's folder: its genesis, admin token and
/// backup key (from `network.json`).
pub struct NetworkFiles {
    /// The chain's genesis.
    pub genesis: Genesis,
    /// The admin token.
    pub admin_token: String,
    /// The backup key, `0x` hex.
    pub backup_key: String,
}

/// Reads `network.json` from a network folder.
pub fn read_network_files(dir: &Path) -> Result<NetworkFiles> {
    let path = dir.join("network.json");
    let secrets: Secrets = serde_json::from_slice(
        &fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("parsing {}", path.display()))?;
    Ok(NetworkFiles {
        genesis: secrets.genesis,
        admin_token: secrets.admin_token,
        backup_key: secrets.backup_key,
    })
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

impl Prepared {
    /// The chain's genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.secrets.genesis
    }

    /// The admin token (the sequencer's `ADMIN_TOKEN`).
    pub fn admin_token(&self) -> &str {
        &self.secrets.admin_token
    }

    /// The funded development accounts' keys.
    pub fn dev_keys(&self) -> &[SecretKey] {
        &self.development_keys
    }

    /// The API's base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.options.port)
    }

    /// The network folder.
    pub fn dir(&self) -> &Path {
        &self.options.dir
    }

    /// The IPFS node's RPC API base URL (the archiver's `KUBO_API_URL`).
    pub fn ipfs_api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.ipfs_api)
    }

    /// The Pinata stand-in's base URL: API, uploads and gateway (`PINATA_*_URL`).
    pub fn pinata_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.pinata)
    }

    /// The token the Pinata stand-in accepts (the archiver's `PINATA_JWT`).
    pub fn pinata_jwt(&self) -> &str {
        &self.secrets.pinata_jwt
    }

    /// The archiver's backup key (`BACKUP_ENCRYPTION_KEY`), `0x` hex.
    pub fn backup_key(&self) -> &str {
        &self.secrets.backup_key
    }

    /// Starts the IPFS node and the Pinata stand-in, then the Workers (their processes in one
    /// process group), and waits until the API answers. Each runs in its own process group; a failed start
    /// stops what had started.
    pub fn spawn(&self) -> Result<Running> {
        let root = repository_root();
        for service in ["sequencer", "shards", "validator", "archiver"] {
            let built = root.join(service).join("build/index.js");
            ensure!(
                built.exists(),
                "{} is missing: build the Workers first (scripts/build-workers.sh)",
                built.display()
            );
        }
        let wrangler = root.join("node_modules/.bin/wrangler");
        ensure!(
            wrangler.exists(),
            "{} is missing: run scripts/setup.sh",
            wrangler.display()
        );
        // The off-site store first: the archiver may pin as soon as it runs.
        let dir = &self.options.dir;
        let ipfs = IpfsNode::start(&dir.join(IPFS_DIR), self.ports.ipfs_api)?;
        let pinata = PinataStandin::start(
            ipfs.api_url(),
            &dir.join(PINATA_JWT_FILE),
            self.ports.pinata,
            &dir.join("pinata-standin.log"),
            Some(&dir.join(IPFS_DIR).join("pinata-standin.json")),
        )?;
        let log_path = self.options.dir.join("wrangler.log");
        let log = fs::File::create(&log_path)?;
        // Once in a full test run a restarted wrangler never served; every process is stopped
        // and the whole set started once more before the network gives up.
        let mut started = self.start_processes(&wrangler, &log);
        if let Err(error) = &started {
            eprintln!("the Workers' processes did not start ({error:#}); starting them again");
            started = self.start_processes(&wrangler, &log);
        }
        let children = started?;
        let balancer = if self.ports.gateways.is_empty() {
            None
        } else {
            let gateway_ports = self.ports.gateways.iter().map(|(port, _)| *port).collect();
            Some(balancer::Balancer::start(self.options.port, gateway_ports)?)
        };
        let running = Running {
            children,
            balancer,
            url: self.url(),
            log_path,
            pinata_jwt: self.secrets.pinata_jwt.clone(),
            pinata: Some(pinata),
            ipfs: Some(ipfs),
            archive_timer: None,
        };
        running.wait_ready(READY_TIMEOUT)?;
        let mut running = running;
        if let Some(every) = self.options.archive_every {
            running.archive_timer = Some(ArchiveTimer::start(
                self.url(),
                self.secrets.admin_token.clone(),
                every,
            ));
        }
        Ok(running)
    }
}

impl Prepared {
    /// Starts every Workers process in [`PROCESSES`] order, each serving before the next
    /// starts; on a failure, stops those started.
    fn start_processes(&self, wrangler: &Path, log: &fs::File) -> Result<Vec<Child>> {
        let mut children: Vec<Child> = Vec::new();
        for (index, configs) in self.processes.iter().enumerate() {
            let (name, _) = PROCESSES[index];
            if configs.is_empty() {
                continue;
            }
            for (port, inspector_port) in self.ports_of(index) {
                // One process group for all of them, so stopping it stops every workerd.
                let group = children.first().map_or(0, Child::id);
                let started = self
                    .spawn_workers(wrangler, configs, port, inspector_port, log, group)
                    .map(|child| children.push(child))
                    // Each process serves before the next starts: a process that binds
                    // services of another picks them up from wrangler's dev registry as it
                    // starts, and one started before them was seen to stall its first round.
                    .and_then(|()| wait_serving(port, READY_TIMEOUT));
                if let Err(error) = started {
                    kill_children(&mut children);
                    return Err(error.context(format!("starting the {name} process")));
                }
            }
        }
        Ok(children)
    }

    /// The HTTP and inspector ports of each copy of process `index` of [`PROCESSES`]: one,
    /// but for the gateway when there are several (the API's port is then the balancer's).
    fn ports_of(&self, index: usize) -> Vec<(u16, u16)> {
        let inspector = self.ports.inspector[index];
        match PROCESSES[index].0 {
            "gateway" if self.ports.gateways.is_empty() => vec![(self.options.port, inspector)],
            "gateway" => self.ports.gateways.clone(),
            _ => vec![(self.ports.process[index], inspector)],
        }
    }

    /// Starts one `wrangler dev` for `configs` on `port`, its output appended to `log`, in
    /// process group `group` (0: a new group, led by it).
    fn spawn_workers(
        &self,
        wrangler: &Path,
        configs: &[PathBuf],
        port: u16,
        inspector_port: u16,
        log: &fs::File,
        group: u32,
    ) -> Result<Child> {
        let mut command = Command::new(wrangler);
        command.arg("dev");
        for config in configs {
            command.arg("-c").arg(config);
        }
        // No DevTools inspector proxy. `wrangler dev` always connects one to each workerd
        // and enables the Network domain, so every fetch between Workers (proposals,
        // witnesses, votes) also goes out as four DevTools events, the response body
        // base64-encoded in one, through a proxy Worker to Node, which appends each to the
        // debug log: 4.5 of the 31 CPU seconds of a 15 s run at 2,000 transfers/s. The CLI
        // has no switch for it; wrangler skips the proxy when this variable says a VS Code
        // debug terminal attaches its own (ProxyController.inspectorEnabled in wrangler 4.86).
        // Worker logs do not depend on it: they arrive on workerd's stdout. Set
        // EDGELEDGER_DEVTOOLS to keep the proxy (to attach DevTools on the inspector port).
        if std::env::var_os("EDGELEDGER_DEVTOOLS").is_none() {
            command.env("VSCODE_INSPECTOR_OPTIONS", "edgeledger");
        }
        command
            .args(["--ip", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .arg("--inspector-port")
            .arg(inspector_port.to_string())
            .arg("--persist-to")
            .arg(self.options.dir.join("state"))
            .args([
                "--show-interactive-dev-session=false",
                "--log-level",
                "info",
            ])
            .env("WRANGLER_SEND_METRICS", "false")
            // The network's own dev registry: its processes find each other there and nowhere
            // else, so entries left by another network (or one killed before it could remove
            // them) are never picked up. And wrangler's debug log (every message, appended one
            // by one) goes with the network instead of piling up in the home directory.
            .env("WRANGLER_REGISTRY_PATH", self.options.dir.join("registry"))
            .env(
                "WRANGLER_LOG_PATH",
                self.options.dir.join("wrangler-debug.log"),
            )
            .env("CI", "1")
            .current_dir(&self.options.dir)
            .stdin(Stdio::null())
            // Clones of one handle share its offset: the processes' lines interleave, whole.
            .stdout(log.try_clone()?)
            .stderr(log.try_clone()?);
        std::os::unix::process::CommandExt::process_group(&mut command, group as i32);
        command.spawn().context("starting wrangler")
    }
}

/// Waits until something answers HTTP on the loopback `port` (any status: the process is up).
fn wait_serving(port: u16, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let agent = crate::http::agent(Duration::from_secs(5));
    while agent
        .get(format!("http://127.0.0.1:{port}/"))
        .call()
        .is_err()
    {
        ensure!(
            Instant::now() < deadline,
            "nothing answered on port {port} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Kills every process of the Workers' group, then each child, and reaps them.
fn kill_children(children: &mut Vec<Child>) {
    if let Some(leader) = children.first() {
        let group = format!("-{}", leader.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
    }
    for mut child in children.drain(..) {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A running network: the Workers, the IPFS node and the Pinata stand-in; dropping it stops
/// them all.
#[derive(Debug)]
pub struct Running {
    /// The Workers' processes; the first leads their process group.
    children: Vec<Child>,
    /// The API's port, with several gateways.
    balancer: Option<balancer::Balancer>,
    url: String,
    log_path: PathBuf,
    pinata_jwt: String,
    pinata: Option<PinataStandin>,
    ipfs: Option<IpfsNode>,
    archive_timer: Option<ArchiveTimer>,
}

/// Runs the archiver's scheduled work on a timer, as its cron trigger would in production
/// (crons do not fire by themselves in local workerd), through the admin API.
#[derive(Debug)]
struct ArchiveTimer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ArchiveTimer {
    fn start(url: String, admin_token: String, every: Duration) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let agent = crate::http::agent(Duration::from_secs(120));
            let mut next = Instant::now() + every;
            while !stopped.load(Ordering::Relaxed) {
                if Instant::now() < next {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
                // A failed run is in the network's log; the next tick tries again.
                let _ = agent
                    .post(format!("{url}/v1/admin/archive/run"))
                    .header("authorization", format!("Bearer {admin_token}"))
                    .send_empty();
                next = Instant::now() + every;
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ArchiveTimer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Running {
    /// The API's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The IPFS node's RPC API base URL (the archiver's `KUBO_API_URL`).
    pub fn ipfs_api_url(&self) -> &str {
        self.ipfs.as_ref().map_or("", IpfsNode::api_url)
    }

    /// The Pinata stand-in's base URL: API, uploads and gateway (`PINATA_*_URL`).
    pub fn pinata_url(&self) -> &str {
        self.pinata.as_ref().map_or("", PinataStandin::url)
    }

    /// The token the Pinata stand-in accepts (the archiver's `PINATA_JWT`).
    pub fn pinata_jwt(&self) -> &str {
        &self.pinata_jwt
    }

    /// With several gateways, how many client connections each was handed; empty with one.
    pub fn gateway_connections(&self) -> Vec<u64> {
        self.balancer
            .as_ref()
            .map_or_else(Vec::new, balancer::Balancer::connections_handed)
    }

    /// Waits until `GET /v1/status` answers 200.
    fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let agent = crate::http::agent(Duration::from_secs(5));
        loop {
            if let Ok(response) = agent.get(format!("{}/v1/status", self.url)).call() {
                if response.status() == 200 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "the network did not answer within {timeout:?}; the end of {}:\n{}",
                    self.log_path.display(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Everything the runtime logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The last lines of the runtime's log.
    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Kills the Workers' whole process group (wrangler and workerd) at once, as a crash
    /// would, and waits for it to exit; then stops the Pinata stand-in and the IPFS node (the
    /// off-site store, which a crash of the network would not take down).
    pub fn stop(mut self) -> Result<()> {
        self.kill()
    }

    /// The id of the Workers' process group (its wrangler process's id).
    pub fn process_group(&self) -> Option<u32> {
        self.children.first().map(Child::id)
    }

    /// The ids of every process group of the network: the Workers', the Pinata stand-in's and
    /// the IPFS node's.
    pub fn process_groups(&self) -> Vec<u32> {
        let pinata = self.pinata.as_ref().and_then(PinataStandin::process_group);
        let ipfs = self.ipfs.as_ref().and_then(IpfsNode::process_group);
        self.process_group()
            .into_iter()
            .chain(pinata)
            .chain(ipfs)
            .collect()
    }

    /// Asks a process group to shut down cleanly (SIGINT, as Ctrl-C would if it shared the
    /// terminal's group).
    ///
    /// Interrupting only the Workers' group is enough: [`Running::wait`] then returns, and the
    /// stand-in and the IPFS node are stopped as the network is dropped.
    pub fn interrupt_group(group: u32) {
        let _ = Command::new("kill")
            .args(["-INT", "--", &format!("-{group}")])
            .status();
    }

    /// [`Running::interrupt_group`] for each of `groups` (e.g. [`Running::process_groups`]).
    pub fn interrupt_groups(groups: &[u32]) {
        for &group in groups {
            Self::interrupt_group(group);
        }
    }

    /// Waits for the Workers to exit, then stops the stand-in and the IPFS node.
    pub fn wait(mut self) -> Result<()> {
        for child in &mut self.children {
            child.wait()?;
        }
        self.kill()
    }

    /// Kills the Workers, then stops the stand-in (it uses the node), then the IPFS node.
    fn kill(&mut self) -> Result<()> {
        if let Some(mut timer) = self.archive_timer.take() {
            timer.stop();
        }
        if let Some(mut balancer) = self.balancer.take() {
            balancer.stop();
        }
        let workers = self.kill_workers();
        let pinata = self.pinata.take().map_or(Ok(()), PinataStandin::stop);
        let ipfs = self.ipfs.take().map_or(Ok(()), IpfsNode::stop);
        workers.and(pinata).and(ipfs)
    }

    fn kill_workers(&mut self) -> Result<()> {
        kill_children(&mut self.children);
        Ok(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_runs_in_exactly_one_process_validators_split_in_two_and_shards_apart() {
        let names = [
            "gateway",
            "sequencer",
            "shards",
            "validator-v0",
            "validator-v1",
            "validator-v2",
            "archiver",
        ];
        let configs: Vec<(String, PathBuf)> = names
            .iter()
            .map(|name| ((*name).to_owned(), PathBuf::from(format!("{name}.json"))))
            .collect();
        let processes = group_by_process(&configs);
        let listed = |index: usize| -> Vec<String> {
            processes[index]
                .iter()
                .map(|path| path.display().to_string())
                .collect()
        };
        assert_eq!(listed(0), ["validator-v0.json", "validator-v2.json"]);
        assert_eq!(listed(1), ["validator-v1.json"]);
        assert_eq!(listed(2), ["shards.json"]);
        assert_eq!(listed(3), ["sequencer.json"]);
        assert_eq!(listed(4), ["archiver.json"]);
        assert_eq!(listed(5), ["gateway.json"]);
        let placed: usize = processes.iter().map(Vec::len).sum();
        assert_eq!(placed, names.len(), "each service once");
        let one_validator = group_by_process(&configs[..4]);
        assert!(
            one_validator[1].is_empty(),
            "no second validators process for one validator"
        );
    }

    fn options(dir: &Path, validators: usize, shards: u32) -> Options {
        Options {
            validators,
            shards,
            port: 1,
            dir: dir.to_path_buf(),
            fresh: false,
            pinning: Pinning::Kubo,
            archive_every: None,
            rate_limit: LOCAL_RATE_LIMIT,
            gateways: 1,
        }
    }

    #[test]
    fn prepare_writes_a_genesis_with_the_development_accounts_and_reuses_it() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let first = prepare(&options(dir.path(), 3, 8)).expect("prepares");
        let genesis = first.genesis();
        assert_eq!(genesis.config.chain_id, CHAIN_ID);
        assert_eq!(genesis.config.validators.len(), 3);
        assert_eq!(genesis.config.layout().shard_count(), 8);
        assert_eq!(genesis.accounts.len(), keys::DEVELOPMENT_ACCOUNT_COUNT);
        assert!(
            genesis
                .accounts
                .iter()
                .all(|account| account.balance == development_balance())
        );
        assert_eq!(
            genesis.accounts[0].address.to_string(),
            "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
        );
        // Secrets files are private; a second prepare reuses the same chain.
        let mode = |path: PathBuf| {
            use std::os::unix::fs::PermissionsExt;
            fs::metadata(path).expect("exists").permissions().mode() & 0o777
        };
        assert_eq!(mode(dir.path().join("network.json")), 0o600);
        assert_eq!(
            mode(dir.path().join("config/validator-v2/.dev.vars")),
            0o600
        );
        let second = prepare(&options(dir.path(), 3, 8)).expect("prepares again");
        assert_eq!(second.genesis(), first.genesis());
        assert_eq!(second.admin_token(), first.admin_token());
        let vars =
            fs::read_to_string(dir.path().join("config/validator-v1/.dev.vars")).expect("written");
        assert!(vars.contains(&first.secrets.validator_keys[1]));
        let config: Value = serde_json::from_slice(
            &fs::read(dir.path().join("config/validator-v1/wrangler.json")).expect("written"),
        )
        .expect("json");
        assert_eq!(config["name"], "edgeledger-validator-v1");
        assert_eq!(config["vars"]["FAULT_INJECTION"], "enabled");
    }

    #[test]
    fn another_shape_on_an_existing_chain_needs_fresh() {
        let dir = tempfile::tempdir().expect("temporary folder");
        prepare(&options(dir.path(), 2, 2)).expect("prepares");
        let error = prepare(&options(dir.path(), 4, 2))
            .err()
            .expect("shape differs");
        assert!(error.to_string().contains("--fresh"), "{error}");
        let mut fresh = options(dir.path(), 4, 2);
        fresh.fresh = true;
        assert_eq!(
            prepare(&fresh)
                .expect("fresh")
                .genesis()
                .config
                .validators
                .len(),
            4
        );
    }

    #[test]
    fn the_archiver_is_pointed_at_the_local_ipfs_node_and_pinata_stand_in() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let mut pinata = options(dir.path(), 1, 1);
        pinata.pinning = Pinning::Pinata;
        let prepared = prepare(&pinata).expect("prepares");
        let config: Value = serde_json::from_slice(
            &fs::read(dir.path().join("config/archiver/wrangler.json")).expect("written"),
        )
        .expect("json");
        let vars = &config["vars"];
        assert_eq!(vars["BACKUP_PINNING"], "pinata");
        assert_eq!(vars["KUBO_API_URL"], prepared.ipfs_api_url().as_str());
        for name in ["PINATA_API_URL", "PINATA_UPLOADS_URL", "PINATA_GATEWAY_URL"] {
            assert_eq!(vars[name], prepared.pinata_url().as_str(), "{name}");
        }
        assert_ne!(prepared.ipfs_api_url(), prepared.pinata_url());
        assert!(prepared.ipfs_api_url().starts_with("http://127.0.0.1:"));
        // The token is a secret: in .dev.vars and the stand-in's 0600 file, not in vars.
        assert_eq!(prepared.pinata_jwt().len(), 66);
        assert!(vars.get("PINATA_JWT").is_none());
        let dev_vars =
            fs::read_to_string(dir.path().join("config/archiver/.dev.vars")).expect("written");
        assert!(dev_vars.contains(&format!("PINATA_JWT='{}'", prepared.pinata_jwt())));
        let jwt_file = dir.path().join(PINATA_JWT_FILE);
        assert_eq!(
            fs::read_to_string(&jwt_file).expect("written"),
            prepared.pinata_jwt()
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&jwt_file)
            .expect("exists")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        // Kubo is the default backend.
        let kubo = prepare(&options(dir.path(), 1, 1)).expect("prepares again");
        let config: Value = serde_json::from_slice(
            &fs::read(dir.path().join("config/archiver/wrangler.json")).expect("written"),
        )
        .expect("json");
        assert_eq!(config["vars"]["BACKUP_PINNING"], "kubo");
        assert_eq!(kubo.pinata_jwt(), prepared.pinata_jwt());
    }

    #[test]
    fn a_network_json_from_before_the_pinata_token_gets_one() {
        let dir = tempfile::tempdir().expect("temporary folder");
        prepare(&options(dir.path(), 1, 1)).expect("prepares");
        let path = dir.path().join("network.json");
        let mut old: Value = serde_json::from_slice(&fs::read(&path).expect("read")).expect("json");
        old.as_object_mut().expect("object").remove("pinata_jwt");
        fs::write(&path, serde_json::to_vec(&old).expect("json")).expect("written");
        let prepared = prepare(&options(dir.path(), 1, 1)).expect("loads the old file");
        assert_eq!(prepared.pinata_jwt().len(), 66);
        let saved: Value = serde_json::from_slice(&fs::read(&path).expect("read")).expect("json");
        assert_eq!(saved["pinata_jwt"], prepared.pinata_jwt());
    }

    #[test]
    fn fresh_keeps_the_off_site_store() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let first = prepare(&options(dir.path(), 1, 1)).expect("prepares");
        fs::create_dir_all(dir.path().join("ipfs/blocks")).expect("created");
        fs::write(dir.path().join("ipfs/config"), "{}").expect("written");
        fs::create_dir_all(dir.path().join("state/v3")).expect("created");
        let mut fresh = options(dir.path(), 1, 1);
        fresh.fresh = true;
        let second = prepare(&fresh).expect("fresh");
        assert_ne!(second.admin_token(), first.admin_token());
        assert!(dir.path().join("ipfs/config").exists());
        assert!(dir.path().join("ipfs/blocks").is_dir());
        assert!(!dir.path().join("state").exists());
    }

    #[test]
    fn options_out_of_range_are_refused() {
        let dir = tempfile::tempdir().expect("temporary folder");
        assert!(prepare(&options(dir.path(), 0, 4)).is_err());
        assert!(prepare(&options(dir.path(), 8, 4)).is_err());
        assert!(prepare(&options(dir.path(), 4, 3)).is_err());
        assert!(prepare(&options(dir.path(), 4, 512)).is_err());
        for gateways in [0, LOCAL_GATEWAYS_MAX + 1] {
            let options = Options {
                gateways,
                ..options(dir.path(), 4, 4)
            };
            assert!(prepare(&options).is_err(), "{gateways} gateways");
        }
    }
}
