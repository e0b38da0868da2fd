//! The network as programs see it: a small trait board implements over its TCP/IP
//! stack (virtio-net + smoltcp), reached through [`Platform::net`](crate::platform::Platform::net).
//!
//! Every call is non-blocking: `tcp_recv` returns `Ok(0)` when nothing has arrived yet and
//! `tcp_send` `Ok(0)` when the send buffer is full. A program that wants to block calls
//! [`Net::wait`], which parks until the network thread has done something (a packet came
//! or went, a socket changed state), the deadline passes, or the job is cancelled (a
//! cancel unparks the job's thread). [`TcpStream`] wraps that into blocking reads and
//! writes that honour cancellation and a timeout.
//!
//! Sockets are numbered ([`SocketId`]) and owned by the program that opened them; it must
//! [`Net::tcp_release`] every socket before it exits (BusyBox NOFORK rules: no state
//! outlives a run). [`TcpStream`] releases its socket when dropped.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::Ipv4Addr;
use core::time::Duration;

use crate::program::{Context, IoError};

/// A socket of the network stack, as numbered by it (never reused while the image runs).
pub type SocketId = u32;

/// What went wrong in a network call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetError {
    /// The image has no network device.
    NoDevice,
    /// The interface has no address yet (`net up` first).
    Down,
    /// No such socket (already released, or never opened).
    NoSuchSocket(SocketId),
    /// The port is 0 or already listened on by a socket of this program.
    BadPort(u16),
    /// The connection is closed (by the peer, a reset, or a timeout): no more data.
    Closed,
    /// The stack refused the request (no memory, bad address, bad state); says why.
    Refused(String),
    /// The job was cancelled while blocked.
    Interrupted,
    /// The deadline passed first.
    TimedOut,
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::NoDevice => f.write_str("no network device (boot with --net user,...)"),
            NetError::Down => f.write_str("the interface is down (run 'net up' first)"),
            NetError::NoSuchSocket(id) => write!(f, "no socket {id}"),
            NetError::BadPort(port) => write!(f, "bad port {port}"),
            NetError::Closed => f.write_str("connection closed"),
            NetError::Refused(why) => write!(f, "refused: {why}"),
            NetError::Interrupted => f.write_str("interrupted"),
            NetError::TimedOut => f.write_str("timed out"),
        }
    }
}

impl core::error::Error for NetError {}

impl From<IoError> for NetError {
    fn from(_: IoError) -> Self {
        NetError::Interrupted
    }
}

/// The result of a network call.
pub type Result<T> = core::result::Result<T, NetError>;

/// An IPv4 interface configuration: `ADDRESS/PREFIX_LEN` and an optional default gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfConfig {
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
}

impl IfConfig {
    /// What suits QEMU's user network: 10.0.2.15/24, gateway 10.0.2.2.
    pub const QEMU_USER: IfConfig = IfConfig {
        address: Ipv4Addr::new(10, 0, 2, 15),
        prefix_len: 24,
        gateway: Some(Ipv4Addr::new(10, 0, 2, 2)),
    };
}

/// A TCP socket's state (RFC 793's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpState {
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

impl TcpState {
    pub fn name(self) -> &'static str {
        match self {
            TcpState::Closed => "closed",
            TcpState::Listen => "listen",
            TcpState::SynSent => "syn-sent",
            TcpState::SynReceived => "syn-received",
            TcpState::Established => "established",
            TcpState::FinWait1 => "fin-wait-1",
            TcpState::FinWait2 => "fin-wait-2",
            TcpState::CloseWait => "close-wait",
            TcpState::Closing => "closing",
            TcpState::LastAck => "last-ack",
            TcpState::TimeWait => "time-wait",
        }
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Packet and byte counts of the interface.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Inbound IPv4 packets the firewall blocked (dropped before the stack saw them).
    pub rx_blocked: u64,
    /// Outbound IPv4 packets the firewall blocked (dropped before the wire saw them).
    pub tx_blocked: u64,
    /// Inbound frames dropped for other reasons (malformed, a protocol the firewall
    /// cannot name, the stack down).
    pub rx_dropped: u64,
    /// Connections handed to a program by [`Net::tcp_accept`].
    pub accepted: u64,
    /// SYNs to a listening port whose backlog was full: dropped, so the client
    /// retries (as Linux does when its accept queue is full), not reset.
    pub syn_dropped: u64,
    /// TCP resets received and sent.
    pub rx_resets: u64,
    pub tx_resets: u64,
}

