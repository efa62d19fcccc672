//! TODO: transaction.
