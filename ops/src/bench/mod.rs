//! `ops bench`: how fast a chain commits value transfers, measured from outside as a client
//! sees it, optionally side by side with anvil in the same run.
//!
//! A run signs every transfer first (the clock does not count signing), then submits them
//! over several connections, either as fast as the chain takes them (*burst*) or at a fixed
//! offered rate for a fixed time (*sustained*, `--rate` and `--duration-secs`), while an
//! observer follows the chain's blocks and notes when each transaction first appears in one:
//! on edgeledger it asks for the next block with `?wait_ms=` (answered as the block commits),
//! on anvil it polls the head over JSON-RPC every 25 ms. It reports:
//!
//! - committed transfers per second, from the first send to the last commit seen;
//! - submit-to-commit latency p50/p95/p99 (send time, or in sustained mode the scheduled send
//!   time, to the answer that showed its block; on anvil the poll interval bounds the error);
//! - the blocks that carried transactions and their average size;
//! - the CPU time the chain's processes used (`/proc`: every `workerd` process for
//!   edgeledger, the anvil process), per transfer too, and the client's own.
//!
//! The same JSON-RPC workload can run against anvil started on loopback (`--against anvil`)
//! with one-second blocks and a gas limit no run fills; the report gives edgeledger's rate
//! over anvil's.

pub mod anvil;
pub mod stats;
pub mod target;
pub mod workload;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use indicatif::ProgressBar;
use ledger::api::{TxState, TxStatusAnswer};
use ledger::primitives::{Address, Hash};
use ledger::signature::SecretKey;
use serde::Serialize;

use self::stats::{CpuMeter, Percentiles, per_second};
use self::target::{Carried, Native, Rpc, Submitted};
use self::workload::SignedTx;
use crate::client::{Client, DEFAULT_URL};
use crate::commands::{aligned, print_json};
use crate::progress;

/// How often the observer asks a chain without a long poll (anvil) for the head.
const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// How long the observer's long poll asks edgeledger to wait for the next block; between
/// two asks it checks whether the run is over.
const LONG_POLL_WAIT: Duration = Duration::from_millis(1_000);

/// Ticks per second of the sustained mode's pacer.
const PACER_TICKS_PER_SECOND: u32 = 10;

/// The most refusal reasons a report lists.
const REFUSAL_REASONS_MAX: usize = 8;

/// How transfers are submitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// Edgeledger's MessagePack batches (`POST /v1/txs`).
    Native,
    /// Ethereum JSON-RPC batches of `eth_sendRawTransaction`.
    JsonRpc,
    /// Both, one run each (edgeledger only).
    Both,
}

/// A chain to compare with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Reference {
    /// anvil from npm (`@foundry-rs/anvil`), started on loopback for the run.
    Anvil,
}

/// `ops bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// The chain's API (a running local network: `scripts/net.sh`).
    #[arg(long, default_value = DEFAULT_URL)]
    pub url: String,
    /// Transfers per run.
    #[arg(long, default_value_t = 20_000)]
    pub transactions: usize,
    /// Senders: up to 20 are the development accounts; more are keys derived from `--seed`,
    /// funded by the development accounts first.
    #[arg(long, default_value_t = 20)]
    pub senders: usize,
    /// Distinct recipients the transfers cycle through (as many as the transfers: every
    /// transfer creates an account, to grow the state).
    #[arg(long, default_value_t = workload::RECIPIENTS)]
    pub recipients: usize,
    /// How to submit.
    #[arg(long, value_enum, default_value_t = Protocol::Both)]
    pub protocol: Protocol,
    /// Transactions per native batch.
    #[arg(long, default_value_t = 1_000)]
    pub batch: usize,
    /// Transactions per JSON-RPC batch (edgeledger takes at most 1,000, geth's default limit).
    #[arg(long, default_value_t = 1_000)]
    pub rpc_batch: usize,
    /// Concurrent connections submitting.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Sustained mode: offered transfers per second (with `--duration-secs`).
    #[arg(long, requires = "duration_secs")]
    pub rate: Option<u32>,
    /// Sustained mode: how long to offer `--rate`, in seconds (transactions = rate × time).
    #[arg(long)]
    pub duration_secs: Option<u32>,
    /// Sustained mode at half of the peak: for each protocol, a burst of `--transactions`
    /// first, then `--duration-secs` offered at half the rate that burst committed.
    #[arg(long, requires = "duration_secs", conflicts_with_all = ["rate", "against"])]
    pub at_half_peak: bool,
    /// Native batches without their senders' public keys, so that the front door recovers
    /// every sender, as it must for JSON-RPC. By default each native transfer carries its
    /// sender's key and the front door checks a batch's signatures against them together.
    #[arg(long)]
    pub recover_senders: bool,
    /// Native batches with their senders' keys but without each signature's nonce y, so that
    /// the front door takes a square root for each. By default each keyed transfer carries the
    /// y of its signature's nonce point too, worked out before the clock starts.
    #[arg(long)]
    pub without_nonce_ys: bool,
    /// Also run the JSON-RPC workload against this chain and report the ratio.
    #[arg(long, value_enum)]
    pub against: Option<Reference>,
    /// Seed of derived senders and recipients.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Longest wait for every transfer to commit, in seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout_secs: u64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// What one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// `edgeledger` or `anvil`.
    pub chain: String,
    /// How transfers were submitted.
    pub protocol: Protocol,
    /// Whether native batches carried the senders' public keys (`--recover-senders` not set).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sender_keys: bool,
    /// Whether they carried each signature's nonce y too (`--without-nonce-ys` not set).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub nonce_ys: bool,
    /// The offered rate, in sustained mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offered_per_second: Option<u32>,
    /// Transfers submitted.
    pub submitted: usize,
    /// Of those, refused at submission.
    pub refused: usize,
    /// Refusals by reason (the most frequent few).
    pub refusals: BTreeMap<String, usize>,
    /// Transfers seen in blocks.
    pub committed: usize,
    /// Seconds from the first send to the last commit seen.
    pub elapsed_seconds: f64,
    /// Committed transfers per second over that time.
    pub committed_per_second: f64,
    /// Submit-to-commit latency.
    pub latency: Option<Percentiles>,
    /// Blocks that carried transactions.
    pub blocks: u64,
    /// Their average number of transactions.
    pub average_block_transactions: f64,
    /// CPU seconds the chain's processes used during the run (`None`: not measurable here).
    pub chain_cpu_seconds: Option<f64>,
    /// Of that, per committed transfer, in milliseconds.
    pub chain_cpu_ms_per_transfer: Option<f64>,
    /// CPU seconds this client used while submitting and waiting.
    pub client_cpu_seconds: Option<f64>,
}

