//! Rules and packets: what the firewall matches, how a rule matches a packet, and the
//! canonical text of a rule (what `fw list` prints and the parser reads back).
//!
//! The rule language follows OpenBSD pf.conf(5), reduced to IPv4 and one address and
//! one port range per side:
//!
//! ```text
//! pass|block in|out [quick] [proto tcp|udp|icmp]
//!     [from ADDR[/LEN] [port P[:Q]]] [to ADDR[/LEN] [port P[:Q]]] [label NAME]
//! ```
//!
//! A missing clause matches everything. A port condition matches only packets that
//! have that port (so never ICMP).

use alloc::string::String;
use core::fmt;
use core::net::Ipv4Addr;

/// The longest label a rule can carry.
pub const MAX_LABEL_LEN: usize = 32;

/// What a rule does with the packets it decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pass,
    Block,
}

impl Action {
    pub fn keyword(self) -> &'static str {
        match self {
            Action::Pass => "pass",
            Action::Block => "block",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// Which way a packet travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn keyword(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// The transport protocols a rule can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
}

impl Protocol {
    pub fn keyword(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
        }
    }

    /// True for protocols whose packets carry ports.
    pub fn has_ports(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Udp)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// An IPv4 network: an address with its host bits cleared, and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    address: Ipv4Addr,
    prefix_len: u8,
}

impl Network {
    /// The prefix length of a single host.
    pub const HOST_PREFIX_LEN: u8 = 32;

    /// The network of `address` with `prefix_len` leading bits (host bits are
    /// cleared); `None` if `prefix_len` is above 32.
    pub fn new(address: Ipv4Addr, prefix_len: u8) -> Option<Self> {
        (prefix_len <= Self::HOST_PREFIX_LEN).then(|| Network {
            address: Ipv4Addr::from_bits(address.to_bits() & Self::mask(prefix_len)),
            prefix_len,
        })
    }

    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// True if `address` is in this network.
    pub fn contains(&self, address: Ipv4Addr) -> bool {
        address.to_bits() & Self::mask(self.prefix_len) == self.address.to_bits()
    }

    fn mask(prefix_len: u8) -> u32 {
        u32::MAX
            .checked_shl(u32::from(Self::HOST_PREFIX_LEN - prefix_len))
            .unwrap_or(0)
    }
}

impl fmt::Display for Network {
    /// `a.b.c.d` for a host, `a.b.c.d/len` otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix_len == Self::HOST_PREFIX_LEN {
            write!(f, "{}", self.address)
        } else {
            write!(f, "{}/{}", self.address, self.prefix_len)
        }
    }
}

/// An inclusive range of ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    first: u16,
    last: u16,
}

impl PortRange {
    /// `first..=last`; `None` if `first > last`.
    pub fn new(first: u16, last: u16) -> Option<Self> {
        (first <= last).then_some(PortRange { first, last })
    }

    /// Just `port`.
    pub fn single(port: u16) -> Self {
        PortRange {
            first: port,
            last: port,
        }
    }

    pub fn first(&self) -> u16 {
        self.first
    }

    pub fn last(&self) -> u16 {
        self.last
    }

    pub fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }
}

impl fmt::Display for PortRange {
    /// `P` for one port, `P:Q` for a range.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}:{}", self.first, self.last)
        }
    }
}

/// One side of a rule (`from` or `to`): a network (`None` is `any`) and ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Endpoint {
    pub network: Option<Network>,
    pub ports: Option<PortRange>,
}

impl Endpoint {
    /// Any address, any port.
    pub const ANY: Endpoint = Endpoint {
        network: None,
        ports: None,
    };

    /// True if the endpoint matches every packet (and so is left out of the text).
    pub fn is_any(&self) -> bool {
        *self == Self::ANY
    }

    /// True if a packet's address and port (if it has one) fall in this endpoint.
    pub fn matches(&self, address: Ipv4Addr, port: Option<u16>) -> bool {
        let address_ok = self.network.is_none_or(|network| network.contains(address));
        let port_ok = self
            .ports
            .is_none_or(|ports| port.is_some_and(|port| ports.contains(port)));
        address_ok && port_ok
    }
}

