//! The drift gate end to end in-process: `drift-gate` starts detection, `drift-callback` finishes
//! the job from CloudFormation's events (or its reconciler does). State lives in DynamoDB on
//! moto; CloudFormation drift APIs and CodePipeline job results (which moto lacks) are real SDK
//! clients answered by aws-smithy-mocks as AWS documents them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use aws_sdk_codepipeline::types::FailureType;
use drift::callback::{self, LOCAL_RUN_BUDGET};
use drift::records::{self, Claim, JobData, LEASE_STALE};
use drift::{Deps, Settings};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use tollgate::pipeline_job::CodePipelineReporter;
use tollgate::state::{DynamoStateStore, Record, StateError, StateStore, Write};
use tollgate::testing::job_event;
use tollgate_tests::mocks::{RecordingPipeline, Run, ScriptedCloudFormation, output_variable};
use tollgate_tests::{create_state_table, moto_config, unique, workspace_root};

type DriftDeps<S = DynamoStateStore> = Deps<CodePipelineReporter, S, ScriptedCloudFormation>;

struct World<S = DynamoStateStore> {
    deps: DriftDeps<S>,
    pipeline: RecordingPipeline,
    cfn: ScriptedCloudFormation,
}

fn settings() -> Settings {
    Settings {
        cross_account_role_name: Some("tollgate-drift-reader".into()),
        allowed_accounts: None,
        region: Some("us-east-1".into()),
    }
}

async fn state_store() -> DynamoStateStore {
    let dynamodb = aws_sdk_dynamodb::Client::new(&moto_config().await);
    let table = create_state_table(&dynamodb).await;
    DynamoStateStore::new(dynamodb, table)
}

async fn world_with(stacks: &[(&str, &str)], pipeline: RecordingPipeline) -> World {
    let store = state_store().await;
    world_on(store, stacks, pipeline)
}

