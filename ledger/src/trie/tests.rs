//! Hand-checked cases for the state tree, and helpers shared with the property tests.

use std::collections::BTreeMap;

use super::encoding::{WireNode, WireNodes};
use super::*;
use crate::codec;
use crate::limits::{PROPOSAL_BYTES_MAX, TRIE_DEPTH, WITNESS_NODES_MAX};
use crate::primitives::{Address, Hash, U256};
use crate::state::{Account, ShardIndex, ShardLayout};

/// An account with a recognizable balance.
pub(super) fn account(nonce: u64, balance: u64) -> Account {
    Account {
        nonce,
        balance: U256::from(balance),
    }
}

/// The reference root: a from-scratch recursion over the account set, written without any of
/// the incremental code. A lone account becomes a leaf only at `float_depth` or below.
pub(super) fn reference_root(
    accounts: &BTreeMap<Address, Account>,
    depth: usize,
    float_depth: usize,
) -> Hash {
    if accounts.is_empty() {
        return EMPTY_ROOT;
    }
    if accounts.len() == 1 && depth >= float_depth {
        let (address, account) = accounts.iter().next().expect("one account");
        return leaf_hash(address, account);
    }
    let (right, left): (BTreeMap<_, _>, BTreeMap<_, _>) = accounts
        .iter()
        .map(|(address, account)| (*address, *account))
        .partition(|(address, _)| address.bit(depth));
    node_hash(
        &reference_root(&left, depth + 1, float_depth),
        &reference_root(&right, depth + 1, float_depth),
    )
}

/// Every shard of a layout in one memory store (shard positions never overlap).
pub(super) struct ShardedState {
    pub(super) layout: ShardLayout,
    pub(super) store: MemoryTrieStore,
}

impl ShardedState {
    /// An empty state.
    pub(super) fn new(shard_bits: u8) -> Self {
        Self {
            layout: ShardLayout::new(shard_bits).expect("valid layout"),
            store: MemoryTrieStore::default(),
        }
    }

    /// A read view of one shard.
    pub(super) fn shard(&self, shard: ShardIndex) -> Trie<&MemoryTrieStore> {
        Trie::new(&self.store, NodePosition::shard_root(self.layout, shard))
    }

    /// Applies `updates`, shard by shard, and returns the new state root.
    pub(super) fn update(&mut self, updates: &BTreeMap<Address, Account>) -> Hash {
        let mut by_shard: BTreeMap<ShardIndex, BTreeMap<Address, Account>> = BTreeMap::new();
        for (address, account) in updates {
            by_shard
                .entry(self.layout.shard_of(address))
                .or_default()
                .insert(*address, *account);
        }
        for (shard, shard_updates) in by_shard {
            let position = NodePosition::shard_root(self.layout, shard);
            Trie::new(&mut self.store, position)
                .update(&shard_updates)
                .expect("update");
        }
        self.state_root()
    }

    /// Every shard's root, in order.
    pub(super) fn shard_roots(&self) -> Vec<Hash> {
        (0..self.layout.shard_count())
            .map(|shard| self.shard(shard as ShardIndex).root().expect("root"))
            .collect()
    }

    /// The global state root.
    pub(super) fn state_root(&self) -> Hash {
        root_over_shards(&self.shard_roots())
    }

    /// A proof against the global root.
    pub(super) fn prove(&self, address: &Address) -> AccountProof {
        let shard = self.layout.shard_of(address);
        let proof = self.shard(shard).prove(address).expect("prove");
        proof.with_top_path(top_path(&self.shard_roots(), shard))
    }

    /// A witness covering `addresses`.
    pub(super) fn witness(&self, addresses: &[Address]) -> Witness {
        let shard_roots = self.shard_roots();
        let parts = crate::in_memory::witness_requests(self.layout, &shard_roots, addresses)
            .into_iter()
            .map(|request| {
                let part = self
                    .shard(request.shard)
                    .multiproof(&request.addresses)
                    .expect("multiproof");
                (request.shard, part)
            })
            .collect();
        Witness::new(self.layout, shard_roots, parts).expect("witness")
    }
}

