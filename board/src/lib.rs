//! The kiln image: boots through PVH, brings up the machine, then runs init.
//!
//! A library, so that an image can link programs from crates outside kiln's tree: the
//! image's binary (`src/main.rs`, or the one `kiln bake --crate` generates) only names
//! its native programs with [`image!`]; everything else is here.
//!
//! Where to look:
//! - `boot.rs`: the 32-bit PVH entry, page tables, long mode.
//! - `interrupts.rs`: GDT/TSS/IDT, the entry stubs and the dispatcher.
//! - `sched.rs`: threads and the preemptive scheduler; `time.rs`: the clock.
//! - `serial.rs`: where a byte leaves (and enters) the UART.
//! - `heap.rs`, `guard.rs`, `stack.rs` (program stacks grown on demand): memory; `fault.rs`: panics and CPU exceptions.
//! - `fwcfg.rs`, `pvh.rs`, `power.rs`, `pic.rs`, `keyboard.rs`: the devices.
#![no_std]

extern crate alloc;
// The C memory functions; linked for their symbols alone.
extern crate kiln_mem;

mod boot;
mod bootstats;
mod bundle;
mod fault;
mod fwcfg;
mod guard;
mod heap;
mod interrupts;
mod keyboard;
mod net;
mod pci;
mod pic;
mod platform;
mod port;
mod power;
mod process;
mod pvh;
mod random;
mod sched;
mod selftest;
mod serial;
mod stack;
mod symbols;
mod sync;
mod time;
mod vga;

use alloc::string::String;

use alloc::format;

use kiln_init::exec::Flow;
use kiln_init::platform::{Platform, PowerAction, ThreadKind, closure_body};
use kiln_init::program::BakedFile;
use kiln_shell::{Config, Session};

use serial::Serial;

/// Files baked into the image from the repo's `files/` folder (see build.rs).
pub static FILES: &[BakedFile] = include!(concat!(env!("OUT_DIR"), "/baked_files.rs"));
/// The fw_cfg prefix of the files the launcher adds (`--file NAME=PATH`).
const FILE_FW_CFG_PREFIX: &str = "opt/kiln/file/";
/// The largest file taken from fw_cfg (src/files.rs's limit).
const MAX_FW_CFG_FILE: usize = 64 << 20;
/// The kernel command line's one-line rc script (`kiln.rc="echo up; shell"`).
const RC_COMMAND_LINE_KEY: &str = "kiln.rc=";
/// The fw_cfg file that overrides the baked rc script.
const RC_FW_CFG_NAME: &str = "opt/kiln/rc";
/// The baked default rc script.
const RC_BAKED_NAME: &str = "rc";

/// The kernel command line word that makes init panic at boot: a kernel panic on
/// purpose, for the tests of `kiln.panic=`.
const TEST_PANIC_WORD: &str = "kiln.test.panic";

/// kiln's version, shown in the banner.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

unsafe extern "C" {
    static __image_end: u8;
    static boot_stack_bottom: u8;
}

/// The 64-bit entry, called by `boot.rs` with the PVH start-info address.
#[unsafe(no_mangle)]
pub extern "C" fn kernel_main(start_info: u32) -> ! {
    serial::init();
    time::init();
    interrupts::init();
    // SAFETY: EBX of the PVH entry, passed through unchanged.
    let boot = unsafe { pvh::read(u64::from(start_info)) };
    // A baked image's bundle sits right above the kernel; the heap starts above both.
    let image_end = ((&raw const __image_end) as u64).max(bundle::end());
    let mut modules: heapless::Vec<(u64, u64), 4> = heapless::Vec::new();
    for module in boot.modules {
        let _ = modules.push((module.paddr, module.paddr + module.size));
    }
    heap::init(boot.memory_map, image_end, &modules);
    bootstats::configure(boot.command_line);
    bootstats::mark("heap");
    bundle::set_modules(boot.modules);
    stack::init();
    let stack_bottom = (&raw const boot_stack_bottom) as u64;
    sched::init((stack_bottom, stack_bottom + boot::BOOT_STACK_SIZE as u64));
    kiln_init::sync::set_preemption(&sched::PREEMPT);
    pic::init();
    x86_64::instructions::interrupts::enable();
    bootstats::mark("interrupts");

    let command_line = boot.command_line;
    power::configure_panic(command_line);
    if sched::start_reaper().is_err() {
        kprintln!("kiln: no memory to start the reaper");
        power::on_kernel_panic();
    }
    let started = sched::spawn(
        "init",
        ThreadKind::Kernel,
        closure_body(move || init_main(command_line), |_| {}),
    );
    if started.is_err() {
        kprintln!("kiln: no memory to start init");
        power::on_kernel_panic();
    }
    // Run init now rather than at the next timer tick.
    sched::yield_now();
    sched::idle_loop()
}

