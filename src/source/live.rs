//! A stream's whole life: files decode once; live sources survive outages. On error, EOS
//! or a stall, a reconnecting stream's pipeline is torn down (state `Null`) and rebuilt after an
//! exponential backoff with jitter, touching no other stream. Downstream sees `Started`
//! once, then `Down` / `Up` around each outage, frame indices that keep counting, and a
//! final `End`.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::gst_source::{decode_once, Hooks};
use super::{Jitter, SourceConfig, SourceError, SourceMsg, SourceOut, StreamInfo, StreamState, StreamStatus};

/// Runs one stream to its end and returns `(frames, result)` for its `End` message (which
/// the caller sends). `out` takes frames (with the stream's drop policy) and `Started`,
/// `Down`, `Up` (never dropped). The stream stops on `cancel` (the whole run;
/// `Err(Cancelled)`) or on `status.request_stop()` (this stream; `Ok`, state `removed`).
pub fn run_stream(
    cfg: &SourceConfig,
    stream: &Arc<str>,
    size: (u32, u32),
    out: &dyn SourceOut,
    cancel: &AtomicBool,
    status: &StreamStatus,
) -> (u64, Result<(), SourceError>) {
    let mut life = Life {
        stream: stream.clone(),
        control: out,
        cancel,
        status,
        started: false,
        first_start: None,
        down: None,
        stall_after: Duration::from_secs_f64((cfg.stall_timeout_s() / 4.0).max(2.0)),
    };
    let mut frames = 0u64;
    let result = if cfg.reconnects() {
        life.reconnecting(cfg, size, out, &mut frames)
    } else {
        decode_once(cfg, stream, size, out, &mut frames, &mut life)
    };
    let result = match result {
        Err(SourceError::Cancelled { .. }) if status.stop_requested() => Ok(()),
        other => other,
    };
    match &result {
        Ok(()) if status.stop_requested() => status.set(StreamState::Removed, None),
        Ok(()) => status.set(StreamState::Ended, None),
        Err(e) => status.set(StreamState::Failed, Some(&e.to_string())),
    }
    (frames, result)
}

/// What outlives each connection.
struct Life<'a> {
    stream: Arc<str>,
    control: &'a dyn SourceOut,
    cancel: &'a AtomicBool,
    status: &'a StreamStatus,
    /// `Started` was sent.
    started: bool,
    first_start: Option<Instant>,
    /// The outage in progress: since when, and reconnect attempts so far.
    down: Option<(Instant, u32)>,
    /// No frame for this long marks a connected stream `stalled`.
    stall_after: Duration,
}

impl Life<'_> {
    fn reconnecting(
        &mut self,
        cfg: &SourceConfig,
        size: (u32, u32),
        out: &dyn SourceOut,
        frames: &mut u64,
    ) -> Result<(), SourceError> {
        let schedule = cfg.reconnect();
        let mut jitter = Jitter::seeded(&self.stream);
        // Attempts since the last frame of a working connection (also before the first).
        let mut attempts = 0u32;
        loop {
            let before = *frames;
            let stream = self.stream.clone();
            let result = decode_once(cfg, &stream, size, out, frames, self);
            let cause = match result {
                Err(SourceError::Cancelled { .. }) => return result,
                Err(e) => e,
                Ok(()) => SourceError::EndOfStream { input: super::redact_uri(&cfg.uri) },
            };
            if self.stop() {
                return Err(SourceError::Cancelled { input: super::redact_uri(&cfg.uri) });
            }
            if *frames > before {
                attempts = 0;
                // Reliable: everything before is finished downstream.
                let down = SourceMsg::Down { stream: self.stream.clone(), frames: *frames, cause: cause.to_string() };
                if !self.control.control(down) {
                    return Err(cause);
                }
                self.down = Some((Instant::now(), 0));
            }
            attempts += 1;
            if schedule.exhausted(attempts) {
                return Err(cause);
            }
            self.status.set(StreamState::Backoff, Some(&cause.to_string()));
            let delay = schedule.delay(attempts, jitter.next_unit());
            tracing::info!(stream = %self.stream, attempt = attempts, delay_s = delay.as_secs_f64(), "reconnecting after backoff");
            if !self.sleep(delay) {
                return Err(SourceError::Cancelled { input: super::redact_uri(&cfg.uri) });
            }
            if let Some((_, n)) = &mut self.down {
                *n = attempts;
            }
            self.status.set(StreamState::Connecting, None);
        }
    }

    /// Sleeps `d` in short steps; false when stopped meanwhile.
    fn sleep(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        while Instant::now() < end {
            if self.stop() {
                return false;
            }
            std::thread::sleep((end - Instant::now()).min(Duration::from_millis(50)));
        }
        !self.stop()
    }
}

impl Hooks for Life<'_> {
    fn stop(&self) -> bool {
        self.cancel.load(Ordering::Relaxed) || self.status.stop_requested()
    }

    fn connected(&mut self, info: StreamInfo) -> bool {
        let now = Instant::now();
        let msg = if !self.started {
            self.started = true;
            self.first_start = Some(now);
            self.status.set(StreamState::Live, None);
            SourceMsg::Started(info)
        } else {
            let (since, attempts) = self.down.take().unwrap_or((now, 0));
            let down_s = now.duration_since(since).as_secs_f64();
            self.status.reconnected(down_s, attempts);
            let offset_s = self.first_start.map_or(0.0, |t| now.duration_since(t).as_secs_f64());
            SourceMsg::Up { stream: self.stream.clone(), offset_s, down_s, attempts }
        };
        self.control.control(msg)
    }

    fn frame(&mut self) {
        self.status.add_frame();
        if self.status.state() == StreamState::Stalled {
            self.status.set(StreamState::Live, None);
        }
    }

    fn idle(&mut self, idle: Duration) {
        if self.started && idle > self.stall_after && self.status.state() == StreamState::Live {
            self.status.set(StreamState::Stalled, Some(&format!("no frame for {:.0} s", idle.as_secs_f64())));
        }
    }
}
