//! Adapter: open issues and known service codes from AWS Health, through its active endpoint
//! (found in DNS) with the other as failover.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use aws_config::{Region, SdkConfig};
use aws_sdk_health::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_health::operation::describe_event_types::DescribeEventTypesError;
use aws_sdk_health::operation::describe_events::DescribeEventsError;
use aws_sdk_health::types::{EventFilter, EventStatusCode, EventTypeCategory, EventTypeFilter};
use aws_smithy_types::date_time::Format;
use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::{RData, RecordType};
use tokio::sync::OnceCell;
use tollgate::aws::error_text;

use crate::decision::OpenEvent;

/// In the `aws` partition the Health API is active/passive in these two regions; the active one
/// is named by the CNAME of [`GLOBAL_ENDPOINT`].
pub const PRIMARY_REGION: &str = "us-east-1";
pub const FAILOVER_REGION: &str = "us-east-2";
/// The DNS name whose CNAME is the active Health endpoint (`health.us-east-1.amazonaws.com`).
pub const GLOBAL_ENDPOINT: &str = "global.health.amazonaws.com";
/// How long the DNS lookup of [`GLOBAL_ENDPOINT`] may take before the default order is used.
pub const DNS_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HealthError {
    /// The account has no Business/Enterprise support plan.
    #[error("{0}")]
    SubscriptionRequired(String),
    /// A call failed: the operation's name and the error ("DescribeEvents failed: ...").
    #[error("AWS Health {0}")]
    Failed(String),
}

/// Reads open issues and event types from AWS Health.
pub trait HealthEvents: Send + Sync {
    /// Open and upcoming `issue` events, for `services` (all when `None`), in every region.
    fn open_issues(
        &self,
        services: Option<&[String]>,
    ) -> impl Future<Output = Result<Vec<OpenEvent>, HealthError>> + Send;

    /// The codes among `services` that AWS Health has no event types for (typos such as
    /// `LAMDBA`). Answers are kept for the life of the process (one cold start).
    fn unknown_services(
        &self,
        services: &[String],
    ) -> impl Future<Output = Result<Vec<String>, HealthError>> + Send;
}

/// The Health regions to call, in order, for a function in `function_region`, given the region
/// DNS named as active (`aws` partition only). GovCloud and China have one Health endpoint per
/// region and no global name: the function's own region first, then the partition's other one.
pub fn endpoint_regions(function_region: &str, active: Option<&str>) -> (String, Option<String>) {
    let pair = |first: &str, second: &str| (first.to_string(), Some(second.to_string()));
    match tollgate::regions::partition_of(function_region).id {
        "aws" => match active {
            Some(FAILOVER_REGION) => pair(FAILOVER_REGION, PRIMARY_REGION),
            _ => pair(PRIMARY_REGION, FAILOVER_REGION),
        },
        "aws-us-gov" if function_region == "us-gov-east-1" => {
            pair("us-gov-east-1", "us-gov-west-1")
        }
        "aws-us-gov" => pair("us-gov-west-1", "us-gov-east-1"),
        "aws-cn" if function_region == "cn-north-1" => pair("cn-north-1", "cn-northwest-1"),
        "aws-cn" => pair("cn-northwest-1", "cn-north-1"),
        _ => (function_region.to_string(), None),
    }
}

/// The region a Health endpoint host names: `health.us-east-2.amazonaws.com.` is `us-east-2`.
pub fn region_of_endpoint(host: &str) -> Option<&str> {
    let region = host.strip_prefix("health.")?.split('.').next()?;
    tollgate::aws::is_region_name(region).then_some(region)
}

