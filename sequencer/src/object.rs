//! The `Sequencer` Durable Object: one per chain. It holds the [`ledger::sequencer`] state
//! machine and performs the effects the machine returns: storage writes ([`Store`]), the alarm,
//! and calls to the shards and validators, whose answers it feeds back in.
//!
//! The machine decides everything; this shell only moves effects and answers. If storage
//! fails mid-way, the in-memory machine is dropped and rebuilt from storage on the next
//! request, exactly as after a crash, so memory is never ahead of disk.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use futures_channel::oneshot;
use futures_util::future::{FutureExt, Shared};
use futures_util::stream::{FuturesUnordered, StreamExt};
use ledger::api::block_waiters::BlockWaiters;
use ledger::api::{ApiError, BlockSelector, StatusAnswer, SubmissionResult};
use ledger::archive::{
    self, ARCHIVE_ANSWER_BYTES_MAX, ARCHIVE_BLOCKS_PER_RUN_MAX, ArchiveStatus, HandedOut,
};
use ledger::block::CertifiedBlock;
use ledger::consensus::{QuorumCertificate, Vote};
use ledger::execution::WriteSet;
use ledger::limits::{BLOCK_WAIT_MS_MAX, PROPOSAL_BYTES_MAX, REQUEST_BYTES_MAX, WITNESS_NODES_MAX};
use ledger::mempool::{Admission, MempoolLimits};
use ledger::metrics::logs;
use ledger::metrics::sequencer::{SequencerMetrics, SequencerSnapshot};
use ledger::primitives::Hash;
use ledger::sequencer::{Effect, Head, Persisted, RoundId, Sequencer as Machine, Timing};
use ledger::shard::{ApplyThenWitnessRequest, WitnessRequest};
use ledger::signature::KnownKeys;
use ledger::state::ShardIndex;
use ledger::transaction::VerifiedTx;
use ledger::trie::PartialTree;
use ledger::wire::{
    self, AccountContext, ApplyAnswer, ApplyThenWitnessAnswer, BlockLookup, Checkpoint,
    InternalCall, LeaseRequest, RestoreRequest, SubmitRequest,
};
use worker::{DurableObject, Env, Request, Response, ScheduledTime, State, durable_object};
use worker_shell::{Chain, Target, internal, internal_answer, internal_error_answer, now_ms};

use crate::storage::Store;

/// How long the machine waits for witnesses or votes before retrying, and how often it
/// resends unconfirmed write sets. Generous: on one workerd thread, validators verify a full
/// block one after another.
const TIMING: Timing = Timing {
    round_timeout_ms: 10_000,
    resend_ms: 500,
};

/// Binding of the shards' Durable Object namespace.
const SHARD_BINDING: &str = "SHARD";

/// How long shard calls made after a proposal wait once the writes before them are durable
/// (which is when workerd lets the proposal out). Where the shards run on this object's
/// thread (the local network did until its shards got a process of their own), a commit's
/// write sets and the next block's witnesses (built ahead while the validators check the
/// proposal) take it for tens of milliseconds: started at once, they held the proposal's
/// bytes back until they were done, so the validators waited for the work meant to overlap
/// theirs. A few event-loop turns are enough for the body to leave. With the shards apart
/// the wait made no measurable difference (ARCHITECTURE, *The shards in a process of their
/// own*); it stays for runtimes that put them together.
const SHARD_CALLS_AFTER_A_PROPOSAL: Duration = Duration::from_millis(2);

/// Binding of the KV namespace archived blocks are kept in.
pub(crate) const ARCHIVE_BINDING: &str = "ARCHIVE";

/// The service binding of validator `index` of the genesis validator set.
fn validator_binding(index: usize) -> String {
    format!("VALIDATOR_{index}")
}

/// Bytes of a vote answer: a signature and a few numbers.
const VOTE_BYTES_MAX: usize = 1024;

/// Bytes of a witness answer: every node a witness may hold, generously.
const WITNESS_BYTES_MAX: usize = WITNESS_NODES_MAX * 80;

/// An answer from another object or service, fed back into the machine.
enum Input {
    Witness {
        round: RoundId,
        shard: ShardIndex,
        result: Result<PartialTree, String>,
    },
    Vote {
        /// The validator's index in the set.
        validator: usize,
        /// Milliseconds from sending the proposal to the answer (or the failure).
        elapsed_ms: u64,
        result: Result<Vote, String>,
    },
    Applied {
        height: u64,
        shard: ShardIndex,
        result: Result<(), String>,
    },
    /// The answer to a write set sent with the next round's witness request: both parts
    /// fail together when the call does.
    AppliedThenWitness {
        height: u64,
        shard: ShardIndex,
        applied: Result<(), String>,
        round: RoundId,
        witness: Result<PartialTree, String>,
    },
}

type InFlight<'a> = FuturesUnordered<Pin<Box<dyn Future<Output = Input> + 'a>>>;

