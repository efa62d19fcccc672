//! The chain's configuration and its first block.
//!
//! A genesis fixes everything that cannot change later: chain id, shard layout, validator set,
//! the proposer identity recorded in headers, fee recipient and base fee, and the funded
//! accounts. Its header (height 0) is the root of trust: validators are configured with its
//! hash and accept height 1 only on top of it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::block::{BlockFormat, Header};
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

    /// Block 0. Always format 1, so a genesis's hash (what validators are configured with)
    /// is the one it had before format 2.
    pub fn header(&self) -> GenesisResult<Header> {
        let shard_roots = self.shard_roots()?;
        let format = BlockFormat::V1;
        Ok(Header {
            chain_id: self.config.chain_id,
            height: 0,
            parent_hash: Hash::ZERO,
            timestamp_ms: self.timestamp_ms,
            state_root: root_over_shards(&shard_roots),
            transactions_root: format.transactions_root(&[]),
            receipts_root: format.receipts_root(&[]),
            validator_set_hash: self.config.validators.hash(),
            proposer: self.config.proposer,
            format,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::tests::validator_keys;
    use crate::signature::SecretKey;
    use crate::trie::{EMPTY_ROOT, leaf_hash, node_hash};

    /// An address whose first byte is `first` (so its shard is set by the top bits).
    fn address(first: u8, last: u8) -> Address {
        let mut bytes = [0u8; 20];
        bytes[0] = first;
        bytes[19] = last;
        Address(bytes)
    }

    fn funded(address: Address, balance: u64) -> GenesisAccount {
        GenesisAccount {
            address,
            balance: U256::from(balance),
        }
    }

    /// Four shards; accounts in shards 0, 2 and 3 (two in shard 3), none in shard 1.
    fn genesis() -> Genesis {
        let validators = ValidatorSet::new(
            validator_keys(4)
                .iter()
                .map(SecretKey::public_key)
                .collect(),
        )
        .expect("valid set");
        Genesis {
            config: ChainConfig {
                chain_id: 31_337,
                shard_bits: ShardLayout::new(2).expect("valid layout"),
                validators,
                proposer: address(0x11, 1),
                fee_recipient: address(0x22, 2),
                base_fee_per_gas: 7,
                batch_window_ms: 20,
            },
            timestamp_ms: 1_700_000_000_000,
            accounts: vec![
                funded(address(0x01, 1), 100),
                funded(address(0x80, 2), 200),
                funded(address(0xc0, 3), 300),
                funded(address(0xff, 4), 400),
            ],
        }
    }

    #[test]
    fn a_well_formed_genesis_validates() {
        assert_eq!(genesis().validate(), Ok(()));
        assert_eq!(genesis().total_supply(), Ok(U256::from(1_000u64)));
    }

    #[test]
    fn validate_refuses_a_zero_chain_id() {
        let mut genesis = genesis();
        genesis.config.chain_id = 0;
        assert_eq!(genesis.validate(), Err(GenesisError::ZeroChainId));
    }

    #[test]
    fn validate_refuses_an_account_funded_twice() {
        let mut genesis = genesis();
        let again = address(0x80, 2);
        genesis.accounts.push(funded(again, 1));
        assert_eq!(
            genesis.validate(),
            Err(GenesisError::DuplicateAccount(again))
        );
    }

    #[test]
    fn validate_refuses_a_supply_above_256_bits() {
        let mut genesis = genesis();
        genesis.accounts = vec![
            GenesisAccount {
                address: address(0x01, 1),
                balance: U256::MAX,
            },
            funded(address(0x02, 2), 1),
        ];
        assert_eq!(genesis.validate(), Err(GenesisError::SupplyOverflow));
        assert_eq!(genesis.total_supply(), Err(GenesisError::SupplyOverflow));
        // Exactly the maximum is fine.
        genesis.accounts[1].balance = U256::ZERO;
        assert_eq!(genesis.validate(), Ok(()));
    }

    #[test]
    fn validate_refuses_a_batch_window_above_the_maximum() {
        let mut genesis = genesis();
        genesis.config.batch_window_ms = BATCH_WINDOW_MS_MAX + 1;
        assert_eq!(
            genesis.validate(),
            Err(GenesisError::BatchWindow {
                got: BATCH_WINDOW_MS_MAX + 1,
                max: BATCH_WINDOW_MS_MAX
            })
        );
        genesis.config.batch_window_ms = BATCH_WINDOW_MS_MAX;
        assert_eq!(genesis.validate(), Ok(()));
    }

    #[test]
    fn shard_accounts_groups_by_the_top_address_bits() {
        let grouped = genesis().shard_accounts();
        let account = |balance: u64| Account::with_balance(U256::from(balance));
        let expected: BTreeMap<ShardIndex, BTreeMap<Address, Account>> = [
            (0, BTreeMap::from([(address(0x01, 1), account(100))])),
            (2, BTreeMap::from([(address(0x80, 2), account(200))])),
            (
                3,
                BTreeMap::from([
                    (address(0xc0, 3), account(300)),
                    (address(0xff, 4), account(400)),
                ]),
            ),
        ]
        .into_iter()
        .collect();
        assert_eq!(grouped, expected);
    }

    #[test]
    fn the_genesis_header_is_block_zero_over_the_shard_roots() {
        let genesis = genesis();
        let header = genesis.header().expect("header");
        let account = |balance: u64| Account::with_balance(U256::from(balance));
        // Derived by hand: a shard holding one account is that account's leaf (a shortcut
        // leaf at the shard root); shard 3's two accounts split at the first bit below the
        // shard (0xc0 = 1100_0000 goes left, 0xff right); shard 1 is empty.
        let shard_3 = node_hash(
            &leaf_hash(&address(0xc0, 3), &account(300)),
            &leaf_hash(&address(0xff, 4), &account(400)),
        );
        let shard_roots = vec![
            leaf_hash(&address(0x01, 1), &account(100)),
            EMPTY_ROOT,
            leaf_hash(&address(0x80, 2), &account(200)),
            shard_3,
        ];
        assert_eq!(genesis.shard_roots(), Ok(shard_roots.clone()));
        let state_root = node_hash(
            &node_hash(&shard_roots[0], &shard_roots[1]),
            &node_hash(&shard_roots[2], &shard_roots[3]),
        );
        assert_eq!(
            header,
            Header {
                chain_id: 31_337,
                height: 0,
                parent_hash: Hash::ZERO,
                timestamp_ms: 1_700_000_000_000,
                state_root,
                // The root of an empty list is the zero hash.
                transactions_root: Hash::ZERO,
                receipts_root: Hash::ZERO,
                validator_set_hash: genesis.config.validators.hash(),
                proposer: address(0x11, 1),
                format: BlockFormat::V1,
            }
        );
    }

    #[test]
    fn with_one_shard_the_state_root_is_the_whole_tree() {
        let mut genesis = genesis();
        genesis.config.shard_bits = ShardLayout::new(0).expect("valid layout");
        let all: BTreeMap<Address, Account> = genesis
            .accounts
            .iter()
            .map(|account| (account.address, Account::with_balance(account.balance)))
            .collect();
        let mut trie = Trie::new(MemoryTrieStore::default(), NodePosition::root());
        let whole = trie.update(&all).expect("update");
        assert_eq!(genesis.header().expect("header").state_root, whole);
    }

    #[test]
    fn a_genesis_round_trips_through_json() {
        let genesis = genesis();
        let json = serde_json::to_string(&genesis).expect("serialises");
        let back: Genesis = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back, genesis);
        assert_eq!(back.header(), genesis.header());
    }
}
