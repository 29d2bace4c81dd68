//! The two scoring stages, each a pool of workers with stream affinity:
//!
//! - **MoTAR windowing**: reorders a stream's segment features (the feature pool may finish
//!   them out of order), buffers them, and runs the MoTAR half of the head — on the whole
//!   video when the file ends, or every `stride` new segments on the last `segments` ones
//!   for live streams (a ring buffer; normalisation uses the window's own statistics).
//!   A live source's outage ends the windows: see [`super::buffer`];
//! - **CORE + scoring**: runs CORE on each window's MoTAR output and emits one
//!   [`ScoredSegment`] per segment, each exactly once and in order.
use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;

use super::buffer::{Step, StreamBuf};
use super::{ModelStageConfig, ScoreMsg, ScoredSegment};
use crate::features::FeatureMsg;
use crate::model::{LoadedModel, ModelError};
use crate::runtime::channel::{bounded, Rx, Tx};
use crate::runtime::route::worker_for;
use crate::segment::{SourceDown, SourceUp};
use crate::source::{SourceError, StreamInfo};

/// Where a segment sits in its stream.
#[derive(Debug, Clone, PartialEq)]
pub struct SegMeta {
    pub index: usize,
    pub frame_start: u64,
    pub frame_end: u64,
    pub time_start: f64,
    pub time_end: f64,
}

/// MoTAR stage → CORE stage.
#[derive(Debug)]
pub enum WindowMsg {
    Started(StreamInfo),
    /// MoTAR output for `segments` (row-major T×d_model); CORE emits `segments[emit_from..]`.
    Window {
        stream: Arc<str>,
        segments: Vec<SegMeta>,
        hidden: Vec<f32>,
        emit_from: usize,
    },
    /// The stream's source went down after `segments` segments (all emitted before this).
    Down(SourceDown),
    Up(SourceUp),
    End {
        stream: Arc<str>,
        frames: u64,
        segments: usize,
        result: Result<(), SourceError>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("{}: {source}", path.display())]
    Model { path: std::path::PathBuf, source: ModelError },
    #[error("model.device: {0}")]
    Device(String),
}

/// Loads one copy of the head per worker (they are small; candle runs on each worker's
/// own thread).
fn load(cfg: &ModelStageConfig) -> Result<LoadedModel, StageError> {
    let device = cfg.candle_device().map_err(StageError::Device)?;
    LoadedModel::load_on(&cfg.checkpoint, &device)
        .map_err(|source| StageError::Model { path: cfg.checkpoint.clone(), source })
}

/// Checks the checkpoint exists, loads, and matches the feature layout (for `check` and
/// before a run starts decoding).
pub fn check_checkpoint(
    cfg: &ModelStageConfig,
    layout: &crate::features::layout::FeatureLayout,
) -> Result<Vec<String>, StageError> {
    let m = load(cfg)?;
    m.check_layout(layout).map_err(|source| StageError::Model { path: cfg.checkpoint.clone(), source })?;
    Ok(m.categories().to_vec())
}

/// Starts both stages. Returns the worker handles and the category names.
pub fn spawn_scoring(
    cfg: &ModelStageConfig,
    layout: &crate::features::layout::FeatureLayout,
    input: Rx<FeatureMsg>,
    output: Tx<ScoreMsg>,
) -> Result<(Vec<JoinHandle<Result<(), String>>>, Arc<[String]>), StageError> {
    let categories: Arc<[String]> = check_checkpoint(cfg, layout)?.into();
    let mut handles = Vec::new();
    // CORE workers, each with its own input channel.
    let mut core_txs = Vec::new();
    for i in 0..cfg.core_workers.get() {
        let (tx, rx) = bounded::<WindowMsg>(&format!("windows-{i}"), &cfg.channel);
        core_txs.push(tx);
        let model = load(cfg)?;
        let (out, cats) = (output.clone(), categories.clone());
        handles.push(spawn(format!("core-{i}"), move || core_worker(model, rx, out, cats)));
    }
    drop(output);
    // MoTAR workers, fed by a router that keeps each stream on one worker.
    let mut motar_txs = Vec::new();
    for i in 0..cfg.motar_workers.get() {
        let (tx, rx) = bounded::<FeatureMsg>(&format!("motar-{i}"), &cfg.channel);
        motar_txs.push(tx);
        let model = load(cfg)?;
        let (cores, live) = (core_txs.clone(), cfg.window.clone());
        handles.push(spawn(format!("motar-{i}"), move || motar_worker(model, rx, cores, live)));
    }
    drop(core_txs);
    handles.push(spawn("motar-router".into(), move || {
        for msg in input.iter() {
            let tx = &motar_txs[worker_for(msg.stream(), motar_txs.len())];
            tx.send_reliable(msg).map_err(|_| "MoTAR worker stopped".to_string())?;
        }
        Ok(())
    }));
    Ok((handles, categories))
}

