//! Cold storage and the backup schedule: which committed blocks move from the `Sequencer`'s
//! storage to Workers KV, under which keys, how archived blocks are answered, the backup index
//! kept in KV, and when a backup is due.
//!
//! The archiver Worker performs what this module decides:
//!
//! 1. [`ArchiveStatus::next_range`]: the oldest blocks beyond the hot window, at most
//!    [`ArchiveSettings::blocks_per_run_max`] per run (bounded work, resumable: the next run
//!    starts where this one stopped).
//! 2. Each block is written to KV under [`archived_block_key`] as its canonical encoding. A key
//!    is written once per run at most and holds the same bytes every time, so a repeated run is
//!    harmless and KV's one-write-per-second-per-key limit is respected.
//! 3. The `Sequencer` prunes those heights only after reading every one back from KV and
//!    finding the block it holds ([`check_prune`] bounds what it may prune). It keeps a compact
//!    locator per archived block (hash → height) and per archived transaction (hash → height,
//!    position), so `GET /v1/blocks/{hash}` and `GET /v1/txs/{hash}` still find archived data:
//!    one KV write per block rather than one per transaction keeps a run within KV's
//!    per-invocation operation limit at any throughput.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::api::{ApiError, BlockAnswer, TxStatusAnswer};
use crate::backup::BackupError;
use crate::block::CertifiedBlock;
use crate::limits::{CERTIFIED_BLOCK_BYTES_MAX, KV_VALUE_BYTES_MAX};
use crate::primitives::Hash;
use crate::snapshot::SnapshotError;

/// KV key of the backup index.
pub const BACKUP_INDEX_KEY: &str = "backup_index";

/// Prefix of archived blocks' KV keys.
pub const ARCHIVED_BLOCK_KEY_PREFIX: &str = "blocks/";

/// Fewest blocks the `Sequencer` keeps hot: shards and account answers read certified state
/// a few blocks behind the head, so those heights must never be pruned.
pub const HOT_BLOCKS_MIN: u64 = 8;

/// Most blocks one archiver run moves (each is one KV write and one KV read; KV allows 1,000
/// operations per invocation).
pub const ARCHIVE_BLOCKS_PER_RUN_MAX: u64 = 256;

/// Most bytes of blocks one `ArchiveBlocks` answer carries; the archiver asks again for more.
pub const ARCHIVE_ANSWER_BYTES_MAX: usize = 2 * CERTIFIED_BLOCK_BYTES_MAX;

/// Bytes of the backup index (JSON): a bounded history of small records.
pub const BACKUP_INDEX_BYTES_MAX: usize = 256 * 1024;

/// Most backups the index remembers (and keeps pinned).
pub const BACKUP_RETENTION_MAX: usize = 64;

/// Longest content identifier accepted (CIDv0 is 46 characters, CIDv1 base32 about 60).
pub const CID_CHARS_MAX: usize = 128;

/// How long an archiver run may hold the lease by default (`ARCHIVER_LEASE_MS`): longer than
/// any run takes, short enough that a run that died does not stop the next cron run, or a
/// restore, for long.
pub const ARCHIVER_LEASE_MS: u64 = 10 * 60 * 1_000;

/// The shortest lease a run may ask for.
pub const ARCHIVER_LEASE_MS_MIN: u64 = 5_000;

/// The longest lease a run may ask for.
pub const ARCHIVER_LEASE_MS_MAX: u64 = 60 * 60 * 1_000;

/// Checks a lease duration (the archiver's `ARCHIVER_LEASE_MS`) against its bounds.
pub fn check_lease_ms(lease_ms: u64) -> ArchiveResult<u64> {
    check_setting(
        "ARCHIVER_LEASE_MS",
        lease_ms,
        ARCHIVER_LEASE_MS_MIN,
        ARCHIVER_LEASE_MS_MAX,
    )?;
    Ok(lease_ms)
}

/// The format version of [`BackupIndex`] this code writes and reads.
pub const BACKUP_INDEX_FORMAT: u32 = 1;

