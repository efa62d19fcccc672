//! The edgeledger operator tool, as a library: the `ops` binary is a thin command line over it,
//! and the end-to-end tests drive the local network through [`devnet`].

pub mod backups;
pub mod devnet;
mod http;
pub mod ipfs;
