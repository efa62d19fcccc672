use super::*;

fn settings(hot: u64, per_run: u64) -> ArchiveSettings {
    ArchiveSettings::new(hot, per_run).expect("valid settings")
}

fn status(head_height: u64, archived_through: u64) -> ArchiveStatus {
    ArchiveStatus {
        head_height,
        archived_through,
    }
}

fn record(height: u64, cid: &str) -> BackupRecord {
    BackupRecord {
        cid: cid.to_owned(),
        chain_id: 7,
        height,
        block_hash: Hash::from([height as u8; 32]),
        state_root: Hash::from([1; 32]),
        accounts: 3,
        ciphertext_bytes: 100,
        ciphertext_sha256: Hash::from([2; 32]),
        created_at_ms: 1_000 * height,
        backend: PinningBackend::Kubo,
        pin_id: None,
    }
}

#[test]
fn the_next_range_starts_after_the_archived_blocks_and_stops_before_the_hot_window() {
    let settings = settings(10, 4);
    assert_eq!(status(10, 0).next_range(&settings), None);
    assert_eq!(status(5, 0).next_range(&settings), None);
    assert_eq!(status(11, 0).next_range(&settings), Some((1, 1)));
    assert_eq!(status(30, 0).next_range(&settings), Some((1, 4)));
    assert_eq!(status(30, 4).next_range(&settings), Some((5, 8)));
    assert_eq!(status(30, 18).next_range(&settings), Some((19, 20)));
    assert_eq!(status(30, 20).next_range(&settings), None);
    assert_eq!(status(30, 4).lag_blocks(&settings), 16);
    assert_eq!(status(3, 0).lag_blocks(&settings), 0);
}

#[test]
fn settings_out_of_bounds_are_refused() {
    assert!(ArchiveSettings::new(HOT_BLOCKS_MIN - 1, 4).is_err());
    assert!(ArchiveSettings::new(HOT_BLOCKS_MIN, 0).is_err());
    assert!(ArchiveSettings::new(HOT_BLOCKS_MIN, ARCHIVE_BLOCKS_PER_RUN_MAX + 1).is_err());
    assert!(BackupSchedule::new(0, 60_000, 3).is_err());
    assert!(BackupSchedule::new(10, 10, 3).is_err());
    assert!(BackupSchedule::new(10, 60_000, 0).is_err());
}

#[test]
fn pruning_stays_out_of_the_hot_blocks_and_is_idempotent() {
    let at = status(100, 20);
    assert_eq!(check_prune(&at, 20), Ok(None));
    assert_eq!(check_prune(&at, 5), Ok(None));
    assert_eq!(check_prune(&at, 92), Ok(Some((21, 92))));
    assert!(matches!(
        check_prune(&at, 93),
        Err(ArchiveError::PruneTooRecent { .. })
    ));
    assert!(check_prune(&at, u64::MAX).is_err());
}

#[test]
fn publishing_advances_the_index_and_returns_what_to_unpin() {
    let mut index = BackupIndex::empty();
    for height in 1..=4 {
        let removed = index
            .publish(record(height * 10, &format!("Qm{height}")), 3)
            .expect("advances");
        assert_eq!(removed.len(), usize::from(height == 4));
    }
    assert_eq!(index.latest().map(|r| r.height), Some(40));
    assert_eq!(
        index.history.iter().map(|r| r.height).collect::<Vec<_>>(),
        vec![30, 20]
    );
    // Never backwards, never the same height again.
    assert!(matches!(
        index.publish(record(40, "QmX"), 3),
        Err(ArchiveError::IndexWouldRollBack {
            got: 40,
            latest: 40
        })
    ));
    assert!(index.publish(record(39, "QmY"), 3).is_err());
    assert_eq!(index.latest().map(|r| r.cid.as_str()), Some("Qm4"));
    // The index survives its JSON form, and its checks hold on the way in.
    let decoded = BackupIndex::decode(&index.encode()).expect("decodes");
    assert_eq!(decoded, index);
}

#[test]
fn only_the_latest_backup_is_restorable() {
    let mut index = BackupIndex::empty();
    assert_eq!(index.restorable("QmA"), Err(ArchiveError::NoBackupIndex));
    index.publish(record(10, "QmOld"), 5).expect("first");
    index.publish(record(20, "QmNew"), 5).expect("second");
    assert_eq!(index.restorable("QmNew").map(|r| r.height), Ok(20));
    assert!(matches!(
        index.restorable("QmOld"),
        Err(ArchiveError::NotLatestBackup { .. })
    ));
    assert!(matches!(
        index.restorable("../etc/passwd"),
        Err(ArchiveError::InvalidCid(_))
    ));
    assert!(matches!(
        index.restorable(""),
        Err(ArchiveError::InvalidCid(_))
    ));
    let (status, code) = ArchiveError::NotLatestBackup {
        cid: "a".into(),
        latest: "b".into(),
    }
    .status_and_code();
    assert_eq!((status, code), (409, "not_latest_backup"));
}