/// Asks DNS for the CNAME of [`GLOBAL_ENDPOINT`] and returns the region it names, or `None`
/// when the lookup fails, times out (after [`DNS_TIMEOUT`]) or names no region.
pub async fn active_region(resolver: &TokioResolver) -> Option<String> {
    let lookup = tokio::time::timeout(
        DNS_TIMEOUT,
        resolver.lookup(format!("{GLOBAL_ENDPOINT}."), RecordType::CNAME),
    )
    .await;
    let answer = match lookup {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not resolve {GLOBAL_ENDPOINT}; using {PRIMARY_REGION} then {FAILOVER_REGION}");
            return None;
        }
        Err(_) => {
            tracing::warn!(
                "resolving {GLOBAL_ENDPOINT} took over {DNS_TIMEOUT:?}; using {PRIMARY_REGION} then {FAILOVER_REGION}"
            );
            return None;
        }
    };
    answer
        .answers()
        .iter()
        .find_map(|record| match &record.data {
            RData::CNAME(target) => region_of_endpoint(&target.0.to_ascii()).map(str::to_string),
            _ => None,
        })
}

/// What [`AwsHealth`] needs to pick its endpoints on first use.
struct LazyEndpoints {
    sdk: SdkConfig,
    function_region: String,
    /// False when an endpoint override is set (as in the local sandbox): DNS is not asked.
    resolve_dns: bool,
}

/// The production [`HealthEvents`]: a client for the active Health endpoint and one for its
/// failover, chosen once per cold start.
pub struct AwsHealth {
    /// `None` when the clients were given up front.
    lazy: Option<Box<LazyEndpoints>>,
    clients: OnceCell<(aws_sdk_health::Client, Option<aws_sdk_health::Client>)>,
    /// Service code -> whether AWS Health has event types for it.
    known_services: Mutex<BTreeMap<String, bool>>,
}

impl AwsHealth {
    /// An adapter with fixed clients: `primary` first, `failover` on transient errors.
    pub fn new(primary: aws_sdk_health::Client, failover: Option<aws_sdk_health::Client>) -> Self {
        Self {
            lazy: None,
            clients: OnceCell::new_with(Some((primary, failover))),
            known_services: Mutex::default(),
        }
    }

    /// An adapter that picks its endpoints on first use (see [`endpoint_regions`]).
    pub fn lazy(sdk: SdkConfig, function_region: String, resolve_dns: bool) -> Self {
        Self {
            lazy: Some(Box::new(LazyEndpoints {
                sdk,
                function_region,
                resolve_dns,
            })),
            clients: OnceCell::new(),
            known_services: Mutex::default(),
        }
    }

    async fn clients(&self) -> &(aws_sdk_health::Client, Option<aws_sdk_health::Client>) {
        self.clients
            .get_or_init(|| async {
                let Some(lazy) = &self.lazy else {
                    unreachable!("an adapter without `lazy` got its clients at construction");
                };
                let LazyEndpoints {
                    sdk,
                    function_region,
                    resolve_dns,
                } = lazy.as_ref();
                let aws_partition = tollgate::regions::partition_of(function_region).id == "aws";
                let active = match TokioResolver::builder_tokio() {
                    Ok(builder) if *resolve_dns && aws_partition => match builder.build() {
                        Ok(resolver) => active_region(&resolver).await,
                        Err(_) => None,
                    },
                    _ => None,
                };
                let (primary, failover) = endpoint_regions(function_region, active.as_deref());
                tracing::debug!(%primary, ?failover, "AWS Health endpoints chosen");
                let client = |region: String| {
                    aws_sdk_health::Client::from_conf(
                        aws_sdk_health::config::Builder::from(sdk)
                            .region(Region::new(region))
                            .build(),
                    )
                };
                (client(primary), failover.map(client))
            })
            .await
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

    /// Whether AWS Health has any event type for `service` (one DescribeEventTypes call).
    async fn knows(
        client: &aws_sdk_health::Client,
        service: &str,
    ) -> Result<bool, SdkError<DescribeEventTypesError>> {
        let out = client
            .describe_event_types()
            .filter(EventTypeFilter::builder().services(service).build())
            .max_results(10)
            .send()
            .await?;
        Ok(out
            .event_types()
            .iter()
            .any(|t| t.service().is_some_and(|s| s.eq_ignore_ascii_case(service))))
    }
}

/// Errors worth trying the other endpoint for: network, timeouts, 5xx and throttling that the
/// SDK's own retries did not get past.
fn is_transient<E: ProvideErrorMetadata>(err: &SdkError<E>) -> bool {
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

fn classify<E>(operation: &str, err: SdkError<E>) -> HealthError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if err.code() == Some("SubscriptionRequiredException") {
        HealthError::SubscriptionRequired("SubscriptionRequiredException".to_string())
    } else {
        HealthError::Failed(format!("{operation} failed: {}", error_text(&err)))
    }
}

impl HealthEvents for AwsHealth {
    async fn open_issues(
        &self,
        services: Option<&[String]>,
    ) -> Result<Vec<OpenEvent>, HealthError> {
        let (primary, failover) = self.clients().await;
        match Self::read(primary, services).await {
            Ok(events) => Ok(events),
            Err(err) => match failover {
                Some(failover) if is_transient(&err) => {
                    tracing::warn!(error = %error_text(&err), "AWS Health's active endpoint failed; trying the other");
                    Self::read(failover, services)
                        .await
                        .map_err(|e| classify("DescribeEvents", e))
                }
                _ => Err(classify("DescribeEvents", err)),
            },
        }
    }

