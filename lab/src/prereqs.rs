//! What the machine needs before `push lab` can work, and the exact
//! command that provides it. `push lab` never installs packages or starts
//! services on the user's machine itself: it says what is missing and stops.
//!
//! Needed: the Docker engine and CLI (`docker.io`), `ssh-keygen`
//! (`openssh-client`), and, only until the base image is built once,
//! `debootstrap` run as root. The image registry runs in a container built
//! from Debian's `docker-registry` package, so that package is not needed
//! on the machine itself.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// `program` on `$PATH`, or in the sbin folders a non-root `$PATH` lacks.
pub fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// The Docker CLI is installed and its engine answers.
pub fn require_docker() -> Result<()> {
    if find_program("docker").is_none() {
        return Err(Error::Setup("docker not found: install it with `apt-get install -y docker.io`".into()));
    }
    let mut cmd = Command::new("docker");
    cmd.args(["info", "--format", "{{.ServerVersion}}"]);
    match run_bounded(cmd, Duration::from_secs(30)) {
        Some((true, out, _)) if !out.trim().is_empty() => Ok(()),
        Some((_, _, err)) if err.to_lowercase().contains("permission denied") => Err(Error::Setup(
            "cannot talk to the Docker engine: permission denied on its socket (run as root or join the `docker` group)"
                .into(),
        )),
        Some(_) => Err(Error::Setup(
            "Docker engine not running: start it with `dockerd &` or `systemctl start docker`".into(),
        )),
        None => Err(Error::Setup(
            "Docker engine not answering: `docker info` took over 30s; check `dockerd` (its log, or `systemctl status docker`)"
                .into(),
        )),
    }
}

/// `ssh-keygen`, for the lab's client key.
pub fn require_ssh_keygen() -> Result<()> {
    match find_program("ssh-keygen") {
        Some(_) => Ok(()),
        None => Err(Error::Setup("ssh-keygen not found: install it with `apt-get install -y openssh-client`".into())),
    }
}

/// What building the base image needs: debootstrap, run as root.
pub fn require_debootstrap() -> Result<PathBuf> {
    let Some(path) = find_program("debootstrap") else {
        return Err(Error::Setup(
            "debootstrap not found (needed once, to build the lab base image): install it with `apt-get install -y debootstrap`"
                .into(),
        ));
    };
    if !is_root() {
        return Err(Error::Setup(
            "building the lab base image needs root (debootstrap): run `push lab up` once as root; later runs reuse the image"
                .into(),
        ));
    }
    Ok(path)
}

/// Whether this process runs as uid 0 (read from /proc, no libc needed).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").ok().is_some_and(|s| is_root_status(&s))
}

fn is_root_status(status: &str) -> bool {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .is_some_and(|effective| effective == "0")
}

/// Run `cmd` for at most `limit`: `(succeeded, stdout, stderr)`, or `None`
/// when it had to be killed.
fn run_bounded(mut cmd: Command, limit: Duration) -> Option<(bool, String, String)> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().ok()?;
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let out = child.wait_with_output().ok()?;
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_from_proc_status() {
        assert!(is_root_status("Name:\tx\nUid:\t0\t0\t0\t0\n"));
        assert!(!is_root_status("Uid:\t1000\t1000\t1000\t1000\n"));
        assert!(!is_root_status("Uid:\t0\t1000\t0\t0\n"));
        assert!(!is_root_status(""));
    }
}
