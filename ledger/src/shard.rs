//! The shard state machine: one account range's state tree, its witnesses and its writes.
//!
//! A shard answers witness requests (Merkle proofs of accounts against its current root) and
//! applies the write sets of committed blocks. Applying is idempotent by height and guarded by
//! roots: a write set is applied only on top of the root it was computed from, and only if the
//! result equals the root the validators certified, so nothing unverified is ever written.
//!
//! Reads go through [`TrieStore`] (Durable Object SQLite is synchronous); writes leave as one
//! [`ShardBatch`] that the store commits atomically (nodes, account table and metadata together).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::execution::WriteSet;
use crate::limits::WITNESS_ACCOUNTS_MAX;
use crate::primitives::{Address, Hash};
use crate::state::{Account, ShardIndex, ShardLayout};
use crate::trie::{
    AccountProof, MemoryTrieStore, Node, NodeBatch, NodePosition, PartialTree, Trie, TrieError,
    TrieResult, TrieStore, TrieStoreMut,
};

/// Why a shard refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// The request names another shard.
    #[error("request for shard {got} reached shard {expected}")]
    WrongShard {
        /// Shard named in the request.
        got: ShardIndex,
        /// This shard.
        expected: ShardIndex,
    },
    /// An address does not belong to this shard.
    #[error("address {0} is outside this shard")]
    AddressOutsideShard(Address),
    /// More addresses than [`WITNESS_ACCOUNTS_MAX`].
    #[error("{got} addresses exceed the limit of {max}")]
    TooManyAddresses {
        /// Addresses requested.
        got: usize,
        /// Largest allowed.
        max: usize,
    },
    /// The shard's root is not the one the request expects: it is behind (a write set has not
    /// arrived yet) or the requester is.
    #[error("shard root is {actual} at height {applied_height}, request expects {expected}")]
    RootMismatch {
        /// Root the requester expects.
        expected: Hash,
        /// This shard's root.
        actual: Hash,
        /// Last height this shard applied.
        applied_height: u64,
    },
    /// Applying the write set does not produce the certified root: refused, nothing written.
    #[error("write set for height {height} gives root {computed}, certified root is {expected}")]
    WrongResult {
        /// Height of the write set.
        height: u64,
        /// Root the write set claims.
        expected: Hash,
        /// Root this shard computed.
        computed: Hash,
    },
    /// Reading or updating the tree failed.
    #[error("state tree: {0}")]
    Trie(#[from] TrieError),
}

/// Result alias for shard operations.
pub type ShardResult<T> = Result<T, ShardError>;

/// What a shard records about itself, committed with every batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardMeta {
    /// This shard's index.
    pub shard: ShardIndex,
    /// Height of the last block applied (0 = genesis).
    pub applied_height: u64,
    /// The shard's root after that block.
    pub root: Hash,
}

/// A request for proofs of some accounts against the shard's current root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessRequest {
    /// The shard asked.
    pub shard: ShardIndex,
    /// The root the requester believes is committed.
    pub expected_root: Hash,
    /// The accounts to prove (present or absent).
    pub addresses: Vec<Address>,
}

/// Everything one apply writes, committed atomically by the store.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardBatch {
    /// Tree nodes to write.
    pub nodes: NodeBatch,
    /// New account table rows.
    pub accounts: Vec<(Address, Account)>,
    /// New metadata.
    pub meta: ShardMeta,
}

/// Storage of a shard: the tree's nodes (read through [`TrieStore`]), an account table and
/// the metadata, all written together by [`ShardStore::commit`].
pub trait ShardStore: TrieStore {
    /// The metadata, or `None` before genesis was applied.
    fn meta(&self) -> TrieResult<Option<ShardMeta>>;
    /// One account from the account table.
    fn account(&self, address: &Address) -> TrieResult<Option<Account>>;
    /// Writes a batch atomically.
    fn commit(&mut self, batch: &ShardBatch) -> TrieResult<()>;
}

/// What [`Shard::apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// The write set was applied; the shard is now at this height.
    Applied,
    /// A write set for this height (or a later one) was applied before: nothing to do.
    AlreadyApplied,
}

/// One shard over its store.
#[derive(Debug)]
pub struct Shard<S> {
    layout: ShardLayout,
    meta: ShardMeta,
    store: S,
}

impl<S: ShardStore> Shard<S> {
    /// Opens a shard whose store already holds genesis (or later) state.
    /// Returns `None` if the store has never been initialised.
    pub fn open(layout: ShardLayout, store: S) -> TrieResult<Option<Self>> {
        Ok(store.meta()?.map(|meta| Self {
            layout,
            meta,
            store,
        }))
    }

    /// Initialises an empty store with the shard's genesis accounts.
    pub fn initialise(
        layout: ShardLayout,
        shard: ShardIndex,
        mut store: S,
        accounts: &BTreeMap<Address, Account>,
    ) -> ShardResult<Self> {
        let root_position = NodePosition::shard_root(layout, shard);
        for address in accounts.keys() {
            if !root_position.contains(address) {
                return Err(ShardError::AddressOutsideShard(*address));
            }
        }
        let (root, nodes) = Trie::new(&store, root_position).prepare_update(accounts)?;
        let meta = ShardMeta {
            shard,
            applied_height: 0,
            root,
        };
        store.commit(&ShardBatch {
            nodes,
            accounts: accounts.iter().map(|(a, account)| (*a, *account)).collect(),
            meta,
        })?;
        Ok(Self {
            layout,
            meta,
            store,
        })
    }

