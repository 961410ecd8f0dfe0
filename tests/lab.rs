//! `push lab` against the real Docker engine: hosts that boot systemd and
//! take SSH logins with strict host-key checking, the files `up` writes,
//! `down` leaving nothing behind, one-line errors for bad input, and the
//! example images (web, mail, webmail) doing their jobs.
//!
//! Without a Docker engine these tests fail saying so (`tests/run` leaves
//! this file out then, counting it as skipped). Each test uses its own lab name and inventory folder, so they
//! run in parallel; the base image is built by whichever test comes first
//! (a lock in the cache folder makes the others wait) and reused after.
//! Every address used is a container's on this machine.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use push_tests::{read, require, require_docker, run_with_timeout, write, CmdOutput, PushCmd, RunOutput, TestLab};

fn docker(args: &[&str]) -> CmdOutput {
    run_with_timeout(Command::new("docker").args(args), Duration::from_secs(120))
}

fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(out.success(), "{out}");
    out.stdout.trim().to_string()
}

/// The lab of one test (see [`TestLab`]), with a few shortcuts on top.
struct Lab(TestLab);

impl std::ops::Deref for Lab {
    type Target = TestLab;
    fn deref(&self) -> &TestLab {
        &self.0
    }
}

impl Lab {
    fn new(prefix: &str) -> Lab {
        Lab(TestLab::new(prefix))
    }
    fn ssh_config(&self) -> PathBuf {
        self.inventory().join(".ssh/ssh_config")
    }
    fn network(&self) -> String {
        format!("push-lab-{}", self.name)
    }

    /// `push lab SUBCOMMAND --name NAME [-i DIR] EXTRA...`
    fn push(&self, args: &[&str]) -> RunOutput {
        self.lab(args)
    }

    fn up(&self, hosts: u32) -> RunOutput {
        let out = self.push(&["up", "--hosts", &hosts.to_string()]);
        out.assert_code(0);
        out
    }

    /// `ssh -F <lab ssh_config> HOST -- COMMAND` with the system client.
    fn ssh(&self, host: &str, command: &str) -> CmdOutput {
        let mut cmd = Command::new("ssh");
        cmd.arg("-F").arg(self.ssh_config()).arg(host).arg("--").arg(command);
        run_with_timeout(&mut cmd, Duration::from_secs(120))
    }

    fn labeled(&self, kind: &str) -> Vec<String> {
        let filter = format!("label=push.lab={}", self.name);
        let out = match kind {
            "container" => docker_ok(&["ps", "-a", "-q", "--filter", &filter]),
            "network" => docker_ok(&["network", "ls", "-q", "--filter", &filter]),
            _ => docker_ok(&["volume", "ls", "-q", "--filter", &filter]),
        };
        out.lines().map(str::to_string).collect()
    }

    fn container_ids(&self) -> Vec<String> {
        let mut ids = self.labeled("container");
        ids.sort();
        ids
    }

    /// The inventory's `lab_registry` (GATEWAY:5000).
    fn registry(&self) -> String {
        let yml = read(self.inventory().join("hosts.yml"));
        let line =
            yml.lines().find(|l| l.trim_start().starts_with("lab_registry:")).expect("lab_registry in hosts.yml");
        line.split_once(':').unwrap().1.trim().trim_matches('"').to_string()
    }

    /// A container's address on the lab network.
    fn address(&self, container: &str) -> String {
        docker_ok(&[
            "inspect",
            "-f",
            &format!("{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}", self.network()),
            container,
        ])
    }
}

/// Processes whose command line mentions `needle` (an ssh using our config).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if !entry.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if let Ok(raw) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
            if cmdline.contains(needle) {
                found.push(format!("{}: {cmdline}", entry.file_name().to_string_lossy()));
            }
        }
    }
    found
}

fn one_line_error(out: &RunOutput, code: i32, expected: &str) {
    out.assert_code(code);
    let err = out.stderr().trim();
    assert_eq!(err.lines().count(), 1, "expected a one-line error:\n{out}");
    assert!(err.starts_with("error: "), "{out}");
    assert!(err.contains(expected), "expected {expected:?} in the error:\n{out}");
    assert!(out.stdout().is_empty(), "{out}");
}

