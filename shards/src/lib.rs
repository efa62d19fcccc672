//! The `Shard` Durable Object: one per address range, holding that range's state tree.
//!
//! A thin shell over [`ledger::shard::Shard`]: it stores the tree, the account table and the
//! metadata in the object's SQLite database (`store`), learns which shard it is from its
//! object name ([`ledger::wire::shard_object_name`]), initialises itself from the genesis on
//! first use, and serves the internal calls ([`ledger::wire::InternalCall`]) of the sequencer
//! and the front door (`Witness`, `Apply`, `ShardAccount`) and of the archiver
//! (`SnapshotOpen`, `SnapshotPage`, `ShardRestore`: see `backup`). The Worker itself answers
//! every public request with 404: the shards are reachable only through the `SHARD` Durable
//! Object binding.

mod backup;
mod cache;
mod errors;
// `#[durable_object]` generates public glue without doc comments.
#[allow(missing_docs)]
mod object;
mod store;

use ledger::api::{ApiError, Format};
use worker::{Context, Env, Request, Response, event};

pub use object::Shard;

/// No public endpoints: every request to the Worker is a JSON 404.
#[event(fetch)]
async fn fetch(request: Request, _env: Env, _context: Context) -> worker::Result<Response> {
    let path = request.path();
    worker_shell::error_answer(
        Format::Json,
        ApiError::not_found(format!(
            "the shards serve no public requests ({path}); they are reached through the SHARD binding"
        )),
    )
}
