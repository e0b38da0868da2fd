//! Links the image freestanding (see docs/ARCHITECTURE.md, "Build recipe") and embeds `files/`.

use std::{env, fs, path::PathBuf};

fn main() {
    let board = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let script = board.join("linker.ld");
    // One argument a line; `kiln bake --crate` links its images with the same ones.
    let args = board.join("link-args.txt");
    println!("cargo:rerun-if-changed={}", args.display());
    for arg in fs::read_to_string(&args)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
    {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    println!("cargo:rerun-if-changed={}", script.display());

    // Baked files: every file in the repo's files/ folder, sorted by name.
    let files_dir = board.join("../files");
    println!("cargo:rerun-if-changed={}", files_dir.display());
    let mut names: Vec<String> = fs::read_dir(&files_dir)
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut table = String::from("&[\n");
    for name in &names {
        let path = files_dir.join(name).canonicalize().unwrap();
        println!("cargo:rerun-if-changed={}", path.display());
        table.push_str(&format!(
            "    BakedFile {{ name: {name:?}, contents: include_bytes!({:?}) }},\n",
            path.display().to_string()
        ));
    }
    table.push(']');
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("baked_files.rs");
    fs::write(out, table).unwrap();
}