#[test]
fn a_stored_index_that_is_inconsistent_is_refused() {
    let mut index = BackupIndex::empty();
    index.publish(record(10, "QmA"), 5).expect("first");
    index.publish(record(20, "QmB"), 5).expect("second");
    let mut rolled_back = index.clone();
    rolled_back.history[0].height = 30;
    assert!(matches!(
        BackupIndex::decode(&rolled_back.encode()),
        Err(ArchiveError::CorruptIndex(_))
    ));
    let mut future = index.clone();
    future.format = 2;
    assert!(BackupIndex::decode(&future.encode()).is_err());
    assert!(BackupIndex::decode(b"not json").is_err());
    assert!(BackupIndex::decode(&vec![b' '; BACKUP_INDEX_BYTES_MAX + 1]).is_err());
}

#[test]
fn fetched_bytes_must_match_the_recorded_size_and_digest() {
    let recorded = record(10, "QmA");
    assert_eq!(check_fetched(&recorded, 100, &Hash::from([2; 32])), Ok(()));
    assert!(matches!(
        check_fetched(&recorded, 99, &Hash::from([2; 32])),
        Err(ArchiveError::SizeMismatch { .. })
    ));
    assert!(matches!(
        check_fetched(&recorded, 100, &Hash::from([3; 32])),
        Err(ArchiveError::DigestMismatch { .. })
    ));
}

#[test]
fn a_backup_is_due_after_enough_blocks_or_time_but_never_without_new_blocks() {
    let schedule = BackupSchedule::new(10, 60_000, 3).expect("schedule");
    let mut index = BackupIndex::empty();
    assert!(!schedule.due(&index, 0, 0));
    assert!(schedule.due(&index, 1, 0));
    index.publish(record(20, "QmA"), 3).expect("publish");
    let made = 20_000;
    assert!(!schedule.due(&index, 20, made + 10 * 60_000));
    assert!(!schedule.due(&index, 29, made + 1));
    assert!(schedule.due(&index, 30, made + 1));
    assert!(schedule.due(&index, 21, made + 60_000));
}

/// A block of two transfers at height 9, as committed.
fn two_transfer_block() -> (CertifiedBlock, Vec<Hash>) {
    use crate::block::{BlockFormat, Header, Receipt};
    use crate::consensus::QuorumCertificate;
    let receipt = |index: u32, hash: Hash| Receipt {
        tx_hash: hash,
        index,
        sender: crate::primitives::Address::from([1; 20]),
        to: crate::primitives::Address::from([2; 20]),
        nonce: u64::from(index),
        value: crate::U256::from(5u64),
        gas_used: 21_000,
        effective_gas_price: 1,
        fee: crate::U256::from(21_000u64),
    };
    let raws: Vec<serde_bytes::ByteBuf> = vec![
        serde_bytes::ByteBuf::from(vec![1u8, 2, 3]),
        serde_bytes::ByteBuf::from(vec![4u8, 5]),
    ];
    let hashes: Vec<Hash> = raws.iter().map(crate::keccak256).collect();
    let receipts = vec![receipt(0, hashes[0]), receipt(1, hashes[1])];
    let header = Header {
        chain_id: 7,
        height: 9,
        parent_hash: Hash::from([3; 32]),
        timestamp_ms: 5,
        state_root: Hash::from([4; 32]),
        transactions_root: BlockFormat::PROPOSED.transactions_root(&hashes),
        receipts_root: BlockFormat::PROPOSED.receipts_root(&receipts),
        validator_set_hash: Hash::from([5; 32]),
        proposer: crate::primitives::Address::from([6; 20]),
        format: BlockFormat::PROPOSED,
    };
    let block = CertifiedBlock {
        header,
        certificate: QuorumCertificate {
            height: 9,
            block_hash: header.hash(),
            votes: Vec::new(),
        },
        transactions: raws,
        receipts,
    };
    (block, hashes)
}

#[test]
fn archived_answers_equal_the_hot_ones() {
    let (block, hashes) = two_transfer_block();
    let (header, receipts) = (block.header, block.receipts.clone());
    let bytes = block.encode();
    let decoded = decode_archived_block(&bytes, 9, Some(&header.hash())).expect("decodes");
    assert_eq!(decoded, block);
    assert!(decode_archived_block(&bytes, 8, None).is_err());
    assert!(decode_archived_block(&bytes, 9, Some(&Hash::ZERO)).is_err());
    assert!(decode_archived_block(b"junk", 9, None).is_err());

    let answer = archived_block_answer(&block);
    assert_eq!(answer.transactions, hashes);
    assert_eq!(answer.hash, header.hash());
    assert_eq!(
        archived_tx_answer(&block, 1, &hashes[1]),
        Some(TxStatusAnswer::committed(9, header.hash(), receipts[1]))
    );
    assert_eq!(archived_tx_answer(&block, 1, &hashes[0]), None);
    assert_eq!(archived_tx_answer(&block, 2, &hashes[1]), None);
}

