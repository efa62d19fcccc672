//! Every maximum in the system, in one place, tied together by compile-time assertions.
//!
//! Names put the unit last (`_max`, `_bytes_max`, `_ms`). Anything that reads input checks the
//! relevant limit before decoding or allocating, and answers with a typed error past it.

/// Largest raw signed transaction accepted. A value transfer with no data and no access list
/// is at most about 200 bytes; this leaves room for all legal field sizes.
pub const TX_BYTES_MAX: usize = 512;

/// Largest transaction in its transport and storage form (`transaction::WireTx`, MessagePack):
/// an array header, the raw bytes with a bin header of up to 3 bytes, the 64-byte public key
/// and the 32-byte nonce y with a 2-byte bin header each.
pub const WIRE_TX_BYTES_MAX: usize = 1 + (3 + TX_BYTES_MAX) + (2 + 64) + (2 + 32);

/// Widest transfer value accepted, in bits. With a 64-bit gas limit and 128-bit fees, the
/// up-front cost `gas_limit * max_fee_per_gas + value` then always fits in 256 bits.
pub const VALUE_BITS_MAX: usize = 255;

/// Transactions in one block.
pub const BLOCK_TXS_MAX: usize = 4_096;

/// Transactions in one submitted batch (`POST /v1/txs`).
pub const BATCH_TXS_MAX: usize = 4_096;

/// Bytes in one HTTP request body to the public API.
pub const REQUEST_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Transactions waiting in the sequencer's mempool, all senders together: eight full blocks,
/// about seven seconds of the peak rate on a 2-core machine. A full mempool with its latency
/// entries and the index of its stored rows is 25.0 MiB of the `Sequencer`'s heap from eight
/// senders and 29.0 MiB from as many senders as transfers; with a full proposal being voted
/// on and the next block built ahead, at most 48.4 MiB (`ledger/tests/memory.rs`, natively).
/// On workerd the `Sequencer`'s isolate reaches 58.2 MiB of wasm memory that way with four
/// validators (`ops/tests/network/memory.rs`), with the recent blocks' staged locations
/// ([`crate::sequencer::StagedLocations`]). Past this bound, a transaction that could go into
/// the next block evicts one that waits behind a nonce gap (dropped, `evicted`); otherwise
/// submissions are refused with 503 `mempool_full`, to retry.
pub const MEMPOOL_TXS_MAX: usize = 32_768;

/// Rejections the `Sequencer` remembers, for `GET /v1/txs/{hash}` to say why a transaction was
/// dropped. Past this the oldest are forgotten (their status becomes unknown), except a
/// rejection whose transaction is still written in a stored pending row, which a restart would
/// otherwise take for pending again. A stored row stays only while a quarter of it is pending,
/// so those are at most `4 × MEMPOOL_TXS_MAX`: the table stays within about 200,000 rows
/// (some 30 MB) however many transactions are dropped. Before, it grew without end, and
/// transfers from an account that cannot pay are admitted (the native API does not read
/// balances) and dropped at execution, free of charge.
pub const REJECTIONS_KEPT: usize = 65_536;

/// Transactions waiting for one sender.
pub const SENDER_QUEUE_TXS_MAX: usize = 4_096;

/// How far ahead of the sender's next nonce a transaction may be and still be queued.
pub const NONCE_GAP_MAX: u64 = SENDER_QUEUE_TXS_MAX as u64;

/// Validators in a validator set.
pub const VALIDATORS_MAX: usize = 64;

/// Shard count is `2^shard_bits`; at most 256 shards.
pub const SHARD_BITS_MAX: u8 = 8;

/// Shards in a chain.
pub const SHARDS_MAX: usize = 1 << SHARD_BITS_MAX;

/// Depth of the state tree: one level per address bit.
pub const TRIE_DEPTH: usize = 160;

/// Accounts one block can touch: sender and recipient of every transaction, plus the fee
/// recipient.
pub const BLOCK_ACCOUNTS_MAX: usize = 2 * BLOCK_TXS_MAX + 1;

