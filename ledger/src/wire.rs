//! The internal protocol between the services: which calls the front door, the `Sequencer`,
//! the shards, the validators and their guards make to each other over Durable Object and
//! service bindings, and the MessagePack bodies they exchange.
//!
//! Internal calls are HTTP requests on bindings, never on the public route: the front door
//! answers only [`crate::api::route`]s. Every call is described once here, as a typed
//! [`InternalCall`] with its path, so callers build paths and callees parse them with the same
//! code. Bodies are [`crate::codec`] MessagePack; an error answer is an [`ErrorBody`] encoded
//! the same way, with the HTTP status of the [`ApiError`] it came from.

use serde::{Deserialize, Serialize};

use crate::api::{
    ApiError, BlockAnswer, BlockSelector, ErrorAnswer, ErrorBody, TxStatusAnswer, parse_address,
    parse_block_selector, parse_hash,
};
use crate::archive::{ArchiveStatus, BackupRecord};
use crate::block::{CertifiedBlock, Header};
use crate::codec;
use crate::consensus::{GuardDecision, QuorumCertificate};
use crate::primitives::{Address, Hash};
use crate::shard::ShardMeta;
use crate::state::{Account, ShardIndex};
use crate::transaction::WireTx;
use crate::trie::AccountProof;

/// Origin of internal URLs. Bindings ignore the host; a fixed one keeps URLs well formed and
/// makes an internal request recognisable in logs.
pub const INTERNAL_ORIGIN: &str = "https://internal.edgeledger";

/// Content type of every internal body.
pub const INTERNAL_CONTENT_TYPE: &str = crate::api::MSGPACK_CONTENT_TYPE;

/// Name of the `Sequencer` Durable Object instance: one per chain.
pub const SEQUENCER_OBJECT_NAME: &str = "sequencer";

/// Name of the `Shard` Durable Object instance for shard `shard`.
pub fn shard_object_name(shard: ShardIndex) -> String {
    format!("shard-{shard}")
}

/// Name of the `Guard` Durable Object instance of a validator (one per validator script).
pub const GUARD_OBJECT_NAME: &str = "guard";

