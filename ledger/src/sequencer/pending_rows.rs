//! Which stored rows of pending transactions are still needed.
//!
//! The `Sequencer` shell stores the transactions of each admission together, as one row of at
//! most [`PENDING_ROW_TXS_MAX`], instead of a row per transaction: a row per transaction cost
//! an insert and, at the commit, a delete by hash in a hash index, and those were a tenth of
//! the core's CPU under load. A row cannot lose one transaction without being rewritten, so
//! [`PendingRows`] keeps in memory which of each row's transactions are still pending:
//! - a row none of whose transactions is pending any more is deleted;
//! - a row of which fewer than a quarter are still pending is rewritten, the pending ones
//!   moved to a new row, so the bytes stored stay within a small multiple of the pending
//!   transactions' (a transaction stuck behind a nonce gap cannot keep a whole batch stored);
//! - reading the rows back after a restart, the transactions that left before it (committed
//!   or dropped, which the shell knows from its other tables) are simply not pending.
//!
//! The shell does the reads and writes; this decides which.

use std::collections::BTreeMap;

use crate::primitives::Hash;

/// Transactions stored in one row: with [`crate::limits::WIRE_TX_BYTES_MAX`] and the hash,
/// at most about 670 KB, inside a Durable Object's 2 MB row limit.
pub const PENDING_ROW_TXS_MAX: usize = 1_024;

/// A stored row stays while at least one in this many of its transactions is pending.
const PENDING_SHARE_MIN: usize = 4;

/// A stored row's identifier (its key in storage).
pub type RowId = u64;

/// What the shell must do to its stored rows after a change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowChanges {
    /// Rows to delete: nothing in them is pending any more.
    pub delete: Vec<RowId>,
    /// Rows to rewrite: read each, store the transactions of it that are still pending
    /// ([`PendingRows::holds`]) as a new row ([`PendingRows::store`]), which empties it.
    pub rewrite: Vec<RowId>,
}

impl RowChanges {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.delete.is_empty() && self.rewrite.is_empty()
    }

    fn merge(&mut self, other: RowChanges) {
        self.delete.extend(other.delete);
        self.rewrite.extend(other.rewrite);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RowCount {
    /// Transactions written in the row.
    stored: usize,
    /// Of those, how many are pending and stored in no later row.
    pending: usize,
}

/// The pending transactions' rows: which row holds each, and how full each row still is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingRows {
    rows: BTreeMap<RowId, RowCount>,
    row_of: BTreeMap<Hash, RowId>,
    next_row: RowId,
}

impl PendingRows {
    /// No rows.
    pub fn new() -> Self {
        Self::default()
    }

    /// The rows read back from storage: each row's id, how many transactions it stores, and
    /// which of them are still pending. Returns what to tidy (rows with nothing pending, or
    /// too little).
    pub fn restored(
        rows: impl IntoIterator<Item = (RowId, usize, Vec<Hash>)>,
    ) -> (Self, RowChanges) {
        let mut restored = Self::new();
        let mut changes = RowChanges::default();
        for (row, stored, pending) in rows {
            restored.next_row = restored.next_row.max(row.saturating_add(1));
            let count = RowCount { stored, pending: 0 };
            restored.rows.insert(row, count);
            for hash in pending {
                restored.move_to(hash, row, &mut changes);
            }
            restored.check(row, &mut changes);
        }
        (restored, changes)
    }

    /// Registers a new row holding `hashes` (at most [`PENDING_ROW_TXS_MAX`]) and returns its
    /// id, with the rows that a transaction moving out of them left to tidy.
    pub fn store(&mut self, hashes: &[Hash]) -> (RowId, RowChanges) {
        debug_assert!(hashes.len() <= PENDING_ROW_TXS_MAX);
        let row = self.next_row;
        self.next_row += 1;
        self.rows.insert(
            row,
            RowCount {
                stored: hashes.len(),
                pending: 0,
            },
        );
        let mut changes = RowChanges::default();
        for hash in hashes {
            self.move_to(*hash, row, &mut changes);
        }
        self.check(row, &mut changes);
        (row, changes)
    }

    /// `hashes` are pending no more (committed or dropped); returns the rows to tidy. Hashes
    /// in no row are ignored.
    pub fn left<'a>(&mut self, hashes: impl IntoIterator<Item = &'a Hash>) -> RowChanges {
        let mut changes = RowChanges::default();
        for hash in hashes {
            if let Some(row) = self.row_of.remove(hash) {
                self.release(row, &mut changes);
            }
        }
        changes
    }

    /// The row where `hash` is stored as pending, if it is pending.
    pub fn row_of(&self, hash: &Hash) -> Option<RowId> {
        self.row_of.get(hash).copied()
    }

    /// Whether `row` is where `hash` is stored as pending.
    pub fn holds(&self, row: RowId, hash: &Hash) -> bool {
        self.row_of.get(hash) == Some(&row)
    }

    /// Makes `row` the place of `hash`, releasing the row that held it before.
    fn move_to(&mut self, hash: Hash, row: RowId, changes: &mut RowChanges) {
        if let Some(previous) = self.row_of.insert(hash, row) {
            if previous == row {
                return;
            }
            self.release(previous, changes);
        }
        if let Some(count) = self.rows.get_mut(&row) {
            count.pending += 1;
        }
    }

    /// One transaction of `row` is no longer pending there.
    fn release(&mut self, row: RowId, changes: &mut RowChanges) {
        if let Some(count) = self.rows.get_mut(&row) {
            count.pending = count.pending.saturating_sub(1);
        }
        self.check(row, changes);
    }

    /// Schedules `row` for deletion when nothing in it is pending, or for a rewrite when too
    /// little is. A row is scheduled once: it leaves the table either way.
    fn check(&mut self, row: RowId, changes: &mut RowChanges) {
        let Some(count) = self.rows.get(&row).copied() else {
            return;
        };
        if count.pending == 0 {
            self.rows.remove(&row);
            changes.delete.push(row);
        } else if count.pending * PENDING_SHARE_MIN < count.stored
            && !changes.rewrite.contains(&row)
        {
            changes.rewrite.push(row);
        }
    }

    /// Carries out `changes` with the shell's reads and writes: `read(row)` gives a row's
    /// `(hash, item)` pairs, `write(row, items)` stores a new row, `delete(row)` removes one.
    /// Rewritten rows' pending items go to new rows, which may schedule more changes; they are
    /// carried out too. The first error stops it.
    pub fn apply<T, E>(
        &mut self,
        mut changes: RowChanges,
        mut read: impl FnMut(RowId) -> Result<Vec<(Hash, T)>, E>,
        mut write: impl FnMut(RowId, &[(Hash, T)]) -> Result<(), E>,
        mut delete: impl FnMut(RowId) -> Result<(), E>,
    ) -> Result<(), E> {
        while !changes.is_empty() {
            let mut next = RowChanges::default();
            for row in std::mem::take(&mut changes.rewrite) {
                if !self.rows.contains_key(&row) {
                    continue;
                }
                let still: Vec<(Hash, T)> = read(row)?
                    .into_iter()
                    .filter(|(hash, _)| self.holds(row, hash))
                    .collect();
                let hashes: Vec<Hash> = still.iter().map(|(hash, _)| *hash).collect();
                if hashes.is_empty() {
                    continue;
                }
                let (new_row, moved) = self.store(&hashes);
                write(new_row, &still)?;
                next.merge(moved);
            }
            for row in std::mem::take(&mut changes.delete) {
                delete(row)?;
            }
            changes = next;
        }
        Ok(())
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
