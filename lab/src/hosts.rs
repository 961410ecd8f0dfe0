//! Lab hosts: containers that boot systemd as PID 1, each with its own
//! address on the lab network, its own SSH host keys (made on first boot)
//! and the lab's client key in root's authorized_keys.

use std::time::{Duration, Instant};

use crate::docker::Docker;
use crate::{Error, LabName, Result, INDEX_LABEL, LABEL, PREPARED_LABEL, ROLE_LABEL};

/// How long one host may take to reach `running`.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// Capability names Docker knows, by bit number (capability.h).
const CAPABILITIES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// How this machine lets a container run systemd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtime {
    /// Capabilities missing from our bounding set: `--cap-add ALL` would
    /// fail to apply them (`--privileged` fails for the same reason), so
    /// they are dropped.
    pub missing_caps: Vec<&'static str>,
    /// cgroup v2 only (no v1 hierarchies).
    pub cgroup_v2: bool,
}

impl Runtime {
    pub fn detect() -> Runtime {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let bounding = status
            .lines()
            .find_map(|l| l.strip_prefix("CapBnd:"))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .unwrap_or(u64::MAX);
        let cgroup_v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        Runtime { missing_caps: missing_caps(bounding), cgroup_v2 }
    }
}

fn missing_caps(bounding: u64) -> Vec<&'static str> {
    CAPABILITIES.iter().enumerate().filter(|(bit, _)| bounding & (1 << bit) == 0).map(|(_, name)| *name).collect()
}

/// `docker run` arguments that boot host `index` of `lab`.
///
/// systemd needs: to be PID 1 (`/sbin/init` is the image's command), a
/// writable /run and /run/lock (tmpfs), the cgroup tree, and the
/// capabilities and syscalls a full init uses (all caps we have, no
/// seccomp/apparmor filter). No `--privileged`: no host devices.
pub fn run_args(
    lab: &LabName,
    index: u32,
    network: &str,
    image: &str,
    prepared: bool,
    runtime: &Runtime,
) -> Vec<String> {
    let name = lab.host(index);
    let mut a: Vec<String> = vec![
        "run".into(),
        "--detach".into(),
        "--name".into(),
        name.clone(),
        "--hostname".into(),
        name,
        "--network".into(),
        network.into(),
        "--label".into(),
        format!("{LABEL}={lab}"),
        "--label".into(),
        format!("{ROLE_LABEL}=host"),
        "--label".into(),
        format!("{INDEX_LABEL}={index}"),
    ];
    if prepared {
        a.extend(["--label".into(), format!("{PREPARED_LABEL}=1")]);
    }
    a.extend(["--cap-add".into(), "ALL".into()]);
    for cap in &runtime.missing_caps {
        a.extend(["--cap-drop".into(), cap.to_string()]);
    }
    a.extend(
        [
            "--security-opt",
            "seccomp=unconfined",
            "--security-opt",
            "apparmor=unconfined",
            "--tmpfs",
            "/run",
            "--tmpfs",
            "/run/lock",
        ]
        .map(String::from),
    );
    if runtime.cgroup_v2 {
        a.extend(["--cgroupns=host", "--volume", "/sys/fs/cgroup:/sys/fs/cgroup:rw"].map(String::from));
    } else {
        a.extend(["--volume", "/sys/fs/cgroup:/sys/fs/cgroup:ro"].map(String::from));
    }
    a.push(image.into());
    a
}

