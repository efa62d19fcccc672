//! The shard's storage in its Durable Object's SQLite database: [`SqlShardStore`] implements
//! [`ShardStore`] (and so [`TrieStore`]) over `ctx.storage.sql`.
//!
//! The shard's state is three tables:
//! - `nodes`: the tree, one row per stored node, keyed by [`NodePosition::to_key_bytes`], the
//!   value [`ledger::codec::encode`] of the [`Node`];
//! - `accounts`: the plain account table, address → nonce (8 bytes) and balance (32 bytes),
//!   both big-endian blobs: SQLite integers pass through JavaScript numbers, exact only to 2^53;
//! - `meta`: one row, the [`ShardMeta`] (height as an 8-byte blob for the same reason).
//!
//! Backups and restores add four more, described in [`crate::backup`]: `snapshot_accounts` and
//! `snapshot_meta` (the frozen copy a backup pages through), `restore_accounts` and
//! `restore_meta` (a restore being staged).
//!
//! [`ShardStore::commit`] writes a whole batch inside one `transactionSync`: all of it or, if
//! any statement fails, none of it; [`ShardStore::replace`] empties the state tables and writes
//! a batch inside one, too. The row encodings and the statements are plain functions, tested
//! natively against SQLite; only [`SqlShardStore`] touches the runtime. Nodes and accounts go
//! in a few thousand rows to a statement with two bound values each (the rows packed into a
//! blob, or a JSON array for the nodes' variable bytes): each bound value is a call across
//! the runtime.

use ledger::codec;
use ledger::primitives::{Address, Hash, U256};
use ledger::shard::{ShardBatch, ShardMeta, ShardStore};
use ledger::state::{Account, ShardIndex};
use ledger::trie::{Node, NodePosition, TrieError, TrieResult, TrieStore};
use worker::js_sys::{Function, Reflect};
use worker::wasm_bindgen::closure::Closure;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::{SqlStorage, SqlStorageValue, Storage};
pub(crate) use worker_shell::sql::{
    ROW_INDEXES, Statement, blob_and_json_array, count_and_blob, insert_rows, plain,
};

use crate::cache::{NODE_CACHE_ENTRIES_MAX, NodeCache};

/// The schema, created whenever the store is opened (idempotent, so an object created before a
/// table existed gains it on its next open). The account-shaped tables share `accounts`'
/// columns, so copying between them is a plain `INSERT ... SELECT`.
const SCHEMA: [&str; 7] = [
    "CREATE TABLE IF NOT EXISTS nodes (position BLOB PRIMARY KEY, node BLOB NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS accounts (address BLOB PRIMARY KEY, nonce BLOB NOT NULL, \
     balance BLOB NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS meta (id INTEGER PRIMARY KEY CHECK (id = 0), \
     shard INTEGER NOT NULL, applied_height BLOB NOT NULL, root BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS snapshot_accounts (address BLOB PRIMARY KEY, \
     nonce BLOB NOT NULL, balance BLOB NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS snapshot_meta (id INTEGER PRIMARY KEY CHECK (id = 0), \
     shard INTEGER NOT NULL, applied_height BLOB NOT NULL, root BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS restore_accounts (address BLOB PRIMARY KEY, \
     nonce BLOB NOT NULL, balance BLOB NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS restore_meta (id INTEGER PRIMARY KEY CHECK (id = 0), \
     height BLOB NOT NULL, root BLOB NOT NULL, accounts BLOB NOT NULL, staged BLOB NOT NULL, \
     last BLOB)",
];

/// The columns of every account-shaped table, in row order ([`account_columns`]).
pub(crate) const ACCOUNT_COLUMNS: [&str; 3] = ["address", "nonce", "balance"];

/// The columns of every metadata-shaped table, in row order ([`meta_row`]).
pub(crate) const META_COLUMNS: [&str; 4] = ["id", "shard", "applied_height", "root"];

/// Bytes of a stored node: a leaf at its widest is about 75.
const NODE_BYTES_MAX: usize = 128;

