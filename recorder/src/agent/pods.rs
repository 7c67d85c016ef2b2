//! Which pods and containers are recorded, and the workload their profiles are keyed by;
//! all from what the CRI tells about a pod (namespace, name, labels, annotations).

use std::collections::HashMap;
use std::fmt;

/// `"true"` records the pod; `"false"` keeps it out even when `--selector` matches.
pub const RECORD: &str = "seccomp-recorder.io/record";
/// Overrides the workload name the profiles are keyed by.
pub const WORKLOAD: &str = "seccomp-recorder.io/workload";
/// Comma-separated container names of a recorded pod that are not recorded.
pub const SKIP_CONTAINERS: &str = "seccomp-recorder.io/skip-containers";
const APP_NAME: &str = "app.kubernetes.io/name";

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

/// Where a container's syscalls go: one profile per namespace / workload / container.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub namespace: String,
    pub workload: String,
    pub container: String,
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.namespace, self.workload, self.container)
    }
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
    fn workload(&self) -> Result<String, AnnotationError> {
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

    /// `web-5d8f7c9b6d-x2k4q` (ReplicaSet) and `db-0` (StatefulSet) are the pods of `web`
    /// and `db`; DaemonSet and Job pods have one random suffix.
    fn controller_name(&self) -> String {
        let name = self.name.as_str();
        let has = |l: &str| self.labels.contains_key(l);
        if let Some(hash) = self.labels.get("pod-template-hash")
            && let Some(base) = name
                .rsplit_once('-')
                .and_then(|(rest, suffix)| is_random(suffix, 5).then_some(rest))
                .and_then(|rest| rest.strip_suffix(hash.as_str()))
                .and_then(|rest| rest.strip_suffix('-'))
        {
            return base.to_string();
        }
        if self.labels.get("statefulset.kubernetes.io/pod-name") == Some(&self.name)
            && let Some((base, ordinal)) = name.rsplit_once('-')
            && !ordinal.is_empty()
            && ordinal.bytes().all(|b| b.is_ascii_digit())
        {
            return base.to_string();
        }
        let generated = has("controller-revision-hash")
            || has("job-name")
            || has("batch.kubernetes.io/job-name")
            || has("pod-template-hash");
        if let Some((base, suffix)) = name.rsplit_once('-') {
            // Without labels, only the unmistakable ReplicaSet shape is stripped.
            if generated && is_random(suffix, 5) {
                return base.to_string();
            }
            if let Some((deployment, hash)) = base.rsplit_once('-')
                && is_random(suffix, 5)
                && (6..=10).contains(&hash.len())
                && is_random(hash, hash.len())
            {
                return deployment.to_string();
            }
        }
        name.to_string()
    }
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
        assert_eq!(workload(&pod("web-5d8f7c9b6d-x2k4q", &[], &[REC])), "web");
        assert_eq!(
            workload(&pod(
                "db-12",
                &[("statefulset.kubernetes.io/pod-name", "db-12")],
                &[REC]
            )),
            "db"
        );
        assert_eq!(
            workload(&pod(
                "agent-x2k4q",
                &[("controller-revision-hash", "7c")],
                &[REC]
            )),
            "agent"
        );
        // Plain pods keep their name: "db-1" may well be what someone called it.
        assert_eq!(workload(&pod("db-1", &[], &[REC])), "db-1");
        assert_eq!(workload(&pod("my-pod", &[], &[REC])), "my-pod");
    }
}
