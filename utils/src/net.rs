//! `net [up [ADDR/LEN [gw GW]]]`: configures the network interface and shows it.
//!
//! `net up` alone gives the address QEMU's user network expects (10.0.2.15/24, gateway
//! 10.0.2.2). `net` alone prints the device, the address, the counters (with the packets
//! the firewall blocked each way, connections accepted, SYNs dropped because a backlog
//! was full, resets each way), the listeners and every connection. A machine without a network
//! device makes both fail with status 1.

use alloc::format;
use alloc::string::String;
use core::fmt::Write as _;
use core::net::Ipv4Addr;

use kiln_init::net::{IfConfig, NetInfo, parse_cidr};
use kiln_init::program::{Context, Program, Status};

use crate::cli::{self, Error, STATUS_OK};

pub const PROGRAM: Program = Program {
    name: "net",
    about: "configure the network interface, show addresses, counters and sockets",
    usage: "\
usage: net [up [ADDR/LEN [gw GW]]]
  net                      the device, address, counters and sockets
  net up                   10.0.2.15/24 gw 10.0.2.2 (QEMU's user network)
  net up ADDR/LEN [gw GW]  this address, and a default route through GW",
    main,
};

#[inline(never)]
pub fn main(ctx: &mut Context<'_>) -> Status {
    cli::run(ctx, &PROGRAM, body)
}

fn body(ctx: &mut Context<'_>) -> cli::Result<Status> {
    let platform = ctx.platform;
    let net = platform
        .net()
        .ok_or_else(|| Error::failed("this machine has no network"))?;
    match ctx.args() {
        [] => {
            let text = show(&net.info());
            cli::write_str(&mut ctx.out(), &text)?;
        }
        [command, rest @ ..] if command == "up" => {
            let config = parse_up(rest)?;
            net.up(config).map_err(Error::failed)?;
        }
        [other, ..] => return Err(Error::usage("unknown command", other)),
    }
    Ok(STATUS_OK)
}

/// The configuration `net up ARGS...` asks for.
fn parse_up(args: &[String]) -> cli::Result<IfConfig> {
    let (cidr, rest) = match args.split_first() {
        None => return Ok(IfConfig::QEMU_USER),
        Some(split) => split,
    };
    let (address, prefix_len) =
        parse_cidr(cidr).ok_or_else(|| Error::usage("bad address (want ADDR/LEN)", cidr))?;
    let gateway = match rest {
        [] => None,
        [gw, address] if gw == "gw" => Some(
            address
                .parse::<Ipv4Addr>()
                .map_err(|_| Error::usage("bad gateway address", address))?,
        ),
        [gw] if gw == "gw" => return Err(Error::missing("missing gateway address after 'gw'")),
        [other, ..] => return Err(Error::usage("unexpected argument", other)),
    };
    Ok(IfConfig {
        address,
        prefix_len,
        gateway,
    })
}

/// What `net` prints.
pub fn show(info: &NetInfo) -> String {
    let mut text = String::new();
    let mac = info.mac;
    // Writing to a String cannot fail.
    let _ = writeln!(
        text,
        "net0: {} mac {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        info.device, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
    );
    match info.config {
        Some(config) => {
            let gateway = config
                .gateway
                .map_or(String::from("none"), |gw| format!("{gw}"));
            let _ = writeln!(
                text,
                "  inet {}/{} gw {gateway}",
                config.address, config.prefix_len
            );
        }
        None => text.push_str("  down (no address; 'net up' configures one)\n"),
    }
    let c = info.counters;
    let _ = writeln!(
        text,
        "  rx packets={} bytes={} blocked={} dropped={}",
        c.rx_packets, c.rx_bytes, c.rx_blocked, c.rx_dropped
    );
    let _ = writeln!(
        text,
        "  tx packets={} bytes={} blocked={}",
        c.tx_packets, c.tx_bytes, c.tx_blocked
    );
    let _ = writeln!(
        text,
        "  tcp accepted={} syn_dropped={} resets_in={} resets_out={}",
        c.accepted, c.syn_dropped, c.rx_resets, c.tx_resets
    );
    if info.listeners.is_empty() {
        text.push_str("listeners: none\n");
    } else {
        text.push_str("listeners:\n  ID    PORT   BACKLOG  ARMED  QUEUED\n");
        for listener in &info.listeners {
            let _ = writeln!(
                text,
                "  {:<5} {:<6} {:<8} {:<6} {}",
                listener.id, listener.port, listener.backlog, listener.armed, listener.queued
            );
        }
    }
    let _ = writeln!(text, "closing: {}", info.closing);
    if info.sockets.is_empty() {
        text.push_str("sockets: none\n");
    } else {
        text.push_str("sockets:\n  ID    STATE         LOCAL  REMOTE\n");
        for socket in &info.sockets {
            let remote = socket.remote.map_or(String::from("-"), |(address, port)| {
                format!("{address}:{port}")
            });
            let _ = writeln!(
                text,
                "  {:<5} {:<13} {:<6} {remote}",
                socket.id,
                socket.state.name(),
                socket.local_port
            );
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;
    use alloc::vec;
    use alloc::vec::Vec;

    use kiln_init::net::{Counters, ListenerInfo, SocketInfo, TcpState};

    use super::*;
    use crate::testing::run;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn up_defaults_to_qemu_user_networking() {
        assert_eq!(parse_up(&[]).unwrap(), IfConfig::QEMU_USER);
        assert_eq!(
            parse_up(&args(&["192.168.7.2/16", "gw", "192.168.0.1"])).unwrap(),
            IfConfig {
                address: Ipv4Addr::new(192, 168, 7, 2),
                prefix_len: 16,
                gateway: Some(Ipv4Addr::new(192, 168, 0, 1)),
            }
        );
        assert_eq!(parse_up(&args(&["10.1.1.1/8"])).unwrap().gateway, None);
        for bad in [
            &["10.0.0.1"][..],
            &["10.0.0.1/40"],
            &["10.0.0.1/8", "gw"],
            &["10.0.0.1/8", "gw", "x"],
            &["10.0.0.1/8", "via", "1.1.1.1"],
        ] {
            assert!(parse_up(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn show_lists_addresses_counters_and_sockets() {
        let info = NetInfo {
            device: "virtio-net 00:03.0".into(),
            mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56],
            config: Some(IfConfig::QEMU_USER),
            counters: Counters {
                rx_packets: 3,
                rx_bytes: 180,
                tx_packets: 2,
                tx_bytes: 120,
                rx_blocked: 1,
                tx_blocked: 0,
                rx_dropped: 0,
                accepted: 5,
                syn_dropped: 2,
                rx_resets: 1,
                tx_resets: 0,
            },
            listeners: vec![ListenerInfo {
                id: 1,
                port: 7,
                backlog: 32,
                armed: 31,
                queued: 1,
            }],
            closing: 3,
            sockets: vec![SocketInfo {
                id: 2,
                state: TcpState::Established,
                local_port: 7,
                remote: Some((core::net::Ipv4Addr::new(10, 0, 2, 2), 40000)),
            }],
        };
        let text = show(&info);
        assert!(
            text.starts_with("net0: virtio-net 00:03.0 mac 52:54:00:12:34:56\n"),
            "{text}"
        );
        assert!(text.contains("  inet 10.0.2.15/24 gw 10.0.2.2\n"), "{text}");
        assert!(
            text.contains("  rx packets=3 bytes=180 blocked=1 dropped=0\n"),
            "{text}"
        );
        assert!(
            text.contains("  tcp accepted=5 syn_dropped=2 resets_in=1 resets_out=0\n"),
            "{text}"
        );
        assert!(
            text.contains("  1     7      32       31     1\n"),
            "{text}"
        );
        assert!(
            text.contains("  2     established   7      10.0.2.2:40000\n"),
            "{text}"
        );
    }

    #[test]
    fn without_a_network_it_says_so() {
        let outcome = run(PROGRAM, &[]);
        assert_eq!(outcome.status, 1);
        assert_eq!(outcome.stderr, "net: this machine has no network\n");
        assert_eq!(run(PROGRAM, &["up"]).status, 1);
    }
}