/// Everything `ops bench` reports.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Each run, in order.
    pub runs: Vec<RunReport>,
    /// Edgeledger's JSON-RPC rate over anvil's, when compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_rpc_ratio_to_anvil: Option<f64>,
    /// Edgeledger's native rate over anvil's, when compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub native_ratio_to_anvil: Option<f64>,
}

/// Runs `ops bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    check_args(args)?;
    let draw = progress::drawn(args.json);
    let protocols = match args.protocol {
        Protocol::Both => vec![Protocol::Native, Protocol::JsonRpc],
        one => vec![one],
    };
    let base = args.url.trim_end_matches('/').to_owned();
    let edgeledger = Chain {
        name: "edgeledger",
        rpc: Rpc::new(&format!("{base}/rpc")),
        native: Some(Native::new(&base)),
        processes: stats::processes_named("workerd"),
    };
    let mut runs = Vec::new();
    for protocol in protocols {
        if args.at_half_peak {
            let peak = bench_chain(&edgeledger, protocol, args, None, draw)?;
            let seconds = args
                .duration_secs
                .context("--at-half-peak needs --duration-secs")?;
            let pace = half_of(&peak, seconds)?;
            runs.push(peak);
            runs.push(bench_chain(&edgeledger, protocol, args, Some(pace), draw)?);
        } else {
            runs.push(bench_chain(
                &edgeledger,
                protocol,
                args,
                offered(args),
                draw,
            )?);
        }
    }
    if let Some(Reference::Anvil) = args.against {
        let anvil = anvil::Anvil::start(&crate::devnet::repository_root())?;
        let chain = Chain {
            name: "anvil",
            rpc: Rpc::new(anvil.url()),
            native: None,
            processes: vec![anvil.pid()],
        };
        runs.push(bench_chain(
            &chain,
            Protocol::JsonRpc,
            args,
            offered(args),
            draw,
        )?);
    }
    let report = compare(runs);
    if args.json {
        print_json(&report)
    } else {
        print!("{}", summary(&report));
        Ok(())
    }
}

fn check_args(args: &BenchArgs) -> Result<()> {
    ensure!(
        args.transactions > 0 || args.rate.is_some(),
        "--transactions must be at least 1"
    );
    ensure!(args.connections > 0, "--connections must be at least 1");
    ensure!(args.recipients > 0, "--recipients must be at least 1");
    ensure!(
        (1..=ledger::limits::BATCH_TXS_MAX).contains(&args.batch),
        "--batch takes 1 to {}",
        ledger::limits::BATCH_TXS_MAX
    );
    ensure!(
        (1..=ledger::rpc::RPC_BATCH_MAX).contains(&args.rpc_batch),
        "--rpc-batch takes 1 to {}",
        ledger::rpc::RPC_BATCH_MAX
    );
    if let Some(rate) = args.rate {
        ensure!(rate > 0, "--rate must be at least 1");
    }
    if args.duration_secs == Some(0) {
        bail!("--duration-secs must be at least 1");
    }
    ensure!(
        args.duration_secs.is_none() || args.rate.is_some() || args.at_half_peak,
        "--duration-secs goes with --rate or --at-half-peak"
    );
    Ok(())
}

/// A sustained run's offered rate and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pace {
    rate: u32,
    seconds: u32,
}

/// The sustained run `--rate` and `--duration-secs` ask for, if any.
fn offered(args: &BenchArgs) -> Option<Pace> {
    Some(Pace {
        rate: args.rate?,
        seconds: args.duration_secs?,
    })
}

/// `seconds` offered at half of what the `peak` burst committed a second.
fn half_of(peak: &RunReport, seconds: u32) -> Result<Pace> {
    let rate = (peak.committed_per_second / 2.0).floor();
    ensure!(
        rate >= 1.0,
        "the burst committed {:.1} transfers/s: too few to offer half of it",
        peak.committed_per_second
    );
    // `as` saturates: no rate a machine commits comes near u32::MAX anyway.
    Ok(Pace {
        rate: rate as u32,
        seconds,
    })
}

/// A chain under test.
struct Chain {
    name: &'static str,
    rpc: Rpc,
    native: Option<Native>,
    /// Its processes, for CPU time.
    processes: Vec<u32>,
}

/// Prepares and measures one run on `chain`.
fn bench_chain(
    chain: &Chain,
    protocol: Protocol,
    args: &BenchArgs,
    pace: Option<Pace>,
    draw: bool,
) -> Result<RunReport> {
    let chain_id = chain
        .rpc
        .chain_id()
        .with_context(|| format!("reaching {}", chain.name))?;
    let count = match pace {
        Some(Pace { rate, seconds }) => rate as usize * seconds as usize,
        None => args.transactions,
    };
    let keys = workload::senders(args.senders, args.seed)?;
    if workload::needs_funding(args.senders) {
        fund(
            chain,
            chain_id,
            &keys,
            count.div_ceil(keys.len()),
            args,
            draw,
        )?;
    }
    let addresses: Vec<Address> = keys.iter().map(|key| key.public_key().address()).collect();
    let nonces = chain.rpc.next_nonces(&addresses)?;
    let senders: Vec<(SecretKey, u64)> = keys.into_iter().zip(nonces).collect();
    let bar = progress::counter(draw, count as u64, format!("{}: signing", chain.name));
    let signed = workload::sign_transfers(
        chain_id,
        &senders,
        &workload::recipients(args.seed, args.recipients),
        count,
        |done| bar.set_position(done as u64),
    )?;
    bar.finish_and_clear();
    let batch = match protocol {
        Protocol::Native => args.batch,
        Protocol::JsonRpc | Protocol::Both => args.rpc_batch,
    };
    let plan = Plan {
        signed,
        carried: match (protocol, args.recover_senders, args.without_nonce_ys) {
            (Protocol::JsonRpc | Protocol::Both, _, _) | (Protocol::Native, true, _) => {
                Carried::Nothing
            }
            (Protocol::Native, false, true) => Carried::SenderKeys,
            (Protocol::Native, false, false) => Carried::SenderKeysAndNonceYs,
        },
        batch,
        connections: args.connections,
        pace: pace.map(|pace| pace.rate),
        timeout: Duration::from_secs(args.timeout_secs),
    };
    let label = format!("{}: {} committed", chain.name, protocol_name(protocol));
    let measured = measure(chain, protocol, &plan, draw, label)?;
    Ok(measured.report(chain.name, protocol, &plan))
}

