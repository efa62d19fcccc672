//! The tables behind backups and restores, and the checks on what the archiver sends.
//!
//! **Snapshots.** A backup reads one height's accounts over many requests while the shard
//! keeps applying blocks, so [`open_snapshot`] copies the account table into
//! `snapshot_accounts` (and the metadata it was copied at into `snapshot_meta`) in one
//! synchronous transaction, and [`snapshot_page`] pages through that frozen copy in address
//! order. `snapshot_meta` also tells "never opened" from "opened on a shard without accounts".
//!
//! **Restores.** A restore arrives in pages over several requests, so it is staged:
//! [`begin_restore`] empties `restore_accounts` and records in `restore_meta` (one row) what
//! is coming ([`PendingRestore`]: height, root, declared count) and how far it got (accounts
//! staged, last address); [`stage_page`] adds a page [`check_restore_page`] accepted, together
//! with the updated row; finishing reads everything back ([`staged_accounts`]) for
//! [`ledger::shard::Shard::restore`], which replaces the state in one transaction, and
//! [`clear_restore`] drops the staging.
//!
//! Statements, rows and checks are plain functions tested natively; the functions taking a
//! [`SqlShardStore`] only run them.

use std::collections::BTreeMap;

use ledger::api::ApiError;
use ledger::primitives::{Address, Hash};
use ledger::shard::ShardMeta;
use ledger::snapshot::SNAPSHOT_PAGE_ACCOUNTS_MAX;
use ledger::state::{Account, ShardIndex, ShardLayout};
use ledger::trie::TrieResult;
use worker::SqlStorageValue;

use crate::store::{
    ACCOUNT_COLUMNS, META_COLUMNS, SqlShardStore, Statement, account_from_row, account_statements,
    fixed_blob, insert_rows, meta_row, plain,
};

/// Bytes of a [`ledger::wire::SnapshotOpenRequest`] (an array of one 32-byte `bin`, 35 bytes)
/// or a [`ledger::wire::SnapshotPageRequest`] (an optional 20-byte `bin` and a `u32`, at most
/// 28 bytes), rounded up.
pub(crate) const SNAPSHOT_REQUEST_BYTES_MAX: usize = 64;

/// Bytes of a [`ledger::wire::ShardRestoreStep`]: the variant's map and name, and the page's
/// array header (at most 20 bytes, rounded up to 64), plus per account at most 67 bytes (as in
/// [`ledger::shard::WRITE_SET_BYTES_MAX`]: a 22-byte address and an account of a 9-byte nonce
/// and a 34-byte balance, with their array headers) for a full page.
pub(crate) const RESTORE_STEP_BYTES_MAX: usize = 64 + SNAPSHOT_PAGE_ACCOUNTS_MAX * 67;

/// Columns of `restore_meta`, in row order ([`pending_row`]).
const RESTORE_META_COLUMNS: [&str; 6] = ["id", "height", "root", "accounts", "staged", "last"];

/// A restore being staged: what `Begin` declared and how far the pages got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PendingRestore {
    /// Height of the restored block.
    pub(crate) height: u64,
    /// The shard's certified root there.
    pub(crate) root: Hash,
    /// Accounts `Begin` declared.
    pub(crate) accounts: u64,
    /// Accounts staged so far.
    pub(crate) staged: u64,
    /// The last address staged: the next page must start after it.
    pub(crate) last: Option<Address>,
}

impl PendingRestore {
    /// A restore just begun: nothing staged yet.
    pub(crate) const fn begin(height: u64, root: Hash, accounts: u64) -> Self {
        Self {
            height,
            root,
            accounts,
            staged: 0,
            last: None,
        }
    }
}

/// The `restore_meta` row: id 0, then the fields, counts as 8-byte big-endian blobs (SQLite
/// integers pass through JavaScript numbers), `last` null until a page arrives.
fn pending_row(pending: &PendingRestore) -> Vec<SqlStorageValue> {
    vec![
        SqlStorageValue::Integer(0),
        SqlStorageValue::Blob(pending.height.to_be_bytes().to_vec()),
        SqlStorageValue::Blob(pending.root.0.to_vec()),
        SqlStorageValue::Blob(pending.accounts.to_be_bytes().to_vec()),
        SqlStorageValue::Blob(pending.staged.to_be_bytes().to_vec()),
        match pending.last {
            Some(address) => SqlStorageValue::Blob(address.0.to_vec()),
            None => SqlStorageValue::Null,
        },
    ]
}

