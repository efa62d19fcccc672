//! The validators: honest ones check every proposal, ask their guard (durable, so it survives
//! outages) and sign; Byzantine ones ignore their guard and answer with whatever their
//! behaviour dictates. Every Byzantine validator that signs another block signs the same one,
//! so together they come as close to a conflicting certificate as they can.

use ledger::block::Header;
use ledger::codec;
use ledger::consensus::{Guard, Vote};
use ledger::proposal::{ChainContext, Proposal, ProposalError, vote_on_proposal};
use ledger::random::SplitMix64;
use ledger::signature::SecretKey;

use crate::report::{Invariant, Violation};
use crate::scenario::Behaviour;

/// Votes a Byzantine validator keeps for replaying later.
const REPLAYABLE_MAX: usize = 64;
/// Largest clock offset of a validator from the simulated time.
const CLOCK_SKEW_MS_MAX: u64 = 1_000;

/// What a validator sends in answer to a proposal.
#[derive(Debug)]
pub(crate) enum Reply {
    /// To the sequencer: the bytes of a vote, or a refusal.
    Vote(Result<Vec<u8>, String>),
    /// To another validator: a proposal of the sender's making.
    Inject(usize, Box<Proposal>),
}

/// Every validator, by index in the validator set.
pub(crate) struct Validators {
    keys: Vec<SecretKey>,
    behaviours: Vec<Behaviour>,
    guards: Vec<Guard>,
    skew_ms: Vec<i64>,
    down_until_ms: Vec<u64>,
    replayable: Vec<Vote>,
    /// Votes and vote-shaped garbage sent by Byzantine validators.
    pub(crate) byzantine_votes: u64,
    /// Alternative proposals sent to honest validators.
    pub(crate) injected: u64,
    /// Outages of honest validators.
    pub(crate) outages: u64,
}

impl Validators {
    /// Validators holding `keys` (in set order) and behaving as `behaviours` says.
    pub(crate) fn new(
        keys: Vec<SecretKey>,
        behaviours: Vec<Behaviour>,
        random: &mut SplitMix64,
    ) -> Self {
        let count = keys.len();
        let skew_ms = (0..count)
            .map(|_| random.below(2 * CLOCK_SKEW_MS_MAX + 1) as i64 - CLOCK_SKEW_MS_MAX as i64)
            .collect();
        Self {
            keys,
            behaviours,
            guards: vec![Guard::new(); count],
            skew_ms,
            down_until_ms: vec![0; count],
            replayable: Vec::new(),
            byzantine_votes: 0,
            injected: 0,
            outages: 0,
        }
    }

    /// Validators in the set.
    pub(crate) fn count(&self) -> usize {
        self.keys.len()
    }

    /// Whether validator `index` is down at `now_ms` (its inbound messages are lost).
    pub(crate) fn is_down(&self, index: usize, now_ms: u64) -> bool {
        now_ms < self.down_until_ms[index]
    }

    /// Takes a random honest validator down for up to `duration_ms_max`.
    pub(crate) fn take_one_down(
        &mut self,
        random: &mut SplitMix64,
        now_ms: u64,
        duration_ms_max: u64,
    ) {
        let index = random.below(self.count() as u64) as usize;
        if self.behaviours[index] == Behaviour::Honest && !self.is_down(index, now_ms) {
            self.down_until_ms[index] = now_ms + 1 + random.below(duration_ms_max);
            self.outages += 1;
        }
    }

    /// Every validator is up from now on.
    pub(crate) fn heal(&mut self) {
        self.down_until_ms.fill(0);
    }

    /// Validator `index` received `proposal` at `now_ms`.
    pub(crate) fn on_proposal(
        &mut self,
        context: &ChainContext,
        index: usize,
        proposal: &Proposal,
        now_ms: u64,
        random: &mut SplitMix64,
    ) -> Result<Vec<Reply>, Violation> {
        match self.behaviours[index] {
            Behaviour::Honest => Ok(vec![self.honest(context, index, proposal, now_ms)?]),
            behaviour => {
                let replies = self.byzantine(behaviour, context, index, proposal, random);
                self.byzantine_votes += replies
                    .iter()
                    .filter(|reply| matches!(reply, Reply::Vote(_)))
                    .count() as u64;
                Ok(replies)
            }
        }
    }

