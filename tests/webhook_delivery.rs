//! Reliable webhook delivery against a real receiver on 127.0.0.1 with scripted faults:
//! every message delivered, once per key as far as the receiver answered, in order per
//! stream; signing; dead letters and replay; a slow receiver never stalls the sender.
//! Each fault test prints its delivered/lost/duplicated tally.
mod webhook_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use refinevad::events::Event;
use refinevad::sinks::webhook::outbox;
use refinevad::sinks::webhook::{WebhookEnvHeader, WebhookHeaderValue, WebhookRateLimitConfig, WebhookRetryConfig};
use refinevad::sinks::{SinkConfig, SinkContext, SinkError, SinkMsg, SinkSet, WebhookSinkConfig};
use refinevad::telemetry::http::OpsState;
use refinevad::telemetry::registry;
use webhook_common::*;

fn run(cfg: WebhookSinkConfig, msgs: &[Event]) -> Vec<(String, Result<(), SinkError>)> {
    let sinks = SinkSet::spawn(&[SinkConfig::Webhook(cfg)], &SinkContext::default()).unwrap();
    for e in msgs {
        sinks.send(SinkMsg::from(e.clone()));
    }
    sinks.close()
}

fn msgs(n: u64, streams: u64) -> Vec<Event> {
    (0..n).map(|m| message(m, streams)).collect()
}