/// The machine and its storage, once loaded.
struct Loaded {
    machine: Machine,
    store: Store,
}

/// The `Sequencer` Durable Object.
#[durable_object]
pub struct Sequencer {
    state: State,
    env: Env,
    loaded: RefCell<Option<Loaded>>,
    /// What `GET /metrics` reports, counted in memory from this object's start (see
    /// [`ledger::metrics::sequencer`]). Kept apart from [`Loaded`], so that reloading the
    /// machine after a storage failure does not reset it.
    metrics: RefCell<SequencerMetrics>,
    /// Block requests waiting for their block (`?wait_ms=`), woken by the commit of it.
    block_waiters: RefCell<BlockWaiters<oneshot::Sender<()>>>,
    /// The blocks handed to the archiver since this object started, so that their copies in
    /// KV are checked by digest before they are pruned.
    handed_out: RefCell<HandedOut>,
    /// Set while a proposal is let out before the effects after it are performed (its
    /// parent's commit, [`Self::let_the_proposal_leave`]): requests and the alarm arriving then
    /// wait for it, so none sees the machine's new head before storage has it.
    effects_behind: RefCell<Option<Shared<oneshot::Receiver<()>>>>,
}

impl DurableObject for Sequencer {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            loaded: RefCell::new(None),
            metrics: RefCell::new(SequencerMetrics::new(now_ms())),
            block_waiters: RefCell::new(BlockWaiters::new()),
            handed_out: RefCell::new(HandedOut::default()),
            effects_behind: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut request: Request) -> worker::Result<Response> {
        self.storage_caught_up().await;
        match self.handle(&mut request).await {
            Ok(response) => Ok(response),
            Err(error) => internal_error_answer(error),
        }
    }

    async fn alarm(&self) -> worker::Result<Response> {
        self.storage_caught_up().await;
        if let Err(error) = self.run_alarm().await {
            worker::console_error!("sequencer alarm: {error}");
        }
        Response::empty()
    }
}

impl Sequencer {
    async fn handle(&self, request: &mut Request) -> Result<Response, ApiError> {
        let (call, body) = worker_shell::read_internal(request, 2 * REQUEST_BYTES_MAX).await?;
        self.ensure_loaded().await?;
        let chain = worker_shell::chain(&self.env)?;
        let answer = match call {
            InternalCall::Submit => {
                let request: SubmitRequest = wire::decode(&body, 2 * REQUEST_BYTES_MAX)?;
                // Megabytes for a full batch: gone before the mempool grows by it.
                drop(body);
                let results = self.submit(&chain, request).await?;
                internal_answer(&results)
            }
            InternalCall::Status => internal_answer(&self.status(&chain)?),
            InternalCall::Metrics => internal_answer(&self.metrics_snapshot()?),
            InternalCall::Transaction(hash) => {
                let lookup = self.with(|loaded| {
                    let pending = loaded.machine.mempool().contains(&hash);
                    loaded.store.transaction_lookup(&hash, pending)
                })?;
                internal_answer(&lookup)
            }
            InternalCall::Block(selector) => {
                let block = self.with(|loaded| match selector {
                    BlockSelector::Latest => {
                        let head = loaded.machine.head().header.height;
                        loaded.store.block_lookup(Some(head), None)
                    }
                    BlockSelector::Height(height) => loaded.store.block_lookup(Some(height), None),
                    BlockSelector::Hash(hash) => loaded.store.block_lookup(None, Some(&hash)),
                })?;
                let block = block.ok_or_else(|| ApiError::not_found("no such block"))?;
                internal_answer(&block)
            }
            InternalCall::AwaitBlock { height, wait_ms } => {
                internal_answer(&self.await_block(height, wait_ms).await?)
            }
            InternalCall::FullBlock(selector) => {
                let block = self.with(|loaded| match selector {
                    BlockSelector::Latest => {
                        let head = loaded.machine.head().header.height;
                        loaded.store.full_block_lookup(Some(head), None)
                    }
                    BlockSelector::Height(height) => {
                        loaded.store.full_block_lookup(Some(height), None)
                    }
                    BlockSelector::Hash(hash) => loaded.store.full_block_lookup(None, Some(&hash)),
                })?;
                let block = block.ok_or_else(|| ApiError::not_found("no such block"))?;
                internal_answer(&block)
            }
            InternalCall::RawTransaction(hash) => {
                let lookup = self.with(|loaded| {
                    let pending = loaded.machine.mempool().get(&hash).map(VerifiedTx::to_wire);
                    loaded.store.raw_transaction(&hash, pending)
                })?;
                internal_answer(&lookup)
            }
            InternalCall::ArchiveStatus => internal_answer(&self.archive_status()?),
            InternalCall::ArchiveBlocks { from, to } => {
                internal_answer(&self.blocks_to_archive(from, to)?)
            }
            InternalCall::Prune { through } => internal_answer(&self.prune(through).await?),
            InternalCall::Checkpoint => internal_answer(&self.checkpoint()?),
            InternalCall::Lease => {
                let request: LeaseRequest = wire::decode(&body, 64)?;
                internal_answer(&self.lease(request)?)
            }
            InternalCall::Restore => {
                let request: RestoreRequest = wire::decode(&body, REQUEST_BYTES_MAX)?;
                self.restore(&chain, &request).await?;
                internal_answer(&self.status(&chain)?)
            }
            InternalCall::AccountContext { address, height } => {
                let context = self.with(|loaded| {
                    let state = loaded.store.certified_state(height)?.ok_or_else(|| {
                        ApiError::new(503, "state_moving", format!("no block at height {height}"))
                    })?;
                    Ok(AccountContext {
                        pending_nonce: loaded
                            .machine
                            .mempool()
                            .pending_nonce(&address)
                            .unwrap_or(0),
                        header: state.header,
                        certificate: state.certificate,
                        shard_roots: state.shard_roots,
                    })
                })?;
                internal_answer(&context)
            }
            InternalCall::SetPaused(paused) => {
                let effects =
                    self.with(|loaded| Ok(loaded.machine.set_paused(now_ms(), paused)))?;
                self.drive(effects).await?;
                internal_answer(&self.status(&chain)?)
            }
            _ => {
                return Err(ApiError::not_found(format!(
                    "the sequencer has no endpoint {}",
                    call.path()
                )));
            }
        };
        answer.map_err(internal)
    }