/// Pays each of `keys` enough for `transfers_each` benchmark transfers, from the
/// development accounts, and waits until every payment is committed.
fn fund(
    chain: &Chain,
    chain_id: u64,
    keys: &[SecretKey],
    transfers_each: usize,
    args: &BenchArgs,
    draw: bool,
) -> Result<()> {
    let funders = workload::senders(crate::devnet::keys::DEVELOPMENT_ACCOUNT_COUNT, args.seed)?;
    let funder_addresses: Vec<Address> = funders
        .iter()
        .map(|key| key.public_key().address())
        .collect();
    let mut nonces = chain.rpc.next_nonces(&funder_addresses)?;
    let amount = workload::funding_per_sender(transfers_each);
    let signed: Vec<SignedTx> = keys
        .iter()
        .enumerate()
        .map(|(index, key)| {
            let funder = index % funders.len();
            let nonce = nonces[funder];
            nonces[funder] += 1;
            let transfer = workload::transfer(chain_id, nonce, key.public_key().address(), amount);
            SignedTx::new(
                &transfer.sign(&funders[funder]),
                funders[funder].public_key().to_xy(),
            )
        })
        .collect::<Result<_>>()?;
    let plan = Plan {
        signed,
        carried: Carried::Nothing,
        batch: args.rpc_batch,
        connections: 1,
        pace: None,
        timeout: Duration::from_secs(args.timeout_secs),
    };
    let label = format!("{}: funding {} senders", chain.name, keys.len());
    let measured = measure(chain, Protocol::JsonRpc, &plan, draw, label)?;
    ensure!(
        measured.committed.len() == keys.len(),
        "only {} of {} funding transfers committed ({} refused: {:?})",
        measured.committed.len(),
        keys.len(),
        measured.refused.len(),
        measured.refused.values().take(3).collect::<Vec<_>>()
    );
    Ok(())
}

fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Native => "native",
        Protocol::JsonRpc | Protocol::Both => "json-rpc",
    }
}

/// What to send and how.
struct Plan {
    signed: Vec<SignedTx>,
    /// What native batches carry besides the raw transactions.
    carried: Carried,
    batch: usize,
    connections: usize,
    /// Offered transfers per second (sustained), or `None` for as fast as accepted.
    pace: Option<u32>,
    timeout: Duration,
}

/// A batch to send: which transactions, and when it was due (sustained mode).
struct Job {
    range: std::ops::Range<usize>,
    due: Option<Instant>,
}

/// What one run saw.
struct Measured {
    submitted: usize,
    /// When each transaction was sent (or due), by index.
    sent_at: Vec<Option<Instant>>,
    /// Refusals by index.
    refused: BTreeMap<usize, String>,
    /// When each committed transaction's block was first seen, by index.
    committed: HashMap<usize, Instant>,
    blocks: u64,
    block_transactions: usize,
    chain_cpu: Option<Duration>,
    client_cpu: Option<Duration>,
}

/// Submits `plan` to `chain` and watches it commit.
fn measure(
    chain: &Chain,
    protocol: Protocol,
    plan: &Plan,
    draw: bool,
    label: String,
) -> Result<Measured> {
    let start_height = chain.rpc.head()?;
    let index_of: HashMap<Hash, usize> = plan
        .signed
        .iter()
        .enumerate()
        .map(|(index, tx)| (tx.hash, index))
        .collect();
    let chain_meter = CpuMeter::start(&chain.processes);
    let client_meter = CpuMeter::start(&[std::process::id()]);
    let refused_count = AtomicUsize::new(0);
    let submitting_failed = AtomicBool::new(false);
    let bar = progress::counter(draw, plan.signed.len() as u64, label);
    let (sent, observed) = std::thread::scope(|scope| {
        let observer = scope.spawn(|| {
            observe(
                Watch::of(chain),
                start_height,
                &index_of,
                &refused_count,
                &submitting_failed,
                plan.timeout,
                &bar,
            )
        });
        let sent = submit(chain, protocol, plan, &refused_count);
        if sent.is_err() {
            submitting_failed.store(true, Ordering::SeqCst);
        }
        (sent, observer.join())
    });
    bar.finish_and_clear();
    let (sent_at, refused) = sent?;
    let observed = observed.map_err(|_| anyhow::anyhow!("the observer panicked"))??;
    Ok(Measured {
        submitted: plan.signed.len(),
        sent_at,
        refused,
        committed: observed.committed,
        blocks: observed.blocks,
        block_transactions: observed.block_transactions,
        chain_cpu: chain_meter.measures_anything().then(|| chain_meter.used()),
        client_cpu: client_meter
            .measures_anything()
            .then(|| client_meter.used()),
    })
}

type Sent = (Vec<Option<Instant>>, BTreeMap<usize, String>);

/// Sends every batch of `plan` over `plan.connections` connections: queued at once, or by the
/// pacer at the offered rate. Returns when each was sent and what was refused.
fn submit(
    chain: &Chain,
    protocol: Protocol,
    plan: &Plan,
    refused_count: &AtomicUsize,
) -> Result<Sent> {
    let (jobs, receiver) = mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    let results = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..plan.connections)
            .map(|_| {
                let receiver = Arc::clone(&receiver);
                scope.spawn(move || send_jobs(chain, protocol, plan, &receiver, refused_count))
            })
            .collect();
        let scheduled = schedule(plan, &jobs);
        drop(jobs);
        let results: Vec<_> = workers.into_iter().map(|worker| worker.join()).collect();
        (scheduled, results)
    });
    let (scheduled, results) = results;
    scheduled?;
    let mut sent_at = vec![None; plan.signed.len()];
    let mut refused = BTreeMap::new();
    for result in results {
        let (times, refusals) = result.map_err(|_| anyhow::anyhow!("a submitter panicked"))??;
        for (index, at) in times {
            sent_at[index] = Some(at);
        }
        refused.extend(refusals);
    }
    Ok((sent_at, refused))
}

