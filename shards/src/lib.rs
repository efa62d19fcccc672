//! The `Shard` Durable Object: one per address range, holding that range's state tree.
//!
//! A thin shell over `ledger::shard`; the Worker bindings arrive with the network issue.
