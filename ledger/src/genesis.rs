//! The chain's configuration and its first block.
//!
//! A genesis fixes everything that cannot change later: chain id, shard layout, validator set,
//! the proposer identity recorded in headers, fee recipient and base fee, and the funded
//! accounts. Its header (height 0) is the root of trust: validators are configured with its
//! hash and accept height 1 only on top of it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::block::Header;
use crate::consensus::ValidatorSet;
use crate::limits::{BATCH_WINDOW_MS_MAX, GENESIS_ACCOUNTS_MAX};
use crate::primitives::{Address, Hash, U256, u256_bytes};
use crate::state::{Account, ShardIndex, ShardLayout};
use crate::trie::{MemoryTrieStore, NodePosition, Trie, TrieError, root_over_shards};

/// Why a genesis is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// Chain id 0 is refused: EIP-155 needs a non-zero chain id.
    #[error("chain id must not be zero")]
    ZeroChainId,
    /// More funded accounts than [`GENESIS_ACCOUNTS_MAX`].
    #[error("{got} genesis accounts exceed the maximum of {max}")]
    TooManyAccounts {
        /// Accounts listed.
        got: usize,
        /// Largest allowed.
        max: usize,
    },
    /// An address is funded twice.
    #[error("account {0} is listed twice")]
    DuplicateAccount(Address),
    /// The balances add up to more than 2^256 - 1.
    #[error("total supply overflows 256 bits")]
    SupplyOverflow,
    /// The batching window is longer than [`BATCH_WINDOW_MS_MAX`].
    #[error("batch window {got} ms exceeds the maximum of {max} ms")]
    BatchWindow {
        /// Window configured.
        got: u64,
        /// Largest allowed.
        max: u64,
    },
    /// Building the genesis state failed.
    #[error("building the genesis state: {0}")]
    Trie(#[from] TrieError),
}

/// Result alias for genesis checks.
pub type GenesisResult<T> = Result<T, GenesisError>;

/// Chain parameters fixed at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainConfig {
    /// EIP-155 chain id; every transaction must be signed for it.
    pub chain_id: u64,
    /// The shard layout, as `shard_bits` (shard count = 2^shard_bits).
    pub shard_bits: ShardLayout,
    /// The validators whose votes certify blocks.
    pub validators: ValidatorSet,
    /// The proposer identity written into every header.
    pub proposer: Address,
    /// The account credited with transaction fees.
    pub fee_recipient: Address,
    /// The fixed base fee per gas in wei, which is also the minimum gas price. May be zero.
    pub base_fee_per_gas: u128,
    /// How long the sequencer waits after the first pending transaction before proposing.
    pub batch_window_ms: u64,
}

impl ChainConfig {
    /// The shard layout.
    pub const fn layout(&self) -> ShardLayout {
        self.shard_bits
    }
}

/// One funded account in a genesis file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisAccount {
    /// The account.
    pub address: Address,
    /// Its balance in wei.
    #[serde(with = "u256_bytes")]
    pub balance: U256,
}

/// Everything needed to start a chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    /// Parameters of the chain.
    pub config: ChainConfig,
    /// Timestamp of block 0.
    pub timestamp_ms: u64,
    /// Funded accounts.
    pub accounts: Vec<GenesisAccount>,
}

impl Genesis {
    /// Checks every rule; call before using a genesis read from outside.
    pub fn validate(&self) -> GenesisResult<()> {
        if self.config.chain_id == 0 {
            return Err(GenesisError::ZeroChainId);
        }
        if self.config.batch_window_ms > BATCH_WINDOW_MS_MAX {
            return Err(GenesisError::BatchWindow {
                got: self.config.batch_window_ms,
                max: BATCH_WINDOW_MS_MAX,
            });
        }
        if self.accounts.len() > GENESIS_ACCOUNTS_MAX {
            return Err(GenesisError::TooManyAccounts {
                got: self.accounts.len(),
                max: GENESIS_ACCOUNTS_MAX,
            });
        }
        let mut seen = BTreeMap::new();
        for account in &self.accounts {
            if seen.insert(account.address, ()).is_some() {
                return Err(GenesisError::DuplicateAccount(account.address));
            }
        }
        self.total_supply().map(|_| ())
    }

    /// The sum of all balances: conserved by every block (fees move, they are not burned).
    pub fn total_supply(&self) -> GenesisResult<U256> {
        self.accounts
            .iter()
            .try_fold(U256::ZERO, |sum, account| sum.checked_add(account.balance))
            .ok_or(GenesisError::SupplyOverflow)
    }

    /// The funded accounts grouped by shard.
    pub fn shard_accounts(&self) -> BTreeMap<ShardIndex, BTreeMap<Address, Account>> {
        let layout = self.config.layout();
        let mut shards: BTreeMap<ShardIndex, BTreeMap<Address, Account>> = BTreeMap::new();
        for account in &self.accounts {
            shards
                .entry(layout.shard_of(&account.address))
                .or_default()
                .insert(account.address, Account::with_balance(account.balance));
        }
        shards
    }

    /// The root of every shard after genesis, in shard order.
    pub fn shard_roots(&self) -> GenesisResult<Vec<Hash>> {
        let layout = self.config.layout();
        let accounts = self.shard_accounts();
        (0..layout.shard_count())
            .map(|index| {
                // shard_count is at most 256, so the index fits.
                let shard = index as ShardIndex;
                let mut trie = Trie::new(
                    MemoryTrieStore::default(),
                    NodePosition::shard_root(layout, shard),
                );
                match accounts.get(&shard) {
                    Some(shard_accounts) => Ok(trie.update(shard_accounts)?),
                    None => Ok(trie.root()?),
                }
            })
            .collect()
    }

    /// Block 0.
    pub fn header(&self) -> GenesisResult<Header> {
        let shard_roots = self.shard_roots()?;
        Ok(Header {
            chain_id: self.config.chain_id,
            height: 0,
            parent_hash: Hash::ZERO,
            timestamp_ms: self.timestamp_ms,
            state_root: root_over_shards(&shard_roots),
            transactions_root: crate::block::transactions_root(&[]),
            receipts_root: crate::block::receipts_root(&[]),
            validator_set_hash: self.config.validators.hash(),
            proposer: self.config.proposer,
        })
    }
}
