//! Flame graphs of each service at a fixed rate: `perf record` (cpu-clock,
//! DWARF call graphs, since release builds keep no frame pointers) on every
//! service at once while the load generator runs, then `perf script` folded
//! and drawn by the `inferno` crate, one SVG per service beside the report.

use super::components::Options as Stack;
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Samples per second and thread: a prime, so it does not beat with timers.
const FREQUENCY: &str = "499";
/// Leaf functions the report names per service.
const TOP_FUNCTIONS: usize = 5;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flame {
    pub service: String,
    pub svg: PathBuf,
    /// CPU time the samples stand for (perf's cpu-clock periods), ms.
    pub sampled_ms: f64,
    /// The functions most samples were in (leaf frames), with their share.
    pub top: Vec<(String, f64)>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Flames {
    pub rate: u64,
    pub secs: u64,
    pub graphs: Vec<Flame>,
    /// Why there are none, when there are none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// The flames' file in a run's work directory.
pub fn path(work: &Path) -> PathBuf {
    work.join("flames.json")
}

/// Records every service for `secs` seconds at `rate` orders/s and draws
/// `<out_dir>/<stamp>-flame-<service>.svg` (and `latest-flame-<service>.svg`).
pub async fn record(
    stack: &Stack,
    services: &[&str],
    out_dir: &Path,
    stamp: &str,
) -> anyhow::Result<Flames> {
    let mut flames = Flames {
        rate: stack.rate,
        secs: stack.secs,
        ..Default::default()
    };
    if Command::new("perf").arg("--version").output().is_err() {
        flames.skipped = Some("perf is not installed (Debian: linux-perf)".into());
        return Ok(flames);
    }
    let dir = stack.work.join("flame");
    std::fs::create_dir_all(&dir)?;
    let url = stack
        .endpoint("order-service")?
        .trim_end_matches("/metrics")
        .to_owned();
    let warmup = 2;
    let mut load = Command::new(&stack.loadgen)
        .args(["orders", "--url", &url, "--cooldown", "1"])
        .args(["--warmup", &warmup.to_string()])
        .args(["--rate", &stack.rate.to_string()])
        .args(["--duration", &stack.secs.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the load generator")?;
    tokio::time::sleep(Duration::from_secs(warmup)).await;
    let mut perfs = Vec::new();
    for service in services {
        let pid = stack.pid(service)?;
        let data = dir.join(format!("{service}.data"));
        let child = Command::new("perf")
            .args([
                "record",
                "-q",
                "-e",
                "cpu-clock",
                "-F",
                FREQUENCY,
                "--call-graph",
                "dwarf",
            ])
            .args(["-p", &pid.to_string(), "-o"])
            .arg(&data)
            .args(["--", "sleep", &stack.secs.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting perf record")?;
        perfs.push((*service, data, child));
    }
    let mut recorded = Vec::new();
    for (service, data, child) in perfs {
        let output = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
        if !output.status.success() || !data.exists() {
            let why = String::from_utf8_lossy(&output.stderr).trim().to_owned();
            flames.skipped = Some(format!("perf record failed on {service}: {why}"));
        } else {
            recorded.push((service, data));
        }
    }
    tokio::task::spawn_blocking(move || load.wait()).await??;
    if flames.skipped.is_some() {
        return Ok(flames);
    }
    for (service, data) in recorded {
        let title = format!(
            "{service} at {} orders/s (perf cpu-clock, {FREQUENCY} Hz)",
            stack.rate
        );
        let svg = out_dir.join(format!("{stamp}-flame-{service}.svg"));
        let flame = draw(&data, &title, &svg).with_context(|| format!("drawing {service}"))?;
        std::fs::copy(&svg, out_dir.join(format!("latest-flame-{service}.svg")))?;
        flames.graphs.push(Flame {
            service: service.to_owned(),
            svg,
            sampled_ms: flame.0 as f64 / 1e6,
            top: flame.1,
        });
    }
    Ok(flames)
}

/// `perf script` of `data`, folded, drawn into `svg`; returns the CPU
/// nanoseconds sampled (cpu-clock's periods) and the top leaf functions.
fn draw(data: &Path, title: &str, svg: &Path) -> anyhow::Result<(u64, Vec<(String, f64)>)> {
    use inferno::collapse::Collapse;
    // --no-inline: perf's inline lookup calls addr2line per address, minutes per graph.
    let mut script = Command::new("perf")
        .args(["script", "--no-inline", "-i"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting perf script")?;
    let stdout = script.stdout.take().context("perf script's output")?;
    let mut folded = Vec::new();
    inferno::collapse::perf::Folder::default().collapse(BufReader::new(stdout), &mut folded)?;
    if !script.wait()?.success() {
        bail!("perf script failed on {}", data.display());
    }
    let folded = String::from_utf8_lossy(&folded).into_owned();
    let (samples, top) = leaves(&folded);
    if samples == 0 {
        bail!("no samples in {}", data.display());
    }
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_owned();
    let file = std::fs::File::create(svg)?;
    inferno::flamegraph::from_lines(&mut options, folded.lines(), std::io::BufWriter::new(file))?;
    Ok((samples, top))
}

/// The folded weight in total, and the [`TOP_FUNCTIONS`] leaf frames with their share.
fn leaves(folded: &str) -> (u64, Vec<(String, f64)>) {
    let mut by_leaf: BTreeMap<&str, u64> = BTreeMap::new();
    let mut total = 0;
    for line in folded.lines() {
        let Some((stack, count)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(count) = count.parse::<u64>() else {
            continue;
        };
        let leaf = stack.rsplit(';').next().unwrap_or(stack);
        *by_leaf.entry(leaf).or_default() += count;
        total += count;
    }
    let mut top: Vec<(&str, u64)> = by_leaf.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let top = top
        .into_iter()
        .take(TOP_FUNCTIONS)
        .map(|(name, n)| (name.to_owned(), n as f64 / total.max(1) as f64))
        .collect();
    (total, top)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_sum_samples_by_their_last_frame() {
        let folded = "tokio;main;memcpy 6\nactix;parse;memcpy 2\nactix;parse 2\n";
        let (total, top) = leaves(folded);
        assert_eq!(total, 10);
        assert_eq!(top, vec![("memcpy".into(), 0.8), ("parse".into(), 0.2)]);
    }
}
