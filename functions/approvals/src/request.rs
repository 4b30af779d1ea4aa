//! What approval-mailer receives: a Step Functions task input or CodePipeline's approval notification (SNS), read into one request.

use serde::Deserialize;
use serde_json::Value;

use crate::groups::{
    ApproverGroups, GROUP_PREFIX, Quorum, count_toward, describe, is_met, still_needed,
};
use crate::model::Target;

/// Who may approve, as the deployment says (never the request): the approver groups, the
/// approvers of CodePipeline approvals without `CustomData`, and whether a requester may approve
/// their own release.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// `ApproverGroups` (`APPROVER_GROUPS`).
    pub groups: ApproverGroups,
    /// `PipelineApprovers` (`PIPELINE_APPROVERS`): `group:<name>` entries and member addresses.
    pub pipeline_approvers: Vec<String>,
    /// `AllowSelfApproval` (`ALLOW_SELF_APPROVAL`), false unless the deployer turns it on.
    pub allow_self_approval: bool,
}

/// Step Functions task tokens are at most this long (AWS's limit on `taskToken`).
pub const MAX_TASK_TOKEN_CHARS: usize = 2048;
/// How long links work when the input does not say (`expiresInMinutes`).
pub const DEFAULT_EXPIRES_MINUTES: u64 = 1440;
/// A task can wait at most a year; links cannot outlive that.
pub const MAX_EXPIRES_MINUTES: u64 = 366 * 24 * 60;
/// More approvers than this is a mistake (each gets an email).
pub const MAX_APPROVERS: usize = 50;
/// Details and links shown, at most.
pub const MAX_ENTRIES: usize = 50;
/// Each shown value is cut to this many characters.
pub const MAX_VALUE_CHARS: usize = 2000;
/// An email subject is cut to this many characters.
pub const MAX_SUBJECT_CHARS: usize = 200;

/// An approval to create, whatever triggered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRequest {
    pub target: Target,
    /// Who gets a link: the people the request names, lower-cased, each once, without the
    /// requester (unless self-approval is allowed).
    pub approvers: Vec<String>,
    /// The approvals needed in all ([`Quorum::total`]).
    pub required_approvals: u32,
    pub quorum: Quorum,
    /// For each group, which of `approvers` belong to it.
    pub membership: Vec<(String, Vec<String>)>,
    /// Who asked for the release (their approval never counts unless self-approval is allowed).
    pub requested_by: Option<String>,
    pub subject: String,
    pub summary: String,
    pub details: Vec<(String, String)>,
    pub links: Vec<(String, String)>,
    /// Seconds from now until the links stop working.
    pub expires_in_secs: u64,
}

/// An unusable request. `target` is set when the token was readable, so the workflow can be
/// failed at once.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct Invalid {
    pub target: Option<Target>,
    pub reason: String,
}

impl Invalid {
    fn new(target: Option<&Target>, reason: impl Into<String>) -> Self {
        Invalid {
            target: target.cloned(),
            reason: reason.into(),
        }
    }
}

/// The Step Functions task input (the `Payload` of a `lambda:invoke.waitForTaskToken` task).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskInput {
    task_token: Option<String>,
    #[serde(default)]
    approvers: Value,
    subject: Option<String>,
    summary: Option<String>,
    #[serde(default)]
    details: Value,
    #[serde(default)]
    links: Value,
    expires_in_minutes: Option<Value>,
    required_approvals: Option<Value>,
    requested_by: Option<Value>,
}

/// Reads an invocation payload: a Step Functions task input (`taskToken`) or an SNS event
/// (`Records[].Sns.Message` carrying CodePipeline's approval notification): one request per task,
/// or per SNS record, each either usable or [`Invalid`] (with its target when the token was
/// readable, so the workflow can be failed rather than left waiting).
pub fn parse_event(
    event: &Value,
    policy: &Policy,
) -> Result<Vec<Result<ApprovalRequest, Invalid>>, Invalid> {
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        let requests = records
            .iter()
            .map(|record| {
                let message = record
                    .get("Sns")
                    .and_then(|s| s.get("Message"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        Invalid::new(None, "an SNS record without Sns.Message (not an SNS event)")
                    })?;
                let parsed: Value = serde_json::from_str(message).map_err(|e| {
                    Invalid::new(
                        None,
                        format!(
                            "the SNS message is not JSON ({e}); approval-mailer expects CodePipeline's \
                             manual approval notification"
                        ),
                    )
                })?;
                parse_codepipeline(&parsed, policy)
            })
            .collect();
        return Ok(requests);
    }
    if event.get("taskToken").is_some() {
        return Ok(vec![parse_task_input(event, policy)]);
    }
    Err(Invalid::new(
        None,
        "unrecognised event: approval-mailer takes a Step Functions task input (with taskToken) \
         or an SNS notification from a CodePipeline manual approval action",
    ))
}

