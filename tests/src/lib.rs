//! QEMU console harness.
