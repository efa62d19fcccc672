//! TODO: backup.
