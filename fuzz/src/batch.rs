//! `msgpack_batch`: the bodies of `POST /v1/txs` (a MessagePack array of `bin` transactions,
//! each alone, paired with its sender's key, or with the key and its signature's nonce y) and
//! `POST /v1/tx` (`{"raw": "0x…"}`, with an optional `"sender_key"` and `"nonce_y"`). Every
//! input is tried as both.

use ledger::api::{self, ApiError, BatchElement, SINGLE_TX_BODY_BYTES_MAX, SingleTxRequest};
use ledger::limits::BATCH_TXS_MAX;
use ledger::primitives::to_hex;
use ledger::transaction::{self, Submission};

use crate::CHAIN_ID;

/// Decodes `data` as a batch body and as a single-transaction body.
pub fn check(data: &[u8]) {
    match api::decode_batch(data) {
        Ok(submissions) => check_batch(data, &submissions),
        Err(error) => check_refusal(&error),
    }
    match api::decode_single(data) {
        Ok(submission) => check_single(&submission),
        Err(error) => check_refusal(&error),
    }
}

/// The batch body of `submissions`, in MessagePack's shortest forms.
pub fn encode(submissions: &[Submission]) -> Vec<u8> {
    api::encode_batch(submissions.iter().map(BatchElement::from))
}

/// [`encode`] of raw transactions alone.
pub fn encode_raws(raws: &[Vec<u8>]) -> Vec<u8> {
    api::encode_batch(raws.iter().map(|raw| BatchElement {
        raw,
        sender_key: None,
        nonce_y: None,
    }))
}

fn check_batch(data: &[u8], submissions: &[Submission]) {
    assert!(submissions.len() <= BATCH_TXS_MAX);
    let carried = |submission: &Submission| {
        submission.raw.len()
            + submission.sender_key.as_ref().map_or(0, Vec::len)
            + submission.nonce_y.as_ref().map_or(0, Vec::len)
    };
    assert!(submissions.iter().map(carried).sum::<usize>() <= data.len());
    // Re-encoded in the shortest forms, the batch decodes to the same and is no longer.
    let encoded = encode(submissions);
    assert!(encoded.len() <= data.len());
    assert_eq!(api::decode_batch(&encoded).as_deref(), Ok(submissions));
    check_admission(submissions);
}

/// What the front door does next: decode each, and find its sender (recovered, or checked
/// against the key given, with the nonce y given).
fn check_admission(submissions: &[Submission]) {
    for result in transaction::admit(submissions, CHAIN_ID) {
        if let Err(rejection) = result {
            crate::transaction::check_rejection(&rejection);
        }
    }
}

fn check_single(submission: &Submission) {
    let key_bytes = submission.sender_key.as_ref().map_or(0, Vec::len);
    let nonce_y_bytes = submission.nonce_y.as_ref().map_or(0, Vec::len);
    assert!(2 * (submission.raw.len() + key_bytes + nonce_y_bytes) <= SINGLE_TX_BODY_BYTES_MAX);
    let request = SingleTxRequest {
        raw: to_hex(&submission.raw),
        sender_key: submission.sender_key.as_ref().map(to_hex),
        nonce_y: submission.nonce_y.as_ref().map(to_hex),
    };
    let body = serde_json::to_vec(&request).expect("a request encodes as JSON");
    assert_eq!(api::decode_single(&body).as_ref(), Ok(submission));
    check_admission(std::slice::from_ref(submission));
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
