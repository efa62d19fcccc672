//! Executing a 1,000-transfer block: the work the sequencer does per block and every validator
//! repeats, in the format the sequencer proposes and, for comparison, in block format 1. Run natively with `cargo bench -p ledger --bench execution`, and compiled to
//! wasm32 under Node, as the Workers run it, with `scripts/wasm-cargo bench -p ledger --bench
//! execution --target wasm32-unknown-unknown`.

#[cfg(not(target_arch = "wasm32"))]
use criterion::Criterion;
use ledger::block::BlockFormat;
use ledger::consensus::ValidatorSet;
use ledger::execution::{execute, touched_addresses};
use ledger::genesis::{ChainConfig, Genesis, GenesisAccount};
use ledger::in_memory::InMemoryShards;
use ledger::signature::SecretKey;
use ledger::transaction::{Transfer, TxKind, VerifiedTx, verify_all};
use ledger::trie::Witness;
use ledger::{ShardLayout, U256};

const SENDERS: u64 = 1_000;
const SHARD_BITS: u8 = 2;

fn key(seed: u64) -> SecretKey {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_be_bytes());
    bytes[31] = 1;
    SecretKey::from_bytes(&bytes).expect("valid key")
}

/// A chain with 1,000 funded senders over 4 shards, one transfer from each to a new account,
/// and the witness the sequencer would gather for them.
fn setup() -> (ChainConfig, ledger::Hash, Vec<VerifiedTx>, Witness) {
    let senders: Vec<SecretKey> = (0..SENDERS).map(key).collect();
    let config = ChainConfig {
        chain_id: 1,
        shard_bits: ShardLayout::new(SHARD_BITS).expect("layout"),
        validators: ValidatorSet::new(vec![key(99_999).public_key()]).expect("set"),
        proposer: key(99_998).address(),
        fee_recipient: key(99_997).address(),
        base_fee_per_gas: 1,
        batch_window_ms: 50,
    };
    let genesis = Genesis {
        config: config.clone(),
        timestamp_ms: 0,
        accounts: senders
            .iter()
            .map(|sender| GenesisAccount {
                address: sender.address(),
                balance: U256::from(10u64).pow(U256::from(20u64)),
            })
            .collect(),
    };
    let shards = InMemoryShards::from_genesis(&genesis).expect("shards");
    let txs: Vec<VerifiedTx> = senders
        .iter()
        .enumerate()
        .map(|(index, sender)| {
            Transfer {
                kind: TxKind::DynamicFee,
                chain_id: 1,
                nonce: 0,
                max_fee_per_gas: 2,
                max_priority_fee_per_gas: 1,
                gas_limit: 21_000,
                to: key(50_000 + index as u64).address(),
                value: U256::from(1_000u64),
            }
            .sign(sender)
            .recover()
            .expect("recovers")
        })
        .collect();
    let witness = shards
        .witness(&touched_addresses(&config, &txs))
        .expect("witness");
    let state_root = witness.state_root();
    (config, state_root, txs, witness)
}

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::Criterion;

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_bench)]
fn bench_execution(criterion: &mut Criterion) {
    let (config, state_root, txs, witness) = setup();
    for (name, format) in [
        ("execute_1000_transfer_block", BlockFormat::PROPOSED),
        ("execute_1000_transfer_block_format_1", BlockFormat::V1),
        ("execute_1000_transfer_block_format_2", BlockFormat::V2),
    ] {
        criterion.bench_function(name, |bencher| {
            bencher.iter(|| {
                let execution =
                    execute(&config, &state_root, 1, format, &txs, witness.clone()).expect("runs");
                assert_eq!(execution.receipts.len(), txs.len());
            });
        });
    }
    let wire: Vec<_> = txs.iter().map(VerifiedTx::to_wire).collect();
    criterion.bench_function("validate_1000_transfer_block", |bencher| {
        // What a validator does: verify every signature against its key (all together, as
        // `check_proposal` does), then execute.
        bencher.iter(|| {
            let verified = verify_all(&wire, 1).expect("valid");
            let format = BlockFormat::PROPOSED;
            execute(&config, &state_root, 1, format, &verified, witness.clone()).expect("runs")
        });
    });
}

#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench_execution
}
#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_main!(benches);

/// On wasm32 the runner calls the benchmark itself; the binary needs a `main` all the same.
#[cfg(target_arch = "wasm32")]
fn main() {}
