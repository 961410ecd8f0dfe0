//! Pinning image tags to digests, once per run, on the controller: every
//! host of a rollout gets exactly the image the tag named when the run
//! started, even if the tag moves halfway through.
//!
//! Speaks the registry HTTP API v2 as Docker does: a HEAD of the manifest
//! (manifest lists and OCI indexes accepted, so a multi-platform tag pins
//! its index) returns its digest in `Docker-Content-Digest`. A registry
//! that answers 401 is asked again with what its `WWW-Authenticate`
//! challenge wants: a bearer token from its token service (anonymous for
//! public images, or bought with the credentials) or Basic credentials.
//! Credentials come from the playbook (`docker_image`'s `username` and
//! `password`, remembered for that registry for the rest of the run) or
//! from Docker's own `config.json` (`auths`, `credsStore`, `credHelpers`),
//! read by the `docker_credential` crate. Registries listed in the variable
//! `push_insecure_registries` are reached over plain HTTP (as Docker's
//! `insecure-registries`); all others over HTTPS.
//!
//! Written with the blocking `ureq` the rest of push uses: the crates for
//! the distribution API (`oci-client`) bring reqwest and an async stack of
//! their own for what is here a handful of requests.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use sha2::{Digest, Sha256};

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
                (normalize_registry(first), path.to_string())
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

/// Credentials for one registry. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A user name and password (or access token used as one, as GHCR wants).
    Basic { username: String, password: String },
    /// An identity token from `docker login` (`identitytoken` in
    /// config.json, or a helper's `<token>` user): an OAuth refresh token.
    IdentityToken(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, <hidden>)"),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(<hidden>)"),
        }
    }
}

/// Why a tag could not be pinned. Every variant names the registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error("`{0}` is not an image reference")]
    NotAReference(String),
    #[error("registry {registry} cannot be reached ({url}): {reason}")]
    Unreachable { registry: String, url: String, reason: String },
    #[error("registry {registry} answered HTTP {status} for {what}{detail}")]
    Refused { registry: String, status: u16, what: String, detail: String },
    #[error("{repository}:{tag} is not in registry {registry} (HTTP 404)")]
    NotFound { registry: String, repository: String, tag: String },
    #[error("registry {registry} gave no digest for {repository}:{tag}")]
    NoDigest { registry: String, repository: String, tag: String },
    #[error("the credentials for registry {registry} from {source_name} cannot be read: {reason}")]
    Credentials { registry: String, source_name: String, reason: String },
}

/// Resolves tags to digests, each at most once per run.
#[derive(Debug, Default)]
pub struct DigestResolver {
    cache: Mutex<HashMap<String, Result<String, PinError>>>,
    /// Credentials a playbook task gave, by registry: later images from the
    /// same registry (a `docker_unit` after its `docker_image` login) use
    /// them too.
    given: Mutex<HashMap<String, Credential>>,
}

impl DigestResolver {
    /// The pinned form of `reference`, or the reference itself if it already
    /// names a digest. `credential` is what the task itself gave for
    /// `registry` (which defaults to the image's).
    pub fn pin(
        &self,
        reference: &str,
        insecure: &[String],
        credential: Option<(Option<String>, Credential)>,
    ) -> Result<String, PinError> {
        let image = ImageRef::parse(reference).ok_or_else(|| PinError::NotAReference(reference.to_string()))?;
        if let Some((registry, credential)) = credential {
            let registry = registry.map_or_else(|| image.registry.clone(), |r| normalize_registry(&r));
            self.given.lock().unwrap().insert(registry, credential);
        }
        if image.digest.is_some() {
            return Ok(reference.to_string());
        }
        let mut cache = self.cache.lock().unwrap();
        let given = self.given.lock().unwrap().get(&image.registry).cloned();
        let digest = cache.entry(reference.to_string()).or_insert_with(|| resolve(&image, insecure, given)).clone()?;
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

/// Docker Hub's other names for itself.
fn normalize_registry(registry: &str) -> String {
    match registry {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => "docker.io".to_string(),
        other => other.to_string(),
    }
}

const ACCEPT: &str = "application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.oci.image.manifest.v1+json";

/// One registry conversation: its address, and the credentials once looked up.
struct Registry<'a> {
    image: &'a ImageRef,
    agent: ureq::Agent,
    given: Option<Credential>,
    /// Docker's credentials for the registry, asked at most once (a helper
    /// may prompt or be slow).
    from_docker: std::cell::OnceCell<Result<Option<Credential>, PinError>>,
}

/// Where the manifest of `image`'s tag is: Docker Hub's API lives at
/// `registry-1.docker.io`; registries listed as insecure speak plain HTTP.
fn manifest_url(image: &ImageRef, insecure: &[String]) -> String {
    let scheme = if insecure.iter().any(|r| r == &image.registry) { "http" } else { "https" };
    let host = if image.registry == "docker.io" { "registry-1.docker.io" } else { &image.registry };
    format!("{scheme}://{host}/v2/{}/manifests/{}", image.repository, image.tag)
}

fn resolve(image: &ImageRef, insecure: &[String], given: Option<Credential>) -> Result<String, PinError> {
    let url = manifest_url(image, insecure);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(20)))
        .http_status_as_error(false)
        .build()
        .into();
    Registry { image, agent, given, from_docker: Default::default() }.manifest_digest(&url)
}