/// An address that is `fill` everywhere except its last byte.
fn address_with_last(fill: u8, last: u8) -> Address {
    let mut bytes = [fill; 20];
    bytes[19] = last;
    Address(bytes)
}

#[test]
fn empty_tree_has_the_empty_root_and_proves_absence() {
    let trie = Trie::new(MemoryTrieStore::default(), NodePosition::root());
    assert_eq!(trie.root(), Ok(EMPTY_ROOT));
    let address = address_with_last(7, 7);
    assert_eq!(trie.get(&address), Ok(None));
    let proof = trie.prove(&address).expect("prove");
    assert!(proof.siblings.is_empty());
    assert_eq!(proof.terminal, ProofTerminal::Empty);
    assert_eq!(proof.verify(&EMPTY_ROOT, &address), Ok(None));
}

#[test]
fn one_leaf_floats_to_the_root() {
    let mut trie = Trie::new(MemoryTrieStore::default(), NodePosition::root());
    let address = address_with_last(0xc3, 1);
    let root = trie
        .update(&BTreeMap::from([(address, account(1, 10))]))
        .expect("update");
    assert_eq!(root, leaf_hash(&address, &account(1, 10)));
    assert_eq!(trie.store().len(), 1);
    let proof = trie.prove(&address).expect("prove");
    assert!(proof.siblings.is_empty());
    assert_eq!(proof.verify(&root, &address), Ok(Some(account(1, 10))));
    let other = address_with_last(0xc3, 2);
    assert_eq!(
        proof.verify(&root, &other),
        Ok(None),
        "non-inclusion by other leaf"
    );
}

#[test]
fn two_leaves_sharing_150_bits_hash_down_the_whole_shared_path() {
    // Equal in bits 0..150; bit 150 is the 0x02 bit of byte 18 (bits 144..152).
    let mut high = Address([0x96; 20]);
    high.0[19] = 0x55;
    let mut low = high;
    low.0[18] = 0x94;
    assert!(high.bit(150) && !low.bit(150));
    let mut trie = Trie::new(MemoryTrieStore::default(), NodePosition::root());
    let updates = BTreeMap::from([(low, account(0, 1)), (high, account(0, 2))]);
    let root = trie.update(&updates).expect("update");
    let mut expected = node_hash(
        &leaf_hash(&low, &account(0, 1)),
        &leaf_hash(&high, &account(0, 2)),
    );
    for depth in (0..150).rev() {
        expected = if low.bit(depth) {
            node_hash(&EMPTY_ROOT, &expected)
        } else {
            node_hash(&expected, &EMPTY_ROOT)
        };
    }
    assert_eq!(root, expected);
    assert_eq!(
        trie.store().len(),
        151 + 2,
        "151 internal nodes and 2 leaves"
    );
    let proof = trie.prove(&high).expect("prove");
    assert_eq!(proof.siblings.len(), 151);
    assert_eq!(proof.verify(&root, &high), Ok(Some(account(0, 2))));
}

#[test]
fn a_leaf_is_pushed_down_when_a_neighbour_arrives() {
    let mut trie = Trie::new(MemoryTrieStore::default(), NodePosition::root());
    let first = address_with_last(0x11, 0);
    trie.update(&BTreeMap::from([(first, account(0, 1))]))
        .expect("first");
    let mut second_bytes = first.0;
    second_bytes[0] = 0x1f; // Shares the first four bits.
    let second = Address(second_bytes);
    let both = BTreeMap::from([(first, account(0, 1)), (second, account(0, 2))]);
    let root = trie
        .update(&BTreeMap::from([(second, account(0, 2))]))
        .expect("second");
    assert_eq!(root, reference_root(&both, 0, 0));
    // Internal nodes at depths 0..=4 and two leaves at depth 5; the old root leaf is gone.
    assert_eq!(trie.store().len(), 7);
    assert_eq!(trie.get(&first), Ok(Some(account(0, 1))));
    assert_eq!(trie.get(&second), Ok(Some(account(0, 2))));
}

