//! Adapters behind small traits: `Mailer` (SES), `KeySource` (Secrets Manager), `TaskResumer` (Step Functions or CodePipeline).

use std::future::Future;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde_json::json;
use tollgate::aws::error_text;

use crate::model::{Choice, Decision, Target};
use crate::request::clip;
use crate::signing::SigningKey;

// ---------------------------------------------------------------------------------- mail

/// One email to one approver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// An email that was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SES did not send the email to {to}: {reason}")]
pub struct MailError {
    pub to: String,
    pub reason: String,
    /// Trying again will not help (SES rejected the address or the sender, or the role may not
    /// send): the approver will never get this email.
    pub permanent: bool,
}

/// Sends email.
pub trait Mailer: Send + Sync {
    /// Sends one email; its message id.
    fn send(&self, email: &Email) -> impl Future<Output = Result<String, MailError>> + Send;
}

/// [`Mailer`] on SES v1 `SendEmail`, from one sender address.
#[derive(Debug, Clone)]
pub struct SesMailer {
    client: aws_sdk_ses::Client,
    sender: String,
}

impl SesMailer {
    pub fn new(client: aws_sdk_ses::Client, sender: impl Into<String>) -> Self {
        SesMailer {
            client,
            sender: sender.into(),
        }
    }
}

impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        use aws_sdk_ses::types::{Body, Content, Destination, Message};
        let content = |data: &str| {
            Content::builder()
                .data(data)
                .charset("UTF-8")
                .build()
                .map_err(|e| e.to_string())
        };
        let message = (|| -> Result<Message, String> {
            Ok(Message::builder()
                .subject(content(&email.subject)?)
                .body(
                    Body::builder()
                        .html(content(&email.html)?)
                        .text(content(&email.text)?)
                        .build(),
                )
                .build())
        })()
        .map_err(|reason| MailError {
            to: email.to.clone(),
            reason,
            permanent: true,
        })?;
        let sent = self
            .client
            .send_email()
            .source(&self.sender)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .message(message)
            .send()
            .await
            .map_err(|e| {
                let hint = match e.code() {
                    Some("MessageRejected") => {
                        " (is the sender a verified SES identity? In the SES sandbox, recipients must be verified too)"
                    }
                    Some("Throttling") | Some("ThrottlingException") => {
                        " (SES throttled the account after every retry)"
                    }
                    Some("AccessDenied") | Some("AccessDeniedException") => {
                        " (the function's role may send only from the ApprovalSender identity)"
                    }
                    _ => "",
                };
                let permanent = matches!(
                    e.code(),
                    Some(
                        "MessageRejected"
                            | "MailFromDomainNotVerifiedException"
                            | "InvalidParameterValue"
                            | "AccessDenied"
                            | "AccessDeniedException"
                            | "AccountSendingPausedException"
                            | "ConfigurationSetDoesNotExist"
                    )
                );
                MailError {
                    to: email.to.clone(),
                    reason: format!("{}{hint}", error_text(&e)),
                    permanent,
                }
            })?;
        Ok(sent.message_id().to_string())
    }
}

// ---------------------------------------------------------------------------------- signing key

/// The signing key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read the signing key from Secrets Manager secret {secret}: {reason}")]
pub struct KeyError {
    pub secret: String,
    pub reason: String,
}

/// Where the link-signing key comes from.
pub trait KeySource: Send + Sync {
    fn key(&self) -> impl Future<Output = Result<SigningKey, KeyError>> + Send;
}

/// A fixed key (tests and tools).
impl KeySource for SigningKey {
    async fn key(&self) -> Result<SigningKey, KeyError> {
        Ok(self.clone())
    }
}

/// [`KeySource`] reading a Secrets Manager secret once per cold start.
#[derive(Debug)]
pub struct SecretsManagerKey {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    cached: tokio::sync::OnceCell<SigningKey>,
}

impl SecretsManagerKey {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        SecretsManagerKey {
            client,
            secret_id: secret_id.into(),
            cached: tokio::sync::OnceCell::new(),
        }
    }

    async fn fetch(&self) -> Result<SigningKey, KeyError> {
        let error = |reason: String| KeyError {
            secret: self.secret_id.clone(),
            reason,
        };
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| error(error_text(&e)))?;
        let text = out
            .secret_string()
            .ok_or_else(|| error("the secret has no SecretString".into()))?;
        SigningKey::new(text.trim().as_bytes().to_vec()).map_err(|e| error(e.to_string()))
    }
}

