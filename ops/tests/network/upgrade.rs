//! A network started on storage that an earlier build wrote.

use ledger::api::TxState;
use rusqlite::Connection;

use crate::COMMIT_TIMEOUT;
use crate::archive::commit_blocks;
use crate::harness::{Network, Transfers};

/// The `Sequencer`'s class, as its storage folder is named.
const SEQUENCER: &str = "edgeledger-sequencer-Sequencer";

/// The tables layout version 2 made `WITHOUT ROWID`.
const REBUILT_IN_VERSION_2: &[&str] = &["pending", "txs", "rejected", "archived_txs"];

/// A `Sequencer` whose storage has the first layout (rowid tables, no layout version: what
/// every build before versions wrote) is migrated when it starts: the history it held is still
/// served, the chain goes on from it, and its tables have the current layout.
#[test]
fn a_sequencer_store_of_the_first_layout_is_migrated_when_it_starts() {
    let mut network = Network::start(1, 2);
    let mut transfers = Transfers::new(&network);
    let before = commit_blocks(&network, &mut transfers, 2);
    network.restart_editing_storage(SEQUENCER, |database| {
        assert_eq!(without_rowid_tables(database), REBUILT_IN_VERSION_2);
        downgrade_to_the_first_layout(database);
        assert!(without_rowid_tables(database).is_empty());
    });

    let answers = network.client.wait_final(&before, COMMIT_TIMEOUT);
    assert!(
        answers
            .iter()
            .all(|answer| answer.status == TxState::Committed),
        "{answers:?}"
    );
    commit_blocks(&network, &mut transfers, 1);
    transfers.assert_on_chain(&network, "after the migration");

    network.restart_editing_storage(SEQUENCER, |database| {
        assert_eq!(without_rowid_tables(database), REBUILT_IN_VERSION_2);
        let version: Vec<u8> = database
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |row| row.get(0),
            )
            .expect("the migration recorded the layout's version");
        assert!(!version.is_empty());
    });
    transfers.assert_on_chain(&network, "after a second start");
}

/// The names of the database's `WITHOUT ROWID` tables, sorted as [`REBUILT_IN_VERSION_2`].
fn without_rowid_tables(database: &Connection) -> Vec<String> {
    let mut names: Vec<String> = table_definitions(database)
        .into_iter()
        .filter(|(_, sql)| sql.ends_with("WITHOUT ROWID"))
        .map(|(name, _)| name)
        .collect();
    let order = |name: &String| REBUILT_IN_VERSION_2.iter().position(|table| table == name);
    names.sort_by_key(order);
    names
}

/// The `Sequencer`'s tables and their definitions (not the runtime's own `_cf_` tables).
fn table_definitions(database: &Connection) -> Vec<(String, String)> {
    let mut query = database
        .prepare(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql IS NOT NULL \
             AND substr(name, 1, 4) != '_cf_'",
        )
        .expect("the schema is readable");
    query
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("the schema is readable")
        .map(|row| row.expect("a schema row"))
        .collect()
}

/// Rewrites the current layout as the first one: each `WITHOUT ROWID` table becomes a rowid
/// table of the same columns (rows kept), with its indexes, and the layout version goes.
fn downgrade_to_the_first_layout(database: &Connection) {
    for (name, sql) in table_definitions(database) {
        let Some(columns) = sql.strip_suffix("WITHOUT ROWID") else {
            continue;
        };
        // `CREATE TABLE "name" (columns)`: a renamed table's name is quoted.
        let columns = columns
            .find('(')
            .map(|start| columns[start..].trim())
            .expect("the definition lists columns");
        let indexes: Vec<String> = database
            .prepare(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 \
                      AND sql IS NOT NULL",
            )
            .expect("the schema is readable")
            .query_map([&name], |row| row.get(0))
            .expect("the schema is readable")
            .map(|row| row.expect("an index"))
            .collect();
        database
            .execute_batch(&format!(
                "CREATE TABLE {name}_rowid {columns};
                 INSERT INTO {name}_rowid SELECT * FROM {name};
                 DROP TABLE {name};
                 ALTER TABLE {name}_rowid RENAME TO {name};
                 {}",
                indexes.join(";\n")
            ))
            .expect("the table is rewritten");
    }
    database
        .execute("DELETE FROM meta WHERE key = 'schema_version'", [])
        .expect("the version is forgotten");
}
