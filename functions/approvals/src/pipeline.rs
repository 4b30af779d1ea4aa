//! What CodePipeline itself says about an approval notification, before anyone is emailed:
//! whether the named action waits for approval with exactly this token (`GetPipelineState`), the
//! execution's source revision (`GetPipelineExecution`), and who authored it (`GetPipeline` for
//! the source action, then CodeCommit `GetCommit` or GitHub's `GET /repos/{owner}/{repo}/commits/{sha}`).

use std::future::Future;
use std::time::Duration;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tollgate::aws::error_text;

use crate::model::Target;
use crate::request::is_email_address;

/// Whether the action a notification names waits for approval with the notification's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// `InProgress`, with exactly this token: a real request.
    Waiting {
        /// The stage's execution (`stageStates[].latestExecution.pipelineExecutionId`).
        execution_id: Option<String>,
    },
    /// Anything else: no such pipeline, stage or action, not in progress, or another token. The
    /// reason never contains the token.
    NotWaiting(String),
}

/// CodePipeline could not be asked (throttling after retries, a missing permission, an outage).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("CodePipeline GetPipelineState failed for pipeline {pipeline}: {reason}")]
pub struct CheckError {
    pub pipeline: String,
    pub reason: String,
}

/// The execution's source revision, as `GetPipelineExecution`'s `artifactRevisions` gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceRevision {
    pub revision_id: String,
    pub summary: Option<String>,
    pub url: Option<String>,
}

/// Who asked for the release: the source revision's commit author, when it can be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requester {
    Known(String),
    /// Why it could not be read (shown in the email and on the page).
    Unknown(String),
}

/// What the pipeline says about a waiting approval's execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub execution_id: Option<String>,
    pub revision: Option<SourceRevision>,
    pub requester: Requester,
}

/// CodePipeline (and the source's commits), as approval-mailer needs them.
pub trait Pipelines: Send + Sync {
    /// Whether `target`'s action waits for approval with exactly its token.
    fn check(&self, target: &Target) -> impl Future<Output = Result<Check, CheckError>> + Send;
    /// The execution's source revision and its author. Never fails: what cannot be read is
    /// `None` or [`Requester::Unknown`].
    fn facts(
        &self,
        pipeline: &str,
        execution_id: Option<&str>,
    ) -> impl Future<Output = Facts> + Send;
}

/// Compares two tokens in time independent of where they differ.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Reads `GetPipelineState`'s answer for `target`.
pub fn check_state(
    state: &aws_sdk_codepipeline::operation::get_pipeline_state::GetPipelineStateOutput,
    target: &Target,
) -> Check {
    use aws_sdk_codepipeline::types::ActionExecutionStatus;
    let Target::CodePipeline {
        pipeline,
        stage,
        action,
        token,
    } = target
    else {
        return Check::NotWaiting("not a CodePipeline approval".into());
    };
    let Some(stage_state) = state
        .stage_states()
        .iter()
        .find(|s| s.stage_name() == Some(stage.as_str()))
    else {
        return Check::NotWaiting(format!("pipeline {pipeline} has no stage {stage}"));
    };
    let Some(action_state) = stage_state
        .action_states()
        .iter()
        .find(|a| a.action_name() == Some(action.as_str()))
    else {
        return Check::NotWaiting(format!(
            "stage {stage} of pipeline {pipeline} has no action {action}"
        ));
    };
    let Some(latest) = action_state.latest_execution() else {
        return Check::NotWaiting(format!("action {action} has not run"));
    };
    if latest.status() != Some(&ActionExecutionStatus::InProgress) {
        return Check::NotWaiting(format!(
            "action {action} is {}, not waiting for approval",
            latest.status().map_or("without a status", |s| s.as_str())
        ));
    }
    match latest.token() {
        Some(current) if same_token(current, token) => Check::Waiting {
            execution_id: stage_state
                .latest_execution()
                .map(|e| e.pipeline_execution_id().to_string())
                .filter(|id| !id.is_empty()),
        },
        Some(_) => Check::NotWaiting(format!(
            "action {action} waits for approval with another token than the message's"
        )),
        None => Check::NotWaiting(format!(
            "action {action} is in progress without an approval token (not a manual approval)"
        )),
    }
}

