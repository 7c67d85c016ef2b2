//! Following new cgroups, for `record` (`--follow-containers`, containers not started yet)
//! and the agent alike.
//!
//! In follow mode the kernel records every cgroup v2 directory from its `mkdir` and lists
//! it in BORN, because a container's cgroup must be recorded before `runc init` enters it
//! and user space cannot be asked in time. User space then decides about each one, parents
//! before children: a cgroup made inside a target is folded into it, one made inside a
//! cgroup still being decided about waits with it, and any other is shown to the caller,
//! who keeps it as a target, drops it, or makes it wait (the agent asks the container
//! runtime whose it is).

#[cfg(test)]
mod tests;

use crate::cgroup::{self, CgroupError};
use crate::trace::{Syscalls, TraceError, Tracer};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What following needs of the tracer's maps; a fake stands in for it in the unit tests.
pub(crate) trait Maps {
    /// The cgroups made since loading and not freed yet: id -> (parent id, directory name).
    fn born(&self) -> Result<BTreeMap<u64, (u64, String)>, TraceError>;
    /// Frees a BORN entry that was read.
    fn remove_born(&mut self, id: u64) -> Result<(), TraceError>;
    /// Records `id` from now on.
    fn add_target(&mut self, id: u64) -> Result<(), TraceError>;
    /// Records `child` (an existing cgroup below `owner`) into `owner`'s set.
    fn add_child(&mut self, child: u64, owner: u64) -> Result<(), TraceError>;
    /// Stops recording `id` and frees its entry.
    fn remove_target(&mut self, id: u64) -> Result<(), TraceError>;
}

impl Maps for Tracer {
    fn born(&self) -> Result<BTreeMap<u64, (u64, String)>, TraceError> {
        Tracer::born(self)
    }
    fn remove_born(&mut self, id: u64) -> Result<(), TraceError> {
        Tracer::remove_born(self, id)
    }
    fn add_target(&mut self, id: u64) -> Result<(), TraceError> {
        Tracer::add_target(self, id)
    }
    fn add_child(&mut self, child: u64, owner: u64) -> Result<(), TraceError> {
        Tracer::add_child(self, child, owner)
    }
    fn remove_target(&mut self, id: u64) -> Result<(), TraceError> {
        Tracer::remove_target(self, id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Trace(#[from] TraceError),
}

/// An existing cgroup recorded as one target with every cgroup below it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Existing {
    pub(crate) id: u64,
    /// The cgroups below it when it was added, recorded into its set.
    pub(crate) below: Vec<u64>,
}

/// Records `dir` and what is below it as one target.
pub(crate) fn add_existing(maps: &mut impl Maps, dir: &Path) -> Result<Existing, FollowError> {
    let id = cgroup::id(dir)?;
    maps.add_target(id)?;
    let mut below = Vec::new();
    for child in cgroup::subtree(dir).iter().skip(1) {
        // Removed since the walk: nothing to record.
        let Ok(c) = cgroup::id(child) else {
            continue;
        };
        if let Err(e) = maps.add_child(c, id) {
            // Part of a target would record part of a container: free what was added.
            for added in below.into_iter().chain([c, id]) {
                let _ = maps.remove_target(added);
            }
            return Err(e.into());
        }
        below.push(c);
    }
    Ok(Existing { id, below })
}

/// A new cgroup for the caller to decide about.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Birth<'a> {
    pub(crate) id: u64,
    /// Its path relative to the cgroup2 mount.
    pub(crate) rel: &'a Path,
}

impl Birth<'_> {
    /// The directory's own name.
    pub(crate) fn name(&self) -> &str {
        self.rel
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
    }
}

/// The caller's decision about a new cgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A target of its own from its birth.
    Keep,
    /// Not recorded: its entry is freed.
    Drop,
    /// Still recorded, undecided: the caller calls [`Follow::accept`] or [`Follow::reject`]
    /// later. Cgroups made inside it meanwhile share its fate.
    Wait,
}

