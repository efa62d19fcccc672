//! Parsing: every method, every error code path (-32700, -32600, -32601, -32602), batches,
//! notifications, ids, and the encoding of answers.
#![allow(
    clippy::panic,
    reason = "a test reports an unexpected shape by panicking"
)]

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::limits::TX_BYTES_MAX;
use crate::primitives::{Address, Hash, U256};

const ADDRESS: &str = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
const HASH: &str = "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347";

fn address() -> Address {
    ADDRESS.parse().expect("address")
}

fn hash() -> Hash {
    HASH.parse().expect("hash")
}

/// Parses `method` with `params` (a JSON array).
fn parse(method: &str, params: Value) -> Result<RpcRequest, RpcError> {
    let Value::Array(params) = params else {
        panic!("test params must be an array");
    };
    RpcRequest::parse(method, &params)
}

/// The -32602 message of a refused request.
fn invalid_params(method: &str, params: Value) -> String {
    let error = parse(method, params.clone()).expect_err(&format!("{method} {params}"));
    assert_eq!(
        error.code,
        RpcError::INVALID_PARAMS,
        "{method} {params}: {error}"
    );
    error.message
}

/// A body made of `value`.
fn body(value: &Value) -> Result<RpcBody, RpcResponse> {
    parse_body(value.to_string().as_bytes())
}

/// The single entry of a body.
fn entry(value: Value) -> RpcEntry {
    match body(&value) {
        Ok(RpcBody::Single(entry)) => entry,
        other => panic!("expected a single entry for {value}, got {other:?}"),
    }
}

/// The response of an entry refused as it is.
fn refusal(entry: &RpcEntry) -> (&RpcId, &RpcError) {
    match entry {
        RpcEntry::Invalid(response) => (
            response.id(),
            response.outcome().expect_err("an error response"),
        ),
        other => panic!("expected an invalid entry, got {other:?}"),
    }
}

/// The response refusing a whole body.
fn body_refusal(bytes: &[u8]) -> RpcError {
    let response = parse_body(bytes).expect_err("refused body");
    assert_eq!(
        response.id(),
        &Value::Null,
        "a refused body is answered with id null"
    );
    response.outcome().expect_err("an error").clone()
}

fn request(method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
}

#[test]
fn every_method_parses() {
    let call = CallRequest {
        from: Some(address()),
        to: Some(address()),
        value: Some(U256::from(10u64)),
        ..CallRequest::default()
    };
    let call_json = json!({"from": ADDRESS, "to": ADDRESS, "value": "0xa"});
    let cases = vec![
        ("eth_chainId", json!([]), RpcRequest::ChainId),
        ("net_version", json!([]), RpcRequest::NetVersion),
        ("web3_clientVersion", json!([]), RpcRequest::ClientVersion),
        ("eth_syncing", json!([]), RpcRequest::Syncing),
        ("eth_blockNumber", json!([]), RpcRequest::BlockNumber),
        ("eth_gasPrice", json!([]), RpcRequest::GasPrice),
        (
            "eth_maxPriorityFeePerGas",
            json!([]),
            RpcRequest::MaxPriorityFeePerGas,
        ),
        (
            "eth_getBalance",
            json!([ADDRESS, "latest"]),
            RpcRequest::GetBalance {
                address: address(),
                block: BlockTag::Latest,
            },
        ),
        (
            "eth_getTransactionCount",
            json!([ADDRESS, "pending"]),
            RpcRequest::GetTransactionCount {
                address: address(),
                block: BlockTag::Pending,
            },
        ),
        (
            "eth_getCode",
            json!([ADDRESS, "0x10"]),
            RpcRequest::GetCode {
                address: address(),
                block: BlockTag::Number(16),
            },
        ),
        (
            "eth_sendRawTransaction",
            json!(["0x02f8"]),
            RpcRequest::SendRawTransaction {
                raw: vec![0x02, 0xf8],
            },
        ),
        (
            "eth_getTransactionByHash",
            json!([HASH]),
            RpcRequest::GetTransactionByHash { hash: hash() },
        ),
        (
            "eth_getTransactionReceipt",
            json!([HASH]),
            RpcRequest::GetTransactionReceipt { hash: hash() },
        ),
        (
            "eth_getBlockByNumber",
            json!(["finalized", true]),
            RpcRequest::GetBlockByNumber {
                block: BlockTag::Finalized,
                full: true,
            },
        ),
        (
            "eth_getBlockByHash",
            json!([HASH, false]),
            RpcRequest::GetBlockByHash {
                hash: hash(),
                full: false,
            },
        ),
        (
            "eth_feeHistory",
            json!(["0xa", "latest", [20.0, 50]]),
            RpcRequest::FeeHistory {
                block_count: 10,
                newest: BlockTag::Latest,
                reward_percentiles: vec![20.0, 50.0],
            },
        ),
        (
            "eth_estimateGas",
            json!([call_json]),
            RpcRequest::EstimateGas {
                call: Box::new(call.clone()),
            },
        ),
        (
            "eth_call",
            json!([call_json, "latest"]),
            RpcRequest::Call {
                call: Box::new(call),
            },
        ),
    ];
    assert_eq!(cases.len(), METHODS.len(), "one case per method");
    for (method, params, expected) in cases {
        let parsed = parse(method, params).unwrap_or_else(|error| panic!("{method}: {error}"));
        assert_eq!(parsed, expected, "{method}");
        assert_eq!(parsed.method(), method, "method() names what was parsed");
        // The same request through a whole body.
        let through_body = entry(request(method, json!(parsed_params(method))));
        assert!(
            matches!(through_body, RpcEntry::Call { id: Some(_), .. }),
            "{method}"
        );
    }
}