/// The workflows an invocation payload would have asked about, read leniently (for Lambda's
/// on-failure record, whose request may be the very input that failed).
pub fn targets_of(event: &Value) -> Vec<Target> {
    if let Some(token) = event.get("taskToken").and_then(Value::as_str) {
        return vec![Target::StepFunctions {
            task_token: token.to_string(),
        }];
    }
    let records = event.get("Records").and_then(Value::as_array);
    records
        .into_iter()
        .flatten()
        .filter_map(|record| {
            let message = record.get("Sns")?.get("Message")?.as_str()?;
            let parsed: Value = serde_json::from_str(message).ok()?;
            let a = parsed.get("approval")?;
            let text = |name: &str| a.get(name).and_then(Value::as_str).map(str::to_string);
            Some(Target::CodePipeline {
                pipeline: text("pipelineName")?,
                stage: text("stageName")?,
                action: text("actionName")?,
                token: text("token")?,
            })
        })
        .collect()
}

/// Parses a Step Functions task input.
pub fn parse_task_input(event: &Value, policy: &Policy) -> Result<ApprovalRequest, Invalid> {
    let input: TaskInput = serde_json::from_value(event.clone()).map_err(|e| {
        let target =
            event
                .get("taskToken")
                .and_then(Value::as_str)
                .map(|t| Target::StepFunctions {
                    task_token: t.to_string(),
                });
        Invalid::new(target.as_ref(), format!("the task input is malformed: {e}"))
    })?;
    let token = input
        .task_token
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| {
            Invalid::new(
                None,
                "taskToken is empty: pass \"taskToken.$\": \"$$.Task.Token\" in the task's Payload",
            )
        })?;
    if token.chars().count() > MAX_TASK_TOKEN_CHARS {
        return Err(Invalid::new(
            None,
            format!("taskToken is longer than Step Functions' {MAX_TASK_TOKEN_CHARS} characters"),
        ));
    }
    let target = Target::StepFunctions { task_token: token };
    let t = Some(&target);
    let approvers = approvers(&input.approvers, &[], policy).map_err(|r| Invalid::new(t, r))?;
    let requested_by = match input.requested_by {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) if is_email_address(&s.trim().to_ascii_lowercase()) => {
            Some(s.trim().to_ascii_lowercase())
        }
        Some(other) => {
            return Err(Invalid::new(
                t,
                format!("requestedBy must be the requester's email address, not {other}"),
            ));
        }
    };
    let expires_minutes = match input.expires_in_minutes {
        None | Some(Value::Null) => DEFAULT_EXPIRES_MINUTES,
        Some(v) => positive_integer(&v, "expiresInMinutes").map_err(|r| Invalid::new(t, r))?,
    };
    if expires_minutes > MAX_EXPIRES_MINUTES {
        return Err(Invalid::new(
            t,
            format!(
                "expiresInMinutes is {expires_minutes}: at most {MAX_EXPIRES_MINUTES} (a Step Functions task waits a year at most)"
            ),
        ));
    }
    let quorum = quorum(
        input.required_approvals.as_ref(),
        "requiredApprovals",
        policy,
    )
    .map_err(|r| Invalid::new(t, r))?;
    let settled = settle(approvers, quorum, requested_by.as_deref(), policy)
        .map_err(|r| Invalid::new(t, r))?;
    let details = pairs(&input.details, "details").map_err(|r| Invalid::new(t, r))?;
    let links = pairs(&input.links, "links").map_err(|r| Invalid::new(t, r))?;
    let summary = clip(input.summary.as_deref().unwrap_or(""), MAX_VALUE_CHARS);
    let subject = input
        .subject
        .as_deref()
        .map(one_line)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| default_subject(&summary));
    Ok(ApprovalRequest {
        target,
        required_approvals: settled.quorum.total(),
        approvers: settled.approvers,
        quorum: settled.quorum,
        membership: settled.membership,
        requested_by,
        subject: clip(&subject, MAX_SUBJECT_CHARS),
        summary,
        details,
        links,
        expires_in_secs: expires_minutes * 60,
    })
}

