//! The state snapshot inside a backup envelope: a certified block and every account at its
//! height, written and checked record by record, so neither side needs the whole state (or
//! more than one shard of it) in memory.
//!
//! The plaintext is a sequence of records, each `tag (1 byte) ‖ length (4 bytes, big-endian) ‖
//! canonical MessagePack payload`:
//!
//! ```text
//! manifest       the block's header, its quorum certificate, every shard root
//! per shard i = 0, 1, …, in order:
//!   shard start  i and its account count
//!   accounts     pages of (address, account), addresses strictly increasing
//! end            shard and account totals
//! ```
//!
//! [`SnapshotCheck`] verifies a snapshot as it streams past: the certificate against the
//! validator set, the shard roots against the header's state root, and each shard's accounts
//! against its root, by rebuilding that shard's tree when the shard ends. A restore accepts a
//! snapshot only when [`SnapshotCheck::finish`] succeeds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::backup::BackupHeaderFields;
use crate::block::Header;
use crate::codec;
use crate::consensus::QuorumCertificate;
use crate::genesis::ChainConfig;
use crate::primitives::{Address, Hash, U256};
use crate::state::{Account, ShardIndex};
use crate::trie::{MemoryTrieStore, NodePosition, Trie, root_over_shards};

/// The snapshot format this code writes and reads.
pub const SNAPSHOT_FORMAT: u16 = 1;

/// Most accounts in one accounts record (a page read from a shard).
pub const SNAPSHOT_PAGE_ACCOUNTS_MAX: usize = 4_096;

/// Bytes of one record's payload: a full page of accounts at about 60 bytes each, generously.
pub const SNAPSHOT_RECORD_BYTES_MAX: usize = 128 * SNAPSHOT_PAGE_ACCOUNTS_MAX;

/// Bytes of a record's framing: tag and length.
const FRAME_BYTES: usize = 5;

const MANIFEST_TAG: u8 = 1;
const SHARD_START_TAG: u8 = 2;
const ACCOUNTS_TAG: u8 = 3;
const END_TAG: u8 = 4;

/// What a snapshot is of: a certified block and the shard roots after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotManifest {
    /// [`SNAPSHOT_FORMAT`].
    pub format: u16,
    /// The block's header.
    pub header: Header,
    /// Its quorum certificate.
    pub certificate: QuorumCertificate,
    /// Every shard's root after the block.
    pub shard_roots: Vec<Hash>,
}

impl SnapshotManifest {
    /// The envelope header fields a backup of this snapshot carries.
    pub fn fields(&self) -> BackupHeaderFields {
        BackupHeaderFields {
            chain_id: self.header.chain_id,
            height: self.header.height,
            state_root: self.header.state_root,
        }
    }
}

/// The start of one shard's accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardStart {
    /// The shard.
    pub shard: ShardIndex,
    /// How many accounts follow for it.
    pub accounts: u64,
}

/// The end of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotEnd {
    /// Shards written.
    pub shards: u32,
    /// Accounts written.
    pub accounts: u64,
}

/// One record of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotRecord {
    /// The first record.
    Manifest(Box<SnapshotManifest>),
    /// A shard begins.
    ShardStart(ShardStart),
    /// A page of the current shard's accounts.
    Accounts(Vec<(Address, Account)>),
    /// The last record.
    End(SnapshotEnd),
}

impl SnapshotRecord {
    /// The framed record: tag, length, canonical payload.
    pub fn encode(&self) -> Vec<u8> {
        let (tag, payload) = match self {
            Self::Manifest(manifest) => (MANIFEST_TAG, codec::encode(manifest)),
            Self::ShardStart(start) => (SHARD_START_TAG, codec::encode(start)),
            Self::Accounts(accounts) => (ACCOUNTS_TAG, codec::encode(accounts)),
            Self::End(end) => (END_TAG, codec::encode(end)),
        };
        debug_assert!(payload.len() <= SNAPSHOT_RECORD_BYTES_MAX);
        let mut framed = Vec::with_capacity(FRAME_BYTES + payload.len());
        framed.push(tag);
        // Payloads are bounded far below 4 GiB (SNAPSHOT_RECORD_BYTES_MAX).
        framed.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        framed.extend_from_slice(&payload);
        framed
    }

