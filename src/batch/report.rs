//! `summary.json` and the self-contained `report.html` of a batch run (or of several
//! merged by `refinevad report`). Everything but the `timing` fields is a function of the
//! ledger entries, ordered by input key, so an interrupted-then-resumed run writes the
//! same files as an uninterrupted one.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ledger::{Entry, EventBrief, Status, Timing};
use super::writer::SCORES;
use crate::dataset::Annotations;
use crate::eval::{evaluate, read_scores_file, Metrics, VideoPrediction};

/// Timelines inlined in the report (the strongest first); the rest are linked.
pub const INLINE_IMAGES: usize = 500;

/// What a batch process records about itself (`.refinevad/run[.shard-i-of-N].json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    pub refinevad_version: String,
    pub pipeline: String,
    pub model: String,
    pub config_hash: String,
    pub snippet_frames: usize,
    pub event_threshold: f32,
    pub shard: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VideoSummary {
    pub key: String,
    pub id: String,
    pub source: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// Output folder (relative to the summary) when merged from several folders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    pub outputs: Vec<String>,
    pub frames: u64,
    pub fps: f64,
    pub segments: usize,
    pub duration_s: f64,
    pub peak_score: Option<f32>,
    pub peak_time_s: Option<f64>,
    pub mean_score: Option<f64>,
    pub events: usize,
    pub top_category: Option<String>,
    pub top_events: Vec<EventBrief>,
    pub timing: Timing,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub input: String,
    pub kind: String,
    pub cause: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SummaryTiming {
    pub generated: String,
    /// Wall seconds of this process (None for `refinevad report`).
    pub run_wall_s: Option<f64>,
    /// Video seconds scored by this process.
    pub processed_video_s: Option<f64>,
    pub video_hours_per_wall_hour: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub refinevad_version: String,
    pub pipeline: String,
    pub model: String,
    pub shard: Option<String>,
    pub inputs: usize,
    pub ok: usize,
    pub failed: usize,
    /// Listed inputs not processed yet (an interrupted run).
    pub pending: Vec<String>,
    pub video_seconds: f64,
    pub events: usize,
    pub annotations: Option<String>,
    pub metrics: Option<Metrics>,
    pub metrics_note: Option<String>,
    /// Every processed input, by key.
    pub videos: Vec<VideoSummary>,
    /// Failed inputs and listing errors, by input.
    pub failures: Vec<Failure>,
    pub timing: SummaryTiming,
}

/// A ledger entry and the folder holding its outputs.
pub struct Located {
    pub dir: PathBuf,
    /// `dir` relative to the summary's folder (`""` when the same).
    pub rel_dir: String,
    pub entry: Entry,
}

/// Builds the summary; `rows` in any order.
pub fn build(
    meta: &RunMeta,
    mut rows: Vec<Located>,
    listing_errors: &[(String, String)],
    pending: Vec<String>,
    annotations: Option<&Annotations>,
    timing: SummaryTiming,
) -> (Summary, Vec<Located>) {
    rows.sort_by(|a, b| a.entry.key.cmp(&b.entry.key).then(a.rel_dir.cmp(&b.rel_dir)));
    let mut failures: Vec<Failure> = listing_errors
        .iter()
        .map(|(input, cause)| Failure { input: input.clone(), kind: "listing".into(), cause: cause.clone() })
        .collect();
    let mut videos = Vec::with_capacity(rows.len());
    for r in &rows {
        let e = &r.entry;
        if e.status == Status::Failed {
            failures.push(Failure {
                input: e.key.clone(),
                kind: e.kind.clone().unwrap_or_default(),
                cause: e.cause.clone().unwrap_or_default(),
            });
        }
        videos.push(VideoSummary {
            key: e.key.clone(),
            id: e.id.clone(),
            source: e.source.clone(),
            status: e.status,
            kind: e.kind.clone(),
            cause: e.cause.clone(),
            dir: (!r.rel_dir.is_empty()).then(|| r.rel_dir.clone()),
            outputs: e.outputs.clone(),
            frames: e.frames,
            fps: e.fps,
            segments: e.segments,
            duration_s: e.duration_s,
            peak_score: e.peak_score,
            peak_time_s: e.peak_time_s,
            mean_score: e.mean_score,
            events: e.events,
            top_category: e.top_category.clone(),
            top_events: e.top_events.clone(),
            timing: e.timing.clone(),
        });
    }
    failures.sort_by(|a, b| a.input.cmp(&b.input));
    let ok = videos.iter().filter(|v| v.status == Status::Ok).count();
    let (metrics, metrics_note) = match annotations {
        Some(a) => metrics_for(&rows, a),
        None => (None, None),
    };
    let video_seconds = videos.iter().filter(|v| v.status == Status::Ok).map(|v| v.duration_s).sum::<f64>();
    let summary = Summary {
        refinevad_version: meta.refinevad_version.clone(),
        pipeline: meta.pipeline.clone(),
        model: meta.model.clone(),
        shard: meta.shard.clone(),
        inputs: videos.len() + pending.len() + listing_errors.len(),
        ok,
        failed: failures.len(),
        pending,
        video_seconds: (video_seconds * 1000.0).round() / 1000.0,
        events: videos.iter().map(|v| v.events).sum(),
        annotations: annotations.map(|a| a.path().display().to_string()),
        metrics,
        metrics_note,
        videos,
        failures,
        timing,
    };
    (summary, rows)
}

/// Frame-level metrics of `eval` over the processed videos that have an annotation entry.
fn metrics_for(rows: &[Located], ann: &Annotations) -> (Option<Metrics>, Option<String>) {
    let mut preds = Vec::new();
    let mut unannotated = 0;
    for r in rows.iter().filter(|r| r.entry.status == Status::Ok) {
        let e = &r.entry;
        let file_name = e.source.rsplit('/').next().unwrap_or(&e.source);
        if ann.get(&e.id).is_none() && ann.get(file_name).is_none() {
            unannotated += 1;
            continue;
        }
        let path = crate::sinks::stream_path(&r.dir, &e.id, SCORES);
        let file = match read_scores_file(&path) {
            Ok(f) => f,
            Err(err) => return (None, Some(format!("cannot read {}: {err}", path.display()))),
        };
        let n = file.rows.len().max(1) as f32;
        let probs = (!file.categories.is_empty()).then(|| {
            let mut p = vec![0f32; file.categories.len()];
            for row in &file.rows {
                p.iter_mut().zip(&row.probs).for_each(|(a, b)| *a += b / n);
            }
            p
        });
        let name = if ann.get(&e.id).is_some() { e.id.clone() } else { file_name.to_string() };
        preds.push(VideoPrediction {
            name,
            scores: file.rows.iter().map(|r| r.score).collect(),
            snippet_frames: e.snippet_frames.max(1),
            n_frames: Some(e.frames),
            category_probs: probs,
            categories: file.categories.clone(),
            true_category: None,
        });
    }
    let note = (unannotated > 0)
        .then(|| format!("{unannotated} processed video(s) without an annotation entry are not evaluated"));
    if preds.is_empty() {
        return (None, Some("no processed video has an annotation entry".into()));
    }
    match evaluate(&preds, ann) {
        Ok(m) => (Some(m), note),
        Err(e) => (None, Some(format!("metrics not computed: {e}"))),
    }
}

pub fn write_summary(path: &Path, s: &Summary) -> std::io::Result<()> {
    let mut json = serde_json::to_vec_pretty(s).map_err(std::io::Error::other)?;
    json.push(b'\n');
    crate::io::atomic::write_atomic(path, &json)
}

/// The self-contained HTML report: summary cards, metrics, videos sorted by peak score
/// (inline timeline PNGs), failures with causes.
pub fn render_html(s: &Summary, rows: &[Located], meta: &RunMeta) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let title = "refinevad — anomaly report";
    let _ = writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<header><h1>Anomaly report</h1>\n<p class=\"sub\">pipeline <b>{}</b> · model <b>{}</b>{}{}</p></header>",
        esc(&s.pipeline),
        esc(&s.model),
        s.shard.as_deref().map(|x| format!(" · shard <b>{}</b>", esc(x))).unwrap_or_default(),
        s.annotations.as_deref().map(|a| format!(" · annotations <b>{}</b>", esc(a))).unwrap_or_default(),
    );
    let hours = s.video_seconds / 3600.0;
    let _ = writeln!(
        h,
        "<section class=\"cards\">{}{}{}{}{}</section>",
        card(&s.inputs.to_string(), "inputs", ""),
        card(&s.ok.to_string(), "scored", "ok"),
        card(&s.failed.to_string(), "failed", if s.failed > 0 { "bad" } else { "" }),
        card(
            &if hours >= 1.0 { format!("{hours:.1} h") } else { format!("{:.1} min", s.video_seconds / 60.0) },
            "video",
            ""
        ),
        card(&s.events.to_string(), "events", ""),
    );
    if !s.pending.is_empty() {
        let _ = writeln!(
            h,
            "<p class=\"note\">{} input(s) not processed yet: run the same command again to finish them.</p>",
            s.pending.len()
        );
    }
    if let Some(m) = &s.metrics {
        let pct = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.2}"));
        let _ = writeln!(
            h,
            "<h2>Evaluation</h2>\n<table id=\"metrics\"><thead><tr><th>frame AUC %</th><th>AP %</th><th>AUC abnormal videos %</th><th>false alarms on normal videos</th><th>category accuracy %</th><th>videos</th></tr></thead>\n<tbody><tr><td>{:.2}</td><td>{:.2}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ({} abnormal)</td></tr></tbody></table>",
            m.auc,
            m.ap,
            pct(m.auc_abnormal),
            m.far.map_or("n/a".into(), |v| format!("{:.2} %", 100.0 * v)),
            pct(m.category_accuracy),
            m.n_videos,
            m.n_abnormal_videos
        );
    }
    if let Some(n) = &s.metrics_note {
        let _ = writeln!(h, "<p class=\"note\">{}</p>", esc(n));
    }
    // Videos, strongest first.
    let mut ok: Vec<&Located> = rows.iter().filter(|r| r.entry.status == Status::Ok).collect();
    ok.sort_by(|a, b| {
        let (pa, pb) = (a.entry.peak_score.unwrap_or(0.0), b.entry.peak_score.unwrap_or(0.0));
        pb.total_cmp(&pa).then(a.entry.key.cmp(&b.entry.key))
    });
    let _ = writeln!(
        h,
        "<h2>Videos by peak anomaly score ({})</h2>\n<table id=\"videos\"><thead><tr><th>#</th><th>video</th><th>peak</th><th>at</th><th>events</th><th>category</th><th>duration</th><th>score timeline</th></tr></thead>\n<tbody>",
        ok.len()
    );
    for (i, r) in ok.iter().enumerate() {
        let e = &r.entry;
        let peak = e.peak_score.unwrap_or(0.0);
        let hot = if peak >= meta.event_threshold { " class=\"hot\"" } else { "" };
        let link = |suffix: &str| href(&r.rel_dir, &e.id, suffix);
        let events: String = e
            .top_events
            .iter()
            .map(|ev| {
                format!(
                    "<li>{}–{} · {:.2}{}</li>",
                    clock(ev.start_s),
                    clock(ev.end_s),
                    ev.peak_score,
                    ev.category.as_deref().map(|c| format!(" · {}", esc(c))).unwrap_or_default()
                )
            })
            .collect();
        let img = if i < INLINE_IMAGES {
            match std::fs::read(crate::sinks::stream_path(&r.dir, &e.id, ".png")) {
                Ok(png) => format!(
                    "<img alt=\"score timeline of {}\" src=\"data:image/png;base64,{}\">",
                    esc(&e.key),
                    base64(&png)
                ),
                Err(_) => "<span class=\"muted\">(no image)</span>".into(),
            }
        } else {
            format!("<a href=\"{}\">timeline</a>", link(".png"))
        };
        let _ = writeln!(
            h,
            "<tr{hot}><td>{}</td><td class=\"name\"><a href=\"{}\">{}</a> <a class=\"muted\" href=\"{}\">events</a>{}</td><td class=\"peak\"><span class=\"bar\" style=\"width:{:.0}px\"></span>{:.3}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"img\">{img}</td></tr>",
            i + 1,
            link(SCORES),
            esc(&e.key),
            link(".events.json"),
            if events.is_empty() { String::new() } else { format!("<ul>{events}</ul>") },
            (peak.clamp(0.0, 1.0) * 60.0),
            peak,
            e.peak_time_s.map(clock).unwrap_or_default(),
            e.events,
            e.top_category.as_deref().map(esc).unwrap_or_else(|| "—".into()),
            clock(e.duration_s),
        );
    }
    h.push_str("</tbody></table>\n");
    let _ = writeln!(h, "<h2>Failures ({})</h2>", s.failures.len());
    if s.failures.is_empty() {
        h.push_str("<p class=\"muted\">none</p>\n");
    } else {
        h.push_str(
            "<table id=\"failures\"><thead><tr><th>input</th><th>kind</th><th>cause</th></tr></thead>\n<tbody>\n",
        );
        for f in &s.failures {
            let _ = writeln!(
                h,
                "<tr><td class=\"name\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(&f.input),
                esc(&f.kind),
                esc(&f.cause)
            );
        }
        h.push_str("</tbody></table>\n");
    }
    let t = &s.timing;
    let _ = writeln!(
        h,
        "<footer><p>refinevad {} · summary.json has every number in this page.</p>\n<p class=\"timing\">generated {}{}</p></footer>\n</body>\n</html>",
        esc(&s.refinevad_version),
        esc(&t.generated),
        match (t.run_wall_s, t.video_hours_per_wall_hour) {
            (Some(w), Some(r)) => format!(" · this run: {} wall, {r:.2} video hours per wall hour", clock(w)),
            _ => String::new(),
        }
    );
    h
}

