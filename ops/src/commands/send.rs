//! `ops send`: signs an EIP-1559 transfer with the sender's next nonce, submits it
//! (`POST /v1/tx`) and waits until the chain commits or rejects it (`GET /v1/txs/{hash}`).
//! A refusal shows the API's code and message and fails the command.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ledger::api::{Reason, SubmissionStatus, TxState, TxStatusAnswer};
use ledger::primitives::{Address, Hash, U256};
use ledger::transaction::{TRANSFER_GAS, Transfer, TxKind};
use serde::Serialize;

use super::balance::parse_address;
use super::{GenesisSource, KeySource, aligned, format_age, print_json};
use crate::client::{Client, DEFAULT_URL, Refusal};
use crate::progress;
use crate::units::{format_ether, parse_amount, parse_fee_per_gas};

/// How often the transaction's status is asked while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Longest wait accepted for `--timeout-secs`.
const TIMEOUT_SECS_MAX: u64 = 3600;

/// `ops send`.
#[derive(Debug, Clone, clap::Args)]
pub struct SendArgs {
    /// The recipient (`0x` and 40 hex digits).
    #[arg(long, value_name = "ADDRESS")]
    pub to: String,
    /// The amount: wei (`1000`) or with a unit (`1.5ether`, `2gwei`).
    #[arg(long, value_name = "AMOUNT")]
    pub value: String,
    /// The sender's key.
    #[command(flatten)]
    pub key: KeySource,
    /// The chain's API.
    #[arg(long, default_value = DEFAULT_URL)]
    pub url: String,
    /// Priority fee (tip) per gas: wei or with a unit. The fee cap is the genesis base fee
    /// plus this.
    #[arg(long, value_name = "WEI", default_value = "1gwei")]
    pub priority_fee: String,
    /// Where the genesis is, for its base fee (default: the network folder's if there is
    /// one; otherwise the base fee is taken as 0, as on the local network).
    #[command(flatten)]
    pub genesis: GenesisSource,
    /// Return once the chain accepted the transaction, without waiting for its block.
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for the block, in seconds.
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub timeout_secs: u64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Where a sent transaction stands, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SendStatus {
    /// Queued (`--no-wait`).
    Accepted,
    /// Already known to the chain (`--no-wait`).
    Duplicate,
    /// Still waiting when the wait timed out.
    Pending,
    /// In a certified block.
    Committed,
    /// Refused at submission, or dropped afterwards, with a reason.
    Rejected,
}

/// What `ops send` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendReport {
    /// The transaction's hash.
    pub hash: Hash,
    /// The sender.
    pub from: Address,
    /// The recipient.
    pub to: Address,
    /// The amount in wei, as a decimal string.
    pub value_wei: String,
    /// The sender's nonce the transaction carries.
    pub nonce: u64,
    /// Fee cap per gas, in wei.
    pub max_fee_per_gas: u128,
    /// Tip per gas, in wei.
    pub max_priority_fee_per_gas: u128,
    /// Where it stands.
    pub status: SendStatus,
    /// The block's height, when committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// The block's hash, when committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_hash: Option<Hash>,
    /// The fee paid in wei (decimal), when committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fee_wei: Option<String>,
    /// Why it was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
}

/// The EIP-1559 transfer `ops send` signs: gas limit [`TRANSFER_GAS`], fee cap
/// `base_fee + priority_fee`.
pub fn transfer(
    chain_id: u64,
    nonce: u64,
    to: Address,
    value: U256,
    base_fee_per_gas: u128,
    priority_fee_per_gas: u128,
) -> Result<Transfer> {
    let max_fee_per_gas = base_fee_per_gas
        .checked_add(priority_fee_per_gas)
        .context("the base fee plus the priority fee does not fit in 128 bits")?;
    Ok(Transfer {
        kind: TxKind::DynamicFee,
        chain_id,
        nonce,
        max_fee_per_gas,
        max_priority_fee_per_gas: priority_fee_per_gas,
        gas_limit: TRANSFER_GAS,
        to,
        value,
    })
}

