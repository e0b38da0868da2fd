//! `memstat [--every DUR]`: prints the allocator's statistics on one line:
//!
//! `heap: size=N used=N free=N peak=N allocs=N frees=N largest_free=N reclaimed=N stack_pages=N`
//!
//! `reclaimed` counts the bytes that program jobs still held when they ended and that were
//! freed for them (see docs/ARCHITECTURE.md, "Memory ownership"); `stack_pages` the pages
//! mapped for program stacks, which grow page by page.
//!
//! With `--every DUR` it repeats every DUR until the job is cancelled (status 0 then)
//! and reports ready after the first line. A platform without statistics is an
//! error (status 1).

use alloc::string::String;

use kiln_init::platform::HeapStats;
use kiln_init::program::{Context, IoError, Program, Status};

use crate::cli::{self, Error, STATUS_OK};

pub const PROGRAM: Program = Program {
    name: "memstat",
    about: "print heap statistics, once or every DUR",
    usage: "usage: memstat [--every DUR]\n  prints heap: size used free peak allocs frees largest_free reclaimed stack_pages (bytes and counts)",
    main,
};

/// The option that repeats the report.
const EVERY_FLAG: &str = "--every";

#[inline(never)]
pub fn main(ctx: &mut Context<'_>) -> Status {
    cli::run(ctx, &PROGRAM, body)
}

/// The one-line report for `stats`.
pub fn format_stats(stats: &HeapStats) -> String {
    alloc::format!(
        "heap: size={} used={} free={} peak={} allocs={} frees={} largest_free={} reclaimed={} stack_pages={}",
        stats.size,
        stats.used,
        stats.size.saturating_sub(stats.used),
        stats.peak,
        stats.allocations,
        stats.frees,
        stats.largest_free,
        stats.reclaimed,
        stats.stack_pages,
    )
}

fn body(ctx: &mut Context<'_>) -> cli::Result<Status> {
    let every = match ctx.args() {
        [] => None,
        [flag] if flag == EVERY_FLAG => {
            return Err(Error::missing("missing duration after '--every'"));
        }
        [flag, duration, rest @ ..] if flag == EVERY_FLAG => {
            cli::no_more_args(rest)?;
            Some(cli::duration_arg(duration)?)
        }
        [other, ..] => return Err(Error::usage("unexpected argument", other)),
    };
    let Some(every) = every else {
        report(ctx)?;
        return Ok(STATUS_OK);
    };
    let mut announced = false;
    loop {
        report(ctx)?;
        if !announced {
            // Ready once the first figures are out, before the first pause.
            ctx.ready();
            announced = true;
        }
        match ctx.sleep(every) {
            Ok(()) => {}
            Err(IoError::Interrupted) => return Ok(STATUS_OK),
            Err(error) => return Err(error.into()),
        }
    }
}

fn report(ctx: &Context<'_>) -> cli::Result<()> {
    let stats = ctx
        .platform
        .heap_stats()
        .ok_or_else(|| Error::failed("no heap statistics on this platform"))?;
    let mut line = format_stats(&stats);
    line.push('\n');
    cli::write_str(&mut ctx.out(), &line)
}

#[cfg(test)]
mod tests {
    use core::time::Duration;

    use super::*;
    use crate::testing::{Run, run};

    const STATS: HeapStats = HeapStats {
        size: 4096,
        used: 1000,
        peak: 2000,
        allocations: 7,
        frees: 3,
        largest_free: 3000,
        reclaimed: 24,
        stack_pages: 5,
    };
    const LINE: &str = "heap: size=4096 used=1000 free=3096 peak=2000 allocs=7 frees=3 largest_free=3000 reclaimed=24 stack_pages=5\n";

    #[test]
    fn prints_one_line() {
        let outcome = Run::new(PROGRAM, &[]).heap(STATS).run();
        assert_eq!(outcome.status, 0);
        assert_eq!(outcome.stdout, LINE);
    }

    #[test]
    fn every_repeats_until_cancelled() {
        let outcome = Run::new(PROGRAM, &["--every", "10s"])
            .heap(STATS)
            .cancel_after(Duration::from_secs(25))
            .run();
        assert_eq!(outcome.status, 0);
        assert_eq!(outcome.stdout, LINE.repeat(3));
        assert!(outcome.ready);
    }

    #[test]
    fn no_statistics_is_an_error() {
        let outcome = run(PROGRAM, &[]);
        assert_eq!(outcome.status, 1);
        assert_eq!(
            outcome.stderr,
            "memstat: no heap statistics on this platform\n"
        );
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        for args in [
            &["--every"][..],
            &["--every", "x"],
            &["-v"],
            &["--every", "1s", "x"],
        ] {
            let outcome = Run::new(PROGRAM, args).heap(STATS).run();
            assert_eq!(outcome.status, 2, "{args:?}");
            assert!(outcome.stderr.ends_with("usage: memstat [--every DUR]\n"));
        }
    }
}
