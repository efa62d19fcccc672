//! Formatting: quantities, and the block, transaction and receipt objects of a real block of
//! signed transfers (executed as the chain executes it), fee history, the calls that need no
//! chain data, and transaction refusals in Ethereum's words.
#![allow(
    clippy::panic,
    reason = "a test reports an unexpected shape by panicking"
)]

use proptest::prelude::*;
use serde_bytes::ByteBuf;
use serde_json::{Value, json};

use super::*;
use crate::api::Reason;
use crate::block::{BlockFormat, CertifiedBlock, Header};
use crate::consensus::tests::certify;
use crate::execution::tests::{BASE_FEE, CHAIN_ID, World, default_config, key, validator_keys};
use crate::execution::{Exclusion, execute};
use crate::genesis::ChainConfig;
use crate::mempool::AdmissionRejection;
use crate::primitives::{Address, Hash, U256, keccak256};
use crate::signature::SecretKey;
use crate::transaction::{SignedTransfer, TRANSFER_GAS, Transfer, TxKind, TxRejection};

const TIMESTAMP_MS: u64 = 1_700_000_123_456;

/// A transfer of each envelope from three senders, each its own sender's first transaction.
fn transfers() -> Vec<(SecretKey, Transfer)> {
    let to = Address([0x44; 20]);
    let common = Transfer {
        kind: TxKind::Legacy,
        chain_id: CHAIN_ID,
        nonce: 0,
        max_fee_per_gas: 3 * BASE_FEE,
        max_priority_fee_per_gas: 3 * BASE_FEE,
        gas_limit: 30_000,
        to,
        value: U256::from(1_000u64),
    };
    vec![
        (key(1), common),
        (
            key(2),
            Transfer {
                kind: TxKind::AccessList,
                value: U256::from(2_000u64),
                ..common
            },
        ),
        (
            key(3),
            Transfer {
                kind: TxKind::DynamicFee,
                max_fee_per_gas: 2 * BASE_FEE,
                max_priority_fee_per_gas: 1,
                gas_limit: TRANSFER_GAS,
                value: U256::from(3_000u64),
                ..common
            },
        ),
    ]
}

/// Block 1 of a chain where the three senders are funded, executed and certified.
fn block_of_transfers(config: &ChainConfig) -> (CertifiedBlock, Vec<SignedTransfer>) {
    let signed: Vec<SignedTransfer> = transfers()
        .iter()
        .map(|(key, transfer)| transfer.sign(key))
        .collect();
    let verified: Vec<_> = signed
        .iter()
        .map(|tx| tx.clone().recover().expect("own signature recovers"))
        .collect();
    let world = transfers()
        .iter()
        .fold(World::new(config.layout()), |world, (key, _)| {
            world.with(key.address(), 0, 10_000_000)
        });
    let witness = world.witness_for(config, &verified);
    let execution = execute(
        config,
        &world.state_root(),
        1,
        BlockFormat::PROPOSED,
        &verified,
        witness,
    )
    .expect("executes");
    assert_eq!(
        execution.included,
        vec![0, 1, 2],
        "every transfer is included"
    );
    let header = Header {
        chain_id: CHAIN_ID,
        height: 1,
        parent_hash: keccak256(b"genesis"),
        timestamp_ms: TIMESTAMP_MS,
        state_root: execution.state_root,
        transactions_root: execution.transactions_root,
        receipts_root: execution.receipts_root,
        validator_set_hash: config.validators.hash(),
        proposer: config.proposer,
        format: execution.format,
    };
    let block = CertifiedBlock {
        certificate: certify(&validator_keys(), &config.validators, &header, 3),
        header,
        transactions: signed
            .iter()
            .map(|tx| ByteBuf::from(tx.raw().to_vec()))
            .collect(),
        receipts: execution.receipts,
    };
    assert_eq!(block.check_consistency(), Ok(()));
    (block, signed)
}

fn field<'v>(object: &'v Value, name: &str) -> &'v Value {
    object
        .get(name)
        .unwrap_or_else(|| panic!("no field {name} in {object}"))
}

