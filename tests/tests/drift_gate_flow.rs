//! The drift gate end to end in-process: `drift-gate` starts detection, `drift-callback` finishes
//! the job from CloudFormation's events (or its reconciler does). State lives in DynamoDB on
//! moto; CloudFormation drift APIs and CodePipeline job results (which moto lacks) are real SDK
//! clients answered by aws-smithy-mocks as AWS documents them.

use std::time::{Duration, SystemTime};

use aws_sdk_codepipeline::types::FailureType;
use drift_gate::Deps;
use drift_gate::records;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use tollgate::pipeline_job::CodePipelineReporter;
use tollgate::state::DynamoStateStore;
use tollgate::testing::job_event;
use tollgate_tests::mocks::{RecordingPipeline, Run, ScriptedCloudFormation, output_variable};
use tollgate_tests::{create_state_table, moto_config, unique, workspace_root};

type DriftDeps = Deps<CodePipelineReporter, DynamoStateStore, ScriptedCloudFormation>;

struct World {
    deps: DriftDeps,
    pipeline: RecordingPipeline,
    cfn: ScriptedCloudFormation,
}

async fn world_with(stacks: &[(&str, &str)], pipeline: RecordingPipeline) -> World {
    let dynamodb = aws_sdk_dynamodb::Client::new(&moto_config().await);
    let table = create_state_table(&dynamodb).await;
    let cfn = ScriptedCloudFormation::new(stacks);
    World {
        deps: Deps {
            reporter: pipeline.reporter.clone(),
            store: DynamoStateStore::new(dynamodb, table),
            targets: cfn.clone(),
            cross_account_role_name: Some("tollgate-drift-reader".into()),
            region: Some("us-east-1".into()),
        },
        pipeline,
        cfn,
    }
}

async fn world(stacks: &[(&str, &str)]) -> World {
    world_with(stacks, RecordingPipeline::accepting()).await
}

fn sample(name: &str) -> Value {
    let text =
        std::fs::read_to_string(workspace_root().join("events").join(name)).expect("sample event");
    serde_json::from_str(&text).expect("sample is JSON")
}

/// A job event for `params` with a job id no other test uses.
fn job(params: &str) -> (String, Value) {
    let id = unique("job");
    (id.clone(), job_event(&id, Some(params)))
}

/// The sample drift event for `detection_id`, with a fresh event id.
fn drift_event(sample_name: &str, detection_id: &str) -> Value {
    let mut event = sample(sample_name);
    event["id"] = Value::String(unique("event"));
    event["detail"]["stack-drift-detection-id"] = Value::String(detection_id.into());
    event
}

impl World {
    async fn gate(&self, event: Value) -> Value {
        drift_gate::handler(&self.deps, LambdaEvent::new(event, Context::default()))
            .await
            .expect("the gate handled the job")
    }

    async fn callback(&self, event: Value) -> Value {
        drift_callback::handler(&self.deps, LambdaEvent::new(event, Context::default()))
            .await
            .expect("the callback handled the event")
    }

    async fn reconcile_at(&self, later: Duration) -> Value {
        drift_callback::reconcile(&self.deps, SystemTime::now() + later)
            .await
            .expect("reconciled")
    }

    /// Finishes `stack`'s detection in CloudFormation and delivers its event.
    async fn complete(&self, stack: &str, sample_name: &str) -> Value {
        let detection = self.cfn.finish(stack, Run::Complete);
        self.callback(drift_event(sample_name, &detection)).await
    }
}

#[tokio::test]
async fn in_sync_stack_succeeds_once_the_event_arrives() {
    let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
    let response = w.gate(sample("drift-gate.one-stack.json")).await;
    assert_eq!(response["result"], "waiting");
    assert_eq!(
        w.pipeline.results(),
        0,
        "nothing is reported while detection runs"
    );
    assert_eq!(w.cfn.detect_calls(), ["orders-api"]);

    let response = w
        .complete("orders-api", "drift-callback.in-sync.json")
        .await;
    assert_eq!(response["progress"], "reported");
    let sent = w.pipeline.only_success();
    assert_eq!(output_variable(&sent, "DriftStatus"), "IN_SYNC");
    assert_eq!(output_variable(&sent, "StacksChecked"), "orders-api");
    assert_eq!(output_variable(&sent, "ResourcesNotChecked"), "0");
}

