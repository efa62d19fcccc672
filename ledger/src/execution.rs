//! TODO: execution.
