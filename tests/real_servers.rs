//! Real servers as Ansible users meet them, on loopback sshd hosts: a
//! non-root login whose sudo needs a password (`-K`,
//! `ansible_become_password`), Ansible's connection flags and variables,
//! first contact with unknown or changed host keys.
//!
//! The become tests make a throwaway login user with a sudo password
//! ([`SudoUser`]), so they need root, as CI has.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use push_tests::{require, require_sshd, write, PushCmd, RunOutput, SshHost, SudoUser};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// An INI inventory of `hosts` logging in as `user`, each with its extra
/// variables, and the hosts' keys in a known_hosts file beside it.
fn inventory(dir: &Path, user: &str, hosts: &[(&str, &SshHost, &str)]) -> PathBuf {
    let known = dir.join("known_hosts");
    write(&known, hosts.iter().map(|(_, h, _)| format!("{}\n", h.known_hosts_line())).collect::<String>());
    let mut text = String::new();
    for (alias, host, extra) in hosts {
        text.push_str(&format!(
            "{alias} ansible_host=127.0.0.1 ansible_port={} ansible_user={user} ansible_ssh_private_key_file={} push_known_hosts_file={} push_lock_path={}/{alias}.lock {extra}\n",
            host.port(),
            host.client_key().display(),
            known.display(),
            dir.display(),
        ));
    }
    let path = dir.join("hosts.ini");
    write(&path, text);
    path
}

/// A folder the login user owns (locks and outputs go there).
fn work_dir_for(user: &SudoUser) -> PathBuf {
    let dir = user.home().join("work");
    std::fs::create_dir_all(&dir).unwrap();
    let status = std::process::Command::new("chown").arg(user.name()).arg(&dir).status().unwrap();
    assert!(status.success());
    dir
}

const BECOME_PLAY: &str = r#"
- name: root through sudo
  hosts: all
  tasks:
    - name: as root
      shell: 'test "$(id -u)" = 0 && sleep 2'
      become: true
"#;

/// Every command line and environment on the machine, sampled while
/// `running` holds; returns those that contain any of `secrets`.
fn watch_processes(running: Arc<AtomicBool>, secrets: Vec<String>) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        while running.load(Ordering::Relaxed) {
            for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                for file in ["cmdline", "environ"] {
                    let Ok(bytes) = std::fs::read(entry.path().join(file)) else { continue };
                    let text = String::from_utf8_lossy(&bytes).replace('\0', " ");
                    if secrets.iter().any(|s| text.contains(s.as_str())) {
                        seen.push(format!("{}/{file}: {text}", entry.path().display()));
                    }
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        seen
    })
}

/// `-K` gives sudo its password on stdin: the host using it runs its step
/// as root; a host whose own `ansible_become_password` is wrong fails,
/// saying so, and the other goes on. Neither password is ever in a
/// process's argv or environment, nor in a kept script.
#[test]
fn become_password_reaches_sudo_on_stdin_only() {
    require!(require_sshd());
    assert!(is_root(), "this test makes a login user: it needs root");
    let user = SudoUser::create("kpass");
    let good = SshHost::start_for("good", user.name());
    let bad = SshHost::start_for("bad", user.name());
    let work = work_dir_for(&user);
    let wrong = "not-the-password-4711";
    let inv = inventory(
        &work,
        user.name(),
        &[("good", &good, ""), ("bad", &bad, &format!("ansible_become_password={wrong}"))],
    );
    let pb = work.join("become.yml");
    write(&pb, BECOME_PLAY);
    let kept = tempfile::tempdir().unwrap();
    let running = Arc::new(AtomicBool::new(true));
    let watcher = watch_processes(Arc::clone(&running), vec![user.password().to_string(), wrong.to_string()]);
    let out = PushCmd::run_playbook(&pb, &inv)
        .args(["--format", "json", "-K"])
        .stdin(format!("{}\n", user.password()))
        .env("PUSH_KEEP_SCRIPTS", kept.path())
        .run();
    running.store(false, Ordering::Relaxed);
    let seen = watcher.join().unwrap();
    out.assert_code(2);
    assert_eq!(out.task("good", "as root").status, "changed", "{out}");
    let failed = out.task("bad", "as root");
    assert_eq!(failed.status, "failed", "{out}");
    assert!(failed.msg.contains("incorrect password"), "{out}");
    assert!(seen.is_empty(), "a password was in a process's argv or environment: {seen:#?}");
    let mut scripts = 0;
    for entry in std::fs::read_dir(kept.path()).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!text.contains(user.password()) && !text.contains(wrong), "a kept script holds a password");
        scripts += 1;
    }
    assert!(scripts > 0, "no script was kept");
    assert_no_password_leak(&out, &[user.password(), wrong]);
}

