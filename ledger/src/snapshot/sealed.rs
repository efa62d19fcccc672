//! A snapshot inside its encrypted envelope: [`SnapshotSealer`] writes records straight into a
//! [`BackupWriter`], and [`SnapshotOpener`] takes envelope bytes as they arrive (from a
//! gateway, a file) and gives back verified records, checking the size and SHA-256 the backup
//! index recorded once the last byte is in.

use crate::archive::{self, ArchiveError, ArchiveResult, BackupRecord};
use crate::backup::{BackupKey, BackupNonce, BackupReader, BackupWriter};
use crate::genesis::ChainConfig;
use crate::limits::BACKUP_CHUNK_BYTES_DEFAULT;
use crate::primitives::{Address, Hash};
use crate::state::Account;

use super::{
    ShardStart, SnapshotCheck, SnapshotEnd, SnapshotManifest, SnapshotReader, SnapshotRecord,
    VerifiedSnapshot,
};

/// Incremental SHA-256 of a backup's ciphertext (see [`archive::sha256`]).
#[derive(Clone, Default)]
pub struct BackupDigest(sha2::Sha256);

impl BackupDigest {
    /// Adds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        sha2::Digest::update(&mut self.0, bytes);
    }

    /// The digest of everything added.
    pub fn finish(self) -> Hash {
        Hash(sha2::Digest::finalize(self.0).into())
    }
}

/// What sealing produced.
pub struct SealedSnapshot {
    /// The envelope bytes not yet taken with [`SnapshotSealer::take_ready`] (all of them if
    /// none were).
    pub ciphertext: Vec<u8>,
    /// Bytes of the whole envelope.
    pub bytes: u64,
    /// SHA-256 of the whole envelope.
    pub sha256: Hash,
    /// Accounts in the snapshot.
    pub accounts: u64,
}

/// Writes a snapshot's records into an encrypted envelope, holding one chunk of plaintext and
/// the ciphertext not yet taken: a caller that uploads as it goes
/// ([`Self::take_ready`]) needs memory for a chunk, not for the backup. The envelope is at most
/// [`crate::limits::BACKUP_BYTES_MAX`], enforced by the writer.
pub struct SnapshotSealer {
    writer: BackupWriter,
    ciphertext: Vec<u8>,
    digest: BackupDigest,
    bytes: u64,
    shards: u32,
    accounts: u64,
}

impl SnapshotSealer {
    /// Starts a backup of `manifest`'s block, sealed with `key` and a fresh random `nonce`.
    pub fn new(
        key: &BackupKey,
        nonce: BackupNonce,
        manifest: SnapshotManifest,
    ) -> ArchiveResult<Self> {
        let writer = BackupWriter::new(key, nonce, manifest.fields(), BACKUP_CHUNK_BYTES_DEFAULT)?;
        let mut sealer = Self {
            writer,
            ciphertext: Vec::new(),
            digest: BackupDigest::default(),
            bytes: 0,
            shards: 0,
            accounts: 0,
        };
        sealer.push(&SnapshotRecord::Manifest(Box::new(manifest)))?;
        Ok(sealer)
    }

    fn push(&mut self, record: &SnapshotRecord) -> ArchiveResult<()> {
        self.writer
            .push_into(&record.encode(), &mut self.ciphertext)
            .map_err(ArchiveError::from)
    }

    /// Starts the next shard, which will have `start.accounts` accounts.
    pub fn shard(&mut self, start: ShardStart) -> ArchiveResult<()> {
        self.shards += 1;
        self.push(&SnapshotRecord::ShardStart(start))
    }

    /// Adds a page of the current shard's accounts, in address order.
    pub fn accounts(&mut self, page: Vec<(Address, Account)>) -> ArchiveResult<()> {
        self.accounts += page.len() as u64;
        self.push(&SnapshotRecord::Accounts(page))
    }

    /// The envelope bytes sealed so far and not yet taken, in order.
    pub fn take_ready(&mut self) -> Vec<u8> {
        let ready = std::mem::take(&mut self.ciphertext);
        self.digest.update(&ready);
        self.bytes += ready.len() as u64;
        ready
    }

