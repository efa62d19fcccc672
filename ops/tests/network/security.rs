//! The public route's guards on a live network: the per-client rate limit (429 with
//! `Retry-After`, then served again once the window ends), CORS (only the API's own origin,
//! and only the dashboard's methods), admin calls without the bearer token (401), and the
//! internal calls of the `Sequencer`, the shards, the validators and the archiver, none of
//! which the public route reaches. None of it changes the chain.

use std::time::{Duration, Instant};

use ledger::api::StatusAnswer;
use ledger::primitives::Address;
use ledger::wire::InternalCall;

use crate::harness::{Network, NetworkOptions};

/// The tight limit this test's network runs with, requests per client per 10 s.
const RATE_LIMIT: u32 = 60;

/// A page that costs the chain nothing to serve, to spend the limit with.
const CHEAP_PATH: &str = "/dashboard/app.css";

#[test]
fn the_public_route_limits_clients_allows_only_its_own_origin_and_hides_internal_calls() {
    let network = Network::start_with(NetworkOptions {
        rate_limit: RATE_LIMIT,
        ..NetworkOptions::default()
    });
    let before = network.client.status();

    // First, so that the rest starts in a fresh window with its whole share.
    clients_over_their_share_are_told_when_to_retry(&network);
    internal_calls_are_not_found(&network);
    admin_calls_need_the_token(&network);
    cors_allows_only_the_apis_own_origin(&network);

    let after = network.client.status();
    assert_unchanged(&before, &after);
}

/// Every internal call's request line, sent to the public origin, is 404: the public route
/// knows only the public API.
fn internal_calls_are_not_found(network: &Network) {
    let address = Address([7; 20]);
    let calls = [
        InternalCall::Submit,
        InternalCall::Witness,
        InternalCall::Apply,
        InternalCall::ShardAccounts,
        InternalCall::ShardAccount {
            address,
            proof: false,
        },
        InternalCall::ShardStats,
        InternalCall::Propose,
        InternalCall::Authorize,
        InternalCall::SetFault,
        InternalCall::Checkpoint,
        InternalCall::Restore,
        InternalCall::ArchiveBlocks { from: 0, to: 1 },
        InternalCall::Prune { through: 1 },
        InternalCall::SnapshotOpen,
        InternalCall::ShardRestore,
        InternalCall::Lease,
        InternalCall::ArchiverRun,
        InternalCall::RestoreBackup,
    ];
    for call in calls {
        let answer = network
            .client
            .send(call.method(), &call.path(), &[], Some(b"\x90"));
        assert_eq!(
            (answer.status, answer.error_code().as_str()),
            (404, "not_found"),
            "{} {} reached something: {}",
            call.method(),
            call.path(),
            answer.text()
        );
    }
}

/// Admin calls without a token, or with a wrong one, are 401 and do nothing.
fn admin_calls_need_the_token(network: &Network) {
    let wrong = format!("Bearer {}x", network.admin_token);
    for headers in [vec![], vec![("authorization", wrong.as_str())]] {
        for path in [
            "/v1/admin/pause",
            "/v1/admin/backups",
            "/v1/admin/archive/run",
        ] {
            let answer = network.client.send("POST", path, &headers, None);
            assert_eq!(
                (answer.status, answer.error_code().as_str()),
                (401, "unauthorized"),
                "POST {path}: {}",
                answer.text()
            );
        }
    }
    assert!(!network.client.status().paused, "a refused pause paused");
}

/// A preflight from the API's own origin gets the dashboard's methods and headers; any other
/// origin, or another method, is refused, and answers to others carry no CORS grant.
fn cors_allows_only_the_apis_own_origin(network: &Network) {
    let own = network.client.base().to_owned();
    let preflight = |origin: &str, method: &str| {
        network.client.send(
            "OPTIONS",
            "/v1/txs",
            &[
                ("origin", origin),
                ("access-control-request-method", method),
                ("access-control-request-headers", "content-type"),
            ],
            None,
        )
    };
    let allowed = preflight(&own, "POST");
    assert_eq!(allowed.status, 204, "{}", allowed.text());
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some(own.as_str())
    );
    assert_eq!(
        allowed.header("access-control-allow-methods"),
        Some("GET, POST")
    );
    let allowed_headers = allowed.header("access-control-allow-headers").unwrap_or("");
    assert!(
        allowed_headers.contains("content-type"),
        "{allowed_headers}"
    );

    let foreign = preflight("https://evil.example", "POST");
    assert_eq!(
        (foreign.status, foreign.error_code().as_str()),
        (403, "cors_origin_refused")
    );
    assert_eq!(foreign.header("access-control-allow-origin"), None);
    let put = preflight(&own, "PUT");
    assert_eq!(
        (put.status, put.error_code().as_str()),
        (403, "cors_method_refused")
    );

    let from_own = network
        .client
        .send("GET", "/v1/status", &[("origin", own.as_str())], None);
    assert_eq!(
        from_own.header("access-control-allow-origin"),
        Some(own.as_str())
    );
    let from_foreign = network.client.send(
        "GET",
        "/v1/status",
        &[("origin", "https://evil.example")],
        None,
    );
    assert_eq!(from_foreign.status, 200);
    assert_eq!(from_foreign.header("access-control-allow-origin"), None);
    assert_eq!(from_foreign.header("vary"), Some("origin"));
}

/// Past its share a client gets 429 `rate_limited` with `Retry-After` (at most the 10 s
/// window); once that time has passed it is served again.
fn clients_over_their_share_are_told_when_to_retry(network: &Network) {
    let mut refused = None;
    // The first window may already be partly spent; a fresh one holds RATE_LIMIT requests.
    for _ in 0..3 * RATE_LIMIT {
        let answer = network.client.get(CHEAP_PATH);
        if answer.status == 429 {
            refused = Some(answer);
            break;
        }
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
    let refused = refused.expect("the rate limit never refused a request");
    assert_eq!(refused.error_code(), "rate_limited");
    let retry_after: u64 = refused
        .header("retry-after")
        .expect("a 429 says when to retry")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=10).contains(&retry_after), "Retry-After {retry_after}");
    // Every route is limited, the API's own included.
    let status = network.client.get("/v1/status");
    assert_eq!(
        (status.status, status.error_code().as_str()),
        (429, "rate_limited")
    );

    std::thread::sleep(Duration::from_secs(retry_after));
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let answer = network.client.get(CHEAP_PATH);
        if answer.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still refused after Retry-After: {}",
            answer.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_unchanged(before: &StatusAnswer, after: &StatusAnswer) {
    assert_eq!(
        (
            before.head_height,
            &before.head_hash,
            before.mempool_size,
            before.paused
        ),
        (
            after.head_height,
            &after.head_hash,
            after.mempool_size,
            after.paused
        ),
        "the refused requests changed the chain"
    );
}
