//! The validator Worker and its `Guard` Durable Object: verify proposals, sign votes.
//!
//! A validator trusts nothing it is sent. The Worker runs every check of
//! [`ledger::proposal::check_proposal`] (the parent's certificate, every signature, the witness
//! against the parent root, re-execution, the roots): stateless work that scales with isolates.
//! Only then does it ask its [`guard::Guard`] object, which durably records the height and
//! block before allowing a signature, so no restart or race can make it sign two blocks at one
//! height. Reached only through the sequencer's `VALIDATOR_{i}` service binding.

// #[durable_object] generates undocumented public glue (constructor and handlers for JS).
#[allow(missing_docs)]
mod guard;
mod rules;

use std::cell::RefCell;
use std::time::Duration;

use ledger::api::{ApiError, ErrorAnswer};
use ledger::consensus::Vote;
use ledger::limits::PROPOSAL_BYTES_MAX;
use ledger::proposal::{Proposal, check_proposal};
use ledger::signature::SecretKey;
use ledger::wire::{
    self, FaultRequest, GUARD_OBJECT_NAME, GuardAnswer, GuardRequest, InternalCall, SimulatedFault,
};
use worker::{Context, Env, Request, Response, Stub, event};
use worker_shell::{Target, internal, internal_answer, internal_error_answer, now_ms};

pub use guard::Guard;

/// Binding of this validator's `Guard` namespace.
const GUARD_BINDING: &str = "GUARD";

/// How long the Worker waits for its guard.
const GUARD_DEADLINE: Duration = Duration::from_secs(10);

/// Bytes of a guard's answer.
const GUARD_ANSWER_BYTES_MAX: usize = 256;

thread_local! {
    /// The signing key, parsed once per isolate.
    static KEY: RefCell<Option<SecretKey>> = const { RefCell::new(None) };
}

/// Internal calls from the sequencer (and, for faults, the admin API through it).
#[event(fetch)]
async fn fetch(mut request: Request, env: Env, _context: Context) -> worker::Result<Response> {
    match handle(&mut request, &env).await {
        Ok(response) => Ok(response),
        Err(error) => internal_error_answer(error),
    }
}

async fn handle(request: &mut Request, env: &Env) -> Result<Response, ErrorAnswer> {
    let (call, body) = worker_shell::read_internal(request, PROPOSAL_BYTES_MAX).await?;
    match call {
        InternalCall::Propose => {
            let request_ids = worker_shell::request_ids(request);
            let started_ms = now_ms();
            let proposal = wire::decode::<Proposal>(&body, PROPOSAL_BYTES_MAX);
            let block = proposal.as_ref().ok().map(|proposal| GuardRequest {
                height: proposal.header.height,
                block_hash: proposal.header.hash(),
            });
            let outcome = match proposal {
                Ok(proposal) => propose(env, &proposal).await,
                Err(error) => Err(error.into()),
            };
            log_vote(block, &request_ids, now_ms() - started_ms, &outcome);
            outcome.map(|(_, response)| response)
        }
        InternalCall::SetFault => set_fault(env, &body).await,
        other => {
            Err(ApiError::not_found(format!("a validator has no endpoint {}", other.path())).into())
        }
    }
}

/// Logs the ruling on a proposal with the request ids it carried: which block (when it
/// decoded), whether it was signed, and why not.
fn log_vote(
    block: Option<GuardRequest>,
    request_ids: &[String],
    elapsed_ms: u64,
    outcome: &Result<(bool, Response), ErrorAnswer>,
) {
    let refusal = outcome.as_ref().err().map(|error| &error.body.error);
    worker_shell::log_event(&serde_json::json!({
        "event": "vote",
        "height": block.map(|block| block.height),
        "block_hash": block.map(|block| block.block_hash.to_string()),
        "signed": matches!(outcome, Ok((true, _))),
        "refusal": refusal.map(|error| &error.code),
        "reason": refusal.map(|error| &error.message),
        "elapsed_ms": elapsed_ms,
        "request_ids": request_ids,
    }));
}

