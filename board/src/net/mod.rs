//! The packet path: virtio-net over PCI or MMIO, the firewall, smoltcp, and the network
//! thread.
//!
//! - [`start`] (called once at boot) looks for a virtio-net device on PCI bus 0 (`-M pc`:
//!   configuration space through ports 0xCF8/0xCFC, [`crate::pci`]), else among the
//!   virtio-mmio devices of the kernel command line (`virtio_mmio.device=`, as QEMU's
//!   microvm and Firecracker pass them), sets it up with the
//!   `virtio-drivers` crate ([`hal`] gives it DMA memory), wraps it in the firewall
//!   ([`device`]) and starts the `net` thread. No device: no thread, and programs get
//!   [`NetError::NoDevice`].
//! - The `net` thread polls smoltcp's interface. It parks until the device's interrupt
//!   (its PCI INTx line, as the firmware routed it to the PIC), a program's request, or
//!   smoltcp's next timer, whichever comes first. The line is level-triggered: the
//!   interrupt handler masks it and wakes the thread, which acknowledges the device
//!   (reading its ISR status lowers the line) and unmasks it after polling.
//! - Programs reach the stack through [`kiln_init::net::Net`], implemented by
//!   [`NetStack`]. Their calls never block on the network: they change socket state under
//!   the stack lock and wake the thread; [`Net::wait`] parks until the thread reports
//!   activity.
//!
//! Locking: the stack lives in one spin lock. Programs take it with interrupts off (so a
//! `kill -9` at a tick can never end a thread that holds it) and hold it only for a
//! socket operation. The `net` thread takes it with interrupts on for a whole poll (which
//! can be long under a flood, and must let the timer preempt it); it is never killed. A
//! thread that finds the lock taken yields. Nothing takes it in an interrupt handler.

pub mod device;
pub mod hal;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv4Addr;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use core::time::Duration;

use core::ptr::NonNull;
use kiln_init::net::{
    IfConfig, ListenerInfo, MAX_BACKLOG, Net, NetError, NetInfo, Result, SocketId, SocketInfo,
    TcpState,
};
use kiln_init::platform::{ThreadKind, closure_body};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint};
use virtio_drivers::device::net::VirtIONet;
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::pci::bus::{Command, ConfigurationAccess, DeviceFunction, PciRoot};
use virtio_drivers::transport::pci::{PciTransport, virtio_device_type};
use virtio_drivers::transport::{DeviceType, SomeTransport, Transport};
use x86_64::instructions::interrupts;

use crate::pci::{INTERRUPT_LINE_OFFSET, PortCam};
use crate::{kprintln, pic, sched, time};
use device::{FilteredNic, Nic, RX_BUFFER_LEN};

/// Bytes of receive and of send buffer per TCP socket.
const TCP_BUFFER_LEN: usize = 8 * 1024;
/// Seconds without an answer from the peer before a connection is given up.
const TCP_TIMEOUT_SECS: u64 = 60;
/// Seconds of silence before a keep-alive probes the peer.
const TCP_KEEP_ALIVE_SECS: u64 = 20;
/// The first ephemeral port `tcp_connect` uses (IANA's dynamic range).
const EPHEMERAL_FIRST: u16 = 49152;
const EPHEMERAL_COUNT: u16 = 16384;
/// The longest the `net` thread sleeps without being woken (a safety net for a lost
/// interrupt; smoltcp's own timers usually wake it sooner).
const MAX_IDLE: Duration = Duration::from_millis(100);
/// How long the `net` thread sleeps between polls when the device has no usable IRQ.
const POLL_INTERVAL: Duration = Duration::from_millis(2);
/// How long a released socket may take to finish closing before it is reset.
const LINGER: Duration = Duration::from_secs(10);
/// How often the `net` thread looks for sockets whose thread is gone.
const ABANDONED_CHECK: Duration = Duration::from_secs(1);
/// Threads [`Net::wait`] can remember at once (more just wait for their deadline).
const MAX_WAITERS: usize = 64;
/// No IRQ recorded.
const NO_IRQ: u8 = 0xFF;

