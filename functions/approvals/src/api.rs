//! approval-api's handler: `GET /approvals/{id}` shows the page and changes nothing; `POST` records a vote and resumes the workflow once decided.

use lambda_http::{Body, Response};
use tollgate::state::StateStore;

use crate::adapters::{KeySource, TaskResumer};
use crate::deliver::Delivery;
use crate::model::{Approval, Choice, Decision, Status, Vote};
use crate::render::{
    PageContext, approval_message_page, approval_page, content_security_policy, message_page,
    outcome_word, retry_page, time,
};
use crate::signing::{LinkClaims, LinkError, SigningKey, is_id};
use crate::store::{ApprovalStore, Loaded, StoreError};
use crate::votes::{Plan, approvals_that_count, plan, tally};

/// The longest comment kept, in characters.
pub const MAX_COMMENT_CHARS: usize = 1000;
/// How often a vote is re-read and re-tried after losing a race to another vote.
const VOTE_ATTEMPTS: usize = 8;

/// Everything approval-api talks to.
pub struct ApiDeps<S, K, R> {
    pub store: ApprovalStore<S>,
    pub keys: K,
    pub resumer: R,
}

/// The parts of an HTTP request the API reads.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub source_ip: Option<String>,
}

impl HttpRequest {
    pub fn from_lambda(request: &lambda_http::Request) -> Self {
        use lambda_http::RequestExt;
        use lambda_http::request::RequestContext;
        let source_ip = match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
            _ => None,
        };
        HttpRequest {
            method: request.method().as_str().to_string(),
            path: request.uri().path().to_string(),
            query: request.uri().query().unwrap_or("").to_string(),
            headers: request
                .headers()
                .iter()
                .filter_map(|(name, value)| {
                    Some((
                        name.as_str().to_ascii_lowercase(),
                        value.to_str().ok()?.to_string(),
                    ))
                })
                .collect(),
            body: request.body().as_ref().to_vec(),
            source_ip,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The approval id: the path segment after `/approvals/`.
    fn approval_id(&self) -> Option<&str> {
        let (_, rest) = self.path.rsplit_once("/approvals/")?;
        Some(rest.trim_end_matches('/')).filter(|id| is_id(id))
    }
}

/// A page to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub html: String,
    /// `Allow`, for 405.
    pub allow: Option<&'static str>,
}

impl Reply {
    fn new(status: u16, html: String) -> Self {
        Reply {
            status,
            html,
            allow: None,
        }
    }

    fn message(status: u16, title: &str, paragraphs: &[String]) -> Self {
        Reply::new(status, message_page(title, paragraphs))
    }

    /// The HTTP response, with the security headers every page gets.
    pub fn into_response(self, head: bool) -> Response<Body> {
        let mut builder = Response::builder()
            .status(self.status)
            .header("Content-Type", "text/html; charset=utf-8")
            .header("Content-Security-Policy", content_security_policy())
            .header("Referrer-Policy", "no-referrer")
            .header("X-Frame-Options", "DENY")
            .header("X-Content-Type-Options", "nosniff")
            .header("Cache-Control", "no-store");
        if let Some(allow) = self.allow {
            builder = builder.header("Allow", allow);
        }
        let body = if head {
            Body::Empty
        } else {
            Body::Text(self.html)
        };
        builder.body(body).unwrap_or_else(|_| {
            let mut fallback = Response::new(Body::Text("internal error".into()));
            *fallback.status_mut() = lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR;
            fallback
        })
    }
}

/// The Lambda handler (API Gateway HTTP API): every outcome is a page with a status code.
pub async fn handler<S, K, R>(
    deps: &ApiDeps<S, K, R>,
    request: lambda_http::Request,
) -> Result<Response<Body>, lambda_http::Error>
where
    S: StateStore,
    K: KeySource,
    R: TaskResumer,
{
    let request = HttpRequest::from_lambda(&request);
    let reply = respond(deps, &request, crate::store::now_secs()).await;
    Ok(reply.into_response(request.method == "HEAD"))
}

/// One invocation from API Gateway's HTTP API, taken as JSON: a payload that is not an HTTP API
/// request is a `Tollgate.InvalidEvent` error (never the runtime's Rust type name); a request is
/// answered by `handle` and converted to the HTTP API's response payload.
pub async fn handle_event<F, Fut>(
    event: lambda_runtime::LambdaEvent<serde_json::Value>,
    handle: F,
) -> Result<impl serde::Serialize + Send, lambda_runtime::Diagnostic>
where
    F: FnMut(lambda_http::Request) -> Fut + Send,
    Fut: Future<Output = Result<Response<Body>, lambda_http::Error>> + Send,
{
    use lambda_http::Service;
    let lambda_runtime::LambdaEvent { payload, context } = event;
    let request: lambda_http::request::LambdaRequest =
        tollgate::error::parse_event(payload, "an API Gateway HTTP API request")?;
    let mut adapter = lambda_http::Adapter::from(lambda_http::service_fn(handle));
    adapter
        .call(lambda_runtime::LambdaEvent::new(request, context))
        .await
        .map_err(|e| tollgate::error::diagnostic(INTERNAL_ERROR, &e))
}

/// The scheduled run's input (template.yaml's schedule for approval-api).
pub const SCHEDULED_DELIVERY: &str = "deliver-undelivered";

/// Whether `payload` is the scheduled delivery run (`{"action": "deliver-undelivered"}`).
pub fn is_scheduled_delivery(payload: &serde_json::Value) -> bool {
    payload.get("action").and_then(serde_json::Value::as_str) == Some(SCHEDULED_DELIVERY)
}

