//! The sequencer's side of the shell: performing effects in order (persist, then act), the
//! clients' submissions, and crashes with their restarts from durable storage only.

use std::rc::Rc;

use ledger::codec;
use ledger::limits::PROPOSAL_BYTES_MAX;
use ledger::proposal::Proposal;
use ledger::sequencer::{Effect, Persisted, Sequencer};
use ledger::shard::Shard;

use crate::cluster::{BASE_FEE_PER_GAS, Simulation};
use crate::network::{Endpoint, Message, Payload};
use crate::report::{Invariant, Violation, ensure};
use crate::workload::View;

impl Simulation {
    /// Performs effects in order, as the Durable Object does: each effect's storage write,
    /// then its message or alarm. While faults are on the sequencer may die before any
    /// effect; those performed stay performed. Returns whether all were performed.
    pub(crate) fn perform(&mut self, effects: Vec<Effect>) -> Result<bool, Violation> {
        for effect in effects {
            if self.faults_on
                && self.random.below(1_000) < self.scenario.crashes.mid_effect_per_mille
            {
                self.stats.mid_effect_crashes += 1;
                self.restart_sequencer()?;
                return Ok(false);
            }
            self.perform_one(effect)?;
        }
        Ok(true)
    }

    fn perform_one(&mut self, effect: Effect) -> Result<(), Violation> {
        self.observe(&effect)?;
        self.persisted.record(&effect);
        self.act(effect);
        Ok(())
    }

    /// Checks an effect against storage before its write, and tells the observers.
    fn observe(&mut self, effect: &Effect) -> Result<(), Violation> {
        let pending = &self.persisted.pending;
        match effect {
            Effect::PersistPending(txs) => {
                for (hash, _) in txs {
                    self.fates.persisting(*hash, pending)?;
                }
            }
            Effect::DropPending(dropped) => {
                for (hash, reason) in dropped {
                    self.fates.dropping(*hash, *reason, pending, &self.model)?;
                }
            }
            Effect::Commit {
                block,
                shard_roots,
                write_sets,
                confirmed,
            } => {
                for (height, shard) in confirmed {
                    let applied = self.shards[usize::from(*shard)].meta().applied_height;
                    ensure!(
                        applied >= *height,
                        ShardRoots,
                        "write set {height} recorded as confirmed for shard {shard}, which \
                         applied only {applied}"
                    );
                }
                self.certificates
                    .certificate_seen(&block.header, &block.certificate)?;
                let height = block.header.height;
                for hash in block.tx_hashes() {
                    self.fates.committing(hash, height, pending)?;
                }
                self.model.commit(block, shard_roots, write_sets)?;
                self.trace_event(format_args!(
                    "commit height {height}: {} txs",
                    block.transactions.len()
                ));
            }
            Effect::Propose(proposal) => {
                let head = &self.persisted.head.header;
                let extends = |parent: &ledger::block::Header| {
                    proposal.parent == *parent && proposal.header.parent_hash == parent.hash()
                };
                // A block built ahead is proposed before its parent's commit is stored: on
                // the stored proposal, whose certificate it carries (checked below).
                let on_stored_proposal = self.persisted.proposal.as_ref().is_some_and(|stored| {
                    stored.header.height == head.height + 1 && extends(&stored.header)
                });
                ensure!(
                    extends(head) || on_stored_proposal,
                    Chain,
                    "proposal at height {} extends neither the stored head {} nor the stored \
                     proposal",
                    proposal.header.height,
                    head.height
                );
                self.certificates.header_seen(proposal.header);
                self.certificates
                    .certificate_seen(&proposal.parent, &proposal.parent_certificate)?;
            }
            Effect::SetAlarm(_)
            | Effect::RequestWitness { .. }
            | Effect::SendWriteSet(_)
            | Effect::ApplyThenWitness { .. }
            | Effect::SetPaused(_) => {}
        }
        Ok(())
    }

    /// The effect's message or alarm.
    fn act(&mut self, effect: Effect) {
        match effect {
            Effect::SetAlarm(at_ms) => self.alarm_ms = Some(at_ms),
            Effect::RequestWitness { round, request } => {
                let to = Endpoint::Shard(request.shard);
                self.send(to, Payload::WitnessRequest(round, request));
            }
            Effect::Propose(proposal) => {
                // Encoded once as the sequencer sends it, decoded as a validator reads it.
                let bytes = codec::encode(&*proposal);
                let decoded: Proposal =
                    codec::decode(&bytes, PROPOSAL_BYTES_MAX).expect("a proposal decodes");
                let decoded = Rc::new(decoded);
                self.trace_event(format_args!(
                    "propose height {}: {} txs",
                    decoded.header.height,
                    decoded.transactions.len()
                ));
                for validator in 0..self.validators.count() {
                    let payload = Payload::Proposal(Rc::clone(&decoded));
                    self.send(Endpoint::Validator(validator), payload);
                }
            }
            Effect::SendWriteSet(write_set) => {
                let to = Endpoint::Shard(write_set.shard);
                self.send(to, Payload::WriteSet(write_set));
            }
            Effect::ApplyThenWitness {
                write_set,
                round,
                request,
            } => {
                let to = Endpoint::Shard(write_set.shard);
                self.send(to, Payload::WriteSetThenWitness(write_set, round, request));
            }
            Effect::PersistPending(_)
            | Effect::DropPending(_)
            | Effect::Commit { .. }
            | Effect::SetPaused(_) => {}
        }
    }

