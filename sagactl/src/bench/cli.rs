//! `sagactl bench <subcommand>`: the steps scripts/bench.sh calls, in order.

use super::snapshot::{self, Tree};
use super::step::{self, Drain, Window};
use super::{components, db, dump, flame, limits, load, put_file, report};
use crate::metrics::Endpoint;
use crate::quiet::{self, Scope};
use crate::Sources;
use anyhow::Context;
use clap::Subcommand;
use contract::kafka::KafkaConfig;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Merge `key=text` and `key:=json` values into a JSON file; dotted keys nest.
    Put { file: PathBuf, values: Vec<String> },
    /// Record the machine, the settings the running processes have
    /// (/proc/PID/environ, the JVM's heap) and Postgres's; prints the
    /// synchronous_commit the services' roles get.
    Settings {
        run: PathBuf,
        /// NAME=PID of each service, and kafka=PID.
        #[arg(long = "proc")]
        procs: Vec<Tree>,
    },
    /// CPU time of process trees, the services' /metrics, the databases'
    /// commit counters and the saga's Kafka log bytes, with the clock.
    Snapshot {
        file: PathBuf,
        /// NAME=PID: a process and all its descendants.
        #[arg(long = "tree")]
        trees: Vec<Tree>,
        /// NAME=URL of a service's metrics.
        #[arg(long)]
        metrics: Vec<Endpoint>,
        /// Read pg_stat_database's commits (as PG_ADMIN_URL).
        #[arg(long)]
        pg: bool,
        /// The broker's log directory: sum the saga's topic segments.
        #[arg(long)]
        kafka_logs: Option<PathBuf>,
    },
    /// The size of our Kafka records between two snapshots taken with
    /// --metrics and --kafka-logs (500 B assumed when it cannot be measured);
    /// records it in RUN and prints it.
    RecordSize {
        run: PathBuf,
        before: PathBuf,
        after: PathBuf,
    },
    /// Read the limits kafka-producer-perf-test and pgbench printed into RUN.
    Limits {
        run: PathBuf,
        #[arg(long)]
        kafka_perf: Option<PathBuf>,
        #[arg(long)]
        pgbench: Option<PathBuf>,
    },
    /// pg_stat_statements over the ladder (as PG_ADMIN_URL): `start` turns
    /// tracking on and empties it; `read FILE` writes the saga databases'
    /// statements and turns tracking off; `stop` only turns it off.
    Statements {
        #[command(subcommand)]
        command: StatementsCommand,
    },
    /// pgbench's scratch database (as PG_ADMIN_URL).
    Scratch {
        #[command(subcommand)]
        command: ScratchCommand,
    },
    /// Close one ladder step: wait until the saga is quiet, read the orders
    /// of the window and judge it (DIR/result.json). Prints a progress line on
    /// stderr and the verdict (ok | behind | shed | failed) on stdout.
    Step {
        dir: PathBuf,
        #[arg(long)]
        rate: u64,
        /// Measured seconds.
        #[arg(long)]
        secs: u64,
        #[arg(long)]
        warmup: u64,
        /// When the measured window began (ms since the epoch).
        #[arg(long)]
        start_ms: i64,
        /// A saga is completed in time if final by the window's end + this.
        #[arg(long)]
        grace: u64,
        /// Drained within this still keeps up.
        #[arg(long)]
        drained_ok: u64,
        /// Longest wait for the saga to drain.
        #[arg(long)]
        drain_secs: u64,
        /// Orders and outbox rows from here on count for the drain.
        #[arg(long)]
        since_ms: i64,
        #[arg(long)]
        metrics: Vec<Endpoint>,
    },
    /// The component benchmarks (see `components`): the POST path alone, then
    /// each relay and each consumer draining its backlog alone, with CPU per
    /// item; WORK/components.json. Restarts the services through STACK.
    Components {
        #[command(flatten)]
        options: components::Options,
        /// Then the flame graphs: orders/s and seconds recorded (0: none),
        /// drawn into OUT_DIR/STAMP-flame-<service>.svg; WORK/flames.json.
        #[arg(long, default_value_t = 500)]
        flame_rate: u64,
        #[arg(long, default_value_t = 10)]
        flame_secs: u64,
        #[arg(long)]
        out_dir: PathBuf,
        #[arg(long)]
        stamp: String,
    },
    /// Prints how many orders created since --since-ms are final.
    Sagas {
        #[arg(long)]
        since_ms: i64,
    },
    /// Prints the sustainable rate of the steps in WORK so far (nothing when none kept up).
    Sustainable { work: PathBuf },
    /// The whole run -> OUT_DIR/<stamp>.{json,md,svg} and latest.*; prints the
    /// Markdown; exits 1 when the report lacks a limit or the saga cost, a
    /// step completed no saga, or the audit was not clean.
    Report { work: PathBuf, out_dir: PathBuf },
}

