//! Visual review helper (ignored by default): renders contact sheets of injected events
//! without encoding, to look at them. Run e.g.
//! `SYNTH_CATS=Fire SYNTH_N=4 cargo test --release --test synth_stills -- --ignored --nocapture`
//! Env: SYNTH_CATS, SYNTH_VARIANTS (comma lists), SYNTH_N (videos), SYNTH_SEED,
//! SYNTH_FOOTAGE (file), SYNTH_OUT (folder, default /tmp/synth_sheets), SYNTH_SIZE (WxH).
use refinevad::synth::footage;
use refinevad::synth::plan::{plan_corpus, Category, PlanSettings};
use refinevad::synth::png::write_png;
use refinevad::synth::render::Renderer;

fn env_list(k: &str) -> Vec<String> {
    std::env::var(k)
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default()
}

#[test]
#[ignore]
fn contact_sheets() {
    let root = env!("CARGO_MANIFEST_DIR");
    let file = std::env::var("SYNTH_FOOTAGE").unwrap_or_else(|_| format!("{root}/data/samples/vtest.avi"));
    let out = std::path::PathBuf::from(std::env::var("SYNTH_OUT").unwrap_or_else(|_| "/tmp/synth_sheets".into()));
    std::fs::create_dir_all(&out).unwrap();
    let size = std::env::var("SYNTH_SIZE")
        .ok()
        .and_then(|s| s.split_once('x').map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap())))
        .unwrap_or((320, 240));
    let cats: Vec<Category> = {
        let l = env_list("SYNTH_CATS");
        if l.is_empty() {
            Category::ALL.to_vec()
        } else {
            l.iter().map(|c| Category::parse(c).expect("category")).collect()
        }
    };
    let n: usize = std::env::var("SYNTH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(cats.len());
    let settings = PlanSettings {
        videos: n,
        abnormal_fraction: 1.0,
        seconds: (8.0, 14.0),
        event_seconds: (3.0, 8.0),
        seed: std::env::var("SYNTH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(1),
        size,
        fps: None,
        span_range: (0.0, 1.0),
        categories: cats,
        variants: env_list("SYNTH_VARIANTS"),
        prefix: "sheet".into(),
    };
    let info = footage::probe(&file, size).unwrap();
    let (clip, _) = footage::decode(&file, (info.work_size[0], info.work_size[1]), None).unwrap();
    let plans = plan_corpus(&settings, &[info]);
    let (w, h) = (size.0 as usize, size.1 as usize);
    for plan in &plans {
        let e = &plan.events[0];
        let picks: Vec<u64> = [0.02, 0.2, 0.45, 0.8]
            .iter()
            .map(|f| e.start_frame + ((e.frames() as f64 * f) as u64).min(e.frames() - 1))
            .collect();
        let mut sheet = vec![0u8; w * 2 * h * 2 * 3];
        let mut r = Renderer::new(plan, &clip, true);
        let mut base = Renderer::new(plan, &clip, false);
        let diff = std::env::var("SYNTH_DIFF").is_ok();
        let mut i = 0;
        while let Some(mut frame) = r.next_frame() {
            let b = base.next_frame().unwrap();
            if diff {
                frame = frame.iter().zip(&b).map(|(x, y)| (x.abs_diff(*y) as u32 * 4).min(255) as u8).collect();
            }
            if let Some(slot) = picks.iter().position(|&p| p == i) {
                let (ox, oy) = ((slot % 2) * w, (slot / 2) * h);
                for y in 0..h {
                    let dst = ((oy + y) * w * 2 + ox) * 3;
                    sheet[dst..dst + w * 3].copy_from_slice(&frame[y * w * 3..(y + 1) * w * 3]);
                }
            }
            i += 1;
        }
        let p = out.join(format!("{}_{}.png", plan.name, e.variant));
        write_png(&p, w * 2, h * 2, &sheet).unwrap();
        println!("{} {} frames {:?} -> {}", plan.name, e.variant, picks, p.display());
        if std::env::var("SYNTH_PARAMS").is_ok() {
            println!("{:?}", e);
        }
    }
}

/// Fire and explosion alone on a grey background at several instants (2×4 sheet).
/// `cargo test --release --test synth_stills fx_sheet -- --ignored`
#[test]
#[ignore]
fn fx_sheet() {
    use refinevad::synth::effects::{explosion, fire, EventTime};
    use refinevad::synth::image::Img;
    let out = std::path::PathBuf::from(std::env::var("SYNTH_OUT").unwrap_or_else(|_| "/tmp/synth_sheets".into()));
    std::fs::create_dir_all(&out).unwrap();
    let (w, h) = (320usize, 240usize);
    for kind in ["fire", "explosion"] {
        let mut sheet = vec![0u8; w * 4 * h * 2 * 3];
        for slot in 0..8 {
            let t = 0.1 + slot as f32 * if kind == "fire" { 0.5 } else { 0.35 };
            let mut img =
                Img { w, h, px: (0..w * h * 3).map(|i| if (i / 3 / w) < h / 2 { 120.0 } else { 90.0 }).collect() };
            let et = EventTime { on: t, off: 10.0, dur: 3.0, exits: true, fps: 10.0 };
            if kind == "fire" {
                let p = fire::Fire {
                    x: 0.5,
                    y: 0.85,
                    width: 0.138,
                    height: 1.629,
                    growth_s: 1.058,
                    glow: 0.342,
                    smoke_opacity: 0.574,
                    wind: 0.494,
                };
                fire::draw(&mut img, &p, 16756818798677283282, &et);
            } else {
                let p = explosion::Explosion {
                    x: 0.5,
                    y: 0.7,
                    radius: 0.25,
                    flash: 0.8,
                    fireball: 0.9,
                    smoke_tone: 0.25,
                    smoke_opacity: 0.9,
                };
                explosion::draw(&mut img, &p, 42, &et);
            }
            let frame = img.to_rgb8();
            let (ox, oy) = ((slot % 4) * w, (slot / 4) * h);
            for y in 0..h {
                let dst = ((oy + y) * w * 4 + ox) * 3;
                sheet[dst..dst + w * 3].copy_from_slice(&frame[y * w * 3..(y + 1) * w * 3]);
            }
        }
        write_png(&out.join(format!("fx_{kind}.png")), w * 4, h * 2, &sheet).unwrap();
    }
}
