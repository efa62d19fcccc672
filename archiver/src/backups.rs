//! Encrypted backups: snapshot the committed state at the head, shard by shard, seal it in the
//! backup envelope, pin it, read it back and verify it, and only then make it the latest in the
//! backup index (and unpin what falls out of the retained history).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use futures_util::StreamExt;
use ledger::api::{ApiError, ErrorAnswer};
use ledger::archive::{BACKUP_INDEX_KEY, BackupIndex, BackupRecord};
use ledger::backup::{BACKUP_NONCE_BYTES, BackupKey, BackupNonce};
use ledger::primitives::Address;
use ledger::snapshot::{
    SNAPSHOT_FORMAT, SNAPSHOT_PAGE_ACCOUNTS_MAX, SealedSnapshot, ShardStart, SnapshotManifest,
    SnapshotOpener, SnapshotSealer,
};
use ledger::state::{Account, ShardIndex};
use ledger::wire::{
    Checkpoint, InternalCall, SnapshotOpenRequest, SnapshotOpened, SnapshotPageRequest,
};
use worker::js_sys::Uint8Array;
use worker::wasm_bindgen::JsValue;
use worker::{Delay, Env, console_warn};
use worker_shell::{Chain, internal, now_ms};

use crate::peers::{NO_BODY, Peers};
use crate::pinning::{Pinner, Upload};
use crate::settings;

/// Binding of the KV namespace holding the backup index.
pub(crate) const BACKUP_INDEX_BINDING: &str = "BACKUP_INDEX";

/// Attempts at catching every shard at the head's root before giving up for this run: a shard
/// that moves on between the checkpoint and its copy makes the attempt start over.
const SNAPSHOT_ATTEMPTS_MAX: u32 = 8;

/// Pause between attempts: about one block's round.
const SNAPSHOT_RETRY_DELAY: Duration = Duration::from_millis(150);

/// What a backup step did.
pub(crate) struct BackupOutcome {
    /// The backup made, now the latest.
    pub(crate) made: Option<BackupRecord>,
    /// Why none was made.
    pub(crate) skipped: Option<String>,
    /// CIDs unpinned because they fell out of the history.
    pub(crate) unpinned: Vec<String>,
}

impl BackupOutcome {
    fn skipped(reason: impl Into<String>) -> Self {
        Self {
            made: None,
            skipped: Some(reason.into()),
            unpinned: Vec::new(),
        }
    }
}

/// The backup index from KV, `None` if none was ever written.
pub(crate) async fn load_index(env: &Env) -> Result<Option<BackupIndex>, ApiError> {
    let kv = worker_shell::kv(env, BACKUP_INDEX_BINDING)?;
    worker_shell::kv_get(&kv, BACKUP_INDEX_KEY)
        .await?
        .map(|bytes| BackupIndex::decode(&bytes).map_err(ApiError::from))
        .transpose()
}

async fn store_index(env: &Env, index: &BackupIndex) -> Result<(), ApiError> {
    let kv = worker_shell::kv(env, BACKUP_INDEX_BINDING)?;
    worker_shell::kv_put(&kv, BACKUP_INDEX_KEY, &index.encode()).await
}

/// Makes a backup if one is due (or `force`), as the module docs describe.
pub(crate) async fn back_up(
    env: &Env,
    peers: &Peers<'_>,
    chain: &Chain,
    force: bool,
) -> Result<BackupOutcome, ErrorAnswer> {
    let mut index = load_index(env).await?.unwrap_or_else(BackupIndex::empty);
    let schedule = settings::backup_schedule(env)?;
    let Some((checkpoint, opened)) = frozen_checkpoint(peers, &index, force, &schedule).await?
    else {
        return Ok(BackupOutcome::skipped(skip_reason(&index, force)));
    };
    let key = settings::backup_key(env)?;
    let pinner = settings::pinner(env)?;
    let record = seal_and_pin(env, &pinner, &key, &checkpoint, &opened).await?;
    // Only a backup read back intact through the backend becomes the latest.
    read_back(&pinner, &key, chain, &record).await?;
    let removed = index.publish(record.clone(), schedule.retention)?;
    store_index(env, &index).await?;
    let mut unpinned = Vec::new();
    for old in removed {
        match pinner.unpin(&old.cid, old.pin_id.as_deref()).await {
            Ok(()) => unpinned.push(old.cid),
            // The index no longer names it, so it can never be restored; a leftover pin only
            // costs storage. Say so and go on.
            Err(error) => console_warn!("archiver: unpinning {}: {}", old.cid, error),
        }
    }
    Ok(BackupOutcome {
        made: Some(record),
        skipped: None,
        unpinned,
    })
}