/// CodePipeline's manual approval notification, as AWS documents it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PipelineNotification {
    console_link: Option<String>,
    approval: PipelineApproval,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PipelineApproval {
    pipeline_name: String,
    stage_name: String,
    action_name: String,
    token: String,
    expires: Option<String>,
    external_entity_link: Option<String>,
    custom_data: Option<String>,
}

/// Optional settings carried as JSON in the approval action's `CustomData`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CustomData {
    #[serde(default)]
    approvers: Value,
    summary: Option<String>,
    subject: Option<String>,
    #[serde(default)]
    details: Value,
    required_approvals: Option<Value>,
}

/// Parses CodePipeline's approval notification (the JSON inside the SNS message). Approvers come
/// from `CustomData` when it is a JSON object with `approvers`, otherwise from the policy's
/// `pipeline_approvers` (the `PIPELINE_APPROVERS` setting); every one must be in an approver group.
pub fn parse_codepipeline(message: &Value, policy: &Policy) -> Result<ApprovalRequest, Invalid> {
    let default_approvers = policy.pipeline_approvers.as_slice();
    let note: PipelineNotification = serde_json::from_value(message.clone()).map_err(|e| {
        Invalid::new(
            None,
            format!(
                "the SNS message is not a CodePipeline manual approval notification ({e}); \
                 subscribe approval-mailer only to the approval action's topic"
            ),
        )
    })?;
    let a = note.approval;
    let target = Target::CodePipeline {
        pipeline: a.pipeline_name.clone(),
        stage: a.stage_name.clone(),
        action: a.action_name.clone(),
        token: a.token.clone(),
    };
    let t = Some(&target);
    let custom_text = a.custom_data.as_deref().unwrap_or("").trim().to_string();
    let custom: Option<CustomData> = custom_text
        .starts_with('{')
        .then(|| serde_json::from_str::<CustomData>(&custom_text))
        .transpose()
        .map_err(|e| {
            Invalid::new(
                t,
                format!("CustomData looks like JSON but is not valid Tollgate settings: {e}"),
            )
        })?;
    let (approvers, summary, subject, details, required) = match custom {
        Some(c) => (
            approvers(&c.approvers, default_approvers, policy),
            c.summary.unwrap_or_default(),
            c.subject,
            pairs(&c.details, "CustomData.details").map_err(|r| Invalid::new(t, r))?,
            quorum(
                c.required_approvals.as_ref(),
                "CustomData.requiredApprovals",
                policy,
            )
            .map_err(|r| Invalid::new(t, r))?,
        ),
        None => (
            approvers(&Value::Null, default_approvers, policy),
            custom_text,
            None,
            Vec::new(),
            Quorum::Count(1),
        ),
    };
    let approvers = approvers.map_err(|r| {
        Invalid::new(
            t,
            format!(
                "{r}. For CodePipeline approvals, list them in the action's CustomData as JSON \
                 ({{\"approvers\": [\"group:release\"]}}) or in the PipelineApprovers template parameter"
            ),
        )
    })?;
    let settled = settle(approvers, required, None, policy).map_err(|r| Invalid::new(t, r))?;
    let mut details = details;
    details.splice(
        0..0,
        [
            ("Pipeline".to_string(), a.pipeline_name.clone()),
            ("Stage".to_string(), a.stage_name.clone()),
            ("Action".to_string(), a.action_name.clone()),
        ],
    );
    details.truncate(MAX_ENTRIES);
    // The review link in the notification embeds the approval token: it is left out on purpose.
    let mut links = Vec::new();
    if let Some(link) = a.external_entity_link.filter(|l| !l.is_empty()) {
        links.push((
            "Changes to review".to_string(),
            clip(&link, MAX_VALUE_CHARS),
        ));
    }
    if let Some(link) = note.console_link.filter(|l| !l.is_empty()) {
        links.push((
            "Pipeline in the AWS console".to_string(),
            clip(&link, MAX_VALUE_CHARS),
        ));
    }
    let expires_in_secs = a
        .expires
        .as_deref()
        .and_then(parse_pipeline_time)
        .map(|at| at - tollgate::state::epoch_seconds(std::time::SystemTime::now()))
        .filter(|secs| *secs > 0)
        .and_then(|secs| u64::try_from(secs).ok())
        .unwrap_or(DEFAULT_EXPIRES_MINUTES * 60);
    let summary = clip(&summary, MAX_VALUE_CHARS);
    let subject = subject.as_deref().map(one_line).filter(|s| !s.is_empty());
    let subject = subject.unwrap_or_else(|| {
        format!(
            "Approval needed: {} / {} / {}",
            a.pipeline_name, a.stage_name, a.action_name
        )
    });
    Ok(ApprovalRequest {
        target,
        required_approvals: settled.quorum.total(),
        approvers: settled.approvers,
        quorum: settled.quorum,
        membership: settled.membership,
        requested_by: None,
        subject: clip(&one_line(&subject), MAX_SUBJECT_CHARS),
        summary,
        details,
        links,
        expires_in_secs,
    })
}

