//! Events forwarded from tooling accounts: the pipeline's identity is `<account>/<name>` in the
//! ledger and the metrics, its reads go to that account's clients, and without a role to read
//! the account the event fails with nothing written. Moto (state table, CloudWatch), one mocked
//! CodePipeline and OpsCenter per account.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_codepipeline::types::{PipelineExecutionStatus, TriggerType};
use aws_sdk_ssm::types::OpsItemStatus;
use aws_smithy_mocks::Rule;
use common::*;
use dora::DoraError;
use dora::adapters::{
    Accounts, AssumedRoles, CloudWatchSink, CodePipelineHistory, GitHubCommits, SsmOpsItems,
};
use dora::handler::{Calculator, Deps};
use dora::model::{DEPLOYMENT_COUNT, FAILED_DEPLOYMENT_COUNT};
use serde_json::{Value, json};
use tollgate::state::DynamoStateStore;

/// The tooling account the events are forwarded from (the home account is `ACCOUNT`).
const B: &str = "222222222222";
const PIPELINE: &str = "orders-api";

/// The test seam: a client per account, and the accounts asked for, in order.
struct Recording<T> {
    clients: HashMap<String, T>,
    asked: Arc<Mutex<Vec<String>>>,
}

impl<T: Clone + Send + Sync> Accounts<T> for Recording<T> {
    async fn client(&self, account: &str) -> Result<T, DoraError> {
        self.asked.lock().unwrap().push(account.to_string());
        self.clients
            .get(account)
            .cloned()
            .ok_or_else(|| DoraError::CrossAccount {
                account: account.into(),
                reason: "no client in this test".into(),
            })
    }
}

type CrossDeps = Deps<
    DynamoStateStore,
    CloudWatchSink,
    CodePipelineHistory<Recording<aws_sdk_codepipeline::Client>>,
    SsmOpsItems<Recording<aws_sdk_ssm::Client>>,
    GitHubCommits,
>;

/// The home account's fake AWS and B's, each with its own rules.
struct Accounts2 {
    deps: CrossDeps,
    asked: Arc<Mutex<Vec<String>>>,
    home_rules: Vec<Rule>,
    b_rules: Vec<Rule>,
}

async fn cross_deps(ns: &str, home: &Shared, b: &Shared) -> Accounts2 {
    let sdk = tollgate_tests::moto_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = tollgate_tests::create_state_table(&dynamo).await;
    let (home_cp, mut home_rules) = codepipeline(home);
    let (home_ssm, rule) = ssm(home);
    home_rules.push(rule);
    let (b_cp, mut b_rules) = codepipeline(b);
    let (b_ssm, rule) = ssm(b);
    b_rules.push(rule);
    let asked = Arc::new(Mutex::new(Vec::new()));
    let mut settings = settings(ns, "orders-*");
    settings.home_account = Some(ACCOUNT.into());
    let deps = Deps::new(
        settings,
        DynamoStateStore::new(dynamo, &table),
        CloudWatchSink {
            client: aws_sdk_cloudwatch::Client::new(&sdk),
            namespace: ns.into(),
        },
        CodePipelineHistory {
            client: home_cp,
            accounts: Recording {
                clients: HashMap::from([(B.to_string(), b_cp)]),
                asked: asked.clone(),
            },
        },
        SsmOpsItems {
            client: home_ssm,
            accounts: Recording {
                clients: HashMap::from([(B.to_string(), b_ssm)]),
                asked: asked.clone(),
            },
        },
        None,
    );
    Accounts2 {
        deps,
        asked,
        home_rules,
        b_rules,
    }
}

fn exec(id: &str, time: i64, commit: &str) -> Exec {
    Exec {
        pipeline: PIPELINE.into(),
        id: id.into(),
        status: PipelineExecutionStatus::Succeeded,
        trigger: TriggerType::Webhook,
        time,
        commit: commit.into(),
        branch: "main".into(),
        message: format!("Deploy {commit}"),
    }
}

/// `event` as the central bus receives it from account `account`'s forwarder: EventBridge keeps
/// the envelope, whose `account` and resources are the source account's.
fn forwarded(mut event: Value, account: &str) -> Value {
    event["account"] = json!(account);
    let resources = event["resources"].to_string().replace(ACCOUNT, account);
    event["resources"] = serde_json::from_str(&resources).unwrap();
    event
}

fn b_arn(pipeline: &str) -> (String, String) {
    (
        "/aws/resources".into(),
        json!([{"arn": format!("arn:aws:codepipeline:us-east-1:{B}:{pipeline}")}]).to_string(),
    )
}

