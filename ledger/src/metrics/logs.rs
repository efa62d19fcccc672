//! Request ids for structured logs: which ids a client may choose, and how many of them a
//! log line carries.
//!
//! The front door takes the client's `x-request-id` when it is a plain token, else the
//! runtime's `cf-ray`, else makes one; it answers it in `x-request-id`, and passes it to the
//! `Sequencer` with the submission ([`crate::wire::SubmitRequest::request_id`]), whose JSON
//! log lines for the admission and for the commit of those transactions carry it.
//!
//! Inside the pipeline a call is about a block, which holds the transactions of many
//! requests: the `Sequencer` sends the ids of those requests (at most
//! [`COMMIT_LOG_REQUEST_IDS_MAX`], comma-separated, [`request_ids_header`]) with each
//! proposal to the validators and each write set to the shards, whose log lines carry them
//! ([`parse_request_ids`]). So one id follows a transaction from the public request through
//! admission, every validator's vote and every shard's apply to its commit.

/// The header a request id travels in (request and answer).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Longest request id taken from a client.
pub const REQUEST_ID_BYTES_MAX: usize = 64;

/// Most request ids one commit log line lists (a block may hold thousands of submissions).
pub const COMMIT_LOG_REQUEST_IDS_MAX: usize = 32;

/// Most transaction hashes one admission log line lists.
pub const ADMISSION_LOG_HASHES_MAX: usize = 16;

/// Whether a client's request id can be logged as it is: 1 to [`REQUEST_ID_BYTES_MAX`]
/// characters of `A-Z a-z 0-9 . _ : -`, so it cannot forge log structure or carry a secret
/// of arbitrary size.
pub fn is_request_id(candidate: &str) -> bool {
    !candidate.is_empty()
        && candidate.len() <= REQUEST_ID_BYTES_MAX
        && candidate
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b':' | b'-'))
}

/// The request id to use: the first acceptable candidate (the client's header, then
/// `cf-ray`), or `None` when the caller must make one.
pub fn choose_request_id<'a>(
    candidates: impl IntoIterator<Item = Option<&'a str>>,
) -> Option<String> {
    candidates
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|candidate| is_request_id(candidate))
        .map(str::to_owned)
}

/// The header value naming `ids` (the first [`COMMIT_LOG_REQUEST_IDS_MAX`] distinct ones),
/// `None` when there are none.
pub fn request_ids_header<'a>(ids: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut chosen: Vec<&str> = Vec::new();
    for id in ids {
        if chosen.len() == COMMIT_LOG_REQUEST_IDS_MAX {
            break;
        }
        if is_request_id(id) && !chosen.contains(&id) {
            chosen.push(id);
        }
    }
    (!chosen.is_empty()).then(|| chosen.join(","))
}

/// The request ids a header value names: its well-formed, distinct, comma-separated ids,
/// at most [`COMMIT_LOG_REQUEST_IDS_MAX`]; anything else in it is ignored.
pub fn parse_request_ids(value: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for id in value.split(',').map(str::trim) {
        if ids.len() == COMMIT_LOG_REQUEST_IDS_MAX {
            break;
        }
        if is_request_id(id) && !ids.iter().any(|known| known == id) {
            ids.push(id.to_owned());
        }
    }
    ids
}