fn card(n: &str, label: &str, class: &str) -> String {
    format!("<div class=\"card {class}\"><div class=\"n\">{}</div><div class=\"l\">{label}</div></div>", esc(n))
}

/// `h:mm:ss` or `m:ss.s`.
fn clock(s: f64) -> String {
    let s = s.max(0.0);
    if s >= 3600.0 {
        format!("{}:{:02}:{:02}", (s / 3600.0) as u64, (s / 60.0) as u64 % 60, s as u64 % 60)
    } else {
        format!("{}:{:04.1}", (s / 60.0) as u64, s % 60.0)
    }
}

/// A link to an output file, percent-encoded.
fn href(rel_dir: &str, id: &str, suffix: &str) -> String {
    let file = crate::sinks::stream_path(Path::new(""), id, suffix).to_string_lossy().replace('\\', "/");
    let rel = if rel_dir.is_empty() { file } else { format!("{}/{file}", rel_dir.trim_end_matches('/')) };
    let mut out = String::new();
    for b in rel.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut o = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        o.push(T[(n >> 18) as usize & 63] as char);
        o.push(T[(n >> 12) as usize & 63] as char);
        o.push(if c.len() > 1 { T[(n >> 6) as usize & 63] as char } else { '=' });
        o.push(if c.len() > 2 { T[n as usize & 63] as char } else { '=' });
    }
    o
}

