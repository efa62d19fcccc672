//! The `Shard` Durable Object itself: opening or initialising the shard machine over SQLite,
//! and answering its internal calls: the sequencer's and the front door's, and the archiver's
//! snapshots and restores (their tables and checks are in [`crate::backup`]).

use std::cell::RefCell;
use std::rc::Rc;

// `#[durable_object]` expands to code naming `wasm_bindgen`; this spares a direct dependency.
use worker::wasm_bindgen;

use ledger::api::ApiError;
use ledger::execution::WriteSet;
use ledger::primitives::{Address, Hash};
use ledger::shard::{
    APPLY_THEN_WITNESS_BYTES_MAX, ApplyOutcome, ApplyThenWitnessRequest, Shard as ShardMachine,
    ShardStore, WITNESS_REQUEST_BYTES_MAX, WRITE_SET_BYTES_MAX, WitnessRequest,
};
use ledger::state::{Account, ShardIndex, ShardLayout};
use ledger::trie::{NodePosition, Trie};
use ledger::wire::{
    self, ApplyAnswer, ApplyStatus, ApplyThenWitnessAnswer, InternalCall, ShardAccount,
    ShardAccounts, ShardRestoreAnswer, ShardRestoreStep, ShardStats, SnapshotOpenRequest,
    SnapshotOpened, SnapshotPageRequest,
};
use worker::{DurableObject, Env, Request, Response, State, console_error, durable_object};
use worker_shell::{Chain, internal, misconfigured};

use crate::backup::{self, PendingRestore, RESTORE_STEP_BYTES_MAX, SNAPSHOT_REQUEST_BYTES_MAX};
use crate::errors::{
    no_restore_in_progress, no_snapshot, restore_error, shard_error, shard_of_object, state_moved,
    storage_error,
};
use crate::store::SqlShardStore;

/// The largest body any shard call carries; each call then decodes with its own limit. It
/// admits a write set (every account a block touches) with a witness request, and a restore
/// page (a full page of a backup's accounts, about 270 KiB, which the archiver sends in one
/// body).
const SHARD_REQUEST_BYTES_MAX: usize = larger(
    larger(APPLY_THEN_WITNESS_BYTES_MAX, WRITE_SET_BYTES_MAX),
    RESTORE_STEP_BYTES_MAX,
);

/// The larger of two sizes, for constants.
const fn larger(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

/// This script's binding of its own namespace (as the sequencer's `SHARD` binding names it).
const SHARD_BINDING: &str = "SHARD";

/// One shard of the state, named by [`ledger::wire::shard_object_name`].
#[durable_object]
pub struct Shard {
    state: State,
    env: Env,
    /// The shard machine over this object's storage, opened on first use. Emptied after a
    /// storage failure, so the next request starts again from what storage holds.
    shard: RefCell<Option<ShardMachine<SqlShardStore>>>,
}

impl DurableObject for Shard {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            shard: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut request: Request) -> worker::Result<Response> {
        match self.handle(&mut request).await {
            Ok(response) => Ok(response),
            Err(error) => {
                if error.status >= 500 {
                    console_error!("shard {}: {error}", self.name());
                }
                worker_shell::internal_error_answer(error)
            }
        }
    }
}

