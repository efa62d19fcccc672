//! The ledger on wasm32: a representative suite that runs under Node through wasm-bindgen.
//!
//! The Workers run the ledger compiled to `wasm32-unknown-unknown`, so this suite checks that the
//! rules give the same answers there as natively: hashing, the canonical codec, signatures and
//! the shard layout. Expected values are fixed constants (Ethereum's, or cross-checked with an
//! independent implementation), so a difference between the targets fails one of the runs.
//!
//! How it runs:
//! - wasm32: `scripts/test.sh` runs `cargo test -p ledger --test wasm --target wasm32-unknown-unknown`
//!   with `wasm-bindgen-test-runner` as the target's runner (Node).
//! - native: the same file is an ordinary integration test (`cargo test`), so clippy and the
//!   native run check it too. `wasm_test` below picks the right test attribute for the target.
//!
//! Adding tests: put them in the module named after the ledger module they exercise (add one if
//! it is missing, in the order of `lib.rs`), mark each with `#[wasm_test]`, and use only the
//! ledger's public API and the shared fixtures in `fixtures`. Keep them fast and deterministic:
//! no proptest (native only), no clock, no randomness. Heavy or exhaustive tests stay native.

#[cfg(not(target_arch = "wasm32"))]
use std::prelude::v1::test as wasm_test;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as wasm_test;

/// Keys and values shared by several modules of this suite.
mod fixtures {
    use ledger::primitives::parse_hex_array;
    use ledger::signature::SecretKey;

    /// The first well-known development key (Hardhat/Anvil account 0).
    pub(crate) const DEV_KEY: &str =
        "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    /// The Ethereum address of `DEV_KEY`.
    pub(crate) const DEV_ADDRESS: &str = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";

    /// `DEV_KEY` as a secret key.
    pub(crate) fn dev_key() -> SecretKey {
        let bytes = parse_hex_array::<32>(DEV_KEY).expect("DEV_KEY is 32 bytes of hex");
        SecretKey::from_bytes(&bytes).expect("DEV_KEY is a valid secp256k1 scalar")
    }
}

mod primitives {
    use super::wasm_test;
    use ledger::primitives::{HexError, keccak256_concat, to_hex};
    use ledger::{Address, Hash, keccak256};

    #[wasm_test]
    fn keccak256_of_empty_input_matches_ethereum() {
        assert_eq!(
            keccak256([]).to_string(),
            "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
    }

    #[wasm_test]
    fn keccak256_of_longer_input_and_concat_agree() {
        // Longer than one keccak block (136 bytes), so the absorb loop runs more than once.
        let bytes: Vec<u8> = (0..=255u8).cycle().take(1_000).collect();
        let (left, right) = bytes.split_at(333);
        assert_eq!(keccak256_concat(&[left, &[], right]), keccak256(&bytes));
        // Cross-checked with pycryptodome's keccak.
        assert_eq!(
            keccak256(b"edgeledger").to_string(),
            "0xb4ff77b635bd3ca02b1d6e48e8fdea75e391b3caac7ff3b81c5754c2fb1d6bc7"
        );
    }

    #[wasm_test]
    fn hex_round_trips_and_rejects_bad_input() {
        let address: Address = super::fixtures::DEV_ADDRESS.parse().expect("valid address");
        assert_eq!(address.to_string(), super::fixtures::DEV_ADDRESS);
        assert_eq!(to_hex(address), super::fixtures::DEV_ADDRESS);
        assert_eq!("00".parse::<Hash>(), Err(HexError::MissingPrefix));
        assert_eq!(
            "0x00".parse::<Hash>(),
            Err(HexError::Length {
                expected: 64,
                got: 2
            })
        );
    }
}

mod codec {
    use super::wasm_test;
    use ledger::codec::{CodecError, decode, decode_canonical, encode};
    use ledger::{Account, U256};

    #[wasm_test]
    fn account_round_trips_canonically() {
        let account = Account {
            nonce: 7,
            balance: U256::from(1_000_000_000_000_000_000u128),
        };
        let bytes = encode(&account);
        // A two-element array: the nonce, then the balance as 32 big-endian bytes (`bin 8`).
        assert_eq!(&bytes[..4], &[0x92, 0x07, 0xc4, 0x20]);
        assert_eq!(bytes.len(), 4 + 32);
        assert_eq!(decode_canonical::<Account>(&bytes, 64), Ok(account));
    }

    #[wasm_test]
    fn oversize_trailing_and_garbage_are_errors_not_panics() {
        let bytes = encode(&Account::default());
        assert!(matches!(
            decode::<Account>(&bytes, 3),
            Err(CodecError::TooLarge { limit: 3, .. })
        ));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(
            decode::<Account>(&trailing, 64),
            Err(CodecError::TrailingBytes(1))
        );
        assert!(matches!(
            decode::<Account>(&[0xc1, 0xff], 64),
            Err(CodecError::Malformed(_))
        ));
    }
}

mod signature {
    use super::fixtures::{DEV_ADDRESS, dev_key};
    use super::wasm_test;
    use ledger::keccak256;
    use ledger::signature::{PublicKey, RecoverableSignature, SignatureError};

