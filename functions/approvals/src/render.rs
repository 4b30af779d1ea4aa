//! The email (HTML and plain text) and the approval pages, rendered with maud, which escapes every value.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use sha2::{Digest, Sha256};

use crate::groups::Quorum;
use crate::model::{Approval, Choice, Vote};
use crate::signing::LinkClaims;

/// The pages' only stylesheet. The Content-Security-Policy allows exactly this text (by hash), no
/// script at all, and forms that post back to the same origin.
pub const STYLE: &str = "\
:root{color-scheme:light dark;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;line-height:1.5}\
body{margin:0;padding:1rem;background:Canvas;color:CanvasText}\
main{max-width:40rem;margin:0 auto}\
h1{font-size:1.4rem;margin:.5rem 0 1rem}\
.summary{white-space:pre-wrap;font-size:1.05rem}\
table{border-collapse:collapse;width:100%;margin:1rem 0}\
th,td{text-align:left;vertical-align:top;padding:.4rem .5rem;border-bottom:1px solid GrayText;overflow-wrap:anywhere}\
th{width:35%;font-weight:600}\
ul.links{padding-left:1.2rem}\
.meta{color:GrayText;font-size:.9rem}\
form{margin:1.25rem 0;padding:1rem;border:1px solid GrayText;border-radius:.5rem}\
label{display:block;font-weight:600;margin-bottom:.3rem}\
label.inline{display:inline;font-weight:600}\
p.check{margin:.6rem 0 0}\
textarea{box-sizing:border-box;width:100%;min-height:4.5rem;font:inherit;padding:.4rem}\
button{font:inherit;font-size:1.05rem;margin-top:.6rem;padding:.7rem 1.2rem;border:0;border-radius:.4rem;cursor:pointer;width:100%}\
button.approve{background:#1a7f37;color:#fff}\
button.reject{background:#b42318;color:#fff}\
.status{padding:.75rem 1rem;border-radius:.5rem;border:1px solid GrayText}\
@media(min-width:40rem){button{width:auto}}";

/// `'sha256-…'` of [`STYLE`], for the Content-Security-Policy.
fn style_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        format!(
            "'sha256-{}'",
            STANDARD.encode(Sha256::digest(STYLE.as_bytes()))
        )
    })
}

/// The Content-Security-Policy of every page: nothing loads, nothing runs, nothing frames it,
/// and forms post only to the page's own origin.
pub fn content_security_policy() -> String {
    format!(
        "default-src 'none'; style-src {}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        style_hash()
    )
}

/// `2026-11-22T10:00:00Z`.
pub fn rfc3339(epoch_secs: i64) -> String {
    use aws_smithy_types::DateTime;
    use aws_smithy_types::date_time::Format;
    DateTime::from_secs(epoch_secs)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| epoch_secs.to_string())
}

/// `2026-11-22 10:00 UTC`.
pub fn time(epoch_secs: i64) -> String {
    let t = rfc3339(epoch_secs);
    match (t.get(..10), t.get(11..16)) {
        (Some(day), Some(minute)) => format!("{day} {minute} UTC"),
        _ => t,
    }
}

/// The URL when it is a plain http(s) URL, so it may become a link; anything else (`javascript:`,
/// `data:`) is shown as text.
pub fn safe_url(url: &str) -> Option<&str> {
    let lower = url.trim_start().get(..8).unwrap_or("").to_ascii_lowercase();
    let is_web = lower.starts_with("https://") || lower.starts_with("http://");
    (is_web && !url.chars().any(|c| c.is_control() || c.is_whitespace())).then_some(url)
}

fn details_table(approval: &Approval) -> Markup {
    html! {
        @if !approval.details.is_empty() {
            table {
                @for (name, value) in &approval.details {
                    tr { th scope="row" { (name) } td { (value) } }
                }
            }
        }
    }
}

fn links_list(approval: &Approval) -> Markup {
    html! {
        @if !approval.links.is_empty() {
            ul.links {
                @for (label, url) in &approval.links {
                    li {
                        @match safe_url(url) {
                            Some(href) => a href=(href) rel="noreferrer noopener" { (label) },
                            None => { (label) ": " code { (url) } },
                        }
                    }
                }
            }
        }
    }
}

/// A whole page: head (viewport for phones, the one stylesheet) and `body`.
pub fn document(title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex, nofollow";
                title { (title) " · Tollgate" }
                style { (PreEscaped(STYLE)) }
            }
            body { main { (body) } }
        }
    }
    .into_string()
}

