//! The cost of admitting one transfer: decoding alone, decoding plus ecrecover (the front
//! door), and decoding plus verification against a known key (validators).
//!
//! The same benchmarks run natively under criterion (`cargo bench -p ledger --bench
//! signatures`) and compiled to wasm32 under Node, as the Workers run them, through
//! wasm-bindgen-test's criterion port (`scripts/wasm-cargo bench -p ledger --bench signatures
//! --target wasm32-unknown-unknown`): the wasm figures set the CPU bound of a transfer.

use std::hint::black_box;

#[cfg(not(target_arch = "wasm32"))]
use criterion::Criterion;
use ledger::signature::SecretKey;
use ledger::transaction::{Transfer, TxKind, decode};
use ledger::{Address, U256};

const CHAIN_ID: u64 = 1_337;

/// A typical EIP-1559 transfer, signed by a fixed test key.
fn sample() -> (Vec<u8>, SecretKey) {
    let key = SecretKey::from_bytes(&[0x11; 32]).unwrap_or_else(|_| unreachable!("valid key"));
    let transfer = Transfer {
        kind: TxKind::DynamicFee,
        chain_id: CHAIN_ID,
        nonce: 42,
        max_fee_per_gas: 30_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        gas_limit: 21_000,
        to: Address([0x42; 20]),
        value: U256::from(1_000_000_000_000_000_000u64),
    };
    (transfer.sign(&key).raw().to_vec(), key)
}

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::Criterion;

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_bench)]
fn signatures(criterion: &mut Criterion) {
    let (raw, key) = sample();
    let public_key = key.public_key();
    criterion.bench_function("decode_only", |bencher| {
        bencher.iter(|| decode(black_box(&raw), CHAIN_ID).map(|signed| signed.hash()))
    });
    criterion.bench_function("recover_sender", |bencher| {
        bencher.iter(|| {
            decode(black_box(&raw), CHAIN_ID)
                .and_then(|signed| signed.recover())
                .map(|verified| verified.sender)
        })
    });
    criterion.bench_function("verify_known_public_key", |bencher| {
        bencher.iter(|| {
            decode(black_box(&raw), CHAIN_ID)
                .and_then(|signed| signed.verify_with(black_box(public_key)))
                .map(|verified| verified.sender)
        })
    });
}

#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_group!(benches, signatures);
#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_main!(benches);

/// On wasm32 the runner calls the benchmark itself; the binary needs a `main` all the same.
#[cfg(target_arch = "wasm32")]
fn main() {}