/// Valid params for `method`, for the round trips through a body.
fn parsed_params(method: &str) -> Value {
    match method {
        "eth_getBalance" | "eth_getTransactionCount" | "eth_getCode" => json!([ADDRESS]),
        "eth_sendRawTransaction" => json!(["0x"]),
        "eth_getTransactionByHash" | "eth_getTransactionReceipt" | "eth_getBlockByHash" => {
            json!([HASH])
        }
        "eth_getBlockByNumber" => json!(["latest"]),
        "eth_feeHistory" => json!([4, "latest"]),
        "eth_estimateGas" | "eth_call" => json!([{"to": ADDRESS}]),
        _ => json!([]),
    }
}

#[test]
fn optional_arguments_default_and_null_stands_for_omitted() {
    let latest = RpcRequest::GetBalance {
        address: address(),
        block: BlockTag::Latest,
    };
    assert_eq!(
        parse("eth_getBalance", json!([ADDRESS])),
        Ok(latest.clone())
    );
    assert_eq!(
        parse("eth_getBalance", json!([ADDRESS, null])),
        Ok(latest.clone())
    );
    assert_eq!(
        parse("eth_getBalance", json!([ADDRESS, null, null])),
        Ok(latest)
    );
    assert_eq!(
        parse("eth_getBlockByNumber", json!(["0x0"])),
        Ok(RpcRequest::GetBlockByNumber {
            block: BlockTag::Number(0),
            full: false
        })
    );
    assert_eq!(
        parse("eth_feeHistory", json!(["0x1", "earliest"])),
        Ok(RpcRequest::FeeHistory {
            block_count: 1,
            newest: BlockTag::Earliest,
            reward_percentiles: vec![],
        })
    );
    // `params` absent, null or an empty object is an empty list.
    for params in [None, Some(Value::Null), Some(json!({}))] {
        let mut object = json!({"jsonrpc": "2.0", "id": 3, "method": "eth_chainId"});
        if let Some(params) = params {
            object["params"] = params;
        }
        assert_eq!(
            entry(object),
            RpcEntry::Call {
                id: Some(json!(3)),
                request: RpcRequest::ChainId
            }
        );
    }
}

