//! `jsonrpc_request`: JSON-RPC 2.0 bodies, as `POST /` and `POST /rpc` receive them. What
//! parses is then handled as the front door handles it, minus the calls to other services.

use ledger::api::Reason;
use ledger::rpc::{
    self, BlockTag, CallRequest, FEE_HISTORY_BLOCKS_MAX, METHODS, RPC_BATCH_MAX,
    RPC_BATCH_READS_MAX, RpcBody, RpcEntry, RpcError, RpcRequest, RpcResponse,
};
use ledger::state::Account;
use ledger::transaction;
use ledger::{Address, U256};
use serde_json::{Map, Value};

use crate::{BASE_FEE_PER_GAS, CHAIN_ID};

/// Heads of the chain each request is answered against: the genesis alone, a short chain, and
/// the largest height (where `height + 1` would overflow).
const HEAD_HEIGHTS: [u64; 3] = [0, 7, u64::MAX];

/// Senders' accounts `eth_sendRawTransaction` is checked against: empty, and rich and far on.
const ACCOUNTS: [(u64, u64); 2] = [(0, 0), (1 << 40, u64::MAX)];

/// Transactions of one body whose senders are recovered (recovery costs about 100 µs; the
/// transaction target covers it, so a batch of 1,000 need not do it 1,000 times per input).
const RECOVERIES_PER_BODY_MAX: usize = 4;

/// Parses `data` as a body, then handles every entry and encodes the answer.
pub fn check(data: &[u8]) {
    let body = match rpc::parse_body(data) {
        Ok(body) => body,
        Err(refusal) => return check_body_refusal(&refusal),
    };
    // The oracle for ids and entries: the same bytes read as plain JSON.
    let json: Value = serde_json::from_slice(data).expect("a parsed body is JSON");
    let (entries, originals, batch) = match (&body, &json) {
        (RpcBody::Single(entry), Value::Object(_)) => (vec![entry], vec![&json], false),
        (RpcBody::Batch(entries), Value::Array(originals)) => {
            assert!((1..=RPC_BATCH_MAX).contains(&entries.len()));
            assert_eq!(entries.len(), originals.len());
            let reads = entries.iter().filter(|entry| is_read(entry)).count();
            assert!(reads <= RPC_BATCH_READS_MAX);
            (entries.iter().collect(), originals.iter().collect(), true)
        }
        _ => panic!("{body:?} parsed from {json}"),
    };
    let mut recoveries = 0;
    let mut responses = Vec::new();
    for (entry, original) in entries.into_iter().zip(originals) {
        check_id(entry, original);
        if let Some(response) = handle(entry, &mut recoveries) {
            responses.push(response);
        }
    }
    check_answer(&responses, batch);
}

fn is_read(entry: &RpcEntry) -> bool {
    matches!(entry, RpcEntry::Call { request, .. }
        if !matches!(request, RpcRequest::SendRawTransaction { .. }))
}

/// A body refused whole: a parse error or an invalid request, answered with id `null`.
fn check_body_refusal(refusal: &RpcResponse) {
    assert_eq!(refusal.id(), &Value::Null);
    let error = refusal.outcome().expect_err("a refusal is an error");
    assert!(
        [RpcError::PARSE_ERROR, RpcError::INVALID_REQUEST].contains(&error.code),
        "body refused with {error:?}"
    );
    let answer = rpc::encode_body(std::slice::from_ref(refusal), false);
    serde_json::from_slice::<Value>(&answer).expect("the refusal is JSON");
}

/// The id an entry is answered with is the request's own, when it has a valid one.
fn check_id(entry: &RpcEntry, original: &Value) {
    let id = original
        .as_object()
        .and_then(|object| object.get("id"))
        .filter(|id| matches!(id, Value::Null | Value::Number(_) | Value::String(_)));
    match entry {
        RpcEntry::Call { id: parsed, .. } => assert_eq!(parsed.as_ref(), id),
        RpcEntry::Invalid(response) => {
            assert_eq!(response.id(), id.unwrap_or(&Value::Null));
            let error = response
                .outcome()
                .expect_err("an invalid entry is an error");
            assert!(
                [
                    RpcError::INVALID_REQUEST,
                    RpcError::METHOD_NOT_FOUND,
                    RpcError::INVALID_PARAMS
                ]
                .contains(&error.code),
                "entry refused with {error:?}"
            );
        }
        RpcEntry::IgnoredNotification => assert_eq!(id, None),
    }
}

