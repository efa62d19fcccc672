//! Executing a block: the one function that turns a parent state and transactions into a new
//! state, receipts and per-shard write sets.
//!
//! The sequencer runs it on candidate transactions to decide which go into a block; every
//! validator runs it again on the proposed block and requires identical roots. It reads state
//! only from a [`Witness`] verified against the parent's state root, so it needs no storage.
//!
//! Rules:
//! - Gas used is always [`TRANSFER_GAS`]; the fee is `TRANSFER_GAS × effective gas price`, where
//!   the base fee is the chain's fixed `base_fee_per_gas`. Fees are credited to the fee
//!   recipient once, after the last transaction of the block; nothing is burned, so total supply
//!   is conserved.
//! - A transaction is included only if it succeeds. Its sender must hold
//!   `gas_limit × max_fee_per_gas + value` (Ethereum's up-front check) and its nonce must equal
//!   the account's nonce. Otherwise it is excluded with an [`Exclusion`]: nonce too low, fee
//!   below the base fee and cannot pay are final; nonce ahead means it waits.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::block::{BlockFormat, Receipt};
use crate::genesis::ChainConfig;
use crate::limits::BLOCK_TXS_MAX;
use crate::primitives::{Address, Hash, U256, u256_bytes};
use crate::state::{Account, ShardIndex};
use crate::transaction::{TRANSFER_GAS, VerifiedTx};
use crate::trie::{TrieError, Witness};

/// Why a transaction was left out of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Exclusion {
    /// The account already used this nonce. Final.
    #[error("nonce too low: account nonce is {expected}, got {got}")]
    NonceTooLow {
        /// The account's nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// An earlier nonce of the sender is still missing. The transaction waits.
    #[error("nonce ahead: account nonce is {expected}, got {got}")]
    NonceAhead {
        /// The account's nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// The fee cap does not cover the base fee. Final.
    #[error("max fee per gas is below the base fee {base_fee}")]
    FeeTooLow {
        /// The chain's base fee per gas.
        base_fee: u128,
    },
    /// The sender cannot pay `gas_limit × max_fee_per_gas + value`. Final.
    #[error("insufficient funds for gas * price + value: balance {balance}, cost {cost}")]
    InsufficientFunds {
        /// The sender's balance.
        #[serde(with = "u256_bytes")]
        balance: U256,
        /// What the transaction needs up front.
        #[serde(with = "u256_bytes")]
        cost: U256,
    },
    /// Not an execution outcome: the transaction waited behind a nonce gap of its sender when
    /// the mempool was full, and made room for one that could go into a block. Final.
    #[error("evicted from the full mempool while it waited behind a nonce gap")]
    Evicted,
}

impl Exclusion {
    /// True when the transaction can never be included and should be dropped.
    pub const fn is_final(&self) -> bool {
        !matches!(self, Self::NonceAhead { .. })
    }

    /// Stable snake_case machine code for API errors and transaction status.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::NonceTooLow { .. } => "nonce_too_low",
            Self::NonceAhead { .. } => "nonce_ahead",
            Self::FeeTooLow { .. } => "fee_too_low",
            Self::InsufficientFunds { .. } => "insufficient_funds",
            Self::Evicted => "evicted",
        }
    }
}

/// Why a block could not be executed at all (as opposed to a transaction being excluded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecutionError {
    /// More transactions than [`BLOCK_TXS_MAX`].
    #[error("{got} transactions exceed the block limit of {max}")]
    TooManyTransactions {
        /// Transactions given.
        got: usize,
        /// Largest allowed.
        max: usize,
    },
    /// The witness does not match the parent state or lacks an account the block touches.
    #[error("witness: {0}")]
    Witness(#[from] TrieError),
    /// A balance would exceed 2^256 - 1, which conservation of a valid genesis rules out.
    #[error("balance overflow for {0}")]
    BalanceOverflow(Address),
}

/// Result alias for execution.
pub type ExecutionResult<T> = Result<T, ExecutionError>;

/// The accounts one block changes in one shard, with the shard's roots before and after.
///
/// A shard applies it only on top of `base_root` and only if the result is `new_root`, so
/// write sets applied out of order or corrupted in transit are refused, and applying one twice
/// (same `height`) is a no-op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteSet {
    /// Height of the block that made these writes.
    pub height: u64,
    /// The shard written.
    pub shard: ShardIndex,
    /// The shard's root before the block.
    pub base_root: Hash,
    /// The shard's root after the block.
    pub new_root: Hash,
    /// New state of every changed account, sorted by address.
    pub accounts: Vec<(Address, Account)>,
}