const _: () = assert!(KV_VALUE_BYTES_MAX >= CERTIFIED_BLOCK_BYTES_MAX);
const _: () = assert!(2 * ARCHIVE_BLOCKS_PER_RUN_MAX < 1_000);
const _: () = assert!(HOT_BLOCKS_MIN >= 2);

/// KV key of the archived block at `height`; zero-padded so keys list in height order.
pub fn archived_block_key(height: u64) -> String {
    format!("{ARCHIVED_BLOCK_KEY_PREFIX}{height:020}")
}

/// Why an archive, backup or restore step was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    /// A setting is outside its bounds.
    #[error("setting {name} = {got} is outside {min}..={max}")]
    Setting {
        /// The setting's name.
        name: &'static str,
        /// Its value.
        got: u64,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// Pruning would remove blocks inside the hot window or beyond the head.
    #[error(
        "cannot prune through height {through}: the head is {head_height} and the last {hot} blocks stay hot"
    )]
    PruneTooRecent {
        /// The height asked for.
        through: u64,
        /// The head.
        head_height: u64,
        /// The hot window.
        hot: u64,
    },
    /// An archived block is missing from KV or is not the block expected there.
    #[error("archived block {height} in KV is {problem}")]
    ArchivedBlock {
        /// Its height.
        height: u64,
        /// What is wrong.
        problem: String,
    },
    /// There is no backup index: nothing was ever backed up (or the index was lost).
    #[error("there is no backup index: no backup can be restored")]
    NoBackupIndex,
    /// The backup index does not parse or is inconsistent.
    #[error("the backup index is unreadable: {0}")]
    CorruptIndex(String),
    /// A restore asked for a CID other than the latest backup's (anti-rollback).
    #[error("backup {cid} is not the latest backup ({latest}); only the latest can be restored")]
    NotLatestBackup {
        /// The CID asked for.
        cid: String,
        /// The latest backup's CID.
        latest: String,
    },
    /// A new backup would not advance the index.
    #[error("a backup at height {got} cannot follow the latest backup at height {latest}")]
    IndexWouldRollBack {
        /// The new backup's height.
        got: u64,
        /// The latest backup's height.
        latest: u64,
    },
    /// A CID that is not a content identifier.
    #[error("{0:?} is not a content identifier")]
    InvalidCid(String),
    /// The fetched backup is not the size the index recorded.
    #[error("the backup is {got} bytes, the index recorded {expected}")]
    SizeMismatch {
        /// Bytes recorded.
        expected: u64,
        /// Bytes fetched.
        got: u64,
    },
    /// The fetched backup does not have the digest the index recorded.
    #[error("the backup's SHA-256 is {got}, the index recorded {expected}: it was altered")]
    DigestMismatch {
        /// Digest recorded.
        expected: Hash,
        /// Digest of the bytes fetched.
        got: Hash,
    },
    /// The envelope does not open.
    #[error("the backup does not open: {0}")]
    Envelope(#[from] BackupError),
    /// The state inside does not verify.
    #[error("the backed-up state does not verify: {0}")]
    Snapshot(#[from] SnapshotError),
    /// Another archiver run (a backup or a restore) holds the lease.
    #[error("another archiver run holds the lease until {until_ms} ms: try again later")]
    ArchiverBusy {
        /// When its lease expires.
        until_ms: u64,
    },
    /// Restoring would move a chain back.
    #[error(
        "the chain is at height {head_height}, beyond the backup's height {backup_height}: restoring would roll it back"
    )]
    WouldRollBack {
        /// The chain's head.
        head_height: u64,
        /// The backup's height.
        backup_height: u64,
    },
}

