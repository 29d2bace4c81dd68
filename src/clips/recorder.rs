//! A live stream's recorder: its own connection to the source, keeping the encoded video
//! (no decoding, no re-encoding) in a bounded [`Ring`]:
//! `urisourcebin → parsebin → h264parse|h265parse (SPS/PPS before every keyframe) →
//! appsink (byte-stream, one access unit per buffer)`.
//!
//! Its own connection means recording never slows analysis, and it may point at another
//! URI (a camera's main stream while analysis reads the sub-stream). On error, end or
//! stall it reconnects with backoff; a codec other than H.264/H.265 stops it for good
//! with one warning.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::mux::NullOnDrop;
use super::ring::{Ring, RingLimits, Unit};
use super::{make, ClipError};
use crate::source::{redact_uri, SourceConfig};
use crate::telemetry::events::{RecorderReconnecting, RecorderUnsupported};

/// Seconds without a unit after which a connection is considered stalled.
const STALL: Duration = Duration::from_secs(20);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The shared state of a recorder.
#[derive(Debug)]
pub struct Recording {
    pub ring: Mutex<Ring>,
    /// Why this stream cannot be recorded (an unsupported codec), once known.
    pub unsupported: Mutex<Option<String>>,
    /// Connections made so far.
    pub connections: std::sync::atomic::AtomicU32,
}

