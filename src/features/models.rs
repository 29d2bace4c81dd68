//! Finding the exported models and the ONNX Runtime library, verifying checksums, and
//! building sessions on the requested device — failing loudly, never falling back to
//! the CPU when an accelerator was asked for.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::session::Session;
use sha2::{Digest, Sha256};

use super::{cache, Device, FeatureError, FeaturesConfig};
use crate::telemetry::events::ProviderSelected;

/// ONNX Runtime version whose library `scripts/setup.sh` installs.
pub const ORT_LIBRARY: &str = "onnxruntime/libonnxruntime.so.1.31.1";

/// Locates the models folder (see [`FeaturesConfig::models_dir`]).
pub fn models_dir(cfg: &FeaturesConfig) -> Result<PathBuf, FeatureError> {
    let mut looked = Vec::new();
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(d) = &cfg.models_dir {
        candidates.push(d.clone());
    } else {
        if let Some(d) = std::env::var_os("REFINEVAD_MODELS_DIR") {
            candidates.push(d.into());
        }
        candidates.push(PathBuf::from("models"));
        if let Ok(exe) = std::env::current_exe() {
            candidates.extend(exe.ancestors().skip(1).take(4).map(|a| a.join("models")));
        }
    }
    for c in candidates {
        if c.join("manifest.json").is_file() {
            return Ok(c);
        }
        looked.push(c.display().to_string());
    }
    Err(FeatureError::ModelsDirNotFound { looked: looked.join(", ") })
}

/// `manifest.json` written by the export: file name → sha256.
pub fn manifest(dir: &Path) -> Result<BTreeMap<String, String>, FeatureError> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| FeatureError::BadModelFile { path: path.clone(), reason: e.to_string() })?;
    #[derive(serde::Deserialize)]
    struct Manifest {
        files: BTreeMap<String, String>,
    }
    serde_json::from_str::<Manifest>(&text)
        .map(|m| m.files)
        .map_err(|e| FeatureError::BadModelFile { path, reason: format!("invalid manifest: {e}") })
}

/// Returns the path of a model file after checking it against the manifest. With
/// `trust_stamps`, an unchanged file that already passed is not hashed again
/// (`cache::verified_stamp`); `refinevad check --models` always hashes.
pub fn verified_file(
    dir: &Path,
    name: &str,
    files: &BTreeMap<String, String>,
    trust_stamps: bool,
) -> Result<PathBuf, FeatureError> {
    let path = dir.join(name);
    let Some(expected) = files.get(name) else {
        return path.is_file().then_some(path.clone()).ok_or(FeatureError::MissingModel { path });
    };
    let stamp = cache::verified_stamp(&path, expected);
    if trust_stamps && stamp.as_deref().is_some_and(cache::is_plain_file) {
        return Ok(path);
    }
    let bytes = std::fs::read(&path).map_err(|_| FeatureError::MissingModel { path: path.clone() })?;
    let found = sha256_hex(&bytes);
    if &found != expected {
        return Err(FeatureError::Checksum { path, expected: expected.clone(), found });
    }
    if let Some(stamp) = stamp {
        cache::mark_verified(&stamp);
    }
    Ok(path)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

static ENVIRONMENT: OnceLock<Result<Environment, String>> = OnceLock::new();

/// The process-wide ONNX Runtime environment, loading the shared library on first use.
pub fn environment(cfg: &FeaturesConfig, models: &Path) -> Result<Environment, FeatureError> {
    let lib = cfg
        .ort_library
        .clone()
        .or_else(|| std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from))
        .unwrap_or_else(|| models.join(ORT_LIBRARY));
    ENVIRONMENT
        .get_or_init(|| {
            if !lib.is_file() {
                return Err(format!("{}: not found; run scripts/setup.sh or set ORT_DYLIB_PATH", lib.display()));
            }
            // ort panics (rather than erroring) on some load failures; contain it.
            let lib2 = lib.clone();
            std::panic::catch_unwind(move || {
                ort::init_from(&lib2)
                    .map_err(|e| e.to_string())?
                    .with_name("refinevad")
                    .build()
                    .map_err(|e| e.to_string())
            })
            .unwrap_or_else(|_| Err("the library could not be initialised (wrong ONNX Runtime version?)".into()))
        })
        .clone()
        .map_err(|reason| FeatureError::Runtime { path: lib, reason })
}