#[derive(Subcommand)]
pub enum StatementsCommand {
    Start,
    Read { file: PathBuf },
    Stop,
}

#[derive(Subcommand)]
pub enum ScratchCommand {
    /// Create it afresh, write pgbench's script to SCRIPT, print its URL.
    Create {
        script: PathBuf,
    },
    Drop,
}

/// Where things are, from sagactl's global options.
pub struct Env {
    pub databases: [String; 3],
    pub pg_admin_url: String,
    pub kafka: KafkaConfig,
}

impl Env {
    fn sources(&self) -> anyhow::Result<Sources> {
        let [orders, billing, notifications] = &self.databases;
        Sources::lazy(orders, billing, notifications, self.kafka.clone())
    }
}

/// Runs one `bench` subcommand; returns the exit status (1: the report failed its rules).
pub async fn run(command: BenchCommand, env: &Env) -> anyhow::Result<u8> {
    match command {
        BenchCommand::Put { file, values } => put_file(&file, &values)?,
        BenchCommand::Settings { run, procs } => settings(&run, &procs, env).await?,
        BenchCommand::Snapshot {
            file,
            trees,
            metrics,
            pg,
            kafka_logs,
        } => {
            let topics = contract::topics::SAGA_TOPICS
                .iter()
                .map(|t| env.kafka.topic(t))
                .collect();
            let snap = snapshot::take(&snapshot::Sources {
                trees: &trees,
                metrics: &metrics,
                pg_admin_url: pg.then_some(env.pg_admin_url.as_str()),
                kafka_logs: kafka_logs.as_deref().map(|dir| (dir, topics)),
            })
            .await?;
            dump(&file, &snap)?;
        }
        BenchCommand::RecordSize { run, before, after } => {
            let read =
                |p: &Path| load(p).with_context(|| format!("no snapshot in {}", p.display()));
            let (size, source) = match snapshot::record_size(&read(&before)?, &read(&after)?) {
                Some((size, records)) => (
                    size,
                    format!("measured: Kafka log bytes per record over {records} warm-up records"),
                ),
                None => {
                    eprintln!("warning: cannot measure the record size; assuming 500-byte records");
                    (
                        500,
                        "assumed: the broker's log directory is not local, or the warm-up published nothing".into(),
                    )
                }
            };
            put_file(
                &run,
                &[
                    format!("limits.kafka.record_size:={size}"),
                    format!("limits.kafka.record_size_source={source}"),
                ],
            )?;
            println!("{size}");
        }
        BenchCommand::Limits {
            run,
            kafka_perf,
            pgbench,
        } => read_limits(&run, kafka_perf.as_deref(), pgbench.as_deref())?,
        BenchCommand::Statements { command } => {
            let admin = db::admin(&env.pg_admin_url, None).await?;
            match command {
                StatementsCommand::Start => db::statements_start(&admin).await?,
                StatementsCommand::Read { file } => {
                    let statements = db::statements(&admin).await?;
                    db::set_statements_tracking(&admin, "none").await?;
                    dump(&file, &statements)?;
                }
                StatementsCommand::Stop => db::set_statements_tracking(&admin, "none").await?,
            }
        }
        BenchCommand::Scratch { command } => match command {
            ScratchCommand::Create { script } => {
                db::create_scratch(&env.pg_admin_url).await?;
                std::fs::write(&script, db::PGBENCH_SCRIPT)?;
                println!("{}", db::scratch_url(&env.pg_admin_url));
            }
            ScratchCommand::Drop => db::drop_scratch(&env.pg_admin_url).await?,
        },
        BenchCommand::Step {
            dir,
            rate,
            secs,
            warmup,
            start_ms,
            grace,
            drained_ok,
            drain_secs,
            since_ms,
            metrics,
        } => {
            let window = Window {
                rate,
                duration: secs,
                warmup,
                start_ms,
                end_ms: start_ms + 1000 * secs as i64,
                grace,
                drained_ok,
            };
            let verdict = close_step(&dir, window, drain_secs, since_ms, metrics, env).await?;
            println!("{verdict}");
        }
        BenchCommand::Components {
            mut options,
            flame_rate,
            flame_secs,
            out_dir,
            stamp,
        } => {
            let measured = components::run(&options, &env.sources()?).await?;
            dump(&components::path(&options.work), &measured)?;
            if flame_secs > 0 {
                (options.rate, options.secs) = (flame_rate, flame_secs);
                let flames = flame::record(&options, &super::SERVICES, &out_dir, &stamp).await?;
                match &flames.skipped {
                    Some(why) => eprintln!("warning: no flame graphs: {why}"),
                    None => {
                        for graph in &flames.graphs {
                            eprintln!(
                                "==>   flame graph: {} ({:.0} ms of CPU sampled)",
                                graph.svg.display(),
                                graph.sampled_ms
                            );
                        }
                    }
                }
                dump(&flame::path(&options.work), &flames)?;
            }
        }
        BenchCommand::Sagas { since_ms } => {
            let sources = env.sources()?;
            println!(
                "{}",
                db::sagas_since(&sources.orders, db::at_ms(since_ms)?).await?
            );
        }
        BenchCommand::Sustainable { work } => {
            let steps = report::load_steps(&work);
            if let (Some(best), _) = report::sustainable(&steps) {
                println!("{}", best.rate);
            }
        }
        BenchCommand::Report { work, out_dir } => {
            let (_, _, problems) = report::build(&work, &out_dir)?;
            for problem in &problems {
                eprintln!("error: {problem}");
            }
            if !problems.is_empty() {
                return Ok(1);
            }
        }
    }
    Ok(0)
}

