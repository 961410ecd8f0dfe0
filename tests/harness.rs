//! Tests of the test harness itself, with the system OpenSSH client: the
//! keys, known_hosts and ssh_config a fleet writes are right, host-key
//! checking is really strict, and nothing outlives a host.

use std::process::Command;
use std::time::{Duration, Instant};

use push_tests::{require, require_sshd, run_with_timeout, ConnectionTrap, Fleet, SshHost};

#[test]
fn fleet_hosts_accept_ssh_with_strict_host_key_checking() {
    require!(require_sshd());
    let fleet = Fleet::start(2);
    for alias in ["h1", "h2"] {
        let out = fleet.ssh(alias, "echo ok-from-$(id -un)");
        assert!(out.success(), "ssh {alias} failed:\n{out}\nsshd log:\n{}", fleet.host(alias).log_text());
        assert_eq!(out.stdout.trim(), format!("ok-from-{}", fleet.host(alias).user()));
        // Strict checking passed in silence: no "Permanently added" (the
        // known_hosts entry was already there) and nothing was written to it.
        assert!(!out.stderr.contains("Permanently added"), "{out}");
    }
    assert_eq!(
        std::fs::read_to_string(fleet.known_hosts()).unwrap(),
        fleet.known_hosts_text(),
        "ssh changed known_hosts"
    );
    // Each server saw exactly one login.
    assert_eq!(fleet.host("h1").accepted_logins(), 1);
    assert_eq!(fleet.host("h2").accepted_logins(), 1);
}

#[test]
fn ssh_config_defaults_apply_without_an_alias() {
    // An engine may call `ssh -F CFG -p PORT -i KEY USER@127.0.0.1` with the
    // inventory's values instead of the alias; the `Host *` block must still
    // give strict checking against our known_hosts.
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let h = fleet.host("h1");
    let mut cmd = Command::new("ssh");
    cmd.arg("-F").arg(fleet.ssh_config()).arg("-p").arg(h.port().to_string()).arg("-i").arg(h.client_key());
    cmd.arg(format!("{}@127.0.0.1", h.user())).arg("true");
    let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
    assert!(out.success(), "{out}\nsshd log:\n{}", h.log_text());
}

#[test]
fn wrong_known_hosts_entry_makes_ssh_fail() {
    require!(require_sshd());
    let fleet = Fleet::start(2);
    let (h1, h2) = (fleet.host("h1"), fleet.host("h2"));
    // h1's port with h2's key: a changed host key.
    let forged = format!("[127.0.0.1]:{} {}\n{}\n", h1.port(), h2.host_public_key(), h2.known_hosts_line());
    std::fs::write(fleet.known_hosts(), forged).unwrap();
    let out = fleet.ssh("h1", "touch should-not-run");
    assert_eq!(out.code, Some(255), "ssh to a host with a wrong known key must fail:\n{out}");
    assert!(
        out.stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
            || out.stderr.contains("Host key verification failed"),
        "{out}"
    );
    assert_eq!(h1.accepted_logins(), 0, "a login happened despite the wrong key:\n{}", h1.log_text());
    // h2's entry is intact and still works.
    assert!(fleet.ssh("h2", "true").success());
}

#[test]
fn missing_known_hosts_entry_makes_ssh_fail_without_prompting() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    std::fs::write(fleet.known_hosts(), "").unwrap();
    let started = Instant::now();
    let out = fleet.ssh("h1", "true");
    assert_eq!(out.code, Some(255), "{out}");
    assert!(
        out.stderr.contains("Host key verification failed") || out.stderr.contains("No ED25519 host key is known"),
        "{out}"
    );
    assert!(started.elapsed() < Duration::from_secs(30), "ssh waited (for a prompt?)");
    assert_eq!(
        std::fs::read_to_string(fleet.known_hosts()).unwrap(),
        "",
        "ssh learned a key despite StrictHostKeyChecking"
    );
}

