//! approval-mailer's handler: store the approval, email each approver a signed link, or fail the waiting workflow at once.

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{Value, json};
use tollgate::config::{ConfigError, Env, parsed_or, required};
use tollgate::state::StateStore;
use tollgate::telemetry::redacted;

use futures_util::StreamExt;

use crate::adapters::{
    Email, INVALID_ERROR, KeySource, MailError, Mailer, NOT_SENT_ERROR, Outcome, RETRY_ERROR,
    TaskResumer,
};

/// Emails sent at the same time, at most.
const SEND_CONCURRENCY: usize = 4;
use crate::groups::ApproverGroups;
use crate::model::Target;
use crate::model::{Approval, Status};
use crate::pipeline::{Check, Facts, Pipelines, Requester, TrustingPipelines};
use crate::render::{email_html, email_text, rfc3339};
use crate::request::{
    ApprovalRequest, Invalid, MAX_VALUE_CHARS, Policy, clip, one_line, parse_event, with_requester,
};

/// The error an invocation ends with when CodePipeline could not be asked whether the approval
/// is real: nobody was emailed; Lambda retries the invocation.
pub const CHECK_ERROR: &str = "ApprovalCheckFailed";
use crate::signing::{LinkClaims, link_url, new_id};
use crate::store::{ApprovalStore, DEFAULT_RETENTION, StoreError};

/// approval-mailer's settings, from its environment (declared in template.yaml).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailerSettings {
    /// The approval API's public URL (`APPROVAL_BASE_URL`); links are `{base}/approvals/{id}?…`.
    pub base_url: String,
    /// The verified SES sender (`APPROVAL_SENDER`).
    pub sender: String,
    /// The Secrets Manager secret holding the signing key (`APPROVAL_SIGNING_SECRET`).
    pub signing_secret: String,
    /// Who may approve: `APPROVER_GROUPS`, `PIPELINE_APPROVERS`, `ALLOW_SELF_APPROVAL`.
    pub policy: Policy,
    /// How long approvals stay in the table after they expire (`APPROVAL_RETENTION_DAYS`).
    pub retention: std::time::Duration,
}

impl MailerSettings {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let base_url = required(env, "APPROVAL_BASE_URL")?;
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(ConfigError::invalid(
                "APPROVAL_BASE_URL",
                &base_url,
                "it must be the approval API's http(s) URL",
            ));
        }
        let sender = required(env, "APPROVAL_SENDER")?;
        let policy = policy_from_env(env)?;
        let days: u64 = parsed_or(
            env,
            "APPROVAL_RETENTION_DAYS",
            DEFAULT_RETENTION.as_secs() / 86_400,
        )?;
        Ok(MailerSettings {
            base_url: base_url.trim_end_matches('/').to_string(),
            sender,
            signing_secret: required(env, "APPROVAL_SIGNING_SECRET")?,
            policy,
            retention: std::time::Duration::from_secs(days.saturating_mul(86_400)),
        })
    }
}

/// Reads `APPROVER_GROUPS` (a JSON object of group -> addresses), `PIPELINE_APPROVERS`
/// (comma-separated `group:<name>` entries and member addresses) and `ALLOW_SELF_APPROVAL`.
pub fn policy_from_env(env: &impl Env) -> Result<Policy, ConfigError> {
    let text = env.var("APPROVER_GROUPS").unwrap_or_default();
    let groups = ApproverGroups::parse(&text)
        .map_err(|reason| ConfigError::invalid("APPROVER_GROUPS", &text, reason))?;
    let pipeline_text = env.var("PIPELINE_APPROVERS").unwrap_or_default();
    let pipeline_approvers: Vec<String> = pipeline_text
        .split(',')
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect();
    groups.resolve(&pipeline_approvers).map_err(|reason| {
        ConfigError::invalid(
            "PIPELINE_APPROVERS",
            &pipeline_text,
            format!(
                "give comma-separated group:<name> entries and member addresses of ApproverGroups; {reason}"
            ),
        )
    })?;
    let allow = env.var("ALLOW_SELF_APPROVAL").unwrap_or_default();
    let allow_self_approval = match allow.trim().to_ascii_lowercase().as_str() {
        "" | "false" => false,
        "true" => true,
        _ => {
            return Err(ConfigError::invalid(
                "ALLOW_SELF_APPROVAL",
                &allow,
                "it must be true or false",
            ));
        }
    };
    Ok(Policy {
        groups,
        pipeline_approvers,
        allow_self_approval,
    })
}

