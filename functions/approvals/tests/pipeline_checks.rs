//! Only real CodePipeline approvals are mailed, and their commit author cannot approve them:
//! approval-mailer asks CodePipeline (the sandbox's `GetPipelineState` stand-in, moto's pipelines,
//! the seeded execution history) and GitHub (the sandbox's GitHub stand-in, over HTTP) before it
//! emails anyone. CodePipeline's `PutApprovalResult`, which moto lacks, is answered by
//! `aws-smithy-mocks` and recorded.

mod support;

use std::io::{BufRead, BufReader, Write as _};
use std::process::{Child, Command, Stdio};

use approvals::mailer::{MailerDeps, handle};
use approvals::pipeline::{AwsPipelines, LazyGitHub};
use aws_sdk_codepipeline::types::ApprovalStatus;
use serde_json::{Value, json};
use support::*;
use tollgate_tests::{moto_endpoint, unique, workspace_root};

type Deps = MailerDeps<
    tollgate::state::DynamoStateStore,
    approvals::adapters::SecretsManagerKey,
    approvals::adapters::SesMailer,
    approvals::adapters::AwsResumer,
    AwsPipelines,
>;

/// The mailer as deployed, on the sandbox: CodePipeline, CodeCommit and the GitHub at `github_url`.
fn deps(world: &World, aws: &MockedAws, github_url: &str) -> Deps {
    deps_with_token(world, aws, github_url, None)
}

/// [`deps`] with the GitHub token in the Secrets Manager secret `token_secret`.
fn deps_with_token(
    world: &World,
    aws: &MockedAws,
    github_url: &str,
    token_secret: Option<String>,
) -> Deps {
    let base = world.mocked_mailer_deps(aws, &[]);
    MailerDeps {
        store: base.store,
        keys: base.keys,
        mailer: base.mailer,
        resumer: base.resumer,
        pipelines: AwsPipelines {
            codepipeline: aws_sdk_codepipeline::Client::new(&world.sdk),
            codecommit: aws_sdk_codecommit::Client::new(&world.sdk),
            github: LazyGitHub::new(
                github_url.to_string(),
                token_secret,
                aws_sdk_secretsmanager::Client::new(&world.sdk),
            )
            .expect("a valid GitHub URL"),
        },
        settings: base.settings,
    }
}

/// Seeds `pipeline`'s state (GetPipelineState) and, optionally, its execution history, merged
/// into what the sandbox holds (other tests, in this process or another, seed theirs too).
fn seed(pipeline: &str, stage_states: Value, history: Option<Value>) {
    let mut settings = json!({"merge": true, "pipeline_states": {pipeline: stage_states}});
    if let Some(h) = history {
        settings["pipeline_history"] = json!({ pipeline: h });
    }
    let (status, text) = http(
        "POST",
        &format!("{}/_tollgate/fake", moto_endpoint()),
        &[("Content-Type", "application/json")],
        &settings.to_string(),
    );
    assert_eq!(status, 200, "seeding the stand-in: {text}");
}

/// GetPipelineState's stageStates with `action` of stage Approve waiting for approval with
/// `token`, in execution `execution`.
fn waiting(execution: &str, token: &str) -> Value {
    json!([
        {"stageName": "Source", "inboundTransitionState": {"enabled": true},
         "latestExecution": {"pipelineExecutionId": execution, "status": "Succeeded"},
         "actionStates": [{"actionName": "Source", "latestExecution": {"status": "Succeeded", "lastStatusChange": 1_790_000_000}}]},
        {"stageName": "Approve", "inboundTransitionState": {"enabled": true},
         "latestExecution": {"pipelineExecutionId": execution, "status": "InProgress"},
         "actionStates": [{"actionName": "ReleaseManager", "latestExecution": {
             "actionExecutionId": "0d6e7a5c-0000-4000-8000-000000000001", "status": "InProgress",
             "lastStatusChange": 1_790_000_000, "token": token}}]}
    ])
}

/// CodePipeline's approval notification for `pipeline`'s Approve / ReleaseManager action.
fn notification(pipeline: &str, token: &str, custom: &str) -> Value {
    let mut event = codepipeline_sns_event(token, custom);
    let message = event["Records"][0]["Sns"]["Message"]
        .as_str()
        .unwrap()
        .to_string();
    let mut message: Value = serde_json::from_str(&message).unwrap();
    message["approval"]["pipelineName"] = json!(pipeline);
    event["Records"][0]["Sns"]["Message"] = json!(message.to_string());
    event
}

