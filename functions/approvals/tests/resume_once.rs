//! A decision reaches the workflow exactly once: concurrent POSTs on separate instances during a
//! slow resume, "deliver now" as its own action, and the scheduled run that delivers what a click
//! did not. Step Functions really waits (moto's executing mode) where moto can answer; the
//! failures AWS documents come from `aws-smithy-mocks`.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use approvals::adapters::{Outcome, ResumeError, TaskResumer};
use approvals::api::{ApiDeps, respond, scheduled_delivery};
use approvals::mailer::handle;
use approvals::model::{Status, Target};
use approvals::store::{Claim, now_secs};
use support::*;

/// A resumer that waits before telling the workflow (a slow AWS answer), counting its calls.
#[derive(Clone)]
struct Slow<R> {
    inner: R,
    delay: Duration,
    calls: Arc<AtomicUsize>,
}

impl<R: TaskResumer> TaskResumer for Slow<R> {
    async fn resume(&self, target: &Target, outcome: &Outcome) -> Result<(), ResumeError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.inner.resume(target, outcome).await
    }
}

/// One approval-api instance (its own key cache and clients) whose resumes take `delay`.
fn instance<R: TaskResumer + Clone>(
    world: &World,
    resumer: &Slow<R>,
) -> ApiDeps<tollgate::state::DynamoStateStore, approvals::adapters::SecretsManagerKey, Slow<R>> {
    ApiDeps {
        store: world.store(),
        keys: world.keys(),
        resumer: resumer.clone(),
    }
}

fn slow<R>(inner: R, millis: u64) -> Slow<R> {
    Slow {
        inner,
        delay: Duration::from_millis(millis),
        calls: Arc::new(AtomicUsize::new(0)),
    }
}

/// Starts the example flow for `n` approvers (quorum 1) and runs the mailer: execution, people, links.
async fn ask(world: &World, n: usize) -> (String, Vec<String>, Vec<String>) {
    let people = approvers(n);
    let (execution, task_input) = world.start(release_input(&people, 1)).await;
    handle(&world.mailer_deps(SENDER), &task_input, now_secs())
        .await
        .expect("emails sent");
    let links = people.iter().map(|p| approval_link(p)).collect();
    (execution, people, links)
}

/// The form `decision` on the page `link` opens, posted with `comment`.
async fn form_post<R: TaskResumer>(
    deps: &ApiDeps<tollgate::state::DynamoStateStore, approvals::adapters::SecretsManagerKey, R>,
    link: &str,
    decision: &str,
    comment: &str,
) -> approvals::api::HttpRequest {
    let page = respond(deps, &get(link), now_secs()).await;
    assert_eq!(page.status, 200, "{}", page.html);
    post(link, &form_fields(&page.html, decision), comment)
}

#[tokio::test]
async fn two_approvers_pressing_approve_at_once_on_two_instances_get_one_200_and_one_409_naming_who_decided()
 {
    let world = World::new().await;
    for _ in 0..3 {
        let (execution, people, links) = ask(&world, 2).await;
        let resumer = slow(world.resumer(), 300);
        let (one, two) = (instance(&world, &resumer), instance(&world, &resumer));
        let a = form_post(&one, &links[0], "approve", "a").await;
        let b = form_post(&two, &links[1], "approve", "b").await;
        let (ra, rb) = tokio::join!(respond(&one, &a, now_secs()), respond(&two, &b, now_secs()));
        let mut statuses = [ra.status, rb.status];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "a: {} b: {}", ra.html, rb.html);
        let (winner, loser) = if ra.status == 200 {
            (&people[0], &rb)
        } else {
            (&people[1], &ra)
        };
        assert!(
            loser.html.contains(&format!("approved by {winner}")),
            "{}",
            loser.html
        );
        let (state, output, _, _) = world.finished(&execution).await;
        assert_eq!(state, "SUCCEEDED");
        assert_eq!(output["approval"]["approver"], winner.as_str());
        assert_eq!(resumer.calls.load(Ordering::SeqCst), 1, "told once");
        let loaded = world
            .store()
            .load(&id_of(&links[0]))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(loaded.status, Status::Approved);
        assert!(loaded.approval.resumed_at.is_some());
    }
}

