//! A small HTTP client for the public API, as an API user would write one: it sends bytes
//! and reads JSON answers into the `ledger::api` answer types.

use std::time::{Duration, Instant};

use ledger::api::{
    AccountAnswer, BatchAnswer, BlockAnswer, ErrorBody, StatusAnswer, SubmissionResult, TxState,
    TxStatusAnswer,
};
use ledger::primitives::{Address, Hash, to_hex};
use ledger::transaction::Submission;
use serde::de::DeserializeOwned;
use ureq::Agent;

/// An answer: status and body.
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    /// Every header, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl Answer {
    /// A header's value, if the answer has it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body as JSON of type `T`; panics with the body shown if it is not.
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "status {}: body is not the expected JSON ({error}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The error code of an error answer.
    pub fn error_code(&self) -> String {
        self.json::<ErrorBody>().error.code
    }

    /// The body as text (for messages and byte-for-byte comparisons).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The MessagePack body of `POST /v1/txs`: an array whose elements are each a `bin` raw
/// transaction, or a pair `[bin raw, bin sender key]`.
fn batch_body(submissions: &[Submission]) -> Vec<u8> {
    ledger::api::encode_batch(submissions.iter().map(ledger::api::BatchElement::from))
}

fn raws_only(raws: &[Vec<u8>]) -> Vec<Submission> {
    raws.iter().cloned().map(Submission::raw).collect()
}

/// A client of one network's public API.
pub struct Client {
    base: String,
    agent: Agent,
}

