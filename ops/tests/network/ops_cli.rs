//! The operator's commands (`ops status`, `watch`, `keys`, `balance`, `send`) run as a person
//! or a script would run them, against a live local network, and checked against what the
//! public API answers.

use std::process::{Command, Output};

use ledger::api::{StatusAnswer, SubmissionStatus};
use ledger::limits::SENDER_QUEUE_TXS_MAX;
use ledger::primitives::{Address, U256};
use ledger::transaction::TRANSFER_GAS;

use crate::harness::{Network, NetworkOptions, Transfers};

/// The priority fee `ops send` pays by default (1 gwei); the local base fee is zero.
const DEFAULT_PRIORITY_FEE_WEI: u64 = 1_000_000_000;

/// Runs `ops` with `args`.
fn ops(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ops"))
        .args(args)
        .output()
        .expect("ops runs")
}

/// Runs `ops` with `args`, which must succeed, and gives its standard output.
fn ops_ok(args: &[&str]) -> String {
    let output = ops(args);
    assert!(
        output.status.success(),
        "ops {args:?} failed ({}):\n--- stderr\n{}\n--- stdout\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// Runs `ops` with `args` and `--json`, which must succeed, and parses its one JSON object.
fn ops_json(args: &[&str]) -> serde_json::Value {
    let mut args = args.to_vec();
    args.push("--json");
    let stdout = ops_ok(&args);
    serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{error}: {stdout}"))
}

fn wei(value: &serde_json::Value) -> U256 {
    value
        .as_str()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| panic!("not a decimal amount: {value}"))
}

#[test]
fn ops_reads_the_status_sends_a_transfer_verifies_its_balance_and_watches() {
    let network = Network::start_with(NetworkOptions::default());
    let url = network.client.base().to_owned();
    let dir = network.dir().display().to_string();

    // `ops status --json` is `/v1/status` plus the head block's time and size.
    let status = ops_json(&["status", "--url", &url]);
    let answered: StatusAnswer = serde_json::from_value(status.clone()).expect("a status");
    assert_eq!(answered, network.client.status());
    let head = network.client.latest_block();
    assert_eq!(status["head_timestamp_ms"], head.header.timestamp_ms);
    assert_eq!(status["head_transactions"], head.transactions.len());
    let summary = ops_ok(&["status", "--url", &url]);
    assert!(summary.contains("chain id    31337"), "{summary}");
    assert!(summary.contains("paused      no"), "{summary}");

    // `ops send` from development account 0 to 1 commits, and everything moves exactly.
    let (from, to) = (network.address(0), network.address(1));
    let fee_recipient = network.genesis.config.fee_recipient;
    let before = |address: &Address| network.client.account(address, false);
    let (sender_before, recipient_before, recipient_of_fees_before) =
        (before(&from), before(&to), before(&fee_recipient));
    let sent = ops_json(&[
        "send",
        "--dev",
        "0",
        "--to",
        &to.to_string(),
        "--value",
        "1000",
        "--url",
        &url,
    ]);
    assert_eq!(sent["status"], "committed", "{sent}");
    assert_eq!(sent["from"], from.to_string());
    assert_eq!(sent["nonce"], sender_before.pending_nonce);
    let fee = U256::from(TRANSFER_GAS) * U256::from(DEFAULT_PRIORITY_FEE_WEI);
    assert_eq!(wei(&sent["fee_wei"]), fee);
    let height = sent["height"].as_u64().expect("a height");
    let hash: ledger::primitives::Hash = sent["hash"]
        .as_str()
        .and_then(|text| text.parse().ok())
        .expect("a hash");
    assert_eq!(network.client.transaction(&hash).height, Some(height));
    let sender = network.client.account(&from, false);
    let recipient = network.client.account(&to, false);
    assert_eq!(sender.nonce, sender_before.nonce + 1);
    assert_eq!(sender.pending_nonce, sender.nonce);
    assert_eq!(
        sender.balance,
        sender_before.balance - U256::from(1000u64) - fee
    );
    assert_eq!(
        (recipient.balance, recipient.nonce),
        (
            recipient_before.balance + U256::from(1000u64),
            recipient_before.nonce
        )
    );
    assert_eq!(
        network.client.account(&fee_recipient, false).balance,
        recipient_of_fees_before.balance + fee
    );

    // `ops balance --proof` verifies the certified proof against the genesis validator set.
    let balance = ops_json(&[
        "balance",
        &to.to_string(),
        "--proof",
        "--dir",
        &dir,
        "--url",
        &url,
    ]);
    assert_eq!(wei(&balance["balance_wei"]), recipient.balance);
    assert_eq!(balance["balance_ether"], "10000.000000000000001");
    assert_eq!(balance["nonce"], recipient.nonce);
    assert_eq!(balance["pending_nonce"], recipient.pending_nonce);
    assert_eq!(balance["proof"]["verified"], true, "{balance}");
    assert_eq!(balance["proof"]["exists"], true);
    assert!(balance["proof"]["height"].as_u64() >= Some(height));
    let shown = ops_ok(&[
        "balance",
        &to.to_string(),
        "--proof",
        "--dir",
        &dir,
        "--url",
        &url,
    ]);
    assert!(shown.contains("verified against the genesis"), "{shown}");

    // `ops watch --count 2 --json` prints two refreshes, one JSON object per line.
    let watched = ops_ok(&[
        "watch",
        "--count",
        "2",
        "--interval-ms",
        "500",
        "--json",
        "--url",
        &url,
    ]);
    let refreshes: Vec<serde_json::Value> = watched
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    assert_eq!(refreshes.len(), 2, "{watched}");
    let head_now = network.client.status().head_height;
    for refresh in &refreshes {
        let seen = refresh["head_height"].as_u64().expect("a height");
        assert!((height..=head_now).contains(&seen), "{refresh}");
        assert_eq!(refresh["paused"], false);
        assert!(refresh["mempool_size"].is_u64());
    }
    assert!(refreshes[0]["blocks_per_second"].is_null());
    assert!(
        refreshes[1]["blocks_per_second"].is_f64(),
        "{}",
        refreshes[1]
    );
    assert!(refreshes[1]["transactions_per_second"].is_f64());
    let seconds = refreshes[1]["seconds"].as_f64().expect("seconds");
    assert!((0.3..5.0).contains(&seconds), "{seconds}");
}

/// Runs `ops send` from development account `sender` with `--json`; it must fail. Gives its
/// report (standard output) and its error (standard error).
fn refused_send(
    url: &str,
    sender: usize,
    to: &Address,
    value: &str,
) -> (serde_json::Value, String) {
    let sender = sender.to_string();
    let to = to.to_string();
    let output = ops(&[
        "send", "--dev", &sender, "--to", &to, "--value", value, "--url", url, "--json",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "the send succeeded: {stderr}");
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(&output.stdout)));
    (report, stderr)
}

