//! Who may approve, fixed at deploy time: approver groups (`ApproverGroups`), `approvers` entries resolved against them, and quorums per group with one person counting toward one group only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::request::is_email_address;

/// The prefix of an `approvers` entry that names a group: `group:release`.
pub const GROUP_PREFIX: &str = "group:";
/// The stack parameter approver groups come from (named in every refusal).
pub const PARAMETER: &str = "ApproverGroups";

/// Group name -> member addresses (lower-cased, each once), as `ApproverGroups` declares them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApproverGroups(BTreeMap<String, Vec<String>>);

/// A group name: letters, digits, `-`, `_`, `.`, 1 to 64 characters.
fn is_group_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

impl ApproverGroups {
    /// Reads `ApproverGroups`: a JSON object of group name -> list of addresses. Empty text is no
    /// groups (then every request is refused).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(ApproverGroups::default());
        }
        let raw: BTreeMap<String, Vec<String>> = serde_json::from_str(text).map_err(|e| {
            format!(
                "it must be a JSON object of group name -> list of email addresses, such as \
                 {{\"release\":[\"alice@example.com\"]}} ({e})"
            )
        })?;
        let mut groups = BTreeMap::new();
        for (name, members) in raw {
            if !is_group_name(&name) {
                return Err(format!(
                    "group name {name:?}: use letters, digits, '-', '_' or '.' (at most 64)"
                ));
            }
            let mut out: Vec<String> = Vec::new();
            for member in members {
                let address = member.trim().to_ascii_lowercase();
                if !is_email_address(&address) {
                    return Err(format!(
                        "group {name}: {member:?} is not a plain email address"
                    ));
                }
                if !out.contains(&address) {
                    out.push(address);
                }
            }
            if out.is_empty() {
                return Err(format!("group {name} has no members"));
            }
            groups.insert(name, out);
        }
        Ok(ApproverGroups(groups))
    }

    /// Groups from name -> members (tests and tools).
    pub fn from_pairs<N: Into<String>, M: Into<String>>(
        pairs: impl IntoIterator<Item = (N, Vec<M>)>,
    ) -> Self {
        ApproverGroups(
            pairs
                .into_iter()
                .map(|(n, m)| {
                    (
                        n.into(),
                        m.into_iter()
                            .map(|a| a.into().trim().to_ascii_lowercase())
                            .collect(),
                    )
                })
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains_group(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    fn declared(&self) -> String {
        if self.0.is_empty() {
            format!("{PARAMETER} declares no groups")
        } else {
            let names: Vec<&str> = self.0.keys().map(String::as_str).collect();
            format!("{PARAMETER} declares {}", names.join(", "))
        }
    }

    /// Whether `address` (lower-cased) belongs to any group.
    pub fn is_member(&self, address: &str) -> bool {
        self.0.values().any(|m| m.iter().any(|a| a == address))
    }

    /// The people `entries` name (`group:<name>` or addresses), lower-cased, each once, in order.
    /// An unknown group or an address outside every group is refused, naming the entry and
    /// `ApproverGroups`.
    pub fn resolve(&self, entries: &[String]) -> Result<Vec<String>, String> {
        let mut out: Vec<String> = Vec::new();
        let mut add = |address: &str| {
            if !out.iter().any(|a| a == address) {
                out.push(address.to_string());
            }
        };
        for raw in entries {
            let entry = raw.trim();
            if entry.is_empty() {
                continue;
            }
            if let Some(name) = entry.strip_prefix(GROUP_PREFIX) {
                let members = self.0.get(name.trim()).ok_or_else(|| {
                    format!(
                        "approvers: {entry:?} is not a declared approver group ({}): only \
                         the groups of the {PARAMETER} stack parameter may approve",
                        self.declared()
                    )
                })?;
                members.iter().for_each(|m| add(m));
                continue;
            }
            let address = entry.to_ascii_lowercase();
            if !is_email_address(&address) {
                return Err(format!("approvers: {raw:?} is not an email address"));
            }
            if !self.is_member(&address) {
                return Err(format!(
                    "approvers: {raw:?} is in no approver group ({}): only members of the \
                     groups of the {PARAMETER} stack parameter may approve",
                    self.declared()
                ));
            }
            add(&address);
        }
        Ok(out)
    }

    /// For each group, which of `people` belong to it (groups with none of them left out).
    pub fn membership(&self, people: &[String]) -> Vec<(String, Vec<String>)> {
        self.0
            .iter()
            .filter_map(|(name, members)| {
                let inside: Vec<String> = people
                    .iter()
                    .filter(|p| members.contains(p))
                    .cloned()
                    .collect();
                (!inside.is_empty()).then(|| (name.clone(), inside))
            })
            .collect()
    }
}

/// How many approvals an approval needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Quorum {
    /// That many distinct approvers among those asked.
    Count(u32),
    /// For each group, that many distinct members of it; one person counts toward one group.
    Groups(Vec<(String, u32)>),
}

impl Quorum {
    /// The approvals needed in all.
    pub fn total(&self) -> u32 {
        match self {
            Quorum::Count(n) => *n,
            Quorum::Groups(g) => g.iter().map(|(_, n)| *n).fold(0, u32::saturating_add),
        }
    }
}

/// One part of a quorum and whose approvals count toward it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// `None` for a plain count.
    pub group: Option<String>,
    pub required: u32,
    /// The approvers counted here, in the order given.
    pub counted: Vec<String>,
}

