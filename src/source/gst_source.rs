//! The GStreamer part of the source stage:
//! `uridecodebin → videoscale → (W×H, PAR 1/1) → videoconvert → RGB appsink`.
//! Scaling happens before colour conversion (about twice as fast as the reverse).
//! appsink is bounded (`max-buffers`, no drop) and pulled by this thread, which forwards
//! into a [`SourceOut`]: files block (back-pressure reaches the demuxer), live sources drop
//! their own oldest frames (`runtime::live_queue`), where every drop is counted.
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use super::{redact_uri, Frame, SourceConfig, SourceError, SourceMsg, SourceOut, Transport};
use crate::runtime::channel::Tx;
use crate::telemetry::events::{FrameDecoded, StreamStarted};

/// What is known about a stream once its caps are negotiated.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamInfo {
    pub stream: Arc<str>,
    pub uri: String,
    /// Analysis frame size delivered to the pipeline.
    pub width: u32,
    pub height: u32,
    /// Original decoded size, when the decoder reported it.
    pub source_width: Option<u32>,
    pub source_height: Option<u32>,
    /// Frames per second from the caps; 0 when unknown (still images, variable rate).
    pub fps: f64,
    /// Live semantics (sliding-window scoring, frames may be dropped under overload).
    pub live: bool,
    /// Presentation timestamp of the first frame, nanoseconds.
    pub first_pts_ns: Option<u64>,
    /// Wall-clock time the stream first started, Unix milliseconds (live event ids and times).
    pub started_unix_ms: Option<u64>,
}

/// Plugins every file or camera source loads, plus the common demuxers and the software
/// decoders: loading them (and GStreamer's registry) takes ≈ 0.1 s of one core.
const WARM_PLUGINS: [&str; 9] =
    ["coreelements", "playback", "typefindfunctions", "videoconvertscale", "app", "avi", "isomp4", "matroska", "libav"];

/// Initialises GStreamer and loads the usual plugins on a background thread, so that it
/// overlaps the model sessions being built instead of delaying the first frame after
/// them. Best effort: a plugin that is missing here fails later, where it is needed,
/// with the source's own message. Only the first call in a process does anything.
pub fn warm_up() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = std::thread::Builder::new().name("gst-warm-up".into()).spawn(warm_up_now);
    });
}

fn warm_up_now() {
    if gst::init().is_err() {
        return;
    }
    let registry = gst::Registry::get();
    for name in WARM_PLUGINS {
        if let Some(plugin) = registry.find_plugin(name) {
            let _ = plugin.load();
        }
    }
}

/// Turns a CLI input (path or URI) into a URI, checking local files first so the common
/// mistakes get a precise message rather than a GStreamer one.
pub fn uri_for(input: &str) -> Result<String, SourceError> {
    if input.contains("://") && !input.starts_with("file://") {
        return Ok(input.to_owned());
    }
    if input.starts_with("/dev/video") {
        return Ok(format!("v4l2://{input}"));
    }
    let path_str = input.strip_prefix("file://").unwrap_or(input);
    let path = Path::new(path_str);
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => SourceError::NotFound { input: input.into() },
        std::io::ErrorKind::PermissionDenied => SourceError::PermissionDenied { input: input.into() },
        _ => SourceError::Decode { input: input.into(), detail: e.to_string() },
    })?;
    if meta.is_dir() {
        return Err(SourceError::IsDirectory { input: input.into() });
    }
    if meta.len() == 0 {
        return Err(SourceError::Empty { input: input.into() });
    }
    if let Err(e) = std::fs::File::open(path) {
        return Err(match e.kind() {
            std::io::ErrorKind::PermissionDenied => SourceError::PermissionDenied { input: input.into() },
            _ => SourceError::Decode { input: input.into(), detail: e.to_string() },
        });
    }
    if let Some(declared) = riff_declared_size(path).filter(|&d| d > meta.len()) {
        return Err(SourceError::TruncatedFile { input: input.into(), size: meta.len(), declared });
    }
    let abs = std::fs::canonicalize(path).map_err(|_| SourceError::BadPath { path: path.into() })?;
    gst::glib::filename_to_uri(&abs, None).map(|u| u.to_string()).map_err(|_| SourceError::BadPath { path: abs })
}