async fn deliver_all(deps: &CrossDeps, event: &Value) {
    for c in Calculator::ALL {
        deps.handle(c, event, now())
            .await
            .unwrap_or_else(|e| panic!("{c:?}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forwarded_execution_is_recorded_under_its_account_and_read_with_its_accounts_clients() {
    let t0 = (now() - 86_400) / H * H;
    let (home, b) = (world(), world());
    let home_run = exec("home-1", t0, "aaa");
    let b_run = exec("b-1", t0 + H, "bbb");
    for (w, run) in [(&home, &home_run), (&b, &b_run)] {
        let mut w = w.lock().unwrap();
        w.stages.insert(PIPELINE.into(), vec!["Deploy".into()]);
        w.executions = vec![run.clone()];
    }
    let ns = tollgate_tests::unique("DORA");
    let t = cross_deps(&ns, &home, &b).await;

    deliver_all(&t.deps, &execution_event(&home_run)).await;
    assert!(
        t.asked.lock().unwrap().is_empty(),
        "the home account's event asked for another account's client"
    );
    deliver_all(&t.deps, &forwarded(execution_event(&b_run), B)).await;

    // B's reads went to B's clients, the home account's to its own.
    assert!(t.asked.lock().unwrap().iter().all(|a| a == B));
    let (get_pipeline, get_execution) = (0, 1);
    assert_eq!(t.b_rules[get_pipeline].num_calls(), 1);
    assert!(t.b_rules[get_execution].num_calls() >= 1);
    assert_eq!(t.home_rules[get_pipeline].num_calls(), 1);
    let home_execution_reads = t.home_rules[get_execution].num_calls();
    assert!(home_execution_reads >= 1);

    // Same name, two accounts: two pipelines in the ledger.
    let ledgers = dora::ledger::load(&t.deps.store).await.unwrap();
    let rows: Vec<(&str, Vec<&str>)> = ledgers
        .iter()
        .map(|l| {
            (
                l.pipeline.as_str(),
                l.deployments
                    .iter()
                    .map(|d| d.commit.as_deref().unwrap_or_default())
                    .collect(),
            )
        })
        .collect();
    let b_identity = format!("{B}/{PIPELINE}");
    assert_eq!(
        rows,
        vec![(b_identity.as_str(), vec!["bbb"]), (PIPELINE, vec!["aaa"])]
    );

    // And two series of DeploymentCount.
    let (start, end) = (t0 - H, t0 + 3 * H);
    let b_stats = stats(&ns, DEPLOYMENT_COUNT, Some(&b_identity), start, end).await;
    let home_stats = stats(&ns, DEPLOYMENT_COUNT, Some(PIPELINE), start, end).await;
    assert_eq!((b_stats.count, home_stats.count), (1.0, 1.0));
    let series = series(&ns, DEPLOYMENT_COUNT).await;
    assert!(
        series.contains(&vec![format!("Pipeline={b_identity}")]),
        "{series:?}"
    );

    // A duplicate of B's event adds nothing and reads only B's account again.
    deliver_all(&t.deps, &forwarded(execution_event(&b_run), B)).await;
    let again = stats(&ns, DEPLOYMENT_COUNT, Some(&b_identity), start, end).await;
    assert_eq!(again.count, 1.0);
    assert_eq!(
        t.home_rules[get_execution].num_calls(),
        home_execution_reads
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_opsitem_in_the_tooling_account_fails_that_accounts_deployment_only() {
    let t0 = (now() - 86_400) / H * H;
    let (home, b) = (world(), world());
    let home_run = exec("home-1", t0, "aaa");
    let b_run = exec("b-1", t0, "bbb");
    // Linked through the pipeline's ARN in B, and through tollgate:pipeline (B's own pipeline).
    let by_arn = Item {
        id: "oi-b0000000001".into(),
        created: t0 + H,
        modified: t0 + H,
        status: OpsItemStatus::Open,
        data: vec![b_arn(PIPELINE)],
    };
    let by_name = Item {
        id: "oi-b0000000002".into(),
        created: t0 + 2 * H,
        modified: t0 + 3 * H,
        status: OpsItemStatus::Resolved,
        data: vec![("tollgate:pipeline".into(), PIPELINE.into())],
    };
    for (w, run) in [(&home, &home_run), (&b, &b_run)] {
        let mut w = w.lock().unwrap();
        w.stages.insert(PIPELINE.into(), vec!["Deploy".into()]);
        w.executions = vec![run.clone()];
    }
    {
        let mut b = b.lock().unwrap();
        for item in [&by_arn, &by_name] {
            b.items.insert(item.id.clone(), item.clone());
        }
    }
    let ns = tollgate_tests::unique("DORA");
    let t = cross_deps(&ns, &home, &b).await;
    deliver_all(&t.deps, &execution_event(&home_run)).await;
    deliver_all(&t.deps, &forwarded(execution_event(&b_run), B)).await;
    deliver_all(&t.deps, &forwarded(opsitem_event(&by_arn, false), B)).await;
    deliver_all(&t.deps, &forwarded(opsitem_event(&by_name, true), B)).await;

    let b_identity = format!("{B}/{PIPELINE}");
    let b_ledger = dora::ledger::pipeline(&t.deps.store, &b_identity)
        .await
        .unwrap();
    assert_eq!(b_ledger.failures.len(), 1);
    assert_eq!(b_ledger.failures[0].execution_id, "b-1");
    assert_eq!(
        b_ledger.failures[0].causes,
        vec![by_arn.id.clone(), by_name.id.clone()]
    );
    let incidents: Vec<(&str, Option<i64>)> = b_ledger
        .incidents
        .iter()
        .map(|i| (i.id.as_str(), i.restored))
        .collect();
    assert_eq!(
        incidents,
        vec![
            (by_arn.id.as_str(), None),
            (by_name.id.as_str(), Some(t0 + 3 * H))
        ]
    );
    let home_ledger = dora::ledger::pipeline(&t.deps.store, PIPELINE)
        .await
        .unwrap();
    assert!(home_ledger.failures.is_empty() && home_ledger.incidents.is_empty());

    // GetOpsItem went to B's OpsCenter, never the home account's.
    let get_ops_item = t.b_rules.len() - 1;
    assert!(t.b_rules[get_ops_item].num_calls() >= 2);
    assert_eq!(t.home_rules[get_ops_item].num_calls(), 0);

    let (start, end) = (t0 - H, t0 + 4 * H);
    let failed_b = stats(&ns, FAILED_DEPLOYMENT_COUNT, Some(&b_identity), start, end).await;
    let failed_home = stats(&ns, FAILED_DEPLOYMENT_COUNT, Some(PIPELINE), start, end).await;
    assert_eq!((failed_b.count, failed_home.count), (1.0, 0.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_cross_account_role_name_another_accounts_event_fails_naming_it_and_writes_nothing()
{
    let t0 = (now() - 86_400) / H * H;
    let home = world();
    let run = exec("b-1", t0, "bbb");
    let item = Item {
        id: "oi-b0000000003".into(),
        created: t0 + H,
        modified: t0 + H,
        status: OpsItemStatus::Open,
        data: vec![b_arn(PIPELINE)],
    };
    {
        let mut w = home.lock().unwrap();
        w.stages.insert(PIPELINE.into(), vec!["Deploy".into()]);
        w.executions = vec![run.clone()];
        w.items.insert(item.id.clone(), item.clone());
    }
    let ns = tollgate_tests::unique("DORA");
    let (mut deps, rules) = deps(&ns, "*", &home, None).await;
    deps.settings.home_account = Some(ACCOUNT.into());
    // The production adapters as `deps::from_env` builds them without CROSS_ACCOUNT_ROLE_NAME.
    let sdk = tollgate_tests::moto_config().await;
    deps.pipelines.accounts = AssumedRoles::new(&sdk, None);
    deps.ops_items.accounts = AssumedRoles::new(&sdk, None);

    let pipeline_calculators = Calculator::ALL.to_vec();
    let opsitem_calculators = vec![Calculator::ChangeFailureRate, Calculator::TimeToRestore];
    let events = [
        (forwarded(execution_event(&run), B), &pipeline_calculators),
        (
            forwarded(stage_event(&run, "DeployPROD", "SUCCEEDED"), B),
            &pipeline_calculators,
        ),
        (
            forwarded(opsitem_event(&item, false), B),
            &opsitem_calculators,
        ),
    ];
    for (event, calculators) in &events {
        for &c in calculators.iter() {
            let err = deps.handle(c, event, now()).await.unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("CROSS_ACCOUNT_ROLE_NAME") && text.contains(B),
                "{c:?}: {text}"
            );
        }
    }
    assert!(dora::ledger::load(&deps.store).await.unwrap().is_empty());
    assert!(
        rules.iter().all(|r| r.num_calls() == 0),
        "the home account was read for another account's event"
    );
}

#[tokio::test]
async fn the_assumed_role_is_the_role_name_in_the_events_account_and_partition() {
    let sdk = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("cn-north-1"))
        .build();
    let roles =
        AssumedRoles::<aws_sdk_ssm::Client>::new(&sdk, Some("tollgate-drift-reader".into()));
    assert_eq!(
        roles.role_arn(B).as_deref(),
        Some("arn:aws-cn:iam::222222222222:role/tollgate-drift-reader")
    );
    assert_eq!(
        AssumedRoles::<aws_sdk_ssm::Client>::none().role_arn(B),
        None
    );
}
