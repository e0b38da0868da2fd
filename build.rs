//! Builds the kiln image (crate `kiln-board`, in its own cargo invocation and target
//! directory, exactly as the launcher does at run time: src/image.rs) and hands it to
//! the launcher, which carries it: `kiln bake` then packages programs, files and an rc
//! script with no Rust toolchain (src/bake.rs).

#[allow(dead_code)]
#[path = "src/image.rs"]
mod image;
#[allow(dead_code)]
#[path = "src/symbols.rs"]
mod symbols;

fn main() {
    for input in [
        "board",
        "bundle",
        "init",
        "linux",
        "shell",
        "utils",
        "files",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={input}");
    }
    let built = image::build(true).unwrap_or_else(|why| panic!("{why}"));
    let out =
        std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("kiln-boot.elf");
    std::fs::copy(&built, &out)
        .unwrap_or_else(|e| panic!("copying {} to {}: {e}", built.display(), out.display()));
    println!("cargo:rustc-env=KILN_BASE_IMAGE={}", out.display());
}
