//! The clients: users signing transfers from what they can read (committed state and the
//! pending nonce), sometimes carelessly or maliciously: nonce gaps, stale nonces that try to
//! spend twice, overdrafts, fees below the base fee, and old transactions sent again.

use ledger::mempool::Mempool;
use ledger::random::SplitMix64;
use ledger::shard::{MemoryShardStore, Shard};
use ledger::signature::SecretKey;
use ledger::transaction::{Transfer, TxKind, VerifiedTx, WireTx};
use ledger::{Account, Address, ShardLayout, U256};

/// Transactions one submission carries at most.
const BATCH_TXS_MAX: u64 = 8;
/// Old transactions kept for sending again.
const RESENDABLE_MAX: usize = 512;

/// What a client can read through the API.
pub(crate) struct View<'a> {
    /// The shard layout.
    pub(crate) layout: ShardLayout,
    /// The shards (committed state).
    pub(crate) shards: &'a [Shard<MemoryShardStore>],
    /// The sequencer's mempool (for the pending nonce).
    pub(crate) mempool: &'a Mempool,
}

impl View<'_> {
    fn account(&self, address: &Address) -> Account {
        let shard = &self.shards[usize::from(self.layout.shard_of(address))];
        shard
            .account(address)
            .expect("an address's own shard")
            .unwrap_or_default()
    }
}

/// The users of the chain and what they signed.
pub(crate) struct Workload {
    chain_id: u64,
    base_fee_per_gas: u128,
    users: Vec<SecretKey>,
    resendable: Vec<VerifiedTx>,
}

impl Workload {
    /// Clients holding the keys of `users`.
    pub(crate) fn new(chain_id: u64, base_fee_per_gas: u128, users: Vec<SecretKey>) -> Self {
        Self {
            chain_id,
            base_fee_per_gas,
            users,
            resendable: Vec::new(),
        }
    }

    /// One submission's transactions.
    pub(crate) fn batch(&mut self, random: &mut SplitMix64, view: &View<'_>) -> Vec<VerifiedTx> {
        let count = 1 + random.below(BATCH_TXS_MAX);
        (0..count).map(|_| self.transaction(random, view)).collect()
    }

    fn transaction(&mut self, random: &mut SplitMix64, view: &View<'_>) -> VerifiedTx {
        if !self.resendable.is_empty() && random.chance(12) {
            // Sent again: pending, committed, dropped or refused before.
            return random.pick(&self.resendable).clone();
        }
        let sender = random.pick(&self.users).clone();
        let account = view.account(&sender.address());
        let transfer = self.transfer(random, view, &sender, account);
        let signed = transfer.sign(&sender);
        // As the front door sends it: with the nonce y its recovery works out.
        let nonce_y = signed.signature().nonce_y().expect("own signature");
        let tx = WireTx {
            raw: signed.raw().to_vec(),
            public_key: sender.public_key(),
            nonce_y: Some(nonce_y),
        }
        .decode_trusted(self.chain_id)
        .expect("own transfer decodes");
        if self.resendable.len() < RESENDABLE_MAX {
            self.resendable.push(tx.clone());
        } else {
            let index = random.below(RESENDABLE_MAX as u64) as usize;
            self.resendable[index] = tx.clone();
        }
        tx
    }

    fn transfer(
        &self,
        random: &mut SplitMix64,
        view: &View<'_>,
        sender: &SecretKey,
        account: Account,
    ) -> Transfer {
        let pending = view.mempool.pending_nonce(&sender.address());
        let mut nonce = pending.unwrap_or(account.nonce).max(account.nonce);
        let roll = random.below(100);
        if roll < 15 {
            nonce += 1 + random.below(2); // a gap: waits until filled
        } else if roll < 22 && account.nonce > 0 {
            nonce = account.nonce - 1 - random.below(account.nonce.min(3)); // spent already
        }
        let kind = *random.pick(&[TxKind::Legacy, TxKind::AccessList, TxKind::DynamicFee]);
        let max_fee_per_gas = if random.chance(4) {
            self.base_fee_per_gas - 1 // below the base fee
        } else {
            self.base_fee_per_gas + u128::from(random.below(5))
        };
        let gas_limit = 21_000 + random.below(3) * 1_000;
        let fee_max = U256::from(gas_limit) * U256::from(max_fee_per_gas);
        let value = match random.below(100) {
            0..20 => account.balance + U256::from(1u64), // cannot pay
            20..25 => account.balance.saturating_sub(fee_max), // everything it can
            _ => U256::from(random.below(1_000_000_000_000)),
        };
        let to = if random.chance(25) {
            Address(random_bytes(random)) // often a brand-new account
        } else {
            random.pick(&self.users).address()
        };
        Transfer {
            kind,
            chain_id: self.chain_id,
            nonce,
            max_fee_per_gas,
            max_priority_fee_per_gas: if kind == TxKind::DynamicFee {
                u128::from(random.below(3))
            } else {
                max_fee_per_gas
            },
            gas_limit,
            to,
            value,
        }
    }
}

fn random_bytes<const N: usize>(random: &mut SplitMix64) -> [u8; N] {
    let mut bytes = [0u8; N];
    for chunk in bytes.chunks_mut(8) {
        let word = random.next_u64().to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
    bytes
}

/// A secret key from the generator (never zero, always below the curve order).
pub(crate) fn random_key(random: &mut SplitMix64) -> SecretKey {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&random.next_u64().to_be_bytes());
    bytes[31] = 1;
    SecretKey::from_bytes(&bytes).expect("keys below 2^255 are valid")
}
