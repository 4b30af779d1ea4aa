//! approval-api: the approval page (GET) and the decision (POST) behind API Gateway's HTTP API.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tollgate::telemetry::init();
    match approvals::deps::api(&tollgate::config::ProcessEnv).await {
        Ok(deps) => {
            lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
                approvals::api::handle_event(event, |request| {
                    approvals::api::handler(&deps, request)
                })
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
