//! Adapters behind small traits: `Stacks` (CloudFormation and S3 emptying), `BranchSource` (GitHub, CodeCommit), `SecretSource` (Secrets Manager).

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_cloudformation::types::{Capability, Parameter, Tag};
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::error::operation::BuildError;

use crate::events::Source;

/// A CloudFormation or S3 call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{action} failed: {reason}")]
pub struct AwsError {
    pub action: String,
    pub reason: String,
}

/// `Code: message` when AWS answered with an error, else the cause chain.
fn error_text<E, R>(err: &aws_sdk_cloudformation::error::SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    if let Some(service) = err.as_service_error()
        && let Some(code) = service.code()
    {
        return format!("{code}: {}", service.message().unwrap_or_default());
    }
    aws_smithy_types::error::display::DisplayErrorContext(err).to_string()
}

fn aws_error<E, R>(
    action: impl Into<String>,
    err: &aws_sdk_cloudformation::error::SdkError<E, R>,
) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    AwsError {
        action: action.into(),
        reason: error_text(err),
    }
}

fn build_error(action: &str, err: BuildError) -> AwsError {
    AwsError {
        action: action.into(),
        reason: err.to_string(),
    }
}

/// A stack as the handler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackInfo {
    pub id: String,
    pub name: String,
    pub status: String,
    pub tags: HashMap<String, String>,
    /// Epoch seconds.
    pub created: i64,
    /// Epoch seconds of the last update (the creation time when never updated).
    pub last_updated: i64,
    /// The stack's outputs (key, value), in CloudFormation's order.
    pub outputs: Vec<(String, String)>,
    pub parameters: HashMap<String, String>,
}

/// The sample branch pipeline (`templates/branch-pipeline.yaml`), built into the function: the
/// template every branch gets when `BRANCH_TEMPLATE_URL` is not set.
pub const SAMPLE_TEMPLATE: &str = include_str!("../../../templates/branch-pipeline.yaml");

/// Where a branch stack's template comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BranchTemplate {
    /// The team's template, an `https://` S3 URL (`BRANCH_TEMPLATE_URL`).
    Url(String),
    /// [`SAMPLE_TEMPLATE`], sent as the template body.
    Sample,
}

/// What to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStack {
    pub name: String,
    pub template: BranchTemplate,
    pub parameters: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    pub role_arn: Option<String>,
    /// Idempotency token: a repeated call with it creates nothing more.
    pub token: String,
}