/// Every internal call. `method()` and `path()` give the request line; [`InternalCall::parse`]
/// turns a request line back into the call (`None` for anything else: answer 404).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InternalCall {
    /// Front door → `Sequencer`: admit verified transactions. Body [`SubmitRequest`], answer
    /// `Vec<SubmissionResult>` in the same order.
    Submit,
    /// Front door → `Sequencer`: the public status, [`crate::api::StatusAnswer`].
    Status,
    /// Front door (`GET /metrics`) → `Sequencer`: its state and counters,
    /// [`crate::metrics::sequencer::SequencerSnapshot`].
    Metrics,
    /// Front door → `Sequencer`: a transaction's status, [`TxLookup`].
    Transaction(Hash),
    /// Front door → `Sequencer`: a block, [`BlockLookup`].
    Block(BlockSelector),
    /// Front door → `Sequencer`: the block at `height`, [`BlockLookup`], answered when it is
    /// committed or after `wait_ms` (then 404 if it still is not).
    AwaitBlock {
        /// The block's height.
        height: u64,
        /// How long to wait, at most [`crate::limits::BLOCK_WAIT_MS_MAX`].
        wait_ms: u64,
    },
    /// Front door (JSON-RPC) → `Sequencer`: a block with its transactions and receipts,
    /// [`FullBlockLookup`].
    FullBlock(BlockSelector),
    /// Front door (JSON-RPC) → `Sequencer`: a transaction's raw bytes and where it is,
    /// [`RawTxLookup`].
    RawTransaction(Hash),
    /// Front door → `Sequencer`: what an account answer needs besides the shard's data,
    /// [`AccountContext`], for the certified block at `height`.
    AccountContext {
        /// The account (for its pending nonce).
        address: Address,
        /// Height of the shard state the answer is built from.
        height: u64,
    },
    /// Front door (admin) → `Sequencer`: pause or resume block production. No body; answers
    /// the public status.
    SetPaused(bool),
    /// `Sequencer` → `Shard`: a witness, body [`crate::shard::WitnessRequest`], answer
    /// [`crate::trie::PartialTree`].
    Witness,
    /// `Sequencer` → `Shard`: apply a committed write set, body
    /// [`crate::execution::WriteSet`], answer [`ApplyAnswer`].
    Apply,
    /// `Sequencer` → `Shard`: apply a committed write set, then answer the next round's
    /// witness request against the new root. Body [`crate::shard::ApplyThenWitnessRequest`],
    /// answer [`ApplyThenWitnessAnswer`].
    ApplyThenWitness,
    /// Front door (`GET /metrics`) → `Shard`: its height and account count, [`ShardStats`].
    ShardStats,
    /// Front door → `Shard`: an account's committed state, [`ShardAccount`].
    ShardAccount {
        /// The account.
        address: Address,
        /// Whether to include a proof against the shard root.
        proof: bool,
    },
    /// Front door (JSON-RPC admission) → `Shard`: the committed state of several accounts,
    /// body `Vec<Address>` (at most [`ACCOUNTS_REQUEST_MAX`]), answer [`ShardAccounts`].
    ShardAccounts,
    /// `Sequencer` → validator: vote on a proposal, body [`crate::proposal::Proposal`],
    /// answer [`crate::consensus::Vote`].
    Propose,
    /// Validator → its `Guard`: may it sign this block? Body [`GuardRequest`], answer
    /// [`GuardAnswer`] (which also says when the validator simulates a fault, so a vote
    /// takes one call to the guard); a refusal is an error answer (409).
    Authorize,
    /// Front door (admin) → validator → its `Guard`: set the fault the validator simulates.
    /// Body [`FaultRequest`], answer [`FaultRequest`] (the mode now in force).
    SetFault,
    /// Validator → its `Guard`: the fault mode in force, [`FaultRequest`]. Asked only when a
    /// proposal fails its checks: a simulated fault answers before any check would have.
    Fault,
    /// Archiver → `Sequencer`: the head and what is archived, [`ArchiveStatus`].
    ArchiveStatus,
    /// Archiver → `Sequencer`: committed blocks `from..=to` (or a prefix of them, up to
    /// [`crate::archive::ARCHIVE_ANSWER_BYTES_MAX`]), `Vec<CertifiedBlock>`.
    ArchiveBlocks {
        /// First height.
        from: u64,
        /// Last height.
        to: u64,
    },
    /// Archiver → `Sequencer`: prune every block through `through` after checking each one is
    /// in KV; answers [`ArchiveStatus`].
    Prune {
        /// Last height to prune.
        through: u64,
    },
    /// Archiver → `Sequencer`: the head's certified state, [`Checkpoint`] (what a backup is of).
    Checkpoint,
    /// Archiver → `Sequencer`: restart the chain from a restored certified block, body
    /// [`RestoreRequest`]; answers [`crate::api::StatusAnswer`]. Refused if it would roll back.
    Restore,
    /// Archiver → `Shard`: freeze a copy of the accounts for a backup, body
    /// [`SnapshotOpenRequest`], answer [`SnapshotOpened`]; 409 `state_moved` if the shard is
    /// not at the expected root.
    SnapshotOpen,
    /// Archiver → `Shard`: a page of the frozen copy, body [`SnapshotPageRequest`], answer
    /// `Vec<(Address, Account)>` in address order.
    SnapshotPage,
    /// Archiver → `Shard`: one step of reloading the shard from a backup, body
    /// [`ShardRestoreStep`], answer [`ShardRestoreAnswer`].
    ShardRestore,
    /// Archiver → `Sequencer`: take or give back the archiver's lease, body [`LeaseRequest`],
    /// answer the lease now in force (`Option<ArchiverLease>`); 409 `archiver_busy` if another
    /// run holds it.
    Lease,
    /// Front door (admin) → archiver: run the scheduled work now, body [`RunRequest`], answer
    /// [`RunReport`].
    ArchiverRun,
    /// Front door (admin) → archiver: the backup index, [`crate::archive::BackupIndex`].
    Backups,
    /// Front door (admin) → archiver: restore the latest backup, body
    /// [`RestoreBackupRequest`], answer [`RestoreReport`].
    RestoreBackup,
}

