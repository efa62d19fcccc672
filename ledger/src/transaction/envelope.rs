//! The RLP shapes of the three envelopes: strict structural decoding and wallet-exact encoding.
//!
//! Decoding only checks structure (canonical RLP, field count, no trailing bytes, the
//! recipient's length); the chain's rules live in `rules`. Every slice returned borrows the
//! input, so nothing is allocated on the strength of a length read from it.

use alloy_rlp::{Decodable, Encodable, Header};

use super::rejection::{TrailingPosition, TxField, TxRejection, TxResult};
use super::{Transfer, TxKind};
use crate::primitives::{Address, U256};
use crate::signature::RecoverableSignature;

/// EIP-2718 type byte of an EIP-2930 (access list) transaction.
pub(super) const ACCESS_LIST_TYPE: u8 = 0x01;
/// EIP-2718 type byte of an EIP-1559 (dynamic fee) transaction.
pub(super) const DYNAMIC_FEE_TYPE: u8 = 0x02;
/// Type bytes are below this; a first byte at or above it starts an RLP item.
const TYPE_BYTE_END: u8 = 0x80;
/// A first byte at or above this starts an RLP list: a legacy transaction.
const LIST_PREFIX_START: u8 = 0xc0;
/// The RLP encoding of an empty list: what an empty access list looks like.
const EMPTY_LIST: u8 = 0xc0;

/// Fields of a legacy transaction: nonce, gas price, gas limit, to, value, data, v, r, s.
const LEGACY_FIELDS: usize = 9;
/// Fields of an EIP-2930 transaction: the legacy ones plus chain id and access list.
const ACCESS_LIST_FIELDS: usize = 11;
/// Fields of an EIP-1559 transaction: the EIP-2930 ones with the gas price split in two.
const DYNAMIC_FEE_FIELDS: usize = 12;

/// A signed envelope as it appears on the wire, before the chain's rules are applied.
#[derive(Debug)]
pub(super) struct EnvelopeFields<'a> {
    /// Which envelope this is.
    pub kind: TxKind,
    /// The chain id of a typed transaction; legacy ones carry it inside `v`.
    pub chain_id: Option<U256>,
    /// The sender's nonce.
    pub nonce: U256,
    /// Tip per gas; for legacy and EIP-2930 transactions the gas price.
    pub max_priority_fee_per_gas: U256,
    /// Fee cap per gas; for legacy and EIP-2930 transactions the gas price.
    pub max_fee_per_gas: U256,
    /// The gas limit.
    pub gas_limit: U256,
    /// The recipient, `None` for contract creation.
    pub to: Option<Address>,
    /// The amount transferred.
    pub value: U256,
    /// The call data.
    pub data: &'a [u8],
    /// The payload of the access list (empty for legacy transactions).
    pub access_list: &'a [u8],
    /// Legacy `v` or typed y parity.
    pub v: U256,
    /// Signature `r`.
    pub r: U256,
    /// Signature `s`.
    pub s: U256,
}

/// Decodes the structure of a raw transaction of any of the three envelopes.
pub(super) fn decode_envelope(raw: &[u8]) -> TxResult<EnvelopeFields<'_>> {
    let Some((&first, rest)) = raw.split_first() else {
        return Err(malformed(
            TxField::Envelope,
            alloy_rlp::Error::InputTooShort,
        ));
    };
    match first {
        LIST_PREFIX_START.. => decode_legacy(list_payload(raw)?),
        ACCESS_LIST_TYPE => decode_access_list(list_payload(rest)?),
        DYNAMIC_FEE_TYPE => decode_dynamic_fee(list_payload(rest)?),
        0..TYPE_BYTE_END => Err(TxRejection::UnsupportedType { type_byte: first }),
        // An RLP string where a transaction should be: neither a type byte nor a list.
        _ => Err(malformed(
            TxField::Envelope,
            alloy_rlp::Error::UnexpectedString,
        )),
    }
}

