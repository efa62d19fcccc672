//! `ops watch`: a live view of the chain, one line (or one JSON object) per refresh: the head,
//! blocks and transactions per second since the previous refresh (from the new blocks'
//! transaction counts), the mempool's depth and whether production is paused.

use std::ops::Range;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use ledger::api::StatusAnswer;
use ledger::primitives::Hash;
use serde::Serialize;

use super::{now_ms, print_json};
use crate::client::{Client, DEFAULT_URL};

/// New blocks read per refresh, at most; beyond that the transaction count of the others is
/// estimated from the ones read (and the refresh says so).
pub const BLOCKS_READ_PER_REFRESH_MAX: u64 = 32;

/// Shortest and longest refresh interval accepted.
const INTERVAL_MS_MIN: u64 = 100;
const INTERVAL_MS_MAX: u64 = 3_600_000;

/// Refreshes that may fail in a row (the chain restarting, a dropped connection) before the
/// watch gives up.
const FAILED_REFRESHES_MAX: u32 = 3;

/// Lines between repeated column headers.
const HEADER_EVERY_LINES: u64 = 20;

/// `ops watch`.
#[derive(Debug, Clone, clap::Args)]
pub struct WatchArgs {
    /// The chain's API.
    #[arg(long, default_value = DEFAULT_URL)]
    pub url: String,
    /// Time between refreshes, in milliseconds (100 to 3,600,000).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub interval_ms: u64,
    /// Stop after N refreshes (default: until Ctrl-C).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Print one JSON object per refresh, one per line.
    #[arg(long)]
    pub json: bool,
}

/// What one refresh saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The chain's status.
    pub status: StatusAnswer,
    /// When, on a monotonic clock (ms since the watch started).
    pub elapsed_ms: u64,
    /// When, by the wall clock (ms since the Unix epoch).
    pub time_ms: u64,
}

/// One refresh, as printed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refresh {
    /// Wall-clock time of the refresh (ms since the Unix epoch).
    pub time_ms: u64,
    /// The head's height.
    pub head_height: u64,
    /// The head's hash.
    pub head_hash: Hash,
    /// Blocks committed since the previous refresh.
    pub new_blocks: u64,
    /// Transactions in those blocks (estimated if more than
    /// [`BLOCKS_READ_PER_REFRESH_MAX`] blocks were new).
    pub new_transactions: u64,
    /// Whether `new_transactions` is an estimate.
    pub transactions_estimated: bool,
    /// Seconds since the previous refresh (`null` on the first).
    pub seconds: Option<f64>,
    /// Blocks per second since the previous refresh (`null` on the first, or after the head
    /// moved back, e.g. a restore).
    pub blocks_per_second: Option<f64>,
    /// Transactions per second since the previous refresh (`null` likewise).
    pub transactions_per_second: Option<f64>,
    /// Transactions waiting in the mempool.
    pub mempool_size: u64,
    /// Whether block production is paused.
    pub paused: bool,
}

/// The heights of new blocks a refresh reads: those after `previous_head` up to `head`, the
/// most recent [`BLOCKS_READ_PER_REFRESH_MAX`] of them. Empty on the first refresh, or if
/// the head did not move forward.
pub fn heights_to_read(previous_head: Option<u64>, head: u64) -> Range<u64> {
    match previous_head {
        Some(previous) if head > previous => {
            let first = (previous + 1).max(head.saturating_sub(BLOCKS_READ_PER_REFRESH_MAX - 1));
            first..head.saturating_add(1)
        }
        // Nothing new, or no previous refresh to compare with.
        _ => 0..0,
    }
}

