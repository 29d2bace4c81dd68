//! Pipeline files: YAML loaded with the `config` crate (so `REFINEVAD__A__B=value`
//! environment variables override keys), deserialised into typed structs with
//! `deny_unknown_fields`, then validated. Every error names the file, the key path and
//! what was expected, e.g. `pipelines/x.yaml: features.batch: expected a nonzero usize, found 0`.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::events::EventsConfig;
use crate::features::FeaturesConfig;
use crate::runtime::channel::ChannelConfig;
use crate::segment::SegmenterConfig;
use crate::sinks::SinkConfig;
use crate::source::SourceConfig;
use crate::window::ModelStageConfig;

/// A whole pipeline file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Pipeline name, reported in logs and outputs.
    pub name: String,
    /// Streams to process (`extract` also takes inputs from the command line).
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    #[serde(default)]
    pub segmenter: SegmenterConfig,
    #[serde(default)]
    pub features: FeaturesConfig,
    #[serde(default)]
    pub channels: ChannelsConfig,
    #[serde(default)]
    pub runtime: RuntimeConfig,
    /// The RefineVAD head and its two stages (used by `run`).
    #[serde(default)]
    pub model: ModelStageConfig,
    /// Event detection over the segment scores (used by `run`).
    #[serde(default)]
    pub events: EventsConfig,
    /// Where scores and events go (used by `run`).
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
}

/// Capacity and overload policy of each inter-stage channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelsConfig {
    /// Decoded frames, source → segmenter (per-stream policy: live sources always drop
    /// oldest here; files use this channel's `when_full`).
    #[serde(default = "frames_channel")]
    pub frames: ChannelConfig,
    /// Snippets, segmenter → feature pool.
    #[serde(default = "snippets_channel")]
    pub snippets: ChannelConfig,
    /// Segment features, feature pool → consumers.
    #[serde(default)]
    pub features: ChannelConfig,
}

fn frames_channel() -> ChannelConfig {
    ChannelConfig { capacity: std::num::NonZeroUsize::new(32).unwrap(), ..Default::default() }
}
fn snippets_channel() -> ChannelConfig {
    ChannelConfig { capacity: std::num::NonZeroUsize::new(16).unwrap(), ..Default::default() }
}

impl Default for ChannelsConfig {
    fn default() -> Self {
        Self { frames: frames_channel(), snippets: snippets_channel(), features: ChannelConfig::default() }
    }
}

/// Process-level settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Streams decoded at the same time (multi-input runs).
    #[serde(default = "two")]
    pub max_streams: std::num::NonZeroUsize,
    /// Seconds allowed for an orderly drain after Ctrl-C before the process exits.
    #[serde(default = "shutdown_timeout")]
    pub shutdown_timeout_s: u64,
    /// Address of the operations endpoint (`/metrics`, `/healthz`, `/readyz`), e.g.
    /// `127.0.0.1:9464`; none by default.
    #[serde(default)]
    pub ops_listen: Option<String>,
    /// Serve the stream control API (`POST /streams`, `DELETE /streams/{id}`) on
    /// `ops_listen`; the run then keeps going after its streams end, until Ctrl-C.
    #[serde(default)]
    pub control: bool,
}

fn two() -> std::num::NonZeroUsize {
    std::num::NonZeroUsize::new(2).unwrap()
}
fn shutdown_timeout() -> u64 {
    10
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self { max_streams: two(), shutdown_timeout_s: shutdown_timeout(), ops_listen: None, control: false }
    }
}

