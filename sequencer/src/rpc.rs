//! Ethereum JSON-RPC 2.0 on `POST /` and `POST /rpc`: the front door performs each request
//! with the same internal calls the v1 API uses, and [`ledger::rpc`] decides everything else
//! (parsing, limits, shapes, error codes and messages).

use std::collections::{BTreeMap, BTreeSet};

use ledger::api::{AccountAnswer, ErrorAnswer, SubmissionResult, SubmissionStatus};
use ledger::archive;
use ledger::block::{CertifiedBlock, Receipt};
use ledger::primitives::{Address, Hash};
use ledger::rpc::{
    self, BlockTag, RpcBody, RpcEntry, RpcError, RpcRequest, RpcResponse, TxLocation,
};
use ledger::state::Account;
use ledger::transaction::{self, Submission, VerifiedTx};
use ledger::wire::{self, FullBlockLookup, InternalCall, RawTxLookup, RefusalCount, ShardAccounts};
use serde_json::Value;
use worker::{Env, Request, Response};
use worker_shell::{Chain, read_body};

use crate::front_door::{
    account, archived_block, ask_sequencer, ask_shard_with, count_refusals, submit_verified,
};

/// How long a sender's account read may take.
const SHARD_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// A JSON-RPC request: always HTTP 200 with JSON-RPC answers (errors included), as Ethereum
/// nodes answer; a body too large to read is a JSON-RPC parse error too.
pub(crate) async fn handle(
    request: &mut Request,
    env: &Env,
    chain: &Chain,
    request_id: &str,
) -> Result<Response, ErrorAnswer> {
    // As geth does: JSON-RPC over HTTP is `application/json`. This also keeps a page on
    // another origin from posting to it without a CORS preflight (a `text/plain` form post).
    ledger::api::check_content_type(
        worker_shell::header(request, "content-type").as_deref(),
        ledger::api::JSON_CONTENT_TYPE,
    )?;
    let body = match read_body(request, rpc::RPC_BODY_BYTES_MAX).await {
        Ok(body) => body,
        Err(error) => {
            let refusal = RpcResponse::error(Value::Null, RpcError::parse_error(error.message));
            return respond(&[refusal], false);
        }
    };
    let (entries, batch) = match rpc::parse_body(&body) {
        Ok(RpcBody::Single(entry)) => (vec![entry], false),
        Ok(RpcBody::Batch(entries)) => (entries, true),
        Err(refusal) => return respond(&[refusal], false),
    };
    // Every transaction of the batch is admitted together: one check of each sender and one
    // call to the `Sequencer`, as a native batch is, rather than three calls per transaction.
    let raws: Vec<Vec<u8>> = entries
        .iter()
        .filter_map(|entry| match entry {
            RpcEntry::Call {
                request: RpcRequest::SendRawTransaction { raw },
                ..
            } => Some(raw.clone()),
            _ => None,
        })
        .collect();
    let mut sent = send_raw_all(env, chain, raws, request_id).await.into_iter();
    let mut responses = Vec::with_capacity(entries.len());
    for entry in entries {
        match entry {
            RpcEntry::Invalid(refusal) => responses.push(refusal),
            // A notification is never answered, not even with an error.
            RpcEntry::IgnoredNotification => {}
            RpcEntry::Call { id, request } => {
                let outcome = match request {
                    RpcRequest::SendRawTransaction { .. } => sent.next().unwrap_or_else(|| {
                        Err(RpcError::internal(
                            "a transaction lost its result".to_owned(),
                        ))
                    }),
                    other => perform(env, chain, other).await,
                };
                if let Some(id) = id {
                    responses.push(match outcome {
                        Ok(value) => RpcResponse::result(id, value),
                        Err(error) => RpcResponse::error(id, error),
                    });
                }
            }
        }
    }
    respond(&responses, batch)
}

