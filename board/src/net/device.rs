//! The NIC as smoltcp's [`Device`], with the firewall between it and the stack.
//!
//! Every frame the virtio-net device receives is decided by `fw::TABLE`
//! ([`kiln_utils::fw::wire::decide_frame`]) before smoltcp sees it, and every frame
//! smoltcp hands over for sending is decided before the device sees it; a blocked frame
//! is dropped and counted (and so is the rule that blocked it). Frames that are not
//! IPv4 (ARP) pass.
//!
//! A SYN to a listening port whose backlog is full is dropped here (`Inner::admit`):
//! smoltcp would answer it with a reset, and the client would give up; dropped, it
//! retries a second later. Resets each way are counted.
//!
//! The receive side is bounded: one `receive` call drops at most [`RX_DROP_BUDGET`]
//! blocked frames before it returns nothing, so a flood of blocked packets cannot keep
//! one poll going for ever; the network thread polls again while frames are waiting.

use alloc::collections::BTreeMap;
use core::cell::RefCell;

use kiln_init::net::Counters;
use kiln_utils::fw::wire::{FrameVerdict, decide_frame};
use kiln_utils::fw::{self, Direction, Firewall};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Packet, TcpPacket};
use virtio_drivers::device::net::{RxBuffer, VirtIONet};
use virtio_drivers::transport::SomeTransport;

use super::hal::KilnHal;

/// Descriptors per virtqueue.
pub const QUEUE_SIZE: usize = 64;
/// Bytes per receive buffer (a full Ethernet frame plus the virtio-net header).
pub const RX_BUFFER_LEN: usize = 2048;
/// The largest frame smoltcp may send (1500-byte MTU + Ethernet header).
const MAX_FRAME: usize = 1514;
/// Blocked or unreadable frames one `receive` call may drop before it gives up.
const RX_DROP_BUDGET: usize = 64;

pub type Nic = VirtIONet<KilnHal, SomeTransport<'static>, QUEUE_SIZE>;

/// The device and its counters; shared by the tokens of one poll.
pub struct Inner {
    pub nic: Nic,
    pub counters: Counters,
    /// Listening ports and how many of their sockets are listening now (set after each
    /// poll, `mod.rs`); a SYN that finds none armed is dropped, not reset.
    pub listen_free: BTreeMap<u16, usize>,
}

/// The TCP header's destination port and its SYN, ACK and RST flags, for an IPv4 TCP
/// frame (first fragment).
struct TcpSummary {
    dst_port: u16,
    syn: bool,
    ack: bool,
    rst: bool,
}

fn tcp_summary(frame: &[u8]) -> Option<TcpSummary> {
    let ethernet = EthernetFrame::new_checked(frame).ok()?;
    if ethernet.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(ethernet.payload()).ok()?;
    if ip.next_header() != IpProtocol::Tcp || ip.frag_offset() != 0 {
        return None;
    }
    let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
    Some(TcpSummary {
        dst_port: tcp.dst_port(),
        syn: tcp.syn(),
        ack: tcp.ack(),
        rst: tcp.rst(),
    })
}

impl Inner {
    /// False for a new connection's SYN to a listening port with no socket armed
    /// (counted); counts resets. A SYN let through takes one armed socket.
    fn admit(&mut self, frame: &[u8]) -> bool {
        let Some(tcp) = tcp_summary(frame) else {
            return true;
        };
        if tcp.rst {
            self.counters.rx_resets += 1;
        }
        if tcp.syn
            && !tcp.ack
            && let Some(free) = self.listen_free.get_mut(&tcp.dst_port)
        {
            if *free == 0 {
                self.counters.syn_dropped += 1;
                return false;
            }
            *free -= 1;
        }
        true
    }
}

/// The NIC with the firewall in front of it.
pub struct FilteredNic {
    pub inner: RefCell<Inner>,
}

/// Decides a frame with the firewall table (held only for the decision).
fn decide(direction: Direction, frame: &[u8]) -> FrameVerdict {
    let mut table = fw::TABLE.lock();
    let table: &mut Firewall = &mut table;
    decide_frame(table, direction, frame)
}

impl FilteredNic {
    pub fn new(nic: Nic) -> Self {
        FilteredNic {
            inner: RefCell::new(Inner {
                nic,
                counters: Counters::default(),
                listen_free: BTreeMap::new(),
            }),
        }
    }

    /// True when received frames are waiting.
    pub fn rx_pending(&self) -> bool {
        self.inner.borrow().nic.can_recv()
    }
}

pub struct NicRxToken<'a> {
    buffer: Option<RxBuffer>,
    inner: &'a RefCell<Inner>,
}

pub struct NicTxToken<'a> {
    inner: &'a RefCell<Inner>,
}

impl Device for FilteredNic {
    type RxToken<'a> = NicRxToken<'a>;
    type TxToken<'a> = NicTxToken<'a>;

    fn receive(&mut self, _timestamp: Instant) -> Option<(NicRxToken<'_>, NicTxToken<'_>)> {
        let inner = self.inner.get_mut();
        for _ in 0..RX_DROP_BUDGET {
            let buffer = inner.nic.receive().ok()?;
            let length = buffer.packet_len() as u64;
            inner.counters.rx_packets += 1;
            inner.counters.rx_bytes += length;
            let verdict = decide(Direction::In, buffer.packet());
            if verdict.passes() && inner.admit(buffer.packet()) {
                return Some((
                    NicRxToken {
                        buffer: Some(buffer),
                        inner: &self.inner,
                    },
                    NicTxToken { inner: &self.inner },
                ));
            }
            match verdict {
                // Passed the firewall: a SYN beyond a backlog, already counted.
                _ if verdict.passes() => {}
                FrameVerdict::Decided(_) => inner.counters.rx_blocked += 1,
                _ => inner.counters.rx_dropped += 1,
            }
            // A failed recycle loses one receive slot; nothing better can be done.
            let _ = inner.nic.recycle_rx_buffer(buffer);
        }
        None
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<NicTxToken<'_>> {
        if self.inner.get_mut().nic.can_send() {
            Some(NicTxToken { inner: &self.inner })
        } else {
            None
        }
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME;
        caps.max_burst_size = Some(QUEUE_SIZE / 2);
        caps
    }
}

impl phy::RxToken for NicRxToken<'_> {
    fn consume<R, F>(mut self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        let buffer = self.buffer.take().expect("a token is consumed once");
        let result = f(buffer.packet());
        let _ = self.inner.borrow_mut().nic.recycle_rx_buffer(buffer);
        result
    }
}

impl Drop for NicRxToken<'_> {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            let _ = self.inner.borrow_mut().nic.recycle_rx_buffer(buffer);
        }
    }
}

impl phy::TxToken for NicTxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut inner = self.inner.borrow_mut();
        let mut buffer = inner.nic.new_tx_buffer(len);
        let result = f(buffer.packet_mut());
        if decide(Direction::Out, buffer.packet()).passes() {
            let length = len as u64;
            let reset = tcp_summary(buffer.packet()).is_some_and(|tcp| tcp.rst);
            if inner.nic.send(buffer).is_ok() {
                inner.counters.tx_packets += 1;
                inner.counters.tx_bytes += length;
                inner.counters.tx_resets += u64::from(reset);
            }
        } else {
            inner.counters.tx_blocked += 1;
        }
        result
    }
}