#[test]
fn healthy_receiver_everything_once_in_order_with_latency() {
    const N: u64 = 600;
    let rx = Receiver::start(|_, _| Action::ok());
    let dir = tempfile::tempdir().unwrap();
    let sent = msgs(N, 8);
    let sinks = SinkSet::spawn(&[SinkConfig::Webhook(config(rx.url(), dir.path()))], &SinkContext::default()).unwrap();
    let t0 = Instant::now();
    let mut sent_at = Vec::new();
    for e in &sent {
        sent_at.push(Instant::now());
        sinks.send(SinkMsg::from(e.clone()));
    }
    let send_time = t0.elapsed();
    for (name, r) in sinks.close() {
        r.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let took = t0.elapsed();
    let acc = rx.accepted();
    let t = tally(&sent, &acc);
    eprintln!("healthy: {t}");
    assert_eq!(t, Tally { sent: N as usize, delivered: N as usize, ..Default::default() });
    // Latency from SinkSet::send to the receiver's arrival (persist + queue + request).
    let idx: std::collections::HashMap<String, usize> = sent.iter().enumerate().map(|(i, e)| (key(e), i)).collect();
    let mut lat: Vec<Duration> = acc.iter().map(|g| g.at.duration_since(sent_at[idx[g.key()]])).collect();
    let (p50, p99) = (quantile(&mut lat, 0.5), quantile(&mut lat, 0.99));
    eprintln!(
        "healthy: {N} messages, 8 streams, concurrency 2: sent in {send_time:?}, all delivered in {took:?} \
         ({:.0} msg/s); latency send->receiver p50 {p50:?} p99 {p99:?}",
        N as f64 / took.as_secs_f64()
    );
    let st = outbox::status(dir.path()).unwrap();
    assert_eq!((st.depth, st.dead_letters), (0, 0));
}

#[test]
fn idle_latency_to_a_healthy_receiver() {
    // One message at a time (the live case): the latency of one alert, not of a backlog.
    let rx = Receiver::start(|_, _| Action::ok());
    let dir = tempfile::tempdir().unwrap();
    let sinks = SinkSet::spawn(&[SinkConfig::Webhook(config(rx.url(), dir.path()))], &SinkContext::default()).unwrap();
    let mut lat = Vec::new();
    for m in 0..100 {
        let t0 = Instant::now();
        sinks.send(SinkMsg::from(message(m, 4)));
        let got = rx.wait(Duration::from_secs(5), |a| a.len() > m as usize);
        assert_eq!(got.len(), m as usize + 1);
        lat.push(got.iter().find(|g| g.n == m as usize).unwrap().at.duration_since(t0));
    }
    for (_, r) in sinks.close() {
        r.unwrap();
    }
    let (p50, p99) = (quantile(&mut lat, 0.5), quantile(&mut lat, 0.99));
    eprintln!("idle latency (send -> receiver, incl. fsync): p50 {p50:?} p99 {p99:?}");
    assert!(p99 < Duration::from_secs(1), "{p99:?}");
}

#[test]
fn faults_fail_first_429_hang_and_close_everything_delivered_in_order() {
    // Requests 0..40 cycle through faults; then healthy.
    let rx = Receiver::start(|n, _| {
        if n >= 40 {
            return Action::ok();
        }
        match n % 4 {
            0 => Action::status(503),
            1 => Action::Respond { status: 429, retry_after: Some("0".into()), delay: Duration::ZERO },
            2 => Action::hang(Duration::from_millis(700)), // past the 300 ms timeout
            _ => Action::Close,
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let sent = msgs(90, 3);
    let cfg = WebhookSinkConfig { timeout_s: 0.3, connect_timeout_s: 0.3, ..config(rx.url(), dir.path()) };
    for (name, r) in run(cfg, &sent) {
        r.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let t = tally(&sent, &rx.accepted());
    eprintln!("faults (503 / 429 / hang / close, 40 requests): {t}; requests {}", rx.all().len());
    assert_eq!((t.delivered, t.lost, t.out_of_order_streams), (90, 0, 0), "{t}");
    // Only a hung request the client gave up on can be a duplicate.
    assert!(t.duplicated <= 10, "{t}");
    assert_eq!(outbox::status(dir.path()).unwrap().depth, 0);
}

#[test]
fn retry_after_is_honoured() {
    let rx = Receiver::start(|n, _| {
        if n == 0 {
            Action::Respond { status: 503, retry_after: Some("1".into()), delay: Duration::ZERO }
        } else {
            Action::ok()
        }
    });
    let dir = tempfile::tempdir().unwrap();
    for (_, r) in run(config(rx.url(), dir.path()), &msgs(1, 1)) {
        r.unwrap();
    }
    let all = rx.all();
    assert_eq!(all.len(), 2);
    let gap = all[1].at.duration_since(all[0].at);
    assert!(gap >= Duration::from_millis(950) && gap < Duration::from_millis(1800), "{gap:?}");
    assert_eq!(all[0].key(), all[1].key(), "a retry carries the same Idempotency-Key");
    assert_eq!(all[0].body, all[1].body);
}

#[test]
fn receiver_down_then_back_everything_delivered() {
    let addr = free_addr();
    let dir = tempfile::tempdir().unwrap();
    let sent = msgs(60, 4);
    let cfg = config(format!("http://{addr}/hook"), dir.path());
    let sinks = SinkSet::spawn(&[SinkConfig::Webhook(cfg)], &SinkContext::default()).unwrap();
    let t0 = Instant::now();
    for e in &sent {
        sinks.send(SinkMsg::from(e.clone()));
    }
    assert!(t0.elapsed() < Duration::from_secs(1), "sending does not wait for the receiver: {:?}", t0.elapsed());
    std::thread::sleep(Duration::from_millis(1500)); // down: connections refused, retried
    let rx = Receiver::start_at(addr, |_, _| Action::ok());
    for (name, r) in sinks.close() {
        r.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let t = tally(&sent, &rx.accepted());
    eprintln!("receiver down 1.5 s then back: {t}");
    assert_eq!(t, Tally { sent: 60, delivered: 60, ..Default::default() });
}

#[test]
fn signature_verifies_and_a_tampered_body_fails() {
    std::env::set_var("WEBHOOK_TEST_SECRET_A", "topsecret");
    std::env::set_var("WEBHOOK_TEST_TOKEN_A", "tok-42");
    let rx = Receiver::start(|_, _| Action::ok());
    let dir = tempfile::tempdir().unwrap();
    let cfg = WebhookSinkConfig {
        secret_env: Some("WEBHOOK_TEST_SECRET_A".into()),
        headers: [
            (
                "Authorization".to_owned(),
                WebhookHeaderValue::Env(WebhookEnvHeader {
                    env: "WEBHOOK_TEST_TOKEN_A".into(),
                    prefix: "Bearer ".into(),
                }),
            ),
            ("X-Team".to_owned(), "ops".into()),
        ]
        .into(),
        ..config(rx.url(), dir.path())
    };
    let sent = msgs(3, 1);
    for (_, r) in run(cfg, &sent) {
        r.unwrap();
    }
    let acc = rx.accepted();
    assert_eq!(acc.len(), 3);
    for (g, e) in acc.iter().zip(&sent) {
        assert!(signature_ok(b"topsecret", g, &g.body), "signature verifies");
        assert!(!signature_ok(b"wrong", g, &g.body), "wrong secret fails");
        let mut tampered = g.body.clone();
        let i = tampered.iter().position(|&b| b == b'9').unwrap();
        tampered[i] = b'1';
        assert!(!signature_ok(b"topsecret", g, &tampered), "tampered body fails");
        assert_eq!(g.headers["authorization"], "Bearer tok-42");
        assert_eq!(g.headers["x-team"], "ops");
        assert_eq!(g.key(), key(e));
        let body: Event = serde_json::from_slice(&g.body).unwrap();
        assert_eq!(&body, e);
    }
}

#[test]
fn secret_from_file_and_missing_header_env_fails_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "filesecret\n").unwrap();
    let rx = Receiver::start(|_, _| Action::ok());
    let cfg = WebhookSinkConfig { secret_file: Some(secret), ..config(rx.url(), &dir.path().join("ob")) };
    for (_, r) in run(cfg, &msgs(1, 1)) {
        r.unwrap();
    }
    let g = &rx.accepted()[0];
    assert!(signature_ok(b"filesecret", g, &g.body));
    let cfg = WebhookSinkConfig {
        headers: [(
            "Authorization".to_owned(),
            WebhookHeaderValue::Env(WebhookEnvHeader {
                env: "WEBHOOK_TEST_NO_SUCH_TOKEN".into(),
                prefix: String::new(),
            }),
        )]
        .into(),
        ..config(rx.url(), &dir.path().join("ob2"))
    };
    let err = SinkSet::spawn(&[SinkConfig::Webhook(cfg)], &SinkContext::default()).err().unwrap().to_string();
    assert!(err.contains("headers.Authorization") && err.contains("WEBHOOK_TEST_NO_SUCH_TOKEN"), "{err}");
}

#[test]
fn budget_exhausted_goes_to_dead_letters_and_replay_delivers() {
    let rx = Receiver::start(|n, _| if n < 6 { Action::status(500) } else { Action::ok() });
    let dir = tempfile::tempdir().unwrap();
    let sent = msgs(3, 1);
    let cfg = WebhookSinkConfig {
        retry: WebhookRetryConfig { max_attempts: 2, ..config(String::new(), dir.path()).retry },
        ..config(rx.url(), dir.path())
    };
    let results = run(cfg, &sent);
    match &results[0].1 {
        Err(SinkError::Undelivered { failed: 3, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert!(rx.accepted().is_empty());
    let (dead, _) = outbox::read_dead_letters(dir.path()).unwrap();
    assert_eq!(dead.len(), 3);
    assert!(dead.iter().all(|d| d.attempts == 2 && d.reason == "max_attempts" && d.last_error.contains("500")));
    assert_eq!(
        dead.iter().map(|d| d.idempotency_key.clone()).collect::<Vec<_>>(),
        sent.iter().map(key).collect::<Vec<_>>()
    );
    assert!(!dead[0].first_attempt.is_empty() && dead[0].last_attempt >= dead[0].first_attempt);
    // `refinevad alerts replay --outbox DIR --url URL`
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_refinevad"))
        .args(["alerts", "status", "--outbox", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("pending: 0") && text.contains("dead letters: 3"), "{text}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_refinevad"))
        .args(["alerts", "replay", "--outbox", dir.path().to_str().unwrap(), "--url", &rx.url(), "--timeout", "10"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("3 dead letter(s) re-queued"), "{text}");
    let t = tally(&sent, &rx.accepted());
    eprintln!("budget exhausted -> dead letters -> replay: {t}");
    assert_eq!(t, Tally { sent: 3, delivered: 3, ..Default::default() });
    let st = outbox::status(dir.path()).unwrap();
    assert_eq!((st.depth, st.dead_letters), (0, 0));
}

#[test]
fn a_4xx_is_dead_lettered_at_once_and_later_messages_go_on() {
    let rx = Receiver::start(|n, _| if n == 0 { Action::status(400) } else { Action::ok() });
    let dir = tempfile::tempdir().unwrap();
    let sent = msgs(3, 1);
    let results = run(config(rx.url(), dir.path()), &sent);
    assert!(matches!(&results[0].1, Err(SinkError::Undelivered { failed: 1, .. })), "{results:?}");
    assert_eq!(rx.all().len(), 3, "no retry of a 400");
    let (dead, _) = outbox::read_dead_letters(dir.path()).unwrap();
    assert_eq!((dead.len(), dead[0].reason.as_str(), dead[0].attempts), (1, "rejected", 1));
}

#[test]
fn a_hanging_receiver_never_stalls_the_sender_and_a_restart_resumes() {
    const N: u64 = 300;
    let hang = Receiver::start(|_, _| Action::hang(Duration::from_secs(3)));
    let dir = tempfile::tempdir().unwrap();
    let sent = msgs(N, 4);
    let cfg = WebhookSinkConfig { timeout_s: 0.5, drain_timeout_s: 0.2, ..config(hang.url(), dir.path()) };
    let sinks = SinkSet::spawn(&[SinkConfig::Webhook(cfg)], &SinkContext::default()).unwrap();
    let t0 = Instant::now();
    for e in &sent {
        sinks.send(SinkMsg::from(e.clone()));
    }
    let send_time = t0.elapsed();
    let results = sinks.close();
    let close_time = t0.elapsed();
    assert!(matches!(&results[0].1, Err(SinkError::Undelivered { .. })), "{results:?}");
    eprintln!(
        "hanging receiver: {N} messages sent in {send_time:?} (persisted, not waiting), closed at {close_time:?}"
    );
    assert!(send_time < Duration::from_secs(3), "{send_time:?}");
    assert!(close_time < Duration::from_secs(4), "{close_time:?}");
    assert!(outbox::status(dir.path()).unwrap().depth >= N as usize - 4, "left in the outbox");
    // A new process (here: a new SinkSet) on the same outbox delivers what was left.
    hang.stop();
    let rx = Receiver::start(|_, _| Action::ok());
    for (_, r) in run(config(rx.url(), dir.path()), &[]) {
        r.unwrap();
    }
    let t = tally(&sent, &rx.accepted());
    eprintln!("hanging receiver then restart: {t}");
    assert_eq!((t.delivered, t.lost, t.out_of_order_streams), (N as usize, 0, 0), "{t}");
}

#[test]
fn rate_limit_suppresses_whole_events_and_counts_them() {
    let rx = Receiver::start(|_, _| Action::ok());
    let dir = tempfile::tempdir().unwrap();
    // 10 events (30 messages) on one stream, 10 video seconds apart: 2 per minute pass.
    let sent = msgs(30, 1);
    let cfg = WebhookSinkConfig {
        rate_limit: Some(WebhookRateLimitConfig { per_stream_category_per_min: Some(2), cooldown_s: None }),
        outbox_dir: Some(dir.path().into()),
        ..config(rx.url(), dir.path())
    };
    let c = || {
        registry()
            .counter_value("refinevad_webhook_suppressed_total", &[("sink", "webhook[0]"), ("reason", "rate_limit")])
    };
    let before = c();
    for (_, r) in run(cfg, &sent) {
        r.unwrap();
    }
    let acc = rx.accepted();
    // Events at 0,10 pass; 20..50 suppressed; 60,70 pass (window slid); 80,90 suppressed.
    let events: std::collections::BTreeSet<String> =
        acc.iter().map(|g| g.json()["event_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(acc.len(), 12, "every passed event is whole: opened, updated, closed");
    assert!(c() - before >= 18, "suppressed messages counted");
}

#[test]
fn template_payload_is_rendered_and_persisted() {
    let rx = Receiver::start(|_, _| Action::ok());
    let dir = tempfile::tempdir().unwrap();
    let tpl = dir.path().join("slack.json");
    std::fs::write(&tpl, r#"{"text": "{{status_upper}}: {{category}} on {{stream}} (peak {{peak_score}})", "id": "{{idempotency_key}}"}"#)
        .unwrap();
    let cfg = WebhookSinkConfig { template: Some(tpl), ..config(rx.url(), &dir.path().join("ob")) };
    SinkConfig::Webhook(cfg.clone()).validate().unwrap();
    let sent = msgs(3, 1);
    for (_, r) in run(cfg, &sent) {
        r.unwrap();
    }
    let acc = rx.accepted();
    assert_eq!(acc[0].json()["text"], "OPENED: Fire on cam0 (peak 0.93)");
    assert_eq!(acc[2].json()["id"], key(&sent[2]));
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"text": {{stream}}}"#).unwrap();
    let e = SinkConfig::Webhook(WebhookSinkConfig { template: Some(bad), ..config(rx.url(), dir.path()) })
        .validate()
        .unwrap_err();
    assert!(e.key == "template" && e.reason.contains("not valid JSON"), "{e}");
}

#[test]
fn healthz_degraded_while_the_outbox_backs_up() {
    let addr = free_addr();
    let dir = tempfile::tempdir().unwrap();
    let ops = Arc::new(OpsState::default());
    let cfg = WebhookSinkConfig { degraded_depth: 5, ..config(format!("http://{addr}/hook"), dir.path()) };
    let ctx = SinkContext { pipeline: "t".into(), ops: Some(ops.clone()) };
    let sinks = SinkSet::spawn(&[SinkConfig::Webhook(cfg)], &ctx).unwrap();
    for e in msgs(10, 2) {
        sinks.send(SinkMsg::from(e));
    }
    let status = || ops.health.lock().unwrap().status.clone();
    let until = Instant::now() + Duration::from_secs(5);
    while status() != "degraded" && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(status(), "degraded");
    let comp = ops.health.lock().unwrap().components["sink.webhook[0]"].clone();
    assert!(comp.starts_with("degraded: webhook outbox has 10 pending"), "{comp}");
    let _rx = Receiver::start_at(addr, |_, _| Action::ok());
    let until = Instant::now() + Duration::from_secs(10);
    while status() != "ok" && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(status(), "ok");
    for (_, r) in sinks.close() {
        r.unwrap();
    }
}

#[test]
fn idempotency_keys_are_stable_across_retries_and_restarts() {
    // First process: the receiver fails everything; the sink stops with work left.
    let fail = Receiver::start(|_, _| Action::status(503));
    let dir = tempfile::tempdir().unwrap();
    let sent = msgs(6, 2);
    let cfg = WebhookSinkConfig { drain_timeout_s: 0.3, ..config(fail.url(), dir.path()) };
    let _ = run(cfg, &sent);
    let first = fail.all();
    assert!(first.len() >= 2);
    fail.stop();
    let rx = Receiver::start(|_, _| Action::ok());
    for (_, r) in run(config(rx.url(), dir.path()), &[]) {
        r.unwrap();
    }
    let acc = rx.accepted();
    assert_eq!(tally(&sent, &acc).delivered, 6);
    for g in first {
        let again = acc.iter().find(|a| a.key() == g.key()).expect("same key after restart");
        assert_eq!(again.body, g.body, "same body after restart");
    }
}

/// Measurement, not a check: `cargo test --release --test webhook_delivery -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput_matrix() {
    const N: u64 = 3000;
    for streams in [1, 8] {
        for concurrency in [1, 2, 4] {
            let rx = Receiver::start(|_, _| Action::ok());
            let dir = tempfile::tempdir().unwrap();
            let sent = msgs(N, streams);
            let cfg = WebhookSinkConfig {
                concurrency: concurrency.try_into().unwrap(),
                queue: refinevad::sinks::SinkQueueConfig { capacity: 4096.try_into().unwrap(), ..Default::default() },
                ..config(rx.url(), dir.path())
            };
            let enq = registry().counter("refinevad_webhook_enqueued_total", &[("sink", "webhook[0]")]);
            let e0 = enq.load(std::sync::atomic::Ordering::Relaxed);
            let t0 = Instant::now();
            let sinks = SinkSet::spawn(&[SinkConfig::Webhook(cfg)], &SinkContext::default()).unwrap();
            for e in &sent {
                sinks.send(SinkMsg::from(e.clone()));
            }
            while enq.load(std::sync::atomic::Ordering::Relaxed) - e0 < N {
                std::thread::sleep(Duration::from_micros(200));
            }
            let persisted = t0.elapsed();
            for (_, r) in sinks.close() {
                r.unwrap();
            }
            let took = t0.elapsed();
            let t = tally(&sent, &rx.accepted());
            assert_eq!(t.delivered, N as usize);
            eprintln!(
                "throughput: {N} msgs, {streams} stream(s), concurrency {concurrency}: all persisted at {persisted:?} \
                 ({:.0}/s), all delivered at {took:?} = {:.0} msg/s ({t})",
                N as f64 / persisted.as_secs_f64(),
                N as f64 / took.as_secs_f64()
            );
        }
    }
}