fn respond(responses: &[RpcResponse], batch: bool) -> Result<Response, ErrorAnswer> {
    let body = if responses.is_empty() {
        Vec::new() // only notifications: nothing to answer
    } else {
        rpc::encode_body(responses, batch)
    };
    worker_shell::bytes_response(200, body, ledger::api::JSON_CONTENT_TYPE)
        .map_err(|error| worker_shell::internal(error).into())
}

/// One request's result. Failures of the chain's own services are -32603 internal errors.
async fn perform(env: &Env, chain: &Chain, request: RpcRequest) -> Result<Value, RpcError> {
    let config = &chain.context.config;
    match request {
        RpcRequest::ChainId => Ok(rpc::quantity(config.chain_id)),
        RpcRequest::NetVersion => Ok(Value::String(config.chain_id.to_string())),
        RpcRequest::ClientVersion => Ok(Value::String(rpc::CLIENT_VERSION.to_owned())),
        RpcRequest::Syncing => Ok(Value::Bool(false)),
        RpcRequest::BlockNumber => Ok(rpc::quantity(head_height(env).await?)),
        RpcRequest::GasPrice => Ok(rpc::gas_price(config.base_fee_per_gas)),
        RpcRequest::MaxPriorityFeePerGas => Ok(rpc::quantity(rpc::SUGGESTED_PRIORITY_FEE_PER_GAS)),
        RpcRequest::GetBalance { address, block } => {
            let account = latest_account(env, chain, address, block).await?;
            Ok(rpc::quantity(account.balance))
        }
        RpcRequest::GetTransactionCount { address, block } => {
            let account = latest_account(env, chain, address, block).await?;
            Ok(rpc::quantity(match block {
                BlockTag::Pending => account.pending_nonce,
                _ => account.nonce,
            }))
        }
        RpcRequest::GetCode { address, block } => {
            latest_account(env, chain, address, block).await?;
            Ok(rpc::code())
        }
        RpcRequest::SendRawTransaction { .. } => Err(RpcError::internal(
            "eth_sendRawTransaction is admitted with its batch".to_owned(),
        )),
        RpcRequest::GetTransactionByHash { hash } => transaction_by_hash(env, chain, hash).await,
        RpcRequest::GetTransactionReceipt { hash } => receipt(env, chain, hash).await,
        RpcRequest::GetBlockByNumber { block, full } => {
            let head = head_height(env).await?;
            match block.resolve(head) {
                None => Ok(Value::Null),
                Some(height) => {
                    block_value(env, chain, InternalCall::FullBlock(height_of(height)), full).await
                }
            }
        }
        RpcRequest::GetBlockByHash { hash, full } => {
            let call = InternalCall::FullBlock(ledger::api::BlockSelector::Hash(hash));
            block_value(env, chain, call, full).await
        }
        RpcRequest::FeeHistory {
            block_count,
            newest,
            reward_percentiles,
        } => fee_history(env, chain, block_count, newest, &reward_percentiles).await,
        RpcRequest::EstimateGas { call } => rpc::estimate_gas(&call),
        RpcRequest::Call { call } => rpc::call(&call),
    }
}

fn height_of(height: u64) -> ledger::api::BlockSelector {
    ledger::api::BlockSelector::Height(height)
}

/// A failure of the chain itself (a service, storage), with its code: -32002 to retry when a
/// service was unreachable or late, -32603 otherwise ([`RpcError::chain_failure`]).
fn internal(error: ErrorAnswer) -> RpcError {
    RpcError::chain_failure(
        error.status,
        &error.body.error.code,
        &error.body.error.message,
    )
}

async fn head_height(env: &Env) -> Result<u64, RpcError> {
    let status: ledger::api::StatusAnswer = ask_sequencer(env, InternalCall::Status)
        .await
        .map_err(internal)?;
    Ok(status.head_height)
}

