//! Drift gate: a CodePipeline Invoke action that starts CloudFormation drift detection; the job is finished by `drift-callback`.

pub mod cloudformation;
pub mod completion;
pub mod decision;
pub mod params;
pub mod records;

use std::time::SystemTime;

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use tollgate::config::{ConfigError, Env, required};
use tollgate::pipeline_job::{CodePipelineReporter, Job, JobOutcome, JobReporter, handle_job};
use tollgate::state::{DynamoStateStore, StateError, StateStore};

use cloudformation::{AwsTargets, StackState, Target, Targets};
use params::{DriftParams, Policy};
use records::{CLAIMED, DetectionData, JobData, REPORTING};

/// Everything the drift functions talk to, built once per cold start.
pub struct Deps<R, S, T> {
    pub reporter: R,
    pub store: S,
    pub targets: T,
    /// Role name to assume in other accounts for the `{stackName, account}` form.
    pub cross_account_role_name: Option<String>,
    /// The function's region (for the partition of role ARNs it builds).
    pub region: Option<String>,
}

/// The production dependencies.
pub type AwsDeps = Deps<CodePipelineReporter, DynamoStateStore, AwsTargets>;

impl AwsDeps {
    /// Builds the SDK clients from the environment: `TABLE_NAME` (the state table) and
    /// `CROSS_ACCOUNT_ROLE_NAME` (optional).
    pub async fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let table = required(env, "TABLE_NAME")?;
        let sdk = tollgate::aws::load(env).await?;
        Ok(Deps {
            reporter: CodePipelineReporter::new(aws_sdk_codepipeline::Client::new(&sdk)),
            store: DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&sdk), table),
            cross_account_role_name: env.var("CROSS_ACCOUNT_ROLE_NAME"),
            region: sdk.region().map(|r| r.to_string()),
            targets: AwsTargets::new(sdk),
        })
    }
}

/// The Lambda handler for the pipeline action.
pub async fn handler<R, S, T>(
    deps: &Deps<R, S, T>,
    event: LambdaEvent<Value>,
) -> Result<Value, Diagnostic>
where
    R: JobReporter,
    S: StateStore,
    T: Targets,
{
    let response = handle_job(&deps.reporter, event, |job| {
        start(deps, job, SystemTime::now())
    })
    .await?;
    if let (Some(job_id), Some("failed" | "succeeded")) =
        (response["jobId"].as_str(), response["result"].as_str())
    {
        // A job this invocation claimed and then failed is now reported: close it, so the
        // reconciler leaves it alone (closing a job it never claimed changes nothing). If this
        // fails, the reconciler closes it later.
        if let Err(e) = records::close_job(&deps.store, job_id).await {
            tracing::warn!(%job_id, error = %e, "could not close the job record");
        }
    }
    Ok(response)
}

fn is_detectable(status: &str) -> bool {
    matches!(
        status,
        "CREATE_COMPLETE"
            | "UPDATE_COMPLETE"
            | "UPDATE_ROLLBACK_COMPLETE"
            | "UPDATE_ROLLBACK_FAILED"
            | "IMPORT_COMPLETE"
            | "IMPORT_ROLLBACK_COMPLETE"
    )
}

/// Checks the stacks, claims the job, and starts one drift detection per stack. Returns
/// `Waiting` once detections run: `drift-callback` reports the result.
pub async fn start<R, S, T>(
    deps: &Deps<R, S, T>,
    job: Job,
    now: SystemTime,
) -> Result<JobOutcome, StateError>
where
    S: StateStore,
    T: Targets,
{
    let ctx = params::Context {
        job_account: job.account_id.as_deref(),
        cross_account_role_name: deps.cross_account_role_name.as_deref(),
        region: deps.region.as_deref(),
    };
    let params = match params::parse(job.user_parameters.as_deref(), &ctx) {
        Ok(p) => p,
        Err(e) => return Ok(JobOutcome::misconfigured(e.to_string())),
    };
    let target = Target {
        region: params.region.clone(),
        role_arn: params.role_arn.clone(),
    };
    let detector = match deps.targets.detector(&target).await {
        Ok(d) => d,
        Err(e) => return Ok(JobOutcome::failed(e.to_string())),
    };
    let (mut to_check, mut missing) = (Vec::new(), Vec::new());
    for stack in &params.stacks {
        match detector.stack(stack).await {
            Err(e) => return Ok(JobOutcome::failed(e.to_string())),
            Ok(StackState::Missing) if params.when_stack_missing == Policy::Fail => {
                return Ok(JobOutcome::failed(format!(
                    "Stack {stack} does not exist in {} (whenStackMissing=fail). Check the name and region, \
                     or set \"whenStackMissing\": \"pass\" to let a first deployment through.",
                    params.region.as_deref().unwrap_or("this function's region")
                )));
            }
            Ok(StackState::Missing) => missing.push(stack.clone()),
            Ok(StackState::Present { status, .. }) if !is_detectable(&status) => {
                let why = if status.ends_with("_IN_PROGRESS") {
                    "a stack operation is in progress; retry this stage when it has finished"
                } else {
                    "drift detection cannot run on a stack in this state; fix the stack first"
                };
                return Ok(JobOutcome::failed(format!(
                    "Stack {stack} is {status}: {why}."
                )));
            }
            Ok(StackState::Present { .. }) => to_check.push(stack.clone()),
        }
    }
    if to_check.is_empty() {
        return Ok(decision::decide(&params, &[], &missing));
    }
    let data = JobData {
        params: params.clone(),
        started_at: records::now_seconds(now),
        missing,
        final_message: None,
    };
    // A retried delivery of a job already claimed starts nothing twice: it waits for the first
    // delivery's detections, or repeats the failure that delivery decided but could not report.
    if !records::claim_job(&deps.store, &job.id, &data, now).await? {
        let stored = records::load_job(&deps.store, &job.id).await?;
        return Ok(match stored.map(|j| (j.state, j.data.final_message)) {
            Some((state, Some(message))) if state == REPORTING => JobOutcome::failed(message),
            _ => JobOutcome::Waiting {
                reason: "drift detection was already started for this job".into(),
            },
        });
    }
    let mut detections = Vec::with_capacity(to_check.len());
    for stack in &to_check {
        match detector.start(stack).await {
            Ok(detection_id) => detections.push(DetectionData {
                stack: stack.clone(),
                detection_id,
                target: target.clone(),
                result: None,
            }),
            Err(e) => return give_up(deps, &job.id, data, e.to_string()).await,
        }
    }
    records::commit_detections(&deps.store, &job.id, &detections, now).await?;
    Ok(JobOutcome::Waiting {
        reason: format!("drift detection started for {}", to_check.join(", ")),
    })
}

/// Fails a claimed job; the message is kept so a retried invocation reports the same.
async fn give_up<R, S: StateStore, T>(
    deps: &Deps<R, S, T>,
    job_id: &str,
    data: JobData,
    message: String,
) -> Result<JobOutcome, StateError> {
    let data = JobData {
        final_message: Some(message.clone()),
        ..data
    };
    records::move_job(&deps.store, job_id, CLAIMED, REPORTING, Some(&data)).await?;
    Ok(JobOutcome::failed(message))
}

/// The parsed parameters of a stored job, for callers outside this crate.
pub fn stored_params(job: &records::StoredJob) -> &DriftParams {
    &job.data.params
}