#[test]
fn block_tags_numbers_and_eip1898_objects() {
    let tag = |value: Value| match parse("eth_getBalance", json!([ADDRESS, value])) {
        Ok(RpcRequest::GetBalance { block, .. }) => Ok(block),
        Ok(other) => panic!("{other:?}"),
        Err(error) => Err(error.message),
    };
    assert_eq!(tag(json!("latest")), Ok(BlockTag::Latest));
    assert_eq!(tag(json!("pending")), Ok(BlockTag::Pending));
    assert_eq!(tag(json!("safe")), Ok(BlockTag::Safe));
    assert_eq!(tag(json!("finalized")), Ok(BlockTag::Finalized));
    assert_eq!(tag(json!("earliest")), Ok(BlockTag::Earliest));
    assert_eq!(tag(json!("0x1f")), Ok(BlockTag::Number(31)));
    assert_eq!(
        tag(json!("0x01")),
        Ok(BlockTag::Number(1)),
        "leading zeros are accepted"
    );
    assert_eq!(
        tag(json!(12)),
        Ok(BlockTag::Number(12)),
        "a JSON integer is accepted"
    );
    assert_eq!(tag(json!({"blockNumber": "0x5"})), Ok(BlockTag::Number(5)));
    assert_eq!(
        tag(json!({"blockNumber": "latest", "requireCanonical": true})),
        Ok(BlockTag::Latest)
    );
    assert_eq!(
        tag(json!("0xffffffffffffffff")),
        Ok(BlockTag::Number(u64::MAX))
    );
    for (value, expected) in [
        (json!("Latest"), "block tag"),
        (json!("12"), "block tag"),
        (json!("0x"), "block tag"),
        (json!("0x1g"), "block tag"),
        (json!("0x10000000000000000"), "does not fit 64 bits"),
        (json!(-1), "non-negative integer"),
        (json!(1.5), "non-negative integer"),
        (json!(true), "block number or tag"),
        (json!({"blockHash": HASH}), "not supported"),
        (json!({}), "blockNumber"),
    ] {
        let message = tag(value.clone()).expect_err(&value.to_string());
        assert!(
            message.contains("invalid argument 1 (block)"),
            "{value}: {message}"
        );
        assert!(message.contains(expected), "{value}: {message}");
    }
}

#[test]
fn wrong_counts_and_types_are_invalid_params() {
    let cases = [
        (
            "eth_chainId",
            json!([1]),
            "too many arguments, want at most 0",
        ),
        ("eth_blockNumber", json!(["latest"]), "too many arguments"),
        (
            "eth_getBalance",
            json!([]),
            "missing value for required argument 0 (address)",
        ),
        (
            "eth_getBalance",
            json!([ADDRESS, "latest", 1]),
            "want at most 2",
        ),
        (
            "eth_getBalance",
            json!(["0x12"]),
            "expected 40 hex digits, got 2",
        ),
        (
            "eth_getBalance",
            json!([ADDRESS.trim_start_matches("0x")]),
            "0x-prefixed",
        ),
        (
            "eth_getBalance",
            json!([7]),
            "expected a 0x-prefixed 20-byte address",
        ),
        (
            "eth_getCode",
            json!([format!("0x{}", "zz".repeat(20))]),
            "invalid hex digit",
        ),
        (
            "eth_getTransactionByHash",
            json!([ADDRESS]),
            "expected 64 hex digits",
        ),
        (
            "eth_getTransactionReceipt",
            json!([]),
            "missing value for required argument 0",
        ),
        (
            "eth_getBlockByHash",
            json!(["0x00"]),
            "invalid argument 0 (hash)",
        ),
        (
            "eth_getBlockByNumber",
            json!([]),
            "missing value for required argument 0 (block)",
        ),
        (
            "eth_getBlockByNumber",
            json!(["latest", "true"]),
            "expected true or false",
        ),
        (
            "eth_getBlockByNumber",
            json!(["latest", 1]),
            "expected true or false",
        ),
        ("eth_sendRawTransaction", json!([]), "missing value"),
        (
            "eth_sendRawTransaction",
            json!(["02f8"]),
            "0x-prefixed hex data",
        ),
        (
            "eth_sendRawTransaction",
            json!(["0x02f"]),
            "odd number of digits",
        ),
        (
            "eth_sendRawTransaction",
            json!(["0x02zz"]),
            "invalid hex data",
        ),
        (
            "eth_sendRawTransaction",
            json!([["0x02"]]),
            "0x-prefixed hex data",
        ),
        (
            "eth_sendRawTransaction",
            json!(["0x02", "0x03"]),
            "want at most 1",
        ),
        (
            "eth_feeHistory",
            json!(["0x1"]),
            "missing value for required argument 1",
        ),
        ("eth_feeHistory", json!([0, "latest"]), "at least 1"),
        ("eth_feeHistory", json!(["ten", "latest"]), "block count"),
        (
            "eth_feeHistory",
            json!(["0xa", "latest", [50, 20]]),
            "non-decreasing",
        ),
        (
            "eth_feeHistory",
            json!(["0xa", "latest", [101]]),
            "between 0 and 100",
        ),
        (
            "eth_feeHistory",
            json!(["0xa", "latest", [-1]]),
            "between 0 and 100",
        ),
        (
            "eth_feeHistory",
            json!(["0xa", "latest", ["50"]]),
            "percentile number",
        ),
        (
            "eth_feeHistory",
            json!(["0xa", "latest", 50]),
            "array of percentiles",
        ),
        (
            "eth_estimateGas",
            json!([]),
            "missing value for required argument 0 (transaction)",
        ),
        (
            "eth_estimateGas",
            json!(["0x"]),
            "expected a transaction object",
        ),
        (
            "eth_estimateGas",
            json!([{"to": "0x12"}]),
            "to: invalid address",
        ),
        ("eth_estimateGas", json!([{"from": 5}]), "from: expected"),
        (
            "eth_estimateGas",
            json!([{"value": "10"}]),
            "value: expected a 0x-prefixed",
        ),
        (
            "eth_estimateGas",
            json!([{"gas": "0x10000000000000000"}]),
            "gas: the quantity does not fit 64 bits",
        ),
        (
            "eth_estimateGas",
            json!([{"maxFeePerGas": format!("0x1{}", "0".repeat(32))}]),
            "does not fit 128 bits",
        ),
        (
            "eth_call",
            json!([{"data": "0x01", "input": "0x02"}]),
            "differ",
        ),
        (
            "eth_call",
            json!([{"input": "0x1"}]),
            "input: hex data has an odd number",
        ),
        (
            "eth_call",
            json!([{}, "latest", {"0x00": {"balance": "0x1"}}]),
            "overrides are not supported",
        ),
        (
            "eth_call",
            json!([{}, "latest", {}, {"number": "0x1"}]),
            "overrides are not supported",
        ),
        (
            "eth_call",
            json!([{}, "nope"]),
            "invalid argument 1 (block)",
        ),
        (
            "eth_call",
            json!([{}, "latest", {}, {}, 1]),
            "want at most 4",
        ),
    ];
    for (method, params, expected) in cases {
        let message = invalid_params(method, params.clone());
        assert!(message.contains(expected), "{method} {params}: {message}");
    }
}

