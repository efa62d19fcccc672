//! What a shard answers when it refuses: every [`ShardError`] as an [`ApiError`] with a precise
//! status, the refusals of the backup and restore calls, and which shard an object is, from
//! its name.

use ledger::api::ApiError;
use ledger::primitives::Hash;
use ledger::shard::{ShardError, ShardMeta};
use ledger::state::{ShardIndex, ShardLayout};
use ledger::trie::TrieError;
use ledger::wire::shard_object_name;

/// The status and code of a shard's refusal:
/// - 409 when the request does not fit the shard's state: the roots disagree (one side is
///   behind) or the write set does not give the certified root;
/// - 400 when the request is wrong whatever the state: another shard's index or address, too
///   many addresses;
/// - 500 when storage failed or holds something impossible (never the caller's fault).
pub(crate) fn shard_error(error: ShardError) -> ApiError {
    let (status, code) = match &error {
        ShardError::RootMismatch { .. } => (409, "root_mismatch"),
        ShardError::WrongResult { .. } => (409, "wrong_result"),
        ShardError::WrongShard { .. } => (400, "wrong_shard"),
        ShardError::AddressOutsideShard(_) => (400, "address_outside_shard"),
        ShardError::TooManyAddresses { .. } => (400, "too_many_addresses"),
        ShardError::StoreLostWrite { .. } => (500, "store_lost_write"),
        ShardError::Trie(trie) => match trie {
            TrieError::TooManyAccounts { .. } => (400, "too_many_addresses"),
            TrieError::Store(_) => (500, "storage_error"),
            TrieError::Corrupt { .. } => (500, "corrupt_state"),
            // A full store covers every address; the rest can only come from a broken store.
            TrieError::NotInWitness { .. }
            | TrieError::AddressOutsideSubtree { .. }
            | TrieError::DepthExceeded { .. }
            | TrieError::TooManyNodes { .. }
            | TrieError::ShardCountMismatch { .. }
            | TrieError::PartPositionMismatch { .. }
            | TrieError::ShardRootMismatch { .. }
            | TrieError::StateRootMismatch { .. } => (500, "corrupt_state"),
        },
    };
    ApiError::new(status, code, error.to_string())
}

/// A storage failure outside the shard machine (opening the tables, reading the metadata).
pub(crate) fn storage_error(error: TrieError) -> ApiError {
    shard_error(ShardError::Trie(error))
}

/// 409 `state_moved`: a snapshot was asked of `expected`, but the shard is elsewhere (it
/// applied another block since the archiver read the head, or has not applied it yet).
pub(crate) fn state_moved(meta: &ShardMeta, expected: Hash) -> ApiError {
    ApiError::new(
        409,
        "state_moved",
        format!(
            "shard {} is at root {} (height {}), the snapshot expects root {expected}",
            meta.shard, meta.root, meta.applied_height
        ),
    )
}

/// 409 `no_snapshot`: a page was asked for before any snapshot was opened.
pub(crate) fn no_snapshot() -> ApiError {
    ApiError::new(
        409,
        "no_snapshot",
        "no snapshot was opened on this shard: open one first",
    )
}

/// 409 `no_restore_in_progress`: a restore page or finish without a `Begin`.
pub(crate) fn no_restore_in_progress() -> ApiError {
    ApiError::new(
        409,
        "no_restore_in_progress",
        "no restore is being staged on this shard: begin one first",
    )
}

/// What finishing a restore refused: a root that is not the certified one is the backup's
/// fault (422 `restore_root_mismatch`, nothing was written); the rest as any shard refusal.
pub(crate) fn restore_error(error: ShardError) -> ApiError {
    match &error {
        ShardError::WrongResult {
            height,
            expected,
            computed,
        } => ApiError::new(
            422,
            "restore_root_mismatch",
            format!(
                "the staged accounts hash to {computed}, not to the certified root {expected} \
                 at height {height}: nothing was written"
            ),
        ),
        _ => shard_error(error),
    }
}

