//! Ordered binary Merkle root over a list of hashes (a block's transactions and receipts root),
//! and inclusion proofs so a client can check that one hash is at one position in the list.
//!
//! The tree, stable (changing it is a hard fork):
//! - An empty list has root [`Hash::ZERO`].
//! - Each leaf `h` becomes `keccak256(0x00 ‖ h)`; two children `l`, `r` become
//!   `keccak256(0x01 ‖ l ‖ r)`. The prefixes keep a leaf from ever passing for an inner node.
//! - Each level pairs nodes left to right. When a level has an odd count, its last node has no
//!   partner and is **promoted unchanged** to the next level (it is not paired with a copy of
//!   itself, which would let `[a, b, c]` and `[a, b, c, c]` share a root, as in Bitcoin).
//!
//! The shape of the tree therefore depends only on the leaf count, and every node's preimage
//! says whether it is a leaf or an inner node, so the root determines the list: two different
//! lists with one root would need a keccak256 collision.

use serde::{Deserialize, Serialize};

use crate::limits::MERKLE_PROOF_HASHES_MAX;
use crate::primitives::{Hash, keccak256_concat};

/// Domain prefix of a leaf node.
const LEAF_PREFIX: [u8; 1] = [0x00];
/// Domain prefix of an inner node.
const NODE_PREFIX: [u8; 1] = [0x01];

/// Why an inclusion proof could not be built or did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// The position is not inside the list.
    #[error("index {index} is out of range for {count} leaves")]
    IndexOutOfRange {
        /// Position asked for.
        index: usize,
        /// Leaves in the list.
        count: usize,
    },
    /// The proof has the wrong number of sibling hashes for this position and count.
    #[error("proof has {got} sibling hashes, position needs {expected}")]
    ProofLength {
        /// Sibling hashes the position needs.
        expected: usize,
        /// Sibling hashes in the proof.
        got: usize,
    },
    /// The proof is well formed but leads to a different root.
    #[error("proof leads to root {got}, expected {expected}")]
    RootMismatch {
        /// The root the caller trusts.
        expected: Hash,
        /// The root the proof computes.
        got: Hash,
    },
}

/// Result alias for Merkle proofs.
pub type MerkleResult<T> = Result<T, MerkleError>;

/// The hash of a leaf node.
fn leaf_node(leaf: &Hash) -> Hash {
    keccak256_concat(&[&LEAF_PREFIX, leaf.as_bytes()])
}

/// The hash of an inner node.
fn inner_node(left: &Hash, right: &Hash) -> Hash {
    keccak256_concat(&[&NODE_PREFIX, left.as_bytes(), right.as_bytes()])
}

/// The next level up: pairs left to right, the odd last node promoted unchanged.
fn parent_level(level: &[Hash]) -> Vec<Hash> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [left, right] => inner_node(left, right),
            [single] => *single,
            _ => unreachable!("chunks(2) yields one or two items"),
        })
        .collect()
}

/// The Merkle root of `leaves` in order; [`Hash::ZERO`] for an empty list.
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return Hash::ZERO;
    }
    let mut level: Vec<Hash> = leaves.iter().map(leaf_node).collect();
    while level.len() > 1 {
        level = parent_level(&level);
    }
    level[0]
}

/// Proof that a leaf sits at one position of a list with a given root.
///
/// Holds the sibling hashes from the leaf's level upwards, skipping the levels where the path's
/// node was the odd last one and was promoted without a sibling.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MerkleProof {
    /// Sibling hashes, bottom level first.
    pub siblings: Vec<Hash>,
}

/// Builds the proof for the leaf at `index`.
pub fn merkle_proof(leaves: &[Hash], index: usize) -> MerkleResult<MerkleProof> {
    if index >= leaves.len() {
        return Err(MerkleError::IndexOutOfRange {
            index,
            count: leaves.len(),
        });
    }
    let mut siblings = Vec::new();
    let mut level: Vec<Hash> = leaves.iter().map(leaf_node).collect();
    let mut position = index;
    while level.len() > 1 {
        if let Some(sibling) = level.get(position ^ 1) {
            siblings.push(*sibling);
        }
        level = parent_level(&level);
        position /= 2;
    }
    Ok(MerkleProof { siblings })
}

impl MerkleProof {
    /// Checks that `leaf` is at `index` of a `count`-leaf list whose root is `root`.
    ///
    /// The caller supplies `count` (a block header's list is known from the block), since the
    /// count decides where the tree promotes odd nodes and so how the path is hashed.
    pub fn verify(&self, root: &Hash, leaf: &Hash, index: usize, count: usize) -> MerkleResult<()> {
        if index >= count {
            return Err(MerkleError::IndexOutOfRange { index, count });
        }
        let expected = sibling_count(index, count);
        if self.siblings.len() != expected || expected > MERKLE_PROOF_HASHES_MAX {
            return Err(MerkleError::ProofLength {
                expected,
                got: self.siblings.len(),
            });
        }
        let mut node = leaf_node(leaf);
        let mut siblings = self.siblings.iter();
        let (mut position, mut level_count) = (index, count);
        while level_count > 1 {
            let has_sibling = position % 2 == 1 || position + 1 < level_count;
            if has_sibling {
                let Some(sibling) = siblings.next() else {
                    unreachable!("sibling count was checked against the path");
                };
                node = if position % 2 == 1 {
                    inner_node(sibling, &node)
                } else {
                    inner_node(&node, sibling)
                };
            }
            position /= 2;
            level_count = level_count.div_ceil(2);
        }
        if node != *root {
            return Err(MerkleError::RootMismatch {
                expected: *root,
                got: node,
            });
        }
        Ok(())
    }
}

