//! Registries as a first run on a real host meets them, on one lab host
//! whose Docker engine runs already (`push lab up --prepared`):
//!
//! - `playbooks/web.yml`: the play's `docker_host` adds the lab's registry
//!   to daemon.json, and that change takes effect before the `docker_unit`
//!   pulls from it, so the successful run shows no pull error and Docker
//!   restarts once.
//! - A registry that wants a login (htpasswd): the playbook's `docker_image`
//!   `username`/`password` pin the tag on the controller and log the host
//!   in through `docker login --password-stdin`; a `docker_unit` runs the
//!   image; no credentials stay on the host.
//!
//! Needs a Docker engine (`tests/run` leaves `lab*` binaries out without
//! one, counting them as skipped). Every address used is a lab
//! container's on this machine, or this machine's on the lab network.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use push_tests::{read, require, require_docker, run_with_timeout, write, PushCmd, RunOutput, TestLab};

const RUN_TIMEOUT: Duration = Duration::from_secs(10 * 60);
const USER: &str = "alice";
const PASSWORD: &str = "s3cret-pass";
/// `htpasswd -B` for USER and PASSWORD (bcrypt, as distribution wants).
const HTPASSWD: &str = "alice:$2b$05$boQjJPsZrVl4Rf0AmYyNWu8uWbu2zIq2vnBeq.22Ku3qVZywTwr/e\n";

fn docker(args: &[&str]) -> String {
    let out = run_with_timeout(Command::new("docker").args(args), Duration::from_secs(180));
    assert!(out.success(), "docker {args:?}: {out}");
    out.stdout.trim().to_string()
}

fn push_run(playbook: &Path, lab: &TestLab, docker_config: &Path) -> RunOutput {
    PushCmd::new()
        .arg("run")
        .arg_path(playbook)
        .arg("-i")
        .arg_path(&lab.inventory())
        .args(["--format", "json"])
        // The controller's own Docker logins stay out of it.
        .env("DOCKER_CONFIG", docker_config)
        .timeout(RUN_TIMEOUT)
        .run()
}

/// A registry container on the lab network that wants USER's password,
/// published on the network's gateway (for the host) and on loopback (for
/// this machine's engine); removed on drop.
struct PrivateRegistry {
    container: String,
    /// `GATEWAY:PORT`, as the host and the controller reach it.
    address: String,
    /// `127.0.0.1:PORT`, as this machine's engine pushes to it.
    local: String,
}

impl PrivateRegistry {
    fn start(lab: &TestLab, gateway: &str, auth_dir: &Path) -> PrivateRegistry {
        let container = format!("{}-private-registry", lab.name);
        write(auth_dir.join("htpasswd"), HTPASSWD);
        let port = "5001";
        docker(&[
            "run",
            "--detach",
            "--name",
            &container,
            "--network",
            &format!("push-lab-{}", lab.name),
            "--label",
            &format!("push.lab={}", lab.name),
            "--volume",
            &format!("{}:/auth:ro", auth_dir.display()),
            "--env",
            "REGISTRY_AUTH=htpasswd",
            "--env",
            "REGISTRY_AUTH_HTPASSWD_REALM=push-test",
            "--env",
            "REGISTRY_AUTH_HTPASSWD_PATH=/auth/htpasswd",
            "--publish",
            &format!("{gateway}:{port}:5000"),
            "--publish",
            "127.0.0.1::5000",
            "push-lab/registry:2.8",
        ]);
        let local = docker(&["port", &container, "5000"]);
        let local = local.lines().find(|l| l.starts_with("127.0.0.1:")).expect("published on loopback").to_string();
        wait_until_it_answers(&local);
        PrivateRegistry { container, address: format!("{gateway}:{port}"), local }
    }
}