/// The scheduled run: delivers every decided approval whose workflow was not told.
pub async fn scheduled_delivery<S, K, R>(
    deps: &ApiDeps<S, K, R>,
    now: i64,
) -> Result<serde_json::Value, lambda_runtime::Diagnostic>
where
    S: StateStore,
    R: TaskResumer,
{
    let summary = crate::deliver::deliver_undelivered(&deps.store, &deps.resumer, now)
        .await
        .map_err(|e| tollgate::error::diagnostic("Tollgate.StateError", &e))?;
    tracing::info!(?summary, "scheduled delivery run");
    serde_json::to_value(summary).map_err(|e| tollgate::error::diagnostic(INTERNAL_ERROR, &e))
}

/// Whether `payload` is Lambda's on-failure record of an approval-mailer invocation it gave up on.
pub fn is_mailer_failure(payload: &serde_json::Value) -> bool {
    payload
        .get("requestContext")
        .and_then(|c| c.get("condition"))
        .is_some()
        && payload.get("requestPayload").is_some()
}

/// approval-mailer's on-failure destination: Lambda gave up on an invocation (every retry
/// errored, or the event grew too old), so the workflow it was about is failed (a CodePipeline
/// approval rejected, a Step Functions task failed) naming the mailer's log group, and its
/// approval, if stored and still pending, is withdrawn. Nothing waits for days.
pub async fn mailer_gave_up<S, K, R>(
    deps: &ApiDeps<S, K, R>,
    record: &serde_json::Value,
) -> Result<serde_json::Value, lambda_runtime::Diagnostic>
where
    S: StateStore,
    R: TaskResumer,
{
    use crate::adapters::{NOT_SENT_ERROR, Outcome, ResumeError};
    let context = &record["requestContext"];
    let function = context["functionArn"]
        .as_str()
        .and_then(|arn| arn.split(':').nth(6))
        .unwrap_or("approval-mailer");
    let condition = context["condition"].as_str().unwrap_or("RetriesExhausted");
    let attempts = context["approximateInvokeCount"].as_u64().unwrap_or(0);
    let error = record["responsePayload"]["errorMessage"]
        .as_str()
        .map(|m| crate::request::clip(m, 400))
        .unwrap_or_else(|| "no error message".into());
    let cause = format!(
        "{function} failed for good ({condition} after {attempts} attempt(s)): {error}. See log \
         group /aws/lambda/{function}."
    );
    let targets = crate::request::targets_of(&record["requestPayload"]);
    let mut answered = 0;
    for target in &targets {
        if let Ok(Some(seen)) = deps
            .store
            .state
            .get(&crate::store::request_key(target.token()), "EVENT")
            .await
            && let Some(id) = seen.data["approval_id"].as_str()
            && let Ok(Some(loaded)) = deps.store.load(id).await
            && loaded.status == Status::Pending
        {
            let mut approval = loaded.approval;
            approval.closed_reason = Some(format!("The request was withdrawn: {cause}"));
            if let Err(e) = deps
                .store
                .transition(&approval, Status::Pending, Status::Withdrawn)
                .await
            {
                tracing::warn!(approval_id = %approval.id, error = %e, "could not withdraw the approval");
            }
        }
        let outcome = Outcome::Failed {
            error: NOT_SENT_ERROR.into(),
            cause: cause.clone(),
        };
        match deps.resumer.resume(target, &outcome).await {
            Ok(()) | Err(ResumeError::NoLongerWaiting(_)) => answered += 1,
            Err(e) => {
                tracing::error!(kind = target.kind(), error = %e, "could not fail the workflow after the mailer gave up");
                return Err(tollgate::error::diagnostic(
                    "Tollgate.AwsError",
                    &format!("could not fail the workflow: {e}"),
                ));
            }
        }
    }
    tracing::warn!(%function, condition, attempts, workflows = targets.len(), "approval-mailer gave up: workflows failed");
    Ok(serde_json::json!({ "failedWorkflows": answered }))
}

/// The error type of an approval-api invocation that failed inside Tollgate (a bug).
pub const INTERNAL_ERROR: &str = "Tollgate.InternalError";

/// The page every request gets while the function's configuration is broken (the reason is in
/// the function's log, not on a public page).
pub fn misconfigured(_reason: &str) -> Response<Body> {
    Reply::message(
        500,
        "Tollgate is misconfigured",
        &["The approval service cannot start: its operators will find the reason in its log. Nothing was changed.".into()],
    )
    .into_response(false)
}

/// Answers one request at time `now` (epoch seconds).
pub async fn respond<S, K, R>(deps: &ApiDeps<S, K, R>, request: &HttpRequest, now: i64) -> Reply
where
    S: StateStore,
    K: KeySource,
    R: TaskResumer,
{
    let reply = match request.method.as_str() {
        "GET" | "HEAD" => show(deps, request, now).await,
        "POST" => decide(deps, request, now).await,
        _ => Reply {
            allow: Some("GET, HEAD, POST"),
            ..Reply::message(
                405,
                "Method not allowed",
                &["Open the link from your email.".into()],
            )
        },
    };
    tracing::info!(method = %request.method, status = reply.status, "approval page served");
    reply
}

/// The signed fields of a link (query string on GET, form fields on POST).
struct Fields {
    pairs: Vec<(String, String)>,
}

