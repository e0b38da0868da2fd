//! A minimal console loop on serial: banner, `kiln> `, line editing with backspace,
//! `echo` and `poweroff`. The real shell (kiln-shell) replaces it.

use alloc::string::String;

use crate::{kprint, kprintln, power, serial};

const PROMPT: &str = "kiln> ";
const MAX_LINE: usize = 1024;
const BACKSPACE: u8 = 0x08;
const DELETE: u8 = 0x7F;

/// Runs the console until `poweroff`.
pub fn run() -> ! {
    kprint!("{PROMPT}");
    let mut line = String::new();
    let mut too_long = false;
    let mut buf = [0u8; 64];
    loop {
        let n = serial::read_blocking(&mut buf);
        for &byte in &buf[..n] {
            match byte {
                b'\r' | b'\n' => {
                    kprintln!();
                    if too_long {
                        kprintln!("kiln: line too long (max {MAX_LINE} bytes), discarded");
                    } else {
                        execute(&line);
                    }
                    line.clear();
                    too_long = false;
                    kprint!("{PROMPT}");
                }
                BACKSPACE | DELETE => {
                    if line.pop().is_some() {
                        kprint!("\x08 \x08");
                    }
                }
                0x20..=0x7E if !too_long => {
                    if line.len() >= MAX_LINE {
                        too_long = true;
                    } else {
                        line.push(byte as char);
                        serial::write_bytes(&[byte]);
                    }
                }
                _ => {}
            }
        }
    }
}

fn execute(line: &str) {
    let mut words = line.split_whitespace();
    match words.next() {
        None => {}
        Some("echo") => {
            let mut first = true;
            for word in words {
                if !first {
                    kprint!(" ");
                }
                kprint!("{word}");
                first = false;
            }
            kprintln!();
        }
        Some("poweroff") => match words.next().map(str::parse::<u8>) {
            None => power::power_off(0),
            Some(Ok(status)) => power::power_off(status),
            Some(Err(_)) => kprintln!("poweroff: bad status (use 0-255)"),
        },
        Some(other) => kprintln!("kiln: unknown command '{other}'"),
    }
}
