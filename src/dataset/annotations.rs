//! Temporal annotation files (test ground truth and video labels).
//!
//! Accepted line formats, detected per line (blank lines and `#` comments skipped):
//! - **UCF-Crime** `Temporal_Anomaly_Annotation`: `Name.mp4  Category  s1 e1 s2 e2 …`
//!   (whitespace-separated; pairs of `-1` mean "no interval"; `Normal` = normal video).
//!   UCF end frames are **inclusive**, so `[s, e]` is stored as `[s, e+1)`.
//!   (VadCLIP's `make_gt_ucf.py` uses `gt[s:e]`, one frame shorter; the difference is
//!   one frame per interval.)
//! - **XD-Violence** `name s1 e1 s2 e2 …`: integer pairs right after the name, stored as
//!   `[s, e)` as VadCLIP's `make_gt_xd.py` does; the category comes from the name's
//!   `label_<code>` part. XD files list abnormal videos only; evaluation treats a video
//!   absent from the file as normal when its name says `label_A` (see `eval`).
//! - **CSV** `name,category[,s1,e1,…]` with an optional header (`video,…`/`name,…`),
//!   intervals `[s, e)`; this is also the `labels.csv` form for video labels only.
//!
//! Frames are 0-based. Names are matched with [`super::names::video_id`].
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::names::{self, video_id};
use super::DatasetError;

/// Ground truth of one video.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VideoAnnotation {
    /// Anomaly category; `None` = normal, or anomalous of unknown category when
    /// `intervals` is non-empty (XD-style files without a label code).
    pub category: Option<String>,
    /// Anomalous frame intervals `[start, end)`, 0-based, sorted by start.
    pub intervals: Vec<(u64, u64)>,
}

impl VideoAnnotation {
    /// A video is anomalous if it has a category or any anomalous interval.
    pub fn is_anomalous(&self) -> bool {
        self.category.is_some() || !self.intervals.is_empty()
    }
}

/// All entries of an annotation file, in file order, looked up by video id.
#[derive(Debug, Clone, Default)]
pub struct Annotations {
    path: PathBuf,
    entries: Vec<(String, VideoAnnotation, usize)>,
    index: HashMap<String, usize>,
}

