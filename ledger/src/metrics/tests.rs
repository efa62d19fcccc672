//! The exposition encoder's exact text, the `Sequencer`'s counting, request ids, and the
//! catalogue rendered and parsed back line by line.
#![allow(
    clippy::panic,
    reason = "a test reports a missing or malformed sample by panicking"
)]

use std::collections::BTreeSet;
use std::rc::Rc;

use super::catalogue::{Scrape, render};
use super::logs::{
    COMMIT_LOG_REQUEST_IDS_MAX, choose_request_id, is_request_id, parse_request_ids,
    request_ids_header,
};
use super::sequencer::{
    ADMISSION_TIMES_MAX, LATENCY_BUCKETS_SECONDS, OTHER_REASON, REASONS_MAX, SequencerMetrics,
    SequencerSnapshot,
};
use super::*;
use std::collections::BTreeMap;

use crate::archive::{BackupIndex, BackupRecord, PinningBackend};
use crate::block::{BlockFormat, CertifiedBlock, Header, Receipt};
use crate::consensus::{QuorumCertificate, ValidatorSet};
use crate::execution::Exclusion;
use crate::genesis::ChainConfig;
use crate::mempool::{Admission, AdmissionRejection};
use crate::primitives::{Address, Hash, U256};
use crate::proposal::Proposal;
use crate::sequencer::Effect;
use crate::shard::ShardMeta;
use crate::signature::SecretKey;
use crate::state::ShardLayout;
use crate::trie::Witness;
use crate::wire::ShardStats;

#[test]
fn a_counter_and_a_gauge_with_labels_are_written_exactly() {
    let mut out = Exposition::new();
    out.counter("edgeledger_things_total", "Things that happened.")
        .sample(&[], 3u64);
    out.gauge("edgeledger_temperature_celsius", "How warm it is.")
        .sample(&[("room", "a"), ("floor", "1")], 21.5)
        .sample(&[("room", "b"), ("floor", "1")], -3.0)
        .sample(&[("room", "c"), ("floor", "2")], f64::NAN)
        .sample(&[("room", "d"), ("floor", "2")], true);
    assert_eq!(
        out.finish(),
        "# HELP edgeledger_things_total Things that happened.\n\
         # TYPE edgeledger_things_total counter\n\
         edgeledger_things_total 3\n\
         # HELP edgeledger_temperature_celsius How warm it is.\n\
         # TYPE edgeledger_temperature_celsius gauge\n\
         edgeledger_temperature_celsius{room=\"a\",floor=\"1\"} 21.5\n\
         edgeledger_temperature_celsius{room=\"b\",floor=\"1\"} -3\n\
         edgeledger_temperature_celsius{room=\"c\",floor=\"2\"} NaN\n\
         edgeledger_temperature_celsius{room=\"d\",floor=\"2\"} 1\n"
    );
}

#[test]
fn a_family_without_samples_still_has_its_help_and_type() {
    let mut out = Exposition::new();
    out.counter("edgeledger_refusals_total", "Refusals by reason.");
    assert_eq!(
        out.finish(),
        "# HELP edgeledger_refusals_total Refusals by reason.\n\
         # TYPE edgeledger_refusals_total counter\n"
    );
}

