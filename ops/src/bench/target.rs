//! The chains a benchmark talks to: Ethereum JSON-RPC (which edgeledger and anvil both
//! speak, so the same code submits to and watches both) and edgeledger's native MessagePack
//! batches (`POST /v1/txs`).

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use ledger::api::{self, BatchAnswer, BatchElement, BlockAnswer, SubmissionStatus};
use ledger::primitives::{Address, Hash, to_hex};
use ledger::rpc::RpcError;

use super::workload::SignedTx;
use crate::client::Client;
use serde_json::{Value, json};

/// What each element of a native batch carries besides the raw transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carried {
    /// Nothing: the front door recovers every sender.
    Nothing,
    /// The sender's public key.
    SenderKeys,
    /// The sender's public key and the y of the signature's nonce point.
    SenderKeysAndNonceYs,
}

/// How long one benchmark request may take (a batch of thousands waits for its admission).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Largest answer read: a block's transaction hashes, or a batch's results.
const ANSWER_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// An answer of 503: the chain took nothing and asks to be asked again (a full mempool, or
/// on the local network a moment when wrangler's dev registry cannot find a Worker).
#[derive(Debug, thiserror::Error)]
#[error("{url} answered 503: {body}")]
pub struct Unavailable {
    pub(crate) url: String,
    pub(crate) body: String,
}

/// A JSON-RPC error answer.
#[derive(Debug, thiserror::Error)]
#[error("{message} ({code})")]
pub struct RpcAnswerError {
    /// The error code.
    pub code: i64,
    /// The message.
    pub message: String,
}

/// What became of one submitted transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// Queued (or already known: a resend is idempotent).
    Accepted,
    /// Refused because the pool (or the sender's share of it) was full: the same
    /// transaction may be sent again later. With the chain's reason.
    Full(String),
    /// Refused, with the chain's reason.
    Refused(String),
}

/// A chain's JSON-RPC endpoint.
#[derive(Debug, Clone)]
pub struct Rpc {
    url: String,
    agent: ureq::Agent,
}

impl Rpc {
    /// The endpoint at `url` (edgeledger answers on `/` and `/rpc`).
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            agent: agent(),
        }
    }

    /// One call's result (a JSON-RPC error is an error).
    pub fn call(&self, method: &str, params: Value) -> Result<Value> {
        let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let answer = self.post(&request)?;
        result_of(&answer).with_context(|| format!("{method} at {}", self.url))
    }

    /// A batch of calls, answered in order (matched by id), each its result or error.
    pub fn batch(&self, calls: &[(&str, Value)]) -> Result<Vec<Result<Value>>> {
        let requests: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(id, (method, params))| {
                json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
            })
            .collect();
        let answer = self.post(&Value::Array(requests))?;
        let Value::Array(answers) = answer else {
            bail!("{} answered a batch with {answer}", self.url);
        };
        let mut ordered: Vec<Option<Result<Value>>> = (0..calls.len()).map(|_| None).collect();
        for answer in answers {
            let id = answer["id"]
                .as_u64()
                .and_then(|id| usize::try_from(id).ok());
            let Some(slot) = id.and_then(|id| ordered.get_mut(id)) else {
                bail!("{} answered an unknown id: {answer}", self.url);
            };
            *slot = Some(result_of(&answer));
        }
        ordered
            .into_iter()
            .enumerate()
            .map(|(id, answer)| answer.with_context(|| format!("no answer for call {id}")))
            .collect()
    }

    /// `eth_chainId`.
    pub fn chain_id(&self) -> Result<u64> {
        quantity(&self.call("eth_chainId", json!([]))?)
    }

    /// `eth_blockNumber`.
    pub fn head(&self) -> Result<u64> {
        quantity(&self.call("eth_blockNumber", json!([]))?)
    }

    /// The nonce each address's next transaction takes, pending ones counted.
    pub fn next_nonces(&self, addresses: &[Address]) -> Result<Vec<u64>> {
        let mut nonces = Vec::with_capacity(addresses.len());
        // Small batches: edgeledger answers at most 100 reads per batch.
        for chunk in addresses.chunks(50) {
            let calls: Vec<(&str, Value)> = chunk
                .iter()
                .map(|address| {
                    (
                        "eth_getTransactionCount",
                        json!([address.to_string(), "pending"]),
                    )
                })
                .collect();
            for answer in self.batch(&calls)? {
                nonces.push(quantity(&answer?)?);
            }
        }
        Ok(nonces)
    }

    /// The hashes of the transactions in block `height`, in block order.
    pub fn block_transactions(&self, height: u64) -> Result<Vec<Hash>> {
        let block = self.call(
            "eth_getBlockByNumber",
            json!([format!("{height:#x}"), false]),
        )?;
        ensure!(!block.is_null(), "block {height} does not exist yet");
        block["transactions"]
            .as_array()
            .context("a block without transactions")?
            .iter()
            .map(|hash| serde_json::from_value(hash.clone()).context("a transaction hash"))
            .collect()
    }

    /// `eth_sendRawTransaction` for each of `txs`, in one batch. Any of them answered
    /// "resource unavailable" makes the whole batch [`Unavailable`], to be sent again (what
    /// the chain did take comes back as already known, which counts as accepted).
    pub fn send_raw_batch(&self, txs: &[SignedTx]) -> Result<Vec<Submitted>> {
        let calls: Vec<(&str, Value)> = txs
            .iter()
            .map(|tx| ("eth_sendRawTransaction", json!([to_hex(&tx.raw)])))
            .collect();
        let answers = self.batch(&calls)?;
        if let Some(message) = unavailable_in(&answers) {
            return Err(Unavailable {
                url: self.url.clone(),
                body: message,
            }
            .into());
        }
        Ok(answers
            .into_iter()
            .map(|answer| match answer {
                Ok(_) => Submitted::Accepted,
                Err(error) => {
                    let full = error
                        .downcast_ref::<RpcAnswerError>()
                        .is_some_and(|error| error.code == RpcError::LIMIT_EXCEEDED);
                    let reason = format!("{error:#}");
                    if full {
                        Submitted::Full(reason)
                    } else {
                        Submitted::Refused(reason)
                    }
                }
            })
            .collect())
    }

    fn post(&self, body: &Value) -> Result<Value> {
        let response = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .send(body.to_string());
        let bytes = ok_answer(response, &self.url)?;
        serde_json::from_slice(&bytes).with_context(|| format!("{} answered no JSON", self.url))
    }
}