/// Decodes the `restore_meta` row selected as `height, root, accounts, staged, last`.
pub(crate) fn pending_from_row(row: &[SqlStorageValue]) -> TrieResult<PendingRestore> {
    let last = match row.get(4) {
        Some(SqlStorageValue::Null) => None,
        _ => Some(Address(fixed_blob(row, 4)?)),
    };
    Ok(PendingRestore {
        height: u64::from_be_bytes(fixed_blob(row, 0)?),
        root: Hash(fixed_blob(row, 1)?),
        accounts: u64::from_be_bytes(fixed_blob(row, 2)?),
        staged: u64::from_be_bytes(fixed_blob(row, 3)?),
        last,
    })
}

/// Decodes an account-shaped row selected as `address, nonce, balance`.
pub(crate) fn entry_from_row(row: &[SqlStorageValue]) -> TrieResult<(Address, Account)> {
    let address = Address(fixed_blob(row, 0)?);
    let account = account_from_row(row.get(1..).unwrap_or_default())?;
    Ok((address, account))
}

/// The statements that freeze the account table as of `meta`: replace the copy and record
/// what it is of. Run in one transaction with no await before it, no apply can interleave.
pub(crate) fn snapshot_open_statements(meta: &ShardMeta) -> Vec<Statement> {
    vec![
        plain("DELETE FROM snapshot_accounts"),
        plain(
            "INSERT INTO snapshot_accounts (address, nonce, balance) \
             SELECT address, nonce, balance FROM accounts",
        ),
        insert_rows("snapshot_meta", &META_COLUMNS, vec![meta_row(meta)]),
    ]
}

/// The query of a snapshot page: at most `limit` accounts after `after` (or from the first),
/// in address order. Addresses are 20-byte blobs, which SQLite orders bytewise, as
/// [`Address`] is ordered.
pub(crate) fn snapshot_page_statement(after: Option<&Address>, limit: u32) -> Statement {
    let limit = SqlStorageValue::Integer(limit.into());
    match after {
        Some(after) => Statement {
            query: "SELECT address, nonce, balance FROM snapshot_accounts WHERE address > ? \
                    ORDER BY address LIMIT ?"
                .to_owned(),
            bindings: vec![SqlStorageValue::Blob(after.0.to_vec()), limit],
        },
        None => Statement {
            query: "SELECT address, nonce, balance FROM snapshot_accounts ORDER BY address LIMIT ?"
                .to_owned(),
            bindings: vec![limit],
        },
    }
}

/// The statements that begin staging `pending`, discarding any earlier staging.
pub(crate) fn restore_begin_statements(pending: &PendingRestore) -> Vec<Statement> {
    vec![
        plain("DELETE FROM restore_accounts"),
        insert_rows(
            "restore_meta",
            &RESTORE_META_COLUMNS,
            vec![pending_row(pending)],
        ),
    ]
}

/// The statements that stage a checked page and record `after`, the staging with it. Run in
/// one transaction, the row and the staged accounts never disagree.
pub(crate) fn restore_page_statements(
    after: &PendingRestore,
    accounts: &[(Address, Account)],
) -> Vec<Statement> {
    let mut statements = account_statements("restore_accounts", accounts);
    statements.push(insert_rows(
        "restore_meta",
        &RESTORE_META_COLUMNS,
        vec![pending_row(after)],
    ));
    statements
}

/// The statements that drop a finished restore's staging.
pub(crate) fn restore_clear_statements() -> Vec<Statement> {
    vec![
        plain("DELETE FROM restore_accounts"),
        plain("DELETE FROM restore_meta"),
    ]
}