/// The account at the head: the only state the chain keeps. An older block number is refused
/// clearly rather than answered with today's balance.
async fn latest_account(
    env: &Env,
    chain: &Chain,
    address: Address,
    block: BlockTag,
) -> Result<AccountAnswer, RpcError> {
    if !matches!(
        block,
        BlockTag::Latest | BlockTag::Pending | BlockTag::Safe | BlockTag::Finalized
    ) {
        block.require_head(head_height(env).await?)?;
    }
    account(env, chain, address, false).await.map_err(internal)
}

/// `eth_sendRawTransaction` for every transaction of a request, in order: the same admission
/// as `POST /v1/txs`, plus the checks wallets expect at once (Ethereum nodes refuse these
/// before queueing): a nonce already used and a sender who cannot pay `gas × max fee + value`
/// from its committed balance. Each sender's account is read once, all at the same time, and
/// the admissible transactions go to the `Sequencer` in one call. Refusals made here are
/// counted like the front door's (`edgeledger_transactions_rejected_total`).
async fn send_raw_all(
    env: &Env,
    chain: &Chain,
    raws: Vec<Vec<u8>>,
    request_id: &str,
) -> Vec<Result<Value, RpcError>> {
    if raws.is_empty() {
        return Vec::new();
    }
    let chain_id = chain.context.config.chain_id;
    let mut outcomes: Vec<Option<Result<Value, RpcError>>> = raws.iter().map(|_| None).collect();
    let mut refused: Vec<&'static str> = Vec::new();
    let mut verified = Vec::new();
    let submissions: Vec<Submission> = raws.into_iter().map(Submission::raw).collect();
    let checked = transaction::admit(&submissions, chain_id);
    for (position, outcome) in checked.into_iter().enumerate() {
        match outcome {
            Ok(tx) => verified.push((position, tx)),
            Err(rejection) => {
                refused.push(rejection.code());
                let reason = ledger::api::Reason::from(&rejection);
                outcomes[position] = Some(Err(rpc::rejection_error(&reason)));
            }
        }
    }
    let accounts = sender_accounts(env, chain, verified.iter().map(|(_, tx)| tx.sender)).await;
    let mut admissible = Vec::with_capacity(verified.len());
    for (position, tx) in verified {
        match check_payable(&tx, &accounts) {
            Ok(()) => admissible.push((position, tx.to_wire())),
            Err((code, error)) => {
                refused.extend(code);
                outcomes[position] = Some(Err(error));
            }
        }
    }
    let refusals = RefusalCount::tally(refused);
    if admissible.is_empty() {
        if !refusals.is_empty() {
            count_refusals(env, refusals, request_id).await;
        }
    } else {
        let (positions, transactions): (Vec<usize>, Vec<_>) = admissible.into_iter().unzip();
        match submit_verified(env, transactions, refusals, request_id).await {
            Ok(results) => {
                for (position, result) in positions.into_iter().zip(results) {
                    outcomes[position] = Some(submission_value(&result));
                }
            }
            Err(error) => {
                let error = internal(error);
                for position in positions {
                    outcomes[position] = Some(Err(error.clone()));
                }
            }
        }
    }
    outcomes
        .into_iter()
        .map(|outcome| {
            outcome.unwrap_or_else(|| {
                Err(RpcError::internal(
                    "the sequencer answered no result".to_owned(),
                ))
            })
        })
        .collect()
}

