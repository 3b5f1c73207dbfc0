//! CPU time and resident memory of a process, from `/proc`.

use std::fs;

/// Clock ticks per second for `/proc/PID/stat` times.
fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// What `/proc/PID/stat` says of a process's CPU time, in clock ticks.
struct Stat {
    ppid: u32,
    /// utime + stime: the process's own threads.
    own: u64,
    /// cutime + cstime: its children that have exited and been waited for.
    reaped_children: u64,
}

fn stat(pid: &str) -> Option<Stat> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start
    // after the last ')'. ppid, utime, stime, cutime and cstime are fields
    // 4, 14, 15, 16 and 17 overall, i.e. 2nd, 12th … 15th after the name
    // (state is the 3rd field).
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> Option<u64> { fields.get(i)?.parse().ok() };
    Some(Stat {
        ppid: fields.get(1)?.parse().ok()?,
        own: field(11)? + field(12)?,
        reaped_children: field(13)? + field(14)?,
    })
}

/// utime + stime of `pid` (or `self`), in seconds.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    Some(stat(pid)?.own as f64 / clock_ticks())
}

/// CPU seconds of `root` and all its descendants (nginx's workers,
/// Postgres' backends): utime + stime + cutime + cstime of every live
/// process of the tree. A process that exited is in its reaper's cutime +
/// cstime (and no longer in the tree), so each tick counts once. None if
/// `root` is gone.
pub fn tree_cpu_seconds(root: u32) -> Option<f64> {
    let root_stat = stat(&root.to_string())?;
    let procs: Vec<(u32, Stat)> = fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != root)
        .filter_map(|pid| Some((pid, stat(&pid.to_string())?)))
        .collect();
    Some(tree_ticks(root, &root_stat, &procs) as f64 / clock_ticks())
}

/// The sum behind [`tree_cpu_seconds`], over a snapshot of `/proc`.
fn tree_ticks(root: u32, root_stat: &Stat, procs: &[(u32, Stat)]) -> u64 {
    let mut total = root_stat.own + root_stat.reaped_children;
    let mut parents = vec![root];
    while let Some(parent) = parents.pop() {
        for (pid, s) in procs.iter().filter(|(_, s)| s.ppid == parent) {
            total += s.own + s.reaped_children;
            parents.push(*pid);
        }
    }
    total
}

/// CPU seconds the whole machine has been busy (all CPUs: user, nice,
/// system, irq, softirq, steal from the first line of `/proc/stat`; idle and
/// iowait excluded).
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice,
    // already counted in user and nice]
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| fields.get(i))
        .sum();
    Some(busy as f64 / clock_ticks())
}

/// VmRSS of `pid` (or `self`), in KiB.
pub fn rss_kib(pid: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Raises the open-files limit so many sockets fit; returns the soft limit.
pub fn raise_nofile(wanted: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    if lim.rlim_cur >= wanted {
        return lim.rlim_cur;
    }
    // Try above the hard limit first (works as root), then up to it.
    let raised = libc::rlimit {
        rlim_cur: wanted,
        rlim_max: lim.rlim_max.max(wanted),
    };
    // SAFETY: raised is a valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        return wanted;
    }
    let capped = libc::rlimit {
        rlim_cur: lim.rlim_max,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: capped is a valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &capped) } == 0 {
        return lim.rlim_max;
    }
    lim.rlim_cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        assert!(cpu_seconds("self").is_some());
        assert!(rss_kib("self").unwrap() > 0);
        let me = std::process::id();
        assert!(tree_cpu_seconds(me).unwrap() >= cpu_seconds("self").unwrap() - 0.05);
        assert!(machine_busy_seconds().unwrap() > 0.0);
    }

    #[test]
    fn a_tree_sums_its_descendants_and_what_they_reaped() {
        let s = |ppid, own, reaped_children| Stat {
            ppid,
            own,
            reaped_children,
        };
        // 10 → 11 → 12, 10 → 13; 20 is not in the tree. 11 reaped
        // children worth 100 ticks.
        let procs = [
            (11, s(10, 5, 100)),
            (12, s(11, 7, 0)),
            (13, s(10, 1, 0)),
            (20, s(1, 1000, 0)),
        ];
        assert_eq!(tree_ticks(10, &s(1, 2, 3), &procs), 2 + 3 + 5 + 100 + 7 + 1);
    }
}