/// CloudFormation stacks and the S3 buckets they own.
pub trait Stacks: Send + Sync {
    /// The live stack of that name (none when absent or `DELETE_COMPLETE`).
    fn find(&self, name: &str) -> impl Future<Output = Result<Option<StackInfo>, AwsError>> + Send;
    /// The stack of that id (or name), deleted or not (`None` when CloudFormation does not know it).
    fn describe(
        &self,
        stack_id: &str,
    ) -> impl Future<Output = Result<Option<StackInfo>, AwsError>> + Send;
    /// The stack's most recent events, newest first (at most [`MAX_STACK_EVENTS_PAGES`] pages).
    fn recent_events(
        &self,
        stack_id: &str,
    ) -> impl Future<Output = Result<Vec<crate::status::StackEvent>, AwsError>> + Send;
    /// Every live stack whose name starts with `prefix`.
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<StackInfo>, AwsError>> + Send;
    /// Creates the stack; returns its id. An existing stack of that name is not an error: its id
    /// is returned.
    fn create(&self, stack: &NewStack) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// Deletes every object version of every `AWS::S3::Bucket` of the stack; returns the buckets.
    fn empty_buckets(
        &self,
        stack_id: &str,
    ) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;
    fn delete(
        &self,
        stack_id: &str,
        role_arn: Option<&str>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// The stack's resources whose deletion failed: (logical id, CloudFormation's reason).
    fn failed_resources(
        &self,
        stack_id: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, AwsError>> + Send;
    /// Sets one parameter of a live stack, keeping its template and every other value. `Ok(false)`:
    /// the stack's template does not declare `key`, or nothing changed.
    fn update_parameter(
        &self,
        stack_id: &str,
        role_arn: Option<&str>,
        key: &str,
        value: &str,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// Deletes a `DELETE_FAILED` stack, leaving `retain` (logical ids) in place.
    fn delete_retaining(
        &self,
        stack_id: &str,
        role_arn: Option<&str>,
        retain: &[String],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// The production [`Stacks`].
#[derive(Debug, Clone)]
pub struct AwsStacks {
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
}

fn stack_info(stack: &aws_sdk_cloudformation::types::Stack) -> StackInfo {
    StackInfo {
        id: stack.stack_id().unwrap_or_default().to_string(),
        name: stack.stack_name().unwrap_or_default().to_string(),
        status: stack
            .stack_status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        tags: stack
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect(),
        created: stack.creation_time().map(|t| t.secs()).unwrap_or(0),
        last_updated: stack
            .last_updated_time()
            .or(stack.creation_time())
            .map(|t| t.secs())
            .unwrap_or(0),
        outputs: stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
            .collect(),
        parameters: stack
            .parameters()
            .iter()
            .filter_map(|p| {
                Some((
                    p.parameter_key()?.to_string(),
                    p.parameter_value()?.to_string(),
                ))
            })
            .collect(),
    }
}

/// Stack events read at most, newest first, to find a failed resource (two pages).
pub const MAX_STACK_EVENTS_PAGES: usize = 2;

impl Stacks for AwsStacks {
    async fn find(&self, name: &str) -> Result<Option<StackInfo>, AwsError> {
        match self
            .cloudformation
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .stacks()
                .iter()
                .map(stack_info)
                .find(|s| s.status != "DELETE_COMPLETE")),
            Err(e) if error_text(&e).contains("does not exist") => Ok(None),
            Err(e) => Err(aws_error(format!("DescribeStacks {name}"), &e)),
        }
    }

    async fn describe(&self, stack_id: &str) -> Result<Option<StackInfo>, AwsError> {
        match self
            .cloudformation
            .describe_stacks()
            .stack_name(stack_id)
            .send()
            .await
        {
            Ok(out) => Ok(out.stacks().first().map(stack_info)),
            Err(e) if error_text(&e).contains("does not exist") => Ok(None),
            Err(e) => Err(aws_error(format!("DescribeStacks {stack_id}"), &e)),
        }
    }

    async fn recent_events(
        &self,
        stack_id: &str,
    ) -> Result<Vec<crate::status::StackEvent>, AwsError> {
        let mut events = Vec::new();
        let mut pages = self
            .cloudformation
            .describe_stack_events()
            .stack_name(stack_id)
            .into_paginator()
            .send();
        for _ in 0..MAX_STACK_EVENTS_PAGES {
            let Some(page) = pages.next().await else {
                break;
            };
            let page =
                page.map_err(|e| aws_error(format!("DescribeStackEvents {stack_id}"), &e))?;
            events.extend(page.stack_events().iter().map(|e| {
                crate::status::StackEvent {
                    logical_id: e.logical_resource_id().unwrap_or_default().to_string(),
                    resource_type: e.resource_type().unwrap_or_default().to_string(),
                    status: e
                        .resource_status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    reason: e.resource_status_reason().unwrap_or_default().to_string(),
                }
            }));
        }
        Ok(events)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<StackInfo>, AwsError> {
        let mut stacks = Vec::new();
        let mut pages = self
            .cloudformation
            .describe_stacks()
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("DescribeStacks", &e))?;
            stacks.extend(
                page.stacks()
                    .iter()
                    .map(stack_info)
                    .filter(|s| s.name.starts_with(prefix) && s.status != "DELETE_COMPLETE"),
            );
        }
        Ok(stacks)
    }

    async fn create(&self, stack: &NewStack) -> Result<String, AwsError> {
        let mut request = self
            .cloudformation
            .create_stack()
            .stack_name(&stack.name)
            .set_template_url(match &stack.template {
                BranchTemplate::Url(url) => Some(url.clone()),
                BranchTemplate::Sample => None,
            })
            .set_template_body(match &stack.template {
                BranchTemplate::Url(_) => None,
                BranchTemplate::Sample => Some(SAMPLE_TEMPLATE.to_string()),
            })
            .client_request_token(&stack.token)
            .capabilities(Capability::CapabilityIam)
            .capabilities(Capability::CapabilityNamedIam)
            .capabilities(Capability::CapabilityAutoExpand)
            .set_role_arn(stack.role_arn.clone());
        for (k, v) in &stack.parameters {
            request = request.parameters(
                Parameter::builder()
                    .parameter_key(k)
                    .parameter_value(v)
                    .build(),
            );
        }
        for (k, v) in &stack.tags {
            request = request.tags(Tag::builder().key(k).value(v).build());
        }
        match request.send().await {
            Ok(out) => Ok(out.stack_id().unwrap_or_default().to_string()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_already_exists_exception()) =>
            {
                Ok(self
                    .find(&stack.name)
                    .await?
                    .map(|s| s.id)
                    .unwrap_or_default())
            }
            Err(e) => Err(aws_error(format!("CreateStack {}", stack.name), &e)),
        }
    }

    async fn empty_buckets(&self, stack_id: &str) -> Result<Vec<String>, AwsError> {
        let resources = self
            .cloudformation
            .describe_stack_resources()
            .stack_name(stack_id)
            .send()
            .await
            .map_err(|e| aws_error(format!("DescribeStackResources {stack_id}"), &e))?;
        let buckets: Vec<String> = resources
            .stack_resources()
            .iter()
            .filter(|r| r.resource_type() == Some("AWS::S3::Bucket"))
            .filter_map(|r| r.physical_resource_id().map(str::to_string))
            .collect();
        for bucket in &buckets {
            self.empty_bucket(bucket).await?;
        }
        Ok(buckets)
    }

    async fn delete(&self, stack_id: &str, role_arn: Option<&str>) -> Result<(), AwsError> {
        self.cloudformation
            .delete_stack()
            .stack_name(stack_id)
            .set_role_arn(role_arn.map(str::to_string))
            .send()
            .await
            .map_err(|e| aws_error(format!("DeleteStack {stack_id}"), &e))?;
        Ok(())
    }

    async fn update_parameter(
        &self,
        stack_id: &str,
        role_arn: Option<&str>,
        key: &str,
        value: &str,
    ) -> Result<bool, AwsError> {
        let out = self
            .cloudformation
            .describe_stacks()
            .stack_name(stack_id)
            .send()
            .await
            .map_err(|e| aws_error(format!("DescribeStacks {stack_id}"), &e))?;
        let Some(stack) = out.stacks().first() else {
            return Ok(false);
        };
        let keys: Vec<String> = stack
            .parameters()
            .iter()
            .filter_map(|p| p.parameter_key().map(str::to_string))
            .collect();
        if !keys.iter().any(|k| k == key) {
            return Ok(false);
        }
        let mut request = self
            .cloudformation
            .update_stack()
            .stack_name(stack_id)
            .use_previous_template(true)
            .capabilities(Capability::CapabilityIam)
            .capabilities(Capability::CapabilityNamedIam)
            .capabilities(Capability::CapabilityAutoExpand)
            .set_role_arn(role_arn.map(str::to_string))
            .set_tags(Some(stack.tags().to_vec()));
        for k in &keys {
            let parameter = if k == key {
                Parameter::builder().parameter_key(k).parameter_value(value)
            } else {
                Parameter::builder()
                    .parameter_key(k)
                    .use_previous_value(true)
            };
            request = request.parameters(parameter.build());
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if error_text(&e).contains("No updates are to be performed") => Ok(false),
            Err(e) => Err(aws_error(format!("UpdateStack {stack_id}"), &e)),
        }
    }

    async fn failed_resources(&self, stack_id: &str) -> Result<Vec<(String, String)>, AwsError> {
        let resources = self
            .cloudformation
            .describe_stack_resources()
            .stack_name(stack_id)
            .send()
            .await
            .map_err(|e| aws_error(format!("DescribeStackResources {stack_id}"), &e))?;
        Ok(resources
            .stack_resources()
            .iter()
            .filter(|r| r.resource_status().map(|s| s.as_str()) == Some("DELETE_FAILED"))
            .map(|r| {
                (
                    r.logical_resource_id().unwrap_or_default().to_string(),
                    r.resource_status_reason().unwrap_or_default().to_string(),
                )
            })
            .filter(|(id, _)| !id.is_empty())
            .collect())
    }

    async fn delete_retaining(
        &self,
        stack_id: &str,
        role_arn: Option<&str>,
        retain: &[String],
    ) -> Result<(), AwsError> {
        self.cloudformation
            .delete_stack()
            .stack_name(stack_id)
            .set_role_arn(role_arn.map(str::to_string))
            .set_retain_resources(Some(retain.to_vec()))
            .send()
            .await
            .map_err(|e| aws_error(format!("DeleteStack {stack_id} (retaining)"), &e))?;
        Ok(())
    }
}

impl AwsStacks {
    async fn empty_bucket(&self, bucket: &str) -> Result<(), AwsError> {
        loop {
            let listed = match self.s3.list_object_versions().bucket(bucket).send().await {
                Ok(listed) => listed,
                // Already gone (deleted by hand, or never created): nothing to empty.
                Err(e) if error_text(&e).contains("NoSuchBucket") => return Ok(()),
                Err(e) => return Err(aws_error(format!("ListObjectVersions {bucket}"), &e)),
            };
            let mut ids = Vec::new();
            let versions = listed
                .versions()
                .iter()
                .map(|v| (v.key(), v.version_id()))
                .chain(
                    listed
                        .delete_markers()
                        .iter()
                        .map(|m| (m.key(), m.version_id())),
                );
            for (key, version) in versions {
                let Some(key) = key else { continue };
                let id = ObjectIdentifier::builder()
                    .key(key)
                    .set_version_id(version.map(str::to_string))
                    .build()
                    .map_err(|e| build_error("ObjectIdentifier", e))?;
                ids.push(id);
            }
            if ids.is_empty() {
                return Ok(());
            }
            let delete = Delete::builder()
                .set_objects(Some(ids))
                .quiet(true)
                .build()
                .map_err(|e| build_error("Delete", e))?;
            let out = self
                .s3
                .delete_objects()
                .bucket(bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| aws_error(format!("DeleteObjects {bucket}"), &e))?;
            if let Some(first) = out.errors().first() {
                return Err(AwsError {
                    action: format!("DeleteObjects {bucket}"),
                    reason: format!(
                        "{} errors, first: {} {}",
                        out.errors().len(),
                        first.key().unwrap_or_default(),
                        first.message().unwrap_or_default()
                    ),
                });
            }
        }
    }
}

// ---------------------------------------------------------------------------- branches

/// Whether a branch still exists, and a repository's default branch.
pub trait BranchSource: Send + Sync {
    /// `Ok(false)` only when the repository is visible and the branch is not in it.
    fn exists(
        &self,
        source: Source,
        repository: &str,
        branch: &str,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// Creates or edits the pull request's one status comment (found by [`crate::comment::MARKER`]).
    fn status_comment(
        &self,
        repository: &str,
        number: u64,
        body: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Whether the pull request carries `label` (GitHub's issue labels).
    fn has_label(
        &self,
        repository: &str,
        number: u64,
        label: &str,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// A CodeCommit repository's default branch (`None` when it has none yet).
    fn default_branch(
        &self,
        repository: &str,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
}

/// The production [`BranchSource`]: CodeCommit's GetRepository/GetBranch and GitHub's REST API.
#[derive(Debug)]
pub struct Branches {
    pub codecommit: aws_sdk_codecommit::Client,
    /// GitHub without a token (public repositories), or the client tests give.
    pub github: octocrab::Octocrab,
    /// The token, read from Secrets Manager on the first GitHub call (not at start-up); `None`:
    /// `github` is used as it is.
    pub token: Option<GitHubToken>,
}

/// A GitHub token in a Secrets Manager secret, and the client made with it once it is read.
#[derive(Debug)]
pub struct GitHubToken {
    secret: SecretsManagerSecret,
    api_url: String,
    client: tokio::sync::OnceCell<octocrab::Octocrab>,
}

impl GitHubToken {
    pub fn new(secret: SecretsManagerSecret, api_url: impl Into<String>) -> Self {
        GitHubToken {
            secret,
            api_url: api_url.into(),
            client: tokio::sync::OnceCell::new(),
        }
    }
}

/// How long a connection to GitHub may take to open, and how long a response may leave a read
/// waiting (the function has 60 s in all).
pub const GITHUB_TIMEOUTS: tollgate::github::Timeouts = tollgate::github::Timeouts {
    connect: std::time::Duration::from_secs(5),
    read: std::time::Duration::from_secs(10),
};

fn is_not_found(err: &octocrab::Error) -> bool {
    matches!(err, octocrab::Error::GitHub { source, .. } if source.status_code.as_u16() == 404)
}

impl Branches {
    /// The GitHub client: with the token once read (a token that cannot be read is an error:
    /// never silently anonymous).
    async fn github(&self) -> Result<&octocrab::Octocrab, AwsError> {
        let Some(token) = &self.token else {
            return Ok(&self.github);
        };
        token
            .client
            .get_or_try_init(|| async {
                let text = token.secret.optional_text().await?;
                if text.is_none() {
                    tracing::warn!(secret = %token.secret.secret_id, "the GitHub token secret holds no token yet: GitHub is called without one (public repositories only, no pull request comment)");
                }
                tollgate::github::client(&token.api_url, text.as_deref(), GITHUB_TIMEOUTS).map_err(|e| AwsError {
                    action: "GitHub client".into(),
                    reason: e.to_string(),
                })
            })
            .await
    }

    async fn github_exists(&self, repository: &str, branch: &str) -> Result<bool, AwsError> {
        let github = self.github().await?;
        let error = |what: &str, e: &octocrab::Error| AwsError {
            action: format!("GitHub {what}"),
            reason: e.to_string(),
        };
        let repo_route = format!("/repos/{}", tollgate::github::path(repository));
        // A repository we cannot see is not evidence that the branch is gone: fail closed.
        github
            .get::<serde_json::Value, _, ()>(&repo_route, None)
            .await
            .map_err(|e| error(&format!("repository {repository}"), &e))?;
        if let Some(number) = crate::events::pull_request_number(branch) {
            // A pull request's stack lives while the pull request is open.
            let route = format!("{repo_route}/pulls/{number}");
            return match github.get::<serde_json::Value, _, ()>(&route, None).await {
                Ok(pr) => Ok(pr.get("state").and_then(serde_json::Value::as_str) == Some("open")),
                Err(e) if is_not_found(&e) => Ok(false),
                Err(e) => Err(error(&format!("pull request {number}"), &e)),
            };
        }
        let route = format!("{repo_route}/branches/{}", tollgate::github::path(branch));
        match github.get::<serde_json::Value, _, ()>(&route, None).await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(error(&format!("branch {branch}"), &e)),
        }
    }
}

impl BranchSource for Branches {
    async fn exists(
        &self,
        source: Source,
        repository: &str,
        branch: &str,
    ) -> Result<bool, AwsError> {
        match source {
            Source::GitHub => self.github_exists(repository, branch).await,
            Source::CodeCommit => {
                match self
                    .codecommit
                    .get_branch()
                    .repository_name(repository)
                    .branch_name(branch)
                    .send()
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_branch_does_not_exist_exception()) =>
                    {
                        Ok(false)
                    }
                    Err(e) => Err(aws_error(format!("GetBranch {repository} {branch}"), &e)),
                }
            }
        }
    }

    async fn status_comment(
        &self,
        repository: &str,
        number: u64,
        body: &str,
    ) -> Result<(), AwsError> {
        let github = self.github().await?;
        let error = |what: &str, e: &octocrab::Error| AwsError {
            action: format!("GitHub {what} {repository}#{number}"),
            reason: e.to_string(),
        };
        let issue = format!(
            "/repos/{}/issues/{number}/comments",
            tollgate::github::path(repository)
        );
        // At most 10 pages of 100: a pull request with more comments gets a new status comment.
        let mut found = None;
        for page in 1..=10u32 {
            let comments: Vec<serde_json::Value> = github
                .get(
                    &issue,
                    Some(&[("per_page", "100"), ("page", &page.to_string())]),
                )
                .await
                .map_err(|e| error("list comments", &e))?;
            found = comments.iter().find_map(|c| {
                let text = c.get("body").and_then(serde_json::Value::as_str)?;
                text.contains(crate::comment::MARKER)
                    .then(|| c.get("id").and_then(serde_json::Value::as_u64))
                    .flatten()
            });
            if found.is_some() || comments.len() < 100 {
                break;
            }
        }
        let payload = serde_json::json!({ "body": body });
        match found {
            Some(id) => {
                let route = format!(
                    "/repos/{}/issues/comments/{id}",
                    tollgate::github::path(repository)
                );
                github
                    .patch::<serde_json::Value, _, _>(&route, Some(&payload))
                    .await
                    .map_err(|e| error("edit comment", &e))?;
            }
            None => {
                github
                    .post::<_, serde_json::Value>(&issue, Some(&payload))
                    .await
                    .map_err(|e| error("comment", &e))?;
            }
        }
        Ok(())
    }

    async fn has_label(
        &self,
        repository: &str,
        number: u64,
        label: &str,
    ) -> Result<bool, AwsError> {
        let github = self.github().await?;
        let route = format!(
            "/repos/{}/issues/{number}/labels",
            tollgate::github::path(repository)
        );
        let labels: Vec<serde_json::Value> = github
            .get(&route, Some(&[("per_page", "100")]))
            .await
            .map_err(|e| AwsError {
                action: format!("GitHub labels {repository}#{number}"),
                reason: e.to_string(),
            })?;
        Ok(labels
            .iter()
            .any(|l| l.get("name").and_then(serde_json::Value::as_str) == Some(label)))
    }

    async fn default_branch(&self, repository: &str) -> Result<Option<String>, AwsError> {
        let out = self
            .codecommit
            .get_repository()
            .repository_name(repository)
            .send()
            .await
            .map_err(|e| aws_error(format!("GetRepository {repository}"), &e))?;
        Ok(out
            .repository_metadata()
            .and_then(|m| m.default_branch())
            .map(str::to_string))
    }
}

// ---------------------------------------------------------------------------- secrets

/// Where the webhook secret comes from.
pub trait SecretSource: Send + Sync {
    fn webhook_secret(&self) -> impl Future<Output = Result<Vec<u8>, AwsError>> + Send;
}

/// A fixed secret (tests).
#[derive(Debug, Clone)]
pub struct FixedSecret(pub Vec<u8>);

impl SecretSource for FixedSecret {
    async fn webhook_secret(&self) -> Result<Vec<u8>, AwsError> {
        Ok(self.0.clone())
    }
}

/// [`SecretSource`] reading a Secrets Manager secret once per cold start.
#[derive(Debug)]
pub struct SecretsManagerSecret {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    cached: tokio::sync::OnceCell<Vec<u8>>,
}

impl SecretsManagerSecret {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        SecretsManagerSecret {
            client,
            secret_id: secret_id.into(),
            cached: tokio::sync::OnceCell::new(),
        }
    }

    /// The secret's text (also used for the optional GitHub token).
    pub async fn text(&self) -> Result<String, AwsError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| aws_error(format!("GetSecretValue {}", self.secret_id), &e))?;
        out.secret_string()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AwsError {
                action: format!("GetSecretValue {}", self.secret_id),
                reason: "the secret has no SecretString".into(),
            })
    }
}

