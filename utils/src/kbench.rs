//! `kbench TEST [N]`: in-image micro-benchmarks for the launcher's `bench` command
//! (`src/bench.rs`), printed as one machine-readable line each:
//!
//! - `kbench spawn [N]` (N = 1000): N jobs of a tiny program, started one after another
//!   through a [`JobTable`] of its own — init's real job path (`JobTable::spawn`,
//!   `Job::new`, `launch`, `Platform::spawn`, `program_task`, the program's `Context`).
//!   A sample runs from just before `JobTable::spawn` to the tiny program's first
//!   instruction, which reads the clock and sends the reading back through its stdout.
//!   Prints `kbench spawn_ns p50=.. p99=.. min=.. max=.. n=N`.
//!   `kbench spawn N PROGRAM` spawns the baked PROGRAM instead, which must do the same:
//!   write the TSC it read at its first instruction to stdout (8 bytes, little-endian),
//!   as the bench's ELF `first-instruction` does (tests/programs/first_instruction.c).
//! - `kbench yield [N]` (N = 1000): two jobs ping-pong with `yield_now`; a sample is a
//!   batch of [`YIELD_BATCH`] round trips divided by the yields in it (two per round
//!   trip). Prints `kbench yield_ns ...`.
//! - `kbench switch [N]` (N = 1000 ms): two busy jobs read the clock in a loop and note
//!   every gap; a switch from A to B is A's last reading before a gap to B's first
//!   reading after its own gap ends inside A's. Prints `kbench switch_ns ...`.
//! - `kbench sleepers [N]` (N = 1000): heap used before and after N `sleep 1h` jobs are
//!   started and parked. Prints `kbench memory n=N before=.. after=.. delta=..
//!   per_job=..` (bytes), then cancels and joins them.
//!
//! Time is `Platform::now()`, which board refines with the TSC between timer ticks;
//! kbench first waits until the clock is calibrated ([`CALIBRATED_AFTER`]).

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use core::time::Duration;

use kiln_init::jobs::{Job, JobTable, ProgramRun, Stdio, Task, program_task};
use kiln_init::platform::{Platform, kernel_owned};
use kiln_init::program::{
    ByteSink, Context, Input, IoError, JobLink, Output, Program, Status, find,
};

use crate::cli::{self, Error, STATUS_OK};

pub const PROGRAM: Program = Program {
    name: "kbench",
    about: "in-image benchmarks: job spawn, yield, preemptive switch, sleeping jobs",
    usage: "usage: kbench spawn|yield|switch|sleepers [N]\n       kbench spawn N PROGRAM\n  spawn N jobs (1000), N yield batches (1000), switch for N ms (1000), N sleeping jobs (1000);\n  PROGRAM: a baked program that writes the TSC at its first instruction to stdout",
    main,
};

/// The default N of every test.
const DEFAULT_COUNT: u64 = 1000;
/// The board's clock has TSC resolution once 100 ticks have passed; wait a little more.
const CALIBRATED_AFTER: Duration = Duration::from_millis(250);
/// Round trips per `yield` sample.
const YIELD_BATCH: u64 = 10;
/// A clock gap longer than this in `switch` is noted (the thread was off the CPU).
const SWITCH_GAP_NS: u64 = 1_000;
/// Gaps each `switch` thread can note.
const SWITCH_GAPS_MAX: usize = 16 * 1024;
/// How long `sleepers` lets its jobs reach their first park.
const SLEEPERS_SETTLE: Duration = Duration::from_millis(300);

/// The tiny program `spawn` runs: its first act is to read the clock.
static SPAWNEE: Program = Program {
    name: "kbench-spawnee",
    about: "reports the time it started on stdout",
    usage: "usage: kbench-spawnee",
    main: spawnee,
};

fn spawnee(ctx: &mut Context<'_>) -> Status {
    // The same source as `Clock`: the TSC where there is one, else `now()`.
    let first = match (ctx.platform.cycles(), ctx.platform.cycles_per_second()) {
        (Some(cycles), Some(hz)) if hz > 0 => cycles,
        _ => ns(ctx.platform.now()),
    };
    let bytes = first.to_le_bytes();
    let _ = embedded_io::Write::write_all(&mut ctx.out(), &bytes);
    STATUS_OK
}

#[inline(never)]
pub fn main(ctx: &mut Context<'_>) -> Status {
    cli::run(ctx, &PROGRAM, body)
}

