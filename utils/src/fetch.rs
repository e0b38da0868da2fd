//! `fetch [--timeout DUR] HOST PORT [TEXT]`: a TCP client for the shell.
//!
//! It connects to HOST:PORT (an IPv4 address), sends TEXT if given and then closes its
//! sending half (so an echo server or a one-request server answers and closes), and
//! copies whatever comes back to stdout until the peer closes. DUR (default 10s) bounds
//! the connect and every wait for data. Status 0 when the peer closed, 1 when the
//! connection failed or timed out, 130 when cancelled.

use alloc::string::String;
use core::net::Ipv4Addr;
use core::time::Duration;

use embedded_io::Write;
use kiln_init::net::{NetError, TcpStream};
use kiln_init::program::{Context, IoError, Program, Status};

use crate::cli::{self, Error, STATUS_OK};
use crate::tcpecho::port_number;

pub const PROGRAM: Program = Program {
    name: "fetch",
    about: "connect to a TCP server, send TEXT, print the answer until it closes",
    usage: "\
usage: fetch [--timeout DUR] HOST PORT [TEXT]
  connects to HOST:PORT (an IPv4 address), sends TEXT and closes the sending half,
  then prints what comes back until the server closes; DUR bounds each wait (10s)",
    main,
};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes read at a time.
const CHUNK: usize = 1024;

#[inline(never)]
pub fn main(ctx: &mut Context<'_>) -> Status {
    cli::run(ctx, &PROGRAM, body)
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    host: Ipv4Addr,
    port: u16,
    text: Option<String>,
    timeout: Duration,
}

fn parse(args: &[String]) -> cli::Result<Request> {
    let (timeout, args) = match args {
        [flag, duration, rest @ ..] if flag == "--timeout" => (cli::duration_arg(duration)?, rest),
        [flag] if flag == "--timeout" => {
            return Err(Error::missing("missing duration after '--timeout'"));
        }
        _ => (DEFAULT_TIMEOUT, args),
    };
    let (host, port, text) = match args {
        [] | [_] => return Err(Error::missing("missing HOST PORT")),
        [host, port] => (host, port, None),
        [host, port, text] => (host, port, Some(text.clone())),
        [_, _, _, extra, ..] => return Err(Error::usage("unexpected argument", extra)),
    };
    Ok(Request {
        host: host
            .parse()
            .map_err(|_| Error::usage("bad host (an IPv4 address)", host))?,
        port: port_number(port)?,
        text,
        timeout,
    })
}

fn net_error(error: NetError) -> Error {
    match error {
        NetError::Interrupted => Error::Io(IoError::Interrupted),
        other => Error::failed(other),
    }
}

fn body(ctx: &mut Context<'_>) -> cli::Result<Status> {
    let request = parse(ctx.args())?;
    let platform = ctx.platform;
    let net = platform
        .net()
        .ok_or_else(|| Error::failed("this machine has no network"))?;
    let (host, port, timeout) = (request.host, request.port, request.timeout);
    let stream = TcpStream::connect(ctx, net, host, port, timeout)
        .map_err(|error| Error::failed(format_args!("{host}:{port}: {error}")))?;
    if let Some(text) = &request.text {
        stream
            .write_all(ctx, text.as_bytes(), timeout)
            .map_err(net_error)?;
        stream.close(ctx, timeout).map_err(net_error)?;
    }
    let mut buf = [0u8; CHUNK];
    loop {
        let n = stream.read(ctx, &mut buf, timeout).map_err(net_error)?;
        if n == 0 {
            return Ok(STATUS_OK);
        }
        ctx.out().write_all(&buf[..n])?;
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;
    use alloc::vec::Vec;

    use super::*;
    use crate::testing::run;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_host_port_text_and_timeout() {
        assert_eq!(
            parse(&args(&["10.0.2.2", "80", "GET /"])).unwrap(),
            Request {
                host: Ipv4Addr::new(10, 0, 2, 2),
                port: 80,
                text: Some("GET /".into()),
                timeout: DEFAULT_TIMEOUT,
            }
        );
        let request = parse(&args(&["--timeout", "2s", "10.0.2.2", "7"])).unwrap();
        assert_eq!(
            (request.timeout, request.text),
            (Duration::from_secs(2), None)
        );
        for bad in [
            &[][..],
            &["10.0.2.2"],
            &["example.com", "80"],
            &["10.0.2.2", "0"],
            &["10.0.2.2", "80", "a", "b"],
            &["--timeout"],
            &["--timeout", "x", "10.0.2.2", "80"],
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn without_a_network_it_fails() {
        let outcome = run(PROGRAM, &["10.0.2.2", "7", "hi"]);
        assert_eq!(outcome.status, 1);
        assert_eq!(outcome.stderr, "fetch: this machine has no network\n");
    }
}
