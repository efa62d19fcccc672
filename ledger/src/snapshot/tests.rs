use super::*;
use crate::consensus::{ValidatorSet, Vote};

use crate::execution::tests::key;
use crate::genesis::{Genesis, GenesisAccount};
use crate::in_memory::InMemoryShards;
use crate::random::SplitMix64;
use crate::state::ShardLayout;

/// A four-shard chain with one validator, 40 funded accounts, and block 1 certified over the
/// genesis state: everything a snapshot needs.
pub(crate) struct Fixture {
    pub(crate) config: ChainConfig,
    pub(crate) manifest: SnapshotManifest,
    pub(crate) shards: InMemoryShards,
}

pub(crate) fn fixture() -> Fixture {
    let validator = key(1);
    let validators = ValidatorSet::new(vec![validator.public_key()]).expect("set");
    let mut random = SplitMix64::new(11);
    let accounts = (0..40u64)
        .map(|index| GenesisAccount {
            address: Address::from(random_bytes(&mut random)),
            balance: U256::from(1_000 + index),
        })
        .collect();
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
        accounts,
    };
    let shards = InMemoryShards::from_genesis(&genesis).expect("shards");
    let (header, certificate) =
        crate::in_memory::certified_block_one(&genesis, &[validator]).expect("certified");
    Fixture {
        config: genesis.config.clone(),
        manifest: SnapshotManifest {
            format: SNAPSHOT_FORMAT,
            header,
            certificate,
            shard_roots: shards.roots(),
        },
        shards,
    }
}

fn random_bytes(random: &mut SplitMix64) -> [u8; 20] {
    let mut bytes = [0u8; 20];
    for byte in &mut bytes {
        *byte = random.below(256) as u8;
    }
    bytes
}

impl Fixture {
    /// The snapshot's records, accounts in pages of `page` (as a shard pages them).
    pub(crate) fn records(&self, page: usize) -> Vec<SnapshotRecord> {
        let mut records = vec![SnapshotRecord::Manifest(Box::new(self.manifest.clone()))];
        let mut total = 0;
        for shard in self.shards.iter() {
            let accounts: Vec<(Address, Account)> = shard
                .store()
                .accounts()
                .iter()
                .map(|(address, account)| (*address, *account))
                .collect();
            total += accounts.len() as u64;
            records.push(SnapshotRecord::ShardStart(ShardStart {
                shard: shard.meta().shard,
                accounts: accounts.len() as u64,
            }));
            records.extend(
                accounts
                    .chunks(page)
                    .map(|chunk| SnapshotRecord::Accounts(chunk.to_vec())),
            );
        }
        records.push(SnapshotRecord::End(SnapshotEnd {
            shards: 4,
            accounts: total,
        }));
        records
    }

    pub(crate) fn plaintext(&self, records: &[SnapshotRecord]) -> Vec<u8> {
        records.iter().flat_map(SnapshotRecord::encode).collect()
    }
}

fn check(fixture: &Fixture, records: &[SnapshotRecord]) -> SnapshotResult<VerifiedSnapshot> {
    let mut check = SnapshotCheck::new(&fixture.config, Some(fixture.manifest.fields()));
    for record in records {
        check.record(record)?;
    }
    check.finish()
}

#[test]
fn a_snapshot_round_trips_through_its_bytes_and_verifies() {
    let fixture = fixture();
    let records = fixture.records(7);
    let plaintext = fixture.plaintext(&records);
    // Fed in awkward pieces, the reader gives back exactly the records.
    let mut reader = SnapshotReader::new();
    let mut read = Vec::new();
    for piece in plaintext.chunks(13) {
        read.extend(reader.push(piece).expect("reads"));
    }
    reader.finish().expect("ends on a record");
    assert_eq!(read, records);

    let (verified, accounts) =
        read_verified(&plaintext, &fixture.config, Some(fixture.manifest.fields()))
            .expect("verifies");
    assert_eq!(verified.accounts, 40);
    assert_eq!(accounts.len(), 40);
    assert_eq!(verified.total_supply, fixture.shards.total_supply());
    assert_eq!(verified.manifest, fixture.manifest);
}

#[test]
fn a_changed_balance_breaks_its_shard_root() {
    let fixture = fixture();
    let mut records = fixture.records(5);
    let page = records
        .iter_mut()
        .find_map(|record| match record {
            SnapshotRecord::Accounts(page) => Some(page),
            _ => None,
        })
        .expect("a page");
    page[0].1.balance += U256::from(1u64);
    assert!(matches!(
        check(&fixture, &records),
        Err(SnapshotError::ShardRoot { shard: 0, .. })
    ));
}