impl Fields {
    fn parse(text: &[u8]) -> Self {
        Fields {
            pairs: form_urlencoded::parse(text).into_owned().collect(),
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn claims(&self, id: &str) -> Option<(LinkClaims, String)> {
        let approver = self.get("approver")?.to_string();
        let expires_at = self.get("expires")?.trim().parse().ok()?;
        let sig = self.get("sig")?.to_string();
        Some((
            LinkClaims {
                id: id.to_string(),
                approver,
                expires_at,
            },
            sig,
        ))
    }
}

fn not_found() -> Reply {
    Reply::message(
        404,
        "No such approval",
        &[
            "There is no approval request at this address. It may have been removed after it \
           ended; check that you opened the whole link from your email."
                .into(),
        ],
    )
}

fn forbidden(reason: &str) -> Reply {
    Reply::message(
        403,
        "This link is not valid",
        &[
            reason.to_string(),
            "Open the link exactly as it arrived in your email. Links are personal: one sent to \
             someone else does not work for you."
                .into(),
        ],
    )
}

fn unavailable(what: &str) -> Reply {
    Reply::message(
        503,
        "Tollgate cannot answer right now",
        &[format!(
            "{what}. Nothing was changed; try again in a minute."
        )],
    )
}

fn expired_link() -> Reply {
    Reply::message(
        410,
        "This link has expired",
        &["The approval request is no longer open to decisions from this link.".into()],
    )
}

/// A valid link, its approval, and the key it was checked with.
struct Authorized {
    key: SigningKey,
    claims: LinkClaims,
    signature: String,
    loaded: Loaded,
}

/// Signature, expiry, existence and approver checks, in that order.
async fn authorize<S, K, R>(
    deps: &ApiDeps<S, K, R>,
    id: &str,
    fields: &Fields,
    now: i64,
) -> Result<Authorized, Reply>
where
    S: StateStore,
    K: KeySource,
{
    let Some((claims, signature)) = fields.claims(id) else {
        return Err(forbidden(
            "The link is incomplete: it lacks the approver, the expiry or the signature.",
        ));
    };
    let key = deps.keys.key().await.map_err(|e| {
        tracing::error!(error = %e, "no signing key");
        unavailable("Tollgate cannot read its signing key")
    })?;
    match key.verify(&claims, &signature, now) {
        Ok(()) => {}
        Err(LinkError::Tampered) => {
            tracing::warn!(approval_id = %id, "link signature does not match");
            return Err(forbidden(
                "The link's signature does not match: it was changed, or it was signed for someone else.",
            ));
        }
        Err(LinkError::Expired) => return Err(expired_link()),
    }
    let loaded = match deps.store.load(id).await {
        Ok(Some(loaded)) => loaded,
        Ok(None) => return Err(not_found()),
        Err(e) => {
            tracing::error!(approval_id = %id, error = %e, "cannot read the approval");
            return Err(unavailable("Tollgate cannot read the approval"));
        }
    };
    if !loaded.approval.has_approver(&claims.approver) {
        tracing::warn!(approval_id = %id, "signed link for someone who is not an approver");
        return Err(forbidden("This approval was not sent to you."));
    }
    Ok(Authorized {
        key,
        claims,
        signature,
        loaded,
    })
}

/// The page for an approval that is no longer pending: 409 when decided, 410 when it ended
/// without a decision.
fn closed(status: Status, approval: &Approval) -> Reply {
    match (status, &approval.decision) {
        (Status::Approved | Status::Rejected, Some(d)) => {
            let mut lines = decided_lines(approval);
            lines.push("Your click changed nothing.".into());
            Reply::new(
                409,
                approval_message_page(
                    approval,
                    &format!("Already {}", outcome_word(d.outcome)),
                    &lines,
                ),
            )
        }
        (Status::Approved | Status::Rejected, None) => Reply::new(
            409,
            approval_message_page(
                approval,
                "Already decided",
                &[format!(
                    "This request is already {}.",
                    status.as_str().to_lowercase()
                )],
            ),
        ),
        _ => {
            let reason = approval
                .closed_reason
                .clone()
                .unwrap_or_else(|| "The approval request has ended.".into());
            Reply::new(
                410,
                approval_message_page(
                    approval,
                    "This approval request is closed",
                    &[reason, "Nothing can be decided here any more.".into()],
                ),
            )
        }
    }
}

/// Who decided what, when, and their comment.
fn decided_lines(approval: &Approval) -> Vec<String> {
    let Some(d) = &approval.decision else {
        return Vec::new();
    };
    let who = match d.outcome {
        Choice::Approve if d.approved_by.len() > 1 => d.approved_by.join(", "),
        _ => d.approver.clone(),
    };
    let mut lines = vec![format!(
        "This request was already {} by {} at {}.",
        outcome_word(d.outcome),
        who,
        time(d.at)
    )];
    if !d.comment.is_empty() {
        lines.push(format!("Comment: {}", d.comment));
    }
    lines
}

fn vote_word(choice: Choice) -> &'static str {
    match choice {
        Choice::Approve => "approved",
        Choice::Reject => "rejected",
    }
}

fn waiting_line(approval: &Approval, votes: &[Vote]) -> String {
    let progress = approval.progress(&approvals_that_count(approval, votes));
    format!(
        "So far: {}. The release waits for {}.",
        crate::groups::describe(&progress),
        crate::groups::still_needed(&progress)
    )
}

async fn show<S, K, R>(deps: &ApiDeps<S, K, R>, request: &HttpRequest, now: i64) -> Reply
where
    S: StateStore,
    K: KeySource,
{
    let Some(id) = request.approval_id() else {
        return not_found();
    };
    let fields = Fields::parse(request.query.as_bytes());
    let auth = match authorize(deps, id, &fields, now).await {
        Ok(a) => a,
        Err(reply) => return reply,
    };
    let Loaded {
        status,
        approval,
        votes,
        ..
    } = &auth.loaded;
    if undelivered(*status, approval) {
        let form_token = auth.key.form_token(&auth.claims);
        let ctx = PageContext {
            claims: &auth.claims,
            signature: &auth.signature,
            form_token: &form_token,
            votes,
        };
        let mut lines = decided_lines(approval);
        lines.push(format!(
            "{} has not been told yet. Tollgate retries by itself every few minutes; press \
             Deliver now to try at once.",
            capitalised(&approval.target.describe())
        ));
        return Reply::new(409, crate::render::deliver_page(approval, &ctx, &lines));
    }
    if *status != Status::Pending {
        return closed(*status, approval);
    }
    if now >= approval.expires_at {
        return expired_link();
    }
    if let Some(vote) = votes.iter().find(|v| v.approver == auth.claims.approver) {
        return Reply::new(
            200,
            approval_message_page(
                approval,
                &format!("You {} this request", vote_word(vote.choice)),
                &[
                    format!("You {} at {}.", vote_word(vote.choice), time(vote.at)),
                    waiting_line(approval, votes),
                ],
            ),
        );
    }
    let form_token = auth.key.form_token(&auth.claims);
    let ctx = PageContext {
        claims: &auth.claims,
        signature: &auth.signature,
        form_token: &form_token,
        votes,
    };
    Reply::new(200, approval_page(approval, &ctx))
}

/// Why a POST is refused as cross-site, if it is. A browser's `Sec-Fetch-Site` decides when it
/// is sent (every current browser does): only `same-origin` (or `none`, a request the person
/// made) passes. Without it, an `Origin` other than this API's own is refused. The page sends
/// `Referrer-Policy: no-referrer`, under which browsers send `Origin: null` with the form; that,
/// or no Origin at all, leaves the decision to the form token every POST must carry.
fn cross_site(request: &HttpRequest) -> Option<String> {
    match request.header("sec-fetch-site") {
        Some("same-origin" | "none") => None,
        Some(site) => Some(format!(
            "the browser says the form came from another site ({site})"
        )),
        None => match request.header("origin") {
            None | Some("null") => None,
            Some(origin) => {
                let host = request.header("host").unwrap_or("");
                let scheme = request.header("x-forwarded-proto").unwrap_or("https");
                (origin != format!("{scheme}://{host}"))
                    .then(|| "the form was posted from another origin".to_string())
            }
        },
    }
}

async fn decide<S, K, R>(deps: &ApiDeps<S, K, R>, request: &HttpRequest, now: i64) -> Reply
where
    S: StateStore,
    K: KeySource,
    R: TaskResumer,
{
    if let Some(reason) = cross_site(request) {
        tracing::warn!(%reason, "cross-site POST refused");
        return forbidden(&format!(
            "The decision was refused: {reason}. Decide on the page your email link opens."
        ));
    }
    let form = request
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Reply::message(
            400,
            "Not a form",
            &["Decide with the buttons on the page your email link opens.".into()],
        );
    }
    let Some(id) = request.approval_id() else {
        return not_found();
    };
    let fields = Fields::parse(&request.body);
    let auth = match authorize(deps, id, &fields, now).await {
        Ok(a) => a,
        Err(reply) => return reply,
    };
    if !fields
        .get("form")
        .is_some_and(|t| auth.key.verify_form_token(&auth.claims, t))
    {
        return forbidden("The form did not come from the approval page.");
    }
    let Loaded {
        status, approval, ..
    } = &auth.loaded;
    // "Deliver now": its own action, never a side effect of a vote.
    if fields.get("decision") == Some(DELIVER) {
        if undelivered(*status, approval) {
            return resume(deps, &auth, approval.clone(), *status, now).await;
        }
        return closed(*status, approval);
    }
    let choice = match fields.get("decision").and_then(Choice::parse) {
        Some(choice) => choice,
        None if *status != Status::Pending => return closed(*status, approval),
        None => {
            return Reply::message(
                400,
                "No decision",
                &["Press Approve or Reject on the page.".into()],
            );
        }
    };
    if *status == Status::Pending && now >= approval.expires_at {
        return expired_link();
    }
    let comment: String = fields
        .get("comment")
        .unwrap_or("")
        .trim()
        .chars()
        .take(MAX_COMMENT_CHARS)
        .collect();
    if choice == Choice::Approve && fields.get(crate::render::REVIEWED) != Some("on") {
        return Reply::message(
            400,
            "Tick \"I reviewed this release\" to approve",
            &[
                "Nothing was changed. Go back, review the release, tick the box and press Approve."
                    .into(),
            ],
        );
    }
    if choice == Choice::Reject && comment.is_empty() {
        return Reply::message(
            400,
            "A rejection needs a reason",
            &["Go back, write why you reject the release, and press Reject again. Nothing was changed.".into()],
        );
    }
    let vote = Vote {
        approver: auth.claims.approver.clone(),
        choice,
        comment,
        at: now,
        source_ip: request.source_ip.clone(),
        user_agent: request
            .header("user-agent")
            .map(|u| crate::request::clip(u, 300)),
    };
    match cast_vote(&deps.store, id, &vote).await {
        Ok(None) => not_found(),
        Ok(Some(VoteResult::Decided(decided, status))) => {
            tracing::info!(
                approval_id = %id,
                decision = status.as_str(),
                approver = %vote.approver,
                approved_by = ?decided.decision.as_ref().map(|d| d.approved_by.clone()),
                "approval decided"
            );
            resume(deps, &auth, decided, status, now).await
        }
        Ok(Some(VoteResult::Recorded(approval, votes))) => {
            tracing::info!(approval_id = %id, approver = %vote.approver, "approval vote recorded");
            Reply::new(
                200,
                approval_message_page(
                    &approval,
                    "Your approval is recorded",
                    &[waiting_line(&approval, &votes)],
                ),
            )
        }
        Ok(Some(VoteResult::AlreadyVoted(previous))) => Reply::new(
            409,
            approval_message_page(
                approval,
                &format!("You already {} this request", vote_word(previous.choice)),
                &[
                    format!(
                        "You {} at {}. Your click changed nothing.",
                        vote_word(previous.choice),
                        time(previous.at)
                    ),
                    waiting_line(approval, &auth.loaded.votes),
                ],
            ),
        ),
        Ok(Some(VoteResult::Closed(status, approval))) => closed(status, &approval),
        Err(e) => {
            tracing::error!(approval_id = %id, error = %e, "vote not recorded");
            unavailable("Tollgate could not record your decision")
        }
    }
}

