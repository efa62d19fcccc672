//! How a run ends: the invariant a failure broke, and the counts for the summary line.

use std::fmt;

use crate::network::NetworkStats;

/// The invariants the simulation checks, one name per kind of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invariant {
    /// Two different blocks certified at one height.
    Fork,
    /// A certificate that does not verify against the validator set.
    InvalidCertificate,
    /// An honest validator signed two blocks at one height.
    HonestEquivocation,
    /// An honest validator refused an honest proposal for a reason other than its guard.
    HonestRefusal,
    /// Committed blocks do not form one chain of consecutive heights.
    Chain,
    /// A receipt or write set disagrees with the reference model of the transfer rules.
    Execution,
    /// The sum of all balances changed.
    Supply,
    /// A shard holds a root no certified block gave it, or not the root it was confirmed at.
    ShardRoots,
    /// The shards' accounts differ from the reference model.
    State,
    /// Durable state disagrees with the sequencer's memory, or does not survive a restart.
    Durability,
    /// An admission answer contradicts what the client can see.
    Admission,
    /// A transaction was lost, committed twice, or left pending with no reason.
    Fate,
    /// The healed network did not let the chain finish its work in time.
    Liveness,
}

/// A broken invariant, with what was seen.
#[derive(Debug, Clone)]
pub(crate) struct Violation {
    /// Which invariant.
    pub(crate) invariant: Invariant,
    /// What was seen.
    pub(crate) detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{:?}: {}", self.invariant, self.detail)
    }
}

/// Returns a [`Violation`] of the named [`Invariant`] from the enclosing function unless the
/// condition holds.
macro_rules! ensure {
    ($condition:expr, $invariant:ident, $($detail:tt)+) => {
        if !$condition {
            return Err($crate::report::Violation {
                invariant: $crate::report::Invariant::$invariant,
                detail: format!($($detail)+),
            });
        }
    };
}
pub(crate) use ensure;

/// What happened in one or more runs, for the summary line.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Stats {
    /// Runs.
    pub(crate) seeds: u64,
    /// Blocks committed.
    pub(crate) blocks: u64,
    /// Transactions committed.
    pub(crate) committed: u64,
    /// Transactions dropped with a reason.
    pub(crate) dropped: u64,
    /// Of those, evicted from a full mempool while they waited behind a nonce gap.
    pub(crate) evicted: u64,
    /// What the networks did.
    pub(crate) network: NetworkStats,
    /// Sequencer crashes between inputs.
    pub(crate) sequencer_crashes: u64,
    /// Sequencer crashes in the middle of performing effects.
    pub(crate) mid_effect_crashes: u64,
    /// Restarts that finished a commit from the two stored proposals: the crash came after
    /// the next block's proposal was stored and before its parent's commit was.
    pub(crate) commits_finished_on_restart: u64,
    /// Shard crashes.
    pub(crate) shard_crashes: u64,
    /// Honest validators taken down for a while.
    pub(crate) validator_outages: u64,
    /// Votes (and vote-shaped garbage) sent by Byzantine validators.
    pub(crate) byzantine_votes: u64,
    /// Alternative proposals Byzantine validators sent to honest ones.
    pub(crate) injected_proposals: u64,
    /// Safety-only runs whose chain did not finish its work (allowed to halt).
    pub(crate) halted: u64,
    /// The longest a healed network took to finish all work in a run that must be live, in
    /// simulated ms.
    pub(crate) heal_ms_max: u64,
}

impl Stats {
    /// Adds another run's counts.
    pub(crate) fn add(&mut self, other: &Self) {
        self.seeds += other.seeds;
        self.blocks += other.blocks;
        self.committed += other.committed;
        self.dropped += other.dropped;
        self.evicted += other.evicted;
        self.network.sent += other.network.sent;
        self.network.lost += other.network.lost;
        self.network.duplicated += other.network.duplicated;
        self.sequencer_crashes += other.sequencer_crashes;
        self.mid_effect_crashes += other.mid_effect_crashes;
        self.commits_finished_on_restart += other.commits_finished_on_restart;
        self.shard_crashes += other.shard_crashes;
        self.validator_outages += other.validator_outages;
        self.byzantine_votes += other.byzantine_votes;
        self.injected_proposals += other.injected_proposals;
        self.halted += other.halted;
        self.heal_ms_max = self.heal_ms_max.max(other.heal_ms_max);
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} seeds, {} blocks, {} txs committed, {} dropped ({} evicted); messages {} sent, {} lost, {} \
             duplicated; crashes: sequencer {} (+{} mid-effects, {} commits finished on restart), \
             shards {}, validator outages \
             {}; byzantine votes {}, injected proposals {}; {} safety-only runs halted; longest \
             heal {} ms",
            self.seeds,
            self.blocks,
            self.committed,
            self.dropped,
            self.evicted,
            self.network.sent,
            self.network.lost,
            self.network.duplicated,
            self.sequencer_crashes,
            self.mid_effect_crashes,
            self.commits_finished_on_restart,
            self.shard_crashes,
            self.validator_outages,
            self.byzantine_votes,
            self.injected_proposals,
            self.halted,
            self.heal_ms_max,
        )
    }
}