fn decode_legacy(payload: &[u8]) -> TxResult<EnvelopeFields<'_>> {
    let mut reader = ListReader::new(payload, LEGACY_FIELDS);
    let nonce = reader.integer(TxField::Nonce)?;
    let gas_price = reader.integer(TxField::GasPrice)?;
    let gas_limit = reader.integer(TxField::GasLimit)?;
    let to = reader.recipient()?;
    let value = reader.integer(TxField::Value)?;
    let data = reader.bytes(TxField::Data)?;
    let v = reader.integer(TxField::V)?;
    let r = reader.integer(TxField::R)?;
    let s = reader.integer(TxField::S)?;
    reader.finish()?;
    Ok(EnvelopeFields {
        kind: TxKind::Legacy,
        chain_id: None,
        nonce,
        max_priority_fee_per_gas: gas_price,
        max_fee_per_gas: gas_price,
        gas_limit,
        to,
        value,
        data,
        access_list: &[],
        v,
        r,
        s,
    })
}

fn decode_access_list(payload: &[u8]) -> TxResult<EnvelopeFields<'_>> {
    let mut reader = ListReader::new(payload, ACCESS_LIST_FIELDS);
    let chain_id = reader.integer(TxField::ChainId)?;
    let nonce = reader.integer(TxField::Nonce)?;
    let gas_price = reader.integer(TxField::GasPrice)?;
    let gas_limit = reader.integer(TxField::GasLimit)?;
    let to = reader.recipient()?;
    let value = reader.integer(TxField::Value)?;
    let data = reader.bytes(TxField::Data)?;
    let access_list = reader.list(TxField::AccessList)?;
    let v = reader.integer(TxField::V)?;
    let r = reader.integer(TxField::R)?;
    let s = reader.integer(TxField::S)?;
    reader.finish()?;
    Ok(EnvelopeFields {
        kind: TxKind::AccessList,
        chain_id: Some(chain_id),
        nonce,
        max_priority_fee_per_gas: gas_price,
        max_fee_per_gas: gas_price,
        gas_limit,
        to,
        value,
        data,
        access_list,
        v,
        r,
        s,
    })
}

fn decode_dynamic_fee(payload: &[u8]) -> TxResult<EnvelopeFields<'_>> {
    let mut reader = ListReader::new(payload, DYNAMIC_FEE_FIELDS);
    let chain_id = reader.integer(TxField::ChainId)?;
    let nonce = reader.integer(TxField::Nonce)?;
    let max_priority_fee_per_gas = reader.integer(TxField::MaxPriorityFeePerGas)?;
    let max_fee_per_gas = reader.integer(TxField::MaxFeePerGas)?;
    let gas_limit = reader.integer(TxField::GasLimit)?;
    let to = reader.recipient()?;
    let value = reader.integer(TxField::Value)?;
    let data = reader.bytes(TxField::Data)?;
    let access_list = reader.list(TxField::AccessList)?;
    let v = reader.integer(TxField::V)?;
    let r = reader.integer(TxField::R)?;
    let s = reader.integer(TxField::S)?;
    reader.finish()?;
    Ok(EnvelopeFields {
        kind: TxKind::DynamicFee,
        chain_id: Some(chain_id),
        nonce,
        max_priority_fee_per_gas,
        max_fee_per_gas,
        gas_limit,
        to,
        value,
        data,
        access_list,
        v,
        r,
        s,
    })
}

fn malformed(field: TxField, error: alloy_rlp::Error) -> TxRejection {
    TxRejection::Malformed { field, error }
}

/// The payload of the one RLP list that must make up all of `bytes`.
fn list_payload(bytes: &[u8]) -> TxResult<&[u8]> {
    let mut buffer = bytes;
    let header =
        Header::decode(&mut buffer).map_err(|error| malformed(TxField::Envelope, error))?;
    if !header.list {
        return Err(malformed(
            TxField::Envelope,
            alloy_rlp::Error::UnexpectedString,
        ));
    }
    // `Header::decode` has checked the payload is present; stay panic-free regardless.
    let (payload, rest) = buffer
        .split_at_checked(header.payload_length)
        .ok_or_else(|| malformed(TxField::Envelope, alloy_rlp::Error::InputTooShort))?;
    if !rest.is_empty() {
        return Err(TxRejection::TrailingBytes {
            count: rest.len(),
            position: TrailingPosition::AfterList,
        });
    }
    Ok(payload)
}