impl Shard {
    /// Reads the call and answers it. Everything after reading the body is synchronous, so no
    /// other request can interleave with a read or a write of the tree.
    async fn handle(&self, request: &mut Request) -> Result<Response, ApiError> {
        let (call, body) = worker_shell::read_internal(request, SHARD_REQUEST_BYTES_MAX).await?;
        let request_ids = worker_shell::request_ids(request);
        let answer = match call {
            InternalCall::Witness => {
                let request: WitnessRequest = wire::decode(&body, WITNESS_REQUEST_BYTES_MAX)?;
                let tree = self.with_shard(|shard| shard.witness(&request).map_err(shard_error))?;
                worker_shell::internal_answer(&tree)
            }
            InternalCall::Apply => {
                let write_set: WriteSet = wire::decode(&body, WRITE_SET_BYTES_MAX)?;
                let answer = self.with_shard(|shard| apply(shard, &write_set))?;
                log_apply(&write_set, answer.status, &request_ids);
                worker_shell::internal_answer(&answer)
            }
            InternalCall::ApplyThenWitness => {
                let request: ApplyThenWitnessRequest =
                    wire::decode(&body, APPLY_THEN_WITNESS_BYTES_MAX)?;
                let answer = self.with_shard(|shard| apply_then_witness(shard, &request))?;
                log_apply(&request.write_set, answer.applied.status, &request_ids);
                worker_shell::internal_answer(&answer)
            }
            InternalCall::ShardStats => {
                let stats = self.with_shard(|shard| stats(shard))?;
                worker_shell::internal_answer(&stats)
            }
            InternalCall::ShardAccounts => {
                let addresses = wire::decode_accounts_request(&body)?;
                let answer = self.with_shard(|shard| accounts(shard, &addresses))?;
                worker_shell::internal_answer(&answer)
            }
            InternalCall::ShardAccount { address, proof } => {
                let answer = self.with_shard(|shard| account(shard, &address, proof))?;
                worker_shell::internal_answer(&answer)
            }
            InternalCall::SnapshotOpen => {
                let request: SnapshotOpenRequest = wire::decode(&body, SNAPSHOT_REQUEST_BYTES_MAX)?;
                let opened =
                    self.with_shard(|shard| open_snapshot(shard, request.expected_root))?;
                worker_shell::internal_answer(&opened)
            }
            InternalCall::SnapshotPage => {
                let request: SnapshotPageRequest = wire::decode(&body, SNAPSHOT_REQUEST_BYTES_MAX)?;
                backup::check_page_limit(request.limit)?;
                let page = self.with_shard(|shard| snapshot_page(shard, &request))?;
                worker_shell::internal_answer(&page)
            }
            InternalCall::ShardRestore => {
                let step: ShardRestoreStep = wire::decode(&body, RESTORE_STEP_BYTES_MAX)?;
                let answer = self.restore(step)?;
                worker_shell::internal_answer(&answer)
            }
            other => {
                return Err(ApiError::not_found(format!(
                    "a shard does not serve {} {}",
                    other.method(),
                    other.path()
                )));
            }
        };
        answer.map_err(internal)
    }

    /// The object's name, for logs.
    fn name(&self) -> String {
        self.state
            .id()
            .name()
            .unwrap_or_else(|| self.state.id().to_string())
    }

