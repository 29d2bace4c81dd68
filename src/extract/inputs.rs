//! Expands command-line inputs (files, directories, URIs) into streams with unique ids.
//! Directories are walked recursively for video extensions; the stream id of a file found
//! in a directory is its path relative to that directory without the extension, so
//! outputs mirror the input tree.
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// File extensions treated as video when walking directories.
pub const VIDEO_EXTENSIONS: &[&str] =
    &["mp4", "avi", "mkv", "mov", "webm", "m4v", "mpg", "mpeg", "ts", "mts", "flv", "wmv", "3gp", "ogv", "mjpeg"];

/// One input to process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Unique id, also the output's relative path stem.
    pub id: String,
    /// Path or URI handed to the source.
    pub uri: String,
}

/// An input that could not even be listed (e.g. unreadable directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingError {
    pub input: String,
    pub cause: String,
}

pub fn expand(inputs: &[String]) -> (Vec<Input>, Vec<ListingError>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut seen_ids = HashSet::new();
    for raw in inputs {
        let path = Path::new(raw);
        if raw.contains("://") && !raw.starts_with("file://") {
            push(&mut out, &mut seen_ids, stem_of(raw), raw.clone());
        } else if path.is_dir() {
            let mut files = Vec::new();
            walk(path, &mut files, &mut errors, &mut HashSet::new());
            files.sort();
            for f in files {
                let rel = f.strip_prefix(path).unwrap_or(&f).with_extension("");
                push(&mut out, &mut seen_ids, rel.to_string_lossy().into_owned(), f.to_string_lossy().into_owned());
            }
        } else {
            // Files (even missing or broken ones) become streams: the source reports
            // their precise error, and the other inputs go on.
            push(&mut out, &mut seen_ids, stem_of(raw), raw.clone());
        }
    }
    (out, errors)
}

fn stem_of(raw: &str) -> String {
    let name = raw.trim_end_matches('/').rsplit('/').next().unwrap_or(raw);
    let stem = Path::new(name).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    if stem.is_empty() { "stream".into() } else { stem }
}

fn push(out: &mut Vec<Input>, seen: &mut HashSet<String>, id: String, uri: String) {
    let mut unique = id.clone();
    let mut n = 2;
    while !seen.insert(unique.clone()) {
        unique = format!("{id}-{n}");
        n += 1;
    }
    out.push(Input { id: unique, uri });
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<ListingError>, visited: &mut HashSet<PathBuf>) {
    // Symlink loops: visit each real directory once.
    let Ok(real) = std::fs::canonicalize(dir) else { return };
    if !visited.insert(real) {
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(ListingError { input: dir.display().to_string(), cause: format!("cannot read directory: {e}") });
            return;
        }
    };
    for entry in entries.flatten() {
        let p = entry.path();
        if p.is_dir() {
            walk(&p, files, errors, visited);
        } else if p.extension().and_then(|e| e.to_str()).is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())) {
            files.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_dirs_mirrors_paths_and_dedups_ids() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a/b")).unwrap();
        std::fs::write(d.path().join("a/b/x.mp4"), b"1").unwrap();
        std::fs::write(d.path().join("a/y.AVI"), b"1").unwrap();
        std::fs::write(d.path().join("a/notes.txt"), b"1").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(d.path().join("a"), d.path().join("a/b/loop")).unwrap();
        let (inputs, errs) = expand(&[d.path().to_string_lossy().into_owned(), "/tmp/x.mp4".into(), "rtsp://cam/x".into()]);
        let ids: Vec<_> = inputs.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, vec!["a/b/x", "a/y", "x", "x-2"]);
        assert!(errs.is_empty());
    }
}
