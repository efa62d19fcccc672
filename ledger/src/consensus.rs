//! TODO: consensus.
