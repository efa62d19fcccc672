//! The public API's front door: a stateless Worker that runs on every edge isolate. It routes
//! with [`ledger::api::route`], does the expensive part of admission (decoding, and recovering
//! or checking each transaction's sender) before anything reaches the single `Sequencer`
//! object, and answers in JSON or MessagePack as the client asks.

use ledger::api::{
    self, AccountAnswer, AdminRoute, ApiError, BatchAnswer, ErrorAnswer, Format, JSON_CONTENT_TYPE,
    MSGPACK_CONTENT_TYPE, Route, SINGLE_TX_BODY_BYTES_MAX, StatusAnswer, SubmissionResult,
    SubmissionStatus, TxStatusAnswer,
};
use ledger::archive::{self, BackupIndex};
use ledger::block::CertifiedBlock;
use ledger::limits::{REQUEST_BYTES_MAX, TRIE_DEPTH};
use ledger::primitives::Address;
use ledger::state::ShardIndex;
use ledger::transaction::{self, Submission};
use ledger::wire::{
    self, AccountContext, BlockLookup, FaultRequest, InternalCall, RefusalCount,
    RestoreBackupRequest, RestoreReport, RunReport, RunRequest, SEQUENCER_OBJECT_NAME,
    ShardAccount, SubmitRequest, TxLookup,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;
use worker::{Env, Request, Response};
use worker_shell::{Chain, Target, header, internal, read_body};

use crate::access::{Gate, Turned};

/// How long the front door waits for the `Sequencer`, a shard or a validator.
const CALL_DEADLINE: Duration = Duration::from_secs(20);

/// Binding of the `Sequencer` namespace.
const SEQUENCER_BINDING: &str = "SEQUENCER";

/// Binding of the shards' namespace.
const SHARD_BINDING: &str = "SHARD";

/// Binding of the KV namespace archived blocks are read from.
const ARCHIVE_BINDING: &str = crate::object::ARCHIVE_BINDING;

/// Service binding of the archiver.
const ARCHIVER_BINDING: &str = "ARCHIVER";

/// How long the front door waits for an archiver run, backup or restore.
const ARCHIVER_DEADLINE: Duration = Duration::from_secs(120);

/// Bytes of an archiver answer: a report or the backup index.
const ARCHIVER_ANSWER_BYTES_MAX: usize = ledger::archive::BACKUP_INDEX_BYTES_MAX;

/// Bytes of an internal answer the front door accepts: a block's hashes, a proof, a status.
const ANSWER_BYTES_MAX: usize = 2 * REQUEST_BYTES_MAX;

/// Bytes of a shard's account answer: an account and a proof of at most [`TRIE_DEPTH`] hashes.
const SHARD_ACCOUNT_BYTES_MAX: usize = 256 + TRIE_DEPTH * 40;

/// Handles one public request; every failure becomes a JSON (or MessagePack) error answer.
/// Every answer carries the request's id in `x-request-id` (the client's, `cf-ray` or a new
/// one), which the `Sequencer`'s log lines for its transactions carry too.
pub(crate) async fn handle(mut request: Request, env: &Env) -> worker::Result<Response> {
    let format = Format::from_accept(header(&request, "accept").as_deref());
    let request_id = crate::metrics::request_id(&request);
    let gate = match Gate::from_env(env) {
        Ok(gate) => gate,
        Err(error) => return worker_shell::error_answer(format, error),
    };
    let mut response = match gated(&gate, &mut request, env, format, &request_id).await {
        Ok(response) => response,
        Err(turned) => turned.answer(format)?,
    };
    gate.tag(header(&request, "origin").as_deref(), &mut response);
    crate::metrics::tag_response(&mut response, &request_id);
    Ok(response)
}

/// Counts the request against its client's rate limit, answers CORS preflights, and
/// otherwise routes it.
async fn gated(
    gate: &Gate,
    request: &mut Request,
    env: &Env,
    format: Format,
    request_id: &str,
) -> Result<Response, Turned> {
    gate.admit(env, request).await?;
    if request.method() == worker::Method::Options {
        return Ok(gate.preflight(request)?);
    }
    let answer = respond(request, env, format, request_id).await;
    if let Err(error) = &answer {
        crate::metrics::log_server_error(request_id, error);
    }
    Ok(answer?)
}

async fn respond(
    request: &mut Request,
    env: &Env,
    format: Format,
    request_id: &str,
) -> Result<Response, ErrorAnswer> {
    let (path, query) = worker_shell::path_and_query(request)?;
    let method = request.method().to_string();
    let route = api::route(&method, &path, query.as_deref())?;
    let chain = worker_shell::chain(env)?;
    match route {
        Route::SubmitBatch => submit_batch(request, env, &chain, format, request_id).await,
        Route::SubmitOne => submit_one(request, env, &chain, format, request_id).await,
        Route::Transaction(hash) => {
            let answer = match ask_sequencer(env, InternalCall::Transaction(hash)).await? {
                TxLookup::Found(record) => TxStatusAnswer::from(*record),
                TxLookup::Archived { height, position } => {
                    let block = archived_block(env, height, None).await?;
                    archive::archived_tx_answer(&block, position, &hash).ok_or_else(|| {
                        internal(format!("archived block {height} lacks transaction {hash}"))
                    })?
                }
            };
            reply(format, 200, &answer)
        }
        Route::Block(selector) => block(env, format, InternalCall::Block(selector)).await,
        Route::AwaitBlock { height, wait_ms } => {
            block(env, format, InternalCall::AwaitBlock { height, wait_ms }).await
        }
        Route::Status => {
            let answer: StatusAnswer = ask_sequencer(env, InternalCall::Status).await?;
            reply(format, 200, &answer)
        }
        Route::Account { address, proof } => {
            let answer = account(env, &chain, address, proof).await?;
            reply(format, 200, &answer)
        }
        Route::Admin(action) => admin(request, env, action, format, request_id).await,
        Route::JsonRpc => crate::rpc::handle(request, env, &chain, request_id).await,
        Route::Metrics => crate::metrics::scrape(env, &chain).await,
        Route::DashboardPage => dashboard(crate::dashboard::Asset::Page),
        Route::DashboardScript => dashboard(crate::dashboard::Asset::Script),
        Route::DashboardStyle => dashboard(crate::dashboard::Asset::Style),
    }
}

/// `GET /dashboard` and its files.
fn dashboard(asset: crate::dashboard::Asset) -> Result<Response, ErrorAnswer> {
    crate::dashboard::serve(asset).map_err(|error| internal(error).into())
}

/// `POST /v1/txs`: a MessagePack array of raw transactions (each alone or paired with its
/// sender's public key); one result each, in order.
async fn submit_batch(
    request: &mut Request,
    env: &Env,
    chain: &Chain,
    format: Format,
    request_id: &str,
) -> Result<Response, ErrorAnswer> {
    api::check_content_type(
        header(request, "content-type").as_deref(),
        MSGPACK_CONTENT_TYPE,
    )?;
    let body = read_body(request, REQUEST_BYTES_MAX).await?;
    let submissions = api::decode_batch(&body)?;
    let results = admit_traced(env, chain, submissions, request_id).await?;
    reply(format, 200, &BatchAnswer { results })
}

/// `POST /v1/tx`: one transaction as `{"raw": "0x…"}`, with its sender's key as
/// `"sender_key"` and its signature's nonce y as `"nonce_y"` if the client gives them.
/// Accepted: 202; already known: 200; refused: the error with the status its reason calls for.
async fn submit_one(
    request: &mut Request,
    env: &Env,
    chain: &Chain,
    format: Format,
    request_id: &str,
) -> Result<Response, ErrorAnswer> {
    api::check_content_type(
        header(request, "content-type").as_deref(),
        JSON_CONTENT_TYPE,
    )?;
    let body = read_body(request, SINGLE_TX_BODY_BYTES_MAX).await?;
    let submission = api::decode_single(&body)?;
    let mut results = admit_traced(env, chain, vec![submission], request_id).await?;
    let result = results
        .pop()
        .ok_or_else(|| internal("the sequencer answered no result"))?;
    match (&result.status, &result.reason) {
        (SubmissionStatus::Accepted, _) => reply(format, 202, &result),
        (SubmissionStatus::Duplicate, _) => reply(format, 200, &result),
        (SubmissionStatus::Rejected, Some(reason)) => Err(ErrorAnswer {
            status: result.refusal_status(),
            body: api::ErrorBody {
                error: reason.clone(),
            },
        }),
        (SubmissionStatus::Rejected, None) => Err(internal("a rejection without a reason").into()),
    }
}

/// Decodes every transaction and finds its sender here ([`transaction::admit`]), forwards
/// the valid ones to the `Sequencer` in one call with the tally of the refused ones (which it
/// counts), and merges its rulings with the refusals, in submission order.
pub(crate) async fn admit_traced(
    env: &Env,
    chain: &Chain,
    submissions: Vec<Submission>,
    request_id: &str,
) -> Result<Vec<SubmissionResult>, ErrorAnswer> {
    let chain_id = chain.context.config.chain_id;
    let mut results: Vec<Option<SubmissionResult>> = Vec::with_capacity(submissions.len());
    let mut verified = Vec::with_capacity(submissions.len());
    let mut refusals = Vec::new();
    let checked = transaction::admit(&submissions, chain_id);
    for (submission, outcome) in submissions.iter().zip(checked) {
        let raw = &submission.raw;
        match outcome {
            Ok(tx) => {
                results.push(None);
                verified.push(tx.to_wire());
            }
            Err(rejection) => {
                refusals.push(rejection.code());
                results.push(Some(SubmissionResult::refused(raw, &rejection)));
            }
        }
    }
    let refused = RefusalCount::tally(refusals);
    let mut rulings = if verified.is_empty() {
        if !refused.is_empty() {
            count_refusals(env, refused, request_id).await;
        }
        Vec::new()
    } else {
        submit_verified(env, verified, refused, request_id).await?
    }
    .into_iter();
    Ok(results
        .into_iter()
        .map(|result| result.or_else(|| rulings.next()))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| internal("a transaction lost its result"))?)
}

