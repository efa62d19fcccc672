//! The whole protocol in one process: a sequencer, its shards and four validators, driven
//! through thousands of random transfers with messages delivered in random order and the
//! sequencer crashing and recovering from its durable state.
//!
//! Checked: total supply is conserved; every validator accepts every proposal and computes the
//! same roots; shard roots match the certified state root; every acknowledged transaction ends
//! committed exactly once, dropped with a reason, or still pending — never lost.
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::panic,
    reason = "the harness reports a broken invariant by panicking"
)]

use std::collections::{BTreeMap, BTreeSet};

use ledger::block::CertifiedBlock;
use ledger::codec;
use ledger::consensus::{Guard, ValidatorSet};
use ledger::execution::{Exclusion, WriteSet};
use ledger::genesis::{ChainConfig, Genesis, GenesisAccount};
use ledger::in_memory::InMemoryShards;
use ledger::limits::PROPOSAL_BYTES_MAX;
use ledger::mempool::{Admission, MempoolLimits};
use ledger::proposal::{ChainContext, Proposal, vote_on_proposal};
use ledger::random::SplitMix64;
use ledger::sequencer::{Effect, Persisted, RoundId, Sequencer, Timing};
use ledger::shard::WitnessRequest;
use ledger::signature::SecretKey;
use ledger::transaction::{Transfer, TxKind, VerifiedTx};
use ledger::{Address, Hash, ShardLayout, U256};

/// Encodes a message as the Durable Objects send it and decodes it as the receiver does,
/// so the test exercises the real transport encoding of every message.
fn over_the_wire<T>(message: &T) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    codec::decode(&codec::encode(message), PROPOSAL_BYTES_MAX).expect("message decodes")
}

/// A message in flight between the parts of the network.
enum Message {
    WitnessRequest(RoundId, WitnessRequest),
    WitnessAnswer(RoundId, u16, Result<ledger::trie::PartialTree, String>),
    Proposal(usize, Box<Proposal>),
    Vote(Result<ledger::consensus::Vote, String>),
    WriteSet(WriteSet),
    WriteSetAnswer(u64, u16, Result<(), String>),
}

struct Network {
    random: SplitMix64,
    now_ms: u64,
    alarm_ms: Option<u64>,
    context: ChainContext,
    timing: Timing,
    sequencer: Sequencer,
    persisted: Persisted,
    shards: InMemoryShards,
    validator_keys: Vec<SecretKey>,
    guards: Vec<Guard>,
    users: Vec<SecretKey>,
    in_flight: Vec<Message>,
    acknowledged: BTreeSet<Hash>,
    committed: BTreeMap<Hash, u64>,
    dropped: BTreeMap<Hash, Exclusion>,
    blocks: Vec<CertifiedBlock>,
    signed: Vec<VerifiedTx>,
    supply: U256,
}

const CHAIN_ID: u64 = 31_337;
const BASE_FEE: u128 = 7;

fn key(seed: u64) -> SecretKey {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_be_bytes());
    bytes[31] = 1;
    SecretKey::from_bytes(&bytes).expect("small non-zero keys are valid")
}

impl Network {
    fn new(seed: u64, shard_bits: u8) -> Self {
        let validator_keys: Vec<SecretKey> = (0..4).map(|i| key(1_000 + i)).collect();
        let users: Vec<SecretKey> = (0..24).map(|i| key(2_000 + i)).collect();
        let validators =
            ValidatorSet::new(validator_keys.iter().map(SecretKey::public_key).collect())
                .expect("valid validator set");
        let config = ChainConfig {
            chain_id: CHAIN_ID,
            shard_bits: ShardLayout::new(shard_bits).expect("valid layout"),
            validators,
            proposer: key(3_000).address(),
            fee_recipient: key(3_001).address(),
            base_fee_per_gas: BASE_FEE,
            batch_window_ms: 20,
        };
        let genesis = Genesis {
            config: config.clone(),
            timestamp_ms: 1_000,
            accounts: users
                .iter()
                .map(|user| GenesisAccount {
                    address: user.address(),
                    balance: U256::from(10u64).pow(U256::from(21u64)),
                })
                .collect(),
        };
        genesis.validate().expect("valid genesis");
        let header = genesis.header().expect("genesis header");
        let shard_roots = genesis.shard_roots().expect("shard roots");
        let shards = InMemoryShards::from_genesis(&genesis).expect("genesis shards");
        let timing = Timing::default();
        let sequencer = Sequencer::new(
            config.clone(),
            timing,
            MempoolLimits::default(),
            header,
            shard_roots.clone(),
            seed,
        )
        .expect("valid genesis sequencer");
        let persisted = Persisted::genesis(sequencer.head().clone(), shard_roots);
        Self {
            random: SplitMix64::new(seed),
            now_ms: 2_000,
            alarm_ms: None,
            context: ChainContext {
                genesis_hash: header.hash(),
                config,
            },
            timing,
            sequencer,
            persisted,
            shards,
            guards: vec![Guard::new(); validator_keys.len()],
            validator_keys,
            users,
            in_flight: Vec::new(),
            acknowledged: BTreeSet::new(),
            committed: BTreeMap::new(),
            dropped: BTreeMap::new(),
            blocks: Vec::new(),
            signed: Vec::new(),
            supply: genesis.total_supply().expect("supply"),
        }
    }

