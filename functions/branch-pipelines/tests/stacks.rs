//! Branch stacks against the sandbox (moto's CloudFormation really creates and deletes them) and a fake GitHub.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_codecommit::operation::get_branch::{GetBranchError, GetBranchOutput};
use aws_sdk_codecommit::operation::get_repository::GetRepositoryOutput;
use aws_sdk_codecommit::types::error::BranchDoesNotExistException;
use aws_sdk_codecommit::types::{BranchInfo, RepositoryMetadata};
use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};

use branch_pipelines::adapters::{AwsStacks, BranchTemplate, Branches, FixedSecret};
use branch_pipelines::filters::{BranchFilter, DEFAULT_INCLUDE, RepositoryFilter};
use branch_pipelines::handler::{Deps, Mode, Settings, record_key};
use branch_pipelines::webhook::sign;
use serde_json::{Value, json};
use tollgate::state::{DynamoStateStore, StateStore};
use tollgate_tests::{create_state_table, moto_config, moto_endpoint, unique};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "webhook-test-secret";
const TEMPLATE: &str = r#"
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  BranchName: {Type: String}
  RepositoryName: {Type: String}
  Team: {Type: String, Default: none}
Resources:
  Artifacts:
    Type: AWS::S3::Bucket
Outputs:
  Branch: {Value: !Ref BranchName}
"#;

type TestDeps = Deps<DynamoStateStore, AwsStacks, Branches, FixedSecret>;

/// The CodeCommit branches that exist (repository, branch), as GetBranch answers.
type Existing = Arc<Mutex<HashSet<(String, String)>>>;

/// CodeCommit as AWS documents it (moto has no GetBranch): GetBranch answers the branch when it is
/// in `existing`, else BranchDoesNotExistException; every repository's default branch is main.
fn codecommit_client(existing: Existing) -> aws_sdk_codecommit::Client {
    let get_branch =
        mock!(aws_sdk_codecommit::Client::get_branch).then_compute_response(move |r| {
            let key = (
                r.repository_name().unwrap_or_default().to_string(),
                r.branch_name().unwrap_or_default().to_string(),
            );
            let known = existing.lock().map(|e| e.contains(&key)).unwrap_or(false);
            if known {
                MockResponse::Output(
                    GetBranchOutput::builder()
                        .branch(
                            BranchInfo::builder()
                                .branch_name(key.1)
                                .commit_id("3f1c2a9e8b7d6c5f4e3d2c1b0a9f8e7d6c5b4a39")
                                .build(),
                        )
                        .build(),
                )
            } else {
                MockResponse::Error(GetBranchError::BranchDoesNotExistException(
                    BranchDoesNotExistException::builder()
                        .message(format!(
                            "Branch '{}' does not exist in repository '{}'",
                            key.1, key.0
                        ))
                        .build(),
                ))
            }
        });
    let get_repository = mock!(aws_sdk_codecommit::Client::get_repository).then_output(|| {
        GetRepositoryOutput::builder()
            .repository_metadata(RepositoryMetadata::builder().default_branch("main").build())
            .build()
    });
    mock_client!(
        aws_sdk_codecommit,
        RuleMode::MatchAny,
        [&get_branch, &get_repository]
    )
}

struct World {
    deps: TestDeps,
    existing: Existing,
    cfn: aws_sdk_cloudformation::Client,
    s3: aws_sdk_s3::Client,
    prefix: String,
}

fn short_prefix() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("bp{}x{n}", std::process::id() % 100_000)
}