    /// The honest path: every check, the guard, then the signature. The guard goes through
    /// its storage encoding, as the Guard object stores it before the vote is released.
    fn honest(
        &mut self,
        context: &ChainContext,
        index: usize,
        proposal: &Proposal,
        now_ms: u64,
    ) -> Result<Reply, Violation> {
        let clock_ms = now_ms.saturating_add_signed(self.skew_ms[index]);
        match vote_on_proposal(
            context,
            &self.keys[index],
            &self.guards[index],
            proposal,
            clock_ms,
        ) {
            Ok((vote, guard)) => {
                let stored = codec::encode(&guard);
                self.guards[index] = codec::decode(&stored, 256).expect("a guard reads back");
                Ok(Reply::Vote(Ok(codec::encode(&vote))))
            }
            Err(ProposalError::Guard(error)) => {
                Ok(Reply::Vote(Err(format!("409 guard_refused: {error}"))))
            }
            Err(error) => Err(Violation {
                invariant: Invariant::HonestRefusal,
                detail: format!(
                    "validator {index} refused the proposal at height {}: {error}",
                    proposal.header.height
                ),
            }),
        }
    }

    fn byzantine(
        &mut self,
        behaviour: Behaviour,
        context: &ChainContext,
        index: usize,
        proposal: &Proposal,
        random: &mut SplitMix64,
    ) -> Vec<Reply> {
        let header = proposal.header;
        let other = alternative(&header);
        match behaviour {
            Behaviour::Honest | Behaviour::Silent => Vec::new(),
            Behaviour::Garbage => (0..1 + random.below(2))
                .map(|_| Reply::Vote(Ok(self.garbage(context, index, &header, random))))
                .collect(),
            Behaviour::OtherBlock => vec![self.sign(context, index, &other)],
            Behaviour::Equivocate => vec![
                self.sign(context, index, &header),
                self.sign(context, index, &other),
            ],
            Behaviour::Chaotic => {
                let drawn = *random.pick(&[
                    Behaviour::Silent,
                    Behaviour::Garbage,
                    Behaviour::OtherBlock,
                    Behaviour::Equivocate,
                ]);
                self.byzantine(drawn, context, index, proposal, random)
            }
            Behaviour::Injector => {
                let mut replies =
                    self.byzantine(Behaviour::Equivocate, context, index, proposal, random);
                for target in 0..self.count() {
                    if self.behaviours[target] == Behaviour::Honest {
                        let injected = Proposal {
                            header: other,
                            ..proposal.clone()
                        };
                        replies.push(Reply::Inject(target, Box::new(injected)));
                        self.injected += 1;
                    }
                }
                replies
            }
        }
    }

    /// A valid signature by validator `index` on `header`, kept for replays.
    fn sign(&mut self, context: &ChainContext, index: usize, header: &Header) -> Reply {
        let vote = self.vote(context, index, header.height, header.hash());
        if self.replayable.len() < REPLAYABLE_MAX {
            self.replayable.push(vote);
        }
        Reply::Vote(Ok(codec::encode(&vote)))
    }

    fn vote(&self, context: &ChainContext, index: usize, height: u64, hash: ledger::Hash) -> Vote {
        let config = &context.config;
        Vote::sign(
            &self.keys[index],
            &config.validators,
            config.chain_id,
            height,
            hash,
        )
        .expect("a member signs")
    }

    /// Vote-shaped garbage: noise, a truncated vote, a broken signature, another member's
    /// index, a replayed old vote, a vote for another chain, an index outside the set.
    fn garbage(
        &self,
        context: &ChainContext,
        index: usize,
        header: &Header,
        random: &mut SplitMix64,
    ) -> Vec<u8> {
        let own = self.vote(context, index, header.height, header.hash());
        match random.below(7) {
            0 => (0..random.below(100))
                .map(|_| random.next_u64() as u8)
                .collect(),
            1 => {
                let mut bytes = codec::encode(&own);
                bytes.truncate(random.below(bytes.len() as u64) as usize);
                bytes
            }
            2 => {
                let mut broken = own;
                broken.signature.r.0[31] ^= 1 << random.below(8);
                codec::encode(&broken)
            }
            3 => {
                let forged = Vote {
                    validator: random.below(self.count() as u64) as u8,
                    ..own
                };
                codec::encode(&forged)
            }
            4 if !self.replayable.is_empty() => codec::encode(random.pick(&self.replayable)),
            5 => {
                let config = &context.config;
                let other_chain = Vote::sign(
                    &self.keys[index],
                    &config.validators,
                    config.chain_id + 1,
                    header.height,
                    header.hash(),
                )
                .expect("a member signs");
                codec::encode(&other_chain)
            }
            _ => codec::encode(&Vote {
                validator: u8::MAX,
                ..own
            }),
        }
    }
}

/// The block every Byzantine validator signs besides (or instead of) the proposal: the same
/// block one millisecond later, which passes every check a validator makes.
pub(crate) fn alternative(header: &Header) -> Header {
    Header {
        timestamp_ms: header.timestamp_ms + 1,
        ..*header
    }
}