/// The user-space half of following: where each cgroup is, and what it belongs to.
pub(crate) struct Follow {
    mount: PathBuf,
    /// Paths (relative to the mount) of the cgroups that existed at the start and of those
    /// born since, for naming their children.
    paths: BTreeMap<u64, PathBuf>,
    /// `paths` is pruned of removed cgroups when it has grown past this.
    prune_at: usize,
    /// Targets: each records its own cgroup and those folded into it.
    owners: BTreeSet<u64>,
    /// A cgroup inside a target -> that target.
    folded: BTreeMap<u64, u64>,
    /// Cgroups the caller has yet to decide about.
    waiting: BTreeSet<u64>,
    /// A cgroup made inside a waiting one -> that waiting cgroup.
    held: BTreeMap<u64, u64>,
}

impl Follow {
    /// Learns the cgroups that exist now. Call it after the kernel side is loaded in follow
    /// mode: anything made later is in BORN.
    pub(crate) fn new(mount: &Path) -> Follow {
        let paths: BTreeMap<u64, PathBuf> = cgroup::subtree(mount)
            .into_iter()
            .filter_map(|p| {
                let id = cgroup::id(&p).ok()?;
                Some((id, p.strip_prefix(mount).ok()?.to_path_buf()))
            })
            .collect();
        Follow::with_paths(mount, paths)
    }

    pub(crate) fn with_paths(mount: &Path, paths: BTreeMap<u64, PathBuf>) -> Follow {
        Follow {
            mount: mount.to_path_buf(),
            prune_at: (paths.len() * 2).max(1024),
            paths,
            owners: BTreeSet::new(),
            folded: BTreeMap::new(),
            waiting: BTreeSet::new(),
            held: BTreeMap::new(),
        }
    }

    /// Makes `target` (added with [`add_existing`], or a cgroup of our own) a target whose
    /// new children are folded into it.
    pub(crate) fn own(&mut self, target: &Existing) {
        self.owners.insert(target.id);
        for c in &target.below {
            self.folded.insert(*c, target.id);
        }
    }

    /// How many cgroups the kernel maps hold for us: targets, folded, waiting and held.
    pub(crate) fn followed(&self) -> u64 {
        let n = self.owners.len() + self.folded.len() + self.waiting.len() + self.held.len();
        n as u64
    }

    /// How many targets there are (cgroups folded into them not counted).
    pub(crate) fn targets(&self) -> usize {
        self.owners.len()
    }

    /// The directory of a cgroup seen so far.
    pub(crate) fn path(&self, id: u64) -> Option<PathBuf> {
        self.paths.get(&id).map(|rel| self.mount.join(rel))
    }

    /// Whether anything is known of this cgroup (a target, folded, waiting or held).
    fn knows(&self, id: u64) -> bool {
        self.owners.contains(&id)
            || self.folded.contains_key(&id)
            || self.waiting.contains(&id)
            || self.held.contains_key(&id)
    }

