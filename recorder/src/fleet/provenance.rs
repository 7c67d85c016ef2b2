//! Where a profile comes from: the images and nodes it was recorded on, how many of its
//! containers were recorded from birth, when, and how many from-birth runs in a row added
//! nothing. Written as manifest annotations (sorted, so equal provenance is equal bytes)
//! and as the `<container>.status.json` sidecar of a Localhost profile.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// OCI's own creation time: the last time a contributing container was seen.
pub const CREATED: &str = "org.opencontainers.image.created";
const PREFIX: &str = "io.seccomp-recorder.";

/// The provenance of one node's share, or of the fleet's union of them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    /// `namespace/workload/container`.
    pub profile: String,
    /// Image digests (or references, when the runtime gives no digest).
    pub images: BTreeSet<String>,
    pub nodes: BTreeSet<String>,
    pub containers_from_birth: u64,
    /// Containers that were already running when recording started: their start-up is
    /// missing.
    pub containers_joined_late: u64,
    /// RFC 3339 UTC, seconds.
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    /// From-birth runs that ended without a call the union lacked, since it last grew.
    pub quiet_runs: u64,
    /// How many calls the union had when those runs were counted: runs counted against a
    /// smaller union (a node that has not seen the latest calls) do not count.
    pub calls: u64,
}

/// The union's provenance with its verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    #[serde(flatten)]
    pub provenance: Provenance,
    pub stable_after: u64,
    /// `quiet_runs >= stable_after`: safe to enforce by the recorder's measure.
    pub stable: bool,
    /// The digest of the union in the registry, once pushed or read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// An annotation that does not say what it must.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("annotation {key}: '{value}' is not {expected}")]
pub struct BadAnnotation {
    pub key: String,
    pub value: String,
    pub expected: &'static str,
}

impl Provenance {
    /// The fleet's provenance from its nodes' shares, and nothing else: every node that
    /// reads the same shares computes the same one. `calls` is the union's size.
    pub fn union<'a>(shares: impl IntoIterator<Item = &'a Provenance>, calls: u64) -> Provenance {
        let mut u = Provenance {
            calls,
            ..Provenance::default()
        };
        for s in shares {
            if u.profile.is_empty() {
                u.profile = s.profile.clone();
            }
            u.images.extend(s.images.iter().cloned());
            u.nodes.extend(s.nodes.iter().cloned());
            u.containers_from_birth += s.containers_from_birth;
            u.containers_joined_late += s.containers_joined_late;
            u.first_seen = min_some(u.first_seen.take(), s.first_seen.clone());
            u.last_seen = u.last_seen.take().max(s.last_seen.clone());
            if s.calls == calls {
                u.quiet_runs += s.quiet_runs;
            }
        }
        u
    }

    /// Counts a container of this profile seen at `now`.
    pub fn saw(&mut self, now: &str) {
        self.first_seen = min_some(self.first_seen.take(), Some(now.to_string()));
        self.last_seen = self.last_seen.take().max(Some(now.to_string()));
    }

    /// Counts one from-birth run that ended; `new` when it made a call the union (of
    /// `union_calls` calls, after this run) lacked before.
    pub fn run_ended(&mut self, new: bool, union_calls: u64) {
        if new || self.calls != union_calls {
            self.quiet_runs = 0;
            self.calls = union_calls;
        }
        if !new {
            self.quiet_runs += 1;
        }
    }

    /// A union that grew since the runs were counted resets them.
    pub fn union_is(&mut self, union_calls: u64) {
        if self.calls != union_calls {
            self.quiet_runs = 0;
            self.calls = union_calls;
        }
    }

    pub fn status(&self, stable_after: u64, digest: Option<String>) -> Status {
        Status {
            provenance: self.clone(),
            stable_after,
            stable: self.containers_from_birth > 0 && self.quiet_runs >= stable_after,
            digest,
        }
    }

    /// The manifest annotations, in key order.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        let list = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(",");
        let mut a = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            a.insert(format!("{PREFIX}{k}"), v);
        };
        put("profile", self.profile.clone());
        put("images", list(&self.images));
        put("nodes", list(&self.nodes));
        put(
            "containers-from-birth",
            self.containers_from_birth.to_string(),
        );
        put(
            "containers-joined-late",
            self.containers_joined_late.to_string(),
        );
        put("quiet-runs", self.quiet_runs.to_string());
        put("calls", self.calls.to_string());
        if let Some(t) = &self.first_seen {
            put("first-seen", t.clone());
        }
        if let Some(t) = &self.last_seen {
            put("last-seen", t.clone());
            a.insert(CREATED.to_string(), t.clone());
        }
        a
    }

    /// Reads [`Provenance::annotations`] back; `None` when the artifact has none (not
    /// pushed by the agent).
    pub fn from_annotations(
        a: &BTreeMap<String, String>,
    ) -> Result<Option<Provenance>, BadAnnotation> {
        let get = |k: &str| a.get(&format!("{PREFIX}{k}"));
        let Some(profile) = get("profile") else {
            return Ok(None);
        };
        let set = |k: &str| -> BTreeSet<String> {
            get(k)
                .map(|v| {
                    v.split(',')
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default()
        };
        let number = |k: &str| -> Result<u64, BadAnnotation> {
            let v = get(k).map(String::as_str).unwrap_or("0");
            v.parse().map_err(|_| BadAnnotation {
                key: format!("{PREFIX}{k}"),
                value: v.to_string(),
                expected: "a number",
            })
        };
        Ok(Some(Provenance {
            profile: profile.clone(),
            images: set("images"),
            nodes: set("nodes"),
            containers_from_birth: number("containers-from-birth")?,
            containers_joined_late: number("containers-joined-late")?,
            first_seen: get("first-seen").cloned(),
            last_seen: get("last-seen").cloned(),
            quiet_runs: number("quiet-runs")?,
            calls: number("calls")?,
        }))
    }
}

impl Status {
    /// The union's annotations: its provenance and the verdict.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        let mut a = self.provenance.annotations();
        a.insert(
            format!("{PREFIX}stable-after"),
            self.stable_after.to_string(),
        );
        a.insert(format!("{PREFIX}stable"), self.stable.to_string());
        a
    }

    /// The verdict as the union's annotations say it; `None` on other artifacts.
    pub fn from_annotations(
        a: &BTreeMap<String, String>,
        digest: &str,
    ) -> Result<Option<Status>, BadAnnotation> {
        let Some(provenance) = Provenance::from_annotations(a)? else {
            return Ok(None);
        };
        let key = format!("{PREFIX}stable-after");
        let raw = a.get(&key).map(String::as_str).unwrap_or("0");
        let stable_after = raw.parse().map_err(|_| BadAnnotation {
            key,
            value: raw.to_string(),
            expected: "a number",
        })?;
        let stable = a.get(&format!("{PREFIX}stable")).map(String::as_str) == Some("true");
        Ok(Some(Status {
            provenance,
            stable_after,
            stable,
            digest: Some(digest.to_string()),
        }))
    }

    /// Pretty JSON with a trailing newline: the `.status.json` sidecar.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("status serializes");
        s.push('\n');
        s
    }
}