    /// Sends a message on behalf of the current sequencer incarnation.
    pub(crate) fn send(&mut self, to: Endpoint, payload: Payload) {
        let message = Message {
            to,
            incarnation: self.incarnation,
            payload,
        };
        self.network.send(&mut self.random, self.now_ms, message);
    }

    /// A client signs a batch from what it can read and submits it; if every effect was
    /// performed it gets its answers, which must agree with storage.
    pub(crate) fn submit_batch(&mut self) -> Result<(), Violation> {
        let view = View {
            layout: self.context.config.layout(),
            shards: &self.shards,
            mempool: self.sequencer.mempool(),
        };
        let batch = self.workload.batch(&mut self.random, &view);
        let fates = &self.fates;
        let (admissions, effects) = self
            .sequencer
            .submit(self.now_ms, batch.clone(), |hash| fates.is_committed(hash));
        if !self.perform(effects)? {
            return Ok(()); // the sequencer died before answering: nothing acknowledged
        }
        for (tx, admission) in batch.iter().zip(admissions) {
            self.fates.answered(
                tx,
                admission,
                &self.persisted.pending,
                &self.model,
                BASE_FEE_PER_GAS,
            )?;
        }
        Ok(())
    }

    /// The sequencer loses its memory and its pending calls, and restarts from storage read
    /// back through its encoding. Half of the restarts perform the recovery effects directly;
    /// the other half do as the Durable Object does: storage writes now, and the calls left
    /// to an immediate alarm.
    pub(crate) fn restart_sequencer(&mut self) -> Result<(), Violation> {
        self.incarnation += 1;
        let stored: Persisted = codec::decode(&codec::encode(&self.persisted), usize::MAX)
            .expect("durable state decodes");
        ensure!(
            stored == self.persisted,
            Durability,
            "durable state does not read back unchanged"
        );
        let recovered = Sequencer::recover(
            self.context.config.clone(),
            self.scenario.timing,
            self.scenario.mempool,
            &stored,
            self.now_ms,
            self.random.next_u64(),
        );
        let (sequencer, effects) = recovered.map_err(|error| Violation {
            invariant: Invariant::Durability,
            detail: format!("durable state does not recover: {error}"),
        })?;
        self.sequencer = sequencer;
        self.trace_event(format_args!("sequencer restarted"));
        if effects
            .iter()
            .any(|effect| matches!(effect, Effect::Commit { .. }))
        {
            self.stats.commits_finished_on_restart += 1;
        }
        if self.random.chance(50) {
            for effect in effects {
                self.perform_one(effect)?;
            }
            return Ok(());
        }
        let mut calls = false;
        for effect in effects {
            if effect.is_call() {
                calls = true;
            } else {
                self.perform_one(effect)?;
            }
        }
        if calls {
            self.alarm_ms = Some(self.now_ms);
        }
        Ok(())
    }

    /// A shard loses its memory and the requests in flight to it (half of which fail back to
    /// the sequencer with an error), and reopens over the same store.
    pub(crate) fn crash_shard(&mut self) {
        let index = self.random.below(self.shards.len() as u64) as u16;
        let lost = self
            .network
            .remove_where(|m| m.to == Endpoint::Shard(index));
        for message in lost {
            if !self.random.chance(50) {
                continue;
            }
            let error = "503 shard restarting".to_owned();
            let answer = match message.payload {
                Payload::WitnessRequest(round, _) => {
                    Payload::WitnessAnswer(round, index, Err(error))
                }
                Payload::WriteSet(set) => Payload::WriteSetAnswer(set.height, index, Err(error)),
                Payload::WriteSetThenWitness(set, round, _) => Payload::WriteSetThenWitnessAnswer {
                    height: set.height,
                    shard: index,
                    applied: Err(error.clone()),
                    round,
                    witness: Err(error),
                },
                _ => continue,
            };
            let failure = Message {
                to: Endpoint::Sequencer,
                incarnation: message.incarnation,
                payload: answer,
            };
            self.network.send(&mut self.random, self.now_ms, failure);
        }
        let layout = self.context.config.layout();
        let shard = self.shards.remove(usize::from(index));
        let reopened = Shard::open(layout, shard.into_store())
            .expect("the store reads")
            .expect("the store was initialised");
        self.shards.insert(usize::from(index), reopened);
        self.stats.shard_crashes += 1;
        self.trace_event(format_args!("shard {index} restarted"));
    }
}
