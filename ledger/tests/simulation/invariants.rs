//! The invariants checked after every step, and those checked once the healed network has
//! settled. Certificates, receipts, write sets and transaction fates are checked as their
//! effects are performed (see `effects.rs`).

use crate::cluster::{HEAL_MS_MAX, Simulation};
use crate::report::{Violation, ensure};

impl Simulation {
    /// After every step.
    pub(crate) fn check_step(&mut self) -> Result<(), Violation> {
        self.check_pending_count()?;
        self.check_head()?;
        self.check_shard_roots()?;
        self.check_consistent_point()?;
        self.check_work_is_scheduled()
    }

    /// Storage and the mempool hold the same pending transactions (compared by count after
    /// every step, by hash when the counts differ and at the end).
    fn check_pending_count(&self) -> Result<(), Violation> {
        if self.persisted.pending.len() == self.sequencer.mempool().len() {
            return Ok(());
        }
        self.check_pending_matches()?;
        let held = self.sequencer.mempool().len();
        let stored = self.persisted.pending.len();
        ensure!(
            false,
            Durability,
            "storage holds {stored} pending transactions, the mempool {held}"
        );
        Ok(())
    }

    /// Every transaction stored as pending is in the mempool.
    fn check_pending_matches(&self) -> Result<(), Violation> {
        for (hash, wire) in &self.persisted.pending {
            let tx = wire
                .decode_trusted(self.model.chain_id())
                .expect("stored transactions decode");
            ensure!(
                self.sequencer.mempool().contains(hash),
                Durability,
                "{hash} (sender {}, nonce {}, account nonce {}) is stored as pending but not \
                 in the mempool: it will never be committed or dropped",
                tx.sender,
                tx.nonce(),
                self.model.account(&tx.sender).nonce
            );
        }
        Ok(())
    }

    /// The sequencer's head and shard roots are the stored ones, which are the model's: the
    /// head only moves with the commit effect.
    fn check_head(&self) -> Result<(), Violation> {
        let head = self.model.height();
        ensure!(
            *self.sequencer.head() == self.persisted.head
                && self.persisted.head.header.height == head
                && self.sequencer.shard_roots() == self.model.shard_roots_at(head)
                && self.persisted.shard_roots == self.model.shard_roots_at(head),
            Durability,
            "the sequencer's head is at height {}, storage's at {}, the chain's at {head}",
            self.sequencer.head().header.height,
            self.persisted.head.header.height
        );
        Ok(())
    }

    /// A shard only ever holds the root certified for the last height it applied, never a
    /// height beyond the head; and once the sequencer has every write set confirmed, every
    /// shard holds the head's root.
    fn check_shard_roots(&self) -> Result<(), Violation> {
        let head = self.model.height();
        for shard in &self.shards {
            let meta = shard.meta();
            ensure!(
                meta.applied_height <= head,
                ShardRoots,
                "shard {} applied height {}, beyond the head {head}",
                meta.shard,
                meta.applied_height
            );
            let certified = self.model.shard_roots_at(meta.applied_height)[usize::from(meta.shard)];
            ensure!(
                meta.root == certified,
                ShardRoots,
                "shard {} holds root {} at height {}, the certified root is {certified}",
                meta.shard,
                meta.root,
                meta.applied_height
            );
        }
        ensure!(
            !self.persisted.unconfirmed.is_empty() || self.model.shards_at_head(&self.shards),
            ShardRoots,
            "every write set is confirmed, yet some shard is not at the roots of height {head}"
        );
        Ok(())
    }

    /// At each new consistent point (every shard at the head's root: no block half applied)
    /// the shards give the certified state root, conserve the supply and match the model.
    fn check_consistent_point(&mut self) -> Result<(), Violation> {
        let height = self.model.height();
        if self.checked_height == Some(height) || !self.model.shards_at_head(&self.shards) {
            return Ok(());
        }
        self.model.check_shards(&self.shards)?;
        self.checked_height = Some(height);
        Ok(())
    }

    /// Transactions ready for a block always have an alarm coming that will propose them.
    fn check_work_is_scheduled(&self) -> Result<(), Violation> {
        ensure!(
            self.alarm_ms.is_some() || !self.sequencer.mempool().has_ready(1),
            Liveness,
            "transactions are ready for a block, but no alarm is set"
        );
        Ok(())
    }

    /// Once the healed network had its chance: no transaction lost; and when the run must be
    /// live, the chain finished everything it could do.
    pub(crate) fn check_end(&mut self, settled: bool) -> Result<(), Violation> {
        self.fates.check(&self.persisted.pending)?;
        self.check_pending_matches()?;
        if self.scenario.quorum_impossible() {
            ensure!(
                self.model.height() == 0,
                InvalidCertificate,
                "{} blocks committed, though fewer than a quorum of validators ever sign a \
                 proposal",
                self.model.height()
            );
        }
        if !self.scenario.requires_liveness() {
            return Ok(());
        }
        let status = self.sequencer.status();
        ensure!(
            settled,
            Liveness,
            "the healed network did not settle within {HEAL_MS_MAX} ms: {status:?}, {} in flight",
            self.network.len()
        );
        ensure!(
            status.voting_height.is_none()
                && status.unconfirmed_heights.is_empty()
                && self.model.shards_at_head(&self.shards),
            Liveness,
            "settled with work unfinished: {status:?}"
        );
        self.model.check_shards(&self.shards)?;
        self.check_only_gaps_pending()
    }

    /// What is still pending waits for an earlier nonce: everything includable was committed
    /// and everything impossible dropped.
    fn check_only_gaps_pending(&self) -> Result<(), Violation> {
        for (hash, wire) in &self.persisted.pending {
            let tx = wire
                .decode_trusted(self.model.chain_id())
                .expect("stored transactions decode");
            let nonce = self.model.account(&tx.sender).nonce;
            ensure!(
                tx.nonce() > nonce,
                Liveness,
                "{hash} with nonce {} is still pending, its sender's nonce is {nonce}",
                tx.nonce()
            );
        }
        Ok(())
    }
}