const CSS: &str = "
:root{--fg:#1d2330;--muted:#6b7385;--line:#e3e6ee;--accent:#1950c8;--hot:#fff3e6;--bad:#b3261e}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:var(--fg);margin:0 auto;max-width:1600px;padding:20px 28px;background:#fff}
h1{margin:0;font-size:24px}h2{font-size:18px;margin:28px 0 10px}
.sub{color:var(--muted);margin:4px 0 0}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:18px 0}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 16px;min-width:110px;background:#f7f8fb}
.card .n{font-size:22px;font-weight:600}.card .l{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card.ok .n{color:#1b7a3a}.card.bad .n{color:var(--bad)}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid var(--line);padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f2f4f8;font-weight:600;position:sticky;top:0}
tr.hot td{background:var(--hot)}
td.name{max-width:360px;overflow-wrap:anywhere}
td.name ul li{white-space:nowrap}
td.name ul{margin:4px 0 0;padding-left:16px;color:var(--muted);font-size:12px}
td.peak{white-space:nowrap;font-variant-numeric:tabular-nums}
.bar{display:inline-block;height:10px;background:linear-gradient(90deg,#f0b429,#d64545);border-radius:2px;margin-right:6px;vertical-align:middle}
td.img img{width:480px;height:100px;display:block;border:1px solid var(--line)}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
.muted{color:var(--muted);font-size:12px}
.note{background:#fff8e1;border:1px solid #f3d37a;padding:8px 12px;border-radius:6px}
#failures td:nth-child(3){color:var(--bad)}
footer{margin-top:28px;color:var(--muted);font-size:12px}
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_known_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn escaping_and_links() {
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(href("", "cam 1/a#b", ".png"), "cam%201/a%23b.png");
        assert_eq!(href("../shard-1", "a", ".scores.csv"), "../shard-1/a.scores.csv");
        assert_eq!(clock(75.25), "1:15.2");
        assert_eq!(clock(3725.0), "1:02:05");
    }
}