    #[wasm_test]
    fn dev_key_address_matches_ethereum() {
        let key = dev_key();
        assert_eq!(key.address().to_string(), DEV_ADDRESS);
        assert_eq!(key.public_key().address(), key.address());
    }

    #[wasm_test]
    fn sign_recover_verify_round_trip() {
        let key = dev_key();
        let digest = keccak256(b"edgeledger");
        let signature = key.sign(&digest);
        assert_eq!(signature.recover(&digest), Ok(key.public_key()));
        assert_eq!(signature.verify(&digest, &key.public_key()), Ok(()));
        let other = keccak256(b"other");
        assert_eq!(
            signature.verify(&other, &key.public_key()),
            Err(SignatureError::Invalid)
        );
        assert_ne!(signature.recover(&other).ok(), Some(key.public_key()));
    }

    #[wasm_test]
    fn signing_is_deterministic_and_identical_on_every_target() {
        // RFC 6979: no randomness, so native and wasm32 must produce exactly these bytes.
        let signature = dev_key().sign(&keccak256(b"edgeledger"));
        assert_eq!(
            ledger::primitives::to_hex(signature.to_bytes()),
            EXPECTED_SIGNATURE
        );
    }

    /// r, s and v (27 + y parity) of `DEV_KEY` signing keccak256("edgeledger"); cross-checked
    /// with python-ecdsa's RFC 6979 signer (SHA-256, low s).
    const EXPECTED_SIGNATURE: &str = concat!(
        "0x7717cf962978f20392d1cce5c6ed1509e9d9d1d6878851bd956a41d5911fc882",
        "15a6fc1f762394f6db4a9e849168205b5cc59bcce6628678ae8eaad88b291b7d",
        "1c"
    );

    #[wasm_test]
    fn a_batch_verifies_together_and_one_bad_signature_fails_it() {
        use ledger::signature::{ExactCheck, SecretKey, verify_exact_batch};
        let keys: Vec<SecretKey> = (1..=3u8)
            .map(|seed| SecretKey::from_bytes(&[seed; 32]).expect("key"))
            .collect();
        let mut batch: Vec<_> = (0..9u64)
            .map(|index| {
                let key = &keys[index as usize % 3];
                let digest = keccak256(index.to_be_bytes());
                (digest, key.sign(&digest), key.public_key())
            })
            .collect();
        // The nonce ys as the front door works them out (libsecp256k1's square root, here in
        // wasm as in the Workers), carried by every check or by none.
        let nonce_ys: Vec<_> = batch
            .iter()
            .map(|(_, signature, _)| signature.nonce_y().expect("a signed nonce point"))
            .collect();
        let checks = |batch: &[(ledger::Hash, RecoverableSignature, PublicKey)],
                      nonce_ys: Option<&[ledger::primitives::NonceY]>| {
            let checks: Vec<ExactCheck<'_>> = batch
                .iter()
                .enumerate()
                .map(|(index, (prehash, signature, public_key))| ExactCheck {
                    prehash,
                    signature,
                    public_key,
                    nonce_y: nonce_ys.map(|ys| &ys[index]),
                })
                .collect();
            verify_exact_batch(&checks)
        };
        assert!(checks(&batch, None));
        assert!(checks(&batch, Some(&nonce_ys)));
        let mut wrong_ys = nonce_ys.clone();
        wrong_ys[2] = nonce_ys[5];
        assert!(!checks(&batch, Some(&wrong_ys)));
        batch[4].1.y_parity = !batch[4].1.y_parity;
        assert!(!checks(&batch, None));
        assert!(!checks(&batch, Some(&nonce_ys)));
    }

    #[wasm_test]
    fn malformed_signatures_and_keys_are_refused() {
        let digest = keccak256(b"edgeledger");
        let signature = dev_key().sign(&digest);
        let zero = RecoverableSignature {
            r: ledger::Hash::ZERO,
            ..signature
        };
        assert_eq!(zero.recover(&digest), Err(SignatureError::ScalarOutOfRange));
        assert_eq!(
            PublicKey::from_xy(&[0u8; 64]),
            Err(SignatureError::InvalidKey)
        );
        let public_key = dev_key().public_key();
        assert_eq!(PublicKey::from_xy(&public_key.to_xy()), Ok(public_key));
    }
}

mod state {
    use super::wasm_test;
    use ledger::state::LayoutError;
    use ledger::{Address, ShardIndex, ShardLayout};

