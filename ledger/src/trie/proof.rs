//! Single-address proofs: inclusion (the terminal is the address's leaf) and non-inclusion (the
//! path ends in an empty subtree, or in the shortcut leaf of another address that is alone there).

use serde::{Deserialize, Serialize};

use crate::limits::TRIE_DEPTH;
use crate::primitives::{Address, Hash};
use crate::state::Account;

use super::error::{ProofError, TrieResult};
use super::hashing::{EMPTY_ROOT, leaf_hash, node_hash};
use super::position::NodePosition;
use super::store::{Node, TrieStore};
use super::tree::Trie;

/// Where a proof's path ends.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum ProofTerminal {
    /// An empty subtree: the address has no account.
    Empty,
    /// The only account under the terminal position. If `address` is not the queried address,
    /// the proof shows the queried address has no account.
    Leaf {
        /// The leaf's address.
        address: Address,
        /// The leaf's account.
        account: Account,
    },
}

impl ProofTerminal {
    /// The hash of the subtree the terminal stands for.
    pub fn hash(&self) -> Hash {
        match self {
            Self::Empty => EMPTY_ROOT,
            Self::Leaf { address, account } => leaf_hash(address, account),
        }
    }
}

/// Inclusion or non-inclusion proof for one address.
///
/// `siblings[i]` is the hash of the sibling of the path node one level below `root depth + i`,
/// root-down; the terminal sits at `root depth + siblings.len()`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct AccountProof {
    /// Sibling hashes along the path, root-down.
    pub siblings: Vec<Hash>,
    /// What the path ends in.
    pub terminal: ProofTerminal,
}

impl AccountProof {
    /// Verifies against the global root (depth 0) and returns the proven account, or `None` if
    /// the proof shows the address has none.
    pub fn verify(&self, root: &Hash, address: &Address) -> Result<Option<Account>, ProofError> {
        self.verify_at(root, &NodePosition::root(), address)
    }

    /// Verifies against the root of the subtree at `position` (a shard root, for example).
    pub fn verify_at(
        &self,
        root: &Hash,
        position: &NodePosition,
        address: &Address,
    ) -> Result<Option<Account>, ProofError> {
        if !position.contains(address) {
            return Err(ProofError::AddressOutsideSubtree);
        }
        let start = usize::from(position.depth());
        let terminal_depth = start + self.siblings.len();
        if terminal_depth > TRIE_DEPTH {
            return Err(ProofError::TooDeep {
                depth: terminal_depth,
            });
        }
        let proven = self.terminal_account(address, terminal_depth)?;
        let mut hash = self.terminal.hash();
        for (level, sibling) in self.siblings.iter().enumerate().rev() {
            hash = if address.bit(start + level) {
                node_hash(sibling, &hash)
            } else {
                node_hash(&hash, sibling)
            };
        }
        if hash != *root {
            return Err(ProofError::RootMismatch {
                expected: *root,
                computed: hash,
            });
        }
        Ok(proven)
    }

    /// What the terminal says about `address`, after checking a terminal leaf sits on its path.
    fn terminal_account(
        &self,
        address: &Address,
        terminal_depth: usize,
    ) -> Result<Option<Account>, ProofError> {
        let ProofTerminal::Leaf {
            address: leaf,
            account,
        } = &self.terminal
        else {
            return Ok(None);
        };
        // `terminal_depth` was checked to be at most 160, so it fits a u8.
        let on_path = NodePosition::containing(address, terminal_depth as u8)
            .is_some_and(|position| position.contains(leaf));
        if !on_path {
            return Err(ProofError::WrongKeyForPosition { leaf: *leaf });
        }
        Ok((leaf == address).then_some(*account))
    }

    /// Prepends the `k` top-of-tree siblings (from [`top_path`](super::top_path)) to turn a
    /// shard proof into a proof against the global root.
    pub fn with_top_path(mut self, top: Vec<Hash>) -> AccountProof {
        let mut siblings = top;
        siblings.append(&mut self.siblings);
        self.siblings = siblings;
        self
    }
}

impl<S: TrieStore> Trie<S> {
    /// Proves the account at `address`, or its absence, against this view's root; siblings start
    /// below the view's root position (verify with [`AccountProof::verify_at`], or prepend the top
    /// path and use [`AccountProof::verify`]).
    pub fn prove(&self, address: &Address) -> TrieResult<AccountProof> {
        self.check_contains(address)?;
        let mut siblings = Vec::new();
        let mut position = self.root_position();
        let mut node = self.load(&position)?;
        // Ends within 160 steps: each goes one level down, and `load` refuses internal nodes at
        // the last level.
        let terminal = loop {
            match node {
                None => break ProofTerminal::Empty,
                Some(Node::Leaf { address, account }) => {
                    break ProofTerminal::Leaf { address, account };
                }
                Some(Node::Internal { left, right }) => {
                    let right_side = address.bit(position.depth().into());
                    let (next, sibling) = if right_side {
                        (right, left)
                    } else {
                        (left, right)
                    };
                    siblings.push(sibling);
                    position = position.child(right_side);
                    node = self.load_child(&position, &next)?;
                }
            }
        };
        Ok(AccountProof { siblings, terminal })
    }
}
