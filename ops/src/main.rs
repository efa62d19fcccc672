//! `ops`: the edgeledger operator tool.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use ledger::archive::BackupIndex;
use ledger::backup::BackupKey;
use ops::backups::{self, AdminApi, OutputFormat, Source};
use ops::commands::{balance, keys, send, status, watch};
use ops::{bench, devnet, download, progress};

/// The edgeledger operator tool.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The local network.
    Net {
        #[command(subcommand)]
        action: NetAction,
    },
    /// A chain's encrypted backups.
    Backups {
        #[command(subcommand)]
        action: BackupsAction,
    },
    /// Fetches a backup by CID, decrypts and verifies it (every shard root against the
    /// certified block, the certificate against the validator set) and writes the state out;
    /// with `--push`, then asks the chain to restore it.
    Restore(RestoreArgs),
    /// The chain at a glance: chain id, head (height, hash, age), mempool, validators,
    /// shards, paused.
    Status(status::StatusArgs),
    /// A live view refreshed every interval until Ctrl-C: head height, blocks and
    /// transactions per second, mempool depth, paused.
    Watch(watch::WatchArgs),
    /// Secret keys: generate one, or show a key's address.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// An account's balance (wei and ether), nonce and pending nonce; `--proof` verifies the
    /// certified proof against the genesis validator set.
    Balance(balance::BalanceArgs),
    /// Signs and submits an EIP-1559 transfer with the sender's next nonce, then waits until
    /// it is committed or rejected.
    Send(send::SendArgs),
    /// Measures committed transfers per second, submit-to-commit latency and CPU time against
    /// a running chain (native and JSON-RPC batches, burst or at a sustained rate), optionally
    /// side by side with anvil (`--against anvil`).
    Bench(bench::BenchArgs),
}

#[derive(Subcommand)]
enum KeysAction {
    /// A fresh random secp256k1 key: to a new 0600 file with `--out` (printing only the
    /// address), else printed with a warning.
    Generate(keys::GenerateArgs),
    /// The address of a key file or a development account.
    Address(keys::AddressArgs),
}

#[derive(Subcommand)]
enum NetAction {
    /// Starts the whole network on 127.0.0.1, in up to seven workerd processes (more with more
    /// gateways; Ctrl-C stops it; starting again resumes the same chain).
    Start {
        /// Validators (1 to 7).
        #[arg(long, default_value_t = 4)]
        validators: usize,
        /// Shards (a power of two, 1 to 256).
        #[arg(long, default_value_t = 4)]
        shards: u32,
        /// Port of the API.
        #[arg(long, default_value_t = 8787)]
        port: u16,
        /// The network folder (keys, genesis, configs, state).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Delete the folder's chain and start a new one.
        #[arg(long)]
        fresh: bool,
        /// Pin backups through the Pinata stand-in instead of straight to the IPFS node.
        #[arg(long)]
        pinata: bool,
        /// Public API requests each client address may make per 10 s (429 beyond), counted
        /// by each gateway process on its own.
        #[arg(long, default_value_t = devnet::LOCAL_RATE_LIMIT)]
        rate_limit: u32,
        /// Gateway processes (the stateless front door, which finds every sender), 1 to 4:
        /// one workerd process uses one core, so with more the API's port is a balancer that
        /// hands each connection to the next.
        #[arg(long, default_value_t = devnet::LOCAL_GATEWAYS)]
        gateways: usize,
        /// Seconds between the archiver's runs, as its cron trigger would space them (crons do
        /// not fire in local workerd); 0 runs it only when asked (`POST
        /// /v1/admin/archive/run`).
        #[arg(long, default_value_t = devnet::LOCAL_ARCHIVE_EVERY.as_secs())]
        archive_every_secs: u64,
    },
}

