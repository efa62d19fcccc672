//! [`PartialTree`]: a pruned copy of a subtree, holding the paths to some accounts and every
//! other subtree only as its hash. It is the multiproof a shard hands out and the witness a
//! block is executed and re-executed against.

use std::collections::BTreeMap;

use crate::limits::{TRIE_DEPTH, WITNESS_ACCOUNTS_MAX};
use crate::primitives::{Address, Hash};
use crate::state::Account;

use super::error::{TrieError, TrieResult};
use super::hashing::{EMPTY_ROOT, leaf_hash, node_hash};
use super::position::NodePosition;
use super::store::{Node, TrieStore};
use super::tree::Trie;
use super::update::split_by_bit;

/// One node of a partial tree. Shapes are canonical: an internal node has at least two accounts
/// below it (so never two empty children, nor one leaf beside an empty child).
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum PartialNode {
    /// A subtree known to be empty.
    Empty,
    /// A non-empty subtree known only by its hash.
    Pruned(Hash),
    /// A subtree holding exactly this account.
    Leaf {
        /// The account's address.
        address: Address,
        /// The account's state, boxed: inline, its 40 bytes would make every node of a
        /// witness (most of them pruned hashes and internal nodes) half as large again.
        account: Box<Account>,
    },
    /// A subtree with two or more accounts: its cached hash and its children.
    Internal {
        /// `node_hash` of the children's hashes, kept up to date by every change.
        hash: Hash,
        /// Left (bit 0) and right (bit 1) children.
        children: Box<[PartialNode; 2]>,
    },
}

impl PartialNode {
    /// The hash of this subtree (cached for internal nodes).
    pub(crate) fn hash(&self) -> Hash {
        match self {
            Self::Empty => EMPTY_ROOT,
            Self::Pruned(hash) | Self::Internal { hash, .. } => *hash,
            Self::Leaf { address, account } => leaf_hash(address, account),
        }
    }

    /// An internal node over `children`, hashing them once.
    pub(crate) fn internal(children: [PartialNode; 2]) -> Self {
        Self::Internal {
            hash: node_hash(&children[0].hash(), &children[1].hash()),
            children: Box::new(children),
        }
    }

    /// A subtree known by `hash` alone (empty if the hash says so).
    fn pruned(hash: Hash) -> Self {
        if hash == EMPTY_ROOT {
            Self::Empty
        } else {
            Self::Pruned(hash)
        }
    }
}

/// A pruned copy of the subtree at a position: the paths to some accounts, everything else
/// replaced by its hash. Serves as multiproof and as block witness.
///
/// Encoding (see [`encoding`](super::encoding)): `[root_position, [node...]]`, the nodes in
/// pre-order; decoding is iterative and bounded (depth at most 160, at most
/// [`WITNESS_NODES_MAX`](crate::limits::WITNESS_NODES_MAX) nodes) and refuses non-canonical
/// shapes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PartialTree {
    pub(crate) root_position: NodePosition,
    pub(crate) root: PartialNode,
}

impl PartialTree {
    /// The root hash of the subtree this partial tree stands for.
    pub fn root_hash(&self) -> Hash {
        self.root.hash()
    }

    /// Where the subtree is rooted (and the highest place a leaf may float to).
    pub fn root_position(&self) -> NodePosition {
        self.root_position
    }

    /// The account at `address`, `None` if the partial tree proves there is none, and
    /// [`TrieError::NotInWitness`] if the path was pruned.
    pub fn get(&self, address: &Address) -> TrieResult<Option<Account>> {
        self.check_contains(address)?;
        let mut position = self.root_position;
        let mut node = &self.root;
        // Internal nodes only exist above the last level (decoding and updates ensure it), and
        // each step goes one level down: at most 160 steps.
        loop {
            match node {
                PartialNode::Empty => return Ok(None),
                PartialNode::Pruned(_) => {
                    return Err(TrieError::NotInWitness { address: *address });
                }
                PartialNode::Leaf {
                    address: leaf,
                    account,
                } => return Ok((leaf == address).then_some(**account)),
                PartialNode::Internal { children, .. } => {
                    let right_side = position
                        .direction_of(address)
                        .ok_or(TrieError::DepthExceeded { max: TRIE_DEPTH })?;
                    position = position.child(right_side);
                    node = &children[usize::from(right_side)];
                }
            }
        }
    }

    /// Applies inserts and updates and returns the new root hash. Every address must be covered
    /// (its path not pruned); if one is not, nothing changes and the error names it.
    pub fn update(&mut self, updates: &BTreeMap<Address, Account>) -> TrieResult<Hash> {
        for address in updates.keys() {
            self.get(address)?;
        }
        let updates: Vec<(Address, Account)> = updates
            .iter()
            .map(|(address, account)| (*address, *account))
            .collect();
        update_node(&mut self.root, self.root_position, &updates)?;
        Ok(self.root_hash())
    }

