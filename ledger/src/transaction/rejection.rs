//! Why a transaction was refused: one typed reason per rule, each with a stable machine code.

use serde::{Deserialize, Serialize};

use crate::primitives::U256;
use crate::signature::SignatureError;

/// A field of a transaction envelope, named in rejections so a client can see what to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxField {
    /// The envelope itself: the type byte and the outer RLP list.
    Envelope,
    /// The chain id of a typed transaction.
    ChainId,
    /// The sender's nonce.
    Nonce,
    /// The gas price of a legacy or EIP-2930 transaction.
    GasPrice,
    /// The EIP-1559 tip per gas.
    MaxPriorityFeePerGas,
    /// The EIP-1559 fee cap per gas.
    MaxFeePerGas,
    /// The gas limit.
    GasLimit,
    /// The recipient.
    To,
    /// The amount transferred.
    Value,
    /// The call data (must be empty).
    Data,
    /// The EIP-2930 access list (must be empty).
    AccessList,
    /// Ethereum's `v`: the EIP-155 value of a legacy transaction, the y parity of a typed one.
    V,
    /// Ethereum's `r`: the x coordinate of the signature's nonce point.
    R,
    /// Ethereum's `s`: the signature's proof scalar.
    S,
}

impl TxField {
    /// The field's snake_case name, as it appears in error messages and API JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Envelope => "envelope",
            Self::ChainId => "chain_id",
            Self::Nonce => "nonce",
            Self::GasPrice => "gas_price",
            Self::MaxPriorityFeePerGas => "max_priority_fee_per_gas",
            Self::MaxFeePerGas => "max_fee_per_gas",
            Self::GasLimit => "gas_limit",
            Self::To => "to",
            Self::Value => "value",
            Self::Data => "data",
            Self::AccessList => "access_list",
            Self::V => "v",
            Self::R => "r",
            Self::S => "s",
        }
    }
}

impl std::fmt::Display for TxField {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.name())
    }
}

/// Where bytes were left over after a complete transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrailingPosition {
    /// Inside the RLP list, after its last field, and not themselves well-formed RLP items.
    InsideList,
    /// After the RLP list that should have ended the input.
    AfterList,
}

/// Why a transaction was refused. Every variant is a rule of the chain, never a bug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxRejection {
    /// The raw transaction is larger than `TX_BYTES_MAX`; checked before any decoding.
    #[error("transaction of {got} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Bytes received.
        got: usize,
        /// Largest accepted size.
        limit: usize,
    },
    /// The bytes are not a well-formed, canonical RLP envelope (bad RLP, wrong field count,
    /// leading zeros in an integer, a wrong-length address, ...).
    #[error("malformed transaction at {field}: {error}")]
    Malformed {
        /// The field being decoded when the problem was found.
        field: TxField,
        /// What the RLP decoder found.
        error: alloy_rlp::Error,
    },
    /// Bytes were left over after the transaction.
    #[error("{count} trailing bytes {position:?}")]
    TrailingBytes {
        /// How many bytes were left over.
        count: usize,
        /// Whether they were inside the RLP list or after it.
        position: TrailingPosition,
    },
    /// The EIP-2718 type byte is not legacy, 0x01 or 0x02 (blob and set-code transactions
    /// cannot be value transfers here).
    #[error("unsupported transaction type 0x{type_byte:02x}")]
    UnsupportedType {
        /// The type byte found.
        type_byte: u8,
    },
    /// A legacy transaction without EIP-155 replay protection (`v` is 27 or 28).
    #[error("legacy transaction without EIP-155 replay protection")]
    UnprotectedLegacy,
    /// The transaction was signed for another chain.
    #[error("wrong chain id: got {got}, expected {expected}")]
    WrongChainId {
        /// The chain id the transaction carries (for legacy ones, derived from `v`).
        got: U256,
        /// This chain's id.
        expected: u64,
    },
    /// The recovery id is invalid: a typed transaction's y parity is not 0 or 1, or a legacy
    /// `v` is neither 27/28 nor of the EIP-155 form `chain_id * 2 + 35 + parity`.
    #[error("invalid recovery id (v = {got})")]
    BadRecoveryId {
        /// The `v` value found.
        got: U256,
    },
    /// A numeric field is larger than the chain accepts: nonce and gas limit must fit 64 bits,
    /// fees 128 bits, and the value 255 bits (so that the up-front cost fits 256 bits).
    #[error("{field} does not fit in {bits_max} bits")]
    FieldTooLarge {
        /// The field.
        field: TxField,
        /// The widest value accepted, in bits.
        bits_max: usize,
    },
    /// The nonce is 2^64 - 1, which EIP-2681 reserves: an account's nonce can never pass it.
    #[error("nonce {got} is reserved (EIP-2681: nonces must be below 2^64 - 1)")]
    NonceMax {
        /// The nonce.
        got: u64,
    },
    /// The transaction has no recipient: it would create a contract.
    #[error("contract creation is not supported")]
    ContractCreation,
    /// The transaction carries call data; only plain value transfers are accepted.
    #[error("call data of {length} bytes; only plain value transfers are accepted")]
    DataNotEmpty {
        /// Bytes of call data.
        length: usize,
    },
    /// The transaction carries an access list; gas is a flat 21000, so lists are refused.
    #[error("access lists are not supported")]
    AccessListNotEmpty,
    /// The gas limit cannot pay for a transfer.
    #[error("gas limit {got} is below the {minimum} a transfer costs")]
    GasLimitTooLow {
        /// The gas limit given.
        got: u64,
        /// Gas a transfer costs.
        minimum: u64,
    },
    /// The priority fee is above the fee cap, which Ethereum forbids.
    #[error(
        "max priority fee per gas {max_priority_fee_per_gas} exceeds max fee per gas {max_fee_per_gas}"
    )]
    PriorityFeeAboveMaxFee {
        /// The tip per gas offered.
        max_priority_fee_per_gas: u128,
        /// The fee cap per gas.
        max_fee_per_gas: u128,
    },
    /// `s` is in the upper half of the curve order (the malleable twin of a valid signature).
    #[error("signature s value is in the upper half of the curve order")]
    HighS,
    /// `r` or `s` is zero or not below the curve order, or no public key recovers from it.
    #[error("signature is out of range or recovers no public key")]
    InvalidSignature,
    /// The signature does not verify against the public key it was presented with (or does
    /// so only with the other y parity).
    #[error("signature does not match the given public key")]
    SignatureMismatch,
    /// The sender key a client gave with the transaction is not a secp256k1 public key.
    #[error(
        "the sender key given ({length} bytes) is not a secp256k1 public key: give 64 bytes \
         x ‖ y, or SEC1 (65 bytes uncompressed or 33 compressed)"
    )]
    InvalidSenderKey {
        /// Bytes given.
        length: usize,
    },
    /// The nonce y a client gave with the transaction is not 32 bytes.
    #[error(
        "the nonce y given ({length} bytes) is not the 32-byte big-endian y of the signature's \
         nonce point"
    )]
    InvalidNonceY {
        /// Bytes given.
        length: usize,
    },
    /// The nonce y a client gave is not the y of the signature's nonce point (the point whose
    /// x is `r`, of the signature's y parity).
    #[error("the nonce y given is not the y of the signature's nonce point")]
    NonceYMismatch,
}