impl InternalCall {
    /// The HTTP method of this call.
    pub const fn method(&self) -> &'static str {
        match self {
            Self::Status
            | Self::Metrics
            | Self::Transaction(_)
            | Self::Block(_)
            | Self::AwaitBlock { .. }
            | Self::FullBlock(_)
            | Self::RawTransaction(_)
            | Self::AccountContext { .. }
            | Self::ShardAccount { .. }
            | Self::ShardStats
            | Self::Fault
            | Self::ArchiveStatus
            | Self::ArchiveBlocks { .. }
            | Self::Checkpoint
            | Self::Backups => "GET",
            Self::Submit
            | Self::SetPaused(_)
            | Self::Witness
            | Self::Apply
            | Self::ApplyThenWitness
            | Self::ShardAccounts
            | Self::Propose
            | Self::Authorize
            | Self::SetFault
            | Self::Prune { .. }
            | Self::Restore
            | Self::SnapshotOpen
            | Self::SnapshotPage
            | Self::ShardRestore
            | Self::Lease
            | Self::ArchiverRun
            | Self::RestoreBackup => "POST",
        }
    }

    /// The path (with query) of this call.
    pub fn path(&self) -> String {
        match self {
            Self::Submit => "/submit".to_owned(),
            Self::Status => "/status".to_owned(),
            Self::Metrics => "/metrics".to_owned(),
            Self::Transaction(hash) => format!("/txs/{hash}"),
            Self::Block(BlockSelector::Latest) => "/blocks/latest".to_owned(),
            Self::Block(BlockSelector::Height(height)) => format!("/blocks/{height}"),
            Self::Block(BlockSelector::Hash(hash)) => format!("/blocks/{hash}"),
            Self::AwaitBlock { height, wait_ms } => format!("/blocks/{height}?wait_ms={wait_ms}"),
            Self::FullBlock(BlockSelector::Latest) => "/full-blocks/latest".to_owned(),
            Self::FullBlock(BlockSelector::Height(height)) => format!("/full-blocks/{height}"),
            Self::FullBlock(BlockSelector::Hash(hash)) => format!("/full-blocks/{hash}"),
            Self::RawTransaction(hash) => format!("/raw-txs/{hash}"),
            Self::AccountContext { address, height } => {
                format!("/account-context/{address}/{height}")
            }
            Self::SetPaused(true) => "/pause".to_owned(),
            Self::SetPaused(false) => "/resume".to_owned(),
            Self::Witness => "/witness".to_owned(),
            Self::Apply => "/apply".to_owned(),
            Self::ApplyThenWitness => "/apply-then-witness".to_owned(),
            Self::ShardAccount { address, proof } => format!("/accounts/{address}?proof={proof}"),
            Self::ShardAccounts => "/accounts".to_owned(),
            Self::ShardStats => "/shard-stats".to_owned(),
            Self::Propose => "/propose".to_owned(),
            Self::Authorize => "/authorize".to_owned(),
            Self::SetFault | Self::Fault => "/fault".to_owned(),
            Self::ArchiveStatus => "/archive/status".to_owned(),
            Self::ArchiveBlocks { from, to } => format!("/archive/blocks/{from}/{to}"),
            Self::Prune { through } => format!("/archive/prune/{through}"),
            Self::Checkpoint => "/checkpoint".to_owned(),
            Self::Restore => "/restore".to_owned(),
            Self::SnapshotOpen => "/snapshot/open".to_owned(),
            Self::SnapshotPage => "/snapshot/page".to_owned(),
            Self::ShardRestore => "/shard-restore".to_owned(),
            Self::Lease => "/archive/lease".to_owned(),
            Self::ArchiverRun => "/run".to_owned(),
            Self::Backups => "/backups".to_owned(),
            Self::RestoreBackup => "/restore-backup".to_owned(),
        }
    }

    /// The full URL of this call (for `fetch` on a binding).
    pub fn url(&self) -> String {
        format!("{INTERNAL_ORIGIN}{}", self.path())
    }

    /// Recognises a request line; `path` without the query, `query` what follows `?`.
    pub fn parse(method: &str, path: &str, query: Option<&str>) -> Option<Self> {
        let segments: Vec<&str> = path.split('/').collect();
        let call = match segments.as_slice() {
            ["", "submit"] => Self::Submit,
            ["", "status"] => Self::Status,
            ["", "metrics"] => Self::Metrics,
            ["", "txs", hash] => Self::Transaction(parse_hash(hash).ok()?),
            ["", "blocks", block] => match (parse_block_selector(block).ok()?, query) {
                (selector, None) => Self::Block(selector),
                (BlockSelector::Height(height), Some(query)) => Self::AwaitBlock {
                    height,
                    wait_ms: query.strip_prefix("wait_ms=")?.parse().ok()?,
                },
                (_, Some(_)) => return None,
            },
            ["", "full-blocks", block] => Self::FullBlock(parse_block_selector(block).ok()?),
            ["", "raw-txs", hash] => Self::RawTransaction(parse_hash(hash).ok()?),
            ["", "account-context", address, height] => Self::AccountContext {
                address: parse_address(address).ok()?,
                height: height.parse().ok()?,
            },
            ["", "pause"] => Self::SetPaused(true),
            ["", "resume"] => Self::SetPaused(false),
            ["", "witness"] => Self::Witness,
            ["", "apply"] => Self::Apply,
            ["", "apply-then-witness"] => Self::ApplyThenWitness,
            ["", "accounts", address] => Self::ShardAccount {
                address: parse_address(address).ok()?,
                proof: match query {
                    Some("proof=true") => true,
                    Some("proof=false") | None => false,
                    Some(_) => return None,
                },
            },
            ["", "accounts"] => Self::ShardAccounts,
            ["", "shard-stats"] => Self::ShardStats,
            ["", "propose"] => Self::Propose,
            ["", "authorize"] => Self::Authorize,
            ["", "fault"] if method.eq_ignore_ascii_case("GET") => Self::Fault,
            ["", "fault"] => Self::SetFault,
            ["", "archive", "status"] => Self::ArchiveStatus,
            ["", "archive", "blocks", from, to] => Self::ArchiveBlocks {
                from: from.parse().ok()?,
                to: to.parse().ok()?,
            },
            ["", "archive", "prune", through] => Self::Prune {
                through: through.parse().ok()?,
            },
            ["", "checkpoint"] => Self::Checkpoint,
            ["", "restore"] => Self::Restore,
            ["", "snapshot", "open"] => Self::SnapshotOpen,
            ["", "snapshot", "page"] => Self::SnapshotPage,
            ["", "shard-restore"] => Self::ShardRestore,
            ["", "archive", "lease"] => Self::Lease,
            ["", "run"] => Self::ArchiverRun,
            ["", "backups"] => Self::Backups,
            ["", "restore-backup"] => Self::RestoreBackup,
            _ => return None,
        };
        method.eq_ignore_ascii_case(call.method()).then_some(call)
    }
}

