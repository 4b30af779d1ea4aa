//! The pull request's sticky status comment: one per pull request, found again by a hidden marker.

/// The hidden marker that identifies Tollgate's status comment on a pull request.
pub const MARKER: &str = "<!-- tollgate:preview -->";

/// What the comment says about the preview stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewStatus<'a> {
    pub stack: &'a str,
    /// `CREATE_IN_PROGRESS`, `UPDATE_IN_PROGRESS`, `DELETED`...
    pub status: &'a str,
    pub head_sha: Option<&'a str>,
    /// What happened, one line (`created`, `updated to <sha>`, `deleted: the pull request is closed`).
    pub event: &'a str,
    /// Epoch seconds of this update.
    pub updated: i64,
    /// Epoch seconds after which the sweep deletes it if idle (`None`: never).
    pub idle_deletion: Option<i64>,
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
    let mut body = format!(
        "{MARKER}\n### Preview environment\n\n| | |\n|---|---|\n| Stack | `{}` |\n| Status | **{}** |\n",
        status.stack.replace('`', ""),
        markdown_escape(status.status)
    );
    if let Some(sha) = status.head_sha {
        body.push_str(&format!("| Commit | `{}` |\n", sha.replace('`', "")));
    }
    body.push_str(&format!(
        "| Last update | {} ({}) |\n",
        utc(status.updated),
        markdown_escape(status.event)
    ));
    match status.idle_deletion {
        Some(at) => body.push_str(&format!("| Deleted if idle after | {} |\n", utc(at))),
        None => body.push_str("| Deleted if idle after | never |\n"),
    }
    body.push_str("\n<sub>Updated in place by Tollgate branch-pipelines.</sub>\n");
    body
}

#[cfg(test)]
mod tests {
    use super::*;

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
            idle_deletion: Some(1_777_887_000 + 30 * 86_400),
        });
        assert!(body.starts_with(MARKER), "{body}");
        assert!(body.contains("`tg-pull-request-7-0123456789`"));
        assert!(body.contains("CREATE\\_IN\\_PROGRESS"), "{body}");
        assert!(body.contains("created \\<script\\>"), "{body}");
        assert!(body.contains("2026-06-03 09:30 UTC"), "{body}");
    }
}