#[tokio::test]
async fn posts_during_a_slow_resume_never_change_the_decision() {
    let world = World::new().await;
    let (execution, people, links) = ask(&world, 2).await;
    let resumer = slow(world.resumer(), 1500);
    let (one, two) = (instance(&world, &resumer), instance(&world, &resumer));
    let approve = form_post(&one, &links[0], "approve", "ship it").await;
    let again = approve.clone();
    let reject = form_post(&two, &links[1], "reject", "wait").await;
    let deliver_now = {
        // The "deliver now" action, as the page of a decided approval offers it.
        let fields: Vec<(String, String)> = form_fields(
            &respond(&one, &get(&links[0]), now_secs()).await.html,
            "approve",
        )
        .into_iter()
        .map(|(n, v)| {
            if n == "decision" {
                (n, "deliver".into())
            } else {
                (n, v)
            }
        })
        .collect();
        post(&links[0], &fields, "")
    };
    let first = respond(&one, &approve, now_secs());
    let others = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let double_click = respond(&two, &again, now_secs()).await;
        let rejection = respond(&two, &reject, now_secs()).await;
        let delivery = respond(&two, &deliver_now, now_secs()).await;
        (double_click, rejection, delivery)
    };
    let (first, (double_click, rejection, delivery)) = tokio::join!(first, others);
    assert_eq!(first.status, 200, "{}", first.html);
    assert_eq!(double_click.status, 409, "{}", double_click.html);
    assert_eq!(rejection.status, 409, "{}", rejection.html);
    assert!(
        rejection
            .html
            .contains(&format!("approved by {}", people[0])),
        "{}",
        rejection.html
    );
    assert_eq!(delivery.status, 202, "being delivered: {}", delivery.html);
    assert_eq!(resumer.calls.load(Ordering::SeqCst), 1, "told once");
    let (state, _, _, _) = world.finished(&execution).await;
    assert_eq!(state, "SUCCEEDED");
    let loaded = world
        .store()
        .load(&id_of(&links[0]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(loaded.status, Status::Approved, "never EXPIRED");
    assert_eq!(loaded.votes.len(), 1);
}

/// A task asked with the mocked AWS, and its approver's link.
async fn asked(world: &World, aws: &MockedAws) -> (Vec<String>, String) {
    let people = approvers(2);
    let (_, input) = task_input(&people, 1);
    handle(&world.mocked_mailer_deps(aws, &[]), &input, now_secs())
        .await
        .expect("emails sent");
    let link = approval_link(&people[0]);
    (people, link)
}

#[tokio::test]
async fn a_resume_that_fails_is_delivered_later_by_the_scheduled_run_once() {
    let world = World::new().await;
    // Every attempt of the click's call is throttled; Step Functions accepts later.
    let aws = MockedAws::failing_first(Some((400, "ThrottlingException", "Rate exceeded")), 3);
    let (people, link) = asked(&world, &aws).await;
    let deps = world.mocked_api_deps(&aws);
    let click = form_post(&deps, &link, "approve", "go").await;
    let first = respond(&deps, &click, now_secs()).await;
    assert_eq!(first.status, 502, "{}", first.html);
    assert!(
        world
            .store()
            .undelivered_ids()
            .await
            .unwrap()
            .contains(&id_of(&link))
    );
    // Another approver's link now offers "Deliver now", and changes nothing by being opened.
    let other = respond(&deps, &get(&approval_link(&people[1])), now_secs()).await;
    assert_eq!(other.status, 409);
    assert!(other.html.contains("Deliver now"), "{}", other.html);
    // The schedule: not due before the backoff, then delivered, then nothing left.
    let now = now_secs();
    let early = scheduled_delivery(&deps, now).await.unwrap();
    assert_eq!(early["notDue"], 1, "{early}");
    assert_eq!(aws.successes.lock().unwrap().len(), 0);
    let later = scheduled_delivery(&deps, now + 121).await.unwrap();
    assert_eq!(later["delivered"], 1, "{later}");
    assert_eq!(aws.successes.lock().unwrap().len(), 1);
    let loaded = world.store().load(&id_of(&link)).await.unwrap().unwrap();
    assert_eq!(loaded.status, Status::Approved);
    assert!(loaded.approval.resumed_at.is_some());
    assert!(world.store().undelivered_ids().await.unwrap().is_empty());
    let again = scheduled_delivery(&deps, now + 7200).await.unwrap();
    assert_eq!(again["delivered"], 0, "{again}");
    assert_eq!(aws.successes.lock().unwrap().len(), 1, "told once");
}

#[tokio::test]
async fn after_an_attempt_that_got_no_answer_task_timed_out_means_already_resumed() {
    let world = World::new().await;
    let throttled =
        MockedAws::failing_first(Some((400, "ThrottlingException", "Rate exceeded")), 3);
    let (_, link) = asked(&world, &throttled).await;
    let deps = world.mocked_api_deps(&throttled);
    let click = form_post(&deps, &link, "approve", "").await;
    assert_eq!(respond(&deps, &click, now_secs()).await.status, 502);
    // An instance claimed the delivery two minutes ago and never said how it went (it timed out
    // after AWS had applied its call).
    let store = world.store();
    let loaded = store.load(&id_of(&link)).await.unwrap().unwrap();
    let (state, claim) = loaded
        .resume
        .clone()
        .expect("the failed attempt is recorded");
    assert_eq!(state, "FAILED#1");
    let stale = Claim {
        attempt: 2,
        claimed_at: now_secs() - 120,
        by: "another instance".into(),
        ..claim
    };
    store
        .claim(&loaded.approval, Some(&state), "CLAIMED#2", &stale)
        .await
        .unwrap();
    let timed_out = MockedAws::failing_first(
        Some((
            400,
            "TaskTimedOut",
            "Task Timed Out: 'Provided task has timed out'",
        )),
        5,
    );
    let deps = world.mocked_api_deps(&timed_out);
    let page = respond(&deps, &get(&link), now_secs()).await;
    assert_eq!(page.status, 409);
    let reply = respond(
        &deps,
        &post(&link, &form_fields(&page.html, "deliver"), ""),
        now_secs(),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.html);
    let loaded = store.load(&id_of(&link)).await.unwrap().unwrap();
    assert_eq!(loaded.status, Status::Approved, "not EXPIRED");
    assert!(loaded.approval.resumed_at.is_some());
    assert_eq!(loaded.resume.map(|(s, _)| s).as_deref(), Some("DELIVERED"));
}

#[tokio::test]
async fn the_scheduled_run_stops_when_the_approval_expires_and_records_why() {
    let world = World::new().await;
    let aws = MockedAws::failing_first(Some((400, "ThrottlingException", "Rate exceeded")), 100);
    let (_, link) = asked(&world, &aws).await;
    let deps = world.mocked_api_deps(&aws);
    let click = form_post(&deps, &link, "approve", "").await;
    assert_eq!(respond(&deps, &click, now_secs()).await.status, 502);
    let expires_at = world
        .store()
        .load(&id_of(&link))
        .await
        .unwrap()
        .unwrap()
        .approval
        .expires_at;
    let run = scheduled_delivery(&deps, expires_at + 1).await.unwrap();
    assert_eq!(run["givenUp"], 1, "{run}");
    let loaded = world.store().load(&id_of(&link)).await.unwrap().unwrap();
    let reason = loaded.approval.closed_reason.unwrap_or_default();
    assert!(
        reason.contains("stopped trying") && reason.contains("Rate exceeded"),
        "{reason}"
    );
    assert!(world.store().undelivered_ids().await.unwrap().is_empty());
}
