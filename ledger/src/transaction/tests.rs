//! Unit tests: every rejection reason built by hand, round trips, fees, the wire form.

use alloy_rlp::{Decodable, Encodable, Header};

use super::*;
use crate::primitives::parse_hex_array;
use crate::signature::SecretKey;

const CHAIN_ID: u64 = 1_337;

/// First account of the development mnemonic `test test … junk`.
fn dev_key() -> SecretKey {
    let bytes =
        parse_hex_array::<32>("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
            .expect("hex");
    SecretKey::from_bytes(&bytes).expect("valid key")
}

fn transfer(kind: TxKind) -> Transfer {
    Transfer {
        kind,
        chain_id: CHAIN_ID,
        nonce: 7,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: match kind {
            TxKind::DynamicFee => 1_000_000_000,
            TxKind::Legacy | TxKind::AccessList => 2_000_000_000,
        },
        gas_limit: TRANSFER_GAS,
        to: Address([0x42; 20]),
        value: U256::from(10u64).pow(U256::from(18u64)),
    }
}

fn signed(kind: TxKind) -> Vec<u8> {
    transfer(kind).sign(&dev_key()).raw().to_vec()
}

/// The development key's transfer of `kind`, through the front door's recovery.
fn recovered(kind: TxKind) -> VerifiedTx {
    transfer(kind).sign(&dev_key()).recover().expect("recovers")
}

const KINDS: [TxKind; 3] = [TxKind::Legacy, TxKind::AccessList, TxKind::DynamicFee];

/// Where each field sits in the list of each envelope.
fn index(kind: TxKind, field: TxField) -> usize {
    let order: &[TxField] = match kind {
        TxKind::Legacy => &[
            TxField::Nonce,
            TxField::GasPrice,
            TxField::GasLimit,
            TxField::To,
            TxField::Value,
            TxField::Data,
            TxField::V,
            TxField::R,
            TxField::S,
        ],
        TxKind::AccessList => &[
            TxField::ChainId,
            TxField::Nonce,
            TxField::GasPrice,
            TxField::GasLimit,
            TxField::To,
            TxField::Value,
            TxField::Data,
            TxField::AccessList,
            TxField::V,
            TxField::R,
            TxField::S,
        ],
        TxKind::DynamicFee => &[
            TxField::ChainId,
            TxField::Nonce,
            TxField::MaxPriorityFeePerGas,
            TxField::MaxFeePerGas,
            TxField::GasLimit,
            TxField::To,
            TxField::Value,
            TxField::Data,
            TxField::AccessList,
            TxField::V,
            TxField::R,
            TxField::S,
        ],
    };
    order
        .iter()
        .position(|candidate| *candidate == field)
        .expect("field belongs to the envelope")
}

/// Splits a raw transaction into its type byte and its encoded list items.
fn split(raw: &[u8]) -> (Option<u8>, Vec<Vec<u8>>) {
    let (type_byte, mut list) = match raw[0] {
        0xc0.. => (None, raw),
        type_byte => (Some(type_byte), &raw[1..]),
    };
    let header = Header::decode(&mut list).expect("list header");
    let mut payload = &list[..header.payload_length];
    let mut items = Vec::new();
    while !payload.is_empty() {
        let before = payload;
        let item = Header::decode(&mut payload).expect("item header");
        payload = &payload[item.payload_length..];
        items.push(before[..before.len() - payload.len()].to_vec());
    }
    (type_byte, items)
}

/// Joins a type byte and encoded items back into a raw transaction.
fn join(type_byte: Option<u8>, items: &[Vec<u8>]) -> Vec<u8> {
    let payload: Vec<u8> = items.concat();
    let mut out: Vec<u8> = type_byte.into_iter().collect();
    Header {
        list: true,
        payload_length: payload.len(),
    }
    .encode(&mut out);
    out.extend(payload);
    out
}

/// A valid signed transaction of `kind` with one field replaced by `item` (already encoded).
fn replaced(kind: TxKind, field: TxField, item: Vec<u8>) -> Vec<u8> {
    let (type_byte, mut items) = split(&signed(kind));
    items[index(kind, field)] = item;
    join(type_byte, &items)
}

fn rlp<T: Encodable>(value: T) -> Vec<u8> {
    alloy_rlp::encode(value)
}

fn reject(raw: &[u8]) -> TxRejection {
    decode(raw, CHAIN_ID).expect_err("must be rejected")
}

fn order() -> U256 {
    U256::from_be_bytes(
        parse_hex_array::<32>("0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
            .expect("hex"),
    )
}

#[test]
fn sign_decode_recover_round_trip_for_every_kind() {
    for kind in KINDS {
        let signed = transfer(kind).sign(&dev_key());
        let decoded = decode(signed.raw(), CHAIN_ID).expect("decodes");
        assert_eq!(decoded, signed);
        assert_eq!(decoded.hash(), keccak256(signed.raw()));
        assert_eq!(decoded.raw()[0] >= 0xc0, kind == TxKind::Legacy);
        let verified = decoded.clone().recover().expect("recovers");
        assert_eq!(verified.sender, dev_key().address());
        assert_eq!(verified.public_key, dev_key().public_key());
        assert_eq!(verified.nonce(), 7);
        assert_eq!(verified.transfer(), &transfer(kind));
        let by_key = decoded
            .verify_with(dev_key().public_key())
            .expect("verifies");
        assert_eq!(by_key, verified);
    }
}

#[test]
fn oversized_input_is_refused_before_decoding() {
    let raw = vec![0xff; TX_BYTES_MAX + 1];
    assert_eq!(
        reject(&raw),
        TxRejection::TooLarge {
            got: TX_BYTES_MAX + 1,
            limit: TX_BYTES_MAX
        }
    );
}

#[test]
fn bad_rlp_is_malformed() {
    let raw = signed(TxKind::DynamicFee);
    assert_eq!(reject(&[]).code(), "malformed");
    assert_eq!(reject(&raw[..raw.len() - 1]).code(), "malformed");
    // An RLP string where the transaction should be.
    assert_eq!(reject(&[0x83, 1, 2, 3]).code(), "malformed");
    // A typed transaction whose body is not a list.
    assert_eq!(reject(&[0x02, 0x83, 1, 2, 3]).code(), "malformed");
    // A long-form list header for a short list is not canonical.
    assert!(matches!(
        reject(&[0xf8, 0x03, 0x01, 0x02, 0x03]),
        TxRejection::Malformed {
            error: alloy_rlp::Error::NonCanonicalSize,
            ..
        }
    ));
}

#[test]
fn wrong_field_count_is_malformed() {
    for kind in KINDS {
        let (type_byte, mut items) = split(&signed(kind));
        let expected = items.len();
        items.pop();
        assert!(matches!(
            reject(&join(type_byte, &items)),
            TxRejection::Malformed {
                error: alloy_rlp::Error::ListLengthMismatch { got, .. },
                ..
            } if got == expected - 1
        ));
        items.push(rlp(1u8));
        items.push(rlp(1u8));
        assert!(matches!(
            reject(&join(type_byte, &items)),
            TxRejection::Malformed {
                error: alloy_rlp::Error::ListLengthMismatch { got, .. },
                ..
            } if got == expected + 1
        ));
    }
}

#[test]
fn non_canonical_integers_are_malformed() {
    let leading_zero = vec![0x82, 0x00, 0x07];
    assert!(matches!(
        reject(&replaced(TxKind::DynamicFee, TxField::Nonce, leading_zero)),
        TxRejection::Malformed {
            field: TxField::Nonce,
            error: alloy_rlp::Error::LeadingZero
        }
    ));
    // A single byte below 0x80 must encode as itself.
    let long_single_byte = vec![0x81, 0x07];
    assert!(matches!(
        reject(&replaced(TxKind::Legacy, TxField::Nonce, long_single_byte)),
        TxRejection::Malformed {
            field: TxField::Nonce,
            error: alloy_rlp::Error::NonCanonicalSingleByte
        }
    ));
    // Zero is the empty string, never 0x00.
    assert!(matches!(
        reject(&replaced(TxKind::AccessList, TxField::V, vec![0x00])),
        TxRejection::Malformed {
            field: TxField::V,
            error: alloy_rlp::Error::LeadingZero
        }
    ));
    let mut r_with_zero = vec![0xa1, 0x00];
    r_with_zero.extend([0x11; 32]);
    assert_eq!(
        reject(&replaced(TxKind::DynamicFee, TxField::R, r_with_zero)).code(),
        "malformed"
    );
}

#[test]
fn recipient_of_wrong_length_is_malformed() {
    assert!(matches!(
        reject(&replaced(TxKind::Legacy, TxField::To, rlp([0x42u8; 19]))),
        TxRejection::Malformed {
            field: TxField::To,
            ..
        }
    ));
}

#[test]
fn trailing_bytes_after_and_inside_the_list_are_refused() {
    for kind in KINDS {
        let mut raw = signed(kind);
        raw.push(0x00);
        assert_eq!(
            reject(&raw),
            TxRejection::TrailingBytes {
                count: 1,
                position: TrailingPosition::AfterList
            }
        );
        // A truncated item header after the last field, inside the list.
        let (type_byte, mut items) = split(&signed(kind));
        items.push(vec![0xb8]);
        assert_eq!(
            reject(&join(type_byte, &items)),
            TxRejection::TrailingBytes {
                count: 1,
                position: TrailingPosition::InsideList
            }
        );
    }
}

#[test]
fn unsupported_type_bytes_are_refused() {
    for type_byte in [0x00, 0x03, 0x04, 0x7f] {
        let mut raw = signed(TxKind::DynamicFee);
        raw[0] = type_byte;
        assert_eq!(reject(&raw), TxRejection::UnsupportedType { type_byte });
    }
}

#[test]
fn unprotected_legacy_is_refused() {
    for v in [27u8, 28] {
        assert_eq!(
            reject(&replaced(TxKind::Legacy, TxField::V, rlp(v))),
            TxRejection::UnprotectedLegacy
        );
    }
}

#[test]
fn wrong_chain_id_is_refused() {
    for kind in KINDS {
        let raw = signed(kind);
        assert_eq!(
            decode(&raw, 1).expect_err("other chain"),
            TxRejection::WrongChainId {
                got: U256::from(CHAIN_ID),
                expected: 1
            }
        );
    }
    // A chain id wider than 64 bits cannot be ours.
    let huge = U256::from(u128::MAX);
    assert_eq!(
        reject(&replaced(TxKind::DynamicFee, TxField::ChainId, rlp(huge))),
        TxRejection::WrongChainId {
            got: huge,
            expected: CHAIN_ID
        }
    );
}

#[test]
fn bad_recovery_ids_are_refused() {
    assert_eq!(
        reject(&replaced(TxKind::DynamicFee, TxField::V, rlp(2u8))),
        TxRejection::BadRecoveryId { got: U256::from(2) }
    );
    assert_eq!(
        reject(&replaced(TxKind::AccessList, TxField::V, rlp(27u8))),
        TxRejection::BadRecoveryId {
            got: U256::from(27)
        }
    );
    for v in [0u8, 1, 26, 29, 34] {
        assert_eq!(
            reject(&replaced(TxKind::Legacy, TxField::V, rlp(v))),
            TxRejection::BadRecoveryId { got: U256::from(v) }
        );
    }
}

#[test]
fn high_s_is_refused() {
    for kind in KINDS {
        let signed = transfer(kind).sign(&dev_key());
        let s = U256::from_be_bytes(signed.signature().s.0);
        let high_s = rlp(order() - s);
        let (type_byte, mut items) = split(signed.raw());
        items[index(kind, TxField::S)] = high_s;
        // Flip the parity too, so this is exactly the malleated twin of a valid signature.
        let v_index = index(kind, TxField::V);
        let v = U256::decode(&mut items[v_index].as_slice()).expect("v");
        // Legacy `v` is 35 + 2 * chain id + parity: flip the parity bit of `v - 35`.
        let offset = if kind == TxKind::Legacy { 35 } else { 0 };
        let flipped = ((v - U256::from(offset)) ^ U256::ONE) + U256::from(offset);
        items[v_index] = rlp(flipped);
        assert_eq!(reject(&join(type_byte, &items)), TxRejection::HighS);
    }
}

#[test]
fn out_of_range_scalars_are_invalid_signatures() {
    for (field, scalar) in [
        (TxField::R, U256::ZERO),
        (TxField::S, U256::ZERO),
        (TxField::R, order()),
        (TxField::S, U256::MAX),
    ] {
        assert_eq!(
            reject(&replaced(TxKind::DynamicFee, field, rlp(scalar))),
            TxRejection::InvalidSignature
        );
    }
}

#[test]
fn an_r_off_the_curve_recovers_nothing() {
    // About half of all x coordinates are not on secp256k1; some small r must be one.
    let mut refused = 0;
    for r in 1u8..32 {
        let raw = replaced(TxKind::DynamicFee, TxField::R, rlp(r));
        let decoded = decode(&raw, CHAIN_ID).expect("structurally valid");
        match decoded.recover() {
            Err(rejection) => {
                assert_eq!(rejection, TxRejection::InvalidSignature);
                refused += 1;
            }
            Ok(verified) => assert_ne!(verified.sender, dev_key().address()),
        }
    }
    assert!(refused > 0);
}

#[test]
fn signature_for_another_key_does_not_verify() {
    let other = SecretKey::from_bytes(&[7u8; 32]).expect("key");
    for kind in KINDS {
        let decoded = decode(&signed(kind), CHAIN_ID).expect("decodes");
        assert_eq!(
            decoded.verify_with(other.public_key()),
            Err(TxRejection::SignatureMismatch)
        );
    }
}

#[test]
fn parity_flipped_twin_does_not_verify_for_the_original_key() {
    for kind in KINDS {
        let (type_byte, mut items) = split(&signed(kind));
        let v_index = index(kind, TxField::V);
        let v = U256::decode(&mut items[v_index].as_slice()).expect("v");
        let offset = U256::from(if kind == TxKind::Legacy { 35 } else { 0 });
        items[v_index] = rlp(((v - offset) ^ U256::ONE) + offset);
        let twin = decode(&join(type_byte, &items), CHAIN_ID).expect("structurally valid");
        // Plain ECDSA verification ignores the parity, so the twin would pass it...
        let prehash = twin.transfer().signing_hash();
        assert_eq!(
            twin.signature().verify(&prehash, &dev_key().public_key()),
            Ok(())
        );
        // ...but ecrecover gives someone else, and so verification with the key refuses it.
        let recovered = twin.clone().recover().map(|verified| verified.sender);
        assert_ne!(recovered, Ok(dev_key().address()));
        assert_eq!(
            twin.verify_with(dev_key().public_key()),
            Err(TxRejection::SignatureMismatch)
        );
    }
}

#[test]
fn data_access_list_and_contract_creation_are_refused() {
    for kind in KINDS {
        assert_eq!(
            reject(&replaced(kind, TxField::Data, rlp([0xa9u8, 0x05]))),
            TxRejection::DataNotEmpty { length: 2 }
        );
        assert_eq!(
            reject(&replaced(kind, TxField::To, rlp([0u8; 0]))),
            TxRejection::ContractCreation
        );
    }
    let entry = join(None, &[rlp([0x11u8; 20]), join(None, &[])]);
    let access_list = join(None, &[entry]);
    for kind in [TxKind::AccessList, TxKind::DynamicFee] {
        assert_eq!(
            reject(&replaced(kind, TxField::AccessList, access_list.clone())),
            TxRejection::AccessListNotEmpty
        );
        assert_eq!(
            reject(&replaced(kind, TxField::AccessList, rlp([0u8; 0]))).code(),
            "malformed"
        );
    }
}

#[test]
fn gas_limit_below_a_transfer_is_refused() {
    for kind in KINDS {
        assert_eq!(
            reject(&replaced(kind, TxField::GasLimit, rlp(TRANSFER_GAS - 1))),
            TxRejection::GasLimitTooLow {
                got: TRANSFER_GAS - 1,
                minimum: TRANSFER_GAS
            }
        );
    }
}

#[test]
fn priority_fee_above_max_fee_is_refused() {
    let raw = replaced(
        TxKind::DynamicFee,
        TxField::MaxPriorityFeePerGas,
        rlp(3_000_000_000u64),
    );
    assert_eq!(
        reject(&raw),
        TxRejection::PriorityFeeAboveMaxFee {
            max_priority_fee_per_gas: 3_000_000_000,
            max_fee_per_gas: 2_000_000_000
        }
    );
}

#[test]
fn the_eip_2681_reserved_nonce_is_refused() {
    assert_eq!(
        reject(&replaced(
            TxKind::DynamicFee,
            TxField::Nonce,
            rlp(U256::from(u64::MAX))
        )),
        TxRejection::NonceMax { got: u64::MAX }
    );
    let largest = U256::from(u64::MAX - 1);
    let raw = replaced(TxKind::Legacy, TxField::Nonce, rlp(largest));
    assert!(
        !matches!(decode(&raw, CHAIN_ID), Err(TxRejection::NonceMax { .. })),
        "2^64 - 2 is a valid nonce"
    );
}

#[test]
fn oversized_fields_are_refused() {
    let too_wide_fee = U256::from(u128::MAX) + U256::from(1);
    let cases = [
        (TxKind::DynamicFee, TxField::MaxFeePerGas, too_wide_fee, 128),
        (
            TxKind::DynamicFee,
            TxField::MaxPriorityFeePerGas,
            too_wide_fee,
            128,
        ),
        (TxKind::Legacy, TxField::GasPrice, too_wide_fee, 128),
        (
            TxKind::AccessList,
            TxField::Nonce,
            U256::from(u64::MAX) + U256::from(1),
            64,
        ),
        (
            TxKind::Legacy,
            TxField::GasLimit,
            U256::from(u64::MAX) + U256::from(1),
            64,
        ),
        (
            TxKind::DynamicFee,
            TxField::Value,
            U256::ONE << 255,
            VALUE_BITS_MAX,
        ),
    ];
    for (kind, field, value, bits_max) in cases {
        assert_eq!(
            reject(&replaced(kind, field, rlp(value))),
            TxRejection::FieldTooLarge { field, bits_max },
            "{field}"
        );
    }
    // Wider than any integer the chain knows.
    let mut wide = vec![0xa1];
    wide.extend([0x11; 33]);
    assert_eq!(
        reject(&replaced(TxKind::DynamicFee, TxField::Value, wide)),
        TxRejection::FieldTooLarge {
            field: TxField::Value,
            bits_max: 256
        }
    );
}

#[test]
fn codes_are_distinct_snake_case_and_listed() {
    let mut codes = TxRejection::CODES.to_vec();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), TxRejection::CODES.len());
    assert!(codes.iter().all(|code| {
        code.chars()
            .all(|character| character.is_ascii_lowercase() || character == '_')
    }));
    let examples = [
        TxRejection::UnprotectedLegacy,
        TxRejection::HighS,
        TxRejection::SignatureMismatch,
        TxRejection::from(crate::signature::SignatureError::Unrecoverable),
    ];
    assert!(
        examples
            .iter()
            .all(|rejection| TxRejection::CODES.contains(&rejection.code()))
    );
}