/// The GitHub client, made on the first GitHub source that needs it: `GITHUB_API_URL`, and the
/// token in `GITHUB_TOKEN_SECRET_ARN` (none: public repositories only).
pub struct LazyGitHub {
    api_url: String,
    token_secret: Option<String>,
    secrets: aws_sdk_secretsmanager::Client,
    client: tokio::sync::OnceCell<octocrab::Octocrab>,
}

/// How long one GitHub request may take (the mailer must not hang on GitHub).
const GITHUB_TIMEOUT: Duration = Duration::from_secs(5);

impl LazyGitHub {
    /// Checks `api_url` now (a typo fails at start-up); reads no secret yet.
    pub fn new(
        api_url: String,
        token_secret: Option<String>,
        secrets: aws_sdk_secretsmanager::Client,
    ) -> Result<Self, String> {
        tollgate::github::api_url(&api_url).map_err(|e| e.to_string())?;
        Ok(LazyGitHub {
            api_url,
            token_secret: token_secret.filter(|s| !s.trim().is_empty()),
            secrets,
            client: tokio::sync::OnceCell::new(),
        })
    }

    async fn build(&self) -> Result<octocrab::Octocrab, String> {
        let token = match &self.token_secret {
            None => None,
            Some(arn) => {
                let secret = self
                    .secrets
                    .get_secret_value()
                    .secret_id(arn)
                    .send()
                    .await
                    .map_err(|e| {
                        format!("cannot read the GitHub token secret: {}", error_text(&e))
                    })?;
                Some(
                    secret
                        .secret_string()
                        .and_then(tollgate::github::token_of_secret)
                        .ok_or("the GitHub token secret holds no token")?,
                )
            }
        };
        let timeouts = tollgate::github::Timeouts {
            connect: GITHUB_TIMEOUT,
            read: GITHUB_TIMEOUT,
        };
        tollgate::github::client(&self.api_url, token.as_deref(), timeouts)
            .map_err(|e| e.to_string())
    }

    /// The author email of `sha` in `repository` (`owner/repo`).
    pub async fn author(&self, repository: &str, sha: &str) -> Result<String, String> {
        let client = self.client.get_or_try_init(|| self.build()).await?;
        let route = format!(
            "/repos/{}/commits/{}",
            tollgate::github::path(repository),
            tollgate::github::path(sha)
        );
        let commit: serde_json::Value = client
            .get::<serde_json::Value, _, ()>(&route, None)
            .await
            .map_err(|e| github_error(repository, &e))?;
        commit["commit"]["author"]["email"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("GitHub's commit {sha} of {repository} has no author email"))
    }
}

fn github_error(repository: &str, err: &octocrab::Error) -> String {
    match err {
        octocrab::Error::GitHub { source, .. } => format!(
            "GitHub answered {} for {repository}: {}",
            source.status_code.as_u16(),
            source.message
        ),
        other => format!("GitHub could not be asked about {repository}: {other}"),
    }
}

/// [`Pipelines`] on CodePipeline, CodeCommit and GitHub.
pub struct AwsPipelines {
    pub codepipeline: aws_sdk_codepipeline::Client,
    pub codecommit: aws_sdk_codecommit::Client,
    pub github: LazyGitHub,
}

/// Where a source action's commits live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    CodeCommit { repository: String },
    GitHub { repository: String },
    Other(String),
}

