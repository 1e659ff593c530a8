//! The command line: subcommands, options and their environment variables
//! (clap, derive). In the library so that tests run it in-process.

use crate::audit::{self, Thresholds};
use crate::bench::cli::{BenchCommand, Env};
use crate::dlq::{self, Entry, Selection};
use crate::Sources;
use anyhow::Context;
use clap::Subcommand;
use contract::kafka::{KafkaConfig, KafkaSecurity};
use contract::local;
use contract::topics;
use std::io::Write;
use std::time::Duration;

/// For `Cli::parse` and `Cli::try_parse_from`.
pub use clap::Parser;

#[derive(Parser)]
#[command(
    name = "sagactl",
    about = "Operator tools for the order → billing → notification saga"
)]
pub struct Cli {
    #[arg(long, env = "ORDERS_DATABASE_URL", default_value_t = local::database_url(local::ORDER_SERVICE.database))]
    orders_db: String,
    #[arg(long, env = "BILLING_DATABASE_URL", default_value_t = local::database_url(local::BILLING_SERVICE.database))]
    billing_db: String,
    #[arg(long, env = "NOTIFICATIONS_DATABASE_URL", default_value_t = local::database_url(local::NOTIFICATION_SERVICE.database))]
    notifications_db: String,
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", default_value = local::KAFKA_BOOTSTRAP_SERVERS)]
    bootstrap_servers: String,
    #[arg(long, env = "KAFKA_TOPIC_PREFIX", default_value = "")]
    topic_prefix: String,
    /// The superuser, for what the services' roles may not do (`bench`:
    /// cluster statistics and settings, pgbench's scratch database).
    #[arg(long, env = "PG_ADMIN_URL", default_value_t = local::admin_url())]
    pg_admin_url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the saga's invariants (run it when the system is quiet); exits 1 on any violation.
    Audit {
        /// An order PENDING longer than this (seconds) is stuck.
        #[arg(long, default_value_t = 60)]
        pending_threshold_secs: u64,
        /// An unpublished outbox row older than this (seconds) is stale.
        #[arg(long, default_value_t = 30)]
        outbox_threshold_secs: u64,
        /// A file of order ids a client saw accepted (one per line): each must
        /// be stored (else `lost_order`); the report counts how many are final.
        #[arg(long, value_name = "FILE")]
        accepted: Option<std::path::PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// What travels on a saga topic (all three when omitted): each event
    /// type and version, the consumer groups that accept it, and its JSON
    /// Schema, as compiled into this release.
    Contract {
        /// e.g. payment-requests.
        topic: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Dead-lettered records.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// One order's story: order, payment, notifications, records on the topics.
    Trail { order_id: uuid::Uuid },
    /// Wait until the saga is quiet: no PENDING order and no unpublished
    /// outbox row (created since --since-ms), every --accepted order final,
    /// and the consumers of --metrics standing still. Prints the seconds it
    /// took; exits 1 on timeout.
    WaitQuiet {
        /// Only orders and outbox rows created from here on (ms since the epoch) count.
        #[arg(long)]
        since_ms: Option<i64>,
        /// A file of order ids, one per line, that must all exist and be final.
        #[arg(long)]
        accepted: Option<std::path::PathBuf>,
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        /// NAME=URL of a service's metrics (consumer_records_total).
        #[arg(long)]
        metrics: Vec<crate::metrics::Endpoint>,
    },
    /// The measurements and report of `make bench` (driven by scripts/bench.sh).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(clap::Args)]
struct SelectionArgs {
    /// A dead-letter topic (e.g. payment-requests.dlq or payment-requests); all when omitted.
    #[arg(long)]
    topic: Option<String>,
    #[arg(long)]
    partition: Option<i32>,
    #[arg(long)]
    from_offset: Option<i64>,
    #[arg(long)]
    to_offset: Option<i64>,
    #[arg(long)]
    event_type: Option<String>,
}

impl SelectionArgs {
    fn selection(&self) -> Selection {
        Selection {
            topic: self.topic.clone(),
            partition: self.partition,
            from_offset: self.from_offset,
            to_offset: self.to_offset,
            event_type: self.event_type.clone(),
        }
    }

    fn is_empty(&self) -> bool {
        self.topic.is_none()
            && self.partition.is_none()
            && self.from_offset.is_none()
            && self.to_offset.is_none()
            && self.event_type.is_none()
    }
}

#[derive(Subcommand)]
enum DlqCommand {
    /// List dead-lettered records with their provenance.
    List {
        #[command(flatten)]
        select: SelectionArgs,
        #[arg(long)]
        json: bool,
    },
    /// Show one record: `sagactl dlq show payment-requests.dlq 0 17`.
    Show {
        topic: String,
        partition: i32,
        offset: i64,
    },
    /// Whether each consumer group of the record's topic would accept it
    /// now (before a replay): `sagactl dlq check payment-requests 0 17`;
    /// exits 1 when one would refuse it.
    Check {
        topic: String,
        partition: i32,
        offset: i64,
    },
    /// Send records back to their original topic once the cause is fixed.
    Replay {
        #[command(flatten)]
        select: SelectionArgs,
        /// Replay every dead-lettered record (required when no filter is given).
        #[arg(long)]
        all: bool,
    },
}

/// Runs one command, writing its report to `out` (stdout for the binary);
/// returns the exit status: 0, or 1 when `audit` finds a violation (or
/// `wait-quiet` times out, or a benchmark report fails its rules).
pub async fn run(cli: Cli, out: &mut impl Write) -> anyhow::Result<u8> {
    let kafka = KafkaConfig {
        bootstrap_servers: cli.bootstrap_servers.clone(),
        topic_prefix: cli.topic_prefix.clone(),
        security: KafkaSecurity::from_lookup(&|name| std::env::var(name).ok())?,
    };
    let databases = [cli.orders_db, cli.billing_db, cli.notifications_db];
    match cli.command {
        Command::Audit {
            pending_threshold_secs,
            outbox_threshold_secs,
            accepted,
            json,
        } => {
            let sources = connect(&databases, kafka).await?;
            let thresholds = Thresholds {
                pending: Duration::from_secs(pending_threshold_secs),
                outbox: Duration::from_secs(outbox_threshold_secs),
            };
            let mut report = audit::audit(&sources, thresholds).await?;
            if let Some(path) = accepted {
                let ids = read_order_ids(&path)?;
                audit::check_accepted(&sources, &ids, &mut report).await?;
            }
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            } else {
                write!(out, "{}", audit::render(&report))?;
            }
            Ok(if report.violations.is_empty() { 0 } else { 1 })
        }
        Command::Contract { topic, json } => {
            let contracts = crate::contracts::contracts(topic.as_deref())?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&contracts)?)?;
            } else {
                write!(out, "{}", crate::contracts::render(&contracts))?;
            }
            Ok(0)
        }
        Command::Dlq { command } => {
            let [orders, billing, notifications] = &databases;
            let sources = Sources::lazy(orders, billing, notifications, kafka)?;
            dlq_command(command, &sources, out).await
        }
        Command::Trail { order_id } => {
            let sources = connect(&databases, kafka).await?;
            write!(out, "{}", crate::trail::trail(&sources, order_id).await?)?;
            Ok(0)
        }
        Command::WaitQuiet {
            since_ms,
            accepted,
            timeout,
            metrics,
        } => {
            let sources = connect(&databases, kafka).await?;
            let accepted = match accepted {
                Some(path) => read_order_ids(&path)?,
                None => Vec::new(),
            };
            let since = since_ms
                .map(|ms| {
                    chrono::DateTime::from_timestamp_millis(ms)
                        .ok_or_else(|| anyhow::anyhow!("--since-ms {ms} is out of range"))
                })
                .transpose()?;
            let scope = crate::quiet::Scope {
                since,
                accepted,
                metrics,
            };
            match crate::quiet::wait(&sources, &scope, Duration::from_secs(timeout)).await? {
                Some(took) => {
                    writeln!(out, "{:.3}", took.as_secs_f64())?;
                    Ok(0)
                }
                None => {
                    let still = crate::quiet::busy(&sources, &scope).await?;
                    eprintln!(
                        "not quiet after {timeout} s: {}",
                        still
                            .as_deref()
                            .unwrap_or("the consumers are still working")
                    );
                    Ok(1)
                }
            }
        }
        Command::Bench { command } => {
            let env = Env {
                databases,
                pg_admin_url: cli.pg_admin_url,
                kafka,
            };
            crate::bench::cli::run(command, &env).await
        }
    }
}

