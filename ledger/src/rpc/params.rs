//! Reading positional params: the argument list itself (counts, optional arguments) and each
//! kind of value in it (quantities, addresses, hashes, data, block tags, call objects).
//!
//! Lenient where Ethereum clients differ and nothing is ambiguous: quantities may carry leading
//! zeros or be JSON integers, `null` stands for an omitted optional argument, trailing `null`s
//! are ignored. Every size is checked before anything is decoded or allocated.

use serde_json::{Map, Value};

use super::FEE_HISTORY_BLOCKS_MAX;
use super::FEE_HISTORY_PERCENTILES_MAX;
use super::envelope::{RpcError, shortened};
use super::request::{BlockTag, CallRequest};
use crate::primitives::{Address, Hash, U256};

/// A value parser: the value, or what is wrong with it.
pub(super) type Parser<T> = fn(&Value) -> Result<T, String>;

/// The positional params of one request.
pub(super) struct Params<'a> {
    values: &'a [Value],
}

impl<'a> Params<'a> {
    /// The params, with trailing `null`s (omitted optional arguments) dropped.
    pub(super) fn new(values: &'a [Value]) -> Self {
        let given = values
            .iter()
            .rposition(|value| !value.is_null())
            .map_or(0, |last| last + 1);
        Self {
            values: &values[..given],
        }
    }

    /// Refuses more than `count` arguments.
    pub(super) fn at_most(&self, count: usize) -> Result<&Self, RpcError> {
        if self.values.len() > count {
            return Err(RpcError::invalid_params(format!(
                "too many arguments, want at most {count}, got {}",
                self.values.len()
            )));
        }
        Ok(self)
    }

    /// Argument `index`, which must be present and valid.
    pub(super) fn required<T>(
        &self,
        index: usize,
        name: &str,
        parse: Parser<T>,
    ) -> Result<T, RpcError> {
        self.optional(index, name, parse)?.ok_or_else(|| {
            RpcError::invalid_params(format!(
                "missing value for required argument {index} ({name})"
            ))
        })
    }

    /// Argument `index`, `None` when omitted or `null`.
    pub(super) fn optional<T>(
        &self,
        index: usize,
        name: &str,
        parse: Parser<T>,
    ) -> Result<Option<T>, RpcError> {
        match self.values.get(index) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => parse(value).map(Some).map_err(|detail| {
                RpcError::invalid_params(format!("invalid argument {index} ({name}): {detail}"))
            }),
        }
    }
}

/// A value as it appears in a message: its JSON, shortened.
fn shown(value: &Value) -> String {
    shortened(&value.to_string())
}

fn string<'v>(value: &'v Value, expected: &str) -> Result<&'v str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("expected {expected}, got {}", shown(value)))
}

/// The hex digits after a `0x` (or `0X`) prefix.
fn hex_digits(text: &str) -> Option<&str> {
    text.strip_prefix("0x").or_else(|| text.strip_prefix("0X"))
}

/// A quantity: `0x` and 1 to 64 significant hex digits (leading zeros accepted), or a
/// non-negative JSON integer.
pub(super) fn quantity(value: &Value) -> Result<U256, String> {
    if let Value::Number(number) = value {
        return number
            .as_u64()
            .map(U256::from)
            .ok_or_else(|| format!("expected a non-negative integer, got {number}"));
    }
    let text = string(value, "a 0x-prefixed hex quantity")?;
    hex_quantity(text)
}

fn hex_quantity(text: &str) -> Result<U256, String> {
    let digits = hex_digits(text)
        .ok_or_else(|| format!("expected a 0x-prefixed hex quantity, got {text:?}"))?;
    if digits.is_empty() {
        return Err("empty hex quantity \"0x\"".to_owned());
    }
    let significant = digits.trim_start_matches('0');
    if significant.len() > 64 {
        return Err("the quantity does not fit 256 bits".to_owned());
    }
    if !significant.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(format!("invalid hex quantity {:?}", shortened(text)));
    }
    if significant.is_empty() {
        return Ok(U256::ZERO);
    }
    U256::from_str_radix(significant, 16).map_err(|error| error.to_string())
}

