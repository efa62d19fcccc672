//! The sequencer's mempool: verified transactions waiting for a block, queued per sender by nonce.
//!
//! Admission is where a client learns the fate of a submission, so every refusal is a typed
//! [`AdmissionRejection`]. The pool is bounded in total and per sender; the in-memory indexes use
//! `xxhash64` seeded with entropy the caller passes in, so an attacker cannot aim transaction
//! hashes or addresses at one hash bucket.
//!
//! A transaction waiting behind a nonce gap of its sender cannot go into a block until the
//! missing nonce comes, which may be never. So that such transactions cannot hold the full
//! pool against everyone (a few keys signing nonces they skip would do), a transaction that
//! could go into the next block is admitted into a full pool by evicting a waiting one:
//! the highest nonce of a sender with a gap ([`Mempool::take_evicted`] tells the caller,
//! which records it as dropped, [`crate::execution::Exclusion::Evicted`]). Only while the
//! pool cannot fill a block, though: a pool that drains a full block a round makes room on
//! its own, and a busy client whose batch was partly refused would otherwise lose the later
//! nonces it got in to its own retries.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use twox_hash::xxhash64;

use crate::limits::{BLOCK_TXS_MAX, MEMPOOL_TXS_MAX, NONCE_GAP_MAX, SENDER_QUEUE_TXS_MAX};
use crate::primitives::{Address, Hash};
use crate::transaction::VerifiedTx;

/// Why the mempool refused a transaction. Each maps to one stable API error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AdmissionRejection {
    /// The fee cap is below the chain's base fee per gas.
    #[error("max fee per gas {offered} is below the base fee {base_fee}")]
    FeeTooLow {
        /// `max_fee_per_gas` of the transaction.
        offered: u128,
        /// The chain's base fee per gas.
        base_fee: u128,
    },
    /// The sender has already used this nonce.
    #[error("nonce too low: next nonce is {expected}, got {got}")]
    NonceTooLow {
        /// The sender's next nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// The nonce is so far ahead of the sender's next nonce that it could not be queued.
    #[error("nonce {got} is more than {gap_max} ahead of the next nonce {expected}")]
    NonceTooFarAhead {
        /// The sender's next nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
        /// Largest gap accepted.
        gap_max: u64,
    },
    /// Another transaction with this sender and nonce is already pending (replacement is not
    /// supported: the first one seen wins).
    #[error("another transaction with nonce {nonce} from this sender is already pending")]
    NonceAlreadyPending {
        /// The contested nonce.
        nonce: u64,
    },
    /// This sender already has the maximum number of pending transactions.
    #[error("the sender already has {limit} pending transactions")]
    SenderQueueFull {
        /// The per-sender limit.
        limit: usize,
    },
    /// The mempool is full.
    #[error("the mempool is full ({limit} transactions)")]
    MempoolFull {
        /// The mempool limit.
        limit: usize,
    },
}

impl AdmissionRejection {
    /// Stable snake_case machine code for API errors.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::FeeTooLow { .. } => "fee_too_low",
            Self::NonceTooLow { .. } => "nonce_too_low",
            Self::NonceTooFarAhead { .. } => "nonce_too_far_ahead",
            Self::NonceAlreadyPending { .. } => "nonce_already_pending",
            Self::SenderQueueFull { .. } => "sender_queue_full",
            Self::MempoolFull { .. } => "mempool_full",
        }
    }

    /// True when the refusal is about load, not about the transaction: the client may retry
    /// the same transaction later (HTTP 429/503 rather than 422).
    pub const fn is_capacity(&self) -> bool {
        matches!(
            self,
            Self::SenderQueueFull { .. } | Self::MempoolFull { .. }
        )
    }
}

/// What became of one submitted transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Newly queued.
    Accepted,
    /// Already pending (the same bytes were submitted before); nothing changed.
    Duplicate,
    /// Refused; nothing changed.
    Rejected(AdmissionRejection),
}

/// Bounds of one mempool; the defaults are the system maxima from [`crate::limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MempoolLimits {
    /// Transactions in the pool.
    pub txs_max: usize,
    /// Transactions per sender.
    pub sender_txs_max: usize,
}

impl Default for MempoolLimits {
    fn default() -> Self {
        Self {
            txs_max: MEMPOOL_TXS_MAX,
            sender_txs_max: SENDER_QUEUE_TXS_MAX,
        }
    }
}

/// A queued transaction and the order it arrived in.
#[derive(Debug, Clone)]
struct Queued {
    tx: VerifiedTx,
    arrival: u64,
}

/// One sender's pending transactions by nonce, and the sender's next nonce when known.
#[derive(Debug, Clone, Default)]
struct SenderQueue {
    by_nonce: NonceQueue,
    /// The account's nonce in the last committed state, if the sequencer has seen it.
    next_nonce: Option<u64>,
}

impl SenderQueue {
    /// Whether some of the sender's pending transactions cannot go into a block before a
    /// missing nonce comes: the lowest is past the account's next nonce, or the pending
    /// nonces have a hole. The highest pending nonce is then always one of them.
    ///
    /// Only a sender whose next nonce is known can tell: without it (after a restart, or
    /// before the sender's first block) the lowest pending nonces may be used already, and a
    /// hole after them says nothing about the rest. Such a sender is a candidate for the
    /// next block, which teaches the pool its nonce.
    fn has_waiting(&self) -> bool {
        let (Some(next), Some(first), Some(last)) = (
            self.next_nonce,
            self.by_nonce.first_nonce(),
            self.by_nonce.last_nonce(),
        ) else {
            return false;
        };
        // Pending nonces are never below the known next nonce (learning it drops them).
        let hole = last - first + 1 != self.by_nonce.len() as u64;
        first > next || hole
    }

    /// The contiguous run of nonces that could go into the next block, if the lowest pending
    /// nonce is the account's next nonce (or the next nonce is not known yet).
    fn ready_run(&self) -> impl Iterator<Item = &Queued> {
        let first = self.by_nonce.first_nonce();
        let ready = match (first, self.next_nonce) {
            (Some(first), Some(next)) => first == next,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let mut expected = first.unwrap_or(0);
        self.by_nonce
            .iter()
            .take_while(move |(nonce, _)| {
                let contiguous = ready && *nonce == expected;
                expected = expected.wrapping_add(1);
                contiguous
            })
            .map(|(_, queued)| queued)
    }
}

/// One sender's pending transactions, sorted by nonce.
///
/// A sorted vector rather than a B-tree: most senders have one transaction pending or a few,
/// and a B-tree's first node costs about 200 bytes where a vector of one entry costs 16 (a
/// full mempool from as many senders as transactions held 9 MiB more than one from eight).
/// A full queue ([`crate::limits::SENDER_QUEUE_TXS_MAX`] entries) moves at most 64 KB on an
/// insertion or removal. Transactions are boxed so that moving an entry moves 16 bytes.
#[derive(Debug, Clone, Default)]
struct NonceQueue(Vec<(u64, Box<Queued>)>);

impl NonceQueue {
    /// Where `nonce` is, or where it would go.
    fn position(&self, nonce: u64) -> Result<usize, usize> {
        self.0
            .binary_search_by_key(&nonce, |(queued_nonce, _)| *queued_nonce)
    }

