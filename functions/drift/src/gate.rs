//! The `drift-gate` handler: claims the job, checks the stacks and starts one drift detection per stack.

use std::sync::Mutex;
use std::time::SystemTime;

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use tollgate::pipeline_job::{FAILURE_MESSAGE_MAX_BYTES, Job, JobOutcome, JobReporter, handle_job};
use tollgate::state::{StateError, StateStore};
use tollgate::text::bounded_list;

use crate::Deps;
use crate::cloudformation::{Detector, Detectors, StackState, Targets};
use crate::decision::decide;
use crate::model::Target;
use crate::params::{self, DriftParams, Policy, RoleArn, stack_name};
use crate::records::{self, CLAIMED, Claim, DetectionData, JobData, PENDING, REPORTING, Verdict};
use crate::suggest::similar_names;

/// How many similar stack names a "does not exist" message suggests.
const SUGGESTIONS: usize = 3;

/// What this invocation holds of the job, for the clean-up after its result is reported.
#[derive(Debug, Default)]
enum Held {
    #[default]
    Nothing,
    /// The claim (`CLAIMED`), and nothing decided yet.
    Claim(String),
    /// The reporting lease (`REPORTING`), with the job data as stored.
    Lease(String, Box<JobData>),
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
    let held = Mutex::new(Held::Nothing);
    // Boxed: the whole check as one future type is deeper than the compiler's default limit.
    let response = handle_job(&deps.reporter, event, |job| {
        Box::pin(start(deps, job, SystemTime::now(), &held))
    })
    .await;
    let held = held
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let reported = response
        .as_ref()
        .is_ok_and(|r| matches!(r["result"].as_str(), Some("failed" | "succeeded")));
    let cleanup = match (held, reported) {
        // Reported: the job is done; the reconciler can forget it.
        (Held::Lease(job_id, _), true) => records::close_job(&deps.store, &job_id, REPORTING).await,
        // Reported without deciding (out of time, a panic, a state table error): also done.
        (Held::Claim(job_id), true) => records::close_job(&deps.store, &job_id, CLAIMED).await,
        // Reporting failed: give the lease back so a retry or the reconciler reports it.
        (Held::Lease(job_id, data), false) => records::release_lease(&deps.store, &job_id, &data)
            .await
            .map(drop),
        _ => Ok(()),
    };
    if let Err(e) = cleanup {
        tracing::warn!(error = %e, "could not update the job record after reporting; the reconciler will");
    }
    response
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

fn hold(held: &Mutex<Held>, what: Held) {
    match held.lock() {
        Ok(mut h) => *h = what,
        Err(poisoned) => *poisoned.into_inner() = what,
    }
}

/// Claims the job, checks the stacks and starts one drift detection per stack. Returns
/// `Waiting` once detections run: `drift-callback` reports the result. A delivery that finds
/// the job claimed by another steps back and reports nothing.
async fn start<R, S, T>(
    deps: &Deps<R, S, T>,
    job: Job,
    now: SystemTime,
    held: &Mutex<Held>,
) -> Result<JobOutcome, StateError>
where
    S: StateStore,
    T: Targets,
{
    let settings = &deps.settings;
    let ctx = params::Context {
        job_account: job.account_id.as_deref(),
        cross_account_role_name: settings.cross_account_role_name.as_deref(),
        region: settings.region.as_deref(),
        allowed_accounts: settings.allowed_accounts.as_deref(),
    };
    let params = match params::parse(job.user_parameters.as_deref(), &ctx) {
        Ok(p) => p,
        Err(e) => return Ok(JobOutcome::misconfigured(e.to_string())),
    };
    let mut data = JobData {
        params,
        started_at: records::now_seconds(now),
        missing: Vec::new(),
        verdict: None,
        lease: None,
    };
    if records::claim_job(&deps.store, &job.id, &data, now).await? == Claim::Taken {
        return step_back(deps, &job.id, now, held).await;
    }
    hold(held, Held::Claim(job.id.clone()));
    let detectors = Detectors::new(&deps.targets);
    let looked_in = LookedIn {
        function_region: settings.region.as_deref(),
        job_account: job.account_id.as_deref(),
    };
    let detections = match check_and_start(&detectors, &data.params, &looked_in).await {
        Checked::Decided(outcome) => return decided(deps, &job.id, data, outcome, now, held).await,
        Checked::Started {
            detections,
            missing,
        } => {
            data.missing = missing;
            detections
        }
    };
    let stacks: Vec<&str> = detections.iter().map(|d| d.stack.as_str()).collect();
    let reason = format!("drift detection started for {}", stacks.join(", "));
    if !records::commit_detections(&deps.store, &job.id, &data, &detections, now).await? {
        tracing::warn!(job_id = %job.id, "the job was failed by the reconciler while its detections started");
    }
    hold(held, Held::Nothing);
    Ok(JobOutcome::Waiting { reason })
}

/// Another delivery claimed the job first: report nothing, unless an earlier delivery decided
/// the job, could not report it, and gave the lease back (then this one takes the lease).
async fn step_back<R, S, T>(
    deps: &Deps<R, S, T>,
    job_id: &str,
    now: SystemTime,
    held: &Mutex<Held>,
) -> Result<JobOutcome, StateError>
where
    S: StateStore,
{
    let waiting = JobOutcome::Waiting {
        reason: "another delivery of this job is handling it".into(),
    };
    let Some(stored) = records::load_job(&deps.store, job_id).await? else {
        return Ok(waiting);
    };
    let Some(verdict) = stored
        .data
        .verdict
        .clone()
        .filter(|_| stored.state == PENDING)
    else {
        return Ok(waiting);
    };
    match records::acquire_lease(&deps.store, &stored, PENDING, now).await? {
        Some(data) => {
            hold(held, Held::Lease(job_id.to_string(), Box::new(data)));
            Ok(verdict.outcome())
        }
        None => Ok(waiting),
    }
}

/// The gate decided the job itself: keep the verdict with the reporting lease, so that if
/// reporting fails, a retry or the reconciler reports the same.
async fn decided<R, S, T>(
    deps: &Deps<R, S, T>,
    job_id: &str,
    data: JobData,
    outcome: JobOutcome,
    now: SystemTime,
    held: &Mutex<Held>,
) -> Result<JobOutcome, StateError>
where
    S: StateStore,
{
    let job = records::StoredJob {
        job_id: job_id.to_string(),
        state: CLAIMED.to_string(),
        data: JobData {
            verdict: Verdict::of(&outcome),
            ..data
        },
        detections: Vec::new(),
    };
    match records::acquire_lease(&deps.store, &job, CLAIMED, now).await? {
        Some(data) => {
            hold(held, Held::Lease(job_id.to_string(), Box::new(data)));
            Ok(outcome)
        }
        None => {
            hold(held, Held::Nothing);
            tracing::warn!(%job_id, "the job was failed by the reconciler before the gate decided it");
            Ok(JobOutcome::Waiting {
                reason: "the reconciler already failed this job".into(),
            })
        }
    }
}

/// Where the gate looked, for messages.
struct LookedIn<'a> {
    function_region: Option<&'a str>,
    job_account: Option<&'a str>,
}

