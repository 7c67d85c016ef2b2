//! Pulling a profile: the manifest (or the host's instance of an index), then its layer,
//! each checked against its digest, and the profile inside checked before it is returned.

use oci_client::{Reference, RegistryOperation};
use serde_json::Value;

use super::artifact::{self, ACCEPTED_MANIFESTS};
use super::transport::Session;
use super::{OciError, Pulled, check_profile, fetch_manifest, parse_manifest, spo};

pub(super) async fn pull_async(s: &Session, target: &Reference) -> Result<Pulled, OciError> {
    let name = target.whole();
    s.retry("pull", &name, || {
        s.client.auth(target, &s.auth, RegistryOperation::Pull)
    })
    .await?;
    let (bytes, mut digest) = fetch_manifest(s, target, ACCEPTED_MANIFESTS).await?;
    let mut manifest = parse_manifest(&bytes, &name)?;
    let mut notes = Vec::new();
    if artifact::is_index(&manifest) {
        let chosen = artifact::pick_platform(&manifest, "linux", artifact::host_arch()).map_err(
            |reason| OciError::NoProfile {
                reference: name.clone(),
                reason,
            },
        )?;
        let instance = target.clone_with_digest(chosen);
        notes.push(format!("{name} is an index; using {}", instance.whole()));
        let (bytes, d) = fetch_manifest(s, &instance, ACCEPTED_MANIFESTS).await?;
        manifest = parse_manifest(&bytes, &instance.whole())?;
        digest = d;
    }
    let layer =
        artifact::pick_layer(&manifest, "linux", artifact::host_arch()).map_err(|reason| {
            OciError::NoProfile {
                reference: name.clone(),
                reason,
            }
        })?;
    let blob = fetch_layer(s, target, &layer).await?;
    let profile = profile_from_layer(blob, &layer, &name)?;
    Ok(Pulled {
        profile,
        digest,
        annotations: artifact::annotations(&manifest),
        notes,
    })
}

async fn fetch_layer(
    s: &Session,
    target: &Reference,
    layer: &artifact::Layer,
) -> Result<Vec<u8>, OciError> {
    let name = target.whole();
    if layer.size > artifact::MAX_PROFILE_BYTES {
        return Err(OciError::TooLarge {
            what: format!("the profile layer of {name}"),
            size: layer.size,
            limit: artifact::MAX_PROFILE_BYTES,
        });
    }
    let blob = s
        .retry("pull", &name, || async {
            let mut out = Vec::new();
            s.client
                .pull_blob(target, layer.digest.as_str(), &mut out)
                .await
                .map(|()| out)
        })
        .await?;
    let actual = artifact::sha256_digest(&blob);
    if actual != layer.digest || blob.len() as u64 != layer.size {
        return Err(OciError::Digest {
            reference: name,
            detail: format!(
                "layer {} ({} bytes) arrived as {actual} ({} bytes)",
                layer.digest,
                layer.size,
                blob.len()
            ),
        });
    }
    Ok(blob)
}

/// The runtime-spec profile in a layer, checked: plain profile JSON is kept byte for byte,
/// a Security Profiles Operator resource is converted.
fn profile_from_layer(
    blob: Vec<u8>,
    layer: &artifact::Layer,
    name: &str,
) -> Result<Vec<u8>, OciError> {
    let what = match &layer.title {
        Some(t) => format!("layer '{t}' of {name}"),
        None => format!("the profile layer of {name}"),
    };
    let plain =
        serde_json::from_slice::<Value>(&blob).is_ok_and(|v| v.get("defaultAction").is_some());
    let profile = if plain {
        blob
    } else {
        spo::to_runtime_spec(&blob).map_err(|reason| OciError::NotAProfile {
            what: what.clone(),
            reason,
        })?
    };
    check_profile(&profile, &what)?;
    Ok(profile)
}