/// Everything the stack is: interface, sockets, the filtered NIC.
struct Stack {
    device: FilteredNic,
    iface: Interface,
    sockets: SocketSet<'static>,
    /// Open sockets, by the number programs know them by.
    handles: BTreeMap<SocketId, Handle>,
    /// Listeners, by the number programs know them by (shared with `handles`).
    listeners: BTreeMap<SocketId, Listener>,
    /// Released sockets still closing, and when they are reset regardless.
    orphans: Vec<(SocketHandle, Instant)>,
    next_id: SocketId,
    next_ephemeral: u16,
    config: Option<IfConfig>,
    name: String,
}

/// A listening port with a backlog: `armed` sockets listen or are in the handshake,
/// `queued` ones are connected and wait for `tcp_accept`; together they are `backlog`.
struct Listener {
    port: u16,
    backlog: usize,
    armed: Vec<SocketHandle>,
    queued: VecDeque<SocketHandle>,
    /// As [`Handle::owner`].
    owner: u64,
}

/// A program's socket.
struct Handle {
    handle: SocketHandle,
    /// The program asked for a FIN (`tcp_close`).
    closed: bool,
    /// The thread that opened it: if that thread is gone without releasing it (a job
    /// ended by `kill -9` or a fault runs no destructors), the socket is reset and freed.
    owner: u64,
}

/// The stack, a `Send` wrapper: it holds raw MMIO and DMA pointers (the device), which
/// only the holder of the lock ever touches.
struct Shared(Option<Stack>);

// SAFETY: the pointers inside (virtqueues, BARs) refer to memory and MMIO that no other
// code uses; access is serialised by `STACK`'s lock, so moving the owner between
// threads is sound.
unsafe impl Send for Shared {}

static STACK: spin::Mutex<Shared> = spin::Mutex::new(Shared(None));
/// Set once a device is up and the `net` thread runs.
static PRESENT: AtomicBool = AtomicBool::new(false);
/// The `net` thread, or 0 before it starts.
static NET_THREAD: AtomicU64 = AtomicU64::new(0);
/// The device's PIC IRQ line, or [`NO_IRQ`].
static NET_IRQ: AtomicU8 = AtomicU8::new(NO_IRQ);
/// Set by the interrupt handler; the thread acknowledges the device and unmasks.
static IRQ_SEEN: AtomicBool = AtomicBool::new(false);
/// Threads parked in [`Net::wait`].
static WAITERS: crate::sync::IrqMutex<heapless::Vec<u64, MAX_WAITERS>> =
    crate::sync::IrqMutex::new(heapless::Vec::new());

/// The stack as programs see it.
pub struct NetStack;

/// The one instance, handed out by the platform.
pub static NET: NetStack = NetStack;

fn now() -> Instant {
    Instant::from_micros((time::now_ns() / 1_000) as i64)
}

/// Holds the stack lock; interrupts come back when dropped if they were on.
struct Guard {
    guard: Option<spin::MutexGuard<'static, Shared>>,
    restore_interrupts: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.guard = None;
        if self.restore_interrupts {
            interrupts::enable();
        }
    }
}

impl Guard {
    fn stack(&mut self) -> Result<&mut Stack> {
        self.guard
            .as_mut()
            .and_then(|g| g.0.as_mut())
            .ok_or(NetError::NoDevice)
    }
}

/// Takes the stack lock for a program's call: interrupts stay off while it is held.
fn lock_for_call() -> Guard {
    loop {
        let were_enabled = interrupts::are_enabled();
        interrupts::disable();
        if let Some(guard) = STACK.try_lock() {
            return Guard {
                guard: Some(guard),
                restore_interrupts: were_enabled,
            };
        }
        if were_enabled {
            interrupts::enable();
        }
        sched::yield_now();
    }
}

/// Takes the stack lock for the `net` thread's poll: interrupts stay on.
fn lock_for_poll() -> spin::MutexGuard<'static, Shared> {
    loop {
        if let Some(guard) = STACK.try_lock() {
            return guard;
        }
        sched::yield_now();
    }
}

/// Wakes the `net` thread (a program changed a socket).
fn kick() {
    let thread = NET_THREAD.load(Ordering::Relaxed);
    if thread != 0 {
        sched::unpark(thread);
    }
}

