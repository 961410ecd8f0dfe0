//! Pinning image tags against real registries on loopback (Debian's
//! `docker-registry`, distribution 2.8): one that wants Basic credentials
//! (htpasswd), one that wants bearer tokens from a token service (this
//! test's own, signing ES256 JWTs with a certificate in the registry's
//! `rootcertbundle`). Credentials come from a test `DOCKER_CONFIG` folder
//! (`auths`, `credsStore`, `credHelpers` through a `docker-credential-*`
//! program) or from the playbook. Pinning runs on the controller before any
//! host is contacted, so the playbooks run `--check` on `localhost` with
//! `ansible_connection=local`.
//!
//! Needs /usr/bin/docker-registry and openssl (`tests/run` leaves this
//! binary out without them, counting it as skipped).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use push_tests::{free_port, read, require, require_registry, write, PushCmd, RunOutput};
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

const USER: &str = "alice";
const PASSWORD: &str = "s3cret-pass";
/// `htpasswd -B` for USER and PASSWORD (bcrypt, as distribution wants).
const HTPASSWD: &str = "alice:$2b$05$boQjJPsZrVl4Rf0AmYyNWu8uWbu2zIq2vnBeq.22Ku3qVZywTwr/e\n";
const SERVICE: &str = "push-test-registry";
const ISSUER: &str = "push-test-token-service";

/// A `docker-registry serve` on a free loopback port; stopped on drop.
struct Registry {
    addr: String,
    child: Child,
    _dir: TempDir,
}

impl Registry {
    /// `auth` writes what the registry's `auth:` section needs into the
    /// registry's folder and returns that section, indented by 2.
    fn start(auth: impl FnOnce(&Path) -> String) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let auth = auth(dir.path());
        let addr = format!("127.0.0.1:{}", free_port());
        let config = dir.path().join("config.yml");
        write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\nauth:\n{auth}",
                dir.path().join("data").display()
            ),
        );
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start docker-registry");
        let registry = Registry { addr, child, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(&registry.addr).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not listen on {}", registry.addr);
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The token service: signs what it grants with an EC key whose
/// certificate the registry trusts.
struct TokenSigner {
    key: EcdsaKeyPair,
    cert_der: Vec<u8>,
    cert_pem: PathBuf,
    _dir: TempDir,
}

impl TokenSigner {
    fn new() -> TokenSigner {
        let dir = tempfile::tempdir().unwrap();
        let p = |name: &str| dir.path().join(name);
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl").args(args).current_dir(dir.path()).output().expect("run openssl");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        write(p("key.der"), pkcs8.as_ref());
        openssl(&["pkey", "-inform", "DER", "-in", "key.der", "-out", "key.pem"]);
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            "key.pem",
            "-subj",
            "/CN=push test tokens",
            "-days",
            "2",
            "-out",
            "cert.pem",
        ]);
        openssl(&["x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der"]);
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        TokenSigner { key, cert_der: std::fs::read(p("cert.der")).unwrap(), cert_pem: p("cert.pem"), _dir: dir }
    }

    /// A JWT granting `actions` on repository `name` to `subject`.
    fn token(&self, subject: &str, name: &str, actions: &[String]) -> String {
        let b64url = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let header = serde_json::json!({
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [base64::engine::general_purpose::STANDARD.encode(&self.cert_der)],
        });
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": subject, "aud": SERVICE,
            "exp": now + 600, "nbf": now - 60, "iat": now, "jti": format!("{now}-{subject}-{name}"),
            "access": [{"type": "repository", "name": name, "actions": actions}],
        });
        let signed = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
        let signature = self.key.sign(&ring::rand::SystemRandom::new(), signed.as_bytes()).unwrap();
        format!("{signed}.{}", b64url(signature.as_ref()))
    }
}

/// A token service on loopback: USER with PASSWORD (Basic, or REFRESH_TOKEN
/// in an OAuth POST, as `docker login` leaves an identity token) gets what it
/// asks for; anyone gets `pull` on `public/*`; other credentials get 401.
/// Returns its realm URL.
fn serve_tokens(signer: Arc<TokenSigner>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let realm = format!("http://{}/token", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let signer = signer.clone();
            std::thread::spawn(move || answer_token_request(conn, &signer));
        }
    });
    realm
}

