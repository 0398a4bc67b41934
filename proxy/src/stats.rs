//! What a proxy tells its user while it runs: a one-line status every few seconds, and the
//! same figures as JSON in a file (`--stats-json`), rewritten each time, for scripts.

use std::path::PathBuf;
use std::time::Duration;

use crate::link::codec::LinkCounts;
use crate::link::tiles::TileCounts;

/// How often the status line is written.
pub const STATUS_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Default)]
pub struct LinkStats {
    pub side: &'static str,
    pub link: LinkCounts,
    pub tiles: TileCounts,
    pub updates: u64,
    pub rtt: Option<Duration>,
    pub resumes: u64,
}

impl LinkStats {
    pub fn new(side: &'static str) -> Self {
        Self {
            side,
            ..Self::default()
        }
    }

    pub fn add_tiles(&mut self, counts: TileCounts) {
        self.tiles.fills += counts.fills;
        self.tiles.cached += counts.cached;
        self.tiles.stitched += counts.stitched;
        self.tiles.new += counts.new;
    }

    /// Plain bytes per byte on the link, both directions together.
    pub fn compression_ratio(&self) -> f64 {
        let plain = self.link.sent_plain + self.link.received_plain;
        let wire = self.link.sent + self.link.received;
        plain as f64 / wire.max(1) as f64
    }

    /// Of the tiles that were not fills, the share that crossed as references.
    pub fn cache_hit_rate(&self) -> f64 {
        let looked_up = self.tiles.cached + self.tiles.stitched + self.tiles.new;
        self.tiles.cached as f64 / looked_up.max(1) as f64
    }

    pub fn status_line(&self) -> String {
        let rtt = self
            .rtt
            .map_or("-".to_string(), |rtt| format!("{} ms", rtt.as_millis()));
        format!(
            "{} link: sent {}, received {}, compression {:.1}:1, cache hits {:.0}%, rtt {rtt}, {} updates",
            self.side,
            human_bytes(self.link.sent),
            human_bytes(self.link.received),
            self.compression_ratio(),
            self.cache_hit_rate() * 100.0,
            self.updates,
        )
    }

    pub fn to_json(&self) -> String {
        format!(
            concat!(
                "{{\"side\":\"{}\",\"bytes_sent\":{},\"bytes_received\":{},",
                "\"plain_bytes_sent\":{},\"plain_bytes_received\":{},\"compression_ratio\":{:.3},",
                "\"tiles_new\":{},\"tiles_stitched\":{},\"tiles_cached\":{},\"tiles_filled\":{},",
                "\"cache_hit_rate\":{:.4},",
                "\"updates\":{},\"rtt_ms\":{},\"resumes\":{}}}"
            ),
            self.side,
            self.link.sent,
            self.link.received,
            self.link.sent_plain,
            self.link.received_plain,
            self.compression_ratio(),
            self.tiles.new,
            self.tiles.stitched,
            self.tiles.cached,
            self.tiles.fills,
            self.cache_hit_rate(),
            self.updates,
            self.rtt.map_or("null".to_string(), |rtt| format!(
                "{:.1}",
                rtt.as_secs_f64() * 1000.0
            )),
            self.resumes,
        )
    }

    /// Writes the JSON form to `path` (through a temporary file, so readers never see half).
    pub fn write_json(&self, path: &PathBuf) -> std::io::Result<()> {
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, self.to_json() + "\n")?;
        std::fs::rename(&temporary, path)
    }
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} kB", bytes as f64 / 1e3),
        _ => format!("{:.2} MB", bytes as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_reported_as_ratios_and_json() {
        let mut stats = LinkStats::new("far");
        stats.link = LinkCounts {
            sent: 1_000,
            sent_plain: 10_000,
            received: 0,
            received_plain: 0,
        };
        stats.add_tiles(TileCounts {
            fills: 5,
            cached: 3,
            stitched: 0,
            new: 1,
        });
        stats.rtt = Some(Duration::from_millis(200));
        assert_eq!(stats.compression_ratio(), 10.0);
        assert_eq!(stats.cache_hit_rate(), 0.75);
        assert!(
            stats.status_line().contains("cache hits 75%"),
            "{}",
            stats.status_line()
        );
        assert!(
            stats.to_json().contains("\"rtt_ms\":200.0"),
            "{}",
            stats.to_json()
        );
    }
}
