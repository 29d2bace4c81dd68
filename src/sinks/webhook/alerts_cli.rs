//! `refinevad alerts …`: operations on a webhook outbox.
//!
//! - `status`: pending deliveries (per stream), oldest age, dead letters (read-only, safe
//!   while the pipeline runs);
//! - `replay`: moves the dead letters back into the outbox as fresh deliveries (same
//!   `event_id` and `Idempotency-Key`) and, when a URL is known, delivers them now;
//! - `flush`: delivers what is pending now, without touching the dead letters.
//!
//! The outbox is named by `--outbox DIR`, or by `--pipeline FILE [--sink NAME]` (which
//! also gives the URL, secret, headers and TLS settings of that sink). `replay` and
//! `flush` need the outbox to themselves: stop the pipeline first.
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::engine::{Engine, EngineOptions};
use super::outbox::{self, now_ms, Outbox};
use super::{delivery_for, outbox_dir};
use crate::events::{Event, EventStatus, EventTime, InvalidKey};
use crate::sinks::{SinkConfig, SinkContext, SinkError, SinkMsg, SinkSet, WebhookSinkConfig};
use crate::telemetry::registry;

/// Arguments of `refinevad alerts`.
#[derive(Debug, clap::Args)]
pub struct AlertsArgs {
    #[command(subcommand)]
    pub command: AlertsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AlertsCommand {
    /// Outbox depth, oldest pending age and dead letters (read-only).
    Status {
        #[command(flatten)]
        target: Target,
        /// One JSON object per outbox instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Re-queue the dead letters (same event_id and Idempotency-Key) and deliver them.
    Replay {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        send: Send,
    },
    /// Deliver what is pending in the outbox now (dead letters stay where they are).
    Flush {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        send: Send,
    },
    /// Test helper: feeds synthetic events through a webhook SinkSet (kill -9 tests).
    #[command(hide = true)]
    Feed(FeedArgs),
}

/// Which outbox.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Outbox directory.
    #[arg(long, conflicts_with = "pipeline")]
    pub outbox: Option<PathBuf>,
    /// Pipeline file: its webhook sinks' outboxes (and their URL, secret, headers).
    #[arg(long)]
    pub pipeline: Option<PathBuf>,
    /// With --pipeline: the sink, as `webhook[1]`, `webhook-1` or `1` (its index in
    /// `sinks:`); default: every webhook sink (`status`) or the only one.
    #[arg(long, requires = "pipeline")]
    pub sink: Option<String>,
}

/// How to deliver.
#[derive(Debug, Clone, clap::Args)]
pub struct Send {
    /// Receiver URL (overrides the pipeline's). Without a URL and a pipeline, `replay`
    /// only re-queues: the next pipeline start delivers.
    #[arg(long)]
    pub url: Option<String>,
    /// Environment variable with the signing secret (with --outbox; the pipeline's
    /// `secret_env`/`secret_file` otherwise).
    #[arg(long)]
    pub secret_env: Option<String>,
    /// Seconds to keep delivering before giving up (what is left stays in the outbox).
    #[arg(long, default_value_t = 60.0)]
    pub timeout: f64,
    /// Delivery threads.
    #[arg(long, default_value_t = 2)]
    pub concurrency: usize,
}

#[derive(Debug, Clone, clap::Args)]
pub struct FeedArgs {
    #[arg(long)]
    pub outbox: PathBuf,
    #[arg(long)]
    pub url: String,
    /// Messages to send (3 per event: opened, updated, closed).
    #[arg(long, default_value_t = 0)]
    pub messages: u64,
    #[arg(long, default_value_t = 4)]
    pub streams: u64,
    #[arg(long, default_value_t = 2)]
    pub concurrency: usize,
    #[arg(long)]
    pub secret_env: Option<String>,
    #[arg(long, default_value_t = 30.0)]
    pub drain_timeout: f64,
    #[arg(long, default_value_t = 0.05)]
    pub initial_backoff: f64,
    #[arg(long, default_value_t = 2.0)]
    pub timeout: f64,
}

/// One resolved outbox.
struct Resolved {
    name: String,
    dir: PathBuf,
    cfg: Option<WebhookSinkConfig>,
}

fn bad(key: &str, reason: impl Into<String>) -> SinkError {
    SinkError::Invalid(InvalidKey::new(key, reason))
}

fn resolve(t: &Target, need_one: bool) -> Result<Vec<Resolved>, SinkError> {
    if let Some(dir) = &t.outbox {
        return Ok(vec![Resolved { name: "outbox".into(), dir: dir.clone(), cfg: None }]);
    }
    let Some(file) = &t.pipeline else { return Err(bad("--outbox", "give --outbox DIR or --pipeline FILE")) };
    let cfg = crate::config::load(file).map_err(|e| bad("--pipeline", e.to_string()))?;
    let mut out: Vec<Resolved> = cfg
        .sinks
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            SinkConfig::Webhook(w) => {
                let name = format!("webhook[{i}]");
                Some(Resolved { dir: outbox_dir(w, &cfg.name, &name), name, cfg: Some(w.clone()) })
            }
            _ => None,
        })
        .collect();
    if let Some(want) = &t.sink {
        let idx = want.trim_start_matches("webhook").trim_matches(|c| "[]-".contains(c)).to_owned();
        out.retain(|r| r.name == format!("webhook[{idx}]"));
        if out.is_empty() {
            return Err(bad("--sink", format!("{}: no webhook sink `{want}`", file.display())));
        }
    }
    if out.is_empty() {
        return Err(bad("--pipeline", format!("{} has no webhook sink", file.display())));
    }
    if need_one && out.len() > 1 {
        let names: Vec<_> = out.iter().map(|r| r.name.as_str()).collect();
        return Err(bad("--sink", format!("several webhook sinks ({}); choose one", names.join(", "))));
    }
    Ok(out)
}

