//! Who made a refused call: the namespace, workload and container of its pod, through
//! its cgroup (a process's on the audit path, the kernel's cgroup id on the kernel path)
//! and the CRI, for every pod the runtime knows. Each answer is trusted for a short while
//! and the caches are emptied on a timer, so a flood reads /proc and asks the CRI once.

use super::super::pods::Key;
use super::super::view::View;
use crate::refusals::find_id;
use crate::target::id_from_dir_name;
use std::collections::HashMap;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A PID's cgroup is trusted this long: PIDs are reused.
const PID_TTL: Duration = Duration::from_secs(1);
/// Who a container ID is (or that the CRI does not know it) is trusted this long.
const WHO_TTL: Duration = Duration::from_secs(10);
/// A cgroup id never names another directory, but the cache must not grow for ever.
const ID_TTL: Duration = Duration::from_secs(60);

/// Names the container a container ID is: the CRI, or a fake in tests.
pub(super) trait Names {
    fn key_of(&mut self, container_id: &str) -> Option<Key>;
}

impl Names for View {
    fn key_of(&mut self, container_id: &str) -> Option<Key> {
        self.key_of_any(container_id)
    }
}

/// Where a refusal was made, as far as it is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Place {
    /// The pod's container, when the cgroup is one the CRI names.
    pub(super) key: Option<Key>,
    /// The cgroup as /proc/PID/cgroup prints it, `id:N` for a cgroup gone before it was
    /// looked up, or empty for a process gone before its cgroup was read.
    pub(super) cgroup: String,
}

pub(super) struct Attribution {
    mount: PathBuf,
    pids: Expiring<u32, Option<PathBuf>>,
    ids: Expiring<u64, Option<PathBuf>>,
    who: Expiring<String, Option<Key>>,
}

impl Attribution {
    /// `mount` is the cgroup2 mount point.
    pub(super) fn new(mount: &Path) -> Attribution {
        Attribution {
            mount: mount.to_path_buf(),
            pids: Expiring::new(PID_TTL),
            ids: Expiring::new(ID_TTL),
            who: Expiring::new(WHO_TTL),
        }
    }

    /// Where process `pid` runs (the audit path's records name the process).
    pub(super) fn pid(&mut self, pid: u32, names: &mut impl Names) -> Place {
        let mount = &self.mount;
        let dir = self
            .pids
            .get_or(pid, || crate::cgroup::of_pid(mount, pid).ok().flatten());
        self.place(dir, names)
    }

    /// Where the cgroup with id `id` is (the kernel path counts per cgroup id).
    pub(super) fn cgroup(&mut self, id: u64, names: &mut impl Names) -> Place {
        let mount = &self.mount;
        match self.ids.get_or(id, || find_id(mount, id)) {
            Some(dir) => self.place(Some(dir), names),
            None => Place {
                key: None,
                cgroup: format!("id:{id}"),
            },
        }
    }

    fn place(&mut self, dir: Option<PathBuf>, names: &mut impl Names) -> Place {
        let Some(dir) = dir else {
            return Place {
                key: None,
                cgroup: String::new(),
            };
        };
        let key =
            container_id(&dir).and_then(|id| self.who.get_or(id.clone(), || names.key_of(&id)));
        let cgroup = match dir.strip_prefix(&self.mount) {
            Ok(rel) => format!("/{}", rel.display()),
            Err(_) => dir.display().to_string(),
        };
        Place { key, cgroup }
    }
}

/// A map emptied every `ttl`, so that it never grows with a flood.
struct Expiring<K, V> {
    map: HashMap<K, V>,
    since: Instant,
    ttl: Duration,
}

impl<K: Hash + Eq, V: Clone> Expiring<K, V> {
    fn new(ttl: Duration) -> Self {
        Expiring {
            map: HashMap::new(),
            since: Instant::now(),
            ttl,
        }
    }

    fn get_or(&mut self, key: K, f: impl FnOnce() -> V) -> V {
        if self.since.elapsed() > self.ttl {
            self.map.clear();
            self.since = Instant::now();
        }
        self.map.entry(key).or_insert_with(f).clone()
    }
}

