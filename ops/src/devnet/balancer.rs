//! The local network's public port when it runs several gateways: a TCP balancer that hands
//! each client connection to the next gateway process in turn.
//!
//! In production the stateless front door runs on as many edge isolates as there are
//! requests. Locally one workerd process runs its Workers on one thread, so one gateway
//! process finds every sender (recovered or checked) on one core while the other waits; a
//! second gateway process lets the front door use both, as more isolates would. The balancer
//! only copies bytes: it reads no request, so every answer is a gateway's own.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use anyhow::{Context, Result, ensure};

/// Bytes a copying thread moves per read.
const COPY_BUFFER_BYTES: usize = 64 * 1024;

/// A running balancer; dropping it stops accepting (connections already handed on finish).
#[derive(Debug)]
pub struct Balancer {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    handed: Arc<Vec<AtomicU64>>,
    thread: Option<JoinHandle<()>>,
}

impl Balancer {
    /// Listens on loopback `port` and hands connections to the gateways on `gateway_ports`
    /// in turn.
    pub fn start(port: u16, gateway_ports: Vec<u16>) -> Result<Self> {
        ensure!(!gateway_ports.is_empty(), "a balancer needs a gateway");
        let listener = TcpListener::bind(("127.0.0.1", port))
            .with_context(|| format!("listening on 127.0.0.1:{port}"))?;
        let address = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let handed: Arc<Vec<AtomicU64>> =
            Arc::new(gateway_ports.iter().map(|_| AtomicU64::new(0)).collect());
        let thread = {
            let stop = stop.clone();
            let handed = handed.clone();
            std::thread::spawn(move || accept_loop(&listener, &gateway_ports, &stop, &handed))
        };
        Ok(Self {
            address,
            stop,
            handed,
            thread: Some(thread),
        })
    }

    /// How many connections each gateway was handed, in the order of its port.
    pub fn connections_handed(&self) -> Vec<u64> {
        self.handed
            .iter()
            .map(|count| count.load(Ordering::Relaxed))
            .collect()
    }

    /// Stops accepting and frees the port.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // The accept loop blocks in accept: one connection wakes it to see the flag.
        let _ = TcpStream::connect(self.address);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(
    listener: &TcpListener,
    gateway_ports: &[u16],
    stop: &AtomicBool,
    handed: &[AtomicU64],
) {
    let mut next = 0;
    for client in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let index = next % gateway_ports.len();
        next += 1;
        handed[index].fetch_add(1, Ordering::Relaxed);
        let port = gateway_ports[index];
        // A gateway that is down (a test kills the network) closes the client's connection,
        // as a refused connection to it would.
        std::thread::spawn(move || {
            if let Ok(gateway) = TcpStream::connect(("127.0.0.1", port)) {
                let _ = relay(client, gateway);
            }
        });
    }
}

/// Copies both ways until each side has finished sending, passing each end of stream on.
fn relay(client: TcpStream, gateway: TcpStream) -> io::Result<()> {
    client.set_nodelay(true)?;
    gateway.set_nodelay(true)?;
    let (client_reader, gateway_writer) = (client.try_clone()?, gateway.try_clone()?);
    let upstream = std::thread::spawn(move || copy_then_close(client_reader, gateway_writer));
    copy_then_close(gateway, client);
    let _ = upstream.join();
    Ok(())
}

fn copy_then_close(mut from: TcpStream, mut to: TcpStream) {
    let mut buffer = vec![0; COPY_BUFFER_BYTES];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => {
                if to.write_all(&buffer[..read]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on a free port that prefixes every answer with its name.
    fn named_echo(name: &'static [u8]) -> u16 {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("a port");
        let port = listener.local_addr().expect("an address").port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut stream = stream;
                    let mut request = Vec::new();
                    let _ = stream.read_to_end(&mut request);
                    let _ = stream.write_all(name);
                    let _ = stream.write_all(&request);
                });
            }
        });
        port
    }

    fn ask(port: u16, request: &[u8]) -> Vec<u8> {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connects");
        stream.write_all(request).expect("sends");
        stream.shutdown(Shutdown::Write).expect("ends its request");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).expect("reads");
        answer
    }

    #[test]
    fn connections_go_to_each_gateway_in_turn_and_bytes_pass_both_ways_whole() {
        let gateways = vec![named_echo(b"a:"), named_echo(b"b:")];
        let port = crate::ports::reserve_one().expect("a port");
        let mut balancer = Balancer::start(port, gateways).expect("starts");
        let large = vec![7u8; 3 * COPY_BUFFER_BYTES + 5];
        let answers: Vec<Vec<u8>> = (0..4).map(|_| ask(port, &large)).collect();
        for (index, answer) in answers.iter().enumerate() {
            let name: &[u8] = if index % 2 == 0 { b"a:" } else { b"b:" };
            assert_eq!(&answer[..2], name, "connection {index}");
            assert_eq!(&answer[2..], &large[..], "connection {index}");
        }
        assert_eq!(balancer.connections_handed(), vec![2, 2]);
        balancer.stop();
        // Stopped, it frees the port for the next network's balancer.
        let mut again = Balancer::start(port, vec![named_echo(b"c:")]).expect("rebinds");
        assert_eq!(ask(port, b"x"), b"c:x");
        again.stop();
    }
}