/// Wait until systemd on `name` says `running`. `degraded` (a unit failed)
/// is an error naming the failed units, as is a container that stopped.
pub fn wait_running(docker: &Docker, name: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        // Exit status 1 while starting, the state on stdout either way.
        let (_, state, err) = docker.exec_status(name, &["systemctl", "is-system-running"])?;
        if state == "running" {
            return Ok(());
        }
        let last = if state.is_empty() { super::docker::last_line(&err) } else { state.clone() };
        if last == "degraded" {
            let failed = docker
                .exec(name, &["systemctl", "--failed", "--no-legend", "--plain"])
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.split_whitespace().next().map(str::to_string))
                .collect::<Vec<_>>();
            let hint = super::inotify::degraded_hint(&failed).map(|h| format!("; {h}")).unwrap_or_default();
            return Err(Error::Failed(format!(
                "host {name} booted degraded: failed units: {}{hint}",
                failed.join(", ")
            )));
        }
        // `docker exec` into a container that stopped says so.
        if state.is_empty() && err.contains("is not running") {
            let logs = docker.output(["logs", "--tail", "5", name]).unwrap_or_default();
            return Err(Error::Failed(format!(
                "host {name} stopped while booting: {}",
                logs.lines().last().unwrap_or("no log")
            )));
        }
        if Instant::now() > deadline {
            return Err(Error::Failed(format!(
                "host {name} did not finish booting in {}s (systemctl is-system-running: {last})",
                timeout.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(400));
    }
}

/// Make `public_key` the only key in root's authorized_keys.
pub fn authorize_key(docker: &Docker, name: &str, public_key: &str) -> Result<()> {
    let script = "umask 077 && mkdir -p /root/.ssh && cat > /root/.ssh/authorized_keys.new && mv /root/.ssh/authorized_keys.new /root/.ssh/authorized_keys";
    docker.exec_with_stdin(name, &["sh", "-c", script], format!("{}\n", public_key.trim()).as_bytes()).map(drop)
}

/// The host's public host keys (`type base64`, comments dropped), read
/// from the host itself; the ed25519 key first.
pub fn host_keys(docker: &Docker, name: &str) -> Result<Vec<String>> {
    let out = docker.exec(
        name,
        &["sh", "-c", "cat /etc/ssh/ssh_host_ed25519_key.pub; cat /etc/ssh/ssh_host_ecdsa_key.pub /etc/ssh/ssh_host_rsa_key.pub 2>/dev/null || true"],
    )?;
    let keys = parse_public_keys(&out);
    if !keys.iter().any(|k| k.starts_with("ssh-ed25519 ")) {
        return Err(Error::Failed(format!("host {name} has no ed25519 host key")));
    }
    Ok(keys)
}

fn parse_public_keys(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let (kind, key) = (parts.next()?, parts.next()?);
            (kind.starts_with("ssh-") || kind.starts_with("ecdsa-")).then(|| format!("{kind} {key}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_missing_from_the_bounding_set() {
        // This machine: everything up to CHECKPOINT_RESTORE except SYS_RESOURCE.
        assert_eq!(missing_caps(0x000001fffeffffff), ["SYS_RESOURCE"]);
        assert!(missing_caps(u64::MAX).is_empty());
        assert_eq!(missing_caps(0x000001ffffffffff & !(1 << 21)), ["SYS_ADMIN"]);
    }

    #[test]
    fn docker_run_for_a_host() {
        let lab = LabName::parse("lab").unwrap();
        let runtime = Runtime { missing_caps: vec!["SYS_RESOURCE"], cgroup_v2: false };
        insta::assert_snapshot!(run_args(&lab, 2, "push-lab-lab", "push-lab/debian:12", false, &runtime).join(" "), @"run --detach --name lab-2 --hostname lab-2 --network push-lab-lab --label push.lab=lab --label push.lab.role=host --label push.lab.index=2 --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined --security-opt apparmor=unconfined --tmpfs /run --tmpfs /run/lock --volume /sys/fs/cgroup:/sys/fs/cgroup:ro push-lab/debian:12");
        let v2 = Runtime { missing_caps: vec![], cgroup_v2: true };
        let args = run_args(&lab, 1, "push-lab-lab", "push-lab/debian-docker:12", true, &v2).join(" ");
        assert!(args.contains("--label push.lab.prepared=1"), "{args}");
        assert!(args.contains("--cgroupns=host --volume /sys/fs/cgroup:/sys/fs/cgroup:rw"), "{args}");
        assert!(!args.contains("--cap-drop"), "{args}");
    }

    #[test]
    fn public_keys_without_comments() {
        let text =
            "ssh-ed25519 AAAAC3Nz root@lab-1\necdsa-sha2-nistp256 AAAAE2 root@lab-1\n\nssh-rsa AAAAB3 root@lab-1\n";
        assert_eq!(parse_public_keys(text), ["ssh-ed25519 AAAAC3Nz", "ecdsa-sha2-nistp256 AAAAE2", "ssh-rsa AAAAB3"]);
    }
}
