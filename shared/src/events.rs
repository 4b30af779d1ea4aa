//! Typed EventBridge events that `aws_lambda_events` lacks, tolerant of fields AWS adds later.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The EventBridge envelope around a `detail` of type `D`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EventBridgeEvent<D> {
    pub id: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub source: String,
    #[serde(default)]
    pub account: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub time: String,
    pub detail: D,
}

/// The `detail-type` of an EventBridge event, without parsing the rest.
pub fn detail_type(event: &Value) -> Option<&str> {
    event.get("detail-type")?.as_str()
}

/// Parses an EventBridge event with a typed `detail`; the error names what is wrong.
pub fn parse<D: DeserializeOwned>(event: &Value) -> Result<EventBridgeEvent<D>, String> {
    EventBridgeEvent::deserialize(event).map_err(|e| e.to_string())
}

/// `detail-type` of CloudFormation's drift detection events.
pub const DRIFT_DETECTION_STATUS_CHANGE: &str = "CloudFormation Drift Detection Status Change";

/// `detail` of a "CloudFormation Drift Detection Status Change" event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DriftDetectionStatusChange {
    pub stack_id: String,
    pub stack_drift_detection_id: String,
    pub status_details: DriftStatusDetails,
    #[serde(default)]
    pub drift_detection_details: Option<DriftDetectionDetails>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DriftStatusDetails {
    /// `IN_SYNC`, `DRIFTED`, `UNKNOWN` or `NOT_CHECKED`.
    #[serde(default)]
    pub stack_drift_status: Option<String>,
    /// `DETECTION_IN_PROGRESS`, `DETECTION_COMPLETE` or `DETECTION_FAILED`.
    pub detection_status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DriftDetectionDetails {
    /// -1 while detection is in progress.
    #[serde(default)]
    pub drifted_stack_resource_count: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drift_event_as_documented_parses_and_ignores_unknown_fields() {
        let event = json!({
            "version": "0",
            "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": "CloudFormation Drift Detection Status Change",
            "source": "aws.cloudformation",
            "account": "111111111111",
            "time": "2026-11-22T10:00:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:cloudformation:us-east-1:111111111111:stack/app/1"],
            "detail": {
                "stack-id": "arn:aws:cloudformation:us-east-1:111111111111:stack/app/1",
                "stack-drift-detection-id": "b78ac9b0-dec1-11e7-a451-503a3example",
                "status-details": {"stack-drift-status": "DRIFTED", "detection-status": "DETECTION_COMPLETE"},
                "drift-detection-details": {"drifted-stack-resource-count": 1},
                "client-request-token": "",
                "added-later": true
            }
        });
        assert_eq!(detail_type(&event), Some(DRIFT_DETECTION_STATUS_CHANGE));
        let parsed = parse::<DriftDetectionStatusChange>(&event).unwrap();
        assert_eq!(
            parsed.detail.stack_drift_detection_id,
            "b78ac9b0-dec1-11e7-a451-503a3example"
        );
        assert_eq!(
            parsed.detail.status_details.detection_status,
            "DETECTION_COMPLETE"
        );
        assert_eq!(
            parsed
                .detail
                .drift_detection_details
                .unwrap()
                .drifted_stack_resource_count,
            Some(1)
        );
    }

    #[test]
    fn drift_event_without_detection_id_is_a_clear_error() {
        let event = json!({"id": "1", "detail-type": DRIFT_DETECTION_STATUS_CHANGE, "source": "aws.cloudformation",
            "detail": {"stack-id": "x", "status-details": {"detection-status": "DETECTION_COMPLETE"}}});
        let err = parse::<DriftDetectionStatusChange>(&event).unwrap_err();
        assert!(err.contains("stack-drift-detection-id"), "{err}");
    }
}