impl Bucket {
    pub fn missing(&self) -> u32 {
        self.required
            .saturating_sub(u32::try_from(self.counted.len()).unwrap_or(u32::MAX))
    }
}

/// Assigns `approved` (in order) to the quorum's parts so that as many parts as possible are
/// filled: each person counts once, toward one group they belong to (`membership`). A maximum
/// bipartite matching, so an early vote never blocks a later one that only fits elsewhere.
pub fn count_toward(
    quorum: &Quorum,
    membership: &[(String, Vec<String>)],
    approved: &[String],
) -> Vec<Bucket> {
    let parts: Vec<(Option<String>, u32)> = match quorum {
        Quorum::Count(n) => vec![(None, *n)],
        Quorum::Groups(g) => g.iter().map(|(name, n)| (Some(name.clone()), *n)).collect(),
    };
    // One slot per approval needed; slot -> part.
    let slots: Vec<usize> = parts
        .iter()
        .enumerate()
        .flat_map(|(i, (_, n))| std::iter::repeat_n(i, usize::try_from(*n).unwrap_or(0)))
        .collect();
    let fits = |person: &str, part: usize| match &parts[part].0 {
        None => true,
        Some(group) => membership
            .iter()
            .any(|(g, members)| g == group && members.iter().any(|m| m == person)),
    };
    let mut slot_of: Vec<Option<usize>> = vec![None; slots.len()]; // slot -> person index
    fn augment(
        person: usize,
        seen: &mut [bool],
        slot_of: &mut [Option<usize>],
        edges: &[Vec<usize>],
    ) -> bool {
        for &slot in &edges[person] {
            if seen[slot] {
                continue;
            }
            seen[slot] = true;
            let free = match slot_of[slot] {
                None => true,
                Some(other) => augment(other, seen, slot_of, edges),
            };
            if free {
                slot_of[slot] = Some(person);
                return true;
            }
        }
        false
    }
    let edges: Vec<Vec<usize>> = approved
        .iter()
        .map(|p| {
            (0..slots.len())
                .filter(|&s| fits(p, slots[s]))
                .collect::<Vec<_>>()
        })
        .collect();
    for person in 0..approved.len() {
        let mut seen = vec![false; slots.len()];
        augment(person, &mut seen, &mut slot_of, &edges);
    }
    let mut buckets: Vec<Bucket> = parts
        .iter()
        .map(|(group, required)| Bucket {
            group: group.clone(),
            required: *required,
            counted: Vec::new(),
        })
        .collect();
    for (person, who) in approved.iter().enumerate() {
        if let Some(slot) = slot_of.iter().position(|s| *s == Some(person)) {
            buckets[slots[slot]].counted.push(who.clone());
        }
    }
    buckets
}

/// Whether every part of the quorum is filled.
pub fn is_met(buckets: &[Bucket]) -> bool {
    buckets.iter().all(|b| b.missing() == 0)
}

