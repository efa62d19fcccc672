//! The numbers a benchmark reports: latency percentiles, rates, and the CPU time processes
//! used (read from Linux's `/proc`, so the chain's own processes are measured, not guessed).

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    /// Samples they are computed from.
    pub samples: usize,
    /// The median.
    pub p50_ms: f64,
    /// The 95th percentile.
    pub p95_ms: f64,
    /// The 99th percentile.
    pub p99_ms: f64,
    /// The largest sample.
    pub max_ms: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `latencies` (`None` for no samples).
    pub fn of(latencies: &[Duration]) -> Option<Self> {
        if latencies.is_empty() {
            return None;
        }
        let mut sorted: Vec<f64> = latencies
            .iter()
            .map(|latency| latency.as_secs_f64() * 1000.0)
            .collect();
        sorted.sort_by(f64::total_cmp);
        let rank = |percent: f64| {
            // Nearest rank: the smallest sample with at least `percent` of them at or below it.
            let position = ((percent / 100.0) * sorted.len() as f64).ceil() as usize;
            sorted[position.clamp(1, sorted.len()) - 1]
        };
        Some(Self {
            samples: sorted.len(),
            p50_ms: rank(50.0),
            p95_ms: rank(95.0),
            p99_ms: rank(99.0),
            max_ms: sorted[sorted.len() - 1],
        })
    }
}

/// `count` events over `elapsed`, per second (0 for no time).
pub fn per_second(count: usize, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// Clock ticks per second of `/proc/<pid>/stat`'s times: `USER_HZ`, 100 on every Linux ABI
/// that Rust targets.
const USER_HZ: f64 = 100.0;

/// CPU time (user + system) the process `pid` and its waited-for children have used, from
/// `/proc/<pid>/stat`; `None` if it cannot be read (no such process, or not Linux).
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_of_stat(&stat)
}

/// The CPU time in one `/proc/<pid>/stat` line: fields 14 to 17 (utime, stime, cutime,
/// cstime), counted after the command name, which is in parentheses and may hold spaces.
fn cpu_of_stat(stat: &str) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name, field 3 (state) is index 0, so field n is index n - 3.
    let ticks: u64 = fields
        .get(11..15)?
        .iter()
        .map(|field| field.parse::<u64>().ok())
        .sum::<Option<u64>>()?;
    Some(Duration::from_secs_f64(ticks as f64 / USER_HZ))
}

/// The processes whose command name (`/proc/<pid>/comm`) is `name`.
pub fn processes_named(name: &str) -> Vec<u32> {
    processes_named_in(Path::new("/proc"), name)
}

fn processes_named_in(proc_root: &Path, name: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(proc_root.join(pid.to_string()).join("comm"))
                .is_ok_and(|comm| comm.trim_end() == name)
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// The CPU time a set of processes used between two readings: what [`CpuMeter::used`] gives.
#[derive(Debug, Clone)]
pub struct CpuMeter {
    start: Vec<(u32, Duration)>,
}

impl CpuMeter {
    /// Reads `pids` now.
    pub fn start(pids: &[u32]) -> Self {
        Self {
            start: pids
                .iter()
                .filter_map(|pid| Some((*pid, process_cpu(*pid)?)))
                .collect(),
        }
    }

    /// Whether any process could be read at the start.
    pub fn measures_anything(&self) -> bool {
        !self.start.is_empty()
    }

    /// CPU time used since [`CpuMeter::start`] by the processes read then (one that has
    /// exited since counts what it had used at the start, i.e. nothing more).
    pub fn used(&self) -> Duration {
        self.start
            .iter()
            .map(|(pid, at_start)| {
                process_cpu(*pid).map_or(Duration::ZERO, |now| now.saturating_sub(*at_start))
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|v| Duration::from_millis(*v)).collect()
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let latencies = ms(&(1..=100).collect::<Vec<_>>());
        let p = Percentiles::of(&latencies).expect("samples");
        assert_eq!(
            (p.samples, p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms),
            (100, 50.0, 95.0, 99.0, 100.0)
        );
        let one = Percentiles::of(&ms(&[7])).expect("a sample");
        assert_eq!((one.p50_ms, one.p99_ms, one.max_ms), (7.0, 7.0, 7.0));
        let unordered = Percentiles::of(&ms(&[30, 10, 20])).expect("samples");
        assert_eq!((unordered.p50_ms, unordered.p95_ms), (20.0, 30.0));
        assert_eq!(Percentiles::of(&[]), None);
    }

    #[test]
    fn rates_handle_no_time() {
        assert_eq!(per_second(10, Duration::from_millis(500)), 20.0);
        assert_eq!(per_second(10, Duration::ZERO), 0.0);
    }

    #[test]
    fn cpu_time_is_read_after_the_command_name() {
        // A command name with spaces and parentheses, then state, ppid, ... utime=250,
        // stime=50, cutime=7, cstime=3 (fields 14 to 17).
        let stat = "4242 (work (er) d) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 1 0";
        assert_eq!(cpu_of_stat(stat), Some(Duration::from_millis(3_100)));
        assert_eq!(cpu_of_stat("4242 (short) S 1"), None);
        assert_eq!(cpu_of_stat("no name here"), None);
    }

    #[test]
    fn this_process_is_measured_and_found_by_name() {
        let pid = std::process::id();
        assert!(process_cpu(pid).is_some());
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).expect("comm");
        assert!(processes_named(comm.trim_end()).contains(&pid));
        assert!(processes_named("no-such-process-name-xyz").is_empty());
        let meter = CpuMeter::start(&[pid]);
        assert!(meter.measures_anything());
        // Burn a little CPU so the reading can move (it is in 10 ms ticks).
        let mut x = 0u64;
        let deadline = std::time::Instant::now() + Duration::from_millis(60);
        while std::time::Instant::now() < deadline {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        assert!(x != 1);
        assert!(meter.used() > Duration::ZERO);
    }
}