#[test]
fn shard_with_one_account_keeps_its_leaf_at_depth_k() {
    let mut state = ShardedState::new(2);
    let mut bytes = [0u8; 20];
    bytes[0] = 0b0110_0000; // Shard 1 of 4.
    let address = Address(bytes);
    let root = state.update(&BTreeMap::from([(address, account(3, 30))]));
    let leaf = leaf_hash(&address, &account(3, 30));
    assert_eq!(
        state.shard_roots(),
        vec![EMPTY_ROOT, leaf, EMPTY_ROOT, EMPTY_ROOT]
    );
    assert_eq!(root, node_hash(&node_hash(&EMPTY_ROOT, &leaf), &EMPTY_ROOT));
    assert_eq!(
        root,
        reference_root(&BTreeMap::from([(address, account(3, 30))]), 0, 2)
    );
    let proof = state.prove(&address);
    assert_eq!(proof.siblings, vec![EMPTY_ROOT, EMPTY_ROOT]);
    assert_eq!(proof.verify(&root, &address), Ok(Some(account(3, 30))));
}

#[test]
fn tampered_proofs_fail() {
    let mut state = ShardedState::new(0);
    let addresses: Vec<Address> = (0..8)
        .map(|index| address_with_last(index * 31, index))
        .collect();
    let updates = addresses
        .iter()
        .map(|address| (*address, account(0, 5)))
        .collect();
    let root = state.update(&updates);
    let proof = state.prove(&addresses[3]);
    assert_eq!(proof.verify(&root, &addresses[3]), Ok(Some(account(0, 5))));
    let mut changed = proof.clone();
    changed.terminal = ProofTerminal::Leaf {
        address: addresses[3],
        account: account(0, 6),
    };
    assert!(matches!(
        changed.verify(&root, &addresses[3]),
        Err(ProofError::RootMismatch { .. })
    ));
    let mut moved = proof.clone();
    moved.terminal = ProofTerminal::Leaf {
        address: addresses[4],
        account: account(0, 5),
    };
    assert!(moved.verify(&root, &addresses[3]).is_err());
    let too_deep = AccountProof {
        siblings: vec![EMPTY_ROOT; TRIE_DEPTH + 1],
        terminal: ProofTerminal::Empty,
    };
    assert_eq!(
        too_deep.verify(&root, &addresses[3]),
        Err(ProofError::TooDeep {
            depth: TRIE_DEPTH + 1
        })
    );
}

#[test]
fn corrupt_stores_give_errors_not_panics() {
    let mut store = MemoryTrieStore::default();
    let address = Address([0xff; 20]);
    let mut batch = NodeBatch::default();
    let mut position = NodePosition::root();
    while !position.is_bottom() {
        let node = Node::Internal {
            left: EMPTY_ROOT,
            right: Hash([1; 32]),
        };
        batch.put(position, node);
        position = position.child(true);
    }
    // An internal node at the last level.
    batch.put(
        position,
        Node::Internal {
            left: EMPTY_ROOT,
            right: Hash([1; 32]),
        },
    );
    store.apply(&batch).expect("apply");
    let trie = Trie::new(&store, NodePosition::root());
    assert!(matches!(trie.get(&address), Err(TrieError::Corrupt { .. })));
    assert!(matches!(
        trie.prove(&address),
        Err(TrieError::Corrupt { .. })
    ));
    let updates = BTreeMap::from([(address, account(0, 1))]);
    assert!(trie.prepare_update(&updates).is_err());
    assert!(trie.multiproof(&[address]).is_err());
    // A child the parent says exists but the store lacks.
    let mut missing = MemoryTrieStore::default();
    let mut batch = NodeBatch::default();
    batch.put(
        NodePosition::root(),
        Node::Internal {
            left: Hash([2; 32]),
            right: Hash([3; 32]),
        },
    );
    missing.apply(&batch).expect("apply");
    let trie = Trie::new(&missing, NodePosition::root());
    assert!(matches!(trie.get(&address), Err(TrieError::Corrupt { .. })));
}

