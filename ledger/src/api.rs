//! The public API's rules, independent of HTTP plumbing: how request bodies are bounded and
//! decoded, which HTTP status and machine code every refusal gets, and the shape of answers.
//!
//! The front door Worker only moves bytes: it hands bodies and headers to these functions and
//! writes back what they return, so every decision about input is made (and tested) here.
//!
//! Errors are JSON `{"error": {"code": "...", "message": "..."}}` with a precise status:
//! 400 malformed, 404 unknown, 405 wrong method, 413 too large, 415 wrong content type,
//! 422 a well-formed request the chain refuses, 429 a client over its share, 503 the chain
//! over capacity.

pub mod access;
mod answers;
pub mod block_waiters;
mod routes;

use serde::{Deserialize, Serialize};

use crate::codec::CodecError;
use crate::limits::{BATCH_TXS_MAX, REQUEST_BYTES_MAX, TX_BYTES_MAX};
use crate::mempool::{Admission, AdmissionRejection};
use crate::primitives::{Hash, keccak256, parse_hex_bytes};
use crate::transaction::{Submission, TxRejection};

pub use answers::{
    AccountAnswer, BlockAnswer, CertifiedAccountProof, CertifiedProofError, StatusAnswer, TxState,
    TxStatusAnswer,
};
pub use routes::{
    AdminRoute, BlockSelector, Route, parse_address, parse_block_selector, parse_hash, route,
};

/// Content type of MessagePack bodies and answers.
pub const MSGPACK_CONTENT_TYPE: &str = "application/msgpack";
/// Content type of JSON bodies and answers.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// Bytes of a `POST /v1/tx` JSON body: the hex of the largest transaction and of the longest
/// sender key, plus the envelope.
pub const SINGLE_TX_BODY_BYTES_MAX: usize =
    2 * TX_BYTES_MAX + 2 * crate::signature::PublicKey::PARSED_BYTES_MAX + 96;

/// A refusal, ready to be sent: HTTP status, stable machine code, human message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Stable snake_case code clients can match on.
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
}

/// The JSON (or MessagePack) body of an error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: Reason,
}

/// A machine code and a message: the body of an error, or why a transaction was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// Stable snake_case code.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400: the request is not well formed.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    /// 404: nothing is known under this path or identifier.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }

    /// 405: the path exists but not for this method.
    pub fn method_not_allowed(method: &str, allowed: &str) -> Self {
        Self::new(
            405,
            "method_not_allowed",
            format!("{method} is not allowed here; use {allowed}"),
        )
    }

    /// The body to send.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: Reason {
                code: self.code.to_owned(),
                message: self.message.clone(),
            },
        }
    }
}

/// An error answer as it travels: the HTTP status and the body. Unlike [`ApiError`], whose
/// code is one of this crate's constants, its code may have come from another service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorAnswer {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: ErrorBody,
}

impl From<ApiError> for ErrorAnswer {
    fn from(error: ApiError) -> Self {
        Self {
            status: error.status,
            body: error.body(),
        }
    }
}

impl From<CodecError> for ApiError {
    fn from(error: CodecError) -> Self {
        match error {
            CodecError::TooLarge { .. } => Self::new(413, "body_too_large", error.to_string()),
            CodecError::Malformed(_) | CodecError::TrailingBytes(_) | CodecError::NotCanonical => {
                Self::bad_request("malformed_body", error.to_string())
            }
        }
    }
}

impl From<&TxRejection> for Reason {
    fn from(rejection: &TxRejection) -> Self {
        Self {
            code: rejection.code().to_owned(),
            message: rejection.to_string(),
        }
    }
}

impl From<&AdmissionRejection> for Reason {
    fn from(rejection: &AdmissionRejection) -> Self {
        Self {
            code: rejection.code().to_owned(),
            message: rejection.to_string(),
        }
    }
}

impl From<&TxRejection> for ApiError {
    /// A transaction the chain refuses on its own merits: 422, or 413 when it is too large.
    fn from(rejection: &TxRejection) -> Self {
        let status = match rejection {
            TxRejection::TooLarge { .. } => 413,
            _ => 422,
        };
        Self::new(status, rejection.code(), rejection.to_string())
    }
}

