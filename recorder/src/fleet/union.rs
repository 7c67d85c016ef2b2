//! The fleet's profile: the union of every node's share. It depends on the shares alone
//! (sorted calls, annotations from the shares' provenance), so every node that reads the
//! same shares computes the same bytes, hence the same digest.

use super::provenance::{Provenance, Status};
use crate::arch::Arch;
use crate::oci::artifact;
use crate::profile::{DefaultAction, Profile};
use std::collections::{BTreeMap, BTreeSet};

/// What every node makes of a set of calls: the same for every agent of the fleet (the
/// DaemonSet gives them the same flags), or their unions differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub default: DefaultAction,
    /// `--log-refusals`: SECCOMP_FILTER_FLAG_LOG on the profile.
    pub log_refusals: bool,
}

impl From<DefaultAction> for Shape {
    fn from(default: DefaultAction) -> Shape {
        Shape {
            default,
            log_refusals: false,
        }
    }
}

impl Shape {
    fn json(&self, calls: &BTreeMap<Arch, BTreeSet<String>>) -> String {
        let mut p = Profile::allow(calls, self.default);
        if self.log_refusals {
            p.log_refusals();
        }
        p.to_json()
    }
}

/// One node's share of a profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Share {
    pub calls: BTreeMap<Arch, BTreeSet<String>>,
    pub provenance: Provenance,
}

/// A profile artifact as pushed: the profile JSON, the manifest's annotations, and the
/// digest the manifest has wherever it is pushed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    pub json: String,
    pub annotations: BTreeMap<String, String>,
    pub digest: String,
}

impl Artifact {
    fn new(json: String, annotations: BTreeMap<String, String>) -> Artifact {
        let manifest = artifact::manifest_with(json.as_bytes(), None, &annotations);
        Artifact {
            digest: artifact::sha256_digest(&manifest),
            json,
            annotations,
        }
    }
}

impl Share {
    /// What the node pushes to its share tag.
    pub fn artifact(&self, shape: impl Into<Shape>) -> Artifact {
        let json = shape.into().json(&self.calls);
        Artifact::new(json, self.provenance.annotations())
    }

    /// A share read back from the registry; `None` when it has no provenance.
    pub fn from_artifact(
        profile: &[u8],
        annotations: &BTreeMap<String, String>,
    ) -> Result<Option<Share>, String> {
        let Some(provenance) =
            Provenance::from_annotations(annotations).map_err(|e| e.to_string())?
        else {
            return Ok(None);
        };
        let calls = Profile::parse(profile)
            .map_err(|(field, msg)| format!("{field}: {msg}"))?
            .allowed();
        Ok(Some(Share { calls, provenance }))
    }
}

/// The union as pushed to the stable tag and written next to the Localhost profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Union {
    pub artifact: Artifact,
    pub status: Status,
    /// The shares it was computed from: the node part of each share tag, and the digest.
    pub shares: BTreeMap<String, String>,
}

/// The annotation listing the shares a union was computed from, `node=digest,...`.
pub const SHARES: &str = "io.seccomp-recorder.shares";

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
    /// The union of `shares` (by the node part of their tags, with their digests).
    pub fn of(
        shares: &BTreeMap<String, (String, Share)>,
        shape: impl Into<Shape>,
        stable_after: u64,
    ) -> Union {
        let mut calls = BTreeMap::new();
        for (_, s) in shares.values() {
            add(&mut calls, &s.calls);
        }
        let provenance =
            Provenance::union(shares.values().map(|(_, s)| &s.provenance), count(&calls));
        let json = shape.into().json(&calls);
        let mut status = provenance.status(stable_after, None);
        let mut annotations = status.annotations();
        let list: BTreeMap<String, String> = shares
            .iter()
            .map(|(node, (digest, _))| (node.clone(), digest.clone()))
            .collect();
        annotations.insert(SHARES.to_string(), join_shares(&list));
        let artifact = Artifact::new(json, annotations);
        status.digest = Some(artifact.digest.clone());
        Union {
            artifact,
            status,
            shares: list,
        }
    }

    /// A union read back from the stable tag; `None` when it is not one the agents
    /// pushed (then it is recomputed from the shares).
    pub fn from_artifact(
        profile: &[u8],
        annotations: &BTreeMap<String, String>,
        digest: &str,
    ) -> Option<Union> {
        let status = Status::from_annotations(annotations, digest).ok()??;
        let shares = split_shares(annotations.get(SHARES)?)?;
        Some(Union {
            artifact: Artifact {
                json: String::from_utf8(profile.to_vec()).ok()?,
                annotations: annotations.clone(),
                digest: digest.to_string(),
            },
            status,
            shares,
        })
    }
}