/// Finds a virtio-net device (on PCI bus 0, else among the virtio-mmio devices the
/// kernel command line names), sets it up and starts the `net` thread.
pub fn start(command_line: &str) {
    let Some((nic, where_, line)) = pci_nic().or_else(|| mmio_nic(command_line)) else {
        return;
    };
    let mac = nic.mac_address();
    let mut device = FilteredNic::new(nic);
    let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
    config.random_seed = time::rdtsc();
    let iface = Interface::new(config, &mut device, now());
    // A line the PIC has free; else (a virtio-mmio line above 15, which only an
    // IOAPIC can route) the device is polled.
    let irq = match u8::try_from(line) {
        Ok(line) if pic::is_free_line(line) => line,
        _ => NO_IRQ,
    };
    let name = if irq == NO_IRQ {
        format!("virtio-net {where_} (polled)")
    } else {
        format!("virtio-net {where_} irq {irq}")
    };
    *STACK.lock() = Shared(Some(Stack {
        device,
        iface,
        sockets: SocketSet::new(Vec::new()),
        handles: BTreeMap::new(),
        listeners: BTreeMap::new(),
        orphans: Vec::new(),
        next_id: 1,
        next_ephemeral: 0,
        config: None,
        name,
    }));
    match sched::spawn("net", ThreadKind::Kernel, closure_body(net_thread, |_| {})) {
        Ok(id) => {
            NET_THREAD.store(id, Ordering::Relaxed);
            PRESENT.store(true, Ordering::Release);
        }
        Err(_) => {
            kprintln!("kiln: net: no memory for the network thread");
            return;
        }
    }
    if irq != NO_IRQ {
        NET_IRQ.store(irq, Ordering::Relaxed);
        interrupts::without_interrupts(|| pic::unmask(irq));
    }
}

/// A virtio-net device on PCI bus 0 (`-M pc`): the NIC, where it is, its INTx line as
/// the firmware routed it.
fn pci_nic() -> Option<(Nic, String, u32)> {
    let mut root = PciRoot::new(PortCam);
    let function = find_virtio_net(&root)?;
    let line = PortCam.read_word(function, INTERRUPT_LINE_OFFSET) as u8;
    root.set_command(
        function,
        Command::IO_SPACE | Command::MEMORY_SPACE | Command::BUS_MASTER,
    );
    let transport = match PciTransport::new::<hal::KilnHal, _>(&mut root, function) {
        Ok(transport) => transport,
        Err(error) => {
            kprintln!("kiln: net: virtio-net at {function}: {error}");
            return None;
        }
    };
    match VirtIONet::new(SomeTransport::Pci(transport), RX_BUFFER_LEN) {
        Ok(nic) => Some((nic, format!("{function}"), u32::from(line))),
        Err(error) => {
            kprintln!("kiln: net: virtio-net at {function}: {error}");
            None
        }
    }
}

/// The first virtio-net among the command line's virtio-mmio devices (QEMU's microvm,
/// Firecracker): the NIC, where it is, its interrupt line.
fn mmio_nic(command_line: &str) -> Option<(Nic, String, u32)> {
    for device in kiln_init::cmdline::virtio_mmio_devices(command_line) {
        // The boot page tables identity-map the first 4 GiB, where VMMs put these.
        if device.base == 0 || device.base + device.size > 1 << 32 {
            continue;
        }
        let Some(header) = NonNull::new(device.base as *mut VirtIOHeader) else {
            continue;
        };
        // SAFETY: the VMM says a virtio-mmio register block of `size` bytes is at
        // `base`, identity-mapped; nothing else in kiln touches it.
        let Ok(transport) = (unsafe { MmioTransport::new(header, device.size as usize) }) else {
            continue;
        };
        if transport.device_type() != DeviceType::Network {
            continue;
        }
        let where_ = format!("mmio {:#x}", device.base);
        return match VirtIONet::new(SomeTransport::Mmio(transport), RX_BUFFER_LEN) {
            Ok(nic) => Some((nic, where_, device.irq)),
            Err(error) => {
                kprintln!("kiln: net: virtio-net at {where_}: {error}");
                None
            }
        };
    }
    None
}

fn find_virtio_net(root: &PciRoot<PortCam>) -> Option<DeviceFunction> {
    // The devices of bus 0; `-M pc` puts every device QEMU is given there.
    root.enumerate_bus(0)
        .find(|(_, info)| virtio_device_type(info) == Some(DeviceType::Network))
        .map(|(function, _)| function)
}

