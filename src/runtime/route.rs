//! Stream affinity for stateful stage pools: every message of a stream goes to the same
//! worker (its per-stream buffers live there), and per-stream order is preserved.
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

/// Index of the worker that owns `stream` among `n`.
pub fn worker_for(stream: &str, n: usize) -> usize {
    let mut h = DefaultHasher::new();
    stream.hash(&mut h);
    (h.finish() % n.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_in_range() {
        for s in ["a", "cam1", "x/y/z"] {
            assert_eq!(worker_for(s, 3), worker_for(s, 3));
            assert!(worker_for(s, 3) < 3);
        }
        assert_eq!(worker_for("a", 1), 0);
    }
}