/// A quantity that fits 64 bits.
pub(super) fn quantity_u64(value: &Value) -> Result<u64, String> {
    u64::try_from(quantity(value)?).map_err(|_| "the quantity does not fit 64 bits".to_owned())
}

/// A quantity that fits 128 bits (fees per gas).
pub(super) fn quantity_u128(value: &Value) -> Result<u128, String> {
    u128::try_from(quantity(value)?).map_err(|_| "the quantity does not fit 128 bits".to_owned())
}

/// A 20-byte address, `0x` and 40 hex digits of either case (the EIP-55 checksum is not
/// checked, as Ethereum nodes do not check it).
pub(super) fn address(value: &Value) -> Result<Address, String> {
    let text = string(value, "a 0x-prefixed 20-byte address")?;
    text.parse::<Address>()
        .map_err(|error| format!("invalid address {:?}: {error}", shortened(text)))
}

/// A 32-byte hash, `0x` and 64 hex digits.
pub(super) fn hash(value: &Value) -> Result<Hash, String> {
    let text = string(value, "a 0x-prefixed 32-byte hash")?;
    text.parse::<Hash>()
        .map_err(|error| format!("invalid hash {:?}: {error}", shortened(text)))
}

/// `0x`-prefixed hex bytes (an even number of digits, possibly none), at most `bytes_max`
/// bytes: the length is checked before anything is decoded.
pub(super) fn bytes(value: &Value, bytes_max: usize) -> Result<Vec<u8>, String> {
    let text = string(value, "0x-prefixed hex data")?;
    let digits =
        hex_digits(text).ok_or_else(|| format!("expected 0x-prefixed hex data, got {text:?}"))?;
    if digits.len() > 2 * bytes_max {
        return Err(format!(
            "{} bytes of data exceed the limit of {bytes_max} bytes",
            digits.len().div_ceil(2)
        ));
    }
    if digits.len() % 2 == 1 {
        return Err("hex data has an odd number of digits".to_owned());
    }
    hex::decode(digits).map_err(|error| format!("invalid hex data: {error}"))
}

/// A boolean (JSON `true` or `false`).
pub(super) fn boolean(value: &Value) -> Result<bool, String> {
    value
        .as_bool()
        .ok_or_else(|| format!("expected true or false, got {}", shown(value)))
}

/// A block: a tag (`latest`, `pending`, `safe`, `finalized`, `earliest`), a quantity, or an
/// EIP-1898 object `{"blockNumber": …}`. `{"blockHash": …}` is refused: state is kept for the
/// head only, so naming a block by hash has nothing to offer a tag does not.
pub(super) fn block_tag(value: &Value) -> Result<BlockTag, String> {
    match value {
        Value::String(text) => tag_or_number(text),
        Value::Number(_) => quantity_u64(value).map(BlockTag::Number),
        Value::Object(object) => eip1898(object),
        _ => Err(format!(
            "expected a block number or tag, got {}",
            shown(value)
        )),
    }
}

fn tag_or_number(text: &str) -> Result<BlockTag, String> {
    Ok(match text {
        "latest" => BlockTag::Latest,
        "pending" => BlockTag::Pending,
        "safe" => BlockTag::Safe,
        "finalized" => BlockTag::Finalized,
        "earliest" => BlockTag::Earliest,
        _ => {
            let number = hex_quantity(text).map_err(|_| {
                format!(
                    "expected a block tag (latest, pending, safe, finalized, earliest) or a hex \
                     block number, got {:?}",
                    shortened(text)
                )
            })?;
            BlockTag::Number(
                u64::try_from(number).map_err(|_| "the block number does not fit 64 bits")?,
            )
        }
    })
}

fn eip1898(object: &Map<String, Value>) -> Result<BlockTag, String> {
    if object.contains_key("blockHash") {
        return Err(
            "selecting a block by hash (EIP-1898 blockHash) is not supported: pass a block \
             number or tag"
                .to_owned(),
        );
    }
    match object.get("blockNumber") {
        Some(Value::String(text)) => tag_or_number(text),
        Some(number @ Value::Number(_)) => quantity_u64(number).map(BlockTag::Number),
        _ => Err("an EIP-1898 block object needs \"blockNumber\"".to_owned()),
    }
}

