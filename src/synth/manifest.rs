//! The corpus manifest (`manifest.json`), the UCF-Crime style `annotations.txt`, and the
//! span-disjoint train/test split.
use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::plan::{ClipInfo, VideoPlan};
use super::SynthError;

pub const MANIFEST_VERSION: u32 = 1;

/// Everything needed to understand and reproduce a corpus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub version: u32,
    pub generator: String,
    pub seed: u64,
    pub size: [u32; 2],
    /// Requested output fps; `None` = each clip's own rate.
    pub fps: Option<f64>,
    /// Fractions of each clip's duration the videos were drawn from.
    pub span_range: [f64; 2],
    pub categories: Vec<String>,
    pub clips: Vec<ClipInfo>,
    pub videos: Vec<VideoPlan>,
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Manifest, SynthError> {
        let text = std::fs::read_to_string(path).map_err(|e| SynthError::Io { path: path.to_owned(), source: e })?;
        let de = &mut serde_json::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(de)
            .map_err(|e| SynthError::Manifest { path: path.to_owned(), detail: e.to_string() })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("manifest serialises")
    }

    pub fn video(&self, name: &str) -> Option<&VideoPlan> {
        self.videos.iter().find(|v| v.name == name)
    }
}

/// `annotations.txt` in the UCF-Crime temporal format: `name.mp4  Category  s1 e1 s2 e2`,
/// 0-based frames, **end frames inclusive**, `-1 -1` for an absent interval.
pub fn annotations_text(videos: &[VideoPlan]) -> String {
    let mut s = String::from(
        "# refinevad synth ground truth (UCF-Crime format): name  category  start end (inclusive) pairs, -1 = none\n",
    );
    for v in videos {
        let mut nums: Vec<String> =
            v.events.iter().flat_map(|e| [e.start_frame.to_string(), (e.end_frame - 1).to_string()]).collect();
        while nums.len() < 4 {
            nums.push("-1".into());
        }
        s.push_str(&format!("{}.mp4  {}  {}\n", v.name, v.category, nums.join(" ")));
    }
    s
}

/// A span-disjoint split of a corpus.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct SpanSplit {
    pub train: Vec<String>,
    pub test: Vec<String>,
    /// Videos whose source span straddles the cut (usable in neither without overlap).
    pub dropped: Vec<String>,
}

/// Splits by source time: for every base clip, a cut at `1 − test_fraction` of its
/// duration; videos drawn entirely before it are train, entirely after it test, the rest
/// dropped. No frame of a test video's source was seen in training. (Two `synth` runs with
/// `--span-range 0..0.7` and `--span-range 0.7..1` achieve the same without dropping.)
pub fn split_by_span(manifest: &Manifest, test_fraction: f64) -> SpanSplit {
    let mut out = SpanSplit::default();
    let cuts: BTreeMap<&str, f64> =
        manifest.clips.iter().map(|c| (c.file.as_str(), c.duration_s * (1.0 - test_fraction))).collect();
    for v in &manifest.videos {
        let cut = cuts.get(v.base.file.as_str()).copied().unwrap_or(v.base.clip_duration_s * (1.0 - test_fraction));
        if v.base.end_s <= cut {
            out.train.push(v.name.clone());
        } else if v.base.start_s >= cut {
            out.test.push(v.name.clone());
        } else {
            out.dropped.push(v.name.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::plan::{plan_corpus, Category, PlanSettings};

    fn manifest() -> Manifest {
        let clip = ClipInfo {
            file: "a.avi".into(),
            native_size: [768, 576],
            work_size: [492, 370],
            fps: 10.0,
            duration_s: 79.5,
            frames: 795,
        };
        let s = PlanSettings {
            videos: 40,
            abnormal_fraction: 0.5,
            seconds: (10.0, 20.0),
            event_seconds: (1.0, 10.0),
            seed: 9,
            size: (320, 240),
            fps: None,
            span_range: (0.0, 1.0),
            categories: Category::ALL.to_vec(),
            variants: Vec::new(),
            prefix: "m".into(),
        };
        let videos = plan_corpus(&s, std::slice::from_ref(&clip));
        Manifest {
            version: MANIFEST_VERSION,
            generator: "test".into(),
            seed: 9,
            size: [320, 240],
            fps: None,
            span_range: [0.0, 1.0],
            categories: vec![],
            clips: vec![clip],
            videos,
        }
    }

    #[test]
    fn split_by_span_keeps_sources_disjoint() {
        let m = manifest();
        let s = split_by_span(&m, 0.3);
        assert_eq!(s.train.len() + s.test.len() + s.dropped.len(), m.videos.len());
        assert!(!s.train.is_empty() && !s.test.is_empty());
        let cut = 79.5 * 0.7;
        for v in &m.videos {
            if s.train.contains(&v.name) {
                assert!(v.base.end_s <= cut);
            } else if s.test.contains(&v.name) {
                assert!(v.base.start_s >= cut);
            }
        }
    }

    #[test]
    fn annotations_are_ucf_with_inclusive_ends_and_parse_back() {
        let m = manifest();
        let text = annotations_text(&m.videos);
        let ann = crate::dataset::Annotations::parse(&text, Path::new("annotations.txt")).unwrap();
        assert_eq!(ann.len(), m.videos.len());
        for v in &m.videos {
            let a = ann.get(&v.name).unwrap();
            let want: Vec<(u64, u64)> = v.events.iter().map(|e| (e.start_frame, e.end_frame)).collect();
            assert_eq!(a.intervals, want);
            assert_eq!(a.is_anomalous(), !v.is_normal());
        }
        let first_normal = m.videos.iter().find(|v| v.is_normal()).unwrap();
        assert!(text.contains(&format!("{}.mp4  Normal  -1 -1 -1 -1\n", first_normal.name)));
        let json = m.to_json();
        let back: Manifest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
    }
}