/// Reads the fields of one RLP list in order, counting them so a short list is reported as a
/// wrong field count rather than as a truncated item.
struct ListReader<'a> {
    remaining: &'a [u8],
    fields_expected: usize,
    fields_read: usize,
}

impl<'a> ListReader<'a> {
    fn new(payload: &'a [u8], fields_expected: usize) -> Self {
        Self {
            remaining: payload,
            fields_expected,
            fields_read: 0,
        }
    }

    /// Refuses to read past the end of the list, then counts the field about to be read.
    fn next_field(&mut self, field: TxField) -> TxResult<()> {
        if self.remaining.is_empty() {
            return Err(malformed(
                field,
                alloy_rlp::Error::ListLengthMismatch {
                    expected: self.fields_expected,
                    got: self.fields_read,
                },
            ));
        }
        self.fields_read += 1;
        Ok(())
    }

    /// A canonical RLP integer of at most 256 bits; wider ones are `FieldTooLarge`.
    fn integer(&mut self, field: TxField) -> TxResult<U256> {
        self.next_field(field)?;
        U256::decode(&mut self.remaining).map_err(|error| match error {
            alloy_rlp::Error::Overflow => TxRejection::FieldTooLarge {
                field,
                bits_max: U256::BITS,
            },
            error => malformed(field, error),
        })
    }

    /// An RLP byte string, borrowed from the input.
    fn bytes(&mut self, field: TxField) -> TxResult<&'a [u8]> {
        self.next_field(field)?;
        Header::decode_bytes(&mut self.remaining, false).map_err(|error| malformed(field, error))
    }

    /// The payload of an RLP list, borrowed from the input.
    fn list(&mut self, field: TxField) -> TxResult<&'a [u8]> {
        self.next_field(field)?;
        Header::decode_bytes(&mut self.remaining, true).map_err(|error| malformed(field, error))
    }

    /// `to`: 20 bytes, or empty for contract creation.
    fn recipient(&mut self) -> TxResult<Option<Address>> {
        let bytes = self.bytes(TxField::To)?;
        if bytes.is_empty() {
            return Ok(None);
        }
        Address::from_slice(bytes)
            .map(Some)
            .ok_or_else(|| malformed(TxField::To, alloy_rlp::Error::UnexpectedLength))
    }

    /// Checks the list held exactly the expected fields.
    ///
    /// Leftover bytes that are themselves well-formed RLP items are extra fields (a wrong field
    /// count, `Malformed`); anything else is garbage after the last field (`TrailingBytes`).
    fn finish(self) -> TxResult<()> {
        if self.remaining.is_empty() {
            return Ok(());
        }
        let mut rest = self.remaining;
        let mut extra_fields = 0;
        // Each item is at least one byte, so this loop runs at most `rest.len()` times.
        while !rest.is_empty() {
            let Ok(header) = Header::decode(&mut rest) else {
                return Err(self.trailing());
            };
            let Some(after) = rest.get(header.payload_length..) else {
                return Err(self.trailing());
            };
            rest = after;
            extra_fields += 1;
        }
        Err(malformed(
            TxField::Envelope,
            alloy_rlp::Error::ListLengthMismatch {
                expected: self.fields_expected,
                got: self.fields_read + extra_fields,
            },
        ))
    }

    fn trailing(&self) -> TxRejection {
        TxRejection::TrailingBytes {
            count: self.remaining.len(),
            position: TrailingPosition::InsideList,
        }
    }
}

/// An empty RLP list, for the access list this chain always leaves empty.
struct EmptyList;

impl Encodable for EmptyList {
    fn encode(&self, out: &mut dyn alloy_rlp::BufMut) {
        out.put_u8(EMPTY_LIST);
    }

