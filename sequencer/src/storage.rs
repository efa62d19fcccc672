//! The `Sequencer` object's SQLite storage: [`ledger::sequencer::Persisted`] (what recovery
//! needs) plus the chain's history (blocks, the transaction index, rejections) that the API
//! reads.
//!
//! Every method is synchronous, and a Durable Object commits the writes made between two
//! awaits atomically, so each effect's writes land together or not at all, and the answer to
//! the request that caused them leaves only once they are durable (the output gate).
//!
//! A SQLite row holds at most 2 MB, so large values (a proposal with its witness, a write set)
//! are stored as numbered parts of a named blob.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use ledger::api::{ApiError, BlockAnswer, Reason, TxStatusAnswer};
use ledger::archive::{self, ArchiveStatus, ArchiverLease};
use ledger::block::{CertifiedBlock, Header, Receipt};
use ledger::codec;
use ledger::consensus::QuorumCertificate;
use ledger::execution::{Exclusion, WriteSet};
use ledger::limits::{
    CERTIFIED_BLOCK_BYTES_MAX, HEADER_BYTES_MAX, PROPOSAL_BYTES_MAX, REJECTIONS_KEPT,
    WIRE_TX_BYTES_MAX,
};
use ledger::primitives::Hash;
use ledger::proposal::Proposal;
use ledger::sequencer::{
    Effect, Head, LOCATION_POSITION_BITS, Location, PENDING_ROW_TXS_MAX, PendingRows, Persisted,
    RowChanges, RowId, StagedLocations, recent_heights,
};
use ledger::state::ShardIndex;
use ledger::transaction::WireTx;
use ledger::wire::{BlockLookup, FullBlockLookup, Lookup, RawTxLookup, RestoreRequest, TxLookup};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_bytes::ByteBuf;
use worker::{SqlStorage, SqlStorageValue};

use worker_shell::internal;
use worker_shell::sql::{self, Statement};

mod tx_chunks;

/// Result of a storage operation: failures are the runtime's, reported as 500.
pub(crate) type StoreResult<T> = Result<T, ApiError>;

/// Largest part of a named blob, under SQLite's 2 MB row limit.
const BLOB_PART_BYTES_MAX: usize = 1024 * 1024;

/// Bytes of a stored receipt (a small fixed-shape record).
const RECEIPT_BYTES_MAX: usize = 1024;

/// Bytes of a stored certificate: one signature per validator.
const CERTIFICATE_BYTES_MAX: usize = 16 * 1024;

/// Version of the layout below. A store written by an earlier build is brought up to it by
/// [`migration_statements`] when the object opens it.
const SCHEMA_VERSION: u64 = 6;

/// A table of the layout: its name and what follows `CREATE TABLE name`.
struct Table {
    name: &'static str,
    definition: &'static str,
    /// For a table whose definition changed since the first layout, the columns a store of
    /// an earlier layout copies into one of the current definition.
    rebuilt_keeping: Option<&'static str>,
}

/// The tables, laid out for SQLite's page cache. Under load the `Sequencer`'s per-transaction
/// rows (the bodies and `tx_locations` in, and before layout 4 `pending` in and out) are most
/// of the core's work, and most of that was pages missing from the cache: rows of a few
/// hundred bytes inserted at random places (keyed by hash) into tables of many megabytes. So
/// the wide rows go where their keys grow: the bodies by height and position (a block's rows
/// are appended together, and pruned as one range; since layout 5 many to a row, see
/// [`tx_chunks`]). Only narrow rows are keyed by hash: `tx_locations` (about 45 bytes a row),
/// which locates every committed transaction, hot or archived, and since layout 6 is written
/// in sorted runs, a hash range at a time ([`StagedLocations`]). Pending transactions are
/// stored an admission at a time (`pending_rows`, kept by [`PendingRows`]): one row each for
/// up to [`ledger::sequencer::PENDING_ROW_TXS_MAX`].
const TABLES: &[Table] = &[
    Table {
        name: "meta",
        definition: "(key TEXT PRIMARY KEY, value BLOB NOT NULL)",
        rebuilt_keeping: None,
    },
    Table {
        name: "blobs",
        definition: "(name TEXT NOT NULL, part INTEGER NOT NULL, bytes BLOB NOT NULL, \
                     PRIMARY KEY (name, part))",
        rebuilt_keeping: None,
    },
    // Each row holds an admission's `(hash, WireTx)` pairs, MessagePack; `row` is the rowid,
    // given by `PendingRows` in admission order.
    Table {
        name: "pending_rows",
        definition: "(row INTEGER PRIMARY KEY, txs BLOB NOT NULL)",
        rebuilt_keeping: None,
    },
    Table {
        name: "blocks",
        definition: "(height INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, \
                     header BLOB NOT NULL, certificate BLOB NOT NULL, shard_roots BLOB NOT NULL)",
        rebuilt_keeping: None,
    },
    // The bodies of hot blocks' transactions (those of archived blocks are in KV), many to a
    // row ([`tx_chunks`]). Rows of kilobytes, so not `WITHOUT ROWID` (which suits narrow rows).
    Table {
        name: "tx_chunks",
        definition: "(id INTEGER PRIMARY KEY, hashes BLOB NOT NULL, bodies BLOB NOT NULL)",
        rebuilt_keeping: None,
    },
    // Where every committed transaction is: archived with its block (`archive::is_archived`
    // against `archived_through`) or hot. The last 32 blocks' are written when their hash
    // range comes due, and wait in `Store::staged` until then.
    Table {
        name: "tx_locations",
        definition: "(hash BLOB PRIMARY KEY, height INTEGER NOT NULL, position INTEGER NOT NULL) \
                     WITHOUT ROWID",
        rebuilt_keeping: None,
    },
    // Why dropped transactions were dropped, in the order they were (`id`), the latest
    // [`REJECTIONS_KEPT`] and those still written in the pending row `pending_row` (NULL for
    // rejections from before layout 6, which are all kept).
    Table {
        name: "rejected",
        definition: "(id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, code TEXT NOT NULL, \
                     message TEXT NOT NULL, pending_row INTEGER)",
        rebuilt_keeping: Some("hash, code, message"),
    },
    // Locators of archived blocks: their bodies are in KV.
    Table {
        name: "archived_blocks",
        definition: "(height INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE)",
        rebuilt_keeping: None,
    },
];

/// Statements that create whatever of the layout is missing (all of it in a new store).
fn schema_statements() -> Vec<String> {
    TABLES
        .iter()
        .map(|table| {
            format!(
                "CREATE TABLE IF NOT EXISTS {} {}",
                table.name, table.definition
            )
        })
        .collect()
}

/// Statements that bring a store of layout `version` (after [`schema_statements`]) to
/// [`SCHEMA_VERSION`], keeping every row. Layouts 1 and 2 held the same columns (2 made the
/// hash-keyed tables `WITHOUT ROWID`), so one path serves both: the locations of committed
/// transactions come from the old `txs` and `archived_txs`, the bodies in `txs` (a row per
/// transaction up to layout 4) go into chunks, then each changed table is copied into a new
/// one of the current definition, which takes the old one's name (the old `txs_by_block`
/// index goes with the old `txs`). A new store runs it too, on empty tables.
fn migration_statements(version: u64) -> Vec<String> {
    if version >= SCHEMA_VERSION {
        return Vec::new();
    }
    let mut statements = vec![
        "CREATE TABLE IF NOT EXISTS archived_txs (hash BLOB PRIMARY KEY, \
         height INTEGER NOT NULL, position INTEGER NOT NULL)"
            .to_owned(),
        "CREATE TABLE IF NOT EXISTS txs (height INTEGER NOT NULL, position INTEGER NOT NULL, \
         hash BLOB NOT NULL, raw BLOB NOT NULL, receipt BLOB NOT NULL, \
         PRIMARY KEY (height, position)) WITHOUT ROWID"
            .to_owned(),
        "INSERT OR REPLACE INTO tx_locations (hash, height, position) \
         SELECT hash, height, position FROM archived_txs"
            .to_owned(),
        "INSERT OR REPLACE INTO tx_locations (hash, height, position) \
         SELECT hash, height, position FROM txs"
            .to_owned(),
        "DROP TABLE archived_txs".to_owned(),
        tx_chunks::migration_from_txs(),
        "DROP TABLE txs".to_owned(),
        // Layouts 1 to 3 kept a `pending` row per transaction, `(hash, tx)` with `tx` a
        // WireTx's MessagePack. Each becomes a row of one `(hash, tx)` pair: 0x91 is an
        // array of one, 0x92 an array of two, 0xc4 0x20 the bin header of a 32-byte hash
        // (`||` gives text, which the cast takes back to the same bytes).
        "CREATE TABLE IF NOT EXISTS pending (hash BLOB PRIMARY KEY, tx BLOB NOT NULL)".to_owned(),
        "INSERT INTO pending_rows (txs) SELECT CAST(x'9192c420' || hash || tx AS BLOB) \
         FROM pending ORDER BY rowid"
            .to_owned(),
        "DROP TABLE pending".to_owned(),
    ];
    for table in TABLES {
        let Some(columns) = table.rebuilt_keeping else {
            continue;
        };
        let (name, rebuilt) = (table.name, format!("{}_rebuilt", table.name));
        statements.push(format!("CREATE TABLE {rebuilt} {}", table.definition));
        statements.push(format!(
            "INSERT INTO {rebuilt} ({columns}) SELECT {columns} FROM {name}"
        ));
        statements.push(format!("DROP TABLE {name}"));
        statements.push(format!("ALTER TABLE {rebuilt} RENAME TO {name}"));
    }
    statements
}

