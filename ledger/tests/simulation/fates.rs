//! What became of every transaction the sequencer ever stored as pending: committed once,
//! dropped with a final reason, or still pending; never lost.

use std::collections::{BTreeMap, BTreeSet};

use ledger::Hash;
use ledger::execution::Exclusion;
use ledger::mempool::{Admission, AdmissionRejection};
use ledger::transaction::{VerifiedTx, WireTx};

use crate::model::Model;
use crate::report::{Violation, ensure};

/// Every transaction's fate so far.
#[derive(Debug, Default)]
pub(crate) struct Fates {
    /// Every transaction ever stored as pending (acknowledged or not: a crash may come between
    /// the write and the answer).
    persisted: BTreeSet<Hash>,
    /// Transactions whose submitter was told "accepted".
    acknowledged: BTreeSet<Hash>,
    /// Committed transactions and their heights.
    committed: BTreeMap<Hash, u64>,
    /// Dropped transactions and why.
    dropped: BTreeMap<Hash, Exclusion>,
}

impl Fates {
    /// Whether `hash` is in a committed block (the committed transaction index).
    pub(crate) fn is_committed(&self, hash: &Hash) -> bool {
        self.committed.contains_key(hash)
    }

    /// Transactions committed so far.
    pub(crate) fn committed_count(&self) -> usize {
        self.committed.len()
    }

    /// Transactions dropped so far (and not accepted again since).
    pub(crate) fn dropped_count(&self) -> usize {
        self.dropped.len()
    }

    /// Transactions evicted from a full mempool.
    pub(crate) fn evicted_count(&self) -> usize {
        self.dropped
            .values()
            .filter(|reason| **reason == Exclusion::Evicted)
            .count()
    }

    /// A `PersistPending` effect stores `hash`; `pending` is storage before the write.
    pub(crate) fn persisting(
        &mut self,
        hash: Hash,
        pending: &BTreeMap<Hash, WireTx>,
    ) -> Result<(), Violation> {
        ensure!(
            !self.is_committed(&hash),
            Fate,
            "committed transaction {hash} stored as pending again"
        );
        ensure!(
            !pending.contains_key(&hash),
            Fate,
            "transaction {hash} stored as pending twice"
        );
        // A dropped transaction may be accepted again: it may be payable now.
        self.dropped.remove(&hash);
        self.persisted.insert(hash);
        Ok(())
    }

    /// A `DropPending` effect drops `hash`; `pending` is storage before the write.
    pub(crate) fn dropping(
        &mut self,
        hash: Hash,
        reason: Exclusion,
        pending: &BTreeMap<Hash, WireTx>,
        model: &Model,
    ) -> Result<(), Violation> {
        let Some(wire) = pending.get(&hash) else {
            return Err(Violation {
                invariant: crate::report::Invariant::Fate,
                detail: format!("dropped {hash}, which is not pending ({reason})"),
            });
        };
        let tx = wire
            .decode_trusted(model.chain_id())
            .expect("stored txs decode");
        ensure!(
            reason_holds(&tx, &reason, model, pending),
            Fate,
            "dropped {hash} (nonce {}, sender nonce {}) for a reason that does not hold: \
             {reason:?}",
            tx.nonce(),
            model.account(&tx.sender).nonce
        );
        self.dropped.insert(hash, reason);
        Ok(())
    }

    /// A `Commit` effect commits `hash` at `height`; `pending` is storage before the write.
    pub(crate) fn committing(
        &mut self,
        hash: Hash,
        height: u64,
        pending: &BTreeMap<Hash, WireTx>,
    ) -> Result<(), Violation> {
        ensure!(
            pending.contains_key(&hash),
            Fate,
            "committed {hash} at height {height}, which was not stored as pending"
        );
        let first = self.committed.insert(hash, height);
        ensure!(
            first.is_none(),
            Fate,
            "{hash} committed at heights {first:?} and {height}"
        );
        Ok(())
    }