#[test]
fn a_histogram_has_cumulative_buckets_then_its_sum_and_count() {
    let mut histogram = Histogram::new(&[0.1, 0.5, 1.0]);
    for value in [0.05, 0.1, 0.3, 0.7, 2.0, f64::NAN] {
        histogram.observe(value);
    }
    let mut out = Exposition::new();
    out.histogram("edgeledger_wait_seconds", "Waits.")
        .observed(&[("validator", "0")], &histogram)
        .observed(&[("validator", "1")], &Histogram::new(&[0.1, 0.5, 1.0]));
    assert_eq!(
        out.finish(),
        "# HELP edgeledger_wait_seconds Waits.\n\
         # TYPE edgeledger_wait_seconds histogram\n\
         edgeledger_wait_seconds_bucket{validator=\"0\",le=\"0.1\"} 2\n\
         edgeledger_wait_seconds_bucket{validator=\"0\",le=\"0.5\"} 3\n\
         edgeledger_wait_seconds_bucket{validator=\"0\",le=\"1\"} 4\n\
         edgeledger_wait_seconds_bucket{validator=\"0\",le=\"+Inf\"} 5\n\
         edgeledger_wait_seconds_sum{validator=\"0\"} 3.15\n\
         edgeledger_wait_seconds_count{validator=\"0\"} 5\n\
         edgeledger_wait_seconds_bucket{validator=\"1\",le=\"0.1\"} 0\n\
         edgeledger_wait_seconds_bucket{validator=\"1\",le=\"0.5\"} 0\n\
         edgeledger_wait_seconds_bucket{validator=\"1\",le=\"1\"} 0\n\
         edgeledger_wait_seconds_bucket{validator=\"1\",le=\"+Inf\"} 0\n\
         edgeledger_wait_seconds_sum{validator=\"1\"} 0\n\
         edgeledger_wait_seconds_count{validator=\"1\"} 0\n"
    );
}

#[test]
fn an_unlabelled_histogram_labels_only_its_buckets() {
    let mut histogram = Histogram::new(&[1.0, 2.0]);
    histogram.observe(1.0);
    histogram.observe(4.0);
    let mut out = Exposition::new();
    out.histogram("edgeledger_block_transactions", "Per block.")
        .observed(&[], &histogram);
    assert_eq!(
        out.finish(),
        "# HELP edgeledger_block_transactions Per block.\n\
         # TYPE edgeledger_block_transactions histogram\n\
         edgeledger_block_transactions_bucket{le=\"1\"} 1\n\
         edgeledger_block_transactions_bucket{le=\"2\"} 1\n\
         edgeledger_block_transactions_bucket{le=\"+Inf\"} 2\n\
         edgeledger_block_transactions_sum 5\n\
         edgeledger_block_transactions_count 2\n"
    );
}

#[test]
fn label_values_and_help_are_escaped() {
    let mut out = Exposition::new();
    out.gauge(
        "edgeledger_odd",
        "Back\\slash and\nnew line, \"quotes\" kept.",
    )
    .sample(&[("value", "a\\b\"c\nd")], 1u64);
    assert_eq!(
        out.finish(),
        "# HELP edgeledger_odd Back\\\\slash and\\nnew line, \"quotes\" kept.\n\
         # TYPE edgeledger_odd gauge\n\
         edgeledger_odd{value=\"a\\\\b\\\"c\\nd\"} 1\n"
    );
    assert_eq!(escape_label_value("plain"), "plain");
    assert_eq!(escape_help("a\\b"), "a\\\\b");
}

#[test]
fn floats_are_spelled_as_prometheus_reads_them() {
    assert_eq!(format_float(1.0), "1");
    assert_eq!(format_float(0.25), "0.25");
    assert_eq!(format_float(1_700_000_000.123), "1700000000.123");
    assert_eq!(format_float(f64::INFINITY), "+Inf");
    assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
    assert_eq!(format_float(f64::NAN), "NaN");
    for value in [0.005, 2.5, 1e-9, 123_456_789.0] {
        assert_eq!(format_float(value).parse::<f64>(), Ok(value));
    }
}

#[test]
fn names_follow_the_exposition_rules() {
    assert!(is_metric_name("edgeledger_head_height"));
    assert!(is_metric_name("ns:sub_total"));
    assert!(!is_metric_name("1abc"));
    assert!(!is_metric_name("a-b"));
    assert!(!is_metric_name(""));
    assert!(is_label_name("reason"));
    assert!(is_label_name("_x1"));
    assert!(!is_label_name("__name__"));
    assert!(!is_label_name("le-x"));
    assert!(!is_label_name(""));
}

