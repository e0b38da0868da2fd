//! From QEMU's exit to the guest's power-off status.
//!
//! The guest writes its status S to QEMU's `isa-debug-exit` device, and QEMU exits
//! with `(S << 1) | 1`, truncated to 8 bits by the OS. So an odd exit code C gives
//! `S = C >> 1`, exact for 0-127. The guest also prints `kiln: power off (status S)`
//! just before; when that line was seen, its S is used, which is exact for 0-255.

/// The line the guest prints before powering off.
pub const POWER_OFF_MARKER: &str = "kiln: power off (status ";

/// Finds the status in the guest's last power-off line, if any.
pub fn from_transcript(transcript: &str) -> Option<u8> {
    let start = transcript.rfind(POWER_OFF_MARKER)? + POWER_OFF_MARKER.len();
    let rest = &transcript[start..];
    let end = rest.find(')')?;
    rest[..end].parse().ok()
}

/// The guest's status from QEMU's exit code and what it printed.
///
/// `None` when QEMU ended without the guest powering off (killed, crashed, or QEMU's
/// own error, which exits 1 with nothing from the guest).
pub fn guest_status(qemu_exit_code: Option<i32>, transcript: &str) -> Option<u8> {
    let code = qemu_exit_code?;
    if code & 1 == 0 {
        return None;
    }
    let from_code = ((code & 0xFF) >> 1) as u8;
    match from_transcript(transcript) {
        Some(printed) if printed & 0x7F == from_code => Some(printed),
        _ => Some(from_code),
    }
}

/// The guest's status on a machine without `isa-debug-exit` (Firecracker's shape): the
/// guest stops by a reset QEMU obeys (`-no-reboot`, exit code 0), so the status is the
/// one in its power-off line, when that line is the last thing it printed.
pub fn guest_status_from_line(qemu_exit_code: Option<i32>, transcript: &str) -> Option<u8> {
    if qemu_exit_code != Some(0) {
        return None;
    }
    let last = transcript.trim_end().rsplit('\n').next()?;
    if !last.trim_start().starts_with(POWER_OFF_MARKER) {
        return None;
    }
    from_transcript(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_the_exit_device_the_last_line_says() {
        let off = "kiln> poweroff 9\r\nkiln: power off (status 9)\r\n";
        assert_eq!(guest_status_from_line(Some(0), off), Some(9));
        assert_eq!(guest_status_from_line(Some(1), off), None);
        assert_eq!(guest_status_from_line(None, off), None);
        let rebooted = "kiln: power off (status 9)\r\nkiln> reboot\r\nkiln: reboot\r\n";
        assert_eq!(guest_status_from_line(Some(0), rebooted), None);
    }

    #[test]
    fn decodes_odd_exit_codes() {
        assert_eq!(guest_status(Some(15), ""), Some(7));
        assert_eq!(guest_status(Some(1), ""), Some(0));
        assert_eq!(guest_status(Some(0), ""), None);
        assert_eq!(guest_status(None, ""), None);
    }

    #[test]
    fn the_printed_status_restores_the_high_bit() {
        let transcript = "x\r\nkiln: power off (status 200)\r\n";
        assert_eq!(from_transcript(transcript), Some(200));
        // 200 << 1 | 1 = 401, truncated to 8 bits = 145.
        assert_eq!(guest_status(Some(145), transcript), Some(200));
        // A stale line that disagrees with the exit code is ignored.
        assert_eq!(guest_status(Some(7), transcript), Some(3));
    }
}
