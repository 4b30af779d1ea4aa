//! dora-change-failure-rate: the change failure rate calculator (EventBridge: CodePipeline state changes, OpsItem Create and Update).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

const CALCULATOR: dora::Calculator = dora::Calculator::ChangeFailureRate;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tollgate::telemetry::init();
    let deps = dora::deps::without_github(&tollgate::config::ProcessEnv).await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let deps = &deps;
        async move {
            let now = tollgate::state::epoch_seconds(std::time::SystemTime::now());
            deps.handle(CALCULATOR, &event.payload, now)
                .await
                .map(|_| ())
                .map_err(Error::from)
        }
    }))
    .await
}