    fn get(&self, nonce: u64) -> Option<&Queued> {
        let index = self.position(nonce).ok()?;
        Some(&self.0[index].1)
    }

    fn contains(&self, nonce: u64) -> bool {
        self.position(nonce).is_ok()
    }

    /// Queues `queued` at `nonce`, in place of any transaction there.
    fn insert(&mut self, nonce: u64, queued: Box<Queued>) {
        match self.position(nonce) {
            Ok(index) => self.0[index].1 = queued,
            Err(index) => {
                // Most senders have one transaction queued: room for exactly one first, not
                // the four a vector takes at its first push (48 bytes a sender on wasm32).
                if self.0.capacity() == 0 {
                    self.0.reserve_exact(1);
                }
                self.0.insert(index, (nonce, queued));
            }
        }
    }

    fn remove(&mut self, nonce: u64) -> Option<Box<Queued>> {
        let index = self.position(nonce).ok()?;
        let (_, queued) = self.0.remove(index);
        self.release_spare_capacity();
        Some(queued)
    }

    /// Removes and returns every transaction with a nonce below `nonce`, lowest first.
    fn remove_below(&mut self, nonce: u64) -> Vec<(u64, Box<Queued>)> {
        let end = self
            .0
            .partition_point(|(queued_nonce, _)| *queued_nonce < nonce);
        let removed = self.0.drain(..end).collect();
        self.release_spare_capacity();
        removed
    }

    /// A queue that was long and is short again gives back most of its room.
    fn release_spare_capacity(&mut self) {
        if self.0.len() * 4 < self.0.capacity() {
            self.0.shrink_to(self.0.len() * 2);
        }
    }

    fn first_nonce(&self) -> Option<u64> {
        self.0.first().map(|(nonce, _)| *nonce)
    }

    fn last_nonce(&self) -> Option<u64> {
        self.0.last().map(|(nonce, _)| *nonce)
    }

    /// Removes and returns the transaction with the highest nonce.
    fn pop_last(&mut self) -> Option<Box<Queued>> {
        let (_, queued) = self.0.pop()?;
        self.release_spare_capacity();
        Some(queued)
    }