/// Queues the batches: all at once, or paced (`PACER_TICKS_PER_SECOND` batches a second of
/// `rate / ticks` transfers each, every one due at its tick).
fn schedule(plan: &Plan, jobs: &mpsc::Sender<Job>) -> Result<()> {
    let total = plan.signed.len();
    let Some(rate) = plan.pace else {
        for start in (0..total).step_by(plan.batch) {
            jobs.send(Job {
                range: start..(start + plan.batch).min(total),
                due: None,
            })?;
        }
        return Ok(());
    };
    let started = Instant::now();
    let tick = Duration::from_secs(1) / PACER_TICKS_PER_SECOND;
    let mut sent = 0;
    let mut ticks = 0u32;
    while sent < total {
        ticks += 1;
        let due = started + tick * ticks;
        // Cumulative, so rounding never drifts from the offered rate.
        let owed =
            ((u64::from(rate) * u64::from(ticks)) / u64::from(PACER_TICKS_PER_SECOND)) as usize;
        let until = owed.min(total);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        while sent < until {
            let end = until.min(sent + plan.batch);
            jobs.send(Job {
                range: sent..end,
                due: Some(due),
            })?;
            sent = end;
        }
    }
    Ok(())
}

type WorkerResult = Result<(Vec<(usize, Instant)>, Vec<(usize, String)>)>;

