//! PNG stills of synthetic videos (encoder in `crate::io::png`).
use std::path::Path;

use super::SynthError;

/// Writes a PNG atomically.
pub fn write_png(path: &Path, w: usize, h: usize, rgb: &[u8]) -> Result<(), SynthError> {
    crate::io::atomic::write_atomic(path, &crate::io::png::encode_rgb(w, h, rgb))
        .map_err(|e| SynthError::Io { path: path.to_owned(), source: e })
}
