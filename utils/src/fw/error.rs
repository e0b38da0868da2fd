//! The firewall engine's one error type: what was wrong with a rule or a table
//! operation, and where (the 1-based column in the rule's text).
//!
//! [`LineError`] adds the line, for rulesets: `3:32: bad port '70000'`.

use alloc::string::String;
use core::fmt;

/// Everything that can go wrong in the firewall engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The rule has no words.
    EmptyRule,
    /// A word that does not fit where it stands.
    Unexpected {
        column: usize,
        found: String,
        expected: String,
    },
    /// The rule ended where something else was needed.
    Missing {
        column: usize,
        expected: &'static str,
    },
    /// A clause given twice (`proto tcp proto udp`).
    Repeated {
        column: usize,
        keyword: &'static str,
    },
    /// A clause after one it must precede (`to any from any`).
    OutOfOrder {
        column: usize,
        keyword: &'static str,
        after: &'static str,
    },
    /// Not `tcp`, `udp` or `icmp`.
    UnknownProtocol { column: usize, found: String },
    /// Not a dotted IPv4 address (or `any`).
    BadAddress { column: usize, found: String },
    /// A prefix length that is not 0 to 32.
    BadPrefixLength { column: usize, found: String },
    /// Not a port number 0 to 65535.
    BadPort { column: usize, found: String },
    /// A range whose first port is above its last.
    BadPortRange { column: usize, found: String },
    /// `port` in a rule for a protocol without ports (`proto icmp`).
    PortsNeedTcpOrUdp { column: usize },
    /// A label that is empty, too long, or has characters other than
    /// letters, digits, `-`, `_` and `.`.
    BadLabel { column: usize, found: String },
    /// `del N` for a rule that does not exist.
    NoSuchRule { number: usize, count: usize },
    /// `insert N` beyond the end of the table.
    NoSuchPosition { number: usize, count: usize },
}

/// A result of the firewall engine.
pub type Result<T> = core::result::Result<T, Error>;

impl Error {
    /// The 1-based column in the rule's text the error points at, if it has one.
    pub fn column(&self) -> Option<usize> {
        match self {
            Error::EmptyRule => Some(1),
            Error::Unexpected { column, .. }
            | Error::Missing { column, .. }
            | Error::Repeated { column, .. }
            | Error::OutOfOrder { column, .. }
            | Error::UnknownProtocol { column, .. }
            | Error::BadAddress { column, .. }
            | Error::BadPrefixLength { column, .. }
            | Error::BadPort { column, .. }
            | Error::BadPortRange { column, .. }
            | Error::PortsNeedTcpOrUdp { column }
            | Error::BadLabel { column, .. } => Some(*column),
            Error::NoSuchRule { .. } | Error::NoSuchPosition { .. } => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::EmptyRule => f.write_str("empty rule"),
            Error::Unexpected {
                found, expected, ..
            } => write!(f, "unexpected '{found}' (expected {expected})"),
            Error::Missing { expected, .. } => write!(f, "missing {expected}"),
            Error::Repeated { keyword, .. } => write!(f, "'{keyword}' given twice"),
            Error::OutOfOrder { keyword, after, .. } => write!(
                f,
                "'{keyword}' must come before '{after}' (order: quick, proto, from, to, label)"
            ),
            Error::UnknownProtocol { found, .. } => {
                write!(f, "unknown protocol '{found}' (expected tcp, udp or icmp)")
            }
            Error::BadAddress { found, .. } => write!(f, "bad address '{found}'"),
            Error::BadPrefixLength { found, .. } => {
                write!(f, "bad prefix length '{found}' (expected 0 to 32)")
            }
            Error::BadPort { found, .. } => write!(f, "bad port '{found}'"),
            Error::BadPortRange { found, .. } => {
                write!(f, "bad port range '{found}' (first port above last)")
            }
            Error::PortsNeedTcpOrUdp { .. } => f.write_str("'port' needs proto tcp or udp"),
            Error::BadLabel { found, .. } => write!(
                f,
                "bad label '{found}' (1 to {} letters, digits, '-', '_' or '.')",
                crate::fw::rule::MAX_LABEL_LEN
            ),
            Error::NoSuchRule { number, count } => {
                write!(f, "no rule {number} (the table has {count})")
            }
            Error::NoSuchPosition { number, count } => write!(
                f,
                "cannot insert at {number} (the table has {count}; use 1 to {})",
                count + 1
            ),
        }
    }
}

impl core::error::Error for Error {}

/// An error in a ruleset: the 1-based line, and the error on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub error: Error,
}

impl fmt::Display for LineError {
    /// `LINE:COLUMN: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let column = self.error.column().unwrap_or(1);
        write!(f, "{}:{column}: {}", self.line, self.error)
    }
}

impl core::error::Error for LineError {}
