//! Ethereum JSON-RPC 2.0, the pure part: parsing bodies into typed requests, the answer shapes
//! wallets and tools expect, and Ethereum-worded errors, so ethers, viem, cast and wallets work
//! against edgeledger unchanged.
//!
//! The front door reads the body (at most [`RPC_BODY_BYTES_MAX`] bytes), calls [`parse_body`],
//! performs each [`RpcRequest`] by fetching what it needs from the chain, formats results with
//! [`quantity`], [`block_object`], [`transaction_object`], [`receipt_object`], [`fee_history`]
//! and friends, and writes [`encode_body`] back with HTTP 200 (JSON-RPC errors travel in the
//! body, as Ethereum nodes answer; ethers treats any other status as a transport failure).
//! Nothing here does I/O or reads a clock.
//!
//! Shapes follow the execution-apis specification (`ethereum/execution-apis`): quantities are
//! `0x` hex without leading zeros (`"0x0"` for zero), data and hashes `0x` hex, addresses
//! lowercase. Input is read leniently (leading zeros in quantities, a missing optional argument
//! or `null` for it, decimal block counts), output is strict.
//!
//! What differs from Ethereum, because the chain only moves value:
//! - no account has code: [`code`] is `"0x"`, [`call`] answers `"0x"` for a plain call and
//!   refuses anything that would run a contract, [`estimate_gas`] is 21,000 for a transfer;
//! - blocks are final once certified, so `safe`, `finalized` and `latest` are the same block;
//! - the state is kept for the head only, so state at an older block is refused
//!   ([`RpcError::historical_state`]) rather than answered with today's values;
//! - the roots a block reports (`stateRoot`, `transactionsRoot`, `receiptsRoot`) are edgeledger's
//!   own (a sparse Merkle tree and ordered binary Merkle trees, see `ARCHITECTURE.md`), not
//!   Ethereum's Patricia tries: clients display them but cannot check them with Ethereum tools.

mod envelope;
mod errors;
mod format;
mod params;
mod request;

#[cfg(test)]
mod format_tests;
#[cfg(test)]
mod parse_tests;

pub use envelope::{RpcBody, RpcEntry, RpcError, RpcId, RpcResponse, encode_body, parse_body};
pub use errors::{check_payable, insufficient_funds, nonce_too_low, rejection_error};
pub use format::{
    Quantity, TxLocation, block_object, call, code, data, estimate_gas, fee_history, gas_price,
    gas_used_ratio, quantity, receipt_object, transaction_object,
};
pub use request::{BlockTag, CallRequest, METHODS, RpcRequest};

use crate::limits::BLOCK_TXS_MAX;
use crate::transaction::TRANSFER_GAS;

/// Requests in one batch: geth's default `--rpc.batch-request-limit`. A larger batch is
/// refused whole (-32600) before any entry is looked at.
pub const RPC_BATCH_MAX: usize = 1_000;

/// Requests in one batch other than `eth_sendRawTransaction`. Each read costs the front door
/// a call to a Durable Object, one after another, and a Worker may make only so many calls per
/// request; a batch's transactions are admitted together, with one call per shard and one to
/// the `Sequencer`, so they are bounded by [`RPC_BATCH_MAX`] alone.
pub const RPC_BATCH_READS_MAX: usize = 100;

/// Bytes of a JSON-RPC request body. A full batch of the largest transaction (a raw
/// transaction of [`crate::limits::TX_BYTES_MAX`] bytes is about 1 KiB of hex) fits.
pub const RPC_BODY_BYTES_MAX: usize = 2 << 20;

/// What `web3_clientVersion` answers: `edgeledger/v` and the crate version.
pub const CLIENT_VERSION: &str = concat!("edgeledger/v", env!("CARGO_PKG_VERSION"));

/// The gas limit blocks report: a full block of transfers. The chain has no gas limit of its
/// own (it limits transactions per block), so this is the equivalent.
pub const BLOCK_GAS_LIMIT: u64 = BLOCK_TXS_MAX as u64 * TRANSFER_GAS;

/// The tip `eth_maxPriorityFeePerGas` suggests (1 gwei, the usual default of wallets and
/// development nodes), and what `eth_gasPrice` adds to the base fee. The sequencer orders
/// transactions by arrival, never by tip, so any tip gets a transfer included.
pub const SUGGESTED_PRIORITY_FEE_PER_GAS: u128 = 1_000_000_000;

/// Blocks one `eth_feeHistory` may cover, as in geth: a larger count is reduced to this.
pub const FEE_HISTORY_BLOCKS_MAX: u64 = 1_024;

/// Reward percentiles one `eth_feeHistory` may ask for.
pub const FEE_HISTORY_PERCENTILES_MAX: usize = 100;

const _: () = assert!(RPC_BATCH_MAX >= 1 && RPC_BODY_BYTES_MAX >= 64 * 1024);
const _: () = assert!(RPC_BATCH_READS_MAX <= RPC_BATCH_MAX);
// A full batch of the largest `eth_sendRawTransaction` requests fits a body.
const _: () =
    assert!(RPC_BATCH_MAX * (2 * crate::limits::TX_BYTES_MAX + 128) <= RPC_BODY_BYTES_MAX);