/// The stack, once a device is up (programs get `None` on a machine without one).
pub fn stack() -> Option<&'static dyn Net> {
    PRESENT
        .load(Ordering::Acquire)
        .then_some(&NET as &'static dyn Net)
}

/// True if `irq` is the network device's line.
pub fn owns_irq(irq: u8) -> bool {
    NET_IRQ.load(Ordering::Relaxed) == irq
}

/// The device's interrupt: mask the (level-triggered) line until the thread has
/// acknowledged the device, and wake the thread.
pub fn on_interrupt(irq: u8) {
    pic::mask(irq);
    IRQ_SEEN.store(true, Ordering::Release);
    kick();
}

fn wake_waiters() {
    let waiters = core::mem::take(&mut *WAITERS.lock());
    for thread in waiters {
        sched::unpark(thread);
    }
}

fn net_thread() {
    let mut next_abandoned_check = Duration::ZERO;
    loop {
        let (activity, delay, pending) = {
            let mut shared = lock_for_poll();
            let Some(stack) = shared.0.as_mut() else {
                return;
            };
            let irq = NET_IRQ.load(Ordering::Relaxed);
            if IRQ_SEEN.swap(false, Ordering::Acquire) {
                stack.device.inner.get_mut().nic.ack_interrupt();
                // Lowered: a frame that arrives from here on raises it again.
                interrupts::without_interrupts(|| pic::unmask(irq));
            }
            let before = stack.device.inner.get_mut().counters;
            let timestamp = now();
            let clock = Duration::from_nanos(time::now_ns());
            if clock >= next_abandoned_check {
                next_abandoned_check = clock + ABANDONED_CHECK;
                // Before the poll, so the resets go out in it.
                stack.reap_abandoned(timestamp);
            }
            let result = stack
                .iface
                .poll(timestamp, &mut stack.device, &mut stack.sockets);
            stack.reap_orphans(timestamp);
            stack.tend_listeners(timestamp);
            let after = stack.device.inner.get_mut().counters;
            let activity =
                result == smoltcp::iface::PollResult::SocketStateChanged || before != after;
            let delay = stack
                .iface
                .poll_delay(now(), &stack.sockets)
                .map(|d| Duration::from_micros(d.total_micros()));
            (activity, delay, stack.device.rx_pending())
        };
        if activity {
            wake_waiters();
        }
        if pending {
            // More frames than one poll took (a flood): let others run, then go on.
            sched::yield_now();
            continue;
        }
        let idle = if NET_IRQ.load(Ordering::Relaxed) == NO_IRQ {
            POLL_INTERVAL
        } else {
            MAX_IDLE
        };
        let sleep = delay.map_or(idle, |d| d.min(idle));
        if sleep > Duration::ZERO {
            sched::park(Some(sleep.as_nanos() as u64));
        }
    }
}