    /// The partial tree of `addresses` on this tree's state, where this tree is a block's
    /// post-state (a witness updated with the block's writes) and `earlier`, if any, a partial
    /// tree of the same subtree at the block's parent root. Each address's path is taken from
    /// this tree where the block rewrote it, and from `earlier` where this tree holds only a
    /// hash: the block left those subtrees as they were, so `earlier`'s copy, which must hash
    /// the same, is exact. Everything off the paths is pruned to its hash. Fails if some
    /// address is covered by neither.
    pub fn carried_forward(
        &self,
        earlier: Option<&PartialTree>,
        addresses: &[Address],
    ) -> TrieResult<PartialTree> {
        let mut keys: Vec<(Address, ())> = addresses.iter().map(|address| (*address, ())).collect();
        keys.sort_unstable();
        keys.dedup();
        let earlier_root = earlier
            .filter(|earlier| earlier.root_position == self.root_position)
            .map(|earlier| &earlier.root);
        let tree = PartialTree {
            root_position: self.root_position,
            root: carry(&self.root, earlier_root, self.root_position, &keys)?,
        };
        for address in addresses {
            tree.get(address)?;
        }
        Ok(tree)
    }

    /// The addresses present as leaves, in address order.
    pub fn addresses(&self) -> Vec<Address> {
        let mut addresses = Vec::new();
        collect_addresses(&self.root, &mut addresses);
        addresses
    }

    /// Number of nodes (what the decoding limit counts).
    pub fn node_count(&self) -> usize {
        count_nodes(&self.root)
    }

    /// Refuses addresses outside this partial tree's subtree.
    fn check_contains(&self, address: &Address) -> TrieResult<()> {
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

/// Rewrites `node` at `position` with `updates` (sorted, under `position`, all covered).
/// Recursion is at most 160 deep: each level goes one level down the tree.
fn update_node(
    node: &mut PartialNode,
    position: NodePosition,
    updates: &[(Address, Account)],
) -> TrieResult<()> {
    match (&*node, updates) {
        (_, []) => return Ok(()),
        (PartialNode::Empty, [(address, account)]) => {
            *node = leaf(*address, *account);
            return Ok(());
        }
        (
            PartialNode::Leaf {
                address: existing, ..
            },
            [(address, account)],
        ) if existing == address => {
            *node = leaf(*address, *account);
            return Ok(());
        }
        (PartialNode::Pruned(_), [(address, _), ..]) => {
            return Err(TrieError::NotInWitness { address: *address });
        }
        _ => {}
    }
    let children = expand(node, &position)?;
    let (left, right) = split_by_bit(updates, position.depth().into());
    update_node(&mut children[0], position.child(false), left)?;
    update_node(&mut children[1], position.child(true), right)?;
    let hash = node_hash(&children[0].hash(), &children[1].hash());
    if let PartialNode::Internal { hash: cached, .. } = node {
        *cached = hash;
    }
    Ok(())
}

/// Turns an empty or leaf node that is about to receive a second account into an internal node
/// (pushing the leaf one level down) and returns its children.
fn expand<'node>(
    node: &'node mut PartialNode,
    position: &NodePosition,
) -> TrieResult<&'node mut [PartialNode; 2]> {
    if position.is_bottom() {
        return Err(TrieError::DepthExceeded { max: TRIE_DEPTH });
    }
    let children = match node {
        PartialNode::Empty => Some([PartialNode::Empty, PartialNode::Empty]),
        PartialNode::Leaf { address, .. } => {
            let right_side = position.direction_of(address).unwrap_or(false);
            let moved = std::mem::replace(node, PartialNode::Empty);
            Some(if right_side {
                [PartialNode::Empty, moved]
            } else {
                [moved, PartialNode::Empty]
            })
        }
        PartialNode::Pruned(_) | PartialNode::Internal { .. } => None,
    };
    if let Some(children) = children {
        // The hash is recomputed by the caller once the children are updated.
        *node = PartialNode::Internal {
            hash: EMPTY_ROOT,
            children: Box::new(children),
        };
    }
    match node {
        PartialNode::Internal { children, .. } => Ok(children),
        _ => Err(TrieError::corrupt(
            position,
            "update reached a pruned subtree",
        )),
    }
}

/// A leaf node.
pub(crate) fn leaf(address: Address, account: Account) -> PartialNode {
    PartialNode::Leaf {
        address,
        account: Box::new(account),
    }
}