/// The result of executing a list of candidate transactions on a parent state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// Indices (into the input) of the included transactions, in block order.
    pub included: Vec<usize>,
    /// One receipt per included transaction.
    pub receipts: Vec<Receipt>,
    /// Transactions left out, with why.
    pub excluded: Vec<(Hash, Exclusion)>,
    /// State root after the block.
    pub state_root: Hash,
    /// Per touched shard, what to write.
    pub write_sets: BTreeMap<ShardIndex, WriteSet>,
    /// The format whose trees the two roots below follow.
    pub format: BlockFormat,
    /// Merkle root over the included transactions' hashes.
    pub transactions_root: Hash,
    /// Merkle root over the receipts.
    pub receipts_root: Hash,
    /// The witness after the block's writes: proofs of every touched account against the
    /// new roots, from which the next block's witness is built before this one is committed
    /// ([`Witness::carried_forward`]).
    pub post_state: Witness,
}

impl Execution {
    /// Every shard's root after the block.
    pub fn shard_roots(&self) -> &[Hash] {
        &self.post_state.shard_roots
    }
}

/// Accounts as the block sees them: loaded from the witness on first touch.
struct WorkingState {
    witness: Witness,
    accounts: BTreeMap<Address, Account>,
    original: BTreeMap<Address, Account>,
}

impl WorkingState {
    fn account(&mut self, address: Address) -> ExecutionResult<Account> {
        if let Some(account) = self.accounts.get(&address) {
            return Ok(*account);
        }
        let account = self.witness.get(&address)?.unwrap_or_default();
        self.accounts.insert(address, account);
        self.original.insert(address, account);
        Ok(account)
    }

    fn set(&mut self, address: Address, account: Account) {
        self.accounts.insert(address, account);
    }

    fn credit(&mut self, address: Address, amount: U256) -> ExecutionResult<()> {
        let mut account = self.account(address)?;
        account.balance = account
            .balance
            .checked_add(amount)
            .ok_or(ExecutionError::BalanceOverflow(address))?;
        self.set(address, account);
        Ok(())
    }

    /// The accounts whose state differs from the parent's.
    fn changed(&self) -> BTreeMap<Address, Account> {
        self.accounts
            .iter()
            .filter(|(address, account)| self.original.get(address) != Some(account))
            .map(|(address, account)| (*address, *account))
            .collect()
    }
}

/// What an included transaction did.
struct Applied {
    effective_gas_price: u128,
    fee: U256,
}

/// Executes `txs` in order on the state proven by `witness` (which must match
/// `parent_state_root`) for the block at `height`, whose roots follow `format`.
pub fn execute(
    config: &ChainConfig,
    parent_state_root: &Hash,
    height: u64,
    format: BlockFormat,
    txs: &[VerifiedTx],
    witness: Witness,
) -> ExecutionResult<Execution> {
    if txs.len() > BLOCK_TXS_MAX {
        return Err(ExecutionError::TooManyTransactions {
            got: txs.len(),
            max: BLOCK_TXS_MAX,
        });
    }
    witness.verify(parent_state_root)?;
    let base_shard_roots = witness.shard_roots.clone();
    let mut state = WorkingState {
        witness,
        accounts: BTreeMap::new(),
        original: BTreeMap::new(),
    };
    let mut included = Vec::new();
    let mut receipts = Vec::new();
    let mut excluded = Vec::new();
    let mut fees = U256::ZERO;
    for (position, tx) in txs.iter().enumerate() {
        match apply_transfer(config, &mut state, tx)? {
            Ok(applied) => {
                fees += applied.fee;
                receipts.push(receipt(tx, receipts.len(), &applied));
                included.push(position);
            }
            Err(exclusion) => excluded.push((tx.hash(), exclusion)),
        }
    }
    if fees > U256::ZERO {
        state.credit(config.fee_recipient, fees)?;
    }
    let changed = state.changed();
    let mut witness = state.witness;
    let state_root = witness.update(&changed)?;
    let write_sets = write_sets(
        config,
        height,
        &base_shard_roots,
        &witness.shard_roots,
        changed,
    );
    let tx_hashes: Vec<Hash> = included.iter().map(|index| txs[*index].hash()).collect();
    Ok(Execution {
        included,
        format,
        transactions_root: format.transactions_root(&tx_hashes),
        receipts_root: format.receipts_root(&receipts),
        receipts,
        excluded,
        state_root,
        write_sets,
        post_state: witness,
    })
}

