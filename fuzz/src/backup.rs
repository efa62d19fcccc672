//! `backup_envelope`: the encrypted backup envelope (AES-256-GCM in chunks), the snapshot inside
//! it, and the backup index with its anti-rollback rules, as a restore reads them from IPFS and
//! KV.
//!
//! Every input is used four ways: as an envelope sealed with the fixed key
//! ([`crate::backup_key`]; the seeds are, so their mutations reach decryption and the snapshot),
//! as plaintext to seal and then damage (every change must be refused), as a snapshot, and as a
//! backup index.

use ledger::archive::{
    self, BACKUP_INDEX_BYTES_MAX, BACKUP_RETENTION_MAX, BackupIndex, BackupSchedule,
};
use ledger::backup::{
    self, BACKUP_HEADER_BYTES, BACKUP_NONCE_BYTES, BACKUP_TAG_BYTES, BackupError, BackupHeader,
    BackupHeaderFields, BackupKey, BackupReader, BackupResult, BackupWriter,
};
use ledger::keccak256;
use ledger::limits::BACKUP_CHUNK_BYTES_MIN;
use ledger::snapshot::{self, SnapshotError, SnapshotReader, SnapshotRecord};

use crate::{CHAIN_ID, backup_key, corpus, input_hash};

/// Uses `data` as an envelope, as plaintext, as a snapshot and as an index.
pub fn check(data: &[u8]) {
    let key = backup_key();
    check_envelope(&key, data);
    check_sealed(&key, data);
    check_snapshot(data, None);
    check_index(data);
}

/// Opens `data`: one-shot and streamed agree, and what opens is sealed again to the same bytes.
fn check_envelope(key: &BackupKey, data: &[u8]) {
    let opened = backup::open(key, data);
    assert_eq!(open_streamed(key, data, input_hash(data)), opened);
    let (header, plaintext) = match opened {
        Ok(opened) => opened,
        Err(error) => {
            // A header the reader refuses is refused for the same reason by the open.
            if let Err(header_error) = BackupHeader::decode(data) {
                assert_eq!(error, header_error);
            }
            return;
        }
    };
    assert_eq!(BackupHeader::decode(data), Ok(header));
    // Sealing is deterministic given the nonce: the envelope is the sealing of its plaintext.
    let chunk_bytes = header.chunk_bytes as usize;
    let sealed = backup::seal_chunked(key, header.nonce, header.fields, chunk_bytes, &plaintext)
        .expect("what opened seals again");
    assert!(
        sealed == data,
        "an envelope opened but is not the sealing of its plaintext"
    );
    let expected = backup::open_expecting(key, data, &header.fields);
    assert_eq!(expected, Ok((header, plaintext.clone())));
    let other = BackupHeaderFields {
        height: header.fields.height ^ 1,
        ..header.fields
    };
    assert!(matches!(
        backup::open_expecting(key, data, &other),
        Err(BackupError::HeaderMismatch { .. })
    ));
    check_snapshot(&plaintext, Some(header.fields));
}

/// Piece sizes from 1 to 97 bytes, drawn from `seed`.
fn pieces(bytes: &[u8], mut seed: u64) -> impl Iterator<Item = &[u8]> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let size = (1 + (seed >> 33) % 97) as usize;
        let (piece, after) = rest.split_at(size.min(rest.len()));
        rest = after;
        Some(piece)
    })
}

/// [`backup::open`] through a [`BackupReader`] fed in pieces of varying sizes.
fn open_streamed(key: &BackupKey, data: &[u8], seed: u64) -> BackupResult<(BackupHeader, Vec<u8>)> {
    let mut reader = BackupReader::new(key);
    let mut plaintext = Vec::new();
    for piece in pieces(data, seed) {
        for chunk in reader.push(piece)? {
            plaintext.extend_from_slice(&chunk);
        }
        assert!(reader.header().is_some() || plaintext.is_empty());
    }
    let (header, last) = reader.finish()?;
    plaintext.extend_from_slice(&last);
    Ok((header, plaintext))
}

