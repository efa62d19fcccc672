//! TODO: merkle.
