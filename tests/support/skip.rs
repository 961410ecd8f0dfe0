//! Declaring what a test needs. A test whose need is not met FAILS, saying
//! what is missing and how to install it: a test that did not run must
//! never count as passed. `tests/run` (the README's test command) checks the
//! needs up front and leaves such tests out of the run, so the test runner
//! counts them as skipped and says why. Use with [`crate::require!`]:
//!
//! ```no_run
//! # use push_tests::{require, require_sshd};
//! fn t() {
//!     require!(require_sshd());
//!     // ...
//! }
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::proc::run_with_timeout;

/// A need is not met: fail with why (never pass quietly).
pub fn skip(why: impl std::fmt::Display) {
    panic!("this test {why}; run the suite with `tests/run`, which leaves out tests whose needs are missing and counts them as skipped");
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file())).unwrap_or(false)
}

/// True when a real sshd, ssh and ssh-keygen are here; fails otherwise.
pub fn require_sshd() -> bool {
    let sshd = crate::sshd::sshd_path();
    let mut missing = Vec::new();
    if !sshd.is_file() {
        missing.push(sshd.display().to_string());
    }
    for tool in ["ssh", "ssh-keygen"] {
        if !on_path(tool) {
            missing.push(tool.to_string());
        }
    }
    if missing.is_empty() {
        return true;
    }
    let why = format!(
        "needs OpenSSH ({} not found); install it with `apt-get install -y openssh-server openssh-client`",
        missing.join(", ")
    );
    skip(why);
    false
}

/// True when `docker info` answers (a daemon is reachable); fails otherwise. For the lab tests that
/// run push against real Debian containers.
pub fn require_docker() -> bool {
    if !on_path("docker") {
        skip("needs docker (no `docker` on PATH)");
        return false;
    }
    let out = run_with_timeout(
        Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"]),
        Duration::from_secs(20),
    );
    if out.success() && !out.stdout.trim().is_empty() {
        return true;
    }
    let why = out.stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("no answer").trim().to_string();
    let why = if out.timed_out { "`docker info` timed out".to_string() } else { why };
    skip(format!("needs a docker daemon (`docker info` failed: {why})"));
    false
}

/// The folder with `ansible`, `ansible-inventory`...: `$PUSH_TESTS_ANSIBLE_BIN`,
/// else `/opt/ansible/bin` (the venv `.ci/run` creates), if it holds them.
pub fn ansible_bin_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("PUSH_TESTS_ANSIBLE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new("/opt/ansible/bin").to_path_buf());
    dir.join("ansible-inventory").is_file().then_some(dir)
}

/// `Some(bin dir)` when ansible-core is installed (see [`ansible_bin_dir`]);
/// otherwise prints `SKIPPED: ...` and returns None.
pub fn require_ansible() -> Option<PathBuf> {
    let dir = ansible_bin_dir();
    if dir.is_none() {
        skip("needs ansible-core in /opt/ansible (python3 -m venv /opt/ansible && /opt/ansible/bin/pip install ansible-core) or PUSH_TESTS_ANSIBLE_BIN");
    }
    dir
}

/// True when Debian's `docker-registry` and `openssl` (which makes the
/// token service's key and certificate) are here; fails otherwise.
pub fn require_registry() -> bool {
    let mut missing = Vec::new();
    if !Path::new("/usr/bin/docker-registry").is_file() {
        missing.push("/usr/bin/docker-registry (apt-get install -y docker-registry)");
    }
    if !on_path("openssl") {
        missing.push("openssl (apt-get install -y openssl)");
    }
    if missing.is_empty() {
        return true;
    }
    skip(format!("needs {}", missing.join(" and ")));
    false
}
