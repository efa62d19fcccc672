//! Batched inserts and updates of a [`Trie`]: compute the new root and the node writes in one
//! walk, without touching the store, then apply.
//!
//! Cost: one walk down each path shared by the batch, one `node_hash` per internal node on those
//! paths (shared prefixes hashed once per batch) and one `leaf_hash` per written leaf. Untouched
//! siblings are never read.

use std::collections::BTreeMap;

use crate::limits::TRIE_DEPTH;
use crate::primitives::{Address, Hash};
use crate::state::Account;

use super::error::{TrieError, TrieResult};
use super::hashing::{EMPTY_ROOT, leaf_hash, node_hash};
use super::position::NodePosition;
use super::store::{Node, NodeBatch, TrieStore, TrieStoreMut};
use super::tree::Trie;

/// What a subtree holds before the update, as far as the update needs to know.
#[derive(Clone, Copy)]
enum Current {
    /// Nothing.
    Empty,
    /// The node stored at this position.
    Stored(Node),
    /// A leaf that was alone higher up and is being pushed down by this update; not yet stored
    /// at this position.
    Moved(Address, Account),
}

/// A child of a node being rewritten: either a stored subtree known by its hash, or a leaf
/// pushed down from its parent.
#[derive(Clone, Copy)]
enum Child {
    /// Stored (or empty) subtree with this hash.
    Known(Hash),
    /// A leaf pushed down into this child.
    Moved(Address, Account),
}

/// Address-keyed entries sorted by address.
pub(crate) type Keyed<T> = [(Address, T)];

/// Splits address-sorted `updates`, all under one position at `depth`, into the left (bit 0)
/// and right (bit 1) halves.
pub(crate) fn split_by_bit<T>(updates: &Keyed<T>, depth: usize) -> (&Keyed<T>, &Keyed<T>) {
    let middle = updates.partition_point(|(address, _)| !address.bit(depth));
    updates.split_at(middle)
}

impl<S: TrieStore> Trie<S> {
    /// Computes the new root and the node writes for a batch of inserts and updates, without
    /// mutating the store: the caller can check the root before applying the batch.
    pub fn prepare_update(
        &self,
        updates: &BTreeMap<Address, Account>,
    ) -> TrieResult<(Hash, NodeBatch)> {
        for address in updates.keys() {
            self.check_contains(address)?;
        }
        let mut batch = NodeBatch::default();
        if updates.is_empty() {
            return Ok((self.root()?, batch));
        }
        let updates: Vec<(Address, Account)> = updates
            .iter()
            .map(|(address, account)| (*address, *account))
            .collect();
        let position = self.root_position();
        let current = self
            .load(&position)?
            .map_or(Current::Empty, Current::Stored);
        let root = self.update_subtree(position, current, &updates, &mut batch)?;
        Ok((root, batch))
    }

    /// Rewrites the subtree at `position`, which holds `current`, with `updates` (sorted, all
    /// under `position`); records writes in `batch` and returns the new subtree hash.
    fn update_subtree(
        &self,
        position: NodePosition,
        current: Current,
        updates: &[(Address, Account)],
        batch: &mut NodeBatch,
    ) -> TrieResult<Hash> {
        let children = match (current, updates) {
            (Current::Empty, []) => return Ok(EMPTY_ROOT),
            (Current::Stored(node), []) => return Ok(node.hash()),
            (Current::Moved(address, account), []) => {
                return Ok(put_leaf(batch, position, address, account));
            }
            (Current::Empty, [(address, account)]) => {
                return Ok(put_leaf(batch, position, *address, *account));
            }
            (
                Current::Moved(existing, _)
                | Current::Stored(Node::Leaf {
                    address: existing, ..
                }),
                [(address, account)],
            ) if existing == *address => {
                return Ok(put_leaf(batch, position, *address, *account));
            }
            (Current::Empty, _) => [Child::Known(EMPTY_ROOT); 2],
            (Current::Stored(Node::Internal { left, right }), _) => {
                [Child::Known(left), Child::Known(right)]
            }
            (
                Current::Moved(address, account) | Current::Stored(Node::Leaf { address, account }),
                _,
            ) => push_down(&position, address, account)?,
        };
        self.update_children(position, children, updates, batch)
    }

    /// Rewrites both children of `position` and the internal node over them.
    fn update_children(
        &self,
        position: NodePosition,
        children: [Child; 2],
        updates: &[(Address, Account)],
        batch: &mut NodeBatch,
    ) -> TrieResult<Hash> {
        if position.is_bottom() {
            return Err(TrieError::DepthExceeded { max: TRIE_DEPTH });
        }
        let (left_updates, right_updates) = split_by_bit(updates, position.depth().into());
        let left = self.update_child(position.child(false), children[0], left_updates, batch)?;
        let right = self.update_child(position.child(true), children[1], right_updates, batch)?;
        batch.put(position, Node::Internal { left, right });
        Ok(node_hash(&left, &right))
    }

    /// Rewrites one child, reading it from the store only if the update reaches into it.
    fn update_child(
        &self,
        position: NodePosition,
        child: Child,
        updates: &[(Address, Account)],
        batch: &mut NodeBatch,
    ) -> TrieResult<Hash> {
        let current = match child {
            Child::Known(hash) if updates.is_empty() => return Ok(hash),
            Child::Known(hash) => self
                .load_child(&position, &hash)?
                .map_or(Current::Empty, Current::Stored),
            Child::Moved(address, account) => Current::Moved(address, account),
        };
        self.update_subtree(position, current, updates, batch)
    }
}

impl<S: TrieStoreMut> Trie<S> {
    /// Applies a batch of inserts and updates and returns the new root.
    pub fn update(&mut self, updates: &BTreeMap<Address, Account>) -> TrieResult<Hash> {
        let (root, batch) = self.prepare_update(updates)?;
        self.store_mut().apply(&batch)?;
        Ok(root)
    }
}

/// Records a leaf write and returns its hash.
fn put_leaf(
    batch: &mut NodeBatch,
    position: NodePosition,
    address: Address,
    account: Account,
) -> Hash {
    batch.put(position, Node::Leaf { address, account });
    leaf_hash(&address, &account)
}

/// The children of a position whose lone leaf must move down because another account arrives.
fn push_down(
    position: &NodePosition,
    address: Address,
    account: Account,
) -> TrieResult<[Child; 2]> {
    let right_side = position
        .direction_of(&address)
        .ok_or(TrieError::DepthExceeded { max: TRIE_DEPTH })?;
    let moved = Child::Moved(address, account);
    let empty = Child::Known(EMPTY_ROOT);
    Ok(if right_side {
        [empty, moved]
    } else {
        [moved, empty]
    })
}
