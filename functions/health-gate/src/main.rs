use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tollgate::telemetry::init();
    match health_gate::AwsDeps::from_env(&tollgate::config::ProcessEnv).await {
        Ok(deps) => {
            lambda_runtime::run(service_fn(|event| health_gate::handler(&deps, event))).await
        }
        Err(problem) => {
            let problem = problem.with_origins(&[]).to_string();
            tollgate::pipeline_job::serve_misconfigured(problem).await
        }
    }
}