impl ArchiveError {
    /// The HTTP status and stable code this refusal is answered with.
    pub fn status_and_code(&self) -> (u16, &'static str) {
        match self {
            Self::Setting { .. } => (500, "misconfigured"),
            Self::PruneTooRecent { .. } => (409, "prune_too_recent"),
            Self::ArchivedBlock { .. } => (409, "archived_block_mismatch"),
            Self::NoBackupIndex => (409, "no_backup_index"),
            Self::CorruptIndex(_) => (500, "corrupt_backup_index"),
            Self::NotLatestBackup { .. } => (409, "not_latest_backup"),
            Self::IndexWouldRollBack { .. } => (409, "backup_index_would_roll_back"),
            Self::InvalidCid(_) => (400, "invalid_cid"),
            Self::SizeMismatch { .. } | Self::DigestMismatch { .. } => {
                (422, "backup_digest_mismatch")
            }
            Self::Envelope(BackupError::Authentication { .. }) => {
                (422, "backup_authentication_failed")
            }
            Self::Envelope(_) => (422, "backup_unreadable"),
            Self::Snapshot(_) => (422, "backup_state_invalid"),
            Self::WouldRollBack { .. } => (409, "restore_would_roll_back"),
            Self::ArchiverBusy { .. } => (409, "archiver_busy"),
        }
    }
}

impl From<ArchiveError> for ApiError {
    fn from(error: ArchiveError) -> Self {
        let (status, code) = error.status_and_code();
        ApiError::new(status, code, error.to_string())
    }
}

impl From<ArchiveError> for crate::api::ErrorAnswer {
    fn from(error: ArchiveError) -> Self {
        ApiError::from(error).into()
    }
}

/// Result alias for this module.
pub type ArchiveResult<T> = Result<T, ArchiveError>;

/// How much the `Sequencer` keeps hot and how much one run moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveSettings {
    /// Blocks below the head that stay in the `Sequencer`'s storage.
    pub hot_blocks: u64,
    /// Most blocks one run moves to KV.
    pub blocks_per_run_max: u64,
}

impl ArchiveSettings {
    /// Checks both settings against their bounds.
    pub fn new(hot_blocks: u64, blocks_per_run_max: u64) -> ArchiveResult<Self> {
        check_setting("ARCHIVE_HOT_BLOCKS", hot_blocks, HOT_BLOCKS_MIN, 1 << 32)?;
        check_setting(
            "ARCHIVE_BLOCKS_PER_RUN",
            blocks_per_run_max,
            1,
            ARCHIVE_BLOCKS_PER_RUN_MAX,
        )?;
        Ok(Self {
            hot_blocks,
            blocks_per_run_max,
        })
    }
}

fn check_setting(name: &'static str, got: u64, min: u64, max: u64) -> ArchiveResult<()> {
    if (min..=max).contains(&got) {
        Ok(())
    } else {
        Err(ArchiveError::Setting {
            name,
            got,
            min,
            max,
        })
    }
}

/// Where cold storage stands, as the `Sequencer` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveStatus {
    /// Height of the head.
    pub head_height: u64,
    /// Every block from 1 through this height is in KV and pruned (0: none). Block 0, the
    /// genesis, always stays hot.
    pub archived_through: u64,
}

impl ArchiveStatus {
    /// The heights the next run should move: the oldest not yet archived, stopping before the
    /// hot window, at most `blocks_per_run_max` of them. `None` when there is nothing to do.
    pub fn next_range(&self, settings: &ArchiveSettings) -> Option<(u64, u64)> {
        let first = self.archived_through + 1;
        let last_cold = self.head_height.checked_sub(settings.hot_blocks)?;
        if first > last_cold {
            return None;
        }
        let last = last_cold.min(first + settings.blocks_per_run_max - 1);
        Some((first, last))
    }

    /// Blocks committed but not yet archived, beyond the hot window (a metric: archive lag).
    pub fn lag_blocks(&self, settings: &ArchiveSettings) -> u64 {
        self.head_height
            .saturating_sub(settings.hot_blocks)
            .saturating_sub(self.archived_through)
    }
}

/// Whether the block at `height` (and so every transaction in it) lives in cold storage, when
/// every block from 1 through `archived_through` was moved there. The genesis never is.
pub fn is_archived(height: u64, archived_through: u64) -> bool {
    (1..=archived_through).contains(&height)
}