/// Forwards transactions whose senders were recovered here to the `Sequencer`, with the
/// tally of those refused here (which it counts); its rulings, one per transaction, in order.
pub(crate) async fn submit_verified(
    env: &Env,
    transactions: Vec<ledger::transaction::WireTx>,
    refused: Vec<RefusalCount>,
    request_id: &str,
) -> Result<Vec<SubmissionResult>, ErrorAnswer> {
    let forwarded = transactions.len();
    let request = SubmitRequest {
        transactions,
        refused,
        request_id: Some(request_id.to_owned()),
    };
    let rulings: Vec<SubmissionResult> =
        ask_sequencer_with(env, InternalCall::Submit, Some(wire::encode(&request))).await?;
    if rulings.len() != forwarded {
        return Err(internal(format!(
            "the sequencer ruled on {} of {forwarded} transactions",
            rulings.len()
        ))
        .into());
    }
    Ok(rulings)
}

/// Tells the `Sequencer` about a submission refused here entirely, so its rejected counter
/// includes it. The client's answer does not depend on it: a failure is only logged.
pub(crate) async fn count_refusals(env: &Env, refused: Vec<RefusalCount>, request_id: &str) {
    let request = SubmitRequest {
        transactions: Vec::new(),
        refused,
        request_id: Some(request_id.to_owned()),
    };
    let answer: Result<Vec<SubmissionResult>, ErrorAnswer> =
        ask_sequencer_with(env, InternalCall::Submit, Some(wire::encode(&request))).await;
    if let Err(error) = answer {
        worker::console_warn!(
            "counting refusals of request {request_id}: {} {}",
            error.status,
            error.body.error.code
        );
    }
}

