//! Health gate: a CodePipeline Invoke action that fails while AWS Health or named alarms say the platform is unhealthy.

pub mod alarms;
pub mod decision;
pub mod health;
pub mod params;

use std::convert::Infallible;

use aws_config::Region;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use tollgate::config::{ConfigError, Env};
use tollgate::pipeline_job::{CodePipelineReporter, Job, JobOutcome, JobReporter, handle_job};

use alarms::{AlarmStates, CloudWatchAlarms};
use decision::{AlarmReading, HealthReading, decide};
use health::{AwsHealth, FAILOVER_REGION, HealthError, HealthEvents, PRIMARY_REGION};

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
    pub async fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let sdk = tollgate::aws::load(env).await?;
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| ConfigError::Missing {
                name: "AWS_REGION".into(),
            })?;
        let health_client = |region: &'static str| {
            aws_sdk_health::Client::from_conf(
                aws_sdk_health::config::Builder::from(&sdk)
                    .region(Region::from_static(region))
                    .build(),
            )
        };
        Ok(Deps {
            reporter: CodePipelineReporter::new(aws_sdk_codepipeline::Client::new(&sdk)),
            health: AwsHealth::new(
                health_client(PRIMARY_REGION),
                Some(health_client(FAILOVER_REGION)),
            ),
            alarms: CloudWatchAlarms::new(aws_sdk_cloudwatch::Client::new(&sdk)),
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
