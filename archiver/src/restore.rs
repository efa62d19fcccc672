//! Restore with anti-rollback: only the backup the index names as latest is accepted. It is
//! streamed from the pinning backend, decrypted and verified record by record while each
//! shard's accounts are staged in that shard (staging changes nothing a client sees). Only
//! when everything verified (size, digest, every chunk, every shard root, the certificate) is
//! the `Sequencer` restarted from the certified block, paused, then each shard swaps its staged
//! accounts in, and block production resumes. A refusal at any point before that changes
//! nothing; a failure after it leaves the chain paused at the restored block, and running the
//! same restore again completes it.

use futures_util::StreamExt;
use ledger::api::{ErrorAnswer, StatusAnswer};
use ledger::archive::{ArchiveError, BackupRecord};
use ledger::snapshot::{SnapshotManifest, SnapshotOpener, SnapshotRecord};
use ledger::state::ShardIndex;
use ledger::wire::{
    Checkpoint, InternalCall, RestoreReport, RestoreRequest, ShardRestoreAnswer, ShardRestoreStep,
};
use worker::Env;
use worker_shell::{Chain, internal};

use crate::backups::load_index;
use crate::peers::{NO_BODY, Peers};
use crate::settings;

/// Restores the chain from the backup `cid`, which must be the latest in the index.
pub(crate) async fn restore(
    env: &Env,
    peers: &Peers<'_>,
    chain: &Chain,
    cid: &str,
) -> Result<RestoreReport, ErrorAnswer> {
    let index = load_index(env).await?.ok_or(ArchiveError::NoBackupIndex)?;
    let record = index.restorable(cid)?.clone();
    refuse_rollback(peers, &record).await?;
    let key = settings::backup_key(env)?;
    let pinner = settings::pinner(env)?;
    let mut stream = pinner.fetch(&record.cid).await?;
    let mut opener = SnapshotOpener::new(&key, &chain.context.config, &record);
    let mut staging = Staging::new(peers, record.height);
    while let Some(piece) = stream.next().await {
        let piece = piece.map_err(|error| internal(format!("reading the backup: {error}")))?;
        for snapshot_record in opener.push(&piece)? {
            staging.take(snapshot_record).await?;
        }
    }
    let (last, verified) = opener.finish()?;
    for snapshot_record in last {
        staging.take(snapshot_record).await?;
    }
    let manifest = verified.manifest;
    let shards = manifest.shard_roots.len() as u32;
    restart_sequencer(peers, &manifest).await?;
    for shard in 0..shards {
        let shard = ShardIndex::try_from(shard).map_err(|_| internal("shard index"))?;
        let _: ShardRestoreAnswer = peers
            .shard(
                shard,
                InternalCall::ShardRestore,
                Some(&ShardRestoreStep::Finish),
            )
            .await?;
    }
    let _: StatusAnswer = peers
        .sequencer(InternalCall::SetPaused(false), NO_BODY)
        .await?;
    Ok(RestoreReport {
        cid: record.cid,
        height: manifest.header.height,
        block_hash: manifest.header.hash(),
        state_root: manifest.header.state_root,
        accounts: verified.accounts,
        shards,
    })
}

/// Refuses early (before fetching anything) a backup older than the chain's head, or another
/// block at the head's height. The `Sequencer` checks again when it restarts.
async fn refuse_rollback(peers: &Peers<'_>, record: &BackupRecord) -> Result<(), ErrorAnswer> {
    let checkpoint: Checkpoint = peers.sequencer(InternalCall::Checkpoint, NO_BODY).await?;
    let head = &checkpoint.header;
    ledger::archive::check_no_rollback(
        head.height,
        &head.hash(),
        record.height,
        &record.block_hash,
    )?;
    Ok(())
}

async fn restart_sequencer(
    peers: &Peers<'_>,
    manifest: &SnapshotManifest,
) -> Result<(), ErrorAnswer> {
    let request = RestoreRequest {
        header: manifest.header,
        certificate: manifest.certificate.clone(),
        shard_roots: manifest.shard_roots.clone(),
    };
    let _: StatusAnswer = peers
        .sequencer(InternalCall::Restore, Some(&request))
        .await?;
    Ok(())
}

/// Sends each shard its accounts as the records stream past.
struct Staging<'a> {
    peers: &'a Peers<'a>,
    height: u64,
    shard_roots: Vec<ledger::primitives::Hash>,
    shard: Option<ShardIndex>,
}

impl<'a> Staging<'a> {
    fn new(peers: &'a Peers<'a>, height: u64) -> Self {
        Self {
            peers,
            height,
            shard_roots: Vec::new(),
            shard: None,
        }
    }

    /// Takes one (already checked) record.
    async fn take(&mut self, record: SnapshotRecord) -> Result<(), ErrorAnswer> {
        let (shard, step) = match record {
            SnapshotRecord::Manifest(manifest) => {
                self.shard_roots = manifest.shard_roots;
                return Ok(());
            }
            SnapshotRecord::ShardStart(start) => {
                self.shard = Some(start.shard);
                let root = *self
                    .shard_roots
                    .get(usize::from(start.shard))
                    .ok_or_else(|| internal("a shard beyond the manifest's roots"))?;
                let step = ShardRestoreStep::Begin {
                    height: self.height,
                    root,
                    accounts: start.accounts,
                };
                (start.shard, step)
            }
            SnapshotRecord::Accounts(page) => {
                let shard = self
                    .shard
                    .ok_or_else(|| internal("accounts before a shard"))?;
                (shard, ShardRestoreStep::Page(page))
            }
            SnapshotRecord::End(_) => return Ok(()),
        };
        let _: ShardRestoreAnswer = self
            .peers
            .shard(shard, InternalCall::ShardRestore, Some(&step))
            .await?;
        Ok(())
    }
}
