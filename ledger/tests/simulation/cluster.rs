//! The whole system in one process: a sequencer over its durable storage, the shards, the
//! validators, the clients and the network between them, on a simulated clock. One step is
//! one event: a submission, a delivery, time passing (and the alarm firing), or a crash.

use ledger::consensus::ValidatorSet;
use ledger::genesis::{ChainConfig, Genesis, GenesisAccount};
use ledger::proposal::ChainContext;
use ledger::random::SplitMix64;
use ledger::sequencer::{Persisted, Sequencer};
use ledger::shard::{MemoryShardStore, Shard};
use ledger::signature::SecretKey;
use ledger::{ShardLayout, U256};

use crate::certificates::Certificates;
use crate::fates::Fates;
use crate::model::Model;
use crate::network::Network;
use crate::report::{Stats, Violation};
use crate::scenario::Scenario;
use crate::validators::Validators;
use crate::workload::{Workload, random_key};

/// The chain's id.
pub(crate) const CHAIN_ID: u64 = 31_337;
/// The chain's base fee per gas.
pub(crate) const BASE_FEE_PER_GAS: u128 = 7;
/// Per mille of faulty steps that submit a batch.
const SUBMIT_PER_MILLE: u64 = 120;
/// Per mille of steps that let time pass.
const TICK_PER_MILLE: u64 = 150;
/// Longest tick.
const TICK_MS_MAX: u64 = 40;
/// Longest outage of an honest validator, in round timeouts.
const OUTAGE_ROUNDS_MAX: u64 = 4;
/// Simulated time the healed network has to finish all work.
pub(crate) const HEAL_MS_MAX: u64 = 120_000;
/// Simulated time a run that is allowed to halt is watched after healing: long enough for
/// many rounds (a fork would show), short of re-checking proposals for minutes.
const HALTING_WATCH_MS: u64 = 20_000;
/// Steps the healed network has to finish all work.
const HEAL_STEPS_MAX: usize = 200_000;

/// One event of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    CrashSequencer,
    CrashShard,
    Outage,
    Submit,
    Tick,
    Deliver,
}

/// Everything one run simulates.
pub(crate) struct Simulation {
    /// What the seed decided.
    pub(crate) scenario: Scenario,
    /// The run's only source of randomness, seeded by the scenario's seed.
    pub(crate) random: SplitMix64,
    /// The simulated clock: every machine's `now_ms` (validators add their skew).
    pub(crate) now_ms: u64,
    /// Steps taken.
    pub(crate) steps: usize,
    /// Whether faults (loss, copies, delays, crashes, outages) and the workload are on.
    pub(crate) faults_on: bool,
    /// Print every event (for replaying one seed).
    pub(crate) trace: bool,
    /// The chain as validators are configured with it.
    pub(crate) context: ChainContext,
    /// The sequencer's memory: lost in a crash.
    pub(crate) sequencer: Sequencer,
    /// Bumped by every sequencer crash.
    pub(crate) incarnation: u32,
    /// The sequencer's durable storage.
    pub(crate) persisted: Persisted,
    /// The sequencer's durable alarm: it survives crashes.
    pub(crate) alarm_ms: Option<u64>,
    /// Every shard, in index order, each over its own store.
    pub(crate) shards: Vec<Shard<MemoryShardStore>>,
    /// Honest and Byzantine validators.
    pub(crate) validators: Validators,
    /// The clients.
    pub(crate) workload: Workload,
    /// Messages in flight.
    pub(crate) network: Network,
    /// The fork detector.
    pub(crate) certificates: Certificates,
    /// The reference chain and state.
    pub(crate) model: Model,
    /// What became of every stored transaction.
    pub(crate) fates: Fates,
    /// Crash counts (the rest is collected at the end).
    pub(crate) stats: Stats,
    /// Height of the last consistent point fully compared with the model.
    pub(crate) checked_height: Option<u64>,
    /// Simulated time from healing to settling.
    pub(crate) heal_ms: u64,
}

/// Where a failed run stopped.
#[derive(Debug)]
pub(crate) struct Failure {
    /// What broke.
    pub(crate) violation: Violation,
    /// Where: step, time, height.
    pub(crate) position: String,
}

