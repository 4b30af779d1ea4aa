//! Typed configuration read from environment variables, with errors that name the variable.

use std::str::FromStr;

/// Where template.yaml takes an environment variable's value from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A stack parameter (`ApprovalSender`): the person deploying sets it.
    Parameter(&'static str),
    /// A resource the template creates (`StateTable`): a deployed function always has it.
    Resource(&'static str),
}

/// Settings every function reads, declared under the template's `Globals` or for every function
/// alike: the variable and where the template takes its value from.
pub const GLOBAL_ORIGINS: &[(&str, Origin)] = &[
    ("TABLE_NAME", Origin::Resource("StateTable")),
    ("TOLLGATE_MAX_ATTEMPTS", Origin::Parameter("MaxAttempts")),
    (
        "CROSS_ACCOUNT_ROLE_NAME",
        Origin::Parameter("CrossAccountRoleName"),
    ),
    (
        "CROSS_ACCOUNT_ALLOWED_ACCOUNTS",
        Origin::Parameter("CrossAccountAllowedAccounts"),
    ),
];

/// The longest part of a setting's value repeated in an error message.
const VALUE_SHOWN_MAX_BYTES: usize = 200;

fn missing_text(name: &str, origin: &Option<Origin>) -> String {
    match origin {
        Some(Origin::Parameter(p)) => format!(
            "environment variable {name} is empty: set the stack parameter {p} \
             (sam deploy --parameter-overrides {p}=<value>); template.yaml passes it to the \
             function as {name}"
        ),
        Some(Origin::Resource(r)) => format!(
            "environment variable {name} is not set: template.yaml sets it from the {r} resource, \
             so a deployed function has it; for a local run, set {name} yourself"
        ),
        None => format!(
            "environment variable {name} is not set (declare it for this function in template.yaml)"
        ),
    }
}

fn invalid_text(name: &str, value: &str, reason: &str, origin: &Option<Origin>) -> String {
    let value = crate::text::truncate(value, VALUE_SHOWN_MAX_BYTES);
    let from = match origin {
        Some(Origin::Parameter(p)) => format!(" (the stack parameter {p})"),
        Some(Origin::Resource(r)) => format!(" (from the {r} resource)"),
        None => String::new(),
    };
    format!("environment variable {name}={value:?}{from} is invalid: {reason}")
}

/// A setting that is missing or cannot be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{}", missing_text(name, origin))]
    Missing {
        name: String,
        /// Where template.yaml takes the value from (see [`ConfigError::with_origins`]).
        origin: Option<Origin>,
    },
    /// Lambda sets `AWS_REGION` for every function; only a local run can lack it.
    #[error(
        "environment variable AWS_REGION is not set. Lambda sets it for every function; to run a \
         function locally, set it yourself (scripts/invoke.sh and scripts/run.sh set it for you)"
    )]
    NoRegion,
    #[error("{}", invalid_text(name, value, reason, origin))]
    Invalid {
        name: String,
        value: String,
        reason: String,
        /// Where template.yaml takes the value from (see [`ConfigError::with_origins`]).
        origin: Option<Origin>,
    },
}

impl ConfigError {
    /// A value that cannot be used, and why.
    pub fn invalid(name: &str, value: &str, reason: impl ToString) -> Self {
        ConfigError::Invalid {
            name: name.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
            origin: None,
        }
    }

    /// The variable the error is about (`None` for `AWS_REGION`, which Lambda sets).
    pub fn variable(&self) -> Option<&str> {
        match self {
            ConfigError::Missing { name, .. } | ConfigError::Invalid { name, .. } => Some(name),
            ConfigError::NoRegion => None,
        }
    }

