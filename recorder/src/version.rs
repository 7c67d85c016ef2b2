//! Release numbers as engines print them, compared numerically: a leaf that the runtime
//! defaults and the installed-engine probe both use.

/// A release number, compared numerically (`20.10.24`), shown as written (`19.03`).
#[derive(Clone, Debug)]
pub struct Version {
    parts: Vec<u32>,
    text: String,
}

impl Version {
    /// The leading `1.6.20` of what engines print (`v1.6.20`, `20.10.24+dfsg1`,
    /// `1.6.20~ds1`); at least major.minor unless the whole text is one number.
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.strip_prefix('v').unwrap_or(s);
        let end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let text = s[..end].trim_end_matches('.');
        let parts: Vec<u32> = text
            .split('.')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        (parts.len() >= 2 || end == s.len()).then(|| Version {
            parts,
            text: text.to_string(),
        })
    }

    pub fn major(&self) -> u32 {
        self.parts[0]
    }

    /// True if `self` is `prefix` or a release of that series (`20.10.24` in `20.10`).
    pub fn within(&self, prefix: &Version) -> bool {
        self.parts.starts_with(&prefix.parts)
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Version) -> bool {
        self.parts == other.parts
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> std::cmp::Ordering {
        self.parts.cmp(&other.parts)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_as_engines_print_them() {
        let v = |s: &str| Version::parse(s).map(|v| v.to_string());
        assert_eq!(v("20.10.24+dfsg1").as_deref(), Some("20.10.24"));
        assert_eq!(v("1.6.20~ds1").as_deref(), Some("1.6.20"));
        assert_eq!(v("v2.0.0").as_deref(), Some("2.0.0"));
        assert_eq!(v("29").as_deref(), Some("29"));
        assert_eq!(v("19.03").as_deref(), Some("19.03"));
        assert_eq!(Version::parse("19.03"), Version::parse("19.3"));
        assert_eq!(v("5ab"), None);
        assert_eq!(v("github.com/containerd/containerd"), None);
    }

    #[test]
    fn a_series_holds_its_releases() {
        let v = |s: &str| Version::parse(s).unwrap();
        assert!(v("20.10.24").within(&v("20.10")));
        assert!(!v("20.1.24").within(&v("20.10")));
        assert!(v("1.7.3") > v("1.7"));
        assert_eq!(v("0.50.1").major(), 0);
    }
}
