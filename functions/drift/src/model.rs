//! The drift gate's domain types, shared by parameters, decisions and adapters, with no I/O.

use serde::{Deserialize, Serialize};

/// Where a stack lives: a region (default: the function's) and a role to assume (default: none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub region: Option<String>,
    pub role_arn: Option<String>,
}

/// One resource whose actual configuration differs from its template.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDrift {
    pub logical_id: String,
    pub resource_type: String,
    /// `MODIFIED` or `DELETED`.
    pub status: String,
    /// Property paths that differ (`/Tags/0/Value`); empty for a deleted resource.
    pub property_paths: Vec<String>,
}

/// A resource drift detection could not check (its drift status is `UNKNOWN`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UncheckedResource {
    pub logical_id: String,
    pub resource_type: String,
}
