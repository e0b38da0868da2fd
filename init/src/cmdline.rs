//! The kernel command line as Linux splits it: words separated by spaces, where double
//! quotes group spaces into a word and are removed (`kiln.rc="echo a; poweroff 3"`).

use alloc::string::String;
use alloc::vec::Vec;

/// The words of `line`, quotes removed (an unclosed quote runs to the end).
pub fn words(line: &str) -> Vec<String> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Between,
        Word,
        Quoted,
    }
    let mut words = Vec::new();
    let mut word = String::new();
    let mut state = State::Between;
    for c in line.chars() {
        state = match (state, c) {
            (State::Quoted, '"') => State::Word,
            (State::Quoted, c) => {
                word.push(c);
                State::Quoted
            }
            (_, '"') => State::Quoted,
            (State::Word, c) if c.is_whitespace() => {
                words.push(core::mem::take(&mut word));
                State::Between
            }
            (State::Between, c) if c.is_whitespace() => State::Between,
            (_, c) => {
                word.push(c);
                State::Word
            }
        };
    }
    if state != State::Between {
        words.push(word);
    }
    words
}

/// The value of the last `KEY=VALUE` word (`key` given with its `=`).
pub fn value(line: &str, key: &str) -> Option<String> {
    words(line)
        .into_iter()
        .filter_map(|w| w.strip_prefix(key).map(String::from))
        .next_back()
}

/// A virtio-mmio device as Linux's command line names it (QEMU's microvm and
/// Firecracker pass these): `virtio_mmio.device=<size>@<base>:<irq>[:<id>]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VirtioMmio {
    pub size: u64,
    pub base: u64,
    pub irq: u32,
}

/// Every well-formed `virtio_mmio.device=` of `line` (a malformed one is skipped).
pub fn virtio_mmio_devices(line: &str) -> Vec<VirtioMmio> {
    words(line)
        .iter()
        .filter_map(|w| w.strip_prefix("virtio_mmio.device="))
        .filter_map(parse_virtio_mmio)
        .collect()
}

fn parse_virtio_mmio(text: &str) -> Option<VirtioMmio> {
    let (size, rest) = text.split_once('@')?;
    let mut parts = rest.split(':');
    let base = number(parts.next()?)?;
    let irq = u32::try_from(number(parts.next()?)?).ok()?;
    Some(VirtioMmio {
        size: size_with_suffix(size)?,
        base,
        irq,
    })
}

/// `0x...` or decimal.
fn number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// A size as Linux's `memparse` reads it: a number, then K, M or G.
fn size_with_suffix(text: &str) -> Option<u64> {
    let (digits, shift) = match text.as_bytes().last()? {
        b'k' | b'K' => (&text[..text.len() - 1], 10),
        b'm' | b'M' => (&text[..text.len() - 1], 20),
        b'g' | b'G' => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    number(digits)?.checked_mul(1 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtio_mmio_devices_are_read_as_linux_reads_them() {
        let line = "console=ttyS0 virtio_mmio.device=512@0xfeb00e00:12 virtio_mmio.device=4K@0xd0000000:5:3 virtio_mmio.device=bad";
        assert_eq!(
            virtio_mmio_devices(line),
            [
                VirtioMmio {
                    size: 512,
                    base: 0xfeb0_0e00,
                    irq: 12
                },
                VirtioMmio {
                    size: 4096,
                    base: 0xd000_0000,
                    irq: 5
                }
            ]
        );
        assert!(virtio_mmio_devices("quiet").is_empty());
    }

    #[test]
    fn quotes_group_spaces_and_are_removed() {
        assert_eq!(
            words(r#"console=ttyS0 kiln.rc="echo a  b; poweroff 3" quiet"#),
            ["console=ttyS0", "kiln.rc=echo a  b; poweroff 3", "quiet"]
        );
        assert_eq!(words(r#""kiln.rc=echo x""#), ["kiln.rc=echo x"]);
        assert_eq!(words("  a   b "), ["a", "b"]);
        assert_eq!(words(r#"a "b c"#), ["a", "b c"]);
        assert!(words("").is_empty());
    }

    #[test]
    fn the_last_value_of_a_key_wins() {
        let line = r#"kiln.rc=one kiln.rc="two words" other=1"#;
        assert_eq!(value(line, "kiln.rc=").as_deref(), Some("two words"));
        assert_eq!(value(line, "nope="), None);
        assert_eq!(value("kiln.rc=", "kiln.rc=").as_deref(), Some(""));
    }
}
