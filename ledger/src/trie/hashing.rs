//! The hash rules of the state tree, and the plain binary tree over the shard roots.
//!
//! - An empty subtree hashes to [`EMPTY_ROOT`] (all zeros), so empty space costs nothing.
//! - A leaf is `keccak256(0x00 ‖ address ‖ nonce (8, BE) ‖ balance (32, BE))`: 61 bytes, one
//!   keccak block.
//! - An internal node is `keccak256(0x01 ‖ left ‖ right)`, except that two empty children give
//!   [`EMPTY_ROOT`]. The 0x00/0x01 prefixes keep a leaf from ever passing for a node.

use crate::limits::SHARDS_MAX;
use crate::primitives::{Address, Hash, keccak256_concat};
use crate::state::{Account, ShardIndex};

/// Hash of an empty subtree.
pub const EMPTY_ROOT: Hash = Hash::ZERO;

/// Domain prefix of a leaf preimage.
const LEAF_PREFIX: u8 = 0x00;
/// Domain prefix of an internal node preimage.
const NODE_PREFIX: u8 = 0x01;

/// Hash of the leaf holding `account` at `address`.
pub fn leaf_hash(address: &Address, account: &Account) -> Hash {
    keccak256_concat(&[
        &[LEAF_PREFIX],
        address.as_bytes(),
        &account.nonce.to_be_bytes(),
        &account.balance.to_be_bytes::<32>(),
    ])
}

/// Hash of an internal node with children hashing to `left` and `right`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    if *left == EMPTY_ROOT && *right == EMPTY_ROOT {
        return EMPTY_ROOT;
    }
    keccak256_concat(&[&[NODE_PREFIX], left.as_bytes(), right.as_bytes()])
}

/// Asserts the shard root count is a layout's: a power of two from 1 to 256.
fn assert_shard_count(shard_roots: &[Hash]) {
    assert!(
        shard_roots.len().is_power_of_two() && shard_roots.len() <= SHARDS_MAX,
        "shard root count {} is not a power of two up to {SHARDS_MAX}",
        shard_roots.len()
    );
}

/// Hashes one level of the top tree into the level above it.
fn level_above(level: &[Hash]) -> Vec<Hash> {
    level
        .chunks_exact(2)
        .map(|pair| node_hash(&pair[0], &pair[1]))
        .collect()
}

/// The global state root: the plain binary tree over the `2^k` shard roots, in shard order.
///
/// Panics unless `shard_roots.len()` is a power of two no larger than 256; every caller holds
/// the roots of a validated [`ShardLayout`](crate::state::ShardLayout), so a wrong count is a bug.
pub fn root_over_shards(shard_roots: &[Hash]) -> Hash {
    assert_shard_count(shard_roots);
    let mut level = shard_roots.to_vec();
    while level.len() > 1 {
        level = level_above(&level);
    }
    level[0]
}

/// The `k` sibling hashes on the path from the global root down to shard `shard`, root-down.
///
/// Prepended to a shard proof they make a global proof. Panics on a shard count that is not a
/// power of two up to 256 or on a shard index out of range (both bugs, as for
/// [`root_over_shards`]).
pub fn top_path(shard_roots: &[Hash], shard: ShardIndex) -> Vec<Hash> {
    assert_shard_count(shard_roots);
    let shard = usize::from(shard);
    assert!(shard < shard_roots.len(), "shard {shard} out of range");
    let mut siblings_bottom_up = Vec::new();
    let mut level = shard_roots.to_vec();
    let mut index = shard;
    while level.len() > 1 {
        siblings_bottom_up.push(level[index ^ 1]);
        level = level_above(&level);
        index /= 2;
    }
    siblings_bottom_up.reverse();
    siblings_bottom_up
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::{U256, keccak256};

    #[test]
    fn leaf_preimage_is_one_keccak_block_with_the_documented_layout() {
        let address = Address([0xab; 20]);
        let account = Account {
            nonce: 7,
            balance: U256::from(1_000u64),
        };
        let mut preimage = vec![0x00];
        preimage.extend_from_slice(&[0xab; 20]);
        preimage.extend_from_slice(&7u64.to_be_bytes());
        preimage.extend_from_slice(&U256::from(1_000u64).to_be_bytes::<32>());
        assert_eq!(preimage.len(), 61, "fits one 136-byte keccak block");
        assert_eq!(leaf_hash(&address, &account), keccak256(&preimage));
    }

    #[test]
    fn node_of_two_empties_is_empty_and_otherwise_prefixed() {
        assert_eq!(node_hash(&EMPTY_ROOT, &EMPTY_ROOT), EMPTY_ROOT);
        let left = keccak256(b"left");
        let mut preimage = vec![0x01];
        preimage.extend_from_slice(left.as_bytes());
        preimage.extend_from_slice(EMPTY_ROOT.as_bytes());
        assert_eq!(node_hash(&left, &EMPTY_ROOT), keccak256(&preimage));
        assert_ne!(node_hash(&left, &EMPTY_ROOT), node_hash(&EMPTY_ROOT, &left));
    }

    #[test]
    fn top_tree_root_and_paths_agree() {
        let roots: Vec<Hash> = (0u8..8).map(|index| keccak256([index])).collect();
        let root = root_over_shards(&roots);
        let left = node_hash(
            &node_hash(&roots[0], &roots[1]),
            &node_hash(&roots[2], &roots[3]),
        );
        let right = node_hash(
            &node_hash(&roots[4], &roots[5]),
            &node_hash(&roots[6], &roots[7]),
        );
        assert_eq!(root, node_hash(&left, &right));
        assert_eq!(
            top_path(&roots, 5),
            vec![left, node_hash(&roots[6], &roots[7]), roots[4]]
        );
        assert_eq!(root_over_shards(&roots[..1]), roots[0]);
        assert!(top_path(&roots[..1], 0).is_empty());
    }
}
