//! The EventBridge events the calculators receive, parsed into domain input.

use serde::Deserialize;
use serde_json::Value;

use crate::decide::parse_time;
use crate::error::DoraError;

pub const CODEPIPELINE_SOURCE: &str = "aws.codepipeline";
pub const EXECUTION_STATE_CHANGE: &str = "CodePipeline Pipeline Execution State Change";
pub const STAGE_STATE_CHANGE: &str = "CodePipeline Stage Execution State Change";
pub const SSM_SOURCE: &str = "aws.ssm";
pub const OPSITEM_CREATE: &str = "OpsItem Create";
pub const OPSITEM_UPDATE: &str = "OpsItem Update";

/// What an event tells a calculator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// A pipeline execution changed state.
    Execution {
        /// The envelope's `account`: where the pipeline runs (a forwarded event keeps it).
        account: Option<String>,
        pipeline: String,
        execution_id: String,
        state: String,
        /// `execution-trigger.trigger-type`, when the event has it.
        trigger_type: Option<String>,
        /// The event's time (epoch seconds).
        time: i64,
    },
    /// A stage execution changed state.
    Stage {
        /// The envelope's `account`: where the pipeline runs (a forwarded event keeps it).
        account: Option<String>,
        pipeline: String,
        execution_id: String,
        stage: String,
        state: String,
        time: i64,
    },
    /// An OpsItem was created or updated (its data is read with GetOpsItem).
    OpsItem {
        /// The envelope's `account`: where the OpsItem is.
        account: Option<String>,
        id: String,
        /// The status the event reports (`Open`, `Resolved`, …).
        status: Option<String>,
        time: i64,
    },
    /// Any other event: nothing to do.
    Other { source: String, detail_type: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct ExecutionTrigger {
    #[serde(default)]
    trigger_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct PipelineDetail {
    pipeline: String,
    execution_id: String,
    state: String,
    #[serde(default)]
    stage: Option<String>,
    #[serde(default)]
    execution_trigger: Option<ExecutionTrigger>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct OpsItemDetail {
    ops_item_id: String,
    #[serde(default)]
    status: Option<String>,
}

fn text<'a>(event: &'a Value, field: &str) -> Option<&'a str> {
    event.get(field)?.as_str()
}

/// Parses an EventBridge event; a malformed one of a known type is an error naming what is wrong.
pub fn parse(event: &Value) -> Result<Trigger, DoraError> {
    let source = text(event, "source").unwrap_or_default();
    let detail_type = text(event, "detail-type").unwrap_or_default();
    let known = matches!(
        (source, detail_type),
        (
            CODEPIPELINE_SOURCE,
            EXECUTION_STATE_CHANGE | STAGE_STATE_CHANGE
        ) | (SSM_SOURCE, OPSITEM_CREATE | OPSITEM_UPDATE)
    );
    if !known {
        return Ok(Trigger::Other {
            source: source.into(),
            detail_type: detail_type.into(),
        });
    }
    let malformed = |what: String| DoraError::Malformed(format!("{detail_type} event: {what}"));
    let time_text = text(event, "time").ok_or_else(|| malformed("no `time`".into()))?;
    let time = parse_time(time_text)
        .ok_or_else(|| malformed(format!("`time` {time_text:?} is not an RFC 3339 time")))?;
    let account = match text(event, "account") {
        Some(a) if crate::decide::is_account_id(a) => Some(a.to_string()),
        Some(a) => {
            return Err(malformed(format!(
                "`account` {a:?} is not a 12-digit account id"
            )));
        }
        None => None,
    };
    let detail = event
        .get("detail")
        .ok_or_else(|| malformed("no `detail`".into()))?;
    if source == SSM_SOURCE {
        let d =
            OpsItemDetail::deserialize(detail).map_err(|e| malformed(format!("detail: {e}")))?;
        return Ok(Trigger::OpsItem {
            account,
            id: d.ops_item_id,
            status: d.status,
            time,
        });
    }
    let d = PipelineDetail::deserialize(detail).map_err(|e| malformed(format!("detail: {e}")))?;
    if detail_type == STAGE_STATE_CHANGE {
        let stage = d
            .stage
            .ok_or_else(|| malformed("missing field `stage` in detail".into()))?;
        return Ok(Trigger::Stage {
            account,
            pipeline: d.pipeline,
            execution_id: d.execution_id,
            stage,
            state: d.state,
            time,
        });
    }
    Ok(Trigger::Execution {
        account,
        pipeline: d.pipeline,
        execution_id: d.execution_id,
        state: d.state,
        trigger_type: d.execution_trigger.and_then(|t| t.trigger_type),
        time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Value {
        let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn the_sample_events_parse_into_their_triggers() {
        match parse(&sample("dora-lead-time.execution-succeeded.json")).unwrap() {
            Trigger::Execution {
                state,
                trigger_type,
                ..
            } => {
                assert_eq!(state, "SUCCEEDED");
                assert_eq!(trigger_type.as_deref(), Some("WebhookV2"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&sample("dora-deployment-frequency.stage-succeeded.json")).unwrap(),
            Trigger::Stage { stage, .. } if stage == "DeployPROD"
        ));
        assert!(matches!(
            parse(&sample("dora-change-failure-rate.rollback.json")).unwrap(),
            Trigger::Execution { trigger_type: Some(t), .. } if t == "AutomatedRollback"
        ));
        assert!(matches!(
            parse(&sample("dora-change-failure-rate.opsitem-create.json")).unwrap(),
            Trigger::OpsItem { id, .. } if id.starts_with("oi-")
        ));
        assert!(matches!(
            parse(&sample("dora-time-to-restore.opsitem-resolved.json")).unwrap(),
            Trigger::OpsItem { status: Some(s), .. } if s == "Resolved"
        ));
    }

    #[test]
    fn unknown_events_are_other_and_malformed_ones_name_what_is_missing() {
        let other = serde_json::json!({"source": "aws.s3", "detail-type": "Object Created"});
        assert!(matches!(parse(&other).unwrap(), Trigger::Other { .. }));
        let no_id = serde_json::json!({
            "source": "aws.codepipeline",
            "detail-type": EXECUTION_STATE_CHANGE,
            "time": "2026-11-20T10:00:00Z",
            "detail": {"pipeline": "web", "state": "SUCCEEDED"}
        });
        let err = parse(&no_id).unwrap_err().to_string();
        assert!(err.contains("execution-id"), "{err}");
        let no_time = serde_json::json!({
            "source": "aws.ssm", "detail-type": OPSITEM_CREATE, "detail": {"ops-item-id": "oi-1"}
        });
        assert!(parse(&no_time).unwrap_err().to_string().contains("time"));
    }
}
