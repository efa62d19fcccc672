use super::*;
use ledger::archive::PinningBackend;
use ledger::consensus::ValidatorSet;
use ledger::genesis::{Genesis, GenesisAccount};
use ledger::in_memory::InMemoryShards;
use ledger::signature::SecretKey;
use ledger::snapshot::{SNAPSHOT_FORMAT, ShardStart, SnapshotManifest, SnapshotSealer};
use ledger::state::ShardLayout;

struct Sealed {
    config: ChainConfig,
    bytes: Vec<u8>,
    record: BackupRecord,
    shards: InMemoryShards,
}

fn secret(seed: u8) -> SecretKey {
    SecretKey::from_bytes(&[seed; 32]).expect("a valid key")
}

/// A two-shard chain certified at height 1 by one validator, its state sealed with `key`.
fn sealed(key: &BackupKey) -> Sealed {
    let validator = secret(1);
    let validators = ValidatorSet::new(vec![validator.public_key()]).expect("set");
    let genesis = Genesis {
        config: ChainConfig {
            chain_id: 5,
            shard_bits: ShardLayout::new(1).expect("layout"),
            validators: validators.clone(),
            proposer: secret(2).address(),
            fee_recipient: secret(2).address(),
            base_fee_per_gas: 0,
            batch_window_ms: 10,
        },
        timestamp_ms: 1,
        accounts: (3..9)
            .map(|seed| GenesisAccount {
                address: secret(seed).address(),
                balance: U256::from(u64::from(seed) * 1000),
            })
            .collect(),
    };
    let shards = InMemoryShards::from_genesis(&genesis).expect("shards");
    let (header, certificate) =
        ledger::in_memory::certified_block_one(&genesis, &[validator]).expect("certified");
    let manifest = SnapshotManifest {
        format: SNAPSHOT_FORMAT,
        header,
        certificate,
        shard_roots: shards.roots(),
    };
    let mut sealer = SnapshotSealer::new(key, [3; 12], manifest).expect("sealer");
    for shard in shards.iter() {
        let accounts: Vec<(Address, Account)> = shard
            .store()
            .accounts()
            .iter()
            .map(|(a, b)| (*a, *b))
            .collect();
        sealer
            .shard(ShardStart {
                shard: shard.meta().shard,
                accounts: accounts.len() as u64,
            })
            .expect("shard");
        sealer.accounts(accounts).expect("page");
    }
    let sealed = sealer.finish().expect("sealed");
    let record = BackupRecord::sealed(
        "QmTest".to_owned(),
        &header,
        &sealed,
        0,
        PinningBackend::Kubo,
        None,
    );
    Sealed {
        config: genesis.config,
        bytes: sealed.ciphertext,
        record,
        shards,
    }
}

#[test]
fn a_backup_opens_to_every_account_with_and_without_its_index_record() {
    let key = BackupKey::new([9; 32]);
    let backup = sealed(&key);
    let with_record =
        open(&backup.bytes, &key, &backup.config, Some(&backup.record)).expect("opens");
    let without = open(&backup.bytes, &key, &backup.config, None).expect("opens");
    assert_eq!(with_record, without);
    assert_eq!(with_record.accounts.len(), 6);
    assert_eq!(with_record.total_supply, backup.shards.total_supply());
    for account in &with_record.accounts {
        let expected = backup.shards.account(&account.address).expect("present");
        assert_eq!(
            (account.nonce, account.balance),
            (expected.nonce, expected.balance)
        );
    }
    // JSON for people (hex balances), MessagePack for machines (the same keys).
    let json: serde_json::Value =
        serde_json::from_slice(&encode(&with_record, OutputFormat::Json).expect("json"))
            .expect("parses");
    assert_eq!(json["height"], 1);
    assert!(
        json["accounts"][0]["balance"]
            .as_str()
            .is_some_and(|b| b.starts_with("0x"))
    );
    let packed = encode(&with_record, OutputFormat::Msgpack).expect("msgpack");
    let map: KeyMap = rmp_serde::from_slice(&packed).expect("a map");
    assert!(map.contains_key("accounts") && map.contains_key("state_root"));
}

/// Just enough to read a MessagePack map's keys back.
type KeyMap = std::collections::BTreeMap<String, serde::de::IgnoredAny>;

#[test]
fn a_wrong_key_a_flipped_byte_or_another_chain_is_refused() {
    let key = BackupKey::new([9; 32]);
    let backup = sealed(&key);
    let wrong = BackupKey::new([1; 32]);
    let error =
        open(&backup.bytes, &wrong, &backup.config, Some(&backup.record)).expect_err("wrong key");
    assert!(error.to_string().contains("wrong key"), "{error}");
    assert!(open(&backup.bytes, &wrong, &backup.config, None).is_err());

    let mut flipped = backup.bytes.clone();
    let last = flipped.len() - 20;
    flipped[last] ^= 0x40;
    let error = open(&flipped, &key, &backup.config, Some(&backup.record)).expect_err("altered");
    assert!(error.to_string().contains("altered"), "{error}");
    assert!(open(&flipped, &key, &backup.config, None).is_err());

    let mut other = backup.config.clone();
    other.chain_id = 6;
    assert!(open(&backup.bytes, &key, &other, None).is_err());
}