#[test]
fn effective_gas_price_follows_each_envelope() {
    let legacy = transfer(TxKind::Legacy);
    assert_eq!(legacy.effective_gas_price(0), Some(2_000_000_000));
    assert_eq!(
        legacy.effective_gas_price(2_000_000_000),
        Some(2_000_000_000)
    );
    assert_eq!(legacy.effective_gas_price(2_000_000_001), None);
    let dynamic = transfer(TxKind::DynamicFee);
    assert_eq!(dynamic.effective_gas_price(0), Some(1_000_000_000));
    assert_eq!(
        dynamic.effective_gas_price(500_000_000),
        Some(1_500_000_000)
    );
    assert_eq!(
        dynamic.effective_gas_price(1_500_000_000),
        Some(2_000_000_000)
    );
    assert_eq!(dynamic.effective_gas_price(2_000_000_001), None);
    let extreme = Transfer {
        max_fee_per_gas: u128::MAX,
        max_priority_fee_per_gas: u128::MAX,
        ..dynamic
    };
    assert_eq!(extreme.effective_gas_price(u128::MAX), Some(u128::MAX));
}

#[test]
fn max_cost_of_the_widest_fields_does_not_overflow() {
    let widest = Transfer {
        gas_limit: u64::MAX,
        max_fee_per_gas: u128::MAX,
        value: (U256::ONE << VALUE_BITS_MAX) - U256::ONE,
        ..transfer(TxKind::DynamicFee)
    };
    let fee = U256::from(u64::MAX) * U256::from(u128::MAX);
    assert_eq!(widest.max_cost(), fee + widest.value);
    assert_eq!(
        transfer(TxKind::Legacy).max_cost(),
        U256::from(21_000u64 * 2_000_000_000) + transfer(TxKind::Legacy).value
    );
}