/// `eth_feeHistory`'s block count: a quantity, a JSON integer or a decimal string, from 1 to
/// any size (more than [`FEE_HISTORY_BLOCKS_MAX`] is reduced to it, as geth does).
pub(super) fn block_count(value: &Value) -> Result<u64, String> {
    let count = match value {
        Value::String(text) if hex_digits(text).is_none() => text
            .parse::<u64>()
            .map_err(|_| format!("expected a block count, got {:?}", shortened(text)))?,
        _ => quantity_u64(value)?,
    };
    if count == 0 {
        return Err("the block count must be at least 1".to_owned());
    }
    Ok(count.min(FEE_HISTORY_BLOCKS_MAX))
}

/// `eth_feeHistory`'s reward percentiles: at most [`FEE_HISTORY_PERCENTILES_MAX`] numbers
/// from 0 to 100, in non-decreasing order (as geth requires).
pub(super) fn percentiles(value: &Value) -> Result<Vec<f64>, String> {
    let Value::Array(items) = value else {
        return Err(format!(
            "expected an array of percentiles, got {}",
            shown(value)
        ));
    };
    if items.len() > FEE_HISTORY_PERCENTILES_MAX {
        return Err(format!(
            "{} percentiles exceed the limit of {FEE_HISTORY_PERCENTILES_MAX}",
            items.len()
        ));
    }
    let mut percentiles = Vec::with_capacity(items.len());
    for item in items {
        let percentile = item
            .as_f64()
            .ok_or_else(|| format!("expected a percentile number, got {}", shown(item)))?;
        if !(0.0..=100.0).contains(&percentile) {
            return Err(format!("percentile {percentile} is not between 0 and 100"));
        }
        if percentiles.last().is_some_and(|&last| percentile < last) {
            return Err("percentiles must be in non-decreasing order".to_owned());
        }
        percentiles.push(percentile);
    }
    Ok(percentiles)
}

/// Call data may be as large as a body: nothing is kept but its length matters.
const CALL_DATA_BYTES_MAX: usize = super::RPC_BODY_BYTES_MAX;

/// An `eth_call` / `eth_estimateGas` transaction object. Unknown fields (`type`, `chainId`,
/// `accessList`, ...) are ignored, as geth ignores them; known ones must be well formed.
pub(super) fn call_request(value: &Value) -> Result<CallRequest, String> {
    let Value::Object(object) = value else {
        return Err(format!(
            "expected a transaction object, got {}",
            shown(value)
        ));
    };
    Ok(CallRequest {
        from: member(object, "from", address)?,
        to: member(object, "to", address)?,
        value: member(object, "value", quantity)?,
        data: call_data(object)?,
        gas: member(object, "gas", quantity_u64)?,
        gas_price: member(object, "gasPrice", quantity_u128)?,
        max_fee_per_gas: member(object, "maxFeePerGas", quantity_u128)?,
        max_priority_fee_per_gas: member(object, "maxPriorityFeePerGas", quantity_u128)?,
    })
}

/// Member `name` of an object, `None` when absent or `null`.
fn member<T>(
    object: &Map<String, Value>,
    name: &str,
    parse: Parser<T>,
) -> Result<Option<T>, String> {
    object
        .get(name)
        .filter(|value| !value.is_null())
        .map(|value| parse(value).map_err(|error| format!("{name}: {error}")))
        .transpose()
}

fn call_data_bytes(value: &Value) -> Result<Vec<u8>, String> {
    bytes(value, CALL_DATA_BYTES_MAX)
}

/// The call data from `input` or its older name `data`; both given must agree (geth's rule).
fn call_data(object: &Map<String, Value>) -> Result<Vec<u8>, String> {
    let data = member(object, "data", call_data_bytes)?;
    let input = member(object, "input", call_data_bytes)?;
    match (data, input) {
        (Some(data), Some(input)) if data != input => {
            Err("both \"data\" and \"input\" are set and differ: use \"input\"".to_owned())
        }
        (_, Some(bytes)) | (Some(bytes), None) => Ok(bytes),
        (None, None) => Ok(Vec::new()),
    }
}
