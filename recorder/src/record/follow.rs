//! `record`'s side of following new cgroups: a container named before it started is
//! recorded from the birth of its cgroup, and with `--follow-containers` every started
//! container that passes the filter becomes a target of its own. The walk itself is
//! [`crate::follow`].

use super::session::{Live, Watch};
use super::{Note, RecordError};
use crate::engine::Engine;
use crate::follow::{Birth, Existing, Follow, Verdict};
use crate::profile::container::Kind;
use crate::target::{Container, EngineRoots, container_of};
use crate::trace::{Syscalls, Tracer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Which started containers `--follow-containers` records.
#[derive(Clone, Debug, Default)]
pub struct FollowFilter {
    /// Only these engines (empty: all).
    pub engines: Vec<Engine>,
    /// Only containers whose name, image or ID matches one of these patterns (`*` matches
    /// any run of characters; empty: all).
    pub names: Vec<String>,
}

impl FollowFilter {
    fn accepts(&self, c: &Container) -> bool {
        (self.engines.is_empty() || c.engine.is_some_and(|e| self.engines.contains(&e)))
            && (self.names.is_empty()
                || self.names.iter().any(|p| {
                    [c.name.as_deref(), c.image.as_deref(), Some(c.id.as_str())]
                        .into_iter()
                        .flatten()
                        .any(|v| glob(p, v))
                }))
    }
}

/// `*`-only glob: enough for container names and image references.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    if !text.ends_with(last) {
        return false;
    }
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// Following while recording: the shared walk, and what `record` needs to decide.
pub(super) struct Following {
    follow: Follow,
    mount: PathBuf,
    roots: EngineRoots,
    filter: Option<FollowFilter>,
    /// What was decided since the caller last took them.
    pub(super) notes: Vec<Note>,
}

impl Following {
    /// Call after the kernel side is loaded: anything made later is in BORN.
    pub(super) fn new(mount: &Path, roots: EngineRoots, filter: Option<FollowFilter>) -> Self {
        Following {
            follow: Follow::new(mount),
            mount: mount.to_path_buf(),
            roots,
            filter,
            notes: Vec::new(),
        }
    }

    pub(super) fn own(&mut self, target: &Existing) {
        self.follow.own(target);
    }

    /// Takes the cgroups born since the last scan: a pending container's is recorded as
    /// it, a followed container's becomes a target, those inside a target are folded
    /// into it, the rest are dropped.
    pub(super) fn scan(
        &mut self,
        tracer: &mut Tracer,
        watched: &mut Vec<Watch>,
    ) -> Result<(), RecordError> {
        let Following {
            follow,
            mount,
            roots,
            filter,
            notes,
        } = self;
        let mut decide = |b: Birth<'_>| match decide(b, mount, roots, filter.as_ref(), watched) {
            Some((verdict, note)) => {
                notes.push(note);
                verdict
            }
            None => Verdict::Drop,
        };
        follow.scan(tracer, &mut decide)?;
        Ok(())
    }

    /// Moves the sets of the cgroups folded into each target into the target's.
    pub(super) fn fold(&self, seen: &mut BTreeMap<u64, Syscalls>) {
        self.follow.fold(seen);
    }
}

/// Keeps a new cgroup that is a pending container's, or a container the filter accepts.
fn decide(
    b: Birth<'_>,
    mount: &Path,
    roots: &EngineRoots,
    filter: Option<&FollowFilter>,
    watched: &mut Vec<Watch>,
) -> Option<(Verdict, Note)> {
    let dir = mount.join(b.rel);
    if let Some(w) = watched
        .iter_mut()
        .find(|w| w.pending().is_some_and(|p| p.matches(b.rel)))
    {
        w.born(b.id, dir);
        let note = format!(
            "{}: started, recording it from {}",
            w.label(),
            b.rel.display()
        );
        return Some((Verdict::Keep, Note::Info(note)));
    }
    // Only a filter makes other containers targets; looking costs a read of the engines'
    // state, and every cgroup the host makes passes here.
    let filter = filter?;
    let c = container_of(mount, &dir, roots).filter(|c| filter.accepts(c))?;
    let mut label = c.profile_name();
    if label == "command" || watched.iter().any(|w| w.label() == label) {
        label = format!("{label}-{}", b.id);
    }
    let note = format!(
        "following {} container {} ({})",
        c.engine_name(),
        label,
        b.rel.display()
    );
    watched.push(Watch::Live(Live {
        label,
        path: dir,
        id: b.id,
        container: Some(c),
        kind: Kind::Container,
        followed: true,
    }));
    Some((Verdict::Keep, Note::Info(note)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{Pending, Want};

    const ID: &str = "3f2a9c0e5b7d41a8b6c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5";

    fn pending(label: &str) -> Watch {
        Watch::Pending(Pending {
            label: label.into(),
            want: Want::Id(ID.into()),
            container: None,
        })
    }

    fn birth(rel: &str) -> Birth<'_> {
        Birth {
            id: 42,
            rel: Path::new(rel),
        }
    }

    #[test]
    fn a_pending_containers_cgroup_is_kept_as_it_and_others_are_not_without_a_filter() {
        let mount = Path::new("/nonexistent-cgroup-mount");
        let roots = EngineRoots(Vec::new());
        let mut watched = vec![pending("web")];
        // Not its cgroup, and no --follow-containers: dropped, nothing looked up.
        let other = format!("system.slice/docker-{}.scope", "0".repeat(64));
        assert!(decide(birth(&other), mount, &roots, None, &mut watched).is_none());
        assert!(watched[0].pending().is_some());
        let (verdict, note) = decide(
            birth(&format!("system.slice/docker-{ID}.scope")),
            mount,
            &roots,
            None,
            &mut watched,
        )
        .expect("the pending container's cgroup");
        assert_eq!(verdict, Verdict::Keep);
        assert!(matches!(note, Note::Info(n) if n.starts_with("web: started")));
        let Watch::Live(l) = &watched[0] else {
            panic!("still pending");
        };
        assert_eq!((l.id, l.kind, l.followed), (42, Kind::Container, false));
        assert_eq!(
            l.path,
            mount.join(format!("system.slice/docker-{ID}.scope"))
        );
    }

    #[test]
    fn star_globs() {
        assert!(glob("web-*", "web-1"));
        assert!(glob("*-db", "prod-db"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(glob("*", ""));
        assert!(glob("exact", "exact"));
        assert!(!glob("web-*", "api-1"));
        assert!(!glob("a*b*c", "acb"));
        assert!(!glob("ab*ba", "aba"));
    }

    #[test]
    fn follow_filter_by_engine_and_name() {
        let c = Container {
            engine: Some(Engine::Docker),
            id: "0123".into(),
            name: Some("e2e-web".into()),
            image: Some("nginx:1.25".into()),
        };
        assert!(FollowFilter::default().accepts(&c));
        let f = FollowFilter {
            engines: vec![Engine::Podman],
            names: vec![],
        };
        assert!(!f.accepts(&c));
        let f = FollowFilter {
            engines: vec![Engine::Docker],
            names: vec!["nginx:*".into()],
        };
        assert!(f.accepts(&c));
        let f = FollowFilter {
            engines: vec![],
            names: vec!["db-*".into()],
        };
        assert!(!f.accepts(&c));
    }
}