    /// Writes the end record and seals the last chunk.
    pub fn finish(mut self) -> ArchiveResult<SealedSnapshot> {
        let end = SnapshotEnd {
            shards: self.shards,
            accounts: self.accounts,
        };
        self.push(&SnapshotRecord::End(end))?;
        let mut rest = std::mem::take(&mut self.ciphertext);
        self.writer.finish_into(&mut rest);
        self.digest.update(&rest);
        Ok(SealedSnapshot {
            bytes: self.bytes + rest.len() as u64,
            sha256: self.digest.finish(),
            ciphertext: rest,
            accounts: self.accounts,
        })
    }
}

/// Opens a backup as its bytes arrive: decrypts each chunk once it authenticates, splits the
/// plaintext into records and verifies them ([`SnapshotCheck`]), while hashing the ciphertext.
/// Records it returns are provisional until [`Self::finish`] succeeds: only then are the size,
/// the digest, the envelope's end and the whole snapshot known good.
///
/// A chunk that fails to authenticate is not reported at once: the opener keeps hashing, so
/// that [`Self::finish`] can tell altered bytes (the digest differs from the index's) from a
/// wrong key (the digest matches, the chunk still does not open).
pub struct SnapshotOpener<'a> {
    record: &'a BackupRecord,
    reader: BackupReader,
    records: SnapshotReader,
    check: SnapshotCheck<'a>,
    digest: BackupDigest,
    bytes: u64,
    envelope_failure: Option<crate::backup::BackupError>,
}

impl<'a> SnapshotOpener<'a> {
    /// An opener for the backup `record` describes, of `config`'s chain.
    pub fn new(key: &BackupKey, config: &'a ChainConfig, record: &'a BackupRecord) -> Self {
        let fields = crate::backup::BackupHeaderFields {
            chain_id: record.chain_id,
            height: record.height,
            state_root: record.state_root,
        };
        Self {
            record,
            reader: BackupReader::expecting(key, fields),
            records: SnapshotReader::new(),
            check: SnapshotCheck::new(config, Some(fields)),
            digest: BackupDigest::default(),
            bytes: 0,
            envelope_failure: None,
        }
    }

    /// Takes more envelope bytes; returns the records they complete, each already checked.
    pub fn push(&mut self, bytes: &[u8]) -> ArchiveResult<Vec<SnapshotRecord>> {
        self.digest.update(bytes);
        self.bytes += bytes.len() as u64;
        if self.bytes > self.record.ciphertext_bytes {
            return Err(ArchiveError::SizeMismatch {
                expected: self.record.ciphertext_bytes,
                got: self.bytes,
            });
        }
        if self.envelope_failure.is_some() {
            return Ok(Vec::new());
        }
        let plaintexts = match self.reader.push(bytes) {
            Ok(plaintexts) => plaintexts,
            Err(failure) => {
                self.envelope_failure = Some(failure);
                return Ok(Vec::new());
            }
        };
        let mut records = Vec::new();
        for plaintext in plaintexts {
            records.extend(take(&mut self.records, &mut self.check, &plaintext)?);
        }
        Ok(records)
    }

    /// The envelope is complete: checks the size and digest against the index, opens the last
    /// chunk, and finishes the snapshot's verification. Returns the last records and the
    /// verified snapshot.
    pub fn finish(self) -> ArchiveResult<(Vec<SnapshotRecord>, VerifiedSnapshot)> {
        let Self {
            record,
            reader,
            mut records,
            mut check,
            digest,
            bytes,
            envelope_failure,
        } = self;
        archive::check_fetched(record, bytes, &digest.finish())?;
        if let Some(failure) = envelope_failure {
            return Err(failure.into());
        }
        let (_, last) = reader.finish()?;
        let last_records = take(&mut records, &mut check, &last)?;
        records.finish()?;
        Ok((last_records, check.finish()?))
    }
}