impl KeySource for SecretsManagerKey {
    async fn key(&self) -> Result<SigningKey, KeyError> {
        self.cached.get_or_try_init(|| self.fetch()).await.cloned()
    }
}

// ---------------------------------------------------------------------------------- resuming

/// What to tell the waiting workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Approved or rejected by people.
    Decided {
        approval_id: String,
        decision: Decision,
    },
    /// The approval could not be asked (bad input, emails not sent): fail the task
    /// (`SendTaskFailure` with `error`) or reject the CodePipeline approval.
    Failed { error: String, cause: String },
}

/// Step Functions' error name for a rejection.
pub const REJECTED_ERROR: &str = "ApprovalRejected";
/// Step Functions' error name when the emails were not sent.
pub const NOT_SENT_ERROR: &str = "ApprovalEmailNotSent";
/// The error an invocation ends with when some emails failed for now (throttling, an outage):
/// invoke again with the same input (Lambda's own retries, or a Step Functions `Retry` on it) and
/// only the missing emails are sent.
pub const RETRY_ERROR: &str = "ApprovalEmailRetry";
/// Step Functions' error name when the task input is unusable.
pub const INVALID_ERROR: &str = "ApprovalRequestInvalid";
/// AWS's limit on `PutApprovalResult`'s summary.
pub const PIPELINE_SUMMARY_MAX_CHARS: usize = 512;
/// AWS's limit on `SendTaskFailure`'s cause.
pub const CAUSE_MAX_CHARS: usize = 32_768;

/// The workflow could not be told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    /// The workflow no longer waits for this token: the task timed out, the execution ended,
    /// or the token is not valid (`TaskTimedOut`, `TaskDoesNotExist`, `InvalidToken`; for
    /// CodePipeline `InvalidApprovalTokenException`, `ApprovalAlreadyCompletedException`...).
    #[error("the workflow is no longer waiting for this approval ({0})")]
    NoLongerWaiting(String),
    /// AWS answered with an error (throttling after retries, permissions, outages): nothing was
    /// applied; worth trying again.
    #[error("{0}")]
    Failed(String),
    /// No answer from AWS (a timeout, a dropped connection): the call may have been applied.
    #[error("{0}")]
    Unknown(String),
}

/// Resumes whatever waits on an approval.
pub trait TaskResumer: Send + Sync {
    fn resume(
        &self,
        target: &Target,
        outcome: &Outcome,
    ) -> impl Future<Output = Result<(), ResumeError>> + Send;
}

/// The output a Step Functions task gets on approval: `decision`, `approver`, `comment`, `time`.
pub fn success_output(approval_id: &str, decision: &Decision) -> serde_json::Value {
    json!({
        "decision": match decision.outcome { Choice::Approve => "APPROVED", Choice::Reject => "REJECTED" },
        "approver": decision.approver,
        "approvedBy": decision.approved_by,
        "comment": decision.comment,
        "time": crate::render::rfc3339(decision.at),
        "approvalId": approval_id,
        "progress": decision.progress,
    })
}

/// The `cause` of a rejected task: the reason, with who and when.
pub fn rejection_cause(decision: &Decision) -> String {
    clip(
        &format!(
            "{} (rejected by {} at {})",
            decision.comment,
            decision.approver,
            crate::render::time(decision.at)
        ),
        CAUSE_MAX_CHARS,
    )
}

/// CodePipeline's approval summary.
pub fn pipeline_summary(decision: &Decision) -> String {
    let who = match decision.outcome {
        Choice::Approve => format!("Approved by {}", decision.approved_by.join(", ")),
        Choice::Reject => format!("Rejected by {}", decision.approver),
    };
    let text = if decision.comment.is_empty() {
        format!("{who} (Tollgate email approval)")
    } else {
        format!("{who} (Tollgate email approval): {}", decision.comment)
    };
    clip(&text, PIPELINE_SUMMARY_MAX_CHARS)
}

/// Error codes that mean the token is no longer waited on.
const NO_LONGER_WAITING: &[&str] = &[
    "TaskTimedOut",
    "TaskDoesNotExist",
    "InvalidToken",
    "InvalidApprovalTokenException",
    "ApprovalAlreadyCompletedException",
    "ActionNotFoundException",
    "StageNotFoundException",
    "PipelineNotFoundException",
];