/// `GET /v1/accounts/{address}`: the shard's committed state, checked against the
/// certified header of the same height, with the pending nonce and, if asked, the proof.
pub(crate) async fn account(
    env: &Env,
    chain: &Chain,
    address: Address,
    proof: bool,
) -> Result<AccountAnswer, ErrorAnswer> {
    let shard = chain.context.config.layout().shard_of(&address);
    let shard_account: ShardAccount = ask_shard_within(
        env,
        shard,
        InternalCall::ShardAccount { address, proof },
        CALL_DEADLINE,
    )
    .await?;
    let context: AccountContext = ask_sequencer(
        env,
        InternalCall::AccountContext {
            address,
            height: shard_account.meta.applied_height,
        },
    )
    .await?;
    Ok(AccountAnswer::assemble(address, shard_account, context)?)
}

/// `POST /v1/admin/...`: checks the token, then acts.
async fn admin(
    request: &mut Request,
    env: &Env,
    action: AdminRoute,
    format: Format,
    request_id: &str,
) -> Result<Response, ErrorAnswer> {
    let token = worker_shell::text_setting(env, "ADMIN_TOKEN")?;
    api::check_admin_token(header(request, "authorization").as_deref(), &token)?;
    // Operators' actions are an audit trail: logged once the token is accepted.
    worker_shell::log_event(&serde_json::json!({
        "event": "admin",
        "action": format!("{action:?}"),
        "request_id": request_id,
    }));
    match action {
        AdminRoute::Pause | AdminRoute::Resume => {
            let call = InternalCall::SetPaused(action == AdminRoute::Pause);
            let status: StatusAnswer = ask_sequencer(env, call).await?;
            reply(format, 200, &status)
        }
        AdminRoute::ValidatorFault(index) => {
            api::check_content_type(
                header(request, "content-type").as_deref(),
                JSON_CONTENT_TYPE,
            )?;
            let body = read_body(request, 1024).await?;
            let fault: FaultRequest = serde_json::from_slice(&body).map_err(|error| {
                ApiError::bad_request(
                    "malformed_json",
                    format!("expected {{\"mode\": \"healthy|down|garbage\"}}: {error}"),
                )
            })?;
            let fetcher = env.service(&format!("VALIDATOR_{index}")).map_err(|_| {
                ApiError::not_found(format!("validator {index} is not bound to this service"))
            })?;
            let answer: FaultRequest = worker_shell::call(
                Target::Service(&fetcher),
                &InternalCall::SetFault,
                Some(&wire::encode(&fault)),
                1024,
                CALL_DEADLINE,
            )
            .await?;
            reply(format, 200, &answer)
        }
        AdminRoute::ArchiveRun | AdminRoute::Backup => {
            let run = RunRequest {
                force_backup: action == AdminRoute::Backup,
            };
            let report: RunReport = ask_archiver(
                env,
                InternalCall::ArchiverRun,
                Some(wire::encode(&run)),
                request_id,
            )
            .await?;
            reply(format, 200, &report)
        }
        AdminRoute::Backups => {
            let index: BackupIndex =
                ask_archiver(env, InternalCall::Backups, None, request_id).await?;
            reply(format, 200, &index)
        }
        AdminRoute::Restore => {
            api::check_content_type(
                header(request, "content-type").as_deref(),
                JSON_CONTENT_TYPE,
            )?;
            let body = read_body(request, 1024).await?;
            let restore: RestoreBackupRequest = serde_json::from_slice(&body).map_err(|error| {
                ApiError::bad_request(
                    "malformed_json",
                    format!("expected {{\"cid\": \"<the latest backup's CID>\"}}: {error}"),
                )
            })?;
            let report: RestoreReport = ask_archiver(
                env,
                InternalCall::RestoreBackup,
                Some(wire::encode(&restore)),
                request_id,
            )
            .await?;
            reply(format, 200, &report)
        }
    }
}

