//! [`PendingRows`] against a table kept the way the shell keeps it: after any sequence of
//! admissions, commits, drops, re-admissions and restarts, every pending transaction is in
//! the row the index names, and every stored row is worth keeping.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;

use proptest::prelude::*;

use super::*;

/// The stored rows, as the shell's table holds them: each row's hashes (the items are `()`).
type Table = BTreeMap<RowId, Vec<Hash>>;

fn hash(n: u16) -> Hash {
    let mut bytes = [0u8; 32];
    bytes[..2].copy_from_slice(&n.to_be_bytes());
    Hash::from(bytes)
}

/// Carries out `changes` on `table` as the shell does.
fn apply(rows: &mut PendingRows, table: &mut Table, changes: RowChanges) {
    let table = std::cell::RefCell::new(table);
    rows.apply::<(), Infallible>(
        changes,
        |row| {
            Ok(table.borrow()[&row]
                .iter()
                .map(|hash| (*hash, ()))
                .collect())
        },
        |row, items| {
            let hashes = items.iter().map(|(hash, ())| *hash).collect();
            assert!(
                table.borrow_mut().insert(row, hashes).is_none(),
                "row {row} reused"
            );
            Ok(())
        },
        |row| {
            assert!(
                table.borrow_mut().remove(&row).is_some(),
                "row {row} deleted twice"
            );
            Ok(())
        },
    )
    .expect("no errors");
}

/// Stores `hashes` in rows of at most [`PENDING_ROW_TXS_MAX`], as the shell does.
fn admit(rows: &mut PendingRows, table: &mut Table, hashes: &[Hash]) {
    for chunk in hashes.chunks(PENDING_ROW_TXS_MAX) {
        let (row, changes) = rows.store(chunk);
        table.insert(row, chunk.to_vec());
        apply(rows, table, changes);
    }
}

/// What a restart reads back: every row, with the hashes of it still `pending`.
fn restart(table: &mut Table, pending: &BTreeSet<Hash>) -> PendingRows {
    let read = table
        .iter()
        .map(|(row, hashes)| {
            let still = hashes.iter().filter(|hash| pending.contains(hash)).copied();
            (*row, hashes.len(), still.collect())
        })
        .collect::<Vec<_>>();
    let (mut rows, changes) = PendingRows::restored(read);
    apply(&mut rows, table, changes);
    rows
}

fn check(rows: &PendingRows, table: &Table, pending: &BTreeSet<Hash>) {
    assert_eq!(rows.row_of.len(), pending.len());
    for hash in pending {
        let row = rows.row_of[hash];
        assert!(table[&row].contains(hash), "{hash} is not in row {row}");
    }
    assert_eq!(
        rows.rows.keys().collect::<Vec<_>>(),
        table.keys().collect::<Vec<_>>()
    );
    for (row, count) in &rows.rows {
        assert_eq!(count.stored, table[row].len());
        assert!(count.pending > 0, "row {row} has nothing pending");
        assert!(
            count.pending * PENDING_SHARE_MIN >= count.stored,
            "row {row} keeps {} of {}",
            count.pending,
            count.stored
        );
    }
    assert_eq!(
        rows.rows.values().map(|count| count.stored).sum::<usize>(),
        table.values().map(Vec::len).sum::<usize>()
    );
}

#[derive(Debug, Clone)]
enum Step {
    /// Admit this many new transactions.
    Admit(u16),
    /// Commit or drop these (indices into the pending set, taken modulo its size).
    Leave(Vec<u16>),
    /// Admit again some that left (indices into those, modulo).
    Readmit(Vec<u16>),
    Restart,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (1u16..2_200).prop_map(Step::Admit),
        4 => prop::collection::vec(any::<u16>(), 1..600).prop_map(Step::Leave),
        1 => prop::collection::vec(any::<u16>(), 1..50).prop_map(Step::Readmit),
        1 => Just(Step::Restart),
    ]
}