fn hex(value: &str) -> Value {
    Value::String(value.to_owned())
}

#[test]
fn quantities_have_no_leading_zeros() {
    assert_eq!(quantity(0u64), hex("0x0"));
    assert_eq!(quantity(1u8), hex("0x1"));
    assert_eq!(quantity(15u32), hex("0xf"));
    assert_eq!(quantity(16u64), hex("0x10"));
    assert_eq!(quantity(255usize), hex("0xff"));
    assert_eq!(quantity(1_000_000_000u128), hex("0x3b9aca00"));
    assert_eq!(quantity(u64::MAX), hex("0xffffffffffffffff"));
    assert_eq!(
        quantity(u128::MAX),
        Value::String(format!("0x{}", "f".repeat(32)))
    );
    assert_eq!(quantity(U256::ZERO), hex("0x0"));
    assert_eq!(
        quantity(U256::from(1u64) << 200),
        Value::String(format!("0x1{}", "0".repeat(50)))
    );
    assert_eq!(
        quantity(U256::MAX),
        Value::String(format!("0x{}", "f".repeat(64)))
    );
}

#[test]
fn the_gas_price_is_the_base_fee_plus_the_suggested_tip() {
    assert_eq!(gas_price(0), quantity(SUGGESTED_PRIORITY_FEE_PER_GAS));
    assert_eq!(gas_price(7), quantity(SUGGESTED_PRIORITY_FEE_PER_GAS + 7));
    assert_eq!(gas_price(u128::MAX), quantity(u128::MAX));
}

#[test]
fn data_is_two_digits_per_byte() {
    assert_eq!(data([]), hex("0x"));
    assert_eq!(data([0u8]), hex("0x00"));
    assert_eq!(data([0x0a, 0xbc]), hex("0x0abc"));
    assert_eq!(code(), hex("0x"));
    assert_eq!(
        data(Address([0xab; 20])),
        Value::String(format!("0x{}", "ab".repeat(20)))
    );
}

#[test]
fn a_block_object_has_every_field_clients_need() {
    let config = default_config();
    let (block, signed) = block_of_transfers(&config);
    let object = block_object(&block, false, &config);
    let zero_hash = data(Hash::ZERO);
    assert_eq!(field(&object, "number"), &hex("0x1"));
    assert_eq!(field(&object, "hash"), &data(block.hash()));
    assert_eq!(field(&object, "parentHash"), &data(keccak256(b"genesis")));
    assert_eq!(field(&object, "nonce"), &hex("0x0000000000000000"));
    assert_eq!(
        field(&object, "sha3Uncles"),
        &data(keccak256([0xc0])),
        "keccak of rlp([])"
    );
    assert_eq!(field(&object, "logsBloom"), &data([0u8; 256]));
    assert_eq!(
        field(&object, "transactionsRoot"),
        &data(block.header.transactions_root)
    );
    assert_eq!(field(&object, "stateRoot"), &data(block.header.state_root));
    assert_eq!(
        field(&object, "receiptsRoot"),
        &data(block.header.receipts_root)
    );
    assert_eq!(field(&object, "miner"), &data(config.proposer));
    assert_eq!(field(&object, "difficulty"), &hex("0x0"));
    assert_eq!(field(&object, "totalDifficulty"), &hex("0x0"));
    assert_eq!(field(&object, "extraData"), &hex("0x"));
    assert_eq!(field(&object, "size"), &quantity(block.encode().len()));
    assert_eq!(field(&object, "gasLimit"), &quantity(4_096u64 * 21_000));
    assert_eq!(field(&object, "gasUsed"), &quantity(3u64 * 21_000));
    assert_eq!(field(&object, "timestamp"), &quantity(TIMESTAMP_MS / 1000));
    assert_eq!(field(&object, "baseFeePerGas"), &quantity(BASE_FEE));
    assert_eq!(field(&object, "mixHash"), &zero_hash);
    assert_eq!(field(&object, "uncles"), &json!([]));
    let hashes: Vec<Value> = signed.iter().map(|tx| data(tx.hash())).collect();
    assert_eq!(
        field(&object, "transactions"),
        &Value::Array(hashes.clone())
    );

    let full = block_object(&block, true, &config);
    let Some(transactions) = field(&full, "transactions").as_array() else {
        panic!("transactions are an array");
    };
    assert_eq!(transactions.len(), 3);
    for (index, (transaction, signed)) in transactions.iter().zip(&signed).enumerate() {
        let location = TxLocation {
            block_hash: block.hash(),
            block_number: 1,
            index: index as u32,
        };
        let sender = signed.clone().recover().expect("recovers").sender;
        let expected = transaction_object(signed.raw(), CHAIN_ID, sender, Some(location), BASE_FEE)
            .expect("decodes");
        assert_eq!(transaction, &expected, "transaction {index}");
        assert_eq!(field(transaction, "hash"), &hashes[index]);
        assert_eq!(field(transaction, "from"), &data(sender));
    }
    // Everything but the transactions is the same in both forms.
    let strip = |mut value: Value| {
        value
            .as_object_mut()
            .map(|object| object.remove("transactions"));
        value
    };
    assert_eq!(strip(full), strip(object));
}

