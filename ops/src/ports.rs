//! Loopback ports for the services `ops` starts (the Workers' processes, their inspectors, the
//! IPFS node, the Pinata stand-in, anvil).
//!
//! Asking the OS for a free port (binding port 0) hands out one from the ephemeral range, the
//! range it also draws from for the local end of every outgoing connection. A port chosen that
//! way and released until the service binds it can be taken in between by any connection the
//! machine opens; a CI run failed so, `wrangler dev` refusing a port chosen a moment before
//! with "Address already in use". Ports below the ephemeral range are handed out by nobody but
//! whoever names them, so [`reserve`] takes them from there, each only once per process, and
//! checks that nothing listens on it.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result, bail};

/// The lowest port handed out: above the registered services most machines run.
const FIRST_PORT: u32 = 20_000;

/// The ephemeral range's start where the system does not say (macOS and the IANA default).
const DEFAULT_EPHEMERAL_START: u32 = 49_152;

/// How far past [`FIRST_PORT`] the next port is, counted from where this process started.
static NEXT_OFFSET: AtomicU32 = AtomicU32::new(0);

/// `count` distinct loopback ports nothing listens on, below the ephemeral range and not handed
/// out before by this process.
pub fn reserve(count: usize) -> Result<Vec<u16>> {
    let span = ephemeral_start().saturating_sub(FIRST_PORT);
    if span < 1_000 {
        return ephemeral_ports(count);
    }
    // Processes start at different places in the span, so two `ops` processes starting
    // networks at once rarely try the same ports (and the bind check catches it when they do).
    let start = std::process::id().wrapping_mul(7_919) % span;
    reserve_in(&NEXT_OFFSET, FIRST_PORT, start, span, count)
}

/// `count` ports nothing listens on among the `span` ports from `first` on, tried in turn from
/// `start` past `first` (wrapping around) plus however far `cursor` has got.
fn reserve_in(
    cursor: &AtomicU32,
    first: u32,
    start: u32,
    span: u32,
    count: usize,
) -> Result<Vec<u16>> {
    let mut ports = Vec::with_capacity(count);
    for _ in 0..span {
        if ports.len() == count {
            break;
        }
        let offset = cursor.fetch_add(1, Ordering::Relaxed);
        let port = first + (start + offset) % span;
        let port = u16::try_from(port).expect("below the ephemeral range, so under 65536");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            ports.push(port);
        }
    }
    if ports.len() < count {
        bail!("fewer than {count} free loopback ports among the {span} from {first}");
    }
    Ok(ports)
}

/// One port, as [`reserve`] chooses it.
pub fn reserve_one() -> Result<u16> {
    Ok(reserve(1)?[0])
}

/// The first port of the system's ephemeral range (Linux says in `/proc`).
fn ephemeral_start() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(DEFAULT_EPHEMERAL_START)
}

/// Ports the OS picks, for a system whose ephemeral range leaves no room below it. They are
/// held together while choosing, so they differ.
fn ephemeral_ports(count: usize) -> Result<Vec<u16>> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").context("finding a free port"))
        .collect::<Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|listener| Ok(listener.local_addr()?.port()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_free_and_below_the_ephemeral_range() {
        let mut ports = reserve(50).expect("ports");
        ports.extend(reserve(50).expect("more ports"));
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 100, "no port is handed out twice");
        for port in ports {
            assert!(u32::from(port) >= FIRST_PORT);
            assert!(u32::from(port) < ephemeral_start());
            TcpListener::bind(("127.0.0.1", port)).expect("nothing listens on a reserved port");
        }
    }

    #[test]
    fn a_port_something_listens_on_is_skipped() {
        let taken = reserve_one().expect("a port");
        let _listener = TcpListener::bind(("127.0.0.1", taken)).expect("binds");
        let ports = reserve_in(&AtomicU32::new(0), taken.into(), 0, 100, 1).expect("a port");
        assert_ne!(ports, [taken]);
    }

    #[test]
    fn too_few_free_ports_is_an_error() {
        let taken = reserve_one().expect("a port");
        let _listener = TcpListener::bind(("127.0.0.1", taken)).expect("binds");
        let error = reserve_in(&AtomicU32::new(0), taken.into(), 0, 1, 1).expect_err("none free");
        assert!(error.to_string().contains("fewer than 1 free"), "{error}");
    }
}
