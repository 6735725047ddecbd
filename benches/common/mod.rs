//! What the benchmarks share: the five criteria every figure in README is measured with.

use prparser::analysis::criteria::{CriteriaSet, Criterion, Field, MatchKind};

/// One criterion of each kind the app's users lean on: a port range, a module-path wildcard,
/// an exact user, a CIDR and a module regex.
pub fn criteria() -> CriteriaSet {
    let c = |name: &str, field, kind, pattern: &str| Criterion {
        name: name.into(),
        field,
        kind,
        pattern: pattern.into(),
        enabled: true,
        message: format!("{name} seen"),
        effect: Default::default(),
    };
    CriteriaSet {
        criteria: vec![
            c("IRC", Field::RemotePort, MatchKind::Range, "6660-6669"),
            c("Temp images", Field::ModulePath, MatchKind::Wildcard, "*\\Temp\\*"),
            c("Bob", Field::User, MatchKind::Exact, "CORP\\bob"),
            c("Doc net", Field::RemoteIp, MatchKind::Cidr, "203.0.113.0/24"),
            c("Outlook", Field::Module, MatchKind::Regex, "(?i)^outlook"),
        ],
    }
}
