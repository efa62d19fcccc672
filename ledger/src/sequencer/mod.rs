//! The sequencer state machine: ordering, mempool, proposals and the PBFT-lite commit.
//!
//! Sans I/O: each method takes an input (a submission, an alarm, a witness, a vote, a shard's
//! confirmation) with the current time and returns [`Effect`]s for the Durable Object shell to
//! perform, in order. The shell never decides anything; [`Persisted`] defines exactly what it
//! must store for each effect, and [`Sequencer::recover`] rebuilds the machine from that after
//! a crash (memory lost, storage kept).
//!
//! One round at a time: gather witnesses for the candidate transactions from the touched
//! shards, execute, propose, collect votes; at a quorum, commit and send write sets. Witnesses
//! are always taken against the committed roots: the next round starts at the commit when
//! every earlier write set is confirmed, its witness requests riding on the write sets (a
//! shard answers one after applying the other, [`Effect::ApplyThenWitness`]), and otherwise
//! when every shard has confirmed the last commit.
//!
//! While a proposal is voted on, the block after it is built ahead: its witnesses, taken at
//! the committed roots, are carried forward onto the voted block's post-state
//! ([`crate::trie::Witness::carried_forward`]) and it is executed there, so that it is
//! proposed the moment its parent commits, and the shards' and the execution's work overlaps
//! the validators' instead of following it. Only the proposal of a certified parent is ever
//! sent, so validators see nothing new. That proposal goes out before its parent's commit is
//! written (it carries the parent's certificate, from which a restart finishes the commit), so
//! the validators check it while the `Sequencer` writes. A proposal is persisted before it is
//! sent and re-proposed unchanged until certified: a validator that signed it may not sign
//! anything else at that height, so changing it could stall the chain.

mod pending_rows;
mod persisted;
mod staged_locations;

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::block::{BlockFormat, CertifiedBlock, Header};
use crate::consensus::{QuorumCertificate, Vote, VoteTally};
use crate::execution::{Exclusion, Execution, execute, touched_addresses};
use crate::genesis::ChainConfig;
use crate::in_memory::witness_requests;
use crate::limits::BLOCK_TXS_MAX;
use crate::mempool::{Admission, AdmissionRejection, Evicted, Mempool, MempoolLimits};
use crate::primitives::{Address, Hash};
use crate::proposal::Proposal;
use crate::shard::WitnessRequest;
use crate::state::ShardIndex;
use crate::transaction::{VerifiedTx, WireTx};
use crate::trie::{PartialTree, Witness};

pub use pending_rows::{PENDING_ROW_TXS_MAX, PendingRows, RowChanges, RowId};
pub use persisted::{Persisted, RecoveryError};
pub use staged_locations::{
    LOCATION_POSITION_BITS, LOCATION_RANGES, Location, StagedLocations, recent_heights,
};

/// Timing settings of a sequencer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How long a round may wait for witnesses or votes before it is retried.
    pub round_timeout_ms: u64,
    /// How long to wait before resending unconfirmed write sets.
    pub resend_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            round_timeout_ms: 2_000,
            resend_ms: 500,
        }
    }
}

/// The latest certified block: the chain's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Its header.
    pub header: Header,
    /// Its quorum certificate (the genesis certificate at height 0).
    pub certificate: QuorumCertificate,
}

/// Identifies one attempt at gathering witnesses, so late answers to an abandoned attempt are
/// ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RoundId {
    /// Height being built.
    pub height: u64,
    /// Attempt number at that height.
    pub attempt: u32,
}

/// Something the shell must do. Effects are performed in order; those that persist must be
/// durable before the shell answers the request that produced them.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Store newly admitted transactions as pending, keyed by hash. Must be durable before the
    /// submitter is answered: an acknowledged transaction is never lost.
    PersistPending(Vec<(Hash, WireTx)>),
    /// Remove transactions from pending and record why they can never be included.
    DropPending(Vec<(Hash, Exclusion)>),
    /// Run [`Sequencer::alarm`] at this time (replacing a later alarm).
    SetAlarm(u64),
    /// Ask a shard for a witness; feed the answer to [`Sequencer::witness_received`].
    RequestWitness {
        /// The attempt this belongs to.
        round: RoundId,
        /// The request for the shard.
        request: WitnessRequest,
    },
    /// Store this proposal, then send it to every validator; feed their votes to
    /// [`Sequencer::vote_received`]. It replaces any stored proposal but its parent's: a
    /// proposal of a block built ahead comes before its parent's [`Effect::Commit`] and
    /// carries that block's certificate, so until the commit is stored the parent's proposal
    /// is what a restart finishes it from ([`Persisted::record`]). Let it leave before
    /// performing the effects after it: the validators then check it while those are written.
    Propose(Rc<Proposal>),
    /// The commit point. Atomically: store the certified block and its transaction index,
    /// make it the head, store the new shard roots, remove its transactions from pending,
    /// record its write sets as unconfirmed, forget the stored copies of the write sets
    /// confirmed since the last commit, and delete the stored proposal of this block (not
    /// the next block's, which may be stored already).
    Commit {
        /// The certified block.
        block: Box<CertifiedBlock>,
        /// Every shard's root after it.
        shard_roots: Vec<Hash>,
        /// What each touched shard must apply.
        write_sets: Vec<crate::execution::WriteSet>,
        /// The write sets, as (height, shard), that their shards confirmed since the last
        /// commit. A confirmation is not worth a storage transaction of its own (one a shard
        /// a block, each a disk sync): until a commit records it, a restart resends that
        /// write set, and the shard answers that it already applied it.
        confirmed: Vec<(u64, ShardIndex)>,
    },
    /// Send a write set to its shard; feed the answer to [`Sequencer::write_set_applied`].
    SendWriteSet(crate::execution::WriteSet),
    /// Send a write set to its shard with the next round's witness request, which the shard
    /// answers once the write set is applied (so against the root it produces): one call
    /// instead of two, and no wait between the commit and the next round. Feed the answers
    /// to [`Sequencer::write_set_applied`], then to [`Sequencer::witness_received`].
    ApplyThenWitness {
        /// What the shard must apply.
        write_set: crate::execution::WriteSet,
        /// The attempt the witness belongs to.
        round: RoundId,
        /// The witness request, at the root after the write set.
        request: WitnessRequest,
    },
    /// Store whether block production is paused.
    SetPaused(bool),
}

