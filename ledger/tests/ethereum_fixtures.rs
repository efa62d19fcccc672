#![cfg(not(target_arch = "wasm32"))]
//! Cross-checks transaction decoding, hashing, recovery and signing against transactions signed
//! by ethers (an independent implementation); see `fixtures/transactions/generate.mjs`.

use ledger::primitives::{parse_hex_array, parse_hex_bytes};
use ledger::signature::SecretKey;
use ledger::transaction::{Transfer, TxKind, decode};
use ledger::{Address, Hash, U256};
use serde::Deserialize;

const FIXTURES: &str = include_str!("fixtures/transactions/transactions.json");

#[derive(Deserialize)]
struct Fixtures {
    generator: String,
    valid: Vec<Valid>,
    invalid: Vec<Invalid>,
}

/// A transfer ethers signed, with every field it encoded (big numbers as decimal strings).
#[derive(Deserialize)]
struct Valid {
    name: String,
    private_key: String,
    decode_chain_id: String,
    raw: String,
    hash: Hash,
    sender: Address,
    kind: TxKind,
    chain_id: String,
    nonce: String,
    max_fee_per_gas: String,
    max_priority_fee_per_gas: String,
    gas_limit: String,
    to: Address,
    value: String,
}

/// A transaction ethers signed that the chain must refuse with `code`.
#[derive(Deserialize)]
struct Invalid {
    name: String,
    code: String,
    decode_chain_id: String,
    raw: String,
}

fn fixtures() -> Fixtures {
    let fixtures: Fixtures = serde_json::from_str(FIXTURES).expect("fixtures parse");
    assert!(fixtures.generator.starts_with("ethers 6."));
    fixtures
}

fn number<T: std::str::FromStr>(text: &str) -> T {
    text.parse()
        .unwrap_or_else(|_| unreachable!("fixture number {text} parses"))
}

fn expected_transfer(case: &Valid) -> Transfer {
    Transfer {
        kind: case.kind,
        chain_id: number(&case.chain_id),
        nonce: number(&case.nonce),
        max_fee_per_gas: number(&case.max_fee_per_gas),
        max_priority_fee_per_gas: number(&case.max_priority_fee_per_gas),
        gas_limit: number(&case.gas_limit),
        to: case.to,
        value: number::<U256>(&case.value),
    }
}

#[test]
fn ethers_transfers_decode_recover_and_hash_identically() {
    let fixtures = fixtures();
    assert!(fixtures.valid.len() >= 30);
    for kind in [TxKind::Legacy, TxKind::AccessList, TxKind::DynamicFee] {
        assert!(fixtures.valid.iter().any(|case| case.kind == kind));
    }
    for case in &fixtures.valid {
        let raw = parse_hex_bytes(&case.raw).expect("hex");
        let decoded = decode(&raw, number(&case.decode_chain_id))
            .unwrap_or_else(|rejection| unreachable!("{}: {rejection}", case.name));
        assert_eq!(decoded.hash(), case.hash, "{}", case.name);
        assert_eq!(decoded.raw(), &raw[..], "{}", case.name);
        assert_eq!(
            decoded.transfer(),
            &expected_transfer(case),
            "{}",
            case.name
        );
        let verified = decoded.recover().expect("recovers");
        assert_eq!(verified.sender, case.sender, "{}", case.name);
        assert_eq!(verified.hash(), case.hash, "{}", case.name);
    }
}

#[test]
fn signing_reproduces_ethers_bytes_exactly() {
    for case in &fixtures().valid {
        let key = SecretKey::from_bytes(&parse_hex_array(&case.private_key).expect("hex"))
            .expect("valid key");
        assert_eq!(key.address(), case.sender, "{}", case.name);
        let signed = expected_transfer(case).sign(&key);
        assert_eq!(
            ledger::primitives::to_hex(signed.raw()),
            case.raw,
            "{}",
            case.name
        );
        assert_eq!(signed.hash(), case.hash, "{}", case.name);
    }
}

#[test]
fn ethers_transactions_the_chain_refuses_get_the_expected_code() {
    let fixtures = fixtures();
    assert!(fixtures.invalid.len() >= 20);
    for case in &fixtures.invalid {
        let raw = parse_hex_bytes(&case.raw).expect("hex");
        let rejection = decode(&raw, number(&case.decode_chain_id))
            .expect_err(&case.name)
            .code();
        assert_eq!(rejection, case.code, "{}", case.name);
    }
}
