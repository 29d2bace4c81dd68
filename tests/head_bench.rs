//! Timing of the head at default size (not a correctness test; ignored):
//! `cargo test --release --test head_bench -- --ignored --nocapture`
//! env BENCH_D (input width, default 1024), BENCH_B (batch, 64), BENCH_T (segments, 256).
mod head_common;

use std::time::Instant;

use candle_core::Device;
use refinevad::features::layout::FeatureLayout;
use refinevad::model::rng::Rng;
use refinevad::model::HeadConfig;
use refinevad::train::{TrainRecipe, TrainVideo, Trainer};

fn env(k: &str, d: usize) -> usize {
    std::env::var(k).ok().and_then(|s| s.parse().ok()).unwrap_or(d)
}

#[test]
#[ignore]
fn bench_default_head() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    let (d, b, t) = (env("BENCH_D", 1024), env("BENCH_B", 64), env("BENCH_T", 256));
    let mut rng = Rng::new(0);
    let videos: Vec<TrainVideo> = (0..b)
        .map(|i| TrainVideo {
            name: format!("v{i}"),
            t,
            data: (0..t * d).map(|_| rng.normal()).collect(),
            category: (i % 2 == 1).then_some(i % 13),
        })
        .collect();
    let cats: Vec<String> = (0..13).map(|i| format!("C{i}")).collect();
    let mut tr = Trainer::new(
        HeadConfig::default(),
        TrainRecipe { steps: Some(3), batch_size: b, ..TrainRecipe::default() },
        videos.clone(),
        FeatureLayout::external(d),
        cats,
        None,
        &Device::Cpu,
    )
    .unwrap();
    println!("default head, D={d}: {} parameters", tr.model.num_params());
    tr.step().unwrap();
    let t0 = Instant::now();
    let n = 3;
    for _ in 0..n {
        tr.step().unwrap();
    }
    let step = t0.elapsed().as_secs_f64() / n as f64;
    println!("train step (batch {b} × {t} segments): {:.2} s", step);
    let segs = 1000;
    let x: Vec<f32> = (0..segs * d).map(|_| rng.normal()).collect();
    tr.predict(&x, segs).unwrap();
    let t0 = Instant::now();
    for _ in 0..3 {
        tr.predict(&x, segs).unwrap();
    }
    println!(
        "inference per 1,000 segments (windows of 256, overlap 64): {:.1} ms",
        t0.elapsed().as_secs_f64() / 3.0 * 1e3
    );
}
