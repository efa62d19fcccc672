//! The JSON-RPC 2.0 envelope: bodies, single requests and batches, notifications, responses
//! and error objects (<https://www.jsonrpc.org/specification>).
//!
//! The rules that decide who gets an answer:
//! - a body that is not JSON, or too large, is one -32700 answer with id `null`;
//! - a body that is neither an object nor a non-empty array of at most [`RPC_BATCH_MAX`]
//!   entries, of which at most [`RPC_BATCH_READS_MAX`] are requests other than
//!   `eth_sendRawTransaction`, is one -32600 answer with id `null`;
//! - an entry that is not a valid request object (not an object, `jsonrpc` not `"2.0"`, a
//!   method that is not a string, `params` neither array, object nor null, an id that is not
//!   a string, number or null) is answered -32600, with its id when it has a valid one;
//! - a valid request object without an `id` member is a notification: it is never answered,
//!   not even with an error (`"id": null` is a request, answered with id `null`).

use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::{Map, Value};

use super::request::RpcRequest;
use super::{RPC_BATCH_MAX, RPC_BATCH_READS_MAX, RPC_BODY_BYTES_MAX};

/// A request id, echoed in its response: a number, a string or `null`.
pub type RpcId = Value;

/// A parsed body: one entry, or a batch of them (answered with an array, in the same order).
#[derive(Debug, Clone, PartialEq)]
pub enum RpcBody {
    /// A single request object, answered with a single response object.
    Single(RpcEntry),
    /// A batch: 1 to [`RPC_BATCH_MAX`] entries, answered with an array of the responses of
    /// those that are answered (none for notifications). A batch with no response to send is
    /// answered with an empty body, as the specification requires.
    Batch(Vec<RpcEntry>),
}

/// One entry of a body.
#[derive(Debug, Clone, PartialEq)]
pub enum RpcEntry {
    /// A well-formed request to perform. `id` is `None` for a notification: perform it (it may
    /// send a transaction) but send no response.
    Call {
        /// The id to answer with; `None` for a notification.
        id: Option<RpcId>,
        /// What to do.
        request: RpcRequest,
    },
    /// An entry refused as it is: send this response (-32600, -32601 or -32602).
    Invalid(RpcResponse),
    /// A notification whose method is unknown or whose params are invalid: nothing to perform
    /// and, notifications being never answered, nothing to send.
    IgnoredNotification,
}

