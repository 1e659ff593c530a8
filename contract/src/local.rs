//! Where the local stack listens (`make run`, `make test`): the defaults of
//! every binary, written once. `scripts/lib.sh` is their one home on the
//! scripts' side; a test in `make test` keeps the two in step.

/// One service's local defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalService {
    /// Service name, used in logs, the Kafka `client.id` and health answers.
    pub name: &'static str,
    /// Default `HTTP_PORT`.
    pub http_port: u16,
    /// Its database; on the local Postgres also its role and password.
    pub database: &'static str,
}

pub const ORDER_SERVICE: LocalService = LocalService {
    name: "order-service",
    http_port: 8080,
    database: "orders",
};
pub const BILLING_SERVICE: LocalService = LocalService {
    name: "billing-service",
    http_port: 8081,
    database: "billing",
};
pub const NOTIFICATION_SERVICE: LocalService = LocalService {
    name: "notification-service",
    http_port: 8082,
    database: "notifications",
};
pub const SERVICES: [LocalService; 3] = [ORDER_SERVICE, BILLING_SERVICE, NOTIFICATION_SERVICE];

/// Default `KAFKA_BOOTSTRAP_SERVERS`.
pub const KAFKA_BOOTSTRAP_SERVERS: &str = "127.0.0.1:9092";
/// The local Postgres, on a port below Linux's ephemeral range (32768–60999)
/// so no client connection can be given it first.
pub const POSTGRES_ADDRESS: &str = "127.0.0.1:15432";

/// A service database's local URL (role = password = database).
pub fn database_url(database: &str) -> String {
    format!("postgres://{database}:{database}@{POSTGRES_ADDRESS}/{database}")
}

/// The local superuser's URL, which the tests use to make their databases.
pub fn admin_url() -> String {
    format!("postgres://postgres:postgres@{POSTGRES_ADDRESS}/postgres")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn repository() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    fn port_of(address: &str) -> &str {
        address.rsplit(':').next().unwrap()
    }

    /// Every file of the scripts that install, start and stop the stack.
    fn scripts() -> Vec<(String, String)> {
        let root = repository();
        let mut files = Vec::new();
        for dir in [
            "scripts",
            "kafka-setup",
            "kafka-setup/bin",
            "postgres-setup",
            "security-setup",
            ".ci",
        ] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if let (true, Ok(text)) = (path.is_file(), std::fs::read_to_string(&path)) {
                    let name = path.strip_prefix(&root).unwrap().display().to_string();
                    files.push((name, text));
                }
            }
        }
        files.push((
            "Makefile".into(),
            std::fs::read_to_string(root.join("Makefile")).unwrap(),
        ));
        files
    }

    /// Whether `line` holds `text` not followed by more of a name.
    fn names(line: &str, text: &str) -> bool {
        line.match_indices(text).any(|(at, _)| {
            !line[at + text.len()..]
                .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
    }

    #[test]
    fn the_scripts_defaults_are_these() {
        let lib = std::fs::read_to_string(repository().join("scripts/lib.sh")).unwrap();
        let kafka_port = port_of(KAFKA_BOOTSTRAP_SERVERS);
        let pg_port = port_of(POSTGRES_ADDRESS);
        let mut expected = vec![
            format!("KAFKA_PORT=${{KAFKA_PORT:-{kafka_port}}}"),
            format!("PG_PORT=${{PG_PORT:-{pg_port}}}"),
            format!("LOOPBACK={}", POSTGRES_ADDRESS.split(':').next().unwrap()),
            "PG_ADDRESS=$LOOPBACK:$PG_PORT".to_owned(),
        ];
        for service in SERVICES {
            let variable = service.name.to_uppercase().replace('-', "_") + "_PORT";
            expected.push(format!(
                "{}) echo \"${{{variable}:-{}}}\" ;;",
                service.name, service.http_port
            ));
            expected.push(format!("{}) echo {} ;;", service.name, service.database));
        }
        for line in expected {
            assert!(lib.contains(&line), "scripts/lib.sh lacks `{line}`");
        }
    }

    #[test]
    fn no_script_but_lib_sh_writes_a_port_url_or_database_name() {
        let mut ports: Vec<String> = SERVICES.iter().map(|s| s.http_port.to_string()).collect();
        ports.push(port_of(KAFKA_BOOTSTRAP_SERVERS).into());
        ports.push(port_of(POSTGRES_ADDRESS).into());
        let databases: Vec<&str> = SERVICES.iter().map(|s| s.database).collect();
        let mut found = Vec::new();
        for (name, text) in scripts() {
            if name == "scripts/lib.sh" {
                continue;
            }
            for (n, line) in text.lines().enumerate() {
                let words: Vec<&str> = line
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                    .collect();
                let port = ports.iter().find(|p| words.contains(&p.as_str()));
                let database_arg = databases.iter().find(|db| {
                    ["database_url ", "sql ", "-U ", "-d ", "PGPASSWORD="]
                        .iter()
                        .any(|before| names(line, &format!("{before}{db}")))
                });
                let url = ["postgres://", "http://127.0.0.1", "127.0.0.1:"]
                    .iter()
                    .find(|u| line.contains(*u));
                if port.is_some() || database_arg.is_some() || url.is_some() {
                    found.push(format!("{name}:{}: {}", n + 1, line.trim()));
                }
            }
        }
        assert!(
            found.is_empty(),
            "ports, URLs and database names belong in scripts/lib.sh only:\n{}",
            found.join("\n")
        );
    }

    #[test]
    fn a_service_database_url_names_its_role_and_database() {
        assert_eq!(
            database_url(BILLING_SERVICE.database),
            "postgres://billing:billing@127.0.0.1:15432/billing"
        );
    }
}
