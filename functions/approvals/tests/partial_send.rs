//! Emails that were not sent are sent, once: the mailer records each approver's email, a retry
//! sends only the missing ones, and emails that failed for good end the request at once when the
//! quorum can no longer be reached (moto's SES, DynamoDB and Step Functions in executing mode).

mod support;

use std::collections::HashMap;
use std::sync::Mutex;

use approvals::adapters::{Email, MailError, Mailer, SesMailer};
use approvals::api::respond;
use approvals::mailer::{MailerDeps, handle};
use approvals::model::Status;
use approvals::store::now_secs;
use support::*;

/// SES, except that the first `n` sends to some addresses fail (for now, or for good).
struct Flaky {
    ses: SesMailer,
    failures: Mutex<HashMap<String, (usize, bool)>>,
}

impl Mailer for Flaky {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        let fail = {
            let mut failures = self.failures.lock().unwrap();
            match failures.get_mut(&email.to) {
                Some((n, permanent)) if *n > 0 => {
                    *n -= 1;
                    Some(*permanent)
                }
                _ => None,
            }
        };
        match fail {
            Some(permanent) => Err(MailError {
                to: email.to.clone(),
                reason: if permanent {
                    "MessageRejected: Email address is not verified.".into()
                } else {
                    "Throttling: Maximum sending rate exceeded.".into()
                },
                permanent,
            }),
            None => self.ses.send(email).await,
        }
    }
}

fn flaky_deps(
    world: &World,
    failing: &[(&String, usize, bool)],
) -> MailerDeps<
    tollgate::state::DynamoStateStore,
    approvals::adapters::SecretsManagerKey,
    Flaky,
    approvals::adapters::AwsResumer,
> {
    let deps = world.mailer_deps(SENDER);
    MailerDeps {
        store: deps.store,
        keys: deps.keys,
        mailer: Flaky {
            ses: SesMailer::new(aws_sdk_ses::Client::new(&world.sdk), SENDER),
            failures: Mutex::new(
                failing
                    .iter()
                    .map(|(a, n, p)| (a.to_string(), (*n, *p)))
                    .collect(),
            ),
        },
        resumer: deps.resumer,
        pipelines: deps.pipelines,
        settings: deps.settings,
    }
}

#[tokio::test]
async fn a_mailer_retried_after_a_partial_send_sends_each_approver_one_email() {
    let world = World::new().await;
    let people = approvers(3);
    let (execution, task_input) = world.start(release_input(&people, 2)).await;
    let deps = flaky_deps(&world, &[(&people[1], 1, false)]);
    let err = handle(&deps, &task_input, now_secs())
        .await
        .expect_err("one email is not sent yet");
    assert_eq!(err.error_type, "ApprovalEmailRetry");
    assert!(
        err.error_message.contains("2 of 3"),
        "{}",
        err.error_message
    );
    assert_eq!(
        people
            .iter()
            .map(|p| emails_to(p).len())
            .collect::<Vec<_>>(),
        [1, 0, 1]
    );
    assert_eq!(
        world.status(&execution).await,
        "RUNNING",
        "nothing failed for good"
    );
    // Lambda (or the state machine's Retry) invokes again with the same input.
    let answer = handle(&deps, &task_input, now_secs())
        .await
        .expect("the missing email is sent");
    assert_eq!(answer["duplicate"], true);
    assert_eq!(answer["sentNow"], 1);
    assert_eq!(answer["sentTo"], 3);
    assert_eq!(
        people
            .iter()
            .map(|p| emails_to(p).len())
            .collect::<Vec<_>>(),
        [1, 1, 1],
        "each approver gets one email"
    );
    // A third delivery sends nothing more.
    let again = handle(&deps, &task_input, now_secs()).await.unwrap();
    assert_eq!(again["sentNow"], 0);
    assert_eq!(emails_to(&people[1]).len(), 1);
    // The late email's link works like the others.
    let deps = world.api_deps();
    for person in &people[..2] {
        let link = approval_link(person);
        let page = respond(&deps, &get(&link), now_secs()).await;
        let reply = respond(
            &deps,
            &post(&link, &form_fields(&page.html, "approve"), ""),
            now_secs(),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.html);
    }
    assert_eq!(world.finished(&execution).await.0, "SUCCEEDED");
}

#[tokio::test]
async fn an_email_rejected_for_good_fails_the_workflow_at_once_when_the_quorum_is_out_of_reach() {
    let world = World::new().await;
    let people = approvers(2);
    let (execution, task_input) = world.start(release_input(&people, 2)).await;
    let deps = flaky_deps(&world, &[(&people[0], 100, true)]);
    let err = handle(&deps, &task_input, now_secs())
        .await
        .expect_err("2 approvals cannot be reached with one address rejected");
    assert_eq!(err.error_type, "ApprovalEmailNotSent");
    assert!(
        err.error_message
            .contains("quorum can no longer be reached")
            && err.error_message.contains(&people[0]),
        "{}",
        err.error_message
    );
    let (state, _, error, _) = world.finished(&execution).await;
    assert_eq!(
        (state.as_str(), error.as_str()),
        ("FAILED", "ApprovalEmailNotSent")
    );
    let link = approval_link(&people[1]);
    let loaded = world.store().load(&id_of(&link)).await.unwrap().unwrap();
    assert_eq!(loaded.status, Status::Withdrawn);
}

#[tokio::test]
async fn an_email_rejected_for_good_is_reported_but_the_others_can_still_decide() {
    let world = World::new().await;
    let people = approvers(2);
    let (execution, task_input) = world.start(release_input(&people, 1)).await;
    let deps = flaky_deps(&world, &[(&people[0], 100, true)]);
    let answer = handle(&deps, &task_input, now_secs())
        .await
        .expect("one approval is still reachable");
    assert_eq!(answer["sentTo"], 1);
    assert!(answer["notSent"][0].as_str().unwrap().contains(&people[0]));
    assert_eq!(world.status(&execution).await, "RUNNING");
}