/// One connection: sends the jobs it takes until there are none left.
fn send_jobs(
    chain: &Chain,
    protocol: Protocol,
    plan: &Plan,
    receiver: &Mutex<mpsc::Receiver<Job>>,
    refused_count: &AtomicUsize,
) -> WorkerResult {
    let mut times = Vec::new();
    let mut refusals = Vec::new();
    loop {
        let job = {
            let receiver = receiver
                .lock()
                .map_err(|_| anyhow::anyhow!("a poisoned queue"))?;
            receiver.recv()
        };
        let Ok(job) = job else {
            return Ok((times, refusals));
        };
        let txs = &plan.signed[job.range.clone()];
        let at = job.due.unwrap_or_else(Instant::now);
        let send = |txs: &[SignedTx]| match (protocol, &chain.native) {
            (Protocol::Native, Some(native)) => native.submit_batch(txs, plan.carried),
            (Protocol::Native, None) => bail!("{} has no native API", chain.name),
            (Protocol::JsonRpc | Protocol::Both, _) => chain.rpc.send_raw_batch(txs),
        };
        let outcome = submit_until_all_in(RESUBMIT_PAUSE, txs, |txs| {
            submit_until_taken(RESUBMIT_PAUSE, || send(txs))
        });
        // A batch the chain could not take at all is refused as a whole (and counted so).
        let outcome = outcome
            .unwrap_or_else(|error| vec![Submitted::Refused(format!("{error:#}")); txs.len()]);
        for (index, submitted) in job.range.zip(outcome) {
            times.push((index, at));
            if let Submitted::Refused(reason) | Submitted::Full(reason) = submitted {
                refusals.push((index, reason));
                refused_count.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

/// Times a batch answered 503 is sent again, the pause doubling from [`RESUBMIT_PAUSE`]:
/// about 6 s in all, as a client that means to get its transactions in would.
const RESUBMIT_ATTEMPTS: u32 = 7;

/// The first pause before sending a batch again.
const RESUBMIT_PAUSE: Duration = Duration::from_millis(50);

/// How long the observer goes without a new commit of the run's transfers before it asks the
/// chain what became of those still missing (edgeledger only: `GET /v1/txs/{hash}`).
const STALL_CHECK_AFTER: Duration = Duration::from_secs(15);

/// At most this many missing transfers are asked about at a stall.
const STALL_STATUSES_MAX: usize = 1_000;

/// `submit()`, again after a pause (from `first_pause`, doubling) while it answers 503 (the
/// chain took nothing and asks to be asked again). A refused batch would leave a nonce gap
/// that every later transfer of its senders waits behind, so giving up at once would stall
/// the run.
fn submit_until_taken(
    first_pause: Duration,
    submit: impl Fn() -> Result<Vec<Submitted>>,
) -> Result<Vec<Submitted>> {
    let mut pause = first_pause;
    for _ in 1..RESUBMIT_ATTEMPTS {
        match submit() {
            Err(error) if error.downcast_ref::<target::Unavailable>().is_some() => {
                std::thread::sleep(pause);
                pause *= 2;
            }
            outcome => return outcome,
        }
    }
    submit()
}

/// `submit(txs)`, then again for the transactions a full pool refused, after a pause (from
/// `first_pause`, doubling) while some are, [`RESUBMIT_ATTEMPTS`] times in all: a client
/// that gave up on them would leave its senders' later nonces waiting behind the gaps, never
/// to commit. What is still refused for a full pool after that stays [`Submitted::Full`].
fn submit_until_all_in(
    first_pause: Duration,
    txs: &[SignedTx],
    submit: impl Fn(&[SignedTx]) -> Result<Vec<Submitted>>,
) -> Result<Vec<Submitted>> {
    let mut outcome = submit(txs)?;
    let mut pause = first_pause;
    for _ in 1..RESUBMIT_ATTEMPTS {
        let full: Vec<usize> = outcome
            .iter()
            .enumerate()
            .filter(|(_, submitted)| matches!(submitted, Submitted::Full(_)))
            .map(|(index, _)| index)
            .collect();
        if full.is_empty() {
            break;
        }
        std::thread::sleep(pause);
        pause *= 2;
        let again: Vec<SignedTx> = full.iter().map(|&index| txs[index].clone()).collect();
        for (index, submitted) in full.into_iter().zip(submit(&again)?) {
            outcome[index] = submitted;
        }
    }
    Ok(outcome)
}

/// What the observer saw.
struct Observed {
    committed: HashMap<usize, Instant>,
    blocks: u64,
    block_transactions: usize,
}

/// How the observer learns of new blocks.
#[derive(Clone, Copy)]
enum Watch<'a> {
    /// Asks for the head over JSON-RPC every [`POLL_INTERVAL`] and reads each new block (any
    /// Ethereum node).
    Poll(&'a Rpc),
    /// Asks for the next block with edgeledger's `?wait_ms=`, answered as it commits: one
    /// request a block instead of forty a second, and no poll interval in the latencies.
    LongPoll(&'a Native),
}

impl Watch<'_> {
    /// For `chain`: the long poll where the chain has one.
    fn of(chain: &Chain) -> Watch<'_> {
        chain
            .native
            .as_ref()
            .map_or(Watch::Poll(&chain.rpc), Watch::LongPoll)
    }

    /// The blocks after `read_through` known now (maybe none: ask again), each as its
    /// transaction hashes, and when they were learnt of.
    fn next_blocks(self, read_through: u64) -> Result<(Instant, Vec<Vec<Hash>>)> {
        match self {
            Watch::Poll(rpc) => {
                let head = rpc.head()?;
                let seen_at = Instant::now();
                let blocks = (read_through + 1..=head)
                    .map(|height| rpc.block_transactions(height))
                    .collect::<Result<_>>()?;
                std::thread::sleep(POLL_INTERVAL);
                Ok((seen_at, blocks))
            }
            Watch::LongPoll(native) => {
                match native.await_block(read_through + 1, LONG_POLL_WAIT) {
                    Ok(block) => Ok((Instant::now(), block.into_iter().collect())),
                    // A moment's 503 of the local network: ask again shortly.
                    Err(error) if error.is::<target::Unavailable>() => {
                        std::thread::sleep(POLL_INTERVAL);
                        Ok((Instant::now(), Vec::new()))
                    }
                    Err(error) => Err(error),
                }
            }
        }
    }
}

/// Follows the chain's new blocks, noting when each expected transaction first appears,
/// until all that were not refused are in, submitting failed, or `timeout`.
fn observe(
    watch: Watch<'_>,
    start_height: u64,
    index_of: &HashMap<Hash, usize>,
    refused_count: &AtomicUsize,
    submitting_failed: &AtomicBool,
    timeout: Duration,
    bar: &ProgressBar,
) -> Result<Observed> {
    let deadline = Instant::now() + timeout;
    let mut committed = HashMap::with_capacity(index_of.len());
    let mut read_through = start_height;
    let mut blocks = 0;
    let mut block_transactions = 0;
    let mut last_progress = Instant::now();
    loop {
        let settled = committed.len() + refused_count.load(Ordering::SeqCst) >= index_of.len();
        if settled || submitting_failed.load(Ordering::SeqCst) {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "after {} s, {} of {} transfers committed ({} refused)",
                timeout.as_secs(),
                committed.len(),
                index_of.len(),
                refused_count.load(Ordering::SeqCst)
            );
        }
        let committed_before = committed.len();
        let (seen_at, new_blocks) = watch.next_blocks(read_through)?;
        for hashes in new_blocks {
            read_through += 1;
            if !hashes.is_empty() {
                blocks += 1;
                block_transactions += hashes.len();
            }
            for hash in hashes {
                if let Some(index) = index_of.get(&hash) {
                    committed.entry(*index).or_insert(seen_at);
                }
            }
        }
        if committed.len() > committed_before {
            last_progress = Instant::now();
        } else if last_progress.elapsed() >= STALL_CHECK_AFTER
            && let Watch::LongPoll(native) = watch
        {
            let reading = read_stall(native.client(), index_of, &committed)?;
            if let Some(dropped) = reading.dropped_error() {
                bail!("{dropped}");
            }
            bar.suspend(|| eprintln!("{}", reading.note(STALL_CHECK_AFTER)));
            last_progress = Instant::now();
        }
        bar.set_position(committed.len() as u64);
    }
    Ok(Observed {
        committed,
        blocks,
        block_transactions,
    })
}

/// The chain's status of the run's transfers not yet committed, at most
/// [`STALL_STATUSES_MAX`] of them.
fn read_stall(
    client: &Client,
    index_of: &HashMap<Hash, usize>,
    committed: &HashMap<usize, Instant>,
) -> Result<StallReading> {
    let missing: Vec<&Hash> = index_of
        .iter()
        .filter(|(_, index)| !committed.contains_key(index))
        .map(|(hash, _)| hash)
        .collect();
    let statuses = missing
        .iter()
        .take(STALL_STATUSES_MAX)
        .map(|hash| client.transaction(hash))
        .collect::<Result<Vec<_>>>()?;
    Ok(StallReading::of(missing.len(), &statuses))
}

/// What the chain says of the transfers a stalled run still waits for.
#[derive(Debug, Default, PartialEq, Eq)]
struct StallReading {
    /// Transfers not committed.
    missing: usize,
    /// Of those, how many were asked about.
    asked: usize,
    /// Still queued: waiting for a block, or behind a missing nonce.
    pending: usize,
    /// Committed in a block the observer has not read yet.
    committed: usize,
    /// Accepted and then dropped, by the reason's code: they will never commit.
    dropped: BTreeMap<String, usize>,
    /// Not known to the chain: refused when submitted (counted as refused already).
    unknown: usize,
}

impl StallReading {
    fn of(missing: usize, statuses: &[TxStatusAnswer]) -> Self {
        let mut reading = Self {
            missing,
            asked: statuses.len(),
            ..Self::default()
        };
        for status in statuses {
            match status.status {
                TxState::Pending => reading.pending += 1,
                TxState::Committed => reading.committed += 1,
                TxState::Rejected => {
                    let code = status
                        .reason
                        .as_ref()
                        .map_or_else(|| "rejected".to_owned(), |reason| reason.code.clone());
                    *reading.dropped.entry(code).or_default() += 1;
                }
                TxState::Unknown => reading.unknown += 1,
            }
        }
        reading
    }

    /// The error that ends the run when the chain dropped transfers it had accepted: they
    /// will never commit, so waiting out the timeout would only hide why.
    fn dropped_error(&self) -> Option<String> {
        if self.dropped.is_empty() {
            return None;
        }
        let count: usize = self.dropped.values().sum();
        let reasons: Vec<String> = self
            .dropped
            .iter()
            .map(|(code, count)| format!("{code}: {count}"))
            .collect();
        Some(format!(
            "{count} of the {} transfers asked about (of {} not committed) were accepted and \
             then dropped by the chain ({}): they will never commit",
            self.asked,
            self.missing,
            reasons.join(", ")
        ))
    }

    /// A line for the operator while the run keeps waiting.
    fn note(&self, quiet_for: Duration) -> String {
        format!(
            "no transfer committed for {} s: of the {} asked about ({} not committed), {} are \
             pending, {} committed since and {} unknown to the chain; still waiting",
            quiet_for.as_secs(),
            self.asked,
            self.missing,
            self.pending,
            self.committed,
            self.unknown
        )
    }
}

impl Measured {
    fn report(&self, chain: &str, protocol: Protocol, plan: &Plan) -> RunReport {
        let first_sent = self.sent_at.iter().flatten().min().copied();
        let last_commit = self.committed.values().max().copied();
        let elapsed = match (first_sent, last_commit) {
            (Some(first), Some(last)) => last.saturating_duration_since(first),
            _ => Duration::ZERO,
        };
        let latencies: Vec<Duration> = self
            .committed
            .iter()
            .filter_map(|(index, at)| {
                Some(at.saturating_duration_since((*self.sent_at.get(*index)?)?))
            })
            .collect();
        let committed = self.committed.len();
        let chain_cpu = self.chain_cpu.map(|cpu| cpu.as_secs_f64());
        RunReport {
            chain: chain.to_owned(),
            protocol: match protocol {
                Protocol::Both => Protocol::JsonRpc,
                one => one,
            },
            sender_keys: plan.carried != Carried::Nothing,
            nonce_ys: plan.carried == Carried::SenderKeysAndNonceYs,
            offered_per_second: plan.pace,
            submitted: self.submitted,
            refused: self.refused.len(),
            refusals: top_reasons(self.refused.values()),
            committed,
            elapsed_seconds: elapsed.as_secs_f64(),
            committed_per_second: per_second(committed, elapsed),
            latency: Percentiles::of(&latencies),
            blocks: self.blocks,
            average_block_transactions: if self.blocks == 0 {
                0.0
            } else {
                self.block_transactions as f64 / self.blocks as f64
            },
            chain_cpu_seconds: chain_cpu,
            chain_cpu_ms_per_transfer: chain_cpu
                .filter(|_| committed > 0)
                .map(|cpu| cpu * 1000.0 / committed as f64),
            client_cpu_seconds: self.client_cpu.map(|cpu| cpu.as_secs_f64()),
        }
    }
}

/// The most frequent refusal reasons with their counts.
fn top_reasons<'a>(reasons: impl Iterator<Item = &'a String>) -> BTreeMap<String, usize> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for reason in reasons {
        *counts.entry(reason.as_str()).or_default() += 1;
    }
    let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    ranked
        .into_iter()
        .take(REFUSAL_REASONS_MAX)
        .map(|(reason, count)| (reason.to_owned(), count))
        .collect()
}

