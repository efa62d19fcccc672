//! A network started on storage that an earlier build wrote.

use ledger::primitives::Hash;
use ledger::transaction::WireTx;
use rusqlite::Connection;
use serde_bytes::ByteBuf;

use crate::archive::{commit_blocks, reads, run_archiver};
use crate::harness::{Network, NetworkOptions, Transfers};

/// The `Sequencer`'s class, as its storage folder is named.
const SEQUENCER: &str = "edgeledger-sequencer-Sequencer";

/// Blocks the local network keeps hot (its `ARCHIVE_HOT_BLOCKS`).
const LOCAL_HOT_BLOCKS: u64 = ops::devnet::LOCAL_ARCHIVE_HOT_BLOCKS;

/// A `Sequencer` whose storage has the first layout (rowid tables keyed by hash, archived
/// transactions apart, no layout version: what every build before versions wrote) is migrated
/// when it starts: every block and transaction, hot or archived, reads as before, the chain goes
/// on from it, and the next start finds the current layout.
#[test]
fn a_sequencer_store_of_the_first_layout_is_migrated_when_it_starts() {
    let mut network = Network::start_with(NetworkOptions::default());
    let mut transfers = Transfers::new(&network);
    let hashes = commit_blocks(&network, &mut transfers, LOCAL_HOT_BLOCKS as usize + 3);
    let archived = run_archiver(&network).archive.archived_through;
    assert!(archived > 0, "nothing was archived");
    let head = network.client.status().head_height;
    let before = reads(&network, head, &hashes);

    let mut current_layout = String::new();
    network.restart_editing_storage(SEQUENCER, |database| {
        current_layout = layout(database);
        downgrade_to_the_first_layout(database);
        assert!(layout(database).contains("archived_txs"));
    });

    assert_eq!(reads(&network, head, &hashes), before);
    commit_blocks(&network, &mut transfers, 1);
    transfers.assert_on_chain(&network, "after the migration");

    network.restart_editing_storage(SEQUENCER, |database| {
        assert_eq!(layout(database), current_layout);
    });
    transfers.assert_on_chain(&network, "after a second start");
}

/// The definitions of the `Sequencer`'s tables and indexes (not the runtime's own `_cf_`
/// tables) and the layout version, one per line; a renamed table's quoted name unquoted.
fn layout(database: &Connection) -> String {
    let mut query = database
        .prepare(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL \
             AND substr(name, 1, 4) != '_cf_' ORDER BY name",
        )
        .expect("the schema is readable");
    let mut lines: Vec<String> = query
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .expect("the schema is readable")
        .map(|row| row.expect("a schema row"))
        .map(|(name, sql)| sql.replace(&format!("\"{name}\""), &name))
        .collect();
    let version: Option<Vec<u8>> = database
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |row| row.get(0),
        )
        .ok();
    lines.push(format!("schema_version {version:?}"));
    lines.join("\n")
}

/// Moves the pending transactions from their rows (a row per admission since layout 4) to a
/// row each keyed by hash, as layouts 1 to 3 kept them.
fn downgrade_pending_rows(database: &Connection) {
    let rows: Vec<Vec<u8>> = database
        .prepare("SELECT txs FROM pending_rows")
        .and_then(|mut query| query.query_map([], |row| row.get(0))?.collect())
        .expect("the pending rows are readable");
    for bytes in rows {
        let pairs: Vec<(Hash, WireTx)> =
            ledger::codec::decode(&bytes, bytes.len()).expect("a pending row decodes");
        for (hash, tx) in pairs {
            database
                .execute(
                    "INSERT OR REPLACE INTO pending (hash, tx) VALUES (?1, ?2)",
                    (hash.as_ref(), ledger::codec::encode(&tx)),
                )
                .expect("an old pending row");
        }
    }
    database
        .execute("DROP TABLE pending_rows", [])
        .expect("the rows are dropped");
}

