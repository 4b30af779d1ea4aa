//! Pull-request previews through the real binary (a stand-in Lambda Runtime API), against moto's
//! CloudFormation, DynamoDB, S3 and Secrets Manager and a GitHub fake that keeps pull requests,
//! labels and comments: a stack status change rewrites the one comment with the stack's real
//! outcome (outputs as links), `preview:keep` and `tollgate:keep=true` survive the TTL, the
//! 24-hour warning is posted once, and the sweep's deletion says so on the comment.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_cloudformation::types::Tag;
use branch_pipelines::comment::MARKER;
use branch_pipelines::handler::record_key;
use branch_pipelines::webhook::sign;
use serde_json::{Value, json};
use tollgate::state::{DynamoStateStore, StateStore};
use tollgate_tests::{create_state_table, moto_config, moto_endpoint, unique};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const REPO: &str = "octo-org/orders-api";
const ACCOUNT: &str = "123456789012";
const DAY: i64 = 86_400;
/// The GitHub token the function reads from Secrets Manager on its first GitHub call.
const TOKEN: &str = "ghp_previewsTestToken0000000000000000";
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
  Url: {Value: !Sub "https://pr-${PullRequestNumber}.preview.example.com/"}
  Bucket: {Value: !Ref Artifacts}
"#;

#[derive(Default)]
struct GitHubState {
    /// Pull request number -> (state, labels).
    pulls: HashMap<u64, (String, Vec<String>)>,
    /// (comment id, issue number, body)
    comments: Vec<(u64, u64, String)>,
    /// Issue number -> (posts, edits)
    writes: HashMap<u64, (usize, usize)>,
}

/// GitHub's REST API as branch-pipelines uses it: the repository, pull requests, their labels
/// and issue comments (list, create, edit).
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
        let Some(rest) = path.strip_prefix(&repo) else {
            return not_found;
        };
        // Like GitHub: writing a comment needs the token (read from Secrets Manager).
        let authorized = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.ends_with(&format!(" {TOKEN}")));
        if method != "GET" && !authorized {
            return ResponseTemplate::new(401).set_body_json(
                json!({"message": "Requires authentication", "documentation_url": "https://docs.github.com/rest"}),
            );
        }
        let parts: Vec<&str> = rest.trim_matches('/').split('/').collect();
        match (method.as_str(), parts.as_slice()) {
            ("GET", [""]) => ResponseTemplate::new(200).set_body_json(json!({"full_name": REPO})),
            ("GET", ["pulls", n]) => match n.parse().ok().and_then(|n: u64| state.pulls.get(&n)) {
                Some((s, _)) => ResponseTemplate::new(200).set_body_json(json!({"state": s})),
                None => not_found,
            },
            ("GET", ["issues", n, "labels"]) => {
                match n.parse().ok().and_then(|n: u64| state.pulls.get(&n)) {
                    Some((_, labels)) => ResponseTemplate::new(200).set_body_json(
                        labels
                            .iter()
                            .map(|l| json!({"name": l}))
                            .collect::<Vec<_>>(),
                    ),
                    None => not_found,
                }
            }
            ("GET", ["issues", n, "comments"]) => {
                let n: u64 = n.parse().unwrap_or(0);
                let list: Vec<Value> = state
                    .comments
                    .iter()
                    .filter(|(_, issue, _)| *issue == n)
                    .map(|(id, _, body)| json!({"id": id, "body": body}))
                    .collect();
                ResponseTemplate::new(200).set_body_json(list)
            }
            ("POST", ["issues", n, "comments"]) => {
                let n: u64 = n.parse().unwrap_or(0);
                let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
                let id = 5000 + state.comments.len() as u64;
                let text = body["body"].as_str().unwrap_or_default().to_string();
                state.comments.push((id, n, text));
                state.writes.entry(n).or_default().0 += 1;
                ResponseTemplate::new(201).set_body_json(json!({"id": id}))
            }
            ("PATCH", ["issues", "comments", id]) => {
                let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
                let text = body["body"].as_str().unwrap_or_default().to_string();
                let Some(comment) = state.comments.iter_mut().find(|c| c.0.to_string() == *id)
                else {
                    return not_found;
                };
                comment.2 = text;
                let issue = comment.1;
                state.writes.entry(issue).or_default().1 += 1;
                ResponseTemplate::new(200).set_body_json(json!({"id": issue}))
            }
            _ => not_found,
        }
    }
}

