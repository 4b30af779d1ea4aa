//! Email approvals end to end on the sandbox: Step Functions really waits (moto's executing mode;
//! the approval task is the SQS `waitForTaskToken` stand-in for `lambda:invoke`), the mailer
//! sends through moto's SES with the key from moto's Secrets Manager, and the page and decisions
//! go through the API handler onto moto's DynamoDB.

mod support;

use approvals::api::respond;
use approvals::mailer::handle;
use approvals::model::Status;
use approvals::signing::{LinkClaims, link_url, new_id};
use approvals::store::{now_secs, request_key};
use serde_json::json;
use support::*;
use tollgate::state::StateStore;

/// Starts the example flow for `n` approvers needing `required` approvals and runs the mailer.
async fn ask(world: &World, n: usize, required: u32) -> (String, Vec<String>, Vec<String>) {
    let people = approvers(n);
    let (execution, task_input) = world.start(release_input(&people, required)).await;
    let answer = handle(&world.mailer_deps(SENDER), &task_input, now_secs())
        .await
        .expect("the mailer sends the emails");
    assert_eq!(answer["sentTo"], n);
    let links = people.iter().map(|p| approval_link(p)).collect();
    (execution, people, links)
}

async fn status_of(world: &World, link: &str) -> Status {
    world
        .store()
        .load(&id_of(link))
        .await
        .expect("load")
        .expect("the approval exists")
        .status
}

/// Opens the link's page and presses `decision` with `comment`: the reply's status and page.
async fn press(world: &World, link: &str, decision: &str, comment: &str) -> (u16, String) {
    let deps = world.api_deps();
    let page = respond(&deps, &get(link), now_secs()).await;
    assert_eq!(page.status, 200, "{}", page.html);
    let fields = form_fields(&page.html, decision);
    let reply = respond(&deps, &post(link, &fields, comment), now_secs()).await;
    (reply.status, reply.html)
}

