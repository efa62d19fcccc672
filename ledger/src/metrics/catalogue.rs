//! Everything edgeledger exports on `GET /metrics`: names, types, labels and help, in one
//! place. The front door gathers a [`Scrape`] (the chain configuration, the `Sequencer`'s
//! [`SequencerSnapshot`], every shard's [`ShardStats`], the backup index) and [`render`]
//! writes it.
//!
//! | name | type | labels |
//! | --- | --- | --- |
//! | `edgeledger_chain_info` | gauge (1) | `chain_id` |
//! | `edgeledger_shards`, `edgeledger_validators` | gauge | |
//! | `edgeledger_validator_info` | gauge (1) | `validator`, `address` |
//! | `edgeledger_scrape_source_up` | gauge (0/1) | `source` (`sequencer`, `archiver`) |
//! | `edgeledger_head_height`, `edgeledger_head_timestamp_seconds`, `edgeledger_head_age_seconds` | gauge | |
//! | `edgeledger_mempool_transactions`, `edgeledger_paused` | gauge | |
//! | `edgeledger_unconfirmed_write_set_heights`, `edgeledger_unconfirmed_write_sets` | gauge | |
//! | `edgeledger_shard_state_height`, `edgeledger_shard_apply_lag_blocks` | gauge | `shard` |
//! | `edgeledger_shard_up`, `edgeledger_shard_accounts`, `edgeledger_shard_applied_height` | gauge | `shard` |
//! | `edgeledger_archived_through_height` | gauge | |
//! | `edgeledger_transactions_admitted_total`, `edgeledger_transactions_duplicate_total` | counter | |
//! | `edgeledger_transactions_rejected_total`, `edgeledger_transactions_dropped_total` | counter | `reason` |
//! | `edgeledger_blocks_committed_total`, `edgeledger_transactions_committed_total` | counter | |
//! | `edgeledger_block_transactions` | histogram | |
//! | `edgeledger_commit_latency_seconds` | histogram | |
//! | `edgeledger_commit_latency_tracked_transactions` | gauge | |
//! | `edgeledger_proposals_sent_total`, `edgeledger_blocks_proposed_ahead_total` | counter | |
//! | `edgeledger_proposal_round_trip_seconds` | histogram | |
//! | `edgeledger_votes_received_total`, `edgeledger_votes_missed_total` | counter | `validator` |
//! | `edgeledger_vote_latency_seconds` | histogram | `validator` |
//! | `edgeledger_sequencer_start_time_seconds` | gauge | |
//! | `edgeledger_backup_latest_height`, `edgeledger_backup_latest_timestamp_seconds`, `edgeledger_backup_latest_age_seconds` | gauge | |
//! | `edgeledger_wasm_memory_bytes` | gauge | `object` (`front_door`, `sequencer`, `shard`), `shard` |
//! | `edgeledger_backup_latest_accounts`, `edgeledger_backup_latest_size_bytes`, `edgeledger_backups_retained` | gauge | |
//!
//! Nothing secret is exported: the configuration's public parts, heights, counts and times.
//! A source that did not answer is `edgeledger_scrape_source_up{source} 0` and its metrics
//! are left out, so one slow service does not hide the others.
//!
//! The archive lag (blocks beyond the hot window not yet archived) is
//! `edgeledger_head_height - edgeledger_archived_through_height - ARCHIVE_HOT_BLOCKS`: the
//! hot window is the archiver's setting, which the front door does not have.

use std::collections::BTreeMap;

use super::sequencer::SequencerSnapshot;
use super::{Exposition, Value};
use crate::archive::{BackupIndex, BackupRecord};
use crate::genesis::ChainConfig;
use crate::wire::ShardStats;

/// What one scrape gathered.
#[derive(Debug, Clone, Copy)]
pub struct Scrape<'a> {
    /// When the scrape was made, milliseconds since the Unix epoch (for ages).
    pub now_ms: u64,
    /// The chain's configuration.
    pub config: &'a ChainConfig,
    /// The `Sequencer`'s snapshot, `None` if it did not answer.
    pub sequencer: Option<&'a SequencerSnapshot>,
    /// Each shard's stats in shard order, `None` for a shard that did not answer.
    pub shards: &'a [Option<ShardStats>],
    /// The backup index, `None` if the archiver did not answer.
    pub backups: Option<&'a BackupIndex>,
    /// Bytes of wasm linear memory of the front door's own isolate.
    pub front_door_wasm_memory_bytes: u64,
}

