//! What each part of the system does with a message delivered to it.

use std::rc::Rc;

use ledger::codec;
use ledger::consensus::Vote;
use ledger::execution::WriteSet;
use ledger::shard::{ShardError, WitnessRequest};
use ledger::state::ShardIndex;
use ledger::trie::PartialTree;

use crate::certificates::VOTE_BYTES_MAX;
use crate::cluster::Simulation;
use crate::network::{Endpoint, Message, Payload};
use crate::report::{Invariant, Violation};
use crate::validators::{Reply, alternative};

impl Simulation {
    /// Delivers one message that is due, or lets time pass if none is.
    pub(crate) fn deliver_one(&mut self) -> Result<(), Violation> {
        let Some(message) = self.network.take_due(&mut self.random, self.now_ms) else {
            return self.tick();
        };
        if self.trace {
            let summary = message.payload.summary();
            self.trace_event(format_args!("to {:?}: {summary}", message.to));
        }
        match message.to {
            Endpoint::Shard(index) => self.at_shard(index, message),
            Endpoint::Validator(index) => self.at_validator(index, message),
            Endpoint::Sequencer if message.incarnation != self.incarnation => {
                self.network.count_lost(); // an answer to a call that died with its caller
                Ok(())
            }
            Endpoint::Sequencer => self.at_sequencer(message.payload),
        }
    }

    fn at_shard(&mut self, index: ShardIndex, message: Message) -> Result<(), Violation> {
        let answer = match message.payload {
            Payload::WitnessRequest(round, request) => {
                Payload::WitnessAnswer(round, index, self.witness(index, &request))
            }
            Payload::WriteSet(write_set) => {
                let answer = self.apply(index, &write_set)?;
                Payload::WriteSetAnswer(write_set.height, index, answer)
            }
            Payload::WriteSetThenWitness(write_set, round, request) => {
                // As the shard object does in one call: the witness at the root the write
                // set left.
                let applied = self.apply(index, &write_set)?;
                let witness = match &applied {
                    Ok(()) => self.witness(index, &request),
                    Err(error) => Err(error.clone()),
                };
                Payload::WriteSetThenWitnessAnswer {
                    height: write_set.height,
                    shard: index,
                    applied,
                    round,
                    witness,
                }
            }
            other => unreachable!("a shard receives only calls, got {other:?}"),
        };
        let reply = Message {
            to: Endpoint::Sequencer,
            incarnation: message.incarnation,
            payload: answer,
        };
        self.network.send(&mut self.random, self.now_ms, reply);
        Ok(())
    }

    fn witness(&self, index: ShardIndex, request: &WitnessRequest) -> Result<PartialTree, String> {
        self.shards[usize::from(index)]
            .witness(request)
            .map_err(|error| error.to_string())
    }

    /// A shard applies a write set. Refusing one that does not start from its root is
    /// normal (it is behind, or the write set is stale); any other refusal of a certified
    /// block's writes is a bug.
    fn apply(
        &mut self,
        index: ShardIndex,
        write_set: &WriteSet,
    ) -> Result<Result<(), String>, Violation> {
        let result = self.shards[usize::from(index)].apply(write_set);
        let refused = result.as_ref().err();
        if let Some(error) = refused.filter(|e| !matches!(e, ShardError::RootMismatch { .. })) {
            return Err(Violation {
                invariant: Invariant::ShardRoots,
                detail: format!(
                    "shard {index} refused the write set of height {}: {error}",
                    write_set.height
                ),
            });
        }
        Ok(result.map(|_| ()).map_err(|error| error.to_string()))
    }

    fn at_validator(&mut self, index: usize, message: Message) -> Result<(), Violation> {
        let Payload::Proposal(proposal) = message.payload else {
            unreachable!("a validator receives only proposals");
        };
        if self.validators.is_down(index, self.now_ms) {
            self.network.count_lost();
            return Ok(());
        }
        self.certificates.header_seen(alternative(&proposal.header));
        let replies = self.validators.on_proposal(
            &self.context,
            index,
            &proposal,
            self.now_ms,
            &mut self.random,
        )?;
        for reply in replies {
            let (to, payload) = match reply {
                Reply::Vote(answer) => {
                    if let Ok(bytes) = &answer {
                        self.certificates.vote_released(bytes)?;
                    }
                    (Endpoint::Sequencer, Payload::VoteAnswer(answer))
                }
                Reply::Inject(target, injected) => {
                    let payload = Payload::Proposal(Rc::new(*injected));
                    (Endpoint::Validator(target), payload)
                }
            };
            let reply = Message {
                to,
                incarnation: message.incarnation,
                payload,
            };
            self.network.send(&mut self.random, self.now_ms, reply);
        }
        Ok(())
    }

    /// The sequencer is fed an answer to one of its calls, read as the shell reads it.
    fn at_sequencer(&mut self, payload: Payload) -> Result<(), Violation> {
        let now_ms = self.now_ms;
        let effects = match payload {
            Payload::WitnessAnswer(round, shard, answer) => self
                .sequencer
                .witness_received(now_ms, round, shard, answer),
            Payload::VoteAnswer(answer) => {
                let vote = answer.and_then(|bytes| {
                    codec::decode::<Vote>(&bytes, VOTE_BYTES_MAX).map_err(|e| e.to_string())
                });
                self.sequencer.vote_received(now_ms, vote)
            }
            Payload::WriteSetAnswer(height, shard, answer) => self
                .sequencer
                .write_set_applied(now_ms, height, shard, answer),
            Payload::WriteSetThenWitnessAnswer {
                height,
                shard,
                applied,
                round,
                witness,
            } => self.sequencer.applied_then_witnessed(
                now_ms,
                (height, shard),
                applied,
                round,
                witness,
            ),
            other => unreachable!("the sequencer receives only answers, got {other:?}"),
        };
        self.perform(effects)?;
        Ok(())
    }
}