    /// The shard's metadata.
    pub const fn meta(&self) -> &ShardMeta {
        &self.meta
    }

    /// The underlying store.
    pub const fn store(&self) -> &S {
        &self.store
    }

    /// Gives the store back (a restart keeps storage, not memory).
    pub fn into_store(self) -> S {
        self.store
    }

    fn root_position(&self) -> NodePosition {
        NodePosition::shard_root(self.layout, self.meta.shard)
    }

    fn trie(&self) -> Trie<&S> {
        Trie::new(&self.store, self.root_position())
    }

    /// One account's committed state.
    pub fn account(&self, address: &Address) -> ShardResult<Option<Account>> {
        self.check_address(address)?;
        Ok(self.store.account(address)?)
    }

    /// A proof of one account (present or absent) against the shard root.
    pub fn prove(&self, address: &Address) -> ShardResult<AccountProof> {
        self.check_address(address)?;
        Ok(self.trie().prove(address)?)
    }

    /// Proofs of several accounts against the expected root.
    pub fn witness(&self, request: &WitnessRequest) -> ShardResult<PartialTree> {
        self.check_shard(request.shard)?;
        if request.addresses.len() > WITNESS_ACCOUNTS_MAX {
            return Err(ShardError::TooManyAddresses {
                got: request.addresses.len(),
                max: WITNESS_ACCOUNTS_MAX,
            });
        }
        for address in &request.addresses {
            self.check_address(address)?;
        }
        if request.expected_root != self.meta.root {
            return Err(self.root_mismatch(request.expected_root));
        }
        Ok(self.trie().multiproof(&request.addresses)?)
    }

    /// Applies a committed block's write set: idempotent by height, refused unless it starts
    /// from this shard's root and ends at the certified root.
    pub fn apply(&mut self, write_set: &WriteSet) -> ShardResult<ApplyOutcome> {
        self.check_shard(write_set.shard)?;
        if write_set.height <= self.meta.applied_height {
            return Ok(ApplyOutcome::AlreadyApplied);
        }
        if write_set.base_root != self.meta.root {
            return Err(self.root_mismatch(write_set.base_root));
        }
        let updates = self.updates(write_set)?;
        let (computed, nodes) = self.trie().prepare_update(&updates)?;
        if computed != write_set.new_root {
            return Err(ShardError::WrongResult {
                height: write_set.height,
                expected: write_set.new_root,
                computed,
            });
        }
        let meta = ShardMeta {
            shard: self.meta.shard,
            applied_height: write_set.height,
            root: computed,
        };
        self.store.commit(&ShardBatch {
            nodes,
            accounts: write_set.accounts.clone(),
            meta,
        })?;
        // Pair assertion: the stored tree now has the root we certified.
        debug_assert_eq!(self.trie().root().ok(), Some(computed));
        self.meta = meta;
        Ok(ApplyOutcome::Applied)
    }

    fn updates(&self, write_set: &WriteSet) -> ShardResult<BTreeMap<Address, Account>> {
        let mut updates = BTreeMap::new();
        for (address, account) in &write_set.accounts {
            self.check_address(address)?;
            updates.insert(*address, *account);
        }
        Ok(updates)
    }

    fn check_shard(&self, shard: ShardIndex) -> ShardResult<()> {
        if shard != self.meta.shard {
            return Err(ShardError::WrongShard {
                got: shard,
                expected: self.meta.shard,
            });
        }
        Ok(())
    }

    fn check_address(&self, address: &Address) -> ShardResult<()> {
        if self.layout.shard_of(address) != self.meta.shard {
            return Err(ShardError::AddressOutsideShard(*address));
        }
        Ok(())
    }

    fn root_mismatch(&self, expected: Hash) -> ShardError {
        ShardError::RootMismatch {
            expected,
            actual: self.meta.root,
            applied_height: self.meta.applied_height,
        }
    }
}

/// A shard store in memory: for tests, the simulation and tools.
#[derive(Debug, Clone, Default)]
pub struct MemoryShardStore {
    nodes: MemoryTrieStore,
    accounts: BTreeMap<Address, Account>,
    meta: Option<ShardMeta>,
}

impl MemoryShardStore {
    /// Every account in the table, in address order.
    pub fn accounts(&self) -> &BTreeMap<Address, Account> {
        &self.accounts
    }
}

impl TrieStore for MemoryShardStore {
    fn node(&self, position: &NodePosition) -> TrieResult<Option<Node>> {
        self.nodes.node(position)
    }
}

impl ShardStore for MemoryShardStore {
    fn meta(&self) -> TrieResult<Option<ShardMeta>> {
        Ok(self.meta)
    }

    fn account(&self, address: &Address) -> TrieResult<Option<Account>> {
        Ok(self.accounts.get(address).copied())
    }

    fn commit(&mut self, batch: &ShardBatch) -> TrieResult<()> {
        self.nodes.apply(&batch.nodes)?;
        self.accounts.extend(batch.accounts.iter().copied());
        self.meta = Some(batch.meta);
        Ok(())
    }
}
