//! Retention of the clip directory: clips older than `max_age` go, then the oldest clips
//! until the total fits `max_bytes`. Only finished clips (`*.mp4` not starting with `.`)
//! count; the clip just written is never removed.
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Retention limits; `None` = unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Retention {
    pub max_age: Option<Duration>,
    pub max_bytes: Option<u64>,
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pruned {
    pub files: Vec<PathBuf>,
    pub bytes: u64,
}

/// Applies `r` to the clips under `dir` at time `now`, sparing `keep`.
pub fn prune(dir: &Path, r: &Retention, now: SystemTime, keep: Option<&Path>) -> std::io::Result<Pruned> {
    let mut out = Pruned::default();
    if r.max_age.is_none() && r.max_bytes.is_none() {
        return Ok(out);
    }
    let mut clips = Vec::new();
    list_clips(dir, &mut clips)?;
    // Oldest first; the path breaks ties so the order is deterministic.
    clips.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    let mut total: u64 = clips.iter().map(|c| c.2).sum();
    for (path, mtime, size) in clips {
        if keep == Some(path.as_path()) {
            continue;
        }
        let too_old = r.max_age.is_some_and(|a| now.duration_since(mtime).unwrap_or_default() > a);
        let over = r.max_bytes.is_some_and(|m| total > m);
        if !too_old && !over {
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {
                total -= size;
                out.bytes += size;
                out.files.push(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => total -= size,
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn list_clips(dir: &Path, out: &mut Vec<(PathBuf, SystemTime, u64)>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let ty = entry.file_type()?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if ty.is_dir() {
            list_clips(&entry.path(), out)?;
        } else if ty.is_file() && name.ends_with(".mp4") && !name.starts_with('.') {
            let meta = entry.metadata()?;
            out.push((entry.path(), meta.modified()?, meta.len()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{File, FileTimes};

    fn clip(dir: &Path, name: &str, bytes: usize, age_h: u64, now: SystemTime) -> PathBuf {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, vec![0u8; bytes]).unwrap();
        let t = now - Duration::from_secs(age_h * 3600);
        File::options().write(true).open(&p).unwrap().set_times(FileTimes::new().set_modified(t)).unwrap();
        p
    }

    fn names(p: &Pruned) -> Vec<String> {
        p.files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn age_limit_removes_only_old_clips() {
        let d = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        clip(d.path(), "cam1/a.mp4", 10, 30, now);
        clip(d.path(), "cam2/b.mp4", 10, 5, now);
        clip(d.path(), "cam1/notes.txt", 10, 90, now);
        clip(d.path(), "cam1/.c.mp4.tmp-1", 10, 90, now);
        let r = Retention { max_age: Some(Duration::from_secs(24 * 3600)), max_bytes: None };
        let p = prune(d.path(), &r, now, None).unwrap();
        assert_eq!(names(&p), ["a.mp4"]);
        assert!(d.path().join("cam2/b.mp4").exists());
        assert!(d.path().join("cam1/notes.txt").exists(), "other files are not clips");
        assert!(d.path().join("cam1/.c.mp4.tmp-1").exists(), "a clip being written is not touched");
    }

    #[test]
    fn size_quota_removes_oldest_first_and_spares_the_new_clip() {
        let d = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        clip(d.path(), "x/old.mp4", 400, 4, now);
        clip(d.path(), "y/mid.mp4", 400, 3, now);
        clip(d.path(), "x/new.mp4", 400, 2, now);
        let newest = clip(d.path(), "y/newest.mp4", 400, 1, now);
        let r = Retention { max_age: None, max_bytes: Some(900) };
        let p = prune(d.path(), &r, now, Some(&newest)).unwrap();
        assert_eq!(names(&p), ["old.mp4", "mid.mp4"]);
        assert_eq!(p.bytes, 800);
        // A quota smaller than the new clip alone removes everything else but keeps it.
        let r = Retention { max_age: None, max_bytes: Some(100) };
        let p = prune(d.path(), &r, now, Some(&newest)).unwrap();
        assert_eq!(names(&p), ["new.mp4"]);
        assert!(newest.exists());
        // No limits: nothing to do, even on a missing directory.
        assert_eq!(prune(&d.path().join("none"), &Retention::default(), now, None).unwrap(), Pruned::default());
    }
}