/// Accounts a single witness or multiproof request may ask for.
pub const WITNESS_ACCOUNTS_MAX: usize = BLOCK_ACCOUNTS_MAX;

/// Nodes in one witness or multiproof, all shard parts together. Each covered account adds at
/// most one path of `TRIE_DEPTH` internal nodes with one sibling each (addresses chosen to share
/// long prefixes really can cost that much), and each shard part adds its root.
pub const WITNESS_NODES_MAX: usize = 2 * TRIE_DEPTH * WITNESS_ACCOUNTS_MAX + SHARDS_MAX;

/// Bytes of an encoded block header.
pub const HEADER_BYTES_MAX: usize = 1_024;

/// Bytes of an encoded proposal (header, transactions, public keys, witness, parent certificate).
pub const PROPOSAL_BYTES_MAX: usize = 32 * 1024 * 1024;

/// Longest batching window a chain may configure: how long the sequencer waits after the first
/// pending transaction before proposing.
pub const BATCH_WINDOW_MS_MAX: u64 = 10_000;

/// Longest a block request may wait for its block to be committed (`?wait_ms=`): long enough
/// to cover a round under load, short enough that no proxy gives up on the request first.
pub const BLOCK_WAIT_MS_MAX: u64 = 10_000;

/// Block requests the sequencer holds at once while they wait for their block; past it a
/// request is answered 503 at once, so waiting costs the object bounded memory.
pub const BLOCK_WAITERS_MAX: usize = 1_024;

/// How far a proposal's timestamp may be ahead of a validator's clock.
pub const TIMESTAMP_DRIFT_MS_MAX: u64 = 15_000;

/// Funded accounts in a genesis.
pub const GENESIS_ACCOUNTS_MAX: usize = 1_000_000;

/// Backup envelope bytes (plaintext snapshot chunk plus header).
pub const BACKUP_BYTES_MAX: usize = 64 * 1024 * 1024;

// gas_limit (64 bits) × max_fee (128 bits) < 2^192, plus a value below 2^255, stays below 2^256.
const _: () = assert!(VALUE_BITS_MAX < 256 && 64 + 128 < VALUE_BITS_MAX);
const _: () = assert!(BLOCK_TXS_MAX <= MEMPOOL_TXS_MAX);
const _: () = assert!(SENDER_QUEUE_TXS_MAX <= MEMPOOL_TXS_MAX);
const _: () = assert!(BATCH_TXS_MAX <= MEMPOOL_TXS_MAX);
// A full batch of maximal transactions, with MessagePack framing (bin32 header = 5 bytes per
// transaction, array32 header = 5 bytes), must fit one request.
const _: () = assert!(BATCH_TXS_MAX * (TX_BYTES_MAX + 5) + 5 <= REQUEST_BYTES_MAX);
const _: () = assert!(SHARDS_MAX == 256 && (SHARD_BITS_MAX as usize) < TRIE_DEPTH);
// Validator indices travel as u8 in votes.
const _: () = assert!(VALIDATORS_MAX <= u8::MAX as usize);
const _: () = assert!(WITNESS_ACCOUNTS_MAX >= BLOCK_ACCOUNTS_MAX);
// A proposal carries at most BLOCK_TXS_MAX transactions in their wire form, plus a witness of at
// most BLOCK_ACCOUNTS_MAX paths of TRIE_DEPTH sibling hashes.
const _: () = assert!(
    BLOCK_TXS_MAX * WIRE_TX_BYTES_MAX + BLOCK_ACCOUNTS_MAX * TRIE_DEPTH * 32 / 4
        <= PROPOSAL_BYTES_MAX
);

/// Sibling hashes in one Merkle inclusion proof: the depth of a tree over a full block's
/// transactions or receipts (12 for 4,096). Derived, not a round number, so it is the same on
/// 32-bit wasm32 and 64-bit hosts.
pub const MERKLE_PROOF_HASHES_MAX: usize =
    BLOCK_TXS_MAX.next_power_of_two().trailing_zeros() as usize;