/// Body of [`InternalCall::Submit`]: transactions the front door decoded and whose senders it
/// recovered. The `Sequencer` trusts the public keys: only the front door can reach it.
///
/// The front door also reports what it refused itself (decoding and signature refusals), so
/// the `Sequencer`, the one place that sees every submission, counts them for
/// `edgeledger_transactions_rejected_total`; a submission whose transactions were all refused
/// is sent with no transactions for that reason alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitRequest {
    /// The transactions, in submission order.
    pub transactions: Vec<WireTx>,
    /// Transactions the front door refused, by [`crate::transaction::TxRejection`] code.
    #[serde(default)]
    pub refused: Vec<RefusalCount>,
    /// The public request's id, for the `Sequencer`'s log lines
    /// ([`crate::metrics::logs`]).
    #[serde(default)]
    pub request_id: Option<String>,
}

/// How many transactions of a submission were refused for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusalCount {
    /// The refusal's machine code.
    pub code: String,
    /// Transactions refused for it.
    pub count: u64,
}

impl RefusalCount {
    /// Tallies refusal codes: one entry per code, in code order.
    pub fn tally<'a>(codes: impl IntoIterator<Item = &'a str>) -> Vec<Self> {
        let mut counts: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
        for code in codes {
            *counts.entry(code).or_insert(0) += 1;
        }
        counts
            .into_iter()
            .map(|(code, count)| Self {
                code: code.to_owned(),
                count,
            })
            .collect()
    }
}

/// Answer of [`InternalCall::AccountContext`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountContext {
    /// The nonce the account's next transaction should carry, counting pending ones (at least
    /// the committed nonce; the front door takes the larger of the two).
    pub pending_nonce: u64,
    /// The certified header at the requested height.
    pub header: Header,
    /// Its quorum certificate.
    pub certificate: QuorumCertificate,
    /// Every shard's root at that height (for the top of an account proof).
    pub shard_roots: Vec<Hash>,
}

/// Answer of [`InternalCall::ShardAccount`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardAccount {
    /// The shard's metadata: the height and root the account state is taken at.
    pub meta: ShardMeta,
    /// The account, `None` if it does not exist.
    pub account: Option<Account>,
    /// When asked for: its proof against `meta.root`.
    pub proof: Option<AccountProof>,
}

/// Accounts in one [`InternalCall::ShardAccounts`]: every sender of the largest batch.
pub const ACCOUNTS_REQUEST_MAX: usize = crate::limits::BATCH_TXS_MAX;

/// Bytes of an [`InternalCall::ShardAccounts`] body: [`ACCOUNTS_REQUEST_MAX`] addresses of
/// 20 bytes with their MessagePack framing, and the array's.
pub const ACCOUNTS_REQUEST_BYTES_MAX: usize = ACCOUNTS_REQUEST_MAX * 24 + 8;

/// Bytes of an [`InternalCall::ShardAccounts`] answer: the metadata and, per account, a nonce
/// and a balance of at most 32 bytes with their framing.
pub const ACCOUNTS_ANSWER_BYTES_MAX: usize = ACCOUNTS_REQUEST_MAX * 64 + 512;

/// Decodes the body of [`InternalCall::ShardAccounts`]: at most [`ACCOUNTS_REQUEST_MAX`]
/// addresses.
pub fn decode_accounts_request(body: &[u8]) -> Result<Vec<Address>, ApiError> {
    let addresses: Vec<Address> = decode(body, ACCOUNTS_REQUEST_BYTES_MAX)?;
    if addresses.len() > ACCOUNTS_REQUEST_MAX {
        return Err(ApiError::bad_request(
            "too_many_accounts",
            format!(
                "{} accounts asked for; at most {ACCOUNTS_REQUEST_MAX} in one call",
                addresses.len()
            ),
        ));
    }
    Ok(addresses)
}

/// Answer of [`InternalCall::ShardAccounts`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardAccounts {
    /// The shard's metadata: the height and root the states are taken at.
    pub meta: ShardMeta,
    /// Each asked-for account in the order asked, `None` where it does not exist.
    pub accounts: Vec<Option<Account>>,
}