fn execution_id() -> String {
    let hex: String = unique("e")
        .bytes()
        .map(|b| format!("{:02x}", b))
        .collect::<String>()
        .chars()
        .rev()
        .chain(std::iter::repeat('0'))
        .filter(|c| c.is_ascii_hexdigit())
        .take(32)
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[tokio::test]
async fn a_forged_codepipeline_message_whose_token_is_not_the_actions_is_dropped_without_email_or_rejection()
 {
    let world = World::new().await;
    let aws = MockedAws::accepting();
    let people = approvers(1);
    let pipeline = unique("orders");
    seed(
        &pipeline,
        waiting(&execution_id(), "the-actions-own-token-0001"),
        None,
    );
    let custom = format!(r#"{{"approvers": ["{}"]}}"#, people[0]);
    let deps = deps(&world, &aws, "http://127.0.0.1:9");

    let forged = notification(&pipeline, "a-token-read-elsewhere-0002", &custom);
    let answer = handle(&deps, &forged, now())
        .await
        .expect("dropped, not failed");
    assert_eq!(answer["dropped"], true, "{answer}");
    let reason = answer["reason"].as_str().unwrap_or_default();
    assert!(
        !reason.contains("a-token-read-elsewhere") && !reason.contains("the-actions-own-token"),
        "no token in the answer: {reason}"
    );
    assert!(emails_to(&people[0]).is_empty(), "nobody is emailed");
    assert_eq!(aws.calls(), 0, "nothing is rejected");

    // Invalid settings in a forged message do not reject the real approval either.
    let forged_invalid = notification(
        &pipeline,
        "a-token-read-elsewhere-0003",
        "{\"approvers\": 5}",
    );
    let answer = handle(&deps, &forged_invalid, now())
        .await
        .expect("dropped");
    assert_eq!(answer["dropped"], true, "{answer}");
    assert_eq!(aws.calls(), 0, "nothing is rejected");

    // The action's own token is mailed.
    let real = notification(&pipeline, "the-actions-own-token-0001", &custom);
    let answer = handle(&deps, &real, now()).await.expect("emails sent");
    assert_eq!(answer["sentTo"], 1, "{answer}");
    assert_eq!(emails_to(&people[0]).len(), 1);
}

#[tokio::test]
async fn a_message_naming_a_pipeline_that_does_not_exist_is_dropped() {
    let world = World::new().await;
    let aws = MockedAws::accepting();
    let people = approvers(1);
    let custom = format!(r#"{{"approvers": ["{}"]}}"#, people[0]);
    let event = notification(&unique("no-such-pipeline"), "tok-0004", &custom);
    let answer = handle(&deps(&world, &aws, "http://127.0.0.1:9"), &event, now())
        .await
        .expect("dropped");
    assert_eq!(answer["dropped"], true);
    assert!(
        answer["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no pipeline")),
        "{answer}"
    );
    assert!(emails_to(&people[0]).is_empty());
    assert_eq!(aws.calls(), 0);
}

#[tokio::test]
async fn the_email_shows_the_execution_and_says_when_the_requester_is_unknown() {
    let world = World::new().await;
    let aws = MockedAws::accepting();
    let people = approvers(1);
    let pipeline = unique("orders");
    let execution = execution_id();
    // No history for the execution: GetPipelineExecution fails, the requester is unknown.
    seed(&pipeline, waiting(&execution, "tok-0005"), None);
    let custom = format!(r#"{{"approvers": ["{}"]}}"#, people[0]);
    let answer = handle(
        &deps(&world, &aws, "http://127.0.0.1:9"),
        &notification(&pipeline, "tok-0005", &custom),
        now(),
    )
    .await
    .expect("emails sent although the requester is unknown");
    assert_eq!(answer["sentTo"], 1);
    let (_, html) = emails_to(&people[0]).remove(0);
    assert!(html.contains(&execution), "the execution id is shown");
    assert!(html.contains("Requested by"), "{html}");
    assert!(
        html.contains("unknown ("),
        "the email says the requester is unknown"
    );
}

/// The sandbox's GitHub stand-in (scripts/sandboxlib/github.py) serving `repository` with one
/// commit `sha` by `email` (a private repository: `token` reads it), over HTTP on 127.0.0.1; it stops when the returned child's stdin closes.
fn github_stand_in(repository: &str, sha: &str, email: &str, token: &str) -> (Child, String) {
    let python = std::env::var_os("TOLLGATE_SANDBOX_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".tools/sandbox/bin/python"));
    let script = r#"
import json, sys
from sandboxlib.github import Commit, GitHubStandIn
spec = json.loads(sys.argv[1])
stand_in = GitHubStandIn(spec["token"])
stand_in.add_repository(spec["repository"], [Commit(spec["sha"], 1790000000, "Ship it", "alice", spec["email"])])
print(stand_in.start(), flush=True)
sys.stdin.read()
stand_in.stop()
"#;
    let spec = json!({"token": token, "repository": repository, "sha": sha, "email": email});
    let mut child = Command::new(python)
        .current_dir(workspace_root().join("scripts"))
        .args(["-c", script, &spec.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the GitHub stand-in");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the stand-in's URL");
    assert!(line.starts_with("http://127.0.0.1:"), "{line:?}");
    (child, line.trim().to_string())
}

/// The pipelines' service role in moto's IAM (CreatePipeline checks that CodePipeline may assume it).
fn pipeline_role() -> &'static str {
    static ROLE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    const NAME: &str = "tollgate-approvals-test-codepipeline";
    ROLE.get_or_init(|| {
        let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": "codepipeline.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Action", "CreateRole")
            .append_pair("Version", "2010-05-08")
            .append_pair("RoleName", NAME)
            .append_pair("AssumeRolePolicyDocument", &trust.to_string());
        let (status, text) = http(
            "POST",
            moto_endpoint(),
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                (
                    "Authorization",
                    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=x",
                ),
            ],
            &form.finish(),
        );
        assert!(
            status == 200 || text.contains("EntityAlreadyExists"),
            "IAM CreateRole: {status} {text}"
        );
    });
    "arn:aws:iam::123456789012:role/tollgate-approvals-test-codepipeline"
}

/// A GitHub-sourced pipeline (moto), its execution of `sha` (seeded history) and its Approve /
/// ReleaseManager action waiting with `token` (the GetPipelineState stand-in).
async fn github_pipeline(world: &World, repository: &str, sha: &str, token: &str) -> String {
    use aws_sdk_codepipeline::types::*;
    let pipeline = unique("orders");
    let execution = execution_id();
    let source = ActionDeclaration::builder()
        .name("Source")
        .action_type_id(
            ActionTypeId::builder()
                .category(ActionCategory::Source)
                .owner(ActionOwner::Aws)
                .provider("CodeStarSourceConnection")
                .version("1")
                .build()
                .unwrap(),
        )
        .configuration(
            "ConnectionArn",
            "arn:aws:codeconnections:us-east-1:123456789012:connection/0d6e7a5c",
        )
        .configuration("FullRepositoryId", repository)
        .configuration("BranchName", "main")
        .output_artifacts(
            OutputArtifact::builder()
                .name("SourceOutput")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let approve = ActionDeclaration::builder()
        .name("ReleaseManager")
        .action_type_id(
            ActionTypeId::builder()
                .category(ActionCategory::Approval)
                .owner(ActionOwner::Aws)
                .provider("Manual")
                .version("1")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    aws_sdk_codepipeline::Client::new(&world.sdk)
        .create_pipeline()
        .pipeline(
            PipelineDeclaration::builder()
                .name(&pipeline)
                .role_arn(pipeline_role())
                .artifact_store(
                    ArtifactStore::builder()
                        .r#type(ArtifactStoreType::S3)
                        .location("artifacts")
                        .build()
                        .unwrap(),
                )
                .stages(
                    StageDeclaration::builder()
                        .name("Source")
                        .actions(source)
                        .build()
                        .unwrap(),
                )
                .stages(
                    StageDeclaration::builder()
                        .name("Approve")
                        .actions(approve)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create the pipeline in moto");
    let history = json!([{
        "pipelineExecutionId": execution, "status": "InProgress", "startTime": 1_790_000_000,
        "lastUpdateTime": 1_790_000_000, "pipelineVersion": 1, "executionMode": "SUPERSEDED",
        "executionType": "STANDARD", "trigger": {"triggerType": "Webhook"},
        "artifactRevisions": [{"name": "SourceOutput", "revisionId": sha,
            "revisionSummary": "{\"ProviderType\":\"GitHub\",\"CommitMessage\":\"Ship it\"}",
            "revisionUrl": format!("https://github.com/{repository}/commit/{sha}")}],
        "actions": []
    }]);
    seed(&pipeline, waiting(&execution, token), Some(history));
    pipeline
}

#[tokio::test]
async fn a_codepipeline_approval_whose_commit_author_is_an_approver_gives_them_no_link_and_refuses_when_nobody_else_can()
 {
    let world = World::new().await;
    let aws = MockedAws::accepting();
    let people = approvers(2);
    let (author, other) = (&people[0], &people[1]);
    let repository = format!("octo-org/{}", unique("orders-api"));
    let sha = "3f786850e387550fdab836ed7e6dc881de23001b";
    let github_token = unique("ghp_");
    let (mut stand_in, github_url) =
        github_stand_in(&repository, sha, &author.to_uppercase(), &github_token);
    let secret = aws_sdk_secretsmanager::Client::new(&world.sdk)
        .create_secret()
        .name(unique("tollgate-github-token"))
        .secret_string(json!({ "token": github_token }).to_string())
        .send()
        .await
        .expect("create the GitHub token secret in moto");
    let deps = deps_with_token(&world, &aws, &github_url, secret.arn().map(str::to_string));

    // Both are asked: the author gets no email; the other does, and it names the author.
    let token = "tok-author-0006";
    let pipeline = github_pipeline(&world, &repository, sha, token).await;
    let custom = format!(r#"{{"approvers": ["{author}", "{other}"]}}"#);
    let answer = handle(&deps, &notification(&pipeline, token, &custom), now())
        .await
        .expect("emails sent");
    assert_eq!(
        answer["sentTo"],
        1,
        "{answer}: {:?}",
        emails_to(other).first().map(|(_, html)| html
            .split("Requested by")
            .nth(1)
            .unwrap_or_default()
            .chars()
            .take(400)
            .collect::<String>())
    );
    assert!(
        emails_to(author).is_empty(),
        "the commit author gets no link"
    );
    let (_, html) = emails_to(other).remove(0);
    assert!(
        html.contains(author.as_str()),
        "the email names the requester"
    );
    assert!(html.contains(sha), "the source revision is shown");
    let stored = world
        .store()
        .load(&id_of(&approval_link(other)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.approval.requested_by.as_deref(),
        Some(author.as_str())
    );
    assert_eq!(stored.approval.approvers, vec![other.clone()]);

    // Only the author is asked: nobody else can approve, so the approval is rejected, saying so.
    let token = "tok-author-0007";
    let pipeline = github_pipeline(&world, &repository, sha, token).await;
    let custom = format!(r#"{{"approvers": ["{author}"]}}"#);
    let err = handle(&deps, &notification(&pipeline, token, &custom), now())
        .await
        .expect_err("refused");
    assert_eq!(err.error_type, "ApprovalRequestInvalid");
    assert!(
        err.error_message.contains("requester"),
        "{}",
        err.error_message
    );
    let sent = aws.pipeline_results.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].pipeline_name(), Some(pipeline.as_str()));
    assert_eq!(
        sent[0].result().map(|r| r.status()),
        Some(&ApprovalStatus::Rejected)
    );
    assert!(emails_to(author).is_empty());

    drop(stand_in.stdin.take());
    let _ = stand_in.wait();
}

#[tokio::test]
async fn a_github_that_cannot_be_read_leaves_the_requester_unknown_and_still_asks() {
    let world = World::new().await;
    let aws = MockedAws::accepting();
    let people = approvers(1);
    let repository = format!("octo-org/{}", unique("orders-api"));
    let sha = "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c";
    let token = "tok-author-0008";
    let pipeline = github_pipeline(&world, &repository, sha, token).await;
    // Nothing listens on port 9: GitHub cannot be asked.
    let custom = format!(r#"{{"approvers": ["{}"]}}"#, people[0]);
    let answer = handle(
        &deps(&world, &aws, "http://127.0.0.1:9"),
        &notification(&pipeline, token, &custom),
        now(),
    )
    .await
    .expect("emails sent");
    assert_eq!(answer["sentTo"], 1);
    let (_, html) = emails_to(&people[0]).remove(0);
    assert!(
        html.contains("unknown ("),
        "the email says the requester is unknown"
    );
    let _ = std::io::stdout().flush();
}

fn now() -> i64 {
    approvals::store::now_secs()
}
