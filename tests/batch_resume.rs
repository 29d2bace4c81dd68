//! kill -9 in the middle of a batch, then the same command again (twice): the final
//! outputs are byte-for-byte those of an uninterrupted run (timing fields aside), every
//! input has exactly one result, finished inputs are not redone, and leftovers of the
//! killed run (temporary files, partial outputs of an unfinished video) are gone.
mod batch_common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use batch_common::*;

fn ledger_lines(out: &Path) -> usize {
    std::fs::read_to_string(out.join(".refinevad/ledger.jsonl"))
        .map_or(0, |t| t.lines().filter(|l| l.ends_with('}')).count())
}

/// Starts the batch and SIGKILLs it once the ledger has more than `after` lines.
/// Returns the number of lines at the kill.
fn run_and_kill(args: &[String], out: &Path, after: usize) -> usize {
    let mut child = bin().arg("batch").args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let t0 = Instant::now();
    loop {
        if ledger_lines(out) > after {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the batch finished ({status}) before it could be killed: make the archive longer");
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "no ledger line after 120 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    ledger_lines(out)
}

#[test]
fn kill_9_mid_run_then_rerun_matches_a_clean_run() {
    let t = tempfile::tempdir().unwrap();
    let archive = t.path().join("archive");
    // Sorted by key: a short clip first, then the long campus clip, then more.
    make_clip(&archive.join("a/first.mp4"), 32, 16, "ball");
    std::fs::create_dir_all(archive.join("b")).unwrap();
    std::fs::copy(root().join("data/samples/vtest.avi"), archive.join("b/campus.avi"))
        .expect("data/samples/vtest.avi: run scripts/setup.sh first");
    make_clip(&archive.join("c/second.mp4"), 64, 16, "smpte");
    make_clip(&archive.join("c/third.mp4"), 48, 16, "snow");
    std::fs::write(archive.join("c/broken.mp4"), b"not a video").unwrap();
    make_head(&t.path().join("head"));
    let pipeline = write_pipeline(t.path(), &t.path().join("head"), 2);
    let total = 5;
    let args = |out: &Path| -> Vec<String> {
        ["--pipeline", &s(&pipeline), "--out", &s(out), "--quiet", &s(&archive)].iter().map(|x| x.to_string()).collect()
    };

    // Clean, uninterrupted run.
    let clean_dir = t.path().join("clean");
    let o = bin().arg("batch").args(args(&clean_dir)).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let clean = tree(&clean_dir);

    // Killed after the first finished video, resumed, killed again, resumed to the end.
    let out = t.path().join("resumed");
    let n1 = run_and_kill(&args(&out), &out, 0);
    assert!(n1 < total, "killed after {n1} of {total}: not mid-run");
    // Emulate a kill between two output writes of an unfinished video: a partial output
    // and a temporary file of the atomic writer.
    std::fs::create_dir_all(out.join("c")).unwrap();
    std::fs::write(out.join("c/third.scores.csv"), b"segment,frame_start\n0,").unwrap();
    std::fs::write(out.join("c/.third.png.tmp-999999"), b"partial").unwrap();
    let mut ledger_before = std::fs::read_to_string(out.join(".refinevad/ledger.jsonl")).unwrap();
    // And a torn last ledger line (kill in the middle of the append).
    ledger_before.push_str("{\"v\":1,\"key\":\"c/thi");
    std::fs::write(out.join(".refinevad/ledger.jsonl"), &ledger_before).unwrap();
    let n2 = run_and_kill(&args(&out), &out, n1);
    assert!(n2 > n1);
    eprintln!("killed after {n1}, then after {n2} of {total} ledger lines");
    let o = bin().arg("batch").args(args(&out)).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let log = text(&o);
    assert!(log.contains(&format!("({n2} skipped as already done)")), "finished inputs must not be redone: {log}");

    assert_same_tree(&clean, &tree(&out));
    // One ledger line per input (plus nothing redone), whatever the interruptions.
    let ledger = std::fs::read_to_string(out.join(".refinevad/ledger.jsonl")).unwrap();
    let mut keys: Vec<String> = ledger
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["key"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    let n = keys.len();
    keys.dedup();
    assert_eq!((n, keys.len()), (total, total), "{ledger}");
}