    fn decode(tag: u8, payload: &[u8]) -> SnapshotResult<Self> {
        let limit = SNAPSHOT_RECORD_BYTES_MAX;
        let malformed = |error: codec::CodecError| SnapshotError::Malformed(error.to_string());
        Ok(match tag {
            MANIFEST_TAG => {
                Self::Manifest(Box::new(codec::decode(payload, limit).map_err(malformed)?))
            }
            SHARD_START_TAG => Self::ShardStart(codec::decode(payload, limit).map_err(malformed)?),
            ACCOUNTS_TAG => {
                let accounts: Vec<(Address, Account)> =
                    codec::decode(payload, limit).map_err(malformed)?;
                if accounts.len() > SNAPSHOT_PAGE_ACCOUNTS_MAX {
                    return Err(SnapshotError::Malformed(format!(
                        "a page of {} accounts (at most {SNAPSHOT_PAGE_ACCOUNTS_MAX})",
                        accounts.len()
                    )));
                }
                Self::Accounts(accounts)
            }
            END_TAG => Self::End(codec::decode(payload, limit).map_err(malformed)?),
            other => {
                return Err(SnapshotError::Malformed(format!(
                    "unknown record tag {other}"
                )));
            }
        })
    }
}

/// Why a snapshot does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The bytes are not a sequence of records.
    #[error("malformed snapshot: {0}")]
    Malformed(String),
    /// Records arrived in an order the format does not allow.
    #[error("unexpected record: {0}")]
    Order(String),
    /// The snapshot is of another chain, height or root than expected.
    #[error("the snapshot is of {got}, expected {expected}")]
    WrongSubject {
        /// Expected (from the envelope or the index).
        expected: BackupHeaderFields,
        /// What the manifest says.
        got: BackupHeaderFields,
    },
    /// The certificate is not valid for the header under the chain's validator set.
    #[error("the block's certificate does not verify: {0}")]
    Certificate(String),
    /// The shard roots do not give the header's state root, or do not fit the layout.
    #[error("the shard roots do not give the header's state root")]
    ShardRoots,
    /// An account outside its shard, out of order, or duplicated.
    #[error("account {address} is out of place in shard {shard}")]
    AccountOutOfPlace {
        /// The shard being read.
        shard: ShardIndex,
        /// The account.
        address: Address,
    },
    /// A shard's accounts do not hash to its recorded root.
    #[error("shard {shard}'s accounts hash to {computed}, the certified root is {expected}")]
    ShardRoot {
        /// The shard.
        shard: ShardIndex,
        /// The certified root.
        expected: Hash,
        /// The root of the accounts given.
        computed: Hash,
    },
    /// Counts in a shard start or the end record do not match the accounts given.
    #[error("{what}: declared {declared}, found {found}")]
    Count {
        /// Which count.
        what: &'static str,
        /// The count declared.
        declared: u64,
        /// The count found.
        found: u64,
    },
}

/// Result alias for snapshots.
pub type SnapshotResult<T> = Result<T, SnapshotError>;

/// Splits plaintext, fed in pieces of any size, into records.
#[derive(Debug, Default)]
pub struct SnapshotReader {
    buffer: Vec<u8>,
}

impl SnapshotReader {
    /// A reader at the start of a snapshot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds plaintext; returns the records it completes.
    pub fn push(&mut self, bytes: &[u8]) -> SnapshotResult<Vec<SnapshotRecord>> {
        self.buffer.extend_from_slice(bytes);
        let mut records = Vec::new();
        let mut consumed = 0;
        while let Some((record, length)) = next_record(&self.buffer[consumed..])? {
            records.push(record);
            consumed += length;
        }
        self.buffer.drain(..consumed);
        Ok(records)
    }

    /// Checks that the plaintext ended at a record boundary.
    pub fn finish(self) -> SnapshotResult<()> {
        if self.buffer.is_empty() {
            Ok(())
        } else {
            Err(SnapshotError::Malformed(format!(
                "{} bytes after the last record",
                self.buffer.len()
            )))
        }
    }
}

/// The first complete record of `bytes` and its framed length, `None` if incomplete.
fn next_record(bytes: &[u8]) -> SnapshotResult<Option<(SnapshotRecord, usize)>> {
    let Some(frame) = bytes.get(..FRAME_BYTES) else {
        return Ok(None);
    };
    let length = u32::from_be_bytes([frame[1], frame[2], frame[3], frame[4]]) as usize;
    if length > SNAPSHOT_RECORD_BYTES_MAX {
        return Err(SnapshotError::Malformed(format!(
            "a record of {length} bytes (at most {SNAPSHOT_RECORD_BYTES_MAX})"
        )));
    }
    let Some(payload) = bytes.get(FRAME_BYTES..FRAME_BYTES + length) else {
        return Ok(None);
    };
    Ok(Some((
        SnapshotRecord::decode(frame[0], payload)?,
        FRAME_BYTES + length,
    )))
}

