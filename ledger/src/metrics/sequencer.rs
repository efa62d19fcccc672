//! What the `Sequencer` object counts, and the snapshot it answers
//! [`crate::wire::InternalCall::Metrics`] with.
//!
//! Counting is cheap on the hot path: increments in memory, nothing written to storage. The
//! shell feeds [`SequencerMetrics`] what it already sees (the rulings of a submission, the
//! effects it performs, each vote's arrival) with the time it reads from its clock.
//!
//! Two choices, documented here because operators see their consequences:
//! - **Counters live in memory and start at zero when the object is loaded** (after a deploy,
//!   an eviction or a crash). Prometheus treats a counter that goes down as a reset, so
//!   `rate()` and `increase()` stay right; [`SequencerCounters::since_ms`] is exported as
//!   `edgeledger_sequencer_start_time_seconds` so resets can be seen. Persisting them once per
//!   commit would survive restarts, but a crash between two commits would then move them
//!   *back* by the admissions since the last commit, which Prometheus cannot tell from a reset
//!   and would count as a huge increase.
//! - **Submit-to-commit latency is timed from a bounded in-memory map** from a transaction's
//!   hash to when its admission was persisted (at most [`ADMISSION_TIMES_MAX`] entries, the
//!   mempool's capacity; ordered by hash, so clients cannot flood a hash table). Transactions
//!   admitted before the object was loaded are not timed; persisting the admit time with the
//!   pending row would cover them, at the price of a schema change for a metric.

use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use super::Histogram;
use super::logs::COMMIT_LOG_REQUEST_IDS_MAX;
use crate::limits::{BLOCK_TXS_MAX, MEMPOOL_TXS_MAX, VALIDATORS_MAX};
use crate::mempool::Admission;
use crate::primitives::Hash;
use crate::sequencer::Effect;
use crate::state::ShardIndex;

/// Upper bounds (seconds) of the latency histograms: submit to commit, proposal round trip,
/// vote latency. From a few milliseconds (a vote on an idle network) to a minute (a stalled
/// round retried).
pub const LATENCY_BUCKETS_SECONDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Upper bounds of the block size histogram (transactions per block), up to a full block.
pub const BLOCK_TRANSACTIONS_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1_000.0, 2_000.0, 4_096.0,
];

const _: () = assert!(
    BLOCK_TXS_MAX == 4_096,
    "the last block size bucket is a full block"
);

/// Admissions timed at once, at most: the mempool's capacity.
pub const ADMISSION_TIMES_MAX: usize = MEMPOOL_TXS_MAX;

/// Distinct reason labels kept per counter; further reasons are counted as [`OTHER_REASON`].
/// Reason codes are the crate's constants, far fewer than this; the bound only keeps a
/// misbehaving caller from growing the label set.
pub const REASONS_MAX: usize = 64;

/// The reason label of refusals past [`REASONS_MAX`] or with a malformed code.
pub const OTHER_REASON: &str = "other";

/// Longest reason code kept as a label.
pub const REASON_BYTES_MAX: usize = 48;

/// Counts of one kind of refusal by reason code.
pub type ReasonCounts = BTreeMap<String, u64>;

/// Per validator (by index in the validator set): its answers to proposals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidatorCounters {
    /// Proposals it answered with a vote.
    pub votes: u64,
    /// Proposals it did not vote on: an error, a refusal or no answer before the deadline.
    pub missed: u64,
    /// Time from sending the proposal to its vote.
    pub vote_latency_seconds: Histogram,
}

impl Default for ValidatorCounters {
    fn default() -> Self {
        Self {
            votes: 0,
            missed: 0,
            vote_latency_seconds: Histogram::new(LATENCY_BUCKETS_SECONDS),
        }
    }
}

