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
    if stem.is_empty() {
        "stream".into()
    } else {
        stem
    }
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

/// Video files under `dir` (recursive, by [`VIDEO_EXTENSIONS`], each real directory
/// visited once so symlink loops end), sorted.
pub fn walk_videos(dir: &Path) -> (Vec<PathBuf>, Vec<ListingError>) {
    let (mut files, mut errors) = (Vec::new(), Vec::new());
    walk(dir, &mut files, &mut errors, &mut HashSet::new());
    files.sort();
    (files, errors)
}

/// Whether `s` contains glob metacharacters (`*`, `?`, `[`).
pub fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Expands a glob pattern (`*` and `?` within a name, `[abc]`/`[a-z]`/`[!x]` classes,
/// `**` for any number of directories; names starting with `.` only match patterns that
/// start with `.`). Returns the literal directory before the first wildcard (outputs are
/// named relative to it) and the matching paths, files and directories, sorted. Symlinked
/// directories are followed, each real directory once under `**`.
pub fn expand_glob(pattern: &str) -> (PathBuf, Vec<PathBuf>) {
    let parts: Vec<&str> = pattern.split('/').collect();
    let first_wild = parts.iter().position(|p| is_glob(p) || *p == "**").unwrap_or(parts.len());
    let base = if first_wild == 0 {
        PathBuf::from(".")
    } else if first_wild == 1 && parts[0].is_empty() {
        PathBuf::from("/")
    } else {
        PathBuf::from(parts[..first_wild].join("/"))
    };
    let rest: Vec<&str> = parts[first_wild..].iter().copied().filter(|p| !p.is_empty()).collect();
    let mut out = Vec::new();
    glob_walk(&base, &rest, &mut out, &mut HashSet::new());
    out.sort();
    out.dedup();
    (base, out)
}

fn glob_walk(dir: &Path, rest: &[&str], out: &mut Vec<PathBuf>, visited: &mut HashSet<(PathBuf, usize)>) {
    let Some((head, tail)) = rest.split_first() else {
        if dir.exists() {
            out.push(dir.to_path_buf());
        }
        return;
    };
    if *head == "**" {
        // Zero directories, then one more level; each (real dir, position) once.
        let Ok(real) = std::fs::canonicalize(dir) else { return };
        if !visited.insert((real, rest.len())) {
            return;
        }
        glob_walk(dir, tail, out, visited);
        for (name, path) in sorted_entries(dir) {
            if !name.starts_with('.') && path.is_dir() {
                glob_walk(&path, rest, out, visited);
            }
        }
    } else if !is_glob(head) {
        let p = dir.join(head);
        if tail.is_empty() || p.is_dir() {
            glob_walk(&p, tail, out, visited);
        }
    } else {
        for (name, path) in sorted_entries(dir) {
            if wildcard_match(head, &name) && (tail.is_empty() || path.is_dir()) {
                glob_walk(&path, tail, out, visited);
            }
        }
    }
}

fn sorted_entries(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| (e.file_name().to_string_lossy().into_owned(), e.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Matches one path component against a pattern with `*`, `?` and `[...]`.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Iterative matcher with backtracking to the last `*`.
    let (mut pi, mut ni, mut star, mut mark) = (0usize, 0usize, None::<usize>, 0usize);
    while ni < n.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            pi += 1;
            mark = ni;
            continue;
        }
        if pi < p.len() {
            if let Some((ok, len)) = match_one(&p[pi..], n[ni]) {
                if ok {
                    pi += len;
                    ni += 1;
                    continue;
                }
            }
        }
        match star {
            Some(s) => {
                pi = s + 1;
                mark += 1;
                ni = mark;
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Whether the pattern item at the start of `p` matches `c`, and its length in `p`.
fn match_one(p: &[char], c: char) -> Option<(bool, usize)> {
    match p[0] {
        '?' => Some((true, 1)),
        '[' => {
            let close = p.iter().skip(2).position(|&x| x == ']').map(|i| i + 2)?;
            let (negate, body) = match p[1] {
                '!' | '^' => (true, &p[2..close]),
                _ => (false, &p[1..close]),
            };
            let mut hit = false;
            let mut i = 0;
            while i < body.len() {
                if i + 2 < body.len() && body[i + 1] == '-' {
                    hit |= body[i] <= c && c <= body[i + 2];
                    i += 3;
                } else {
                    hit |= body[i] == c;
                    i += 1;
                }
            }
            Some((hit != negate, close + 1))
        }
        x => Some((x == c, 1)),
    }
}

/// Reads a manifest: one path (or URI) per line, blank lines and `#` comments skipped;
/// or a CSV whose header has a `path` column (`"quoted, fields"` allowed). Returns the
/// entries as written, in file order.
pub fn read_manifest(path: &Path) -> Result<Vec<String>, ListingError> {
    let err = |cause: String| ListingError { input: path.display().to_string(), cause };
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read manifest: {e}")))?;
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).peekable();
    let header = lines.peek().map(|h| csv_fields(h));
    // A first line with a `path` field is a CSV header.
    let column = header.as_ref().and_then(|h| h.iter().position(|f| f.trim().eq_ignore_ascii_case("path")));
    let mut out = Vec::new();
    match column {
        Some(col) => {
            lines.next();
            for (i, l) in lines.enumerate() {
                let f = csv_fields(l);
                match f.get(col).map(|s| s.trim()).filter(|s| !s.is_empty()) {
                    Some(p) => out.push(p.to_string()),
                    None => return Err(err(format!("data row {}: no value in the `path` column", i + 1))),
                }
            }
        }
        None => out.extend(lines.map(str::to_string)),
    }
    Ok(out)
}

/// Splits one CSV line (RFC 4180 quoting, no embedded newlines).
fn csv_fields(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
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
            errors
                .push(ListingError { input: dir.display().to_string(), cause: format!("cannot read directory: {e}") });
            return;
        }
    };
    for entry in entries.flatten() {
        let p = entry.path();
        if p.is_dir() {
            walk(&p, files, errors, visited);
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        {
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
        let (inputs, errs) =
            expand(&[d.path().to_string_lossy().into_owned(), "/tmp/x.mp4".into(), "rtsp://cam/x".into()]);
        let ids: Vec<_> = inputs.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, vec!["a/b/x", "a/y", "x", "x-2"]);
        assert!(errs.is_empty());
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.mp4", "a.mp4"));
        assert!(!wildcard_match("*.mp4", "a.mp4.txt"));
        assert!(wildcard_match("cam?_*.avi", "cam1_x.avi"));
        assert!(wildcard_match("[a-c]*", "b1"));
        assert!(!wildcard_match("[!a-c]*", "b1"));
        assert!(!wildcard_match("*", ".hidden"));
        assert!(wildcard_match(".*", ".hidden"));
        assert!(wildcard_match("*a*b*", "xxaxxbxx"));
    }

    #[test]
    fn globs_expand_with_double_star_and_loops() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a/b")).unwrap();
        for f in ["a/x.mp4", "a/b/y.mp4", "a/b/z.avi", "top.mp4"] {
            std::fs::write(d.path().join(f), b"1").unwrap();
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink(d.path().join("a"), d.path().join("a/b/loop")).unwrap();
        let root = d.path().to_string_lossy().into_owned();
        let (base, hits) = expand_glob(&format!("{root}/a/**/*.mp4"));
        assert_eq!(base, d.path().join("a"));
        let rel: Vec<_> = hits.iter().map(|p| p.strip_prefix(&base).unwrap().to_string_lossy().into_owned()).collect();
        assert!(rel.contains(&"x.mp4".to_string()) && rel.contains(&"b/y.mp4".to_string()), "{rel:?}");
        assert!(!rel.iter().any(|r| r.ends_with(".avi")));
        let (_, hits) = expand_glob(&format!("{root}/*.mp4"));
        assert_eq!(hits, vec![d.path().join("top.mp4")]);
    }

    #[test]
    fn manifests_plain_and_csv() {
        let d = tempfile::tempdir().unwrap();
        let plain = d.path().join("list.txt");
        std::fs::write(&plain, "# archive\na/x.mp4\n\n/abs/y.avi\n").unwrap();
        assert_eq!(read_manifest(&plain).unwrap(), vec!["a/x.mp4", "/abs/y.avi"]);
        let csv = d.path().join("list.csv");
        std::fs::write(&csv, "id,path,label\n1,a/x.mp4,0\n2,\"b/with, comma.mp4\",1\n").unwrap();
        assert_eq!(read_manifest(&csv).unwrap(), vec!["a/x.mp4", "b/with, comma.mp4"]);
        let one = d.path().join("one.csv");
        std::fs::write(&one, "path\nq.mp4\n").unwrap();
        assert_eq!(read_manifest(&one).unwrap(), vec!["q.mp4"]);
        std::fs::write(&csv, "id,path\n1,\n").unwrap();
        assert!(read_manifest(&csv).unwrap_err().cause.contains("`path` column"));
    }
}