fn body(ctx: &mut Context<'_>) -> cli::Result<Status> {
    let (test, rest) = ctx
        .args()
        .split_first()
        .ok_or_else(|| Error::missing("missing test name"))?;
    let test = test.clone();
    let parse_count = |n: &String| {
        n.parse::<u64>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| Error::usage("not a positive count", n))
    };
    let (count, spawnee) = match rest {
        [] => (DEFAULT_COUNT, None),
        [n] => (parse_count(n)?, None),
        [n, name] if test == "spawn" => {
            let program =
                find(ctx.programs, name).ok_or_else(|| Error::usage("no such program", name))?;
            (parse_count(n)?, Some(program))
        }
        [_, extra, ..] => return Err(Error::usage("unexpected argument", extra)),
    };
    let platform = ctx
        .platform
        .shared()
        .ok_or_else(|| Error::failed("this platform cannot run jobs of kbench's own"))?;
    while platform.now() < CALIBRATED_AFTER {
        ctx.sleep(CALIBRATED_AFTER - platform.now())?;
    }
    let clock = Clock::new(platform);
    let source = clock.source();
    let line = match test.as_str() {
        "spawn" => summary(
            "spawn_ns",
            spawn(ctx, clock, count, spawnee.unwrap_or(&SPAWNEE))?,
            source,
        ),
        "yield" => summary("yield_ns", yield_pingpong(clock, count)?, source),
        "switch" => summary(
            "switch_ns",
            switches(clock, Duration::from_millis(count))?,
            source,
        ),
        "sleepers" => sleepers(ctx, platform, count)?,
        other => return Err(Error::usage("unknown test", other)),
    };
    cli::write_str(&mut ctx.out(), &line)?;
    Ok(STATUS_OK)
}