#[test]
fn addresses_outside_the_view_are_refused() {
    let state = ShardedState::new(1);
    let trie = state.shard(0);
    let outside = Address([0x80; 20]);
    assert!(matches!(
        trie.get(&outside),
        Err(TrieError::AddressOutsideSubtree { .. })
    ));
    assert!(trie.multiproof(&[outside]).is_err());
    let proof = trie.prove(&Address::ZERO).expect("prove");
    assert_eq!(
        proof.verify_at(
            &EMPTY_ROOT,
            &NodePosition::shard_root(state.layout, 0),
            &outside
        ),
        Err(ProofError::AddressOutsideSubtree)
    );
}

#[test]
fn witness_refuses_uncovered_updates_without_changing() {
    let mut state = ShardedState::new(1);
    let covered = address_with_last(0x01, 1);
    let uncovered_same_shard = address_with_last(0x02, 2);
    let other_shard = address_with_last(0x81, 3);
    let root = state.update(&BTreeMap::from([
        (covered, account(0, 1)),
        (uncovered_same_shard, account(0, 2)),
        (address_with_last(0x03, 3), account(0, 3)),
    ]));
    let mut witness = state.witness(&[covered]);
    witness.verify(&root).expect("verify");
    let before = witness.clone();
    let updates = BTreeMap::from([(covered, account(1, 0)), (other_shard, account(0, 9))]);
    assert_eq!(
        witness.update(&updates),
        Err(TrieError::NotInWitness {
            address: other_shard
        })
    );
    assert_eq!(witness, before);
    assert_eq!(witness.get(&covered), Ok(Some(account(0, 1))));
    assert!(matches!(
        witness.get(&uncovered_same_shard),
        Err(TrieError::NotInWitness { .. })
    ));
    assert!(matches!(
        witness.verify(&Hash([9; 32])),
        Err(TrieError::StateRootMismatch { .. })
    ));
}

/// Encodes a partial tree wire form by hand.
fn encode_wire(root_position: NodePosition, nodes: Vec<WireNode>) -> Vec<u8> {
    codec::encode(&(
        root_position,
        super::encoding::BoundedVec::<_, WITNESS_NODES_MAX>(nodes),
    ))
}

#[test]
fn wire_form_is_compact_and_hostile_inputs_are_refused() {
    let decode = |bytes: &[u8]| codec::decode::<PartialTree>(bytes, PROPOSAL_BYTES_MAX);
    let root = NodePosition::root();
    let leaf = WireNode::Leaf(address_with_last(1, 1), account(0, 1));
    let other = WireNode::Leaf(address_with_last(0x81, 1), account(0, 1));
    let good = encode_wire(root, vec![WireNode::Internal, leaf, other]);
    let tree = decode(&good).expect("valid");
    assert_eq!(tree.addresses().len(), 2);
    assert_eq!(codec::encode(&tree), good, "round trip is byte-exact");
    assert_eq!(codec::encode(&WireNode::Internal), [0x00]);
    assert_eq!(codec::encode(&WireNode::Empty), [0x01]);
    // A long chain of internal nodes: refused at the last level, never a stack overflow.
    let deep = encode_wire(root, vec![WireNode::Internal; 100_000]);
    assert!(decode(&deep).is_err());
    // Non-canonical shapes and leftovers.
    for nodes in [
        vec![WireNode::Internal, WireNode::Empty, WireNode::Empty],
        vec![WireNode::Internal, leaf, WireNode::Empty],
        vec![WireNode::Internal, WireNode::Empty, leaf],
        vec![WireNode::Pruned(EMPTY_ROOT)],
        vec![WireNode::Empty, WireNode::Empty],
        vec![WireNode::Internal, other, leaf],
        vec![WireNode::Internal, leaf],
        vec![],
    ] {
        assert!(
            decode(&encode_wire(root, nodes.clone())).is_err(),
            "{nodes:?}"
        );
    }
    // More nodes than the limit: refused while reading, before building anything.
    let too_many = encode_wire(root, vec![WireNode::Empty; WITNESS_NODES_MAX + 1]);
    // Skip the outer array header and the position to reach the node list.
    let node_list = &too_many[1 + codec::encode(&root).len()..];
    let error = codec::decode::<WireNodes>(node_list, usize::MAX).expect_err("too many");
    assert!(error.to_string().contains("exceed the limit"), "{error}");
    let at_limit = encode_wire(root, vec![WireNode::Empty; 3]);
    assert_eq!(
        codec::decode::<WireNodes>(&at_limit[1 + codec::encode(&root).len()..], 64)
            .map(|nodes| nodes.0.len()),
        Ok(3)
    );
    assert!(decode(&too_many).is_err());
}

