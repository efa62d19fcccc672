//! Fuzz targets for the ledger's decoders: the properties each must hold, as plain functions.
//!
//! Each `fuzz_targets/<target>.rs` is one line calling a `check` function here, so the same
//! checks run under libFuzzer (`scripts/fuzz.sh`), over the committed seed corpus on a stable
//! compiler (`cargo test --manifest-path fuzz/Cargo.toml`), and on every seed the generator
//! writes (`examples/make_corpus.rs`). A check panics exactly when a property fails: a panic is
//! what libFuzzer reports as a crash.
//!
//! The properties: no input makes a decoder panic; what decodes re-encodes to a value that
//! decodes to the same thing; what is hashed or signed has exactly one encoding; and what the
//! services do next with a decoded value (recover a sender, answer a JSON-RPC request, publish
//! to a backup index) does not panic either.

pub mod backup;
pub mod batch;
pub mod corpus;
pub mod jsonrpc;
pub mod rlp;
pub mod transaction;
pub mod wire;

use ledger::backup::BackupKey;

/// The chain the seeds are signed for, and the one every target decodes for (the local
/// network's chain id).
pub const CHAIN_ID: u64 = 31_337;

/// The base fee per gas the JSON-RPC answers are formatted with.
pub const BASE_FEE_PER_GAS: u128 = 1_000_000_000;

/// The fixed AES-256-GCM key of the backup target: the seed envelopes are sealed with it, so
/// mutations of them reach the decryption and the snapshot inside.
pub const BACKUP_KEY_BYTES: [u8; 32] = *b"edgeledger fuzz backup key 0001!";

/// [`BACKUP_KEY_BYTES`] as a key.
pub fn backup_key() -> BackupKey {
    BackupKey::new(BACKUP_KEY_BYTES)
}

/// A small deterministic hash of `bytes`, to derive split points and mutations from the input
/// itself (FNV-1a): the same input always takes the same path, so crashes reproduce.
pub fn input_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
