//! approval-api: the approval page (GET) and the decision (POST) behind API Gateway's HTTP API, and the scheduled delivery of decisions the workflow was not told.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tollgate::telemetry::init();
    match approvals::deps::api(&tollgate::config::ProcessEnv).await {
        Ok(deps) => {
            let deps = &deps;
            lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
                // The schedule's run: deliver decisions whose workflow was not told.
                // Lambda gave up on an approval-mailer invocation: fail its workflow.
                if approvals::api::is_mailer_failure(&event.payload) {
                    return approvals::api::mailer_gave_up(deps, &event.payload).await;
                }
                if approvals::api::is_scheduled_delivery(&event.payload) {
                    let now = approvals::store::now_secs();
                    return approvals::api::scheduled_delivery(deps, now).await;
                }
                let response = approvals::api::handle_event(event, |request| {
                    approvals::api::handler(deps, request)
                })
                .await?;
                serde_json::to_value(response)
                    .map_err(|e| tollgate::error::diagnostic(approvals::api::INTERNAL_ERROR, &e))
            }))
            .await
        }
        // Keep answering with a page that says what is wrong, rather than a crash loop.
        Err(problem) => {
            let problem = problem.to_string();
            tracing::error!(%problem, "approval-api is misconfigured");
            lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
                let problem = problem.clone();
                approvals::api::handle_event(event, move |_| {
                    let page = approvals::api::misconfigured(&problem);
                    async move { Ok::<_, lambda_http::Error>(page) }
                })
            }))
            .await
        }
    }
}