impl Registry<'_> {
    /// HEAD the manifest; on a 401, once more with what the challenge asks.
    fn manifest_digest(&self, url: &str) -> Result<String, PinError> {
        let mut authorization = None;
        let mut response = self.call(self.agent.head(url), url, None)?;
        if response.status().as_u16() == 401 {
            let challenge = header(&response, "WWW-Authenticate").and_then(|h| Challenge::parse(&h));
            let Some(challenge) = challenge else {
                return Err(self.refused(401, "the manifest", " without a WWW-Authenticate challenge"));
            };
            let answer = self.authorization(&challenge)?;
            response = self.call(self.agent.head(url), url, Some(&answer))?;
            authorization = Some(answer);
        }
        match response.status().as_u16() {
            200 => match header(&response, "Docker-Content-Digest") {
                Some(digest) if digest.starts_with("sha256:") => Ok(digest),
                _ => self.digest_of_body(url, authorization.as_deref()),
            },
            404 => Err(PinError::NotFound {
                registry: self.image.registry.clone(),
                repository: self.image.repository.clone(),
                tag: self.image.tag.clone(),
            }),
            401 | 403 => {
                let detail = if self.credential()?.is_some() {
                    " with the credentials push found for it: they were refused"
                } else {
                    " and push has no credentials for it (none in the task, none in Docker's config.json)"
                };
                Err(self.refused(response.status().as_u16(), "the manifest", detail))
            }
            code => Err(self.refused(code, "the manifest", "")),
        }
    }

    /// A registry that names no digest on a HEAD: the digest is that of
    /// the manifest's bytes, as it serves them.
    fn digest_of_body(&self, url: &str, authorization: Option<&str>) -> Result<String, PinError> {
        let no_digest = || PinError::NoDigest {
            registry: self.image.registry.clone(),
            repository: self.image.repository.clone(),
            tag: self.image.tag.clone(),
        };
        let mut response = self.call(self.agent.get(url), url, authorization)?;
        if response.status().as_u16() != 200 {
            return Err(no_digest());
        }
        let body = response.body_mut().read_to_vec().map_err(|e| self.unreachable(url, e))?;
        Ok(format!("sha256:{:x}", Sha256::digest(&body)))
    }

    /// A HEAD or GET of the manifest, accepting lists and indexes.
    fn call(
        &self,
        request: ureq::RequestBuilder<ureq::typestate::WithoutBody>,
        url: &str,
        authorization: Option<&str>,
    ) -> Result<ureq::http::Response<ureq::Body>, PinError> {
        let mut request = request.header("Accept", ACCEPT);
        if let Some(a) = authorization {
            request = request.header("Authorization", a);
        }
        request.call().map_err(|e| self.unreachable(url, e))
    }

    /// The `Authorization` header value that answers `challenge`.
    fn authorization(&self, challenge: &Challenge) -> Result<String, PinError> {
        match challenge.scheme.as_str() {
            "basic" => match self.credential()? {
                Some(Credential::Basic { username, password }) => Ok(basic(&username, &password)),
                _ => Err(self.refused(
                    401,
                    "the manifest",
                    " and wants Basic credentials, which push has not (none in the task, none in Docker's config.json)",
                )),
            },
            "bearer" => Ok(format!("Bearer {}", self.token(challenge)?)),
            other => Err(self.refused(
                401,
                "the manifest",
                &format!(" and wants `{other}` authentication, which push does not speak"),
            )),
        }
    }

    /// A token from the registry's token service for `challenge`'s scope:
    /// anonymous without credentials, else bought with them.
    fn token(&self, challenge: &Challenge) -> Result<String, PinError> {
        let realm = challenge
            .params
            .get("realm")
            .cloned()
            .ok_or_else(|| self.refused(401, "the manifest", " with a Bearer challenge that names no realm"))?;
        let scope = challenge
            .params
            .get("scope")
            .cloned()
            .unwrap_or_else(|| format!("repository:{}:pull", self.image.repository));
        let service = challenge.params.get("service").cloned().unwrap_or_default();
        let response = match self.credential()? {
            Some(Credential::IdentityToken(refresh)) => {
                self.agent.post(&realm).header("Content-Type", "application/x-www-form-urlencoded").send(form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &refresh),
                    ("service", &service),
                    ("scope", &scope),
                    ("client_id", "push"),
                ]))
            }
            credential => {
                let mut request = self.agent.get(&realm).query("scope", &scope);
                if !service.is_empty() {
                    request = request.query("service", &service);
                }
                if let Some(Credential::Basic { username, password }) = credential {
                    request = request.header("Authorization", basic(&username, &password));
                }
                request.call()
            }
        };
        let mut response = response.map_err(|e| self.unreachable(&realm, e))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(self.refused(status, &format!("a token from {realm} (scope {scope})"), ""));
        }
        let body = response.body_mut().read_to_string().map_err(|e| self.unreachable(&realm, e))?;
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        json.get("token")
            .or_else(|| json.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or_else(|| self.refused(200, &format!("a token from {realm}"), " with no token in its answer"))
    }

    /// The task's credentials for this registry, else Docker's.
    fn credential(&self) -> Result<Option<Credential>, PinError> {
        if let Some(c) = &self.given {
            return Ok(Some(c.clone()));
        }
        self.from_docker.get_or_init(|| docker_config_credential(&self.image.registry)).clone()
    }

    fn refused(&self, status: u16, what: &str, detail: &str) -> PinError {
        PinError::Refused {
            registry: self.image.registry.clone(),
            status,
            what: what.to_string(),
            detail: detail.to_string(),
        }
    }

    fn unreachable(&self, url: &str, error: ureq::Error) -> PinError {
        PinError::Unreachable { registry: self.image.registry.clone(), url: url.to_string(), reason: error.to_string() }
    }
}

