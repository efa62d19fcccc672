//! Unit tests: the sequencer driven by hand, one input at a time, against real shards and
//! validators in memory.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::block::BlockFormat;
use crate::consensus::tests::validator_keys;
use crate::consensus::{Guard, ValidatorSet};
use crate::execution::WriteSet;
use crate::genesis::{Genesis, GenesisAccount};
use crate::mempool::tests::{CHAIN_ID, key, signed};
use crate::primitives::U256;
use crate::proposal::{ChainContext, check_proposal, vote_on_proposal};
use crate::shard::{MemoryShardStore, Shard};
use crate::signature::SecretKey;
use crate::state::ShardLayout;
use crate::trie::root_over_shards;

const BASE_FEE: u128 = 7;
const WINDOW_MS: u64 = 20;
const TIMEOUT_MS: u64 = 2_000;
const RESEND_MS: u64 = 500;
const GENESIS_MS: u64 = 1_000;
const T0: u64 = 10_000;

fn balance() -> U256 {
    U256::from(10u64).pow(U256::from(18u64))
}

/// The fee recipient lives in shard 3 of 4; users in shards 0 and 1; shard 2 stays untouched.
fn fee_recipient() -> Address {
    Address([0xc0; 20])
}

/// The `skip`th key (from seed 100 up) whose address is in `shard` of 4.
fn key_in_shard(shard: ShardIndex, skip: usize) -> SecretKey {
    let layout = ShardLayout::new(2).expect("valid layout");
    (100..)
        .map(key)
        .filter(|key| layout.shard_of(&key.address()) == shard)
        .nth(skip)
        .expect("some key lands in every shard")
}

struct Harness {
    context: ChainContext,
    sequencer: Sequencer,
    persisted: Persisted,
    shards: Vec<Shard<MemoryShardStore>>,
    validators: Vec<SecretKey>,
    guards: Vec<Guard>,
    genesis_roots: Vec<Hash>,
    alice: SecretKey,
    carol: SecretKey,
    bob: Address,
}

impl Harness {
    fn new() -> Self {
        Self::with_mempool(MempoolLimits::default())
    }

    fn with_mempool(limits: MempoolLimits) -> Self {
        let validators = validator_keys(4);
        let alice = key_in_shard(0, 0);
        let carol = key_in_shard(0, 1);
        let bob = key_in_shard(1, 0).address();
        let config = ChainConfig {
            chain_id: CHAIN_ID,
            shard_bits: ShardLayout::new(2).expect("valid layout"),
            validators: ValidatorSet::new(validators.iter().map(SecretKey::public_key).collect())
                .expect("valid set"),
            proposer: Address([0x33; 20]),
            fee_recipient: fee_recipient(),
            base_fee_per_gas: BASE_FEE,
            batch_window_ms: WINDOW_MS,
        };
        let genesis = Genesis {
            config: config.clone(),
            timestamp_ms: GENESIS_MS,
            accounts: [alice.address(), carol.address(), bob]
                .into_iter()
                .map(|address| GenesisAccount {
                    address,
                    balance: balance(),
                })
                .collect(),
        };
        genesis.validate().expect("valid genesis");
        let header = genesis.header().expect("header");
        let genesis_roots = genesis.shard_roots().expect("roots");
        let mut accounts = genesis.shard_accounts();
        let shards = (0..4)
            .map(|index: ShardIndex| {
                Shard::initialise(
                    config.layout(),
                    index,
                    MemoryShardStore::default(),
                    &accounts.remove(&index).unwrap_or_default(),
                )
                .expect("genesis shard")
            })
            .collect();
        let sequencer = Sequencer::new(
            config.clone(),
            Timing {
                round_timeout_ms: TIMEOUT_MS,
                resend_ms: RESEND_MS,
            },
            limits,
            header,
            genesis_roots.clone(),
            42,
        )
        .expect("valid genesis sequencer");
        let persisted = Persisted::genesis(sequencer.head().clone(), genesis_roots.clone());
        Self {
            context: ChainContext {
                config,
                genesis_hash: header.hash(),
            },
            sequencer,
            persisted,
            shards,
            guards: vec![Guard::new(); validators.len()],
            validators,
            genesis_roots,
            alice,
            carol,
            bob,
        }
    }

    /// Persists effects as the shell does and hands them back for inspection.
    fn record(&mut self, effects: Vec<Effect>) -> Vec<Effect> {
        for effect in &effects {
            self.persisted.record(effect);
        }
        effects
    }

    fn submit(&mut self, now_ms: u64, txs: &[VerifiedTx]) -> (Vec<Admission>, Vec<Effect>) {
        let (admissions, effects) = self.sequencer.submit(now_ms, txs.to_vec(), |_| false);
        (admissions, self.record(effects))
    }

    fn alarm(&mut self, now_ms: u64) -> Vec<Effect> {
        let effects = self.sequencer.alarm(now_ms);
        self.record(effects)
    }

    fn witness_answer(&self, request: &WitnessRequest) -> Result<PartialTree, String> {
        self.shards[usize::from(request.shard)]
            .witness(request)
            .map_err(|error| error.to_string())
    }

    fn feed_witness(
        &mut self,
        now_ms: u64,
        round: RoundId,
        shard: ShardIndex,
        answer: Result<PartialTree, String>,
    ) -> Vec<Effect> {
        let effects = self
            .sequencer
            .witness_received(now_ms, round, shard, answer);
        self.record(effects)
    }

    /// Answers every witness request among `effects` honestly, in order.
    fn answer_all(&mut self, now_ms: u64, effects: &[Effect]) -> Vec<Effect> {
        let mut out = Vec::new();
        for (round, request) in requests(effects) {
            let answer = self.witness_answer(&request);
            out.extend(self.feed_witness(now_ms, round, request.shard, answer));
        }
        out
    }

    /// Submits `txs` at T0 and runs the first round up to its proposal.
    fn propose(&mut self, txs: &[VerifiedTx]) -> Proposal {
        self.submit(T0, txs);
        let effects = self.alarm(T0 + WINDOW_MS);
        let effects = self.answer_all(T0 + WINDOW_MS + 10, &effects);
        proposal_of(&effects).expect("a proposal")
    }

    fn vote(&mut self, validator: usize, proposal: &Proposal) -> Vote {
        let (vote, guard) = vote_on_proposal(
            &self.context,
            &self.validators[validator],
            &self.guards[validator],
            proposal,
            proposal.header.timestamp_ms,
        )
        .expect("an honest proposal gets a vote");
        self.guards[validator] = guard;
        vote
    }

    fn feed_vote(&mut self, now_ms: u64, vote: Result<Vote, String>) -> Vec<Effect> {
        let effects = self.sequencer.vote_received(now_ms, vote);
        self.record(effects)
    }

    /// Three of four validators vote: a quorum. Returns the effects of the last vote.
    fn certify(&mut self, now_ms: u64, proposal: &Proposal) -> Vec<Effect> {
        let mut effects = Vec::new();
        for validator in 0..3 {
            let vote = self.vote(validator, proposal);
            effects = self.feed_vote(now_ms, Ok(vote));
        }
        effects
    }

    /// Each shard applies its write set and confirms; returns the confirmations' effects.
    fn apply_and_confirm(&mut self, now_ms: u64, write_sets: &[WriteSet]) -> Vec<Effect> {
        let mut out = Vec::new();
        for write_set in write_sets {
            self.shards[usize::from(write_set.shard)]
                .apply(write_set)
                .expect("an honest write set applies");
            let effects =
                self.sequencer
                    .write_set_applied(now_ms, write_set.height, write_set.shard, Ok(()));
            out.extend(self.record(effects));
        }
        out
    }

    fn crash(&mut self, now_ms: u64) -> Vec<Effect> {
        let (sequencer, effects) = Sequencer::recover(
            self.context.config.clone(),
            self.sequencer.timing,
            MempoolLimits::default(),
            &self.persisted,
            now_ms,
            99,
        )
        .expect("durable state recovers");
        self.sequencer = sequencer;
        self.record(effects)
    }

    /// Commits Alice's transfer of nonce 0 and confirms every write set (at `T0 + 110`): the
    /// mempool then knows nothing of her.
    fn commit_alices_first_transfer(&mut self) {
        let first = self.transfer(&self.alice, 0, U256::from(5u64));
        let proposal = self.propose(&[first]);
        let effects = self.certify(T0 + 100, &proposal);
        let (_, _, write_sets) = commit_of(&effects).expect("commit");
        self.apply_and_confirm(T0 + 110, &write_sets);
    }

