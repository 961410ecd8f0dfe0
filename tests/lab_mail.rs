//! The mail example (`playbooks/mail.yml`) for real, on a fresh lab host:
//! Docker installed by `docker_host`, the mail server and webmail as
//! container units, `ssh mailserver@HOST` into the container. One lab for
//! the whole story, torn down at the end, pass or fail.
//!
//! Needs a Docker engine (`tests/run` leaves `lab*` binaries out without
//! one, counting them as skipped); the images come from `push lab images`.
//! Every address used is a lab container's on this machine.
//!
//! On an idle 2-core machine with the base images cached it takes about
//! 100 s: `up` 2 s, `images` 13 s, the first run (Docker installed from
//! Debian, two images pulled, two containers started) 25-35 s, the no-op
//! run 1 s, `docker kill mail` to a new running container 6 s. The lab's
//! inner Docker uses the vfs storage driver, so creating and removing a
//! container copies its whole file tree: every recreate costs seconds.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use push_tests::mail::{http_get, read_inbox, send_mail, wait_for_mail, wait_listening};
use push_tests::{read, require, require_docker, run_with_timeout, write, CmdOutput, PushCmd, RunOutput, TestLab};

/// A first run installs Docker and pulls ~500 MB into a vfs-backed engine.
const RUN_TIMEOUT: Duration = Duration::from_secs(10 * 60);

fn playbooks() -> PathBuf {
    push_tests::workspace().join("playbooks")
}

/// One lab host, with what the mail story needs on top.
struct MailLab(TestLab);

impl std::ops::Deref for MailLab {
    type Target = TestLab;
    fn deref(&self) -> &TestLab {
        &self.0
    }
}

impl MailLab {
    fn host(&self) -> String {
        self.0.host(1)
    }

    /// `push run PLAYBOOK -i INVENTORY --format json EXTRA...`
    fn run(&self, playbook: &Path, extra: &[&str]) -> RunOutput {
        PushCmd::run_playbook(playbook, &self.inventory())
            .args(["--format", "json"])
            .args(extra.iter().copied())
            .timeout(RUN_TIMEOUT)
            .run()
    }

    fn on_host(&self, script: &str) -> CmdOutput {
        self.on(&self.host(), script)
    }

    fn on_host_ok(&self, script: &str) -> String {
        self.on_ok(&self.host(), script)
    }

    /// `ID STARTED` of a container on the host, or "" when there is none.
    fn container(&self, name: &str) -> String {
        self.on_host(&format!(
            "docker inspect -f '{{{{.Id}}}} {{{{.State.StartedAt}}}} {{{{.State.Running}}}}' {name} 2>/dev/null"
        ))
        .stdout
        .trim()
        .to_string()
    }