impl Client {
    /// The API's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn new(base: &str) -> Self {
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            // The dev server closes idle keep-alive connections after a few seconds; reusing
            // one it is closing fails with "peer disconnected". Keep idle connections briefly.
            .max_idle_age(Duration::from_secs(1))
            .build()
            .into();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            agent,
        }
    }

    /// Sends a request with optional body and headers; panics if no answer comes.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Answer {
        self.try_send(method, path, headers, body)
            .unwrap_or_else(|error| panic!("{method} {}{path}: {error}", self.base))
    }

    /// [`Client::send`], with a failure to get an answer (the network is down, say) as `Err`.
    pub fn try_send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Answer, String> {
        let url = format!("{}{path}", self.base);
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(body.map(<[u8]>::to_vec).unwrap_or_default())
            .map_err(|error| error.to_string())?;
        let mut response = self.agent.run(request).map_err(|error| error.to_string())?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .map_err(|error| error.to_string())?;
        Ok(Answer {
            status,
            content_type,
            body,
            headers,
        })
    }

    pub fn get(&self, path: &str) -> Answer {
        self.send("GET", path, &[], None)
    }

    /// `POST /v1/txs` with a MessagePack batch of raw transactions.
    pub fn submit_batch_raw(&self, raws: &[Vec<u8>]) -> Answer {
        self.submit_batch_with_headers(raws, &[])
    }

    /// [`Self::submit_batch_raw`] with more request headers (an `x-request-id`, say).
    pub fn submit_batch_with_headers(&self, raws: &[Vec<u8>], headers: &[(&str, &str)]) -> Answer {
        let mut all = vec![("content-type", "application/msgpack")];
        all.extend_from_slice(headers);
        self.send("POST", "/v1/txs", &all, Some(&batch_body(&raws_only(raws))))
    }

    /// [`Self::submit_batch_raw`], with no answer (the network is down) as `Err`.
    pub fn try_submit_batch(&self, raws: &[Vec<u8>]) -> Result<Answer, String> {
        let headers = [("content-type", "application/msgpack")];
        self.try_send(
            "POST",
            "/v1/txs",
            &headers,
            Some(&batch_body(&raws_only(raws))),
        )
    }

    /// Submits a batch and returns the per-transaction results (asserting a 200). A 503 is
    /// sent again a few times, as any client would: on the local network wrangler's dev
    /// registry answers so for a moment when it cannot find a Worker (the chain took nothing,
    /// and a resend of what it did take is idempotent).
    pub fn submit_batch(&self, raws: &[Vec<u8>]) -> Vec<SubmissionResult> {
        self.submit_keyed_batch(&raws_only(raws))
    }

    /// [`Self::submit_batch`] of transactions that may name their senders' keys.
    pub fn submit_keyed_batch(&self, submissions: &[Submission]) -> Vec<SubmissionResult> {
        let body = batch_body(submissions);
        let headers = [("content-type", "application/msgpack")];
        let mut answer = self.send("POST", "/v1/txs", &headers, Some(&body));
        for _ in 0..5 {
            if answer.status != 503 {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
            answer = self.send("POST", "/v1/txs", &headers, Some(&body));
        }
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        answer.json::<BatchAnswer>().results
    }

    /// `POST /v1/tx` with `{"raw": "0x…"}`.
    pub fn submit_one(&self, raw: &[u8]) -> Answer {
        self.submit_one_with_key(raw, None)
    }

    /// `POST /v1/tx`, with `"sender_key"` when `sender_key` is given.
    pub fn submit_one_with_key(&self, raw: &[u8], sender_key: Option<&[u8]>) -> Answer {
        self.submit_one_with(raw, sender_key, None)
    }

    /// `POST /v1/tx`, with `"sender_key"` and `"nonce_y"` when they are given.
    pub fn submit_one_with(
        &self,
        raw: &[u8],
        sender_key: Option<&[u8]>,
        nonce_y: Option<&[u8]>,
    ) -> Answer {
        let mut body = serde_json::json!({ "raw": to_hex(raw) });
        if let Some(key) = sender_key {
            body["sender_key"] = to_hex(key).into();
        }
        if let Some(nonce_y) = nonce_y {
            body["nonce_y"] = to_hex(nonce_y).into();
        }
        let body = body.to_string();
        self.send(
            "POST",
            "/v1/tx",
            &[("content-type", "application/json")],
            Some(body.as_bytes()),
        )
    }

    pub fn status(&self) -> StatusAnswer {
        let answer = self.get("/v1/status");
        assert_eq!(answer.status, 200);
        answer.json()
    }

    pub fn transaction(&self, hash: &Hash) -> TxStatusAnswer {
        let answer = self.get(&format!("/v1/txs/{hash}"));
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        answer.json()
    }

    /// An account; retries while the shard catches up with the head (503 `state_moving`).
    pub fn account(&self, address: &Address, proof: bool) -> AccountAnswer {
        let path = format!("/v1/accounts/{address}?proof={proof}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let answer = self.get(&path);
            if answer.status == 503 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            assert_eq!(
                answer.status,
                200,
                "{}",
                String::from_utf8_lossy(&answer.body)
            );
            return answer.json();
        }
    }

    pub fn block(&self, selector: &str) -> Answer {
        self.get(&format!("/v1/blocks/{selector}"))
    }

    pub fn latest_block(&self) -> BlockAnswer {
        let answer = self.block("latest");
        assert_eq!(answer.status, 200);
        answer.json()
    }

    /// `POST /v1/admin/validators/{index}/fault`.
    pub fn set_fault(&self, token: &str, index: usize, mode: &str) -> Answer {
        let body = serde_json::json!({ "mode": mode }).to_string();
        let authorization = format!("Bearer {token}");
        self.send(
            "POST",
            &format!("/v1/admin/validators/{index}/fault"),
            &[
                ("content-type", "application/json"),
                ("authorization", &authorization),
            ],
            Some(body.as_bytes()),
        )
    }

    /// Waits until every hash is committed (or rejected), up to `timeout`; returns the
    /// final answers. Panics naming the stragglers on timeout.
    pub fn wait_final(&self, hashes: &[Hash], timeout: Duration) -> Vec<TxStatusAnswer> {
        let deadline = Instant::now() + timeout;
        loop {
            let answers: Vec<TxStatusAnswer> =
                hashes.iter().map(|hash| self.transaction(hash)).collect();
            let open: Vec<&TxStatusAnswer> = answers
                .iter()
                .filter(|answer| matches!(answer.status, TxState::Pending | TxState::Unknown))
                .collect();
            if open.is_empty() {
                return answers;
            }
            assert!(
                Instant::now() < deadline,
                "{} transactions still not final after {timeout:?}, e.g. {:?}",
                open.len(),
                open[0]
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// [`Self::wait_final`], asserting that every one was committed (none rejected).
    pub fn wait_committed(&self, hashes: &[Hash], timeout: Duration) -> Vec<TxStatusAnswer> {
        let finals = self.wait_final(hashes, timeout);
        assert!(
            finals
                .iter()
                .all(|answer| answer.status == TxState::Committed),
            "{finals:?}"
        );
        finals
    }
}
