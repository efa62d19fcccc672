//! The Ethereum JSON-RPC endpoint (`POST /` and `POST /rpc`) driven by Ethereum client software
//! this project did not write: ethers v6 (through `ops/tests/rpc/ethers-check.mjs`) and
//! Foundry's `cast`, both npm devDependencies that `scripts/setup.sh` installs. Each reads the
//! chain, sends value transfers, waits for their receipts and is refused a transfer its sender
//! cannot pay; the native API then confirms that the balances, the nonce and the fee recipient
//! moved exactly as the tool reported, and that the receipts agree with the chain's own.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::str::FromStr;

use ledger::api::{AccountAnswer, TxState};
use ledger::primitives::{Address, Hash, U256, to_hex};
use ledger::transaction::TRANSFER_GAS;
use serde_json::Value;

use crate::harness::{Network, NetworkOptions};

/// The value of each transfer the tools send, in wei.
const VALUE: u64 = 1_000_000_000_000_000;

/// The development accounts that send and receive.
const SENDER: usize = 1;
const RECIPIENT: usize = 2;

#[test]
fn ethers_reads_sends_waits_and_is_refused_an_unaffordable_transfer() {
    let network = Network::start_with(NetworkOptions::default());
    let config = &network.genesis.config;
    let before = Accounts::read(&network);
    let script = repository_file("ops/tests/rpc/ethers-check.mjs", "the ethers check script");
    repository_file("node_modules/ethers/package.json", "ethers (npm)");

    let url = format!("{}/rpc", network.client.base());
    let output = run(
        Command::new(node())
            .arg(&script)
            .args(["--url", &url, "--key", &secret_key_hex(&network, SENDER)])
            .args(["--to", &network.address(RECIPIENT).to_string()])
            .args(["--expect-chain-id", &config.chain_id.to_string()])
            .args(["--value", &VALUE.to_string(), "--timeout-ms", "150000"])
            .current_dir(ops::devnet::repository_root()),
        "node ops/tests/rpc/ethers-check.mjs",
    );
    let summary: Value = last_json_line(&output, "ethers-check");
    assert_eq!(summary["ok"], Value::Bool(true), "{summary}");
    assert_eq!(text(&summary, "chainId"), config.chain_id.to_string());
    assert_eq!(address(&summary, "from"), network.address(SENDER));
    assert_eq!(address(&summary, "to"), network.address(RECIPIENT));

    // Each transfer is committed as ethers says, at the price the chain's rules give for what
    // ethers offered (a legacy gas price, or an EIP-1559 fee cap and tip).
    let transfers = summary["transfers"].as_array().expect("transfers");
    assert_eq!(transfers.len(), 2, "{summary}");
    let (mut sent, mut fees, mut tips) = (U256::ZERO, U256::ZERO, U256::ZERO);
    for (nonce, transfer) in transfers.iter().enumerate() {
        let receipt = committed_receipt(&network, transfer, "hash", "blockNumber", "blockHash");
        let value = number(transfer, "value");
        let price = match transfer["type"].as_u64() {
            Some(0) => number(transfer, "gasPrice"),
            Some(2) => number(transfer, "maxFeePerGas").min(
                U256::from(config.base_fee_per_gas) + number(transfer, "maxPriorityFeePerGas"),
            ),
            other => panic!("ethers sent a transaction of type {other:?}: {transfer}"),
        };
        assert_eq!(
            (receipt.sender, receipt.to, receipt.nonce, receipt.value),
            (
                network.address(SENDER),
                network.address(RECIPIENT),
                before.sender.nonce + nonce as u64,
                value
            ),
            "{transfer}"
        );
        assert_eq!(receipt.gas_used, TRANSFER_GAS, "{transfer}");
        assert_eq!(
            U256::from(receipt.gas_used),
            number(transfer, "gasUsed"),
            "{transfer}"
        );
        assert_eq!(U256::from(receipt.effective_gas_price), price, "{transfer}");
        assert_eq!(
            U256::from(receipt.effective_gas_price),
            number(transfer, "effectiveGasPrice")
        );
        assert_eq!(receipt.fee, number(transfer, "fee"), "{transfer}");
        sent += value;
        fees += receipt.fee;
        tips += receipt.fee - U256::from(receipt.gas_used) * U256::from(config.base_fee_per_gas);
    }
    assert_eq!(number(&summary, "sent"), sent);
    assert_eq!(number(&summary, "fees"), fees);

    // The refusals changed nothing, and what ethers read is what the native API holds.
    for refusal in ["estimated", "sent"] {
        assert!(
            summary["refusals"][refusal]["code"].is_string(),
            "{summary}"
        );
    }
    let after = Accounts::read(&network);
    assert_eq!(after.sender.nonce, before.sender.nonce + 2);
    assert_eq!(after.sender.balance, before.sender.balance - sent - fees);
    assert_eq!(after.recipient.balance, before.recipient.balance + sent);
    assert_eq!(
        after.fee_recipient.balance,
        before.fee_recipient.balance + tips
    );
    assert_eq!(
        (
            number(&summary, "senderBefore"),
            number(&summary, "recipientBefore")
        ),
        (before.sender.balance, before.recipient.balance)
    );
    assert_eq!(
        (
            number(&summary, "senderAfter"),
            number(&summary, "recipientAfter")
        ),
        (after.sender.balance, after.recipient.balance)
    );
    assert_eq!(summary["nonceAfter"].as_u64(), Some(after.sender.nonce));
}

