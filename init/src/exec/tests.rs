//! Host tests of the interpreter and job control on the fake platform.
//!
//! The test programs below print what they saw (argv, env, simulated timestamps in
//! milliseconds) on their stdout, which is the test's [`FakeConsole`] unless piped;
//! simulated time makes every timestamp exact.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write as _;
use core::time::Duration;
use embedded_io::Read as _;

use super::*;
use crate::fake::{FakeConsole, FakePlatform};
use crate::jobs::JobState;
use crate::platform::{ThreadKind, closure_body};
use crate::program::{Context, IoError};

// ---- test programs --------------------------------------------------------------------

fn millis(ctx: &Context<'_>) -> u128 {
    ctx.now().as_millis()
}

fn arg_u64(ctx: &Context<'_>, index: usize) -> u64 {
    ctx.args()
        .get(index)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0)
}

/// `stamp NAME SECS [STATUS]`: prints `NAME start T`, sleeps, prints `NAME end T`.
fn stamp(ctx: &mut Context<'_>) -> Status {
    let name = ctx.args()[0].clone();
    let _ = writeln!(ctx.out(), "{name} start {}", millis(ctx));
    if ctx.sleep(Duration::from_secs(arg_u64(ctx, 1))).is_err() {
        return INTERRUPTED_STATUS;
    }
    let _ = writeln!(ctx.out(), "{name} end {}", millis(ctx));
    arg_u64(ctx, 2) as Status
}

/// `echo WORDS...`: the words joined by spaces.
fn echo(ctx: &mut Context<'_>) -> Status {
    let line = ctx.args().join(" ");
    let _ = writeln!(ctx.out(), "{line}");
    0
}

/// `argv ARGS...`: each argument in brackets, one line.
fn argv(ctx: &mut Context<'_>) -> Status {
    let mut line = String::new();
    for arg in ctx.args() {
        let _ = write!(line, "[{arg}]");
    }
    let _ = writeln!(ctx.out(), "{line}");
    0
}

/// `env NAMES...`: `NAME=value` or `NAME unset` for each.
fn env(ctx: &mut Context<'_>) -> Status {
    for name in ctx.args().to_vec() {
        let line = match ctx.var(&name) {
            Some(value) => format!("{name}={value}"),
            None => format!("{name} unset"),
        };
        let _ = writeln!(ctx.out(), "{line}");
    }
    0
}

fn r#true(_: &mut Context<'_>) -> Status {
    0
}

fn r#false(_: &mut Context<'_>) -> Status {
    1
}

/// `ret N`: exits with N.
fn ret(ctx: &mut Context<'_>) -> Status {
    arg_u64(ctx, 0) as Status
}

/// `now`: prints the time.
fn now(ctx: &mut Context<'_>) -> Status {
    let _ = writeln!(ctx.out(), "now {}", millis(ctx));
    0
}

/// `sleep SECS`: 130 if cancelled.
fn sleep(ctx: &mut Context<'_>) -> Status {
    match ctx.sleep(Duration::from_secs(arg_u64(ctx, 0))) {
        Ok(()) => 0,
        Err(_) => INTERRUPTED_STATUS,
    }
}

/// `server READY_SECS TOTAL_SECS`: ready after READY_SECS, exits after TOTAL_SECS.
fn server(ctx: &mut Context<'_>) -> Status {
    if ctx.sleep(Duration::from_secs(arg_u64(ctx, 0))).is_err() {
        return INTERRUPTED_STATUS;
    }
    ctx.ready();
    match ctx.sleep(Duration::from_secs(arg_u64(ctx, 1))) {
        Ok(()) => 0,
        Err(_) => INTERRUPTED_STATUS,
    }
}

/// The byte `producer` writes at `index`.
fn pattern(index: usize) -> u8 {
    b'a' + (index % 26) as u8
}