/// The committed account of each distinct sender, asked of the shards that hold them (the
/// checks need nothing else): one call per shard, all at the same time.
async fn sender_accounts(
    env: &Env,
    chain: &Chain,
    senders: impl Iterator<Item = Address>,
) -> BTreeMap<Address, Result<Account, RpcError>> {
    let senders: BTreeSet<Address> = senders.collect();
    let by_shard = chain.context.config.layout().group_by_shard(&senders);
    let answers =
        futures_util::future::join_all(by_shard.into_iter().map(|(shard, addresses)| async move {
            let answer = ask_shard_with::<ShardAccounts>(
                env,
                shard,
                &InternalCall::ShardAccounts,
                Some(wire::encode(&addresses)),
                wire::ACCOUNTS_ANSWER_BYTES_MAX,
                SHARD_DEADLINE,
            )
            .await;
            (addresses, answer)
        }))
        .await;
    let mut accounts = BTreeMap::new();
    for (addresses, answer) in answers {
        match answer {
            Ok(answer) if answer.accounts.len() == addresses.len() => {
                accounts.extend(
                    addresses
                        .into_iter()
                        .zip(answer.accounts)
                        .map(|(address, account)| (address, Ok(account.unwrap_or_default()))),
                );
            }
            Ok(answer) => {
                let error = RpcError::internal(format!(
                    "a shard answered {} accounts for {}",
                    answer.accounts.len(),
                    addresses.len()
                ));
                accounts.extend(
                    addresses
                        .into_iter()
                        .map(|address| (address, Err(error.clone()))),
                );
            }
            Err(error) => {
                let error = internal(error);
                accounts.extend(
                    addresses
                        .into_iter()
                        .map(|address| (address, Err(error.clone()))),
                );
            }
        }
    }
    accounts
}

/// What `eth_sendRawTransaction` answers for the `Sequencer`'s ruling.
fn submission_value(result: &SubmissionResult) -> Result<Value, RpcError> {
    match (&result.status, &result.reason) {
        // A transaction submitted again is idempotent: its hash, as for the first time.
        (SubmissionStatus::Accepted | SubmissionStatus::Duplicate, _) => {
            Ok(rpc::data(result.hash.as_bytes()))
        }
        (SubmissionStatus::Rejected, Some(reason)) => Err(rpc::rejection_error(reason)),
        (SubmissionStatus::Rejected, None) => Err(RpcError::internal(
            "a rejection without a reason".to_owned(),
        )),
    }
}

/// Whether the sender of `tx` could pay it now ([`rpc::check_payable`] on its committed
/// account): the refusal's code (none for a failure of ours) and the JSON-RPC error otherwise.
fn check_payable(
    tx: &VerifiedTx,
    accounts: &BTreeMap<Address, Result<Account, RpcError>>,
) -> Result<(), (Option<&'static str>, RpcError)> {
    match accounts.get(&tx.sender) {
        Some(Ok(sender)) => {
            rpc::check_payable(tx.transfer(), sender).map_err(|(code, error)| (Some(code), error))
        }
        Some(Err(error)) => Err((None, error.clone())),
        None => Err((
            None,
            RpcError::internal("the sender was not read".to_owned()),
        )),
    }
}

/// A transaction with where it is: raw bytes, sender, block location and receipt.
struct Located {
    raw: Vec<u8>,
    sender: Address,
    location: Option<TxLocation>,
    receipt: Option<Receipt>,
}

async fn locate(env: &Env, hash: Hash) -> Result<Option<Located>, RpcError> {
    let lookup: RawTxLookup = ask_sequencer(env, InternalCall::RawTransaction(hash))
        .await
        .map_err(internal)?;
    Ok(match lookup {
        RawTxLookup::Absent => None,
        RawTxLookup::Pending(wire) => Some(Located {
            sender: wire.public_key.address(),
            raw: wire.raw,
            location: None,
            receipt: None,
        }),
        RawTxLookup::Committed {
            block_hash,
            height,
            raw,
            receipt,
        } => Some(Located {
            raw: raw.into_vec(),
            sender: receipt.sender,
            location: Some(TxLocation {
                block_hash,
                block_number: height,
                index: receipt.index,
            }),
            receipt: Some(receipt),
        }),
        RawTxLookup::Archived { height, position } => {
            let block = archived_block(env, height, None).await.map_err(internal)?;
            let index = usize::try_from(position).unwrap_or(usize::MAX);
            match (block.transactions.get(index), block.receipts.get(index)) {
                (Some(raw), Some(receipt)) if receipt.tx_hash == hash => Some(Located {
                    raw: raw.to_vec(),
                    sender: receipt.sender,
                    location: Some(TxLocation {
                        block_hash: block.hash(),
                        block_number: height,
                        index: receipt.index,
                    }),
                    receipt: Some(*receipt),
                }),
                _ => None,
            }
        }
    })
}

