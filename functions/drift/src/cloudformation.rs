//! Adapter: CloudFormation drift detection in the stack's region and account (via STS when needed).

use std::collections::HashMap;
use std::future::Future;

use aws_config::{Region, SdkConfig};
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudformation::types::{
    StackDriftDetectionStatus, StackResourceDriftStatus, StackStatus,
};
use futures_util::lock::Mutex;
use tollgate::aws::error_text;

use crate::model::{ResourceDrift, Target, UncheckedResource};

/// A CloudFormation call that failed, with what to do about it.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct DriftError(pub String);

fn failed<E>(what: &str, err: SdkError<E>) -> DriftError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    let text = error_text(&err);
    let hint = match err.code() {
        Some("AccessDenied" | "AccessDeniedException") => {
            " Give the role Tollgate uses (the function's role, or `roleArn`) this permission."
        }
        Some("Throttling" | "ThrottlingException") => {
            " CloudFormation kept throttling after every retry; retry the stage."
        }
        // Credentials for a `roleArn` come from sts:AssumeRole before the call is sent.
        _ if text.contains("AssumeRole") => {
            " Tollgate could not assume the role (`roleArn` / `account`): check that the role exists, is \
             named as Tollgate's CrossAccountRoleName, and trusts Tollgate's DriftGateRoleArn and \
             DriftCallbackRoleArn. If all of that is right, an AccessDenied here means Tollgate's IAM does \
             not let it into that account (for instance, the account is outside the AWS Organization \
             Tollgate is limited to)."
        }
        _ => "",
    };
    DriftError(format!("CloudFormation {what} failed: {text}.{hint}"))
}

/// A stack as drift detection sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackState {
    /// No such stack (or only a deleted one).
    Missing,
    /// Created by a change set that has not been executed: nothing is deployed yet.
    ReviewInProgress,
    Present {
        stack_id: String,
        status: String,
    },
}

/// Where a drift detection run is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetectionStatus {
    InProgress,
    Complete,
    Failed { reason: String },
}

/// What DescribeStackResourceDrifts says about a stack's resources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceDrifts {
    /// MODIFIED and DELETED resources.
    pub drifted: Vec<ResourceDrift>,
    /// Resources drift detection could not check (status UNKNOWN).
    pub unchecked: Vec<UncheckedResource>,
}

/// CloudFormation's drift APIs for one target.
#[derive(Debug, Clone)]
pub struct Detector {
    client: Client,
}

impl Detector {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// DescribeStacks: whether the stack exists and its status.
    pub async fn stack(&self, stack: &str) -> Result<StackState, DriftError> {
        match self.client.describe_stacks().stack_name(stack).send().await {
            Ok(out) => Ok(match out.stacks().first() {
                None => StackState::Missing,
                Some(s) => match s.stack_status() {
                    Some(StackStatus::DeleteComplete) => StackState::Missing,
                    Some(StackStatus::ReviewInProgress) => StackState::ReviewInProgress,
                    status => StackState::Present {
                        stack_id: s.stack_id().unwrap_or(stack).to_string(),
                        status: status.map(|st| st.as_str().to_string()).unwrap_or_default(),
                    },
                },
            }),
            // AWS answers a stack that does not exist with ValidationError "Stack with id X does not exist".
            Err(e)
                if e.code() == Some("ValidationError")
                    && e.message().is_some_and(|m| m.contains("does not exist")) =>
            {
                Ok(StackState::Missing)
            }
            Err(e) => Err(failed(&format!("DescribeStacks for {stack}"), e)),
        }
    }

