//! What the `Sequencer` does to every transfer besides storing it, without elliptic-curve
//! work: decode a submitted batch (each sender key parsed), decode each transfer again
//! trusting that key, and encode transfers in their wire form (pending rows, proposals); and
//! the sender key's parse and print on their own.
//!
//! In wasm32 under Node on 2026-12-06 (two runs): a key parsed in 0.17 µs and printed in
//! 0.11 to 0.12 µs; a 1,000-transfer batch decoded in 0.34 ms and encoded in 0.14 to 0.15 ms;
//! 1,000 transfers decoded again in 1.08 to 1.12 ms. Together about 1.6 µs of the core's 30 µs
//! a transfer: not where its time goes (ARCHITECTURE, *Performance*).
//!
//! Natively: `cargo bench -p ledger --bench wire`; in wasm32 under Node, as the Workers run
//! it: `scripts/wasm-cargo bench -p ledger --bench wire --target wasm32-unknown-unknown`.

use std::hint::black_box;

#[cfg(not(target_arch = "wasm32"))]
use criterion::Criterion;
use ledger::signature::PublicKey;
use ledger::transaction::WireTx;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::Criterion;

mod fixtures;
use fixtures::{CHAIN_ID, block};

/// Transfers in the measured batch, from 20 senders, as the front door passes them on: with
/// each sender's key and nonce y.
const BATCH: usize = 1_000;

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_bench)]
fn wire(criterion: &mut Criterion) {
    let batch = block(BATCH, 20, true);
    let key = batch[0].public_key;
    let xy = key.to_xy();
    criterion.bench_function("sender_key_from_xy", |bencher| {
        bencher.iter(|| PublicKey::from_xy(black_box(&xy)).is_ok())
    });
    criterion.bench_function("sender_key_to_xy", |bencher| {
        bencher.iter(|| black_box(key).to_xy()[0])
    });
    let encoded = ledger::wire::encode(&batch);
    criterion.bench_function("decode_batch_of_1000", |bencher| {
        bencher.iter(|| {
            ledger::wire::decode::<Vec<WireTx>>(black_box(&encoded), usize::MAX)
                .map_or(0, |decoded| decoded.len())
        })
    });
    criterion.bench_function("encode_batch_of_1000", |bencher| {
        bencher.iter(|| ledger::wire::encode(black_box(&batch)).len())
    });
    criterion.bench_function("decode_trusted_1000", |bencher| {
        bencher.iter(|| {
            black_box(&batch)
                .iter()
                .filter(|tx| tx.decode_trusted(CHAIN_ID).is_ok())
                .count()
        })
    });
}

#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_group!(benches, wire);
#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_main!(benches);

/// On wasm32 the runner calls the benchmark itself; the binary needs a `main` all the same.
#[cfg(target_arch = "wasm32")]
fn main() {}