/// `request` with `requester` as who asked for it: they are left out of the approvers (unless
/// self-approval is allowed), and a quorum the others cannot meet refuses the request, saying so.
/// (For CodePipeline approvals the requester is the source revision's commit author.)
pub fn with_requester(
    mut request: ApprovalRequest,
    requester: &str,
    policy: &Policy,
) -> Result<ApprovalRequest, Invalid> {
    let requester = requester.trim().to_ascii_lowercase();
    let settled = settle(
        request.approvers.clone(),
        request.quorum.clone(),
        Some(&requester),
        policy,
    )
    .map_err(|r| Invalid::new(Some(&request.target), r))?;
    request.required_approvals = settled.quorum.total();
    request.approvers = settled.approvers;
    request.quorum = settled.quorum;
    request.membership = settled.membership;
    request.requested_by = Some(requester);
    Ok(request)
}

/// CodePipeline writes `expires` as `2016-07-07T20:22Z` (no seconds); RFC 3339 is accepted too.
pub fn parse_pipeline_time(text: &str) -> Option<i64> {
    use aws_smithy_types::DateTime;
    use aws_smithy_types::date_time::Format;
    let text = text.trim();
    let with_seconds;
    let text = if text.len() == 17 && text.ends_with('Z') && text.as_bytes().get(13) == Some(&b':')
    {
        with_seconds = format!("{}:00Z", &text[..16]);
        &with_seconds
    } else {
        text
    };
    DateTime::from_str(text, Format::DateTime)
        .ok()
        .map(|d| d.secs())
}

/// Approvers from a JSON array (or comma-separated string) of `group:<name>` entries and email
/// addresses (`fallback` when none are given), resolved against the approver groups: the people
/// asked, lower-cased, each once.
fn approvers(value: &Value, fallback: &[String], policy: &Policy) -> Result<Vec<String>, String> {
    let given: Vec<String> = match value {
        Value::Null => Vec::new(),
        Value::String(s) => s.split(',').map(str::to_string).collect(),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    format!(
                        "approvers: {v} is not a string (an email address or {GROUP_PREFIX}<name>)"
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(format!(
                "approvers must be a list of email addresses and {GROUP_PREFIX}<name> entries, not {other}"
            ));
        }
    };
    let source: Vec<String> = if given.iter().all(|g| g.trim().is_empty()) {
        fallback.to_vec()
    } else {
        given
    };
    let out = policy.groups.resolve(&source)?;
    if out.is_empty() {
        return Err(
            "no approvers: give at least one group:<name> or email address in `approvers`".into(),
        );
    }
    if out.len() > MAX_APPROVERS {
        return Err(format!("{} approvers: at most {MAX_APPROVERS}", out.len()));
    }
    Ok(out)
}

