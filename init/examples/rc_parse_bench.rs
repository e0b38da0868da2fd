//! Parse throughput of the rc parser on a generated ~1 MiB script of realistic lines.
//!
//! Run: `cargo run --release -p kiln-init --example rc_parse_bench`. Prints MB/s (10^6 bytes
//! per second), the median of several runs.

use std::hint::black_box;
use std::time::Instant;

use kiln_init::rc::{MAX_SCRIPT_BYTES, parse};

/// Runs measured; the median is reported.
const RUNS: usize = 15;
/// The generated script stays just under the parser's size limit.
const TARGET_BYTES: usize = MAX_SCRIPT_BYTES - 4096;

const NAMES: [&str; 8] = [
    "fw", "httpd", "memstat", "producer", "consumer", "logger", "echo", "netcfg",
];

/// Realistic rc lines; `{n}` is replaced by a line number so lines differ.
const LINES: &[&str] = &[
    "# bring up the network, then the services ({n})",
    "fw load default",
    "netcfg --address 10.0.{n}.2/24 --gateway 10.0.0.1",
    "LEVEL=debug httpd --port 80{n} --root /srv/www &",
    "memstat --every 1s &",
    "producer --count {n} | consumer --quiet",
    "fw check && httpd --port 8080 || poweroff 3",
    "prog_{n}=1; { echo \"starting $HOST job {n}\" & logger -t boot & wait; }",
    "if fw check; then echo 'firewall ok'; else echo \"firewall bad: $?\"; fi",
    "start --timeout 5s httpd --port 443 --cert /etc/cert.pem",
    "respawn --max 3 --delay 500ms logger --target ${LOG_HOST}:514",
    "timeout 2m fw update --from \"$MIRROR/rules-{n}.txt\"",
    "export PATH_{n}=/bin; unset PATH_{n}",
    "wait %1 httpd",
];

fn generate() -> String {
    let mut text = String::with_capacity(TARGET_BYTES);
    let mut n = 0usize;
    'fill: loop {
        for line in LINES {
            let line = line.replace("{n}", &n.to_string());
            if text.len() + line.len() + 1 > TARGET_BYTES {
                break 'fill;
            }
            text.push_str(&line);
            text.push('\n');
            n += 1;
        }
    }
    text
}

fn main() {
    let text = generate();
    let lines = text.lines().count();
    let script = parse("bench", &text, &NAMES).unwrap_or_else(|e| panic!("{}", e.render(&text)));
    println!(
        "script: {} bytes, {lines} lines, {} items",
        text.len(),
        script.items.len()
    );
    let mut rates: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let script = black_box(parse("bench", black_box(&text), &NAMES));
            let elapsed = start.elapsed().as_secs_f64();
            drop(black_box(script));
            text.len() as f64 / elapsed / 1e6
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    let median = rates[RUNS / 2];
    println!(
        "rc parse: {median:.1} MB/s (median of {RUNS}; min {:.1}, max {:.1})",
        rates[0],
        rates[RUNS - 1]
    );
}