/// What Docker's `config.json` (in `$DOCKER_CONFIG`, else `~/.docker`) holds
/// for `registry`: `credHelpers`, `auths`, then `credsStore`, as Docker
/// looks. None when it holds nothing for it, or there is no such file.
fn docker_config_credential(registry: &str) -> Result<Option<Credential>, PinError> {
    use docker_credential::{CredentialRetrievalError as E, DockerCredential};
    // Docker Hub's logins are kept under its old index address.
    let server = if registry == "docker.io" { "https://index.docker.io/v1/" } else { registry };
    match docker_credential::get_credential(server) {
        Ok(DockerCredential::UsernamePassword(username, password)) => {
            Ok(Some(Credential::Basic { username, password }))
        }
        Ok(DockerCredential::IdentityToken(token)) => Ok(Some(Credential::IdentityToken(token))),
        Err(E::NoCredentialConfigured | E::ConfigNotFound) => Ok(None),
        // What helpers say for a registry they hold nothing for; Docker
        // reads it as "no credentials" too.
        Err(E::HelperFailure { stdout, .. }) if stdout.trim() == "credentials not found in native keychain" => Ok(None),
        // No file at all reads as ConfigReadError too.
        Err(E::ConfigReadError) if !docker_config_file().is_some_and(|p| p.exists()) => Ok(None),
        Err(error) => Err(PinError::Credentials {
            registry: registry.to_string(),
            source_name: docker_config_file()
                .map_or_else(|| "Docker's config.json".into(), |p| p.display().to_string()),
            // A helper's stdout may hold a secret: only its name and stderr are told.
            reason: match error {
                E::HelperFailure { helper, stderr, .. } => format!("{helper} failed: {}", stderr.trim()),
                other => other.to_string(),
            },
        }),
    }
}

fn docker_config_file() -> Option<std::path::PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".docker")))
        .map(|dir| dir.join("config.json"))
}

fn basic(username: &str, password: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}")))
}

