//! Remuxes recorded access units into an MP4 without re-encoding:
//! `appsrc ! h264parse|h265parse ! mp4mux ! filesink`, timestamps rebased to 0.
use std::path::Path;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::ring::Cut;
use super::{commit, make, tmp_path, ClipError};

/// What a written clip holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Written {
    /// Video seconds in the clip.
    pub seconds: f64,
    pub bytes: u64,
}

/// Writes `cut` to `path` atomically (temporary sibling, fsync, rename).
pub fn write_cut(cut: &Cut, path: &Path) -> Result<Written, ClipError> {
    let first = cut
        .units
        .first()
        .ok_or_else(|| ClipError::Pipeline { uri: path.display().to_string(), detail: "no units to write".into() })?;
    gst::init().map_err(|e| pipeline_err(path, e))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|source| ClipError::Io { path: dir.to_owned(), source })?;
    let tmp = tmp_path(path);
    let result = mux(cut, first.ts_ns, &tmp, path);
    match result {
        Ok(seconds) => Ok(Written { seconds, bytes: commit(&tmp, path)? }),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn pipeline_err(path: &Path, detail: impl std::fmt::Display) -> ClipError {
    ClipError::Pipeline { uri: path.display().to_string(), detail: detail.to_string() }
}

fn mux(cut: &Cut, base_ns: u64, tmp: &Path, path: &Path) -> Result<f64, ClipError> {
    let h265 = cut.caps.structure(0).is_some_and(|s| s.name() == "video/x-h265");
    let src = gst_app::AppSrc::builder().caps(&cut.caps).format(gst::Format::Time).is_live(false).build();
    let parse = make(if h265 { "h265parse" } else { "h264parse" })?;
    let mux = make("mp4mux")?;
    let sink = make("filesink")?;
    sink.set_property("location", tmp.to_string_lossy().as_ref());
    sink.set_property("sync", false);
    let pipeline = gst::Pipeline::new();
    let elements = [src.upcast_ref(), &parse, &mux, &sink];
    pipeline.add_many(elements).map_err(|e| pipeline_err(path, e))?;
    gst::Element::link_many(elements).map_err(|e| pipeline_err(path, e))?;
    let _guard = NullOnDrop(pipeline.clone());
    pipeline.set_state(gst::State::Playing).map_err(|e| pipeline_err(path, e))?;
    let mut end_ns = 0u64;
    for (i, u) in cut.units.iter().enumerate() {
        let dts = u.ts_ns.saturating_sub(base_ns);
        let next = cut.units.get(i + 1).map(|n| n.ts_ns.saturating_sub(base_ns));
        let duration = next.filter(|&n| n > dts).map(|n| n - dts).or(u.buffer.duration().map(|d| d.nseconds()));
        let mut buf = u.buffer.copy();
        {
            let b = buf.get_mut().expect("a fresh copy is writable");
            b.set_dts(gst::ClockTime::from_nseconds(dts));
            b.set_pts(gst::ClockTime::from_nseconds(dts + u.cto_ns));
            b.set_duration(duration.map(gst::ClockTime::from_nseconds));
            if u.keyframe {
                b.unset_flags(gst::BufferFlags::DELTA_UNIT);
            } else {
                b.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
        }
        end_ns = end_ns.max(dts + u.cto_ns + duration.unwrap_or(0));
        src.push_buffer(buf).map_err(|e| pipeline_err(path, e))?;
    }
    src.end_of_stream().map_err(|e| pipeline_err(path, e))?;
    wait_eos(&pipeline, path, Duration::from_secs(60))?;
    Ok(end_ns as f64 / 1e9)
}

/// Waits for the end of stream (the muxer has finalised the file) or the first error.
pub(crate) fn wait_eos(pipeline: &gst::Pipeline, path: &Path, timeout: Duration) -> Result<(), ClipError> {
    let bus = pipeline.bus().ok_or_else(|| pipeline_err(path, "pipeline has no bus"))?;
    let limit = gst::ClockTime::from_nseconds(timeout.as_nanos() as u64);
    match bus.timed_pop_filtered(limit, &[gst::MessageType::Eos, gst::MessageType::Error]) {
        Some(msg) => match msg.view() {
            gst::MessageView::Error(e) => Err(pipeline_err(path, e.error())),
            _ => Ok(()),
        },
        None => Err(ClipError::Timeout(timeout.as_secs())),
    }
}

/// Sets a pipeline to `Null` on every exit path.
pub(crate) struct NullOnDrop(pub gst::Pipeline);

impl Drop for NullOnDrop {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}
