//! [`StagedLocations`] against an index kept the way the shell keeps it: after any sequence of
//! commits, prunes and restarts, every committed transaction is staged or written (never
//! both, never neither), each location is written once, and a restart stages exactly what
//! was staged before it.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::primitives::keccak256;

/// The index as the shell's table holds it.
type Index = BTreeMap<Hash, Location>;

fn hash_with_first_byte(first: u8, n: u64) -> Hash {
    let mut bytes = keccak256(n.to_be_bytes()).as_ref().to_vec();
    bytes[0] = first;
    let bytes: [u8; 32] = bytes.try_into().expect("32 bytes");
    Hash::from(bytes)
}

/// Writes `taken` to `index` as the shell does, and checks each is new there.
fn write(index: &mut Index, taken: Vec<(Hash, Location)>) {
    assert!(taken.is_sorted(), "written sorted by hash");
    for (hash, location) in taken {
        assert_eq!(index.insert(hash, location), None, "{hash:?} written twice");
    }
}

#[test]
fn a_hash_range_is_its_first_bits() {
    assert_eq!(range_of(&hash_with_first_byte(0x00, 1)), 0);
    assert_eq!(range_of(&hash_with_first_byte(0x07, 1)), 0);
    assert_eq!(range_of(&hash_with_first_byte(0x08, 1)), 1);
    assert_eq!(
        range_of(&hash_with_first_byte(0xff, 1)),
        LOCATION_RANGES - 1
    );
}

#[test]
fn a_location_is_written_at_the_first_commit_with_its_range_due() {
    // Block 5's range 5 is due at once; range 4 waits until height 36 (4 + 32).
    assert!(is_written(5, 5, 5));
    assert!(!is_written(5, 4, 35));
    assert!(is_written(5, 4, 36));
    assert!(!is_written(5, 6, 5));
    assert!(is_written(5, 6, 6));
    assert!(!is_written(5, 6, 4), "not before its block");
}

#[test]
fn the_recent_heights_are_the_last_ranges_worth_after_the_archived_ones() {
    assert!(
        recent_heights(0, 0).is_empty(),
        "genesis has no transactions"
    );
    assert_eq!(recent_heights(10, 0), 1..=10);
    assert_eq!(recent_heights(100, 0), 69..=100);
    assert_eq!(recent_heights(100, 90), 91..=100);
}

#[test]
fn a_packed_location_keeps_its_height_and_position() {
    let location = Location {
        height: 123_456_789,
        position: 4_095,
    };
    let packed = location.packed();
    assert_eq!(packed >> LOCATION_POSITION_BITS, 123_456_789);
    assert_eq!(packed & ((1 << LOCATION_POSITION_BITS) - 1), 4_095);
}

#[test]
fn a_commit_writes_the_due_range_and_stages_the_rest() {
    let mut staged = StagedLocations::new();
    // Height 3: range 3 (first bytes 0x18 to 0x1f) is due.
    let due = hash_with_first_byte(0x18, 1);
    let waiting = hash_with_first_byte(0x20, 2);
    let written = staged.commit(3, &[waiting, due]);
    assert_eq!(
        written,
        vec![(
            due,
            Location {
                height: 3,
                position: 1
            }
        )]
    );
    assert_eq!(staged.get(&due), None);
    assert_eq!(
        staged.get(&waiting),
        Some(Location {
            height: 3,
            position: 0
        })
    );
    assert_eq!(staged.len(), 1);
    // Range 4 comes due at height 4, with whatever it gathered.
    let later = hash_with_first_byte(0x21, 3);
    let written = staged.commit(4, &[later]);
    assert_eq!(written.len(), 2);
    assert!(written.is_sorted());
    assert!(staged.is_empty());
}

#[derive(Debug, Clone)]
enum Step {
    /// A block of this many transactions, whose hashes start with these bytes (so that some
    /// blocks crowd a few ranges).
    Commit(Vec<u8>),
    /// Blocks through this many below the head leave hot storage.
    Prune(u64),
    /// The object restarts: the staged locations are read back.
    Restart,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => prop::collection::vec(any::<u8>(), 0..40).prop_map(Step::Commit),
        2 => prop::collection::vec(0u8..4, 0..40).prop_map(Step::Commit),
        1 => (0u64..50).prop_map(Step::Prune),
        1 => Just(Step::Restart),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_committed_transaction_is_staged_or_written_once(
        steps in prop::collection::vec(step(), 1..150),
    ) {
        let mut staged = StagedLocations::new();
        let mut index = Index::new();
        let mut blocks: BTreeMap<u64, Vec<Hash>> = BTreeMap::new();
        let (mut head, mut archived_through, mut serial) = (0u64, 0u64, 0u64);
        for step in steps {
            match step {
                Step::Commit(first_bytes) => {
                    head += 1;
                    let hashes: Vec<Hash> = first_bytes
                        .iter()
                        .map(|first| {
                            serial += 1;
                            hash_with_first_byte(*first, serial)
                        })
                        .collect();
                    write(&mut index, staged.commit(head, &hashes));
                    blocks.insert(head, hashes);
                }
                Step::Prune(below) => {
                    let through = head.saturating_sub(below);
                    if through > archived_through {
                        write(&mut index, staged.take_through(through));
                        // Their bodies leave: a restart cannot read them back.
                        blocks.retain(|height, _| *height > through);
                        archived_through = through;
                    }
                }
                Step::Restart => {
                    let recent = recent_heights(head, archived_through)
                        .map(|height| (height, blocks[&height].clone()));
                    let restored = StagedLocations::restored(head, recent);
                    prop_assert_eq!(&restored, &staged);
                    staged = restored;
                }
            }
            for (height, hashes) in &blocks {
                for (position, hash) in hashes.iter().enumerate() {
                    let expected = Location { height: *height, position: position as u32 };
                    let found = (staged.get(hash), index.get(hash).copied());
                    prop_assert!(
                        matches!(found, (Some(at), None) | (None, Some(at)) if at == expected),
                        "{:?} at {:?}: staged and written {:?}", hash, expected, found
                    );
                }
            }
            prop_assert!(staged.len() <= blocks.values().map(Vec::len).sum::<usize>());
        }
    }
}