#[test]
fn the_genesis_block_has_no_transactions_and_a_zero_parent() {
    let config = default_config();
    let (mut block, _) = block_of_transfers(&config);
    block.header.height = 0;
    block.header.parent_hash = Hash::ZERO;
    block.transactions.clear();
    block.receipts.clear();
    let object = block_object(&block, true, &config);
    assert_eq!(field(&object, "number"), &hex("0x0"));
    assert_eq!(field(&object, "parentHash"), &data(Hash::ZERO));
    assert_eq!(field(&object, "gasUsed"), &hex("0x0"));
    assert_eq!(field(&object, "transactions"), &json!([]));
}

/// The signature fields a transaction object must carry for `signed`.
fn expected_signature(signed: &SignedTransfer) -> (Value, Value, Value, Option<Value>) {
    let signature = signed.signature();
    let parity = u64::from(signature.y_parity);
    let r = quantity(U256::from_be_bytes(signature.r.0));
    let s = quantity(U256::from_be_bytes(signature.s.0));
    match signed.transfer().kind {
        TxKind::Legacy => (r, s, quantity(CHAIN_ID * 2 + 35 + parity), None),
        _ => (r, s, quantity(parity), Some(quantity(parity))),
    }
}

#[test]
fn transaction_objects_carry_the_signature_and_the_fees() {
    let config = default_config();
    let (block, signed) = block_of_transfers(&config);
    for (index, tx) in signed.iter().enumerate() {
        let transfer = tx.transfer();
        let sender = tx.clone().recover().expect("recovers").sender;
        let location = TxLocation {
            block_hash: block.hash(),
            block_number: 1,
            index: index as u32,
        };
        let mined = transaction_object(tx.raw(), CHAIN_ID, sender, Some(location), BASE_FEE)
            .expect("decodes");
        let pending =
            transaction_object(tx.raw(), CHAIN_ID, sender, None, BASE_FEE).expect("decodes");

        assert_eq!(field(&mined, "hash"), &data(keccak256(tx.raw())));
        assert_eq!(field(&mined, "nonce"), &hex("0x0"));
        assert_eq!(field(&mined, "from"), &data(sender));
        assert_eq!(field(&mined, "to"), &data(Address([0x44; 20])));
        assert_eq!(field(&mined, "value"), &quantity(transfer.value));
        assert_eq!(field(&mined, "gas"), &quantity(transfer.gas_limit));
        assert_eq!(field(&mined, "input"), &hex("0x"));
        assert_eq!(field(&mined, "chainId"), &quantity(CHAIN_ID));
        assert_eq!(
            field(&mined, "type"),
            &quantity(transfer.kind.type_number())
        );
        assert_eq!(field(&mined, "blockHash"), &data(block.hash()));
        assert_eq!(field(&mined, "blockNumber"), &hex("0x1"));
        assert_eq!(field(&mined, "transactionIndex"), &quantity(index));
        for name in ["blockHash", "blockNumber", "transactionIndex"] {
            assert_eq!(field(&pending, name), &Value::Null, "{name} while pending");
        }

        let (r, s, v, y_parity) = expected_signature(tx);
        assert_eq!(
            (field(&mined, "r"), field(&mined, "s"), field(&mined, "v")),
            (&r, &s, &v)
        );
        assert_eq!(mined.get("yParity"), y_parity.as_ref());
        assert_eq!(
            mined.get("accessList").is_some(),
            transfer.kind != TxKind::Legacy
        );

        // The price paid once mined, and what it may cost while pending.
        let receipt = &block.receipts[index];
        assert_eq!(
            field(&mined, "gasPrice"),
            &quantity(receipt.effective_gas_price)
        );
        assert_eq!(
            field(&pending, "gasPrice"),
            &quantity(transfer.max_fee_per_gas)
        );
        if transfer.kind == TxKind::DynamicFee {
            assert_eq!(
                field(&mined, "gasPrice"),
                &quantity(BASE_FEE + 1),
                "base fee + tip"
            );
            assert_eq!(field(&mined, "maxFeePerGas"), &quantity(2 * BASE_FEE));
            assert_eq!(field(&mined, "maxPriorityFeePerGas"), &quantity(1u8));
        } else {
            assert_eq!(field(&mined, "gasPrice"), &quantity(3 * BASE_FEE));
            assert!(mined.get("maxFeePerGas").is_none());
        }
    }
}