/// Runs `refinevad alerts`; returns the process exit code (0 all done, 1 something left
/// undelivered or dead, errors are returned).
pub fn run_alerts_cli(args: AlertsArgs) -> Result<u8, SinkError> {
    match args.command {
        AlertsCommand::Status { target, json } => status(&target, json),
        AlertsCommand::Replay { target, send } => deliver(&target, &send, true),
        AlertsCommand::Flush { target, send } => deliver(&target, &send, false),
        AlertsCommand::Feed(f) => feed(&f),
    }
}

fn status(t: &Target, json: bool) -> Result<u8, SinkError> {
    let mut out = std::io::stdout().lock();
    for r in resolve(t, false)? {
        let st = outbox::status(&r.dir)?;
        let oldest_s = st.oldest_created_ms.map(|c| now_ms().saturating_sub(c) as f64 / 1e3);
        if json {
            let v = serde_json::json!({
                "sink": r.name, "outbox": r.dir, "pending": st.depth, "oldest_pending_s": oldest_s,
                "streams": st.streams, "dead_letters": st.dead_letters, "in_use": st.locked,
                "log_bytes": st.log_bytes, "torn_bytes": st.torn_bytes, "corrupt_records": st.corrupt,
            });
            let _ = writeln!(out, "{v}");
        } else {
            let _ = writeln!(out, "{} ({}){}", r.name, r.dir.display(), if st.locked { " — in use" } else { "" });
            let _ = writeln!(
                out,
                "  pending: {}{}",
                st.depth,
                oldest_s.map_or(String::new(), |s| format!(", oldest {s:.1} s"))
            );
            for (stream, n) in &st.streams {
                let _ = writeln!(out, "    {stream}: {n}");
            }
            let _ = writeln!(out, "  dead letters: {}", st.dead_letters);
            if st.torn_bytes > 0 || st.corrupt > 0 {
                let _ = writeln!(out, "  log damage: {} torn bytes, {} bad records", st.torn_bytes, st.corrupt);
            }
        }
    }
    Ok(0)
}

