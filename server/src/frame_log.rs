//! The replay source's frame log: one JSON object per line (DESIGN.md, "The command line"),
//! `{"event":"frame","index":K,"t_ms":UNIX_MS,"sha256":HEX}` each time frame K is shown.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug)]
pub struct FrameLog {
    file: BufWriter<File>,
}

impl FrameLog {
    pub fn create(path: &Path) -> std::io::Result<FrameLog> {
        Ok(FrameLog {
            file: BufWriter::new(File::create(path)?),
        })
    }

    pub fn frame(&mut self, index: usize, sha256: &str) -> std::io::Result<()> {
        let t_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        writeln!(
            self.file,
            "{{\"event\":\"frame\",\"index\":{index},\"t_ms\":{t_ms},\"sha256\":\"{sha256}\"}}"
        )?;
        // Readers follow the log live; a line must not sit in the buffer.
        self.file.flush()
    }
}