#[tokio::test]
async fn approving_from_the_email_resumes_the_execution_with_the_approver_in_its_output() {
    let world = World::new().await;
    let (execution, people, links) = ask(&world, 1, 1).await;
    assert_eq!(world.status(&execution).await, "RUNNING");
    let page = respond(&world.api_deps(), &get(&links[0]), now_secs()).await;
    assert_eq!(page.status, 200);
    assert!(page.html.contains("Release orders-api 2.3") && page.html.contains("2.3.0"));
    let (status, html) = press(&world, &links[0], "approve", "looks good").await;
    assert_eq!(status, 200, "{html}");
    let (state, output, _, _) = world.finished(&execution).await;
    assert_eq!(state, "SUCCEEDED");
    assert_eq!(output["approval"]["decision"], "APPROVED");
    assert_eq!(output["approval"]["approver"], people[0].as_str());
    assert_eq!(output["approval"]["comment"], "looks good");
    let loaded = world
        .store()
        .load(&id_of(&links[0]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(loaded.status, Status::Approved);
    assert!(loaded.approval.resumed_at.is_some());
    assert_eq!(loaded.votes.len(), 1);
    assert_eq!(loaded.votes[0].source_ip.as_deref(), Some("192.0.2.10"));
}

#[tokio::test]
async fn rejecting_fails_the_execution_with_approval_rejected_and_the_reason() {
    let world = World::new().await;
    let (execution, people, links) = ask(&world, 1, 1).await;
    let (status, html) = press(&world, &links[0], "reject", "error budget exhausted").await;
    assert_eq!(status, 200, "{html}");
    let (state, _, error, _) = world.finished(&execution).await;
    assert_eq!(state, "FAILED");
    assert_eq!(error, "ApprovalRejected");
    // moto 5.2.5 drops SendTaskFailure's cause; tests/resume_errors.rs checks the cause sent.
    let loaded = world
        .store()
        .load(&id_of(&links[0]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(loaded.status, Status::Rejected);
    let decision = loaded.approval.decision.expect("the decision is recorded");
    assert_eq!(decision.approver, people[0]);
    assert_eq!(decision.comment, "error budget exhausted");
}

#[tokio::test]
async fn a_rejection_without_a_reason_changes_nothing() {
    let world = World::new().await;
    let (execution, _, links) = ask(&world, 1, 1).await;
    let (status, _) = press(&world, &links[0], "reject", "   ").await;
    assert_eq!(status, 400);
    assert_eq!(status_of(&world, &links[0]).await, Status::Pending);
    assert_eq!(world.status(&execution).await, "RUNNING");
}

#[tokio::test]
async fn a_get_of_every_link_in_the_email_as_a_mail_scanner_does_leaves_it_pending() {
    let world = World::new().await;
    let (execution, people, _) = ask(&world, 2, 1).await;
    let deps = world.api_deps();
    for person in &people {
        let (_, html) = &emails_to(person)[0];
        let ours: Vec<String> = hrefs(html)
            .into_iter()
            .filter(|h| h.starts_with(BASE_URL))
            .collect();
        assert!(!ours.is_empty());
        for link in ours {
            for _ in 0..3 {
                let reply = respond(&deps, &get(&link), now_secs()).await;
                assert_eq!(reply.status, 200);
                let head = approvals::api::HttpRequest {
                    method: "HEAD".into(),
                    ..get(&link)
                };
                assert_eq!(respond(&deps, &head, now_secs()).await.status, 200);
            }
            let loaded = world.store().load(&id_of(&link)).await.unwrap().unwrap();
            assert_eq!(loaded.status, Status::Pending);
            assert!(loaded.votes.is_empty());
        }
    }
    assert_eq!(world.status(&execution).await, "RUNNING");
}

#[tokio::test]
async fn a_tampered_signature_is_refused_with_403_and_changes_nothing() {
    let world = World::new().await;
    let (_, _, links) = ask(&world, 1, 1).await;
    let deps = world.api_deps();
    let link = &links[0];
    let page = respond(&deps, &get(link), now_secs()).await;
    let fields = form_fields(&page.html, "approve");
    let (sig_at, _) = link.split_once("sig=").unwrap();
    let sig = link.split("sig=").nth(1).unwrap();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{sig_at}sig={flipped}{}", &sig[1..]);
    let reply = respond(&deps, &get(&tampered), now_secs()).await;
    assert_eq!(reply.status, 403, "{}", reply.html);
    let forged: Vec<(String, String)> = fields
        .iter()
        .map(|(n, v)| {
            if n == "sig" {
                (n.clone(), format!("{flipped}{}", &v[1..]))
            } else {
                (n.clone(), v.clone())
            }
        })
        .collect();
    assert_eq!(
        respond(&deps, &post(link, &forged, ""), now_secs())
            .await
            .status,
        403
    );
    let later = fields
        .iter()
        .map(|(n, v)| {
            if n == "expires" {
                (n.clone(), (now_secs() + 86_400 * 30).to_string())
            } else {
                (n.clone(), v.clone())
            }
        })
        .collect::<Vec<_>>();
    assert_eq!(
        respond(&deps, &post(link, &later, ""), now_secs())
            .await
            .status,
        403
    );
    assert_eq!(status_of(&world, link).await, Status::Pending);
}

#[tokio::test]
async fn approver_as_link_replayed_as_approver_b_is_refused_with_403() {
    let world = World::new().await;
    let (execution, people, links) = ask(&world, 2, 1).await;
    let deps = world.api_deps();
    let a_encoded = people[0].replace('@', "%40");
    let b_encoded = people[1].replace('@', "%40");
    let replayed = links[0].replace(&a_encoded, &b_encoded);
    assert_ne!(replayed, links[0]);
    assert_eq!(
        respond(&deps, &get(&replayed), now_secs()).await.status,
        403
    );
    let page = respond(&deps, &get(&links[0]), now_secs()).await;
    let as_b: Vec<(String, String)> = form_fields(&page.html, "approve")
        .into_iter()
        .map(|(n, v)| {
            if n == "approver" {
                (n, people[1].clone())
            } else {
                (n, v)
            }
        })
        .collect();
    assert_eq!(
        respond(&deps, &post(&links[0], &as_b, ""), now_secs())
            .await
            .status,
        403
    );
    assert_eq!(status_of(&world, &links[0]).await, Status::Pending);
    assert_eq!(world.status(&execution).await, "RUNNING");
}

#[tokio::test]
async fn an_expired_link_is_refused_with_410() {
    let world = World::new().await;
    let (_, people, links) = ask(&world, 1, 1).await;
    let claims = LinkClaims {
        id: id_of(&links[0]),
        approver: people[0].clone(),
        expires_at: now_secs() - 1,
    };
    let expired = link_url(BASE_URL, &claims, &world.key.sign(&claims));
    let deps = world.api_deps();
    assert_eq!(respond(&deps, &get(&expired), now_secs()).await.status, 410);
    let fields = vec![
        ("approver".to_string(), claims.approver.clone()),
        ("expires".to_string(), claims.expires_at.to_string()),
        ("sig".to_string(), world.key.sign(&claims)),
        ("form".to_string(), world.key.form_token(&claims)),
        ("decision".to_string(), "approve".to_string()),
    ];
    assert_eq!(
        respond(&deps, &post(&expired, &fields, ""), now_secs())
            .await
            .status,
        410
    );
    // The real link, presented after its expiry, is refused the same way.
    let after = now_secs() + 3600 + 1;
    assert_eq!(respond(&deps, &get(&links[0]), after).await.status, 410);
    assert_eq!(status_of(&world, &links[0]).await, Status::Pending);
}

#[tokio::test]
async fn an_unknown_id_is_404() {
    let world = World::new().await;
    let claims = LinkClaims {
        id: new_id().unwrap(),
        approver: "someone@example.com".into(),
        expires_at: now_secs() + 3600,
    };
    let link = link_url(BASE_URL, &claims, &world.key.sign(&claims));
    assert_eq!(
        respond(&world.api_deps(), &get(&link), now_secs())
            .await
            .status,
        404
    );
    let garbage = format!("{BASE_URL}/approvals/..%2F..%2Fetc?approver=a&expires=1&sig=x");
    assert_eq!(
        respond(&world.api_deps(), &get(&garbage), now_secs())
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn a_double_click_decides_once_and_the_second_click_gets_409() {
    let world = World::new().await;
    let (execution, people, links) = ask(&world, 1, 1).await;
    let deps = world.api_deps();
    let page = respond(&deps, &get(&links[0]), now_secs()).await;
    let fields = form_fields(&page.html, "approve");
    let first = respond(&deps, &post(&links[0], &fields, "yes"), now_secs()).await;
    let second = respond(&deps, &post(&links[0], &fields, "yes"), now_secs()).await;
    assert_eq!(first.status, 200);
    assert_eq!(second.status, 409, "{}", second.html);
    assert!(
        second.html.contains(&format!("approved by {}", people[0])),
        "{}",
        second.html
    );
    let (state, output, _, _) = world.finished(&execution).await;
    assert_eq!(state, "SUCCEEDED");
    assert_eq!(output["approval"]["approver"], people[0].as_str());
    // The second click did not try to resume again (which would have found the token used
    // and marked the approval expired).
    assert_eq!(status_of(&world, &links[0]).await, Status::Approved);
    // Two clicks at the same moment: still one decision.
    let (_, _, links) = ask(&world, 1, 1).await;
    let page = respond(&deps, &get(&links[0]), now_secs()).await;
    let fields = form_fields(&page.html, "approve");
    let (click1, click2) = (post(&links[0], &fields, ""), post(&links[0], &fields, ""));
    let (a, b) = tokio::join!(
        respond(&deps, &click1, now_secs()),
        respond(&deps, &click2, now_secs())
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    assert_eq!(
        world
            .store()
            .load(&id_of(&links[0]))
            .await
            .unwrap()
            .unwrap()
            .votes
            .len(),
        1
    );
}

#[tokio::test]
async fn concurrent_approve_and_reject_exactly_one_wins() {
    let world = World::new().await;
    for _ in 0..3 {
        let (execution, people, links) = ask(&world, 2, 1).await;
        let deps = world.api_deps();
        let approve_page = respond(&deps, &get(&links[0]), now_secs()).await;
        let reject_page = respond(&deps, &get(&links[1]), now_secs()).await;
        let approve = post(&links[0], &form_fields(&approve_page.html, "approve"), "go");
        let reject = post(&links[1], &form_fields(&reject_page.html, "reject"), "stop");
        let (a, r) = tokio::join!(
            respond(&deps, &approve, now_secs()),
            respond(&deps, &reject, now_secs())
        );
        let mut statuses = [a.status, r.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [200, 409],
            "approve: {} reject: {}",
            a.html,
            r.html
        );
        let (state, output, error, _) = world.finished(&execution).await;
        let loaded = world
            .store()
            .load(&id_of(&links[0]))
            .await
            .unwrap()
            .unwrap();
        if a.status == 200 {
            assert_eq!(
                (state.as_str(), loaded.status),
                ("SUCCEEDED", Status::Approved)
            );
            assert_eq!(output["approval"]["approver"], people[0].as_str());
            assert!(r.html.contains(&format!("approved by {}", people[0])));
        } else {
            assert_eq!(
                (state.as_str(), error.as_str(), loaded.status),
                ("FAILED", "ApprovalRejected", Status::Rejected)
            );
            assert!(a.html.contains(&format!("rejected by {}", people[1])));
        }
        assert_eq!(loaded.votes.len(), 1, "the losing vote is not recorded");
    }
}

#[tokio::test]
async fn a_timed_out_task_marks_the_approval_expired_and_answers_410() {
    let world = World::with_timeout(1).await;
    let (execution, _, links) = ask(&world, 1, 1).await;
    let (state, _, error, _) = world.finished(&execution).await;
    assert_eq!(
        (state.as_str(), error.as_str()),
        ("FAILED", "States.Timeout")
    );
    let (status, html) = press(&world, &links[0], "approve", "").await;
    assert_eq!(status, 410, "{html}");
    assert!(html.contains("stopped waiting"), "{html}");
    assert_eq!(status_of(&world, &links[0]).await, Status::Expired);
    assert_eq!(
        respond(&world.api_deps(), &get(&links[0]), now_secs())
            .await
            .status,
        410
    );
}

/// The race behind the flaky timed-out test: Step Functions is asked about a token no execution
/// waits for (the timed-out task's) while other executions are starting (other tests'). moto
/// walked every execution, and one whose worker had not made its environment yet crashed the
/// lookup: 500 InternalFailure, so the approval answered 502 instead of 410. The sandbox now
/// answers as AWS does (`sandboxlib.motofixes`): the workflow no longer waits, every time.
#[tokio::test]
async fn a_token_no_execution_waits_for_is_no_longer_waiting_even_while_other_executions_start() {
    use approvals::adapters::{Outcome, ResumeError, TaskResumer};
    use approvals::model::{Choice, Decision, Target};
    let world = World::new().await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let starters: Vec<_> = (0..3)
        .map(|_| {
            let (sfn, machine, stop) =
                (world.sfn.clone(), world.state_machine.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // A small release: Choice, then Pass; each execution starts and ends at once.
                    let _ = sfn
                        .start_execution()
                        .state_machine_arn(&machine)
                        .name(tollgate_tests::unique("starting"))
                        .input(json!({"changedResources": 1}).to_string())
                        .send()
                        .await;
                }
            })
        })
        .collect();
    let resumer = world.resumer();
    let outcome = Outcome::Decided {
        approval_id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
        decision: Decision {
            outcome: Choice::Approve,
            approver: "a@example.com".into(),
            approved_by: vec!["a@example.com".into()],
            comment: String::new(),
            at: now_secs(),
            progress: vec![],
        },
    };
    let mut answers = Vec::new();
    for i in 0..150 {
        let target = Target::StepFunctions {
            task_token: format!("a-token-no-execution-waits-for-{i}"),
        };
        answers.push(resumer.resume(&target, &outcome).await);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for starter in starters {
        let _ = starter.await;
    }
    let wrong: Vec<_> = answers
        .iter()
        .filter(|a| !matches!(a, Err(ResumeError::NoLongerWaiting(_))))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} answers were not 'no longer waiting': {:?}",
        wrong.len(),
        answers.len(),
        wrong.first()
    );
}

#[tokio::test]
async fn two_of_three_approvers_resume_the_workflow_and_one_approver_twice_does_not_count() {
    let world = World::new().await;
    let (execution, people, links) = ask(&world, 3, 2).await;
    let (first, html) = press(&world, &links[0], "approve", "").await;
    assert_eq!(first, 200);
    assert!(html.contains("1 of 2 approvals"), "{html}");
    // The same approver again: a 409, still waiting.
    let deps = world.api_deps();
    let again = respond(&deps, &get(&links[0]), now_secs()).await;
    assert_eq!(again.status, 200);
    assert!(again.html.contains("You approved"));
    assert_eq!(world.status(&execution).await, "RUNNING");
    let (second, _) = press(&world, &links[1], "approve", "ok").await;
    assert_eq!(second, 200);
    let (state, output, _, _) = world.finished(&execution).await;
    assert_eq!(state, "SUCCEEDED");
    assert_eq!(
        output["approval"]["approvedBy"],
        json!([people[0], people[1]])
    );
    let late = respond(&deps, &get(&links[2]), now_secs()).await;
    assert_eq!(late.status, 409);
}

#[tokio::test]
async fn one_rejection_rejects_after_an_approval() {
    let world = World::new().await;
    let (execution, _, links) = ask(&world, 3, 2).await;
    assert_eq!(press(&world, &links[0], "approve", "").await.0, 200);
    assert_eq!(
        press(&world, &links[1], "reject", "not on a Friday")
            .await
            .0,
        200
    );
    let (state, _, error, _) = world.finished(&execution).await;
    assert_eq!(
        (state.as_str(), error.as_str()),
        ("FAILED", "ApprovalRejected")
    );
}

#[tokio::test]
async fn an_unverified_sender_fails_the_task_instead_of_leaving_it_waiting() {
    let world = World::new().await;
    let people = approvers(2);
    let (execution, task_input) = world.start(release_input(&people, 1)).await;
    let err = handle(
        &world.mailer_deps("nobody@unverified.example.org"),
        &task_input,
        now_secs(),
    )
    .await
    .expect_err("SES refuses an unverified sender");
    assert_eq!(err.error_type, "ApprovalEmailNotSent");
    assert!(
        err.error_message.contains("verified"),
        "{}",
        err.error_message
    );
    let (state, _, error, _) = world.finished(&execution).await;
    assert_eq!(
        (state.as_str(), error.as_str()),
        ("FAILED", "ApprovalEmailNotSent")
    );
    let token = task_input["taskToken"].as_str().unwrap();
    let seen = world
        .store()
        .state
        .get(&request_key(token), "EVENT")
        .await
        .unwrap()
        .unwrap();
    let id = seen.data["approval_id"].as_str().unwrap();
    let loaded = world.store().load(id).await.unwrap().unwrap();
    assert_eq!(loaded.status, Status::Withdrawn);
    assert!(emails_to(&people[0]).is_empty());
}

#[tokio::test]
async fn a_repeated_delivery_of_the_same_task_sends_no_second_email() {
    let world = World::new().await;
    let people = approvers(1);
    let (_, task_input) = world.start(release_input(&people, 1)).await;
    let deps = world.mailer_deps(SENDER);
    handle(&deps, &task_input, now_secs()).await.unwrap();
    let again = handle(&deps, &task_input, now_secs()).await.unwrap();
    assert_eq!(again["duplicate"], true);
    assert_eq!(emails_to(&people[0]).len(), 1);
}

#[tokio::test]
async fn html_injected_in_details_is_inert_in_the_sent_email_and_on_the_page() {
    let world = World::new().await;
    let people = approvers(1);
    let mut input = release_input(&people, 1);
    input["details"] = json!({"<script>alert('k')</script>": "<img src=x onerror=alert(1)>"});
    input["summary"] = json!("</p><a href=\"javascript:alert(2)\">click</a>");
    input["links"] = json!({"<b>bold</b>": "javascript:alert(3)"});
    let (_, task_input) = world.start(input).await;
    handle(&world.mailer_deps(SENDER), &task_input, now_secs())
        .await
        .unwrap();
    let (_, email) = &emails_to(&people[0])[0];
    let page = respond(
        &world.api_deps(),
        &get(&approval_link(&people[0])),
        now_secs(),
    )
    .await;
    for html in [email.as_str(), page.html.as_str()] {
        for live in ["<script", "<img", "href=\"javascript:", "<b>bold"] {
            assert!(!html.contains(live), "{live} is live: {html}");
        }
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    }
}

#[tokio::test]
async fn a_cross_site_post_is_refused_with_403() {
    let world = World::new().await;
    let (_, _, links) = ask(&world, 1, 1).await;
    let deps = world.api_deps();
    let page = respond(&deps, &get(&links[0]), now_secs()).await;
    let fields = form_fields(&page.html, "approve");
    let with_header = |name: &str, value: &str| {
        let mut request = post(&links[0], &fields, "");
        request.headers.retain(|(n, _)| n != name);
        request.headers.push((name.to_string(), value.to_string()));
        request
    };
    let without_fetch_metadata = |origin: &str| {
        let mut request = with_header("origin", origin);
        request.headers.retain(|(n, _)| n != "sec-fetch-site");
        request
    };
    for request in [
        without_fetch_metadata("https://evil.example.net"),
        with_header("sec-fetch-site", "cross-site"),
        with_header("sec-fetch-site", "same-site"),
    ] {
        assert_eq!(respond(&deps, &request, now_secs()).await.status, 403);
    }
    let without_form_token: Vec<(String, String)> = fields
        .iter()
        .filter(|(n, _)| n != "form")
        .cloned()
        .collect();
    assert_eq!(
        respond(&deps, &post(&links[0], &without_form_token, ""), now_secs())
            .await
            .status,
        403
    );
    assert_eq!(status_of(&world, &links[0]).await, Status::Pending);
}

#[tokio::test]
async fn every_page_carries_the_security_headers() {
    let world = World::new().await;
    let (_, _, links) = ask(&world, 1, 1).await;
    let reply = respond(&world.api_deps(), &get(&links[0]), now_secs()).await;
    let response = reply.into_response(false);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    assert!(header("content-security-policy").contains("frame-ancestors 'none'"));
    assert_eq!(header("referrer-policy"), "no-referrer");
    assert_eq!(header("x-frame-options"), "DENY");
    assert_eq!(header("cache-control"), "no-store");
    assert!(header("content-type").starts_with("text/html"));
}

#[tokio::test]
async fn a_program_that_submits_each_form_without_a_persons_input_changes_nothing() {
    let world = World::new().await;
    let (execution, _, links) = ask(&world, 1, 1).await;
    let deps = world.api_deps();
    let page = respond(&deps, &get(&links[0]), now_secs()).await;
    assert!(
        page.html.contains("I reviewed this release") && page.html.contains("continues"),
        "{}",
        page.html
    );
    for decision in ["approve", "reject"] {
        // The form's own fields, untouched: no tick, no reason.
        let as_is = post_as_is(&links[0], &form_fields(&page.html, decision));
        let reply = respond(&deps, &as_is, now_secs()).await;
        assert_eq!(reply.status, 400, "{decision}: {}", reply.html);
        // A scanner that fills the comment but ticks nothing.
        let mut commented = form_fields(&page.html, decision);
        commented.push(("comment".into(), String::new()));
        let reply = respond(&deps, &post_as_is(&links[0], &commented), now_secs()).await;
        assert_eq!(reply.status, 400, "{decision}: {}", reply.html);
    }
    let head = approvals::api::HttpRequest {
        method: "HEAD".into(),
        ..get(&links[0])
    };
    assert_eq!(respond(&deps, &head, now_secs()).await.status, 200);
    assert_eq!(status_of(&world, &links[0]).await, Status::Pending);
    let loaded = world
        .store()
        .load(&id_of(&links[0]))
        .await
        .unwrap()
        .unwrap();
    assert!(loaded.votes.is_empty());
    assert_eq!(world.status(&execution).await, "RUNNING");
    // A person ticks the box: approved.
    let (status, html) = press(&world, &links[0], "approve", "").await;
    assert_eq!(status, 200, "{html}");
}