    /// The submitter of `tx` got `admission`, after every effect was performed: the answer
    /// must agree with storage and with the committed state.
    pub(crate) fn answered(
        &mut self,
        tx: &VerifiedTx,
        admission: Admission,
        pending: &BTreeMap<Hash, WireTx>,
        model: &Model,
        base_fee_per_gas: u128,
    ) -> Result<(), Violation> {
        let hash = tx.hash();
        let stored = pending.contains_key(&hash);
        match admission {
            Admission::Accepted => {
                ensure!(stored, Admission, "{hash} acknowledged but not stored");
                ensure!(
                    !self.is_committed(&hash),
                    Admission,
                    "{hash} accepted again after it was committed"
                );
                self.acknowledged.insert(hash);
            }
            Admission::Duplicate => ensure!(
                stored || self.is_committed(&hash),
                Admission,
                "{hash} called a duplicate, but neither pending nor committed"
            ),
            Admission::Rejected(rejection) => {
                ensure!(!stored, Admission, "{hash} rejected but stored");
                ensure!(
                    rejection_holds(tx, &rejection, model, base_fee_per_gas),
                    Admission,
                    "{hash} (nonce {}, sender nonce {}) rejected for a reason that does not \
                     hold: {rejection:?}",
                    tx.nonce(),
                    model.account(&tx.sender).nonce
                );
            }
        }
        Ok(())
    }

    /// Every transaction ever stored is exactly one of: committed, dropped, still pending;
    /// and every acknowledged one was stored.
    pub(crate) fn check(&self, pending: &BTreeMap<Hash, WireTx>) -> Result<(), Violation> {
        for hash in &self.persisted {
            let committed = self.committed.contains_key(hash);
            let dropped = self.dropped.contains_key(hash);
            let still_pending = pending.contains_key(hash);
            ensure!(
                u8::from(committed) + u8::from(dropped) + u8::from(still_pending) == 1,
                Fate,
                "{hash}: committed {committed}, dropped {dropped}, pending {still_pending}"
            );
        }
        let unstored = self.acknowledged.difference(&self.persisted).next();
        ensure!(
            unstored.is_none(),
            Fate,
            "{unstored:?} acknowledged but never stored"
        );
        Ok(())
    }
}

/// Whether a drop's reason is true of the transaction and final: its nonce is used for good,
/// it can never pay the base fee, it could not pay when it was tried, or it was evicted while
/// it waited behind a nonce gap (or was stale anyway).
fn reason_holds(
    tx: &VerifiedTx,
    reason: &Exclusion,
    model: &Model,
    pending: &BTreeMap<Hash, WireTx>,
) -> bool {
    let transfer = tx.transfer();
    match *reason {
        Exclusion::Evicted => waits_behind_a_gap(tx, model, pending),
        Exclusion::NonceTooLow { expected, got } => {
            got == transfer.nonce && got < expected && got < model.account(&tx.sender).nonce
        }
        Exclusion::FeeTooLow { base_fee } => transfer.max_fee_per_gas < base_fee,
        Exclusion::InsufficientFunds { balance, cost } => {
            balance < cost && cost >= transfer.max_cost()
        }
        Exclusion::NonceAhead { .. } => false,
    }
}

/// Whether some nonce between the sender's committed nonce and `tx`'s is pending in storage
/// for no transaction of the sender (or `tx`'s nonce is used already: dropped either way).
fn waits_behind_a_gap(tx: &VerifiedTx, model: &Model, pending: &BTreeMap<Hash, WireTx>) -> bool {
    let committed = model.account(&tx.sender).nonce;
    if tx.nonce() < committed {
        return true;
    }
    let sender_nonces: BTreeSet<u64> = pending
        .values()
        .map(|wire| {
            wire.decode_trusted(model.chain_id())
                .expect("stored txs decode")
        })
        .filter(|pending| pending.sender == tx.sender)
        .map(|pending| pending.nonce())
        .collect();
    (committed..tx.nonce()).any(|nonce| !sender_nonces.contains(&nonce))
}

/// Whether an admission refusal about the transaction itself is true of it; capacity and
/// ordering refusals depend on the mempool and always hold.
fn rejection_holds(
    tx: &VerifiedTx,
    rejection: &AdmissionRejection,
    model: &Model,
    base_fee_per_gas: u128,
) -> bool {
    match *rejection {
        AdmissionRejection::FeeTooLow { offered, base_fee } => {
            offered == tx.transfer().max_fee_per_gas
                && offered < base_fee
                && base_fee == base_fee_per_gas
        }
        AdmissionRejection::NonceTooLow { expected, got } => {
            got == tx.nonce() && got < expected && expected <= model.account(&tx.sender).nonce
        }
        AdmissionRejection::NonceTooFarAhead { .. }
        | AdmissionRejection::NonceAlreadyPending { .. }
        | AdmissionRejection::SenderQueueFull { .. }
        | AdmissionRejection::MempoolFull { .. } => true,
    }
}