#[test]
fn legacy_and_access_list_sign_one_gas_price() {
    let skewed = Transfer {
        max_priority_fee_per_gas: 1,
        ..transfer(TxKind::AccessList)
    };
    let signed = skewed.sign(&dev_key());
    assert_eq!(signed.transfer().max_priority_fee_per_gas, 2_000_000_000);
    assert_eq!(
        decode(signed.raw(), CHAIN_ID).expect("decodes").transfer(),
        signed.transfer()
    );
}

#[test]
fn wire_form_is_three_binaries_and_round_trips() {
    let verified = recovered(TxKind::DynamicFee);
    let wire = verified.to_wire();
    assert_eq!(
        wire.nonce_y,
        Some(verified.tx.signature().nonce_y().expect("y"))
    );
    let packed = rmp_serde::to_vec(&wire).expect("msgpack");
    assert_eq!(packed[0], 0x93, "array of three");
    assert_eq!(packed[1], 0xc4, "bin8 raw");
    assert_eq!(
        &packed[packed.len() - 34..packed.len() - 32],
        [0xc4, 32],
        "bin8 nonce y"
    );
    let unpacked: WireTx = rmp_serde::from_slice(&packed).expect("decode");
    assert_eq!(unpacked, wire);
    assert_eq!(unpacked.verify(CHAIN_ID), Ok(verified.clone()));
    assert_eq!(unpacked.decode_trusted(CHAIN_ID), Ok(verified.clone()));
    let other = SecretKey::from_bytes(&[7u8; 32]).expect("key");
    let forged = WireTx {
        public_key: other.public_key(),
        ..wire.clone()
    };
    assert_eq!(forged.verify(CHAIN_ID), Err(TxRejection::SignatureMismatch));
    let mut wrong_y = wire.clone();
    wrong_y.nonce_y = wrong_y.nonce_y.map(|mut y| {
        y.0[0] ^= 1;
        y
    });
    assert_eq!(
        wrong_y.verify(CHAIN_ID),
        Err(TxRejection::SignatureMismatch)
    );
    assert_eq!(verify_all(&[wrong_y], CHAIN_ID), None);
}