impl Effect {
    /// True for a call to another object or a request for the alarm, false for storage. A
    /// shell recovering from a crash performs the storage effects of [`Sequencer::recover`] at
    /// once and may leave its calls to the alarm, which makes them again (its first alarm
    /// re-sends the proposal and the unconfirmed write sets).
    pub const fn is_call(&self) -> bool {
        matches!(
            self,
            Self::RequestWitness { .. }
                | Self::SendWriteSet(_)
                | Self::ApplyThenWitness { .. }
                | Self::SetAlarm(_)
                | Self::Propose(_)
        )
    }
}

/// What the sequencer is doing.
#[derive(Debug, Clone)]
enum Round {
    /// Nothing in flight.
    Idle,
    /// Waiting for witnesses from the touched shards.
    Witnessing(Box<Witnessing>),
    /// A proposal is out; waiting for a quorum of votes.
    Voting(Box<Voting>),
}

#[derive(Debug, Clone)]
struct Witnessing {
    id: RoundId,
    candidates: Vec<VerifiedTx>,
    waiting: BTreeSet<ShardIndex>,
    parts: BTreeMap<ShardIndex, PartialTree>,
    deadline_ms: u64,
}

#[derive(Debug, Clone)]
struct Voting {
    /// Shared with the [`Effect::Propose`] that sends it.
    proposal: Rc<Proposal>,
    execution: Execution,
    tally: VoteTally,
    deadline_ms: u64,
    /// The next block, built while this one is voted on.
    ahead: Option<Ahead>,
}

/// The block after the one being voted on, built on that block's post-state (its
/// [`Execution::post_state`] carried forward with witnesses taken at the committed roots) so
/// that it can be proposed the moment its parent is certified: the shards' witnesses and
/// the execution then overlap the validators' checks instead of following them. The voted
/// block is certain to commit as proposed (it is re-proposed unchanged until it is), so
/// nothing built on it is ever undone; only lost, when the `Sequencer` restarts.
#[derive(Debug, Clone)]
enum Ahead {
    /// Waiting for witnesses of its candidates at the committed roots.
    Witnessing(Witnessing),
    /// Built: everything of its proposal but the parent's certificate.
    Built(Box<BuiltAhead>),
}

#[derive(Debug, Clone)]
struct BuiltAhead {
    header: Header,
    transactions: Vec<WireTx>,
    witness: Witness,
    execution: Execution,
}

/// What [`Sequencer::commit_block`] leaves to its caller.
struct Committed {
    /// The block's write sets, to send to their shards.
    write_sets: Vec<crate::execution::WriteSet>,
    /// Whether every earlier write set was confirmed, so that the shards answer witnesses at
    /// the committed roots.
    shards_caught_up: bool,
}

/// The sequencer of one chain.
#[derive(Debug)]
pub struct Sequencer {
    config: ChainConfig,
    timing: Timing,
    head: Head,
    shard_roots: Vec<Hash>,
    mempool: Mempool,
    round: Round,
    next_attempt: u32,
    /// Blocks proposed the moment their parent committed, built while it was voted on.
    proposed_ahead: u64,
    unconfirmed: BTreeMap<u64, BTreeMap<ShardIndex, crate::execution::WriteSet>>,
    /// Confirmed write sets the next [`Effect::Commit`] records as such.
    confirmed_since_commit: Vec<(u64, ShardIndex)>,
    alarm_at: Option<u64>,
    paused: bool,
}

/// A summary for status pages and metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Height of the head.
    pub head_height: u64,
    /// Hash of the head.
    pub head_hash: Hash,
    /// Transactions pending.
    pub mempool_size: usize,
    /// Heights whose write sets some shard has not confirmed.
    pub unconfirmed_heights: Vec<u64>,
    /// Height of the proposal waiting for votes, if any.
    pub voting_height: Option<u64>,
    /// Whether block production is paused.
    pub paused: bool,
    /// Blocks proposed the moment their parent committed, built while it was voted on
    /// (since this instance started).
    pub blocks_proposed_ahead: u64,
}