    /// Lowest nonce first.
    fn iter(&self) -> impl Iterator<Item = (u64, &Queued)> {
        self.0.iter().map(|(nonce, queued)| (*nonce, &**queued))
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A transaction the full pool evicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evicted {
    /// Its hash.
    pub hash: Hash,
    /// When it was admitted, in [`Mempool::next_arrival`]'s count: whether it was admitted
    /// before or during a batch.
    pub arrival: u64,
}

/// Notes `sender` in `waiting` if its `queue` has transactions waiting behind a gap
/// ([`SenderQueue::has_waiting`]): called after every change to a queue, so that every
/// sender with some is noted.
fn note_if_waiting(waiting: &mut BTreeSet<Address>, sender: Address, queue: &SenderQueue) {
    if queue.has_waiting() {
        waiting.insert(sender);
    }
}

/// Seeded hasher state for the mempool's indexes.
pub type SeededState = xxhash64::State;

/// The pool of pending transactions.
#[derive(Debug, Clone)]
pub struct Mempool {
    limits: MempoolLimits,
    /// Transaction hash → (sender, nonce): the dedup index.
    by_hash: HashMap<Hash, (Address, u64), SeededState>,
    senders: HashMap<Address, SenderQueue, SeededState>,
    next_arrival: u64,
    /// Senders that may have transactions waiting behind a gap ([`SenderQueue::has_waiting`]),
    /// noted whenever a queue changes and checked again when taken: a sender here may have
    /// none by now, but every sender with some is here.
    waiting: BTreeSet<Address>,
    /// Transactions evicted since [`Mempool::take_evicted`] was last called.
    evicted: Vec<Evicted>,
    /// Whether a full block's transactions are ready, as found at the first full-pool
    /// admission since the pool last lost transactions or [`Mempool::take_evicted`] was
    /// called (once a batch): counting them walks every sender.
    can_fill_a_block: Option<bool>,
}

impl Mempool {
    /// An empty pool. `hash_seed` must come from real entropy in production (the shell draws
    /// it); tests may pass any value.
    pub fn new(limits: MempoolLimits, hash_seed: u64) -> Self {
        Self {
            limits,
            by_hash: HashMap::with_hasher(SeededState::with_seed(hash_seed)),
            senders: HashMap::with_hasher(SeededState::with_seed(hash_seed.rotate_left(17))),
            next_arrival: 0,
            waiting: BTreeSet::new(),
            evicted: Vec::new(),
            can_fill_a_block: None,
        }
    }

    /// The pool's bounds.
    pub fn limits(&self) -> MempoolLimits {
        self.limits
    }

    /// The count the next admitted transaction gets as its arrival: a transaction with a
    /// lower one was admitted before now.
    pub fn next_arrival(&self) -> u64 {
        self.next_arrival
    }

    /// Transactions pending.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// True when `hash` is pending.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// The pending transaction with this hash.
    pub fn get(&self, hash: &Hash) -> Option<&VerifiedTx> {
        let (sender, nonce) = self.by_hash.get(hash)?;
        let queued = self.senders.get(sender)?.by_nonce.get(*nonce)?;
        Some(&queued.tx)
    }

    /// The next nonce of `sender`: one past its highest contiguous pending nonce if it has
    /// pending transactions from its known account nonce, else the known account nonce.
    /// `None` when the mempool knows nothing about the sender.
    pub fn pending_nonce(&self, sender: &Address) -> Option<u64> {
        let queue = self.senders.get(sender)?;
        let last_ready = queue.ready_run().last().map(|queued| queued.tx.nonce() + 1);
        last_ready.or(queue.next_nonce)
    }

    /// The account nonce of `sender` in the last committed state the mempool learnt, if it
    /// knows one: from the witnesses of a round that tried the sender, or from a committed
    /// block of theirs (every commit tells the mempool its senders' new nonces).
    pub fn known_next_nonce(&self, sender: &Address) -> Option<u64> {
        self.senders.get(sender)?.next_nonce
    }

    /// Checks and queues one verified transaction.
    pub fn admit(&mut self, tx: VerifiedTx, base_fee_per_gas: u128) -> Admission {
        let hash = tx.hash();
        if self.by_hash.contains_key(&hash) {
            return Admission::Duplicate;
        }
        if let Err(rejection) = self.check(&tx, base_fee_per_gas) {
            return Admission::Rejected(rejection);
        }
        if self.len() >= self.limits.txs_max && !self.make_room_for(&tx) {
            return Admission::Rejected(AdmissionRejection::MempoolFull {
                limit: self.limits.txs_max,
            });
        }
        let arrival = self.next_arrival;
        self.next_arrival += 1;
        let (sender, nonce) = (tx.sender, tx.nonce());
        self.by_hash.insert(hash, (sender, nonce));
        let queue = self.senders.entry(sender).or_default();
        queue
            .by_nonce
            .insert(nonce, Box::new(Queued { tx, arrival }));
        note_if_waiting(&mut self.waiting, sender, queue);
        Admission::Accepted
    }

    /// The transactions evicted since the last call, to be recorded as dropped
    /// ([`crate::execution::Exclusion::Evicted`]). Their admissions may be in the same batch.
    pub fn take_evicted(&mut self) -> Vec<Evicted> {
        self.can_fill_a_block = None;
        std::mem::take(&mut self.evicted)
    }

    /// Whether a full block's transactions are ready (cached, see the field).
    fn can_fill_a_block(&mut self) -> bool {
        if let Some(known) = self.can_fill_a_block {
            return known;
        }
        let known = self.has_ready(BLOCK_TXS_MAX);
        self.can_fill_a_block = Some(known);
        known
    }

    /// Whether the full pool can take `tx`: only one that could go into the next block, only
    /// while the pool cannot fill a block on its own, and by evicting a waiting transaction.
    fn make_room_for(&mut self, tx: &VerifiedTx) -> bool {
        self.could_be_next(tx) && !self.can_fill_a_block() && self.evict_one_waiting()
    }

    /// Whether `tx` could go into the next block as far as the pool knows: it is its sender's
    /// next pending nonce, or the pool knows nothing of the sender's account nonce (a new
    /// sender's first transaction must get in).
    fn could_be_next(&self, tx: &VerifiedTx) -> bool {
        match self.senders.get(&tx.sender) {
            Some(queue) if queue.next_nonce.is_some() => {
                self.pending_nonce(&tx.sender) == Some(tx.nonce())
            }
            _ => true,
        }
    }

    /// Evicts the highest nonce of a sender with transactions waiting behind a gap, if there
    /// is one. Returns whether it made room.
    fn evict_one_waiting(&mut self) -> bool {
        while let Some(sender) = self.waiting.pop_first() {
            let Some(queue) = self.senders.get_mut(&sender) else {
                continue;
            };
            if !queue.has_waiting() {
                continue;
            }
            let Some(queued) = queue.by_nonce.pop_last() else {
                continue;
            };
            let hash = queued.tx.hash();
            self.by_hash.remove(&hash);
            self.evicted.push(Evicted {
                hash,
                arrival: queued.arrival,
            });
            note_if_waiting(&mut self.waiting, sender, queue);
            return true;
        }
        false
    }

    /// Every admission rule but the pool's own bound (checked last, by [`Mempool::admit`]), in
    /// the order a client would want to hear about them.
    fn check(&self, tx: &VerifiedTx, base_fee_per_gas: u128) -> Result<(), AdmissionRejection> {
        let offered = tx.transfer().max_fee_per_gas;
        if offered < base_fee_per_gas {
            return Err(AdmissionRejection::FeeTooLow {
                offered,
                base_fee: base_fee_per_gas,
            });
        }
        let nonce = tx.nonce();
        let queue = self.senders.get(&tx.sender);
        if let Some(expected) = queue.and_then(|queue| queue.next_nonce) {
            if nonce < expected {
                return Err(AdmissionRejection::NonceTooLow {
                    expected,
                    got: nonce,
                });
            }
            if nonce - expected > NONCE_GAP_MAX {
                return Err(AdmissionRejection::NonceTooFarAhead {
                    expected,
                    got: nonce,
                    gap_max: NONCE_GAP_MAX,
                });
            }
        }
        let pending = queue.map_or(0, |queue| queue.by_nonce.len());
        if queue.is_some_and(|queue| queue.by_nonce.contains(nonce)) {
            return Err(AdmissionRejection::NonceAlreadyPending { nonce });
        }
        if pending >= self.limits.sender_txs_max {
            return Err(AdmissionRejection::SenderQueueFull {
                limit: self.limits.sender_txs_max,
            });
        }
        Ok(())
    }

    /// Up to `count_max` transactions that could go into the next block: for each sender, the
    /// contiguous nonce run starting at its next nonce; senders in the order their next
    /// transaction (the first of the run) arrived, so no sender starves the others for long.
    pub fn candidates(&self, count_max: usize) -> Vec<VerifiedTx> {
        self.candidates_after(&BTreeMap::new(), count_max)
    }

    /// [`Mempool::candidates`] for the block after one that is not committed yet: a sender in
    /// `next_nonces` (with its nonce after that block) has its run start there, which leaves
    /// out the block's own transactions, pending until it commits.
    pub fn candidates_after(
        &self,
        next_nonces: &BTreeMap<Address, u64>,
        count_max: usize,
    ) -> Vec<VerifiedTx> {
        // Lazily: only the transactions taken are walked past each run's first.
        let mut runs: Vec<_> = self
            .senders
            .iter()
            .filter_map(|(sender, queue)| {
                let floor = next_nonces.get(sender).copied().unwrap_or(0);
                let mut run = queue
                    .ready_run()
                    .skip_while(move |queued| queued.tx.nonce() < floor)
                    .peekable();
                let arrival = run.peek()?.arrival;
                Some((arrival, run))
            })
            .collect();
        runs.sort_unstable_by_key(|(arrival, _)| *arrival);
        runs.into_iter()
            .flat_map(|(_, run)| run)
            .take(count_max)
            .map(|queued| queued.tx.clone())
            .collect()
    }

    /// True when at least `count` transactions are ready for a block.
    pub fn has_ready(&self, count: usize) -> bool {
        let mut ready = 0;
        for queue in self.senders.values() {
            ready += queue.ready_run().count();
            if ready >= count {
                return true;
            }
        }
        false
    }

    /// Removes a transaction (included in a block, or dropped). Returns it if it was pending.
    pub fn remove(&mut self, hash: &Hash) -> Option<VerifiedTx> {
        let (sender, nonce) = self.by_hash.remove(hash)?;
        self.can_fill_a_block = None;
        let queue = self.senders.get_mut(&sender)?;
        let removed = queue.by_nonce.remove(nonce).map(|queued| queued.tx);
        // A dropped transaction may leave a hole behind it.
        note_if_waiting(&mut self.waiting, sender, queue);
        if queue.by_nonce.is_empty() && queue.next_nonce.is_none() {
            self.senders.remove(&sender);
        }
        removed
    }

    /// Records a sender's next nonce from committed state and removes every pending
    /// transaction it makes stale (nonce below it), returning their hashes and nonces so their
    /// rejection can be recorded.
    pub fn set_next_nonce(&mut self, sender: Address, next_nonce: u64) -> Vec<(Hash, u64)> {
        self.can_fill_a_block = None;
        let queue = self.senders.entry(sender).or_default();
        queue.next_nonce = Some(next_nonce);
        let stale = queue.by_nonce.remove_below(next_nonce);
        let mut removed = Vec::with_capacity(stale.len());
        for (nonce, queued) in stale {
            let hash = queued.tx.hash();
            self.by_hash.remove(&hash);
            removed.push((hash, nonce));
        }
        note_if_waiting(&mut self.waiting, sender, queue);
        removed
    }

    /// Forgets known account nonces for senders with nothing pending, bounding memory: the
    /// nonce cache is an optimisation (rejecting stale nonces early), never needed for safety.
    pub fn forget_idle_senders(&mut self) {
        self.senders.retain(|_, queue| !queue.by_nonce.is_empty());
        // Also the senders noted as waiting that no longer are, so that the set stays within
        // the senders pending (it is otherwise only trimmed by evictions).
        let senders = &self.senders;
        self.waiting
            .retain(|sender| senders.get(sender).is_some_and(SenderQueue::has_waiting));
    }

    /// Every pending transaction, in no particular order (for persistence checks and tests).
    pub fn iter(&self) -> impl Iterator<Item = &VerifiedTx> {
        self.senders
            .values()
            .flat_map(|queue| queue.by_nonce.iter().map(|(_, queued)| &queued.tx))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::primitives::U256;
    use crate::signature::SecretKey;
    use crate::transaction::{Transfer, TxKind, WireTx};

    pub(crate) const CHAIN_ID: u64 = 31_337;
    const BASE_FEE: u128 = 10;

    /// A deterministic key from a small seed.
    pub(crate) fn key(seed: u64) -> SecretKey {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_be_bytes());
        bytes[31] = 1;
        SecretKey::from_bytes(&bytes).expect("small non-zero keys are valid")
    }

    /// A signed transfer from `key`, verified by trusting the signer's own key (no recovery).
    pub(crate) fn signed(
        key: &SecretKey,
        nonce: u64,
        max_fee_per_gas: u128,
        to: Address,
        value: U256,
    ) -> VerifiedTx {
        let transfer = Transfer {
            kind: TxKind::DynamicFee,
            chain_id: CHAIN_ID,
            nonce,
            max_fee_per_gas,
            max_priority_fee_per_gas: 1,
            gas_limit: 21_000,
            to,
            value,
        };
        let raw = transfer.sign(key).raw().to_vec();
        WireTx {
            raw,
            public_key: key.public_key(),
            nonce_y: None,
        }
        .decode_trusted(CHAIN_ID)
        .expect("own transfer decodes")
    }

    fn tx(key: &SecretKey, nonce: u64) -> VerifiedTx {
        signed(key, nonce, BASE_FEE, Address([0x42; 20]), U256::from(1u64))
    }

    fn pool() -> Mempool {
        Mempool::new(MempoolLimits::default(), 7)
    }

    #[test]
    fn a_nonce_queue_keeps_nonces_in_order_and_gives_back_room_it_no_longer_needs() {
        let alice = key(1);
        let mut queue = NonceQueue::default();
        queue.insert(
            5,
            Box::new(Queued {
                tx: tx(&alice, 5),
                arrival: 0,
            }),
        );
        assert_eq!(queue.0.capacity(), 1, "room for one at first");
        for (arrival, nonce) in [1u64, 3, 2, 4, 0].into_iter().enumerate() {
            let arrival = arrival + 1;
            let tx = tx(&alice, nonce);
            queue.insert(
                nonce,
                Box::new(Queued {
                    tx,
                    arrival: arrival as u64,
                }),
            );
        }
        // Queued again at a nonce it holds: replaced, not added.
        queue.insert(
            3,
            Box::new(Queued {
                tx: tx(&alice, 3),
                arrival: 9,
            }),
        );
        let order: Vec<(u64, u64)> = queue
            .iter()
            .map(|(nonce, queued)| (nonce, queued.arrival))
            .collect();
        assert_eq!(order, vec![(0, 5), (1, 1), (2, 3), (3, 9), (4, 4), (5, 0)]);
        assert_eq!(queue.first_nonce(), Some(0));
        assert!(queue.contains(4) && !queue.contains(6));
        assert_eq!(queue.get(2).map(|queued| queued.tx.nonce()), Some(2));

        let below: Vec<u64> = queue
            .remove_below(3)
            .into_iter()
            .map(|(nonce, _)| nonce)
            .collect();
        assert_eq!(below, vec![0, 1, 2]);
        assert_eq!(queue.remove(5).map(|queued| queued.tx.nonce()), Some(5));
        assert!(queue.remove(5).is_none());
        assert_eq!(
            queue.iter().map(|(nonce, _)| nonce).collect::<Vec<_>>(),
            vec![3, 4]
        );

        let mut long = NonceQueue::default();
        for nonce in 0..64 {
            long.insert(
                nonce,
                Box::new(Queued {
                    tx: tx(&alice, nonce),
                    arrival: nonce,
                }),
            );
        }
        assert_eq!(long.remove_below(62).len(), 62);
        assert_eq!(long.len(), 2);
        assert!(
            long.0.capacity() <= 4,
            "a queue of 2 keeps room for {}",
            long.0.capacity()
        );
    }

    fn admit(pool: &mut Mempool, tx: &VerifiedTx) -> Admission {
        pool.admit(tx.clone(), BASE_FEE)
    }

    fn nonces_and_senders(txs: &[VerifiedTx]) -> Vec<(Address, u64)> {
        txs.iter().map(|tx| (tx.sender, tx.nonce())).collect()
    }

    #[test]
    fn candidates_after_a_block_start_where_its_senders_nonces_end() {
        let (alice, bob, carol) = (key(1), key(2), key(3));
        let mut pool = pool();
        for tx in [
            tx(&alice, 0),
            tx(&bob, 0),
            tx(&alice, 1),
            tx(&alice, 2),
            tx(&carol, 5),
            tx(&bob, 1),
        ] {
            assert_eq!(admit(&mut pool, &tx), Admission::Accepted);
        }
        assert!(pool.set_next_nonce(carol.address(), 4).is_empty());
        // A block took Alice's 0 and 1 and Bob's 0 (still pending until it commits): after
        // it, Alice's run goes on from 2 and Bob's from 1, in order of arrival; Carol's
        // gap still keeps her out.
        let after = BTreeMap::from([(alice.address(), 2), (bob.address(), 1)]);
        assert_eq!(
            nonces_and_senders(&pool.candidates_after(&after, 10)),
            vec![(alice.address(), 2), (bob.address(), 1)]
        );
        assert_eq!(
            nonces_and_senders(&pool.candidates_after(&after, 1)).len(),
            1
        );
        // A sender whose whole run the block took has nothing left.
        let all_of_alice = BTreeMap::from([(alice.address(), 3)]);
        assert_eq!(
            nonces_and_senders(&pool.candidates_after(&all_of_alice, 10)),
            vec![(bob.address(), 0), (bob.address(), 1)]
        );
        assert_eq!(
            pool.candidates_after(&BTreeMap::new(), 10),
            pool.candidates(10)
        );
    }

    #[test]
    fn a_fee_cap_below_the_base_fee_is_refused_and_the_base_fee_itself_accepted() {
        let alice = key(1);
        let mut pool = pool();
        let cheap = signed(&alice, 0, BASE_FEE - 1, Address([1; 20]), U256::ZERO);
        assert_eq!(
            admit(&mut pool, &cheap),
            Admission::Rejected(AdmissionRejection::FeeTooLow {
                offered: BASE_FEE - 1,
                base_fee: BASE_FEE
            })
        );
        assert!(pool.is_empty());
        assert!(!pool.contains(&cheap.hash()));
        let exact = signed(&alice, 0, BASE_FEE, Address([1; 20]), U256::ZERO);
        assert_eq!(admit(&mut pool, &exact), Admission::Accepted);
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.get(&exact.hash()), Some(&exact));
    }

    #[test]
    fn a_nonce_below_the_known_next_nonce_is_refused() {
        let alice = key(1);
        let mut pool = pool();
        assert!(pool.set_next_nonce(alice.address(), 5).is_empty());
        assert_eq!(
            admit(&mut pool, &tx(&alice, 4)),
            Admission::Rejected(AdmissionRejection::NonceTooLow {
                expected: 5,
                got: 4
            })
        );
        assert!(pool.is_empty());
        assert_eq!(admit(&mut pool, &tx(&alice, 5)), Admission::Accepted);
    }

    #[test]
    fn a_nonce_exactly_the_gap_maximum_ahead_is_queued_and_one_more_is_refused() {
        // NONCE_GAP_MAX is documented as the largest gap accepted ("may be and still be
        // queued"; the rejection says "more than gap_max ahead").
        let alice = key(1);
        let mut pool = pool();
        pool.set_next_nonce(alice.address(), 3);
        let beyond = tx(&alice, 3 + NONCE_GAP_MAX + 1);
        assert_eq!(
            admit(&mut pool, &beyond),
            Admission::Rejected(AdmissionRejection::NonceTooFarAhead {
                expected: 3,
                got: 3 + NONCE_GAP_MAX + 1,
                gap_max: NONCE_GAP_MAX
            })
        );
        assert!(pool.is_empty());
        let at_limit = tx(&alice, 3 + NONCE_GAP_MAX);
        assert_eq!(admit(&mut pool, &at_limit), Admission::Accepted);
        // Waiting for nonces 3.. to arrive: nothing ready.
        assert!(!pool.has_ready(1));
    }

    #[test]
    fn without_a_known_nonce_any_nonce_is_queued() {
        let alice = key(1);
        let mut pool = pool();
        assert_eq!(
            admit(&mut pool, &tx(&alice, 10 * NONCE_GAP_MAX)),
            Admission::Accepted
        );
    }

    #[test]
    fn a_different_transaction_with_a_pending_nonce_is_refused_and_the_first_kept() {
        let alice = key(1);
        let mut pool = pool();
        let first = tx(&alice, 0);
        let second = signed(
            &alice,
            0,
            BASE_FEE + 1,
            Address([0x42; 20]),
            U256::from(1u64),
        );
        assert_ne!(first.hash(), second.hash());
        assert_eq!(admit(&mut pool, &first), Admission::Accepted);
        assert_eq!(
            admit(&mut pool, &second),
            Admission::Rejected(AdmissionRejection::NonceAlreadyPending { nonce: 0 })
        );
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.get(&first.hash()), Some(&first));
        assert!(!pool.contains(&second.hash()));
    }