async fn world(github_url: &str, max_stacks: usize) -> World {
    let sdk = moto_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique("bp-templates").to_lowercase();
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create template bucket");
    s3.put_object()
        .bucket(&bucket)
        .key("branch.yaml")
        .body(TEMPLATE.as_bytes().to_vec().into())
        .send()
        .await
        .expect("upload template");
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = create_state_table(&dynamo).await;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let prefix = short_prefix();
    let github = tollgate::github::client(
        github_url,
        None,
        branch_pipelines::adapters::GITHUB_TIMEOUTS,
    )
    .expect("a GitHub client");
    let existing = Existing::default();
    let deps = Deps {
        settings: Settings {
            prefix: prefix.clone(),
            template: BranchTemplate::Url(format!("https://s3.amazonaws.com/{bucket}/branch.yaml")),
            parameters: vec![("Team".into(), "payments".into())],
            role_arn: None,
            filter: BranchFilter::new(DEFAULT_INCLUDE, "feature/wip-*").expect("globs"),
            default_branch: "main".into(),
            max_stacks,
            ttl_days: 0,
            empty_buckets: true,
            repositories: RepositoryFilter::new("octo-org/*, o/r").expect("globs"),
            account: "123456789012".into(),
            mode: Mode::Both,
            include_drafts: false,
        },
        store: DynamoStateStore::new(dynamo, table),
        stacks: AwsStacks {
            cloudformation: cfn.clone(),
            s3: s3.clone(),
        },
        branches: Branches {
            codecommit: codecommit_client(existing.clone()),
            github,
            token: None,
        },
        secret: FixedSecret(SECRET.as_bytes().to_vec()),
    };
    World {
        deps,
        existing,
        cfn,
        s3,
        prefix,
    }
}

fn codecommit(event: &str, repository: &str, branch: &str) -> Value {
    json!({
        "version": "0", "id": unique("evt"), "detail-type": "CodeCommit Repository State Change",
        "source": "aws.codecommit", "account": "123456789012", "region": "us-east-1",
        "time": "2026-05-04T09:30:00Z",
        "detail": {"event": event, "referenceType": "branch", "referenceName": branch,
                   "referenceFullName": format!("refs/heads/{branch}"), "repositoryName": repository}
    })
}

fn github(event: &str, body: &Value, signature: Option<String>) -> Value {
    let body = body.to_string();
    let mut headers = json!({"x-github-event": event, "x-github-delivery": unique("delivery")});
    if let Some(sig) = signature {
        headers["x-hub-signature-256"] = json!(sig);
    }
    json!({"version": "2.0", "routeKey": "POST /webhooks/github", "rawPath": "/webhooks/github",
           "headers": headers, "requestContext": {"http": {"method": "POST"}},
           "body": body, "isBase64Encoded": false})
}

/// A GitHub whose repository `octo-org/orders-api` holds `branches` (each answered 200); every
/// other branch is 404 "Branch not found", as GitHub answers.
async fn github_with_branches(branches: &[&str]) -> MockServer {
    let server = MockServer::start().await;
    mount_branches(&server, branches).await;
    server
}

async fn mount_branches(server: &MockServer, branches: &[&str]) {
    Mock::given(method("GET"))
        .and(path("/repos/octo-org/orders-api"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"full_name": "octo-org/orders-api"})),
        )
        .mount(server)
        .await;
    for branch in branches {
        Mock::given(method("GET"))
            .and(path(format!(
                "/repos/octo-org/orders-api/branches/{branch}"
            )))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"name": branch})))
            .mount(server)
            .await;
    }
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"message": "Branch not found", "documentation_url": "https://docs.github.com"}),
        ))
        .with_priority(10)
        .mount(server)
        .await;
}

fn github_create(repository: &str, branch: &str) -> Value {
    json!({"ref": branch, "ref_type": "branch", "master_branch": "main",
           "repository": {"full_name": repository, "default_branch": "main"}})
}

impl World {
    /// Live stacks under this world's prefix: name -> (parameters, tags).
    async fn stacks(&self) -> Vec<aws_sdk_cloudformation::types::Stack> {
        let out = self
            .cfn
            .describe_stacks()
            .send()
            .await
            .expect("describe stacks");
        out.stacks()
            .iter()
            .filter(|s| {
                s.stack_name()
                    .is_some_and(|n| n.starts_with(&format!("{}-", self.prefix)))
            })
            .filter(|s| s.stack_status().map(|st| st.as_str()) != Some("DELETE_COMPLETE"))
            .cloned()
            .collect()
    }