    /// Commits Alice's transfer of nonce 0 (at `T0 + 100`, returned) while her nonce 1 waits
    /// in the mempool; returns that transfer and the commit's effects.
    fn commit_with_a_transfer_waiting(&mut self) -> (u64, VerifiedTx, Vec<Effect>) {
        let first = self.transfer(&self.alice, 0, U256::from(5u64));
        let proposal = self.propose(&[first]);
        let next = self.transfer(&self.alice, 1, U256::from(5u64));
        self.submit(T0 + 50, std::slice::from_ref(&next));
        let now = T0 + 100;
        let effects = self.certify(now, &proposal);
        (now, next, effects)
    }

    fn transfer(&self, from: &SecretKey, nonce: u64, value: U256) -> VerifiedTx {
        signed(from, nonce, BASE_FEE, self.bob, value)
    }

    /// Carol's transfers of nonces `0..count`.
    fn carols_transfers(&self, count: u64) -> Vec<VerifiedTx> {
        (0..count)
            .map(|nonce| self.transfer(&self.carol, nonce, U256::from(5u64)))
            .collect()
    }
}

/// What `pick` takes from each effect that has it, in order.
fn picked<T>(effects: &[Effect], pick: impl FnMut(&Effect) -> Option<T>) -> Vec<T> {
    effects.iter().filter_map(pick).collect()
}

fn requests(effects: &[Effect]) -> Vec<(RoundId, WitnessRequest)> {
    picked(effects, |effect| match effect {
        Effect::RequestWitness { round, request } => Some((*round, request.clone())),
        _ => None,
    })
}

fn proposal_of(effects: &[Effect]) -> Option<Proposal> {
    effects.iter().find_map(|effect| match effect {
        Effect::Propose(proposal) => Some((**proposal).clone()),
        _ => None,
    })
}

fn commit_of(effects: &[Effect]) -> Option<(CertifiedBlock, Vec<Hash>, Vec<WriteSet>)> {
    effects.iter().find_map(|effect| match effect {
        Effect::Commit {
            block,
            shard_roots,
            write_sets,
            ..
        } => Some(((**block).clone(), shard_roots.clone(), write_sets.clone())),
        _ => None,
    })
}

/// The write sets a commit records as confirmed since the commit before.
fn recorded_confirmations(effects: &[Effect]) -> Option<Vec<(u64, ShardIndex)>> {
    effects.iter().find_map(|effect| match effect {
        Effect::Commit { confirmed, .. } => Some(confirmed.clone()),
        _ => None,
    })
}

fn sent_write_sets(effects: &[Effect]) -> Vec<WriteSet> {
    picked(effects, |effect| match effect {
        Effect::SendWriteSet(write_set) => Some(write_set.clone()),
        _ => None,
    })
}

fn alarms(effects: &[Effect]) -> Vec<u64> {
    picked(effects, |effect| match effect {
        Effect::SetAlarm(at_ms) => Some(*at_ms),
        _ => None,
    })
}

fn shards_asked(effects: &[Effect]) -> Vec<ShardIndex> {
    requests(effects)
        .iter()
        .map(|(_, request)| request.shard)
        .collect()
}

#[test]
fn a_submission_to_an_idle_chain_sets_one_alarm_after_the_batch_window() {
    let mut harness = Harness::new();
    let first = harness.transfer(&harness.alice, 0, U256::from(1u64));
    let second = harness.transfer(&harness.alice, 1, U256::from(1u64));
    let (admissions, effects) = harness.submit(T0, std::slice::from_ref(&first));
    assert_eq!(admissions, vec![Admission::Accepted]);
    assert_eq!(
        effects,
        vec![
            Effect::PersistPending(vec![(first.hash(), first.to_wire())]),
            Effect::SetAlarm(T0 + WINDOW_MS)
        ]
    );
    // More work while the alarm is pending: persisted, no second alarm.
    let (_, effects) = harness.submit(T0 + 5, std::slice::from_ref(&second));
    assert_eq!(
        effects,
        vec![Effect::PersistPending(vec![(
            second.hash(),
            second.to_wire()
        )])]
    );
    // Nothing accepted: nothing to do.
    let (admissions, effects) = harness.submit(T0 + 6, &[second]);
    assert_eq!(admissions, vec![Admission::Duplicate]);
    assert!(effects.is_empty());
}

#[test]
fn a_full_block_waiting_sets_the_alarm_now() {
    // One sender may queue BLOCK_TXS_MAX transactions (SENDER_QUEUE_TXS_MAX is as large), so a
    // full block needs only one key; signing 4,096 transfers takes well under a second.
    let mut harness = Harness::new();
    let txs: Vec<VerifiedTx> = (0..BLOCK_TXS_MAX as u64)
        .map(|nonce| harness.transfer(&harness.alice, nonce, U256::from(1u64)))
        .collect();
    let (last, almost) = txs.split_last().expect("many");
    let (_, effects) = harness.submit(T0, almost);
    assert_eq!(alarms(&effects), vec![T0 + WINDOW_MS]);
    let (_, effects) = harness.submit(T0 + 3, std::slice::from_ref(last));
    assert_eq!(
        effects,
        vec![
            Effect::PersistPending(vec![(last.hash(), last.to_wire())]),
            Effect::SetAlarm(T0 + 3)
        ]
    );
}

#[test]
fn the_alarm_asks_each_touched_shard_for_a_witness_against_its_committed_root() {
    let mut harness = Harness::new();
    let tx = harness.transfer(&harness.alice, 0, U256::from(1u64));
    harness.submit(T0, &[tx]);
    let effects = harness.alarm(T0 + WINDOW_MS);
    let round = RoundId {
        height: 1,
        attempt: 0,
    };
    let request = |shard: ShardIndex, address: Address| Effect::RequestWitness {
        round,
        request: WitnessRequest {
            shard,
            expected_root: harness.genesis_roots[usize::from(shard)],
            addresses: vec![address],
        },
    };
    assert_eq!(
        effects,
        vec![
            request(0, harness.alice.address()),
            request(1, harness.bob),
            request(3, fee_recipient()),
            Effect::SetAlarm(T0 + WINDOW_MS + TIMEOUT_MS),
        ]
    );
}

#[test]
fn witness_answers_for_a_stale_round_or_an_unasked_shard_are_ignored() {
    let mut harness = Harness::new();
    let tx = harness.transfer(&harness.alice, 0, U256::from(1u64));
    harness.submit(T0, &[tx]);
    let effects = harness.alarm(T0 + WINDOW_MS);
    let (round, request) = requests(&effects)[0].clone();
    let answer = harness.witness_answer(&request);
    let stale = RoundId {
        attempt: round.attempt + 7,
        ..round
    };
    assert!(harness.feed_witness(T0 + 30, stale, 0, answer).is_empty());
    let unasked = harness.witness_answer(&WitnessRequest {
        shard: 2,
        expected_root: harness.genesis_roots[2],
        addresses: Vec::new(),
    });
    assert!(harness.feed_witness(T0 + 30, round, 2, unasked).is_empty());
    // The real answers still complete the round.
    let effects = harness.answer_all(T0 + 40, &effects);
    assert!(proposal_of(&effects).is_some());
}

#[test]
fn a_witness_error_abandons_the_attempt_and_retries_after_a_pause() {
    let mut harness = Harness::new();
    let tx = harness.transfer(&harness.alice, 0, U256::from(1u64));
    harness.submit(T0, &[tx]);
    let first = harness.alarm(T0 + WINDOW_MS);
    let asked = requests(&first);
    let effects = harness.feed_witness(T0 + 30, asked[0].0, asked[0].1.shard, Err("busy".into()));
    assert_eq!(effects, vec![Effect::SetAlarm(T0 + 30 + RESEND_MS)]);
    // The rest of the abandoned attempt is ignored.
    assert!(harness.answer_all(T0 + 40, &first).is_empty());
    let retry = harness.alarm(T0 + 30 + RESEND_MS);
    let retried = requests(&retry);
    assert_eq!(shards_asked(&retry), shards_asked(&first));
    assert!(retried.iter().all(|(round, _)| *round
        == RoundId {
            height: 1,
            attempt: 1
        }));
    assert!(proposal_of(&harness.answer_all(T0 + 600, &retry)).is_some());
}