    /// Admits verified transactions: persisted before the answer leaves.
    async fn submit(
        &self,
        chain: &Chain,
        request: SubmitRequest,
    ) -> Result<Vec<SubmissionResult>, ApiError> {
        let chain_id = chain.context.config.chain_id;
        let mut results: Vec<Option<SubmissionResult>> =
            Vec::with_capacity(request.transactions.len());
        let mut verified = Vec::with_capacity(request.transactions.len());
        let mut refused = request
            .refused
            .iter()
            .fold(0u64, |total, refusal| total.saturating_add(refusal.count));
        {
            let mut metrics = self.metrics.borrow_mut();
            for refusal in &request.refused {
                metrics.refused(&refusal.code, refusal.count);
            }
        }
        // Each wire form is dropped once decoded, so the decoded transactions take the room
        // it leaves rather than room beside the whole batch.
        let mut known = KnownKeys::new();
        for wire_tx in request.transactions {
            // The front door recovered the sender; decoding again only re-reads the fields.
            match wire_tx.decode_trusted_among(chain_id, &mut known) {
                Ok(tx) => {
                    results.push(None);
                    verified.push(tx);
                }
                Err(rejection) => {
                    refused += 1;
                    self.metrics.borrow_mut().refused(rejection.code(), 1);
                    results.push(Some(SubmissionResult::refused(&wire_tx.raw, &rejection)))
                }
            }
        }
        let hashes: Vec<Hash> = verified.iter().map(|tx| tx.hash()).collect();
        let (admissions, effects) = self.with(|loaded| {
            let committed = loaded
                .store
                .committed_among(&loaded.machine.possibly_committed(&verified))?;
            Ok(loaded
                .machine
                .submit(now_ms(), verified, |hash| committed.contains(hash)))
        })?;
        self.drive(effects).await?;
        // Persisted: the commit latency of the accepted ones is timed from now.
        let request_id: Option<Rc<str>> = request.request_id.as_deref().map(Rc::from);
        self.metrics
            .borrow_mut()
            .admissions(now_ms(), &hashes, &admissions, request_id.as_ref());
        log_rulings(request_id.as_deref(), &hashes, &admissions, refused);
        let mut admitted = hashes.iter().zip(&admissions);
        Ok(results
            .into_iter()
            .map(|result| {
                result.unwrap_or_else(|| match admitted.next() {
                    Some((hash, admission)) => SubmissionResult::admitted(*hash, admission),
                    None => unreachable!("one admission per verified transaction"),
                })
            })
            .collect())
    }

    /// The block at `height`, once it is committed or `wait_ms` has passed (then 404 if it
    /// still is not). The request waits on a waker the commit of that height fires.
    async fn await_block(&self, height: u64, wait_ms: u64) -> Result<BlockLookup, ApiError> {
        let committed = self.with(|loaded| Ok(loaded.machine.head().header.height >= height))?;
        if !committed && wait_ms > 0 {
            let (waker, woken) = oneshot::channel();
            {
                let mut waiters = self.block_waiters.borrow_mut();
                waiters.forget(oneshot::Sender::is_canceled);
                waiters.wait_for(height, waker)?;
            }
            // The front door checked the wait; the limit holds here too, whoever asks.
            let wait = Duration::from_millis(wait_ms.min(BLOCK_WAIT_MS_MAX));
            let deadline = std::pin::pin!(worker::Delay::from(wait));
            futures_util::future::select(woken, deadline).await;
            // A storage failure while this waited unloads the machine: load it again.
            self.ensure_loaded().await?;
        }
        self.with(|loaded| loaded.store.block_lookup(Some(height), None))?
            .ok_or_else(|| ApiError::not_found(format!("block {height} is not committed yet")))
    }

