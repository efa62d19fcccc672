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
//! natively; only [`SqlShardStore`] touches the runtime.

use ledger::codec;
use ledger::primitives::{Address, Hash, U256};
use ledger::shard::{ShardBatch, ShardMeta, ShardStore};
use ledger::state::{Account, ShardIndex};
use ledger::trie::{Node, NodePosition, TrieError, TrieResult, TrieStore};
use worker::js_sys::{Function, Reflect};
use worker::wasm_bindgen::closure::Closure;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::{SqlStorage, SqlStorageValue, Storage};
pub(crate) use worker_shell::sql::{Statement, insert_all, insert_rows, plain};

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

/// The columns of every account-shaped table, in row order ([`account_row`]).
pub(crate) const ACCOUNT_COLUMNS: [&str; 3] = ["address", "nonce", "balance"];

/// The columns of every metadata-shaped table, in row order ([`meta_row`]).
pub(crate) const META_COLUMNS: [&str; 4] = ["id", "shard", "applied_height", "root"];

/// Bytes of a stored node: a leaf at its widest is about 75.
const NODE_BYTES_MAX: usize = 128;

/// A storage failure, as the tree reports it.
pub(crate) fn store_error(context: &str, error: impl std::fmt::Display) -> TrieError {
    TrieError::Store(format!("{context}: {error}"))
}

/// The statements that write `batch`: nodes and accounts in multi-row inserts that stay under
/// the parameter limit, then the metadata row.
pub(crate) fn batch_statements(batch: &ShardBatch) -> Vec<Statement> {
    let nodes = batch
        .nodes
        .puts()
        .map(|(position, node)| node_row(position, node))
        .collect();
    let mut statements = insert_all("nodes", &["position", "node"], nodes);
    statements.extend(account_statements("accounts", &batch.accounts));
    statements.push(insert_rows(
        "meta",
        &META_COLUMNS,
        vec![meta_row(&batch.meta)],
    ));
    statements
}

/// Multi-row inserts of `accounts` into the account-shaped `table`, under the parameter limit.
pub(crate) fn account_statements(table: &str, accounts: &[(Address, Account)]) -> Vec<Statement> {
    let rows = accounts
        .iter()
        .map(|(address, account)| account_row(address, account))
        .collect();
    insert_all(table, &ACCOUNT_COLUMNS, rows)
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

/// A `nodes` row: position key, encoded node.
fn node_row(position: &NodePosition, node: &Node) -> Vec<SqlStorageValue> {
    vec![
        SqlStorageValue::Blob(position.to_key_bytes().to_vec()),
        SqlStorageValue::Blob(codec::encode(node)),
    ]
}

/// An `accounts` row: address, nonce, balance.
pub(crate) fn account_row(address: &Address, account: &Account) -> Vec<SqlStorageValue> {
    vec![
        SqlStorageValue::Blob(address.0.to_vec()),
        SqlStorageValue::Blob(account.nonce.to_be_bytes().to_vec()),
        SqlStorageValue::Blob(account.balance.to_be_bytes::<32>().to_vec()),
    ]
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
                .map(|index| (address(index as u8), Account::default()))
                .collect(),
            meta: ShardMeta {
                shard: 3,
                applied_height: 7,
                root: Hash([9; 32]),
            },
        }
    }

    #[test]
    fn statements_stay_under_the_parameter_limit_and_write_everything_once() {
        for (nodes, accounts) in [(0, 0), (1, 1), (50, 33), (51, 34), (1_234, 567)] {
            let statements = batch_statements(&batch(nodes, accounts));
            let mut node_rows = 0;
            let mut account_rows = 0;
            for statement in &statements {
                assert!(statement.bindings.len() <= STATEMENT_PARAMETERS_MAX);
                let placeholders = statement.query.matches('?').count();
                assert_eq!(
                    placeholders,
                    statement.bindings.len(),
                    "{}",
                    statement.query
                );
                if statement.query.contains("INTO nodes ") {
                    node_rows += statement.bindings.len() / 2;
                } else if statement.query.contains("INTO accounts ") {
                    account_rows += statement.bindings.len() / 3;
                }
            }
            assert_eq!((node_rows, account_rows), (nodes, accounts));
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
