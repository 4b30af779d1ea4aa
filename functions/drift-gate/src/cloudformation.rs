//! Adapter: CloudFormation drift detection in the stack's region and account (via STS when needed).

use std::future::Future;

use aws_config::{Region, SdkConfig};
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudformation::types::{StackDriftDetectionStatus, StackResourceDriftStatus};
use serde::{Deserialize, Serialize};
use tollgate::aws::error_text;

use crate::decision::ResourceDrift;

/// Where a stack lives: a region (default: the function's) and a role to assume (default: none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub region: Option<String>,
    pub role_arn: Option<String>,
}

/// A CloudFormation call that failed, with what to do about it.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct DriftError(pub String);

fn failed<E>(what: &str, err: SdkError<E>) -> DriftError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    let hint = match err.code() {
        Some("AccessDenied" | "AccessDeniedException") => {
            " Give the role Tollgate uses (the function's role, or `roleArn`) this permission."
        }
        Some("Throttling" | "ThrottlingException") => {
            " CloudFormation kept throttling after every retry; retry the stage."
        }
        _ => "",
    };
    DriftError(format!(
        "CloudFormation {what} failed: {}.{hint}",
        error_text(&err)
    ))
}

/// A stack as drift detection sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackState {
    Missing,
    Present { stack_id: String, status: String },
}

/// Where a drift detection run is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetectionStatus {
    InProgress,
    Complete,
    Failed { reason: String },
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
                Some(s)
                    if s.stack_status()
                        .is_some_and(|st| st.as_str() == "DELETE_COMPLETE") =>
                {
                    StackState::Missing
                }
                Some(s) => StackState::Present {
                    stack_id: s.stack_id().unwrap_or(stack).to_string(),
                    status: s
                        .stack_status()
                        .map(|st| st.as_str().to_string())
                        .unwrap_or_default(),
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

    /// DescribeStackDriftDetectionStatus.
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
            _ => DetectionStatus::Failed {
                reason: out
                    .detection_status_reason()
                    .unwrap_or("CloudFormation gave no reason")
                    .to_string(),
            },
        })
    }

    /// DescribeStackResourceDrifts (all pages): MODIFIED and DELETED resources, and how many
    /// resources drift detection did not check.
    pub async fn drifts(&self, stack: &str) -> Result<(Vec<ResourceDrift>, u32), DriftError> {
        let mut pages = self
            .client
            .describe_stack_resource_drifts()
            .stack_name(stack)
            .stack_resource_drift_status_filters(StackResourceDriftStatus::Modified)
            .stack_resource_drift_status_filters(StackResourceDriftStatus::Deleted)
            .stack_resource_drift_status_filters(StackResourceDriftStatus::NotChecked)
            .into_paginator()
            .send();
        let (mut drifted, mut not_checked) = (Vec::new(), 0u32);
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| failed(&format!("DescribeStackResourceDrifts for {stack}"), e))?;
            for d in page.stack_resource_drifts() {
                match d.stack_resource_drift_status() {
                    Some(StackResourceDriftStatus::NotChecked) => not_checked += 1,
                    Some(
                        status @ (StackResourceDriftStatus::Modified
                        | StackResourceDriftStatus::Deleted),
                    ) => drifted.push(ResourceDrift {
                        logical_id: d.logical_resource_id().unwrap_or_default().to_string(),
                        resource_type: d.resource_type().unwrap_or_default().to_string(),
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
        Ok((drifted, not_checked))
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