/// A listening port, as `net` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerInfo {
    pub id: SocketId,
    pub port: u16,
    pub backlog: usize,
    /// Sockets listening now (a SYN finds one of them).
    pub armed: usize,
    /// Connections that arrived and wait for [`Net::tcp_accept`].
    pub queued: usize,
}

/// One socket, as `net` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketInfo {
    pub id: SocketId,
    pub state: TcpState,
    pub local_port: u16,
    pub remote: Option<(Ipv4Addr, u16)>,
}

/// The interface as `net` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetInfo {
    /// A name for the device, e.g. `virtio-net 00:03.0`.
    pub device: String,
    pub mac: [u8; 6],
    /// `None` while down.
    pub config: Option<IfConfig>,
    pub counters: Counters,
    pub listeners: Vec<ListenerInfo>,
    /// Released sockets still closing (each freed once closed, or after a linger).
    pub closing: usize,
    /// Connections (accepted or opened), not the sockets a listener keeps armed.
    pub sockets: Vec<SocketInfo>,
}

/// The largest backlog [`Net::tcp_listen`] takes.
pub const MAX_BACKLOG: usize = 128;

/// The TCP/IP stack, as board provides it. All calls are non-blocking but `wait`.
pub trait Net: Send + Sync {
    /// Configures the interface's address and gateway (replacing any before).
    fn up(&self, config: IfConfig) -> Result<()>;
    /// The device, addresses, counters and sockets.
    fn info(&self) -> NetInfo;
    /// A listener on `port` with a backlog: up to `backlog` connections (at least 1,
    /// at most [`MAX_BACKLOG`]) can arrive and wait for [`Net::tcp_accept`]; a SYN
    /// beyond them is dropped (the client retries). Released with
    /// [`Net::tcp_release`], which resets the connections still waiting.
    fn tcp_listen(&self, port: u16, backlog: usize) -> Result<SocketId>;
    /// The next connection that arrived on `listener`, if any: a socket of the
    /// caller's, established (or already closed by the peer, its data still readable).
    /// Its place in the backlog listens again at once.
    fn tcp_accept(&self, listener: SocketId) -> Result<Option<SocketId>>;
    /// A new TCP socket connecting to `address:port` from an ephemeral port.
    fn tcp_connect(&self, address: Ipv4Addr, port: u16) -> Result<SocketId>;
    /// The state of a socket.
    fn tcp_state(&self, socket: SocketId) -> Result<TcpState>;
    /// Queues bytes to send; `Ok(0)` when the send buffer is full now.
    /// `Err(Closed)` once nothing more can be sent.
    fn tcp_send(&self, socket: SocketId, bytes: &[u8]) -> Result<usize>;
    /// Takes received bytes; `Ok(0)` when none have arrived yet, `Err(Closed)` at the
    /// end of the stream (the peer closed, or the connection was reset).
    fn tcp_recv(&self, socket: SocketId, buf: &mut [u8]) -> Result<usize>;
    /// Bytes queued but not yet acknowledged by the peer.
    fn tcp_unsent(&self, socket: SocketId) -> Result<usize>;
    /// Closes the sending half (a FIN after the queued bytes).
    fn tcp_close(&self, socket: SocketId) -> Result<()>;
    /// Frees the socket; a connection still open is reset.
    fn tcp_release(&self, socket: SocketId);
    /// Parks the calling thread until network activity, `deadline`, or an unpark.
    fn wait(&self, deadline: Duration);
}

/// How long [`TcpStream`]'s blocking calls park at a time before re-checking.
const WAIT_SLICE: Duration = Duration::from_millis(50);

/// A TCP connection (or a listening socket) with blocking calls that honour the job's
/// cancellation; released when dropped.
pub struct TcpStream<'n> {
    net: &'n dyn Net,
    id: SocketId,
}