/// What an apply did, with the shard's metadata afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyStatus {
    /// The write set was applied now.
    Applied,
    /// That height was applied before: nothing changed.
    AlreadyApplied,
}

/// Answer of [`InternalCall::Apply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyAnswer {
    /// What happened.
    pub status: ApplyStatus,
    /// The shard's metadata afterwards.
    pub meta: ShardMeta,
}

/// Answer of [`InternalCall::ApplyThenWitness`]: the write set's outcome, and the witness or
/// why the shard could not give it (the write set stays applied either way).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyThenWitnessAnswer {
    /// What applying did.
    pub applied: ApplyAnswer,
    /// The proofs against the root after the write set.
    pub witness: Result<crate::trie::PartialTree, String>,
}

/// Answer of [`InternalCall::ShardStats`]: what `GET /metrics` reports per shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardStats {
    /// The shard's metadata (index, applied height, root).
    pub meta: ShardMeta,
    /// Accounts the shard holds (every funded or used address in its range).
    pub accounts: u64,
    /// Bytes of wasm linear memory of the isolate the shard runs in: its heap at its largest
    /// since the isolate started (shards of one Worker may share an isolate, and then this).
    #[serde(default)]
    pub wasm_memory_bytes: u64,
}

/// Body of [`InternalCall::Authorize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardRequest {
    /// Height of the block to sign.
    pub height: u64,
    /// Its hash.
    pub block_hash: Hash,
}

/// Answer of [`InternalCall::Authorize`]: the guard recorded the block (durably) and allows
/// signing it, or the validator simulates a fault and nothing was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardAnswer {
    /// A new height: signed for the first time.
    Sign,
    /// The block signed before at this height: signing again is a retry.
    Resign,
    /// The validator simulates this fault: it must answer as the fault says, not sign.
    Simulating(SimulatedFault),
}

impl From<GuardDecision> for GuardAnswer {
    fn from(decision: GuardDecision) -> Self {
        match decision {
            GuardDecision::Sign => Self::Sign,
            GuardDecision::Resign => Self::Resign,
        }
    }
}

/// A fault a validator simulates, for testing the protocol on the real runtime. Only a
/// validator whose configuration enables fault injection accepts anything but `healthy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultMode {
    /// Votes as the protocol says.
    #[default]
    Healthy,
    /// Answers every proposal with 503, as if stopped.
    Down,
    /// Answers every proposal with bytes that are not a vote.
    Garbage,
}

impl FaultMode {
    /// The fault this mode simulates; `None` when the validator is healthy.
    pub fn simulated(self) -> Option<SimulatedFault> {
        match self {
            Self::Healthy => None,
            Self::Down => Some(SimulatedFault::Down),
            Self::Garbage => Some(SimulatedFault::Garbage),
        }
    }
}

/// A fault being simulated: the [`FaultMode`]s other than `healthy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimulatedFault {
    /// See [`FaultMode::Down`].
    Down,
    /// See [`FaultMode::Garbage`].
    Garbage,
}

/// Body and answer of [`InternalCall::SetFault`] (and of the public admin endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRequest {
    /// The mode to simulate.
    pub mode: FaultMode,
}

/// Answer of [`InternalCall::Transaction`]: the status, or where in KV the archived block
/// holding the transaction is (the front door reads it there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxLookup {
    /// The answer, from hot storage.
    Found(Box<TxStatusRecord>),
    /// Committed in an archived block.
    Archived {
        /// The block's height.
        height: u64,
        /// The transaction's position in it.
        position: u32,
    },
}

/// A [`TxStatusAnswer`] with every field present, as it travels between services.
///
/// The internal encoding writes a struct as a positional array, so the public answer's
/// skipped empty fields would shift the ones after them (a rejection's `reason` would be read
/// as a `height`). This record never skips; it converts to and from the answer exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxStatusRecord {
    /// The transaction's hash.
    pub hash: Hash,
    /// Where it stands.
    pub status: crate::api::TxState,
    /// Height of the block that includes it.
    pub height: Option<u64>,
    /// Hash of that block.
    pub block_hash: Option<Hash>,
    /// Position in that block.
    pub index: Option<u32>,
    /// Its receipt.
    pub receipt: Option<crate::block::Receipt>,
    /// Why it was rejected.
    pub reason: Option<crate::api::Reason>,
}

impl From<TxStatusAnswer> for TxStatusRecord {
    fn from(answer: TxStatusAnswer) -> Self {
        let TxStatusAnswer {
            hash,
            status,
            height,
            block_hash,
            index,
            receipt,
            reason,
        } = answer;
        Self {
            hash,
            status,
            height,
            block_hash,
            index,
            receipt,
            reason,
        }
    }
}

