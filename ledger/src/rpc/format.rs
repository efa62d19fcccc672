//! Answers in Ethereum's shapes: quantities, data, blocks, transactions, receipts, fee history,
//! and the answers of the calls that need no chain data (`eth_call`, `eth_estimateGas`,
//! `eth_getCode`).
//!
//! The field sets are those of the execution-apis schemas, plus what client libraries insist
//! on when they parse: ethers v6 (`formatBlock`, `formatTransactionResponse`,
//! `formatTransactionReceipt`) needs `difficulty`, `gasLimit`, `gasUsed`, `extraData` and
//! `timestamp` in blocks and `r`, `s` and `v` or `yParity` in transactions; alloy (cast) needs
//! fixed-width `nonce` (8 bytes), `mixHash` (32) and `logsBloom` (256) in blocks, `type` in
//! transactions and receipts (it selects the envelope) and `status` in receipts.

use serde_json::{Map, Value};

use super::envelope::RpcError;
use super::request::CallRequest;
use super::{BLOCK_GAS_LIMIT, SUGGESTED_PRIORITY_FEE_PER_GAS};
use crate::block::{CertifiedBlock, Receipt};
use crate::genesis::ChainConfig;
use crate::limits::VALUE_BITS_MAX;
use crate::primitives::{Address, Hash, U256};
use crate::transaction::{SignedTransfer, TRANSFER_GAS, TxKind, TxRejection, decode};

/// keccak256 of the RLP of an empty list: the `sha3Uncles` of a block without uncles.
const EMPTY_UNCLES_HASH: &str =
    "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347";

/// The 8-byte proof-of-work nonce of a block that was never mined.
const ZERO_BLOCK_NONCE: &str = "0x0000000000000000";

/// Bytes of a logs bloom filter.
const BLOOM_BYTES: usize = 256;

/// EIP-155: a protected legacy `v` is `chain_id * 2 + 35 + parity`.
const EIP155_V_OFFSET: u64 = 35;

/// An unsigned integer that can be sent as a JSON-RPC quantity.
pub trait Quantity {
    /// The value as a `U256`.
    fn to_u256(&self) -> U256;
}

macro_rules! quantity_from_primitive {
    ($($primitive:ty),*) => {$(
        impl Quantity for $primitive {
            fn to_u256(&self) -> U256 {
                U256::from(*self)
            }
        }
    )*};
}

quantity_from_primitive!(u8, u16, u32, u64, u128, usize);

impl Quantity for U256 {
    fn to_u256(&self) -> U256 {
        *self
    }
}

/// A quantity: `0x` and lowercase hex without leading zeros, `"0x0"` for zero.
pub fn quantity(value: impl Quantity) -> Value {
    Value::String(format!("{:#x}", value.to_u256()))
}

/// Data: `0x` and two lowercase hex digits per byte (`"0x"` for none). Hashes and addresses
/// are data of 32 and 20 bytes.
pub fn data(bytes: impl AsRef<[u8]>) -> Value {
    Value::String(crate::primitives::to_hex(bytes))
}

/// What `eth_gasPrice` answers: the base fee plus [`SUGGESTED_PRIORITY_FEE_PER_GAS`], as geth
/// suggests a legacy gas price (saturating, for a base fee near `u128::MAX`).
pub fn gas_price(base_fee_per_gas: u128) -> Value {
    quantity(base_fee_per_gas.saturating_add(SUGGESTED_PRIORITY_FEE_PER_GAS))
}

/// What `eth_getCode` answers for every account: no account has code.
pub fn code() -> Value {
    data([])
}

/// An object from its fields.
fn object<const N: usize>(fields: [(&str, Value); N]) -> Map<String, Value> {
    fields
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

fn text(value: &str) -> Value {
    Value::String(value.to_owned())
}

/// An all-zero logs bloom: no transaction ever logs.
fn empty_bloom() -> Value {
    data([0u8; BLOOM_BYTES])
}

/// Where a committed transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxLocation {
    /// Hash of the block that includes it.
    pub block_hash: Hash,
    /// That block's height.
    pub block_number: u64,
    /// Its position in the block.
    pub index: u32,
}

