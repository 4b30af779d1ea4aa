//! Real SDK clients answered by `aws-smithy-mocks` for the APIs moto lacks: CodePipeline job
//! results and CloudFormation drift detection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_cloudformation::operation::describe_stack_drift_detection_status::DescribeStackDriftDetectionStatusOutput;
use aws_sdk_cloudformation::operation::describe_stack_resource_drifts::DescribeStackResourceDriftsOutput;
use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
use aws_sdk_cloudformation::operation::detect_stack_drift::DetectStackDriftOutput;
use aws_sdk_cloudformation::operation::list_stacks::ListStacksOutput;
use aws_sdk_cloudformation::types::{
    PropertyDifference, Stack, StackDriftDetectionStatus, StackDriftStatus, StackResourceDrift,
    StackResourceDriftStatus, StackStatus, StackSummary,
};
use aws_sdk_codepipeline::operation::put_job_failure_result::{
    PutJobFailureResultInput, PutJobFailureResultOutput,
};
use aws_sdk_codepipeline::operation::put_job_success_result::{
    PutJobSuccessResultInput, PutJobSuccessResultOutput,
};
use aws_sdk_codepipeline::types::FailureType;
use aws_smithy_mocks::{MockResponse, Rule, RuleMode, mock, mock_client};
use aws_smithy_types::DateTime;
use drift::cloudformation::{Detector, DriftError, Targets};
use drift::model::Target;
use tollgate::pipeline_job::CodePipelineReporter;
use tollgate::testing::{aws_json_error, aws_query_error};

type Seen<T> = Arc<Mutex<Vec<T>>>;

/// A CodePipeline client that records every job result sent to it. The first
/// `failing_reports` result calls answer 500 InternalFailure, as AWS does when it is in trouble.
pub struct RecordingPipeline {
    pub reporter: CodePipelineReporter,
    successes: Seen<PutJobSuccessResultInput>,
    failures: Seen<PutJobFailureResultInput>,
    _rules: Vec<Rule>,
}

impl RecordingPipeline {
    pub fn accepting() -> Self {
        Self::failing_first(0)
    }

    /// Each of PutJobSuccessResult and PutJobFailureResult answers its first `failing_reports`
    /// attempts with 500 InternalFailure, then records what it is sent.
    pub fn failing_first(failing_reports: usize) -> Self {
        let successes = Seen::default();
        let failures = Seen::default();
        let internal_failure = || aws_json_error(500, "InternalFailure", "Internal service error");
        let mut rules = Vec::new();
        if failing_reports > 0 {
            rules.push(
                mock!(aws_sdk_codepipeline::Client::put_job_success_result)
                    .sequence()
                    .http_response(internal_failure)
                    .times(failing_reports)
                    .build(),
            );
            rules.push(
                mock!(aws_sdk_codepipeline::Client::put_job_failure_result)
                    .sequence()
                    .http_response(internal_failure)
                    .times(failing_reports)
                    .build(),
            );
        }
        let s = successes.clone();
        rules.push(
            mock!(aws_sdk_codepipeline::Client::put_job_success_result).then_compute_output(
                move |req| {
                    s.lock().unwrap().push(req.clone());
                    PutJobSuccessResultOutput::builder().build()
                },
            ),
        );
        let f = failures.clone();
        rules.push(
            mock!(aws_sdk_codepipeline::Client::put_job_failure_result).then_compute_output(
                move |req| {
                    f.lock().unwrap().push(req.clone());
                    PutJobFailureResultOutput::builder().build()
                },
            ),
        );
        let client = mock_client!(
            aws_sdk_codepipeline,
            RuleMode::MatchAny,
            rules.iter(),
            |c| c.retry_config(tollgate::testing::fast_retries())
        );
        RecordingPipeline {
            reporter: CodePipelineReporter::new(client),
            successes,
            failures,
            _rules: rules,
        }
    }

    /// Job results recorded so far (successes and failures).
    pub fn results(&self) -> usize {
        self.successes.lock().unwrap().len() + self.failures.lock().unwrap().len()
    }

    pub fn successes(&self) -> Vec<PutJobSuccessResultInput> {
        self.successes.lock().unwrap().clone()
    }