/// The largest wire form (raw bytes at the limit, a key and a nonce y) fits
/// `WIRE_TX_BYTES_MAX` exactly: the bound storage and proposals are read with.
#[test]
fn the_largest_wire_form_fits_its_limit() {
    let verified = recovered(TxKind::DynamicFee);
    let largest = WireTx {
        raw: vec![0xab; TX_BYTES_MAX],
        ..verified.to_wire()
    };
    assert!(largest.nonce_y.is_some());
    let packed = crate::codec::encode(&largest);
    assert_eq!(packed.len(), crate::limits::WIRE_TX_BYTES_MAX);
}

/// Pending rows and proposals stored before the nonce y existed hold `[raw, key]`: they still
/// decode, and verify with the square root taken by the validator.
#[test]
fn the_wire_form_without_a_nonce_y_still_decodes_and_verifies() {
    let verified = recovered(TxKind::Legacy);
    let wire = verified.to_wire();
    let packed =
        rmp_serde::to_vec(&(serde_bytes::Bytes::new(&wire.raw), wire.public_key)).expect("msgpack");
    assert_eq!(packed[0], 0x92, "array of two");
    let unpacked: WireTx = rmp_serde::from_slice(&packed).expect("decode");
    assert_eq!(unpacked.nonce_y, None);
    assert_eq!(
        unpacked.decode_trusted(CHAIN_ID).expect("decodes").nonce_y,
        None
    );
    assert_eq!(unpacked.verify(CHAIN_ID), Ok(verified.clone()));
    assert_eq!(
        verify_all(&[unpacked.clone(), wire], CHAIN_ID).map(|all| all.len()),
        Some(2)
    );
}

