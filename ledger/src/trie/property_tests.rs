//! Property tests: random insert and update batches against the reference rebuild, proofs,
//! multiproofs and witnesses, for shard layouts of 1, 2, 8 and 256 shards.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::tests::{ShardedState, account, reference_root};
use super::*;
use crate::codec;
use crate::limits::PROPOSAL_BYTES_MAX;
use crate::primitives::{Address, Hash};
use crate::state::Account;

/// Addresses of three kinds: uniform, sharing 144 bits, and differing only in the first byte
/// (which spreads them over shards and leaves long single-child paths).
fn arbitrary_address() -> impl Strategy<Value = Address> {
    prop_oneof![
        any::<[u8; 20]>().prop_map(Address),
        (any::<u8>(), any::<u8>()).prop_map(|(second_last, last)| {
            let mut bytes = [0x5a; 20];
            bytes[18] = second_last;
            bytes[19] = last;
            Address(bytes)
        }),
        any::<u8>().prop_map(|first| {
            let mut bytes = [0u8; 20];
            bytes[0] = first;
            Address(bytes)
        }),
    ]
}

/// A small account (values are hashed, their size does not matter).
fn arbitrary_account() -> impl Strategy<Value = Account> {
    (0u64..4, 0u64..1_000).prop_map(|(nonce, balance)| account(nonce, balance))
}

/// One scenario: a pool of addresses, batches of (pool index, account), extra query addresses.
#[derive(Debug, Clone)]
struct Scenario {
    shard_bits: u8,
    pool: Vec<Address>,
    batches: Vec<Vec<(usize, Account)>>,
    strangers: Vec<Address>,
    subset_seed: Vec<bool>,
    later_updates: Vec<(usize, Account)>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::sample::select(vec![0u8, 1, 3, 8]),
        prop::collection::vec(arbitrary_address(), 1..24),
        prop::collection::vec(
            prop::collection::vec((any::<prop::sample::Index>(), arbitrary_account()), 1..12),
            1..5,
        ),
        prop::collection::vec(arbitrary_address(), 0..6),
        prop::collection::vec(any::<bool>(), 24),
        prop::collection::vec((any::<prop::sample::Index>(), arbitrary_account()), 0..10),
    )
        .prop_map(
            |(shard_bits, pool, batches, strangers, subset_seed, later)| {
                let pick = |index: prop::sample::Index| index.index(pool.len());
                Scenario {
                    batches: batches
                        .into_iter()
                        .map(|batch| {
                            batch
                                .into_iter()
                                .map(|(index, acct)| (pick(index), acct))
                                .collect()
                        })
                        .collect(),
                    later_updates: later
                        .into_iter()
                        .map(|(index, acct)| (pick(index), acct))
                        .collect(),
                    shard_bits,
                    pool,
                    strangers,
                    subset_seed,
                }
            },
        )
}

/// Applies every batch to the state and a model, checking the root after each.
fn run_batches(
    scenario: &Scenario,
) -> Result<(ShardedState, BTreeMap<Address, Account>), TestCaseError> {
    let mut state = ShardedState::new(scenario.shard_bits);
    let mut model = BTreeMap::new();
    for batch in &scenario.batches {
        let updates: BTreeMap<Address, Account> = batch
            .iter()
            .map(|(index, account)| (scenario.pool[*index], *account))
            .collect();
        model.extend(updates.clone());
        let root = state.update(&updates);
        prop_assert_eq!(root, reference_root(&model, 0, scenario.shard_bits.into()));
        prop_assert_eq!(root, root_over_shards(&state.shard_roots()));
    }
    if scenario.shard_bits == 0 {
        let whole = Trie::new(&state.store, NodePosition::root());
        prop_assert_eq!(whole.root()?, state.state_root());
    }
    Ok((state, model))
}

/// Every member proves its account, every stranger its absence, and tampering fails.
fn check_proofs(
    state: &ShardedState,
    model: &BTreeMap<Address, Account>,
    strangers: &[Address],
) -> Result<(), TestCaseError> {
    let root = state.state_root();
    for (address, account) in model {
        let proof = state.prove(address);
        prop_assert_eq!(proof.verify(&root, address), Ok(Some(*account)));
        prop_assert_eq!(
            state.shard(state.layout.shard_of(address)).get(address)?,
            Some(*account)
        );
        check_tampering(&proof, &root, address, account)?;
    }
    for stranger in strangers
        .iter()
        .filter(|address| !model.contains_key(*address))
    {
        let proof = state.prove(stranger);
        prop_assert_eq!(proof.verify(&root, stranger), Ok(None));
        if let ProofTerminal::Leaf { account, .. } = proof.terminal {
            // Claiming the other leaf's account for the stranger must fail.
            let mut forged = proof.clone();
            forged.terminal = ProofTerminal::Leaf {
                address: *stranger,
                account,
            };
            prop_assert!(forged.verify(&root, stranger).is_err());
        }
    }
    Ok(())
}

