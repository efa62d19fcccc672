//! The requests the endpoint answers, typed, and how each method's params are read.
//!
//! Each variant's documentation says what the shell needs from the chain to answer it and
//! which function formats the answer.

use serde_json::Value;

use super::envelope::RpcError;
use super::params::{self, Params};
use crate::limits::TX_BYTES_MAX;
use crate::primitives::{Address, Hash, U256};

/// Every method [`RpcRequest::parse`] knows, in the order of [`RpcRequest`]'s variants.
pub const METHODS: [&str; 18] = [
    "eth_chainId",
    "net_version",
    "web3_clientVersion",
    "eth_syncing",
    "eth_blockNumber",
    "eth_gasPrice",
    "eth_maxPriorityFeePerGas",
    "eth_getBalance",
    "eth_getTransactionCount",
    "eth_getCode",
    "eth_sendRawTransaction",
    "eth_getTransactionByHash",
    "eth_getTransactionReceipt",
    "eth_getBlockByNumber",
    "eth_getBlockByHash",
    "eth_feeHistory",
    "eth_estimateGas",
    "eth_call",
];

/// A block named by number or tag.
///
/// Blocks are final the moment they are certified: a quorum certificate carries the votes of
/// more than two thirds of the validators, and each validator's guard refuses to sign a second
/// block at a height it signed. There are no forks and no reorgs, so `safe` and `finalized`
/// are the head, like `latest`. There is no pending block either (the sequencer builds the
/// next block only when it proposes it), so `pending` is the head too, except for the one
/// place where Ethereum clients rely on it: `eth_getTransactionCount` at `pending` counts the
/// transactions waiting in the mempool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockTag {
    /// `latest`: the head.
    Latest,
    /// `pending`: the head (and the pending nonce, for `eth_getTransactionCount`).
    Pending,
    /// `safe`: the head, which is final.
    Safe,
    /// `finalized`: the head, which is final.
    Finalized,
    /// `earliest`: block 0, the genesis.
    Earliest,
    /// A block number.
    Number(u64),
}

impl BlockTag {
    /// The height this names, given the head's: `None` for a number past the head.
    pub fn resolve(&self, head_height: u64) -> Option<u64> {
        match *self {
            Self::Latest | Self::Pending | Self::Safe | Self::Finalized => Some(head_height),
            Self::Earliest => Some(0),
            Self::Number(number) => (number <= head_height).then_some(number),
        }
    }

    /// Checks that this names the head, the only block whose state the chain keeps: an older
    /// block is [`RpcError::historical_state`], a future one [`RpcError::unknown_block`].
    pub fn require_head(&self, head_height: u64) -> Result<(), RpcError> {
        match self.resolve(head_height) {
            Some(height) if height == head_height => Ok(()),
            Some(height) => Err(RpcError::historical_state(height, head_height)),
            None => Err(RpcError::unknown_block(
                self.number().unwrap_or(head_height),
            )),
        }
    }

    /// The number, for [`Self::Number`].
    pub fn number(&self) -> Option<u64> {
        match *self {
            Self::Number(number) => Some(number),
            _ => None,
        }
    }
}

/// The transaction object of `eth_call` and `eth_estimateGas`. Fields a value transfer does
/// not use are read (so malformed ones are refused) but change nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallRequest {
    /// The sender, if given.
    pub from: Option<Address>,
    /// The recipient; `None` would create a contract.
    pub to: Option<Address>,
    /// The value, in wei.
    pub value: Option<U256>,
    /// The call data (`input`, or its older name `data`); empty for a transfer.
    pub data: Vec<u8>,
    /// The gas limit offered.
    pub gas: Option<u64>,
    /// The legacy gas price.
    pub gas_price: Option<u128>,
    /// The EIP-1559 fee cap.
    pub max_fee_per_gas: Option<u128>,
    /// The EIP-1559 tip.
    pub max_priority_fee_per_gas: Option<u128>,
}