    /// Handles `event`; a CodeCommit branch created or deleted is so in the repository first, as
    /// when CodeCommit sends the event.
    async fn handle(&self, event: Value) -> Value {
        if let (Some(change), Some(repository), Some(branch)) = (
            event["detail"]["event"].as_str(),
            event["detail"]["repositoryName"].as_str(),
            event["detail"]["referenceName"].as_str(),
        ) {
            let key = (repository.to_string(), branch.to_string());
            let mut existing = self.existing.lock().expect("lock");
            match change {
                "referenceCreated" => {
                    existing.insert(key);
                }
                "referenceDeleted" => {
                    existing.remove(&key);
                }
                _ => {}
            }
        }
        self.replay(event).await
    }

    /// Handles `event` as it is, whatever the repository holds (a replayed or stale event).
    async fn replay(&self, event: Value) -> Value {
        self.deps.handle(event).await.expect("handled")
    }
}

fn tag(stack: &aws_sdk_cloudformation::types::Stack, key: &str) -> Option<String> {
    stack
        .tags()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value().map(str::to_string))
}

fn parameter(stack: &aws_sdk_cloudformation::types::Stack, key: &str) -> Option<String> {
    stack
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some(key))
        .and_then(|p| p.parameter_value().map(str::to_string))
}

#[tokio::test]
async fn a_created_branch_gets_one_named_tagged_stack_even_when_delivered_twice() {
    let w = world("http://127.0.0.1:9", 20).await;
    let event = codecommit("referenceCreated", "orders-api", "feature/login#2");
    let first = w.handle(event.clone()).await;
    assert_eq!(first["outcome"], "created", "{first}");
    assert_eq!(w.handle(event).await["outcome"], "duplicate");
    // A new delivery of the same change (another event id) finds the stack.
    let again = w
        .handle(codecommit(
            "referenceCreated",
            "orders-api",
            "feature/login#2",
        ))
        .await;
    assert_eq!(again["outcome"], "already-exists", "{again}");

    let stacks = w.stacks().await;
    assert_eq!(stacks.len(), 1, "{stacks:?}");
    let stack = &stacks[0];
    let name = stack.stack_name().unwrap_or_default();
    assert!(
        name.starts_with(&format!("{}-feature-login-2-", w.prefix)),
        "{name}"
    );
    assert_eq!(
        parameter(stack, "BranchName").as_deref(),
        Some("feature/login#2")
    );
    assert_eq!(
        parameter(stack, "RepositoryName").as_deref(),
        Some("orders-api")
    );
    assert_eq!(parameter(stack, "Team").as_deref(), Some("payments"));
    assert_eq!(tag(stack, "tollgate:managed").as_deref(), Some("true"));
    assert_eq!(
        tag(stack, "tollgate:repository").as_deref(),
        Some("orders-api")
    );
    assert_eq!(
        tag(stack, "tollgate:branch").as_deref(),
        Some("feature/login=232")
    );
}

#[tokio::test]
async fn excluded_default_and_unincluded_branches_get_nothing() {
    let w = world("http://127.0.0.1:9", 20).await;
    for branch in ["feature/wip-1", "main", "release/1.0"] {
        let out = w
            .handle(codecommit("referenceCreated", "orders-api", branch))
            .await;
        assert_eq!(out["outcome"], "skipped", "{branch}: {out}");
    }
    let body = json!({"ref": "develop", "ref_type": "branch",
                      "repository": {"full_name": "o/r", "default_branch": "develop"}});
    let signature = sign(SECRET.as_bytes(), body.to_string().as_bytes());
    let out = w.handle(github("create", &body, Some(signature))).await;
    assert_eq!(out["statusCode"], 200);
    assert!(
        out["body"]
            .as_str()
            .unwrap_or_default()
            .contains("default branch"),
        "{out}"
    );
    assert!(w.stacks().await.is_empty());
}

