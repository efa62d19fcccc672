//! The archiver cron Worker: cold storage in Workers KV and encrypted backups on IPFS.
//!
//! This issue deploys it as part of the network (its config, its schedule, its bindings);
//! moving blocks to KV and sealing backups with [`ledger::backup`] arrive with the archiver
//! issue. Until then a scheduled run only checks that the chain configuration loads, and the
//! Worker answers every request with 404: it has no public endpoints.

use ledger::api::{ApiError, Format};
use worker::{
    Context, Env, Request, Response, ScheduleContext, ScheduledEvent, console_error, event,
};

/// No public endpoints: every request is a JSON 404.
#[event(fetch)]
async fn fetch(request: Request, _env: Env, _context: Context) -> worker::Result<Response> {
    let path = request.path();
    worker_shell::error_answer(
        Format::Json,
        ApiError::not_found(format!("the archiver serves no requests ({path})")),
    )
}

/// The cron trigger.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _context: ScheduleContext) {
    if let Err(error) = worker_shell::chain(&env) {
        console_error!("archiver: {error}");
    }
}