impl TxRejection {
    /// A stable snake_case code per variant, for API JSON errors and metrics labels.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::Malformed { .. } => "malformed",
            Self::TrailingBytes { .. } => "trailing_bytes",
            Self::UnsupportedType { .. } => "unsupported_type",
            Self::UnprotectedLegacy => "unprotected_legacy",
            Self::WrongChainId { .. } => "wrong_chain_id",
            Self::BadRecoveryId { .. } => "bad_recovery_id",
            Self::FieldTooLarge { .. } => "field_too_large",
            Self::NonceMax { .. } => "nonce_max",
            Self::ContractCreation => "contract_creation",
            Self::DataNotEmpty { .. } => "data_not_empty",
            Self::AccessListNotEmpty => "access_list_not_empty",
            Self::GasLimitTooLow { .. } => "gas_limit_too_low",
            Self::PriorityFeeAboveMaxFee { .. } => "priority_fee_above_max_fee",
            Self::HighS => "high_s",
            Self::InvalidSignature => "invalid_signature",
            Self::SignatureMismatch => "signature_mismatch",
            Self::InvalidSenderKey { .. } => "invalid_sender_key",
            Self::InvalidNonceY { .. } => "invalid_nonce_y",
            Self::NonceYMismatch => "nonce_y_mismatch",
        }
    }

    /// Every code [`TxRejection::code`] can return, for documentation and dashboards.
    pub const CODES: [&'static str; 20] = [
        "too_large",
        "malformed",
        "trailing_bytes",
        "unsupported_type",
        "unprotected_legacy",
        "wrong_chain_id",
        "bad_recovery_id",
        "field_too_large",
        "nonce_max",
        "contract_creation",
        "data_not_empty",
        "access_list_not_empty",
        "gas_limit_too_low",
        "priority_fee_above_max_fee",
        "high_s",
        "invalid_signature",
        "signature_mismatch",
        "invalid_sender_key",
        "invalid_nonce_y",
        "nonce_y_mismatch",
    ];
}

impl From<SignatureError> for TxRejection {
    fn from(error: SignatureError) -> Self {
        match error {
            SignatureError::HighS => Self::HighS,
            SignatureError::RecoveryId(got) => Self::BadRecoveryId {
                got: U256::from(got),
            },
            SignatureError::Invalid => Self::SignatureMismatch,
            SignatureError::ScalarOutOfRange
            | SignatureError::Unrecoverable
            | SignatureError::InvalidKey => Self::InvalidSignature,
        }
    }
}

/// Result alias for transaction decoding and verification.
pub type TxResult<T> = Result<T, TxRejection>;