/// A block object (`eth_getBlockByNumber`, `eth_getBlockByHash`): `transactions` lists the
/// hashes, or with `full_transactions` the [`transaction_object`]s.
///
/// The chain is not mined: `nonce`, `difficulty`, `totalDifficulty` and `mixHash` are zero,
/// `sha3Uncles` is the hash of no uncles and `uncles` empty, `logsBloom` is all zero (nothing
/// logs). `miner` is the proposer recorded in the header. `gasLimit` is [`BLOCK_GAS_LIMIT`],
/// `gasUsed` the receipts' gas, `timestamp` the header's in whole seconds, `size` the bytes
/// of the block's canonical encoding, and `baseFeePerGas` the chain's fixed base fee. The
/// three roots are edgeledger's own (see the module docs).
pub fn block_object(
    block: &CertifiedBlock,
    full_transactions: bool,
    config: &ChainConfig,
) -> Value {
    let header = &block.header;
    let hash = block.hash();
    let gas_used = block
        .receipts
        .iter()
        .fold(0u64, |sum, receipt| sum.saturating_add(receipt.gas_used));
    let mut fields = object([
        ("number", quantity(header.height)),
        ("hash", data(hash)),
        ("parentHash", data(header.parent_hash)),
        ("nonce", text(ZERO_BLOCK_NONCE)),
        ("sha3Uncles", text(EMPTY_UNCLES_HASH)),
        ("logsBloom", empty_bloom()),
        ("transactionsRoot", data(header.transactions_root)),
        ("stateRoot", data(header.state_root)),
        ("receiptsRoot", data(header.receipts_root)),
        ("miner", data(header.proposer)),
        ("difficulty", quantity(0u8)),
        ("totalDifficulty", quantity(0u8)),
        ("extraData", data([])),
        ("size", quantity(block.encode().len())),
        ("gasLimit", quantity(BLOCK_GAS_LIMIT)),
        ("gasUsed", quantity(gas_used)),
        ("timestamp", quantity(header.timestamp_ms / 1000)),
        ("baseFeePerGas", quantity(config.base_fee_per_gas)),
        ("mixHash", data(Hash::ZERO)),
        ("uncles", Value::Array(Vec::new())),
    ]);
    let transactions = if full_transactions {
        full_block_transactions(block, hash, config)
    } else {
        block.tx_hashes().into_iter().map(data).collect()
    };
    fields.insert("transactions".to_owned(), Value::Array(transactions));
    Value::Object(fields)
}

/// The block's transactions as full objects, senders from the receipts.
///
/// A certified block's transactions all decode; should one not, its hash stands in for it
/// rather than the whole block failing (clients accept a mix of hashes and objects).
fn full_block_transactions(
    block: &CertifiedBlock,
    block_hash: Hash,
    config: &ChainConfig,
) -> Vec<Value> {
    block
        .transactions
        .iter()
        .zip(&block.receipts)
        .map(|(raw, receipt)| {
            let location = TxLocation {
                block_hash,
                block_number: block.header.height,
                index: receipt.index,
            };
            transaction_object(
                raw,
                config.chain_id,
                receipt.sender,
                Some(location),
                config.base_fee_per_gas,
            )
            .unwrap_or_else(|_| data(receipt.tx_hash))
        })
        .collect()
}