fn join_shares(list: &BTreeMap<String, String>) -> String {
    list.iter()
        .map(|(n, d)| format!("{n}={d}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn split_shares(text: &str) -> Option<BTreeMap<String, String>> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (n, d) = pair.split_once('=')?;
            Some((n.to_string(), d.to_string()))
        })
        .collect()
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

    fn set(shares: &[Share]) -> BTreeMap<String, (String, Share)> {
        shares
            .iter()
            .map(|s| {
                let node = s.provenance.nodes.first().unwrap().clone();
                let digest = s.artifact(DefaultAction::Errno(38)).digest;
                (node, (digest, s.clone()))
            })
            .collect()
    }

    #[test]
    fn the_union_depends_on_the_shares_only() {
        let shares = [
            share("a", &["read", "write"], 2, 3),
            share("bb", &["openat", "read"], 4, 3),
            share("ccc", &["close"], 7, 2),
        ];
        let one = Union::of(&set(&shares), DefaultAction::Errno(38), 5);
        let mut reversed = shares.to_vec();
        reversed.reverse();
        assert_eq!(one, Union::of(&set(&reversed), DefaultAction::Errno(38), 5));
        let names = Profile::parse(one.artifact.json.as_bytes())
            .unwrap()
            .allowed();
        assert_eq!(
            names[&Arch::X86_64].iter().collect::<Vec<_>>(),
            ["close", "openat", "read", "write"]
        );
        // Runs counted against a 3-call union do not count for the 4-call one.
        assert_eq!(one.status.provenance.quiet_runs, 0);
        let a = &one.artifact.annotations;
        assert_eq!(a["io.seccomp-recorder.calls"], "4");
        assert_eq!(
            a["org.opencontainers.image.created"],
            "2026-01-03T00:00:00Z"
        );
        assert_eq!(one.shares.keys().collect::<Vec<_>>(), ["a", "bb", "ccc"]);
        let back = Union::from_artifact(one.artifact.json.as_bytes(), a, &one.artifact.digest);
        assert_eq!(back.as_ref(), Some(&one));
        // The digest is the one of the manifest the repository builds.
        let manifest = artifact::manifest_with(one.artifact.json.as_bytes(), None, a);
        assert_eq!(artifact::sha256_digest(&manifest), one.artifact.digest);
    }

    #[test]
    fn log_refusals_flags_the_union() {
        let shares = set(&[share("a", &["read"], 0, 1)]);
        let shape = Shape {
            default: DefaultAction::Errno(38),
            log_refusals: true,
        };
        let flagged = Union::of(&shares, shape, 5);
        let p = Profile::parse(flagged.artifact.json.as_bytes()).unwrap();
        assert_eq!(
            p.flags.as_deref(),
            Some(&["SECCOMP_FILTER_FLAG_LOG".to_string()][..])
        );
        assert_ne!(flagged, Union::of(&shares, DefaultAction::Errno(38), 5));
    }

    #[test]
    fn shares_read_back() {
        let s = share("a", &["read"], 1, 1);
        let art = s.artifact(DefaultAction::Errno(38));
        let back = Share::from_artifact(art.json.as_bytes(), &art.annotations).unwrap();
        assert_eq!(back, Some(s));
        assert_eq!(Share::from_artifact(b"{}", &BTreeMap::new()), Ok(None));
    }

    #[test]
    fn stable_after_enough_quiet_runs_against_the_same_union() {
        let shares = [share("a", &["read"], 3, 1), share("b", &["read"], 3, 1)];
        let u = Union::of(&set(&shares), DefaultAction::Errno(38), 6);
        assert_eq!(u.status.provenance.quiet_runs, 6);
        assert!(u.status.stable);
        assert!(
            !Union::of(&set(&shares), DefaultAction::Errno(38), 7)
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