/// The source (by provider and configuration) of the source action whose output artifact is
/// `artifact` (the only source action when `artifact` is not given or matches none).
pub fn source_of(
    pipeline: &aws_sdk_codepipeline::types::PipelineDeclaration,
    artifact: Option<&str>,
) -> Option<Source> {
    use aws_sdk_codepipeline::types::ActionCategory;
    let sources: Vec<_> = pipeline
        .stages()
        .iter()
        .flat_map(|s| s.actions())
        .filter(|a| {
            a.action_type_id()
                .is_some_and(|t| t.category() == &ActionCategory::Source)
        })
        .collect();
    let action = artifact
        .and_then(|name| {
            sources
                .iter()
                .find(|a| a.output_artifacts().iter().any(|o| o.name() == name))
        })
        .or_else(|| (sources.len() == 1).then(|| &sources[0]))?;
    let provider = action.action_type_id()?.provider();
    let config = |key: &str| {
        action
            .configuration()
            .and_then(|c| c.get(key))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    Some(match provider {
        "CodeCommit" => Source::CodeCommit {
            repository: config("RepositoryName")?,
        },
        // GitHub through a connection (FullRepositoryId owner/repo), or GitHub version 1.
        "CodeStarSourceConnection" | "CodeConnections" => Source::GitHub {
            repository: config("FullRepositoryId")?,
        },
        "GitHub" => Source::GitHub {
            repository: format!("{}/{}", config("Owner")?, config("Repo")?),
        },
        other => Source::Other(other.to_string()),
    })
}

impl AwsPipelines {
    async fn requester(
        &self,
        pipeline: &str,
        artifact: Option<&str>,
        revision_id: &str,
    ) -> Result<String, String> {
        let declared = self
            .codepipeline
            .get_pipeline()
            .name(pipeline)
            .send()
            .await
            .map_err(|e| format!("GetPipeline failed: {}", error_text(&e)))?;
        let declaration = declared
            .pipeline()
            .ok_or("GetPipeline answered without the pipeline")?;
        let email = match source_of(declaration, artifact) {
            Some(Source::CodeCommit { repository }) => self
                .codecommit
                .get_commit()
                .repository_name(&repository)
                .commit_id(revision_id)
                .send()
                .await
                .map_err(|e| format!("CodeCommit GetCommit failed: {}", error_text(&e)))?
                .commit()
                .and_then(|c| c.author())
                .and_then(|a| a.email())
                .map(str::to_string)
                .ok_or_else(|| {
                    format!("commit {revision_id} of {repository} has no author email")
                })?,
            Some(Source::GitHub { repository }) => {
                self.github.author(&repository, revision_id).await?
            }
            Some(Source::Other(provider)) => {
                return Err(format!(
                    "the source action's provider is {provider}: Tollgate reads commit authors from \
                     CodeCommit and GitHub only"
                ));
            }
            None => return Err("the pipeline's source action could not be identified".into()),
        };
        let email = email.trim().to_ascii_lowercase();
        if is_email_address(&email) {
            Ok(email)
        } else {
            Err(format!(
                "the commit author's email {email:?} is not an address"
            ))
        }
    }
}

impl Pipelines for AwsPipelines {
    async fn check(&self, target: &Target) -> Result<Check, CheckError> {
        let Target::CodePipeline { pipeline, .. } = target else {
            return Ok(Check::NotWaiting("not a CodePipeline approval".into()));
        };
        match self
            .codepipeline
            .get_pipeline_state()
            .name(pipeline)
            .send()
            .await
        {
            Ok(state) => Ok(check_state(&state, target)),
            Err(e) if e.code() == Some("PipelineNotFoundException") => Ok(Check::NotWaiting(
                format!("there is no pipeline {pipeline} in this account and region"),
            )),
            Err(e) if e.code() == Some("ValidationException") => Ok(Check::NotWaiting(format!(
                "CodePipeline refused the pipeline name: {}",
                error_text(&e)
            ))),
            Err(e) => Err(CheckError {
                pipeline: pipeline.clone(),
                reason: error_text(&e),
            }),
        }
    }

    async fn facts(&self, pipeline: &str, execution_id: Option<&str>) -> Facts {
        let Some(execution_id) = execution_id else {
            return Facts {
                execution_id: None,
                revision: None,
                requester: Requester::Unknown(
                    "CodePipeline did not say which execution waits".into(),
                ),
            };
        };
        let execution = match self
            .codepipeline
            .get_pipeline_execution()
            .pipeline_name(pipeline)
            .pipeline_execution_id(execution_id)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let why = format!("GetPipelineExecution failed: {}", error_text(&e));
                tracing::warn!(pipeline, execution_id, reason = %why, "source revision unknown");
                return Facts {
                    execution_id: Some(execution_id.to_string()),
                    revision: None,
                    requester: Requester::Unknown(why),
                };
            }
        };
        let first = execution
            .pipeline_execution()
            .and_then(|e| e.artifact_revisions().first());
        let Some(first) = first.filter(|r| r.revision_id().is_some_and(|id| !id.is_empty())) else {
            return Facts {
                execution_id: Some(execution_id.to_string()),
                revision: None,
                requester: Requester::Unknown("the execution has no source revision".into()),
            };
        };
        let revision = SourceRevision {
            revision_id: first.revision_id().unwrap_or_default().to_string(),
            summary: first.revision_summary().map(str::to_string),
            url: first.revision_url().map(str::to_string),
        };
        let requester = match self
            .requester(pipeline, first.name(), &revision.revision_id)
            .await
        {
            Ok(email) => Requester::Known(email),
            Err(why) => {
                tracing::warn!(pipeline, execution_id, reason = %why, "requester unknown");
                Requester::Unknown(why)
            }
        };
        Facts {
            execution_id: Some(execution_id.to_string()),
            revision: Some(revision),
            requester,
        }
    }
}