#[test]
fn a_histogram_counts_each_observation_in_the_first_bucket_that_holds_it() {
    let mut histogram = Histogram::new(&[1.0, 2.0]);
    histogram.observe(1.0); // on a bound: that bucket (le is inclusive)
    histogram.observe(1.5);
    histogram.observe(-1.0);
    histogram.observe(f64::INFINITY);
    assert_eq!(
        histogram.cumulative(),
        vec![(1.0, 2), (2.0, 3), (f64::INFINITY, 4)]
    );
    assert_eq!(histogram.count(), 4);
}

#[test]
fn a_decoded_histogram_keeps_its_invariants() {
    let mut histogram = Histogram::new(LATENCY_BUCKETS_SECONDS);
    histogram.observe(0.2);
    let decoded: Histogram =
        crate::codec::decode(&crate::codec::encode(&histogram), 4096).expect("decodes");
    assert_eq!(decoded, histogram);
    #[derive(Serialize)]
    struct Parts {
        bounds: Vec<f64>,
        counts: Vec<u64>,
        sum: f64,
    }
    for parts in [
        Parts {
            bounds: vec![1.0, 2.0],
            counts: vec![0, 0],
            sum: 0.0,
        },
        Parts {
            bounds: vec![2.0, 1.0],
            counts: vec![0, 0, 0],
            sum: 0.0,
        },
        Parts {
            bounds: vec![1.0, f64::INFINITY],
            counts: vec![0, 0, 0],
            sum: 0.0,
        },
        Parts {
            bounds: (0..=HISTOGRAM_BUCKETS_MAX)
                .map(|bound| bound as f64)
                .collect(),
            counts: vec![0; HISTOGRAM_BUCKETS_MAX + 2],
            sum: 0.0,
        },
    ] {
        let bytes = crate::codec::encode(&parts);
        assert!(crate::codec::decode::<Histogram>(&bytes, 4096).is_err());
    }
}

fn hash(seed: u8) -> Hash {
    Hash([seed; 32])
}

fn header(height: u64) -> Header {
    Header {
        chain_id: 31_337,
        height,
        parent_hash: hash(0),
        timestamp_ms: 1_700_000_000_000 + height,
        state_root: hash(0),
        transactions_root: hash(0),
        receipts_root: hash(0),
        validator_set_hash: hash(0),
        proposer: Address([1; 20]),
        format: BlockFormat::PROPOSED,
    }
}

/// A block at height 1 whose receipts are for `hashes` (only what the metrics read is real).
fn block_with(hashes: &[Hash]) -> CertifiedBlock {
    CertifiedBlock {
        header: header(1),
        certificate: QuorumCertificate::genesis(),
        transactions: Vec::new(),
        receipts: hashes
            .iter()
            .enumerate()
            .map(|(index, hash)| Receipt {
                tx_hash: *hash,
                index: index as u32,
                sender: Address([2; 20]),
                to: Address([3; 20]),
                nonce: index as u64,
                value: U256::from(1u64),
                gas_used: 21_000,
                effective_gas_price: 0,
                fee: U256::ZERO,
            })
            .collect(),
    }
}

fn proposal(height: u64) -> Proposal {
    Proposal {
        header: header(height),
        parent: header(height - 1),
        parent_certificate: QuorumCertificate::genesis(),
        transactions: Vec::new(),
        witness: Witness {
            layout: ShardLayout::new(0).expect("one shard"),
            shard_roots: vec![hash(0)],
            parts: BTreeMap::new(),
        },
    }
}

