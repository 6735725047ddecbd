//! Counts as a person reads them: `10,000,000`, not `10000000`.

/// `n` with a comma between each group of three digits.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn groups_of_three_from_the_right() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(319), "319");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(52_317), "52,317");
        assert_eq!(thousands(10_000_000), "10,000,000");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }
}