fn assert_no_password_leak(out: &RunOutput, secrets: &[&str]) {
    for s in secrets {
        assert!(!out.stdout().contains(s) && !out.stderr().contains(s), "a password was printed: {out}");
    }
}

/// A sudo that wants a password push was not given fails that host with
/// sudo's words and the way out.
#[test]
fn sudo_without_a_password_hints_at_ask_become_pass() {
    require!(require_sshd());
    assert!(is_root(), "this test makes a login user: it needs root");
    let user = SudoUser::create("nopass");
    let host = SshHost::start_for("h1", user.name());
    let work = work_dir_for(&user);
    let inv = inventory(&work, user.name(), &[("h1", &host, "")]);
    let pb = work.join("become.yml");
    write(&pb, BECOME_PLAY);
    let out = PushCmd::run_playbook(&pb, &inv).args(["--format", "json"]).run();
    out.assert_code(2);
    let failed = out.task("h1", "as root");
    assert!(failed.msg.contains("sudo: a password is required"), "{out}");
    assert!(failed.msg.contains("-K (--ask-become-pass)"), "{out}");
}

const HELLO_PLAY: &str = r#"
- name: hello
  hosts: all
  tasks:
    - name: hello
      command: "true"
"#;

/// `ansible_ssh_common_args` reaches ssh: a ProxyCommand through a second
/// server, acting as the bastion, is how the host is reached (the bastion
/// logs the login). `ansible_ssh_extra_args` too (its own known_hosts).
#[test]
fn ssh_common_args_go_through_a_bastion() {
    require!(require_sshd());
    let bastion = SshHost::start("bastion");
    let host = SshHost::start("h1");
    let dir = tempfile::tempdir().unwrap();
    let known = dir.path().join("bastion_known_hosts");
    write(&known, format!("{}\n", bastion.known_hosts_line()));
    let proxy = format!(
        "ssh -E {} -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes -p {} -l {} -W %h:%p 127.0.0.1",
        dir.path().join("proxy.log").display(),
        bastion.client_key().display(),
        known.display(),
        bastion.port(),
        bastion.user(),
    );
    let inv = inventory(
        dir.path(),
        host.user(),
        &[(
            "h1",
            &host,
            &format!(
                "ansible_ssh_common_args=\"-o 'ProxyCommand={proxy}'\" ansible_ssh_extra_args=\"-o GlobalKnownHostsFile=/dev/null\""
            ),
        )],
    );
    let pb = dir.path().join("hello.yml");
    write(&pb, HELLO_PLAY);
    let before = bastion.accepted_logins();
    let out = PushCmd::run_playbook(&pb, &inv).args(["--format", "json"]).run();
    let proxy_log = std::fs::read_to_string(dir.path().join("proxy.log")).unwrap_or_default();
    assert_eq!(out.code(), 0, "{out}\nthe bastion's log:\n{}\nthe proxy's:\n{proxy_log}", bastion.log_text());
    assert_eq!(out.task("h1", "hello").status, "changed", "{out}");
    assert_eq!(bastion.accepted_logins(), before + 1, "the bastion saw no login:\n{}", bastion.log_text());
}

