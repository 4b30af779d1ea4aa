//! The handler: classify the payload, decide (filters, naming, ownership), act through the adapters, report.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tollgate::state::{Record, StateError, StateStore, epoch_seconds, first_delivery};
use tollgate::telemetry::emit_count;

use crate::adapters::{
    AwsError, BranchSource, BranchTemplate, NewStack, SecretSource, StackInfo, Stacks,
};
use crate::comment::IdleDeletion;
use crate::events::{
    BranchChange, Change, Source, StackStatusChange, Trigger, UnknownEvent, WebhookRequest,
    classify, github_change, pull_request_key, pull_request_number,
};
use crate::filters::{BranchFilter, RepositoryFilter, Verdict};
use crate::naming::{stack_name, tag_decode, tag_encode};
use crate::status::{IdleStep, KEEP_LABEL, KEEP_TAG, Warned, first_failure, idle_step, is_failure};

pub const TAG_MANAGED: &str = "tollgate:managed";
pub const TAG_REPOSITORY: &str = "tollgate:repository";
pub const TAG_BRANCH: &str = "tollgate:branch";
pub const TAG_SOURCE: &str = "tollgate:source";

/// How long a delivery id is remembered.
const DEDUPE_TTL: Duration = Duration::from_secs(7 * 86_400);

/// The function's settings (see `deps::settings` for the variables).
#[derive(Debug, Clone)]
pub struct Settings {
    pub prefix: String,
    pub template: BranchTemplate,
    /// The team's fixed stack parameters (`BRANCH_STACK_PARAMETERS`), after BranchName and RepositoryName.
    pub parameters: Vec<(String, String)>,
    pub role_arn: Option<String>,
    pub filter: BranchFilter,
    pub default_branch: String,
    pub max_stacks: usize,
    /// 0: idle stacks are kept.
    pub ttl_days: u64,
    pub empty_buckets: bool,
    /// GitHub repositories whose webhooks are acted on (`GITHUB_REPOSITORIES`).
    pub repositories: RepositoryFilter,
    /// This account (`ACCOUNT_ID`): CodeCommit events from any other are ignored.
    pub account: String,
    /// What GitHub's events drive (`BRANCH_MODE`).
    pub mode: Mode,
    /// Draft pull requests get a preview too (`BRANCH_INCLUDE_DRAFTS`).
    pub include_drafts: bool,
}

/// `BRANCH_MODE`: which GitHub events create and delete stacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A stack per branch (`create` / `delete`); `pull_request` events are ignored.
    Branch,
    /// A stack per pull request (`pull_request` opened / synchronize / closed); GitHub branch
    /// creations and deletions are ignored (CodeCommit's branches keep their stacks).
    PullRequest,
    Both,
}

impl Mode {
    pub fn parse(text: &str) -> Option<Mode> {
        match text {
            "branch" => Some(Mode::Branch),
            "pull-request" => Some(Mode::PullRequest),
            "both" => Some(Mode::Both),
            _ => None,
        }
    }
}

/// Everything the handler needs.
pub struct Deps<St, S, B, K> {
    pub settings: Settings,
    pub store: St,
    pub stacks: S,
    pub branches: B,
    pub secret: K,
}

/// Failures that leave the event unhandled (Lambda retries EventBridge deliveries twice; the
/// HTTP API answers 500).
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Event(#[from] UnknownEvent),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Aws(#[from] AwsError),
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(err: HandlerError) -> Self {
        use tollgate::error::{AWS_ERROR, INVALID_EVENT, STATE_ERROR, diagnostic};
        let error_type = match &err {
            HandlerError::Event(_) => INVALID_EVENT,
            HandlerError::State(_) => STATE_ERROR,
            HandlerError::Aws(_) => AWS_ERROR,
        };
        diagnostic(error_type, &err)
    }
}

/// What was done about one branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Created {
        stack: String,
    },
    AlreadyExists {
        stack: String,
    },
    Skipped {
        reason: String,
    },
    Refused {
        reason: String,
    },
    /// A `DELETE_FAILED` stack deleted again: after emptying its buckets, or retaining the
    /// resources that failed.
    RetryingDelete {
        stack: String,
        emptied: Vec<String>,
        retained: Vec<String>,
    },
    /// The event asked for a deletion the source of truth does not confirm.
    Kept {
        stack: String,
        reason: String,
    },
    Deleting {
        stack: String,
        emptied: Vec<String>,
    },
    NothingToDelete {
        stack: String,
    },
    NotOurs {
        stack: String,
        reason: String,
    },
    DeleteFailed {
        stack: String,
        reason: String,
    },
    Touched,
    /// A pull request's new head: its stack's `HeadSha` set (`changed` false: the template does
    /// not declare it, or it was already that).
    Updated {
        stack: String,
        changed: bool,
    },
    /// A push found no usable record of a live stack: the record was rebuilt from its tags.
    Repaired {
        stack: String,
    },
    Duplicate,
}

impl Outcome {
    pub fn to_json(&self) -> Value {
        match self {
            Outcome::Created { stack } => json!({"outcome": "created", "stack": stack}),
            Outcome::AlreadyExists { stack } => {
                json!({"outcome": "already-exists", "stack": stack})
            }
            Outcome::Skipped { reason } => json!({"outcome": "skipped", "reason": reason}),
            Outcome::Refused { reason } => json!({"outcome": "refused", "reason": reason}),
            Outcome::Deleting { stack, emptied } => {
                json!({"outcome": "deleting", "stack": stack, "emptiedBuckets": emptied})
            }
            Outcome::NothingToDelete { stack } => {
                json!({"outcome": "nothing-to-delete", "stack": stack})
            }
            Outcome::NotOurs { stack, reason } => {
                json!({"outcome": "not-ours", "stack": stack, "reason": reason})
            }
            Outcome::RetryingDelete {
                stack,
                emptied,
                retained,
            } => json!({"outcome": "retrying-delete", "stack": stack,
                        "emptiedBuckets": emptied, "retained": retained}),
            Outcome::Kept { stack, reason } => {
                json!({"outcome": "kept", "stack": stack, "reason": reason})
            }
            Outcome::DeleteFailed { stack, reason } => {
                json!({"outcome": "delete-failed", "stack": stack, "reason": reason})
            }
            Outcome::Touched => json!({"outcome": "touched"}),
            Outcome::Updated { stack, changed } => {
                json!({"outcome": "updated", "stack": stack, "parameterChanged": changed})
            }
            Outcome::Repaired { stack } => json!({"outcome": "repaired", "stack": stack}),
            Outcome::Duplicate => json!({"outcome": "duplicate"}),
        }
    }
}