/// `release: 1 of 2 (alice@example.com); security: 0 of 1`, or `1 of 2 approvals (…)`.
pub fn describe(buckets: &[Bucket]) -> String {
    buckets
        .iter()
        .map(|b| {
            let who = if b.counted.is_empty() {
                String::new()
            } else {
                format!(" ({})", b.counted.join(", "))
            };
            match &b.group {
                Some(g) => format!("{g}: {} of {}{who}", b.counted.len(), b.required),
                None => format!("{} of {} approvals{who}", b.counted.len(), b.required),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What is still needed: `1 more from release and 1 more from security`.
pub fn still_needed(buckets: &[Bucket]) -> String {
    let parts: Vec<String> = buckets
        .iter()
        .filter(|b| b.missing() > 0)
        .map(|b| match &b.group {
            Some(g) => format!("{} more from {g}", b.missing()),
            None => format!("{} more", b.missing()),
        })
        .collect();
    if parts.is_empty() {
        "nothing more".into()
    } else {
        parts.join(" and ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn groups() -> ApproverGroups {
        ApproverGroups::parse(
            r#"{"release":["Alice@example.com","bob@example.com","dana@example.com"],"security":["carol@example.com","dana@example.com"]}"#,
        )
        .unwrap()
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn groups_and_addresses_resolve_case_insensitively_each_person_once() {
        let people = groups()
            .resolve(&s(&[
                "group:security",
                "ALICE@example.com",
                "alice@example.com",
            ]))
            .unwrap();
        assert_eq!(
            people,
            s(&["carol@example.com", "dana@example.com", "alice@example.com"])
        );
    }

    #[test]
    fn an_unknown_group_is_refused_naming_the_entry_and_approver_groups() {
        let err = groups().resolve(&s(&["group:ops"])).unwrap_err();
        assert!(
            err.contains("group:ops") && err.contains("ApproverGroups"),
            "{err}"
        );
        assert!(err.contains("release, security"), "{err}");
    }

    #[test]
    fn an_address_outside_every_group_is_refused_naming_it_and_approver_groups() {
        let err = groups()
            .resolve(&s(&["alice@example.com", "mallory@example.com"]))
            .unwrap_err();
        assert!(
            err.contains("mallory@example.com") && err.contains("ApproverGroups"),
            "{err}"
        );
    }

    #[test]
    fn no_groups_declared_refuses_every_address() {
        let err = ApproverGroups::default()
            .resolve(&s(&["a@example.com"]))
            .unwrap_err();
        assert!(err.contains("declares no groups"), "{err}");
    }

    #[test]
    fn approver_groups_that_are_not_an_object_of_address_lists_are_refused() {
        for bad in [
            "[]",
            r#"{"release":"a@example.com"}"#,
            r#"{"release":["not an address"]}"#,
            r#"{"rel ease":["a@example.com"]}"#,
            r#"{"release":[]}"#,
        ] {
            assert!(ApproverGroups::parse(bad).is_err(), "{bad}");
        }
        assert!(ApproverGroups::parse("  ").unwrap().is_empty());
    }

    fn quorum(q: &[(&str, u32)]) -> Quorum {
        Quorum::Groups(q.iter().map(|(g, n)| (g.to_string(), *n)).collect())
    }

    #[test]
    fn a_member_of_both_groups_fills_only_one_of_them() {
        let g = groups();
        let asked = g.resolve(&s(&["group:release", "group:security"])).unwrap();
        let membership = g.membership(&asked);
        let q = quorum(&[("release", 1), ("security", 1)]);
        let buckets = count_toward(&q, &membership, &s(&["dana@example.com"]));
        assert!(!is_met(&buckets));
        assert_eq!(still_needed(&buckets), "1 more from security");
        let buckets = count_toward(
            &q,
            &membership,
            &s(&["dana@example.com", "alice@example.com"]),
        );
        assert!(is_met(&buckets), "{buckets:?}");
        assert_eq!(buckets[1].counted, s(&["dana@example.com"]));
    }

    #[test]
    fn an_early_overlapping_vote_is_moved_to_the_group_only_it_can_fill() {
        let g = groups();
        let membership =
            g.membership(&g.resolve(&s(&["group:release", "group:security"])).unwrap());
        let q = quorum(&[("release", 1), ("security", 1)]);
        // dana first (could fill either), then bob (release only): both parts fill.
        let buckets = count_toward(
            &q,
            &membership,
            &s(&["dana@example.com", "bob@example.com"]),
        );
        assert!(is_met(&buckets), "{buckets:?}");
        assert_eq!(
            describe(&buckets),
            "release: 1 of 1 (bob@example.com); security: 1 of 1 (dana@example.com)"
        );
    }

    #[test]
    fn a_count_quorum_counts_distinct_approvers() {
        let buckets = count_toward(&Quorum::Count(2), &[], &s(&["a@x.io"]));
        assert_eq!(describe(&buckets), "1 of 2 approvals (a@x.io)");
        assert_eq!(still_needed(&buckets), "1 more");
    }

    proptest! {
        #[test]
        fn nobody_is_counted_twice_and_only_toward_their_own_groups(
            picks in proptest::collection::vec(0usize..6, 0..8), need_a in 0u32..3, need_b in 0u32..3
        ) {
            let people: Vec<String> = (0..6).map(|i| format!("p{i}@x.io")).collect();
            // p0..p3 in a, p2..p5 in b (p2, p3 in both).
            let membership = vec![
                ("a".to_string(), people[0..4].to_vec()),
                ("b".to_string(), people[2..6].to_vec()),
            ];
            let mut approved: Vec<String> = Vec::new();
            for p in picks { if !approved.contains(&people[p]) { approved.push(people[p].clone()); } }
            let q = Quorum::Groups(vec![("a".into(), need_a), ("b".into(), need_b)]);
            let buckets = count_toward(&q, &membership, &approved);
            let mut all: Vec<&String> = buckets.iter().flat_map(|b| &b.counted).collect();
            let n = all.len();
            all.sort(); all.dedup();
            prop_assert_eq!(all.len(), n);
            for b in &buckets {
                prop_assert!(b.counted.len() <= b.required as usize);
                let group = b.group.clone().unwrap();
                let members = &membership.iter().find(|(g, _)| *g == group).unwrap().1;
                prop_assert!(b.counted.iter().all(|c| members.contains(c)));
            }
            // Met exactly when a brute-force assignment exists.
            let in_a = |p: &String| membership[0].1.contains(p);
            let in_b = |p: &String| membership[1].1.contains(p);
            let only_a = approved.iter().filter(|p| in_a(p) && !in_b(p)).count() as u32;
            let only_b = approved.iter().filter(|p| in_b(p) && !in_a(p)).count() as u32;
            let both = approved.iter().filter(|p| in_a(p) && in_b(p)).count() as u32;
            let possible = need_a.saturating_sub(only_a) + need_b.saturating_sub(only_b) <= both;
            prop_assert_eq!(is_met(&buckets), possible);
        }
    }
}