/// A storage failure, as the tree reports it.
pub(crate) fn store_error(context: &str, error: impl std::fmt::Display) -> TrieError {
    TrieError::Store(format!("{context}: {error}"))
}

/// Rows one statement of [`node_statements`] or [`account_statements`] writes.
const ROWS_PER_STATEMENT: usize = 4_096;

/// Bytes of a `nodes` row's key ([`NodePosition::to_key_bytes`]).
const POSITION_KEY_BYTES: usize = 21;

/// Bytes of an account-shaped row's three columns end to end ([`account_columns`]).
pub(crate) const ACCOUNT_ROW_BYTES: usize = 20 + 8 + 32;

/// The statements that write `batch`: nodes and accounts, a few thousand rows a statement,
/// then the metadata row.
pub(crate) fn batch_statements(batch: &ShardBatch) -> Vec<Statement> {
    let nodes: Vec<(&NodePosition, &Node)> = batch.nodes.puts().collect();
    let mut statements = node_statements(&nodes);
    statements.extend(account_statements("accounts", &batch.accounts));
    statements.push(insert_rows(
        "meta",
        &META_COLUMNS,
        vec![meta_row(&batch.meta)],
    ));
    statements
}

/// Inserts (or replaces) `nodes`, two bound values a statement: the position keys end to end
/// in a blob, and the encoded nodes in a JSON array of hex strings, which SQLite expands row
/// by row (`json_each`, `unhex`). Each bound value is a call across the runtime, and with two
/// a row the values' conversion and binding were about half of a commit's time.
fn node_statements(nodes: &[(&NodePosition, &Node)]) -> Vec<Statement> {
    let query = format!(
        "INSERT OR REPLACE INTO nodes (position, node) \
         SELECT substr(?, key * {POSITION_KEY_BYTES} + 1, {POSITION_KEY_BYTES}), unhex(value) \
         FROM json_each(?)"
    );
    nodes
        .chunks(ROWS_PER_STATEMENT)
        .map(|chunk| {
            let mut positions = Vec::with_capacity(chunk.len() * POSITION_KEY_BYTES);
            let mut encoded = Vec::with_capacity(chunk.len());
            for (position, node) in chunk {
                let [key, node] = node_columns(position, node);
                positions.extend(key);
                encoded.push(format!("\"{}\"", hex::encode(node)));
            }
            blob_and_json_array(&query, positions, &encoded)
        })
        .collect()
}

/// Inserts (or replaces) `accounts` in the account-shaped `table`, two bound values a
/// statement: their count, and their rows' columns end to end in a blob (fixed widths), which
/// SQLite cuts up row by row.
pub(crate) fn account_statements(table: &str, accounts: &[(Address, Account)]) -> Vec<Statement> {
    let query = format!(
        "{ROW_INDEXES}, b(bytes) AS (SELECT ?) INSERT OR REPLACE INTO {table} ({}) \
         SELECT substr(bytes, i * {ACCOUNT_ROW_BYTES} + 1, 20), \
         substr(bytes, i * {ACCOUNT_ROW_BYTES} + 21, 8), \
         substr(bytes, i * {ACCOUNT_ROW_BYTES} + 29, 32) FROM k, b",
        ACCOUNT_COLUMNS.join(", ")
    );
    accounts
        .chunks(ROWS_PER_STATEMENT)
        .map(|chunk| {
            let packed: Vec<u8> = chunk
                .iter()
                .flat_map(|(address, account)| account_columns(address, account))
                .flatten()
                .collect();
            count_and_blob(&query, chunk.len(), packed)
        })
        .collect()
}

/// The statements of [`ShardStore::replace`]: empty the three state tables, then write
/// `batch`. Run in one transaction, a failure anywhere leaves the old state whole.
pub(crate) fn replace_statements(batch: &ShardBatch) -> Vec<Statement> {
    let mut statements = vec![
        plain("DELETE FROM nodes"),
        plain("DELETE FROM accounts"),
        plain("DELETE FROM meta"),
    ];
    statements.extend(batch_statements(batch));
    statements
}

