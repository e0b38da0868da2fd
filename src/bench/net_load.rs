//! TCP load against an echo server behind QEMU's user network, from the host: many
//! short connections in a row, the same from parallel clients, and one long transfer.
//!
//! The same code measures kiln's `tcpecho` and the peer's BusyBox `nc -ll -e cat`.
//! A connection is: connect, write the payload, close the writing half, read until the
//! server closes, and check that every byte came back. QEMU's user network accepts on
//! the host's side before the guest has seen the SYN, and resets some connections of a
//! burst there (tests/tests/net.rs shows none of those reach the guest); such a
//! connection is tried again after a short back-off and counted, so a figure says how
//! many retries it took.
//!
//! QEMU's user network hands the guest each forwarded connection from 10.0.2.2 and the
//! host client's own source port, whatever host port it came in on. Clients of
//! different forwarded ports can share a source port on the host (the kernel picks
//! ephemeral ports per destination), and then two connections are one in the guest:
//! the second stalls or is reset. So the clients of several forwarded ports bind source
//! ports of their own ([`SourcePorts`]), none used twice in a run.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

/// How long one connect, read or write may block.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times one connection is tried before the figure fails.
const TRIES: usize = 20;
/// The first back-off after a host-side reset; it doubles with each try, up to the last.
const FIRST_BACK_OFF: Duration = Duration::from_millis(20);
const LAST_BACK_OFF: Duration = Duration::from_millis(640);
/// Bytes written and read at once in the long transfer.
const TRANSFER_CHUNK: usize = 64 * 1024;
/// The source ports [`SourcePorts`] hands out: below Linux's ephemeral range (32768-).
const SOURCE_PORTS: std::ops::RangeInclusive<u32> = 10_000..=32_000;

/// Source ports for connections to several forwarded ports, each used once.
pub struct SourcePorts {
    next: AtomicU32,
}

impl SourcePorts {
    pub fn new() -> SourcePorts {
        SourcePorts {
            next: AtomicU32::new(*SOURCE_PORTS.start()),
        }
    }

