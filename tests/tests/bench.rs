//! `cargo run --release -- bench --quick` runs and produces every figure.
//!
//! This checks that each figure is there (a key with a value in the report's
//! machine-readable block), never what the figures are: no test asserts a wall-clock
//! time. The quick mode still builds and boots the Linux + BusyBox peer (its Debian
//! packages are fetched with apt-get once and cached under `target/bench/peer/`).

use std::process::Command;

use kiln::image;

/// Every figure the report must carry (`KEY = VALUE` lines). Boot keys are checked for
/// TCG on both machine types; KVM is measured only where it works.
fn expected_keys() -> Vec<String> {
    let mut keys = vec!["kvm.measured".to_string()];
    // pc_seabios is there when qboot is (then pc is qboot).
    let mut machines = vec!["pc", "microvm"];
    if std::path::Path::new(kiln::qemu::QBOOT).is_file() {
        machines.push("pc_seabios");
    }
    for machine in &machines {
        for guest in ["floor", "kiln", "kiln_stripped", "peer"] {
            for stat in ["median", "min", "max", "runs"] {
                keys.push(format!("boot.{machine}.tcg.{guest}.{stat}"));
            }
        }
        keys.push(format!("boot.{machine}.tcg.kiln_share_ms"));
        keys.push(format!("boot.{machine}.tcg.kiln_floor_ratio"));
        keys.push(format!("boot.{machine}.tcg.ratio"));
    }
    machines.push("firecracker");
    for machine in &machines {
        for phase in kiln::BOOT_PHASES {
            keys.push(format!("bootstats.{machine}.{phase}_ms"));
        }
    }
    // Firecracker's shape: kiln only.
    for guest in ["floor", "kiln", "kiln_stripped"] {
        for stat in ["median", "min", "max", "runs"] {
            keys.push(format!("boot.firecracker.tcg.{guest}.{stat}"));
        }
    }
    keys.push("boot.microvm.tcg.peer_plain_hung".into());
    for key in [
        "size.kiln.stripped_bytes",
        "size.kiln_no_utils.stripped_bytes",
        "size.peer.vmlinuz_bytes",
        "size.peer.initramfs_bytes",
        "size.peer.total_bytes",
        "ram.kiln.mib",
        "ram.peer.mib",
        "sleepers.jobs",
        "sleepers.delta_bytes",
        "sleepers.per_job_bytes",
        "rc_parse.mb_s.median",
        "rc_parse.mb_s.min",
        "rc_parse.mb_s.max",
    ] {
        keys.push(key.into());
    }
    for test in ["spawn", "yield", "switch"] {
        for stat in ["p50", "p99", "min", "max", "samples"] {
            keys.push(format!("kbench.{test}_ns.{stat}"));
        }
    }
    for case in ["true_loop", "seq_wc", "md5sum"] {
        for stat in ["kiln_ms", "peer_ms", "ratio"] {
            keys.push(format!("elf.{case}.{stat}"));
        }
    }
    keys.push("elf.spawn_job.kiln_ns".into());
    for case in ["spawn_fork_exec", "spawn_fork_exec_min", "getpid"] {
        for stat in ["kiln_ns", "peer_ns", "ratio"] {
            keys.push(format!("elf.{case}.{stat}"));
        }
    }
    for count in [1, 10, 50] {
        for stat in ["median_ms", "image_bytes", "parts_bytes"] {
            keys.push(format!("bake.programs_{count}.{stat}"));
        }
    }
    keys.push("bake.one_file_50_names.image_bytes".into());
    for machine in ["pc", "microvm", "firecracker"] {
        for stat in ["p50", "p99", "min"] {
            keys.push(format!("tcp_rtt.{machine}.{stat}"));
        }
    }
    for case in ["sequential", "parallel", "parallel_ports", "transfer"] {
        for guest in ["kiln", "peer"] {
            keys.push(format!("net_load.{case}.{guest}"));
        }
    }
    for case in ["idle", "burners"] {
        for stat in ["p50", "p99", "min", "max"] {
            keys.push(format!("rtt.{case}.{stat}"));
        }
    }
    keys
}

#[test]
fn quick_bench_produces_every_figure() {
    let launcher = image::build_launcher().unwrap_or_else(|e| panic!("{e}"));
    let output = std::env::temp_dir().join(format!("kiln-bench-{}.md", std::process::id()));
    // A killed test process takes the launcher with it, and so its QEMUs.
    let status = kiln::child::die_with_parent(&mut Command::new(&launcher))
        .args(["bench", "--quick", "--output"])
        .arg(&output)
        .status()
        .expect("run the launcher");
    assert!(status.success(), "kiln bench --quick failed ({status})");
    let report = std::fs::read_to_string(&output).expect("the report was written");
    let _ = std::fs::remove_file(&output);

    for heading in ["## Machine", "nproc", "CPU", "QEMU", "date"] {
        assert!(
            report.contains(heading),
            "no {heading:?} in the report:\n{report}"
        );
    }
    let figures: Vec<(&str, &str)> = report
        .lines()
        .filter_map(|line| line.split_once(" = "))
        .collect();
    for key in expected_keys() {
        let value = figures
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.trim())
            .unwrap_or_else(|| panic!("figure {key} is missing from the report:\n{report}"));
        assert!(!value.is_empty(), "figure {key} has no value");
        if key != "kvm.measured" && !key.ends_with("peer_plain_hung") {
            assert!(
                value.parse::<f64>().is_ok(),
                "figure {key} is not a number: {value:?}"
            );
        }
    }
    // Each figure says how it was made.
    assert!(report.contains("```sh"), "no commands in the report");
    assert!(report.contains("cargo run --release -- bench"));
}