#[test]
fn witnesses_that_time_out_restart_the_round_with_a_new_attempt() {
    let mut harness = Harness::new();
    let tx = harness.transfer(&harness.alice, 0, U256::from(1u64));
    harness.submit(T0, &[tx]);
    let start = T0 + WINDOW_MS;
    let first = harness.alarm(start);
    let asked = requests(&first);
    let answer = harness.witness_answer(&asked[0].1);
    assert!(
        harness
            .feed_witness(start + 5, asked[0].0, asked[0].1.shard, answer)
            .is_empty()
    );
    // An early alarm only re-arms the deadline.
    assert_eq!(
        harness.alarm(start + 1_000),
        vec![Effect::SetAlarm(start + TIMEOUT_MS)]
    );
    let retry = harness.alarm(start + TIMEOUT_MS);
    assert_eq!(shards_asked(&retry), vec![0, 1, 3]);
    assert!(requests(&retry).iter().all(|(round, _)| round.attempt == 1));
    assert_eq!(alarms(&retry), vec![start + 2 * TIMEOUT_MS]);
    // Late answers to the first attempt change nothing; the new attempt completes.
    assert!(
        harness
            .answer_all(start + TIMEOUT_MS + 1, &first)
            .is_empty()
    );
    assert!(proposal_of(&harness.answer_all(start + TIMEOUT_MS + 2, &retry)).is_some());
}

#[test]
fn all_witnesses_give_a_proposal_that_a_validator_accepts() {
    let mut harness = Harness::new();
    let tx = harness.transfer(&harness.alice, 0, U256::from(5u64));
    let proposal = harness.propose(std::slice::from_ref(&tx));
    let now = T0 + WINDOW_MS + 10;
    let checked = check_proposal(&harness.context, &proposal, now).expect("accepted");
    assert_eq!(checked.transactions, vec![tx.clone()]);
    assert_eq!(proposal.transactions, vec![tx.to_wire()]);
    assert_eq!(proposal.parent, harness.sequencer.head().header);
    assert_eq!(proposal.header.parent_hash, harness.context.genesis_hash);
    assert_eq!(proposal.header.height, 1);
    assert_eq!(proposal.header.timestamp_ms, now);
    assert_eq!(proposal.header.format, BlockFormat::PROPOSED);
    assert_eq!(proposal.parent_certificate, QuorumCertificate::genesis());
    assert_eq!(harness.sequencer.status().voting_height, Some(1));
    assert_eq!(harness.persisted.proposal, Some(proposal));
}

#[test]
fn votes_below_quorum_duplicates_and_invalid_votes_do_nothing_and_a_quorum_commits() {
    let mut harness = Harness::new();
    let tx = harness.transfer(&harness.alice, 0, U256::from(5u64));
    let proposal = harness.propose(std::slice::from_ref(&tx));
    let now = T0 + 100;
    let votes: Vec<Vote> = (0..4).map(|v| harness.vote(v, &proposal)).collect();
    assert!(harness.feed_vote(now, Ok(votes[0])).is_empty());
    assert!(harness.feed_vote(now, Ok(votes[0])).is_empty(), "duplicate");
    assert!(harness.feed_vote(now, Ok(votes[1])).is_empty());
    // Validator 3's signature passed off as validator 2's: invalid, and it must not take
    // validator 2's slot.
    let forged = Vote {
        validator: votes[2].validator,
        ..votes[3]
    };
    assert!(harness.feed_vote(now, Ok(forged)).is_empty());
    let elsewhere = Vote::sign(
        &harness.validators[2],
        &harness.context.config.validators,
        CHAIN_ID,
        1,
        crate::keccak256(b"another block"),
    )
    .expect("member");
    assert!(harness.feed_vote(now, Ok(elsewhere)).is_empty());
    assert!(harness.feed_vote(now, Err("refused".into())).is_empty());
    assert!(harness.sequencer.status().voting_height.is_some());
    assert_eq!(
        harness.sequencer.proposed_tx_hashes().collect::<Vec<_>>(),
        [&tx.hash()],
        "the round in progress names its transactions"
    );

    let effects = harness.feed_vote(now, Ok(votes[2]));
    let (block, shard_roots, write_sets) = commit_of(&effects).expect("a commit");
    assert!(matches!(effects[0], Effect::Commit { .. }), "commit first");
    assert_eq!(block.header, proposal.header);
    assert_eq!(block.tx_hashes(), vec![tx.hash()]);
    assert_eq!(
        harness.sequencer.proposed_tx_hashes().count(),
        0,
        "no round after the commit"
    );
    block
        .certificate
        .verify(&harness.context.config.validators, CHAIN_ID, &block.header)
        .expect("a valid certificate");
    let signers: Vec<u8> = block.certificate.votes.iter().map(|(i, _)| *i).collect();
    let mut expected: Vec<u8> = votes[..3].iter().map(|vote| vote.validator).collect();
    expected.sort_unstable();
    assert_eq!(signers, expected);
    assert_eq!(root_over_shards(&shard_roots), proposal.header.state_root);
    assert_eq!(
        shard_roots[2], harness.genesis_roots[2],
        "shard 2 untouched"
    );
    let shards: Vec<ShardIndex> = write_sets.iter().map(|set| set.shard).collect();
    assert_eq!(shards, vec![0, 1, 3]);
    assert_eq!(sent_write_sets(&effects), write_sets);
    assert_eq!(harness.sequencer.head().header, proposal.header);
    assert_eq!(harness.sequencer.shard_roots(), shard_roots);
    assert!(harness.sequencer.mempool().is_empty());
    let status = harness.sequencer.status();
    assert_eq!(status.unconfirmed_heights, vec![1]);
    assert_eq!(status.voting_height, None);
    // A late fourth vote changes nothing.
    assert!(harness.feed_vote(now, Ok(votes[3])).is_empty());
}

/// Each write set sent with a witness request, and the request.
fn applied_then_witnessed(effects: &[Effect]) -> Vec<(WriteSet, RoundId, WitnessRequest)> {
    picked(effects, |effect| match effect {
        Effect::ApplyThenWitness {
            write_set,
            round,
            request,
        } => Some((write_set.clone(), *round, request.clone())),
        _ => None,
    })
}

#[test]
fn a_commit_with_transfers_waiting_asks_their_witnesses_with_the_write_sets() {
    let mut harness = Harness::new();
    let (now, next, effects) = harness.commit_with_a_transfer_waiting();
    let (_, shard_roots, write_sets) = commit_of(&effects).expect("commit");
    // The next transfer touches the same shards (Alice's, Bob's, the fee recipient's): one
    // call each, nothing sent on its own.
    let calls = applied_then_witnessed(&effects);
    assert!(sent_write_sets(&effects).is_empty());
    assert!(requests(&effects).is_empty());
    let sent: Vec<WriteSet> = calls.iter().map(|(set, _, _)| set.clone()).collect();
    assert_eq!(sent, write_sets);
    for (write_set, round, request) in &calls {
        assert_eq!(
            *round,
            RoundId {
                height: 2,
                attempt: 1
            }
        );
        assert_eq!(request.shard, write_set.shard);
        assert_eq!(
            request.expected_root,
            shard_roots[usize::from(request.shard)],
            "asked at the root the write set leaves"
        );
    }
    assert_eq!(alarms(&effects), vec![now + RESEND_MS]);
    // Each shard applies, then proves; the last answer completes the witness and proposes.
    let mut out = Vec::new();
    for (write_set, round, request) in calls {
        let shard = write_set.shard;
        harness.shards[usize::from(shard)]
            .apply(&write_set)
            .expect("an honest write set applies");
        let witness = harness.witness_answer(&request);
        let effects = harness.sequencer.applied_then_witnessed(
            now + 5,
            (write_set.height, shard),
            Ok(()),
            round,
            witness,
        );
        out.extend(harness.record(effects));
    }
    assert!(harness.sequencer.status().unconfirmed_heights.is_empty());
    let proposal = proposal_of(&out).expect("the next proposal");
    assert_eq!(proposal.header.height, 2);
    assert_eq!(proposal.transactions, vec![next.to_wire()]);
}