    /// A socket bound to the next source port nothing else on the host holds.
    fn bound_socket(&self) -> std::io::Result<Socket> {
        loop {
            let port = self.next.fetch_add(1, Ordering::Relaxed);
            if !SOURCE_PORTS.contains(&port) {
                return Err(std::io::Error::other(format!(
                    "no source port left in {SOURCE_PORTS:?}"
                )));
            }
            let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
            let source = SocketAddr::from(([127, 0, 0, 1], port as u16));
            match socket.bind(&source.into()) {
                Ok(()) => return Ok(socket),
                Err(e) if e.kind() == ErrorKind::AddrInUse => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// A connection to `address`, from a port of `source` if given (else the kernel's pick).
fn connect(address: SocketAddr, source: Option<&SourcePorts>) -> std::io::Result<TcpStream> {
    match source {
        None => TcpStream::connect_timeout(&address, IO_TIMEOUT),
        Some(ports) => {
            let socket = ports.bound_socket()?;
            socket.connect_timeout(&address.into(), IO_TIMEOUT)?;
            Ok(socket.into())
        }
    }
}

/// Connections per second, and how many tries past the first they took.
#[derive(Clone, Copy, Debug)]
pub struct Rate {
    pub connections: usize,
    pub seconds: f64,
    pub retries: usize,
}

impl Rate {
    pub fn per_second(&self) -> f64 {
        self.connections as f64 / self.seconds
    }
}

/// One connection that echoes `payload`; `Err` for any failure, with its kind.
fn echo_once(
    address: SocketAddr,
    payload: &[u8],
    source: Option<&SourcePorts>,
) -> std::io::Result<()> {
    let mut stream = connect(address, source)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.write_all(payload)?;
    stream.shutdown(Shutdown::Write)?;
    let mut back = Vec::with_capacity(payload.len());
    stream.read_to_end(&mut back)?;
    if back != payload {
        // Nothing at all back is how a host-side reset can look; a wrong echo is not.
        let kind = if back.is_empty() {
            ErrorKind::UnexpectedEof
        } else {
            ErrorKind::InvalidData
        };
        return Err(std::io::Error::new(
            kind,
            format!("{} of {} bytes came back", back.len(), payload.len()),
        ));
    }
    Ok(())
}

/// [`echo_once`], tried again after a reset or an early end; adds each retry to `retries`.
fn echo_with_retries(
    address: SocketAddr,
    payload: &[u8],
    source: Option<&SourcePorts>,
    retries: &AtomicUsize,
) -> Result<(), String> {
    let mut back_off = FIRST_BACK_OFF;
    for attempt in 1..=TRIES {
        match echo_once(address, payload, source) {
            Ok(()) => return Ok(()),
            Err(e)
                if attempt < TRIES
                    && matches!(
                        e.kind(),
                        ErrorKind::ConnectionReset
                            | ErrorKind::ConnectionAborted
                            | ErrorKind::UnexpectedEof
                            | ErrorKind::BrokenPipe
                    ) =>
            {
                retries.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(back_off);
                back_off = (back_off * 2).min(LAST_BACK_OFF);
            }
            Err(e) => return Err(format!("connection to {address}: {e} (try {attempt})")),
        }
    }
    unreachable!("the last try returns")
}

/// Waits until the server echoes (QEMU accepts before the guest listens).
pub fn await_server(address: SocketAddr, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        match echo_once(address, b"ready?", None) {
            Ok(()) => return Ok(()),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("no echo from {address} within {timeout:?}: {e}")),
        }
    }
}

/// `count` connections in a row, each echoing `payload`.
pub fn sequential(address: SocketAddr, count: usize, payload: &[u8]) -> Result<Rate, String> {
    parallel(address, 1, count, payload)
}

/// `clients` threads started together, each making `each` connections in a row, all
/// to `address` (from source ports the kernel picks: one destination, none shared).
pub fn parallel(
    address: SocketAddr,
    clients: usize,
    each: usize,
    payload: &[u8],
) -> Result<Rate, String> {
    clients_to(&vec![address; clients], each, payload, None)
}

/// One client thread per address, started together, each making `each` connections in
/// a row to its own address, from source ports of `source` (see the module docs).
pub fn parallel_to(
    addresses: &[SocketAddr],
    each: usize,
    payload: &[u8],
    source: &SourcePorts,
) -> Result<Rate, String> {
    clients_to(addresses, each, payload, Some(source))
}

fn clients_to(
    addresses: &[SocketAddr],
    each: usize,
    payload: &[u8],
    source: Option<&SourcePorts>,
) -> Result<Rate, String> {
    let clients = addresses.len();
    let retries = AtomicUsize::new(0);
    let start = std::sync::Barrier::new(clients + 1);
    let (began, results) = std::thread::scope(|scope| {
        let workers: Vec<_> = addresses
            .iter()
            .map(|&address| {
                let (start, retries) = (&start, &retries);
                scope.spawn(move || {
                    start.wait();
                    (0..each).try_for_each(|_| echo_with_retries(address, payload, source, retries))
                })
            })
            .collect();
        start.wait();
        let began = Instant::now();
        let results: Vec<_> = workers
            .into_iter()
            .map(|w| w.join().expect("a client thread panicked"))
            .collect();
        (began, results)
    });
    let seconds = began.elapsed().as_secs_f64();
    results.into_iter().collect::<Result<(), String>>()?;
    Ok(Rate {
        connections: clients * each,
        seconds,
        retries: retries.load(Ordering::Relaxed),
    })
}

/// One connection that echoes `data` while it is being written; returns the seconds
/// from connect to the last byte back.
pub fn transfer(address: SocketAddr, data: &[u8]) -> Result<f64, String> {
    let fail = |what: &str, e: std::io::Error| format!("transfer to {address}: {what}: {e}");
    let began = Instant::now();
    let stream = connect(address, None).map_err(|e| fail("connect", e))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| fail("timeouts", e))?;
    let mut writer = stream.try_clone().map_err(|e| fail("clone", e))?;
    let mut reader = stream;
    let back = std::thread::scope(|scope| {
        let sender = scope.spawn(move || -> std::io::Result<()> {
            for chunk in data.chunks(TRANSFER_CHUNK) {
                writer.write_all(chunk)?;
            }
            writer.shutdown(Shutdown::Write)
        });
        let mut back = Vec::with_capacity(data.len());
        let mut chunk = vec![0u8; TRANSFER_CHUNK];
        let read = loop {
            match reader.read(&mut chunk) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    back.extend_from_slice(&chunk[..n]);
                    if back.len() >= data.len() {
                        break Ok(());
                    }
                }
                Err(e) => break Err(e),
            }
        };
        let sent = sender.join().expect("the sender thread panicked");
        sent.map_err(|e| fail("write", e))?;
        read.map_err(|e| fail("read", e))?;
        Ok::<_, String>(back)
    })?;
    let seconds = began.elapsed().as_secs_f64();
    if back != data {
        let first_difference = back.iter().zip(data).position(|(a, b)| a != b);
        return Err(format!(
            "transfer to {address}: {} of {} bytes came back, first difference at {first_difference:?}",
            back.len(),
            data.len()
        ));
    }
    Ok(seconds)
}