/// Edgeledger's native API: the batch endpoint, and blocks waited for as they commit.
#[derive(Debug, Clone)]
pub struct Native {
    url: String,
    blocks_url: String,
    agent: ureq::Agent,
    /// The ops client of the same API, for everything else (a transaction's status).
    client: Client,
}

impl Native {
    /// The API at `base` (`http://127.0.0.1:8787`).
    pub fn new(base: &str) -> Self {
        let base = base.trim_end_matches('/');
        Self {
            url: format!("{base}/v1/txs"),
            blocks_url: format!("{base}/v1/blocks"),
            agent: agent(),
            client: Client::new(base),
        }
    }

    /// The ops client of the same API.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The transaction hashes of block `height`, asked with `?wait_ms=` so the chain answers
    /// as the block commits; `None` if it was not committed within `wait` (answer 404).
    pub fn await_block(&self, height: u64, wait: Duration) -> Result<Option<Vec<Hash>>> {
        let url = format!("{}/{height}?wait_ms={}", self.blocks_url, wait.as_millis());
        let response = self
            .agent
            .get(&url)
            .header("accept", "application/json")
            .call();
        if matches!(&response, Ok(answer) if answer.status() == 404) {
            return Ok(None);
        }
        let bytes = ok_answer(response, &url)?;
        let block: BlockAnswer = serde_json::from_slice(&bytes).context("a block answer")?;
        ensure!(
            block.header.height == height,
            "asked for block {height}, got {}",
            block.header.height
        );
        Ok(Some(block.transactions))
    }

    /// `POST /v1/txs`: the transactions as a MessagePack array of byte strings, or as
    /// `carried` says, of pairs `[raw, sender key]` (which spares the front door recovering
    /// each sender) or triples `[raw, sender key, nonce y]` (which spares it a square root
    /// too).
    pub fn submit_batch(&self, txs: &[SignedTx], carried: Carried) -> Result<Vec<Submitted>> {
        let body = api::encode_batch(txs.iter().map(|tx| BatchElement {
            raw: &tx.raw,
            sender_key: (carried != Carried::Nothing).then_some(tx.sender_key.as_slice()),
            nonce_y: (carried == Carried::SenderKeysAndNonceYs).then_some(tx.nonce_y.as_slice()),
        }));
        let response = self
            .agent
            .post(&self.url)
            .header("content-type", "application/msgpack")
            .send(&body[..]);
        let bytes = ok_answer(response, &self.url)?;
        let answer: BatchAnswer = serde_json::from_slice(&bytes).context("a batch answer")?;
        ensure!(
            answer.results.len() == txs.len(),
            "{} results for {} transactions",
            answer.results.len(),
            txs.len()
        );
        Ok(answer
            .results
            .into_iter()
            .map(|result| match result.status {
                SubmissionStatus::Accepted | SubmissionStatus::Duplicate => Submitted::Accepted,
                SubmissionStatus::Rejected => {
                    // The chain's own reading of a refusal: 429 and 503 are load, to retry.
                    let full = matches!(result.refusal_status(), 429 | 503);
                    let code = result
                        .reason
                        .map_or_else(|| "rejected".to_owned(), |reason| reason.code);
                    if full {
                        Submitted::Full(code)
                    } else {
                        Submitted::Refused(code)
                    }
                }
            })
            .collect())
    }
}