    #[wasm_test]
    fn shard_of_uses_the_top_bits_of_the_address() {
        let layout = ShardLayout::with_shard_count(4).expect("4 is a valid shard count");
        let mut bytes = [0u8; 20];
        bytes[0] = 0b1100_0000;
        assert_eq!(layout.shard_of(&Address(bytes)), 3);
        bytes[0] = 0b0111_1111;
        assert_eq!(layout.shard_of(&Address(bytes)), 1);
    }

    #[wasm_test]
    fn every_first_address_maps_back_to_its_shard() {
        let layout = ShardLayout::with_shard_count(256).expect("256 is a valid shard count");
        for index in 0..layout.shard_count() {
            let index = ShardIndex::try_from(index).expect("fewer than 2^16 shards");
            assert_eq!(layout.shard_of(&layout.first_address(index)), index);
        }
    }

    #[wasm_test]
    fn invalid_layouts_are_refused() {
        assert_eq!(
            ShardLayout::with_shard_count(3),
            Err(LayoutError::ShardCount(3))
        );
        assert!(ShardLayout::new(9).is_err());
        let layout = ShardLayout::new(2).expect("2 bits is valid");
        assert!(layout.check_index(4).is_err());
        assert_eq!(
            ledger::codec::decode::<ShardLayout>(&ledger::codec::encode(&layout), 8),
            Ok(layout)
        );
    }
}

mod transaction {
    use super::wasm_test;
    use ledger::transaction::{TxRejection, decode};
    use ledger::{Address, Hash};

    /// Every valid transfer ethers signed (`tests/fixtures/transactions`) decodes, hashes and
    /// recovers to the same sender on this target, and every invalid one gets its rejection.
    #[wasm_test]
    fn ethers_fixtures_decode_and_recover() {
        let fixtures: serde_json::Value =
            serde_json::from_str(include_str!("fixtures/transactions/transactions.json"))
                .expect("fixture file is JSON");
        let text = |value: &serde_json::Value, field: &str| {
            value[field]
                .as_str()
                .expect("fixture field is a string")
                .to_owned()
        };
        let valid = fixtures["valid"].as_array().expect("valid list");
        assert!(valid.len() >= 30, "the fixture set is complete");
        for fixture in valid {
            let raw = ledger::primitives::parse_hex_bytes(&text(fixture, "raw")).expect("hex");
            let chain_id = text(fixture, "decode_chain_id").parse().expect("chain id");
            let verified = decode(&raw, chain_id)
                .and_then(|tx| tx.recover())
                .expect("ethers-signed transfer is valid");
            let hash: Hash = text(fixture, "hash").parse().expect("hash");
            let sender: Address = text(fixture, "sender").parse().expect("sender");
            assert_eq!(
                (verified.hash(), verified.sender),
                (hash, sender),
                "{fixture}"
            );
        }
        let invalid = fixtures["invalid"].as_array().expect("invalid list");
        for fixture in invalid {
            let raw = ledger::primitives::parse_hex_bytes(&text(fixture, "raw")).expect("hex");
            let chain_id = text(fixture, "decode_chain_id").parse().expect("chain id");
            let rejection: TxRejection = decode(&raw, chain_id)
                .and_then(|tx| tx.recover())
                .expect_err("invalid fixture is refused");
            assert_eq!(rejection.code(), text(fixture, "code"), "{fixture}");
        }
    }
}

mod trie {
    use super::wasm_test;
    use ledger::trie::{MemoryTrieStore, NodePosition, Trie, leaf_hash, node_hash};
    use ledger::{Account, Address, U256, keccak256};
    use std::collections::BTreeMap;

    fn address(first: u8, last: u8) -> Address {
        let mut bytes = [0u8; 20];
        bytes[0] = first;
        bytes[19] = last;
        Address(bytes)
    }

    /// The hashing rules, recomputed by hand from their definition.
    #[wasm_test]
    fn roots_follow_the_hashing_rules_and_proofs_verify() {
        let left = (
            address(0x00, 1),
            Account {
                nonce: 3,
                balance: U256::from(7u64),
            },
        );
        let right = (address(0x80, 2), Account::with_balance(U256::from(9u64)));
        let mut preimage = vec![0x00];
        preimage.extend_from_slice(left.0.as_bytes());
        preimage.extend_from_slice(&left.1.nonce.to_be_bytes());
        preimage.extend_from_slice(&left.1.balance.to_be_bytes::<32>());
        assert_eq!(leaf_hash(&left.0, &left.1), keccak256(&preimage));

        let mut trie = Trie::new(MemoryTrieStore::default(), NodePosition::root());
        let updates: BTreeMap<Address, Account> = [left, right].into_iter().collect();
        let root = trie.update(&updates).expect("update");
        // The two accounts differ in the first bit, so the root is one inner node over two
        // shortcut leaves.
        let expected = node_hash(&leaf_hash(&left.0, &left.1), &leaf_hash(&right.0, &right.1));
        assert_eq!(root, expected);

        let proof = trie.prove(&left.0).expect("proof");
        assert_eq!(proof.verify(&root, &left.0), Ok(Some(left.1)));
        let absent = address(0x40, 3);
        assert_eq!(
            trie.prove(&absent).expect("proof").verify(&root, &absent),
            Ok(None)
        );
        let mut tampered = proof.clone();
        tampered.siblings[0].0[0] ^= 1;
        assert!(tampered.verify(&root, &left.0).is_err());
    }
}

mod execution {
    use super::wasm_test;
    use ledger::block::BlockFormat;
    use ledger::consensus::ValidatorSet;
    use ledger::execution::execute;
    use ledger::genesis::{ChainConfig, Genesis, GenesisAccount};
    use ledger::in_memory::InMemoryShards;
    use ledger::signature::SecretKey;
    use ledger::transaction::{Transfer, TxKind};
    use ledger::{ShardLayout, U256};