/// The Approve form's checkbox ("I reviewed this release"): browsers send `reviewed=on` only
/// when a person ticked it.
pub const REVIEWED: &str = "reviewed";

/// What the approval page needs besides the approval.
pub struct PageContext<'a> {
    pub claims: &'a LinkClaims,
    pub signature: &'a str,
    pub form_token: &'a str,
    /// Votes recorded so far.
    pub votes: &'a [Vote],
}

fn hidden_fields(ctx: &PageContext<'_>) -> Markup {
    html! {
        input type="hidden" name="approver" value=(ctx.claims.approver);
        input type="hidden" name="expires" value=(ctx.claims.expires_at);
        input type="hidden" name="sig" value=(ctx.signature);
        input type="hidden" name="form" value=(ctx.form_token);
    }
}

/// Whether the approval needs more than one approval, or approvals from named groups.
fn needs_several(approval: &Approval) -> bool {
    approval.required_approvals > 1 || matches!(approval.quorum(), Quorum::Groups(_))
}

/// Who approved so far and what is still needed, per group.
fn progress(approval: &Approval, votes: &[Vote]) -> Markup {
    let buckets = approval.progress(&crate::votes::approvals_that_count(approval, votes));
    html! {
        @if needs_several(approval) {
            table.progress {
                @for b in &buckets {
                    tr {
                        th scope="row" {
                            @match &b.group { Some(g) => { "Group " (g) }, None => "Approvals" }
                        }
                        td {
                            (b.counted.len()) " of " (b.required)
                            @if !b.counted.is_empty() { " (" (b.counted.join(", ")) ")" }
                            @if b.missing() > 0 { ": " (b.missing()) " more needed" }
                        }
                    }
                }
            }
        }
    }
}

/// The page a valid link opens: what is asked, and the Approve / Reject forms.
pub fn approval_page(approval: &Approval, ctx: &PageContext<'_>) -> String {
    let body = html! {
        h1 { (approval.subject) }
        @if !approval.summary.is_empty() { p.summary { (approval.summary) } }
        (details_table(approval))
        (links_list(approval))
        p.meta {
            "You are deciding as " strong { (ctx.claims.approver) } ". This link works until "
            (time(approval.expires_at)) "."
        }
        (progress(approval, ctx.votes))
        form method="post" action=(approval.id) {
            (hidden_fields(ctx))
            input type="hidden" name="decision" value="approve";
            label for="approve-comment" { "Comment (optional)" }
            textarea id="approve-comment" name="comment" maxlength="1000" {}
            // A deliberate act: a program that submits the form as it comes approves nothing.
            p.check {
                input type="checkbox" id=(REVIEWED) name=(REVIEWED) required;
                " "
                label.inline for=(REVIEWED) { "I reviewed this release" }
            }
            button.approve type="submit" { "Approve: " (approval.target.describe()) " continues" }
        }
        form method="post" action=(approval.id) {
            (hidden_fields(ctx))
            input type="hidden" name="decision" value="reject";
            label for="reject-reason" { "Reason for rejecting (required)" }
            textarea id="reject-reason" name="comment" required minlength="1" maxlength="1000" {}
            button.reject type="submit" { "Reject: " (approval.target.describe()) " stops" }
        }
    };
    document(&approval.subject, body)
}

/// A page that reports something: a title, and paragraphs.
pub fn message_page(title: &str, paragraphs: &[String]) -> String {
    document(
        title,
        html! {
            h1 { (title) }
            div.status {
                @for p in paragraphs { p { (p) } }
            }
        },
    )
}

/// A page that reports something about an approval, with its context underneath.
pub fn approval_message_page(approval: &Approval, title: &str, paragraphs: &[String]) -> String {
    document(
        title,
        html! {
            h1 { (title) }
            div.status {
                @for p in paragraphs { p { (p) } }
            }
            h2 { (approval.subject) }
            @if !approval.summary.is_empty() { p.summary { (approval.summary) } }
            (details_table(approval))
        },
    )
}

/// A decided approval whose workflow has not been told: what happened, and a "Deliver now" form
/// (its own action: it carries no vote). The scheduled run retries too.
pub fn retry_page(approval: &Approval, ctx: &PageContext<'_>, problem: &str) -> String {
    deliver_page(
        approval,
        ctx,
        &[
            format!(
                "The decision is recorded, but Tollgate could not pass it to {} yet: {problem}",
                approval.target.describe()
            ),
            "Tollgate tries again by itself every few minutes. Press the button to try now. \
             Nothing is decided twice."
                .into(),
        ],
    )
}