/// Tables a restore empties: the history of the chain being replaced. Pending transactions
/// stay (stored again without those the replaced chain committed): acknowledged transactions
/// are re-evaluated against the restored state, never lost.
const RESTORE_CLEARED_HISTORY: &[&str] = &[
    "blocks",
    "tx_chunks",
    "tx_locations",
    "rejected",
    "archived_blocks",
];

const SCHEMA_VERSION_KEY: &str = "schema_version";
const HEAD_KEY: &str = "head";
const SHARD_ROOTS_KEY: &str = "shard_roots";
const PAUSED_KEY: &str = "paused";
const ARCHIVED_THROUGH_KEY: &str = "archived_through";
const ARCHIVER_LEASE_KEY: &str = "archiver_lease";
/// Where a store of an older version kept its one proposal.
const LEGACY_PROPOSAL_BLOB: &str = "proposal";
const PROPOSAL_BLOB_PREFIX: &str = "proposal/";
const WRITE_SET_BLOB_PREFIX: &str = "write_set/";

/// The certified state at one height: what an account proof is checked against.
pub(crate) struct CertifiedState {
    /// The block's header.
    pub(crate) header: Header,
    /// Its certificate.
    pub(crate) certificate: QuorumCertificate,
    /// Every shard's root after it.
    pub(crate) shard_roots: Vec<Hash>,
}

/// A transaction of a hot block, as [`Store::committed_at`] reads it.
struct CommittedTransaction {
    height: u64,
    block_hash: Hash,
    raw: ByteBuf,
    receipt: Receipt,
}

/// A pending row's `(hash, tx)` pairs, as stored.
type PendingPairs = Vec<(Hash, WireTx)>;

/// Bytes of a stored pending row: its pairs, each a hash and a transaction with their headers.
const PENDING_ROW_BYTES_MAX: usize = 5 + PENDING_ROW_TXS_MAX * (1 + 34 + WIRE_TX_BYTES_MAX);

/// The object's storage.
pub(crate) struct Store {
    sql: SqlStorage,
    /// Which pending rows hold which pending transactions, since [`Self::load`].
    pending_rows: RefCell<PendingRows>,
    /// The locations of recently committed transactions not yet in `tx_locations`, since
    /// [`Self::load`] (see [`StagedLocations`]).
    staged: RefCell<StagedLocations>,
}

impl Store {
    /// Opens the storage, creating the tables on first use and migrating a store written
    /// with an older layout (all in the caller's storage transaction: no await in between).
    pub(crate) fn open(sql: SqlStorage) -> StoreResult<Self> {
        let store = Self {
            sql,
            pending_rows: RefCell::new(PendingRows::new()),
            staged: RefCell::new(StagedLocations::new()),
        };
        for statement in schema_statements() {
            store.execute(&statement, Vec::new())?;
        }
        // A store without a version predates versions: it has layout 1.
        let version = store.meta::<u64>(SCHEMA_VERSION_KEY, 16)?.unwrap_or(1);
        if version < SCHEMA_VERSION {
            for statement in migration_statements(version) {
                store.execute(&statement, Vec::new())?;
            }
            store.put_meta(SCHEMA_VERSION_KEY, &SCHEMA_VERSION)?;
        }
        Ok(store)
    }

    /// The durable state, or `None` before genesis was written.
    pub(crate) fn load(&self) -> StoreResult<Option<Persisted>> {
        let Some(head) = self.meta::<Head>(HEAD_KEY, HEADER_BYTES_MAX + CERTIFICATE_BYTES_MAX)?
        else {
            return Ok(None);
        };
        let shard_roots = self
            .meta::<Vec<Hash>>(SHARD_ROOTS_KEY, 64 * 1024)?
            .ok_or_else(|| internal("stored head without shard roots"))?;
        self.load_staged(head.header.height)?;
        let pending = self.load_pending()?;
        // The legacy name is the others' prefix: this reads every stored proposal.
        let mut proposals = Vec::new();
        for name in self.blob_names(LEGACY_PROPOSAL_BLOB)? {
            proposals.extend(self.blob::<Proposal>(&name, PROPOSAL_BYTES_MAX)?);
        }
        let (proposal, certified_proposal) = Persisted::sort_stored_proposals(proposals);
        let mut unconfirmed: BTreeMap<u64, BTreeMap<ShardIndex, WriteSet>> = BTreeMap::new();
        for name in self.blob_names(WRITE_SET_BLOB_PREFIX)? {
            let write_set = self
                .blob::<WriteSet>(&name, PROPOSAL_BYTES_MAX)?
                .ok_or_else(|| internal(format!("write set {name} vanished")))?;
            unconfirmed
                .entry(write_set.height)
                .or_default()
                .insert(write_set.shard, write_set);
        }
        let paused = self.meta::<bool>(PAUSED_KEY, 16)?.unwrap_or(false);
        Ok(Some(Persisted {
            head,
            shard_roots,
            pending,
            proposal,
            certified_proposal,
            unconfirmed,
            paused,
        }))
    }

    /// Reads back the locations staged when `head` was committed: those of the recent blocks'
    /// transactions that their commits did not write to `tx_locations`.
    fn load_staged(&self, head: u64) -> StoreResult<()> {
        let heights = recent_heights(head, self.archived_through()?);
        let blocks = if heights.is_empty() {
            BTreeMap::new()
        } else {
            let range = tx_chunks::id_range(*heights.start(), *heights.end())?;
            tx_chunks::hashes_by_height(self.rows(tx_chunks::SELECT_IDS_AND_HASHES, range)?)?
        };
        *self.staged.borrow_mut() = StagedLocations::restored(head, blocks);
        Ok(())
    }

    /// The pending transactions: every stored row's, but those committed (staged or in
    /// `tx_locations`) or dropped (in `rejected`) since. Rebuilds the index of the rows and
    /// tidies them.
    fn load_pending(&self) -> StoreResult<BTreeMap<Hash, WireTx>> {
        let mut rows = Vec::new();
        for row in self.rows("SELECT row, txs FROM pending_rows ORDER BY row", Vec::new())? {
            let pairs: PendingPairs = decode_column(&row, 1, PENDING_ROW_BYTES_MAX)?;
            rows.push((integer_column(&row, 0)?, pairs));
        }
        let stored: Vec<Hash> = rows
            .iter()
            .flat_map(|(_, pairs)| pairs.iter().map(|(hash, _)| *hash))
            .collect();
        let mut gone: BTreeSet<Hash> = self.committed_heights(&stored)?.into_keys().collect();
        let values = stored.iter().map(hash_value).collect();
        for statement in sql::select_where_in("hash", "rejected", "hash", values) {
            for row in self.rows(&statement.query, statement.bindings)? {
                gone.insert(hash_column(&row, 0)?);
            }
        }
        let mut pending = BTreeMap::new();
        let mut read = Vec::with_capacity(rows.len());
        for (row, pairs) in rows {
            let count = pairs.len();
            let still: Vec<(Hash, WireTx)> = pairs
                .into_iter()
                .filter(|(hash, _)| !gone.contains(hash))
                .collect();
            read.push((row, count, still.iter().map(|(hash, _)| *hash).collect()));
            pending.extend(still);
        }
        let (index, changes) = PendingRows::restored(read);
        *self.pending_rows.borrow_mut() = index;
        self.tidy_pending(changes)?;
        Ok(pending)
    }

    /// Stores newly pending transactions, a row per [`PENDING_ROW_TXS_MAX`].
    fn store_pending(&self, pairs: &[(Hash, WireTx)]) -> StoreResult<()> {
        for chunk in pairs.chunks(PENDING_ROW_TXS_MAX) {
            let hashes: Vec<Hash> = chunk.iter().map(|(hash, _)| *hash).collect();
            let (row, changes) = self.pending_rows.borrow_mut().store(&hashes);
            self.insert_pending_row(row, chunk)?;
            self.tidy_pending(changes)?;
        }
        Ok(())
    }

