//! SQL statements built as values, for the objects' SQLite storage.
//!
//! A Durable Object's SQLite binds at most [`STATEMENT_PARAMETERS_MAX`] parameters per
//! statement, and every `exec` is a call through the runtime that costs far more than the row
//! it writes (a cursor, a typed array per blob, work for the garbage collector). So many rows
//! go in few statements: multi-row inserts and `IN (…)` deletes, each as full as the limit
//! allows. Building the statements is plain code, tested natively; running them is the
//! caller's.

use worker::SqlStorageValue;

/// Bound parameters in one statement: Durable Object SQLite allows at most 100.
pub const STATEMENT_PARAMETERS_MAX: usize = 100;

/// One SQL statement with its bound values.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// The SQL, with `?` placeholders.
    pub query: String,
    /// One value per placeholder.
    pub bindings: Vec<SqlStorageValue>,
}

/// A statement without parameters.
pub fn plain(query: &str) -> Statement {
    Statement {
        query: query.to_owned(),
        bindings: Vec::new(),
    }
}

/// A multi-row insert (or replace) of `rows`, each `columns.len()` values. Callers keep
/// `rows × columns` within [`STATEMENT_PARAMETERS_MAX`] (or use [`insert_all`]).
pub fn insert_rows(table: &str, columns: &[&str], rows: Vec<Vec<SqlStorageValue>>) -> Statement {
    values_statement("INSERT OR REPLACE", table, columns, rows)
}

/// Inserts (or replaces) every row of `rows` in as few statements as the parameter limit
/// allows. No rows, no statements.
///
/// Inside a transaction (every write of an invocation is in one) SQLite gives each of these
/// statements of more than one row a statement journal: a temporary file that receives a
/// copy of every page the statement changes, so that the statement alone can be undone if a
/// constraint stops it half-way. Where the keys are new, [`insert_new_all`] needs none.
pub fn insert_all(
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<SqlStorageValue>>,
) -> Vec<Statement> {
    chunked("INSERT OR REPLACE", table, columns, rows)
}

/// Inserts rows whose keys are new by construction (a committed block's transactions, say),
/// in as few statements as the parameter limit allows. `INSERT OR IGNORE` cannot stop
/// half-way, so SQLite keeps no statement journal for it (see [`insert_all`]); a row whose key
/// is already stored leaves the stored row as it was. No rows, no statements.
pub fn insert_new_all(
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<SqlStorageValue>>,
) -> Vec<Statement> {
    chunked("INSERT OR IGNORE", table, columns, rows)
}

/// A statement of many rows with two bound values: `bytes` (the rows' fixed-width columns end
/// to end, which `query` cuts up with `substr`) and a JSON array of `items` (which `query`
/// expands with `json_each`). Each bound value is a call across the runtime, so rows bound a
/// value per column cost far more than the rows themselves.
pub fn blob_and_json_array(query: &str, bytes: Vec<u8>, items: &[String]) -> Statement {
    Statement {
        query: query.to_owned(),
        bindings: vec![
            SqlStorageValue::Blob(bytes),
            SqlStorageValue::String(format!("[{}]", items.join(","))),
        ],
    }
}

/// A common table expression `k(i)` counting from 0 to one less than a bound number: a query
/// that begins with it takes row `i` of a bound blob of fixed-width rows with `substr(?, i *
/// width + 1, width)` ([`count_and_blob`] binds the two).
pub const ROW_INDEXES: &str =
    "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < ?)";

/// A statement of `rows` rows with two bound values: their number (for [`ROW_INDEXES`],
/// with which `query` begins) and `bytes`, the rows' fixed-width columns end to end. Each bound
/// value is a call across the runtime, so rows bound a value per column cost far more.
pub fn count_and_blob(query: &str, rows: usize, bytes: Vec<u8>) -> Statement {
    Statement {
        query: query.to_owned(),
        bindings: vec![
            // A statement's rows are a few thousand, far from i64's bound.
            SqlStorageValue::Integer(rows as i64),
            SqlStorageValue::Blob(bytes),
        ],
    }
}

/// `{verb} INTO` statements of `rows`, each as many rows as the parameter limit allows.
fn chunked(
    verb: &str,
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<SqlStorageValue>>,
) -> Vec<Statement> {
    let per_statement = (STATEMENT_PARAMETERS_MAX / columns.len().max(1)).max(1);
    let mut statements = Vec::with_capacity(rows.len().div_ceil(per_statement));
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(per_statement).collect();
        statements.push(values_statement(verb, table, columns, chunk));
    }
    statements
}