impl Sequencer {
    /// A sequencer at genesis. `hash_seed` must come from real entropy in production.
    ///
    /// Refuses a header that is not block 0, and shard roots that do not fit the layout or do
    /// not give the header's state root: a misconfigured deployment gets an error, not a
    /// crashed isolate.
    pub fn new(
        config: ChainConfig,
        timing: Timing,
        limits: MempoolLimits,
        genesis: Header,
        shard_roots: Vec<Hash>,
        hash_seed: u64,
    ) -> Result<Self, RecoveryError> {
        if genesis.height != 0 {
            return Err(RecoveryError::NotGenesis {
                height: genesis.height,
            });
        }
        persisted::check_shard_roots(&config, &genesis, &shard_roots)?;
        Ok(Self {
            config,
            timing,
            head: Head {
                header: genesis,
                certificate: QuorumCertificate::genesis(),
            },
            shard_roots,
            mempool: Mempool::new(limits, hash_seed),
            round: Round::Idle,
            next_attempt: 0,
            proposed_ahead: 0,
            unconfirmed: BTreeMap::new(),
            confirmed_since_commit: Vec::new(),
            alarm_at: None,
            paused: false,
        })
    }

    /// The chain configuration.
    pub const fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// The head.
    pub const fn head(&self) -> &Head {
        &self.head
    }

    /// Every shard's committed root.
    pub fn shard_roots(&self) -> &[Hash] {
        &self.shard_roots
    }

    /// The mempool (read-only).
    pub const fn mempool(&self) -> &Mempool {
        &self.mempool
    }

    /// Hashes of the transactions in the proposal being voted on (none between rounds), in
    /// block order: what the shell's log lines and traces name.
    pub fn proposed_tx_hashes(&self) -> impl Iterator<Item = &Hash> {
        let receipts: &[crate::block::Receipt] = match &self.round {
            Round::Voting(voting) => &voting.execution.receipts,
            Round::Idle | Round::Witnessing(_) => &[],
        };
        receipts.iter().map(|receipt| &receipt.tx_hash)
    }

    /// The committed write sets some shard has not confirmed yet, as (height, shard).
    pub fn unconfirmed_write_sets(&self) -> Vec<(u64, ShardIndex)> {
        self.unconfirmed
            .iter()
            .flat_map(|(height, sets)| sets.keys().map(move |shard| (*height, *shard)))
            .collect()
    }

    /// A summary of the sequencer's state.
    pub fn status(&self) -> Status {
        Status {
            head_height: self.head.header.height,
            head_hash: self.head.header.hash(),
            mempool_size: self.mempool.len(),
            unconfirmed_heights: self.unconfirmed.keys().copied().collect(),
            voting_height: match &self.round {
                Round::Voting(voting) => Some(voting.proposal.header.height),
                _ => None,
            },
            paused: self.paused,
            blocks_proposed_ahead: self.proposed_ahead,
        }
    }

    /// The hashes among `txs` that may be of committed transactions: what [`Sequencer::submit`]'s
    /// `is_committed` has to answer for. The others cannot be committed: their sender's nonce
    /// in committed state is known to the mempool and they are at or past it, and each commit
    /// tells the mempool the new nonce of every sender in the block.
    ///
    /// This spares the shell a storage lookup a transaction. With a busy sender's next nonce
    /// known, a batch of new transfers needs none: looking up each hash of a burst's batches
    /// in the committed index cost the `Sequencer` 5.5% of its CPU.
    pub fn possibly_committed(&self, txs: &[VerifiedTx]) -> Vec<Hash> {
        txs.iter()
            .filter(|tx| self.may_be_committed(tx))
            .map(VerifiedTx::hash)
            .collect()
    }

    fn may_be_committed(&self, tx: &VerifiedTx) -> bool {
        self.mempool
            .known_next_nonce(&tx.sender)
            .is_none_or(|next_nonce| tx.nonce() < next_nonce)
    }

    /// Admits a batch of verified transactions. Returns one [`Admission`] per transaction, in
    /// order, and the effects (persist before answering the submitter).
    ///
    /// `is_committed` looks a hash up in the committed transaction index (durable storage):
    /// a committed transaction submitted again is a duplicate, never queued again. The
    /// mempool alone cannot tell, since it forgets idle senders' nonces to bound memory. It
    /// is asked only for the hashes [`Sequencer::possibly_committed`] names, so the shell may
    /// look up just those.
    pub fn submit(
        &mut self,
        now_ms: u64,
        txs: Vec<VerifiedTx>,
        is_committed: impl Fn(&Hash) -> bool,
    ) -> (Vec<Admission>, Vec<Effect>) {
        let mut accepted = Vec::new();
        let mut hashes = Vec::with_capacity(txs.len());
        let batch_arrival = self.mempool.next_arrival();
        let mut admissions: Vec<Admission> = txs
            .into_iter()
            .map(|tx| {
                let hash = tx.hash();
                hashes.push(hash);
                if self.may_be_committed(&tx) && is_committed(&hash) {
                    return Admission::Duplicate;
                }
                let wire = tx.to_wire();
                let admission = self.mempool.admit(tx, self.config.base_fee_per_gas);
                if admission == Admission::Accepted {
                    accepted.push((hash, wire));
                }
                admission
            })
            .collect();
        let mut effects = Vec::new();
        let evicted = self.mempool.take_evicted();
        if !evicted.is_empty() {
            let dropped = self.settle_evictions(
                &evicted,
                batch_arrival,
                &hashes,
                &mut accepted,
                &mut admissions,
            );
            if !dropped.is_empty() {
                effects.push(Effect::DropPending(dropped));
            }
        }
        if !accepted.is_empty() {
            effects.push(Effect::PersistPending(accepted));
            self.schedule_round(now_ms, &mut effects);
        }
        (admissions, effects)
    }

