//! `tcpecho --port N [--max M]`: a TCP echo server (RFC 862) on port N.
//!
//! One job thread serves up to M connections at once (default [`DEFAULT_MAX`]),
//! multiplexed: each round moves what it can on every connection, then parks until
//! network activity. It listens with a backlog of M, so M more clients can connect and
//! wait while M are served; a SYN beyond that is dropped and the client retries. Every
//! byte that arrives goes back to its sender; when the peer closes its half, the echo
//! finishes and the connection is closed. It reports ready once listening (for
//! `start`) and runs until the job is cancelled (status 0 then).

use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use kiln_init::net::{MAX_BACKLOG, Net, NetError, SocketId, TcpState};
use kiln_init::program::{Context, Program, Status};

use crate::cli::{self, Error, STATUS_OK};

pub const PROGRAM: Program = Program {
    name: "tcpecho",
    about: "a TCP echo server: sends back every byte it receives",
    usage: "usage: tcpecho --port N [--max M]\n  echoes every TCP connection to port N until cancelled,\n  serving up to M at once (default 32, at most 128) with M more waiting",
    main,
};

/// Connections served at once unless `--max` says otherwise.
pub const DEFAULT_MAX: usize = 32;
/// Bytes moved per socket per round.
const CHUNK: usize = 2048;
/// How long the server parks when nothing happened (network activity wakes it sooner).
const IDLE_WAIT: Duration = Duration::from_millis(200);

#[inline(never)]
pub fn main(ctx: &mut Context<'_>) -> Status {
    cli::run(ctx, &PROGRAM, body)
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    port: u16,
    max: usize,
}

/// Parses `--port N [--max M]`, in either order.
fn parse_options(args: &[String]) -> cli::Result<Options> {
    let mut port = None;
    let mut max = DEFAULT_MAX;
    let mut rest = args;
    while let [flag, tail @ ..] = rest {
        let Some((value, tail)) = tail.split_first() else {
            return Err(match flag.as_str() {
                "--port" => Error::missing("missing port after '--port'"),
                "--max" => Error::missing("missing count after '--max'"),
                _ => Error::usage("unexpected argument", flag),
            });
        };
        match flag.as_str() {
            "--port" => port = Some(port_number(value)?),
            "--max" => max = max_connections(value)?,
            _ => return Err(Error::usage("unexpected argument", flag)),
        }
        rest = tail;
    }
    let port = port.ok_or_else(|| Error::missing("missing '--port N'"))?;
    Ok(Options { port, max })
}

/// A connection count 1 to [`MAX_BACKLOG`], digits only.
fn max_connections(text: &str) -> cli::Result<usize> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<usize>() {
        Ok(max) if digits && (1..=MAX_BACKLOG).contains(&max) => Ok(max),
        _ => Err(Error::usage("bad connection count (1 to 128)", text)),
    }
}

/// A port number 1-65535, digits only.
pub fn port_number(text: &str) -> cli::Result<u16> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<u16>() {
        Ok(port) if digits && port != 0 => Ok(port),
        _ => Err(Error::usage("bad port", text)),
    }
}

/// One listening-or-connected socket and the bytes it still has to echo.
struct Slot {
    id: SocketId,
    pending: Vec<u8>,
    /// The peer closed its half: finish echoing, then close.
    peer_done: bool,
}

fn body(ctx: &mut Context<'_>) -> cli::Result<Status> {
    let options = parse_options(ctx.args())?;
    let platform = ctx.platform;
    let net = platform
        .net()
        .ok_or_else(|| Error::failed("this machine has no network"))?;
    let port = options.port;
    let listener = net
        .tcp_listen(port, options.max)
        .map_err(|error| Error::failed(format_args!("port {port}: {error}")))?;
    let mut slots: Vec<Slot> = Vec::with_capacity(options.max);
    let result = serve(ctx, net, listener, options.max, &mut slots);
    for slot in &slots {
        net.tcp_release(slot.id);
    }
    net.tcp_release(listener);
    result
}

