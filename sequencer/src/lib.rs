//! The sequencer service: the public API front door and the `Sequencer` Durable Object.
//!
//! A thin shell over `ledger::sequencer`; the Worker bindings arrive with the network issue.