#[test]
fn missing_duplicated_or_misplaced_accounts_are_refused() {
    let fixture = fixture();
    let mut dropped = fixture.records(100);
    if let SnapshotRecord::Accounts(page) = &mut dropped[2] {
        page.pop();
    }
    assert!(matches!(
        check(&fixture, &dropped),
        Err(SnapshotError::Count { .. })
    ));

    let mut duplicated = fixture.records(100);
    if let SnapshotRecord::Accounts(page) = &mut duplicated[2] {
        let first = page[0];
        page.insert(1, first);
    }
    assert!(matches!(
        check(&fixture, &duplicated),
        Err(SnapshotError::AccountOutOfPlace { .. })
    ));

    // An account of shard 1 inside shard 0's pages.
    let mut misplaced = fixture.records(100);
    let SnapshotRecord::Accounts(shard_one) = &misplaced[4] else {
        unreachable!("record 4 is shard 1's accounts");
    };
    let foreign = shard_one[0];
    if let SnapshotRecord::Accounts(page) = &mut misplaced[2] {
        page.push(foreign);
    }
    assert!(matches!(
        check(&fixture, &misplaced),
        Err(SnapshotError::AccountOutOfPlace { shard: 0, .. })
    ));
}

#[test]
fn the_manifest_must_be_certified_and_of_the_expected_block() {
    let fixture = fixture();
    let mut uncertified = fixture.records(100);
    if let SnapshotRecord::Manifest(manifest) = &mut uncertified[0] {
        manifest.header.timestamp_ms += 1;
        manifest.certificate = QuorumCertificate::assemble(
            &fixture.config.validators,
            1,
            fixture.manifest.header.hash(),
            &[Vote::sign(
                &key(1),
                &fixture.config.validators,
                77,
                1,
                fixture.manifest.header.hash(),
            )
            .expect("vote")],
        )
        .expect("quorum");
    }
    assert!(matches!(
        check(&fixture, &uncertified),
        Err(SnapshotError::Certificate(_))
    ));

    let mut expected = fixture.manifest.fields();
    expected.height = 2;
    let mut check = SnapshotCheck::new(&fixture.config, Some(expected));
    assert!(matches!(
        check.record(&fixture.records(100)[0]),
        Err(SnapshotError::WrongSubject { .. })
    ));

    let mut wrong_roots = fixture.records(100);
    if let SnapshotRecord::Manifest(manifest) = &mut wrong_roots[0] {
        manifest.shard_roots.swap(0, 1);
    }
    assert!(matches!(
        check_records_without_expectation(&fixture, &wrong_roots),
        Err(SnapshotError::ShardRoots)
    ));
}

fn check_records_without_expectation(
    fixture: &Fixture,
    records: &[SnapshotRecord],
) -> SnapshotResult<VerifiedSnapshot> {
    let mut check = SnapshotCheck::new(&fixture.config, None);
    for record in records {
        check.record(record)?;
    }
    check.finish()
}

#[test]
fn truncated_reordered_or_garbled_snapshots_are_refused() {
    let fixture = fixture();
    let records = fixture.records(100);
    // Without its end record.
    assert!(matches!(
        check(&fixture, &records[..records.len() - 1]),
        Err(SnapshotError::Order(_))
    ));
    // Shards out of order.
    let mut swapped = records.clone();
    swapped.swap(1, 3);
    assert!(check(&fixture, &swapped).is_err());
    // Cut inside a record.
    let plaintext = fixture.plaintext(&records);
    let cut = &plaintext[..plaintext.len() - 3];
    assert!(matches!(
        read_verified(cut, &fixture.config, None),
        Err(SnapshotError::Malformed(_))
    ));
    // An unknown tag and an oversized length are refused before anything is decoded.
    let mut unknown = plaintext.clone();
    unknown[0] = 9;
    assert!(matches!(
        SnapshotReader::new().push(&unknown),
        Err(SnapshotError::Malformed(_))
    ));
    let mut huge = vec![ACCOUNTS_TAG];
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        SnapshotReader::new().push(&huge),
        Err(SnapshotError::Malformed(_))
    ));
}

#[test]
fn the_shard_root_of_a_shards_accounts_is_its_tree_root() {
    let fixture = fixture();
    for shard in fixture.shards.iter() {
        let root = shard_root(
            &fixture.config,
            shard.meta().shard,
            shard.store().accounts(),
        )
        .expect("root");
        assert_eq!(root, shard.meta().root);
    }
}
