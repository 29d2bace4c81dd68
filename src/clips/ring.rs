//! The live ring: encoded access units of one stream, bounded in seconds and bytes,
//! always starting at a keyframe so any cut can be decoded.
use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use gstreamer as gst;

/// One encoded access unit (a whole frame) as received.
#[derive(Debug, Clone)]
pub struct Unit {
    /// The encoded bytes (byte-stream, SPS/PPS in-band before each keyframe); shared, not copied.
    pub buffer: gst::Buffer,
    pub keyframe: bool,
    /// Decode time on the recorder's continuous timeline, nanoseconds (kept continuous
    /// across reconnects, see `recorder`).
    pub ts_ns: u64,
    /// Presentation minus decode time (B-frames), nanoseconds.
    pub cto_ns: u64,
    /// Wall-clock arrival time.
    pub wall: SystemTime,
}

/// Bounds of a ring.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RingLimits {
    /// Seconds of wall-clock arrival time held (a single GOP longer than this is kept whole).
    pub max_s: f64,
    /// Bytes held: a hard bound (a GOP larger than this empties the ring).
    pub max_bytes: usize,
}

/// Units of one stream, oldest first; the first unit is always a keyframe.
#[derive(Debug)]
pub struct Ring {
    units: VecDeque<Unit>,
    bytes: usize,
    limits: RingLimits,
    caps: Option<gst::Caps>,
    awaiting_key: bool,
}

/// A decodable run of units and their caps.
#[derive(Debug, Clone)]
pub struct Cut {
    pub units: Vec<Unit>,
    pub caps: gst::Caps,
}

impl Ring {
    pub fn new(limits: RingLimits) -> Self {
        Self { units: VecDeque::new(), bytes: 0, limits, caps: None, awaiting_key: true }
    }

    /// A new connection starts: its caps, and units are ignored until its first keyframe.
    pub fn resync(&mut self, caps: gst::Caps) {
        self.caps = Some(caps);
        self.awaiting_key = true;
    }

    /// Appends a unit, then drops whole GOPs from the front while over a bound.
    pub fn push(&mut self, unit: Unit) {
        if self.awaiting_key && !unit.keyframe {
            return;
        }
        self.awaiting_key = false;
        self.bytes += unit.buffer.size();
        self.units.push_back(unit);
        while self.span_s() > self.limits.max_s || self.bytes > self.limits.max_bytes {
            match self.units.iter().skip(1).position(|u| u.keyframe) {
                Some(i) => {
                    let dropped: usize = self.units.drain(..=i).map(|u| u.buffer.size()).sum();
                    self.bytes -= dropped;
                }
                None if self.bytes > self.limits.max_bytes => {
                    self.units.clear();
                    self.bytes = 0;
                    self.awaiting_key = true;
                }
                None => break,
            }
        }
    }