fn resume_error<E>(err: aws_sdk_sfn::error::SdkError<E>) -> ResumeError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err.code() {
        Some(code) if NO_LONGER_WAITING.contains(&code) => {
            ResumeError::NoLongerWaiting(code.to_string())
        }
        _ if err.as_service_error().is_some() => ResumeError::Failed(error_text(&err)),
        _ => ResumeError::Unknown(error_text(&err)),
    }
}

/// [`TaskResumer`] on Step Functions (`SendTaskSuccess` / `SendTaskFailure`) and CodePipeline
/// (`PutApprovalResult`).
#[derive(Debug, Clone)]
pub struct AwsResumer {
    pub sfn: aws_sdk_sfn::Client,
    pub codepipeline: aws_sdk_codepipeline::Client,
}

impl TaskResumer for AwsResumer {
    async fn resume(&self, target: &Target, outcome: &Outcome) -> Result<(), ResumeError> {
        match target {
            Target::StepFunctions { task_token } => match outcome {
                Outcome::Decided {
                    approval_id,
                    decision,
                } if decision.outcome == Choice::Approve => self
                    .sfn
                    .send_task_success()
                    .task_token(task_token)
                    .output(success_output(approval_id, decision).to_string())
                    .send()
                    .await
                    .map(drop)
                    .map_err(resume_error),
                Outcome::Decided { decision, .. } => self
                    .sfn
                    .send_task_failure()
                    .task_token(task_token)
                    .error(REJECTED_ERROR)
                    .cause(rejection_cause(decision))
                    .send()
                    .await
                    .map(drop)
                    .map_err(resume_error),
                Outcome::Failed { error, cause } => self
                    .sfn
                    .send_task_failure()
                    .task_token(task_token)
                    .error(error)
                    .cause(clip(cause, CAUSE_MAX_CHARS))
                    .send()
                    .await
                    .map(drop)
                    .map_err(resume_error),
            },
            Target::CodePipeline {
                pipeline,
                stage,
                action,
                token,
            } => {
                use aws_sdk_codepipeline::types::{ApprovalResult, ApprovalStatus};
                let (status, summary) = match outcome {
                    Outcome::Decided { decision, .. } => (
                        match decision.outcome {
                            Choice::Approve => ApprovalStatus::Approved,
                            Choice::Reject => ApprovalStatus::Rejected,
                        },
                        pipeline_summary(decision),
                    ),
                    Outcome::Failed { cause, .. } => (
                        ApprovalStatus::Rejected,
                        clip(
                            &format!("Tollgate rejected this approval: {cause}"),
                            PIPELINE_SUMMARY_MAX_CHARS,
                        ),
                    ),
                };
                let result = ApprovalResult::builder()
                    .summary(summary)
                    .status(status)
                    .build()
                    .map_err(|e| ResumeError::Failed(e.to_string()))?;
                self.codepipeline
                    .put_approval_result()
                    .pipeline_name(pipeline)
                    .stage_name(stage)
                    .action_name(action)
                    .token(token)
                    .result(result)
                    .send()
                    .await
                    .map(drop)
                    .map_err(resume_error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(outcome: Choice, comment: &str) -> Decision {
        Decision {
            outcome,
            approver: "rm@example.com".into(),
            approved_by: if outcome == Choice::Approve {
                vec!["qa@example.com".into(), "rm@example.com".into()]
            } else {
                vec![]
            },
            comment: comment.into(),
            at: 1_467_922_920,
            progress: vec![],
        }
    }

    #[test]
    fn the_success_output_has_decision_approver_comment_and_time() {
        let out = success_output("id1", &decision(Choice::Approve, "ship it"));
        assert_eq!(out["decision"], "APPROVED");
        assert_eq!(out["approver"], "rm@example.com");
        assert_eq!(out["comment"], "ship it");
        assert_eq!(out["time"], "2016-07-07T20:22:00Z");
        assert_eq!(out["approvalId"], "id1");
        assert_eq!(out["approvedBy"][0], "qa@example.com");
    }

    #[test]
    fn the_rejection_cause_carries_the_reason_and_who() {
        let cause = rejection_cause(&decision(Choice::Reject, "error rate too high"));
        assert!(cause.starts_with("error rate too high"), "{cause}");
        assert!(cause.contains("rm@example.com"), "{cause}");
    }

    #[test]
    fn the_pipeline_summary_fits_aws_limit() {
        let long = "x".repeat(2000);
        let summary = pipeline_summary(&decision(Choice::Approve, &long));
        assert!(summary.chars().count() <= PIPELINE_SUMMARY_MAX_CHARS);
        assert!(summary.starts_with("Approved by qa@example.com, rm@example.com"));
    }
}