/// A JSON-RPC error object: `{"code", "message", "data"?}`.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct RpcError {
    /// The code: -32700 to -32600 for the protocol's own errors, -32000 to -32099 for the
    /// server's (see the associated constants).
    pub code: i64,
    /// What went wrong, for people and for the message-matching of client libraries.
    pub message: String,
    /// More detail; edgeledger puts its own machine code here as `{"code": "..."}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    /// The body is not JSON (or too large to read).
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON is not a valid request object (or batch).
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// The method exists but its params are wrong.
    pub const INVALID_PARAMS: i64 = -32602;
    /// The server failed (a service or storage of the chain).
    pub const INTERNAL_ERROR: i64 = -32603;
    /// The request was understood and refused: what Ethereum nodes answer for a transaction
    /// they refuse, a state they do not have or an unknown block.
    pub const SERVER_ERROR: i64 = -32000;
    /// A capacity limit was hit (EIP-1474 "limit exceeded"). viem and alloy retry these with
    /// backoff, which is what a full mempool wants.
    pub const LIMIT_EXCEEDED: i64 = -32005;
    /// A service of the chain could not be reached or did not answer in time (EIP-1474
    /// "resource unavailable"): nothing is wrong with the request, ask again.
    pub const RESOURCE_UNAVAILABLE: i64 = -32002;

    /// An error with this code and message and no data.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// Adds edgeledger's machine code as `data: {"code": ...}`.
    pub fn with_code(self, code: &str) -> Self {
        let mut data = Map::new();
        data.insert("code".to_owned(), Value::String(code.to_owned()));
        Self {
            data: Some(Value::Object(data)),
            ..self
        }
    }

    /// -32700: the body is not JSON or could not be read.
    pub fn parse_error(detail: impl Into<String>) -> Self {
        Self::new(Self::PARSE_ERROR, format!("parse error: {}", detail.into()))
    }

    /// -32600: not a valid request object.
    pub fn invalid_request(detail: impl Into<String>) -> Self {
        Self::new(
            Self::INVALID_REQUEST,
            format!("invalid request: {}", detail.into()),
        )
    }

    /// -32601, worded as geth words it (ethers recognises "the method … does not exist").
    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            Self::METHOD_NOT_FOUND,
            format!(
                "the method {} does not exist/is not available",
                shortened(method)
            ),
        )
    }

    /// -32602: the params are wrong; `detail` says which and how.
    pub fn invalid_params(detail: impl Into<String>) -> Self {
        Self::new(Self::INVALID_PARAMS, detail)
    }

    /// -32603: the chain failed to answer (a service or storage error), not the client's fault.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(
            Self::INTERNAL_ERROR,
            format!("internal error: {}", detail.into()),
        )
    }

    /// A failure of the chain itself (one of its services, or their storage), from the HTTP
    /// status, code and message of the internal answer: -32002 when the service could not be
    /// reached, was unavailable or did not answer in time (502, 503, 504: asking again is the
    /// cure, and a transaction sent again is idempotent), -32603 otherwise.
    pub fn chain_failure(status: u16, code: &str, message: &str) -> Self {
        if matches!(status, 502..=504) {
            Self::new(
                Self::RESOURCE_UNAVAILABLE,
                format!("resource unavailable, retry: {code}: {message}"),
            )
        } else {
            Self::internal(format!("{code}: {message}"))
        }
    }

    /// -32000 `header not found`, as geth answers for a block it does not have (yet).
    pub fn unknown_block(number: u64) -> Self {
        Self::new(
            Self::SERVER_ERROR,
            format!("header not found: there is no block {number} yet"),
        )
        .with_code("unknown_block")
    }

    /// -32000: state at a block before the head was asked for. Shards keep only the latest
    /// state, and answering with it would be wrong for any account touched since.
    pub fn historical_state(asked: u64, head: u64) -> Self {
        Self::new(
            Self::SERVER_ERROR,
            format!(
                "historical state is not available: block {asked} is before the head {head}, \
                 and edgeledger keeps only the latest state (ask for \"latest\")"
            ),
        )
        .with_code("historical_state")
    }
}

/// A response: `{"jsonrpc": "2.0", "id": …, "result": …}` or `{…, "error": {…}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcResponse {
    id: RpcId,
    outcome: Result<Value, RpcError>,
}

impl RpcResponse {
    /// A successful response.
    pub fn result(id: RpcId, value: Value) -> Self {
        Self {
            id,
            outcome: Ok(value),
        }
    }

    /// An error response.
    pub fn error(id: RpcId, error: RpcError) -> Self {
        Self {
            id,
            outcome: Err(error),
        }
    }

    /// The id it answers.
    pub fn id(&self) -> &RpcId {
        &self.id
    }

    /// The result, or the error.
    pub fn outcome(&self) -> Result<&Value, &RpcError> {
        self.outcome.as_ref()
    }
}

impl Serialize for RpcResponse {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("jsonrpc", "2.0")?;
        map.serialize_entry("id", &self.id)?;
        match &self.outcome {
            Ok(value) => map.serialize_entry("result", value)?,
            Err(error) => map.serialize_entry("error", error)?,
        }
        map.end()
    }
}

