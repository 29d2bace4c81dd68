use std::path::PathBuf;

/// Why a stream could not be decoded. Each variant names the input and the cause.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    #[error("{input}: file not found")]
    NotFound { input: String },
    #[error("{input}: is a directory, not a video")]
    IsDirectory { input: String },
    #[error("{input}: permission denied")]
    PermissionDenied { input: String },
    #[error("{input}: empty file (0 bytes)")]
    Empty { input: String },
    #[error("{input}: not a video GStreamer can recognise ({detail})")]
    NotVideo { input: String, detail: String },
    #[error(
        "{input}: unsupported format or codec: {detail} (install the GStreamer plugin for it, e.g. gstreamer1.0-libav)"
    )]
    MissingPlugin { input: String, detail: String },
    #[error("{input}: contains no video stream")]
    NoVideo { input: String },
    #[error("{input}: decoding failed: {detail}")]
    Decode { input: String, detail: String },
    #[error("{input}: no frame could be decoded (truncated or corrupt file?)")]
    NoFrames { input: String },
    #[error(
        "{input}: truncated or corrupt: video ends at {decoded_s:.1}s but the container declares {declared_s:.1}s"
    )]
    Truncated { input: String, decoded_s: f64, declared_s: f64 },
    #[error("{input}: truncated: the file has {size} bytes but its header declares {declared}")]
    TruncatedFile { input: String, size: u64, declared: u64 },
    #[error("{input}: stalled: no frame, end or error for {seconds:.0} s (damaged file or dead stream)")]
    Stalled { input: String, seconds: f64 },
    #[error("{input}: the stream ended")]
    EndOfStream { input: String },
    #[error("{input}: could not build the GStreamer pipeline: {detail}")]
    Pipeline { input: String, detail: String },
    #[error("{input}: stopped before the end")]
    Cancelled { input: String },
    #[error("{}: invalid path", path.display())]
    BadPath { path: PathBuf },
}

impl SourceError {
    /// Short machine-readable kind, used as a metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceError::NotFound { .. } => "not_found",
            SourceError::IsDirectory { .. } => "is_directory",
            SourceError::PermissionDenied { .. } => "permission_denied",
            SourceError::Empty { .. } => "empty",
            SourceError::NotVideo { .. } => "not_video",
            SourceError::MissingPlugin { .. } => "missing_plugin",
            SourceError::NoVideo { .. } => "no_video",
            SourceError::Decode { .. } => "decode",
            SourceError::NoFrames { .. } => "no_frames",
            SourceError::Truncated { .. } | SourceError::TruncatedFile { .. } => "truncated",
            SourceError::Stalled { .. } => "stalled",
            SourceError::EndOfStream { .. } => "end_of_stream",
            SourceError::Pipeline { .. } => "pipeline",
            SourceError::Cancelled { .. } => "cancelled",
            SourceError::BadPath { .. } => "bad_path",
        }
    }
}
