//! `GET /metrics` on the live network: Prometheus text that parses line by line, whose
//! numbers agree with the API and move by exactly what the test did; and the request id that
//! follows a submission into the `Sequencer`'s JSON log lines.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ledger::api::SubmissionStatus;
use ledger::primitives::U256;
use ledger::random::SplitMix64;

use crate::harness::{Network, NetworkOptions, Transfers};
use crate::{COMMIT_TIMEOUT, random_address};

/// Samples by series (`name{labels}` exactly as written), after checking that every line is
/// a `# HELP`, a `# TYPE` or a sample of the family declared just before it.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut helped = BTreeSet::new();
    let mut typed = BTreeSet::new();
    let mut family: Option<(String, String)> = None;
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("a help text");
            assert!(is_name(name) && !help.trim().is_empty(), "{line}");
            assert!(helped.insert(name.to_owned()), "HELP twice: {line}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("a type");
            assert!(helped.contains(name), "TYPE without HELP: {line}");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(typed.insert(name.to_owned()), "TYPE twice: {line}");
            if kind == "counter" {
                assert!(name.ends_with("_total"), "{line}");
            }
            family = Some((name.to_owned(), kind.to_owned()));
        } else {
            assert!(!line.starts_with('#'), "an unexpected comment: {line}");
            let (series, value) = line.rsplit_once(' ').expect("a sample");
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, Some(labels)),
                None => (series, None),
            };
            if let Some(labels) = labels {
                check_labels(labels.strip_suffix('}').expect("closed labels"), line);
            }
            let (declared, kind) = family.as_ref().expect("a sample after its TYPE");
            let belongs = if kind == "histogram" {
                ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|suffix| name == format!("{declared}{suffix}"))
            } else {
                name == declared
            };
            assert!(belongs, "{line} outside its family {declared}");
            assert!(name.starts_with("edgeledger_"), "{line}");
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                other => other.parse().expect("a numeric value"),
            };
            assert!(
                samples.insert(series.to_owned(), value).is_none(),
                "a series twice: {line}"
            );
        }
    }
    samples
}

fn is_name(name: &str) -> bool {
    let mut characters = name.chars();
    characters
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && characters.all(|other| other.is_ascii_alphanumeric() || other == '_')
}

/// `name="value",...` with escaped values.
fn check_labels(mut labels: &str, line: &str) {
    while !labels.is_empty() {
        let (name, rest) = labels.split_once("=\"").expect("label=\"value\"");
        assert!(is_name(name), "label name in {line}");
        let mut escaped = false;
        let mut end = None;
        for (offset, character) in rest.char_indices() {
            match (escaped, character) {
                (true, '\\' | '"' | 'n') => escaped = false,
                (true, _) => panic!("a bad escape in {line}"),
                (false, '\\') => escaped = true,
                (false, '"') => {
                    end = Some(offset);
                    break;
                }
                (false, _) => {}
            }
        }
        let end = end.expect("a closed label value");
        labels = rest[end + 1..]
            .strip_prefix(',')
            .unwrap_or(&rest[end + 1..]);
    }
}

/// `GET /metrics`, parsed: series (name with labels) to value.
pub(crate) fn scrape(network: &Network) -> BTreeMap<String, f64> {
    let answer = network.client.get("/metrics");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        answer.content_type,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    parse(&answer.text())
}