/// `{verb} INTO table (columns) VALUES (…), (…)` binding `rows`.
fn values_statement(
    verb: &str,
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<SqlStorageValue>>,
) -> Statement {
    let placeholders = format!("({})", vec!["?"; columns.len()].join(", "));
    let query = format!(
        "{verb} INTO {table} ({}) VALUES {}",
        columns.join(", "),
        vec![placeholders; rows.len()].join(", ")
    );
    Statement {
        query,
        bindings: rows.into_iter().flatten().collect(),
    }
}

/// Deletes the rows of `table` whose `column` is one of `values`, in as few statements as the
/// parameter limit allows. No values, no statements.
pub fn delete_where_in(table: &str, column: &str, values: Vec<SqlStorageValue>) -> Vec<Statement> {
    where_in(&format!("DELETE FROM {table}"), column, values)
}

/// Selects `columns` of the rows of `table` whose `column` is one of `values`, in as few
/// statements as the parameter limit allows (the caller gathers their rows). No values, no
/// statements.
pub fn select_where_in(
    columns: &str,
    table: &str,
    column: &str,
    values: Vec<SqlStorageValue>,
) -> Vec<Statement> {
    where_in(&format!("SELECT {columns} FROM {table}"), column, values)
}

/// `head WHERE column IN (…)` over `values`, at most the parameter limit per statement.
fn where_in(head: &str, column: &str, values: Vec<SqlStorageValue>) -> Vec<Statement> {
    let mut statements = Vec::with_capacity(values.len().div_ceil(STATEMENT_PARAMETERS_MAX));
    let mut values = values.into_iter().peekable();
    while values.peek().is_some() {
        let bindings: Vec<_> = values.by_ref().take(STATEMENT_PARAMETERS_MAX).collect();
        statements.push(Statement {
            query: format!(
                "{head} WHERE {column} IN ({})",
                vec!["?"; bindings.len()].join(", ")
            ),
            bindings,
        });
    }
    statements
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(byte: u8) -> SqlStorageValue {
        SqlStorageValue::Blob(vec![byte])
    }

    #[test]
    fn inserts_fill_statements_up_to_the_parameter_limit() {
        let rows: Vec<Vec<SqlStorageValue>> = (0..101u8)
            .map(|index| vec![blob(index), blob(index), blob(index)])
            .collect();
        let statements = insert_all("t", &["a", "b", "c"], rows);
        // 33 rows of 3 fit under 100 parameters: 33 + 33 + 33 + 2.
        let sizes: Vec<usize> = statements.iter().map(|s| s.bindings.len()).collect();
        assert_eq!(sizes, [99, 99, 99, 6]);
        assert_eq!(
            statements[3].query,
            "INSERT OR REPLACE INTO t (a, b, c) VALUES (?, ?, ?), (?, ?, ?)"
        );
        assert_eq!(statements[3].bindings[0], blob(99));
        assert!(insert_all("t", &["a"], Vec::new()).is_empty());
    }

    #[test]
    fn new_rows_go_in_with_or_ignore_up_to_the_parameter_limit() {
        let rows: Vec<Vec<SqlStorageValue>> = (0..51u8)
            .map(|index| vec![blob(index), blob(index)])
            .collect();
        let statements = insert_new_all("t", &["a", "b"], rows);
        let sizes: Vec<usize> = statements.iter().map(|s| s.bindings.len()).collect();
        assert_eq!(sizes, [100, 2]);
        assert_eq!(
            statements[1].query,
            "INSERT OR IGNORE INTO t (a, b) VALUES (?, ?)"
        );
        assert_eq!(statements[1].bindings, [blob(50), blob(50)]);
        assert!(insert_new_all("t", &["a"], Vec::new()).is_empty());
    }

    #[test]
    fn deletes_take_at_most_the_parameter_limit_each() {
        let values: Vec<SqlStorageValue> = (0..=200u8).map(blob).collect();
        let statements = delete_where_in("t", "k", values);
        let sizes: Vec<usize> = statements.iter().map(|s| s.bindings.len()).collect();
        assert_eq!(sizes, [100, 100, 1]);
        assert_eq!(statements[2].query, "DELETE FROM t WHERE k IN (?)");
        assert_eq!(statements[2].bindings, [blob(200)]);
        assert!(delete_where_in("t", "k", Vec::new()).is_empty());
    }

    #[test]
    fn selects_take_at_most_the_parameter_limit_each() {
        let values: Vec<SqlStorageValue> = (0..=100u8).map(blob).collect();
        let statements = select_where_in("1", "t", "k", values);
        let sizes: Vec<usize> = statements.iter().map(|s| s.bindings.len()).collect();
        assert_eq!(sizes, [100, 1]);
        assert_eq!(statements[1].query, "SELECT 1 FROM t WHERE k IN (?)");
        assert_eq!(statements[0].bindings[99], blob(99));
        assert!(select_where_in("1", "t", "k", Vec::new()).is_empty());
    }
}
