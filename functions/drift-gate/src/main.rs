use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tollgate::telemetry::init();
    match drift_gate::AwsDeps::from_env(&tollgate::config::ProcessEnv).await {
        Ok(deps) => {
            lambda_runtime::run(service_fn(|event| drift_gate::handler(&deps, event))).await
        }
        Err(problem) => tollgate::pipeline_job::serve_misconfigured(problem.to_string()).await,
    }
}