/// Everything the `Sequencer` counts since it was loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequencerCounters {
    /// When counting began (the object was loaded), milliseconds since the Unix epoch.
    pub since_ms: u64,
    /// Transactions admitted to the mempool.
    pub admitted: u64,
    /// Submissions of a transaction already pending or committed.
    pub duplicates: u64,
    /// Transactions refused at submission, by reason code (decoding and signature refusals
    /// reported by the front door, and the mempool's refusals).
    pub rejected: ReasonCounts,
    /// Admitted transactions dropped because they can never be included, by reason code.
    pub dropped: ReasonCounts,
    /// Blocks committed.
    pub blocks_committed: u64,
    /// Transactions in committed blocks.
    pub transactions_committed: u64,
    /// Transactions per committed block.
    pub block_transactions: Histogram,
    /// From persisting a transaction's admission to persisting the block holding it.
    pub commit_latency_seconds: Histogram,
    /// Proposals sent (each sending, re-proposals included).
    pub proposals_sent: u64,
    /// From first proposing a block to committing it with its certificate.
    pub proposal_round_trip_seconds: Histogram,
    /// Per validator, by index.
    pub validators: Vec<ValidatorCounters>,
}

impl SequencerCounters {
    /// All zero, counting from `since_ms`.
    pub fn new(since_ms: u64) -> Self {
        Self {
            since_ms,
            admitted: 0,
            duplicates: 0,
            rejected: ReasonCounts::new(),
            dropped: ReasonCounts::new(),
            blocks_committed: 0,
            transactions_committed: 0,
            block_transactions: Histogram::new(BLOCK_TRANSACTIONS_BUCKETS),
            commit_latency_seconds: Histogram::new(LATENCY_BUCKETS_SECONDS),
            proposals_sent: 0,
            proposal_round_trip_seconds: Histogram::new(LATENCY_BUCKETS_SECONDS),
            validators: Vec::new(),
        }
    }
}

/// The answer of [`crate::wire::InternalCall::Metrics`]: the `Sequencer`'s state and counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequencerSnapshot {
    /// Height of the head.
    pub head_height: u64,
    /// The head block's timestamp, milliseconds since the Unix epoch.
    pub head_timestamp_ms: u64,
    /// Transactions pending in the mempool.
    pub mempool_transactions: u64,
    /// Whether block production is paused.
    pub paused: bool,
    /// Write sets committed but not yet confirmed by their shard, as (height, shard).
    pub unconfirmed_write_sets: Vec<(u64, ShardIndex)>,
    /// Every block from 1 through this height is archived in KV (0: none).
    pub archived_through: u64,
    /// Admissions whose commit latency is being timed.
    pub latency_tracked: u64,
    /// Blocks proposed the moment their parent committed, built while it was voted on, since
    /// the `Sequencer` started ([`crate::sequencer::Status::blocks_proposed_ahead`]).
    #[serde(default)]
    pub blocks_proposed_ahead: u64,
    /// Bytes of wasm linear memory of the isolate the `Sequencer` runs in: its heap at its
    /// largest since the isolate started (0 where the shell cannot tell, as natively).
    #[serde(default)]
    pub wasm_memory_bytes: u64,
    /// The counters.
    pub counters: SequencerCounters,
}

/// What a commit did, for its log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitObservation {
    /// The block's height.
    pub height: u64,
    /// Its hash.
    pub block_hash: Hash,
    /// Transactions in it.
    pub transactions: usize,
    /// Of those, how many had their latency timed.
    pub timed: usize,
    /// The request ids that submitted them (distinct, at most
    /// [`COMMIT_LOG_REQUEST_IDS_MAX`]).
    pub request_ids: Vec<Rc<str>>,
}

/// When an admission was persisted, and the request that made it.
#[derive(Debug, Clone)]
struct Admitted {
    at_ms: u64,
    request_id: Option<Rc<str>>,
}

