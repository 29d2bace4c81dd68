//! `refinevad batch` on a real test archive (nested folders, real clips, an empty file, a
//! truncated MP4, a text file named .mp4, random bytes named .avi, a symlink loop): every
//! good video scored with all its outputs, every bad one reported with its cause, a re-run
//! skips everything and changes nothing; shards 0/3, 1/3, 2/3 cover every input exactly
//! once, give the same per-video outputs as the unsharded run, and `refinevad report`
//! merges them.
mod batch_common;

use std::collections::BTreeSet;
use std::path::Path;

use batch_common::*;

fn keys(summary: &serde_json::Value, status: &str) -> BTreeSet<String> {
    summary["videos"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["status"] == status)
        .map(|v| v["key"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn archive_good_scored_bad_reported_rerun_is_a_no_op_and_shards_partition() {
    let t = tempfile::tempdir().unwrap();
    let archive = t.path().join("archive");
    let (good, bad) = make_archive(&archive);
    make_head(&t.path().join("head"));
    let pipeline = write_pipeline(t.path(), &t.path().join("head"), 2);
    let out = t.path().join("out");
    let args = ["--pipeline", &s(&pipeline), "--out", &s(&out), "--quiet", &s(&archive)];

    // 1. Full run: exit code 1 with the failure count.
    let o = batch(&args);
    let log = text(&o);
    assert_eq!(o.status.code(), Some(1), "{log}");
    assert!(log.contains(&format!("finished with {} failure(s)", bad.len())), "{log}");
    let sum = summary(&out, "summary.json");
    assert_eq!(keys(&sum, "ok"), good.iter().map(|k| k.to_string()).collect(), "{sum:#}");
    assert_eq!(keys(&sum, "failed"), bad.iter().map(|k| k.to_string()).collect(), "{sum:#}");
    assert_eq!(sum["inputs"], good.len() + bad.len(), "the symlink loop adds nothing");
    // Causes are the source stage's, clear and specific.
    let failures = sum["failures"].as_array().unwrap();
    let cause = |key: &str| -> (String, String) {
        let f = failures.iter().find(|f| f["input"] == key).unwrap_or_else(|| panic!("{key} not in failures"));
        (f["kind"].as_str().unwrap().to_string(), f["cause"].as_str().unwrap().to_string())
    };
    let (kind, c) = cause("site-b/empty.mp4");
    assert_eq!(kind, "empty", "{c}");
    assert!(c.contains("empty.mp4") && c.contains("0 bytes"), "{c}");
    let (kind, c) = cause("site-a/notes.mp4");
    assert_eq!(kind, "not_video", "{c}");
    let (kind, c) = cause("site-b/truncated.mp4");
    assert_eq!(kind, "truncated", "{c}");
    assert!(c.contains("truncated.mp4") && c.contains("declares"), "{c}");
    let (kind, c) = cause("site-a/cam2/garbage.avi");
    assert!(!kind.is_empty() && c.contains("garbage.avi"), "{kind}: {c}");
    // Outputs mirror the archive; none for failures.
    for key in &good {
        let stem = key.rsplit_once('.').unwrap().0;
        for suffix in [".scores.csv", ".events.json", ".png"] {
            assert!(out.join(format!("{stem}{suffix}")).is_file(), "{stem}{suffix} missing");
        }
        let csv = std::fs::read_to_string(out.join(format!("{stem}.scores.csv"))).unwrap();
        assert!(
            csv.starts_with(
                "segment,frame_start,frame_end,time_start,time_end,score,p_Fire,p_Intrusion,p_VideoFault\n"
            ),
            "{csv}"
        );
        assert!(csv.lines().count() >= 3, "{csv}");
        let events: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join(format!("{stem}.events.json"))).unwrap()).unwrap();
        assert!(events.is_array());
    }
    for key in &bad {
        let stem = key.rsplit_once('.').unwrap().0;
        assert!(!out.join(format!("{stem}.scores.csv")).exists());
    }
    let v = sum["videos"].as_array().unwrap().iter().find(|v| v["key"] == "site-a/cam1/ball.mp4").unwrap();
    assert_eq!(v["frames"], 48);
    assert_eq!(v["segments"], 3);
    assert!((v["duration_s"].as_f64().unwrap() - 3.0).abs() < 1e-6, "{v}");
    assert!(v["peak_score"].as_f64().unwrap() > 0.0);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<table id=\"videos\">") && html.contains("<table id=\"failures\">"));
    assert_eq!(html.matches("data:image/png;base64,").count(), good.len());
    for key in good.iter().chain(&bad) {
        assert!(html.contains(key), "{key} not in the report");
    }
    let ledger = std::fs::read_to_string(out.join(".refinevad/ledger.jsonl")).unwrap();
    assert_eq!(ledger.lines().count(), good.len() + bad.len());
    let clean = tree(&out);
    assert!(!clean.keys().any(|k| k.contains(".tmp-")), "temporary files left: {:?}", clean.keys());

    // 2. Re-run: everything is skipped (failures too), nothing changes, no new ledger line.
    let o = batch(&args);
    let log = text(&o);
    assert_eq!(o.status.code(), Some(1), "{log}");
    assert!(log.contains(&format!("({} skipped as already done)", good.len() + bad.len())), "{log}");
    assert_same_tree(&clean, &tree(&out));
    assert_eq!(std::fs::read_to_string(out.join(".refinevad/ledger.jsonl")).unwrap(), ledger);

    // 3. --retry-failed redoes exactly the failures (they fail again, same causes).
    let mut retry = args.to_vec();
    retry.push("--retry-failed");
    let o = batch(&retry);
    assert!(text(&o).contains(&format!("({} skipped as already done)", good.len())), "{}", text(&o));
    let s2 = summary(&out, "summary.json");
    assert_eq!(s2["failures"], sum["failures"]);

    // 4. Shards: every input in exactly one shard, per-video outputs as the full run's.
    let mut seen = Vec::new();
    let mut shard_dirs = Vec::new();
    for i in 0..3 {
        let d = t.path().join(format!("shard-{i}"));
        let shard = format!("{i}/3");
        let o = batch(&["--pipeline", &s(&pipeline), "--out", &s(&d), "--quiet", "--shard", &shard, &s(&archive)]);
        assert!(matches!(o.status.code(), Some(0 | 1)), "{}", text(&o));
        let sum = summary(&d, &format!("summary.shard-{i}-of-3.json"));
        seen.extend(keys(&sum, "ok"));
        seen.extend(keys(&sum, "failed"));
        for (name, bytes) in tree(&d) {
            if name.ends_with(".scores.csv") || name.ends_with(".png") {
                assert!(clean.get(&name) == Some(&bytes), "shard {i}: {name} differs from the unsharded run");
            }
        }
        shard_dirs.push(d);
    }
    seen.sort();
    let mut all: Vec<String> = good.iter().chain(&bad).map(|k| k.to_string()).collect();
    all.sort();
    assert_eq!(seen, all, "shards must cover every input exactly once");

    // 5. `refinevad report` merges the shards into one summary and report.
    let merged = t.path().join("merged");
    let mut cmd = bin();
    cmd.arg("report").args(shard_dirs.iter().map(|d| s(d))).args(["--out", &s(&merged)]);
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let m = summary(&merged, "summary.json");
    assert_eq!(keys(&m, "ok"), keys(&sum, "ok"));
    assert_eq!(keys(&m, "failed"), keys(&sum, "failed"));
    assert_eq!(m["failures"], sum["failures"]);
    let html = std::fs::read_to_string(merged.join("report.html")).unwrap();
    assert_eq!(html.matches("data:image/png;base64,").count(), good.len());
    assert!(html.contains("href=\"../shard-"), "links point into the shard folders");
}

