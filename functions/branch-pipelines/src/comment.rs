//! The pull request's sticky status comment: one per pull request, found again by a hidden marker.

/// The hidden marker that identifies Tollgate's status comment on a pull request.
pub const MARKER: &str = "<!-- tollgate:preview -->";

/// When the comment says the preview will be deleted if idle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdleDeletion {
    /// Epoch seconds after which the sweep deletes it if nothing happens.
    At(i64),
    /// Never: kept (the reason, e.g. the label `preview:keep`).
    Kept(String),
    /// Never: `BRANCH_TTL_DAYS` is 0.
    Never,
    /// The preview is gone or going: no row.
    Gone,
}

/// What the comment says about the preview stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewStatus<'a> {
    pub stack: &'a str,
    /// `CREATE_IN_PROGRESS`, `UPDATE_COMPLETE`, `DELETE_COMPLETE`...
    pub status: &'a str,
    pub head_sha: Option<&'a str>,
    /// What happened, one line (`created`, `updated to <sha>`, `deleted: the pull request is closed`).
    pub event: &'a str,
    /// Epoch seconds of the stack's last change (or of this update).
    pub updated: i64,
    pub idle_deletion: IdleDeletion,
    /// The stack's outputs (key, value); a value that is an http(s) URL is shown as a link.
    pub outputs: &'a [(String, String)],
    /// On failure: the resource that failed and CloudFormation's reason.
    pub failure: Option<(&'a str, &'a str)>,
    /// Idle warning: the preview will be deleted at this time (epoch seconds).
    pub warning: Option<i64>,
}

/// Longest output value or failure reason shown (CloudFormation's reasons can be long).
const MAX_VALUE_CHARS: usize = 300;
/// Outputs shown at most (a comment is not the console).
const MAX_OUTPUTS: usize = 20;

fn clip(text: &str) -> String {
    if text.chars().count() <= MAX_VALUE_CHARS {
        return text.to_string();
    }
    let mut clipped: String = text.chars().take(MAX_VALUE_CHARS).collect();
    clipped.push('…');
    clipped
}

/// A link when `value` is a plain http(s) URL (no spaces, quotes, brackets or angle brackets that
/// could break out of the link), else the escaped text.
fn value_cell(value: &str) -> String {
    let is_url = (value.starts_with("https://") || value.starts_with("http://"))
        && value.len() <= MAX_VALUE_CHARS
        && value
            .chars()
            .all(|c| c.is_ascii_graphic() && !"()[]<>\"`'|\\".contains(c));
    if is_url {
        format!("[{}]({value})", markdown_escape(value))
    } else {
        markdown_escape(&clip(value))
    }
}

fn markdown_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' => vec!['\\', c],
            c if c.is_control() => vec![' '],
            c => vec![c],
        })
        .collect()
}

/// `2026-05-04 09:30 UTC` for epoch seconds.
pub fn utc(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs / 3_600,
        secs % 3_600 / 60
    )
}