/// The three databases: orders, billing, notifications.
async fn connect(databases: &[String; 3], kafka: KafkaConfig) -> anyhow::Result<Sources> {
    let [orders, billing, notifications] = databases;
    Sources::connect(orders, billing, notifications, kafka).await
}

async fn dlq_command(
    command: DlqCommand,
    sources: &Sources,
    out: &mut impl Write,
) -> anyhow::Result<u8> {
    let kafka = sources.kafka.clone();
    match command {
        DlqCommand::List { select, json } => {
            let selection = select.selection();
            let records =
                tokio::task::spawn_blocking(move || dlq::list(&kafka, &selection)).await??;
            for record in &records {
                let entry = Entry::from_record(record);
                if json {
                    writeln!(out, "{}", serde_json::to_string(&entry)?)?;
                } else {
                    writeln!(out, "{}", entry.line())?;
                }
            }
            eprintln!("{} dead-lettered record(s)", records.len());
        }
        DlqCommand::Show {
            topic,
            partition,
            offset,
        } => {
            let record = one_record(&kafka, topic, partition, offset).await?;
            let record = &record;
            let entry = Entry::from_record(record);
            let stored = dlq::stored_if_cut(sources, &entry).await?;
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "record": entry,
                    "storedOriginal": stored,
                }))?
            )?;
        }
        DlqCommand::Check {
            topic,
            partition,
            offset,
        } => {
            let dlq_topic = topics::as_dlq(&topic);
            let record = one_record(&kafka, topic, partition, offset).await?;
            let stored = dlq::stored_if_cut(sources, &Entry::from_record(&record)).await?;
            let original = dlq::Original::of(&record, stored.as_ref());
            let origin = topics::dlq_origin(&dlq_topic);
            let verdicts = dlq::check(origin, &original.record(origin));
            for verdict in &verdicts {
                writeln!(out, "{}", verdict.line())?;
            }
            if verdicts.is_empty() {
                writeln!(out, "no consumer group reads {origin}")?;
            }
            let accepted = !verdicts.is_empty() && verdicts.iter().all(|v| v.refused.is_none());
            return Ok(if accepted { 0 } else { 1 });
        }
        DlqCommand::Replay { select, all } => {
            if select.is_empty() && !all {
                anyhow::bail!("say which records to replay (--topic, --partition, --from-offset, --to-offset, --event-type) or --all");
            }
            let replayed = dlq::replay(sources, &select.selection()).await?;
            for (entry, target) in &replayed {
                writeln!(
                    out,
                    "replayed {} {}@{} ({} {}) -> {target}",
                    entry.dlq_topic,
                    entry.partition,
                    entry.offset,
                    entry.event_type.as_deref().unwrap_or("-"),
                    entry.event_id.as_deref().unwrap_or("-")
                )?;
            }
            writeln!(out, "{} record(s) replayed", replayed.len())?;
        }
    }
    Ok(0)
}

