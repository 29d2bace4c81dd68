//! Configuration of the scoring stages (`model:` in pipeline files).
use std::num::NonZeroUsize;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::runtime::channel::ChannelConfig;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelStageConfig {
    /// Folder holding the trained head (`model.safetensors` + `config.json`).
    #[serde(default = "default_checkpoint")]
    pub checkpoint: PathBuf,
    /// Device of the head: `cpu` (a CUDA build of candle is a cargo feature).
    #[serde(default = "default_device")]
    pub device: String,
    /// MoTAR windowing workers (streams are spread over them; each keeps its streams' buffers).
    #[serde(default = "one")]
    pub motar_workers: NonZeroUsize,
    /// CORE + scoring workers.
    #[serde(default = "one")]
    pub core_workers: NonZeroUsize,
    /// Sliding windows for live streams (files are scored as whole videos).
    #[serde(default)]
    pub window: LiveWindowConfig,
    /// Channel MoTAR → CORE.
    #[serde(default = "window_channel")]
    pub channel: ChannelConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveWindowConfig {
    /// Segments of temporal context per window (W).
    #[serde(default = "default_segments")]
    pub segments: NonZeroUsize,
    /// New segments between windows (S): each window scores its newest S segments, so a
    /// segment's score is ready S segments after it arrives at the latest.
    #[serde(default = "default_stride")]
    pub stride: NonZeroUsize,
}

fn default_checkpoint() -> PathBuf {
    PathBuf::from("models/refinevad-default")
}
fn default_device() -> String {
    "cpu".into()
}
fn one() -> NonZeroUsize {
    NonZeroUsize::new(1).unwrap()
}
fn default_segments() -> NonZeroUsize {
    NonZeroUsize::new(64).unwrap()
}
fn default_stride() -> NonZeroUsize {
    NonZeroUsize::new(4).unwrap()
}
fn window_channel() -> ChannelConfig {
    ChannelConfig { capacity: NonZeroUsize::new(16).unwrap(), ..Default::default() }
}

impl Default for LiveWindowConfig {
    fn default() -> Self {
        Self { segments: default_segments(), stride: default_stride() }
    }
}

impl Default for ModelStageConfig {
    fn default() -> Self {
        Self {
            checkpoint: default_checkpoint(),
            device: default_device(),
            motar_workers: one(),
            core_workers: one(),
            window: LiveWindowConfig::default(),
            channel: window_channel(),
        }
    }
}

impl ModelStageConfig {
    /// The candle device for this configuration; unavailable accelerators are errors.
    pub fn candle_device(&self) -> Result<candle_core::Device, String> {
        match self.device.as_str() {
            "cpu" => Ok(candle_core::Device::Cpu),
            d => match d.strip_prefix("cuda:").and_then(|n| n.parse::<usize>().ok()) {
                Some(i) => candle_core::Device::new_cuda(i).map_err(|e| {
                    format!("device {d}: {e} (the head needs a build with `--features candle-cuda` and a CUDA GPU)")
                }),
                None => Err(format!("invalid device `{d}`: expected `cpu` or `cuda:N`")),
            },
        }
    }
}