#[test]
fn verifying_all_together_agrees_with_one_by_one() {
    let wires: Vec<WireTx> = mixed_senders()
        .into_iter()
        .map(|(_, raw)| {
            decode(&raw, CHAIN_ID)
                .and_then(SignedTransfer::recover)
                .expect("recovers")
                .to_wire()
        })
        .collect();
    let one_by_one: Vec<VerifiedTx> = wires
        .iter()
        .map(|tx| tx.verify(CHAIN_ID).expect("valid"))
        .collect();
    assert_eq!(verify_all(&wires, CHAIN_ID), Some(one_by_one));
    let mut swapped = wires.clone();
    swapped[3].public_key = dev_key().public_key();
    assert_eq!(verify_all(&swapped, CHAIN_ID), None);
    // Another transaction's nonce y: each signature still verifies, the batch does not, and
    // one by one finds the transaction that carries it.
    let mut wrong_y = wires.clone();
    wrong_y[2].nonce_y = wires[4].nonce_y;
    assert_eq!(verify_all(&wrong_y, CHAIN_ID), None);
    assert_eq!(
        wrong_y[2].verify(CHAIN_ID),
        Err(TxRejection::SignatureMismatch)
    );
    assert!(wrong_y[4].verify(CHAIN_ID).is_ok());
    let mut undecodable = wires;
    undecodable[5].raw.push(0);
    assert_eq!(verify_all(&undecodable, CHAIN_ID), None);
}