/// The exposition text of a scrape.
pub fn render(scrape: &Scrape<'_>) -> String {
    let mut out = Exposition::new();
    chain(&mut out, scrape);
    if let Some(snapshot) = scrape.sequencer {
        sequencer_state(&mut out, scrape, snapshot);
        shards(&mut out, scrape, snapshot);
        sequencer_counters(&mut out, snapshot);
        consensus(&mut out, snapshot);
    }
    shard_stats(&mut out, scrape.shards);
    wasm_memory(&mut out, scrape);
    if let Some(index) = scrape.backups {
        backups(&mut out, scrape.now_ms, index);
    }
    out.finish()
}

fn chain(out: &mut Exposition, scrape: &Scrape<'_>) {
    let config = scrape.config;
    let chain_id = config.chain_id.to_string();
    out.gauge(
        "edgeledger_chain_info",
        "The chain this service runs; always 1.",
    )
    .sample(&[("chain_id", &chain_id)], 1);
    out.gauge(
        "edgeledger_shards",
        "Shards of the state (fixed in genesis).",
    )
    .sample(&[], u64::from(config.layout().shard_count()));
    out.gauge(
        "edgeledger_validators",
        "Validators in the set that certifies blocks.",
    )
    .sample(&[], config.validators.len() as u64);
    let mut info = out.gauge(
        "edgeledger_validator_info",
        "Each validator's index in the validator set and its address; always 1.",
    );
    for (index, validator) in config.validators.members().iter().enumerate() {
        let index = index.to_string();
        let address = validator.address.to_string();
        info.sample(&[("validator", &index), ("address", &address)], 1);
    }
    out.gauge(
        "edgeledger_scrape_source_up",
        "Whether the service answered this scrape (1) or not (0); its metrics are missing when not.",
    )
    .sample(&[("source", "sequencer")], scrape.sequencer.is_some())
    .sample(&[("source", "archiver")], scrape.backups.is_some());
}

fn sequencer_state(out: &mut Exposition, scrape: &Scrape<'_>, snapshot: &SequencerSnapshot) {
    out.gauge(
        "edgeledger_head_height",
        "Height of the latest certified block.",
    )
    .sample(&[], snapshot.head_height);
    out.gauge(
        "edgeledger_head_timestamp_seconds",
        "Timestamp of the latest certified block, seconds since the Unix epoch.",
    )
    .sample(&[], seconds(snapshot.head_timestamp_ms));
    out.gauge(
        "edgeledger_head_age_seconds",
        "Seconds since the latest certified block's timestamp (an idle chain makes no blocks).",
    )
    .sample(&[], age_seconds(scrape.now_ms, snapshot.head_timestamp_ms));
    out.gauge(
        "edgeledger_mempool_transactions",
        "Transactions admitted and waiting for a block.",
    )
    .sample(&[], snapshot.mempool_transactions);
    out.gauge(
        "edgeledger_paused",
        "Whether block production is paused by an operator (1) or not (0).",
    )
    .sample(&[], snapshot.paused);
    let heights: std::collections::BTreeSet<u64> = snapshot
        .unconfirmed_write_sets
        .iter()
        .map(|(height, _)| *height)
        .collect();
    out.gauge(
        "edgeledger_unconfirmed_write_set_heights",
        "Committed heights whose write sets some shard has not confirmed yet.",
    )
    .sample(&[], heights.len() as u64);
    out.gauge(
        "edgeledger_unconfirmed_write_sets",
        "Write sets committed but not yet confirmed by their shard.",
    )
    .sample(&[], snapshot.unconfirmed_write_sets.len() as u64);
    out.gauge(
        "edgeledger_archived_through_height",
        "Every block from 1 through this height is archived in KV and pruned from the sequencer (0: none).",
    )
    .sample(&[], snapshot.archived_through);
}

