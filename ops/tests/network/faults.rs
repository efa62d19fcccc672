//! Crashes of the real runtime. Every process of the local network (wrangler and its workerd
//! processes: the `Sequencer`, the shards, the validators, the archiver, the front door) is
//! killed with SIGKILL at moments drawn from a seed, and started again on the same storage.
//!
//! Under sustained load: no block ever seen is rewritten, every acknowledged transfer ends
//! committed exactly once (each sender's nonce and every balance end exactly as booked) and the
//! total supply is unchanged. During a backup: the backup index never names an incomplete
//! backup, and a restore accepts only the latest complete one.
//!
//! A failure prints the seed; `EDGELEDGER_KILL_SEED=<seed>` replays its kill moments.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ledger::api::{BatchAnswer, BlockAnswer, SubmissionStatus, TxState};
use ledger::primitives::{Hash, U256};
use ledger::random::SplitMix64;

use crate::archive::{back_up, commit_blocks, index, open_backup, restore};
use crate::client::Client;
use crate::harness::{Network, NetworkOptions, Transfers};
use crate::{COMMIT_TIMEOUT, random_address};

/// Kills per test under load.
const KILLS: usize = 3;

/// Requests per 10 s the kill test's network allows its one client: room for reading every
/// account its load created, twice.
const BOOKKEEPING_RATE_LIMIT: u32 = 50_000;

/// Development accounts sending during the load.
const SENDERS: usize = 8;

/// Transfers per batch of the load.
const BATCH: usize = 12;

/// Pause between the load's batches: a sustained rate rather than a burst.
const LOAD_PAUSE: Duration = Duration::from_millis(40);

/// How long the load retries a batch that got no answer (the network is restarting).
const RETRY_FOR: Duration = Duration::from_secs(120);

/// The seed of the kill moments: `EDGELEDGER_KILL_SEED` (decimal or `0x` hex), else the clock.
fn kill_seed(test: &str) -> u64 {
    let seed = std::env::var("EDGELEDGER_KILL_SEED")
        .ok()
        .and_then(|text| match text.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => text.parse().ok(),
        })
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |since| since.as_nanos() as u64)
        });
    eprintln!(
        "{test}: kill seed {seed:#x}; replay with EDGELEDGER_KILL_SEED={seed:#x} \
         cargo test -p ops --test network -- --test-threads=1 {test}"
    );
    seed
}

#[test]
fn sigkill_under_sustained_load_loses_no_acknowledged_transfer() {
    let seed = kill_seed("sigkill_under_sustained_load_loses_no_acknowledged_transfer");
    let mut random = SplitMix64::new(seed);
    // Every transfer pays a new address, and the checks read each account twice: a few
    // thousand reads in seconds on a fast machine, past the local network's 3,000 requests per
    // client per 10 s. Rate limiting is security.rs's subject, not this test's.
    let mut network = Network::start_with(NetworkOptions {
        rate_limit: BOOKKEEPING_RATE_LIMIT,
        ..NetworkOptions::default()
    });
    let supply = total_supply(&network, &Transfers::new(&network));
    let load = Load::start(
        Client::new(network.client.base()),
        Transfers::new(&network),
        seed,
    );
    let mut seen = BTreeMap::new();
    for kill in 0..KILLS {
        std::thread::sleep(Duration::from_millis(1_500 + random.below(3_000)));
        record_new_blocks(&network, &mut seen);
        eprintln!(
            "kill {}: SIGKILL at head {}, {} transfers acknowledged so far",
            kill + 1,
            seen.keys().next_back().copied().unwrap_or_default(),
            load.acknowledged()
        );
        network.restart();
        assert_blocks_unchanged(&network, &seen);
    }
    let (transfers, acknowledged) = load.finish();
    assert!(
        acknowledged.len() >= KILLS * BATCH,
        "the load hardly ran: {} acknowledged",
        acknowledged.len()
    );

    wait_for_nonces(&network, &transfers);
    transfers.assert_on_chain(&network, &format!("(kill seed {seed:#x})"));
    assert_eq!(
        total_supply(&network, &transfers),
        supply,
        "supply changed (kill seed {seed:#x})"
    );
    // A sample of the acknowledged hashes, each committed where the chain says.
    for hash in acknowledged.iter().step_by(acknowledged.len() / 40 + 1) {
        assert_eq!(
            network.client.transaction(hash).status,
            TxState::Committed,
            "{hash} (kill seed {seed:#x})"
        );
    }
    record_new_blocks(&network, &mut seen);
    assert_blocks_unchanged(&network, &seen);
}

