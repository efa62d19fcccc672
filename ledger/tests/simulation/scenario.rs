//! What one seed decides before the run starts: the cluster's shape, which validators are
//! Byzantine and how, the weather on the network, and how often things crash.

use ledger::mempool::MempoolLimits;
use ledger::random::SplitMix64;
use ledger::sequencer::Timing;

/// How a validator behaves for the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behaviour {
    /// Checks every proposal, asks its guard, signs.
    Honest,
    /// Never answers.
    Silent,
    /// Answers with undecodable bytes, bad signatures, forged indices and replayed votes.
    Garbage,
    /// Signs another block at the proposal's height instead of the proposal.
    OtherBlock,
    /// Signs the proposal and another block at the same height: it ignores its guard.
    Equivocate,
    /// Picks one of the Byzantine behaviours above afresh for every proposal.
    Chaotic,
    /// Equivocates, and sends the honest validators a valid alternative proposal, as an
    /// adversary that can reach validators directly would (the deployment lets only the
    /// sequencer call them, through service bindings).
    Injector,
}

impl Behaviour {
    /// Every behaviour but [`Self::Honest`] is Byzantine.
    pub(crate) fn is_byzantine(self) -> bool {
        self != Self::Honest
    }

    /// The behaviours a Byzantine validator may draw without reaching validators directly.
    const BYZANTINE: [Self; 5] = [
        Self::Silent,
        Self::Garbage,
        Self::OtherBlock,
        Self::Equivocate,
        Self::Chaotic,
    ];

    /// One Byzantine behaviour (not [`Self::Injector`]).
    pub(crate) fn draw(random: &mut SplitMix64) -> Self {
        *random.pick(&Self::BYZANTINE)
    }
}

/// Which guarantees a run must keep, by how many validators are faulty and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// At most f Byzantine validators, and only the sequencer reaches validators: safety
    /// throughout and, once the network heals, liveness.
    Tolerated,
    /// More than f but fewer than a quorum of Byzantine validators: safety only; the chain is
    /// allowed to halt, never to fork.
    BeyondTolerance,
    /// At most f Byzantine validators, one of which injects alternative proposals: safety
    /// only, since honest votes split over two blocks can stall a height for good.
    Injection,
    /// A quorum of equivocating validators: forking is possible, and the fork detector must
    /// report it (a check of the harness itself).
    ColludingQuorum,
}

/// How the network treats messages; all rates are per mille of messages sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Weather {
    /// A name for the summary.
    pub(crate) name: &'static str,
    /// Messages never delivered.
    pub(crate) loss_per_mille: u64,
    /// Messages delivered twice (each copy with its own delay).
    pub(crate) duplicate_per_mille: u64,
    /// Every message takes 1 ms plus up to this long.
    pub(crate) latency_ms_max: u64,
    /// Messages held back far longer, past round timeouts.
    pub(crate) late_per_mille: u64,
    /// How much longer a late message may take.
    pub(crate) late_ms_max: u64,
}

impl Weather {
    const ALL: [Self; 4] = [
        Self {
            name: "calm",
            loss_per_mille: 0,
            duplicate_per_mille: 0,
            latency_ms_max: 5,
            late_per_mille: 0,
            late_ms_max: 0,
        },
        Self {
            name: "mild",
            loss_per_mille: 20,
            duplicate_per_mille: 20,
            latency_ms_max: 20,
            late_per_mille: 20,
            late_ms_max: 1_000,
        },
        Self {
            name: "rough",
            loss_per_mille: 80,
            duplicate_per_mille: 50,
            latency_ms_max: 50,
            late_per_mille: 80,
            late_ms_max: 3_000,
        },
        Self {
            name: "storm",
            loss_per_mille: 250,
            duplicate_per_mille: 150,
            latency_ms_max: 200,
            late_per_mille: 200,
            late_ms_max: 6_000,
        },
    ];
}

/// How often machines crash while faults are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CrashRates {
    /// Per mille of steps: the sequencer loses its memory between two inputs.
    pub(crate) sequencer_per_mille: u64,
    /// Per mille of effects: the sequencer dies before performing one, in the middle of the
    /// effects of an input (those already performed stay performed).
    pub(crate) mid_effect_per_mille: u64,
    /// Per mille of steps: a shard loses its memory and its in-flight requests.
    pub(crate) shard_per_mille: u64,
    /// Per mille of steps: an honest validator goes down for a while.
    pub(crate) outage_per_mille: u64,
}

impl CrashRates {
    const ALL: [Self; 3] = [
        Self {
            sequencer_per_mille: 0,
            mid_effect_per_mille: 0,
            shard_per_mille: 0,
            outage_per_mille: 0,
        },
        Self {
            sequencer_per_mille: 2,
            mid_effect_per_mille: 4,
            shard_per_mille: 2,
            outage_per_mille: 3,
        },
        Self {
            sequencer_per_mille: 8,
            mid_effect_per_mille: 15,
            shard_per_mille: 8,
            outage_per_mille: 10,
        },
    ];
}