    fn status(&self, chain: &Chain) -> Result<StatusAnswer, ApiError> {
        self.with(|loaded| {
            let status = loaded.machine.status();
            let config = &chain.context.config;
            Ok(StatusAnswer {
                chain_id: config.chain_id,
                head_height: status.head_height,
                head_hash: status.head_hash,
                mempool_size: status.mempool_size as u64,
                validators: config
                    .validators
                    .members()
                    .iter()
                    .map(|validator| validator.address)
                    .collect(),
                shard_count: config.layout().shard_count(),
                paused: status.paused,
            })
        })
    }

    /// The state and counters `GET /metrics` reports.
    fn metrics_snapshot(&self) -> Result<SequencerSnapshot, ApiError> {
        self.with(|loaded| {
            let status = loaded.machine.status();
            let metrics = self.metrics.borrow();
            Ok(SequencerSnapshot {
                head_height: status.head_height,
                head_timestamp_ms: loaded.machine.head().header.timestamp_ms,
                mempool_transactions: status.mempool_size as u64,
                paused: status.paused,
                unconfirmed_write_sets: loaded.machine.unconfirmed_write_sets(),
                archived_through: loaded.store.archived_through()?,
                latency_tracked: metrics.latency_tracked() as u64,
                blocks_proposed_ahead: status.blocks_proposed_ahead,
                wasm_memory_bytes: worker_shell::wasm_memory_bytes(),
                counters: metrics.counters().clone(),
            })
        })
    }

    fn archive_status(&self) -> Result<ArchiveStatus, ApiError> {
        self.with(|loaded| {
            let head = loaded.machine.head().header.height;
            loaded.store.archive_status(head)
        })
    }

    /// Committed blocks `from..=to` for the archiver: as many as fit one answer.
    fn blocks_to_archive(&self, from: u64, to: u64) -> Result<Vec<CertifiedBlock>, ApiError> {
        if from == 0 || to < from || to - from >= ARCHIVE_BLOCKS_PER_RUN_MAX {
            return Err(ApiError::bad_request(
                "invalid_range",
                format!(
                    "blocks {from}..={to}: give 1 <= from <= to, at most {ARCHIVE_BLOCKS_PER_RUN_MAX}"
                ),
            ));
        }
        self.with(|loaded| {
            let mut blocks = Vec::new();
            let mut bytes = 0;
            for height in from..=to {
                let Some(block) = loaded.store.certified_block(height)? else {
                    break;
                };
                let encoded = block.encode();
                bytes += encoded.len();
                if bytes > ARCHIVE_ANSWER_BYTES_MAX && !blocks.is_empty() {
                    break;
                }
                self.handed_out
                    .borrow_mut()
                    .record(height, block.hash(), &encoded);
                blocks.push(block);
            }
            Ok(blocks)
        })
    }

    /// Prunes blocks through `through` once every one of them is found in KV exactly as held
    /// here (read back, and checked against the digest of the bytes handed out, or decoded
    /// and its hash compared): a block leaves hot storage only when its cold copy is known
    /// good.
    async fn prune(&self, through: u64) -> Result<ArchiveStatus, ApiError> {
        let status = self.archive_status()?;
        let Some((from, to)) = archive::check_prune(&status, through)? else {
            return Ok(status);
        };
        let kv = worker_shell::kv(&self.env, ARCHIVE_BINDING)?;
        for height in from..=to {
            let expected = self
                .with(|loaded| loaded.store.certified_state(height))?
                .map(|state| state.header.hash());
            let Some(expected) = expected else {
                continue; // pruned by a concurrent run
            };
            let bytes = worker_shell::kv_get(&kv, &archive::archived_block_key(height))
                .await?
                .ok_or_else(|| {
                    ApiError::from(archive::ArchiveError::ArchivedBlock {
                        height,
                        problem: "missing".to_owned(),
                    })
                })?;
            self.handed_out
                .borrow()
                .check_copy(&bytes, height, &expected)?;
        }
        self.handed_out.borrow_mut().forget_through(to);
        self.with(|loaded| {
            loaded.store.prune(from, to)?;
            let head = loaded.machine.head().header.height;
            loaded.store.archive_status(head)
        })
    }

