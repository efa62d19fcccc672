//! Every public endpoint against bad input, from one table: malformed, truncated, oversized,
//! wrong types, wrong content type, wrong method, unauthorised and replayed requests. Each
//! gets its precise status and JSON error code (JSON-RPC: HTTP 200 and its error code), and
//! afterwards the chain is exactly as before: same head, same mempool, same accounts.

use ledger::api::{StatusAnswer, SubmissionStatus, TxState};
use ledger::primitives::{U256, to_hex};
use ledger::random::SplitMix64;
use serde_json::{Value, json};

use crate::harness::{Network, NetworkOptions, Transfers};
use crate::{COMMIT_TIMEOUT, random_address};

/// What a case must get back.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// This HTTP status with `{"error": {"code": …}}`.
    Error(u16, &'static str),
    /// HTTP 200 with a JSON-RPC error of this code.
    Rpc(i64),
    /// HTTP 200: a transaction reported as already known.
    Duplicate,
}

/// One request of the table.
struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    expect: Expect,
}

fn case(name: &'static str, method: &'static str, path: &str, expect: Expect) -> Case {
    Case {
        name,
        method,
        path: path.to_owned(),
        headers: Vec::new(),
        body: None,
        expect,
    }
}

impl Case {
    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.headers.push(("content-type", content_type.to_owned()));
        self.body = Some(body.into());
        self
    }

    fn json(self, body: &str) -> Self {
        self.body("application/json", body.as_bytes().to_vec())
    }

    fn msgpack(self, body: &[u8]) -> Self {
        self.body("application/msgpack", body.to_vec())
    }

    fn admin(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }
}

/// A JSON-RPC request body.
fn rpc(method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string()
}

