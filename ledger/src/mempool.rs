//! The sequencer's mempool: verified transactions waiting for a block, queued per sender by nonce.
//!
//! Admission is where a client learns the fate of a submission, so every refusal is a typed
//! [`AdmissionRejection`]. The pool is bounded in total and per sender; the in-memory indexes use
//! `xxhash64` seeded with entropy the caller passes in, so an attacker cannot aim transaction
//! hashes or addresses at one hash bucket.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use twox_hash::xxhash64;

use crate::limits::{MEMPOOL_TXS_MAX, NONCE_GAP_MAX, SENDER_QUEUE_TXS_MAX};
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
    by_nonce: BTreeMap<u64, Queued>,
    /// The account's nonce in the last committed state, if the sequencer has seen it.
    next_nonce: Option<u64>,
}

impl SenderQueue {
    /// The contiguous run of nonces that could go into the next block, if the lowest pending
    /// nonce is the account's next nonce (or the next nonce is not known yet).
    fn ready_run(&self) -> impl Iterator<Item = &Queued> {
        let first = self.by_nonce.keys().next().copied();
        let ready = match (first, self.next_nonce) {
            (Some(first), Some(next)) => first == next,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let mut expected = first.unwrap_or(0);
        self.by_nonce
            .iter()
            .take_while(move |(nonce, _)| {
                let contiguous = ready && **nonce == expected;
                expected = expected.wrapping_add(1);
                contiguous
            })
            .map(|(_, queued)| queued)
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
        }
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
        let queued = self.senders.get(sender)?.by_nonce.get(nonce)?;
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

    /// Checks and queues one verified transaction.
    pub fn admit(&mut self, tx: VerifiedTx, base_fee_per_gas: u128) -> Admission {
        let hash = tx.hash();
        if self.by_hash.contains_key(&hash) {
            return Admission::Duplicate;
        }
        if let Err(rejection) = self.check(&tx, base_fee_per_gas) {
            return Admission::Rejected(rejection);
        }
        let arrival = self.next_arrival;
        self.next_arrival += 1;
        let (sender, nonce) = (tx.sender, tx.nonce());
        self.by_hash.insert(hash, (sender, nonce));
        self.senders
            .entry(sender)
            .or_default()
            .by_nonce
            .insert(nonce, Queued { tx, arrival });
        Admission::Accepted
    }

    /// Every admission rule, in the order a client would want to hear about them.
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
        if queue.is_some_and(|queue| queue.by_nonce.contains_key(&nonce)) {
            return Err(AdmissionRejection::NonceAlreadyPending { nonce });
        }
        if pending >= self.limits.sender_txs_max {
            return Err(AdmissionRejection::SenderQueueFull {
                limit: self.limits.sender_txs_max,
            });
        }
        if self.len() >= self.limits.txs_max {
            return Err(AdmissionRejection::MempoolFull {
                limit: self.limits.txs_max,
            });
        }
        Ok(())
    }

    /// Up to `count_max` transactions that could go into the next block: for each sender, the
    /// contiguous nonce run starting at its next nonce; senders in the order their oldest ready
    /// transaction arrived, so no sender starves the others for long.
    pub fn candidates(&self, count_max: usize) -> Vec<VerifiedTx> {
        let mut runs: Vec<(u64, &SenderQueue)> = self
            .senders
            .values()
            .filter_map(|queue| queue.ready_run().next().map(|first| (first.arrival, queue)))
            .collect();
        runs.sort_unstable_by_key(|(arrival, _)| *arrival);
        runs.iter()
            .flat_map(|(_, queue)| queue.ready_run())
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
        let queue = self.senders.get_mut(&sender)?;
        let removed = queue.by_nonce.remove(&nonce).map(|queued| queued.tx);
        if queue.by_nonce.is_empty() && queue.next_nonce.is_none() {
            self.senders.remove(&sender);
        }
        removed
    }

    /// Records a sender's next nonce from committed state and removes every pending
    /// transaction it makes stale (nonce below it), returning their hashes and nonces so their
    /// rejection can be recorded.
    pub fn set_next_nonce(&mut self, sender: Address, next_nonce: u64) -> Vec<(Hash, u64)> {
        let queue = self.senders.entry(sender).or_default();
        queue.next_nonce = Some(next_nonce);
        let stale: Vec<u64> = queue
            .by_nonce
            .range(..next_nonce)
            .map(|(nonce, _)| *nonce)
            .collect();
        let mut removed = Vec::with_capacity(stale.len());
        for nonce in stale {
            if let Some(queued) = queue.by_nonce.remove(&nonce) {
                let hash = queued.tx.hash();
                self.by_hash.remove(&hash);
                removed.push((hash, nonce));
            }
        }
        removed
    }

    /// Forgets known account nonces for senders with nothing pending, bounding memory: the
    /// nonce cache is an optimisation (rejecting stale nonces early), never needed for safety.
    pub fn forget_idle_senders(&mut self) {
        self.senders.retain(|_, queue| !queue.by_nonce.is_empty());
    }

    /// Every pending transaction, in no particular order (for persistence checks and tests).
    pub fn iter(&self) -> impl Iterator<Item = &VerifiedTx> {
        self.senders
            .values()
            .flat_map(|queue| queue.by_nonce.values().map(|queued| &queued.tx))
    }
}
