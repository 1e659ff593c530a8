//! What /proc says: CPU time of process trees and of the whole machine, the
//! settings a running process really has, and the machine itself.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs;

/// Clock ticks per second of /proc/<pid>/stat's times.
pub fn clk_tck() -> f64 {
    // SAFETY: sysconf only reads a constant of the C library.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// Online CPUs, as /proc/stat's totals count them (affinity does not matter here).
pub fn cores() -> u32 {
    // SAFETY: as above.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    u32::try_from(n).ok().filter(|n| *n > 0).unwrap_or(1)
}

/// pid → (parent pid, utime + stime + cutime + cstime) of every process.
pub fn process_stats() -> HashMap<u32, (u32, u64)> {
    let mut stats = HashMap::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return stats;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        // A process that exited while we looked is simply not there.
        if let Some(stat) = fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|raw| parse_stat(&raw))
        {
            stats.insert(pid, stat);
        }
    }
    stats
}

/// (ppid, CPU ticks) from one /proc/<pid>/stat line. The command name may
/// hold spaces and parentheses, so the fields are counted after the last `)`.
pub fn parse_stat(raw: &str) -> Option<(u32, u64)> {
    let rest: Vec<&str> = raw.get(raw.rfind(')')? + 2..)?.split_whitespace().collect();
    let ppid = rest.get(1)?.parse().ok()?;
    let ticks = rest
        .get(11..15)?
        .iter()
        .map(|x| x.parse::<u64>().ok())
        .sum::<Option<u64>>()?;
    Some((ppid, ticks))
}

/// CPU ticks of `root` and all its live descendants. Children that exited
/// and were reaped are in their parent's cutime/cstime, so a Postgres backend
/// that ends between two snapshots loses nothing.
pub fn tree_ticks(stats: &HashMap<u32, (u32, u64)>, root: u32) -> Option<u64> {
    stats.get(&root)?;
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (pid, (ppid, _)) in stats {
        children.entry(*ppid).or_default().push(*pid);
    }
    let (mut total, mut todo) = (0, vec![root]);
    while let Some(pid) = todo.pop() {
        total += stats[&pid].1;
        todo.extend(children.get(&pid).into_iter().flatten());
    }
    Some(total)
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MachineTicks {
    pub busy: u64,
    pub total: u64,
}

/// The whole machine's ticks from /proc/stat's first line.
pub fn machine_ticks() -> Option<MachineTicks> {
    let text = fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = text
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest is inside user)
    let total: u64 = fields.get(..8)?.iter().sum();
    Some(MachineTicks {
        busy: total - fields[3] - fields[4],
        total,
    })
}

/// Variables that change how the services behave under load. DATABASE_URL is
/// left out (it holds a password), and so are the scripts' *_PORT variables
/// (the services do not read them).
pub fn is_setting(key: &str) -> bool {
    const EXACT: [&str; 5] = [
        "DATABASE_MAX_CONNECTIONS",
        "DATABASE_ACQUIRE_TIMEOUT_MS",
        "RUST_LOG",
        "LOG_FORMAT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ];
    const PREFIXES: [&str; 7] = [
        "ADMISSION_",
        "OUTBOX_",
        "CONSUMER_",
        "KAFKA_",
        "INBOX_",
        "CLEANUP_",
        "BILLING_",
    ];
    let word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    !key.ends_with("_PORT")
        && (EXACT.contains(&key)
            || PREFIXES
                .iter()
                .any(|p| key.strip_prefix(p).is_some_and(word)))
}

/// The settings among a process's environment (empty when it is gone).
pub fn process_settings(pid: u32) -> BTreeMap<String, String> {
    let raw = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    raw.split(|b| *b == 0)
        .filter_map(|item| {
            let item = String::from_utf8_lossy(item);
            let (key, value) = item.split_once('=')?;
            is_setting(key).then(|| (key.to_owned(), value.to_owned()))
        })
        .collect()
}

pub fn process_cmdline(pid: u32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// The JVM's heap options (`-Xms...`, `-Xmx...`) of a command line.
pub fn jvm_heap(cmdline: &[String]) -> String {
    let heap: Vec<&str> = cmdline
        .iter()
        .map(String::as_str)
        .filter(|a| a.starts_with("-Xms") || a.starts_with("-Xmx"))
        .collect();
    if heap.is_empty() {
        "JVM default".into()
    } else {
        heap.join(" ")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub cpu_model: String,
    pub cores: u32,
    pub ram_gib: Option<f64>,
    pub kernel: String,
    pub os: String,
}

pub fn machine() -> Machine {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown".into(), |(_, v)| v.trim().to_owned());
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let ram_gib = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map(|kib| (kib / 1024.0 / 1024.0 * 10.0).round() / 10.0);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or("unknown".into(), |s| s.trim().to_owned());
    Machine {
        cpu_model,
        cores: cores(),
        ram_gib,
        os: format!("Linux-{kernel}-{}", std::env::consts::ARCH),
        kernel,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_count_from_the_last_parenthesis() {
        // pid (comm) state ppid ... utime stime cutime cstime at fields 14-17.
        let raw = "42 (post gres: (x)) S 7 42 42 0 -1 4194560 1 0 0 0 10 20 3 4 20 0 1 0";
        assert_eq!(parse_stat(raw), Some((7, 37)));
    }

    #[test]
    fn a_tree_sums_its_live_descendants_only() {
        let stats = HashMap::from([
            (1, (0, 5)),
            (10, (1, 100)),
            (11, (10, 7)),
            (12, (10, 3)),
            (20, (1, 50)),
        ]);
        assert_eq!(tree_ticks(&stats, 10), Some(110));
        assert_eq!(tree_ticks(&stats, 1), Some(165));
        assert_eq!(tree_ticks(&stats, 99), None);
    }

    #[test]
    fn settings_are_the_tuning_variables_without_ports_or_urls() {
        assert!(is_setting("OUTBOX_BATCH_SIZE"));
        assert!(is_setting("DATABASE_MAX_CONNECTIONS"));
        assert!(!is_setting("KAFKA_PORT"));
        assert!(!is_setting("DATABASE_URL"));
        assert!(!is_setting("OUTBOX_"));
        assert!(!is_setting("HOME"));
        assert_eq!(
            jvm_heap(&["java".into(), "-Xmx512m".into(), "-Xms512m".into()]),
            "-Xmx512m -Xms512m"
        );
        assert_eq!(jvm_heap(&["java".into()]), "JVM default");
    }
}
