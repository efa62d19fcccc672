//! [`Witness`]: what a block is executed against. All `2^k` shard roots plus a partial tree for
//! every shard the block touches; it proves the touched accounts against the state root and
//! recomputes the new state root from their updates.

use std::collections::BTreeMap;

use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::limits::SHARDS_MAX;
use crate::primitives::{Address, Hash};
use crate::state::{Account, ShardIndex, ShardLayout};

use super::encoding::{BoundedVec, PreOrderNodes, WireNodes, build};
use super::error::{TrieError, TrieResult};
use super::hashing::root_over_shards;
use super::partial::PartialTree;
use super::position::NodePosition;

/// Global witness or multiproof across shards: all `2^k` shard roots plus one partial tree per
/// touched shard.
///
/// Encoding: `[layout, [shard_root...], [shard...], [node...]]`, where the node list holds the
/// parts' pre-order node lists one after another in shard order. Decoding checks the structure
/// (one root per shard, parts at their shard positions, at most
/// [`WITNESS_NODES_MAX`](crate::limits::WITNESS_NODES_MAX) nodes in all); [`Witness::verify`]
/// checks the hashes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Witness {
    /// The chain's shard layout.
    pub layout: ShardLayout,
    /// Root of every shard, in shard order.
    pub shard_roots: Vec<Hash>,
    /// Partial tree of each touched shard, rooted at that shard's root position.
    pub parts: BTreeMap<ShardIndex, PartialTree>,
}

impl Witness {
    /// A witness from its parts, checking the structure (not the hashes: see [`Witness::verify`]).
    pub fn new(
        layout: ShardLayout,
        shard_roots: Vec<Hash>,
        parts: BTreeMap<ShardIndex, PartialTree>,
    ) -> TrieResult<Self> {
        let witness = Self {
            layout,
            shard_roots,
            parts,
        };
        witness.check_structure()?;
        Ok(witness)
    }

    /// One root per shard, and each part rooted at its own shard's position.
    fn check_structure(&self) -> TrieResult<()> {
        let expected = self.layout.shard_count() as usize;
        if self.shard_roots.len() != expected {
            return Err(TrieError::ShardCountMismatch {
                expected,
                got: self.shard_roots.len(),
            });
        }
        for (shard, part) in &self.parts {
            let in_layout = u32::from(*shard) < self.layout.shard_count();
            if !in_layout || part.root_position() != NodePosition::shard_root(self.layout, *shard) {
                return Err(TrieError::PartPositionMismatch { shard: *shard });
            }
        }
        Ok(())
    }

    /// The global state root: [`root_over_shards`] of the shard roots.
    ///
    /// Panics if the shard root count is not a layout's; [`Witness::new`] and decoding refuse
    /// such witnesses, so only a hand-built one can.
    pub fn state_root(&self) -> Hash {
        root_over_shards(&self.shard_roots)
    }

    /// Checks the structure, that each part hashes to its shard root, and that the shard roots
    /// give `expected_state_root`.
    pub fn verify(&self, expected_state_root: &Hash) -> TrieResult<()> {
        self.check_structure()?;
        for (shard, part) in &self.parts {
            let expected = self.shard_roots[usize::from(*shard)];
            if part.root_hash() != expected {
                return Err(TrieError::ShardRootMismatch {
                    shard: *shard,
                    expected,
                    got: part.root_hash(),
                });
            }
        }
        let got = self.state_root();
        if got != *expected_state_root {
            return Err(TrieError::StateRootMismatch {
                expected: *expected_state_root,
                got,
            });
        }
        Ok(())
    }