/// `-k` and `ansible_ssh_pass` log in through SSH_ASKPASS: never in a
/// process's argv or environment; a wrong one leaves that host unreachable.
#[test]
fn login_passwords_go_through_askpass() {
    require!(require_sshd());
    assert!(is_root(), "this test makes a login user: it needs root");
    let user = SudoUser::create("sshpass");
    let good = SshHost::start_for("good", user.name());
    let bad = SshHost::start_for("bad", user.name());
    let work = work_dir_for(&user);
    let wrong = "wrong-login-password-815";
    // No key file: IdentityFile none leaves the password as the only way in.
    let inv = inventory(
        &work,
        user.name(),
        &[
            (
                "good",
                &good,
                &format!(
                    "ansible_password={} ansible_ssh_extra_args='-o IdentityFile=none -o IdentitiesOnly=yes'",
                    user.password()
                ),
            ),
            (
                "bad",
                &bad,
                &format!(
                    "ansible_ssh_pass={wrong} ansible_ssh_extra_args='-o IdentityFile=none -o IdentitiesOnly=yes'"
                ),
            ),
        ],
    );
    let text = std::fs::read_to_string(&inv).unwrap();
    let text: String = text
        .lines()
        .map(|l| {
            l.split(' ').filter(|w| !w.starts_with("ansible_ssh_private_key_file=")).collect::<Vec<_>>().join(" ")
                + "\n"
        })
        .collect();
    write(&inv, text);
    let pb = work.join("hello.yml");
    write(&pb, HELLO_PLAY);
    let running = Arc::new(AtomicBool::new(true));
    let watcher = watch_processes(Arc::clone(&running), vec![user.password().to_string(), wrong.to_string()]);
    let out =
        PushCmd::run_playbook(&pb, &inv).args(["--format", "json", "-k"]).stdin(format!("{}\n", user.password())).run();
    running.store(false, Ordering::Relaxed);
    let seen = watcher.join().unwrap();
    out.assert_code(3);
    assert_eq!(out.task("good", "hello").status, "changed", "{out}");
    assert_eq!(out.recap().host("bad").unreachable, 1, "{out}");
    assert!(seen.is_empty(), "a password was in a process's argv or environment: {seen:#?}");
    assert_no_password_leak(&out, &[user.password(), wrong]);
}

/// First contact: an unknown key names the host and the fingerprint the
/// server offered, with both ways forward; --accept-new-host-keys takes
/// it; a changed key is refused loudly, --accept-new-host-keys or not.
#[test]
fn first_contact_unknown_then_accepted_then_changed_key() {
    require!(require_sshd());
    let host = SshHost::start("h1");
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory(dir.path(), host.user(), &[("h1", &host, "")]);
    // Only the test's own known_hosts counts, and it starts empty.
    let known = dir.path().join("known_hosts");
    let text = std::fs::read_to_string(&inv)
        .unwrap()
        .replace("\n", " ansible_ssh_extra_args='-o GlobalKnownHostsFile=/dev/null'\n");
    write(&inv, text);
    write(&known, "");
    let pb = dir.path().join("hello.yml");
    write(&pb, HELLO_PLAY);
    let fingerprint = fingerprint_of(host.host_public_key());

    let unknown = PushCmd::run_playbook(&pb, &inv).run();
    unknown.assert_code(3);
    let said = unknown.stdout().to_string() + unknown.stderr();
    assert!(said.contains("host key of h1 is not known"), "{unknown}");
    assert!(said.contains(&fingerprint), "the offered fingerprint {fingerprint} is not shown: {unknown}");
    assert!(said.contains("--accept-new-host-keys") && said.contains("ssh-keyscan"), "{unknown}");

    PushCmd::run_playbook(&pb, &inv).arg("--accept-new-host-keys").run().assert_code(0);
    assert!(std::fs::read_to_string(&known).unwrap().contains(host.host_public_key().split(' ').nth(1).unwrap()));

    let other = SshHost::start("other");
    write(&known, format!("[127.0.0.1]:{} {}\n", host.port(), other.host_public_key()));
    for extra in [&[][..], &["--accept-new-host-keys"][..]] {
        let changed = PushCmd::run_playbook(&pb, &inv).args(extra.iter().copied()).run();
        changed.assert_code(3);
        let said = changed.stdout().to_string() + changed.stderr();
        assert!(said.contains("THE HOST KEY OF h1 HAS CHANGED"), "{changed}");
        assert!(said.contains(&fingerprint), "{changed}");
    }
    assert!(!std::fs::read_to_string(&known).unwrap().contains(host.host_public_key().split(' ').nth(1).unwrap()));
}

/// `SHA256:...` of a public key line, as ssh-keygen prints it.
fn fingerprint_of(public_key: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key.pub");
    write(&file, format!("{public_key}\n"));
    let out = std::process::Command::new("ssh-keygen").arg("-lf").arg(&file).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().nth(1).unwrap().to_string()
}

