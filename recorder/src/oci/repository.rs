//! One repository, kept open: the node agent asks the same registry about the same
//! profiles every interval, so the client, its tokens and its runtime are made once. Tag
//! listing (with `Link` pagination) and the manifest HEAD are plain requests with the
//! cached token: one HTTP request each, which is what the fleet's request rate is
//! computed from.

use super::artifact::{self, ACCEPTED_MANIFESTS, Descriptor, MANIFEST_MEDIA_TYPE};
use super::transport::Session;
use super::{Access, OciError, auth};
use oci_client::errors::OciDistributionError;
use oci_client::{Reference, RegistryOperation};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// Tags asked for per page; registries may send fewer and say so with a `Link` header.
const PAGE: usize = 1000;

/// A profile artifact read back: the profile, the manifest's digest and its annotations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    pub profile: Vec<u8>,
    pub digest: String,
    pub annotations: BTreeMap<String, String>,
}

/// An open repository (`registry/name`, no tag).
pub struct Repository {
    session: Session,
    rt: tokio::runtime::Runtime,
    base: Reference,
    /// Tags asked for per page.
    page: usize,
    /// The pull token once asked for (`Some(None)`: the registry wants none).
    token: RefCell<Option<Option<String>>>,
    /// What the caller may want to tell the user (credentials skipped).
    pub notes: Vec<String>,
}

impl Repository {
    /// Opens `repo` (`registry/name`, without tag or digest).
    pub fn open(repo: &str, access: &Access) -> Result<Repository, OciError> {
        let bad = |reason: &str| OciError::Reference {
            reference: repo.to_string(),
            reason: reason.to_string(),
        };
        if repo.contains('@') {
            return Err(bad("give the repository without a digest"));
        }
        let base = super::parse_reference(&format!("{repo}:probe"))
            .ok()
            .filter(|r| r.tag() == Some("probe") && r.digest().is_none())
            .ok_or_else(|| bad("not a repository (registry/name, lowercase, without a tag)"))?;
        let (credentials, notes) = auth::resolve(access, base.resolve_registry())?;
        let session = Session::new(&base, credentials, access.insecure, &access.ca)?;
        Ok(Repository {
            rt: super::runtime()?,
            base,
            session,
            page: PAGE,
            token: RefCell::new(None),
            notes,
        })
    }

    /// Asks for `n` tags per page instead of 1000 (registries may cap it lower).
    pub fn page_size(mut self, n: usize) -> Repository {
        self.page = n.max(1);
        self
    }

    /// `registry/name`, for messages.
    pub fn name(&self) -> String {
        format!("{}/{}", self.base.registry(), self.base.repository())
    }

    fn at(&self, tag_or_digest: &str) -> Reference {
        let (registry, name) = (self.base.registry(), self.base.repository());
        if tag_or_digest.contains(':') {
            Reference::with_digest(registry.into(), name.into(), tag_or_digest.into())
        } else {
            Reference::with_tag(registry.into(), name.into(), tag_or_digest.into())
        }
    }

    fn url(&self, path: &str) -> String {
        let scheme = if self.session.plain_http {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}{path}", self.base.resolve_registry())
    }