/// One entry's response, `None` for a notification.
fn handle(entry: &RpcEntry, recoveries: &mut usize) -> Option<RpcResponse> {
    match entry {
        RpcEntry::Invalid(response) => Some(response.clone()),
        RpcEntry::IgnoredNotification => None,
        RpcEntry::Call { id, request } => {
            check_round_trip(request);
            let outcome = perform(request, recoveries);
            id.clone().map(|id| match outcome {
                Ok(value) => RpcResponse::result(id, value),
                Err(error) => RpcResponse::error(id, error),
            })
        }
    }
}

/// Written back as params, a request parses to itself.
fn check_round_trip(request: &RpcRequest) {
    let method = request.method();
    assert!(METHODS.contains(&method));
    let params = params(request);
    assert_eq!(
        RpcRequest::parse(method, &params).as_ref(),
        Ok(request),
        "{method} {}",
        Value::Array(params.clone())
    );
}

/// The answer is JSON: an array for a batch, one object otherwise, nothing for notifications.
fn check_answer(responses: &[RpcResponse], batch: bool) {
    let answer = rpc::encode_body(responses, batch);
    if responses.is_empty() {
        assert!(answer.is_empty());
        return;
    }
    let answer: Value = serde_json::from_slice(&answer).expect("the answer is JSON");
    let objects = match (&answer, batch) {
        (Value::Array(objects), true) => objects.iter().collect(),
        (Value::Object(_), false) => vec![&answer],
        _ => panic!("answer {answer} for batch = {batch}"),
    };
    assert_eq!(objects.len(), responses.len());
    for (object, response) in objects.into_iter().zip(responses) {
        assert_eq!(object["jsonrpc"], "2.0");
        assert_eq!(&object["id"], response.id());
        let has_result = object.get("result").is_some();
        assert_ne!(has_result, object.get("error").is_some());
    }
}

/// What the front door answers, with the chain's answers replaced by fixed ones.
fn perform(request: &RpcRequest, recoveries: &mut usize) -> Result<Value, RpcError> {
    Ok(match request {
        RpcRequest::ChainId => rpc::quantity(CHAIN_ID),
        RpcRequest::NetVersion => Value::String(CHAIN_ID.to_string()),
        RpcRequest::ClientVersion => Value::String(rpc::CLIENT_VERSION.to_owned()),
        RpcRequest::Syncing => Value::Bool(false),
        RpcRequest::BlockNumber => rpc::quantity(HEAD_HEIGHTS[1]),
        RpcRequest::GasPrice => rpc::gas_price(BASE_FEE_PER_GAS),
        RpcRequest::MaxPriorityFeePerGas => rpc::quantity(rpc::SUGGESTED_PRIORITY_FEE_PER_GAS),
        RpcRequest::GetBalance { block, .. }
        | RpcRequest::GetTransactionCount { block, .. }
        | RpcRequest::GetCode { block, .. } => {
            for head in HEAD_HEIGHTS {
                let _ = block.require_head(head);
            }
            block.require_head(HEAD_HEIGHTS[1])?;
            rpc::code()
        }
        RpcRequest::SendRawTransaction { raw } => send_raw(raw, recoveries)?,
        RpcRequest::GetTransactionByHash { hash } | RpcRequest::GetTransactionReceipt { hash } => {
            rpc::data(hash)
        }
        RpcRequest::GetBlockByNumber { block, .. } => {
            for head in HEAD_HEIGHTS {
                if let Some(height) = block.resolve(head) {
                    assert!(height <= head);
                }
            }
            block
                .resolve(HEAD_HEIGHTS[1])
                .map_or(Value::Null, rpc::quantity)
        }
        RpcRequest::GetBlockByHash { hash, .. } => rpc::data(hash),
        RpcRequest::FeeHistory {
            block_count,
            newest,
            reward_percentiles,
        } => fee_history(*block_count, newest, reward_percentiles)?,
        RpcRequest::EstimateGas { call } => rpc::estimate_gas(call)?,
        RpcRequest::Call { call } => rpc::call(call)?,
    })
}

/// `eth_sendRawTransaction`: decoding, recovery and the checks against the sender's account.
fn send_raw(raw: &[u8], recoveries: &mut usize) -> Result<Value, RpcError> {
    assert!(raw.len() <= ledger::limits::TX_BYTES_MAX);
    let refused = |rejection: &transaction::TxRejection| {
        crate::transaction::check_rejection(rejection);
        rpc::rejection_error(&Reason::from(rejection))
    };
    let signed = transaction::decode(raw, CHAIN_ID).map_err(|rejection| refused(&rejection))?;
    if *recoveries >= RECOVERIES_PER_BODY_MAX {
        return Ok(rpc::data(signed.hash()));
    }
    *recoveries += 1;
    let verified = signed.recover().map_err(|rejection| refused(&rejection))?;
    for (nonce, balance) in ACCOUNTS {
        let account = Account {
            nonce,
            balance: U256::from(balance),
        };
        let _ = rpc::check_payable(verified.transfer(), &account);
    }
    Ok(rpc::data(verified.hash()))
}