#[test]
fn a_legacy_v_is_eip155_even_past_64_bits() {
    let chain_id = 1u64 << 63;
    let transfer = Transfer {
        chain_id,
        ..transfers()[0].1
    };
    let signed = transfer.sign(&key(1));
    let object =
        transaction_object(signed.raw(), chain_id, key(1).address(), None, 0).expect("decodes");
    let parity = u64::from(signed.signature().y_parity);
    // chain_id * 2 + 35 + parity = 2^64 + 35 + parity.
    let expected = (U256::from(1u64) << 64) + U256::from(35 + parity);
    assert_eq!(field(&object, "v"), &quantity(expected));
    assert_eq!(field(&object, "chainId"), &quantity(chain_id));
    // Bytes for another chain do not decode.
    assert_eq!(
        transaction_object(signed.raw(), CHAIN_ID, key(1).address(), None, 0).map(|_| ()),
        Err(TxRejection::WrongChainId {
            got: U256::from(chain_id),
            expected: CHAIN_ID
        })
    );
}

#[test]
fn receipt_objects_have_every_field_clients_need() {
    let config = default_config();
    let (block, signed) = block_of_transfers(&config);
    for (index, (receipt, tx)) in block.receipts.iter().zip(&signed).enumerate() {
        let cumulative = TRANSFER_GAS * (index as u64 + 1);
        let object = receipt_object(receipt, tx.transfer().kind, block.hash(), 1, cumulative);
        assert_eq!(
            object,
            json!({
                "transactionHash": data(tx.hash()),
                "transactionIndex": quantity(index),
                "blockHash": data(block.hash()),
                "blockNumber": "0x1",
                "from": data(tx.clone().recover().expect("recovers").sender),
                "to": data(Address([0x44; 20])),
                "cumulativeGasUsed": quantity(cumulative),
                "gasUsed": "0x5208",
                "effectiveGasPrice": quantity(receipt.effective_gas_price),
                "contractAddress": null,
                "logs": [],
                "logsBloom": data([0u8; 256]),
                "status": "0x1",
                "type": quantity(tx.transfer().kind.type_number()),
            })
        );
    }
}