/// What the `Sequencer` may prune: heights above what it already pruned, up to
/// [`HOT_BLOCKS_MIN`] below its head. Returns the heights to prune, `None` if already done.
pub fn check_prune(status: &ArchiveStatus, through: u64) -> ArchiveResult<Option<(u64, u64)>> {
    if through <= status.archived_through {
        return Ok(None);
    }
    if through.saturating_add(HOT_BLOCKS_MIN) > status.head_height {
        return Err(ArchiveError::PruneTooRecent {
            through,
            head_height: status.head_height,
            hot: HOT_BLOCKS_MIN,
        });
    }
    Ok(Some((status.archived_through + 1, through)))
}

/// Decodes an archived block read from KV and checks it is the block expected there: its
/// height, and its hash when the caller knows it.
pub fn decode_archived_block(
    bytes: &[u8],
    height: u64,
    expected_hash: Option<&Hash>,
) -> ArchiveResult<CertifiedBlock> {
    let block = CertifiedBlock::decode(bytes).map_err(|error| ArchiveError::ArchivedBlock {
        height,
        problem: format!("undecodable: {error}"),
    })?;
    if block.header.height != height {
        return Err(ArchiveError::ArchivedBlock {
            height,
            problem: format!("the block at height {}", block.header.height),
        });
    }
    if let Some(expected) = expected_hash {
        let got = block.hash();
        if got != *expected {
            return Err(ArchiveError::ArchivedBlock {
                height,
                problem: format!("block {got}, not {expected}"),
            });
        }
    }
    Ok(block)
}

/// The blocks the `Sequencer` handed the archiver, by height: each one's hash and a digest of
/// the exact bytes handed out. Before it prunes a block it reads the copy back from KV;
/// when the copy's bytes hash to the digest here, they are the very encoding it produced from
/// its own storage, which is checked by one pass of hashing instead of decoding the block and
/// hashing every transaction and receipt again for both roots
/// ([`decode_archived_block`]). A block handed out before a restart is not here, and is
/// checked that way. At most [`ARCHIVE_BLOCKS_PER_RUN_MAX`] twice over are kept, the
/// highest heights.
///
/// The digest is KangarooTwelve ([`copy_digest`]), not keccak256: it never leaves memory, so
/// it need not be the chain's hash, and a block's megabyte is hashed twice (handed out, read
/// back), which with keccak256 was 5% of the `Sequencer`'s CPU over bursts the archiver's
/// passes overlapped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandedOut {
    digests: std::collections::BTreeMap<u64, (Hash, Hash)>,
}

impl HandedOut {
    /// Remembers that `bytes`, the encoding of the block `block_hash` at `height`, were handed
    /// out.
    pub fn record(&mut self, height: u64, block_hash: Hash, bytes: &[u8]) {
        self.digests
            .insert(height, (block_hash, copy_digest(bytes)));
        while self.digests.len() as u64 > 2 * ARCHIVE_BLOCKS_PER_RUN_MAX {
            self.digests.pop_first();
        }
    }

    /// Checks the copy of block `expected_hash` at `height` read back from KV: against the
    /// digest of what was handed out when there is one, else decoded and checked.
    pub fn check_copy(&self, bytes: &[u8], height: u64, expected_hash: &Hash) -> ArchiveResult<()> {
        match self.digests.get(&height) {
            Some((block_hash, digest)) if block_hash == expected_hash => {
                if copy_digest(bytes) == *digest {
                    Ok(())
                } else {
                    Err(ArchiveError::ArchivedBlock {
                        height,
                        problem: "not the bytes handed to the archiver".to_owned(),
                    })
                }
            }
            _ => decode_archived_block(bytes, height, Some(expected_hash)).map(|_| ()),
        }
    }

    /// Forgets the blocks through `height`: they are pruned.
    pub fn forget_through(&mut self, height: u64) {
        self.digests.retain(|handed_out, _| *handed_out > height);
    }

    /// Forgets every block: a restore replaced the chain they were handed out of.
    pub fn forget_all(&mut self) {
        self.digests.clear();
    }
}