/// A chain of `validators` validators and 2^`shard_bits` shards.
fn config(validators: u8, shard_bits: u8) -> ChainConfig {
    let keys = (1..=validators)
        .map(|seed| {
            let mut secret = [0u8; 32];
            secret[31] = seed;
            SecretKey::from_bytes(&secret)
                .expect("valid key")
                .public_key()
        })
        .collect();
    ChainConfig {
        chain_id: 31_337,
        shard_bits: ShardLayout::new(shard_bits).expect("valid layout"),
        validators: ValidatorSet::new(keys).expect("valid set"),
        proposer: Address([1; 20]),
        fee_recipient: Address([2; 20]),
        base_fee_per_gas: 0,
        batch_window_ms: 20,
    }
}

fn commit(block: CertifiedBlock) -> Effect {
    Effect::Commit {
        block: Box::new(block),
        shard_roots: Vec::new(),
        write_sets: Vec::new(),
        confirmed: Vec::new(),
    }
}

#[test]
fn the_sequencer_counts_rulings_commits_and_their_latency() {
    let mut metrics = SequencerMetrics::new(1_000);
    let request: Rc<str> = Rc::from("req-a");
    metrics.refused("wrong_chain_id", 2);
    metrics.admissions(
        2_000,
        &[hash(1), hash(2), hash(3), hash(4)],
        &[
            Admission::Accepted,
            Admission::Accepted,
            Admission::Duplicate,
            Admission::Rejected(AdmissionRejection::NonceTooLow {
                expected: 3,
                got: 1,
            }),
        ],
        Some(&request),
    );
    metrics.admissions(2_500, &[hash(5)], &[Admission::Accepted], None);
    assert_eq!(metrics.latency_tracked(), 3);
    let dropped = Effect::DropPending(vec![(hash(5), Exclusion::FeeTooLow { base_fee: 1 })]);
    assert_eq!(metrics.effect(2_600, &dropped), None);
    assert_eq!(metrics.latency_tracked(), 2);

    let block = block_with(&[hash(1), hash(2), hash(9)]);
    assert_eq!(
        metrics.request_ids(block.receipts.iter().map(|receipt| &receipt.tx_hash)),
        vec![request.clone()],
        "the proposal's trace names the request once, and nothing for untimed hashes"
    );
    let height = block.header.height;
    let block_hash = block.header.hash();
    assert!(metrics.commit_request_ids(height).is_empty());
    let observation = metrics.effect(3_500, &commit(block)).expect("a commit");
    assert_eq!(
        metrics.commit_request_ids(height),
        std::slice::from_ref(&request)
    );
    assert!(metrics.commit_request_ids(height + 1).is_empty());
    assert_eq!(
        (
            observation.height,
            observation.block_hash,
            observation.transactions,
            observation.timed
        ),
        (height, block_hash, 3, 2)
    );
    assert_eq!(observation.request_ids, vec![request]);
    let counters = metrics.counters();
    assert_eq!(counters.since_ms, 1_000);
    assert_eq!((counters.admitted, counters.duplicates), (3, 1));
    assert_eq!(
        counters.rejected.iter().collect::<Vec<_>>(),
        vec![
            (&"nonce_too_low".to_owned(), &1),
            (&"wrong_chain_id".to_owned(), &2)
        ]
    );
    assert_eq!(counters.dropped.get("fee_too_low"), Some(&1));
    assert_eq!(
        (counters.blocks_committed, counters.transactions_committed),
        (1, 3)
    );
    assert_eq!(counters.block_transactions.count(), 1);
    assert_eq!(counters.block_transactions.sum(), 3.0);
    assert_eq!(counters.commit_latency_seconds.count(), 2);
    assert_eq!(counters.commit_latency_seconds.sum(), 3.0);
    assert_eq!(metrics.latency_tracked(), 0);
}