/// Size an AVI (RIFF) file declares in its header. GStreamer's AVI demuxer decodes a
/// truncated AVI up to the cut without any error, so we check the header ourselves.
fn riff_declared_size(path: &Path) -> Option<u64> {
    use std::io::Read;
    let mut head = [0u8; 12];
    std::fs::File::open(path).ok()?.read_exact(&mut head).ok()?;
    (&head[0..4] == b"RIFF" && &head[8..12] == b"AVI ")
        .then(|| u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as u64 + 8)
}

/// Decodes one stream until EOS, error or cancellation, sending `Started` then frames.
/// Returns the number of frames sent. The caller sends the final `End` message.
/// This is one connection with file semantics; [`super::run_stream`] adds reconnects.
pub fn run_source(
    cfg: &SourceConfig,
    stream: &Arc<str>,
    size: (u32, u32),
    out: &Tx<SourceMsg>,
    cancel: &AtomicBool,
) -> Result<u64, SourceError> {
    struct Once<'a> {
        out: &'a Tx<SourceMsg>,
        cancel: &'a AtomicBool,
    }
    impl Hooks for Once<'_> {
        fn stop(&self) -> bool {
            self.cancel.load(Ordering::Relaxed)
        }
        fn connected(&mut self, info: StreamInfo) -> bool {
            self.out.send_reliable(SourceMsg::Started(info)).is_ok()
        }
    }
    let mut frames = 0;
    decode_once(cfg, stream, size, out, &mut frames, &mut Once { out, cancel })?;
    Ok(frames)
}

/// What one connection reports to its owner.
pub(crate) trait Hooks {
    /// Polled between frames: true ends the connection with `Cancelled`.
    fn stop(&self) -> bool;
    /// The first frame of this connection is about to be sent (send `Started` or `Up`);
    /// false when downstream has closed.
    fn connected(&mut self, info: StreamInfo) -> bool;
    /// A frame was sent.
    fn frame(&mut self) {}
    /// No frame for `idle` (polled every 100 ms while waiting).
    fn idle(&mut self, _idle: std::time::Duration) {}
}

