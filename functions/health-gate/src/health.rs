//! Adapter: open issues from AWS Health, through its us-east-1 endpoint with us-east-2 failover.

use std::future::Future;

use aws_sdk_health::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_health::operation::describe_events::DescribeEventsError;
use aws_sdk_health::types::{EventFilter, EventStatusCode, EventTypeCategory};
use aws_smithy_types::date_time::Format;
use tollgate::aws::error_text;

use crate::decision::OpenEvent;

/// The Health API's global endpoint lives in us-east-1; us-east-2 is its documented failover.
pub const PRIMARY_REGION: &str = "us-east-1";
pub const FAILOVER_REGION: &str = "us-east-2";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HealthError {
    /// The account has no Business/Enterprise support plan.
    #[error("{0}")]
    SubscriptionRequired(String),
    #[error("AWS Health DescribeEvents failed: {0}")]
    Failed(String),
}

/// Reads open issues from AWS Health.
pub trait HealthEvents: Send + Sync {
    /// Open and upcoming `issue` events, for `services` (all when `None`), in every region.
    fn open_issues(
        &self,
        services: Option<&[String]>,
    ) -> impl Future<Output = Result<Vec<OpenEvent>, HealthError>> + Send;
}

/// The production [`HealthEvents`]: a client per Health endpoint.
#[derive(Debug, Clone)]
pub struct AwsHealth {
    primary: aws_sdk_health::Client,
    failover: Option<aws_sdk_health::Client>,
}

impl AwsHealth {
    pub fn new(primary: aws_sdk_health::Client, failover: Option<aws_sdk_health::Client>) -> Self {
        Self { primary, failover }
    }

    async fn read(
        client: &aws_sdk_health::Client,
        services: Option<&[String]>,
    ) -> Result<Vec<OpenEvent>, SdkError<DescribeEventsError>> {
        let filter = EventFilter::builder()
            .event_type_categories(EventTypeCategory::Issue)
            .event_status_codes(EventStatusCode::Open)
            .event_status_codes(EventStatusCode::Upcoming)
            .set_services(services.map(<[String]>::to_vec))
            .build();
        let mut pages = client
            .describe_events()
            .filter(filter)
            .max_results(100)
            .into_paginator()
            .send();
        let mut events = Vec::new();
        while let Some(page) = pages.next().await {
            events.extend(page?.events().iter().map(|e| {
                OpenEvent {
                    arn: e.arn().unwrap_or_default().to_string(),
                    service: e.service().unwrap_or_default().to_string(),
                    region: e.region().unwrap_or("global").to_string(),
                    event_type_code: e.event_type_code().unwrap_or_default().to_string(),
                    start_time: e.start_time().and_then(|t| t.fmt(Format::DateTime).ok()),
                    status: e
                        .status_code()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                }
            }));
        }
        Ok(events)
    }
}

/// Errors worth trying the other endpoint for: network, timeouts, 5xx and throttling that the
/// SDK's own retries did not get past.
fn is_transient(err: &SdkError<DescribeEventsError>) -> bool {
    match err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(ctx) => {
            ctx.raw().status().is_server_error()
                || matches!(
                    err.code(),
                    Some("ThrottlingException" | "Throttling" | "TooManyRequestsException")
                )
        }
        _ => false,
    }
}

fn classify(err: SdkError<DescribeEventsError>) -> HealthError {
    if err.code() == Some("SubscriptionRequiredException") {
        HealthError::SubscriptionRequired(format!(
            "SubscriptionRequiredException: {}",
            err.message()
                .unwrap_or("the AWS Health API requires a support subscription")
        ))
    } else {
        HealthError::Failed(error_text(&err))
    }
}

impl HealthEvents for AwsHealth {
    async fn open_issues(
        &self,
        services: Option<&[String]>,
    ) -> Result<Vec<OpenEvent>, HealthError> {
        match Self::read(&self.primary, services).await {
            Ok(events) => Ok(events),
            Err(err) => match &self.failover {
                Some(failover) if is_transient(&err) => {
                    tracing::warn!(error = %error_text(&err), "AWS Health primary endpoint failed; trying {FAILOVER_REGION}");
                    Self::read(failover, services).await.map_err(classify)
                }
                _ => Err(classify(err)),
            },
        }
    }
}
