//! One real OpenSSH server on 127.0.0.1, as the current user.

use std::fs::File;
use std::io::Read;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::proc::{descendants, is_alive, kill_pid};

/// The server binary (an absolute path: sshd refuses to re-exec otherwise).
/// `PUSH_TESTS_SSHD` overrides it.
pub const SSHD: &str = "/usr/sbin/sshd";

pub(crate) fn sshd_path() -> PathBuf {
    std::env::var_os("PUSH_TESTS_SSHD").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(SSHD))
}

/// How long a server may take to come up.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// A port on 127.0.0.1 that was free a moment ago (the kernel's pick).
pub fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// The name of the user this test runs as (the login user on every host).
pub fn current_user() -> String {
    // SAFETY: getpwuid returns a pointer into static storage or NULL; we copy
    // the name out at once, and tests do not call getpw* concurrently in ways
    // that matter for a name that never changes.
    unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        if !pw.is_null() && !(*pw).pw_name.is_null() {
            if let Ok(name) = std::ffi::CStr::from_ptr((*pw).pw_name).to_str() {
                return name.to_string();
            }
        }
    }
    std::env::var("USER").expect("cannot tell the current user name")
}

fn is_root() -> bool {
    // SAFETY: plain syscall.
    unsafe { libc::geteuid() == 0 }
}

/// Generate an ed25519 key pair at `path` / `path.pub` with no passphrase.
pub(crate) fn keygen(path: &Path, comment: &str) -> String {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("run ssh-keygen");
    assert!(out.status.success(), "ssh-keygen failed: {}", String::from_utf8_lossy(&out.stderr));
    let public = std::fs::read_to_string(path.with_extension("pub")).expect("read public key");
    // "ssh-ed25519 AAAA... comment" -> "ssh-ed25519 AAAA..."
    public.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// A running `sshd -D -e` on 127.0.0.1 with its own host key, one
/// authorized client key, and its log in its tempdir. Dropping it kills the
/// server and every session it started, and removes the tempdir.
pub struct SshHost {
    name: String,
    port: u16,
    user: String,
    host_public_key: String,
    client_key: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    // Last, so it is removed after the server is gone.
    dir: TempDir,
}

impl SshHost {
    /// Start a server; panics (with the server's log) if it cannot. Check
    /// [`crate::require_sshd`] first to skip where there is no sshd.
    pub fn start(name: &str) -> SshHost {
        SshHost::try_start(name).unwrap_or_else(|e| panic!("cannot start sshd `{name}`: {e}"))
    }

    pub fn try_start(name: &str) -> Result<SshHost, String> {
        SshHost::try_start_for(name, &current_user())
    }

    /// A server where `user` (not the user running the tests) logs in with
    /// the host's client key or its password. The server's folder is opened for traversal
    /// and the authorized keys given to `user`: sshd reads them as the user.
    pub fn start_for(name: &str, user: &str) -> SshHost {
        SshHost::try_start_for(name, user).unwrap_or_else(|e| panic!("cannot start sshd `{name}` for {user}: {e}"))
    }

    fn try_start_for(name: &str, user: &str) -> Result<SshHost, String> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("push-sshd-{name}-"))
            .tempdir()
            .map_err(|e| format!("tempdir: {e}"))?;
        let host_key = dir.path().join("host_ed25519_key");
        let host_public_key = keygen(&host_key, &format!("push-test host key {name}"));
        let client_key = dir.path().join("client_ed25519_key");
        let client_public_key = keygen(&client_key, &format!("push-test client key {name}"));
        let authorized = dir.path().join("authorized_keys");
        std::fs::write(&authorized, format!("{client_public_key}\n")).map_err(|e| e.to_string())?;
        std::fs::set_permissions(&authorized, std::fs::Permissions::from_mode(0o600)).map_err(|e| e.to_string())?;
        if user != current_user() {
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).map_err(|e| e.to_string())?;
            let chown = Command::new("chown").arg(user).arg(&authorized).status().map_err(|e| e.to_string())?;
            if !chown.success() {
                return Err(format!("chown {user} {}: {chown}", authorized.display()));
            }
        }
        if is_root() {
            // The privilege separation folder; Debian's sshd refuses to start without it.
            let run = Path::new("/run/sshd");
            if !run.is_dir() {
                std::fs::create_dir_all(run).map_err(|e| format!("mkdir /run/sshd: {e}"))?;
                std::fs::set_permissions(run, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
            }
        }
        let user = user.to_string();
        let log = dir.path().join("sshd.log");
        let config = dir.path().join("sshd_config");

        // A free port can be taken between our check and sshd's bind (tests
        // run in parallel): then sshd exits and we try another.
        let mut last_error = String::new();
        for _attempt in 0..8 {
            let port = free_port();
            let mut text = sshd_config(port, &host_key, &authorized, &user);
            if user != current_user() {
                // A made-up login user has a password of its own (see
                // SudoUser): it may log in with it too, as on many servers.
                text = text.replace("PasswordAuthentication no", "PasswordAuthentication yes");
            }
            std::fs::write(&config, text).map_err(|e| e.to_string())?;
            let log_file = File::create(&log).map_err(|e| e.to_string())?;
            let mut cmd = Command::new(sshd_path());
            cmd.arg("-D").arg("-e").arg("-f").arg(&config);
            cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log_file);
            // Not in the test's process group: a test killing its own group
            // must not leave this one half alive, and vice versa.
            cmd.process_group(0);
            let mut child = cmd.spawn().map_err(|e| format!("spawn {}: {e}", sshd_path().display()))?;
            match wait_ready(&mut child, port, &log) {
                Ok(()) => {
                    return Ok(SshHost {
                        name: name.to_string(),
                        port,
                        user,
                        host_public_key,
                        client_key,
                        log,
                        child: Some(child),
                        dir,
                    })
                }
                Err(e) => {
                    stop_child(child);
                    match e {
                        Ready::PortTaken(msg) => last_error = msg,
                        Ready::Failed(msg) => return Err(msg),
                    }
                }
            }
        }
        Err(format!("no free port after several tries; last: {last_error}"))
    }

    /// Alias of this host in a fleet (`h1`...).
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn port(&self) -> u16 {
        self.port
    }
    /// Always 127.0.0.1.
    pub fn address(&self) -> &'static str {
        "127.0.0.1"
    }
    /// The login user (the user running the tests).
    pub fn user(&self) -> &str {
        &self.user
    }
    /// The private key the server accepts.
    pub fn client_key(&self) -> &Path {
        &self.client_key
    }
    /// `ssh-ed25519 AAAA...` (no comment).
    pub fn host_public_key(&self) -> &str {
        &self.host_public_key
    }
    /// This host's line for a `known_hosts` file: `[127.0.0.1]:PORT ssh-ed25519 AAAA...`.
    pub fn known_hosts_line(&self) -> String {
        format!("[127.0.0.1]:{} {}", self.port, self.host_public_key)
    }
    /// The server's own tempdir (keys, config, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    /// The server process id (the listener), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }
    /// Everything the server logged so far (`-e`: to its stderr, kept in a file).
    pub fn log_text(&self) -> String {
        read_log(&self.log)
    }
    /// How many logins the server accepted so far.
    pub fn accepted_logins(&self) -> usize {
        self.log_text().lines().filter(|l| l.contains("Accepted publickey")).count()
    }

    /// Give every later session of this host's client key the environment
    /// `vars` (`TMPDIR` for a host whose temporary folder is full), as a
    /// login's own settings would: the key's forced command sets them, then
    /// runs what the client asked for. No server restart: sshd reads the
    /// authorized keys at each login.
    pub fn set_login_env(&self, vars: &[(&str, &str)]) {
        let assignments: Vec<String> = vars
            .iter()
            .map(|(k, v)| {
                assert!(
                    v.chars().all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c)),
                    "set_login_env takes plain paths and words only: {v:?}"
                );
                format!("{k}={v}")
            })
            .collect();
        let public = std::fs::read_to_string(self.client_key.with_extension("pub")).expect("read client public key");
        let key: Vec<&str> = public.split_whitespace().take(2).collect();
        let line = format!(
            "command=\"exec env {} /bin/sh -c \\\"$SSH_ORIGINAL_COMMAND\\\"\" {}\n",
            assignments.join(" "),
            key.join(" ")
        );
        std::fs::write(self.dir.path().join("authorized_keys"), line).expect("write authorized_keys");
    }

    /// Kill the server and every session under it now (Drop does the same).
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            stop_child(child);
        }
    }
}

