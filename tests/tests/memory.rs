//! Nothing is lost: every job's memory comes back when it ends, however it ends.
//!
//! Each test measures a slope, never a percentage: after a warm-up, the heap's `used=`
//! and `largest_free=` after N and after 3N runs of the same command are compared.

use kiln_tests::Vm;

/// `used=` and `largest_free=` of a `memstat` line.
fn heap(vm: &mut Vm) -> (i64, i64) {
    let line = vm.run("memstat");
    let field = |name: &str| -> i64 {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(name))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line:?}"))
    };
    (field("used="), field("largest_free="))
}

#[test]
fn explore() {
    let (mut vm, _rc) = Vm::boot_shell();
    for cmd in [
        "true",
        "crash panic",
        "crash divzero",
        "crash stack",
        "crash oom",
    ] {
        vm.run(&format!("repeat 3 {cmd}"));
        let a = heap(&mut vm);
        vm.run(&format!("repeat 20 {cmd}"));
        let b = heap(&mut vm);
        vm.run(&format!("repeat 40 {cmd}"));
        let c = heap(&mut vm);
        eprintln!("{cmd}: {a:?} {b:?} {c:?}");
    }
}
