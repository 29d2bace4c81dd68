//! Feature stage: turns snippets into per-segment feature vectors with ONNX Runtime.
//!
//! Streams (concatenated in this order, see [`FeaturesConfig::layout`]):
//! - `efficientnet_lite0` (1280): EfficientNet-Lite0 pooled features averaged over
//!   `image.frames_per_snippet` evenly spaced frames;
//! - `soft_caption` (384): softmax(ImageNet logits / τ), averaged over the same frames,
//!   times the 1000×384 table of MiniLM embeddings of the class names, L2-normalised —
//!   a text-space "what is in view" vector mirroring the paper's visual+text input;
//! - `motion` (50): statistics computed in Rust from all frames (see `segment::motion`);
//! - `mc3_18` (512, optional): 3D-CNN clip features.
pub mod cache;
pub mod device;
pub mod extractor;
pub mod layout;
pub mod models;
pub mod pool;

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use device::Device;
use layout::FeatureLayout;

use crate::segment::motion::MOTION_WIDTH;
use crate::segment::{SnippetNeeds, SourceDown, SourceUp};
use crate::source::{SourceError, StreamInfo};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturesConfig {
    /// Folder with the exported models (default: `$REFINEVAD_MODELS_DIR`, else `./models`,
    /// else `models/` beside the checkout that holds the binary).
    #[serde(default)]
    pub models_dir: Option<PathBuf>,
    /// ONNX Runtime shared library (default: `$ORT_DYLIB_PATH`, else
    /// `<models_dir>/onnxruntime/libonnxruntime.so.1.31.1`).
    #[serde(default)]
    pub ort_library: Option<PathBuf>,
    /// Devices of the worker pool: `cpu`, `cuda:N`, `tensorrt:N`.
    #[serde(default = "default_devices")]
    pub devices: Vec<Device>,
    /// Workers (each with its own ONNX Runtime sessions) per device; unset = automatic
    /// (see [`FeaturesConfig::workers_on`]).
    #[serde(default)]
    pub workers_per_device: Option<NonZeroUsize>,
    /// Maximum snippets per inference batch (across streams); on the CPU also at most one
    /// ONNX Runtime run's worth ([`FeaturesConfig::batch_on`]).
    #[serde(default = "default_batch")]
    pub batch: NonZeroUsize,
    /// How long a worker waits to fill a batch before running a partial one.
    #[serde(default = "default_max_wait_ms")]
    pub max_wait_ms: u64,
    /// ONNX Runtime intra-op threads per session; 0 = ONNX Runtime's default.
    #[serde(default)]
    pub intra_threads: usize,
    /// TensorRT engine cache directory (only used with `tensorrt:N`).
    #[serde(default)]
    pub tensorrt_cache: Option<PathBuf>,
    #[serde(default)]
    pub image: ImageStreamConfig,
    #[serde(default)]
    pub caption: CaptionStreamConfig,
    #[serde(default)]
    pub motion: ToggleConfig,
    #[serde(default)]
    pub clip: ClipStreamConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageStreamConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Frames averaged per snippet (4 = quality default, 2 = budget, 1 = centre frame).
    #[serde(default = "default_frames")]
    pub frames_per_snippet: NonZeroUsize,
    /// Weights of the image encoder: `fp32` (default) or `int8` (the quantised export,
    /// `efficientnet_lite0_int8.onnx`: same inputs, outputs and layout).
    #[serde(default)]
    pub precision: ImagePrecision,
}

/// Precision of the image encoder's weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImagePrecision {
    #[default]
    Fp32,
    Int8,
}

