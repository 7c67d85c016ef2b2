//! Pushing an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/`) to a registry:
//! every blob, every platform manifest, then the image (or image index) under the tag.
//! `cargo xtask image --push` pushes the agent's image with it.

use super::artifact::{self, INDEX_MEDIA_TYPE};
use super::transport::Session;
use super::{Access, OciError, Pushed, auth, parse_reference, push_manifest, runtime};
use oci_client::{Reference, RegistryOperation};
use serde_json::Value;
use std::path::Path;

/// Pushes the one image `layout`'s index.json lists to `reference` (a tag), with its
/// blobs and, for an index, its platform manifests. Content is checked against its digest
/// before anything goes out; blobs the registry already has are not sent again.
pub fn push_layout(layout: &Path, reference: &str, access: &Access) -> Result<Pushed, OciError> {
    let target = parse_reference(reference)?;
    if target.digest().is_some() || target.tag().is_none() {
        return Err(OciError::Reference {
            reference: reference.to_string(),
            reason: "a push needs a tag (REPO:TAG), not a digest".to_string(),
        });
    }
    let layout = Layout { dir: layout };
    let top = layout.image()?;
    let plan = layout.plan(&top)?;
    let (credentials, notes) = auth::resolve(access, target.resolve_registry())?;
    let session = Session::new(&target, credentials, access.insecure, &access.ca)?;
    runtime()?.block_on(push_plan(&session, &target, &plan))?;
    Ok(Pushed {
        digest: top.digest,
        notes,
    })
}

struct Layout<'a> {
    dir: &'a Path,
}

/// A manifest or blob of the layout, read and checked.
#[derive(Clone)]
struct Item {
    media_type: String,
    digest: String,
    bytes: Vec<u8>,
}

/// What to push, in order: blobs, then platform manifests (by digest), then the image;
/// each manifest with the media type it goes out as.
struct Plan {
    blobs: Vec<Item>,
    manifests: Vec<(Item, &'static str)>,
    image: (Item, &'static str),
}

impl Layout<'_> {
    fn error(&self, reason: String) -> OciError {
        OciError::Layout {
            path: self.dir.display().to_string(),
            reason,
        }
    }

    fn json(&self, bytes: &[u8], what: &str) -> Result<Value, OciError> {
        serde_json::from_slice(bytes).map_err(|e| self.error(format!("{what} is not JSON: {e}")))
    }

    /// The single image index.json lists.
    fn image(&self) -> Result<Item, OciError> {
        let path = self.dir.join("index.json");
        let bytes = std::fs::read(&path)
            .map_err(|e| self.error(format!("cannot read {}: {e}", path.display())))?;
        let index = self.json(&bytes, "index.json")?;
        let listed = index["manifests"].as_array().cloned().unwrap_or_default();
        let [only] = listed.as_slice() else {
            return Err(self.error(format!(
                "index.json lists {} images; a push takes a layout of exactly one",
                listed.len()
            )));
        };
        self.read(only)
    }

    /// The blob a descriptor points at, checked against its digest and size.
    fn read(&self, descriptor: &Value) -> Result<Item, OciError> {
        let digest = descriptor["digest"].as_str().unwrap_or_default();
        let Some(hex) = digest.strip_prefix("sha256:") else {
            return Err(self.error(format!("descriptor {descriptor} has no sha256 digest")));
        };
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.error(format!("{digest} is not a sha256 digest")));
        }
        let path = self.dir.join("blobs/sha256").join(hex);
        let bytes = std::fs::read(&path)
            .map_err(|e| self.error(format!("cannot read {}: {e}", path.display())))?;
        let actual = artifact::sha256_digest(&bytes);
        let size = descriptor["size"].as_u64();
        if actual != digest || size != Some(bytes.len() as u64) {
            return Err(self.error(format!(
                "{} holds {actual} ({} bytes), not {digest} ({size:?} bytes)",
                path.display(),
                bytes.len()
            )));
        }
        Ok(Item {
            media_type: descriptor["mediaType"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            digest: actual,
            bytes,
        })
    }

    /// Everything `image` refers to: an index's manifests, each manifest's config and layers.
    fn plan(&self, image: &Item) -> Result<Plan, OciError> {
        let mut plan = Plan {
            blobs: Vec::new(),
            manifests: Vec::new(),
            image: (image.clone(), self.manifest_type(image)?),
        };
        if image.media_type == INDEX_MEDIA_TYPE {
            let index = self.json(&image.bytes, &image.digest)?;
            for d in index["manifests"].as_array().into_iter().flatten() {
                let manifest = self.read(d)?;
                self.blobs_of(&manifest, &mut plan.blobs)?;
                let media_type = self.manifest_type(&manifest)?;
                plan.manifests.push((manifest, media_type));
            }
        } else {
            self.blobs_of(image, &mut plan.blobs)?;
        }
        Ok(plan)
    }

    fn manifest_type(&self, item: &Item) -> Result<&'static str, OciError> {
        artifact::ACCEPTED_MANIFESTS
            .iter()
            .find(|m| **m == item.media_type)
            .copied()
            .ok_or_else(|| {
                self.error(format!(
                    "{} has media type {:?}, which is no manifest type a registry takes",
                    item.digest, item.media_type
                ))
            })
    }

    fn blobs_of(&self, manifest: &Item, into: &mut Vec<Item>) -> Result<(), OciError> {
        let m = self.json(&manifest.bytes, &manifest.digest)?;
        if m["config"].is_null() {
            return Err(self.error(format!(
                "{} is neither an image manifest nor an index",
                manifest.digest
            )));
        }
        into.push(self.read(&m["config"])?);
        for layer in m["layers"].as_array().into_iter().flatten() {
            into.push(self.read(layer)?);
        }
        Ok(())
    }
}

async fn push_plan(s: &Session, target: &Reference, plan: &Plan) -> Result<(), OciError> {
    let name = target.whole();
    s.retry("push", &name, || {
        s.client.auth(target, &s.auth, RegistryOperation::Push)
    })
    .await?;
    for blob in &plan.blobs {
        let there = s
            .retry("push", &name, || s.client.blob_exists(target, &blob.digest))
            .await?;
        if !there {
            s.retry("push", &name, || {
                s.client.push_blob(target, blob.bytes.clone(), &blob.digest)
            })
            .await?;
        }
    }
    for (m, media_type) in &plan.manifests {
        let by_digest = target.clone_with_digest(m.digest.clone());
        push_manifest(s, &by_digest, &m.bytes, media_type).await?;
    }
    let (image, media_type) = &plan.image;
    push_manifest(s, target, &image.bytes, media_type).await
}
