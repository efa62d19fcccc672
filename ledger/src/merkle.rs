//! Ordered Merkle roots over a list of hashes (a block's transactions and receipts roots), and
//! inclusion proofs so a client can check that one hash is at one position in the list.
//!
//! Two trees, both stable (changing either is a hard fork); a block's header says which one its
//! roots use ([`crate::block::BlockFormat`]).
//!
//! **The binary tree** ([`merkle_root`], [`merkle_proof`], [`MerkleProof::verify`]; block format
//! 1):
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
//!
//! **The quaternary tree** ([`quaternary_root`], [`quaternary_proof`],
//! [`MerkleProof::verify_quaternary`]; block formats 2 and 3), a sixth of the binary tree's keccak
//! permutations for the same list:
//! - An empty list has root [`Hash::ZERO`].
//! - Each level is cut left to right into groups of four (the last group may be smaller), and
//!   each group of `k` members becomes `keccak256(p ‖ m₁ ‖ … ‖ mₖ)`: `p` is `0x02` when the
//!   members are the leaves themselves and `0x03` when they are groups. That repeats until one
//!   node is left, the root; a single leaf's root is `keccak256(0x02 ‖ leaf)`.
//! - The leaves are hashed as members, not hashed on their own first, and a group of one is
//!   hashed too (never promoted), so every leaf is at the same depth.
//! - A preimage is at most 129 bytes, one keccak permutation (its rate is 136 bytes), where the
//!   binary tree takes one a leaf and one a pair.
//!
//! Every node's preimage says whether its members are leaves or nodes and, by its length, how
//! many there are; so two lists with one root have, node for node, the same tree, and so the
//! same leaves in the same order, unless keccak256 collides. The binary tree's prefixes are
//! different bytes, so a root of one tree is never a root of the other for another list
//! either.

use serde::{Deserialize, Serialize};

use crate::limits::{MERKLE_PROOF_HASHES_MAX, QUATERNARY_PROOF_HASHES_MAX};
use crate::primitives::{Hash, Keccak256, keccak256_concat};

/// Domain prefix of a leaf node.
const LEAF_PREFIX: [u8; 1] = [0x00];
/// Domain prefix of an inner node.
const NODE_PREFIX: [u8; 1] = [0x01];
/// The quaternary tree's members a group.
const ARITY: usize = 4;
/// Domain prefix of a quaternary group whose members are leaves.
const LEAVES_PREFIX: u8 = 0x02;
/// Domain prefix of a quaternary group whose members are groups.
const GROUPS_PREFIX: u8 = 0x03;
// keccak256 absorbs 136 bytes a permutation (and pads with at least one byte): a group's
// prefix and four hashes, 129 bytes, take one.
const _: () = assert!(1 + ARITY * 32 < 136);

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

/// The hash of one quaternary group of up to [`ARITY`] members.
fn group_node(prefix: u8, members: &[Hash]) -> Hash {
    debug_assert!((1..=ARITY).contains(&members.len()));
    let mut hasher = Keccak256::new();
    hasher.update([prefix]);
    for member in members {
        hasher.update(member.as_bytes());
    }
    hasher.finalize()
}

/// The quaternary level above `level`, whose members carry `prefix`.
fn group_level(prefix: u8, level: &[Hash]) -> Vec<Hash> {
    level
        .chunks(ARITY)
        .map(|members| group_node(prefix, members))
        .collect()
}

/// The quaternary tree's root of `leaves` in order; [`Hash::ZERO`] for an empty list.
pub fn quaternary_root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return Hash::ZERO;
    }
    let mut level = group_level(LEAVES_PREFIX, leaves);
    while level.len() > 1 {
        level = group_level(GROUPS_PREFIX, &level);
    }
    level[0]
}

