//! "Did you mean": the existing stack names closest to one that was not found.

/// How alike two names must be (0 to 1) to be suggested.
const MIN_SIMILARITY: f64 = 0.85;

/// How alike two stack names are, from 0 to 1, ignoring case: the better of Jaro-Winkler (which
/// rewards a shared beginning, as in `orders-api` / `orders-api-v2`) and the normalised
/// Damerau-Levenshtein distance (typos: a wrong, missing, extra or swapped character).
pub fn similarity(a: &str, b: &str) -> f64 {
    let (a, b) = (a.to_lowercase(), b.to_lowercase());
    strsim::jaro_winkler(&a, &b).max(strsim::normalized_damerau_levenshtein(&a, &b))
}

/// Up to `max` of `names` most like `wanted`, most alike first (ties by name); `wanted` itself
/// is never suggested.
pub fn similar_names(wanted: &str, names: &[String], max: usize) -> Vec<String> {
    let mut scored: Vec<(f64, &String)> = names
        .iter()
        .filter(|n| n.as_str() != wanted)
        .map(|n| (similarity(wanted, n), n))
        .filter(|(score, _)| *score >= MIN_SIMILARITY)
        .collect();
    scored.sort_by(|(sa, na), (sb, nb)| sb.total_cmp(sa).then_with(|| na.cmp(nb)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored
        .into_iter()
        .take(max)
        .map(|(_, n)| n.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_one_letter_typo_suggests_the_real_stack_first() {
        let existing = names(&[
            "billing-service",
            "orders-api-v2",
            "orders-api",
            "orders-network",
            "payments",
        ]);
        let found = similar_names("orders-apl", &existing, 3);
        assert_eq!(found.first().map(String::as_str), Some("orders-api"));
        assert!(found.len() <= 3);
        assert!(!found.contains(&"billing-service".to_string()), "{found:?}");
        assert!(!found.contains(&"payments".to_string()), "{found:?}");
        // A sibling that only shares the prefix is not offered for a one-letter typo.
        assert_eq!(
            similar_names("orders-apl", &names(&["orders-network", "orders-api"]), 3),
            ["orders-api"]
        );
    }

    #[test]
    fn case_and_swapped_letters_are_still_found() {
        let existing = names(&["Orders-Api", "inventory"]);
        assert_eq!(similar_names("orders-api", &existing, 3), ["Orders-Api"]);
        assert_eq!(
            similar_names("inevntory", &existing, 3),
            ["inventory"],
            "transposition"
        );
    }

    #[test]
    fn nothing_alike_suggests_nothing_and_at_most_three_are_given() {
        assert!(similar_names("orders-api", &names(&["payments", "ledger"]), 3).is_empty());
        let many = names(&["app-1", "app-2", "app-3", "app-4", "app-5"]);
        assert_eq!(similar_names("app-0", &many, 3).len(), 3);
        assert!(similar_names("app-1", &names(&["app-1"]), 3).is_empty());
    }
}
