//! Pinning image tags to digests, once per run, on the controller: every
//! host of a rollout gets exactly the image the tag named when the run
//! started, even if the tag moves halfway through.
//!
//! Speaks the registry HTTP API v2: a HEAD of the manifest returns its
//! digest in `Docker-Content-Digest`. Registries listed in the variable
//! `push_insecure_registries` are reached over plain HTTP (as Docker's
//! `insecure-registries`); all others over HTTPS.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host[:port]; `docker.io` when none is named.
    pub registry: String,
    pub repository: String,
    pub tag: String,
    pub digest: Option<String>,
}

impl ImageRef {
    pub fn parse(reference: &str) -> Option<ImageRef> {
        let (rest, digest) = match reference.split_once('@') {
            Some((r, d)) if d.starts_with("sha256:") => (r, Some(d.to_string())),
            Some(_) => return None,
            None => (reference, None),
        };
        let (registry, path) = match rest.split_once('/') {
            Some((first, path)) if first.contains('.') || first.contains(':') || first == "localhost" => {
                (first.to_string(), path.to_string())
            }
            _ => ("docker.io".to_string(), rest.to_string()),
        };
        // The tag's colon comes after the last slash (a port's comes before).
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
            _ => (path, "latest".to_string()),
        };
        if repository.is_empty() || tag.is_empty() {
            return None;
        }
        let repository = if registry == "docker.io" && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        Some(ImageRef { registry, repository, tag, digest })
    }

    /// `registry/repo:tag@digest`: the tag stays for people, the digest
    /// decides what runs.
    pub fn pinned(&self, original: &str, digest: &str) -> String {
        format!("{original}@{digest}")
    }
}

/// Resolves tags to digests, each at most once per run.
#[derive(Debug, Default)]
pub struct DigestResolver {
    cache: Mutex<HashMap<String, Result<String, String>>>,
}

impl DigestResolver {
    /// The pinned form of `reference`, or the reference itself if it already
    /// names a digest.
    pub fn pin(&self, reference: &str, insecure: &[String]) -> Result<String, String> {
        let image = ImageRef::parse(reference).ok_or_else(|| format!("`{reference}` is not an image reference"))?;
        if image.digest.is_some() {
            return Ok(reference.to_string());
        }
        let mut cache = self.cache.lock().unwrap();
        let digest = cache.entry(reference.to_string()).or_insert_with(|| resolve(&image, insecure)).clone()?;
        Ok(image.pinned(reference, &digest))
    }

    /// Every tag pinned so far, for the recap.
    pub fn pinned(&self) -> Vec<(String, String)> {
        let cache = self.cache.lock().unwrap();
        let mut out: Vec<(String, String)> =
            cache.iter().filter_map(|(r, d)| d.as_ref().ok().map(|d| (r.clone(), d.clone()))).collect();
        out.sort();
        out
    }
}

const ACCEPT: &str = "application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.oci.image.manifest.v1+json";

fn resolve(image: &ImageRef, insecure: &[String]) -> Result<String, String> {
    let scheme = if insecure.iter().any(|r| r == &image.registry) { "http" } else { "https" };
    let host = if image.registry == "docker.io" { "registry-1.docker.io" } else { &image.registry };
    let url = format!("{scheme}://{host}/v2/{}/manifests/{}", image.repository, image.tag);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(20)))
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent.head(&url).header("Accept", ACCEPT).call().map_err(|e| format!("cannot reach {url}: {e}"))?;
    match response.status().as_u16() {
        200 => response
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| format!("{url} gave no Docker-Content-Digest header")),
        401 => Err(format!("{url} needs authentication; name the image by digest (`@sha256:...`) instead")),
        404 => Err(format!("{}:{} is not in {}", image.repository, image.tag, image.registry)),
        code => Err(format!("{url} answered HTTP {code}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let r = ImageRef::parse("10.0.0.1:5000/mail:v2").unwrap();
        assert_eq!((r.registry.as_str(), r.repository.as_str(), r.tag.as_str()), ("10.0.0.1:5000", "mail", "v2"));
        let r = ImageRef::parse("localhost:5000/team/web").unwrap();
        assert_eq!((r.repository.as_str(), r.tag.as_str()), ("team/web", "latest"));
        let r = ImageRef::parse("debian:12").unwrap();
        assert_eq!((r.registry.as_str(), r.repository.as_str()), ("docker.io", "library/debian"));
        let r = ImageRef::parse("reg.example.org/web:v1@sha256:abc").unwrap();
        assert_eq!(r.digest.as_deref(), Some("sha256:abc"));
        assert!(ImageRef::parse("web@latest").is_none());
    }

    /// A registry on loopback that serves one manifest digest.
    #[test]
    fn resolves_over_http_and_caches() {
        let (addr, server) = crate::test_http::answer_once(
            "HTTP/1.1 200 OK\r\nDocker-Content-Digest: sha256:feed\r\nContent-Length: 0\r\n\r\n".into(),
        );
        let resolver = DigestResolver::default();
        let reference = format!("{addr}/web:v2");
        let insecure = vec![addr.clone()];
        assert_eq!(resolver.pin(&reference, &insecure).unwrap(), format!("{reference}@sha256:feed"));
        // Cached: the server accepts only one connection.
        assert_eq!(resolver.pin(&reference, &insecure).unwrap(), format!("{reference}@sha256:feed"));
        let request = server.join().unwrap();
        assert!(request.starts_with("HEAD /v2/web/manifests/v2 "), "{request}");
        assert_eq!(resolver.pinned(), vec![(reference, "sha256:feed".to_string())]);
    }
}
