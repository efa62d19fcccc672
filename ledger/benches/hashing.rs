//! keccak256 as the chain uses it: a 65-byte Merkle or tree node, and a 110-byte transfer
//! (in wasm 360 ns with tiny-keccak, 654 ns with sha3 0.12 before it). And a block's
//! megabyte, as the `Sequencer` digests the copies it hands the archiver: keccak256 then,
//! KangarooTwelve now (`ledger::archive::copy_digest`). And the tree of a full block's
//! transactions root in each block format (`ledger::block::BlockFormat`), and its receipts
//! root with the receipts' leaves of formats 2 and 3.
//!
//! Natively: `cargo bench -p ledger --bench hashing`; in wasm32 under Node, as the Workers run
//! it: `scripts/wasm-cargo bench -p ledger --bench hashing --target wasm32-unknown-unknown`.

use std::hint::black_box;

#[cfg(not(target_arch = "wasm32"))]
use criterion::Criterion;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::Criterion;

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_bench)]
fn hashing(criterion: &mut Criterion) {
    let node = [0x5au8; 65];
    let transfer = [0xa5u8; 110];
    criterion.bench_function("keccak256_65_bytes", |bencher| {
        bencher.iter(|| ledger::primitives::keccak256(black_box(node)))
    });
    criterion.bench_function("keccak256_110_bytes", |bencher| {
        bencher.iter(|| ledger::primitives::keccak256(black_box(transfer)))
    });
    let block = vec![0x3cu8; 1 << 20];
    criterion.bench_function("keccak256_1_mib", |bencher| {
        bencher.iter(|| ledger::primitives::keccak256(black_box(&block)))
    });
    criterion.bench_function("archived_copy_digest_1_mib", |bencher| {
        bencher.iter(|| ledger::archive::copy_digest(black_box(&block)))
    });
    let leaves: Vec<ledger::Hash> = (0..4_096u32)
        .map(|index| ledger::primitives::keccak256(index.to_be_bytes()))
        .collect();
    for (name, format) in [
        (
            "merkle_root_4096_leaves_format_1",
            ledger::block::BlockFormat::V1,
        ),
        (
            "merkle_root_4096_leaves_format_2",
            ledger::block::BlockFormat::V2,
        ),
    ] {
        criterion.bench_function(name, |bencher| {
            bencher.iter(|| format.root(black_box(&leaves)))
        });
    }
    // A full block's receipts root: format 2 hashes each receipt's canonical encoding (two
    // permutations), format 3 its 133-byte fixed layout (one).
    let receipts: Vec<ledger::block::Receipt> = leaves
        .iter()
        .zip(0u32..)
        .map(|(tx_hash, index)| ledger::block::Receipt {
            tx_hash: *tx_hash,
            index,
            sender: ledger::primitives::Address([1; 20]),
            to: ledger::primitives::Address([2; 20]),
            nonce: u64::from(index),
            value: ledger::primitives::U256::from(10u64).pow(ledger::primitives::U256::from(18u64)),
            gas_used: 21_000,
            effective_gas_price: 2_000_000_000,
            fee: ledger::primitives::U256::from(42_000_000_000_000u64),
        })
        .collect();
    for (name, format) in [
        (
            "receipts_root_4096_receipts_format_2",
            ledger::block::BlockFormat::V2,
        ),
        (
            "receipts_root_4096_receipts_format_3",
            ledger::block::BlockFormat::V3,
        ),
    ] {
        criterion.bench_function(name, |bencher| {
            bencher.iter(|| format.receipts_root(black_box(&receipts)))
        });
    }
}

#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_group!(benches, hashing);
#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_main!(benches);

/// On wasm32 the runner calls the benchmark itself; the binary needs a `main` all the same.
#[cfg(target_arch = "wasm32")]
fn main() {}
