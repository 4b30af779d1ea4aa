//! Pull-request previews against moto's CloudFormation and a GitHub fake that keeps state (the
//! pull request's state and its comments): opened -> a stack and one comment, synchronize -> the
//! same comment edited and HeadSha updated, closed -> the stack deleted and the comment saying so.

use std::sync::{Arc, Mutex};

use aws_sdk_cloudformation::types::Stack;
use branch_pipelines::adapters::{AwsStacks, BranchTemplate, Branches, FixedSecret};
use branch_pipelines::comment::MARKER;
use branch_pipelines::filters::{BranchFilter, DEFAULT_INCLUDE, RepositoryFilter};
use branch_pipelines::handler::{Deps, Mode, Settings};
use branch_pipelines::webhook::sign;
use serde_json::{Value, json};
use tollgate::state::DynamoStateStore;
use tollgate_tests::{create_state_table, moto_config, unique};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SECRET: &str = "pr-test-secret";
const REPO: &str = "octo-org/orders-api";
const TEMPLATE: &str = r#"
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  BranchName: {Type: String}
  RepositoryName: {Type: String}
  PullRequestNumber: {Type: String, Default: ""}
  HeadSha: {Type: String, Default: ""}
Resources:
  Artifacts:
    Type: AWS::S3::Bucket
Outputs:
  Url: {Value: !Sub "https://${HeadSha}.preview.example.com"}
"#;

#[derive(Default)]
struct GitHubState {
    /// Pull request number -> "open" | "closed".
    pulls: Vec<(u64, String)>,
    /// (id, body)
    comments: Vec<(u64, String)>,
    posts: usize,
    edits: usize,
}

#[derive(Clone, Default)]
struct FakeGitHub(Arc<Mutex<GitHubState>>);

impl Respond for FakeGitHub {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().expect("lock");
        let path = request.url.path().to_string();
        let method = request.method.as_str().to_string();
        let not_found = ResponseTemplate::new(404).set_body_json(
            json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}),
        );
        let repo = format!("/repos/{REPO}");
        if method == "GET" && path == repo {
            return ResponseTemplate::new(200).set_body_json(json!({"full_name": REPO}));
        }
        if let Some(n) = path.strip_prefix(&format!("{repo}/pulls/")) {
            return match state.pulls.iter().find(|(k, _)| k.to_string() == n) {
                Some((number, s)) => {
                    ResponseTemplate::new(200).set_body_json(json!({"number": number, "state": s}))
                }
                None => not_found,
            };
        }
        if path.starts_with(&format!("{repo}/issues/")) && path.ends_with("/comments") {
            if method == "GET" {
                let list: Vec<Value> = state
                    .comments
                    .iter()
                    .map(|(id, body)| json!({"id": id, "body": body}))
                    .collect();
                return ResponseTemplate::new(200).set_body_json(list);
            }
            let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            let id = 1000 + state.comments.len() as u64;
            state
                .comments
                .push((id, body["body"].as_str().unwrap_or_default().to_string()));
            state.posts += 1;
            return ResponseTemplate::new(201)
                .set_body_json(json!({"id": id, "body": body["body"]}));
        }
        if let Some(id) = path.strip_prefix(&format!("{repo}/issues/comments/")) {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            let text = body["body"].as_str().unwrap_or_default().to_string();
            state.edits += 1;
            return match state.comments.iter_mut().find(|(k, _)| k.to_string() == id) {
                Some(comment) => {
                    comment.1 = text;
                    ResponseTemplate::new(200).set_body_json(json!({"id": comment.0}))
                }
                None => not_found,
            };
        }
        not_found
    }
}

struct World {
    deps: Deps<DynamoStateStore, AwsStacks, Branches, FixedSecret>,
    cfn: aws_sdk_cloudformation::Client,
    github: FakeGitHub,
    prefix: String,
    _server: MockServer,
}