    /// `hashes` are no longer pending: their rows are deleted or rewritten as needed.
    fn leave_pending<'a>(&self, hashes: impl IntoIterator<Item = &'a Hash>) -> StoreResult<()> {
        let changes = self.pending_rows.borrow_mut().left(hashes);
        self.tidy_pending(changes)
    }

    fn tidy_pending(&self, changes: RowChanges) -> StoreResult<()> {
        if changes.is_empty() {
            return Ok(());
        }
        self.pending_rows.borrow_mut().apply(
            changes,
            |row| {
                let rows = self.rows(
                    "SELECT txs FROM pending_rows WHERE row = ?",
                    vec![integer(row)?],
                )?;
                let row = rows
                    .first()
                    .ok_or_else(|| internal(format!("pending row {row} vanished")))?;
                decode_column::<PendingPairs>(row, 0, PENDING_ROW_BYTES_MAX)
            },
            |row, pairs| self.insert_pending_row(row, pairs),
            |row| {
                self.execute(
                    "DELETE FROM pending_rows WHERE row = ?",
                    vec![integer(row)?],
                )
            },
        )
    }

    fn insert_pending_row(&self, row: RowId, pairs: &[(Hash, WireTx)]) -> StoreResult<()> {
        self.execute(
            "INSERT INTO pending_rows (row, txs) VALUES (?, ?)",
            vec![integer(row)?, codec::encode(pairs).into()],
        )
    }

    /// Writes the genesis state: block 0 as the head and the first entry of the history.
    pub(crate) fn initialise(&self, persisted: &Persisted) -> StoreResult<()> {
        self.put_meta(HEAD_KEY, &persisted.head)?;
        self.put_meta(SHARD_ROOTS_KEY, &persisted.shard_roots)?;
        self.insert_block_row(
            &persisted.head.header,
            &persisted.head.certificate,
            &persisted.shard_roots,
        )
    }

    /// Performs the storage meaning of one effect, as [`Persisted::record`] defines it, plus
    /// the history the API serves. For a proposal, returns the bytes stored: its encoding,
    /// made once and exactly sized, which the shell sends to the validators as well.
    pub(crate) fn record(&self, effect: &Effect) -> StoreResult<Option<Vec<u8>>> {
        match effect {
            Effect::PersistPending(txs) => {
                self.store_pending(txs)?;
                // A transaction refused before and accepted now is no longer refused.
                let hashes = txs.iter().map(|(hash, _)| hash_value(hash)).collect();
                self.run(sql::delete_where_in("rejected", "hash", hashes))?;
            }
            Effect::DropPending(dropped) => self.reject(dropped)?,
            Effect::Propose(proposal) => {
                let encoded = codec::encode_exact(&**proposal);
                self.put_blob_bytes(&proposal_blob_name(proposal.header.height), &encoded)?;
                return Ok(Some(encoded));
            }
            Effect::Commit {
                block,
                shard_roots,
                write_sets,
                confirmed,
            } => self.commit(block, shard_roots, write_sets, confirmed)?,
            Effect::SetPaused(paused) => self.put_meta(PAUSED_KEY, paused)?,
            Effect::SetAlarm(_)
            | Effect::RequestWitness { .. }
            | Effect::SendWriteSet(_)
            | Effect::ApplyThenWitness { .. } => {}
        }
        Ok(None)
    }

    /// Moves dropped transactions from pending to `rejected`, with why, and forgets the
    /// rejections past [`REJECTIONS_KEPT`] that a restart no longer needs.
    fn reject(&self, dropped: &[(Hash, Exclusion)]) -> StoreResult<()> {
        let rows = {
            let pending_rows = self.pending_rows.borrow();
            dropped
                .iter()
                .map(|(hash, exclusion)| {
                    let pending_row = match pending_rows.row_of(hash) {
                        Some(row) => integer(row)?,
                        None => SqlStorageValue::Null,
                    };
                    Ok(vec![
                        hash_value(hash),
                        exclusion.code().into(),
                        exclusion.to_string().into(),
                        pending_row,
                    ])
                })
                .collect::<StoreResult<Vec<_>>>()?
        };
        self.leave_pending(dropped.iter().map(|(hash, _)| hash))?;
        self.run(sql::insert_all(
            "rejected",
            &["hash", "code", "message", "pending_row"],
            rows,
        ))?;
        self.run(vec![forget_rejections(REJECTIONS_KEPT)?])
    }

    /// The commit point: the certified block and its index, the new head and roots, the
    /// write sets still to confirm; its transactions leave pending, the write sets confirmed
    /// since the last commit are deleted and the proposal is done.
    fn commit(
        &self,
        block: &CertifiedBlock,
        shard_roots: &[Hash],
        write_sets: &[WriteSet],
        confirmed: &[(u64, ShardIndex)],
    ) -> StoreResult<()> {
        self.insert_block_row(&block.header, &block.certificate, shard_roots)?;
        let hashes: Vec<Hash> = block
            .receipts
            .iter()
            .map(|receipt| receipt.tx_hash)
            .collect();
        let written = self
            .staged
            .borrow_mut()
            .commit(block.header.height, &hashes);
        self.run(block_rows(
            block.header.height,
            &block.transactions,
            &block.receipts,
            &written,
        )?)?;
        self.leave_pending(block.receipts.iter().map(|receipt| &receipt.tx_hash))?;
        self.put_meta(
            HEAD_KEY,
            &Head {
                header: block.header,
                certificate: block.certificate.clone(),
            },
        )?;
        self.put_meta(SHARD_ROOTS_KEY, &shard_roots)?;
        for write_set in write_sets {
            self.put_blob(
                &write_set_blob_name(write_set.height, write_set.shard),
                write_set,
            )?;
        }
        let confirmed = confirmed
            .iter()
            .map(|(height, shard)| write_set_blob_name(*height, *shard).into())
            .collect();
        self.run(sql::delete_where_in("blobs", "name", confirmed))?;
        let done = [
            proposal_blob_name(block.header.height),
            LEGACY_PROPOSAL_BLOB.to_owned(),
        ];
        self.run(sql::delete_where_in(
            "blobs",
            "name",
            done.into_iter().map(Into::into).collect(),
        ))
    }

    fn insert_block_row(
        &self,
        header: &Header,
        certificate: &QuorumCertificate,
        shard_roots: &[Hash],
    ) -> StoreResult<()> {
        self.execute(
            "INSERT OR REPLACE INTO blocks (height, hash, header, certificate, shard_roots) \
             VALUES (?, ?, ?, ?, ?)",
            vec![
                integer(header.height)?,
                hash_value(&header.hash()),
                header.encode().into(),
                codec::encode(certificate).into(),
                codec::encode(shard_roots).into(),
            ],
        )?;
        Ok(())
    }

    /// Which of `hashes` are transactions of hot committed blocks: the staged ones from
    /// memory, the rest with a statement per [`LOCATIONS_PER_STATEMENT`] ([`located_among`]),
    /// not one per transaction (each `exec` and each bound value costs far more than its
    /// lookup). Those of archived blocks are left to the nonce check, as before there was one
    /// index for both.
    pub(crate) fn committed_among(&self, hashes: &[Hash]) -> StoreResult<BTreeSet<Hash>> {
        let archived_through = self.archived_through()?;
        Ok(self
            .committed_heights(hashes)?
            .into_iter()
            .filter(|(_, height)| !archive::is_archived(*height, archived_through))
            .map(|(hash, _)| hash)
            .collect())
    }

    /// The heights of the committed transactions among `hashes`, hot or archived: the staged
    /// ones from memory, the rest from `tx_locations` ([`located_among`]).
    fn committed_heights(&self, hashes: &[Hash]) -> StoreResult<BTreeMap<Hash, u64>> {
        let mut heights = BTreeMap::new();
        let mut unstaged = Vec::new();
        {
            let staged = self.staged.borrow();
            for hash in hashes {
                match staged.get(hash) {
                    Some(location) => {
                        heights.insert(*hash, location.height);
                    }
                    None => unstaged.push(*hash),
                }
            }
        }
        for statement in located_among(&unstaged) {
            for row in self.rows(&statement.query, statement.bindings)? {
                heights.insert(hash_column(&row, 0)?, integer_column(&row, 1)?);
            }
        }
        Ok(heights)
    }

    /// Where a transaction stands, or where its archived block is; `pending` says whether the
    /// mempool holds it.
    pub(crate) fn transaction_lookup(&self, hash: &Hash, pending: bool) -> StoreResult<TxLookup> {
        let location = self.location(hash)?;
        if let Some(Location { height, position }) = self.archived(location)? {
            return Ok(TxLookup::Archived { height, position });
        }
        Ok(TxLookup::Found(Box::new(
            self.transaction_status(hash, location, pending)?.into(),
        )))
    }

    /// Where a transaction stands in hot storage, given where it is committed if it is:
    /// committed, pending (as the caller's mempool says), rejected or unknown.
    fn transaction_status(
        &self,
        hash: &Hash,
        location: Option<Location>,
        pending: bool,
    ) -> StoreResult<TxStatusAnswer> {
        if let Some(committed) = self.committed_at(location)? {
            return Ok(TxStatusAnswer::committed(
                committed.height,
                committed.block_hash,
                committed.receipt,
            ));
        }
        if pending {
            return Ok(TxStatusAnswer::pending(*hash));
        }
        let rejected = self.rows(
            "SELECT code, message FROM rejected WHERE hash = ?",
            vec![hash_value(hash)],
        )?;
        if let Some(row) = rejected.first() {
            let reason = Reason {
                code: text_column(row, 0)?,
                message: text_column(row, 1)?,
            };
            return Ok(TxStatusAnswer::rejected(*hash, reason));
        }
        Ok(TxStatusAnswer::unknown(*hash))
    }

    /// The block at `height` (`None`: the head's), or where in KV it is archived.
    pub(crate) fn block_lookup(
        &self,
        height: Option<u64>,
        hash: Option<&Hash>,
    ) -> StoreResult<Option<BlockLookup>> {
        self.locate(height, hash, |height| self.block(height))
    }

    /// [`Self::block_lookup`] with the block's transactions and receipts (read once: not the
    /// hash list as well).
    pub(crate) fn full_block_lookup(
        &self,
        height: Option<u64>,
        hash: Option<&Hash>,
    ) -> StoreResult<Option<FullBlockLookup>> {
        self.locate(height, hash, |height| self.certified_block(height))
    }

    /// The block a lookup names: read by `read` if it is hot, or where in KV it is archived.
    fn locate<T>(
        &self,
        height: Option<u64>,
        hash: Option<&Hash>,
        read: impl FnOnce(u64) -> StoreResult<Option<T>>,
    ) -> StoreResult<Option<Lookup<T>>> {
        let height = match (height, hash) {
            (Some(height), _) => height,
            (None, Some(hash)) => match self.height_of(hash)? {
                Some(height) => height,
                None => {
                    return Ok(self
                        .archived_height_of(hash)?
                        .map(|height| Lookup::Archived {
                            height,
                            hash: Some(*hash),
                        }));
                }
            },
            (None, None) => return Ok(None),
        };
        if let Some(block) = read(height)? {
            return Ok(Some(Lookup::Found(Box::new(block))));
        }
        Ok(archive::is_archived(height, self.archived_through()?)
            .then_some(Lookup::Archived { height, hash: None }))
    }

    /// A transaction's raw bytes and where it is (for JSON-RPC's transaction objects);
    /// `pending` is the mempool's copy, if it holds it.
    pub(crate) fn raw_transaction(
        &self,
        hash: &Hash,
        pending: Option<WireTx>,
    ) -> StoreResult<RawTxLookup> {
        let location = self.location(hash)?;
        if let Some(committed) = self.committed_at(location)? {
            return Ok(RawTxLookup::Committed {
                height: committed.height,
                block_hash: committed.block_hash,
                raw: committed.raw,
                receipt: committed.receipt,
            });
        }
        if let Some(tx) = pending {
            return Ok(RawTxLookup::Pending(tx));
        }
        Ok(match self.archived(location)? {
            Some(Location { height, position }) => RawTxLookup::Archived { height, position },
            None => RawTxLookup::Absent,
        })
    }

    /// The location, if it is of an archived block.
    fn archived(&self, location: Option<Location>) -> StoreResult<Option<Location>> {
        let Some(location) = location else {
            return Ok(None);
        };
        Ok(archive::is_archived(location.height, self.archived_through()?).then_some(location))
    }

    /// The transaction at `location` (from [`Self::location`]) if its block is hot: where it
    /// is, its body and its receipt.
    fn committed_at(
        &self,
        location: Option<Location>,
    ) -> StoreResult<Option<CommittedTransaction>> {
        let Some(Location { height, position }) = location else {
            return Ok(None);
        };
        let position = u64::from(position);
        let rows = self.rows(
            tx_chunks::SELECT_BLOCK_HASH_AND_CHUNK,
            vec![
                integer(tx_chunks::chunk_id(height, position)?)?,
                integer(height)?,
            ],
        )?;
        let Some(row) = rows.first() else {
            return Ok(None); // archived
        };
        let (raw, receipt) = tx_chunks::body_at(row, 1, position)?;
        Ok(Some(CommittedTransaction {
            height,
            block_hash: hash_column(row, 0)?,
            raw,
            receipt,
        }))
    }

    /// Where a committed transaction is, hot or archived: staged, or in `tx_locations`.
    fn location(&self, hash: &Hash) -> StoreResult<Option<Location>> {
        if let Some(location) = self.staged.borrow().get(hash) {
            return Ok(Some(location));
        }
        self.rows(
            "SELECT height, position FROM tx_locations WHERE hash = ?",
            vec![hash_value(hash)],
        )?
        .first()
        .map(|row| {
            Ok(Location {
                height: integer_column(row, 0)?,
                position: u32::try_from(integer_column(row, 1)?)
                    .map_err(|_| internal("a stored position beyond u32"))?,
            })
        })
        .transpose()
    }

    fn archived_height_of(&self, hash: &Hash) -> StoreResult<Option<u64>> {
        self.rows(
            "SELECT height FROM archived_blocks WHERE hash = ?",
            vec![hash_value(hash)],
        )?
        .first()
        .map(|row| integer_column(row, 0))
        .transpose()
    }

    /// Every block from 1 through this height is archived in KV and pruned here (0: none).
    pub(crate) fn archived_through(&self) -> StoreResult<u64> {
        Ok(self.meta::<u64>(ARCHIVED_THROUGH_KEY, 16)?.unwrap_or(0))
    }

    /// The archiver's lease, if one was ever taken.
    pub(crate) fn archiver_lease(&self) -> StoreResult<Option<ArchiverLease>> {
        self.meta(ARCHIVER_LEASE_KEY, 64)
    }

    /// Records the archiver's lease (`None`: released).
    pub(crate) fn put_archiver_lease(&self, lease: Option<ArchiverLease>) -> StoreResult<()> {
        match lease {
            Some(lease) => self.put_meta(ARCHIVER_LEASE_KEY, &lease),
            None => self.execute(
                "DELETE FROM meta WHERE key = ?",
                vec![ARCHIVER_LEASE_KEY.into()],
            ),
        }
    }

    /// Cold storage's progress against the head.
    pub(crate) fn archive_status(&self, head_height: u64) -> StoreResult<ArchiveStatus> {
        Ok(ArchiveStatus {
            head_height,
            archived_through: self.archived_through()?,
        })
    }

    /// The committed block at `height` with its transactions and receipts, as archived.
    pub(crate) fn certified_block(&self, height: u64) -> StoreResult<Option<CertifiedBlock>> {
        let Some(state) = self.certified_state(height)? else {
            return Ok(None);
        };
        let mut transactions = Vec::new();
        let mut receipts = Vec::new();
        for row in self.rows(
            tx_chunks::SELECT_BODIES,
            tx_chunks::id_range(height, height)?,
        )? {
            for (raw, receipt) in tx_chunks::bodies(&row, 0)? {
                transactions.push(raw);
                receipts.push(receipt);
            }
        }
        Ok(Some(CertifiedBlock {
            header: state.header,
            certificate: state.certificate,
            transactions,
            receipts,
        }))
    }

    /// Prunes blocks `from..=to`, whose copies in KV the caller checked: their bodies leave,
    /// their locators stay (the transactions' in `tx_locations`, where those still staged are
    /// written now; the new `archived_through` marks them as archived). Idempotent, and all in
    /// one storage transaction with the caller's other writes (no await in between).
    pub(crate) fn prune(&self, from: u64, to: u64) -> StoreResult<()> {
        let range = || Ok::<_, ApiError>(vec![integer(from)?, integer(to)?]);
        let written = self.staged.borrow_mut().take_through(to);
        self.run(location_rows(&written))?;
        self.execute(tx_chunks::DELETE_BLOCKS, tx_chunks::id_range(from, to)?)?;
        self.execute(
            "INSERT OR REPLACE INTO archived_blocks (height, hash) \
             SELECT height, hash FROM blocks WHERE height BETWEEN ? AND ?",
            range()?,
        )?;
        self.execute("DELETE FROM blocks WHERE height BETWEEN ? AND ?", range()?)?;
        self.put_meta(ARCHIVED_THROUGH_KEY, &to)
    }

    /// Replaces the chain's durable state with a restored certified block: the old history
    /// goes, pending transactions stay, block production starts paused (the archiver resumes
    /// it once every shard is reloaded). Returns the state to recover the machine from.
    ///
    /// A restore of the block that is already the head (the shards' state lost or damaged,
    /// the `Sequencer`'s intact) keeps the history: those blocks and their transaction index
    /// are still this chain's, and the hot ones are not in KV yet.
    pub(crate) fn restore(&self, request: &RestoreRequest) -> StoreResult<Persisted> {
        let mut persisted = self
            .load()?
            .ok_or_else(|| internal("restore before the sequencer was initialised"))?;
        // The proposal and the unconfirmed write sets are of the state being replaced.
        self.execute("DELETE FROM blobs", Vec::new())?;
        let restoring_the_head = persisted.head.header.hash() == request.header.hash();
        if !restoring_the_head {
            self.clear_history(request.header.height)?;
            // The rows may hold transactions the replaced chain committed, which only its
            // history told apart: they are stored again without them.
            self.execute("DELETE FROM pending_rows", Vec::new())?;
            *self.pending_rows.borrow_mut() = PendingRows::new();
            let pairs: Vec<(Hash, WireTx)> = persisted
                .pending
                .iter()
                .map(|(hash, tx)| (*hash, tx.clone()))
                .collect();
            self.store_pending(&pairs)?;
        }
        persisted.head = Head {
            header: request.header,
            certificate: request.certificate.clone(),
        };
        persisted.shard_roots = request.shard_roots.clone();
        persisted.proposal = None;
        persisted.unconfirmed = BTreeMap::new();
        persisted.paused = true;
        self.initialise(&persisted)?;
        self.put_meta(PAUSED_KEY, &true)?;
        Ok(persisted)
    }

    /// Forgets every block, transaction and rejection before a restored block at `height`.
    /// Blocks up to it count as archived: their bodies (if any survive) are in KV, and
    /// nothing below the restored head may be served from here.
    fn clear_history(&self, height: u64) -> StoreResult<()> {
        for table in RESTORE_CLEARED_HISTORY {
            self.execute(&format!("DELETE FROM {table}"), Vec::new())?;
        }
        self.staged.borrow_mut().clear();
        self.put_meta(ARCHIVED_THROUGH_KEY, &height.saturating_sub(1))
    }

    /// The height of the block with this hash.
    pub(crate) fn height_of(&self, hash: &Hash) -> StoreResult<Option<u64>> {
        self.rows(
            "SELECT height FROM blocks WHERE hash = ?",
            vec![hash_value(hash)],
        )?
        .first()
        .map(|row| integer_column(row, 0))
        .transpose()
    }

    /// The block at `height` with its transactions' hashes.
    pub(crate) fn block(&self, height: u64) -> StoreResult<Option<BlockAnswer>> {
        let Some(state) = self.certified_state(height)? else {
            return Ok(None);
        };
        let mut transactions = Vec::new();
        for row in self.rows(
            tx_chunks::SELECT_HASHES,
            tx_chunks::id_range(height, height)?,
        )? {
            transactions.extend(tx_chunks::hashes(&row, 0)?);
        }
        Ok(Some(BlockAnswer {
            hash: state.header.hash(),
            header: state.header,
            certificate: state.certificate,
            transactions,
        }))
    }

    /// The certified header, certificate and shard roots at `height`.
    pub(crate) fn certified_state(&self, height: u64) -> StoreResult<Option<CertifiedState>> {
        let rows = self.rows(
            "SELECT header, certificate, shard_roots FROM blocks WHERE height = ?",
            vec![integer(height)?],
        )?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let header = Header::decode(&blob_column(row, 0)?)
            .map_err(|error| internal(format!("stored header {height}: {error}")))?;
        Ok(Some(CertifiedState {
            header,
            certificate: decode_column(row, 1, CERTIFICATE_BYTES_MAX)?,
            shard_roots: decode_column(row, 2, CERTIFIED_BLOCK_BYTES_MAX)?,
        }))
    }

    fn meta<T: DeserializeOwned>(&self, key: &str, limit: usize) -> StoreResult<Option<T>> {
        self.rows("SELECT value FROM meta WHERE key = ?", vec![key.into()])?
            .first()
            .map(|row| decode_column(row, 0, limit))
            .transpose()
    }

    fn put_meta<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> StoreResult<()> {
        self.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            vec![key.into(), codec::encode(value).into()],
        )?;
        Ok(())
    }

    fn blob<T: DeserializeOwned>(&self, name: &str, limit: usize) -> StoreResult<Option<T>> {
        let rows = self.rows(
            "SELECT bytes FROM blobs WHERE name = ? ORDER BY part",
            vec![name.into()],
        )?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut bytes = Vec::new();
        for row in &rows {
            bytes.extend_from_slice(&blob_column(row, 0)?);
        }
        codec::decode(&bytes, limit)
            .map(Some)
            .map_err(|error| internal(format!("stored {name}: {error}")))
    }

    fn put_blob<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> StoreResult<()> {
        self.put_blob_bytes(name, &codec::encode(value))
    }

    fn put_blob_bytes(&self, name: &str, bytes: &[u8]) -> StoreResult<()> {
        self.delete_blob(name)?;
        for (part, chunk) in bytes.chunks(BLOB_PART_BYTES_MAX).enumerate() {
            self.execute(
                "INSERT INTO blobs (name, part, bytes) VALUES (?, ?, ?)",
                vec![name.into(), integer(part as u64)?, chunk.to_vec().into()],
            )?;
        }
        Ok(())
    }

    fn delete_blob(&self, name: &str) -> StoreResult<()> {
        self.execute("DELETE FROM blobs WHERE name = ?", vec![name.into()])?;
        Ok(())
    }

    fn blob_names(&self, prefix: &str) -> StoreResult<Vec<String>> {
        self.rows(
            "SELECT DISTINCT name FROM blobs WHERE substr(name, 1, ?) = ? ORDER BY name",
            vec![integer(prefix.len() as u64)?, prefix.into()],
        )?
        .iter()
        .map(|row| text_column(row, 0))
        .collect()
    }

    /// Runs `statements` in order; the first failure stops them (and, as every write of an
    /// effect happens between two awaits, none of them lands).
    fn run(&self, statements: Vec<Statement>) -> StoreResult<()> {
        statements
            .into_iter()
            .try_for_each(|statement| self.execute(&statement.query, statement.bindings))
    }

    fn execute(&self, query: &str, bindings: Vec<SqlStorageValue>) -> StoreResult<()> {
        self.sql
            .exec(query, bindings)
            .map_err(|error| internal(format!("storage: {error}")))?;
        Ok(())
    }

    fn rows(
        &self,
        query: &str,
        bindings: Vec<SqlStorageValue>,
    ) -> StoreResult<Vec<Vec<SqlStorageValue>>> {
        self.sql
            .exec(query, bindings)
            .map_err(|error| internal(format!("storage: {error}")))?
            .raw()
            .collect::<worker::Result<Vec<_>>>()
            .map_err(|error| internal(format!("storage: {error}")))
    }
}