#[test]
fn lab_up_ssh_push_idempotent_grow_and_down_leaves_nothing() {
    require!(require_docker());
    let lab = Lab::new("pt-e2e");
    let t = Instant::now();
    let first = lab.up(2);
    eprintln!("up --hosts 2: {:.1}s", t.elapsed().as_secs_f64());
    assert!(first.stdout().contains(&format!("lab `{}` is up", lab.name)), "{first}");

    // The files: absolute paths, strict checking, no way around it.
    let inv = lab.inventory();
    let hosts_yml = read(inv.join("hosts.yml"));
    for needle in [
        format!("{}:", lab.name.replace('-', "_")),
        format!("push_ssh_config: \"{}\"", lab.ssh_config().display()),
        format!("ansible_ssh_private_key_file: \"{}\"", inv.join(".ssh/id_ed25519").display()),
        "ansible_user: root".to_string(),
    ] {
        assert!(hosts_yml.contains(&needle), "{needle:?} not in hosts.yml:\n{hosts_yml}");
    }
    let ssh_config = read(lab.ssh_config());
    assert!(ssh_config.contains("StrictHostKeyChecking yes") && ssh_config.contains("KexAlgorithms curve25519-sha256"));
    for file in [lab.ssh_config(), inv.join("hosts.yml"), inv.join(".ssh/known_hosts")] {
        let text = read(&file).to_lowercase();
        assert!(
            !text.contains("stricthostkeychecking no") && !text.contains("stricthostkeychecking=no"),
            "{}",
            file.display()
        );
    }
    assert!(read(inv.join(".ssh/id_ed25519.pub")).starts_with("ssh-ed25519 "));

    // Each host: systemd running, reached by name with strict host-key
    // checking, fresh (no Docker, no python3), sudo there.
    for i in 1..=2 {
        let host = lab.host(i);
        let out =
            lab.ssh(&host, "systemctl is-system-running; hostname; command -v docker python3 || true; command -v sudo");
        assert!(out.success(), "ssh {host}:\n{out}");
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines, ["running", host.as_str(), "/usr/bin/sudo"], "{out}");
        assert!(!out.stderr.contains("Permanently added"), "{out}");
    }
    let apt = lab.ssh(&lab.host(1), "apt-get update -qq && apt-get --version | head -1");
    assert!(apt.success() && apt.stdout.starts_with("apt "), "{apt}");

    // Strict for real: with someone else's key in known_hosts, ssh refuses.
    let wrong = lab.dir.path().join("wrong_known_hosts");
    let other_key = read(inv.join(".ssh/id_ed25519.pub"));
    let other_key = other_key.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    let addr1 = lab.address(&lab.host(1));
    write(&wrong, format!("{},{addr1} {other_key}\n", lab.host(1)));
    let wrong_config = lab.dir.path().join("wrong_ssh_config");
    write(
        &wrong_config,
        ssh_config.replace(&inv.join(".ssh/known_hosts").display().to_string(), &wrong.display().to_string()),
    );
    let mut cmd = Command::new("ssh");
    cmd.arg("-F").arg(&wrong_config).arg(lab.host(1)).arg("true");
    let refused = run_with_timeout(&mut cmd, Duration::from_secs(60));
    assert_eq!(refused.code, Some(255), "{refused}");
    assert!(
        refused.stderr.contains("Host key verification failed")
            || refused.stderr.contains("HOST IDENTIFICATION HAS CHANGED"),
        "{refused}"
    );

    // `push run` through the inventory folder; its ssh temp files go to a
    // folder of ours, checked after `down`.
    let playbook = lab.dir.path().join("smoke.yml");
    write(
        &playbook,
        "- name: Lab smoke\n  hosts: all\n  tasks:\n    - name: systemd is up\n      command: systemctl is-system-running\n    - name: A file\n      copy:\n        dest: /root/push-lab-smoke\n        content: \"hello\\n\"\n",
    );
    let tmp = lab.dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let run = PushCmd::run_playbook(&playbook, &inv).args(["--format", "json"]).env("TMPDIR", &tmp).run();
    run.assert_code(0);
    for i in 1..=2 {
        let r = run.recap().host(&lab.host(i));
        assert_eq!((r.failed, r.unreachable), (0, 0), "{run}");
    }
    assert_eq!(lab.ssh(&lab.host(2), "cat /root/push-lab-smoke").stdout, "hello\n");

    // `up` again: same hosts, same keys, same files.
    let before: Vec<String> = [".ssh/known_hosts", ".ssh/id_ed25519", ".ssh/ssh_config", "hosts.yml"]
        .iter()
        .map(|f| read(inv.join(f)))
        .collect();
    let ids = lab.container_ids();
    let t = Instant::now();
    lab.up(2);
    eprintln!("up again: {:.1}s", t.elapsed().as_secs_f64());
    let after: Vec<String> = [".ssh/known_hosts", ".ssh/id_ed25519", ".ssh/ssh_config", "hosts.yml"]
        .iter()
        .map(|f| read(inv.join(f)))
        .collect();
    assert_eq!(before, after, "a second `up` changed the files");
    assert_eq!(ids, lab.container_ids(), "a second `up` changed the containers");

    // Growing: one more host, the first two untouched.
    let grown = lab.up(3);
    let ids3 = lab.container_ids();
    assert_eq!(ids3.len(), ids.len() + 1, "{grown}");
    assert!(ids.iter().all(|id| ids3.contains(id)));
    let out = lab.ssh(&lab.host(3), "systemctl is-system-running");
    assert_eq!(out.stdout.trim(), "running", "{out}");
    let known = read(inv.join(".ssh/known_hosts"));
    assert!(before[0].lines().all(|l| known.contains(l)), "the first hosts' keys changed:\n{known}");
    assert_eq!(read(inv.join(".ssh/id_ed25519")), before[1], "the client key changed");

    let status = lab.push(&["status"]);
    status.assert_code(0);
    for i in 1..=3 {
        assert!(status.stdout().contains(&format!("{}  ", lab.host(i))), "{status}");
    }
    assert_eq!(status.stdout().matches("running (systemd: running)").count(), 3, "{status}");

    // Down: nothing left.
    let down = lab.push(&["down"]);
    down.assert_code(0);
    assert!(lab.labeled("container").is_empty(), "containers left:\n{down}");
    assert!(lab.labeled("network").is_empty(), "networks left:\n{down}");
    assert!(lab.labeled("volume").is_empty(), "volumes left:\n{down}");
    assert!(!inv.exists(), "{} still exists:\n{down}", inv.display());
    assert!(!docker(&["network", "inspect", &lab.network()]).success());
    let ssh_left = processes_mentioning(&inv.display().to_string());
    assert!(ssh_left.is_empty(), "processes still using the lab's files: {ssh_left:?}");
    let tmp_left: Vec<_> = std::fs::read_dir(&tmp).unwrap().flatten().map(|e| e.path()).collect();
    assert!(tmp_left.is_empty(), "ssh control files left: {tmp_left:?}");
    let again = lab.push(&["down"]);
    again.assert_code(0);
    assert!(again.stdout().contains("nothing to remove"), "{again}");
}