#[test]
fn a_witness_that_fails_with_its_write_set_is_asked_again_once_all_is_confirmed() {
    let mut harness = Harness::new();
    let (now, _, effects) = harness.commit_with_a_transfer_waiting();
    let (_, _, write_sets) = commit_of(&effects).expect("commit");
    let (failed, round, _) = applied_then_witnessed(&effects)[0].clone();
    let error = "503 shard restarting".to_owned();
    let out = harness.sequencer.applied_then_witnessed(
        now + 5,
        (failed.height, failed.shard),
        Err(error.clone()),
        round,
        Err(error),
    );
    // The round is given up; the resend alarm the commit set (earlier than a retry's) stands.
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(harness.sequencer.status().voting_height, None);
    // The alarm resends the write sets alone; once they are confirmed the round starts
    // afresh with plain witness requests.
    let effects = harness.alarm(now + RESEND_MS);
    assert_eq!(sent_write_sets(&effects), write_sets);
    assert!(requests(&effects).is_empty());
    let effects = harness.apply_and_confirm(now + RESEND_MS + 5, &write_sets);
    let asked = requests(&effects);
    assert_eq!(asked.len(), write_sets.len());
    assert!(
        asked
            .iter()
            .all(|(round, _)| round.height == 2 && round.attempt == 2)
    );
}

#[test]
fn no_round_starts_until_every_write_set_is_confirmed() {
    let mut harness = Harness::new();
    let tx = harness.transfer(&harness.alice, 0, U256::from(5u64));
    let proposal = harness.propose(&[tx]);
    let now = T0 + 100;
    let effects = harness.certify(now, &proposal);
    let (_, shard_roots, write_sets) = commit_of(&effects).expect("commit");
    let next = harness.transfer(&harness.alice, 1, U256::from(5u64));
    let (_, effects) = harness.submit(now + 1, std::slice::from_ref(&next));
    assert_eq!(
        effects,
        vec![Effect::PersistPending(vec![(next.hash(), next.to_wire())])]
    );
    // The alarm resends the write sets and asks for no witness.
    let effects = harness.alarm(now + RESEND_MS);
    assert!(requests(&effects).is_empty());
    assert_eq!(sent_write_sets(&effects), write_sets);
    assert_eq!(alarms(&effects), vec![now + 2 * RESEND_MS]);
    // Failures, unknown heights and repeats confirm nothing.
    let at = now + 600;
    let sequencer = &mut harness.sequencer;
    assert!(
        sequencer
            .write_set_applied(at, 1, 0, Err("x".into()))
            .is_empty()
    );
    assert!(sequencer.write_set_applied(at, 7, 0, Ok(())).is_empty());
    assert!(sequencer.write_set_applied(at, 1, 2, Ok(())).is_empty());
    let effects = harness.apply_and_confirm(at, &write_sets);
    assert_eq!(
        harness.sequencer.unconfirmed_write_sets(),
        Vec::new(),
        "all confirmed"
    );
    // Confirmations write nothing themselves: the next commit records them.
    assert!(
        effects.iter().all(Effect::is_call),
        "no storage effect: {effects:?}"
    );
    // The transfer waiting since the round began goes next, at once: the last confirmation
    // starts its round (no batching window, no alarm first).
    assert!(!alarms(&effects).contains(&at), "no alarm to start it");
    assert!(
        harness
            .sequencer
            .write_set_applied(at, 1, 0, Ok(()))
            .is_empty()
    );
    let asked = requests(&effects);
    assert_eq!(asked.len(), 3);
    for (round, request) in asked {
        assert_eq!(round.height, 2);
        assert_eq!(
            request.expected_root,
            shard_roots[usize::from(request.shard)]
        );
        assert_eq!(
            request.expected_root,
            harness.shards[usize::from(request.shard)].meta().root
        );
    }
}

#[test]
fn a_vote_timeout_reproposes_the_identical_proposal_and_keeps_earlier_votes() {
    let mut harness = Harness::new();
    let tx = harness.transfer(&harness.alice, 0, U256::from(5u64));
    let proposal = harness.propose(&[tx]);
    let proposed_at = T0 + WINDOW_MS + 10;
    let early = [harness.vote(0, &proposal), harness.vote(1, &proposal)];
    for vote in early {
        assert!(harness.feed_vote(proposed_at + 1, Ok(vote)).is_empty());
    }
    let deadline = proposed_at + TIMEOUT_MS;
    let effects = harness.alarm(deadline);
    let again = proposal_of(&effects).expect("re-proposed");
    assert_eq!(again, proposal);
    assert_eq!(again.header.hash(), proposal.header.hash());
    assert_eq!(alarms(&effects), vec![deadline + TIMEOUT_MS]);
    // One more vote is enough: the first two still count.
    let third = harness.vote(2, &again);
    let effects = harness.feed_vote(deadline + 1, Ok(third));
    let (block, _, _) = commit_of(&effects).expect("commit");
    assert_eq!(block.certificate.votes.len(), 3);
}

#[test]
fn pause_stops_new_rounds_and_resume_restarts_them() {
    let mut harness = Harness::new();
    let effects = harness.sequencer.set_paused(T0, true);
    assert_eq!(harness.record(effects), vec![Effect::SetPaused(true)]);
    assert!(harness.persisted.paused);
    assert!(harness.sequencer.set_paused(T0, true).is_empty());
    let tx = harness.transfer(&harness.alice, 0, U256::from(5u64));
    let (admissions, effects) = harness.submit(T0 + 1, std::slice::from_ref(&tx));
    assert_eq!(admissions, vec![Admission::Accepted]);
    assert_eq!(
        effects,
        vec![Effect::PersistPending(vec![(tx.hash(), tx.to_wire())])]
    );
    assert!(harness.alarm(T0 + 100).is_empty());
    let effects = harness.sequencer.set_paused(T0 + 200, false);
    assert_eq!(
        harness.record(effects),
        vec![
            Effect::SetPaused(false),
            Effect::SetAlarm(T0 + 200 + WINDOW_MS)
        ]
    );
    assert!(!harness.persisted.paused);
    assert_eq!(requests(&harness.alarm(T0 + 220)).len(), 3);
}

#[test]
fn a_pause_lets_the_round_in_flight_commit_and_starts_nothing_after_it() {
    let mut harness = Harness::new();
    let tx = harness.transfer(&harness.alice, 0, U256::from(5u64));
    let proposal = harness.propose(&[tx]);
    harness.sequencer.set_paused(T0 + 50, true);
    let waiting = harness.transfer(&harness.carol, 0, U256::from(5u64));
    harness.submit(T0 + 60, &[waiting]);
    let effects = harness.certify(T0 + 70, &proposal);
    let (_, _, write_sets) = commit_of(&effects).expect("the in-flight round commits");
    let effects = harness.apply_and_confirm(T0 + 80, &write_sets);
    assert!(alarms(&effects).is_empty(), "paused: no next round");
    assert_eq!(
        harness.sequencer.set_paused(T0 + 90, false),
        vec![
            Effect::SetPaused(false),
            Effect::SetAlarm(T0 + 90 + WINDOW_MS)
        ]
    );
}

#[test]
fn recovery_mid_vote_reproposes_the_stored_proposal() {
    let mut harness = Harness::new();
    let tx = harness.transfer(&harness.alice, 0, U256::from(5u64));
    let proposal = harness.propose(std::slice::from_ref(&tx));
    let vote = harness.vote(0, &proposal);
    assert!(harness.feed_vote(T0 + 40, Ok(vote)).is_empty());
    let now = T0 + 50;
    let effects = harness.crash(now);
    assert!(sent_write_sets(&effects).is_empty());
    let again = proposal_of(&effects).expect("re-proposed");
    assert_eq!(again, proposal);
    assert!(alarms(&effects).contains(&now));
    assert!(harness.sequencer.mempool().contains(&tx.hash()));
    assert_eq!(harness.sequencer.status().voting_height, Some(1));
    // A shell that defers recovery's calls to the first alarm (the Durable Object does) gets
    // the proposal from that alarm, not a round timeout later.
    let from_alarm = harness.alarm(now);
    assert_eq!(proposal_of(&from_alarm), Some(proposal.clone()));
    // Validators that signed re-sign the same block; a quorum commits it.
    let effects = harness.certify(now + 1, &again);
    let (block, _, _) = commit_of(&effects).expect("commit");
    assert_eq!(block.header, proposal.header);
}

