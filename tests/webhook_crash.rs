//! kill -9 during delivery loses nothing: a real `refinevad` process feeds synthetic
//! events into a webhook sink (`refinevad alerts feed`, hidden), is SIGKILLed while the
//! receiver is part-way through them, and a second process on the same outbox delivers
//! the rest. The receiver must have every message at least once; the outbox ends empty.
mod webhook_common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use refinevad::sinks::webhook::outbox;
use webhook_common::*;

const BIN: &str = env!("CARGO_BIN_EXE_refinevad");

fn feed(dir: &std::path::Path, url: &str, messages: u64) -> Command {
    let mut c = Command::new(BIN);
    c.args(["alerts", "feed", "--outbox", dir.to_str().unwrap(), "--url", url])
        .args(["--messages", &messages.to_string(), "--streams", "4", "--drain-timeout", "20"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    c
}

#[test]
fn kill_9_during_delivery_then_restart_loses_nothing() {
    const N: u64 = 300;
    // A slowish receiver so the kill lands mid-delivery.
    let rx = Receiver::start(|_, _| Action::hang(Duration::from_millis(8)));
    let dir = tempfile::tempdir().unwrap();
    let sent: Vec<_> = (0..N).map(|m| message(m, 4)).collect();

    let mut child = feed(dir.path(), &rx.url(), N).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let persisted = loop {
        let l = lines.next().expect("feed output").unwrap();
        if let Some(n) = l.strip_prefix("persisted ") {
            break n.parse::<u64>().unwrap();
        }
    };
    assert_eq!(persisted, N, "every message persisted before the kill");
    let before = rx.wait(Duration::from_secs(10), |a| a.len() >= N as usize / 4).len();
    // SIGKILL: no destructor, no flush.
    let pid = child.id() as libc::pid_t;
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let status = child.wait().unwrap();
    let at_kill = rx.accepted().len();
    assert!(at_kill < N as usize, "killed mid-delivery ({at_kill} of {N} delivered)");
    let st = outbox::status(dir.path()).unwrap();
    eprintln!(
        "kill -9 ({status}) with {at_kill}/{N} delivered (>= {before} when the kill was sent); outbox says {} pending",
        st.depth
    );
    assert!(!st.locked, "the kernel released the dead process's lock");

    // Restart: a new process on the same outbox, no new events.
    let t0 = Instant::now();
    let out = feed(dir.path(), &rx.url(), 0).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let t = tally(&sent, &rx.accepted());
    eprintln!("kill -9 then restart ({:?}): {t}", t0.elapsed());
    assert_eq!((t.delivered, t.lost, t.out_of_order_streams), (N as usize, 0, 0), "{t}");
    // At-least-once: only messages in flight at the kill (≤ concurrency) plus the
    // undurable `delivered` marks can repeat.
    assert!(t.duplicated <= 4, "{t}");
    let st = outbox::status(dir.path()).unwrap();
    assert_eq!((st.depth, st.dead_letters), (0, 0), "outbox drained");
}

#[test]
fn kill_9_while_events_are_still_arriving() {
    // The kill lands while the feeder is still sending: everything the outbox accepted
    // (what `status` reports plus what was delivered) must be delivered after restart.
    const N: u64 = 3000;
    let rx = Receiver::start(|_, _| Action::hang(Duration::from_millis(2)));
    let dir = tempfile::tempdir().unwrap();
    let mut child = feed(dir.path(), &rx.url(), N).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "started");
    rx.wait(Duration::from_secs(10), |a| a.len() >= 20);
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) }, 0);
    child.wait().unwrap();
    let st = outbox::status(dir.path()).unwrap();
    let delivered_before: std::collections::HashSet<String> =
        rx.accepted().iter().map(|g| g.key().to_owned()).collect();
    let out = feed(dir.path(), &rx.url(), 0).output().unwrap();
    assert!(out.status.success());
    let keys: std::collections::HashSet<String> = rx.accepted().iter().map(|g| g.key().to_owned()).collect();
    let persisted = delivered_before.len() + st.depth;
    eprintln!(
        "kill -9 during intake: {} delivered before, {} pending in the outbox, {} distinct delivered after restart",
        delivered_before.len(),
        st.depth,
        keys.len()
    );
    // A message answered but not yet marked at the kill is counted on both sides.
    assert!(keys.len() + 2 >= persisted, "every persisted message delivered");
    // Persisted messages are a prefix of what was sent (the sink persists in order).
    let sent: Vec<_> = (0..keys.len() as u64).map(|m| key(&message(m, 4))).collect();
    assert!(sent.iter().all(|k| keys.contains(k)), "no gap in what was persisted");
    assert_eq!(outbox::status(dir.path()).unwrap().depth, 0);
}