    /// Settles a batch whose admission evicted transactions (`hashes`: the batch's, in
    /// order; `batch_arrival`: the mempool's arrival count when it began). Answers and
    /// storage follow where each transaction ended up, not where it was on the way: one the
    /// batch admitted or called a duplicate that is no longer pending answers that the pool
    /// is full, and only what is pending is stored, once. The evicted ones admitted before
    /// the batch (so stored) are returned, to be dropped with their reason before `accepted`
    /// is stored: one evicted and admitted again in the batch is both.
    fn settle_evictions(
        &self,
        evicted: &[Evicted],
        batch_arrival: u64,
        hashes: &[Hash],
        accepted: &mut Vec<(Hash, WireTx)>,
        admissions: &mut [Admission],
    ) -> Vec<(Hash, Exclusion)> {
        let evicted_hashes: BTreeSet<Hash> = evicted.iter().map(|evicted| evicted.hash).collect();
        let full = Admission::Rejected(AdmissionRejection::MempoolFull {
            limit: self.mempool.limits().txs_max,
        });
        for (admission, hash) in admissions.iter_mut().zip(hashes) {
            let answered_in = matches!(admission, Admission::Accepted | Admission::Duplicate);
            if answered_in && evicted_hashes.contains(hash) && !self.mempool.contains(hash) {
                *admission = full;
            }
        }
        let mut stored = BTreeSet::new();
        accepted.retain(|(hash, _)| self.mempool.contains(hash) && stored.insert(*hash));
        evicted
            .iter()
            .filter(|evicted| evicted.arrival < batch_arrival)
            .map(|evicted| (evicted.hash, Exclusion::Evicted))
            .collect()
    }

    /// Pauses or resumes block production (an in-flight proposal still completes).
    pub fn set_paused(&mut self, now_ms: u64, paused: bool) -> Vec<Effect> {
        let mut effects = Vec::new();
        if self.paused != paused {
            self.paused = paused;
            effects.push(Effect::SetPaused(paused));
            if !paused {
                self.schedule_round(now_ms, &mut effects);
            }
        }
        effects
    }

    /// The alarm fired: resend unconfirmed write sets, retry a timed-out round, or start one.
    pub fn alarm(&mut self, now_ms: u64) -> Vec<Effect> {
        self.alarm_at = None;
        let mut effects = Vec::new();
        if !self.unconfirmed.is_empty() {
            self.resend_write_sets(&mut effects);
            self.request_alarm(now_ms + self.timing.resend_ms, &mut effects);
            return effects;
        }
        match &self.round {
            Round::Idle => self.start_round(now_ms, &mut effects),
            Round::Witnessing(witnessing) if now_ms >= witnessing.deadline_ms => {
                // Some shard did not answer: give up this attempt and start afresh.
                self.round = Round::Idle;
                self.start_round(now_ms, &mut effects);
            }
            Round::Voting(voting) if now_ms >= voting.deadline_ms => {
                self.repropose(now_ms, &mut effects);
            }
            Round::Witnessing(witnessing) => {
                self.request_alarm(witnessing.deadline_ms, &mut effects);
            }
            Round::Voting(voting) => self.request_alarm(voting.deadline_ms, &mut effects),
        }
        effects
    }

    /// A shard answered a witness request (an error answer abandons the attempt).
    pub fn witness_received(
        &mut self,
        now_ms: u64,
        round: RoundId,
        shard: ShardIndex,
        result: Result<PartialTree, String>,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        if matches!(self.round, Round::Voting(_)) {
            self.ahead_witness_received(now_ms, round, shard, result, &mut effects);
            return effects;
        }
        let Round::Witnessing(witnessing) = &mut self.round else {
            return effects;
        };
        if witnessing.id != round || !witnessing.waiting.contains(&shard) {
            return effects;
        }
        let part = match result {
            Ok(part) => part,
            Err(_) => {
                // Retry after a pause rather than spinning against a failing shard.
                self.round = Round::Idle;
                self.request_alarm(now_ms + self.timing.resend_ms, &mut effects);
                return effects;
            }
        };
        witnessing.waiting.remove(&shard);
        witnessing.parts.insert(shard, part);
        if witnessing.waiting.is_empty() {
            let Round::Witnessing(witnessing) = std::mem::replace(&mut self.round, Round::Idle)
            else {
                unreachable!("matched above");
            };
            self.build_proposal(now_ms, *witnessing, &mut effects);
        }
        effects
    }

    /// A validator answered the proposal with a vote (or refused: `Err`).
    pub fn vote_received(&mut self, now_ms: u64, vote: Result<Vote, String>) -> Vec<Effect> {
        let mut effects = Vec::new();
        let Round::Voting(voting) = &mut self.round else {
            return effects;
        };
        let Ok(vote) = vote else {
            return effects;
        };
        // Votes for another block, invalid or duplicate votes are ignored: the tally only
        // counts valid distinct votes for this proposal.
        if voting.tally.add(&vote).is_err() {
            return effects;
        }
        if let Some(certificate) = voting.tally.certificate() {
            let Round::Voting(voting) = std::mem::replace(&mut self.round, Round::Idle) else {
                unreachable!("matched above");
            };
            self.commit(now_ms, *voting, certificate, &mut effects);
        }
        effects
    }