    fn length(&self) -> usize {
        1
    }
}

/// An empty RLP byte string, for the call data this chain always leaves empty.
const EMPTY_DATA: [u8; 0] = [];

/// Where in an encoding the signature part goes.
enum SignaturePart<'a> {
    /// The bytes a sender signs: EIP-155 `chain_id, 0, 0` for legacy, nothing for typed.
    Unsigned,
    /// The signed envelope.
    Signed(&'a RecoverableSignature),
}

/// The bytes whose keccak256 the sender signs.
pub(super) fn encode_for_signing(transfer: &Transfer) -> Vec<u8> {
    encode(transfer, SignaturePart::Unsigned)
}

/// The raw signed transaction, byte for byte as a wallet produces it.
pub(super) fn encode_signed(transfer: &Transfer, signature: &RecoverableSignature) -> Vec<u8> {
    encode(transfer, SignaturePart::Signed(signature))
}

fn encode(transfer: &Transfer, part: SignaturePart<'_>) -> Vec<u8> {
    let gas_price = transfer.max_fee_per_gas;
    let to = transfer.to.0;
    let (r, s, y_parity) = match part {
        SignaturePart::Signed(signature) => (
            U256::from_be_bytes(signature.r.0),
            U256::from_be_bytes(signature.s.0),
            u8::from(signature.y_parity),
        ),
        SignaturePart::Unsigned => (U256::ZERO, U256::ZERO, 0),
    };
    let signed = matches!(part, SignaturePart::Signed(_));
    // EIP-155: the legacy `v` carries the chain id; unsigned, the chain id stands in for it.
    let legacy_v = if signed {
        u128::from(transfer.chain_id) * 2 + 35 + u128::from(y_parity)
    } else {
        u128::from(transfer.chain_id)
    };
    let mut fields: Vec<&dyn Encodable> = Vec::with_capacity(DYNAMIC_FEE_FIELDS);
    let type_byte = match transfer.kind {
        TxKind::Legacy => {
            fields.extend([&transfer.nonce as &dyn Encodable, &gas_price]);
            fields.extend([&transfer.gas_limit as &dyn Encodable, &to, &transfer.value]);
            fields.extend([&EMPTY_DATA as &dyn Encodable, &legacy_v, &r, &s]);
            None
        }
        TxKind::AccessList => {
            fields.extend([
                &transfer.chain_id as &dyn Encodable,
                &transfer.nonce,
                &gas_price,
            ]);
            fields.extend([&transfer.gas_limit as &dyn Encodable, &to, &transfer.value]);
            fields.extend([&EMPTY_DATA as &dyn Encodable, &EmptyList]);
            Some(ACCESS_LIST_TYPE)
        }
        TxKind::DynamicFee => {
            fields.extend([&transfer.chain_id as &dyn Encodable, &transfer.nonce]);
            fields.extend([
                &transfer.max_priority_fee_per_gas as &dyn Encodable,
                &transfer.max_fee_per_gas,
            ]);
            fields.extend([&transfer.gas_limit as &dyn Encodable, &to, &transfer.value]);
            fields.extend([&EMPTY_DATA as &dyn Encodable, &EmptyList]);
            Some(DYNAMIC_FEE_TYPE)
        }
    };
    if type_byte.is_some() && signed {
        fields.extend([&y_parity as &dyn Encodable, &r, &s]);
    }
    write_list(type_byte, &fields)
}

/// Writes an optional type byte and then the RLP list of `fields`.
fn write_list(type_byte: Option<u8>, fields: &[&dyn Encodable]) -> Vec<u8> {
    let payload_length: usize = fields.iter().map(|field| field.length()).sum();
    let header = Header {
        list: true,
        payload_length,
    };
    let mut out = Vec::with_capacity(1 + header.length() + payload_length);
    out.extend(type_byte);
    header.encode(&mut out);
    for field in fields {
        field.encode(&mut out);
    }
    out
}
