//! The batch's inputs: command-line arguments (files, directories, globs, manifests,
//! URIs) → a sorted list of [`BatchInput`]s with unique relative keys, and the
//! deterministic shard partition over those keys.
use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::extract::inputs::{expand_glob, is_glob, read_manifest, walk_videos, ListingError, VIDEO_EXTENSIONS};

/// File extensions read as manifests when given as an input.
pub const MANIFEST_EXTENSIONS: &[&str] = &["txt", "csv", "list", "lst"];

/// One video of the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchInput {
    /// Relative path with extension, `/`-separated, unique in the listing: the identity of
    /// the input in the ledger and the shard hash.
    pub key: String,
    /// Output stem (relative path without extension, or with it when two inputs share a
    /// stem): outputs are `<out>/<id>.scores.csv` etc.
    pub id: String,
    /// Path or URI handed to the source.
    pub source: String,
    /// Size and modification time (ns since the epoch) of local files; None when the
    /// file cannot be stat'ed (the source then reports why) or for URIs.
    pub size: Option<u64>,
    pub mtime_ns: Option<i128>,
}

/// Which part of the listing this process handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;
    /// `i/N` with 0 ≤ i < N.
    fn from_str(s: &str) -> Result<Self, String> {
        let (i, n) = s.split_once('/').ok_or_else(|| format!("`{s}`: expected i/N, e.g. 0/4"))?;
        let index: u32 = i.trim().parse().map_err(|_| format!("`{s}`: shard index `{i}` is not a number"))?;
        let count: u32 = n.trim().parse().map_err(|_| format!("`{s}`: shard count `{n}` is not a number"))?;
        if count == 0 || index >= count {
            return Err(format!("`{s}`: need 0 ≤ i < N"));
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// Whether `key` belongs to this shard: the first 8 bytes of SHA-256(key) modulo N.
    /// Depends on the key only, so the partition is the same whatever the listing order,
    /// on every machine.
    pub fn owns(&self, key: &str) -> bool {
        shard_of(key, self.count) == self.index
    }

    /// File-name suffix of this shard's ledger, summary and report: `.shard-1-of-4`.
    pub fn suffix(&self) -> String {
        format!(".shard-{}-of-{}", self.index, self.count)
    }
}

/// Shard of `key` among `count`.
pub fn shard_of(key: &str, count: u32) -> u32 {
    let h = Sha256::digest(key.as_bytes());
    (u64::from_be_bytes(h[..8].try_into().expect("8 bytes")) % u64::from(count)) as u32
}

/// Expands the inputs. Listing errors (unreadable directory or manifest, glob without a
/// match) are returned; files that are listed but broken become inputs, so the source
/// reports their precise cause.
pub fn list_inputs(raw: &[String], manifests: &[PathBuf]) -> (Vec<BatchInput>, Vec<ListingError>) {
    let mut found: Vec<(String, String)> = Vec::new(); // (key, source)
    let mut errors = Vec::new();
    for m in manifests {
        add_manifest(m, &mut found, &mut errors);
    }
    for r in raw {
        let r = r.strip_prefix("file://").unwrap_or(r);
        let path = Path::new(r);
        if r.contains("://") {
            found.push((uri_key(r), r.to_string()));
        } else if path.is_dir() {
            add_dir(path, path, &mut found, &mut errors);
        } else if !path.exists() && is_glob(r) {
            let (base, hits) = expand_glob(r);
            if hits.is_empty() {
                errors.push(ListingError { input: r.to_string(), cause: "no file matches this pattern".into() });
            }
            for h in hits {
                if h.is_dir() {
                    add_dir(&h, &base, &mut found, &mut errors);
                } else {
                    found.push((rel_key(&h, &base), h.to_string_lossy().into_owned()));
                }
            }
        } else if path.is_file() && has_ext(path, MANIFEST_EXTENSIONS) {
            add_manifest(path, &mut found, &mut errors);
        } else {
            // A file (maybe missing or broken): the source reports what is wrong with it.
            found.push((file_name(r), r.to_string()));
        }
    }
    (finish(found), errors)
}

fn add_dir(dir: &Path, base: &Path, found: &mut Vec<(String, String)>, errors: &mut Vec<ListingError>) {
    let (files, errs) = walk_videos(dir);
    errors.extend(errs);
    found.extend(files.into_iter().map(|f| (rel_key(&f, base), f.to_string_lossy().into_owned())));
}

/// Manifest entries: relative paths are relative to the manifest's folder and keep their
/// written form as key; absolute paths are keyed without the leading `/`.
fn add_manifest(m: &Path, found: &mut Vec<(String, String)>, errors: &mut Vec<ListingError>) {
    match read_manifest(m) {
        Ok(entries) => {
            let dir = m.parent().unwrap_or(Path::new(""));
            for e in entries {
                if e.contains("://") && !e.starts_with("file://") {
                    found.push((uri_key(&e), e));
                    continue;
                }
                let p = Path::new(e.strip_prefix("file://").unwrap_or(&e));
                let source = if p.is_absolute() { p.to_path_buf() } else { dir.join(p) };
                found.push((normalise_key(p), source.to_string_lossy().into_owned()));
            }
        }
        Err(e) => errors.push(e),
    }
}

fn has_ext(p: &Path, exts: &[&str]) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| exts.contains(&e.to_ascii_lowercase().as_str()))
}

fn rel_key(p: &Path, base: &Path) -> String {
    normalise_key(p.strip_prefix(base).unwrap_or(p))
}

/// `/`-separated relative path without `.`, `..` (→ `_`) or root components.
fn normalise_key(p: &Path) -> String {
    let parts: Vec<String> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("_".into()),
            _ => None,
        })
        .collect();
    if parts.is_empty() {
        "_".into()
    } else {
        parts.join("/")
    }
}