/// A `nodes` row's columns: position key, encoded node.
fn node_columns(position: &NodePosition, node: &Node) -> [Vec<u8>; 2] {
    [position.to_key_bytes().to_vec(), codec::encode(node)]
}

/// An `accounts` row's columns: address, nonce, balance ([`ACCOUNT_ROW_BYTES`] together).
fn account_columns(address: &Address, account: &Account) -> [Vec<u8>; 3] {
    [
        address.0.to_vec(),
        account.nonce.to_be_bytes().to_vec(),
        account.balance.to_be_bytes::<32>().to_vec(),
    ]
}

/// A `nodes` row as storage returns it.
#[cfg(test)]
fn node_row(position: &NodePosition, node: &Node) -> Vec<SqlStorageValue> {
    node_columns(position, node)
        .into_iter()
        .map(SqlStorageValue::Blob)
        .collect()
}

/// An `accounts` row as storage returns it.
#[cfg(test)]
pub(crate) fn account_row(address: &Address, account: &Account) -> Vec<SqlStorageValue> {
    account_columns(address, account)
        .into_iter()
        .map(SqlStorageValue::Blob)
        .collect()
}

/// The `meta` row: id 0, shard, applied height, root.
pub(crate) fn meta_row(meta: &ShardMeta) -> Vec<SqlStorageValue> {
    vec![
        SqlStorageValue::Integer(0),
        SqlStorageValue::Integer(meta.shard.into()),
        SqlStorageValue::Blob(meta.applied_height.to_be_bytes().to_vec()),
        SqlStorageValue::Blob(meta.root.0.to_vec()),
    ]
}

/// Column `index` of `row` as a blob of exactly `N` bytes.
pub(crate) fn fixed_blob<const N: usize>(
    row: &[SqlStorageValue],
    index: usize,
) -> TrieResult<[u8; N]> {
    match row.get(index) {
        Some(SqlStorageValue::Blob(bytes)) => <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| {
            store_error(
                "reading a row",
                format!("column {index} is {} bytes, expected {N}", bytes.len()),
            )
        }),
        other => Err(store_error(
            "reading a row",
            format!("column {index} is {other:?}, expected a blob"),
        )),
    }
}

/// Decodes a `nodes` row selected as `node`.
pub(crate) fn node_from_row(row: &[SqlStorageValue]) -> TrieResult<Node> {
    match row.first() {
        Some(SqlStorageValue::Blob(bytes)) => codec::decode(bytes, NODE_BYTES_MAX)
            .map_err(|error| store_error("decoding a stored node", error)),
        other => Err(store_error(
            "reading a node",
            format!("got {other:?}, expected a blob"),
        )),
    }
}

/// Decodes a `COUNT(*)`.
pub(crate) fn count_from_row(row: &[SqlStorageValue]) -> TrieResult<u64> {
    match row.first() {
        Some(SqlStorageValue::Integer(count)) => u64::try_from(*count)
            .map_err(|_| store_error("counting rows", format!("a count of {count}"))),
        other => Err(store_error(
            "counting rows",
            format!("got {other:?}, expected an integer"),
        )),
    }
}

/// Decodes an `accounts` row selected as `nonce, balance`.
pub(crate) fn account_from_row(row: &[SqlStorageValue]) -> TrieResult<Account> {
    Ok(Account {
        nonce: u64::from_be_bytes(fixed_blob(row, 0)?),
        balance: U256::from_be_bytes(fixed_blob::<32>(row, 1)?),
    })
}