    /// Takes the cgroups born since the last scan, parents before children, and asks
    /// `decide` about each that is neither inside a target nor inside a waiting cgroup.
    pub(crate) fn scan(
        &mut self,
        maps: &mut impl Maps,
        decide: &mut dyn FnMut(Birth<'_>) -> Verdict,
    ) -> Result<(), FollowError> {
        let mut todo = Vec::new();
        for (id, (parent, name)) in maps.born()? {
            if self.knows(id) {
                // Our own cgroup, made after loading: already a target.
                maps.remove_born(id)?;
            } else {
                todo.push((id, parent, name));
            }
        }
        // Ids mostly grow with creation but may wrap: go round until nothing more can be
        // placed.
        loop {
            let waiting: BTreeSet<u64> = todo.iter().map(|t| t.0).collect();
            let before = todo.len();
            let mut rest = Vec::new();
            for (id, parent, name) in todo {
                match self.paths.get(&parent) {
                    Some(p) => {
                        let rel = p.join(&name);
                        self.place(maps, id, parent, rel, decide)?;
                    }
                    None if waiting.contains(&parent) => rest.push((id, parent, name)),
                    // Its parent was made and removed unseen, or belonged to a target that
                    // ended: nothing we follow.
                    None => self.forget(maps, id)?,
                }
            }
            if rest.is_empty() || rest.len() == before {
                for (id, _, _) in rest {
                    self.forget(maps, id)?;
                }
                break;
            }
            todo = rest;
        }
        if self.paths.len() > self.prune_at {
            self.prune();
        }
        Ok(())
    }

    /// Folds, holds or asks about one new cgroup; its BORN entry is freed either way, and
    /// its path is remembered for its children.
    fn place(
        &mut self,
        maps: &mut impl Maps,
        id: u64,
        parent: u64,
        rel: PathBuf,
        decide: &mut dyn FnMut(Birth<'_>) -> Verdict,
    ) -> Result<(), FollowError> {
        maps.remove_born(id)?;
        if let Some(owner) = self.owner_of(parent) {
            self.folded.insert(id, owner);
        } else if let Some(w) = self.waiting_of(parent) {
            self.held.insert(id, w);
        } else {
            match decide(Birth { id, rel: &rel }) {
                Verdict::Keep => {
                    self.owners.insert(id);
                }
                Verdict::Wait => {
                    self.waiting.insert(id);
                }
                Verdict::Drop => maps.remove_target(id)?,
            }
        }
        self.paths.insert(id, rel);
        Ok(())
    }

    fn owner_of(&self, id: u64) -> Option<u64> {
        if self.owners.contains(&id) {
            Some(id)
        } else {
            self.folded.get(&id).copied()
        }
    }

    fn waiting_of(&self, id: u64) -> Option<u64> {
        if self.waiting.contains(&id) {
            Some(id)
        } else {
            self.held.get(&id).copied()
        }
    }

    fn forget(&mut self, maps: &mut impl Maps, id: u64) -> Result<(), FollowError> {
        maps.remove_target(id)?;
        maps.remove_born(id)?;
        Ok(())
    }

    /// A waiting cgroup is a target after all: it and what was made inside it meanwhile,
    /// all recorded from birth.
    pub(crate) fn accept(&mut self, id: u64) {
        if !self.waiting.remove(&id) {
            return;
        }
        self.owners.insert(id);
        for c in self.take_held(id) {
            self.folded.insert(c, id);
        }
    }

    /// A waiting cgroup is not recorded: it and what was made inside it are freed.
    pub(crate) fn reject(&mut self, maps: &mut impl Maps, id: u64) -> Result<(), FollowError> {
        if !self.waiting.remove(&id) {
            return Ok(());
        }
        for c in self.take_held(id).into_iter().chain([id]) {
            maps.remove_target(c)?;
        }
        Ok(())
    }

    fn take_held(&mut self, waiting: u64) -> Vec<u64> {
        let ids: Vec<u64> = self
            .held
            .iter()
            .filter(|(_, w)| **w == waiting)
            .map(|(c, _)| *c)
            .collect();
        for c in &ids {
            self.held.remove(c);
        }
        ids
    }

    /// A target has ended: it and the cgroups folded into it are freed, and forgotten, so
    /// that a cgroup still being made inside it is not followed.
    pub(crate) fn release(&mut self, maps: &mut impl Maps, owner: u64) -> Result<(), FollowError> {
        if !self.owners.remove(&owner) {
            return Ok(());
        }
        let inside: Vec<u64> = self
            .folded
            .iter()
            .filter(|(_, o)| **o == owner)
            .map(|(c, _)| *c)
            .collect();
        for c in inside.into_iter().chain([owner]) {
            self.folded.remove(&c);
            self.paths.remove(&c);
            maps.remove_target(c)?;
        }
        Ok(())
    }

    /// Moves what the cgroups folded into a target saw into the target's set.
    pub(crate) fn fold(&self, seen: &mut BTreeMap<u64, Syscalls>) {
        for (id, owner) in &self.folded {
            if let Some(s) = seen.remove(id) {
                seen.entry(*owner).or_default().merge(s);
            }
        }
    }

    /// Forgets the paths of cgroups that are gone, so that a long run on a busy host does
    /// not keep every cgroup it ever saw.
    fn prune(&mut self) {
        let gone: Vec<u64> = self
            .paths
            .iter()
            .filter(|(_, rel)| !self.mount.join(rel).exists())
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if !self.knows(id) {
                self.paths.remove(&id);
            }
        }
        self.prune_at = (self.paths.len() * 2).max(1024);
    }
}