    /// Takes, renews or gives back the archiver's lease: one archiver run at a time.
    fn lease(&self, request: LeaseRequest) -> Result<Option<archive::ArchiverLease>, ApiError> {
        self.with(|loaded| {
            let current = loaded.store.archiver_lease()?;
            let next = if request.acquire {
                Some(archive::ArchiverLease::acquire(
                    current,
                    request.holder,
                    now_ms(),
                    request.lease_ms,
                )?)
            } else {
                archive::ArchiverLease::release(current, request.holder)
            };
            loaded.store.put_archiver_lease(next)?;
            Ok(next)
        })
    }

    /// The head's certified state: what a backup is taken of.
    fn checkpoint(&self) -> Result<Checkpoint, ApiError> {
        self.with(|loaded| {
            let head = loaded.machine.head();
            Ok(Checkpoint {
                header: head.header,
                certificate: head.certificate.clone(),
                shard_roots: loaded.machine.shard_roots().to_vec(),
                settled: loaded.machine.status().unconfirmed_heights.is_empty(),
            })
        })
    }

    /// Restarts the chain from a restored certified block. Checked here too (the certificate,
    /// the shard roots, and that it does not move the chain back), though only the archiver
    /// can call it. Block production stays paused until the archiver resumes it.
    async fn restore(&self, chain: &Chain, request: &RestoreRequest) -> Result<(), ApiError> {
        let config = &chain.context.config;
        request
            .certificate
            .verify(&config.validators, config.chain_id, &request.header)
            .map_err(|error| {
                ApiError::new(
                    422,
                    "invalid_certificate",
                    format!("restored block: {error}"),
                )
            })?;
        let shard_count = config.layout().shard_count() as usize;
        if request.shard_roots.len() != shard_count
            || ledger::trie::root_over_shards(&request.shard_roots) != request.header.state_root
        {
            return Err(ApiError::new(
                422,
                "invalid_restore",
                "the shard roots do not give the restored block's state root",
            ));
        }
        let head = self.with(|loaded| Ok(loaded.machine.head().header))?;
        archive::check_no_rollback(
            head.height,
            &head.hash(),
            request.header.height,
            &request.header.hash(),
        )?;
        let persisted = self.with(|loaded| loaded.store.restore(request))?;
        // The blocks handed out were the replaced chain's.
        self.handed_out.borrow_mut().forget_all();
        let (machine, effects) = Machine::recover(
            config.clone(),
            TIMING,
            MempoolLimits::default(),
            &persisted,
            now_ms(),
            hash_seed(),
        )
        .map_err(|error| ApiError::new(422, "invalid_restore", error.to_string()))?;
        self.with(|loaded| {
            loaded.machine = machine;
            Ok(())
        })?;
        self.perform_recovery(effects).await
    }

    async fn run_alarm(&self) -> Result<(), ApiError> {
        self.ensure_loaded().await?;
        let effects = self.with(|loaded| Ok(loaded.machine.alarm(now_ms())))?;
        self.drive(effects).await
    }

    /// Runs `work` on the loaded machine and store. A storage failure unloads them.
    fn with<T>(
        &self,
        work: impl FnOnce(&mut Loaded) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut slot = self.loaded.borrow_mut();
        let loaded = slot
            .as_mut()
            .ok_or_else(|| internal("the sequencer is not loaded"))?;
        let result = work(loaded);
        if matches!(&result, Err(error) if error.status == 500) {
            *slot = None;
        }
        result
    }

    /// Loads the machine from storage (writing genesis on the very first use). Recovery's
    /// storage effects are performed now; its calls are left to an immediate alarm, so a read
    /// request is not held up by a round.
    async fn ensure_loaded(&self) -> Result<(), ApiError> {
        if self.loaded.borrow().is_some() {
            return Ok(());
        }
        let chain = worker_shell::chain(&self.env)?;
        let store = Store::open(self.state.storage().sql())?;
        let config = chain.context.config.clone();
        let (machine, effects) = match store.load()? {
            None => {
                let persisted = Persisted::genesis(
                    Head {
                        header: chain.genesis_header,
                        certificate: QuorumCertificate::genesis(),
                    },
                    chain.genesis_shard_roots.clone(),
                );
                store.initialise(&persisted)?;
                let machine = Machine::new(
                    config,
                    TIMING,
                    MempoolLimits::default(),
                    chain.genesis_header,
                    chain.genesis_shard_roots.clone(),
                    hash_seed(),
                )
                .map_err(|error| worker_shell::misconfigured(error.to_string()))?;
                (machine, Vec::new())
            }
            Some(persisted) => Machine::recover(
                config,
                TIMING,
                MempoolLimits::default(),
                &persisted,
                now_ms(),
                hash_seed(),
            )
            .map_err(|error| internal(format!("recovering the sequencer: {error}")))?,
        };
        *self.loaded.borrow_mut() = Some(Loaded { machine, store });
        self.perform_recovery(effects).await
    }