/// `producer N`: writes N pattern bytes, then `producer wrote N at T` on stderr.
fn producer(ctx: &mut Context<'_>) -> Status {
    let total = arg_u64(ctx, 0) as usize;
    let mut written = 0;
    while written < total {
        let chunk: Vec<u8> = (written..total.min(written + 1000)).map(pattern).collect();
        match embedded_io::Write::write(&mut ctx.out(), &chunk) {
            Ok(n) => written += n,
            Err(IoError::BrokenPipe) => {
                let _ = writeln!(ctx.err(), "producer: broken pipe after {written}");
                return 141;
            }
            Err(IoError::Interrupted) => return INTERRUPTED_STATUS,
        }
    }
    let _ = writeln!(ctx.err(), "producer wrote {written} at {}", millis(ctx));
    0
}

/// `slowreader CHUNK`: reads CHUNK bytes per millisecond until end of file; checks the
/// pattern; prints `read N ok at T`.
fn slowreader(ctx: &mut Context<'_>) -> Status {
    let chunk = arg_u64(ctx, 0) as usize;
    let mut buf = [0u8; 64];
    let mut total = 0;
    let mut intact = true;
    loop {
        match ctx.input().read(&mut buf[..chunk]) {
            Ok(0) => break,
            Ok(n) => {
                intact &= buf[..n]
                    .iter()
                    .enumerate()
                    .all(|(i, b)| *b == pattern(total + i));
                total += n;
            }
            Err(_) => return INTERRUPTED_STATUS,
        }
        if ctx.sleep(Duration::from_millis(1)).is_err() {
            return INTERRUPTED_STATUS;
        }
    }
    let verdict = if intact { "ok" } else { "corrupt" };
    let _ = writeln!(ctx.out(), "read {total} {verdict} at {}", millis(ctx));
    0
}

/// `head N`: reads N bytes, prints them, exits.
fn head(ctx: &mut Context<'_>) -> Status {
    let mut buf = alloc::vec![0u8; arg_u64(ctx, 0) as usize];
    if ctx.input().read_exact(&mut buf).is_err() {
        return 1;
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let _ = writeln!(ctx.out(), "head {text}");
    0
}

/// `upper`: copies stdin to stdout in upper case.
fn upper(ctx: &mut Context<'_>) -> Status {
    let mut buf = [0u8; 16];
    loop {
        match ctx.input().read(&mut buf) {
            Ok(0) => return 0,
            Ok(n) => {
                buf[..n].make_ascii_uppercase();
                if embedded_io::Write::write_all(&mut ctx.out(), &buf[..n]).is_err() {
                    return 1;
                }
            }
            Err(_) => return INTERRUPTED_STATUS,
        }
    }
}

/// `flaky`: prints `flaky run T` and fails with 3.
fn flaky(ctx: &mut Context<'_>) -> Status {
    let _ = writeln!(ctx.out(), "flaky run {}", millis(ctx));
    3
}

/// `stubborn`: ignores cancellation; only `kill -9` ends it.
fn stubborn(ctx: &mut Context<'_>) -> Status {
    loop {
        ctx.platform.park(None);
    }
}

/// `boom`: panics.
fn boom(_: &mut Context<'_>) -> Status {
    panic!("boom on purpose");
}

const fn program(name: &'static str, main: fn(&mut Context<'_>) -> Status) -> Program {
    Program {
        name,
        about: "",
        usage: "",
        main,
    }
}

