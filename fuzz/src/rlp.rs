//! An independent RLP encoder for signed transfers, written from the Ethereum yellow paper
//! (appendix B) and EIP-155/2718/2930/1559 rather than with `alloy-rlp`, which the ledger's
//! decoder uses: it is the oracle that a decoded transaction had its one canonical encoding.

use ledger::U256;
use ledger::signature::RecoverableSignature;
use ledger::transaction::{Transfer, TxKind};

/// The raw signed transaction a wallet produces for `transfer` and `signature`: no call data, an
/// empty access list for typed envelopes, EIP-155 `v` for legacy ones.
pub fn encode_signed(transfer: &Transfer, signature: &RecoverableSignature) -> Vec<u8> {
    let parity = u64::from(signature.y_parity);
    let v = match transfer.kind {
        // v = chain_id * 2 + 35 + parity, in 256 bits: it passes 64 bits for large chain ids.
        TxKind::Legacy => U256::from(transfer.chain_id) * U256::from(2u8) + U256::from(35 + parity),
        TxKind::AccessList | TxKind::DynamicFee => U256::from(parity),
    };
    let r = U256::from_be_bytes(signature.r.0);
    let s = U256::from_be_bytes(signature.s.0);
    encode_with(transfer, v, r, s)
}

/// The envelope of `transfer` with any `v` (legacy) or y parity (typed), `r` and `s`: for seeds
/// a wallet would not produce (unprotected, high `s`, a bad recovery id).
pub fn encode_with(transfer: &Transfer, v: U256, r: U256, s: U256) -> Vec<u8> {
    let mut fields = Vec::new();
    let type_byte = match transfer.kind {
        TxKind::Legacy => None,
        TxKind::AccessList => Some(1u8),
        TxKind::DynamicFee => Some(2u8),
    };
    if type_byte.is_some() {
        integer(&mut fields, U256::from(transfer.chain_id));
    }
    integer(&mut fields, U256::from(transfer.nonce));
    if transfer.kind == TxKind::DynamicFee {
        integer(&mut fields, U256::from(transfer.max_priority_fee_per_gas));
    }
    integer(&mut fields, U256::from(transfer.max_fee_per_gas));
    integer(&mut fields, U256::from(transfer.gas_limit));
    string(&mut fields, &transfer.to.0);
    integer(&mut fields, transfer.value);
    string(&mut fields, &[]);
    if type_byte.is_some() {
        list(&mut fields, &[]);
    }
    integer(&mut fields, v);
    integer(&mut fields, r);
    integer(&mut fields, s);
    let mut out = Vec::from_iter(type_byte);
    list(&mut out, &fields);
    out
}

/// An integer: its big-endian bytes without leading zeros, as a string (zero is empty).
fn integer(out: &mut Vec<u8>, value: U256) {
    let bytes = value.to_be_bytes::<32>();
    let first = bytes
        .iter()
        .position(|&byte| byte != 0)
        .unwrap_or(bytes.len());
    string(out, &bytes[first..]);
}

/// A byte string: a single byte below 0x80 is itself, anything else has a 0x80-based prefix.
fn string(out: &mut Vec<u8>, bytes: &[u8]) {
    if let [byte] = bytes {
        if *byte < 0x80 {
            out.push(*byte);
            return;
        }
    }
    prefix(out, 0x80, bytes.len());
    out.extend_from_slice(bytes);
}

/// A list of already encoded items.
fn list(out: &mut Vec<u8>, payload: &[u8]) {
    prefix(out, 0xc0, payload.len());
    out.extend_from_slice(payload);
}

/// `offset + length` for payloads under 56 bytes, else `offset + 55 + bytes of length` and the
/// length's big-endian bytes without leading zeros.
fn prefix(out: &mut Vec<u8>, offset: u8, length: usize) {
    if length < 56 {
        out.push(offset + length as u8);
        return;
    }
    let bytes = length.to_be_bytes();
    let first = bytes
        .iter()
        .position(|&byte| byte != 0)
        .unwrap_or(bytes.len());
    out.push(offset + 55 + (bytes.len() - first) as u8);
    out.extend_from_slice(&bytes[first..]);
}
