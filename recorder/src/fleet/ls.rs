//! The fleet view: every workload's union in a repository, with its provenance, for the
//! review before enforcing.

use super::names::Key;
use super::provenance::Status;
use super::sync::FleetError;
use crate::oci::Repository;
use serde::Serialize;

/// One union in the repository.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub namespace: String,
    pub workload: String,
    pub container: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// `registry/name@digest`: what to enforce.
    pub reference: String,
    /// The union's provenance; `None` for a profile pushed without it (by hand, or by an
    /// agent before provenance existed).
    pub status: Option<Status>,
    /// Calls the profile allows, every ABI counted.
    pub calls: u64,
}

/// Every union in `repo`, sorted by key.
pub fn list(repo: &Repository) -> Result<Vec<Entry>, FleetError> {
    let mut keys: Vec<(Key, String)> = repo
        .tags()?
        .into_iter()
        .filter_map(|t| Some((Key::from_tag(&t)?, t)))
        .collect();
    keys.sort();
    let mut entries = Vec::new();
    for (key, tag) in keys {
        let a = repo.fetch(&tag)?;
        let status = Status::from_annotations(&a.annotations, &a.digest).map_err(|e| {
            FleetError::BadShare {
                reference: format!("{}:{tag}", repo.name()),
                reason: e.to_string(),
            }
        })?;
        let calls = crate::profile::Profile::parse(&a.profile)
            .map(|p| super::union::count(&p.allowed()))
            .unwrap_or(0);
        entries.push(Entry {
            namespace: key.namespace,
            workload: key.workload,
            container: key.container,
            image: key.image,
            reference: format!("{}@{}", repo.name(), a.digest),
            status,
            calls,
        });
    }
    Ok(entries)
}