impl LookedIn<'_> {
    /// "eu-west-1 (account 222222222222)".
    fn describe(&self, target: &Target) -> String {
        let region = target
            .region
            .as_deref()
            .or(self.function_region)
            .unwrap_or("this function's region");
        let account = target
            .role_arn
            .as_deref()
            .and_then(RoleArn::parse)
            .map(|r| r.account)
            .or(self.job_account);
        match account {
            Some(account) => format!("{region} (account {account})"),
            None => region.to_string(),
        }
    }
}

enum Checked {
    /// The job's result is known without drift detection.
    Decided(JobOutcome),
    Started {
        detections: Vec<DetectionData>,
        missing: Vec<String>,
    },
}

/// Looks at every stack (DescribeStacks in its region and account), then starts drift detection
/// on those that exist.
async fn check_and_start<T: Targets>(
    detectors: &Detectors<'_, T>,
    params: &DriftParams,
    looked_in: &LookedIn<'_>,
) -> Checked {
    let (mut problems, mut missing, mut to_check) = (Vec::new(), Vec::new(), Vec::new());
    for stack in &params.stacks {
        let target = params.target(stack);
        let detector = match detectors.get(&target).await {
            Ok(d) => d,
            Err(e) => return Checked::Decided(JobOutcome::failed(e.to_string())),
        };
        let state = match detector.stack(stack).await {
            Ok(state) => state,
            Err(e) => return Checked::Decided(JobOutcome::failed(e.to_string())),
        };
        match state {
            StackState::Missing | StackState::ReviewInProgress
                if params.when_stack_missing == Policy::Pass =>
            {
                missing.push(stack.clone())
            }
            StackState::Missing => {
                let suggestions = suggestions(&detector, stack).await;
                problems.push(missing_message(stack, &looked_in.describe(&target), &suggestions));
            }
            StackState::ReviewInProgress => problems.push(format!(
                "Stack {stack} in {} is REVIEW_IN_PROGRESS: it was created by a change set that has not \
                 been executed, so nothing is deployed yet (whenStackMissing=fail). Execute or delete the \
                 change set, or set \"whenStackMissing\": \"pass\" to let a first deployment through.",
                looked_in.describe(&target)
            )),
            StackState::Present { status, .. } if !is_detectable(&status) => {
                let why = if status.ends_with("_IN_PROGRESS") {
                    "a stack operation is in progress; retry this stage when it has finished"
                } else {
                    "drift detection cannot run on a stack in this state; fix the stack first"
                };
                problems.push(format!("Stack {stack} is {status}: {why}."));
            }
            StackState::Present { .. } => to_check.push((stack.clone(), target, detector)),
        }
    }
    if let Some((first, rest)) = problems.split_first() {
        return Checked::Decided(JobOutcome::failed(bounded_list(
            first,
            rest,
            FAILURE_MESSAGE_MAX_BYTES,
        )));
    }
    if to_check.is_empty() {
        return Checked::Decided(decide(params, &[], &missing));
    }
    let mut detections = Vec::with_capacity(to_check.len());
    for (stack, target, detector) in to_check {
        match detector.start(&stack).await {
            Ok(detection_id) => detections.push(DetectionData {
                stack,
                detection_id,
                target,
                result: None,
                attempt: 1,
                replaced_by: None,
            }),
            Err(e) => return Checked::Decided(JobOutcome::failed(e.to_string())),
        }
    }
    Checked::Started {
        detections,
        missing,
    }
}

