//! Feature lists and how [`load_list`] recognises them.
//!
//! `path` may be:
//! - **a directory** (e.g. `refinevad extract` output): every `*.npy` below it, sorted,
//!   with `<stem>.json` sidecars when present. Labels come from the first of
//!   `annotations.txt`, `labels.csv`, `labels.txt` inside it (any [`Annotations`] format),
//!   else from the name rules below.
//! - **a `.csv` file** (or a text file whose first line has a comma): manifest
//!   `path,category` with an optional header (a first line whose first field does not end
//!   in `.npy`); extra columns are ignored; empty/`Normal` category = normal; XD codes
//!   (`A`, `B1`, `B2-0-0`) are mapped to names (VadCLIP's `xd_CLIP_rgb.csv` works as is).
//! - **any other text file**: one `.npy` path or directory per line (UCF-Crime/XD-Violence
//!   list convention; `#` comments and blank lines skipped).
//! - **a single `.npy` file**: a dataset of one video.
//!
//! Relative paths are resolved against [`LoadOptions::root`], else the list's directory.
//! Files of one video id with crop suffixes `__k` are grouped into one video (UCF
//! `__0..__9`, XD `__0..__4`); a single file may also hold `[T, crops, D]`.
//!
//! Categories without a manifest/labels file, first match wins: an XD `label_<code>` name;
//! a UCF name (`Normal…` = normal, `Abuse028_x264` → `Abuse`); the parent folder name
//! (a folder whose name contains "normal" = normal) — but only when the unmatched files
//! sit in at least two folders and one of them is a "normal" folder, so a flat folder of
//! features is never mistaken for one category; otherwise normal (a warning is logged).
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::annotations::Annotations;
use super::load::{load_video, DEFAULT_SNIPPET_FRAMES};
use super::names::{self, video_id_and_crop};
use super::{Dataset, DatasetError, LoadOptions, VideoFeatures};
use crate::features::layout::FeatureLayout;

/// Label files looked for inside a feature directory.
pub const LABEL_FILES: &[&str] = &["annotations.txt", "labels.csv", "labels.txt"];

/// Where a category comes from.
#[derive(Debug, Clone)]
enum Label {
    Given(Option<String>),
    Infer,
}

/// One feature file named by a list.
#[derive(Debug, Clone)]
struct Entry {
    path: PathBuf,
    list: PathBuf,
    line: usize,
    label: Label,
}

/// Loads a feature list in any of the formats in the module docs.
pub fn load_list(path: &Path, opts: &LoadOptions) -> Result<Dataset, DatasetError> {
    let mut entries = Vec::new();
    if path.is_dir() {
        expand_dir(path, path, 0, &mut entries)?;
    } else if has_ext(path, "npy") {
        if !path.is_file() {
            return Err(DatasetError::io(path, std::io::Error::from(std::io::ErrorKind::NotFound)));
        }
        entries.push(Entry { path: path.to_owned(), list: path.to_owned(), line: 0, label: Label::Infer });
    } else {
        let text = std::fs::read_to_string(path).map_err(|e| DatasetError::io(path, e))?;
        let base = opts.root.clone().unwrap_or_else(|| path.parent().unwrap_or(Path::new(".")).to_owned());
        let first = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#'));
        if has_ext(path, "csv") || first.is_some_and(|l| l.contains(',')) {
            read_csv(&text, path, &base, &mut entries)?;
        } else {
            read_text(&text, path, &base, &mut entries)?;
        }
    }
    if entries.is_empty() {
        return Err(DatasetError::Empty { path: path.to_owned() });
    }
    build(path, entries, opts)
}

fn has_ext(p: &Path, ext: &str) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

fn resolve(base: &Path, s: &str) -> PathBuf {
    let p = Path::new(s);
    if p.is_absolute() {
        p.to_owned()
    } else {
        base.join(p)
    }
}

