//! Which pods and containers are recorded, and the workload their profiles are keyed by;
//! all from what the CRI tells about a pod (namespace, name, labels, annotations).

pub use crate::fleet::Key;
use std::collections::HashMap;

/// `"true"` records the pod; `"false"` keeps it out even when `--selector` matches.
pub const RECORD: &str = "seccomp-recorder.io/record";
/// Overrides the workload name the profiles are keyed by.
pub const WORKLOAD: &str = "seccomp-recorder.io/workload";
/// Comma-separated container names of a recorded pod that are not recorded.
pub const SKIP_CONTAINERS: &str = "seccomp-recorder.io/skip-containers";
const APP_NAME: &str = "app.kubernetes.io/name";
/// Labels the Kubernetes controllers set on the pods they make.
const JOB_NAME: &str = "batch.kubernetes.io/job-name";
const LEGACY_JOB_NAME: &str = "job-name";
const STATEFULSET_POD: &str = "statefulset.kubernetes.io/pod-name";
const POD_TEMPLATE_HASH: &str = "pod-template-hash";
const POD_TEMPLATE_GENERATION: &str = "pod-template-generation";
const CONTROLLER_REVISION_HASH: &str = "controller-revision-hash";

/// Alphabet of the random suffixes Kubernetes gives generated names (`rand.String`), and
/// of ReplicaSet pod-template hashes.
const NAME_ALPHABET: &str = "bcdfghjklmnpqrstvwxz2456789";

/// A pod's annotation that cannot be understood.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("pod {pod}: annotation {key}: {reason}")]
pub struct AnnotationError {
    pub pod: String,
    pub key: &'static str,
    pub reason: String,
}

/// One `--selector key=value`: the pod's label `key` must be `value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    pub key: String,
    pub value: String,
}

impl std::str::FromStr for Selector {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok(Selector {
                key: k.to_string(),
                value: v.to_string(),
            }),
            _ => Err(format!("selector '{s}' is not key=value")),
        }
    }
}

/// What the agent needs to know about a pod.
#[derive(Clone, Debug, Default)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub labels: HashMap<String, String>,
    pub annotations: HashMap<String, String>,
}

/// A recorded pod: its workload and the containers it keeps out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    pub workload: String,
    pub skip: Vec<String>,
}

impl Selection {
    /// The profile key of one of the pod's containers; `None` when it opted out.
    pub fn key(&self, pod: &Pod, container: &str) -> Option<Key> {
        (!self.skip.iter().any(|s| s == container)).then(|| Key {
            namespace: pod.namespace.clone(),
            workload: self.workload.clone(),
            container: container.to_string(),
            image: None,
        })
    }
}