#[test]
fn a_proposal_round_trip_is_timed_from_its_first_sending() {
    let mut metrics = SequencerMetrics::new(0);
    let block = block_with(&[hash(1)]);
    let propose = Effect::Propose(std::rc::Rc::new(proposal(block.header.height)));
    metrics.effect(1_000, &propose);
    metrics.effect(11_000, &propose); // re-proposed after a timeout
    metrics.effect(11_250, &commit(block.clone()));
    let counters = metrics.counters();
    assert_eq!(counters.proposals_sent, 2);
    assert_eq!(counters.proposal_round_trip_seconds.count(), 1);
    assert_eq!(counters.proposal_round_trip_seconds.sum(), 10.25);
    // A commit without a proposal seen (after a restart) is not timed.
    metrics.effect(12_000, &commit(block));
    assert_eq!(metrics.counters().proposal_round_trip_seconds.count(), 1);
}

#[test]
fn votes_and_missed_votes_are_counted_per_validator() {
    let mut metrics = SequencerMetrics::new(0);
    metrics.vote(2, 40, true);
    metrics.vote(2, 10_000, false);
    metrics.vote(0, 5, true);
    metrics.vote(crate::limits::VALIDATORS_MAX, 5, true); // not a validator: ignored
    let validators = &metrics.counters().validators;
    assert_eq!(validators.len(), 3);
    assert_eq!((validators[0].votes, validators[0].missed), (1, 0));
    assert_eq!((validators[1].votes, validators[1].missed), (0, 0));
    assert_eq!((validators[2].votes, validators[2].missed), (1, 1));
    assert_eq!(validators[2].vote_latency_seconds.sum(), 0.04);
}

#[test]
fn reason_labels_are_bounded_and_well_formed() {
    let mut metrics = SequencerMetrics::new(0);
    metrics.refused("Bad Code\n", 1);
    metrics.refused(&"x".repeat(100), 1);
    for index in 0..2 * REASONS_MAX {
        metrics.refused(&format!("reason_{index}"), 1);
    }
    let rejected = &metrics.counters().rejected;
    assert_eq!(rejected.len(), REASONS_MAX);
    assert_eq!(
        rejected.get(OTHER_REASON),
        Some(&(2 + REASONS_MAX as u64 + 1))
    );
    // A code already counted keeps counting under its own name.
    metrics.refused("reason_0", 5);
    assert_eq!(metrics.counters().rejected.get("reason_0"), Some(&6));
}

#[test]
fn timed_admissions_are_bounded_and_reconciled_with_the_mempool() {
    let mut metrics = SequencerMetrics::new(0);
    let hashes: Vec<Hash> = (0..ADMISSION_TIMES_MAX as u32 + 10)
        .map(|index| {
            let mut bytes = [0u8; 32];
            bytes[..4].copy_from_slice(&index.to_be_bytes());
            Hash(bytes)
        })
        .collect();
    let admissions = vec![Admission::Accepted; hashes.len()];
    metrics.admissions(0, &hashes, &admissions, None);
    assert_eq!(metrics.latency_tracked(), ADMISSION_TIMES_MAX);
    assert_eq!(metrics.counters().admitted, hashes.len() as u64);
    let kept: BTreeSet<Hash> = hashes[..3].iter().copied().collect();
    metrics.reconcile(3, |hash| kept.contains(hash));
    assert_eq!(metrics.latency_tracked(), 3);
    metrics.reconcile(3, |_| false); // as many timed as pending: nothing to do
    assert_eq!(metrics.latency_tracked(), 3);
}

#[test]
fn request_ids_are_plain_bounded_tokens() {
    assert!(is_request_id("8f2c1a-AMS"));
    assert!(is_request_id("a.b_c:d-e"));
    assert!(!is_request_id(""));
    assert!(!is_request_id("has space"));
    assert!(!is_request_id("quote\"s"));
    assert!(!is_request_id(&"a".repeat(65)));
    assert_eq!(
        choose_request_id([Some("bad id"), None, Some(" ray-1 ")]),
        Some("ray-1".to_owned())
    );
    assert_eq!(choose_request_id([None, Some("")]), None);
}