    #[test]
    fn the_same_bytes_twice_are_a_duplicate_even_when_the_pool_is_full() {
        let alice = key(1);
        let mut pool = Mempool::new(
            MempoolLimits {
                txs_max: 1,
                sender_txs_max: 1,
            },
            7,
        );
        let first = tx(&alice, 0);
        assert_eq!(admit(&mut pool, &first), Admission::Accepted);
        assert_eq!(admit(&mut pool, &first), Admission::Duplicate);
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn a_full_sender_queue_refuses_that_sender_only() {
        let (alice, bob) = (key(1), key(2));
        let mut pool = Mempool::new(
            MempoolLimits {
                txs_max: 10,
                sender_txs_max: 2,
            },
            7,
        );
        assert_eq!(admit(&mut pool, &tx(&alice, 0)), Admission::Accepted);
        assert_eq!(admit(&mut pool, &tx(&alice, 1)), Admission::Accepted);
        assert_eq!(
            admit(&mut pool, &tx(&alice, 2)),
            Admission::Rejected(AdmissionRejection::SenderQueueFull { limit: 2 })
        );
        assert_eq!(admit(&mut pool, &tx(&bob, 0)), Admission::Accepted);
        assert_eq!(pool.len(), 3);
    }

    #[test]
    fn a_full_pool_refuses_everyone_until_something_leaves() {
        let keys: Vec<SecretKey> = (1..=4).map(key).collect();
        let mut pool = Mempool::new(
            MempoolLimits {
                txs_max: 3,
                sender_txs_max: 10,
            },
            7,
        );
        let txs: Vec<VerifiedTx> = keys.iter().map(|key| tx(key, 0)).collect();
        for tx in &txs[..3] {
            assert_eq!(admit(&mut pool, tx), Admission::Accepted);
        }
        assert_eq!(
            admit(&mut pool, &txs[3]),
            Admission::Rejected(AdmissionRejection::MempoolFull { limit: 3 })
        );
        assert_eq!(pool.len(), 3);
        assert_eq!(pool.remove(&txs[0].hash()), Some(txs[0].clone()));
        assert_eq!(admit(&mut pool, &txs[3]), Admission::Accepted);
    }

    /// The hashes [`Mempool::take_evicted`] gives.
    fn evicted_hashes(pool: &mut Mempool) -> Vec<Hash> {
        pool.take_evicted()
            .iter()
            .map(|evicted| evicted.hash)
            .collect()
    }

    /// A pool of `txs_max` whose senders' queues may hold ten.
    fn pool_of(txs_max: usize) -> Mempool {
        let limits = MempoolLimits {
            txs_max,
            sender_txs_max: 10,
        };
        Mempool::new(limits, 7)
    }

    #[test]
    fn a_full_pool_evicts_what_waits_behind_a_gap_for_what_could_be_next() {
        let (alice, bob, carol, dave, erin) = (key(1), key(2), key(3), key(4), key(5));
        let mut pool = pool_of(3);
        pool.set_next_nonce(alice.address(), 0);
        pool.set_next_nonce(bob.address(), 0);
        let ready = tx(&alice, 0);
        let waiting = [tx(&bob, 2), tx(&bob, 3)];
        for tx in [&ready, &waiting[0], &waiting[1]] {
            assert_eq!(admit(&mut pool, tx), Admission::Accepted);
        }
        assert!(pool.take_evicted().is_empty());
        // A new sender's first transaction and a known sender's next nonce each take the
        // place of Bob's highest waiting nonce.
        let (carols, alices) = (tx(&carol, 0), tx(&alice, 1));
        assert_eq!(admit(&mut pool, &carols), Admission::Accepted);
        assert_eq!(evicted_hashes(&mut pool), vec![waiting[1].hash()]);
        assert_eq!(admit(&mut pool, &alices), Admission::Accepted);
        assert_eq!(evicted_hashes(&mut pool), vec![waiting[0].hash()]);
        assert!(!pool.contains(&waiting[0].hash()) && !pool.contains(&waiting[1].hash()));
        assert_eq!(pool.len(), 3);
        // Nothing waits now: the full pool refuses again, and evicts nothing.
        assert_eq!(
            admit(&mut pool, &tx(&dave, 0)),
            Admission::Rejected(AdmissionRejection::MempoolFull { limit: 3 })
        );
        assert!(pool.take_evicted().is_empty());
        // Carol's next nonce and Erin's first are refused too; the pool holds what can go.
        assert_eq!(
            admit(&mut pool, &tx(&erin, 0)),
            Admission::Rejected(AdmissionRejection::MempoolFull { limit: 3 })
        );
        assert_eq!(pool.candidates(10).len(), 3);
    }

    #[test]
    fn a_pool_that_can_fill_a_block_evicts_nothing() {
        // A busy client's case: its later nonces got in while earlier ones were refused,
        // and it sends those again. A full block is ready, so the pool drains on its own.
        let (alice, bob) = (key(1), key(2));
        let limits = MempoolLimits {
            txs_max: BLOCK_TXS_MAX + 1,
            sender_txs_max: BLOCK_TXS_MAX,
        };
        let mut pool = Mempool::new(limits, 7);
        pool.set_next_nonce(alice.address(), 0);
        pool.set_next_nonce(bob.address(), 0);
        for nonce in 0..BLOCK_TXS_MAX as u64 {
            assert_eq!(admit(&mut pool, &tx(&alice, nonce)), Admission::Accepted);
        }
        let waiting = tx(&bob, 1);
        assert_eq!(admit(&mut pool, &waiting), Admission::Accepted);
        assert_eq!(
            admit(&mut pool, &tx(&bob, 0)),
            Admission::Rejected(AdmissionRejection::MempoolFull {
                limit: BLOCK_TXS_MAX + 1
            })
        );
        assert!(pool.take_evicted().is_empty());
        // One fewer than a block's worth ready (Alice's 0 committed), the pool full again
        // with Bob's 2: Bob's 0 now makes room, and his highest waiting nonce goes.
        assert_eq!(pool.set_next_nonce(alice.address(), 1).len(), 1);
        let highest = tx(&bob, 2);
        assert_eq!(admit(&mut pool, &highest), Admission::Accepted);
        assert_eq!(admit(&mut pool, &tx(&bob, 0)), Admission::Accepted);
        assert_eq!(evicted_hashes(&mut pool), vec![highest.hash()]);
        assert!(pool.contains(&waiting.hash()));
    }

    #[test]
    fn a_transaction_behind_a_gap_evicts_nothing() {
        let (alice, bob) = (key(1), key(2));
        let mut pool = pool_of(2);
        pool.set_next_nonce(alice.address(), 0);
        pool.set_next_nonce(bob.address(), 0);
        let waiting = tx(&bob, 4);
        assert_eq!(admit(&mut pool, &tx(&alice, 0)), Admission::Accepted);
        assert_eq!(admit(&mut pool, &waiting), Admission::Accepted);
        // Alice's nonce 2 would wait behind her missing 1: it may not push Bob's out.
        assert_eq!(
            admit(&mut pool, &tx(&alice, 2)),
            Admission::Rejected(AdmissionRejection::MempoolFull { limit: 2 })
        );
        assert!(pool.take_evicted().is_empty());
        assert!(pool.contains(&waiting.hash()));
    }

    #[test]
    fn a_hole_in_a_queue_makes_the_nonces_after_it_evictable_and_only_those() {
        let (alice, bob, carol) = (key(1), key(2), key(3));
        let mut pool = pool_of(6);
        pool.set_next_nonce(alice.address(), 0);
        let queue = [tx(&alice, 0), tx(&alice, 1), tx(&alice, 3), tx(&alice, 4)];
        // Carol's account nonce is unknown: her 5 and 7 may follow used nonces, or her 5 may
        // be her next, so her hole says nothing about her 7.
        let unknown = [tx(&carol, 5), tx(&carol, 7)];
        for tx in queue.iter().chain(&unknown) {
            assert_eq!(admit(&mut pool, tx), Admission::Accepted);
        }
        for (bobs, evicted) in [(0, &queue[3]), (1, &queue[2])] {
            assert_eq!(admit(&mut pool, &tx(&bob, bobs)), Admission::Accepted);
            assert_eq!(evicted_hashes(&mut pool), vec![evicted.hash()]);
        }
        assert_eq!(
            admit(&mut pool, &tx(&bob, 2)),
            Admission::Rejected(AdmissionRejection::MempoolFull { limit: 6 })
        );
        assert!(pool.contains(&queue[0].hash()) && pool.contains(&queue[1].hash()));
        assert!(pool.contains(&unknown[0].hash()) && pool.contains(&unknown[1].hash()));
    }

    #[test]
    fn a_queue_that_waited_and_no_longer_does_is_not_evicted_from() {
        let (alice, bob) = (key(1), key(2));
        let mut pool = pool_of(3);
        pool.set_next_nonce(alice.address(), 0);
        // Alice's 1 waits behind her 0 until the 0 comes.
        assert_eq!(admit(&mut pool, &tx(&alice, 1)), Admission::Accepted);
        assert_eq!(admit(&mut pool, &tx(&alice, 0)), Admission::Accepted);
        assert_eq!(admit(&mut pool, &tx(&bob, 0)), Admission::Accepted);
        pool.forget_idle_senders();
        assert_eq!(
            admit(&mut pool, &tx(&key(3), 0)),
            Admission::Rejected(AdmissionRejection::MempoolFull { limit: 3 })
        );
        assert!(pool.take_evicted().is_empty());
    }

    #[test]
    fn every_rejection_has_its_code_and_only_load_is_capacity() {
        let cases = [
            (
                AdmissionRejection::FeeTooLow {
                    offered: 1,
                    base_fee: 2,
                },
                "fee_too_low",
                false,
            ),
            (
                AdmissionRejection::NonceTooLow {
                    expected: 2,
                    got: 1,
                },
                "nonce_too_low",
                false,
            ),
            (
                AdmissionRejection::NonceTooFarAhead {
                    expected: 0,
                    got: 9,
                    gap_max: 8,
                },
                "nonce_too_far_ahead",
                false,
            ),
            (
                AdmissionRejection::NonceAlreadyPending { nonce: 0 },
                "nonce_already_pending",
                false,
            ),
            (
                AdmissionRejection::SenderQueueFull { limit: 1 },
                "sender_queue_full",
                true,
            ),
            (
                AdmissionRejection::MempoolFull { limit: 1 },
                "mempool_full",
                true,
            ),
        ];
        for (rejection, code, capacity) in cases {
            assert_eq!(rejection.code(), code);
            assert_eq!(rejection.is_capacity(), capacity, "{code}");
        }
    }

    #[test]
    fn candidates_are_contiguous_runs_from_the_next_nonce() {
        let (alice, bob) = (key(1), key(2));
        let mut pool = pool();
        for nonce in [0, 1, 3] {
            admit(&mut pool, &tx(&alice, nonce));
        }
        // Bob's next nonce is known to be 0; 1 and 2 wait for it.
        pool.set_next_nonce(bob.address(), 0);
        for nonce in [1, 2] {
            admit(&mut pool, &tx(&bob, nonce));
        }
        assert_eq!(
            nonces_and_senders(&pool.candidates(100)),
            vec![(alice.address(), 0), (alice.address(), 1)]
        );
        assert!(pool.has_ready(2));
        assert!(!pool.has_ready(3));
        // Bob's gap is filled: his whole run becomes ready.
        admit(&mut pool, &tx(&bob, 0));
        assert_eq!(
            nonces_and_senders(&pool.candidates(100)),
            vec![
                (alice.address(), 0),
                (alice.address(), 1),
                (bob.address(), 0),
                (bob.address(), 1),
                (bob.address(), 2)
            ]
        );
        assert!(pool.has_ready(5));
        assert!(!pool.has_ready(6));
    }

    #[test]
    fn a_sender_with_an_unknown_next_nonce_is_ready_from_its_lowest_nonce() {
        let alice = key(1);
        let mut pool = pool();
        admit(&mut pool, &tx(&alice, 5));
        admit(&mut pool, &tx(&alice, 6));
        assert_eq!(
            nonces_and_senders(&pool.candidates(10)),
            vec![(alice.address(), 5), (alice.address(), 6)]
        );
        // Once the account nonce is known to be lower, the run waits for the gap.
        assert!(pool.set_next_nonce(alice.address(), 4).is_empty());
        assert!(pool.candidates(10).is_empty());
        assert!(!pool.has_ready(1));
    }

    /// Six senders arriving in a fixed order, each with one transaction, Alice with two.
    fn arrival_order_pool(seed: u64) -> (Mempool, Vec<Address>) {
        let keys: Vec<SecretKey> = (11..17).map(key).collect();
        let mut pool = Mempool::new(MempoolLimits::default(), seed);
        for key in &keys {
            assert_eq!(admit(&mut pool, &tx(key, 0)), Admission::Accepted);
        }
        // The first sender's second transaction arrives last but travels with its run.
        assert_eq!(admit(&mut pool, &tx(&keys[0], 1)), Admission::Accepted);
        (pool, keys.iter().map(SecretKey::address).collect())
    }

    #[test]
    fn candidates_order_senders_by_arrival_and_respect_count_max() {
        for seed in [0, 1, 0xdead_beef] {
            let (pool, senders) = arrival_order_pool(seed);
            let mut expected = vec![(senders[0], 0), (senders[0], 1)];
            expected.extend(senders[1..].iter().map(|sender| (*sender, 0)));
            assert_eq!(nonces_and_senders(&pool.candidates(100)), expected);
            assert_eq!(nonces_and_senders(&pool.candidates(3)), expected[..3]);
            assert!(pool.candidates(0).is_empty());
        }
    }

    #[test]
    fn a_sender_whose_gap_is_filled_later_queues_behind_earlier_ready_senders() {
        let (alice, bob) = (key(1), key(2));
        let mut pool = pool();
        pool.set_next_nonce(alice.address(), 0);
        admit(&mut pool, &tx(&alice, 1));
        admit(&mut pool, &tx(&bob, 0));
        admit(&mut pool, &tx(&alice, 0));
        assert_eq!(
            nonces_and_senders(&pool.candidates(10)),
            vec![
                (bob.address(), 0),
                (alice.address(), 0),
                (alice.address(), 1)
            ]
        );
    }

    #[test]
    fn pending_nonce_is_one_past_the_ready_run_or_the_known_nonce() {
        let (alice, bob) = (key(1), key(2));
        let mut pool = pool();
        assert_eq!(pool.pending_nonce(&alice.address()), None);
        pool.set_next_nonce(alice.address(), 4);
        assert_eq!(pool.pending_nonce(&alice.address()), Some(4));
        for nonce in [4, 5, 7] {
            admit(&mut pool, &tx(&alice, nonce));
        }
        assert_eq!(pool.pending_nonce(&alice.address()), Some(6));
        // A sender waiting for a gap: the next nonce to send is the known one.
        pool.set_next_nonce(bob.address(), 1);
        admit(&mut pool, &tx(&bob, 3));
        assert_eq!(pool.pending_nonce(&bob.address()), Some(1));
    }

    #[test]
    fn set_next_nonce_removes_and_returns_exactly_the_stale_transactions() {
        let alice = key(1);
        let mut pool = pool();
        let txs: Vec<VerifiedTx> = (0..4).map(|nonce| tx(&alice, nonce)).collect();
        for tx in &txs {
            admit(&mut pool, tx);
        }
        let stale = pool.set_next_nonce(alice.address(), 2);
        assert_eq!(stale, vec![(txs[0].hash(), 0), (txs[1].hash(), 1)]);
        assert_eq!(pool.len(), 2);
        assert!(!pool.contains(&txs[0].hash()) && !pool.contains(&txs[1].hash()));
        assert_eq!(
            nonces_and_senders(&pool.candidates(10)),
            vec![(alice.address(), 2), (alice.address(), 3)]
        );
        assert_eq!(pool.iter().count(), 2);
        // Learning the same nonce again removes nothing more.
        assert!(pool.set_next_nonce(alice.address(), 2).is_empty());
        // The stale nonce cannot come back.
        assert_eq!(
            admit(&mut pool, &txs[1]),
            Admission::Rejected(AdmissionRejection::NonceTooLow {
                expected: 2,
                got: 1
            })
        );
    }

    #[test]
    fn remove_takes_one_transaction_out_and_breaks_the_run_behind_it() {
        let alice = key(1);
        let mut pool = pool();
        let txs: Vec<VerifiedTx> = (0..3).map(|nonce| tx(&alice, nonce)).collect();
        for tx in &txs {
            admit(&mut pool, tx);
        }
        assert_eq!(pool.remove(&txs[1].hash()), Some(txs[1].clone()));
        assert_eq!(pool.remove(&txs[1].hash()), None);
        assert_eq!(pool.remove(&Hash::ZERO), None);
        assert_eq!(pool.len(), 2);
        assert_eq!(
            nonces_and_senders(&pool.candidates(10)),
            vec![(alice.address(), 0)]
        );
        assert_eq!(pool.pending_nonce(&alice.address()), Some(1));
        // Removing the last one of a sender with no known nonce forgets the sender.
        pool.remove(&txs[0].hash());
        pool.remove(&txs[2].hash());
        assert!(pool.is_empty());
        assert_eq!(pool.pending_nonce(&alice.address()), None);
    }

    #[test]
    fn has_ready_counts_ready_transactions_across_senders() {
        let (alice, bob, carol) = (key(1), key(2), key(3));
        let mut pool = pool();
        assert!(!pool.has_ready(1));
        admit(&mut pool, &tx(&alice, 0));
        admit(&mut pool, &tx(&alice, 1));
        admit(&mut pool, &tx(&bob, 0));
        pool.set_next_nonce(carol.address(), 0);
        admit(&mut pool, &tx(&carol, 5));
        assert_eq!(pool.len(), 4);
        assert!(pool.has_ready(3));
        assert!(!pool.has_ready(4));
    }

    #[test]
    fn forgetting_idle_senders_keeps_those_with_pending_transactions() {
        let (alice, bob) = (key(1), key(2));
        let mut pool = pool();
        pool.set_next_nonce(alice.address(), 3);
        admit(&mut pool, &tx(&alice, 3));
        pool.set_next_nonce(bob.address(), 9);
        pool.forget_idle_senders();
        assert_eq!(pool.pending_nonce(&bob.address()), None);
        assert_eq!(pool.pending_nonce(&alice.address()), Some(4));
        // Alice's known nonce still guards admission.
        assert_eq!(
            admit(&mut pool, &tx(&alice, 2)),
            Admission::Rejected(AdmissionRejection::NonceTooLow {
                expected: 3,
                got: 2
            })
        );
        // Bob's is forgotten: an old nonce is queued again (execution will drop it).
        assert_eq!(admit(&mut pool, &tx(&bob, 0)), Admission::Accepted);
    }

    #[test]
    fn pools_with_different_seeds_behave_identically() {
        let keys: Vec<SecretKey> = (1..=5).map(key).collect();
        let mut script = Vec::new();
        for (index, key) in keys.iter().enumerate() {
            for nonce in [2, 0, 1, 1, 4, 5] {
                script.push(tx(key, nonce + index as u64 % 2));
            }
        }
        let limits = MempoolLimits {
            txs_max: 14,
            sender_txs_max: 4,
        };
        let mut pools = [
            Mempool::new(limits, 1),
            Mempool::new(limits, 0x0123_4567_89ab_cdef),
        ];
        let results: Vec<_> = pools
            .iter_mut()
            .map(|pool| {
                for key in &keys[..3] {
                    pool.set_next_nonce(key.address(), 0);
                }
                let admissions: Vec<Admission> = script.iter().map(|tx| admit(pool, tx)).collect();
                let evicted = pool.take_evicted();
                let before = pool.candidates(usize::MAX);
                let stale = pool.set_next_nonce(keys[1].address(), 2);
                let after = pool.candidates(7);
                let pending: Vec<Option<u64>> = keys
                    .iter()
                    .map(|key| pool.pending_nonce(&key.address()))
                    .collect();
                (
                    admissions,
                    evicted,
                    before,
                    stale,
                    after,
                    pending,
                    pool.len(),
                )
            })
            .collect();
        assert_eq!(results[0], results[1]);
        assert!(!results[0].1.is_empty(), "the full pool evicted");
        // The script exercised more than acceptance.
        assert!(
            results[0]
                .0
                .iter()
                .any(|admission| matches!(admission, Admission::Rejected(_)))
        );
        assert!(results[0].0.contains(&Admission::Duplicate));
    }
}