/// Per shard: the height whose certified state it holds (the head unless a write set is
/// unconfirmed: then the height before its oldest unconfirmed one) and its lag behind the head.
fn shards(out: &mut Exposition, scrape: &Scrape<'_>, snapshot: &SequencerSnapshot) {
    let mut oldest_unconfirmed: BTreeMap<u32, u64> = BTreeMap::new();
    for (height, shard) in &snapshot.unconfirmed_write_sets {
        let oldest = oldest_unconfirmed
            .entry(u32::from(*shard))
            .or_insert(*height);
        *oldest = (*oldest).min(*height);
    }
    let head = snapshot.head_height;
    let state_height = |shard: u32| {
        oldest_unconfirmed
            .get(&shard)
            .map_or(head, |oldest| oldest.saturating_sub(1).min(head))
    };
    let shard_count = scrape.config.layout().shard_count();
    let mut family = out.gauge(
        "edgeledger_shard_state_height",
        "Height of the certified state each shard holds, as the sequencer knows from confirmed write sets.",
    );
    for shard in 0..shard_count {
        family.sample(&[("shard", &shard.to_string())], state_height(shard));
    }
    let mut family = out.gauge(
        "edgeledger_shard_apply_lag_blocks",
        "Blocks each shard is behind the head (write sets not yet applied).",
    );
    for shard in 0..shard_count {
        family.sample(&[("shard", &shard.to_string())], head - state_height(shard));
    }
}

/// What each shard reports of itself: whether it answered, its accounts and its height.
fn shard_stats(out: &mut Exposition, shards: &[Option<ShardStats>]) {
    let mut family = out.gauge(
        "edgeledger_shard_up",
        "Whether the shard answered this scrape (1) or not (0); its other shard_ metrics are missing when not.",
    );
    for (shard, stats) in shards.iter().enumerate() {
        family.sample(&[("shard", &shard.to_string())], stats.is_some());
    }
    let answered = || {
        shards
            .iter()
            .enumerate()
            .filter_map(|(shard, stats)| Some((shard.to_string(), (*stats)?)))
    };
    let mut family = out.gauge(
        "edgeledger_shard_accounts",
        "Accounts each shard holds (every funded or used address in its range).",
    );
    for (shard, stats) in answered() {
        family.sample(&[("shard", &shard)], stats.accounts);
    }
    let mut family = out.gauge(
        "edgeledger_shard_applied_height",
        "Height of the last block each shard applied, as the shard reports it.",
    );
    for (shard, stats) in answered() {
        family.sample(&[("shard", &shard)], stats.meta.applied_height);
    }
}

/// Each isolate's wasm linear memory: the figure to hold against an isolate's 128 MB.
fn wasm_memory(out: &mut Exposition, scrape: &Scrape<'_>) {
    let mut family = out.gauge(
        "edgeledger_wasm_memory_bytes",
        "Wasm linear memory of the isolate each object runs in: its heap at its largest since the isolate started (it never shrinks).",
    );
    family.sample(
        &[("object", "front_door")],
        scrape.front_door_wasm_memory_bytes,
    );
    if let Some(snapshot) = scrape.sequencer {
        family.sample(&[("object", "sequencer")], snapshot.wasm_memory_bytes);
    }
    for (shard, stats) in scrape.shards.iter().enumerate() {
        if let Some(stats) = stats {
            family.sample(
                &[("object", "shard"), ("shard", &shard.to_string())],
                stats.wasm_memory_bytes,
            );
        }
    }
}

fn sequencer_counters(out: &mut Exposition, snapshot: &SequencerSnapshot) {
    let counters = &snapshot.counters;
    out.counter(
        "edgeledger_transactions_admitted_total",
        "Transactions admitted to the mempool.",
    )
    .sample(&[], counters.admitted);
    out.counter(
        "edgeledger_transactions_duplicate_total",
        "Submissions of a transaction already pending or committed (nothing changed).",
    )
    .sample(&[], counters.duplicates);
    let mut family = out.counter(
        "edgeledger_transactions_rejected_total",
        "Transactions refused at submission, by reason code (the API's error code).",
    );
    for (reason, count) in &counters.rejected {
        family.sample(&[("reason", reason.as_str())], *count);
    }
    let mut family = out.counter(
        "edgeledger_transactions_dropped_total",
        "Admitted transactions dropped because they can never be included, by reason code.",
    );
    for (reason, count) in &counters.dropped {
        family.sample(&[("reason", reason.as_str())], *count);
    }
    out.counter(
        "edgeledger_blocks_committed_total",
        "Blocks certified by a quorum and committed.",
    )
    .sample(&[], counters.blocks_committed);
    out.counter(
        "edgeledger_transactions_committed_total",
        "Transactions in committed blocks.",
    )
    .sample(&[], counters.transactions_committed);
    out.histogram(
        "edgeledger_block_transactions",
        "Transactions per committed block.",
    )
    .observed(&[], &counters.block_transactions);
    out.histogram(
        "edgeledger_commit_latency_seconds",
        "Seconds from persisting a transaction's admission to committing its block \
         (transactions admitted before the sequencer started are not timed).",
    )
    .observed(&[], &counters.commit_latency_seconds);
    out.gauge(
        "edgeledger_commit_latency_tracked_transactions",
        "Pending transactions whose commit latency is being timed.",
    )
    .sample(&[], snapshot.latency_tracked);
    out.gauge(
        "edgeledger_sequencer_start_time_seconds",
        "When the sequencer's counters started from zero, seconds since the Unix epoch.",
    )
    .sample(&[], seconds(counters.since_ms));
}