/// Seals `data` (chunk size and nonce drawn from it), opens it, then damages it: a flipped bit,
/// a cut, an extra byte, two chunks swapped and another key must all be refused.
fn check_sealed(key: &BackupKey, data: &[u8]) {
    let Some((&first, plaintext)) = data.split_first() else {
        return;
    };
    let hash = input_hash(data);
    let chunk_bytes = BACKUP_CHUNK_BYTES_MIN + usize::from(first % 64);
    let mut nonce = [0u8; BACKUP_NONCE_BYTES];
    nonce[..8].copy_from_slice(&hash.to_be_bytes());
    let fields = BackupHeaderFields {
        chain_id: CHAIN_ID,
        height: hash >> 8,
        state_root: keccak256(data),
    };
    let sealed = backup::seal_chunked(key, nonce, fields, chunk_bytes, plaintext)
        .expect("a small plaintext seals");
    let chunks = plaintext.len().div_ceil(chunk_bytes).max(1);
    assert_eq!(
        sealed.len(),
        BACKUP_HEADER_BYTES + plaintext.len() + BACKUP_TAG_BYTES * chunks
    );
    // The streaming writer, fed in pieces, writes the same bytes.
    let mut writer = BackupWriter::new(key, nonce, fields, chunk_bytes).expect("a writer");
    let mut streamed = Vec::new();
    for piece in pieces(plaintext, hash) {
        writer
            .push_into(piece, &mut streamed)
            .expect("a small plaintext seals");
    }
    writer.finish_into(&mut streamed);
    assert!(
        streamed == sealed,
        "the streaming writer and seal_chunked disagree"
    );
    let header = BackupHeader::decode(&sealed).expect("a sealed header decodes");
    assert_eq!(backup::open(key, &sealed), Ok((header, plaintext.to_vec())));
    check_damage(key, &sealed, chunk_bytes, hash);
}

fn check_damage(key: &BackupKey, sealed: &[u8], chunk_bytes: usize, hash: u64) {
    let refused = |bytes: &[u8], what: &str| {
        assert!(backup::open(key, bytes).is_err(), "{what} was not refused");
    };
    let position = (hash % sealed.len() as u64) as usize;
    let mut flipped = sealed.to_vec();
    flipped[position] ^= 1 << ((hash >> 32) % 8);
    refused(&flipped, "a flipped bit");
    refused(&sealed[..position], "a cut envelope");
    let mut longer = sealed.to_vec();
    longer.push((hash >> 40) as u8);
    refused(&longer, "an extra byte");
    let sealed_chunk = chunk_bytes + BACKUP_TAG_BYTES;
    let chunks = BACKUP_HEADER_BYTES..BACKUP_HEADER_BYTES + 2 * sealed_chunk;
    if sealed.len() >= chunks.end {
        let mut swapped = sealed.to_vec();
        let (first, second) = swapped[chunks].split_at_mut(sealed_chunk);
        if first != second {
            first.swap_with_slice(second);
            refused(&swapped, "two chunks swapped");
        }
    }
    let mut other_key = crate::BACKUP_KEY_BYTES;
    other_key[0] ^= 1;
    assert!(matches!(
        backup::open(&BackupKey::new(other_key), sealed),
        Err(BackupError::Authentication { chunk: 0 })
    ));
}

/// Reads `plaintext` as snapshot records, in one piece and streamed, re-encodes them, and
/// verifies them against the seeds' chain (the full restore check).
fn check_snapshot(plaintext: &[u8], expected: Option<BackupHeaderFields>) {
    let (records, outcome) = read_records(std::iter::once(plaintext));
    // Streamed, the same records, or the same refusal (a push that fails returns no records,
    // so the records before the bad one differ with the split).
    let (streamed, streamed_outcome) = read_records(pieces(plaintext, input_hash(plaintext)));
    assert_eq!(streamed_outcome, outcome);
    if outcome.is_ok() {
        assert_eq!(streamed, records);
    }
    let encoded: Vec<u8> = records.iter().flat_map(SnapshotRecord::encode).collect();
    assert_eq!(
        read_records(std::iter::once(&encoded[..])),
        (records, Ok(()))
    );
    let verified = snapshot::read_verified(plaintext, corpus::chain_config(), expected);
    if outcome.is_err() {
        assert!(verified.is_err());
    }
    if let Ok((verified, accounts)) = verified {
        assert_eq!(verified.manifest.header.chain_id, CHAIN_ID);
        assert_eq!(verified.accounts, accounts.len() as u64);
    }
}