/// Parses a body. `Err` is the one response to send for a body refused as a whole.
pub fn parse_body(bytes: &[u8]) -> Result<RpcBody, RpcResponse> {
    let refuse = |error: RpcError| RpcResponse::error(Value::Null, error);
    if bytes.len() > RPC_BODY_BYTES_MAX {
        return Err(refuse(RpcError::parse_error(format!(
            "body of {} bytes exceeds the limit of {RPC_BODY_BYTES_MAX} bytes",
            bytes.len()
        ))));
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|error| refuse(RpcError::parse_error(error.to_string())))?;
    match value {
        Value::Array(entries) => {
            if entries.is_empty() {
                return Err(refuse(RpcError::invalid_request("empty batch")));
            }
            if entries.len() > RPC_BATCH_MAX {
                return Err(refuse(RpcError::invalid_request(format!(
                    "batch of {} requests exceeds the limit of {RPC_BATCH_MAX}",
                    entries.len()
                ))));
            }
            let entries: Vec<RpcEntry> = entries.iter().map(parse_entry).collect();
            let reads = entries.iter().filter(|entry| is_read(entry)).count();
            if reads > RPC_BATCH_READS_MAX {
                return Err(refuse(RpcError::invalid_request(format!(
                    "batch of {reads} requests other than eth_sendRawTransaction exceeds the \
                     limit of {RPC_BATCH_READS_MAX}"
                ))));
            }
            Ok(RpcBody::Batch(entries))
        }
        Value::Object(_) => Ok(RpcBody::Single(parse_entry(&value))),
        _ => Err(refuse(RpcError::invalid_request(
            "expected a request object or a batch (array) of them",
        ))),
    }
}

/// Whether an entry is a call answered on its own (each costs the front door a subrequest),
/// rather than a transaction admitted with the rest of its batch.
fn is_read(entry: &RpcEntry) -> bool {
    matches!(entry, RpcEntry::Call { request, .. }
        if !matches!(request, RpcRequest::SendRawTransaction { .. }))
}

/// Parses one request object.
fn parse_entry(value: &Value) -> RpcEntry {
    let invalid = |id: RpcId, error: RpcError| RpcEntry::Invalid(RpcResponse::error(id, error));
    let Value::Object(object) = value else {
        return invalid(
            Value::Null,
            RpcError::invalid_request("a request must be a JSON object"),
        );
    };
    let id = match object.get("id") {
        None => None,
        Some(id @ (Value::Null | Value::Number(_) | Value::String(_))) => Some(id.clone()),
        Some(_) => {
            return invalid(
                Value::Null,
                RpcError::invalid_request("id must be a string, a number or null"),
            );
        }
    };
    let answer_id = id.clone().unwrap_or(Value::Null);
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid(
            answer_id,
            RpcError::invalid_request("\"jsonrpc\" must be \"2.0\""),
        );
    }
    let Some(method) = object.get("method").and_then(Value::as_str) else {
        return invalid(
            answer_id,
            RpcError::invalid_request("\"method\" must be a string"),
        );
    };
    let parsed = match object.get("params") {
        None | Some(Value::Null) => RpcRequest::parse(method, &[]),
        // No names given is no params, whichever brackets a client uses.
        Some(Value::Object(named)) if named.is_empty() => RpcRequest::parse(method, &[]),
        Some(Value::Array(params)) => RpcRequest::parse(method, params),
        Some(Value::Object(_)) => Err(RpcError::invalid_params(
            "named params are not supported: pass params as an array",
        )),
        Some(_) => {
            return invalid(
                answer_id,
                RpcError::invalid_request("\"params\" must be an array or an object"),
            );
        }
    };
    match (parsed, id) {
        (Ok(request), id) => RpcEntry::Call { id, request },
        (Err(error), Some(id)) => invalid(id, error),
        (Err(_), None) => RpcEntry::IgnoredNotification,
    }
}

/// Encodes the responses to send: an array for a batch, the one response otherwise, and an
/// empty body when there is nothing to answer (only notifications).
///
/// `batch` must say whether the request was a batch: a batch of one is answered with an array
/// of one. Given several responses for a single request (a caller's mistake), they are sent
/// as an array rather than dropped.
pub fn encode_body(responses: &[RpcResponse], batch: bool) -> Vec<u8> {
    let encoded = match responses {
        [] => return Vec::new(),
        [single] if !batch => serde_json::to_vec(single),
        _ => serde_json::to_vec(responses),
    };
    // Encoding JSON values and strings into a vector cannot fail; should it ever, the client
    // still gets a well-formed JSON-RPC error rather than a dead isolate.
    encoded.unwrap_or_else(|_| {
        br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"internal error: encoding the response failed"}}"#
            .to_vec()
    })
}

/// At most 100 characters of a client-chosen string, for messages.
pub(super) fn shortened(text: &str) -> String {
    const SHOWN_CHARS_MAX: usize = 100;
    match text.char_indices().nth(SHOWN_CHARS_MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}
