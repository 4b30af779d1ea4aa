//! drift-callback: reports drift-gate jobs from drift events, and reconciles them every minute.

use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tollgate::telemetry::init();
    match drift::AwsDeps::from_env(&tollgate::config::ProcessEnv).await {
        Ok(deps) => {
            lambda_runtime::run(service_fn(|event| drift::callback::handler(&deps, event))).await
        }
        // Keep answering: fail the jobs it can, and return an error for every event.
        Err(problem) => {
            drift::callback::serve_misconfigured(problem.with_origins(&[]).to_string()).await
        }
    }
}
