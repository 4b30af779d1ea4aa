//! `tollgate approvals list` and `tollgate approvals show`: the email approvals' audit trail, read from the state table.

use std::time::Duration;

use approvals::audit::record;
use approvals::store::{ApprovalStore, Loaded};
use comfy_table::{Table, presets};
use serde_json::Value;
use tollgate::config::Env;
use tollgate::state::DynamoStateStore;

use crate::args::{ApprovalListArgs, ApprovalShowArgs};
use crate::{CliError, sdk_config, table_name};

async fn store(env: &impl Env) -> Result<ApprovalStore<DynamoStateStore>, CliError> {
    let table = table_name(env)?;
    let sdk = sdk_config(env).await?;
    Ok(ApprovalStore::new(
        DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&sdk), table),
        Duration::ZERO,
    ))
}

/// `tollgate approvals list --days N [--json]`.
pub async fn list(env: &impl Env, args: &ApprovalListArgs, now: i64) -> Result<String, CliError> {
    let approvals = store(env)
        .await?
        .created_since(now, args.days)
        .await
        .map_err(|e| CliError::Approvals(e.to_string()))?;
    let records: Vec<Value> = approvals.iter().map(record).collect();
    if args.json {
        return Ok(serde_json::to_string_pretty(&records)?);
    }
    Ok(list_table(&approvals, args.days))
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The list as a table: one row per approval.
pub fn list_table(approvals: &[Loaded], days: u32) -> String {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_header(vec![
            "Approval",
            "Created",
            "Subject",
            "State",
            "Asked",
            "Decided by",
            "Workflow told",
        ]);
    for loaded in approvals {
        let r = record(loaded);
        let decided = match &r["decision"] {
            Value::Null => "-".to_string(),
            d => format!(
                "{} {} at {}",
                text(&d["outcome"]),
                text(&d["by"]),
                text(&d["at"])
            ),
        };
        table.add_row(vec![
            text(&r["id"]),
            text(&r["createdAt"]),
            text(&r["subject"]),
            text(&r["state"]),
            loaded.approval.approvers.join(", "),
            decided,
            text(&r["workflowToldAt"]),
        ]);
    }
    format!(
        "{table}\n{} approval(s) created in the last {days} day(s).",
        approvals.len()
    )
}

/// `tollgate approvals show <id> [--json]`.
pub async fn show(env: &impl Env, args: &ApprovalShowArgs) -> Result<String, CliError> {
    let loaded = store(env)
        .await?
        .load(&args.id)
        .await
        .map_err(|e| CliError::Approvals(e.to_string()))?
        .ok_or_else(|| CliError::NoSuchApproval(args.id.clone()))?;
    let r = record(&loaded);
    if args.json {
        return Ok(serde_json::to_string_pretty(&r)?);
    }
    let mut out = vec![
        format!("Approval {}: {}", text(&r["id"]), text(&r["subject"])),
        format!("Waiting: {}", text(&r["waiting"])),
        format!("State: {}", text(&r["state"])),
        format!(
            "Created {}, links expire {}",
            text(&r["createdAt"]),
            text(&r["expiresAt"])
        ),
        format!("Requested by: {}", text(&r["requestedBy"])),
        format!(
            "Asked: {} (needs {})",
            loaded.approval.approvers.join(", "),
            text(&r["requiredApprovals"])
        ),
    ];
    let mut votes = Table::new();
    votes
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_header(vec!["Approver", "Choice", "At", "Source IP", "Comment"]);
    for v in r["votes"].as_array().into_iter().flatten() {
        votes.add_row(vec![
            text(&v["approver"]),
            text(&v["choice"]),
            text(&v["at"]),
            text(&v["sourceIp"]),
            text(&v["comment"]),
        ]);
    }
    out.push(format!("Votes:\n{votes}"));
    if let Value::Object(d) = &r["decision"] {
        out.push(format!(
            "Decision: {} by {} at {}{}",
            text(&d["outcome"]),
            text(&d["by"]),
            text(&d["at"]),
            match text(&d["comment"]).as_str() {
                "" | "-" => String::new(),
                c => format!(": {c}"),
            }
        ));
    }
    out.push(format!("Workflow told: {}", text(&r["workflowToldAt"])));
    if !r["closedReason"].is_null() {
        out.push(format!("Closed: {}", text(&r["closedReason"])));
    }
    Ok(out.join("\n"))
}