impl From<&AdmissionRejection> for ApiError {
    /// 422 for a transaction the mempool refuses; capacity refusals are retryable: 429 when
    /// the sender is over its share, 503 when the whole mempool is full.
    fn from(rejection: &AdmissionRejection) -> Self {
        let status = match rejection {
            AdmissionRejection::SenderQueueFull { .. } => 429,
            AdmissionRejection::MempoolFull { .. } => 503,
            AdmissionRejection::FeeTooLow { .. }
            | AdmissionRejection::NonceTooLow { .. }
            | AdmissionRejection::NonceTooFarAhead { .. }
            | AdmissionRejection::NonceAlreadyPending { .. } => 422,
        };
        Self::new(status, rejection.code(), rejection.to_string())
    }
}

/// How an answer is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON, the default.
    Json,
    /// MessagePack, when the client asks for it.
    MessagePack,
}

impl Format {
    /// MessagePack when the `Accept` header lists `application/msgpack` (or the older
    /// `application/x-msgpack`), JSON otherwise. Quality values are not weighed: naming
    /// MessagePack at all is taken as asking for it.
    pub fn from_accept(accept: Option<&str>) -> Self {
        let asks_msgpack = accept.is_some_and(|accept| {
            accept.split(',').any(|item| {
                let media_type = item.split(';').next().unwrap_or("").trim();
                media_type.eq_ignore_ascii_case(MSGPACK_CONTENT_TYPE)
                    || media_type.eq_ignore_ascii_case("application/x-msgpack")
            })
        });
        if asks_msgpack {
            Self::MessagePack
        } else {
            Self::Json
        }
    }

    /// The `Content-Type` of answers in this format.
    pub const fn content_type(&self) -> &'static str {
        match self {
            Self::Json => JSON_CONTENT_TYPE,
            Self::MessagePack => MSGPACK_CONTENT_TYPE,
        }
    }

    /// Encodes an answer. Encoding the crate's answer types cannot fail; a failure is a bug.
    pub fn encode<T: Serialize>(&self, value: &T) -> Vec<u8> {
        match self {
            Self::Json => match serde_json::to_vec(value) {
                Ok(bytes) => bytes,
                Err(error) => unreachable!("JSON encoding of an API answer failed: {error}"),
            },
            Self::MessagePack => match rmp_serde::to_vec_named(value) {
                Ok(bytes) => bytes,
                Err(error) => unreachable!("MessagePack encoding of an API answer failed: {error}"),
            },
        }
    }
}

/// Checks a request's `Content-Type` (parameters such as `charset` are ignored): 415 otherwise.
pub fn check_content_type(got: Option<&str>, expected: &'static str) -> Result<(), ApiError> {
    let media_type = got.and_then(|value| value.split(';').next()).map(str::trim);
    if media_type.is_some_and(|media_type| media_type.eq_ignore_ascii_case(expected)) {
        return Ok(());
    }
    Err(ApiError::new(
        415,
        "unsupported_media_type",
        format!(
            "expected Content-Type {expected}, got {}",
            got.unwrap_or("none")
        ),
    ))
}

/// Checks an `Authorization: Bearer <token>` header against the admin token: 401
/// `unauthorized` when it is missing, malformed or wrong. The comparison takes the same time
/// wherever the first difference is (only the length may show), so the token cannot be found
/// byte by byte from response times.
pub fn check_admin_token(authorization: Option<&str>, token: &str) -> Result<(), ApiError> {
    use subtle::ConstantTimeEq;
    let unauthorized = || {
        ApiError::new(
            401,
            "unauthorized",
            "this endpoint needs Authorization: Bearer <admin token>",
        )
    };
    let presented = authorization
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or_else(unauthorized)?;
    if token.is_empty() || !bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
        return Err(unauthorized());
    }
    Ok(())
}

/// Checks a body's size before anything reads it: 413 past `limit`.
pub fn check_body_size(length: usize, limit: usize) -> Result<(), ApiError> {
    if length > limit {
        return Err(ApiError::new(
            413,
            "body_too_large",
            format!("body of {length} bytes exceeds the limit of {limit} bytes"),
        ));
    }
    Ok(())
}