/// Decodes the `meta` row selected as `shard, applied_height, root`.
pub(crate) fn meta_from_row(row: &[SqlStorageValue]) -> TrieResult<ShardMeta> {
    let shard = match row.first() {
        Some(SqlStorageValue::Integer(shard)) => ShardIndex::try_from(*shard)
            .map_err(|_| store_error("reading the metadata", format!("shard {shard}")))?,
        other => {
            return Err(store_error(
                "reading the metadata",
                format!("shard is {other:?}, expected an integer"),
            ));
        }
    };
    Ok(ShardMeta {
        shard,
        applied_height: u64::from_be_bytes(fixed_blob(row, 1)?),
        root: Hash(fixed_blob(row, 2)?),
    })
}

/// A shard's storage in its Durable Object's SQLite database, with a node cache in front.
#[derive(Debug)]
pub(crate) struct SqlShardStore {
    sql: SqlStorage,
    /// The JavaScript storage object, for `transactionSync` (which `worker` does not bind).
    storage: JsValue,
    cache: NodeCache,
}

impl SqlShardStore {
    /// The store of the object owning `storage`, its tables created if missing.
    pub(crate) fn open(storage: &Storage) -> TrieResult<Self> {
        let sql = storage.sql();
        for statement in SCHEMA {
            sql.exec(statement, None)
                .map_err(|error| store_error("creating the schema", error))?;
        }
        let raw: &JsValue = storage.as_raw().as_ref();
        Ok(Self {
            sql,
            storage: raw.clone(),
            cache: NodeCache::new(NODE_CACHE_ENTRIES_MAX),
        })
    }

    /// The first row `query` selects, if any (used for queries by primary key or aggregates).
    pub(crate) fn row(
        &self,
        query: &str,
        bindings: Vec<SqlStorageValue>,
    ) -> TrieResult<Option<Vec<SqlStorageValue>>> {
        let cursor = self
            .sql
            .exec(query, bindings)
            .map_err(|error| store_error(query, error))?;
        let row = cursor.raw().next();
        row.transpose().map_err(|error| store_error(query, error))
    }

    /// Every row `query` selects, in order, each decoded by `decode`, collected into `C`.
    /// Callers bound the result (`LIMIT`, or a table whose size they accept in memory).
    pub(crate) fn select<T, C: FromIterator<T>>(
        &self,
        query: &str,
        bindings: Vec<SqlStorageValue>,
        decode: impl Fn(&[SqlStorageValue]) -> TrieResult<T>,
    ) -> TrieResult<C> {
        let cursor = self
            .sql
            .exec(query, bindings)
            .map_err(|error| store_error(query, error))?;
        cursor
            .raw()
            .map(|row| {
                row.map_err(|error| store_error(query, error))
                    .and_then(|row| decode(&row))
            })
            .collect()
    }

    /// Rows in `table` (one of this store's own table names, never input).
    pub(crate) fn count_rows(&self, table: &str) -> TrieResult<u64> {
        let counted = self.row(&format!("SELECT COUNT(*) FROM {table}"), Vec::new())?;
        count_from_row(counted.as_deref().unwrap_or_default())
    }

    /// Runs `statements` in one synchronous transaction: if any fails, SQLite rolls all of
    /// them back and the error comes out here.
    pub(crate) fn transaction(&self, statements: Vec<Statement>) -> TrieResult<()> {
        let function = Reflect::get(&self.storage, &JsValue::from_str("transactionSync"))
            .ok()
            .and_then(|value| value.dyn_into::<Function>().ok())
            .ok_or_else(|| {
                store_error(
                    "committing",
                    "storage.transactionSync is missing: is the class SQLite-backed?",
                )
            })?;
        let sql = self.sql.clone();
        let body = Closure::once(move || -> Result<JsValue, JsValue> {
            for statement in statements {
                sql.exec(&statement.query, statement.bindings)
                    .map_err(|error| JsValue::from_str(&error.to_string()))?;
            }
            Ok(JsValue::UNDEFINED)
        });
        function
            .call1(&self.storage, body.as_ref().unchecked_ref())
            .map(|_| ())
            .map_err(|error| store_error("committing a batch (rolled back)", describe(&error)))
    }
}