/// [`Pipelines`] for deployments and tests that take every notification as real and know
/// nothing more (the Step Functions-only tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct TrustingPipelines;

impl Pipelines for TrustingPipelines {
    async fn check(&self, _target: &Target) -> Result<Check, CheckError> {
        Ok(Check::Waiting { execution_id: None })
    }

    async fn facts(&self, _pipeline: &str, execution_id: Option<&str>) -> Facts {
        Facts {
            execution_id: execution_id.map(str::to_string),
            revision: None,
            requester: Requester::Unknown("not read in this configuration".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_codepipeline::operation::get_pipeline_state::GetPipelineStateOutput;
    use aws_sdk_codepipeline::types::{
        ActionExecution, ActionExecutionStatus, ActionState, StageExecution, StageExecutionStatus,
        StageState,
    };

    fn target(token: &str) -> Target {
        Target::CodePipeline {
            pipeline: "orders-api".into(),
            stage: "Approve".into(),
            action: "ReleaseManager".into(),
            token: token.into(),
        }
    }

    fn state(status: ActionExecutionStatus, token: Option<&str>) -> GetPipelineStateOutput {
        let mut execution = ActionExecution::builder().status(status);
        if let Some(t) = token {
            execution = execution.token(t);
        }
        GetPipelineStateOutput::builder()
            .pipeline_name("orders-api")
            .stage_states(
                StageState::builder()
                    .stage_name("Approve")
                    .latest_execution(
                        StageExecution::builder()
                            .pipeline_execution_id("e-1")
                            .status(StageExecutionStatus::InProgress)
                            .build()
                            .unwrap(),
                    )
                    .action_states(
                        ActionState::builder()
                            .action_name("ReleaseManager")
                            .latest_execution(execution.build())
                            .build(),
                    )
                    .build(),
            )
            .build()
    }

    #[test]
    fn the_action_waiting_with_exactly_this_token_is_a_real_request() {
        let got = check_state(
            &state(ActionExecutionStatus::InProgress, Some("tok-1")),
            &target("tok-1"),
        );
        assert_eq!(
            got,
            Check::Waiting {
                execution_id: Some("e-1".into())
            }
        );
    }

    #[test]
    fn another_token_a_finished_action_or_another_action_is_not_waiting_and_the_reason_has_no_token()
     {
        for (state, target) in [
            (
                state(ActionExecutionStatus::InProgress, Some("tok-current")),
                target("tok-forged"),
            ),
            (
                state(ActionExecutionStatus::Succeeded, Some("tok-1")),
                target("tok-1"),
            ),
            (
                state(ActionExecutionStatus::InProgress, None),
                target("tok-1"),
            ),
            (
                state(ActionExecutionStatus::InProgress, Some("tok-1")),
                Target::CodePipeline {
                    pipeline: "orders-api".into(),
                    stage: "Approve".into(),
                    action: "Other".into(),
                    token: "tok-1".into(),
                },
            ),
        ] {
            let Check::NotWaiting(why) = check_state(&state, &target) else {
                panic!("{target:?} was taken as waiting");
            };
            assert!(!why.contains("tok-"), "{why}");
        }
    }

    #[test]
    fn tokens_compare_exactly() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "abcd"));
    }

