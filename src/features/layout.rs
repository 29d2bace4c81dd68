//! The feature layout: which streams make up a segment vector, in which order and width.
//! It is written beside every feature file and recorded in every checkpoint, so a head
//! trained on one layout refuses features of another.
use std::collections::BTreeMap;
use std::ops::Range;

use serde::{Deserialize, Serialize};

/// One named block of columns in a segment feature vector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSpec {
    /// Stream name, e.g. `efficientnet_lite0`, `soft_caption`, `motion`, `mc3_18`.
    pub name: String,
    /// Number of columns.
    pub width: usize,
}

/// Ordered list of streams; a segment vector is their concatenation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureLayout {
    pub streams: Vec<StreamSpec>,
}

impl FeatureLayout {
    pub fn new(streams: impl IntoIterator<Item = (&'static str, usize)>) -> Self {
        Self { streams: streams.into_iter().map(|(n, w)| StreamSpec { name: n.into(), width: w }).collect() }
    }

    /// Total width D.
    pub fn width(&self) -> usize {
        self.streams.iter().map(|s| s.width).sum()
    }

    /// Column range of a stream, if present.
    pub fn range(&self, name: &str) -> Option<Range<usize>> {
        let mut start = 0;
        for s in &self.streams {
            if s.name == name {
                return Some(start..start + s.width);
            }
            start += s.width;
        }
        None
    }

    /// A layout for feature files that carry no description (e.g. I3D `.npy` from
    /// UCF-Crime): a single stream named `external` of the given width.
    pub fn external(width: usize) -> Self {
        Self { streams: vec![StreamSpec { name: "external".into(), width }] }
    }

    /// `name:width+name:width` — compact form for messages.
    pub fn describe(&self) -> String {
        self.streams.iter().map(|s| format!("{}:{}", s.name, s.width)).collect::<Vec<_>>().join("+")
    }
}

/// Sidecar metadata written as `<stem>.json` next to `<stem>.npy` by `refinevad extract`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureFileMeta {
    /// Source video path or URI as given.
    pub video: String,
    pub layout: FeatureLayout,
    /// Frames per snippet (segment).
    pub snippet_frames: usize,
    /// Source frame rate (frames per second); 0 when unknown.
    pub fps: f64,
    /// Number of decoded frames.
    pub n_frames: u64,
    /// Number of segments T (= rows of the `.npy`) = ceil(n_frames / snippet_frames).
    pub n_segments: usize,
    /// Model file name → sha256 of the ONNX files used.
    pub models: BTreeMap<String, String>,
    /// Frames averaged per snippet by the image encoder.
    pub image_frames_per_snippet: usize,
    /// Version of refinevad that wrote the file.
    pub refinevad_version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_order() {
        let l = FeatureLayout::new([("a", 3), ("b", 5), ("c", 2)]);
        assert_eq!(l.width(), 10);
        assert_eq!(l.range("b"), Some(3..8));
        assert_eq!(l.range("c"), Some(8..10));
        assert_eq!(l.range("z"), None);
        assert_eq!(l.describe(), "a:3+b:5+c:2");
    }
}
