//! dora-time-to-restore: the time to restore calculator (EventBridge: CodePipeline state changes, OpsItem Create and Update).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tollgate::telemetry::init();
    let deps = dora::deps::without_github(&tollgate::config::ProcessEnv).await?;
    dora::serve(deps, dora::Calculator::TimeToRestore).await
}
