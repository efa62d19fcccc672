//! Errors of the state tree: [`TrieError`] for reads, updates and witnesses, [`ProofError`] for
//! checking a single-address proof.

use crate::primitives::{Address, Hash};
use crate::state::ShardIndex;

use super::position::NodePosition;

/// Why a tree, partial tree or witness operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrieError {
    /// The address lies in a part of a partial tree or witness that was pruned to a hash.
    #[error("address {address} is not covered by the witness")]
    NotInWitness {
        /// The address asked for.
        address: Address,
    },
    /// The address is not inside the subtree this view or partial tree covers.
    #[error("address {address} is outside the subtree at depth {depth}")]
    AddressOutsideSubtree {
        /// The address asked for.
        address: Address,
        /// Depth of the subtree's root.
        depth: u8,
    },
    /// Stored or transported nodes break an invariant of the tree's shape.
    #[error("corrupt tree at depth {depth} (prefix {prefix}): {reason}")]
    Corrupt {
        /// Depth of the offending node.
        depth: u8,
        /// Prefix of the offending node.
        prefix: Address,
        /// Which invariant is broken.
        reason: &'static str,
    },
    /// A path would go below the last level of the tree (160 address bits).
    #[error("path exceeds the tree depth of {max} levels")]
    DepthExceeded {
        /// The tree depth.
        max: usize,
    },
    /// More accounts were asked for than one request may cover.
    #[error("{got} accounts requested, at most {max} allowed")]
    TooManyAccounts {
        /// Accounts requested.
        got: usize,
        /// Largest allowed.
        max: usize,
    },
    /// A partial tree or witness has more nodes than the limit.
    #[error("{got} nodes exceed the limit of {max}")]
    TooManyNodes {
        /// Nodes found (at least).
        got: usize,
        /// Largest allowed.
        max: usize,
    },
    /// A witness's shard root list does not have one root per shard.
    #[error("witness has {got} shard roots, the layout has {expected} shards")]
    ShardCountMismatch {
        /// Shards in the layout.
        expected: usize,
        /// Roots in the witness.
        got: usize,
    },
    /// A witness part names a shard the layout does not have, or is rooted elsewhere.
    #[error("witness part for shard {shard} does not match the layout")]
    PartPositionMismatch {
        /// The shard the part is filed under.
        shard: ShardIndex,
    },
    /// A witness part's root hash differs from the shard root the witness lists.
    #[error("witness part for shard {shard} hashes to {got}, shard root is {expected}")]
    ShardRootMismatch {
        /// The shard.
        shard: ShardIndex,
        /// The shard root in the witness.
        expected: Hash,
        /// The part's computed root.
        got: Hash,
    },
    /// The witness's state root is not the one expected.
    #[error("witness state root {got} differs from the expected {expected}")]
    StateRootMismatch {
        /// The root the caller trusts.
        expected: Hash,
        /// The root over the witness's shard roots.
        got: Hash,
    },
    /// The backing store failed (a SQLite error, for example).
    #[error("trie store: {0}")]
    Store(String),
}

impl TrieError {
    /// A [`TrieError::Corrupt`] at `position`.
    pub(crate) fn corrupt(position: &NodePosition, reason: &'static str) -> Self {
        Self::Corrupt {
            depth: position.depth(),
            prefix: *position.prefix(),
            reason,
        }
    }
}

/// Result alias for tree operations.
pub type TrieResult<T> = Result<T, TrieError>;

/// Why an [`AccountProof`](super::AccountProof) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The proof recomputes to a different root.
    #[error("proof recomputes to {computed}, expected root {expected}")]
    RootMismatch {
        /// The trusted root.
        expected: Hash,
        /// The root the proof leads to.
        computed: Hash,
    },
    /// The terminal leaf's address does not lie on the queried address's path.
    #[error("terminal leaf {leaf} is not on the path of the queried address")]
    WrongKeyForPosition {
        /// The leaf's address.
        leaf: Address,
    },
    /// The proof has more siblings than the tree has levels below its root.
    #[error("proof reaches depth {depth}, deeper than the tree")]
    TooDeep {
        /// The depth the terminal would sit at.
        depth: usize,
    },
    /// The queried address is not inside the subtree the root belongs to.
    #[error("address is outside the subtree the proof is checked against")]
    AddressOutsideSubtree,
}
