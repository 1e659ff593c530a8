//! `loadgen`: an open-model load generator for `make bench` and `make
//! chaos`, and the hostile records of `make chaos`.
//!
//! `loadgen orders`: orders arrive at a constant rate whatever the latency
//! (each arrival is its own task); an arrival that finds `--max-in-flight`
//! requests outstanding is dropped and counted, as k6's `dropped_iterations`.
//! One thread, kept-alive connections and no script engine keep it to a
//! fraction of the CPU k6 needs for the same rate, so steps past capacity
//! measure the services rather than the generator. Phases, options and the
//! summary's shape follow `k6/bench.js`, so `scripts/bench.sh` can run either.
//! A service that is down only makes answers fail (status 0): the load goes on.
//!
//! `loadgen hostile`: records no service would write, straight to the saga
//! topics (hostile.rs).

mod client;
mod hostile;
mod order;
mod schedule;
mod summary;

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::{Parser, Subcommand};
use contract::kafka::{KafkaConfig, KafkaSecurity};
use contract::local;
use tokio::sync::Semaphore;

use crate::client::Client;
use crate::order::{Customers, Order};
use crate::schedule::{Phase, Schedule};
use crate::summary::{PhaseStats, Settings};

#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Orders(OrdersArgs),
    Hostile(HostileArgs),
}

