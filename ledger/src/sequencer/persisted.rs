//! What the sequencer keeps in durable storage, and how it restarts from it.
//!
//! [`Persisted::record`] is the reference meaning of every [`Effect`] for storage: the Durable
//! Object shell maps each effect to the same writes (one storage transaction per effect), and
//! the tests and the simulation use this model directly. Committed blocks themselves are
//! append-only history kept by the shell; recovery needs only the head.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Effect, Head, Round, Sequencer, Timing};
use crate::execution::{Execution, WriteSet, execute};
use crate::genesis::ChainConfig;
use crate::mempool::{Mempool, MempoolLimits};
use crate::primitives::Hash;
use crate::proposal::Proposal;
use crate::state::ShardIndex;
use crate::transaction::{TxRejection, WireTx};

/// The sequencer's durable state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Persisted {
    /// The latest certified block.
    pub head: Head,
    /// Every shard's root at the head.
    pub shard_roots: Vec<Hash>,
    /// Acknowledged transactions not yet committed or dropped, by hash.
    pub pending: BTreeMap<Hash, WireTx>,
    /// The proposal waiting for votes, if any.
    pub proposal: Option<Proposal>,
    /// The certified proposal `proposal` is built on, while its commit is not stored yet:
    /// `proposal` carries its certificate, and a restart finishes the commit from the two
    /// ([`Sequencer::recover`]).
    pub certified_proposal: Option<Proposal>,
    /// Write sets not known to be confirmed by their shards, by height and shard: the
    /// confirmations since the last commit are recorded by the next one, so after a restart
    /// some of these may be applied already (resending them is harmless).
    pub unconfirmed: BTreeMap<u64, BTreeMap<ShardIndex, WriteSet>>,
    /// Whether block production is paused.
    pub paused: bool,
}

/// Why durable state could not be turned back into a sequencer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryError {
    /// A stored pending transaction no longer decodes (storage corruption).
    #[error("stored transaction {hash} does not decode: {reason}")]
    PendingTransaction {
        /// Its hash (the storage key).
        hash: Hash,
        /// Why.
        reason: TxRejection,
    },
    /// The shard root list does not fit the layout.
    #[error("stored shard roots do not match the shard layout")]
    ShardRoots,
    /// The shard roots do not give the head's state root.
    #[error("shard roots give state root {computed}, the head has {expected}")]
    StateRoot {
        /// The head's state root.
        expected: Hash,
        /// The root over the shard roots.
        computed: Hash,
    },
    /// A new sequencer must start from block 0.
    #[error("a new sequencer starts at genesis, not at height {height}")]
    NotGenesis {
        /// Height of the header given.
        height: u64,
    },
}

/// The shard roots fit the layout and give the header's state root.
pub(super) fn check_shard_roots(
    config: &ChainConfig,
    head: &crate::block::Header,
    shard_roots: &[Hash],
) -> Result<(), RecoveryError> {
    if shard_roots.len() != config.layout().shard_count() as usize {
        return Err(RecoveryError::ShardRoots);
    }
    let computed = crate::trie::root_over_shards(shard_roots);
    if computed != head.state_root {
        return Err(RecoveryError::StateRoot {
            expected: head.state_root,
            computed,
        });
    }
    Ok(())
}

impl Persisted {
    /// Durable state at genesis.
    pub fn genesis(head: Head, shard_roots: Vec<Hash>) -> Self {
        Self {
            head,
            shard_roots,
            pending: BTreeMap::new(),
            proposal: None,
            certified_proposal: None,
            unconfirmed: BTreeMap::new(),
            paused: false,
        }
    }

    /// Applies the storage meaning of one effect.
    pub fn record(&mut self, effect: &Effect) {
        match effect {
            Effect::PersistPending(txs) => {
                self.pending.extend(txs.iter().cloned());
            }
            Effect::DropPending(dropped) => {
                for (hash, _) in dropped {
                    self.pending.remove(hash);
                }
            }
            Effect::Propose(proposal) => {
                // The stored proposal this one is built on is certified (this one carries its
                // certificate) and its commit comes next: it stays until then.
                let parent = self
                    .proposal
                    .take()
                    .filter(|stored| stored.header.hash() == proposal.header.parent_hash);
                if parent.is_some() {
                    self.certified_proposal = parent;
                }
                self.proposal = Some((**proposal).clone());
            }
            Effect::Commit {
                block,
                shard_roots,
                write_sets,
                confirmed,
            } => {
                for (height, shard) in confirmed {
                    self.forget_write_set(*height, *shard);
                }
                for hash in block.tx_hashes() {
                    self.pending.remove(&hash);
                }
                self.head = Head {
                    header: block.header,
                    certificate: block.certificate.clone(),
                };
                self.shard_roots.clone_from(shard_roots);
                let sets = write_sets
                    .iter()
                    .map(|set| (set.shard, set.clone()))
                    .collect();
                if !write_sets.is_empty() {
                    self.unconfirmed.insert(block.header.height, sets);
                }
                let committed = block.header.height;
                for stored in [&mut self.proposal, &mut self.certified_proposal] {
                    if stored
                        .as_ref()
                        .is_some_and(|proposal| proposal.header.height <= committed)
                    {
                        *stored = None;
                    }
                }
            }
            Effect::SetPaused(paused) => self.paused = *paused,
            Effect::SetAlarm(_)
            | Effect::RequestWitness { .. }
            | Effect::SendWriteSet(_)
            | Effect::ApplyThenWitness { .. } => {}
        }
    }

