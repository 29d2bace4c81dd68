//! The batch report with annotations: metrics of `eval` in summary.json and report.html,
//! ground truth shaded on the plots; the report opens in headless Chromium and shows its
//! tables (screenshot decoded and checked for the table header's colour and text).
mod batch_common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use batch_common::*;

#[test]
fn report_with_metrics_renders_in_headless_chromium() {
    let t = tempfile::tempdir().unwrap();
    let archive = t.path().join("archive");
    make_clip(&archive.join("x/ball.mp4"), 64, 16, "ball");
    make_clip(&archive.join("y/smpte.mp4"), 48, 16, "smpte");
    std::fs::write(archive.join("y/broken.mp4"), b"").unwrap();
    let ann = t.path().join("ann.txt");
    std::fs::write(&ann, "ball.mp4  Fire  16  40  -1  -1\nsmpte.mp4  Normal  -1  -1  -1  -1\n").unwrap();
    make_head(&t.path().join("head"));
    let pipeline = write_pipeline(t.path(), &t.path().join("head"), 2);
    let out = t.path().join("out");
    let o =
        batch(&["--pipeline", &s(&pipeline), "--out", &s(&out), "--quiet", "--annotations", &s(&ann), &s(&archive)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("metrics: AUC="), "{}", text(&o));
    let sum = summary(&out, "summary.json");
    let m = &sum["metrics"];
    assert_eq!(m["n_videos"], 2, "{sum:#}");
    assert_eq!(m["n_abnormal_videos"], 1);
    for k in ["auc", "ap", "category_accuracy"] {
        assert!(m[k].is_number(), "{k} missing: {m}");
    }
    // Ground truth shaded (palette index 1) on the annotated video's plot only.
    assert!(png_palette_indices(&out.join("x/ball.png")).contains(&1));
    assert!(!png_palette_indices(&out.join("y/smpte.png")).contains(&1));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<table id=\"metrics\">"));

    // Adding annotations later redraws the plots without re-scoring.
    let out2 = t.path().join("out2");
    batch(&["--pipeline", &s(&pipeline), "--out", &s(&out2), "--quiet", &s(&archive)]);
    assert!(!png_palette_indices(&out2.join("x/ball.png")).contains(&1));
    let o =
        batch(&["--pipeline", &s(&pipeline), "--out", &s(&out2), "--quiet", "--annotations", &s(&ann), &s(&archive)]);
    assert!(text(&o).contains("(3 skipped as already done, 2 plot(s) redrawn)"), "{}", text(&o));
    assert_eq!(std::fs::read(out2.join("x/ball.png")).unwrap(), std::fs::read(out.join("x/ball.png")).unwrap());

    // Headless Chromium screenshot.
    let shot = t.path().join("shot.png");
    screenshot(&out.join("report.html"), &shot, t.path());
    let (w, h, rgb) = decode_png_rgb(&std::fs::read(&shot).unwrap());
    assert_eq!((w, h), (1200, 800), "screenshot size");
    let count = |c: [u8; 3]| rgb.chunks(3).filter(|p| p == &c).count();
    let header = count([0xf2, 0xf4, 0xf8]); // table header background
    let white = count([255, 255, 255]);
    let dark = rgb.chunks(3).filter(|p| p.iter().all(|&v| v < 90)).count(); // text
    let total = w * h;
    assert!(white < total * 95 / 100, "blank page: {white} of {total} pixels are white");
    assert!(header > 2_000, "no table header visible ({header} header pixels)");
    assert!(dark > 1_000, "no text visible ({dark} dark pixels)");
}

/// Runs headless Chromium; fails with a clear message when it is not installed.
fn screenshot(html: &Path, png: &Path, tmp: &Path) {
    let exe = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .expect(
            "headless Chromium is needed for this test: `apt-get install -y chromium` (scripts/setup.sh installs it)",
        );
    let profile = tmp.join("chromium-profile");
    let mut child = Command::new(exe)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--screenshot={}", png.display()),
            "--window-size=1200,800",
            &format!("file://{}", html.canonicalize().unwrap().display()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(png.is_file(), "chromium wrote no screenshot");
}

/// Palette indices used by one of the plot PNGs (8-bit palette, filter 0 rows).
fn png_palette_indices(p: &Path) -> std::collections::BTreeSet<u8> {
    let b = std::fs::read(p).unwrap();
    let raw = miniz_oxide::inflate::decompress_to_vec_zlib(&idat(&b)).unwrap();
    raw.into_iter().collect()
}

fn idat(b: &[u8]) -> Vec<u8> {
    assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let (mut i, mut data) = (8, Vec::new());
    while i + 8 <= b.len() {
        let len = u32::from_be_bytes(b[i..i + 4].try_into().unwrap()) as usize;
        if &b[i + 4..i + 8] == b"IDAT" {
            data.extend_from_slice(&b[i + 8..i + 8 + len]);
        }
        i += 12 + len;
    }
    data
}

/// Decodes an 8-bit RGB or RGBA PNG (what Chromium writes) to RGB.
fn decode_png_rgb(b: &[u8]) -> (usize, usize, Vec<u8>) {
    let w = u32::from_be_bytes(b[16..20].try_into().unwrap()) as usize;
    let h = u32::from_be_bytes(b[20..24].try_into().unwrap()) as usize;
    let (depth, color) = (b[24], b[25]);
    assert_eq!(depth, 8, "bit depth");
    let bpp = match color {
        2 => 3,
        6 => 4,
        c => panic!("unexpected PNG colour type {c}"),
    };
    let raw = miniz_oxide::inflate::decompress_to_vec_zlib(&idat(b)).unwrap();
    let stride = w * bpp;
    assert_eq!(raw.len(), h * (stride + 1));
    let mut img = vec![0u8; h * stride];
    for y in 0..h {
        let f = raw[y * (stride + 1)];
        let line = &raw[y * (stride + 1) + 1..(y + 1) * (stride + 1)];
        for x in 0..stride {
            let a = if x >= bpp { img[y * stride + x - bpp] as i32 } else { 0 };
            let up = if y > 0 { img[(y - 1) * stride + x] as i32 } else { 0 };
            let c = if x >= bpp && y > 0 { img[(y - 1) * stride + x - bpp] as i32 } else { 0 };
            let pred = match f {
                0 => 0,
                1 => a,
                2 => up,
                3 => (a + up) / 2,
                4 => {
                    let p = a + up - c;
                    let (pa, pb, pc) = ((p - a).abs(), (p - up).abs(), (p - c).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        up
                    } else {
                        c
                    }
                }
                f => panic!("bad PNG filter {f}"),
            };
            img[y * stride + x] = (line[x] as i32 + pred) as u8;
        }
    }
    let rgb = img.chunks(bpp).flat_map(|p| p[..3].to_vec()).collect();
    (w, h, rgb)
}