/// Six transfers, alternately from the development key and another, of every envelope.
fn mixed_senders() -> Vec<(SecretKey, Vec<u8>)> {
    let other = SecretKey::from_bytes(&[7u8; 32]).expect("key");
    (0..6u64)
        .map(|nonce| {
            let key = if nonce % 2 == 0 {
                dev_key()
            } else {
                other.clone()
            };
            let raw = Transfer {
                nonce,
                ..transfer(KINDS[nonce as usize % 3])
            }
            .sign(&key)
            .raw()
            .to_vec();
            (key, raw)
        })
        .collect()
}

/// Each raw transaction paired with its sender's key in the form `encode` gives.
fn keyed(
    signed: &[(SecretKey, Vec<u8>)],
    encode: impl Fn(&PublicKey) -> Vec<u8>,
) -> Vec<Submission> {
    signed
        .iter()
        .map(|(key, raw)| Submission::with_key(raw.clone(), encode(&key.public_key())))
        .collect()
}

/// Each raw transaction with its sender's key (`x ‖ y`) and its signature's nonce y.
fn keyed_with_nonce_ys(signed: &[(SecretKey, Vec<u8>)]) -> Vec<Submission> {
    signed
        .iter()
        .map(|(key, raw)| Submission {
            nonce_y: Some(nonce_y_of(raw).0.to_vec()),
            ..Submission::with_key(raw.clone(), key.public_key().to_xy().to_vec())
        })
        .collect()
}

/// The y of the nonce point of `raw`'s signature, as a client works it out.
fn nonce_y_of(raw: &[u8]) -> NonceY {
    decode(raw, CHAIN_ID)
        .expect("decodes")
        .signature()
        .nonce_y()
        .expect("a signed nonce point")
}

/// The other y of the same x: `p − y`, of the other parity.
fn other_y(y: &NonceY) -> NonceY {
    let field_prime = U256::MAX - U256::from(0x1_0000_03d0u64);
    NonceY((field_prime - U256::from_be_bytes(y.0)).to_be_bytes())
}

fn sec1_uncompressed(key: &PublicKey) -> Vec<u8> {
    [&[0x04][..], &key.to_xy()].concat()
}

#[test]
fn admitting_with_sender_keys_gives_what_recovery_gives() {
    let signed = mixed_senders();
    let recovered: Vec<TxResult<VerifiedTx>> = signed
        .iter()
        .map(|(_, raw)| decode(raw, CHAIN_ID).and_then(SignedTransfer::recover))
        .collect();
    assert!(recovered.iter().all(Result::is_ok));
    let raws: Vec<Submission> = signed
        .iter()
        .map(|(_, raw)| Submission::raw(raw.clone()))
        .collect();
    assert_eq!(admit(&raws, CHAIN_ID), recovered);
    let xy = keyed(&signed, |key| key.to_xy().to_vec());
    assert_eq!(admit(&xy, CHAIN_ID), recovered);
    let sec1 = keyed(&signed, sec1_uncompressed);
    assert_eq!(admit(&sec1, CHAIN_ID), recovered);
    // Keyed and unkeyed in one batch.
    let mut mixed = xy;
    mixed[1].sender_key = None;
    mixed[4].sender_key = None;
    assert_eq!(admit(&mixed, CHAIN_ID), recovered);
    // With the nonce ys too, alone, among others, and without a key.
    let with_nonce_ys = keyed_with_nonce_ys(&signed);
    assert_eq!(admit(&with_nonce_ys, CHAIN_ID), recovered);
    assert_eq!(admit(&with_nonce_ys[..1], CHAIN_ID), recovered[..1]);
    let mut mixed = with_nonce_ys;
    mixed[1].nonce_y = None;
    mixed[2].sender_key = None;
    mixed[3] = Submission::raw(mixed[3].raw.clone());
    assert_eq!(admit(&mixed, CHAIN_ID), recovered);
}

#[test]
fn the_other_y_of_the_nonce_x_is_not_the_nonce_y() {
    let y = nonce_y_of(&mixed_senders()[0].1);
    assert_ne!(other_y(&y), y);
    assert_ne!(other_y(&y).0[31] & 1, y.0[31] & 1);
    assert_eq!(other_y(&other_y(&y)), y);
}

