//! Branch pipelines: a CloudFormation stack (with its pipeline) per feature branch, created when the branch is and deleted when it goes.

pub mod adapters;
pub mod comment;
pub mod deps;
pub mod events;
pub mod filters;
pub mod handler;
pub mod naming;
pub mod status;
pub mod webhook;

/// The webhook secret the sample events in `events/` are signed with (documented; never deploy it).
pub const SAMPLE_WEBHOOK_SECRET: &str = "tollgate-sample-webhook-secret";
