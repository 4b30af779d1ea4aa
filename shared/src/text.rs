//! Text helpers for messages that AWS caps in length.
//!
//! Limits are counted in UTF-8 bytes: AWS documents its limits in characters, but a byte count is
//! never more than the character count, so a message that fits in bytes fits however AWS counts.

/// The marker appended to a message that had to be cut.
pub const TRUNCATION_MARKER: &str = "… (truncated)";

/// The longest prefix of `text` that is at most `max_bytes` long and ends on a character boundary.
fn prefix(text: &str, max_bytes: usize) -> &str {
    let mut end = max_bytes.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Cuts `text` to at most `max_bytes` UTF-8 bytes on a character boundary, ending with
/// [`TRUNCATION_MARKER`] when anything was cut. `max_bytes` smaller than the marker yields a
/// plain prefix.
pub fn truncate(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_string();
    }
    if max_bytes <= TRUNCATION_MARKER.len() {
        return prefix(text, max_bytes).to_string();
    }
    let mut out = prefix(text, max_bytes - TRUNCATION_MARKER.len()).to_string();
    out.push_str(TRUNCATION_MARKER);
    out
}

/// Joins lines under a heading, keeping whole lines while they fit in `max_bytes` and saying how
/// many were left out, so a long list stays readable rather than cut mid-line.
pub fn bounded_list(heading: &str, lines: &[String], max_bytes: usize) -> String {
    let mut out = heading.to_string();
    for (i, line) in lines.iter().enumerate() {
        let remaining = lines.len() - i;
        let tail = format!("\n… and {remaining} more");
        let candidate_len = out.len() + 1 + line.len();
        let tail_len = if remaining > 1 {
            format!("\n… and {} more", remaining - 1).len()
        } else {
            0
        };
        if candidate_len + tail_len > max_bytes {
            if out.len() + tail.len() <= max_bytes {
                out.push_str(&tail);
            }
            return truncate(&out, max_bytes);
        }
        out.push('\n');
        out.push_str(line);
    }
    truncate(&out, max_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_text_is_unchanged() {
        assert_eq!(truncate("drift found", 100), "drift found");
    }

    #[test]
    fn long_text_is_cut_with_marker_within_limit() {
        let out = truncate(&"x".repeat(6000), 5000);
        assert_eq!(out.len(), 5000);
        assert!(out.ends_with(TRUNCATION_MARKER));
    }

    #[test]
    fn multibyte_text_is_cut_on_a_character_boundary() {
        let out = truncate(&"é".repeat(50), 20);
        assert!(out.len() <= 20, "{out}");
        assert!(
            out.starts_with("é") && out.ends_with(TRUNCATION_MARKER),
            "{out}"
        );
        // Two-byte characters: a 5000-character message is 10000 bytes, cut to at most 5000.
        let long = truncate(&"é".repeat(5000), 5000);
        assert!(long.len() <= 5000 && long.chars().count() < 5000);
    }

    #[test]
    fn bounded_list_keeps_whole_lines_and_counts_the_rest() {
        let lines: Vec<String> = (0..100).map(|i| format!("- issue number {i}")).collect();
        let out = bounded_list("Open issues:", &lines, 120);
        assert!(out.len() <= 120, "{out}");
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
            let out = truncate(&text, max);
            prop_assert!(out.len() <= max);
            let kept: String = out.trim_end_matches(TRUNCATION_MARKER).to_string();
            prop_assert!(text.starts_with(&kept));
        }

        #[test]
        fn bounded_list_never_exceeds_limit(lines in proptest::collection::vec(".{0,40}", 0..30), max in 10usize..400) {
            let out = bounded_list("Heading:", &lines, max);
            prop_assert!(out.len() <= max);
        }
    }
}