fn min_some(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(node: &str, seen: &str, birth: u64, quiet: u64, calls: u64) -> Provenance {
        Provenance {
            profile: "shop/web/app".into(),
            images: [format!("sha256:{node}")].into(),
            nodes: [node.to_string()].into(),
            containers_from_birth: birth,
            containers_joined_late: 1,
            first_seen: Some(seen.into()),
            last_seen: Some(seen.into()),
            quiet_runs: quiet,
            calls,
        }
    }

    #[test]
    fn union_depends_on_the_shares_only() {
        let a = share("a", "2026-01-02T00:00:00Z", 2, 3, 40);
        let b = share("b", "2026-01-01T00:00:00Z", 4, 2, 40);
        // Counted against an older, smaller union: those runs do not count.
        let c = share("c", "2026-01-03T00:00:00Z", 1, 9, 38);
        let u = Provenance::union([&a, &b, &c], 40);
        assert_eq!(u, Provenance::union([&c, &b, &a], 40));
        assert_eq!(u.quiet_runs, 5);
        assert_eq!(u.containers_from_birth, 7);
        assert_eq!(u.containers_joined_late, 3);
        assert_eq!(u.first_seen.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(u.last_seen.as_deref(), Some("2026-01-03T00:00:00Z"));
        assert_eq!(u.nodes.iter().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(u.calls, 40);
        assert!(u.status(5, None).stable);
        assert!(!u.status(6, None).stable);
    }

    #[test]
    fn runs_count_until_the_union_grows() {
        let mut p = Provenance::default();
        p.run_ended(true, 10);
        assert_eq!((p.quiet_runs, p.calls), (0, 10));
        p.run_ended(false, 10);
        p.run_ended(false, 10);
        assert_eq!(p.quiet_runs, 2);
        // Another node's call grew the union.
        p.union_is(11);
        assert_eq!((p.quiet_runs, p.calls), (0, 11));
        p.run_ended(false, 11);
        assert_eq!(p.quiet_runs, 1);
        p.run_ended(false, 12);
        assert_eq!((p.quiet_runs, p.calls), (1, 12));
    }

    #[test]
    fn annotations_read_back_and_are_sorted() {
        let p = share("node-1", "2026-01-02T03:04:05Z", 2, 1, 7);
        let status = p.status(5, None);
        let a = status.annotations();
        let keys: Vec<&String> = a.keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(a["io.seccomp-recorder.nodes"], "node-1");
        assert_eq!(
            a["org.opencontainers.image.created"],
            "2026-01-02T03:04:05Z"
        );
        assert_eq!(a["io.seccomp-recorder.stable"], "false");
        let back = Status::from_annotations(&a, "sha256:x").unwrap().unwrap();
        assert_eq!(back.provenance, p);
        assert_eq!(back.stable_after, 5);
        assert_eq!(back.digest.as_deref(), Some("sha256:x"));
        assert_eq!(Provenance::from_annotations(&BTreeMap::new()), Ok(None));
        let mut bad = a.clone();
        bad.insert("io.seccomp-recorder.quiet-runs".into(), "many".into());
        let e = Provenance::from_annotations(&bad).unwrap_err();
        assert!(e.to_string().contains("quiet-runs") && e.to_string().contains("many"));
    }
}