#[test]
fn request_ids_travel_as_one_bounded_header() {
    assert_eq!(
        request_ids_header(["a", "b", "a", "bad id", "c"]).as_deref(),
        Some("a,b,c")
    );
    assert_eq!(request_ids_header(["bad id"]), None);
    assert_eq!(request_ids_header([]), None);
    assert_eq!(parse_request_ids(" a , b,a,,bad id,c"), ["a", "b", "c"]);
    let many: Vec<String> = (0..100).map(|index| format!("id-{index}")).collect();
    let header = request_ids_header(many.iter().map(String::as_str)).expect("ids");
    let parsed = parse_request_ids(&header);
    assert_eq!(parsed.len(), COMMIT_LOG_REQUEST_IDS_MAX);
    assert_eq!(parsed, many[..COMMIT_LOG_REQUEST_IDS_MAX]);
    let hostile = format!("{},{}", "x".repeat(10_000), ",".repeat(10_000));
    assert!(parse_request_ids(&hostile).is_empty());
}

fn snapshot() -> SequencerSnapshot {
    let mut metrics = SequencerMetrics::new(1_700_000_000_000);
    metrics.refused("wrong_chain_id", 1);
    metrics.admissions(1_700_000_001_000, &[hash(1)], &[Admission::Accepted], None);
    metrics.effect(1_700_000_001_500, &commit(block_with(&[hash(1)])));
    metrics.vote(0, 30, true);
    metrics.vote(1, 10_000, false);
    SequencerSnapshot {
        head_height: 7,
        head_timestamp_ms: 1_700_000_001_400,
        mempool_transactions: 4,
        paused: false,
        unconfirmed_write_sets: vec![(7, 1), (6, 1), (7, 3)],
        archived_through: 2,
        latency_tracked: metrics.latency_tracked() as u64,
        blocks_proposed_ahead: 5,
        wasm_memory_bytes: 20 << 20,
        counters: metrics.counters().clone(),
    }
}

fn backup_index() -> BackupIndex {
    let record = |height: u64, created_at_ms: u64| BackupRecord {
        cid: "bafy-secret-free".to_owned(),
        chain_id: 31_337,
        height,
        block_hash: hash(7),
        state_root: hash(8),
        accounts: 12,
        ciphertext_bytes: 4_096,
        ciphertext_sha256: hash(9),
        created_at_ms,
        backend: PinningBackend::Kubo,
        pin_id: None,
    };
    BackupIndex {
        format: crate::archive::BACKUP_INDEX_FORMAT,
        latest: Some(record(6, 1_700_000_000_500)),
        history: vec![record(3, 1_699_999_000_000)],
    }
}

/// Checks every line is a `# HELP`, a `# TYPE` or a sample of the family just declared, and
/// returns the samples as (name with labels, value).
fn parse(text: &str) -> Vec<(String, f64)> {
    let mut declared: Option<(String, String)> = None;
    let mut helped = BTreeSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("a help text");
            assert!(!help.is_empty() && helped.insert(name.to_owned()), "{line}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("a type");
            assert!(helped.contains(name), "TYPE before HELP: {line}");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            declared = Some((name.to_owned(), kind.to_owned()));
        } else {
            let (series, value) = line.rsplit_once(' ').expect("a sample");
            let name = series.split('{').next().expect("a name");
            let (family, kind) = declared.as_ref().expect("a declared family");
            let allowed = match kind.as_str() {
                "histogram" => ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|suffix| name == format!("{family}{suffix}")),
                _ => name == family,
            };
            assert!(allowed, "{line} outside its family {family}");
            let value = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                other => other.parse().unwrap_or_else(|_| panic!("value of {line}")),
            };
            samples.push((series.to_owned(), value));
        }
    }
    samples
}

fn value(samples: &[(String, f64)], series: &str) -> f64 {
    samples
        .iter()
        .find(|(name, _)| name == series)
        .map(|(_, value)| *value)
        .unwrap_or_else(|| panic!("no sample {series}"))
}