impl SendReport {
    /// The report of `transfer` with hash `hash` from `from`, at `status`.
    pub fn new(transfer: &Transfer, hash: Hash, from: Address, status: SendStatus) -> Self {
        Self {
            hash,
            from,
            to: transfer.to,
            value_wei: transfer.value.to_string(),
            nonce: transfer.nonce,
            max_fee_per_gas: transfer.max_fee_per_gas,
            max_priority_fee_per_gas: transfer.max_priority_fee_per_gas,
            status,
            height: None,
            block_hash: None,
            fee_wei: None,
            reason: None,
        }
    }

    /// The report updated with what `GET /v1/txs/{hash}` answered.
    pub fn with_answer(mut self, answer: &TxStatusAnswer) -> Self {
        self.status = match answer.status {
            TxState::Committed => SendStatus::Committed,
            TxState::Rejected => SendStatus::Rejected,
            TxState::Pending | TxState::Unknown => SendStatus::Pending,
        };
        self.height = answer.height;
        self.block_hash = answer.block_hash;
        self.fee_wei = answer.receipt.map(|receipt| receipt.fee.to_string());
        self.reason = answer.reason.clone();
        self
    }

    /// The summary for people.
    pub fn summary(&self) -> String {
        let value = self.value_wei.parse::<U256>().unwrap_or_default();
        let mut rows = vec![
            ("hash", self.hash.to_string()),
            ("from", format!("{} (nonce {})", self.from, self.nonce)),
            ("to", self.to.to_string()),
            (
                "value",
                format!("{} wei ({} ether)", self.value_wei, format_ether(value)),
            ),
        ];
        let status = match (&self.status, &self.reason) {
            (SendStatus::Rejected, Some(reason)) => {
                format!("rejected: {}: {}", reason.code, reason.message)
            }
            (status, _) => serde_json::to_value(status)
                .ok()
                .and_then(|value| value.as_str().map(str::to_owned))
                .unwrap_or_default(),
        };
        rows.push(("status", status));
        if let (Some(height), Some(block_hash)) = (self.height, self.block_hash) {
            rows.push(("block", format!("{height} ({block_hash})")));
        }
        if let Some(fee) = &self.fee_wei {
            rows.push(("fee", format!("{fee} wei")));
        }
        aligned(&rows)
    }

    fn print(&self, json: bool) -> Result<()> {
        if json {
            print_json(self)
        } else {
            print!("{}", self.summary());
            Ok(())
        }
    }
}

/// The base fee per gas: the genesis's if there is one for this chain, else 0 (the local
/// network's). A genesis named on the command line for another chain is an error.
fn base_fee_per_gas(source: &GenesisSource, chain_id: u64) -> Result<u128> {
    let named = source.genesis.is_some() || source.dir.is_some();
    match source.load_if_available()? {
        Some(genesis) if genesis.config.chain_id == chain_id => Ok(genesis.config.base_fee_per_gas),
        Some(genesis) if named => bail!(
            "the genesis is of chain {}, the chain at the URL is {chain_id}",
            genesis.config.chain_id
        ),
        _ => Ok(0),
    }
}