    fn declaration(
        provider: &str,
        config: &[(&str, &str)],
    ) -> aws_sdk_codepipeline::types::PipelineDeclaration {
        use aws_sdk_codepipeline::types::*;
        let mut action = ActionDeclaration::builder()
            .name("Source")
            .action_type_id(
                ActionTypeId::builder()
                    .category(ActionCategory::Source)
                    .owner(ActionOwner::Aws)
                    .provider(provider)
                    .version("1")
                    .build()
                    .unwrap(),
            )
            .output_artifacts(
                OutputArtifact::builder()
                    .name("SourceOutput")
                    .build()
                    .unwrap(),
            );
        for (k, v) in config {
            action = action.configuration(*k, *v);
        }
        PipelineDeclaration::builder()
            .name("orders-api")
            .role_arn("arn:aws:iam::123456789012:role/p")
            .stages(
                StageDeclaration::builder()
                    .name("Source")
                    .actions(action.build().unwrap())
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    }

    #[test]
    fn the_source_action_names_codecommit_or_github_repositories() {
        assert_eq!(
            source_of(
                &declaration("CodeCommit", &[("RepositoryName", "orders")]),
                Some("SourceOutput")
            ),
            Some(Source::CodeCommit {
                repository: "orders".into()
            })
        );
        assert_eq!(
            source_of(
                &declaration(
                    "CodeStarSourceConnection",
                    &[("FullRepositoryId", "octo-org/orders-api")]
                ),
                None
            ),
            Some(Source::GitHub {
                repository: "octo-org/orders-api".into()
            })
        );
        assert_eq!(
            source_of(&declaration("S3", &[("S3Bucket", "b")]), None),
            Some(Source::Other("S3".into()))
        );
    }

    // ------------------------------------------------------------------ AWS answered by mocks

    use aws_sdk_codepipeline::operation::get_pipeline::GetPipelineOutput;
    use aws_sdk_codepipeline::operation::get_pipeline_execution::GetPipelineExecutionOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use tollgate::testing::{aws_json_error, fast_retries};

    fn github_nowhere() -> LazyGitHub {
        let sdk = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
            .build();
        LazyGitHub::new(
            "http://127.0.0.1:9".into(),
            None,
            aws_sdk_secretsmanager::Client::from_conf(sdk),
        )
        .unwrap()
    }

    fn pipelines(
        codepipeline: aws_sdk_codepipeline::Client,
        codecommit: aws_sdk_codecommit::Client,
    ) -> AwsPipelines {
        AwsPipelines {
            codepipeline,
            codecommit,
            github: github_nowhere(),
        }
    }

    fn no_codecommit() -> aws_sdk_codecommit::Client {
        mock_client!(aws_sdk_codecommit, RuleMode::MatchAny, &[])
    }

    #[tokio::test]
    async fn a_pipeline_codepipeline_does_not_know_is_not_waiting() {
        let rule =
            mock!(aws_sdk_codepipeline::Client::get_pipeline_state).then_http_response(|| {
                aws_json_error(
                    400,
                    "PipelineNotFoundException",
                    "Account '123456789012' does not have a pipeline with name 'orders-api'",
                )
            });
        let cp = mock_client!(aws_sdk_codepipeline, RuleMode::MatchAny, [&rule]);
        let got = pipelines(cp, no_codecommit()).check(&target("tok-1")).await;
        assert!(matches!(got, Ok(Check::NotWaiting(_))), "{got:?}");
    }

    #[tokio::test]
    async fn codepipeline_failing_after_retries_is_an_error_not_a_confirmation() {
        let rule = mock!(aws_sdk_codepipeline::Client::get_pipeline_state)
            .then_http_response(|| aws_json_error(400, "ThrottlingException", "Rate exceeded"));
        let cp = mock_client!(aws_sdk_codepipeline, RuleMode::MatchAny, [&rule], |c| c
            .retry_config(fast_retries()));
        let err = pipelines(cp, no_codecommit())
            .check(&target("tok-secret"))
            .await
            .expect_err("not confirmed");
        assert!(err.to_string().contains("orders-api"), "{err}");
        assert!(!err.to_string().contains("tok-secret"), "{err}");
    }

    fn execution_of(revision: &str) -> GetPipelineExecutionOutput {
        use aws_sdk_codepipeline::types::{ArtifactRevision, PipelineExecution};
        GetPipelineExecutionOutput::builder()
            .pipeline_execution(
                PipelineExecution::builder()
                    .pipeline_execution_id("e-1")
                    .artifact_revisions(
                        ArtifactRevision::builder()
                            .name("SourceOutput")
                            .revision_id(revision)
                            .revision_summary("Ship it")
                            .build(),
                    )
                    .build(),
            )
            .build()
    }

    #[tokio::test]
    async fn a_codecommit_sources_requester_is_its_commit_author() {
        let execution = mock!(aws_sdk_codepipeline::Client::get_pipeline_execution)
            .then_output(|| execution_of("c0ffee"));
        let pipeline = mock!(aws_sdk_codepipeline::Client::get_pipeline).then_output(|| {
            GetPipelineOutput::builder()
                .pipeline(declaration("CodeCommit", &[("RepositoryName", "orders")]))
                .build()
        });
        let commit = mock!(aws_sdk_codecommit::Client::get_commit)
            .match_requests(|r| {
                r.repository_name() == Some("orders") && r.commit_id() == Some("c0ffee")
            })
            .then_output(|| {
                use aws_sdk_codecommit::types::{Commit, UserInfo};
                aws_sdk_codecommit::operation::get_commit::GetCommitOutput::builder()
                    .commit(
                        Commit::builder()
                            .author(UserInfo::builder().email("Alice@Example.com").build())
                            .build(),
                    )
                    .build()
            });
        let cp = mock_client!(
            aws_sdk_codepipeline,
            RuleMode::MatchAny,
            [&execution, &pipeline]
        );
        let cc = mock_client!(aws_sdk_codecommit, RuleMode::MatchAny, [&commit]);
        let facts = pipelines(cp, cc).facts("orders-api", Some("e-1")).await;
        assert_eq!(
            facts.requester,
            Requester::Known("alice@example.com".into())
        );
        assert_eq!(
            facts.revision.map(|r| r.revision_id),
            Some("c0ffee".to_string())
        );
    }

    #[tokio::test]
    async fn a_commit_that_cannot_be_read_leaves_the_requester_unknown() {
        let execution = mock!(aws_sdk_codepipeline::Client::get_pipeline_execution)
            .then_output(|| execution_of("c0ffee"));
        let pipeline = mock!(aws_sdk_codepipeline::Client::get_pipeline).then_output(|| {
            GetPipelineOutput::builder()
                .pipeline(declaration("CodeCommit", &[("RepositoryName", "orders")]))
                .build()
        });
        let commit = mock!(aws_sdk_codecommit::Client::get_commit).then_http_response(|| {
            aws_json_error(
                400,
                "CommitIdDoesNotExistException",
                "The specified commit ID does not exist.",
            )
        });
        let cp = mock_client!(
            aws_sdk_codepipeline,
            RuleMode::MatchAny,
            [&execution, &pipeline]
        );
        let cc = mock_client!(aws_sdk_codecommit, RuleMode::MatchAny, [&commit]);
        let facts = pipelines(cp, cc).facts("orders-api", Some("e-1")).await;
        let Requester::Unknown(why) = facts.requester else {
            panic!("a requester from a commit that could not be read");
        };
        assert!(why.contains("GetCommit"), "{why}");
    }
}
