//! The `tx_chunks` table: the bodies of a hot block's transactions, [`TX_CHUNK_TXS`] to a row.
//!
//! Up to layout 4 they were a `txs` row per transaction (five values bound, a row inserted, and
//! later each read back on its own through the runtime). Storing a committed block that way was
//! the longest step between a vote and the next proposal. A chunk is two values for 64
//! transactions, and a lookup by hash reads one chunk (about 19 KB for transfers).
//!
//! Row `id` holds chunk `id % TX_CHUNKS_PER_BLOCK` of the block at height
//! `id / TX_CHUNKS_PER_BLOCK`, so a block's chunks are one range of ids, in position order.
//! Its columns:
//! - `hashes`: the transactions' hashes, 32 bytes each, end to end (a block's hash list reads
//!   these without the bodies);
//! - `bodies`: MessagePack `[[raw, receipt], ...]`, both `bin`, each receipt its own MessagePack
//!   encoding (the form layout 4 stored it in, so the migration copies it as it is).

use std::collections::BTreeMap;

use ledger::block::Receipt;
use ledger::codec;
use ledger::limits::{BLOCK_TXS_MAX, TX_BYTES_MAX};
use ledger::primitives::Hash;
use serde_bytes::{ByteBuf, Bytes};
use worker::SqlStorageValue;
use worker_shell::internal;

use super::{RECEIPT_BYTES_MAX, StoreResult, blob_column, integer, integer_column};

/// Transactions a chunk holds (a block's last chunk may hold fewer).
pub(super) const TX_CHUNK_TXS: u64 = 64;

/// Chunk ids a block has: chunk `c` of the block at height `h` is row
/// `h · TX_CHUNKS_PER_BLOCK + c`.
pub(super) const TX_CHUNKS_PER_BLOCK: u64 = (BLOCK_TXS_MAX as u64).div_ceil(TX_CHUNK_TXS);

/// Bytes of a stored chunk's bodies: an array header, then each pair with its headers.
const BODIES_BYTES_MAX: usize =
    3 + TX_CHUNK_TXS as usize * (1 + 3 + TX_BYTES_MAX + 3 + RECEIPT_BYTES_MAX);

/// A committed transaction's body as stored: its raw bytes and its receipt's encoding.
type Body = (ByteBuf, ByteBuf);

/// The bodies of the blocks whose [`id_range`] is bound, in height and position
/// order.
pub(super) const SELECT_BODIES: &str =
    "SELECT bodies FROM tx_chunks WHERE id BETWEEN ? AND ? ORDER BY id";

/// The hashes of the blocks whose [`id_range`] is bound, in the same order.
pub(super) const SELECT_HASHES: &str =
    "SELECT hashes FROM tx_chunks WHERE id BETWEEN ? AND ? ORDER BY id";

/// The ids and hashes of the blocks whose [`id_range`] is bound, in the same order.
pub(super) const SELECT_IDS_AND_HASHES: &str =
    "SELECT id, hashes FROM tx_chunks WHERE id BETWEEN ? AND ? ORDER BY id";

/// Deletes the blocks whose [`id_range`] is bound.
pub(super) const DELETE_BLOCKS: &str = "DELETE FROM tx_chunks WHERE id BETWEEN ? AND ?";

/// The rows `(id, hashes, bodies)` that store a block's transactions, in position order.
pub(super) fn rows(
    height: u64,
    transactions: &[ByteBuf],
    receipts: &[Receipt],
) -> StoreResult<Vec<Vec<SqlStorageValue>>> {
    let chunk = TX_CHUNK_TXS as usize;
    transactions
        .chunks(chunk)
        .zip(receipts.chunks(chunk))
        .enumerate()
        .map(|(index, (raws, receipts))| {
            let hashes: Vec<u8> = receipts
                .iter()
                .flat_map(|receipt| receipt.tx_hash.0)
                .collect();
            let bodies: Vec<(&Bytes, ByteBuf)> = raws
                .iter()
                .zip(receipts)
                .map(|(raw, receipt)| (Bytes::new(raw), ByteBuf::from(codec::encode(receipt))))
                .collect();
            Ok(vec![
                integer(first_id(height)? + index as u64)?,
                hashes.into(),
                codec::encode(&bodies).into(),
            ])
        })
        .collect()
}

/// The first and last chunk ids of the blocks `from..=to`, to bind to `BETWEEN ? AND ?`.
pub(super) fn id_range(from: u64, to: u64) -> StoreResult<Vec<SqlStorageValue>> {
    let last = first_id(to)?
        .checked_add(TX_CHUNKS_PER_BLOCK - 1)
        .ok_or_else(|| internal(format!("height {to} past the chunk ids")))?;
    Ok(vec![integer(first_id(from)?)?, integer(last)?])
}

