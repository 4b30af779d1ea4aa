//! Typed configuration read from environment variables, with errors that name the variable.

use std::str::FromStr;

/// A setting that is missing or cannot be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "environment variable {name} is not set (declare it for this function in template.yaml)"
    )]
    Missing { name: String },
    /// Lambda sets `AWS_REGION` for every function; only a local run can lack it.
    #[error(
        "environment variable AWS_REGION is not set. Lambda sets it for every function; to run a \
         function locally, set it yourself (scripts/invoke.sh and scripts/run.sh set it for you)"
    )]
    NoRegion,
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Invalid {
        name: String,
        value: String,
        reason: String,
    },
}

/// Where settings come from: the process environment in production, a map in tests.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl<const N: usize> Env for [(&str, &str); N] {
    fn var(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_string())
            .filter(|v| !v.is_empty())
    }
}

/// A required string setting.
pub fn required(env: &impl Env, name: &str) -> Result<String, ConfigError> {
    env.var(name).ok_or_else(|| ConfigError::Missing {
        name: name.to_string(),
    })
}

/// A setting parsed with `FromStr`, falling back to `default` when unset.
pub fn parsed_or<T>(env: &impl Env, name: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match env.var(name) {
        None => Ok(default),
        Some(value) => value
            .trim()
            .parse()
            .map_err(|e: T::Err| ConfigError::Invalid {
                name: name.to_string(),
                reason: e.to_string(),
                value,
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_required_variable_is_named_in_the_error() {
        let err = required(&[("OTHER", "x")], "TABLE_NAME").unwrap_err();
        assert_eq!(
            err,
            ConfigError::Missing {
                name: "TABLE_NAME".into()
            }
        );
        assert!(err.to_string().contains("TABLE_NAME"));
    }

    #[test]
    fn a_missing_region_says_lambda_provides_it_rather_than_the_template() {
        let text = ConfigError::NoRegion.to_string();
        assert!(
            text.contains("Lambda sets it") && !text.contains("template.yaml"),
            "{text}"
        );
    }

    #[test]
    fn empty_variable_counts_as_missing() {
        assert!(required(&[("TABLE_NAME", "")], "TABLE_NAME").is_err());
    }

    #[test]
    fn parsed_setting_uses_default_when_unset_and_value_when_set() {
        assert_eq!(parsed_or(&[], "MAX_ATTEMPTS", 4u32), Ok(4));
        assert_eq!(
            parsed_or(&[("MAX_ATTEMPTS", " 7 ")], "MAX_ATTEMPTS", 4u32),
            Ok(7)
        );
    }

    #[test]
    fn unparsable_setting_names_variable_and_value() {
        let err = parsed_or(&[("MAX_ATTEMPTS", "lots")], "MAX_ATTEMPTS", 4u32).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("MAX_ATTEMPTS") && text.contains("lots"),
            "{text}"
        );
    }
}
