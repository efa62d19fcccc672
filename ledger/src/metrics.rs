//! Operational metrics in the Prometheus text exposition format, version 0.0.4.
//!
//! This module holds a small encoder (counters, gauges, histograms with fixed buckets, label
//! and help escaping), what the `Sequencer` object counts ([`sequencer`]) and the catalogue of
//! everything edgeledger exports under `GET /metrics` ([`catalogue`]). It is pure like the
//! rest of the crate: times are arguments, nothing is read or written here.
//!
//! Why not a crate: `prometheus-client` writes OpenMetrics (`# EOF`, its own content type)
//! and brings `parking_lot`; the 0.0.4 text format is a few rules, written and tested here:
//!
//! ```text
//! # HELP edgeledger_blocks_committed_total Blocks certified and committed.
//! # TYPE edgeledger_blocks_committed_total counter
//! edgeledger_blocks_committed_total 12
//! # HELP edgeledger_vote_latency_seconds Time from sending a proposal to a vote.
//! # TYPE edgeledger_vote_latency_seconds histogram
//! edgeledger_vote_latency_seconds_bucket{validator="0",le="0.1"} 3
//! edgeledger_vote_latency_seconds_bucket{validator="0",le="+Inf"} 4
//! edgeledger_vote_latency_seconds_sum{validator="0"} 0.42
//! edgeledger_vote_latency_seconds_count{validator="0"} 4
//! ```
//!
//! Every sample of a family follows its `# HELP` and `# TYPE` lines, label values escape `\`,
//! `"` and newlines, and histogram buckets are cumulative with a final `le="+Inf"` equal to
//! `_count`.

pub mod catalogue;
pub mod logs;
pub mod sequencer;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// The `Content-Type` of a metrics answer.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Most buckets a histogram may have (besides `+Inf`): bounds a decoded snapshot.
pub const HISTOGRAM_BUCKETS_MAX: usize = 64;

/// The kind of a metric family, as its `# TYPE` line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Only goes up (or resets to zero when the process restarts).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations counted into fixed buckets, with their sum and count.
    Histogram,
}

impl MetricKind {
    /// The word of the `# TYPE` line.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// Label pairs of one sample, in the order they are written.
pub type Labels<'a> = &'a [(&'a str, &'a str)];

/// A sample's value: integers are written exactly, floats in Prometheus' spelling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// A count or a height.
    Integer(u64),
    /// Anything else (seconds, ratios).
    Float(f64),
}

impl From<u64> for Value {
    fn from(value: u64) -> Self {
        Self::Integer(value)
    }
}

impl From<f64> for Value {
    fn from(value: f64) -> Self {
        Self::Float(value)
    }
}

impl From<bool> for Value {
    /// 1 for true, 0 for false.
    fn from(value: bool) -> Self {
        Self::Integer(u64::from(value))
    }
}

/// Observations counted into fixed buckets. A bucket counts observations at most its upper
/// bound (`le`) and above the previous bound; the last counts those above every bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "HistogramParts", into = "HistogramParts")]
pub struct Histogram {
    bounds: Vec<f64>,
    counts: Vec<u64>,
    sum: f64,
}

/// How a histogram travels: checked on the way in, so a decoded one keeps the invariants.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct HistogramParts {
    bounds: Vec<f64>,
    counts: Vec<u64>,
    sum: f64,
}

impl From<Histogram> for HistogramParts {
    fn from(histogram: Histogram) -> Self {
        Self {
            bounds: histogram.bounds,
            counts: histogram.counts,
            sum: histogram.sum,
        }
    }
}

impl TryFrom<HistogramParts> for Histogram {
    type Error = String;

    fn try_from(parts: HistogramParts) -> Result<Self, String> {
        if !valid_bounds(&parts.bounds) {
            return Err(format!(
                "histogram bounds must be finite, strictly increasing and at most \
                 {HISTOGRAM_BUCKETS_MAX}"
            ));
        }
        if parts.counts.len() != parts.bounds.len() + 1 {
            return Err(format!(
                "a histogram of {} bounds needs {} counts, got {}",
                parts.bounds.len(),
                parts.bounds.len() + 1,
                parts.counts.len()
            ));
        }
        Ok(Self {
            bounds: parts.bounds,
            counts: parts.counts,
            sum: parts.sum,
        })
    }
}

fn valid_bounds(bounds: &[f64]) -> bool {
    bounds.len() <= HISTOGRAM_BUCKETS_MAX
        && bounds.iter().all(|bound| bound.is_finite())
        && bounds.windows(2).all(|pair| pair[0] < pair[1])
}

impl Histogram {
    /// An empty histogram over these upper bounds (finite, strictly increasing; `+Inf` is
    /// implied). The bounds are the program's constants, so bad ones are a bug.
    pub fn new(bounds: &[f64]) -> Self {
        debug_assert!(valid_bounds(bounds), "histogram bounds {bounds:?}");
        Self {
            bounds: bounds.to_vec(),
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
        }
    }

    /// Counts one observation (a NaN is ignored: it belongs to no bucket).
    pub fn observe(&mut self, value: f64) {
        if value.is_nan() {
            return;
        }
        let bucket = self.bounds.partition_point(|bound| *bound < value);
        self.counts[bucket] = self.counts[bucket].saturating_add(1);
        self.sum += value;
    }