#[test]
fn lab_bad_input_is_one_line_and_exits_4_or_5() {
    // These need no Docker engine: refused before any is asked.
    let dir = tempfile::tempdir().unwrap();
    let lab = |args: &[&str]| PushCmd::new().arg("lab").args(args.iter().copied()).current_dir(dir.path()).run();
    one_line_error(&lab(&["up", "--hosts", "0", "--name", "pt-bad"]), 5, "--hosts must be between 1 and 50 (got 0)");
    one_line_error(&lab(&["up", "--hosts", "51", "--name", "pt-bad"]), 5, "--hosts must be between 1 and 50 (got 51)");
    for name in ["Bad_Name", "a23456789012345678901", "-x", "lab.1", "lab 1"] {
        one_line_error(&lab(&["up", &format!("--name={name}")]), 5, "invalid lab name");
    }
    one_line_error(&lab(&["down", "--name", "UPPER"]), 5, "invalid lab name `UPPER`");
    one_line_error(
        &lab(&["images", "--name", "pt-bad", "db"]),
        5,
        "unknown lab image `db`: choose from web, mail, webmail",
    );

    // No Docker CLI, and a Docker engine that does not answer.
    let no_docker = PushCmd::new()
        .args(["lab", "up", "--name", "pt-bad"])
        .env("PATH", "/nonexistent")
        .current_dir(dir.path())
        .run();
    one_line_error(&no_docker, 4, "docker not found: install it with `apt-get install -y docker.io`");
    let dead = format!("unix://{}", dir.path().join("no-docker.sock").display());
    let stopped =
        PushCmd::new().args(["lab", "up", "--name", "pt-bad"]).env("DOCKER_HOST", &dead).current_dir(dir.path()).run();
    if std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("docker").is_file())) {
        one_line_error(&stopped, 4, "Docker engine not running: start it with `dockerd &` or `systemctl start docker`");
    }
    assert!(!dir.path().join("inventories").exists(), "a refused command wrote files");
}