#[test]
fn cast_reads_sends_and_waits_for_receipts() {
    let network = Network::start_with(NetworkOptions::default());
    let config = &network.genesis.config;
    let cast = Cast::new(&format!("{}/", network.client.base()));
    let rpc_path = Cast::new(&format!("{}/rpc", network.client.base()));
    let sender = network.address(SENDER).to_string();
    let recipient = network.address(RECIPIENT).to_string();

    // Reads, on both paths, against the native API.
    assert_eq!(cast.line(&["chain-id"]), config.chain_id.to_string());
    assert_eq!(rpc_path.line(&["chain-id"]), config.chain_id.to_string());
    let head = cast.number(&["block-number"]);
    assert!(head <= U256::from(network.client.status().head_height));
    let before = Accounts::read(&network);
    assert_eq!(cast.number(&["balance", &sender]), before.sender.balance);
    assert_eq!(
        cast.number(&["balance", &recipient]),
        before.recipient.balance
    );
    assert_eq!(
        cast.number(&["nonce", &sender]),
        U256::from(before.sender.nonce)
    );

    // A value transfer: cast fills nonce, fees (EIP-1559) and gas, sends and waits.
    let key = secret_key_hex(&network, SENDER);
    let value = VALUE.to_string();
    let receipt = cast.json(&[
        "send",
        "--private-key",
        &key,
        "--timeout",
        "150",
        "--json",
        &recipient,
        "--value",
        &value,
    ]);
    assert_eq!(text(&receipt, "status"), "0x1", "{receipt}");
    assert_eq!(text(&receipt, "type"), "0x2", "{receipt}");
    assert_eq!(
        number(&receipt, "gasUsed"),
        U256::from(TRANSFER_GAS),
        "{receipt}"
    );
    assert_eq!(address(&receipt, "from"), network.address(SENDER));
    assert_eq!(address(&receipt, "to"), network.address(RECIPIENT));
    assert_eq!(receipt["contractAddress"], Value::Null, "{receipt}");
    assert_eq!(receipt["logs"], Value::Array(Vec::new()), "{receipt}");
    let hash = text(&receipt, "transactionHash");

    // The same receipt again, the block that holds it, and the chain's own receipt.
    let again = cast.json(&["receipt", &hash, "--json"]);
    for field in [
        "transactionHash",
        "transactionIndex",
        "blockHash",
        "blockNumber",
        "status",
        "type",
        "gasUsed",
        "cumulativeGasUsed",
        "effectiveGasPrice",
        "from",
        "to",
    ] {
        assert_eq!(
            again[field], receipt[field],
            "{field}: {again} vs {receipt}"
        );
    }
    let height = number(&receipt, "blockNumber").to_string();
    let block = cast.json(&["block", &height, "--json"]);
    assert_eq!(block["hash"], receipt["blockHash"], "{block}");
    assert!(
        block["transactions"]
            .as_array()
            .is_some_and(|hashes| hashes.iter().any(|listed| listed.as_str() == Some(&hash))),
        "block {height} does not list {hash}: {block}"
    );
    let chain_receipt = committed_receipt(
        &network,
        &receipt,
        "transactionHash",
        "blockNumber",
        "blockHash",
    );
    let price = number(&receipt, "effectiveGasPrice");
    let fee = U256::from(TRANSFER_GAS) * price;
    assert_eq!(U256::from(chain_receipt.effective_gas_price), price);
    assert_eq!(chain_receipt.fee, fee);
    assert_eq!(
        U256::from(chain_receipt.index),
        number(&receipt, "transactionIndex")
    );
    assert_eq!(
        (chain_receipt.nonce, chain_receipt.value),
        (before.sender.nonce, U256::from(VALUE))
    );

    // Balances and the nonce moved exactly, as cast and the native API both see them.
    let after = Accounts::read(&network);
    let tip = fee - U256::from(TRANSFER_GAS) * U256::from(config.base_fee_per_gas);
    assert_eq!(
        after.sender.balance,
        before.sender.balance - U256::from(VALUE) - fee
    );
    assert_eq!(
        after.recipient.balance,
        before.recipient.balance + U256::from(VALUE)
    );
    assert_eq!(
        after.fee_recipient.balance,
        before.fee_recipient.balance + tip
    );
    assert_eq!(after.sender.nonce, before.sender.nonce + 1);
    assert_eq!(cast.number(&["balance", &sender]), after.sender.balance);
    assert_eq!(
        cast.number(&["balance", &recipient]),
        after.recipient.balance
    );
    assert_eq!(
        cast.number(&["nonce", &sender]),
        U256::from(after.sender.nonce)
    );

    // A transfer the sender cannot pay: cast fails, saying why, and nothing changes.
    let unaffordable = (after.sender.balance + U256::from(1u64)).to_string();
    let output = cast.output(&[
        "send",
        "--private-key",
        &key,
        "--timeout",
        "150",
        "--json",
        &recipient,
        "--value",
        &unaffordable,
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "cast sent an unaffordable transfer: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(
        stderr.to_lowercase().contains("insufficient funds"),
        "cast's error does not say insufficient funds: {stderr}"
    );
    assert!(
        !stderr.contains("HTTP error"),
        "a JSON-RPC error must come with HTTP status 200: {stderr}"
    );
    let last = Accounts::read(&network);
    assert_eq!(
        (
            last.sender.nonce,
            last.sender.balance,
            last.recipient.balance
        ),
        (
            after.sender.nonce,
            after.sender.balance,
            after.recipient.balance
        )
    );
    assert_eq!(
        cast.number(&["nonce", &sender]),
        U256::from(after.sender.nonce)
    );
}

/// The sender's, the recipient's and the fee recipient's accounts, from the native API.
struct Accounts {
    sender: AccountAnswer,
    recipient: AccountAnswer,
    fee_recipient: AccountAnswer,
}

impl Accounts {
    fn read(network: &Network) -> Self {
        let client = &network.client;
        Self {
            sender: client.account(&network.address(SENDER), false),
            recipient: client.account(&network.address(RECIPIENT), false),
            fee_recipient: client.account(&network.genesis.config.fee_recipient, false),
        }
    }
}

/// The chain's receipt of the transaction a tool reported (hash, height and block hash under
/// the named fields), checking that it is committed exactly there.
fn committed_receipt(
    network: &Network,
    reported: &Value,
    hash_field: &str,
    height_field: &str,
    block_hash_field: &str,
) -> ledger::block::Receipt {
    let hash: Hash = parse(reported, hash_field);
    let answer = network.client.transaction(&hash);
    assert_eq!(answer.status, TxState::Committed, "{answer:?}");
    assert_eq!(
        answer.height.map(U256::from),
        Some(number(reported, height_field)),
        "{reported}"
    );
    assert_eq!(
        answer.block_hash,
        Some(parse(reported, block_hash_field)),
        "{reported}"
    );
    let receipt = answer
        .receipt
        .expect("a committed transaction has a receipt");
    assert_eq!(receipt.tx_hash, hash);
    receipt
}

/// Foundry's `cast` against one RPC URL, isolated from the machine's Foundry configuration
/// and environment, and with nothing but that URL to talk to.
struct Cast {
    binary: PathBuf,
    url: String,
    /// Its working folder and home: no `foundry.toml` or `~/.foundry` but its own.
    dir: tempfile::TempDir,
}

impl Cast {
    fn new(url: &str) -> Self {
        Self {
            binary: cast_binary(),
            url: url.to_owned(),
            dir: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    /// Runs `cast ARGS --rpc-url URL --no-proxy`, whatever its exit.
    fn output(&self, args: &[&str]) -> Output {
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .args(["--rpc-url", &self.url, "--no-proxy"])
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env("NO_COLOR", "1");
        // Settings cast reads from the environment (ETH_RPC_URL, ETH_GAS_PRICE, CAST_ASYNC,
        // ETHERSCAN_API_KEY, FOUNDRY_*...) would change what these tests run.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if ["ETH_", "CAST_", "FOUNDRY_", "ETHERSCAN", "CHAIN"]
                .iter()
                .any(|prefix| name.starts_with(prefix))
            {
                command.env_remove(&*name);
            }
        }
        run(&mut command, &format!("cast {}", args.join(" ")))
    }

    /// Runs cast, which must succeed, and returns its output's last line.
    fn line(&self, args: &[&str]) -> String {
        let output = self.output(args);
        assert_success(&output, &format!("cast {}", args.join(" ")));
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    /// A number cast prints (decimal).
    fn number(&self, args: &[&str]) -> U256 {
        let line = self.line(args);
        U256::from_str(&line)
            .unwrap_or_else(|error| panic!("cast {}: not a number ({error}): {line}", args[0]))
    }

    /// The JSON cast prints.
    fn json(&self, args: &[&str]) -> Value {
        let output = self.output(args);
        last_json_line(&output, &format!("cast {}", args.join(" ")))
    }
}

/// The cast binary from `@foundry-rs/cast`'s package for this platform, else its Node wrapper.
fn cast_binary() -> PathBuf {
    ops::bench::anvil::foundry_binary(&ops::devnet::repository_root(), "cast")
        .unwrap_or_else(|error| panic!("{error:#}"))
}

/// Node.js, which must be on the PATH.
fn node() -> &'static str {
    let works = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(works, "node is not installed: run scripts/setup.sh");
    "node"
}

/// A file of the repository that setup installs; panics saying so when it is missing.
fn repository_file(relative: &str, what: &str) -> PathBuf {
    let path = ops::devnet::repository_root().join(relative);
    assert!(
        path.exists(),
        "{what} is missing ({}): run scripts/setup.sh",
        path.display()
    );
    path
}

/// Development account `index`'s secret key as `0x` hex.
fn secret_key_hex(network: &Network, index: usize) -> String {
    to_hex(network.keys[index].to_bytes())
}

fn run(command: &mut Command, what: &str) -> Output {
    command
        .output()
        .unwrap_or_else(|error| panic!("{what} did not start: {error}"))
}

fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n--- stderr\n{}\n--- stdout\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
}

/// The last line of a successful command's output, as JSON.
fn last_json_line(output: &Output, what: &str) -> Value {
    assert_success(output, what);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().rev().find(|line| !line.trim().is_empty());
    let line = line.unwrap_or_else(|| panic!("{what} printed nothing"));
    serde_json::from_str(line)
        .unwrap_or_else(|error| panic!("{what} printed no JSON ({error}): {line}"))
}

fn text(value: &Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no text {field} in {value}"))
        .to_owned()
}

/// A number given as a JSON number, or as decimal or `0x` hex text.
fn number(value: &Value, field: &str) -> U256 {
    if let Some(number) = value[field].as_u64() {
        return U256::from(number);
    }
    let text = text(value, field);
    U256::from_str(&text).unwrap_or_else(|error| panic!("{field} = {text}: {error}"))
}

fn address(value: &Value, field: &str) -> Address {
    parse(value, field)
}

fn parse<T: FromStr>(value: &Value, field: &str) -> T
where
    T::Err: std::fmt::Display,
{
    let text = text(value, field);
    text.parse()
        .unwrap_or_else(|error| panic!("{field} = {text}: {error}"))
}

/// The JSON-RPC envelope over HTTP: every answer is HTTP 200 (errors are in the body, as
/// Ethereum clients expect), batches answer in order, notifications get no answer, and each
/// kind of bad request gets its standard code. The chain is unchanged afterwards.
#[test]
fn json_rpc_answers_batches_and_refuses_bad_requests_with_standard_codes() {
    let network = Network::start_with(NetworkOptions::default());
    let post = |body: &[u8]| {
        network.client.send(
            "POST",
            "/rpc",
            &[("content-type", "application/json")],
            Some(body),
        )
    };
    let code_of = |answer: &Value| answer["error"]["code"].as_i64();
    let before = network.client.status();

    let answer = post(br#"{"jsonrpc":"2.0","id":7,"method":"eth_blockNumber"}"#);
    assert_eq!(answer.status, 200);
    let single: Value = answer.json();
    assert_eq!(single["id"], 7);
    assert_eq!(single["result"], format!("{:#x}", before.head_height));

    let batch: Value = post(
        br#"[{"jsonrpc":"2.0","id":"a","method":"net_version"},
            {"jsonrpc":"2.0","method":"eth_chainId"},
            {"jsonrpc":"2.0","id":"b","method":"eth_nothing"},
            {"jsonrpc":"2.0","id":"c","method":"eth_getBalance","params":["0x12"]},
            {"jsonrpc":"2.0","id":"d","method":"eth_getTransactionReceipt",
             "params":["0x0000000000000000000000000000000000000000000000000000000000000001"]},
            {"jsonrpc":"2.0","id":"e","method":"eth_getBalance",
             "params":["0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266","0x7fffffff"]},
            {"jsonrpc":"2.0","id":"f","method":"eth_sendRawTransaction","params":["0x02c0"]},
            5]"#,
    )
    .json();
    let answers = batch.as_array().expect("a batch answers with an array");
    assert_eq!(answers.len(), 7, "the notification gets no answer: {batch}");
    assert_eq!(answers[0]["result"], "31337");
    assert_eq!(code_of(&answers[1]), Some(-32601), "{}", answers[1]);
    assert_eq!(code_of(&answers[2]), Some(-32602), "{}", answers[2]);
    assert_eq!(
        answers[3]["result"],
        Value::Null,
        "an unknown receipt is null"
    );
    assert_eq!(
        code_of(&answers[4]),
        Some(-32000),
        "a future block: {}",
        answers[4]
    );
    assert_eq!(
        code_of(&answers[5]),
        Some(-32000),
        "an undecodable transaction: {}",
        answers[5]
    );
    assert_eq!(
        code_of(&answers[6]),
        Some(-32600),
        "not a request object: {}",
        answers[6]
    );

    for body in [&b"{not json"[..], b""] {
        let answer = post(body);
        assert_eq!(answer.status, 200);
        assert_eq!(code_of(&answer.json()), Some(-32700), "{}", answer.text());
    }
    let empty: Value = post(b"[]").json();
    assert_eq!(code_of(&empty), Some(-32600), "{empty}");
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}"#;
    let too_many_reads = format!(
        "[{}]",
        vec![call; ledger::rpc::RPC_BATCH_READS_MAX + 1].join(",")
    );
    let refused: Value = post(too_many_reads.as_bytes()).json();
    assert_eq!(code_of(&refused), Some(-32600), "{refused}");
    let send = r#"{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0x02"]}"#;
    let too_many = format!("[{}]", vec![send; ledger::rpc::RPC_BATCH_MAX + 1].join(","));
    let refused: Value = post(too_many.as_bytes()).json();
    assert_eq!(code_of(&refused), Some(-32600), "{refused}");
    let only_notifications = post(br#"[{"jsonrpc":"2.0","method":"eth_chainId"}]"#);
    assert_eq!(
        (only_notifications.status, only_notifications.body.len()),
        (200, 0)
    );
    let oversized = vec![b' '; ledger::rpc::RPC_BODY_BYTES_MAX + 1];
    let answer = post(&oversized);
    assert_eq!(code_of(&answer.json()), Some(-32700), "{}", answer.text());
    let wrong_method = network.client.send("GET", "/rpc", &[], None);
    assert_eq!(wrong_method.status, 405);

    let after = network.client.status();
    assert_eq!(
        (after.head_height, after.mempool_size),
        (before.head_height, 0)
    );

    // A transaction whose nonce was used already: -32000 "nonce too low", as geth says it.
    let mut transfers = crate::harness::Transfers::new(&network);
    let to = network.address(3);
    let first = transfers.transfer(0, to, U256::from(5u64));
    let sent: Value = post(rpc_send(&first).as_bytes()).json();
    let hash: Hash = serde_json::from_value(sent["result"].clone()).expect("a hash");
    network
        .client
        .wait_final(&[hash], std::time::Duration::from_secs(60));
    // Resubmitted once committed, it is refused as geth refuses it (it left the pool): the
    // chain applies nothing twice.
    let again: Value = post(rpc_send(&first).as_bytes()).json();
    assert_eq!(code_of(&again), Some(-32000), "{again}");
    let stale = crate::harness::Transfers::new(&network).transfer(0, to, U256::from(6u64));
    let counted = "edgeledger_transactions_rejected_total{reason=\"nonce_too_low\"}";
    let before = crate::metrics::value(&crate::metrics::scrape(&network), counted);
    let refused: Value = post(rpc_send(&stale).as_bytes()).json();
    assert_eq!(code_of(&refused), Some(-32000), "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("nonce too low"), "{refused}");
    // Refused by the JSON-RPC door itself, and counted like any refusal.
    let after = crate::metrics::value(&crate::metrics::scrape(&network), counted);
    assert_eq!(after - before, 1.0, "{counted}");
    assert_eq!(network.client.account(&network.address(0), false).nonce, 1);
}

/// An `eth_sendRawTransaction` request body for `raw`.
fn rpc_send(raw: &[u8]) -> String {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "eth_sendRawTransaction",
        "params": [to_hex(raw)],
    })
    .to_string()
}