/// The host's count of connections its listening sockets had no room for
/// (`TcpExtListenOverflows` in `/proc/net/netstat`), if it can be read.
pub fn host_listen_overflows() -> Option<u64> {
    listen_overflows_in(&std::fs::read_to_string("/proc/net/netstat").ok()?)
}

/// `ListenOverflows` from the text of `/proc/net/netstat`: a `TcpExt:` line of names,
/// then one of values.
fn listen_overflows_in(netstat: &str) -> Option<u64> {
    let mut tcp_ext = netstat
        .lines()
        .filter_map(|line| line.strip_prefix("TcpExt:"));
    let (names, values) = (tcp_ext.next()?, tcp_ext.next()?);
    let at = names
        .split_whitespace()
        .position(|name| name == "ListenOverflows")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A host echo server on loopback: one thread per connection.
    fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut reader = stream.try_clone().unwrap();
                    let mut writer = stream;
                    let _ = std::io::copy(&mut reader, &mut writer);
                });
            }
        });
        address
    }

    /// A server that sends back one byte less than it got, then closes.
    fn short_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut got = Vec::new();
                let _ = stream.read_to_end(&mut got);
                let _ = stream.write_all(&got[..got.len().saturating_sub(1)]);
            }
        });
        address
    }

    #[test]
    fn counts_every_connection_of_every_client() {
        let address = echo_server();
        let rate = parallel(address, 4, 5, b"hello").unwrap();
        assert_eq!(rate.connections, 20);
        assert_eq!(rate.retries, 0);
        assert!(rate.per_second() > 0.0);
        assert_eq!(sequential(address, 3, b"x").unwrap().connections, 3);
    }

    #[test]
    fn each_client_can_have_its_own_address() {
        let addresses = [echo_server(), echo_server(), echo_server()];
        let source = SourcePorts::new();
        let rate = parallel_to(&addresses, 4, b"hi", &source).unwrap();
        assert_eq!(rate.connections, 12);
        // Each connection took a source port of its own.
        assert!(source.next.load(Ordering::Relaxed) >= *SOURCE_PORTS.start() + 12);
    }

    #[test]
    fn reads_listen_overflows_from_netstat() {
        let text = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 0 195 196\nIpExt: InNoRoutes\nIpExt: 3\n";
        assert_eq!(listen_overflows_in(text), Some(195));
        assert_eq!(listen_overflows_in("IpExt: A\nIpExt: 1\n"), None);
    }

    #[test]
    fn a_transfer_checks_every_byte() {
        let address = echo_server();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        assert!(transfer(address, &data).unwrap() > 0.0);
        let error = transfer(short_server(), &data).unwrap_err();
        assert!(error.contains("299999 of 300000 bytes"), "{error}");
    }

    #[test]
    fn a_short_echo_is_reported_not_retried() {
        let error = sequential(short_server(), 1, b"abc").unwrap_err();
        assert!(error.contains("2 of 3 bytes came back"), "{error}");
        assert!(error.contains("(try 1)"), "{error}");
    }
}