impl From<TxStatusRecord> for TxStatusAnswer {
    fn from(record: TxStatusRecord) -> Self {
        let TxStatusRecord {
            hash,
            status,
            height,
            block_hash,
            index,
            receipt,
            reason,
        } = record;
        Self {
            hash,
            status,
            height,
            block_hash,
            index,
            receipt,
            reason,
        }
    }
}

/// A block looked up by height or hash: what hot storage holds of it, or that it is archived
/// in KV.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lookup<T> {
    /// The answer, from hot storage.
    Found(Box<T>),
    /// Archived: read it from KV.
    Archived {
        /// Its height.
        height: u64,
        /// Its hash, when the `Sequencer` knows it (looked up by hash).
        hash: Option<Hash>,
    },
}

/// Answer of [`InternalCall::Block`]: the block, or that it is archived in KV.
pub type BlockLookup = Lookup<BlockAnswer>;

/// Answer of [`InternalCall::FullBlock`]: the block with its transactions, or that it is
/// archived in KV.
pub type FullBlockLookup = Lookup<CertifiedBlock>;

/// Answer of [`InternalCall::RawTransaction`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RawTxLookup {
    /// In a hot block.
    Committed {
        /// The block's hash.
        block_hash: Hash,
        /// Its height.
        height: u64,
        /// The transaction's raw bytes.
        raw: serde_bytes::ByteBuf,
        /// Its receipt.
        receipt: crate::block::Receipt,
    },
    /// Queued, not yet in a block.
    Pending(WireTx),
    /// In an archived block: read it from KV.
    Archived {
        /// The block's height.
        height: u64,
        /// The transaction's position in it.
        position: u32,
    },
    /// Dropped or refused, or never seen.
    Absent,
}

/// Answer of [`InternalCall::ArchiveBlocks`].
pub type ArchiveBlocksAnswer = Vec<CertifiedBlock>;

/// Answer of [`InternalCall::Checkpoint`]: the head's certified state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The head's header.
    pub header: Header,
    /// Its quorum certificate.
    pub certificate: QuorumCertificate,
    /// Every shard's root at the head.
    pub shard_roots: Vec<Hash>,
    /// Whether every shard confirmed the head's write sets (only then is each shard at the
    /// head's root).
    pub settled: bool,
}

/// Body of [`InternalCall::Restore`]: the restored certified block and the shard roots after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreRequest {
    /// The block's header.
    pub header: Header,
    /// Its quorum certificate.
    pub certificate: QuorumCertificate,
    /// Every shard's root after it.
    pub shard_roots: Vec<Hash>,
}

/// Body of [`InternalCall::SnapshotOpen`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotOpenRequest {
    /// The root the shard must be at (its certified root at the backup's height).
    pub expected_root: Hash,
}

/// Answer of [`InternalCall::SnapshotOpen`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotOpened {
    /// The shard's metadata when the copy was made.
    pub meta: ShardMeta,
    /// Accounts in the copy.
    pub accounts: u64,
}

/// Body of [`InternalCall::SnapshotPage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotPageRequest {
    /// Accounts strictly after this address (`None`: from the first).
    pub after: Option<Address>,
    /// Most accounts to return, at most [`crate::snapshot::SNAPSHOT_PAGE_ACCOUNTS_MAX`].
    pub limit: u32,
}

/// Body of [`InternalCall::ShardRestore`]: a restore is `Begin`, any number of `Page`s (in
/// address order), then `Finish`, which replaces the shard's state in one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShardRestoreStep {
    /// Starts staging a restore (discarding any earlier staging).
    Begin {
        /// Height of the restored block.
        height: u64,
        /// The shard's certified root there.
        root: Hash,
        /// Accounts that will follow.
        accounts: u64,
    },
    /// More accounts.
    Page(Vec<(Address, Account)>),
    /// Replaces the shard's state with the staged accounts, if they hash to the root.
    Finish,
}

/// Answer of [`InternalCall::ShardRestore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRestoreAnswer {
    /// Accounts staged so far.
    pub staged: u64,
    /// After `Finish`: the shard's metadata, now the restored one.
    pub meta: Option<ShardMeta>,
}

/// Body of [`InternalCall::Lease`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRequest {
    /// The run asking (a random id per run).
    pub holder: u64,
    /// Take (or renew) the lease; `false`: give it back.
    pub acquire: bool,
    /// How long the lease lasts unless given back or renewed, in ms.
    #[serde(default = "default_lease_ms")]
    pub lease_ms: u64,
}

const fn default_lease_ms() -> u64 {
    crate::archive::ARCHIVER_LEASE_MS
}

/// Body of [`InternalCall::ArchiverRun`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RunRequest {
    /// Make a backup even if the schedule says none is due.
    pub force_backup: bool,
}