impl Refresh {
    /// The refresh of `current` after `previous`, given the transaction counts of the new
    /// blocks read ([`heights_to_read`]).
    pub fn new(
        previous: Option<&Observation>,
        current: &Observation,
        transactions_read: &[usize],
    ) -> Self {
        let head = current.status.head_height;
        // The head moving back (a restore) restarts the rates.
        let previous = previous.filter(|previous| previous.status.head_height <= head);
        let new_blocks = previous.map_or(0, |previous| head - previous.status.head_height);
        let read = transactions_read.len() as u64;
        let sum: u64 = transactions_read.iter().map(|&count| count as u64).sum();
        let (new_transactions, transactions_estimated) = if read == 0 || read >= new_blocks {
            (sum, false)
        } else {
            // Scale the blocks read up to all the new ones, rounding to nearest.
            ((sum * new_blocks + read / 2) / read, true)
        };
        let seconds = previous
            .map(|previous| current.elapsed_ms.saturating_sub(previous.elapsed_ms) as f64 / 1e3);
        let rate = |count: u64| seconds.filter(|&s| s > 0.0).map(|s| count as f64 / s);
        Self {
            time_ms: current.time_ms,
            head_height: head,
            head_hash: current.status.head_hash,
            new_blocks,
            new_transactions,
            transactions_estimated,
            seconds,
            blocks_per_second: rate(new_blocks),
            transactions_per_second: rate(new_transactions),
            mempool_size: current.status.mempool_size,
            paused: current.status.paused,
        }
    }

    /// The column headers of [`Refresh::line`].
    pub fn header() -> String {
        format!(
            "{:<12} {:>10} {:>9} {:>10} {:>9}  paused",
            "time (UTC)", "height", "blocks/s", "txs/s", "mempool"
        )
    }

    /// One line for people, under [`Refresh::header`].
    pub fn line(&self) -> String {
        let rate = |rate: Option<f64>, estimated: bool| match rate {
            Some(rate) if estimated => format!("~{rate:.2}"),
            Some(rate) => format!("{rate:.2}"),
            None => "-".to_owned(),
        };
        format!(
            "{:<12} {:>10} {:>9} {:>10} {:>9}  {}",
            time_of_day(self.time_ms),
            self.head_height,
            rate(self.blocks_per_second, false),
            rate(self.transactions_per_second, self.transactions_estimated),
            self.mempool_size,
            if self.paused { "yes" } else { "no" }
        )
    }
}

/// `HH:MM:SS` of a Unix time in milliseconds, in UTC.
fn time_of_day(time_ms: u64) -> String {
    let seconds = (time_ms / 1000) % 86_400;
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        (seconds % 3600) / 60,
        seconds % 60
    )
}

/// Reads the status and the new blocks since `previous`.
fn observe(
    client: &Client,
    previous: Option<&Observation>,
    started: Instant,
) -> Result<(Observation, Refresh)> {
    let status = client.status()?;
    let observation = Observation {
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        time_ms: now_ms(),
        status,
    };
    let heights = heights_to_read(
        previous.map(|previous| previous.status.head_height),
        observation.status.head_height,
    );
    let transactions = heights
        .map(|height| Ok(client.block(&height.to_string())?.transactions.len()))
        .collect::<Result<Vec<usize>>>()?;
    let refresh = Refresh::new(previous, &observation, &transactions);
    Ok((observation, refresh))
}

