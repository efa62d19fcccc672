//! The simulated network: while faults are on, every message may be lost, duplicated, delayed
//! past timeouts and delivered in any order among those due.

use std::rc::Rc;

use ledger::execution::WriteSet;
use ledger::proposal::Proposal;
use ledger::random::SplitMix64;
use ledger::sequencer::RoundId;
use ledger::shard::WitnessRequest;
use ledger::state::ShardIndex;
use ledger::trie::PartialTree;

use crate::scenario::Weather;

/// Who a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// The sequencer (answers to its calls).
    Sequencer,
    /// One shard.
    Shard(ShardIndex),
    /// One validator, by index in the validator set.
    Validator(usize),
}

/// What a message carries: the sequencer's calls and their answers.
#[derive(Debug, Clone)]
pub(crate) enum Payload {
    /// The sequencer asks a shard for proofs.
    WitnessRequest(RoundId, WitnessRequest),
    /// A shard's proofs, or why it has none.
    WitnessAnswer(RoundId, ShardIndex, Result<PartialTree, String>),
    /// A proposal for a validator (decoded once from the bytes the sequencer sent).
    Proposal(Rc<Proposal>),
    /// A validator's answer: the bytes of a vote, or a refusal.
    VoteAnswer(Result<Vec<u8>, String>),
    /// A committed block's writes for one shard.
    WriteSet(WriteSet),
    /// A shard's answer to a write set.
    WriteSetAnswer(u64, ShardIndex, Result<(), String>),
    /// A committed block's writes for one shard, then the next round's witness request.
    WriteSetThenWitness(WriteSet, RoundId, WitnessRequest),
    /// A shard's answers to both (an error fails both).
    WriteSetThenWitnessAnswer {
        height: u64,
        shard: ShardIndex,
        applied: Result<(), String>,
        round: RoundId,
        witness: Result<PartialTree, String>,
    },
}

impl Payload {
    /// A few words on the message, for traces.
    pub(crate) fn summary(&self) -> String {
        match self {
            Self::WitnessRequest(round, request) => format!(
                "witness request {}/{} for {} addresses",
                round.height,
                round.attempt,
                request.addresses.len()
            ),
            Self::WitnessAnswer(round, shard, answer) => format!(
                "witness {}/{} from shard {shard}: {}",
                round.height,
                round.attempt,
                answer
                    .as_ref()
                    .map_or_else(String::clone, |_| "ok".to_owned())
            ),
            Self::Proposal(proposal) => format!(
                "proposal {} at height {}",
                proposal.header.hash(),
                proposal.header.height
            ),
            Self::VoteAnswer(answer) => match answer {
                Ok(bytes) => format!("vote of {} bytes", bytes.len()),
                Err(error) => format!("no vote: {error}"),
            },
            Self::WriteSet(set) => format!("write set {} for shard {}", set.height, set.shard),
            Self::WriteSetAnswer(height, shard, answer) => {
                format!("write set {height} answer from shard {shard}: {answer:?}")
            }
            Self::WriteSetThenWitness(set, round, request) => format!(
                "write set {} for shard {} then witness request {}/{} for {} addresses",
                set.height,
                set.shard,
                round.height,
                round.attempt,
                request.addresses.len()
            ),
            Self::WriteSetThenWitnessAnswer {
                height,
                shard,
                applied,
                round,
                witness,
            } => format!(
                "write set {height} answer from shard {shard}: {applied:?}, witness {}/{}: {}",
                round.height,
                round.attempt,
                witness
                    .as_ref()
                    .map_or_else(String::clone, |_| "ok".to_owned())
            ),
        }
    }
}

/// A message and who it is for.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    /// The receiver.
    pub(crate) to: Endpoint,
    /// The sequencer incarnation whose call this belongs to: the answers to a crashed
    /// incarnation's calls die with it, as a Durable Object's pending fetches do.
    pub(crate) incarnation: u32,
    /// The content.
    pub(crate) payload: Payload,
}

