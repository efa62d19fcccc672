//! `msgpack_batch`: the bodies of `POST /v1/txs` (a MessagePack array of `bin` transactions)
//! and `POST /v1/tx` (`{"raw": "0x…"}`). Every input is tried as both.

use ledger::api::{self, ApiError, SINGLE_TX_BODY_BYTES_MAX, SingleTxRequest};
use ledger::limits::BATCH_TXS_MAX;
use ledger::transaction;

use crate::CHAIN_ID;

/// Decodes `data` as a batch body and as a single-transaction body.
pub fn check(data: &[u8]) {
    match api::decode_batch(data) {
        Ok(raws) => check_batch(data, &raws),
        Err(error) => check_refusal(&error),
    }
    match api::decode_single(data) {
        Ok(raw) => check_single(&raw),
        Err(error) => check_refusal(&error),
    }
}

/// The batch body of `raws`, in MessagePack's shortest forms.
pub fn encode(raws: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    let count = u32::try_from(raws.len()).expect("a batch of at most 2^32 transactions");
    rmp::encode::write_array_len(&mut out, count).expect("writing to a vector");
    for raw in raws {
        let length = u32::try_from(raw.len()).expect("a transaction of at most 4 GiB");
        rmp::encode::write_bin_len(&mut out, length).expect("writing to a vector");
        out.extend_from_slice(raw);
    }
    out
}

fn check_batch(data: &[u8], raws: &[Vec<u8>]) {
    assert!(raws.len() <= BATCH_TXS_MAX);
    assert!(raws.iter().map(Vec::len).sum::<usize>() <= data.len());
    // Re-encoded in the shortest forms, the batch decodes to the same and is no longer.
    let encoded = encode(raws);
    assert!(encoded.len() <= data.len());
    assert_eq!(api::decode_batch(&encoded).as_deref(), Ok(raws));
    // What the front door does next with each element (recovery is the other target's).
    for raw in raws {
        if let Err(rejection) = transaction::decode(raw, CHAIN_ID) {
            crate::transaction::check_rejection(&rejection);
        }
    }
}

fn check_single(raw: &[u8]) {
    assert!(2 * raw.len() <= SINGLE_TX_BODY_BYTES_MAX);
    let request = SingleTxRequest {
        raw: format!("0x{}", hex::encode(raw)),
    };
    let body = serde_json::to_vec(&request).expect("a request encodes as JSON");
    assert_eq!(api::decode_single(&body).as_deref(), Ok(raw));
}

/// A refusal is a client error with a code, and its body encodes.
fn check_refusal(error: &ApiError) {
    assert!(
        matches!(error.status, 400 | 413),
        "status {} for a malformed body",
        error.status
    );
    assert!(!error.code.is_empty());
    serde_json::to_vec(&error.body()).expect("an error body encodes as JSON");
}
