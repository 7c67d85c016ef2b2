//! A node's side of the convergence: it publishes its own share, and keeps its copy of
//! each union up to date with as few requests as it can.
//!
//! Per key and sync: one HEAD of the stable tag. Only when its digest changed (or this
//! node's share did) is the union read; when the union already lists this node's share
//! as it is, it is taken as it is. Otherwise the node recomputes it from the shares the
//! union lists (read once per digest, then cached) plus its own, and pushes it. A push
//! that loses a race to another node's leaves a union without this node's share: the
//! node sees that at its next sync and pushes again, now with the other node's share in.

use super::names::{Key, TagTooLong, shares_repository};
use super::union::{Shape, Share, Union};
use crate::oci::{Access, OciError, Repository};
use crate::profile::DefaultAction;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error(transparent)]
    Oci(#[from] OciError),
    #[error(transparent)]
    Tag(#[from] TagTooLong),
    #[error("{reference} is not a share of this profile: {reason}")]
    BadShare { reference: String, reason: String },
}

/// What a node remembers about one key.
#[derive(Default)]
struct Known {
    /// The stable tag's digest as last read or pushed.
    stable: Option<String>,
    /// This node's share as last pushed.
    own: Option<String>,
    /// The own share's digest at the last sync.
    synced_own: Option<String>,
}

/// A node's view of the fleet's profiles in one repository.
pub struct Fleet {
    stable: Repository,
    shares: Repository,
    node: String,
    shape: Shape,
    stable_after: u64,
    /// Shares read, by digest: a share's digest names its content.
    cache: HashMap<String, Share>,
    known: HashMap<Key, Known>,
}

/// A share tag's node part: what the union lists it under.
fn node_part(key: &Key, share_tag: &str) -> Result<String, TagTooLong> {
    Ok(share_tag[key.share_prefix()?.len()..].to_string())
}

impl Fleet {
    /// Opens `repo` for the unions and `repo-shares` for the shares.
    pub fn open(
        repo: &str,
        access: &Access,
        node: &str,
        default: DefaultAction,
        stable_after: u64,
    ) -> Result<Fleet, FleetError> {
        Ok(Fleet {
            stable: Repository::open(repo, access)?,
            shares: Repository::open(&shares_repository(repo), access)?,
            node: node.to_string(),
            shape: default.into(),
            stable_after,
            cache: HashMap::new(),
            known: HashMap::new(),
        })
    }

    /// `--log-refusals`: every union (and share) gets SECCOMP_FILTER_FLAG_LOG.
    pub fn log_refusals(&mut self, on: bool) {
        self.shape.log_refusals = on;
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// The keys the repository holds unions of (one tag list).
    pub fn workloads(&self) -> Result<Vec<Key>, FleetError> {
        Ok(self
            .stable
            .tags()?
            .iter()
            .filter_map(|t| Key::from_tag(t))
            .collect())
    }

    /// This node's share as the registry holds it (after a restart of the agent).
    pub fn own_share(&mut self, key: &Key) -> Result<Option<Share>, FleetError> {
        let tag = key.share_tag(&self.node)?;
        let Some(digest) = self.shares.head(&tag)? else {
            return Ok(None);
        };
        let share = self.share(key, &tag, &digest)?;
        self.known.entry(key.clone()).or_default().own = Some(digest);
        Ok(Some(share))
    }

    /// Pushes this node's share when it differs from what it last pushed; its digest.
    pub fn publish(&mut self, key: &Key, share: &Share) -> Result<String, FleetError> {
        let tag = key.share_tag(&self.node)?;
        let art = share.artifact(self.shape);
        let known = self.known.entry(key.clone()).or_default();
        if known.own.as_deref() != Some(art.digest.as_str()) {
            let pushed = self
                .shares
                .push(&tag, art.json.as_bytes(), &art.annotations)?;
            debug_assert_eq!(pushed, art.digest);
            known.own = Some(art.digest.clone());
            self.cache.insert(art.digest.clone(), share.clone());
        }
        Ok(art.digest)
    }

    /// Brings `key` up to date; the union when it changed since the last sync, `None`
    /// when it did not. `own` is this node's share as [`Fleet::publish`]ed.
    pub fn sync(&mut self, key: &Key, own: Option<&Share>) -> Result<Option<Union>, FleetError> {
        let tag = key.tag()?;
        let own_tag = key.share_tag(&self.node)?;
        let own_node = node_part(key, &own_tag)?;
        let head = self.stable.head(&tag)?;
        let own_digest = own.map(|s| s.artifact(self.shape).digest);
        let known = self.known.entry(key.clone()).or_default();
        if head.is_some() && head == known.stable && own_digest == known.synced_own {
            return Ok(None);
        }
        let current = match &head {
            Some(d) => {
                let a = self.stable.fetch(d)?;
                Union::from_artifact(&a.profile, &a.annotations, &a.digest)
            }
            None => None,
        };
        let listed = current.as_ref().map(|u| u.shares.get(&own_node).cloned());
        let union = match (&current, own_digest.as_ref()) {
            (Some(u), None) => u.clone(),
            (Some(u), Some(d)) if listed.flatten().as_ref() == Some(d) => u.clone(),
            _ => self.recompute(key, current.as_ref(), own, &own_node)?,
        };
        if union.shares.is_empty() {
            // No share at all (a profile pushed by hand or by an agent before shares
            // existed): nothing to compute it from, and nothing to overwrite it with.
            return Ok(None);
        }
        if head.as_deref() != Some(union.artifact.digest.as_str()) {
            let a = &union.artifact;
            self.stable.push(&tag, a.json.as_bytes(), &a.annotations)?;
            log::info!(
                "{key}: pushed the union of {} shares to {}:{tag} ({})",
                union.shares.len(),
                self.stable.name(),
                a.digest
            );
        }
        let known = self.known.entry(key.clone()).or_default();
        let changed = known.stable.as_deref() != Some(union.artifact.digest.as_str());
        known.stable = Some(union.artifact.digest.clone());
        known.synced_own = own_digest;
        Ok(changed.then_some(union))
    }

    /// The union of the shares `current` lists (or, without one, of every share tag of
    /// the key) with this node's own share in place of its listed one.
    fn recompute(
        &mut self,
        key: &Key,
        current: Option<&Union>,
        own: Option<&Share>,
        own_node: &str,
    ) -> Result<Union, FleetError> {
        let prefix = key.share_prefix()?;
        let listed: BTreeMap<String, String> = match current {
            Some(u) => u.shares.clone(),
            None => {
                let mut found = BTreeMap::new();
                let tags = self.shares.tags()?;
                for tag in tags.iter().filter(|t| t.starts_with(&prefix)) {
                    if let Some(d) = self.shares.head(tag)? {
                        found.insert(node_part(key, tag)?, d);
                    }
                }
                found
            }
        };
        let mut shares = BTreeMap::new();
        for (node, digest) in listed {
            if node == own_node && own.is_some() {
                continue;
            }
            let share = self.share(key, &format!("{prefix}{node}"), &digest)?;
            shares.insert(node, (digest, share));
        }
        if let Some(own) = own {
            let digest = own.artifact(self.shape).digest;
            shares.insert(own_node.to_string(), (digest, own.clone()));
        }
        Ok(Union::of(&shares, self.shape, self.stable_after))
    }

    /// The share with `digest`, read once. A digest the registry no longer holds (its
    /// tag moved and the registry collected it) is read through its tag instead.
    fn share(&mut self, key: &Key, tag: &str, digest: &str) -> Result<Share, FleetError> {
        if let Some(s) = self.cache.get(digest) {
            return Ok(s.clone());
        }
        let artifact = match self.shares.fetch(digest) {
            Err(OciError::NotFound { .. }) => self.shares.fetch(tag)?,
            other => other?,
        };
        let reference = format!("{}:{tag}", self.shares.name());
        let share = Share::from_artifact(&artifact.profile, &artifact.annotations)
            .map_err(|reason| FleetError::BadShare {
                reference: reference.clone(),
                reason,
            })?
            .ok_or_else(|| FleetError::BadShare {
                reference,
                reason: format!("it has no provenance annotations (profile {key})"),
            })?;
        self.cache.insert(artifact.digest.clone(), share.clone());
        Ok(share)
    }
}