#[test]
fn a_backup_killed_midway_is_never_the_one_a_restore_takes() {
    let seed = kill_seed("a_backup_killed_midway_is_never_the_one_a_restore_takes");
    let mut random = SplitMix64::new(seed);
    let mut network = Network::start_with(NetworkOptions::default());
    let mut transfers = Transfers::new(&network);
    commit_blocks(&network, &mut transfers, 3);
    let complete = back_up(&network);
    // A second backup, warm, times one.
    commit_blocks(&network, &mut transfers, 1);
    let started = Instant::now();
    back_up(&network);
    let backup_time = started.elapsed();

    let mut interrupted = 0;
    for attempt in 0..3 {
        commit_blocks(&network, &mut transfers, 2);
        let latest_before = index(&network).latest.expect("a backup exists");
        // A backup, with the network killed 5 to 70% of the way through the time one takes.
        let client = Client::new(network.client.base());
        let token = network.admin_token.clone();
        let backup = std::thread::spawn(move || {
            let authorization = format!("Bearer {token}");
            client
                .try_send(
                    "POST",
                    "/v1/admin/backups",
                    &[("authorization", authorization.as_str())],
                    None,
                )
                .map(|answer| answer.status)
        });
        let fraction = 50 + random.below(650);
        let kill_after = backup_time.mul_f64(fraction as f64 / 1_000.0);
        std::thread::sleep(kill_after);
        network.restart();
        let outcome = backup.join().expect("the backup thread ends");
        eprintln!("attempt {attempt}: killed after {kill_after:?}; the backup call: {outcome:?}");
        interrupted += usize::from(outcome.is_err());

        // A run killed midway holds the archiver's lease until it expires: until then backups
        // and restores are refused as busy, never run beside it.
        wait_until_the_archiver_is_free(&network);
        // The index names the last complete backup: the one before, or the new one, whole.
        let latest = index(&network).latest.expect("the index survived");
        if latest.cid != latest_before.cid {
            assert!(latest.height > latest_before.height, "{latest:?}");
            let opened = open_backup(&network, &latest);
            assert_eq!(
                (opened.height, opened.block_hash),
                (latest.height, latest.block_hash)
            );
        }
        let older = restore(&network, &complete.cid);
        if latest.cid != complete.cid {
            assert_eq!(
                (older.status, older.error_code().as_str()),
                (409, "not_latest_backup"),
                "{}",
                older.text()
            );
        }
        // The archiver is not left holding its lease: a backup can be made at once.
        commit_blocks(&network, &mut transfers, 1);
        back_up(&network);
    }

    assert!(
        interrupted > 0,
        "no kill landed during a backup (each takes {backup_time:?}; kill seed {seed:#x})"
    );

    // A disaster then restores the latest backup, and only it.
    let latest = index(&network).latest.expect("a backup");
    network.restart_destroying_all_but_the_index();
    let refused = restore(&network, &complete.cid);
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (409, "not_latest_backup")
    );
    let restored = restore(&network, &latest.cid);
    assert_eq!(restored.status, 200, "{}", restored.text());
    let status = network.client.status();
    assert_eq!(
        (status.head_height, status.head_hash),
        (latest.height, latest.block_hash)
    );
    transfers.assert_on_chain(&network, &format!("(kill seed {seed:#x})"));
}

/// Waits out a lease a killed run left: a restore of a CID the index does not hold (IPFS's
/// empty folder) is refused as `archiver_busy` while the lease runs, and as
/// `not_latest_backup` once the archiver is free.
fn wait_until_the_archiver_is_free(network: &Network) {
    let lease = Duration::from_millis(ops::devnet::LOCAL_ARCHIVER_LEASE_MS);
    let deadline = Instant::now() + lease + Duration::from_secs(10);
    loop {
        let answer = restore(network, "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn");
        match (answer.status, answer.error_code().as_str()) {
            (409, "archiver_busy") => {
                assert!(Instant::now() < deadline, "the lease outlived {lease:?}");
                std::thread::sleep(Duration::from_millis(500));
            }
            (409, "not_latest_backup") => return,
            other => panic!("unexpected answer {other:?}: {}", answer.text()),
        }
    }
}