/// Columns of a `tx_chunks` row.
const TX_CHUNKS_COLUMNS: [&str; 3] = ["id", "hashes", "bodies"];

/// The statement that forgets the rejections older than the latest `kept`, but those whose
/// transaction is still written in the pending row that held it when it was dropped
/// (`load_pending` reads every transaction of a row back, and takes those neither committed
/// nor rejected for pending). One case is left: a transaction dropped, sent again, stored in
/// a new row and dropped again stays written in its first row too, and once its second row
/// is gone and its rejection forgotten, a restart takes it for pending again. The `Sequencer`
/// then evaluates it afresh, as it would have if it had been sent a third time.
fn forget_rejections(kept: usize) -> StoreResult<Statement> {
    Ok(Statement {
        query: "DELETE FROM rejected WHERE id <= (SELECT max(id) FROM rejected) - ? \
                AND pending_row NOT IN (SELECT row FROM pending_rows)"
            .to_owned(),
        bindings: vec![integer(kept as u64)?],
    })
}

/// Locations written by one statement: its hashes are one bound blob (128 KiB).
const LOCATIONS_PER_STATEMENT: usize = 4_096;

/// Writes locations to `tx_locations`: the hashes end to end in one bound blob, the heights
/// and positions packed ([`Location::packed`]) in a bound JSON array, which SQLite expands
/// row by row. Two values per statement instead of three per row: each bound value is a call
/// across the runtime, and with a row per bound triple the index took 60 statements a block.
fn insert_locations() -> String {
    let position_mask = (1u64 << LOCATION_POSITION_BITS) - 1;
    format!(
        "INSERT OR IGNORE INTO tx_locations (hash, height, position) \
         SELECT substr(?, key * 32 + 1, 32), value >> {LOCATION_POSITION_BITS}, \
         value & {position_mask} FROM json_each(?)"
    )
}