#[test]
fn files_describe_every_host() {
    require!(require_sshd());
    let mut fleet = Fleet::start(2);
    fleet.set_host_var("h1", "color", "red");
    let bad_port = fleet.add_unreachable("h3");
    let user = push_tests::current_user();
    let ini = std::fs::read_to_string(fleet.inventory()).unwrap();
    for h in fleet.hosts() {
        let line = format!(
            "{} ansible_host=127.0.0.1 ansible_port={} ansible_user={user} ansible_ssh_private_key_file={}",
            h.name(),
            h.port(),
            h.client_key().display()
        );
        assert!(ini.contains(&line), "{line} not in:\n{ini}");
    }
    assert!(ini.contains(" color=red\n"), "{ini}");
    assert!(ini.contains(&format!("h3 ansible_host=127.0.0.1 ansible_port={bad_port} ")), "{ini}");
    assert!(ini.contains(&format!("[all:vars]\npush_ssh_config={}\n", fleet.ssh_config().display())), "{ini}");
    let yaml = std::fs::read_to_string(fleet.inventory_yaml()).unwrap();
    assert!(yaml.contains(&format!("    push_ssh_config: \"{}\"\n", fleet.ssh_config().display())), "{yaml}");
    assert!(
        yaml.contains(&format!(
            "    h2:\n      ansible_host: 127.0.0.1\n      ansible_port: {}\n",
            fleet.host("h2").port()
        )),
        "{yaml}"
    );
    assert!(yaml.contains("      color: \"red\"\n"), "{yaml}");
    let cfg = std::fs::read_to_string(fleet.ssh_config()).unwrap();
    assert!(cfg.contains("StrictHostKeyChecking yes"), "{cfg}");
    assert!(!cfg.to_lowercase().contains("stricthostkeychecking no"), "{cfg}");
    assert!(cfg.contains(&format!("Host h3\n  HostName 127.0.0.1\n  Port {bad_port}\n")), "{cfg}");
    // Only the two real keys are known.
    assert_eq!(std::fs::read_to_string(fleet.known_hosts()).unwrap().lines().count(), 2);
    // The unreachable host refuses connections.
    assert!(std::net::TcpStream::connect(("127.0.0.1", bad_port)).is_err());
    let out = fleet.ssh("h3", "true");
    assert_eq!(out.code, Some(255), "{out}");
}

#[test]
fn dropping_a_host_ends_its_server_and_sessions() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let pid = fleet.host("h1").pid().expect("running");
    // A session that would outlive the test if nobody ended it.
    let mut client = Command::new("ssh")
        .arg("-F")
        .arg(fleet.ssh_config())
        .args(["h1", "sleep 300"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the session's `sleep` to run under the server.
    let deadline = Instant::now() + Duration::from_secs(20);
    let session = loop {
        let tree = descendants_named(pid, "sleep");
        if !tree.is_empty() {
            break tree;
        }
        assert!(Instant::now() < deadline, "the session never started");
        std::thread::sleep(Duration::from_millis(50));
    };
    let dir = fleet.host("h1").dir().to_path_buf();
    drop(fleet);
    assert!(!alive(pid), "sshd {pid} still runs");
    for p in session {
        assert!(!alive(p), "session process {p} still runs");
    }
    assert!(!dir.exists(), "{} was not removed", dir.display());
    // The client sees its connection end.
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "ssh client still connected");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn two_hosts_start_in_parallel_on_distinct_ports() {
    require!(require_sshd());
    let hosts: Vec<SshHost> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|i| s.spawn(move || SshHost::start(&format!("p{i}")))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ports: Vec<u16> = hosts.iter().map(SshHost::port).collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 4);
}

#[test]
fn connection_trap_counts_and_hangs_up() {
    use std::io::Read;
    let trap = ConnectionTrap::start();
    assert_eq!(trap.connections(), 0);
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", trap.port())).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 16];
    // Hung up: end of stream (or a reset), never data, never a wait.
    assert!(matches!(conn.read(&mut buf), Ok(0) | Err(_)));
    assert_eq!(trap.connections(), 1);
}

fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

/// Descendants of `root` whose command name is `name`, with every process
/// between them.
fn descendants_named(root: u32, name: &str) -> Vec<u32> {
    let mut all = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        let Ok(children) = std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")) else { continue };
        for c in children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()) {
            all.push(c);
            frontier.push(c);
        }
    }
    let has = all.iter().any(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == name));
    if has {
        all
    } else {
        Vec::new()
    }
}
