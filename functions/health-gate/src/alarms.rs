//! Adapter: CloudWatch alarms named in the job, or matching its prefixes, that are in ALARM.

use std::collections::BTreeSet;
use std::future::Future;

use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use tollgate::aws::error_text;

use crate::decision::{AlarmReading, FiringAlarm};

/// DescribeAlarms accepts at most 100 alarm names per call.
const NAMES_PER_CALL: usize = 100;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("CloudWatch DescribeAlarms failed: {0}")]
pub struct AlarmError(pub String);

/// Reads alarm states.
pub trait AlarmStates: Send + Sync {
    fn check(
        &self,
        names: &[String],
        prefixes: &[String],
    ) -> impl Future<Output = Result<AlarmReading, AlarmError>> + Send;
}

/// The production [`AlarmStates`] on CloudWatch (metric and composite alarms).
#[derive(Debug, Clone)]
pub struct CloudWatchAlarms {
    client: aws_sdk_cloudwatch::Client,
}

impl CloudWatchAlarms {
    pub fn new(client: aws_sdk_cloudwatch::Client) -> Self {
        Self { client }
    }

    /// (name, state, reason) of every alarm the request matches, all pages.
    async fn describe(
        &self,
        names: Option<&[String]>,
        prefix: Option<&str>,
    ) -> Result<Vec<(String, Option<StateValue>, String)>, AlarmError> {
        let mut request = self
            .client
            .describe_alarms()
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .set_alarm_names(names.map(<[String]>::to_vec));
        if let Some(prefix) = prefix {
            // Every state, not only ALARM: a prefix that matches no alarm at all is a typo.
            request = request.alarm_name_prefix(prefix);
        }
        let mut pages = request.into_paginator().send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AlarmError(error_text(&e)))?;
            found.extend(page.metric_alarms().iter().map(|a| {
                (
                    a.alarm_name().unwrap_or_default().to_string(),
                    a.state_value().cloned(),
                    a.state_reason().unwrap_or_default().to_string(),
                )
            }));
            found.extend(page.composite_alarms().iter().map(|a| {
                (
                    a.alarm_name().unwrap_or_default().to_string(),
                    a.state_value().cloned(),
                    a.state_reason().unwrap_or_default().to_string(),
                )
            }));
        }
        Ok(found)
    }
}

impl AlarmStates for CloudWatchAlarms {
    async fn check(
        &self,
        names: &[String],
        prefixes: &[String],
    ) -> Result<AlarmReading, AlarmError> {
        let mut seen = BTreeSet::new();
        let mut reading = AlarmReading::default();
        let mut record = |alarms: Vec<(String, Option<StateValue>, String)>,
                          seen: &mut BTreeSet<String>| {
            for (name, state, reason) in alarms {
                if seen.insert(name.clone()) && state == Some(StateValue::Alarm) {
                    reading.firing.push(FiringAlarm { name, reason });
                }
            }
        };
        for chunk in names.chunks(NAMES_PER_CALL) {
            record(self.describe(Some(chunk), None).await?, &mut seen);
        }
        let missing: Vec<String> = names
            .iter()
            .filter(|n| !seen.contains(*n))
            .cloned()
            .collect();
        let mut unmatched = Vec::new();
        for prefix in prefixes {
            let alarms = self.describe(None, Some(prefix)).await?;
            if alarms.is_empty() {
                unmatched.push(prefix.clone());
            }
            record(alarms, &mut seen);
        }
        reading.missing = missing;
        reading.unmatched_prefixes = unmatched;
        Ok(reading)
    }
}
