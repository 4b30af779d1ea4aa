//! approval-api: the approval page (GET) and the decision (POST) behind API Gateway's HTTP API.

use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tollgate::telemetry::init();
    match approvals::deps::api(&tollgate::config::ProcessEnv).await {
        Ok(deps) => {
            lambda_http::run(service_fn(|request| {
                approvals::api::handler(&deps, request)
            }))
            .await
        }
        // Keep answering with a page that says what is wrong, rather than a crash loop.
        Err(problem) => {
            let message = problem.to_string();
            tracing::error!(%message, "approval-api is misconfigured");
            lambda_http::run(service_fn(|_: Request| {
                let message = message.clone();
                async move { Ok::<Response<Body>, Error>(approvals::api::misconfigured(&message)) }
            }))
            .await
        }
    }
}