#[test]
fn a_wrong_nonce_y_refuses_only_its_transaction() {
    let signed = mixed_senders();
    let right = keyed_with_nonce_ys(&signed);
    let wrong_ys = [
        (
            "the other y of the same x",
            other_y(&nonce_y_of(&signed[1].1)),
        ),
        ("another signature's", nonce_y_of(&signed[3].1)),
        ("no point's", NonceY([0xff; 32])),
        ("zero", NonceY([0; 32])),
    ];
    for (what, wrong_y) in wrong_ys {
        let mut submissions = right.clone();
        submissions[1].nonce_y = Some(wrong_y.0.to_vec());
        let results = admit(&submissions, CHAIN_ID);
        assert_eq!(results[1], Err(TxRejection::NonceYMismatch), "{what}");
        for (index, result) in results.iter().enumerate() {
            if index != 1 {
                let verified = result.as_ref().expect("the others are admitted");
                assert_eq!(verified.sender, signed[index].0.address(), "{what}");
                assert_eq!(verified.nonce_y, Some(nonce_y_of(&signed[index].1)));
            }
        }
        // Alone (the single check's path), and without a key (recovery's).
        assert_eq!(
            admit(&submissions[1..2], CHAIN_ID),
            vec![Err(TxRejection::NonceYMismatch)],
            "{what}"
        );
        submissions[1].sender_key = None;
        assert_eq!(
            admit(&submissions[1..2], CHAIN_ID),
            vec![Err(TxRejection::NonceYMismatch)],
            "{what}"
        );
    }
}

#[test]
fn a_nonce_y_that_is_not_32_bytes_is_refused_with_its_length() {
    let signed = mixed_senders();
    let right = keyed_with_nonce_ys(&signed);
    for length in [0, 31, 33, 64] {
        let mut submissions = right.clone();
        submissions[2].nonce_y = Some(vec![1; length]);
        let results = admit(&submissions, CHAIN_ID);
        assert_eq!(results[2], Err(TxRejection::InvalidNonceY { length }));
        assert_eq!(results.iter().filter(|result| result.is_ok()).count(), 5);
    }
}

#[test]
fn a_compressed_sender_key_is_accepted() {
    let signed = mixed_senders();
    let compressed = keyed(&signed, |key| {
        let [x, y] = [&key.to_xy()[..32], &key.to_xy()[32..]];
        [&[0x02 | (y[31] & 1)][..], x].concat()
    });
    assert!(admit(&compressed, CHAIN_ID).iter().all(Result::is_ok));
}

#[test]
fn a_wrong_sender_key_refuses_only_its_transaction() {
    let signed = mixed_senders();
    let mut submissions = keyed(&signed, |key| key.to_xy().to_vec());
    // Transaction 1 was signed by the other key; claim the development key instead.
    submissions[1].sender_key = Some(dev_key().public_key().to_xy().to_vec());
    let results = admit(&submissions, CHAIN_ID);
    assert_eq!(results[1], Err(TxRejection::SignatureMismatch));
    for (index, result) in results.iter().enumerate() {
        if index != 1 {
            let verified = result.as_ref().expect("the others are admitted");
            assert_eq!(verified.sender, signed[index].0.address());
        }
    }
}

#[test]
fn a_sender_key_that_is_no_key_is_refused_with_its_length() {
    let signed = mixed_senders();
    let not_on_curve = [0x04u8; 65];
    let cases: [(&[u8], usize); 4] = [
        (&[], 0),
        (&[0x02; 20], 20),
        (&not_on_curve, 65),
        (&not_on_curve[1..], 64),
    ];
    for (key, length) in cases {
        let submission = Submission::with_key(signed[0].1.clone(), key.to_vec());
        assert_eq!(
            admit(&[submission], CHAIN_ID),
            vec![Err(TxRejection::InvalidSenderKey { length })],
            "{length} bytes"
        );
    }
}

#[test]
fn an_undecodable_transaction_with_a_key_is_refused_as_undecodable() {
    let signed = mixed_senders();
    let mut submissions = keyed(&signed, |key| key.to_xy().to_vec());
    submissions[2].raw.push(0);
    let results = admit(&submissions, CHAIN_ID);
    assert_eq!(
        results[2].as_ref().map_err(TxRejection::code),
        Err("trailing_bytes")
    );
    assert_eq!(results.iter().filter(|result| result.is_ok()).count(), 5);
}