/// Everything approval-mailer talks to. `pipelines` confirms CodePipeline notifications and reads
/// their source revision (production: [`crate::pipeline::AwsPipelines`]).
pub struct MailerDeps<S, K, M, R, P = TrustingPipelines> {
    pub store: ApprovalStore<S>,
    pub keys: K,
    pub mailer: M,
    pub resumer: R,
    pub pipelines: P,
    pub settings: MailerSettings,
}

/// The Lambda handler: a Step Functions task input or an SNS event in; the approval id(s) out,
/// or an error after the workflow was failed.
pub async fn handler<S, K, M, R, P>(
    deps: &MailerDeps<S, K, M, R, P>,
    event: LambdaEvent<Value>,
) -> Result<Value, Diagnostic>
where
    S: StateStore,
    K: KeySource,
    M: Mailer,
    R: TaskResumer,
    P: Pipelines,
{
    handle(deps, &event.payload, crate::store::now_secs()).await
}

/// The event with every token redacted, SNS messages included (they carry the token inside a
/// JSON string, which [`redacted`] alone cannot see), and every other string that contains a
/// token (CodePipeline's `approvalReviewLink` ends with it) scrubbed of it.
pub fn loggable(event: &Value) -> Value {
    let mut copy = event.clone();
    let mut tokens: Vec<String> = Vec::new();
    if let Some(token) = event.get("taskToken").and_then(Value::as_str) {
        tokens.push(token.to_string());
    }
    if let Some(records) = copy.get_mut("Records").and_then(Value::as_array_mut) {
        for record in records {
            if let Some(message) = record.get_mut("Sns").and_then(|s| s.get_mut("Message")) {
                *message = match message.as_str().map(serde_json::from_str::<Value>) {
                    Some(Ok(parsed)) => {
                        if let Some(token) = parsed
                            .get("approval")
                            .and_then(|a| a.get("token"))
                            .and_then(Value::as_str)
                        {
                            tokens.push(token.to_string());
                        }
                        redacted(&parsed)
                    }
                    _ => Value::String(tollgate::telemetry::REDACTED.into()),
                };
            }
        }
    }
    let mut out = redacted(&copy);
    tokens.retain(|t| !t.is_empty());
    scrub(&mut out, &tokens);
    out
}

