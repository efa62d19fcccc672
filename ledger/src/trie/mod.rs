//! The sparse Merkle state tree: one binary tree keyed by the 160-bit address, with shortcut
//! leaves, split into `2^k` shard subtrees, and its proofs and witnesses.
//!
//! Shape (fixed by consensus; changing it is a hard fork):
//! - The path of an address is its bits, most significant first. A [`NodePosition`] names a
//!   subtree by its depth and the address prefix leading to it.
//! - A subtree holding exactly one account is represented by that account's leaf at the
//!   highest position where it is alone, but never above depth `k` (the shard bits): each
//!   shard is exactly the subtree at depth `k`, and a [`Trie`] view never floats a leaf above
//!   its own root position.
//! - Hashes: see [`hashing`]. The global state root is [`root_over_shards`] of the shard roots.
//!
//! Parts:
//! - [`hashing`]: leaf, node and top-of-tree hashes.
//! - [`position`]: where a subtree sits ([`NodePosition`]).
//! - [`store`]: stored [`Node`]s, the [`TrieStore`] traits, [`NodeBatch`], [`MemoryTrieStore`].
//! - [`tree`] and [`update`]: the [`Trie`] view: reads and batched updates.
//! - [`proof`]: single-address inclusion and non-inclusion proofs.
//! - [`partial`] and [`witness`]: pruned subtrees (multiproofs) and the cross-shard block witness.
//! - [`encoding`]: the bounded flat wire form of partial trees and witnesses.

pub mod encoding;
pub mod error;
pub mod hashing;
pub mod partial;
pub mod position;
pub mod proof;
pub mod store;
pub mod tree;
pub mod update;
pub mod witness;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod property_tests;
#[cfg(test)]
mod tests;

pub use error::{ProofError, TrieError, TrieResult};
pub use hashing::{EMPTY_ROOT, leaf_hash, node_hash, root_over_shards, top_path};
pub use partial::PartialTree;
pub use position::NodePosition;
pub use proof::{AccountProof, ProofTerminal};
pub use store::{MemoryTrieStore, Node, NodeBatch, TrieStore, TrieStoreMut};
pub use tree::Trie;
pub use witness::Witness;
