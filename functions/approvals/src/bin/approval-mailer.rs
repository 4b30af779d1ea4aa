//! approval-mailer: emails each approver a signed link for a Step Functions task or a CodePipeline approval.

use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tollgate::telemetry::init();
    match approvals::deps::mailer(&tollgate::config::ProcessEnv).await {
        Ok(deps) => {
            lambda_runtime::run(service_fn(|event| approvals::mailer::handler(&deps, event))).await
        }
        // Keep answering, so every invocation fails with the reason rather than a crash loop.
        Err(problem) => {
            let diagnostic = Diagnostic::from(problem);
            tracing::error!(problem = %diagnostic.error_message, "approval-mailer is misconfigured");
            lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| {
                let diagnostic = diagnostic.clone();
                async move { Err::<Value, _>(diagnostic) }
            }))
            .await
        }
    }
}
