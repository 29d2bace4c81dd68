//! Output paths of per-stream files and check-time writability probes.
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

/// `dir/<stream><suffix>`. Stream ids may contain `/` (nested directories, mirroring an
/// input tree); empty, `.` and `..` components are neutralised so a stream id can never
/// write outside `dir`.
pub fn stream_path(dir: &Path, stream: &str, suffix: &str) -> PathBuf {
    let parts: Vec<&str> = stream
        .split(['/', '\\'])
        .filter(|p| !p.is_empty() && *p != ".")
        .map(|p| if p == ".." { "_" } else { p })
        .collect();
    let mut path = dir.to_path_buf();
    match parts.split_last() {
        Some((last, dirs)) => {
            path.extend(dirs);
            path.push(format!("{last}{suffix}"));
        }
        None => path.push(format!("_{suffix}")),
    }
    path
}

/// Whether files can be created in `dir`: it, or its nearest existing ancestor (which
/// would hold the directories created at start), must be a writable directory. Probes
/// with a temporary file, the only test that also holds for root and read-only mounts.
pub fn check_writable_dir(dir: &Path) -> Result<(), String> {
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let existing = dir.ancestors().find(|a| a.as_os_str().is_empty() || a.exists()).unwrap_or(Path::new("."));
    let existing = if existing.as_os_str().is_empty() { Path::new(".") } else { existing };
    if !existing.is_dir() {
        return Err(format!("`{}` exists and is not a directory", existing.display()));
    }
    let probe = existing.join(format!(".refinevad-write-check-{}", std::process::id()));
    match OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(format!("`{}` is not writable: {e}", existing.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_map_inside_the_directory() {
        let d = Path::new("/out");
        assert_eq!(stream_path(d, "cam1", ".scores.csv"), Path::new("/out/cam1.scores.csv"));
        assert_eq!(stream_path(d, "site/a/cam1", ".png"), Path::new("/out/site/a/cam1.png"));
        assert_eq!(stream_path(d, "../../etc/x", ".png"), Path::new("/out/_/_/etc/x.png"));
        assert_eq!(stream_path(d, "/abs//x", ".png"), Path::new("/out/abs/x.png"));
        assert_eq!(stream_path(d, "", ".png"), Path::new("/out/_.png"));
    }

    #[test]
    fn writability_probe() {
        let t = tempfile::tempdir().unwrap();
        assert!(check_writable_dir(&t.path().join("not/yet/there")).is_ok());
        let f = t.path().join("file");
        std::fs::write(&f, b"x").unwrap();
        assert!(check_writable_dir(&f.join("sub")).unwrap_err().contains("not a directory"));
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 1, "probe removed");
    }
}
