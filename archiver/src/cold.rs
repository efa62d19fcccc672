//! Cold storage: moves committed blocks beyond the hot window from the `Sequencer` to Workers
//! KV, then has the `Sequencer` prune them. [`ledger::archive`] decides the range; a run
//! moves at most `ARCHIVE_BLOCKS_PER_RUN` blocks, and the next run continues where it stopped.

use ledger::api::ErrorAnswer;
use ledger::archive::{self, ArchiveSettings, ArchiveStatus};
use ledger::wire::{ArchiveBlocksAnswer, InternalCall};
use worker::Env;

use crate::peers::{NO_BODY, Peers};

/// Binding of the KV namespace archived blocks go to.
pub(crate) const ARCHIVE_BINDING: &str = "ARCHIVE";

/// One cold-storage pass: returns the heights moved (if any) and the status afterwards.
///
/// Writing a block's key again holds the same bytes, and pruning is idempotent, so a run that
/// stops half way (or two runs at once) leaves nothing inconsistent.
pub(crate) async fn archive_old_blocks(
    env: &Env,
    peers: &Peers<'_>,
    settings: &ArchiveSettings,
) -> Result<(Option<(u64, u64)>, ArchiveStatus), ErrorAnswer> {
    let status: ArchiveStatus = peers
        .sequencer(InternalCall::ArchiveStatus, NO_BODY)
        .await?;
    let Some((from, to)) = status.next_range(settings) else {
        return Ok((None, status));
    };
    let kv = worker_shell::kv(env, ARCHIVE_BINDING)?;
    let mut next = from;
    while next <= to {
        let blocks: ArchiveBlocksAnswer = peers
            .sequencer(InternalCall::ArchiveBlocks { from: next, to }, NO_BODY)
            .await?;
        let Some(last) = blocks.last().map(|block| block.header.height) else {
            break;
        };
        for block in &blocks {
            let key = archive::archived_block_key(block.header.height);
            worker_shell::kv_put(&kv, &key, &block.encode()).await?;
        }
        next = last + 1;
    }
    if next == from {
        return Ok((None, status));
    }
    let through = next - 1;
    let status: ArchiveStatus = peers
        .sequencer(InternalCall::Prune { through }, NO_BODY)
        .await?;
    Ok((Some((from, through)), status))
}