fn ns(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Timestamps for samples: raw TSC cycles where the platform has them (`now()` clamps
/// to the tick while a tick is pending, which would hide short intervals), else `now()`.
#[derive(Clone, Copy)]
struct Clock {
    platform: &'static dyn Platform,
    /// TSC cycles per second; `None` reads `now()` in nanoseconds.
    hz: Option<u64>,
}

impl Clock {
    fn new(platform: &'static dyn Platform) -> Clock {
        let hz = platform
            .cycles_per_second()
            .filter(|&hz| hz > 0 && platform.cycles().is_some());
        Clock { platform, hz }
    }

    /// A timestamp in clock units.
    fn read(&self) -> u64 {
        match self.hz {
            Some(_) => self.platform.cycles().unwrap_or(0),
            None => ns(self.platform.now()),
        }
    }

    /// Clock units to nanoseconds.
    fn units_to_ns(&self, units: u64) -> u64 {
        match self.hz {
            Some(hz) => (u128::from(units) * 1_000_000_000 / u128::from(hz)) as u64,
            None => units,
        }
    }

    /// Nanoseconds to clock units.
    fn ns_to_units(&self, nanos: u64) -> u64 {
        match self.hz {
            Some(hz) => (u128::from(nanos) * u128::from(hz) / 1_000_000_000) as u64,
            None => nanos,
        }
    }

    /// What the samples are timed with, for the output line.
    fn source(&self) -> &'static str {
        if self.hz.is_some() { "tsc" } else { "now" }
    }
}

fn spawn_error(error: kiln_init::jobs::Error) -> Error {
    Error::failed(error)
}

/// `kbench NAME p50=.. p99=.. min=.. max=.. n=..` for `samples` (nanoseconds).
fn summary(name: &str, mut samples: Vec<u64>, clock: &str) -> String {
    samples.sort_unstable();
    let n = samples.len();
    if n == 0 {
        return alloc::format!("kbench {name} n=0 clock={clock}\n");
    }
    let at = |q: usize| samples[(n * q / 100).min(n - 1)];
    alloc::format!(
        "kbench {name} p50={} p99={} min={} max={} n={n} clock={clock}\n",
        at(50),
        at(99),
        samples[0],
        samples[n - 1]
    )
}

/// Collects what the spawnee writes: its first-instruction time. A fixed buffer: a
/// program's allocations are reclaimed when it ends, so what one job hands another must
/// not be memory it allocated (docs/ARCHITECTURE.md, "Memory ownership").
struct Stamp {
    bytes: spin::Mutex<heapless::Vec<u8, STAMP_BYTES>>,
}

/// The bytes of a stamp (a little-endian u64).
const STAMP_BYTES: usize = 8;

impl ByteSink for Stamp {
    fn write(&self, bytes: &[u8], _job: &dyn JobLink) -> Result<usize, IoError> {
        let mut stamp = self.bytes.lock();
        for &byte in bytes {
            let _ = stamp.push(byte);
        }
        Ok(bytes.len())
    }

    fn close(&self) {}
}

impl Stamp {
    fn take(&self) -> Option<u64> {
        let mut bytes = self.bytes.lock();
        let stamp = <[u8; 8]>::try_from(bytes.as_slice())
            .ok()
            .map(u64::from_le_bytes);
        bytes.clear();
        stamp
    }
}

fn spawn(
    ctx: &Context<'_>,
    clock: Clock,
    count: u64,
    spawnee: &'static Program,
) -> cli::Result<Vec<u64>> {
    let table = JobTable::new(clock.platform);
    let stamp = Arc::new(Stamp {
        bytes: spin::Mutex::new(heapless::Vec::new()),
    });
    let run = ProgramRun {
        program: spawnee,
        env: Vec::new(),
        stdio: Stdio {
            stdin: Input::Null,
            stdout: Output::Sink(stamp.clone()),
            stderr: Output::Null,
        },
        files: ctx.files,
        programs: ctx.programs,
    };
    let mut samples = Vec::with_capacity(count as usize);
    for _ in 0..count {
        if ctx.is_cancelled() {
            return Err(IoError::Interrupted.into());
        }
        let issued = clock.read();
        // The job outlives nothing of kbench's: what it is built from is the kernel's.
        let job = kernel_owned(clock.platform, || {
            let argv = vec![String::from(spawnee.name)];
            table.spawn(spawnee.name, argv, program_task(run.clone()), Vec::new())
        })
        .map_err(spawn_error)?;
        job.join();
        table.forget(job.id());
        let first = stamp
            .take()
            .ok_or_else(|| Error::failed("the spawned job reported no start time"))?;
        samples.push(clock.units_to_ns(first.saturating_sub(issued)));
    }
    Ok(samples)
}

/// Starts `task` as a job of `table`: kbench's own helper, run as a kernel thread, so
/// the samples it hands to kbench are kernel memory, not reclaimed when it ends.
fn start(
    table: &JobTable,
    platform: &'static dyn Platform,
    name: &str,
    task: impl FnOnce(&Arc<Job>) -> Status + Send + 'static,
) -> cli::Result<Arc<Job>> {
    kernel_owned(platform, || {
        let mut task = Some(task);
        let task = Task::kernel(move |job| task.take().map_or(0, |task| task(job)));
        table.spawn(name, vec![String::from(name)], task, Vec::new())
    })
    .map_err(spawn_error)
}

fn yield_pingpong(clock: Clock, batches: u64) -> cli::Result<Vec<u64>> {
    let platform = clock.platform;
    let table = JobTable::new(platform);
    let started = Arc::new(AtomicU32::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(spin::Mutex::new(Vec::with_capacity(batches as usize)));
    let ping = {
        let (started, done, samples) = (started.clone(), done.clone(), samples.clone());
        start(&table, platform, "kbench-ping", move |_| {
            barrier(platform, &started);
            let mut local = Vec::with_capacity(batches as usize);
            for _ in 0..batches {
                let before = clock.read();
                for _ in 0..YIELD_BATCH {
                    platform.yield_now();
                }
                let elapsed = clock.units_to_ns(clock.read().saturating_sub(before));
                // Each round trip is two yields: ping's and pong's.
                local.push(elapsed / (2 * YIELD_BATCH));
            }
            done.store(true, Ordering::SeqCst);
            *samples.lock() = local;
            STATUS_OK
        })?
    };
    let pong = {
        let (started, done) = (started.clone(), done.clone());
        start(&table, platform, "kbench-pong", move |_| {
            barrier(platform, &started);
            while !done.load(Ordering::SeqCst) {
                platform.yield_now();
            }
            STATUS_OK
        })?
    };
    ping.join();
    pong.join();
    let result = core::mem::take(&mut *samples.lock());
    Ok(result)
}

/// Waits until both ping-pong jobs run, so neither measures the other's start.
fn barrier(platform: &dyn Platform, started: &AtomicU32) {
    started.fetch_add(1, Ordering::SeqCst);
    while started.load(Ordering::SeqCst) < 2 {
        platform.yield_now();
    }
}

/// A busy loop that reads the clock until `end` and notes every gap (start, end).
fn busy_gaps(clock: Clock, end: u64) -> Vec<(u64, u64)> {
    let gap = clock.ns_to_units(SWITCH_GAP_NS);
    let mut gaps = Vec::with_capacity(SWITCH_GAPS_MAX);
    let mut last = clock.read();
    while last < end {
        let now = clock.read();
        if now.saturating_sub(last) > gap && gaps.len() < SWITCH_GAPS_MAX {
            gaps.push((last, now));
        }
        last = now;
    }
    gaps
}

/// Switch latencies into `to` (in clock units): a gap of `to` ends with a switch from
/// `from` when `from` stopped inside it and was still off the CPU when `to` resumed;
/// the switch runs from `from`'s last reading to `to`'s first. (A gap of `to` that
/// `from` did not run in, e.g. a plain timer tick, has no such gap of `from`.)
fn match_switches(from: &[(u64, u64)], to: &[(u64, u64)], samples: &mut Vec<u64>) {
    for &(stopped, resumed) in to {
        if let Some(&(left, _)) = from
            .iter()
            .find(|&&(left, back)| stopped < left && left < resumed && resumed < back)
        {
            samples.push(resumed - left);
        }
    }
}

fn switches(clock: Clock, duration: Duration) -> cli::Result<Vec<u64>> {
    let table = JobTable::new(clock.platform);
    let end = clock.read() + clock.ns_to_units(ns(duration));
    let mut jobs = Vec::new();
    let mut results = Vec::new();
    for name in ["kbench-busy-a", "kbench-busy-b"] {
        let result = Arc::new(spin::Mutex::new(Vec::new()));
        let out = result.clone();
        jobs.push(start(&table, clock.platform, name, move |_| {
            *out.lock() = busy_gaps(clock, end);
            STATUS_OK
        })?);
        results.push(result);
    }
    for job in &jobs {
        job.join();
    }
    let a = core::mem::take(&mut *results[0].lock());
    let b = core::mem::take(&mut *results[1].lock());
    let mut samples = Vec::new();
    match_switches(&a, &b, &mut samples);
    match_switches(&b, &a, &mut samples);
    Ok(samples
        .into_iter()
        .map(|units| clock.units_to_ns(units))
        .collect())
}

fn sleepers(ctx: &Context<'_>, platform: &'static dyn Platform, count: u64) -> cli::Result<String> {
    let sleep = find(ctx.programs, "sleep")
        .ok_or_else(|| Error::failed("no 'sleep' program is baked in"))?;
    let used = || platform.heap_stats().map(|s| s.used);
    let table = JobTable::new(platform);
    let run = ProgramRun {
        program: sleep,
        env: Vec::new(),
        stdio: Stdio {
            stdin: Input::Null,
            stdout: Output::Null,
            stderr: Output::Null,
        },
        files: ctx.files,
        programs: ctx.programs,
    };
    let before = used().ok_or_else(|| Error::failed("no heap statistics on this platform"))?;
    let mut jobs = Vec::with_capacity(count as usize);
    let mut failure = None;
    for _ in 0..count {
        let spawned = kernel_owned(platform, || {
            let argv = vec![String::from("sleep"), String::from("1h")];
            table.spawn("sleep", argv, program_task(run.clone()), Vec::new())
        });
        match spawned {
            Ok(job) => jobs.push(job),
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    let _ = ctx.sleep(SLEEPERS_SETTLE);
    let after = used().unwrap_or(before);
    let running = jobs.iter().filter(|j| !j.state().is_finished()).count();
    for job in &jobs {
        job.cancel();
    }
    for job in &jobs {
        job.join();
    }
    if let Some(error) = failure {
        return Err(Error::failed(alloc::format!(
            "started {} sleeping jobs, then: {error}",
            jobs.len()
        )));
    }
    let delta = after.saturating_sub(before);
    Ok(alloc::format!(
        "kbench memory n={running} before={before} after={after} delta={delta} per_job={}\n",
        delta / running.max(1)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_reports_percentiles() {
        let samples: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(
            summary("x_ns", samples, "tsc"),
            "kbench x_ns p50=51 p99=100 min=1 max=100 n=100 clock=tsc\n"
        );
    }

    #[test]
    fn switches_are_matched_to_the_gap_they_end() {
        // A ran until 100, B from 130 to 500, A again from 520; B also took a tick
        // (300 to 310) without a switch.
        let a = [(100, 520)];
        let b = [(10, 130), (300, 310), (500, 600)];
        let mut samples = Vec::new();
        match_switches(&a, &b, &mut samples);
        assert_eq!(samples, vec![30]);
    }
}