#[test]
fn fee_history_has_one_more_base_fee_than_blocks() {
    let ratios = [0.0, gas_used_ratio(2_048), gas_used_ratio(4_096)];
    assert_eq!(ratios[1], 0.5);
    assert_eq!(ratios[2], 1.0);
    let history = fee_history(7, &ratios, 10, &[10.0, 90.0]);
    let tip = quantity(SUGGESTED_PRIORITY_FEE_PER_GAS);
    assert_eq!(
        history,
        json!({
            "oldestBlock": "0x7",
            "baseFeePerGas": ["0xa", "0xa", "0xa", "0xa"],
            "gasUsedRatio": [0.0, 0.5, 1.0],
            "reward": [[tip, tip], [tip, tip], [tip, tip]],
        })
    );
    let without_rewards = fee_history(0, &[0.25], 0, &[]);
    assert_eq!(
        without_rewards,
        json!({"oldestBlock": "0x0", "baseFeePerGas": ["0x0", "0x0"], "gasUsedRatio": [0.25]})
    );
}

#[test]
fn a_value_transfer_estimates_21000_and_calls_answer_empty() {
    let transfer = CallRequest {
        from: Some(Address([1; 20])),
        to: Some(Address([2; 20])),
        value: Some(U256::from(5u64)),
        gas: Some(21_000),
        max_fee_per_gas: Some(2),
        max_priority_fee_per_gas: Some(2),
        ..CallRequest::default()
    };
    assert_eq!(estimate_gas(&transfer), Ok(hex("0x5208")));
    assert_eq!(call(&transfer), Ok(hex("0x")));
    let bare = CallRequest {
        to: Some(Address([2; 20])),
        ..CallRequest::default()
    };
    assert_eq!(estimate_gas(&bare), Ok(hex("0x5208")));
    assert_eq!(call(&bare), Ok(hex("0x")));

    let refused = |request: CallRequest, code: &str, words: &str| {
        let error = estimate_gas(&request).expect_err(code);
        assert_eq!(error.code, RpcError::SERVER_ERROR, "{code}");
        assert_eq!(error.data, Some(json!({"code": code})));
        assert!(error.message.contains(words), "{code}: {error}");
    };
    refused(
        CallRequest {
            to: None,
            ..transfer.clone()
        },
        "contract_creation",
        "contract creation is not supported",
    );
    refused(
        CallRequest {
            data: vec![0xa9],
            ..transfer.clone()
        },
        "data_not_empty",
        "no contracts",
    );
    refused(
        CallRequest {
            value: Some(U256::MAX),
            ..transfer.clone()
        },
        "field_too_large",
        "255 bits",
    );
    refused(
        CallRequest {
            max_priority_fee_per_gas: Some(3),
            ..transfer.clone()
        },
        "priority_fee_above_max_fee",
        "max priority fee per gas higher than max fee per gas",
    );
    refused(
        CallRequest {
            gas: Some(20_999),
            ..transfer.clone()
        },
        "gas_limit_too_low",
        "gas required exceeds allowance (20999)",
    );

    for request in [
        CallRequest {
            to: None,
            ..bare.clone()
        },
        CallRequest {
            data: vec![0x70, 0xa0, 0x82, 0x31],
            ..bare
        },
    ] {
        let error = call(&request).expect_err("runs a contract");
        assert_eq!(error.code, RpcError::SERVER_ERROR);
        assert!(error.message.contains("no contracts"), "{error}");
        assert!(
            !error.message.contains("revert"),
            "ethers would read a revert: {error}"
        );
    }
}

/// The refusal of `rejection`'s reason.
fn refusal_of(code: &str, message: String) -> RpcError {
    rejection_error(&Reason {
        code: code.to_owned(),
        message,
    })
}

