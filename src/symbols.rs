//! Writes the compact symbol table into a built image (see `board/src/symbols.rs`).
//!
//! `nm` lists the image's functions (demangled, with sizes); the table is written into
//! the reserved area that starts with the magic bytes, in place: nothing moves, so gdb
//! and the debug information stay valid.

use std::path::Path;
use std::process::Command;

/// Must match `board/src/symbols.rs`.
const MAGIC: &[u8; 16] = b"KILN-SYMBOLS-v1\0";
const AREA_SIZE: usize = 96 * 1024;
const ENTRY: usize = 12;
/// Longer names are cut (Rust paths with generics can be very long).
const MAX_NAME: usize = 80;

/// One function of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub start: u32,
    pub size: u32,
    pub name: String,
}

/// Parses `nm -C -S -n --defined-only` output, keeping functions (`t`/`T`).
pub fn parse_nm(text: &str) -> Vec<Symbol> {
    let mut symbols: Vec<Symbol> = text
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(4, ' ');
            let address = u64::from_str_radix(fields.next()?, 16).ok()?;
            let (size, kind, name) = match (fields.next()?, fields.next()?, fields.next()) {
                (size, kind, Some(name)) if kind.len() == 1 => {
                    (u64::from_str_radix(size, 16).ok()?, kind, name)
                }
                (kind, name, None) if kind.len() == 1 => (0, kind, name),
                _ => return None,
            };
            if !matches!(kind, "t" | "T") {
                return None;
            }
            // Keep the end: it names the function (`<A as B>::method`).
            let chars: Vec<char> = name.chars().collect();
            let mut name: String = if chars.len() > MAX_NAME {
                let tail: String = chars[chars.len() - (MAX_NAME - 3)..].iter().collect();
                format!("...{tail}")
            } else {
                name.to_string()
            };
            name.retain(|c| c != '\0');
            Some(Symbol {
                start: u32::try_from(address).ok()?,
                size: u32::try_from(size).ok()?,
                name,
            })
        })
        .collect();
    symbols.sort_by_key(|s| s.start);
    symbols.dedup_by_key(|s| s.start);
    symbols
}

/// The table as the image reads it: magic, count, entries, names.
pub fn encode(symbols: &[Symbol]) -> Result<Vec<u8>, String> {
    let names_at = MAGIC.len() + 4 + symbols.len() * ENTRY;
    let mut table = Vec::with_capacity(AREA_SIZE);
    table.extend_from_slice(MAGIC);
    table.extend_from_slice(&(symbols.len() as u32).to_le_bytes());
    let mut names = Vec::new();
    for symbol in symbols {
        table.extend_from_slice(&symbol.start.to_le_bytes());
        table.extend_from_slice(&symbol.size.to_le_bytes());
        table.extend_from_slice(&((names_at + names.len()) as u32).to_le_bytes());
        names.extend_from_slice(symbol.name.as_bytes());
        names.push(0);
    }
    table.extend_from_slice(&names);
    if table.len() > AREA_SIZE {
        return Err(format!(
            "kiln: the symbol table needs {} bytes, the image reserves {AREA_SIZE}",
            table.len()
        ));
    }
    table.resize(AREA_SIZE, 0);
    Ok(table)
}

/// Lists the image's functions with `nm` and writes the table into it.
pub fn embed(image: &Path) -> Result<usize, String> {
    let output = Command::new("nm")
        .args(["-C", "-S", "-n", "--defined-only"])
        .arg(image)
        .output()
        .map_err(|e| format!("kiln: cannot run nm (binutils) for the symbol table: {e}"))?;
    if !output.status.success() {
        return Err(format!("kiln: nm failed on {}", image.display()));
    }
    let symbols = parse_nm(&String::from_utf8_lossy(&output.stdout));
    let table = encode(&symbols)?;
    let mut bytes = std::fs::read(image).map_err(|e| format!("kiln: reading the image: {e}"))?;
    let at = bytes
        .windows(MAGIC.len())
        .position(|w| w == MAGIC)
        .ok_or("kiln: the image has no symbol area")?;
    if bytes.len() < at + AREA_SIZE {
        return Err("kiln: the image's symbol area is cut short".into());
    }
    if bytes[at..at + AREA_SIZE] != table[..] {
        bytes[at..at + AREA_SIZE].copy_from_slice(&table);
        crate::image::replace_file(image, &bytes)
            .map_err(|e| format!("kiln: writing the image: {e}"))?;
    }
    Ok(symbols.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_functions_sorted_and_encodes_them() {
        let nm = "0000000000101000 T pvh_start\n\
                  0000000000132532 000000000000007f t kiln_utils::fw::main\n\
                  0000000000120000 0000000000000010 t early\n\
                  0000000000140000 0000000000000008 d some_data\n";
        let symbols = parse_nm(nm);
        let names: Vec<&str> = symbols.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["pvh_start", "early", "kiln_utils::fw::main"]);
        assert_eq!(symbols[2].size, 0x7f);
        let table = encode(&symbols).unwrap();
        assert_eq!(&table[..16], MAGIC);
        assert_eq!(u32::from_le_bytes(table[16..20].try_into().unwrap()), 3);
        let name_at = u32::from_le_bytes(table[28..32].try_into().unwrap()) as usize;
        assert_eq!(&table[name_at..name_at + 10], b"pvh_start\0");
    }

    #[test]
    fn a_table_too_large_is_an_error() {
        let symbols: Vec<Symbol> = (0..5000)
            .map(|i| Symbol {
                start: i,
                size: 1,
                name: "x".repeat(40),
            })
            .collect();
        assert!(encode(&symbols).is_err());
    }
}
