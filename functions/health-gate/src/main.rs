use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tollgate::telemetry::init();
    let deps = health_gate::AwsDeps::from_env(&tollgate::config::ProcessEnv).await?;
    lambda_runtime::run(service_fn(|event| health_gate::handler(&deps, event))).await
}
