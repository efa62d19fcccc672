//! What the `Sequencer` object holds in memory at its worst, measured with a counting
//! allocator: a full mempool ([`MEMPOOL_TXS_MAX`] transfers), the latency map that times each
//! of them, the index of the rows they are stored in, and a full block's proposal (4,096
//! transfers to fresh accounts over a state of 100,000 accounts) with its execution, while it
//! is voted on.
//!
//! workerd does not report memory per Durable Object, so this bounds it from the code: the
//! object keeps nothing else but small counters (the shards keep only their bounded node cache;
//! see `shards/src/cache.rs`). Measured natively with 8-byte pointers; wasm32's are 4 bytes,
//! so the Worker's figures are lower. The measured figures are printed (`--nocapture`).
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::panic, reason = "the test reports a broken bound by panicking")]

use std::rc::Rc;

use ledger::consensus::ValidatorSet;
use ledger::genesis::{ChainConfig, Genesis, GenesisAccount};
use ledger::in_memory::InMemoryShards;
use ledger::limits::{BLOCK_TXS_MAX, MEMPOOL_TXS_MAX, SENDER_QUEUE_TXS_MAX};
use ledger::mempool::{Admission, MempoolLimits};
use ledger::metrics::sequencer::SequencerMetrics;
use ledger::random::SplitMix64;
use ledger::sequencer::{Effect, PENDING_ROW_TXS_MAX, PendingRows, Sequencer, Timing};
use ledger::signature::SecretKey;
use ledger::transaction::{Transfer, TxKind, VerifiedTx, WireTx, verify_all};
use ledger::{Address, ShardLayout, U256};
use peak_alloc::PeakAlloc;

#[global_allocator]
static ALLOCATOR: PeakAlloc = PeakAlloc;

/// Held by each test while it measures: the allocator's counts are the whole process's, so
/// the tests must not allocate at the same time.
static MEASURING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Heap bytes in use now.
fn in_use() -> usize {
    ALLOCATOR.current_usage()
}

/// The `Sequencer` object's budget for the state measured here, at its highest. It was 40 MiB
/// while the test filled the mempool from eight senders only; from as many senders as
/// transfers (each with a queue, and each block's witness twice the accounts) the highest
/// point was 63.3 MiB, 53.3 MiB once sender queues, witnesses and the block built ahead were
/// slimmed, and 48.4 MiB once a one-transaction queue took room for one and the proposal was
/// shared with the effect that sends it instead of copied. The isolate's own figure, with the
/// allocator's slack and the encoded proposal, is measured on workerd by
/// `ops/tests/network/memory.rs`.
const SEQUENCER_BUDGET_BYTES: usize = 56 << 20;

/// Accounts at genesis: the 100,000 the target names.
const ACCOUNTS: usize = 100_000;

const CHAIN_ID: u64 = 31_337;

fn mib(bytes: usize) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// `count` sender keys, all different.
fn senders(count: usize) -> Vec<SecretKey> {
    (1..=count as u64)
        .map(|seed| {
            let mut bytes = [0u8; 32];
            bytes[24..].copy_from_slice(&seed.to_be_bytes());
            bytes[0] = 0x11;
            SecretKey::from_bytes(&bytes).expect("a valid key")
        })
        .collect()
}