    /// A shard answered a write set: applied (or already applied) is a confirmation.
    pub fn write_set_applied(
        &mut self,
        now_ms: u64,
        height: u64,
        shard: ShardIndex,
        result: Result<(), String>,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        if result.is_err() {
            // The alarm resends; nothing else to do.
            return effects;
        }
        let Some(pending) = self.unconfirmed.get_mut(&height) else {
            return effects;
        };
        if pending.remove(&shard).is_none() {
            return effects;
        }
        self.confirmed_since_commit.push((height, shard));
        if pending.is_empty() {
            self.unconfirmed.remove(&height);
        }
        if self.unconfirmed.is_empty() {
            self.start_next_round(now_ms, &mut effects);
        }
        effects
    }

    /// A shard answered an [`Effect::ApplyThenWitness`]: the write set's outcome counts first,
    /// then the witness (both are errors when the call failed).
    pub fn applied_then_witnessed(
        &mut self,
        now_ms: u64,
        write_set: (u64, ShardIndex),
        applied: Result<(), String>,
        round: RoundId,
        witness: Result<PartialTree, String>,
    ) -> Vec<Effect> {
        let (height, shard) = write_set;
        let mut effects = self.write_set_applied(now_ms, height, shard, applied);
        effects.extend(self.witness_received(now_ms, round, shard, witness));
        effects
    }

    /// After the last write set of a commit is confirmed: whatever is ready has been waiting
    /// at least as long as that round took, so the next round starts here and now, not after
    /// another batching window (which only an idle chain's first submission waits) nor from an
    /// alarm (a storage write and an event a block, for nothing).
    fn start_next_round(&mut self, now_ms: u64, effects: &mut Vec<Effect>) {
        match self.round {
            Round::Idle if self.mempool.has_ready(1) => self.start_round(now_ms, effects),
            Round::Voting(_) => self.start_ahead(now_ms, effects),
            _ => {}
        }
    }

    /// Asks for the alarm soon if there is work: immediately when a full block is ready,
    /// after the batching window otherwise.
    fn schedule_round(&mut self, now_ms: u64, effects: &mut Vec<Effect>) {
        if self.paused || !matches!(self.round, Round::Idle) || !self.unconfirmed.is_empty() {
            return;
        }
        if self.alarm_at.is_some_and(|at_ms| at_ms <= now_ms) {
            return; // Already due: nothing earlier to ask for.
        }
        // Counting ready transactions walks the queues, so only when a full block is possible.
        let full_block =
            self.mempool.len() >= BLOCK_TXS_MAX && self.mempool.has_ready(BLOCK_TXS_MAX);
        if full_block {
            self.request_alarm(now_ms, effects);
        } else if self.mempool.has_ready(1) {
            self.request_alarm(now_ms + self.config.batch_window_ms, effects);
        }
    }

    fn request_alarm(&mut self, at_ms: u64, effects: &mut Vec<Effect>) {
        if self.alarm_at.is_none_or(|current| at_ms < current) {
            self.alarm_at = Some(at_ms);
            effects.push(Effect::SetAlarm(at_ms));
        }
    }

    /// Picks candidates and asks the shards they touch for witnesses.
    fn start_round(&mut self, now_ms: u64, effects: &mut Vec<Effect>) {
        if let Some((round, requests)) = self.open_round(now_ms) {
            effects.extend(
                requests
                    .into_iter()
                    .map(|request| Effect::RequestWitness { round, request }),
            );
            self.request_round_deadline(effects);
        }
    }

    /// The alarm that gives up on the round in progress if it is not done by then.
    fn request_round_deadline(&mut self, effects: &mut Vec<Effect>) {
        let deadline_ms = match &self.round {
            Round::Idle => return,
            Round::Witnessing(witnessing) => witnessing.deadline_ms,
            Round::Voting(voting) => voting.deadline_ms,
        };
        self.request_alarm(deadline_ms, effects);
    }

    /// Picks candidates and starts witnessing them: returns the witness requests to send (none
    /// if nothing is ready or production is paused). The caller asks for the round's deadline
    /// alarm.
    fn open_round(&mut self, now_ms: u64) -> Option<(RoundId, Vec<WitnessRequest>)> {
        if self.paused {
            return None;
        }
        let candidates = self.mempool.candidates(BLOCK_TXS_MAX);
        if candidates.is_empty() {
            return None;
        }
        let (witnessing, requests) =
            self.witnessing(now_ms, self.head.header.height + 1, candidates);
        let id = witnessing.id;
        self.round = Round::Witnessing(Box::new(witnessing));
        Some((id, requests))
    }

    /// A new attempt at witnessing `candidates` for the block at `height`, and its witness
    /// requests, at the committed roots.
    fn witnessing(
        &mut self,
        now_ms: u64,
        height: u64,
        candidates: Vec<VerifiedTx>,
    ) -> (Witnessing, Vec<WitnessRequest>) {
        let id = RoundId {
            height,
            attempt: self.next_attempt,
        };
        self.next_attempt = self.next_attempt.wrapping_add(1);
        let touched = touched_addresses(&self.config, &candidates);
        let requests = witness_requests(self.config.layout(), &self.shard_roots, &touched);
        let witnessing = Witnessing {
            id,
            candidates,
            waiting: requests.iter().map(|request| request.shard).collect(),
            parts: BTreeMap::new(),
            deadline_ms: now_ms + self.timing.round_timeout_ms,
        };
        (witnessing, requests)
    }