struct World {
    env: Vec<(String, String)>,
    github: FakeGitHub,
    cfn: aws_sdk_cloudformation::Client,
    store: DynamoStateStore,
    prefix: String,
    secret: String,
    _server: MockServer,
}

async fn world(ttl_days: u32) -> World {
    world_with(ttl_days, true).await
}

/// `token`: the token is in GITHUB_TOKEN_SECRET_ARN's secret; else only the secret the template
/// creates (BRANCH_GITHUB_TOKEN_SECRET_ARN) is there, still empty.
async fn world_with(ttl_days: u32, token: bool) -> World {
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
    let bucket = unique("bp-previews").to_lowercase();
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    s3.put_object()
        .bucket(&bucket)
        .key("preview.yaml")
        .body(TEMPLATE.as_bytes().to_vec().into())
        .send()
        .await
        .expect("template");
    let secret = unique("webhook-secret");
    let secret_arn = aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(unique("bp-previews-webhook"))
        .secret_string(&secret)
        .send()
        .await
        .expect("secret")
        .arn()
        .unwrap_or_default()
        .to_string();
    let token_arn = aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(unique("bp-previews-token"))
        .set_secret_string(token.then(|| TOKEN.to_string()))
        .send()
        .await
        .expect("token secret")
        .arn()
        .unwrap_or_default()
        .to_string();
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let prefix = format!("bpv{}x{n}", std::process::id() % 100_000);
    let env = [
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_ENDPOINT_URL", moto_endpoint().to_string()),
        ("TOLLGATE_MAX_ATTEMPTS", "1".into()),
        ("TABLE_NAME", table.clone()),
        ("STACK_PREFIX", prefix.clone()),
        ("ACCOUNT_ID", ACCOUNT.into()),
        ("GITHUB_WEBHOOK_SECRET_ARN", secret_arn),
        ("GITHUB_API_URL", server.uri()),
        (
            if token {
                "GITHUB_TOKEN_SECRET_ARN"
            } else {
                "BRANCH_GITHUB_TOKEN_SECRET_ARN"
            },
            token_arn,
        ),
        ("GITHUB_REPOSITORIES", "octo-org/*".into()),
        ("BRANCH_MODE", "pull-request".into()),
        ("BRANCH_TTL_DAYS", ttl_days.to_string()),
        (
            "BRANCH_TEMPLATE_URL",
            format!("https://s3.amazonaws.com/{bucket}/preview.yaml"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    World {
        env,
        github,
        cfn: aws_sdk_cloudformation::Client::new(&sdk),
        store: DynamoStateStore::new(dynamo, table),
        prefix,
        secret,
        _server: server,
    }
}

impl World {
    /// One invocation of the real binary with `event`; its answer.
    async fn invoke(&self, event: Value) -> Value {
        let env = self.env.clone();
        let answer = tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            tollgate::testing::invoke_once(env!("CARGO_BIN_EXE_branch-pipelines"), &env, &event)
        })
        .await
        .expect("joined")
        .expect("the binary answered");
        assert_eq!(answer.outcome, "response", "{answer:?}");
        answer.body
    }

    /// A signed `pull_request` delivery through the HTTP API; the parsed answer body.
    async fn pull_request(&self, action: &str, number: u64, sha: &str) -> Value {
        self.pull_request_with(action, number, sha, None).await
    }

    /// [`Self::pull_request`], for a `labeled` / `unlabeled` delivery about `label`.
    async fn pull_request_with(
        &self,
        action: &str,
        number: u64,
        sha: &str,
        label: Option<&str>,
    ) -> Value {
        let labels: Vec<Value> = {
            let s = self.github.0.lock().expect("lock");
            s.pulls
                .get(&number)
                .map(|(_, l)| l.iter().map(|name| json!({"name": name})).collect())
                .unwrap_or_default()
        };
        let body = json!({"action": action, "number": number,
            "pull_request": {"number": number, "draft": false, "state": "open", "labels": labels,
                             "head": {"ref": format!("feature/pr-{number}"), "sha": sha}},
            "repository": {"full_name": REPO, "default_branch": "main"},
            "label": label.map(|name| json!({"name": name}))})
        .to_string();
        let event = json!({"version": "2.0", "routeKey": "POST /webhooks/github",
            "headers": {"x-github-event": "pull_request", "x-github-delivery": unique("delivery"),
                        "x-hub-signature-256": sign(self.secret.as_bytes(), body.as_bytes())},
            "requestContext": {"http": {"method": "POST"}}, "body": body, "isBase64Encoded": false});
        let out = self.invoke(event).await;
        assert_eq!(out["statusCode"], 200, "{out}");
        serde_json::from_str(out["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null)
    }

    async fn sweep(&self) -> Value {
        self.invoke(
            json!({"id": unique("sweep"), "source": "aws.events", "account": ACCOUNT,
                           "detail-type": "Scheduled Event", "detail": {}}),
        )
        .await
    }

    /// `events/branch-pipelines.stack-status.json` for this stack and status.
    async fn stack_status(&self, stack_id: &str, status: &str, account: &str) -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/branch-pipelines.stack-status.json"
        );
        let mut event: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("sample")).expect("json");
        event["account"] = json!(account);
        event["resources"] = json!([stack_id]);
        event["detail"]["stack-id"] = json!(stack_id);
        event["detail"]["status-details"]["status"] = json!(status);
        self.invoke(event).await
    }

    fn open(&self, number: u64, labels: &[&str]) {
        let mut s = self.github.0.lock().expect("lock");
        s.pulls.insert(
            number,
            (
                "open".into(),
                labels.iter().map(|l| l.to_string()).collect(),
            ),
        );
    }

    /// The comments on pull request `number`.
    fn comments(&self, number: u64) -> Vec<String> {
        let s = self.github.0.lock().expect("lock");
        s.comments
            .iter()
            .filter(|(_, n, _)| *n == number)
            .map(|(_, _, b)| b.clone())
            .collect()
    }

    fn writes(&self, number: u64) -> (usize, usize) {
        let s = self.github.0.lock().expect("lock");
        s.writes.get(&number).copied().unwrap_or_default()
    }

    /// Live stacks of this world: name -> id.
    async fn stacks(&self) -> HashMap<String, String> {
        let out = self.cfn.describe_stacks().send().await.expect("describe");
        out.stacks()
            .iter()
            .filter(|s| {
                s.stack_name()
                    .is_some_and(|n| n.starts_with(&format!("{}-", self.prefix)))
                    && s.stack_status().map(|x| x.as_str()) != Some("DELETE_COMPLETE")
            })
            .map(|s| {
                (
                    s.stack_name().unwrap_or_default().to_string(),
                    s.stack_id().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Moves a pull request's recorded activity (and any warning) `days` into the past.
    async fn backdate(&self, number: u64, activity_days: i64, warning_days: Option<i64>) {
        let (pk, sk) = record_key(REPO, &format!("pull-request:{number}"));
        let record = self
            .store
            .get(&pk, &sk)
            .await
            .expect("get")
            .expect("record");
        let mut data = record.data.clone();
        let now = tollgate::state::epoch_seconds(std::time::SystemTime::now());
        data["lastEvent"] = json!(now - activity_days * DAY);
        if let Some(days) = warning_days {
            data["warnedFor"] = json!(now - activity_days * DAY);
            data["warnedAt"] = json!(now - days * DAY);
        }
        self.store
            .transition(&pk, &sk, "ACTIVE", "ACTIVE", Some(&data))
            .await
            .expect("backdate");
    }
}

fn stack_of(stacks: &HashMap<String, String>, number: u64) -> (&str, &str) {
    stacks
        .iter()
        .find(|(name, _)| name.contains(&format!("-pull-request-{number}-")))
        .map(|(n, i)| (n.as_str(), i.as_str()))
        .unwrap_or_else(|| panic!("no stack for #{number} in {stacks:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_status_change_rewrites_the_one_comment_with_the_real_outcome_and_its_url_as_a_link()
 {
    let w = world(30).await;
    w.open(7, &[]);
    let out = w.pull_request("opened", 7, "aaaaaaa1").await;
    assert_eq!(out["outcome"], "created", "{out}");
    let comments = w.comments(7);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(
        comments[0].contains("CREATE\\_IN\\_PROGRESS"),
        "{}",
        comments[0]
    );

    let stacks = w.stacks().await;
    let (name, id) = stack_of(&stacks, 7);
    let out = w.stack_status(id, "CREATE_COMPLETE", ACCOUNT).await;
    assert_eq!(
        (out["outcome"].clone(), out["commented"].clone()),
        (json!("status"), json!(true)),
        "{out}"
    );
    let comments = w.comments(7);
    assert_eq!(comments.len(), 1, "still one comment: {comments:?}");
    let body = &comments[0];
    assert!(body.starts_with(MARKER), "{body}");
    assert!(body.contains(&format!("`{name}`")), "{body}");
    assert!(body.contains("**CREATE\\_COMPLETE**"), "{body}");
    assert!(body.contains("preview ready"), "{body}");
    assert!(
        body.contains(
            "| Url | [https://pr-7.preview.example.com/](https://pr-7.preview.example.com/) |"
        ),
        "{body}"
    );
    assert!(body.contains("| Bucket | "), "{body}");
    assert!(body.contains("| Commit | `aaaaaaa1` |"), "{body}");
    assert!(body.contains("| Deleted if idle after | "), "{body}");
    assert_eq!(w.writes(7), (1, 1));

    // Another account's event, and one for a stack Tollgate did not make: nothing said.
    let out = w.stack_status(id, "CREATE_COMPLETE", "210987654321").await;
    assert_eq!(out["outcome"], "ignored", "{out}");
    let hand_made = w
        .cfn
        .create_stack()
        .stack_name(format!("{}-hand-made", w.prefix))
        .template_body(r#"{"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}"#)
        .tags(Tag::builder().key("team").value("payments").build())
        .send()
        .await
        .expect("hand-made stack");
    let out = w
        .stack_status(
            hand_made.stack_id().unwrap_or_default(),
            "CREATE_COMPLETE",
            ACCOUNT,
        )
        .await;
    assert_eq!(out["outcome"], "ignored", "{out}");
    assert_eq!(w.writes(7), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_keep_survives_the_ttl_the_warning_is_posted_once_and_the_sweeps_deletion_is_said()
{
    let w = world(2).await;
    w.open(11, &["preview:keep"]);
    w.open(12, &[]);
    w.open(13, &[]);
    for n in [11, 12, 13] {
        let out = w.pull_request("opened", n, "bbbbbbb2").await;
        assert_eq!(out["outcome"], "created", "#{n}: {out}");
    }
    // #13's stack is tagged tollgate:keep=true by a person.
    let stacks = w.stacks().await;
    let (_, id13) = stack_of(&stacks, 13);
    let described = w
        .cfn
        .describe_stacks()
        .stack_name(id13)
        .send()
        .await
        .expect("describe");
    let mut tags = described.stacks()[0].tags().to_vec();
    tags.push(Tag::builder().key("tollgate:keep").value("true").build());
    w.cfn
        .update_stack()
        .stack_name(id13)
        .use_previous_template(true)
        .set_parameters(Some(
            described.stacks()[0]
                .parameters()
                .iter()
                .map(|p| {
                    let key = p.parameter_key().unwrap_or_default();
                    let parameter =
                        aws_sdk_cloudformation::types::Parameter::builder().parameter_key(key);
                    // (a changed value too: moto ignores an update of tags alone)
                    if key == "HeadSha" {
                        parameter.parameter_value("ccccccc3").build()
                    } else {
                        parameter.use_previous_value(true).build()
                    }
                })
                .collect(),
        ))
        .set_tags(Some(tags))
        .send()
        .await
        .expect("tag the stack");
    // Three days without activity, with a TTL of two.
    for n in [11, 12, 13] {
        w.backdate(n, 3, None).await;
    }

    let out = w.sweep().await;
    assert_eq!(
        (out["warned"].clone(), out["destroyed"].clone()),
        (json!(1), json!([])),
        "only #12 is warned, nothing deleted yet: {out}"
    );
    let warned = &w.comments(12)[0];
    assert!(warned.contains("[!WARNING]"), "{warned}");
    assert!(warned.contains("`preview:keep`"), "{warned}");
    for n in [11, 13] {
        let c = &w.comments(n)[0];
        assert!(!c.contains("[!WARNING]"), "#{n}: {c}");
    }
    let writes = w.writes(12);

    // The next sweeps within the day: no second warning, nothing deleted.
    let out = w.sweep().await;
    assert_eq!(
        (out["warned"].clone(), out["destroyed"].clone()),
        (json!(0), json!([])),
        "{out}"
    );
    assert_eq!(w.writes(12), writes, "the warning is posted once");
    assert_eq!(w.stacks().await.len(), 3);

    // A day after the warning: #12 is deleted and its comment says so; the kept two stay.
    w.backdate(12, 4, Some(1)).await;
    let out = w.sweep().await;
    let destroyed = out["destroyed"].as_array().cloned().unwrap_or_default();
    assert_eq!(destroyed.len(), 1, "{out}");
    assert_eq!(destroyed[0]["reason"], "idle longer than 2 days", "{out}");
    let left = w.stacks().await;
    assert_eq!(left.len(), 2, "{left:?}");
    stack_of(&left, 11);
    stack_of(&left, 13);
    let comments = w.comments(12);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(
        comments[0].contains("deleted by the sweep (idle longer than 2 days)"),
        "{}",
        comments[0]
    );
    assert!(
        !comments[0].contains("Deleted if idle after"),
        "{}",
        comments[0]
    );
    assert!(
        w.comments(11)[0].contains("never: kept by the label preview:keep"),
        "{}",
        w.comments(11)[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_templates_token_secret_is_empty_a_preview_is_still_created_without_a_comment() {
    let w = world_with(30, false).await;
    w.open(21, &[]);
    let out = w.pull_request("opened", 21, "ddddddd4").await;
    assert_eq!(out["outcome"], "created", "{out}");
    stack_of(&w.stacks().await, 21);
    assert!(
        w.comments(21).is_empty(),
        "GitHub refuses a comment without a token"
    );
    let out = w.sweep().await;
    assert_eq!(out["destroyed"], json!([]), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_deletion_event_of_a_reopened_pull_requests_old_stack_leaves_the_comment_alone() {
    let w = world(30).await;
    w.open(31, &[]);
    w.pull_request("opened", 31, "eeeeeee5").await;
    let (_, old_id) = {
        let stacks = w.stacks().await;
        let (n, i) = stack_of(&stacks, 31);
        (n.to_string(), i.to_string())
    };
    {
        let mut s = w.github.0.lock().expect("lock");
        s.pulls.insert(31, ("closed".into(), vec![]));
    }
    let out = w.pull_request("closed", 31, "eeeeeee5").await;
    assert_eq!(out["outcome"], "deleting", "{out}");
    w.open(31, &[]);
    let out = w.pull_request("reopened", 31, "fffffff6").await;
    assert_eq!(out["outcome"], "created", "{out}");
    let writes = w.writes(31);
    // CloudFormation's DELETE_COMPLETE for the old stack arrives after the new one exists.
    let out = w.stack_status(&old_id, "DELETE_COMPLETE", ACCOUNT).await;
    assert_eq!(out["outcome"], "ignored", "{out}");
    assert_eq!(w.writes(31), writes);
    assert!(
        w.comments(31)[0].contains("CREATE\\_IN\\_PROGRESS"),
        "{}",
        w.comments(31)[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_the_keep_label_says_on_the_comment_that_the_preview_is_kept() {
    let w = world(30).await;
    w.open(41, &[]);
    w.pull_request("opened", 41, "aaaaaaa9").await;
    assert!(
        w.comments(41)[0].contains("| Deleted if idle after | 20"),
        "{}",
        w.comments(41)[0]
    );
    w.open(41, &["preview:keep"]);
    let out = w
        .pull_request_with("labeled", 41, "aaaaaaa9", Some("preview:keep"))
        .await;
    assert_eq!(out["outcome"], "updated", "{out}");
    let comments = w.comments(41);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(
        comments[0].contains("never: kept by the label preview:keep"),
        "{}",
        comments[0]
    );
    // Another label changes nothing.
    let writes = w.writes(41);
    let out = w
        .pull_request_with("labeled", 41, "aaaaaaa9", Some("needs-review"))
        .await;
    assert_eq!(out["outcome"], "ignored", "{out}");
    assert_eq!(w.writes(41), writes);
    assert_eq!(w.stacks().await.len(), 1);
}
