//! Property test: the engine against a deliberately naive reference model.
//!
//! Random rulesets are generated in the model's own plain form, written out as rule
//! text by the test's own renderer (in varied spellings), and parsed by the engine.
//! Then random packets (addresses and ports biased so that rules often match) go
//! through both: the model compares prefixes bit by bit and decides by "first
//! matching quick rule, else last matching rule", a different formulation of pf's
//! order. Verdicts, deciding rules and every counter must agree, and every parsed
//! rule must read back from its canonical text. [`CASES`] x [`PACKETS_PER_CASE`] =
//! 128,000 packets.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::{Action, Decider, Direction, Firewall, Packet, Protocol, RuleSet, parse_rule};

const CASES: u32 = 1_000;
const PACKETS_PER_CASE: usize = 128;
const MAX_RULES: usize = 10;

const TCP: u8 = 0;
const UDP: u8 = 1;
const ICMP: u8 = 2;
const PROTOCOL_NAMES: [&str; 3] = ["tcp", "udp", "icmp"];

/// One side of a model rule: (network bits, prefix length) and (first, last) port.
#[derive(Debug, Clone)]
struct ModelSide {
    network: Option<(u32, u8)>,
    ports: Option<(u16, u16)>,
}

#[derive(Debug, Clone)]
struct ModelRule {
    block: bool,
    outbound: bool,
    quick: bool,
    protocol: Option<u8>,
    from: ModelSide,
    to: ModelSide,
    label: Option<String>,
    /// Bits choosing among equivalent spellings when the rule is written out.
    spelling: u8,
}

#[derive(Debug, Clone)]
struct ModelPacket {
    outbound: bool,
    protocol: u8,
    source: u32,
    source_port: Option<u16>,
    destination: u32,
    destination_port: Option<u16>,
    length: u32,
}

/// Spelling bits.
const SPELL_EXPLICIT_ANY: u8 = 1;
const SPELL_HOST_PREFIX: u8 = 2;
const SPELL_WIDE_SPACES: u8 = 4;
const SPELL_SINGLE_PORT_AS_RANGE: u8 = 8;

fn dotted(bits: u32) -> String {
    let [a, b, c, d] = bits.to_be_bytes();
    format!("{a}.{b}.{c}.{d}")
}

/// Writes a model rule as rule text, without using the engine's formatting.
fn render(rule: &ModelRule) -> String {
    let mut words: Vec<String> = Vec::new();
    words.push(if rule.block { "block" } else { "pass" }.into());
    words.push(if rule.outbound { "out" } else { "in" }.into());
    if rule.quick {
        words.push("quick".into());
    }
    if let Some(protocol) = rule.protocol {
        words.push("proto".into());
        words.push(PROTOCOL_NAMES[usize::from(protocol)].into());
    }
    for (keyword, side) in [("from", &rule.from), ("to", &rule.to)] {
        let explicit = rule.spelling & SPELL_EXPLICIT_ANY != 0;
        if side.network.is_none() && side.ports.is_none() && !explicit {
            continue;
        }
        words.push(keyword.into());
        words.push(match side.network {
            None => "any".into(),
            Some((bits, 32)) if rule.spelling & SPELL_HOST_PREFIX == 0 => dotted(bits),
            Some((bits, len)) => format!("{}/{len}", dotted(bits)),
        });
        if let Some((first, last)) = side.ports {
            words.push("port".into());
            let as_range = rule.spelling & SPELL_SINGLE_PORT_AS_RANGE != 0;
            words.push(if first == last && !as_range {
                format!("{first}")
            } else {
                format!("{first}:{last}")
            });
        }
    }
    if let Some(label) = &rule.label {
        words.push("label".into());
        words.push(label.clone());
    }
    let separator = if rule.spelling & SPELL_WIDE_SPACES != 0 {
        " \t "
    } else {
        " "
    };
    words.join(separator)
}

fn bit(value: u32, index: u8) -> u32 {
    (value >> (31 - u32::from(index))) & 1
}

fn side_matches(side: &ModelSide, address: u32, port: Option<u16>) -> bool {
    let address_ok = match side.network {
        None => true,
        Some((network, len)) => (0..len).all(|i| bit(network, i) == bit(address, i)),
    };
    let port_ok = match (side.ports, port) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some((first, last)), Some(port)) => first <= port && port <= last,
    };
    address_ok && port_ok
}

fn model_matches(rule: &ModelRule, packet: &ModelPacket) -> bool {
    rule.outbound == packet.outbound
        && (rule.protocol.is_none() || rule.protocol == Some(packet.protocol))
        && side_matches(&rule.from, packet.source, packet.source_port)
        && side_matches(&rule.to, packet.destination, packet.destination_port)
}

/// The deciding rule's index: the first matching quick rule, else the last match.
fn model_decide(rules: &[ModelRule], packet: &ModelPacket) -> Option<usize> {
    let first_quick = rules
        .iter()
        .position(|rule| rule.quick && model_matches(rule, packet));
    first_quick.or_else(|| rules.iter().rposition(|rule| model_matches(rule, packet)))
}

fn to_engine_packet(packet: &ModelPacket) -> Packet {
    Packet {
        direction: if packet.outbound {
            Direction::Out
        } else {
            Direction::In
        },
        protocol: [Protocol::Tcp, Protocol::Udp, Protocol::Icmp][usize::from(packet.protocol)],
        source: core::net::Ipv4Addr::from_bits(packet.source),
        source_port: packet.source_port,
        destination: core::net::Ipv4Addr::from_bits(packet.destination),
        destination_port: packet.destination_port,
        length: packet.length,
    }
}