/// Applies one transfer to the working state, or says why it cannot be included.
/// The outer error is a block-level failure (witness incomplete); the inner one an exclusion.
fn apply_transfer(
    config: &ChainConfig,
    state: &mut WorkingState,
    tx: &VerifiedTx,
) -> ExecutionResult<Result<Applied, Exclusion>> {
    let transfer = tx.transfer();
    let mut sender = state.account(tx.sender)?;
    if transfer.nonce < sender.nonce {
        return Ok(Err(Exclusion::NonceTooLow {
            expected: sender.nonce,
            got: transfer.nonce,
        }));
    }
    if transfer.nonce > sender.nonce {
        return Ok(Err(Exclusion::NonceAhead {
            expected: sender.nonce,
            got: transfer.nonce,
        }));
    }
    let Some(effective_gas_price) = transfer.effective_gas_price(config.base_fee_per_gas) else {
        return Ok(Err(Exclusion::FeeTooLow {
            base_fee: config.base_fee_per_gas,
        }));
    };
    let cost = transfer.max_cost();
    let fee = U256::from(TRANSFER_GAS) * U256::from(effective_gas_price);
    // For a decoded transfer (gas limit ≥ 21,000, effective price ≤ max fee) the debit is at
    // most the up-front cost; checked anyway, so a transfer built by hand can never wrap a
    // balance or a nonce.
    let debit = fee.checked_add(transfer.value);
    let Some(remaining) = debit.and_then(|debit| sender.balance.checked_sub(debit)) else {
        return Ok(Err(Exclusion::InsufficientFunds {
            balance: sender.balance,
            cost: cost.max(debit.unwrap_or(U256::MAX)),
        }));
    };
    let Some(next_nonce) = sender.nonce.checked_add(1) else {
        // Unreachable for decoded transfers: decode refuses nonce 2^64 - 1 (EIP-2681), and
        // this transfer's nonce equals the account's. The account can never send again.
        return Ok(Err(Exclusion::NonceTooLow {
            expected: sender.nonce,
            got: transfer.nonce,
        }));
    };
    if sender.balance < cost {
        return Ok(Err(Exclusion::InsufficientFunds {
            balance: sender.balance,
            cost,
        }));
    }
    sender.balance = remaining;
    sender.nonce = next_nonce;
    state.set(tx.sender, sender);
    state.credit(transfer.to, transfer.value)?;
    Ok(Ok(Applied {
        effective_gas_price,
        fee,
    }))
}

fn receipt(tx: &VerifiedTx, index: usize, applied: &Applied) -> Receipt {
    let transfer = tx.transfer();
    Receipt {
        tx_hash: tx.hash(),
        // At most BLOCK_TXS_MAX receipts, far below u32::MAX.
        index: index as u32,
        sender: tx.sender,
        to: transfer.to,
        nonce: transfer.nonce,
        value: transfer.value,
        gas_used: TRANSFER_GAS,
        effective_gas_price: applied.effective_gas_price,
        fee: applied.fee,
    }
}

/// Groups the changed accounts by shard, with each shard's roots before and after.
fn write_sets(
    config: &ChainConfig,
    height: u64,
    base_roots: &[Hash],
    new_roots: &[Hash],
    changed: BTreeMap<Address, Account>,
) -> BTreeMap<ShardIndex, WriteSet> {
    let layout = config.layout();
    let mut sets: BTreeMap<ShardIndex, WriteSet> = BTreeMap::new();
    for (address, account) in changed {
        let shard = layout.shard_of(&address);
        sets.entry(shard)
            .or_insert_with(|| WriteSet {
                height,
                shard,
                base_root: base_roots[usize::from(shard)],
                new_root: new_roots[usize::from(shard)],
                accounts: Vec::new(),
            })
            .accounts
            .push((address, account));
    }
    sets
}

/// Every address a list of transactions may read or write, plus the fee recipient: what the
/// sequencer asks the shards to prove before it executes them.
pub fn touched_addresses(config: &ChainConfig, txs: &[VerifiedTx]) -> Vec<Address> {
    let mut addresses: Vec<Address> = txs
        .iter()
        .flat_map(|tx| [tx.sender, tx.transfer().to])
        .chain(std::iter::once(config.fee_recipient))
        .collect();
    addresses.sort_unstable();
    addresses.dedup();
    addresses
}

#[cfg(test)]
pub(crate) mod tests;
