//! The outbox as an operator meets it: `refinevad alerts status|flush|replay` driven by
//! a pipeline file, one process per outbox, `max_pending`, and a torn log tail.
mod webhook_common;

use std::process::Command;
use std::time::Duration;

use refinevad::sinks::webhook::outbox;
use refinevad::sinks::{SinkConfig, SinkContext, SinkMsg, SinkSet, WebhookSinkConfig};
use webhook_common::*;

const BIN: &str = env!("CARGO_BIN_EXE_refinevad");

fn alerts(args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN).arg("alerts").args(args).env("WH_TEST_TOKEN", "tok-7").output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn pipeline_file_status_then_flush_delivers_with_the_sinks_settings() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let ob = dir.path().join("ob");
    let pipeline = dir.path().join("p.yaml");
    std::fs::write(
        &pipeline,
        format!(
            "name: demo\nsinks:\n  - type: jsonl\n    path: {}/e.jsonl\n  - type: webhook\n    url: http://{addr}/hook\n    outbox_dir: {}\n    \
             drain_timeout_s: 0.2\n    retry: {{ initial_backoff_s: 0.02, max_backoff_s: 0.1 }}\n    \
             headers:\n      Authorization: {{ env: WH_TEST_TOKEN, prefix: \"Bearer \" }}\n",
            dir.path().display(),
            ob.display()
        ),
    )
    .unwrap();
    let cfg = refinevad::config::load(&pipeline).unwrap();
    // The pipeline runs while the receiver is down: everything stays in the outbox.
    std::env::set_var("WH_TEST_TOKEN", "tok-7");
    let sinks = SinkSet::spawn(&cfg.sinks, &SinkContext { pipeline: cfg.name.clone(), ops: None }).unwrap();
    let sent: Vec<_> = (0..12).map(|m| message(m, 2)).collect();
    for e in &sent {
        sinks.send(SinkMsg::from(e.clone()));
    }
    let _ = sinks.close();
    let (ok, text) = alerts(&["status", "--pipeline", pipeline.to_str().unwrap()]);
    assert!(ok && text.contains("webhook[1]") && text.contains("pending: 12"), "{text}");
    assert!(text.contains("cam0: 6") && text.contains("cam1: 6"), "{text}");
    let (ok, json) = alerts(&["status", "--pipeline", pipeline.to_str().unwrap(), "--sink", "1", "--json"]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert!(ok && v["pending"] == 12 && v["dead_letters"] == 0 && v["oldest_pending_s"].as_f64().is_some(), "{json}");
    // The receiver is back: flush with the pipeline's URL and headers.
    let rx = Receiver::start_at(addr, |_, _| Action::ok());
    let (ok, text) = alerts(&["flush", "--pipeline", pipeline.to_str().unwrap(), "--timeout", "10"]);
    assert!(ok && text.contains("12 delivered"), "{text}");
    let acc = rx.accepted();
    let t = tally(&sent, &acc);
    eprintln!("outage during the run, then `alerts flush --pipeline`: {t}");
    assert_eq!(t, Tally { sent: 12, delivered: 12, ..Default::default() });
    assert!(acc.iter().all(|g| g.headers["authorization"] == "Bearer tok-7"));
    assert_eq!(outbox::status(&ob).unwrap().depth, 0);
}

#[test]
fn one_process_per_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(|_, _| Action::ok());
    let cfg = SinkConfig::Webhook(config(rx.url(), dir.path()));
    let first = SinkSet::spawn(std::slice::from_ref(&cfg), &SinkContext::default()).unwrap();
    let err = SinkSet::spawn(&[cfg], &SinkContext::default()).err().unwrap().to_string();
    assert!(err.contains("in use by another process"), "{err}");
    let (ok, text) = alerts(&["flush", "--outbox", dir.path().to_str().unwrap(), "--url", &rx.url()]);
    assert!(!ok && text.contains("in use"), "{text}");
    first.close();
}

#[test]
fn beyond_max_pending_events_go_to_dead_letters_and_replay_delivers_them() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let cfg =
        WebhookSinkConfig { max_pending: 4, drain_timeout_s: 0.1, ..config(format!("http://{addr}/hook"), dir.path()) };
    let sent: Vec<_> = (0..10).map(|m| message(m, 1)).collect();
    let sinks = SinkSet::spawn(&[SinkConfig::Webhook(cfg)], &SinkContext::default()).unwrap();
    for e in &sent {
        sinks.send(SinkMsg::from(e.clone()));
    }
    let _ = sinks.close();
    let st = outbox::status(dir.path()).unwrap();
    assert_eq!((st.depth, st.dead_letters), (4, 6), "{st:?}");
    let (dead, _) = outbox::read_dead_letters(dir.path()).unwrap();
    assert!(dead.iter().all(|d| d.reason == "outbox_full" && d.attempts == 0));
    let rx = Receiver::start_at(addr, |_, _| Action::ok());
    let (ok, text) = alerts(&["replay", "--outbox", dir.path().to_str().unwrap(), "--url", &rx.url()]);
    assert!(ok && text.contains("6 dead letter(s) re-queued") && text.contains("10 delivered"), "{text}");
    let t = tally(&sent, &rx.accepted());
    eprintln!("max_pending 4, 10 events, receiver down, then replay: {t}");
    assert_eq!((t.delivered, t.lost, t.duplicated), (10, 0, 0));
    let st = outbox::status(dir.path()).unwrap();
    assert_eq!((st.depth, st.dead_letters, st.locked), (0, 0, false));
}

#[test]
fn a_torn_log_tail_is_cut_and_the_rest_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let sent: Vec<_> = (0..9).map(|m| message(m, 3)).collect();
    let cfg = WebhookSinkConfig { drain_timeout_s: 0.1, ..config(format!("http://{addr}/hook"), dir.path()) };
    let sinks = SinkSet::spawn(&[SinkConfig::Webhook(cfg)], &SinkContext::default()).unwrap();
    for e in &sent {
        sinks.send(SinkMsg::from(e.clone()));
    }
    let _ = sinks.close();
    // A crash in the middle of an append: half a record at the end.
    let log = dir.path().join(outbox::LOG_FILE);
    let mut bytes = std::fs::read(&log).unwrap();
    let tail: Vec<u8> = bytes[..40].to_vec();
    bytes.extend_from_slice(&tail);
    std::fs::write(&log, &bytes).unwrap();
    assert_eq!(outbox::status(dir.path()).unwrap().torn_bytes, 40);
    let rx = Receiver::start_at(addr, |_, _| Action::ok());
    let sinks = SinkSet::spawn(&[SinkConfig::Webhook(config(rx.url(), dir.path()))], &SinkContext::default()).unwrap();
    for (_, r) in sinks.close() {
        r.unwrap();
    }
    let t = tally(&sent, &rx.wait(Duration::from_secs(1), |a| a.len() >= 9));
    assert_eq!(t, Tally { sent: 9, delivered: 9, ..Default::default() });
    let st = outbox::status(dir.path()).unwrap();
    assert_eq!((st.depth, st.torn_bytes), (0, 0));
}
