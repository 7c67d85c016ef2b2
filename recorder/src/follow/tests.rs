use super::*;

/// The tracer's maps as the kernel side leaves them in follow mode: every cgroup made is a
/// target and has a BORN entry until user space frees them.
#[derive(Default)]
struct FakeMaps {
    born: BTreeMap<u64, (u64, String)>,
    targets: BTreeSet<u64>,
    /// child -> owner, for existing cgroups added below a target.
    parent: BTreeMap<u64, u64>,
}

impl FakeMaps {
    /// What the kernel does at `mkdir`.
    fn mkdir(&mut self, id: u64, parent: u64, name: &str) {
        self.born.insert(id, (parent, name.to_string()));
        self.targets.insert(id);
    }
}

impl Maps for FakeMaps {
    fn born(&self) -> Result<BTreeMap<u64, (u64, String)>, TraceError> {
        Ok(self.born.clone())
    }
    fn remove_born(&mut self, id: u64) -> Result<(), TraceError> {
        self.born.remove(&id);
        Ok(())
    }
    fn add_target(&mut self, id: u64) -> Result<(), TraceError> {
        self.targets.insert(id);
        Ok(())
    }
    fn add_child(&mut self, child: u64, owner: u64) -> Result<(), TraceError> {
        self.targets.insert(child);
        self.parent.insert(child, owner);
        Ok(())
    }
    fn remove_target(&mut self, id: u64) -> Result<(), TraceError> {
        self.targets.remove(&id);
        Ok(())
    }
}

/// A host with `/kubepods.slice` (id 2) and `/system.slice` (id 3) below the root (1).
fn host() -> Follow {
    let paths = [(1, ""), (2, "kubepods.slice"), (3, "system.slice")]
        .into_iter()
        .map(|(id, p)| (id, PathBuf::from(p)))
        .collect();
    Follow::with_paths(Path::new("/sys/fs/cgroup"), paths)
}

/// Keeps directories whose name starts with `keep`, makes `wait*` wait, drops the rest;
/// remembers what it was asked.
fn decider(asked: &mut Vec<String>) -> impl FnMut(Birth<'_>) -> Verdict + '_ {
    move |b: Birth<'_>| {
        asked.push(b.rel.display().to_string());
        match b.name() {
            n if n.starts_with("keep") => Verdict::Keep,
            n if n.starts_with("wait") => Verdict::Wait,
            _ => Verdict::Drop,
        }
    }
}

fn syscalls(name: &str) -> Syscalls {
    let mut s = Syscalls::default();
    s.names
        .entry(crate::arch::Arch::X86_64)
        .or_default()
        .insert(name.to_string());
    s
}

#[test]
fn births_are_kept_or_dropped_and_born_entries_freed() {
    let (mut maps, mut f, mut asked) = (FakeMaps::default(), host(), Vec::new());
    maps.mkdir(10, 2, "keep-a");
    maps.mkdir(11, 3, "other");
    f.scan(&mut maps, &mut decider(&mut asked)).unwrap();
    assert_eq!(asked, ["kubepods.slice/keep-a", "system.slice/other"]);
    assert!(maps.born.is_empty());
    assert_eq!(maps.targets, [10].into());
}

#[test]
fn nested_cgroups_are_placed_parents_first_even_when_ids_wrap() {
    let (mut maps, mut f, mut asked) = (FakeMaps::default(), host(), Vec::new());
    // The child's id is lower than its parent's: a parent placed late must still be first.
    maps.mkdir(5, 20, "keep-inner");
    maps.mkdir(20, 2, "pod");
    maps.mkdir(4, 5, "sub");
    maps.mkdir(3000, 4, "subsub");
    f.scan(&mut maps, &mut decider(&mut asked)).unwrap();
    // The pod slice is dropped, the container in it kept, what is made inside folded.
    assert_eq!(
        asked,
        ["kubepods.slice/pod", "kubepods.slice/pod/keep-inner"]
    );
    assert_eq!(maps.targets, [4, 5, 3000].into());
    let mut seen: BTreeMap<u64, Syscalls> = [
        (5, syscalls("read")),
        (4, syscalls("write")),
        (3000, syscalls("open")),
    ]
    .into();
    f.fold(&mut seen);
    assert_eq!(seen.len(), 1);
    let names = &seen[&5].names[&crate::arch::Arch::X86_64];
    assert_eq!(names.len(), 3, "{names:?}");
}

