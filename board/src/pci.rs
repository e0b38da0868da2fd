//! PCI configuration space through the legacy port mechanism (0xCF8 address, 0xCFC data),
//! which `-M pc` (i440FX) has, as a `virtio-drivers` [`ConfigurationAccess`].
//!
//! virtio-drivers only ships a memory-mapped CAM; this is the port-I/O one. An address
//! write and the data access that follows must not be split by another thread's pair,
//! so each access holds [`CONFIG_LOCK`] (interrupts off: a few port accesses).
//!
//! Reference: PCI Local Bus Specification 3.0, section 3.2.2.3.2 ("Configuration
//! Mechanism #1").

use virtio_drivers::transport::pci::bus::{ConfigurationAccess, DeviceFunction};
use x86_64::instructions::port::Port;

use crate::sync::IrqMutex;

const CONFIG_ADDRESS: u16 = 0xCF8;
const CONFIG_DATA: u16 = 0xCFC;
/// The enable bit of CONFIG_ADDRESS.
const ENABLE: u32 = 1 << 31;
/// Offset of the interrupt line register (what the firmware routed INTx to).
pub const INTERRUPT_LINE_OFFSET: u8 = 0x3C;

static CONFIG_LOCK: IrqMutex<()> = IrqMutex::new(());

/// Configuration mechanism #1 through ports 0xCF8/0xCFC.
pub struct PortCam;

fn address(device_function: DeviceFunction, register_offset: u8) -> u32 {
    ENABLE
        | u32::from(device_function.bus) << 16
        | u32::from(device_function.device & 0x1F) << 11
        | u32::from(device_function.function & 0x07) << 8
        | u32::from(register_offset & 0xFC)
}

impl ConfigurationAccess for PortCam {
    fn read_word(&self, device_function: DeviceFunction, register_offset: u8) -> u32 {
        let _pair = CONFIG_LOCK.lock();
        // SAFETY: ports 0xCF8/0xCFC are the host bridge's configuration mechanism on
        // `-M pc`; selecting a register and reading it has no effect on memory.
        unsafe {
            Port::<u32>::new(CONFIG_ADDRESS).write(address(device_function, register_offset));
            Port::<u32>::new(CONFIG_DATA).read()
        }
    }

    fn write_word(&mut self, device_function: DeviceFunction, register_offset: u8, data: u32) {
        let _pair = CONFIG_LOCK.lock();
        // SAFETY: as in `read_word`; virtio-drivers writes only the command register and
        // BARs of the device it drives, which this kernel owns.
        unsafe {
            Port::<u32>::new(CONFIG_ADDRESS).write(address(device_function, register_offset));
            Port::<u32>::new(CONFIG_DATA).write(data);
        }
    }

    unsafe fn unsafe_clone(&self) -> Self {
        PortCam
    }
}
