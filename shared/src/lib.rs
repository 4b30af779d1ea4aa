//! Tollgate's shared library: configuration, the CodePipeline job contract, state, and telemetry.

pub mod aws;
pub mod config;
pub mod events;
pub mod pipeline_job;
pub mod state;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod text;