impl SecretsManagerSecret {
    /// The secret's text; `None` when the secret exists but holds no value yet (the template
    /// creates the token's secret empty) or an empty one.
    pub async fn optional_text(&self) -> Result<Option<String>, AwsError> {
        match self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .secret_string()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())),
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_resource_not_found_exception()
                        && s.meta()
                            .message()
                            .is_some_and(|m| m.contains("secret value"))
                }) =>
            {
                Ok(None)
            }
            Err(e) => Err(aws_error(format!("GetSecretValue {}", self.secret_id), &e)),
        }
    }
}

impl SecretSource for SecretsManagerSecret {
    async fn webhook_secret(&self) -> Result<Vec<u8>, AwsError> {
        self.cached
            .get_or_try_init(|| async { self.text().await.map(String::into_bytes) })
            .await
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_sample_takes_the_branch_parameters_and_fits_a_template_body() {
        // CloudFormation takes a TemplateBody of at most 51,200 bytes.
        assert!(SAMPLE_TEMPLATE.len() < 51_200, "{}", SAMPLE_TEMPLATE.len());
        let parameters = SAMPLE_TEMPLATE
            .split("\nParameters:\n")
            .nth(1)
            .and_then(|rest| rest.split("\nResources:").next())
            .expect("a Parameters section");
        let names: Vec<&str> = parameters
            .lines()
            .filter(|l| l.starts_with("  ") && !l.starts_with("   ") && l.trim_end().ends_with(':'))
            .map(|l| l.trim().trim_end_matches(':'))
            .collect();
        assert!(
            names.contains(&"BranchName") && names.contains(&"RepositoryName"),
            "{names:?}"
        );
    }
}
