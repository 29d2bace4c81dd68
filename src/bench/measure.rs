//! Wall time, CPU time, peak memory and per-stage CPU of the measured work.
use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::BenchError;

#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub wall_s: f64,
    pub cpu_s: f64,
}

/// What a child process used: wall and CPU time, peak RSS (MB), CPU seconds per stage.
#[derive(Debug, Clone)]
pub struct ChildUsage {
    pub usage: Usage,
    pub peak_rss_mb: f64,
    pub stage_cpu_s: BTreeMap<String, f64>,
    /// Seconds from the start until the first child wrote the marker line on stderr
    /// ([`run_child_marked`]).
    pub marker_s: Option<f64>,
}

fn tv(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 / 1e6
}

/// User + system CPU seconds of this process (all threads).
pub fn cpu_seconds_self() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The stage a thread of `refinevad` belongs to, from its name: GStreamer's streaming
/// threads (`avidemux0:sink`, `multiqueue0:src`, its `pool-*` task pool) decode;
/// `features-*` run ONNX Runtime and assemble the vectors; threads left with the process
/// name are ONNX Runtime's intra-op pool; the main thread sets up and waits.
pub fn stage_of(comm: &str, is_main: bool) -> String {
    if is_main {
        "main".into()
    } else if comm.contains(':') || comm.starts_with("pool-") || comm.starts_with("gst") {
        "gstreamer_decode".into()
    } else if comm.starts_with("features") {
        "features_worker".into()
    } else if comm == "refinevad" {
        "onnxruntime_pool".into()
    } else {
        comm.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '#').to_string()
    }
}

/// utime + stime clock ticks of one thread, from its `/proc/<pid>/task/<tid>/stat`.
fn thread_ticks(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_string();
    let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    let ticks = rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?;
    Some((comm, ticks))
}

/// Samples the threads of running processes every `period`, keeping each thread's last
/// reading (a thread that ends between two samples loses at most one period of CPU).
struct ThreadSampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<HashMap<(u32, u32), (String, u64)>>,
}

impl ThreadSampler {
    fn start(pids: Vec<u32>, period: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut seen: HashMap<(u32, u32), (String, u64)> = HashMap::new();
            while !stop2.load(Ordering::Relaxed) {
                for &pid in &pids {
                    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else { continue };
                    for e in dir.flatten() {
                        let Some(tid) = e.file_name().to_str().and_then(|t| t.parse::<u32>().ok()) else { continue };
                        if let Some(r) =
                            std::fs::read_to_string(e.path().join("stat")).ok().as_deref().and_then(thread_ticks)
                        {
                            seen.insert((pid, tid), r);
                        }
                    }
                }
                std::thread::sleep(period);
            }
            seen
        });
        Self { stop, handle }
    }

    fn finish(self) -> BTreeMap<String, f64> {
        self.stop.store(true, Ordering::Relaxed);
        let seen = self.handle.join().unwrap_or_default();
        // SAFETY: sysconf has no memory-safety preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let mut out = BTreeMap::new();
        for ((pid, tid), (comm, ticks)) in seen {
            *out.entry(stage_of(&comm, pid == tid)).or_insert(0.0) += ticks as f64 / hz;
        }
        out
    }
}

/// A child to run: program, arguments, extra environment.
pub type ChildCmd = (String, Vec<String>, Vec<(String, String)>);

/// Runs commands concurrently; returns wall time, summed CPU time and the largest peak
/// RSS (MB) among them, each read from the child's own `wait4` accounting, plus CPU
/// seconds per stage (thread group, see [`stage_of`]) sampled from `/proc` while they ran.
pub fn run_child(cmds: Vec<ChildCmd>) -> Result<ChildUsage, BenchError> {
    run_child_marked(cmds, None)
}

/// [`run_child`] that also times when a line containing `marker` first appears on any
/// child's stderr (e.g. the pipeline's `stream started`, its first decoded frame).
pub fn run_child_marked(cmds: Vec<ChildCmd>, marker: Option<&'static str>) -> Result<ChildUsage, BenchError> {
    let t0 = Instant::now();
    let mut children = Vec::new();
    let seen: std::sync::Arc<std::sync::OnceLock<f64>> = Default::default();
    let mut readers = Vec::new();
    for (prog, args, env) in &cmds {
        let stderr = if marker.is_some() { std::process::Stdio::piped() } else { std::process::Stdio::null() };
        let mut child = Command::new(prog)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| BenchError::Run { what: prog.clone(), reason: e.to_string() })?;
        if let (Some(marker), Some(err)) = (marker, child.stderr.take()) {
            let seen = seen.clone();
            readers.push(std::thread::spawn(move || {
                use std::io::BufRead;
                // Raw bytes: a library's non-UTF-8 line must not end the reading (and so
                // leave the child writing into a full pipe).
                for line in std::io::BufReader::new(err).split(b'\n').map_while(Result::ok) {
                    if line.windows(marker.len()).any(|w| w == marker.as_bytes()) {
                        let _ = seen.set(t0.elapsed().as_secs_f64());
                    }
                }
            }));
        }
        children.push((prog.clone(), child));
    }
    let sampler = ThreadSampler::start(children.iter().map(|(_, c)| c.id()).collect(), Duration::from_millis(20));
    let mut cpu = 0.0;
    let mut rss: f64 = 0.0;
    let mut failed = None;
    for (prog, child) in children {
        let pid = child.id() as libc::pid_t;
        let mut status = 0;
        // SAFETY: wait4 on our own child; the rusage struct is ours.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            failed.get_or_insert(BenchError::Run { what: prog, reason: format!("exited with status {status}") });
        }
        cpu += tv(ru.ru_utime) + tv(ru.ru_stime);
        rss = rss.max(ru.ru_maxrss as f64 / 1024.0);
        std::mem::forget(child);
    }
    let wall_s = t0.elapsed().as_secs_f64();
    let stage_cpu_s = sampler.finish();
    readers.into_iter().for_each(|r| drop(r.join()));
    let marker_s = seen.get().copied();
    match failed {
        Some(e) => Err(e),
        None => Ok(ChildUsage { usage: Usage { wall_s, cpu_s: cpu }, peak_rss_mb: rss, stage_cpu_s, marker_s }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_stat_lines_parse() {
        let line = "4242 (multiqueue0:src) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0 9 0 100 0 0";
        assert_eq!(thread_ticks(line), Some(("multiqueue0:src".into(), 175)));
        let odd = "7 (a) b (c)) R 1 2 3 4 5 6 7 8 9 10 3 4 0 0";
        assert_eq!(thread_ticks(odd), Some(("a) b (c)".into(), 7)));
        assert_eq!(stage_of("multiqueue0:src", false), "gstreamer_decode");
        assert_eq!(stage_of("features-cpu#0-", false), "features_worker");
        assert_eq!(stage_of("refinevad", false), "onnxruntime_pool");
        assert_eq!(stage_of("refinevad", true), "main");
        assert_eq!(stage_of("segmenter", false), "segmenter");
    }
}