#[test]
fn the_catalogue_renders_every_source_as_valid_exposition_text() {
    let config = config(2, 2);
    let snapshot = snapshot();
    let index = backup_index();
    let shards = [
        Some(shard_stats(0, 7, 11)),
        None,
        Some(shard_stats(2, 6, 0)),
        Some(shard_stats(3, 7, 5)),
    ];
    let text = render(&Scrape {
        now_ms: 1_700_000_003_400,
        config: &config,
        sequencer: Some(&snapshot),
        shards: &shards,
        backups: Some(&index),
        front_door_wasm_memory_bytes: 3 << 20,
    });
    let samples = parse(&text);
    let chain_info = format!("edgeledger_chain_info{{chain_id=\"{}\"}}", config.chain_id);
    for (series, expected) in [
        (chain_info.as_str(), 1.0),
        ("edgeledger_shards", 4.0),
        ("edgeledger_validators", 2.0),
        ("edgeledger_scrape_source_up{source=\"sequencer\"}", 1.0),
        ("edgeledger_scrape_source_up{source=\"archiver\"}", 1.0),
        ("edgeledger_head_height", 7.0),
        ("edgeledger_head_timestamp_seconds", 1_700_000_001.4),
        ("edgeledger_head_age_seconds", 2.0),
        ("edgeledger_mempool_transactions", 4.0),
        ("edgeledger_paused", 0.0),
        ("edgeledger_unconfirmed_write_set_heights", 2.0),
        ("edgeledger_unconfirmed_write_sets", 3.0),
        ("edgeledger_shard_state_height{shard=\"0\"}", 7.0),
        ("edgeledger_shard_state_height{shard=\"1\"}", 5.0),
        ("edgeledger_shard_state_height{shard=\"3\"}", 6.0),
        ("edgeledger_shard_apply_lag_blocks{shard=\"1\"}", 2.0),
        ("edgeledger_shard_apply_lag_blocks{shard=\"2\"}", 0.0),
        ("edgeledger_shard_up{shard=\"0\"}", 1.0),
        ("edgeledger_shard_up{shard=\"1\"}", 0.0),
        ("edgeledger_shard_accounts{shard=\"0\"}", 11.0),
        ("edgeledger_shard_accounts{shard=\"2\"}", 0.0),
        ("edgeledger_shard_accounts{shard=\"3\"}", 5.0),
        ("edgeledger_shard_applied_height{shard=\"2\"}", 6.0),
        ("edgeledger_archived_through_height", 2.0),
        ("edgeledger_transactions_admitted_total", 1.0),
        (
            "edgeledger_transactions_rejected_total{reason=\"wrong_chain_id\"}",
            1.0,
        ),
        ("edgeledger_blocks_committed_total", 1.0),
        ("edgeledger_blocks_proposed_ahead_total", 5.0),
        ("edgeledger_transactions_committed_total", 1.0),
        ("edgeledger_block_transactions_count", 1.0),
        ("edgeledger_commit_latency_seconds_bucket{le=\"0.5\"}", 1.0),
        ("edgeledger_commit_latency_seconds_bucket{le=\"0.25\"}", 0.0),
        ("edgeledger_commit_latency_seconds_sum", 0.5),
        ("edgeledger_commit_latency_seconds_count", 1.0),
        ("edgeledger_votes_received_total{validator=\"0\"}", 1.0),
        ("edgeledger_votes_missed_total{validator=\"1\"}", 1.0),
        (
            "edgeledger_vote_latency_seconds_bucket{validator=\"0\",le=\"0.05\"}",
            1.0,
        ),
        (
            "edgeledger_vote_latency_seconds_count{validator=\"1\"}",
            0.0,
        ),
        ("edgeledger_sequencer_start_time_seconds", 1_700_000_000.0),
        ("edgeledger_backups_retained", 2.0),
        ("edgeledger_backup_latest_height", 6.0),
        (
            "edgeledger_backup_latest_timestamp_seconds",
            1_700_000_000.5,
        ),
        ("edgeledger_backup_latest_age_seconds", 2.9),
        ("edgeledger_backup_latest_accounts", 12.0),
        ("edgeledger_backup_latest_size_bytes", 4_096.0),
        (
            "edgeledger_wasm_memory_bytes{object=\"front_door\"}",
            3_145_728.0,
        ),
        (
            "edgeledger_wasm_memory_bytes{object=\"sequencer\"}",
            20_971_520.0,
        ),
        (
            "edgeledger_wasm_memory_bytes{object=\"shard\",shard=\"3\"}",
            1_048_576.0 * 3.0,
        ),
    ] {
        assert_eq!(value(&samples, series), expected, "{series}");
    }
    let validator = &config.validators.members()[1];
    assert_eq!(
        value(
            &samples,
            &format!(
                "edgeledger_validator_info{{validator=\"1\",address=\"{}\"}}",
                validator.address
            )
        ),
        1.0
    );
    assert!(
        samples
            .iter()
            .all(|(series, _)| series.starts_with("edgeledger_")),
        "every name carries the prefix"
    );
    assert!(
        !text.contains("bafy-secret-free"),
        "no CID or other identifier leaks"
    );
    assert!(
        !samples.iter().any(|(series, _)| [
            "edgeledger_shard_accounts{shard=\"1\"}",
            "edgeledger_shard_applied_height{shard=\"1\"}",
            "edgeledger_wasm_memory_bytes{object=\"shard\",shard=\"1\"}"
        ]
        .contains(&series.as_str())),
        "a shard that did not answer has no account or height sample"
    );
}

