//! Shared set-up for the approval tests: the sandbox's SES, Secrets Manager, DynamoDB and Step
//! Functions (in its executing mode), a waiting state machine, and helpers that read the emails
//! back and act like a browser on the page.
#![allow(dead_code)]

use std::io::{Read, Write as _};
use std::net::TcpStream;
use std::sync::OnceLock;
use std::time::Duration;

use approvals::adapters::{AwsResumer, SecretsManagerKey, SesMailer};
use approvals::api::{ApiDeps, HttpRequest};
use approvals::groups::ApproverGroups;
use approvals::mailer::{MailerDeps, MailerSettings};
use approvals::request::Policy;
use approvals::signing::SigningKey;
use approvals::store::ApprovalStore;
use aws_config::SdkConfig;
use serde_json::{Value, json};
use tollgate::state::DynamoStateStore;
use tollgate_tests::{create_state_table, moto_config, moto_endpoint, unique};

/// The approval API's base URL in these tests (links point here; requests are handed to the
/// handler directly).
pub const BASE_URL: &str = "https://approvals.example.com";
pub const HOST: &str = "approvals.example.com";

/// One HTTP/1.1 request to the sandbox (plain TCP, 127.0.0.1): status and body.
pub fn http(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = TcpStream::connect(host).expect("connect to the sandbox");
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A JSON-protocol call to the sandbox (SQS speaks it too), for the few calls no SDK client here makes.
pub fn aws_json(target: &str, body: &Value) -> Value {
    let (status, text) = http(
        "POST",
        moto_endpoint(),
        &[
            ("Content-Type", "application/x-amz-json-1.0"),
            ("X-Amz-Target", target),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=x",
            ),
        ],
        &body.to_string(),
    );
    assert_eq!(status, 200, "{target}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Turns on moto's executing mode for Step Functions (once per sandbox).
pub fn enable_step_functions_execution() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let (status, text) = http(
            "POST",
            &format!("{}/moto-api/config", moto_endpoint()),
            &[("Content-Type", "application/json")],
            &json!({"stepfunctions": {"execute_state_machine": true}}).to_string(),
        );
        assert!((200..300).contains(&status), "moto config: {status} {text}");
    });
}

/// The sender every test uses, verified in SES.
pub const SENDER: &str = "tollgate-approvals@example.com";

/// Everything one test needs: its own table, signing secret, queue and state machines.
pub struct World {
    pub sdk: SdkConfig,
    pub table: String,
    pub secret_arn: String,
    pub key: SigningKey,
    pub queue_url: String,
    pub sfn: aws_sdk_sfn::Client,
    /// The example flow: a Choice, then the approval task (stand-in: SQS waitForTaskToken).
    pub state_machine: String,
}

/// The approval task's input, as the template's example state machine passes it to the
/// mailer (the stand-in sends the same object as an SQS message).
pub fn approval_payload(queue_url: &str) -> Value {
    json!({
        "QueueUrl": queue_url,
        "MessageBody": {
            "taskToken.$": "$$.Task.Token",
            "approvers.$": "$.approvers",
            "requiredApprovals.$": "$.requiredApprovals",
            "subject.$": "$.subject",
            "summary.$": "$.summary",
            "details.$": "$.details",
            "links.$": "$.links",
            "expiresInMinutes.$": "$.expiresInMinutes"
        }
    })
}

/// The example flow with the approval task timing out after `timeout_seconds`.
pub fn definition(queue_url: &str, timeout_seconds: u32) -> Value {
    json!({
        "Comment": "Approve releases that change many resources (stand-in: SQS instead of lambda:invoke)",
        "StartAt": "NeedsApproval",
        "States": {
            "NeedsApproval": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.changedResources", "NumericGreaterThan": 10, "Next": "AskForApproval"}],
                "Default": "Release"
            },
            "AskForApproval": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "TimeoutSeconds": timeout_seconds,
                "Parameters": approval_payload(queue_url),
                "ResultPath": "$.approval",
                "Next": "Release"
            },
            "Release": {"Type": "Pass", "End": true}
        }
    })
}

impl World {
    pub async fn new() -> World {
        Self::with_timeout(3600).await
    }

