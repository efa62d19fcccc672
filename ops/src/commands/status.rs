//! `ops status`: the chain at a glance (`GET /v1/status`, and the head block for its time and
//! transaction count).

use anyhow::{Context, Result};
use ledger::api::StatusAnswer;
use serde::Serialize;

use super::{aligned, format_age, now_ms, print_json};
use crate::client::{Client, DEFAULT_URL};

/// `ops status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// The chain's API.
    #[arg(long, default_value = DEFAULT_URL)]
    pub url: String,
    /// Print JSON: the `/v1/status` answer plus the head block's time, age and transactions.
    #[arg(long)]
    pub json: bool,
}

/// The chain's status with its head block's time and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    /// What `/v1/status` answered.
    #[serde(flatten)]
    pub status: StatusAnswer,
    /// The head block's timestamp (ms since the Unix epoch).
    pub head_timestamp_ms: u64,
    /// How old the head block is, by this machine's clock (0 if its clock is behind).
    pub head_age_ms: u64,
    /// Transactions in the head block.
    pub head_transactions: usize,
}

impl StatusReport {
    /// Asks the chain. The head block is read by the height the status names, so both describe
    /// the same block even while new ones are committed.
    pub fn fetch(client: &Client, now_ms: impl FnOnce() -> u64) -> Result<Self> {
        let status = client.status()?;
        let head = client
            .block(&status.head_height.to_string())
            .with_context(|| format!("reading the head block {}", status.head_height))?;
        Ok(Self::new(
            status,
            head.header.timestamp_ms,
            head.transactions.len(),
            now_ms(),
        ))
    }

    /// The report of `status` whose head block has this timestamp and transaction count.
    pub fn new(
        status: StatusAnswer,
        head_timestamp_ms: u64,
        head_transactions: usize,
        now_ms: u64,
    ) -> Self {
        Self {
            status,
            head_timestamp_ms,
            head_age_ms: now_ms.saturating_sub(head_timestamp_ms),
            head_transactions,
        }
    }

    /// The summary for people, one aligned line per fact.
    pub fn summary(&self) -> String {
        let status = &self.status;
        let plural = |count: usize, noun: &str| {
            format!("{count} {noun}{}", if count == 1 { "" } else { "s" })
        };
        let mut rows = vec![
            ("chain id", status.chain_id.to_string()),
            (
                "head",
                format!("{}  {}", status.head_height, status.head_hash),
            ),
            (
                "head age",
                format!(
                    "{} ({} in the block)",
                    format_age(self.head_age_ms),
                    plural(self.head_transactions, "transaction")
                ),
            ),
            (
                "mempool",
                plural(
                    usize::try_from(status.mempool_size).unwrap_or(usize::MAX),
                    "transaction",
                ),
            ),
            ("validators", status.validators.len().to_string()),
        ];
        rows.extend(
            status
                .validators
                .iter()
                .map(|validator| ("", format!("  {validator}"))),
        );
        rows.push(("shards", status.shard_count.to_string()));
        rows.push((
            "paused",
            if status.paused {
                "yes: block production is stopped (POST /v1/admin/resume restarts it)"
            } else {
                "no"
            }
            .to_owned(),
        ));
        aligned(&rows)
    }
}

/// `ops status`.
pub fn run(args: &StatusArgs) -> Result<()> {
    let report = StatusReport::fetch(&Client::new(&args.url), now_ms)?;
    if args.json {
        print_json(&report)
    } else {
        print!("{}", report.summary());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::primitives::{Address, Hash};

    fn report(paused: bool) -> StatusReport {
        StatusReport::new(
            StatusAnswer {
                chain_id: 31_337,
                head_height: 12,
                head_hash: Hash([0xab; 32]),
                mempool_size: 1,
                validators: vec![Address([1; 20]), Address([2; 20])],
                shard_count: 4,
                paused,
            },
            1_000,
            2,
            4_250,
        )
    }

    #[test]
    fn the_json_is_the_status_answer_plus_the_head_block() {
        let json = serde_json::to_value(report(false)).expect("JSON");
        let status: StatusAnswer = serde_json::from_value(json.clone()).expect("a status answer");
        assert_eq!(status, report(false).status);
        assert_eq!(json["head_timestamp_ms"], 1_000);
        assert_eq!(json["head_age_ms"], 3_250);
        assert_eq!(json["head_transactions"], 2);
    }

    #[test]
    fn the_summary_lines_up_every_fact() {
        let summary = report(false).summary();
        let lines: Vec<&str> = summary.lines().collect();
        assert_eq!(lines[0], "chain id    31337");
        assert_eq!(lines[1], format!("head        12  {}", Hash([0xab; 32])));
        assert_eq!(lines[2], "head age    3.2 s (2 transactions in the block)");
        assert_eq!(lines[3], "mempool     1 transaction");
        assert_eq!(lines[4], "validators  2");
        assert_eq!(lines[5], format!("              {}", Address([1; 20])));
        assert_eq!(lines[7], "shards      4");
        assert_eq!(lines[8], "paused      no");
        assert!(report(true).summary().contains("paused      yes"));
    }

    #[test]
    fn a_clock_behind_the_head_gives_age_zero() {
        let early = StatusReport::new(report(false).status, 5_000, 0, 4_000);
        assert_eq!(early.head_age_ms, 0);
    }
}