    /// Runs `work` on the shard machine, opening it first if needed. A server-side failure
    /// drops the machine (and its node cache): storage rolled the batch back, and the next
    /// request reopens from it rather than trusting memory.
    fn with_shard<T>(
        &self,
        work: impl FnOnce(&mut ShardMachine<SqlShardStore>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut slot = self
            .shard
            .try_borrow_mut()
            .map_err(|_| internal("the shard is already in use by this request"))?;
        if slot.is_none() {
            *slot = Some(self.load()?);
        }
        let Some(shard) = slot.as_mut() else {
            return Err(internal("the shard did not open"));
        };
        let result = work(shard);
        if matches!(&result, Err(error) if error.status >= 500) {
            *slot = None;
        }
        result
    }

    /// The chain, its layout and which shard this object is: from its name, or, when the
    /// runtime does not pass the name along (a call that crossed from another local workerd
    /// process through wrangler's dev registry), from its id, which `get_by_name` derived
    /// from exactly one shard's name.
    fn identity(&self) -> Result<(Rc<Chain>, ShardLayout, ShardIndex), ApiError> {
        let chain = worker_shell::chain(&self.env)?;
        let layout = chain.genesis.config.layout();
        let index = match self.state.id().name() {
            Some(name) => shard_of_object(&name, layout)?,
            None => self.index_from_id(layout)?,
        };
        Ok((chain, layout, index))
    }

    /// The shard whose name gives this object's id (through this script's own `SHARD`
    /// namespace binding).
    fn index_from_id(&self, layout: ShardLayout) -> Result<ShardIndex, ApiError> {
        let namespace = self
            .env
            .durable_object(SHARD_BINDING)
            .map_err(|error| misconfigured(format!("{SHARD_BINDING}: {error}")))?;
        let id = self.state.id();
        for index in 0..layout.shard_count() {
            let index = ShardIndex::try_from(index).map_err(internal)?;
            let candidate = namespace
                .id_from_name(&wire::shard_object_name(index))
                .map_err(internal)?;
            if candidate == id {
                return Ok(index);
            }
        }
        Err(misconfigured(
            "this object is no shard's: address shards with get_by_name(shard_object_name(i))",
        ))
    }

    /// Opens the shard from storage, or initialises storage from the genesis on first use.
    fn load(&self) -> Result<ShardMachine<SqlShardStore>, ApiError> {
        let (chain, layout, index) = self.identity()?;
        let store = SqlShardStore::open(&self.state.storage()).map_err(storage_error)?;
        let shard = if store.meta().map_err(storage_error)?.is_some() {
            ShardMachine::open(layout, store)
                .map_err(storage_error)?
                .ok_or_else(|| internal("the shard metadata vanished while opening"))?
        } else {
            let mut accounts = chain.genesis.shard_accounts();
            let accounts = accounts.remove(&index).unwrap_or_default();
            ShardMachine::initialise(layout, index, store, &accounts).map_err(shard_error)?
        };
        check_opened(&shard, &chain, layout, index)?;
        Ok(shard)
    }

    /// One step of a restore (see [`crate::backup`]). Staging works on storage alone, without
    /// opening the shard machine, so a shard whose state is broken can still be restored. A
    /// server-side failure drops the machine, as in [`Self::with_shard`].
    fn restore(&self, step: ShardRestoreStep) -> Result<ShardRestoreAnswer, ApiError> {
        let result = self.restore_step(step);
        if matches!(&result, Err(error) if error.status >= 500) {
            if let Ok(mut slot) = self.shard.try_borrow_mut() {
                *slot = None;
            }
        }
        result
    }

    /// [`Self::restore`]'s work: `Begin` and `Page` stage, `Finish` replaces the state.
    fn restore_step(&self, step: ShardRestoreStep) -> Result<ShardRestoreAnswer, ApiError> {
        let (chain, layout, index) = self.identity()?;
        let store = SqlShardStore::open(&self.state.storage()).map_err(storage_error)?;
        let staged = match step {
            ShardRestoreStep::Begin {
                height,
                root,
                accounts,
            } => {
                let genesis_root = chain.genesis_shard_roots.get(usize::from(index)).copied();
                backup::check_restore_target(height, root, genesis_root)?;
                let pending = PendingRestore::begin(height, root, accounts);
                backup::begin_restore(&store, &pending).map_err(storage_error)?;
                0
            }
            ShardRestoreStep::Page(accounts) => {
                let pending = pending_restore(&store)?;
                let after = backup::check_restore_page(layout, index, &pending, &accounts)?;
                backup::stage_page(&store, &after, &accounts).map_err(storage_error)?;
                after.staged
            }
            ShardRestoreStep::Finish => {
                return self.finish_restore(&chain, layout, index, store);
            }
        };
        Ok(ShardRestoreAnswer { staged, meta: None })
    }

    /// Replaces the shard's state with the staged accounts, if they are all there and hash to
    /// the certified root (otherwise nothing is written), and makes the restored shard this
    /// object's machine. The old machine stays until then: a refusal (4xx) leaves it as it was.
    fn finish_restore(
        &self,
        chain: &Chain,
        layout: ShardLayout,
        index: ShardIndex,
        store: SqlShardStore,
    ) -> Result<ShardRestoreAnswer, ApiError> {
        let pending = pending_restore(&store)?;
        let accounts = backup::staged_accounts(&store).map_err(storage_error)?;
        backup::check_complete(&pending, accounts.len())?;
        let mut slot = self
            .shard
            .try_borrow_mut()
            .map_err(|_| internal("the shard is already in use by this request"))?;
        let restored = ShardMachine::restore(
            layout,
            index,
            store,
            &accounts,
            pending.height,
            pending.root,
        )
        .map_err(restore_error)?;
        check_opened(&restored, chain, layout, index)?;
        backup::clear_restore(restored.store()).map_err(storage_error)?;
        let meta = *restored.meta();
        *slot = Some(restored);
        Ok(ShardRestoreAnswer {
            staged: pending.accounts,
            meta: Some(meta),
        })
    }
}

/// The restore being staged: 409 `no_restore_in_progress` if none was begun.
fn pending_restore(store: &SqlShardStore) -> Result<PendingRestore, ApiError> {
    backup::pending_restore(store)
        .map_err(storage_error)?
        .ok_or_else(no_restore_in_progress)
}

/// Freezes a copy of the accounts for a backup, if the shard is at the root the backup is of
/// (409 `state_moved` if not). Nothing awaits between the check and the copy, so no apply can
/// come between them.
fn open_snapshot(
    shard: &ShardMachine<SqlShardStore>,
    expected_root: Hash,
) -> Result<SnapshotOpened, ApiError> {
    let meta = *shard.meta();
    if meta.root != expected_root {
        return Err(state_moved(&meta, expected_root));
    }
    let accounts = backup::open_snapshot(shard.store(), &meta).map_err(storage_error)?;
    Ok(SnapshotOpened { meta, accounts })
}

/// A page of the frozen copy (409 `no_snapshot` if none was ever opened).
fn snapshot_page(
    shard: &ShardMachine<SqlShardStore>,
    request: &SnapshotPageRequest,
) -> Result<Vec<(Address, Account)>, ApiError> {
    backup::snapshot_page(shard.store(), request.after.as_ref(), request.limit)
        .map_err(storage_error)?
        .ok_or_else(no_snapshot)
}

/// Checks an opened shard against what it must be: the shard this object is named for, a tree
/// whose stored root is the recorded one, and at height 0 the genesis root (storage left from
/// another genesis is refused rather than served).
fn check_opened(
    shard: &ShardMachine<SqlShardStore>,
    chain: &Chain,
    layout: ShardLayout,
    index: ShardIndex,
) -> Result<(), ApiError> {
    let meta = shard.meta();
    if meta.shard != index {
        return Err(misconfigured(format!(
            "the object for shard {index} stores shard {}",
            meta.shard
        )));
    }
    let stored = Trie::new(shard.store(), NodePosition::shard_root(layout, index))
        .root()
        .map_err(storage_error)?;
    if stored != meta.root {
        return Err(ApiError::new(
            500,
            "corrupt_state",
            format!(
                "shard {index} records root {} but its tree hashes to {stored}",
                meta.root
            ),
        ));
    }
    let genesis_root = chain.genesis_shard_roots.get(usize::from(index)).copied();
    if meta.applied_height == 0 && genesis_root != Some(meta.root) {
        return Err(misconfigured(format!(
            "shard {index} holds root {} at height 0, not this genesis's",
            meta.root
        )));
    }
    Ok(())
}

/// Applies a committed write set: applied now, or already applied before (idempotent).
fn apply(
    shard: &mut ShardMachine<SqlShardStore>,
    write_set: &WriteSet,
) -> Result<ApplyAnswer, ApiError> {
    let status = match shard.apply(write_set).map_err(shard_error)? {
        ApplyOutcome::Applied => ApplyStatus::Applied,
        ApplyOutcome::AlreadyApplied => ApplyStatus::AlreadyApplied,
    };
    Ok(ApplyAnswer {
        status,
        meta: *shard.meta(),
    })
}

/// Applies a committed write set, then proves the requested accounts at the root it left.
/// A witness the shard cannot give is part of the answer, not an error: the write set is
/// applied and the sequencer must learn that.
fn apply_then_witness(
    shard: &mut ShardMachine<SqlShardStore>,
    request: &ApplyThenWitnessRequest,
) -> Result<ApplyThenWitnessAnswer, ApiError> {
    let applied = apply(shard, &request.write_set)?;
    let witness = shard
        .witness(&request.witness)
        .map_err(|error| error.to_string());
    Ok(ApplyThenWitnessAnswer { applied, witness })
}

/// The shard's height and account count, for `GET /metrics` (counting scans the account
/// table's primary key once per scrape).
fn stats(shard: &ShardMachine<SqlShardStore>) -> Result<ShardStats, ApiError> {
    let accounts = shard
        .store()
        .count_rows("accounts")
        .map_err(storage_error)?;
    Ok(ShardStats {
        meta: *shard.meta(),
        accounts,
        wasm_memory_bytes: worker_shell::wasm_memory_bytes(),
    })
}

/// The log line of a write set applied (or found applied before), with the request ids
/// of the transactions that made it.
fn log_apply(write_set: &WriteSet, status: ApplyStatus, request_ids: &[String]) {
    worker_shell::log_event(&serde_json::json!({
        "event": "apply",
        "shard": write_set.shard,
        "height": write_set.height,
        "accounts": write_set.accounts.len(),
        "new_root": write_set.new_root.to_string(),
        "status": match status {
            ApplyStatus::Applied => "applied",
            ApplyStatus::AlreadyApplied => "already_applied",
        },
        "request_ids": request_ids,
    }));
}

/// An account's committed state at the shard's height, with a proof if asked for.
fn accounts(
    shard: &ShardMachine<SqlShardStore>,
    addresses: &[Address],
) -> Result<ShardAccounts, ApiError> {
    let accounts = addresses
        .iter()
        .map(|address| shard.account(address).map_err(shard_error))
        .collect::<Result<_, _>>()?;
    Ok(ShardAccounts {
        meta: *shard.meta(),
        accounts,
    })
}

fn account(
    shard: &ShardMachine<SqlShardStore>,
    address: &Address,
    proof: bool,
) -> Result<ShardAccount, ApiError> {
    let account = shard.account(address).map_err(shard_error)?;
    let proof = if proof {
        Some(shard.prove(address).map_err(shard_error)?)
    } else {
        None
    };
    Ok(ShardAccount {
        meta: *shard.meta(),
        account,
        proof,
    })
}
