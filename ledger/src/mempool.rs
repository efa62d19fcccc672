//! TODO: mempool.
