//! A deterministic, seed-driven simulation of the whole protocol, in the spirit of
//! TigerBeetle's VOPR: one sequencer over its durable storage, the shards, 4 or 7 validators
//! (some Byzantine), clients, and a network that loses, copies, delays and reorders messages,
//! on a simulated clock. The sequencer crashes (between inputs and in the middle of its
//! effects) and restarts from storage only; shards crash and reopen over their stores;
//! honest validators go down for a while. Then the network heals and the chain must finish.
//!
//! One `u64` seed decides everything. Checked after every step: no two certified blocks at
//! one height (every vote released and every certificate shown is verified); no honest
//! validator signs twice at a height; shards hold only certified roots; at every consistent
//! point (all shards at the head's roots) the supply is conserved and the state equals an
//! independent model of the transfer rules; storage and memory agree on what is pending.
//! At the end: no transaction lost, and with at most f faulty validators, the healed chain
//! commits everything includable within a bound.
//!
//! Environment:
//! - `EDGELEDGER_SIM_SEED=0x…` replays one seed, printing its scenario
//!   (`EDGELEDGER_SIM_TRACE=1` also prints every event);
//! - `EDGELEDGER_SIM_SEEDS=N` runs N seeds instead of the default;
//! - `EDGELEDGER_SIM_BASE=…` draws the seeds from another base, to explore new ones;
//! - `EDGELEDGER_SIM_STEPS=N` sets the faulty steps per seed (on average);
//! - `EDGELEDGER_SIM_THREADS=N` sets the worker threads (default: up to 2);
//! - `EDGELEDGER_SIM_VERBOSE=1` prints one line per seed.
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::panic,
    reason = "the harness reports a broken invariant by panicking"
)]

#[path = "simulation/certificates.rs"]
mod certificates;
#[path = "simulation/cluster.rs"]
mod cluster;
#[path = "simulation/delivery.rs"]
mod delivery;
#[path = "simulation/effects.rs"]
mod effects;
#[path = "simulation/fates.rs"]
mod fates;
#[path = "simulation/invariants.rs"]
mod invariants;
#[path = "simulation/model.rs"]
mod model;
#[path = "simulation/network.rs"]
mod network;
#[path = "simulation/report.rs"]
mod report;
#[path = "simulation/scenario.rs"]
mod scenario;
#[path = "simulation/validators.rs"]
mod validators;
#[path = "simulation/workload.rs"]
mod workload;

use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use ledger::random::SplitMix64;

use cluster::Simulation;
use report::{Invariant, Stats};
use scenario::Scenario;

/// Seeds of the default (CI) run.
const DEFAULT_SEEDS: usize = 48;
/// Faulty steps per seed, on average, by default.
const DEFAULT_STEPS: usize = 1_500;
/// The seeds of a run are drawn from this base unless `EDGELEDGER_SIM_BASE` says otherwise.
const DEFAULT_BASE: u64 = 0xed9e_1ed9_e2f0_0001;
/// A long run stops after this many failing seeds.
const FAILURES_MAX: usize = 10;

/// What the environment asks for.
struct Settings {
    seeds: Vec<u64>,
    steps: usize,
    threads: usize,
    trace: bool,
    verbose: bool,
    replay: bool,
}

fn settings() -> Settings {
    let steps = variable("EDGELEDGER_SIM_STEPS").map_or(DEFAULT_STEPS, |steps| steps as usize);
    let threads = variable("EDGELEDGER_SIM_THREADS").map_or_else(
        || std::thread::available_parallelism().map_or(1, |count| count.get().min(2)),
        |threads| threads.max(1) as usize,
    );
    let trace = std::env::var_os("EDGELEDGER_SIM_TRACE").is_some();
    let verbose = std::env::var_os("EDGELEDGER_SIM_VERBOSE").is_some();
    if let Some(seed) = variable("EDGELEDGER_SIM_SEED") {
        return Settings {
            seeds: vec![seed],
            steps,
            threads: 1,
            trace,
            verbose,
            replay: true,
        };
    }
    let count = variable("EDGELEDGER_SIM_SEEDS").map_or(DEFAULT_SEEDS, |count| count as usize);
    let mut random = SplitMix64::new(variable("EDGELEDGER_SIM_BASE").unwrap_or(DEFAULT_BASE));
    Settings {
        seeds: (0..count).map(|_| random.next_u64()).collect(),
        steps,
        threads,
        trace: false,
        verbose,
        replay: false,
    }
}

/// A number from the environment, decimal or `0x` hexadecimal.
fn variable(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let text = text.trim().replace('_', "");
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    Some(parsed.unwrap_or_else(|error| panic!("{name}={text}: {error}")))
}

