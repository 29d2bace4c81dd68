//! The frame queue of one live source. When the pipeline falls behind it drops this
//! stream's oldest *frame* — never a control message (`Started`, `Down`, `Up`, `End`) and
//! never another stream's item — so latency stays bounded while stream boundaries stay
//! intact. A forwarder thread moves the items into the shared frames channel with
//! back-pressure, so the shared channel itself never evicts.
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};

use crate::source::{SourceMsg, SourceOut};
use crate::telemetry::events::ItemsDropped;

pub struct LiveQueue {
    state: Mutex<State>,
    ready: Condvar,
    capacity: usize,
    channel: String,
}

#[derive(Default)]
struct State {
    items: VecDeque<SourceMsg>,
    frames: usize,
    /// No more items will be pushed (the source ended).
    finished: bool,
    /// The receiving side has gone: pushes fail.
    closed: bool,
}

impl LiveQueue {
    /// A queue holding at most `capacity` frames; drops are counted under `channel`.
    pub fn new(capacity: usize, channel: &str) -> Self {
        Self { state: Mutex::default(), ready: Condvar::new(), capacity: capacity.max(1), channel: channel.into() }
    }

    fn push(&self, msg: SourceMsg) -> bool {
        let mut s = self.state.lock().unwrap();
        if s.closed {
            return false;
        }
        if matches!(msg, SourceMsg::Frame(_)) {
            if s.frames >= self.capacity {
                if let Some(i) = s.items.iter().position(|m| matches!(m, SourceMsg::Frame(_))) {
                    s.items.remove(i);
                    s.frames -= 1;
                    ItemsDropped { channel: &self.channel, policy: "drop_oldest", count: 1 }.emit();
                }
            }
            s.frames += 1;
        }
        s.items.push_back(msg);
        self.ready.notify_one();
        true
    }

    /// The source has sent its last item; `pop` returns `None` once the rest is taken.
    pub fn finish(&self) {
        self.state.lock().unwrap().finished = true;
        self.ready.notify_all();
    }

    /// The receiver has gone: drop what is queued and refuse further items.
    pub fn close(&self) {
        let mut s = self.state.lock().unwrap();
        s.closed = true;
        s.items.clear();
        s.frames = 0;
    }

    /// The next item, waiting for one; `None` when finished and empty.
    pub fn pop(&self) -> Option<SourceMsg> {
        let mut s = self.state.lock().unwrap();
        loop {
            if let Some(m) = s.items.pop_front() {
                if matches!(m, SourceMsg::Frame(_)) {
                    s.frames -= 1;
                }
                return Some(m);
            }
            if s.finished || s.closed {
                return None;
            }
            s = self.ready.wait(s).unwrap();
        }
    }
}

impl SourceOut for LiveQueue {
    fn frame(&self, msg: SourceMsg) -> bool {
        self.push(msg)
    }
    fn control(&self, msg: SourceMsg) -> bool {
        self.push(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Frame;
    use crate::telemetry::registry;

    fn frame(i: u64) -> SourceMsg {
        SourceMsg::Frame(Frame { stream: "q".into(), index: i, pts_ns: None, width: 1, height: 1, rgb: vec![0; 3] })
    }

    #[test]
    fn drops_oldest_frames_but_never_control_messages() {
        let q = LiveQueue::new(2, "live_queue_test");
        assert!(q.frame(frame(0)));
        assert!(q.control(SourceMsg::Down { stream: "q".into(), frames: 1, cause: "x".into() }));
        for i in 1..5 {
            assert!(q.frame(frame(i)));
        }
        q.control(SourceMsg::End { stream: "q".into(), frames: 5, result: Ok(()) });
        q.finish();
        let got: Vec<String> = std::iter::from_fn(|| q.pop())
            .map(|m| match m {
                SourceMsg::Frame(f) => f.index.to_string(),
                SourceMsg::Down { .. } => "down".into(),
                SourceMsg::End { .. } => "end".into(),
                _ => "other".into(),
            })
            .collect();
        assert_eq!(got, vec!["down", "3", "4", "end"]);
        let drops = registry().counter_value(
            "refinevad_channel_dropped_total",
            &[("channel", "live_queue_test"), ("policy", "drop_oldest")],
        );
        assert_eq!(drops, 3);
    }

    #[test]
    fn closed_queue_refuses_items() {
        let q = LiveQueue::new(2, "live_queue_closed");
        q.close();
        assert!(!q.frame(frame(0)));
        assert!(q.pop().is_none());
    }
}
