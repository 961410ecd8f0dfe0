//! A lab shaped like production (`push lab up --bastion`): two hosts on a
//! network this machine does not reach, behind one bastion; root cannot
//! log in; `admin` logs in with a key and sudo wants its password, which
//! push reads from the vaulted group_vars `up` wrote. Through it, for real:
//! the mail example (`playbooks/mail.yml`) end to end, with its services
//! checked over an ssh tunnel through the bastion, and `playbooks/web.yml`
//! on both hosts; second runs change nothing; a direct connection fails;
//! a wrong sudo password fails that host and names the reason; `up` again
//! changes nothing; `down` leaves nothing.
//!
//! One test, one lab: each stage builds on the one before, and booting the
//! lab and installing Docker on its hosts is most of the cost (nextest runs
//! every test in a process of its own, so test functions could not share
//! the lab).
//!
//! Needs a Docker engine (`tests/run` leaves `lab*` binaries out without
//! one, counting them as skipped). Every address used is a lab
//! container's on this machine.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use push_tests::mail::{read_inbox, send_mail, wait_for_mail, wait_http};
use push_tests::{
    read, require, require_docker, run_with_timeout, write, CmdOutput, PushCmd, RunOutput, SshTunnel, TestLab,
};

/// A first run installs Docker and pulls images into a vfs-backed engine.
const RUN_TIMEOUT: Duration = Duration::from_secs(10 * 60);

fn playbooks() -> PathBuf {
    push_tests::workspace().join("playbooks")
}

struct BastionLab(TestLab);

impl std::ops::Deref for BastionLab {
    type Target = TestLab;
    fn deref(&self) -> &TestLab {
        &self.0
    }
}

impl BastionLab {
    fn ssh_config(&self) -> PathBuf {
        self.inventory().join(".ssh/ssh_config")
    }

    fn bastion(&self) -> String {
        format!("{}-bastion", self.name)
    }

    /// `push run PLAYBOOK -i INVENTORY --vault-password-file ... --format json EXTRA...`
    fn run(&self, playbook: &Path, extra: &[&str]) -> RunOutput {
        PushCmd::run_playbook(playbook, &self.inventory())
            .arg("--vault-password-file")
            .arg_path(&self.inventory().join(".vault-password"))
            .args(["--format", "json"])
            .args(extra.iter().copied())
            .timeout(RUN_TIMEOUT)
            .run()
    }

    /// `ansible_host` of `host` in hosts.yml.
    fn address(&self, host: &str) -> String {
        let yml = read(self.inventory().join("hosts.yml"));
        let mut lines = yml.lines().skip_while(|l| l.trim() != format!("{host}:"));
        lines
            .find_map(|l| l.trim().strip_prefix("ansible_host: "))
            .unwrap_or_else(|| panic!("no ansible_host for {host} in:\n{yml}"))
            .trim_matches('"')
            .to_string()
    }

    /// `ssh -F <lab ssh_config> [OPTIONS] DESTINATION -- COMMAND`.
    fn ssh(&self, options: &[&str], destination: &str, command: &str) -> CmdOutput {
        let mut cmd = Command::new("ssh");
        cmd.arg("-F").arg(self.ssh_config()).args(options).arg(destination).arg("--").arg(command);
        run_with_timeout(&mut cmd, Duration::from_secs(60))
    }

    /// The files `up` writes, by name, with their contents.
    fn files(&self) -> Vec<(String, String)> {
        let group = self.name.replace('-', "_");
        ["hosts.yml", ".ssh/ssh_config", ".ssh/known_hosts", ".vault-password"]
            .into_iter()
            .map(String::from)
            .chain([format!("group_vars/{group}/vault.yml")])
            .map(|f| {
                let text = read(self.inventory().join(&f));
                (f, text)
            })
            .collect()
    }

    /// `NAME ID` of every container of the lab.
    fn containers(&self) -> String {
        docker(&["ps", "-a", "--filter", &format!("label=push.lab={}", self.name), "--format", "{{.Names}} {{.ID}}"])
    }
}

fn docker(args: &[&str]) -> String {
    let out = run_with_timeout(Command::new("docker").args(args), Duration::from_secs(60));
    assert!(out.success(), "docker {args:?}: {out}");
    let mut lines: Vec<&str> = out.stdout.lines().collect();
    lines.sort();
    lines.join("\n")
}

