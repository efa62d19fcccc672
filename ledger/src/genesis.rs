//! TODO: genesis.
