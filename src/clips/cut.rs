//! Cuts a clip out of a source file: `uridecodebin` (accurate seek to the range) →
//! appsink; then `appsrc → videoconvert → x264enc → h264parse → mp4mux → filesink` at
//! the source resolution. Two pipelines, so the encoder and muxer never see the seek's
//! flush; raw frames pass between them by reference.
use std::path::Path;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::mux::{wait_eos, NullOnDrop, Written};
use super::{commit, make, tmp_path, ClipError};

/// Writes `[from_s, to_s]` (seconds of the file; clamped to it) of the video `uri` to
/// `path` as H.264 MP4, atomically. Returns the clip's duration and size.
pub fn cut_file(uri: &str, from_s: f64, to_s: f64, path: &Path) -> Result<Written, ClipError> {
    let perr = |detail: &dyn std::fmt::Display| ClipError::Pipeline { uri: uri.into(), detail: detail.to_string() };
    gst::init().map_err(|e| perr(&e))?;
    let decode = Decoder::open(uri, from_s.max(0.0), to_s)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|source| ClipError::Io { path: dir.to_owned(), source })?;
    let tmp = tmp_path(path);
    let result = encode(&decode, uri, &tmp);
    drop(decode);
    match result {
        Ok(seconds) => Ok(Written { seconds, bytes: commit(&tmp, path)? }),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// The decoding half, prerolled and seeked to the range.
struct Decoder {
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
    start: gst::ClockTime,
    _guard: NullOnDrop,
}

impl Decoder {
    fn open(uri: &str, from_s: f64, to_s: f64) -> Result<Self, ClipError> {
        let perr = |detail: &dyn std::fmt::Display| ClipError::Pipeline { uri: uri.into(), detail: detail.to_string() };
        let pipeline = gst::Pipeline::new();
        let decode = make("uridecodebin")?;
        decode.set_property("uri", uri);
        let sink = gst_app::AppSink::builder()
            .caps(&gst::Caps::new_empty_simple("video/x-raw"))
            .max_buffers(8)
            .drop(false)
            .sync(false)
            .build();
        pipeline.add_many([&decode, sink.upcast_ref()]).map_err(|e| perr(&e))?;
        let (pipe_weak, sink_weak) = (pipeline.downgrade(), sink.downgrade());
        decode.connect_pad_added(move |_, pad| {
            let (Some(pipeline), Some(sink)) = (pipe_weak.upgrade(), sink_weak.upgrade()) else { return };
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let video = caps.structure(0).is_some_and(|s| s.name() == "video/x-raw");
            let target = sink.static_pad("sink").expect("appsink has a sink pad");
            if video && !target.is_linked() && pad.link(&target).is_ok() {
                return;
            }
            // Audio and extra streams go nowhere, so an unlinked pad never stalls the decoder.
            if let Ok(fake) = gst::ElementFactory::make("fakesink").property("async", false).build() {
                if pipeline.add(&fake).is_ok() && fake.sync_state_with_parent().is_ok() {
                    let _ = pad.link(&fake.static_pad("sink").expect("fakesink has a sink pad"));
                }
            }
        });
        let guard = NullOnDrop(pipeline.clone());
        pipeline.set_state(gst::State::Paused).map_err(|e| perr(&e))?;
        let (res, _, _) = pipeline.state(gst::ClockTime::from_seconds(30));
        res.map_err(|_| bus_error(&pipeline).unwrap_or_else(|| perr(&"could not open the file")))?;
        let start = gst::ClockTime::from_nseconds((from_s * 1e9) as u64);
        let stop = gst::ClockTime::from_nseconds((to_s.max(from_s) * 1e9) as u64);
        pipeline
            .seek(
                1.0,
                gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
                gst::SeekType::Set,
                start,
                gst::SeekType::Set,
                stop,
            )
            .map_err(|e| perr(&e))?;
        pipeline.set_state(gst::State::Playing).map_err(|e| perr(&e))?;
        Ok(Self { pipeline, sink, start, _guard: guard })
    }
}

fn bus_error(pipeline: &gst::Pipeline) -> Option<ClipError> {
    let msg = pipeline.bus()?.pop_filtered(&[gst::MessageType::Error])?;
    match msg.view() {
        gst::MessageView::Error(e) => Some(ClipError::Pipeline {
            uri: e.src().map(|s| s.path_string().to_string()).unwrap_or_default(),
            detail: e.error().to_string(),
        }),
        _ => None,
    }
}

/// Encodes every decoded frame of the range; returns the clip's duration in seconds.
fn encode(decode: &Decoder, uri: &str, tmp: &Path) -> Result<f64, ClipError> {
    let perr = |detail: &dyn std::fmt::Display| ClipError::Pipeline { uri: uri.into(), detail: detail.to_string() };
    let mut enc: Option<(gst::Pipeline, gst_app::AppSrc, NullOnDrop)> = None;
    let mut end_ns = 0u64;
    loop {
        let Some(sample) = decode.sink.try_pull_sample(gst::ClockTime::from_seconds(30)) else {
            if decode.sink.is_eos() {
                break;
            }
            return Err(bus_error(&decode.pipeline).unwrap_or(ClipError::Timeout(30)));
        };
        let (Some(buffer), Some(caps)) = (sample.buffer(), sample.caps()) else { continue };
        let Some(pts) = buffer.pts().filter(|&p| p >= decode.start) else { continue };
        if enc.is_none() {
            enc = Some(encoder(caps, uri, tmp)?);
        }
        let (_, src, _) = enc.as_ref().expect("started above");
        let mut out = buffer.copy();
        {
            let b = out.get_mut().expect("a fresh copy is writable");
            b.set_pts(pts - decode.start);
            b.set_dts(gst::ClockTime::NONE);
        }
        end_ns = end_ns.max((pts - decode.start).nseconds() + buffer.duration().map_or(0, |d| d.nseconds()));
        src.push_buffer(out).map_err(|e| perr(&e))?;
    }
    let (pipeline, src, _guard) = enc.ok_or_else(|| perr(&"no video frames in the range"))?;
    src.end_of_stream().map_err(|e| perr(&e))?;
    wait_eos(&pipeline, tmp, Duration::from_secs(120))?;
    Ok(end_ns as f64 / 1e9)
}

/// `appsrc → videoconvert → I420 → x264enc → h264parse → mp4mux → filesink`.
fn encoder(
    caps: &gst::CapsRef,
    uri: &str,
    tmp: &Path,
) -> Result<(gst::Pipeline, gst_app::AppSrc, NullOnDrop), ClipError> {
    let perr = |detail: &dyn std::fmt::Display| ClipError::Pipeline { uri: uri.into(), detail: detail.to_string() };
    let fps = caps
        .structure(0)
        .and_then(|s| s.get::<gst::Fraction>("framerate").ok())
        .filter(|f| f.numer() > 0 && f.denom() > 0)
        .map_or(25.0, |f| f.numer() as f64 / f.denom() as f64);
    let src = gst_app::AppSrc::builder()
        .caps(&caps.to_owned())
        .format(gst::Format::Time)
        .is_live(false)
        .block(true)
        .max_bytes(64 << 20)
        .build();
    let convert = make("videoconvert")?;
    let i420 = make("capsfilter")?;
    i420.set_property("caps", gst::Caps::builder("video/x-raw").field("format", "I420").build());
    let enc = make("x264enc")?;
    enc.set_property_from_str("speed-preset", "veryfast");
    enc.set_property_from_str("pass", "quant");
    enc.set_property("quantizer", 23u32);
    enc.set_property("bframes", 0u32);
    // A keyframe every second: players seek quickly within the clip.
    enc.set_property("key-int-max", (fps.round() as u32).max(1));
    let parse = make("h264parse")?;
    let mux = make("mp4mux")?;
    let sink = make("filesink")?;
    sink.set_property("location", tmp.to_string_lossy().as_ref());
    sink.set_property("sync", false);
    let pipeline = gst::Pipeline::new();
    let elements = [src.upcast_ref(), &convert, &i420, &enc, &parse, &mux, &sink];
    pipeline.add_many(elements).map_err(|e| perr(&e))?;
    gst::Element::link_many(elements).map_err(|e| perr(&e))?;
    let guard = NullOnDrop(pipeline.clone());
    pipeline.set_state(gst::State::Playing).map_err(|e| perr(&e))?;
    Ok((pipeline, src, guard))
}