static PROGRAMS: &[Program] = &[
    program("stamp", stamp),
    program("echo", echo),
    program("argv", argv),
    program("env", env),
    program("true", r#true),
    program("false", r#false),
    program("ret", ret),
    program("now", now),
    program("sleep", sleep),
    program("server", server),
    program("producer", producer),
    program("slowreader", slowreader),
    program("head", head),
    program("upper", upper),
    program("flaky", flaky),
    program("stubborn", stubborn),
    program("boom", boom),
];

static FILES: &[BakedFile] = &[
    BakedFile {
        name: "lib.rc",
        contents: b"export FROM_LIB=yes\necho sourced $GREETING\n",
    },
    BakedFile {
        name: "loop.rc",
        contents: b"source loop.rc\n",
    },
    BakedFile {
        name: "broken.rc",
        contents: b"echo ok\nnosuchprog\n",
    },
];

// ---- the rig --------------------------------------------------------------------------

struct Rig {
    fake: &'static FakePlatform,
    console: Arc<FakeConsole>,
    interp: Interpreter,
}

fn rig() -> Rig {
    let fake = FakePlatform::leaked();
    let console = FakeConsole::new();
    let interp = Interpreter::new(fake, PROGRAMS, FILES, console.clone());
    Rig {
        fake,
        console,
        interp,
    }
}

impl Rig {
    fn run(&mut self, text: &str) -> Flow {
        self.run_with(text, &mut NoHooks)
    }

    fn run_with(&mut self, text: &str, hooks: &mut dyn Hooks) -> Flow {
        match self.interp.run_text("test", text, hooks) {
            Ok(flow) => flow,
            Err(error) => panic!("{}", error.render(text)),
        }
    }

    fn lines(&self) -> Vec<String> {
        self.console.lines()
    }

    /// The time printed on the line `"{prefix} T"`.
    fn time_of(&self, prefix: &str) -> u128 {
        let lines = self.lines();
        let line = lines
            .iter()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting with {prefix:?} in {lines:#?}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    fn now_ms(&self) -> u128 {
        self.fake.now().as_millis()
    }
}

// ---- the rumprun scenario -------------------------------------------------------------

#[test]
fn prog1_then_prog2_and_prog3_in_parallel() {
    let mut rig = rig();
    let flow = rig.run("stamp prog1 5; { stamp prog2 3 & stamp prog3 2 & wait; }; now");
    assert_eq!(flow, Flow::Normal(0));
    let (p1_end, p2_start, p2_end, p3_start, p3_end) = (
        rig.time_of("prog1 end"),
        rig.time_of("prog2 start"),
        rig.time_of("prog2 end"),
        rig.time_of("prog3 start"),
        rig.time_of("prog3 end"),
    );
    assert_eq!(rig.time_of("prog1 start"), 0);
    assert_eq!(p1_end, 5000);
    // prog2 and prog3 start only once prog1 has ended...
    assert!(p2_start >= p1_end && p3_start >= p1_end);
    // ...and run at the same time.
    assert!(p2_start < p3_end && p3_start < p2_end);
    assert_eq!((p2_end, p3_end), (8000, 7000));
    // `wait` returned once both had ended.
    assert_eq!(rig.time_of("now"), 8000);
}

// ---- statuses and branching -----------------------------------------------------------

#[test]
fn and_or_and_if_branch_on_status() {
    let mut rig = rig();
    rig.run("false && echo no1; true && echo yes1; false || echo or1; true || echo no2");
    rig.run("ret 3 || echo status $?; ret 0 && ret 4 || echo then $?");
    rig.run("if ret 1; then echo a; elif ret 0; then echo b; else echo c; fi");
    rig.run("if false; then echo x; fi; echo after-if $?");
    rig.run("if false; then echo x; else echo else-branch; fi");
    assert_eq!(
        rig.lines(),
        [
            "yes1",
            "or1",
            "status 3",
            "then 4",
            "b",
            "after-if 0",
            "else-branch"
        ]
    );
    assert_eq!(rig.run("ret 7"), Flow::Normal(7));
    assert_eq!(rig.interp.last_status(), 7);
}

#[test]
fn wait_semantics_and_last_status() {
    let mut rig = rig();
    // No arguments: every background job, status 0 whatever theirs.
    rig.run("stamp a 2 3 & stamp b 1 4 & wait; echo all $?");
    assert_eq!(rig.time_of("all"), 0);
    assert_eq!(rig.now_ms(), 2000);
    // By name and by %N: that job's status. `wait` forgot a and b, so c is the only
    // stamp and gets number 1 again; once waited for, it is forgotten too.
    rig.run("stamp c 1 7 & wait stamp; echo by-name $?");
    assert_eq!(rig.time_of("by-name"), 7);
    rig.run("ret 9 & wait %1; echo by-number $?");
    assert_eq!(rig.time_of("by-number"), 9);
    // Two running jobs of one name: the name is ambiguous.
    rig.run("sleep 1s & sleep 1s & wait sleep; echo ambiguous $?; wait");
    assert!(
        rig.lines()
            .contains(&"rc: 'sleep' names more than one job: %1 %2 (use %N)".into()),
        "{:#?}",
        rig.lines()
    );
    assert_eq!(rig.time_of("ambiguous"), 2);
    // Unknown: a message and 127.
    rig.run("wait %99; echo unknown-id $?; wait nosuch; echo unknown-name $?");
    let lines = rig.lines();
    assert!(
        lines.contains(&"rc: no such job '%99'".into()),
        "{lines:#?}"
    );
    assert!(lines.contains(&"rc: no such job 'nosuch'".into()));
    assert_eq!(rig.time_of("unknown-id"), 127);
    assert_eq!(rig.time_of("unknown-name"), 127);
    // A background item's own status is 0.
    rig.run("ret 5 &");
    assert_eq!(rig.interp.last_status(), 0);
    rig.interp.wait_all();
}

#[test]
fn job_listing_shows_states_and_times() {
    let mut rig = rig();
    rig.run("stamp a 1 & ret 2; stamp b 3 &");
    rig.fake.sleep(Duration::from_secs(2));
    let listing = rig.interp.jobs().snapshot();
    let summary: Vec<_> = listing
        .iter()
        .map(|j| (j.id, j.name.as_str(), j.state, j.started, j.ended))
        .collect();
    let secs = Duration::from_secs;
    assert_eq!(
        summary,
        [
            (1, "stamp", JobState::Done(0), secs(0), Some(secs(1))),
            (2, "ret", JobState::Done(2), secs(0), Some(secs(0))),
            (3, "stamp", JobState::Running, secs(0), None),
        ]
    );
    assert!(listing.iter().all(|j| j.thread.is_some()));
    assert_eq!(listing[2].argv, ["stamp", "b", "3"]);
    rig.interp.wait_all();
}

// ---- environment and words ------------------------------------------------------------

#[test]
fn per_job_env_export_and_unset() {
    let mut rig = rig();
    rig.run("X=1 env X; env X");
    rig.run("export Y=2 W=w; env Y W; Y=3 env Y; env Y; unset Y; env Y W");
    rig.run("Z=3; env Z; echo shell $Z; export Z=4; env Z");
    assert_eq!(
        rig.lines(),
        [
            "X=1", "X unset", "Y=2", "W=w", "Y=3", "Y=2", "Y unset", "W=w", "Z unset", "shell 3",
            "Z=4",
        ]
    );
}

#[test]
fn argv_is_exactly_what_the_script_says() {
    let mut rig = rig();
    rig.run(r#"V='x  y'; argv 'a b' "" "$V" $V pre${V}post '$V' a\ b "q\"uote""#);
    rig.run("argv $EMPTY one; argv");
    assert_eq!(
        rig.lines(),
        [
            r#"[a b][][x  y][x  y][prex  ypost][$V][a b][q"uote]"#,
            "[][one]",
            "",
        ]
    );
}

#[test]
fn a_variable_naming_no_program_is_127_and_the_script_goes_on() {
    let mut rig = rig();
    let flow = rig.run("P=nosuch; $P arg; echo after $?; P=echo; $P works");
    assert_eq!(flow, Flow::Normal(0));
    assert_eq!(
        rig.lines(),
        ["rc: unknown program 'nosuch'", "after 127", "works"]
    );
}

// ---- pipes ----------------------------------------------------------------------------

#[test]
fn pipes_carry_data_through_stages() {
    let mut rig = rig();
    let flow = rig.run("echo hello world | upper | upper");
    assert_eq!(flow, Flow::Normal(0));
    rig.run("{ echo one; echo two; } | upper; echo $?");
    rig.run("ret 3 | true; echo last-stage $?; true | ret 4; echo last-stage $?");
    assert_eq!(
        rig.lines(),
        [
            "HELLO WORLD",
            "ONE",
            "TWO",
            "0",
            "last-stage 0",
            "last-stage 4"
        ]
    );
}

#[test]
fn a_full_pipe_holds_back_the_writer_until_the_slow_reader_drains_it() {
    let mut rig = rig();
    // 20000 bytes, 7 bytes per millisecond: the reader needs about 2.86 s, and the
    // writer cannot get more than one pipe (4 KiB) ahead of it.
    rig.run("producer 20000 | slowreader 7");
    let done = rig.time_of("read 20000 ok at");
    let written = rig.time_of("producer wrote 20000 at");
    let per_ms = 7;
    let unread_at_end = (PIPE_BYTES as u128) / per_ms;
    // The writer finished only about one pipe's worth of reading before the reader.
    assert!(written + unread_at_end + 10 >= done, "{written} vs {done}");
    assert!(written >= (20000 - PIPE_BYTES as u128) / per_ms - 1);
    assert_eq!(done, 20000 / per_ms + 1);
}

const PIPE_BYTES: usize = crate::jobs::pipe::PIPE_CAPACITY;

#[test]
fn end_of_file_and_broken_pipe() {
    let mut rig = rig();
    // upper sees end of file when echo's end closes.
    assert_eq!(rig.run("echo abc | upper"), Flow::Normal(0));
    // head leaves after 10 bytes; the producer's next write fails.
    let flow = rig.run("producer 100000 | head 10; echo status $?");
    assert_eq!(flow, Flow::Normal(0));
    let lines = rig.lines();
    assert!(lines.contains(&"head abcdefghij".into()), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("producer: broken pipe after")),
        "{lines:#?}"
    );
    assert_eq!(rig.time_of("status"), 0);
    let producer = rig.interp.jobs().find("producer").unwrap();
    assert_eq!(producer.state(), JobState::Done(141));
    // A stage that cannot start closes its ends: the reader sees end of file.
    rig.run("P=nosuch; $P | upper; echo unknown-stage $?");
    assert_eq!(rig.time_of("unknown-stage"), 0);
}

// ---- start, timeout, respawn ----------------------------------------------------------

#[test]
fn start_returns_once_ready() {
    let mut rig = rig();
    rig.run("start server 2 100; echo started $?; now");
    assert_eq!(rig.time_of("started"), 0);
    assert_eq!(rig.time_of("now"), 2000);
    let server = rig.interp.jobs().find("server").unwrap();
    assert_eq!(server.state(), JobState::Ready);
    // A program that exits before it is ready: its status.
    rig.run("start ret 4; echo exited $?");
    assert_eq!(rig.time_of("exited"), 4);
    server.cancel();
    assert_eq!(server.join(), INTERRUPTED_STATUS);
}

#[test]
fn start_with_timeout_gives_124_and_cancels() {
    let mut rig = rig();
    rig.run("start --timeout 1s server 5 100; echo status $?; now");
    assert_eq!(rig.time_of("status"), 124);
    assert_eq!(rig.time_of("now"), 1000);
    let lines = rig.lines();
    assert!(lines.contains(&"rc: start: 'server' was not ready in time".into()));
    let server = rig.interp.jobs().find("server").unwrap();
    assert_eq!(server.join(), INTERRUPTED_STATUS);
    rig.run("start --timeout 10s server 1 0; echo in-time $?");
    assert_eq!(rig.time_of("in-time"), 0);
}

#[test]
fn timeout_gives_124_when_the_job_runs_longer() {
    let mut rig = rig();
    rig.run("timeout 1s sleep 5; echo late $?; now");
    assert_eq!(rig.time_of("late"), 124);
    assert_eq!(rig.time_of("now"), 1000);
    rig.run("timeout 5s ret 6; echo early $?");
    assert_eq!(rig.time_of("early"), 6);
    // A job that ignores cancellation is killed after the grace period.
    rig.run("timeout 1s stubborn; echo stubborn $?; now");
    assert_eq!(rig.time_of("stubborn "), 124);
    // The forced end is reported on the job's stderr.
    assert!(rig.lines().iter().any(|l| l == "stubborn: killed"));
    let grace = KILL_GRACE.as_millis();
    assert_eq!(
        rig.lines().last().unwrap(),
        &format!("now {}", 2000 + grace)
    );
    let stubborn = rig.interp.jobs().find("stubborn").unwrap();
    assert_eq!(stubborn.state(), JobState::Killed);
}

#[test]
fn respawn_restarts_up_to_max_with_delay_and_logs() {
    let mut rig = rig();
    let flow = rig.run("respawn --max 2 --delay 1s flaky; echo spawned $?; wait flaky; echo $?");
    assert_eq!(flow, Flow::Normal(0));
    let lines = rig.lines();
    let runs: Vec<_> = lines
        .iter()
        .filter(|l| l.starts_with("flaky run"))
        .collect();
    assert_eq!(runs, ["flaky run 0", "flaky run 1000", "flaky run 2000"]);
    let restarts: Vec<_> = lines.iter().filter(|l| l.starts_with("respawn:")).collect();
    assert_eq!(
        restarts,
        [
            "respawn: 'flaky' exited with status 3, restart 1 of 2",
            "respawn: 'flaky' exited with status 3, restart 2 of 2",
        ]
    );
    assert_eq!(lines.last().unwrap(), "3");
    assert_eq!(rig.time_of("spawned"), 0);
    // A successful program is not restarted.
    rig.console.take();
    rig.run("respawn --max 5 true; wait");
    assert!(rig.lines().is_empty());
}

#[test]
fn cancelling_a_respawned_job_stops_the_restarts() {
    let mut rig = rig();
    rig.run("respawn --delay 10s flaky");
    rig.fake.sleep(Duration::from_secs(15));
    let supervisor = rig.interp.jobs().find("flaky").unwrap();
    supervisor.cancel();
    assert_eq!(supervisor.join(), 3);
    let runs = rig
        .lines()
        .iter()
        .filter(|l| l.starts_with("flaky run"))
        .count();
    assert_eq!(runs, 2);
}

// ---- cancellation ---------------------------------------------------------------------

#[test]
fn cancel_foreground_stops_the_job_and_the_run() {
    let mut rig = rig();
    let interrupt = rig.interp.interrupt_handle();
    let fake = rig.fake;
    fake.spawn(
        "ctrl-c",
        ThreadKind::Kernel,
        closure_body(
            move || {
                fake.sleep(Duration::from_secs(5));
                interrupt.cancel_foreground();
            },
            |_| {},
        ),
    )
    .unwrap();
    let flow = rig.run("sleep 100; echo never");
    assert_eq!(flow, Flow::Normal(INTERRUPTED_STATUS));
    assert_eq!(rig.now_ms(), 5000);
    assert_eq!(rig.interp.last_status(), INTERRUPTED_STATUS);
    let sleeper = rig.interp.jobs().find("sleep").unwrap();
    assert_eq!(sleeper.join(), INTERRUPTED_STATUS);
    // The next run is not affected.
    assert_eq!(rig.run("echo again"), Flow::Normal(0));
    assert_eq!(rig.lines(), ["again"]);
}

#[test]
fn cancel_foreground_interrupts_wait() {
    let mut rig = rig();
    rig.run("sleep 100 &");
    let interrupt = rig.interp.interrupt_handle();
    let fake = rig.fake;
    fake.spawn(
        "ctrl-c",
        ThreadKind::Kernel,
        closure_body(
            move || {
                fake.sleep(Duration::from_secs(1));
                interrupt.cancel_foreground();
            },
            |_| {},
        ),
    )
    .unwrap();
    assert_eq!(rig.run("wait; echo never"), Flow::Normal(130));
    assert_eq!(rig.now_ms(), 1000);
    // The background job was not the foreground: it still runs.
    let sleeper = rig.interp.jobs().find("sleep").unwrap();
    assert_eq!(sleeper.state(), JobState::Running);
    sleeper.cancel();
    assert_eq!(sleeper.join(), 130);
}

#[test]
fn cancelling_a_background_group_cancels_its_jobs() {
    let mut rig = rig();
    rig.run("{ sleep 100; echo never; } &");
    rig.fake.sleep(Duration::from_secs(1));
    let group = rig.interp.jobs().find("{}").unwrap();
    group.cancel();
    assert_eq!(group.join(), INTERRUPTED_STATUS);
    assert!(rig.lines().is_empty());
}

#[test]
fn panics_end_the_job_not_the_script() {
    let mut rig = rig();
    let flow = rig.run("boom; echo after $?");
    assert_eq!(flow, Flow::Normal(0));
    assert_eq!(rig.time_of("after"), 101);
    let job = rig.interp.jobs().find("boom").unwrap();
    assert_eq!(job.state(), JobState::Faulted(101));
}

// ---- source, shell, power -------------------------------------------------------------

#[test]
fn source_runs_a_baked_file_in_this_shell() {
    let mut rig = rig();
    rig.run("GREETING=hi; source lib.rc; env FROM_LIB");
    rig.run("source nope; echo missing $?");
    rig.run("source loop.rc; echo loop $?");
    rig.run("source broken.rc; echo broken $?");
    let lines = rig.lines();
    assert_eq!(lines[..2], ["sourced hi", "FROM_LIB=yes"]);
    assert!(lines.contains(&"rc: no baked file 'nope'".into()));
    assert_eq!(rig.time_of("missing"), 127);
    assert!(lines.contains(&"rc: source 'loop.rc': nested too deeply".into()));
    assert_eq!(rig.time_of("loop"), 1);
    // A file that does not parse runs nothing and says where.
    assert!(
        lines.iter().any(|l| l.starts_with("rc: broken.rc:2:1:")),
        "{lines:#?}"
    );
    assert!(!lines.contains(&"ok".into()));
    assert_eq!(rig.time_of("broken"), 1);
}

#[test]
fn power_builtins_end_the_run_with_a_flow() {
    let mut rig = rig();
    assert_eq!(
        rig.run("echo a; poweroff 3; echo never"),
        Flow::Power(PowerAction::Off(3))
    );
    assert_eq!(rig.run("ret 5; poweroff"), Flow::Power(PowerAction::Off(5)));
    assert_eq!(rig.run("true && halt"), Flow::Power(PowerAction::Halt));
    assert_eq!(
        rig.run("if true; then reboot; fi"),
        Flow::Power(PowerAction::Reboot)
    );
    assert_eq!(rig.lines(), ["a"]);
    assert!(rig.fake.power_actions().is_empty());
    // In the background, poweroff goes to the platform itself.
    assert_eq!(rig.run("{ sleep 1; poweroff 7; } & wait"), Flow::Normal(0));
    assert_eq!(rig.fake.power_actions(), [PowerAction::Off(7)]);
}

struct TestHooks {
    shells: usize,
}

impl Hooks for TestHooks {
    fn shell(&mut self, interp: &mut Interpreter) -> Flow {
        self.shells += 1;
        interp.console().write(b"shell opened\n");
        Flow::Normal(0)
    }

    fn builtin(&mut self, interp: &mut Interpreter, argv: &[String]) -> Option<Status> {
        (argv[0] == "jobs").then(|| {
            let count = interp.jobs().snapshot().len();
            interp.console().write(format!("{count} jobs\n").as_bytes());
            0
        })
    }

    fn builtin_names(&self) -> &[&'static str] {
        &["jobs"]
    }
}

#[test]
fn hooks_provide_the_shell_and_extra_builtins() {
    let mut rig = rig();
    let mut hooks = TestHooks { shells: 0 };
    let flow = rig.run_with(
        "true; jobs; shell; echo back $?; jobs | upper; echo $?",
        &mut hooks,
    );
    assert_eq!(flow, Flow::Normal(0));
    assert_eq!(hooks.shells, 1);
    assert_eq!(
        rig.lines(),
        [
            "1 jobs",
            "shell opened",
            "back 0",
            "rc: 'jobs' cannot be used in a pipeline",
            // Refused before anything starts: not a success (`upper` never ran).
            "2"
        ]
    );
    // Without hooks, `shell` says there is none.
    rig.console.take();
    rig.run("shell; echo $?");
    assert_eq!(rig.lines(), ["rc: no interactive shell here", "127"]);
}

#[test]
fn names_for_the_parser_are_programs_and_builtins() {
    let rig = rig();
    let names = rig.interp.names();
    assert!(names.contains(&"stamp") && names.contains(&"wait"));
    assert!(!names.contains(&"jobs"));
}

#[test]
fn a_command_that_could_not_start_is_no_success_in_the_background_either() {
    let mut rig = rig();
    rig.fake.fail_spawns(true);
    rig.run("sleep 1m &");
    let background = rig.interp.last_status();
    rig.run("sleep 1m");
    let foreground = rig.interp.last_status();
    rig.run("true | sleep 1m &");
    let pipeline = rig.interp.last_status();
    rig.fake.fail_spawns(false);
    rig.run("echo $?");
    assert_eq!([background, foreground, pipeline], [126, 126, 126]);
    let lines = rig.lines();
    assert_eq!(
        lines[0], "rc: cannot start 'sleep': out of memory",
        "{lines:?}"
    );
    assert_eq!(lines.last().unwrap(), "126");
}

#[test]
fn exit_ends_the_script_with_its_status() {
    let mut first = rig();
    let flow = first.run("echo a; exit 3; echo b");
    assert_eq!(flow, Flow::Exit(3));
    assert_eq!(first.lines(), ["a"]);
    let mut second = rig();
    assert_eq!(second.run("false; exit"), Flow::Exit(1));
}

#[test]
fn export_alone_lists_the_exported_variables_as_dash_does() {
    let mut rig = rig();
    rig.run("LOCAL=1; export A=1 B=\"it's\"; export");
    assert_eq!(rig.lines(), ["export A='1'", "export B='it'\"'\"'s'"]);
}

#[test]
fn dollar_bang_is_the_last_background_job_and_dollar_hash_is_0() {
    let mut rig = rig();
    rig.run("argv $! $#; ret 3 & wait $!; echo waited $?; argv $!");
    let lines = rig.lines();
    assert_eq!(lines[0], "[][0]", "{lines:?}");
    assert_eq!(lines[1], "waited 3", "{lines:?}");
    assert!(lines[2].starts_with("[%"), "{lines:?}");
}

#[test]
fn export_expands_every_word_before_it_assigns_as_sh_does() {
    let mut rig = rig();
    rig.run("export X=1 Y=$X; argv \"$X\" \"$Y\"");
    assert_eq!(rig.lines(), ["[1][]"]);
}

#[test]
fn job_numbers_are_for_background_jobs_and_reused_from_the_lowest_free() {
    let mut rig = rig();
    // Foreground commands and their pipelines take no number.
    rig.run("sleep 1m & echo a; echo a | upper; sleep 2m &");
    let numbers = |rig: &Rig| -> Vec<u32> {
        rig.interp
            .jobs()
            .numbered()
            .iter()
            .map(|j| j.number)
            .collect()
    };
    assert_eq!(numbers(&rig), [1, 2]);
    let marks: Vec<char> = rig
        .interp
        .jobs()
        .numbered()
        .iter()
        .map(|j| j.mark)
        .collect();
    assert_eq!(marks, ['-', '+']);
    // %1 ends and is forgotten: the next background job is 1 again.
    rig.run("wait %1");
    assert_eq!(numbers(&rig), [2]);
    // A pipeline is one job: one number, both stages, the last one's status.
    rig.run("producer 3 | upper &");
    let jobs = rig.interp.jobs().numbered();
    assert_eq!(numbers(&rig), [1, 2]);
    assert_eq!(jobs[0].stages.len(), 2);
    assert_eq!(jobs[0].command(), "producer 3 | upper");
    rig.run("wait %1");
    assert_eq!(rig.interp.last_status(), 0);
    rig.run("producer 3 | ret 4 & wait $!");
    assert_eq!(rig.interp.last_status(), 4);
}

#[test]
fn start_and_respawn_are_refused_like_and_when_memory_is_short() {
    let mut rig = rig();
    rig.fake.fill_for_background(true);
    rig.run(
        "sleep 1s & echo amp $?; start sleep 1s; echo start $?; respawn ret 1; echo respawn $?",
    );
    assert_eq!(rig.time_of("amp"), 126);
    assert_eq!(rig.time_of("start"), 126);
    assert_eq!(rig.time_of("respawn"), 126);
    let refusals = rig
        .lines()
        .iter()
        .filter(|l| l.contains("cannot start") && l.contains("out of memory"))
        .count();
    assert_eq!(refusals, 3, "{:#?}", rig.lines());
    assert!(rig.interp.jobs().numbered().is_empty());
    rig.fake.fill_for_background(false);
    rig.run("start sleep 1s; echo again $?; wait");
    assert_eq!(rig.time_of("again"), 0);
}