/// What recording a vote led to.
#[derive(Debug)]
pub enum VoteResult {
    /// This vote decided the approval (it is now `APPROVED` or `REJECTED` with its decision).
    Decided(Approval, Status),
    /// Recorded; more approvals are needed. The approval and every vote so far.
    Recorded(Approval, Vec<Vote>),
    /// This approver had voted before; nothing changed.
    AlreadyVoted(Vote),
    /// The approval was no longer pending; nothing changed.
    Closed(Status, Approval),
}

fn status_for(choice: Choice) -> Status {
    match choice {
        Choice::Approve => Status::Approved,
        Choice::Reject => Status::Rejected,
    }
}

/// Records `vote` with conditional writes; when it loses a race with another vote it re-reads and
/// decides again, so exactly one vote decides and a repeated vote changes nothing.
pub async fn cast_vote<S: StateStore>(
    store: &ApprovalStore<S>,
    id: &str,
    vote: &Vote,
) -> Result<Option<VoteResult>, StoreError> {
    for _ in 0..VOTE_ATTEMPTS {
        let Some(loaded) = store.load(id).await? else {
            return Ok(None);
        };
        let approval = &loaded.approval;
        let written = match plan(
            loaded.status,
            approval,
            &loaded.votes,
            &vote.approver,
            vote.choice,
        ) {
            Plan::Closed(status) => return Ok(Some(VoteResult::Closed(status, loaded.approval))),
            Plan::AlreadyVoted(previous) => return Ok(Some(VoteResult::AlreadyVoted(previous))),
            Plan::Decide {
                outcome,
                approved_by,
            } => {
                let mut decided = approval.clone();
                let progress = match outcome {
                    Choice::Approve => approval.progress_record(&approved_by),
                    Choice::Reject => {
                        approval.progress_record(&approvals_that_count(approval, &loaded.votes))
                    }
                };
                decided.decision = Some(Decision {
                    outcome,
                    approver: vote.approver.clone(),
                    approved_by,
                    comment: vote.comment.clone(),
                    at: vote.at,
                    progress,
                });
                let to = status_for(outcome);
                match store.vote(approval, vote, to, Some(&decided)).await {
                    Ok(()) => return Ok(Some(VoteResult::Decided(decided, to))),
                    Err(e) => e,
                }
            }
            Plan::Record => match store.vote(approval, vote, Status::Pending, None).await {
                Ok(()) => return finish_if_complete(store, id, vote).await,
                Err(e) => e,
            },
        };
        match written {
            StoreError::Conflict => continue,
            other => return Err(other),
        }
    }
    Err(StoreError::Conflict)
}