/// One connection: builds the GStreamer pipeline, decodes until EOS, error, stall or
/// `hooks.stop()`, and tears it down (state `Null`) on every exit path. `frames` counts
/// the stream's frames across connections (frame indices continue). `Ok` means EOS.
pub(crate) fn decode_once(
    cfg: &SourceConfig,
    stream: &Arc<str>,
    size: (u32, u32),
    out: &dyn SourceOut,
    frames: &mut u64,
    hooks: &mut dyn Hooks,
) -> Result<(), SourceError> {
    let input = redact_uri(&cfg.uri);
    let uri = uri_for(&cfg.uri)?;
    let shown_uri = redact_uri(&uri);
    let pe = |detail: String| SourceError::Pipeline { input: input.clone(), detail };
    let password = cfg.password().map_err(pe)?;
    // GStreamer messages may quote the URI or echo a password: scrub before logging.
    let scrub = {
        let (uri, shown_uri, password) = (uri.clone(), shown_uri.clone(), password.clone());
        move |text: String| {
            let text = text.replace(&uri, &shown_uri);
            match password.as_deref().filter(|p| !p.is_empty()) {
                Some(p) => text.replace(p, "***"),
                None => text,
            }
        }
    };
    gst::init().map_err(|e| pe(e.to_string()))?;

    let pipeline = gst::Pipeline::new();
    let make = |factory: &str| {
        gst::ElementFactory::make(factory)
            .build()
            .map_err(|_| pe(format!("GStreamer element `{factory}` is missing (install gstreamer1.0-plugins-base)")))
    };
    let decode = make("uridecodebin")?;
    decode.set_property("uri", &uri);
    configure_network_source(&decode, cfg, password);
    let scale = make("videoscale")?;
    scale.set_property("add-borders", false);
    let scale_caps = make("capsfilter")?;
    scale_caps.set_property(
        "caps",
        gst::Caps::builder("video/x-raw")
            .field("width", size.0 as i32)
            .field("height", size.1 as i32)
            .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
            .build(),
    );
    let convert = make("videoconvert")?;
    let sink = gst_app::AppSink::builder()
        .caps(&gst::Caps::builder("video/x-raw").field("format", "RGB").build())
        .max_buffers(4)
        .drop(false)
        .sync(false)
        .build();
    pipeline.add_many([&decode, &scale, &scale_caps, &convert, sink.upcast_ref()]).map_err(|e| pe(e.to_string()))?;
    gst::Element::link_many([&scale, &scale_caps, &convert, sink.upcast_ref()]).map_err(|e| pe(e.to_string()))?;

    let saw_video = Arc::new(AtomicBool::new(false));
    let source_size: Arc<Mutex<Option<(u32, u32)>>> = Arc::default();
    link_decoder_pads(&decode, &pipeline, &scale, saw_video.clone(), source_size.clone());

    let bus = pipeline.bus().ok_or_else(|| pe("pipeline has no bus".into()))?;
    let _guard = PipelineGuard(pipeline.clone());
    if pipeline.set_state(gst::State::Playing).is_err() {
        return Err(bus_error(&bus, &input, &scrub).unwrap_or_else(|| pe("could not start playing".into())));
    }

    let mut sent = 0u64;
    // Watchdog: a demuxer can wait forever on a damaged file (e.g. an MP4 cut before its
    // index) and a camera can stop sending without closing the connection; no frame, end
    // or error for this long fails the connection.
    let stall = std::time::Duration::from_secs_f64(cfg.stall_timeout_s());
    let mut last_progress = std::time::Instant::now();
    let mut declared_ns: Option<u64> = None;
    let mut covered_ns = 0u64;
    loop {
        if hooks.stop() {
            return Err(SourceError::Cancelled { input });
        }
        if let Some(err) = bus_error(&bus, &input, &scrub) {
            return Err(err);
        }
        let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) else {
            if sink.is_eos() {
                break;
            }
            let idle = last_progress.elapsed();
            if idle > stall {
                return Err(SourceError::Stalled { input, seconds: stall.as_secs_f64() });
            }
            hooks.idle(idle);
            continue;
        };
        last_progress = std::time::Instant::now();
        let caps = sample.caps().ok_or_else(|| pe("sample without caps".into()))?;
        let info = gst_video::VideoInfo::from_caps(caps).map_err(|e| pe(e.to_string()))?;
        if sent == 0 {
            let fps = info.fps();
            let fps = if fps.denom() > 0 { fps.numer() as f64 / fps.denom() as f64 } else { 0.0 };
            let (sw, sh) = source_size.lock().unwrap().unzip();
            let si = StreamInfo {
                stream: stream.clone(),
                uri: shown_uri.clone(),
                width: info.width(),
                height: info.height(),
                source_width: sw,
                source_height: sh,
                fps,
                live: cfg.is_live(),
                first_pts_ns: sample.buffer().and_then(|b| b.pts()).map(|t| t.nseconds()),
                started_unix_ms: std::time::UNIX_EPOCH.elapsed().ok().map(|d| d.as_millis() as u64),
            };
            declared_ns = pipeline.query_duration::<gst::ClockTime>().map(|d| d.nseconds());
            StreamStarted { stream, uri: &shown_uri, width: si.width, height: si.height, fps }.emit();
            if !hooks.connected(si) {
                return Err(SourceError::Cancelled { input });
            }
        }
        let buffer = sample.buffer().ok_or_else(|| pe("sample without buffer".into()))?;
        if let Some(pts) = buffer.pts() {
            covered_ns = covered_ns.max(pts.nseconds() + buffer.duration().map_or(0, |d| d.nseconds()));
        }
        let map = buffer.map_readable().map_err(|e| pe(e.to_string()))?;
        let rgb = pack_rows(map.as_slice(), info.width() as usize, info.height() as usize, info.stride()[0] as usize);
        let frame = Frame {
            stream: stream.clone(),
            index: *frames,
            pts_ns: buffer.pts().map(|t| t.nseconds()),
            width: info.width(),
            height: info.height(),
            rgb,
        };
        *frames += 1;
        sent += 1;
        FrameDecoded { stream }.emit();
        if !out.frame(SourceMsg::Frame(frame)) {
            return Err(SourceError::Cancelled { input });
        }
        hooks.frame();
    }
    if let Some(err) = bus_error(&bus, &input, &scrub) {
        return Err(err);
    }
    if !saw_video.load(Ordering::Relaxed) {
        return Err(SourceError::NoVideo { input });
    }
    if sent == 0 {
        return Err(SourceError::NoFrames { input });
    }
    // A truncated file often decodes "cleanly" up to the cut; the container's declared
    // duration tells us the rest is missing. (Frame counts would mislead: AVIs with
    // empty "repeat" chunks legitimately decode fewer frames than they declare.)
    if let Some(declared) = declared_ns.filter(|&d| covered_ns > 0 && covered_ns + 1_000_000_000 < d - d / 10) {
        return Err(SourceError::Truncated {
            input,
            decoded_s: covered_ns as f64 / 1e9,
            declared_s: declared as f64 / 1e9,
        });
    }
    Ok(())
}