/// 10.0.0.0 and 192.168.1.0: the subnets most generated addresses come from.
const SUBNET_10: u32 = 0x0A00_0000;
const SUBNET_192_168_1: u32 = 0xC0A8_0100;
/// Hosts used in each of those subnets.
const SMALL_SUBNET_HOSTS: u32 = 8;

/// Addresses from two small subnets most of the time, anything otherwise.
fn address() -> impl Strategy<Value = u32> {
    prop_oneof![
        (0..SMALL_SUBNET_HOSTS).prop_map(|host| SUBNET_10 | host),
        (0..SMALL_SUBNET_HOSTS).prop_map(|host| SUBNET_192_168_1 | host),
        any::<u32>(),
    ]
}

fn prefix_len() -> impl Strategy<Value = u8> {
    prop_oneof![
        Just(0u8),
        Just(8),
        Just(16),
        Just(24),
        Just(29),
        Just(32),
        0u8..=32
    ]
}

fn port() -> impl Strategy<Value = u16> {
    prop_oneof![Just(22u16), Just(23), Just(80), 0u16..64, any::<u16>()]
}

fn side(with_ports: bool) -> impl Strategy<Value = ModelSide> {
    let network = proptest::option::of((address(), prefix_len()));
    let ports = proptest::option::of((port(), port()).prop_map(|(a, b)| (a.min(b), a.max(b))));
    (network, ports).prop_map(move |(network, ports)| ModelSide {
        network,
        ports: if with_ports { ports } else { None },
    })
}

fn rule() -> impl Strategy<Value = ModelRule> {
    let protocol = proptest::option::of(0u8..3);
    (
        any::<bool>(),
        any::<bool>(),
        proptest::bool::weighted(0.2),
        protocol,
        any::<u8>(),
        proptest::option::of("[a-z0-9._-]{1,8}"),
    )
        .prop_flat_map(|(block, outbound, quick, protocol, spelling, label)| {
            let with_ports = protocol != Some(ICMP);
            (side(with_ports), side(with_ports)).prop_map(move |(from, to)| ModelRule {
                block,
                outbound,
                quick,
                protocol,
                from,
                to,
                label: label.clone(),
                spelling,
            })
        })
}

/// Packets are decoded from raw random words (cheaper to generate than composed
/// strategies, which matters for 128,000 packets in a debug build).
fn packet() -> impl Strategy<Value = ModelPacket> {
    any::<[u32; 6]>().prop_map(
        |[
            flags,
            source,
            destination,
            source_port,
            destination_port,
            length,
        ]| {
            let protocol = [TCP, UDP, ICMP][(flags % 3) as usize];
            let has_ports = protocol != ICMP;
            ModelPacket {
                outbound: flags & 0x100 != 0,
                protocol,
                source: biased_address(source),
                source_port: biased_port(source_port).filter(|_| has_ports),
                destination: biased_address(destination),
                destination_port: biased_port(destination_port).filter(|_| has_ports),
                length: length % MAX_PACKET_LENGTH,
            }
        },
    )
}

const MAX_PACKET_LENGTH: u32 = 1500;

/// Like [`address`], from one random word.
fn biased_address(word: u32) -> u32 {
    match word % 3 {
        0 => SUBNET_10 | ((word >> 8) % SMALL_SUBNET_HOSTS),
        1 => SUBNET_192_168_1 | ((word >> 8) % SMALL_SUBNET_HOSTS),
        _ => word,
    }
}

/// Like [`port`], from one random word; one in ten is no port at all.
fn biased_port(word: u32) -> Option<u16> {
    let high = (word >> 16) as u16;
    match word % 10 {
        0 => None,
        1 => Some(22),
        2 => Some(23),
        3 => Some(80),
        4 | 5 => Some(high % 64),
        _ => Some(high),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn engine_agrees_with_the_model(
        rules in proptest::collection::vec(rule(), 0..=MAX_RULES),
        packets in proptest::collection::vec(packet(), PACKETS_PER_CASE),
        block_policy in any::<bool>(),
    ) {
        let text: String = rules.iter().map(|rule| format!("{}  # rule\n", render(rule))).collect();
        let set = RuleSet::parse(&text).map_err(|error| TestCaseError::fail(format!("{error} in\n{text}")))?;
        prop_assert_eq!(set.rules.len(), rules.len());
        for rule in &set.rules {
            prop_assert_eq!(&parse_rule(&format!("{rule}")).unwrap(), rule);
        }
        let mut firewall = Firewall::new();
        firewall.replace(set);
        let policy = if block_policy { Action::Block } else { Action::Pass };
        firewall.set_policy(policy);

        let mut expected_counts = alloc::vec![(0u64, 0u64); rules.len()];
        for packet in &packets {
            let verdict = firewall.filter(&to_engine_packet(packet));
            let expected = model_decide(&rules, packet);
            match expected {
                Some(index) => {
                    prop_assert_eq!(verdict.decider, Decider::Rule(index + 1), "{:?}", packet);
                    let action = if rules[index].block { Action::Block } else { Action::Pass };
                    prop_assert_eq!(verdict.action, action);
                    expected_counts[index].0 += 1;
                    expected_counts[index].1 += u64::from(packet.length);
                }
                None => {
                    prop_assert_eq!(verdict.decider, Decider::Policy, "{:?}", packet);
                    prop_assert_eq!(verdict.action, policy);
                }
            }
        }
        for (entry, (packets, bytes)) in firewall.entries().iter().zip(expected_counts) {
            prop_assert_eq!((entry.counters.packets, entry.counters.bytes), (packets, bytes));
        }
    }
}
