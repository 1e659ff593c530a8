//! Secrets from the environment: `NAME`, or the file `NAME_FILE` names (as a
//! Kubernetes Secret volume provides it). The value is held in a
//! [`SecretString`], whose `Debug` prints no secret, and no error message
//! ever carries it.

pub use secrecy::{ExposeSecret, SecretString};
use std::path::Path;

/// A variable that could not be used; `reason` never holds a secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("environment variable {variable}: {reason}")]
pub struct SettingError {
    pub variable: String,
    pub reason: String,
}

impl SettingError {
    pub fn new(variable: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            variable: variable.into(),
            reason: reason.into(),
        }
    }
}

/// `NAME` or the contents of the file named by `NAME_FILE` (one trailing
/// line break dropped); `None` when neither is set. Both set is an error, as
/// one of them would be silently ignored.
pub fn read(
    lookup: &dyn Fn(&str) -> Option<String>,
    name: &str,
) -> Result<Option<SecretString>, SettingError> {
    let file_variable = format!("{name}_FILE");
    let direct = lookup(name).filter(|v| !v.is_empty());
    let file = lookup(&file_variable).filter(|v| !v.is_empty());
    match (direct, file) {
        (Some(_), Some(_)) => Err(SettingError::new(
            name,
            format!("both {name} and {file_variable} are set; set one"),
        )),
        (Some(value), None) => Ok(Some(value.into())),
        (None, Some(path)) => read_file(Path::new(&path))
            .map(Some)
            .map_err(|reason| SettingError::new(file_variable, reason)),
        (None, None) => Ok(None),
    }
}

fn read_file(path: &Path) -> Result<SecretString, String> {
    let mut text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    if text.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(text.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn a_secret_comes_from_its_variable_or_its_file_and_never_prints() {
        let direct = read(&lookup(&[("PASSWORD", "hunter2")]), "PASSWORD")
            .unwrap()
            .unwrap();
        assert_eq!(direct.expose_secret(), "hunter2");
        assert!(!format!("{direct:?}").contains("hunter2"));

        let dir = std::env::temp_dir().join(format!("secret-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("password");
        std::fs::write(&path, "from a file\n").unwrap();
        let vars = [("PASSWORD_FILE", path.to_str().unwrap())];
        let from_file = read(&lookup(&vars), "PASSWORD").unwrap().unwrap();
        assert_eq!(from_file.expose_secret(), "from a file");
        std::fs::remove_dir_all(dir).unwrap();

        assert!(read(&lookup(&[]), "PASSWORD").unwrap().is_none());
    }

    #[test]
    fn both_forms_set_or_an_unreadable_file_name_the_variable_without_the_value() {
        let both = read(
            &lookup(&[("PASSWORD", "hunter2"), ("PASSWORD_FILE", "/x")]),
            "PASSWORD",
        )
        .unwrap_err();
        assert_eq!(both.variable, "PASSWORD");
        assert!(!both.to_string().contains("hunter2"));

        let missing =
            read(&lookup(&[("PASSWORD_FILE", "/nonexistent/pw")]), "PASSWORD").unwrap_err();
        assert_eq!(missing.variable, "PASSWORD_FILE");
        assert!(missing.reason.contains("/nonexistent/pw"), "{missing}");
    }
}