    /// Performs what a recovered machine asks for: its storage effects now, its calls (and
    /// any alarm) in an immediate alarm, so the machine's idea of a scheduled alarm is true.
    async fn perform_recovery(&self, effects: Vec<Effect>) -> Result<(), ApiError> {
        let mut needs_alarm = false;
        for effect in effects {
            if effect.is_call() {
                needs_alarm = true;
            } else {
                self.with(|loaded| loaded.store.record(&effect))?;
            }
        }
        if needs_alarm {
            self.set_alarm(now_ms()).await?;
        }
        Ok(())
    }

    /// Performs effects in order; calls run concurrently and each answer is fed back into the
    /// machine as it arrives, until nothing is in flight.
    async fn drive(&self, effects: Vec<Effect>) -> Result<(), ApiError> {
        let mut queue = VecDeque::from(effects);
        let mut in_flight: InFlight<'_> = FuturesUnordered::new();
        loop {
            let mut after_proposal = false;
            // Dropped once the effects after a proposal let out first are performed (or
            // failed): that lets in what arrived meanwhile.
            let mut held = None;
            while let Some(effect) = queue.pop_front() {
                let is_proposal = matches!(effect, Effect::Propose(_));
                self.perform(effect, &mut in_flight, after_proposal).await?;
                if is_proposal && !queue.is_empty() {
                    held = Some(self.hold_arrivals());
                    self.let_the_proposal_leave(&mut in_flight, &mut queue)
                        .await?;
                }
                after_proposal |= is_proposal;
            }
            if held.take().is_some() {
                *self.effects_behind.borrow_mut() = None;
            }
            let Some(input) = in_flight.next().await else {
                return Ok(());
            };
            queue.extend(self.answered(input)?);
        }
    }

    /// Feeds an answer to the machine (a vote is counted in the metrics first) and returns
    /// the machine's effects.
    fn answered(&self, input: Input) -> Result<Vec<Effect>, ApiError> {
        if let Input::Vote {
            validator,
            elapsed_ms,
            result,
        } = &input
        {
            self.metrics
                .borrow_mut()
                .vote(*validator, *elapsed_ms, result.is_ok());
        }
        self.with(|loaded| Ok(feed(&mut loaded.machine, input)))
    }