/// The `Sequencer`'s counters and the state needed to time commits and proposals.
#[derive(Debug)]
pub struct SequencerMetrics {
    counters: SequencerCounters,
    admitted_at: BTreeMap<Hash, Admitted>,
    /// The height being proposed and when it was first sent.
    proposed: Option<(u64, u64)>,
    /// The request ids of the latest commits, newest last, for their write sets' traces.
    recent_commits: VecDeque<(u64, Vec<Rc<str>>)>,
}

/// Commits whose request ids are remembered for their write sets (sent right after commit;
/// a write set resent after a restart goes without).
const RECENT_COMMITS_MAX: usize = 16;

impl SequencerMetrics {
    /// Counting from `now_ms`.
    pub fn new(now_ms: u64) -> Self {
        Self {
            counters: SequencerCounters::new(now_ms),
            admitted_at: BTreeMap::new(),
            proposed: None,
            recent_commits: VecDeque::new(),
        }
    }

    /// The counters so far.
    pub const fn counters(&self) -> &SequencerCounters {
        &self.counters
    }

    /// Admissions being timed.
    pub fn latency_tracked(&self) -> usize {
        self.admitted_at.len()
    }

    /// Counts a transaction refused before the mempool (by decoding or its signature), by its
    /// [`crate::transaction::TxRejection`] code.
    pub fn refused(&mut self, code: &str, count: u64) {
        add_reason(&mut self.counters.rejected, code, count);
    }

    /// Counts the mempool's rulings on a submission, and starts timing the accepted ones
    /// (call once their admission is persisted; `hashes` pairs with `admissions`).
    pub fn admissions(
        &mut self,
        now_ms: u64,
        hashes: &[Hash],
        admissions: &[Admission],
        request_id: Option<&Rc<str>>,
    ) {
        for (hash, admission) in hashes.iter().zip(admissions) {
            match admission {
                Admission::Accepted => {
                    self.counters.admitted += 1;
                    if self.admitted_at.len() < ADMISSION_TIMES_MAX {
                        self.admitted_at.insert(
                            *hash,
                            Admitted {
                                at_ms: now_ms,
                                request_id: request_id.cloned(),
                            },
                        );
                    }
                }
                Admission::Duplicate => self.counters.duplicates += 1,
                Admission::Rejected(rejection) => {
                    add_reason(&mut self.counters.rejected, rejection.code(), 1);
                }
            }
        }
    }

    /// Counts what an effect the shell performed says: proposals, drops and commits. Returns
    /// what a commit did, for its log line.
    pub fn effect(&mut self, now_ms: u64, effect: &Effect) -> Option<CommitObservation> {
        match effect {
            Effect::Propose(proposal) => {
                self.counters.proposals_sent += 1;
                let height = proposal.header.height;
                if self.proposed.is_none_or(|(proposed, _)| proposed != height) {
                    self.proposed = Some((height, now_ms));
                }
                None
            }
            Effect::DropPending(dropped) => {
                for (hash, exclusion) in dropped {
                    self.admitted_at.remove(hash);
                    add_reason(&mut self.counters.dropped, exclusion.code(), 1);
                }
                None
            }
            Effect::Commit { block, .. } => Some(self.commit(now_ms, block)),
            Effect::PersistPending(_)
            | Effect::SetAlarm(_)
            | Effect::RequestWitness { .. }
            | Effect::SendWriteSet(_)
            | Effect::ApplyThenWitness { .. }
            | Effect::SetPaused(_) => None,
        }
    }

