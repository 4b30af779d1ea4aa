//! Health gate: a CodePipeline Invoke action that fails while AWS Health or named alarms say the platform is unhealthy.

pub mod alarms;
pub mod decision;
pub mod health;
pub mod params;

use std::convert::Infallible;

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use tollgate::config::{ConfigError, Env};
use tollgate::pipeline_job::{CodePipelineReporter, Job, JobOutcome, JobReporter, handle_job};

use alarms::{AlarmStates, CloudWatchAlarms};
use decision::{AlarmReading, HealthReading, decide};
use health::{AwsHealth, HealthError, HealthEvents};

/// Everything the handler talks to, built once per cold start.
pub struct Deps<R, H, A> {
    pub reporter: R,
    pub health: H,
    pub alarms: A,
    /// The function's own region: the default region to check.
    pub region: String,
}

/// The production dependencies.
pub type AwsDeps = Deps<CodePipelineReporter, AwsHealth, CloudWatchAlarms>;

impl AwsDeps {
    /// Builds the SDK clients from the environment (region, credentials, endpoints, retries).
    /// The AWS Health endpoints are chosen on the first job (see [`AwsHealth::lazy`]); DNS is not
    /// asked when an endpoint override (`AWS_ENDPOINT_URL_HEALTH` or `AWS_ENDPOINT_URL`) is set.
    pub async fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let sdk = tollgate::aws::load(env).await?;
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .ok_or(ConfigError::NoRegion)?;
        let overridden =
            env.var("AWS_ENDPOINT_URL_HEALTH").is_some() || env.var("AWS_ENDPOINT_URL").is_some();
        Ok(Deps {
            reporter: CodePipelineReporter::new(aws_sdk_codepipeline::Client::new(&sdk)),
            alarms: CloudWatchAlarms::new(aws_sdk_cloudwatch::Client::new(&sdk)),
            health: AwsHealth::lazy(sdk, region.clone(), !overridden),
            region,
        })
    }
}

/// The Lambda handler: one CodePipeline job in, exactly one job result out.
pub async fn handler<R, H, A>(
    deps: &Deps<R, H, A>,
    event: LambdaEvent<Value>,
) -> Result<Value, Diagnostic>
where
    R: JobReporter,
    H: HealthEvents,
    A: AlarmStates,
{
    handle_job(&deps.reporter, event, |job| check(deps, job)).await
}

/// Reads the job's parameters, asks AWS Health and CloudWatch, and decides.
pub async fn check<R, H, A>(deps: &Deps<R, H, A>, job: Job) -> Result<JobOutcome, Infallible>
where
    H: HealthEvents,
    A: AlarmStates,
{
    let params = match params::parse(job.user_parameters.as_deref(), &deps.region) {
        Ok(p) => p,
        Err(e) => return Ok(JobOutcome::misconfigured(e.to_string())),
    };
    if let Some(services) = &params.services {
        match deps.health.unknown_services(services).await {
            Ok(unknown) if !unknown.is_empty() => {
                return Ok(JobOutcome::misconfigured(format!(
                    "UserParameters: `services`: AWS Health knows no service {} (service codes are \
                     those of AWS Health event types, such as LAMBDA, EC2, DYNAMODB; `aws health \
                     describe-event-types --region us-east-1` lists them). The gate fails rather than \
                     watch a service that has no events.",
                    unknown
                        .iter()
                        .map(|s| format!("{s:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            Ok(_) => {}
            // Without a support plan the event types cannot be read either: the Health policy
            // below decides, from the DescribeEvents answer.
            Err(HealthError::SubscriptionRequired(_)) => {}
            Err(e @ HealthError::Failed(_)) => {
                return Ok(JobOutcome::failed(format!(
                    "{e}. The gate fails closed when it cannot check the `services` it was given; retry \
                     the stage. If this persists, check the function's IAM role allows \
                     health:DescribeEventTypes."
                )));
            }
        }
    }
    let (health, alarms) =
        tokio::join!(deps.health.open_issues(params.services.as_deref()), async {
            if params.alarms.is_empty() && params.alarm_prefixes.is_empty() {
                Ok(AlarmReading::default())
            } else {
                deps.alarms
                    .check(&params.alarms, &params.alarm_prefixes)
                    .await
            }
        });
    let health = match health {
        Ok(events) => HealthReading::Events(events),
        Err(HealthError::SubscriptionRequired(reason)) => HealthReading::Unavailable { reason },
        Err(e @ HealthError::Failed(_)) => {
            return Ok(JobOutcome::failed(format!(
                "{e}. The gate fails closed when AWS Health cannot be read; retry the stage. \
                 If this persists, check the function's IAM role allows health:DescribeEvents."
            )));
        }
    };
    let alarms = match alarms {
        Ok(reading) => reading,
        Err(e) => {
            return Ok(JobOutcome::failed(format!(
                "{e}. Retry the stage; if this persists, check the function's IAM role allows cloudwatch:DescribeAlarms."
            )));
        }
    };
    Ok(decide(&params, &health, &alarms))
}
