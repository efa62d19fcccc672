//! TODO: sequencer.