#[test]
fn a_proposal_of_an_older_format_stored_before_an_upgrade_is_proposed_again_and_commits_as_it_is() {
    for format in BlockFormat::ALL
        .into_iter()
        .filter(|format| *format != BlockFormat::PROPOSED)
    {
        let mut harness = Harness::new();
        let tx = harness.transfer(&harness.alice, 0, U256::from(5u64));
        let proposal = harness.propose(std::slice::from_ref(&tx));
        // The same block as a sequencer made it before this format, stored mid-vote.
        let checked =
            check_proposal(&harness.context, &proposal, proposal.header.timestamp_ms).expect("ok");
        let mut stored = proposal.clone();
        stored.header.format = format;
        stored.header.transactions_root = format.transactions_root(&[tx.hash()]);
        stored.header.receipts_root = format.receipts_root(&checked.execution.receipts);
        assert_ne!(stored.header.hash(), proposal.header.hash());
        harness.persisted.proposal = Some(stored.clone());

        let now = T0 + WINDOW_MS + 50;
        let effects = harness.crash(now);
        assert_eq!(proposal_of(&effects), Some(stored.clone()), "{format:?}");
        let effects = harness.certify(now + 1, &stored);
        let (block, _, _) = commit_of(&effects).expect("validators check it in its format");
        assert_eq!(block.header, stored.header);
        assert_eq!(block.check_consistency(), Ok(()));
    }
}

#[test]
fn recovery_resends_the_write_sets_no_commit_recorded_as_confirmed() {
    let mut harness = Harness::new();
    let tx = harness.transfer(&harness.alice, 0, U256::from(5u64));
    let proposal = harness.propose(&[tx]);
    let effects = harness.certify(T0 + 100, &proposal);
    let (block, shard_roots, write_sets) = commit_of(&effects).expect("commit");
    harness.apply_and_confirm(T0 + 110, &write_sets[..1]);
    let now = T0 + 120;
    let effects = harness.crash(now);
    // The first confirmation was not recorded yet (the next commit would have): that write
    // set is sent again with the others, and its shard answers that it has applied it.
    assert!(proposal_of(&effects).is_none());
    assert_eq!(sent_write_sets(&effects), write_sets);
    assert_eq!(alarms(&effects), vec![now]);
    assert_eq!(harness.sequencer.head().header, block.header);
    assert_eq!(harness.sequencer.head().certificate, block.certificate);
    assert_eq!(harness.sequencer.shard_roots(), shard_roots);
    assert_eq!(harness.sequencer.status().unconfirmed_heights, vec![1]);
    // Confirming them starts the next round at once, without waiting for an alarm.
    let next = harness.transfer(&harness.alice, 1, U256::from(5u64));
    harness.submit(now + 1, &[next]);
    let effects = harness.apply_and_confirm(now + 2, &write_sets);
    assert!(harness.sequencer.status().unconfirmed_heights.is_empty());
    let asked = requests(&effects);
    assert!(asked.iter().all(|(round, _)| round.height == 2));
    assert_eq!(asked.len(), 3);
    assert!(
        requests(&harness.alarm(now + 500)).is_empty(),
        "one round at a time"
    );
    // The next commit records those confirmations; after another crash only its own write
    // sets are sent again.
    let effects = harness.answer_all(now + 501, &effects);
    let proposal = proposal_of(&effects).expect("the next proposal");
    let effects = harness.certify(now + 502, &proposal);
    let confirmed: Vec<_> = write_sets.iter().map(|set| (1, set.shard)).collect();
    assert_eq!(recorded_confirmations(&effects), Some(confirmed));
    let (_, _, next_write_sets) = commit_of(&effects).expect("commit of height 2");
    assert!(harness.persisted.unconfirmed.keys().eq([&2]));
    let effects = harness.crash(now + 503);
    assert_eq!(sent_write_sets(&effects), next_write_sets);
    assert_eq!(harness.sequencer.status().unconfirmed_heights, vec![2]);
}

#[test]
fn recovery_restores_pending_transactions() {
    let mut harness = Harness::new();
    let txs = [
        harness.transfer(&harness.alice, 0, U256::from(5u64)),
        harness.transfer(&harness.alice, 1, U256::from(5u64)),
        harness.transfer(&harness.carol, 0, U256::from(5u64)),
    ];
    harness.submit(T0, &txs);
    let before: BTreeSet<Hash> = harness
        .sequencer
        .mempool()
        .candidates(10)
        .iter()
        .map(VerifiedTx::hash)
        .collect();
    let effects = harness.crash(T0 + 5);
    assert_eq!(effects, vec![Effect::SetAlarm(T0 + 5)]);
    let mempool = harness.sequencer.mempool();
    assert_eq!(mempool.len(), 3);
    for tx in &txs {
        assert_eq!(mempool.get(&tx.hash()), Some(tx));
    }
    let after: BTreeSet<Hash> = mempool
        .candidates(10)
        .iter()
        .map(VerifiedTx::hash)
        .collect();
    assert_eq!(after, before);
    assert_eq!(mempool.pending_nonce(&harness.alice.address()), Some(2));
    let effects = harness.alarm(T0 + 5);
    assert_eq!(shards_asked(&effects), vec![0, 1, 3]);
}

#[test]
fn recovery_refuses_a_wrong_shard_root_count_and_a_corrupt_pending_transaction() {
    let harness = Harness::new();
    let config = harness.context.config.clone();
    let mut persisted = harness.persisted.clone();
    persisted.shard_roots.pop();
    let result = Sequencer::recover(
        config.clone(),
        Timing::default(),
        MempoolLimits::default(),
        &persisted,
        T0,
        1,
    );
    assert!(matches!(result, Err(RecoveryError::ShardRoots)));
    let mut persisted = harness.persisted.clone();
    let mut wire = harness
        .transfer(&harness.alice, 0, U256::from(5u64))
        .to_wire();
    wire.raw.truncate(10);
    persisted.pending.insert(Hash::ZERO, wire);
    let result = Sequencer::recover(
        config,
        Timing::default(),
        MempoolLimits::default(),
        &persisted,
        T0,
        1,
    );
    assert!(
        matches!(result, Err(RecoveryError::PendingTransaction { hash, .. }) if hash == Hash::ZERO)
    );
}

#[test]
fn recovery_refuses_shard_roots_that_do_not_give_the_head_state_root() {
    let harness = Harness::new();
    let mut persisted = harness.persisted.clone();
    persisted.shard_roots[1] = Hash([0xab; 32]);
    let result = Sequencer::recover(
        harness.context.config.clone(),
        Timing::default(),
        MempoolLimits::default(),
        &persisted,
        T0,
        1,
    );
    assert!(
        matches!(result, Err(RecoveryError::StateRoot { expected, .. }) if expected == persisted.head.header.state_root)
    );
}

#[test]
fn a_new_sequencer_refuses_a_header_other_than_genesis_and_inconsistent_roots() {
    let harness = Harness::new();
    let config = harness.context.config.clone();
    let genesis = harness.persisted.head.header;
    let start = |header: Header, roots: Vec<Hash>| {
        Sequencer::new(
            config.clone(),
            Timing::default(),
            MempoolLimits::default(),
            header,
            roots,
            7,
        )
        .map(|sequencer| sequencer.head().header.height)
    };
    assert_eq!(start(genesis, harness.genesis_roots.clone()), Ok(0));
    let later = Header {
        height: 3,
        ..genesis
    };
    assert_eq!(
        start(later, harness.genesis_roots.clone()),
        Err(RecoveryError::NotGenesis { height: 3 })
    );
    let mut fewer = harness.genesis_roots.clone();
    fewer.pop();
    assert_eq!(start(genesis, fewer), Err(RecoveryError::ShardRoots));
    let mut wrong = harness.genesis_roots.clone();
    wrong[0] = Hash([1; 32]);
    assert!(matches!(
        start(genesis, wrong),
        Err(RecoveryError::StateRoot { .. })
    ));
}