    /// Every failure result so far: (job id, type, message).
    pub fn failures(&self) -> Vec<(String, FailureType, String)> {
        self.failures
            .lock()
            .unwrap()
            .iter()
            .map(|f| {
                let details = f.failure_details().expect("failure details");
                (
                    f.job_id().unwrap_or_default().to_string(),
                    details.r#type().clone(),
                    details.message().to_string(),
                )
            })
            .collect()
    }

    /// The one success result, asserting it is the only result.
    pub fn only_success(&self) -> PutJobSuccessResultInput {
        assert_eq!(self.failures.lock().unwrap().len(), 0, "no failure result");
        let successes = self.successes.lock().unwrap();
        assert_eq!(successes.len(), 1, "exactly one success result");
        successes[0].clone()
    }

    /// The one failure result's type and message, asserting it is the only result.
    pub fn only_failure(&self) -> (FailureType, String) {
        assert_eq!(self.successes.lock().unwrap().len(), 0, "no success result");
        let failures = self.failures.lock().unwrap();
        assert_eq!(failures.len(), 1, "exactly one failure result");
        let details = failures[0].failure_details().expect("failure details");
        (details.r#type().clone(), details.message().to_string())
    }
}

/// An output variable of a success result.
pub fn output_variable(sent: &PutJobSuccessResultInput, key: &str) -> String {
    sent.output_variables().expect("output variables")[key].clone()
}

/// Where a scripted drift detection is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Run {
    InProgress,
    Complete,
    Failed(String),
}

/// One resource's drift: (logical id, type, MODIFIED|DELETED|UNKNOWN, property paths).
pub type ScriptedDrift = (String, String, String, Vec<String>);

/// What the scripted CloudFormation knows.
#[derive(Debug, Default)]
pub struct CfnWorld {
    /// stack name -> status (absent: the stack does not exist).
    pub stacks: HashMap<String, String>,
    /// detection id -> (stack, run).
    pub detections: HashMap<String, (String, Run)>,
    /// stack -> its latest detection id.
    pub latest: HashMap<String, String>,
    /// stack -> its resources' drift.
    pub drifts: HashMap<String, Vec<ScriptedDrift>>,
    /// Stacks DetectStackDrift was called for, in order.
    pub detect_calls: Vec<String>,
    /// How many DescribeStackDriftDetectionStatus calls were made.
    pub status_calls: usize,
    /// How many ListStacks calls were made.
    pub list_calls: usize,
    /// When set, DetectStackDrift answers this (status, code, message).
    pub detect_error: Option<(u16, String, String)>,
    /// When set, each DescribeStackDriftDetectionStatus call takes this long (blocking, as a
    /// slow CloudFormation would hold the invocation).
    pub status_delay: Option<std::time::Duration>,
}

/// ListStacks answers this many stacks per page, so callers must follow `NextToken`.
pub const LIST_STACKS_PAGE: usize = 2;

/// A CloudFormation client answered from a [`CfnWorld`], with AWS's documented shapes and errors.
#[derive(Clone)]
pub struct ScriptedCloudFormation {
    pub world: Arc<Mutex<CfnWorld>>,
    pub client: aws_sdk_cloudformation::Client,
    pub targets_requested: Arc<Mutex<Vec<Target>>>,
    _rules: Arc<Vec<Rule>>,
}