/// The shard an object named `name` serves: the inverse of [`shard_object_name`], refusing
/// anything else (another spelling of the number included) and indices the layout lacks.
pub(crate) fn shard_of_object(name: &str, layout: ShardLayout) -> Result<ShardIndex, ApiError> {
    let index = name
        .strip_prefix("shard-")
        .and_then(|digits| digits.parse::<ShardIndex>().ok())
        .filter(|index| shard_object_name(*index) == name)
        .ok_or_else(|| ApiError::not_found(format!("no shard is named {name:?}")))?;
    if u32::from(index) >= layout.shard_count() {
        return Err(ApiError::not_found(format!(
            "shard {index} does not exist: the chain has {} shards",
            layout.shard_count()
        )));
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::primitives::Address;

    #[test]
    fn object_names_parse_back_to_their_shard() {
        let layout = ShardLayout::new(8).expect("256 shards");
        for index in [0, 1, 9, 10, 255] {
            assert_eq!(
                shard_of_object(&shard_object_name(index), layout),
                Ok(index)
            );
        }
    }

    #[test]
    fn other_names_and_missing_shards_are_404() {
        let layout = ShardLayout::new(2).expect("4 shards");
        for name in [
            "shard-4",
            "shard-65536",
            "shard-01",
            "shard-+1",
            "shard--1",
            "shard-",
            "shard- 1",
            "Shard-1",
            "sequencer",
            "",
        ] {
            let error = shard_of_object(name, layout).expect_err(name);
            assert_eq!((error.status, error.code), (404, "not_found"), "{name}");
        }
    }

    #[test]
    fn backup_and_restore_refusals_have_precise_statuses() {
        let meta = ShardMeta {
            shard: 1,
            applied_height: 12,
            root: Hash([2; 32]),
        };
        let moved = state_moved(&meta, Hash([3; 32]));
        assert_eq!((moved.status, moved.code), (409, "state_moved"));
        for named in [
            meta.root.to_string(),
            Hash([3; 32]).to_string(),
            "12".into(),
        ] {
            assert!(moved.message.contains(&named), "{}", moved.message);
        }
        assert_eq!(
            (no_snapshot().status, no_snapshot().code),
            (409, "no_snapshot")
        );
        let none = no_restore_in_progress();
        assert_eq!((none.status, none.code), (409, "no_restore_in_progress"));
        let mismatch = restore_error(ShardError::WrongResult {
            height: 12,
            expected: Hash([3; 32]),
            computed: Hash([4; 32]),
        });
        assert_eq!(
            (mismatch.status, mismatch.code),
            (422, "restore_root_mismatch")
        );
        let storage = restore_error(ShardError::Trie(TrieError::Store("gone".into())));
        assert_eq!((storage.status, storage.code), (500, "storage_error"));
    }

    #[test]
    fn refusals_have_precise_statuses() {
        let hash = Hash([1; 32]);
        let cases = [
            (
                ShardError::RootMismatch {
                    expected: hash,
                    actual: Hash::ZERO,
                    applied_height: 3,
                },
                409,
                "root_mismatch",
            ),
            (
                ShardError::WrongResult {
                    height: 4,
                    expected: hash,
                    computed: Hash::ZERO,
                },
                409,
                "wrong_result",
            ),
            (
                ShardError::WrongShard {
                    got: 1,
                    expected: 2,
                },
                400,
                "wrong_shard",
            ),
            (
                ShardError::AddressOutsideShard(Address::ZERO),
                400,
                "address_outside_shard",
            ),
            (
                ShardError::TooManyAddresses { got: 9, max: 8 },
                400,
                "too_many_addresses",
            ),
            (
                ShardError::StoreLostWrite {
                    expected: hash,
                    stored: Hash::ZERO,
                },
                500,
                "store_lost_write",
            ),
            (
                ShardError::Trie(TrieError::Store("disk on fire".into())),
                500,
                "storage_error",
            ),
            (
                ShardError::Trie(TrieError::TooManyAccounts { got: 9, max: 8 }),
                400,
                "too_many_addresses",
            ),
        ];
        for (error, status, code) in cases {
            let message = error.to_string();
            let api = shard_error(error);
            assert_eq!((api.status, api.code), (status, code), "{message}");
            assert_eq!(api.message, message);
        }
    }
}