/// A block as the sequencer finds it (`call` is a block call), from KV if it is archived.
async fn block(env: &Env, format: Format, call: InternalCall) -> Result<Response, ErrorAnswer> {
    let answer = match ask_sequencer(env, call).await? {
        BlockLookup::Found(answer) => *answer,
        BlockLookup::Archived { height, hash } => {
            archive::archived_block_answer(&archived_block(env, height, hash).await?)
        }
    };
    reply(format, 200, &answer)
}

/// An archived block, read from KV and checked to be the one asked for.
pub(crate) async fn archived_block(
    env: &Env,
    height: u64,
    hash: Option<ledger::primitives::Hash>,
) -> Result<CertifiedBlock, ErrorAnswer> {
    let kv = worker_shell::kv(env, ARCHIVE_BINDING)?;
    let bytes = worker_shell::kv_get(&kv, &archive::archived_block_key(height))
        .await?
        .ok_or_else(|| {
            ApiError::new(
                503,
                "archive_unavailable",
                format!("block {height} is archived but not readable from KV yet"),
            )
        })?;
    archive::decode_archived_block(&bytes, height, hash.as_ref())
        .map_err(|error| ApiError::from(error).into())
}

/// Asks the archiver (through its service binding) on behalf of public request
/// `request_id`, which its log lines name: archive runs, backups and restores take as long as
/// they take, so the deadline is generous.
async fn ask_archiver<T: DeserializeOwned>(
    env: &Env,
    call: InternalCall,
    body: Option<Vec<u8>>,
    request_id: &str,
) -> Result<T, ErrorAnswer> {
    ask_archiver_within(env, call, body, ARCHIVER_DEADLINE, Some(request_id)).await
}