    /// ListStacks (all pages): the names of the stacks in this region and account, deleted
    /// stacks left out.
    pub async fn stack_names(&self) -> Result<Vec<String>, DriftError> {
        let live: Vec<StackStatus> = StackStatus::values()
            .iter()
            .map(|s| StackStatus::from(*s))
            .filter(|s| *s != StackStatus::DeleteComplete)
            .collect();
        let mut pages = self
            .client
            .list_stacks()
            .set_stack_status_filter(Some(live))
            .into_paginator()
            .send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| failed("ListStacks", e))?;
            names.extend(
                page.stack_summaries()
                    .iter()
                    .filter(|s| s.stack_status() != Some(&StackStatus::DeleteComplete))
                    .filter_map(|s| s.stack_name().map(str::to_string)),
            );
        }
        Ok(names)
    }

    /// DetectStackDrift: starts a run and returns its detection id.
    pub async fn start(&self, stack: &str) -> Result<String, DriftError> {
        let out = self
            .client
            .detect_stack_drift()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| failed(&format!("DetectStackDrift for {stack}"), e))?;
        out.stack_drift_detection_id()
            .map(str::to_string)
            .ok_or_else(|| {
                DriftError(format!(
                    "CloudFormation DetectStackDrift for {stack} returned no detection id"
                ))
            })
    }

    /// DescribeStackDriftDetectionStatus. Only `DETECTION_COMPLETE` is complete: every other
    /// finished status (today `DETECTION_FAILED`) is a failure, whatever the stack's drift
    /// status says.
    pub async fn status(&self, detection_id: &str) -> Result<DetectionStatus, DriftError> {
        let out = self
            .client
            .describe_stack_drift_detection_status()
            .stack_drift_detection_id(detection_id)
            .send()
            .await
            .map_err(|e| {
                failed(
                    &format!("DescribeStackDriftDetectionStatus for {detection_id}"),
                    e,
                )
            })?;
        Ok(match out.detection_status() {
            None | Some(StackDriftDetectionStatus::DetectionInProgress) => {
                DetectionStatus::InProgress
            }
            Some(StackDriftDetectionStatus::DetectionComplete) => DetectionStatus::Complete,
            Some(other) => DetectionStatus::Failed {
                reason: out
                    .detection_status_reason()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{other} (CloudFormation gave no reason)")),
            },
        })
    }

    /// DescribeStackResourceDrifts (all pages): MODIFIED and DELETED resources, and the
    /// resources drift detection could not check (UNKNOWN). CloudFormation never returns
    /// NOT_CHECKED here; resource types drift detection does not support are simply absent.
    pub async fn drifts(&self, stack: &str) -> Result<ResourceDrifts, DriftError> {
        let mut pages = self
            .client
            .describe_stack_resource_drifts()
            .stack_name(stack)
            .stack_resource_drift_status_filters(StackResourceDriftStatus::Modified)
            .stack_resource_drift_status_filters(StackResourceDriftStatus::Deleted)
            .stack_resource_drift_status_filters(StackResourceDriftStatus::UnknownValue)
            .into_paginator()
            .send();
        let mut found = ResourceDrifts::default();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| failed(&format!("DescribeStackResourceDrifts for {stack}"), e))?;
            for d in page.stack_resource_drifts() {
                let logical_id = d.logical_resource_id().unwrap_or_default().to_string();
                let resource_type = d.resource_type().unwrap_or_default().to_string();
                match d.stack_resource_drift_status() {
                    Some(StackResourceDriftStatus::UnknownValue) => {
                        found.unchecked.push(UncheckedResource {
                            logical_id,
                            resource_type,
                        })
                    }
                    Some(
                        status @ (StackResourceDriftStatus::Modified
                        | StackResourceDriftStatus::Deleted),
                    ) => found.drifted.push(ResourceDrift {
                        logical_id,
                        resource_type,
                        status: status.as_str().to_string(),
                        property_paths: d
                            .property_differences()
                            .iter()
                            .filter_map(|p| p.property_path().map(str::to_string))
                            .collect(),
                    }),
                    _ => {}
                }
            }
        }
        Ok(found)
    }
}

/// Gives a [`Detector`] for a target.
pub trait Targets: Send + Sync {
    fn detector(
        &self,
        target: &Target,
    ) -> impl Future<Output = Result<Detector, DriftError>> + Send;
}

/// The production [`Targets`]: the function's own credentials, or a role assumed through STS.
#[derive(Debug, Clone)]
pub struct AwsTargets {
    sdk: SdkConfig,
}

impl AwsTargets {
    pub fn new(sdk: SdkConfig) -> Self {
        Self { sdk }
    }
}

impl Targets for AwsTargets {
    async fn detector(&self, target: &Target) -> Result<Detector, DriftError> {
        let mut config = aws_sdk_cloudformation::config::Builder::from(&self.sdk);
        if let Some(region) = &target.region {
            config = config.region(Region::new(region.clone()));
        }
        if let Some(role) = &target.role_arn {
            let provider = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name("tollgate-drift-gate")
                .configure(&self.sdk)
                .build()
                .await;
            config = config.credentials_provider(provider);
        }
        Ok(Detector::new(Client::from_conf(config.build())))
    }
}

/// One [`Detector`] per target for the length of an invocation, so a role is assumed once per
/// run however many stacks and jobs use it (the detector's client caches the credentials).
pub struct Detectors<'a, T> {
    targets: &'a T,
    built: Mutex<HashMap<Target, Detector>>,
}

impl<'a, T: Targets> Detectors<'a, T> {
    pub fn new(targets: &'a T) -> Self {
        Self {
            targets,
            built: Mutex::new(HashMap::new()),
        }
    }

    pub async fn get(&self, target: &Target) -> Result<Detector, DriftError> {
        let mut built = self.built.lock().await;
        if let Some(detector) = built.get(target) {
            return Ok(detector.clone());
        }
        let detector = self.targets.detector(target).await?;
        built.insert(target.clone(), detector.clone());
        Ok(detector)
    }
}