fn http(status: u16, body: Value) -> Value {
    json!({
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": body.to_string(),
    })
}

/// The state record's key of a branch.
pub fn record_key(repository: &str, branch: &str) -> (String, String) {
    (format!("BRANCH#{repository}"), branch.to_string())
}

impl<St, S, B, K> Deps<St, S, B, K>
where
    St: StateStore,
    S: Stacks,
    B: BranchSource,
    K: SecretSource,
{
    /// Answers any of the three payloads.
    pub async fn handle(&self, event: Value) -> Result<Value, HandlerError> {
        match classify(&event)? {
            Trigger::CodeCommit(change) if change.account != self.settings.account => {
                let reason = format!(
                    "CodeCommit event from account {}, not this account {}",
                    change.account, self.settings.account
                );
                tracing::warn!(%reason, repository = %change.repository, "event ignored");
                Ok(json!({"outcome": "ignored", "reason": reason}))
            }
            Trigger::CodeCommit(change) => Ok(self.change(&change).await?.to_json()),
            Trigger::GitHub(request) => Ok(self.webhook(&request).await),
            Trigger::Sweep => self.sweep().await,
            Trigger::StackStatus(change) => self.stack_status(&change).await,
            Trigger::Ignored(reason) => {
                tracing::info!(%reason, "event ignored");
                Ok(json!({"outcome": "ignored", "reason": reason}))
            }
        }
    }

    async fn webhook(&self, request: &WebhookRequest) -> Value {
        let secret = match self.secret.webhook_secret().await {
            Ok(secret) => secret,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the webhook secret");
                return http(500, json!({"message": "webhook secret unavailable"}));
            }
        };
        if let Err(e) = crate::webhook::verify(&secret, &request.body, request.signature.as_deref())
        {
            tracing::warn!(reason = %e, event = ?request.event, "webhook rejected");
            return http(401, json!({"message": "invalid signature"}));
        }
        match github_change(request) {
            Ok(None) => {
                tracing::info!(event = ?request.event, "webhook event ignored");
                http(200, json!({"outcome": "ignored"}))
            }
            Ok(Some(change))
                if self
                    .settings
                    .repositories
                    .refusal(&change.repository)
                    .is_some() =>
            {
                let reason = self
                    .settings
                    .repositories
                    .refusal(&change.repository)
                    .unwrap_or_default();
                tracing::warn!(%reason, repository = %change.repository, "webhook ignored");
                http(200, json!({"outcome": "ignored", "reason": reason}))
            }
            Ok(Some(change)) => match self.change(&change).await {
                Ok(outcome) => http(200, outcome.to_json()),
                Err(e) => {
                    tracing::error!(error = %e, "webhook not handled");
                    http(500, json!({"message": "not handled; GitHub may redeliver"}))
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "webhook payload not understood");
                http(400, json!({"message": e.to_string()}))
            }
        }
    }

    /// A branch was created, deleted or updated.
    pub async fn change(&self, change: &BranchChange) -> Result<Outcome, HandlerError> {
        let mode = self.settings.mode;
        let skip = match (&change.pull_request, change.source, change.change) {
            (Some(_), _, _) if mode == Mode::Branch => {
                Some("BRANCH_MODE is branch: pull requests get no preview")
            }
            (None, Source::GitHub, Change::Created | Change::Deleted)
                if mode == Mode::PullRequest =>
            {
                Some("BRANCH_MODE is pull-request: GitHub branches get no stack of their own")
            }
            (Some(pr), _, Change::Created) if pr.draft && !self.settings.include_drafts => {
                Some("a draft pull request (BRANCH_INCLUDE_DRAFTS is false)")
            }
            _ => None,
        };
        if let Some(reason) = skip {
            tracing::info!(%reason, repository = %change.repository, branch = %change.branch, "skipped");
            return Ok(Outcome::Skipped {
                reason: reason.into(),
            });
        }
        if change.change == Change::Relabeled {
            return self.relabel(change).await;
        }
        if change.change == Change::Updated {
            return match &change.pull_request {
                Some(_) => self.synchronize(change).await,
                None => self.touch(change).await,
            };
        }
        if change.change == Change::Created {
            let default_branch = self.default_branch(change).await;
            let branch = change
                .pull_request
                .as_ref()
                .map_or(change.branch.as_str(), |pr| pr.head_branch.as_str());
            if let Verdict::Skip(reason) = self.settings.filter.verdict(branch, &default_branch) {
                tracing::info!(%reason, repository = %change.repository, "branch skipped");
                return Ok(Outcome::Skipped { reason });
            }
        }
        let now = SystemTime::now();
        if !change.event_id.is_empty()
            && !first_delivery(&self.store, &change.event_id, now, DEDUPE_TTL).await?
        {
            tracing::info!(event_id = %change.event_id, "duplicate delivery");
            return Ok(Outcome::Duplicate);
        }
        let result = match change.change {
            Change::Created => match self.confirm(change).await {
                Ok(None) => self.create(change).await,
                Ok(Some(outcome)) => Ok(outcome),
                Err(e) => Err(e),
            },
            _ => match self.confirm(change).await {
                Ok(None) => {
                    self.destroy(change.source, &change.repository, &change.branch)
                        .await
                }
                Ok(Some(outcome)) => Ok(outcome),
                Err(e) => Err(e),
            },
        };
        if result.is_err() && !change.event_id.is_empty() {
            // Let a redelivery try again.
            let _ = self
                .store
                .delete(&format!("EVENT#{}", change.event_id), "EVENT")
                .await;
        }
        let outcome = result?;
        tracing::info!(outcome = %outcome.to_json(), repository = %change.repository, branch = %change.branch, "branch handled");
        if let (Some(pr), Some((stack, status, event))) =
            (&change.pull_request, said(&outcome, "pull request closed"))
        {
            let note = Note {
                status,
                event: &event,
                head_sha: Some(&pr.head_sha),
                labels: Some(&pr.labels),
                ..Note::default()
            };
            self.comment(&change.repository, pr.number, stack, None, note)
                .await;
        }
        Ok(outcome)
    }

    /// Asks the repository whether the event is still true: a created branch exists, a deleted one
    /// is gone. `None`: go ahead. A replayed or stale event is answered without acting; when the
    /// repository cannot tell, a creation is retried (an error) and a deletion kept.
    async fn confirm(&self, change: &BranchChange) -> Result<Option<Outcome>, HandlerError> {
        let exists = self
            .branches
            .exists(change.source, &change.repository, &change.branch)
            .await;
        let stack = self.stack_name(&change.repository, &change.branch);
        let unconfirmed = |reason: String| {
            tracing::warn!(%reason, repository = %change.repository, branch = %change.branch, "event not confirmed; nothing done");
            emit_count("BranchEventsUnconfirmed", 1);
            reason
        };
        match (change.change, exists) {
            // Never reached (handled before); a label change creates and deletes nothing.
            (Change::Relabeled, _) => Ok(Some(Outcome::Skipped {
                reason: "a label change creates and deletes nothing".into(),
            })),
            (Change::Created, Ok(true)) | (Change::Deleted | Change::Updated, Ok(false)) => {
                Ok(None)
            }
            (Change::Created, Ok(false)) => Ok(Some(Outcome::Skipped {
                reason: unconfirmed(format!(
                    "{} does not exist in {} (a stale or replayed event)",
                    change.branch, change.repository
                )),
            })),
            (Change::Created, Err(e)) => Err(e.into()),
            (_, Ok(true)) => Ok(Some(Outcome::Kept {
                stack,
                reason: unconfirmed(format!(
                    "{} still exists in {} (a stale or replayed event)",
                    change.branch, change.repository
                )),
            })),
            (_, Err(e)) => Ok(Some(Outcome::Kept {
                stack,
                reason: unconfirmed(format!(
                    "cannot tell whether {} still exists ({e}); the sweep will look again",
                    change.branch
                )),
            })),
        }
    }

    async fn default_branch(&self, change: &BranchChange) -> String {
        if let Some(known) = &change.default_branch {
            return known.clone();
        }
        if change.source == Source::CodeCommit {
            match self.branches.default_branch(&change.repository).await {
                Ok(Some(branch)) => return branch,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, fallback = %self.settings.default_branch, "default branch unknown")
                }
            }
        }
        self.settings.default_branch.clone()
    }

    fn stack_name(&self, repository: &str, branch: &str) -> String {
        stack_name(&self.settings.prefix, repository, branch)
    }

    async fn create(&self, change: &BranchChange) -> Result<Outcome, HandlerError> {
        let name = self.stack_name(&change.repository, &change.branch);
        if let Some(existing) = self.stacks.find(&name).await? {
            // A retry after CreateStack succeeded but the record write failed: write it now.
            if owned_by(&existing, &change.repository, &change.branch) {
                self.repair(
                    &existing,
                    change.source,
                    &change.repository,
                    &change.branch,
                    now(),
                )
                .await?;
            }
            return Ok(Outcome::AlreadyExists {
                stack: existing.name,
            });
        }
        let (Some(repo_tag), Some(branch_tag)) =
            (tag_encode(&change.repository), tag_encode(&change.branch))
        else {
            return Ok(self.refuse(format!(
                "{} is too long to record in a stack tag",
                change.branch
            )));
        };
        let managed = self
            .stacks
            .list(&format!("{}-", self.settings.prefix))
            .await?
            .into_iter()
            .filter(|s| owner(s).is_some())
            .count();
        if managed >= self.settings.max_stacks {
            return Ok(self.refuse(format!(
                "{managed} branch stacks exist, MAX_BRANCH_STACKS is {}: not creating {name} for {}",
                self.settings.max_stacks, change.branch
            )));
        }
        let stack = NewStack {
            name: name.clone(),
            template: self.settings.template.clone(),
            parameters: match &change.pull_request {
                None => vec![
                    ("BranchName".to_string(), change.branch.clone()),
                    ("RepositoryName".to_string(), change.repository.clone()),
                ],
                Some(pr) => vec![
                    ("BranchName".to_string(), pr.head_branch.clone()),
                    ("RepositoryName".to_string(), change.repository.clone()),
                    ("PullRequestNumber".to_string(), pr.number.to_string()),
                    ("HeadSha".to_string(), pr.head_sha.clone()),
                ],
            }
            .into_iter()
            .chain(self.settings.parameters.iter().cloned())
            .collect(),
            tags: vec![
                (TAG_MANAGED.into(), "true".into()),
                (TAG_REPOSITORY.into(), repo_tag),
                (TAG_BRANCH.into(), branch_tag),
                (TAG_SOURCE.into(), change.source.as_str().into()),
            ],
            role_arn: self.settings.role_arn.clone(),
            token: format!("tollgate-{name}").chars().take(128).collect(),
        };
        let id = self.stacks.create(&stack).await?;
        let now = epoch_seconds(SystemTime::now());
        self.record(
            &change.repository,
            &change.branch,
            "ACTIVE",
            json!({"stackId": id, "stackName": name, "source": change.source.as_str(), "created": now, "lastEvent": now}),
        )
        .await?;
        emit_count("BranchStacksCreated", 1);
        Ok(Outcome::Created { stack: name })
    }

    fn refuse(&self, reason: String) -> Outcome {
        tracing::warn!(%reason, "branch stack refused");
        emit_count("BranchStacksRefused", 1);
        Outcome::Refused { reason }
    }

    /// Deletes the branch's stack if Tollgate created it for this repository and branch.
    pub async fn destroy(
        &self,
        source: Source,
        repository: &str,
        branch: &str,
    ) -> Result<Outcome, HandlerError> {
        let name = self.stack_name(repository, branch);
        let Some(stack) = self.stacks.find(&name).await? else {
            return Ok(Outcome::NothingToDelete { stack: name });
        };
        match owner(&stack) {
            Some((_, r, b)) if r == repository && b == branch => {}
            _ => {
                let reason =
                    "its tags do not say Tollgate created it for this repository and branch"
                        .to_string();
                tracing::warn!(stack = %name, %reason, "stack left alone");
                return Ok(Outcome::NotOurs {
                    stack: name,
                    reason,
                });
            }
        }
        if stack.status == "DELETE_IN_PROGRESS" {
            return Ok(Outcome::Deleting {
                stack: name,
                emptied: vec![],
            });
        }
        if stack.status == "DELETE_FAILED" {
            return self.finish_delete(&stack, source, repository, branch).await;
        }
        let deleted = async {
            let emptied = if self.settings.empty_buckets {
                self.stacks.empty_buckets(&stack.id).await?
            } else {
                vec![]
            };
            self.stacks
                .delete(&stack.id, self.settings.role_arn.as_deref())
                .await?;
            Ok::<_, AwsError>(emptied)
        }
        .await;
        let now = epoch_seconds(SystemTime::now());
        let data = |reason: Option<&str>| json!({"stackId": stack.id, "stackName": name, "source": source.as_str(), "created": stack.created, "lastEvent": now, "reason": reason});
        match deleted {
            Ok(emptied) => {
                self.record(repository, branch, "DELETED", data(None))
                    .await?;
                emit_count("BranchStacksDeleted", 1);
                Ok(Outcome::Deleting {
                    stack: name,
                    emptied,
                })
            }
            Err(e) => {
                let reason = e.to_string();
                tracing::error!(stack = %name, %reason, "branch stack not deleted");
                emit_count("BranchStackDeleteFailed", 1);
                self.record(repository, branch, "DELETE_FAILED", data(Some(&reason)))
                    .await?;
                Ok(Outcome::DeleteFailed {
                    stack: name,
                    reason,
                })
            }
        }
    }

    /// Takes a `DELETE_FAILED` stack one step further, at most once per step: first its buckets are
    /// emptied again (objects written since, by a pipeline still running) and the delete retried;
    /// then the delete is retried retaining the resources that failed, which are reported; after
    /// that the stack is reported failed on every sweep (metric `BranchStackDeleteFailed`).
    async fn finish_delete(
        &self,
        stack: &StackInfo,
        source: Source,
        repository: &str,
        branch: &str,
    ) -> Result<Outcome, HandlerError> {
        let (pk, sk) = record_key(repository, branch);
        let record = self.store.get(&pk, &sk).await?;
        let retries = record
            .as_ref()
            .and_then(|r| r.data.get("deleteRetries"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let data = |retries: u64, retained: &[String], reason: Option<&str>| {
            json!({"stackId": stack.id, "stackName": stack.name, "source": source.as_str(),
                   "created": stack.created, "lastEvent": now(), "deleteRetries": retries,
                   "retained": retained, "reason": reason})
        };
        let role = self.settings.role_arn.as_deref();
        let attempt = match retries {
            0 => {
                async {
                    let emptied = if self.settings.empty_buckets {
                        self.stacks.empty_buckets(&stack.id).await?
                    } else {
                        vec![]
                    };
                    self.stacks.delete(&stack.id, role).await?;
                    Ok::<_, AwsError>((emptied, vec![]))
                }
                .await
            }
            1 => {
                async {
                    let failed = self.stacks.failed_resources(&stack.id).await?;
                    let retained: Vec<String> = failed.iter().map(|(id, _)| id.clone()).collect();
                    self.stacks
                        .delete_retaining(&stack.id, role, &retained)
                        .await?;
                    for (id, reason) in &failed {
                        tracing::warn!(stack = %stack.name, resource = %id, %reason, "branch stack resource retained: delete it by hand");
                    }
                    emit_count(
                        "BranchStackResourcesRetained",
                        u64::try_from(retained.len()).unwrap_or(u64::MAX),
                    );
                    Ok((vec![], retained))
                }
                .await
            }
            _ => Err(AwsError {
                action: format!("DeleteStack {}", stack.name),
                reason: "still DELETE_FAILED after emptying its buckets again and retaining the resources that failed; a person must look".into(),
            }),
        };
        match attempt {
            Ok((emptied, retained)) => {
                tracing::info!(stack = %stack.name, retry = retries + 1, ?retained, "DELETE_FAILED branch stack deleted again");
                self.record(
                    repository,
                    branch,
                    "DELETE_FAILED",
                    data(retries + 1, &retained, None),
                )
                .await?;
                Ok(Outcome::RetryingDelete {
                    stack: stack.name.clone(),
                    emptied,
                    retained,
                })
            }
            Err(e) => {
                let reason = e.to_string();
                tracing::error!(stack = %stack.name, %reason, "branch stack not deleted");
                emit_count("BranchStackDeleteFailed", 1);
                let retried = if retries >= 2 { retries } else { retries + 1 };
                self.record(
                    repository,
                    branch,
                    "DELETE_FAILED",
                    data(retried, &[], Some(&reason)),
                )
                .await?;
                Ok(Outcome::DeleteFailed {
                    stack: stack.name.clone(),
                    reason,
                })
            }
        }
    }

    /// The keep label added or removed: the comment says whether the preview is kept. Nothing
    /// else changes (the sweep reads the label itself).
    async fn relabel(&self, change: &BranchChange) -> Result<Outcome, HandlerError> {
        let name = self.stack_name(&change.repository, &change.branch);
        let (Some(pr), Some(stack)) = (&change.pull_request, self.stacks.find(&name).await?) else {
            return Ok(Outcome::Skipped {
                reason: "no preview".into(),
            });
        };
        if !owned_by(&stack, &change.repository, &change.branch) {
            return Ok(Outcome::NotOurs {
                stack: name,
                reason: "its tags do not say Tollgate created it for this pull request".into(),
            });
        }
        let note = Note {
            status: &stack.status,
            event: "labels changed",
            head_sha: Some(&pr.head_sha),
            labels: Some(&pr.labels),
            ..Note::default()
        };
        self.comment(&change.repository, pr.number, &name, Some(&stack), note)
            .await;
        Ok(Outcome::Updated {
            stack: name,
            changed: false,
        })
    }

    /// A pull request's new commits: activity recorded, `HeadSha` updated, the comment edited.
    async fn synchronize(&self, change: &BranchChange) -> Result<Outcome, HandlerError> {
        let touched = self.touch(change).await?;
        if matches!(touched, Outcome::Skipped { .. }) {
            return Ok(touched);
        }
        let name = self.stack_name(&change.repository, &change.branch);
        let (Some(pr), Some(stack)) = (&change.pull_request, self.stacks.find(&name).await?) else {
            return Ok(touched);
        };
        if !owned_by(&stack, &change.repository, &change.branch) {
            return Ok(Outcome::NotOurs {
                stack: name,
                reason: "its tags do not say Tollgate created it for this pull request".into(),
            });
        }
        let changed = self
            .stacks
            .update_parameter(
                &stack.id,
                self.settings.role_arn.as_deref(),
                "HeadSha",
                &pr.head_sha,
            )
            .await?;
        let (status, event) = if changed {
            ("UPDATE_IN_PROGRESS", "new commits: preview updating")
        } else {
            (stack.status.as_str(), "new commits")
        };
        let note = Note {
            status,
            event,
            head_sha: Some(&pr.head_sha),
            labels: Some(&pr.labels),
            ..Note::default()
        };
        self.comment(&change.repository, pr.number, &name, Some(&stack), note)
            .await;
        Ok(Outcome::Updated {
            stack: name,
            changed,
        })
    }

    /// Creates or edits the pull request's status comment; a failure is logged and counted, never
    /// fatal (the preview itself is what matters). `true` when written.
    async fn comment(
        &self,
        repository: &str,
        number: u64,
        name: &str,
        stack: Option<&StackInfo>,
        note: Note<'_>,
    ) -> bool {
        let updated = stack.map_or_else(now, |s| s.last_updated.max(s.created));
        let head_sha = note
            .head_sha
            .or_else(|| stack.and_then(|s| s.parameters.get("HeadSha").map(String::as_str)))
            .filter(|sha| !sha.is_empty());
        let idle_deletion = if note.status.starts_with("DELETE") {
            IdleDeletion::Gone
        } else {
            self.idle_deletion(repository, number, stack, note.labels)
                .await
        };
        let outputs = stack.map(|s| s.outputs.as_slice()).unwrap_or_default();
        let body = crate::comment::render(&crate::comment::PreviewStatus {
            stack: name,
            status: note.status,
            head_sha,
            event: note.event,
            updated,
            idle_deletion,
            outputs,
            failure: note
                .failure
                .as_ref()
                .map(|(id, reason)| (id.as_str(), reason.as_str())),
            warning: note.warning,
        });
        match self
            .branches
            .status_comment(repository, number, &body)
            .await
        {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, %repository, number, "pull request comment not written");
                emit_count("BranchCommentFailed", 1);
                false
            }
        }
    }

    /// When the comment says the preview goes if idle: never when kept (the stack tag, or the
    /// label as the delivery lists it or GitHub answers), else from the record's last activity
    /// (and a warning already given).
    async fn idle_deletion(
        &self,
        repository: &str,
        number: u64,
        stack: Option<&StackInfo>,
        labels: Option<&[String]>,
    ) -> IdleDeletion {
        let ttl = self.ttl_secs();
        if ttl == 0 {
            return IdleDeletion::Never;
        }
        if stack.is_some_and(kept_by_tag) {
            return IdleDeletion::Kept(format!("the stack tag {KEEP_TAG}=true"));
        }
        let labelled = match labels {
            Some(labels) => labels.iter().any(|l| l == KEEP_LABEL),
            None => self
                .branches
                .has_label(repository, number, KEEP_LABEL)
                .await
                .unwrap_or(false),
        };
        if labelled {
            return IdleDeletion::Kept(format!("the label {KEEP_LABEL}"));
        }
        let (pk, sk) = record_key(repository, &pull_request_key(number));
        let record = self.store.get(&pk, &sk).await.ok().flatten();
        let now = now();
        let (last, warned) = record.as_ref().map(activity).unwrap_or((Some(now), None));
        let last = last.unwrap_or(now);
        IdleDeletion::At(match idle_step(now, last, ttl, warned) {
            IdleStep::Warn { deletes_at } | IdleStep::Warned { deletes_at } => deletes_at,
            IdleStep::Active | IdleStep::Delete => last.saturating_add(ttl),
        })
    }

    fn ttl_secs(&self) -> i64 {
        i64::try_from(self.settings.ttl_days.saturating_mul(86_400)).unwrap_or(i64::MAX)
    }

    /// A CloudFormation status change of a branch stack: logged (a failure with its failed
    /// resource, metric `BranchStackFailed`), and for a pull request's preview, its comment
    /// rewritten from the stack as it is now (events may arrive out of order).
    async fn stack_status(&self, change: &StackStatusChange) -> Result<Value, HandlerError> {
        let ignored = |reason: String| {
            tracing::info!(%reason, stack = %change.stack_id, "stack status change ignored");
            json!({"outcome": "ignored", "reason": reason})
        };
        if change.account != self.settings.account {
            return Ok(ignored(format!(
                "stack event from account {}, not this account {}",
                change.account, self.settings.account
            )));
        }
        let Some(stack) = self.stacks.describe(&change.stack_id).await? else {
            return Ok(ignored("no such stack".into()));
        };
        if !stack
            .name
            .starts_with(&format!("{}-", self.settings.prefix))
        {
            return Ok(ignored(format!(
                "{} is not named {}-*",
                stack.name, self.settings.prefix
            )));
        }
        let Some((source, repository, branch)) = owner(&stack) else {
            return Ok(ignored(format!(
                "{} does not carry Tollgate's tags",
                stack.name
            )));
        };
        if stack.status == "DELETE_COMPLETE"
            && let Some(live) = self.stacks.find(&stack.name).await?
            && live.id != stack.id
        {
            // A late event of a deleted stack whose name a new one has taken (a reopened pull
            // request): the comment is about the new one.
            return Ok(ignored(format!(
                "{} was deleted and a newer stack of that name exists",
                stack.name
            )));
        }
        let failure = if is_failure(&stack.status) {
            let found = match self.stacks.recent_events(&stack.id).await {
                Ok(events) => first_failure(&events),
                Err(e) => {
                    tracing::warn!(stack = %stack.name, error = %e, "stack events unreadable");
                    None
                }
            };
            found.or_else(|| {
                (!change.reason.is_empty()).then(|| (stack.name.clone(), change.reason.clone()))
            })
        } else {
            None
        };
        let terminal = change.status.ends_with("_COMPLETE") || change.status.ends_with("_FAILED");
        if is_failure(&change.status) && terminal {
            let (resource, reason) = failure.clone().unwrap_or_default();
            tracing::error!(stack = %stack.name, status = %change.status, %resource, %reason, %repository, %branch, "branch stack failed");
            emit_count("BranchStackFailed", 1);
        } else {
            tracing::info!(stack = %stack.name, status = %stack.status, %repository, %branch, "branch stack status");
        }
        let mut commented = false;
        if let (Source::GitHub, Some(number)) = (source, pull_request_number(&branch)) {
            let event = status_event(&stack.status);
            let note = Note {
                status: &stack.status,
                event,
                failure: failure.clone(),
                ..Note::default()
            };
            commented = self
                .comment(&repository, number, &stack.name, Some(&stack), note)
                .await;
        }
        Ok(
            json!({"outcome": "status", "stack": stack.name, "status": stack.status,
                  "failedResource": failure.as_ref().map(|(id, _)| id),
                  "reason": failure.as_ref().map(|(_, r)| r), "commented": commented}),
        )
    }

    async fn touch(&self, change: &BranchChange) -> Result<Outcome, HandlerError> {
        let (pk, sk) = record_key(&change.repository, &change.branch);
        let record = self.store.get(&pk, &sk).await?;
        let active = record
            .as_ref()
            .is_some_and(|r| r.state.as_deref() == Some("ACTIVE"));
        let Some(record) = record.filter(|_| active) else {
            // No record (or one that says the stack is gone): if a live stack of ours exists,
            // the record was lost; rebuild it so the branch's activity counts.
            let name = self.stack_name(&change.repository, &change.branch);
            return match self.stacks.find(&name).await? {
                Some(stack)
                    if owned_by(&stack, &change.repository, &change.branch)
                        && !stack.status.starts_with("DELETE_") =>
                {
                    self.repair(
                        &stack,
                        change.source,
                        &change.repository,
                        &change.branch,
                        now(),
                    )
                    .await?;
                    Ok(Outcome::Repaired { stack: name })
                }
                _ => Ok(Outcome::Skipped {
                    reason: "no branch stack".into(),
                }),
            };
        };
        let mut data = record.data.clone();
        if let Some(map) = data.as_object_mut() {
            map.insert("lastEvent".into(), json!(now()));
        }
        match self
            .store
            .transition(&pk, &sk, "ACTIVE", "ACTIVE", Some(&data))
            .await
        {
            Ok(()) | Err(StateError::TransitionNotAllowed { .. }) => Ok(Outcome::Touched),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes (or rewrites) the branch's record from its live stack, with last activity `at`:
    /// a lost record is never evidence of idleness.
    async fn repair(
        &self,
        stack: &StackInfo,
        source: Source,
        repository: &str,
        branch: &str,
        at: i64,
    ) -> Result<(), StateError> {
        tracing::warn!(stack = %stack.name, %repository, %branch, "branch record missing or stale; rebuilt from the stack's tags");
        emit_count("BranchRecordsRepaired", 1);
        self.record(
            repository,
            branch,
            "ACTIVE",
            json!({"stackId": stack.id, "stackName": stack.name, "source": source.as_str(),
                   "created": stack.created, "lastEvent": at, "repaired": at}),
        )
        .await
    }

    async fn record(
        &self,
        repository: &str,
        branch: &str,
        state: &str,
        data: Value,
    ) -> Result<(), StateError> {
        let (pk, sk) = record_key(repository, branch);
        for _ in 0..3 {
            let result = match self.store.get(&pk, &sk).await? {
                None => {
                    self.store
                        .create(
                            &Record::new(&pk, &sk)
                                .with_state(state)
                                .with_data(data.clone()),
                        )
                        .await
                }
                Some(current) => {
                    let from = current.state.unwrap_or_default();
                    self.store
                        .transition(&pk, &sk, &from, state, Some(&data))
                        .await
                }
            };
            match result {
                Err(StateError::AlreadyExists { .. } | StateError::TransitionNotAllowed { .. }) => {
                    continue;
                }
                other => return other,
            }
        }
        Err(StateError::TransactionConflict)
    }

    /// Destroys branch stacks whose branch is gone or that were idle longer than the TTL.
    pub async fn sweep(&self) -> Result<Value, HandlerError> {
        self.sweep_at(epoch_seconds(SystemTime::now())).await
    }

    /// [`Self::sweep`] as if the time were `now` (epoch seconds): idleness is `now` minus the
    /// branch's last event (or its stack's creation).
    pub async fn sweep_at(&self, now: i64) -> Result<Value, HandlerError> {
        let ttl_secs =
            i64::try_from(self.settings.ttl_days.saturating_mul(86_400)).unwrap_or(i64::MAX);
        let mut kept = 0u64;
        let mut repaired = 0u64;
        let mut warnings = 0u64;
        let mut results = Vec::new();
        for stack in self
            .stacks
            .list(&format!("{}-", self.settings.prefix))
            .await?
        {
            let Some((source, repository, branch)) = owner(&stack) else {
                continue; // not Tollgate's: never touched
            };
            if stack.status == "DELETE_IN_PROGRESS" {
                continue;
            }
            if stack.status == "DELETE_FAILED" {
                let outcome = self
                    .finish_delete(&stack, source, &repository, &branch)
                    .await?;
                results.push(json!({"reason": "DELETE_FAILED", "result": outcome.to_json()}));
                continue;
            }
            let (pk, sk) = record_key(&repository, &branch);
            // Idleness only from a record that proves it: an ACTIVE record with its last event.
            let (last, warned, record) = match self.store.get(&pk, &sk).await {
                Ok(Some(r)) => {
                    let (last, warned) = activity(&r);
                    (last, warned, Some(r))
                }
                Ok(None) => (None, None, None),
                Err(e) => {
                    // Cannot tell how long it was idle: keep it (fail closed).
                    tracing::warn!(stack = %stack.name, error = %e, "branch record unreadable; stack kept");
                    emit_count("BranchRecordUnreadable", 1);
                    kept += 1;
                    continue;
                }
            };
            let (last, record) = match (last, record) {
                (Some(last), Some(record)) => (last, Some(record)),
                _ => {
                    self.repair(&stack, source, &repository, &branch, now)
                        .await
                        .map_err(HandlerError::from)?;
                    repaired += 1;
                    (now, None)
                }
            };
            let number = pull_request_number(&branch).filter(|_| source == Source::GitHub);
            let step = match idle_step(now, last, ttl_secs, warned) {
                IdleStep::Active => IdleStep::Active,
                step => match self.kept(&stack, &repository, number).await {
                    Some(why) => {
                        tracing::info!(stack = %stack.name, %why, "idle branch stack kept");
                        IdleStep::Active
                    }
                    None => step,
                },
            };
            let mut reason = None;
            match step {
                IdleStep::Delete => {
                    reason = Some(format!("idle longer than {} days", self.settings.ttl_days));
                }
                IdleStep::Warn { deletes_at } => {
                    if let Some(record) = &record {
                        self.warn_idle(
                            &stack,
                            record,
                            &repository,
                            &branch,
                            number,
                            last,
                            now,
                            deletes_at,
                        )
                        .await?;
                        warnings += 1;
                    }
                }
                IdleStep::Warned { .. } | IdleStep::Active => {}
            }
            if reason.is_none() {
                reason = match self.branches.exists(source, &repository, &branch).await {
                    Ok(true) => None,
                    Ok(false) if number.is_some() => {
                        Some("pull request closed or gone".to_string())
                    }
                    Ok(false) => Some("branch no longer exists".to_string()),
                    Err(e) => {
                        tracing::warn!(stack = %stack.name, error = %e, "cannot tell whether the branch exists; kept");
                        None
                    }
                };
            }
            match reason {
                None => kept += 1,
                Some(reason) => {
                    tracing::info!(stack = %stack.name, %reason, "sweeping branch stack");
                    let outcome = self.destroy(source, &repository, &branch).await?;
                    if let (Some(number), Some((name, status, event))) = (
                        number,
                        said(&outcome, &format!("deleted by the sweep ({reason})")),
                    ) {
                        let note = Note {
                            status,
                            event: &event,
                            ..Note::default()
                        };
                        self.comment(&repository, number, name, Some(&stack), note)
                            .await;
                    }
                    results.push(json!({"reason": reason, "result": outcome.to_json()}));
                }
            }
        }
        Ok(
            json!({"outcome": "swept", "kept": kept, "repaired": repaired, "warned": warnings, "destroyed": results}),
        )
    }

    /// Why an idle stack is kept: the stack tag `tollgate:keep=true`, or its pull request's label
    /// `preview:keep`; a label GitHub cannot tell about keeps it too (fail closed).
    async fn kept(
        &self,
        stack: &StackInfo,
        repository: &str,
        number: Option<u64>,
    ) -> Option<String> {
        if kept_by_tag(stack) {
            return Some(format!("the stack tag {KEEP_TAG}=true"));
        }
        let number = number?;
        match self
            .branches
            .has_label(repository, number, KEEP_LABEL)
            .await
        {
            Ok(true) => Some(format!("the label {KEEP_LABEL}")),
            Ok(false) => None,
            Err(e) => Some(format!(
                "cannot tell whether it has the label {KEEP_LABEL} ({e})"
            )),
        }
    }

    /// Warns once that an idle stack will be deleted at `deletes_at`: recorded first (so the
    /// warning is given once however many sweeps follow), then the pull request's comment, or
    /// for a branch the log; metric `BranchIdleWarnings` either way.
    #[allow(clippy::too_many_arguments)]
    async fn warn_idle(
        &self,
        stack: &StackInfo,
        record: &Record,
        repository: &str,
        branch: &str,
        number: Option<u64>,
        last: i64,
        now: i64,
        deletes_at: i64,
    ) -> Result<(), HandlerError> {
        let mut data = record.data.clone();
        if let Some(map) = data.as_object_mut() {
            map.insert("warnedFor".into(), json!(last));
            map.insert("warnedAt".into(), json!(now));
        }
        let (pk, sk) = record_key(repository, branch);
        match self
            .store
            .transition(&pk, &sk, "ACTIVE", "ACTIVE", Some(&data))
            .await
        {
            Ok(()) => {}
            // The record moved on (a delete, a repair): no warning from this sweep.
            Err(StateError::TransitionNotAllowed { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        tracing::warn!(stack = %stack.name, %repository, %branch, deletes_at = %crate::comment::utc(deletes_at),
            "idle branch stack: deleted after this time unless there is activity or it is kept");
        emit_count("BranchIdleWarnings", 1);
        if let Some(number) = number {
            let note = Note {
                status: &stack.status,
                event: "idle: deletion warning",
                warning: Some(deletes_at),
                ..Note::default()
            };
            self.comment(repository, number, &stack.name, Some(stack), note)
                .await;
        }
        Ok(())
    }
}

/// What to say on a pull request's comment.
#[derive(Debug, Clone, Default)]
struct Note<'a> {
    status: &'a str,
    event: &'a str,
    /// The delivery's head SHA (else the stack's `HeadSha` parameter).
    head_sha: Option<&'a str>,
    /// The delivery's labels (else GitHub is asked).
    labels: Option<&'a [String]>,
    failure: Option<(String, String)>,
    warning: Option<i64>,
}

/// The comment's (stack, status, event) for an outcome worth telling the pull request about;
/// `why` says what asked for a deletion.
fn said<'a>(outcome: &'a Outcome, why: &str) -> Option<(&'a str, &'static str, String)> {
    match outcome {
        Outcome::Created { stack } => Some((stack, "CREATE_IN_PROGRESS", "preview created".into())),
        Outcome::AlreadyExists { stack } => Some((stack, "EXISTS", "pull request reopened".into())),
        Outcome::Deleting { stack, .. } => Some((
            stack,
            "DELETE_IN_PROGRESS",
            format!("{why}: preview deleted"),
        )),
        Outcome::NothingToDelete { stack } => {
            Some((stack, "DELETED", format!("{why}: no preview left")))
        }
        Outcome::RetryingDelete {
            stack, retained, ..
        } if !retained.is_empty() => Some((
            stack,
            "DELETE_IN_PROGRESS",
            format!(
                "{why}: deleted, retaining {} (delete by hand)",
                retained.join(", ")
            ),
        )),
        Outcome::RetryingDelete { stack, .. } => Some((
            stack,
            "DELETE_IN_PROGRESS",
            format!("{why}: deletion retried after emptying its buckets"),
        )),
        Outcome::DeleteFailed { stack, .. } => Some((
            stack,
            "DELETE_FAILED",
            format!("{why}: deletion failed, a person must look"),
        )),
        _ => None,
    }
}

/// One line for the comment about a stack status.
fn status_event(status: &str) -> &'static str {
    match status {
        "CREATE_COMPLETE" => "preview ready",
        "UPDATE_COMPLETE" => "preview updated",
        "DELETE_COMPLETE" => "preview deleted",
        "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "CREATE_FAILED" => {
            "creation failed: see the failed resource"
        }
        "UPDATE_ROLLBACK_COMPLETE" | "UPDATE_ROLLBACK_FAILED" | "UPDATE_FAILED" => {
            "update failed and was rolled back: see the failed resource"
        }
        "DELETE_FAILED" => "deletion failed: the sweep retries it",
        s if s.ends_with("_IN_PROGRESS") => "in progress",
        _ => "status changed",
    }
}