#[tokio::test]
async fn deleting_the_branch_empties_its_bucket_then_removes_its_stack() {
    let w = world("http://127.0.0.1:9", 20).await;
    w.handle(codecommit("referenceCreated", "orders-api", "feature/gone"))
        .await;
    let stack = w.stacks().await.pop().expect("stack created");
    let resources = w
        .cfn
        .describe_stack_resources()
        .stack_name(stack.stack_id().unwrap_or_default())
        .send()
        .await
        .expect("resources");
    let bucket = resources
        .stack_resources()
        .iter()
        .find(|r| r.resource_type() == Some("AWS::S3::Bucket"))
        .and_then(|r| r.physical_resource_id())
        .expect("the stack's bucket")
        .to_string();
    w.s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
    for body in ["v1", "v2"] {
        w.s3.put_object()
            .bucket(&bucket)
            .key("artifact.zip")
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .expect("put");
    }

    let out = w
        .handle(codecommit("referenceDeleted", "orders-api", "feature/gone"))
        .await;
    assert_eq!(out["outcome"], "deleting", "{out}");
    assert_eq!(out["emptiedBuckets"], json!([bucket]));
    assert!(w.stacks().await.is_empty(), "stack still there");
    let left = w.s3.list_object_versions().bucket(&bucket).send().await;
    if let Ok(left) = left {
        assert!(
            left.versions().is_empty(),
            "versions left: {:?}",
            left.versions()
        );
    }
}

#[tokio::test]
async fn stacks_without_our_tags_or_of_another_branch_are_left_alone() {
    let w = world("http://127.0.0.1:9", 20).await;
    // A stack with the very name Tollgate would use, but created by someone else (no tags).
    let name = branch_pipelines::naming::stack_name(&w.prefix, "orders-api", "feature/theirs");
    w.cfn
        .create_stack()
        .stack_name(&name)
        .template_body(TEMPLATE)
        .parameters(
            aws_sdk_cloudformation::types::Parameter::builder()
                .parameter_key("BranchName")
                .parameter_value("x")
                .build(),
        )
        .parameters(
            aws_sdk_cloudformation::types::Parameter::builder()
                .parameter_key("RepositoryName")
                .parameter_value("y")
                .build(),
        )
        .send()
        .await
        .expect("foreign stack");
    let out = w
        .handle(codecommit(
            "referenceDeleted",
            "orders-api",
            "feature/theirs",
        ))
        .await;
    assert_eq!(out["outcome"], "not-ours", "{out}");

    // Tollgate's stack of another branch survives this branch's deletion and the sweep.
    w.handle(codecommit(
        "referenceCreated",
        "orders-api",
        "feature/other",
    ))
    .await;
    let out = w
        .handle(codecommit("referenceDeleted", "orders-api", "feature/mine"))
        .await;
    assert_eq!(out["outcome"], "nothing-to-delete", "{out}");
    assert_eq!(w.stacks().await.len(), 2);
}

#[tokio::test]
async fn creation_is_refused_once_the_cap_is_reached() {
    let w = world("http://127.0.0.1:9", 1).await;
    assert_eq!(
        w.handle(codecommit("referenceCreated", "r", "feature/one"))
            .await["outcome"],
        "created"
    );
    let out = w
        .handle(codecommit("referenceCreated", "r", "feature/two"))
        .await;
    assert_eq!(out["outcome"], "refused", "{out}");
    assert!(
        out["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("MAX_BRANCH_STACKS")
    );
    assert_eq!(w.stacks().await.len(), 1);
}

#[tokio::test]
async fn webhooks_need_a_valid_signature_and_ping_does_nothing() {
    let server = github_with_branches(&["feature/signed"]).await;
    let w = world(&server.uri(), 20).await;
    let body = github_create("octo-org/orders-api", "feature/signed");
    let wrong = sign(b"not the secret", body.to_string().as_bytes());
    for signature in [None, Some(wrong), Some("sha256=00".to_string())] {
        let out = w.handle(github("create", &body, signature.clone())).await;
        assert_eq!(out["statusCode"], 401, "{signature:?}: {out}");
    }
    assert!(
        w.stacks().await.is_empty(),
        "an unsigned request created a stack"
    );

    let ping = json!({"zen": "hi", "repository": {"full_name": "octo-org/orders-api"}});
    let out = w
        .handle(github(
            "ping",
            &ping,
            Some(sign(SECRET.as_bytes(), ping.to_string().as_bytes())),
        ))
        .await;
    assert_eq!(out["statusCode"], 200);
    assert!(w.stacks().await.is_empty());

    let good = sign(SECRET.as_bytes(), body.to_string().as_bytes());
    let out = w.handle(github("create", &body, Some(good))).await;
    assert_eq!(out["statusCode"], 200, "{out}");
    assert_eq!(w.stacks().await.len(), 1);
}

#[tokio::test]
async fn the_sweeper_removes_a_deleted_github_branchs_stack_and_keeps_a_live_one() {
    // Both branches exist when they are created; then feature/stale is deleted without a
    // `delete` delivery reaching Tollgate.
    let server = github_with_branches(&["feature/live", "feature/stale"]).await;
    let w = world(&server.uri(), 20).await;
    for branch in ["feature/live", "feature/stale"] {
        let body = github_create("octo-org/orders-api", branch);
        let signature = sign(SECRET.as_bytes(), body.to_string().as_bytes());
        let out = w.handle(github("create", &body, Some(signature))).await;
        assert_eq!(out["statusCode"], 200, "{out}");
    }
    assert_eq!(w.stacks().await.len(), 2);
    server.reset().await;
    mount_branches(&server, &["feature/live"]).await;

    let out = w.handle(json!({"id": "s", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}})).await;
    assert_eq!(out["kept"], 1, "{out}");
    let left = w.stacks().await;
    assert_eq!(left.len(), 1);
    assert_eq!(
        tag(&left[0], "tollgate:branch").as_deref(),
        Some("feature/live")
    );
    let _ = moto_endpoint();
}

