//! Which branches get a pipeline: include/exclude globs, never the repository's default branch.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// The branches handled when `BRANCH_INCLUDE` is not set.
pub const DEFAULT_INCLUDE: &str = "feature/**,bugfix/**";

/// A glob list that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("branch glob {glob:?} is invalid: {reason}")]
pub struct FilterError {
    pub glob: String,
    pub reason: String,
}

/// Include and exclude globs (`*` stays within one path segment, `**` crosses `/`).
#[derive(Debug, Clone)]
pub struct BranchFilter {
    include: GlobSet,
    exclude: GlobSet,
}

/// Whether a branch is handled, and why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Handle,
    Skip(String),
}

fn globs(csv: &str) -> Result<GlobSet, FilterError> {
    let mut set = GlobSetBuilder::new();
    for glob in csv.split(',').map(str::trim).filter(|g| !g.is_empty()) {
        let parsed = GlobBuilder::new(glob)
            .literal_separator(true)
            .build()
            .map_err(|e| FilterError {
                glob: glob.to_string(),
                reason: e.kind().to_string(),
            })?;
        set.add(parsed);
    }
    set.build().map_err(|e| FilterError {
        glob: csv.to_string(),
        reason: e.to_string(),
    })
}

impl BranchFilter {
    /// Comma-separated include and exclude globs.
    pub fn new(include: &str, exclude: &str) -> Result<Self, FilterError> {
        Ok(BranchFilter {
            include: globs(include)?,
            exclude: globs(exclude)?,
        })
    }

    /// Handle `branch` unless it is the default branch, matches no include glob, or matches an
    /// exclude glob.
    pub fn verdict(&self, branch: &str, default_branch: &str) -> Verdict {
        if branch == default_branch {
            Verdict::Skip(format!("{branch} is the repository's default branch"))
        } else if !self.include.is_match(branch) {
            Verdict::Skip(format!("{branch} matches no BRANCH_INCLUDE glob"))
        } else if self.exclude.is_match(branch) {
            Verdict::Skip(format!("{branch} matches a BRANCH_EXCLUDE glob"))
        } else {
            Verdict::Handle
        }
    }
}

/// The GitHub repositories (`owner/name`) whose webhooks are acted on: `GITHUB_REPOSITORIES`,
/// comma-separated globs such as `acme/*`, compared without regard to case as GitHub does.
/// Empty: every GitHub delivery is ignored.
#[derive(Debug, Clone)]
pub struct RepositoryFilter {
    allowed: GlobSet,
    empty: bool,
}

impl RepositoryFilter {
    pub fn new(csv: &str) -> Result<Self, FilterError> {
        let mut set = GlobSetBuilder::new();
        let mut empty = true;
        for glob in csv.split(',').map(str::trim).filter(|g| !g.is_empty()) {
            empty = false;
            let parsed = GlobBuilder::new(glob)
                .literal_separator(true)
                .case_insensitive(true)
                .build()
                .map_err(|e| FilterError {
                    glob: glob.to_string(),
                    reason: e.kind().to_string(),
                })?;
            set.add(parsed);
        }
        let allowed = set.build().map_err(|e| FilterError {
            glob: csv.to_string(),
            reason: e.to_string(),
        })?;
        Ok(RepositoryFilter { allowed, empty })
    }

    /// `None` when `repository` is allowed, else why not.
    pub fn refusal(&self, repository: &str) -> Option<String> {
        if self.empty {
            Some("GITHUB_REPOSITORIES is empty: GitHub events are refused".into())
        } else if !self.allowed.is_match(repository) {
            Some(format!("{repository} matches no GITHUB_REPOSITORIES glob"))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_globs_take_feature_and_bugfix_branches_only() {
        let f = BranchFilter::new(DEFAULT_INCLUDE, "").unwrap();
        assert_eq!(f.verdict("feature/login", "main"), Verdict::Handle);
        assert_eq!(f.verdict("bugfix/a/b", "main"), Verdict::Handle);
        for other in ["release/1.0", "main2", "featurex", "hotfix/x"] {
            assert!(
                matches!(f.verdict(other, "main"), Verdict::Skip(_)),
                "{other}"
            );
        }
    }

    #[test]
    fn excludes_win_over_includes() {
        let f = BranchFilter::new("feature/**", "feature/wip-*").unwrap();
        assert!(
            matches!(f.verdict("feature/wip-1", "main"), Verdict::Skip(r) if r.contains("EXCLUDE"))
        );
        assert_eq!(f.verdict("feature/done", "main"), Verdict::Handle);
    }

    #[test]
    fn the_default_branch_is_never_handled_even_when_included() {
        let f = BranchFilter::new("**", "").unwrap();
        assert!(
            matches!(f.verdict("develop", "develop"), Verdict::Skip(r) if r.contains("default"))
        );
    }

    #[test]
    fn single_star_stays_in_one_segment() {
        let f = BranchFilter::new("feature/*", "").unwrap();
        assert_eq!(f.verdict("feature/a", "main"), Verdict::Handle);
        assert!(matches!(f.verdict("feature/a/b", "main"), Verdict::Skip(_)));
    }

    #[test]
    fn a_bad_glob_is_named() {
        let err = BranchFilter::new("feature/[", "").unwrap_err();
        assert_eq!(err.glob, "feature/[");
    }

    #[test]
    fn repositories_are_allowed_only_by_a_glob_and_an_empty_list_allows_none() {
        let f = RepositoryFilter::new("acme/*, octo-org/orders-api").unwrap();
        assert_eq!(f.refusal("acme/web"), None);
        assert_eq!(f.refusal("ACME/Web"), None);
        assert_eq!(f.refusal("octo-org/orders-api"), None);
        assert!(f.refusal("octo-org/other").is_some());
        assert!(f.refusal("acme-evil/web").is_some());
        assert!(f.refusal("acme/web/x").is_some());
        let none = RepositoryFilter::new(" ").unwrap();
        assert!(
            none.refusal("acme/web")
                .is_some_and(|r| r.contains("empty"))
        );
    }
}