fn spawn(name: String, f: impl FnOnce() -> Result<(), String> + Send + 'static) -> JoinHandle<Result<(), String>> {
    std::thread::Builder::new().name(name).spawn(f).expect("spawn scoring worker")
}

fn motar_worker(
    model: LoadedModel,
    input: Rx<FeatureMsg>,
    cores: Vec<Tx<WindowMsg>>,
    live: super::LiveWindowConfig,
) -> Result<(), String> {
    let mut streams: HashMap<Arc<str>, StreamBuf> = HashMap::new();
    let mut steps = Vec::new();
    for msg in input.iter() {
        let stream = msg.stream().clone();
        let core = &cores[worker_for(&stream, cores.len())];
        let st = streams.entry(stream.clone()).or_insert_with(|| StreamBuf::new(stream.clone(), live.clone()));
        if st.push(msg, &mut steps) {
            streams.remove(&stream);
        }
        for step in steps.drain(..) {
            let out = match step {
                Step::Started(info) => WindowMsg::Started(info),
                Step::Window { segments, x, emit_from } => {
                    let hidden = super::head::motar_stage(&model, &x, segments.len())
                        .map_err(|e| format!("{stream}: MoTAR failed: {e}"))?;
                    WindowMsg::Window { stream: stream.clone(), segments, hidden, emit_from }
                }
                Step::Down(d) => WindowMsg::Down(d),
                Step::Up(u) => WindowMsg::Up(u),
                Step::End { frames, segments, result } => {
                    WindowMsg::End { stream: stream.clone(), frames, segments, result }
                }
            };
            send(core, out)?;
        }
    }
    Ok(())
}

fn send(tx: &Tx<WindowMsg>, msg: WindowMsg) -> Result<(), String> {
    tx.send_reliable(msg).map_err(|_| "CORE worker stopped".to_string())
}

fn core_worker(
    model: LoadedModel,
    input: Rx<WindowMsg>,
    output: Tx<ScoreMsg>,
    categories: Arc<[String]>,
) -> Result<(), String> {
    for msg in input.iter() {
        let out = match msg {
            WindowMsg::Started(info) => vec![ScoreMsg::Started { info, categories: categories.clone() }],
            WindowMsg::End { stream, frames, segments, result } => {
                vec![ScoreMsg::End { stream, frames, segments, result }]
            }
            WindowMsg::Down(d) => vec![ScoreMsg::Down(d)],
            WindowMsg::Up(u) => vec![ScoreMsg::Up(u)],
            WindowMsg::Window { stream, segments, hidden, emit_from } => {
                let (scores, probs) = super::head::core_stage(&model, &hidden, segments.len())
                    .map_err(|e| format!("{stream}: CORE failed: {e}"))?;
                segments[emit_from..]
                    .iter()
                    .zip(&scores[emit_from..])
                    .map(|(m, &score)| {
                        ScoreMsg::Segment(ScoredSegment {
                            stream: stream.clone(),
                            index: m.index,
                            frame_start: m.frame_start,
                            frame_end: m.frame_end,
                            time_start: m.time_start,
                            time_end: m.time_end,
                            score,
                            category_probs: probs.clone(),
                        })
                    })
                    .collect()
            }
        };
        for m in out {
            output.send_reliable(m).map_err(|_| "score consumers stopped".to_string())?;
        }
    }
    Ok(())
}
