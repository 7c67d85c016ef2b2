//! Resolution against engine state laid out in a scratch directory as the engines write it.

use super::layout::{cgroups_path, id_from_dir_name};
use super::resolve::container as resolve_container;
use super::*;
use crate::engine::Engine;

const ID: &str = "3f2a9c0e5b7d41a8b6c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5";

#[test]
fn container_ids_from_scope_names() {
    assert_eq!(id_from_dir_name(ID), Some(ID));
    assert_eq!(id_from_dir_name(&format!("docker-{ID}.scope")), Some(ID));
    assert_eq!(
        id_from_dir_name(&format!("cri-containerd-{ID}.scope")),
        Some(ID)
    );
    assert_eq!(id_from_dir_name(&format!("crio-{ID}.scope")), Some(ID));
    assert_eq!(id_from_dir_name(&format!("libpod-{ID}")), Some(ID));
    assert_eq!(id_from_dir_name(&format!("crio-conmon-{ID}.scope")), None);
    assert_eq!(id_from_dir_name(&format!("libpod-conmon-{ID}.scope")), None);
    assert_eq!(id_from_dir_name("system.slice"), None);
    assert_eq!(id_from_dir_name("container"), None);
    // What the agent sees on a Kubernetes node besides containers.
    assert_eq!(id_from_dir_name("pod1234-abcd"), None);
    assert_eq!(id_from_dir_name("kubepods-besteffort.slice"), None);
    assert_eq!(id_from_dir_name(&ID[..63]), None);
}

/// A scratch directory with Docker, Podman and containerd state laid out as the engines
/// write it, and a fake cgroup mount.
struct Fixture(PathBuf);

impl Fixture {
    fn new(tag: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!("scr-target-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Fixture(dir)
    }

    fn docker(&self, id: &str, name: &str, image: &str) {
        let d = self.0.join("docker/containers").join(id);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("config.v2.json"),
            format!(
                r#"{{"ID":"{id}","Name":"/{name}","Config":{{"Image":"{image}"}},"State":{{"Running":false}}}}"#
            ),
        )
        .unwrap();
    }