fn file_name(r: &str) -> String {
    normalise_key(Path::new(r.trim_end_matches('/').rsplit('/').next().unwrap_or(r)))
}

/// A URI's key: host and path, e.g. `cams.example/live/cam1`.
fn uri_key(uri: &str) -> String {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r); // drop credentials
    normalise_key(Path::new(&rest.replace(':', "_")))
}

/// Makes keys unique (`a.mp4`, `a-2.mp4`, … in listing order), assigns output stems,
/// stats files and sorts by key.
fn finish(found: Vec<(String, String)>) -> Vec<BatchInput> {
    let mut seen = HashSet::new();
    let mut items = Vec::with_capacity(found.len());
    for (key, source) in found {
        let mut unique = key.clone();
        let mut n = 2;
        while !seen.insert(unique.clone()) {
            let (stem, ext) = split_ext(&key);
            unique = format!("{stem}-{n}{ext}");
            n += 1;
        }
        items.push((unique, source));
    }
    // Output stems: the key without its extension, unless another input has that stem.
    let mut stems: HashMap<String, usize> = HashMap::new();
    for (k, _) in &items {
        *stems.entry(split_ext(k).0.to_string()).or_default() += 1;
    }
    let mut ids = HashSet::new();
    let mut out: Vec<BatchInput> = items
        .into_iter()
        .map(|(key, source)| {
            let stem = split_ext(&key).0;
            let id = if stems[stem] > 1 { key.clone() } else { stem.to_string() };
            let meta = (!source.contains("://")).then(|| std::fs::metadata(&source).ok()).flatten();
            BatchInput {
                size: meta.as_ref().map(|m| m.len()),
                mtime_ns: meta.as_ref().and_then(|m| m.modified().ok()).map(|t| {
                    match t.duration_since(std::time::UNIX_EPOCH) {
                        Ok(d) => d.as_nanos() as i128,
                        Err(e) => -(e.duration().as_nanos() as i128),
                    }
                }),
                key,
                id,
                source,
            }
        })
        .collect();
    out.sort_by(|a, b| a.key.cmp(&b.key));
    for i in &mut out {
        let base = i.id.clone();
        let mut n = 2;
        while !ids.insert(i.id.clone()) {
            i.id = format!("{base}-{n}");
            n += 1;
        }
    }
    out
}

/// `("dir/a", ".mp4")` for `dir/a.mp4`; only a known video extension is split off.
fn split_ext(key: &str) -> (&str, &str) {
    let name_start = key.rfind('/').map_or(0, |i| i + 1);
    match key[name_start..].rfind('.') {
        Some(dot) if dot > 0 => {
            let (stem, ext) = key.split_at(name_start + dot);
            if VIDEO_EXTENSIONS.contains(&ext[1..].to_ascii_lowercase().as_str()) || ext.len() <= 6 {
                (stem, ext)
            } else {
                (key, "")
            }
        }
        _ => (key, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_by_key_only() {
        let keys: Vec<String> = (0..300).map(|i| format!("cam{}/v{i}.mp4", i % 7)).collect();
        let n = 3;
        let mut counts = [0usize; 3];
        for k in &keys {
            let owners: Vec<u32> = (0..n).filter(|&i| Shard { index: i, count: n }.owns(k)).collect();
            assert_eq!(owners.len(), 1);
            counts[owners[0] as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 60), "{counts:?}");
        assert_eq!(shard_of("a/b.mp4", 5), shard_of("a/b.mp4", 5));
        assert!("3/3".parse::<Shard>().is_err() && "1/0".parse::<Shard>().is_err() && "x".parse::<Shard>().is_err());
        assert_eq!("1/4".parse::<Shard>().unwrap(), Shard { index: 1, count: 4 });
    }

    #[test]
    fn keys_ids_and_collisions() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a")).unwrap();
        for f in ["a/x.mp4", "a/x.avi", "a/y.mp4", "notes.txt"] {
            std::fs::write(d.path().join(f), b"1").unwrap();
        }
        let root = d.path().to_string_lossy().into_owned();
        let (inputs, errs) = list_inputs(&[root.clone(), format!("{root}/a/y.mp4")], &[]);
        assert!(errs.is_empty());
        let pairs: Vec<(&str, &str)> = inputs.iter().map(|i| (i.key.as_str(), i.id.as_str())).collect();
        assert_eq!(pairs, vec![("a/x.avi", "a/x.avi"), ("a/x.mp4", "a/x.mp4"), ("a/y.mp4", "a/y"), ("y.mp4", "y")]);
        assert_eq!(inputs[0].size, Some(1));
        // Same folder listed twice: unique keys.
        let (inputs, _) = list_inputs(&[format!("{root}/a/y.mp4"), format!("{root}/a/y.mp4")], &[]);
        let keys: Vec<&str> = inputs.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, vec!["y-2.mp4", "y.mp4"]);
        assert_eq!(uri_key("rtsp://user:pw@cam.local:554/live/1?x=1"), "cam.local_554/live/1");
    }

    #[test]
    fn manifests_resolve_relative_to_their_folder() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("v/sub")).unwrap();
        std::fs::write(d.path().join("v/sub/a.mp4"), b"12").unwrap();
        std::fs::write(d.path().join("v/list.csv"), "path,label\nsub/a.mp4,1\n./sub/missing.mp4,0\n").unwrap();
        let (inputs, errs) = list_inputs(&[d.path().join("v/list.csv").to_string_lossy().into_owned()], &[]);
        assert!(errs.is_empty());
        assert_eq!(inputs[0].key, "sub/a.mp4");
        assert_eq!(inputs[0].size, Some(2));
        assert_eq!(inputs[1].key, "sub/missing.mp4");
        assert_eq!(inputs[1].size, None);
    }
}