const REFRESH_TOKEN: &str = "identity-token-of-alice";

/// Whether a token request comes from USER; `Err` for credentials that are wrong.
fn token_user(authorization: Option<&str>, params: &HashMap<String, String>) -> Result<bool, ()> {
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}")));
    match (authorization, params.get("grant_type").map(String::as_str)) {
        (Some(a), _) => {
            if a == basic {
                Ok(true)
            } else {
                Err(())
            }
        }
        (None, Some("refresh_token")) => {
            if params.get("refresh_token").map(String::as_str) == Some(REFRESH_TOKEN) {
                Ok(true)
            } else {
                Err(())
            }
        }
        (None, _) => Ok(false),
    }
}

fn answer_token_request(mut conn: TcpStream, signer: &TokenSigner) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    let (mut authorization, mut length) = (None, 0);
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("authorization") {
                authorization = Some(value.trim().to_string());
            } else if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap();
            }
        }
        line.clear();
    }
    let mut body = vec![0; length];
    std::io::Read::read_exact(&mut reader, &mut body).unwrap();
    let target = request_line.split_whitespace().nth(1).unwrap_or_default();
    let query = target.split_once('?').map_or("", |(_, q)| q);
    // GET parameters in the query, OAuth POST ones in the form body.
    let params: HashMap<String, String> = [query, std::str::from_utf8(&body).unwrap()]
        .iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.into(), percent_decode(v)))
        .collect();
    let (status, body) = match (token_user(authorization.as_deref(), &params), params.get("scope")) {
        (Err(()), _) => ("401 Unauthorized", String::from("{\"errors\":[\"bad credentials\"]}")),
        (Ok(user), Some(scope)) => {
            let mut parts = scope.splitn(3, ':');
            let (_, name, actions) = (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let granted: Vec<String> = match user {
                true => actions.split(',').map(String::from).collect(),
                false if name.starts_with("public/") => vec!["pull".into()],
                false => Vec::new(),
            };
            let token = signer.token(if user { USER } else { "anonymous" }, name, &granted);
            // The OAuth answer says `access_token`, the GET one `token`.
            let key = if params.contains_key("grant_type") { "access_token" } else { "token" };
            ("200 OK", serde_json::json!({ key: token }).to_string())
        }
        (Ok(_), None) => ("400 Bad Request", String::from("{}")),
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// Puts images into a registry through its API, as `docker push` would.
struct Uploader<'a> {
    registry: &'a str,
    agent: ureq::Agent,
    /// `Authorization` for repository NAME.
    authorization: Box<dyn Fn(&str) -> String + 'a>,
}

impl Uploader<'_> {
    fn new<'a>(registry: &'a str, authorization: impl Fn(&str) -> String + 'a) -> Uploader<'a> {
        let agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        Uploader { registry, agent, authorization: Box::new(authorization) }
    }

    fn blob(&self, name: &str, content: &[u8]) -> serde_json::Value {
        let digest = sha256(content);
        let auth = (self.authorization)(name);
        let start = self
            .agent
            .post(&format!("http://{}/v2/{name}/blobs/uploads/", self.registry))
            .header("Authorization", &auth)
            .send_empty()
            .unwrap();
        assert_eq!(start.status().as_u16(), 202, "start an upload to {name}");
        let location = start.headers().get("Location").unwrap().to_str().unwrap().to_string();
        let location = if location.starts_with('/') { format!("http://{}{location}", self.registry) } else { location };
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = self
            .agent
            .put(&format!("{location}{sep}digest={digest}"))
            .header("Authorization", &auth)
            .header("Content-Type", "application/octet-stream")
            .send(content)
            .unwrap();
        assert_eq!(put.status().as_u16(), 201, "upload a blob to {name}");
        serde_json::json!({"digest": digest, "size": content.len()})
    }

    /// PUT a manifest; its digest.
    fn manifest(&self, name: &str, tag: &str, media_type: &str, manifest: &serde_json::Value) -> (String, usize) {
        let body = manifest.to_string();
        let put = self
            .agent
            .put(&format!("http://{}/v2/{name}/manifests/{tag}", self.registry))
            .header("Authorization", &(self.authorization)(name))
            .header("Content-Type", media_type)
            .send(body.as_bytes())
            .unwrap();
        assert_eq!(put.status().as_u16(), 201, "put manifest {name}:{tag}");
        (sha256(body.as_bytes()), body.len())
    }

    /// A one-layer image NAME:TAG; the digest of its manifest.
    fn image(&self, name: &str, tag: &str) -> (String, usize) {
        let mut config =
            self.blob(name, format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"tag\":\"{tag}\"}}").as_bytes());
        config["mediaType"] = "application/vnd.oci.image.config.v1+json".into();
        let mut layer = self.blob(name, format!("layer of {name}:{tag}").as_bytes());
        layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip".into();
        let media_type = "application/vnd.oci.image.manifest.v1+json";
        let manifest =
            serde_json::json!({"schemaVersion": 2, "mediaType": media_type, "config": config, "layers": [layer]});
        self.manifest(name, tag, media_type, &manifest)
    }

    /// An OCI index NAME:TAG over one image; the digest of the index.
    fn index(&self, name: &str, tag: &str) -> String {
        let (image, size) = self.image(name, &format!("{tag}-amd64"));
        let media_type = "application/vnd.oci.image.index.v1+json";
        let index = serde_json::json!({
            "schemaVersion": 2, "mediaType": media_type,
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": image, "size": size,
                           "platform": {"architecture": "amd64", "os": "linux"}}],
        });
        self.manifest(name, tag, media_type, &index).0
    }
}