#[test]
fn a_copy_read_back_is_checked_against_the_bytes_handed_out() {
    let (block, _) = two_transfer_block();
    let (bytes, hash) = (block.encode(), block.hash());
    let mut handed_out = HandedOut::default();
    // Not handed out (a restart since): decoded and checked, so a good copy passes.
    assert_eq!(handed_out.check_copy(&bytes, 9, &hash), Ok(()));
    assert!(handed_out.check_copy(&bytes, 9, &Hash::ZERO).is_err());

    handed_out.record(9, hash, &bytes);
    assert_eq!(handed_out.check_copy(&bytes, 9, &hash), Ok(()));
    // One byte changed anywhere (here in the last receipt) is refused.
    let mut changed = bytes.clone();
    *changed.last_mut().expect("bytes") ^= 1;
    assert!(matches!(
        handed_out.check_copy(&changed, 9, &hash),
        Err(ArchiveError::ArchivedBlock { height: 9, .. })
    ));
    // The digest decides: a valid block that is not the bytes handed out is refused.
    let mut other = HandedOut::default();
    other.record(9, hash, b"other bytes");
    assert!(other.check_copy(&bytes, 9, &hash).is_err());
    // Another block expected at that height (after a restore): checked the long way.
    assert!(handed_out.check_copy(&bytes, 9, &Hash::ZERO).is_err());

    handed_out.forget_through(9);
    assert!(handed_out.digests.is_empty());
    for height in 0..3 * ARCHIVE_BLOCKS_PER_RUN_MAX {
        handed_out.record(height, hash, &bytes);
    }
    assert_eq!(
        handed_out.digests.len() as u64,
        2 * ARCHIVE_BLOCKS_PER_RUN_MAX
    );
    // The highest are kept; pruning forgets from the bottom, a restore everything.
    assert_eq!(
        handed_out.digests.keys().next().copied(),
        Some(ARCHIVE_BLOCKS_PER_RUN_MAX)
    );
    handed_out.forget_through(2 * ARCHIVE_BLOCKS_PER_RUN_MAX);
    assert_eq!(
        handed_out.digests.keys().next().copied(),
        Some(2 * ARCHIVE_BLOCKS_PER_RUN_MAX + 1)
    );
    handed_out.forget_all();
    assert!(handed_out.digests.is_empty());
}

#[test]
fn the_backup_digest_is_standard_sha256() {
    assert_eq!(
        sha256(b"abc").to_string(),
        "0xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn one_archiver_run_holds_the_lease_until_it_lets_go_or_it_expires() {
    let first = ArchiverLease::acquire(None, 1, 1_000, ARCHIVER_LEASE_MS).expect("free");
    assert_eq!(first.expires_at_ms, 1_000 + ARCHIVER_LEASE_MS);
    assert_eq!(
        ArchiverLease::acquire(Some(first), 2, 2_000, ARCHIVER_LEASE_MS),
        Err(ArchiveError::ArchiverBusy {
            until_ms: first.expires_at_ms
        })
    );
    // The holder renews; a stranger cannot release it; the holder can.
    assert!(ArchiverLease::acquire(Some(first), 1, 2_000, ARCHIVER_LEASE_MS).is_ok());
    assert_eq!(ArchiverLease::release(Some(first), 2), Some(first));
    assert_eq!(ArchiverLease::release(Some(first), 1), None);
    // A run that died: its lease expires.
    assert!(ArchiverLease::acquire(Some(first), 2, first.expires_at_ms, ARCHIVER_LEASE_MS).is_ok());
    // The length asked for is bounded both ways.
    let short = ArchiverLease::acquire(None, 1, 0, 1).expect("free");
    assert_eq!(short.expires_at_ms, ARCHIVER_LEASE_MS_MIN);
    let long = ArchiverLease::acquire(None, 1, 0, u64::MAX).expect("free");
    assert_eq!(long.expires_at_ms, ARCHIVER_LEASE_MS_MAX);
    assert!(check_lease_ms(ARCHIVER_LEASE_MS_MIN - 1).is_err());
    assert_eq!(check_lease_ms(15_000), Ok(15_000));
}

#[test]
fn a_restore_may_not_move_the_chain_back_or_onto_another_block() {
    let (ours, other) = (Hash::from([1; 32]), Hash::from([2; 32]));
    assert_eq!(check_no_rollback(0, &other, 5, &ours), Ok(()));
    assert_eq!(
        check_no_rollback(5, &ours, 5, &ours),
        Ok(()),
        "the block the chain is at"
    );
    assert!(matches!(
        check_no_rollback(5, &other, 5, &ours),
        Err(ArchiveError::WouldRollBack {
            head_height: 5,
            backup_height: 5
        })
    ));
    assert!(check_no_rollback(6, &ours, 5, &ours).is_err());
}

#[test]
fn archived_heights_are_one_through_archived_through_never_the_genesis() {
    assert!(!is_archived(0, 0));
    assert!(!is_archived(0, 5));
    assert!(!is_archived(1, 0));
    assert!(is_archived(1, 5));
    assert!(is_archived(5, 5));
    assert!(!is_archived(6, 5));
}