/// The "Deliver now" page with `paragraphs` above the form.
pub fn deliver_page(approval: &Approval, ctx: &PageContext<'_>, paragraphs: &[String]) -> String {
    document(
        "Decision recorded, workflow not yet told",
        html! {
            h1 { "Decision recorded, workflow not yet told" }
            div.status {
                @for p in paragraphs { p { (p) } }
            }
            form method="post" action=(approval.id) {
                (hidden_fields(ctx))
                input type="hidden" name="decision" value="deliver";
                button.approve type="submit" { "Deliver now" }
            }
        },
    )
}

/// The words for a decision: `approved` / `rejected`.
pub fn outcome_word(choice: Choice) -> &'static str {
    match choice {
        Choice::Approve => "approved",
        Choice::Reject => "rejected",
    }
}

/// `This release needs 2 approvals (release: 1, security: 1). One rejection rejects it.`
pub fn quorum_sentence(approval: &Approval) -> String {
    let parts = match approval.quorum() {
        Quorum::Groups(groups) => {
            let each: Vec<String> = groups.iter().map(|(g, n)| format!("{g}: {n}")).collect();
            format!(" ({}; each person counts once)", each.join(", "))
        }
        Quorum::Count(_) => String::new(),
    };
    format!(
        "This release needs {} approvals{parts}. One rejection rejects it.",
        approval.required_approvals
    )
}

/// The approval email for one approver, as HTML (inline styles: mail clients drop stylesheets).
pub fn email_html(approval: &Approval, approver: &str, link: &str) -> String {
    let button = "display:inline-block;background:#1f4fd1;color:#ffffff;padding:12px 20px;border-radius:6px;text-decoration:none;font-weight:600";
    let cell = "text-align:left;vertical-align:top;padding:6px 8px;border-bottom:1px solid #dddddd";
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (approval.subject) }
            }
            body style="margin:0;padding:16px;font-family:Arial,Helvetica,sans-serif;line-height:1.5;color:#111111" {
                div style="max-width:600px;margin:0 auto" {
                    h1 style="font-size:20px" { (approval.subject) }
                    @if !approval.summary.is_empty() {
                        p style="white-space:pre-wrap" { (approval.summary) }
                    }
                    @if !approval.details.is_empty() {
                        table style="border-collapse:collapse;width:100%" {
                            @for (name, value) in &approval.details {
                                tr { th style=(cell) { (name) } td style=(cell) { (value) } }
                            }
                        }
                    }
                    @if !approval.links.is_empty() {
                        ul {
                            @for (label, url) in &approval.links {
                                li {
                                    @match safe_url(url) {
                                        Some(href) => a href=(href) { (label) },
                                        None => { (label) ": " (url) },
                                    }
                                }
                            }
                        }
                    }
                    @if needs_several(approval) {
                        p { (quorum_sentence(approval)) }
                    }
                    p style="margin:24px 0" { a href=(link) style=(button) { "Review and decide" } }
                    p style="font-size:13px;color:#555555" {
                        "Opening the link changes nothing: you approve or reject on the page. "
                        "The link is for " (approver) " only and works until " (time(approval.expires_at)) ". "
                        "Anyone you forward it to could decide in your name."
                    }
                }
            }
        }
    }
    .into_string()
}

