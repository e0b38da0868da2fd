//! The firewall on the wire: reads an Ethernet frame's IPv4 header (and the TCP/UDP
//! ports after it) into a [`Packet`], and decides it with the rule table.
//!
//! board's network device calls [`decide_frame`] for every frame it receives (before
//! the TCP/IP stack sees it) and every frame the stack sends (before the wire sees it).
//! Frames that are not IPv4 (ARP) are not the firewall's business and pass. An IPv4
//! packet the rule language cannot name (a protocol other than TCP, UDP, ICMP), or one
//! too short or malformed to read, is dropped: the stack has no use for it, and a packet
//! nobody can write a rule for must not slip past the rules. A later fragment of a
//! TCP/UDP packet carries no ports, so it matches only rules without port conditions.
//!
//! References: RFC 791 (IPv4 header), RFC 793 / RFC 768 (ports at the start of the
//! TCP/UDP header), IEEE 802.3 (Ethernet II header).

use core::net::Ipv4Addr;

use super::rule::{Action, Direction, Packet, Protocol};
use super::table::{Firewall, Verdict};

/// Bytes of an Ethernet II header (two MAC addresses and the EtherType).
pub const ETHERNET_HEADER_LEN: usize = 14;
/// The EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// The shortest IPv4 header (IHL 5).
const IPV4_MIN_HEADER_LEN: usize = 20;
const IPV4_VERSION: u8 = 4;
const PROTOCOL_ICMP: u8 = 1;
const PROTOCOL_TCP: u8 = 6;
const PROTOCOL_UDP: u8 = 17;
/// The fragment-offset bits of the flags/fragment field.
const FRAGMENT_OFFSET_MASK: u16 = 0x1FFF;
/// Bytes of source and destination port at the start of a TCP or UDP header.
const PORTS_LEN: usize = 4;

/// What the firewall makes of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameVerdict {
    /// Not IPv4 (ARP and the like): passes without a rule.
    NotIpv4,
    /// An IPv4 packet, decided (and counted) by the table.
    Decided(Verdict),
    /// IPv4 the firewall cannot read or name: dropped.
    Unfilterable,
}

impl FrameVerdict {
    /// True if the frame may go on (to the stack, or to the wire).
    pub fn passes(&self) -> bool {
        match self {
            FrameVerdict::NotIpv4 => true,
            FrameVerdict::Decided(verdict) => verdict.action == Action::Pass,
            FrameVerdict::Unfilterable => false,
        }
    }
}

/// How an Ethernet frame reads to the firewall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classified {
    NotIpv4,
    Packet(Packet),
    Unfilterable,
}

/// Reads the IPv4 packet of an Ethernet frame travelling in `direction`.
pub fn classify(direction: Direction, frame: &[u8]) -> Classified {
    let Some(ethertype) = frame.get(12..ETHERNET_HEADER_LEN) else {
        return Classified::Unfilterable;
    };
    if u16::from_be_bytes([ethertype[0], ethertype[1]]) != ETHERTYPE_IPV4 {
        return Classified::NotIpv4;
    }
    match classify_ipv4(direction, &frame[ETHERNET_HEADER_LEN..]) {
        Some(packet) => Classified::Packet(packet),
        None => Classified::Unfilterable,
    }
}

/// Reads an IPv4 packet (from its IP header on); `None` if malformed or unnamed.
pub fn classify_ipv4(direction: Direction, ip: &[u8]) -> Option<Packet> {
    let header = ip.get(..IPV4_MIN_HEADER_LEN)?;
    if header[0] >> 4 != IPV4_VERSION {
        return None;
    }
    let header_len = usize::from(header[0] & 0x0F) * 4;
    let total_len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    if header_len < IPV4_MIN_HEADER_LEN || total_len < header_len || total_len > ip.len() {
        return None;
    }
    let fragment_offset = u16::from_be_bytes([header[6], header[7]]) & FRAGMENT_OFFSET_MASK;
    let protocol = match header[9] {
        PROTOCOL_TCP => Protocol::Tcp,
        PROTOCOL_UDP => Protocol::Udp,
        PROTOCOL_ICMP => Protocol::Icmp,
        _ => return None,
    };
    let source = Ipv4Addr::new(header[12], header[13], header[14], header[15]);
    let destination = Ipv4Addr::new(header[16], header[17], header[18], header[19]);
    let (source_port, destination_port) = if protocol.has_ports() && fragment_offset == 0 {
        let ports = ip.get(header_len..header_len + PORTS_LEN)?;
        if header_len + PORTS_LEN > total_len {
            return None;
        }
        (
            Some(u16::from_be_bytes([ports[0], ports[1]])),
            Some(u16::from_be_bytes([ports[2], ports[3]])),
        )
    } else {
        (None, None)
    };
    Some(Packet {
        direction,
        protocol,
        source,
        source_port,
        destination,
        destination_port,
        length: u32::try_from(total_len).unwrap_or(u32::MAX),
    })
}