/// [`PartialTree::carried_forward`] below `position`: `node` from the post-state, `earlier`
/// the node at the same position before the block (if known), `keys` the addresses under it.
fn carry(
    node: &PartialNode,
    earlier: Option<&PartialNode>,
    position: NodePosition,
    keys: &[(Address, ())],
) -> TrieResult<PartialNode> {
    if keys.is_empty() {
        return Ok(PartialNode::pruned(node.hash()));
    }
    match (node, earlier) {
        (PartialNode::Internal { hash, children }, _) => {
            let earlier_children = match earlier {
                Some(PartialNode::Internal { children, .. }) => Some(&**children),
                // Earlier a leaf, empty or pruned here: the block rewrote this subtree, and
                // the post-state knows all of it that the earlier tree did.
                _ => None,
            };
            let (left_keys, right_keys) = split_by_bit(keys, position.depth().into());
            let left = carry(
                &children[0],
                earlier_children.map(|children| &children[0]),
                position.child(false),
                left_keys,
            )?;
            let right = carry(
                &children[1],
                earlier_children.map(|children| &children[1]),
                position.child(true),
                right_keys,
            )?;
            Ok(PartialNode::Internal {
                hash: *hash,
                children: Box::new([left, right]),
            })
        }
        (PartialNode::Pruned(hash), Some(earlier))
            if !matches!(earlier, PartialNode::Pruned(_)) =>
        {
            if earlier.hash() != *hash {
                return Err(TrieError::corrupt(
                    &position,
                    "a subtree proven before the block does not hash as the block left it",
                ));
            }
            carry(earlier, None, position, keys)
        }
        // A leaf or an empty subtree is known whole; a subtree pruned in both stays pruned,
        // and the caller's coverage check names the address it hides.
        (other, _) => Ok(other.clone()),
    }
}

/// Appends the leaves under `node` in address order (left before right).
fn collect_addresses(node: &PartialNode, addresses: &mut Vec<Address>) {
    match node {
        PartialNode::Leaf { address, .. } => addresses.push(*address),
        PartialNode::Internal { children, .. } => {
            collect_addresses(&children[0], addresses);
            collect_addresses(&children[1], addresses);
        }
        PartialNode::Empty | PartialNode::Pruned(_) => {}
    }
}

/// Counts the nodes under and including `node`.
fn count_nodes(node: &PartialNode) -> usize {
    match node {
        PartialNode::Internal { children, .. } => {
            1 + count_nodes(&children[0]) + count_nodes(&children[1])
        }
        _ => 1,
    }
}

impl<S: TrieStore> Trie<S> {
    /// One partial tree covering every address in `addresses` (present or not): each account's
    /// leaf, or the empty subtree or other leaf that proves its absence, with everything off
    /// those paths pruned to its hash. At most [`WITNESS_ACCOUNTS_MAX`] addresses.
    pub fn multiproof(&self, addresses: &[Address]) -> TrieResult<PartialTree> {
        if addresses.len() > WITNESS_ACCOUNTS_MAX {
            return Err(TrieError::TooManyAccounts {
                got: addresses.len(),
                max: WITNESS_ACCOUNTS_MAX,
            });
        }
        for address in addresses {
            self.check_contains(address)?;
        }
        let mut keys: Vec<(Address, ())> = addresses.iter().map(|address| (*address, ())).collect();
        keys.sort_unstable();
        keys.dedup();
        let root_position = self.root_position();
        let root = match self.load(&root_position)? {
            None => PartialNode::Empty,
            Some(node) => self.prune(root_position, node, node.hash(), &keys)?,
        };
        Ok(PartialTree {
            root_position,
            root,
        })
    }

    /// The partial copy of the stored `node` (hashing to `hash`) at `position`, keeping the
    /// paths to `keys`. Recursion is at most 160 deep (`load` refuses internal nodes at the
    /// last level).
    fn prune(
        &self,
        position: NodePosition,
        node: Node,
        hash: Hash,
        keys: &[(Address, ())],
    ) -> TrieResult<PartialNode> {
        let (left, right) = match node {
            Node::Leaf { address, account } => return Ok(leaf(address, account)),
            Node::Internal { left, right } => (left, right),
        };
        let (left_keys, right_keys) = split_by_bit(keys, position.depth().into());
        let left = self.prune_child(position.child(false), left, left_keys)?;
        let right = self.prune_child(position.child(true), right, right_keys)?;
        Ok(PartialNode::Internal {
            hash,
            children: Box::new([left, right]),
        })
    }

    /// A child for [`Trie::prune`]: pruned to its hash unless a key goes through it.
    fn prune_child(
        &self,
        position: NodePosition,
        hash: Hash,
        keys: &[(Address, ())],
    ) -> TrieResult<PartialNode> {
        if keys.is_empty() {
            return Ok(PartialNode::pruned(hash));
        }
        match self.load_child(&position, &hash)? {
            None => Ok(PartialNode::Empty),
            Some(node) => self.prune(position, node, hash, keys),
        }
    }
}