    pub async fn with_timeout(timeout_seconds: u32) -> World {
        enable_step_functions_execution();
        let sdk = moto_config().await;
        let table = create_state_table(&aws_sdk_dynamodb::Client::new(&sdk)).await;
        let ses = aws_sdk_ses::Client::new(&sdk);
        ses.verify_email_identity()
            .email_address(SENDER)
            .send()
            .await
            .expect("verify the sender in moto");
        let secret_value = format!("{}{}", unique("k"), "0123456789abcdef0123456789abcdef");
        let secret = aws_sdk_secretsmanager::Client::new(&sdk)
            .create_secret()
            .name(unique("tollgate-approval-signing"))
            .secret_string(&secret_value)
            .send()
            .await
            .expect("create the signing secret in moto");
        let queue = aws_json(
            "AmazonSQS.CreateQueue",
            &json!({"QueueName": unique("approval-requests")}),
        );
        let queue_url = queue["QueueUrl"].as_str().expect("queue url").to_string();
        let sfn = aws_sdk_sfn::Client::new(&sdk);
        let state_machine = sfn
            .create_state_machine()
            .name(unique("release-approval"))
            .role_arn("arn:aws:iam::123456789012:role/release-approval")
            .definition(definition(&queue_url, timeout_seconds).to_string())
            .send()
            .await
            .expect("create the state machine in moto")
            .state_machine_arn()
            .to_string();
        World {
            key: SigningKey::new(secret_value.into_bytes()).expect("a long enough key"),
            secret_arn: secret.arn().unwrap_or_default().to_string(),
            sdk,
            table,
            queue_url,
            sfn,
            state_machine,
        }
    }

