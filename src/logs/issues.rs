//! The issues a reader keeps: every one counted, the first [`MAX_KEPT_ISSUES`] kept with
//! their text. A damaged file can hold millions of bad lines; keeping each would cost more
//! than the rows, while a person reads the first few hundred at most, and the count tells
//! the rest.

use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use crate::logs::text::LineIssue;

/// Issues kept per log; the count stays exact beyond it.
pub const MAX_KEPT_ISSUES: usize = 10_000;

/// Issues counted exactly and kept up to [`MAX_KEPT_ISSUES`], in the order they were added.
/// Reads as the slice of those kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeptIssues {
    kept: Vec<LineIssue>,
    count: u64,
}

impl KeptIssues {
    /// Counts an issue, building it only when it is kept.
    pub fn add_with(&mut self, issue: impl FnOnce() -> LineIssue) {
        self.count = self.count.saturating_add(1);
        if self.kept.len() < MAX_KEPT_ISSUES {
            self.kept.push(issue());
        }
    }

    pub fn add(&mut self, issue: LineIssue) {
        self.add_with(|| issue);
    }

    /// Counts `count` issues known only by their number (a ClickHouse database keeps how
    /// many lines of a file were malformed, not their text), kept as the one `summary`.
    pub fn add_counted(&mut self, summary: LineIssue, count: u64) {
        if count == 0 {
            return;
        }
        self.count = self.count.saturating_add(count);
        if self.kept.len() < MAX_KEPT_ISSUES {
            self.kept.push(summary);
        }
    }

    /// Takes in another list's issues after this one's (its count whole, its issues while
    /// there is room).
    pub fn append(&mut self, other: KeptIssues) {
        let room = MAX_KEPT_ISSUES.saturating_sub(self.kept.len());
        self.kept.extend(other.kept.into_iter().take(room));
        self.count = self.count.saturating_add(other.count);
    }

    /// Every issue added, kept or not.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Issues counted but not kept.
    pub fn not_kept(&self) -> u64 {
        self.count - self.kept.len() as u64
    }

    /// The kept issues, followed by one file-level note on `file` saying how many more there
    /// were, if any: for logs whose issues are listed as they are (PIDS and INITIAL warnings).
    pub fn into_listed(self, file: &Arc<Path>) -> Vec<LineIssue> {
        let not_kept = self.not_kept();
        let mut list = self.kept;
        if not_kept > 0 {
            list.push(LineIssue::file_level(file, format!("{not_kept} more issues not listed")));
        }
        list
    }
}

impl Deref for KeptIssues {
    type Target = [LineIssue];

    fn deref(&self) -> &[LineIssue] {
        &self.kept
    }
}

impl<'a> IntoIterator for &'a KeptIssues {
    type Item = &'a LineIssue;
    type IntoIter = std::slice::Iter<'a, LineIssue>;

    fn into_iter(self) -> Self::IntoIter {
        self.kept.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(line: u32) -> LineIssue {
        LineIssue::new(&Arc::from(Path::new("f.log")), line, "bad", b"x")
    }

    #[test]
    fn counts_every_issue_and_keeps_the_first() {
        let mut issues = KeptIssues::default();
        let mut built = 0;
        for line in 1..=(MAX_KEPT_ISSUES as u32 + 3) {
            issues.add_with(|| {
                built += 1;
                issue(line)
            });
        }
        assert_eq!((issues.count(), issues.len(), issues.not_kept()), (MAX_KEPT_ISSUES as u64 + 3, MAX_KEPT_ISSUES, 3));
        assert_eq!(built, MAX_KEPT_ISSUES, "issues past the cap are not built");
        assert_eq!((issues[0].line, issues[MAX_KEPT_ISSUES - 1].line), (1, MAX_KEPT_ISSUES as u32));
    }

    #[test]
    fn appending_keeps_order_and_the_cap() {
        let mut first = KeptIssues::default();
        for line in 0..MAX_KEPT_ISSUES as u32 - 1 {
            first.add(issue(line));
        }
        let mut second = KeptIssues::default();
        for line in [100_000, 100_001, 100_002] {
            second.add(issue(line));
        }
        first.append(second);
        assert_eq!((first.count(), first.len()), (MAX_KEPT_ISSUES as u64 + 2, MAX_KEPT_ISSUES));
        assert_eq!(first.last().map(|i| i.line), Some(100_000));
    }

    #[test]
    fn a_listed_log_says_how_many_were_not_kept() {
        let file: Arc<Path> = Arc::from(Path::new("f.log"));
        let mut issues = KeptIssues::default();
        issues.add(issue(1));
        assert_eq!(issues.clone().into_listed(&file).len(), 1);
        for line in 0..MAX_KEPT_ISSUES as u32 + 5 {
            issues.add(issue(line));
        }
        let listed = issues.into_listed(&file);
        assert_eq!(listed.len(), MAX_KEPT_ISSUES + 1);
        assert_eq!(
            (listed[MAX_KEPT_ISSUES].line, listed[MAX_KEPT_ISSUES].reason.as_str()),
            (0, "6 more issues not listed")
        );
    }
}