fn deliver(t: &Target, send: &Send, replay: bool) -> Result<u8, SinkError> {
    let r = resolve(t, true)?.remove(0);
    let mut cfg = r.cfg.clone().unwrap_or_default();
    if let Some(v) = &send.secret_env {
        cfg.secret_env = Some(v.clone());
        cfg.secret_file = None;
    }
    let url = send.url.clone().or_else(|| r.cfg.as_ref().map(|c| c.url.clone()));
    let (mut ob, mut pending, _rec) = Outbox::open(&r.dir)?;
    if replay {
        let stored = outbox::requeue_dead_letters(&mut ob)?;
        println!("{}: {} dead letter(s) re-queued", r.dir.display(), stored.len());
        pending.extend(stored);
    }
    let Some(url) = url else {
        if replay {
            println!("no --url: they are delivered at the next pipeline start (or with `alerts flush --url …`)");
            return Ok(0);
        }
        return Err(bad("--url", "flush needs --url (or --pipeline)"));
    };
    let total = pending.len();
    let delivery = delivery_for(&cfg, &url)?;
    let opts = EngineOptions {
        retry: cfg.retry.clone(),
        concurrency: send.concurrency.max(1),
        max_pending: usize::MAX,
        health: None,
    };
    let engine = Engine::start(&r.name, delivery, opts, ob, pending)?;
    let sum = engine.finish(Duration::from_secs_f64(send.timeout.clamp(0.0, 86_400.0)));
    println!(
        "{}: {total} pending, {} delivered, {} dead-lettered, {} left in the outbox{}",
        r.dir.display(),
        sum.delivered,
        sum.dead,
        sum.pending,
        sum.last_error.map_or(String::new(), |e| format!("; last error: {e}"))
    );
    Ok(if sum.dead == 0 && sum.pending == 0 { 0 } else { 1 })
}

/// Synthetic messages: event j = m / 3 on stream `cam{j % streams}`, statuses in order.
pub fn synthetic_message(m: u64, streams: u64) -> Event {
    let j = m / 3;
    let status = [EventStatus::Opened, EventStatus::Updated, EventStatus::Closed][(m % 3) as usize];
    Event {
        event_id: format!("{j:032x}"),
        seq: (m % 3) as u32,
        status,
        stream: format!("cam{}", j % streams.max(1)),
        video: "synthetic://feed".into(),
        start: EventTime::new(j as f64 * 10.0, j * 250),
        end: EventTime::new(j as f64 * 10.0 + 2.0 + (m % 3) as f64, j * 250 + 50),
        peak_score: 0.9,
        category: Some("Fire".into()),
        category_probs: [("Fire".to_owned(), 0.9)].into(),
        pipeline: "feed".into(),
        model: "synthetic".into(),
        wall_time: crate::events::rfc3339_utc(std::time::SystemTime::now()),
        clip: None,
    }
}

fn feed(f: &FeedArgs) -> Result<u8, SinkError> {
    let cfg = WebhookSinkConfig {
        url: f.url.clone(),
        secret_env: f.secret_env.clone(),
        outbox_dir: Some(f.outbox.clone()),
        concurrency: f.concurrency.max(1).try_into().unwrap(),
        drain_timeout_s: f.drain_timeout,
        timeout_s: f.timeout,
        connect_timeout_s: f.timeout,
        retry: super::WebhookRetryConfig {
            initial_backoff_s: f.initial_backoff,
            max_backoff_s: 1.0,
            ..Default::default()
        },
        ..Default::default()
    };
    let sinks = SinkSet::spawn(&[SinkConfig::Webhook(cfg)], &SinkContext { pipeline: "feed".into(), ops: None })?;
    let enqueued = registry().counter("refinevad_webhook_enqueued_total", &[("sink", "webhook[0]")]);
    println!("started");
    for m in 0..f.messages {
        sinks.send(SinkMsg::from(synthetic_message(m, f.streams)));
    }
    let until = Instant::now() + Duration::from_secs(30);
    while enqueued.load(Ordering::Relaxed) < f.messages && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(2));
    }
    println!("persisted {}", enqueued.load(Ordering::Relaxed));
    let _ = std::io::stdout().flush();
    let mut code = 0;
    for (name, r) in sinks.close() {
        if let Err(e) = r {
            println!("{name}: {e}");
            code = 1;
        }
    }
    println!("closed");
    Ok(code)
}
