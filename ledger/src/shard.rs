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
use crate::limits::{BLOCK_ACCOUNTS_MAX, REQUEST_BYTES_MAX, WITNESS_ACCOUNTS_MAX};
use crate::primitives::{Address, Hash};
use crate::state::{Account, ShardIndex, ShardLayout};
use crate::trie::{
    AccountProof, MemoryTrieStore, Node, NodeBatch, NodePosition, PartialTree, Trie, TrieError,
    TrieResult, TrieStore, TrieStoreMut,
};

/// Bytes of an encoded [`WitnessRequest`]: array, shard index and root headers (at most 43
/// bytes, rounded up to 64) plus a 22-byte `bin` address per requested account.
pub const WITNESS_REQUEST_BYTES_MAX: usize = 64 + WITNESS_ACCOUNTS_MAX * 22;

/// Bytes of an encoded [`WriteSet`]: array, height, shard and two root headers (at most 86
/// bytes, rounded up to 128) plus per account at most 67 bytes (a pair of a 22-byte address
/// and an account of a 9-byte nonce and a 34-byte balance, with their array headers).
pub const WRITE_SET_BYTES_MAX: usize = 128 + BLOCK_ACCOUNTS_MAX * 67;

/// Bytes of an encoded [`ApplyThenWitnessRequest`]: its array header and the two parts.
pub const APPLY_THEN_WITNESS_BYTES_MAX: usize = 8 + WRITE_SET_BYTES_MAX + WITNESS_REQUEST_BYTES_MAX;