/// The stack tag `tollgate:keep=true`.
fn kept_by_tag(stack: &StackInfo) -> bool {
    stack
        .tags
        .get(KEEP_TAG)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// An ACTIVE record's last activity and the idle warning it records.
fn activity(record: &Record) -> (Option<i64>, Option<Warned>) {
    if record.state.as_deref() != Some("ACTIVE") {
        return (None, None);
    }
    let last = record.data.get("lastEvent").and_then(Value::as_i64);
    let warned = match (
        record.data.get("warnedFor").and_then(Value::as_i64),
        record.data.get("warnedAt").and_then(Value::as_i64),
    ) {
        (Some(last_event), Some(at)) => Some(Warned { last_event, at }),
        _ => None,
    };
    (last, warned)
}

/// Whether Tollgate's tags say it created `stack` for this repository and branch.
pub fn owned_by(stack: &StackInfo, repository: &str, branch: &str) -> bool {
    matches!(owner(stack), Some((_, r, b)) if r == repository && b == branch)
}

fn now() -> i64 {
    epoch_seconds(SystemTime::now())
}

/// The (source, repository, branch) Tollgate's tags name, or `None` when it did not create the stack.
pub fn owner(stack: &StackInfo) -> Option<(Source, String, String)> {
    if stack.tags.get(TAG_MANAGED).map(String::as_str) != Some("true") {
        return None;
    }
    let source = Source::parse(stack.tags.get(TAG_SOURCE)?)?;
    let repository = tag_decode(stack.tags.get(TAG_REPOSITORY)?)?;
    let branch = tag_decode(stack.tags.get(TAG_BRANCH)?)?;
    Some((source, repository, branch))
}