/// The report with edgeledger's rates over anvil's, when anvil ran.
fn compare(runs: Vec<RunReport>) -> BenchReport {
    let rate = |chain: &str, protocol: Protocol| {
        runs.iter()
            .find(|run| run.chain == chain && run.protocol == protocol)
            .map(|run| run.committed_per_second)
    };
    let anvil = rate("anvil", Protocol::JsonRpc).filter(|rate| *rate > 0.0);
    let ratio = |protocol| Some(rate("edgeledger", protocol)? / anvil?);
    BenchReport {
        json_rpc_ratio_to_anvil: ratio(Protocol::JsonRpc),
        native_ratio_to_anvil: ratio(Protocol::Native),
        runs,
    }
}

/// The report for people: one block of rows per run, then the ratios.
pub fn summary(report: &BenchReport) -> String {
    let mut out = String::new();
    for run in &report.runs {
        let mut rows = vec![(
            "run",
            format!(
                "{} over {}{}{}",
                run.chain,
                protocol_name(run.protocol),
                match (run.sender_keys, run.nonce_ys) {
                    (true, true) => " with sender keys and nonce ys",
                    (true, false) => " with sender keys",
                    (false, _) => "",
                },
                run.offered_per_second
                    .map(|rate| format!(", offered {rate}/s"))
                    .unwrap_or_default()
            ),
        )];
        rows.push((
            "committed",
            format!(
                "{} of {} ({} refused)",
                run.committed, run.submitted, run.refused
            ),
        ));
        rows.push((
            "throughput",
            format!(
                "{:.0} transfers/s over {:.2} s",
                run.committed_per_second, run.elapsed_seconds
            ),
        ));
        if let Some(latency) = &run.latency {
            rows.push((
                "latency",
                format!(
                    "p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
                    latency.p50_ms, latency.p95_ms, latency.p99_ms, latency.max_ms
                ),
            ));
        }
        rows.push((
            "blocks",
            format!(
                "{} with transactions, {:.1} per block on average",
                run.blocks, run.average_block_transactions
            ),
        ));
        if let (Some(cpu), Some(per)) = (run.chain_cpu_seconds, run.chain_cpu_ms_per_transfer) {
            rows.push((
                "chain CPU",
                format!(
                    "{cpu:.2} s ({per:.3} ms per transfer, {:.2} cores)",
                    cpu / run.elapsed_seconds.max(f64::MIN_POSITIVE)
                ),
            ));
        }
        if let Some(cpu) = run.client_cpu_seconds {
            rows.push(("client CPU", format!("{cpu:.2} s")));
        }
        for (reason, count) in &run.refusals {
            rows.push(("refused", format!("{count} × {reason}")));
        }
        out.push_str(&aligned(&rows));
        out.push('\n');
    }
    for (what, ratio) in [
        ("JSON-RPC vs anvil", report.json_rpc_ratio_to_anvil),
        ("native vs anvil", report.native_ratio_to_anvil),
    ] {
        if let Some(ratio) = ratio {
            out.push_str(&format!(
                "{what}: {ratio:.2}× anvil's committed transfers per second\n"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn run(chain: &str, protocol: Protocol, rate: f64) -> RunReport {
        RunReport {
            chain: chain.to_owned(),
            protocol,
            sender_keys: false,
            nonce_ys: false,
            offered_per_second: None,
            submitted: 10,
            refused: 0,
            refusals: BTreeMap::new(),
            committed: 10,
            elapsed_seconds: 1.0,
            committed_per_second: rate,
            latency: None,
            blocks: 1,
            average_block_transactions: 10.0,
            chain_cpu_seconds: None,
            chain_cpu_ms_per_transfer: None,
            client_cpu_seconds: None,
        }
    }

    fn status(state: TxState, reason: Option<&str>) -> TxStatusAnswer {
        let mut answer: TxStatusAnswer = serde_json::from_value(serde_json::json!({
            "hash": Hash::ZERO,
            "status": state,
        }))
        .expect("a status");
        answer.reason = reason.map(|code| ledger::api::Reason {
            code: code.to_owned(),
            message: format!("{code} because"),
        });
        answer
    }

    #[test]
    fn a_stall_with_dropped_transfers_ends_the_run_and_says_why() {
        let statuses = [
            status(TxState::Pending, None),
            status(TxState::Rejected, Some("evicted")),
            status(TxState::Rejected, Some("nonce_too_low")),
            status(TxState::Rejected, Some("evicted")),
            status(TxState::Unknown, None),
            status(TxState::Committed, None),
        ];
        let reading = StallReading::of(9, &statuses);
        assert_eq!(
            reading,
            StallReading {
                missing: 9,
                asked: 6,
                pending: 1,
                committed: 1,
                dropped: BTreeMap::from([
                    ("evicted".to_owned(), 2),
                    ("nonce_too_low".to_owned(), 1)
                ]),
                unknown: 1,
            }
        );
        assert_eq!(
            reading.dropped_error().as_deref(),
            Some(
                "3 of the 6 transfers asked about (of 9 not committed) were accepted and then \
                 dropped by the chain (evicted: 2, nonce_too_low: 1): they will never commit"
            )
        );
    }

    #[test]
    fn a_stall_with_only_pending_transfers_keeps_waiting() {
        let reading = StallReading::of(
            2,
            &[
                status(TxState::Pending, None),
                status(TxState::Unknown, None),
            ],
        );
        assert_eq!(reading.dropped_error(), None);
        assert_eq!(
            reading.note(Duration::from_secs(15)),
            "no transfer committed for 15 s: of the 2 asked about (2 not committed), 1 are \
             pending, 0 committed since and 1 unknown to the chain; still waiting"
        );
    }

    /// `ops bench` arguments as clap parses them.
    fn parse(arguments: &[&str]) -> Result<BenchArgs, clap::Error> {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            bench: BenchArgs,
        }
        <Cli as clap::Parser>::try_parse_from(
            std::iter::once("bench").chain(arguments.iter().copied()),
        )
        .map(|cli| cli.bench)
    }

    #[test]
    fn half_the_peak_is_offered_for_the_duration_asked() {
        let args = parse(&["--at-half-peak", "--duration-secs", "15"]).expect("parses");
        check_args(&args).expect("valid");
        assert_eq!(offered(&args), None, "the burst comes first");
        let peak = run("edgeledger", Protocol::Native, 8_401.7);
        assert_eq!(
            half_of(&peak, 15).expect("a rate"),
            Pace {
                rate: 4_200,
                seconds: 15
            }
        );
        assert!(half_of(&run("edgeledger", Protocol::Native, 1.5), 15).is_err());
    }

    #[test]
    fn a_sustained_run_needs_its_rate_and_length_and_half_peak_excludes_a_rate() {
        let sustained = parse(&["--rate", "300", "--duration-secs", "10"]).expect("parses");
        assert_eq!(
            offered(&sustained),
            Some(Pace {
                rate: 300,
                seconds: 10
            })
        );
        assert!(
            parse(&["--rate", "300"]).is_err(),
            "a rate without a duration"
        );
        assert!(
            parse(&["--at-half-peak"]).is_err(),
            "half the peak without a duration"
        );
        assert!(parse(&["--at-half-peak", "--duration-secs", "5", "--rate", "9"]).is_err());
        assert!(
            parse(&[
                "--at-half-peak",
                "--duration-secs",
                "5",
                "--against",
                "anvil"
            ])
            .is_err()
        );
        let duration_alone = parse(&["--duration-secs", "10"]).expect("parses");
        assert!(
            check_args(&duration_alone).is_err(),
            "a duration without a rate"
        );
    }

    #[test]
    fn ratios_compare_each_protocol_with_anvil() {
        let report = compare(vec![
            run("edgeledger", Protocol::Native, 3000.0),
            run("edgeledger", Protocol::JsonRpc, 1500.0),
            run("anvil", Protocol::JsonRpc, 4000.0),
        ]);
        assert_eq!(report.native_ratio_to_anvil, Some(0.75));
        assert_eq!(report.json_rpc_ratio_to_anvil, Some(0.375));
        let text = summary(&report);
        assert!(text.contains("JSON-RPC vs anvil: 0.38× anvil"), "{text}");
        let alone = compare(vec![run("edgeledger", Protocol::Native, 3000.0)]);
        assert_eq!(alone.native_ratio_to_anvil, None);
        let stalled = compare(vec![
            run("edgeledger", Protocol::JsonRpc, 10.0),
            run("anvil", Protocol::JsonRpc, 0.0),
        ]);
        assert_eq!(
            stalled.json_rpc_ratio_to_anvil, None,
            "no ratio over a stalled anvil"
        );
    }

    #[test]
    fn a_report_times_from_the_first_send_to_the_last_commit() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let measured = Measured {
            submitted: 4,
            sent_at: vec![Some(at(0)), Some(at(0)), Some(at(100)), Some(at(100))],
            refused: BTreeMap::from([(3, "nonce_too_low".to_owned())]),
            committed: HashMap::from([(0, at(200)), (1, at(300)), (2, at(500))]),
            blocks: 2,
            block_transactions: 3,
            chain_cpu: Some(Duration::from_millis(600)),
            client_cpu: None,
        };
        let report = measured.report("edgeledger", Protocol::Native, &plan(Vec::new(), None));
        assert_eq!((report.committed, report.refused), (3, 1));
        assert_eq!(
            report.refusals,
            BTreeMap::from([("nonce_too_low".to_owned(), 1)])
        );
        assert!((report.elapsed_seconds - 0.5).abs() < 1e-9);
        assert!((report.committed_per_second - 6.0).abs() < 1e-6);
        let latency = report.latency.expect("latencies");
        assert_eq!((latency.p50_ms, latency.max_ms), (300.0, 400.0));
        assert!((report.average_block_transactions - 1.5).abs() < 1e-9);
        assert!((report.chain_cpu_ms_per_transfer.expect("cpu") - 200.0).abs() < 1e-6);
        assert!(
            report.sender_keys && report.nonce_ys,
            "native batches carry their senders' keys and nonce ys"
        );
    }

    /// Native batches of 4 (with the senders' keys and nonce ys) over one connection.
    fn plan(signed: Vec<SignedTx>, pace: Option<u32>) -> Plan {
        Plan {
            signed,
            carried: Carried::SenderKeysAndNonceYs,
            batch: 4,
            connections: 1,
            pace,
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn reasons_are_ranked_by_count() {
        let reasons: Vec<String> = ["b", "a", "b", "c", "b", "a"]
            .iter()
            .map(|r| (*r).to_owned())
            .collect();
        let top = top_reasons(reasons.iter());
        assert_eq!(
            top,
            BTreeMap::from([
                ("a".to_owned(), 2),
                ("b".to_owned(), 3),
                ("c".to_owned(), 1)
            ])
        );
    }

    /// `count` stand-ins for signed transfers, told apart by their first raw byte.
    fn stand_ins(count: usize) -> Vec<SignedTx> {
        (0..count)
            .map(|index| SignedTx {
                raw: vec![index as u8],
                hash: Hash([index as u8; 32]),
                sender_key: [index as u8; 64],
                nonce_y: [index as u8; 32],
            })
            .collect()
    }

    #[test]
    fn transfers_a_full_pool_refused_are_sent_again_alone_until_taken() {
        let txs = stand_ins(4);
        let sent = std::cell::RefCell::new(Vec::new());
        // The pool is full for the transfers 1 and 3 twice, then for the 3 no more; the 2 is
        // refused for good.
        let outcome = submit_until_all_in(Duration::ZERO, &txs, |batch| {
            let round = sent.borrow().len();
            sent.borrow_mut()
                .push(batch.iter().map(|tx| tx.raw[0]).collect::<Vec<_>>());
            Ok(batch
                .iter()
                .map(|tx| match (tx.raw[0], round) {
                    (1, _) | (3, 0 | 1) => Submitted::Full("mempool_full".to_owned()),
                    (2, _) => Submitted::Refused("fee_too_low".to_owned()),
                    _ => Submitted::Accepted,
                })
                .collect())
        })
        .expect("answered");
        assert_eq!(
            outcome,
            vec![
                Submitted::Accepted,
                Submitted::Full("mempool_full".to_owned()),
                Submitted::Refused("fee_too_low".to_owned()),
                Submitted::Accepted,
            ]
        );
        let sent = sent.into_inner();
        assert_eq!(sent[..3], [vec![0, 1, 2, 3], vec![1, 3], vec![1, 3]]);
        assert!(sent[3..].iter().all(|batch| *batch == [1]));
        assert_eq!(sent.len() as u32, RESUBMIT_ATTEMPTS);
    }

    #[test]
    fn the_pacer_offers_the_rate_in_ticks() {
        let signed = stand_ins(25);
        let plan = plan(signed, Some(100));
        let (jobs, receiver) = mpsc::channel();
        let started = Instant::now();
        schedule(&plan, &jobs).expect("schedules");
        drop(jobs);
        let queued: Vec<Job> = receiver.iter().collect();
        // 100/s in ticks of 100 ms: 10 a tick, in batches of at most 4: 4+4+2, 4+4+2, 4+1.
        let sizes: Vec<usize> = queued.iter().map(|job| job.range.len()).collect();
        assert_eq!(sizes, vec![4, 4, 2, 4, 4, 2, 4, 1]);
        let covered: HashSet<usize> = queued.iter().flat_map(|job| job.range.clone()).collect();
        assert_eq!(covered.len(), 25);
        let last_due = queued.last().and_then(|job| job.due).expect("paced");
        assert!(last_due.duration_since(started) >= Duration::from_millis(300));
    }

    fn unavailable() -> anyhow::Error {
        target::Unavailable {
            url: "http://chain/v1/txs".to_owned(),
            body: "busy".to_owned(),
        }
        .into()
    }

    #[test]
    fn a_batch_answered_503_is_sent_again_until_taken() {
        let calls = std::cell::Cell::new(0);
        let outcome = submit_until_taken(Duration::ZERO, || {
            calls.set(calls.get() + 1);
            if calls.get() < 3 {
                Err(unavailable())
            } else {
                Ok(vec![Submitted::Accepted])
            }
        });
        assert_eq!(outcome.expect("taken"), vec![Submitted::Accepted]);
        assert_eq!(calls.get(), 3);
    }

    #[test]
    fn other_failures_and_a_chain_that_stays_unavailable_are_given_up() {
        let calls = std::cell::Cell::new(0);
        let outcome = submit_until_taken(Duration::ZERO, || {
            calls.set(calls.get() + 1);
            Err(unavailable())
        });
        assert!(outcome.is_err());
        assert_eq!(calls.get(), RESUBMIT_ATTEMPTS);
        calls.set(0);
        let outcome = submit_until_taken(Duration::ZERO, || {
            calls.set(calls.get() + 1);
            Err(anyhow::anyhow!("answered 400"))
        });
        assert!(outcome.is_err());
        assert_eq!(calls.get(), 1, "only 503 is retried");
    }
}
