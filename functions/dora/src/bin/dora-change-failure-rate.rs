//! dora-change-failure-rate: the change failure rate calculator (EventBridge: CodePipeline state changes, OpsItem Create and Update).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tollgate::telemetry::init();
    let deps = match dora::deps::without_github(&tollgate::config::ProcessEnv).await {
        Ok(deps) => deps,
        Err(problem) => tollgate::error::init_failed(problem.into()),
    };
    dora::serve(deps, dora::Calculator::ChangeFailureRate).await
}
