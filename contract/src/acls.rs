//! Who may do what on a secured broker: the table in `kafka-setup/acls.conf`
//! (its header explains the columns). `kafka-setup/ensure-acls.sh` turns it
//! into Kafka ACLs; the parser is public so other tooling (Kubernetes users,
//! say) can be made from the same rows, and the tests below check each
//! service's row against what the contract says it produces and consumes.

use std::collections::HashSet;

/// The table, compiled in so the binary and the tests see the same text.
pub const TABLE: &str = include_str!("../../kafka-setup/acls.conf");

/// One principal's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclRow {
    /// The SCRAM user name; on the broker `User:<principal>`.
    pub principal: String,
    /// What it may do.
    pub grant: Grant,
}

/// A principal's rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// `*` in every column: a super user (the tools' admin), which needs no ACLs.
    SuperUser,
    /// Exactly these rights, on literal names.
    Limited {
        /// Topics it may write (Write, which implies Describe).
        writes: Vec<String>,
        /// Topics it may read (Read, which implies Describe).
        reads: Vec<String>,
        /// Its consumer group (Read), if it consumes.
        group: Option<String>,
    },
}

/// The marker of a super user's columns, and of an empty list.
const ALL: &str = "*";
const NONE: &str = "-";

/// Parses the table format (see the file's header): blank lines and `#`
/// comments ignored, four whitespace-separated columns, lists
/// comma-separated, `-` for none, `*` in every column for a super user.
/// Each principal appears once, each name once in its list.
pub fn parse_table(text: &str) -> Result<Vec<AclRow>, String> {
    let mut rows: Vec<AclRow> = Vec::new();
    for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        let [principal, writes, reads, group] = cols[..] else {
            return Err(format!(
                "line {number}: expected 4 columns (principal writes reads group), got {}",
                cols.len()
            ));
        };
        if rows.iter().any(|row| row.principal == principal) {
            return Err(format!("line {number}: {principal} appears twice"));
        }
        let grant = match [writes, reads, group] {
            [ALL, ALL, ALL] => Grant::SuperUser,
            columns if columns.contains(&ALL) => {
                return Err(format!(
                    "line {number}: `{ALL}` makes a super user only in every column"
                ))
            }
            _ => Grant::Limited {
                writes: list(number, "writes", writes)?,
                reads: list(number, "reads", reads)?,
                group: match group {
                    NONE => None,
                    name if name.contains(',') => {
                        return Err(format!("line {number}: one consumer group, got {name}"))
                    }
                    name => Some(name.to_owned()),
                },
            },
        };
        rows.push(AclRow {
            principal: principal.to_owned(),
            grant,
        });
    }
    Ok(rows)
}

/// A column's comma-separated names; `-` is none.
fn list(number: usize, column: &str, text: &str) -> Result<Vec<String>, String> {
    if text == NONE {
        return Ok(Vec::new());
    }
    let names: Vec<String> = text.split(',').map(str::to_owned).collect();
    let unique: HashSet<&String> = names.iter().collect();
    if names.iter().any(|n| n.is_empty() || n == NONE) || unique.len() != names.len() {
        return Err(format!(
            "line {number}: {column} {text:?} is not a list of distinct names"
        ));
    }
    Ok(names)
}

/// The table this build was compiled with.
pub fn table() -> Vec<AclRow> {
    parse_table(TABLE).expect("kafka-setup/acls.conf is valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract_files;
    use crate::local::SERVICES;
    use crate::topics::{self, CONSUMER_GROUPS};
    use std::collections::BTreeSet;

    fn set<S: AsRef<str>>(names: &[S]) -> BTreeSet<String> {
        names.iter().map(|n| n.as_ref().to_owned()).collect()
    }

    fn row(principal: &str) -> Grant {
        table()
            .into_iter()
            .find(|row| row.principal == principal)
            .unwrap_or_else(|| panic!("{principal} has no row in kafka-setup/acls.conf"))
            .grant
    }

    #[test]
    fn the_table_names_the_three_services_and_admin_the_only_super_user() {
        let principals: Vec<String> = table().into_iter().map(|r| r.principal).collect();
        let mut expected: Vec<String> = SERVICES.iter().map(|s| s.name.to_owned()).collect();
        expected.push("admin".into());
        assert_eq!(set(&principals), set(&expected));
        assert_eq!(row("admin"), Grant::SuperUser);
    }

    #[test]
    fn each_service_may_write_what_it_produces_and_its_dead_letters_and_read_only_what_it_consumes()
    {
        let events = contract_files::events();
        for service in SERVICES {
            let name = service.name;
            // Its consumer group is named after it (common::app::ServiceDefinition).
            let (group, consumed) = CONSUMER_GROUPS
                .iter()
                .find(|(group, _)| *group == name)
                .unwrap_or_else(|| panic!("{name} has no consumer group"));
            let produced: Vec<&str> = events
                .iter()
                .filter(|e| e.producer == name)
                .map(|e| e.topic)
                .collect();
            let dead_letters: Vec<String> = consumed.iter().map(|t| topics::dlq(t)).collect();
            let mut may_write = set(&produced);
            may_write.extend(dead_letters);

            let Grant::Limited {
                writes,
                reads,
                group: granted_group,
            } = row(name)
            else {
                panic!("{name} must not be a super user");
            };
            assert_eq!(set(&writes), may_write, "{name}: writes");
            assert_eq!(set(&reads), set(consumed), "{name}: reads");
            assert_eq!(granted_group.as_deref(), Some(*group), "{name}: group");
        }
    }

    #[test]
    fn every_topic_in_the_table_is_in_the_catalogue() {
        let catalogue: Vec<String> = topics::catalogue().into_iter().map(|t| t.name).collect();
        for row in table() {
            if let Grant::Limited { writes, reads, .. } = row.grant {
                for topic in writes.iter().chain(&reads) {
                    assert!(catalogue.contains(topic), "{}: {topic}", row.principal);
                }
            }
        }
    }

    #[test]
    fn a_malformed_line_is_reported_with_its_number() {
        let cases = [
            ("# header\nsvc a b\n", "line 2: expected 4 columns"),
            ("svc * a g\n", "line 1: `*` makes a super user"),
            ("svc a,,b - g\n", "line 1: writes"),
            ("svc a,a - g\n", "line 1: writes"),
            ("svc - - g1,g2\n", "line 1: one consumer group"),
            ("svc - - -\n\nsvc a - -\n", "line 3: svc appears twice"),
        ];
        for (text, expected) in cases {
            let err = parse_table(text).unwrap_err();
            assert!(err.starts_with(expected), "{text:?}: {err}");
        }
        assert_eq!(
            parse_table("svc - - -\n").unwrap()[0].grant,
            Grant::Limited {
                writes: vec![],
                reads: vec![],
                group: None
            }
        );
    }
}