// Each travels from the sequencer to a shard in one request body.
const _: () = assert!(WITNESS_REQUEST_BYTES_MAX <= REQUEST_BYTES_MAX);
const _: () = assert!(WRITE_SET_BYTES_MAX <= REQUEST_BYTES_MAX);
const _: () = assert!(APPLY_THEN_WITNESS_BYTES_MAX <= REQUEST_BYTES_MAX);

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
    /// After a commit the store's root is not the one just written: the store lost or
    /// corrupted the write.
    #[error("the store holds root {stored} after writing root {expected}")]
    StoreLostWrite {
        /// Root written.
        expected: Hash,
        /// Root read back.
        stored: Hash,
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

/// A committed write set and the next round's witness request, which the shard answers after
/// applying the write set (`InternalCall::ApplyThenWitness`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyThenWitnessRequest {
    /// What to apply first.
    pub write_set: WriteSet,
    /// What to prove afterwards, at the root the write set produces.
    pub witness: WitnessRequest,
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
    /// Deletes every node, account and the metadata, then writes `batch`, all atomically: a
    /// restore from a backup replaces the whole state or nothing.
    fn replace(&mut self, batch: &ShardBatch) -> TrieResult<()>;
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
        store: S,
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
        let mut shard = Self {
            layout,
            meta,
            store,
        };
        shard.commit(ShardBatch {
            nodes,
            accounts: accounts.iter().map(|(a, account)| (*a, *account)).collect(),
            meta,
        })?;
        Ok(shard)
    }

    /// Replaces the store's whole state with exactly `accounts` at `height`, as restored from
    /// a backup, if they hash to `expected_root` (the certified shard root at that height);
    /// otherwise nothing is written. The root is read back afterwards, as after every commit.
    pub fn restore(
        layout: ShardLayout,
        shard: ShardIndex,
        store: S,
        accounts: &BTreeMap<Address, Account>,
        height: u64,
        expected_root: Hash,
    ) -> ShardResult<Self> {
        let root_position = NodePosition::shard_root(layout, shard);
        if let Some(address) = accounts.keys().find(|a| !root_position.contains(a)) {
            return Err(ShardError::AddressOutsideShard(*address));
        }
        // Built over an empty tree: the batch holds every node of the restored state.
        let empty = crate::trie::MemoryTrieStore::default();
        let (root, nodes) = Trie::new(&empty, root_position).prepare_update(accounts)?;
        if root != expected_root {
            return Err(ShardError::WrongResult {
                height,
                expected: expected_root,
                computed: root,
            });
        }
        let meta = ShardMeta {
            shard,
            applied_height: height,
            root,
        };
        let mut restored = Self {
            layout,
            meta,
            store,
        };
        let batch = ShardBatch {
            nodes,
            accounts: accounts.iter().map(|(a, account)| (*a, *account)).collect(),
            meta,
        };
        restored.store.replace(&batch)?;
        let stored = restored.trie().root()?;
        if stored != root {
            return Err(ShardError::StoreLostWrite {
                expected: root,
                stored,
            });
        }
        Ok(restored)
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
    /// from this shard's root and ends at the certified root. [`Self::plan_apply`] then
    /// [`Self::commit`].
    pub fn apply(&mut self, write_set: &WriteSet) -> ShardResult<ApplyOutcome> {
        match self.plan_apply(write_set)? {
            None => Ok(ApplyOutcome::AlreadyApplied),
            Some(batch) => {
                self.commit(batch)?;
                Ok(ApplyOutcome::Applied)
            }
        }
    }

    /// Decides what applying a write set writes, without writing anything: `None` when this
    /// height was already applied, the batch to commit otherwise, and an error (nothing to
    /// write) when the write set does not start from this shard's root or does not end at the
    /// certified root.
    pub fn plan_apply(&self, write_set: &WriteSet) -> ShardResult<Option<ShardBatch>> {
        self.check_shard(write_set.shard)?;
        if write_set.height <= self.meta.applied_height {
            return Ok(None);
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
        Ok(Some(ShardBatch {
            nodes,
            accounts: write_set.accounts.clone(),
            meta: ShardMeta {
                shard: self.meta.shard,
                applied_height: write_set.height,
                root: computed,
            },
        }))
    }

    /// Writes a batch from [`Self::plan_apply`] and adopts its metadata, after reading the
    /// root back from the store (the pair of the check before the write): a store that did not
    /// keep what it was given is reported, not trusted.
    pub fn commit(&mut self, batch: ShardBatch) -> ShardResult<()> {
        self.store.commit(&batch)?;
        let stored = self.trie().root()?;
        if stored != batch.meta.root {
            return Err(ShardError::StoreLostWrite {
                expected: batch.meta.root,
                stored,
            });
        }
        self.meta = batch.meta;
        Ok(())
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

    fn replace(&mut self, batch: &ShardBatch) -> TrieResult<()> {
        *self = Self::default();
        self.commit(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::WITNESS_ACCOUNTS_MAX;

    #[test]
    fn a_restore_replaces_the_whole_state_only_with_accounts_of_the_certified_root() {
        let mut shard = Shard::initialise(
            layout(),
            SHARD,
            MemoryShardStore::default(),
            &genesis_accounts(),
        )
        .expect("genesis");
        let restored_accounts = BTreeMap::from([
            (address(0x80, 1), account(4, 60)),
            (address(0xa0, 9), account(0, 540)),
        ]);
        let expected_root = {
            let empty = MemoryShardStore::default();
            Shard::initialise(layout(), SHARD, empty, &restored_accounts)
                .expect("reference")
                .meta()
                .root
        };
        // A wrong root or a foreign account writes nothing.
        let store = shard.into_store();
        let refused = Shard::restore(
            layout(),
            SHARD,
            store.clone(),
            &restored_accounts,
            9,
            Hash::from([1; 32]),
        );
        assert!(matches!(refused, Err(ShardError::WrongResult { .. })));
        let mut foreign = restored_accounts.clone();
        foreign.insert(address(0x10, 1), account(0, 1));
        assert!(matches!(
            Shard::restore(layout(), SHARD, store.clone(), &foreign, 9, expected_root),
            Err(ShardError::AddressOutsideShard(_))
        ));
        shard = Shard::restore(layout(), SHARD, store, &restored_accounts, 9, expected_root)
            .expect("restores");
        assert_eq!(shard.meta().applied_height, 9);
        assert_eq!(shard.meta().root, expected_root);
        // Accounts not in the backup are gone; the restored ones are exact.
        assert_eq!(shard.account(&address(0x90, 2)), Ok(None));
        assert_eq!(shard.account(&address(0x80, 1)), Ok(Some(account(4, 60))));
        assert_eq!(shard.store().accounts(), &restored_accounts);
    }
    use crate::primitives::U256;
    use crate::trie::{Witness, root_over_shards, top_path};

    /// Four shards; these tests use shard 2 (addresses 0b10xx_xxxx...).
    fn layout() -> ShardLayout {
        ShardLayout::new(2).expect("valid layout")
    }

    const SHARD: ShardIndex = 2;

    fn address(first: u8, last: u8) -> Address {
        let mut bytes = [0u8; 20];
        bytes[0] = first;
        bytes[19] = last;
        Address(bytes)
    }

    fn account(nonce: u64, balance: u64) -> Account {
        Account {
            nonce,
            balance: U256::from(balance),
        }
    }

    fn genesis_accounts() -> BTreeMap<Address, Account> {
        BTreeMap::from([
            (address(0x80, 1), account(0, 100)),
            (address(0x90, 2), account(0, 200)),
            (address(0xbf, 3), account(3, 300)),
        ])
    }

    /// The root of a shard holding exactly `accounts`, built from scratch in a fresh store.
    fn root_of(accounts: &BTreeMap<Address, Account>) -> Hash {
        let mut trie = Trie::new(
            MemoryTrieStore::default(),
            NodePosition::shard_root(layout(), SHARD),
        );
        trie.update(accounts).expect("update")
    }

    fn shard() -> Shard<MemoryShardStore> {
        Shard::initialise(
            layout(),
            SHARD,
            MemoryShardStore::default(),
            &genesis_accounts(),
        )
        .expect("genesis")
    }

    /// Height 1: account 1 pays 30 to account 2 and a new account 0xa0.. receives 5.
    fn write_set(shard: &Shard<MemoryShardStore>) -> (WriteSet, BTreeMap<Address, Account>) {
        let changes = BTreeMap::from([
            (address(0x80, 1), account(1, 65)),
            (address(0x90, 2), account(0, 230)),
            (address(0xa0, 9), account(0, 5)),
        ]);
        let mut after = genesis_accounts();
        after.extend(changes.clone());
        let write_set = WriteSet {
            height: 1,
            shard: SHARD,
            base_root: shard.meta().root,
            new_root: root_of(&after),
            accounts: changes.into_iter().collect(),
        };
        (write_set, after)
    }

    /// Everything observable about a shard's storage.
    fn snapshot(shard: &Shard<MemoryShardStore>) -> (ShardMeta, BTreeMap<Address, Account>, Hash) {
        let stored_root = Trie::new(shard.store(), NodePosition::shard_root(layout(), SHARD))
            .root()
            .expect("root");
        (*shard.meta(), shard.store().accounts().clone(), stored_root)
    }

    #[test]
    fn plan_apply_decides_without_writing() {
        let shard = shard();
        let before = snapshot(&shard);
        let (write_set, after) = write_set(&shard);
        let batch = shard
            .plan_apply(&write_set)
            .expect("valid write set")
            .expect("height 1 is new");
        assert_eq!(snapshot(&shard), before, "planning wrote nothing");
        assert_eq!(batch.meta.root, root_of(&after));
        assert_eq!(batch.meta.applied_height, 1);
        assert_eq!(batch.accounts, write_set.accounts);
    }

    /// A store that keeps the account table and metadata but silently drops tree nodes.
    #[derive(Debug, Default)]
    struct NodeDroppingStore(MemoryShardStore);

    impl TrieStore for NodeDroppingStore {
        fn node(&self, position: &NodePosition) -> TrieResult<Option<Node>> {
            self.0.node(position)
        }
    }

    impl ShardStore for NodeDroppingStore {
        fn meta(&self) -> TrieResult<Option<ShardMeta>> {
            self.0.meta()
        }
        fn account(&self, address: &Address) -> TrieResult<Option<Account>> {
            self.0.account(address)
        }
        fn commit(&mut self, batch: &ShardBatch) -> TrieResult<()> {
            let without_nodes = ShardBatch {
                nodes: NodeBatch::default(),
                ..batch.clone()
            };
            self.0.commit(&without_nodes)
        }
        fn replace(&mut self, batch: &ShardBatch) -> TrieResult<()> {
            self.0 = MemoryShardStore::default();
            self.commit(batch)
        }
    }

    #[test]
    fn a_store_that_loses_the_write_is_caught_on_read_back() {
        let genesis = genesis_accounts();
        let error = Shard::initialise(layout(), SHARD, NodeDroppingStore::default(), &genesis)
            .expect_err("the genesis nodes were dropped");
        assert_eq!(
            error,
            ShardError::StoreLostWrite {
                expected: root_of(&genesis),
                stored: crate::trie::EMPTY_ROOT,
            }
        );
    }

    #[test]
    fn initialise_writes_the_genesis_accounts_and_root() {
        let shard = shard();
        let root = root_of(&genesis_accounts());
        assert_eq!(
            *shard.meta(),
            ShardMeta {
                shard: SHARD,
                applied_height: 0,
                root
            }
        );
        assert_eq!(shard.store().accounts(), &genesis_accounts());
        assert_eq!(snapshot(&shard).2, root);
        assert_eq!(shard.account(&address(0xbf, 3)), Ok(Some(account(3, 300))));
        assert_eq!(shard.account(&address(0xbf, 4)), Ok(None));
    }

    #[test]
    fn initialise_refuses_an_address_outside_the_shard() {
        let mut accounts = genesis_accounts();
        let foreign = address(0xc0, 1); // shard 3
        accounts.insert(foreign, account(0, 1));
        let result = Shard::initialise(layout(), SHARD, MemoryShardStore::default(), &accounts);
        assert!(matches!(result, Err(ShardError::AddressOutsideShard(a)) if a == foreign));
    }

    #[test]
    fn witness_refuses_another_shard_a_foreign_address_and_too_many_addresses() {
        let shard = shard();
        let root = shard.meta().root;
        let request = |shard_index, addresses| WitnessRequest {
            shard: shard_index,
            expected_root: root,
            addresses,
        };
        assert_eq!(
            shard.witness(&request(1, vec![address(0x80, 1)])),
            Err(ShardError::WrongShard {
                got: 1,
                expected: SHARD
            })
        );
        assert_eq!(
            shard.witness(&request(SHARD, vec![address(0x80, 1), address(0x7f, 1)])),
            Err(ShardError::AddressOutsideShard(address(0x7f, 1)))
        );
        let too_many = vec![address(0x80, 1); WITNESS_ACCOUNTS_MAX + 1];
        assert_eq!(
            shard.witness(&request(SHARD, too_many)),
            Err(ShardError::TooManyAddresses {
                got: WITNESS_ACCOUNTS_MAX + 1,
                max: WITNESS_ACCOUNTS_MAX
            })
        );
    }

    #[test]
    fn witness_refuses_a_root_other_than_the_shards_with_the_applied_height() {
        let mut shard = shard();
        let genesis_root = shard.meta().root;
        let (write_set, _) = write_set(&shard);
        shard.apply(&write_set).expect("applies");
        let request = WitnessRequest {
            shard: SHARD,
            expected_root: genesis_root,
            addresses: vec![address(0x80, 1)],
        };
        assert_eq!(
            shard.witness(&request),
            Err(ShardError::RootMismatch {
                expected: genesis_root,
                actual: write_set.new_root,
                applied_height: 1
            })
        );
    }

    #[test]
    fn a_witness_verifies_against_the_state_root_and_proves_present_and_absent_accounts() {
        let shard = shard();
        let absent = address(0xa5, 5);
        let part = shard
            .witness(&WitnessRequest {
                shard: SHARD,
                expected_root: shard.meta().root,
                addresses: vec![address(0x80, 1), address(0xbf, 3), absent],
            })
            .expect("witness");
        let shard_roots = vec![
            keccak(b"shard 0"),
            keccak(b"shard 1"),
            shard.meta().root,
            Hash::ZERO,
        ];
        let witness = Witness::new(
            layout(),
            shard_roots.clone(),
            BTreeMap::from([(SHARD, part)]),
        )
        .expect("structure");
        witness
            .verify(&root_over_shards(&shard_roots))
            .expect("verifies against the state root");
        assert_eq!(witness.get(&address(0x80, 1)), Ok(Some(account(0, 100))));
        assert_eq!(witness.get(&address(0xbf, 3)), Ok(Some(account(3, 300))));
        assert_eq!(witness.get(&absent), Ok(None));
        // A different shard root (a stale or forged one) does not verify.
        let mut wrong_roots = shard_roots;
        wrong_roots[2] = keccak(b"other");
        let wrong = Witness {
            shard_roots: wrong_roots.clone(),
            ..witness
        };
        assert!(wrong.verify(&root_over_shards(&wrong_roots)).is_err());
    }

    fn keccak(bytes: &[u8]) -> Hash {
        crate::keccak256(bytes)
    }

    #[test]
    fn apply_writes_the_accounts_the_root_and_the_height() {
        let mut shard = shard();
        let (write_set, after) = write_set(&shard);
        assert_eq!(shard.apply(&write_set), Ok(ApplyOutcome::Applied));
        assert_eq!(
            snapshot(&shard),
            (
                ShardMeta {
                    shard: SHARD,
                    applied_height: 1,
                    root: write_set.new_root
                },
                after,
                write_set.new_root
            )
        );
        assert_eq!(shard.account(&address(0xa0, 9)), Ok(Some(account(0, 5))));
    }

    #[test]
    fn apply_of_an_applied_height_changes_nothing() {
        let mut shard = shard();
        let (write_set, _) = write_set(&shard);
        shard.apply(&write_set).expect("applies");
        let before = snapshot(&shard);
        assert_eq!(shard.apply(&write_set), Ok(ApplyOutcome::AlreadyApplied));
        // Even a different write set claiming that height (or a lower one) is not looked at.
        let other = WriteSet {
            accounts: vec![(address(0x80, 1), account(9, 9))],
            base_root: keccak(b"anything"),
            ..write_set.clone()
        };
        assert_eq!(shard.apply(&other), Ok(ApplyOutcome::AlreadyApplied));
        let lower = WriteSet { height: 0, ..other };
        assert_eq!(shard.apply(&lower), Ok(ApplyOutcome::AlreadyApplied));
        assert_eq!(snapshot(&shard), before);
    }

    #[test]
    fn apply_refuses_a_write_set_from_another_base_root_and_writes_nothing() {
        let mut shard = shard();
        let before = snapshot(&shard);
        let (write_set, _) = write_set(&shard);
        let wrong_base = WriteSet {
            base_root: keccak(b"not this shard"),
            height: 2,
            ..write_set
        };
        assert_eq!(
            shard.apply(&wrong_base),
            Err(ShardError::RootMismatch {
                expected: keccak(b"not this shard"),
                actual: before.0.root,
                applied_height: 0
            })
        );
        assert_eq!(snapshot(&shard), before);
    }

    #[test]
    fn apply_refuses_a_write_set_that_does_not_give_the_certified_root_and_writes_nothing() {
        let mut shard = shard();
        let before = snapshot(&shard);
        let (write_set, _) = write_set(&shard);
        let computed = write_set.new_root;
        let wrong_result = WriteSet {
            new_root: keccak(b"certified something else"),
            ..write_set.clone()
        };
        assert_eq!(
            shard.apply(&wrong_result),
            Err(ShardError::WrongResult {
                height: 1,
                expected: keccak(b"certified something else"),
                computed
            })
        );
        assert_eq!(snapshot(&shard), before);
        // A tampered account with the honest root is refused the same way.
        let mut tampered = write_set;
        tampered.accounts[2].1.balance = U256::from(5_000u64);
        assert!(matches!(
            shard.apply(&tampered),
            Err(ShardError::WrongResult { .. })
        ));
        assert_eq!(snapshot(&shard), before);
    }

    #[test]
    fn apply_refuses_another_shard_and_foreign_accounts_and_writes_nothing() {
        let mut shard = shard();
        let before = snapshot(&shard);
        let (write_set, _) = write_set(&shard);
        assert_eq!(
            shard.apply(&WriteSet {
                shard: 3,
                ..write_set.clone()
            }),
            Err(ShardError::WrongShard {
                got: 3,
                expected: SHARD
            })
        );
        let mut foreign = write_set;
        foreign.accounts.push((address(0xc1, 1), account(0, 1)));
        assert_eq!(
            shard.apply(&foreign),
            Err(ShardError::AddressOutsideShard(address(0xc1, 1)))
        );
        assert_eq!(snapshot(&shard), before);
    }

    #[test]
    fn open_restores_the_metadata_of_an_initialised_store() {
        assert!(
            Shard::open(layout(), MemoryShardStore::default())
                .expect("reads")
                .is_none()
        );
        let mut shard = shard();
        let (write_set, _) = write_set(&shard);
        shard.apply(&write_set).expect("applies");
        let before = snapshot(&shard);
        let reopened = Shard::open(layout(), shard.into_store())
            .expect("reads")
            .expect("initialised");
        assert_eq!(snapshot(&reopened), before);
        // The reopened shard carries on from the applied height.
        assert_eq!(reopened.meta().applied_height, 1);
    }

    #[test]
    fn a_proof_verifies_against_the_shard_root_and_with_the_top_path_against_the_state_root() {
        let shard = shard();
        let position = NodePosition::shard_root(layout(), SHARD);
        let root = shard.meta().root;
        let present = address(0x90, 2);
        let absent = address(0x90, 3);
        let proof = shard.prove(&present).expect("proof");
        assert_eq!(
            proof.verify_at(&root, &position, &present),
            Ok(Some(account(0, 200)))
        );
        assert!(
            proof
                .verify_at(&keccak(b"other root"), &position, &present)
                .is_err()
        );
        let absence = shard.prove(&absent).expect("proof");
        assert_eq!(absence.verify_at(&root, &position, &absent), Ok(None));
        let shard_roots = vec![keccak(b"0"), Hash::ZERO, root, keccak(b"3")];
        let global = proof.with_top_path(top_path(&shard_roots, SHARD));
        assert_eq!(
            global.verify(&root_over_shards(&shard_roots), &present),
            Ok(Some(account(0, 200)))
        );
        assert_eq!(
            shard.prove(&address(0x00, 1)),
            Err(ShardError::AddressOutsideShard(address(0x00, 1)))
        );
    }

    /// The largest legal witness request and write set (every field at its widest) fit the
    /// body limits a shard reads them with, and one more account does not.
    #[test]
    fn the_largest_witness_request_and_write_set_fit_their_byte_limits() {
        let widest = Address([0xff; 20]);
        let request = |count| WitnessRequest {
            shard: ShardIndex::MAX,
            expected_root: Hash([0xff; 32]),
            addresses: vec![widest; count],
        };
        let bytes = crate::codec::encode(&request(WITNESS_ACCOUNTS_MAX)).len();
        assert!(bytes <= WITNESS_REQUEST_BYTES_MAX, "{bytes} bytes");
        let over = crate::codec::encode(&request(WITNESS_ACCOUNTS_MAX + 3)).len();
        assert!(over > WITNESS_REQUEST_BYTES_MAX, "{over} bytes");
        let account = Account {
            nonce: u64::MAX,
            balance: U256::MAX,
        };
        let write_set = |count| WriteSet {
            height: u64::MAX,
            shard: ShardIndex::MAX,
            base_root: Hash([0xff; 32]),
            new_root: Hash([0xff; 32]),
            accounts: vec![(widest, account); count],
        };
        let bytes = crate::codec::encode(&write_set(BLOCK_ACCOUNTS_MAX)).len();
        assert!(bytes <= WRITE_SET_BYTES_MAX, "{bytes} bytes");
        let over = crate::codec::encode(&write_set(BLOCK_ACCOUNTS_MAX + 2)).len();
        assert!(over > WRITE_SET_BYTES_MAX, "{over} bytes");
    }

    /// Witness requests and shard metadata cross the wire and go to storage: they must survive
    /// the canonical encoding unchanged.
    #[cfg(not(target_arch = "wasm32"))]
    mod encoding {
        use super::*;
        use crate::codec;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn witness_requests_and_meta_round_trip(
                shard in any::<u16>(),
                root in any::<[u8; 32]>(),
                applied_height in any::<u64>(),
                addresses in prop::collection::vec(any::<[u8; 20]>(), 0..40),
            ) {
                let request = WitnessRequest {
                    shard,
                    expected_root: Hash(root),
                    addresses: addresses.into_iter().map(Address).collect(),
                };
                let bytes = codec::encode(&request);
                prop_assert_eq!(codec::decode::<WitnessRequest>(&bytes, usize::MAX).expect("decodes"), request);
                let meta = ShardMeta { shard, applied_height, root: Hash(root) };
                let bytes = codec::encode(&meta);
                prop_assert_eq!(codec::decode::<ShardMeta>(&bytes, usize::MAX).expect("decodes"), meta);
            }
        }
    }
}