    /// Wait until container `name` runs with an id other than `old`.
    fn wait_recreated(&self, name: &str, old: &str, limit: Duration) -> (String, Duration) {
        let t = Instant::now();
        loop {
            let now = self.container(name);
            if now.ends_with(" true") && now.split(' ').next() != old.split(' ').next() {
                return (now, t.elapsed());
            }
            assert!(t.elapsed() < limit, "{name} not recreated within {limit:?} (now: {now:?})");
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn address(&self) -> String {
        let yml = read(self.inventory().join("hosts.yml"));
        let line = yml.lines().find(|l| l.trim_start().starts_with("ansible_host:")).expect("ansible_host");
        line.split_once(':').unwrap().1.trim().trim_matches('"').to_string()
    }

    /// `ssh -F <lab ssh_config> [OPTIONS] USER@HOST COMMAND` with the system client.
    fn ssh(&self, user: &str, options: &[&str], command: &str) -> CmdOutput {
        let mut cmd = Command::new("ssh");
        cmd.arg("-F").arg(self.inventory().join(".ssh/ssh_config")).args(options);
        cmd.arg(format!("{user}@{}", self.host())).arg("--").arg(command);
        run_with_timeout(&mut cmd, Duration::from_secs(60))
    }
}

fn changed_tasks(out: &RunOutput, host: &str) -> Vec<String> {
    out.tasks_of(host).into_iter().filter(|t| t.status == "changed").map(|t| format!("{}: {}", t.task, t.msg)).collect()
}

#[test]
fn lab_mail_example_end_to_end() {
    require!(require_docker());
    let started = Instant::now();
    let lab = MailLab(TestLab::new("pt-mail"));
    let t = Instant::now();
    lab.lab(&["up", "--hosts", "1"]).assert_code(0);
    eprintln!("lab up (1 fresh host): {:.1}s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    lab.lab(&["images", "mail", "webmail", "web"]).assert_code(0);
    eprintln!("lab images: {:.1}s", t.elapsed().as_secs_f64());
    let host = lab.host();
    let addr = lab.address();
    let mail = playbooks().join("mail.yml");
    assert!(lab.on_host("command -v docker").stdout.trim().is_empty(), "the host is not fresh: it has docker");

    // First run: converges from a fresh host.
    let t = Instant::now();
    let first = lab.run(&mail, &[]);
    eprintln!("first run: {:.1}s", t.elapsed().as_secs_f64());
    first.assert_code(0);
    assert!(first.recap().host(&host).changed > 0, "{}", first.0);
    assert_eq!(lab.on_host_ok("systemctl is-active docker mail webmail | paste -sd' ' -"), "active active active");
    assert_eq!(lab.on_host_ok("systemctl is-enabled docker mail webmail | paste -sd' ' -"), "enabled enabled enabled");
    let daemon = lab.on_host_ok("cat /etc/docker/daemon.json");
    assert!(daemon.contains("\"live-restore\": false") && daemon.contains("insecure-registries"), "{daemon}");
    assert!(lab.on_host("command -v nsenter").success());
    let mounts = lab.on_host_ok("docker inspect -f '{{range .Mounts}}{{.Name}}:{{.Destination}} {{end}}' mail");
    assert!(
        mounts.contains("mail-var-mail:/var/mail") && mounts.contains("mail-var-spool-exim4:/var/spool/exim4"),
        "{mounts}"
    );
    assert_eq!(
        lab.on_host_ok("docker inspect -f '{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.AutoRemove}}' mail"),
        "no true"
    );

    // Second run: nothing to do, nothing restarted.
    let before = (lab.container("mail"), lab.container("webmail"));
    let t = Instant::now();
    let second = lab.run(&mail, &[]);
    eprintln!("second run: {:.1}s", t.elapsed().as_secs_f64());
    second.assert_code(0);
    let recap = second.recap().host(&host);
    assert_eq!(recap.changed, 0, "changed: {:?}", changed_tasks(&second, &host));
    assert!(recap.remote_execs <= 2, "{recap:?}");
    assert_eq!((lab.container("mail"), lab.container("webmail")), before, "a container was restarted");

    // Mail to a user of LOCAL_DOMAINS over SMTP, read back over IMAP.
    let smtp = format!("{addr}:25");
    let imap = format!("{addr}:143");
    send_mail(&smtp, "alice@example.test", "push-token-1");
    eprintln!("SMTP -> IMAP: {:.1}s", wait_for_mail(&imap, "push-token-1").as_secs_f64());
    wait_listening(&format!("{addr}:4443"));
    let page = http_get(&format!("{addr}:4443"));
    assert!(page.starts_with("HTTP/1.1 200") && page.contains("push lab webmail"), "{}", &page[..page.len().min(300)]);

    // Data in the volumes survives a restart of the unit (a new container).
    lab.on_host_ok("docker exec mail sh -c 'echo kept > /var/mail/push-marker'");
    let old = lab.container("mail");
    lab.on_host_ok("systemctl restart mail");
    let (_, took) = lab.wait_recreated("mail", &old, Duration::from_secs(180));
    eprintln!("systemctl restart mail -> running: {:.1}s", took.as_secs_f64());
    assert_eq!(lab.on_host_ok("docker exec mail cat /var/mail/push-marker"), "kept");
    assert!(read_inbox(&imap, "alice", "alice").contains("body push-token-1"), "the mailbox was lost");

    // `docker kill`: systemd recreates the container.
    let old = lab.container("mail");
    lab.on_host_ok("docker kill mail >/dev/null");
    let (_, took) = lab.wait_recreated("mail", &old, Duration::from_secs(180));
    eprintln!("docker kill mail -> new container running: {:.1}s", took.as_secs_f64());
    assert_eq!(lab.on_host_ok("docker exec mail cat /var/mail/push-marker"), "kept");

    // ssh straight into the containers, strict host-key checking (the
    // lab's ssh_config), the key push connects with.
    let out = lab.ssh("mailserver", &[], "cat /etc/hostname; test -x /usr/local/sbin/mail-entrypoint && echo in-mail");
    assert!(out.success(), "{out}");
    assert_eq!(out.stdout.trim(), "mail.example.test\nin-mail", "{out}");
    let out = lab.ssh("webmail", &[], "test -x /usr/local/sbin/webmail-entrypoint && echo in-webmail; id -u");
    assert_eq!(out.stdout.trim(), "in-webmail\n0", "{out}");
    let out = lab.ssh("mailserver", &["-tt"], "tty");
    assert!(out.success() && out.stdout.contains("/dev/pts/"), "a pty when asked for:\n{out}");
    let out = lab.ssh("mailserver", &[], "tty");
    assert!(out.stdout.contains("not a tty"), "no pty unless asked for:\n{out}");
    let out = lab.ssh("mailserver", &["-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:9"], "true");
    assert_eq!(out.code, Some(255), "remote forwarding must be refused:\n{out}");
    let out = lab.ssh("mailserver", &[], "exit 7");
    assert_eq!(out.code, Some(7), "the command's exit code comes back:\n{out}");

    // A changed env var recreates exactly that container.
    let (mail_before, webmail_before) = (lab.container("mail"), lab.container("webmail"));
    let key = ["-e", "webmail_des_key=abcdefghijklmnopqrstuvwx"];
    let check = lab.run(&mail, &[key[0], key[1], "--check", "--diff"]);
    check.assert_code(0);
    let webmail_task = check.task(&host, "Webmail");
    assert_eq!(webmail_task.status, "changed");
    assert!(webmail_task.msg.contains("recreate webmail: env (WEBMAIL_DES_KEY)"), "{}", webmail_task.msg);
    assert!(!check.stdout().contains("abcdefghijklmnopqrstuvwx"), "--diff showed a secret");
    assert_eq!(check.task(&host, "Mail server").status, "ok");
    let t = Instant::now();
    let third = lab.run(&mail, &key);
    eprintln!("env change run: {:.1}s", t.elapsed().as_secs_f64());
    third.assert_code(0);
    let changed = changed_tasks(&third, &host);
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert!(
        changed[0].starts_with("Webmail: recreate webmail: env (WEBMAIL_DES_KEY)")
            && changed[1].starts_with("restart webmail"),
        "{changed:?}"
    );
    assert_eq!(lab.container("mail"), mail_before, "mail was restarted too");
    assert_ne!(lab.container("webmail").split(' ').next(), webmail_before.split(' ').next());

    // A changed unit shows in --check --diff; nothing changes.
    let check = lab.run(&mail, &[key[0], key[1], "-e", "webmail_port=4444", "--check", "--diff"]);
    check.assert_code(0);
    let webmail_task = check.task(&host, "Webmail");
    assert!(webmail_task.msg.contains("recreate webmail: unit file"), "{}", webmail_task.msg);
    let diff = webmail_task.diff_text().unwrap_or_default();
    assert!(diff.contains("-p 4443:80") && diff.contains("-p 4444:80"), "{diff}");
    assert!(lab.on_host_ok("cat /etc/systemd/system/webmail.service").contains("-p 4443:80"));

    // A daemon.json change restarts Docker once, and the containers come
    // back with it (their units require docker.service).
    let engine_since = lab.on_host_ok("systemctl show -p ActiveEnterTimestamp --value docker");
    let (mail_old, webmail_old) = (lab.container("mail"), lab.container("webmail"));
    let registry = read(lab.inventory().join("hosts.yml"))
        .lines()
        .find_map(|l| l.trim().strip_prefix("lab_registry: ").map(|r| r.trim_matches('"').to_string()))
        .expect("lab_registry in hosts.yml");
    let registries = format!(r#"{{"insecure_registries": ["{registry}", "127.0.0.1:5999"]}}"#);
    let t = Instant::now();
    let restart = lab.run(&mail, &[key[0], key[1], "-e", &registries]);
    eprintln!("daemon.json change run: {:.1}s", t.elapsed().as_secs_f64());
    restart.assert_code(0);
    let changed = changed_tasks(&restart, &host);
    assert_eq!(changed.iter().filter(|c| c.starts_with("restart docker")).count(), 1, "{changed:?}");
    assert_ne!(lab.on_host_ok("systemctl show -p ActiveEnterTimestamp --value docker"), engine_since);
    assert!(lab.on_host_ok("cat /etc/docker/daemon.json").contains("127.0.0.1:5999"));
    lab.wait_recreated("mail", &mail_old, Duration::from_secs(180));
    lab.wait_recreated("webmail", &webmail_old, Duration::from_secs(180));
    let same = lab.run(&mail, &[key[0], key[1], "-e", &registries]);
    assert_eq!(same.recap().host(&host).changed, 0, "{:?}", changed_tasks(&same, &host));

    // Words with every character systemd and the shell treat specially
    // reach the container unchanged (ExecStart and the env file).
    let hostile = r#"a  b $HOME ${HOME} %h %% "dq" 'sq' \back\ ; `x` $(id) end"#;
    let dir = lab.dir.path();
    write(
        dir.join("extras.yml"),
        format!(
            r#"- hosts: all
  tasks:
    - name: Quoting
      docker_unit:
        name: quoting
        image: "{{{{ lab_registry }}}}/web:v1"
        env:
          HOSTILE: {v}
        command: ["/bin/sh", "-c", "printf '[%s]\\n' \"$1\" \"$HOSTILE\"; exec sleep 600", "sh", {v}]
"#,
            v = serde_json::to_string(hostile).unwrap()
        ),
    );
    lab.run(&dir.join("extras.yml"), &[]).assert_code(0);
    let t = Instant::now();
    let logged = loop {
        let log = lab.on_host_ok("journalctl -u quoting -o cat --no-pager | grep '^\\[' || true");
        if log.lines().count() >= 2 || t.elapsed() > Duration::from_secs(30) {
            break log;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(logged, format!("[{hostile}]\n[{hostile}]"));

    // state: absent removes the unit and keeps the volumes.
    write(
        dir.join("absent.yml"),
        "- hosts: all\n  tasks:\n    - docker_unit: {name: quoting, state: absent}\n    - docker_unit: {name: mail, state: absent}\n",
    );
    let gone = lab.run(&dir.join("absent.yml"), &[]);
    gone.assert_code(0);
    assert!(lab.on_host("test -e /etc/systemd/system/mail.service").code == Some(1));
    assert!(lab.container("mail").is_empty() && lab.container("quoting").is_empty());
    assert!(!lab.on_host("systemctl is-enabled mail").success());
    let volumes = lab.on_host_ok("docker volume ls -q | sort | paste -sd' ' -");
    assert!(volumes.contains("mail-var-mail") && volumes.contains("mail-var-spool-exim4"), "{volumes}");
    let again = lab.run(&dir.join("absent.yml"), &[]);
    assert_eq!(again.recap().host(&host).changed, 0, "{:?}", changed_tasks(&again, &host));
    eprintln!("whole test: {:.1}s", started.elapsed().as_secs_f64());
}