/// The hashes in a `hashes` column, in position order.
pub(super) fn hashes(row: &[SqlStorageValue], index: usize) -> StoreResult<Vec<Hash>> {
    let bytes = blob_column(row, index)?;
    if bytes.len() % 32 != 0 {
        return Err(internal(format!(
            "stored chunk hashes of {} bytes",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|hash| Hash::from(<[u8; 32]>::try_from(hash).expect("32 bytes")))
        .collect())
}

/// The `(raw, receipt)` pairs in a `bodies` column, in position order.
pub(super) fn bodies(
    row: &[SqlStorageValue],
    index: usize,
) -> StoreResult<Vec<(ByteBuf, Receipt)>> {
    decode_bodies(&blob_column(row, index)?)?
        .into_iter()
        .map(|(raw, receipt)| Ok((raw, decode_receipt(&receipt)?)))
        .collect()
}

/// The body at `position` of its block, from its chunk's `bodies` column.
pub(super) fn body_at(
    row: &[SqlStorageValue],
    index: usize,
    position: u64,
) -> StoreResult<(ByteBuf, Receipt)> {
    let mut bodies = decode_bodies(&blob_column(row, index)?)?;
    let offset = (position % TX_CHUNK_TXS) as usize;
    if offset >= bodies.len() {
        return Err(internal(format!(
            "stored chunk lacks the transaction at {position}"
        )));
    }
    let (raw, receipt) = bodies.swap_remove(offset);
    Ok((raw, decode_receipt(&receipt)?))
}

/// The query that reads a hot block's hash and the chunk holding one of its transactions
/// (for [`body_at`]): bind the chunk's id ([`chunk_id`]) and the block's height.
pub(super) const SELECT_BLOCK_HASH_AND_CHUNK: &str = "SELECT blocks.hash, tx_chunks.bodies \
     FROM blocks JOIN tx_chunks ON tx_chunks.id = ? WHERE blocks.height = ?";

/// The id of the chunk holding the transaction at `position` of the block at `height`.
pub(super) fn chunk_id(height: u64, position: u64) -> StoreResult<u64> {
    first_id(height)?
        .checked_add(position / TX_CHUNK_TXS)
        .ok_or_else(|| internal(format!("height {height} past the chunk ids")))
}

/// The hashes of the rows [`SELECT_IDS_AND_HASHES`] read, by block height, each block's in
/// position order.
pub(super) fn hashes_by_height(
    rows: Vec<Vec<SqlStorageValue>>,
) -> StoreResult<BTreeMap<u64, Vec<Hash>>> {
    let mut blocks: BTreeMap<u64, Vec<Hash>> = BTreeMap::new();
    for row in rows {
        let height = integer_column(&row, 0)? / TX_CHUNKS_PER_BLOCK;
        blocks.entry(height).or_default().extend(hashes(&row, 1)?);
    }
    Ok(blocks)
}

/// The statement that moves layout 4's `txs` rows (one per transaction) into chunks, in
/// SQL alone: the object opens its store in one invocation, and the hot blocks may hold
/// millions of rows. The bodies' MessagePack is spelt with fixed-width headers (array 16
/// `0xdc`, bin 16 `0xc5`), which decode as the shortest ones would; `||` gives text,
/// which the casts take back to the same bytes.
pub(super) fn migration_from_txs() -> String {
    format!(
        "INSERT INTO tx_chunks (id, hashes, bodies) \
         SELECT height * {TX_CHUNKS_PER_BLOCK} + position / {TX_CHUNK_TXS}, \
         CAST(group_concat(hash, '' ORDER BY position) AS BLOB), \
         CAST(x'dc' || unhex(printf('%04X', count(*))) \
         || group_concat(x'92c5' || unhex(printf('%04X', length(raw))) || raw \
         || x'c5' || unhex(printf('%04X', length(receipt))) || receipt, '' \
         ORDER BY position) AS BLOB) \
         FROM txs GROUP BY height, position / {TX_CHUNK_TXS}"
    )
}

/// The first chunk id of the block at `height`.
fn first_id(height: u64) -> StoreResult<u64> {
    height
        .checked_mul(TX_CHUNKS_PER_BLOCK)
        .ok_or_else(|| internal(format!("height {height} past the chunk ids")))
}

fn decode_bodies(bytes: &[u8]) -> StoreResult<Vec<Body>> {
    codec::decode(bytes, BODIES_BYTES_MAX)
        .map_err(|error| internal(format!("stored chunk bodies: {error}")))
}

fn decode_receipt(bytes: &[u8]) -> StoreResult<Receipt> {
    codec::decode(bytes, RECEIPT_BYTES_MAX)
        .map_err(|error| internal(format!("stored receipt: {error}")))
}