#[test]
fn quantities_are_read_leniently_but_bounded() {
    let value = |text: &str| match parse("eth_estimateGas", json!([{"to": ADDRESS, "value": text}]))
    {
        Ok(RpcRequest::EstimateGas { call }) => Ok(call.value),
        Ok(other) => panic!("{other:?}"),
        Err(error) => Err(error.message),
    };
    assert_eq!(value("0x0"), Ok(Some(U256::ZERO)));
    assert_eq!(value("0x000"), Ok(Some(U256::ZERO)));
    assert_eq!(value("0X0a"), Ok(Some(U256::from(10u64))));
    assert_eq!(value(&format!("0x{}", "f".repeat(64))), Ok(Some(U256::MAX)));
    let padded = format!("0x{}{}", "0".repeat(100), "1");
    assert_eq!(
        value(&padded),
        Ok(Some(U256::from(1u64))),
        "zeros do not count"
    );
    assert!(value(&format!("0x1{}", "0".repeat(64))).is_err_and(|m| m.contains("256 bits")));
    assert!(value("0x").is_err_and(|m| m.contains("empty")));
    assert!(value("0x-1").is_err_and(|m| m.contains("invalid hex quantity")));
    assert!(value("0x 1").is_err_and(|m| m.contains("invalid hex quantity")));
}

#[test]
fn call_objects_read_input_or_data_and_ignore_unknown_fields() {
    let call = |object: Value| match parse("eth_call", json!([object])) {
        Ok(RpcRequest::Call { call }) => *call,
        other => panic!("{other:?}"),
    };
    assert_eq!(call(json!({"input": "0x0102"})).data, vec![1, 2]);
    assert_eq!(call(json!({"data": "0x0102"})).data, vec![1, 2]);
    assert_eq!(
        call(json!({"data": "0x0102", "input": "0x0102"})).data,
        vec![1, 2]
    );
    let full = call(json!({
        "from": ADDRESS, "to": null, "gas": "0x5208", "gasPrice": "0x1",
        "maxFeePerGas": "0x3", "maxPriorityFeePerGas": "0x2", "value": null,
        "type": "0x2", "chainId": "0x7a69", "nonce": "0x0", "accessList": [],
    }));
    assert_eq!(
        full,
        CallRequest {
            from: Some(address()),
            to: None,
            value: None,
            data: vec![],
            gas: Some(21_000),
            gas_price: Some(1),
            max_fee_per_gas: Some(3),
            max_priority_fee_per_gas: Some(2),
        }
    );
}