impl Simulation {
    /// The cluster at genesis, as `scenario` shapes it.
    pub(crate) fn new(scenario: Scenario, trace: bool) -> Self {
        let mut random = SplitMix64::new(scenario.seed);
        let mut validator_keys: Vec<SecretKey> = (0..scenario.behaviours.len())
            .map(|_| random_key(&mut random))
            .collect();
        validator_keys.sort_by_key(SecretKey::address); // set order
        let users: Vec<SecretKey> = (0..scenario.users)
            .map(|_| random_key(&mut random))
            .collect();
        let genesis = genesis(&scenario, &validator_keys, &users, &mut random);
        let header = genesis.header().expect("genesis header");
        let shard_roots = genesis.shard_roots().expect("genesis shard roots");
        let sequencer = Sequencer::new(
            genesis.config.clone(),
            scenario.timing,
            scenario.mempool,
            header,
            shard_roots.clone(),
            random.next_u64(),
        )
        .expect("a valid genesis sequencer");
        let persisted = Persisted::genesis(sequencer.head().clone(), shard_roots);
        let honest = scenario
            .behaviours
            .iter()
            .map(|b| !b.is_byzantine())
            .collect();
        let validators = Validators::new(validator_keys, scenario.behaviours.clone(), &mut random);
        Self {
            random,
            now_ms: genesis.timestamp_ms + 1_000,
            steps: 0,
            faults_on: true,
            trace,
            context: ChainContext {
                genesis_hash: header.hash(),
                config: genesis.config.clone(),
            },
            sequencer,
            incarnation: 0,
            persisted,
            alarm_ms: None,
            shards: genesis_shards(&genesis),
            validators,
            workload: Workload::new(CHAIN_ID, BASE_FEE_PER_GAS, users),
            network: Network::new(scenario.weather),
            certificates: Certificates::new(genesis.config.validators.clone(), CHAIN_ID, honest),
            model: Model::new(&genesis),
            fates: Fates::default(),
            stats: Stats::default(),
            checked_height: None,
            heal_ms: 0,
            scenario,
        }
    }

    /// Runs the faulty phase, heals the network and lets the chain finish its work; returns
    /// the run's counts.
    pub(crate) fn run(mut self) -> Result<Stats, Failure> {
        let result = self.run_phases();
        result.map_err(|violation| Failure {
            violation,
            position: format!(
                "step {}, {} ms simulated, height {}, {} messages in flight",
                self.steps,
                self.now_ms,
                self.model.height(),
                self.network.len()
            ),
        })
    }

    fn run_phases(&mut self) -> Result<Stats, Violation> {
        for _ in 0..self.scenario.steps {
            self.step()?;
        }
        self.heal();
        let settled = self.drain()?;
        self.check_end(settled)?;
        Ok(self.summary(settled))
    }

    /// One event, then the invariants.
    pub(crate) fn step(&mut self) -> Result<(), Violation> {
        self.steps += 1;
        match self.choose_action() {
            Action::CrashSequencer => {
                self.stats.sequencer_crashes += 1;
                self.restart_sequencer()?;
            }
            Action::CrashShard => self.crash_shard(),
            Action::Outage => {
                let duration_ms_max = OUTAGE_ROUNDS_MAX * self.scenario.timing.round_timeout_ms;
                let now_ms = self.now_ms;
                self.validators
                    .take_one_down(&mut self.random, now_ms, duration_ms_max);
            }
            Action::Submit => self.submit_batch()?,
            Action::Tick => self.tick()?,
            Action::Deliver => self.deliver_one()?,
        }
        self.check_step()
    }

    fn choose_action(&mut self) -> Action {
        let crashes = self.scenario.crashes;
        let faulty = u64::from(self.faults_on);
        let table = [
            (faulty * crashes.sequencer_per_mille, Action::CrashSequencer),
            (faulty * crashes.shard_per_mille, Action::CrashShard),
            (faulty * crashes.outage_per_mille, Action::Outage),
            (faulty * SUBMIT_PER_MILLE, Action::Submit),
            (TICK_PER_MILLE, Action::Tick),
        ];
        let mut roll = self.random.below(1_000);
        for (weight, action) in table {
            if roll < weight {
                return action;
            }
            roll -= weight;
        }
        Action::Deliver
    }