impl Annotations {
    /// Parses an annotation file in any of the formats in the module docs.
    pub fn load(path: &Path) -> Result<Annotations, DatasetError> {
        let text = std::fs::read_to_string(path).map_err(|e| DatasetError::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parses annotation text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Annotations, DatasetError> {
        let mut ann = Annotations { path: path.to_owned(), ..Default::default() };
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let syntax = |reason: String| DatasetError::Syntax { path: path.to_owned(), line: line_no, reason };
            let (name, category_field, numbers): (&str, Option<&str>, Vec<&str>) = if line.contains(',') {
                let f: Vec<&str> = line.split(',').map(str::trim).collect();
                let first = f[0].to_ascii_lowercase();
                if ann.entries.is_empty() && ["video", "name", "path", "file"].contains(&first.as_str()) {
                    continue; // header
                }
                (f[0], Some(f.get(1).copied().unwrap_or("")), f.get(2..).map(<[_]>::to_vec).unwrap_or_default())
            } else {
                let f: Vec<&str> = line.split_whitespace().collect();
                match f.get(1) {
                    Some(t) if t.parse::<i64>().is_err() => (f[0], Some(*t), f[2..].to_vec()),
                    _ => (f[0], None, f[1..].to_vec()),
                }
            };
            let ucf_style = category_field.is_some() && !line.contains(',');
            let id = video_id(name);
            if id.is_empty() {
                return Err(syntax("empty video name".into()));
            }
            let category = match category_field {
                Some(c) => parse_category(c, path, line_no)?,
                None => match names::xd_category(&id) {
                    Some(Ok(c)) => c.map(str::to_owned),
                    Some(Err(code)) => return Err(unknown(path, line_no, code)),
                    None => None,
                },
            };
            let intervals = parse_intervals(&numbers, ucf_style).map_err(syntax)?;
            if category.is_none() && category_field.is_some() && !intervals.is_empty() {
                return Err(syntax(format!("video {id} is labelled normal but has anomalous intervals")));
            }
            if let Some(&j) = ann.index.get(&id) {
                return Err(DatasetError::Duplicate {
                    path: path.to_owned(),
                    video: id,
                    first_line: ann.entries[j].2,
                    line: line_no,
                });
            }
            ann.index.insert(id.clone(), ann.entries.len());
            ann.entries.push((id, VideoAnnotation { category, intervals }, line_no));
        }
        Ok(ann)
    }

    /// Builds annotations in memory (tests, generators).
    pub fn from_entries(entries: impl IntoIterator<Item = (String, VideoAnnotation)>) -> Annotations {
        let mut ann = Annotations::default();
        for (i, (name, a)) in entries.into_iter().enumerate() {
            let id = video_id(&name);
            ann.index.insert(id.clone(), ann.entries.len());
            ann.entries.push((id, a, i + 1));
        }
        ann
    }

    /// The entry of a video; `video` may be a path or a name with extension or crop suffix.
    pub fn get(&self, video: &str) -> Option<&VideoAnnotation> {
        self.index.get(&video_id(video)).map(|&i| &self.entries[i].1)
    }

    /// Entries in file order as `(video id, annotation)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &VideoAnnotation)> + '_ {
        self.entries.iter().map(|(n, a, _)| (n.as_str(), a))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The file the annotations came from (empty for in-memory ones).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sorted anomaly categories named in the file.
    pub fn categories(&self) -> Vec<String> {
        let mut c: Vec<String> = self.entries.iter().filter_map(|(_, a, _)| a.category.clone()).collect();
        c.sort();
        c.dedup();
        c
    }

    /// Fails on the first entry whose category is not in `known` (e.g. a model's categories).
    pub fn check_categories(&self, known: &[String]) -> Result<(), DatasetError> {
        for (_, a, line) in &self.entries {
            if let Some(c) = &a.category {
                if !known.contains(c) {
                    return Err(DatasetError::UnknownCategory {
                        path: self.path.clone(),
                        line: *line,
                        category: c.clone(),
                        known: known.to_vec(),
                    });
                }
            }
        }
        Ok(())
    }
}

fn unknown(path: &Path, line: usize, category: String) -> DatasetError {
    let known = names::XD_CODES.iter().map(|(c, n)| format!("{c}={}", n.unwrap_or("Normal"))).collect();
    DatasetError::UnknownCategory { path: path.to_owned(), line, category, known }
}

/// A category field: `Normal`/empty → normal; XD codes (`B1`, `A`) → their names;
/// otherwise an identifier-like word is taken as the category name.
fn parse_category(c: &str, path: &Path, line: usize) -> Result<Option<String>, DatasetError> {
    if names::is_normal_word(c) {
        return Ok(None);
    }
    if let Some(cat) = names::xd_code_category(c) {
        return Ok(cat.map(str::to_owned));
    }
    if !names::valid_category(c) {
        return Err(unknown(path, line, c.to_owned()));
    }
    Ok(Some(c.to_owned()))
}

/// Integer pairs; `-1 -1` pairs are skipped; UCF ends are inclusive (→ `e + 1`).
fn parse_intervals(tokens: &[&str], end_inclusive: bool) -> Result<Vec<(u64, u64)>, String> {
    let tokens: Vec<&str> = tokens.iter().copied().filter(|t| !t.is_empty()).collect();
    if tokens.len() % 2 != 0 {
        return Err(format!("odd number of frame numbers ({}); expected start/end pairs", tokens.len()));
    }
    let mut out = Vec::new();
    for p in tokens.chunks(2) {
        let n = |t: &str| t.parse::<i64>().map_err(|_| format!("{t:?} is not a frame number"));
        let (s, e) = (n(p[0])?, n(p[1])?);
        match (s, e) {
            (-1, -1) => continue,
            (s, e) if s < 0 || e < 0 => return Err(format!("invalid interval {s} {e} (use -1 -1 for none)")),
            (s, e) if e < s => return Err(format!("interval end {e} before start {s}")),
            (s, e) => out.push((s as u64, e as u64 + end_inclusive as u64)),
        }
    }
    out.sort_unstable();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ucf_xd_and_csv_lines() {
        let text = "Abuse028_x264.mp4  Abuse  165  240  -1  -1\n\
                    Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1\n\
                    Arrest001_x264.mp4  Arrest  10  20  30  30\n\
                    v=x__#1_label_B2-0-0 100 200 300 400\n\
                    # comment\n\
                    clip7,Fire,5,9\n";
        let a = Annotations::parse(text, Path::new("ann.txt")).unwrap();
        assert_eq!(a.len(), 5);
        let abuse = a.get("Abuse028_x264__3.npy").unwrap();
        assert_eq!(abuse.category.as_deref(), Some("Abuse"));
        assert_eq!(abuse.intervals, vec![(165, 241)], "UCF end is inclusive");
        assert!(!a.get("Normal_Videos_003_x264").unwrap().is_anomalous());
        assert_eq!(a.get("Arrest001_x264").unwrap().intervals, vec![(10, 21), (30, 31)]);
        let xd = a.get("v=x__#1_label_B2-0-0").unwrap();
        assert_eq!((xd.category.as_deref(), xd.intervals.clone()), (Some("Shooting"), vec![(100, 200), (300, 400)]));
        assert_eq!(a.get("clip7").unwrap().intervals, vec![(5, 9)]);
        assert_eq!(a.categories(), vec!["Abuse", "Arrest", "Fire", "Shooting"]);
        let err = a.check_categories(&["Abuse".into()]).unwrap_err().to_string();
        assert!(err.starts_with("ann.txt:3: unknown category \"Arrest\""), "{err}");
    }

    #[test]
    fn errors_name_file_and_line() {
        let cases = [
            ("a_x264.mp4 Abuse 10\n", "ann.txt:1: odd number"),
            ("x_label_B3-0-0 1 2\n", "ann.txt:1: unknown category \"B3\""),
            ("a Normal 1 5\n", "ann.txt:1: video a is labelled normal"),
            ("a Abuse 9 5\n", "ann.txt:1: interval end 5 before start 9"),
            ("a Abuse 1 5\n\na.mp4 Abuse 1 5\n", "ann.txt: video a appears twice (lines 1 and 3)"),
            ("a 3x 1 5\n", "ann.txt:1: unknown category \"3x\""),
        ];
        for (text, want) in cases {
            let err = Annotations::parse(text, Path::new("ann.txt")).unwrap_err().to_string();
            assert!(err.starts_with(want), "{text:?}: {err}");
        }
    }
}
