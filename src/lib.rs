//! The kiln launcher library: builds the image and runs it in QEMU.
