//! The wire form of partial trees and witnesses: flat, pre-order node lists, decoded without
//! recursion and within named bounds, so hostile input can neither overflow the stack nor
//! allocate past [`WITNESS_NODES_MAX`] nodes.
//!
//! A node on the wire is one MessagePack value, told apart by its type:
//! - `0` (integer): an internal node; its left then right subtree follow.
//! - `1` (integer): an empty subtree.
//! - `bin` of 32 bytes (hex string in JSON): a pruned, non-empty subtree's hash.
//! - `[address, account]`: a leaf.
//!
//! Decoding refuses shapes a canonical tree never has (an internal node over two empty
//! children or over one leaf and one empty child, a pruned all-zero hash, an internal node at
//! the last level, a leaf off its path), so a witness that passes the root check also updates to
//! the canonical root.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use crate::limits::WITNESS_NODES_MAX;
use crate::primitives::{Address, Hash};
use crate::state::Account;

use super::error::{TrieError, TrieResult};
use super::hashing::EMPTY_ROOT;
use super::partial::{PartialNode, PartialTree};
use super::position::NodePosition;

/// Wire tag of an internal node.
const TAG_INTERNAL: u64 = 0;
/// Wire tag of an empty subtree.
const TAG_EMPTY: u64 = 1;

/// One node of the flat pre-order wire form.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum WireNode {
    /// An internal node; its two subtrees follow.
    Internal,
    /// An empty subtree.
    Empty,
    /// A pruned, non-empty subtree.
    Pruned(Hash),
    /// A leaf.
    Leaf(Address, Account),
}

impl Serialize for WireNode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Internal => serializer.serialize_u64(TAG_INTERNAL),
            Self::Empty => serializer.serialize_u64(TAG_EMPTY),
            Self::Pruned(hash) => hash.serialize(serializer),
            Self::Leaf(address, account) => (address, account).serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for WireNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WireNodeVisitor)
    }
}

/// Tells the four wire node forms apart by MessagePack (or JSON) type.
struct WireNodeVisitor;

impl WireNodeVisitor {
    /// A pruned hash, refusing the empty hash (the canonical form of empty is the tag).
    fn pruned<E: de::Error>(hash: Hash) -> Result<WireNode, E> {
        if hash == EMPTY_ROOT {
            return Err(E::custom("pruned subtree with the empty hash"));
        }
        Ok(WireNode::Pruned(hash))
    }
}

impl<'de> Visitor<'de> for WireNodeVisitor {
    type Value = WireNode;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a tree node: 0, 1, a 32-byte hash or [address, account]")
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<WireNode, E> {
        match value {
            TAG_INTERNAL => Ok(WireNode::Internal),
            TAG_EMPTY => Ok(WireNode::Empty),
            _ => Err(E::custom("unknown tree node tag")),
        }
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<WireNode, E> {
        let hash = Hash::from_slice(bytes).ok_or_else(|| E::invalid_length(bytes.len(), &self))?;
        Self::pruned(hash)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<WireNode, E> {
        Self::pruned(text.parse().map_err(E::custom)?)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<WireNode, A::Error> {
        let address: Address = sequence
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let account: Account = sequence
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        if sequence.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(3, &self));
        }
        Ok(WireNode::Leaf(address, account))
    }
}

/// A sequence that refuses to grow past `MAX` elements while decoding, so a hostile length
/// prefix or an endless list cannot allocate more than the limit.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
#[serde(transparent)]
pub(crate) struct BoundedVec<T, const MAX: usize>(pub(crate) Vec<T>);

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for BoundedVec<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(BoundedVisitor::<T, MAX>(PhantomData))
    }
}

/// Visitor for [`BoundedVec`].
struct BoundedVisitor<T, const MAX: usize>(PhantomData<T>);

impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for BoundedVisitor<T, MAX> {
    type Value = BoundedVec<T, MAX>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "a sequence of at most {MAX} elements")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<Self::Value, A::Error> {
        // Trust the announced length only up to a small allocation.
        let mut elements = Vec::with_capacity(sequence.size_hint().unwrap_or(0).min(4_096));
        while let Some(element) = sequence.next_element()? {
            if elements.len() == MAX {
                return Err(de::Error::custom(TrieError::TooManyNodes {
                    got: MAX + 1,
                    max: MAX,
                }));
            }
            elements.push(element);
        }
        Ok(BoundedVec(elements))
    }
}

/// Wire nodes of one witness or multiproof, bounded by [`WITNESS_NODES_MAX`].
pub(crate) type WireNodes = BoundedVec<WireNode, WITNESS_NODES_MAX>;

/// The pre-order wire form of one or more trees' nodes, one after the other, serialized as
/// one sequence straight from the trees. It encodes as the list of their [`WireNode`]s would,
/// without building that list: for a full block's witness the list was about 4 MB (a leaf's
/// wire node is 72 bytes) beside an encoding of under 2 MB.
pub(crate) struct PreOrderNodes<'a>(pub(crate) Vec<&'a PartialNode>);