/// Builds a session for `model` on `device`. A GPU provider that cannot be registered is
/// an error (`error_on_failure`), never a silent CPU fallback. On the CPU, with the
/// model's checksum known, the optimised graph is cached (`features::cache`).
pub fn session(
    env: &Environment,
    model: &Path,
    model_sha256: Option<&str>,
    device: Device,
    intra_threads: usize,
    trt_cache: Option<&Path>,
    stage: &str,
) -> Result<Session, FeatureError> {
    let name = model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let serr = |e: ort::Error| FeatureError::Session { model: name.clone(), reason: e.to_string() };
    let builder = || -> Result<SessionBuilder, FeatureError> {
        let b = Session::builder(env).map_err(serr)?;
        // Idle intra-op threads would spin between batches, burning the CPU the decoders
        // share with inference; on few cores that costs more than the wake-up latency.
        let mut b = b.with_intra_op_spinning(false).map_err(|e| serr(e.into()))?;
        if intra_threads > 0 {
            b = b.with_intra_threads(intra_threads).map_err(|e| serr(e.into()))?;
        }
        // Batch sizes vary (partial batches, the last run of a batch): a memory pattern is
        // planned and kept per input shape, which multiplied the arena for nothing.
        b = b.with_memory_pattern(false).map_err(|e| serr(e.into()))?;
        register_provider(b, device, trt_cache)
    };
    let cache = match (device, model_sha256) {
        (Device::Cpu, Some(sha)) => cache::graph_entry(sha, ort::info()),
        _ => None,
    };
    let session = match cache {
        Some(entry) => cached_session(&builder, model, &entry).map_err(serr)?,
        None => builder()?.commit_from_file(model).map_err(serr)?,
    };
    let provider = match device {
        Device::Cpu => "CPUExecutionProvider",
        Device::Cuda(_) => "CUDAExecutionProvider",
        Device::TensorRt(_) => "TensorrtExecutionProvider",
    };
    ProviderSelected { stage, device: &device.to_string(), provider }.emit();
    Ok(session)
}

/// A CPU session from the cached optimised graph `entry`, or from `model` with the
/// optimised graph saved to `entry` for the next start. Saving is best effort: if it
/// fails (a full disk, a read-only cache), the session is built without it.
fn cached_session(
    builder: &dyn Fn() -> Result<SessionBuilder, FeatureError>,
    model: &Path,
    entry: &Path,
) -> Result<Session, ort::Error> {
    let rebuild = |e: FeatureError| ort::Error::new(e.to_string());
    if cache::is_plain_file(entry) {
        let cached = builder()
            .map_err(rebuild)?
            .with_optimization_level(GraphOptimizationLevel::Disable)
            .map_err(ort::Error::<()>::from)
            .and_then(|mut b| b.commit_from_file(entry));
        match cached {
            Ok(session) => return Ok(session),
            Err(e) => tracing::warn!(path = %entry.display(), "optimised graph unusable, optimising again: {e}"),
        }
    }
    cache::sweep_temps(entry);
    if let Some(tmp) = cache::reserve_temp(entry) {
        let saving = builder()
            .map_err(rebuild)?
            .with_optimized_model_path(&tmp)
            .map_err(ort::Error::<()>::from)
            .and_then(|mut b| b.commit_from_file(model));
        match saving {
            Ok(session) => {
                cache::commit_temp(&tmp, entry);
                return Ok(session);
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                tracing::debug!(path = %entry.display(), "optimised graph not saved: {e}");
            }
        }
    }
    builder().map_err(rebuild)?.commit_from_file(model)
}

#[allow(unused_variables)]
fn register_provider(
    builder: ort::session::builder::SessionBuilder,
    device: Device,
    trt_cache: Option<&Path>,
) -> Result<ort::session::builder::SessionBuilder, FeatureError> {
    let unavailable = |feature: &str| FeatureError::Provider {
        device: device.to_string(),
        reason: format!(
            "this build has no {feature} support; rebuild with `cargo build --release --features {feature}`"
        ),
    };
    match device {
        Device::Cpu => Ok(builder),
        #[cfg(feature = "cuda")]
        Device::Cuda(id) => {
            let ep = ort::ep::CUDA::default().with_device_id(id as i32).build().error_on_failure();
            builder.with_execution_providers([ep]).map_err(|e| FeatureError::Provider {
                device: device.to_string(),
                reason: format!("CUDA execution provider could not be registered: {}", ort::Error::<()>::from(e)),
            })
        }
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => Err(unavailable("cuda")),
        #[cfg(feature = "tensorrt")]
        Device::TensorRt(id) => {
            let mut ep = ort::ep::TensorRT::default().with_device_id(id as i32);
            if let Some(dir) = trt_cache {
                ep = ep.with_engine_cache(true).with_engine_cache_path(dir.display());
            }
            builder.with_execution_providers([ep.build().error_on_failure()]).map_err(|e| FeatureError::Provider {
                device: device.to_string(),
                reason: format!("TensorRT execution provider could not be registered: {}", ort::Error::<()>::from(e)),
            })
        }
        #[cfg(not(feature = "tensorrt"))]
        Device::TensorRt(_) => Err(unavailable("tensorrt")),
    }
}
