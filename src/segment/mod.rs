//! Segmenter stage: groups a stream's frames into snippets of `snippet_frames` (the WVAD
//! convention is 16) and keeps per snippet only what the extractors need: `image_frames`
//! evenly spaced full frames for the image encoder, a 16×112×112 clip for the optional
//! clip encoder, and the motion statistics computed here from small copies of all frames.
//!
//! **Last partial snippet**: a stream of `n` frames yields `ceil(n / snippet_frames)`
//! snippets; the last one covers the remaining `n mod snippet_frames` frames (its
//! `frame_end` is the stream's frame count), its image frames are spread evenly over
//! those frames, and its motion statistics use only them. Nothing is padded with
//! invented frames, so every segment maps to real frames.
//!
//! **Live gaps**: at a source's `Down`, the snippet in progress is emitted when it holds at
//! least half of `snippet_frames` (rounded up) and dropped otherwise (its frame numbers
//! are skipped, so later segments keep the source's numbering): a few frames before a
//! failure describe too little to score, and often are the decoder's last, damaged ones.
//! The motion statistics restart after the gap (no frame difference across it). `Down`
//! and `Up` go downstream numbered, with the number of snippets emitted before them (and
//! `End` with the number of outages), so stages that reorder messages can put them back
//! in stream order.
pub mod motion;

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::source::{Frame, SourceError, StreamInfo};
use motion::{motion_features, MotionState, SmallFrame};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmenterConfig {
    /// Frames per snippet (segment).
    #[serde(default = "default_snippet_frames")]
    pub snippet_frames: NonZeroUsize,
}

fn default_snippet_frames() -> NonZeroUsize {
    NonZeroUsize::new(16).unwrap()
}

impl Default for SegmenterConfig {
    fn default() -> Self {
        Self { snippet_frames: default_snippet_frames() }
    }
}

/// What the enabled extractors need from each snippet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnippetNeeds {
    /// Full frames for the image encoder (0 = image stream off).
    pub image_frames: usize,
    /// 16 frames at 112×112 for the clip encoder.
    pub clip: bool,
    pub motion: bool,
}

/// Frames per clip for the clip encoder (mc3_18 was trained on 16).
pub const CLIP_FRAMES: usize = 16;
/// Clip encoder input side.
pub const CLIP_SIDE: usize = 112;

/// One segment's extractor inputs.
#[derive(Debug, Clone)]
pub struct Snippet {
    pub stream: Arc<str>,
    /// 0-based segment index within the stream.
    pub index: usize,
    /// Live source outages before this snippet: the connection it comes from (0 = first).
    pub outages: u32,
    /// First frame (inclusive) and last frame (exclusive) of the snippet.
    pub frame_start: u64,
    pub frame_end: u64,
    pub pts_ns: Option<u64>,
    pub width: u32,
    pub height: u32,
    /// `image_frames` packed RGB frames of `width×height`.
    pub images: Vec<Vec<u8>>,
    /// `CLIP_FRAMES × 112 × 112 × 3` bytes (N,T,H,W,C order for one clip).
    pub clip: Option<Vec<u8>>,
    pub motion: Option<Vec<f32>>,
}

/// A live source went down. Every stage forwards it in stream order (as a segment,
/// feature, window and score message); nothing after it is continuous with what came
/// before.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceDown {
    pub stream: Arc<str>,
    pub frames: u64,
    /// Segments (snippets) emitted before this message.
    pub segments: usize,
    /// 1-based number of this outage in the stream (its `SourceUp` has the same).
    pub outage: u32,
    pub cause: String,
}

/// A live source is back after outage `outage`. `offset_s` is the stream time (seconds
/// since the stream first started) where the new connection begins.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceUp {
    pub stream: Arc<str>,
    /// Segments (snippets) emitted before this message.
    pub segments: usize,
    pub outage: u32,
    pub offset_s: f64,
    pub down_s: f64,
    pub attempts: u32,
}

/// Messages from the segmenter to the feature stage.
#[derive(Debug)]
pub enum SegmentMsg {
    Started(StreamInfo),
    Snippet(Snippet),
    Down(SourceDown),
    Up(SourceUp),
    /// The stream ended; `snippets` were emitted and `outages` outages happened before
    /// this message.
    End {
        stream: Arc<str>,
        frames: u64,
        snippets: usize,
        outages: u32,
        result: Result<(), SourceError>,
    },
}

/// Indices of `k` evenly spaced frames among `n` (centres of `k` equal parts).
pub fn evenly_spaced(n: usize, k: usize) -> Vec<usize> {
    (0..k).map(|i| ((2 * i + 1) * n / (2 * k)).min(n.saturating_sub(1))).collect()
}

