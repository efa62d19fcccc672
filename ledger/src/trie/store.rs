//! Stored nodes and the storage traits: the tree works through [`TrieStore`], the in-memory
//! [`MemoryTrieStore`] serves tests and the sequencer's scratch state, and a shard's SQLite store
//! implements the same traits in the shell.
//!
//! What is stored: at every position holding two or more accounts, an [`Node::Internal`] with its
//! children's hashes; at every shortcut-leaf position, a [`Node::Leaf`]. Empty positions hold
//! nothing. Accounts are never deleted, so a position only ever changes from empty to leaf,
//! from leaf to leaf, from leaf to internal, or from internal to internal: updates only put.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::primitives::{Address, Hash};
use crate::state::Account;

use super::error::TrieResult;
use super::hashing::{leaf_hash, node_hash};
use super::position::NodePosition;

/// One stored node (a SQLite store keeps [`crate::codec::encode`] of it under
/// [`NodePosition::to_key_bytes`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Node {
    /// A position with two or more accounts below: the hashes of its two children.
    Internal {
        /// Hash of the left (bit 0) child subtree.
        left: Hash,
        /// Hash of the right (bit 1) child subtree.
        right: Hash,
    },
    /// The only account in the subtree at this position.
    Leaf {
        /// The account's address (its full path).
        address: Address,
        /// The account's state.
        account: Account,
    },
}

impl Node {
    /// The hash of the subtree this node roots.
    pub fn hash(&self) -> Hash {
        match self {
            Self::Internal { left, right } => node_hash(left, right),
            Self::Leaf { address, account } => leaf_hash(address, account),
        }
    }
}

/// Read access to stored nodes. Synchronous: Durable Object SQLite storage is.
pub trait TrieStore {
    /// The node at `position`, or `None` if that position is empty or covered by a leaf above.
    fn node(&self, position: &NodePosition) -> TrieResult<Option<Node>>;
}

/// Write access: applies a [`NodeBatch`] made by [`Trie::prepare_update`](super::Trie::prepare_update).
pub trait TrieStoreMut: TrieStore {
    /// Writes every node of `batch`. Should be atomic (one SQLite transaction).
    fn apply(&mut self, batch: &NodeBatch) -> TrieResult<()>;
}

impl<S: TrieStore + ?Sized> TrieStore for &S {
    fn node(&self, position: &NodePosition) -> TrieResult<Option<Node>> {
        (**self).node(position)
    }
}

impl<S: TrieStore + ?Sized> TrieStore for &mut S {
    fn node(&self, position: &NodePosition) -> TrieResult<Option<Node>> {
        (**self).node(position)
    }
}

impl<S: TrieStoreMut + ?Sized> TrieStoreMut for &mut S {
    fn apply(&mut self, batch: &NodeBatch) -> TrieResult<()> {
        (**self).apply(batch)
    }
}

/// The node writes of one update: each position and the node to put there (overwriting).
///
/// No deletions are ever needed (see the module docs). Positions are distinct and ordered.
/// Not a wire type: a shard computes its own batch from the write set it is sent.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct NodeBatch {
    puts: BTreeMap<NodePosition, Node>,
}

impl NodeBatch {
    /// Records a write of `node` at `position`, replacing an earlier write there.
    pub fn put(&mut self, position: NodePosition, node: Node) {
        self.puts.insert(position, node);
    }

    /// The writes, in position order.
    pub fn puts(&self) -> impl ExactSizeIterator<Item = (&NodePosition, &Node)> {
        self.puts.iter()
    }

    /// Number of writes.
    pub fn len(&self) -> usize {
        self.puts.len()
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.puts.is_empty()
    }

    /// Adds every write of `other`, later writes winning.
    pub fn extend(&mut self, other: NodeBatch) {
        self.puts.extend(other.puts);
    }
}

/// A store in a `BTreeMap`: tests, benchmarks, and scratch state.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct MemoryTrieStore {
    nodes: BTreeMap<NodePosition, Node>,
}

impl MemoryTrieStore {
    /// Number of stored nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every stored node, in position order.
    pub fn nodes(&self) -> impl Iterator<Item = (&NodePosition, &Node)> {
        self.nodes.iter()
    }
}

impl TrieStore for MemoryTrieStore {
    fn node(&self, position: &NodePosition) -> TrieResult<Option<Node>> {
        Ok(self.nodes.get(position).copied())
    }
}

impl TrieStoreMut for MemoryTrieStore {
    fn apply(&mut self, batch: &NodeBatch) -> TrieResult<()> {
        self.nodes
            .extend(batch.puts().map(|(position, node)| (*position, *node)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;
    use crate::primitives::U256;

    #[test]
    fn nodes_round_trip_through_the_codec() {
        let leaf = Node::Leaf {
            address: Address([7; 20]),
            account: Account::with_balance(U256::from(9u64)),
        };
        let internal = Node::Internal {
            left: Hash([1; 32]),
            right: Hash::ZERO,
        };
        for node in [leaf, internal] {
            let bytes = codec::encode(&node);
            assert_eq!(codec::decode_canonical::<Node>(&bytes, 128), Ok(node));
        }
        let mut batch = NodeBatch::default();
        batch.put(NodePosition::root(), internal);
        batch.put(NodePosition::root(), leaf);
        assert_eq!(batch.len(), 1, "a later write replaces an earlier one");
        let mut store = MemoryTrieStore::default();
        store.apply(&batch).expect("apply");
        assert_eq!(store.node(&NodePosition::root()), Ok(Some(leaf)));
    }
}