/// The pre-order list of `node`'s wire nodes, built the plain way.
fn pre_order(node: &super::partial::PartialNode, out: &mut Vec<WireNode>) {
    use super::partial::PartialNode;
    match node {
        PartialNode::Empty => out.push(WireNode::Empty),
        PartialNode::Pruned(hash) => out.push(WireNode::Pruned(*hash)),
        PartialNode::Leaf { address, account } => out.push(WireNode::Leaf(*address, **account)),
        PartialNode::Internal { children, .. } => {
            out.push(WireNode::Internal);
            pre_order(&children[0], out);
            pre_order(&children[1], out);
        }
    }
}

/// A witness is written straight from its trees, and must encode exactly as its list of wire
/// nodes does: `[layout, shard roots, shards, [node...]]`.
#[test]
fn a_witness_encodes_as_its_pre_order_node_list() {
    let mut state = ShardedState::new(2);
    let addresses: Vec<Address> = (0..200u8)
        .map(|index| address_with_last(index.wrapping_mul(37), index))
        .collect();
    let updates = addresses
        .iter()
        .map(|address| (*address, account(1, 7)))
        .collect();
    let root = state.update(&updates);
    for covered in [&addresses[..1], &addresses[..40], &addresses[..]] {
        let witness = state.witness(covered);
        let mut nodes = Vec::new();
        for part in witness.parts.values() {
            pre_order(&part.root, &mut nodes);
        }
        let by_list = codec::encode(&(
            witness.layout,
            witness.shard_roots.clone(),
            witness.parts.keys().copied().collect::<Vec<_>>(),
            super::encoding::BoundedVec::<_, WITNESS_NODES_MAX>(nodes),
        ));
        assert_eq!(codec::encode(&witness), by_list);
        let back: Witness = codec::decode(&by_list, PROPOSAL_BYTES_MAX).expect("decodes");
        assert_eq!(back, witness);
        back.verify(&root).expect("verify");
    }
}

#[test]
fn json_round_trip_of_a_witness() {
    let mut state = ShardedState::new(3);
    let addresses: Vec<Address> = (0..20)
        .map(|index| address_with_last(index * 13, index))
        .collect();
    let updates = addresses
        .iter()
        .map(|address| (*address, account(2, 4)))
        .collect();
    let root = state.update(&updates);
    let witness = state.witness(&addresses[..5]);
    let json = serde_json::to_string(&witness).expect("json");
    let back: Witness = serde_json::from_str(&json).expect("decode");
    assert_eq!(back, witness);
    back.verify(&root).expect("verify");
}

/// A decoded witness node must stay small: the witness node cap (`WITNESS_NODES_MAX`) times
/// this size is the worst-case memory of a decoded proposal, which must be weighed against the
/// 128 MB isolate limit (see ARCHITECTURE.md, "Known limits").
#[test]
fn a_decoded_witness_node_stays_within_64_bytes() {
    let node = std::mem::size_of::<super::partial::PartialNode>();
    assert!(node <= 64, "PartialNode grew to {node} bytes");
}
