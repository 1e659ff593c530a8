//! Where the Kafka cluster is, how names on it are prefixed, and how clients
//! authenticate to it: one reading of the environment for the services,
//! `sagactl`, `loadgen` and the tests. Variable names follow librdkafka's
//! settings (`KAFKA_SASL_USERNAME` is `sasl.username`); docs/operations.md
//! lists them.

use crate::secret::{self, ExposeSecret, SecretString, SettingError};
use std::path::Path;

#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `KAFKA_BOOTSTRAP_SERVERS`, default `127.0.0.1:9092`.
    pub bootstrap_servers: String,
    /// `KAFKA_TOPIC_PREFIX`, default empty: prepended to every topic name and
    /// consumer group id, so
    /// several environments (or test runs) can share one cluster.
    pub topic_prefix: String,
    /// How clients connect: plaintext unless configured.
    pub security: KafkaSecurity,
}

/// `KAFKA_SECURITY_PROTOCOL` and what it needs. The default is plaintext,
/// the local stack's zero-configuration path.
#[derive(Debug, Clone, Default)]
pub struct KafkaSecurity {
    pub protocol: SecurityProtocol,
    pub sasl: Option<Sasl>,
    pub tls: Tls,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    const ALL: [(&'static str, Self); 4] = [
        ("plaintext", Self::Plaintext),
        ("ssl", Self::Ssl),
        ("sasl_plaintext", Self::SaslPlaintext),
        ("sasl_ssl", Self::SaslSsl),
    ];

    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, p)| *p == self).unwrap().0
    }

    fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }

    fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }
}

/// SASL credentials: `KAFKA_SASL_MECHANISM`, `KAFKA_SASL_USERNAME`,
/// `KAFKA_SASL_PASSWORD` (or `KAFKA_SASL_PASSWORD_FILE`).
#[derive(Debug, Clone)]
pub struct Sasl {
    pub mechanism: &'static str,
    pub username: String,
    pub password: SecretString,
}

/// The mechanisms we support: SCRAM (Kafka's own users, Strimzi's default)
/// and PLAIN (what several managed services use, over TLS).
pub const SASL_MECHANISMS: [&str; 3] = ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"];

/// TLS settings; only read when the protocol uses TLS.
#[derive(Debug, Clone)]
pub struct Tls {
    /// `KAFKA_SSL_CA_LOCATION`: a PEM file of the CA(s) to trust; default
    /// the system's trust store.
    pub ca_location: Option<String>,
    /// `KAFKA_SSL_CA_PEM`: the CA certificate(s) as PEM text instead of a file.
    pub ca_pem: Option<String>,
    /// `KAFKA_SSL_CERTIFICATE_LOCATION` and `KAFKA_SSL_KEY_LOCATION`: a client
    /// certificate and its key, for brokers that require mutual TLS.
    pub certificate_location: Option<String>,
    pub key_location: Option<String>,
    /// `KAFKA_SSL_KEY_PASSWORD` (or `_FILE`) when the key is encrypted.
    pub key_password: Option<SecretString>,
    /// `KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM`: `https` (default) checks
    /// the broker's certificate names its host; `none` turns that off.
    pub verify_hostname: bool,
}

impl Default for Tls {
    fn default() -> Self {
        Self {
            ca_location: None,
            ca_pem: None,
            certificate_location: None,
            key_location: None,
            key_password: None,
            verify_hostname: true,
        }
    }
}

impl KafkaConfig {
    /// The local stack's cluster, plaintext, no prefix.
    pub fn local() -> Self {
        Self {
            bootstrap_servers: crate::local::KAFKA_BOOTSTRAP_SERVERS.into(),
            topic_prefix: String::new(),
            security: KafkaSecurity::default(),
        }
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, SettingError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// Reads `KAFKA_BOOTSTRAP_SERVERS`, `KAFKA_TOPIC_PREFIX` and the security
    /// settings through `lookup`; unset variables take the local defaults.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingError> {
        let local = Self::local();
        Ok(Self {
            bootstrap_servers: non_empty(lookup, "KAFKA_BOOTSTRAP_SERVERS")
                .unwrap_or(local.bootstrap_servers),
            topic_prefix: non_empty(lookup, "KAFKA_TOPIC_PREFIX").unwrap_or_default(),
            security: KafkaSecurity::from_lookup(lookup)?,
        })
    }

