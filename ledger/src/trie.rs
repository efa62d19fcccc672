//! TODO: trie.
