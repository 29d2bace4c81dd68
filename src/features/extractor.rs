//! One worker's extractor: its own ONNX Runtime sessions (ort 2 runs take `&mut self`)
//! plus the shared soft-caption table. Turns a batch of snippets into feature vectors.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use ort::session::Session;
use ort::value::{Tensor, TensorRef};

use super::models::{self, verified_file};
use super::{Device, FeatureError, FeaturesConfig, CAPTION_WIDTH, CLIP_WIDTH, IMAGE_SIDE, IMAGE_WIDTH};
use crate::segment::{Snippet, CLIP_FRAMES, CLIP_SIDE};
use crate::telemetry::events::BatchInferred;

/// Number of ImageNet classes (rows of the soft-caption table).
pub const IMAGENET_CLASSES: usize = 1000;

/// Files and tables shared by all workers, loaded and verified once.
pub struct SharedModels {
    pub dir: std::path::PathBuf,
    pub checksums: BTreeMap<String, String>,
    /// 1000×384 MiniLM embeddings of ImageNet class captions, row-major.
    pub caption_table: Option<Arc<Vec<f32>>>,
}

impl SharedModels {
    pub fn load(cfg: &FeaturesConfig) -> Result<Self, FeatureError> {
        Self::load_checked(cfg, true)
    }

    /// [`SharedModels::load`]; `trust_stamps: false` hashes every file again.
    pub fn load_checked(cfg: &FeaturesConfig, trust_stamps: bool) -> Result<Self, FeatureError> {
        let dir = models::models_dir(cfg)?;
        let files = models::manifest(&dir)?;
        let mut checksums = BTreeMap::new();
        let mut need = Vec::new();
        if cfg.image.enabled || cfg.caption.enabled {
            need.push(cfg.image.model_file());
        }
        if cfg.caption.enabled {
            need.push("soft_caption_table.npy");
        }
        if cfg.clip.enabled {
            need.push("mc3_18.onnx");
        }
        for n in &need {
            verified_file(&dir, n, &files, trust_stamps)?;
            checksums.insert(n.to_string(), files.get(*n).cloned().unwrap_or_default());
        }
        let caption_table = if cfg.caption.enabled {
            let path = dir.join("soft_caption_table.npy");
            let arr = crate::io::npy::read_f32(&path)
                .map_err(|e| FeatureError::BadModelFile { path: path.clone(), reason: e.to_string() })?;
            if arr.shape != [IMAGENET_CLASSES, CAPTION_WIDTH] {
                return Err(FeatureError::BadModelFile {
                    path,
                    reason: format!("expected shape [{IMAGENET_CLASSES}, {CAPTION_WIDTH}], found {:?}", arr.shape),
                });
            }
            Some(Arc::new(arr.data))
        } else {
            None
        };
        Ok(Self { dir, checksums, caption_table })
    }
}

pub struct Extractor {
    device: Device,
    /// `device#k`: the k-th worker on this device (metric label).
    worker: String,
    image: Option<Session>,
    clip: Option<Session>,
    caption_table: Option<Arc<Vec<f32>>>,
    temperature: f32,
    cfg: FeaturesConfig,
    /// Images per ONNX Runtime call (see [`run_image`]).
    images_per_run: usize,
    /// Reused input buffer of one image run.
    pixels: Vec<u8>,
}

impl Extractor {
    /// `slot` numbers the workers of one device (`cpu#0`, `cpu#1`, …) in metrics.
    pub fn new(cfg: &FeaturesConfig, shared: &SharedModels, device: Device, slot: usize) -> Result<Self, FeatureError> {
        let env = models::environment(cfg, &shared.dir)?;
        let intra_threads = intra_threads(cfg, device);
        let mk = |name: &str| {
            models::session(
                &env,
                &shared.dir.join(name),
                shared.checksums.get(name).map(String::as_str).filter(|sha| !sha.is_empty()),
                device,
                intra_threads,
                cfg.tensorrt_cache.as_deref(),
                "features",
            )
        };
        let image = (cfg.image.enabled || cfg.caption.enabled).then(|| mk(cfg.image.model_file())).transpose()?;
        let clip = cfg.clip.enabled.then(|| mk("mc3_18.onnx")).transpose()?;
        Ok(Self {
            device,
            worker: format!("{device}#{slot}"),
            image,
            clip,
            caption_table: shared.caption_table.clone(),
            temperature: cfg.caption.temperature,
            cfg: cfg.clone(),
            images_per_run: images_per_run(device),
            pixels: Vec::new(),
        })
    }

