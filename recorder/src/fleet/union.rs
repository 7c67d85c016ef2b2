//! The fleet's profile: the union of every node's share. It depends on the shares alone
//! (sorted calls, annotations from the shares' provenance), so every node that reads the
//! same shares computes the same bytes, hence the same digest.

use super::provenance::{Provenance, Status};
use crate::arch::Arch;
use crate::oci::artifact;
use crate::profile::{DefaultAction, Profile};
use std::collections::{BTreeMap, BTreeSet};

/// One node's share of a profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Share {
    pub calls: BTreeMap<Arch, BTreeSet<String>>,
    pub provenance: Provenance,
}

/// The union as pushed to the stable tag and written next to the Localhost profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Union {
    /// The profile JSON (the artifact's layer and the Localhost file).
    pub json: String,
    pub status: Status,
    pub annotations: BTreeMap<String, String>,
    /// The digest its manifest has wherever it is pushed from.
    pub digest: String,
}

/// How many calls a call set holds, every ABI counted.
pub fn count(calls: &BTreeMap<Arch, BTreeSet<String>>) -> u64 {
    calls.values().map(|s| s.len() as u64).sum()
}

/// Adds `more` into `into`; whether it added anything.
pub fn add(
    into: &mut BTreeMap<Arch, BTreeSet<String>>,
    more: &BTreeMap<Arch, BTreeSet<String>>,
) -> bool {
    let mut grew = false;
    for (arch, names) in more {
        let set = into.entry(*arch).or_default();
        for n in names {
            grew |= set.insert(n.clone());
        }
    }
    grew
}

impl Union {
    /// The union of `shares` (in any order).
    pub fn of<'a>(
        shares: impl IntoIterator<Item = &'a Share> + Clone,
        default: DefaultAction,
        stable_after: u64,
    ) -> Union {
        let mut calls = BTreeMap::new();
        for s in shares.clone() {
            add(&mut calls, &s.calls);
        }
        let provenance =
            Provenance::union(shares.into_iter().map(|s| &s.provenance), count(&calls));
        let json = Profile::allow(&calls, default).to_json();
        let mut status = provenance.status(stable_after, None);
        let annotations = status.annotations();
        let digest = artifact::sha256_digest(&artifact::manifest_with(
            json.as_bytes(),
            None,
            &annotations,
        ));
        status.digest = Some(digest.clone());
        Union {
            json,
            status,
            annotations,
            digest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(node: &str, calls: &[&str], quiet: u64, union_calls: u64) -> Share {
        Share {
            calls: BTreeMap::from([(Arch::X86_64, calls.iter().map(|c| c.to_string()).collect())]),
            provenance: Provenance {
                profile: "shop/web/app".into(),
                nodes: [node.to_string()].into(),
                containers_from_birth: 1,
                quiet_runs: quiet,
                calls: union_calls,
                last_seen: Some(format!("2026-01-0{}T00:00:00Z", node.len())),
                ..Provenance::default()
            },
        }
    }

    #[test]
    fn every_order_gives_the_same_bytes_and_digest() {
        let shares = [
            share("a", &["read", "write"], 2, 3),
            share("bb", &["openat", "read"], 4, 3),
            share("ccc", &["close"], 7, 2),
        ];
        let one = Union::of(&shares, DefaultAction::Errno(38), 5);
        let mut reversed = shares.to_vec();
        reversed.reverse();
        let other = Union::of(&reversed, DefaultAction::Errno(38), 5);
        assert_eq!(one, other);
        let names = crate::profile::Profile::parse(one.json.as_bytes())
            .unwrap()
            .allowed();
        assert_eq!(
            names[&Arch::X86_64].iter().collect::<Vec<_>>(),
            ["close", "openat", "read", "write"]
        );
        // Runs counted against a 3-call union do not count for the 4-call one.
        assert_eq!(one.status.provenance.quiet_runs, 0);
        assert_eq!(one.annotations["io.seccomp-recorder.calls"], "4");
        assert_eq!(
            one.annotations["org.opencontainers.image.created"],
            "2026-01-03T00:00:00Z"
        );
        assert!(one.digest.starts_with("sha256:"));
    }

    #[test]
    fn stable_after_enough_quiet_runs_against_the_same_union() {
        let shares = [share("a", &["read"], 3, 1), share("b", &["read"], 3, 1)];
        let u = Union::of(&shares, DefaultAction::Errno(38), 6);
        assert_eq!(u.status.provenance.quiet_runs, 6);
        assert!(u.status.stable);
        assert!(
            !Union::of(&shares, DefaultAction::Errno(38), 7)
                .status
                .stable
        );
    }

    #[test]
    fn add_says_whether_anything_was_new() {
        let mut into = share("a", &["read"], 0, 0).calls;
        assert!(!add(&mut into, &share("b", &["read"], 0, 0).calls));
        assert!(add(&mut into, &share("b", &["write"], 0, 0).calls));
        assert_eq!(count(&into), 2);
    }
}