#[test]
fn a_send_the_chain_refuses_exits_non_zero_with_its_code_and_changes_nothing() {
    let network = Network::start_with(NetworkOptions::default());
    let url = network.client.base().to_owned();
    let (from, to) = (network.address(2), network.address(3));

    // While production is paused, the sender's queue fills up: the chain refuses one more.
    let paused = network.admin("POST", "/v1/admin/pause", None);
    assert_eq!(paused.status, 200, "{}", paused.text());
    let mut transfers = Transfers::new(&network);
    let queued: Vec<Vec<u8>> = (0..SENDER_QUEUE_TXS_MAX)
        .map(|_| transfers.transfer(2, to, U256::from(1u64)))
        .collect();
    let results = network.client.submit_batch(&queued);
    assert!(
        results
            .iter()
            .all(|result| result.status == SubmissionStatus::Accepted),
        "{:?}",
        results
            .iter()
            .find(|result| result.status != SubmissionStatus::Accepted)
    );
    let before = network.client.account(&from, false);
    assert_eq!(before.pending_nonce, SENDER_QUEUE_TXS_MAX as u64);

    let (report, stderr) = refused_send(&url, 2, &to, "1000");
    assert!(stderr.contains("429 sender_queue_full"), "{stderr}");
    assert_eq!(report["status"], "rejected");
    assert_eq!(report["reason"]["code"], "sender_queue_full");
    assert_eq!(report["nonce"], before.pending_nonce);
    let after = network.client.account(&from, false);
    assert_eq!(
        (after.balance, after.nonce, after.pending_nonce),
        (before.balance, before.nonce, before.pending_nonce)
    );

    // For people: the code and the message.
    let output = ops(&[
        "send",
        "--dev",
        "2",
        "--to",
        &to.to_string(),
        "--value",
        "1",
        "--url",
        &url,
    ]);
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("rejected: sender_queue_full: "), "{stdout}");

    // What the command line refuses never reaches the chain.
    for args in [
        [
            "--to",
            "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
            "--value",
            "1.5",
        ],
        [
            "--to",
            "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
            "--value",
            "-1",
        ],
        ["--to", "0x1234", "--value", "1"],
    ] {
        let mut command = vec!["send", "--dev", "3", "--url", &url];
        command.extend(args);
        let output = ops(&command);
        assert!(!output.status.success(), "{command:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).starts_with("error: "),
            "{command:?}"
        );
    }
    assert_eq!(network.client.account(&to, false).pending_nonce, 0);
}