/// The dead letter at `offset` of `partition` of `topic` (as `dlq show` takes it).
async fn one_record(
    kafka: &KafkaConfig,
    topic: String,
    partition: i32,
    offset: i64,
) -> anyhow::Result<rdkafka::message::OwnedMessage> {
    let selection = Selection {
        topic: Some(topic),
        partition: Some(partition),
        from_offset: Some(offset),
        to_offset: Some(offset),
        event_type: None,
    };
    let kafka = kafka.clone();
    let records = tokio::task::spawn_blocking(move || dlq::list(&kafka, &selection)).await??;
    records
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no such record"))
}

/// The order ids of a file, one per line.
fn read_order_ids(path: &std::path::Path) -> anyhow::Result<Vec<uuid::Uuid>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading order ids from {}", path.display()))?;
    crate::quiet::read_ids(&text).with_context(|| format!("in {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Tests pass the sources as flags; operators set these variables.
    #[test]
    fn every_source_can_come_from_its_environment_variable() {
        let command = Cli::command();
        let variables: Vec<String> = command
            .get_arguments()
            .filter_map(|argument| argument.get_env())
            .map(|name| name.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            variables,
            [
                "ORDERS_DATABASE_URL",
                "BILLING_DATABASE_URL",
                "NOTIFICATIONS_DATABASE_URL",
                "KAFKA_BOOTSTRAP_SERVERS",
                "KAFKA_TOPIC_PREFIX",
                "PG_ADMIN_URL"
            ]
        );
    }
}