impl Stack {
    fn tcp(&mut self, id: SocketId) -> Result<&mut tcp::Socket<'static>> {
        let handle = self
            .handles
            .get(&id)
            .ok_or(NetError::NoSuchSocket(id))?
            .handle;
        Ok(self.sockets.get_mut::<tcp::Socket>(handle))
    }

    /// A number for a new socket or listener.
    fn new_id(&mut self) -> SocketId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn add(&mut self, socket: tcp::Socket<'static>) -> SocketId {
        let handle = self.sockets.add(socket);
        self.register(handle)
    }

    /// Gives the calling thread a number for a socket already in the set.
    fn register(&mut self, handle: SocketHandle) -> SocketId {
        let id = self.new_id();
        self.handles.insert(
            id,
            Handle {
                handle,
                closed: false,
                owner: sched::current_id(),
            },
        );
        id
    }

    /// Resets and frees the sockets of threads that are gone.
    fn reap_abandoned(&mut self, timestamp: Instant) {
        let abandoned: Vec<SocketId> = self
            .handles
            .iter()
            .filter(|(_, handle)| sched::cpu_ns(handle.owner).is_none())
            .map(|(&id, _)| id)
            .collect();
        for id in abandoned {
            if let Some(handle) = self.handles.remove(&id) {
                self.sockets.get_mut::<tcp::Socket>(handle.handle).abort();
                self.orphans.push((handle.handle, timestamp));
            }
        }
        let abandoned: Vec<SocketId> = self
            .listeners
            .iter()
            .filter(|(_, listener)| sched::cpu_ns(listener.owner).is_none())
            .map(|(&id, _)| id)
            .collect();
        for id in abandoned {
            self.drop_listener(id, timestamp);
        }
    }

    /// Resets a listener's sockets, armed and queued, and forgets it.
    fn drop_listener(&mut self, id: SocketId, timestamp: Instant) {
        let Some(listener) = self.listeners.remove(&id) else {
            return;
        };
        for handle in listener.armed.into_iter().chain(listener.queued) {
            self.sockets.get_mut::<tcp::Socket>(handle).abort();
            self.orphans.push((handle, timestamp));
        }
        self.count_free_listeners();
    }

    /// Moves connected sockets from armed to queued, frees the ones whose handshake
    /// failed, arms new ones up to each backlog, and tells the device how many listen
    /// on each port.
    fn tend_listeners(&mut self, timestamp: Instant) {
        for listener in self.listeners.values_mut() {
            let sockets = &mut self.sockets;
            let orphans = &mut self.orphans;
            listener.armed.retain(|&handle| {
                match sockets.get::<tcp::Socket>(handle).state() {
                    tcp::State::Listen | tcp::State::SynReceived => true,
                    tcp::State::Closed | tcp::State::TimeWait => {
                        // The handshake failed (reset, timed out): its place listens again.
                        orphans.push((handle, timestamp));
                        false
                    }
                    _ => {
                        listener.queued.push_back(handle);
                        false
                    }
                }
            });
            while listener.armed.len() + listener.queued.len() < listener.backlog {
                let mut socket = new_socket();
                if socket.listen(listener.port).is_err() {
                    break;
                }
                listener.armed.push(sockets.add(socket));
            }
        }
        self.count_free_listeners();
    }

    /// Sets the device's count of listening sockets per port.
    fn count_free_listeners(&mut self) {
        let inner = self.device.inner.get_mut();
        inner.listen_free.clear();
        for listener in self.listeners.values() {
            let listening = listener
                .armed
                .iter()
                .filter(|&&handle| {
                    self.sockets.get::<tcp::Socket>(handle).state() == tcp::State::Listen
                })
                .count();
            *inner.listen_free.entry(listener.port).or_insert(0) += listening;
        }
    }

    /// Removes released sockets that finished closing (or ran out of time).
    fn reap_orphans(&mut self, timestamp: Instant) {
        let sockets = &mut self.sockets;
        self.orphans.retain(|&(handle, deadline)| {
            let socket = sockets.get_mut::<tcp::Socket>(handle);
            let done = matches!(socket.state(), tcp::State::Closed | tcp::State::TimeWait);
            if !done && timestamp < deadline {
                return true;
            }
            socket.abort();
            sockets.remove(handle);
            false
        });
    }

    fn ephemeral_port(&mut self) -> u16 {
        let port = EPHEMERAL_FIRST + self.next_ephemeral % EPHEMERAL_COUNT;
        self.next_ephemeral = self.next_ephemeral.wrapping_add(1);
        port
    }
}

/// A TCP socket with kiln's buffers and timeouts.
fn new_socket() -> tcp::Socket<'static> {
    let mut socket = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER_LEN]),
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER_LEN]),
    );
    // A peer that vanishes (no ACKs, no answer to keep-alives) ends the connection
    // instead of holding the socket for ever.
    socket.set_timeout(Some(smoltcp::time::Duration::from_secs(TCP_TIMEOUT_SECS)));
    socket.set_keep_alive(Some(smoltcp::time::Duration::from_secs(
        TCP_KEEP_ALIVE_SECS,
    )));
    socket
}

