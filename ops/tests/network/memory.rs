//! The memory target measured on workerd itself: every isolate's wasm linear memory (its heap
//! at its largest, `edgeledger_wasm_memory_bytes`) with more than 100,000 funded accounts and
//! a full mempool of transfers from as many senders, the most the mempool keeps per-sender
//! state for, proposed to four validators (the proposal's encoding goes to each). `ledger/tests/memory.rs` measures the same natively, object by object; this is
//! what the runtime holds, allocator and requests in flight included.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ledger::limits::MEMPOOL_TXS_MAX;
use ledger::primitives::{Address, U256};
use ledger::random::SplitMix64;
use ledger::signature::SecretKey;
use ledger::transaction::Submission;

use crate::harness::{
    Network, NetworkOptions, Transfers, keyed_transfer, seeded_key, submit_all_accepted,
};
use crate::metrics::{scrape, value};
use crate::random_address;

/// Accounts the target names.
const ACCOUNTS_MIN: usize = 100_000;

/// Addresses funded by the development accounts: the senders first, then random addresses
/// that only hold a balance, so that with the senders' recipients the state passes [`ACCOUNTS_MIN`].
const FUNDED: usize = 68_000;

/// What each isolate's wasm memory must stay within: half of the 128 MB an isolate may use,
/// leaving the rest to V8's own heap (request and response bodies, the runtime). Measured
/// 2026-12-06 with four validators: the `Sequencer`'s isolate 80.3 MiB at first, 66.4 to 70.4
/// MiB once its sender queues, witnesses and proposal copies were slimmed (four runs), 55.1 to
/// 56.9 MiB once the proposal was encoded once into an exact buffer, witnesses were written
/// straight from their trees and the proposal was shared instead of copied (eight runs; see
/// ARCHITECTURE, *Where the isolate's memory grew*); the shards' 38.3 MiB, the front door's
/// 11.1 MiB.
const ISOLATE_WASM_BUDGET_BYTES: f64 = 64.0 * 1024.0 * 1024.0;

/// How long the funding or the full mempool may take to commit on the two-core machine.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(180);

#[test]
fn every_isolate_stays_bounded_with_100000_accounts_and_a_full_mempool_of_distinct_senders() {
    let network = Network::start_with(NetworkOptions {
        validators: 4,
        shards: 4,
        ..NetworkOptions::default()
    });
    let mut random = SplitMix64::new(100_000);
    let senders: Vec<SecretKey> = (1..=MEMPOOL_TXS_MAX as u64)
        .map(|seed| seeded_key(0x5e, seed))
        .collect();
    let mut funded: Vec<Address> = senders
        .iter()
        .map(|key| key.public_key().address())
        .collect();
    funded.extend((funded.len()..FUNDED).map(|_| random_address(&mut random)));
    fund(&network, &funded);

    // Production paused, one transfer from each sender to an address of its own: the mempool
    // fills with as many senders as it has transactions.
    assert_eq!(network.admin("POST", "/v1/admin/pause", None).status, 200);
    let chain_id = network.genesis.config.chain_id;
    let submissions: Vec<Submission> = senders
        .iter()
        .map(|key| keyed_transfer(key, chain_id, 0, random_address(&mut random)))
        .collect();
    submit_all_accepted(&network, &submissions);
    let full = scrape(&network);
    assert_eq!(
        value(&full, "edgeledger_mempool_transactions"),
        MEMPOOL_TXS_MAX as f64,
        "the mempool is full"
    );

    // Then the full mempool goes out in full blocks, each proposed with the next built ahead.
    assert_eq!(network.admin("POST", "/v1/admin/resume", None).status, 200);
    wait_until_drained(&network);
    let after = scrape(&network);
    let accounts: f64 = (0..4)
        .map(|shard| {
            value(
                &after,
                &format!("edgeledger_shard_accounts{{shard=\"{shard}\"}}"),
            )
        })
        .sum();
    assert!(accounts >= ACCOUNTS_MIN as f64, "{accounts} accounts");

    let memory = wasm_memory(&after);
    let at_full = wasm_memory(&full);
    println!(
        "wasm memory with {accounts} accounts after a full mempool of {MEMPOOL_TXS_MAX} senders \
         (at the full mempool, then after it committed): {}",
        memory
            .iter()
            .map(|(object, bytes)| format!(
                "{object} {:.1} then {:.1} MiB",
                mib(at_full[object]),
                mib(*bytes)
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(
        memory.len() == 6,
        "the front door, the Sequencer and 4 shards: {memory:?}"
    );
    for (object, bytes) in &memory {
        assert!(
            *bytes <= ISOLATE_WASM_BUDGET_BYTES,
            "{object}'s isolate reached {:.1} MiB",
            mib(*bytes)
        );
    }
}

/// `edgeledger_wasm_memory_bytes` by object (`front_door`, `sequencer`, `shard 0`, …).
fn wasm_memory(samples: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    samples
        .iter()
        .filter_map(|(series, bytes)| {
            let labels = series.strip_prefix("edgeledger_wasm_memory_bytes{")?;
            let object = labels
                .trim_end_matches('}')
                .replace("object=", "")
                .replace(",shard=", " ")
                .replace('"', "");
            Some((object, *bytes))
        })
        .collect()
}

/// One transfer of a little ether to each of `addresses` from the development accounts, in
/// waves the mempool can hold, each committed before the next.
fn fund(network: &Network, addresses: &[Address]) {
    let mut transfers = Transfers::new(network);
    let ether = U256::from(10u64.pow(18));
    for wave in addresses.chunks(MEMPOOL_TXS_MAX / 2) {
        let submissions: Vec<Submission> = wave
            .iter()
            .enumerate()
            .map(|(index, to)| {
                let sender = index % network.keys.len();
                Submission::with_key(
                    transfers.transfer(sender, *to, ether),
                    network.keys[sender].public_key().to_xy().to_vec(),
                )
            })
            .collect();
        submit_all_accepted(network, &submissions);
        wait_until_drained(network);
    }
}

/// Waits until nothing is pending (every acknowledged transfer committed) and every shard
/// has applied the last block, so that its account count includes it.
fn wait_until_drained(network: &Network) {
    let started = Instant::now();
    while !drained(&scrape(network)) {
        assert!(
            started.elapsed() < DRAIN_TIMEOUT,
            "the mempool did not drain"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn drained(samples: &BTreeMap<String, f64>) -> bool {
    let shards_behind = samples
        .iter()
        .filter(|(series, _)| series.starts_with("edgeledger_shard_apply_lag_blocks{"))
        .any(|(_, lag)| *lag > 0.0);
    value(samples, "edgeledger_mempool_transactions") == 0.0 && !shards_behind
}

fn mib(bytes: f64) -> f64 {
    bytes / 1024.0 / 1024.0
}
