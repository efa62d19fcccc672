//! A backup of 100,000 accounts over 16 shards, as the archiver makes and verifies one:
//! sealing the snapshot's records into the envelope, and opening it with every check (digest,
//! every chunk, every shard's tree rebuilt against its certified root, the certificate).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ledger::archive::{BackupRecord, PinningBackend};
use ledger::backup::BackupKey;
use ledger::consensus::ValidatorSet;
use ledger::genesis::{ChainConfig, Genesis, GenesisAccount};
use ledger::in_memory::InMemoryShards;
use ledger::primitives::{Address, U256};
use ledger::random::SplitMix64;
use ledger::signature::SecretKey;
use ledger::snapshot::{
    SNAPSHOT_FORMAT, SNAPSHOT_PAGE_ACCOUNTS_MAX, ShardStart, SnapshotManifest, SnapshotOpener,
    SnapshotSealer,
};
use ledger::state::{Account, ShardLayout};

/// Accounts in the benchmarked state.
const ACCOUNTS: usize = 100_000;

struct State {
    config: ChainConfig,
    manifest: SnapshotManifest,
    shards: Vec<Vec<(Address, Account)>>,
}

fn state() -> State {
    let validator = SecretKey::from_bytes(&[1; 32]).expect("key");
    let validators = ValidatorSet::new(vec![validator.public_key()]).expect("set");
    let mut random = SplitMix64::new(5);
    let accounts = (0..ACCOUNTS)
        .map(|index| {
            let mut bytes = [0u8; 20];
            for byte in &mut bytes {
                *byte = random.below(256) as u8;
            }
            GenesisAccount {
                address: Address(bytes),
                balance: U256::from(1_000_000 + index as u64),
            }
        })
        .collect();
    let genesis = Genesis {
        config: ChainConfig {
            chain_id: 31_337,
            shard_bits: ShardLayout::new(4).expect("layout"),
            validators: validators.clone(),
            proposer: validator.address(),
            fee_recipient: validator.address(),
            base_fee_per_gas: 0,
            batch_window_ms: 25,
        },
        timestamp_ms: 1,
        accounts,
    };
    let in_memory = InMemoryShards::from_genesis(&genesis).expect("shards");
    let (header, certificate) =
        ledger::in_memory::certified_block_one(&genesis, &[validator]).expect("certified");
    let shards = in_memory
        .iter()
        .map(|shard| {
            let accounts = shard.store().accounts();
            accounts.iter().map(|(a, account)| (*a, *account)).collect()
        })
        .collect();
    State {
        config: genesis.config.clone(),
        manifest: SnapshotManifest {
            format: SNAPSHOT_FORMAT,
            header,
            certificate,
            shard_roots: in_memory.roots(),
        },
        shards,
    }
}

fn seal(state: &State, key: &BackupKey) -> ledger::snapshot::SealedSnapshot {
    let mut sealer = SnapshotSealer::new(key, [7; 12], state.manifest.clone()).expect("sealer");
    for (shard, accounts) in (0..).zip(&state.shards) {
        sealer
            .shard(ShardStart {
                shard,
                accounts: accounts.len() as u64,
            })
            .expect("shard");
        for page in accounts.chunks(SNAPSHOT_PAGE_ACCOUNTS_MAX) {
            sealer.accounts(page.to_vec()).expect("page");
        }
    }
    sealer.finish().expect("sealed")
}

fn snapshot(criterion: &mut Criterion) {
    let state = state();
    let key = BackupKey::new([42; 32]);
    let sealed = seal(&state, &key);
    let header = &state.manifest.header;
    let record = BackupRecord::sealed(
        "QmBench".to_owned(),
        header,
        &sealed,
        0,
        PinningBackend::Kubo,
        None,
    );
    eprintln!(
        "snapshot of {ACCOUNTS} accounts: {} bytes sealed ({:.1} bytes per account)",
        sealed.ciphertext.len(),
        sealed.ciphertext.len() as f64 / ACCOUNTS as f64
    );
    let mut group = criterion.benchmark_group("snapshot");
    group.sample_size(10);
    group.bench_function("seal_100000_accounts_k4", |bencher| {
        bencher.iter(|| seal(black_box(&state), &key));
    });
    group.bench_function("open_and_verify_100000_accounts_k4", |bencher| {
        bencher.iter(|| {
            let mut opener = SnapshotOpener::new(&key, &state.config, &record);
            for piece in black_box(&sealed.ciphertext).chunks(64 * 1024) {
                opener.push(piece).expect("pushes");
            }
            opener.finish().expect("verifies")
        });
    });
    group.finish();
}

criterion_group!(benches, snapshot);
criterion_main!(benches);