/// A playbook pinning `images` (docker_image tasks with `extra` args), an
/// inventory of `localhost` over no connection, and a `DOCKER_CONFIG` folder.
struct Project {
    dir: TempDir,
}

impl Project {
    fn new(registry: &str, images: &[&str], extra: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let tasks: String =
            images.iter().map(|i| format!("    - docker_image:\n        name: \"{i}\"\n{extra}")).collect();
        write(dir.path().join("site.yml"), format!("- hosts: all\n  tasks:\n{tasks}"));
        write(
            dir.path().join("hosts.yml"),
            format!(
                "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n  vars:\n    push_insecure_registries: [\"{registry}\"]\n"
            ),
        );
        std::fs::create_dir(dir.path().join("docker")).unwrap();
        Project { dir }
    }

    fn docker_config(&self, json: serde_json::Value) {
        write(self.dir.path().join("docker/config.json"), json.to_string());
    }

    /// A credential helper `docker-credential-NAME` on PATH that knows
    /// USER's password for `server` only, as a real one does (and logs
    /// what it was asked).
    fn credential_helper(&self, name: &str, server: &str) {
        self.helper_script(
            name,
            &format!(
                "read -r server\nprintf '%s\\n' \"$server\" >>\"{log}\"\n\
                 if [ \"$server\" = '{server}' ]; then printf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' \"$server\"; \
                 else echo 'credentials not found in native keychain'; exit 1; fi\n",
                log = self.dir.path().join("helper.log").display()
            ),
        );
    }

    /// `docker-credential-NAME` on PATH running `body` for `get` (which
    /// reads the server's name on stdin, as every helper does).
    fn helper_script(&self, name: &str, body: &str) {
        let bin = self.dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let helper = bin.join(format!("docker-credential-{name}"));
        write(&helper, format!("#!/bin/sh\n[ \"$1\" = get ] || exit 1\n{body}"));
        let mut perms = std::fs::metadata(&helper).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&helper, perms).unwrap();
    }

    fn helper_log(&self) -> String {
        read(self.dir.path().join("helper.log"))
    }

    fn run(&self) -> RunOutput {
        let path = format!("{}:{}", self.dir.path().join("bin").display(), std::env::var("PATH").unwrap_or_default());
        PushCmd::new()
            .arg("run")
            .arg_path(&self.dir.path().join("site.yml"))
            .arg("-i")
            .arg_path(&self.dir.path().join("hosts.yml"))
            .args(["--check", "--format", "json"])
            .env("DOCKER_CONFIG", self.dir.path().join("docker"))
            .env("PATH", path)
            .current_dir(self.dir.path())
            .timeout(Duration::from_secs(120))
            .run()
    }
}

