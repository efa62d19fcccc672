//! The chain's public API from an operator's terminal: typed requests over HTTP, with the API's
//! refusals (`{"error": {"code", "message"}}`) kept as data so commands can show their code.

use std::fmt;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ledger::api::{
    AccountAnswer, BlockAnswer, ErrorBody, StatusAnswer, SubmissionResult, TxStatusAnswer,
};
use ledger::primitives::{Address, Hash, to_hex};
use serde::de::DeserializeOwned;

/// The chain's API on the local network.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8787";

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest answer read, in bytes (a block answer with its certificate is a few KiB).
const ANSWER_BYTES_MAX: u64 = 4 * 1024 * 1024;

/// How long an account request is retried while its shard applies the latest block
/// (`503 state_moving`).
const STATE_MOVING_RETRY: Duration = Duration::from_secs(10);

/// A refusal from the API: the HTTP status and the error's code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// The stable machine code (`nonce_too_low`, `invalid_address`, ...).
    pub code: String,
    /// The message for people.
    pub message: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "the chain answered {} {}: {}",
            self.status, self.code, self.message
        )
    }
}

impl std::error::Error for Refusal {}

/// A client of one chain's public API.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the API at `url` (e.g. [`DEFAULT_URL`]).
    pub fn new(url: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT))
            // The local dev server closes idle keep-alive connections after a few seconds;
            // reusing one it is closing fails, so idle connections are kept only briefly.
            .max_idle_age(Duration::from_secs(1))
            .build()
            .into();
        Self {
            base: url.trim_end_matches('/').to_owned(),
            agent,
        }
    }

    /// The API's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /v1/status`.
    pub fn status(&self) -> Result<StatusAnswer> {
        self.get("/v1/status")
    }

    /// `GET /v1/blocks/{selector}` (a height, a hash or `latest`).
    pub fn block(&self, selector: &str) -> Result<BlockAnswer> {
        self.get(&format!("/v1/blocks/{selector}"))
    }

    /// `GET /v1/accounts/{address}`, with `?proof=true` when asked; retried while the shard
    /// applies the latest block.
    pub fn account(&self, address: &Address, proof: bool) -> Result<AccountAnswer> {
        let path = format!("/v1/accounts/{address}?proof={proof}");
        let deadline = Instant::now() + STATE_MOVING_RETRY;
        loop {
            match self.get(&path) {
                Err(error)
                    if Instant::now() < deadline
                        && error
                            .downcast_ref::<Refusal>()
                            .is_some_and(|refusal| refusal.code == "state_moving") =>
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
                answer => return answer,
            }
        }
    }

    /// `GET /v1/txs/{hash}`.
    pub fn transaction(&self, hash: &Hash) -> Result<TxStatusAnswer> {
        self.get(&format!("/v1/txs/{hash}"))
    }

    /// `POST /v1/tx` with `{"raw": "0x…"}`: accepted or duplicate, else the [`Refusal`] (as the
    /// error, for `downcast_ref`).
    pub fn submit(&self, raw: &[u8]) -> Result<SubmissionResult> {
        let body = serde_json::json!({ "raw": to_hex(raw) }).to_string();
        let url = format!("{}/v1/tx", self.base);
        let response = self
            .agent
            .post(&url)
            .header("content-type", "application/json")
            .send(body)
            .with_context(|| format!("sending the transaction to {url}"))?;
        read_answer(response, &url)
    }

    /// A GET, retried once if the connection fails (GETs change nothing).
    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let url = format!("{}{path}", self.base);
        let response = match self.agent.get(&url).call() {
            Ok(response) => response,
            Err(_) => self
                .agent
                .get(&url)
                .call()
                .with_context(|| format!("asking {url}"))?,
        };
        read_answer(response, &url)
    }
}

/// A 2xx answer as `T`; any other status as a [`Refusal`] (or a plain error if its body is not
/// the API's error shape).
fn read_answer<T: DeserializeOwned>(
    mut response: ureq::http::Response<ureq::Body>,
    url: &str,
) -> Result<T> {
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(ANSWER_BYTES_MAX)
        .read_to_vec()
        .with_context(|| format!("reading the answer of {url}"))?;
    if !(200..300).contains(&status) {
        return Err(match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(error) => Refusal {
                status,
                code: error.error.code,
                message: error.error.message,
            }
            .into(),
            Err(_) => anyhow::anyhow!(
                "{url} answered {status}: {}",
                String::from_utf8_lossy(&body)
            ),
        });
    }
    serde_json::from_slice(&body).with_context(|| {
        format!(
            "{url} answered something unexpected: {}",
            String::from_utf8_lossy(&body)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_shows_its_status_code_and_message() {
        let refusal = Refusal {
            status: 422,
            code: "nonce_too_low".to_owned(),
            message: "nonce 0 is below the account's 1".to_owned(),
        };
        assert_eq!(
            refusal.to_string(),
            "the chain answered 422 nonce_too_low: nonce 0 is below the account's 1"
        );
    }

    /// Serves one HTTP answer on loopback; gives its URL.
    fn serve_once(status: &str, body: &str) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let answer = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        );
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        url
    }

    #[test]
    fn a_refused_submission_keeps_the_api_code_and_message() {
        let url = serve_once(
            "422 Unprocessable Entity",
            r#"{"error":{"code":"nonce_too_low","message":"nonce 0 is below 1"}}"#,
        );
        let error = Client::new(&url).submit(&[1, 2, 3]).expect_err("refused");
        let refusal = error.downcast_ref::<Refusal>().expect("a refusal");
        assert_eq!(
            (
                refusal.status,
                refusal.code.as_str(),
                refusal.message.as_str()
            ),
            (422, "nonce_too_low", "nonce 0 is below 1")
        );
    }

    #[test]
    fn an_answer_that_is_not_the_api_shape_is_a_plain_error() {
        let url = serve_once("502 Bad Gateway", "upstream down");
        let error = Client::new(&url).status().expect_err("fails");
        assert!(error.downcast_ref::<Refusal>().is_none());
        assert!(error.to_string().contains("502"), "{error}");
        let garbage = serve_once("200 OK", "{}");
        assert!(Client::new(&garbage).status().is_err());
    }

    #[test]
    fn the_base_url_loses_trailing_slashes() {
        assert_eq!(
            Client::new("http://127.0.0.1:8787//").base(),
            "http://127.0.0.1:8787"
        );
    }
}