#[test]
fn refusals_use_geths_words_and_keep_our_code() {
    let cases: Vec<(Reason, i64, &str)> = vec![
        (
            Reason::from(&AdmissionRejection::NonceTooLow {
                expected: 5,
                got: 3,
            }),
            RpcError::SERVER_ERROR,
            "nonce too low: next nonce is 5, got 3",
        ),
        (
            Reason::from(&AdmissionRejection::FeeTooLow {
                offered: 1,
                base_fee: 10,
            }),
            RpcError::SERVER_ERROR,
            "max fee per gas less than block base fee: max fee per gas 1 is below the base fee 10",
        ),
        (
            Reason::from(&AdmissionRejection::NonceTooFarAhead {
                expected: 0,
                got: 9_000,
                gap_max: 4_096,
            }),
            RpcError::SERVER_ERROR,
            "nonce too high: nonce 9000 is more than 4096 ahead of the next nonce 0",
        ),
        (
            Reason::from(&AdmissionRejection::MempoolFull { limit: 65_536 }),
            RpcError::LIMIT_EXCEEDED,
            "txpool is full: the mempool is full (65536 transactions)",
        ),
        (
            Reason::from(&AdmissionRejection::SenderQueueFull { limit: 4_096 }),
            RpcError::LIMIT_EXCEEDED,
            "txpool is full: the sender already has 4096 pending transactions",
        ),
        (
            Reason::from(&AdmissionRejection::NonceAlreadyPending { nonce: 2 }),
            RpcError::SERVER_ERROR,
            "another transaction with nonce 2 from this sender is already pending",
        ),
        (
            Reason::from(&TxRejection::WrongChainId {
                got: U256::from(1u64),
                expected: CHAIN_ID,
            }),
            RpcError::SERVER_ERROR,
            "invalid chain id for signer: wrong chain id: got 1, expected 31337",
        ),
        (
            Reason::from(&TxRejection::UnprotectedLegacy),
            RpcError::SERVER_ERROR,
            "only replay-protected (EIP-155) transactions allowed over RPC: legacy transaction \
             without EIP-155 replay protection",
        ),
        (
            Reason::from(&TxRejection::HighS),
            RpcError::SERVER_ERROR,
            "invalid sender: signature s value is in the upper half of the curve order",
        ),
        (
            Reason::from(&TxRejection::TooLarge {
                got: 600,
                limit: 512,
            }),
            RpcError::SERVER_ERROR,
            "oversized data: transaction of 600 bytes exceeds the limit of 512 bytes",
        ),
        (
            Reason::from(&TxRejection::UnsupportedType { type_byte: 3 }),
            RpcError::SERVER_ERROR,
            "transaction type not supported: unsupported transaction type 0x03",
        ),
        (
            Reason::from(&TxRejection::GasLimitTooLow {
                got: 20_000,
                minimum: 21_000,
            }),
            RpcError::SERVER_ERROR,
            "intrinsic gas too low: gas limit 20000 is below the 21000 a transfer costs",
        ),
        (
            Reason::from(&TxRejection::ContractCreation),
            RpcError::SERVER_ERROR,
            "contract creation is not supported",
        ),
        (
            Reason {
                code: Exclusion::InsufficientFunds {
                    balance: U256::from(1u64),
                    cost: U256::from(2u64),
                }
                .code()
                .to_owned(),
                message: Exclusion::InsufficientFunds {
                    balance: U256::from(1u64),
                    cost: U256::from(2u64),
                }
                .to_string(),
            },
            RpcError::SERVER_ERROR,
            "insufficient funds for gas * price + value: balance 1, cost 2",
        ),
    ];
    for (reason, code, message) in cases {
        let error = rejection_error(&reason);
        assert_eq!(
            (error.code, error.message.as_str()),
            (code, message),
            "{}",
            reason.code
        );
        assert_eq!(error.data, Some(json!({"code": reason.code})));
    }
    let duplicate = refusal_of("duplicate", "already pending".to_owned());
    assert_eq!(duplicate.message, "already known: already pending");
}

#[test]
fn every_rejection_code_gets_an_ethereum_error() {
    let signature_codes = [
        "bad_recovery_id",
        "high_s",
        "invalid_signature",
        "signature_mismatch",
    ];
    for code in TxRejection::CODES {
        let error = refusal_of(code, format!("our words for {code}"));
        assert_eq!(error.code, RpcError::SERVER_ERROR, "{code}");
        assert!(
            error.message.ends_with(&format!("our words for {code}")),
            "{code}: {error}"
        );
        assert_eq!(error.data, Some(json!({"code": code})));
        if signature_codes.contains(&code) {
            assert!(
                error.message.starts_with("invalid sender: "),
                "{code}: {error}"
            );
        }
    }
    let unknown = refusal_of("something_new", "as it is".to_owned());
    assert_eq!(
        (unknown.code, unknown.message.as_str()),
        (RpcError::SERVER_ERROR, "as it is")
    );
}

