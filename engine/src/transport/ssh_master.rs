//! Starting a host's ssh master (`ssh -M -f -N`) with the user's own ssh
//! arguments (`ansible_ssh_common_args`, `ansible_ssh_extra_args`,
//! ansible.cfg's `ssh_args`) and, when a login password is given, OpenSSH's
//! `SSH_ASKPASS`; and turning its failures into messages a new user can act
//! on (first contact with an unknown or changed host key).
//!
//! OpenSSH keeps the first value it is given for an option, so the order
//! of the command line is the policy: what push guarantees comes first
//! (its control socket, host-key checking that never accepts a changed
//! key, no prompts), then the user's arguments, then push's defaults,
//! which those arguments may override.

use std::ffi::OsString;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::{Password, Target, TransportError};

/// Everything one master needs beyond its target.
pub(super) struct MasterSpec<'a> {
    pub target: &'a Target,
    pub accept_new_host_keys: bool,
    pub connect_timeout: std::time::Duration,
    pub ssh_config: Option<&'a Path>,
    /// ansible.cfg's `[ssh_connection] ssh_args`, for every host.
    pub config_ssh_args: &'a [String],
    pub password: Option<&'a Password>,
    pub server_alive_interval: std::time::Duration,
    /// Unanswered keepalives before ssh gives up on the host.
    pub server_alive_count_max: u64,
    pub control_persist: std::time::Duration,
}

/// Start the master; its control socket and log are in `dir` (private to
/// us). Returns the socket once the master is up.
pub(super) async fn launch(spec: &MasterSpec<'_>, dir: &Path) -> Result<PathBuf, TransportError> {
    let socket = dir.join("master");
    let log = dir.join("log");
    let mut cmd = tokio::process::Command::new("ssh");
    cmd.args(arguments(spec, &socket, &log, false)).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let askpass = match spec.password {
        Some(password) => Some(Askpass::write(dir, password)?),
        None => None,
    };
    if let Some(askpass) = &askpass {
        askpass.set_env(&mut cmd);
    }
    let status = cmd.status().await.map_err(|e| TransportError::Connect(format!("cannot run ssh: {e}")))?;
    // `-f`: ssh forks once authenticated, so the password is used by now.
    drop(askpass);
    if status.success() {
        return Ok(socket);
    }
    let mut log_text = std::fs::read_to_string(&log).unwrap_or_default();
    if host_key_refused(&log_text) {
        log_text.push_str(&offered_key_log(spec, dir).await);
    }
    Err(TransportError::Connect(explain_failure(spec.target, &log_text)))
}

fn host_key_refused(log: &str) -> bool {
    log.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") || unknown_key_line(log).is_some()
}

