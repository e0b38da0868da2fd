//! The one duration grammar, for rc (`timeout`, `start --timeout`, `respawn --delay`)
//! and for the programs (`sleep`, `memstat --every`, `burn`, ...).
//!
//! `NUMBER [UNIT]`: NUMBER is decimal digits with an optional fraction (`5`, `1.5`,
//! `.5`, `5.`), as coreutils' `sleep` accepts; UNIT is `ms`, `s`, `m`, `h` or `d`, and
//! no unit means seconds. The result is rounded down to whole nanoseconds. Anything
//! else, a sign, spaces or a value that does not fit a `Duration`, is `None`.

use core::time::Duration;

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// Nanoseconds in one `unit`.
fn unit_nanos(unit: Option<&str>) -> u128 {
    match unit {
        Some("ms") => 1_000_000,
        Some("m") => 60 * NANOS_PER_SECOND,
        Some("h") => 3_600 * NANOS_PER_SECOND,
        Some("d") => 86_400 * NANOS_PER_SECOND,
        _ => NANOS_PER_SECOND,
    }
}

/// Parses a duration (see the module docs).
pub fn parse_duration(text: &str) -> Option<Duration> {
    // The number is the leading digits and dots; the unit is the rest, whole.
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(number_end);
    let unit = match unit {
        "" => None,
        "ms" | "s" | "m" | "h" | "d" => Some(unit),
        _ => return None,
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return None;
    }
    let scale = unit_nanos(unit);
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut nanos = whole.checked_mul(scale)?;
    // The fraction as an integer over 10^digits (20 digits are far below a nanosecond
    // of a day, and keep the product within u128).
    let digits = &fraction[..fraction.len().min(20)];
    if !digits.is_empty() {
        let numerator: u128 = digits.parse().ok()?;
        nanos = nanos.checked_add(numerator * scale / 10u128.pow(digits.len() as u32))?;
    }
    let seconds = u64::try_from(nanos / NANOS_PER_SECOND).ok()?;
    Some(Duration::new(seconds, (nanos % NANOS_PER_SECOND) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_and_no_unit() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("0ms"), Some(Duration::ZERO));
    }

    #[test]
    fn fractions_as_coreutils_takes_them() {
        assert_eq!(parse_duration("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration(".5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5."), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("0.25m"), Some(Duration::from_secs(15)));
        assert_eq!(parse_duration("1.5ms"), Some(Duration::from_micros(1500)));
        assert_eq!(
            parse_duration("0.0000000019"),
            Some(Duration::from_nanos(1)),
            "rounded down to nanoseconds"
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "s",
            ".",
            ".s",
            "5x",
            "1.5x",
            "99999999999999999999",
            "-1",
            "+1",
            "5 s",
            " 5",
            "ms5",
            "5sm",
            "1.2.3",
            "1,5",
            "99999999999999999999999999",
            "18446744073709551616",
            "18446744073709551615h",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
        assert_eq!(
            parse_duration("18446744073709551615"),
            Some(Duration::from_secs(u64::MAX))
        );
    }
}