async fn world(mode: Mode) -> World {
    let sdk = moto_config().await;
    let server = MockServer::start().await;
    let github = FakeGitHub::default();
    Mock::given(wiremock::matchers::any())
        .respond_with(github.clone())
        .mount(&server)
        .await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = create_state_table(&dynamo).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique("bp-pr-templates").to_lowercase();
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    s3.put_object()
        .bucket(&bucket)
        .key("pr.yaml")
        .body(TEMPLATE.as_bytes().to_vec().into())
        .send()
        .await
        .expect("template");
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let prefix = format!("bppr{}x{n}", std::process::id() % 100_000);
    let deps = Deps {
        settings: Settings {
            prefix: prefix.clone(),
            template: BranchTemplate::Url(format!("https://s3.amazonaws.com/{bucket}/pr.yaml")),
            parameters: Vec::new(),
            role_arn: None,
            filter: BranchFilter::new(DEFAULT_INCLUDE, "").expect("globs"),
            default_branch: "main".into(),
            max_stacks: 20,
            ttl_days: 30,
            empty_buckets: true,
            repositories: RepositoryFilter::new("octo-org/*").expect("globs"),
            account: "123456789012".into(),
            mode,
            include_drafts: false,
        },
        store: DynamoStateStore::new(dynamo, table),
        stacks: AwsStacks {
            cloudformation: cfn.clone(),
            s3,
        },
        branches: Branches {
            codecommit: aws_sdk_codecommit::Client::new(&sdk),
            github: tollgate::github::client(
                &server.uri(),
                None,
                branch_pipelines::adapters::GITHUB_TIMEOUTS,
            )
            .expect("a GitHub client"),
            token: None,
        },
        secret: FixedSecret(SECRET.as_bytes().to_vec()),
    };
    World {
        deps,
        cfn,
        github,
        prefix,
        _server: server,
    }
}

fn pull_request(action: &str, number: u64, sha: &str, draft: bool) -> Value {
    let body = json!({"action": action, "number": number,
        "pull_request": {"number": number, "draft": draft, "state": if action == "closed" {"closed"} else {"open"},
                         "head": {"ref": "feature/pay", "sha": sha}, "base": {"ref": "main"}},
        "repository": {"full_name": REPO, "default_branch": "main"}});
    let text = body.to_string();
    json!({"version": "2.0", "routeKey": "POST /webhooks/github", "rawPath": "/webhooks/github",
           "headers": {"x-github-event": "pull_request", "x-github-delivery": unique("delivery"),
                       "x-hub-signature-256": sign(SECRET.as_bytes(), text.as_bytes())},
           "requestContext": {"http": {"method": "POST"}}, "body": text, "isBase64Encoded": false})
}

