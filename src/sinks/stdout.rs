//! Live human-readable event lines, e.g.
//! `12.8s–19.2s  cam1  OPENED  Fire 0.91 (peak 0.97)`, and one line per source outage
//! (`2:05.3  cam1  SOURCE DOWN  connection refused`).
use std::io::Write;

use super::set::Sink;
use super::{SinkError, SinkMsg, StdoutSinkConfig};
use crate::events::{Event, EventStatus, SourceEvent, SourceEventKind};

pub(crate) struct StdoutSink {
    updates: bool,
}

impl StdoutSink {
    pub fn new(cfg: &StdoutSinkConfig) -> Self {
        Self { updates: cfg.updates }
    }
}

impl Sink for StdoutSink {
    fn handle(&mut self, msg: &SinkMsg) -> Result<(), SinkError> {
        let line = match msg {
            SinkMsg::Event(e) if e.status == EventStatus::Updated && !self.updates => return Ok(()),
            SinkMsg::Event(e) => format_line(e),
            SinkMsg::Source(e) => format_source_line(e),
            SinkMsg::Score(_) => return Ok(()),
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}").and_then(|_| out.flush()).map_err(SinkError::Stdout)
    }
}

/// One line per event message: time span, stream, status, category with its probability,
/// peak score. For `opened`/`updated` the end is the end so far.
pub fn format_line(e: &Event) -> String {
    let category = match &e.category {
        Some(c) => format!("{c} {:.2}", e.category_prob()),
        None => "anomaly".to_owned(),
    };
    format!(
        "{}–{}  {}  {:<7} {} (peak {:.2})",
        clock(e.start.seconds),
        clock(e.end.seconds),
        e.stream,
        e.status.as_str().to_ascii_uppercase(),
        category,
        e.peak_score
    )
}

/// One line per outage message: stream time, stream, what happened, wall-clock time.
pub fn format_source_line(e: &SourceEvent) -> String {
    let what = match e.kind {
        SourceEventKind::SourceDown => format!("SOURCE DOWN  {}", e.cause.as_deref().unwrap_or("")),
        SourceEventKind::SourceUp => {
            format!("SOURCE UP    after {:.1}s, {} attempt(s)", e.down_s.unwrap_or(0.0), e.attempts.unwrap_or(0))
        }
    };
    format!("{}  {}  {}  ({})", clock(e.seconds), e.stream, what.trim_end(), e.wall_time.to_rfc3339())
}

/// `12.8s` under a minute, `2:05.3` under an hour, `1:02:05.3` beyond.
fn clock(s: f64) -> String {
    let tenths = (s.max(0.0) * 10.0).round() as u64;
    let (h, m, t) = (tenths / 36_000, tenths / 600 % 60, tenths % 600);
    match (h, m) {
        (0, 0) => format!("{}.{}s", t / 10, t % 10),
        (0, _) => format!("{m}:{:02}.{}", t / 10, t % 10),
        _ => format!("{h}:{m:02}:{:02}.{}", t / 10, t % 10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventTime;

    #[test]
    fn lines_read_well() {
        let e = Event {
            event_id: "x".into(),
            seq: 0,
            status: EventStatus::Opened,
            stream: "cam1".into(),
            video: String::new(),
            start: EventTime::new(12.8, 320),
            end: EventTime::new(19.2, 480),
            peak_score: 0.97,
            category: Some("Fire".into()),
            category_probs: [("Fire".to_owned(), 0.91), ("Panic".to_owned(), 0.09)].into(),
            pipeline: String::new(),
            model: String::new(),
            wall_time: String::new(),
            clip: None,
        };
        assert_eq!(format_line(&e), "12.8s–19.2s  cam1  OPENED  Fire 0.91 (peak 0.97)");
        let e = Event { status: EventStatus::Closed, category: None, ..e };
        assert_eq!(format_line(&e), "12.8s–19.2s  cam1  CLOSED  anomaly (peak 0.97)");
        assert_eq!(clock(125.26), "2:05.3");
        assert_eq!(clock(3725.0), "1:02:05.0");
        assert_eq!(clock(59.99), "1:00.0");
    }

    #[test]
    fn source_lines_read_well() {
        let e = SourceEvent {
            kind: SourceEventKind::SourceDown,
            event_id: "x".into(),
            stream: "cam1".into(),
            video: String::new(),
            outage: 1,
            seconds: 125.26,
            wall_time: crate::events::WallTime(1_000),
            cause: Some("connection refused".into()),
            down_s: None,
            attempts: None,
            pipeline: String::new(),
        };
        assert_eq!(format_source_line(&e), "2:05.3  cam1  SOURCE DOWN  connection refused  (1970-01-01T00:00:01.000Z)");
        let up =
            SourceEvent { kind: SourceEventKind::SourceUp, cause: None, down_s: Some(12.34), attempts: Some(3), ..e };
        assert_eq!(
            format_source_line(&up),
            "2:05.3  cam1  SOURCE UP    after 12.3s, 3 attempt(s)  (1970-01-01T00:00:01.000Z)"
        );
    }
}