/// `eth_feeHistory` as the front door computes it, with every block half full.
fn fee_history(
    block_count: u64,
    newest: &BlockTag,
    reward_percentiles: &[f64],
) -> Result<Value, RpcError> {
    assert!((1..=FEE_HISTORY_BLOCKS_MAX).contains(&block_count));
    assert!(reward_percentiles.len() <= rpc::FEE_HISTORY_PERCENTILES_MAX);
    assert!(reward_percentiles.is_sorted());
    assert!(reward_percentiles.iter().all(|p| (0.0..=100.0).contains(p)));
    let head = HEAD_HEIGHTS[1];
    let newest = newest
        .resolve(head)
        .ok_or_else(|| RpcError::unknown_block(newest.number().unwrap_or(0)))?;
    let oldest = newest.saturating_sub(block_count.saturating_sub(1));
    let ratios: Vec<f64> = (oldest..=newest)
        .map(|_| rpc::gas_used_ratio(ledger::limits::BLOCK_TXS_MAX / 2))
        .collect();
    Ok(rpc::fee_history(
        oldest,
        &ratios,
        BASE_FEE_PER_GAS,
        reward_percentiles,
    ))
}

/// The positional params that say `request`, as a careful client writes them.
pub fn params(request: &RpcRequest) -> Vec<Value> {
    match request {
        RpcRequest::ChainId
        | RpcRequest::NetVersion
        | RpcRequest::ClientVersion
        | RpcRequest::Syncing
        | RpcRequest::BlockNumber
        | RpcRequest::GasPrice
        | RpcRequest::MaxPriorityFeePerGas => Vec::new(),
        RpcRequest::GetBalance { address, block }
        | RpcRequest::GetTransactionCount { address, block }
        | RpcRequest::GetCode { address, block } => vec![rpc::data(address), block_tag(block)],
        RpcRequest::SendRawTransaction { raw } => vec![rpc::data(raw)],
        RpcRequest::GetTransactionByHash { hash } | RpcRequest::GetTransactionReceipt { hash } => {
            vec![rpc::data(hash)]
        }
        RpcRequest::GetBlockByNumber { block, full } => vec![block_tag(block), Value::Bool(*full)],
        RpcRequest::GetBlockByHash { hash, full } => vec![rpc::data(hash), Value::Bool(*full)],
        RpcRequest::FeeHistory {
            block_count,
            newest,
            reward_percentiles,
        } => vec![
            rpc::quantity(*block_count),
            block_tag(newest),
            reward_percentiles
                .iter()
                .copied()
                .map(Value::from)
                .collect(),
        ],
        RpcRequest::EstimateGas { call } | RpcRequest::Call { call } => vec![call_object(call)],
    }
}

/// A block tag's JSON form.
pub fn block_tag(block: &BlockTag) -> Value {
    let tag = match block {
        BlockTag::Latest => "latest",
        BlockTag::Pending => "pending",
        BlockTag::Safe => "safe",
        BlockTag::Finalized => "finalized",
        BlockTag::Earliest => "earliest",
        BlockTag::Number(number) => return rpc::quantity(*number),
    };
    Value::String(tag.to_owned())
}

/// An `eth_call` transaction object with the fields that are set.
pub fn call_object(call: &CallRequest) -> Value {
    let mut object = Map::new();
    let mut set = |name: &str, value: Option<Value>| {
        if let Some(value) = value {
            object.insert(name.to_owned(), value);
        }
    };
    let address = |address: Option<Address>| address.map(rpc::data);
    set("from", address(call.from));
    set("to", address(call.to));
    set("value", call.value.map(rpc::quantity));
    set("input", Some(rpc::data(&call.data)));
    set("gas", call.gas.map(rpc::quantity));
    set("gasPrice", call.gas_price.map(rpc::quantity));
    set("maxFeePerGas", call.max_fee_per_gas.map(rpc::quantity));
    set(
        "maxPriorityFeePerGas",
        call.max_priority_fee_per_gas.map(rpc::quantity),
    );
    Value::Object(object)
}