    /// The header of the block `execution` made on top of `parent`, and its transactions as
    /// a proposal carries them.
    fn block_on(
        &self,
        now_ms: u64,
        parent: &Header,
        candidates: &[VerifiedTx],
        execution: &Execution,
    ) -> (Header, Vec<WireTx>) {
        let header = Header {
            chain_id: self.config.chain_id,
            height: parent.height + 1,
            parent_hash: parent.hash(),
            timestamp_ms: now_ms.max(parent.timestamp_ms + 1),
            state_root: execution.state_root,
            transactions_root: execution.transactions_root,
            receipts_root: execution.receipts_root,
            validator_set_hash: self.config.validators.hash(),
            proposer: self.config.proposer,
            format: execution.format,
        };
        let transactions = execution
            .included
            .iter()
            .map(|index| candidates[*index].to_wire())
            .collect();
        (header, transactions)
    }

    /// All witnesses are in: learn the senders' nonces, execute, drop what can never be
    /// included, and propose the rest.
    fn build_proposal(&mut self, now_ms: u64, witnessing: Witnessing, effects: &mut Vec<Effect>) {
        let witness = Witness {
            layout: self.config.layout(),
            shard_roots: self.shard_roots.clone(),
            parts: witnessing.parts,
        };
        let height = witnessing.id.height;
        let parent_root = self.head.header.state_root;
        let execution = match execute(
            &self.config,
            &parent_root,
            height,
            BlockFormat::PROPOSED,
            &witnessing.candidates,
            witness.clone(),
        ) {
            Ok(execution) => execution,
            Err(_) => {
                // A shard sent a witness that does not match its committed root: retry later.
                self.request_alarm(now_ms + self.timing.resend_ms, effects);
                return;
            }
        };
        self.learn_nonces(&witness, &witnessing.candidates, effects);
        self.drop_excluded(&execution, effects);
        if execution.included.is_empty() {
            self.schedule_round(now_ms, effects);
            return;
        }
        let (header, transactions) = self.block_on(
            now_ms,
            &self.head.header,
            &witnessing.candidates,
            &execution,
        );
        let proposal = Proposal {
            header,
            parent: self.head.header,
            parent_certificate: self.head.certificate.clone(),
            transactions,
            witness,
        };
        self.start_voting(now_ms, proposal, execution, effects);
        self.start_ahead(now_ms, effects);
    }

    fn start_voting(
        &mut self,
        now_ms: u64,
        proposal: Proposal,
        execution: Execution,
        effects: &mut Vec<Effect>,
    ) {
        let tally = VoteTally::new(
            &self.config.validators,
            self.config.chain_id,
            proposal.header.height,
            proposal.header.hash(),
        );
        let deadline_ms = now_ms + self.timing.round_timeout_ms;
        // Shared with the effect: a full block's proposal is megabytes, and the shell encodes
        // it while the round holds it.
        let proposal = Rc::new(proposal);
        effects.push(Effect::Propose(Rc::clone(&proposal)));
        self.round = Round::Voting(Box::new(Voting {
            proposal,
            execution,
            tally,
            deadline_ms,
            ahead: None,
        }));
        self.request_alarm(deadline_ms, effects);
    }

    /// Sends the same proposal again; votes already counted stay counted (they sign the same
    /// height and hash).
    fn repropose(&mut self, now_ms: u64, effects: &mut Vec<Effect>) {
        let Round::Voting(voting) = &mut self.round else {
            return;
        };
        voting.deadline_ms = now_ms + self.timing.round_timeout_ms;
        let deadline_ms = voting.deadline_ms;
        effects.push(Effect::Propose(Rc::clone(&voting.proposal)));
        self.request_alarm(deadline_ms, effects);
    }

    /// The witness holds every candidate sender's committed nonce: remember them, which also
    /// drops pending transactions whose nonce is already used.
    fn learn_nonces(
        &mut self,
        witness: &Witness,
        candidates: &[VerifiedTx],
        effects: &mut Vec<Effect>,
    ) {
        let senders: BTreeSet<Address> = candidates.iter().map(|tx| tx.sender).collect();
        let mut stale = Vec::new();
        for sender in senders {
            let Ok(account) = witness.get(&sender) else {
                continue;
            };
            let next_nonce = account.map_or(0, |account| account.nonce);
            for (hash, nonce) in self.mempool.set_next_nonce(sender, next_nonce) {
                stale.push((
                    hash,
                    Exclusion::NonceTooLow {
                        expected: next_nonce,
                        got: nonce,
                    },
                ));
            }
        }
        if !stale.is_empty() {
            effects.push(Effect::DropPending(stale));
        }
    }

    fn drop_excluded(&mut self, execution: &Execution, effects: &mut Vec<Effect>) {
        let dropped: Vec<(Hash, Exclusion)> = execution
            .excluded
            .iter()
            .filter(|(hash, exclusion)| exclusion.is_final() && self.mempool.remove(hash).is_some())
            .copied()
            .collect();
        if !dropped.is_empty() {
            effects.push(Effect::DropPending(dropped));
        }
    }