/// Splits plaintext into records and checks each.
fn take(
    records: &mut SnapshotReader,
    check: &mut SnapshotCheck<'_>,
    plaintext: &[u8],
) -> ArchiveResult<Vec<SnapshotRecord>> {
    let taken = records.push(plaintext)?;
    for record in &taken {
        check.record(record)?;
    }
    Ok(taken)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::PinningBackend;
    use crate::backup::BackupError;
    use crate::snapshot::tests::fixture;

    fn seal(fixture: &crate::snapshot::tests::Fixture) -> (SealedSnapshot, BackupRecord) {
        let key = BackupKey::new([7; 32]);
        let mut sealer =
            SnapshotSealer::new(&key, [9; 12], fixture.manifest.clone()).expect("starts");
        for record in fixture.records(6) {
            match record {
                SnapshotRecord::ShardStart(start) => sealer.shard(start).expect("shard"),
                SnapshotRecord::Accounts(page) => sealer.accounts(page).expect("page"),
                _ => {}
            }
        }
        let sealed = sealer.finish().expect("seals");
        assert_eq!(sealed.bytes, sealed.ciphertext.len() as u64);
        let record = BackupRecord::sealed(
            "QmTest".to_owned(),
            &fixture.manifest.header,
            &sealed,
            1,
            PinningBackend::Kubo,
            None,
        );
        (sealed, record)
    }

    fn open(
        key: &BackupKey,
        fixture: &crate::snapshot::tests::Fixture,
        record: &BackupRecord,
        bytes: &[u8],
        piece: usize,
    ) -> ArchiveResult<(Vec<SnapshotRecord>, VerifiedSnapshot)> {
        let mut opener = SnapshotOpener::new(key, &fixture.config, record);
        let mut records = Vec::new();
        for chunk in bytes.chunks(piece) {
            records.extend(opener.push(chunk)?);
        }
        let (last, verified) = opener.finish()?;
        records.extend(last);
        Ok((records, verified))
    }

    #[test]
    fn a_sealed_snapshot_opens_to_the_same_records() {
        let fixture = fixture();
        let (sealed, record) = seal(&fixture);
        let key = BackupKey::new([7; 32]);
        let (records, verified) =
            open(&key, &fixture, &record, &sealed.ciphertext, 1000).expect("opens");
        assert_eq!(records, fixture.records(6));
        assert_eq!(verified.accounts, 40);
        assert_eq!(sealed.sha256, archive::sha256(&sealed.ciphertext));
    }

    #[test]
    fn taking_the_envelope_as_it_is_sealed_gives_the_same_bytes_and_digest() {
        let fixture = fixture();
        let (whole, _) = seal(&fixture);
        let key = BackupKey::new([7; 32]);
        let mut sealer =
            SnapshotSealer::new(&key, [9; 12], fixture.manifest.clone()).expect("starts");
        let mut taken = sealer.take_ready();
        for record in fixture.records(6) {
            match record {
                SnapshotRecord::ShardStart(start) => sealer.shard(start).expect("shard"),
                SnapshotRecord::Accounts(page) => sealer.accounts(page).expect("page"),
                _ => {}
            }
            taken.extend(sealer.take_ready());
        }
        let rest = sealer.finish().expect("seals");
        taken.extend(&rest.ciphertext);
        assert_eq!(taken, whole.ciphertext);
        assert_eq!((rest.bytes, rest.sha256), (whole.bytes, whole.sha256));
    }

    #[test]
    fn altered_bytes_are_a_digest_mismatch_and_a_wrong_key_an_authentication_failure() {
        let fixture = fixture();
        let (sealed, record) = seal(&fixture);
        let key = BackupKey::new([7; 32]);
        let mut flipped = sealed.ciphertext.clone();
        flipped[200] ^= 1;
        assert!(matches!(
            open(&key, &fixture, &record, &flipped, 64),
            Err(ArchiveError::DigestMismatch { .. })
        ));
        assert!(matches!(
            open(
                &BackupKey::new([8; 32]),
                &fixture,
                &record,
                &sealed.ciphertext,
                64
            ),
            Err(ArchiveError::Envelope(BackupError::Authentication {
                chunk: 0
            }))
        ));
        let cut = &sealed.ciphertext[..sealed.ciphertext.len() - 1];
        assert!(matches!(
            open(&key, &fixture, &record, cut, 64),
            Err(ArchiveError::SizeMismatch { .. })
        ));
        let mut longer = sealed.ciphertext.clone();
        longer.push(0);
        assert!(matches!(
            open(&key, &fixture, &record, &longer, 64),
            Err(ArchiveError::SizeMismatch { .. })
        ));
    }

    #[test]
    fn a_backup_of_another_height_than_the_index_says_is_refused() {
        let fixture = fixture();
        let (sealed, mut record) = seal(&fixture);
        record.height += 1;
        let key = BackupKey::new([7; 32]);
        assert!(matches!(
            open(&key, &fixture, &record, &sealed.ciphertext, 64),
            Err(ArchiveError::Envelope(BackupError::HeaderMismatch { .. }))
        ));
    }
}