fn serve(
    ctx: &Context<'_>,
    net: &dyn Net,
    listener: SocketId,
    max: usize,
    slots: &mut Vec<Slot>,
) -> cli::Result<Status> {
    ctx.ready();
    let mut buf = [0u8; CHUNK];
    loop {
        if ctx.is_cancelled() {
            return Ok(STATUS_OK);
        }
        let mut progress = false;
        while slots.len() < max {
            match net.tcp_accept(listener) {
                Ok(Some(id)) => {
                    slots.push(Slot {
                        id,
                        pending: Vec::new(),
                        peer_done: false,
                    });
                    progress = true;
                }
                Ok(None) => break,
                Err(error) => return Err(Error::failed(format_args!("accept: {error}"))),
            }
        }
        slots.retain_mut(|slot| match step(net, slot, &mut buf) {
            Step::Idle => true,
            Step::Moved => {
                progress = true;
                true
            }
            Step::Finished => {
                net.tcp_release(slot.id);
                progress = true;
                false
            }
        });
        if !progress {
            net.wait(ctx.now() + IDLE_WAIT);
        }
    }
}

/// What one round did for a slot.
enum Step {
    Idle,
    Moved,
    /// The connection is over: release the socket.
    Finished,
}

fn step(net: &dyn Net, slot: &mut Slot, buf: &mut [u8]) -> Step {
    let state = match net.tcp_state(slot.id) {
        Ok(state) => state,
        Err(_) => return Step::Finished,
    };
    match state {
        TcpState::Listen | TcpState::SynReceived => return Step::Idle,
        TcpState::Established | TcpState::CloseWait => {}
        // Closed (reset), or closing states we never enter ourselves before release.
        _ => return Step::Finished,
    }
    let mut moved = false;
    if slot.pending.is_empty() && !slot.peer_done {
        match net.tcp_recv(slot.id, buf) {
            Ok(0) => {}
            Ok(n) => {
                slot.pending.extend_from_slice(&buf[..n]);
                moved = true;
            }
            Err(NetError::Closed) => {
                slot.peer_done = true;
                moved = true;
            }
            Err(_) => return Step::Finished,
        }
    }
    if !slot.pending.is_empty() {
        match net.tcp_send(slot.id, &slot.pending) {
            Ok(0) => {}
            Ok(n) => {
                slot.pending.drain(..n);
                moved = true;
            }
            Err(_) => return Step::Finished,
        }
    }
    if slot.peer_done && slot.pending.is_empty() {
        // Our FIN goes after the echoed bytes; the released socket finishes closing on
        // its own while this slot listens again.
        let _ = net.tcp_close(slot.id);
        return Step::Finished;
    }
    if moved { Step::Moved } else { Step::Idle }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run;

    #[test]
    fn needs_a_port() {
        for args in [
            &[][..],
            &["--port"],
            &["--port", "0"],
            &["--port", "+7"],
            &["--port", "70000"],
            &["-p", "7"],
            &["--port", "7", "x"],
            &["--port", "7", "--max"],
            &["--port", "7", "--max", "0"],
            &["--port", "7", "--max", "129"],
            &["--port", "7", "--max", "-1"],
            &["--max", "4"],
        ] {
            let outcome = run(PROGRAM, args);
            assert_eq!(outcome.status, 2, "{args:?}");
            assert!(
                outcome
                    .stderr
                    .contains("usage: tcpecho --port N [--max M]\n"),
                "{}",
                outcome.stderr
            );
        }
        assert_eq!(port_number("7").unwrap(), 7);
        let args = |list: &[&str]| list.iter().map(|a| String::from(*a)).collect::<Vec<_>>();
        assert_eq!(
            parse_options(&args(&["--port", "7"])).unwrap(),
            Options {
                port: 7,
                max: DEFAULT_MAX
            }
        );
        assert_eq!(
            parse_options(&args(&["--max", "128", "--port", "9"])).unwrap(),
            Options { port: 9, max: 128 }
        );
    }

    /// One fake socket: what the peer sent, what we sent, and how far it got.
    struct FakeSocket {
        state: TcpState,
        inbox: Vec<u8>,
        outbox: Vec<u8>,
        /// Bytes the send buffer takes before it is full.
        room: usize,
        closed_by_us: bool,
    }

    /// A stack with one socket (id 1), driven by the test.
    struct FakeNet {
        socket: spin::Mutex<FakeSocket>,
    }

    impl FakeNet {
        fn new(state: TcpState, inbox: &[u8], room: usize) -> Self {
            FakeNet {
                socket: spin::Mutex::new(FakeSocket {
                    state,
                    inbox: inbox.to_vec(),
                    outbox: Vec::new(),
                    room,
                    closed_by_us: false,
                }),
            }
        }
    }

    impl Net for FakeNet {
        fn up(&self, _: kiln_init::net::IfConfig) -> kiln_init::net::Result<()> {
            Ok(())
        }
        fn info(&self) -> kiln_init::net::NetInfo {
            unimplemented!()
        }
        fn tcp_listen(&self, _: u16, _: usize) -> kiln_init::net::Result<SocketId> {
            Ok(1)
        }
        fn tcp_accept(&self, _: SocketId) -> kiln_init::net::Result<Option<SocketId>> {
            Ok(None)
        }
        fn tcp_connect(&self, _: core::net::Ipv4Addr, _: u16) -> kiln_init::net::Result<SocketId> {
            Err(NetError::Down)
        }
        fn tcp_state(&self, _: SocketId) -> kiln_init::net::Result<TcpState> {
            Ok(self.socket.lock().state)
        }
        fn tcp_send(&self, _: SocketId, bytes: &[u8]) -> kiln_init::net::Result<usize> {
            let mut socket = self.socket.lock();
            let n = bytes.len().min(socket.room);
            socket.room -= n;
            socket.outbox.extend_from_slice(&bytes[..n]);
            Ok(n)
        }
        fn tcp_recv(&self, _: SocketId, buf: &mut [u8]) -> kiln_init::net::Result<usize> {
            let mut socket = self.socket.lock();
            if socket.inbox.is_empty() {
                return match socket.state {
                    TcpState::CloseWait => Err(NetError::Closed),
                    _ => Ok(0),
                };
            }
            let n = buf.len().min(socket.inbox.len());
            buf[..n].copy_from_slice(&socket.inbox[..n]);
            socket.inbox.drain(..n);
            Ok(n)
        }
        fn tcp_unsent(&self, _: SocketId) -> kiln_init::net::Result<usize> {
            Ok(0)
        }
        fn tcp_close(&self, _: SocketId) -> kiln_init::net::Result<()> {
            self.socket.lock().closed_by_us = true;
            Ok(())
        }
        fn tcp_release(&self, _: SocketId) {}
        fn wait(&self, _: core::time::Duration) {}
    }

    fn slot() -> Slot {
        Slot {
            id: 1,
            pending: Vec::new(),
            peer_done: false,
        }
    }

    #[test]
    fn echoes_then_closes_after_the_peer_does() {
        let net = FakeNet::new(TcpState::Listen, b"", 100);
        let mut slot = slot();
        let mut buf = [0u8; 4];
        assert!(matches!(step(&net, &mut slot, &mut buf), Step::Idle));
        {
            let mut socket = net.socket.lock();
            socket.state = TcpState::Established;
            socket.inbox = b"hello".to_vec();
        }
        // Four bytes a round (the buffer), then the fifth.
        assert!(matches!(step(&net, &mut slot, &mut buf), Step::Moved));
        assert!(matches!(step(&net, &mut slot, &mut buf), Step::Moved));
        assert!(matches!(step(&net, &mut slot, &mut buf), Step::Idle));
        assert_eq!(net.socket.lock().outbox, b"hello");
        net.socket.lock().state = TcpState::CloseWait;
        assert!(matches!(step(&net, &mut slot, &mut buf), Step::Finished));
        assert!(net.socket.lock().closed_by_us);
    }

    #[test]
    fn a_full_send_buffer_keeps_the_rest_for_later() {
        let net = FakeNet::new(TcpState::CloseWait, b"abcdef", 2);
        let mut slot = slot();
        let mut buf = [0u8; 16];
        assert!(matches!(step(&net, &mut slot, &mut buf), Step::Moved));
        assert_eq!(slot.pending, b"cdef");
        // No room: nothing moves, nothing is lost, the connection stays.
        assert!(matches!(step(&net, &mut slot, &mut buf), Step::Idle));
        net.socket.lock().room = 10;
        assert!(matches!(step(&net, &mut slot, &mut buf), Step::Moved));
        assert_eq!(net.socket.lock().outbox, b"abcdef");
        // The peer is done and everything went back: close.
        assert!(matches!(step(&net, &mut slot, &mut buf), Step::Finished));
    }

    #[test]
    fn a_reset_connection_is_finished() {
        let net = FakeNet::new(TcpState::Closed, b"", 10);
        assert!(matches!(
            step(&net, &mut slot(), &mut [0u8; 4]),
            Step::Finished
        ));
    }

    #[test]
    fn without_a_network_it_fails() {
        let outcome = run(PROGRAM, &["--port", "7"]);
        assert_eq!(outcome.status, 1);
        assert_eq!(outcome.stderr, "tcpecho: this machine has no network\n");
        assert!(!outcome.ready);
    }
}