#[test]
fn lab_refuses_names_taken_by_foreign_containers_and_networks() {
    require!(require_docker());
    let lab = Lab::new("pt-foreign");
    let (name, taken, network) = (lab.name.clone(), lab.host(2), lab.network());
    // An empty image is enough to create (not start) a container.
    let image = format!("push-lab-test/empty:{}", std::process::id());
    let mut import = Command::new("sh");
    import.args(["-c", &format!("tar -cf - -T /dev/null | docker import - {image}")]);
    let imported = run_with_timeout(&mut import, Duration::from_secs(60));
    assert!(imported.success(), "{imported}");
    docker_ok(&["create", "--name", &taken, &image, "/none"]);
    let out = lab.push(&["up", "--hosts", "2"]);
    docker_ok(&["rm", "-f", &taken]);
    one_line_error(
        &out,
        4,
        &format!("a container named `{taken}` exists and is not part of lab `{name}` (no push.lab={name} label)"),
    );
    docker_ok(&["network", "create", &network]);
    let out = lab.push(&["up", "--hosts", "1"]);
    docker_ok(&["network", "rm", &network]);
    let _ = docker(&["rmi", &image]);
    one_line_error(&out, 4, &format!("a network named `{network}` exists and is not part of lab `{name}`"));
    // Nothing was created for the refused lab.
    assert!(lab.labeled("container").is_empty() && lab.labeled("network").is_empty());

    // `images` needs the lab up.
    one_line_error(
        &lab.push(&["images", "web"]),
        4,
        &format!("lab `{name}` is not up: run `push lab up --name {name}` first"),
    );
}

/// Retry `f` until it returns Some or `limit` passes.
fn eventually<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn curl(args: &[&str]) -> CmdOutput {
    run_with_timeout(Command::new("curl").args(["-sS", "--max-time", "20"]).args(args), Duration::from_secs(30))
}