/// ssh names the key a server offered only in its debug output: on a
/// refused host key, connect once more the same way (it stops at the same
/// check, before authenticating, so no password is needed) with debug
/// output, and return that log. Only then: debug logging on every master
/// would cost every connection.
async fn offered_key_log(spec: &MasterSpec<'_>, dir: &Path) -> String {
    let log = dir.join("host-key.log");
    let status = tokio::process::Command::new("ssh")
        .args(arguments(spec, &dir.join("unused"), &log, true))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
    match status {
        Ok(_) => std::fs::read_to_string(&log).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// The master's command line, in the order the module comment explains.
/// `debug`: instead, a connection that only goes as far as the host key
/// check, with ssh's debug output (see [`offered_key_log`]).
fn arguments(spec: &MasterSpec<'_>, socket: &Path, log: &Path, debug: bool) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["-E".into(), log.into()];
    if debug {
        option(&mut args, "LogLevel=DEBUG1");
        option(&mut args, "ControlPath=none");
        // Offers no credentials: should the key now pass, it still stops
        // at authentication, never opening a session.
        option(&mut args, "PreferredAuthentications=none");
    } else {
        // `-M` (ControlMaster=yes) marks the process as a master for
        // whoever lists processes; an ssh_args `ControlMaster` comes later
        // and is ignored.
        args.extend(["-M".into(), "-S".into(), socket.into(), "-f".into(), "-N".into()]);
        option(&mut args, format!("ControlPersist={}s", spec.control_persist.as_secs().max(1)));
    }
    option(
        &mut args,
        if spec.accept_new_host_keys { "StrictHostKeyChecking=accept-new" } else { "StrictHostKeyChecking=yes" },
    );
    if spec.password.is_some() && !debug {
        // Prompts go to SSH_ASKPASS only, once: a wrong password fails.
        option(&mut args, "BatchMode=no");
        option(&mut args, "NumberOfPasswordPrompts=1");
    } else {
        option(&mut args, "BatchMode=yes");
    }
    if let Some(config) = spec.target.ssh_config.as_deref().or(spec.ssh_config) {
        args.extend(["-F".into(), config.into()]);
    }
    args.extend(spec.config_ssh_args.iter().chain(&spec.target.ssh_args).map(OsString::from));
    option(&mut args, format!("ConnectTimeout={}", spec.connect_timeout.as_secs().max(1)));
    option(&mut args, format!("ServerAliveInterval={}", spec.server_alive_interval.as_secs().max(1)));
    option(&mut args, format!("ServerAliveCountMax={}", spec.server_alive_count_max));
    if let Some(file) = &spec.target.known_hosts_file {
        let mut o = OsString::from("UserKnownHostsFile=");
        o.push(file);
        option(&mut args, o);
    }
    if let Some(port) = spec.target.port {
        args.extend(["-p".into(), port.to_string().into()]);
    }
    if let Some(user) = &spec.target.user {
        args.extend(["-l".into(), user.into()]);
    }
    if let Some(key) = &spec.target.key_file {
        option(&mut args, "IdentitiesOnly=yes");
        args.extend(["-i".into(), key.into()]);
    }
    // The address cannot start with `-` (checked when the run was
    // prepared); `--` keeps it that way for ssh too.
    args.extend(["--".into(), spec.target.address.clone().into()]);
    if debug {
        args.push("true".into());
    }
    args
}

fn option(args: &mut Vec<OsString>, o: impl Into<OsString>) {
    args.push("-o".into());
    args.push(o.into());
}

/// An SSH_ASKPASS helper that prints the password from a file of ours
/// (mode 0600, in a folder only we can enter): the password is in no
/// process's argv or environment. Both go when this is dropped.
struct Askpass {
    script: PathBuf,
    secret: PathBuf,
}

impl Askpass {
    fn write(dir: &Path, password: &Password) -> Result<Askpass, TransportError> {
        let cannot = |e: std::io::Error| TransportError::Connect(format!("cannot set up SSH_ASKPASS: {e}"));
        let secret = dir.join("askpass.secret");
        let script = dir.join("askpass");
        private_file(&secret, 0o600, password.expose().as_bytes()).map_err(cannot)?;
        let text = format!("#!/bin/sh\nexec cat -- '{}'\n", secret.display().to_string().replace('\'', "'\\''"));
        private_file(&script, 0o700, text.as_bytes()).map_err(cannot)?;
        Ok(Askpass { script, secret })
    }

    fn set_env(&self, cmd: &mut tokio::process::Command) {
        cmd.env("SSH_ASKPASS", &self.script).env("SSH_ASKPASS_REQUIRE", "force").env_remove("DISPLAY");
    }
}

impl Drop for Askpass {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.secret);
        let _ = std::fs::remove_file(&self.script);
    }
}

fn private_file(path: &Path, mode: u32, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    file.write_all(bytes)
}

/// What went wrong, from the master's log: its own lines (debug lines
/// left out), and for host-key trouble what the user should do.
fn explain_failure(target: &Target, log: &str) -> String {
    let said: Vec<&str> = log
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.starts_with("debug") && !l.starts_with('@') && !l.is_empty())
        .collect();
    let said = said.join("\n");
    let offered = offered_host_key(log);
    let destination = match target.port {
        Some(port) => format!("[{}]:{port}", target.address),
        None => target.address.clone(),
    };
    if log.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        return format!(
            "THE HOST KEY OF {} HAS CHANGED: the server at {destination} offered {}, not the key known_hosts holds \
             for it. push will not connect: someone may be in the middle. If the server was reinstalled, check \
             the new fingerprint with its admin, remove the old key (ssh-keygen -R '{destination}') and run again.",
            target.name,
            offered.as_deref().unwrap_or("another key"),
        );
    }
    if let Some(known_for) = unknown_key_line(log) {
        let key = offered.map(|k| format!(" it offered {k}.")).unwrap_or_default();
        let port = target.port.map(|p| format!("-p {p} ")).unwrap_or_default();
        return format!(
            "host key of {} is not known ({known_for}).{key}\n  hint: first contact: check that fingerprint with \
             the server's admin (on the server: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then run again \
             with --accept-new-host-keys, or add it with `ssh-keyscan {port}{} >> ~/.ssh/known_hosts`",
            target.name, target.address,
        );
    }
    said
}