    fn commit(&mut self, now_ms: u64, block: &crate::block::CertifiedBlock) -> CommitObservation {
        let height = block.header.height;
        let transactions = block.receipts.len();
        self.counters.blocks_committed += 1;
        self.counters.transactions_committed += transactions as u64;
        self.counters
            .block_transactions
            .observe(transactions as f64);
        if let Some((proposed, at_ms)) = self.proposed.take() {
            if proposed == height {
                self.counters
                    .proposal_round_trip_seconds
                    .observe(seconds_between(at_ms, now_ms));
            }
        }
        let mut timed = 0;
        let mut request_ids: Vec<Rc<str>> = Vec::new();
        for receipt in &block.receipts {
            let Some(admitted) = self.admitted_at.remove(&receipt.tx_hash) else {
                continue;
            };
            timed += 1;
            self.counters
                .commit_latency_seconds
                .observe(seconds_between(admitted.at_ms, now_ms));
            if let Some(id) = admitted.request_id {
                if request_ids.len() < COMMIT_LOG_REQUEST_IDS_MAX && !request_ids.contains(&id) {
                    request_ids.push(id);
                }
            }
        }
        if self.recent_commits.len() == RECENT_COMMITS_MAX {
            self.recent_commits.pop_front();
        }
        self.recent_commits.push_back((height, request_ids.clone()));
        CommitObservation {
            height,
            block_hash: block.header.hash(),
            transactions,
            timed,
            request_ids,
        }
    }

    /// The ids of the requests that submitted these transactions, where they are being timed
    /// (distinct, at most [`COMMIT_LOG_REQUEST_IDS_MAX`]): what the proposal's trace names.
    pub fn request_ids<'a>(&self, hashes: impl IntoIterator<Item = &'a Hash>) -> Vec<Rc<str>> {
        let mut ids: Vec<Rc<str>> = Vec::new();
        for hash in hashes {
            if ids.len() == COMMIT_LOG_REQUEST_IDS_MAX {
                break;
            }
            let Some(id) = self
                .admitted_at
                .get(hash)
                .and_then(|admitted| admitted.request_id.as_ref())
            else {
                continue;
            };
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        ids
    }

    /// The request ids of the block committed at `height`, if it is one of the latest.
    pub fn commit_request_ids(&self, height: u64) -> &[Rc<str>] {
        self.recent_commits
            .iter()
            .rev()
            .find(|(committed, _)| *committed == height)
            .map_or(&[], |(_, ids)| ids.as_slice())
    }

    /// A validator answered a proposal (`voted`) or did not, `elapsed_ms` after it was sent.
    /// Indices at or past [`VALIDATORS_MAX`] are ignored.
    pub fn vote(&mut self, validator: usize, elapsed_ms: u64, voted: bool) {
        if validator >= VALIDATORS_MAX {
            return;
        }
        let validators = &mut self.counters.validators;
        if validators.len() <= validator {
            validators.resize_with(validator + 1, ValidatorCounters::default);
        }
        let counters = &mut validators[validator];
        if voted {
            counters.votes += 1;
            counters
                .vote_latency_seconds
                .observe(elapsed_ms as f64 / 1000.0);
        } else {
            counters.missed += 1;
        }
    }

    /// Forgets admissions no longer pending (`is_pending` false), should any have left the
    /// mempool unseen; cheap to call when more are timed than are pending.
    pub fn reconcile(&mut self, pending: usize, is_pending: impl Fn(&Hash) -> bool) {
        if self.admitted_at.len() > pending {
            self.admitted_at.retain(|hash, _| is_pending(hash));
        }
    }
}

/// Adds `count` to `code`'s counter, or to [`OTHER_REASON`]'s when the code is malformed or
/// the label set is full.
fn add_reason(counts: &mut ReasonCounts, code: &str, count: u64) {
    if let Some(counter) = counts.get_mut(code) {
        *counter = counter.saturating_add(count);
        return;
    }
    let well_formed = !code.is_empty()
        && code.len() <= REASON_BYTES_MAX
        && code
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_');
    let named = counts.len() - usize::from(counts.contains_key(OTHER_REASON));
    let key = if well_formed && named < REASONS_MAX - 1 {
        code
    } else {
        OTHER_REASON
    };
    let counter = counts.entry(key.to_owned()).or_insert(0);
    *counter = counter.saturating_add(count);
}

fn seconds_between(from_ms: u64, to_ms: u64) -> f64 {
    to_ms.saturating_sub(from_ms) as f64 / 1000.0
}
