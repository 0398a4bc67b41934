//! The viewer's frame log: one JSON object per line (DESIGN.md, "The command line"),
//! `{"event":"update","t_ms":UNIX_MS,"bytes":N,"rects":N,"sha256":HEX}` after each complete
//! FramebufferUpdate.

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

    pub fn update(&mut self, bytes: usize, rects: usize, sha256: &str) -> std::io::Result<()> {
        let t_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        writeln!(
            self.file,
            "{{\"event\":\"update\",\"t_ms\":{t_ms},\"bytes\":{bytes},\"rects\":{rects},\"sha256\":\"{sha256}\"}}"
        )?;
        // Benchmarks read the log while the viewer runs.
        self.file.flush()
    }
}