    fn podman(&self, id: &str, name: &str, image: &str) {
        let d = self.0.join("storage/vfs-containers");
        std::fs::create_dir_all(&d).unwrap();
        let meta = format!(r#"{{"image-name":"{image}","name":"{name}"}}"#);
        let list = serde_json::json!([{"id": id, "names": [name], "metadata": meta}]);
        std::fs::write(d.join("containers.json"), list.to_string()).unwrap();
    }

    fn roots(&self) -> EngineRoots {
        EngineRoots(vec![self.0.join("docker"), self.0.join("storage")])
    }

    fn mount(&self) -> PathBuf {
        let m = self.0.join("cgroup");
        std::fs::create_dir_all(&m).unwrap();
        m
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const ID2: &str = "3f2a9c0e5b7d41a8b6c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c6";
const ID3: &str = "aa2a9c0e5b7d41a8b6c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c6";

#[test]
fn created_containers_resolve_by_name_or_prefix_to_a_pending_target() {
    let f = Fixture::new("pending");
    f.docker(ID, "web-1", "nginx:1.25");
    f.podman(ID3, "db", "localhost/pg:16");
    let mount = f.mount();
    let Resolution::Pending(p) = resolve_container(&mount, "web-1", &f.roots()).unwrap() else {
        panic!("a created container has no cgroup yet");
    };
    assert_eq!(p.label, "web-1");
    assert_eq!(p.want, Want::Id(ID.into()));
    let c = p.container.as_ref().unwrap();
    assert_eq!(
        (c.engine, c.image.as_deref()),
        (Some(Engine::Docker), Some("nginx:1.25"))
    );
    assert!(p.matches(Path::new(&format!("docker/{ID}"))));
    assert!(p.matches(Path::new(&format!("system.slice/docker-{ID}.scope"))));
    assert!(!p.matches(Path::new(&format!("docker/{ID2}"))));

    let Resolution::Pending(p) = resolve_container(&mount, "aa2a9c", &f.roots()).unwrap() else {
        panic!("pending expected");
    };
    assert_eq!(p.container.as_ref().unwrap().engine, Some(Engine::Podman));
    assert!(p.matches(Path::new(&format!("libpod_parent/libpod-{ID3}"))));
}

#[test]
fn an_ambiguous_name_or_prefix_lists_the_candidates() {
    let f = Fixture::new("ambiguous");
    f.docker(ID, "web", "a");
    f.docker(ID2, "api", "b");
    f.podman(ID3, "web", "c");
    let mount = f.mount();
    match resolve_container(&mount, "web", &f.roots()) {
        Err(TargetError::Ambiguous { candidates, .. }) => {
            assert!(
                candidates.contains(ID) && candidates.contains(ID3),
                "{candidates}"
            );
        }
        other => panic!("expected ambiguity, got {other:?}"),
    }
    match resolve_container(&mount, "3f2a9c", &f.roots()) {
        Err(TargetError::Ambiguous { candidates, .. }) => {
            assert!(
                candidates.contains(ID) && candidates.contains(ID2),
                "{candidates}"
            );
        }
        other => panic!("expected ambiguity, got {other:?}"),
    }
    assert!(matches!(
        resolve_container(&mount, "nothere", &f.roots()),
        Err(TargetError::NoContainer(..))
    ));
}

#[test]
fn a_running_container_resolves_to_its_cgroup_with_its_name() {
    let f = Fixture::new("running");
    f.docker(ID, "web-1", "nginx");
    let mount = f.mount();
    let dir = mount.join("docker").join(ID);
    std::fs::create_dir_all(&dir).unwrap();
    let Resolution::Now(r) = resolve_container(&mount, "web-1", &f.roots()).unwrap() else {
        panic!("its cgroup exists");
    };
    assert_eq!((r.label.as_str(), r.cgroup), ("web-1", dir));
}

#[test]
fn containerd_namespace_and_id() {
    let f = Fixture::new("ctrd");
    let mount = f.mount();
    let Resolution::Pending(p) = resolve_container(&mount, "k8s.io/web", &f.roots()).unwrap()
    else {
        panic!("no cgroup yet");
    };
    assert!(matches!(&p.want, Want::Containerd { ns, id, .. } if ns == "k8s.io" && id == "web"));
    assert!(p.matches(Path::new("k8s.io/web")));
    assert!(!p.matches(Path::new("k8s.io/web2")));
    assert!(resolve_container(&mount, "/web", &f.roots()).is_err());
    assert!(resolve_container(&mount, "a/b/c", &f.roots()).is_err());
}

#[test]
fn container_cgroups_by_engine_layout() {
    let f = Fixture::new("layout");
    f.docker(ID2, "named", "img");
    let state = f.0.join("ctrd-state");
    std::fs::create_dir_all(state.join("io.containerd.runtime.v2.task/sctest")).unwrap();
    let mut roots = f.roots();
    roots.0.push(state);
    let m = f.mount();
    let of = |rel: &str| container_of(&m, &m.join(rel), &roots);
    assert_eq!(
        of(&format!("docker/{ID}")).unwrap().engine,
        Some(Engine::Docker)
    );
    assert_eq!(
        of(&format!("system.slice/docker-{ID}.scope"))
            .unwrap()
            .engine,
        Some(Engine::Docker)
    );
    assert_eq!(
        of(&format!("libpod_parent/libpod-{ID}")).unwrap().engine,
        Some(Engine::Podman)
    );
    assert_eq!(
        of(&format!("crio-{ID}.scope")).unwrap().engine,
        Some(Engine::Crio)
    );
    let named = of(&format!("custom-parent/{ID2}")).unwrap();
    assert_eq!(
        (named.engine, named.name.as_deref()),
        (Some(Engine::Docker), Some("named"))
    );
    let ctr = of("sctest/web").unwrap();
    assert_eq!(
        (ctr.engine, ctr.id.as_str(), ctr.profile_name().as_str()),
        (Some(Engine::Containerd), "sctest/web", "web")
    );
    assert_eq!(of("docker"), None);
    assert_eq!(of("libpod_parent"), None);
    assert_eq!(of("otherns/web"), None, "not a containerd namespace");
    assert_eq!(of(&format!("libpod_parent/libpod-conmon-{ID}")), None);
}

#[test]
fn profile_names_are_file_names() {
    let c = Container {
        engine: Some(Engine::Docker),
        id: ID.into(),
        name: None,
        image: Some("registry:5000/team/app:1.2".into()),
    };
    assert_eq!(c.profile_name(), "registry_5000_team_app_1.2");
    let c = Container { image: None, ..c };
    assert_eq!(c.profile_name(), &ID[..12]);
    let c = Container {
        name: Some("../x".into()),
        ..c
    };
    assert_eq!(c.profile_name(), "_x");
}

#[test]
fn oci_cgroups_paths() {
    assert_eq!(
        cgroups_path("/sctest/web"),
        Some(PathBuf::from("sctest/web"))
    );
    assert_eq!(
        cgroups_path("kubepods-burstable-pod12.slice:cri-containerd:abc"),
        Some(PathBuf::from(
            "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12.slice/cri-containerd-abc.scope"
        ))
    );
    assert_eq!(
        cgroups_path(":docker:abc"),
        Some(PathBuf::from("system.slice/docker-abc.scope"))
    );
    assert_eq!(cgroups_path(""), None);
    assert_eq!(cgroups_path("a:b"), None);
}

#[test]
fn containerd_tasks_by_name_and_custom_cgroup() {
    let f = Fixture::new("ctrd-task");
    let state = f.0.join("state");
    let bundle = state.join("io.containerd.runtime.v2.task/sctest/web");
    std::fs::create_dir_all(&bundle).unwrap();
    std::fs::write(
        bundle.join("config.json"),
        r#"{"linux":{"cgroupsPath":"/custom/place"}}"#,
    )
    .unwrap();
    let roots = EngineRoots(vec![state]);
    let m = f.mount();
    std::fs::create_dir_all(m.join("custom/place")).unwrap();
    std::fs::write(m.join("custom/place/cgroup.procs"), "").unwrap();
    let Resolution::Now(r) = resolve_container(&m, "web", &roots).unwrap() else {
        panic!("a running task resolves now");
    };
    assert_eq!(r.cgroup, m.join("custom/place"));
    assert_eq!(r.container.unwrap().id, "sctest/web");
    let c = container_of(&m, &m.join("custom/place"), &roots).unwrap();
    assert_eq!(
        (c.engine, c.id.as_str()),
        (Some(Engine::Containerd), "sctest/web")
    );
    let pending = Pending {
        label: "web".into(),
        want: Want::Containerd {
            ns: "sctest".into(),
            id: "web".into(),
            roots: roots.0.clone(),
        },
        container: None,
    };
    assert!(pending.matches(Path::new("custom/place")));
    assert!(pending.matches(Path::new("sctest/web")));
    assert!(!pending.matches(Path::new("custom")));
}

/// Finding the running engines reads every process's command line: a cgroup target must
/// not pay for it, a container target must get it.
#[test]
fn only_a_container_target_looks_for_engines() {
    let f = Fixture::new("lazy");
    f.docker(ID, "web-1", "nginx:1.25");
    let mount = f.mount();
    let app = mount.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("cgroup.procs"), "").unwrap();
    let roots = EngineRoots::lazy(&[f.0.join("docker")]);
    let Resolution::Now(r) = Target::Cgroup(app.clone()).resolve(&mount, &roots).unwrap() else {
        panic!("an existing cgroup resolves now");
    };
    assert_eq!(r.cgroup, app);
    assert!(!roots.looked());
    let Resolution::Pending(_) = Target::Container("web-1".into())
        .resolve(&mount, &roots)
        .unwrap()
    else {
        panic!("a created container resolves to a pending target");
    };
    assert!(roots.looked());
}