impl World {
    async fn send(&self, event: Value) -> Value {
        let out = self.deps.handle(event).await.expect("handled");
        assert_eq!(out["statusCode"], 200, "{out}");
        serde_json::from_str(out["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null)
    }

    fn set_pull(&self, number: u64, state: &str) {
        let mut s = self.github.0.lock().expect("lock");
        s.pulls.retain(|(n, _)| *n != number);
        s.pulls.push((number, state.to_string()));
    }

    fn comments(&self) -> Vec<String> {
        let s = self.github.0.lock().expect("lock");
        s.comments.iter().map(|(_, b)| b.clone()).collect()
    }

    async fn stacks(&self) -> Vec<Stack> {
        let out = self.cfn.describe_stacks().send().await.expect("describe");
        out.stacks()
            .iter()
            .filter(|s| {
                s.stack_name()
                    .is_some_and(|n| n.starts_with(&format!("{}-", self.prefix)))
                    && s.stack_status().map(|x| x.as_str()) != Some("DELETE_COMPLETE")
            })
            .cloned()
            .collect()
    }
}

fn parameter(stack: &Stack, key: &str) -> Option<String> {
    stack
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some(key))
        .and_then(|p| p.parameter_value().map(str::to_string))
}

#[tokio::test]
async fn a_pull_request_opened_synchronized_and_closed_gets_a_stack_and_one_comment_edited_in_place()
 {
    let w = world(Mode::PullRequest).await;
    w.set_pull(7, "open");
    let out = w.send(pull_request("opened", 7, "aaaaaaa1", false)).await;
    assert_eq!(out["outcome"], "created", "{out}");
    let stacks = w.stacks().await;
    assert_eq!(stacks.len(), 1);
    let stack = &stacks[0];
    assert_eq!(
        parameter(stack, "BranchName").as_deref(),
        Some("feature/pay")
    );
    assert_eq!(parameter(stack, "PullRequestNumber").as_deref(), Some("7"));
    assert_eq!(parameter(stack, "HeadSha").as_deref(), Some("aaaaaaa1"));
    let comments = w.comments();
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(comments[0].starts_with(MARKER), "{}", comments[0]);
    assert!(
        comments[0].contains(stack.stack_name().unwrap_or("?")),
        "{}",
        comments[0]
    );

    let out = w
        .send(pull_request("synchronize", 7, "bbbbbbb2", false))
        .await;
    assert_eq!(out["outcome"], "updated", "{out}");
    let stacks = w.stacks().await;
    assert_eq!(
        parameter(&stacks[0], "HeadSha").as_deref(),
        Some("bbbbbbb2")
    );
    let comments = w.comments();
    assert_eq!(comments.len(), 1, "one comment, edited: {comments:?}");
    assert!(comments[0].contains("bbbbbbb2"), "{}", comments[0]);

    w.set_pull(7, "closed");
    let out = w.send(pull_request("closed", 7, "bbbbbbb2", false)).await;
    assert_eq!(out["outcome"], "deleting", "{out}");
    assert!(w.stacks().await.is_empty());
    let comments = w.comments();
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(comments[0].contains("preview deleted"), "{}", comments[0]);
    let s = w.github.0.lock().expect("lock");
    assert_eq!((s.posts, s.edits), (1, 2));
}

#[tokio::test]
async fn a_replayed_closed_event_for_an_open_pull_request_keeps_its_preview() {
    let w = world(Mode::Both).await;
    w.set_pull(8, "open");
    w.send(pull_request("opened", 8, "ccccccc3", false)).await;
    let out = w.send(pull_request("closed", 8, "ccccccc3", false)).await;
    assert_eq!(out["outcome"], "kept", "{out}");
    assert_eq!(w.stacks().await.len(), 1);
}

#[tokio::test]
async fn drafts_and_branch_mode_get_no_preview() {
    let w = world(Mode::PullRequest).await;
    w.set_pull(9, "open");
    let out = w.send(pull_request("opened", 9, "ddddddd4", true)).await;
    assert_eq!(out["outcome"], "skipped", "{out}");
    let w2 = world(Mode::Branch).await;
    w2.set_pull(9, "open");
    let out = w2.send(pull_request("opened", 9, "ddddddd4", false)).await;
    assert_eq!(out["outcome"], "skipped", "{out}");
    assert!(w.stacks().await.is_empty() && w2.stacks().await.is_empty());
    assert!(w.comments().is_empty() && w2.comments().is_empty());
}

#[tokio::test]
async fn a_pull_request_merged_without_a_closed_event_is_removed_by_the_sweep() {
    let w = world(Mode::PullRequest).await;
    w.set_pull(10, "open");
    w.send(pull_request("opened", 10, "eeeeeee5", false)).await;
    assert_eq!(w.stacks().await.len(), 1);
    // Merged on GitHub; the `closed` delivery never arrives.
    w.set_pull(10, "closed");
    let out = w
        .deps
        .handle(json!({"id": unique("s"), "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}))
        .await
        .expect("swept");
    assert_eq!(
        out["destroyed"][0]["reason"], "pull request closed or gone",
        "{out}"
    );
    assert!(w.stacks().await.is_empty());
}