/// Moves the hot transactions' bodies out of their chunks (64 to a row since layout 5) into
/// a table `hot_bodies (hash, height, position, raw, receipt)`, a row each, the receipt as its
/// own encoding. Their locations come from the chunks' ids (chunk `c` of block `h` is row
/// `64 h + c`): since layout 6 the recent ones are not all in `tx_locations` yet.
fn unchunk_bodies(database: &Connection) {
    const CHUNK_TXS: i64 = 64;
    const CHUNKS_PER_BLOCK: i64 = ledger::limits::BLOCK_TXS_MAX as i64 / CHUNK_TXS;
    database
        .execute(
            "CREATE TABLE hot_bodies (hash BLOB PRIMARY KEY, height INTEGER NOT NULL, \
             position INTEGER NOT NULL, raw BLOB NOT NULL, receipt BLOB NOT NULL)",
            [],
        )
        .expect("a table for the bodies");
    let chunks: Vec<(i64, Vec<u8>, Vec<u8>)> = database
        .prepare("SELECT id, hashes, bodies FROM tx_chunks")
        .and_then(|mut query| {
            query
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect()
        })
        .expect("the chunks are readable");
    for (id, hashes, bodies) in chunks {
        let bodies: Vec<(ByteBuf, ByteBuf)> =
            ledger::codec::decode(&bodies, bodies.len()).expect("a chunk's bodies decode");
        assert_eq!(hashes.len(), 32 * bodies.len(), "a hash for every body");
        let (height, first) = (id / CHUNKS_PER_BLOCK, id % CHUNKS_PER_BLOCK * CHUNK_TXS);
        for ((hash, (raw, receipt)), position) in hashes.chunks_exact(32).zip(bodies).zip(first..) {
            database
                .execute(
                    "INSERT INTO hot_bodies (hash, height, position, raw, receipt) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    (hash, height, position, raw.as_ref(), receipt.as_ref()),
                )
                .expect("a body");
        }
    }
    database
        .execute("DROP TABLE tx_chunks", [])
        .expect("the chunks are dropped");
}

/// Rewrites the `Sequencer`'s storage in the first layout, every row kept: transactions keyed
/// by hash with an index by block, the archived ones' locators in `archived_txs` (those whose
/// bodies are no longer hot), pending transactions and rejections keyed by hash, no version.
fn downgrade_to_the_first_layout(database: &Connection) {
    unchunk_bodies(database);
    database
        .execute_batch(
            "CREATE TABLE txs (hash BLOB PRIMARY KEY, height INTEGER NOT NULL, \
                 position INTEGER NOT NULL, raw BLOB NOT NULL, receipt BLOB NOT NULL);
             INSERT INTO txs SELECT hash, height, position, raw, receipt FROM hot_bodies;
             CREATE TABLE archived_txs (hash BLOB PRIMARY KEY, height INTEGER NOT NULL, \
                 position INTEGER NOT NULL);
             INSERT INTO archived_txs SELECT hash, height, position FROM tx_locations \
                 WHERE hash NOT IN (SELECT hash FROM hot_bodies);
             DROP TABLE hot_bodies;
             DROP TABLE tx_locations;
             CREATE INDEX txs_by_block ON txs (height, position);
             CREATE TABLE pending (hash BLOB PRIMARY KEY, tx BLOB NOT NULL);
             CREATE TABLE old_rejected (hash BLOB PRIMARY KEY, code TEXT NOT NULL, \
                 message TEXT NOT NULL);
             INSERT INTO old_rejected SELECT hash, code, message FROM rejected;
             DROP TABLE rejected;
             ALTER TABLE old_rejected RENAME TO rejected;
             DELETE FROM meta WHERE key = 'schema_version';",
        )
        .expect("the storage is rewritten in the first layout");
    downgrade_pending_rows(database);
    let archived: i64 = database
        .query_row("SELECT count(*) FROM archived_txs", [], |row| row.get(0))
        .expect("counted");
    assert!(archived > 0, "no archived transaction to migrate");
}