/// A request the endpoint answers.
#[derive(Debug, Clone, PartialEq)]
pub enum RpcRequest {
    /// `eth_chainId`: [`super::quantity`] of the chain id.
    ChainId,
    /// `net_version`: the chain id as a decimal string.
    NetVersion,
    /// `web3_clientVersion`: [`super::CLIENT_VERSION`].
    ClientVersion,
    /// `eth_syncing`: `false` (the endpoint reads the chain's own storage).
    Syncing,
    /// `eth_blockNumber`: [`super::quantity`] of the head's height.
    BlockNumber,
    /// `eth_gasPrice`: [`super::gas_price`] of the base fee.
    GasPrice,
    /// `eth_maxPriorityFeePerGas`: [`super::SUGGESTED_PRIORITY_FEE_PER_GAS`].
    MaxPriorityFeePerGas,
    /// `eth_getBalance [address, block?]`: the committed balance, once
    /// [`BlockTag::require_head`] holds.
    GetBalance {
        /// The account.
        address: Address,
        /// The block (default `latest`).
        block: BlockTag,
    },
    /// `eth_getTransactionCount [address, block?]`: the committed nonce, or at `pending` the
    /// nonce counting the mempool (what wallets ask before signing); [`BlockTag::require_head`]
    /// as for balances.
    GetTransactionCount {
        /// The account.
        address: Address,
        /// The block (default `latest`).
        block: BlockTag,
    },
    /// `eth_getCode [address, block?]`: [`super::code`], for any block that exists.
    GetCode {
        /// The account.
        address: Address,
        /// The block (default `latest`).
        block: BlockTag,
    },
    /// `eth_sendRawTransaction [data]`: the transaction's hash ([`super::data`]) once admitted,
    /// [`super::rejection_error`] for a refusal. At most `TX_BYTES_MAX` bytes (larger is -32602).
    SendRawTransaction {
        /// The raw signed transaction.
        raw: Vec<u8>,
    },
    /// `eth_getTransactionByHash [hash]`: [`super::transaction_object`] from the raw bytes and
    /// the sender (plus the location when committed); `null` when unknown.
    GetTransactionByHash {
        /// The transaction hash.
        hash: Hash,
    },
    /// `eth_getTransactionReceipt [hash]`: [`super::receipt_object`] once committed; `null`
    /// while pending or unknown (clients poll until it is not).
    GetTransactionReceipt {
        /// The transaction hash.
        hash: Hash,
    },
    /// `eth_getBlockByNumber [block, full?]`: [`super::block_object`]; `null` past the head.
    GetBlockByNumber {
        /// The block.
        block: BlockTag,
        /// Full transaction objects rather than hashes (default `false`).
        full: bool,
    },
    /// `eth_getBlockByHash [hash, full?]`: [`super::block_object`]; `null` when unknown.
    GetBlockByHash {
        /// The block hash.
        hash: Hash,
        /// Full transaction objects rather than hashes (default `false`).
        full: bool,
    },
    /// `eth_feeHistory [count, newest, percentiles?]`: [`super::fee_history`] over the
    /// `block_count` blocks ending at `newest` (fewer if the chain is shorter).
    FeeHistory {
        /// Blocks asked for: 1 to [`super::FEE_HISTORY_BLOCKS_MAX`].
        block_count: u64,
        /// The newest block of the range.
        newest: BlockTag,
        /// Reward percentiles, non-decreasing, 0 to 100.
        reward_percentiles: Vec<f64>,
    },
    /// `eth_estimateGas [call, block?]`: [`super::estimate_gas`], no chain data needed.
    EstimateGas {
        /// The transaction to estimate (boxed: it is most of a request's size).
        call: Box<CallRequest>,
    },
    /// `eth_call [call, block?]`: [`super::call`], no chain data needed.
    Call {
        /// The call (boxed: it is most of a request's size).
        call: Box<CallRequest>,
    },
}

