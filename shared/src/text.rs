//! Text helpers for messages that AWS caps in length.

/// The marker appended to a message that had to be cut.
pub const TRUNCATION_MARKER: &str = "… (truncated)";

/// Cuts `text` to at most `max_chars` characters on a character boundary, ending with
/// [`TRUNCATION_MARKER`] when anything was cut. `max_chars` smaller than the marker yields a
/// plain prefix.
pub fn truncate_chars(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let marker_len = TRUNCATION_MARKER.chars().count();
    if max_chars <= marker_len {
        return text.chars().take(max_chars).collect();
    }
    let mut out: String = text.chars().take(max_chars - marker_len).collect();
    out.push_str(TRUNCATION_MARKER);
    out
}

/// Joins lines under a heading, keeping whole lines while they fit in `max_chars` and saying how
/// many were left out, so a long list stays readable rather than cut mid-line.
pub fn bounded_list(heading: &str, lines: &[String], max_chars: usize) -> String {
    let mut out = heading.to_string();
    for (i, line) in lines.iter().enumerate() {
        let remaining = lines.len() - i;
        let tail = format!("\n… and {remaining} more");
        let candidate_len = out.chars().count() + 1 + line.chars().count();
        let needs_tail = remaining > 1;
        let tail_len = if needs_tail {
            format!("\n… and {} more", remaining - 1).chars().count()
        } else {
            0
        };
        if candidate_len + tail_len > max_chars {
            if out.chars().count() + tail.chars().count() <= max_chars {
                out.push_str(&tail);
            }
            return truncate_chars(&out, max_chars);
        }
        out.push('\n');
        out.push_str(line);
    }
    truncate_chars(&out, max_chars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_text_is_unchanged() {
        assert_eq!(truncate_chars("drift found", 100), "drift found");
    }

    #[test]
    fn long_text_is_cut_with_marker_within_limit() {
        let out = truncate_chars(&"x".repeat(6000), 5000);
        assert_eq!(out.chars().count(), 5000);
        assert!(out.ends_with(TRUNCATION_MARKER));
    }

    #[test]
    fn multibyte_text_is_cut_on_a_character_boundary() {
        let out = truncate_chars(&"é".repeat(50), 20);
        assert_eq!(out.chars().count(), 20);
        assert!(out.starts_with("éé"));
    }

    #[test]
    fn bounded_list_keeps_whole_lines_and_counts_the_rest() {
        let lines: Vec<String> = (0..100).map(|i| format!("- issue number {i}")).collect();
        let out = bounded_list("Open issues:", &lines, 120);
        assert!(out.chars().count() <= 120, "{out}");
        assert!(out.contains("- issue number 0\n"));
        let shown = out.lines().filter(|l| l.starts_with("- ")).count();
        assert!(
            out.ends_with(&format!("… and {} more", 100 - shown)),
            "{out}"
        );
    }

    #[test]
    fn bounded_list_with_room_shows_everything() {
        let lines = vec!["- a".to_string(), "- b".to_string()];
        assert_eq!(bounded_list("H:", &lines, 100), "H:\n- a\n- b");
    }

    proptest! {
        #[test]
        fn truncation_never_exceeds_limit_and_keeps_a_prefix(text in ".{0,300}", max in 0usize..200) {
            let out = truncate_chars(&text, max);
            prop_assert!(out.chars().count() <= max);
            let kept: String = out.trim_end_matches(TRUNCATION_MARKER).to_string();
            prop_assert!(text.starts_with(&kept));
        }

        #[test]
        fn bounded_list_never_exceeds_limit(lines in proptest::collection::vec(".{0,40}", 0..30), max in 10usize..400) {
            let out = bounded_list("Heading:", &lines, max);
            prop_assert!(out.chars().count() <= max);
        }
    }
}