fn skip_reason(index: &BackupIndex, force: bool) -> String {
    match (index.latest(), force) {
        (Some(latest), true) => format!(
            "the latest backup ({}) is already at the head, height {}",
            latest.cid, latest.height
        ),
        _ => "no backup is due".to_owned(),
    }
}

/// The head's checkpoint with every shard's accounts frozen at it, or `None` if no backup is
/// due (or the latest is already at the head).
async fn frozen_checkpoint(
    peers: &Peers<'_>,
    index: &BackupIndex,
    force: bool,
    schedule: &ledger::archive::BackupSchedule,
) -> Result<Option<(Checkpoint, Vec<SnapshotOpened>)>, ErrorAnswer> {
    for attempt in 0..SNAPSHOT_ATTEMPTS_MAX {
        if attempt > 0 {
            Delay::from(SNAPSHOT_RETRY_DELAY).await;
        }
        let checkpoint: Checkpoint = peers.sequencer(InternalCall::Checkpoint, NO_BODY).await?;
        let height = checkpoint.header.height;
        let behind_head = index.latest().is_none_or(|latest| latest.height < height);
        if height == 0 || !behind_head || !(force || schedule.due(index, height, now_ms())) {
            return Ok(None);
        }
        if !checkpoint.settled {
            continue;
        }
        match freeze_shards(peers, &checkpoint).await {
            Ok(opened) => return Ok(Some((checkpoint, opened))),
            Err(error) if error.body.error.code == "state_moved" => continue,
            Err(error) => return Err(error),
        }
    }
    Err(ApiError::new(
        503,
        "backup_busy",
        format!("the shards kept moving: no consistent state in {SNAPSHOT_ATTEMPTS_MAX} attempts"),
    )
    .into())
}

/// Has every shard copy its accounts as of the checkpoint's root (409 `state_moved` if one
/// has already moved past it).
async fn freeze_shards(
    peers: &Peers<'_>,
    checkpoint: &Checkpoint,
) -> Result<Vec<SnapshotOpened>, ErrorAnswer> {
    let mut opened = Vec::with_capacity(checkpoint.shard_roots.len());
    for (shard, root) in (0..).zip(&checkpoint.shard_roots) {
        let request = SnapshotOpenRequest {
            expected_root: *root,
        };
        opened.push(
            peers
                .shard::<SnapshotOpened>(shard, InternalCall::SnapshotOpen, Some(&request))
                .await?,
        );
    }
    Ok(opened)
}

