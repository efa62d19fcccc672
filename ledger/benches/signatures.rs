//! The cost of admitting one transfer: decoding alone, decoding plus ecrecover and the nonce
//! y (the front door), and decoding plus verification against a known key (validators), one by
//! one and a block's 1,000 at once (`verify_all`, as validators check a proposal), from 20
//! senders (as `ops bench` sends by default) and from 1,000, and once without the nonce ys;
//! and the front door's work for a native batch of 1,000 from 20 senders (`admit`), recovering
//! every sender or checking them against the keys the batch names, with or without each
//! signature's nonce y.
//!
//! The same benchmarks run natively under criterion (`cargo bench -p ledger --bench
//! signatures`) and compiled to wasm32 under Node, as the Workers run them, through
//! wasm-bindgen-test's criterion port (`scripts/wasm-cargo bench -p ledger --bench signatures
//! --target wasm32-unknown-unknown`): the wasm figures set the CPU bound of a transfer.

use std::hint::black_box;

#[cfg(not(target_arch = "wasm32"))]
use criterion::Criterion;
use ledger::signature::SecretKey;
use ledger::transaction::{Submission, Transfer, TxKind, admit, decode, verify_all};
use ledger::{Address, U256};

mod fixtures;
use fixtures::{CHAIN_ID, block};

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
    let submitted = block(1_000, 20, true);
    for (name, with_keys, with_nonce_ys) in [
        ("admit_1000_recovering_senders", false, false),
        ("admit_1000_with_sender_keys", true, false),
        ("admit_1000_with_sender_keys_and_nonce_ys", true, true),
    ] {
        let submissions: Vec<Submission> = submitted
            .iter()
            .map(|tx| Submission {
                raw: tx.raw.clone(),
                sender_key: with_keys.then(|| tx.public_key.to_xy().to_vec()),
                nonce_y: tx.nonce_y.filter(|_| with_nonce_ys).map(|y| y.0.to_vec()),
            })
            .collect();
        criterion.bench_function(name, |bencher| {
            bencher.iter(|| admit(black_box(&submissions), CHAIN_ID).len())
        });
    }
    let without_nonce_y = block(1_000, 20, false);
    criterion.bench_function(
        "verify_all_1000_from_20_senders_without_nonce_y",
        |bencher| {
            bencher.iter(|| verify_all(black_box(&without_nonce_y), CHAIN_ID).map(|all| all.len()))
        },
    );
    for senders in [20, 250, 500, 1_000] {
        let transactions = block(1_000, senders, true);
        criterion.bench_function(
            &format!("verify_all_1000_from_{senders}_senders"),
            |bencher| {
                bencher.iter(|| verify_all(black_box(&transactions), CHAIN_ID).map(|all| all.len()))
            },
        );
    }
}

#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_group!(benches, signatures);
#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_main!(benches);

/// On wasm32 the runner calls the benchmark itself; the binary needs a `main` all the same.
#[cfg(target_arch = "wasm32")]
fn main() {}