/// A connection variable push does not act on is named in a warning.
#[test]
fn unhonoured_connection_variables_are_named() {
    require!(require_sshd());
    let host = SshHost::start("h1");
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory(
        dir.path(),
        host.user(),
        &[(
            "h1",
            &host,
            "ansible_ssh_executable=/opt/ssh ansible_connection=docker ansible_python_interpreter=/usr/bin/python3",
        )],
    );
    let pb = dir.path().join("hello.yml");
    write(&pb, HELLO_PLAY);
    let out = PushCmd::run_playbook(&pb, &inv).run();
    out.assert_code(0);
    let said = out.stdout().to_string() + out.stderr();
    assert!(said.contains("ansible_ssh_executable is not honoured"), "{out}");
    assert!(said.contains("ansible_connection=docker is not honoured"), "{out}");
    assert!(!said.contains("ansible_python_interpreter"), "{out}");
}

/// ansible.cfg in the current folder, as Ansible finds it: its inventory
/// (no -i), remote_user (the inventory names none), ssh_args (here: which
/// known_hosts ssh reads) and host_key_checking = False, which accepts a
/// new host's key, says so, and still refuses a changed one.
#[test]
fn ansible_cfg_gives_inventory_user_ssh_args_and_host_key_checking() {
    require!(require_sshd());
    let host = SshHost::start("h1");
    let dir = tempfile::tempdir().unwrap();
    let known = dir.path().join("cfg_known_hosts");
    write(
        dir.path().join("hosts.ini"),
        format!(
            "h1 ansible_host=127.0.0.1 ansible_port={} ansible_ssh_private_key_file={} push_lock_path={}/h1.lock\n",
            host.port(),
            host.client_key().display(),
            dir.path().display()
        ),
    );
    write(
        dir.path().join("ansible.cfg"),
        format!(
            "[defaults]\ninventory = hosts.ini ; next to this file\nremote_user = {}\nforks = 2\nhost_key_checking = False\n\n\
             [ssh_connection]\nssh_args = -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null\npipelining = True\n",
            host.user(),
            known.display()
        ),
    );
    write(dir.path().join("hello.yml"), HELLO_PLAY);
    let run = || PushCmd::new().args(["run", "hello.yml"]).current_dir(dir.path()).env("HOME", dir.path()).run();

    let listed = PushCmd::new().args(["inventory", "--list"]).current_dir(dir.path()).env("HOME", dir.path()).run();
    listed.assert_code(0);
    assert!(listed.stdout().contains("\"h1\""), "{listed}");

    let first = run();
    first.assert_code(0);
    let said = first.stdout().to_string() + first.stderr();
    assert!(said.contains("host_key_checking = False") && said.contains("never a key that changed"), "{first}");
    assert!(said.contains("pipelining not needed"), "{first}");
    let key = host.host_public_key().split(' ').nth(1).unwrap().to_string();
    assert!(std::fs::read_to_string(&known).unwrap().contains(&key), "the new key was not remembered");

    let other = SshHost::start("other");
    write(&known, format!("[127.0.0.1]:{} {}\n", host.port(), other.host_public_key()));
    let changed = run();
    changed.assert_code(3);
    assert!((changed.stdout().to_string() + changed.stderr()).contains("HAS CHANGED"), "{changed}");
}

/// Without -i and without an ansible.cfg naming one, the run stops at once.
#[test]
fn no_inventory_anywhere_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path().join("hello.yml"), HELLO_PLAY);
    let out = PushCmd::new().args(["run", "hello.yml"]).current_dir(dir.path()).env("HOME", dir.path()).run();
    out.assert_code(5);
    assert!(out.stderr().contains("no inventory"), "{out}");
    let listed = PushCmd::new().args(["inventory", "--list"]).current_dir(dir.path()).env("HOME", dir.path()).run();
    listed.assert_code(5);
    assert!(listed.stderr().contains("no inventory"), "{listed}");
}