/// What ListStacks suggests for a stack that was not found: `Ok` with up to three similar names,
/// or the error that kept it from listing.
async fn suggestions(detector: &Detector, stack: &str) -> Result<Vec<String>, String> {
    detector
        .stack_names()
        .await
        .map(|names| similar_names(stack_name(stack), &names, SUGGESTIONS))
        .map_err(|e| e.to_string())
}

/// "Stack orders-apl does not exist in us-east-1 (account …) … similar names: orders-api …".
fn missing_message(
    stack: &str,
    looked_in: &str,
    suggestions: &Result<Vec<String>, String>,
) -> String {
    let similar = match suggestions {
        Ok(names) if names.is_empty() => " No stack there has a similar name.".to_string(),
        Ok(names) => format!(" Stacks there with similar names: {}.", names.join(", ")),
        Err(e) => {
            format!(" (Tollgate could not list the stacks there to suggest similar names: {e})")
        }
    };
    format!(
        "Stack {stack} does not exist in {looked_in} (whenStackMissing=fail).{similar} Check the stack name, \
         the region (`region`, or the region in a stack ARN) and the account (`roleArn` / `account`), or set \
         \"whenStackMissing\": \"pass\" to let a first deployment create it."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_stack_message_names_the_stack_the_region_and_the_similar_names() {
        let message = missing_message(
            "orders-apl",
            "eu-west-1 (account 222222222222)",
            &Ok(vec!["orders-api".into(), "orders-api-v2".into()]),
        );
        assert!(
            message.starts_with(
                "Stack orders-apl does not exist in eu-west-1 (account 222222222222) (whenStackMissing=fail). \
                 Stacks there with similar names: orders-api, orders-api-v2."
            ),
            "{message}"
        );
        assert!(
            message.contains("\"whenStackMissing\": \"pass\""),
            "{message}"
        );
        let none = missing_message("x", "us-east-1", &Ok(vec![]));
        assert!(
            none.contains("No stack there has a similar name."),
            "{none}"
        );
        let failed = missing_message("x", "us-east-1", &Err("AccessDenied".into()));
        assert!(
            failed.contains("could not list the stacks there"),
            "{failed}"
        );
    }

    #[test]
    fn the_region_looked_in_is_the_targets_else_the_functions() {
        let looked_in = LookedIn {
            function_region: Some("us-east-1"),
            job_account: Some("111111111111"),
        };
        assert_eq!(
            looked_in.describe(&Target::default()),
            "us-east-1 (account 111111111111)"
        );
        let cross = Target {
            region: Some("eu-west-1".into()),
            role_arn: Some("arn:aws:iam::222222222222:role/reader".into()),
        };
        assert_eq!(
            looked_in.describe(&cross),
            "eu-west-1 (account 222222222222)"
        );
    }
}
