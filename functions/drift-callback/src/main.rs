use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tollgate::telemetry::init();
    let deps = drift_gate::AwsDeps::from_env(&tollgate::config::ProcessEnv).await?;
    lambda_runtime::run(service_fn(|event| drift_callback::handler(&deps, event))).await
}
