//! Batch progress: an indicatif bar (videos done/total, video-seconds processed,
//! real-time factor, ETA) when stderr is a terminal; one plain line per finished video
//! otherwise (logs, CI, Kubernetes).
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::ledger::{Entry, Status};

struct State {
    done: usize,
    failed: usize,
    /// Videos finished in this run (the ETA's rate).
    done_here: usize,
    video_s: f64,
}

pub struct Progress {
    bar: Option<ProgressBar>,
    total: usize,
    t0: Instant,
    state: Mutex<State>,
    quiet: bool,
}

impl Progress {
    /// `total` inputs of which `already` are done; `quiet` prints nothing.
    pub fn new(total: usize, already: usize, quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr_with_hz(4));
            bar.set_style(
                ProgressStyle::with_template("{elapsed_precise} [{bar:30.cyan/blue}] {pos}/{len} videos · {msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_position(already as u64);
            bar.enable_steady_tick(Duration::from_millis(500));
            bar
        });
        Self {
            bar,
            total,
            t0: Instant::now(),
            state: Mutex::new(State { done: already, failed: 0, done_here: 0, video_s: 0.0 }),
            quiet,
        }
    }

    fn message(&self, s: &State) -> String {
        let elapsed = self.t0.elapsed().as_secs_f64();
        let rtf = if elapsed > 0.0 { s.video_s / elapsed } else { 0.0 };
        let remaining = self.total.saturating_sub(s.done);
        let eta = if remaining == 0 {
            "0s".to_string()
        } else if s.done_here > 0 {
            fmt_duration(elapsed / s.done_here as f64 * remaining as f64)
        } else {
            "?".to_string()
        };
        let failed = if s.failed > 0 { format!(", {} failed", s.failed) } else { String::new() };
        format!("{:.0} video-s, {rtf:.2}× real time{failed}, ETA {eta}", s.video_s)
    }

    /// Video time scored (one segment's span).
    pub fn video_seconds(&self, s: f64) {
        let mut st = self.state.lock().expect("progress");
        st.video_s += s;
        if let Some(bar) = &self.bar {
            bar.set_message(self.message(&st));
        }
    }

    pub fn finished(&self, e: &Entry) {
        let mut st = self.state.lock().expect("progress");
        st.done += 1;
        st.done_here += 1;
        if e.status == Status::Failed {
            st.failed += 1;
        }
        let msg = self.message(&st);
        let what = match e.status {
            Status::Ok => format!(
                "ok {} ({:.1}s video, peak {}, {} event(s))",
                e.key,
                e.duration_s,
                e.peak_score.map_or("-".into(), |p| format!("{p:.3}")),
                e.events
            ),
            Status::Failed => format!("FAILED {}: {}", e.key, e.cause.as_deref().unwrap_or("")),
        };
        match &self.bar {
            Some(bar) => {
                if e.status == Status::Failed {
                    bar.println(what);
                }
                bar.set_position(st.done as u64);
                bar.set_message(msg);
            }
            None if !self.quiet => eprintln!("[{}/{}] {what} · {msg}", st.done, self.total),
            None => {}
        }
    }

    /// A line outside the bar.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None if !self.quiet => eprintln!("{line}"),
            None => {}
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            let st = self.state.lock().expect("progress");
            bar.finish_and_clear();
            eprintln!("{}/{} videos · {}", st.done, self.total, self.message(&st));
        }
    }

    /// Video seconds processed and wall seconds since the start.
    pub fn totals(&self) -> (f64, f64) {
        (self.state.lock().expect("progress").video_s, self.t0.elapsed().as_secs_f64())
    }
}

fn fmt_duration(s: f64) -> String {
    let s = s.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s / 60 % 60),
    }
}
