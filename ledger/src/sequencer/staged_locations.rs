//! Where recent transactions are, until their turn to be written to the hash index.
//!
//! The `Sequencer` shell keeps an index of every committed transaction by hash
//! (`tx_locations`: hash → height and position), which lookups by hash need for as long as the
//! chain lives. Its rows go to random pages of a table that only grows, so once the table has
//! many more pages than a block has transactions, every row dirtied a page of its own: on a
//! fresh network the index cost the core about a sixth of its CPU per transfer, and more as
//! the history grew (ARCHITECTURE.md, *Performance*).
//!
//! So the index is written in sorted runs. The hash space is cut into [`LOCATION_RANGES`]
//! ranges by the hash's first bits; a committed block's locations are staged here, in memory,
//! and each commit writes one range's staged locations, sorted, to the index: the range whose
//! turn it is at that height ([`range_due`]). A range is written every [`LOCATION_RANGES`]
//! blocks, its rows of all those blocks together, onto its own stretch of the index's pages
//! (`1 / LOCATION_RANGES` of them), so a page takes many rows per write instead of one.
//!
//! Nothing but the block bodies is stored for the staged locations: which ones were written
//! follows from the heights alone ([`is_written`]), so after a restart the shell reads the last
//! blocks' hashes back ([`StagedLocations::restored`]). Lookups by hash ask here first, then
//! the index. Blocks leave hot storage only after their staged locations are written
//! ([`StagedLocations::take_through`]).
//!
//! The shell does the reads and writes; this decides which.

use crate::limits::BLOCK_TXS_MAX;
use crate::primitives::Hash;

/// How many ranges the hash space is cut into, and so how many blocks a location may wait to
/// be written. A power of two, at most 256 (a range is a prefix of the first byte).
///
/// The staged locations are at most this many blocks' worth, about half of it on average:
/// with blocks of 2,000, about 31,000 locations of 48 bytes, 1.5 MB. Changing it changes
/// which staged locations a restart takes for written, so it takes a new storage layout whose
/// migration writes every recent location.
pub const LOCATION_RANGES: u64 = 32;

const _: () = assert!(LOCATION_RANGES.is_power_of_two() && LOCATION_RANGES <= 256);

/// Bits of a packed location that hold the position ([`Location::packed`]).
pub const LOCATION_POSITION_BITS: u32 = 12;

const _: () = assert!(BLOCK_TXS_MAX <= 1 << LOCATION_POSITION_BITS);

/// Where a committed transaction is: its block's height and its position in the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// The block's height.
    pub height: u64,
    /// The transaction's position in the block.
    pub position: u32,
}

impl Location {
    /// The height and position in one integer, `height << 12 | position`, for the shell's
    /// statements (heights stay far below 2^41, so this stays below 2^53, where stored
    /// numbers stop being exact in JavaScript).
    pub const fn packed(self) -> u64 {
        self.height << LOCATION_POSITION_BITS | self.position as u64
    }
}

/// The range a hash belongs to: its first bits.
pub(super) fn range_of(hash: &Hash) -> u64 {
    u64::from(hash.as_ref()[0]) * LOCATION_RANGES / 256
}

/// The range whose staged locations the commit of `height` writes.
pub(super) const fn range_due(height: u64) -> u64 {
    height % LOCATION_RANGES
}

/// Whether a location of the block at `height`, with a hash in `range`, was written to the
/// index by the time `head` was committed: some commit from `height` to `head` had its range
/// due.
pub(super) fn is_written(height: u64, range: u64, head: u64) -> bool {
    if head < height {
        return false;
    }
    let wait = (range + LOCATION_RANGES - range_due(height)) % LOCATION_RANGES;
    wait <= head - height
}

/// The heights whose blocks may hold staged locations after `head` was committed, with
/// blocks through `archived_through` pruned (their locations all written): the last
/// [`LOCATION_RANGES`] blocks, at most, and never genesis.
pub fn recent_heights(head: u64, archived_through: u64) -> std::ops::RangeInclusive<u64> {
    let first = head
        .saturating_sub(LOCATION_RANGES - 1)
        .max(archived_through + 1)
        .max(1);
    first..=head
}

/// The locations of committed transactions not yet written to the index, by range, each
/// range's sorted by hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedLocations {
    ranges: Vec<Vec<(Hash, Location)>>,
}

impl Default for StagedLocations {
    fn default() -> Self {
        Self::new()
    }
}

impl StagedLocations {
    /// Nothing staged.
    pub fn new() -> Self {
        Self {
            ranges: vec![Vec::new(); LOCATION_RANGES as usize],
        }
    }

    /// The staged locations after a restart at `head`, from the transactions' hashes of the
    /// blocks [`recent_heights`] names (each block's hashes in position order): those not yet
    /// written.
    pub fn restored(head: u64, blocks: impl IntoIterator<Item = (u64, Vec<Hash>)>) -> Self {
        let mut staged = Self::new();
        for (height, hashes) in blocks {
            for (position, hash) in hashes.into_iter().enumerate() {
                let range = range_of(&hash);
                if !is_written(height, range, head) {
                    staged.ranges[range as usize].push((hash, location(height, position)));
                }
            }
        }
        staged
            .ranges
            .iter_mut()
            .for_each(|range| range.sort_unstable());
        staged
    }

    /// Where the staged transaction with this hash is, if it is staged.
    pub fn get(&self, hash: &Hash) -> Option<Location> {
        let range = &self.ranges[range_of(hash) as usize];
        range
            .binary_search_by(|(staged, _)| staged.cmp(hash))
            .ok()
            .map(|index| range[index].1)
    }

    /// How many locations are staged.
    pub fn len(&self) -> usize {
        self.ranges.iter().map(Vec::len).sum()
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.ranges.iter().all(Vec::is_empty)
    }

    /// Stages the locations of the block committed at `height` (its transactions' hashes in
    /// position order) and takes out what that commit writes to the index: the due range's
    /// locations, sorted by hash.
    pub fn commit(&mut self, height: u64, hashes: &[Hash]) -> Vec<(Hash, Location)> {
        let mut committed: Vec<(Hash, Location)> = hashes
            .iter()
            .enumerate()
            .map(|(position, hash)| (*hash, location(height, position)))
            .collect();
        // Sorted by hash, the block's locations come range by range, each run sorted.
        committed.sort_unstable();
        for run in committed.chunk_by(|a, b| range_of(&a.0) == range_of(&b.0)) {
            let range = &mut self.ranges[range_of(&run[0].0) as usize];
            range.extend_from_slice(run);
            // Two sorted runs, which the stable sort merges in one pass.
            range.sort();
        }
        std::mem::take(&mut self.ranges[range_due(height) as usize])
    }

    /// Takes out the staged locations of blocks through `height`, sorted by hash: their
    /// blocks are leaving hot storage, and a restart could not read their hashes back.
    pub fn take_through(&mut self, height: u64) -> Vec<(Hash, Location)> {
        let mut taken = Vec::new();
        for range in &mut self.ranges {
            let (leaving, staying): (Vec<_>, Vec<_>) = std::mem::take(range)
                .into_iter()
                .partition(|(_, location)| location.height <= height);
            *range = staying;
            taken.extend(leaving);
        }
        taken.sort_unstable();
        taken
    }

    /// Forgets everything staged (the history was replaced).
    pub fn clear(&mut self) {
        self.ranges.iter_mut().for_each(Vec::clear);
    }
}

fn location(height: u64, position: usize) -> Location {
    Location {
        height,
        // Below BLOCK_TXS_MAX, asserted above to fit the position bits.
        position: position as u32,
    }
}

#[cfg(test)]
mod tests;