/// `ssh-ed25519 SHA256:...`, from ssh's `debug1: Server host key: ...`.
fn offered_host_key(log: &str) -> Option<String> {
    log.lines().find_map(|l| l.split_once("Server host key: ").map(|(_, key)| key.trim().to_string()))
}

/// ssh's `No ED25519 host key is known for [127.0.0.1]:2222 and you have
/// requested strict checking.`, cut to what it names: `no ED25519 host
/// key is known for [127.0.0.1]:2222`.
fn unknown_key_line(log: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains("host key is known for"))?;
    let start = line.find("No ").unwrap_or(0);
    let end = line.find(" and you have").unwrap_or(line.len());
    let named = line[start..end].trim();
    Some(match named.strip_prefix("No ") {
        Some(rest) => format!("no {rest}"),
        None => named.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target { name: "web1".into(), address: "10.0.0.5".into(), port: Some(2222), ..Target::default() }
    }

    const OFFERED: &str = "debug1: Server host key: ssh-ed25519 SHA256:abcDEF123\n";

    #[test]
    fn an_unknown_key_names_the_host_the_key_and_both_ways_out() {
        let log = format!(
            "{OFFERED}No ED25519 host key is known for [10.0.0.5]:2222 and you have requested strict checking.\nHost key verification failed.\n"
        );
        let text = explain_failure(&target(), &log);
        assert!(
            text.contains("host key of web1 is not known (no ED25519 host key is known for [10.0.0.5]:2222)"),
            "{text}"
        );
        assert!(text.contains("ssh-ed25519 SHA256:abcDEF123"), "{text}");
        assert!(text.contains("--accept-new-host-keys"), "{text}");
        assert!(text.contains("ssh-keyscan -p 2222 10.0.0.5"), "{text}");
    }

    #[test]
    fn a_changed_key_says_so_loudly() {
        let log = format!("{OFFERED}@@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key verification failed.\n");
        let text = explain_failure(&target(), &log);
        assert!(text.starts_with("THE HOST KEY OF web1 HAS CHANGED"), "{text}");
        assert!(text.contains("ssh-ed25519 SHA256:abcDEF123") && text.contains("will not connect"), "{text}");
    }

    #[test]
    fn other_failures_keep_ssh_words_without_debug_lines() {
        let log = "debug1: Connecting to 10.0.0.5\nssh: connect to host 10.0.0.5 port 2222: Connection refused\n";
        assert_eq!(explain_failure(&target(), log), "ssh: connect to host 10.0.0.5 port 2222: Connection refused");
    }

    /// What push guarantees comes before the user's arguments (ssh keeps
    /// the first value), its tunable defaults after them: a user's attempt
    /// to weaken host-key checking is outranked.
    #[test]
    fn user_arguments_sit_between_guarantees_and_defaults() {
        let t = Target { ssh_args: vec!["-o".into(), "StrictHostKeyChecking=accept-new".into()], ..target() };
        let spec = MasterSpec {
            target: &t,
            accept_new_host_keys: false,
            connect_timeout: std::time::Duration::from_secs(10),
            ssh_config: None,
            config_ssh_args: &["-o".into(), "ConnectTimeout=3".into()],
            password: None,
            server_alive_interval: std::time::Duration::from_secs(4),
            server_alive_count_max: 3,
            control_persist: std::time::Duration::from_secs(30),
        };
        let args: Vec<String> = arguments(&spec, Path::new("/s"), Path::new("/l"), false)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        let at = |s: &str| args.iter().position(|a| a == s).unwrap_or_else(|| panic!("{s} not in {args:?}"));
        assert!(at("StrictHostKeyChecking=yes") < at("StrictHostKeyChecking=accept-new"));
        assert!(at("ConnectTimeout=3") < at("ConnectTimeout=10"));
        assert!(at("ControlPersist=30s") < at("StrictHostKeyChecking=accept-new"));
        at("ServerAliveInterval=4");
        at("ServerAliveCountMax=3");
        assert_eq!(&args[args.len() - 2..], ["--", "10.0.0.5"]);
    }
}