/// Builds the quaternary tree's proof for the leaf at `index`: at each level, bottom first,
/// the other members of the path's group in order.
pub fn quaternary_proof(leaves: &[Hash], index: usize) -> MerkleResult<MerkleProof> {
    if index >= leaves.len() {
        return Err(MerkleError::IndexOutOfRange {
            index,
            count: leaves.len(),
        });
    }
    let mut siblings = Vec::new();
    let (mut level, mut prefix, mut position) = (leaves.to_vec(), LEAVES_PREFIX, index);
    loop {
        let group = position / ARITY * ARITY;
        let members = &level[group..][..(level.len() - group).min(ARITY)];
        siblings.extend(
            (group..)
                .zip(members)
                .filter(|(at, _)| *at != position)
                .map(|(_, member)| *member),
        );
        level = group_level(prefix, &level);
        if level.len() == 1 {
            return Ok(MerkleProof { siblings });
        }
        (prefix, position) = (GROUPS_PREFIX, position / ARITY);
    }
}

/// The sizes of the groups on the path of leaf `index` in a `count`-leaf quaternary tree,
/// bottom first, with the path's place in each. Empty when `count` is zero.
fn quaternary_path(index: usize, count: usize) -> Vec<(usize, usize)> {
    let mut path = Vec::new();
    let (mut position, mut level_count) = (index, count);
    while level_count > 0 {
        let group = position / ARITY * ARITY;
        path.push(((level_count - group).min(ARITY), position - group));
        if level_count <= ARITY {
            break;
        }
        (position, level_count) = (position / ARITY, level_count.div_ceil(ARITY));
    }
    path
}