/// Configures the network source element `uridecodebin` creates (`source-setup`):
/// RTSP transport and latency, credentials for RTSP and HTTP. Properties an element
/// does not have are skipped, so one function serves rtspsrc, souphttpsrc and v4l2src,
/// behind `uridecodebin` (analysis) and `urisourcebin` (the clip recorder) alike.
pub(crate) fn configure_network_source(decode: &gst::Element, cfg: &SourceConfig, password: Option<String>) {
    let transport = cfg.transport;
    let latency = cfg.latency_ms;
    let user = cfg.username.clone();
    let live = cfg.is_live();
    decode.connect("source-setup", false, move |args| {
        let Some(src) = args.get(1).and_then(|v| v.get::<gst::Element>().ok()) else { return None };
        let has = |name: &str| src.find_property(name).is_some();
        match transport {
            Some(Transport::Tcp) if has("protocols") => src.set_property_from_str("protocols", "tcp"),
            Some(Transport::Udp) if has("protocols") => src.set_property_from_str("protocols", "udp"),
            _ => {}
        }
        if let Some(ms) = latency.filter(|_| has("latency")) {
            src.set_property("latency", ms);
        }
        if let Some(u) = user.as_deref().filter(|_| has("user-id")) {
            src.set_property("user-id", u);
        }
        if let Some(p) = password.as_deref().filter(|_| has("user-pw")) {
            src.set_property("user-pw", p);
        }
        if live && has("is-live") {
            src.set_property("is-live", true);
        }
        None
    });
}

/// Links the decoder's video pad to the scaler and sends other pads (audio, subtitles)
/// to a fakesink, so an unlinked pad can never stall or fail the stream.
fn link_decoder_pads(
    decode: &gst::Element,
    pipeline: &gst::Pipeline,
    scale: &gst::Element,
    saw_video: Arc<AtomicBool>,
    source_size: Arc<Mutex<Option<(u32, u32)>>>,
) {
    let pipeline_weak = pipeline.downgrade();
    let scale_weak = scale.downgrade();
    decode.connect_pad_added(move |_, pad| {
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let Some(s) = caps.structure(0) else { return };
        let (Some(pipeline), Some(scale)) = (pipeline_weak.upgrade(), scale_weak.upgrade()) else { return };
        if s.name().starts_with("video/") {
            let sinkpad = scale.static_pad("sink").expect("videoscale has a sink pad");
            if !sinkpad.is_linked() && pad.link(&sinkpad).is_ok() {
                saw_video.store(true, Ordering::Relaxed);
                if let (Ok(w), Ok(h)) = (s.get::<i32>("width"), s.get::<i32>("height")) {
                    *source_size.lock().unwrap() = Some((w as u32, h as u32));
                }
                return;
            }
        }
        if let Ok(fake) = gst::ElementFactory::make("fakesink").property("sync", false).property("async", false).build()
        {
            if pipeline.add(&fake).is_ok() {
                let _ = fake.sync_state_with_parent();
                if let Some(p) = fake.static_pad("sink") {
                    let _ = pad.link(&p);
                }
            }
        }
    });
}