    /// A quorum certified the proposal: commit it and send the write sets.
    ///
    /// With the next block built ahead, that block's proposal goes first, before this block's
    /// [`Effect::Commit`]: it carries this block's certificate, so once it is stored a restart
    /// can finish this commit from the two stored proposals ([`Sequencer::recover`]), and the
    /// validators check it while the shell writes this block's rows instead of after.
    fn commit(
        &mut self,
        now_ms: u64,
        voting: Voting,
        certificate: QuorumCertificate,
        effects: &mut Vec<Effect>,
    ) {
        let Voting {
            proposal,
            execution,
            ahead,
            ..
        } = voting;
        // The shell has dropped the effect's reference by now; if not, the proposal is copied.
        let proposal = Rc::try_unwrap(proposal).unwrap_or_else(|shared| (*shared).clone());
        let mut commit_effects = Vec::new();
        let committed = self.commit_block(proposal, execution, certificate, &mut commit_effects);
        // Built ahead, the next block is proposed now, on top of the block just committed
        // (unless production was paused meanwhile: then it is dropped, to be built again).
        let built = match ahead {
            Some(Ahead::Built(built)) if !self.paused => Some(built),
            _ => None,
        };
        let proposed_built = built.is_some();
        if let Some(built) = built {
            self.propose_built(now_ms, *built, effects);
        }
        effects.append(&mut commit_effects);
        // The alarm resends what is unconfirmed, or starts the next round once all is.
        self.request_alarm(now_ms + self.timing.resend_ms, effects);
        let shards_caught_up = committed.shards_caught_up;
        let next_round = if proposed_built {
            // The block after the one just proposed is built on top of it in turn.
            shards_caught_up.then(|| self.open_ahead(now_ms)).flatten()
        } else {
            let next_round = shards_caught_up.then(|| self.open_round(now_ms)).flatten();
            self.request_round_deadline(effects);
            next_round
        };
        match next_round {
            Some((round, requests)) => {
                effects.extend(pair_with_write_sets(round, requests, committed.write_sets));
            }
            None => effects.extend(committed.write_sets.into_iter().map(Effect::SendWriteSet)),
        }
    }

    /// Makes a certified proposal the head: pushes its [`Effect::Commit`] (and the drop of
    /// any pending transaction it leaves stale), learns its senders' nonces and records its
    /// write sets as unconfirmed. Sending them is the caller's.
    fn commit_block(
        &mut self,
        proposal: Proposal,
        execution: Execution,
        certificate: QuorumCertificate,
        effects: &mut Vec<Effect>,
    ) -> Committed {
        let block = CertifiedBlock {
            header: proposal.header,
            certificate: certificate.clone(),
            transactions: proposal
                .transactions
                .into_iter()
                .map(|tx| serde_bytes::ByteBuf::from(tx.raw))
                .collect(),
            receipts: execution.receipts,
        };
        let stale = self.learn_committed_nonces(&block.receipts);
        self.mempool.forget_idle_senders();
        let height = block.header.height;
        self.head = Head {
            header: block.header,
            certificate,
        };
        let write_sets: Vec<_> = execution.write_sets.into_values().collect();
        effects.push(Effect::Commit {
            block: Box::new(block),
            shard_roots: execution.post_state.shard_roots.clone(),
            write_sets: write_sets.clone(),
            confirmed: std::mem::take(&mut self.confirmed_since_commit),
        });
        if !stale.is_empty() {
            effects.push(Effect::DropPending(stale));
        }
        self.shard_roots = execution.post_state.shard_roots;
        // With an earlier write set unconfirmed some shard may be behind the roots a witness
        // would be asked at, so the next witnesses wait for the confirmations.
        let shards_caught_up = self.unconfirmed.is_empty();
        if !write_sets.is_empty() {
            let by_shard = write_sets
                .iter()
                .map(|set| (set.shard, set.clone()))
                .collect();
            self.unconfirmed.insert(height, by_shard);
        }
        Committed {
            write_sets,
            shards_caught_up,
        }
    }

    /// Proposes the block built ahead on the one just committed, now that its parent's
    /// certificate exists.
    fn propose_built(&mut self, now_ms: u64, built: BuiltAhead, effects: &mut Vec<Effect>) {
        let proposal = Proposal {
            header: built.header,
            parent: self.head.header,
            parent_certificate: self.head.certificate.clone(),
            transactions: built.transactions,
            witness: built.witness,
        };
        self.proposed_ahead += 1;
        self.start_voting(now_ms, proposal, built.execution, effects);
    }

    /// Starts building the next block while the current one is voted on, if the shards have
    /// every commit applied (so that they answer at the committed roots) and something is
    /// ready beyond the voted block's transactions.
    fn start_ahead(&mut self, now_ms: u64, effects: &mut Vec<Effect>) {
        if !self.unconfirmed.is_empty() {
            return;
        }
        if let Some((round, requests)) = self.open_ahead(now_ms) {
            effects.extend(
                requests
                    .into_iter()
                    .map(|request| Effect::RequestWitness { round, request }),
            );
        }
    }

    /// Picks the candidates that follow the voted block and returns their witness requests,
    /// at the committed roots (the voted block's parent's).
    fn open_ahead(&mut self, now_ms: u64) -> Option<(RoundId, Vec<WitnessRequest>)> {
        if self.paused {
            return None;
        }
        let Round::Voting(voting) = &self.round else {
            return None;
        };
        if voting.ahead.is_some() {
            return None;
        }
        let height = voting.proposal.header.height + 1;
        let next_nonces = next_nonces_after(&voting.execution.receipts);
        let candidates = self.mempool.candidates_after(&next_nonces, BLOCK_TXS_MAX);
        if candidates.is_empty() {
            return None;
        }
        let (witnessing, requests) = self.witnessing(now_ms, height, candidates);
        let id = witnessing.id;
        if let Round::Voting(voting) = &mut self.round {
            voting.ahead = Some(Ahead::Witnessing(witnessing));
        }
        Some((id, requests))
    }