/// A transaction object (`eth_getTransactionByHash`, full blocks), from the raw bytes and the
/// sender (recovered at admission, or the receipt's), with its location once committed.
///
/// `gasPrice` is the price actually paid once committed (`min(max fee, base fee + tip)` for
/// EIP-1559), and the fee cap while pending, as geth reports it. Typed transactions carry
/// `yParity` (with `v` equal to it) and an empty `accessList`; legacy ones `v` of EIP-155.
/// Fails only for bytes that do not decode for this chain.
pub fn transaction_object(
    raw: &[u8],
    chain_id: u64,
    sender: Address,
    location: Option<TxLocation>,
    base_fee_per_gas: u128,
) -> Result<Value, TxRejection> {
    let signed = decode(raw, chain_id)?;
    let transfer = signed.transfer();
    let gas_price = location
        .and_then(|_| transfer.effective_gas_price(base_fee_per_gas))
        .unwrap_or(transfer.max_fee_per_gas);
    let null_unless = |value: Option<Value>| value.unwrap_or(Value::Null);
    let mut fields = object([
        ("hash", data(signed.hash())),
        ("nonce", quantity(transfer.nonce)),
        (
            "blockHash",
            null_unless(location.map(|at| data(at.block_hash))),
        ),
        (
            "blockNumber",
            null_unless(location.map(|at| quantity(at.block_number))),
        ),
        (
            "transactionIndex",
            null_unless(location.map(|at| quantity(at.index))),
        ),
        ("from", data(sender)),
        ("to", data(transfer.to)),
        ("value", quantity(transfer.value)),
        ("gas", quantity(transfer.gas_limit)),
        ("gasPrice", quantity(gas_price)),
        ("input", data([])),
        ("type", quantity(transfer.kind.type_number())),
        ("chainId", quantity(transfer.chain_id)),
    ]);
    add_signature(&mut fields, &signed);
    if transfer.kind == TxKind::DynamicFee {
        fields.insert(
            "maxFeePerGas".to_owned(),
            quantity(transfer.max_fee_per_gas),
        );
        fields.insert(
            "maxPriorityFeePerGas".to_owned(),
            quantity(transfer.max_priority_fee_per_gas),
        );
    }
    Ok(Value::Object(fields))
}

/// `r`, `s` and `v`, plus `yParity` and `accessList` for typed transactions.
fn add_signature(fields: &mut Map<String, Value>, signed: &SignedTransfer) {
    let signature = signed.signature();
    let transfer = signed.transfer();
    let parity = u64::from(signature.y_parity);
    let v = match transfer.kind {
        // chain_id * 2 + 35 + parity can pass 64 bits for a large chain id: computed in 256.
        TxKind::Legacy => {
            U256::from(transfer.chain_id) * U256::from(2u8) + U256::from(EIP155_V_OFFSET + parity)
        }
        TxKind::AccessList | TxKind::DynamicFee => U256::from(parity),
    };
    fields.insert("r".to_owned(), quantity(U256::from_be_bytes(signature.r.0)));
    fields.insert("s".to_owned(), quantity(U256::from_be_bytes(signature.s.0)));
    fields.insert("v".to_owned(), quantity(v));
    if transfer.kind != TxKind::Legacy {
        fields.insert("yParity".to_owned(), quantity(parity));
        fields.insert("accessList".to_owned(), Value::Array(Vec::new()));
    }
}

/// A receipt object (`eth_getTransactionReceipt`). Every included transaction succeeded
/// (`status` 1; failing ones are never included), nothing logs, nothing creates a contract.
///
/// `cumulative_gas_used` is the gas of the block's transactions up to and including this one:
/// every transfer uses [`TRANSFER_GAS`], so it is `TRANSFER_GAS × (index + 1)`.
pub fn receipt_object(
    receipt: &Receipt,
    tx_kind: TxKind,
    block_hash: Hash,
    block_number: u64,
    cumulative_gas_used: u64,
) -> Value {
    Value::Object(object([
        ("transactionHash", data(receipt.tx_hash)),
        ("transactionIndex", quantity(receipt.index)),
        ("blockHash", data(block_hash)),
        ("blockNumber", quantity(block_number)),
        ("from", data(receipt.sender)),
        ("to", data(receipt.to)),
        ("cumulativeGasUsed", quantity(cumulative_gas_used)),
        ("gasUsed", quantity(receipt.gas_used)),
        ("effectiveGasPrice", quantity(receipt.effective_gas_price)),
        ("contractAddress", Value::Null),
        ("logs", Value::Array(Vec::new())),
        ("logsBloom", empty_bloom()),
        ("status", quantity(1u8)),
        ("type", quantity(tx_kind.type_number())),
    ]))
}

/// The fraction of [`BLOCK_GAS_LIMIT`] a block of `transaction_count` transfers uses: what
/// `eth_feeHistory` reports per block.
pub fn gas_used_ratio(transaction_count: usize) -> f64 {
    // Both are below 2^53, so the conversions are exact.
    (transaction_count as f64 * TRANSFER_GAS as f64) / BLOCK_GAS_LIMIT as f64
}