#[test]
fn persisted_records_the_storage_meaning_of_every_effect() {
    let mut harness = Harness::new();
    let a0 = harness.transfer(&harness.alice, 0, U256::from(5u64));
    let c0 = harness.transfer(&harness.carol, 0, U256::from(5u64));
    harness.submit(T0, &[a0.clone(), c0.clone()]);
    assert_eq!(
        harness.persisted.pending,
        BTreeMap::from([(a0.hash(), a0.to_wire()), (c0.hash(), c0.to_wire())])
    );
    let effects = harness.alarm(T0 + WINDOW_MS);
    let effects = harness.answer_all(T0 + WINDOW_MS, &effects);
    let proposal = proposal_of(&effects).expect("proposal");
    assert_eq!(harness.persisted.proposal.as_ref(), Some(&proposal));
    // Arrives after the proposal: stays pending through the commit.
    let a1 = harness.transfer(&harness.alice, 1, U256::from(5u64));
    harness.submit(T0 + 40, std::slice::from_ref(&a1));
    let effects = harness.certify(T0 + 50, &proposal);
    let (block, shard_roots, write_sets) = commit_of(&effects).expect("commit");
    assert_eq!(block.tx_hashes().len(), 2);
    let persisted = harness.persisted.clone();
    assert_eq!(
        persisted.pending,
        BTreeMap::from([(a1.hash(), a1.to_wire())])
    );
    assert_eq!(persisted.head.header, block.header);
    assert_eq!(persisted.head.certificate, block.certificate);
    assert_eq!(persisted.shard_roots, shard_roots);
    assert_eq!(persisted.proposal, None);
    let by_shard: BTreeMap<ShardIndex, WriteSet> = write_sets
        .iter()
        .map(|set| (set.shard, set.clone()))
        .collect();
    assert_eq!(persisted.unconfirmed, BTreeMap::from([(1, by_shard)]));

    // Effects with no storage meaning change nothing.
    let mut copy = persisted.clone();
    copy.record(&Effect::SetAlarm(5));
    copy.record(&Effect::SendWriteSet(write_sets[0].clone()));
    copy.record(&Effect::RequestWitness {
        round: RoundId {
            height: 2,
            attempt: 0,
        },
        request: WitnessRequest {
            shard: 0,
            expected_root: Hash::ZERO,
            addresses: Vec::new(),
        },
    });
    assert_eq!(copy, persisted);

    // A later commit (here one that wrote nothing new) records the confirmations since the
    // one before; a height or shard that is not unconfirmed is passed over.
    let recording = |confirmed: Vec<(u64, ShardIndex)>| Effect::Commit {
        block: Box::new(block.clone()),
        shard_roots: shard_roots.clone(),
        write_sets: Vec::new(),
        confirmed,
    };
    copy.record(&recording(vec![(9, 0), (1, 2), (1, 0)]));
    let remaining: Vec<ShardIndex> = copy.unconfirmed[&1].keys().copied().collect();
    assert_eq!(remaining, vec![1, 3]);
    copy.record(&recording(vec![(1, 1), (1, 3)]));
    assert!(copy.unconfirmed.is_empty());
    copy.record(&Effect::SetPaused(true));
    assert!(copy.paused);
    copy.record(&Effect::DropPending(vec![(
        a1.hash(),
        Exclusion::NonceTooLow {
            expected: 2,
            got: 1,
        },
    )]));
    assert!(copy.pending.is_empty());
}

#[test]
fn a_committed_transaction_submitted_again_is_a_duplicate() {
    let mut harness = Harness::new();
    let tx = harness.transfer(&harness.alice, 0, U256::from(5u64));
    let hash = tx.hash();
    let (admissions, effects) = harness
        .sequencer
        .submit(T0, vec![tx], |candidate| *candidate == hash);
    assert_eq!(admissions, vec![Admission::Duplicate]);
    assert!(effects.is_empty());
    assert!(harness.sequencer.mempool().is_empty());
}

#[test]
fn only_transfers_below_a_known_committed_nonce_need_the_committed_index() {
    let mut harness = Harness::new();
    // Alice's nonce 0 commits while her nonce 1 waits: the commit tells the mempool that her
    // next nonce is 1. Nothing is known of Carol.
    let (now, waiting, _) = harness.commit_with_a_transfer_waiting();
    let replayed = harness.transfer(&harness.alice, 0, U256::from(5u64));
    let ahead = harness.transfer(&harness.alice, 2, U256::from(5u64));
    let carols = harness.transfer(&harness.carol, 0, U256::from(5u64));
    let batch = vec![replayed.clone(), ahead.clone(), waiting, carols.clone()];
    assert_eq!(
        harness.sequencer.possibly_committed(&batch),
        vec![replayed.hash(), carols.hash()]
    );
    // `submit` asks about those alone, and the replay is a duplicate.
    let asked = std::cell::RefCell::new(Vec::new());
    let (admissions, _) = harness.sequencer.submit(now + 1, batch, |hash| {
        asked.borrow_mut().push(*hash);
        *hash == replayed.hash()
    });
    assert_eq!(asked.into_inner(), vec![replayed.hash(), carols.hash()]);
    assert_eq!(
        admissions,
        vec![
            Admission::Duplicate,
            Admission::Accepted,
            Admission::Duplicate,
            Admission::Accepted
        ]
    );
    assert!(harness.sequencer.mempool().contains(&ahead.hash()));
}

#[test]
fn a_transfer_its_sender_cannot_pay_is_dropped_with_the_cost() {
    let mut harness = Harness::new();
    let good = harness.transfer(&harness.alice, 0, U256::from(5u64));
    let value = balance() + U256::from(1u64);
    let broke = harness.transfer(&harness.carol, 0, value);
    harness.submit(T0, &[good.clone(), broke.clone()]);
    let effects = harness.alarm(T0 + WINDOW_MS);
    let effects = harness.answer_all(T0 + WINDOW_MS, &effects);
    let cost = U256::from(21_000u64) * U256::from(BASE_FEE) + value;
    assert!(effects.contains(&Effect::DropPending(vec![(
        broke.hash(),
        Exclusion::InsufficientFunds {
            balance: balance(),
            cost
        }
    )])));
    let proposal = proposal_of(&effects).expect("the payable one is proposed");
    assert_eq!(proposal.transactions, vec![good.to_wire()]);
    assert!(!harness.sequencer.mempool().contains(&broke.hash()));
    assert!(!harness.persisted.pending.contains_key(&broke.hash()));
}

#[test]
fn a_transfer_with_a_used_nonce_is_dropped_as_nonce_too_low() {
    let mut harness = Harness::new();
    harness.commit_alices_first_transfer();
    // The mempool forgot Alice's nonce (she had nothing pending), so this is admitted...
    let replay = harness.transfer(&harness.alice, 0, U256::from(6u64));
    let (admissions, _) = harness.submit(T0 + 120, std::slice::from_ref(&replay));
    assert_eq!(admissions, vec![Admission::Accepted]);
    // ...and dropped once the witness shows her account nonce.
    let effects = harness.alarm(T0 + 120 + WINDOW_MS);
    let effects = harness.answer_all(T0 + 150, &effects);
    assert_eq!(
        effects,
        vec![Effect::DropPending(vec![(
            replay.hash(),
            Exclusion::NonceTooLow {
                expected: 1,
                got: 0
            }
        )])]
    );
    assert!(harness.sequencer.mempool().is_empty());
    assert!(harness.persisted.pending.is_empty());
}

#[test]
fn a_transfer_waiting_for_an_earlier_nonce_is_kept_and_schedules_nothing() {
    let mut harness = Harness::new();
    let ahead = harness.transfer(&harness.alice, 3, U256::from(5u64));
    harness.submit(T0, std::slice::from_ref(&ahead));
    let effects = harness.alarm(T0 + WINDOW_MS);
    let effects = harness.answer_all(T0 + WINDOW_MS, &effects);
    assert!(effects.is_empty(), "{effects:?}");
    assert!(harness.sequencer.mempool().contains(&ahead.hash()));
    assert_eq!(
        harness
            .sequencer
            .mempool()
            .pending_nonce(&harness.alice.address()),
        Some(0)
    );
}

#[test]
fn a_used_nonce_admitted_after_a_restart_mid_vote_is_dropped_at_the_commit() {
    let mut harness = Harness::new();
    harness.commit_alices_first_transfer();
    let second = harness.transfer(&harness.alice, 1, U256::from(5u64));
    harness.submit(T0 + 120, std::slice::from_ref(&second));
    let effects = harness.alarm(T0 + 120 + WINDOW_MS);
    let effects = harness.answer_all(T0 + 150, &effects);
    let proposal = proposal_of(&effects).expect("a proposal of nonce 1");
    // A restart mid-vote forgets Alice's nonce, so a second spend of nonce 0 is admitted...
    harness.crash(T0 + 160);
    let replay = harness.transfer(&harness.alice, 0, U256::from(6u64));
    let (admissions, _) = harness.submit(T0 + 170, std::slice::from_ref(&replay));
    assert_eq!(admissions, vec![Admission::Accepted]);
    // ...and the commit of nonce 1, which leaves it no chance, drops it with the reason.
    let effects = harness.certify(T0 + 180, &proposal);
    assert!(commit_of(&effects).is_some());
    assert!(effects.contains(&Effect::DropPending(vec![(
        replay.hash(),
        Exclusion::NonceTooLow {
            expected: 2,
            got: 0
        }
    )])));
    assert!(!harness.sequencer.mempool().contains(&replay.hash()));
    assert!(
        harness.persisted.pending.is_empty(),
        "nothing stays pending for good"
    );
}