/// The digest [`HandedOut`] keeps of an archived copy: KangarooTwelve (RFC 9861) of `bytes`,
/// 32 bytes of it. It is keccak256's permutation with half the rounds (12 of 24) at the same
/// 128-bit security level, so about twice as fast (`cargo bench -p ledger --bench hashing`).
pub fn copy_digest(bytes: &[u8]) -> Hash {
    use tiny_keccak::Hasher as _;
    let mut hasher = tiny_keccak::KangarooTwelve::new(b"edgeledger archived copy");
    hasher.update(bytes);
    let mut digest = Hash::ZERO;
    hasher.finalize(&mut digest.0);
    digest
}

/// `GET /v1/blocks/...` for an archived block: the same answer as for a hot one.
pub fn archived_block_answer(block: &CertifiedBlock) -> BlockAnswer {
    BlockAnswer {
        hash: block.hash(),
        header: block.header,
        certificate: block.certificate.clone(),
        transactions: block
            .receipts
            .iter()
            .map(|receipt| receipt.tx_hash)
            .collect(),
    }
}

/// `GET /v1/txs/{hash}` for a transaction in an archived block: the same answer as for a hot
/// one. `None` if the block has no such transaction at `position`.
pub fn archived_tx_answer(
    block: &CertifiedBlock,
    position: u32,
    hash: &Hash,
) -> Option<TxStatusAnswer> {
    let receipt = block.receipts.get(usize::try_from(position).ok()?)?;
    (receipt.tx_hash == *hash)
        .then(|| TxStatusAnswer::committed(block.header.height, block.hash(), *receipt))
}

/// The right to run the archiver's work: one run at a time, so two backups never race on the
/// backup index and a backup never reads shards that a restore is reloading. Kept by the
/// `Sequencer` (strongly consistent, unlike KV); it expires, so a run that died frees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiverLease {
    /// The run holding it (a random id each run draws).
    pub holder: u64,
    /// When it expires.
    pub expires_at_ms: u64,
}

impl ArchiverLease {
    /// Grants the lease to `holder` for `lease_ms` (clamped to [`ARCHIVER_LEASE_MS_MIN`] ..
    /// [`ARCHIVER_LEASE_MS_MAX`]) unless another holder's lease is still running (the same
    /// holder renews it).
    pub fn acquire(
        current: Option<Self>,
        holder: u64,
        now_ms: u64,
        lease_ms: u64,
    ) -> ArchiveResult<Self> {
        let lease_ms = lease_ms.clamp(ARCHIVER_LEASE_MS_MIN, ARCHIVER_LEASE_MS_MAX);
        match current {
            Some(lease) if lease.holder != holder && lease.expires_at_ms > now_ms => {
                Err(ArchiveError::ArchiverBusy {
                    until_ms: lease.expires_at_ms,
                })
            }
            _ => Ok(Self {
                holder,
                expires_at_ms: now_ms.saturating_add(lease_ms),
            }),
        }
    }

    /// The lease after `holder` lets go: gone if it held it, unchanged if someone else does.
    pub fn release(current: Option<Self>, holder: u64) -> Option<Self> {
        current.filter(|lease| lease.holder != holder)
    }
}

/// Where a backup is pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PinningBackend {
    /// Pinata (production).
    Pinata,
    /// A Kubo-compatible IPFS node's RPC API (self-hosted).
    Kubo,
}

impl PinningBackend {
    /// Parses the `BACKUP_PINNING` setting.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "pinata" => Some(Self::Pinata),
            "kubo" => Some(Self::Kubo),
            _ => None,
        }
    }
}

impl fmt::Display for PinningBackend {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::Pinata => "pinata",
            Self::Kubo => "kubo",
        })
    }
}

/// One backup, as the index records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupRecord {
    /// Its IPFS content identifier.
    pub cid: String,
    /// The chain.
    pub chain_id: u64,
    /// Height of the backed-up block.
    pub height: u64,
    /// That block's hash.
    pub block_hash: Hash,
    /// The state root at that height.
    pub state_root: Hash,
    /// Accounts in the backup.
    pub accounts: u64,
    /// Bytes of the encrypted envelope.
    pub ciphertext_bytes: u64,
    /// SHA-256 of the encrypted envelope.
    pub ciphertext_sha256: Hash,
    /// When it was made (milliseconds since the Unix epoch).
    pub created_at_ms: u64,
    /// Where it is pinned.
    pub backend: PinningBackend,
    /// The backend's own identifier of the pin (Pinata's file id), to remove it later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_id: Option<String>,
}

