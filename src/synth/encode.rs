//! Writes RGB frames to an ordinary H.264 MP4 through GStreamer:
//! `appsrc → videoconvert → I420 → x264enc → h264parse → mp4mux → filesink`.
//! x264 runs single-threaded (we parallelise across videos), which also makes its
//! output deterministic; the file is written to a temporary name and renamed when done.
use std::path::{Path, PathBuf};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use super::SynthError;

pub struct Encoder {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    info: gst_video::VideoInfo,
    fps: gst::Fraction,
    frames: u64,
    tmp: PathBuf,
    path: PathBuf,
}

fn err(path: &Path, detail: impl std::fmt::Display) -> SynthError {
    SynthError::Encode { file: path.to_owned(), detail: detail.to_string() }
}

impl Encoder {
    /// Starts an encoder for `w`×`h` RGB at `fps` with x264 constant quantiser `qp`.
    pub fn create(path: &Path, w: u32, h: u32, fps: f64, qp: u32) -> Result<Self, SynthError> {
        gst::init().map_err(|e| err(path, e))?;
        let fps = fraction(fps);
        let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, w, h)
            .fps(fps)
            .par(gst::Fraction::new(1, 1))
            .build()
            .map_err(|e| err(path, e))?;
        let caps = info.to_caps().map_err(|e| err(path, e))?;
        let src = gst_app::AppSrc::builder()
            .caps(&caps)
            .format(gst::Format::Time)
            .is_live(false)
            .block(true)
            .max_bytes((info.size() * 4) as u64)
            .build();
        let make = |factory: &str| {
            gst::ElementFactory::make(factory).build().map_err(|_| {
                let hint = if factory == "x264enc" {
                    " (install gstreamer1.0-plugins-ugly)"
                } else {
                    " (install gstreamer1.0-plugins-good / -bad)"
                };
                err(path, format!("GStreamer element `{factory}` is missing{hint}"))
            })
        };
        let convert = make("videoconvert")?;
        let i420 = make("capsfilter")?;
        i420.set_property("caps", gst::Caps::builder("video/x-raw").field("format", "I420").build());
        let enc = make("x264enc")?;
        enc.set_property_from_str("speed-preset", "veryfast");
        enc.set_property_from_str("pass", "quant");
        enc.set_property("quantizer", qp.clamp(0, 50));
        enc.set_property("threads", 1u32);
        enc.set_property("bframes", 0u32);
        enc.set_property("trellis", false);
        enc.set_property("key-int-max", ((fps.numer() as f64 / fps.denom() as f64) * 2.0).round().max(1.0) as u32);
        let parse = make("h264parse")?;
        let mux = make("mp4mux")?;
        let sink = make("filesink")?;
        let tmp = path.with_file_name(format!(
            ".{}.tmp-{}",
            path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            std::process::id()
        ));
        sink.set_property("location", tmp.to_string_lossy().as_ref());
        sink.set_property("sync", false);
        let pipeline = gst::Pipeline::new();
        pipeline.add_many([src.upcast_ref(), &convert, &i420, &enc, &parse, &mux, &sink]).map_err(|e| err(path, e))?;
        gst::Element::link_many([src.upcast_ref(), &convert, &i420, &enc, &parse, &mux, &sink])
            .map_err(|e| err(path, e))?;
        pipeline.set_state(gst::State::Playing).map_err(|e| err(path, e))?;
        Ok(Self { pipeline, src, info, fps, frames: 0, tmp, path: path.to_owned() })
    }

    fn pts(&self, n: u64) -> gst::ClockTime {
        let (num, den) = (self.fps.numer() as u64, self.fps.denom() as u64);
        gst::ClockTime::from_nseconds(n * 1_000_000_000 * den / num.max(1))
    }

    /// Queues one packed RGB frame (rows are padded to GStreamer's stride here).
    pub fn push(&mut self, rgb: &[u8]) -> Result<(), SynthError> {
        let (w, h) = (self.info.width() as usize, self.info.height() as usize);
        let stride = self.info.stride()[0] as usize;
        let mut buf = gst::Buffer::with_size(self.info.size()).map_err(|e| err(&self.path, e))?;
        {
            let b = buf.get_mut().expect("fresh buffer is writable");
            b.set_pts(self.pts(self.frames));
            b.set_duration(self.pts(self.frames + 1) - self.pts(self.frames));
            let mut map = b.map_writable().map_err(|e| err(&self.path, e))?;
            let data = map.as_mut_slice();
            for y in 0..h {
                data[y * stride..y * stride + w * 3].copy_from_slice(&rgb[y * w * 3..(y + 1) * w * 3]);
            }
        }
        self.frames += 1;
        self.src.push_buffer(buf).map_err(|e| self.bus_error().unwrap_or_else(|| err(&self.path, e)))?;
        Ok(())
    }

    fn bus_error(&self) -> Option<SynthError> {
        let bus = self.pipeline.bus()?;
        while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(e) = msg.view() {
                return Some(err(&self.path, format!("{} ({:?})", e.error(), e.debug())));
            }
        }
        None
    }

    /// Ends the stream, waits for the muxer to finalise the file, and moves it in place.
    pub fn finish(self) -> Result<u64, SynthError> {
        let result = (|| {
            self.src.end_of_stream().map_err(|e| err(&self.path, e))?;
            let bus = self.pipeline.bus().ok_or_else(|| err(&self.path, "pipeline has no bus"))?;
            for msg in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
                match msg.view() {
                    gst::MessageView::Eos(..) => return Ok(()),
                    gst::MessageView::Error(e) => {
                        return Err(err(&self.path, format!("{} ({:?})", e.error(), e.debug())))
                    }
                    _ => {}
                }
            }
            Err(err(&self.path, "timed out waiting for the encoder to finish"))
        })();
        let _ = self.pipeline.set_state(gst::State::Null);
        match result {
            Ok(()) => {
                std::fs::rename(&self.tmp, &self.path)
                    .map_err(|e| SynthError::Io { path: self.path.clone(), source: e })?;
                Ok(self.frames)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&self.tmp);
                Err(e)
            }
        }
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Frame rate as a fraction (integers exactly; otherwise to 1/1000).
pub fn fraction(fps: f64) -> gst::Fraction {
    if (fps - fps.round()).abs() < 1e-6 {
        gst::Fraction::new(fps.round() as i32, 1)
    } else {
        gst::Fraction::new((fps * 1000.0).round() as i32, 1000)
    }
}