/// Pops the first error (or missing-plugin report) from the bus, as a typed error whose
/// texts went through `scrub`.
fn bus_error(bus: &gst::Bus, input: &str, scrub: &dyn Fn(String) -> String) -> Option<SourceError> {
    while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error, gst::MessageType::Element]) {
        match msg.view() {
            gst::MessageView::Error(e) => {
                return Some(classify(input, e.error(), e.debug().map(|d| d.to_string()), scrub))
            }
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure().filter(|s| s.name() == "missing-plugin") {
                    let detail = s.get::<String>("name").unwrap_or_else(|_| "unknown".into());
                    return Some(SourceError::MissingPlugin { input: input.into(), detail });
                }
            }
            _ => {}
        }
    }
    None
}

fn classify(
    input: &str,
    err: gst::glib::Error,
    debug: Option<String>,
    scrub: &dyn Fn(String) -> String,
) -> SourceError {
    let input = input.to_owned();
    let detail = scrub(err.message().to_owned());
    let dbg = scrub(debug.unwrap_or_default());
    tracing::debug!(input, %detail, %dbg, "GStreamer error");
    if err.matches(gst::StreamError::TypeNotFound) || err.matches(gst::StreamError::WrongType) {
        SourceError::NotVideo { input, detail }
    } else if err.matches(gst::StreamError::CodecNotFound) || err.matches(gst::CoreError::MissingPlugin) {
        SourceError::MissingPlugin { input, detail }
    } else if err.matches(gst::ResourceError::NotFound) {
        SourceError::NotFound { input }
    } else if err.matches(gst::ResourceError::OpenRead) || err.matches(gst::ResourceError::NotAuthorized) {
        SourceError::PermissionDenied { input }
    } else {
        SourceError::Decode { input, detail }
    }
}

/// Copies `height` rows of `width*3` bytes out of a buffer whose rows are `stride` apart.
fn pack_rows(data: &[u8], width: usize, height: usize, stride: usize) -> Vec<u8> {
    let row = width * 3;
    if stride == row {
        return data[..row * height].to_vec();
    }
    let mut out = Vec::with_capacity(row * height);
    for y in 0..height {
        out.extend_from_slice(&data[y * stride..y * stride + row]);
    }
    out
}

/// Sets the pipeline to `Null` on every exit path, releasing decoders and files.
struct PipelineGuard(gst::Pipeline);

impl Drop for PipelineGuard {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_rows_removes_stride_padding() {
        // 2×2 RGB with rows padded to 8 bytes.
        let data = [1, 2, 3, 4, 5, 6, 0, 0, 7, 8, 9, 10, 11, 12, 0, 0];
        assert_eq!(pack_rows(&data, 2, 2, 8), vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    }

    #[test]
    fn uri_for_reports_precise_local_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.mp4");
        assert!(matches!(uri_for(missing.to_str().unwrap()), Err(SourceError::NotFound { .. })));
        assert!(matches!(uri_for(dir.path().to_str().unwrap()), Err(SourceError::IsDirectory { .. })));
        let empty = dir.path().join("empty.mp4");
        std::fs::write(&empty, b"").unwrap();
        assert!(matches!(uri_for(empty.to_str().unwrap()), Err(SourceError::Empty { .. })));
        let avi = dir.path().join("cut.avi");
        let mut bytes = b"RIFF".to_vec();
        bytes.extend_from_slice(&1000u32.to_le_bytes());
        bytes.extend_from_slice(b"AVI LIST");
        std::fs::write(&avi, &bytes).unwrap();
        assert!(matches!(
            uri_for(avi.to_str().unwrap()),
            Err(SourceError::TruncatedFile { declared: 1008, size: 16, .. })
        ));
        let ok = dir.path().join("a b.mp4");
        std::fs::write(&ok, b"x").unwrap();
        assert!(uri_for(ok.to_str().unwrap()).unwrap().starts_with("file:///"));
        assert_eq!(uri_for("rtsp://cam/1").unwrap(), "rtsp://cam/1");
    }
}