fn pick(set: &BTreeSet<Hash>, indices: &[u16]) -> BTreeSet<Hash> {
    let all: Vec<Hash> = set.iter().copied().collect();
    if all.is_empty() {
        return BTreeSet::new();
    }
    indices
        .iter()
        .map(|index| all[usize::from(*index) % all.len()])
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn every_pending_transaction_is_in_a_kept_row(steps in prop::collection::vec(step(), 1..40)) {
        let mut rows = PendingRows::new();
        let mut table = Table::new();
        let (mut pending, mut left) = (BTreeSet::new(), BTreeSet::new());
        let mut next = 0u16;
        for step in steps {
            match step {
                Step::Admit(count) => {
                    let count = count.min(u16::MAX - next);
                    let hashes: Vec<Hash> = (next..next + count).map(hash).collect();
                    next += count;
                    pending.extend(hashes.iter().copied());
                    admit(&mut rows, &mut table, &hashes);
                }
                Step::Leave(indices) => {
                    let leaving = pick(&pending, &indices);
                    let changes = rows.left(&leaving);
                    apply(&mut rows, &mut table, changes);
                    pending.retain(|hash| !leaving.contains(hash));
                    left.extend(leaving);
                }
                Step::Readmit(indices) => {
                    let back: Vec<Hash> = pick(&left, &indices).into_iter().collect();
                    left.retain(|hash| !back.contains(hash));
                    pending.extend(back.iter().copied());
                    admit(&mut rows, &mut table, &back);
                }
                Step::Restart => rows = restart(&mut table, &pending),
            }
            check(&rows, &table, &pending);
        }
    }
}

#[test]
fn a_row_goes_when_its_last_transaction_leaves() {
    let mut rows = PendingRows::new();
    let (first, changes) = rows.store(&[hash(1), hash(2)]);
    assert!(changes.is_empty());
    assert_eq!(rows.left(&[hash(1)]), RowChanges::default());
    assert_eq!(
        rows.left(&[hash(2), hash(9)]),
        RowChanges {
            delete: vec![first],
            rewrite: Vec::new()
        }
    );
    assert_eq!((rows.rows.len(), rows.row_of.len()), (0, 0));
}

#[test]
fn a_row_under_a_quarter_pending_is_rewritten() {
    let mut rows = PendingRows::new();
    let hashes: Vec<Hash> = (0..8).map(hash).collect();
    let (row, _) = rows.store(&hashes);
    // Two of eight pending is a quarter: kept as it is.
    assert!(rows.left(&hashes[..6]).is_empty());
    let changes = rows.left(&hashes[6..7]);
    assert_eq!(changes.rewrite, vec![row]);
    let mut table = Table::from([(row, hashes.clone())]);
    apply(&mut rows, &mut table, changes);
    assert_eq!(table.len(), 1);
    let (new_row, kept) = table.first_key_value().expect("one row");
    assert!(*new_row > row);
    assert_eq!(kept, &vec![hash(7)]);
    assert!(rows.holds(*new_row, &hash(7)));
}

#[test]
fn a_transaction_stored_again_moves_to_its_new_row() {
    let mut rows = PendingRows::new();
    let (first, _) = rows.store(&[hash(1)]);
    let (second, changes) = rows.store(&[hash(1), hash(2)]);
    assert_eq!(changes.delete, vec![first]);
    assert!(rows.holds(second, &hash(1)));
    assert_eq!(rows.row_of.len(), 2);
}

#[test]
fn rows_read_back_keep_only_what_is_pending() {
    let (rows, changes) = PendingRows::restored([
        (3, 2, vec![hash(1), hash(2)]),
        (5, 3, Vec::new()),
        (8, 8, vec![hash(4)]),
    ]);
    assert_eq!(
        changes,
        RowChanges {
            delete: vec![5],
            rewrite: vec![8]
        }
    );
    assert!(rows.holds(3, &hash(2)));
    let mut more = rows.clone();
    let (next, _) = more.store(&[hash(6)]);
    assert_eq!(next, 9, "new rows come after every row read back");
}
