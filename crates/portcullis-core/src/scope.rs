//! Scope sets (RFC 6749 §3.3): order never matters (R58), requests are checked as subsets.

use std::collections::BTreeSet;
use std::fmt;

/// A set of scope tokens.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Scope(BTreeSet<String>);

/// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

impl Scope {
    /// Parses a space-separated list; `None` if a token has characters outside NQCHAR.
    pub fn parse(text: &str) -> Option<Self> {
        let mut set = BTreeSet::new();
        for token in text.split(' ').filter(|t| !t.is_empty()) {
            if !is_scope_token(token) {
                return None;
            }
            set.insert(token.to_owned());
        }
        Some(Self(set))
    }

    /// Whether every token of `self` is in `other`.
    pub fn is_subset(&self, other: &Self) -> bool {
        self.0.is_subset(&other.0)
    }

    /// Whether the set holds `token`.
    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(token)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The tokens, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for token in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(token)?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r58_order_is_irrelevant_and_subsets_are_checked() {
        let registered = Scope::parse("openid accounts payments").unwrap();
        assert!(
            Scope::parse("payments openid")
                .unwrap()
                .is_subset(&registered)
        );
        assert!(
            !Scope::parse("payments admin")
                .unwrap()
                .is_subset(&registered)
        );
        assert_eq!(Scope::parse("b a  a").unwrap().to_string(), "a b");
    }

    #[test]
    fn scope_tokens_are_nqchar() {
        assert!(Scope::parse("a\"b").is_none());
        assert!(Scope::parse("a\\b").is_none());
        assert!(Scope::parse("caf\u{e9}").is_none());
        assert!(Scope::parse("urn:x:y/z!").is_some());
    }
}
