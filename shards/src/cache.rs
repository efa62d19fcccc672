//! A bounded in-memory cache of tree nodes in front of SQLite.
//!
//! A block touches the same paths twice in a row (the witness, then the apply), and every
//! request starts at the shard root, so the top of the tree is read over and over. Caching
//! nodes saves those reads. The cache is a plain map that empties itself when full: simple,
//! bounded, and never stale, because the store drops every position it writes before writing
//! it (see [`NodeCache::forget`]) and remembers what it wrote only once the write committed,
//! and drops everything before a restore replaces the whole state ([`NodeCache::clear`]).

use std::cell::RefCell;
use std::collections::BTreeMap;

use ledger::trie::{Node, NodePosition};

/// Nodes kept in memory per shard object: about 140 bytes each with the map's overhead, so at
/// most about 9 MiB, well inside an isolate's 128 MB.
pub(crate) const NODE_CACHE_ENTRIES_MAX: usize = 65_536;

/// Positions read from storage and what they held (`None`: empty). A `BTreeMap`, not a hash
/// map: positions come from addresses that clients choose.
#[derive(Debug)]
pub(crate) struct NodeCache {
    entries: RefCell<BTreeMap<NodePosition, Option<Node>>>,
    capacity: usize,
}

impl NodeCache {
    /// An empty cache holding at most `capacity` positions.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: RefCell::new(BTreeMap::new()),
            capacity,
        }
    }

    /// What `position` held when it was last read, if it is cached.
    pub(crate) fn get(&self, position: &NodePosition) -> Option<Option<Node>> {
        self.entries.borrow().get(position).copied()
    }

    /// Remembers what storage holds at `position`. A full cache starts over.
    pub(crate) fn remember(&self, position: NodePosition, node: Option<Node>) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.borrow_mut();
        if entries.len() >= self.capacity && !entries.contains_key(&position) {
            entries.clear();
        }
        entries.insert(position, node);
    }

    /// Remembers what storage holds at each of `entries`' positions (a batch just written).
    pub(crate) fn remember_all(
        &self,
        entries: impl IntoIterator<Item = (NodePosition, Option<Node>)>,
    ) {
        for (position, node) in entries {
            self.remember(position, node);
        }
    }

    /// Drops positions about to be written, so the next read goes to storage should the write
    /// roll back.
    pub(crate) fn forget<'a>(&self, positions: impl IntoIterator<Item = &'a NodePosition>) {
        let mut entries = self.entries.borrow_mut();
        for position in positions {
            entries.remove(position);
        }
    }

    /// Drops every position: after the whole state is replaced (a restore), nothing cached
    /// describes storage any more.
    pub(crate) fn clear(&self) {
        self.entries.borrow_mut().clear();
    }

    /// Positions cached.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.borrow().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::primitives::{Address, Hash};
    use ledger::state::Account;

    fn position(depth: u8) -> NodePosition {
        NodePosition::containing(&Address([0xab; 20]), depth).expect("depth at most 160")
    }

    fn internal(byte: u8) -> Node {
        Node::Internal {
            left: Hash([byte; 32]),
            right: Hash::ZERO,
        }
    }

    #[test]
    fn remembers_nodes_and_empty_positions() {
        let cache = NodeCache::new(8);
        assert_eq!(cache.get(&position(1)), None);
        cache.remember(position(1), Some(internal(1)));
        cache.remember(position(2), None);
        assert_eq!(cache.get(&position(1)), Some(Some(internal(1))));
        assert_eq!(cache.get(&position(2)), Some(None));
        let leaf = Node::Leaf {
            address: Address([0xab; 20]),
            account: Account::default(),
        };
        cache.remember(position(1), Some(leaf));
        assert_eq!(
            cache.get(&position(1)),
            Some(Some(leaf)),
            "a re-read replaces"
        );
    }

    #[test]
    fn remembers_a_written_batch_over_what_was_read() {
        let cache = NodeCache::new(8);
        cache.remember(position(1), None);
        cache.remember_all([
            (position(1), Some(internal(1))),
            (position(2), Some(internal(2))),
        ]);
        assert_eq!(cache.get(&position(1)), Some(Some(internal(1))));
        assert_eq!(cache.get(&position(2)), Some(Some(internal(2))));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn forgets_written_positions_only() {
        let cache = NodeCache::new(8);
        for depth in 0..4 {
            cache.remember(position(depth), Some(internal(depth)));
        }
        cache.forget(&[position(1), position(3), position(7)]);
        assert_eq!(cache.get(&position(0)), Some(Some(internal(0))));
        assert_eq!(cache.get(&position(1)), None);
        assert_eq!(cache.get(&position(2)), Some(Some(internal(2))));
        assert_eq!(cache.get(&position(3)), None);
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn never_holds_more_than_its_capacity() {
        let cache = NodeCache::new(3);
        for depth in 0..3 {
            cache.remember(position(depth), None);
        }
        assert_eq!(cache.len(), 3);
        // Re-reading a cached position does not evict anything.
        cache.remember(position(2), Some(internal(2)));
        assert_eq!(cache.len(), 3);
        cache.remember(position(10), Some(internal(10)));
        assert_eq!(cache.len(), 1, "a full cache starts over");
        assert_eq!(cache.get(&position(10)), Some(Some(internal(10))));
        assert_eq!(cache.get(&position(0)), None);
        cache.clear();
        assert_eq!(cache.len(), 0, "cleared");
        assert_eq!(cache.get(&position(10)), None);
        let disabled = NodeCache::new(0);
        disabled.remember(position(1), None);
        assert_eq!(disabled.len(), 0);
    }
}