/// A thrown JavaScript value as text.
fn describe(value: &JsValue) -> String {
    value
        .as_string()
        .or_else(|| {
            value
                .dyn_ref::<worker::js_sys::Error>()
                .map(|error| String::from(error.message()))
        })
        .unwrap_or_else(|| format!("{value:?}"))
}

impl TrieStore for SqlShardStore {
    fn node(&self, position: &NodePosition) -> TrieResult<Option<Node>> {
        if let Some(cached) = self.cache.get(position) {
            return Ok(cached);
        }
        let row = self.row(
            "SELECT node FROM nodes WHERE position = ?",
            vec![SqlStorageValue::Blob(position.to_key_bytes().to_vec())],
        )?;
        let node = row.as_deref().map(node_from_row).transpose()?;
        self.cache.remember(*position, node);
        Ok(node)
    }
}

impl ShardStore for SqlShardStore {
    fn meta(&self) -> TrieResult<Option<ShardMeta>> {
        let row = self.row(
            "SELECT shard, applied_height, root FROM meta WHERE id = 0",
            Vec::new(),
        )?;
        row.as_deref().map(meta_from_row).transpose()
    }

    fn account(&self, address: &Address) -> TrieResult<Option<Account>> {
        let row = self.row(
            "SELECT nonce, balance FROM accounts WHERE address = ?",
            vec![SqlStorageValue::Blob(address.0.to_vec())],
        )?;
        row.as_deref().map(account_from_row).transpose()
    }

    fn commit(&mut self, batch: &ShardBatch) -> TrieResult<()> {
        // Forget before writing: if the transaction rolls back, the next read of a written
        // position goes to storage.
        self.cache
            .forget(batch.nodes.puts().map(|(position, _)| position));
        self.transaction(batch_statements(batch))?;
        // Committed: storage holds the batch, so the next block's witness, which reads the
        // same paths again, need not read them back one statement a node. All but the
        // shallowest position, the shard's root (positions order by depth first, and every
        // batch rewrites its root): the shard reads that back from storage to check the
        // write.
        let mut written = batch.nodes.puts();
        written.next();
        self.cache
            .remember_all(written.map(|(position, node)| (*position, Some(*node))));
        Ok(())
    }