impl Pod {
    fn label(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    fn bad(&self, key: &'static str, reason: String) -> AnnotationError {
        AnnotationError {
            pod: self.label(),
            key,
            reason,
        }
    }

    /// Whether the pod is recorded (annotated, or matching every selector and not
    /// annotated "false"), and as which workload.
    pub fn selection(&self, selectors: &[Selector]) -> Result<Option<Selection>, AnnotationError> {
        let wanted = match self.annotations.get(RECORD).map(|v| v.trim()) {
            Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(self.bad(
                    RECORD,
                    format!("'{other}' is neither \"true\" nor \"false\""),
                ));
            }
            None => {
                !selectors.is_empty()
                    && selectors
                        .iter()
                        .all(|s| self.labels.get(&s.key) == Some(&s.value))
            }
        };
        if !wanted {
            return Ok(None);
        }
        let skip = match self.annotations.get(SKIP_CONTAINERS) {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .map(|name| {
                    if is_dns_label(name) {
                        Ok(name.to_string())
                    } else {
                        Err(self.bad(
                            SKIP_CONTAINERS,
                            format!("'{name}' is not a container name (in '{list}')"),
                        ))
                    }
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Some(Selection {
            workload: self.workload()?,
            skip,
        }))
    }

    /// The owning app: the workload annotation, else `app.kubernetes.io/name`, else the
    /// pod name without what its controller appended.
    pub fn workload(&self) -> Result<String, AnnotationError> {
        if let Some(w) = self.annotations.get(WORKLOAD) {
            let w = w.trim();
            return if is_path_safe_name(w) {
                Ok(w.to_string())
            } else {
                Err(self.bad(
                    WORKLOAD,
                    format!(
                        "'{w}' is not a workload name (lowercase letters, digits, '-' and '.', \
                         at most 253, not starting with '.')"
                    ),
                ))
            };
        }
        if let Some(app) = self.labels.get(APP_NAME)
            && is_path_safe_name(app)
        {
            return Ok(app.clone());
        }
        Ok(self.controller_name())
    }

    /// The controller's name, from the labels the controllers put on their pods (the
    /// kubelet passes them to the runtime); a pod without them keeps its own name.
    fn controller_name(&self) -> String {
        let label = |k: &str| self.labels.get(k).map(String::as_str);
        if let Some(job) = label(JOB_NAME).or(label(LEGACY_JOB_NAME)) {
            return cronjob_of(job).unwrap_or(job).to_string();
        }
        if label(STATEFULSET_POD) == Some(self.name.as_str())
            && let Some(set) = statefulset_of(&self.name)
        {
            return set.to_string();
        }
        if let Some(hash) = label(POD_TEMPLATE_HASH)
            && let Some(deployment) = deployment_of(&self.name, hash)
        {
            return deployment.to_string();
        }
        if label(POD_TEMPLATE_GENERATION).is_some()
            && label(CONTROLLER_REVISION_HASH).is_some()
            && let Some(set) = generated_base(&self.name)
        {
            return set.to_string();
        }
        self.name.clone()
    }
}

/// Longest base `generateName` keeps before appending its 5 random characters
/// (`maxGeneratedNameLength` in apimachinery).
const MAX_GENERATED_BASE: usize = 58;

/// A CronJob names each Job `<cronjob>-<scheduled time in minutes since 1970>`: eight digits
/// from 1989 to 2160. Any other Job is its own workload.
fn cronjob_of(job: &str) -> Option<&str> {
    let (cronjob, minutes) = job.rsplit_once('-')?;
    (minutes.len() == 8 && minutes.bytes().all(|b| b.is_ascii_digit()) && !cronjob.is_empty())
        .then_some(cronjob)
}

/// `db-12` is ordinal 12 of StatefulSet `db`.
fn statefulset_of(pod: &str) -> Option<&str> {
    let (set, ordinal) = pod.rsplit_once('-')?;
    (!ordinal.is_empty() && ordinal.bytes().all(|b| b.is_ascii_digit()) && !set.is_empty())
        .then_some(set)
}

/// A Deployment's pod is `<deployment>-<pod-template-hash>-<5 random>`, its base cut to
/// 58 characters when long, which may cut into the hash or drop it (then Deployments whose
/// names share their first 58 characters share a profile: the pod tells no more).
fn deployment_of<'a>(pod: &'a str, hash: &str) -> Option<&'a str> {
    let base = pod.get(..pod.len().checked_sub(5)?)?;
    if let Some(deployment) = base.strip_suffix(&format!("-{hash}-")) {
        return (!deployment.is_empty()).then_some(deployment);
    }
    if base.len() != MAX_GENERATED_BASE {
        return None;
    }
    // Without any of the hash left, the base is the Deployment's name cut to 58.
    let tail = format!("-{hash}-");
    let cut = (1..tail.len())
        .find(|&n| base.ends_with(&tail[..n]))
        .unwrap_or(0);
    let deployment = &base[..base.len() - cut];
    (!deployment.is_empty()).then_some(deployment)
}

/// `<name>-<5 random>`: how DaemonSets (and Jobs) name their pods.
fn generated_base(pod: &str) -> Option<&str> {
    let (base, suffix) = pod.rsplit_once('-')?;
    (is_random(suffix, 5) && !base.is_empty()).then_some(base)
}

fn is_random(s: &str, len: usize) -> bool {
    s.len() == len && s.chars().all(|c| NAME_ALPHABET.contains(c))
}

