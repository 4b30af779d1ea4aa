//! Tollgate's shared library: configuration, the CodePipeline job contract, state, and telemetry.

pub mod aws;
pub mod config;
pub mod error;
pub mod events;
pub mod github;
pub mod limits;
pub mod pipeline_job;
pub mod regions;
pub mod state;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod text;

/// Milliseconds since the Unix epoch (0 if the clock is before it), as Lambda deadlines are given.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