/// 400 `invalid_page` unless `limit` is 1 to [`SNAPSHOT_PAGE_ACCOUNTS_MAX`].
pub(crate) fn check_page_limit(limit: u32) -> Result<(), ApiError> {
    // u32 → usize is lossless on every target this builds for (32- and 64-bit).
    if !(1..=SNAPSHOT_PAGE_ACCOUNTS_MAX).contains(&(limit as usize)) {
        return Err(ApiError::bad_request(
            "invalid_page",
            format!("a page limit of {limit}: it must be 1 to {SNAPSHOT_PAGE_ACCOUNTS_MAX}"),
        ));
    }
    Ok(())
}

/// Refuses, before anything is staged, a restore the shard could not be opened from: at height
/// 0 the root must be the genesis shard root (`genesis_root`), as every open checks (422
/// `restore_root_mismatch`, like a backup whose accounts miss the root).
pub(crate) fn check_restore_target(
    height: u64,
    root: Hash,
    genesis_root: Option<Hash>,
) -> Result<(), ApiError> {
    if height == 0 && genesis_root != Some(root) {
        return Err(ApiError::new(
            422,
            "restore_root_mismatch",
            format!("a restore to height 0 must be to this genesis's shard root, not {root}"),
        ));
    }
    Ok(())
}

/// 400 `invalid_restore_page`.
fn invalid_restore_page(message: String) -> ApiError {
    ApiError::bad_request("invalid_restore_page", message)
}

/// Checks a page against the staging so far: at most [`SNAPSHOT_PAGE_ACCOUNTS_MAX`] accounts,
/// all of `shard`, strictly increasing and after the last staged address, and no more in all
/// than `Begin` declared. Returns the staging with the page (400 `invalid_restore_page` if not).
pub(crate) fn check_restore_page(
    layout: ShardLayout,
    shard: ShardIndex,
    pending: &PendingRestore,
    accounts: &[(Address, Account)],
) -> Result<PendingRestore, ApiError> {
    if accounts.len() > SNAPSHOT_PAGE_ACCOUNTS_MAX {
        return Err(invalid_restore_page(format!(
            "a page of {} accounts (at most {SNAPSHOT_PAGE_ACCOUNTS_MAX})",
            accounts.len()
        )));
    }
    let staged = u64::try_from(accounts.len())
        .ok()
        .and_then(|count| pending.staged.checked_add(count))
        .filter(|staged| *staged <= pending.accounts)
        .ok_or_else(|| {
            invalid_restore_page(format!(
                "{} staged and {} in this page exceed the {} accounts declared",
                pending.staged,
                accounts.len(),
                pending.accounts
            ))
        })?;
    let mut last = pending.last;
    for (address, _) in accounts {
        let owner = layout.shard_of(address);
        if owner != shard {
            return Err(invalid_restore_page(format!(
                "address {address} belongs to shard {owner}, not {shard}"
            )));
        }
        if let Some(previous) = last.filter(|previous| address <= previous) {
            return Err(invalid_restore_page(format!(
                "address {address} does not come after {previous}: accounts must be staged \
                 in strictly increasing address order"
            )));
        }
        last = Some(*address);
    }
    Ok(PendingRestore {
        staged,
        last,
        ..*pending
    })
}

/// 409 `restore_incomplete` unless exactly the declared accounts were staged.
pub(crate) fn check_complete(pending: &PendingRestore, staged: usize) -> Result<(), ApiError> {
    if u64::try_from(staged).ok() != Some(pending.accounts) {
        return Err(ApiError::new(
            409,
            "restore_incomplete",
            format!(
                "{staged} accounts are staged, the restore declared {}",
                pending.accounts
            ),
        ));
    }
    Ok(())
}

/// Freezes the account table as of `meta` and counts the copy.
pub(crate) fn open_snapshot(store: &SqlShardStore, meta: &ShardMeta) -> TrieResult<u64> {
    store.transaction(snapshot_open_statements(meta))?;
    store.count_rows("snapshot_accounts")
}

/// A page of the frozen copy, or `None` if no snapshot was ever opened.
pub(crate) fn snapshot_page(
    store: &SqlShardStore,
    after: Option<&Address>,
    limit: u32,
) -> TrieResult<Option<Vec<(Address, Account)>>> {
    if store
        .row("SELECT id FROM snapshot_meta WHERE id = 0", Vec::new())?
        .is_none()
    {
        return Ok(None);
    }
    let statement = snapshot_page_statement(after, limit);
    store
        .select(&statement.query, statement.bindings, entry_from_row)
        .map(Some)
}