/// The table. `replayed` is a committed transfer, `foreign` one signed for another chain.
fn table(token: &str, replayed: &str, foreign: &str) -> Vec<Case> {
    use Expect::{Duplicate, Error, Rpc};
    let hash = format!("0x{}", "ab".repeat(32));
    let address = format!("0x{}", "cd".repeat(20));
    let oversized = vec![0u8; 4 * 1024 * 1024 + 1];
    let wrong_token = format!("{token}x");
    vec![
        // POST /v1/txs: a MessagePack array of binary transactions.
        case(
            "batch: JSON body",
            "POST",
            "/v1/txs",
            Error(415, "unsupported_media_type"),
        )
        .json("[]"),
        case(
            "batch: no content type",
            "POST",
            "/v1/txs",
            Error(415, "unsupported_media_type"),
        ),
        case(
            "batch: not MessagePack",
            "POST",
            "/v1/txs",
            Error(400, "malformed_body"),
        )
        .msgpack(b"{not msgpack"),
        case(
            "batch: truncated",
            "POST",
            "/v1/txs",
            Error(400, "malformed_body"),
        )
        .msgpack(&[0x92, 0xc4, 0x10, 1, 2]),
        case(
            "batch: element not binary",
            "POST",
            "/v1/txs",
            Error(400, "malformed_body"),
        )
        .msgpack(&[0x91, 0xa3, b'a', b'b', b'c']),
        case(
            "batch: element an array of four",
            "POST",
            "/v1/txs",
            Error(400, "malformed_body"),
        )
        .msgpack(&[
            0x91, 0x94, 0xc4, 0x01, 0x02, 0xc4, 0x00, 0xc4, 0x00, 0xc4, 0x00,
        ]),
        case(
            "batch: oversized",
            "POST",
            "/v1/txs",
            Error(413, "body_too_large"),
        )
        .msgpack(&oversized),
        case(
            "batch: too many",
            "POST",
            "/v1/txs",
            Error(413, "batch_too_large"),
        )
        .msgpack(&[0xdc, 0x20, 0x00]),
        case(
            "batch: wrong method",
            "GET",
            "/v1/txs",
            Error(405, "method_not_allowed"),
        ),
        // POST /v1/tx: {"raw": "0x…"}.
        case(
            "single: wrong type",
            "POST",
            "/v1/tx",
            Error(400, "malformed_json"),
        )
        .json(r#"{"raw": 12}"#),
        case(
            "single: truncated",
            "POST",
            "/v1/tx",
            Error(400, "malformed_json"),
        )
        .json(r#"{"raw": "0x02f8"#),
        case(
            "single: not hex",
            "POST",
            "/v1/tx",
            Error(400, "malformed_hex"),
        )
        .json(r#"{"raw": "0xzz"}"#),
        case(
            "single: sender key not hex",
            "POST",
            "/v1/tx",
            Error(400, "malformed_hex"),
        )
        .json(r#"{"raw": "0x02", "sender_key": "0x4"}"#),
        case(
            "single: sender key no key",
            "POST",
            "/v1/tx",
            Error(422, "invalid_sender_key"),
        )
        .json(&json!({ "raw": replayed, "sender_key": "0x04" }).to_string()),
        case(
            "single: not a transaction",
            "POST",
            "/v1/tx",
            Error(422, "malformed"),
        )
        .json(r#"{"raw": "0x02"}"#),
        case(
            "single: wrong content type",
            "POST",
            "/v1/tx",
            Error(415, "unsupported_media_type"),
        )
        .body("text/plain", br#"{"raw": "0x02"}"#.to_vec()),
        case(
            "single: oversized",
            "POST",
            "/v1/tx",
            Error(413, "body_too_large"),
        )
        .json(&"x".repeat(4_096)),
        case(
            "single: wrong method",
            "PUT",
            "/v1/tx",
            Error(405, "method_not_allowed"),
        ),
        case("single: replayed", "POST", "/v1/tx", Duplicate)
            .json(&json!({ "raw": replayed }).to_string()),
        case(
            "single: another chain",
            "POST",
            "/v1/tx",
            Error(422, "wrong_chain_id"),
        )
        .json(&json!({ "raw": foreign }).to_string()),
        // Reads.
        case(
            "tx: short hash",
            "GET",
            "/v1/txs/0x12",
            Error(400, "invalid_hash"),
        ),
        case(
            "tx: not hex",
            "GET",
            &format!("/v1/txs/0x{}", "zz".repeat(32)),
            Error(400, "invalid_hash"),
        ),
        case(
            "tx: wrong method",
            "DELETE",
            &format!("/v1/txs/{hash}"),
            Error(405, "method_not_allowed"),
        ),
        case(
            "account: short address",
            "GET",
            "/v1/accounts/0x12",
            Error(400, "invalid_address"),
        ),
        case(
            "account: bad query",
            "GET",
            &format!("/v1/accounts/{address}?proof=maybe"),
            Error(400, "invalid_query"),
        ),
        case(
            "account: wrong method",
            "POST",
            &format!("/v1/accounts/{address}"),
            Error(405, "method_not_allowed"),
        ),
        case(
            "block: not an id",
            "GET",
            "/v1/blocks/abc",
            Error(400, "invalid_block_id"),
        ),
        case(
            "block: leading zero",
            "GET",
            "/v1/blocks/01",
            Error(400, "invalid_block_id"),
        ),
        case(
            "block: unknown",
            "GET",
            "/v1/blocks/999999",
            Error(404, "not_found"),
        ),
        case(
            "block: unknown hash",
            "GET",
            &format!("/v1/blocks/{hash}"),
            Error(404, "not_found"),
        ),
        case(
            "block: not committed within the wait",
            "GET",
            "/v1/blocks/999999?wait_ms=50",
            Error(404, "not_found"),
        ),
        case(
            "block: a wait past the limit",
            "GET",
            "/v1/blocks/999999?wait_ms=10001",
            Error(400, "invalid_query"),
        ),
        case(
            "block: a wait for latest",
            "GET",
            "/v1/blocks/latest?wait_ms=50",
            Error(400, "invalid_query"),
        ),
        case(
            "block: an unknown query parameter",
            "GET",
            "/v1/blocks/1?since=0",
            Error(400, "invalid_query"),
        ),
        case(
            "status: wrong method",
            "POST",
            "/v1/status",
            Error(405, "method_not_allowed"),
        ),
        case(
            "metrics: wrong method",
            "POST",
            "/metrics",
            Error(405, "method_not_allowed"),
        ),
        case(
            "dashboard: wrong method",
            "POST",
            "/dashboard",
            Error(405, "method_not_allowed"),
        ),
        case("unknown path", "GET", "/v2/status", Error(404, "not_found")),
        // Admin: the token, then the bodies.
        case(
            "admin: no token",
            "POST",
            "/v1/admin/pause",
            Error(401, "unauthorized"),
        ),
        case(
            "admin: wrong token",
            "POST",
            "/v1/admin/resume",
            Error(401, "unauthorized"),
        )
        .header("authorization", &format!("Bearer {wrong_token}")),
        case(
            "admin: not bearer",
            "GET",
            "/v1/admin/backups",
            Error(401, "unauthorized"),
        )
        .header("authorization", &format!("Basic {token}")),
        case(
            "admin: restore without token",
            "POST",
            "/v1/admin/restore",
            Error(401, "unauthorized"),
        )
        .json(r#"{"cid": "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"}"#),
        case(
            "admin: restore wrong type",
            "POST",
            "/v1/admin/restore",
            Error(400, "malformed_json"),
        )
        .admin(token)
        .json(r#"{"cid": 5}"#),
        case(
            "admin: restore truncated",
            "POST",
            "/v1/admin/restore",
            Error(400, "malformed_json"),
        )
        .admin(token)
        .json(r#"{"cid": "Qm"#),
        case(
            "admin: restore with no backups",
            "POST",
            "/v1/admin/restore",
            Error(409, "no_backup_index"),
        )
        .admin(token)
        .json(r#"{"cid": "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"}"#),
        case(
            "admin: fault of no validator",
            "POST",
            "/v1/admin/validators/9/fault",
            Error(404, "not_found"),
        )
        .admin(token)
        .json(r#"{"mode": "down"}"#),
        case(
            "admin: fault not an index",
            "POST",
            "/v1/admin/validators/x/fault",
            Error(400, "invalid_validator"),
        )
        .admin(token)
        .json(r#"{"mode": "down"}"#),
        case(
            "admin: unknown fault",
            "POST",
            "/v1/admin/validators/0/fault",
            Error(400, "malformed_json"),
        )
        .admin(token)
        .json(r#"{"mode": "evil"}"#),
        case(
            "admin: wrong method",
            "GET",
            "/v1/admin/pause",
            Error(405, "method_not_allowed"),
        )
        .admin(token),
        // JSON-RPC: refusals of the whole body are HTTP errors; the rest are JSON-RPC errors.
        case(
            "rpc: wrong content type",
            "POST",
            "/rpc",
            Error(415, "unsupported_media_type"),
        )
        .body("text/plain", rpc("eth_chainId", json!([])).into_bytes()),
        case(
            "rpc: wrong method",
            "GET",
            "/rpc",
            Error(405, "method_not_allowed"),
        ),
        case("rpc: not JSON", "POST", "/rpc", Rpc(-32700)).json("{not json"),
        case("rpc: truncated", "POST", "/", Rpc(-32700))
            .json(r#"{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId""#),
        case("rpc: oversized", "POST", "/rpc", Rpc(-32700))
            .json(&" ".repeat(ledger::rpc::RPC_BODY_BYTES_MAX + 1)),
        case("rpc: not a request", "POST", "/rpc", Rpc(-32600)).json("42"),
        case("rpc: unknown method", "POST", "/rpc", Rpc(-32601)).json(&rpc("eth_mine", json!([]))),
        case("rpc: wrong param type", "POST", "/rpc", Rpc(-32602))
            .json(&rpc("eth_getBalance", json!([5, "latest"]))),
        case("rpc: raw not hex", "POST", "/rpc", Rpc(-32602))
            .json(&rpc("eth_sendRawTransaction", json!(["0xzz"]))),
        case("rpc: replayed", "POST", "/rpc", Rpc(-32000))
            .json(&rpc("eth_sendRawTransaction", json!([replayed]))),
        case("rpc: another chain", "POST", "/rpc", Rpc(-32000))
            .json(&rpc("eth_sendRawTransaction", json!([foreign]))),
    ]
}

#[test]
fn every_public_endpoint_refuses_bad_input_precisely_and_changes_nothing() {
    let network = Network::start_with(NetworkOptions::default());
    let mut transfers = Transfers::new(&network);
    let mut random = SplitMix64::new(8);
    // One committed transfer, to replay.
    let raw = transfers.transfer(0, random_address(&mut random), U256::from(7u64));
    let results = network.client.submit_batch(std::slice::from_ref(&raw));
    assert_eq!(results[0].status, SubmissionStatus::Accepted, "{results:?}");
    let committed = network
        .client
        .wait_final(&[results[0].hash], COMMIT_TIMEOUT);
    assert_eq!(committed[0].status, TxState::Committed);
    let other_chain = network.genesis.config.chain_id + 1;
    let foreign = transfers.transfer_on_chain(
        1,
        other_chain,
        random_address(&mut random),
        U256::from(1u64),
    );

    let before = snapshot(&network, &transfers);
    let mut failures = Vec::new();
    for case in table(&network.admin_token, &to_hex(&raw), &to_hex(&foreign)) {
        if let Err(failure) = check(&network, &case) {
            failures.push(format!("{}: {failure}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Nothing changed: the replayed transfer was not applied twice, nothing was admitted.
    assert_eq!(snapshot(&network, &transfers), before);
}

/// Sends one case and compares the answer with what it must be.
fn check(network: &Network, case: &Case) -> Result<(), String> {
    let headers: Vec<(&str, &str)> = case
        .headers
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    let answer = network
        .client
        .send(case.method, &case.path, &headers, case.body.as_deref());
    let body: Value = serde_json::from_slice(&answer.body).map_err(|error| {
        format!(
            "status {}, not JSON ({error}): {}",
            answer.status,
            answer.text()
        )
    })?;
    if !answer.content_type.starts_with("application/json") {
        return Err(format!("content type {:?}", answer.content_type));
    }
    let got = match case.expect {
        Expect::Error(..) => (answer.status, body["error"]["code"].to_string()),
        Expect::Rpc(_) => (answer.status, body["error"]["code"].to_string()),
        Expect::Duplicate => (answer.status, body["status"].to_string()),
    };
    let wanted = match case.expect {
        Expect::Error(status, code) => (status, format!("\"{code}\"")),
        Expect::Rpc(code) => (200, code.to_string()),
        Expect::Duplicate => (200, "\"duplicate\"".to_owned()),
    };
    if got == wanted {
        Ok(())
    } else {
        Err(format!(
            "expected {wanted:?}, got {got:?}: {}",
            answer.text()
        ))
    }
}

/// What must not change: the head, the mempool, and every account the test knows.
fn snapshot(network: &Network, transfers: &Transfers) -> (u64, String, u64, bool, Vec<String>) {
    let StatusAnswer {
        head_height,
        head_hash,
        mempool_size,
        paused,
        ..
    } = network.client.status();
    let accounts = transfers
        .expected
        .keys()
        .map(|address| {
            let account = network.client.account(address, false);
            format!("{address} {} {}", account.nonce, account.balance)
        })
        .collect();
    (
        head_height,
        head_hash.to_string(),
        mempool_size,
        paused,
        accounts,
    )
}
