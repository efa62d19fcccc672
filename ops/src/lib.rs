//! The edgeledger operator tool, as a library: the `ops` binary is a thin command line over it,
//! and the end-to-end tests drive the local network through [`devnet`].

pub mod backups;
pub mod bench;
pub mod client;
pub mod commands;
pub mod devnet;
pub mod download;
mod http;
pub mod ipfs;
pub mod ports;
pub mod progress;
pub mod units;