fn state(state: tcp::State) -> TcpState {
    match state {
        tcp::State::Closed => TcpState::Closed,
        tcp::State::Listen => TcpState::Listen,
        tcp::State::SynSent => TcpState::SynSent,
        tcp::State::SynReceived => TcpState::SynReceived,
        tcp::State::Established => TcpState::Established,
        tcp::State::FinWait1 => TcpState::FinWait1,
        tcp::State::FinWait2 => TcpState::FinWait2,
        tcp::State::CloseWait => TcpState::CloseWait,
        tcp::State::Closing => TcpState::Closing,
        tcp::State::LastAck => TcpState::LastAck,
        tcp::State::TimeWait => TcpState::TimeWait,
    }
}

fn ipv4(endpoint: IpEndpoint) -> (Ipv4Addr, u16) {
    match endpoint.addr {
        IpAddress::Ipv4(address) => (address, endpoint.port),
    }
}

/// True in the states before a connection exists (data may still come).
fn not_yet(state: tcp::State) -> bool {
    matches!(
        state,
        tcp::State::Listen | tcp::State::SynSent | tcp::State::SynReceived
    )
}

impl Net for NetStack {
    fn up(&self, config: IfConfig) -> Result<()> {
        if config.prefix_len > 32 {
            return Err(NetError::Refused(format!(
                "prefix length {}",
                config.prefix_len
            )));
        }
        {
            let mut guard = lock_for_call();
            let stack = guard.stack()?;
            stack.iface.update_ip_addrs(|addresses| {
                addresses.clear();
                let _ = addresses.push(IpCidr::new(
                    IpAddress::Ipv4(config.address),
                    config.prefix_len,
                ));
            });
            let routes = stack.iface.routes_mut();
            routes.remove_default_ipv4_route();
            if let Some(gateway) = config.gateway {
                routes
                    .add_default_ipv4_route(gateway)
                    .map_err(|_| NetError::Refused("the route table is full".into()))?;
            }
            stack.config = Some(config);
        }
        kick();
        Ok(())
    }

    fn info(&self) -> NetInfo {
        let mut guard = lock_for_call();
        let Ok(stack) = guard.stack() else {
            return NetInfo {
                device: String::from("none"),
                mac: [0; 6],
                config: None,
                counters: Default::default(),
                listeners: Vec::new(),
                closing: 0,
                sockets: Vec::new(),
            };
        };
        let inner = stack.device.inner.get_mut();
        let mac = inner.nic.mac_address();
        let counters = inner.counters;
        let sockets = stack
            .handles
            .iter()
            .map(|(&id, handle)| {
                let socket = stack.sockets.get::<tcp::Socket>(handle.handle);
                SocketInfo {
                    id,
                    state: state(socket.state()),
                    local_port: socket
                        .local_endpoint()
                        .map_or(socket.listen_endpoint().port, |e| e.port),
                    remote: socket.remote_endpoint().map(ipv4),
                }
            })
            .collect();
        let listeners = stack
            .listeners
            .iter()
            .map(|(&id, listener)| ListenerInfo {
                id,
                port: listener.port,
                backlog: listener.backlog,
                armed: listener.armed.len(),
                queued: listener.queued.len(),
            })
            .collect();
        NetInfo {
            device: stack.name.clone(),
            mac,
            config: stack.config,
            counters,
            listeners,
            closing: stack.orphans.len(),
            sockets,
        }
    }

    fn tcp_listen(&self, port: u16, backlog: usize) -> Result<SocketId> {
        if port == 0 {
            return Err(NetError::BadPort(port));
        }
        if !(1..=MAX_BACKLOG).contains(&backlog) {
            return Err(NetError::Refused(format!(
                "backlog {backlog} (1 to {MAX_BACKLOG})"
            )));
        }
        let id = {
            let mut guard = lock_for_call();
            let stack = guard.stack()?;
            let id = stack.new_id();
            stack.listeners.insert(
                id,
                Listener {
                    port,
                    backlog,
                    armed: Vec::new(),
                    queued: VecDeque::new(),
                    owner: sched::current_id(),
                },
            );
            stack.tend_listeners(now());
            id
        };
        kick();
        Ok(id)
    }

    fn tcp_accept(&self, listener: SocketId) -> Result<Option<SocketId>> {
        let accepted = {
            let mut guard = lock_for_call();
            let stack = guard.stack()?;
            // Connections are queued after every poll (`tend_listeners`).
            let handle = stack
                .listeners
                .get_mut(&listener)
                .ok_or(NetError::NoSuchSocket(listener))?
                .queued
                .pop_front();
            handle.map(|handle| {
                let id = stack.register(handle);
                stack.device.inner.get_mut().counters.accepted += 1;
                // Its place in the backlog listens again now.
                stack.tend_listeners(now());
                id
            })
        };
        if accepted.is_some() {
            kick();
        }
        Ok(accepted)
    }