    /// Lets time pass: a short tick while clients are active, straight to the next event
    /// once they are not; the alarm fires if due.
    pub(crate) fn tick(&mut self) -> Result<(), Violation> {
        let next_event = [self.network.next_due_ms(), self.alarm_ms]
            .into_iter()
            .flatten()
            .min();
        let tick_ms = 1 + self.random.below(TICK_MS_MAX);
        self.now_ms = match next_event {
            Some(at_ms) if !self.faults_on => at_ms.max(self.now_ms),
            _ => self.now_ms + tick_ms,
        };
        self.fire_alarm_if_due()
    }

    fn fire_alarm_if_due(&mut self) -> Result<(), Violation> {
        if self.alarm_ms.is_some_and(|at_ms| at_ms <= self.now_ms) {
            self.alarm_ms = None;
            self.trace_event(format_args!("alarm"));
            let effects = self.sequencer.alarm(self.now_ms);
            self.perform(effects)?;
        }
        Ok(())
    }

    /// No more faults, outages or clients; messages already held back still arrive late.
    fn heal(&mut self) {
        self.faults_on = false;
        self.network.heal();
        self.validators.heal();
        self.trace_event(format_args!("healed"));
    }

    /// Steps until nothing is in flight and no alarm is set, within a bound of simulated
    /// time and steps. Returns whether everything settled.
    fn drain(&mut self) -> Result<bool, Violation> {
        let watch_ms = if self.scenario.requires_liveness() {
            HEAL_MS_MAX
        } else {
            HALTING_WATCH_MS
        };
        let healed_ms = self.now_ms;
        let deadline_ms = self.now_ms + watch_ms;
        for _ in 0..HEAL_STEPS_MAX {
            if self.network.is_empty() && self.alarm_ms.is_none() {
                self.heal_ms = self.now_ms - healed_ms;
                return Ok(true);
            }
            if self.now_ms > deadline_ms {
                break;
            }
            self.step()?;
        }
        Ok(false)
    }

    fn summary(&self, settled: bool) -> Stats {
        Stats {
            seeds: 1,
            blocks: self.model.height(),
            committed: self.fates.committed_count() as u64,
            dropped: self.fates.dropped_count() as u64,
            evicted: self.fates.evicted_count() as u64,
            network: self.network.stats,
            validator_outages: self.validators.outages,
            byzantine_votes: self.validators.byzantine_votes,
            injected_proposals: self.validators.injected,
            halted: u64::from(!settled),
            heal_ms_max: if self.scenario.requires_liveness() {
                self.heal_ms
            } else {
                0
            },
            ..self.stats
        }
    }

    /// Prints one event when tracing.
    pub(crate) fn trace_event(&self, event: std::fmt::Arguments<'_>) {
        if self.trace {
            println!(
                "[{:>6} {:>8} ms h{}] {event}",
                self.steps,
                self.now_ms,
                self.model.height()
            );
        }
    }
}

/// The chain of `scenario`: its validators, users with assorted balances, a fee recipient.
fn genesis(
    scenario: &Scenario,
    validator_keys: &[SecretKey],
    users: &[SecretKey],
    random: &mut SplitMix64,
) -> Genesis {
    let validators = ValidatorSet::new(validator_keys.iter().map(SecretKey::public_key).collect())
        .expect("a valid validator set");
    let config = ChainConfig {
        chain_id: CHAIN_ID,
        shard_bits: ShardLayout::new(scenario.shard_bits).expect("a valid layout"),
        validators,
        proposer: random_key(random).address(),
        fee_recipient: random_key(random).address(),
        base_fee_per_gas: BASE_FEE_PER_GAS,
        batch_window_ms: scenario.batch_window_ms,
    };
    let accounts = users
        .iter()
        .map(|user| GenesisAccount {
            address: user.address(),
            balance: U256::from(10u64).pow(U256::from(15 + random.below(7))),
        })
        .collect();
    let genesis = Genesis {
        config,
        timestamp_ms: 1_000_000,
        accounts,
    };
    genesis.validate().expect("a valid genesis");
    genesis
}

/// Every shard at genesis over its own store, as the shard objects initialise themselves.
fn genesis_shards(genesis: &Genesis) -> Vec<Shard<MemoryShardStore>> {
    let layout = genesis.config.layout();
    let mut accounts = genesis.shard_accounts();
    (0..layout.shard_count())
        .map(|index| {
            let index = index as u16;
            let funded = accounts.remove(&index).unwrap_or_default();
            Shard::initialise(layout, index, MemoryShardStore::default(), &funded)
                .expect("genesis shard")
        })
        .collect()
}
