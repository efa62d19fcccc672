//! The validator Worker and its `Guard` Durable Object: verify proposals, sign votes.
//!
//! A thin shell over `ledger::consensus`; the Worker bindings arrive with the network issue.
