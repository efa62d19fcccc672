//! Glue every edgeledger Worker shares, so the Worker crates stay thin and alike: the chain
//! read from the `GENESIS` variable, reading bounded bodies, writing answers and errors, and
//! making internal calls over bindings with a deadline.
//!
//! Decisions live in `ledger`; this crate only moves bytes between `worker` types and the
//! ledger's typed requests and answers ([`ledger::api`], [`ledger::wire`]).

pub mod sql;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{Either, select};
use ledger::api::{ApiError, ErrorAnswer, Format};
use ledger::block::Header;
use ledger::genesis::Genesis;
use ledger::metrics::logs::REQUEST_ID_HEADER;
use ledger::primitives::Hash;
use ledger::proposal::ChainContext;
use ledger::wire::{self, INTERNAL_CONTENT_TYPE, InternalCall};
use serde::Serialize;
use serde::de::DeserializeOwned;
use worker::{
    Date, Delay, Env, Fetcher, Headers, Method, Request, RequestInit, Response, Stub,
    wasm_bindgen::JsValue,
};

/// Name of the variable holding the genesis (JSON) in every service.
pub const GENESIS_VARIABLE: &str = "GENESIS";

/// Milliseconds since the Unix epoch, from the runtime's clock. (`std::time` panics on wasm32.)
pub fn now_ms() -> u64 {
    Date::now().as_millis()
}

/// Bytes of wasm linear memory this isolate has: the Rust heap at its largest since the
/// isolate started (linear memory grows and never shrinks), which is what counts against the
/// isolate's 128 MB. Every object of a Worker that shares the isolate shares this memory.
pub fn wasm_memory_bytes() -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        const WASM_PAGE_BYTES: u64 = 64 * 1024;
        core::arch::wasm32::memory_size::<0>() as u64 * WASM_PAGE_BYTES
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0
    }
}

/// The chain this deployment runs, as every service derives it from the same genesis.
#[derive(Debug)]
pub struct Chain {
    /// The genesis as configured.
    pub genesis: Genesis,
    /// Its configuration and header hash: what validators check proposals against.
    pub context: ChainContext,
    /// Block 0.
    pub genesis_header: Header,
    /// Every shard's root at genesis.
    pub genesis_shard_roots: Vec<Hash>,
}

thread_local! {
    /// The chain, parsed once per isolate: building the genesis tries is not free.
    static CHAIN: RefCell<Option<Rc<Chain>>> = const { RefCell::new(None) };
}

/// The chain from the `GENESIS` variable (or secret), parsed and validated once per isolate.
/// A missing or invalid genesis is a deployment error: 500 `misconfigured`.
pub fn chain(env: &Env) -> Result<Rc<Chain>, ApiError> {
    if let Some(chain) = CHAIN.with(|cell| cell.borrow().clone()) {
        return Ok(chain);
    }
    let chain = Rc::new(load_chain(env)?);
    CHAIN.with(|cell| *cell.borrow_mut() = Some(chain.clone()));
    Ok(chain)
}

fn load_chain(env: &Env) -> Result<Chain, ApiError> {
    let text = env
        .var(GENESIS_VARIABLE)
        .map(|var| var.to_string())
        .or_else(|_| {
            env.secret(GENESIS_VARIABLE)
                .map(|secret| secret.to_string())
        })
        .map_err(|_| misconfigured(format!("the {GENESIS_VARIABLE} variable is not set")))?;
    let genesis: Genesis = serde_json::from_str(&text)
        .map_err(|error| misconfigured(format!("{GENESIS_VARIABLE} is not a genesis: {error}")))?;
    genesis
        .validate()
        .map_err(|error| misconfigured(format!("{GENESIS_VARIABLE} is invalid: {error}")))?;
    let genesis_header = genesis
        .header()
        .map_err(|error| misconfigured(format!("building the genesis header: {error}")))?;
    let genesis_shard_roots = genesis
        .shard_roots()
        .map_err(|error| misconfigured(format!("building the genesis shard roots: {error}")))?;
    Ok(Chain {
        context: ChainContext {
            config: genesis.config.clone(),
            genesis_hash: genesis_header.hash(),
        },
        genesis,
        genesis_header,
        genesis_shard_roots,
    })
}

/// 500 `misconfigured`: the deployment lacks something it needs (a variable, a binding).
pub fn misconfigured(message: impl Into<String>) -> ApiError {
    ApiError::new(500, "misconfigured", message)
}

/// 500 `internal_error`: the runtime failed us (storage, a binding). Never used for input.
pub fn internal(error: impl std::fmt::Display) -> ApiError {
    ApiError::new(500, "internal_error", error.to_string())
}

