//! Service configuration, read from environment variables with local defaults.
//!
//! Every variable is listed in docs/operations.md; the defaults match the local stack
//! that `make up` starts, so a service runs with no variables set at all.

use std::num::{NonZeroU64, NonZeroUsize};
use std::time::Duration;

/// A service's local defaults: name, `HTTP_PORT`, database (one table of
/// them in `contract::local`).
pub use contract::local::LocalService as ServiceDefaults;

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub service_name: &'static str,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub kafka: KafkaConfig,
    /// `READINESS_TIMEOUT_MS`: how long `/health/ready` waits for each dependency.
    pub readiness_timeout: Duration,
    /// `SHUTDOWN_TIMEOUT_SECS`: how long in-flight requests get to finish after SIGTERM.
    pub shutdown_timeout: Duration,
    /// `LOG_FORMAT`: `text` (default) or `json`.
    pub log_format: LogFormat,
    /// `LOG_REPEAT_INTERVAL_SECS`, default 10: a repeated warning (refusals,
    /// database unavailable) is written at most once per interval, with the
    /// count suppressed since (see `common::throttle`).
    pub log_repeat_interval: Duration,
    pub outbox: OutboxConfig,
    /// `CONSUMER_BATCH_SIZE`, default 200: at most this many records already
    /// fetched are applied in one transaction (1 = a transaction per record).
    pub consumer_batch_size: usize,
    /// `CONSUMER_BATCH_WAIT_MS`, default 5: after a batch's first record the
    /// consumer waits this long for more, so a batch holds what arrived
    /// meanwhile rather than one record per transaction (0 = apply what is
    /// already fetched at once).
    pub consumer_batch_wait: Duration,
    /// `CONSUMER_MAX_ATTEMPTS`, default 10: a record whose handling keeps
    /// failing with a transient error while the database answers is
    /// dead-lettered after this many attempts (about 20 s with the backoff).
    pub consumer_max_attempts: u32,
    /// `CONSUMER_STALL_THRESHOLD_SECS`, default 30: a consumer busy on the
    /// same records for longer is named as stalled by `/health/ready`.
    pub consumer_stall_threshold: Duration,
    /// `OUTBOX_RELAY_ENABLED`, default true: false runs the service without
    /// its relay, so its events wait in the outbox (API-only replicas beside
    /// relaying ones; the benchmark's POST path measured alone).
    pub relay_enabled: bool,
    /// `CONSUMERS_ENABLED`, default true: false runs the service without its
    /// consumers (its records wait on their topics).
    pub consumers_enabled: bool,
    /// `ADMIN_TOKEN` (or `ADMIN_TOKEN_FILE`), default unset: the bearer token
    /// admin endpoints (billing's `PUT /api/accounts/{id}`) require; unset,
    /// they answer 403 (see `common::admin`). At least
    /// [`MIN_ADMIN_TOKEN_CHARS`] visible ASCII characters.
    pub admin_token: Option<SecretString>,
}

/// The shortest admin token accepted: a short one could be guessed.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 16;