/// After a vote that did not decide: votes cast at the same moment may together have reached
/// the count. Whoever sees that first decides (conditionally, so only one does).
async fn finish_if_complete<S: StateStore>(
    store: &ApprovalStore<S>,
    id: &str,
    vote: &Vote,
) -> Result<Option<VoteResult>, StoreError> {
    let Some(loaded) = store.load(id).await? else {
        return Ok(None);
    };
    let approval = loaded.approval;
    if loaded.status == Status::Pending && tally(&approval, &loaded.votes) == Some(Choice::Approve)
    {
        let mut decided = approval.clone();
        let approved_by = approvals_that_count(&approval, &loaded.votes);
        decided.decision = Some(Decision {
            outcome: Choice::Approve,
            approver: vote.approver.clone(),
            progress: approval.progress_record(&approved_by),
            approved_by,
            comment: vote.comment.clone(),
            at: vote.at,
        });
        match store.decide(&decided, Status::Approved).await {
            Ok(()) => return Ok(Some(VoteResult::Decided(decided, Status::Approved))),
            Err(StoreError::Conflict) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Some(VoteResult::Recorded(approval, loaded.votes)))
}

/// The `decision` value of the "deliver now" form.
pub const DELIVER: &str = "deliver";

/// Whether `approval` is decided but its workflow has not been told (nor stopped waiting).
fn undelivered(status: Status, approval: &Approval) -> bool {
    matches!(status, Status::Approved | Status::Rejected)
        && approval.decision.is_some()
        && approval.resumed_at.is_none()
        && approval.closed_reason.is_none()
}

/// Tells the workflow about a recorded decision through the claimed delivery step, and answers
/// with what happened.
async fn resume<S, K, R>(
    deps: &ApiDeps<S, K, R>,
    auth: &Authorized,
    approval: Approval,
    status: Status,
    now: i64,
) -> Reply
where
    S: StateStore,
    R: TaskResumer,
{
    let Some(decision) = approval.decision.clone() else {
        return closed(status, &approval);
    };
    // The claim as it is now (the vote that decided may have been read before it existed).
    let resume_state = match deps.store.load(&approval.id).await {
        Ok(Some(loaded)) => loaded.resume,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::error!(approval_id = %approval.id, error = %e, "cannot read the approval");
            return unavailable("Tollgate cannot read the approval");
        }
    };
    let delivery = crate::deliver::deliver(
        &deps.store,
        &deps.resumer,
        approval.clone(),
        status,
        resume_state,
        crate::deliver::Attempt {
            by: &auth.claims.approver,
            now,
            scheduled: false,
        },
    )
    .await;
    match delivery {
        Ok(Delivery::Delivered { approval, .. }) => {
            let (title, line) = match decision.outcome {
                Choice::Approve => (
                    "Approved",
                    format!(
                        "Thank you. {} continues.",
                        capitalised(&approval.target.describe())
                    ),
                ),
                Choice::Reject => (
                    "Rejected",
                    format!(
                        "Thank you. {} was told, with your reason.",
                        capitalised(&approval.target.describe())
                    ),
                ),
            };
            let who = if decision.approved_by.len() > 1 {
                decision.approved_by.join(", ")
            } else {
                decision.approver.clone()
            };
            let mut lines = vec![format!("{} by {} at {}.", title, who, time(decision.at))];
            if decision.progress.iter().any(|p| p.group.is_some()) {
                lines.push(format!("Per group: {}.", progress_text(&decision.progress)));
            }
            lines.push(line);
            Reply::new(200, approval_message_page(&approval, title, &lines))
        }
        Ok(Delivery::InProgress { since, by }) => Reply::new(
            202,
            approval_message_page(
                &approval,
                "Being delivered",
                &[
                    format!(
                        "This request was {} by {} at {}. Tollgate has been passing that to {} \
                         since {} (started by {by}).",
                        outcome_word(decision.outcome),
                        decision.approver,
                        time(decision.at),
                        approval.target.describe(),
                        time(since)
                    ),
                    "Nothing was changed. Reload in a minute to see how it went.".into(),
                ],
            ),
        ),
        Ok(Delivery::NoLongerWaiting { approval }) => closed(Status::Expired, &approval),
        Ok(Delivery::Failed { approval, problem }) => {
            let form_token = auth.key.form_token(&auth.claims);
            let ctx = PageContext {
                claims: &auth.claims,
                signature: &auth.signature,
                form_token: &form_token,
                votes: &auth.loaded.votes,
            };
            Reply::new(502, retry_page(&approval, &ctx, &problem))
        }
        Ok(Delivery::AlreadyDelivered | Delivery::NotDue | Delivery::Ended) => {
            match deps.store.load(&approval.id).await {
                Ok(Some(loaded)) => closed(loaded.status, &loaded.approval),
                _ => closed(status, &approval),
            }
        }
        Err(e) => {
            tracing::error!(approval_id = %approval.id, error = %e, "delivery not started");
            unavailable("Tollgate could not start telling the workflow")
        }
    }
}

