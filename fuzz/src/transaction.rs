//! `transaction_decode`: Ethereum raw transactions, as `POST /v1/txs`, `POST /v1/tx` and
//! `eth_sendRawTransaction` receive them.

use ledger::api::Reason;
use ledger::codec;
use ledger::limits::{TX_BYTES_MAX, VALUE_BITS_MAX};
use ledger::primitives::Address;
use ledger::rpc;
use ledger::transaction::{self, SignedTransfer, TRANSFER_GAS, TxKind, TxRejection, WireTx};
use ledger::{U256, keccak256};

use crate::{BASE_FEE_PER_GAS, CHAIN_ID, rlp};

/// The chains every input is decoded for: the seeds' chain, and the largest chain id, where the
/// legacy `v` (chain id × 2 + 35 + parity) no longer fits 64 bits.
pub const CHAIN_IDS: [u64; 2] = [CHAIN_ID, u64::MAX];

/// Decodes `data` for each of [`CHAIN_IDS`] and checks what must hold of what decodes.
pub fn check(data: &[u8]) {
    for chain_id in CHAIN_IDS {
        match transaction::decode(data, chain_id) {
            Ok(signed) => check_decoded(data, chain_id, &signed),
            Err(rejection) => check_rejection(&rejection),
        }
    }
}

/// A refusal has one of the documented codes and converts to the API's and JSON-RPC's forms.
pub fn check_rejection(rejection: &TxRejection) {
    assert!(
        TxRejection::CODES.contains(&rejection.code()),
        "undocumented rejection code {}",
        rejection.code()
    );
    let reason = Reason::from(rejection);
    assert_eq!(reason.code, rejection.code());
    rpc::rejection_error(&reason);
}

fn check_decoded(data: &[u8], chain_id: u64, signed: &SignedTransfer) {
    assert!(data.len() <= TX_BYTES_MAX);
    assert_eq!(signed.raw(), data);
    assert_eq!(signed.hash(), keccak256(data));
    check_rules(chain_id, signed);
    // Decoding is strict: what it accepts is the one canonical encoding of what it decoded.
    let encoded = rlp::encode_signed(signed.transfer(), signed.signature());
    assert_eq!(
        hex::encode(&encoded),
        hex::encode(data),
        "decode accepted a transaction that is not the canonical encoding of its fields"
    );
    assert_eq!(transaction::decode(&encoded, chain_id).as_ref(), Ok(signed));
    // What eth_getTransactionByHash formats from stored bytes, pending and committed.
    rpc::transaction_object(data, chain_id, Address::ZERO, None, BASE_FEE_PER_GAS)
        .expect("a decoded transaction formats as a JSON-RPC object");
    check_signature(data, chain_id, signed);
}

/// Every stateless rule `decode` promises, checked on its output.
fn check_rules(chain_id: u64, signed: &SignedTransfer) {
    let transfer = signed.transfer();
    assert_eq!(transfer.chain_id, chain_id);
    assert_ne!(transfer.nonce, u64::MAX);
    assert!(transfer.gas_limit >= TRANSFER_GAS);
    assert!(transfer.max_priority_fee_per_gas <= transfer.max_fee_per_gas);
    assert!(transfer.value.bit_len() <= VALUE_BITS_MAX);
    if transfer.kind != TxKind::DynamicFee {
        assert_eq!(transfer.max_priority_fee_per_gas, transfer.max_fee_per_gas);
    }
    // max_cost cannot overflow for a decoded transfer (its documentation says why).
    let exact = (U256::from(transfer.gas_limit) * U256::from(transfer.max_fee_per_gas))
        .checked_add(transfer.value)
        .expect("gas × max fee + value fits 256 bits");
    assert_eq!(transfer.max_cost(), exact);
    let signature = signed.signature();
    assert_ne!(signature.r.0, [0; 32]);
    assert_ne!(signature.s.0, [0; 32]);
    assert!(
        signature.s.0[0] < 0x80,
        "s must be in the low half of the order"
    );
}

/// Recovery, and that verifying against the recovered key agrees with it exactly.
fn check_signature(data: &[u8], chain_id: u64, signed: &SignedTransfer) {
    let verified = match signed.clone().recover() {
        Ok(verified) => verified,
        Err(rejection) => return check_rejection(&rejection),
    };
    assert_eq!(verified.sender, verified.public_key.address());
    assert_eq!(verified.tx.raw(), data);
    // The validators' path (verify against the carried key) accepts what recovery accepted.
    let wire = verified.to_wire();
    assert_eq!(wire.verify(chain_id).as_ref(), Ok(&verified));
    assert_eq!(wire.decode_trusted(chain_id).as_ref(), Ok(&verified));
    let bytes = codec::encode(&wire);
    assert_eq!(
        codec::decode::<WireTx>(&bytes, bytes.len()).as_ref(),
        Ok(&wire)
    );
    // The parity-flipped twin is another transaction that must not verify for this key.
    let mut flipped = *signed.signature();
    flipped.y_parity = !flipped.y_parity;
    let twin = rlp::encode_signed(signed.transfer(), &flipped);
    let twin = transaction::decode(&twin, chain_id).expect("the parity-flipped twin decodes");
    assert!(
        twin.verify_with(verified.public_key).is_err(),
        "a parity-flipped transaction verified for the original sender's key"
    );
}
