//! Every decision of the API layer: statuses, codes, body bounds and shapes.

use super::*;
use crate::codec;
use crate::signature::SecretKey;
use crate::transaction::{Transfer, TxKind, decode};
use crate::{Address, U256};

fn raw_transfer(nonce: u64) -> Vec<u8> {
    let mut bytes = [0u8; 32];
    bytes[31] = 7;
    let key = SecretKey::from_bytes(&bytes).expect("valid key");
    Transfer {
        kind: TxKind::DynamicFee,
        chain_id: 31_337,
        nonce,
        max_fee_per_gas: 2,
        max_priority_fee_per_gas: 1,
        gas_limit: 21_000,
        to: Address([9; 20]),
        value: U256::from(5u64),
    }
    .sign(&key)
    .raw()
    .to_vec()
}

/// A MessagePack batch as a client library would write it: an array of `bin`.
fn batch(raws: &[Vec<u8>]) -> Vec<u8> {
    let elements: Vec<serde_bytes::ByteBuf> = raws
        .iter()
        .cloned()
        .map(serde_bytes::ByteBuf::from)
        .collect();
    codec::encode(&elements)
}

#[test]
fn a_batch_decodes_to_its_raw_transactions_in_order() {
    let raws = vec![raw_transfer(0), raw_transfer(1), vec![0xde, 0xad]];
    let submissions: Vec<Submission> = raws.iter().cloned().map(Submission::raw).collect();
    assert_eq!(decode_batch(&batch(&raws)), Ok(submissions));
    assert_eq!(decode_batch(&batch(&[])), Ok(vec![]));
}

#[test]
fn an_encoded_batch_decodes_to_its_elements() {
    let submissions = vec![
        Submission::raw(raw_transfer(0)),
        Submission::with_key(raw_transfer(1), vec![4u8; 65]),
        Submission::raw(Vec::new()),
        Submission {
            nonce_y: Some(vec![9u8; 32]),
            ..Submission::with_key(raw_transfer(2), vec![4u8; 64])
        },
    ];
    let body = encode_batch(submissions.iter().map(BatchElement::from));
    assert_eq!(decode_batch(&body), Ok(submissions));
    // The lone transaction is a `bin`, the pair a fixarray of two, the triple of three.
    assert_eq!(body[..2], [0x94, 0xc4]);
    assert!(body.windows(2).any(|pair| pair == [0x92, 0xc4]));
    assert!(body.windows(2).any(|pair| pair == [0x93, 0xc4]));
}

#[test]
fn batch_elements_may_pair_a_transaction_with_its_sender_key() {
    let key = vec![4u8; 65];
    // As serde writes a tuple: a fixarray of two `bin`.
    let paired = codec::encode(&(
        serde_bytes::ByteBuf::from(raw_transfer(1)),
        serde_bytes::ByteBuf::from(key.clone()),
    ));
    let mut body = Vec::new();
    rmp::encode::write_array_len(&mut body, 3).expect("write");
    rmp::encode::write_bin(&mut body, &raw_transfer(0)).expect("write");
    body.extend_from_slice(&paired);
    // The same pair with a wider array header than it needs is still a pair.
    body.extend_from_slice(&[0xdc, 0x00, 0x02]);
    body.extend_from_slice(&paired[1..]);
    let pair = Submission::with_key(raw_transfer(1), key);
    assert_eq!(
        decode_batch(&body),
        Ok(vec![Submission::raw(raw_transfer(0)), pair.clone(), pair])
    );
}

#[test]
fn a_batch_over_the_limit_is_refused_from_its_header() {
    // Only the header: the decoder must refuse before reading (or allocating) elements.
    let mut header = Vec::new();
    rmp::encode::write_array_len(&mut header, (BATCH_TXS_MAX + 1) as u32).expect("write");
    let error = decode_batch(&header).expect_err("too many");
    assert_eq!((error.status, error.code), (413, "batch_too_large"));
    let mut header = Vec::new();
    rmp::encode::write_array_len(&mut header, u32::MAX).expect("write");
    assert_eq!(decode_batch(&header).expect_err("too many").status, 413);
}

#[test]
fn a_body_over_the_request_limit_is_refused_before_decoding() {
    let body = vec![0u8; REQUEST_BYTES_MAX + 1];
    let error = decode_batch(&body).expect_err("too large");
    assert_eq!((error.status, error.code), (413, "body_too_large"));
}