    fn key(seed: u8) -> SecretKey {
        let mut bytes = [0u8; 32];
        bytes[0] = seed;
        bytes[31] = 1;
        SecretKey::from_bytes(&bytes).expect("valid key")
    }

    /// A block of transfers across two shards executes to the same roots that the shards
    /// reach by applying the write sets, and conserves supply.
    #[wasm_test]
    fn a_block_executes_and_the_shards_agree() {
        let users: Vec<SecretKey> = (1..=6).map(key).collect();
        let config = ChainConfig {
            chain_id: 5,
            shard_bits: ShardLayout::new(1).expect("two shards"),
            validators: ValidatorSet::new(vec![key(99).public_key()]).expect("set"),
            proposer: key(98).address(),
            fee_recipient: key(97).address(),
            base_fee_per_gas: 2,
            batch_window_ms: 10,
        };
        let genesis = Genesis {
            config: config.clone(),
            timestamp_ms: 0,
            accounts: users
                .iter()
                .map(|user| GenesisAccount {
                    address: user.address(),
                    balance: U256::from(1_000_000_000u64),
                })
                .collect(),
        };
        let mut shards = InMemoryShards::from_genesis(&genesis).expect("shards");
        let txs: Vec<_> = users
            .iter()
            .enumerate()
            .map(|(index, sender)| {
                Transfer {
                    kind: TxKind::DynamicFee,
                    chain_id: 5,
                    nonce: 0,
                    max_fee_per_gas: 3,
                    max_priority_fee_per_gas: 1,
                    gas_limit: 21_000,
                    to: users[(index + 1) % users.len()].address(),
                    value: U256::from(1_000u64 * (index as u64 + 1)),
                }
                .sign(sender)
                .recover()
                .expect("recovers")
            })
            .collect();
        let touched = ledger::execution::touched_addresses(&config, &txs);
        let witness = shards.witness(&touched).expect("witness");
        let parent_root = witness.state_root();
        let execution = execute(
            &config,
            &parent_root,
            1,
            BlockFormat::PROPOSED,
            &txs,
            witness,
        )
        .expect("executes");
        assert_eq!(execution.receipts.len(), txs.len());
        assert!(execution.excluded.is_empty());
        shards
            .apply(execution.write_sets.values())
            .expect("applies");
        assert_eq!(shards.state_root(), execution.state_root);
        let supply = shards.total_supply();
        assert_eq!(supply, genesis.total_supply().expect("supply"));
    }
}

mod backup {
    use super::wasm_test;
    use ledger::Hash;
    use ledger::backup::{
        BackupError, BackupHeaderFields, BackupKey, open, open_expecting, seal_chunked,
    };

    #[wasm_test]
    fn envelope_round_trips_and_refuses_tampering_and_wrong_keys() {
        let key = BackupKey::new([7u8; 32]);
        let fields = BackupHeaderFields {
            chain_id: 31_337,
            height: 42,
            state_root: Hash([9u8; 32]),
        };
        let plaintext: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let sealed = seal_chunked(&key, [3u8; 12], fields, 4_096, &plaintext).expect("seal");
        let (header, opened) = open_expecting(&key, &sealed, &fields).expect("opens");
        assert_eq!((header.fields, opened), (fields, plaintext));

        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(matches!(
            open(&key, &tampered),
            Err(BackupError::Authentication { .. })
        ));
        let wrong_key = BackupKey::new([8u8; 32]);
        assert!(matches!(
            open(&wrong_key, &sealed),
            Err(BackupError::Authentication { .. })
        ));
        let other_height = BackupHeaderFields {
            height: 43,
            ..fields
        };
        assert!(matches!(
            open_expecting(&key, &sealed, &other_height),
            Err(BackupError::HeaderMismatch { .. })
        ));
    }
}
