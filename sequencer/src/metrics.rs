//! `GET /metrics` and the structured logs: the shell around [`ledger::metrics`].
//!
//! A scrape asks the `Sequencer` for its snapshot ([`InternalCall::Metrics`]), every shard
//! for its stats ([`InternalCall::ShardStats`]) and the archiver for the backup index
//! ([`InternalCall::Backups`]) at the same time, each with a short deadline, and renders whatever answered; a source that did not is reported as down
//! (`edgeledger_scrape_source_up`) rather than failing the scrape. No token is needed: the
//! text holds the configuration's public parts, heights, counts and times, nothing secret.
//!
//! Log lines are single-line JSON at `console.info` level (what `wrangler dev --log-level
//! info`, as the local network runs it, shows; `console.log` is one level below), each with an
//! `event` and the `request_id` the front door chose ([`ledger::metrics::logs`]).

use std::time::Duration;

use ledger::api::ErrorAnswer;
use ledger::archive::BackupIndex;
use ledger::metrics::catalogue::{self, Scrape};
use ledger::metrics::logs::{self, ADMISSION_LOG_HASHES_MAX, REQUEST_ID_HEADER};
use ledger::metrics::sequencer::{CommitObservation, SequencerSnapshot};
use ledger::primitives::Hash;
use ledger::proposal::Proposal;
use ledger::state::ShardIndex;
use ledger::wire::{InternalCall, ShardStats};
use worker::{Env, Request, Response};
use worker_shell::{Chain, header, internal, now_ms};

use crate::front_door::{ask_archiver_within, ask_sequencer_within, ask_shard_within};

/// How long a scrape waits for each source: well inside Prometheus' default 10 s timeout.
const SCRAPE_DEADLINE: Duration = Duration::from_secs(5);

/// `GET /metrics`: the Prometheus text of everything that answered in time.
pub(crate) async fn scrape(env: &Env, chain: &Chain) -> Result<Response, ErrorAnswer> {
    let sequencer = ask_sequencer_within::<SequencerSnapshot>(
        env,
        InternalCall::Metrics,
        None,
        SCRAPE_DEADLINE,
    );
    let archiver =
        ask_archiver_within::<BackupIndex>(env, InternalCall::Backups, None, SCRAPE_DEADLINE, None);
    let shards = shard_stats(env, chain);
    let (sequencer, archiver, shards) = futures_util::join!(sequencer, archiver, shards);
    let sequencer = sequencer
        .inspect_err(|error| warn_source("sequencer", error))
        .ok();
    let backups = archiver
        .inspect_err(|error| warn_source("archiver", error))
        .ok();
    let text = catalogue::render(&Scrape {
        now_ms: now_ms(),
        config: &chain.context.config,
        sequencer: sequencer.as_ref(),
        shards: &shards,
        backups: backups.as_ref(),
        front_door_wasm_memory_bytes: worker_shell::wasm_memory_bytes(),
    });
    worker_shell::bytes_response(200, text.into_bytes(), ledger::metrics::CONTENT_TYPE)
        .map_err(|error| internal(error).into())
}

/// Every shard's stats, asked of all shards at once; `None` for a shard that did not answer.
async fn shard_stats(env: &Env, chain: &Chain) -> Vec<Option<ShardStats>> {
    let shard_count = chain.context.config.layout().shard_count();
    let asks = (0..shard_count).map(|shard| async move {
        let shard = ShardIndex::try_from(shard).ok()?;
        ask_shard_within::<ShardStats>(env, shard, InternalCall::ShardStats, SCRAPE_DEADLINE)
            .await
            .inspect_err(|error| warn_source(&format!("shard {shard}"), error))
            .ok()
    });
    futures_util::future::join_all(asks).await
}

fn warn_source(source: &str, error: &ErrorAnswer) {
    worker_shell::log_event(&serde_json::json!({
        "event": "scrape_source_down",
        "source": source,
        "status": error.status,
        "code": error.body.error.code,
        "message": error.body.error.message,
    }));
}

/// The request's id: the client's `x-request-id` if it is a plain token, else `cf-ray`,
/// else a new one.
pub(crate) fn request_id(request: &Request) -> String {
    let client = header(request, REQUEST_ID_HEADER);
    let ray = header(request, "cf-ray");
    logs::choose_request_id([client.as_deref(), ray.as_deref()]).unwrap_or_else(new_request_id)
}

/// A fresh request id: 16 hex digits from the runtime's `Math.random` (it only needs to be
/// unlikely to repeat, not unpredictable).
fn new_request_id() -> String {
    let high = (worker::js_sys::Math::random() * 4_294_967_296.0) as u64;
    let low = (worker::js_sys::Math::random() * 4_294_967_296.0) as u64;
    format!("{:016x}", (high << 32) | low)
}

/// Sets the `x-request-id` answer header (a response whose headers cannot change keeps none).
pub(crate) fn tag_response(response: &mut Response, request_id: &str) {
    let _ = response.headers_mut().set(REQUEST_ID_HEADER, request_id);
}

/// The front door's log line for an answer of 500 or more: what failed, for the operator
/// (the client sees the same code and message; 4xx answers are the client's own doing and
/// are not logged).
pub(crate) fn log_server_error(request_id: &str, error: &ledger::api::ErrorAnswer) {
    if error.status < 500 {
        return;
    }
    worker_shell::log_event(&serde_json::json!({
        "event": "server_error",
        "request_id": request_id,
        "status": error.status,
        "code": error.body.error.code,
        "message": error.body.error.message,
    }));
}

/// The `Sequencer`'s log line for one submission's rulings.
pub(crate) fn log_admission(
    request_id: Option<&str>,
    accepted: &[Hash],
    duplicates: usize,
    rejected: usize,
) {
    let hashes: Vec<String> = accepted
        .iter()
        .take(ADMISSION_LOG_HASHES_MAX)
        .map(ToString::to_string)
        .collect();
    worker_shell::log_event(&serde_json::json!({
        "event": "admission",
        "request_id": request_id,
        "accepted": accepted.len(),
        "duplicate": duplicates,
        "rejected": rejected,
        "hashes": hashes,
        "hashes_omitted": accepted.len().saturating_sub(hashes.len()),
    }));
}

/// The `Sequencer`'s log line for a proposal sent to the validators (also when re-sent).
pub(crate) fn log_proposal(proposal: &Proposal, request_ids: Option<&str>) {
    worker_shell::log_event(&serde_json::json!({
        "event": "proposal",
        "height": proposal.header.height,
        "block_hash": proposal.header.hash().to_string(),
        "transactions": proposal.transactions.len(),
        "request_ids": logs::parse_request_ids(request_ids.unwrap_or_default()),
    }));
}

/// The `Sequencer`'s log line for a commit, naming the requests that submitted its
/// transactions.
pub(crate) fn log_commit(commit: &CommitObservation) {
    let request_ids: Vec<&str> = commit.request_ids.iter().map(|id| &**id).collect();
    worker_shell::log_event(&serde_json::json!({
        "event": "commit",
        "height": commit.height,
        "block_hash": commit.block_hash.to_string(),
        "transactions": commit.transactions,
        "timed": commit.timed,
        "request_ids": request_ids,
    }));
}