/// Answer of [`InternalCall::ArchiverRun`]: what one run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    /// Heights moved to KV and pruned, if any.
    pub archived: Option<(u64, u64)>,
    /// Cold storage after the run.
    pub archive: ArchiveStatus,
    /// The backup made, if one was.
    pub backup: Option<BackupRecord>,
    /// Why no backup was made, if none was.
    pub backup_skipped: Option<String>,
    /// CIDs unpinned because they fell out of the retained history.
    pub unpinned: Vec<String>,
}

/// Body of [`InternalCall::RestoreBackup`] (and of `POST /v1/admin/restore`, as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreBackupRequest {
    /// The CID to restore: it must be the latest backup's.
    pub cid: String,
}

/// Answer of [`InternalCall::RestoreBackup`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreReport {
    /// The backup restored.
    pub cid: String,
    /// Height the chain resumes from.
    pub height: u64,
    /// That block's hash.
    pub block_hash: Hash,
    /// The state root restored.
    pub state_root: Hash,
    /// Accounts restored.
    pub accounts: u64,
    /// Shards reloaded.
    pub shards: u32,
}

/// Encodes an internal body.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    codec::encode(value)
}

/// Decodes an internal body of at most `limit` bytes: 400 `malformed_body` (or 413) if it is
/// not what the call expects.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, ApiError> {
    codec::decode(bytes, limit).map_err(ApiError::from)
}

/// Encodes an error answer's body (send it with `error.status`).
pub fn encode_error(error: &ApiError) -> Vec<u8> {
    codec::encode(&error.body())
}