/// Verifies a proposal and, if it is valid and the guard allows it, answers a signed vote
/// (and `true`; `false` when a simulated fault answered instead).
///
/// A valid proposal takes one call to the guard (`Authorize`, which also answers the fault
/// mode). Only a proposal that fails its checks asks for the fault mode first, so a validator
/// simulating a fault answers as the fault says whatever it was sent.
async fn propose(env: &Env, proposal: &Proposal) -> Result<(bool, Response), ErrorAnswer> {
    let guard = guard_stub(env)?;
    let chain = worker_shell::chain(env)?;
    let key = secret_key(env)?;
    let checked = match check_proposal(&chain.context, proposal, now_ms()) {
        Ok(checked) => checked,
        Err(error) => {
            let fault: FaultRequest = worker_shell::call(
                Target::Object(&guard),
                &InternalCall::Fault,
                None,
                GUARD_ANSWER_BYTES_MAX,
                GUARD_DEADLINE,
            )
            .await?;
            return match fault.mode.simulated() {
                Some(fault) => simulated_answer(fault),
                None => Err(rules::refusal(error).into()),
            };
        }
    };
    let height = proposal.header.height;
    let request = GuardRequest {
        height,
        block_hash: checked.block_hash,
    };
    // The guard records the block durably before it answers: only then may we sign.
    let allowed: GuardAnswer = worker_shell::call(
        Target::Object(&guard),
        &InternalCall::Authorize,
        Some(&wire::encode(&request)),
        GUARD_ANSWER_BYTES_MAX,
        GUARD_DEADLINE,
    )
    .await?;
    if let GuardAnswer::Simulating(fault) = allowed {
        return simulated_answer(fault);
    }
    let config = &chain.context.config;
    let vote = Vote::sign(
        &key,
        &config.validators,
        config.chain_id,
        height,
        checked.block_hash,
    )
    .map_err(|error| {
        worker_shell::misconfigured(format!(
            "VALIDATOR_SECRET_KEY is not in the validator set: {error}"
        ))
    })?;
    internal_answer(&vote)
        .map(|response| (true, response))
        .map_err(|error| internal(error).into())
}

/// What a validator simulating `fault` answers instead of a vote.
fn simulated_answer(fault: SimulatedFault) -> Result<(bool, Response), ErrorAnswer> {
    match fault {
        SimulatedFault::Down => Err(rules::simulated_down().into()),
        SimulatedFault::Garbage => worker_shell::bytes_response(
            200,
            rules::GARBAGE_VOTE.to_vec(),
            wire::INTERNAL_CONTENT_TYPE,
        )
        .map(|response| (false, response))
        .map_err(|error| internal(error).into()),
    }
}

/// Sets the simulated fault, where the configuration allows fault injection.
async fn set_fault(env: &Env, body: &[u8]) -> Result<Response, ErrorAnswer> {
    let request: FaultRequest = wire::decode(body, GUARD_ANSWER_BYTES_MAX)?;
    let setting = worker_shell::optional_setting(env, "FAULT_INJECTION");
    rules::check_fault_allowed(setting.as_deref(), request.mode)?;
    let guard = guard_stub(env)?;
    let answer: FaultRequest = worker_shell::call(
        Target::Object(&guard),
        &InternalCall::SetFault,
        Some(&wire::encode(&request)),
        GUARD_ANSWER_BYTES_MAX,
        GUARD_DEADLINE,
    )
    .await?;
    internal_answer(&answer).map_err(|error| internal(error).into())
}

fn guard_stub(env: &Env) -> Result<Stub, ApiError> {
    env.durable_object(GUARD_BINDING)
        .and_then(|namespace| namespace.get_by_name(GUARD_OBJECT_NAME))
        .map_err(|error| worker_shell::misconfigured(format!("{GUARD_BINDING}: {error}")))
}

fn secret_key(env: &Env) -> Result<SecretKey, ApiError> {
    if let Some(key) = KEY.with(|cell| cell.borrow().clone()) {
        return Ok(key);
    }
    let text = worker_shell::text_setting(env, "VALIDATOR_SECRET_KEY")?;
    let key = rules::parse_secret_key(&text)?;
    KEY.with(|cell| *cell.borrow_mut() = Some(key.clone()));
    Ok(key)
}