impl PipelineConfig {
    /// Defaults used when no pipeline file is given.
    pub fn default_named(name: &str) -> Self {
        Self {
            name: name.into(),
            sources: vec![],
            segmenter: Default::default(),
            features: Default::default(),
            channels: Default::default(),
            runtime: Default::default(),
            model: Default::default(),
            events: Default::default(),
            sinks: vec![],
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: {reason}", file.display())]
    Read { file: PathBuf, reason: String },
    #[error("{}: {reason}", file.display())]
    Syntax { file: PathBuf, reason: String },
    #[error("{}: {key}: {reason}", file.display())]
    Invalid { file: PathBuf, key: String, reason: String },
}

/// Loads, deserialises and validates a pipeline file.
pub fn load(file: &Path) -> Result<PipelineConfig, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|e| ConfigError::Read {
        file: file.into(),
        reason: match e.kind() {
            std::io::ErrorKind::NotFound => "file not found".into(),
            _ => e.to_string(),
        },
    })?;
    let built = config::Config::builder()
        .add_source(config::File::from_str(&text, config::FileFormat::Yaml))
        .add_source(
            config::Environment::with_prefix("REFINEVAD").prefix_separator("__").separator("__").try_parsing(true),
        )
        .build()
        .map_err(|e| ConfigError::Syntax { file: file.into(), reason: syntax_reason(&e) })?;
    let cfg: PipelineConfig = serde_path_to_error::deserialize(built).map_err(|e| {
        let key = e.path().to_string();
        let reason = value_reason(e.inner());
        ConfigError::Invalid { file: file.into(), key: if key == "." { "(top level)".into() } else { key }, reason }
    })?;
    validate(&cfg).map_err(|(key, reason)| ConfigError::Invalid { file: file.into(), key, reason })?;
    Ok(cfg)
}

fn syntax_reason(e: &config::ConfigError) -> String {
    let s = e.to_string();
    format!("invalid YAML: {s}")
}

/// The `config` crate appends "for key `x` in file" to type errors; the path is
/// reported separately, so keep only the expectation.
fn value_reason(e: &config::ConfigError) -> String {
    match e {
        config::ConfigError::Type { unexpected, expected, .. } => format!("expected {expected}, found {unexpected}"),
        other => {
            let s = other.to_string();
            s.split(" for key `").next().unwrap_or(&s).to_owned()
        }
    }
}