#[test]
fn malformed_batches_are_400_never_a_panic() {
    let one = batch(&[raw_transfer(0)]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty body", vec![]),
        ("not an array", codec::encode(&7u8)),
        ("array of strings", codec::encode(&vec!["0x01"])),
        ("truncated element", one[..one.len() - 3].to_vec()),
        ("trailing bytes", [one.clone(), vec![0xc0]].concat()),
        ("JSON instead", br#"["0x01"]"#.to_vec()),
        ("array of two, one present", {
            let mut body = vec![0x92];
            body.extend_from_slice(&one[1..]);
            body
        }),
        ("element of four", {
            let bin = serde_bytes::ByteBuf::from;
            let key = bin(vec![4u8; 65]);
            let element = (
                bin(raw_transfer(0)),
                key,
                bin(vec![0u8; 32]),
                bin(vec![0u8]),
            );
            codec::encode(&[element])
        }),
        (
            "triple cut short",
            vec![0x91, 0x93, 0xc4, 0x01, 0x02, 0xc4, 0x01, 0x04],
        ),
        ("element of one", vec![0x91, 0x91, 0xc4, 0x01, 0x02]),
        ("pair with a string key", {
            let element = (serde_bytes::ByteBuf::from(raw_transfer(0)), "0x04");
            codec::encode(&[element])
        }),
        ("pair cut short", vec![0x91, 0x92, 0xc4, 0x01, 0x02]),
    ];
    for (name, body) in cases {
        let error = decode_batch(&body).expect_err(name);
        assert_eq!(
            (error.status, error.code),
            (400, "malformed_body"),
            "{name}"
        );
    }
}

#[test]
fn a_single_transaction_decodes_from_json() {
    let raw = raw_transfer(3);
    let body = serde_json::to_vec(&SingleTxRequest {
        raw: crate::primitives::to_hex(&raw),
        sender_key: None,
        nonce_y: None,
    })
    .expect("json");
    assert_eq!(decode_single(&body), Ok(Submission::raw(raw)));
}

#[test]
fn a_single_transaction_may_name_its_sender_key() {
    let raw = raw_transfer(3);
    let key = vec![4u8; 65];
    let body = serde_json::to_vec(&SingleTxRequest {
        raw: crate::primitives::to_hex(&raw),
        sender_key: Some(crate::primitives::to_hex(&key)),
        nonce_y: None,
    })
    .expect("json");
    let expected = Submission::with_key(raw.clone(), key.clone());
    assert_eq!(decode_single(&body), Ok(expected.clone()));
    // And the nonce y.
    let body = serde_json::to_vec(&SingleTxRequest {
        raw: crate::primitives::to_hex(&raw),
        sender_key: Some(crate::primitives::to_hex(&key)),
        nonce_y: Some(crate::primitives::to_hex([7u8; 32])),
    })
    .expect("json");
    let with_nonce_y = Submission {
        nonce_y: Some(vec![7u8; 32]),
        ..expected
    };
    assert_eq!(decode_single(&body), Ok(with_nonce_y));
    let bad_hex = br#"{"raw":"0x00","nonce_y":"0xzz"}"#;
    let error = decode_single(bad_hex).expect_err("not hex");
    assert_eq!((error.status, error.code), (400, "malformed_hex"));
    assert!(error.message.starts_with("nonce y: "), "{error:?}");
    // The largest transaction with the longest key fits the body limit.
    let largest = format!(
        r#"{{"raw":"0x{}","sender_key":"0x{}"}}"#,
        "00".repeat(crate::limits::TX_BYTES_MAX),
        "04".repeat(crate::signature::PublicKey::PARSED_BYTES_MAX)
    );
    assert!(decode_single(largest.as_bytes()).is_ok());
}

#[test]
fn bad_single_transaction_bodies_get_their_codes() {
    let cases: [(&str, &[u8], u16, &str); 9] = [
        ("not JSON", b"raw=0x01", 400, "malformed_json"),
        ("missing field", br#"{}"#, 400, "malformed_json"),
        (
            "unknown field",
            br#"{"raw":"0x01","extra":1}"#,
            400,
            "malformed_json",
        ),
        ("wrong type", br#"{"raw":1}"#, 400, "malformed_json"),
        ("no 0x", br#"{"raw":"01"}"#, 400, "malformed_hex"),
        ("odd digits", br#"{"raw":"0x012"}"#, 400, "malformed_hex"),
        (
            "key of the wrong type",
            br#"{"raw":"0x01","sender_key":4}"#,
            400,
            "malformed_json",
        ),
        (
            "key without 0x",
            br#"{"raw":"0x01","sender_key":"04"}"#,
            400,
            "malformed_hex",
        ),
        (
            "key with a bad digit",
            br#"{"raw":"0x01","sender_key":"0x0g"}"#,
            400,
            "malformed_hex",
        ),
    ];
    for (name, body, status, code) in cases {
        let error = decode_single(body).expect_err(name);
        assert_eq!((error.status, error.code), (status, code), "{name}");
    }
    let huge = format!(r#"{{"raw":"0x{}"}}"#, "00".repeat(SINGLE_TX_BODY_BYTES_MAX));
    let error = decode_single(huge.as_bytes()).expect_err("too large");
    assert_eq!((error.status, error.code), (413, "body_too_large"));
}

#[test]
fn the_error_body_has_the_documented_shape() {
    let error = ApiError::not_found("no block at height 9");
    let json: serde_json::Value =
        serde_json::from_slice(&Format::Json.encode(&error.body())).expect("json");
    assert_eq!(
        json,
        serde_json::json!({"error": {"code": "not_found", "message": "no block at height 9"}})
    );
    let packed = Format::MessagePack.encode(&error.body());
    let decoded: ErrorBody = rmp_serde::from_slice(&packed).expect("msgpack");
    assert_eq!(decoded, error.body());
    assert_eq!(ApiError::method_not_allowed("PUT", "GET").status, 405);
}

#[test]
fn transaction_rejections_are_422_except_oversize() {
    let wrong_chain = decode(&raw_transfer(0), 1).expect_err("wrong chain");
    let error = ApiError::from(&wrong_chain);
    assert_eq!((error.status, error.code), (422, "wrong_chain_id"));
    let oversize = decode(&vec![0u8; TX_BYTES_MAX + 1], 31_337).expect_err("too large");
    assert_eq!(ApiError::from(&oversize).status, 413);
}

#[test]
fn capacity_refusals_are_retryable_statuses() {
    let statuses = [
        (AdmissionRejection::SenderQueueFull { limit: 1 }, 429),
        (AdmissionRejection::MempoolFull { limit: 1 }, 503),
        (
            AdmissionRejection::NonceTooLow {
                expected: 2,
                got: 1,
            },
            422,
        ),
        (AdmissionRejection::NonceAlreadyPending { nonce: 1 }, 422),
        (
            AdmissionRejection::FeeTooLow {
                offered: 1,
                base_fee: 2,
            },
            422,
        ),
        (
            AdmissionRejection::NonceTooFarAhead {
                expected: 0,
                got: 10_000,
                gap_max: 4_096,
            },
            422,
        ),
    ];
    for (rejection, status) in statuses {
        let error = ApiError::from(&rejection);
        assert_eq!(error.status, status, "{rejection}");
        assert_eq!(error.code, rejection.code());
        // Capacity refusals are exactly the retryable statuses.
        assert_eq!(rejection.is_capacity(), status != 422, "{rejection}");
    }
}

#[test]
fn codec_errors_map_to_400_and_413() {
    let too_large = CodecError::TooLarge { got: 10, limit: 5 };
    assert_eq!(ApiError::from(too_large).status, 413);
    assert_eq!(ApiError::from(CodecError::TrailingBytes(1)).status, 400);
    assert_eq!(
        ApiError::from(CodecError::NotCanonical).code,
        "malformed_body"
    );
}

#[test]
fn content_negotiation() {
    assert_eq!(Format::from_accept(None), Format::Json);
    assert_eq!(Format::from_accept(Some("application/json")), Format::Json);
    assert_eq!(Format::from_accept(Some("*/*")), Format::Json);
    assert_eq!(
        Format::from_accept(Some("application/msgpack")),
        Format::MessagePack
    );
    assert_eq!(
        Format::from_accept(Some("text/html, Application/MsgPack;q=0.9")),
        Format::MessagePack
    );
    assert_eq!(
        Format::from_accept(Some("application/x-msgpack")),
        Format::MessagePack
    );
    assert_eq!(Format::MessagePack.content_type(), MSGPACK_CONTENT_TYPE);

    assert_eq!(
        check_content_type(Some("application/json; charset=utf-8"), JSON_CONTENT_TYPE),
        Ok(())
    );
    for wrong in [None, Some("text/plain"), Some("application/jsonx")] {
        let error = check_content_type(wrong, JSON_CONTENT_TYPE).expect_err("wrong type");
        assert_eq!((error.status, error.code), (415, "unsupported_media_type"));
    }
}

#[test]
fn submission_results_carry_the_ethereum_hash_and_the_reason() {
    let raw = raw_transfer(0);
    let verified = decode(&raw, 31_337)
        .expect("valid")
        .recover()
        .expect("recovers");
    let accepted = SubmissionResult::admitted(verified.hash(), &Admission::Accepted);
    assert_eq!(accepted.hash, keccak256(&raw));
    let json = serde_json::to_value(&accepted).expect("json");
    assert_eq!(json["status"], "accepted");
    assert!(
        json.get("reason").is_none(),
        "no reason for an accepted transaction"
    );

    let rejected = SubmissionResult::admitted(
        verified.hash(),
        &Admission::Rejected(AdmissionRejection::NonceTooLow {
            expected: 5,
            got: 0,
        }),
    );
    assert_eq!(rejected.status, SubmissionStatus::Rejected);
    assert_eq!(
        rejected.reason.as_ref().map(|reason| reason.code.as_str()),
        Some("nonce_too_low")
    );

    let garbage = [0xf8, 0x01];
    let refused =
        SubmissionResult::refused(&garbage, &decode(&garbage, 31_337).expect_err("malformed"));
    assert_eq!(refused.hash, keccak256(garbage));
    assert_eq!(
        refused.reason.map(|reason| reason.code),
        Some("malformed".to_owned())
    );
    let round_trip: SubmissionResult =
        serde_json::from_value(json).expect("results decode as clients read them");
    assert_eq!(round_trip, accepted);
}

mod routing {
    use super::super::*;
    use crate::Address;
    use crate::limits::BLOCK_WAIT_MS_MAX;

    const ADDRESS: &str = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
    const HASH: &str = "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470";

    #[test]
    fn every_endpoint_is_recognised() {
        let address: Address = ADDRESS.parse().expect("address");
        let hash: Hash = HASH.parse().expect("hash");
        let cases = [
            ("POST", "/v1/txs", None, Route::SubmitBatch),
            ("POST", "/v1/tx", None, Route::SubmitOne),
            (
                "GET",
                &format!("/v1/txs/{HASH}"),
                None,
                Route::Transaction(hash),
            ),
            (
                "GET",
                &format!("/v1/accounts/{ADDRESS}"),
                None,
                Route::Account {
                    address,
                    proof: false,
                },
            ),
            (
                "GET",
                &format!("/v1/accounts/{ADDRESS}"),
                Some("proof=true"),
                Route::Account {
                    address,
                    proof: true,
                },
            ),
            (
                "GET",
                "/v1/blocks/latest",
                None,
                Route::Block(BlockSelector::Latest),
            ),
            (
                "GET",
                "/v1/blocks/0",
                None,
                Route::Block(BlockSelector::Height(0)),
            ),
            (
                "GET",
                "/v1/blocks/18446744073709551615",
                None,
                Route::Block(BlockSelector::Height(u64::MAX)),
            ),
            (
                "GET",
                &format!("/v1/blocks/{HASH}"),
                None,
                Route::Block(BlockSelector::Hash(hash)),
            ),
            ("GET", "/v1/status", None, Route::Status),
            ("GET", "/v1/status/", None, Route::Status),
            ("get", "/v1/status", None, Route::Status),
        ];
        for (method, path, query, expected) in cases {
            assert_eq!(route(method, path, query), Ok(expected), "{method} {path}");
        }
    }

    #[test]
    fn unknown_paths_are_404_and_wrong_methods_405() {
        // (`/` is the JSON-RPC endpoint: GET there is a 405.)
        for path in [
            "/v2/status",
            "/v1",
            "/v1/txs/a/b",
            "/v1/accountz/0x00",
            "/internal/apply",
        ] {
            let error = route("GET", path, None).expect_err(path);
            assert_eq!((error.status, error.code), (404, "not_found"), "{path}");
        }
        let cases = [
            ("GET", "/v1/txs"),
            ("PUT", "/v1/tx"),
            ("POST", "/v1/status"),
            ("DELETE", "/v1/txs/garbage"),
        ];
        for (method, path) in cases {
            let error = route(method, path, None).expect_err(path);
            assert_eq!(
                (error.status, error.code),
                (405, "method_not_allowed"),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn malformed_identifiers_are_precise_400s() {
        let cases = [
            ("/v1/txs/0x1234", "invalid_hash"),
            ("/v1/txs/zz", "invalid_hash"),
            ("/v1/accounts/0xf39f", "invalid_address"),
            (
                "/v1/accounts/f39fd6e51aad88f6f4ce6ab8827279cfffb92266",
                "invalid_address",
            ),
            ("/v1/blocks/01", "invalid_block_id"),
            ("/v1/blocks/+1", "invalid_block_id"),
            ("/v1/blocks/-1", "invalid_block_id"),
            ("/v1/blocks/18446744073709551616", "invalid_block_id"),
            ("/v1/blocks/latest1", "invalid_block_id"),
            ("/v1/blocks/0x12", "invalid_hash"),
        ];
        for (path, code) in cases {
            let error = route("GET", path, None).expect_err(path);
            assert_eq!((error.status, error.code), (400, code), "{path}");
        }
        let error = route("GET", &format!("/v1/accounts/{ADDRESS}"), Some("proof=yes"))
            .expect_err("bad flag");
        assert_eq!((error.status, error.code), (400, "invalid_query"));
    }

    #[test]
    fn a_block_by_height_may_be_waited_for_up_to_the_limit() {
        let wait = |query: &str| route("GET", "/v1/blocks/12", Some(query));
        assert_eq!(
            wait("wait_ms=2500"),
            Ok(Route::AwaitBlock {
                height: 12,
                wait_ms: 2_500
            })
        );
        let limit = format!("wait_ms={BLOCK_WAIT_MS_MAX}");
        assert_eq!(
            wait(&limit),
            Ok(Route::AwaitBlock {
                height: 12,
                wait_ms: BLOCK_WAIT_MS_MAX
            })
        );
        assert_eq!(
            route("GET", "/v1/blocks/12", Some("")),
            Ok(Route::Block(BlockSelector::Height(12)))
        );
        let over = format!("wait_ms={}", BLOCK_WAIT_MS_MAX + 1);
        for query in [
            over.as_str(),
            "wait_ms=",
            "wait_ms=-1",
            "wait_ms=1e3",
            "wait=100",
            "wait_ms=100&x=1",
        ] {
            let error = wait(query).expect_err(query);
            assert_eq!(
                (error.status, error.code),
                (400, "invalid_query"),
                "{query}"
            );
        }
        for block in ["latest".to_owned(), HASH.to_owned()] {
            let error = route("GET", &format!("/v1/blocks/{block}"), Some("wait_ms=100"))
                .expect_err("only a height is waited for");
            assert_eq!(
                (error.status, error.code),
                (400, "invalid_query"),
                "{block}"
            );
        }
    }

    #[test]
    fn metrics_are_served_by_get_only_and_without_the_v1_prefix() {
        assert_eq!(route("GET", "/metrics", None), Ok(Route::Metrics));
        assert_eq!(route("GET", "/metrics/", None), Ok(Route::Metrics));
        // Scrapers may add parameters (Prometheus' `params`); they change nothing.
        assert_eq!(route("GET", "/metrics", Some("x=1")), Ok(Route::Metrics));
        for method in ["POST", "PUT", "DELETE"] {
            let error = route(method, "/metrics", None).expect_err(method);
            assert_eq!(
                (error.status, error.code),
                (405, "method_not_allowed"),
                "{method}"
            );
        }
        for path in ["/v1/metrics", "/metrics/sequencer"] {
            let error = route("GET", path, None).expect_err(path);
            assert_eq!((error.status, error.code), (404, "not_found"), "{path}");
        }
    }

    #[test]
    fn the_dashboard_is_served_by_get_only() {
        let page = Ok(Route::DashboardPage);
        assert_eq!(route("GET", "/dashboard", None), page);
        assert_eq!(route("GET", "/dashboard/", None), page);
        assert_eq!(route("get", "/dashboard", Some("x=1")), page);
        assert_eq!(
            route("GET", "/dashboard/app.js", None),
            Ok(Route::DashboardScript)
        );
        assert_eq!(
            route("GET", "/dashboard/app.css", None),
            Ok(Route::DashboardStyle)
        );
        for method in ["POST", "PUT", "DELETE"] {
            for path in ["/dashboard", "/dashboard/app.js", "/dashboard/app.css"] {
                let error = route(method, path, None).expect_err(method);
                assert_eq!(
                    (error.status, error.code),
                    (405, "method_not_allowed"),
                    "{method} {path}"
                );
            }
        }
        for path in [
            "/v1/dashboard",
            "/dashboard/index.html",
            "/dashboard/app.js/x",
        ] {
            let error = route("GET", path, None).expect_err(path);
            assert_eq!((error.status, error.code), (404, "not_found"), "{path}");
        }
    }
}

mod answers {
    use super::super::*;
    use crate::block::Receipt;
    use crate::consensus::ValidatorSet;
    use crate::genesis::{ChainConfig, Genesis, GenesisAccount};
    use crate::in_memory::InMemoryShards;
    use crate::signature::SecretKey;
    use crate::trie::top_path;
    use crate::{Account, Address, ShardLayout, U256};

    fn key(seed: u8) -> SecretKey {
        let mut bytes = [0u8; 32];
        bytes[0] = seed;
        bytes[31] = 1;
        SecretKey::from_bytes(&bytes).expect("valid key")
    }

    #[test]
    fn transaction_status_has_the_documented_json_shape_and_round_trips() {
        let hash = Hash([1; 32]);
        let receipt = Receipt {
            tx_hash: hash,
            index: 2,
            sender: Address([3; 20]),
            to: Address([4; 20]),
            nonce: 5,
            value: U256::from(6u64),
            gas_used: 21_000,
            effective_gas_price: 7,
            fee: U256::from(147_000u64),
        };
        let answers = [
            TxStatusAnswer::pending(hash),
            TxStatusAnswer::committed(9, Hash([8; 32]), receipt),
            TxStatusAnswer::rejected(
                hash,
                Reason {
                    code: "nonce_too_low".into(),
                    message: "m".into(),
                },
            ),
            TxStatusAnswer::unknown(hash),
        ];
        for answer in answers {
            let json = serde_json::to_value(&answer).expect("json");
            assert_eq!(json["hash"], hash.to_string());
            let decoded: TxStatusAnswer = serde_json::from_value(json).expect("decode");
            assert_eq!(decoded, answer);
            let packed = Format::MessagePack.encode(&answer);
            let decoded: TxStatusAnswer = rmp_serde::from_slice(&packed).expect("msgpack");
            assert_eq!(decoded, answer);
        }
        assert_eq!(
            serde_json::to_value(TxStatusAnswer::pending(hash)).expect("json"),
            serde_json::json!({"hash": hash.to_string(), "status": "pending"})
        );
        let committed = serde_json::to_value(TxStatusAnswer::committed(9, Hash([8; 32]), receipt))
            .expect("json");
        assert_eq!(committed["status"], "committed");
        assert_eq!(
            (committed["height"].clone(), committed["index"].clone()),
            (9.into(), 2.into())
        );
        assert_eq!(committed["receipt"]["gas_used"], 21_000);
    }

    /// A one-validator chain whose block 1 keeps the genesis state: enough to certify a header.
    #[test]
    fn a_certified_account_proof_verifies_end_to_end_and_refuses_forgeries() {
        let validator = key(1);
        let validators = ValidatorSet::new(vec![validator.public_key()]).expect("set");
        let rich = key(2).address();
        let genesis = Genesis {
            config: ChainConfig {
                chain_id: 77,
                shard_bits: ShardLayout::new(2).expect("layout"),
                validators: validators.clone(),
                proposer: key(3).address(),
                fee_recipient: key(4).address(),
                base_fee_per_gas: 0,
                batch_window_ms: 10,
            },
            timestamp_ms: 1,
            accounts: vec![GenesisAccount {
                address: rich,
                balance: U256::from(1_000u64),
            }],
        };
        let shards = InMemoryShards::from_genesis(&genesis).expect("shards");
        let (header, certificate) =
            crate::in_memory::certified_block_one(&genesis, &[validator]).expect("certified");
        let prove = |address: &Address| {
            let shard = shards.layout().shard_of(address);
            let proof = shards.shard(shard).prove(address).expect("proof");
            CertifiedAccountProof {
                header,
                certificate: certificate.clone(),
                proof: proof.with_top_path(top_path(&shards.roots(), shard)),
            }
        };

        let answer = prove(&rich);
        assert_eq!(
            answer.verify(&validators, 77, &rich),
            Ok(Some(Account::with_balance(U256::from(1_000u64))))
        );
        let stranger = key(9).address();
        assert_eq!(
            prove(&stranger).verify(&validators, 77, &stranger),
            Ok(None)
        );

        // A proof cannot claim another balance for the account.
        let mut inflated = answer.clone();
        inflated.proof.terminal = crate::trie::ProofTerminal::Leaf {
            address: rich,
            account: Account::with_balance(U256::from(1_000_000u64)),
        };
        assert!(matches!(
            inflated.verify(&validators, 77, &rich),
            Err(CertifiedProofError::Proof(_))
        ));
        // Another chain id, another validator set, or a header the votes did not sign.
        assert!(matches!(
            answer.verify(&validators, 78, &rich),
            Err(CertifiedProofError::Certificate(_))
        ));
        let others = ValidatorSet::new(vec![key(5).public_key()]).expect("set");
        assert!(matches!(
            answer.verify(&others, 77, &rich),
            Err(CertifiedProofError::Certificate(_))
        ));
        let mut forged = answer.clone();
        forged.header.state_root = Hash([0xee; 32]);
        assert!(matches!(
            forged.verify(&validators, 77, &rich),
            Err(CertifiedProofError::Certificate(_))
        ));

        // It survives the JSON a client receives.
        let json = Format::Json.encode(&AccountAnswer {
            address: rich,
            nonce: 0,
            balance: U256::from(1_000u64),
            pending_nonce: 0,
            proof: Some(answer.clone()),
        });
        let received: AccountAnswer = serde_json::from_slice(&json).expect("json");
        let proof = received.proof.expect("proof included");
        assert_eq!(
            proof.verify(&validators, 77, &rich),
            Ok(Some(Account::with_balance(U256::from(1_000u64))))
        );
    }
}

#[test]
fn admin_routes_need_post_and_a_valid_validator_index() {
    assert_eq!(
        route("POST", "/v1/admin/pause", None),
        Ok(Route::Admin(AdminRoute::Pause))
    );
    assert_eq!(
        route("POST", "/v1/admin/resume", None),
        Ok(Route::Admin(AdminRoute::Resume))
    );
    assert_eq!(
        route("POST", "/v1/admin/validators/3/fault", None),
        Ok(Route::Admin(AdminRoute::ValidatorFault(3)))
    );
    let error = route("GET", "/v1/admin/pause", None).expect_err("GET refused");
    assert_eq!((error.status, error.code), (405, "method_not_allowed"));
    for index in ["64", "01", "-1", "x", ""] {
        let path = format!("/v1/admin/validators/{index}/fault");
        let error = route("POST", &path, None).expect_err("bad index refused");
        assert_eq!(
            (error.status, error.code),
            (400, "invalid_validator"),
            "{path}"
        );
    }
}

#[test]
fn json_rpc_is_served_on_the_root_and_on_rpc_by_post_only() {
    assert_eq!(route("POST", "/", None), Ok(Route::JsonRpc));
    assert_eq!(route("POST", "/rpc", None), Ok(Route::JsonRpc));
    assert_eq!(route("POST", "/rpc/", None), Ok(Route::JsonRpc));
    for path in ["/", "/rpc"] {
        let error = route("GET", path, None).expect_err("GET refused");
        assert_eq!(
            (error.status, error.code),
            (405, "method_not_allowed"),
            "{path}"
        );
    }
}

#[test]
fn backup_admin_routes_have_their_methods() {
    let admin = |method: &str, path: &str| route(method, path, None);
    assert_eq!(
        admin("POST", "/v1/admin/archive/run"),
        Ok(Route::Admin(AdminRoute::ArchiveRun))
    );
    assert_eq!(
        admin("POST", "/v1/admin/backups"),
        Ok(Route::Admin(AdminRoute::Backup))
    );
    assert_eq!(
        admin("GET", "/v1/admin/backups"),
        Ok(Route::Admin(AdminRoute::Backups))
    );
    assert_eq!(
        admin("POST", "/v1/admin/restore"),
        Ok(Route::Admin(AdminRoute::Restore))
    );
    for (method, path) in [
        ("GET", "/v1/admin/restore"),
        ("GET", "/v1/admin/archive/run"),
        ("DELETE", "/v1/admin/backups"),
    ] {
        let error = admin(method, path).expect_err("wrong method");
        assert_eq!(error.status, 405, "{method} {path}");
    }
}

#[test]
fn the_admin_token_must_be_presented_exactly() {
    let token = "s3cret-token";
    assert_eq!(
        check_admin_token(Some("Bearer s3cret-token"), token),
        Ok(())
    );
    for presented in [
        None,
        Some("s3cret-token"),
        Some("Bearer s3cret-tokeN"),
        Some("Bearer s3cret-token "),
        Some("Bearer "),
        Some("bearer s3cret-token"),
    ] {
        let error = check_admin_token(presented, token).expect_err("refused");
        assert_eq!(
            (error.status, error.code),
            (401, "unauthorized"),
            "{presented:?}"
        );
    }
    // An unset (empty) token never matches, not even an empty presentation.
    assert!(check_admin_token(Some("Bearer "), "").is_err());
}

mod account_answers {
    use super::*;
    use crate::consensus::{QuorumCertificate, ValidatorSet};
    use crate::genesis::{ChainConfig, Genesis, GenesisAccount};
    use crate::in_memory::InMemoryShards;
    use crate::state::ShardLayout;
    use crate::wire::{AccountContext, ShardAccount};

    fn address(first: u8) -> Address {
        let mut bytes = [first; 20];
        bytes[19] = 1;
        Address(bytes)
    }

    fn world() -> (Genesis, InMemoryShards) {
        let mut secret = [0u8; 32];
        secret[31] = 1;
        let key = SecretKey::from_bytes(&secret).expect("valid key");
        let genesis = Genesis {
            config: ChainConfig {
                chain_id: 31_337,
                shard_bits: ShardLayout::new(2).expect("valid layout"),
                validators: ValidatorSet::new(vec![key.public_key()]).expect("valid set"),
                proposer: address(0x11),
                fee_recipient: address(0x22),
                base_fee_per_gas: 0,
                batch_window_ms: 20,
            },
            timestamp_ms: 1_700_000_000_000,
            accounts: [0x01, 0x45, 0x80, 0xc0]
                .into_iter()
                .map(|first| GenesisAccount {
                    address: address(first),
                    balance: U256::from(u64::from(first) * 1_000),
                })
                .collect(),
        };
        let shards = InMemoryShards::from_genesis(&genesis).expect("genesis builds");
        (genesis, shards)
    }

    fn parts(
        genesis: &Genesis,
        shards: &InMemoryShards,
        account: Address,
    ) -> (ShardAccount, AccountContext) {
        let index = genesis.config.layout().shard_of(&account);
        let shard = shards.shard(index);
        let shard_account = ShardAccount {
            meta: *shard.meta(),
            account: shard.account(&account).expect("in shard"),
            proof: Some(shard.prove(&account).expect("provable")),
        };
        let context = AccountContext {
            pending_nonce: 4,
            header: genesis.header().expect("header"),
            certificate: QuorumCertificate::genesis(),
            shard_roots: shards.roots(),
        };
        (shard_account, context)
    }

    #[test]
    fn an_assembled_proof_verifies_against_the_certified_state_root() {
        let (genesis, shards) = world();
        for account in [address(0x45), address(0x46)] {
            let (shard, context) = parts(&genesis, &shards, account);
            let state_root = context.header.state_root;
            let answer = AccountAnswer::assemble(account, shard, context).expect("assembles");
            let proven = answer
                .proof
                .expect("proof asked for")
                .proof
                .verify(&state_root, &account)
                .expect("verifies against the state root");
            let expected = shards.account(&account).expect("readable");
            assert_eq!(proven.unwrap_or_default(), expected);
            assert_eq!(
                (answer.nonce, answer.balance),
                (expected.nonce, expected.balance)
            );
            assert_eq!(answer.pending_nonce, 4);
        }
    }

    #[test]
    fn a_shard_and_header_of_different_heights_are_refused_as_moving() {
        let (genesis, shards) = world();
        let (shard, mut context) = parts(&genesis, &shards, address(0x80));
        context.header.height = 1;
        let error = AccountAnswer::assemble(address(0x80), shard.clone(), context.clone())
            .expect_err("heights differ");
        assert_eq!((error.status, error.code), (503, "state_moving"));
        context.header.height = 0;
        context.shard_roots[usize::from(shard.meta.shard)] = crate::primitives::Hash([9; 32]);
        let error =
            AccountAnswer::assemble(address(0x80), shard, context).expect_err("roots differ");
        assert_eq!((error.status, error.code), (503, "state_moving"));
    }
}

#[test]
fn a_refused_single_submission_gets_the_status_of_its_refusal() {
    use crate::mempool::AdmissionRejection;
    let hash = crate::primitives::Hash([1; 32]);
    let capacity = [
        (AdmissionRejection::SenderQueueFull { limit: 1 }, 429),
        (AdmissionRejection::MempoolFull { limit: 1 }, 503),
        (
            AdmissionRejection::NonceTooLow {
                expected: 2,
                got: 1,
            },
            422,
        ),
    ];
    for (rejection, status) in capacity {
        let result = SubmissionResult::admitted(hash, &Admission::Rejected(rejection));
        assert_eq!(result.refusal_status(), status, "{rejection:?}");
        assert_eq!(result.refusal_status(), ApiError::from(&rejection).status);
    }
    let too_large = TxRejection::TooLarge {
        got: 600,
        limit: 512,
    };
    let refused = SubmissionResult::refused(&[0; 600], &too_large);
    assert_eq!(refused.refusal_status(), ApiError::from(&too_large).status);
}