/// Decides an Ethernet frame with `firewall`, counting an IPv4 packet against the rule
/// that decided it.
pub fn decide_frame(firewall: &mut Firewall, direction: Direction, frame: &[u8]) -> FrameVerdict {
    match classify(direction, frame) {
        Classified::NotIpv4 => FrameVerdict::NotIpv4,
        Classified::Unfilterable => FrameVerdict::Unfilterable,
        Classified::Packet(packet) => FrameVerdict::Decided(firewall.filter(&packet)),
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;
    use crate::fw::parse::parse_rule;
    use crate::fw::table::Decider;

    /// An Ethernet frame with an IPv4 header (IHL 5) and `payload`.
    fn frame(protocol: u8, fragment: u16, payload: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&[0xff; 12]);
        bytes.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        let total = (IPV4_MIN_HEADER_LEN + payload.len()) as u16;
        bytes.extend_from_slice(&[0x45, 0]);
        bytes.extend_from_slice(&total.to_be_bytes());
        bytes.extend_from_slice(&[0, 0]);
        bytes.extend_from_slice(&fragment.to_be_bytes());
        bytes.extend_from_slice(&[64, protocol, 0, 0]);
        bytes.extend_from_slice(&[10, 0, 2, 2, 10, 0, 2, 15]);
        bytes.extend_from_slice(payload);
        // Ethernet padding after the IP packet is not part of it.
        bytes.extend_from_slice(&[0; 6]);
        bytes
    }

    fn tcp_syn_to(port: u16) -> Vec<u8> {
        let mut tcp = Vec::new();
        tcp.extend_from_slice(&40000u16.to_be_bytes());
        tcp.extend_from_slice(&port.to_be_bytes());
        tcp.extend_from_slice(&[0; 16]);
        frame(PROTOCOL_TCP, 0, &tcp)
    }

    #[test]
    fn reads_a_tcp_packet() {
        let Classified::Packet(packet) = classify(Direction::In, &tcp_syn_to(7)) else {
            panic!("not classified");
        };
        assert_eq!(packet.protocol, Protocol::Tcp);
        assert_eq!(packet.source, Ipv4Addr::new(10, 0, 2, 2));
        assert_eq!(packet.destination, Ipv4Addr::new(10, 0, 2, 15));
        assert_eq!(packet.source_port, Some(40000));
        assert_eq!(packet.destination_port, Some(7));
        assert_eq!(packet.length, 40);
    }

    #[test]
    fn a_blocked_syn_is_counted_against_its_rule() {
        let mut firewall = Firewall::new();
        firewall.add(parse_rule("block in quick proto tcp to any port 7").unwrap());
        let verdict = decide_frame(&mut firewall, Direction::In, &tcp_syn_to(7));
        assert!(!verdict.passes());
        assert_eq!(
            verdict,
            FrameVerdict::Decided(Verdict {
                action: Action::Block,
                decider: Decider::Rule(1)
            })
        );
        assert_eq!(firewall.entry(1).unwrap().counters.packets, 1);
        assert_eq!(firewall.entry(1).unwrap().counters.bytes, 40);
        assert!(decide_frame(&mut firewall, Direction::In, &tcp_syn_to(8)).passes());
        assert!(decide_frame(&mut firewall, Direction::Out, &tcp_syn_to(7)).passes());
    }

    #[test]
    fn arp_passes_and_garbage_is_dropped() {
        let mut arp = tcp_syn_to(7);
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        let mut firewall = Firewall::new();
        firewall.set_policy(Action::Block);
        assert_eq!(
            decide_frame(&mut firewall, Direction::In, &arp),
            FrameVerdict::NotIpv4
        );
        assert!(!decide_frame(&mut firewall, Direction::In, &[0; 5]).passes());
        // A protocol the rules cannot name (GRE) is dropped even with policy pass.
        firewall.set_policy(Action::Pass);
        let gre = frame(47, 0, &[0; 8]);
        assert_eq!(
            decide_frame(&mut firewall, Direction::In, &gre),
            FrameVerdict::Unfilterable
        );
        // Truncated: the header claims more bytes than the frame has.
        let mut short = tcp_syn_to(7);
        short.truncate(ETHERNET_HEADER_LEN + 30);
        assert_eq!(classify(Direction::In, &short), Classified::Unfilterable);
        // TCP too short to hold its ports.
        assert_eq!(
            classify(Direction::In, &frame(PROTOCOL_TCP, 0, &[1, 2])),
            Classified::Unfilterable
        );
    }

    #[test]
    fn later_fragments_and_icmp_have_no_ports() {
        let Classified::Packet(fragment) =
            classify(Direction::In, &frame(PROTOCOL_UDP, 185, &[0; 8]))
        else {
            panic!("not classified");
        };
        assert_eq!(
            (fragment.source_port, fragment.destination_port),
            (None, None)
        );
        let Classified::Packet(ping) = classify(Direction::Out, &frame(PROTOCOL_ICMP, 0, &[8, 0]))
        else {
            panic!("not classified");
        };
        assert_eq!(ping.protocol, Protocol::Icmp);
        assert_eq!(ping.destination_port, None);
    }
}
