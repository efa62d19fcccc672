//! The chain's stateless rules for a decoded envelope: replay protection, field ranges, what a
//! value transfer may carry, fee consistency and the signature's scalar ranges.
//!
//! Everything here is cheap arithmetic; the elliptic-curve work is left to recovery or
//! verification, so a trusted reload can skip it.

use super::envelope::EnvelopeFields;
use super::rejection::{TxField, TxRejection, TxResult};
use super::{TRANSFER_GAS, Transfer, TxKind, VALUE_BITS_MAX};
use crate::primitives::{Hash, U256};
use crate::signature::RecoverableSignature;

/// The secp256k1 group order `n`; `r` and `s` must lie in `1..n`.
const CURVE_ORDER: U256 = U256::from_limbs([
    0xbfd2_5e8c_d036_4141,
    0xbaae_dce6_af48_a03b,
    0xffff_ffff_ffff_fffe,
    0xffff_ffff_ffff_ffff,
]);

/// `n / 2`, rounded down: the largest `s` accepted (EIP-2, as Ethereum refuses the high half).
const CURVE_HALF_ORDER: U256 = U256::from_limbs([
    0xdfe9_2f46_681b_20a0,
    0x5d57_6e73_57a4_501d,
    0xffff_ffff_ffff_ffff,
    0x7fff_ffff_ffff_ffff,
]);

/// EIP-155: a protected legacy `v` is `chain_id * 2 + 35 + parity`.
const EIP155_V_OFFSET: u64 = 35;
/// Pre-EIP-155 `v` values (27 + parity): signatures valid on every chain.
const UNPROTECTED_V: [u64; 2] = [27, 28];

/// Applies every stateless rule, giving the transfer and its (not yet checked) signature.
pub(super) fn apply(
    fields: &EnvelopeFields<'_>,
    chain_id: u64,
) -> TxResult<(Transfer, RecoverableSignature)> {
    let y_parity = check_replay_protection(fields, chain_id)?;
    let transfer = Transfer {
        kind: fields.kind,
        chain_id,
        nonce: check_nonce(narrow(fields.nonce, TxField::Nonce)?)?,
        max_fee_per_gas: narrow(fields.max_fee_per_gas, fee_field(fields.kind, false))?,
        max_priority_fee_per_gas: narrow(
            fields.max_priority_fee_per_gas,
            fee_field(fields.kind, true),
        )?,
        gas_limit: narrow(fields.gas_limit, TxField::GasLimit)?,
        to: fields.to.ok_or(TxRejection::ContractCreation)?,
        value: check_value(fields.value)?,
    };
    check_transfer_only(fields)?;
    check_gas_and_fees(&transfer)?;
    let signature = check_signature_scalars(fields.r, fields.s, y_parity)?;
    Ok((transfer, signature))
}

/// Checks the chain id and returns the y parity, from `v` (legacy) or the typed fields.
fn check_replay_protection(fields: &EnvelopeFields<'_>, chain_id: u64) -> TxResult<bool> {
    let v = fields.v;
    let Some(typed_chain_id) = fields.chain_id else {
        return legacy_parity(v, chain_id);
    };
    if typed_chain_id != U256::from(chain_id) {
        return Err(TxRejection::WrongChainId {
            got: typed_chain_id,
            expected: chain_id,
        });
    }
    match u8::try_from(v) {
        Ok(0) => Ok(false),
        Ok(1) => Ok(true),
        _ => Err(TxRejection::BadRecoveryId { got: v }),
    }
}

/// Decodes an EIP-155 legacy `v` into its y parity, refusing other chains and unprotected `v`.
fn legacy_parity(v: U256, chain_id: u64) -> TxResult<bool> {
    if UNPROTECTED_V
        .iter()
        .any(|&unprotected| v == U256::from(unprotected))
    {
        return Err(TxRejection::UnprotectedLegacy);
    }
    let Some(offset) = v.checked_sub(U256::from(EIP155_V_OFFSET)) else {
        return Err(TxRejection::BadRecoveryId { got: v });
    };
    let signed_chain_id = offset >> 1;
    if signed_chain_id != U256::from(chain_id) {
        return Err(TxRejection::WrongChainId {
            got: signed_chain_id,
            expected: chain_id,
        });
    }
    Ok(offset.bit(0))
}

/// The field a fee is reported under: legacy and EIP-2930 transactions have one gas price.
fn fee_field(kind: TxKind, priority: bool) -> TxField {
    match (kind, priority) {
        (TxKind::DynamicFee, true) => TxField::MaxPriorityFeePerGas,
        (TxKind::DynamicFee, false) => TxField::MaxFeePerGas,
        (TxKind::Legacy | TxKind::AccessList, _) => TxField::GasPrice,
    }
}

/// Narrows a decoded integer to the field's width, or reports the field as too large.
fn narrow<T: TryFrom<U256>>(value: U256, field: TxField) -> TxResult<T> {
    T::try_from(value).map_err(|_| TxRejection::FieldTooLarge {
        field,
        bits_max: 8 * size_of::<T>(),
    })
}

/// EIP-2681: nonce 2^64 - 1 is refused, so incrementing an account's nonce never overflows.
fn check_nonce(nonce: u64) -> TxResult<u64> {
    if nonce == u64::MAX {
        return Err(TxRejection::NonceMax { got: nonce });
    }
    Ok(nonce)
}

/// The value must leave room for the fee in 256 bits, so [`Transfer::max_cost`] cannot overflow.
fn check_value(value: U256) -> TxResult<U256> {
    if value.bit_len() > VALUE_BITS_MAX {
        return Err(TxRejection::FieldTooLarge {
            field: TxField::Value,
            bits_max: VALUE_BITS_MAX,
        });
    }
    Ok(value)
}

/// A value transfer carries no call data and no access list.
fn check_transfer_only(fields: &EnvelopeFields<'_>) -> TxResult<()> {
    if !fields.data.is_empty() {
        return Err(TxRejection::DataNotEmpty {
            length: fields.data.len(),
        });
    }
    if !fields.access_list.is_empty() {
        return Err(TxRejection::AccessListNotEmpty);
    }
    Ok(())
}

fn check_gas_and_fees(transfer: &Transfer) -> TxResult<()> {
    if transfer.gas_limit < TRANSFER_GAS {
        return Err(TxRejection::GasLimitTooLow {
            got: transfer.gas_limit,
            minimum: TRANSFER_GAS,
        });
    }
    if transfer.max_priority_fee_per_gas > transfer.max_fee_per_gas {
        return Err(TxRejection::PriorityFeeAboveMaxFee {
            max_priority_fee_per_gas: transfer.max_priority_fee_per_gas,
            max_fee_per_gas: transfer.max_fee_per_gas,
        });
    }
    Ok(())
}

/// `r` and `s` in `1..n`, and `s` in the low half, as Ethereum requires since EIP-2.
fn check_signature_scalars(r: U256, s: U256, y_parity: bool) -> TxResult<RecoverableSignature> {
    let in_range = |scalar: U256| scalar != U256::ZERO && scalar < CURVE_ORDER;
    if !in_range(r) || !in_range(s) {
        return Err(TxRejection::InvalidSignature);
    }
    if s > CURVE_HALF_ORDER {
        return Err(TxRejection::HighS);
    }
    Ok(RecoverableSignature {
        r: Hash(r.to_be_bytes()),
        s: Hash(s.to_be_bytes()),
        y_parity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_order_is_half_the_order() {
        assert_eq!(CURVE_HALF_ORDER, CURVE_ORDER >> 1);
        assert_eq!(
            format!("{CURVE_ORDER:#x}"),
            "0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"
        );
    }
}
