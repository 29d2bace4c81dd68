//! A small lock-light metrics registry rendered in the Prometheus text format.
//! Counters and gauges are atomics looked up once by name + labels.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

/// Histogram bucket bounds in seconds, sized for per-batch inference and decode latencies.
const LATENCY_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default)]
pub struct Registry {
    counters: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    gauges: Mutex<BTreeMap<String, Arc<AtomicI64>>>,
    histograms: Mutex<BTreeMap<String, Arc<Histogram>>>,
}

#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, seconds: f64) {
        for (b, bound) in self.buckets.iter().zip(LATENCY_BUCKETS) {
            if seconds <= bound {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::default);

/// The process-wide registry.
pub fn registry() -> &'static Registry {
    &REGISTRY
}

fn key(name: &str, labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return name.to_owned();
    }
    let mut k = format!("{name}{{");
    for (i, (l, v)) in labels.iter().enumerate() {
        if i > 0 {
            k.push(',');
        }
        let v = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
        let _ = write!(k, "{l}=\"{v}\"");
    }
    k.push('}');
    k
}

impl Registry {
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> Arc<AtomicU64> {
        self.counters.lock().unwrap().entry(key(name, labels)).or_default().clone()
    }
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Arc<AtomicI64> {
        self.gauges.lock().unwrap().entry(key(name, labels)).or_default().clone()
    }
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Arc<Histogram> {
        self.histograms.lock().unwrap().entry(key(name, labels)).or_default().clone()
    }

    /// Current value of a counter (0 when never touched).
    pub fn counter_value(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.counters.lock().unwrap().get(&key(name, labels)).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let base = |k: &str| k.split('{').next().unwrap_or(k).to_owned();
        let mut last = String::new();
        for (k, v) in self.counters.lock().unwrap().iter() {
            if base(k) != last {
                last = base(k);
                let _ = writeln!(out, "# TYPE {last} counter");
            }
            let _ = writeln!(out, "{k} {}", v.load(Ordering::Relaxed));
        }
        for (k, v) in self.gauges.lock().unwrap().iter() {
            if base(k) != last {
                last = base(k);
                let _ = writeln!(out, "# TYPE {last} gauge");
            }
            let _ = writeln!(out, "{k} {}", v.load(Ordering::Relaxed));
        }
        for (k, h) in self.histograms.lock().unwrap().iter() {
            let name = base(k);
            let labels = k.strip_prefix(&name).unwrap_or("");
            let inner = labels.trim_start_matches('{').trim_end_matches('}');
            let join = |extra: &str| match (inner.is_empty(), extra.is_empty()) {
                (true, true) => String::new(),
                (true, false) => format!("{{{extra}}}"),
                (false, true) => format!("{{{inner}}}"),
                (false, false) => format!("{{{inner},{extra}}}"),
            };
            let _ = writeln!(out, "# TYPE {name} histogram");
            for (b, bound) in h.buckets.iter().zip(LATENCY_BUCKETS) {
                let _ =
                    writeln!(out, "{name}_bucket{} {}", join(&format!("le=\"{bound}\"")), b.load(Ordering::Relaxed));
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{} {count}", join("le=\"+Inf\""));
            let _ = writeln!(out, "{name}_sum{} {}", join(""), h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
            let _ = writeln!(out, "{name}_count{} {count}", join(""));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_histograms() {
        let r = Registry::default();
        r.counter("x_total", &[("stream", "a\"b")]).fetch_add(3, Ordering::Relaxed);
        r.gauge("depth", &[]).store(-2, Ordering::Relaxed);
        r.histogram("lat_seconds", &[("stage", "f")]).observe(0.003);
        let txt = r.render();
        assert!(txt.contains("x_total{stream=\"a\\\"b\"} 3"), "{txt}");
        assert!(txt.contains("depth -2"));
        assert!(txt.contains("lat_seconds_bucket{stage=\"f\",le=\"0.0025\"} 0"));
        assert!(txt.contains("lat_seconds_bucket{stage=\"f\",le=\"0.005\"} 1"));
        assert!(txt.contains("lat_seconds_count{stage=\"f\"} 1"));
        assert_eq!(r.counter_value("x_total", &[("stream", "a\"b")]), 3);
    }
}