    /// Sorts the proposals a store read back (in any order) into `(proposal,
    /// certified_proposal)` as [`Self::record`] leaves them: the highest is the proposal, and
    /// the one it is built on, if stored, the certified proposal. Any other is an earlier
    /// proposal a commit or a newer proposal made stale, which a store may keep until it
    /// overwrites it.
    pub fn sort_stored_proposals(
        mut stored: Vec<Proposal>,
    ) -> (Option<Proposal>, Option<Proposal>) {
        stored.sort_by_key(|proposal| proposal.header.height);
        let Some(proposal) = stored.pop() else {
            return (None, None);
        };
        let certified = stored
            .into_iter()
            .find(|stored| stored.header.hash() == proposal.header.parent_hash);
        (Some(proposal), certified)
    }

    /// A confirmed write set is no longer kept (nothing if it is not).
    fn forget_write_set(&mut self, height: u64, shard: ShardIndex) {
        if let Some(sets) = self.unconfirmed.get_mut(&height) {
            sets.remove(&shard);
            if sets.is_empty() {
                self.unconfirmed.remove(&height);
            }
        }
    }
}

impl Sequencer {
    /// Rebuilds a sequencer after a restart from its durable state, with the effects that
    /// resume its work: finish the commit of a certified proposal whose child is stored,
    /// resend unconfirmed write sets, re-propose the stored proposal, and schedule the next
    /// round.
    pub fn recover(
        config: ChainConfig,
        timing: Timing,
        limits: MempoolLimits,
        persisted: &Persisted,
        now_ms: u64,
        hash_seed: u64,
    ) -> Result<(Self, Vec<Effect>), RecoveryError> {
        check_shard_roots(&config, &persisted.head.header, &persisted.shard_roots)?;
        let mut mempool = Mempool::new(limits, hash_seed);
        for (hash, tx) in &persisted.pending {
            // These were verified before they were acknowledged; decoding suffices.
            let tx = tx.decode_trusted(config.chain_id).map_err(|reason| {
                RecoveryError::PendingTransaction {
                    hash: *hash,
                    reason,
                }
            })?;
            mempool.admit(tx, 0);
        }
        let mut sequencer = Self {
            config,
            timing,
            head: persisted.head.clone(),
            shard_roots: persisted.shard_roots.clone(),
            mempool,
            round: Round::Idle,
            next_attempt: 0,
            proposed_ahead: 0,
            unconfirmed: persisted.unconfirmed.clone(),
            confirmed_since_commit: Vec::new(),
            alarm_at: None,
            paused: persisted.paused,
        };
        let mut effects = Vec::new();
        if let (Some(certified), Some(proposal)) =
            (&persisted.certified_proposal, &persisted.proposal)
        {
            sequencer.finish_commit(certified.clone(), proposal, &mut effects);
        }
        sequencer.resend_write_sets(&mut effects);
        // Whichever stored proposal extends the head is voted on again (`resume_proposal`
        // skips the other): the newer one once the commit above is done, else the certified
        // one (its certificate then did not check, which only corrupt storage gives).
        for proposal in [&persisted.certified_proposal, &persisted.proposal]
            .into_iter()
            .flatten()
        {
            sequencer.resume_proposal(now_ms, proposal.clone(), &mut effects);
        }
        // The shell may defer the calls of recovery to its first alarm (a Durable Object
        // restarting does): that alarm must send the proposal again, not wait out a whole
        // round timeout first. Sent twice, it is the same proposal: votes are idempotent.
        if let Round::Voting(voting) = &mut sequencer.round {
            voting.deadline_ms = now_ms;
        }
        // Whatever is pending or in flight, the alarm sorts out what comes next.
        sequencer.request_alarm(now_ms, &mut effects);
        Ok((sequencer, effects))
    }

    /// Commits a stored certified proposal whose certificate the next stored proposal
    /// carries: the restart came after that proposal was stored and before this commit was.
    /// Executed again on the head, it gives what the commit stores, as it gave the validators.
    fn finish_commit(&mut self, certified: Proposal, child: &Proposal, effects: &mut Vec<Effect>) {
        let header = certified.header;
        if !self.extends_head(&certified) || child.parent != header {
            return;
        }
        let certificate = &child.parent_certificate;
        if certificate
            .verify(&self.config.validators, self.config.chain_id, &header)
            .is_err()
        {
            return;
        }
        let Some(execution) = self.execute_stored(&certified) else {
            return;
        };
        self.commit_block(certified, execution, certificate.clone(), effects);
    }

    /// Re-proposes a stored proposal unchanged, if it still extends the head. Its transactions
    /// are in pending storage; re-executing recovers the receipts and write sets for the commit.
    fn resume_proposal(&mut self, now_ms: u64, proposal: Proposal, effects: &mut Vec<Effect>) {
        if !self.extends_head(&proposal) {
            return;
        }
        let Some(execution) = self.execute_stored(&proposal) else {
            return;
        };
        self.start_voting(now_ms, proposal, execution, effects);
    }

    fn extends_head(&self, proposal: &Proposal) -> bool {
        proposal.header.height == self.head.header.height + 1
            && proposal.header.parent_hash == self.head.header.hash()
    }

    /// A stored proposal executed on the head, as when it was built; `None` if it no longer
    /// decodes or executes (storage corruption).
    fn execute_stored(&self, proposal: &Proposal) -> Option<Execution> {
        let transactions = proposal
            .transactions
            .iter()
            .map(|tx| tx.decode_trusted(self.config.chain_id))
            .collect::<Result<Vec<_>, _>>()
            .ok()?;
        execute(
            &self.config,
            &self.head.header.state_root,
            proposal.header.height,
            proposal.header.format,
            &transactions,
            proposal.witness.clone(),
        )
        .ok()
    }
}