#[test]
fn raw_transactions_are_bounded_before_decoding() {
    let raw = |bytes: usize| json!([format!("0x{}", "ab".repeat(bytes))]);
    assert_eq!(
        parse("eth_sendRawTransaction", raw(TX_BYTES_MAX)),
        Ok(RpcRequest::SendRawTransaction {
            raw: vec![0xab; TX_BYTES_MAX]
        })
    );
    let message = invalid_params("eth_sendRawTransaction", raw(TX_BYTES_MAX + 1));
    assert!(
        message.contains("exceed the limit of 512 bytes"),
        "{message}"
    );
}

#[test]
fn fee_history_counts_in_any_notation_are_capped() {
    let count = |value: Value| match parse("eth_feeHistory", json!([value, "latest"])) {
        Ok(RpcRequest::FeeHistory { block_count, .. }) => block_count,
        other => panic!("{other:?}"),
    };
    assert_eq!(count(json!("0x10")), 16);
    assert_eq!(count(json!(16)), 16);
    assert_eq!(count(json!("16")), 16);
    assert_eq!(count(json!(5_000)), FEE_HISTORY_BLOCKS_MAX);
    assert_eq!(count(json!("0xffffffffffffffff")), FEE_HISTORY_BLOCKS_MAX);
    let too_many: Vec<f64> = (0..=FEE_HISTORY_PERCENTILES_MAX).map(|_| 50.0).collect();
    let message = invalid_params("eth_feeHistory", json!([1, "latest", too_many]));
    assert!(message.contains("exceed the limit of 100"), "{message}");
}

#[test]
fn unknown_methods_are_32601_with_geths_wording() {
    let error = parse("eth_sendTransaction", json!([{}])).expect_err("unknown");
    assert_eq!(error.code, RpcError::METHOD_NOT_FOUND);
    assert_eq!(
        error.message,
        "the method eth_sendTransaction does not exist/is not available"
    );
    // Case matters, as in every Ethereum node.
    assert!(parse("ETH_CHAINID", json!([])).is_err());
    // A huge method name is not echoed whole.
    let long = "x".repeat(10_000);
    let error = parse(&long, json!([])).expect_err("unknown");
    assert!(error.message.len() < 200, "{}", error.message.len());
    // Through a body, the id is echoed.
    let entry = entry(json!({"jsonrpc": "2.0", "id": "abc", "method": "eth_foo"}));
    let (id, error) = refusal(&entry);
    assert_eq!(
        (id, error.code),
        (&json!("abc"), RpcError::METHOD_NOT_FOUND)
    );
}

#[test]
fn bodies_that_are_not_json_are_32700() {
    let too_large = vec![b' '; RPC_BODY_BYTES_MAX + 1];
    let cases: [(&str, &[u8]); 6] = [
        ("empty", b""),
        ("not JSON", b"hello"),
        (
            "truncated",
            br#"{"jsonrpc": "2.0", "method": "eth_chainId""#,
        ),
        (
            "trailing garbage",
            br#"{"jsonrpc": "2.0", "method": "eth_chainId"} x"#,
        ),
        ("not UTF-8", b"\"\xff\xfe\""),
        ("too large", &too_large),
    ];
    for (name, bytes) in cases {
        let error = body_refusal(bytes);
        assert_eq!(error.code, RpcError::PARSE_ERROR, "{name}: {error}");
        assert!(error.message.starts_with("parse error"), "{name}: {error}");
    }
    assert!(
        body_refusal(&too_large)
            .message
            .contains("exceeds the limit of 2097152 bytes")
    );
    // Hostile nesting is refused by the JSON parser's depth limit, not by the stack.
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(body_refusal(nested.as_bytes()).code, RpcError::PARSE_ERROR);
}

#[test]
fn bodies_that_are_not_requests_are_32600() {
    for value in [
        json!(1),
        json!("eth_chainId"),
        json!(null),
        json!(true),
        json!([]),
    ] {
        let error = body_refusal(value.to_string().as_bytes());
        assert_eq!(error.code, RpcError::INVALID_REQUEST, "{value}: {error}");
    }
    assert!(body_refusal(b"[]").message.contains("empty batch"));
}