/// The restore being staged, if any.
pub(crate) fn pending_restore(store: &SqlShardStore) -> TrieResult<Option<PendingRestore>> {
    let row = store.row(
        "SELECT height, root, accounts, staged, last FROM restore_meta WHERE id = 0",
        Vec::new(),
    )?;
    row.as_deref().map(pending_from_row).transpose()
}

/// Starts staging `pending`, discarding any earlier staging.
pub(crate) fn begin_restore(store: &SqlShardStore, pending: &PendingRestore) -> TrieResult<()> {
    store.transaction(restore_begin_statements(pending))
}

/// Stages a checked page; `after` is the staging with it ([`check_restore_page`]).
pub(crate) fn stage_page(
    store: &SqlShardStore,
    after: &PendingRestore,
    accounts: &[(Address, Account)],
) -> TrieResult<()> {
    store.transaction(restore_page_statements(after, accounts))
}

/// Every staged account. The whole shard is in memory once, as a restore needs it to rebuild
/// the tree.
pub(crate) fn staged_accounts(store: &SqlShardStore) -> TrieResult<BTreeMap<Address, Account>> {
    store.select(
        &format!(
            "SELECT {} FROM restore_accounts ORDER BY address",
            ACCOUNT_COLUMNS.join(", ")
        ),
        Vec::new(),
        entry_from_row,
    )
}

