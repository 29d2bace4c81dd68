//! The supervisor actor. Stages are registered as named thread bodies; each reports
//! its exit (ok, error or panic) to the actor. Shutdown is ordered by the channels
//! themselves: sources stop, every downstream stage drains its input until the upstream
//! senders are gone, then exits — so EOS flows through the stages in order.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

/// Shared cancellation flag checked by the sources.
#[derive(Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    pub fn flag(&self) -> &AtomicBool {
        &self.0
    }
}

type StageBody = Box<dyn FnOnce() -> Result<(), String> + Send + 'static>;

/// Stages to run, in pipeline order.
#[derive(Default)]
pub struct StageSet {
    stages: Vec<(String, StageBody)>,
}

impl StageSet {
    pub fn add(&mut self, name: impl Into<String>, body: impl FnOnce() -> Result<(), String> + Send + 'static) {
        self.stages.push((name.into(), Box::new(body)));
    }
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// Stages that failed, with the cause.
    pub failures: Vec<(String, String)>,
    /// True if Ctrl-C (or a stage failure) cancelled the run.
    pub cancelled: bool,
}

#[derive(Message)]
#[rtype(result = "()")]
struct StageExited {
    name: String,
    result: Result<(), String>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Interrupt;

struct Supervisor {
    running: usize,
    cancel: Cancel,
    outcome: RunOutcome,
    done: Option<tokio::sync::oneshot::Sender<RunOutcome>>,
    shutdown_timeout: Duration,
}

impl Actor for Supervisor {
    type Context = Context<Self>;
}

impl Handler<StageExited> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: StageExited, _: &mut Context<Self>) {
        self.running -= 1;
        match msg.result {
            Ok(()) => tracing::debug!(stage = msg.name, "stage drained"),
            Err(e) => {
                tracing::error!(stage = msg.name, "stage failed: {e}; stopping the pipeline");
                self.outcome.failures.push((msg.name, e));
                self.outcome.cancelled = true;
                self.cancel.cancel();
            }
        }
        if self.running == 0 {
            if let Some(tx) = self.done.take() {
                let _ = tx.send(self.outcome.clone());
            }
        }
    }
}

impl Handler<Interrupt> for Supervisor {
    type Result = ();
    fn handle(&mut self, _: Interrupt, ctx: &mut Context<Self>) {
        if self.cancel.is_cancelled() {
            tracing::warn!("second interrupt: exiting now");
            std::process::exit(130);
        }
        tracing::warn!("interrupt: stopping sources and draining the pipeline (Ctrl-C again to exit at once)");
        self.outcome.cancelled = true;
        self.cancel.cancel();
        ctx.run_later(self.shutdown_timeout, |_, _| {
            tracing::error!("pipeline did not drain within the shutdown timeout: exiting");
            std::process::exit(130);
        });
    }
}

/// Runs the stages on their own threads under a supervisor inside an actix system, and
/// returns when all of them have exited.
pub fn run_stages(stages: StageSet, cancel: Cancel, shutdown_timeout: Duration) -> RunOutcome {
    let system = actix::System::new();
    system.block_on(async move {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let n = stages.stages.len();
        let sup = Supervisor {
            running: n,
            cancel: cancel.clone(),
            outcome: RunOutcome { failures: vec![], cancelled: false },
            done: Some(tx),
            shutdown_timeout,
        }
        .start();
        if n == 0 {
            return RunOutcome { failures: vec![], cancelled: false };
        }
        for (name, body) in stages.stages {
            let addr = sup.clone();
            std::thread::Builder::new()
                .name(name.clone())
                .spawn(move || {
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body))
                        .unwrap_or_else(|p| Err(format!("panicked: {}", panic_text(&p))));
                    addr.do_send(StageExited { name, result });
                })
                .expect("spawn stage thread");
        }
        let sig = sup.clone();
        actix::spawn(async move {
            if actix_rt::signal::ctrl_c().await.is_ok() {
                sig.do_send(Interrupt);
                if actix_rt::signal::ctrl_c().await.is_ok() {
                    sig.do_send(Interrupt);
                }
            }
        });
        rx.await.unwrap_or(RunOutcome { failures: vec![("supervisor".into(), "stopped".into())], cancelled: true })
    })
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_all_stages_and_reports_failures() {
        let cancel = Cancel::default();
        let mut s = StageSet::default();
        let (tx, rx) = crossbeam_channel::bounded::<u32>(1);
        s.add("producer", move || {
            for i in 0..100 {
                tx.send(i).unwrap();
            }
            Ok(())
        });
        s.add("consumer", move || {
            let n = rx.iter().count();
            if n == 100 {
                Ok(())
            } else {
                Err(format!("got {n}"))
            }
        });
        s.add("bad", || Err("broken".into()));
        let c2 = cancel.clone();
        let out = run_stages(s, cancel, Duration::from_secs(5));
        assert_eq!(out.failures, vec![("bad".to_string(), "broken".to_string())]);
        assert!(out.cancelled && c2.is_cancelled());
    }

    #[test]
    fn panics_are_reported_not_propagated() {
        let mut s = StageSet::default();
        s.add("p", || panic!("kaboom"));
        let out = run_stages(s, Cancel::default(), Duration::from_secs(5));
        assert_eq!(out.failures[0].1, "panicked: kaboom");
    }
}