/// Ansible's command line for a non-root login: `-u` names the login user
/// (the inventory names none), `-b` puts tasks that say nothing of
/// `become` under sudo, and `-K` gives sudo its password; a task that says
/// `become: false` stays the login user.
#[test]
fn user_become_and_ask_become_pass_flags() {
    require!(require_sshd());
    assert!(is_root(), "this test makes a login user: it needs root");
    let user = SudoUser::create("flags");
    let host = SshHost::start_for("h1", user.name());
    let work = work_dir_for(&user);
    let inv = inventory(&work, user.name(), &[("h1", &host, "")]);
    let text = std::fs::read_to_string(&inv).unwrap().replace(&format!(" ansible_user={}", user.name()), "");
    write(&inv, text);
    let pb = work.join("flags.yml");
    write(
        &pb,
        format!(
            r#"
- name: flags
  hosts: all
  tasks:
    - name: as root by -b
      shell: 'test "$(id -u)" = 0'
    - name: as the login user
      shell: 'test "$(id -un)" = {}'
      become: false
"#,
            user.name()
        ),
    );
    let out = PushCmd::run_playbook(&pb, &inv)
        .args(["--format", "json", "-u", user.name(), "-b", "-K", "-v"])
        .stdin(format!("{}\n", user.password()))
        .run();
    out.assert_code(0);
    assert_eq!(out.task("h1", "as root by -b").status, "changed", "{out}");
    assert_eq!(out.task("h1", "as the login user").status, "changed", "{out}");
}

/// Steps under su, as a host's variables ask (`ansible_become_method=su`,
/// `ansible_become_user`; the play only says `become: true`).
fn su_play(target: &str) -> String {
    format!(
        r#"
- name: through su
  hosts: all
  become: true
  tasks:
    - name: as the target
      shell: 'test "$(id -un)" = {target} && test -n "$SSH_CONNECTION" && sleep 2'
    - name: a login shell
      shell: 'test "$(id -un)" = {target} && test -z "${{SSH_CONNECTION-}}" && test "$HOME" = ~{target}'
      become_flags: "-l"
"#
    )
}

/// su reads the become password, the target user's, from its stdin: with
/// `-K` the host runs its steps as that user (its environment kept, or a
/// login's with `become_flags: -l`); a host whose own
/// `ansible_become_password` is wrong fails with a clear message and
/// hint, and the other goes on. Neither password is ever in a process's
/// argv or environment, nor in a kept script, nor in the output.
#[test]
fn su_takes_the_target_users_password_on_stdin_only() {
    require!(require_sshd());
    assert!(is_root(), "this test makes login users: it needs root");
    let login = SudoUser::without_sudo("sulogin");
    let target = SudoUser::without_sudo("sutarget");
    let good = SshHost::start_for("good", login.name());
    let bad = SshHost::start_for("bad", login.name());
    let work = work_dir_for(&login);
    let wrong = "not-the-password-4712";
    let su = format!("ansible_become_method=su ansible_become_user={}", target.name());
    let inv = inventory(
        &work,
        login.name(),
        &[("good", &good, &su), ("bad", &bad, &format!("{su} ansible_become_password={wrong}"))],
    );
    let pb = work.join("su.yml");
    write(&pb, su_play(target.name()));
    let kept = tempfile::tempdir().unwrap();
    let running = Arc::new(AtomicBool::new(true));
    let watcher = watch_processes(Arc::clone(&running), vec![target.password().to_string(), wrong.to_string()]);
    let out = PushCmd::run_playbook(&pb, &inv)
        .args(["--format", "json", "-K"])
        .stdin(format!("{}\n", target.password()))
        .env("PUSH_KEEP_SCRIPTS", kept.path())
        .run();
    running.store(false, Ordering::Relaxed);
    let seen = watcher.join().unwrap();
    out.assert_code(2);
    assert_eq!(out.task("good", "as the target").status, "changed", "{out}");
    assert_eq!(out.task("good", "a login shell").status, "changed", "{out}");
    let failed = out.task("bad", "as the target");
    assert_eq!(failed.status, "failed", "{out}");
    assert!(failed.msg.contains("su on this host refused the become password"), "{out}");
    assert!(failed.msg.contains("incorrect password"), "{out}");
    assert!(failed.msg.contains("hint: su asks for the password of the user it becomes"), "{out}");
    assert!(!failed.msg.contains("Password:"), "su's prompt leaked into the message: {out}");
    assert!(seen.is_empty(), "a password was in a process's argv or environment: {seen:#?}");
    let mut scripts = 0;
    for entry in std::fs::read_dir(kept.path()).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!text.contains(target.password()) && !text.contains(wrong), "a kept script holds a password");
        scripts += 1;
    }
    assert!(scripts > 0, "no script was kept");
    assert_no_password_leak(&out, &[target.password(), wrong]);
}