#[tokio::test]
async fn drifted_resource_fails_the_job_naming_stack_resource_type_and_property() {
    let w = world(&[("orders-api", "CREATE_COMPLETE")]).await;
    let (_, event) = job(r#"{"stacks":["orders-api"]}"#);
    w.gate(event).await;
    w.cfn.drift(
        "orders-api",
        "WebSecurityGroup",
        "AWS::EC2::SecurityGroup",
        "MODIFIED",
        &["/SecurityGroupIngress/0/CidrIp"],
    );
    w.cfn.drift(
        "orders-api",
        "Handler",
        "AWS::Lambda::Function",
        "NOT_CHECKED",
        &[],
    );
    w.complete("orders-api", "drift-callback.drifted.json")
        .await;
    let (kind, message) = w.pipeline.only_failure();
    assert_eq!(kind, FailureType::JobFailed);
    assert!(
        message.contains("- orders-api: WebSecurityGroup (AWS::EC2::SecurityGroup) MODIFIED: /SecurityGroupIngress/0/CidrIp"),
        "{message}"
    );
    assert!(
        !message.contains("Handler"),
        "not-checked resources are not drift: {message}"
    );
}

#[tokio::test]
async fn drift_only_in_ignored_paths_succeeds_and_counts_unchecked_resources() {
    let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
    w.gate(sample("drift-gate.one-stack.json")).await;
    w.cfn.drift(
        "orders-api",
        "OrdersBucket",
        "AWS::S3::Bucket",
        "MODIFIED",
        &["/Tags/0/Value", "/Tags/1/Key"],
    );
    w.cfn.drift(
        "orders-api",
        "Handler",
        "AWS::Lambda::Function",
        "NOT_CHECKED",
        &[],
    );
    w.complete("orders-api", "drift-callback.in-sync.json")
        .await;
    let sent = w.pipeline.only_success();
    assert_eq!(output_variable(&sent, "DriftStatus"), "IN_SYNC");
    assert_eq!(output_variable(&sent, "ResourcesNotChecked"), "1");
}

#[tokio::test]
async fn missing_stack_passes_by_default_and_fails_when_asked() {
    let w = world(&[]).await;
    let (_, event) = job(r#"{"stacks":["orders-api"]}"#);
    assert_eq!(w.gate(event).await["result"], "succeeded");
    assert_eq!(
        output_variable(&w.pipeline.only_success(), "DriftStatus"),
        "NOT_CHECKED"
    );
    assert!(w.cfn.detect_calls().is_empty());

    let w = world(&[]).await;
    let (_, event) = job(r#"{"stacks":["orders-api"],"whenStackMissing":"fail"}"#);
    w.gate(event).await;
    let (_, message) = w.pipeline.only_failure();
    assert!(
        message.starts_with("Stack orders-api does not exist"),
        "{message}"
    );
}

#[tokio::test]
async fn detection_failed_fails_by_default_naming_the_resources() {
    let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
    let (_, event) = job(r#"{"stacks":["orders-api"]}"#);
    w.gate(event).await;
    let reason =
        "Failed to detect drift on resources [OrdersTable (AWS::DynamoDB::Table)]: Rate exceeded";
    let detection = w.cfn.finish("orders-api", Run::Failed(reason.into()));
    w.callback(drift_event(
        "drift-callback.detection-failed.json",
        &detection,
    ))
    .await;
    let (_, message) = w.pipeline.only_failure();
    assert!(
        message.contains("OrdersTable (AWS::DynamoDB::Table)"),
        "{message}"
    );
    assert!(message.contains("whenDetectionFailed"), "{message}");
}

#[tokio::test]
async fn detection_failed_passes_as_unknown_when_the_policy_is_pass() {
    let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
    let (_, event) = job(r#"{"stacks":["orders-api"],"whenDetectionFailed":"pass"}"#);
    w.gate(event).await;
    let detection = w.cfn.finish(
        "orders-api",
        Run::Failed("Failed to detect drift on resources [X]".into()),
    );
    w.callback(drift_event(
        "drift-callback.detection-failed.json",
        &detection,
    ))
    .await;
    assert_eq!(
        output_variable(&w.pipeline.only_success(), "DriftStatus"),
        "UNKNOWN"
    );
}

#[tokio::test]
async fn two_stacks_one_drifted_waits_for_both_then_fails_naming_the_drifted_one() {
    let w = world(&[
        ("orders-api", "UPDATE_COMPLETE"),
        ("orders-network", "UPDATE_COMPLETE"),
    ])
    .await;
    w.gate(sample("drift-gate.two-stacks.json")).await;
    assert_eq!(w.cfn.detect_calls(), ["orders-api", "orders-network"]);
    w.cfn.drift(
        "orders-network",
        "PrivateSubnet",
        "AWS::EC2::Subnet",
        "DELETED",
        &[],
    );

    let first = w
        .complete("orders-network", "drift-callback.drifted.json")
        .await;
    assert_eq!(first["progress"], "waiting for other stacks");
    assert_eq!(w.pipeline.results(), 0);

    w.complete("orders-api", "drift-callback.in-sync.json")
        .await;
    let (_, message) = w.pipeline.only_failure();
    assert!(
        message.contains("- orders-network: PrivateSubnet (AWS::EC2::Subnet) DELETED"),
        "{message}"
    );
    assert!(!message.contains("- orders-api"), "{message}");
}

#[tokio::test]
async fn duplicate_event_changes_nothing() {
    let w = world(&[("orders-network", "UPDATE_COMPLETE")]).await;
    let (_, event) = job(r#"{"stacks":["orders-network"]}"#);
    w.gate(event).await;
    w.cfn.drift(
        "orders-network",
        "PrivateSubnet",
        "AWS::EC2::Subnet",
        "DELETED",
        &[],
    );
    let detection = w.cfn.finish("orders-network", Run::Complete);
    let event = drift_event("drift-callback.drifted.json", &detection);
    w.callback(event.clone()).await;
    let again = w.callback(event).await;
    assert_eq!(again["progress"], "already decided");
    w.pipeline.only_failure();
}

#[tokio::test]
async fn in_progress_and_out_of_order_events_are_handled() {
    let w = world(&[
        ("orders-api", "UPDATE_COMPLETE"),
        ("orders-network", "UPDATE_COMPLETE"),
    ])
    .await;
    let (_, event) = job(r#"{"stacks":["orders-api","orders-network"]}"#);
    w.gate(event).await;
    let api = w.cfn.finish("orders-api", Run::Complete);
    let ignored = w
        .callback(drift_event("drift-callback.in-progress.json", &api))
        .await;
    assert_eq!(ignored["ignored"], "detection still in progress");
    // The second stack's event arrives before the first's.
    w.complete("orders-network", "drift-callback.in-sync.json")
        .await;
    assert_eq!(w.pipeline.results(), 0);
    w.callback(drift_event("drift-callback.in-sync.json", &api))
        .await;
    assert_eq!(
        output_variable(&w.pipeline.only_success(), "StacksChecked"),
        "orders-api,orders-network"
    );
}

#[tokio::test]
async fn concurrent_events_for_the_last_stacks_report_exactly_once() {
    for _ in 0..3 {
        let w = world(&[("a", "UPDATE_COMPLETE"), ("b", "UPDATE_COMPLETE")]).await;
        let (_, event) = job(r#"{"stacks":["a","b"]}"#);
        w.gate(event).await;
        let a = drift_event(
            "drift-callback.in-sync.json",
            &w.cfn.finish("a", Run::Complete),
        );
        let b = drift_event(
            "drift-callback.in-sync.json",
            &w.cfn.finish("b", Run::Complete),
        );
        let dup = a.clone();
        tokio::join!(w.callback(a), w.callback(b), w.callback(dup));
        w.pipeline.only_success();
    }
}

#[tokio::test]
async fn event_for_a_detection_tollgate_did_not_start_is_ignored() {
    let w = world(&[]).await;
    let response = w
        .callback(drift_event(
            "drift-callback.drifted.json",
            "someone-elses-detection",
        ))
        .await;
    assert_eq!(response["ignored"], "detection not started by Tollgate");
    assert_eq!(w.pipeline.results(), 0);
}

#[tokio::test]
async fn lost_event_is_finished_by_the_reconciler() {
    let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
    let (_, event) = job(r#"{"stacks":["orders-api"]}"#);
    w.gate(event).await;
    w.cfn.finish("orders-api", Run::Complete);
    // Too early: detection gets a minute to send its event.
    w.reconcile_at(Duration::from_secs(10)).await;
    assert_eq!(w.pipeline.results(), 0);
    w.reconcile_at(Duration::from_secs(90)).await;
    assert_eq!(
        output_variable(&w.pipeline.only_success(), "DriftStatus"),
        "IN_SYNC"
    );
    // The job is closed: later runs leave it alone.
    w.reconcile_at(Duration::from_secs(150)).await;
    assert_eq!(w.pipeline.results(), 1);
}

#[tokio::test]
async fn detection_that_never_finishes_fails_before_codepipelines_limit() {
    let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
    let (_, event) = job(r#"{"stacks":["orders-api"]}"#);
    w.gate(event).await;
    w.reconcile_at(Duration::from_secs(5 * 60)).await;
    assert_eq!(
        w.pipeline.results(),
        0,
        "still running is fine at 5 minutes"
    );
    w.reconcile_at(Duration::from_secs(18 * 60 + 5)).await;
    let (_, message) = w.pipeline.only_failure();
    assert!(
        message.starts_with(
            "Drift detection did not complete in time (still running for: orders-api)"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn retried_gate_invocation_starts_no_second_detection() {
    let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
    let (_, event) = job(r#"{"stacks":["orders-api"]}"#);
    w.gate(event.clone()).await;
    let again = w.gate(event).await;
    assert_eq!(again["result"], "waiting");
    assert_eq!(w.cfn.detect_calls(), ["orders-api"]);
    assert_eq!(w.pipeline.results(), 0);
}

#[tokio::test]
async fn malformed_user_parameters_fail_at_once_with_a_clear_message() {
    let w = world(&[]).await;
    w.gate(sample("drift-gate.bad-params.json")).await;
    let (kind, message) = w.pipeline.only_failure();
    assert_eq!(kind, FailureType::ConfigurationError);
    assert!(
        message.starts_with("UserParameters: unknown field `stack`"),
        "{message}"
    );
}

#[tokio::test]
async fn stack_mid_update_fails_saying_to_wait() {
    let w = world(&[("orders-api", "UPDATE_IN_PROGRESS")]).await;
    let (_, event) = job(r#"{"stacks":["orders-api"]}"#);
    w.gate(event).await;
    let (_, message) = w.pipeline.only_failure();
    assert!(
        message
            .contains("Stack orders-api is UPDATE_IN_PROGRESS: a stack operation is in progress"),
        "{message}"
    );
}

#[tokio::test]
async fn access_denied_fails_the_job_at_once_and_late_events_are_ignored() {
    let w = world(&[
        ("orders-api", "UPDATE_COMPLETE"),
        ("orders-network", "UPDATE_COMPLETE"),
    ])
    .await;
    w.cfn.world.lock().unwrap().detect_error = Some((
        403,
        "AccessDenied".into(),
        "User: arn:aws:sts::111111111111:assumed-role/tollgate/x is not authorized to perform: cloudformation:DetectStackDrift".into(),
    ));
    let (_, event) = job(r#"{"stacks":["orders-api"]}"#);
    w.gate(event).await;
    let (_, message) = w.pipeline.only_failure();
    assert!(
        message.contains("AccessDenied") && message.contains("Give the role Tollgate uses"),
        "{message}"
    );
    w.reconcile_at(Duration::from_secs(19 * 60)).await;
    assert_eq!(
        w.pipeline.results(),
        1,
        "the reconciler does not report a closed job again"
    );
}

#[tokio::test]
async fn report_error_is_retried_then_surfaced_and_the_reconciler_finishes_the_job() {
    // Three failing attempts: the SDK's retries run out on the callback's report.
    let w = world_with(
        &[("orders-api", "UPDATE_COMPLETE")],
        RecordingPipeline::failing_first(3),
    )
    .await;
    let (job_id, event) = job(r#"{"stacks":["orders-api"]}"#);
    w.gate(event).await;
    let detection = w.cfn.finish("orders-api", Run::Complete);
    let result = drift_callback::handler(
        &w.deps,
        LambdaEvent::new(
            drift_event("drift-callback.in-sync.json", &detection),
            Context::default(),
        ),
    )
    .await;
    let err = result.expect_err("the failure is returned to Lambda, which retries the event");
    assert_eq!(err.error_type, "Tollgate.DriftCallbackFailed");
    assert!(
        err.error_message.contains("InternalFailure"),
        "{}",
        err.error_message
    );
    let stored = records::load_job(&w.deps.store, &job_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.state,
        records::PENDING,
        "the job is left for a retry, not dropped"
    );

    w.reconcile_at(Duration::from_secs(90)).await;
    assert_eq!(
        output_variable(&w.pipeline.only_success(), "DriftStatus"),
        "IN_SYNC"
    );
}

#[tokio::test]
async fn gate_that_died_after_claiming_is_failed_by_the_reconciler() {
    let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
    let job_id = unique("job");
    let data = records::JobData {
        params: drift_gate::params::parse(
            Some(r#"{"stacks":["orders-api"]}"#),
            &Default::default(),
        )
        .unwrap(),
        started_at: records::now_seconds(SystemTime::now()),
        missing: vec![],
        final_message: None,
    };
    assert!(
        records::claim_job(&w.deps.store, &job_id, &data, SystemTime::now())
            .await
            .unwrap()
    );
    w.reconcile_at(Duration::from_secs(60)).await;
    assert_eq!(w.pipeline.results(), 0);
    w.reconcile_at(Duration::from_secs(200)).await;
    let (_, message) = w.pipeline.only_failure();
    assert!(
        message.starts_with("The drift gate stopped before it had started drift detection"),
        "{message}"
    );
}

#[tokio::test]
async fn cross_account_sample_form_targets_the_configured_role() {
    let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
    let (_, event) =
        job(r#"{"stackName":"orders-api","account":"222222222222","region":"eu-west-1"}"#);
    w.gate(event).await;
    let target = w.cfn.targets_requested.lock().unwrap()[0].clone();
    assert_eq!(target.region.as_deref(), Some("eu-west-1"));
    assert_eq!(
        target.role_arn.as_deref(),
        Some("arn:aws:iam::222222222222:role/tollgate-drift-reader")
    );
}