    /// Sends a proposal just performed before the effects after it are: a block built ahead
    /// is proposed before its parent's commit ([`Effect::Propose`]), and the validators check
    /// it while this object writes that commit, instead of after.
    ///
    /// Polling the vote requests starts them; workerd lets them out once the writes before
    /// them (the proposal) are durable, and a turn of the event loop hands them over.
    /// Requests and the alarm that arrive meanwhile wait ([`Self::hold_arrivals`]): the
    /// machine has the commit, storage not yet, and a read of that block must not find it
    /// missing. (`blockConcurrencyWhile` would hold them too, but with four validators it
    /// once waited out its 30 s limit, and workerd reset the object.)
    async fn let_the_proposal_leave<'a>(
        &'a self,
        in_flight: &mut InFlight<'a>,
        queue: &mut VecDeque<Effect>,
    ) -> Result<(), ApiError> {
        // An answer this early can only be a failed call; it is fed back like any.
        while let Poll::Ready(Some(input)) = futures_util::poll!(in_flight.next()) {
            queue.extend(self.answered(input)?);
        }
        // Only an ordering: if the sync fails, the writes after it fail too, and unload the
        // machine.
        let _ = self.state.storage().sync().await;
        worker::Delay::from(Duration::ZERO).await;
        Ok(())
    }

    /// Makes requests and the alarm that arrive from now on wait until the returned sender is
    /// dropped ([`Self::storage_caught_up`]).
    fn hold_arrivals(&self) -> oneshot::Sender<()> {
        let (release, released) = oneshot::channel();
        *self.effects_behind.borrow_mut() = Some(released.shared());
        release
    }

    /// Waits while a proposal let out first has effects behind it not yet performed.
    async fn storage_caught_up(&self) {
        let behind = self.effects_behind.borrow().clone();
        if let Some(behind) = behind {
            // Released by a drop: `Canceled` is the signal, not a failure.
            let _ = behind.await;
        }
    }

    /// Performs one effect; `after_proposal` says a proposal went before it in this batch, so
    /// its shard calls let it go first ([`SHARD_CALLS_AFTER_A_PROPOSAL`]).
    async fn perform<'a>(
        &'a self,
        effect: Effect,
        in_flight: &mut InFlight<'a>,
        after_proposal: bool,
    ) -> Result<(), ApiError> {
        // A proposal comes back encoded: the bytes stored (to re-send after a restart) are
        // the ones sent to every validator.
        let encoded_proposal = self.with(|loaded| loaded.store.record(&effect))?;
        self.observe(&effect)?;
        match effect {
            Effect::SetAlarm(at_ms) => self.set_alarm(at_ms).await?,
            Effect::RequestWitness { round, request } => {
                let call = self.request_witness(round, request);
                in_flight.push(Box::pin(self.after(after_proposal, call)));
            }
            Effect::Propose(proposal) => {
                let request_ids = self.proposal_request_ids()?;
                crate::metrics::log_proposal(&proposal, request_ids.as_deref());
                // Always there for a proposal (recorded above).
                if let Some(encoded) = encoded_proposal {
                    for future in self.propose(encoded, request_ids) {
                        in_flight.push(future);
                    }
                }
            }
            Effect::SendWriteSet(write_set) => {
                let call = self.send_write_set(write_set);
                in_flight.push(Box::pin(self.after(after_proposal, call)));
            }
            Effect::ApplyThenWitness {
                write_set,
                round,
                request,
            } => {
                let call = self.apply_then_witness(write_set, round, request);
                in_flight.push(Box::pin(self.after(after_proposal, call)));
            }
            Effect::Commit { block, .. } => {
                let committed = block.header.height;
                for waker in self.block_waiters.borrow_mut().committed_through(committed) {
                    // A request that gave up dropped its end: nobody to tell.
                    let _ = waker.send(());
                }
            }
            Effect::PersistPending(_) | Effect::DropPending(_) | Effect::SetPaused(_) => {}
        }
        Ok(())
    }

    /// `call`, made only once a proposal sent before it is on its way, if there was one.
    async fn after(&self, after_proposal: bool, call: impl Future<Output = Input>) -> Input {
        if after_proposal {
            // The wait only orders the calls, nothing depends on it: if it fails, the call
            // goes at once.
            let _ = self.state.storage().sync().await;
            worker::Delay::from(SHARD_CALLS_AFTER_A_PROPOSAL).await;
        }
        call.await
    }

    /// Counts a performed effect; a commit is logged, and timed admissions that left the
    /// mempool unseen are forgotten.
    fn observe(&self, effect: &Effect) -> Result<(), ApiError> {
        let Some(commit) = self.metrics.borrow_mut().effect(now_ms(), effect) else {
            return Ok(());
        };
        crate::metrics::log_commit(&commit);
        self.with(|loaded| {
            let mempool = loaded.machine.mempool();
            self.metrics
                .borrow_mut()
                .reconcile(mempool.len(), |hash| mempool.contains(hash));
            Ok(())
        })
    }

    async fn set_alarm(&self, at_ms: u64) -> Result<(), ApiError> {
        let date =
            worker::js_sys::Date::new(&worker::wasm_bindgen::JsValue::from_f64(at_ms as f64));
        self.state
            .storage()
            .set_alarm(ScheduledTime::new(date))
            .await
            .map_err(|error| internal(format!("setting the alarm: {error}")))
    }

    fn shard_target(&self, shard: ShardIndex) -> Result<worker::Stub, String> {
        self.env
            .durable_object(SHARD_BINDING)
            .and_then(|namespace| namespace.get_by_name(&wire::shard_object_name(shard)))
            .map_err(|error| format!("shard {shard} binding: {error}"))
    }

    async fn request_witness(&self, round: RoundId, request: WitnessRequest) -> Input {
        let shard = request.shard;
        let result = match self.shard_target(shard) {
            Ok(stub) => worker_shell::call::<PartialTree>(
                Target::Object(&stub),
                &InternalCall::Witness,
                Some(&wire::encode(&request)),
                WITNESS_BYTES_MAX,
                deadline(),
            )
            .await
            .map_err(describe),
            Err(error) => Err(error),
        };
        Input::Witness {
            round,
            shard,
            result,
        }
    }

    async fn send_write_set(&self, write_set: WriteSet) -> Input {
        let (height, shard) = (write_set.height, write_set.shard);
        let result = self
            .call_shard_traced::<ApplyAnswer>(
                height,
                shard,
                &InternalCall::Apply,
                wire::encode(&write_set),
                1024,
            )
            .await
            .map(|_| ());
        Input::Applied {
            height,
            shard,
            result,
        }
    }

    async fn apply_then_witness(
        &self,
        write_set: WriteSet,
        round: RoundId,
        witness: WitnessRequest,
    ) -> Input {
        let (height, shard) = (write_set.height, write_set.shard);
        let request = ApplyThenWitnessRequest { write_set, witness };
        let answer = self
            .call_shard_traced::<ApplyThenWitnessAnswer>(
                height,
                shard,
                &InternalCall::ApplyThenWitness,
                wire::encode(&request),
                WITNESS_BYTES_MAX + 1024,
            )
            .await;
        let (applied, witness) = match answer {
            Ok(answer) => (Ok(()), answer.witness),
            Err(error) => (Err(error.clone()), Err(error)),
        };
        Input::AppliedThenWitness {
            height,
            shard,
            applied,
            round,
            witness,
        }
    }

    /// A call to a shard about the block at `height`, carrying the request ids of the
    /// transactions that made it.
    async fn call_shard_traced<T: serde::de::DeserializeOwned>(
        &self,
        height: u64,
        shard: ShardIndex,
        call: &InternalCall,
        body: Vec<u8>,
        answer_bytes_max: usize,
    ) -> Result<T, String> {
        let request_ids = logs::request_ids_header(
            self.metrics
                .borrow()
                .commit_request_ids(height)
                .iter()
                .map(|id| &**id),
        );
        let stub = self.shard_target(shard)?;
        worker_shell::call_traced::<T>(
            Target::Object(&stub),
            call,
            Some(&body),
            answer_bytes_max,
            deadline(),
            request_ids.as_deref(),
        )
        .await
        .map_err(describe)
    }

    /// The `x-request-id` value of the proposal being voted on: the requests that submitted
    /// its transactions.
    fn proposal_request_ids(&self) -> Result<Option<String>, ApiError> {
        self.with(|loaded| {
            let ids = self
                .metrics
                .borrow()
                .request_ids(loaded.machine.proposed_tx_hashes());
            Ok(logs::request_ids_header(ids.iter().map(|id| &**id)))
        })
    }

    /// One vote request per validator, all sending the one encoding of the proposal. Each
    /// request hands it to the runtime as it starts and lets go of it, so it is freed once
    /// every request has started, not held (megabytes, for a full block) until every vote is
    /// back.
    fn propose<'a>(
        &'a self,
        body: Vec<u8>,
        request_ids: Option<String>,
    ) -> Vec<Pin<Box<dyn Future<Output = Input> + 'a>>> {
        debug_assert!(body.len() <= PROPOSAL_BYTES_MAX);
        let body = Rc::new(body);
        let count = self
            .loaded
            .borrow()
            .as_ref()
            .map_or(0, |loaded| loaded.machine.config().validators.len());
        (0..count)
            .map(|index| {
                let shared = Rc::clone(&body);
                let request_ids = request_ids.clone();
                Box::pin(async move {
                    let sent_ms = now_ms();
                    let result = match self.env.service(&validator_binding(index)) {
                        Ok(fetcher) => {
                            let vote = worker_shell::call_traced::<Vote>(
                                Target::Service(&fetcher),
                                &InternalCall::Propose,
                                Some(shared.as_slice()),
                                VOTE_BYTES_MAX,
                                deadline(),
                                request_ids.as_deref(),
                            );
                            drop(shared);
                            vote.await.map_err(describe)
                        }
                        Err(error) => Err(format!("validator {index} binding: {error}")),
                    };
                    if let Err(error) = &result {
                        // Operators need to see refusals (a guard refusing is a red flag).
                        worker::console_warn!("validator {index} did not vote: {error}");
                    }
                    Input::Vote {
                        validator: index,
                        elapsed_ms: now_ms().saturating_sub(sent_ms),
                        result,
                    }
                }) as Pin<Box<dyn Future<Output = Input> + 'a>>
            })
            .collect()
    }
}

