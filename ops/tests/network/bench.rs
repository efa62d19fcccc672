//! `ops bench` against a live local network and anvil: every transfer it signs is committed,
//! the chain's own counters agree with what it reports, and the sustained mode offers its
//! rate.

use std::process::Command;

use serde_json::Value;

use crate::harness::{Network, NetworkOptions};
use crate::metrics::{scrape, value};

/// Runs `ops bench` with `args` and `--json`, which must succeed; its report.
fn bench(url: &str, args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_ops"))
        .args(["bench", "--url", url, "--json"])
        .args(args)
        .output()
        .expect("ops runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "ops bench {args:?} failed ({}):\n{}\n{stdout}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{error}: {stdout}"))
}

fn count(run: &Value, field: &str) -> u64 {
    run[field]
        .as_u64()
        .unwrap_or_else(|| panic!("no {field} in {run}"))
}

fn number(run: &Value, field: &str) -> f64 {
    run[field]
        .as_f64()
        .unwrap_or_else(|| panic!("no {field} in {run}"))
}

#[test]
fn ops_bench_commits_every_transfer_on_both_chains_and_counts_what_the_chain_counts() {
    let network = Network::start_with(NetworkOptions::default());
    let url = network.client.base().to_owned();
    let committed = "edgeledger_transactions_committed_total";
    let before = value(&scrape(&network), committed);

    // 25 senders: 20 development accounts are not enough, so each run funds derived ones.
    let report = bench(
        &url,
        &[
            "--transactions",
            "300",
            "--senders",
            "25",
            "--against",
            "anvil",
        ],
    );
    let runs = report["runs"].as_array().expect("runs");
    let names: Vec<(String, String)> = runs
        .iter()
        .map(|run| (run["chain"].to_string(), run["protocol"].to_string()))
        .collect();
    assert_eq!(
        names,
        [
            ("\"edgeledger\"", "\"native\""),
            ("\"edgeledger\"", "\"json-rpc\""),
            ("\"anvil\"", "\"json-rpc\"")
        ]
        .map(|(chain, protocol)| (chain.to_owned(), protocol.to_owned()))
    );
    // Native batches name their senders' keys; JSON-RPC cannot.
    let keyed: Vec<bool> = runs
        .iter()
        .map(|run| run["sender_keys"] == Value::Bool(true))
        .collect();
    assert_eq!(keyed, [true, false, false]);
    for run in runs {
        assert_eq!(
            (
                count(run, "submitted"),
                count(run, "committed"),
                count(run, "refused")
            ),
            (300, 300, 0),
            "{run}"
        );
        assert!(number(run, "committed_per_second") > 0.0, "{run}");
        let latency = &run["latency"];
        assert_eq!(count(latency, "samples"), 300, "{run}");
        assert!(
            number(latency, "p50_ms") <= number(latency, "p99_ms"),
            "{run}"
        );
        assert!(count(run, "blocks") >= 1, "{run}");
        assert!(
            number(run, "chain_cpu_seconds") > 0.0,
            "the chain's CPU is measured: {run}"
        );
    }
    assert!(number(&report, "json_rpc_ratio_to_anvil") > 0.0, "{report}");
    assert!(number(&report, "native_ratio_to_anvil") > 0.0, "{report}");
    // Each edgeledger run funded 25 senders, then committed its 300 transfers.
    let after = value(&scrape(&network), committed);
    assert_eq!(after - before, 2.0 * (25.0 + 300.0));

    // Sustained: 150 transfers a second for 2 seconds, native batches whose senders the
    // front door recovers.
    let sustained = bench(
        &url,
        &[
            "--rate",
            "150",
            "--duration-secs",
            "2",
            "--protocol",
            "native",
            "--recover-senders",
        ],
    );
    let run = &sustained["runs"][0];
    assert_eq!(count(run, "offered_per_second"), 150, "{run}");
    assert!(run["sender_keys"].is_null(), "{run}");
    assert_eq!(
        (count(run, "submitted"), count(run, "committed")),
        (300, 300),
        "{run}"
    );
    // Offered over 2 s, the last transfer cannot commit sooner than about 2 s after the first.
    assert!(number(run, "elapsed_seconds") >= 1.8, "{run}");

    // At half of the peak: a burst, then 2 s offered at half the rate it committed.
    let half = bench(
        &url,
        &[
            "--at-half-peak",
            "--transactions",
            "300",
            "--duration-secs",
            "2",
            "--protocol",
            "native",
        ],
    );
    let (peak, sustained) = (&half["runs"][0], &half["runs"][1]);
    assert!(peak["offered_per_second"].is_null(), "{peak}");
    assert_eq!(count(peak, "committed"), 300, "{peak}");
    let offered = count(sustained, "offered_per_second");
    assert_eq!(
        offered,
        (number(peak, "committed_per_second") / 2.0).floor() as u64,
        "{half}"
    );
    assert_eq!(
        (count(sustained, "submitted"), count(sustained, "committed")),
        (2 * offered, 2 * offered),
        "{sustained}"
    );
}