/// `requiredApprovals`: a positive number (that many distinct approvers), or an object of
/// declared group -> positive number (that many distinct members of each).
fn quorum(value: Option<&Value>, name: &str, policy: &Policy) -> Result<Quorum, String> {
    match value {
        None | Some(Value::Null) => Ok(Quorum::Count(1)),
        Some(Value::Object(map)) => {
            if map.is_empty() {
                return Err(format!(
                    "{name} is an empty object: name at least one group"
                ));
            }
            let mut parts = Vec::new();
            for (group, n) in map {
                if !policy.groups.contains_group(group) {
                    return Err(format!(
                        "{name}: {group:?} is not a declared approver group (the {} stack parameter)",
                        crate::groups::PARAMETER
                    ));
                }
                let n = positive_integer(n, &format!("{name}.{group}"))?;
                let n = u32::try_from(n).map_err(|_| format!("{name}.{group} is too large"))?;
                parts.push((group.clone(), n));
            }
            Ok(Quorum::Groups(parts))
        }
        Some(v) => {
            let n = positive_integer(v, name)?;
            Ok(Quorum::Count(
                u32::try_from(n).map_err(|_| format!("{name} {n} is too large"))?,
            ))
        }
    }
}

/// The asked people once the requester is left out, and the proof that they can meet the quorum.
struct Settled {
    approvers: Vec<String>,
    quorum: Quorum,
    membership: Vec<(String, Vec<String>)>,
}

/// Leaves the requester out (unless self-approval is allowed) and refuses a quorum the remaining
/// approvers could never meet.
fn settle(
    mut approvers: Vec<String>,
    quorum: Quorum,
    requested_by: Option<&str>,
    policy: &Policy,
) -> Result<Settled, String> {
    let mut excluded = None;
    if let Some(requester) = requested_by.filter(|_| !policy.allow_self_approval)
        && approvers.iter().any(|a| a == requester)
    {
        approvers.retain(|a| a != requester);
        excluded = Some(requester.to_string());
    }
    let membership = policy.groups.membership(&approvers);
    let buckets = count_toward(&quorum, &membership, &approvers);
    if approvers.is_empty() || !is_met(&buckets) {
        let without = match &excluded {
            Some(r) => format!(
                " once the requester {r} is left out (nobody approves their own release; \
                 the AllowSelfApproval stack parameter is false)"
            ),
            None => String::new(),
        };
        return Err(match &quorum {
            Quorum::Count(n) => format!(
                "requiredApprovals is {n} but only {} eligible approver(s) are listed{without}: \
                 the approval could never pass",
                approvers.len()
            ),
            Quorum::Groups(_) => format!(
                "requiredApprovals cannot be met by the listed approvers{without}: at best {}, \
                 still {}; the approval could never pass",
                describe(&buckets),
                still_needed(&buckets)
            ),
        });
    }
    Ok(Settled {
        approvers,
        quorum,
        membership,
    })
}

/// A plain `local@domain.tld` address: no display name, spaces, angle brackets or control
/// characters (those could smuggle headers or other recipients into an email).
pub fn is_email_address(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c);
    !local.is_empty()
        && local.len() <= 64
        && text.len() <= 254
        && local.chars().all(allowed)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

fn positive_integer(value: &Value, name: &str) -> Result<u64, String> {
    let n = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    n.filter(|n| *n > 0)
        .ok_or_else(|| format!("{name} must be a positive whole number, not {value}"))
}

/// An object of key -> value pairs (values of any JSON type are shown as text), in input order.
fn pairs(value: &Value, name: &str) -> Result<Vec<(String, String)>, String> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Object(map) => Ok(map
            .iter()
            .take(MAX_ENTRIES)
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (clip(k, 200), clip(&text, MAX_VALUE_CHARS))
            })
            .collect()),
        other => Err(format!(
            "{name} must be an object of name/value pairs, not {other}"
        )),
    }
}

fn default_subject(summary: &str) -> String {
    let first = summary.lines().map(str::trim).find(|l| !l.is_empty());
    match first {
        Some(line) => format!("Approval needed: {}", one_line(line)),
        None => "Approval needed".to_string(),
    }
}