fn shard_stats(shard: u16, applied_height: u64, accounts: u64) -> ShardStats {
    ShardStats {
        meta: ShardMeta {
            shard,
            applied_height,
            root: hash(40 + shard as u8),
        },
        accounts,
        wasm_memory_bytes: u64::from(shard) << 20,
    }
}

#[test]
fn a_source_that_did_not_answer_is_down_and_its_metrics_are_left_out() {
    let config = config(1, 0);
    let text = render(&Scrape {
        now_ms: 0,
        config: &config,
        sequencer: None,
        shards: &[None],
        backups: None,
        front_door_wasm_memory_bytes: 0,
    });
    let samples = parse(&text);
    assert_eq!(
        value(
            &samples,
            "edgeledger_scrape_source_up{source=\"sequencer\"}"
        ),
        0.0
    );
    assert_eq!(
        value(&samples, "edgeledger_scrape_source_up{source=\"archiver\"}"),
        0.0
    );
    assert!(!text.contains("edgeledger_head_height"));
    assert!(!text.contains("edgeledger_backup"));
    assert_eq!(value(&samples, "edgeledger_shard_up{shard=\"0\"}"), 0.0);
    assert!(!text.contains("edgeledger_shard_accounts{"));
    // An index without backups says so: the latest-backup families are declared, without a
    // sample (a zero would read as a backup at height 0).
    let empty = BackupIndex::empty();
    let text = render(&Scrape {
        now_ms: 0,
        config: &config,
        sequencer: None,
        shards: &[],
        backups: Some(&empty),
        front_door_wasm_memory_bytes: 0,
    });
    let samples = parse(&text);
    assert_eq!(value(&samples, "edgeledger_backups_retained"), 0.0);
    assert!(text.contains("# TYPE edgeledger_backup_latest_height gauge"));
    assert!(
        !samples
            .iter()
            .any(|(series, _)| series == "edgeledger_backup_latest_height")
    );
}

#[test]
fn a_snapshot_round_trips_as_an_internal_answer() {
    let snapshot = snapshot();
    let decoded: SequencerSnapshot =
        crate::wire::decode(&crate::wire::encode(&snapshot), 1 << 20).expect("decodes");
    assert_eq!(decoded, snapshot);
}