/// Flipping a sibling bit, changing the account or the terminal address breaks the proof.
fn check_tampering(
    proof: &AccountProof,
    root: &Hash,
    address: &Address,
    account: &Account,
) -> Result<(), TestCaseError> {
    // The first, middle and last sibling: flipping every one of up to 160 costs too much time.
    let count = proof.siblings.len();
    let levels = [0, count / 2, count.saturating_sub(1)];
    for level in levels.into_iter().filter(|level| *level < count) {
        let mut flipped = proof.clone();
        flipped.siblings[level].0[level % 32] ^= 1 << (level % 8);
        prop_assert!(flipped.verify(root, address).is_err());
    }
    let mut changed = proof.clone();
    let mut richer = *account;
    richer.balance += crate::primitives::U256::from(1u64);
    changed.terminal = ProofTerminal::Leaf {
        address: *address,
        account: richer,
    };
    prop_assert!(changed.verify(root, address).is_err());
    let mut moved = proof.clone();
    let mut other = *address;
    other.0[19] ^= 1;
    moved.terminal = ProofTerminal::Leaf {
        address: other,
        account: *account,
    };
    prop_assert!(moved.verify(root, address).is_err());
    Ok(())
}

/// A witness over a random subset (plus strangers) verifies, reads like the state, survives a
/// codec round trip, and updates to the same root as the full state.
fn check_witness(
    scenario: &Scenario,
    mut state: ShardedState,
    model: &BTreeMap<Address, Account>,
) -> Result<(), TestCaseError> {
    let root = state.state_root();
    let mut covered: Vec<Address> = model
        .keys()
        .zip(&scenario.subset_seed)
        .filter_map(|(address, keep)| keep.then_some(*address))
        .collect();
    covered.extend(&scenario.strangers);
    let mut witness = state.witness(&covered);
    witness.verify(&root)?;
    for address in &covered {
        prop_assert_eq!(witness.get(address)?, model.get(address).copied());
    }
    let bytes = codec::encode(&witness);
    let decoded: Witness = codec::decode(&bytes, PROPOSAL_BYTES_MAX)
        .map_err(|error| TestCaseError::fail(error.to_string()))?;
    prop_assert_eq!(&decoded, &witness);
    for part in witness.parts.values() {
        let part_bytes = codec::encode(part);
        let part_back: PartialTree = codec::decode(&part_bytes, PROPOSAL_BYTES_MAX)
            .map_err(|error| TestCaseError::fail(error.to_string()))?;
        prop_assert_eq!(&part_back, part);
        prop_assert_eq!(codec::encode(&part_back), part_bytes);
    }
    let updates: BTreeMap<Address, Account> = scenario
        .later_updates
        .iter()
        .map(|(index, account)| {
            (
                covered
                    .get(*index % covered.len().max(1))
                    .copied()
                    .unwrap_or(scenario.pool[*index]),
                *account,
            )
        })
        .filter(|(address, _)| covered.contains(address))
        .collect();
    // The next block's addresses: all of the pool (touched by the update or not) and the
    // strangers, proven before the update as the shards would prove them.
    let next: Vec<Address> = scenario
        .pool
        .iter()
        .chain(&scenario.strangers)
        .copied()
        .collect();
    let earlier = state.witness(&next);
    let witness_root = witness.update(&updates)?;
    prop_assert_eq!(witness_root, state.update(&updates));
    prop_assert_eq!(witness.shard_roots.clone(), state.shard_roots());
    // Carried forward from the updated witness and the earlier proofs, the next block's
    // witness is exactly what the updated state itself proves.
    let carried = witness.carried_forward(&earlier.parts, &next)?;
    prop_assert_eq!(carried, state.witness(&next));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn tries_match_the_reference_and_prove_every_account(scenario in scenario()) {
        let (state, model) = run_batches(&scenario)?;
        check_proofs(&state, &model, &scenario.strangers)?;
        check_witness(&scenario, state, &model)?;
    }
}