/// The same email as plain text.
pub fn email_text(approval: &Approval, approver: &str, link: &str) -> String {
    let mut out = format!("{}\n\n", approval.subject);
    if !approval.summary.is_empty() {
        out.push_str(&approval.summary);
        out.push_str("\n\n");
    }
    for (name, value) in &approval.details {
        out.push_str(&format!("{name}: {value}\n"));
    }
    if !approval.details.is_empty() {
        out.push('\n');
    }
    for (label, url) in &approval.links {
        out.push_str(&format!("{label}: {url}\n"));
    }
    if !approval.links.is_empty() {
        out.push('\n');
    }
    if needs_several(approval) {
        out.push_str(&quorum_sentence(approval));
        out.push_str("\n\n");
    }
    out.push_str(&format!(
        "Review and decide: {link}\n\nOpening the link changes nothing: you approve or reject on the page. \
         The link is for {approver} only and works until {}. Anyone you forward it to could decide in your name.\n",
        time(approval.expires_at)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Target;

    /// The link claims of approver a@example.com for `a`.
    fn claims_of(a: &Approval) -> LinkClaims {
        LinkClaims {
            id: a.id.clone(),
            approver: "a@example.com".into(),
            expires_at: a.expires_at,
        }
    }

    fn approval(details: Vec<(String, String)>, links: Vec<(String, String)>) -> Approval {
        Approval {
            id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            target: Target::StepFunctions {
                task_token: "TOKEN-NEVER-SHOWN".into(),
            },
            approvers: vec!["a@example.com".into()],
            required_approvals: 1,
            quorum: None,
            membership: vec![],
            requested_by: None,
            subject: "Release <b>orders</b>".into(),
            summary: "Ships <script>alert(1)</script>".into(),
            details,
            links,
            created_at: 0,
            expires_at: 1_800_000_000,
            decision: None,
            resumed_at: None,
            closed_reason: None,
        }
    }

    const INJECTION: &str = "<img src=x onerror=alert(1)>\"'&";

    fn hostile() -> Approval {
        approval(
            vec![(INJECTION.into(), INJECTION.into())],
            vec![
                (INJECTION.into(), "javascript:alert(1)".into()),
                ("ok".into(), "https://example.com/a?b=1&c=\"2\"".into()),
            ],
        )
    }

    fn assert_inert(html: &str) {
        for raw in ["<img", "<script", "onerror=alert(1)>", "href=\"javascript:"] {
            assert!(!html.contains(raw), "{raw} is live in: {html}");
        }
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{html}"
        );
    }

    #[test]
    fn html_in_details_is_inert_in_the_email() {
        let html = email_html(
            &hostile(),
            "a@example.com",
            "https://api.example.com/approvals/x?sig=1",
        );
        assert_inert(&html);
        assert!(
            html.contains("href=\"https://example.com/a?b=1&amp;c=&quot;2&quot;\""),
            "{html}"
        );
    }

    #[test]
    fn html_in_details_is_inert_on_the_page() {
        let claims = LinkClaims {
            id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            approver: "a@example.com".into(),
            expires_at: 1_800_000_000,
        };
        let ctx = PageContext {
            claims: &claims,
            signature: "sig\"><script>",
            form_token: "f",
            votes: &[],
        };
        let html = approval_page(&hostile(), &ctx);
        assert_inert(&html);
        assert!(!html.contains("sig\"><script>"), "{html}");
    }

    /// The approval page of `a` with placeholder signature and form token, and no votes yet.
    fn page_without_votes(a: &Approval) -> String {
        let claims = claims_of(a);
        approval_page(
            a,
            &PageContext {
                claims: &claims,
                signature: "s",
                form_token: "f",
                votes: &[],
            },
        )
    }

    #[test]
    fn the_token_is_in_neither_email_nor_page() {
        let a = approval(vec![], vec![]);
        for text in [
            email_html(&a, "a@example.com", "https://x/approvals/y"),
            email_text(&a, "a@example.com", "https://x/approvals/y"),
            page_without_votes(&a),
        ] {
            assert!(!text.contains("TOKEN-NEVER-SHOWN"));
        }
    }

    #[test]
    fn the_page_has_both_forms_and_reject_requires_a_reason() {
        let a = approval(vec![], vec![]);
        let html = page_without_votes(&a);
        assert_eq!(html.matches("method=\"post\"").count(), 2);
        assert!(html.contains("name=\"decision\" value=\"approve\""));
        assert!(html.contains("name=\"decision\" value=\"reject\""));
        assert!(html.contains("name=\"comment\" required"), "{html}");
        assert!(html.contains("width=device-width"));
        assert!(!html.contains("<script"));
    }

    #[test]
    fn the_csp_allows_exactly_the_pages_stylesheet() {
        let csp = content_security_policy();
        assert!(
            csp.starts_with("default-src 'none'; style-src 'sha256-"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("form-action 'self'"));
        assert!(!csp.contains("unsafe-inline") && !csp.contains("script-src"));
    }

    #[test]
    fn plain_text_email_has_the_link_and_details() {
        let a = approval(vec![("version".into(), "2.3".into())], vec![]);
        let text = email_text(&a, "a@example.com", "https://x/approvals/y?sig=1");
        assert!(text.contains("version: 2.3"));
        assert!(text.contains("Review and decide: https://x/approvals/y?sig=1"));
    }

    #[test]
    fn times_are_shown_in_utc_to_the_minute() {
        assert_eq!(time(1_467_922_920), "2016-07-07 20:22 UTC");
    }

    #[test]
    fn only_web_urls_become_links() {
        assert!(safe_url("https://example.com").is_some());
        assert!(safe_url("HTTP://example.com").is_some());
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "https://a b",
            "//evil.com",
            "http://x\n",
        ] {
            assert!(safe_url(bad).is_none(), "{bad}");
        }
    }
}