/// What a verified snapshot holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSnapshot {
    /// Its manifest (block, certificate, shard roots).
    pub manifest: SnapshotManifest,
    /// Accounts in it.
    pub accounts: u64,
    /// The sum of every balance.
    pub total_supply: U256,
}

/// Where the check is in the record sequence.
#[derive(Debug)]
enum Stage {
    Manifest,
    Shards {
        manifest: SnapshotManifest,
        /// The shard being read and its accounts so far.
        current: Option<(ShardStart, BTreeMap<Address, Account>)>,
        /// The next shard expected.
        next: u32,
    },
    Done(VerifiedSnapshot),
}

/// Verifies a snapshot record by record. Holds one shard's accounts at a time.
#[derive(Debug)]
pub struct SnapshotCheck<'a> {
    config: &'a ChainConfig,
    expected: Option<BackupHeaderFields>,
    stage: Stage,
    accounts: u64,
    total_supply: U256,
}

impl<'a> SnapshotCheck<'a> {
    /// A check for a snapshot of `config`'s chain; with `expected`, also of that height and
    /// root (what the envelope header or the index says).
    pub fn new(config: &'a ChainConfig, expected: Option<BackupHeaderFields>) -> Self {
        Self {
            config,
            expected,
            stage: Stage::Manifest,
            accounts: 0,
            total_supply: U256::ZERO,
        }
    }

    /// Takes the next record.
    pub fn record(&mut self, record: &SnapshotRecord) -> SnapshotResult<()> {
        let stage = std::mem::replace(&mut self.stage, Stage::Manifest);
        self.stage = match (stage, record) {
            (Stage::Manifest, SnapshotRecord::Manifest(manifest)) => {
                self.check_manifest(manifest)?;
                Stage::Shards {
                    manifest: (**manifest).clone(),
                    current: None,
                    next: 0,
                }
            }
            (
                Stage::Shards {
                    manifest,
                    current,
                    next,
                },
                record,
            ) => self.shard_record(manifest, current, next, record)?,
            (_, record) => {
                return Err(SnapshotError::Order(record_name(record).to_owned()));
            }
        };
        Ok(())
    }

    /// The verified snapshot, once its end record was taken.
    pub fn finish(self) -> SnapshotResult<VerifiedSnapshot> {
        match self.stage {
            Stage::Done(verified) => Ok(verified),
            _ => Err(SnapshotError::Order(
                "the snapshot ends before its end record".to_owned(),
            )),
        }
    }

    fn check_manifest(&self, manifest: &SnapshotManifest) -> SnapshotResult<()> {
        if manifest.format != SNAPSHOT_FORMAT {
            return Err(SnapshotError::Malformed(format!(
                "snapshot format {} (this build reads {SNAPSHOT_FORMAT})",
                manifest.format
            )));
        }
        let got = manifest.fields();
        let expected = self.expected.unwrap_or(BackupHeaderFields {
            chain_id: self.config.chain_id,
            ..got
        });
        if got != expected {
            return Err(SnapshotError::WrongSubject { expected, got });
        }
        manifest
            .certificate
            .verify(
                &self.config.validators,
                self.config.chain_id,
                &manifest.header,
            )
            .map_err(|error| SnapshotError::Certificate(error.to_string()))?;
        let shard_count = self.config.layout().shard_count() as usize;
        if manifest.shard_roots.len() != shard_count
            || root_over_shards(&manifest.shard_roots) != manifest.header.state_root
        {
            return Err(SnapshotError::ShardRoots);
        }
        Ok(())
    }