fn init_main(command_line: &'static str) {
    bootstats::mark("init");
    kprintln!("kiln {VERSION}: a shell and job-control init for unikernels");
    let has_word = |word: &str| command_line.split_whitespace().any(|w| w == word);
    if has_word("kiln.probe") {
        power::power_off(0);
    }
    if has_word(TEST_PANIC_WORD) {
        // For the tests of what a kernel panic does (`kiln.panic=`).
        panic!("{TEST_PANIC_WORD} on the kernel command line");
    }
    if has_word("kiln.selftest") {
        let failed = selftest::run();
        power::power_off(if failed == 0 { 0 } else { 1 });
    }

    // The keyboard console needs both (Firecracker has an i8042 only to reset).
    if keyboard::present() && vga::present() {
        keyboard::init();
        start_keyboard_console(command_line);
    }
    bootstats::mark("keyboard");
    net::start(command_line);
    bootstats::mark("net");
    let script = load_rc(command_line);
    bootstats::mark("rc");
    let serial_config = Config {
        columns: Config::columns_from_command_line(command_line).unwrap_or(Config::DEFAULT_COLUMNS),
        ..Config::default()
    };
    let mut session = match Session::new(&platform::PLATFORM, Serial, Serial, serial_config) {
        Ok(session) => session,
        Err(error) => {
            kprintln!("kiln: cannot start the serial console ({error:?})");
            power::halt();
        }
    };
    // Jobs from rc and from the serial shell write to the serial session's console.
    let mut interp = session.interpreter(all_programs(), all_files());
    let flow = match session.run_script(&mut interp, "rc", &script) {
        Ok(flow) => flow,
        Err(error) => {
            // A broken script starts nothing; say why and open the console.
            session.print(&format!("{}\n", error.render(&script)));
            session.print("kiln: the rc script did not run; opening the shell\n");
            session.run(&mut interp)
        }
    };
    let action = match flow {
        Flow::Power(action) => action,
        Flow::Normal(status) | Flow::Exit(status) => {
            // The script ended: power off once every job it started has ended too.
            interp.wait_all();
            PowerAction::Off(status)
        }
    };
    platform::PLATFORM.power(action);
}

/// A second shell on the PS/2 keyboard and the VGA screen, in its own thread.
fn start_keyboard_console(command_line: &'static str) {
    vga::init();
    let layout = keyboard::layout_from_command_line(command_line);
    let body = closure_body(
        move || {
            let input = keyboard::KeyboardInput::new(layout);
            let Ok(mut session) = Session::new(
                &platform::PLATFORM,
                input,
                vga::VgaScreen,
                Config::default(),
            ) else {
                kprintln!("kiln: cannot start the keyboard console");
                return;
            };
            session.print(&format!("kiln {VERSION}: keyboard console\n"));
            let mut interp = session.interpreter(all_programs(), all_files());
            // `exit` or Ctrl-D starts a fresh shell, as a getty would.
            loop {
                if let Flow::Power(action) = session.run(&mut interp) {
                    platform::PLATFORM.power(action);
                }
                session.print("kiln: keyboard console: new shell\n");
            }
        },
        |_| {},
    );
    if sched::spawn("vga-shell", ThreadKind::Kernel, body).is_err() {
        kprintln!("kiln: no memory for the keyboard console");
    }
}

/// Names the image's native programs (lists of them, each a crate's `PROGRAMS`): the
/// one line an image's binary holds. It defines `kiln_native_programs`, which the
/// board reads at boot, and a table of the names for `kiln inspect`.
///
/// ```ignore
/// #![no_std]
/// #![no_main]
/// kiln_board::image!(kiln_utils::PROGRAMS, my_programs::PROGRAMS);
/// ```
#[macro_export]
macro_rules! image {
    ($($list:expr),* $(,)?) => {
        const KILN_NATIVE: &[&[$crate::Program]] = &[$($list),*];

        /// The image's native programs (read by `kiln_board`).
        #[unsafe(no_mangle)]
        pub fn kiln_native_programs() -> &'static [&'static [$crate::Program]] {
            KILN_NATIVE
        }

        /// The names, one a line, after a magic that `kiln inspect` finds.
        #[unsafe(link_section = ".data.kiln_names")]
        #[used]
        static KILN_NAMES: [u8; $crate::NAMES_TABLE_SIZE] = $crate::names_table(KILN_NATIVE);

        // The board's entry, so that the linker takes the library in.
        #[used]
        static KILN_ENTRY: extern "C" fn(u32) -> ! = $crate::kernel_main;
    };
}

pub use kiln_init::program::Program;

/// Bytes of the names table (`kiln inspect` reads it).
pub const NAMES_TABLE_SIZE: usize = 4096;
/// The names table's first bytes.
pub const NAMES_MAGIC: &[u8; 16] = b"KILN-NATIVE-v1\0\0";