/// Builds snippets for one stream.
pub struct StreamSegmenter {
    stream: Arc<str>,
    snippet_frames: usize,
    needs: SnippetNeeds,
    frames: Vec<Frame>,
    small: Vec<SmallFrame>,
    motion: MotionState,
    next_index: usize,
    next_frame: u64,
    outages: u32,
}

impl StreamSegmenter {
    pub fn new(stream: Arc<str>, cfg: &SegmenterConfig, needs: SnippetNeeds) -> Self {
        Self {
            stream,
            snippet_frames: cfg.snippet_frames.get(),
            needs,
            frames: Vec::with_capacity(cfg.snippet_frames.get()),
            small: Vec::new(),
            motion: MotionState::default(),
            next_index: 0,
            next_frame: 0,
            outages: 0,
        }
    }

    /// Adds a frame; returns a snippet when one is complete.
    pub fn push(&mut self, frame: Frame) -> Option<Snippet> {
        if self.needs.motion {
            self.small.push(SmallFrame::from_rgb(&frame.rgb, frame.width as usize, frame.height as usize));
        }
        self.frames.push(frame);
        (self.frames.len() == self.snippet_frames).then(|| self.emit())
    }

    /// Flushes the last partial snippet at end of stream.
    pub fn finish(&mut self) -> Option<Snippet> {
        (!self.frames.is_empty()).then(|| self.emit())
    }

    /// The source went down: emits the snippet in progress if it holds at least half a
    /// snippet, otherwise drops it (skipping its frame numbers), and restarts the motion
    /// statistics.
    pub fn gap(&mut self) -> Option<Snippet> {
        let keep = 2 * self.frames.len() >= self.snippet_frames;
        let out = (keep && !self.frames.is_empty()).then(|| self.emit());
        self.next_frame += self.frames.len() as u64;
        self.frames.clear();
        self.small.clear();
        self.motion = MotionState::default();
        self.outages += 1;
        out
    }

    /// Outages so far (`gap` calls).
    pub fn outages(&self) -> u32 {
        self.outages
    }

    /// Snippets emitted so far.
    pub fn emitted(&self) -> usize {
        self.next_index
    }

    fn emit(&mut self) -> Snippet {
        let frames = std::mem::take(&mut self.frames);
        let small = std::mem::take(&mut self.small);
        let n = frames.len();
        let first = &frames[0];
        let (width, height) = (first.width, first.height);
        let frame_start = self.next_frame;
        let pts_ns = first.pts_ns;
        let motion = self.needs.motion.then(|| motion_features(&small, &mut self.motion));
        let clip = self.needs.clip.then(|| {
            let mut clip = Vec::with_capacity(CLIP_FRAMES * CLIP_SIDE * CLIP_SIDE * 3);
            for i in evenly_spaced(n, CLIP_FRAMES) {
                clip.extend(resize_rgb(&frames[i].rgb, width as usize, height as usize, CLIP_SIDE, CLIP_SIDE));
            }
            clip
        });
        let picks = evenly_spaced(n, self.needs.image_frames);
        // Picks are non-decreasing; a frame picked twice (very short last snippet) is
        // cloned until its last use, then moved.
        let mut slots: Vec<Option<Vec<u8>>> = frames.into_iter().map(|f| Some(f.rgb)).collect();
        let mut images = Vec::with_capacity(picks.len());
        for (k, &i) in picks.iter().enumerate() {
            let again = picks[k + 1..].contains(&i);
            images.push(if again { slots[i].clone() } else { slots[i].take() }.unwrap_or_default());
        }
        let snippet = Snippet {
            stream: self.stream.clone(),
            index: self.next_index,
            outages: self.outages,
            frame_start,
            frame_end: frame_start + n as u64,
            pts_ns,
            width,
            height,
            images,
            clip,
            motion,
        };
        self.next_index += 1;
        self.next_frame += n as u64;
        snippet
    }
}

/// Area-average resize of packed RGB (used for the 112×112 clip copies).
pub fn resize_rgb(rgb: &[u8], w: usize, h: usize, ow: usize, oh: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(ow * oh * 3);
    for oy in 0..oh {
        let y0 = oy * h / oh;
        let y1 = ((oy + 1) * h / oh).max(y0 + 1).min(h);
        for ox in 0..ow {
            let x0 = ox * w / ow;
            let x1 = ((ox + 1) * w / ow).max(x0 + 1).min(w);
            let mut acc = [0u32; 3];
            for y in y0..y1 {
                for x in x0..x1 {
                    let p = (y * w + x) * 3;
                    acc[0] += rgb[p] as u32;
                    acc[1] += rgb[p + 1] as u32;
                    acc[2] += rgb[p + 2] as u32;
                }
            }
            let n = ((y1 - y0) * (x1 - x0)) as u32;
            out.extend_from_slice(&[(acc[0] / n) as u8, (acc[1] / n) as u8, (acc[2] / n) as u8]);
        }
    }
    out
}