    pub fn device(&self) -> Device {
        self.device
    }

    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// Mean ImageNet logits of each snippet's image frames (for checks and captions).
    pub fn imagenet_logits(&mut self, batch: &[Snippet]) -> Result<Vec<Vec<f32>>, FeatureError> {
        let n = self.cfg.image.frames_per_snippet.get();
        let session = self.image.as_mut().ok_or_else(|| FeatureError::Inference {
            model: "efficientnet_lite0".into(),
            reason: "image and caption streams are disabled".into(),
        })?;
        let (_, logits) = run_image(session, batch, n, self.images_per_run, &mut self.pixels)?;
        Ok(logits.chunks(n * IMAGENET_CLASSES).map(|l| mean_rows(l, n, IMAGENET_CLASSES)).collect())
    }

    /// Feature vectors for a batch, in the order of the layout.
    pub fn extract(&mut self, batch: &[Snippet]) -> Result<Vec<Vec<f32>>, FeatureError> {
        let t0 = Instant::now();
        let mut out: Vec<Vec<f32>> = (0..batch.len()).map(|_| Vec::with_capacity(self.cfg.layout().width())).collect();
        if let Some(session) = self.image.as_mut() {
            let n = self.cfg.image.frames_per_snippet.get();
            let (feats, logits) = run_image(session, batch, n, self.images_per_run, &mut self.pixels)?;
            for (b, o) in out.iter_mut().enumerate() {
                if self.cfg.image.enabled {
                    o.extend(mean_rows(&feats[b * n * IMAGE_WIDTH..(b + 1) * n * IMAGE_WIDTH], n, IMAGE_WIDTH));
                }
                if let Some(table) = &self.caption_table {
                    let l = &logits[b * n * IMAGENET_CLASSES..(b + 1) * n * IMAGENET_CLASSES];
                    o.extend(soft_caption(l, n, table, self.temperature));
                }
            }
        }
        if self.cfg.motion.enabled {
            for (o, s) in out.iter_mut().zip(batch) {
                o.extend_from_slice(s.motion.as_deref().unwrap_or(&[0.0; crate::segment::motion::MOTION_WIDTH]));
            }
        }
        if let Some(session) = self.clip.as_mut() {
            let feats = run_clip(session, batch)?;
            for (b, o) in out.iter_mut().enumerate() {
                o.extend_from_slice(&feats[b * CLIP_WIDTH..(b + 1) * CLIP_WIDTH]);
            }
        }
        BatchInferred {
            stage: "features",
            worker: &self.worker,
            snippets: batch.len(),
            seconds: t0.elapsed().as_secs_f64(),
        }
        .emit();
        Ok(out)
    }
}

/// Images per ONNX Runtime call on the CPU. Per-image cost is flat from 4 images up while
/// the activation memory grows with every image in flight (≈ 15 MB each for
/// EfficientNet-Lite0); accelerators get the whole batch.
pub const CPU_IMAGES_PER_RUN: usize = 4;

fn images_per_run(device: Device) -> usize {
    match device {
        Device::Cpu => CPU_IMAGES_PER_RUN,
        _ => usize::MAX,
    }
}

/// ONNX Runtime intra-op threads of one CPU worker: the configured number, else ONNX
/// Runtime's default (one per physical core) for a single CPU worker, else the cores
/// shared out between the CPU workers, so that workers do not oversubscribe the cores
/// (an intra-op section waits for its slowest thread).
pub fn intra_threads(cfg: &FeaturesConfig, device: Device) -> usize {
    let cpu_workers = cfg.cpu_workers();
    if cfg.intra_threads > 0 || device != Device::Cpu || cpu_workers <= 1 {
        return cfg.intra_threads;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / cpu_workers).max(1)
}

fn infer_err(model: &str) -> impl Fn(ort::Error) -> FeatureError + '_ {
    move |e| FeatureError::Inference { model: model.into(), reason: e.to_string() }
}