    /// Performs effects the way the Durable Object shell does: persist, then send.
    fn perform(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            self.persisted.record(&effect);
            match effect {
                Effect::SetAlarm(at_ms) => {
                    self.alarm_ms = Some(self.alarm_ms.map_or(at_ms, |current| current.min(at_ms)));
                }
                Effect::RequestWitness { round, request } => {
                    self.in_flight.push(Message::WitnessRequest(round, request));
                }
                Effect::Propose(proposal) => {
                    for validator in 0..self.validator_keys.len() {
                        self.in_flight
                            .push(Message::Proposal(validator, proposal.clone()));
                    }
                }
                Effect::Commit { block, .. } => self.record_commit(*block),
                Effect::SendWriteSet(write_set) => {
                    self.in_flight.push(Message::WriteSet(write_set))
                }
                Effect::DropPending(dropped) => {
                    for (hash, reason) in dropped {
                        assert!(self.acknowledged.contains(&hash), "dropped an unknown tx");
                        assert!(
                            !self.committed.contains_key(&hash),
                            "dropped a committed tx"
                        );
                        self.dropped.insert(hash, reason);
                    }
                }
                Effect::PersistPending(_)
                | Effect::ConfirmWriteSet { .. }
                | Effect::SetPaused(_) => {}
            }
        }
    }

    fn record_commit(&mut self, block: CertifiedBlock) {
        let expected_height = self.blocks.len() as u64 + 1;
        assert_eq!(
            block.header.height, expected_height,
            "heights are consecutive"
        );
        block
            .certificate
            .verify(&self.context.config.validators, CHAIN_ID, &block.header)
            .expect("every committed block carries a valid certificate");
        for hash in block.tx_hashes() {
            assert!(
                self.acknowledged.contains(&hash),
                "committed an unacknowledged tx"
            );
            let previous = self.committed.insert(hash, block.header.height);
            assert!(previous.is_none(), "transaction {hash} committed twice");
        }
        self.blocks.push(block);
    }

    /// Delivers one message chosen at random: any order is a legal network.
    fn deliver_one(&mut self) {
        let index = self.random.below(self.in_flight.len() as u64) as usize;
        let message = self.in_flight.swap_remove(index);
        let now_ms = self.now_ms;
        match message {
            Message::WitnessRequest(round, request) => {
                let answer = self
                    .shards
                    .shard(request.shard)
                    .witness(&request)
                    .map_err(|error| error.to_string());
                self.in_flight
                    .push(Message::WitnessAnswer(round, request.shard, answer));
            }
            Message::WitnessAnswer(round, shard, answer) => {
                let effects = self
                    .sequencer
                    .witness_received(now_ms, round, shard, answer);
                self.perform(effects);
            }
            Message::Proposal(validator, proposal) => self.vote(validator, &proposal),
            Message::Vote(vote) => {
                let effects = self.sequencer.vote_received(now_ms, vote);
                self.perform(effects);
            }
            Message::WriteSet(write_set) => {
                let answer = self
                    .shards
                    .shard_mut(write_set.shard)
                    .apply(&write_set)
                    .map(|_| ())
                    .map_err(|error| error.to_string());
                self.in_flight.push(Message::WriteSetAnswer(
                    write_set.height,
                    write_set.shard,
                    answer,
                ));
            }
            Message::WriteSetAnswer(height, shard, answer) => {
                let effects = self
                    .sequencer
                    .write_set_applied(now_ms, height, shard, answer);
                self.perform(effects);
            }
        }
    }

    /// An honest validator: every proposal from an honest sequencer must pass its checks.
    fn vote(&mut self, validator: usize, proposal: &Proposal) {
        let result = vote_on_proposal(
            &self.context,
            &self.validator_keys[validator],
            &self.guards[validator],
            proposal,
            self.now_ms,
        );
        match result {
            Ok((vote, guard)) => {
                self.guards[validator] = over_the_wire(&guard);
                self.in_flight.push(Message::Vote(Ok(over_the_wire(&vote))));
            }
            Err(ledger::proposal::ProposalError::Guard(error)) => {
                // A proposal delivered late, after the validator moved on: refusing is right.
                self.in_flight.push(Message::Vote(Err(error.to_string())));
            }
            Err(error) => panic!("validator {validator} refused an honest proposal: {error}"),
        }
    }

    /// A client: signs a transfer with the pending nonce (as eth_getTransactionCount
    /// "pending" gives it), sometimes a deliberately bad one, and submits a small batch.
    fn submit_batch(&mut self) {
        let count = 1 + self.random.below(12) as usize;
        let mut batch = Vec::with_capacity(count);
        for _ in 0..count {
            batch.push(self.next_transfer());
        }
        let committed = &self.committed;
        let (admissions, effects) = self.sequencer.submit(self.now_ms, batch.clone(), |hash| {
            committed.contains_key(hash)
        });
        self.perform(effects);
        for (tx, admission) in batch.iter().zip(admissions) {
            match admission {
                Admission::Accepted => {
                    // A dropped transaction may be accepted again (it may be payable now);
                    // a pending or committed one never.
                    let was_dropped = self.dropped.remove(&tx.hash()).is_some();
                    assert!(
                        self.acknowledged.insert(tx.hash()) || was_dropped,
                        "accepted twice"
                    );
                    assert!(
                        self.persisted.pending.contains_key(&tx.hash()),
                        "acked but not persisted"
                    );
                }
                Admission::Duplicate => assert!(self.acknowledged.contains(&tx.hash())),
                Admission::Rejected(_) => assert!(!self.persisted.pending.contains_key(&tx.hash())),
            }
        }
    }

    fn next_transfer(&mut self) -> VerifiedTx {
        if !self.signed.is_empty() && self.random.chance(5) {
            // Resubmit something old: pending, committed or dropped.
            return self.random.pick(&self.signed).clone();
        }
        let sender = self.random.pick(&self.users).clone();
        let committed = self.account(&sender.address()).nonce;
        let mut nonce = self
            .sequencer
            .mempool()
            .pending_nonce(&sender.address())
            .unwrap_or(committed);
        if self.random.chance(4) {
            nonce += 1 + self.random.below(2); // a gap: waits until filled
        }
        let to = if self.random.chance(30) {
            key(10_000 + self.random.below(1_000)).address() // often a brand-new account
        } else {
            self.random.pick(&self.users).address()
        };
        let balance = self.account(&sender.address()).balance;
        let value = if self.random.chance(3) {
            balance + U256::from(1u64) // cannot pay
        } else {
            U256::from(self.random.below(1_000_000_000_000))
        };
        let kind = *self
            .random
            .pick(&[TxKind::Legacy, TxKind::AccessList, TxKind::DynamicFee]);
        let max_fee = BASE_FEE + u128::from(self.random.below(5));
        let transfer = Transfer {
            kind,
            chain_id: CHAIN_ID,
            nonce,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: if kind == TxKind::DynamicFee {
                1
            } else {
                max_fee
            },
            gas_limit: 21_000 + self.random.below(3) * 1_000,
            to,
            value,
        };
        let tx = transfer
            .sign(&sender)
            .recover()
            .expect("own signature recovers");
        self.signed.push(tx.clone());
        tx
    }

    fn account(&self, address: &Address) -> ledger::Account {
        self.shards.account(address).expect("own shard")
    }

    fn fire_alarm_if_due(&mut self) {
        if self.alarm_ms.is_some_and(|at| at <= self.now_ms) {
            self.alarm_ms = None;
            let effects = self.sequencer.alarm(self.now_ms);
            self.perform(effects);
        }
    }

    /// The sequencer loses its memory and restarts from durable state.
    fn crash_sequencer(&mut self) {
        let (sequencer, effects) = Sequencer::recover(
            self.context.config.clone(),
            self.timing,
            MempoolLimits::default(),
            &self.persisted,
            self.now_ms,
            self.random.next_u64(),
        )
        .expect("durable state recovers");
        self.sequencer = sequencer;
        self.alarm_ms = None;
        self.perform(effects);
    }

    fn step(&mut self) {
        let roll = self.random.below(100);
        if roll < 15 {
            self.submit_batch();
        } else if roll < 16 {
            self.crash_sequencer();
        } else if roll < 30 || self.in_flight.is_empty() {
            self.now_ms += 1 + self.random.below(40);
            self.fire_alarm_if_due();
        } else {
            self.deliver_one();
        }
    }

    /// Lets everything in flight land and the sequencer finish its work.
    fn drain(&mut self) {
        for _ in 0..100_000 {
            if self.in_flight.is_empty() && self.alarm_ms.is_none() {
                return;
            }
            if self.in_flight.is_empty() {
                self.now_ms = self.alarm_ms.unwrap_or(self.now_ms).max(self.now_ms);
                self.fire_alarm_if_due();
            } else {
                self.deliver_one();
            }
        }
        panic!("the network did not settle");
    }

    fn check_invariants(&self) {
        let stored: Persisted = over_the_wire(&self.persisted);
        assert_eq!(stored, self.persisted, "durable state reads back unchanged");
        let layout = self.context.config.layout();
        let shard_roots = self.shards.roots();
        let head = &self.sequencer.head().header;
        assert_eq!(
            shard_roots,
            self.sequencer.shard_roots(),
            "shards apply every commit"
        );
        assert_eq!(
            self.shards.state_root(),
            head.state_root,
            "shards match the certified root"
        );
        assert_eq!(
            self.shards.total_supply(),
            self.supply,
            "total supply is conserved"
        );
        for shard in self.shards.iter() {
            for address in shard.store().accounts().keys() {
                assert_eq!(layout.shard_of(address), shard.meta().shard);
            }
        }
        assert!(
            !self.sequencer.mempool().has_ready(1),
            "liveness: transactions ready for a block were left with no alarm scheduled"
        );
        for hash in &self.acknowledged {
            let committed = self.committed.contains_key(hash);
            let dropped = self.dropped.contains_key(hash);
            let pending = self.persisted.pending.contains_key(hash);
            assert_eq!(
                u8::from(committed) + u8::from(dropped) + u8::from(pending),
                1,
                "acknowledged transaction {hash}: committed {committed}, dropped {dropped}, pending {pending}"
            );
        }
    }
}