/// The statements that find which of `hashes` are in `tx_locations`, with their heights: the
/// hashes end to end in one bound blob, their count in another, and SQLite takes each hash
/// out of the blob (as [`insert_locations`] does).
fn located_among(hashes: &[Hash]) -> Vec<Statement> {
    let query = format!(
        "{} SELECT hash, height FROM tx_locations \
         WHERE hash IN (SELECT substr(?, i * 32 + 1, 32) FROM k)",
        sql::ROW_INDEXES
    );
    hashes
        .chunks(LOCATIONS_PER_STATEMENT)
        .map(|chunk| {
            let hashes: Vec<u8> = chunk.iter().flat_map(|hash| hash.0).collect();
            sql::count_and_blob(&query, chunk.len(), hashes)
        })
        .collect()
}

/// The statements that write `locations` (sorted by hash, so that each lands next to the
/// last) to `tx_locations`.
fn location_rows(locations: &[(Hash, Location)]) -> Vec<Statement> {
    let query = insert_locations();
    locations
        .chunks(LOCATIONS_PER_STATEMENT)
        .map(|chunk| {
            let hashes: Vec<u8> = chunk.iter().flat_map(|(hash, _)| hash.0).collect();
            let packed: Vec<String> = chunk
                .iter()
                .map(|(_, location)| location.packed().to_string())
                .collect();
            sql::blob_and_json_array(&query, hashes, &packed)
        })
        .collect()
}

/// The statements that store the transactions of the block committed at `height`: their
/// bodies in `tx_chunks`, and the locations its commit writes to `tx_locations` (those the
/// staged locations had due: [`StagedLocations::commit`]).
///
/// A height is committed once and a transaction once (its nonce), so every key is new, and
/// the rows go in with `INSERT OR IGNORE` ([`sql::insert_new_all`]): a statement that cannot
/// stop half-way, for which SQLite keeps no statement journal. With `INSERT OR REPLACE` it
/// did, inside the commit's transaction: a temporary file receiving a copy of every page each
/// statement changed, and `tx_locations`' rows go to random pages (keyed by hash), so that was
/// about a page per transaction. Without it the core process writes about half the bytes per
/// transfer (ARCHITECTURE.md, *Performance*).
fn block_rows(
    height: u64,
    transactions: &[ByteBuf],
    receipts: &[Receipt],
    written: &[(Hash, Location)],
) -> StoreResult<Vec<Statement>> {
    let chunks = tx_chunks::rows(height, transactions, receipts)?;
    let mut statements = sql::insert_new_all("tx_chunks", &TX_CHUNKS_COLUMNS, chunks);
    statements.extend(location_rows(written));
    Ok(statements)
}

/// Where the proposal at `height` is stored: one of two names, by the height's parity. The
/// next block's proposal is stored while its parent's still is (until the parent's commit,
/// [`Effect::Commit`]), and a proposal overwrites only the one two heights below it, long
/// committed or stale: never a byte copied, and never more than two kept.
fn proposal_blob_name(height: u64) -> String {
    format!("{PROPOSAL_BLOB_PREFIX}{}", height % 2)
}

/// Blob name of a write set; zero-padded heights sort in height order.
fn write_set_blob_name(height: u64, shard: ShardIndex) -> String {
    format!("{WRITE_SET_BLOB_PREFIX}{height:020}/{shard:05}")
}

fn hash_value(hash: &Hash) -> SqlStorageValue {
    SqlStorageValue::Blob(hash.as_ref().to_vec())
}

/// A SQLite integer; heights and positions stay far below 2^53, where JavaScript numbers
/// stop being exact.
fn integer(value: u64) -> StoreResult<SqlStorageValue> {
    i64::try_from(value)
        .map_err(|_| internal(format!("{value} does not fit a stored integer")))
        .and_then(|value| {
            SqlStorageValue::try_from_i64(value).map_err(|error| internal(error.to_string()))
        })
}