impl BackupRecord {
    /// The record of a sealed backup of the block `header`, pinned as `cid`.
    pub fn sealed(
        cid: String,
        header: &crate::block::Header,
        sealed: &crate::snapshot::SealedSnapshot,
        created_at_ms: u64,
        backend: PinningBackend,
        pin_id: Option<String>,
    ) -> Self {
        Self {
            cid,
            chain_id: header.chain_id,
            height: header.height,
            block_hash: header.hash(),
            state_root: header.state_root,
            accounts: sealed.accounts,
            ciphertext_bytes: sealed.bytes,
            ciphertext_sha256: sealed.sha256,
            created_at_ms,
            backend,
            pin_id,
        }
    }
}

/// The backup index, kept in KV under [`BACKUP_INDEX_KEY`] as JSON (operators read it).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BackupIndex {
    /// [`BACKUP_INDEX_FORMAT`].
    pub format: u32,
    /// The only backup a restore accepts.
    pub latest: Option<BackupRecord>,
    /// Older backups still pinned, newest first.
    pub history: Vec<BackupRecord>,
}

impl BackupIndex {
    /// An index with no backups.
    pub fn empty() -> Self {
        Self {
            format: BACKUP_INDEX_FORMAT,
            latest: None,
            history: Vec::new(),
        }
    }

    /// Parses and checks a stored index: its format, its size, and heights that strictly
    /// decrease from the latest through the history.
    pub fn decode(bytes: &[u8]) -> ArchiveResult<Self> {
        if bytes.len() > BACKUP_INDEX_BYTES_MAX {
            return Err(ArchiveError::CorruptIndex(format!(
                "{} bytes, more than {BACKUP_INDEX_BYTES_MAX}",
                bytes.len()
            )));
        }
        let index: Self = serde_json::from_slice(bytes)
            .map_err(|error| ArchiveError::CorruptIndex(error.to_string()))?;
        if index.format != BACKUP_INDEX_FORMAT {
            return Err(ArchiveError::CorruptIndex(format!(
                "format {} (this build reads {BACKUP_INDEX_FORMAT})",
                index.format
            )));
        }
        let mut heights = index.latest.iter().chain(&index.history).map(|r| r.height);
        let mut previous = heights.next();
        for height in heights {
            if previous.is_some_and(|previous| height >= previous) {
                return Err(ArchiveError::CorruptIndex(
                    "backup heights do not decrease".to_owned(),
                ));
            }
            previous = Some(height);
        }
        if index.latest.is_none() && !index.history.is_empty() {
            return Err(ArchiveError::CorruptIndex(
                "a history without a latest backup".to_owned(),
            ));
        }
        Ok(index)
    }

    /// The index as stored: pretty JSON.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// The latest backup.
    pub fn latest(&self) -> Option<&BackupRecord> {
        self.latest.as_ref()
    }

    /// Makes a fully pinned and verified backup the latest, keeping at most `retention`
    /// backups. Returns the backups that fell out of the history: unpin them. A backup that
    /// does not advance the height is refused: the index never moves back.
    pub fn publish(
        &mut self,
        record: BackupRecord,
        retention: usize,
    ) -> ArchiveResult<Vec<BackupRecord>> {
        check_setting(
            "BACKUP_RETENTION",
            retention as u64,
            1,
            BACKUP_RETENTION_MAX as u64,
        )?;
        if let Some(latest) = &self.latest {
            if record.height <= latest.height {
                return Err(ArchiveError::IndexWouldRollBack {
                    got: record.height,
                    latest: latest.height,
                });
            }
        }
        if let Some(previous) = self.latest.replace(record) {
            self.history.insert(0, previous);
        }
        let keep = retention - 1;
        Ok(if self.history.len() > keep {
            self.history.split_off(keep)
        } else {
            Vec::new()
        })
    }

