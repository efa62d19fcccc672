//! [`Trie`]: a view of one subtree (a shard, or the whole tree when `k = 0`) in a store, with
//! reads and proofs. Updates are in [`update`](super::update).

use crate::primitives::{Address, Hash};
use crate::state::Account;

use super::error::{TrieError, TrieResult};
use super::hashing::EMPTY_ROOT;
use super::position::NodePosition;
use super::store::{Node, TrieStore};

/// A view of the subtree at `root_position` in a store.
///
/// The root position is also the highest place a leaf may float to: a shard trie rooted at depth
/// `k` keeps a lone account at depth `k`, as the shard layout requires.
#[derive(Clone, Debug)]
pub struct Trie<S> {
    store: S,
    root_position: NodePosition,
}

impl<S> Trie<S> {
    /// A view of the subtree at `root_position` in `store`.
    pub fn new(store: S, root_position: NodePosition) -> Self {
        Self {
            store,
            root_position,
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, mutably (to apply a batch from [`Trie::prepare_update`]).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }

    /// Where this view's subtree is rooted.
    pub fn root_position(&self) -> NodePosition {
        self.root_position
    }

    /// Refuses addresses outside this view's subtree.
    pub(crate) fn check_contains(&self, address: &Address) -> TrieResult<()> {
        if self.root_position.contains(address) {
            Ok(())
        } else {
            Err(TrieError::AddressOutsideSubtree {
                address: *address,
                depth: self.root_position.depth(),
            })
        }
    }
}

/// Checks the shape invariants a stored node must meet at `position`.
pub(crate) fn check_node(position: &NodePosition, node: &Node) -> TrieResult<()> {
    match node {
        Node::Leaf { address, .. } if !position.contains(address) => Err(TrieError::corrupt(
            position,
            "leaf address is not under its position",
        )),
        Node::Internal { .. } if position.is_bottom() => Err(TrieError::corrupt(
            position,
            "internal node at the last level",
        )),
        _ => Ok(()),
    }
}

impl<S: TrieStore> Trie<S> {
    /// Reads and shape-checks the node at `position`.
    pub(crate) fn load(&self, position: &NodePosition) -> TrieResult<Option<Node>> {
        let node = self.store.node(position)?;
        if let Some(node) = &node {
            check_node(position, node)?;
        }
        Ok(node)
    }

    /// Reads the node of a child whose parent records hash `hash`: `None` if that is empty, and
    /// an error if the parent says non-empty but nothing is stored.
    pub(crate) fn load_child(
        &self,
        position: &NodePosition,
        hash: &Hash,
    ) -> TrieResult<Option<Node>> {
        if *hash == EMPTY_ROOT {
            return Ok(None);
        }
        match self.load(position)? {
            Some(node) => Ok(Some(node)),
            None => Err(TrieError::corrupt(position, "non-empty child is missing")),
        }
    }

    /// The root hash of this view's subtree.
    pub fn root(&self) -> TrieResult<Hash> {
        Ok(self
            .load(&self.root_position)?
            .map_or(EMPTY_ROOT, |node| node.hash()))
    }

    /// The account at `address`, or `None` if it has never received value.
    pub fn get(&self, address: &Address) -> TrieResult<Option<Account>> {
        self.check_contains(address)?;
        let mut position = self.root_position;
        let mut node = self.load(&position)?;
        // Each step goes one level down and `load` refuses internal nodes at the last level,
        // so this ends within 160 steps.
        loop {
            match node {
                None => return Ok(None),
                Some(Node::Leaf {
                    address: leaf,
                    account,
                }) => return Ok((leaf == *address).then_some(account)),
                Some(Node::Internal { left, right }) => {
                    let right_side = address.bit(position.depth().into());
                    position = position.child(right_side);
                    let hash = if right_side { right } else { left };
                    node = self.load_child(&position, &hash)?;
                }
            }
        }
    }
}
