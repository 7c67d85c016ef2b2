//! What a profile is called across the fleet: its key (namespace / workload / container,
//! and with `--per-image` the image), the stable tag that holds the fleet's union, and
//! the tag each node publishes its own share under.
//!
//! Tags: `<namespace>_<workload>_<container>[.image-<12 hex>]` in REPO for the union, and
//! the same followed by `.node-<node>` in `REPO-shares` for each node's share. A
//! namespace and a container name never hold `_` or `.` (RFC 1123 labels), so a tag
//! reads back unambiguously whatever the workload name holds.

use sha2::{Digest as _, Sha256};
use std::fmt;

/// The longest tag the distribution spec allows.
pub const MAX_TAG: usize = 128;
/// `.node-` and a 16-hex hash: what a share tag may need beyond the stable tag.
const NODE_ROOM: usize = ".node-h".len() + 16;

/// Where a container's calls go: one profile per namespace / workload / container, and
/// per image with `--per-image`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub namespace: String,
    pub workload: String,
    pub container: String,
    /// The first 12 hex digits of the image digest, with `--per-image`.
    pub image: Option<String>,
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.namespace, self.workload, self.container)?;
        match &self.image {
            Some(i) => write!(f, "@{i}"),
            None => Ok(()),
        }
    }
}

/// A key whose tag would be longer than registries allow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{key}: the tag {tag} is {len} characters, and with a node's share suffix it must fit in \
     {limit}: give the pods a shorter seccomp-recorder.io/workload annotation"
)]
pub struct TagTooLong {
    pub key: String,
    pub tag: String,
    pub len: usize,
    pub limit: usize,
}

impl Key {
    /// The file name (without extension) of its Localhost profile.
    pub fn file_stem(&self) -> String {
        match &self.image {
            Some(i) => format!("{}.image-{i}", self.container),
            None => self.container.clone(),
        }
    }

    /// The stable tag, holding the fleet's union.
    pub fn tag(&self) -> Result<String, TagTooLong> {
        let tag = format!("{}_{}_{}", self.namespace, self.workload, self.file_stem());
        if tag.len() + NODE_ROOM > MAX_TAG {
            return Err(TagTooLong {
                key: self.to_string(),
                len: tag.len(),
                tag,
                limit: MAX_TAG - NODE_ROOM,
            });
        }
        Ok(tag)
    }

    /// The tag `node` publishes its share under: its name when it fits, else a hash of it
    /// (the share's annotations name the node either way).
    pub fn share_tag(&self, node: &str) -> Result<String, TagTooLong> {
        let stable = self.tag()?;
        let named = format!("{stable}.node-{node}");
        if named.len() <= MAX_TAG && node.bytes().all(is_tag_byte) && !node.is_empty() {
            return Ok(named);
        }
        let hash: String = Sha256::digest(node.as_bytes())
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(format!("{stable}.node-h{hash}"))
    }

    /// The prefix every share tag of this key starts with.
    pub fn share_prefix(&self) -> Result<String, TagTooLong> {
        Ok(format!("{}.node-", self.tag()?))
    }

    /// The key a stable tag names; `None` for any other tag (shares, referrers, other
    /// artifacts in the repository).
    pub fn from_tag(tag: &str) -> Option<Key> {
        let (namespace, rest) = tag.split_once('_')?;
        let (workload, stem) = rest.rsplit_once('_')?;
        let (container, image) = match stem.split_once('.') {
            None => (stem, None),
            Some((c, suffix)) => {
                let hex = suffix.strip_prefix("image-")?;
                let ok = hex.len() == 12 && hex.bytes().all(|b| b.is_ascii_hexdigit());
                (c, Some(ok.then(|| hex.to_string())?))
            }
        };
        let label = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        (label(namespace) && label(container) && !workload.is_empty()).then(|| Key {
            namespace: namespace.to_string(),
            workload: workload.to_string(),
            container: container.to_string(),
            image,
        })
    }
}

fn is_tag_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-'
}

/// Whether `tag` is one the distribution spec allows.
pub fn is_tag(tag: &str) -> bool {
    tag.len() <= MAX_TAG
        && tag.bytes().next().is_some_and(|b| b != b'.' && b != b'-')
        && tag.bytes().all(is_tag_byte)
}

/// The repository the nodes' shares go to, next to REPO (which then lists only the
/// unions, so finding the fleet's workloads reads one short tag list).
pub fn shares_repository(repo: &str) -> String {
    format!("{repo}-shares")
}

/// The 12 hex digits a `--per-image` key holds of an image digest (`sha256:<hex>`, or
/// an image reference ending in it).
pub fn image_short(image: &str) -> Option<String> {
    let hex = image.rsplit_once("sha256:").map(|(_, h)| h)?;
    (hex.len() >= 12 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hex[..12].to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ns: &str, workload: &str, container: &str, image: Option<&str>) -> Key {
        Key {
            namespace: ns.into(),
            workload: workload.into(),
            container: container.into(),
            image: image.map(String::from),
        }
    }

    #[test]
    fn tags_read_back_as_their_key() {
        let cases = [
            key("shop", "web", "app", None),
            key("shop", "my_odd.name", "app", None),
            key("a-1", "x", "c-2", Some("0123456789ab")),
        ];
        for k in cases {
            let tag = k.tag().unwrap();
            assert!(is_tag(&tag), "{tag}");
            assert_eq!(Key::from_tag(&tag), Some(k.clone()), "{tag}");
            let share = k.share_tag("ip-10-0-0-1.ec2.internal").unwrap();
            assert!(is_tag(&share), "{share}");
            assert!(share.starts_with(&k.share_prefix().unwrap()));
            // A share is not a stable tag.
            assert_eq!(Key::from_tag(&share), None, "{share}");
        }
        assert_eq!(
            key("shop", "web", "app", None).share_tag("node-1").unwrap(),
            "shop_web_app.node-node-1"
        );
        for other in [
            "latest",
            "sha256-abcd",
            "Shop_web_app",
            "shop_web_app.x",
            "",
        ] {
            assert_eq!(Key::from_tag(other), None, "{other}");
        }
    }

    #[test]
    fn long_names_are_refused_or_hashed() {
        let long = key("ns", &"w".repeat(120), "app", None);
        let e = long.tag().unwrap_err();
        assert!(
            e.to_string().contains("seccomp-recorder.io/workload"),
            "{e}"
        );
        // Fits as a stable tag, but not with a long node name: the node is hashed.
        let k = key("ns", &"w".repeat(90), "app", None);
        let share = k.share_tag(&"n".repeat(60)).unwrap();
        assert!(is_tag(&share) && share.contains(".node-h"), "{share}");
        assert_ne!(share, k.share_tag(&"m".repeat(60)).unwrap());
        // A node name a tag cannot hold is hashed too.
        assert!(k.share_tag("Node_A:1").unwrap().contains(".node-h"));
    }

    #[test]
    fn image_digests_shorten_to_twelve_hex_digits() {
        let d = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(image_short(&d).as_deref(), Some("abababababab"));
        assert_eq!(
            image_short(&format!("registry.example/app@{d}")).as_deref(),
            Some("abababababab")
        );
        assert_eq!(image_short("registry.example/app:v1"), None);
    }
}