fn column(row: &[SqlStorageValue], index: usize) -> StoreResult<&SqlStorageValue> {
    row.get(index)
        .ok_or_else(|| internal(format!("stored row lacks column {index}")))
}

fn blob_column(row: &[SqlStorageValue], index: usize) -> StoreResult<Vec<u8>> {
    match column(row, index)? {
        SqlStorageValue::Blob(bytes) => Ok(bytes.clone()),
        other => Err(internal(format!("column {index} is {other:?}, not a blob"))),
    }
}

fn text_column(row: &[SqlStorageValue], index: usize) -> StoreResult<String> {
    match column(row, index)? {
        SqlStorageValue::String(text) => Ok(text.clone()),
        other => Err(internal(format!("column {index} is {other:?}, not text"))),
    }
}

fn integer_column(row: &[SqlStorageValue], index: usize) -> StoreResult<u64> {
    match column(row, index)? {
        SqlStorageValue::Integer(value) => {
            u64::try_from(*value).map_err(|_| internal(format!("column {index} is negative")))
        }
        // Integers may come back from JavaScript as floating-point numbers.
        SqlStorageValue::Float(value) if value.fract() == 0.0 && *value >= 0.0 => Ok(*value as u64),
        other => Err(internal(format!(
            "column {index} is {other:?}, not an integer"
        ))),
    }
}

fn hash_column(row: &[SqlStorageValue], index: usize) -> StoreResult<Hash> {
    let bytes = blob_column(row, index)?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| internal(format!("column {index} is not a 32-byte hash")))?;
    Ok(Hash::from(bytes))
}

fn decode_column<T: DeserializeOwned>(
    row: &[SqlStorageValue],
    index: usize,
    limit: usize,
) -> StoreResult<T> {
    codec::decode(&blob_column(row, index)?, limit)
        .map_err(|error| internal(format!("stored column {index}: {error}")))
}

#[cfg(test)]
mod tests {
    //! The layout's statements run against SQLite itself (the bundled library, natively; a
    //! Durable Object runs the same statements through `SqlStorage`).

    use super::*;
    use rusqlite::Connection;

