//! branch-pipelines: creates and deletes branch stacks on CodeCommit events, GitHub webhooks and a schedule.

use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tollgate::telemetry::init();
    let deps = match branch_pipelines::deps::from_env(&tollgate::config::ProcessEnv).await {
        Ok(deps) => deps,
        Err(problem) => tollgate::error::init_failed(problem.into()),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let deps = &deps;
        async move {
            tracing::debug!(event = %tollgate::telemetry::redacted_for_log(&event.payload), "event");
            deps.handle(event.payload).await.map_err(Diagnostic::from)
        }
    }))
    .await
}