/// A thread submitting batches of transfers one after another until told to stop, retrying a
/// batch that got no answer until it gets one. It books only what was acknowledged.
struct Load {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<Vec<Hash>>>,
    thread: JoinHandle<Transfers>,
}

impl Load {
    fn start(client: Client, mut transfers: Transfers, seed: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let (stopping, booked) = (stop.clone(), acknowledged.clone());
        let thread = std::thread::spawn(move || {
            let mut random = SplitMix64::new(seed ^ 0x10ad);
            let mut batch_index = 0;
            while !stopping.load(Ordering::SeqCst) {
                let raws: Vec<Vec<u8>> = (0..BATCH)
                    .map(|offset| {
                        let sender = (batch_index * BATCH + offset) % SENDERS;
                        let to = random_address(&mut random);
                        transfers.transfer(sender, to, U256::from(1 + offset as u64))
                    })
                    .collect();
                let hashes = submit_until_answered(&client, &raws);
                booked.lock().expect("not poisoned").extend(hashes);
                batch_index += 1;
                std::thread::sleep(LOAD_PAUSE);
            }
            transfers
        });
        Self {
            stop,
            acknowledged,
            thread,
        }
    }

    fn acknowledged(&self) -> usize {
        self.acknowledged.lock().expect("not poisoned").len()
    }

    /// Stops after the batch in flight; the bookings and every acknowledged hash.
    fn finish(self) -> (Transfers, Vec<Hash>) {
        self.stop.store(true, Ordering::SeqCst);
        let transfers = self.thread.join().expect("the load thread ends");
        let acknowledged = self.acknowledged.lock().expect("not poisoned").clone();
        (transfers, acknowledged)
    }
}

/// Submits a batch until the chain answers it: every transfer must then be accepted, or a
/// duplicate when an earlier attempt was admitted but its answer lost in the crash.
fn submit_until_answered(client: &Client, raws: &[Vec<u8>]) -> Vec<Hash> {
    let deadline = Instant::now() + RETRY_FOR;
    loop {
        match client.try_submit_batch(raws) {
            Ok(answer) if answer.status == 200 => {
                let results = answer.json::<BatchAnswer>().results;
                assert!(
                    results.iter().all(|result| matches!(
                        result.status,
                        SubmissionStatus::Accepted | SubmissionStatus::Duplicate
                    )),
                    "a transfer was refused: {results:?}"
                );
                return results.iter().map(|result| result.hash).collect();
            }
            // No answer (the network is down) or not one to act on (starting up): again.
            Ok(_) | Err(_) => {
                assert!(Instant::now() < deadline, "no answer for {RETRY_FOR:?}");
                std::thread::sleep(Duration::from_millis(250));
            }
        }
    }
}

/// Waits until every sender's committed nonce is the one booked: all its acknowledged
/// transfers are committed (a lost one would leave a gap that holds back the rest).
fn wait_for_nonces(network: &Network, transfers: &Transfers) {
    let deadline = Instant::now() + COMMIT_TIMEOUT;
    for (address, expected) in &transfers.expected {
        loop {
            let nonce = network.client.account(address, false).nonce;
            if nonce == expected.nonce {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{address}: nonce {nonce}, expected {}",
                expected.nonce
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The sum of the balances of every account the transfers touched (and the genesis ones).
fn total_supply(network: &Network, transfers: &Transfers) -> U256 {
    transfers
        .expected
        .keys()
        .map(|address| network.client.account(address, false).balance)
        .fold(U256::ZERO, |sum, balance| sum + balance)
}

/// Reads the hash of every block not yet in `seen`, up to the head.
fn record_new_blocks(network: &Network, seen: &mut BTreeMap<u64, Hash>) {
    let head = network.client.status().head_height;
    let from = seen.keys().next_back().map_or(0, |last| last + 1);
    for height in from..=head {
        let block: BlockAnswer = network.client.get(&format!("/v1/blocks/{height}")).json();
        seen.insert(height, block.hash);
    }
}

/// Every block seen before is still there, unchanged: a crash never rewrites history.
fn assert_blocks_unchanged(network: &Network, seen: &BTreeMap<u64, Hash>) {
    for (height, hash) in seen {
        let block: BlockAnswer = network.client.get(&format!("/v1/blocks/{height}")).json();
        assert_eq!(&block.hash, hash, "block {height} changed across a crash");
    }
}