/// `ops send`.
pub fn run(args: &SendArgs) -> Result<()> {
    let to = parse_address(&args.to)?;
    let value = parse_amount(&args.value).context("--value")?;
    let priority_fee = parse_fee_per_gas(&args.priority_fee).context("--priority-fee")?;
    if args.timeout_secs == 0 || args.timeout_secs > TIMEOUT_SECS_MAX {
        bail!("--timeout-secs must be 1 to {TIMEOUT_SECS_MAX}");
    }
    let key = args.key.load()?;
    let from = key.public_key().address();
    let client = Client::new(&args.url);
    let chain_id = client.status()?.chain_id;
    let base_fee = base_fee_per_gas(&args.genesis, chain_id)?;
    let nonce = client.account(&from, false)?.pending_nonce;
    let transfer = transfer(chain_id, nonce, to, value, base_fee, priority_fee)?;
    let signed = transfer.sign(&key);
    let report = SendReport::new(&transfer, signed.hash(), from, SendStatus::Accepted);

    let submitted = match client.submit(signed.raw()) {
        Ok(result) => result,
        Err(error) => {
            let Some(refusal) = error.downcast_ref::<Refusal>() else {
                return Err(error);
            };
            let refused = SendReport {
                status: SendStatus::Rejected,
                reason: Some(Reason {
                    code: refusal.code.clone(),
                    message: refusal.message.clone(),
                }),
                ..report
            };
            refused.print(args.json)?;
            bail!(
                "the chain refused the transaction ({} {}): {}",
                refusal.status,
                refusal.code,
                refusal.message
            );
        }
    };
    let report = SendReport {
        status: match submitted.status {
            SubmissionStatus::Duplicate => SendStatus::Duplicate,
            _ => SendStatus::Accepted,
        },
        ..report
    };
    if args.no_wait {
        return report.print(args.json);
    }
    let timeout = Duration::from_secs(args.timeout_secs);
    let answer = match wait_final(&client, &report.hash, timeout, progress::drawn(args.json)) {
        Ok(answer) => answer,
        Err(error) => {
            // The chain has the transaction: show its hash before failing.
            report.print(args.json)?;
            return Err(error);
        }
    };
    let report = report.with_answer(&answer);
    report.print(args.json)?;
    match (report.status, &report.reason) {
        (SendStatus::Committed, _) => Ok(()),
        (SendStatus::Rejected, Some(reason)) => bail!(
            "the chain rejected the transaction ({}): {}",
            reason.code,
            reason.message
        ),
        _ => bail!(
            "{} is still {} after {} (--timeout-secs waits longer)",
            report.hash,
            match answer.status {
                TxState::Unknown => "unknown to the chain",
                _ => "pending",
            },
            format_age(timeout.as_millis().try_into().unwrap_or(u64::MAX))
        ),
    }
}

/// Failed status requests in a row tolerated while waiting (a dropped connection, a chain
/// restarting): 5 seconds at [`POLL_INTERVAL`].
const FAILED_POLLS_MAX: u32 = 25;

/// Whether a failed status request is worth repeating: a transport error, or an answer that
/// says to retry (429, 503); not a refusal that will be the same next time.
fn worth_retrying(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<Refusal>()
        .is_none_or(|refusal| matches!(refusal.status, 429 | 503))
}