/// Feeds one answer into the machine.
fn feed(machine: &mut Machine, input: Input) -> Vec<Effect> {
    let now = now_ms();
    match input {
        Input::Witness {
            round,
            shard,
            result,
        } => machine.witness_received(now, round, shard, result),
        Input::Vote { result, .. } => machine.vote_received(now, result),
        Input::Applied {
            height,
            shard,
            result,
        } => machine.write_set_applied(now, height, shard, result),
        Input::AppliedThenWitness {
            height,
            shard,
            applied,
            round,
            witness,
        } => machine.applied_then_witnessed(now, (height, shard), applied, round, witness),
    }
}

/// Logs a submission's rulings (`refused`: refused before the mempool, here or at the front
/// door).
fn log_rulings(request_id: Option<&str>, hashes: &[Hash], admissions: &[Admission], refused: u64) {
    let accepted: Vec<Hash> = hashes
        .iter()
        .zip(admissions)
        .filter(|(_, admission)| **admission == Admission::Accepted)
        .map(|(hash, _)| *hash)
        .collect();
    let duplicates = admissions
        .iter()
        .filter(|admission| **admission == Admission::Duplicate)
        .count();
    let rejected = admissions.len() - accepted.len() - duplicates + refused as usize;
    crate::metrics::log_admission(request_id, &accepted, duplicates, rejected);
}

fn deadline() -> Duration {
    Duration::from_millis(TIMING.round_timeout_ms)
}

fn describe(error: ledger::api::ErrorAnswer) -> String {
    format!(
        "{} {}: {}",
        error.status, error.body.error.code, error.body.error.message
    )
}

/// Seed of the mempool's hash tables. It only needs to be unpredictable to clients (against
/// hash flooding), not cryptographic: the runtime's `Math.random` suffices and needs no
/// entropy crate in the wasm build.
fn hash_seed() -> u64 {
    let high = (worker::js_sys::Math::random() * 4_294_967_296.0) as u64;
    let low = (worker::js_sys::Math::random() * 4_294_967_296.0) as u64;
    (high << 32) ^ low
}
