//! Start-up caches: ONNX Runtime's optimised graphs for CPU sessions, and which model
//! files were already checked against their checksums.
//!
//! Building a CPU session spends most of its time optimising the graph (constant folding,
//! fusing each convolution with its activation and padding, the blocked NCHWc layout):
//! ≈ 35–80 ms for EfficientNet-Lite0, on every start of every worker. ONNX Runtime can
//! save the optimised graph and load it back with optimisation off in ≈ 15 ms, with
//! identical outputs. The saved graph holds CPU-specific layout choices, so it is keyed
//! by the model's checksum, the ONNX Runtime build in use and the CPU's architecture and
//! feature flags; any change is a new key and a fresh optimisation. An entry is written
//! to a private temporary file, flushed to disk and renamed into place.
//!
//! Checking a model's sha256 reads and hashes the whole file (≈ 30 ms for the 18 MB
//! backbone) on every start. A check that passed leaves an empty stamp named after the
//! file's path, device, inode, size, modification and status-change times and expected
//! checksum; while all of these are unchanged the file is not hashed again (`refinevad
//! check --models` always hashes). Any write to the file changes its status-change time,
//! which no program can set back.
//!
//! The cache is trusted only when it is a real directory owned by this user and writable
//! by no one else (created with mode 0700); otherwise, or when it cannot be written, it is
//! not used, which only costs the time it saves.
use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::models::sha256_hex;

/// Format of the cache's entries; bump to invalidate them all.
const CACHE_FORMAT: &str = "2";

/// The cache folder: `$REFINEVAD_CACHE` (as for `scripts/setup.sh`), else
/// `$XDG_CACHE_HOME/refinevad`, else `~/.cache/refinevad`. Empty or relative values are
/// ignored (the XDG rule). `None` when none can be named.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).map(PathBuf::from).filter(|p| p.is_absolute());
    var("REFINEVAD_CACHE")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("refinevad")))
        .or_else(|| var("HOME").map(|h| h.join(".cache/refinevad")))
}

/// `dir/sub`, created (mode 0700) if missing, when it can be trusted: a directory (not a
/// symbolic link) owned by this user and not writable by group or others — and so is
/// every folder up to `dir`'s parent that this call created.
fn private_subdir(dir: &Path, sub: &str) -> Option<PathBuf> {
    let path = dir.join(sub);
    if std::fs::symlink_metadata(&path).is_err() {
        DirBuilder::new().recursive(true).mode(0o700).create(&path).ok()?;
    }
    let euid = unsafe { libc::geteuid() };
    [dir, path.as_path()]
        .iter()
        .all(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir() && m.uid() == euid && m.mode() & 0o022 == 0))
        .then_some(path)
}

/// A regular file (not a symbolic link) at `path`.
pub fn is_plain_file(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file())
}

/// The optimised graph of the model with checksum `model_sha256` for the ONNX Runtime
/// build `runtime` (its build string) on this CPU, when the cache can be used.
pub fn graph_entry(model_sha256: &str, runtime: &str) -> Option<PathBuf> {
    let dir = private_subdir(&cache_dir()?, "ort-optimized")?;
    let key = format!("{CACHE_FORMAT}\n{model_sha256}\n{runtime}\n{}", cpu_identity());
    Some(dir.join(format!("{}.onnx", &sha256_hex(key.as_bytes())[..32])))
}

/// The architecture and the instruction set extensions (`flags` on x86, `Features` on
/// ARM in `/proc/cpuinfo`): they decide ONNX Runtime's kernels and layouts.
fn cpu_identity() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let text = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let line = text.lines().find(|l| l.starts_with("flags") || l.starts_with("Features")).unwrap_or("");
        format!("{}\n{line}", std::env::consts::ARCH)
    })
}

/// Reserves a new private temporary file beside `entry` (never an existing path or link)
/// for ONNX Runtime to write the graph into.
pub fn reserve_temp(entry: &Path) -> Option<PathBuf> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    for attempt in 0..4u32 {
        let tag = sha256_hex(format!("{nanos}-{}-{attempt}", std::process::id()).as_bytes());
        let tmp = entry.with_extension(format!("tmp-{}.onnx", &tag[..16]));
        let created =
            OpenOptions::new().write(true).create_new(true).mode(0o600).custom_flags(libc::O_NOFOLLOW).open(&tmp);
        if created.is_ok() {
            return Some(tmp);
        }
    }
    None
}