/// A required string variable or secret.
pub fn text_setting(env: &Env, name: &str) -> Result<String, ApiError> {
    env.secret(name)
        .map(|secret| secret.to_string())
        .or_else(|_| env.var(name).map(|var| var.to_string()))
        .map_err(|_| misconfigured(format!("{name} is not set")))
}

/// An optional variable, `None` when it is not set.
pub fn optional_setting(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|var| var.to_string())
        .or_else(|_| env.secret(name).map(|secret| secret.to_string()))
        .ok()
}

/// A request header's value, if present and readable.
pub fn header(request: &Request, name: &str) -> Option<String> {
    request.headers().get(name).ok().flatten()
}

/// Reads a request body of at most `limit` bytes: a declared `Content-Length` over the limit
/// is refused before anything is read, and the bytes read are checked again (413 either way).
pub async fn read_body(request: &mut Request, limit: usize) -> Result<Vec<u8>, ApiError> {
    if let Some(length) = header(request, "content-length").and_then(|value| value.parse().ok()) {
        ledger::api::check_body_size(length, limit)?;
    }
    let body = request
        .bytes()
        .await
        .map_err(|error| ApiError::bad_request("unreadable_body", error.to_string()))?;
    ledger::api::check_body_size(body.len(), limit)?;
    Ok(body)
}

/// The path and query of a request: (`/a/b`, `Some("x=1")`).
pub fn path_and_query(request: &Request) -> Result<(String, Option<String>), ApiError> {
    let url = request
        .url()
        .map_err(|error| ApiError::bad_request("invalid_url", error.to_string()))?;
    Ok((url.path().to_owned(), url.query().map(str::to_owned)))
}

/// A response with `status`, `bytes` and a content type. Building one only fails if the
/// runtime does, which the caller reports as an internal error.
pub fn bytes_response(status: u16, bytes: Vec<u8>, content_type: &str) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", content_type)?;
    headers.set("cache-control", "no-store")?;
    Ok(Response::from_bytes(bytes)?
        .with_status(status)
        .with_headers(headers))
}

/// A public answer in the client's format.
pub fn answer<T: Serialize>(format: Format, status: u16, value: &T) -> worker::Result<Response> {
    bytes_response(status, format.encode(value), format.content_type())
}

/// A public error answer in the client's format.
pub fn error_answer(format: Format, error: impl Into<ErrorAnswer>) -> worker::Result<Response> {
    let error = error.into();
    answer(format, error.status, &error.body)
}

/// An internal answer: MessagePack.
pub fn internal_answer<T: Serialize + ?Sized>(value: &T) -> worker::Result<Response> {
    bytes_response(200, wire::encode(value), INTERNAL_CONTENT_TYPE)
}

/// An internal error answer: MessagePack [`ledger::api::ErrorBody`] with the error's status.
pub fn internal_error_answer(error: impl Into<ErrorAnswer>) -> worker::Result<Response> {
    let error = error.into();
    bytes_response(
        error.status,
        wire::encode(&error.body),
        INTERNAL_CONTENT_TYPE,
    )
}

/// Where an internal call goes: a Durable Object or a service.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    /// A Durable Object, through its stub.
    Object(&'a Stub),
    /// A Worker, through a service binding.
    Service(&'a Fetcher),
}

/// Makes an internal call and decodes its answer (at most `answer_limit` bytes). Transport
/// failures, a passed deadline and undecodable answers become 502/504 [`ErrorAnswer`]s.
///
/// The body is copied into the runtime's request when this is called, not when the call is
/// awaited, and the future does not borrow it: a caller may free its encoding at once.
pub fn call<'t, T: DeserializeOwned>(
    target: Target<'t>,
    call: &InternalCall,
    body: Option<&[u8]>,
    answer_limit: usize,
    deadline: Duration,
) -> impl Future<Output = Result<T, ErrorAnswer>> + use<'t, T> {
    call_traced(target, call, body, answer_limit, deadline, None)
}

/// [`call`], naming the public requests the call is about in the `x-request-id` header
/// (a value from [`ledger::metrics::logs::request_ids_header`]), so the callee's log lines
/// carry them.
pub fn call_traced<'t, T: DeserializeOwned>(
    target: Target<'t>,
    call: &InternalCall,
    body: Option<&[u8]>,
    answer_limit: usize,
    deadline: Duration,
    request_ids: Option<&str>,
) -> impl Future<Output = Result<T, ErrorAnswer>> + use<'t, T> {
    let path = call.path();
    let exchange = call_raw(target, call, body, deadline, request_ids);
    async move {
        let (status, bytes) = exchange.await?;
        if status != 200 {
            return Err(wire::decode_error(status, &bytes));
        }
        wire::decode(&bytes, answer_limit).map_err(|error| {
            ApiError::new(
                502,
                "bad_internal_answer",
                format!("{path} answered something unreadable: {}", error.message),
            )
            .into()
        })
    }
}

