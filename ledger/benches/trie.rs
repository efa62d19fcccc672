//! State tree benchmarks: batched updates in a 100,000-account tree (one shard and sixteen),
//! a 1,000-account multiproof, and a 1,000-account witness update.
//!
//! Run: `cargo bench -p ledger --bench trie -- --warm-up-time 1 --measurement-time 3`.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{BatchSize, Criterion};
use ledger::primitives::keccak256;
use ledger::state::{Account, ShardIndex, ShardLayout};
use ledger::trie::{MemoryTrieStore, NodePosition, Trie, TrieStoreMut, Witness, root_over_shards};
use ledger::{Address, U256};

/// Accounts in the benchmark tree.
const TREE_ACCOUNTS: u64 = 100_000;
/// Accounts touched per operation.
const TOUCHED_ACCOUNTS: u64 = 1_000;

/// A deterministic, uniformly spread address.
fn address(index: u64) -> Address {
    let hash = keccak256(index.to_be_bytes());
    Address::from_slice(&hash.0[12..]).expect("20 bytes")
}

/// Accounts `range`, each with balance `balance`.
fn accounts(range: std::ops::Range<u64>, balance: u64) -> BTreeMap<Address, Account> {
    range
        .map(|index| (address(index), Account::with_balance(U256::from(balance))))
        .collect()
}

/// Splits `updates` by shard.
fn by_shard(
    layout: ShardLayout,
    updates: &BTreeMap<Address, Account>,
) -> BTreeMap<ShardIndex, BTreeMap<Address, Account>> {
    let mut shards: BTreeMap<ShardIndex, BTreeMap<Address, Account>> = BTreeMap::new();
    for (address, account) in updates {
        shards
            .entry(layout.shard_of(address))
            .or_default()
            .insert(*address, *account);
    }
    shards
}

/// Applies `updates` to every shard of `layout` in `store`; returns the touched node count.
fn apply(
    layout: ShardLayout,
    store: &mut MemoryTrieStore,
    updates: &BTreeMap<Address, Account>,
) -> usize {
    let mut written = 0;
    for (shard, shard_updates) in by_shard(layout, updates) {
        let mut trie = Trie::new(&mut *store, NodePosition::shard_root(layout, shard));
        let (_, batch) = trie.prepare_update(&shard_updates).expect("prepare");
        written += batch.len();
        trie.store_mut().apply(&batch).expect("apply");
    }
    written
}

/// The shard roots of `layout` in `store`.
fn shard_roots(layout: ShardLayout, store: &MemoryTrieStore) -> Vec<ledger::Hash> {
    (0..layout.shard_count())
        .map(|shard| {
            let position = NodePosition::shard_root(layout, shard as ShardIndex);
            Trie::new(store, position).root().expect("root")
        })
        .collect()
}

/// A store holding the benchmark tree under `layout`.
fn tree(layout: ShardLayout) -> MemoryTrieStore {
    let mut store = MemoryTrieStore::default();
    apply(layout, &mut store, &accounts(0..TREE_ACCOUNTS, 1));
    store
}

/// Updating 1,000 existing accounts: prepare (hashing) and apply.
fn bench_update(criterion: &mut Criterion, shard_bits: u8) {
    let layout = ShardLayout::new(shard_bits).expect("layout");
    let store = tree(layout);
    let updates = accounts(0..TOUCHED_ACCOUNTS, 2);
    let written = apply(layout, &mut store.clone(), &updates);
    eprintln!(
        "k={shard_bits}: {} stored nodes, {written} nodes written (= hashes) per 1,000-account update",
        store.len()
    );
    criterion.bench_function(&format!("update_1000_of_100000_k{shard_bits}"), |bencher| {
        bencher.iter_batched(
            || store.clone(),
            |mut store| {
                apply(layout, &mut store, &updates);
                store
            },
            BatchSize::LargeInput,
        );
    });
}

/// Multiproof, witness building and witness update for 1,000 accounts with `k = 4`.
fn bench_witness(criterion: &mut Criterion) {
    let layout = ShardLayout::new(4).expect("layout");
    let store = tree(layout);
    let touched: Vec<Address> = (0..TOUCHED_ACCOUNTS)
        .map(|index| address(index * 97))
        .collect();
    let whole_layout = ShardLayout::new(0).expect("layout");
    let whole = tree(whole_layout);
    criterion.bench_function("multiproof_1000_of_100000_k0", |bencher| {
        let trie = Trie::new(&whole, NodePosition::root());
        bencher.iter(|| black_box(trie.multiproof(&touched).expect("multiproof")));
    });
    let roots = shard_roots(layout, &store);
    let mut parts = BTreeMap::new();
    for (shard, shard_accounts) in by_shard(
        layout,
        &touched
            .iter()
            .map(|address| (*address, Account::default()))
            .collect(),
    ) {
        let addresses: Vec<Address> = shard_accounts.keys().copied().collect();
        let trie = Trie::new(&store, NodePosition::shard_root(layout, shard));
        parts.insert(shard, trie.multiproof(&addresses).expect("multiproof"));
    }
    let witness = Witness::new(layout, roots.clone(), parts).expect("witness");
    witness.verify(&root_over_shards(&roots)).expect("verify");
    let encoded = ledger::codec::encode(&witness);
    eprintln!(
        "k=4 witness of 1,000 accounts: {} bytes encoded",
        encoded.len()
    );
    let updates: BTreeMap<Address, Account> = touched
        .iter()
        .map(|address| (*address, Account::with_balance(U256::from(3u64))))
        .collect();
    criterion.bench_function("witness_update_1000_k4", |bencher| {
        bencher.iter_batched(
            || witness.clone(),
            |mut witness| black_box(witness.update(&updates).expect("update")),
            BatchSize::LargeInput,
        );
    });
    criterion.bench_function("witness_decode_1000_k4", |bencher| {
        bencher.iter(|| {
            black_box(
                ledger::codec::decode::<Witness>(&encoded, ledger::limits::PROPOSAL_BYTES_MAX)
                    .expect("decode"),
            )
        });
    });
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench_update(&mut criterion, 0);
    bench_update(&mut criterion, 4);
    bench_witness(&mut criterion);
    criterion.final_summary();
}