/// The comment's Markdown, starting with [`MARKER`]. Every value from outside is escaped.
pub fn render(status: &PreviewStatus) -> String {
    let mut body = format!("{MARKER}\n### Preview environment\n\n");
    if let Some(at) = status.warning {
        body.push_str(&format!(
            "> [!WARNING]\n> This preview has been idle and will be deleted after {}. Push a commit, or add the label `{}`, to keep it.\n\n",
            utc(at),
            crate::status::KEEP_LABEL
        ));
    }
    body.push_str(&format!(
        "| | |\n|---|---|\n| Stack | `{}` |\n| Status | **{}** |\n",
        status.stack.replace('`', ""),
        markdown_escape(status.status)
    ));
    if let Some((resource, reason)) = status.failure {
        body.push_str(&format!(
            "| Failed resource | `{}`: {} |\n",
            resource.replace('`', ""),
            markdown_escape(&clip(reason))
        ));
    }
    if let Some(sha) = status.head_sha {
        body.push_str(&format!("| Commit | `{}` |\n", sha.replace('`', "")));
    }
    body.push_str(&format!(
        "| Last updated | {} ({}) |\n",
        utc(status.updated),
        markdown_escape(status.event)
    ));
    match &status.idle_deletion {
        IdleDeletion::At(at) => {
            body.push_str(&format!("| Deleted if idle after | {} |\n", utc(*at)))
        }
        IdleDeletion::Kept(why) => body.push_str(&format!(
            "| Deleted if idle after | never: kept by {} |\n",
            markdown_escape(why)
        )),
        IdleDeletion::Never => body.push_str("| Deleted if idle after | never |\n"),
        IdleDeletion::Gone => {}
    }
    if !status.outputs.is_empty() {
        body.push_str("\n| Output | Value |\n|---|---|\n");
        for (key, value) in status.outputs.iter().take(MAX_OUTPUTS) {
            body.push_str(&format!(
                "| {} | {} |\n",
                markdown_escape(key),
                value_cell(value)
            ));
        }
    }
    body.push_str("\n<sub>Updated in place by Tollgate branch-pipelines.</sub>\n");
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The comment docs/branch-pipelines.md pictures (docs/images/pr-comment.png is drawn from
    /// docs/images/pr-comment.md by scripts/comment_image.py).
    fn documented_example() -> String {
        let outputs = vec![
            (
                "Url".to_string(),
                "https://tollgate-branch-pull-request-7-343d3f1a11.preview.example.com/"
                    .to_string(),
            ),
            (
                "ArtifactBucket".to_string(),
                "tollgate-branch-pull-request-7-343d3f1-artifactbucket-1x2y3z4w5v6u".to_string(),
            ),
            (
                "PipelineName".to_string(),
                "tollgate-branch-pull-request-7-343d3f1a11".to_string(),
            ),
        ];
        render(&PreviewStatus {
            stack: "tollgate-branch-pull-request-7-343d3f1a11",
            status: "CREATE_COMPLETE",
            head_sha: Some("6dcb09b5b57875f334f61aebed695e2e4193db5e"),
            event: "preview ready",
            updated: 1_795_341_852,
            idle_deletion: IdleDeletion::At(1_795_341_852 + 30 * 86_400),
            outputs: &outputs,
            failure: None,
            warning: None,
        })
    }

    #[test]
    fn the_documented_comment_is_what_render_writes() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/images/pr-comment.md"
        );
        let rendered = documented_example();
        if std::env::var_os("TOLLGATE_BLESS").is_some() {
            std::fs::write(path, &rendered).expect("write the documented comment");
        }
        let documented = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            documented, rendered,
            "docs/images/pr-comment.md is stale: TOLLGATE_BLESS=1 cargo test -p branch-pipelines --lib documented, then scripts/comment_image.py"
        );
    }

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_777_887_000), "2026-05-04 09:30 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
    }

    #[test]
    fn the_comment_carries_the_marker_and_escapes_what_it_is_given() {
        let body = render(&PreviewStatus {
            stack: "tg-pull-request-7-0123456789",
            status: "CREATE_IN_PROGRESS",
            head_sha: Some("6dcb09b5b57875f334f61aebed695e2e4193db5e"),
            event: "created <script>",
            updated: 1_777_887_000,
            idle_deletion: IdleDeletion::At(1_777_887_000 + 30 * 86_400),
            outputs: &[],
            failure: None,
            warning: None,
        });
        assert!(body.starts_with(MARKER), "{body}");
        assert!(body.contains("`tg-pull-request-7-0123456789`"));
        assert!(body.contains("CREATE\\_IN\\_PROGRESS"), "{body}");
        assert!(body.contains("created \\<script\\>"), "{body}");
        assert!(body.contains("2026-06-03 09:30 UTC"), "{body}");
        assert!(!body.contains("WARNING"), "{body}");
    }

    #[test]
    fn a_url_output_is_a_link_and_anything_else_is_escaped_text() {
        let outputs = vec![
            (
                "Url".to_string(),
                "https://pr-7.preview.example.com/".to_string(),
            ),
            (
                "Sneaky".to_string(),
                "https://x.example.com/a)[click](https://evil".to_string(),
            ),
            ("Bucket".to_string(), "tg-pr-7-artifacts".to_string()),
        ];
        let body = render(&PreviewStatus {
            stack: "s",
            status: "CREATE_COMPLETE",
            head_sha: None,
            event: "completed",
            updated: 0,
            idle_deletion: IdleDeletion::Kept("the label preview:keep".into()),
            outputs: &outputs,
            failure: None,
            warning: None,
        });
        assert!(
            body.contains(
                "| Url | [https://pr-7.preview.example.com/](https://pr-7.preview.example.com/) |"
            ),
            "{body}"
        );
        // Not a link: its brackets are escaped.
        assert!(!body.contains("[click]("), "{body}");
        assert!(body.contains("\\[click\\]"), "{body}");
        assert!(body.contains("| Bucket | tg-pr-7-artifacts |"), "{body}");
        assert!(
            body.contains("never: kept by the label preview:keep"),
            "{body}"
        );
    }

    #[test]
    fn a_failure_names_the_resource_and_its_reason_and_a_warning_says_when_and_how_to_keep() {
        let body = render(&PreviewStatus {
            stack: "s",
            status: "ROLLBACK_COMPLETE",
            head_sha: None,
            event: "creation failed",
            updated: 0,
            idle_deletion: IdleDeletion::Gone,
            outputs: &[],
            failure: Some(("Bucket", "preview-bucket already exists")),
            warning: Some(86_400),
        });
        assert!(
            body.contains("| Failed resource | `Bucket`: preview-bucket already exists |"),
            "{body}"
        );
        assert!(
            body.contains("deleted after 1970-01-02 00:00 UTC"),
            "{body}"
        );
        assert!(body.contains("`preview:keep`"), "{body}");
        assert!(!body.contains("Deleted if idle"), "{body}");
    }
}