#[test]
fn recovery_effects_split_into_storage_and_the_calls_an_alarm_makes_again() {
    let mut harness = Harness::new();
    let tx = harness.transfer(&harness.alice, 0, U256::from(5u64));
    let proposal = harness.propose(std::slice::from_ref(&tx));
    let effects = harness.crash(T0 + 50);
    let calls: Vec<&Effect> = effects.iter().filter(|effect| effect.is_call()).collect();
    assert!(
        calls
            .iter()
            .any(|effect| matches!(effect, Effect::Propose(p) if **p == proposal))
    );
    assert!(
        calls
            .iter()
            .any(|effect| matches!(effect, Effect::SetAlarm(_)))
    );
    assert!(!Effect::SetPaused(true).is_call());
    assert!(!Effect::PersistPending(Vec::new()).is_call());
}

/// Proposes Alice's nonce 0 while her nonce 1 and Carol's nonce 0 arrive during the round:
/// returns the proposal and the effects of the last witness answer (the proposal's).
fn propose_with_more_waiting(harness: &mut Harness) -> (Proposal, Vec<Effect>, Vec<VerifiedTx>) {
    let first = harness.transfer(&harness.alice, 0, U256::from(5u64));
    let later = vec![
        harness.transfer(&harness.alice, 1, U256::from(6u64)),
        harness.transfer(&harness.carol, 0, U256::from(7u64)),
    ];
    harness.submit(T0, std::slice::from_ref(&first));
    let effects = harness.alarm(T0 + WINDOW_MS);
    harness.submit(T0 + WINDOW_MS + 5, &later);
    let effects = harness.answer_all(T0 + WINDOW_MS + 10, &effects);
    let proposal = proposal_of(&effects).expect("a proposal");
    assert_eq!(proposal.transactions, vec![first.to_wire()]);
    (proposal, effects, later)
}

#[test]
fn the_next_block_is_built_while_its_parent_is_voted_on_and_proposed_at_its_commit() {
    let mut harness = Harness::new();
    let (first, effects, later) = propose_with_more_waiting(&mut harness);
    // With the proposal out, the next block's witnesses are asked at the committed roots.
    let ahead = requests(&effects);
    assert!(!ahead.is_empty());
    for (round, request) in &ahead {
        assert_eq!(round.height, 2);
        assert_eq!(
            request.expected_root,
            harness.genesis_roots[usize::from(request.shard)]
        );
    }
    let built = harness.answer_all(T0 + WINDOW_MS + 20, &effects);
    assert!(
        proposal_of(&built).is_none(),
        "held until its parent commits"
    );
    // The commit proposes it at once, before any shard has applied the parent.
    let now = T0 + 100;
    let effects = harness.certify(now, &first);
    let (block, _, write_sets) = commit_of(&effects).expect("a commit");
    let second = proposal_of(&effects).expect("the block built ahead, proposed");
    assert_eq!(second.header.height, 2);
    assert_eq!(second.header.parent_hash, block.header.hash());
    assert_eq!(second.parent_certificate, block.certificate);
    let mut included = second.transactions.clone();
    included.sort_by_key(|tx| tx.raw.clone());
    let mut expected: Vec<WireTx> = later.iter().map(VerifiedTx::to_wire).collect();
    expected.sort_by_key(|tx| tx.raw.clone());
    assert_eq!(included, expected);
    assert_eq!(harness.sequencer.status().voting_height, Some(2));
    assert_eq!(harness.sequencer.status().blocks_proposed_ahead, 1);
    // Validators accept it (its witness is proven against block 1's state root), and it
    // commits on top: every write set applies, in order, to the shards.
    harness.apply_and_confirm(now + 5, &write_sets);
    let effects = harness.certify(now + 50, &second);
    let (block, shard_roots, write_sets) = commit_of(&effects).expect("the second commit");
    assert_eq!(block.header.height, 2);
    harness.apply_and_confirm(now + 55, &write_sets);
    for (index, shard) in harness.shards.iter().enumerate() {
        assert_eq!(shard.meta().root, shard_roots[index], "shard {index}");
    }
    assert!(harness.sequencer.mempool().is_empty());
}

/// Builds block 2 while block 1 is voted on, then brings block 1 to a quorum without
/// recording anything: returns block 1's proposal and the effects of its last vote.
fn certify_with_a_block_built_ahead(harness: &mut Harness, now_ms: u64) -> (Proposal, Vec<Effect>) {
    let (first, effects, _) = propose_with_more_waiting(harness);
    harness.answer_all(T0 + WINDOW_MS + 20, &effects);
    for validator in 0..2 {
        let vote = harness.vote(validator, &first);
        assert!(harness.feed_vote(now_ms, Ok(vote)).is_empty());
    }
    let vote = harness.vote(2, &first);
    (first, harness.sequencer.vote_received(now_ms, Ok(vote)))
}

#[test]
fn a_block_built_ahead_is_proposed_before_its_parents_commit() {
    let mut harness = Harness::new();
    let (_, effects) = certify_with_a_block_built_ahead(&mut harness, T0 + 100);
    let position = |wanted: fn(&Effect) -> bool| effects.iter().position(wanted);
    let propose_at = position(|effect| matches!(effect, Effect::Propose(_)));
    let commit_at = position(|effect| matches!(effect, Effect::Commit { .. }));
    assert!(propose_at.expect("proposed") < commit_at.expect("committed"));
}

#[test]
fn a_restart_between_the_next_proposal_and_its_parents_commit_finishes_that_commit() {
    let mut harness = Harness::new();
    let now = T0 + 100;
    let (first, effects) = certify_with_a_block_built_ahead(&mut harness, now);
    let (expected_block, expected_roots, expected_write_sets) =
        commit_of(&effects).expect("a commit");
    let second = proposal_of(&effects).expect("the block built ahead");
    // Storage gets the next proposal and nothing after it: the restart comes first.
    for effect in effects
        .iter()
        .take_while(|effect| !matches!(effect, Effect::Commit { .. }))
    {
        harness.persisted.record(effect);
    }
    assert_eq!(harness.persisted.head.header.height, 0);
    assert_eq!(harness.persisted.certified_proposal.as_ref(), Some(&first));
    assert_eq!(harness.persisted.proposal.as_ref(), Some(&second));
    let effects = harness.crash(now + 1);
    // Block 1 commits as the lost effect would have, from block 2's certificate of it.
    let (block, shard_roots, write_sets) = commit_of(&effects).expect("the commit, finished");
    assert_eq!(block, expected_block);
    assert_eq!(shard_roots, expected_roots);
    assert_eq!(write_sets, expected_write_sets);
    assert_eq!(sent_write_sets(&effects), expected_write_sets);
    assert_eq!(harness.persisted.head.header, expected_block.header);
    assert_eq!(harness.persisted.certified_proposal, None);
    // Block 2 is voted on again, unchanged, and commits on top.
    assert_eq!(proposal_of(&effects), Some(second.clone()));
    assert_eq!(harness.persisted.proposal.as_ref(), Some(&second));
    harness.apply_and_confirm(now + 5, &write_sets);
    let effects = harness.certify(now + 50, &second);
    let (block, shard_roots, write_sets) = commit_of(&effects).expect("block 2's commit");
    assert_eq!(block.header, second.header);
    harness.apply_and_confirm(now + 55, &write_sets);
    for (index, shard) in harness.shards.iter().enumerate() {
        assert_eq!(shard.meta().root, shard_roots[index], "shard {index}");
    }
    assert!(harness.sequencer.mempool().is_empty());
    assert_eq!(harness.persisted.proposal, None);
}

#[test]
fn stored_proposals_read_back_in_any_order_sort_into_the_proposal_and_the_one_it_certifies() {
    let mut harness = Harness::new();
    let (first, effects) = certify_with_a_block_built_ahead(&mut harness, T0 + 100);
    let second = proposal_of(&effects).expect("the block built ahead");
    // An earlier attempt at height 1 that a store kept: not what the newest is built on.
    let mut stale = first.clone();
    stale.header.timestamp_ms += 1;
    let sorted =
        Persisted::sort_stored_proposals(vec![second.clone(), stale.clone(), first.clone()]);
    assert_eq!(sorted, (Some(second.clone()), Some(first.clone())));
    let sorted = Persisted::sort_stored_proposals(vec![stale, second.clone()]);
    assert_eq!(sorted, (Some(second), None));
    assert_eq!(
        Persisted::sort_stored_proposals(vec![first.clone()]),
        (Some(first), None)
    );
    assert_eq!(Persisted::sort_stored_proposals(Vec::new()), (None, None));
}

