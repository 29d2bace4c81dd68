//! Payload templates: a JSON file with `{{field}}` placeholders (e.g. Slack's
//! `{"text": "{{status_upper}} {{category}} on {{stream}}"}`). String fields are
//! JSON-escaped without quotes (put them inside a JSON string), numbers are plain, and the
//! raw-JSON fields (`event`, `category_probs`, `category_json`) go outside quotes.
use std::path::Path;

use crate::events::{Event, EventStatus, EventTime};

/// Placeholders a template may use.
pub const FIELDS: &[(&str, &str)] = &[
    ("event_id", "stable event id (string)"),
    ("seq", "message number within the event, 0 = opened (number)"),
    ("status", "opened | updated | closed (string)"),
    ("status_upper", "OPENED | UPDATED | CLOSED (string)"),
    ("stream", "stream id (string)"),
    ("video", "source URI (string)"),
    ("start_s", "event start, video seconds (number)"),
    ("end_s", "event end so far, video seconds (number)"),
    ("start_frame", "first frame (number)"),
    ("end_frame", "end frame, exclusive (number)"),
    ("duration_s", "end_s - start_s (number)"),
    ("peak_score", "peak anomaly score (number)"),
    ("category", "most likely category, `anomaly` when the model has none (string)"),
    ("category_prob", "probability of that category (number)"),
    ("category_json", "the category as JSON: a string or null (raw JSON)"),
    ("category_probs", "category distribution (raw JSON object)"),
    ("pipeline", "pipeline name (string)"),
    ("model", "model name (string)"),
    ("wall_time", "emission time, RFC 3339 UTC (string)"),
    ("idempotency_key", "`{event_id}-{seq}` (string)"),
    ("event", "the whole default payload (raw JSON object)"),
];

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Field(usize),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `text`; unknown placeholders and unclosed `{{` are errors.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| "unclosed `{{`".to_owned())?;
            let name = after[..close].trim();
            let idx = FIELDS.iter().position(|(f, _)| *f == name).ok_or_else(|| {
                format!(
                    "unknown placeholder `{{{{{name}}}}}`; known: {}",
                    FIELDS.iter().map(|(f, _)| *f).collect::<Vec<_>>().join(", ")
                )
            })?;
            parts.push(Part::Field(idx));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    /// Reads, parses and checks a template file: its rendering of sample events (with
    /// quotes, newlines and no category) must be valid JSON.
    pub fn load(path: &Path) -> Result<Template, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let t = Template::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        for sample in samples() {
            let out = t.render(&sample);
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&out) {
                return Err(format!(
                    "{}: the rendering of a sample event is not valid JSON ({e}); string fields go inside quotes, \
                     raw-JSON fields (event, category_probs, category_json) outside: {out}",
                    path.display()
                ));
            }
        }
        Ok(t)
    }

    pub fn render(&self, e: &Event) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Field(i) => field(&mut out, FIELDS[*i].0, e),
            }
        }
        out
    }
}

fn field(out: &mut String, name: &str, e: &Event) {
    let num = |x: f64| if x.is_finite() { format!("{x}") } else { "null".to_owned() };
    let num32 = |x: f32| if x.is_finite() { format!("{x}") } else { "null".to_owned() };
    let s = match name {
        "event_id" => esc(&e.event_id),
        "seq" => e.seq.to_string(),
        "status" => e.status.as_str().to_owned(),
        "status_upper" => e.status.as_str().to_ascii_uppercase(),
        "stream" => esc(&e.stream),
        "video" => esc(&e.video),
        "start_s" => num(e.start.seconds),
        "end_s" => num(e.end.seconds),
        "start_frame" => e.start.frame.to_string(),
        "end_frame" => e.end.frame.to_string(),
        "duration_s" => num((e.duration_s() * 1000.0).round() / 1000.0),
        "peak_score" => num32(e.peak_score),
        "category" => esc(e.category.as_deref().unwrap_or("anomaly")),
        "category_prob" => num32(e.category_prob()),
        "category_json" => serde_json::to_string(&e.category).unwrap_or_default(),
        "category_probs" => serde_json::to_string(&e.category_probs).unwrap_or_default(),
        "pipeline" => esc(&e.pipeline),
        "model" => esc(&e.model),
        "wall_time" => esc(&e.wall_time),
        "idempotency_key" => esc(&super::delivery::idempotency_key(e)),
        "event" => serde_json::to_string(e).unwrap_or_default(),
        _ => String::new(),
    };
    out.push_str(&s);
}

/// JSON string escaping without the surrounding quotes.
fn esc(s: &str) -> String {
    let q = serde_json::to_string(s).unwrap_or_default();
    q[1..q.len() - 1].to_owned()
}

fn samples() -> Vec<Event> {
    let e = Event {
        event_id: "0123456789abcdef0123456789abcdef".into(),
        seq: 0,
        status: EventStatus::Opened,
        stream: "cam \"1\"\n\\".into(),
        video: "file:///data/cam1.mp4".into(),
        start: EventTime::new(12.5, 300),
        end: EventTime::new(15.0, 360),
        peak_score: 0.91,
        category: Some("Fire".into()),
        category_probs: [("Fire".to_owned(), 0.9), ("Panic".to_owned(), 0.1)].into(),
        pipeline: "check".into(),
        model: "refinevad-default".into(),
        wall_time: "2026-01-01T00:00:00.000Z".into(),
        clip: None,
    };
    vec![
        e.clone(),
        Event { status: EventStatus::Closed, seq: 3, category: None, category_probs: Default::default(), ..e },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_escaped_fields() {
        let t = Template::parse(r#"{"text": "{{ status_upper }} {{category}} on {{stream}} ({{peak_score}})", "p": {{category_probs}}, "c": {{category_json}}}"#).unwrap();
        let s = samples();
        let v: serde_json::Value = serde_json::from_str(&t.render(&s[0])).unwrap();
        assert_eq!(v["text"], "OPENED Fire on cam \"1\"\n\\ (0.91)");
        assert_eq!(v["p"]["Fire"], 0.9);
        let v: serde_json::Value = serde_json::from_str(&t.render(&s[1])).unwrap();
        assert!(v["c"].is_null());
        assert!(Template::parse("{{nope}}").unwrap_err().contains("unknown placeholder `{{nope}}`"));
        assert!(Template::parse("{{stream").unwrap_err().contains("unclosed"));
    }
}