/// `release: 1 of 1 (bob@example.com); security: 1 of 1 (dana@example.com)`.
fn progress_text(progress: &[crate::model::GroupProgress]) -> String {
    progress
        .iter()
        .map(|p| {
            let who = if p.approved_by.is_empty() {
                String::new()
            } else {
                format!(" ({})", p.approved_by.join(", "))
            };
            format!(
                "{}: {} of {}{who}",
                p.group.as_deref().unwrap_or("approvals"),
                p.approved_by.len(),
                p.required
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::SigningKey;

    /// The sandbox's sample key (scripts/approvals_story.py), which signed events/approval-api.*.
    const SAMPLE_KEY: &[u8] = b"tollgate-sandbox-sample-signing-key-not-a-secret-0123456789";

    fn sample(name: &str) -> HttpRequest {
        let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        let request = lambda_http::request::from_str(&text).unwrap();
        HttpRequest::from_lambda(&request)
    }

    fn claims_of(request: &HttpRequest, from_body: bool) -> (LinkClaims, String, Fields) {
        let fields = if from_body {
            Fields::parse(&request.body)
        } else {
            Fields::parse(request.query.as_bytes())
        };
        let id = request.approval_id().unwrap().to_string();
        let (claims, sig) = fields.claims(&id).unwrap();
        (claims, sig, fields)
    }

    #[test]
    fn the_sample_get_event_is_read_and_its_link_verifies() {
        let request = sample("approval-api.get.json");
        assert_eq!(request.method, "GET");
        assert_eq!(request.source_ip.as_deref(), Some("198.51.100.7"));
        let (claims, sig, _) = claims_of(&request, false);
        let key = SigningKey::new(SAMPLE_KEY.to_vec()).unwrap();
        assert_eq!(key.verify(&claims, &sig, 1_800_000_000), Ok(()));
        assert_eq!(claims.approver, "release.manager@example.com");
    }

    #[test]
    fn the_sample_tampered_event_fails_verification() {
        let request = sample("approval-api.tampered.json");
        let (claims, sig, _) = claims_of(&request, false);
        let key = SigningKey::new(SAMPLE_KEY.to_vec()).unwrap();
        assert_eq!(
            key.verify(&claims, &sig, 1_800_000_000),
            Err(LinkError::Tampered)
        );
    }

    #[test]
    fn the_sample_post_event_carries_a_base64_form_with_a_valid_form_token() {
        let request = sample("approval-api.post-approve.json");
        assert_eq!(request.method, "POST");
        assert!(cross_site(&request).is_none(), "same origin");
        let (claims, sig, fields) = claims_of(&request, true);
        let key = SigningKey::new(SAMPLE_KEY.to_vec()).unwrap();
        assert_eq!(key.verify(&claims, &sig, 1_800_000_000), Ok(()));
        assert!(key.verify_form_token(&claims, fields.get("form").unwrap()));
        assert_eq!(fields.get("decision"), Some("approve"));
        assert_eq!(fields.get("comment"), Some("Change set reviewed."));
        assert_eq!(fields.get("reviewed"), Some("on"), "the box is ticked");
    }

    fn with_headers(headers: &[(&str, &str)]) -> HttpRequest {
        let mut request = sample("approval-api.post-approve.json");
        request
            .headers
            .retain(|(n, _)| n != "origin" && n != "sec-fetch-site");
        for (name, value) in headers {
            request.headers.push((name.to_string(), value.to_string()));
        }
        request
    }

    #[test]
    fn the_browsers_fetch_site_decides_and_origin_null_from_no_referrer_is_accepted() {
        let own = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com";
        for allowed in [
            with_headers(&[("sec-fetch-site", "same-origin"), ("origin", "null")]),
            with_headers(&[("sec-fetch-site", "same-origin"), ("origin", own)]),
            with_headers(&[("origin", own)]),
            with_headers(&[("origin", "null")]),
            with_headers(&[]),
        ] {
            assert_eq!(cross_site(&allowed), None, "{:?}", allowed.headers);
        }
        for refused in [
            with_headers(&[("sec-fetch-site", "cross-site"), ("origin", "null")]),
            with_headers(&[("sec-fetch-site", "same-site"), ("origin", own)]),
            with_headers(&[("origin", "https://evil.example.net")]),
            with_headers(&[(
                "origin",
                "http://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            )]),
        ] {
            assert!(cross_site(&refused).is_some(), "{:?}", refused.headers);
        }
    }

    #[test]
    fn a_post_from_another_origin_or_site_is_cross_site() {
        let mut request = sample("approval-api.post-approve.json");
        request
            .headers
            .retain(|(n, _)| n != "origin" && n != "sec-fetch-site");
        request
            .headers
            .push(("origin".into(), "https://evil.example.net".into()));
        assert!(cross_site(&request).is_some());
        let mut request = sample("approval-api.post-approve.json");
        request.headers.retain(|(n, _)| n != "sec-fetch-site");
        request
            .headers
            .push(("sec-fetch-site".into(), "cross-site".into()));
        assert!(cross_site(&request).is_some());
    }

    #[test]
    fn ids_are_taken_from_the_last_path_segment_only() {
        let request = |path: &str| HttpRequest {
            path: path.into(),
            ..Default::default()
        };
        assert_eq!(
            request("/approvals/sampleApproval00000001").approval_id(),
            Some("sampleApproval00000001")
        );
        assert_eq!(
            request("/lambda-url/approval-api/approvals/sampleApproval00000001/").approval_id(),
            Some("sampleApproval00000001")
        );
        assert_eq!(request("/approvals/../../x").approval_id(), None);
        assert_eq!(request("/other").approval_id(), None);
    }
}

/// Races of votes against a state store whose conditional writes are atomic, as DynamoDB's are.
#[cfg(test)]
mod races {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use serde_json::Value;
    use tollgate::state::{Record, StateError, StateStore, Write};

    use super::*;
    use crate::model::Target;
    use crate::store::{APPROVAL_SK, pk};

    /// An atomic in-memory state table (every call holds the lock for its whole write), with a
    /// yield before each write so that concurrent votes interleave.
    #[derive(Default)]
    struct AtomicTable(Mutex<BTreeMap<(String, String), Record>>);

    impl AtomicTable {
        fn apply(&self, writes: &[Write]) -> Result<(), StateError> {
            let mut items = self.0.lock().unwrap();
            for write in writes {
                match write {
                    Write::Create(r) if items.contains_key(&(r.pk.clone(), r.sk.clone())) => {
                        return Err(StateError::AlreadyExists {
                            pk: r.pk.clone(),
                            sk: r.sk.clone(),
                        });
                    }
                    Write::Transition {
                        pk, sk, from, to, ..
                    } => {
                        let current = items
                            .get(&(pk.clone(), sk.clone()))
                            .and_then(|r| r.state.clone());
                        if current.as_deref() != Some(from.as_str()) {
                            return Err(StateError::TransitionNotAllowed {
                                pk: pk.clone(),
                                sk: sk.clone(),
                                from: from.clone(),
                                to: to.clone(),
                                current,
                            });
                        }
                    }
                    Write::Create(_) => {}
                }
            }
            for write in writes {
                match write {
                    Write::Create(r) => {
                        items.insert((r.pk.clone(), r.sk.clone()), r.clone());
                    }
                    Write::Transition {
                        pk, sk, to, data, ..
                    } => {
                        if let Some(item) = items.get_mut(&(pk.clone(), sk.clone())) {
                            item.state = Some(to.clone());
                            if let Some(data) = data {
                                item.data = data.clone();
                            }
                        }
                    }
                }
            }
            Ok(())
        }
    }

    impl StateStore for AtomicTable {
        async fn create(&self, record: &Record) -> Result<(), StateError> {
            tokio::task::yield_now().await;
            self.apply(&[Write::Create(record.clone())])
        }
        async fn transition(
            &self,
            pk: &str,
            sk: &str,
            from: &str,
            to: &str,
            data: Option<&Value>,
        ) -> Result<(), StateError> {
            tokio::task::yield_now().await;
            self.apply(&[Write::Transition {
                pk: pk.into(),
                sk: sk.into(),
                from: from.into(),
                to: to.into(),
                data: data.cloned(),
            }])
        }
        async fn get(&self, pk: &str, sk: &str) -> Result<Option<Record>, StateError> {
            Ok(self
                .0
                .lock()
                .unwrap()
                .get(&(pk.to_string(), sk.to_string()))
                .cloned())
        }
        async fn query(&self, pk: &str) -> Result<Vec<Record>, StateError> {
            tokio::task::yield_now().await;
            Ok(self
                .0
                .lock()
                .unwrap()
                .values()
                .filter(|r| r.pk == pk)
                .cloned()
                .collect())
        }
        async fn write_all(&self, writes: &[Write]) -> Result<(), StateError> {
            tokio::task::yield_now().await;
            self.apply(writes)
        }
        async fn delete(&self, pk: &str, sk: &str) -> Result<(), StateError> {
            self.0
                .lock()
                .unwrap()
                .remove(&(pk.to_string(), sk.to_string()));
            Ok(())
        }
    }

    async fn pending(required: u32, approvers: &[&str]) -> ApprovalStore<AtomicTable> {
        let store = ApprovalStore::new(AtomicTable::default(), std::time::Duration::from_secs(60));
        let approval = Approval {
            id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            target: Target::StepFunctions {
                task_token: "t".into(),
            },
            approvers: approvers.iter().map(|a| a.to_string()).collect(),
            required_approvals: required,
            quorum: None,
            membership: vec![],
            requested_by: None,
            subject: "s".into(),
            summary: String::new(),
            details: vec![],
            links: vec![],
            created_at: 0,
            expires_at: 100,
            decision: None,
            resumed_at: None,
            closed_reason: None,
        };
        assert!(store.create(&approval).await.unwrap());
        store
    }

    fn vote(approver: &str, choice: Choice) -> Vote {
        Vote {
            approver: approver.into(),
            choice,
            comment: "c".into(),
            at: 1,
            source_ip: None,
            user_agent: None,
        }
    }

    async fn race(
        store: &ApprovalStore<AtomicTable>,
        first: Vote,
        second: Vote,
    ) -> (Option<VoteResult>, Option<VoteResult>) {
        let id = "AAAAAAAAAAAAAAAAAAAAAA";
        let (a, b) = tokio::join!(cast_vote(store, id, &first), cast_vote(store, id, &second));
        (a.unwrap(), b.unwrap())
    }

    fn decided(result: &Option<VoteResult>) -> bool {
        matches!(result, Some(VoteResult::Decided(..)))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn an_approve_and_a_reject_at_the_same_moment_decide_exactly_once() {
        for _ in 0..50 {
            let store = pending(1, &["a@x.io", "b@x.io"]).await;
            let (a, b) = race(
                &store,
                vote("a@x.io", Choice::Approve),
                vote("b@x.io", Choice::Reject),
            )
            .await;
            assert!(decided(&a) ^ decided(&b), "{a:?} {b:?}");
            let loser = if decided(&a) { &b } else { &a };
            assert!(matches!(loser, Some(VoteResult::Closed(..))), "{loser:?}");
            let loaded = store.load("AAAAAAAAAAAAAAAAAAAAAA").await.unwrap().unwrap();
            assert_eq!(loaded.votes.len(), 1, "only the winning vote is recorded");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_same_approver_clicking_twice_at_once_decides_once() {
        for _ in 0..50 {
            let store = pending(1, &["a@x.io"]).await;
            let (first, second) = race(
                &store,
                vote("a@x.io", Choice::Approve),
                vote("a@x.io", Choice::Approve),
            )
            .await;
            assert!(decided(&first) ^ decided(&second), "{first:?} {second:?}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_of_three_approving_at_the_same_moment_decide_exactly_once() {
        for _ in 0..50 {
            let store = pending(2, &["a@x.io", "b@x.io", "c@x.io"]).await;
            let (a, b) = race(
                &store,
                vote("a@x.io", Choice::Approve),
                vote("b@x.io", Choice::Approve),
            )
            .await;
            assert!(
                decided(&a) ^ decided(&b),
                "exactly one decides: {a:?} {b:?}"
            );
            let loaded = store.load("AAAAAAAAAAAAAAAAAAAAAA").await.unwrap().unwrap();
            assert_eq!(loaded.status, Status::Approved);
            assert_eq!(loaded.votes.len(), 2, "both approvals count");
            let record = store
                .state
                .get(&pk("AAAAAAAAAAAAAAAAAAAAAA"), APPROVAL_SK)
                .await
                .unwrap()
                .unwrap();
            let approval: Approval = serde_json::from_value(record.data).unwrap();
            assert_eq!(approval.decision.unwrap().approved_by.len(), 2);
        }
    }
}

#[cfg(test)]
mod invocation {
    use super::{INTERNAL_ERROR, handle_event, misconfigured};
    use lambda_runtime::{Context, LambdaEvent};
    use serde_json::{Value, json};

    fn event(payload: Value) -> LambdaEvent<Value> {
        LambdaEvent::new(payload, Context::default())
    }

    #[tokio::test]
    async fn a_payload_that_is_not_an_http_request_is_a_stable_invalid_event() {
        let Err(err) = handle_event(event(json!({})), |_| async {
            Ok::<_, lambda_http::Error>(misconfigured(""))
        })
        .await
        else {
            panic!("{{}} was answered as a request");
        };
        assert_eq!(err.error_type, "Tollgate.InvalidEvent");
        assert!(!err.error_message.is_empty());
    }

    #[tokio::test]
    async fn a_sample_request_is_answered_as_an_http_api_response() {
        let sample: Value =
            serde_json::from_str(include_str!("../../../events/approval-api.get.json")).unwrap();
        let Ok(response) = handle_event(event(sample), |_| async {
            Ok::<_, lambda_http::Error>(misconfigured(""))
        })
        .await
        else {
            panic!("the sample request was refused");
        };
        let response = serde_json::to_value(response).unwrap();
        assert_eq!(response["statusCode"], 500, "{response}");
    }

    #[tokio::test]
    async fn a_failing_handler_is_a_stable_internal_error() {
        let sample: Value =
            serde_json::from_str(include_str!("../../../events/approval-api.get.json")).unwrap();
        let Err(err) = handle_event(event(sample), |_| async {
            Err::<lambda_http::Response<lambda_http::Body>, lambda_http::Error>("boom".into())
        })
        .await
        else {
            panic!("the failure was not returned");
        };
        assert_eq!(err.error_type, INTERNAL_ERROR);
    }
}