    /// The upper bounds, without `+Inf`.
    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.counts
            .iter()
            .fold(0u64, |total, count| total.saturating_add(*count))
    }

    /// The sum of the observations.
    pub const fn sum(&self) -> f64 {
        self.sum
    }

    /// `(upper bound, observations at most that bound)` per bucket, ending with `+Inf`.
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut total = 0u64;
        self.bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(&self.counts)
            .map(|(bound, count)| {
                total = total.saturating_add(*count);
                (bound, total)
            })
            .collect()
    }
}

/// Text being written, one family after another.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
    names: BTreeSet<String>,
}

/// One family being written: its samples follow its `# HELP` and `# TYPE` lines.
#[derive(Debug)]
pub struct Family<'a> {
    exposition: &'a mut Exposition,
    name: &'a str,
    kind: MetricKind,
}

impl Exposition {
    /// Nothing written yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a counter family; its name ends in `_total`.
    pub fn counter<'a>(&'a mut self, name: &'a str, help: &str) -> Family<'a> {
        debug_assert!(
            name.ends_with("_total"),
            "counter {name} must end in _total"
        );
        self.family(name, MetricKind::Counter, help)
    }

    /// Starts a gauge family.
    pub fn gauge<'a>(&'a mut self, name: &'a str, help: &str) -> Family<'a> {
        self.family(name, MetricKind::Gauge, help)
    }

    /// Starts a histogram family (its samples are `_bucket`, `_sum` and `_count`).
    pub fn histogram<'a>(&'a mut self, name: &'a str, help: &str) -> Family<'a> {
        self.family(name, MetricKind::Histogram, help)
    }

    fn family<'a>(&'a mut self, name: &'a str, kind: MetricKind, help: &str) -> Family<'a> {
        // Names are the program's constants: a bad or repeated one is a bug.
        debug_assert!(is_metric_name(name), "metric name {name:?}");
        let first = self.names.insert(name.to_owned());
        debug_assert!(first, "family {name} written twice");
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {}", kind.as_str());
        Family {
            exposition: self,
            name,
            kind,
        }
    }

    /// The text, ready to send with [`CONTENT_TYPE`].
    pub fn finish(self) -> String {
        self.text
    }
}

impl Family<'_> {
    /// A counter's or gauge's sample.
    pub fn sample(&mut self, labels: Labels<'_>, value: impl Into<Value>) -> &mut Self {
        debug_assert!(
            self.kind != MetricKind::Histogram,
            "{}: use observed",
            self.name
        );
        let value = value.into();
        self.line("", labels, None, value);
        self
    }

    /// A histogram's samples: every cumulative bucket, the sum and the count.
    pub fn observed(&mut self, labels: Labels<'_>, histogram: &Histogram) -> &mut Self {
        debug_assert!(
            self.kind == MetricKind::Histogram,
            "{}: use sample",
            self.name
        );
        for (bound, count) in histogram.cumulative() {
            let le = format_float(bound);
            self.line("_bucket", labels, Some(&le), Value::Integer(count));
        }
        self.line("_sum", labels, None, Value::Float(histogram.sum()));
        self.line("_count", labels, None, Value::Integer(histogram.count()));
        self
    }

    fn line(&mut self, suffix: &str, labels: Labels<'_>, le: Option<&str>, value: Value) {
        let text = &mut self.exposition.text;
        text.push_str(self.name);
        text.push_str(suffix);
        let pairs = labels.iter().copied().chain(le.map(|le| ("le", le)));
        let mut first = true;
        for (name, value) in pairs {
            debug_assert!(is_label_name(name), "label name {name:?}");
            text.push(if first { '{' } else { ',' });
            first = false;
            text.push_str(name);
            text.push_str("=\"");
            text.push_str(&escape_label_value(value));
            text.push('"');
        }
        if !first {
            text.push('}');
        }
        text.push(' ');
        match value {
            Value::Integer(value) => {
                let _ = write!(text, "{value}");
            }
            Value::Float(value) => text.push_str(&format_float(value)),
        }
        text.push('\n');
    }
}

/// A float as Prometheus spells it: `+Inf`, `-Inf`, `NaN`, or the shortest decimal that
/// reads back as the same number (`1`, `0.25`).
pub fn format_float(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value == f64::INFINITY {
        "+Inf".to_owned()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{value}")
    }
}

/// A label value with `\`, `"` and line feeds escaped.
pub fn escape_label_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for character in value.chars() {
        match character {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Help text with `\` and line feeds escaped (quotes stay as they are).
pub fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_metric_name(name: &str) -> bool {
    let mut characters = name.chars();
    characters
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_' || first == ':')
        && characters.all(|other| other.is_ascii_alphanumeric() || other == '_' || other == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved for Prometheus).
pub fn is_label_name(name: &str) -> bool {
    let mut characters = name.chars();
    !name.starts_with("__")
        && characters
            .next()
            .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && characters.all(|other| other.is_ascii_alphanumeric() || other == '_')
}
