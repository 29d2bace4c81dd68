//! The running sinks: one thread and one bounded queue each, fed by [`SinkSet::send`].
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::telemetry::{SinkFailed, SinkStopped};
use super::{files, plot, stdout, webhook, SinkConfig, SinkError, SinkMsg};
use crate::runtime::channel::{bounded, Rx, Tx};
use crate::telemetry::http::OpsState;
use crate::telemetry::registry;
use crate::window::ScoreMsg;

/// What the sinks need to know about the run.
#[derive(Clone, Default)]
pub struct SinkContext {
    /// Pipeline name (logs, user agent, default webhook outbox directory).
    pub pipeline: String,
    /// The ops endpoint's state: sinks report their health there (webhook backlog).
    pub ops: Option<Arc<OpsState>>,
}

impl std::fmt::Debug for SinkContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkContext").field("pipeline", &self.pipeline).field("ops", &self.ops.is_some()).finish()
    }
}

/// One sink's behaviour; runs on the sink's own thread.
pub(crate) trait Sink: Send {
    /// Handles one message. An error is logged, counted and remembered; the sink goes on.
    fn handle(&mut self, msg: &SinkMsg) -> Result<(), SinkError>;
    /// Called once when the queue is closed and drained.
    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Which messages a sink is sent (the rest never take space in its queue).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wants {
    /// `ScoreMsg::Segment`.
    pub segments: bool,
    /// `ScoreMsg::Started` / `End`.
    pub bounds: bool,
    pub events: bool,
    /// `SinkMsg::Source` (live source outages).
    pub sources: bool,
}

impl Wants {
    fn accepts(self, msg: &SinkMsg) -> bool {
        match msg {
            SinkMsg::Event(_) => self.events,
            SinkMsg::Source(_) => self.sources,
            SinkMsg::Score(m) if matches!(**m, ScoreMsg::Segment(_)) => self.segments,
            SinkMsg::Score(_) => self.bounds,
        }
    }
}

struct Running {
    name: String,
    wants: Wants,
    tx: Tx<SinkMsg>,
    depth: Arc<AtomicI64>,
    stopped: AtomicBool,
    thread: JoinHandle<Result<(), SinkError>>,
}

/// The sinks of a pipeline.
pub struct SinkSet {
    sinks: Vec<Running>,
}

impl SinkSet {
    /// Builds every sink (opening files, reading annotations and secrets) and starts its
    /// thread. Any failure stops the sinks already started and names the failing one.
    pub fn spawn(cfgs: &[SinkConfig], ctx: &SinkContext) -> Result<SinkSet, SinkError> {
        let mut set = SinkSet { sinks: Vec::with_capacity(cfgs.len()) };
        for (i, cfg) in cfgs.iter().enumerate() {
            let name = format!("{}[{i}]", cfg.kind());
            let started = build(cfg, ctx, &name).and_then(|(sink, wants)| {
                let (tx, rx) = bounded::<SinkMsg>(&format!("sink:{name}"), &cfg.queue().into());
                let thread_name = name.clone();
                let thread = std::thread::Builder::new()
                    .name(format!("sink-{name}"))
                    .spawn(move || run_sink(sink, rx, &thread_name))
                    .map_err(|e| SinkError::Thread(e.to_string()))?;
                let depth = registry().gauge("refinevad_sink_queue_depth", &[("sink", &name)]);
                Ok(Running { name: name.clone(), wants, tx, depth, stopped: AtomicBool::new(false), thread })
            });
            match started {
                Ok(r) => set.sinks.push(r),
                Err(e) => {
                    let e = SinkError::Start { sink: format!("sinks[{i}] ({})", cfg.kind()), source: Box::new(e) };
                    SinkFailed { sink: &name, error: &e }.emit();
                    set.close();
                    return Err(e);
                }
            }
        }
        Ok(set)
    }

    /// Sink names (`jsonl[1]`), in configuration order.
    pub fn names(&self) -> Vec<&str> {
        self.sinks.iter().map(|s| s.name.as_str()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }

    /// Queues `msg` for every sink that wants it, under each queue's `when_full` policy.
    /// With `block`, waits while that sink's queue is full.
    pub fn send(&self, msg: SinkMsg) {
        for s in &self.sinks {
            if !s.wants.accepts(&msg) || s.stopped.load(Ordering::Relaxed) {
                continue;
            }
            if s.tx.send(msg.clone()).is_err() && !s.stopped.swap(true, Ordering::Relaxed) {
                SinkStopped { sink: &s.name }.emit();
            }
            s.depth.store(s.tx.len() as i64, Ordering::Relaxed);
        }
    }

    /// Closes the queues, lets every sink drain and finish (all at once), and joins them.
    pub fn close(self) -> Vec<(String, Result<(), SinkError>)> {
        let (names, threads): (Vec<String>, Vec<_>) = self
            .sinks
            .into_iter()
            .map(|s| {
                s.depth.store(0, Ordering::Relaxed);
                (s.name, s.thread) // the Tx drops here: the sink sees the end of its queue
            })
            .unzip();
        names
            .into_iter()
            .zip(threads)
            .map(|(name, t)| {
                let r = t.join().unwrap_or_else(|p| {
                    let why =
                        p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned());
                    Err(SinkError::Thread(format!("panicked: {}", why.unwrap_or_default())))
                });
                (name, r)
            })
            .collect()
    }
}

fn build(cfg: &SinkConfig, ctx: &SinkContext, name: &str) -> Result<(Box<dyn Sink>, Wants), SinkError> {
    const EVENTS: Wants = Wants { segments: false, bounds: false, events: true, sources: true };
    const SCORES: Wants = Wants { segments: true, bounds: true, events: false, sources: false };
    const BOTH: Wants = Wants { segments: true, bounds: true, events: true, sources: false };
    Ok(match cfg {
        SinkConfig::Stdout(c) => (Box::new(stdout::StdoutSink::new(c)), EVENTS),
        SinkConfig::Jsonl(c) => (Box::new(files::JsonlSink::open(c)?), EVENTS),
        SinkConfig::ScoresCsv(c) => (Box::new(files::ScoresCsvSink::new(c)?), SCORES),
        SinkConfig::EventsJson(c) => (Box::new(files::EventsJsonSink::new(c)?), Wants { segments: false, ..BOTH }),
        SinkConfig::Plot(c) => (Box::new(plot::PlotSink::new(c)?), BOTH),
        SinkConfig::Webhook(c) => (Box::new(webhook::WebhookSink::new(c, ctx, name)?), EVENTS),
        SinkConfig::Clips(c) => (Box::new(crate::clips::ClipsSink::new(c)?), Wants { segments: false, ..BOTH }),
    })
}

impl Sink for crate::clips::ClipsSink {
    fn handle(&mut self, msg: &SinkMsg) -> Result<(), SinkError> {
        crate::clips::ClipsSink::handle(self, msg)
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        crate::clips::ClipsSink::finish(self)
    }
}

fn run_sink(mut sink: Box<dyn Sink>, rx: Rx<SinkMsg>, name: &str) -> Result<(), SinkError> {
    let mut first: Option<SinkError> = None;
    let mut fail = |e: SinkError| {
        SinkFailed { sink: name, error: &e }.emit();
        first.get_or_insert(e);
    };
    for msg in rx.iter() {
        if let Err(e) = sink.handle(&msg) {
            fail(e);
        }
    }
    if let Err(e) = sink.finish() {
        fail(e);
    }
    first.map_or(Ok(()), Err)
}