fn genesis(senders: &[SecretKey]) -> Genesis {
    let validators = ValidatorSet::new(vec![senders[0].public_key()]).expect("one validator");
    let mut random = SplitMix64::new(100_000);
    let mut accounts: Vec<GenesisAccount> = senders
        .iter()
        .map(|key| GenesisAccount {
            address: key.address(),
            balance: U256::from(10u128.pow(24)),
        })
        .collect();
    while accounts.len() < ACCOUNTS {
        let mut address = [0u8; 20];
        for chunk in address.chunks_mut(8) {
            let bytes = random.next_u64().to_be_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        accounts.push(GenesisAccount {
            address: Address(address),
            balance: U256::from(1u64),
        });
    }
    Genesis {
        config: ChainConfig {
            chain_id: CHAIN_ID,
            shard_bits: ShardLayout::new(2).expect("four shards"),
            validators,
            proposer: Address([0x33; 20]),
            fee_recipient: Address([0x44; 20]),
            base_fee_per_gas: 0,
            batch_window_ms: 25,
        },
        timestamp_ms: 1_700_000_000_000,
        accounts,
    }
}

/// A transfer from `key` with `nonce` to a fresh address, its sender recovered.
fn transfer(key: &SecretKey, nonce: u64, to: Address) -> VerifiedTx {
    Transfer {
        kind: TxKind::DynamicFee,
        chain_id: CHAIN_ID,
        nonce,
        max_fee_per_gas: 3,
        max_priority_fee_per_gas: 3,
        gas_limit: ledger::transaction::TRANSFER_GAS,
        to,
        value: U256::from(1u64),
    }
    .sign(key)
    .recover()
    .expect("own signature recovers")
}

fn fresh_address(index: usize) -> Address {
    let mut address = [0xee; 20];
    address[12..].copy_from_slice(&(index as u64).to_be_bytes());
    Address(address)
}

/// The most transactions a sender can have queued: the fewest senders fill the mempool.
#[test]
fn the_sequencers_memory_stays_bounded_with_a_full_mempool_of_full_queues() {
    sequencers_memory_with_a_full_mempool(MEMPOOL_TXS_MAX / SENDER_QUEUE_TXS_MAX);
}

/// One transaction per sender: the most senders the mempool can hold, each with a queue and
/// the structures kept per sender.
#[test]
fn the_sequencers_memory_stays_bounded_with_a_full_mempool_of_one_transfer_per_sender() {
    sequencers_memory_with_a_full_mempool(MEMPOOL_TXS_MAX);
}

/// Fills the mempool from `sender_count` senders, then runs a round with a full proposal and
/// the next block built ahead, and holds what the `Sequencer` keeps (and its highest point on
/// the way) to the budget.
fn sequencers_memory_with_a_full_mempool(sender_count: usize) {
    let _measuring = MEASURING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let senders = senders(sender_count);
    let per_sender = MEMPOOL_TXS_MAX / sender_count;
    let genesis = genesis(&senders);
    let shards = InMemoryShards::from_genesis(&genesis).expect("genesis shards");
    let header = genesis.header().expect("genesis header");
    let roots = genesis.shard_roots().expect("genesis roots");
    // Signed before counting: the object receives them already decoded.
    let mut transactions: Vec<VerifiedTx> = Vec::with_capacity(MEMPOOL_TXS_MAX);
    for nonce in 0..per_sender as u64 {
        for (index, key) in senders.iter().enumerate() {
            let to = fresh_address(transactions.len() + index);
            transactions.push(transfer(key, nonce, to));
        }
    }
    let hashes: Vec<_> = transactions.iter().map(VerifiedTx::hash).collect();

    let before = in_use();
    ALLOCATOR.reset_peak_usage();
    let mut sequencer = Sequencer::new(
        genesis.config.clone(),
        Timing::default(),
        MempoolLimits::default(),
        header,
        roots,
        7,
    )
    .expect("a sequencer at genesis");
    let mut metrics = SequencerMetrics::new(0);
    // The shell's index of the rows its pending transactions are stored in.
    let mut pending_rows = PendingRows::new();
    let mut admitted = 0;
    for (chunk, chunk_hashes) in transactions
        .chunks(4_096)
        .map(<[VerifiedTx]>::to_vec)
        .zip(hashes.chunks(4_096))
    {
        let (admissions, effects) = sequencer.submit(1, chunk, |_| false);
        admitted += admissions
            .iter()
            .filter(|admission| **admission == Admission::Accepted)
            .count();
        let request_id: Rc<str> = Rc::from("0123456789abcdef");
        metrics.admissions(1, chunk_hashes, &admissions, Some(&request_id));
        for row in chunk_hashes.chunks(PENDING_ROW_TXS_MAX) {
            let (_, changes) = pending_rows.store(row);
            assert!(changes.is_empty());
        }
        drop(effects);
    }
    assert_eq!(admitted, MEMPOOL_TXS_MAX, "the mempool took every transfer");
    let full_mempool = in_use() - before;

    // One round: the witnesses of a full block, then the proposal it is voted on, and the
    // next full block built ahead on top of it while the votes are awaited.
    let mut effects = sequencer.alarm(10_000);
    let mut proposals = 0;
    let mut heights_witnessed = std::collections::BTreeSet::new();
    while let Some(effect) = effects.pop() {
        match effect {
            Effect::RequestWitness { round, request } => {
                heights_witnessed.insert(round.height);
                let answer = shards
                    .shard(request.shard)
                    .witness(&request)
                    .map_err(|error| error.to_string());
                effects.extend(sequencer.witness_received(10_001, round, request.shard, answer));
            }
            Effect::Propose(proposal) => {
                assert_eq!(proposal.transactions.len(), BLOCK_TXS_MAX);
                proposals += 1;
            }
            _ => {}
        }
    }
    assert_eq!(proposals, 1, "a full block was proposed");
    assert_eq!(
        heights_witnessed.into_iter().collect::<Vec<_>>(),
        vec![1, 2],
        "the next block was witnessed (and built) ahead"
    );
    let with_proposal = in_use() - before;
    let peak = ALLOCATOR.peak_usage() - before;

    println!(
        "Sequencer heap, {sender_count} senders: full mempool of {MEMPOOL_TXS_MAX} transfers \
         with their latency entries and the index of their stored rows {:.1} MiB; with a \
         {BLOCK_TXS_MAX}-transfer proposal over {ACCOUNTS} accounts being voted on and the \
         next block built ahead {:.1} MiB, {:.1} MiB at the highest (budget {:.0} MiB)",
        mib(full_mempool),
        mib(with_proposal),
        mib(peak),
        mib(SEQUENCER_BUDGET_BYTES)
    );
    assert!(
        peak <= SEQUENCER_BUDGET_BYTES,
        "the Sequencer's heap reached {:.1} MiB",
        mib(peak)
    );
    drop((sequencer, metrics, pending_rows));
}

/// What checking a full block's signatures together may add to a validator isolate's heap at
/// its highest: the nonce points, the keys' and the generator's terms split in two, their
/// digits and the buckets.
const BATCH_CHECK_BUDGET_BYTES: usize = 8 << 20;

#[test]
fn checking_a_full_blocks_signatures_together_stays_bounded() {
    let _measuring = MEASURING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Every transfer from another sender: the most terms a batch can have.
    let block: Vec<WireTx> = (0..BLOCK_TXS_MAX)
        .map(|index| {
            let mut bytes = [0x33; 32];
            bytes[24..].copy_from_slice(&(index as u64 + 1).to_be_bytes());
            let key = SecretKey::from_bytes(&bytes).expect("a valid key");
            transfer(&key, 0, fresh_address(index)).to_wire()
        })
        .collect();
    let before = in_use();
    ALLOCATOR.reset_peak_usage();
    let verified = verify_all(&block, CHAIN_ID).expect("every signature verifies");
    let peak = ALLOCATOR.peak_usage() - before;
    let result = in_use() - before;
    assert_eq!(verified.len(), BLOCK_TXS_MAX);
    println!(
        "Validator heap: checking {BLOCK_TXS_MAX} signatures from as many senders together \
         peaked {:.1} MiB above what it started with, {:.1} MiB of it the verified transfers \
         (budget {:.0} MiB)",
        mib(peak),
        mib(result),
        mib(BATCH_CHECK_BUDGET_BYTES)
    );
    assert!(
        peak <= BATCH_CHECK_BUDGET_BYTES,
        "the check peaked at {:.1} MiB",
        mib(peak)
    );
}