impl<'n> TcpStream<'n> {
    /// Wraps a socket this program opened; releases it when dropped.
    pub fn new(net: &'n dyn Net, id: SocketId) -> Self {
        TcpStream { net, id }
    }

    /// Connects to `address:port`, blocking until established, refused, `timeout`, or
    /// cancellation.
    pub fn connect(
        ctx: &Context<'_>,
        net: &'n dyn Net,
        address: Ipv4Addr,
        port: u16,
        timeout: Duration,
    ) -> Result<Self> {
        let stream = TcpStream::new(net, net.tcp_connect(address, port)?);
        let deadline = ctx.now() + timeout;
        loop {
            match net.tcp_state(stream.id)? {
                TcpState::Established | TcpState::CloseWait => return Ok(stream),
                TcpState::SynSent | TcpState::SynReceived => {}
                _ => return Err(NetError::Closed),
            }
            stream.block(ctx, deadline)?;
        }
    }

    pub fn id(&self) -> SocketId {
        self.id
    }

    pub fn state(&self) -> Result<TcpState> {
        self.net.tcp_state(self.id)
    }

    /// Parks once (at most [`WAIT_SLICE`]); `Err` if cancelled or past `deadline`.
    fn block(&self, ctx: &Context<'_>, deadline: Duration) -> Result<()> {
        if ctx.is_cancelled() {
            return Err(NetError::Interrupted);
        }
        let now = ctx.now();
        if now >= deadline {
            return Err(NetError::TimedOut);
        }
        self.net.wait((now + WAIT_SLICE).min(deadline));
        if ctx.is_cancelled() {
            return Err(NetError::Interrupted);
        }
        Ok(())
    }

    /// Reads some bytes, blocking until at least one arrives; `Ok(0)` at end of stream.
    pub fn read(&self, ctx: &Context<'_>, buf: &mut [u8], timeout: Duration) -> Result<usize> {
        let deadline = ctx.now() + timeout;
        loop {
            match self.net.tcp_recv(self.id, buf) {
                Ok(0) => {}
                Ok(n) => return Ok(n),
                Err(NetError::Closed) => return Ok(0),
                Err(error) => return Err(error),
            }
            self.block(ctx, deadline)?;
        }
    }

    /// Sends every byte, blocking while the send buffer is full.
    pub fn write_all(&self, ctx: &Context<'_>, mut bytes: &[u8], timeout: Duration) -> Result<()> {
        let deadline = ctx.now() + timeout;
        while !bytes.is_empty() {
            let sent = self.net.tcp_send(self.id, bytes)?;
            bytes = &bytes[sent..];
            if sent == 0 {
                self.block(ctx, deadline)?;
            }
        }
        Ok(())
    }

    /// Closes the sending half and waits (up to `timeout`) until the peer has every byte.
    pub fn close(&self, ctx: &Context<'_>, timeout: Duration) -> Result<()> {
        self.net.tcp_close(self.id)?;
        let deadline = ctx.now() + timeout;
        while self.net.tcp_unsent(self.id)? > 0 {
            self.block(ctx, deadline)?;
        }
        Ok(())
    }
}

impl Drop for TcpStream<'_> {
    fn drop(&mut self) {
        self.net.tcp_release(self.id);
    }
}

/// Parses `ADDRESS/LEN` (LEN 0-32).
pub fn parse_cidr(text: &str) -> Option<(Ipv4Addr, u8)> {
    let (address, len) = text.split_once('/')?;
    let address = address.parse().ok()?;
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let len: u8 = len.parse().ok()?;
    (len <= 32).then_some((address, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn parses_cidr() {
        assert_eq!(
            parse_cidr("10.0.2.15/24"),
            Some((Ipv4Addr::new(10, 0, 2, 15), 24))
        );
        assert_eq!(parse_cidr("10.0.2.15/33"), None);
        assert_eq!(parse_cidr("10.0.2.15"), None);
        assert_eq!(parse_cidr("10.0.2/24"), None);
        assert_eq!(parse_cidr("10.0.2.15/+4"), None);
    }

    #[test]
    fn errors_say_what_to_do() {
        assert!(NetError::Down.to_string().contains("net up"));
        assert_eq!(TcpState::Established.to_string(), "established");
    }
}