    /// The witness of `addresses` after a block: this witness is the block's post-state
    /// ([`crate::execution::Execution::post_state`]), and `earlier_parts` are parts proven at
    /// the block's parent roots, which cover what the block did not touch
    /// ([`PartialTree::carried_forward`]). A shard the block did not write keeps its root, so
    /// its earlier part serves as it is. This is how the `Sequencer` builds the next block
    /// while the last is still being voted on.
    pub fn carried_forward(
        &self,
        earlier_parts: &BTreeMap<ShardIndex, PartialTree>,
        addresses: &[Address],
    ) -> TrieResult<Witness> {
        let mut by_shard: BTreeMap<ShardIndex, Vec<Address>> = BTreeMap::new();
        for address in addresses {
            by_shard
                .entry(self.layout.shard_of(address))
                .or_default()
                .push(*address);
        }
        let mut parts = BTreeMap::new();
        for (shard, addresses) in by_shard {
            let earlier = earlier_parts.get(&shard);
            let part = match (self.parts.get(&shard), earlier) {
                (Some(post), earlier) => post.carried_forward(earlier, &addresses)?,
                (None, Some(earlier)) => earlier.carried_forward(None, &addresses)?,
                (None, None) => {
                    return Err(TrieError::NotInWitness {
                        address: addresses[0],
                    });
                }
            };
            parts.insert(shard, part);
        }
        let witness = Witness::new(self.layout, self.shard_roots.clone(), parts)?;
        witness.verify(&self.state_root())?;
        Ok(witness)
    }

    /// The part covering `address`'s shard, or [`TrieError::NotInWitness`].
    fn part(&self, address: &Address) -> TrieResult<&PartialTree> {
        self.parts
            .get(&self.layout.shard_of(address))
            .ok_or(TrieError::NotInWitness { address: *address })
    }

    /// The account at `address`; [`TrieError::NotInWitness`] if its path is not covered.
    pub fn get(&self, address: &Address) -> TrieResult<Option<Account>> {
        self.part(address)?.get(address)
    }

    /// Applies inserts and updates (each address must be covered by its shard's part), updates
    /// the shard roots and returns the new state root. If an address is not covered, nothing
    /// changes.
    pub fn update(&mut self, updates: &BTreeMap<Address, Account>) -> TrieResult<Hash> {
        self.check_structure()?;
        let mut by_shard: BTreeMap<ShardIndex, BTreeMap<Address, Account>> = BTreeMap::new();
        for (address, account) in updates {
            self.part(address)?.get(address)?;
            by_shard
                .entry(self.layout.shard_of(address))
                .or_default()
                .insert(*address, *account);
        }
        for (shard, shard_updates) in &by_shard {
            if let Some(part) = self.parts.get_mut(shard) {
                self.shard_roots[usize::from(*shard)] = part.update(shard_updates)?;
            }
        }
        Ok(self.state_root())
    }
}

/// The wire form of a [`Witness`].
#[derive(Deserialize)]
struct WitnessEncoding {
    layout: ShardLayout,
    shard_roots: BoundedVec<Hash, SHARDS_MAX>,
    shards: BoundedVec<ShardIndex, SHARDS_MAX>,
    nodes: WireNodes,
}

/// [`WitnessEncoding`] as it is written, from the witness itself: the parts' nodes one
/// after the other, in shard order.
#[derive(Serialize)]
struct WitnessEncodingRef<'a> {
    layout: ShardLayout,
    shard_roots: &'a [Hash],
    shards: Vec<ShardIndex>,
    nodes: PreOrderNodes<'a>,
}

impl Serialize for Witness {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WitnessEncodingRef {
            layout: self.layout,
            shard_roots: &self.shard_roots,
            shards: self.parts.keys().copied().collect(),
            nodes: PreOrderNodes(self.parts.values().map(|part| &part.root).collect()),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Witness {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let encoding = WitnessEncoding::deserialize(deserializer)?;
        decode_witness(encoding).map_err(de::Error::custom)
    }
}

/// Rebuilds a witness from its wire form: parts in strictly increasing shard order, every node
/// used, structure checked.
fn decode_witness(encoding: WitnessEncoding) -> TrieResult<Witness> {
    let layout = encoding.layout;
    let mut nodes = encoding.nodes.0.into_iter();
    let mut parts = BTreeMap::new();
    let mut previous: Option<ShardIndex> = None;
    for shard in encoding.shards.0 {
        let in_order = previous.is_none_or(|previous| previous < shard);
        if !in_order || u32::from(shard) >= layout.shard_count() {
            return Err(TrieError::PartPositionMismatch { shard });
        }
        previous = Some(shard);
        let root_position = NodePosition::shard_root(layout, shard);
        let root = build(root_position, &mut nodes)?;
        parts.insert(
            shard,
            PartialTree {
                root_position,
                root,
            },
        );
    }
    if nodes.next().is_some() {
        return Err(TrieError::corrupt(
            &NodePosition::root(),
            "nodes left after the last witness part",
        ));
    }
    Witness::new(layout, encoding.shard_roots.0, parts)
}