impl MerkleProof {
    /// Checks, in the quaternary tree, that `leaf` is at `index` of a `count`-leaf list whose
    /// root is `root`. The caller supplies `count`, as for [`Self::verify`].
    pub fn verify_quaternary(
        &self,
        root: &Hash,
        leaf: &Hash,
        index: usize,
        count: usize,
    ) -> MerkleResult<()> {
        if index >= count {
            return Err(MerkleError::IndexOutOfRange { index, count });
        }
        let path = quaternary_path(index, count);
        let expected = path.iter().map(|(size, _)| size - 1).sum();
        if self.siblings.len() != expected || expected > QUATERNARY_PROOF_HASHES_MAX {
            return Err(MerkleError::ProofLength {
                expected,
                got: self.siblings.len(),
            });
        }
        let (mut node, mut prefix, mut siblings) = (*leaf, LEAVES_PREFIX, self.siblings.iter());
        for (size, place) in path {
            let mut members = [Hash::ZERO; ARITY];
            for (at, member) in members.iter_mut().enumerate().take(size) {
                *member = if at == place {
                    node
                } else {
                    let Some(sibling) = siblings.next() else {
                        unreachable!("sibling count was checked against the path");
                    };
                    *sibling
                };
            }
            node = group_node(prefix, &members[..size]);
            prefix = GROUPS_PREFIX;
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

    #[test]
    fn quaternary_trees_match_the_documented_shape() {
        assert_eq!(quaternary_root(&[]), Hash::ZERO);
        let one = leaves(1);
        assert_eq!(quaternary_root(&one), group_node(LEAVES_PREFIX, &one));
        let four = leaves(4);
        assert_eq!(quaternary_root(&four), group_node(LEAVES_PREFIX, &four));
        // Six leaves: a group of four and a group of two, under one group of groups.
        let six = leaves(6);
        let groups = [
            group_node(LEAVES_PREFIX, &six[..4]),
            group_node(LEAVES_PREFIX, &six[4..]),
        ];
        assert_eq!(quaternary_root(&six), group_node(GROUPS_PREFIX, &groups));
        // Seventeen: the last leaf alone in its group, and that group alone above it too.
        let seventeen = leaves(17);
        let bottom: Vec<Hash> = seventeen
            .chunks(4)
            .map(|members| group_node(LEAVES_PREFIX, members))
            .collect();
        let middle = [
            group_node(GROUPS_PREFIX, &bottom[..4]),
            group_node(GROUPS_PREFIX, &bottom[4..]),
        ];
        assert_eq!(
            quaternary_root(&seventeen),
            group_node(GROUPS_PREFIX, &middle)
        );
    }

    #[test]
    fn quaternary_leaves_cannot_pass_for_groups() {
        let list = leaves(4);
        let group = group_node(LEAVES_PREFIX, &list);
        assert_ne!(quaternary_root(&[group]), quaternary_root(&list));
        let sixteen = leaves(16);
        let groups: Vec<Hash> = sixteen
            .chunks(4)
            .map(|members| group_node(LEAVES_PREFIX, members))
            .collect();
        assert_ne!(quaternary_root(&groups), quaternary_root(&sixteen));
        assert_ne!(quaternary_root(&list), merkle_root(&list));
    }

    #[test]
    fn quaternary_proof_errors_are_typed() {
        let list = leaves(6);
        let root = quaternary_root(&list);
        assert_eq!(
            quaternary_proof(&list, 6),
            Err(MerkleError::IndexOutOfRange { index: 6, count: 6 })
        );
        let proof = quaternary_proof(&list, 5).expect("in range");
        // Its group's other member, then the other group.
        assert_eq!(proof.siblings.len(), 2);
        assert_eq!(proof.verify_quaternary(&root, &list[5], 5, 6), Ok(()));
        assert!(matches!(
            proof.verify_quaternary(&root, &list[4], 5, 6),
            Err(MerkleError::RootMismatch { .. })
        ));
        assert!(matches!(
            proof.verify_quaternary(&root, &list[5], 5, 7),
            Err(MerkleError::ProofLength { .. })
        ));
        assert!(matches!(
            proof.verify_quaternary(&root, &list[5], 9, 6),
            Err(MerkleError::IndexOutOfRange { .. })
        ));
        let mut long = proof.clone();
        long.siblings.push(Hash::ZERO);
        assert!(matches!(
            long.verify_quaternary(&root, &list[5], 5, 6),
            Err(MerkleError::ProofLength { .. })
        ));
        let empty = MerkleProof::default();
        for (index, count) in [(0, usize::MAX), (usize::MAX - 1, usize::MAX)] {
            assert!(
                empty
                    .verify_quaternary(&Hash::ZERO, &Hash::ZERO, index, count)
                    .is_err()
            );
        }
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
            fn every_leaf_proves_in_the_quaternary_tree(count in 1usize..300, seed in any::<u64>()) {
                let list: Vec<Hash> = (0..count as u64)
                    .map(|index| keccak256((index ^ seed).to_be_bytes()))
                    .collect();
                let root = quaternary_root(&list);
                for (index, leaf) in list.iter().enumerate() {
                    let proof = quaternary_proof(&list, index).expect("in range");
                    prop_assert!(proof.siblings.len() <= QUATERNARY_PROOF_HASHES_MAX);
                    prop_assert_eq!(proof.verify_quaternary(&root, leaf, index, count), Ok(()));
                    let other = keccak256(leaf.as_bytes());
                    prop_assert!(proof.verify_quaternary(&root, &other, index, count).is_err());
                    if count > 1 {
                        let elsewhere = (index + 1) % count;
                        prop_assert!(proof.verify_quaternary(&root, leaf, elsewhere, count).is_err());
                    }
                }
            }

            #[test]
            fn different_lists_have_different_quaternary_roots(
                first in proptest::collection::vec(any::<[u8; 32]>(), 0..40),
                second in proptest::collection::vec(any::<[u8; 32]>(), 0..40),
            ) {
                let first: Vec<Hash> = first.into_iter().map(Hash).collect();
                let second: Vec<Hash> = second.into_iter().map(Hash).collect();
                prop_assert_eq!(first == second, quaternary_root(&first) == quaternary_root(&second));
                let mut extended = first.clone();
                extended.push(first.last().copied().unwrap_or(Hash::ZERO));
                prop_assert_ne!(quaternary_root(&first), quaternary_root(&extended));
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