#[test]
fn entries_that_are_not_request_objects_are_32600() {
    let cases = [
        (
            json!({"id": 1, "method": "eth_chainId"}),
            json!(1),
            "\"jsonrpc\" must be \"2.0\"",
        ),
        (
            json!({"jsonrpc": "1.0", "id": 1, "method": "eth_chainId"}),
            json!(1),
            "2.0",
        ),
        (
            json!({"jsonrpc": 2.0, "id": 1, "method": "eth_chainId"}),
            json!(1),
            "2.0",
        ),
        (
            json!({"jsonrpc": "2.0", "id": 1}),
            json!(1),
            "\"method\" must be a string",
        ),
        (
            json!({"jsonrpc": "2.0", "id": 1, "method": 1}),
            json!(1),
            "\"method\"",
        ),
        (
            json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": "bar"}),
            json!(1),
            "\"params\"",
        ),
        (
            json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": 5}),
            json!(1),
            "\"params\"",
        ),
        (
            json!({"jsonrpc": "2.0", "id": {"a": 1}, "method": "eth_chainId"}),
            json!(null),
            "id must be",
        ),
        (
            json!({"jsonrpc": "2.0", "id": [1], "method": "eth_chainId"}),
            json!(null),
            "id must be",
        ),
        (
            json!({"jsonrpc": "2.0", "id": true, "method": "eth_chainId"}),
            json!(null),
            "id must be",
        ),
        // No id: still answered (with id null), as the specification's examples show.
        (
            json!({"jsonrpc": "2.0", "method": 1, "params": "bar"}),
            json!(null),
            "\"method\"",
        ),
    ];
    for (value, expected_id, expected) in cases {
        let entry = entry(value.clone());
        let (id, error) = refusal(&entry);
        assert_eq!(error.code, RpcError::INVALID_REQUEST, "{value}: {error}");
        assert_eq!(id, &expected_id, "{value}");
        assert!(error.message.contains(expected), "{value}: {error}");
    }
}

#[test]
fn named_params_are_32602_or_ignored_in_a_notification() {
    let named = json!({"jsonrpc": "2.0", "id": 9, "method": "eth_getBalance", "params": {"address": ADDRESS}});
    let entry_named = entry(named);
    let (id, error) = refusal(&entry_named);
    assert_eq!((id, error.code), (&json!(9), RpcError::INVALID_PARAMS));
    let notification = json!({"jsonrpc": "2.0", "method": "eth_getBalance", "params": {}});
    assert_eq!(entry(notification), RpcEntry::IgnoredNotification);
}

#[test]
fn ids_are_echoed_and_a_missing_id_makes_a_notification() {
    for id in [
        json!(0),
        json!(-7),
        json!(2.5),
        json!(u64::MAX),
        json!("a-string"),
        json!(null),
    ] {
        let value = json!({"jsonrpc": "2.0", "id": id, "method": "eth_chainId", "params": []});
        assert_eq!(
            entry(value),
            RpcEntry::Call {
                id: Some(id.clone()),
                request: RpcRequest::ChainId
            },
            "{id}"
        );
    }
    let notification = json!({"jsonrpc": "2.0", "method": "eth_blockNumber"});
    assert_eq!(
        entry(notification),
        RpcEntry::Call {
            id: None,
            request: RpcRequest::BlockNumber
        }
    );
    // Notifications are never answered, not even with an error.
    for notification in [
        json!({"jsonrpc": "2.0", "method": "eth_unknown"}),
        json!({"jsonrpc": "2.0", "method": "eth_getBalance", "params": ["0x12"]}),
    ] {
        assert_eq!(entry(notification), RpcEntry::IgnoredNotification);
    }
}