/// Control characters (newlines included) become spaces: a subject is one header line.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// At most `max` characters, with an ellipsis when cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every address these tests name, in group `release`; `security` overlaps it in one.
    fn policy() -> Policy {
        Policy {
            groups: ApproverGroups::from_pairs([
                (
                    "release",
                    vec![
                        "rm@example.com",
                        "a@example.com",
                        "b@example.com",
                        "default@example.com",
                        "d@example.com",
                        "release.manager@example.com",
                        "qa.lead@example.com",
                    ],
                ),
                ("security", vec!["carol@example.com", "b@example.com"]),
            ]),
            ..Policy::default()
        }
    }

    fn with_pipeline_approvers(entries: &[&str]) -> Policy {
        Policy {
            pipeline_approvers: entries.iter().map(|e| e.to_string()).collect(),
            ..policy()
        }
    }

    fn sfn(input: Value) -> Result<ApprovalRequest, Invalid> {
        parse_task_input(&input, &policy())
    }

    #[test]
    fn a_minimal_task_input_gets_the_documented_defaults() {
        let r = sfn(json!({"taskToken": "tok", "approvers": ["RM@Example.com"]})).unwrap();
        assert_eq!(r.approvers, vec!["rm@example.com"]);
        assert_eq!(r.required_approvals, 1);
        assert_eq!(r.expires_in_secs, 1440 * 60);
        assert_eq!(r.subject, "Approval needed");
        assert_eq!(
            r.target,
            Target::StepFunctions {
                task_token: "tok".into()
            }
        );
    }

    #[test]
    fn every_optional_field_is_read() {
        let r = sfn(json!({
            "taskToken": "tok", "approvers": ["a@example.com", "b@example.com", "a@example.com"],
            "subject": "Release orders-api v2.3\r\nBcc: evil@example.com",
            "summary": "Ships the new checkout.", "details": {"version": "2.3", "changes": 14},
            "links": {"Execution": "https://console.aws.amazon.com/states/x"},
            "expiresInMinutes": 60, "requiredApprovals": 2
        }))
        .unwrap();
        assert_eq!(r.approvers, vec!["a@example.com", "b@example.com"]);
        assert_eq!(r.required_approvals, 2);
        assert_eq!(r.expires_in_secs, 3600);
        assert!(
            !r.subject.contains('\n') && !r.subject.contains('\r'),
            "{}",
            r.subject
        );
        assert_eq!(
            r.details,
            vec![
                ("version".to_string(), "2.3".to_string()),
                ("changes".to_string(), "14".to_string())
            ]
        );
        assert_eq!(r.links.len(), 1);
    }

    #[test]
    fn a_task_token_of_2048_characters_is_accepted_and_longer_is_not() {
        let token = "A".repeat(MAX_TASK_TOKEN_CHARS);
        let r = sfn(json!({"taskToken": token, "approvers": ["a@example.com"]})).unwrap();
        assert_eq!(r.target.token().len(), 2048);
        let too_long = "A".repeat(MAX_TASK_TOKEN_CHARS + 1);
        assert!(sfn(json!({"taskToken": too_long, "approvers": ["a@example.com"]})).is_err());
    }

    #[test]
    fn bad_input_keeps_the_token_so_the_workflow_can_be_failed() {
        for input in [
            json!({"taskToken": "tok"}),
            json!({"taskToken": "tok", "approvers": []}),
            json!({"taskToken": "tok", "approvers": ["not-an-address"]}),
            json!({"taskToken": "tok", "approvers": ["Evil <a@example.com>"]}),
            json!({"taskToken": "tok", "approvers": ["a@example.com"], "requiredApprovals": 2}),
            json!({"taskToken": "tok", "approvers": ["a@example.com"], "requiredApprovals": 0}),
            json!({"taskToken": "tok", "approvers": ["a@example.com"], "expiresInMinutes": -5}),
            json!({"taskToken": "tok", "approvers": ["a@example.com"], "details": ["x"]}),
        ] {
            let err = sfn(input.clone()).unwrap_err();
            assert_eq!(
                err.target.as_ref().map(Target::token),
                Some("tok"),
                "{input}: {err}"
            );
        }
    }

    #[test]
    fn two_approvals_from_one_approver_is_refused() {
        let err =
            sfn(json!({"taskToken": "t", "approvers": ["a@example.com"], "requiredApprovals": 2}))
                .unwrap_err();
        assert!(err.reason.contains("never pass"), "{err}");
    }

    fn pipeline_message(custom: &str) -> Value {
        json!({
            "region": "us-east-1",
            "consoleLink": "https://console.aws.amazon.com/codepipeline/home?region=us-east-1#/view/orders",
            "approval": {
                "pipelineName": "orders", "stageName": "Approve", "actionName": "ReleaseManager",
                "token": "1a2b3c4d-573f-4ea7-a67e-EXAMPLETOKEN",
                "expires": "2099-07-07T20:22Z",
                "externalEntityLink": "https://github.com/example/orders/compare/v1...v2",
                "approvalReviewLink": "https://console.aws.amazon.com/codepipeline/home?region=us-east-1#/view/orders/Approve/ReleaseManager/approve/1a2b3c4d-573f-4ea7-a67e-EXAMPLETOKEN",
                "customData": custom
            }
        })
    }

    #[test]
    fn codepipeline_approvers_come_from_custom_data_json() {
        let r = parse_codepipeline(
            &pipeline_message(r#"{"approvers": ["rm@example.com"], "summary": "Ship v2"}"#),
            &with_pipeline_approvers(&["default@example.com"]),
        )
        .unwrap();
        assert_eq!(r.approvers, vec!["rm@example.com"]);
        assert_eq!(r.summary, "Ship v2");
        assert_eq!(
            r.subject,
            "Approval needed: orders / Approve / ReleaseManager"
        );
        assert!(
            matches!(r.target, Target::CodePipeline { ref pipeline, .. } if pipeline == "orders")
        );
        assert_eq!(r.details[0], ("Pipeline".into(), "orders".into()));
    }

    #[test]
    fn codepipeline_plain_custom_data_is_the_summary_and_default_approvers_apply() {
        let r = parse_codepipeline(
            &pipeline_message("Review the latest changes."),
            &with_pipeline_approvers(&["default@example.com"]),
        )
        .unwrap();
        assert_eq!(r.approvers, vec!["default@example.com"]);
        assert_eq!(r.summary, "Review the latest changes.");
    }

    #[test]
    fn codepipeline_review_link_with_the_token_is_never_kept() {
        let r = parse_codepipeline(
            &pipeline_message("x"),
            &with_pipeline_approvers(&["d@example.com"]),
        )
        .unwrap();
        for (_, url) in &r.links {
            assert!(!url.contains("EXAMPLETOKEN"), "{url}");
        }
        assert_eq!(r.links.len(), 2);
    }

    #[test]
    fn codepipeline_without_any_approver_is_invalid_with_its_target() {
        let err = parse_codepipeline(&pipeline_message("x"), &policy()).unwrap_err();
        assert!(err.target.is_some());
        assert!(err.reason.contains("PipelineApprovers"), "{err}");
    }

    #[test]
    fn codepipeline_expiry_without_seconds_is_read() {
        assert_eq!(
            parse_pipeline_time("2016-07-07T20:22Z"),
            Some(1_467_922_920)
        );
        assert_eq!(
            parse_pipeline_time("2016-07-07T20:22:00Z"),
            Some(1_467_922_920)
        );
        assert_eq!(parse_pipeline_time("soon"), None);
    }

    #[test]
    fn sns_events_yield_one_request_per_record_and_unknown_events_are_refused() {
        let event = json!({"Records": [{"EventSource": "aws:sns", "Sns": {
            "MessageId": "m-1",
            "Message": pipeline_message(r#"{"approvers": "a@example.com,b@example.com"}"#).to_string()
        }}]});
        let requests = parse_event(&event, &policy()).unwrap();
        assert_eq!(requests.len(), 1);
        let request = requests[0].as_ref().unwrap();
        assert_eq!(request.approvers.len(), 2);
        assert_eq!(
            request.target.token(),
            "1a2b3c4d-573f-4ea7-a67e-EXAMPLETOKEN"
        );
        assert!(parse_event(&json!({"hello": 1}), &policy()).is_err());
    }

    #[test]
    fn email_addresses_that_could_inject_headers_are_refused() {
        assert!(is_email_address("release.manager+prod@example.co.uk"));
        for bad in [
            "a@b",
            "a b@example.com",
            "a@example.com\r\nBcc: x@y.z",
            "<a@example.com>",
            "@example.com",
            "a@.com",
        ] {
            assert!(!is_email_address(bad), "{bad}");
        }
    }

    fn sample(name: &str) -> Value {
        let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn the_sample_events_of_both_triggers_are_usable_requests() {
        let sfn = parse_event(&sample("approval-mailer.step-functions.json"), &policy()).unwrap();
        let sfn = sfn[0].as_ref().unwrap();
        assert_eq!(sfn.approvers.len(), 2);
        assert!(matches!(sfn.target, Target::StepFunctions { .. }));
        let sns = parse_event(&sample("approval-mailer.codepipeline-sns.json"), &policy()).unwrap();
        let sns = sns[0].as_ref().unwrap();
        assert_eq!(sns.approvers, vec!["release.manager@example.com"]);
        assert!(matches!(sns.target, Target::CodePipeline { ref stage, .. } if stage == "Approve"));
    }

    #[test]
    fn an_address_outside_every_group_refuses_the_request_naming_it_and_approver_groups() {
        let err =
            sfn(json!({"taskToken": "tok", "approvers": ["a@example.com", "mallory@example.com"]}))
                .unwrap_err();
        assert!(err.reason.contains("mallory@example.com"), "{err}");
        assert!(err.reason.contains("ApproverGroups"), "{err}");
        assert_eq!(err.target.as_ref().map(Target::token), Some("tok"));
    }

    #[test]
    fn an_unknown_group_refuses_the_request_naming_it_and_approver_groups() {
        let err = sfn(json!({"taskToken": "tok", "approvers": ["group:ops"]})).unwrap_err();
        assert!(
            err.reason.contains("group:ops") && err.reason.contains("ApproverGroups"),
            "{err}"
        );
    }

    #[test]
    fn group_entries_expand_to_their_members_and_addresses_compare_case_insensitively() {
        let r = sfn(json!({"taskToken": "tok", "approvers": ["group:security", "B@Example.com"]}))
            .unwrap();
        assert_eq!(r.approvers, vec!["carol@example.com", "b@example.com"]);
        assert_eq!(r.quorum, Quorum::Count(1));
    }

    #[test]
    fn a_quorum_per_group_is_read_and_must_be_reachable_with_one_vote_per_person() {
        let r = sfn(
            json!({"taskToken": "tok", "approvers": ["group:security", "a@example.com"],
                            "requiredApprovals": {"release": 1, "security": 1}}),
        )
        .unwrap();
        assert_eq!(r.required_approvals, 2);
        assert_eq!(
            r.quorum,
            Quorum::Groups(vec![("release".into(), 1), ("security".into(), 1)])
        );
        // b is in both groups but is one person: release 1 + security 1 needs two people.
        let err = sfn(json!({"taskToken": "tok", "approvers": ["b@example.com"],
                              "requiredApprovals": {"release": 1, "security": 1}}))
        .unwrap_err();
        assert!(err.reason.contains("never pass"), "{err}");
        let err = sfn(json!({"taskToken": "tok", "approvers": ["a@example.com"],
                              "requiredApprovals": {"ops": 1}}))
        .unwrap_err();
        assert!(
            err.reason.contains("\"ops\"") && err.reason.contains("ApproverGroups"),
            "{err}"
        );
    }

    #[test]
    fn the_requester_gets_no_link_and_too_few_without_them_is_refused() {
        let r = sfn(
            json!({"taskToken": "tok", "approvers": ["a@example.com", "b@example.com"],
                            "requestedBy": "A@example.com"}),
        )
        .unwrap();
        assert_eq!(r.approvers, vec!["b@example.com"]);
        assert_eq!(r.requested_by.as_deref(), Some("a@example.com"));
        let err = sfn(
            json!({"taskToken": "tok", "approvers": ["a@example.com", "b@example.com"],
                              "requiredApprovals": 2, "requestedBy": "a@example.com"}),
        )
        .unwrap_err();
        assert!(
            err.reason.contains("requester a@example.com is left out"),
            "{err}"
        );
        assert!(err.reason.contains("AllowSelfApproval"), "{err}");
    }

    #[test]
    fn allow_self_approval_keeps_the_requester_as_an_approver() {
        let policy = Policy {
            allow_self_approval: true,
            ..policy()
        };
        let r = parse_task_input(
            &json!({"taskToken": "tok", "approvers": ["a@example.com"], "requestedBy": "a@example.com"}),
            &policy,
        )
        .unwrap();
        assert_eq!(r.approvers, vec!["a@example.com"]);
    }

    #[test]
    fn pipeline_approvers_name_groups_the_same_way() {
        let r = parse_codepipeline(
            &pipeline_message("x"),
            &with_pipeline_approvers(&["group:security"]),
        )
        .unwrap();
        assert_eq!(r.approvers, vec!["carol@example.com", "b@example.com"]);
    }
}
