//! Live human-readable event lines, e.g.
//! `12.8s–19.2s  cam1  OPENED  Fire 0.91 (peak 0.97)`.
use std::io::Write;

use super::set::Sink;
use super::{SinkError, SinkMsg, StdoutSinkConfig};
use crate::events::{Event, EventStatus};

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
        let SinkMsg::Event(e) = msg else { return Ok(()) };
        if e.status == EventStatus::Updated && !self.updates {
            return Ok(());
        }
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", format_line(e)).and_then(|_| out.flush()).map_err(SinkError::Stdout)
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
}