fn run(seed: u64, shard_bits: u8, steps: usize) -> Network {
    let mut network = Network::new(seed, shard_bits);
    for _ in 0..steps {
        network.step();
    }
    network.drain();
    network.check_invariants();
    network
}

#[test]
fn thousands_of_random_transfers_conserve_supply_and_lose_nothing() {
    for (seed, shard_bits) in [(1, 2), (2, 0), (3, 3)] {
        let network = run(seed, shard_bits, 12_000);
        let committed = network.committed.len();
        assert!(
            committed > 1_000,
            "seed {seed}: only {committed} transfers committed"
        );
        assert!(
            network.blocks.len() > 20,
            "seed {seed}: only {} blocks",
            network.blocks.len()
        );
        assert!(
            !network.dropped.is_empty(),
            "seed {seed}: bad transfers were submitted and dropped"
        );
        println!(
            "seed {seed}, {} shards: {} blocks, {committed} committed, {} dropped, {} pending",
            1u32 << shard_bits,
            network.blocks.len(),
            network.dropped.len(),
            network.persisted.pending.len()
        );
    }
}

#[test]
fn a_quiet_chain_makes_no_blocks() {
    let mut network = Network::new(9, 2);
    for _ in 0..100 {
        network.now_ms += 1_000;
        network.fire_alarm_if_due();
    }
    assert!(network.blocks.is_empty());
    assert!(
        network.alarm_ms.is_none(),
        "no alarm is scheduled while nothing is pending"
    );
}