    fn shard_record(
        &mut self,
        manifest: SnapshotManifest,
        current: Option<(ShardStart, BTreeMap<Address, Account>)>,
        next: u32,
        record: &SnapshotRecord,
    ) -> SnapshotResult<Stage> {
        let shard_count = manifest.shard_roots.len() as u32;
        match record {
            SnapshotRecord::ShardStart(start) => {
                if let Some(done) = current {
                    self.close_shard(&manifest, done)?;
                }
                if u32::from(start.shard) != next || next >= shard_count {
                    return Err(SnapshotError::Order(format!(
                        "shard {} where shard {next} of {shard_count} was expected",
                        start.shard
                    )));
                }
                Ok(Stage::Shards {
                    manifest,
                    current: Some((*start, BTreeMap::new())),
                    next: next + 1,
                })
            }
            SnapshotRecord::Accounts(page) => {
                let Some((start, mut accounts)) = current else {
                    return Err(SnapshotError::Order("accounts before a shard".to_owned()));
                };
                self.add_page(start.shard, &mut accounts, page)?;
                Ok(Stage::Shards {
                    manifest,
                    current: Some((start, accounts)),
                    next,
                })
            }
            SnapshotRecord::End(end) => {
                if let Some(done) = current {
                    self.close_shard(&manifest, done)?;
                }
                if next != shard_count || end.shards != shard_count {
                    return Err(SnapshotError::Count {
                        what: "shards",
                        declared: u64::from(end.shards),
                        found: u64::from(next),
                    });
                }
                if end.accounts != self.accounts {
                    return Err(SnapshotError::Count {
                        what: "accounts",
                        declared: end.accounts,
                        found: self.accounts,
                    });
                }
                Ok(Stage::Done(VerifiedSnapshot {
                    manifest,
                    accounts: self.accounts,
                    total_supply: self.total_supply,
                }))
            }
            SnapshotRecord::Manifest(_) => Err(SnapshotError::Order("a second manifest".into())),
        }
    }

    fn add_page(
        &mut self,
        shard: ShardIndex,
        accounts: &mut BTreeMap<Address, Account>,
        page: &[(Address, Account)],
    ) -> SnapshotResult<()> {
        let layout = self.config.layout();
        for (address, account) in page {
            let increasing = accounts
                .last_key_value()
                .is_none_or(|(last, _)| address > last);
            if layout.shard_of(address) != shard || !increasing {
                return Err(SnapshotError::AccountOutOfPlace {
                    shard,
                    address: *address,
                });
            }
            accounts.insert(*address, *account);
            self.total_supply = self.total_supply.saturating_add(account.balance);
        }
        self.accounts += page.len() as u64;
        Ok(())
    }

    /// A shard's accounts are all in: their tree must hash to the certified shard root.
    fn close_shard(
        &self,
        manifest: &SnapshotManifest,
        (start, accounts): (ShardStart, BTreeMap<Address, Account>),
    ) -> SnapshotResult<()> {
        if accounts.len() as u64 != start.accounts {
            return Err(SnapshotError::Count {
                what: "accounts of a shard",
                declared: start.accounts,
                found: accounts.len() as u64,
            });
        }
        let computed = shard_root(self.config, start.shard, &accounts)
            .map_err(|error| SnapshotError::Malformed(error.to_string()))?;
        let expected = manifest.shard_roots[usize::from(start.shard)];
        if computed != expected {
            return Err(SnapshotError::ShardRoot {
                shard: start.shard,
                expected,
                computed,
            });
        }
        Ok(())
    }
}

/// The root of a shard holding exactly `accounts`, computed over an empty in-memory tree.
pub fn shard_root(
    config: &ChainConfig,
    shard: ShardIndex,
    accounts: &BTreeMap<Address, Account>,
) -> crate::trie::TrieResult<Hash> {
    let store = MemoryTrieStore::default();
    let position = NodePosition::shard_root(config.layout(), shard);
    Trie::new(&store, position)
        .prepare_update(accounts)
        .map(|(root, _)| root)
}

fn record_name(record: &SnapshotRecord) -> &'static str {
    match record {
        SnapshotRecord::Manifest(_) => "a manifest after the first record",
        SnapshotRecord::ShardStart(_) => "a shard before the manifest",
        SnapshotRecord::Accounts(_) => "accounts before the manifest",
        SnapshotRecord::End(_) => "an end record out of place",
    }
}

/// Decodes and verifies a whole snapshot held in memory (for tools; Workers stream with
/// [`SnapshotReader`] and [`SnapshotCheck`]). Returns it with every account, shard by shard.
pub fn read_verified(
    plaintext: &[u8],
    config: &ChainConfig,
    expected: Option<BackupHeaderFields>,
) -> SnapshotResult<(VerifiedSnapshot, Vec<(Address, Account)>)> {
    let mut reader = SnapshotReader::new();
    let records = reader.push(plaintext)?;
    reader.finish()?;
    let mut check = SnapshotCheck::new(config, expected);
    let mut accounts = Vec::new();
    for record in &records {
        check.record(record)?;
        if let SnapshotRecord::Accounts(page) = record {
            accounts.extend_from_slice(page);
        }
    }
    Ok((check.finish()?, accounts))
}

mod sealed;

pub use sealed::{BackupDigest, SealedSnapshot, SnapshotOpener, SnapshotSealer};

#[cfg(test)]
mod tests;
