//! branch-pipelines: creates and deletes branch stacks on CodeCommit events, GitHub webhooks and a schedule.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tollgate::telemetry::init();
    let deps = branch_pipelines::deps::from_env(&tollgate::config::ProcessEnv).await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let deps = &deps;
        async move {
            tracing::debug!(event = %tollgate::telemetry::redacted(&event.payload), "event");
            deps.handle(event.payload).await.map_err(Error::from)
        }
    }))
    .await
}
