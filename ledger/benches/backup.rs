//! Throughput of sealing and opening backup envelopes (AES-256-GCM in 1 MiB chunks).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ledger::Hash;
use ledger::backup::{BackupHeaderFields, BackupKey, open, seal};

/// Plaintext sizes measured: a small and a large state snapshot.
const SIZES_BYTES: [usize; 2] = [1024 * 1024, 16 * 1024 * 1024];

/// Fields of the benchmarked backups.
fn fields() -> BackupHeaderFields {
    BackupHeaderFields {
        chain_id: 31_337,
        height: 1_000,
        state_root: Hash([7; 32]),
    }
}

/// Seal and open, per size.
fn backup(criterion: &mut Criterion) {
    let key = BackupKey::new([42; 32]);
    let mut group = criterion.benchmark_group("backup");
    group.sample_size(10);
    for size in SIZES_BYTES {
        let plaintext: Vec<u8> = (0..size).map(|index| index as u8).collect();
        let envelope = seal(&key, [1; 12], fields(), &plaintext).expect("seals");
        group.throughput(Throughput::Bytes(size as u64));
        let label = format!("{} MiB", size / (1024 * 1024));
        group.bench_function(format!("seal {label}"), |bencher| {
            bencher.iter(|| seal(&key, [1; 12], fields(), black_box(&plaintext)).expect("seals"));
        });
        group.bench_function(format!("open {label}"), |bencher| {
            bencher.iter(|| open(&key, black_box(&envelope)).expect("opens"));
        });
    }
    group.finish();
}

criterion_group!(benches, backup);
criterion_main!(benches);
