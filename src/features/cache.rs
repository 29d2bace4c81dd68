//! Start-up caches: ONNX Runtime's optimised graphs for CPU sessions, and which model
//! files were already checked against their checksums.
//!
//! Building a CPU session spends most of its time optimising the graph (constant folding,
//! fusing each convolution with its activation and padding, the blocked NCHWc layout):
//! ≈ 35–80 ms for EfficientNet-Lite0, on every start of every worker. ONNX Runtime can
//! save the optimised graph and load it back with optimisation off in ≈ 15 ms, with
//! identical outputs. The saved graph holds CPU-specific layout choices, so it is keyed
//! by the model's checksum, the ONNX Runtime version and the CPU's feature flags; any
//! change is a new key and a fresh optimisation. Writes are atomic; a cache that cannot
//! be written or read only costs the optimisation time.
//!
//! Checking a model's sha256 reads and hashes the whole file (≈ 30 ms for the 18 MB
//! backbone) on every start. A check that passed leaves an empty stamp named after the
//! file's path, size, modification time, inode and expected checksum; while all of these
//! are unchanged the file is not hashed again. Replacing or editing the file changes its
//! modification time or inode, and so its stamp.
use std::path::{Path, PathBuf};

use super::models::{sha256_hex, ORT_LIBRARY};

/// Format of the cache's entries; bump to invalidate them all.
const CACHE_FORMAT: &str = "1";

/// The cache folder: `$REFINEVAD_CACHE` (as for `scripts/setup.sh`), else
/// `$XDG_CACHE_HOME/refinevad`, else `~/.cache/refinevad`. `None` when none can be named.
pub fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("REFINEVAD_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("refinevad")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/refinevad")))?;
    Some(base)
}

/// The optimised graph of a model with checksum `model_sha256` on this CPU, under the
/// cache folder `dir`.
pub fn entry(dir: &Path, model_sha256: &str) -> PathBuf {
    let key = format!("{CACHE_FORMAT}\n{model_sha256}\n{ORT_LIBRARY}\n{}", cpu_flags());
    dir.join("ort-optimized").join(format!("{}.onnx", &sha256_hex(key.as_bytes())[..32]))
}

/// The `flags` line of `/proc/cpuinfo` (instruction set extensions decide ONNX Runtime's
/// kernels and layouts); empty where it cannot be read.
fn cpu_flags() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| t.lines().find(|l| l.starts_with("flags")).map(str::to_owned))
        .unwrap_or_default()
}

/// The stamp saying `path`, as it is now, has checksum `sha256`; `None` when the file or
/// the cache folder cannot be named.
pub fn verified_stamp(path: &Path, sha256: &str) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    let path = std::fs::canonicalize(path).ok()?;
    let key = format!(
        "{CACHE_FORMAT}\n{}\n{}\n{}.{}\n{}\n{sha256}",
        path.display(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ino()
    );
    Some(cache_dir()?.join("verified-models").join(&sha256_hex(key.as_bytes())[..32]))
}

/// Records a passed check (best effort).
pub fn mark_verified(stamp: &Path) {
    if let Some(dir) = stamp.parent() {
        let _ = std::fs::create_dir_all(dir).and_then(|_| std::fs::write(stamp, b""));
    }
}

/// A unique temporary name beside `entry`, renamed over it once written.
pub fn temp_for(entry: &Path) -> PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    entry.with_extension(format!("tmp-{}-{n}.onnx", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_differ_by_model_and_live_in_the_cache_dir() {
        let dir = Path::new("/c");
        let (a, b) = (entry(dir, "aa"), entry(dir, "bb"));
        assert_ne!(a, b);
        assert_eq!(a, entry(dir, "aa"));
        assert_eq!(a.parent(), Some(dir.join("ort-optimized").as_path()));
        let t = temp_for(&a);
        assert_eq!(t.parent(), a.parent());
        assert_ne!(t, temp_for(&a));
    }

    #[test]
    fn a_stamp_changes_when_the_file_does() {
        let dir = std::env::temp_dir().join(format!("refinevad-stamp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("m.onnx");
        std::fs::write(&f, b"one").unwrap();
        let first = verified_stamp(&f, "aa").unwrap();
        assert_eq!(verified_stamp(&f, "aa"), Some(first.clone()));
        assert_ne!(verified_stamp(&f, "bb"), Some(first.clone()), "another expected checksum");
        std::fs::write(&f, b"other").unwrap();
        assert_ne!(verified_stamp(&f, "aa"), Some(first), "edited file");
        assert_eq!(verified_stamp(&dir.join("missing"), "aa"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