#[tokio::test]
async fn the_sweeper_removes_a_stack_idle_longer_than_the_ttl_though_its_branch_still_exists() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"name": "exists"})))
        .mount(&server)
        .await;
    let mut w = world(&server.uri(), 20).await;
    w.deps.settings.ttl_days = 7;
    for branch in ["feature/quiet", "feature/busy"] {
        let body = github_create("octo-org/orders-api", branch);
        let signature = sign(SECRET.as_bytes(), body.to_string().as_bytes());
        let out = w.handle(github("create", &body, Some(signature))).await;
        assert_eq!(out["statusCode"], 200, "{out}");
    }
    let now = tollgate::state::epoch_seconds(std::time::SystemTime::now());
    // feature/quiet last saw an event 8 days ago; feature/busy 6 days ago.
    for (branch, days_ago) in [("feature/quiet", 8), ("feature/busy", 6)] {
        let (pk, sk) = record_key("octo-org/orders-api", branch);
        let record = w
            .deps
            .store
            .get(&pk, &sk)
            .await
            .expect("get")
            .expect("record");
        let mut data = record.data.clone();
        data["lastEvent"] = json!(now - days_ago * 86_400);
        let state = record.state.expect("state");
        w.deps
            .store
            .transition(&pk, &sk, &state, &state, Some(&data))
            .await
            .expect("backdate");
    }

    // A day earlier feature/quiet (7 days idle) was warned; feature/busy (5) was not.
    let out = w.deps.sweep_at(now - 86_400).await.expect("swept");
    assert_eq!(
        (out["kept"].clone(), out["warned"].clone()),
        (json!(2), json!(1)),
        "{out}"
    );
    let out = w.deps.sweep_at(now).await.expect("swept");
    assert_eq!(out["kept"], 1, "{out}");
    assert_eq!(
        out["destroyed"][0]["reason"], "idle longer than 7 days",
        "{out}"
    );
    let left = w.stacks().await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(
        tag(&left[0], "tollgate:branch").as_deref(),
        Some("feature/busy")
    );

    // With the TTL off (0), nothing is idle: the live branch's stack stays.
    w.deps.settings.ttl_days = 0;
    let out = w.deps.sweep_at(now + 365 * 86_400).await.expect("swept");
    assert_eq!(out["kept"], 1, "{out}");
    assert_eq!(w.stacks().await.len(), 1);
}