    fn tcp_connect(&self, address: Ipv4Addr, port: u16) -> Result<SocketId> {
        if port == 0 {
            return Err(NetError::BadPort(port));
        }
        let id = {
            let mut guard = lock_for_call();
            let stack = guard.stack()?;
            if stack.config.is_none() {
                return Err(NetError::Down);
            }
            let mut socket = new_socket();
            let local = stack.ephemeral_port();
            socket
                .connect(
                    stack.iface.context(),
                    (IpAddress::Ipv4(address), port),
                    local,
                )
                .map_err(|error| {
                    NetError::Refused(format!("connect to {address}:{port}: {error:?}"))
                })?;
            stack.add(socket)
        };
        kick();
        Ok(id)
    }

    fn tcp_state(&self, socket: SocketId) -> Result<TcpState> {
        let mut guard = lock_for_call();
        Ok(state(guard.stack()?.tcp(socket)?.state()))
    }

    fn tcp_send(&self, socket: SocketId, bytes: &[u8]) -> Result<usize> {
        let sent = {
            let mut guard = lock_for_call();
            let tcp = guard.stack()?.tcp(socket)?;
            if tcp.can_send() {
                tcp.send_slice(bytes).map_err(|_| NetError::Closed)?
            } else if tcp.may_send() || not_yet(tcp.state()) {
                0
            } else {
                return Err(NetError::Closed);
            }
        };
        if sent > 0 {
            kick();
        }
        Ok(sent)
    }

    fn tcp_recv(&self, socket: SocketId, buf: &mut [u8]) -> Result<usize> {
        let received = {
            let mut guard = lock_for_call();
            let tcp = guard.stack()?.tcp(socket)?;
            if tcp.can_recv() {
                tcp.recv_slice(buf).map_err(|_| NetError::Closed)?
            } else if tcp.may_recv() || not_yet(tcp.state()) {
                0
            } else {
                return Err(NetError::Closed);
            }
        };
        if received > 0 {
            // The window opened: let the thread tell the peer.
            kick();
        }
        Ok(received)
    }

    fn tcp_unsent(&self, socket: SocketId) -> Result<usize> {
        let mut guard = lock_for_call();
        let tcp = guard.stack()?.tcp(socket)?;
        Ok(match tcp.state() {
            tcp::State::Closed | tcp::State::TimeWait => 0,
            _ => tcp.send_queue(),
        })
    }

    fn tcp_close(&self, socket: SocketId) -> Result<()> {
        {
            let mut guard = lock_for_call();
            let stack = guard.stack()?;
            stack.tcp(socket)?.close();
            if let Some(handle) = stack.handles.get_mut(&socket) {
                handle.closed = true;
            }
        }
        kick();
        Ok(())
    }

    fn tcp_release(&self, socket: SocketId) {
        {
            let mut guard = lock_for_call();
            let Ok(stack) = guard.stack() else { return };
            if stack.listeners.contains_key(&socket) {
                stack.drop_listener(socket, now());
                drop(guard);
                kick();
                return;
            }
            let Some(handle) = stack.handles.remove(&socket) else {
                return;
            };
            let tcp = stack.sockets.get_mut::<tcp::Socket>(handle.handle);
            if !handle.closed || tcp.state() == tcp::State::Listen {
                // Never closed: the connection is reset (and a listener just goes).
                tcp.abort();
            }
            let deadline = now() + smoltcp::time::Duration::from_millis(LINGER.as_millis() as u64);
            stack.orphans.push((handle.handle, deadline));
        }
        kick();
    }

    fn wait(&self, deadline: Duration) {
        let me = sched::current_id();
        {
            let mut waiters = WAITERS.lock();
            if !waiters.contains(&me) {
                let _ = waiters.push(me);
            }
        }
        sched::park_until(Some(u64::try_from(deadline.as_nanos()).unwrap_or(u64::MAX)));
    }
}
