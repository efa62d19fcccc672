//! [`NodePosition`]: where a subtree sits in the tree, by depth and address prefix.

use serde::{Deserialize, Serialize};

use crate::limits::TRIE_DEPTH;
use crate::primitives::Address;
use crate::state::{ShardIndex, ShardLayout};

/// The position of a subtree: its depth (0 = the global root, 160 = a single address) and the
/// address bits leading to it. Bits of `prefix` beyond `depth` are always zero, so every position
/// has exactly one representation (and one storage key).
///
/// Ordered by depth, then prefix. Encodes as `[depth, prefix]`; decoding refuses depths past 160
/// and stray prefix bits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "PositionEncoding")]
pub struct NodePosition {
    depth: u8,
    prefix: Address,
}

/// The unchecked wire form of a [`NodePosition`].
#[derive(Deserialize)]
struct PositionEncoding {
    depth: u8,
    prefix: Address,
}

/// Why a wire position was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid node position: depth past 160 or prefix bits set beyond the depth")]
pub struct InvalidPosition;

impl TryFrom<PositionEncoding> for NodePosition {
    type Error = InvalidPosition;
    fn try_from(encoding: PositionEncoding) -> Result<Self, InvalidPosition> {
        Self::new(encoding.depth, encoding.prefix).ok_or(InvalidPosition)
    }
}

/// `address` with every bit from `depth` on cleared.
fn truncate(address: &Address, depth: usize) -> Address {
    let mut bytes = address.0;
    let whole_bytes = depth / 8;
    let spare_bits = depth % 8;
    for (index, byte) in bytes.iter_mut().enumerate() {
        if index > whole_bytes || (index == whole_bytes && spare_bits == 0) {
            *byte = 0;
        } else if index == whole_bytes {
            *byte &= 0xff << (8 - spare_bits);
        }
    }
    Address(bytes)
}

impl NodePosition {
    /// The global root: depth 0.
    pub const fn root() -> Self {
        Self {
            depth: 0,
            prefix: Address::ZERO,
        }
    }

    /// A position from its parts, or `None` if `depth > 160` or `prefix` has bits past `depth`.
    pub fn new(depth: u8, prefix: Address) -> Option<Self> {
        let valid = usize::from(depth) <= TRIE_DEPTH && truncate(&prefix, depth.into()) == prefix;
        valid.then_some(Self { depth, prefix })
    }

    /// The position at `depth` on the path of `address`, or `None` if `depth > 160`.
    pub fn containing(address: &Address, depth: u8) -> Option<Self> {
        (usize::from(depth) <= TRIE_DEPTH).then(|| Self {
            depth,
            prefix: truncate(address, depth.into()),
        })
    }

    /// The root of shard `shard` of `layout`: depth `k`, prefix the shard index.
    pub fn shard_root(layout: ShardLayout, shard: ShardIndex) -> Self {
        Self {
            depth: layout.shard_bits(),
            prefix: layout.first_address(shard),
        }
    }

    /// The left (`right == false`) or right child.
    ///
    /// Panics at depth 160, which has no children: traversals stop there, so reaching it is a bug.
    pub fn child(&self, right: bool) -> Self {
        let depth = usize::from(self.depth);
        assert!(depth < TRIE_DEPTH, "a depth-160 position has no children");
        let mut prefix = self.prefix;
        if right {
            prefix.0[depth / 8] |= 0x80 >> (depth % 8);
        }
        Self {
            depth: self.depth + 1,
            prefix,
        }
    }

    /// Whether `address` lies in this subtree (its first `depth` bits equal the prefix).
    pub fn contains(&self, address: &Address) -> bool {
        truncate(address, self.depth.into()) == self.prefix
    }

    /// Depth: 0 for the global root, `k` for shard roots, at most 160.
    pub const fn depth(&self) -> u8 {
        self.depth
    }

    /// The address bits leading here, the rest zero.
    pub const fn prefix(&self) -> &Address {
        &self.prefix
    }

    /// Whether this position is the last level (a single address), which has no children.
    pub const fn is_bottom(&self) -> bool {
        self.depth as usize == TRIE_DEPTH
    }

    /// Which child the path of `address` takes from here (`true` = right), or `None` at the
    /// bottom. Assumes `address` is contained.
    pub fn direction_of(&self, address: &Address) -> Option<bool> {
        (!self.is_bottom()).then(|| address.bit(self.depth.into()))
    }

    /// A 21-byte storage key, depth first then prefix, ordered like the positions themselves.
    pub fn to_key_bytes(&self) -> [u8; 21] {
        let mut key = [0u8; 21];
        key[0] = self.depth;
        key[1..].copy_from_slice(self.prefix.as_bytes());
        key
    }

    /// Parses a key made by [`to_key_bytes`](Self::to_key_bytes); `None` if it is not one.
    pub fn from_key_bytes(key: &[u8]) -> Option<Self> {
        let (depth, prefix) = key.split_first()?;
        Self::new(*depth, Address::from_slice(prefix)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;

    #[test]
    fn children_set_bits_most_significant_first() {
        let root = NodePosition::root();
        let right = root.child(true);
        assert_eq!(right.prefix().0[0], 0x80);
        let right_left_right = right.child(false).child(true);
        assert_eq!(right_left_right.depth(), 3);
        assert_eq!(right_left_right.prefix().0[0], 0b1010_0000);
        let mut address = Address::ZERO;
        address.0[0] = 0b1010_1111;
        assert!(right_left_right.contains(&address));
        assert!(!right.child(true).contains(&address));
        assert!(root.contains(&address));
    }

    #[test]
    fn shard_roots_contain_their_shards_addresses() {
        let layout = ShardLayout::new(3).expect("valid");
        for shard in 0..8 {
            let position = NodePosition::shard_root(layout, shard);
            assert_eq!(position.depth(), 3);
            assert!(position.contains(&layout.first_address(shard)));
        }
    }

    #[test]
    fn invalid_positions_are_refused_on_decode() {
        let mut prefix = Address::ZERO;
        prefix.0[0] = 0x40;
        assert!(NodePosition::new(1, prefix).is_none());
        assert!(NodePosition::new(2, prefix).is_some());
        assert!(NodePosition::new(161, Address::ZERO).is_none());
        let bottom = NodePosition::containing(&Address([0xff; 20]), 160).expect("valid");
        assert!(bottom.is_bottom());
        assert_eq!(bottom.direction_of(&Address([0xff; 20])), None);
        let bytes = codec::encode(&(1u8, prefix));
        assert!(codec::decode::<NodePosition>(&bytes, 64).is_err());
        let good = codec::encode(&NodePosition::new(2, prefix));
        assert_eq!(
            codec::decode::<NodePosition>(&good, 64).ok(),
            NodePosition::new(2, prefix)
        );
        let key = bottom.to_key_bytes();
        assert_eq!(NodePosition::from_key_bytes(&key), Some(bottom));
    }
}