/// The body of a 200 answer to a request to `url` (at most [`ANSWER_BYTES_MAX`]); 503 is an
/// [`Unavailable`] error, a failed exchange or any other status an error naming the start of
/// the body.
fn ok_answer(
    response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    url: &str,
) -> Result<Vec<u8>> {
    let mut response = response.with_context(|| format!("asking {url}"))?;
    let status = response.status().as_u16();
    let bytes = response
        .body_mut()
        .with_config()
        .limit(ANSWER_BYTES_MAX)
        .read_to_vec()
        .with_context(|| format!("reading the answer of {url}"))?;
    let start = || String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
    if status == 503 {
        return Err(Unavailable {
            url: url.to_owned(),
            body: start(),
        }
        .into());
    }
    ensure!(status == 200, "{url} answered {status}: {}", start());
    Ok(bytes)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(REQUEST_TIMEOUT))
        // The local dev server closes idle keep-alive connections after a few seconds.
        .max_idle_age(Duration::from_secs(1))
        .build()
        .into()
}

/// The message of the first answer that is a "resource unavailable" error, if any.
fn unavailable_in(answers: &[Result<Value>]) -> Option<String> {
    answers.iter().find_map(|answer| {
        let error = answer.as_ref().err()?.downcast_ref::<RpcAnswerError>()?;
        (error.code == RpcError::RESOURCE_UNAVAILABLE).then(|| error.message.clone())
    })
}

/// A JSON-RPC answer's result, or its error as an [`RpcAnswerError`].
fn result_of(answer: &Value) -> Result<Value> {
    if let Some(error) = answer.get("error") {
        return Err(RpcAnswerError {
            code: error["code"].as_i64().unwrap_or_default(),
            message: error["message"].as_str().unwrap_or("an error").to_owned(),
        }
        .into());
    }
    answer
        .get("result")
        .cloned()
        .with_context(|| format!("an answer without a result: {answer}"))
}

/// A `0x` hex quantity.
fn quantity(value: &Value) -> Result<u64> {
    let text = value
        .as_str()
        .with_context(|| format!("{value} is not a quantity"))?;
    let digits = text
        .strip_prefix("0x")
        .with_context(|| format!("{text} is not 0x hex"))?;
    u64::from_str_radix(digits, 16).with_context(|| format!("{text} is not a u64"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_and_results_are_read_strictly() {
        assert_eq!(quantity(&json!("0x7a69")).expect("hex"), 31337);
        assert!(quantity(&json!("7a69")).is_err());
        assert!(quantity(&json!(31337)).is_err());
        assert_eq!(
            result_of(&json!({"result": "0x1"})).expect("a result"),
            json!("0x1")
        );
        let refused = result_of(&json!({"error": {"code": -32000, "message": "nonce too low"}}));
        assert_eq!(
            format!("{:#}", refused.expect_err("an error")),
            "nonce too low (-32000)"
        );
        assert!(result_of(&json!({"id": 1})).is_err());
    }

    #[test]
    fn a_batch_with_any_resource_unavailable_answer_is_unavailable() {
        let refused = json!({"error": {"code": -32000, "message": "nonce too low"}});
        let unavailable = json!({"error": {"code": -32002, "message": "resource unavailable"}});
        let taken = json!({"result": "0x12"});
        let answers = |values: &[&Value]| -> Vec<Result<Value>> {
            values.iter().map(|value| result_of(value)).collect()
        };
        assert_eq!(unavailable_in(&answers(&[&taken, &refused])), None);
        assert_eq!(
            unavailable_in(&answers(&[&taken, &unavailable, &refused])).as_deref(),
            Some("resource unavailable")
        );
        assert_eq!(unavailable_in(&[]), None);
    }
}