    /// Every tag of the repository, in the registry's order (the spec asks for lexical
    /// order, which not every registry keeps: Debian's docker-registry does not); none
    /// when the repository does not exist yet.
    pub fn tags(&self) -> Result<Vec<String>, OciError> {
        let name = self.name();
        let mut next = Some(format!(
            "/v2/{}/tags/list?n={}",
            self.base.repository(),
            self.page
        ));
        let mut tags = Vec::new();
        while let Some(path) = next.take() {
            let url = if path.starts_with("http") {
                path
            } else {
                self.url(&path)
            };
            let page = self.rt.block_on(
                self.session
                    .retry("list", &name, || self.get_page(url.clone())),
            );
            match page {
                Ok((page, link)) => {
                    tags.extend(page);
                    next = link;
                }
                Err(OciError::NotFound { .. }) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(tags)
    }

    async fn get_page(
        &self,
        url: String,
    ) -> Result<(Vec<String>, Option<String>), OciDistributionError> {
        let response = self.send(reqwest::Method::GET, &url, &[]).await?;
        let link = response
            .headers()
            .get_all(reqwest::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(next_link);
        #[derive(serde::Deserialize)]
        struct List {
            tags: Option<Vec<String>>,
        }
        let body = response.bytes().await?;
        let list: List = serde_json::from_slice(&body)?;
        Ok((list.tags.unwrap_or_default(), link))
    }

    /// The digest of the manifest at `tag` (one HEAD request); `None` when there is none.
    pub fn head(&self, tag: &str) -> Result<Option<String>, OciError> {
        let r = self.at(tag);
        let url = self.url(&format!("/v2/{}/manifests/{tag}", self.base.repository()));
        let result = self.rt.block_on(self.session.retry("pull", &r.whole(), || {
            let url = url.clone();
            async move {
                let response = self
                    .send(reqwest::Method::HEAD, &url, ACCEPTED_MANIFESTS)
                    .await?;
                let digest = response
                    .headers()
                    .get("docker-content-digest")
                    .and_then(|v| v.to_str().ok())
                    .map(String::from);
                Ok(digest)
            }
        }));
        match result {
            Ok(Some(d)) => Ok(Some(d)),
            // Without the header, the manifest itself tells.
            Ok(None) => self.fetch(tag).map(|a| Some(a.digest)),
            Err(OciError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One request with the cached pull token, asked for again once when refused.
    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        accept: &[&str],
    ) -> Result<reqwest::Response, OciDistributionError> {
        for fresh in [false, true] {
            let token = self.token(fresh).await?;
            let mut request = self.session.http.request(method.clone(), url);
            if !accept.is_empty() {
                request = request.header(reqwest::header::ACCEPT, accept.join(", "));
            }
            request = match (token, &self.session.credentials.basic) {
                (Some(token), _) => request.bearer_auth(token),
                (None, Some((user, password))) => request.basic_auth(user, Some(password)),
                (None, None) => request,
            };
            let response = request.send().await?;
            let status = response.status();
            if status == reqwest::StatusCode::UNAUTHORIZED && !fresh {
                continue;
            }
            if !status.is_success() {
                return Err(OciDistributionError::ServerError {
                    code: status.as_u16(),
                    url: url.to_string(),
                    message: response.text().await.unwrap_or_default(),
                });
            }
            return Ok(response);
        }
        unreachable!("the second attempt returns")
    }

    async fn token(&self, fresh: bool) -> Result<Option<String>, OciDistributionError> {
        if !fresh && let Some(t) = self.token.borrow().clone() {
            return Ok(t);
        }
        let t = self
            .session
            .client
            .auth(&self.base, &self.session.auth, RegistryOperation::Pull)
            .await?;
        *self.token.borrow_mut() = Some(t.clone());
        Ok(t)
    }

    /// The profile, digest and annotations at `tag` or `digest`, verified.
    pub fn fetch(&self, tag_or_digest: &str) -> Result<Artifact, OciError> {
        let r = self.at(tag_or_digest);
        let pulled = self
            .rt
            .block_on(super::pull::pull_async(&self.session, &r))?;
        Ok(Artifact {
            profile: pulled.profile,
            digest: pulled.digest,
            annotations: pulled.annotations,
        })
    }

    /// Pushes `profile` to `tag` with exactly these manifest annotations (so the same
    /// profile and annotations give the same digest wherever they are pushed from).
    pub fn push(
        &self,
        tag: &str,
        profile: &[u8],
        annotations: &BTreeMap<String, String>,
    ) -> Result<String, OciError> {
        super::check_profile(profile, tag)?;
        let target = self.at(tag);
        let s = &self.session;
        let name = target.whole();
        self.rt.block_on(async {
            s.retry("push", &name, || {
                s.client.auth(&target, &s.auth, RegistryOperation::Push)
            })
            .await?;
            let config = Descriptor::of(artifact::CONFIG_MEDIA_TYPE, artifact::CONFIG_BYTES);
            let layer = Descriptor::of(artifact::LAYER_MEDIA_TYPE, profile);
            for (bytes, digest) in [
                (artifact::CONFIG_BYTES, &config.digest),
                (profile, &layer.digest),
            ] {
                s.retry("push", &name, || {
                    s.client.push_blob(&target, bytes.to_vec(), digest)
                })
                .await?;
            }
            let manifest = artifact::manifest_with(profile, None, annotations);
            super::push_manifest(s, &target, &manifest, MANIFEST_MEDIA_TYPE).await?;
            Ok(artifact::sha256_digest(&manifest))
        })
    }
}

/// The target of a `Link: <url>; rel="next"` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (url, params) = part.trim().split_once(';')?;
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| url.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_page_comes_from_the_link_header() {
        assert_eq!(
            next_link(r#"</v2/team/seccomp/tags/list?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/team/seccomp/tags/list?last=b&n=2")
        );
        assert_eq!(
            next_link(r#"<https://r.example/a>; rel="prev", <https://r.example/b>; rel=next"#)
                .as_deref(),
            Some("https://r.example/b")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }
}