/// The container ID a cgroup is named after: the directory's own name, or its parent's
/// for a runtime that puts the workload in a child (`crio-<id>.scope/container`).
fn container_id(dir: &Path) -> Option<String> {
    dir.ancestors()
        .take(2)
        .filter_map(|d| d.file_name()?.to_str())
        .find_map(id_from_dir_name)
        .map(String::from)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    pub(in super::super) const ID: &str =
        "3f2a0c8e1d7b4a6f9e5c2b8a7d6e4f1c3b5a9d8e7f6c5b4a3d2e1f0a9b8c7d6e";
    pub(in super::super) const CRIO_ID: &str =
        "9e5c2b8a7d6e4f1c3b5a9d8e7f6c5b4a3d2e1f0a9b8c7d6e3f2a0c8e1d7b4a6f";

    /// The CRI as a table: container ID to key; counts the questions.
    #[derive(Default)]
    pub(in super::super) struct FakeCri {
        pub(in super::super) known: HashMap<String, Key>,
        pub(in super::super) asked: usize,
    }

    impl Names for FakeCri {
        fn key_of(&mut self, container_id: &str) -> Option<Key> {
            self.asked += 1;
            self.known.get(container_id).cloned()
        }
    }

    pub(in super::super) fn key(ns: &str, workload: &str, container: &str) -> Key {
        Key {
            namespace: ns.into(),
            workload: workload.into(),
            container: container.into(),
            image: None,
        }
    }

    /// A cgroup tree in a scratch directory: its directories' inode numbers stand for the
    /// kernel's cgroup ids, as they do on cgroup2.
    pub(in super::super) struct Tree(pub(in super::super) PathBuf);

    impl Tree {
        pub(in super::super) fn new(tag: &str) -> Tree {
            let root = std::env::temp_dir().join(format!(
                "scr-attr-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&root);
            for dir in [
                format!("kubepods.slice/cri-containerd-{ID}.scope"),
                format!("kubepods.slice/crio-{CRIO_ID}.scope/container"),
                "system.slice/cron.service".into(),
            ] {
                std::fs::create_dir_all(root.join(dir)).unwrap();
            }
            Tree(root)
        }

        pub(in super::super) fn id(&self, rel: &str) -> u64 {
            std::fs::metadata(self.0.join(rel)).unwrap().ino()
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn container_id_of_its_cgroup_or_its_parent() {
        let docker = format!("/sys/fs/cgroup/system.slice/docker-{ID}.scope");
        assert_eq!(container_id(Path::new(&docker)).as_deref(), Some(ID));
        let crun = format!("/sys/fs/cgroup/kubepods/crio-{ID}.scope/container");
        assert_eq!(container_id(Path::new(&crun)).as_deref(), Some(ID));
        assert_eq!(container_id(Path::new("/sys/fs/cgroup/user.slice")), None);
    }

    #[test]
    fn a_cgroup_id_is_named_through_the_cri_or_by_its_path() {
        let tree = Tree::new("ids");
        let mut cri = FakeCri::default();
        cri.known.insert(ID.into(), key("shop", "web", "app"));
        cri.known.insert(CRIO_ID.into(), key("shop", "db", "pg"));
        let mut a = Attribution::new(&tree.0);
        let app = tree.id(&format!("kubepods.slice/cri-containerd-{ID}.scope"));
        let place = a.cgroup(app, &mut cri);
        assert_eq!(place.key, Some(key("shop", "web", "app")));
        assert_eq!(
            place.cgroup,
            format!("/kubepods.slice/cri-containerd-{ID}.scope")
        );
        // CRI-O with crun: the workload is in a child of the container's cgroup.
        let pg = tree.id(&format!("kubepods.slice/crio-{CRIO_ID}.scope/container"));
        assert_eq!(a.cgroup(pg, &mut cri).key, Some(key("shop", "db", "pg")));
        // A host service: no container, but its cgroup is known.
        let cron = a.cgroup(tree.id("system.slice/cron.service"), &mut cri);
        assert_eq!(
            (cron.key, cron.cgroup.as_str()),
            (None, "/system.slice/cron.service")
        );
        // A cgroup removed before it was looked up keeps its id.
        let gone = a.cgroup(u64::MAX, &mut cri);
        assert_eq!((gone.key, gone.cgroup), (None, format!("id:{}", u64::MAX)));
        // Asked once per container, however many counts arrive.
        let asked = cri.asked;
        a.cgroup(app, &mut cri);
        assert_eq!(cri.asked, asked);
    }

    #[test]
    fn a_container_the_cri_does_not_know_keeps_its_cgroup() {
        let tree = Tree::new("unknown");
        let mut a = Attribution::new(&tree.0);
        let app = tree.id(&format!("kubepods.slice/cri-containerd-{ID}.scope"));
        let place = a.cgroup(app, &mut FakeCri::default());
        assert_eq!(place.key, None);
        assert!(place.cgroup.ends_with(&format!("{ID}.scope")), "{place:?}");
    }
}