/// The one-line command that replays `seed`.
fn replay_command(seed: u64, steps: usize) -> String {
    let steps = if steps == DEFAULT_STEPS {
        String::new()
    } else {
        format!("EDGELEDGER_SIM_STEPS={steps} ")
    };
    format!(
        "EDGELEDGER_SIM_SEED={seed:#018x} {steps}cargo test -p ledger --release --test simulation \
         -- --nocapture"
    )
}

/// Runs one scenario; a broken invariant or a panic anywhere becomes a report naming the seed.
fn run_one(scenario: Scenario, steps: usize, trace: bool) -> Result<Stats, String> {
    let seed = scenario.seed;
    let description = scenario.describe();
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| Simulation::new(scenario, trace).run()));
    let (what, position) = match outcome {
        Ok(Ok(stats)) => return Ok(stats),
        Ok(Err(failure)) => (failure.violation.to_string(), failure.position),
        Err(payload) => (panic_message(&*payload), "a panic".to_owned()),
    };
    Err(format!(
        "simulation failed, seed {seed:#018x}: {what}\n  at {position}\n  scenario: \
         {description}\n  replay: {}",
        replay_command(seed, steps)
    ))
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| {
            payload
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
        })
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Runs the seeds on worker threads (each run is independent, so the threads change nothing
/// but the wall time); returns the total counts and the failure reports in seed order.
fn run_seeds(settings: &Settings) -> (Stats, Vec<String>) {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<Stats, String>)>> = Mutex::new(Vec::new());
    let failed = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..settings.threads {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= settings.seeds.len()
                        || failed.load(Ordering::Relaxed) >= FAILURES_MAX
                    {
                        return;
                    }
                    let scenario = Scenario::from_seed(settings.seeds[index], settings.steps);
                    let class = scenario.class;
                    let started = Instant::now();
                    let result = run_one(scenario, settings.steps, settings.trace);
                    if settings.verbose {
                        let blocks = result.as_ref().map_or(0, |stats| stats.blocks);
                        let seed = settings.seeds[index];
                        let elapsed = started.elapsed();
                        println!("seed {seed:#018x}: {class:?}, {blocks} blocks, {elapsed:.1?}");
                    }
                    if result.is_err() {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    results
                        .lock()
                        .expect("no worker panics holding it")
                        .push((index, result));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("no worker panicked holding it");
    results.sort_by_key(|(index, _)| *index);
    let mut total = Stats::default();
    let mut failures = Vec::new();
    for (_, result) in results {
        match result {
            Ok(stats) => total.add(&stats),
            Err(report) => failures.push(report),
        }
    }
    (total, failures)
}

#[test]
fn seeds_keep_every_invariant() {
    let settings = settings();
    if settings.replay {
        let scenario = Scenario::from_seed(settings.seeds[0], settings.steps);
        println!("seed {:#018x}: {}", scenario.seed, scenario.describe());
    }
    let started = Instant::now();
    let (stats, failures) = run_seeds(&settings);
    println!("simulation: {stats}; {:.1?}", started.elapsed());
    if let Some(first) = failures.first() {
        for report in &failures[1..] {
            eprintln!("{report}");
        }
        panic!("{} seed(s) failed; the first:\n{first}", failures.len());
    }
    if !settings.replay && settings.seeds.len() >= DEFAULT_SEEDS {
        // The run must exercise what it claims to, or passing means nothing.
        assert!(stats.blocks >= 10 * stats.seeds, "few blocks: {stats}");
        assert!(
            stats.network.lost > 0 && stats.network.duplicated > 0,
            "{stats}"
        );
        assert!(
            stats.sequencer_crashes > 0 && stats.mid_effect_crashes > 0,
            "{stats}"
        );
        assert!(
            stats.shard_crashes > 0 && stats.validator_outages > 0,
            "{stats}"
        );
        assert!(stats.byzantine_votes > 0 && stats.dropped > 0, "{stats}");
        assert!(stats.evicted > 0, "no full mempool evicted: {stats}");
    }
}

/// The fork detector is only worth something if it fires: with a quorum of equivocating
/// validators a conflicting certificate is possible, and it must be reported.
#[test]
fn a_quorum_of_equivocators_is_caught_forking() {
    for seed in 1..=4 {
        let scenario = Scenario::colluding_quorum(seed, 300);
        match Simulation::new(scenario, false).run() {
            Err(failure) if failure.violation.invariant == Invariant::Fork => {}
            other => panic!("seed {seed}: expected a reported fork, got {other:?}"),
        }
    }
}

#[test]
fn a_quiet_chain_makes_no_blocks() {
    let mut simulation = Simulation::new(Scenario::from_seed(9, 0), false);
    simulation.faults_on = false;
    for _ in 0..100 {
        simulation.now_ms += 1_000;
        simulation.tick().expect("nothing to break");
        simulation.check_step().expect("invariants hold");
    }
    assert_eq!(simulation.model.height(), 0);
    assert!(simulation.network.is_empty());
    assert!(
        simulation.alarm_ms.is_none(),
        "no alarm is scheduled while nothing is pending"
    );
}
