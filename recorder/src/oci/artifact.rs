//! The artifact format: what we push, and how a pulled manifest leads to the profile.
//!
//! Pushed manifests are built by hand (not by oci-client) so that every field CRI-O, the
//! KEP-6061 runtimes and the Security Profiles Operator look at is set explicitly, and the
//! bytes (hence the digest) depend only on the profile, the creation time and the subject.

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;

pub(crate) const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const DOCKER_MANIFEST_MEDIA_TYPE: &str =
    "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const DOCKER_LIST_MEDIA_TYPE: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// CRI-O 1.30-1.36 refuse any other config media type; newer runtimes read `artifactType`.
pub(crate) const CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.seccomp-profile.config.v1+json";
/// What ORAS writes for a file; CRI-O and KEP-6061 ignore the layer media type.
pub(crate) const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";
pub(crate) const CONFIG_BYTES: &[u8] = b"{}";
pub(crate) const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";
pub(crate) const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";
pub(crate) const PROFILE_TITLE: &str = "seccomp.json";
/// CRI-O reads at most 1 MiB of artifact data, and SPO's daemon caps profiles at the same.
pub const MAX_PROFILE_BYTES: u64 = 1 << 20;
/// Manifests are small; anything bigger is not a profile artifact.
pub(crate) const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// Every manifest type a pull accepts, single-platform or index.
pub(crate) const ACCEPTED_MANIFESTS: &[&str] = &[
    MANIFEST_MEDIA_TYPE,
    INDEX_MEDIA_TYPE,
    DOCKER_MANIFEST_MEDIA_TYPE,
    DOCKER_LIST_MEDIA_TYPE,
];

pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A content descriptor: enough to point at a blob or a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Descriptor {
    pub(crate) media_type: String,
    pub(crate) digest: String,
    pub(crate) size: u64,
}

impl Descriptor {
    pub(crate) fn of(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: sha256_digest(bytes),
            size: bytes.len() as u64,
        }
    }

    fn to_json(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size})
    }
}

/// The manifest bytes for a profile artifact.
pub(crate) fn manifest(profile: &[u8], created: &str, subject: Option<&Descriptor>) -> Vec<u8> {
    let annotations = BTreeMap::from([(CREATED_ANNOTATION.to_string(), created.to_string())]);
    manifest_with(profile, subject, &annotations)
}

/// The manifest bytes for a profile artifact with these annotations, in key order: the
/// bytes depend on nothing else.
pub(crate) fn manifest_with(
    profile: &[u8],
    subject: Option<&Descriptor>,
    annotations: &BTreeMap<String, String>,
) -> Vec<u8> {
    let config = Descriptor::of(CONFIG_MEDIA_TYPE, CONFIG_BYTES);
    let mut layer = Descriptor::of(LAYER_MEDIA_TYPE, profile).to_json();
    layer["annotations"] = json!({ TITLE_ANNOTATION: PROFILE_TITLE });
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": CONFIG_MEDIA_TYPE,
        "config": config.to_json(),
        "layers": [layer],
    });
    if let Some(s) = subject {
        m["subject"] = s.to_json();
    }
    let sorted: serde_json::Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    m["annotations"] = Value::Object(sorted);
    serde_json::to_vec(&m).expect("a JSON value serializes")
}