impl RpcRequest {
    /// The method's name, for logs and metrics.
    pub fn method(&self) -> &'static str {
        METHODS[self.position()]
    }

    /// The variant's position in [`METHODS`].
    fn position(&self) -> usize {
        match self {
            Self::ChainId => 0,
            Self::NetVersion => 1,
            Self::ClientVersion => 2,
            Self::Syncing => 3,
            Self::BlockNumber => 4,
            Self::GasPrice => 5,
            Self::MaxPriorityFeePerGas => 6,
            Self::GetBalance { .. } => 7,
            Self::GetTransactionCount { .. } => 8,
            Self::GetCode { .. } => 9,
            Self::SendRawTransaction { .. } => 10,
            Self::GetTransactionByHash { .. } => 11,
            Self::GetTransactionReceipt { .. } => 12,
            Self::GetBlockByNumber { .. } => 13,
            Self::GetBlockByHash { .. } => 14,
            Self::FeeHistory { .. } => 15,
            Self::EstimateGas { .. } => 16,
            Self::Call { .. } => 17,
        }
    }

    /// Reads `method` with positional `params`: -32601 for an unknown method, -32602 for
    /// params of the wrong count or shape.
    pub fn parse(method: &str, params: &[Value]) -> Result<Self, RpcError> {
        let params = Params::new(params);
        if let Some(request) = Self::without_params(method) {
            params.at_most(0)?;
            return Ok(request);
        }
        match method {
            "eth_getBalance" | "eth_getTransactionCount" | "eth_getCode" => {
                Self::parse_account(method, &params)
            }
            "eth_sendRawTransaction" => Ok(Self::SendRawTransaction {
                raw: params
                    .at_most(1)?
                    .required(0, "raw transaction", raw_transaction)?,
            }),
            "eth_getTransactionByHash" => Ok(Self::GetTransactionByHash {
                hash: params.at_most(1)?.required(0, "hash", params::hash)?,
            }),
            "eth_getTransactionReceipt" => Ok(Self::GetTransactionReceipt {
                hash: params.at_most(1)?.required(0, "hash", params::hash)?,
            }),
            "eth_getBlockByNumber" => Ok(Self::GetBlockByNumber {
                block: params.at_most(2)?.required(0, "block", params::block_tag)?,
                full: full_transactions(&params)?,
            }),
            "eth_getBlockByHash" => Ok(Self::GetBlockByHash {
                hash: params.at_most(2)?.required(0, "hash", params::hash)?,
                full: full_transactions(&params)?,
            }),
            "eth_feeHistory" => Self::parse_fee_history(&params),
            "eth_estimateGas" | "eth_call" => Self::parse_call(method, &params),
            _ => Err(RpcError::method_not_found(method)),
        }
    }

    /// The methods that take no params.
    fn without_params(method: &str) -> Option<Self> {
        Some(match method {
            "eth_chainId" => Self::ChainId,
            "net_version" => Self::NetVersion,
            "web3_clientVersion" => Self::ClientVersion,
            "eth_syncing" => Self::Syncing,
            "eth_blockNumber" => Self::BlockNumber,
            "eth_gasPrice" => Self::GasPrice,
            "eth_maxPriorityFeePerGas" => Self::MaxPriorityFeePerGas,
            _ => return None,
        })
    }

    /// `[address, block?]`.
    fn parse_account(method: &str, params: &Params<'_>) -> Result<Self, RpcError> {
        let address = params.at_most(2)?.required(0, "address", params::address)?;
        let block = params
            .optional(1, "block", params::block_tag)?
            .unwrap_or(BlockTag::Latest);
        Ok(match method {
            "eth_getBalance" => Self::GetBalance { address, block },
            "eth_getTransactionCount" => Self::GetTransactionCount { address, block },
            _ => Self::GetCode { address, block },
        })
    }

    /// `[count, newest, percentiles?]`.
    fn parse_fee_history(params: &Params<'_>) -> Result<Self, RpcError> {
        params.at_most(3)?;
        Ok(Self::FeeHistory {
            block_count: params.required(0, "block count", params::block_count)?,
            newest: params.required(1, "newest block", params::block_tag)?,
            reward_percentiles: params
                .optional(2, "reward percentiles", params::percentiles)?
                .unwrap_or_default(),
        })
    }

    /// `[call, block?, state overrides?, block overrides?]`. The block is checked but does not
    /// matter (no call depends on state here); overrides cannot be honoured, so are refused.
    fn parse_call(method: &str, params: &Params<'_>) -> Result<Self, RpcError> {
        params.at_most(4)?;
        let call = Box::new(params.required(0, "transaction", params::call_request)?);
        params.optional(1, "block", params::block_tag)?;
        params.optional(2, "state overrides", refuse_overrides)?;
        params.optional(3, "block overrides", refuse_overrides)?;
        Ok(if method == "eth_call" {
            Self::Call { call }
        } else {
            Self::EstimateGas { call }
        })
    }
}

/// The raw transaction of `eth_sendRawTransaction`, bounded before decoding.
fn raw_transaction(value: &Value) -> Result<Vec<u8>, String> {
    params::bytes(value, TX_BYTES_MAX)
}

/// The optional `full transactions` flag of the block methods.
fn full_transactions(params: &Params<'_>) -> Result<bool, RpcError> {
    Ok(params
        .optional(1, "full transactions", params::boolean)?
        .unwrap_or(false))
}

/// State and block overrides (anything but `null` or `{}`) cannot be honoured.
fn refuse_overrides(value: &Value) -> Result<(), String> {
    match value {
        Value::Object(object) if object.is_empty() => Ok(()),
        _ => Err("overrides are not supported".to_owned()),
    }
}