/// The names table of [`image!`]: [`NAMES_MAGIC`], then every program's name and a
/// newline, an empty line after each list, then zeros. Names that do not fit are left out (the build still works).
pub const fn names_table(lists: &[&[Program]]) -> [u8; NAMES_TABLE_SIZE] {
    let mut table = [0u8; NAMES_TABLE_SIZE];
    let mut at = 0;
    while at < NAMES_MAGIC.len() {
        table[at] = NAMES_MAGIC[at];
        at += 1;
    }
    let mut list = 0;
    while list < lists.len() {
        let mut program = 0;
        while program < lists[list].len() {
            let name = lists[list][program].name.as_bytes();
            if at + name.len() < NAMES_TABLE_SIZE {
                let mut i = 0;
                while i < name.len() {
                    table[at + i] = name[i];
                    i += 1;
                }
                table[at + name.len()] = b'\n';
                at += name.len() + 1;
            }
            program += 1;
        }
        // An empty line ends a list (bake tells which crate a name came from).
        if at + 1 < NAMES_TABLE_SIZE {
            table[at] = b'\n';
            at += 1;
        }
        list += 1;
    }
    table
}

unsafe extern "Rust" {
    /// Defined by the image's binary with [`image!`].
    safe fn kiln_native_programs() -> &'static [&'static [Program]];
}

/// The native programs and the baked ELF programs, made once.
fn all_programs() -> &'static [kiln_init::program::Program] {
    static ALL: spin::Once<&'static [kiln_init::program::Program]> = spin::Once::new();
    ALL.call_once(|| {
        let mut all: alloc::vec::Vec<Program> = alloc::vec::Vec::new();
        for list in kiln_native_programs() {
            for program in *list {
                if all.iter().any(|p| p.name == program.name) {
                    kprintln!(
                        "kiln: two native programs named '{}'; the second is left out",
                        program.name
                    );
                } else {
                    all.push(*program);
                }
            }
        }
        all.extend(process::programs());
        alloc::boxed::Box::leak(all.into_boxed_slice())
    })
}

/// The repo's baked files and those the launcher passed, made once.
fn all_files() -> &'static [BakedFile] {
    static ALL: spin::Once<&'static [BakedFile]> = spin::Once::new();
    ALL.call_once(|| {
        let mut all = FILES.to_vec();
        // A bundle's file replaces the repo's of that name; the boot module's comes first.
        let mut from_bundles: alloc::vec::Vec<&str> = alloc::vec::Vec::new();
        for entry in bundle::of(kiln_bundle::Kind::File) {
            if from_bundles.contains(&entry.name) {
                continue;
            }
            from_bundles.push(entry.name);
            all.retain(|f| f.name != entry.name);
            all.push(BakedFile {
                name: entry.name,
                contents: entry.bytes,
            });
        }
        for (name, contents) in fwcfg::read_prefixed(FILE_FW_CFG_PREFIX, MAX_FW_CFG_FILE) {
            all.push(BakedFile {
                name: alloc::boxed::Box::leak(name.into_boxed_str()),
                contents: alloc::boxed::Box::leak(contents.into_boxed_slice()),
            });
        }
        // Usually sorted already (files/ is, and a launch adds none or few): checking
        // runs far less code at boot than a sort, which TCG would translate first.
        if !all.is_sorted_by_key(|f| f.name) {
            all.sort_by_key(|f| f.name);
        }
        alloc::boxed::Box::leak(all.into_boxed_slice())
    })
}

/// The rc script, from the first of: fw_cfg `opt/kiln/rc`, the boot module
/// (`-initrd`: a bundle's rc, or the module's text), `kiln.rc=` on the kernel command
/// line (one line; `;` separates commands), the image's bundle (`kiln bake --rc`), and
/// the default in `files/rc`.
fn load_rc(command_line: &str) -> String {
    if let Some(bytes) = fwcfg::read_file(RC_FW_CFG_NAME) {
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    if let Some(rc) = bundle::module_rc() {
        return String::from_utf8_lossy(rc).into_owned();
    }
    if let Some(line) = kiln_init::cmdline::value(command_line, RC_COMMAND_LINE_KEY) {
        return format!("{line}\n");
    }
    if let Some(rc) = bundle::baked_rc() {
        return String::from_utf8_lossy(rc).into_owned();
    }
    FILES
        .iter()
        .find(|f| f.name == RC_BAKED_NAME)
        .map(|f| String::from_utf8_lossy(f.contents).into_owned())
        .unwrap_or_else(|| String::from("shell\n"))
}

/// Unwinding never happens (panic = "abort"), but the prebuilt `core` refers to it.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}

/// See `rust_eh_personality`.
#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_Resume() -> ! {
    power::halt()
}