/// The slow one: build every example image, push them into the lab's
/// registry, and check each does its job.
#[test]
fn lab_images_web_versions_mail_and_webmail_work() {
    require!(require_docker());
    if !Path::new("/usr/bin/curl").is_file() {
        push_tests::skip("needs curl (apt-get install -y curl) to talk HTTP, SMTP and IMAP to the images");
        return;
    }
    let lab = Lab::new("pt-images");
    let (mail_name, webmail_name) = (format!("{}-mail", lab.name), format!("{}-webmail", lab.name));
    lab.up(1);
    let t = Instant::now();
    let images = lab.push(&["images"]);
    images.assert_code(0);
    eprintln!("push lab images: {:.1}s\n{}", t.elapsed().as_secs_f64(), images.stderr());
    let registry = lab.registry();

    // The registry, from this machine at the address the hosts use, and
    // from a host (bash's /dev/tcp: a fresh host has no curl).
    let catalog = curl(&[&format!("http://{registry}/v2/_catalog")]);
    assert!(catalog.success(), "{catalog}");
    assert!(
        catalog.stdout.contains("\"mail\"")
            && catalog.stdout.contains("\"web\"")
            && catalog.stdout.contains("\"webmail\""),
        "{catalog}"
    );
    let tags = curl(&[&format!("http://{registry}/v2/web/tags/list")]);
    for v in ["v1", "v2", "v3"] {
        assert!(tags.stdout.contains(&format!("\"{v}\"")), "{tags}");
    }
    let (gw, port) = registry.split_once(':').unwrap();
    let from_host = lab.ssh(
        &lab.host(1),
        &format!("exec 3<>/dev/tcp/{gw}/{port} && printf 'GET /v2/_catalog HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3"),
    );
    assert!(from_host.stdout.contains("\"webmail\""), "{from_host}");

    // Containers for the checks join the lab (label and network), so
    // `down` removes them with it.
    let label = format!("push.lab={}", lab.name);
    let net = lab.network();
    let run = |name: &str, extra: &[&str], image: &str| {
        let mut args = vec!["run", "-d", "--name", name, "--hostname", name, "--label", &label, "--network", &net];
        args.extend_from_slice(extra);
        args.push(image);
        let _ = docker(&["rm", "-f", "-v", name]);
        docker_ok(&args);
        lab.address(name)
    };

    // web: v1 and v2 healthy and showing their version; v3 up but not on port 80.
    for v in ["v1", "v2", "v3"] {
        let addr = run(&format!("{}-web-{v}", lab.name), &[], &format!("push-lab/web:{v}"));
        let page_port = if v == "v3" { "8080" } else { "80" };
        let page = eventually(Duration::from_secs(20), || {
            let out = curl(&[&format!("http://{addr}:{page_port}/")]);
            out.success().then_some(out.stdout)
        })
        .unwrap_or_else(|| panic!("web {v} never answered"));
        assert!(page.contains(&format!("Hello from web {v}")), "{page}");
        let health = curl(&["-o", "/dev/null", "-w", "%{http_code}", &format!("http://{addr}/health")]);
        if v == "v3" {
            assert!(!health.success() && health.stdout == "000", "v3 must fail its health check:\n{health}");
        } else {
            assert_eq!(health.stdout, "200", "{health}");
        }
    }

    // mail: SMTP in on 25 and 587 for a local domain, IMAP out on 143.
    let users = lab.dir.path().join("users");
    write(&users, "# test users\nalice:{PLAIN}wonderland\n");
    let mail = run(
        &mail_name,
        &[
            "-e",
            "LOCAL_DOMAINS=example.test lab.test",
            "-e",
            "MAIL_USERS=bob:{PLAIN}builder",
            "-v",
            &format!("{}:/etc/mail/users:ro", users.display()),
        ],
        "push-lab/mail:latest",
    );
    let message = lab.dir.path().join("message.txt");
    let token = format!("push-lab-{}", std::process::id());
    write(
        &message,
        format!("From: tester@outside.test\r\nTo: alice@example.test\r\nSubject: {token}\r\n\r\nHello Alice.\r\n"),
    );
    let send = |port: &str, rcpt: &str| {
        curl(&[
            &format!("smtp://{mail}:{port}"),
            "--mail-from",
            "tester@outside.test",
            "--mail-rcpt",
            rcpt,
            "-T",
            &message.display().to_string(),
        ])
    };
    let sent = eventually(Duration::from_secs(30), || send("25", "alice@example.test").success().then_some(()));
    assert!(
        sent.is_some(),
        "SMTP on 25 never accepted mail:\n{}\n{}",
        send("25", "alice@example.test"),
        docker(&["logs", &mail_name])
    );
    let on_587 = send("587", "bob@lab.test");
    assert!(on_587.success(), "{on_587}");
    let unknown = send("25", "nobody@example.test");
    assert!(!unknown.success(), "mail for an unknown user was accepted:\n{unknown}");
    let relay = send("25", "someone@elsewhere.test");
    assert!(!relay.success(), "the mail server relays:\n{relay}");
    let read_inbox = |user: &str| {
        eventually(Duration::from_secs(20), || {
            let out = curl(&["--user", user, &format!("imap://{mail}:143/INBOX;UID=1")]);
            (out.success() && out.stdout.contains(&token)).then_some(out.stdout)
        })
    };
    let alice = read_inbox("alice:wonderland")
        .unwrap_or_else(|| panic!("alice's mail never arrived:\n{}", docker(&["logs", &mail_name])));
    assert!(alice.contains("Hello Alice."), "{alice}");
    assert!(read_inbox("bob@lab.test:builder").is_some(), "bob's mail (via 587) never arrived");
    let wrong = curl(&["--user", "alice:wrong", &format!("imap://{mail}:143/INBOX")]);
    assert!(!wrong.success(), "a wrong password logged in:\n{wrong}");

    // webmail: Roundcube logs alice in through the mail container's IMAP.
    let webmail = run(&webmail_name, &["-e", &format!("MAIL_HOST={mail_name}")], "push-lab/webmail:latest");
    let jar = lab.dir.path().join("cookies").display().to_string();
    let login_page = eventually(Duration::from_secs(30), || {
        let out = curl(&["-c", &jar, "-b", &jar, &format!("http://{webmail}/")]);
        (out.success() && out.stdout.contains("_token")).then_some(out.stdout)
    })
    .unwrap_or_else(|| panic!("webmail never answered:\n{}", docker(&["logs", &webmail_name])));
    assert!(login_page.contains("push lab webmail"), "{login_page}");
    let token_field =
        login_page.split("name=\"_token\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("login token");
    let login = |password: &str| {
        curl(&[
            "-c",
            &jar,
            "-b",
            &jar,
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            "--data-urlencode",
            &format!("_token={token_field}"),
            "--data",
            "_task=login&_action=login&_timezone=UTC&_url=",
            "--data-urlencode",
            "_user=alice",
            "--data-urlencode",
            &format!("_pass={password}"),
            &format!("http://{webmail}/?_task=login"),
        ])
    };
    let ok = login("wonderland");
    assert!(
        ok.stdout.starts_with("302 ") && ok.stdout.contains("_task=mail"),
        "login failed:\n{ok}\n{}",
        docker(&["logs", &webmail_name])
    );
    let inbox = curl(&["-b", &jar, &format!("http://{webmail}/?_task=mail&_mbox=INBOX")]);
    assert!(inbox.stdout.contains("Inbox"), "{inbox}");

    let down = lab.push(&["down"]);
    down.assert_code(0);
    assert!(lab.labeled("container").is_empty() && lab.labeled("volume").is_empty(), "{down}");
}