fn pinned(out: &RunOutput) -> HashMap<String, String> {
    let recap = out.recap();
    let pinned = recap.raw["pinned"].as_object().cloned().unwrap_or_default();
    pinned.into_iter().map(|(k, v)| (k, v.as_str().unwrap().to_string())).collect()
}

fn basic_registry() -> Registry {
    Registry::start(|dir| {
        let file = dir.join("htpasswd");
        write(&file, HTPASSWD);
        format!("  htpasswd:\n    realm: push-test\n    path: {}\n", file.display())
    })
}

fn basic_auth() -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}")))
}

/// An error is an input error naming the registry, the HTTP status and the way out.
fn assert_pin_error(out: &RunOutput, registry: &str, status: &str) {
    out.assert_code(4);
    let err = out.error_text();
    for needle in [registry, status, "--no-pin", "revert and rollback"] {
        assert!(err.contains(needle), "`{needle}` in:\n{err}");
    }
    assert!(!err.contains(PASSWORD), "the password never shows:\n{err}");
}

#[test]
fn basic_auth_registry_pins_with_docker_config_auths_or_the_playbook_and_explains_a_401() {
    require!(require_registry());
    let registry = basic_registry();
    let r = registry.addr.as_str();
    let up = Uploader::new(r, |_| basic_auth());
    let (web, _) = up.image("team/web", "v1");
    let index = up.index("team/multi", "v2");
    let images = [format!("{r}/team/web:v1"), format!("{r}/team/multi:v2")];
    let image_refs: Vec<&str> = images.iter().map(String::as_str).collect();

    // No credentials anywhere: a 401 that says what to do.
    let project = Project::new(r, &image_refs[..1], "");
    assert_pin_error(&project.run(), r, "HTTP 401");

    // `auths` in config.json, as `docker login` writes it.
    let project = Project::new(r, &image_refs, "");
    project.docker_config(serde_json::json!({"auths": {r: {"auth": base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))}}}));
    let out = project.run();
    out.assert_code(0);
    let pins = pinned(&out);
    assert_eq!(pins[&images[0]], web, "{out}");
    assert_eq!(pins[&images[1]], index, "an OCI index pins the index's digest: {out}");

    // A wrong password in config.json: refused, and said so.
    let project = Project::new(r, &image_refs[..1], "");
    project.docker_config(serde_json::json!({"auths": {r: {"auth": base64::engine::general_purpose::STANDARD.encode(format!("{USER}:wrong"))}}}));
    let out = project.run();
    assert_pin_error(&out, r, "HTTP 401");
    assert!(out.error_text().contains("were refused"), "{out}");

    // The playbook's username and password instead.
    let extra = format!("        username: {USER}\n        password: \"{{{{ registry_password }}}}\"\n");
    let project = Project::new(r, &image_refs[..1], &extra);
    write(project.dir.path().join("hosts.yml"), format!(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n  vars:\n    push_insecure_registries: [\"{r}\"]\n    registry_password: {PASSWORD}\n"
    ));
    let out = project.run();
    out.assert_code(0);
    assert_eq!(pinned(&out)[&images[0]], web, "{out}");
    assert!(!out.stdout().contains(PASSWORD) && !out.stderr().contains(PASSWORD), "{out}");
}

