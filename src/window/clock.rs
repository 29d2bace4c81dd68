//! Stream seconds of a stream's segments.
//!
//! Files: `frame / fps` (pts from the first frame when the rate is unknown). Live streams:
//! each connection starts at its offset — 0 for the first, the source's `offset_s`
//! (wall-clock seconds since the stream first started) after an outage — and within a
//! connection time follows the pts from the connection's first segment (frames / fps
//! when there are no pts). Times never go back: a connection that starts before the end
//! of the previous one's last segment starts there instead.
use super::stage::SegMeta;
use crate::features::SegmentFeatures;
use crate::source::StreamInfo;

#[derive(Debug, Clone, Default)]
pub struct StreamClock {
    fps: f64,
    live: bool,
    first_pts_ns: Option<u64>,
    /// Stream seconds where the current connection starts.
    offset_s: f64,
    /// (pts, first frame) of the current connection's first segment.
    base: Option<(Option<u64>, u64)>,
    /// End of the last segment so far.
    last_end_s: f64,
}

impl StreamClock {
    pub fn new(info: &StreamInfo) -> Self {
        Self { fps: info.fps, live: info.live, first_pts_ns: info.first_pts_ns, ..Self::default() }
    }

    /// A new connection starts at `offset_s` (live streams after an outage).
    pub fn reconnect(&mut self, offset_s: f64) {
        self.offset_s = offset_s.max(self.last_end_s);
        self.base = None;
    }

    pub fn meta(&mut self, s: &SegmentFeatures) -> SegMeta {
        let (time_start, time_end) = if self.live { self.live_times(s) } else { self.file_times(s) };
        self.last_end_s = self.last_end_s.max(time_end);
        SegMeta { index: s.index, frame_start: s.frame_start, frame_end: s.frame_end, time_start, time_end }
    }

    fn file_times(&self, s: &SegmentFeatures) -> (f64, f64) {
        if self.fps > 0.0 {
            (s.frame_start as f64 / self.fps, s.frame_end as f64 / self.fps)
        } else {
            let t0 = self.first_pts_ns.unwrap_or(0);
            let t = s.pts_ns.map_or(0.0, |p| p.saturating_sub(t0) as f64 / 1e9);
            (t, t)
        }
    }

    fn live_times(&mut self, s: &SegmentFeatures) -> (f64, f64) {
        let (base_pts, base_frame) = *self.base.get_or_insert((s.pts_ns, s.frame_start));
        let rel = match (s.pts_ns, base_pts) {
            (Some(p), Some(b)) => p.saturating_sub(b) as f64 / 1e9,
            _ if self.fps > 0.0 => (s.frame_start - base_frame) as f64 / self.fps,
            _ => 0.0,
        };
        let start = self.offset_s + rel;
        let len = if self.fps > 0.0 { (s.frame_end - s.frame_start) as f64 / self.fps } else { 0.0 };
        (start, start + len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(index: usize, frames: (u64, u64), pts_s: Option<f64>) -> SegmentFeatures {
        SegmentFeatures {
            stream: "cam".into(),
            index,
            outages: 0,
            frame_start: frames.0,
            frame_end: frames.1,
            pts_ns: pts_s.map(|s| (s * 1e9) as u64),
            vector: Vec::new(),
        }
    }

    fn live(fps: f64) -> StreamClock {
        StreamClock::new(&StreamInfo { fps, live: true, first_pts_ns: Some(5_000_000_000), ..Default::default() })
    }

    #[test]
    fn live_connections_start_at_their_offset_and_follow_pts() {
        let mut c = live(10.0);
        // First connection: pts start at 5 s (the stream's base), 16 frames at 10 fps.
        let a = c.meta(&seg(0, (0, 16), Some(5.0)));
        let b = c.meta(&seg(1, (16, 32), Some(6.7)));
        assert_eq!((a.time_start, a.time_end), (0.0, 1.6));
        assert!((b.time_start - 1.7).abs() < 1e-9, "pts-based within a connection: {}", b.time_start);
        // After an outage the source restarts its pts at 0; the connection starts at 30 s.
        c.reconnect(30.0);
        let d = c.meta(&seg(2, (32, 48), Some(0.0)));
        let e = c.meta(&seg(3, (48, 64), Some(1.6)));
        assert!(d.time_start == 30.0 && (d.time_end - 31.6).abs() < 1e-9, "{d:?}");
        assert!((e.time_start - 31.6).abs() < 1e-9);
        // An offset behind what was already reported never moves time back.
        c.reconnect(1.0);
        let f = c.meta(&seg(4, (64, 80), Some(9.0)));
        assert!((f.time_start - e.time_end).abs() < 1e-9, "{}", f.time_start);
    }

    #[test]
    fn live_without_pts_counts_frames_from_the_connection_start() {
        let mut c = live(25.0);
        c.meta(&seg(0, (0, 16), None));
        c.reconnect(100.0);
        let s = c.meta(&seg(1, (40, 56), None));
        assert!(s.time_start == 100.0 && (s.time_end - 100.64).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn files_use_frames_over_fps() {
        let mut c = StreamClock::new(&StreamInfo { fps: 25.0, first_pts_ns: Some(7), ..Default::default() });
        let s = c.meta(&seg(3, (48, 64), Some(99.0)));
        assert_eq!((s.time_start, s.time_end), (1.92, 2.56));
    }
}
