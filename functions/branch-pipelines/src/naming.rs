//! Stack names and tag values for branches: valid for CloudFormation and CodePipeline, unique per branch.

use sha2::{Digest, Sha256};

/// Longest stack name we produce: CodePipeline's pipeline-name limit (CloudFormation allows 128).
pub const MAX_NAME_LEN: usize = 100;
/// Longest `STACK_PREFIX`: leaves room for the branch part and the hash.
pub const MAX_PREFIX_LEN: usize = 32;
/// Hex characters of the branch hash in a stack name.
const HASH_LEN: usize = 10;
/// Longest CloudFormation tag value.
pub const MAX_TAG_VALUE_LEN: usize = 256;

/// A `STACK_PREFIX` that is not a lowercase name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "stack prefix {0:?} is invalid: use 1 to {MAX_PREFIX_LEN} lowercase letters, digits and '-', starting with a letter"
)]
pub struct PrefixError(pub String);

/// Checks a `STACK_PREFIX`: lowercase so that the S3 buckets its stacks own (named after the
/// stack, lowercased by CloudFormation) start with it too, which IAM scopes on.
pub fn validate_prefix(prefix: &str) -> Result<(), PrefixError> {
    let ok = !prefix.is_empty()
        && prefix.len() <= MAX_PREFIX_LEN
        && prefix.starts_with(|c: char| c.is_ascii_lowercase())
        && !prefix.ends_with('-')
        && prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(PrefixError(prefix.to_string()))
    }
}

/// The first [`HASH_LEN`] hex characters of SHA-256 of the exact branch name.
fn short_hash(repository: &str, branch: &str) -> String {
    let digest = Sha256::new()
        .chain_update(repository.as_bytes())
        .chain_update([0u8])
        .chain_update(branch.as_bytes())
        .finalize();
    digest
        .iter()
        .flat_map(|b| [b >> 4, b & 0xf])
        .take(HASH_LEN)
        .map(|n| char::from_digit(u32::from(n), 16).unwrap_or('0'))
        .collect()
}

/// `<prefix>-<sanitised branch>-<hash>`: ASCII letters, digits and '-' only (valid as a
/// CloudFormation stack name and a CodePipeline name), at most [`MAX_NAME_LEN`] characters.
/// The hash covers the repository and the exact branch, so two branches that sanitise alike
/// (`feature/a#b`, `feature/a-b`) or two repositories with the same branch get different names.
pub fn stack_name(prefix: &str, repository: &str, branch: &str) -> String {
    let hash = short_hash(repository, branch);
    let room = MAX_NAME_LEN.saturating_sub(prefix.len() + hash.len() + 2);
    let mut middle = String::with_capacity(branch.len());
    for c in branch.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if c == '-' && (middle.is_empty() || middle.ends_with('-')) {
            continue;
        }
        middle.push(c);
    }
    middle.truncate(room);
    let middle = middle.trim_end_matches('-');
    if middle.is_empty() {
        format!("{prefix}-{hash}")
    } else {
        format!("{prefix}-{middle}-{hash}")
    }
}

fn tag_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '/' | '+' | '-' | '@')
}

/// A branch or repository name as a tag value: characters tags allow stay, every other byte
/// becomes `=XX` (hex), so the value is reversible with [`tag_decode`]. `None` when it would
/// exceed the tag value limit.
pub fn tag_encode(value: &str) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if tag_safe(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("={b:02X}"));
            }
        }
    }
    (out.len() <= MAX_TAG_VALUE_LEN).then_some(out)
}

/// The inverse of [`tag_encode`]; `None` for a value it cannot have produced.
pub fn tag_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            let hex = value.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn valid_for_cloudformation_and_codepipeline(name: &str) -> bool {
        name.len() <= MAX_NAME_LEN
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    }

    #[test]
    fn a_plain_branch_reads_well_in_the_name() {
        let name = stack_name("tg-branch", "orders", "feature/login-page");
        assert!(name.starts_with("tg-branch-feature-login-page-"), "{name}");
        assert!(valid_for_cloudformation_and_codepipeline(&name));
    }

    #[test]
    fn awkward_branches_get_valid_distinct_names() {
        let branches = [
            "feature/a#b",
            "feature/a-b",
            "feature/a/b",
            "feature/../x",
            "feature/..x",
            "feature/ünïcødé-ブランチ",
            "////",
            "#",
            &"x".repeat(200),
            &format!("{}y", "x".repeat(199)),
        ];
        let names: Vec<String> = branches
            .iter()
            .map(|b| stack_name("tg", "orders", b))
            .collect();
        for (b, n) in branches.iter().zip(&names) {
            assert!(valid_for_cloudformation_and_codepipeline(n), "{b:?} -> {n}");
        }
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
    }

    #[test]
    fn the_same_branch_in_two_repositories_gets_two_names() {
        assert_ne!(
            stack_name("tg", "orders", "feature/x"),
            stack_name("tg", "billing", "feature/x")
        );
    }

    #[test]
    fn prefixes_must_be_lowercase_names() {
        assert!(validate_prefix("tollgate-branch").is_ok());
        for bad in ["", "Tollgate", "1abc", "a_b", "ab-", &"a".repeat(33)] {
            assert!(validate_prefix(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tag_encoding_keeps_safe_names_and_round_trips_others() {
        assert_eq!(tag_encode("feature/x-1").as_deref(), Some("feature/x-1"));
        assert_eq!(tag_encode("a#b=c").as_deref(), Some("a=23b=3Dc"));
        assert!(tag_encode(&"#".repeat(100)).is_none());
    }

    proptest! {
        #[test]
        fn every_branch_gets_a_valid_deterministic_name(prefix in "[a-z][a-z0-9-]{0,30}[a-z0-9]", branch in "\\PC{0,250}") {
            let name = stack_name(&prefix, "repo", &branch);
            prop_assert!(valid_for_cloudformation_and_codepipeline(&name), "{}", name);
            let start = format!("{prefix}-");
            prop_assert!(name.starts_with(&start));
            prop_assert_eq!(name, stack_name(&prefix, "repo", &branch));
        }

        #[test]
        fn different_branches_get_different_names(a in "\\PC{1,120}", b in "\\PC{1,120}") {
            prop_assume!(a != b);
            prop_assert_ne!(stack_name("tg", "r", &a), stack_name("tg", "r", &b));
        }

        #[test]
        fn tag_encoding_round_trips(value in "\\PC{0,20}") {
            // 20 characters of at most 4 bytes each fit: 20 * 4 * 3 = 240 <= 256.
            let encoded = tag_encode(&value);
            prop_assert!(encoded.is_some());
            let encoded = encoded.unwrap_or_default();
            prop_assert!(encoded.chars().all(|c| tag_safe(c) || c == '='));
            prop_assert_eq!(tag_decode(&encoded), Some(value));
        }
    }
}