fn consensus(out: &mut Exposition, snapshot: &SequencerSnapshot) {
    let counters = &snapshot.counters;
    out.counter(
        "edgeledger_proposals_sent_total",
        "Proposals sent to the validators (re-proposals of a block included).",
    )
    .sample(&[], counters.proposals_sent);
    out.counter(
        "edgeledger_blocks_proposed_ahead_total",
        "Blocks proposed the moment their parent committed, built while it was voted on.",
    )
    .sample(&[], snapshot.blocks_proposed_ahead);
    out.histogram(
        "edgeledger_proposal_round_trip_seconds",
        "Seconds from first proposing a block to committing it with its quorum certificate.",
    )
    .observed(&[], &counters.proposal_round_trip_seconds);
    let indexed: Vec<(String, &super::sequencer::ValidatorCounters)> = counters
        .validators
        .iter()
        .enumerate()
        .map(|(index, validator)| (index.to_string(), validator))
        .collect();
    let mut family = out.counter(
        "edgeledger_votes_received_total",
        "Proposals each validator answered with a vote.",
    );
    for (index, validator) in &indexed {
        family.sample(&[("validator", index.as_str())], validator.votes);
    }
    let mut family = out.counter(
        "edgeledger_votes_missed_total",
        "Proposals each validator did not vote on (an error, a refusal or no answer in time).",
    );
    for (index, validator) in &indexed {
        family.sample(&[("validator", index.as_str())], validator.missed);
    }
    let mut family = out.histogram(
        "edgeledger_vote_latency_seconds",
        "Seconds from sending a proposal to each validator's vote.",
    );
    for (index, validator) in &indexed {
        family.observed(
            &[("validator", index.as_str())],
            &validator.vote_latency_seconds,
        );
    }
}

/// A gauge of the latest backup: name, help, and its value from the record and the time.
type LatestBackupGauge = (&'static str, &'static str, fn(&BackupRecord, u64) -> Value);

fn backups(out: &mut Exposition, now_ms: u64, index: &BackupIndex) {
    let retained = index.latest.iter().count() + index.history.len();
    out.gauge(
        "edgeledger_backups_retained",
        "Backups in the index (the latest and the older ones still pinned).",
    )
    .sample(&[], retained as u64);
    // Declared even before the first backup (no sample then: a zero would read as a backup at
    // height 0), so dashboards and alerts find every family from the start.
    let latest_gauges: [LatestBackupGauge; 5] = [
        (
            "edgeledger_backup_latest_height",
            "Height of the block the latest verified backup holds.",
            |latest, _| latest.height.into(),
        ),
        (
            "edgeledger_backup_latest_timestamp_seconds",
            "When the latest backup was made, seconds since the Unix epoch.",
            |latest, _| seconds(latest.created_at_ms).into(),
        ),
        (
            "edgeledger_backup_latest_age_seconds",
            "Seconds since the latest backup was made.",
            |latest, now_ms| age_seconds(now_ms, latest.created_at_ms).into(),
        ),
        (
            "edgeledger_backup_latest_accounts",
            "Accounts in the latest backup.",
            |latest, _| latest.accounts.into(),
        ),
        (
            "edgeledger_backup_latest_size_bytes",
            "Bytes of the latest backup's encrypted envelope.",
            |latest, _| latest.ciphertext_bytes.into(),
        ),
    ];
    for (name, help, value) in latest_gauges {
        let mut family = out.gauge(name, help);
        if let Some(latest) = &index.latest {
            family.sample(&[], value(latest, now_ms));
        }
    }
}

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn age_seconds(now_ms: u64, then_ms: u64) -> f64 {
    seconds(now_ms.saturating_sub(then_ms))
}