impl ImageStreamConfig {
    /// The image encoder's file in the models folder.
    pub fn model_file(&self) -> &'static str {
        match self.precision {
            ImagePrecision::Fp32 => "efficientnet_lite0.onnx",
            ImagePrecision::Int8 => "efficientnet_lite0_int8.onnx",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptionStreamConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Softmax temperature over the ImageNet logits.
    #[serde(default = "default_temperature")]
    pub temperature: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToggleConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipStreamConfig {
    #[serde(default)]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}
fn default_devices() -> Vec<Device> {
    vec![Device::Cpu]
}
fn default_batch() -> NonZeroUsize {
    NonZeroUsize::new(8).unwrap()
}
fn default_max_wait_ms() -> u64 {
    20
}
fn default_frames() -> NonZeroUsize {
    NonZeroUsize::new(4).unwrap()
}
fn default_temperature() -> f32 {
    1.0
}

impl Default for ImageStreamConfig {
    fn default() -> Self {
        Self { enabled: true, frames_per_snippet: default_frames(), precision: ImagePrecision::default() }
    }
}
impl Default for CaptionStreamConfig {
    fn default() -> Self {
        Self { enabled: true, temperature: default_temperature() }
    }
}
impl Default for ToggleConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}
impl Default for ClipStreamConfig {
    fn default() -> Self {
        Self { enabled: false }
    }
}

impl Default for FeaturesConfig {
    fn default() -> Self {
        Self {
            models_dir: None,
            ort_library: None,
            devices: default_devices(),
            workers_per_device: None,
            batch: default_batch(),
            max_wait_ms: default_max_wait_ms(),
            intra_threads: 0,
            tensorrt_cache: None,
            image: ImageStreamConfig::default(),
            caption: CaptionStreamConfig::default(),
            motion: ToggleConfig::default(),
            clip: ClipStreamConfig::default(),
        }
    }
}

/// Width of the EfficientNet-Lite0 pooled features.
pub const IMAGE_WIDTH: usize = 1280;
/// Width of the soft-caption (MiniLM) vectors.
pub const CAPTION_WIDTH: usize = 384;
/// Width of the mc3_18 clip features.
pub const CLIP_WIDTH: usize = 512;
/// Side of the square frames the image encoder takes.
pub const IMAGE_SIDE: u32 = 224;

impl FeaturesConfig {
    /// Workers on one entry of `devices`: `workers_per_device` when set. Otherwise one per
    /// GPU, and on the CPU two workers (on two or more cores, and unless `intra_threads`
    /// is set) shared out between the CPU entries, with the cores shared out between the
    /// workers ([`extractor::intra_threads`]: one thread each on two cores). A worker on
    /// one thread never waits in a parallel section for a helper thread that a decoder
    /// has pre-empted; on 2 shared cores that cost ≈ 7 % more CPU and wall time than two
    /// independent workers (docs/performance.md).
    pub fn workers_on(&self, device: Device) -> usize {
        if let Some(n) = self.workers_per_device {
            return n.get();
        }
        if device != Device::Cpu || self.intra_threads > 0 {
            return 1;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cpu_entries = self.devices.iter().filter(|d| **d == Device::Cpu).count().max(1);
        (cores.min(2) / cpu_entries).max(1)
    }

    /// Snippets per batch on `device`: `batch`, but on the CPU no more than one ONNX
    /// Runtime run holds ([`extractor::CPU_IMAGES_PER_RUN`] images). A CPU worker gains
    /// nothing from larger batches (it runs them 4 images at a time), while at the end of
    /// an input they leave the other workers idle behind the last long batch.
    pub fn batch_on(&self, device: Device) -> usize {
        let batch = self.batch.get();
        if device != Device::Cpu || !(self.image.enabled || self.caption.enabled) {
            return batch;
        }
        let per_run = extractor::CPU_IMAGES_PER_RUN / self.image.frames_per_snippet.get();
        batch.min(per_run.max(1))
    }

    /// Workers on all CPU entries of `devices`.
    pub fn cpu_workers(&self) -> usize {
        self.devices.iter().filter(|d| **d == Device::Cpu).map(|d| self.workers_on(*d)).sum()
    }

    /// The layout of the vectors this configuration produces.
    pub fn layout(&self) -> FeatureLayout {
        let mut streams = Vec::new();
        if self.image.enabled {
            streams.push(("efficientnet_lite0", IMAGE_WIDTH));
        }
        if self.caption.enabled {
            streams.push(("soft_caption", CAPTION_WIDTH));
        }
        if self.motion.enabled {
            streams.push(("motion", MOTION_WIDTH));
        }
        if self.clip.enabled {
            streams.push(("mc3_18", CLIP_WIDTH));
        }
        FeatureLayout::new(streams)
    }

    /// What the segmenter must keep per snippet for this configuration.
    pub fn needs(&self) -> SnippetNeeds {
        SnippetNeeds {
            image_frames: if self.image.enabled || self.caption.enabled {
                self.image.frames_per_snippet.get()
            } else {
                0
            },
            clip: self.clip.enabled,
            motion: self.motion.enabled,
        }
    }
}

/// One segment's feature vector.
#[derive(Debug, Clone)]
pub struct SegmentFeatures {
    pub stream: Arc<str>,
    pub index: usize,
    /// Live source outages before this segment (see `Snippet::outages`).
    pub outages: u32,
    pub frame_start: u64,
    pub frame_end: u64,
    pub pts_ns: Option<u64>,
    pub vector: Vec<f32>,
}

/// Messages from the feature stage downstream.
#[derive(Debug)]
pub enum FeatureMsg {
    Started(StreamInfo),
    Segment(SegmentFeatures),
    /// Forwarded at once: a consumer applies it once it holds every segment below
    /// `segments` and every earlier outage message (they are numbered).
    Down(SourceDown),
    Up(SourceUp),
    /// The stream ended after `snippets` snippets and `outages` outages.
    End {
        stream: Arc<str>,
        frames: u64,
        snippets: usize,
        outages: u32,
        result: Result<(), SourceError>,
    },
    /// Inference failed for this stream; its remaining segments are lost.
    Failed {
        stream: Arc<str>,
        error: String,
    },
}

impl FeatureMsg {
    /// The stream the message belongs to.
    pub fn stream(&self) -> &Arc<str> {
        match self {
            FeatureMsg::Started(i) => &i.stream,
            FeatureMsg::Segment(s) => &s.stream,
            FeatureMsg::Down(d) => &d.stream,
            FeatureMsg::Up(u) => &u.stream,
            FeatureMsg::End { stream, .. } | FeatureMsg::Failed { stream, .. } => stream,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    #[error("models folder not found (looked in {looked}); run scripts/setup.sh or set REFINEVAD_MODELS_DIR")]
    ModelsDirNotFound { looked: String },
    #[error("{}: missing model file; run scripts/setup.sh", path.display())]
    MissingModel { path: PathBuf },
    #[error("{}: checksum mismatch (expected {expected}, found {found}); the file is corrupt, re-run scripts/setup.sh", path.display())]
    Checksum { path: PathBuf, expected: String, found: String },
    #[error("{}: {reason}", path.display())]
    BadModelFile { path: PathBuf, reason: String },
    #[error("ONNX Runtime library {}: {reason}", path.display())]
    Runtime { path: PathBuf, reason: String },
    #[error("device {device}: {reason}")]
    Provider { device: String, reason: String },
    #[error("{model}: {reason}")]
    Session { model: String, reason: String },
    #[error("{model}: inference failed: {reason}")]
    Inference { model: String, reason: String },
}