/// Property tests: random transfers round trip; random corruption never panics.
#[cfg(not(target_arch = "wasm32"))]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn kinds() -> impl Strategy<Value = TxKind> {
        prop_oneof![
            Just(TxKind::Legacy),
            Just(TxKind::AccessList),
            Just(TxKind::DynamicFee)
        ]
    }

    /// Any transfer the chain accepts: priority fee at most the max fee, value below 2^255.
    fn transfers() -> impl Strategy<Value = Transfer> {
        (
            kinds(),
            any::<u64>(),
            0..u64::MAX,
            any::<u128>(),
            any::<u128>(),
            TRANSFER_GAS..=u64::MAX,
            any::<[u8; 20]>(),
            any::<[u8; 32]>(),
        )
            .prop_map(
                |(kind, chain_id, nonce, max_fee, priority, gas_limit, to, mut value)| {
                    value[0] &= 0x7f;
                    let max_priority_fee_per_gas = match kind {
                        TxKind::DynamicFee => priority % max_fee.saturating_add(1).max(1),
                        TxKind::Legacy | TxKind::AccessList => max_fee,
                    };
                    Transfer {
                        kind,
                        chain_id,
                        nonce,
                        max_fee_per_gas: max_fee,
                        max_priority_fee_per_gas: max_priority_fee_per_gas.min(max_fee),
                        gas_limit,
                        to: Address(to),
                        value: U256::from_be_bytes(value),
                    }
                },
            )
    }

    /// Bytes of a valid secret key (`SecretKey` is deliberately not `Debug`, so proptest
    /// carries the bytes).
    fn key_bytes() -> impl Strategy<Value = [u8; 32]> {
        any::<[u8; 32]>().prop_filter("not a valid secret key", |bytes| {
            SecretKey::from_bytes(bytes).is_ok()
        })
    }

    /// One way to corrupt a transaction.
    #[derive(Debug, Clone)]
    enum Mutation {
        Replace { index: usize, byte: u8 },
        Insert { index: usize, byte: u8 },
        Remove { index: usize },
        Truncate { length: usize },
    }

    fn mutations() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            (any::<usize>(), any::<u8>())
                .prop_map(|(index, byte)| Mutation::Replace { index, byte }),
            (any::<usize>(), any::<u8>())
                .prop_map(|(index, byte)| Mutation::Insert { index, byte }),
            any::<usize>().prop_map(|index| Mutation::Remove { index }),
            any::<usize>().prop_map(|length| Mutation::Truncate { length }),
        ]
    }

    fn apply(raw: &mut Vec<u8>, mutation: &Mutation) {
        let length = raw.len().max(1);
        match *mutation {
            Mutation::Replace { index, byte } => {
                if let Some(slot) = raw.get_mut(index % length) {
                    *slot = byte;
                }
            }
            Mutation::Insert { index, byte } => raw.insert(index % (raw.len() + 1), byte),
            Mutation::Remove { index } => {
                if !raw.is_empty() {
                    raw.remove(index % length);
                }
            }
            Mutation::Truncate { length: kept } => raw.truncate(kept % length),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn signed_transfers_round_trip(transfer in transfers(), key_bytes in key_bytes()) {
            let key = SecretKey::from_bytes(&key_bytes).expect("filtered valid");
            let signed = transfer.sign(&key);
            let decoded = decode(signed.raw(), transfer.chain_id).expect("decodes");
            prop_assert_eq!(decoded.transfer(), &transfer);
            prop_assert_eq!(decoded.hash(), keccak256(signed.raw()));
            prop_assert_eq!(&decoded, &signed);
            let verified = decoded.clone().recover().expect("recovers");
            prop_assert_eq!(verified.sender, key.address());
            prop_assert_eq!(verified.hash(), signed.hash());
            let by_key = decoded.verify_with(key.public_key()).expect("verifies");
            prop_assert_eq!(&by_key, &verified);
            // Named with the sender's key, in a batch of two (the batch check's path), and
            // with the nonce y too.
            let keyed = Submission::with_key(
                signed.raw().to_vec(),
                key.public_key().to_xy().to_vec(),
            );
            let with_nonce_y = Submission {
                nonce_y: Some(signed.signature().nonce_y().expect("a nonce point").0.to_vec()),
                ..keyed.clone()
            };
            let admitted = admit(&[keyed, with_nonce_y], transfer.chain_id);
            prop_assert_eq!(admitted, vec![Ok(verified.clone()), Ok(verified)]);
        }

        #[test]
        fn corrupted_transactions_never_panic(
            transfer in transfers(),
            mutations in proptest::collection::vec(mutations(), 1..4),
        ) {
            let mut raw = transfer.sign(&dev_key()).raw().to_vec();
            for mutation in &mutations {
                apply(&mut raw, mutation);
            }
            if let Ok(decoded) = decode(&raw, transfer.chain_id) {
                // Strict decoding means one transfer has exactly one encoding.
                let encoded = envelope::encode_signed(decoded.transfer(), decoded.signature());
                prop_assert_eq!(&encoded, &raw);
                // Named as the development key's: admitted exactly when that is whose it is.
                let recovered = decoded.recover();
                // With the nonce y of the uncorrupted signature too: admitted exactly when
                // that is still this signature's.
                let keyed = Submission::with_key(
                    raw.clone(),
                    dev_key().public_key().to_xy().to_vec(),
                );
                let original_nonce_y = transfer.sign(&dev_key()).signature().nonce_y();
                let with_nonce_y = Submission {
                    nonce_y: original_nonce_y.as_ref().ok().map(|y| y.0.to_vec()),
                    ..keyed.clone()
                };
                let admitted = admit(&[keyed.clone(), keyed, with_nonce_y], transfer.chain_id);
                let dev_signed = recovered
                    .as_ref()
                    .is_ok_and(|verified| verified.sender == dev_key().address());
                prop_assert_eq!(admitted[0].is_ok(), dev_signed);
                prop_assert_eq!(&admitted[0], &admitted[1]);
                let same_nonce_y = recovered
                    .as_ref()
                    .is_ok_and(|verified| verified.nonce_y == original_nonce_y.ok());
                prop_assert_eq!(admitted[2].is_ok(), dev_signed && same_nonce_y);
            }
        }
    }
}