#[test]
fn globs_manifests_and_features() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a");
    make_clip(&a.join("x/one.mp4"), 32, 16, "ball");
    make_clip(&a.join("y/two.mp4"), 32, 16, "smpte");
    std::fs::write(a.join("list.csv"), "label,path\n1,x/one.mp4\n0,\"y/two.mp4\"\n").unwrap();
    make_head(&t.path().join("head"));
    let pipeline = write_pipeline(t.path(), &t.path().join("head"), 2);
    // A manifest with a path column, and --features.
    let out = t.path().join("out-manifest");
    let o = batch(&["--pipeline", &s(&pipeline), "--out", &s(&out), "--quiet", "--features", &s(&a.join("list.csv"))]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for f in ["x/one.scores.csv", "x/one.npy", "x/one.json", "y/two.png"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let npy = refinevad::io::npy::read_f32(&out.join("x/one.npy")).unwrap();
    assert_eq!(npy.shape, vec![2, 1714]);
    // A glob: keys relative to the literal part of the pattern.
    let out = t.path().join("out-glob");
    let pattern = format!("{}/**/*.mp4", s(&a));
    let o = batch(&["--pipeline", &s(&pipeline), "--out", &s(&out), "--quiet", &pattern]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let sum = summary(&out, "summary.json");
    assert_eq!(keys(&sum, "ok"), ["x/one.mp4", "y/two.mp4"].iter().map(|k| k.to_string()).collect());
    // The same outputs as through the manifest.
    let read = |d: &Path| std::fs::read(d.join("x/one.scores.csv")).unwrap();
    assert_eq!(read(&t.path().join("out-manifest")), read(&out));
    // A glob matching nothing is a listing failure, not a crash.
    let o = batch(&["--pipeline", &s(&pipeline), "--out", &s(&out), "--quiet", &format!("{}/*.mkv", s(&a)), &pattern]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("no file matches this pattern"), "{}", text(&o));
}

/// Manual use: writes a random head with the real layout to $BATCH_HEAD_DIR.
#[test]
#[ignore]
fn write_head_for_manual_runs() {
    let dir = std::env::var("BATCH_HEAD_DIR").expect("set BATCH_HEAD_DIR");
    make_head(Path::new(&dir));
}