    async fn unknown_services(&self, services: &[String]) -> Result<Vec<String>, HealthError> {
        let unchecked: Vec<String> = {
            let known = self
                .known_services
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            services
                .iter()
                .filter(|s| !known.contains_key(*s))
                .cloned()
                .collect()
        };
        if !unchecked.is_empty() {
            let (primary, failover) = self.clients().await;
            let answers =
                futures_util::future::join_all(unchecked.iter().map(|service| async move {
                    match (Self::knows(primary, service).await, failover) {
                        (Err(err), Some(other)) if is_transient(&err) => {
                            Self::knows(other, service).await
                        }
                        (answer, _) => answer,
                    }
                }))
                .await;
            let mut known = self
                .known_services
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for (service, answer) in unchecked.iter().zip(answers) {
                let is_known = answer.map_err(|e| classify("DescribeEventTypes", e))?;
                known.insert(service.clone(), is_known);
            }
        }
        let known = self
            .known_services
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(services
            .iter()
            .filter(|s| known.get(*s) == Some(&false))
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_active_endpoint_from_dns_comes_first_in_the_aws_partition() {
        assert_eq!(
            endpoint_regions("eu-west-1", Some("us-east-2")),
            ("us-east-2".to_string(), Some("us-east-1".to_string()))
        );
        assert_eq!(
            endpoint_regions("eu-west-1", Some("us-east-1")),
            ("us-east-1".to_string(), Some("us-east-2".to_string()))
        );
    }

    #[test]
    fn without_an_answer_from_dns_us_east_1_comes_first_then_us_east_2() {
        assert_eq!(
            endpoint_regions("ap-south-1", None),
            ("us-east-1".to_string(), Some("us-east-2".to_string()))
        );
        // A CNAME naming some other region is not trusted either.
        assert_eq!(
            endpoint_regions("ap-south-1", Some("eu-west-1")).0,
            "us-east-1"
        );
    }

    #[test]
    fn other_partitions_use_their_own_regional_endpoints() {
        assert_eq!(
            endpoint_regions("us-gov-east-1", None),
            (
                "us-gov-east-1".to_string(),
                Some("us-gov-west-1".to_string())
            )
        );
        assert_eq!(
            endpoint_regions("cn-northwest-1", None),
            ("cn-northwest-1".to_string(), Some("cn-north-1".to_string()))
        );
        assert_eq!(
            endpoint_regions("eusc-de-east-1", None),
            ("eusc-de-east-1".to_string(), None)
        );
    }

    #[test]
    fn the_region_is_read_from_the_endpoints_host_name() {
        assert_eq!(
            region_of_endpoint("health.us-east-2.amazonaws.com."),
            Some("us-east-2")
        );
        assert_eq!(
            region_of_endpoint("health.us-east-1.amazonaws.com"),
            Some("us-east-1")
        );
        assert_eq!(region_of_endpoint("global.health.amazonaws.com."), None);
        assert_eq!(region_of_endpoint("health.example.com."), None);
    }
}