/// The `eth_feeHistory` answer for the blocks from `oldest_block` on, one gas used ratio each
/// (see [`gas_used_ratio`]).
///
/// The base fee is fixed in genesis, so `baseFeePerGas` repeats it for every block and for
/// the next one (Ethereum's shape: one more entry than blocks). `reward` (present when
/// percentiles are asked for) reports [`SUGGESTED_PRIORITY_FEE_PER_GAS`] at every percentile:
/// tips buy nothing here (blocks are filled in arrival order), so the history a wallet
/// estimates from should lead it to the same tip as `eth_maxPriorityFeePerGas`.
pub fn fee_history(
    oldest_block: u64,
    gas_used_ratios: &[f64],
    base_fee_per_gas: u128,
    reward_percentiles: &[f64],
) -> Value {
    let blocks = gas_used_ratios.len();
    let mut fields = object([
        ("oldestBlock", quantity(oldest_block)),
        (
            "baseFeePerGas",
            Value::Array(vec![quantity(base_fee_per_gas); blocks + 1]),
        ),
        (
            "gasUsedRatio",
            gas_used_ratios
                .iter()
                .map(|&ratio| Value::from(ratio))
                .collect(),
        ),
    ]);
    if !reward_percentiles.is_empty() {
        let rewards = vec![quantity(SUGGESTED_PRIORITY_FEE_PER_GAS); reward_percentiles.len()];
        fields.insert(
            "reward".to_owned(),
            Value::Array(vec![Value::Array(rewards); blocks]),
        );
    }
    Value::Object(fields)
}

/// -32000 with edgeledger's code: what cannot be a value transfer.
fn not_a_transfer(code: &str, message: &str) -> RpcError {
    RpcError::new(RpcError::SERVER_ERROR, message).with_code(code)
}

/// Refuses what the chain would refuse as a transaction: no recipient, call data.
fn check_recipient_and_data(call: &CallRequest) -> Result<(), RpcError> {
    if call.to.is_none() {
        return Err(not_a_transfer(
            "contract_creation",
            "contract creation is not supported: edgeledger has no contracts, only value \
             transfers (give \"to\")",
        ));
    }
    if !call.data.is_empty() {
        return Err(not_a_transfer(
            "data_not_empty",
            "call data is not supported: edgeledger has no contracts, only plain value \
             transfers (no data)",
        ));
    }
    Ok(())
}

/// `eth_estimateGas`: 21,000 for a value transfer, which is all a transaction can be.
///
/// Refused (-32000, with edgeledger's code in `data`) as the chain would refuse the
/// transaction: without `to` (contract creation), with data (no contracts), a value wider
/// than 255 bits, a tip above the fee cap, or a gas limit below 21,000. The sender's balance
/// is not consulted: `eth_sendRawTransaction` refuses a transfer it cannot pay.
pub fn estimate_gas(call: &CallRequest) -> Result<Value, RpcError> {
    check_recipient_and_data(call)?;
    if call
        .value
        .is_some_and(|value| value.bit_len() > VALUE_BITS_MAX)
    {
        return Err(not_a_transfer(
            "field_too_large",
            "value does not fit 255 bits, the widest value edgeledger accepts",
        ));
    }
    if let (Some(max_fee), Some(tip)) = (call.max_fee_per_gas, call.max_priority_fee_per_gas) {
        if tip > max_fee {
            return Err(not_a_transfer(
                "priority_fee_above_max_fee",
                &format!(
                    "max priority fee per gas higher than max fee per gas: \
                     maxPriorityFeePerGas {tip}, maxFeePerGas {max_fee}"
                ),
            ));
        }
    }
    if let Some(gas) = call.gas.filter(|&gas| gas < TRANSFER_GAS) {
        return Err(not_a_transfer(
            "gas_limit_too_low",
            &format!("gas required exceeds allowance ({gas}): a transfer needs {TRANSFER_GAS}"),
        ));
    }
    Ok(quantity(TRANSFER_GAS))
}

/// `eth_call`: `"0x"` for a call with no data to an account, which is what calling an account
/// without code returns. Anything else would run a contract, and there are none: -32000.
pub fn call(call: &CallRequest) -> Result<Value, RpcError> {
    check_recipient_and_data(call)?;
    Ok(data([]))
}