/// Everything one seed fixes before the first step.
#[derive(Debug, Clone)]
pub(crate) struct Scenario {
    /// The seed; the same seed gives the same run.
    pub(crate) seed: u64,
    /// Which guarantees the run must keep.
    pub(crate) class: Class,
    /// One behaviour per validator, in validator set order.
    pub(crate) behaviours: Vec<Behaviour>,
    /// The chain has `2^shard_bits` shards.
    pub(crate) shard_bits: u8,
    /// Funded accounts sending transfers.
    pub(crate) users: usize,
    /// The network's weather while faults are on.
    pub(crate) weather: Weather,
    /// How often things crash while faults are on.
    pub(crate) crashes: CrashRates,
    /// Steps with faults and a workload, before the network heals.
    pub(crate) steps: usize,
    /// The sequencer's timeouts.
    pub(crate) timing: Timing,
    /// The chain's batching window.
    pub(crate) batch_window_ms: u64,
    /// The sequencer's mempool bounds (sometimes tiny, so capacity refusals happen).
    pub(crate) mempool: MempoolLimits,
}

impl Scenario {
    /// The scenario of `seed`, with about `steps` faulty steps.
    pub(crate) fn from_seed(seed: u64, steps: usize) -> Self {
        let mut random = SplitMix64::new(seed ^ 0x5ce0_a710_0000_0000);
        let validators = if random.chance(50) { 4 } else { 7 };
        let (class, behaviours) = draw_validators(&mut random, validators);
        Self {
            seed,
            class,
            behaviours,
            shard_bits: random.below(4) as u8,
            users: 3 + random.below(30) as usize,
            weather: *random.pick(&Weather::ALL),
            crashes: *random.pick(&CrashRates::ALL),
            steps: steps / 2 + random.below(steps as u64 + 1) as usize,
            timing: Timing {
                round_timeout_ms: *random.pick(&[300, 1_000, 2_000]),
                resend_ms: *random.pick(&[100, 250, 500]),
            },
            batch_window_ms: *random.pick(&[0, 5, 20, 50]),
            mempool: if random.chance(20) {
                MempoolLimits {
                    txs_max: 32,
                    sender_txs_max: 6,
                }
            } else {
                MempoolLimits::default()
            },
        }
    }

    /// A scenario of `seed` in which a quorum of validators equivocates together.
    pub(crate) fn colluding_quorum(seed: u64, steps: usize) -> Self {
        let mut scenario = Self::from_seed(seed, steps);
        let validators = scenario.behaviours.len();
        let quorum = 2 * validators / 3 + 1;
        scenario.class = Class::ColludingQuorum;
        scenario.behaviours = (0..validators)
            .map(|index| {
                if index < quorum {
                    Behaviour::Equivocate
                } else {
                    Behaviour::Honest
                }
            })
            .collect();
        scenario
    }

    /// Whether the run must make progress once the network heals.
    pub(crate) fn requires_liveness(&self) -> bool {
        self.class == Class::Tolerated
    }

    /// Whether fewer than a quorum of validators ever sign a proposal: the honest ones and
    /// those Byzantine ones that only stay silent or sign another block. The chain must not
    /// get past genesis.
    pub(crate) fn quorum_impossible(&self) -> bool {
        let signers = self
            .behaviours
            .iter()
            .filter(|behaviour| !matches!(behaviour, Behaviour::Silent | Behaviour::OtherBlock))
            .count();
        signers < 2 * self.behaviours.len() / 3 + 1
    }

    /// One line for logs and failure reports.
    pub(crate) fn describe(&self) -> String {
        let byzantine: Vec<String> = self
            .behaviours
            .iter()
            .enumerate()
            .filter(|(_, behaviour)| behaviour.is_byzantine())
            .map(|(index, behaviour)| format!("{index}:{behaviour:?}"))
            .collect();
        format!(
            "{:?}, {} validators (byzantine [{}]), {} shards, {} users, {} network, crashes {:?}, \
             {} steps, timeouts {}/{} ms, batch window {} ms, mempool {}",
            self.class,
            self.behaviours.len(),
            byzantine.join(" "),
            1u32 << self.shard_bits,
            self.users,
            self.weather.name,
            self.crashes,
            self.steps,
            self.timing.round_timeout_ms,
            self.timing.resend_ms,
            self.batch_window_ms,
            self.mempool.txs_max,
        )
    }
}

/// The class of the run and a behaviour per validator: how many are Byzantine decides what the
/// run must guarantee.
fn draw_validators(random: &mut SplitMix64, validators: usize) -> (Class, Vec<Behaviour>) {
    let faulty_max = (validators - 1) / 3;
    let quorum = 2 * validators / 3 + 1;
    let roll = random.below(20);
    let (class, byzantine) = if roll < 14 {
        (
            Class::Tolerated,
            random.below(faulty_max as u64 + 1) as usize,
        )
    } else if roll < 18 {
        let beyond = quorum - 1 - faulty_max; // counts strictly between f and the quorum
        let count = faulty_max + 1 + random.below(beyond as u64) as usize;
        (Class::BeyondTolerance, count)
    } else {
        (
            Class::Injection,
            1 + random.below(faulty_max as u64) as usize,
        )
    };
    let mut behaviours = vec![Behaviour::Honest; validators];
    let mut placed = 0;
    while placed < byzantine {
        let index = random.below(validators as u64) as usize;
        if behaviours[index].is_byzantine() {
            continue;
        }
        behaviours[index] = if class == Class::Injection && placed == 0 {
            Behaviour::Injector
        } else {
            Behaviour::draw(random)
        };
        placed += 1;
    }
    (class, behaviours)
}