/// The records of a snapshot fed in `pieces`, and how reading it ended.
fn read_records<'a>(
    pieces: impl Iterator<Item = &'a [u8]>,
) -> (Vec<SnapshotRecord>, Result<(), SnapshotError>) {
    let mut reader = SnapshotReader::new();
    let mut records = Vec::new();
    for piece in pieces {
        match reader.push(piece) {
            Ok(more) => records.extend(more),
            Err(error) => return (records, Err(error)),
        }
    }
    (records, reader.finish())
}

/// Reads `data` as a backup index and exercises the anti-rollback rules on it.
fn check_index(data: &[u8]) {
    let mut index = match BackupIndex::decode(data) {
        Ok(index) => index,
        Err(error) => {
            error.status_and_code();
            return;
        }
    };
    assert_eq!(BackupIndex::decode(&index.encode()).as_ref(), Ok(&index));
    let Some(latest) = index.latest().cloned() else {
        assert!(index.history.is_empty());
        return;
    };
    // Only the latest backup may be restored, and never onto a chain past it or beside it.
    match index.restorable(&latest.cid) {
        Ok(record) => assert_eq!(record, &latest),
        Err(_) => assert!(archive::check_cid(&latest.cid).is_err()),
    }
    for older in &index.history {
        assert!(older.height < latest.height);
        if older.cid != latest.cid {
            assert!(index.restorable(&older.cid).is_err());
        }
    }
    let (height, hash) = (latest.height, latest.block_hash);
    let other_hash = keccak256(hash.as_bytes());
    assert!(archive::check_no_rollback(height, &hash, height, &hash).is_ok());
    assert!(archive::check_no_rollback(height, &other_hash, height, &hash).is_err());
    if let Some(past) = height.checked_add(1) {
        assert!(archive::check_no_rollback(past, &hash, height, &hash).is_err());
    }
    if let Some(before) = height.checked_sub(1) {
        assert!(archive::check_no_rollback(before, &other_hash, height, &hash).is_ok());
    }
    let fetched =
        archive::check_fetched(&latest, latest.ciphertext_bytes, &latest.ciphertext_sha256);
    assert!(fetched.is_ok());
    let schedule = BackupSchedule::new(1, 1_000, 8).expect("a valid schedule");
    for head in [0, height, u64::MAX] {
        for now_ms in [0, latest.created_at_ms, u64::MAX] {
            schedule.due(&index, head, now_ms);
        }
    }
    check_publish(&mut index, input_hash(data));
}

/// Publishing a newer backup keeps the index valid and within its retention; an older one is
/// refused.
fn check_publish(index: &mut BackupIndex, hash: u64) {
    let Some(latest) = index.latest().cloned() else {
        return;
    };
    let mut stale = latest.clone();
    stale.cid = "stale".to_owned();
    assert!(index.clone().publish(stale, 8).is_err());
    let Some(height) = latest.height.checked_add(1) else {
        return;
    };
    let retention = 1 + (hash % BACKUP_RETENTION_MAX as u64) as usize;
    let mut record = latest;
    record.height = height;
    record.cid = format!("bafy{height}");
    let before = 1 + index.history.len();
    let dropped = index
        .publish(record.clone(), retention)
        .expect("a newer backup publishes");
    assert_eq!(index.latest(), Some(&record));
    assert!(index.history.len() < retention);
    assert_eq!(1 + index.history.len() + dropped.len(), before + 1);
    let encoded = index.encode();
    if encoded.len() <= BACKUP_INDEX_BYTES_MAX {
        assert_eq!(BackupIndex::decode(&encoded).as_ref(), Ok(&*index));
    }
}