/// A container name: RFC 1123 label.
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A name that is one safe path component: what namespaces, workloads and container
/// names become in the Localhost directory.
fn is_path_safe_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && !s.starts_with('.')
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.' || b == b'_'
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> Pod {
        let map = |kv: &[(&str, &str)]| {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        Pod {
            namespace: "shop".into(),
            name: name.into(),
            labels: map(labels),
            annotations: map(annotations),
        }
    }

    fn workload(p: &Pod) -> String {
        p.selection(&[]).unwrap().unwrap().workload
    }

    const REC: (&str, &str) = (RECORD, "true");

    #[test]
    fn selected_by_annotation_or_selector() {
        assert!(pod("a", &[], &[]).selection(&[]).unwrap().is_none());
        assert!(pod("a", &[], &[REC]).selection(&[]).unwrap().is_some());
        let sel: Vec<Selector> = vec!["team=web".parse().unwrap()];
        assert!(
            pod("a", &[("team", "web")], &[])
                .selection(&sel)
                .unwrap()
                .is_some()
        );
        assert!(
            pod("a", &[("team", "db")], &[])
                .selection(&sel)
                .unwrap()
                .is_none()
        );
        assert!(
            pod("a", &[("team", "web")], &[(RECORD, "false")])
                .selection(&sel)
                .unwrap()
                .is_none()
        );
        assert!("novalue".parse::<Selector>().is_err());
    }

    #[test]
    fn malformed_annotations_name_the_pod_and_key() {
        let e = pod("a", &[], &[(RECORD, "yes")])
            .selection(&[])
            .unwrap_err();
        assert_eq!(e.key, RECORD);
        assert!(e.to_string().contains("shop/a") && e.to_string().contains("yes"));
        let e = pod("a", &[], &[REC, (WORKLOAD, "../etc")])
            .selection(&[])
            .unwrap_err();
        assert_eq!(e.key, WORKLOAD);
        let e = pod("a", &[], &[REC, (SKIP_CONTAINERS, "ok,Bad_Name")])
            .selection(&[])
            .unwrap_err();
        assert_eq!(e.key, SKIP_CONTAINERS);
    }

    #[test]
    fn skipped_containers_have_no_key() {
        let p = pod("a", &[], &[REC, (SKIP_CONTAINERS, "istio-proxy, log")]);
        let s = p.selection(&[]).unwrap().unwrap();
        assert!(s.key(&p, "istio-proxy").is_none());
        assert!(s.key(&p, "log").is_none());
        assert_eq!(s.key(&p, "app").unwrap().to_string(), "shop/a/app");
    }

    #[test]
    fn workload_from_annotation_label_or_controller() {
        assert_eq!(
            workload(&pod(
                "web-1",
                &[(APP_NAME, "web")],
                &[REC, (WORKLOAD, "store")]
            )),
            "store"
        );
        assert_eq!(
            workload(&pod("x-5d8f7c9b6d-x2k4q", &[(APP_NAME, "web")], &[REC])),
            "web"
        );
        assert_eq!(
            workload(&pod(
                "web-5d8f7c9b6d-x2k4q",
                &[("pod-template-hash", "5d8f7c9b6d")],
                &[REC]
            )),
            "web"
        );
        assert_eq!(
            workload(&pod(
                "db-12",
                &[("statefulset.kubernetes.io/pod-name", "db-12")],
                &[REC]
            )),
            "db"
        );
        // Plain pods keep their name: "db-1" may well be what someone called it.
        assert_eq!(workload(&pod("db-1", &[], &[REC])), "db-1");
        assert_eq!(workload(&pod("my-pod", &[], &[REC])), "my-pod");
    }

    /// The labels the controllers of Kubernetes 1.33 put on their pods, by pod name.
    fn controlled(name: &str, labels: &[(&str, &str)]) -> String {
        workload(&pod(name, labels, &[REC]))
    }

    #[test]
    fn deployment_pods_are_cut_at_their_template_hash() {
        let rs = |name: &str, hash: &str| controlled(name, &[(POD_TEMPLATE_HASH, hash)]);
        assert_eq!(rs("web-5d8f7c9b6d-x2k4q", "5d8f7c9b6d"), "web");
        // The name ends in digits, like a StatefulSet ordinal or a CronJob run.
        assert_eq!(rs("api-2-7c9b6d5d8f-b7z9m", "7c9b6d5d8f"), "api-2");
        assert_eq!(
            rs("etl-29384756-6b4d8f9c7-m2x9q", "6b4d8f9c7"),
            "etl-29384756"
        );
        // A name like a hash is still the Deployment's.
        assert_eq!(rs("bcdfg-58d9c7b6f-x2k4q", "58d9c7b6f"), "bcdfg");
        // generateName keeps 58 characters of `<deployment>-<hash>-`: the hash is cut.
        let long = "a".repeat(52);
        let pod = format!("{long}-5d8f7x2k4q");
        assert_eq!(rs(&pod, "5d8f7c9b6d"), long);
        let exact = "b".repeat(58);
        assert_eq!(rs(&format!("{exact}x2k4q"), "5d8f7c9b6d"), exact);
        // A label that does not match the name is no cut: the pod keeps its name.
        assert_eq!(rs("web-x2k4q", "5d8f7c9b6d"), "web-x2k4q");
        // No label, no guessing: a pod named like a replica is not one.
        assert_eq!(
            controlled("web-5d8f7c9b6d-x2k4q", &[]),
            "web-5d8f7c9b6d-x2k4q"
        );
    }

    #[test]
    fn cronjob_runs_merge_into_the_cronjob() {
        let run = |pod: &str, job: &str| {
            controlled(
                pod,
                &[
                    (JOB_NAME, job),
                    (LEGACY_JOB_NAME, job),
                    ("batch.kubernetes.io/controller-uid", "0c1d"),
                ],
            )
        };
        assert_eq!(run("backup-29384756-x2k4q", "backup-29384756"), "backup");
        assert_eq!(run("backup-29384757-b7z9m", "backup-29384757"), "backup");
        // A CronJob named like a hash, and one whose name ends in digits.
        assert_eq!(
            run("5d8f7c9b6d-29384756-x2k4q", "5d8f7c9b6d-29384756"),
            "5d8f7c9b6d"
        );
        assert_eq!(
            run("report-2024-29384756-x2k4q", "report-2024-29384756"),
            "report-2024"
        );
        // A Job of its own keeps its name, digits and all.
        assert_eq!(run("migrate-v2-x2k4q", "migrate-v2"), "migrate-v2");
        assert_eq!(run("load-1234-x2k4q", "load-1234"), "load-1234");
        // Only the old label (before Kubernetes 1.27).
        assert_eq!(
            controlled(
                "nightly-29384756-m2x9q",
                &[(LEGACY_JOB_NAME, "nightly-29384756")]
            ),
            "nightly"
        );
    }

    #[test]
    fn indexed_job_pods_merge_across_indexes() {
        for (pod, index) in [("shard-0-x2k4q", "0"), ("shard-11-b7z9m", "11")] {
            let labels = [
                (JOB_NAME, "shard"),
                ("batch.kubernetes.io/job-completion-index", index),
            ];
            assert_eq!(controlled(pod, &labels), "shard");
        }
        let labels = [
            (JOB_NAME, "sweep-29384756"),
            ("batch.kubernetes.io/job-completion-index", "3"),
        ];
        assert_eq!(controlled("sweep-29384756-3-x2k4q", &labels), "sweep");
    }

    #[test]
    fn statefulset_ordinals_merge() {
        let sts = |pod: &str| {
            controlled(
                pod,
                &[
                    (STATEFULSET_POD, pod),
                    (CONTROLLER_REVISION_HASH, "db-6d8f7c9b5"),
                    ("apps.kubernetes.io/pod-index", "0"),
                ],
            )
        };
        assert_eq!(sts("db-0"), "db");
        assert_eq!(sts("db-12"), "db");
        assert_eq!(sts("kafka-2-0"), "kafka-2");
        // A pod-name label naming another pod is not this pod's ordinal.
        assert_eq!(controlled("db-0", &[(STATEFULSET_POD, "db-1")]), "db-0");
    }

    #[test]
    fn daemonset_pods_merge() {
        let ds = |pod: &str| {
            controlled(
                pod,
                &[
                    (CONTROLLER_REVISION_HASH, "6b4d8f9c7"),
                    (POD_TEMPLATE_GENERATION, "3"),
                ],
            )
        };
        assert_eq!(ds("node-agent-x2k4q"), "node-agent");
        assert_eq!(ds("node-agent-b7z9m"), "node-agent");
        assert_eq!(ds("exporter-9-m2x9q"), "exporter-9");
        // Not a generated suffix (vowels are not in the alphabet): the name is kept.
        assert_eq!(ds("node-agent-abcde"), "node-agent-abcde");
    }
}