/// Drops a finished restore's staging.
pub(crate) fn clear_restore(store: &SqlShardStore) -> TrieResult<()> {
    store.transaction(restore_clear_statements())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ACCOUNT_ROW_BYTES, account_row, count_from_row};
    use ledger::primitives::U256;
    use ledger::trie::TrieError;
    use ledger::wire::{self, ShardRestoreStep, SnapshotOpenRequest, SnapshotPageRequest};
    use worker_shell::sql::STATEMENT_PARAMETERS_MAX;

    /// Four shards; shard 2 holds the addresses starting with bits `10`.
    fn layout() -> ShardLayout {
        ShardLayout::new(2).expect("4 shards")
    }

    /// The address of shard 2 whose last bytes are `index`.
    fn address(index: u32) -> Address {
        let mut bytes = [0u8; 20];
        bytes[0] = 0x80;
        bytes[16..].copy_from_slice(&index.to_be_bytes());
        Address(bytes)
    }

    fn page(from: u32, count: u32) -> Vec<(Address, Account)> {
        (from..from + count)
            .map(|index| (address(index), Account::default()))
            .collect()
    }

    fn check_placeholders(statements: &[Statement]) {
        for statement in statements {
            assert!(statement.bindings.len() <= STATEMENT_PARAMETERS_MAX);
            assert_eq!(
                statement.query.matches('?').count(),
                statement.bindings.len(),
                "{}",
                statement.query
            );
        }
    }

    #[test]
    fn opening_a_snapshot_replaces_the_copy_and_records_its_metadata() {
        let meta = ShardMeta {
            shard: 2,
            applied_height: 9,
            root: Hash([5; 32]),
        };
        let statements = snapshot_open_statements(&meta);
        check_placeholders(&statements);
        assert_eq!(statements[0].query, "DELETE FROM snapshot_accounts");
        assert!(
            statements[1]
                .query
                .starts_with("INSERT INTO snapshot_accounts")
        );
        assert!(statements[1].query.ends_with("FROM accounts"));
        assert!(statements[2].query.contains("INTO snapshot_meta "));
        assert_eq!(statements[2].bindings, meta_row(&meta));
    }

    #[test]
    fn pages_are_asked_for_in_address_order_after_the_cursor() {
        let first = snapshot_page_statement(None, 7);
        check_placeholders(std::slice::from_ref(&first));
        assert!(first.query.ends_with("ORDER BY address LIMIT ?"));
        assert_eq!(first.bindings, [SqlStorageValue::Integer(7)]);
        let next = snapshot_page_statement(Some(&address(3)), 4_096);
        check_placeholders(std::slice::from_ref(&next));
        assert!(next.query.contains("WHERE address > ?"));
        assert_eq!(
            next.bindings,
            [
                SqlStorageValue::Blob(address(3).0.to_vec()),
                SqlStorageValue::Integer(4_096)
            ]
        );
    }

    #[test]
    fn page_limits_are_one_to_the_page_maximum() {
        let limit = |l: usize| u32::try_from(l).expect("small");
        for good in [1, 2, SNAPSHOT_PAGE_ACCOUNTS_MAX] {
            assert_eq!(check_page_limit(limit(good)), Ok(()));
        }
        for bad in [0, limit(SNAPSHOT_PAGE_ACCOUNTS_MAX + 1), u32::MAX] {
            let error = check_page_limit(bad).expect_err("refused");
            assert_eq!((error.status, error.code), (400, "invalid_page"));
        }
    }

    #[test]
    fn staging_statements_stay_under_the_parameter_limit_and_record_progress() {
        let begun = PendingRestore::begin(9, Hash([5; 32]), 10_000);
        let begin = restore_begin_statements(&begun);
        check_placeholders(&begin);
        assert_eq!(begin[0].query, "DELETE FROM restore_accounts");
        assert_eq!(begin[1].bindings, pending_row(&begun));
        for count in [0, 1, 33, 34, 4_096] {
            let accounts = page(0, count);
            let after = check_restore_page(layout(), 2, &begun, &accounts).expect("valid page");
            let statements = restore_page_statements(&after, &accounts);
            check_placeholders(&statements);
            let staged_rows: usize = statements
                .iter()
                .filter(|statement| statement.query.contains("INTO restore_accounts ("))
                .map(|statement| match &statement.bindings[1] {
                    SqlStorageValue::Blob(rows) => rows.len() / ACCOUNT_ROW_BYTES,
                    other => unreachable!("the rows are a blob, not {other:?}"),
                })
                .sum();
            assert_eq!(staged_rows, accounts.len());
            let last = statements.last().expect("the metadata row");
            assert!(last.query.contains("INTO restore_meta "));
            assert_eq!(last.bindings, pending_row(&after));
            assert_eq!(after.staged, u64::from(count));
        }
        assert_eq!(
            restore_clear_statements(),
            [
                plain("DELETE FROM restore_accounts"),
                plain("DELETE FROM restore_meta")
            ]
        );
    }

    #[test]
    fn pages_must_continue_in_order_inside_the_shard_and_the_declared_count() {
        let begun = PendingRestore::begin(9, Hash([5; 32]), 10);
        let after = check_restore_page(layout(), 2, &begun, &page(0, 4)).expect("first page");
        assert_eq!((after.staged, after.last), (4, Some(address(3))));
        let after = check_restore_page(layout(), 2, &after, &page(4, 6)).expect("second page");
        assert_eq!((after.staged, after.last), (10, Some(address(9))));
        let unchanged = check_restore_page(layout(), 2, &after, &[]).expect("an empty page");
        assert_eq!(unchanged, after);
        let mut foreign = page(20, 2);
        foreign[1].0.0[0] = 0x40;
        let mut decreasing = page(20, 2);
        decreasing.reverse();
        let mut repeated = page(20, 2);
        repeated[1] = repeated[0];
        let begun_later = PendingRestore {
            last: Some(address(30)),
            ..begun
        };
        let cases = [
            (begun, foreign, "shard 1"),
            (begun, decreasing, "strictly increasing"),
            (begun, repeated, "strictly increasing"),
            (begun_later, page(30, 1), "strictly increasing"),
            (begun, page(0, 11), "declared"),
            (after, page(10, 1), "declared"),
            (
                PendingRestore::begin(9, Hash([5; 32]), u64::MAX),
                page(0, 4_097),
                "at most",
            ),
        ];
        for (pending, accounts, reason) in cases {
            let error = check_restore_page(layout(), 2, &pending, &accounts).expect_err(reason);
            assert_eq!((error.status, error.code), (400, "invalid_restore_page"));
            assert!(error.message.contains(reason), "{}", error.message);
        }
        let near_overflow = PendingRestore {
            staged: u64::MAX - 1,
            ..PendingRestore::begin(9, Hash([5; 32]), u64::MAX)
        };
        let error = check_restore_page(layout(), 2, &near_overflow, &page(0, 2)).expect_err("");
        assert_eq!(error.code, "invalid_restore_page");
    }

    #[test]
    fn a_restore_to_height_zero_must_be_to_the_genesis_root() {
        let genesis = Some(Hash([1; 32]));
        assert_eq!(check_restore_target(0, Hash([1; 32]), genesis), Ok(()));
        assert_eq!(check_restore_target(5, Hash([2; 32]), genesis), Ok(()));
        for (root, genesis) in [(Hash([2; 32]), genesis), (Hash([1; 32]), None)] {
            let error = check_restore_target(0, root, genesis).expect_err("refused");
            assert_eq!((error.status, error.code), (422, "restore_root_mismatch"));
        }
    }

    #[test]
    fn a_restore_finishes_only_with_the_declared_count() {
        let pending = PendingRestore::begin(9, Hash([5; 32]), 3);
        assert_eq!(check_complete(&pending, 3), Ok(()));
        for staged in [0, 2, 4] {
            let error = check_complete(&pending, staged).expect_err("incomplete");
            assert_eq!((error.status, error.code), (409, "restore_incomplete"));
        }
    }

    #[test]
    fn rows_read_back_as_written() {
        let begun = PendingRestore::begin(u64::MAX, Hash([0xee; 32]), u64::MAX - 1);
        assert_eq!(pending_from_row(&pending_row(&begun)[1..]), Ok(begun));
        let staged = PendingRestore {
            staged: 17,
            last: Some(address(16)),
            ..begun
        };
        assert_eq!(pending_from_row(&pending_row(&staged)[1..]), Ok(staged));
        let account = Account {
            nonce: u64::MAX,
            balance: U256::MAX,
        };
        assert_eq!(
            entry_from_row(&account_row(&address(1), &account)),
            Ok((address(1), account))
        );
        assert_eq!(count_from_row(&[SqlStorageValue::Integer(42)]), Ok(42));
    }

    #[test]
    fn malformed_rows_are_store_errors_not_panics() {
        let store_error = |result: TrieResult<_>| matches!(result, Err(TrieError::Store(_)));
        assert!(store_error(entry_from_row(&[]).map(|_| ())));
        assert!(store_error(
            entry_from_row(&[SqlStorageValue::Blob(vec![0; 20])]).map(|_| ())
        ));
        assert!(store_error(pending_from_row(&[]).map(|_| ())));
        let mut short_last = pending_row(&PendingRestore::begin(1, Hash::ZERO, 1));
        short_last[5] = SqlStorageValue::Blob(vec![0; 19]);
        assert!(store_error(pending_from_row(&short_last[1..]).map(|_| ())));
        assert!(store_error(count_from_row(&[]).map(|_| ())));
        assert!(store_error(
            count_from_row(&[SqlStorageValue::Integer(-1)]).map(|_| ())
        ));
        assert!(store_error(
            count_from_row(&[SqlStorageValue::Float(1.5)]).map(|_| ())
        ));
    }

    #[test]
    fn the_largest_bodies_fit_their_limits() {
        let widest = Account {
            nonce: u64::MAX,
            balance: U256::MAX,
        };
        let count = u32::try_from(SNAPSHOT_PAGE_ACCOUNTS_MAX).expect("small");
        let full: Vec<(Address, Account)> =
            (0..count).map(|index| (address(index), widest)).collect();
        let page = wire::encode(&ShardRestoreStep::Page(full));
        assert!(page.len() <= RESTORE_STEP_BYTES_MAX, "{} bytes", page.len());
        let begin = wire::encode(&ShardRestoreStep::Begin {
            height: u64::MAX,
            root: Hash([0xff; 32]),
            accounts: u64::MAX,
        });
        assert!(begin.len() <= RESTORE_STEP_BYTES_MAX);
        let open = wire::encode(&SnapshotOpenRequest {
            expected_root: Hash([0xff; 32]),
        });
        let page_request = wire::encode(&SnapshotPageRequest {
            after: Some(Address([0xff; 20])),
            limit: u32::MAX,
        });
        assert!(open.len() <= SNAPSHOT_REQUEST_BYTES_MAX);
        assert!(page_request.len() <= SNAPSHOT_REQUEST_BYTES_MAX);
    }
}