/// Decodes a `POST /v1/txs` body: a MessagePack array whose elements are each a `bin` raw
/// transaction, a pair `[bin raw, bin sender key]` naming the sender's public key (which
/// saves the front door recovering it: see [`crate::transaction::admit`]), or a triple
/// `[bin raw, bin sender key, bin nonce y]` that also gives the y of the signature's nonce
/// point (which saves it a square root).
///
/// The array header is read first, so a batch over [`BATCH_TXS_MAX`] is refused (413) before
/// anything is allocated. Each element may be any size up to the body limit; an oversized
/// transaction, a key that is not one or a wrong nonce y is refused on its own (as
/// `too_large`, `invalid_sender_key`, `invalid_nonce_y` or `nonce_y_mismatch`), not the whole
/// batch.
pub fn decode_batch(body: &[u8]) -> Result<Vec<Submission>, ApiError> {
    check_body_size(body.len(), REQUEST_BYTES_MAX)?;
    let mut reader = body;
    let count = rmp::decode::read_array_len(&mut reader).map_err(|error| {
        ApiError::bad_request(
            "malformed_body",
            format!("expected a MessagePack array of binary transactions: {error}"),
        )
    })?;
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    if count > BATCH_TXS_MAX {
        return Err(ApiError::new(
            413,
            "batch_too_large",
            format!("batch of {count} transactions exceeds the limit of {BATCH_TXS_MAX}"),
        ));
    }
    let mut submissions = Vec::with_capacity(count);
    for index in 0..count {
        submissions.push(read_element(&mut reader, index)?);
    }
    if !reader.is_empty() {
        return Err(ApiError::bad_request(
            "malformed_body",
            format!("{} trailing bytes after the batch", reader.len()),
        ));
    }
    Ok(submissions)
}

/// One element of a `POST /v1/txs` body as a client writes it: a raw transaction, with its
/// sender's public key when the client names it, and the y of its signature's nonce point
/// when it gives that too ([`decode_batch`] reads it as a [`Submission`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchElement<'a> {
    /// The raw signed transaction.
    pub raw: &'a [u8],
    /// The sender's public key, in any form [`crate::signature::PublicKey::parse`] takes.
    pub sender_key: Option<&'a [u8]>,
    /// The y of the signature's nonce point, 32 bytes big-endian: written only with a sender
    /// key (the element is then the triple).
    pub nonce_y: Option<&'a [u8]>,
}

impl<'a> From<&'a Submission> for BatchElement<'a> {
    fn from(submission: &'a Submission) -> Self {
        Self {
            raw: &submission.raw,
            sender_key: submission.sender_key.as_deref(),
            nonce_y: submission.nonce_y.as_deref(),
        }
    }
}

/// `bin raw`, the pair `[bin raw, bin sender key]`, or the triple `[bin raw, bin sender key,
/// bin nonce y]`.
impl Serialize for BatchElement<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde_bytes::Bytes;
        let raw = Bytes::new(self.raw);
        match (self.sender_key, self.nonce_y) {
            (None, _) => raw.serialize(serializer),
            (Some(key), None) => (raw, Bytes::new(key)).serialize(serializer),
            (Some(key), Some(nonce_y)) => {
                (raw, Bytes::new(key), Bytes::new(nonce_y)).serialize(serializer)
            }
        }
    }
}

/// A `POST /v1/txs` body: what [`decode_batch`] reads, in MessagePack's shortest forms.
pub fn encode_batch<'a>(elements: impl IntoIterator<Item = BatchElement<'a>>) -> Vec<u8> {
    let elements: Vec<BatchElement<'a>> = elements.into_iter().collect();
    crate::codec::encode(&elements)
}

/// Reads one element of a batch: `bin raw`, the pair `[bin raw, bin sender key]` or the triple
/// `[bin raw, bin sender key, bin nonce y]`.
fn read_element(reader: &mut &[u8], index: usize) -> Result<Submission, ApiError> {
    // A look ahead: anything but an array header is read as a lone transaction.
    let mut ahead = *reader;
    let Ok(length) = rmp::decode::read_array_len(&mut ahead) else {
        return Ok(Submission::raw(read_bin(reader, index)?));
    };
    if !matches!(length, 2 | 3) {
        return Err(ApiError::bad_request(
            "malformed_body",
            format!(
                "batch element {index} is an array of {length}: [transaction, sender key] has \
                 2, [transaction, sender key, nonce y] 3"
            ),
        ));
    }
    *reader = ahead;
    let raw = read_bin(reader, index)?;
    let sender_key = read_bin(reader, index)?;
    let nonce_y = if length == 3 {
        Some(read_bin(reader, index)?)
    } else {
        None
    };
    Ok(Submission {
        raw,
        sender_key: Some(sender_key),
        nonce_y,
    })
}