    /// The tables as the first layout created them (before versions), which stores written
    /// by earlier builds still hold.
    const VERSION_1_SCHEMA: &[&str] = &[
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)",
        "CREATE TABLE blobs (name TEXT NOT NULL, part INTEGER NOT NULL, \
         bytes BLOB NOT NULL, PRIMARY KEY (name, part))",
        "CREATE TABLE pending (hash BLOB PRIMARY KEY, tx BLOB NOT NULL)",
        "CREATE TABLE blocks (height INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, \
         header BLOB NOT NULL, certificate BLOB NOT NULL, shard_roots BLOB NOT NULL)",
        "CREATE TABLE txs (hash BLOB PRIMARY KEY, height INTEGER NOT NULL, \
         position INTEGER NOT NULL, raw BLOB NOT NULL, receipt BLOB NOT NULL)",
        "CREATE INDEX txs_by_block ON txs (height, position)",
        "CREATE TABLE rejected (hash BLOB PRIMARY KEY, code TEXT NOT NULL, \
         message TEXT NOT NULL)",
        "CREATE TABLE archived_blocks (height INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE)",
        "CREATE TABLE archived_txs (hash BLOB PRIMARY KEY, height INTEGER NOT NULL, \
         position INTEGER NOT NULL)",
    ];

    /// The current layout's tables, none migrated: the start of a test that rebuilds an
    /// older layout's changed tables by hand.
    fn create_current_tables(connection: &Connection) {
        for statement in schema_statements() {
            connection.execute(&statement, []).expect("the tables");
        }
    }

    /// What [`Store::open`] runs on a store of layout `version`.
    fn open(connection: &Connection, version: u64) {
        for statement in schema_statements()
            .into_iter()
            .chain(migration_statements(version))
        {
            connection
                .execute(&statement, [])
                .map_err(|error| format!("{statement}: {error}"))
                .expect("every statement of the layout runs");
        }
    }

    /// The definition of every table of the database, as [`TABLES`] states them (a renamed
    /// table's name comes back quoted; the runtime's own `_cf_` tables are left out).
    fn definitions(connection: &Connection) -> BTreeSet<String> {
        let mut query = connection
            .prepare(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' \
                 AND substr(name, 1, 4) != '_cf_'",
            )
            .expect("the schema is readable");
        query
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .expect("the schema is readable")
            .map(|row| row.expect("a schema row"))
            .map(|(name, sql)| sql.replace(&format!("\"{name}\""), &name))
            .collect()
    }

    fn current_definitions() -> BTreeSet<String> {
        TABLES
            .iter()
            .map(|table| format!("CREATE TABLE {} {}", table.name, table.definition))
            .collect()
    }

    /// Runs `statement` on `connection`, binding its values.
    fn execute(connection: &Connection, statement: &Statement) -> rusqlite::Result<usize> {
        connection.execute(
            &statement.query,
            rusqlite::params_from_iter(statement.bindings.iter().map(sql_value)),
        )
    }

    fn sql_value(value: &SqlStorageValue) -> rusqlite::types::Value {
        use rusqlite::types::Value;
        match value {
            SqlStorageValue::Null => Value::Null,
            SqlStorageValue::Boolean(flag) => Value::Integer((*flag).into()),
            SqlStorageValue::Integer(number) => Value::Integer(*number),
            SqlStorageValue::Float(number) => Value::Real(*number),
            SqlStorageValue::String(text) => Value::Text(text.clone()),
            SqlStorageValue::Blob(bytes) => Value::Blob(bytes.clone()),
        }
    }

    /// The opcodes of `statement`'s program that end it with an error and undo what it wrote
    /// (SQLite's `OE_Abort`, 2, in `p2`): a statement with any, inside a transaction, gets a
    /// statement journal.
    fn aborting_opcodes(connection: &Connection, statement: &Statement) -> Vec<String> {
        const ABORT: i64 = 2;
        let mut explain = connection
            .prepare(&format!("EXPLAIN {}", statement.query))
            .expect("the statement compiles");
        explain
            .query_map(
                rusqlite::params_from_iter(statement.bindings.iter().map(sql_value)),
                |row| {
                    Ok((
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, i64>(3)?,
                    ))
                },
            )
            .expect("the program is listed")
            .map(|row| row.expect("an opcode"))
            .filter(|(opcode, error, on_error)| {
                matches!(opcode.as_str(), "Halt" | "HaltIfNull")
                    && *error != 0
                    && *on_error == ABORT
            })
            .map(|(opcode, error, _)| format!("{opcode} {error}"))
            .collect()
    }

    /// Receipts of `count` transactions, told apart by their hashes.
    fn receipts(count: u8) -> Vec<Receipt> {
        (0..count)
            .map(|index| receipt(tx_hash(index), index.into()))
            .collect()
    }

    /// The receipt of the transfer with this hash at this position of its block.
    fn receipt(tx_hash: Hash, index: u32) -> Receipt {
        Receipt {
            tx_hash,
            index,
            sender: ledger::primitives::Address([1; 20]),
            to: ledger::primitives::Address([2; 20]),
            nonce: index.into(),
            value: ledger::primitives::U256::from(7u8),
            gas_used: 21_000,
            effective_gas_price: 1,
            fee: ledger::primitives::U256::from(21_000u32),
        }
    }

    #[test]
    fn a_blocks_rows_cannot_stop_half_way_so_need_no_statement_journal() {
        let connection = Connection::open_in_memory().expect("an in-memory database");
        open(&connection, SCHEMA_VERSION);
        let receipts = receipts(40);
        let raws: Vec<ByteBuf> = (0..40u8).map(|byte| ByteBuf::from(vec![byte; 3])).collect();
        let statements =
            block_rows(9, &raws, &receipts, &all_locations(9, &receipts)).expect("40 rows");
        // One chunk, and the locations in one statement.
        assert_eq!(statements.len(), 2);
        for statement in &statements {
            assert_eq!(
                aborting_opcodes(&connection, statement),
                Vec::<String>::new()
            );
            execute(&connection, statement).expect("the rows go in");
        }
        // The check can fail: rows written as before, with `OR REPLACE`, have such opcodes.
        let replacing = sql::insert_rows(
            "tx_locations",
            &["hash", "height", "position"],
            vec![
                vec![
                    hash_value(&tx_hash(99)),
                    SqlStorageValue::Integer(9),
                    SqlStorageValue::Integer(0)
                ];
                2
            ],
        );
        assert!(!aborting_opcodes(&connection, &replacing).is_empty());

        let stored = rows(
            &connection,
            "SELECT hash, position FROM tx_locations WHERE height = 9 ORDER BY position",
        );
        let expected: Vec<(Vec<u8>, i64)> = (0..40u8)
            .map(|index| (tx_hash(index).0.to_vec(), index.into()))
            .collect();
        assert_eq!(stored, expected);
        assert_eq!(stored_block(&connection, 9).0, raws);
    }

    /// Stores blocks of `sizes[i]` transactions at heights `first..`, as a commit does, each
    /// with a `blocks` row (block hash `[height; 32]`); transaction hashes count up from 0.
    /// Returns each block's raw transactions and receipts.
    fn store_blocks(
        connection: &Connection,
        first: u64,
        sizes: &[usize],
    ) -> Vec<(Vec<ByteBuf>, Vec<Receipt>)> {
        let mut next = 0usize;
        let mut blocks = Vec::new();
        for (height, &size) in (first..).zip(sizes) {
            let receipts: Vec<Receipt> = (next..next + size)
                .zip(0u32..)
                .map(|(index, position)| receipt(Hash::from(hash_of(index)), position))
                .collect();
            // Lengths past 255 too, which take a longer bin header.
            let raws: Vec<ByteBuf> = (next..next + size)
                .map(|index| ByteBuf::from(vec![index as u8; 100 + index % 300]))
                .collect();
            next += size;
            let locations = all_locations(height, &receipts);
            for statement in
                block_rows(height, &raws, &receipts, &locations).expect("a block's rows")
            {
                execute(connection, &statement).expect("the rows go in");
            }
            connection
                .execute(
                    "INSERT INTO blocks VALUES (?1, ?2, x'00', x'00', x'00')",
                    (height as i64, [height as u8; 32]),
                )
                .expect("a block row");
            blocks.push((raws, receipts));
        }
        blocks
    }

    /// Every location of a block's transactions, sorted by hash, as if all were due at once.
    fn all_locations(height: u64, receipts: &[Receipt]) -> Vec<(Hash, Location)> {
        let mut locations: Vec<(Hash, Location)> = receipts
            .iter()
            .zip(0u32..)
            .map(|(receipt, position)| (receipt.tx_hash, Location { height, position }))
            .collect();
        locations.sort_unstable();
        locations
    }

    /// A hash told apart by `index`, with zero bytes in it (which text concatenation in
    /// SQL must keep).
    fn hash_of(index: usize) -> [u8; 32] {
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&(index as u64).to_be_bytes());
        hash[31] = 0xff;
        hash
    }

    /// Runs a query with values bound, as the `Store` would, and returns its rows.
    fn stored_rows(
        connection: &Connection,
        query: &str,
        bindings: &[SqlStorageValue],
    ) -> Vec<Vec<SqlStorageValue>> {
        let mut statement = connection.prepare(query).expect("the query is valid");
        let columns = statement.column_count();
        statement
            .query_map(
                rusqlite::params_from_iter(bindings.iter().map(sql_value)),
                |row| {
                    (0..columns)
                        .map(|index| {
                            Ok(match row.get::<_, rusqlite::types::Value>(index)? {
                                rusqlite::types::Value::Integer(number) => {
                                    SqlStorageValue::Integer(number)
                                }
                                rusqlite::types::Value::Blob(bytes) => SqlStorageValue::Blob(bytes),
                                _ => SqlStorageValue::Null,
                            })
                        })
                        .collect()
                },
            )
            .expect("the query runs")
            .map(|row| row.expect("a row"))
            .collect()
    }

    /// A block's transactions and receipts and its hash list, read as the `Store` reads them.
    fn stored_block(
        connection: &Connection,
        height: u64,
    ) -> (Vec<ByteBuf>, Vec<Receipt>, Vec<Hash>) {
        let range = tx_chunks::id_range(height, height).expect("a range");
        let (mut raws, mut receipts, mut hashes) = (Vec::new(), Vec::new(), Vec::new());
        for row in stored_rows(connection, tx_chunks::SELECT_BODIES, &range) {
            for (raw, receipt) in tx_chunks::bodies(&row, 0).expect("bodies") {
                raws.push(raw);
                receipts.push(receipt);
            }
        }
        for row in stored_rows(connection, tx_chunks::SELECT_HASHES, &range) {
            hashes.extend(tx_chunks::hashes(&row, 0).expect("hashes"));
        }
        (raws, receipts, hashes)
    }

    #[test]
    fn a_blocks_transactions_come_back_from_their_chunks() {
        let connection = Connection::open_in_memory().expect("an in-memory database");
        open(&connection, SCHEMA_VERSION);
        // Chunks of 64: a block of three (the last one short), one of one, one of none.
        let blocks = store_blocks(&connection, 8, &[130, 1, 0, 64]);
        for (height, (raws, receipts)) in (8..).zip(&blocks) {
            let hashes: Vec<Hash> = receipts.iter().map(|receipt| receipt.tx_hash).collect();
            assert_eq!(
                stored_block(&connection, height),
                (raws.clone(), receipts.clone(), hashes),
                "block {height}"
            );
        }
        // Each transaction is found by its hash, in its block, with its body.
        for (height, (raws, receipts)) in (8..).zip(&blocks) {
            for (position, (raw, receipt)) in raws.iter().zip(receipts).enumerate() {
                let located = stored_rows(
                    &connection,
                    "SELECT height, position FROM tx_locations WHERE hash = ?",
                    &[hash_value(&receipt.tx_hash)],
                );
                assert_eq!(located.len(), 1, "one location for one hash");
                assert_eq!(integer_column(&located[0], 0).expect("a height"), height);
                assert_eq!(
                    integer_column(&located[0], 1).expect("a position"),
                    position as u64
                );
                let chunk_id = tx_chunks::chunk_id(height, position as u64).expect("an id");
                let rows = stored_rows(
                    &connection,
                    tx_chunks::SELECT_BLOCK_HASH_AND_CHUNK,
                    &[
                        SqlStorageValue::Integer(chunk_id as i64),
                        SqlStorageValue::Integer(height as i64),
                    ],
                );
                assert_eq!(rows.len(), 1, "one chunk for one transaction");
                let row = &rows[0];
                assert_eq!(hash_column(row, 0).expect("a hash").0, [height as u8; 32]);
                assert_eq!(
                    tx_chunks::body_at(row, 1, position as u64).expect("the body"),
                    (raw.clone(), *receipt)
                );
            }
        }
        // Pruning a range of blocks takes all their chunks, and only theirs.
        let range = tx_chunks::id_range(8, 9).expect("a range");
        execute(
            &connection,
            &Statement {
                query: tx_chunks::DELETE_BLOCKS.to_owned(),
                bindings: range,
            },
        )
        .expect("the prune runs");
        assert_eq!(stored_block(&connection, 8), Default::default());
        assert_eq!(stored_block(&connection, 9), Default::default());
        assert_eq!(stored_block(&connection, 11).0, blocks[3].0);
    }

    #[test]
    fn locations_go_in_sorted_runs_of_a_statement_each() {
        let connection = Connection::open_in_memory().expect("an in-memory database");
        open(&connection, SCHEMA_VERSION);
        // One more than a statement takes, from two blocks, at the largest position.
        let mut locations: Vec<(Hash, Location)> = (0..LOCATIONS_PER_STATEMENT + 1)
            .map(|index| {
                let location = Location {
                    height: 7 + (index % 2) as u64,
                    position: (index % ledger::limits::BLOCK_TXS_MAX) as u32 | 0xf00,
                };
                (Hash::from(hash_of(index)), location)
            })
            .collect();
        locations.sort_unstable();
        let statements = location_rows(&locations);
        assert_eq!(statements.len(), 2);
        for statement in &statements {
            assert_eq!(
                aborting_opcodes(&connection, statement),
                Vec::<String>::new()
            );
            execute(&connection, statement).expect("the locations go in");
        }
        let stored = stored_rows(
            &connection,
            "SELECT hash, height, position FROM tx_locations ORDER BY hash",
            &[],
        );
        let stored: Vec<(Hash, Location)> = stored
            .iter()
            .map(|row| {
                let location = Location {
                    height: integer_column(row, 1).expect("a height"),
                    position: integer_column(row, 2).expect("a position") as u32,
                };
                (hash_column(row, 0).expect("a hash"), location)
            })
            .collect();
        assert_eq!(stored, locations);

        // Found again among as many hashes not stored, in two statements of a blob each.
        let mut asked: Vec<Hash> = locations.iter().map(|(hash, _)| *hash).collect();
        asked.extend((0..asked.len()).map(|index| Hash::from([index as u8; 32])));
        let statements = located_among(&asked);
        assert_eq!(statements.len(), 3);
        let mut found: Vec<(Hash, u64)> = statements
            .iter()
            .flat_map(|statement| stored_rows(&connection, &statement.query, &statement.bindings))
            .map(|row| {
                let hash = hash_column(&row, 0).expect("a hash");
                (hash, integer_column(&row, 1).expect("a height"))
            })
            .collect();
        found.sort_unstable();
        let expected: Vec<(Hash, u64)> = locations
            .iter()
            .map(|(hash, location)| (*hash, location.height))
            .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn the_recent_blocks_hashes_come_back_with_their_heights() {
        let connection = Connection::open_in_memory().expect("an in-memory database");
        open(&connection, SCHEMA_VERSION);
        let blocks = store_blocks(&connection, 8, &[130, 1, 0, 64]);
        let range = tx_chunks::id_range(9, 11).expect("a range");
        let read = tx_chunks::hashes_by_height(stored_rows(
            &connection,
            tx_chunks::SELECT_IDS_AND_HASHES,
            &range,
        ))
        .expect("the hashes");
        let expected: BTreeMap<u64, Vec<Hash>> = [(9, &blocks[1]), (11, &blocks[3])]
            .into_iter()
            .map(|(height, (_, receipts))| {
                (
                    height,
                    receipts.iter().map(|receipt| receipt.tx_hash).collect(),
                )
            })
            .collect();
        assert_eq!(read, expected);
    }

    #[test]
    fn rejections_past_the_latest_are_forgotten_unless_a_pending_row_still_holds_them() {
        let connection = Connection::open_in_memory().expect("an in-memory database");
        open(&connection, SCHEMA_VERSION);
        connection
            .execute_batch("INSERT INTO pending_rows VALUES (4, x'90')")
            .expect("a stored pending row");
        // Eight rejections, in order: the 2nd and 5th written in row 4 (stored), the 3rd in
        // row 3 (gone), the 7th of before layout 6 (no row), the rest in rows gone too.
        let rows_held = [1, 4, 3, 2, 4, 1, -1, 2];
        for (index, row) in rows_held.into_iter().enumerate() {
            let pending_row = if row < 0 {
                SqlStorageValue::Null
            } else {
                SqlStorageValue::Integer(row)
            };
            let statements = sql::insert_all(
                "rejected",
                &["hash", "code", "message", "pending_row"],
                vec![vec![
                    hash_value(&tx_hash(index as u8)),
                    "nonce_too_low".into(),
                    "why".into(),
                    pending_row,
                ]],
            );
            for statement in &statements {
                execute(&connection, statement).expect("a rejection");
            }
        }
        // Rejected again, a transaction counts as the latest.
        execute(
            &connection,
            &sql::insert_rows(
                "rejected",
                &["hash", "code", "message", "pending_row"],
                vec![vec![
                    hash_value(&tx_hash(0)),
                    "insufficient_funds".into(),
                    "why".into(),
                    SqlStorageValue::Integer(1),
                ]],
            ),
        )
        .expect("a second rejection");
        execute(&connection, &forget_rejections(3).expect("the statement"))
            .expect("the old ones go");
        let kept = rows(&connection, "SELECT hash, id FROM rejected ORDER BY id");
        let kept: Vec<u8> = kept.iter().map(|(hash, _)| hash[0]).collect();
        let expected: Vec<u8> = [1, 4, 6, 7, 0]
            .iter()
            .map(|index| tx_hash(*index).0[0])
            .collect();
        assert_eq!(kept, expected);
    }

    #[test]
    fn a_version_4_stores_transactions_move_into_chunks() {
        let connection = Connection::open_in_memory().expect("an in-memory database");
        // Layout 4: the current tables but for `txs` in place of `tx_chunks`.
        create_current_tables(&connection);
        connection
            .execute_batch(
                "DROP TABLE tx_chunks;
                 CREATE TABLE txs (height INTEGER NOT NULL, position INTEGER NOT NULL, \
                 hash BLOB NOT NULL, raw BLOB NOT NULL, receipt BLOB NOT NULL, \
                 PRIMARY KEY (height, position)) WITHOUT ROWID;",
            )
            .expect("layout 4's txs");
        let blocks: Vec<(Vec<ByteBuf>, Vec<Receipt>)> = [(5u64, 70usize), (6, 3)]
            .iter()
            .map(|&(height, size)| {
                let receipts: Vec<Receipt> = (0..size)
                    .zip(0u32..)
                    .map(|(index, position)| {
                        receipt(
                            Hash::from(hash_of(height as usize * 1000 + index)),
                            position,
                        )
                    })
                    .collect();
                let raws: Vec<ByteBuf> = (0..size)
                    .map(|index| ByteBuf::from(vec![0; 200 + index * 7]))
                    .collect();
                // Inserted out of order: the chunks follow the positions.
                for position in (0..size).rev() {
                    connection
                        .execute(
                            "INSERT INTO txs VALUES (?1, ?2, ?3, ?4, ?5)",
                            (
                                height as i64,
                                position as i64,
                                receipts[position].tx_hash.as_ref(),
                                raws[position].as_ref(),
                                codec::encode(&receipts[position]),
                            ),
                        )
                        .expect("a layout 4 row");
                }
                (raws, receipts)
            })
            .collect();

        open(&connection, 4);

        assert_eq!(definitions(&connection), current_definitions());
        for (height, (raws, receipts)) in [5u64, 6].into_iter().zip(blocks) {
            let hashes: Vec<Hash> = receipts.iter().map(|receipt| receipt.tx_hash).collect();
            assert_eq!(
                stored_block(&connection, height),
                (raws, receipts, hashes),
                "block {height}"
            );
        }
        // 70 transactions make two chunks.
        assert_eq!(
            rows(&connection, "SELECT hashes, id FROM tx_chunks ORDER BY id")
                .iter()
                .map(|(hashes, id)| (hashes.len() / 32, *id))
                .collect::<Vec<_>>(),
            vec![
                (64, 5 * tx_chunks::TX_CHUNKS_PER_BLOCK as i64),
                (6, 5 * tx_chunks::TX_CHUNKS_PER_BLOCK as i64 + 1),
                (3, 6 * tx_chunks::TX_CHUNKS_PER_BLOCK as i64),
            ]
        );
    }

    /// A transaction in its stored form, told apart by `byte`.
    fn wire_tx(byte: u8) -> WireTx {
        let mut key = [0u8; 32];
        key[31] = byte;
        WireTx {
            raw: vec![byte; 3],
            public_key: ledger::signature::SecretKey::from_bytes(&key)
                .expect("a valid key")
                .public_key(),
            nonce_y: None,
        }
    }

    fn tx_hash(byte: u8) -> Hash {
        Hash::from([byte; 32])
    }

    /// Stores a pending row per transaction, as layouts 1 to 3 did.
    fn insert_old_pending(connection: &Connection, bytes: &[u8]) {
        for byte in bytes {
            connection
                .execute(
                    "INSERT INTO pending (hash, tx) VALUES (?1, ?2)",
                    (tx_hash(*byte).as_ref(), codec::encode(&wire_tx(*byte))),
                )
                .expect("an old pending row");
        }
    }

    /// The pending rows after a migration, decoded as [`Store::load`] decodes them.
    fn pending_pairs(connection: &Connection) -> Vec<PendingPairs> {
        let mut query = connection
            .prepare("SELECT txs FROM pending_rows ORDER BY row")
            .expect("the query is valid");
        query
            .query_map([], |row| row.get::<_, Vec<u8>>(0))
            .expect("the query runs")
            .map(|bytes| {
                codec::decode(&bytes.expect("a row"), PENDING_ROW_BYTES_MAX).expect("pairs")
            })
            .collect()
    }

    fn rows(connection: &Connection, query: &str) -> Vec<(Vec<u8>, i64)> {
        let mut statement = connection.prepare(query).expect("the query is valid");
        statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .expect("the query runs")
            .map(|row| row.expect("a row"))
            .collect()
    }

    #[test]
    fn a_new_store_gets_the_current_layout() {
        let connection = Connection::open_in_memory().expect("SQLite opens");
        open(&connection, 1);
        assert_eq!(definitions(&connection), current_definitions());
        // Opening again (the next time the object starts) changes nothing and fails nothing.
        open(&connection, SCHEMA_VERSION);
        assert_eq!(definitions(&connection), current_definitions());
    }

    #[test]
    fn a_version_1_store_keeps_every_row_when_migrated() {
        let connection = Connection::open_in_memory().expect("SQLite opens");
        for statement in VERSION_1_SCHEMA {
            connection.execute(statement, []).expect("the old layout");
        }
        connection
            .execute_batch(
                "INSERT INTO txs VALUES (x'03', 7, 1, x'cc', x'dd'), (x'04', 7, 0, x'ee', x'ff');
                 INSERT INTO rejected VALUES (x'05', 'nonce_too_low', 'why');
                 INSERT INTO archived_txs VALUES (x'06', 2, 0);
                 INSERT INTO meta VALUES ('head', x'00');",
            )
            .expect("rows of the old layout");
        insert_old_pending(&connection, &[2, 1]);
        assert_ne!(definitions(&connection), current_definitions());

        open(&connection, 1);

        assert_eq!(definitions(&connection), current_definitions());
        // Each pending transaction is a row of one pair, in admission order.
        assert_eq!(
            pending_pairs(&connection),
            vec![
                vec![(tx_hash(2), wire_tx(2))],
                vec![(tx_hash(1), wire_tx(1))]
            ]
        );
        // A block's transactions come back in position order, in one chunk.
        assert_eq!(
            rows(&connection, "SELECT hashes, id FROM tx_chunks"),
            vec![(vec![4, 3], 7 * tx_chunks::TX_CHUNKS_PER_BLOCK as i64)]
        );
        // Every committed transaction is located, the archived one too.
        assert_eq!(
            rows(
                &connection,
                "SELECT hash, height * 10 + position FROM tx_locations ORDER BY hash"
            ),
            vec![(vec![3], 71), (vec![4], 70), (vec![6], 20)]
        );
        assert_eq!(
            rows(&connection, "SELECT hash, length(code) FROM rejected"),
            vec![(vec![5], 13)]
        );
        assert_eq!(
            rows(
                &connection,
                "SELECT CAST(key AS BLOB), length(value) FROM meta"
            ),
            vec![(b"head".to_vec(), 1)]
        );
        // The rebuilt tables still refuse a second row with the same hash.
        let duplicate = "INSERT INTO tx_locations VALUES (x'03', 9, 0)";
        assert!(connection.execute(duplicate, []).is_err(), "{duplicate}");
    }

    #[test]
    fn a_version_3_store_keeps_its_pending_transactions() {
        let connection = Connection::open_in_memory().expect("SQLite opens");
        create_current_tables(&connection);
        connection
            .execute(
                "CREATE TABLE pending (seq INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, \
                 tx BLOB NOT NULL)",
                [],
            )
            .expect("layout 3's pending table");
        insert_old_pending(&connection, &[9, 4, 7]);

        open(&connection, 3);

        assert_eq!(definitions(&connection), current_definitions());
        let pairs: Vec<(Hash, WireTx)> = pending_pairs(&connection).concat();
        let expected: Vec<(Hash, WireTx)> =
            [9, 4, 7].map(|byte| (tx_hash(byte), wire_tx(byte))).into();
        assert_eq!(pairs, expected);
    }
}