/// su without a password fails that host with the way out; a method push
/// does not have, given on the command line, is refused before anything
/// is sent.
#[test]
fn su_without_a_password_hints_at_ask_become_pass() {
    require!(require_sshd());
    assert!(is_root(), "this test makes login users: it needs root");
    let login = SudoUser::without_sudo("sunopass");
    let target = SudoUser::without_sudo("sunopasst");
    let host = SshHost::start_for("h1", login.name());
    let work = work_dir_for(&login);
    let inv = inventory(&work, login.name(), &[("h1", &host, "")]);
    let pb = work.join("hello.yml");
    write(&pb, HELLO_PLAY);
    let out = PushCmd::run_playbook(&pb, &inv)
        .args(["--format", "json", "-b", "--become-method", "su", "--become-user", target.name()])
        .run();
    out.assert_code(2);
    let failed = out.task("h1", "hello");
    assert!(failed.msg.contains(&format!("su: a password is required to become {}", target.name())), "{out}");
    assert!(failed.msg.contains("-K (--ask-become-pass)"), "{out}");
    let doas = PushCmd::run_playbook(&pb, &inv).args(["-b", "--become-method", "doas"]).run();
    doas.assert_code(5);
    assert!(doas.stderr().contains("doas"), "{doas}");
}

/// `become_flags` reach sudo: `-E` keeps the login's environment, which
/// sudo otherwise resets; Ansible's usual `-H -S -n` is accepted (push
/// itself decides between -S and -n).
#[test]
fn sudo_become_flags_reach_sudo() {
    require!(require_sshd());
    assert!(is_root(), "this test makes a login user: it needs root");
    let user = SudoUser::create("sudoflags");
    let host = SshHost::start_for("h1", user.name());
    let work = work_dir_for(&user);
    let inv = inventory(&work, user.name(), &[("h1", &host, "")]);
    let pb = work.join("flags.yml");
    write(
        &pb,
        r#"
- name: sudo flags
  hosts: all
  become: true
  become_flags: "-H -S -n"
  tasks:
    - name: environment reset
      shell: 'test "$(id -u)" = 0 && test -z "${SSH_CONNECTION-}"'
    - name: environment kept
      shell: 'test "$(id -u)" = 0 && test -n "$SSH_CONNECTION"'
      become_flags: "-E"
"#,
    );
    let out =
        PushCmd::run_playbook(&pb, &inv).args(["--format", "json", "-K"]).stdin(format!("{}\n", user.password())).run();
    out.assert_code(0);
    assert_eq!(out.task("h1", "environment reset").status, "changed", "{out}");
    assert_eq!(out.task("h1", "environment kept").status, "changed", "{out}");
}

/// A root login becomes anyone through su without a password; an account
/// whose shell is nologin needs `become_flags: -s /bin/sh`, which the
/// failure says.
#[test]
fn su_from_root_to_a_nologin_account() {
    require!(require_sshd());
    assert!(is_root(), "this test logs in as root");
    let host = SshHost::start("h1");
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory(dir.path(), host.user(), &[("h1", &host, "")]);
    let pb = dir.path().join("nobody.yml");
    write(
        &pb,
        r#"
- name: nobody
  hosts: all
  become: true
  become_method: su
  become_user: nobody
  tasks:
    - name: with a shell
      shell: 'test "$(id -un)" = nobody'
      become_flags: "-s /bin/sh"
    - name: without
      command: "true"
"#,
    );
    let out = PushCmd::run_playbook(&pb, &inv).args(["--format", "json"]).run();
    out.assert_code(2);
    assert_eq!(out.task("h1", "with a shell").status, "changed", "{out}");
    let failed = out.task("h1", "without");
    assert!(failed.msg.contains("This account is currently not available"), "{out}");
    assert!(failed.msg.contains("become_flags: \"-s /bin/sh\""), "{out}");
}