#[test]
fn token_auth_registry_pins_public_images_anonymously_and_private_ones_with_helpers_or_the_playbook() {
    require!(require_registry());
    let signer = Arc::new(TokenSigner::new());
    let realm = serve_tokens(signer.clone());
    let registry = Registry::start(|_| {
        format!(
            "  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            signer.cert_pem.display()
        )
    });
    let r = registry.addr.as_str();
    let up = Uploader::new(r, |name| format!("Bearer {}", signer.token(USER, name, &["pull".into(), "push".into()])));
    let (public, _) = up.image("public/web", "v1");
    let (private, _) = up.image("private/web", "v1");
    let index = up.index("private/multi", "v1");
    let public_ref = format!("{r}/public/web:v1");
    let private_refs = [format!("{r}/private/web:v1"), format!("{r}/private/multi:v1")];

    // A public image: an anonymous token, no credentials at all.
    let project = Project::new(r, &[&public_ref], "");
    let out = project.run();
    out.assert_code(0);
    assert_eq!(pinned(&out)[&public_ref], public, "{out}");

    // A private one without credentials: the token service grants nothing,
    // the registry says 401.
    let project = Project::new(r, &[&private_refs[0]], "");
    assert_pin_error(&project.run(), r, "HTTP 401");

    // `credHelpers` names the helper for this registry.
    let project = Project::new(r, &[&private_refs[0], &private_refs[1]], "");
    project.credential_helper("pushtest", r);
    project.docker_config(serde_json::json!({"credHelpers": {r: "pushtest"}}));
    let out = project.run();
    out.assert_code(0);
    let pins = pinned(&out);
    assert_eq!(pins[&private_refs[0]], private, "{out}");
    assert_eq!(pins[&private_refs[1]], index, "an OCI index pins the index's digest: {out}");
    assert!(project.helper_log().lines().all(|l| l == r), "the helper was asked for {r}: {}", project.helper_log());

    // `credsStore`: the helper for every registry.
    let project = Project::new(r, &[&private_refs[0]], "");
    project.credential_helper("pushstore", r);
    project.docker_config(serde_json::json!({"credsStore": "pushstore"}));
    let out = project.run();
    out.assert_code(0);
    assert_eq!(pinned(&out)[&private_refs[0]], private, "{out}");

    // A store that holds nothing for this registry: no credentials, so the
    // registry's 401 is what is reported.
    let project = Project::new(r, &[&private_refs[0]], "");
    project.credential_helper("pushstore", "another-registry.example");
    project.docker_config(serde_json::json!({"credsStore": "pushstore"}));
    assert_pin_error(&project.run(), r, "HTTP 401");

    // A helper that fails: its name and its words on stderr, never its stdout.
    let project = Project::new(r, &[&private_refs[0]], "");
    project.helper_script("pushstore", "read -r server\necho 'keychain is locked' >&2\necho 'half a secret'\nexit 1\n");
    project.docker_config(serde_json::json!({"credsStore": "pushstore"}));
    let out = project.run();
    out.assert_code(4);
    let err = out.error_text();
    assert!(err.contains("docker-credential-pushstore failed: keychain is locked"), "{err}");
    assert!(!err.contains("half a secret"), "{err}");

    // An identity token (what `docker login` keeps for some registries),
    // traded for an access token with an OAuth POST.
    let project = Project::new(r, &[&private_refs[0]], "");
    project.docker_config(serde_json::json!({"auths": {r: {"identitytoken": REFRESH_TOKEN}}}));
    let out = project.run();
    out.assert_code(0);
    assert_eq!(pinned(&out)[&private_refs[0]], private, "{out}");

    // The playbook's credentials buy the token.
    let extra = format!("        username: {USER}\n        password: {PASSWORD}\n");
    let project = Project::new(r, &[&private_refs[0]], &extra);
    let out = project.run();
    out.assert_code(0);
    assert_eq!(pinned(&out)[&private_refs[0]], private, "{out}");
}

#[test]
fn an_unreachable_registry_is_named_with_the_way_out() {
    require!(require_registry());
    // A port nothing listens on.
    let r = format!("127.0.0.1:{}", free_port());
    let image = format!("{r}/web:v1");
    let project = Project::new(&r, &[&image], "");
    let out = project.run();
    out.assert_code(4);
    let err = out.error_text();
    for needle in [format!("registry {r} cannot be reached"), "--no-pin".into()] {
        assert!(err.contains(&needle), "`{needle}` in:\n{err}");
    }
    // `--no-pin` is the way out: nothing is asked of the registry.
    let out = PushCmd::new()
        .arg("run")
        .arg_path(&project.dir.path().join("site.yml"))
        .arg("-i")
        .arg_path(&project.dir.path().join("hosts.yml"))
        .args(["--check", "--no-pin", "--format", "json"])
        .env("DOCKER_CONFIG", project.dir.path().join("docker"))
        .timeout(Duration::from_secs(120))
        .run();
    assert_ne!(out.code(), 4, "{out}");
}