/// Counts for the summary line.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NetworkStats {
    /// Messages handed to the network.
    pub(crate) sent: u64,
    /// Messages lost in transit, or discarded by a crash of their sender or receiver.
    pub(crate) lost: u64,
    /// Extra copies delivered.
    pub(crate) duplicated: u64,
}

#[derive(Debug)]
struct InFlight {
    due_ms: u64,
    message: Message,
}

/// Messages in flight.
#[derive(Debug)]
pub(crate) struct Network {
    in_flight: Vec<InFlight>,
    weather: Weather,
    healed: bool,
    /// What the network did so far.
    pub(crate) stats: NetworkStats,
}

impl Network {
    /// An empty network with this weather.
    pub(crate) fn new(weather: Weather) -> Self {
        Self {
            in_flight: Vec::new(),
            weather,
            healed: false,
            stats: NetworkStats::default(),
        }
    }

    /// Hands a message to the network: it may be lost, copied and held back.
    pub(crate) fn send(&mut self, random: &mut SplitMix64, now_ms: u64, message: Message) {
        self.stats.sent += 1;
        if !self.healed && random.below(1_000) < self.weather.loss_per_mille {
            self.stats.lost += 1;
            return;
        }
        if !self.healed && random.below(1_000) < self.weather.duplicate_per_mille {
            self.stats.duplicated += 1;
            self.enqueue(random, now_ms, message.clone());
        }
        self.enqueue(random, now_ms, message);
    }

    fn enqueue(&mut self, random: &mut SplitMix64, now_ms: u64, message: Message) {
        let mut delay_ms = 1 + random.below(self.weather.latency_ms_max + 1);
        if !self.healed && random.below(1_000) < self.weather.late_per_mille {
            delay_ms += random.below(self.weather.late_ms_max + 1);
        }
        self.in_flight.push(InFlight {
            due_ms: now_ms + delay_ms,
            message,
        });
    }

    /// When the next message falls due.
    pub(crate) fn next_due_ms(&self) -> Option<u64> {
        self.in_flight.iter().map(|flight| flight.due_ms).min()
    }

    /// Takes one of the messages due by `now_ms`, chosen at random: any order among them is
    /// a legal network.
    pub(crate) fn take_due(&mut self, random: &mut SplitMix64, now_ms: u64) -> Option<Message> {
        let due = self
            .in_flight
            .iter()
            .filter(|flight| flight.due_ms <= now_ms)
            .count();
        if due == 0 {
            return None;
        }
        let chosen = random.below(due as u64) as usize;
        let index = self
            .in_flight
            .iter()
            .enumerate()
            .filter(|(_, flight)| flight.due_ms <= now_ms)
            .nth(chosen)
            .map(|(index, _)| index)?;
        Some(self.in_flight.swap_remove(index).message)
    }

    /// Removes every message `doomed` picks (a crash took them), counting them as lost.
    pub(crate) fn remove_where(
        &mut self,
        mut doomed: impl FnMut(&Message) -> bool,
    ) -> Vec<Message> {
        let (removed, kept) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|flight| doomed(&flight.message));
        self.in_flight = kept;
        let removed: Vec<InFlight> = removed;
        self.stats.lost += removed.len() as u64;
        removed.into_iter().map(|flight| flight.message).collect()
    }

    /// Counts a message that arrived for a receiver no longer waiting for it.
    pub(crate) fn count_lost(&mut self) {
        self.stats.lost += 1;
    }

    /// From now on nothing is lost, copied or held back; messages already held back still
    /// arrive late.
    pub(crate) fn heal(&mut self) {
        self.healed = true;
        self.weather.latency_ms_max = self.weather.latency_ms_max.min(5);
    }

    /// Whether nothing is in flight.
    pub(crate) fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// Messages in flight.
    pub(crate) fn len(&self) -> usize {
        self.in_flight.len()
    }
}
