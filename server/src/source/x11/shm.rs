//! The one place that maps memory: the MIT-SHM segment the X server writes screen captures
//! into. The server creates the segment (ShmCreateSegment) and hands us its file descriptor;
//! we map it read-only, so capture costs no copy through the socket.

#![allow(unsafe_code)]

use std::fs::File;

use memmap2::Mmap;

/// A read-only view of a shared memory segment.
#[derive(Debug)]
pub struct SharedMemory {
    map: Mmap,
}

impl SharedMemory {
    /// Maps the whole of `file`, which must be at least `size` bytes long.
    pub fn map(file: &File, size: usize) -> std::io::Result<SharedMemory> {
        let length = file.metadata()?.len();
        if length < size as u64 {
            return Err(std::io::Error::other(format!(
                "shared memory segment of {length} bytes, {size} needed"
            )));
        }
        // SAFETY: the mapping is read-only and lives as long as `self`. The X server writes
        // into the segment only while it answers a ShmGetImage we sent; we read the bytes
        // after its reply arrived, never while a request that writes them is outstanding.
        // The segment is never truncated while mapped: we are its only other user.
        let map = unsafe { memmap2::MmapOptions::new().len(size).map(file)? };
        Ok(SharedMemory { map })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.map
    }
}