fn world_on<S>(store: S, stacks: &[(&str, &str)], pipeline: RecordingPipeline) -> World<S> {
    let cfn = ScriptedCloudFormation::new(stacks);
    World {
        deps: Deps {
            reporter: pipeline.reporter.clone(),
            store,
            targets: cfn.clone(),
            settings: settings(),
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

impl<S: StateStore> World<S> {
    async fn gate(&self, event: Value) -> Value {
        drift::gate::handler(&self.deps, LambdaEvent::new(event, Context::default()))
            .await
            .expect("the gate handled the job")
    }

    async fn callback(&self, event: Value) -> Value {
        callback::handler(&self.deps, LambdaEvent::new(event, Context::default()))
            .await
            .expect("the callback handled the event")
    }

    async fn reconcile_at(&self, later: Duration) -> Value {
        callback::reconcile(&self.deps, SystemTime::now() + later, LOCAL_RUN_BUDGET)
            .await
            .expect("reconciled")
    }

    /// Finishes `stack`'s detection in CloudFormation and delivers its event.
    async fn complete(&self, stack: &str, sample_name: &str) -> Value {
        let detection = self.cfn.finish(stack, Run::Complete);
        self.callback(drift_event(sample_name, &detection)).await
    }
}

// ------------------------------------------------------------------ the ordinary flow

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
    assert_eq!(output_variable(&sent, "UncheckedResources"), "(none)");
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
    w.complete("orders-api", "drift-callback.drifted.json")
        .await;
    let (kind, message) = w.pipeline.only_failure();
    assert_eq!(kind, FailureType::JobFailed);
    assert!(
        message.contains("- orders-api: WebSecurityGroup (AWS::EC2::SecurityGroup) MODIFIED: /SecurityGroupIngress/0/CidrIp"),
        "{message}"
    );
}

#[tokio::test]
async fn drift_only_in_ignored_paths_succeeds() {
    let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
    w.gate(sample("drift-gate.one-stack.json")).await;
    w.cfn.drift(
        "orders-api",
        "OrdersBucket",
        "AWS::S3::Bucket",
        "MODIFIED",
        &["/Tags/0/Value", "/Tags/1/Key"],
    );
    w.complete("orders-api", "drift-callback.in-sync.json")
        .await;
    let sent = w.pipeline.only_success();
    assert_eq!(output_variable(&sent, "DriftStatus"), "IN_SYNC");
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
    let result = callback::handler(
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
        "the lease is given back, so a retry can report"
    );
    assert_eq!(stored.data.lease, None);

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
    let data = job_data(r#"{"stacks":["orders-api"]}"#, SystemTime::now());
    assert_eq!(
        records::claim_job(&w.deps.store, &job_id, &data, SystemTime::now())
            .await
            .unwrap(),
        Claim::Claimed
    );
    w.reconcile_at(Duration::from_secs(60)).await;
    assert_eq!(w.pipeline.results(), 0);
    let response = w.reconcile_at(Duration::from_secs(200)).await;
    let (_, message) = w.pipeline.only_failure();
    assert!(
        message.starts_with("The drift gate stopped before it had started drift detection"),
        "{message}"
    );
    assert_eq!(response["failedByReconciler"], 1);
}

fn job_data(params: &str, now: SystemTime) -> JobData {
    JobData {
        params: drift::params::parse(Some(params), &Default::default()).unwrap(),
        started_at: records::now_seconds(now),
        missing: vec![],
        verdict: None,
        lease: None,
    }
}

// ------------------------------------------------------------------ 1. missing stacks

#[tokio::test]
async fn a_missing_stack_fails_by_default_naming_the_region_and_similar_stacks() {
    let w = world(&[
        ("orders-api", "UPDATE_COMPLETE"),
        ("orders-network", "UPDATE_COMPLETE"),
        ("billing", "CREATE_COMPLETE"),
        ("orders-old", "DELETE_COMPLETE"),
        ("payments", "CREATE_COMPLETE"),
    ])
    .await;
    let response = w.gate(sample("drift-gate.stack-typo.json")).await;
    assert_eq!(response["result"], "failed");
    let (kind, message) = w.pipeline.only_failure();
    assert_eq!(kind, FailureType::JobFailed);
    assert!(
        message.starts_with(
            "Stack orders-apl does not exist in us-east-1 (account 111111111111) (whenStackMissing=fail). \
             Stacks there with similar names: orders-api"
        ),
        "{message}"
    );
    assert!(
        !message.contains("orders-old"),
        "deleted stacks are not suggested: {message}"
    );
    assert!(!message.contains("billing"), "{message}");
    assert_eq!(
        w.cfn.world.lock().unwrap().list_calls,
        2,
        "ListStacks is read page by page (4 live stacks, 2 a page)"
    );
    assert!(w.cfn.detect_calls().is_empty());
}

#[tokio::test]
async fn a_missing_stack_passes_only_when_the_user_chose_pass() {
    let w = world(&[]).await;
    let (_, event) = job(r#"{"stacks":["orders-api"],"whenStackMissing":"pass"}"#);
    assert_eq!(w.gate(event).await["result"], "succeeded");
    let sent = w.pipeline.only_success();
    assert_eq!(output_variable(&sent, "DriftStatus"), "NOT_CHECKED");
    assert!(
        sent.execution_details()
            .and_then(|d| d.summary())
            .is_some_and(|s| s.contains("skipped, whenStackMissing=pass): orders-api")),
        "{sent:?}"
    );
    assert!(w.cfn.detect_calls().is_empty());
    assert_eq!(w.cfn.world.lock().unwrap().list_calls, 0);
}

#[tokio::test]
async fn a_stack_in_review_in_progress_counts_as_missing() {
    let w = world(&[("orders-api", "REVIEW_IN_PROGRESS")]).await;
    let (_, event) = job(r#"{"stacks":["orders-api"]}"#);
    w.gate(event).await;
    let (_, message) = w.pipeline.only_failure();
    assert!(
        message.starts_with(
            "Stack orders-api in us-east-1 (account 111111111111) is REVIEW_IN_PROGRESS"
        ) && message.contains("change set that has not been executed"),
        "{message}"
    );
    assert!(w.cfn.detect_calls().is_empty());

    let w = world(&[("orders-api", "REVIEW_IN_PROGRESS")]).await;
    let (_, event) = job(r#"{"stacks":["orders-api"],"whenStackMissing":"pass"}"#);
    w.gate(event).await;
    assert_eq!(
        output_variable(&w.pipeline.only_success(), "DriftStatus"),
        "NOT_CHECKED"
    );
}

#[tokio::test]
async fn a_stack_arn_is_looked_for_in_its_own_region_and_names_in_the_jobs() {
    let w = world(&[
        ("orders-api", "UPDATE_COMPLETE"),
        ("orders-network", "UPDATE_COMPLETE"),
    ])
    .await;
    let (_, event) = job(
        r#"{"stacks":["orders-api","arn:aws:cloudformation:eu-west-1:111111111111:stack/orders-network/6d8b7f30"],"region":"us-west-2"}"#,
    );
    assert_eq!(w.gate(event).await["result"], "waiting");
    let regions: Vec<Option<String>> = w.cfn.targets().into_iter().map(|t| t.region).collect();
    assert_eq!(
        regions,
        [Some("us-west-2".to_string()), Some("eu-west-1".to_string())],
        "one detector per target"
    );
}

// ------------------------------------------------------------------ 2. ignore rules

#[tokio::test]
async fn an_ignore_rule_that_accepts_everything_is_a_configuration_error_before_any_call() {
    let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
    let (_, event) = job(r#"{"stacks":["orders-api"],"ignore":[{"logicalId":"*"}]}"#);
    w.gate(event).await;
    let (kind, message) = w.pipeline.only_failure();
    assert_eq!(kind, FailureType::ConfigurationError);
    assert!(message.contains("switch the gate off"), "{message}");
    assert!(w.cfn.targets().is_empty(), "no CloudFormation call");
}

// ------------------------------------------------------------------ 3. detection results

#[tokio::test]
async fn detection_failed_fails_by_default_naming_the_resources() {
    let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
    let (_, event) = job(r#"{"stacks":["orders-api"]}"#);
    w.gate(event).await;
    let reason = "Failed to detect drift on resources [OrdersTable (AWS::DynamoDB::Table)]: \
                  User is not authorized to perform: dynamodb:DescribeTable";
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
async fn detection_failed_with_an_in_sync_stack_status_still_fails() {
    // DescribeStackDriftDetectionStatus answers DETECTION_FAILED with StackDriftStatus IN_SYNC
    // (nothing it managed to check had drifted); the event says IN_SYNC too.
    let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
    let (_, event) = job(r#"{"stacks":["orders-api"]}"#);
    w.gate(event).await;
    let detection = w.cfn.finish(
        "orders-api",
        Run::Failed("Failed to detect drift on resources [Fn (AWS::Lambda::Function)]".into()),
    );
    let mut event = drift_event("drift-callback.detection-failed.json", &detection);
    event["detail"]["status-details"]["stack-drift-status"] = "IN_SYNC".into();
    w.callback(event).await;
    let (_, message) = w.pipeline.only_failure();
    assert!(
        message.contains("- orders-api: drift detection failed: Failed to detect drift on resources [Fn (AWS::Lambda::Function)]"),
        "{message}"
    );
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
async fn unknown_resources_fail_the_job_by_default_naming_each_one() {
    let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
    let (_, event) = job(r#"{"stacks":["orders-api"]}"#);
    w.gate(event).await;
    w.cfn.drift(
        "orders-api",
        "Handler",
        "AWS::Lambda::Function",
        "UNKNOWN",
        &[],
    );
    // CloudFormation never returns NOT_CHECKED; were it to, it is not asked for.
    w.cfn
        .drift("orders-api", "Topic", "AWS::SNS::Topic", "NOT_CHECKED", &[]);
    w.complete("orders-api", "drift-callback.in-sync.json")
        .await;
    let (_, message) = w.pipeline.only_failure();
    assert!(
        message.contains("cannot tell")
            && message.contains(
                "- orders-api: Handler (AWS::Lambda::Function) not checked (drift status UNKNOWN)"
            ),
        "{message}"
    );
    assert!(!message.contains("Topic"), "{message}");
}

#[tokio::test]
async fn unknown_resources_pass_named_in_the_output_variables_when_the_policy_is_pass() {
    let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
    let (_, event) = job(r#"{"stacks":["orders-api"],"whenDetectionFailed":"pass"}"#);
    w.gate(event).await;
    w.cfn.drift(
        "orders-api",
        "Handler",
        "AWS::Lambda::Function",
        "UNKNOWN",
        &[],
    );
    w.complete("orders-api", "drift-callback.in-sync.json")
        .await;
    let sent = w.pipeline.only_success();
    assert_eq!(output_variable(&sent, "DriftStatus"), "UNKNOWN");
    assert_eq!(output_variable(&sent, "ResourcesNotChecked"), "1");
    assert_eq!(
        output_variable(&sent, "UncheckedResources"),
        "orders-api:Handler"
    );
}

#[tokio::test]
async fn a_rate_exceeded_detection_is_started_once_more_and_its_result_counts() {
    let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
    let (job_id, event) = job(r#"{"stacks":["orders-api"]}"#);
    w.gate(event).await;
    let first = w.cfn.finish(
        "orders-api",
        Run::Failed("Failed to detect drift on resources [OrdersTable (AWS::DynamoDB::Table)]: Rate exceeded".into()),
    );
    let response = w
        .callback(drift_event("drift-callback.detection-failed.json", &first))
        .await;
    assert_eq!(
        response["progress"],
        "drift detection started again (rate exceeded)"
    );
    assert_eq!(w.cfn.detect_calls(), ["orders-api", "orders-api"]);
    assert_eq!(w.pipeline.results(), 0);
    let stored = records::load_job(&w.deps.store, &job_id)
        .await
        .unwrap()
        .unwrap();
    let states: Vec<(&str, u32)> = stored
        .detections
        .iter()
        .map(|(s, d)| (s.as_str(), d.attempt))
        .collect();
    assert!(
        states.contains(&("RETIRED", 1)) && states.contains(&("PENDING", 2)),
        "{states:?}"
    );
    // A late duplicate of the first detection's event changes nothing.
    w.callback(drift_event("drift-callback.detection-failed.json", &first))
        .await;
    assert_eq!(w.cfn.detect_calls().len(), 2);

    w.complete("orders-api", "drift-callback.in-sync.json")
        .await;
    assert_eq!(
        output_variable(&w.pipeline.only_success(), "DriftStatus"),
        "IN_SYNC"
    );
}

#[tokio::test]
async fn a_second_rate_exceeded_detection_counts_as_failed() {
    let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
    let (_, event) = job(r#"{"stacks":["orders-api"]}"#);
    w.gate(event).await;
    for _ in 0..2 {
        let detection = w
            .cfn
            .finish("orders-api", Run::Failed("Rate exceeded".into()));
        // The reconciler sees it too (a detection in another region sends no event here).
        w.callback(drift_event(
            "drift-callback.detection-failed.json",
            &detection,
        ))
        .await;
    }
    assert_eq!(w.cfn.detect_calls().len(), 2, "started again once only");
    let (_, message) = w.pipeline.only_failure();
    assert!(
        message.contains("Rate exceeded (this was the second detection"),
        "{message}"
    );
}

// ------------------------------------------------------------------ 9. concurrency

#[tokio::test]
async fn two_deliveries_of_a_job_at_once_start_detection_once_and_report_nothing() {
    for _ in 0..5 {
        let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
        let (_, event) = job(r#"{"stacks":["orders-api"]}"#);
        let (a, b) = tokio::join!(w.gate(event.clone()), w.gate(event));
        assert_eq!(
            (a["result"].as_str(), b["result"].as_str()),
            (Some("waiting"), Some("waiting"))
        );
        assert_eq!(w.cfn.detect_calls(), ["orders-api"], "exactly one proceeds");
        assert_eq!(w.pipeline.results(), 0);
    }
}

#[tokio::test]
async fn two_deliveries_of_a_failing_job_at_once_report_exactly_one_failure() {
    for _ in 0..5 {
        let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
        let (_, event) = job(r#"{"stacks":["orders-apl"]}"#);
        let (a, b) = tokio::join!(w.gate(event.clone()), w.gate(event));
        let mut results = [a["result"].clone(), b["result"].clone()];
        results.sort_by_key(|r| r.to_string());
        assert_eq!(results, [Value::from("failed"), Value::from("waiting")]);
        w.pipeline.only_failure();
    }
}

/// A state store whose first transaction is cancelled with `TransactionConflict`, as DynamoDB
/// does when another request writes the same items at that moment. With `other_claim`, the
/// other request is another delivery's claim, which lands.
struct ConflictOnce {
    inner: DynamoStateStore,
    other_claim: bool,
    conflicted: AtomicBool,
}

impl StateStore for ConflictOnce {
    async fn create(&self, record: &Record) -> Result<(), StateError> {
        self.inner.create(record).await
    }
    async fn transition(
        &self,
        pk: &str,
        sk: &str,
        from: &str,
        to: &str,
        data: Option<&Value>,
    ) -> Result<(), StateError> {
        self.inner.transition(pk, sk, from, to, data).await
    }
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Record>, StateError> {
        self.inner.get(pk, sk).await
    }
    async fn query(&self, pk: &str) -> Result<Vec<Record>, StateError> {
        self.inner.query(pk).await
    }
    async fn write_all(&self, writes: &[Write]) -> Result<(), StateError> {
        if !self.conflicted.swap(true, Ordering::SeqCst) {
            if self.other_claim {
                self.inner.write_all(writes).await?;
            }
            return Err(StateError::TransactionConflict);
        }
        self.inner.write_all(writes).await
    }
    async fn delete(&self, pk: &str, sk: &str) -> Result<(), StateError> {
        self.inner.delete(pk, sk).await
    }
}

/// orders-api deployed, and a state table whose first claim transaction is cancelled by a
/// conflict; `other_claim`: whether another delivery's claim stands behind that conflict.
async fn conflicting_claim_world(other_claim: bool) -> World<ConflictOnce> {
    let store = ConflictOnce {
        inner: state_store().await,
        other_claim,
        conflicted: AtomicBool::new(false),
    };
    world_on(
        store,
        &[("orders-api", "UPDATE_COMPLETE")],
        RecordingPipeline::accepting(),
    )
}

#[tokio::test]
async fn a_claim_that_loses_to_a_concurrent_claim_steps_back_without_reporting() {
    let w = conflicting_claim_world(true).await;
    let (_, event) = job(r#"{"stacks":["orders-api"]}"#);
    let response = w.gate(event).await;
    assert_eq!(response["result"], "waiting");
    assert!(
        w.cfn.detect_calls().is_empty(),
        "the other delivery proceeds"
    );
    assert_eq!(w.pipeline.results(), 0);
}

#[tokio::test]
async fn a_claim_cancelled_by_a_conflict_with_no_claim_behind_it_is_tried_once_more() {
    let w = conflicting_claim_world(false).await;
    let (_, event) = job(r#"{"stacks":["orders-api"]}"#);
    assert_eq!(w.gate(event).await["result"], "waiting");
    assert_eq!(w.cfn.detect_calls(), ["orders-api"]);
}

/// A job whose detection is done and whose reporting lease was taken `ago` by an invocation
/// that never finished.
async fn job_being_reported(w: &World) -> String {
    let (job_id, event) = job(r#"{"stacks":["orders-api"]}"#);
    w.gate(event).await;
    let job = records::load_job(&w.deps.store, &job_id)
        .await
        .unwrap()
        .unwrap();
    let (_, detection) = &job.detections[0];
    assert!(
        records::complete_detection(&w.deps.store, &job_id, detection, Default::default())
            .await
            .unwrap()
    );
    let job = records::load_job(&w.deps.store, &job_id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        records::acquire_lease(&w.deps.store, &job, records::PENDING, SystemTime::now())
            .await
            .unwrap()
            .is_some()
    );
    job_id
}

#[tokio::test]
async fn a_job_being_reported_is_left_alone_until_its_lease_is_stale_then_taken_over_once() {
    let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
    let job_id = job_being_reported(&w).await;
    let detection = records::load_job(&w.deps.store, &job_id)
        .await
        .unwrap()
        .unwrap()
        .detections[0]
        .1
        .detection_id
        .clone();

    // Events, redeliveries and the reconciler leave a fresh lease alone, whatever the job's age.
    let again = w
        .callback(drift_event("drift-callback.in-sync.json", &detection))
        .await;
    assert_eq!(again["progress"], "already decided");
    assert_eq!(
        w.gate(job_event(&job_id, Some(r#"{"stacks":["orders-api"]}"#)))
            .await["result"],
        "waiting"
    );
    let fresh = w.reconcile_at(LEASE_STALE - Duration::from_secs(20)).await;
    assert_eq!(fresh["reconciled"][0]["progress"], "being reported");
    assert_eq!(w.pipeline.results(), 0);

    // Stale: two overlapping reconciler runs, one takeover, one result.
    let later = LEASE_STALE + Duration::from_secs(5);
    tokio::join!(w.reconcile_at(later), w.reconcile_at(later));
    assert_eq!(
        output_variable(&w.pipeline.only_success(), "DriftStatus"),
        "IN_SYNC"
    );
    let stored = records::load_job(&w.deps.store, &job_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.state, records::REPORTED);
}

// ------------------------------------------------------------------ 9. the reconciler's time

#[tokio::test]
async fn detection_that_never_finishes_fails_sixteen_minutes_after_the_first_claim() {
    let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
    let (_, event) = job(r#"{"stacks":["orders-api"]}"#);
    w.gate(event).await;
    w.reconcile_at(Duration::from_secs(15 * 60)).await;
    assert_eq!(
        w.pipeline.results(),
        0,
        "still running is fine at 15 minutes"
    );
    let response = w.reconcile_at(Duration::from_secs(16 * 60 + 5)).await;
    let (_, message) = w.pipeline.only_failure();
    assert!(
        message.starts_with(
            "Drift detection did not complete in time (still running for: orders-api)"
        ),
        "{message}"
    );
    assert_eq!(response["failedByReconciler"], 1);
}

#[tokio::test]
async fn the_reconciler_starts_no_job_once_its_budget_is_spent() {
    let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
    let (_, event) = job(r#"{"stacks":["orders-api"]}"#);
    w.gate(event).await;
    w.cfn.finish("orders-api", Run::Complete);
    let response = callback::reconcile(
        &w.deps,
        SystemTime::now() + Duration::from_secs(90),
        Duration::ZERO,
    )
    .await
    .unwrap();
    assert_eq!(response["deferred"], 1);
    assert_eq!(w.pipeline.results(), 0);
    // The next minute's run reaches it.
    w.reconcile_at(Duration::from_secs(150)).await;
    w.pipeline.only_success();
}

#[tokio::test]
async fn the_reconciler_stops_before_its_lambda_deadline() {
    let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
    let (_, event) = job(r#"{"stacks":["orders-api"]}"#);
    w.gate(event).await;
    let mut context = Context::default();
    context.deadline = tollgate::now_ms() + 3_000;
    let response = callback::handler(
        &w.deps,
        LambdaEvent::new(sample("drift-callback.schedule.json"), context),
    )
    .await
    .unwrap();
    assert_eq!(response["deferred"], 1, "{response}");
    assert_eq!(response["reconciled"], serde_json::json!([]));
}

#[tokio::test]
async fn the_reconciler_works_oldest_first_polls_a_few_at_a_time_and_assumes_each_role_once() {
    let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        let (id, event) =
            job(r#"{"stackName":"orders-api","account":"222222222222","region":"eu-west-1"}"#);
        w.gate(event).await;
        ids.push(id);
        // startedAt has a one-second resolution: keep the jobs' order unambiguous.
        tokio::time::sleep(Duration::from_millis(1_050)).await;
    }
    w.cfn.world.lock().unwrap().status_delay = Some(Duration::from_millis(400));
    w.cfn.targets_requested.lock().unwrap().clear();
    let response = callback::reconcile(
        &w.deps,
        SystemTime::now() + Duration::from_secs(90),
        Duration::from_millis(1_000),
    )
    .await
    .unwrap();
    let reached: Vec<&str> = response["reconciled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["jobId"].as_str().unwrap())
        .collect();
    let deferred = response["deferred"].as_u64().unwrap() as usize;
    assert!(reached.len() >= callback::JOB_CONCURRENCY, "{response}");
    assert!(deferred >= 1, "{response}");
    assert_eq!(reached.len() + deferred, ids.len());
    let mut reached_sorted: Vec<&str> = reached.clone();
    reached_sorted.sort_by_key(|id| ids.iter().position(|i| i == id));
    assert_eq!(
        reached_sorted,
        ids[..reached.len()]
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        "the oldest jobs are reached first"
    );
    assert_eq!(
        w.cfn.targets().len(),
        1,
        "one detector (one set of credentials) per role per run"
    );
}

// ------------------------------------------------------------------ 8. broken configuration

#[tokio::test]
async fn a_misconfigured_callback_fails_every_open_job_on_its_schedule_and_still_errors() {
    let w = world(&[
        ("orders-api", "UPDATE_COMPLETE"),
        ("orders-network", "UPDATE_COMPLETE"),
    ])
    .await;
    let (first, event) = job(r#"{"stacks":["orders-api"]}"#);
    w.gate(event).await;
    let (second, event) = job(r#"{"stacks":["orders-network"]}"#);
    w.gate(event).await;
    let problem = "environment variable CROSS_ACCOUNT_ALLOWED_ACCOUNTS=\"2222\" is invalid: \"2222\" is not a 12-digit AWS account id";
    let err = callback::misconfigured_handler(
        Some(&w.deps.store),
        &w.deps.reporter,
        problem,
        LambdaEvent::new(sample("drift-callback.schedule.json"), Context::default()),
    )
    .await
    .expect_err("every event ends in an error, so the Errors alarm fires");
    assert_eq!(err.error_type, "Tollgate.DriftCallbackMisconfigured");
    assert!(
        err.error_message.contains("CROSS_ACCOUNT_ALLOWED_ACCOUNTS"),
        "{}",
        err.error_message
    );
    let mut failed = w.pipeline.failures();
    failed.sort();
    let mut expected = vec![first, second];
    expected.sort();
    assert_eq!(
        failed.iter().map(|f| f.0.clone()).collect::<Vec<_>>(),
        expected
    );
    for (_, kind, message) in &failed {
        assert_eq!(*kind, FailureType::ConfigurationError);
        assert!(
            message.starts_with("Tollgate cannot finish this job: drift-callback's configuration is broken: environment variable CROSS_ACCOUNT_ALLOWED_ACCOUNTS"),
            "{message}"
        );
    }
    // Closed: the healthy callback finds nothing left to do.
    assert_eq!(
        w.reconcile_at(Duration::from_secs(60)).await["reconciled"],
        serde_json::json!([])
    );
}

#[tokio::test]
async fn a_misconfigured_callback_fails_the_job_of_a_drift_event() {
    let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
    let (_, event) = job(r#"{"stacks":["orders-api"]}"#);
    w.gate(event).await;
    let detection = w.cfn.finish("orders-api", Run::Complete);
    let result = callback::misconfigured_handler(
        Some(&w.deps.store),
        &w.deps.reporter,
        "environment variable TOLLGATE_MAX_ATTEMPTS=\"0\" is invalid: must be at least 1",
        LambdaEvent::new(
            drift_event("drift-callback.in-sync.json", &detection),
            Context::default(),
        ),
    )
    .await;
    assert!(result.is_err());
    let (kind, message) = w.pipeline.only_failure();
    assert_eq!(kind, FailureType::ConfigurationError);
    assert!(message.contains("TOLLGATE_MAX_ATTEMPTS"), "{message}");
}

#[tokio::test]
async fn a_misconfigured_callback_without_a_table_still_answers_with_an_error() {
    let pipeline = RecordingPipeline::accepting();
    let err = callback::misconfigured_handler(
        None::<&DynamoStateStore>,
        &pipeline.reporter,
        "environment variable TABLE_NAME is not set (declare it for this function in template.yaml)",
        LambdaEvent::new(sample("drift-callback.schedule.json"), Context::default()),
    )
    .await
    .expect_err("an error for every event");
    assert!(
        err.error_message.contains("TABLE_NAME"),
        "{}",
        err.error_message
    );
    assert_eq!(pipeline.results(), 0);
}

// ------------------------------------------------------------------ 11. other accounts

#[tokio::test]
async fn cross_account_sample_form_targets_the_configured_role() {
    let w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
    let (_, event) =
        job(r#"{"stackName":"orders-api","account":"222222222222","region":"eu-west-1"}"#);
    w.gate(event).await;
    let target = w.cfn.targets()[0].clone();
    assert_eq!(target.region.as_deref(), Some("eu-west-1"));
    assert_eq!(
        target.role_arn.as_deref(),
        Some("arn:aws:iam::222222222222:role/tollgate-drift-reader")
    );
}

#[tokio::test]
async fn an_account_outside_the_allow_list_fails_before_any_aws_call() {
    let mut w = world(&[("orders-api", "UPDATE_COMPLETE")]).await;
    w.deps.settings.allowed_accounts = Some(vec!["333333333333".into()]);
    let (_, event) =
        job(r#"{"stackName":"orders-api","account":"222222222222","region":"eu-west-1"}"#);
    w.gate(event).await;
    let (kind, message) = w.pipeline.only_failure();
    assert_eq!(kind, FailureType::ConfigurationError);
    assert!(
        message.contains("account 222222222222 is not one Tollgate may reach"),
        "{message}"
    );
    assert!(w.cfn.targets().is_empty(), "no role assumed, no call made");
}