    /// The backup a restore of `cid` may use: only the latest (anti-rollback).
    pub fn restorable(&self, cid: &str) -> ArchiveResult<&BackupRecord> {
        check_cid(cid)?;
        let latest = self.latest.as_ref().ok_or(ArchiveError::NoBackupIndex)?;
        if latest.cid != cid {
            return Err(ArchiveError::NotLatestBackup {
                cid: cid.to_owned(),
                latest: latest.cid.clone(),
            });
        }
        Ok(latest)
    }
}

/// Refuses a restore to the block `height`/`block_hash` on a chain whose head is past it, or
/// at another block of that height: either would move the chain back (or onto a fork). A
/// restore of the block the chain is at is allowed (it completes an interrupted restore).
pub fn check_no_rollback(
    head_height: u64,
    head_hash: &Hash,
    height: u64,
    block_hash: &Hash,
) -> ArchiveResult<()> {
    if head_height > height || (head_height == height && head_hash != block_hash) {
        return Err(ArchiveError::WouldRollBack {
            head_height,
            backup_height: height,
        });
    }
    Ok(())
}

/// Accepts what can be a CID: 2 to [`CID_CHARS_MAX`] ASCII letters and digits (base58 and
/// base32 multibase strings are both), so nothing else reaches a URL or the index.
pub fn check_cid(cid: &str) -> ArchiveResult<()> {
    let plausible = (2..=CID_CHARS_MAX).contains(&cid.len())
        && cid.bytes().all(|byte| byte.is_ascii_alphanumeric());
    if plausible {
        Ok(())
    } else {
        Err(ArchiveError::InvalidCid(
            cid.chars().take(CID_CHARS_MAX).collect(),
        ))
    }
}

/// SHA-256 of `bytes`: the digest the index records for a backup's ciphertext (the hash
/// operators check with `sha256sum`, unlike the chain's keccak256).
pub fn sha256(bytes: &[u8]) -> Hash {
    use sha2::Digest;
    Hash(sha2::Sha256::digest(bytes).into())
}

/// Checks fetched backup bytes against the index: size, then SHA-256 (see [`sha256`]).
pub fn check_fetched(record: &BackupRecord, bytes: u64, sha256: &Hash) -> ArchiveResult<()> {
    if bytes != record.ciphertext_bytes {
        return Err(ArchiveError::SizeMismatch {
            expected: record.ciphertext_bytes,
            got: bytes,
        });
    }
    if *sha256 != record.ciphertext_sha256 {
        return Err(ArchiveError::DigestMismatch {
            expected: record.ciphertext_sha256,
            got: *sha256,
        });
    }
    Ok(())
}

/// When backups are made and how many are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupSchedule {
    /// A backup after this many new blocks.
    pub every_blocks: u64,
    /// Or after this much time, if any block was committed since the last.
    pub every_ms: u64,
    /// Backups kept pinned, the latest included.
    pub retention: usize,
}

impl BackupSchedule {
    /// Checks the settings against their bounds.
    pub fn new(every_blocks: u64, every_ms: u64, retention: usize) -> ArchiveResult<Self> {
        check_setting("BACKUP_EVERY_BLOCKS", every_blocks, 1, 1 << 40)?;
        check_setting("BACKUP_EVERY_MS", every_ms, 1_000, 1 << 40)?;
        check_setting(
            "BACKUP_RETENTION",
            retention as u64,
            1,
            BACKUP_RETENTION_MAX as u64,
        )?;
        Ok(Self {
            every_blocks,
            every_ms,
            retention,
        })
    }

    /// Whether a backup is due at `head_height` and `now_ms`: never for the genesis alone or
    /// when the latest backup is already at the head; else after `every_blocks` new blocks or
    /// `every_ms`.
    pub fn due(&self, index: &BackupIndex, head_height: u64, now_ms: u64) -> bool {
        if head_height == 0 {
            return false;
        }
        match index.latest() {
            None => true,
            Some(latest) if head_height <= latest.height => false,
            Some(latest) => {
                head_height - latest.height >= self.every_blocks
                    || now_ms.saturating_sub(latest.created_at_ms) >= self.every_ms
            }
        }
    }
}

#[cfg(test)]
mod tests;