/// A sample's value; an absent counter series is zero (it appears on its first increment).
pub(crate) fn value(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

fn present(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no {series} in {samples:#?}"))
}

#[test]
fn metrics_agree_with_the_api_and_count_exactly_what_happened() {
    let network = Network::start_with(NetworkOptions::default());
    let client = &network.client;
    let before = scrape(&network);
    let status = client.status();
    assert_eq!(
        present(&before, "edgeledger_head_height"),
        status.head_height as f64
    );
    assert_eq!(
        present(&before, "edgeledger_scrape_source_up{source=\"sequencer\"}"),
        1.0
    );
    assert_eq!(
        present(&before, "edgeledger_scrape_source_up{source=\"archiver\"}"),
        1.0
    );
    assert_eq!(
        present(&before, "edgeledger_shards"),
        f64::from(status.shard_count)
    );
    assert_eq!(present(&before, "edgeledger_backups_retained"), 0.0);
    let accounts_before = shard_accounts(&before, status.shard_count);
    assert!(
        accounts_before >= network.keys.len() as f64,
        "the development accounts are counted: {accounts_before}"
    );

    // Transfers from every development account, in one batch under a chosen request id.
    let mut transfers = Transfers::new(&network);
    let mut random = SplitMix64::new(31);
    let raws: Vec<Vec<u8>> = (0..network.keys.len())
        .map(|sender| transfers.transfer(sender, random_address(&mut random), U256::from(7u64)))
        .collect();
    let request_id = "metrics-test-5e1f";
    let answer = network
        .client
        .submit_batch_with_headers(&raws, &[("x-request-id", request_id)]);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let results = answer.json::<ledger::api::BatchAnswer>().results;
    assert!(
        results
            .iter()
            .all(|result| result.status == SubmissionStatus::Accepted),
        "{results:?}"
    );
    let hashes: Vec<_> = results.iter().map(|result| result.hash).collect();
    client.wait_committed(&hashes, COMMIT_TIMEOUT);
    let committed = hashes.len() as f64;

    // A transaction for another chain, refused at the front door.
    let wrong_chain =
        transfers.transfer_on_chain(0, 1, random_address(&mut random), U256::from(1u64));
    let refused = client.submit_one(&wrong_chain);
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (422, "wrong_chain_id")
    );
    // A duplicate of a committed transaction.
    let duplicate = client.submit_batch(&raws[..1]);
    assert_eq!(duplicate[0].status, SubmissionStatus::Duplicate);

    let after = scrape(&network);
    let status = client.status();
    assert_eq!(
        present(&after, "edgeledger_head_height"),
        status.head_height as f64
    );
    assert!(status.head_height >= 1);
    let grew = |series: &str| value(&after, series) - value(&before, series);
    assert_eq!(grew("edgeledger_transactions_committed_total"), committed);
    assert_eq!(grew("edgeledger_transactions_admitted_total"), committed);
    assert_eq!(grew("edgeledger_transactions_duplicate_total"), 1.0);
    assert_eq!(
        grew("edgeledger_transactions_rejected_total{reason=\"wrong_chain_id\"}"),
        1.0
    );
    assert_eq!(grew("edgeledger_commit_latency_seconds_count"), committed);
    assert!(grew("edgeledger_commit_latency_seconds_sum") > 0.0);
    let blocks = grew("edgeledger_blocks_committed_total");
    assert!(blocks >= 1.0 && blocks <= committed, "{blocks} blocks");
    assert_eq!(grew("edgeledger_block_transactions_count"), blocks);
    assert_eq!(grew("edgeledger_block_transactions_sum"), committed);
    assert!(grew("edgeledger_proposals_sent_total") >= blocks);
    // A block built ahead is proposed at its parent's commit, so a quiet chain's first block
    // never is: fewer blocks were proposed ahead than committed.
    assert!(grew("edgeledger_blocks_proposed_ahead_total") < blocks);
    assert_eq!(grew("edgeledger_proposal_round_trip_seconds_count"), blocks);
    assert!(grew("edgeledger_votes_received_total{validator=\"0\"}") >= blocks);
    assert!(grew("edgeledger_vote_latency_seconds_count{validator=\"0\"}") >= blocks);
    assert_eq!(
        present(
            &after,
            "edgeledger_vote_latency_seconds_bucket{validator=\"0\",le=\"+Inf\"}"
        ),
        present(
            &after,
            "edgeledger_vote_latency_seconds_count{validator=\"0\"}"
        )
    );
    assert_eq!(present(&after, "edgeledger_mempool_transactions"), 0.0);
    assert_eq!(present(&after, "edgeledger_paused"), 0.0);
    let head_timestamp = present(&after, "edgeledger_head_timestamp_seconds");
    let latest = client.latest_block();
    assert_eq!(
        (head_timestamp * 1000.0).round(),
        latest.header.timestamp_ms as f64
    );
    for shard in 0..status.shard_count {
        let lag = present(
            &after,
            &format!("edgeledger_shard_apply_lag_blocks{{shard=\"{shard}\"}}"),
        );
        let height = present(
            &after,
            &format!("edgeledger_shard_state_height{{shard=\"{shard}\"}}"),
        );
        assert_eq!(height + lag, status.head_height as f64, "shard {shard}");
        let shard = format!("{{shard=\"{shard}\"}}");
        assert_eq!(present(&after, &format!("edgeledger_shard_up{shard}")), 1.0);
        let applied = present(&after, &format!("edgeledger_shard_applied_height{shard}"));
        assert!(
            applied <= status.head_height as f64,
            "shard {shard} at {applied}"
        );
    }
    // Every transfer paid a fresh address; the fee recipient may be new too.
    let new_accounts = shard_accounts(&after, status.shard_count) - accounts_before;
    assert!(
        new_accounts == committed || new_accounts == committed + 1.0,
        "{new_accounts} new accounts for {committed} transfers to fresh addresses"
    );

    // No token is needed, only GET is served, and nothing secret is in the text.
    let text = client.get("/metrics").text();
    assert!(!text.contains(&network.admin_token));
    assert!(!text.contains(&network.backup_key()));
    let post = client.send("POST", "/metrics", &[], None);
    assert_eq!(
        (post.status, post.error_code().as_str()),
        (405, "method_not_allowed")
    );

    // The request id followed the batch through the services: the `Sequencer`'s admission,
    // proposal and commit, every validator's vote and the shards' applies.
    let deadline = Instant::now() + Duration::from_secs(10);
    let traced = format!("\"{request_id}\"");
    let events = ["admission", "proposal", "vote", "commit", "apply"];
    loop {
        let log = network.log();
        let traced_events: Vec<serde_json::Value> = log
            .lines()
            .filter(|line| line.contains(&traced))
            .filter_map(|line| serde_json::from_str(&line[line.find('{')?..]).ok())
            .collect();
        let missing: Vec<&str> = events
            .iter()
            .copied()
            .filter(|event| !traced_events.iter().any(|line| line["event"] == *event))
            .collect();
        if missing.is_empty() {
            let signed = traced_events
                .iter()
                .any(|line| line["event"] == "vote" && line["signed"] == true);
            assert!(signed, "a traced vote was signed: {traced_events:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no {missing:?} log lines naming {request_id}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The accounts every shard reports, summed.
fn shard_accounts(samples: &BTreeMap<String, f64>, shard_count: u32) -> f64 {
    (0..shard_count)
        .map(|shard| {
            present(
                samples,
                &format!("edgeledger_shard_accounts{{shard=\"{shard}\"}}"),
            )
        })
        .sum()
}

/// The Grafana dashboard in `ops/grafana/edgeledger.json` queries only metric families the
/// chain really exports (a renamed metric would silently empty a panel otherwise).
#[test]
fn the_grafana_dashboard_queries_only_exported_metrics() {
    let path = ops::devnet::repository_root().join("ops/grafana/edgeledger.json");
    let dashboard: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("the dashboard")).expect("JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    let expressions: Vec<&str> = panels
        .iter()
        .flat_map(|panel| panel["targets"].as_array().into_iter().flatten())
        .filter_map(|target| target["expr"].as_str())
        .collect();
    assert!(expressions.len() >= 10, "{expressions:?}");

    let network = Network::start_with(NetworkOptions::default());
    let answer = network.client.get("/metrics");
    assert_eq!(answer.status, 200);
    let families: BTreeSet<String> = answer
        .text()
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split(' ').next())
        .map(str::to_owned)
        .collect();
    for expression in expressions {
        for name in metric_names(expression) {
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .filter(|base| families.contains(*base))
                .unwrap_or(&name);
            assert!(
                families.contains(family),
                "{name} (in {expression:?}) is not exported; families: {families:?}"
            );
        }
    }
}

/// The `edgeledger_…` identifiers in a PromQL expression.
fn metric_names(expression: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expression;
    while let Some(start) = rest.find("edgeledger_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}