/// `application/x-www-form-urlencoded`: unreserved bytes as they are, the
/// rest as `%XX`.
fn form(pairs: &[(&str, &str)]) -> String {
    let encode = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

fn header(response: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// A parsed `WWW-Authenticate` header: `Bearer realm="..",service="..",scope=".."`.
#[derive(Debug, PartialEq, Eq)]
struct Challenge {
    /// Lowercased: `bearer` or `basic`.
    scheme: String,
    params: HashMap<String, String>,
}

impl Challenge {
    fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.is_empty() {
            return None;
        }
        let mut params = HashMap::new();
        let mut chars = rest.chars().peekable();
        loop {
            while chars.next_if(|c| *c == ',' || c.is_whitespace()).is_some() {}
            let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
            if key.is_empty() {
                break;
            }
            if chars.next_if_eq(&'=').is_none() {
                continue;
            }
            // Quoted values may hold commas (`scope="repository:a:pull,push"`).
            let value: String = if chars.next_if_eq(&'"').is_some() {
                let mut v = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => v.extend(chars.next()),
                        c => v.push(c),
                    }
                }
                v
            } else {
                std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect::<String>().trim().to_string()
            };
            params.insert(key.trim().to_ascii_lowercase(), value);
        }
        Some(Challenge { scheme: scheme.to_ascii_lowercase(), params })
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

    #[test]
    fn docker_hub_names_as_docker_resolves_them() {
        for name in ["nginx:1.27", "docker.io/nginx:1.27", "index.docker.io/library/nginx:1.27"] {
            let image = ImageRef::parse(name).unwrap();
            assert_eq!(
                manifest_url(&image, &[]),
                "https://registry-1.docker.io/v2/library/nginx/manifests/1.27",
                "{name}"
            );
        }
        let image = ImageRef::parse("ghcr.io/owner/app:v1").unwrap();
        assert_eq!(manifest_url(&image, &[]), "https://ghcr.io/v2/owner/app/manifests/v1");
        let image = ImageRef::parse("127.0.0.1:5000/web").unwrap();
        assert_eq!(manifest_url(&image, &["127.0.0.1:5000".into()]), "http://127.0.0.1:5000/v2/web/manifests/latest");
    }

    #[test]
    fn parses_challenges() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.docker.io/token");
        assert_eq!(c.params["service"], "registry.docker.io");
        assert_eq!(c.params["scope"], "repository:a/b:pull,push");
        let c = Challenge::parse(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!((c.scheme.as_str(), c.params["realm"].as_str()), ("basic", "Registry Realm"));
        let c = Challenge::parse("Bearer realm=http://127.0.0.1:1/token, service=test").unwrap();
        assert_eq!((c.params["realm"].as_str(), c.params["service"].as_str()), ("http://127.0.0.1:1/token", "test"));
    }

    #[test]
    fn credentials_never_show_their_secret() {
        let basic = Credential::Basic { username: "alice".into(), password: "hunter2".into() };
        let token = Credential::IdentityToken("tok-123".into());
        assert_eq!(format!("{basic:?} {token:?}"), "Basic(alice, <hidden>) IdentityToken(<hidden>)");
    }

    #[test]
    fn form_encodes_reserved_bytes() {
        assert_eq!(
            form(&[("scope", "repository:a/b:pull"), ("x", "a b&c")]),
            "scope=repository%3Aa%2Fb%3Apull&x=a%20b%26c"
        );
    }

    /// A registry that names no digest on a HEAD: the manifest's bytes, by GET.
    #[test]
    fn digest_of_the_manifest_body_when_the_head_names_none() {
        let manifest = r#"{"schemaVersion":2}"#;
        let (addr, server) = crate::test_http::answer_each(vec![
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{manifest}", manifest.len()),
        ]);
        let reference = format!("{addr}/web:v1");
        let pinned = DigestResolver::default().pin(&reference, std::slice::from_ref(&addr), None).unwrap();
        assert_eq!(pinned, format!("{reference}@sha256:{:x}", Sha256::digest(manifest.as_bytes())));
        let requests = server.join().unwrap();
        assert!(requests[0].starts_with("HEAD /v2/web/manifests/v1 "), "{requests:?}");
        assert!(requests[1].starts_with("GET /v2/web/manifests/v1 "), "{requests:?}");
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
        assert_eq!(resolver.pin(&reference, &insecure, None).unwrap(), format!("{reference}@sha256:feed"));
        // Cached: the server accepts only one connection.
        assert_eq!(resolver.pin(&reference, &insecure, None).unwrap(), format!("{reference}@sha256:feed"));
        let request = server.join().unwrap();
        assert!(request.starts_with("HEAD /v2/web/manifests/v2 "), "{request}");
        assert_eq!(resolver.pinned(), vec![(reference, "sha256:feed".to_string())]);
    }
}
