//! TODO: block.