/// Docker's port mapping accepts connections before the registry in the
/// container listens (they are reset then): wait for an HTTP answer.
fn wait_until_it_answers(addr: &str) {
    use std::io::{Read, Write};
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let answer = std::net::TcpStream::connect(addr).and_then(|mut c| {
            c.set_read_timeout(Some(Duration::from_secs(5)))?;
            c.write_all(b"GET /v2/ HTTP/1.0\r\n\r\n")?;
            let mut head = [0u8; 5];
            c.read_exact(&mut head)?;
            Ok(head)
        });
        match answer {
            Ok(head) if &head == b"HTTP/" => return,
            _ if std::time::Instant::now() > deadline => panic!("the registry at {addr} never answered"),
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

impl Drop for PrivateRegistry {
    fn drop(&mut self) {
        let _ = run_with_timeout(Command::new("docker").args(["rm", "-f", &self.container]), Duration::from_secs(60));
    }
}

#[test]
fn lab_first_runs_pull_after_the_new_daemon_json_and_private_images_log_in_on_stdin() {
    require!(require_docker());
    let lab = TestLab::new("pt-reg");
    lab.lab(&["up", "--hosts", "1", "--prepared"]).assert_code(0);
    lab.lab(&["images", "web"]).assert_code(0);
    let host = lab.host(1);
    let registry = read(lab.inventory().join("hosts.yml"))
        .lines()
        .find_map(|l| l.trim().strip_prefix("lab_registry:").map(|r| r.trim().trim_matches('"').to_string()))
        .expect("the lab's inventory names its registry");
    let trusted = || lab.on_ok(&host, "docker info -f '{{json .RegistryConfig.IndexConfigs}}'");
    assert!(!trusted().contains(&registry), "the engine must not trust {registry} before the run: {}", trusted());
    let docker_config = lab.dir.path().join("controller-docker");
    std::fs::create_dir_all(&docker_config).unwrap();

    // web.yml's first run: the pull comes after the restart, and says nothing false.
    let out = push_run(&push_tests::workspace().join("playbooks/web.yml"), &lab, &docker_config);
    out.assert_code(0);
    let text = format!("{}\n{}", out.stdout(), out.stderr());
    for false_error in ["pull failed", "HTTP response to HTTPS client"] {
        assert!(!text.contains(false_error), "a successful first run says `{false_error}`:\n{out}");
    }
    let unit = out.task(&host, "Web container");
    assert_eq!(unit.status, "changed", "{unit:?}");
    assert!(unit.msg.contains("docker restarted first"), "the pull came after the restart: {}", unit.msg);
    // The restart at the end of the play finds the engine on the new
    // daemon.json already: Docker restarted once, not twice.
    let restart = out.task(&host, "restart docker");
    assert_eq!(restart.status, "ok", "{restart:?}");
    assert_eq!(lab.on_ok(&host, "systemctl is-active web"), "active");
    assert!(trusted().contains(&registry), "the engine trusts {registry} after the run: {}", trusted());

    // A registry that wants a login, its image put there by this machine's
    // engine under a throwaway Docker config.
    let gateway = registry.rsplit_once(':').expect("GATEWAY:PORT").0;
    let private = PrivateRegistry::start(&lab, gateway, &lab.dir.path().join("auth"));
    let pusher = lab.dir.path().join("pusher-docker");
    let config = pusher.to_str().unwrap();
    let login = run_with_timeout(
        Command::new("sh").args([
            "-c",
            &format!(
                "printf '%s' '{PASSWORD}' | docker --config '{config}' login -u {USER} --password-stdin {}",
                private.local
            ),
        ]),
        Duration::from_secs(60),
    );
    assert!(login.success(), "{login}");
    let local_ref = format!("{}/private/web:v1", private.local);
    docker(&["tag", "push-lab/web:v1", &local_ref]);
    docker(&["--config", config, "push", &local_ref]);

    let dir = lab.dir.path();
    write(
        dir.join("private.yml"),
        format!(
            "push_insecure_registries: [\"{registry}\", \"{r}\"]\nprivate_registry: \"{r}\"\nprivate_password: \"{PASSWORD}\"\n",
            r = private.address
        ),
    );
    write(
        dir.join("private-site.yml"),
        format!(
            "- hosts: all\n  become: true\n  vars_files: [private.yml]\n  tasks:\n\
             \x20   - docker_host:\n        insecure_registries: [\"{{{{ lab_registry }}}}\", \"{{{{ private_registry }}}}\"]\n\
             \x20   - name: Private image\n      docker_image:\n        name: \"{{{{ private_registry }}}}/private/web:v1\"\n\
             \x20       username: {USER}\n        password: \"{{{{ private_password }}}}\"\n\
             \x20   - name: Private web\n      docker_unit:\n        name: private-web\n\
             \x20       image: \"{{{{ private_registry }}}}/private/web:v1\"\n        ports: [\"8081:80\"]\n"
        ),
    );
    let out = push_run(&dir.join("private-site.yml"), &lab, &docker_config);
    out.assert_code(0);
    let pinned = out.recap().raw["pinned"].clone();
    let image_ref = format!("{}/private/web:v1", private.address);
    assert!(
        pinned[&image_ref].as_str().is_some_and(|d| d.starts_with("sha256:")),
        "pinned with the playbook's login: {pinned}\n{out}"
    );
    let image = out.task(&host, "Private image");
    assert_eq!(image.status, "changed", "{image:?}");
    assert!(image.msg.contains("restarted docker first"), "the pull came after the restart: {}", image.msg);
    assert_eq!(lab.on_ok(&host, "systemctl is-active private-web"), "active");
    assert!(!out.stdout().contains(PASSWORD) && !out.stderr().contains(PASSWORD), "the password never shows:\n{out}");
    // The login lived in a folder that went with the step: nothing of it is left.
    let left = lab.on(&host, &format!("grep -rl '{}' /root/.docker /etc/docker 2>/dev/null || true", private.address));
    assert_eq!(left.stdout.trim(), "/etc/docker/daemon.json", "only daemon.json names the registry: {left}");
}
