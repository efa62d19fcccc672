//! TODO: shard.