    /// Says where template.yaml takes the variable from, looked up in the function's `table`
    /// and then in [`GLOBAL_ORIGINS`], so the message names the stack parameter to set.
    pub fn with_origins(mut self, table: &[(&str, Origin)]) -> Self {
        let found = self.variable().and_then(|var| {
            table
                .iter()
                .chain(GLOBAL_ORIGINS)
                .find(|(v, _)| *v == var)
                .map(|(_, origin)| *origin)
        });
        if let ConfigError::Missing { origin, .. } | ConfigError::Invalid { origin, .. } = &mut self
        {
            *origin = origin.or(found);
        }
        self
    }
}

/// The entries of `table` (and of [`GLOBAL_ORIGINS`]) that `template` (template.yaml's text)
/// does not declare as `<VARIABLE>: !Ref <origin>`: what a test checks so the messages never
/// name a parameter the template does not have.
pub fn undeclared_origins(table: &[(&str, Origin)], template: &str) -> Vec<String> {
    table
        .iter()
        .chain(GLOBAL_ORIGINS)
        .filter_map(|(var, origin)| {
            let name = match origin {
                Origin::Parameter(n) | Origin::Resource(n) => n,
            };
            let declared = template.contains(&format!("{var}: !Ref {name}"));
            let kind_ok = match origin {
                Origin::Parameter(n) => template.contains(&format!("\n  {n}:\n    Type: ")),
                Origin::Resource(n) => template.contains(&format!("\n  {n}:\n    Type: AWS::")),
            };
            (!(declared && kind_ok)).then(|| format!("{var} <- {origin:?}"))
        })
        .collect()
}

impl From<ConfigError> for lambda_runtime::Diagnostic {
    fn from(err: ConfigError) -> Self {
        crate::error::diagnostic(crate::error::CONFIGURATION_ERROR, &err)
    }
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
        origin: None,
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
            .map_err(|e: T::Err| ConfigError::invalid(name, &value, e)),
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
                name: "TABLE_NAME".into(),
                origin: None,
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

    #[test]
    fn a_missing_variable_from_a_stack_parameter_names_the_parameter_and_not_the_template() {
        let err = required(&[], "APPROVAL_SENDER")
            .unwrap_err()
            .with_origins(&[("APPROVAL_SENDER", Origin::Parameter("ApprovalSender"))]);
        let text = err.to_string();
        assert!(
            text.contains("ApprovalSender") && text.contains("APPROVAL_SENDER"),
            "{text}"
        );
        assert!(!text.contains("declare it"), "{text}");
    }

    #[test]
    fn a_missing_table_name_names_the_table_resource_from_the_global_table() {
        let text = required(&[], "TABLE_NAME")
            .unwrap_err()
            .with_origins(&[])
            .to_string();
        assert!(
            text.contains("StateTable") && !text.contains("declare it"),
            "{text}"
        );
    }

    #[test]
    fn an_invalid_value_names_its_parameter_and_shows_a_bounded_value() {
        let long = "x".repeat(100_000);
        let text = parsed_or(
            &[("TOLLGATE_MAX_ATTEMPTS", long.as_str())],
            "TOLLGATE_MAX_ATTEMPTS",
            4u32,
        )
        .unwrap_err()
        .with_origins(&[])
        .to_string();
        assert!(text.contains("MaxAttempts"), "{text}");
        assert!(text.len() < 1_000, "{} bytes", text.len());
    }

    #[test]
    fn a_variable_no_table_knows_keeps_the_declare_it_advice() {
        let text = required(&[], "SOMETHING_NEW")
            .unwrap_err()
            .with_origins(&[])
            .to_string();
        assert!(text.contains("declare it"), "{text}");
    }

    #[test]
    fn the_global_origins_are_declared_in_template_yaml() {
        let template = include_str!("../../template.yaml");
        assert_eq!(undeclared_origins(&[], template), Vec::<String>::new());
        assert_eq!(
            undeclared_origins(&[("NOPE", Origin::Parameter("NoSuchParameter"))], template),
            vec!["NOPE <- Parameter(\"NoSuchParameter\")".to_string()]
        );
    }
}