/// Seals the snapshot while uploading it, page by page, and returns the record of the pinned
/// (not yet verified) backup. Memory holds a page of accounts and a chunk of the envelope, not
/// the backup.
async fn seal_and_pin(
    env: &Env,
    pinner: &Pinner,
    key: &BackupKey,
    checkpoint: &Checkpoint,
    opened: &[SnapshotOpened],
) -> Result<BackupRecord, ErrorAnswer> {
    let header = &checkpoint.header;
    let name = format!("edgeledger-{}-{:020}.bkp", header.chain_id, header.height);
    let keyvalues = format!(
        r#"{{"chain_id":"{}","height":"{}","state_root":"{}"}}"#,
        header.chain_id, header.height, header.state_root
    );
    let upload = Upload {
        name: &name,
        keyvalues: &keyvalues,
    };
    let manifest = SnapshotManifest {
        format: SNAPSHOT_FORMAT,
        header: checkpoint.header,
        certificate: checkpoint.certificate.clone(),
        shard_roots: checkpoint.shard_roots.clone(),
    };
    let sealer = SnapshotSealer::new(key, random_nonce()?, manifest)?;
    let (before, after) = pinner.framing(&upload);
    let outcome = Rc::new(RefCell::new(None));
    let source = UploadSource {
        env: env.clone(),
        frozen: opened.to_vec(),
        sealer: Some(sealer),
        shard: 0,
        cursor: None,
        before: Some(before),
        after: Some(after),
        outcome: outcome.clone(),
        failed: false,
    };
    let stream = futures_util::stream::unfold(source, |mut source| async move {
        source.next_piece().await.map(|piece| (piece, source))
    });
    let body = wasm_streams::ReadableStream::from_stream(stream).into_raw();
    let pinned = pinner.pin(&upload, JsValue::from(body)).await;
    let sealed = outcome.borrow_mut().take();
    let (pinned, sealed) = match (pinned, sealed) {
        // The producer's own failure explains a failed upload best.
        (_, Some(Err(error))) => return Err(error),
        (Err(error), _) => return Err(error.into()),
        (Ok(_), None) => {
            return Err(internal("the upload ended before the backup was sealed").into());
        }
        (Ok(pinned), Some(Ok(sealed))) => (pinned, sealed),
    };
    ledger::archive::check_cid(&pinned.cid)?;
    Ok(BackupRecord::sealed(
        pinned.cid,
        header,
        &sealed,
        now_ms(),
        pinner.backend(),
        pinned.pin_id,
    ))
}

/// The upload body of a backup, produced as the upload reads it: the multipart framing, then
/// the envelope sealed page by page from the shards' frozen copies.
struct UploadSource {
    env: Env,
    frozen: Vec<SnapshotOpened>,
    sealer: Option<SnapshotSealer>,
    /// The shard being paged.
    shard: usize,
    /// Within it: how far paging got (`None` before its start record).
    cursor: Option<PageCursor>,
    before: Option<Vec<u8>>,
    after: Option<Vec<u8>>,
    /// The sealed summary once done, or why the body could not be produced.
    outcome: Rc<RefCell<Option<Result<SealedSnapshot, ErrorAnswer>>>>,
    failed: bool,
}

/// Progress through one shard's frozen copy.
#[derive(Clone, Copy)]
struct PageCursor {
    after: Option<Address>,
    paged: u64,
}

impl UploadSource {
    /// The next piece for the JavaScript stream: bytes, an error that aborts the upload, or
    /// the end.
    async fn next_piece(&mut self) -> Option<Result<JsValue, JsValue>> {
        if self.failed {
            return None;
        }
        loop {
            match self.step().await {
                Ok(Some(bytes)) if bytes.is_empty() => continue,
                Ok(Some(bytes)) => return Some(Ok(Uint8Array::from(bytes.as_slice()).into())),
                Ok(None) => return None,
                Err(error) => {
                    let message = error.body.error.message.clone();
                    *self.outcome.borrow_mut() = Some(Err(error));
                    self.failed = true;
                    return Some(Err(JsValue::from_str(&message)));
                }
            }
        }
    }

    /// One step of the body: the bytes it made (maybe none yet), or `None` once complete.
    async fn step(&mut self) -> Result<Option<Vec<u8>>, ErrorAnswer> {
        if let Some(before) = self.before.take() {
            return Ok(Some(before));
        }
        if self.sealer.is_none() {
            return Ok(self.after.take());
        }
        if self.shard == self.frozen.len() {
            let Some(sealer) = self.sealer.take() else {
                return Ok(None);
            };
            let mut sealed = sealer.finish()?;
            let rest = std::mem::take(&mut sealed.ciphertext);
            *self.outcome.borrow_mut() = Some(Ok(sealed));
            return Ok(Some(rest));
        }
        self.page_once().await
    }