/// Adds every `*.npy` below `dir` (sorted), labelled by the directory's label file.
fn expand_dir(dir: &Path, list: &Path, line: usize, out: &mut Vec<Entry>) -> Result<(), DatasetError> {
    let labels =
        LABEL_FILES.iter().map(|f| dir.join(f)).find(|p| p.is_file()).map(|p| Annotations::load(&p)).transpose()?;
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    files.sort();
    for path in files {
        let label = match labels.as_ref().and_then(|a| a.get(&path.to_string_lossy())) {
            Some(a) if a.category.is_some() || !a.is_anomalous() => Label::Given(a.category.clone()),
            _ => Label::Infer,
        };
        out.push(Entry { path, list: list.to_owned(), line, label });
    }
    Ok(())
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DatasetError> {
    for e in std::fs::read_dir(dir).map_err(|e| DatasetError::io(dir, e))? {
        let p = e.map_err(|e| DatasetError::io(dir, e))?.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else if has_ext(&p, "npy") {
            out.push(p);
        }
    }
    Ok(())
}

/// One path (file or directory) per line.
fn read_text(text: &str, list: &Path, base: &Path, out: &mut Vec<Entry>) -> Result<(), DatasetError> {
    for (i, raw) in text.lines().enumerate() {
        let s = raw.trim();
        if s.is_empty() || s.starts_with('#') {
            continue;
        }
        push_path(resolve(base, s), list, i + 1, Label::Infer, out)?;
    }
    Ok(())
}

fn push_path(p: PathBuf, list: &Path, line: usize, label: Label, out: &mut Vec<Entry>) -> Result<(), DatasetError> {
    if p.is_dir() {
        return expand_dir(&p, list, line, out);
    }
    if !p.is_file() {
        return Err(DatasetError::Missing { list: list.to_owned(), line, path: p });
    }
    if !has_ext(&p, "npy") {
        return Err(DatasetError::Syntax {
            path: list.to_owned(),
            line,
            reason: format!("{} is not a .npy file", p.display()),
        });
    }
    out.push(Entry { path: p, list: list.to_owned(), line, label });
    Ok(())
}

/// `path,category` rows.
fn read_csv(text: &str, list: &Path, base: &Path, out: &mut Vec<Entry>) -> Result<(), DatasetError> {
    let mut seen_row = false;
    for (i, raw) in text.lines().enumerate() {
        let s = raw.trim();
        if s.is_empty() || s.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = s.split(',').map(|x| x.trim().trim_matches('"')).collect();
        if !seen_row {
            seen_row = true;
            if !f[0].to_ascii_lowercase().ends_with(".npy") && !resolve(base, f[0]).is_dir() {
                continue; // header
            }
        }
        let cat = f.get(1).copied().unwrap_or("");
        let label = if names::is_normal_word(cat) {
            Label::Given(None)
        } else if let Some(c) = names::xd_code_category(cat) {
            Label::Given(c.map(str::to_owned))
        } else if names::valid_category(cat) {
            Label::Given(Some(cat.to_owned()))
        } else {
            return Err(DatasetError::UnknownCategory {
                path: list.to_owned(),
                line: i + 1,
                category: cat.to_owned(),
                known: vec![],
            });
        };
        push_path(resolve(base, f[0]), list, i + 1, label, out)?;
    }
    Ok(())
}

/// Groups entries into videos, resolves categories, loads and checks the features.
fn build(path: &Path, entries: Vec<Entry>, opts: &LoadOptions) -> Result<Dataset, DatasetError> {
    // Group by video id in order of first appearance.
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, Vec<(Option<usize>, Entry)>> = HashMap::new();
    for e in entries {
        let (id, crop) = video_id_and_crop(&e.path.to_string_lossy());
        let g = groups.entry(id.clone()).or_insert_with(|| {
            order.push(id.clone());
            Vec::new()
        });
        if let Some((_, prev)) = g.iter().find(|(c, _)| crop.is_none() || c.is_none() || *c == crop) {
            return Err(DatasetError::DuplicateFiles { video: id, first: prev.path.clone(), second: e.path });
        }
        g.push((crop, e));
    }
    let folder_rule = folder_rule_applies(&order, &groups);
    let mut videos = Vec::with_capacity(order.len());
    let mut first_layout: Option<(FeatureLayout, PathBuf)> = None;
    let mut first_width: Option<(usize, PathBuf)> = None;
    let mut unlabelled = 0usize;
    for id in &order {
        let mut g = groups.remove(id).expect("grouped");
        g.sort_by_key(|(c, _)| *c);
        let category = resolve_category(id, &g, folder_rule, &mut unlabelled)?;
        let files: Vec<(Option<usize>, PathBuf)> = g.iter().map(|(c, e)| (*c, e.path.clone())).collect();
        let l = load_video(id, &files, &opts.crops)?;
        let source = files[0].1.clone();
        match &first_width {
            None => first_width = Some((l.d, source.clone())),
            Some((d0, p0)) if *d0 != l.d => {
                return Err(DatasetError::Width { path: source, d: l.d, expected: *d0, first: p0.clone() })
            }
            _ => {}
        }
        if let Some(m) = &l.meta {
            match &first_layout {
                None => first_layout = Some((m.layout.clone(), source.clone())),
                Some((l0, p0)) if *l0 != m.layout => {
                    return Err(DatasetError::Layout {
                        path: source,
                        layout: m.layout.describe(),
                        expected: l0.describe(),
                        first: p0.clone(),
                    })
                }
                _ => {}
            }
        }
        videos.push(VideoFeatures {
            name: id.clone(),
            t: l.t,
            d: l.d,
            data: l.data,
            category,
            snippet_frames: l.meta.as_ref().map_or(DEFAULT_SNIPPET_FRAMES, |m| m.snippet_frames),
            n_frames: l.meta.as_ref().map(|m| m.n_frames).filter(|&n| n > 0),
            source,
        });
    }
    if unlabelled > 0 {
        tracing::warn!(
            "{}: {unlabelled} of {} videos carry no category (no manifest/labels file, no UCF/XD name, no category folders); treated as normal",
            path.display(),
            videos.len()
        );
    }
    let layout = match first_layout {
        Some((l, _)) => l,
        None => FeatureLayout::external(videos[0].d),
    };
    Ok(Dataset::new(videos, layout))
}

fn parent_name(p: &Path) -> String {
    p.parent().and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// True when the files that no name rule labels sit in ≥ 2 folders, one of them "normal".
fn folder_rule_applies(order: &[String], groups: &HashMap<String, Vec<(Option<usize>, Entry)>>) -> bool {
    let mut folders: Vec<String> = order
        .iter()
        .filter(|id| names::xd_category(id).is_none() && names::ucf_category(id).is_none())
        .filter(|id| groups[*id].iter().all(|(_, e)| matches!(e.label, Label::Infer)))
        .map(|id| parent_name(&groups[id][0].1.path))
        .collect();
    folders.sort();
    folders.dedup();
    folders.len() >= 2 && folders.iter().any(|f| names::is_normal_word(f))
}

fn resolve_category(
    id: &str,
    g: &[(Option<usize>, Entry)],
    folder_rule: bool,
    unlabelled: &mut usize,
) -> Result<Option<String>, DatasetError> {
    let mut given: Option<(&Option<String>, &Entry)> = None;
    for (_, e) in g {
        if let Label::Given(c) = &e.label {
            match given {
                Some((c0, e0)) if c0 != c => {
                    return Err(DatasetError::Syntax {
                        path: e.list.clone(),
                        line: e.line,
                        reason: format!("video {id}: category {c:?} conflicts with {c0:?} on line {}", e0.line),
                    })
                }
                _ => given = Some((c, e)),
            }
        }
    }
    if let Some((c, _)) = given {
        return Ok(c.clone());
    }
    let e = &g[0].1;
    if let Some(r) = names::xd_category(id) {
        return r.map(|c| c.map(str::to_owned)).map_err(|code| DatasetError::UnknownCategory {
            path: e.list.clone(),
            line: e.line,
            category: format!("{code} (in {})", e.path.display()),
            known: names::XD_CODES.iter().map(|(c, _)| (*c).to_owned()).collect(),
        });
    }
    if let Some(c) = names::ucf_category(id) {
        return Ok(c);
    }
    if folder_rule {
        let f = parent_name(&e.path);
        if names::is_normal_word(&f) {
            return Ok(None);
        }
        if names::valid_category(&f) {
            return Ok(Some(f));
        }
    }
    *unlabelled += 1;
    Ok(None)
}