/// An id written with more digits than a double holds (found by the fuzzer) comes back as the
/// number the request's id parsed to: the answer's text parses to the same value again.
#[test]
fn a_number_id_past_double_precision_is_echoed_as_the_same_number() {
    let digits = format!("13{}", "2".repeat(109));
    let body = format!(r#"{{"jsonrpc": "2.0", "id": {digits}, "method": "eth_chainId"}}"#);
    let Ok(RpcBody::Single(RpcEntry::Call { id: Some(id), .. })) = parse_body(body.as_bytes())
    else {
        panic!("{body} is one call with an id");
    };
    let answer = encode_body(&[RpcResponse::result(id.clone(), json!("0x1"))], false);
    let answer: Value = serde_json::from_slice(&answer).expect("the answer is JSON");
    assert_eq!(answer["id"], id);
}

#[test]
fn batches_are_bounded_and_keep_their_order() {
    let send = request("eth_sendRawTransaction", json!(["0x02f8"]));
    let read = request("eth_chainId", json!([]));
    let batch = |count: usize, entry: &Value| Value::Array(vec![entry.clone(); count]);
    match body(&batch(RPC_BATCH_MAX, &send)) {
        Ok(RpcBody::Batch(entries)) => assert_eq!(entries.len(), RPC_BATCH_MAX),
        other => panic!("{other:?}"),
    }
    let error = body_refusal(batch(RPC_BATCH_MAX + 1, &send).to_string().as_bytes());
    assert_eq!(error.code, RpcError::INVALID_REQUEST);
    assert!(
        error
            .message
            .contains("batch of 1001 requests exceeds the limit of 1000"),
        "{error}"
    );
    // Reads are bounded more tightly: each costs a call of its own.
    let mut mixed = vec![send.clone(); RPC_BATCH_MAX - RPC_BATCH_READS_MAX];
    mixed.extend(vec![read.clone(); RPC_BATCH_READS_MAX]);
    assert!(matches!(
        body(&Value::Array(mixed.clone())),
        Ok(RpcBody::Batch(_))
    ));
    mixed[0] = read.clone();
    let error = body_refusal(Value::Array(mixed).to_string().as_bytes());
    assert_eq!(error.code, RpcError::INVALID_REQUEST);
    assert!(
        error.message.contains(
            "batch of 101 requests other than eth_sendRawTransaction exceeds the limit of 100"
        ),
        "{error}"
    );
    let one = read;
    let batch = |count: usize| Value::Array(vec![one.clone(); count]);
    // A batch of one is still a batch.
    assert!(matches!(body(&batch(1)), Ok(RpcBody::Batch(entries)) if entries.len() == 1));

    let mixed = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"},
        {"jsonrpc": "2.0", "method": "eth_chainId"},
        1,
        {"jsonrpc": "2.0", "id": 2, "method": "eth_nope"},
        {"jsonrpc": "2.0", "method": "eth_nope"},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_getBalance", "params": []},
    ]);
    let Ok(RpcBody::Batch(entries)) = body(&mixed) else {
        panic!("a batch");
    };
    assert_eq!(
        entries[0],
        RpcEntry::Call {
            id: Some(json!(1)),
            request: RpcRequest::BlockNumber
        }
    );
    assert_eq!(
        entries[1],
        RpcEntry::Call {
            id: None,
            request: RpcRequest::ChainId
        }
    );
    assert_eq!(
        refusal(&entries[2]),
        (
            &json!(null),
            &RpcError::invalid_request("a request must be a JSON object")
        )
    );
    assert_eq!(refusal(&entries[3]).1.code, RpcError::METHOD_NOT_FOUND);
    assert_eq!(entries[4], RpcEntry::IgnoredNotification);
    assert_eq!(refusal(&entries[5]).1.code, RpcError::INVALID_PARAMS);
}

#[test]
fn responses_encode_as_json_rpc_2() {
    let result = RpcResponse::result(json!(1), json!("0x7a69"));
    let error = RpcResponse::error(
        json!("x"),
        RpcError::new(RpcError::SERVER_ERROR, "nope").with_code("ours"),
    );
    let null_result = RpcResponse::result(json!(2), Value::Null);
    let decode = |bytes: Vec<u8>| serde_json::from_slice::<Value>(&bytes).expect("JSON");
    assert_eq!(
        decode(encode_body(std::slice::from_ref(&result), false)),
        json!({"jsonrpc": "2.0", "id": 1, "result": "0x7a69"})
    );
    assert_eq!(
        decode(encode_body(std::slice::from_ref(&error), false)),
        json!({"jsonrpc": "2.0", "id": "x", "error": {"code": -32000, "message": "nope", "data": {"code": "ours"}}})
    );
    assert_eq!(
        decode(encode_body(std::slice::from_ref(&null_result), false)),
        json!({"jsonrpc": "2.0", "id": 2, "result": null}),
        "a null result is a result, not a missing one"
    );
    assert_eq!(
        decode(encode_body(&[result.clone(), null_result], true)),
        json!([
            {"jsonrpc": "2.0", "id": 1, "result": "0x7a69"},
            {"jsonrpc": "2.0", "id": 2, "result": null},
        ])
    );
    assert_eq!(
        decode(encode_body(std::slice::from_ref(&result), true)),
        json!([{"jsonrpc": "2.0", "id": 1, "result": "0x7a69"}]),
        "a batch of one is answered with an array"
    );
    assert!(
        encode_body(&[], true).is_empty(),
        "only notifications: an empty body"
    );
    assert!(encode_body(&[], false).is_empty());
    let plain = RpcResponse::error(json!(null), RpcError::parse_error("bad"));
    assert_eq!(
        decode(encode_body(&[plain], false)),
        json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "parse error: bad"}})
    );
}