/// `ops watch`: refreshes every interval until Ctrl-C (or `--count` refreshes).
pub fn run(args: &WatchArgs) -> Result<()> {
    if !(INTERVAL_MS_MIN..=INTERVAL_MS_MAX).contains(&args.interval_ms) {
        bail!("--interval-ms must be {INTERVAL_MS_MIN} to {INTERVAL_MS_MAX}");
    }
    let client = Client::new(&args.url);
    let interval = Duration::from_millis(args.interval_ms);
    let started = Instant::now();
    let mut previous: Option<Observation> = None;
    let mut shown: u64 = 0;
    let mut failures: u32 = 0;
    let mut attempts: u32 = 0;
    loop {
        match observe(&client, previous.as_ref(), started) {
            Ok((observation, refresh)) => {
                if args.json {
                    print_json(&refresh)?;
                } else {
                    if shown % HEADER_EVERY_LINES == 0 {
                        println!("{}", Refresh::header());
                    }
                    println!("{}", refresh.line());
                }
                previous = Some(observation);
                shown += 1;
                failures = 0;
            }
            // A chain that was reachable may be restarting: say so and keep watching.
            Err(error) if previous.is_some() && failures < FAILED_REFRESHES_MAX => {
                eprintln!("warning: refresh failed: {error:#}");
                failures += 1;
            }
            Err(error) => return Err(error),
        }
        if args.count.is_some_and(|count| shown >= count) {
            return Ok(());
        }
        // Refreshes keep to the interval's schedule, however long each one took.
        attempts = attempts.saturating_add(1);
        let next = started + interval * attempts;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::primitives::Address;

    fn observation(head_height: u64, elapsed_ms: u64) -> Observation {
        Observation {
            status: StatusAnswer {
                chain_id: 31_337,
                head_height,
                head_hash: Hash([head_height as u8; 32]),
                mempool_size: 3,
                validators: vec![Address([1; 20])],
                shard_count: 2,
                paused: false,
            },
            elapsed_ms,
            time_ms: 1_700_000_000_000 + elapsed_ms,
        }
    }

    #[test]
    fn the_first_refresh_has_no_rates() {
        let refresh = Refresh::new(None, &observation(5, 0), &[]);
        assert_eq!(
            (
                refresh.new_blocks,
                refresh.blocks_per_second,
                refresh.seconds
            ),
            (0, None, None)
        );
        let json = serde_json::to_value(&refresh).expect("JSON");
        assert_eq!(json["blocks_per_second"], serde_json::Value::Null);
        assert_eq!(json["head_height"], 5);
        assert_eq!(json["mempool_size"], 3);
        assert_eq!(json["paused"], false);
    }

    #[test]
    fn rates_count_the_new_blocks_and_their_transactions() {
        let before = observation(5, 1_000);
        let refresh = Refresh::new(Some(&before), &observation(9, 3_000), &[1, 2, 3, 4]);
        assert_eq!((refresh.new_blocks, refresh.new_transactions), (4, 10));
        assert_eq!(refresh.seconds, Some(2.0));
        assert_eq!(refresh.blocks_per_second, Some(2.0));
        assert_eq!(refresh.transactions_per_second, Some(5.0));
        assert!(!refresh.transactions_estimated);
        let idle = Refresh::new(Some(&before), &observation(5, 2_000), &[]);
        assert_eq!(idle.blocks_per_second, Some(0.0));
        assert_eq!(idle.transactions_per_second, Some(0.0));
    }

    #[test]
    fn many_new_blocks_are_sampled_and_the_estimate_says_so() {
        assert_eq!(heights_to_read(None, 10), 0..0);
        assert_eq!(heights_to_read(Some(10), 10), 0..0);
        assert_eq!(heights_to_read(Some(12), 10), 0..0);
        assert_eq!(heights_to_read(Some(3), 5), 4..6);
        assert_eq!(heights_to_read(Some(0), 100), 69..101);
        assert_eq!(
            heights_to_read(Some(0), 100).count() as u64,
            BLOCKS_READ_PER_REFRESH_MAX
        );
        let sampled = vec![2; BLOCKS_READ_PER_REFRESH_MAX as usize];
        let refresh = Refresh::new(Some(&observation(0, 0)), &observation(100, 1_000), &sampled);
        assert_eq!(refresh.new_transactions, 200);
        assert!(refresh.transactions_estimated);
        assert!(refresh.line().contains("~200.00"), "{}", refresh.line());
    }

    #[test]
    fn a_head_moving_back_restarts_the_rates() {
        let refresh = Refresh::new(Some(&observation(9, 0)), &observation(4, 1_000), &[]);
        assert_eq!((refresh.new_blocks, refresh.blocks_per_second), (0, None));
    }

    #[test]
    fn lines_align_under_the_header() {
        let refresh = Refresh::new(Some(&observation(5, 0)), &observation(6, 500), &[3]);
        let header = Refresh::header();
        let line = refresh.line();
        assert_eq!(
            line.find("  no"),
            header.find("  paused"),
            "{header}\n{line}"
        );
        assert!(line.starts_with("22:13:20"), "{line}");
        assert!(line.contains("2.00") && line.contains("6.00"), "{line}");
    }
}