/// Where the chain and its secrets are: a local network's folder, or explicit values.
#[derive(clap::Args)]
struct ChainArgs {
    /// The chain's API.
    #[arg(long, default_value = "http://127.0.0.1:8787")]
    url: String,
    /// A local network's folder, for the admin token, genesis and backup key it generated
    /// (`network.json`). Environment variables take precedence.
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum BackupsAction {
    /// Shows the backup index: the latest backup (the only one a restore accepts) and the
    /// retained history. Needs the admin token (`EDGELEDGER_ADMIN_TOKEN`, or `--dir`).
    List {
        #[command(flatten)]
        chain: ChainArgs,
        /// Print the index as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct RestoreArgs {
    /// The backup's CID.
    cid: String,
    #[command(flatten)]
    chain: ChainArgs,
    /// Fetch from this IPFS gateway (`{url}/ipfs/{cid}`).
    #[arg(long, conflicts_with = "ipfs_api")]
    gateway: Option<String>,
    /// Fetch from this IPFS node's RPC API (`/api/v0/cat`).
    #[arg(long)]
    ipfs_api: Option<String>,
    /// The chain's genesis JSON (for the validator set); default: the network folder's.
    #[arg(long)]
    genesis: Option<PathBuf>,
    /// Write the state here (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
    /// `json` for people, `msgpack` for machines.
    #[arg(long, value_enum, default_value_t = OutputFormat::Json)]
    format: OutputFormat,
    /// Don't ask the chain for the backup index (then its size and digest are not checked).
    #[arg(long)]
    offline: bool,
    /// After verifying, ask the chain to restore this backup (`POST /v1/admin/restore`).
    #[arg(long)]
    push: bool,
}

/// Runs the command; an error is one line on stderr (its causes joined with `: `) and exit
/// status 1.
fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Net {
            action:
                NetAction::Start {
                    validators,
                    shards,
                    port,
                    dir,
                    fresh,
                    pinata,
                    rate_limit,
                    gateways,
                    archive_every_secs,
                },
        } => {
            let defaults = devnet::Options::default();
            let options = devnet::Options {
                validators,
                shards,
                port,
                dir: dir.unwrap_or(defaults.dir),
                fresh,
                pinning: if pinata {
                    devnet::Pinning::Pinata
                } else {
                    devnet::Pinning::Kubo
                },
                archive_every: archive_timer(archive_every_secs),
                rate_limit,
                gateways,
            };
            start_network(&options)
        }
        Command::Backups {
            action: BackupsAction::List { chain, json },
        } => list_backups(&chain, json),
        Command::Restore(args) => restore(&args),
        Command::Status(args) => status::run(&args),
        Command::Watch(args) => watch::run(&args),
        Command::Keys {
            action: KeysAction::Generate(args),
        } => keys::generate(&args),
        Command::Keys {
            action: KeysAction::Address(args),
        } => keys::address(&args),
        Command::Balance(args) => balance::run(&args),
        Command::Send(args) => send::run(&args),
        Command::Bench(args) => bench::run(&args),
    }
}

/// How often `ops net start` runs the archiver, from `--archive-every-secs` (0: never by
/// itself).
fn archive_timer(every_secs: u64) -> Option<std::time::Duration> {
    (every_secs > 0).then(|| std::time::Duration::from_secs(every_secs))
}

fn start_network(options: &devnet::Options) -> Result<()> {
    let prepared = devnet::prepare(options)?;
    println!(
        "starting {} validators and {} shards (chain {}, state in {})",
        options.validators,
        options.shards,
        prepared.genesis().config.chain_id,
        prepared.dir().display()
    );
    let running = prepared.spawn()?;
    // The network runs in its own process group (so it can be stopped as a whole): pass
    // Ctrl-C and termination on to it, then wait for it to exit.
    if let Some(group) = running.process_group() {
        ctrlc::set_handler(move || devnet::Running::interrupt_group(group))?;
    }
    println!("edgeledger API: {}", running.url());
    println!("IPFS node (backups): {}", running.ipfs_api_url());
    println!(
        "development accounts: the 20 of 'test test … junk', 10000 ether each; admin token in {}",
        prepared.dir().join("network.json").display()
    );
    match options.archive_every {
        Some(every) => println!(
            "the archiver runs every {} s (cold storage, backups when due)",
            every.as_secs()
        ),
        None => println!("the archiver runs only when asked (POST /v1/admin/archive/run)"),
    }
    println!("Ctrl-C stops the network; starting again resumes the chain.");
    running.wait()
}

/// A setting from the environment, else from the network folder's `network.json`.
fn setting(
    variable: &str,
    dir: Option<&PathBuf>,
    from_files: impl FnOnce(devnet::NetworkFiles) -> String,
) -> Result<String> {
    if let Ok(value) = std::env::var(variable) {
        return Ok(value);
    }
    let default_dir = devnet::Options::default().dir;
    let dir = dir.unwrap_or(&default_dir);
    let files = devnet::read_network_files(dir)
        .with_context(|| format!("set {variable}, or point --dir at a local network's folder"))?;
    Ok(from_files(files))
}

fn admin_api(chain: &ChainArgs) -> Result<AdminApi> {
    Ok(AdminApi {
        url: chain.url.trim_end_matches('/').to_owned(),
        token: setting("EDGELEDGER_ADMIN_TOKEN", chain.dir.as_ref(), |f| {
            f.admin_token
        })?,
    })
}