/// Asks for the transaction until it is committed or rejected, or `timeout` passes (then the
/// last answer, still pending). A spinner on stderr meanwhile, if `draw`.
fn wait_final(
    client: &Client,
    hash: &Hash,
    timeout: Duration,
    draw: bool,
) -> Result<TxStatusAnswer> {
    let spinner = progress::spinner(draw, format!("waiting for {hash} to be committed"));
    let deadline = Instant::now() + timeout;
    let mut failures = 0;
    let answer = loop {
        match client.transaction(hash) {
            Ok(answer)
                if matches!(answer.status, TxState::Committed | TxState::Rejected)
                    || Instant::now() >= deadline =>
            {
                break Ok(answer);
            }
            Ok(_) => failures = 0,
            Err(error)
                if worth_retrying(&error)
                    && failures < FAILED_POLLS_MAX
                    && Instant::now() < deadline =>
            {
                spinner.set_message(format!("waiting for {hash} (the chain: {error})"));
                failures += 1;
            }
            Err(error) => break Err(error),
        }
        std::thread::sleep(POLL_INTERVAL);
    };
    spinner.finish_and_clear();
    answer.with_context(|| format!("asking whether {hash} is committed"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::block::Receipt;
    use ledger::transaction::decode;

    fn address(byte: u8) -> Address {
        Address([byte; 20])
    }

    #[test]
    fn the_transfer_pays_the_base_fee_plus_the_tip() {
        let transfer =
            transfer(31_337, 4, address(9), U256::from(1000u64), 7, 1_000_000_000).expect("fits");
        assert_eq!(transfer.kind, TxKind::DynamicFee);
        assert_eq!(
            (transfer.max_fee_per_gas, transfer.max_priority_fee_per_gas),
            (1_000_000_007, 1_000_000_000)
        );
        assert_eq!((transfer.nonce, transfer.gas_limit), (4, TRANSFER_GAS));
        assert!(super::transfer(1, 0, address(9), U256::ZERO, u128::MAX, 1).is_err());
    }

    #[test]
    fn a_signed_transfer_decodes_for_its_chain_with_the_sender() {
        let key = crate::commands::keys::development_key(0).expect("derives");
        let transfer = transfer(31_337, 0, address(9), U256::from(5u64), 0, 1).expect("fits");
        let signed = transfer.sign(&key);
        let recovered = decode(signed.raw(), 31_337)
            .and_then(|decoded| decoded.recover())
            .expect("recovers");
        assert_eq!(recovered.sender, key.public_key().address());
    }

    fn report() -> SendReport {
        let transfer = transfer(31_337, 2, address(9), U256::from(1000u64), 0, 1).expect("fits");
        SendReport::new(&transfer, Hash([5; 32]), address(1), SendStatus::Accepted)
    }

    #[test]
    fn a_committed_answer_fills_in_the_block_and_fee() {
        let receipt = Receipt {
            tx_hash: Hash([5; 32]),
            index: 0,
            sender: address(1),
            to: address(9),
            nonce: 2,
            value: U256::from(1000u64),
            gas_used: TRANSFER_GAS,
            effective_gas_price: 1,
            fee: U256::from(21_000u64),
        };
        let answer = TxStatusAnswer::committed(7, Hash([6; 32]), receipt);
        let committed = report().with_answer(&answer);
        let json = serde_json::to_value(&committed).expect("JSON");
        assert_eq!(json["status"], "committed");
        assert_eq!(json["height"], 7);
        assert_eq!(json["block_hash"], Hash([6; 32]).to_string());
        assert_eq!(json["fee_wei"], "21000");
        assert_eq!(json["value_wei"], "1000");
        assert_eq!(json["nonce"], 2);
        assert!(json.get("reason").is_none());
        let summary = committed.summary();
        assert!(summary.contains("status  committed"), "{summary}");
        assert!(
            summary.contains(&format!("block   7 ({})", Hash([6; 32]))),
            "{summary}"
        );
        assert!(
            summary.contains("value   1000 wei (0.000000000000001 ether)"),
            "{summary}"
        );
    }

    #[test]
    fn only_transient_failures_are_retried_while_waiting() {
        let refusal = |status: u16| {
            anyhow::Error::from(Refusal {
                status,
                code: "x".to_owned(),
                message: "y".to_owned(),
            })
        };
        assert!(worth_retrying(&anyhow::anyhow!("connection refused")));
        assert!(worth_retrying(&refusal(503)));
        assert!(worth_retrying(&refusal(429)));
        assert!(!worth_retrying(&refusal(502)));
        assert!(!worth_retrying(&refusal(400)));
    }

    #[test]
    fn a_rejection_shows_its_code_and_message() {
        let reason = Reason {
            code: "insufficient_funds".to_owned(),
            message: "insufficient funds".to_owned(),
        };
        let rejected = report().with_answer(&TxStatusAnswer::rejected(Hash([5; 32]), reason));
        let json = serde_json::to_value(&rejected).expect("JSON");
        assert_eq!(json["status"], "rejected");
        assert_eq!(json["reason"]["code"], "insufficient_funds");
        assert!(json.get("height").is_none());
        assert!(
            rejected
                .summary()
                .contains("status  rejected: insufficient_funds: insufficient funds")
        );
        assert!(report().summary().contains("status  accepted"));
    }
}
