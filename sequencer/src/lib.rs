//! The sequencer service: the public API front door and the `Sequencer` Durable Object.
//!
//! - `front_door`: the stateless Worker every public request reaches first. It decodes and
//!   recovers transactions (the expensive, horizontally scaled part of admission) and routes
//!   reads to the `Sequencer` and the shards.
//! - `object`: the `Sequencer` Durable Object, one per chain: ordering, mempool, proposals
//!   and the PBFT-lite commit, as the [`ledger::sequencer`] state machine decides them.
//! - `storage`: the object's SQLite tables.
//! - `metrics`: `GET /metrics` (Prometheus text from [`ledger::metrics`]), request ids and the
//!   JSON log lines that carry them.
//! - `dashboard`: `GET /dashboard`, the operator's web page (static files compiled in).
//! - `rpc`: Ethereum JSON-RPC on `POST /` and `POST /rpc`, performed with the same internal
//!   calls as the v1 API.

mod access;
mod dashboard;
mod front_door;
mod metrics;
// #[durable_object] generates undocumented public glue (constructor and handlers for JS).
#[allow(missing_docs)]
pub(crate) mod object;
mod rpc;
mod storage;

pub use object::Sequencer;

use worker::{Context, Env, Request, Response, event};

/// The public API.
#[event(fetch)]
async fn fetch(request: Request, env: Env, _context: Context) -> worker::Result<Response> {
    front_door::handle(request, &env).await
}