/// Checks what types cannot express.
pub fn validate(cfg: &PipelineConfig) -> Result<(), (String, String)> {
    if cfg.name.trim().is_empty() {
        return Err(("name".into(), "must not be empty".into()));
    }
    let mut ids = std::collections::HashSet::new();
    for (i, s) in cfg.sources.iter().enumerate() {
        if s.id.trim().is_empty() {
            return Err((format!("sources[{i}].id"), "must not be empty".into()));
        }
        if !ids.insert(&s.id) {
            return Err((format!("sources[{i}].id"), format!("duplicate stream id `{}`", s.id)));
        }
        if s.uri.trim().is_empty() {
            return Err((format!("sources[{i}].uri"), "must not be empty".into()));
        }
        s.validate().map_err(|(key, reason)| (format!("sources[{i}].{key}"), reason))?;
    }
    if cfg.runtime.control && cfg.runtime.ops_listen.is_none() {
        return Err(("runtime.control".into(), "needs runtime.ops_listen (the address to serve it on)".into()));
    }
    let f = &cfg.features;
    if f.devices.is_empty() {
        return Err(("features.devices".into(), "needs at least one device (e.g. [cpu])".into()));
    }
    if !(f.caption.temperature > 0.0 && f.caption.temperature.is_finite()) {
        return Err(("features.caption.temperature".into(), "expected a positive number".into()));
    }
    if f.image.frames_per_snippet.get() > cfg.segmenter.snippet_frames.get() {
        return Err((
            "features.image.frames_per_snippet".into(),
            format!("must be at most segmenter.snippet_frames ({})", cfg.segmenter.snippet_frames),
        ));
    }
    if !(f.image.enabled || f.caption.enabled || f.motion.enabled || f.clip.enabled) {
        return Err(("features".into(), "all feature streams are disabled; enable at least one".into()));
    }
    let w = &cfg.model.window;
    if w.stride > w.segments {
        return Err(("model.window.stride".into(), format!("must be at most model.window.segments ({})", w.segments)));
    }
    cfg.model.candle_device().map_err(|e| ("model.device".to_string(), e))?;
    cfg.events.validate().map_err(|e| (format!("events.{}", e.key), e.reason))?;
    crate::sinks::validate_sinks(&cfg.sinks).map_err(|e| (e.key, e.reason))?;
    // A recording URI for a stream that is not in the file is a typo, unless streams can
    // still be added at run time (`runtime.control`).
    if !cfg.runtime.control && !cfg.sources.is_empty() {
        for (i, sink) in cfg.sinks.iter().enumerate() {
            let crate::sinks::SinkConfig::Clips(c) = sink else { continue };
            if let Some(key) = c.record_uris.keys().find(|k| !ids.contains(k)) {
                let known: Vec<&str> = cfg.sources.iter().map(|s| s.id.as_str()).collect();
                return Err((
                    format!("sinks[{i}].record_uris.{key}"),
                    format!("no source has id `{key}` (sources: {})", known.join(", ")),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(yaml: &str) -> Result<PipelineConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.yaml");
        std::fs::write(&p, yaml).unwrap();
        load(&p).map_err(|e| {
            // Replace the temp path so messages can be compared.
            match e {
                ConfigError::Invalid { key, reason, .. } => ConfigError::Invalid { file: "p.yaml".into(), key, reason },
                ConfigError::Syntax { reason, .. } => ConfigError::Syntax { file: "p.yaml".into(), reason },
                other => other,
            }
        })
    }

    #[test]
    fn minimal_file_gets_defaults() {
        let c = load_str("name: x\n").unwrap();
        assert_eq!(c.segmenter.snippet_frames.get(), 16);
        assert_eq!(c.features.image.frames_per_snippet.get(), 4);
        assert_eq!(c.features.layout().width(), 1280 + 384 + 50);
    }

    #[test]
    fn record_uris_must_name_a_source_unless_streams_can_be_added() {
        let yaml = |control: &str| {
            format!(
                "name: x\nsources:\n  - {{id: gate, uri: rtsp://cam/sub}}\nsinks:\n  - type: clips\n    dir: /tmp/c\n    \
                 record_uris: {{gate: rtsp://cam/main, gaet: rtsp://cam/other}}\n{control}"
            )
        };
        let e = load_str(&yaml("")).unwrap_err().to_string();
        assert!(e.contains("p.yaml: sinks[0].record_uris.gaet: no source has id `gaet` (sources: gate)"), "{e}");
        let with_control = yaml("runtime: {control: true, ops_listen: \"127.0.0.1:0\"}\n");
        assert!(load_str(&with_control).is_ok(), "streams added at run time may be recorded");
    }

    #[test]
    fn unknown_key_names_path() {
        let e = load_str("name: x\nfeatures:\n  image:\n    framez: 2\n").unwrap_err().to_string();
        assert!(
            e.starts_with(
                "p.yaml: features.image.framez: unknown field `framez`, expected one of `enabled`, `frames_per_snippet`, `precision`"
            ),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_names_path_and_expectation() {
        let e = load_str("name: x\nfeatures:\n  batch: lots\n").unwrap_err().to_string();
        assert!(e.starts_with("p.yaml: features.batch: "), "{e}");
        assert!(e.contains("lots"), "{e}");
        let e = load_str("name: x\nsources:\n  - id: a\n    uri: a.mp4\n    live: maybe\n").unwrap_err().to_string();
        assert!(e.contains("sources[0].live"), "{e}");
    }

    #[test]
    fn zero_and_bad_device_rejected() {
        let e = load_str("name: x\nfeatures:\n  batch: 0\n").unwrap_err().to_string();
        assert!(e.contains("features.batch"), "{e}");
        let e = load_str("name: x\nfeatures:\n  devices: [gpu]\n").unwrap_err().to_string();
        assert!(e.contains("features.devices") && e.contains("expected `cpu`, `cuda:N` or `tensorrt:N`"), "{e}");
    }

    #[test]
    fn semantic_checks() {
        let e =
            load_str("name: x\nsources:\n  - {id: a, uri: a.mp4}\n  - {id: a, uri: b.mp4}\n").unwrap_err().to_string();
        assert!(e.contains("sources[1].id: duplicate stream id `a`"), "{e}");
        let e = load_str("name: x\nfeatures:\n  image: {frames_per_snippet: 20}\n").unwrap_err().to_string();
        assert!(e.contains("features.image.frames_per_snippet: must be at most"), "{e}");
    }

    #[test]
    fn malformed_yaml_is_a_syntax_error() {
        let e = load_str("name: [x\n").unwrap_err();
        assert!(matches!(e, ConfigError::Syntax { .. }), "{e}");
        assert!(e.to_string().starts_with("p.yaml: invalid YAML"), "{e}");
    }
}
