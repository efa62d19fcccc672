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

/// One stored node. Encodes (canonical codec) as a MessagePack map `{variant: [fields]}`.
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
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
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
