//! init's [`Platform`] on real hardware: the scheduler, the clock, the heap, power.

use alloc::boxed::Box;
use core::time::Duration;

use kiln_init::platform::{
    Fault, HeapStats, Platform, PowerAction, SpawnError, Status, ThreadBody, ThreadId, ThreadKind,
};

use alloc::format;
use alloc::string::String;

use crate::{heap, power, sched, symbols, time};

/// The status of a job ended by `kill -9` (128 + SIGKILL).
pub const KILLED_STATUS: Status = 137;
/// An address no page table maps (PML4 entry 0 maps only its first 4 GiB).
const UNMAPPED_ADDRESS: u64 = 0x40_0000_0000;

/// The machine, as init sees it.
pub struct BoardPlatform;

/// The one instance init gets.
pub static PLATFORM: BoardPlatform = BoardPlatform;

fn to_ns(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl Platform for BoardPlatform {
    fn now(&self) -> Duration {
        Duration::from_nanos(time::now_ns())
    }

    fn shared(&self) -> Option<&'static dyn Platform> {
        Some(&PLATFORM)
    }

    fn cycles(&self) -> Option<u64> {
        Some(time::rdtsc())
    }

    fn cycles_per_second(&self) -> Option<u64> {
        time::tsc_hz()
    }

    fn boot_phase(&self, phase: &'static str) {
        crate::bootstats::mark(phase);
    }

    fn current_thread(&self) -> ThreadId {
        sched::current_id()
    }

    fn park(&self, deadline: Option<Duration>) {
        sched::park_until(deadline.map(to_ns));
    }

    fn unpark(&self, thread: ThreadId) {
        sched::unpark(thread);
    }

    fn yield_now(&self) {
        sched::yield_now();
    }

    fn spawn(
        &self,
        name: &str,
        kind: ThreadKind,
        body: Box<dyn ThreadBody>,
    ) -> Result<ThreadId, SpawnError> {
        sched::spawn(name, kind, body)
    }

    fn kill_after(&self, thread: ThreadId, grace: Duration) -> bool {
        sched::kill_after(thread, to_ns(grace))
    }

    fn room_for_background(&self) -> bool {
        heap::room_for_background()
    }

    fn kernel_owned(&self, section: &mut dyn FnMut()) {
        let _kernel = sched::NoPreempt::enter();
        section();
    }

    fn power(&self, action: PowerAction) {
        match action {
            PowerAction::Off(status) => power::power_off(status),
            PowerAction::Halt => {
                crate::kprintln!("kiln: halted");
                power::halt()
            }
            PowerAction::Reboot => power::reboot(),
        }
    }

    fn net(&self) -> Option<&dyn kiln_init::net::Net> {
        crate::net::stack()
    }

    fn heap_stats(&self) -> Option<HeapStats> {
        Some(heap::stats())
    }

    fn location(&self, thread: ThreadId) -> Option<String> {
        let rip = sched::saved_rip(thread)?;
        let (name, offset) = symbols::lookup(rip)?;
        Some(format!("{name}+{offset:#x}"))
    }

    fn memory(&self, thread: ThreadId) -> Option<usize> {
        sched::memory_of(thread)
    }

    fn kill(&self, thread: ThreadId) -> bool {
        sched::request_kill(thread)
    }

    fn stop(&self, thread: ThreadId) -> bool {
        sched::stop(thread)
    }

    fn resume(&self, thread: ThreadId) -> bool {
        sched::resume(thread)
    }

    fn cpu_time(&self, thread: ThreadId) -> Option<Duration> {
        sched::cpu_ns(thread).map(Duration::from_nanos)
    }

    fn raise_fault(&self, fault: Fault) {
        match fault {
            // SAFETY: deliberately faults; the fault handler ends this thread's job.
            Fault::DivideByZero => unsafe {
                core::arch::asm!(
                    "xor edx, edx",
                    "xor eax, eax",
                    "xor ecx, ecx",
                    "div ecx",
                    out("eax") _, out("ecx") _, out("edx") _,
                )
            },
            // SAFETY: as above.
            Fault::InvalidOpcode => unsafe { core::arch::asm!("ud2") },
            // SAFETY: as above; the address is unmapped, so the read faults.
            Fault::PageFault => unsafe {
                core::ptr::read_volatile(UNMAPPED_ADDRESS as *const u8);
            },
        }
    }
}