/// A running recorder; stops (and joins its thread) when dropped.
pub struct Recorder {
    shared: Arc<Recording>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Recorder {
    /// Starts recording `uri` for `stream` on a new thread; `source` (the stream's
    /// configuration) gives the RTSP transport, latency and credentials.
    pub fn start(stream: &str, uri: &str, limits: RingLimits, source: Option<SourceConfig>) -> Recorder {
        let shared = Arc::new(Recording {
            ring: Mutex::new(Ring::new(limits)),
            unsupported: Mutex::new(None),
            connections: Default::default(),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st, stream, uri) = (shared.clone(), stop.clone(), stream.to_owned(), uri.to_owned());
        let thread = std::thread::Builder::new()
            .name(format!("clips-rec-{stream}"))
            .spawn(move || record_loop(&stream, &uri, source.as_ref(), &s, &st))
            .ok();
        Recorder { shared, stop, thread }
    }

    pub fn recording(&self) -> &Arc<Recording> {
        &self.shared
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn record_loop(stream: &str, uri: &str, source: Option<&SourceConfig>, shared: &Recording, stop: &AtomicBool) {
    let shown = redact_uri(uri);
    let epoch = Instant::now();
    let mut last_ts = None;
    let mut backoff = Duration::from_secs(1);
    while !stop.load(Ordering::Relaxed) {
        let began = Instant::now();
        shared.connections.fetch_add(1, Ordering::Relaxed);
        let result = connect(uri, source, shared, stop, epoch, &mut last_ts);
        // A connection that lasted starts the backoff over.
        if began.elapsed() > MAX_BACKOFF {
            backoff = Duration::from_secs(1);
        }
        match result {
            Ok(()) if stop.load(Ordering::Relaxed) => break,
            Ok(()) => RecorderReconnecting { stream, uri: &shown, cause: None, retry_s: backoff.as_secs_f64() }.emit(),
            Err(ClipError::Unsupported { reason, .. }) => {
                RecorderUnsupported { stream, uri: &shown, reason: &reason }.emit();
                *shared.unsupported.lock().unwrap() = Some(reason);
                return;
            }
            Err(e) => {
                let cause = e.to_string();
                RecorderReconnecting { stream, uri: &shown, cause: Some(&cause), retry_s: backoff.as_secs_f64() }.emit()
            }
        }
        let until = Instant::now() + backoff;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection: records until the source ends, fails, stalls or `stop` is set.
fn connect(
    uri: &str,
    settings: Option<&SourceConfig>,
    shared: &Recording,
    stop: &AtomicBool,
    epoch: Instant,
    last_ts: &mut Option<u64>,
) -> Result<(), ClipError> {
    let perr =
        |detail: &dyn std::fmt::Display| ClipError::Pipeline { uri: redact_uri(uri), detail: detail.to_string() };
    gst::init().map_err(|e| perr(&e))?;
    let pipeline = gst::Pipeline::new();
    let source = make("urisourcebin")?;
    source.set_property("uri", uri);
    if let Some(cfg) = settings {
        // Read at each connection, like the analysis source, so a rotated secret is picked up.
        let password = cfg.password().map_err(|e| perr(&e))?;
        crate::source::configure_network_source(&source, cfg, password);
    }
    let caps: gst::Caps = "video/x-h264,stream-format=byte-stream,alignment=au; \
                           video/x-h265,stream-format=byte-stream,alignment=au"
        .parse()
        .expect("valid caps");
    let sink = gst_app::AppSink::builder().caps(&caps).max_buffers(256).drop(true).sync(false).build();
    pipeline.add_many([&source, sink.upcast_ref()]).map_err(|e| perr(&e))?;
    let unsupported: Arc<Mutex<Option<String>>> = Arc::default();
    link_source(&source, &pipeline, &sink, unsupported.clone());
    let _guard = NullOnDrop(pipeline.clone());
    pipeline.set_state(gst::State::Playing).map_err(|e| perr(&e))?;
    let bus = pipeline.bus().ok_or_else(|| perr(&"pipeline has no bus"))?;
    let mut last_unit = Instant::now();
    // Decode time of this connection's first unit, and where it sits on the continuous timeline.
    let mut origin: Option<(u64, u64)> = None;
    let mut caps_seen: Option<gst::Caps> = None;
    while !stop.load(Ordering::Relaxed) {
        if let Some(reason) = unsupported.lock().unwrap().take() {
            return Err(ClipError::Unsupported { stream: redact_uri(uri), reason });
        }
        if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error, gst::MessageType::Eos]) {
            return match msg.view() {
                gst::MessageView::Error(e) => Err(perr(&e.error())),
                _ => Ok(()),
            };
        }
        let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) else {
            if sink.is_eos() {
                return Ok(());
            }
            if last_unit.elapsed() > STALL {
                return Err(perr(&format!("no video for {} s", STALL.as_secs())));
            }
            continue;
        };
        let wall = SystemTime::now();
        last_unit = Instant::now();
        let (Some(buffer), Some(caps)) = (sample.buffer_owned(), sample.caps_owned()) else { continue };
        let Some(dts) = buffer.dts().or(buffer.pts()).map(|t| t.nseconds()) else { continue };
        let pts = buffer.pts().map_or(dts, |t| t.nseconds());
        let (first_dts, base) = *origin.get_or_insert_with(|| {
            // Continuous across reconnects: the connection starts where the wall clock says,
            // never before the previous connection's last unit.
            let now = epoch.elapsed().as_nanos() as u64;
            (dts, last_ts.map_or(now, |l| now.max(l + 1)))
        });
        let ts_ns = base + dts.saturating_sub(first_dts);
        *last_ts = Some(ts_ns);
        let mut ring = shared.ring.lock().unwrap();
        if caps_seen.as_ref() != Some(&caps) {
            ring.resync(caps.clone());
            caps_seen = Some(caps);
        }
        let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        ring.push(Unit { buffer, keyframe, ts_ns, cto_ns: pts.saturating_sub(dts), wall });
    }
    Ok(())
}

/// `urisourcebin` pads → a `parsebin` each; H.264/H.265 video → its parser → `sink`;
/// everything else → `fakesink` (another video codec is reported as unsupported).
fn link_source(
    source: &gst::Element,
    pipeline: &gst::Pipeline,
    sink: &gst_app::AppSink,
    unsupported: Arc<Mutex<Option<String>>>,
) {
    let (pipe_weak, sink_weak) = (pipeline.downgrade(), sink.downgrade());
    source.connect_pad_added(move |_, pad| {
        let Some(pipeline) = pipe_weak.upgrade() else { return };
        let Ok(parse) = make("parsebin") else { return };
        if pipeline.add(&parse).is_err() || parse.sync_state_with_parent().is_err() {
            return;
        }
        let _ = pad.link(&parse.static_pad("sink").expect("parsebin has a sink pad"));
        let (pipe_weak, sink_weak, unsupported) = (pipe_weak.clone(), sink_weak.clone(), unsupported.clone());
        parse.connect_pad_added(move |_, pad| {
            let (Some(pipeline), Some(sink)) = (pipe_weak.upgrade(), sink_weak.upgrade()) else { return };
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let name = caps.structure(0).map(|s| s.name().to_string()).unwrap_or_default();
            let target = sink.static_pad("sink").expect("appsink has a sink pad");
            let parser = match name.as_str() {
                "video/x-h264" => Some("h264parse"),
                "video/x-h265" => Some("h265parse"),
                v if v.starts_with("video/") || v.starts_with("image/") => {
                    *unsupported.lock().unwrap() =
                        Some(format!("video codec {v} is not H.264/H.265 (clips remux, never re-encode)"));
                    None
                }
                _ => None,
            };
            if let Some(p) = parser.filter(|_| !target.is_linked()).and_then(|p| make(p).ok()) {
                p.set_property("config-interval", -1i32);
                if pipeline.add(&p).is_ok()
                    && p.link(&sink).is_ok()
                    && p.sync_state_with_parent().is_ok()
                    && pad.link(&p.static_pad("sink").expect("parsers have a sink pad")).is_ok()
                {
                    return;
                }
            }
            if let Ok(fake) = gst::ElementFactory::make("fakesink").property("async", false).build() {
                if pipeline.add(&fake).is_ok() && fake.sync_state_with_parent().is_ok() {
                    let _ = pad.link(&fake.static_pad("sink").expect("fakesink has a sink pad"));
                }
            }
        });
    });
}