    /// A witness for the block being built ahead; the last one builds it. An error answer,
    /// or a block that cannot be built, gives it up: the next round then starts at the
    /// commit, as without building ahead.
    fn ahead_witness_received(
        &mut self,
        now_ms: u64,
        round: RoundId,
        shard: ShardIndex,
        result: Result<PartialTree, String>,
        effects: &mut Vec<Effect>,
    ) {
        let Round::Voting(voting) = &mut self.round else {
            return;
        };
        let Some(Ahead::Witnessing(witnessing)) = &mut voting.ahead else {
            return;
        };
        if witnessing.id != round || !witnessing.waiting.contains(&shard) {
            return;
        }
        let Ok(part) = result else {
            voting.ahead = None;
            return;
        };
        witnessing.waiting.remove(&shard);
        witnessing.parts.insert(shard, part);
        if !witnessing.waiting.is_empty() {
            return;
        }
        let Some(Ahead::Witnessing(witnessing)) = voting.ahead.take() else {
            unreachable!("matched above");
        };
        let built = self.build_ahead(now_ms, witnessing, effects);
        if let Round::Voting(voting) = &mut self.round {
            if built.is_some() {
                // The voted block's post-state has served: a block built ahead is never
                // built again in this round, and the commit reads only its shard roots. Its
                // trees go now, a witness's worth of memory while the votes are awaited.
                voting.execution.post_state.parts.clear();
            }
            voting.ahead = built.map(|built| Ahead::Built(Box::new(built)));
        }
    }

    /// Executes the candidates on the voted block's post-state. Final exclusions are final
    /// there too (that block commits as proposed), so they are dropped now.
    fn build_ahead(
        &mut self,
        now_ms: u64,
        witnessing: Witnessing,
        effects: &mut Vec<Effect>,
    ) -> Option<BuiltAhead> {
        let Round::Voting(voting) = &self.round else {
            return None;
        };
        let parent = voting.proposal.header;
        let Witnessing {
            candidates, parts, ..
        } = witnessing;
        let touched = touched_addresses(&self.config, &candidates);
        let witness = voting
            .execution
            .post_state
            .carried_forward(&parts, &touched)
            .ok()?;
        // The shards' answers are in the carried witness now; gone before it is copied for
        // the execution, so that the two are not held at once.
        drop(parts);
        let height = parent.height + 1;
        let execution = execute(
            &self.config,
            &parent.state_root,
            height,
            BlockFormat::PROPOSED,
            &candidates,
            witness.clone(),
        )
        .ok()?;
        self.drop_excluded(&execution, effects);
        if execution.included.is_empty() {
            return None;
        }
        let (header, transactions) = self.block_on(now_ms, &parent, &candidates, &execution);
        Some(BuiltAhead {
            header,
            transactions,
            witness,
            execution,
        })
    }

    /// Records each sender's nonce after the block, which removes its included transactions
    /// from the mempool, and returns any other transaction of theirs this leaves stale. There
    /// can be such: after a restart the mempool knows no nonces and admits a used one while
    /// the stored proposal is voted on. Dropping them here keeps storage and memory agreeing;
    /// removed silently they would stay pending in storage, never committed nor dropped.
    fn learn_committed_nonces(
        &mut self,
        receipts: &[crate::block::Receipt],
    ) -> Vec<(Hash, Exclusion)> {
        let included: BTreeSet<Hash> = receipts.iter().map(|receipt| receipt.tx_hash).collect();
        let mut stale = Vec::new();
        for (sender, next_nonce) in next_nonces_after(receipts) {
            for (hash, nonce) in self.mempool.set_next_nonce(sender, next_nonce) {
                if !included.contains(&hash) {
                    let reason = Exclusion::NonceTooLow {
                        expected: next_nonce,
                        got: nonce,
                    };
                    stale.push((hash, reason));
                }
            }
        }
        stale
    }

    fn resend_write_sets(&self, effects: &mut Vec<Effect>) {
        for sets in self.unconfirmed.values() {
            for write_set in sets.values() {
                effects.push(Effect::SendWriteSet(write_set.clone()));
            }
        }
    }
}

/// Each sender's next nonce after a block, from its receipts.
fn next_nonces_after(receipts: &[crate::block::Receipt]) -> BTreeMap<Address, u64> {
    // Receipts are in block order, so a sender's last receipt has its highest nonce.
    receipts
        .iter()
        .map(|receipt| (receipt.sender, receipt.nonce + 1))
        .collect()
}

/// One call per shard: a shard with both a write set and a witness request gets them together
/// (it answers the witness after applying), the others whichever they have. A shard that has
/// no write set keeps its root, so its witness can be asked at once.
fn pair_with_write_sets(
    round: RoundId,
    requests: Vec<WitnessRequest>,
    write_sets: Vec<crate::execution::WriteSet>,
) -> Vec<Effect> {
    let mut requests: BTreeMap<ShardIndex, WitnessRequest> = requests
        .into_iter()
        .map(|request| (request.shard, request))
        .collect();
    let mut effects: Vec<Effect> = write_sets
        .into_iter()
        .map(|write_set| match requests.remove(&write_set.shard) {
            Some(request) => Effect::ApplyThenWitness {
                write_set,
                round,
                request,
            },
            None => Effect::SendWriteSet(write_set),
        })
        .collect();
    effects.extend(
        requests
            .into_values()
            .map(|request| Effect::RequestWitness { round, request }),
    );
    effects
}

#[cfg(test)]
mod tests;