impl fmt::Display for Endpoint {
    /// `ADDR[/LEN]` or `any`, then ` port P[:Q]` if there are ports.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.network {
            Some(network) => write!(f, "{network}")?,
            None => f.write_str("any")?,
        }
        match self.ports {
            Some(ports) => write!(f, " port {ports}"),
            None => Ok(()),
        }
    }
}

/// One firewall rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub action: Action,
    pub direction: Direction,
    /// A matching quick rule decides at once.
    pub quick: bool,
    /// `None` matches every protocol.
    pub protocol: Option<Protocol>,
    pub from: Endpoint,
    pub to: Endpoint,
    pub label: Option<String>,
}

impl Rule {
    /// A rule with no conditions besides its direction.
    pub fn new(action: Action, direction: Direction) -> Self {
        Rule {
            action,
            direction,
            quick: false,
            protocol: None,
            from: Endpoint::ANY,
            to: Endpoint::ANY,
            label: None,
        }
    }

    /// True if every condition of the rule holds for `packet`.
    pub fn matches(&self, packet: &Packet) -> bool {
        self.direction == packet.direction
            && self
                .protocol
                .is_none_or(|protocol| protocol == packet.protocol)
            && self.from.matches(packet.source, packet.source_port)
            && self.to.matches(packet.destination, packet.destination_port)
    }
}

impl fmt::Display for Rule {
    /// The canonical text: every clause in order, `any` sides left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.action, self.direction)?;
        if self.quick {
            f.write_str(" quick")?;
        }
        if let Some(protocol) = self.protocol {
            write!(f, " proto {protocol}")?;
        }
        if !self.from.is_any() {
            write!(f, " from {}", self.from)?;
        }
        if !self.to.is_any() {
            write!(f, " to {}", self.to)?;
        }
        if let Some(label) = &self.label {
            write!(f, " label {label}")?;
        }
        Ok(())
    }
}

/// A packet as the firewall sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    pub direction: Direction,
    pub protocol: Protocol,
    pub source: Ipv4Addr,
    /// `None` for ICMP (or when unknown).
    pub source_port: Option<u16>,
    pub destination: Ipv4Addr,
    pub destination_port: Option<u16>,
    /// Bytes counted against the deciding rule.
    pub length: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> Ipv4Addr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_clear_host_bits_and_contain_their_hosts() {
        let net = Network::new(addr("10.1.2.3"), 8).unwrap();
        assert_eq!(net.address(), addr("10.0.0.0"));
        assert!(net.contains(addr("10.255.0.1")));
        assert!(!net.contains(addr("11.0.0.0")));
        let all = Network::new(addr("1.2.3.4"), 0).unwrap();
        assert!(all.contains(addr("255.255.255.255")));
        let host = Network::new(addr("1.2.3.4"), 32).unwrap();
        assert!(host.contains(addr("1.2.3.4")) && !host.contains(addr("1.2.3.5")));
        assert!(Network::new(addr("1.2.3.4"), 33).is_none());
        assert_eq!(alloc::format!("{host} {net}"), "1.2.3.4 10.0.0.0/8");
    }

    #[test]
    fn port_conditions_need_a_port() {
        let endpoint = Endpoint {
            network: None,
            ports: PortRange::new(20, 30),
        };
        assert!(endpoint.matches(addr("1.1.1.1"), Some(25)));
        assert!(!endpoint.matches(addr("1.1.1.1"), Some(31)));
        assert!(!endpoint.matches(addr("1.1.1.1"), None));
        assert!(Endpoint::ANY.matches(addr("1.1.1.1"), None));
        assert!(PortRange::new(2, 1).is_none());
    }

    #[test]
    fn canonical_text_leaves_out_any() {
        let mut rule = Rule::new(Action::Block, Direction::In);
        assert_eq!(alloc::format!("{rule}"), "block in");
        rule.quick = true;
        rule.protocol = Some(Protocol::Tcp);
        rule.to.ports = Some(PortRange::single(7));
        assert_eq!(
            alloc::format!("{rule}"),
            "block in quick proto tcp to any port 7"
        );
        rule.from.network = Network::new(addr("10.0.0.0"), 8);
        rule.from.ports = PortRange::new(1024, 65535);
        rule.label = Some("x".into());
        assert_eq!(
            alloc::format!("{rule}"),
            "block in quick proto tcp from 10.0.0.0/8 port 1024:65535 to any port 7 label x"
        );
    }
}