#[tokio::test]
async fn awkward_branch_names_get_stacks_with_valid_distinct_names() {
    let w = world("http://127.0.0.1:9", 20).await;
    let long = format!("feature/{}", "x".repeat(200));
    let branches = [
        "feature/a/b",
        "feature/a#b",
        "feature/a-b",
        "feature/../etc",
        "feature/ünïcødé",
        long.as_str(),
    ];
    for branch in branches {
        let out = w
            .handle(codecommit("referenceCreated", "orders-api", branch))
            .await;
        assert_eq!(out["outcome"], "created", "{branch}: {out}");
    }
    let stacks = w.stacks().await;
    let mut names: Vec<String> = stacks
        .iter()
        .map(|s| s.stack_name().unwrap_or_default().to_string())
        .collect();
    assert_eq!(names.len(), branches.len(), "{names:?}");
    for name in &names {
        // CloudFormation: a letter, then letters, digits and hyphens, at most 128 characters;
        // that is also a valid CodePipeline name (at most 100 characters of [A-Za-z0-9.@_-]).
        assert!(name.len() <= 100, "{name}");
        assert!(
            name.starts_with(|c: char| c.is_ascii_alphabetic()),
            "{name}"
        );
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{name}"
        );
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), branches.len(), "names are unique: {names:?}");
    // Each stack is given its branch's exact name, however its stack name was sanitised.
    let mut given: Vec<String> = stacks
        .iter()
        .filter_map(|s| parameter(s, "BranchName"))
        .collect();
    given.sort();
    let mut expected: Vec<String> = branches.iter().map(|b| b.to_string()).collect();
    expected.sort();
    assert_eq!(given, expected);
}

impl World {
    async fn record(&self, repository: &str, branch: &str) -> Option<tollgate::state::Record> {
        let (pk, sk) = record_key(repository, branch);
        self.deps.store.get(&pk, &sk).await.expect("get record")
    }

    async fn lose_record(&self, repository: &str, branch: &str) {
        let (pk, sk) = record_key(repository, branch);
        self.deps
            .store
            .delete(&pk, &sk)
            .await
            .expect("delete record");
        assert!(self.record(repository, branch).await.is_none());
    }
}

#[tokio::test]
async fn the_sweeper_keeps_a_stack_whose_record_cannot_be_read() {
    let mut w = world("http://127.0.0.1:9", 20).await;
    w.handle(codecommit("referenceCreated", "orders-api", "feature/busy"))
        .await;
    w.deps.settings.ttl_days = 1;
    // The table is unreachable (a name that does not exist): every read fails.
    let dynamo = aws_sdk_dynamodb::Client::new(&moto_config().await);
    w.deps.store = DynamoStateStore::new(dynamo, unique("no-such-table"));
    let now = tollgate::state::epoch_seconds(std::time::SystemTime::now());
    let out = w.deps.sweep_at(now + 90 * 86_400).await.expect("swept");
    assert_eq!(out["kept"], 1, "{out}");
    assert_eq!(out["destroyed"], json!([]), "{out}");
    assert_eq!(w.stacks().await.len(), 1);
}