#[test]
fn a_child_of_a_waiting_cgroup_waits_with_it_and_is_folded_when_it_is_kept() {
    // crun with systemd (CRI-O >= 1.31): the workload runs in crio-<id>.scope/container,
    // made before the runtime has told whose the scope is.
    let (mut maps, mut f, mut asked) = (FakeMaps::default(), host(), Vec::new());
    maps.mkdir(10, 2, "wait-crio.scope");
    maps.mkdir(11, 10, "container");
    f.scan(&mut maps, &mut decider(&mut asked)).unwrap();
    assert_eq!(asked, ["kubepods.slice/wait-crio.scope"]);
    assert_eq!(
        maps.targets,
        [10, 11].into(),
        "both recorded while undecided"
    );
    // A grandchild made later waits too.
    maps.mkdir(12, 11, "more");
    f.scan(&mut maps, &mut decider(&mut asked)).unwrap();
    assert_eq!(asked.len(), 1);
    f.accept(10);
    let mut seen: BTreeMap<u64, Syscalls> =
        [(11, syscalls("read")), (12, syscalls("write"))].into();
    f.fold(&mut seen);
    assert_eq!(seen[&10].names[&crate::arch::Arch::X86_64].len(), 2);
    // After the decision, new children are folded at once.
    maps.mkdir(13, 11, "late");
    f.scan(&mut maps, &mut decider(&mut asked)).unwrap();
    assert_eq!(asked.len(), 1);
    assert!(maps.targets.contains(&13));
}

#[test]
fn a_rejected_waiting_cgroup_frees_what_was_made_inside_it() {
    let (mut maps, mut f, mut asked) = (FakeMaps::default(), host(), Vec::new());
    maps.mkdir(10, 2, "wait-pause.scope");
    maps.mkdir(11, 10, "inner");
    f.scan(&mut maps, &mut decider(&mut asked)).unwrap();
    f.reject(&mut maps, 10).unwrap();
    assert!(maps.targets.is_empty());
    // Rejected and forgotten: deciding again is a no-op.
    f.reject(&mut maps, 10).unwrap();
    f.accept(10);
    maps.mkdir(12, 11, "later");
    f.scan(&mut maps, &mut decider(&mut asked)).unwrap();
    assert_eq!(
        asked,
        [
            "kubepods.slice/wait-pause.scope",
            "kubepods.slice/wait-pause.scope/inner/later"
        ]
    );
}

#[test]
fn a_cgroup_made_in_a_target_that_ended_is_not_followed() {
    let (mut maps, mut f, mut asked) = (FakeMaps::default(), host(), Vec::new());
    maps.mkdir(10, 2, "keep-a");
    maps.mkdir(11, 10, "inner");
    f.scan(&mut maps, &mut decider(&mut asked)).unwrap();
    // The container exits between two scans; its runtime made one more cgroup first.
    maps.mkdir(12, 11, "late");
    f.release(&mut maps, 10).unwrap();
    f.scan(&mut maps, &mut decider(&mut asked)).unwrap();
    assert!(maps.targets.is_empty(), "{:?}", maps.targets);
    assert!(maps.born.is_empty());
    assert_eq!(asked, ["kubepods.slice/keep-a"]);
}

#[test]
fn a_cgroup_whose_parent_vanished_unseen_is_dropped() {
    let (mut maps, mut f, mut asked) = (FakeMaps::default(), host(), Vec::new());
    // Parent 99 was made and removed between two scans (its BORN entry freed elsewhere).
    maps.mkdir(100, 99, "keep-orphan");
    f.scan(&mut maps, &mut decider(&mut asked)).unwrap();
    assert!(asked.is_empty());
    assert!(maps.targets.is_empty() && maps.born.is_empty());
}

#[test]
fn an_existing_target_folds_its_new_children_and_its_own_birth_is_not_asked_about() {
    let mut paths: BTreeMap<u64, PathBuf> =
        [(1, ""), (3, "system.slice"), (60, "system.slice/app")]
            .into_iter()
            .map(|(id, p)| (id, PathBuf::from(p)))
            .collect();
    // The recorder's own cgroup for the command, made after loading: in BORN, already ours.
    paths.insert(50, "system.slice/seccomp-recorder-1-0".into());
    let (mut maps, mut asked) = (FakeMaps::default(), Vec::new());
    let mut f = Follow::with_paths(Path::new("/sys/fs/cgroup"), paths);
    maps.mkdir(50, 3, "seccomp-recorder-1-0");
    f.own(&Existing {
        id: 50,
        below: vec![],
    });
    // An existing target with a child that existed before it was added.
    f.own(&Existing {
        id: 3,
        below: vec![60],
    });
    maps.mkdir(61, 60, "new-in-child");
    f.scan(&mut maps, &mut decider(&mut asked)).unwrap();
    assert!(asked.is_empty(), "{asked:?}");
    assert!(maps.born.is_empty());
    assert!(maps.targets.contains(&50) && maps.targets.contains(&61));
    let mut seen: BTreeMap<u64, Syscalls> = [(61, syscalls("read"))].into();
    f.fold(&mut seen);
    assert!(seen.contains_key(&3) && !seen.contains_key(&61));
}