#[test]
fn block_tags_resolve_against_the_head() {
    for tag in [
        BlockTag::Latest,
        BlockTag::Pending,
        BlockTag::Safe,
        BlockTag::Finalized,
    ] {
        assert_eq!(tag.resolve(42), Some(42), "{tag:?}");
        assert_eq!(tag.require_head(42), Ok(()));
    }
    assert_eq!(BlockTag::Earliest.resolve(42), Some(0));
    assert_eq!(BlockTag::Number(42).resolve(42), Some(42));
    assert_eq!(BlockTag::Number(0).resolve(42), Some(0));
    assert_eq!(BlockTag::Number(43).resolve(42), None);
    assert_eq!(BlockTag::Number(u64::MAX).resolve(u64::MAX), Some(u64::MAX));
    assert_eq!(BlockTag::Number(42).require_head(42), Ok(()));
    assert_eq!(BlockTag::Earliest.require_head(0), Ok(()));
    assert_eq!(
        BlockTag::Earliest.require_head(3),
        Err(RpcError::historical_state(0, 3))
    );
    assert_eq!(
        BlockTag::Number(41).require_head(42),
        Err(RpcError::historical_state(41, 42))
    );
    assert_eq!(
        BlockTag::Number(43).require_head(42),
        Err(RpcError::unknown_block(43))
    );
    let error = RpcError::unknown_block(43);
    assert_eq!(error.code, RpcError::SERVER_ERROR);
    assert!(error.message.starts_with("header not found"), "{error}");
    let error = RpcError::historical_state(41, 42);
    assert!(
        error.message.contains("block 41 is before the head 42"),
        "{error}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_body(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics(text in r#"[\[\]{}",:0-9a-z_ .x-]{0,64}"#) {
        let _ = parse_body(text.as_bytes());
        let wrapped = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":[{text}]}}"#);
        let _ = parse_body(wrapped.as_bytes());
    }

    #[test]
    fn block_numbers_round_trip(number in any::<u64>(), padding in 0usize..4) {
        let text = format!("0x{}{number:x}", "0".repeat(padding));
        let parsed = parse("eth_getBlockByNumber", json!([text, false]));
        prop_assert_eq!(parsed, Ok(RpcRequest::GetBlockByNumber { block: BlockTag::Number(number), full: false }));
        // Our own formatting parses back to the same number.
        let parsed = parse("eth_getBlockByNumber", json!([quantity(number)]));
        prop_assert_eq!(parsed, Ok(RpcRequest::GetBlockByNumber { block: BlockTag::Number(number), full: false }));
    }

    #[test]
    fn addresses_and_values_round_trip(bytes in any::<[u8; 20]>(), limbs in any::<[u64; 4]>(), upper in any::<bool>()) {
        let address = Address(bytes);
        let value = U256::from_limbs(limbs);
        let text = if upper { address.to_string().to_uppercase().replacen("0X", "0x", 1) } else { address.to_string() };
        let parsed = parse("eth_estimateGas", json!([{"to": text, "value": quantity(value)}]));
        let expected = CallRequest { to: Some(address), value: Some(value), ..CallRequest::default() };
        prop_assert_eq!(parsed, Ok(RpcRequest::EstimateGas { call: Box::new(expected) }));
    }

    #[test]
    fn raw_transactions_round_trip(raw in proptest::collection::vec(any::<u8>(), 0..=TX_BYTES_MAX)) {
        let text = data(&raw);
        let body = request("eth_sendRawTransaction", json!([text]));
        prop_assert_eq!(
            entry(body),
            RpcEntry::Call { id: Some(json!(1)), request: RpcRequest::SendRawTransaction { raw } }
        );
    }
}