#[test]
fn ethers_recognises_funds_and_nonce_refusals() {
    let error = insufficient_funds(U256::from(5u64), U256::from(21_000u64 * 10 + 7));
    assert_eq!(error.code, RpcError::SERVER_ERROR);
    assert_eq!(
        error.message,
        "insufficient funds for gas * price + value: balance 5, tx cost 210007"
    );
    assert_eq!(error.data, Some(json!({"code": "insufficient_funds"})));
    let error = nonce_too_low(4, 2);
    assert_eq!(error.message, "nonce too low: next nonce 4, tx nonce 2");
    assert_eq!(error.data, Some(json!({"code": "nonce_too_low"})));
    // ethers v6 matches /nonce/ and /too low/ on eth_sendRawTransaction refusals.
    let admitted = rejection_error(&Reason::from(&AdmissionRejection::NonceTooLow {
        expected: 4,
        got: 2,
    }));
    assert!(admitted.message.contains("nonce") && admitted.message.contains("too low"));
}

#[test]
fn a_transfer_is_payable_only_from_an_unused_nonce_and_enough_balance() {
    let transfer = crate::transaction::Transfer {
        kind: crate::transaction::TxKind::DynamicFee,
        chain_id: CHAIN_ID,
        nonce: 3,
        max_fee_per_gas: 10,
        max_priority_fee_per_gas: 1,
        gas_limit: 21_000,
        to: crate::primitives::Address([9; 20]),
        value: U256::from(7u64),
    };
    let cost = U256::from(21_000u64 * 10 + 7);
    let account = |nonce, balance| crate::state::Account { nonce, balance };
    assert_eq!(check_payable(&transfer, &account(3, cost)), Ok(()));
    assert_eq!(
        check_payable(&transfer, &account(1, cost)),
        Ok(()),
        "a nonce ahead waits"
    );
    let (code, error) = check_payable(&transfer, &account(4, cost)).expect_err("used nonce");
    assert_eq!((code, error), ("nonce_too_low", nonce_too_low(4, 3)));
    let short = cost - U256::from(1u64);
    let (code, error) = check_payable(&transfer, &account(3, short)).expect_err("cannot pay");
    assert_eq!(
        (code, error),
        ("insufficient_funds", insufficient_funds(short, cost))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn quantities_round_trip_without_leading_zeros(limbs in any::<[u64; 4]>(), shift in 0usize..256) {
        let value = U256::from_limbs(limbs) >> shift;
        let Value::String(text) = quantity(value) else {
            panic!("a quantity is a string");
        };
        let digits = text.strip_prefix("0x").expect("0x prefix");
        prop_assert!(digits == "0" || !digits.starts_with('0'), "{}", text);
        prop_assert_eq!(U256::from_str_radix(digits, 16).expect("hex"), value);
        prop_assert_eq!(
            RpcRequest::parse("eth_estimateGas", &[json!({"to": Address::ZERO.to_string(), "value": text})]),
            Ok(RpcRequest::EstimateGas { call: Box::new(CallRequest { to: Some(Address::ZERO), value: Some(value), ..CallRequest::default() }) })
        );
    }

    #[test]
    fn small_quantities_match_std_hex(value in any::<u64>()) {
        prop_assert_eq!(quantity(value), Value::String(format!("{value:#x}")));
    }
}

#[test]
fn a_chain_service_unreachable_or_late_is_a_retry_and_any_other_failure_internal() {
    for status in [502, 503, 504] {
        let error = RpcError::chain_failure(status, "internal_call_failed", "the sequencer");
        assert_eq!(error.code, RpcError::RESOURCE_UNAVAILABLE, "{status}");
        assert!(error.message.contains("retry"), "{}", error.message);
    }
    let error = RpcError::chain_failure(500, "internal_error", "storage: disk full");
    assert_eq!(error.code, RpcError::INTERNAL_ERROR);
    assert_eq!(
        error.message,
        "internal error: internal_error: storage: disk full"
    );
}