async fn transaction_by_hash(env: &Env, chain: &Chain, hash: Hash) -> Result<Value, RpcError> {
    let config = &chain.context.config;
    let Some(located) = locate(env, hash).await? else {
        return Ok(Value::Null);
    };
    rpc::transaction_object(
        &located.raw,
        config.chain_id,
        located.sender,
        located.location,
        config.base_fee_per_gas,
    )
    .map_err(|rejection| RpcError::internal(format!("a stored transaction: {rejection}")))
}

/// `null` until the transaction is committed, as clients expect while they poll.
async fn receipt(env: &Env, chain: &Chain, hash: Hash) -> Result<Value, RpcError> {
    let config = &chain.context.config;
    let Some(Located {
        raw,
        location: Some(location),
        receipt: Some(receipt),
        ..
    }) = locate(env, hash).await?
    else {
        return Ok(Value::Null);
    };
    let kind = transaction::decode(&raw, config.chain_id)
        .map_err(|rejection| RpcError::internal(format!("a stored transaction: {rejection}")))?
        .transfer()
        .kind;
    // Every transfer uses the same gas, so the gas used up to and including this one is known.
    let cumulative = (u64::from(location.index) + 1) * transaction::TRANSFER_GAS;
    Ok(rpc::receipt_object(
        &receipt,
        kind,
        location.block_hash,
        location.block_number,
        cumulative,
    ))
}

/// A block from hot storage or KV; `None` if there is no such block.
async fn full_block(env: &Env, call: InternalCall) -> Result<Option<CertifiedBlock>, RpcError> {
    match ask_sequencer::<FullBlockLookup>(env, call).await {
        Ok(FullBlockLookup::Found(block)) => Ok(Some(*block)),
        Ok(FullBlockLookup::Archived { height, hash }) => archived_block(env, height, hash)
            .await
            .map(Some)
            .map_err(internal),
        Err(error) if error.status == 404 => Ok(None),
        Err(error) => Err(internal(error)),
    }
}

async fn block_value(
    env: &Env,
    chain: &Chain,
    call: InternalCall,
    full: bool,
) -> Result<Value, RpcError> {
    Ok(match full_block(env, call).await? {
        Some(block) => rpc::block_object(&block, full, &chain.context.config),
        None => Value::Null,
    })
}

/// `eth_feeHistory`: the base fee is fixed in genesis, so the history is the blocks' fullness.
async fn fee_history(
    env: &Env,
    chain: &Chain,
    block_count: u64,
    newest: BlockTag,
    reward_percentiles: &[f64],
) -> Result<Value, RpcError> {
    let head = head_height(env).await?;
    let newest = newest
        .resolve(head)
        .ok_or_else(|| RpcError::unknown_block(newest.number().unwrap_or(0)))?;
    let oldest = newest.saturating_sub(block_count.saturating_sub(1));
    let mut ratios = Vec::new();
    for height in oldest..=newest {
        let block: ledger::wire::BlockLookup =
            ask_sequencer(env, InternalCall::Block(height_of(height)))
                .await
                .map_err(internal)?;
        let transactions = match block {
            ledger::wire::BlockLookup::Found(answer) => answer.transactions.len(),
            ledger::wire::BlockLookup::Archived { height, hash } => {
                let block = archived_block(env, height, hash).await.map_err(internal)?;
                archive::archived_block_answer(&block).transactions.len()
            }
        };
        ratios.push(rpc::gas_used_ratio(transactions));
    }
    Ok(rpc::fee_history(
        oldest,
        &ratios,
        chain.context.config.base_fee_per_gas,
        reward_percentiles,
    ))
}
