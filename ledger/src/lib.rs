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
//! - [`backup`], [`snapshot`], [`archive`]: the encrypted backup envelope, the state snapshot
//!   inside it, cold storage in KV, the backup index and its anti-rollback rules.
//! - [`api`]: the public API's request decoding, error statuses and answer shapes.
//! - [`rpc`]: Ethereum JSON-RPC 2.0: request parsing, limits, answer shapes and error wording.
//! - [`metrics`]: what the services count, the `GET /metrics` catalogue and its Prometheus text
//!   encoding, and the request ids of structured logs.
//! - [`in_memory`]: a chain's shards in memory, for tests, benchmarks and tools.
//! - [`random`]: a deterministic generator for seed-driven tests and simulations.
//!
//! A transfer as a wallet signs it, decoded and checked as the front door does:
//!
//! ```
//! use ledger::signature::SecretKey;
//! use ledger::transaction::{Transfer, TxKind, decode};
//! use ledger::U256;
//!
//! // The first account of the development mnemonic `test test … junk`.
//! let key = SecretKey::from_bytes(&ledger::primitives::parse_hex_array(
//!     "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
//! )?)?;
//! let transfer = Transfer {
//!     kind: TxKind::DynamicFee,
//!     chain_id: 31_337,
//!     nonce: 0,
//!     max_fee_per_gas: 2_000_000_000,
//!     max_priority_fee_per_gas: 1_000_000_000,
//!     gas_limit: 21_000,
//!     to: "0x70997970c51812dc3a010c7d01b50e0d17dc79c8".parse()?,
//!     value: U256::from(10u64).pow(U256::from(18u64)),
//! };
//! let raw = transfer.sign(&key).raw().to_vec();
//!
//! let verified = decode(&raw, 31_337)?.recover()?;
//! assert_eq!(verified.sender, key.address());
//! assert_eq!(verified.hash(), ledger::keccak256(&raw)); // Ethereum's transaction hash
//! assert!(decode(&raw, 1).is_err()); // signed for another chain
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod api;
pub mod archive;
pub mod backup;
pub mod block;
pub mod codec;
pub mod consensus;
pub mod execution;
pub mod genesis;
pub mod in_memory;
pub mod limits;
pub mod mempool;
pub mod merkle;
pub mod metrics;
pub mod primitives;
pub mod proposal;
pub mod random;
pub mod rpc;
pub mod sequencer;
pub mod shard;
pub mod signature;
pub mod snapshot;
pub mod state;
pub mod transaction;
pub mod trie;
pub mod wire;

pub use primitives::{Address, Hash, U256, keccak256};
pub use state::{Account, ShardIndex, ShardLayout};