    /// Seconds between the oldest and the newest arrival.
    pub fn span_s(&self) -> f64 {
        match (self.units.front(), self.units.back()) {
            (Some(a), Some(b)) => b.wall.duration_since(a.wall).unwrap_or_default().as_secs_f64(),
            _ => 0.0,
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.units.len()
    }

    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// Arrival time of the newest unit.
    pub fn latest_wall(&self) -> Option<SystemTime> {
        self.units.back().map(|u| u.wall)
    }

    /// Units from the last keyframe arriving at or before `from` (the oldest keyframe when
    /// `from` is older than the ring) through the last unit arriving at or before `to`.
    pub fn cut(&self, from: SystemTime, to: SystemTime) -> Option<Cut> {
        let end = self.units.partition_point(|u| u.wall <= to);
        let start = self
            .units
            .iter()
            .take(end)
            .rposition(|u| u.keyframe && u.wall <= from)
            .or_else(|| self.units.iter().position(|u| u.keyframe))?;
        (start < end).then(|| Cut {
            units: self.units.range(start..end).cloned().collect(),
            caps: self.caps.clone().unwrap_or_else(|| gst::Caps::new_empty_simple("video/x-h264")),
        })
    }
}

/// The wall-clock instant of stream time `t_s` of a live stream that started (first
/// frame) at `stream_start`. Live stream time counts seconds since the stream started,
/// so the mapping is a shift; it is exact up to the difference between when analysis and
/// recorder connections see the same frame (network and pipeline latency, typically well
/// under a second). The only place stream time meets the ring's timeline.
pub fn stream_to_wall(stream_start: SystemTime, t_s: f64) -> SystemTime {
    if t_s >= 0.0 {
        stream_start + Duration::from_secs_f64(t_s)
    } else {
        stream_start.checked_sub(Duration::from_secs_f64(-t_s)).unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Duration = Duration::from_secs(1_800_000_000);

    fn at(s: f64) -> SystemTime {
        let base = SystemTime::UNIX_EPOCH + T0;
        if s >= 0.0 {
            base + Duration::from_secs_f64(s)
        } else {
            base - Duration::from_secs_f64(-s)
        }
    }

    /// 10 fps, a keyframe every `gop` frames, `size` bytes per unit.
    fn unit(i: u64, gop: u64, size: usize) -> Unit {
        Unit {
            buffer: gst::Buffer::from_slice(vec![i as u8; size]),
            keyframe: i % gop == 0,
            ts_ns: i * 100_000_000,
            cto_ns: 0,
            wall: at(i as f64 / 10.0),
        }
    }

    fn ring(max_s: f64, max_bytes: usize) -> Ring {
        gst::init().unwrap();
        let mut r = Ring::new(RingLimits { max_s, max_bytes });
        r.resync(gst::Caps::new_empty_simple("video/x-h264"));
        r
    }

    #[test]
    fn time_bound_drops_whole_gops() {
        let mut r = ring(3.0, usize::MAX);
        for i in 0..100 {
            r.push(unit(i, 10, 100));
            assert!(r.units.front().unwrap().keyframe, "front is always a keyframe");
            // Over the bound by less than one GOP at most.
            assert!(r.span_s() <= 3.0 + 1.0, "span {}", r.span_s());
        }
        assert_eq!(r.units.front().unwrap().ts_ns, 70 * 100_000_000);
        assert_eq!(r.len(), 30);
        assert_eq!(r.bytes(), 3000);
    }

    #[test]
    fn byte_bound_is_hard() {
        let mut r = ring(1e9, 2500);
        for i in 0..95 {
            r.push(unit(i, 10, 100));
            assert!(r.bytes() <= 2500);
            assert_eq!(r.bytes(), r.units.iter().map(|u| u.buffer.size()).sum::<usize>());
        }
        // Units 70..95 are 2500 bytes: the oldest GOPs went whole.
        assert_eq!(r.units.front().unwrap().ts_ns, 70 * 100_000_000);
        // A single GOP larger than the bound empties the ring until the next keyframe.
        let mut r = ring(1e9, 500);
        for i in 0..8 {
            r.push(unit(i, 10, 100));
        }
        assert!(r.is_empty());
        r.push(unit(10, 10, 100));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn starts_at_a_keyframe_after_resync() {
        let mut r = ring(60.0, usize::MAX);
        for i in 5..25 {
            r.push(unit(i, 10, 10));
        }
        assert_eq!(r.units.front().unwrap().ts_ns, 10 * 100_000_000, "units before the first keyframe skipped");
        r.resync(gst::Caps::new_empty_simple("video/x-h264"));
        r.push(unit(25, 10, 10));
        assert_eq!(r.len(), 15, "a delta unit after a reconnect is skipped");
    }

    #[test]
    fn cuts_start_at_the_keyframe_at_or_before_the_start() {
        let mut r = ring(60.0, usize::MAX);
        for i in 0..100 {
            r.push(unit(i, 10, 10));
        }
        let c = r.cut(at(3.45), at(5.0)).unwrap();
        assert_eq!(c.units.first().unwrap().ts_ns, 30 * 100_000_000);
        assert!(c.units.first().unwrap().keyframe);
        assert_eq!(c.units.last().unwrap().ts_ns, 50 * 100_000_000);
        assert_eq!(c.units.len(), 21);
        // Exactly on a keyframe.
        assert_eq!(r.cut(at(4.0), at(4.05)).unwrap().units.len(), 1);
        // A start older than the ring begins at its oldest keyframe; an end past it stops at its newest unit.
        let c = r.cut(at(-100.0), at(100.0)).unwrap();
        assert_eq!((c.units.len(), c.units[0].ts_ns), (100, 0));
        // Nothing recorded in the range.
        assert!(r.cut(at(-10.0), at(-5.0)).is_none());
    }

    #[test]
    fn stream_time_maps_to_wall_clock() {
        let start = at(0.0);
        assert_eq!(stream_to_wall(start, 12.5), at(12.5));
        assert_eq!(stream_to_wall(start, -2.0), at(-2.0));
        // Sub-millisecond stream times survive (frame times at any rate).
        assert_eq!(stream_to_wall(start, 1.0 / 30.0), at(1.0 / 30.0));
    }
}