#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `HTTP_HOST`: address to bind, default `127.0.0.1` (containers set `0.0.0.0`).
    pub host: String,
    /// `HTTP_PORT`: port to bind; 0 picks a free one (tests).
    pub port: u16,
    /// `HTTP_HEADER_READ_TIMEOUT_MS`, default 5000: a connection whose first
    /// request head has not fully arrived by then gets 408 and is closed
    /// (actix's `client_request_timeout`).
    pub header_read_timeout: Duration,
    /// `HTTP_BODY_READ_TIMEOUT_MS`, default 10000: a request whose body has not
    /// fully arrived this long after its head gets 408 and its connection is
    /// closed, so clients that trickle a body cannot hold descriptors for ever.
    pub body_read_timeout: Duration,
    /// `HTTP_MAX_CONNECTIONS_PER_WORKER`, default unset: as many as the
    /// descriptor limit leaves room for (see `app::connection_limit`); a worker
    /// at its limit stops accepting until one of its connections closes.
    pub max_connections_per_worker: Option<NonZeroUsize>,
    /// `ADMISSION_MAX_IN_FLIGHT`, default 16 × `DATABASE_MAX_CONNECTIONS`: the
    /// most writes (`/api/` requests other than GET, HEAD, OPTIONS) in
    /// progress at once; see `common::admission`.
    pub admission_max_in_flight: usize,
    /// `ADMISSION_LATENCY_TARGET_MS`, default 10: while the writes admitted
    /// in a tenth of a second take longer than this on average with the limit
    /// in use, fewer are admitted at once (down to 2); see `common::admission`.
    pub admission_latency_target: Duration,
    /// `ADMISSION_WAIT_MS`, default 10: how long a write may wait for a place
    /// before it is refused with 503 and `Retry-After`.
    pub admission_wait: Duration,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `DATABASE_URL` (or `DATABASE_URL_FILE`: it holds a password), default
    /// the local stack's (`contract::local::database_url`). For TLS add
    /// `?sslmode=verify-full&sslrootcert=/path/ca.pem`.
    pub url: SecretString,
    /// `DATABASE_MAX_CONNECTIONS`, default 10.
    pub max_connections: u32,
    /// `DATABASE_ACQUIRE_TIMEOUT_MS`, default 2000: a request waits at most this
    /// long for a connection, so a dead database shows up as an error quickly.
    pub acquire_timeout: Duration,
}

/// Where the cluster is and the names' prefix: part of the contract, so
/// `sagactl` reads the same settings without this crate.
pub use contract::kafka::KafkaConfig;
use contract::secret::{self, ExposeSecret, SecretString, SettingError};

#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// `OUTBOX_BATCH_SIZE`, default 500 (at least 1): rows the relay reads
    /// and publishes at once; behind a backlog a transaction chains several.
    pub batch_size: i64,
    /// `OUTBOX_POLL_INTERVAL_MS`, default 200: the relay also polls, to pick up
    /// rows committed by other replicas (its own writers wake it at once).
    pub poll_interval: Duration,
    /// `OUTBOX_BATCH_WAIT_MS`, default 5: woken by a commit of its own
    /// service, the relay waits this long before reading, so the commits
    /// that follow go in the same batch (0 = read at once).
    pub batch_wait: Duration,
    /// `OUTBOX_RETENTION_SECS`, default 0: published rows are kept this long;
    /// 0 deletes them as soon as the broker acknowledged them.
    pub outbox_retention: Duration,
    /// `INBOX_RETENTION_SECS`, default 86400: the deduplication window of
    /// handlers that use the inbox (not `IDEMPOTENT_BY_KEY`).
    pub inbox_retention: Duration,
    /// `CLEANUP_INTERVAL_SECS`, default 60: how often expired rows are removed.
    pub cleanup_interval: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid value {value:?} for environment variable {variable}: {reason}")]
pub struct ConfigError {
    pub variable: String,
    /// Empty for a secret, whose value is never repeated.
    pub value: String,
    pub reason: String,
}

impl From<SettingError> for ConfigError {
    fn from(e: SettingError) -> Self {
        Self {
            variable: e.variable,
            value: String::new(),
            reason: e.reason,
        }
    }
}

