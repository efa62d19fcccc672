//! The archiver cron Worker: cold storage in Workers KV and encrypted backups on IPFS.
//!
//! A thin shell over `ledger::backup`; the Worker bindings arrive with the archiver issue.