impl Drop for SshHost {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for SshHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SshHost({} {}@127.0.0.1:{})", self.name, self.user, self.port)
    }
}

/// Wait until the server logged that it listens on `port`.
fn wait_ready(child: &mut Child, port: u16, log: &Path) -> Result<(), Ready> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let listening = format!("Server listening on 127.0.0.1 port {port}.");
    loop {
        if let Some(status) = child.try_wait().map_err(|e| Ready::Failed(e.to_string()))? {
            let log = read_log(log);
            let msg = format!("sshd exited with {status} during start-up; its log:\n{log}");
            return Err(if log.contains("Address already in use") {
                Ready::PortTaken(msg)
            } else {
                Ready::Failed(msg)
            });
        }
        // sshd logs this once listen() succeeded: connections are accepted
        // from then on. (No probe connection: under an init that does not
        // reap, each one would leave a zombie preauth process behind.)
        if read_log(log).contains(&listening) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Ready::Failed(format!("sshd not ready after {READY_TIMEOUT:?}; its log:\n{}", read_log(log))));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read_log(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

/// Kill every process under the listener (open sessions, their shells and
/// commands) leaves first, so that each is reaped by its own parent and no
/// zombie is left to an init that may not reap, then the listener itself.
fn stop_child(mut child: Child) {
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let tree = descendants(pid);
        if tree.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            // Something does not die or is not reaped: end it all anyway.
            for p in tree {
                kill_pid(p);
            }
            break;
        }
        let parents: std::collections::HashSet<u32> = tree.iter().filter_map(|p| parent_of(*p)).collect();
        for p in tree.iter().filter(|p| !parents.contains(p) && is_alive(**p)) {
            kill_pid(*p);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    kill_pid(pid);
    let _ = child.wait();
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].split_whitespace().nth(1)?.parse().ok()
}

enum Ready {
    PortTaken(String),
    Failed(String),
}

fn sshd_config(port: u16, host_key: &Path, authorized: &Path, user: &str) -> String {
    let root_login = if user == "root" { "prohibit-password" } else { "no" };
    format!(
        "# Written by push-tests: a throwaway server for one test.\n\
         Port {port}\n\
         ListenAddress 127.0.0.1\n\
         AddressFamily inet\n\
         HostKey {host_key}\n\
         AuthorizedKeysFile {authorized}\n\
         PidFile none\n\
         StrictModes no\n\
         UsePAM no\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         PermitRootLogin {root_login}\n\
         AllowUsers {user}\n\
         UseDNS no\n\
         MaxStartups 100\n\
         MaxSessions 100\n\
         LoginGraceTime 30\n\
         PrintMotd no\n\
         Subsystem sftp internal-sftp\n\
         LogLevel INFO\n",
        host_key = host_key.display(),
        authorized = authorized.display(),
    )
}