/// Segmenter for many streams at once (one per stage thread).
pub struct Segmenter {
    cfg: SegmenterConfig,
    needs: SnippetNeeds,
    streams: HashMap<Arc<str>, StreamSegmenter>,
}

impl Segmenter {
    pub fn new(cfg: SegmenterConfig, needs: SnippetNeeds) -> Self {
        Self { cfg, needs, streams: HashMap::new() }
    }

    fn stream(&mut self, stream: &Arc<str>) -> &mut StreamSegmenter {
        self.streams
            .entry(stream.clone())
            .or_insert_with(|| StreamSegmenter::new(stream.clone(), &self.cfg, self.needs))
    }

    /// Feeds one source message; returns the messages to forward, in order.
    pub fn handle(&mut self, msg: crate::source::SourceMsg) -> Vec<SegmentMsg> {
        use crate::source::SourceMsg;
        match msg {
            SourceMsg::Started(info) => {
                self.streams
                    .insert(info.stream.clone(), StreamSegmenter::new(info.stream.clone(), &self.cfg, self.needs));
                vec![SegmentMsg::Started(info)]
            }
            SourceMsg::Frame(f) => {
                let stream = f.stream.clone();
                self.stream(&stream).push(f).map(SegmentMsg::Snippet).into_iter().collect()
            }
            SourceMsg::Down { stream, frames, cause } => {
                let seg = self.stream(&stream);
                let mut out: Vec<SegmentMsg> = seg.gap().map(SegmentMsg::Snippet).into_iter().collect();
                out.push(SegmentMsg::Down(SourceDown {
                    segments: seg.emitted(),
                    outage: seg.outages(),
                    stream,
                    frames,
                    cause,
                }));
                out
            }
            SourceMsg::Up { stream, offset_s, down_s, attempts } => {
                let seg = self.stream(&stream);
                let (segments, outage) = (seg.emitted(), seg.outages());
                vec![SegmentMsg::Up(SourceUp { stream, segments, outage, offset_s, down_s, attempts })]
            }
            SourceMsg::End { stream, frames, result } => {
                let mut out = Vec::new();
                let (mut snippets, mut outages) = (0, 0);
                if let Some(mut seg) = self.streams.remove(&stream) {
                    // A failed stream's partial snippet is not emitted: its features would
                    // describe frames the decoder may have garbled.
                    if result.is_ok() {
                        out.extend(seg.finish().map(SegmentMsg::Snippet));
                    }
                    (snippets, outages) = (seg.emitted(), seg.outages());
                }
                out.push(SegmentMsg::End { stream, frames, snippets, outages, result });
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(i: u64) -> Frame {
        Frame {
            stream: "s".into(),
            index: i,
            pts_ns: Some(i * 100),
            width: 8,
            height: 8,
            rgb: vec![i as u8; 8 * 8 * 3],
        }
    }

    #[test]
    fn evenly_spaced_picks_centres() {
        assert_eq!(evenly_spaced(16, 4), vec![2, 6, 10, 14]);
        assert_eq!(evenly_spaced(16, 1), vec![8]);
        assert_eq!(evenly_spaced(3, 4), vec![0, 1, 1, 2]);
        assert_eq!(evenly_spaced(1, 2), vec![0, 0]);
    }

    #[test]
    fn snippet_count_is_ceil_and_last_is_partial() {
        let cfg = SegmenterConfig { snippet_frames: NonZeroUsize::new(16).unwrap() };
        let needs = SnippetNeeds { image_frames: 4, clip: true, motion: true };
        let mut seg = StreamSegmenter::new("s".into(), &cfg, needs);
        let mut out: Vec<Snippet> = (0..37).filter_map(|i| seg.push(frame(i))).collect();
        out.extend(seg.finish());
        assert_eq!(out.len(), 3); // ceil(37/16)
        assert_eq!((out[0].frame_start, out[0].frame_end), (0, 16));
        assert_eq!((out[2].frame_start, out[2].frame_end), (32, 37));
        assert_eq!(out[0].images.len(), 4);
        assert_eq!(out[0].images[0][0], 2, "first pick is frame 2");
        assert_eq!(out[2].images.len(), 4, "partial snippet still has 4 image frames");
        assert_eq!(out[2].clip.as_ref().unwrap().len(), CLIP_FRAMES * CLIP_SIDE * CLIP_SIDE * 3);
        assert_eq!(out[1].pts_ns, Some(1600));
        assert!(seg.finish().is_none());
    }

    fn down(frames: u64) -> crate::source::SourceMsg {
        crate::source::SourceMsg::Down { stream: "s".into(), frames, cause: "lost".into() }
    }

    fn up() -> crate::source::SourceMsg {
        crate::source::SourceMsg::Up { stream: "s".into(), offset_s: 9.0, down_s: 3.0, attempts: 2 }
    }

    /// Feeds `msgs`, returning (snippet frame ranges, control messages as text) in order.
    fn feed(s: &mut Segmenter, msgs: Vec<crate::source::SourceMsg>) -> Vec<String> {
        msgs.into_iter()
            .flat_map(|m| s.handle(m))
            .map(|m| match m {
                SegmentMsg::Snippet(p) => format!("{}:{}-{}", p.index, p.frame_start, p.frame_end),
                SegmentMsg::Down(d) => format!("down{}@{}/{}", d.outage, d.segments, d.frames),
                SegmentMsg::Up(u) => format!("up{}@{}+{}", u.outage, u.segments, u.offset_s),
                SegmentMsg::End { snippets, outages, .. } => format!("end@{snippets}/{outages}"),
                SegmentMsg::Started(_) => "started".into(),
            })
            .collect()
    }

    #[test]
    fn gap_emits_a_half_full_snippet_and_forwards_down_up_in_order() {
        let needs = SnippetNeeds { image_frames: 2, clip: false, motion: true };
        let mut s = Segmenter::new(SegmenterConfig::default(), needs);
        let mut msgs: Vec<_> = (0..24).map(|i| crate::source::SourceMsg::Frame(frame(i))).collect();
        msgs.extend([down(24), up()]);
        msgs.extend((24..56).map(|i| crate::source::SourceMsg::Frame(frame(i))));
        msgs.push(crate::source::SourceMsg::End { stream: "s".into(), frames: 56, result: Ok(()) });
        // 8 of 16 frames in progress at the gap: emitted as a partial snippet.
        assert_eq!(feed(&mut s, msgs), ["0:0-16", "1:16-24", "down1@2/24", "up1@2+9", "2:24-40", "3:40-56", "end@4/1"]);
    }

    #[test]
    fn gap_drops_a_short_fragment_and_keeps_frame_numbers() {
        let needs = SnippetNeeds { image_frames: 1, clip: false, motion: true };
        let mut s = Segmenter::new(SegmenterConfig::default(), needs);
        let mut msgs: Vec<_> = (0..23).map(|i| crate::source::SourceMsg::Frame(frame(i))).collect();
        msgs.extend([down(23), up()]);
        msgs.extend((23..39).map(|i| crate::source::SourceMsg::Frame(frame(i))));
        // 7 frames < 8: dropped; the next snippet starts at the source's frame 23.
        assert_eq!(feed(&mut s, msgs), ["0:0-16", "down1@1/23", "up1@1+9", "1:23-39"]);
    }

    #[test]
    fn motion_restarts_after_a_gap() {
        let needs = SnippetNeeds { image_frames: 1, clip: false, motion: true };
        let cfg = SegmenterConfig { snippet_frames: NonZeroUsize::new(4).unwrap() };
        let motion_of = |with_gap: bool| {
            let mut seg = StreamSegmenter::new("s".into(), &cfg, needs);
            for i in 0..4 {
                seg.push(frame(i * 40));
            }
            if with_gap {
                assert!(seg.gap().is_none());
            }
            (4..8).filter_map(|i| seg.push(frame(i * 40))).last().unwrap().motion.unwrap()
        };
        let mut fresh = StreamSegmenter::new("s".into(), &cfg, needs);
        let alone = (4..8).filter_map(|i| fresh.push(frame(i * 40))).last().unwrap().motion.unwrap();
        assert_eq!(motion_of(true), alone, "no state crosses the gap");
        assert_ne!(motion_of(false), alone, "state carries over without a gap");
    }

    #[test]
    fn failed_stream_drops_partial_snippet() {
        use crate::source::SourceMsg;
        let needs = SnippetNeeds { image_frames: 1, clip: false, motion: false };
        let mut s = Segmenter::new(SegmenterConfig::default(), needs);
        for i in 0..20 {
            s.handle(SourceMsg::Frame(frame(i)));
        }
        let err = SourceError::Decode { input: "x".into(), detail: "boom".into() };
        let out = s.handle(SourceMsg::End { stream: "s".into(), frames: 20, result: Err(err) });
        assert!(matches!(out.as_slice(), [SegmentMsg::End { snippets: 1, result: Err(_), .. }]));
    }
}