/// Asks the archiver with this deadline.
pub(crate) async fn ask_archiver_within<T: DeserializeOwned>(
    env: &Env,
    call: InternalCall,
    body: Option<Vec<u8>>,
    deadline: Duration,
    request_id: Option<&str>,
) -> Result<T, ErrorAnswer> {
    let fetcher = env
        .service(ARCHIVER_BINDING)
        .map_err(|error| worker_shell::misconfigured(format!("{ARCHIVER_BINDING}: {error}")))?;
    worker_shell::call_traced(
        Target::Service(&fetcher),
        &call,
        body.as_deref(),
        ARCHIVER_ANSWER_BYTES_MAX,
        deadline,
        request_id,
    )
    .await
}

pub(crate) async fn ask_sequencer<T: DeserializeOwned>(
    env: &Env,
    call: InternalCall,
) -> Result<T, ErrorAnswer> {
    ask_sequencer_with(env, call, None).await
}

async fn ask_sequencer_with<T: DeserializeOwned>(
    env: &Env,
    call: InternalCall,
    body: Option<Vec<u8>>,
) -> Result<T, ErrorAnswer> {
    ask_sequencer_within(env, call, body, CALL_DEADLINE).await
}

/// Asks shard `shard` with this deadline (a body-less call: an account or its stats).
pub(crate) async fn ask_shard_within<T: DeserializeOwned>(
    env: &Env,
    shard: ShardIndex,
    call: InternalCall,
    deadline: Duration,
) -> Result<T, ErrorAnswer> {
    ask_shard_with(env, shard, &call, None, SHARD_ACCOUNT_BYTES_MAX, deadline).await
}

/// Makes `call` of a shard with this body, answer limit and deadline.
pub(crate) async fn ask_shard_with<T: DeserializeOwned>(
    env: &Env,
    shard: ShardIndex,
    call: &InternalCall,
    body: Option<Vec<u8>>,
    answer_limit: usize,
    deadline: Duration,
) -> Result<T, ErrorAnswer> {
    let stub = env
        .durable_object(SHARD_BINDING)
        .and_then(|namespace| namespace.get_by_name(&wire::shard_object_name(shard)))
        .map_err(|error| worker_shell::misconfigured(format!("{SHARD_BINDING}: {error}")))?;
    worker_shell::call(
        Target::Object(&stub),
        call,
        body.as_deref(),
        answer_limit,
        deadline,
    )
    .await
}

/// Asks the `Sequencer` with this deadline.
pub(crate) async fn ask_sequencer_within<T: DeserializeOwned>(
    env: &Env,
    call: InternalCall,
    body: Option<Vec<u8>>,
    deadline: Duration,
) -> Result<T, ErrorAnswer> {
    let stub = env
        .durable_object(SEQUENCER_BINDING)
        .and_then(|namespace| namespace.get_by_name(SEQUENCER_OBJECT_NAME))
        .map_err(|error| worker_shell::misconfigured(format!("{SEQUENCER_BINDING}: {error}")))?;
    worker_shell::call(
        Target::Object(&stub),
        &call,
        body.as_deref(),
        ANSWER_BYTES_MAX,
        deadline,
    )
    .await
}

fn reply<T: Serialize>(format: Format, status: u16, value: &T) -> Result<Response, ErrorAnswer> {
    worker_shell::answer(format, status, value).map_err(|error| internal(error).into())
}