/// Constant-arrival-rate POSTs of random orders; durations in whole seconds.
#[derive(Debug, clap::Args)]
struct OrdersArgs {
    /// Order-service base URL (plain http).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Orders offered per second.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    rate: u64,
    /// Seconds measured (the `step` phase of the summary).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    duration: u64,
    /// Seconds of load before the measured window, not measured.
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Seconds of load after the measured window, not measured (keeps the load
    /// on while the caller takes its end-of-window snapshot).
    #[arg(long, default_value_t = 2)]
    cooldown: u64,
    /// Requests outstanding at most; an arrival beyond it is dropped.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    max_in_flight: u32,
    /// Seconds before a request without an answer counts as failed (k6's default).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Seconds to wait, after the last arrival, for outstanding requests;
    /// those still out then are counted as interrupted.
    #[arg(long, default_value_t = 10)]
    grace: u64,
    /// Customers the orders are drawn from (billing reuses their accounts).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    customer_pool: u64,
    /// A new customer per order instead, so no customer's credit runs out.
    #[arg(long, conflicts_with = "customer_pool")]
    fresh_customers: bool,
    /// File the id of every accepted order (202) is appended to, one a line,
    /// as it arrives: nothing is lost if the generator is killed.
    #[arg(long, value_name = "FILE")]
    accepted_ids: Option<PathBuf>,
    /// File the JSON summary goes to; without it, stdout.
    #[arg(long)]
    summary: Option<PathBuf>,
}

/// Hostile records into each saga topic (one dead letter per consumer group
/// that reads the topic); prints `produced N dead-letters-expected M`.
#[derive(Debug, clap::Args)]
struct HostileArgs {
    kind: hostile::Kind,
    /// Records into each saga topic.
    #[arg(long, default_value_t = 3)]
    per_topic: usize,
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", default_value = local::KAFKA_BOOTSTRAP_SERVERS)]
    bootstrap_servers: String,
    #[arg(long, env = "KAFKA_TOPIC_PREFIX", default_value = "")]
    topic_prefix: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Each request in flight holds a connection, i.e. a file descriptor.
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!(
            "loadgen: cannot raise the open-file limit ({error}); connections beyond it fail"
        );
    }
    // One thread: at these rates the work per request is tiny, and a single
    // thread spends no CPU on handing tasks between threads.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("loadgen: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Orders(args) => runtime.block_on(orders(args)),
        Command::Hostile(args) => runtime.block_on(hostile(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("loadgen: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// What the arrivals' tasks report into, by phase.
#[derive(Default)]
struct Tally {
    phases: [PhaseStats; 3],
    outstanding: [u64; 3],
    /// `--accepted-ids`, unbuffered: each id reaches the file as it arrives.
    accepted_ids: Option<File>,
    /// The first failure to write there, reported at the end.
    accepted_ids_error: Option<std::io::Error>,
}

impl Tally {
    fn keep_accepted(&mut self, order_id: &str) {
        if let Some(file) = &mut self.accepted_ids {
            if let Err(error) = file.write_all(format!("{order_id}\n").as_bytes()) {
                self.accepted_ids_error.get_or_insert(error);
            }
        }
    }
}

async fn orders(args: OrdersArgs) -> anyhow::Result<()> {
    let schedule = Schedule {
        rate: args.rate,
        warmup_s: args.warmup,
        duration_s: args.duration,
        cooldown_s: args.cooldown,
    };
    let client = Client::new(&args.url, Duration::from_secs(args.timeout))?;
    let accepted_ids = match &args.accepted_ids {
        Some(path) => Some(
            File::options()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))?,
        ),
        None => None,
    };
    let customers = if args.fresh_customers {
        Customers::Fresh
    } else {
        Customers::Pool(args.customer_pool)
    };
    let tally = Arc::new(Mutex::new(Tally {
        accepted_ids,
        ..Tally::default()
    }));
    let slots = Arc::new(Semaphore::new(args.max_in_flight as usize));
    let mut rng = rand::rng();

    let start = Instant::now();
    let start_unix_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    // scripts/bench.sh waits for this exact line to time its snapshots.
    println!("bench-start {start_unix_ms}");
    std::io::stdout().flush()?;

    for i in 0..schedule.arrivals() {
        let due = start + schedule.due(i);
        if due > Instant::now() {
            tokio::time::sleep_until(due.into()).await;
        }
        let phase = schedule.phase(i).index();
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tally.lock().expect("tally lock").phases[phase].dropped += 1;
            continue;
        };
        tally.lock().expect("tally lock").outstanding[phase] += 1;
        let body = Order::random(&mut rng, customers).to_json();
        let (client, tally) = (client.clone(), tally.clone());
        tokio::spawn(async move {
            let answer = client.place_order(body).await;
            let mut tally = tally.lock().expect("tally lock");
            if let Some(order_id) = &answer.order_id {
                tally.keep_accepted(order_id);
            }
            tally.phases[phase].record(&answer);
            tally.outstanding[phase] -= 1;
            drop(slot);
        });
    }
    // Whatever is still out after the grace period is left unanswered.
    let _ = tokio::time::timeout(
        Duration::from_secs(args.grace),
        slots.acquire_many(args.max_in_flight),
    )
    .await;

    let mut tally = tally.lock().expect("tally lock");
    if let Some(error) = tally.accepted_ids_error.take() {
        return Err(error).context("cannot append to --accepted-ids");
    }
    let Tally {
        phases,
        outstanding,
        ..
    } = &mut *tally;
    for (stats, out) in phases.iter_mut().zip(outstanding.iter()) {
        stats.interrupted = *out;
    }
    let step = &phases[Phase::Step.index()];
    eprintln!(
        "loadgen: step {}/s for {} s: {} requests, {} accepted, {} refused as overloaded, {} other rejections \
         ({} unanswered), {} dropped; accepted p99 {} ms, refused p99 {} ms",
        schedule.rate,
        schedule.duration_s,
        step.requests,
        step.accepted,
        step.overloaded,
        step.rejected - step.overloaded,
        step.unanswered,
        step.dropped,
        ms(step.duration_202.quantile_ms(0.99)),
        ms(step.duration_503.quantile_ms(0.99)),
    );
    let settings = Settings {
        url: args.url.clone(),
        max_in_flight: args.max_in_flight as usize,
        start_unix_ms,
    };
    let text = serde_json::to_string_pretty(&summary::summary(&schedule, &settings, phases))?;
    match &args.summary {
        Some(path) => std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => println!("{text}"),
    }
    Ok(())
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_string(), |v| format!("{v:.2}"))
}

async fn hostile(args: HostileArgs) -> anyhow::Result<()> {
    let kafka = KafkaConfig {
        bootstrap_servers: args.bootstrap_servers,
        topic_prefix: args.topic_prefix,
        security: KafkaSecurity::from_lookup(&|name| std::env::var(name).ok())?,
    };
    let produced = hostile::produce(&kafka, args.kind, args.per_topic).await?;
    println!(
        "produced {produced} dead-letters-expected {}",
        hostile::dead_letters_expected(args.per_topic)
    );
    Ok(())
}