    pub fn store(&self) -> ApprovalStore<DynamoStateStore> {
        ApprovalStore::new(
            DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&self.sdk), &self.table),
            approvals::store::DEFAULT_RETENTION,
        )
    }

    pub fn resumer(&self) -> AwsResumer {
        AwsResumer {
            sfn: aws_sdk_sfn::Client::new(&self.sdk),
            codepipeline: aws_sdk_codepipeline::Client::new(&self.sdk),
        }
    }

    pub fn keys(&self) -> SecretsManagerKey {
        SecretsManagerKey::new(
            aws_sdk_secretsmanager::Client::new(&self.sdk),
            &self.secret_arn,
        )
    }

    pub fn mailer_deps(
        &self,
        sender: &str,
    ) -> MailerDeps<DynamoStateStore, SecretsManagerKey, SesMailer, AwsResumer> {
        MailerDeps {
            store: self.store(),
            keys: self.keys(),
            mailer: SesMailer::new(aws_sdk_ses::Client::new(&self.sdk), sender),
            resumer: self.resumer(),
            pipelines: approvals::pipeline::TrustingPipelines,
            settings: MailerSettings {
                base_url: BASE_URL.into(),
                sender: sender.into(),
                signing_secret: self.secret_arn.clone(),
                policy: policy(),
                retention: approvals::store::DEFAULT_RETENTION,
            },
        }
    }

    pub fn api_deps(&self) -> ApiDeps<DynamoStateStore, SecretsManagerKey, AwsResumer> {
        ApiDeps {
            store: self.store(),
            keys: self.keys(),
            resumer: self.resumer(),
        }
    }

    /// Starts the example flow with `input` and returns the execution and the approval task's
    /// input (what the mailer receives), read from the stand-in's queue.
    pub async fn start(&self, input: Value) -> (String, Value) {
        let execution = self
            .sfn
            .start_execution()
            .state_machine_arn(&self.state_machine)
            .name(unique("release"))
            .input(input.to_string())
            .send()
            .await
            .expect("start execution")
            .execution_arn()
            .to_string();
        for _ in 0..100 {
            let received = aws_json(
                "AmazonSQS.ReceiveMessage",
                &json!({"QueueUrl": self.queue_url, "MaxNumberOfMessages": 1, "WaitTimeSeconds": 1}),
            );
            if let Some(body) = received["Messages"][0]["Body"].as_str() {
                return (
                    execution,
                    serde_json::from_str(body).expect("the task input is JSON"),
                );
            }
        }
        panic!("the state machine never reached the approval task");
    }

    /// The execution's status, output, error and cause once it is no longer RUNNING.
    pub async fn finished(&self, execution: &str) -> (String, Value, String, String) {
        for _ in 0..200 {
            let out = self
                .sfn
                .describe_execution()
                .execution_arn(execution)
                .send()
                .await
                .expect("describe execution");
            if out.status().as_str() != "RUNNING" {
                return (
                    out.status().as_str().to_string(),
                    out.output()
                        .map(|o| serde_json::from_str(o).unwrap_or(Value::Null))
                        .unwrap_or(Value::Null),
                    out.error().unwrap_or_default().to_string(),
                    out.cause().unwrap_or_default().to_string(),
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("execution {execution} did not finish");
    }

    pub async fn status(&self, execution: &str) -> String {
        self.sfn
            .describe_execution()
            .execution_arn(execution)
            .send()
            .await
            .expect("describe execution")
            .status()
            .as_str()
            .to_string()
    }
}

/// A workflow input for the example flow that asks `approvers`.
pub fn release_input(approvers: &[String], required: u32) -> Value {
    json!({
        "changedResources": 42,
        "approvers": approvers,
        "requiredApprovals": required,
        "subject": "Release orders-api 2.3",
        "summary": "Ships the new checkout.",
        "details": {"version": "2.3.0", "changed resources": 42},
        "links": {"Change set": "https://console.aws.amazon.com/cloudformation/home#/stacks/changesets"},
        "expiresInMinutes": 60
    })
}

/// Everyone [`approvers`] made in this test binary: the deployment's `release` group.
static RELEASE_GROUP: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Groups tests declare with [`declare_group`], besides `release`.
static OTHER_GROUPS: Mutex<Vec<(String, Vec<String>)>> = Mutex::new(Vec::new());

/// Fresh approver addresses no other test uses, members of the `release` approver group.
pub fn approvers(n: usize) -> Vec<String> {
    let tag = unique("t").replace('-', "");
    let people: Vec<String> = (0..n)
        .map(|i| format!("approver{i}.{tag}@example.com"))
        .collect();
    RELEASE_GROUP.lock().unwrap().extend(people.iter().cloned());
    people
}

/// Declares approver group `name` (a fresh name is best: groups are shared by the binary).
pub fn declare_group(name: &str, members: &[String]) {
    OTHER_GROUPS
        .lock()
        .unwrap()
        .push((name.to_string(), members.to_vec()));
}

/// The deployment's policy: `release` holds every address [`approvers`] made, plus the groups
/// of [`declare_group`]; no pipeline approvers; no self-approval.
pub fn policy() -> Policy {
    let release = RELEASE_GROUP.lock().unwrap().clone();
    let others = OTHER_GROUPS.lock().unwrap().clone();
    Policy {
        groups: ApproverGroups::from_pairs(
            std::iter::once(("release".to_string(), release)).chain(others),
        ),
        ..Policy::default()
    }
}

/// Emails moto's SES recorded for `address`: (subject, HTML body).
pub fn emails_to(address: &str) -> Vec<(String, String)> {
    // moto serialises every backend's models for data.json; a model changed by a concurrent
    // test mid-way makes it answer 500 now and then, so it is asked again.
    let mut data = Value::Null;
    for _ in 0..50 {
        let url = format!("{}/moto-api/data.json", moto_endpoint());
        let (status, text) = http("GET", &url, &[], "");
        if status == 200 {
            data = serde_json::from_str(&text).expect("moto data");
            break;
        }
        std::thread::sleep(Duration::from_millis(40));
    }
    assert!(!data.is_null(), "moto's /moto-api/data.json kept failing");
    data["ses"]["Message"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            m["destinations"]["ToAddresses"]
                .as_array()
                .is_some_and(|to| to.iter().any(|a| a == address))
        })
        .map(|m| {
            (
                m["subject"].as_str().unwrap_or_default().to_string(),
                m["body"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// HTML entities maud writes, undone.
pub fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Every `href` in an HTML document.
pub fn hrefs(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(unescape)
        .collect()
}

/// The approval link of the one email sent to `address`.
pub fn approval_link(address: &str) -> String {
    let mails = emails_to(address);
    assert_eq!(mails.len(), 1, "one email to {address}");
    hrefs(&mails[0].1)
        .into_iter()
        .find(|h| h.starts_with(BASE_URL))
        .expect("an approval link in the email")
}

/// A GET of `url` as a browser (or a mail scanner) sends it.
pub fn get(url: &str) -> HttpRequest {
    let rest = url
        .strip_prefix(BASE_URL)
        .expect("a link to the approval API");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    HttpRequest {
        method: "GET".into(),
        path: path.into(),
        query: query.into(),
        headers: vec![("host".into(), HOST.into())],
        ..Default::default()
    }
}

/// The fields of the form on `page` whose `decision` is `decision` (hidden inputs).
pub fn form_fields(page: &str, decision: &str) -> Vec<(String, String)> {
    for form in page.split("<form").skip(1) {
        let form = form.split("</form>").next().unwrap_or("");
        let fields: Vec<(String, String)> = form
            .split("<input")
            .skip(1)
            .filter_map(|input| {
                let attr = |name: &str| {
                    input
                        .split(&format!("{name}=\""))
                        .nth(1)
                        .and_then(|v| v.split('"').next())
                        .map(unescape)
                };
                Some((attr("name")?, attr("value")?))
            })
            .collect();
        if fields.iter().any(|(n, v)| n == "decision" && v == decision) {
            return fields;
        }
    }
    panic!("no {decision} form on the page: {page}");
}

/// A POST as the page's form sends it when a person filled it in: same origin, form-encoded
/// fields, the comment, and for Approve the ticked "I reviewed this release" (`reviewed=on`).
pub fn post(url: &str, fields: &[(String, String)], comment: &str) -> HttpRequest {
    let mut filled = fields.to_vec();
    if fields
        .iter()
        .any(|(n, v)| n == "decision" && v == "approve")
    {
        filled.push(("reviewed".into(), "on".into()));
    }
    filled.push(("comment".into(), comment.into()));
    post_as_is(url, &filled)
}

/// A POST of exactly `fields` (what a program that submits the form untouched sends).
pub fn post_as_is(url: &str, fields: &[(String, String)]) -> HttpRequest {
    let rest = url
        .strip_prefix(BASE_URL)
        .expect("a link to the approval API");
    let path = rest.split('?').next().unwrap_or(rest);
    let mut body = form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields {
        body.append_pair(name, value);
    }
    HttpRequest {
        method: "POST".into(),
        path: path.into(),
        query: String::new(),
        headers: vec![
            ("host".into(), HOST.into()),
            ("origin".into(), BASE_URL.into()),
            ("sec-fetch-site".into(), "same-origin".into()),
            (
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            ("user-agent".into(), "approval-tests".into()),
        ],
        body: body.finish().into_bytes(),
        source_ip: Some("192.0.2.10".into()),
    }
}

/// The approval id of a link.
pub fn id_of(url: &str) -> String {
    url.split("/approvals/")
        .nth(1)
        .and_then(|rest| rest.split('?').next())
        .expect("an approval link")
        .to_string()
}

// ---------------------------------------------------------------------------------- mocks

use std::sync::{Arc, Mutex};

use aws_sdk_codepipeline::operation::put_approval_result::{
    PutApprovalResultInput, PutApprovalResultOutput,
};
use aws_sdk_sfn::operation::send_task_failure::{SendTaskFailureInput, SendTaskFailureOutput};
use aws_sdk_sfn::operation::send_task_success::{SendTaskSuccessInput, SendTaskSuccessOutput};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use tollgate::testing::{aws_json_error, fast_retries};

type Seen<T> = Arc<Mutex<Vec<T>>>;

/// An AWS-shaped error: HTTP status, error code, message.
pub type AwsError = (u16, &'static str, &'static str);

/// Step Functions and CodePipeline clients answered by `aws-smithy-mocks`: each call is recorded;
/// the first `failures` attempts of every call answer `error`, as AWS documents it.
pub struct MockedAws {
    pub resumer: AwsResumer,
    pub successes: Seen<SendTaskSuccessInput>,
    pub failures: Seen<SendTaskFailureInput>,
    pub pipeline_results: Seen<PutApprovalResultInput>,
    _rules: Vec<Rule>,
}

impl MockedAws {
    pub fn accepting() -> Self {
        Self::failing_first(None, 0)
    }

    pub fn failing_first(error: Option<AwsError>, failures: usize) -> Self {
        let successes = Seen::default();
        let task_failures = Seen::default();
        let pipeline_results = Seen::default();
        let mut sfn_rules = Vec::new();
        let mut cp_rules = Vec::new();
        if let Some((status, code, message)) = error.filter(|_| failures > 0) {
            let response = move || aws_json_error(status, code, message);
            sfn_rules.push(
                mock!(aws_sdk_sfn::Client::send_task_success)
                    .sequence()
                    .http_response(response)
                    .times(failures)
                    .build(),
            );
            sfn_rules.push(
                mock!(aws_sdk_sfn::Client::send_task_failure)
                    .sequence()
                    .http_response(response)
                    .times(failures)
                    .build(),
            );
            cp_rules.push(
                mock!(aws_sdk_codepipeline::Client::put_approval_result)
                    .sequence()
                    .http_response(response)
                    .times(failures)
                    .build(),
            );
        }
        let s = successes.clone();
        sfn_rules.push(
            mock!(aws_sdk_sfn::Client::send_task_success).then_compute_output(move |req| {
                s.lock().unwrap().push(req.clone());
                SendTaskSuccessOutput::builder().build()
            }),
        );
        let f = task_failures.clone();
        sfn_rules.push(
            mock!(aws_sdk_sfn::Client::send_task_failure).then_compute_output(move |req| {
                f.lock().unwrap().push(req.clone());
                SendTaskFailureOutput::builder().build()
            }),
        );
        let p = pipeline_results.clone();
        cp_rules.push(
            mock!(aws_sdk_codepipeline::Client::put_approval_result).then_compute_output(
                move |req| {
                    p.lock().unwrap().push(req.clone());
                    PutApprovalResultOutput::builder().build()
                },
            ),
        );
        let sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, sfn_rules.iter(), |c| c
            .retry_config(fast_retries()));
        let codepipeline = mock_client!(
            aws_sdk_codepipeline,
            RuleMode::MatchAny,
            cp_rules.iter(),
            |c| c.retry_config(fast_retries())
        );
        MockedAws {
            resumer: AwsResumer { sfn, codepipeline },
            successes,
            failures: task_failures,
            pipeline_results,
            _rules: sfn_rules.into_iter().chain(cp_rules).collect(),
        }
    }

    pub fn calls(&self) -> usize {
        self.successes.lock().unwrap().len()
            + self.failures.lock().unwrap().len()
            + self.pipeline_results.lock().unwrap().len()
    }
}

impl World {
    pub fn mocked_mailer_deps(
        &self,
        aws: &MockedAws,
        default_approvers: &[String],
    ) -> MailerDeps<DynamoStateStore, SecretsManagerKey, SesMailer, AwsResumer> {
        let mut deps = self.mailer_deps(SENDER);
        deps.resumer = aws.resumer.clone();
        deps.settings.policy.pipeline_approvers = default_approvers.to_vec();
        deps
    }

    pub fn mocked_api_deps(
        &self,
        aws: &MockedAws,
    ) -> ApiDeps<DynamoStateStore, SecretsManagerKey, AwsResumer> {
        ApiDeps {
            store: self.store(),
            keys: self.keys(),
            resumer: aws.resumer.clone(),
        }
    }
}

/// A Step Functions task input with a token of AWS's maximum length (2,048 characters).
pub fn task_input(approvers: &[String], required: u32) -> (String, Value) {
    let token = format!("AQCEAAAAKgAAAA{}", unique("tok").replace('-', ""))
        .chars()
        .cycle()
        .take(2048)
        .collect::<String>();
    let mut input = release_input(approvers, required);
    input["taskToken"] = json!(token);
    (token, input)
}

/// CodePipeline's manual approval notification as SNS delivers it to Lambda.
pub fn codepipeline_sns_event(token: &str, custom_data: &str) -> Value {
    let message = json!({
        "region": "us-east-1",
        "consoleLink": "https://console.aws.amazon.com/codepipeline/home?region=us-east-1#/view/orders-api",
        "approval": {
            "pipelineName": "orders-api",
            "stageName": "Approve",
            "actionName": "ReleaseManager",
            "token": token,
            "expires": "2099-01-01T00:00Z",
            "externalEntityLink": "https://github.com/example/orders-api/compare/v2.2...v2.3",
            "approvalReviewLink": format!("https://console.aws.amazon.com/codepipeline/home?region=us-east-1#/view/orders-api/Approve/ReleaseManager/approve/{token}"),
            "customData": custom_data
        }
    });
    json!({"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:tollgate-approvals:5d6e7f80-0000-4000-8000-000000000001",
        "Sns": {
            "Type": "Notification",
            "MessageId": unique("msg"),
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:tollgate-approvals",
            "Subject": "APPROVAL NEEDED: AWS CodePipeline orders-api for action ReleaseManager",
            "Message": message.to_string(),
            "Timestamp": "2026-11-22T10:00:00.000Z",
            "MessageAttributes": {}
        }
    }]})
}