/// Turns an internal error answer back into an [`ErrorAnswer`], keeping status, code and
/// message, so the front door can pass it on in the client's format. An unreadable body
/// becomes `internal_error`.
pub fn decode_error(status: u16, body: &[u8]) -> ErrorAnswer {
    match codec::decode::<ErrorBody>(body, crate::limits::REQUEST_BYTES_MAX) {
        Ok(body) => ErrorAnswer { status, body },
        Err(_) => ApiError::new(
            status,
            "internal_error",
            format!("an internal call failed with status {status}"),
        )
        .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_calls() -> Vec<InternalCall> {
        let hash = Hash::from([7; 32]);
        let address = Address::from([9; 20]);
        vec![
            InternalCall::Submit,
            InternalCall::Status,
            InternalCall::Metrics,
            InternalCall::Transaction(hash),
            InternalCall::Block(BlockSelector::Latest),
            InternalCall::Block(BlockSelector::Height(12)),
            InternalCall::Block(BlockSelector::Hash(hash)),
            InternalCall::AwaitBlock {
                height: 13,
                wait_ms: 1_000,
            },
            InternalCall::FullBlock(BlockSelector::Latest),
            InternalCall::FullBlock(BlockSelector::Height(3)),
            InternalCall::FullBlock(BlockSelector::Hash(hash)),
            InternalCall::RawTransaction(hash),
            InternalCall::AccountContext { address, height: 5 },
            InternalCall::SetPaused(true),
            InternalCall::SetPaused(false),
            InternalCall::Witness,
            InternalCall::Apply,
            InternalCall::ApplyThenWitness,
            InternalCall::ShardAccount {
                address,
                proof: true,
            },
            InternalCall::ShardAccount {
                address,
                proof: false,
            },
            InternalCall::ShardAccounts,
            InternalCall::ShardStats,
            InternalCall::Propose,
            InternalCall::Authorize,
            InternalCall::SetFault,
            InternalCall::Fault,
            InternalCall::ArchiveStatus,
            InternalCall::ArchiveBlocks { from: 3, to: 9 },
            InternalCall::Prune { through: 7 },
            InternalCall::Checkpoint,
            InternalCall::Restore,
            InternalCall::SnapshotOpen,
            InternalCall::SnapshotPage,
            InternalCall::ShardRestore,
            InternalCall::Lease,
            InternalCall::ArchiverRun,
            InternalCall::Backups,
            InternalCall::RestoreBackup,
        ]
    }

    #[test]
    fn the_largest_accounts_request_and_answer_fit_their_limits() {
        let addresses = vec![Address([0xff; 20]); ACCOUNTS_REQUEST_MAX];
        assert!(encode(&addresses).len() <= ACCOUNTS_REQUEST_BYTES_MAX);
        assert_eq!(
            decode_accounts_request(&encode(&addresses)),
            Ok(addresses.clone())
        );
        let one_too_many = vec![Address([0; 20]); ACCOUNTS_REQUEST_MAX + 1];
        let refused = decode_accounts_request(&encode(&one_too_many)).expect_err("too many");
        assert_eq!(refused.status, 400);
        let richest = Account {
            nonce: u64::MAX,
            balance: crate::primitives::U256::MAX,
        };
        let answer = ShardAccounts {
            meta: ShardMeta {
                shard: u16::MAX,
                applied_height: u64::MAX,
                root: Hash([0xff; 32]),
            },
            accounts: vec![Some(richest); ACCOUNTS_REQUEST_MAX],
        };
        let bytes = encode(&answer);
        assert!(bytes.len() <= ACCOUNTS_ANSWER_BYTES_MAX, "{}", bytes.len());
        assert_eq!(
            decode::<ShardAccounts>(&bytes, ACCOUNTS_ANSWER_BYTES_MAX),
            Ok(answer)
        );
    }

    #[test]
    fn every_call_parses_back_from_its_request_line() {
        for call in all_calls() {
            let path = call.path();
            let (path, query) = match path.split_once('?') {
                Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
                None => (path, None),
            };
            assert_eq!(
                InternalCall::parse(call.method(), &path, query.as_deref()),
                Some(call),
                "{path}"
            );
            assert!(call.url().starts_with(INTERNAL_ORIGIN));
        }
    }

    #[test]
    fn a_wrong_method_or_unknown_path_is_not_a_call() {
        assert_eq!(InternalCall::parse("GET", "/submit", None), None);
        assert_eq!(InternalCall::parse("POST", "/status", None), None);
        assert_eq!(InternalCall::parse("GET", "/v1/status", None), None);
        assert_eq!(InternalCall::parse("GET", "/txs/0x12", None), None);
        assert_eq!(
            InternalCall::parse(
                "GET",
                &format!("/accounts/{}", Address::from([1; 20])),
                Some("x=1")
            ),
            None
        );
    }

    #[test]
    fn errors_round_trip_with_their_status_and_code() {
        let error = ApiError::new(409, "guard_refused", "already signed another block");
        let decoded = decode_error(409, &encode_error(&error));
        assert_eq!(decoded, ErrorAnswer::from(error));
        let garbage = decode_error(502, b"not msgpack");
        assert_eq!(
            (garbage.status, garbage.body.error.code.as_str()),
            (502, "internal_error")
        );
    }

    #[test]
    fn a_submission_carries_its_refusals_and_request_id() {
        let request = SubmitRequest {
            transactions: Vec::new(),
            refused: RefusalCount::tally(["wrong_chain_id", "high_s", "wrong_chain_id"]),
            request_id: Some("req-1".to_owned()),
        };
        assert_eq!(
            request.refused,
            vec![
                RefusalCount {
                    code: "high_s".to_owned(),
                    count: 1
                },
                RefusalCount {
                    code: "wrong_chain_id".to_owned(),
                    count: 2
                },
            ]
        );
        let decoded: SubmitRequest = decode(&encode(&request), 1024).expect("decodes");
        assert_eq!(decoded, request);
        // A body from before the refusals and the request id still decodes.
        #[derive(Serialize)]
        struct Earlier {
            transactions: Vec<WireTx>,
        }
        let earlier = Earlier {
            transactions: Vec::new(),
        };
        let decoded: SubmitRequest = decode(&encode(&earlier), 1024).expect("decodes");
        assert_eq!((decoded.refused.len(), decoded.request_id), (0, None));
    }

    #[test]
    fn every_transaction_status_crosses_the_internal_encoding_intact() {
        use crate::api::{Reason, TxStatusAnswer};
        let hash = Hash::from([3; 32]);
        let answers = [
            TxStatusAnswer::pending(hash),
            TxStatusAnswer::unknown(hash),
            TxStatusAnswer::rejected(
                hash,
                Reason {
                    code: "insufficient_funds".to_owned(),
                    message: "cannot pay".to_owned(),
                },
            ),
        ];
        for answer in answers {
            let lookup = TxLookup::Found(Box::new(answer.clone().into()));
            let decoded: TxLookup = decode(&encode(&lookup), 4096).expect("decodes");
            let TxLookup::Found(record) = decoded else {
                unreachable!("encoded a found answer");
            };
            assert_eq!(TxStatusAnswer::from(*record), answer);
        }
    }

    #[test]
    fn bodies_round_trip() {
        let request = GuardRequest {
            height: 3,
            block_hash: Hash::from([1; 32]),
        };
        let decoded: GuardRequest = decode(&encode(&request), 1024).expect("decodes");
        assert_eq!(decoded, request);
        let fault = FaultRequest {
            mode: FaultMode::Garbage,
        };
        let decoded: FaultRequest = decode(&encode(&fault), 1024).expect("decodes");
        assert_eq!(decoded, fault);
        for answer in [
            GuardAnswer::Sign,
            GuardAnswer::Resign,
            GuardAnswer::Simulating(SimulatedFault::Down),
        ] {
            let decoded: GuardAnswer = decode(&encode(&answer), 1024).expect("decodes");
            assert_eq!(decoded, answer);
        }
        assert_eq!(FaultMode::Healthy.simulated(), None);
        assert_eq!(FaultMode::Down.simulated(), Some(SimulatedFault::Down));
        assert_eq!(
            FaultMode::Garbage.simulated(),
            Some(SimulatedFault::Garbage)
        );
        assert!(decode::<GuardRequest>(b"\x01", 1024).is_err());
    }
}
