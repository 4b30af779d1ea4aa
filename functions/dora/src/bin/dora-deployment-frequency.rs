//! dora-deployment-frequency: the deployment frequency calculator (EventBridge: CodePipeline execution and stage state changes).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tollgate::telemetry::init();
    let deps = match dora::deps::without_github(&tollgate::config::ProcessEnv).await {
        Ok(deps) => deps,
        Err(problem) => tollgate::error::init_failed(problem.into()),
    };
    dora::serve(deps, dora::Calculator::DeploymentFrequency).await
}
