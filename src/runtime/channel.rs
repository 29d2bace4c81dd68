//! Bounded channels with an explicit overload policy. Tensors and frames travel over
//! these (not actix mailboxes, whose `do_send` ignores capacity). Every drop is counted
//! through [`ItemsDropped`].
use std::num::NonZeroUsize;

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use serde::{Deserialize, Serialize};

use crate::telemetry::events::ItemsDropped;

/// What a full channel does with a new item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Wait for room: nothing is lost; back-pressure reaches the producer (files, batch).
    #[default]
    Block,
    /// Evict the oldest queued item: latency stays bounded (live sources).
    DropOldest,
    /// Discard the new item.
    DropNewest,
}

impl WhenFull {
    pub fn as_str(self) -> &'static str {
        match self {
            WhenFull::Block => "block",
            WhenFull::DropOldest => "drop_oldest",
            WhenFull::DropNewest => "drop_newest",
        }
    }
}

/// Capacity and overload policy of one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    #[serde(default = "default_capacity")]
    pub capacity: NonZeroUsize,
    #[serde(default)]
    pub when_full: WhenFull,
}

fn default_capacity() -> NonZeroUsize {
    NonZeroUsize::new(64).unwrap()
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self { capacity: default_capacity(), when_full: WhenFull::Block }
    }
}

/// The sending half. Cloneable; holds a receiver handle only to evict for `drop_oldest`.
pub struct Tx<T> {
    name: std::sync::Arc<str>,
    policy: WhenFull,
    tx: Sender<T>,
    evict: Receiver<T>,
}

impl<T> Clone for Tx<T> {
    fn clone(&self) -> Self {
        Self { name: self.name.clone(), policy: self.policy, tx: self.tx.clone(), evict: self.evict.clone() }
    }
}

/// The receiving half (a plain crossbeam receiver: MPMC, so worker pools share it).
pub type Rx<T> = Receiver<T>;

/// The receiver side has gone away; the item is returned.
#[derive(Debug)]
pub struct Closed<T>(pub T);

/// Creates a named bounded channel.
pub fn bounded<T>(name: &str, cfg: &ChannelConfig) -> (Tx<T>, Rx<T>) {
    let (tx, rx) = crossbeam_channel::bounded(cfg.capacity.get());
    (Tx { name: name.into(), policy: cfg.when_full, tx, evict: rx.clone() }, rx)
}

impl<T> Tx<T> {
    /// Sends according to the policy. Returns `Ok(true)` if the item was queued,
    /// `Ok(false)` if it was discarded (`drop_newest`).
    pub fn send(&self, item: T) -> Result<bool, Closed<T>> {
        match self.policy {
            WhenFull::Block => self.tx.send(item).map(|_| true).map_err(|e| Closed(e.0)),
            WhenFull::DropNewest => match self.tx.try_send(item) {
                Ok(()) => Ok(true),
                Err(TrySendError::Full(_)) => {
                    self.dropped(1);
                    Ok(false)
                }
                Err(TrySendError::Disconnected(i)) => Err(Closed(i)),
            },
            WhenFull::DropOldest => {
                let mut item = item;
                loop {
                    match self.tx.try_send(item) {
                        Ok(()) => return Ok(true),
                        Err(TrySendError::Full(i)) => {
                            item = i;
                            match self.evict.try_recv() {
                                Ok(_old) => self.dropped(1),
                                Err(TryRecvError::Empty) => {}
                                Err(TryRecvError::Disconnected) => return Err(Closed(item)),
                            }
                        }
                        Err(TrySendError::Disconnected(i)) => return Err(Closed(i)),
                    }
                }
            }
        }
    }

    /// Sends without applying a drop policy: for control items (end-of-stream markers)
    /// that must never be lost.
    pub fn send_reliable(&self, item: T) -> Result<(), Closed<T>> {
        self.tx.send(item).map_err(|e| Closed(e.0))
    }

    /// Another sender onto the same channel with a different overload policy (a live
    /// stream drops oldest on a channel that files share with `block`).
    pub fn with_policy(&self, policy: WhenFull) -> Self {
        Self { policy, ..self.clone() }
    }

    /// Items currently queued.
    pub fn len(&self) -> usize {
        self.tx.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tx.is_empty()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn dropped(&self, n: u64) {
        ItemsDropped { channel: &self.name, policy: self.policy.as_str(), count: n }.emit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::registry;

    fn cfg(cap: usize, when_full: WhenFull) -> ChannelConfig {
        ChannelConfig { capacity: NonZeroUsize::new(cap).unwrap(), when_full }
    }

    fn drops(name: &str, policy: &str) -> u64 {
        registry().counter_value("refinevad_channel_dropped_total", &[("channel", name), ("policy", policy)])
    }

    #[test]
    fn block_never_drops_and_applies_back_pressure() {
        let (tx, rx) = bounded::<u32>("test_block", &cfg(2, WhenFull::Block));
        let producer = std::thread::spawn(move || {
            for i in 0..1000 {
                assert!(tx.send(i).unwrap());
            }
        });
        let got: Vec<u32> = rx.iter().take(1000).collect();
        producer.join().unwrap();
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
        assert_eq!(drops("test_block", "block"), 0);
    }

    #[test]
    fn drop_oldest_keeps_newest_and_counts() {
        let (tx, rx) = bounded::<u32>("test_oldest", &cfg(3, WhenFull::DropOldest));
        for i in 0..10 {
            assert!(tx.send(i).unwrap());
        }
        let got: Vec<u32> = rx.try_iter().collect();
        assert_eq!(got, vec![7, 8, 9]);
        assert_eq!(drops("test_oldest", "drop_oldest"), 7);
    }

    #[test]
    fn drop_newest_keeps_oldest_and_counts() {
        let (tx, rx) = bounded::<u32>("test_newest", &cfg(3, WhenFull::DropNewest));
        let queued: Vec<bool> = (0..10).map(|i| tx.send(i).unwrap()).collect();
        assert_eq!(queued.iter().filter(|q| **q).count(), 3);
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(drops("test_newest", "drop_newest"), 7);
    }

    #[test]
    fn reliable_send_bypasses_drop_policy() {
        let (tx, rx) = bounded::<u32>("test_reliable", &cfg(1, WhenFull::DropNewest));
        tx.send(1).unwrap();
        let h = std::thread::spawn(move || tx.send_reliable(2).unwrap());
        assert_eq!(rx.recv().unwrap(), 1);
        h.join().unwrap();
        assert_eq!(rx.recv().unwrap(), 2);
    }
}
