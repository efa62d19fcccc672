//! The archiver Worker: cold storage in Workers KV, encrypted backups on IPFS, and restores.
//!
//! - On its cron schedule (and when the admin API asks, through the sequencer service's
//!   `ARCHIVER` binding) it makes one run: `cold` moves blocks beyond the hot window to KV and
//!   has the `Sequencer` prune them, then `backups` makes a backup if one is due.
//! - `restore` restores the chain from the latest backup, refusing anything else.
//!
//! It has no public route: its fetch handler answers only the internal calls of
//! [`ledger::wire`] (`ArchiverRun`, `Backups`, `RestoreBackup`), which only bound services can
//! reach. Every decision (ranges, schedule, index, verification) is in [`ledger::archive`] and
//! [`ledger::snapshot`]; this crate moves bytes between KV, IPFS and the other objects.

mod backups;
mod cold;
mod peers;
mod pinning;
mod restore;
mod settings;

use ledger::api::{ApiError, ErrorAnswer};
use ledger::archive::{ArchiverLease, BackupIndex};
use ledger::wire::{
    self, InternalCall, LeaseRequest, RestoreBackupRequest, RestoreReport, RunReport, RunRequest,
};
use worker::{
    Context, Env, Request, Response, ScheduleContext, ScheduledEvent, console_error, event,
};
use worker_shell::{internal, internal_answer, internal_error_answer};

use crate::peers::Peers;

/// Bytes of an internal request to the archiver: small JSON-like bodies only.
const REQUEST_BYTES_MAX: usize = 4 * 1024;

/// Internal calls only (an unknown path or method is a 404).
#[event(fetch)]
async fn fetch(mut request: Request, env: Env, _context: Context) -> worker::Result<Response> {
    match handle(&mut request, &env).await {
        Ok(response) => Ok(response),
        Err(error) => {
            if error.status >= 500 {
                console_error!(
                    "archiver: {} {}",
                    error.body.error.code,
                    error.body.error.message
                );
            }
            internal_error_answer(error)
        }
    }
}

async fn handle(request: &mut Request, env: &Env) -> Result<Response, ErrorAnswer> {
    let (call, body) = worker_shell::read_internal(request, REQUEST_BYTES_MAX).await?;
    let request_ids = worker_shell::request_ids(request);
    let answer = match call {
        InternalCall::ArchiverRun => {
            let run: RunRequest = wire::decode(&body, REQUEST_BYTES_MAX)?;
            internal_answer(&logged_run(env, run, &request_ids).await?)
        }
        InternalCall::Backups => {
            let index = backups::load_index(env)
                .await?
                .unwrap_or_else(BackupIndex::empty);
            internal_answer(&index)
        }
        InternalCall::RestoreBackup => {
            let restore: RestoreBackupRequest = wire::decode(&body, REQUEST_BYTES_MAX)?;
            let chain = worker_shell::chain(env)?;
            let peers = Peers::new(env);
            let report = leased(&peers, restore::restore(env, &peers, &chain, &restore.cid)).await;
            log_restore(&restore.cid, &report, &request_ids);
            internal_answer(&report?)
        }
        other => {
            return Err(ApiError::not_found(format!(
                "the archiver serves no {} {}",
                other.method(),
                other.path()
            ))
            .into());
        }
    };
    answer.map_err(|error| internal(error).into())
}

/// Runs `work` holding the archiver's lease (kept by the `Sequencer`), so that no two runs,
/// backups or restores overlap; gives it back afterwards, whatever happened. A run that dies
/// holding it frees it when it expires.
async fn leased<T>(
    peers: &Peers<'_>,
    work: impl std::future::Future<Output = Result<T, ErrorAnswer>>,
) -> Result<T, ErrorAnswer> {
    let holder = u64::from_be_bytes(
        backups::random_nonce()?[..8]
            .try_into()
            .map_err(|_| internal("a lease id"))?,
    );
    let lease_ms = settings::lease_ms(peers.env)?;
    let take = LeaseRequest {
        holder,
        acquire: true,
        lease_ms,
    };
    let _: Option<ArchiverLease> = peers.sequencer(InternalCall::Lease, Some(&take)).await?;
    let result = work.await;
    let give_back = LeaseRequest {
        holder,
        acquire: false,
        lease_ms,
    };
    let released: Result<Option<ArchiverLease>, _> =
        peers.sequencer(InternalCall::Lease, Some(&give_back)).await;
    if let Err(error) = released {
        console_error!(
            "archiver: giving the lease back: {}",
            error.body.error.message
        );
    }
    result
}

/// One scheduled run, holding the lease: cold storage, then a backup if due (or forced).
async fn run_once(env: &Env, run: RunRequest) -> Result<RunReport, ErrorAnswer> {
    let peers = Peers::new(env);
    leased(&peers, run_unleased(env, &peers, run)).await
}

async fn run_unleased(
    env: &Env,
    peers: &Peers<'_>,
    run: RunRequest,
) -> Result<RunReport, ErrorAnswer> {
    let chain = worker_shell::chain(env)?;
    let settings = settings::archive_settings(env)?;
    let (archived, archive) = cold::archive_old_blocks(env, peers, &settings).await?;
    let outcome = backups::back_up(env, peers, &chain, run.force_backup).await?;
    Ok(RunReport {
        archived,
        archive,
        backup: outcome.made,
        backup_skipped: outcome.skipped,
        unpinned: outcome.unpinned,
    })
}

/// [`run_once`], logged with the request ids that asked for it.
async fn logged_run(
    env: &Env,
    run: RunRequest,
    request_ids: &[String],
) -> Result<RunReport, ErrorAnswer> {
    let report = run_once(env, run).await;
    let (outcome, error) = match &report {
        Ok(report) => (Some(report), None),
        Err(error) => (None, Some(&error.body.error)),
    };
    worker_shell::log_event(&serde_json::json!({
        "event": "archive_run",
        "force_backup": run.force_backup,
        "archived": outcome.and_then(|report| report.archived),
        "archived_through": outcome.map(|report| report.archive.archived_through),
        "backup_cid": outcome.and_then(|report| report.backup.as_ref()).map(|backup| &backup.cid),
        "backup_height": outcome.and_then(|report| report.backup.as_ref()).map(|backup| backup.height),
        "backup_skipped": outcome.and_then(|report| report.backup_skipped.as_ref()),
        "unpinned": outcome.map(|report| report.unpinned.len()),
        "error": error.map(|error| &error.code),
        "reason": error.map(|error| &error.message),
        "request_ids": request_ids,
    }));
    report
}

/// The log line of a restore, with the request ids that asked for it.
fn log_restore(cid: &str, report: &Result<RestoreReport, ErrorAnswer>, request_ids: &[String]) {
    let (restored, error) = match report {
        Ok(report) => (Some(report), None),
        Err(error) => (None, Some(&error.body.error)),
    };
    worker_shell::log_event(&serde_json::json!({
        "event": "restore",
        "cid": cid,
        "height": restored.map(|report| report.height),
        "accounts": restored.map(|report| report.accounts),
        "error": error.map(|error| &error.code),
        "reason": error.map(|error| &error.message),
        "request_ids": request_ids,
    }));
}

/// The cron trigger: the same run, logged under an id naming the scheduled time.
#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _context: ScheduleContext) {
    let request_id = format!("cron-{}", event.schedule() as u64);
    // The outcome is in the log line; a cron has no one to answer.
    let _ = logged_run(&env, RunRequest::default(), &[request_id]).await;
}