fn changed_tasks(out: &RunOutput, host: &str) -> Vec<String> {
    out.tasks_of(host).into_iter().filter(|t| t.status == "changed").map(|t| format!("{}: {}", t.task, t.msg)).collect()
}

#[test]
fn lab_bastion_mail_and_web_through_the_bastion_with_a_vaulted_sudo_password() {
    require!(require_docker());
    let started = Instant::now();
    let lab = BastionLab(TestLab::new("pt-bastion"));
    let t = Instant::now();
    let up = lab.lab(&["up", "--bastion", "--hosts", "2"]);
    up.assert_code(0);
    eprintln!("lab up --bastion (2 fresh hosts): {:.1}s", t.elapsed().as_secs_f64());
    assert!(up.stdout().contains("--vault-password-file"), "{}", up.stdout());
    lab.lab(&["images", "mail", "webmail", "web"]).assert_code(0);
    let (h1, h2) = (lab.host(1), lab.host(2));
    let (addr1, addr2) = (lab.address(&h1), lab.address(&h2));

    // The files: admin through the bastion, sudo's password only vaulted.
    let hosts_yml = read(lab.inventory().join("hosts.yml"));
    assert!(hosts_yml.contains("ansible_user: admin\n"), "{hosts_yml}");
    assert!(hosts_yml.contains("ansible_ssh_common_args: \"-o ProxyJump=admin@"), "{hosts_yml}");
    let vault = read(lab.inventory().join(format!("group_vars/{}/vault.yml", lab.name.replace('-', "_"))));
    assert!(vault.starts_with("$ANSIBLE_VAULT;1.1;AES256\n"), "{vault}");
    for f in [".vault-password", &format!("group_vars/{}/vault.yml", lab.name.replace('-', "_"))] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(lab.inventory().join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }

    // This machine reaches the hosts only through the bastion.
    let direct = run_with_timeout(
        Command::new("ssh")
            .args(["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5"])
            .args(["-o", "StrictHostKeyChecking=yes", "-o"])
            .arg(format!("UserKnownHostsFile={}", lab.inventory().join(".ssh/known_hosts").display()))
            .arg("-i")
            .arg(lab.inventory().join(".ssh/id_ed25519"))
            .arg(format!("admin@{addr1}"))
            .arg("true"),
        Duration::from_secs(60),
    );
    assert_eq!(direct.code, Some(255), "a direct ssh to {addr1} must fail:\n{direct}");
    assert!(direct.stderr.contains("timed out"), "{direct}");
    let jumped = lab.ssh(&[], &h1, "id -un; sudo -n true");
    assert_eq!(jumped.stdout.trim(), "admin", "{jumped}");
    assert!(jumped.stderr.contains("a password is required"), "sudo must want a password:\n{jumped}");
    let root = lab.ssh(&[], &format!("root@{h1}"), "true");
    assert_eq!(root.code, Some(255), "root must not log in:\n{root}");
    assert!(root.stderr.contains("Permission denied"), "{root}");

    // The vault is needed, and opened with the password file `up` wrote.
    let dir = lab.dir.path();
    write(
        dir.join("whoami.yml"),
        "- hosts: all\n  become: true\n  tasks:\n    - name: Who\n      shell: id -un > /root/push-bastion-who\n",
    );
    let sealed = PushCmd::run_playbook(&dir.join("whoami.yml"), &lab.inventory()).run();
    sealed.assert_code(4);
    assert!(sealed.stderr().contains("--vault-password-file"), "{}", sealed.stderr());
    lab.run(&dir.join("whoami.yml"), &[]).assert_code(0);
    for h in [&h1, &h2] {
        assert_eq!(lab.on_ok(h, "cat /root/push-bastion-who"), "root");
    }

    // A wrong sudo password (host_vars beat the group's vault) fails that
    // host, saying why; the other goes on.
    let wrong = lab.inventory().join(format!("host_vars/{h2}.yml"));
    write(&wrong, "ansible_become_password: not-the-password\n");
    let refused = lab.run(&dir.join("whoami.yml"), &[]);
    std::fs::remove_file(&wrong).unwrap();
    std::fs::remove_dir(wrong.parent().unwrap()).unwrap();
    assert_ne!(refused.code(), 0, "{}", refused.stdout());
    let failed = refused.task(&h2, "Who");
    assert_eq!(failed.status, "failed");
    assert!(
        failed.msg.contains("refused the become password") && failed.msg.contains("incorrect password"),
        "{}",
        failed.msg
    );
    assert_eq!(refused.recap().host(&h1).failed, 0, "{}", refused.stdout());
    assert!(!refused.stdout().contains("not-the-password"), "the password was shown");

    // The mail example on host 1, through the bastion.
    let mail = playbooks().join("mail.yml");
    let t = Instant::now();
    let first = lab.run(&mail, &["-l", &h1]);
    eprintln!("mail.yml, first run: {:.1}s", t.elapsed().as_secs_f64());
    first.assert_code(0);
    assert!(first.recap().host(&h1).changed > 0, "{}", first.stdout());
    let second = lab.run(&mail, &["-l", &h1]);
    second.assert_code(0);
    assert_eq!(second.recap().host(&h1).changed, 0, "changed: {:?}", changed_tasks(&second, &h1));
    assert_eq!(lab.on_ok(&h1, "systemctl is-active docker mail webmail | paste -sd' ' -"), "active active active");
    {
        let tunnel = SshTunnel::open(&lab.ssh_config(), &lab.bastion(), &addr1, &[25, 143, 4443]);
        send_mail(tunnel.local(25), "alice@example.test", "bastion-token-1");
        eprintln!("SMTP -> IMAP: {:.1}s", wait_for_mail(tunnel.local(143), "bastion-token-1").as_secs_f64());
        assert!(read_inbox(tunnel.local(143), "bob", "bob").is_empty(), "bob got alice's mail");
        let page = wait_http(tunnel.local(4443), "/");
        assert!(
            page.starts_with("HTTP/1.1 200") && page.contains("push lab webmail"),
            "{}",
            &page[..page.len().min(300)]
        );
    }
    // `ssh mailserver@HOST` lands in the container, through the bastion too.
    let inside = lab.ssh(&[], &format!("mailserver@{h1}"), "cat /etc/hostname");
    assert_eq!(inside.stdout.trim(), "mail.example.test", "{inside}");

    // web.yml on both hosts (host 2 gets Docker now), then nothing to do.
    let web = playbooks().join("web.yml");
    let t = Instant::now();
    let rollout = lab.run(&web, &[]);
    eprintln!("web.yml, first run: {:.1}s", t.elapsed().as_secs_f64());
    rollout.assert_code(0);
    let again = lab.run(&web, &[]);
    again.assert_code(0);
    for h in [&h1, &h2] {
        assert_eq!(again.recap().host(h).changed, 0, "{h} changed: {:?}", changed_tasks(&again, h));
    }
    {
        let tunnel = SshTunnel::open(&lab.ssh_config(), &lab.bastion(), &addr2, &[8080]);
        let health = wait_http(tunnel.local(8080), "/health");
        assert!(health.starts_with("HTTP/1.") && health.contains(" 200 "), "{health}");
    }

    // `up` again: same containers, same files, byte for byte.
    let (containers, files) = (lab.containers(), lab.files());
    lab.lab(&["up", "--bastion", "--hosts", "2"]).assert_code(0);
    assert_eq!(lab.containers(), containers);
    assert_eq!(lab.files(), files);
    let mismatch = lab.lab(&["up", "--hosts", "2"]);
    mismatch.assert_code(4);
    assert!(mismatch.stderr().contains("was made with --bastion"), "{}", mismatch.stderr());

    let status = lab.lab(&["status"]);
    status.assert_code(0);
    let text = status.stdout();
    assert!(text.contains(&format!("hosts on push-lab-{}-private", lab.name)), "{text}");
    assert!(text.lines().any(|l| l.starts_with(&lab.bastion()) && l.contains("jump host")), "{text}");
    assert!(text.lines().any(|l| l.starts_with(&h2) && l.contains(&addr2)), "{text}");

    // `down` removes the bastion and both networks too.
    let down = lab.lab(&["down"]);
    down.assert_code(0);
    assert!(down.stdout().contains("removed 2 host(s), the registry and the bastion"), "{}", down.stdout());
    assert_eq!(lab.containers(), "");
    assert_eq!(docker(&["network", "ls", "-q", "--filter", &format!("label=push.lab={}", lab.name)]), "");
    assert!(!lab.inventory().exists(), "the lab files are left");
    eprintln!("whole test: {:.1}s", started.elapsed().as_secs_f64());
}