    /// The physical name of a catalogue topic (or consumer group).
    pub fn topic(&self, name: &str) -> String {
        format!("{}{name}", self.topic_prefix)
    }

    /// The settings every client of this cluster starts from, producer or
    /// consumer, service or tool (`ClientConfig::from_iter` takes them).
    pub fn client_settings(&self, client_id: &str) -> Vec<(String, String)> {
        let mut settings = vec![
            ("bootstrap.servers".into(), self.bootstrap_servers.clone()),
            ("client.id".into(), client_id.into()),
        ];
        settings.extend(self.security.settings());
        settings
    }
}

fn non_empty(lookup: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name).filter(|v| !v.trim().is_empty())
}

impl KafkaSecurity {
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingError> {
        let protocol = match non_empty(lookup, "KAFKA_SECURITY_PROTOCOL") {
            None => SecurityProtocol::Plaintext,
            Some(value) => SecurityProtocol::ALL
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(value.trim()))
                .map(|(_, p)| *p)
                .ok_or_else(|| {
                    SettingError::new(
                        "KAFKA_SECURITY_PROTOCOL",
                        format!("{value:?} is not one of plaintext, ssl, sasl_plaintext, sasl_ssl"),
                    )
                })?,
        };
        let sasl = Self::read_sasl(lookup, protocol)?;
        let tls = Self::read_tls(lookup, protocol)?;
        Ok(Self {
            protocol,
            sasl,
            tls,
        })
    }

    fn read_sasl(
        lookup: &dyn Fn(&str) -> Option<String>,
        protocol: SecurityProtocol,
    ) -> Result<Option<Sasl>, SettingError> {
        let username = non_empty(lookup, "KAFKA_SASL_USERNAME");
        let password = secret::read(lookup, "KAFKA_SASL_PASSWORD")?;
        let mechanism = non_empty(lookup, "KAFKA_SASL_MECHANISM");
        if !protocol.uses_sasl() {
            if let Some(variable) = [
                ("KAFKA_SASL_USERNAME", username.is_some()),
                ("KAFKA_SASL_PASSWORD", password.is_some()),
                ("KAFKA_SASL_MECHANISM", mechanism.is_some()),
            ]
            .into_iter()
            .find_map(|(name, set)| set.then_some(name))
            {
                return Err(SettingError::new(
                    variable,
                    format!(
                        "set, but KAFKA_SECURITY_PROTOCOL is {}: use sasl_ssl (or sasl_plaintext)",
                        protocol.name()
                    ),
                ));
            }
            return Ok(None);
        }
        let mechanism = match mechanism {
            None => SASL_MECHANISMS[0],
            Some(value) => SASL_MECHANISMS
                .into_iter()
                .find(|m| m.eq_ignore_ascii_case(value.trim()))
                .ok_or_else(|| {
                    SettingError::new(
                        "KAFKA_SASL_MECHANISM",
                        format!("{value:?} is not one of {}", SASL_MECHANISMS.join(", ")),
                    )
                })?,
        };
        let required = |name: &str| {
            SettingError::new(
                name,
                format!("required with KAFKA_SECURITY_PROTOCOL={}", protocol.name()),
            )
        };
        Ok(Some(Sasl {
            mechanism,
            username: username.ok_or_else(|| required("KAFKA_SASL_USERNAME"))?,
            password: password.ok_or_else(|| required("KAFKA_SASL_PASSWORD"))?,
        }))
    }

    fn read_tls(
        lookup: &dyn Fn(&str) -> Option<String>,
        protocol: SecurityProtocol,
    ) -> Result<Tls, SettingError> {
        let file = |name: &str| -> Result<Option<String>, SettingError> {
            match non_empty(lookup, name) {
                Some(path) if !Path::new(&path).is_file() => Err(SettingError::new(
                    name,
                    format!("{path} is not a readable file"),
                )),
                other => Ok(other),
            }
        };
        let tls = Tls {
            ca_location: file("KAFKA_SSL_CA_LOCATION")?,
            ca_pem: non_empty(lookup, "KAFKA_SSL_CA_PEM"),
            certificate_location: file("KAFKA_SSL_CERTIFICATE_LOCATION")?,
            key_location: file("KAFKA_SSL_KEY_LOCATION")?,
            key_password: secret::read(lookup, "KAFKA_SSL_KEY_PASSWORD")?,
            verify_hostname: match non_empty(lookup, "KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM")
                .as_deref()
                .map(str::trim)
            {
                None | Some("https") => true,
                Some("none") => false,
                Some(other) => {
                    return Err(SettingError::new(
                        "KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM",
                        format!("{other:?} is not `https` or `none`"),
                    ))
                }
            },
        };
        if tls.certificate_location.is_some() != tls.key_location.is_some() {
            return Err(SettingError::new(
                "KAFKA_SSL_KEY_LOCATION",
                "a client certificate needs its key: set both KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY_LOCATION",
            ));
        }
        if !protocol.uses_tls() {
            let set = [
                ("KAFKA_SSL_CA_LOCATION", tls.ca_location.is_some()),
                ("KAFKA_SSL_CA_PEM", tls.ca_pem.is_some()),
                (
                    "KAFKA_SSL_CERTIFICATE_LOCATION",
                    tls.certificate_location.is_some(),
                ),
            ];
            if let Some((variable, _)) = set.into_iter().find(|(_, set)| *set) {
                return Err(SettingError::new(
                    variable,
                    format!(
                        "set, but KAFKA_SECURITY_PROTOCOL is {}: use ssl or sasl_ssl",
                        protocol.name()
                    ),
                ));
            }
        }
        Ok(tls)
    }

    /// librdkafka's settings for this security; secrets included, so the
    /// result goes to a client and nowhere else.
    pub fn settings(&self) -> Vec<(String, String)> {
        let mut settings = vec![("security.protocol".to_owned(), self.protocol.name().into())];
        let mut set = |key: &str, value: &str| settings.push((key.into(), value.into()));
        if let Some(sasl) = &self.sasl {
            set("sasl.mechanism", sasl.mechanism);
            set("sasl.username", &sasl.username);
            set("sasl.password", sasl.password.expose_secret());
        }
        if self.protocol.uses_tls() {
            let tls = &self.tls;
            let optional = [
                ("ssl.ca.location", tls.ca_location.as_deref()),
                ("ssl.ca.pem", tls.ca_pem.as_deref()),
                (
                    "ssl.certificate.location",
                    tls.certificate_location.as_deref(),
                ),
                ("ssl.key.location", tls.key_location.as_deref()),
                (
                    "ssl.key.password",
                    tls.key_password.as_ref().map(|p| p.expose_secret()),
                ),
            ];
            for (key, value) in optional {
                if let Some(value) = value {
                    set(key, value);
                }
            }
            set(
                "ssl.endpoint.identification.algorithm",
                if tls.verify_hostname { "https" } else { "none" },
            );
        }
        settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<KafkaConfig, SettingError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        KafkaConfig::from_lookup(&|k| map.get(k).cloned())
    }

    fn setting<'a>(settings: &'a [(String, String)], key: &str) -> Option<&'a str> {
        settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn no_variables_give_the_local_plaintext_cluster() {
        let config = read(&[]).unwrap();
        let settings = config.client_settings("me");
        assert_eq!(
            setting(&settings, "bootstrap.servers"),
            Some("127.0.0.1:9092")
        );
        assert_eq!(setting(&settings, "security.protocol"), Some("plaintext"));
        assert_eq!(setting(&settings, "sasl.username"), None);
    }

    #[test]
    fn sasl_ssl_with_scram_gives_librdkafkas_settings_and_hides_the_password() {
        let ca = std::env::temp_dir().join(format!("ca-{}.pem", uuid::Uuid::new_v4()));
        std::fs::write(&ca, "not parsed here").unwrap();
        let config = read(&[
            ("KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
            ("KAFKA_SASL_USERNAME", "billing-service"),
            ("KAFKA_SASL_PASSWORD", "s3cret-pw"),
            ("KAFKA_SSL_CA_LOCATION", ca.to_str().unwrap()),
        ])
        .unwrap();
        std::fs::remove_file(&ca).unwrap();
        let settings = config.client_settings("billing");
        assert_eq!(setting(&settings, "security.protocol"), Some("sasl_ssl"));
        assert_eq!(setting(&settings, "sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(setting(&settings, "sasl.username"), Some("billing-service"));
        assert_eq!(setting(&settings, "sasl.password"), Some("s3cret-pw"));
        assert_eq!(setting(&settings, "ssl.ca.location"), ca.to_str());
        assert_eq!(
            setting(&settings, "ssl.endpoint.identification.algorithm"),
            Some("https")
        );
        assert!(!format!("{config:?}").contains("s3cret-pw"));
    }

    #[test]
    fn inconsistent_settings_name_the_variable() {
        let cases: [(&[(&str, &str)], &str); 6] = [
            (
                &[("KAFKA_SECURITY_PROTOCOL", "tls")],
                "KAFKA_SECURITY_PROTOCOL",
            ),
            (
                &[
                    ("KAFKA_SECURITY_PROTOCOL", "sasl_ssl"),
                    ("KAFKA_SASL_PASSWORD", "x"),
                ],
                "KAFKA_SASL_USERNAME",
            ),
            (
                &[
                    ("KAFKA_SECURITY_PROTOCOL", "sasl_ssl"),
                    ("KAFKA_SASL_USERNAME", "u"),
                ],
                "KAFKA_SASL_PASSWORD",
            ),
            (&[("KAFKA_SASL_USERNAME", "u")], "KAFKA_SASL_USERNAME"),
            (
                &[
                    ("KAFKA_SECURITY_PROTOCOL", "sasl_ssl"),
                    ("KAFKA_SASL_USERNAME", "u"),
                    ("KAFKA_SASL_PASSWORD", "p"),
                    ("KAFKA_SASL_MECHANISM", "GSSAPI"),
                ],
                "KAFKA_SASL_MECHANISM",
            ),
            (
                &[
                    ("KAFKA_SECURITY_PROTOCOL", "ssl"),
                    ("KAFKA_SSL_CA_LOCATION", "/nonexistent/ca.pem"),
                ],
                "KAFKA_SSL_CA_LOCATION",
            ),
        ];
        for (vars, variable) in cases {
            assert_eq!(read(vars).unwrap_err().variable, variable, "{vars:?}");
        }
    }

    #[test]
    fn hostname_verification_can_be_turned_off_and_mechanisms_are_case_blind() {
        let config = read(&[
            ("KAFKA_SECURITY_PROTOCOL", "sasl_ssl"),
            ("KAFKA_SASL_MECHANISM", "scram-sha-256"),
            ("KAFKA_SASL_USERNAME", "u"),
            ("KAFKA_SASL_PASSWORD", "p"),
            ("KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM", "none"),
        ])
        .unwrap();
        let settings = config.client_settings("x");
        assert_eq!(setting(&settings, "sasl.mechanism"), Some("SCRAM-SHA-256"));
        assert_eq!(
            setting(&settings, "ssl.endpoint.identification.algorithm"),
            Some("none")
        );
    }
}