/// A manifest's annotations with string values.
pub(crate) fn annotations(manifest: &Value) -> BTreeMap<String, String> {
    manifest["annotations"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The referrers tag-schema index (`sha256-<hex>` tag) after adding our manifest to it:
/// an entry for the same digest is replaced, others are kept in order.
pub(crate) fn referrers_index(
    existing: Option<&[u8]>,
    manifest: &[u8],
    created: &str,
) -> Result<Vec<u8>, String> {
    let mut index = match existing {
        Some(bytes) => serde_json::from_slice::<Value>(bytes)
            .map_err(|e| format!("the existing referrers index is not JSON: {e}"))?,
        None => json!({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": []}),
    };
    let ours = Descriptor::of(MANIFEST_MEDIA_TYPE, manifest);
    let mut entry = ours.to_json();
    entry["artifactType"] = json!(CONFIG_MEDIA_TYPE);
    entry["annotations"] = json!({ CREATED_ANNOTATION: created });
    let Some(list) = index.get_mut("manifests").and_then(Value::as_array_mut) else {
        return Err("the existing referrers index has no \"manifests\" list".to_string());
    };
    list.retain(|m| m["digest"] != json!(ours.digest));
    list.push(entry);
    Ok(serde_json::to_vec(&index).expect("a JSON value serializes"))
}

/// The `sha256-<hex>` tag under which the referrers of `digest` are listed.
pub(crate) fn referrers_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

/// Whether a manifest is an index (several platforms) rather than a single manifest.
pub(crate) fn is_index(manifest: &Value) -> bool {
    match manifest["mediaType"].as_str() {
        Some(t) => t == INDEX_MEDIA_TYPE || t == DOCKER_LIST_MEDIA_TYPE,
        None => manifest.get("manifests").is_some() && manifest.get("layers").is_none(),
    }
}

/// The media type a manifest declares, or the OCI image manifest when it declares none.
pub(crate) fn manifest_media_type(manifest: &Value) -> String {
    match manifest["mediaType"].as_str() {
        Some(t) => t.to_string(),
        None if is_index(manifest) => INDEX_MEDIA_TYPE.to_string(),
        None => MANIFEST_MEDIA_TYPE.to_string(),
    }
}

/// The Go architecture name (the one OCI platforms use) of this machine.
pub(crate) fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// The digest of the index entry for `os`/`arch`.
pub(crate) fn pick_platform(index: &Value, os: &str, arch: &str) -> Result<String, String> {
    let entries = index["manifests"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let matching = entries
        .iter()
        .find(|e| e["platform"]["os"] == json!(os) && e["platform"]["architecture"] == json!(arch));
    let chosen = match matching {
        Some(e) => e,
        None if entries.len() == 1 && entries[0].get("platform").is_none() => &entries[0],
        None => {
            let offered: Vec<String> = entries
                .iter()
                .map(|e| {
                    let p = &e["platform"];
                    format!(
                        "{}/{}",
                        p["os"].as_str().unwrap_or("?"),
                        p["architecture"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            return Err(format!(
                "the index has no entry for {os}/{arch} (it offers: {})",
                if offered.is_empty() {
                    "nothing".to_string()
                } else {
                    offered.join(", ")
                }
            ));
        }
    };
    chosen["digest"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| "the index entry for this platform has no digest".to_string())
}

/// The layer that holds the profile, and its title.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layer {
    pub(crate) digest: String,
    pub(crate) size: u64,
    pub(crate) title: Option<String>,
}

/// The profile layer of a manifest. A single layer is taken as is (CRI-O and KEP-6061
/// artifacts). With several, the Security Profiles Operator's conventions decide: the
/// layer whose descriptor `platform` is this one, or that is named
/// `profile-<os>-<arch>[-variant].yaml`, else `profile.yaml` or `profile.json`; failing
/// all, the first layer, as CRI-O does.
pub(crate) fn pick_layer(manifest: &Value, os: &str, arch: &str) -> Result<Layer, String> {
    let entries = manifest["layers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if entries.is_empty() {
        return Err("the manifest has no layers".to_string());
    }
    let title = |l: &Value| {
        l["annotations"][TITLE_ANNOTATION]
            .as_str()
            .map(String::from)
    };
    let platform_name = format!("profile-{os}-{arch}");
    let for_platform = |l: &Value| {
        let p = &l["platform"];
        (p["os"] == json!(os) && p["architecture"] == json!(arch))
            || title(l).is_some_and(|t| {
                t == format!("{platform_name}.yaml") || t.starts_with(&format!("{platform_name}-"))
            })
    };
    let generic = |l: &Value| title(l).is_some_and(|t| t == "profile.yaml" || t == "profile.json");
    let chosen = entries
        .iter()
        .find(|l| for_platform(l))
        .or_else(|| entries.iter().find(|l| generic(l)))
        .unwrap_or(&entries[0]);
    let layer = Layer {
        digest: chosen["digest"].as_str().unwrap_or_default().to_string(),
        size: chosen["size"].as_u64().unwrap_or(0),
        title: title(chosen),
    };
    if !layer.digest.starts_with("sha256:") {
        return Err(format!(
            "the profile layer has an unsupported digest '{}'",
            layer.digest
        ));
    }
    Ok(layer)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &[u8] = b"{\"defaultAction\":\"SCMP_ACT_ERRNO\"}\n";

    #[test]
    fn manifest_is_the_crio_artifact() {
        let bytes = manifest(PROFILE, "2026-01-02T03:04:05Z", None);
        // Written by hand from the issue and the CRI-O/KEP-6061 format, key order included;
        // the digests come from `sha256sum`.
        let expected = concat!(
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","#,
            r#""artifactType":"application/vnd.cncf.seccomp-profile.config.v1+json","#,
            r#""config":{"mediaType":"application/vnd.cncf.seccomp-profile.config.v1+json","#,
            r#""digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"#,
            r#""layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","#,
            r#""digest":"sha256:5e26f0686ab8b31659c7eaa96db16a18420424234e94ab7620d604ecea064efe","size":35,"#,
            r#""annotations":{"org.opencontainers.image.title":"seccomp.json"}}],"#,
            r#""annotations":{"org.opencontainers.image.created":"2026-01-02T03:04:05Z"}}"#
        );
        assert_eq!(String::from_utf8(bytes).unwrap(), expected);
    }

    #[test]
    fn subject_goes_between_layers_and_annotations() {
        let subject = Descriptor {
            media_type: MANIFEST_MEDIA_TYPE.into(),
            digest: "sha256:ab".into(),
            size: 7,
        };
        let v: Value = serde_json::from_slice(&manifest(PROFILE, "t", Some(&subject))).unwrap();
        assert_eq!(
            v["subject"],
            json!({"mediaType": MANIFEST_MEDIA_TYPE, "digest": "sha256:ab", "size": 7})
        );
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "schemaVersion",
                "mediaType",
                "artifactType",
                "config",
                "layers",
                "subject",
                "annotations"
            ]
        );
    }

    #[test]
    fn referrers_index_replaces_our_entry_and_keeps_others() {
        let m = manifest(PROFILE, "t", None);
        let ours = sha256_digest(&m);
        let existing = format!(
            r#"{{"schemaVersion":2,"mediaType":"{INDEX_MEDIA_TYPE}","manifests":[{{"digest":"sha256:other","size":1}},{{"digest":"{ours}","size":1}}]}}"#
        );
        let v: Value =
            serde_json::from_slice(&referrers_index(Some(existing.as_bytes()), &m, "t").unwrap())
                .unwrap();
        let digests: Vec<&str> = v["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["digest"].as_str().unwrap())
            .collect();
        assert_eq!(digests, ["sha256:other", ours.as_str()]);
        assert_eq!(v["manifests"][1]["artifactType"], CONFIG_MEDIA_TYPE);
        assert_eq!(v["manifests"][1]["size"], m.len());
        assert!(referrers_index(Some(b"[]"), &m, "t").is_err());
    }

    #[test]
    fn referrers_tag_follows_the_tag_schema() {
        assert_eq!(referrers_tag("sha256:abc"), "sha256-abc");
    }

    #[test]
    fn platform_is_picked_from_an_index() {
        let index = json!({"mediaType": INDEX_MEDIA_TYPE, "manifests": [
            {"digest": "sha256:arm", "platform": {"os": "linux", "architecture": "arm64"}},
            {"digest": "sha256:amd", "platform": {"os": "linux", "architecture": "amd64"}},
        ]});
        assert!(is_index(&index));
        assert_eq!(
            pick_platform(&index, "linux", "amd64").unwrap(),
            "sha256:amd"
        );
        let err = pick_platform(&index, "linux", "s390x").unwrap_err();
        assert!(
            err.contains("linux/s390x") && err.contains("linux/arm64, linux/amd64"),
            "{err}"
        );
    }

    #[test]
    fn single_layer_is_taken_whatever_its_title() {
        let m = json!({"layers": [{"digest": "sha256:one", "size": 3}]});
        assert_eq!(
            pick_layer(&m, "linux", "amd64").unwrap().digest,
            "sha256:one"
        );
        assert!(pick_layer(&json!({"layers": []}), "linux", "amd64").is_err());
    }

    #[test]
    fn spo_layers_are_picked_by_platform_name() {
        let layer = |d: &str, t: &str| json!({"digest": d, "size": 1, "annotations": {TITLE_ANNOTATION: t}});
        let m = json!({"layers": [
            layer("sha256:generic", "profile.yaml"),
            layer("sha256:arm", "profile-linux-arm64.yaml"),
            layer("sha256:amd", "profile-linux-amd64.yaml"),
        ]});
        assert_eq!(
            pick_layer(&m, "linux", "amd64").unwrap().digest,
            "sha256:amd"
        );
        assert_eq!(
            pick_layer(&m, "linux", "riscv64").unwrap().digest,
            "sha256:generic"
        );
        let v7 = json!({"layers": [layer("sha256:x", "a"), layer("sha256:v7", "profile-linux-arm-v7.yaml")]});
        let by_descriptor = json!({"layers": [
            layer("sha256:x", "profile.yaml"),
            {"digest": "sha256:p", "size": 1, "platform": {"os": "linux", "architecture": "s390x"}},
        ]});
        assert_eq!(
            pick_layer(&by_descriptor, "linux", "s390x").unwrap().digest,
            "sha256:p"
        );
        assert_eq!(pick_layer(&v7, "linux", "arm").unwrap().digest, "sha256:v7");
    }
}