/// Sibling hashes in one inclusion proof of the quaternary tree (block format 2): up to three
/// a level, over the levels of a tree over a full block (18 for 4,096: six levels).
pub const QUATERNARY_PROOF_HASHES_MAX: usize = 3 * MERKLE_PROOF_HASHES_MAX.div_ceil(2);

/// Bytes of an encoded receipt (about 190 bytes at the largest field values).
pub const RECEIPT_BYTES_MAX: usize = 256;

/// Bytes of an encoded validator set: an array of up to [`VALIDATORS_MAX`] 64-byte public keys.
pub const VALIDATOR_SET_BYTES_MAX: usize = 8 * 1024;

/// Bytes of an encoded vote (about 120 bytes).
pub const VOTE_BYTES_MAX: usize = 128;

/// Bytes of an encoded quorum certificate: at most one signature per validator.
pub const QUORUM_CERTIFICATE_BYTES_MAX: usize = 8 * 1024;

/// Bytes of an encoded certified block (header, certificate, transactions, receipts), as stored
/// and archived to Workers KV.
pub const CERTIFIED_BLOCK_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Bytes of an encoded guard record.
pub const GUARD_BYTES_MAX: usize = 64;

/// Workers KV's largest value: an archived block must fit one.
pub const KV_VALUE_BYTES_MAX: usize = 25 * 1024 * 1024;

/// Smallest plaintext chunk of a backup envelope; keeps the 16-byte tag per chunk a small
/// overhead and the chunk count bounded.
pub const BACKUP_CHUNK_BYTES_MIN: usize = 64;

/// Largest plaintext chunk of a backup envelope: what a reader or writer holds in memory at once.
pub const BACKUP_CHUNK_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Plaintext chunk size the backup convenience functions use.
pub const BACKUP_CHUNK_BYTES_DEFAULT: usize = 1024 * 1024;

const _: () = assert!(BLOCK_TXS_MAX as u64 <= 1u64 << MERKLE_PROOF_HASHES_MAX);
const _: () = assert!(MERKLE_PROOF_HASHES_MAX < usize::BITS as usize);
// An array32 header plus, per validator, a bin8 header (2 bytes) and 64 key bytes.
const _: () = assert!(5 + VALIDATORS_MAX * (2 + 64) <= VALIDATOR_SET_BYTES_MAX);
// Per signature: array header, index (at most 2 bytes), signature array of two bin8 32-byte
// scalars and a bool; plus the certificate's array, height, block hash and votes array headers.
const _: () = assert!(
    1 + 9 + 34 + 5 + VALIDATORS_MAX * (1 + 2 + 1 + 34 + 34 + 1) <= QUORUM_CERTIFICATE_BYTES_MAX
);
// A full block: header, certificate, maximal transactions (bin16 framing) and receipts.
const _: () = assert!(
    1 + HEADER_BYTES_MAX
        + QUORUM_CERTIFICATE_BYTES_MAX
        + 5
        + BLOCK_TXS_MAX * (TX_BYTES_MAX + 3)
        + 5
        + BLOCK_TXS_MAX * RECEIPT_BYTES_MAX
        <= CERTIFIED_BLOCK_BYTES_MAX
);
const _: () = assert!(CERTIFIED_BLOCK_BYTES_MAX <= KV_VALUE_BYTES_MAX);
const _: () = assert!(BACKUP_CHUNK_BYTES_MIN <= BACKUP_CHUNK_BYTES_DEFAULT);
const _: () = assert!(BACKUP_CHUNK_BYTES_DEFAULT <= BACKUP_CHUNK_BYTES_MAX);
// Chunk sizes travel as u32 in the envelope header, and one maximal chunk fits an envelope.
const _: () = assert!(BACKUP_CHUNK_BYTES_MAX <= u32::MAX as usize);
const _: () = assert!(BACKUP_CHUNK_BYTES_MAX + 1024 <= BACKUP_BYTES_MAX);