/// Reads one `bin` element of a batch, checking its length against what is left.
fn read_bin(reader: &mut &[u8], index: usize) -> Result<Vec<u8>, ApiError> {
    let malformed = |detail: String| {
        ApiError::bad_request(
            "malformed_body",
            format!("batch element {index} is not binary: {detail}"),
        )
    };
    let length = rmp::decode::read_bin_len(reader).map_err(|error| malformed(error.to_string()))?;
    let length = usize::try_from(length).unwrap_or(usize::MAX);
    if length > reader.len() {
        return Err(malformed(format!(
            "declares {length} bytes, {} remain",
            reader.len()
        )));
    }
    let (element, rest) = reader.split_at(length);
    *reader = rest;
    Ok(element.to_vec())
}

/// The body of `POST /v1/tx`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SingleTxRequest {
    /// The raw signed transaction, `0x`-prefixed hex.
    pub raw: String,
    /// The sender's public key, `0x`-prefixed hex, in any form a batch element's key may
    /// take (see [`decode_batch`]). Optional: without it the front door recovers the sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_key: Option<String>,
    /// The y of the signature's nonce point, `0x`-prefixed hex of 32 bytes (see
    /// [`decode_batch`]). Optional: without it the front door takes a square root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce_y: Option<String>,
}

/// Decodes a `POST /v1/tx` body, `{"raw": "0x…"}`, optionally with `"sender_key": "0x…"` and
/// `"nonce_y": "0x…"`.
pub fn decode_single(body: &[u8]) -> Result<Submission, ApiError> {
    check_body_size(body.len(), SINGLE_TX_BODY_BYTES_MAX)?;
    let request: SingleTxRequest = serde_json::from_slice(body).map_err(|error| {
        ApiError::bad_request(
            "malformed_json",
            format!(
                "expected {{\"raw\": \"0x…\"}}, optionally with \"sender_key\" and \"nonce_y\": \
                 {error}"
            ),
        )
    })?;
    let hex_field = |name: &str, text: &str| {
        parse_hex_bytes(text)
            .map_err(|error| ApiError::bad_request("malformed_hex", format!("{name}: {error}")))
    };
    Ok(Submission {
        raw: hex_field("raw transaction", &request.raw)?,
        sender_key: request
            .sender_key
            .map(|key| hex_field("sender key", &key))
            .transpose()?,
        nonce_y: request
            .nonce_y
            .map(|nonce_y| hex_field("nonce y", &nonce_y))
            .transpose()?,
    })
}

/// What happened to one submitted transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionStatus {
    /// Durably queued: it will be committed or dropped with a reason, never lost.
    Accepted,
    /// Already pending or committed; nothing changed.
    Duplicate,
    /// Refused; nothing changed.
    Rejected,
}

/// The answer for one transaction of a submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionResult {
    /// keccak256 of the raw bytes: Ethereum's transaction hash (defined even for bytes that
    /// do not decode, so every result can be matched to what was sent).
    pub hash: Hash,
    /// What happened.
    pub status: SubmissionStatus,
    /// Why it was refused, for `rejected`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<Reason>,
}

impl SubmissionResult {
    /// A transaction refused before it reached the mempool (decoding or signature).
    pub fn refused(raw: &[u8], rejection: &TxRejection) -> Self {
        Self {
            hash: keccak256(raw),
            status: SubmissionStatus::Rejected,
            reason: Some(rejection.into()),
        }
    }

    /// The HTTP status a refusal of a single submission (`POST /v1/tx`) is answered with, the
    /// same as [`ApiError`]'s conversions give: 413 too large, 429 the sender's queue is full,
    /// 503 the mempool is full, 422 anything else the chain refuses.
    pub fn refusal_status(&self) -> u16 {
        match self.reason.as_ref().map(|reason| reason.code.as_str()) {
            Some("too_large") => 413,
            Some("sender_queue_full") => 429,
            Some("mempool_full") => 503,
            _ => 422,
        }
    }

    /// A transaction the mempool ruled on.
    pub fn admitted(hash: Hash, admission: &Admission) -> Self {
        let (status, reason) = match admission {
            Admission::Accepted => (SubmissionStatus::Accepted, None),
            Admission::Duplicate => (SubmissionStatus::Duplicate, None),
            Admission::Rejected(rejection) => {
                (SubmissionStatus::Rejected, Some(Reason::from(rejection)))
            }
        };
        Self {
            hash,
            status,
            reason,
        }
    }
}

/// The answer to `POST /v1/txs`: one result per submitted transaction, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchAnswer {
    /// The results, in submission order.
    pub results: Vec<SubmissionResult>,
}

#[cfg(test)]
mod tests;