impl Serialize for PreOrderNodes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let count = self.0.iter().map(|root| node_count(root)).sum();
        let mut sequence = serializer.serialize_seq(Some(count))?;
        for root in &self.0 {
            serialize_pre_order(root, &mut sequence)?;
        }
        sequence.end()
    }
}

/// Nodes in the subtree under `node`, itself included. Recursion follows the tree, at most
/// 160 levels.
fn node_count(node: &PartialNode) -> usize {
    match node {
        PartialNode::Internal { children, .. } => {
            1 + node_count(&children[0]) + node_count(&children[1])
        }
        PartialNode::Empty | PartialNode::Pruned(_) | PartialNode::Leaf { .. } => 1,
    }
}

/// Serializes the subtree under `node` in pre-order, one [`WireNode`] per element.
/// Recursion follows the tree, at most 160 levels.
fn serialize_pre_order<S: SerializeSeq>(
    node: &PartialNode,
    sequence: &mut S,
) -> Result<(), S::Error> {
    match node {
        PartialNode::Empty => sequence.serialize_element(&WireNode::Empty),
        PartialNode::Pruned(hash) => sequence.serialize_element(&WireNode::Pruned(*hash)),
        PartialNode::Leaf { address, account } => {
            sequence.serialize_element(&WireNode::Leaf(*address, **account))
        }
        PartialNode::Internal { children, .. } => {
            sequence.serialize_element(&WireNode::Internal)?;
            serialize_pre_order(&children[0], sequence)?;
            serialize_pre_order(&children[1], sequence)
        }
    }
}

/// Rebuilds the subtree at `root_position` from the front of `nodes`, without recursion (an
/// explicit stack at most 160 entries deep), hashing every internal node once.
pub(crate) fn build(
    root_position: NodePosition,
    nodes: &mut impl Iterator<Item = WireNode>,
) -> TrieResult<PartialNode> {
    // Internal nodes whose subtrees are being read: position and, once read, the left child.
    let mut open: Vec<(NodePosition, Option<PartialNode>)> = Vec::new();
    let mut position = root_position;
    loop {
        let wire = nodes
            .next()
            .ok_or_else(|| TrieError::corrupt(&position, "node list ends early"))?;
        let mut finished = match wire {
            WireNode::Internal if position.is_bottom() => {
                return Err(TrieError::corrupt(
                    &position,
                    "internal node at the last level",
                ));
            }
            WireNode::Internal => {
                open.push((position, None));
                position = position.child(false);
                continue;
            }
            WireNode::Empty => PartialNode::Empty,
            WireNode::Pruned(hash) => PartialNode::Pruned(hash),
            WireNode::Leaf(address, _) if !position.contains(&address) => {
                return Err(TrieError::corrupt(
                    &position,
                    "leaf address is not under its position",
                ));
            }
            WireNode::Leaf(address, account) => super::partial::leaf(address, account),
        };
        // Close every internal node whose right subtree this completes.
        loop {
            match open.pop() {
                None => return Ok(finished),
                Some((parent, None)) => {
                    position = parent.child(true);
                    open.push((parent, Some(finished)));
                    break;
                }
                Some((parent, Some(left))) => finished = close_internal(&parent, left, finished)?,
            }
        }
    }
}

/// An internal node over two decoded children, refusing shapes with fewer than two accounts.
fn close_internal(
    position: &NodePosition,
    left: PartialNode,
    right: PartialNode,
) -> TrieResult<PartialNode> {
    let lone = |node: &PartialNode| matches!(node, PartialNode::Empty | PartialNode::Leaf { .. });
    let has_account = |node: &PartialNode| !matches!(node, PartialNode::Empty);
    let accounts_visible = usize::from(has_account(&left)) + usize::from(has_account(&right));
    if lone(&left) && lone(&right) && accounts_visible < 2 {
        return Err(TrieError::corrupt(
            position,
            "internal node with fewer than two accounts",
        ));
    }
    Ok(PartialNode::internal([left, right]))
}

/// The wire form of a [`PartialTree`]: `[root_position, [node...]]`.
#[derive(Deserialize)]
struct PartialTreeEncoding {
    root_position: NodePosition,
    nodes: WireNodes,
}

/// [`PartialTreeEncoding`] as it is written, from the tree itself.
#[derive(Serialize)]
struct PartialTreeEncodingRef<'a> {
    root_position: NodePosition,
    nodes: PreOrderNodes<'a>,
}

impl Serialize for PartialTree {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        PartialTreeEncodingRef {
            root_position: self.root_position,
            nodes: PreOrderNodes(vec![&self.root]),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PartialTree {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let encoding = PartialTreeEncoding::deserialize(deserializer)?;
        let mut nodes = encoding.nodes.0.into_iter();
        let root = build(encoding.root_position, &mut nodes).map_err(de::Error::custom)?;
        if nodes.next().is_some() {
            return Err(de::Error::custom("nodes left after the partial tree"));
        }
        Ok(PartialTree {
            root_position: encoding.root_position,
            root,
        })
    }
}