#[tokio::test]
async fn the_sweeper_rebuilds_a_missing_record_as_active_now_and_only_a_later_proven_idleness_deletes()
 {
    let mut w = world("http://127.0.0.1:9", 20).await;
    w.handle(codecommit("referenceCreated", "orders-api", "feature/old"))
        .await;
    w.lose_record("orders-api", "feature/old").await;
    w.deps.settings.ttl_days = 7;
    let now = tollgate::state::epoch_seconds(std::time::SystemTime::now());
    // Though the stack is 90 "days" old, a lost record is never idleness.
    let out = w.deps.sweep_at(now + 90 * 86_400).await.expect("swept");
    assert_eq!(
        (out["kept"].clone(), out["repaired"].clone()),
        (json!(1), json!(1)),
        "{out}"
    );
    assert_eq!(w.stacks().await.len(), 1);
    let record = w
        .record("orders-api", "feature/old")
        .await
        .expect("rebuilt");
    assert_eq!(record.state.as_deref(), Some("ACTIVE"));
    assert_eq!(record.data["lastEvent"], json!(now + 90 * 86_400));
    assert!(
        record.data["stackId"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    // The rebuilt record is the evidence from then on: 7 more days of silence is a warning,
    // 8 is idle (warned a day before).
    let out = w.deps.sweep_at(now + 97 * 86_400).await.expect("swept");
    assert_eq!(out["warned"], 1, "{out}");
    let out = w.deps.sweep_at(now + 98 * 86_400).await.expect("swept");
    assert_eq!(
        out["destroyed"][0]["reason"], "idle longer than 7 days",
        "{out}"
    );
    assert!(w.stacks().await.is_empty());
}

#[tokio::test]
async fn a_redelivered_create_answered_already_exists_writes_the_lost_record() {
    let w = world("http://127.0.0.1:9", 20).await;
    w.handle(codecommit(
        "referenceCreated",
        "orders-api",
        "feature/retry",
    ))
    .await;
    // CreateStack succeeded but the record write failed: the record is absent.
    w.lose_record("orders-api", "feature/retry").await;
    let out = w
        .handle(codecommit(
            "referenceCreated",
            "orders-api",
            "feature/retry",
        ))
        .await;
    assert_eq!(out["outcome"], "already-exists", "{out}");
    let record = w
        .record("orders-api", "feature/retry")
        .await
        .expect("repaired");
    assert_eq!(record.state.as_deref(), Some("ACTIVE"));
    assert!(record.data["lastEvent"].as_i64().is_some());
}

#[tokio::test]
async fn a_push_to_a_branch_whose_record_is_missing_repairs_it() {
    let w = world("http://127.0.0.1:9", 20).await;
    w.handle(codecommit(
        "referenceCreated",
        "orders-api",
        "feature/pushed",
    ))
    .await;
    w.lose_record("orders-api", "feature/pushed").await;
    let out = w
        .handle(codecommit(
            "referenceUpdated",
            "orders-api",
            "feature/pushed",
        ))
        .await;
    assert_eq!(out["outcome"], "repaired", "{out}");
    let record = w
        .record("orders-api", "feature/pushed")
        .await
        .expect("repaired");
    assert_eq!(record.state.as_deref(), Some("ACTIVE"));
    // A push to a branch without any stack still changes nothing.
    let out = w
        .handle(codecommit("referenceUpdated", "orders-api", "feature/none"))
        .await;
    assert_eq!(out["outcome"], "skipped", "{out}");
    assert!(w.record("orders-api", "feature/none").await.is_none());
}

fn signed(event: &str, body: &Value) -> Value {
    github(
        event,
        body,
        Some(sign(SECRET.as_bytes(), body.to_string().as_bytes())),
    )
}

fn answer_body(out: &Value) -> Value {
    serde_json::from_str(out["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_replayed_codecommit_delete_for_a_branch_that_exists_keeps_its_stack() {
    let w = world("http://127.0.0.1:9", 20).await;
    let deleted = codecommit("referenceDeleted", "orders-api", "feature/back");
    w.handle(codecommit("referenceCreated", "orders-api", "feature/back"))
        .await;
    // The branch was deleted and re-created; the old delete event arrives (again) afterwards.
    let out = w.replay(deleted).await;
    assert_eq!(out["outcome"], "kept", "{out}");
    assert!(
        out["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("still exists"),
        "{out}"
    );
    assert_eq!(w.stacks().await.len(), 1);
}

#[tokio::test]
async fn a_replayed_github_delete_body_for_a_branch_that_exists_keeps_its_stack() {
    let server = github_with_branches(&["feature/again"]).await;
    let w = world(&server.uri(), 20).await;
    let out = w
        .handle(signed(
            "create",
            &github_create("octo-org/orders-api", "feature/again"),
        ))
        .await;
    assert_eq!(answer_body(&out)["outcome"], "created", "{out}");
    // A captured, validly signed delete body, replayed under a fresh delivery id.
    let delete = json!({"ref": "feature/again", "ref_type": "branch",
                        "repository": {"full_name": "octo-org/orders-api", "default_branch": "main"}});
    let out = w.handle(signed("delete", &delete)).await;
    assert_eq!(out["statusCode"], 200, "{out}");
    assert_eq!(answer_body(&out)["outcome"], "kept", "{out}");
    assert_eq!(w.stacks().await.len(), 1);
}

#[tokio::test]
async fn a_replayed_create_for_a_branch_that_no_longer_exists_creates_nothing() {
    let w = world("http://127.0.0.1:9", 20).await;
    // CodeCommit: the branch is gone when its (old) created event arrives.
    let out = w
        .replay(codecommit(
            "referenceCreated",
            "orders-api",
            "feature/ghost",
        ))
        .await;
    assert_eq!(out["outcome"], "skipped", "{out}");
    assert!(
        out["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("does not exist"),
        "{out}"
    );
    // GitHub: same, through the REST API.
    let server = github_with_branches(&[]).await;
    let w2 = world(&server.uri(), 20).await;
    let out = w2
        .handle(signed(
            "create",
            &github_create("octo-org/orders-api", "feature/ghost"),
        ))
        .await;
    assert_eq!(answer_body(&out)["outcome"], "skipped", "{out}");
    assert!(w.stacks().await.is_empty() && w2.stacks().await.is_empty());
}

#[tokio::test]
async fn a_delete_github_cannot_confirm_keeps_the_stack_for_the_sweep() {
    let server = github_with_branches(&["feature/flaky"]).await;
    let w = world(&server.uri(), 20).await;
    w.handle(signed(
        "create",
        &github_create("octo-org/orders-api", "feature/flaky"),
    ))
    .await;
    server.reset().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(403).set_body_json(
            json!({"message": "API rate limit exceeded", "documentation_url": "https://docs.github.com"}),
        ))
        .mount(&server)
        .await;
    let delete = json!({"ref": "feature/flaky", "ref_type": "branch",
                        "repository": {"full_name": "octo-org/orders-api", "default_branch": "main"}});
    let out = w.handle(signed("delete", &delete)).await;
    assert_eq!(answer_body(&out)["outcome"], "kept", "{out}");
    assert_eq!(w.stacks().await.len(), 1);
}

#[tokio::test]
async fn a_webhook_from_a_repository_outside_the_allow_list_changes_nothing() {
    let server = github_with_branches(&["feature/x"]).await;
    let mut w = world(&server.uri(), 20).await;
    for repository in ["evil-org/orders-api", "octo-org-evil/x"] {
        let out = w
            .handle(signed("create", &github_create(repository, "feature/x")))
            .await;
        assert_eq!(out["statusCode"], 200, "{out}");
        assert_eq!(answer_body(&out)["outcome"], "ignored", "{out}");
    }
    // An empty allow-list refuses every GitHub repository.
    w.deps.settings.repositories = RepositoryFilter::new("").expect("globs");
    let out = w
        .handle(signed(
            "create",
            &github_create("octo-org/orders-api", "feature/x"),
        ))
        .await;
    assert_eq!(answer_body(&out)["outcome"], "ignored", "{out}");
    assert!(
        answer_body(&out)["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("GITHUB_REPOSITORIES"),
        "{out}"
    );
    assert!(w.stacks().await.is_empty());
    assert!(
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty(),
        "GitHub was asked about a repository that is not allowed"
    );
}

#[tokio::test]
async fn a_codecommit_event_from_another_account_changes_nothing() {
    let w = world("http://127.0.0.1:9", 20).await;
    w.handle(codecommit(
        "referenceCreated",
        "orders-api",
        "feature/shared",
    ))
    .await;
    let mut foreign = codecommit("referenceDeleted", "orders-api", "feature/shared");
    foreign["account"] = json!("999999999999");
    // Even with the branch deleted in this account's repository, another account's event is no
    // evidence of anything.
    let out = w.handle(foreign.clone()).await;
    assert_eq!(out["outcome"], "ignored", "{out}");
    assert_eq!(w.stacks().await.len(), 1);
    foreign["detail"]["event"] = json!("referenceCreated");
    foreign["detail"]["referenceName"] = json!("feature/theirs");
    let out = w.handle(foreign).await;
    assert_eq!(out["outcome"], "ignored", "{out}");
    assert_eq!(w.stacks().await.len(), 1);
}