#[test]
fn a_stored_certificate_that_does_not_verify_commits_nothing_and_its_block_is_voted_on_again() {
    let mut harness = Harness::new();
    let (first, effects) = certify_with_a_block_built_ahead(&mut harness, T0 + 100);
    for effect in effects
        .iter()
        .take_while(|effect| !matches!(effect, Effect::Commit { .. }))
    {
        harness.persisted.record(effect);
    }
    let stored = harness
        .persisted
        .proposal
        .as_mut()
        .expect("block 2's proposal");
    stored.parent_certificate.votes.pop();
    let effects = harness.crash(T0 + 101);
    assert!(commit_of(&effects).is_none());
    assert_eq!(proposal_of(&effects), Some(first));
    assert_eq!(harness.sequencer.status().voting_height, Some(1));
}

#[test]
fn a_block_that_could_not_be_built_ahead_waits_for_its_parent_commit() {
    let mut harness = Harness::new();
    let (first, effects, later) = propose_with_more_waiting(&mut harness);
    let (round, request) = requests(&effects)[0].clone();
    // A shard fails the witness: building ahead is given up, nothing else changes.
    let failed = harness.feed_witness(T0 + 30, round, request.shard, Err("down".into()));
    assert!(failed.is_empty());
    let late = harness.answer_all(T0 + 40, &effects);
    assert!(
        late.is_empty(),
        "answers to the abandoned attempt are ignored"
    );
    // The commit then opens the next round as it always did: its witnesses ride on the
    // write sets, and the block is proposed once they are in.
    let effects = harness.certify(T0 + 100, &first);
    assert!(proposal_of(&effects).is_none());
    let calls = applied_then_witnessed(&effects);
    assert!(!calls.is_empty());
    let mut out = Vec::new();
    for (write_set, round, request) in calls {
        harness.shards[usize::from(write_set.shard)]
            .apply(&write_set)
            .expect("applies");
        let witness = harness.witness_answer(&request);
        let effects = harness.sequencer.applied_then_witnessed(
            T0 + 110,
            (write_set.height, write_set.shard),
            Ok(()),
            round,
            witness,
        );
        out.extend(harness.record(effects));
    }
    let out = [out.clone(), harness.answer_all(T0 + 110, &out)].concat();
    let second = proposal_of(&out).expect("the next proposal");
    assert_eq!(second.transactions.len(), later.len());
    assert_eq!(harness.sequencer.status().blocks_proposed_ahead, 0);
}

#[test]
fn a_block_built_ahead_is_not_proposed_once_production_is_paused() {
    let mut harness = Harness::new();
    let (first, effects, _) = propose_with_more_waiting(&mut harness);
    harness.answer_all(T0 + WINDOW_MS + 20, &effects);
    let paused = harness.sequencer.set_paused(T0 + 50, true);
    harness.record(paused);
    let effects = harness.certify(T0 + 100, &first);
    assert!(
        commit_of(&effects).is_some(),
        "the proposal in flight completes"
    );
    assert!(proposal_of(&effects).is_none());
    assert_eq!(harness.sequencer.status().voting_height, None);
    assert!(requests(&effects).is_empty());
    assert!(applied_then_witnessed(&effects).is_empty());
}

/// A harness whose mempool holds `txs_max`, with Alice's transfer of nonce 2 waiting in it
/// behind her missing 0 and 1: a round (proposing nothing) taught the `Sequencer` her nonce.
fn a_mempool_with_alices_transfer_waiting(txs_max: usize) -> (Harness, VerifiedTx) {
    let limits = MempoolLimits {
        txs_max,
        sender_txs_max: 16,
    };
    let mut harness = Harness::with_mempool(limits);
    let waiting = harness.transfer(&harness.alice, 2, U256::from(5u64));
    let (admissions, _) = harness.submit(T0, std::slice::from_ref(&waiting));
    assert_eq!(admissions, vec![Admission::Accepted]);
    let effects = harness.alarm(T0 + WINDOW_MS);
    let effects = harness.answer_all(T0 + WINDOW_MS + 10, &effects);
    assert!(proposal_of(&effects).is_none(), "nothing can go yet");
    assert!(harness.persisted.pending.contains_key(&waiting.hash()));
    (harness, waiting)
}

fn dropped(effects: &[Effect]) -> Vec<(Hash, Exclusion)> {
    picked(effects, |effect| match effect {
        Effect::DropPending(dropped) => Some(dropped.clone()),
        _ => None,
    })
    .concat()
}

/// `effects` dropped `waiting` as evicted, and storage holds `stored` but not it.
fn assert_dropped_as_evicted_for(
    harness: &Harness,
    effects: &[Effect],
    waiting: &VerifiedTx,
    stored: &[VerifiedTx],
) {
    assert_eq!(dropped(effects), vec![(waiting.hash(), Exclusion::Evicted)]);
    let pending = &harness.persisted.pending;
    assert!(!pending.contains_key(&waiting.hash()));
    assert!(stored.iter().all(|tx| pending.contains_key(&tx.hash())));
}

#[test]
fn a_full_mempool_drops_a_transfer_waiting_behind_a_gap_for_one_that_can_go() {
    let (mut harness, waiting) = a_mempool_with_alices_transfer_waiting(3);
    let carols = harness.carols_transfers(3);
    let (admissions, effects) = harness.submit(T0 + 100, &carols[..2]);
    assert_eq!(admissions, vec![Admission::Accepted; 2]);
    assert!(dropped(&effects).is_empty());
    // The pool is full: Carol's next transfer takes the waiting one's place.
    let (admissions, effects) = harness.submit(T0 + 110, &carols[2..]);
    assert_eq!(admissions, vec![Admission::Accepted]);
    assert_dropped_as_evicted_for(&harness, &effects, &waiting, &carols);
    // Alice's nonce 0 could go too, but nothing waits any more: the pool refuses it.
    let alices_next = harness.transfer(&harness.alice, 0, U256::from(5u64));
    let (admissions, effects) = harness.submit(T0 + 120, &[alices_next]);
    assert_eq!(
        admissions,
        vec![Admission::Rejected(AdmissionRejection::MempoolFull {
            limit: 3
        })]
    );
    assert!(effects.is_empty());
}

#[test]
fn a_transfer_evicted_by_its_own_batch_is_refused_and_never_stored() {
    let (mut harness, waiting) = a_mempool_with_alices_transfer_waiting(3);
    // One place left: Alice's nonce 3 (waiting too) takes it, then Carol's two need one.
    let alices = harness.transfer(&harness.alice, 3, U256::from(5u64));
    let carols = harness.carols_transfers(2);
    let batch = [alices.clone(), carols[0].clone(), carols[1].clone()];
    let (admissions, effects) = harness.submit(T0 + 100, &batch);
    // Carol's first fills the pool; her second evicts Alice's highest waiting nonce: the 3
    // this batch admitted, which is refused as if the pool had been full.
    assert_eq!(
        admissions,
        vec![
            Admission::Rejected(AdmissionRejection::MempoolFull { limit: 3 }),
            Admission::Accepted,
            Admission::Accepted,
        ]
    );
    assert!(dropped(&effects).is_empty());
    let pending = &harness.persisted.pending;
    assert!(!pending.contains_key(&alices.hash()));
    assert!(pending.contains_key(&waiting.hash()));
    assert!(carols.iter().all(|tx| pending.contains_key(&tx.hash())));
    assert_eq!(pending.len(), 3);
}

#[test]
fn a_transfer_called_a_duplicate_and_then_evicted_in_one_batch_hears_the_pool_is_full() {
    let (mut harness, waiting) = a_mempool_with_alices_transfer_waiting(3);
    let carols = harness.carols_transfers(3);
    harness.submit(T0 + 100, &carols[..2]);
    // Alice's waiting transfer sent again is pending, then Carol's next evicts it: its
    // answer follows where it ended up, and its stored copy is dropped.
    let (admissions, effects) = harness.submit(T0 + 110, &[waiting.clone(), carols[2].clone()]);
    assert_eq!(
        admissions,
        vec![
            Admission::Rejected(AdmissionRejection::MempoolFull { limit: 3 }),
            Admission::Accepted,
        ]
    );
    assert_dropped_as_evicted_for(&harness, &effects, &waiting, &carols);
}
