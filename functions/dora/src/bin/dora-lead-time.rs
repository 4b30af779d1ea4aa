//! dora-lead-time: the lead time calculator (EventBridge: CodePipeline execution and stage state changes).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

const CALCULATOR: dora::Calculator = dora::Calculator::LeadTime;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tollgate::telemetry::init();
    let deps = dora::deps::from_env(&tollgate::config::ProcessEnv).await?;
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