async fn settings(run: &Path, procs: &[Tree], env: &Env) -> anyhow::Result<()> {
    use super::proc;
    let mut data: Value = load(run).unwrap_or_else(|| serde_json::json!({}));
    data["machine"] = serde_json::to_value(proc::machine())?;
    let mut service_env = serde_json::Map::new();
    for tree in procs
        .iter()
        .filter(|t| super::SERVICES.contains(&t.name.as_str()))
    {
        service_env.insert(
            tree.name.clone(),
            serde_json::to_value(proc::process_settings(tree.value))?,
        );
    }
    data["service_env"] = Value::Object(service_env);
    if let Some(kafka) = procs.iter().find(|t| t.name == "kafka") {
        data["kafka_heap"] = proc::jvm_heap(&proc::process_cmdline(kafka.value)).into();
    }
    let admin = db::admin(&env.pg_admin_url, None).await?;
    let (version, settings) = db::server_settings(&admin).await?;
    let sync = db::synchronous_commit(&env.sources()?.orders).await?;
    data["postgres"] = serde_json::json!({
        "version": version,
        "settings": format!("{settings}, synchronous_commit={sync}"),
    });
    dump(run, &data)?;
    println!("{sync}");
    Ok(())
}

fn read_limits(
    run: &Path,
    kafka_perf: Option<&Path>,
    pgbench: Option<&Path>,
) -> anyhow::Result<()> {
    let mut values = Vec::new();
    let tools: [(&str, Option<&Path>, limits::Reader); 2] = [
        ("kafka", kafka_perf, limits::kafka),
        ("postgres", pgbench, limits::pgbench),
    ];
    for (tool, path, parse) in tools {
        let Some(path) = path else { continue };
        let Some(found) = parse(&std::fs::read_to_string(path).unwrap_or_default()) else {
            eprintln!("warning: no result line in {}", path.display());
            continue;
        };
        println!("==>   {}", limits::summary(tool, &found));
        let fields = found.as_object().into_iter().flatten();
        values.extend(fields.map(|(key, v)| format!("limits.{tool}.{key}:={v}")));
    }
    put_file(run, &values)
}

/// After a step's load: the drain, the window's orders, the judgement; the
/// raw data of each stays in `dir`.
async fn close_step(
    dir: &Path,
    window: Window,
    drain_secs: u64,
    since_ms: i64,
    metrics: Vec<Endpoint>,
    env: &Env,
) -> anyhow::Result<step::Verdict> {
    let sources = env.sources()?;
    let scope = Scope {
        since: Some(db::at_ms(since_ms)?),
        accepted: Vec::new(),
        metrics,
    };
    let waited = quiet::wait(&sources, &scope, Duration::from_secs(drain_secs)).await?;
    let drain = Drain {
        drained: waited.is_some(),
        seconds: waited.map_or(drain_secs as f64, |d| {
            (d.as_secs_f64() * 1000.0).round() / 1000.0
        }),
    };
    // After the drain, so slow sagas are not left out.
    let orders = db::window_orders(
        &sources.orders,
        db::at_ms(window.start_ms)?,
        db::at_ms(window.end_ms)?,
        db::at_ms(window.end_ms + 1000 * window.grace as i64)?,
    )
    .await?;
    dump(&dir.join("window.json"), &window)?;
    dump(&dir.join("drain.json"), &drain)?;
    dump(&dir.join("sql.json"), &orders)?;
    let summary: Value = load(&dir.join("k6.json")).unwrap_or_default();
    let snap = |name: &str| load(&dir.join(name)).unwrap_or_default();
    let result = step::analyse(&step::Inputs {
        window: &window,
        summary: &summary,
        orders: &orders,
        drain: &drain,
        start: &snap("start.json"),
        end: &snap("end.json"),
        clk_tck: super::proc::clk_tck(),
        cores: super::proc::cores(),
    });
    dump(&dir.join("result.json"), &result)?;
    eprintln!("{}", step::progress(&result));
    Ok(result.verdict)
}