fn list_backups(chain: &ChainArgs, json: bool) -> Result<()> {
    let index = admin_api(chain)?.backups()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&index)?);
    } else {
        print_index(&index);
    }
    Ok(())
}

fn print_index(index: &BackupIndex) {
    let Some(latest) = index.latest() else {
        println!("no backups yet");
        return;
    };
    println!(
        "{:<8} {:>8} {:>9} {:>11}  {:<60} block",
        "", "height", "accounts", "bytes", "cid"
    );
    for (label, record) in
        std::iter::once(("latest", latest)).chain(index.history.iter().map(|record| ("", record)))
    {
        println!(
            "{label:<8} {:>8} {:>9} {:>11}  {:<60} {}",
            record.height, record.accounts, record.ciphertext_bytes, record.cid, record.block_hash
        );
    }
}

fn restore(args: &RestoreArgs) -> Result<()> {
    let source = match (&args.gateway, &args.ipfs_api) {
        (Some(gateway), _) => Source::Gateway(gateway.clone()),
        (None, Some(api)) => Source::IpfsApi(api.clone()),
        (None, None) => bail!("give --gateway URL or --ipfs-api URL"),
    };
    let dir = args.chain.dir.as_ref();
    let key_hex = setting("BACKUP_ENCRYPTION_KEY", dir, |files| files.backup_key)?;
    let key = BackupKey::from_hex(&key_hex).context("BACKUP_ENCRYPTION_KEY")?;
    let genesis = match &args.genesis {
        Some(path) => serde_json::from_slice(&std::fs::read(path)?)
            .with_context(|| format!("reading {}", path.display()))?,
        None => {
            let default_dir = devnet::Options::default().dir;
            devnet::read_network_files(dir.unwrap_or(&default_dir))
                .context("give --genesis FILE, or point --dir at a local network's folder")?
                .genesis
        }
    };
    let index = if args.offline {
        None
    } else {
        Some(admin_api(&args.chain)?.backups()?)
    };
    let record = index.as_ref().and_then(|index| {
        index
            .latest
            .iter()
            .chain(&index.history)
            .find(|record| record.cid == args.cid)
    });
    if index.is_some() && record.is_none() {
        bail!("{} is not in the chain's backup index", args.cid);
    }
    // A bar of the bytes fetched (a spinner if the size is unknown), when stderr is a terminal.
    let mut bar = progress::Download::new(progress::drawn(false), format!("fetching {}", args.cid));
    let fetched = download::fetch_with_progress(&source, &args.cid, &mut |received, total| {
        bar.update(received, total);
    });
    bar.finish();
    let bytes = fetched?;
    let state = backups::open(&bytes, &key, &genesis.config, record)?;
    let encoded = backups::encode(&state, args.format)?;
    match &args.out {
        Some(path) => std::fs::write(path, &encoded)?,
        None => std::io::Write::write_all(&mut std::io::stdout(), &encoded)?,
    }
    eprintln!(
        "verified backup {} of chain {} at height {} ({} accounts, state root {}){}",
        args.cid,
        state.chain_id,
        state.height,
        state.accounts.len(),
        state.state_root,
        match index.as_ref().and_then(BackupIndex::latest) {
            Some(latest) if latest.cid == args.cid => ", the latest backup",
            Some(_) => ", an older backup: a chain restores only its latest",
            None => "",
        }
    );
    if args.push {
        let answer = admin_api(&args.chain)?.restore(&args.cid)?;
        eprintln!("the chain restored it: {answer}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// The archiver's timer `ops net start` would run with these arguments.
    fn timer_of(arguments: &[&str]) -> Option<Duration> {
        let cli = Cli::try_parse_from(["ops", "net", "start"].iter().chain(arguments))
            .expect("the arguments parse");
        match cli.command {
            Command::Net {
                action:
                    NetAction::Start {
                        archive_every_secs, ..
                    },
            } => archive_timer(archive_every_secs),
            _ => unreachable!("a net start command"),
        }
    }

    #[test]
    fn the_archiver_runs_on_its_local_timer_unless_told_otherwise() {
        assert_eq!(timer_of(&[]), Some(devnet::LOCAL_ARCHIVE_EVERY));
        assert_eq!(
            timer_of(&["--archive-every-secs", "3"]),
            Some(Duration::from_secs(3))
        );
        assert_eq!(timer_of(&["--archive-every-secs", "0"]), None);
    }
}