    fn replace(&mut self, batch: &ShardBatch) -> TrieResult<()> {
        // Every cached position may change or vanish: the restored tree, and the shard's
        // read-back of its root, must come from storage.
        self.cache.clear();
        self.transaction(replace_statements(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::trie::NodeBatch;
    use worker_shell::sql::STATEMENT_PARAMETERS_MAX;

    fn address(byte: u8) -> Address {
        Address([byte; 20])
    }

    fn batch(nodes: usize, accounts: usize) -> ShardBatch {
        let mut node_batch = NodeBatch::default();
        for index in 0..nodes {
            let mut prefix = [0u8; 20];
            prefix[..8].copy_from_slice(&(index as u64).to_be_bytes());
            let position = NodePosition::containing(&Address(prefix), 64).expect("depth 64");
            node_batch.put(
                position,
                Node::Internal {
                    left: Hash([1; 32]),
                    right: Hash([2; 32]),
                },
            );
        }
        ShardBatch {
            nodes: node_batch,
            accounts: (0..accounts)
                .map(|index| {
                    let mut bytes = [0u8; 20];
                    bytes[..8].copy_from_slice(&(index as u64).to_be_bytes());
                    (Address(bytes), Account::default())
                })
                .collect(),
            meta: ShardMeta {
                shard: 3,
                applied_height: 7,
                root: Hash([9; 32]),
            },
        }
    }

    /// Runs `statements` on an in-memory SQLite database with the shard's schema, as the
    /// store would (the bundled library, natively), and returns it.
    fn run_on_sqlite(statements: &[Statement]) -> rusqlite::Connection {
        let connection = rusqlite::Connection::open_in_memory().expect("SQLite opens");
        for statement in SCHEMA {
            connection.execute(statement, []).expect("the schema");
        }
        for statement in statements {
            let values = statement.bindings.iter().map(|value| match value {
                SqlStorageValue::Blob(bytes) => rusqlite::types::Value::Blob(bytes.clone()),
                SqlStorageValue::Integer(number) => rusqlite::types::Value::Integer(*number),
                SqlStorageValue::String(text) => rusqlite::types::Value::Text(text.clone()),
                other => unreachable!("a binding the statements do not use: {other:?}"),
            });
            connection
                .execute(&statement.query, rusqlite::params_from_iter(values))
                .map_err(|error| format!("{}: {error}", statement.query))
                .expect("every statement runs");
        }
        connection
    }

    /// Rows, each its columns' bytes.
    type Rows = Vec<Vec<Vec<u8>>>;

    /// Every row of `table`, its columns as blobs (integers as their decimal text).
    fn stored(connection: &rusqlite::Connection, table: &str) -> Rows {
        let mut query = connection
            .prepare(&format!("SELECT * FROM {table} ORDER BY 1"))
            .expect("the table is readable");
        let columns = query.column_count();
        query
            .query_map([], |row| {
                (0..columns)
                    .map(|index| {
                        Ok(match row.get::<_, rusqlite::types::Value>(index)? {
                            rusqlite::types::Value::Blob(bytes) => bytes,
                            rusqlite::types::Value::Integer(number) => {
                                number.to_string().into_bytes()
                            }
                            other => unreachable!("column {index} holds {other:?}"),
                        })
                    })
                    .collect()
            })
            .expect("the rows")
            .map(|row| row.expect("a row"))
            .collect()
    }

    /// The rows `batch` should leave, as [`node_columns`] and [`account_columns`] encode them,
    /// in key order.
    fn expected_rows(batch: &ShardBatch) -> (Rows, Rows) {
        let nodes = batch
            .nodes
            .puts()
            .map(|(position, node)| node_columns(position, node));
        let accounts = batch
            .accounts
            .iter()
            .map(|(address, account)| account_columns(address, account));
        (sorted_rows(nodes), sorted_rows(accounts))
    }

    /// `rows` as [`stored`] returns a table's: sorted (by key, their first column).
    fn sorted_rows<const COLUMNS: usize>(rows: impl Iterator<Item = [Vec<u8>; COLUMNS]>) -> Rows {
        let mut rows: Rows = rows.map(Vec::from).collect();
        rows.sort();
        rows
    }

    #[test]
    fn statements_stay_under_the_parameter_limit_and_write_everything_once() {
        for (nodes, accounts) in [(0, 0), (1, 1), (50, 33), (51, 34), (4_097, 567)] {
            let batch = batch(nodes, accounts);
            let statements = batch_statements(&batch);
            for statement in &statements {
                assert!(statement.bindings.len() <= STATEMENT_PARAMETERS_MAX);
                let placeholders = statement.query.matches('?').count();
                assert_eq!(
                    placeholders,
                    statement.bindings.len(),
                    "{}",
                    statement.query
                );
            }
            // A statement per 4,096 rows of a table, whatever their number.
            let writing = |table: &str| {
                statements
                    .iter()
                    .filter(|statement| statement.query.contains(&format!("INTO {table} (")))
                    .count()
            };
            assert_eq!(
                (writing("nodes"), writing("accounts")),
                (nodes.div_ceil(4_096), accounts.div_ceil(4_096))
            );
            let connection = run_on_sqlite(&statements);
            assert_eq!(
                (
                    stored(&connection, "nodes"),
                    stored(&connection, "accounts")
                ),
                expected_rows(&batch),
                "{nodes} nodes, {accounts} accounts"
            );
            let meta_statements: Vec<usize> = statements
                .iter()
                .enumerate()
                .filter(|(_, statement)| statement.query.contains("INTO meta "))
                .map(|(index, _)| index)
                .collect();
            assert_eq!(
                meta_statements,
                [statements.len() - 1],
                "metadata once, last"
            );
        }
    }

    #[test]
    fn a_second_batch_replaces_the_rows_it_rewrites() {
        let first = batch(30, 20);
        let mut second = batch(10, 5);
        for (_, account) in &mut second.accounts {
            account.nonce = 9;
            account.balance = U256::from(77u64);
        }
        let connection =
            run_on_sqlite(&[batch_statements(&first), batch_statements(&second)].concat());
        let (_, first_accounts) = expected_rows(&first);
        let (_, second_accounts) = expected_rows(&second);
        let accounts = stored(&connection, "accounts");
        assert_eq!(accounts.len(), 20, "no account twice");
        assert_eq!(accounts[..5], second_accounts[..]);
        assert_eq!(accounts[5..], first_accounts[5..]);
    }

    #[test]
    fn a_replace_empties_every_state_table_before_writing_the_batch() {
        for (nodes, accounts) in [(0, 0), (3, 2), (1_234, 567)] {
            let batch = batch(nodes, accounts);
            let statements = replace_statements(&batch);
            let deletes: Vec<&str> = statements[..3]
                .iter()
                .map(|statement| {
                    assert!(statement.bindings.is_empty());
                    statement.query.as_str()
                })
                .collect();
            assert_eq!(
                deletes,
                [
                    "DELETE FROM nodes",
                    "DELETE FROM accounts",
                    "DELETE FROM meta"
                ]
            );
            // Then exactly what a commit of the batch writes, and nothing deletes after it.
            assert_eq!(statements[3..], batch_statements(&batch)[..]);
            assert!(
                statements[3..]
                    .iter()
                    .all(|statement| !statement.query.contains("DELETE"))
            );
        }
    }

    #[test]
    fn rows_read_back_as_written() {
        let meta = ShardMeta {
            shard: ShardIndex::MAX,
            applied_height: u64::MAX,
            root: Hash([0xee; 32]),
        };
        // The id column is not selected back.
        assert_eq!(meta_from_row(&meta_row(&meta)[1..]), Ok(meta));
        let account = Account {
            nonce: u64::MAX - 1,
            balance: U256::MAX - U256::from(5u64),
        };
        assert_eq!(
            account_from_row(&account_row(&address(1), &account)[1..]),
            Ok(account)
        );
        let leaf = Node::Leaf {
            address: address(0xff),
            account: Account {
                nonce: u64::MAX,
                balance: U256::MAX,
            },
        };
        let row = node_row(&NodePosition::root(), &leaf);
        assert_eq!(node_from_row(&row[1..]), Ok(leaf));
        assert!(matches!(&row[1], SqlStorageValue::Blob(bytes) if bytes.len() <= NODE_BYTES_MAX));
    }

    #[test]
    fn malformed_rows_are_store_errors_not_panics() {
        let short = vec![
            SqlStorageValue::Blob(vec![0; 7]),
            SqlStorageValue::Blob(vec![0; 32]),
        ];
        assert!(matches!(account_from_row(&short), Err(TrieError::Store(_))));
        assert!(matches!(account_from_row(&[]), Err(TrieError::Store(_))));
        let float_shard = vec![
            SqlStorageValue::Float(1.5),
            SqlStorageValue::Blob(vec![0; 8]),
            SqlStorageValue::Blob(vec![0; 32]),
        ];
        assert!(matches!(
            meta_from_row(&float_shard),
            Err(TrieError::Store(_))
        ));
        let big_shard = vec![
            SqlStorageValue::Integer(1 << 20),
            SqlStorageValue::Blob(vec![0; 8]),
            SqlStorageValue::Blob(vec![0; 32]),
        ];
        assert!(matches!(
            meta_from_row(&big_shard),
            Err(TrieError::Store(_))
        ));
        assert!(matches!(
            node_from_row(&[SqlStorageValue::Blob(vec![0xc1])]),
            Err(TrieError::Store(_))
        ));
        assert!(matches!(
            node_from_row(&[SqlStorageValue::Null]),
            Err(TrieError::Store(_))
        ));
    }
}