impl ServiceConfig {
    /// Reads the process environment.
    pub fn from_env(defaults: &ServiceDefaults) -> Result<Self, ConfigError> {
        Self::from_lookup(defaults, |name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(
        defaults: &ServiceDefaults,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let vars = Vars(&lookup);
        let db = defaults.database;
        Ok(Self {
            service_name: defaults.name,
            http: HttpConfig {
                host: vars.string("HTTP_HOST", "127.0.0.1"),
                port: vars.parsed("HTTP_PORT", defaults.http_port)?,
                header_read_timeout: vars.millis("HTTP_HEADER_READ_TIMEOUT_MS", 5000)?,
                body_read_timeout: vars.millis("HTTP_BODY_READ_TIMEOUT_MS", 10_000)?,
                max_connections_per_worker: vars.optional("HTTP_MAX_CONNECTIONS_PER_WORKER")?,
                // Sixteen times the pool: writes admitted beyond the pool wait
                // for a connection, so a stall of the disk or the CPU of about
                // 100 ms (a slow WAL flush: 150 orders at 1,500/s) is absorbed
                // instead of refused; past capacity the adaptive limit, not
                // this cap, keeps the queue short.
                admission_max_in_flight: vars.positive(
                    "ADMISSION_MAX_IN_FLIGHT",
                    16 * vars.parsed("DATABASE_MAX_CONNECTIONS", 10usize)?,
                )?,
                admission_latency_target: vars.millis("ADMISSION_LATENCY_TARGET_MS", 10)?,
                admission_wait: Duration::from_millis(vars.parsed("ADMISSION_WAIT_MS", 10)?),
            },
            database: DatabaseConfig {
                url: secret::read(&lookup, "DATABASE_URL")?
                    .unwrap_or_else(|| contract::local::database_url(db).into()),
                max_connections: vars.parsed("DATABASE_MAX_CONNECTIONS", 10)?,
                acquire_timeout: Duration::from_millis(
                    vars.parsed("DATABASE_ACQUIRE_TIMEOUT_MS", 2000)?,
                ),
            },
            kafka: KafkaConfig::from_lookup(&lookup)?,
            outbox: OutboxConfig {
                // Zero would relay nothing, ever: refused like a negative.
                batch_size: vars.positive("OUTBOX_BATCH_SIZE", 500u32)?.into(),
                poll_interval: Duration::from_millis(vars.parsed("OUTBOX_POLL_INTERVAL_MS", 200)?),
                batch_wait: Duration::from_millis(vars.parsed("OUTBOX_BATCH_WAIT_MS", 5)?),
                outbox_retention: Duration::from_secs(vars.parsed("OUTBOX_RETENTION_SECS", 0)?),
                inbox_retention: Duration::from_secs(vars.parsed("INBOX_RETENTION_SECS", 86400)?),
                cleanup_interval: Duration::from_secs(vars.parsed("CLEANUP_INTERVAL_SECS", 60)?),
            },
            consumer_batch_size: vars.positive("CONSUMER_BATCH_SIZE", 200)?,
            consumer_batch_wait: Duration::from_millis(vars.parsed("CONSUMER_BATCH_WAIT_MS", 5)?),
            consumer_max_attempts: vars.positive("CONSUMER_MAX_ATTEMPTS", 10)?,
            consumer_stall_threshold: Duration::from_secs(
                vars.parsed("CONSUMER_STALL_THRESHOLD_SECS", 30)?,
            ),
            relay_enabled: vars.parsed("OUTBOX_RELAY_ENABLED", true)?,
            consumers_enabled: vars.parsed("CONSUMERS_ENABLED", true)?,
            admin_token: admin_token(&lookup)?,
            readiness_timeout: Duration::from_millis(vars.parsed("READINESS_TIMEOUT_MS", 2000)?),
            shutdown_timeout: Duration::from_secs(vars.parsed("SHUTDOWN_TIMEOUT_SECS", 25)?),
            log_repeat_interval: Duration::from_secs(
                vars.positive("LOG_REPEAT_INTERVAL_SECS", 10u64)?,
            ),
            log_format: match vars.string("LOG_FORMAT", "text").as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => {
                    return Err(ConfigError {
                        variable: "LOG_FORMAT".into(),
                        value: other.to_owned(),
                        reason: "expected `text` or `json`".into(),
                    })
                }
            },
        })
    }
}

/// `ADMIN_TOKEN` or `ADMIN_TOKEN_FILE`'s contents, refused (without repeating
/// it) when short or when it holds what a header cannot carry, such as a
/// space: such a token could be guessed, or never match any request.
fn admin_token(
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<SecretString>, ConfigError> {
    let Some(token) = secret::read(lookup, "ADMIN_TOKEN")? else {
        return Ok(None);
    };
    let text = token.expose_secret();
    if text.len() < MIN_ADMIN_TOKEN_CHARS || !text.bytes().all(|b| b.is_ascii_graphic()) {
        let from_file = lookup("ADMIN_TOKEN_FILE").is_some_and(|v| !v.is_empty());
        return Err(ConfigError {
            variable: if from_file {
                "ADMIN_TOKEN_FILE"
            } else {
                "ADMIN_TOKEN"
            }
            .into(),
            value: String::new(),
            reason: format!(
                "the admin token must be at least {MIN_ADMIN_TOKEN_CHARS} visible ASCII \
                 characters with no spaces (e.g. `openssl rand -hex 32`)"
            ),
        });
    }
    Ok(Some(token))
}

struct Vars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Vars<'_> {
    /// A count that must be at least 1.
    fn positive<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + Default + PartialEq + ToString,
        T::Err: std::fmt::Display,
    {
        let value = self.parsed(name, default)?;
        if value == T::default() {
            return Err(ConfigError {
                variable: name.into(),
                value: value.to_string(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(value)
    }

    fn string(&self, name: &'static str, default: &str) -> String {
        (self.0)(name)
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_owned())
    }

    fn parsed<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        Ok(self.optional(name)?.unwrap_or(default))
    }

    /// `None` when the variable is unset or empty.
    fn optional<T>(&self, name: &'static str) -> Result<Option<T>, ConfigError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        match (self.0)(name).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(value) => value
                .trim()
                .parse()
                .map(Some)
                .map_err(|e: T::Err| ConfigError {
                    variable: name.into(),
                    reason: e.to_string(),
                    value,
                }),
        }
    }

    /// A timeout in milliseconds; 0 is refused, as it would mean none at all.
    fn millis(&self, name: &'static str, default: u64) -> Result<Duration, ConfigError> {
        let default = NonZeroU64::new(default).expect("non-zero default");
        Ok(Duration::from_millis(self.parsed(name, default)?.get()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const ORDERS: ServiceDefaults = ServiceDefaults {
        name: "order-service",
        http_port: 8080,
        database: "orders",
    };

    fn config(vars: &[(&str, &str)]) -> Result<ServiceConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ServiceConfig::from_lookup(&ORDERS, |k| map.get(k).cloned())
    }

    #[test]
    fn no_variables_give_the_local_stack_defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.http.host, "127.0.0.1");
        assert_eq!(c.http.port, 8080);
        assert_eq!(
            c.database.url.expose_secret(),
            "postgres://orders:orders@127.0.0.1:15432/orders"
        );
        assert_eq!(c.kafka.bootstrap_servers, "127.0.0.1:9092");
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.shutdown_timeout, Duration::from_secs(25));
        assert_eq!(c.http.header_read_timeout, Duration::from_secs(5));
        assert_eq!(c.http.body_read_timeout, Duration::from_secs(10));
        assert_eq!(c.http.max_connections_per_worker, None);
        assert!(c.admin_token.is_none());
        assert!(c.relay_enabled && c.consumers_enabled);
        assert_eq!(c.consumer_batch_wait, Duration::from_millis(5));
        assert_eq!(c.outbox.batch_wait, Duration::from_millis(5));
    }

    #[test]
    fn a_relay_batch_size_that_would_publish_nothing_is_refused() {
        for bad in ["0", "-1"] {
            let e = config(&[("OUTBOX_BATCH_SIZE", bad)]).unwrap_err();
            assert_eq!(e.variable, "OUTBOX_BATCH_SIZE", "{bad}");
        }
        assert_eq!(config(&[]).unwrap().outbox.batch_size, 500);
        let c = config(&[("OUTBOX_BATCH_SIZE", "50")]).unwrap();
        assert_eq!(c.outbox.batch_size, 50);
    }

    #[test]
    fn the_batching_windows_can_be_closed_and_a_bad_one_is_named() {
        let c = config(&[
            ("CONSUMER_BATCH_WAIT_MS", "0"),
            ("OUTBOX_BATCH_WAIT_MS", "0"),
        ])
        .unwrap();
        assert!(c.consumer_batch_wait.is_zero() && c.outbox.batch_wait.is_zero());
        for variable in ["CONSUMER_BATCH_WAIT_MS", "OUTBOX_BATCH_WAIT_MS"] {
            let e = config(&[(variable, "-5")]).unwrap_err();
            assert_eq!(e.variable, variable);
        }
    }

    #[test]
    fn the_relay_and_the_consumers_can_be_switched_off_and_a_typo_is_refused() {
        let c = config(&[
            ("OUTBOX_RELAY_ENABLED", "false"),
            ("CONSUMERS_ENABLED", "false"),
        ])
        .unwrap();
        assert!(!c.relay_enabled && !c.consumers_enabled);
        let e = config(&[("OUTBOX_RELAY_ENABLED", "no")]).unwrap_err();
        assert_eq!(e.variable, "OUTBOX_RELAY_ENABLED");
    }

    #[test]
    fn the_admin_token_is_read_and_never_printed() {
        let token = "s3cret-admin-token-0123456789";
        let c = config(&[("ADMIN_TOKEN", token)]).unwrap();
        assert_eq!(c.admin_token.as_ref().unwrap().expose_secret(), token);
        assert!(!format!("{c:?}").contains(token));

        for (bad, why) in [("short-token", "short"), ("a token with spaces", "spaces")] {
            let err = config(&[("ADMIN_TOKEN", bad)]).unwrap_err();
            assert_eq!(err.variable, "ADMIN_TOKEN", "{why}");
            assert!(!err.to_string().contains(bad), "{why}: {err}");
        }
    }

    #[test]
    fn http_limits_are_read_and_zero_is_refused() {
        let c = config(&[
            ("HTTP_HEADER_READ_TIMEOUT_MS", "750"),
            ("HTTP_BODY_READ_TIMEOUT_MS", "1500"),
            ("HTTP_MAX_CONNECTIONS_PER_WORKER", "64"),
        ])
        .unwrap();
        assert_eq!(c.http.header_read_timeout, Duration::from_millis(750));
        assert_eq!(c.http.body_read_timeout, Duration::from_millis(1500));
        assert_eq!(c.http.max_connections_per_worker.map(|n| n.get()), Some(64));
        for variable in [
            "HTTP_HEADER_READ_TIMEOUT_MS",
            "HTTP_BODY_READ_TIMEOUT_MS",
            "HTTP_MAX_CONNECTIONS_PER_WORKER",
        ] {
            let err = config(&[(variable, "0")]).unwrap_err();
            assert_eq!((err.variable.as_str(), err.value.as_str()), (variable, "0"));
        }
    }

    #[test]
    fn variables_override_defaults() {
        let c = config(&[
            ("HTTP_PORT", "9000"),
            ("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092"),
            ("LOG_FORMAT", "json"),
            ("DATABASE_MAX_CONNECTIONS", "3"),
        ])
        .unwrap();
        assert_eq!(c.http.port, 9000);
        assert_eq!(c.kafka.bootstrap_servers, "kafka:9092");
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.database.max_connections, 3);
    }

    #[test]
    fn an_unparsable_number_names_the_variable_and_value() {
        let err = config(&[("HTTP_PORT", "eighty")]).unwrap_err();
        assert_eq!(err.variable, "HTTP_PORT");
        assert_eq!(err.value, "eighty");
        assert!(err.to_string().contains("HTTP_PORT"), "{err}");
    }

    #[test]
    fn an_unknown_log_format_is_rejected() {
        let err = config(&[("LOG_FORMAT", "xml")]).unwrap_err();
        assert_eq!(err.variable, "LOG_FORMAT");
    }
}