/// Runs EfficientNet on `n` frames per snippet, at most `per_run` images per ONNX Runtime
/// call, through the reused input buffer `pixels`: returns (features, logits) row-major.
///
/// The model treats each image independently, so splitting a batch changes no value; it
/// bounds the activation memory (proportional to the images in flight) and keeps the
/// input copy off fresh pages.
fn run_image(
    session: &mut Session,
    batch: &[Snippet],
    n: usize,
    per_run: usize,
    pixels: &mut Vec<u8>,
) -> Result<(Vec<f32>, Vec<f32>), FeatureError> {
    let side = IMAGE_SIDE as usize;
    for s in batch {
        if s.width != IMAGE_SIDE || s.height != IMAGE_SIDE || s.images.len() != n {
            return Err(FeatureError::Inference {
                model: "efficientnet_lite0".into(),
                reason: format!(
                    "snippet has {} frames of {}×{}, expected {n} of {side}×{side}",
                    s.images.len(),
                    s.width,
                    s.height
                ),
            });
        }
    }
    let e = infer_err("efficientnet_lite0");
    let images: Vec<&[u8]> = batch.iter().flat_map(|s| s.images.iter().map(|i| i.as_slice())).collect();
    let mut feats = Vec::with_capacity(images.len() * IMAGE_WIDTH);
    let mut logits = Vec::with_capacity(images.len() * IMAGENET_CLASSES);
    for chunk in images.chunks(per_run.max(1)) {
        pixels.clear();
        for img in chunk {
            pixels.extend_from_slice(img);
        }
        let input = TensorRef::from_array_view(([chunk.len(), side, side, 3], pixels.as_slice())).map_err(&e)?;
        let outputs = session.run(ort::inputs!["images" => input]).map_err(&e)?;
        feats.extend_from_slice(outputs["features"].try_extract_tensor::<f32>().map_err(&e)?.1);
        logits.extend_from_slice(outputs["logits"].try_extract_tensor::<f32>().map_err(&e)?.1);
    }
    Ok((feats, logits))
}

fn run_clip(session: &mut Session, batch: &[Snippet]) -> Result<Vec<f32>, FeatureError> {
    let mut pixels = Vec::with_capacity(batch.len() * CLIP_FRAMES * CLIP_SIDE * CLIP_SIDE * 3);
    for s in batch {
        pixels.extend_from_slice(s.clip.as_deref().unwrap_or(&[]));
    }
    let e = infer_err("mc3_18");
    let input = Tensor::from_array(([batch.len(), CLIP_FRAMES, CLIP_SIDE, CLIP_SIDE, 3], pixels)).map_err(&e)?;
    let outputs = session.run(ort::inputs!["clips" => input]).map_err(&e)?;
    let (_, feats) = outputs["features"].try_extract_tensor::<f32>().map_err(&e)?;
    Ok(feats.to_vec())
}

/// Mean of `n` rows of width `w`.
pub fn mean_rows(rows: &[f32], n: usize, w: usize) -> Vec<f32> {
    let mut m = vec![0f32; w];
    for r in rows.chunks_exact(w) {
        m.iter_mut().zip(r).for_each(|(a, b)| *a += b);
    }
    m.iter_mut().for_each(|a| *a /= n as f32);
    m
}

/// softmax(logits/τ) averaged over `n` frames, times the class-embedding table,
/// L2-normalised.
pub fn soft_caption(logits: &[f32], n: usize, table: &[f32], temperature: f32) -> Vec<f32> {
    let mut probs = vec![0f32; IMAGENET_CLASSES];
    for l in logits.chunks_exact(IMAGENET_CLASSES) {
        let max = l.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f32> = l.iter().map(|x| ((x - max) / temperature).exp()).collect();
        let z: f32 = e.iter().sum();
        probs.iter_mut().zip(e).for_each(|(p, v)| *p += v / z / n as f32);
    }
    let mut out = vec![0f32; CAPTION_WIDTH];
    for (p, row) in probs.iter().zip(table.chunks_exact(CAPTION_WIDTH)) {
        if *p > 1e-6 {
            out.iter_mut().zip(row).for_each(|(o, r)| *o += p * r);
        }
    }
    let norm = out.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    out.iter_mut().for_each(|x| *x /= norm);
    out
}

/// Checks a model folder without building sessions, hashing every file (used by `check`).
pub fn check_models(cfg: &FeaturesConfig) -> Result<std::path::PathBuf, FeatureError> {
    Ok(SharedModels::load_checked(cfg, false)?.dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_caption_is_a_weighted_unit_vector() {
        let mut table = vec![0f32; IMAGENET_CLASSES * CAPTION_WIDTH];
        table[3 * CAPTION_WIDTH] = 1.0; // class 3 → e0
        table[7 * CAPTION_WIDTH + 1] = 1.0; // class 7 → e1
        let mut logits = vec![-50f32; IMAGENET_CLASSES * 2];
        logits[3] = 10.0; // frame 1 says class 3
        logits[IMAGENET_CLASSES + 7] = 10.0; // frame 2 says class 7
        let v = soft_caption(&logits, 2, &table, 1.0);
        assert!((v[0] - v[1]).abs() < 1e-5 && (v[0] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-4, "{:?}", &v[..2]);
        assert_eq!(mean_rows(&[1.0, 2.0, 3.0, 4.0], 2, 2), vec![2.0, 3.0]);
    }
}