#[test]
fn a_send_dropped_for_insufficient_funds_exits_non_zero_with_its_code() {
    let network = Network::start_with(NetworkOptions::default());
    let url = network.client.base().to_owned();
    let (from, to) = (network.address(2), network.address(3));
    let before = network.client.account(&from, false);
    let recipient_before = network.client.account(&to, false);

    // More than the account holds: accepted, then dropped at execution with its reason.
    let too_much = format!("{}wei", before.balance + U256::from(1u64));
    let (report, stderr) = refused_send(&url, 2, &to, &too_much);
    assert!(stderr.contains("insufficient_funds"), "{stderr}");
    assert_eq!(report["status"], "rejected");
    assert_eq!(report["reason"]["code"], "insufficient_funds");

    let after = network.client.account(&from, false);
    assert_eq!((after.balance, after.nonce), (before.balance, before.nonce));
    assert_eq!(
        network.client.account(&to, false).balance,
        recipient_before.balance
    );
}

#[test]
fn a_generated_key_file_is_private_and_its_address_is_the_one_printed() {
    let dir = tempfile::tempdir().expect("a folder");
    let path = dir.path().join("operator.key");
    let file = path.display().to_string();
    let printed = ops_ok(&["keys", "generate", "--out", &file]);
    let printed = printed.trim();
    assert!(printed.parse::<Address>().is_ok(), "{printed}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .expect("written")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let address = ops_ok(&["keys", "address", "--key-file", &file]);
    assert_eq!(address.trim(), printed);
    // A second generate never overwrites the key.
    assert!(!ops(&["keys", "generate", "--out", &file]).status.success());
    assert_eq!(
        ops_ok(&["keys", "address", "--key-file", &file]).trim(),
        printed
    );

    // Without --out: both, with a warning on stderr.
    let output = ops(&["keys", "generate", "--json"]);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("warning"));
    let generated: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let secret = generated["secret_key"].as_str().expect("the secret");
    let key_file = dir.path().join("printed.key");
    std::fs::write(&key_file, secret).expect("written");
    let address = ops_json(&[
        "keys",
        "address",
        "--key-file",
        &key_file.display().to_string(),
    ]);
    assert_eq!(address["address"], generated["address"]);

    // Development accounts are the well-known ones.
    assert_eq!(
        ops_ok(&["keys", "address", "--dev", "1"]).trim(),
        "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
    );
}