    /// Starts the current shard or seals its next page; moves on when the shard is done.
    async fn page_once(&mut self) -> Result<Option<Vec<u8>>, ErrorAnswer> {
        let shard = ShardIndex::try_from(self.shard).map_err(|_| internal("shard index"))?;
        let frozen = self.frozen[self.shard];
        let Some(cursor) = self.cursor else {
            let Some(sealer) = self.sealer.as_mut() else {
                return Ok(None);
            };
            sealer.shard(ShardStart {
                shard,
                accounts: frozen.accounts,
            })?;
            self.cursor = Some(PageCursor {
                after: None,
                paged: 0,
            });
            return Ok(Some(sealer.take_ready()));
        };
        let request = SnapshotPageRequest {
            after: cursor.after,
            limit: SNAPSHOT_PAGE_ACCOUNTS_MAX as u32,
        };
        let page: Vec<(Address, Account)> = Peers::new(&self.env)
            .shard(shard, InternalCall::SnapshotPage, Some(&request))
            .await?;
        let full = page.len() == SNAPSHOT_PAGE_ACCOUNTS_MAX;
        let paged = cursor.paged + page.len() as u64;
        let after = page.last().map(|(address, _)| *address);
        let Some(sealer) = self.sealer.as_mut() else {
            return Ok(None);
        };
        sealer.accounts(page)?;
        if full {
            self.cursor = Some(PageCursor { after, paged });
        } else {
            if paged != frozen.accounts {
                return Err(internal(format!(
                    "shard {shard} froze {} accounts but paged {paged}: another backup replaced its copy",
                    frozen.accounts
                ))
                .into());
            }
            self.shard += 1;
            self.cursor = None;
        }
        Ok(Some(sealer.take_ready()))
    }
}

/// Streams a pinned backup back and verifies it end to end.
async fn read_back(
    pinner: &Pinner,
    key: &BackupKey,
    chain: &Chain,
    record: &BackupRecord,
) -> Result<(), ErrorAnswer> {
    let mut stream = pinner.fetch(&record.cid).await?;
    let mut opener = SnapshotOpener::new(key, &chain.context.config, record);
    while let Some(piece) = stream.next().await {
        let piece = piece.map_err(|error| internal(format!("reading the backup back: {error}")))?;
        opener.push(&piece).map_err(verification_failed)?;
    }
    opener.finish().map_err(verification_failed)?;
    Ok(())
}

/// A backup that does not read back intact is never published.
fn verification_failed(error: ledger::archive::ArchiveError) -> ErrorAnswer {
    ApiError::new(
        502,
        "backup_verification_failed",
        format!("the pinned backup did not verify: {error}"),
    )
    .into()
}

/// A fresh random base nonce for the envelope, from the runtime's cryptographic generator
/// (`crypto.getRandomValues`); the ledger takes entropy only as an argument.
pub(crate) fn random_nonce() -> Result<BackupNonce, ApiError> {
    use worker::js_sys::{Function, Reflect, Uint8Array, global};
    use worker::wasm_bindgen::{JsCast, JsValue};
    let fail = |what: &str| internal(format!("crypto.getRandomValues: {what}"));
    let crypto =
        Reflect::get(&global(), &JsValue::from_str("crypto")).map_err(|_| fail("no crypto"))?;
    let get_random_values = Reflect::get(&crypto, &JsValue::from_str("getRandomValues"))
        .ok()
        .and_then(|value| value.dyn_into::<Function>().ok())
        .ok_or_else(|| fail("missing"))?;
    let array = Uint8Array::new_with_length(BACKUP_NONCE_BYTES as u32);
    get_random_values
        .call1(&crypto, &array)
        .map_err(|_| fail("failed"))?;
    let mut nonce = [0u8; BACKUP_NONCE_BYTES];
    array.copy_to(&mut nonce);
    Ok(nonce)
}
