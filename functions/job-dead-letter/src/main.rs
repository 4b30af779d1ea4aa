use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tollgate::telemetry::init();
    let reporter = job_dead_letter::reporter_from_env().await;
    lambda_runtime::run(service_fn(|event| {
        job_dead_letter::handler(&reporter, event)
    }))
    .await
}