/// How many siblings the path of leaf `index` in a `count`-leaf tree has.
fn sibling_count(index: usize, count: usize) -> usize {
    let (mut position, mut level_count, mut siblings) = (index, count, 0);
    while level_count > 1 {
        if position % 2 == 1 || position + 1 < level_count {
            siblings += 1;
        }
        position /= 2;
        level_count = level_count.div_ceil(2);
    }
    siblings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::keccak256;

    fn leaves(count: usize) -> Vec<Hash> {
        (0..count as u64)
            .map(|index| keccak256(index.to_be_bytes()))
            .collect()
    }

    #[test]
    fn empty_is_zero_and_single_is_domain_separated() {
        assert_eq!(merkle_root(&[]), Hash::ZERO);
        let one = leaves(1);
        assert_eq!(merkle_root(&one), leaf_node(&one[0]));
        assert_ne!(merkle_root(&one), one[0]);
    }

    #[test]
    fn small_trees_match_the_documented_shape() {
        let list = leaves(3);
        let (a, b, c) = (
            leaf_node(&list[0]),
            leaf_node(&list[1]),
            leaf_node(&list[2]),
        );
        assert_eq!(merkle_root(&list), inner_node(&inner_node(&a, &b), &c));
    }

    #[test]
    fn duplicating_the_last_leaf_changes_the_root() {
        let three = leaves(3);
        let mut four = three.clone();
        four.push(three[2]);
        assert_ne!(merkle_root(&three), merkle_root(&four));
    }

    #[test]
    fn a_leaf_cannot_pass_for_an_inner_node() {
        let list = leaves(2);
        let inner = inner_node(&leaf_node(&list[0]), &leaf_node(&list[1]));
        // The one-leaf list [inner] must not share the two-leaf list's root.
        assert_ne!(merkle_root(&[inner]), merkle_root(&list));
    }

    #[test]
    fn proof_errors_are_typed() {
        let list = leaves(5);
        let root = merkle_root(&list);
        assert_eq!(
            merkle_proof(&list, 5),
            Err(MerkleError::IndexOutOfRange { index: 5, count: 5 })
        );
        let proof = merkle_proof(&list, 4).expect("in range");
        assert_eq!(proof.verify(&root, &list[4], 4, 5), Ok(()));
        assert!(matches!(
            proof.verify(&root, &list[3], 4, 5),
            Err(MerkleError::RootMismatch { .. })
        ));
        assert!(matches!(
            proof.verify(&root, &list[4], 3, 5),
            Err(MerkleError::ProofLength { .. }) | Err(MerkleError::RootMismatch { .. })
        ));
        assert!(matches!(
            proof.verify(&root, &list[4], 4, 6),
            Err(MerkleError::ProofLength { .. }) | Err(MerkleError::RootMismatch { .. })
        ));
        assert!(matches!(
            proof.verify(&root, &list[4], 9, 5),
            Err(MerkleError::IndexOutOfRange { .. })
        ));
        let mut long = proof.clone();
        long.siblings.push(Hash::ZERO);
        assert!(matches!(
            long.verify(&root, &list[4], 4, 5),
            Err(MerkleError::ProofLength { .. })
        ));
    }

    #[test]
    fn huge_claimed_counts_do_not_panic() {
        let proof = MerkleProof::default();
        assert!(
            proof
                .verify(&Hash::ZERO, &Hash::ZERO, 0, usize::MAX)
                .is_err()
        );
        assert!(
            proof
                .verify(&Hash::ZERO, &Hash::ZERO, usize::MAX - 1, usize::MAX)
                .is_err()
        );
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn every_leaf_proves_and_others_do_not(count in 1usize..70, seed in any::<u64>()) {
                let list: Vec<Hash> = (0..count as u64)
                    .map(|index| keccak256((index ^ seed).to_be_bytes()))
                    .collect();
                let root = merkle_root(&list);
                for (index, leaf) in list.iter().enumerate() {
                    let proof = merkle_proof(&list, index).expect("in range");
                    prop_assert_eq!(proof.verify(&root, leaf, index, count), Ok(()));
                    let other = keccak256(leaf.as_bytes());
                    prop_assert!(proof.verify(&root, &other, index, count).is_err());
                }
                let encoded = crate::codec::encode(&merkle_proof(&list, 0).expect("in range"));
                let decoded: MerkleProof = crate::codec::decode_canonical(&encoded, 4096).expect("decodes");
                prop_assert_eq!(decoded, merkle_proof(&list, 0).expect("in range"));
            }

            #[test]
            fn different_lists_have_different_roots(
                first in proptest::collection::vec(any::<[u8; 32]>(), 0..12),
                second in proptest::collection::vec(any::<[u8; 32]>(), 0..12),
            ) {
                let first: Vec<Hash> = first.into_iter().map(Hash).collect();
                let second: Vec<Hash> = second.into_iter().map(Hash).collect();
                prop_assert_eq!(first == second, merkle_root(&first) == merkle_root(&second));
            }

            #[test]
            fn prefix_and_extension_differ(list in proptest::collection::vec(any::<[u8; 32]>(), 1..20)) {
                let list: Vec<Hash> = list.into_iter().map(Hash).collect();
                let mut extended = list.clone();
                extended.push(*list.last().expect("non-empty"));
                prop_assert_ne!(merkle_root(&list), merkle_root(&extended));
            }
        }
    }
}
