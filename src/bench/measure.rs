//! Wall time, CPU time and peak memory of the measured work.
use std::process::Command;
use std::time::Instant;

use super::BenchError;

#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub wall_s: f64,
    pub cpu_s: f64,
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

/// Runs commands concurrently; returns wall time, summed CPU time and the largest peak
/// RSS (MB) among them, each read from the child's own `wait4` accounting.
pub fn run_child(cmds: Vec<(String, Vec<String>, Vec<(String, String)>)>) -> Result<(Usage, f64), BenchError> {
    let t0 = Instant::now();
    let mut children = Vec::new();
    for (prog, args, env) in &cmds {
        let child = Command::new(prog)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| BenchError::Run { what: prog.clone(), reason: e.to_string() })?;
        children.push((prog.clone(), child));
    }
    let mut cpu = 0.0;
    let mut rss: f64 = 0.0;
    for (prog, child) in children {
        let pid = child.id() as libc::pid_t;
        let mut status = 0;
        // SAFETY: wait4 on our own child; the rusage struct is ours.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            return Err(BenchError::Run { what: prog, reason: format!("exited with status {status}") });
        }
        cpu += tv(ru.ru_utime) + tv(ru.ru_stime);
        rss = rss.max(ru.ru_maxrss as f64 / 1024.0);
        std::mem::forget(child);
    }
    Ok((Usage { wall_s: t0.elapsed().as_secs_f64(), cpu_s: cpu }, rss))
}