impl ScriptedCloudFormation {
    pub fn new(stacks: &[(&str, &str)]) -> Self {
        let world = Arc::new(Mutex::new(CfnWorld {
            stacks: stacks
                .iter()
                .map(|(n, s)| (n.to_string(), s.to_string()))
                .collect(),
            ..CfnWorld::default()
        }));
        let w = world.clone();
        let describe = mock!(aws_sdk_cloudformation::Client::describe_stacks).then_compute_response(move |req| {
            let name = req.stack_name().unwrap_or_default().to_string();
            // A stack ARN names the stack by its name part here.
            let key = name.split('/').nth(1).unwrap_or(&name).to_string();
            match w.lock().unwrap().stacks.get(&key) {
                None => MockResponse::Http(aws_query_error(400, "ValidationError", &format!("Stack with id {name} does not exist"))),
                Some(status) => MockResponse::Output(
                    DescribeStacksOutput::builder()
                        .stacks(
                            Stack::builder()
                                .stack_name(&key)
                                .stack_id(format!("arn:aws:cloudformation:us-east-1:111111111111:stack/{key}/6d8b7f30"))
                                .stack_status(StackStatus::from(status.as_str()))
                                .creation_time(DateTime::from_secs(1_790_000_000))
                                .build(),
                        )
                        .build(),
                ),
            }
        });
        let w = world.clone();
        let list = mock!(aws_sdk_cloudformation::Client::list_stacks).then_compute_response(
            move |req| {
                let mut world = w.lock().unwrap();
                world.list_calls += 1;
                let wanted = req.stack_status_filter();
                let mut names: Vec<(&String, &String)> = world
                    .stacks
                    .iter()
                    .filter(|(_, status)| {
                        wanted.is_empty() || wanted.iter().any(|w| w.as_str() == status.as_str())
                    })
                    .collect();
                names.sort();
                let start: usize = req.next_token().and_then(|t| t.parse().ok()).unwrap_or(0);
                let page: Vec<StackSummary> = names
                    .iter()
                    .skip(start)
                    .take(LIST_STACKS_PAGE)
                    .map(|(name, status)| {
                        StackSummary::builder()
                            .stack_name(name.as_str())
                            .stack_id(format!("arn:aws:cloudformation:us-east-1:111111111111:stack/{name}/6d8b7f30"))
                            .stack_status(StackStatus::from(status.as_str()))
                            .creation_time(DateTime::from_secs(1_790_000_000))
                            .build()
                    })
                    .collect();
                let next = (start + LIST_STACKS_PAGE < names.len())
                    .then(|| (start + LIST_STACKS_PAGE).to_string());
                MockResponse::Output(
                    ListStacksOutput::builder()
                        .set_stack_summaries(Some(page))
                        .set_next_token(next)
                        .build(),
                )
            },
        );
        let w = world.clone();
        let detect = mock!(aws_sdk_cloudformation::Client::detect_stack_drift)
            .then_compute_response(move |req| {
                let mut world = w.lock().unwrap();
                if let Some((status, code, message)) = world.detect_error.clone() {
                    return MockResponse::Http(aws_query_error(status, &code, &message));
                }
                let stack = req.stack_name().unwrap_or_default().to_string();
                world.detect_calls.push(stack.clone());
                let id = format!("{stack}-detection-{}", world.detect_calls.len());
                world
                    .detections
                    .insert(id.clone(), (stack.clone(), Run::InProgress));
                world.latest.insert(stack, id.clone());
                MockResponse::Output(
                    DetectStackDriftOutput::builder()
                        .stack_drift_detection_id(id)
                        .build(),
                )
            });
        let w = world.clone();
        let status = mock!(aws_sdk_cloudformation::Client::describe_stack_drift_detection_status)
            .then_compute_response(move |req| {
                let id = req.stack_drift_detection_id().unwrap_or_default();
                let delay = {
                    let mut world = w.lock().unwrap();
                    world.status_calls += 1;
                    world.status_delay
                };
                if let Some(delay) = delay {
                    std::thread::sleep(delay);
                }
                let world = w.lock().unwrap();
                let Some((stack, run)) = world.detections.get(id) else {
                    return MockResponse::Http(aws_query_error(
                        400,
                        "ValidationError",
                        &format!("Drift detection with id {id} does not exist"),
                    ));
                };
                let drifted = world
                    .drifts
                    .get(stack)
                    .map(|d| {
                        d.iter()
                            .filter(|x| x.2 == "MODIFIED" || x.2 == "DELETED")
                            .count()
                    })
                    .unwrap_or(0);
                let (detection, reason) = match run {
                    Run::InProgress => (StackDriftDetectionStatus::DetectionInProgress, None),
                    Run::Complete => (StackDriftDetectionStatus::DetectionComplete, None),
                    Run::Failed(reason) => (
                        StackDriftDetectionStatus::DetectionFailed,
                        Some(reason.clone()),
                    ),
                };
                MockResponse::Output(
                    DescribeStackDriftDetectionStatusOutput::builder()
                        .stack_id(format!(
                            "arn:aws:cloudformation:us-east-1:111111111111:stack/{stack}/6d8b7f30"
                        ))
                        .stack_drift_detection_id(id)
                        .detection_status(detection)
                        .set_detection_status_reason(reason)
                        // As AWS does, a failed detection can still call the stack IN_SYNC
                        // (nothing it managed to check had drifted).
                        .stack_drift_status(if drifted > 0 {
                            StackDriftStatus::Drifted
                        } else {
                            StackDriftStatus::InSync
                        })
                        .drifted_stack_resource_count(i32::try_from(drifted).unwrap_or(i32::MAX))
                        .timestamp(DateTime::from_secs(1_795_000_000))
                        .build(),
                )
            });
        let w = world.clone();
        let drifts = mock!(aws_sdk_cloudformation::Client::describe_stack_resource_drifts)
            .then_compute_response(move |req| {
                let stack = req.stack_name().unwrap_or_default();
                let wanted = req.stack_resource_drift_status_filters();
                let world = w.lock().unwrap();
                let items = world.drifts.get(stack).cloned().unwrap_or_default();
                let drifts = items
                    .into_iter()
                    .filter(|(_, _, status, _)| {
                        wanted.is_empty() || wanted.iter().any(|w| w.as_str() == status)
                    })
                    .map(|(id, kind, status, paths)| {
                        StackResourceDrift::builder()
                        .stack_id(format!(
                            "arn:aws:cloudformation:us-east-1:111111111111:stack/{stack}/6d8b7f30"
                        ))
                        .logical_resource_id(id)
                        .resource_type(kind)
                        .stack_resource_drift_status(StackResourceDriftStatus::from(
                            status.as_str(),
                        ))
                        .set_property_differences(Some(
                            paths
                                .into_iter()
                                .map(|p| {
                                    PropertyDifference::builder()
                                        .property_path(p)
                                        .expected_value("\"expected\"")
                                        .actual_value("\"actual\"")
                                        .difference_type("NOT_EQUAL".into())
                                        .build()
                                })
                                .collect(),
                        ))
                        .timestamp(DateTime::from_secs(1_795_000_000))
                        .build()
                    });
                MockResponse::Output(
                    DescribeStackResourceDriftsOutput::builder()
                        .set_stack_resource_drifts(Some(drifts.collect()))
                        .build(),
                )
            });
        let client = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            [&describe, &list, &detect, &status, &drifts],
            |c| c.retry_config(tollgate::testing::fast_retries())
        );
        ScriptedCloudFormation {
            world,
            client,
            targets_requested: Arc::default(),
            _rules: Arc::new(vec![describe, list, detect, status, drifts]),
        }
    }

    /// Finishes the latest detection run started for `stack`; returns its id.
    pub fn finish(&self, stack: &str, run: Run) -> String {
        let mut world = self.world.lock().unwrap();
        let id = world
            .latest
            .get(stack)
            .cloned()
            .expect("a detection was started for the stack");
        if let Some(entry) = world.detections.get_mut(&id) {
            entry.1 = run;
        }
        id
    }

    /// Declares a resource's drift for `stack`.
    pub fn drift(&self, stack: &str, logical_id: &str, kind: &str, status: &str, paths: &[&str]) {
        self.world
            .lock()
            .unwrap()
            .drifts
            .entry(stack.into())
            .or_default()
            .push((
                logical_id.into(),
                kind.into(),
                status.into(),
                paths.iter().map(|p| p.to_string()).collect(),
            ));
    }

    pub fn detect_calls(&self) -> Vec<String> {
        self.world.lock().unwrap().detect_calls.clone()
    }

    /// The targets a detector was asked for, in order.
    pub fn targets(&self) -> Vec<Target> {
        self.targets_requested.lock().unwrap().clone()
    }
}

impl Targets for ScriptedCloudFormation {
    async fn detector(&self, target: &Target) -> Result<Detector, DriftError> {
        self.targets_requested.lock().unwrap().push(target.clone());
        Ok(Detector::new(self.client.clone()))
    }
}
