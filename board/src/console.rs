//! A minimal console loop on serial: `kiln> `, backspace, lines run through init's
//! interpreter. A stand-in until the kiln-shell session is wired in.

use alloc::string::String;

use kiln_init::exec::{Flow, Hooks, Interpreter};

use crate::{kprint, kprintln, serial};

const PROMPT: &str = "kiln> ";
const MAX_LINE: usize = 1024;
const BACKSPACE: u8 = 0x08;
const DELETE: u8 = 0x7F;

/// Runs the console until a line powers off.
pub fn run(interp: &mut Interpreter, hooks: &mut dyn Hooks) -> Flow {
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
                        match interp.run_text("shell", &line, hooks) {
                            Ok(Flow::Power(action)) => return Flow::Power(action),
                            Ok(Flow::Normal(_)) => {}
                            Err(error) => kprintln!("{}", error.render(&line)),
                        }
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