/// Makes an internal call and returns the status and body as they are. The body is copied
/// into the request at once, as for [`call`].
pub fn call_raw<'t>(
    target: Target<'t>,
    call: &InternalCall,
    body: Option<&[u8]>,
    deadline: Duration,
    request_ids: Option<&str>,
) -> impl Future<Output = Result<(u16, Vec<u8>), ErrorAnswer>> + use<'t> {
    let path = call.path();
    let request = internal_request(call, body, request_ids);
    async move {
        let request = request.map_err(|error| ErrorAnswer::from(internal(error)))?;
        let exchange = async {
            let mut response = match target {
                Target::Object(stub) => stub.fetch_with_request(request).await?,
                Target::Service(fetcher) => fetcher.fetch_request(request).await?,
            };
            let bytes = response.bytes().await?;
            Ok::<_, worker::Error>((response.status_code(), bytes))
        };
        let exchange = std::pin::pin!(exchange);
        let timer = std::pin::pin!(Delay::from(deadline));
        match select(exchange, timer).await {
            Either::Left((Ok(answer), _)) => Ok(answer),
            Either::Left((Err(error), _)) => Err(ApiError::new(
                502,
                "internal_call_failed",
                format!("{path} failed: {error}"),
            )
            .into()),
            Either::Right(_) => Err(ApiError::new(
                504,
                "internal_call_timeout",
                format!("{path} did not answer within {} ms", deadline.as_millis()),
            )
            .into()),
        }
    }
}

fn internal_request(
    call: &InternalCall,
    body: Option<&[u8]>,
    request_ids: Option<&str>,
) -> worker::Result<Request> {
    let headers = Headers::new();
    headers.set("content-type", INTERNAL_CONTENT_TYPE)?;
    if let Some(request_ids) = request_ids {
        headers.set(REQUEST_ID_HEADER, request_ids)?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::from(call.method().to_owned()))
        .with_headers(headers);
    if let Some(body) = body {
        let array = worker::js_sys::Uint8Array::from(body);
        init.with_body(Some(JsValue::from(array)));
    }
    Request::new_with_init(&call.url(), &init)
}

/// The public request ids an internal request names ([`call_traced`]); empty if none.
pub fn request_ids(request: &Request) -> Vec<String> {
    header(request, REQUEST_ID_HEADER)
        .map(|value| ledger::metrics::logs::parse_request_ids(&value))
        .unwrap_or_default()
}

/// Writes one structured log line: single-line JSON with an `event`, at `console.info`
/// level (what `wrangler dev --log-level info` shows; Workers Logs keeps it as JSON).
pub fn log_event(line: &serde_json::Value) {
    worker::web_sys::console::info_1(&line.to_string().into());
}

/// Reads an internal request: which call it is (404 if none) and its body, bounded.
pub async fn read_internal(
    request: &mut Request,
    body_limit: usize,
) -> Result<(InternalCall, Vec<u8>), ApiError> {
    let (path, query) = path_and_query(request)?;
    let method = request.method().to_string();
    let call = InternalCall::parse(&method, &path, query.as_deref())
        .ok_or_else(|| ApiError::not_found(format!("no internal endpoint {method} {path}")))?;
    let body = if call.method() == "POST" {
        read_body(request, body_limit).await?
    } else {
        Vec::new()
    };
    Ok((call, body))
}

/// The KV namespace bound as `binding`: 500 `misconfigured` if there is none.
pub fn kv(env: &Env, binding: &str) -> Result<worker::KvStore, ApiError> {
    env.kv(binding)
        .map_err(|error| misconfigured(format!("{binding}: {error}")))
}

/// A KV value's bytes, `None` if the key is absent; a failing read is a 500.
pub async fn kv_get(kv: &worker::KvStore, key: &str) -> Result<Option<Vec<u8>>, ApiError> {
    kv.get(key)
        .bytes()
        .await
        .map_err(|error| internal(format!("reading KV key {key}: {error}")))
}

/// Writes a KV value; a failing write is a 500.
pub async fn kv_put(kv: &worker::KvStore, key: &str, bytes: &[u8]) -> Result<(), ApiError> {
    kv.put_bytes(key, bytes)
        .map_err(|error| internal(format!("writing KV key {key}: {error}")))?
        .execute()
        .await
        .map_err(|error| internal(format!("writing KV key {key}: {error}")))
}