/// Flushes the graph ONNX Runtime wrote to `tmp` and renames it to `entry`; removes `tmp`
/// on any failure.
pub fn commit_temp(tmp: &Path, entry: &Path) {
    let flushed = std::fs::File::open(tmp).and_then(|f| f.sync_all());
    if flushed.and_then(|_| std::fs::rename(tmp, entry)).is_err() {
        let _ = std::fs::remove_file(tmp);
        return;
    }
    if let Some(dir) = entry.parent() {
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
}

/// Removes temporary graphs more than an hour old (left by a process that was killed
/// while writing one).
pub fn sweep_temps(entry: &Path) {
    let Some(dir) = entry.parent() else { return };
    let Ok(list) = std::fs::read_dir(dir) else { return };
    for e in list.flatten() {
        let stale = e.metadata().ok().and_then(|m| m.modified().ok()).and_then(|t| t.elapsed().ok());
        if e.file_name().to_string_lossy().contains(".tmp-") && stale.is_some_and(|s| s.as_secs() > 3600) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The stamp saying `path`, as it is now, has checksum `sha256`; `None` when the file or
/// a trusted cache folder cannot be named.
pub fn verified_stamp(path: &Path, sha256: &str) -> Option<PathBuf> {
    stamp_in(&private_subdir(&cache_dir()?, "verified-models")?, path, sha256)
}

fn stamp_in(dir: &Path, path: &Path, sha256: &str) -> Option<PathBuf> {
    let meta = std::fs::metadata(path).ok()?;
    let path = std::fs::canonicalize(path).ok()?;
    let key = format!(
        "{CACHE_FORMAT}\n{}\n{}:{}\n{}\n{}.{}\n{}.{}\n{sha256}",
        path.display(),
        meta.dev(),
        meta.ino(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec()
    );
    Some(dir.join(&sha256_hex(key.as_bytes())[..32]))
}

/// Records a passed check (best effort; never follows or overwrites an existing path).
pub fn mark_verified(stamp: &Path) {
    let _ = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(stamp)
        .and_then(|mut f| f.write_all(b""));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_entries_differ_by_model_and_runtime() {
        let d = tempfile::tempdir().unwrap();
        let dir = private_subdir(d.path(), "ort-optimized").unwrap();
        let key = |m: &str, r: &str| format!("{CACHE_FORMAT}\n{m}\n{r}\n{}", cpu_identity());
        assert_ne!(key("aa", "ort 1.31"), key("bb", "ort 1.31"));
        assert_ne!(key("aa", "ort 1.31"), key("aa", "ort 1.32"));
        let entry = dir.join("x.onnx");
        let (t1, t2) = (reserve_temp(&entry).unwrap(), reserve_temp(&entry).unwrap());
        assert_ne!(t1, t2);
        assert!(is_plain_file(&t1) && t1.parent() == Some(dir.as_path()));
        commit_temp(&t1, &entry);
        assert!(is_plain_file(&entry) && !t1.exists());
    }

    #[test]
    fn untrusted_folders_are_not_used() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let open = d.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(private_subdir(&open, "ort-optimized"), None, "world-writable cache");
        let real = d.path().join("real");
        let made = private_subdir(&real, "sub").unwrap();
        assert_eq!(std::fs::metadata(&made).unwrap().mode() & 0o777, 0o700);
        std::os::unix::fs::symlink(&made, real.join("link")).unwrap();
        assert_eq!(private_subdir(&real, "link"), None, "a symbolic link");
    }

    #[test]
    fn a_stamp_changes_when_the_file_does_and_never_follows_links() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("m.onnx");
        std::fs::write(&f, b"one").unwrap();
        let first = stamp_in(d.path(), &f, "aa").unwrap();
        assert_eq!(stamp_in(d.path(), &f, "aa"), Some(first.clone()));
        assert_ne!(stamp_in(d.path(), &f, "bb"), Some(first.clone()), "another expected checksum");
        // Same size, then the modification time set back: the status-change time moved.
        let mtime = std::fs::metadata(&f).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&f, b"two").unwrap();
        std::fs::File::options().write(true).open(&f).unwrap().set_modified(mtime).unwrap();
        assert_ne!(stamp_in(d.path(), &f, "aa"), Some(first), "rewritten in place");
        assert_eq!(stamp_in(d.path(), &d.path().join("missing"), "aa"), None);

        let target = d.path().join("target");
        let link = d.path().join("stamp");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        mark_verified(&link);
        assert!(!target.exists(), "a planted link is not followed");
    }
}
