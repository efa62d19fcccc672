//! The pure, deterministic core of edgeledger: every rule of the chain, with no I/O.
//!
//! Nothing here reads a clock, draws randomness or touches the network: time (`now_ms`) and
//! entropy (nonces, hash seeds) are arguments. The Worker crates are thin shells that decode
//! requests, call into this crate, and perform the effects it returns. See `ARCHITECTURE.md`.
//!
//! Map of the crate:
//! - [`primitives`], [`codec`], [`limits`]: shared types, the canonical encoding, every maximum.
//! - [`signature`], [`transaction`]: secp256k1 and signed Ethereum value transfers.
//! - [`state`], [`trie`]: accounts, shard layout, the sparse Merkle state tree and its proofs.
//! - [`block`], [`merkle`], [`execution`]: headers, receipts, and executing a block.
//! - [`consensus`], [`proposal`]: validator sets, votes, certificates, the guard, proposal checks.
//! - [`genesis`]: the chain's configuration and first block.
//! - [`mempool`], [`sequencer`], [`shard`]: the protocol's state machines, inputs in, effects out.
//! - [`backup`]: the encrypted backup envelope.

pub mod backup;
pub mod block;
pub mod codec;
pub mod consensus;
pub mod execution;
pub mod genesis;
pub mod limits;
pub mod mempool;
pub mod merkle;
pub mod primitives;
pub mod proposal;
pub mod sequencer;
pub mod shard;
pub mod signature;
pub mod state;
pub mod transaction;
pub mod trie;

pub use primitives::{Address, Hash, U256, keccak256};
pub use state::{Account, ShardIndex, ShardLayout};