/// Replaces every occurrence of `secrets` in the strings of `value`.
fn scrub(value: &mut Value, secrets: &[String]) {
    match value {
        Value::String(text) => {
            for secret in secrets {
                if text.contains(secret.as_str()) {
                    *text = text.replace(secret.as_str(), tollgate::telemetry::REDACTED);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| scrub(v, secrets)),
        Value::Object(map) => map.values_mut().for_each(|v| scrub(v, secrets)),
        _ => {}
    }
}

/// Handles one invocation payload at time `now` (epoch seconds).
pub async fn handle<S, K, M, R, P>(
    deps: &MailerDeps<S, K, M, R, P>,
    event: &Value,
    now: i64,
) -> Result<Value, Diagnostic>
where
    S: StateStore,
    K: KeySource,
    M: Mailer,
    R: TaskResumer,
    P: Pipelines,
{
    tracing::debug!(event = %loggable(event), "approval request received");
    let requests = parse_event(event, &deps.settings.policy).map_err(|e| {
        tracing::error!(reason = %e, "unusable event");
        diagnostic(INVALID_ERROR, e.to_string())
    })?;
    let single = requests.len() == 1;
    let mut answers = Vec::new();
    let mut failure = None;
    for request in requests {
        let answer = match request {
            Ok(request) => match confirm(deps, &request.target).await {
                Confirmed::Real(facts) => {
                    match with_pipeline_facts(request, facts, &deps.settings.policy) {
                        Ok(request) => ask(deps, request, now).await,
                        Err(invalid) => Err(refuse(deps, invalid).await),
                    }
                }
                Confirmed::Dropped(answer) => Ok(answer),
                Confirmed::Unconfirmed(d) => Err(d),
            },
            // A CodePipeline notification is confirmed before its approval is rejected: a
            // forged one must not reject someone else's approval.
            Err(invalid) => match invalid.target.as_ref().map(|t| (t, t.kind())) {
                Some((target, "codepipeline")) => match confirm(deps, target).await {
                    Confirmed::Real(_) => Err(refuse(deps, invalid).await),
                    Confirmed::Dropped(answer) => Ok(answer),
                    Confirmed::Unconfirmed(d) => Err(d),
                },
                _ => Err(refuse(deps, invalid).await),
            },
        };
        match answer {
            Ok(a) => answers.push(a),
            Err(d) => failure = Some(d),
        }
    }
    if let Some(d) = failure {
        return Err(d);
    }
    Ok(if single {
        answers.pop().unwrap_or(Value::Null)
    } else {
        json!({ "approvals": answers })
    })
}

/// What CodePipeline says about a notification.
enum Confirmed {
    /// The named action waits with exactly this token (Step Functions requests: always).
    Real(Option<Facts>),
    /// Not a waiting approval: logged and dropped, nobody emailed, nothing rejected.
    Dropped(Value),
    /// CodePipeline could not be asked: nobody emailed; the invocation fails, so Lambda retries.
    Unconfirmed(Diagnostic),
}

/// For a CodePipeline approval: `GetPipelineState` must show the named pipeline, stage and action
/// waiting for approval with exactly the notification's token; then its execution's source
/// revision and author are read. A Step Functions token cannot be checked: it is taken as is.
async fn confirm<S, K, M, R, P: Pipelines>(
    deps: &MailerDeps<S, K, M, R, P>,
    target: &Target,
) -> Confirmed {
    let Target::CodePipeline {
        pipeline,
        stage,
        action,
        ..
    } = target
    else {
        return Confirmed::Real(None);
    };
    match deps.pipelines.check(target).await {
        Ok(Check::Waiting { execution_id }) => Confirmed::Real(Some(
            deps.pipelines
                .facts(pipeline, execution_id.as_deref())
                .await,
        )),
        Ok(Check::NotWaiting(reason)) => {
            tracing::warn!(
                pipeline = %pipeline,
                stage = %stage,
                action = %action,
                %reason,
                "CodePipeline approval message dropped: the action does not wait for approval with \
                 this token (nobody emailed, nothing rejected)"
            );
            Confirmed::Dropped(json!({
                "dropped": true,
                "reason": format!("{} is not waiting for approval with this message's token: {reason}", target.describe()),
            }))
        }
        Err(e) => {
            tracing::error!(pipeline = %pipeline, error = %e, "cannot confirm the CodePipeline approval: nobody emailed");
            Confirmed::Unconfirmed(diagnostic(
                CHECK_ERROR,
                format!(
                    "Tollgate could not confirm that {} waits for approval, so it emailed nobody: {e}",
                    target.describe()
                ),
            ))
        }
    }
}

/// The pipeline's own facts in the request: its execution and source revision in the details,
/// and the revision's commit author as the requester (left out of the approvers unless
/// `AllowSelfApproval`); an unknown author is said so.
fn with_pipeline_facts(
    mut request: ApprovalRequest,
    facts: Option<Facts>,
    policy: &Policy,
) -> Result<ApprovalRequest, Invalid> {
    let Some(facts) = facts else {
        return Ok(request);
    };
    let mut rows = Vec::new();
    if let Some(id) = &facts.execution_id {
        rows.push(("Execution".to_string(), id.clone()));
    }
    if let Some(revision) = &facts.revision {
        let text = match &revision.summary {
            Some(summary) if !summary.trim().is_empty() => {
                format!("{} ({})", revision.revision_id, one_line(summary))
            }
            _ => revision.revision_id.clone(),
        };
        rows.push(("Source revision".to_string(), clip(&text, MAX_VALUE_CHARS)));
        if let Some(url) = revision.url.as_deref().filter(|u| !u.is_empty()) {
            request.links.insert(
                0,
                ("Source revision".to_string(), clip(url, MAX_VALUE_CHARS)),
            );
        }
    }
    let requester = match &facts.requester {
        Requester::Known(email) => email.clone(),
        Requester::Unknown(why) => format!("unknown ({})", clip(&one_line(why), 300)),
    };
    rows.push(("Requested by".to_string(), requester));
    // After Pipeline, Stage and Action (the first three rows).
    let at = request.details.len().min(3);
    request.details.splice(at..at, rows);
    request.details.truncate(crate::request::MAX_ENTRIES);
    match facts.requester {
        Requester::Known(email) => with_requester(request, &email, policy),
        Requester::Unknown(_) => Ok(request),
    }
}

fn diagnostic(error_type: &str, message: String) -> Diagnostic {
    Diagnostic {
        error_type: error_type.to_string(),
        error_message: message,
    }
}

/// An unusable request: fail its workflow (when the token is known) instead of leaving it waiting.
async fn refuse<S, K, M, R: TaskResumer, P>(
    deps: &MailerDeps<S, K, M, R, P>,
    invalid: Invalid,
) -> Diagnostic {
    let reason = format!("the approval request is unusable: {}", invalid.reason);
    match &invalid.target {
        Some(target) => {
            tracing::error!(kind = target.kind(), %reason, "failing the workflow");
            let outcome = Outcome::Failed {
                error: INVALID_ERROR.into(),
                cause: reason.clone(),
            };
            if let Err(e) = deps.resumer.resume(target, &outcome).await {
                tracing::error!(error = %e, "could not fail the workflow either");
            }
        }
        None => tracing::error!(%reason, "no token to fail a workflow with"),
    }
    diagnostic(INVALID_ERROR, reason)
}

/// Stores the approval and sends the emails; on any failure, fails the workflow.
async fn ask<S, K, M, R, P>(
    deps: &MailerDeps<S, K, M, R, P>,
    request: ApprovalRequest,
    now: i64,
) -> Result<Value, Diagnostic>
where
    S: StateStore,
    K: KeySource,
    M: Mailer,
    R: TaskResumer,
{
    let expires_at = now.saturating_add(i64::try_from(request.expires_in_secs).unwrap_or(i64::MAX));
    let mut approval = Approval {
        id: String::new(),
        target: request.target,
        approvers: request.approvers,
        required_approvals: request.required_approvals,
        quorum: Some(request.quorum),
        membership: request.membership,
        requested_by: request.requested_by,
        subject: request.subject,
        summary: request.summary,
        details: request.details,
        links: request.links,
        created_at: now,
        expires_at,
        decision: None,
        resumed_at: None,
        closed_reason: None,
    };
    approval.id = match new_id() {
        Ok(id) => id,
        Err(e) => {
            return Err(give_up(
                deps,
                &mut approval,
                false,
                format!("no randomness for an id: {e}"),
            )
            .await);
        }
    };
    // The signing key is read while the approval is stored (two round trips become one).
    let (created, key) = tokio::join!(deps.store.create(&approval), deps.keys.key());
    let (duplicate, states) = match created {
        Ok(true) => (false, Vec::new()),
        // Delivered before (a Lambda or SNS retry): carry on with the stored approval, sending
        // only the emails that did not go out.
        Ok(false) => match stored_request(deps, approval.target.token()).await {
            Ok(Some(loaded)) if loaded.status == Status::Pending => {
                approval = loaded.approval;
                (true, loaded.emails)
            }
            Ok(_) => {
                tracing::info!(
                    kind = approval.target.kind(),
                    "duplicate delivery: the approval is no longer pending"
                );
                return Ok(json!({ "duplicate": true }));
            }
            Err(e) => {
                tracing::error!(error = %e, "duplicate delivery, but the stored approval is unreadable");
                return Err(diagnostic(
                    RETRY_ERROR,
                    format!("Tollgate could not read the approval it stored before: {e}"),
                ));
            }
        },
        Err(e) => {
            let reason = format!("Tollgate could not store the approval: {e}");
            return Err(give_up(deps, &mut approval, false, reason).await);
        }
    };
    let key = match key {
        Ok(key) => key,
        Err(e) => return Err(give_up(deps, &mut approval, true, e.to_string()).await),
    };
    let state_of = |approver: &str| {
        states
            .iter()
            .find(|(a, _, _)| a == approver)
            .map(|(_, s, why)| (s.as_str(), why.as_str()))
    };
    // Claim each email not sent yet (none, or FAILED for now); SENDING is another attempt's.
    let mut to_send: Vec<&String> = Vec::new();
    for approver in &approval.approvers {
        let from = match state_of(approver) {
            None => None,
            Some(("FAILED", _)) => Some("FAILED"),
            Some(_) => continue,
        };
        match deps.store.claim_email(&approval, approver, from).await {
            Ok(()) => to_send.push(approver),
            Err(StoreError::Conflict) => {}
            Err(e) => {
                return Err(diagnostic(
                    RETRY_ERROR,
                    format!("Tollgate could not record the emails it sends: {e}"),
                ));
            }
        }
    }
    let expires_at = approval.expires_at;
    let emails: Vec<Email> = to_send
        .iter()
        .map(|approver| {
            let claims = LinkClaims {
                id: approval.id.clone(),
                approver: approver.to_string(),
                expires_at,
            };
            let link = link_url(&deps.settings.base_url, &claims, &key.sign(&claims));
            Email {
                to: approver.to_string(),
                subject: approval.subject.clone(),
                html: email_html(&approval, approver, &link),
                text: email_text(&approval, approver, &link),
            }
        })
        .collect();
    // A few at a time: SES's default sending rate is 14 emails a second.
    let results: Vec<Result<String, MailError>> = futures_util::stream::iter(emails.iter())
        .map(|email| deps.mailer.send(email))
        .buffered(SEND_CONCURRENCY)
        .collect()
        .await;
    let mut sent: Vec<String> = states
        .iter()
        .filter(|(_, s, _)| s == "SENT")
        .map(|(a, _, _)| a.clone())
        .collect();
    let mut rejected: Vec<String> = states
        .iter()
        .filter(|(_, s, _)| s == "REJECTED")
        .map(|(a, _, why)| format!("{a}: {why}"))
        .collect();
    let mut rejected_people: Vec<String> = states
        .iter()
        .filter(|(_, s, _)| s == "REJECTED")
        .map(|(a, _, _)| a.clone())
        .collect();
    let mut for_now = Vec::new();
    let mut message_ids = Vec::new();
    for (email, result) in emails.iter().zip(results) {
        let (state, why) = match result {
            Ok(id) => {
                message_ids.push(id.clone());
                sent.push(email.to.clone());
                ("SENT", id)
            }
            Err(e) if e.permanent => {
                rejected.push(e.to_string());
                rejected_people.push(email.to.clone());
                ("REJECTED", e.reason.clone())
            }
            Err(e) => {
                for_now.push(e.to_string());
                ("FAILED", e.reason.clone())
            }
        };
        if let Err(e) = deps
            .store
            .email_result(&approval, &email.to, state, &why)
            .await
        {
            tracing::warn!(approval_id = %approval.id, error = %e, "could not record an email's outcome");
        }
    }
    // Emails that failed for good: can the others still reach the quorum?
    let reachable: Vec<String> = approval
        .approvers
        .iter()
        .filter(|a| !rejected_people.contains(a))
        .cloned()
        .collect();
    if !crate::groups::is_met(&approval.progress(&reachable)) {
        let mut reason = format!(
            "the quorum can no longer be reached: {}",
            rejected.join("; ")
        );
        if !sent.is_empty() {
            reason.push_str(&format!(
                ". {} of {} emails were sent; their links now say the request was withdrawn.",
                sent.len(),
                approval.approvers.len()
            ));
        } else {
            reason.push('.');
        }
        return Err(give_up(deps, &mut approval, true, reason).await);
    }
    if !for_now.is_empty() {
        let reason = format!(
            "{} of {} approval emails sent; not yet: {}. Invoke again with the same input: only \
             the missing emails are sent",
            sent.len(),
            approval.approvers.len(),
            for_now.join("; ")
        );
        tracing::warn!(approval_id = %approval.id, %reason, "some approval emails not sent yet");
        return Err(diagnostic(RETRY_ERROR, reason));
    }
    tracing::info!(
        approval_id = %approval.id,
        kind = approval.target.kind(),
        approvers = approval.approvers.len(),
        sent_now = message_ids.len(),
        rejected = rejected.len(),
        required_approvals = approval.required_approvals,
        expires_at = %rfc3339(expires_at),
        message_ids = ?message_ids,
        "approval emails sent"
    );
    let mut answer = json!({
        "approvalId": approval.id,
        "sentTo": sent.len(),
        "expiresAt": rfc3339(expires_at),
    });
    if duplicate {
        answer["duplicate"] = json!(true);
        answer["sentNow"] = json!(message_ids.len());
    }
    if !rejected.is_empty() {
        answer["notSent"] = json!(rejected);
    }
    Ok(answer)
}

/// The approval a request with this token created before, if any.
async fn stored_request<S, K, M, R, P>(
    deps: &MailerDeps<S, K, M, R, P>,
    token: &str,
) -> Result<Option<crate::store::Loaded>, StoreError>
where
    S: StateStore,
{
    let Some(seen) = deps
        .store
        .state
        .get(&crate::store::request_key(token), "EVENT")
        .await?
    else {
        return Ok(None);
    };
    let Some(id) = seen.data["approval_id"].as_str() else {
        return Ok(None);
    };
    deps.store.load(id).await
}

/// Withdraws a stored approval (its links then say so) and fails the workflow with `reason`.
async fn give_up<S, K, M, R, P>(
    deps: &MailerDeps<S, K, M, R, P>,
    approval: &mut Approval,
    stored: bool,
    reason: String,
) -> Diagnostic
where
    S: StateStore,
    R: TaskResumer,
{
    tracing::error!(approval_id = %approval.id, kind = approval.target.kind(), %reason, "approval not sent: failing the workflow");
    if stored {
        approval.closed_reason = Some(format!("the approval emails could not be sent: {reason}"));
        if let Err(e) = deps
            .store
            .transition(approval, Status::Pending, Status::Withdrawn)
            .await
        {
            tracing::warn!(approval_id = %approval.id, error = %e, "could not mark the approval withdrawn");
        }
    }
    let outcome = Outcome::Failed {
        error: NOT_SENT_ERROR.into(),
        cause: format!("Tollgate did not send the approval emails: {reason}"),
    };
    if let Err(e) = deps.resumer.resume(&approval.target, &outcome).await {
        tracing::error!(approval_id = %approval.id, error = %e, "could not fail the workflow either: it waits until its timeout");
    }
    diagnostic(NOT_SENT_ERROR, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_name_the_missing_variable() {
        let err = MailerSettings::from_env(&[("APPROVAL_SENDER", "a@example.com")]).unwrap_err();
        assert!(err.to_string().contains("APPROVAL_BASE_URL"), "{err}");
    }

    #[test]
    fn settings_read_every_variable() {
        let s = MailerSettings::from_env(&[
            (
                "APPROVAL_BASE_URL",
                "https://abc.execute-api.us-east-1.amazonaws.com/",
            ),
            ("APPROVAL_SENDER", "Tollgate <approvals@example.com>"),
            (
                "APPROVAL_SIGNING_SECRET",
                "arn:aws:secretsmanager:us-east-1:1:secret:x",
            ),
            (
                "APPROVER_GROUPS",
                r#"{"release":["rm@example.com","QA@example.com"],"security":["sec@example.com"]}"#,
            ),
            (
                "PIPELINE_APPROVERS",
                "RM@example.com, qa@example.com, group:security",
            ),
            ("ALLOW_SELF_APPROVAL", "true"),
            ("APPROVAL_RETENTION_DAYS", "30"),
        ])
        .unwrap();
        assert_eq!(
            s.base_url,
            "https://abc.execute-api.us-east-1.amazonaws.com"
        );
        assert_eq!(
            s.policy.pipeline_approvers,
            vec!["RM@example.com", "qa@example.com", "group:security"]
        );
        assert!(s.policy.allow_self_approval);
        assert_eq!(s.retention.as_secs(), 30 * 86_400);
    }

    #[test]
    fn a_bad_default_approver_is_a_configuration_error() {
        let err = MailerSettings::from_env(&[
            ("APPROVAL_BASE_URL", "https://x.example.com"),
            ("APPROVAL_SENDER", "a@example.com"),
            ("APPROVAL_SIGNING_SECRET", "s"),
            ("PIPELINE_APPROVERS", "release managers"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("PIPELINE_APPROVERS"), "{err}");
    }

    #[test]
    fn pipeline_approvers_outside_every_group_name_approver_groups() {
        let err = MailerSettings::from_env(&[
            ("APPROVAL_BASE_URL", "https://x.example.com"),
            ("APPROVAL_SENDER", "a@example.com"),
            ("APPROVAL_SIGNING_SECRET", "s"),
            ("APPROVER_GROUPS", r#"{"release":["rm@example.com"]}"#),
            ("PIPELINE_APPROVERS", "group:ops"),
        ])
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("PIPELINE_APPROVERS") && text.contains("ApproverGroups"),
            "{text}"
        );
        let err = MailerSettings::from_env(&[
            ("APPROVAL_BASE_URL", "https://x.example.com"),
            ("APPROVAL_SENDER", "a@example.com"),
            ("APPROVAL_SIGNING_SECRET", "s"),
            ("APPROVER_GROUPS", "[\"rm@example.com\"]"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("APPROVER_GROUPS"), "{err}");
    }

    #[test]
    fn sns_messages_are_redacted_inside_their_json_string() {
        let event = json!({"Records": [{"Sns": {"Message": json!({"approval": {
            "token": "TOKEN-1", "pipelineName": "p",
            "approvalReviewLink": "https://console.aws.amazon.com/codepipeline/home#/view/p/S/A/approve/TOKEN-1"
        }}).to_string()}}]});
        let text = loggable(&event).to_string();
        assert!(text.contains("/approve/[REDACTED]"), "{text}");
        assert!(
            !text.contains("TOKEN-1") && text.contains("\"p\""),
            "{text}"
        );
        let event = json!({"taskToken": "TOKEN-2", "approvers": ["a@example.com"]});
        assert!(!loggable(&event).to_string().contains("TOKEN-2"));
        let event = json!({"Records": [{"Sns": {"Message": "not json TOKEN-3"}}]});
        assert!(!loggable(&event).to_string().contains("TOKEN-3"));
    }
}
