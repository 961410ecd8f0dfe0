//! How scripts reach hosts. The run path only knows [`Connector`] and
//! [`Connection`]: run a script, get its output. Each connection keeps one
//! session (a remote `sh -s` fed chunk by chunk, [`session`]) for all the
//! scripts sent to its host. SSH is the real one; the local one runs `sh`
//! on this machine (`ansible_connection=local`) and lets the run path be
//! tested without SSH.

mod local;
mod session;
mod ssh;
mod ssh_master;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

#[cfg(doc)]
use crate::output_cap::CappedFrames;
use crate::script::Script;

pub use local::LocalConnector;
pub use ssh::{SshConnector, SshOptions};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where and how to reach one host, from its variables.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Target {
    /// The inventory name.
    pub name: String,
    /// `ansible_host`, else the name.
    pub address: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub key_file: Option<PathBuf>,
    /// An ssh_config file passed as `ssh -F` (`push_ssh_config`).
    pub ssh_config: Option<PathBuf>,
    /// `push_known_hosts_file`: an extra UserKnownHostsFile.
    pub known_hosts_file: Option<PathBuf>,
    pub local: bool,
    /// `ansible_ssh_common_args` then `ansible_ssh_extra_args`, split as a
    /// shell would, for ssh's command line.
    pub ssh_args: Vec<String>,
    /// `ansible_password` (`ansible_ssh_pass`): given to ssh by SSH_ASKPASS.
    pub password: Option<Password>,
}

/// A login password. Its `Debug` hides it.
#[derive(Clone, PartialEq, Default)]
pub struct Password(String);

impl Password {
    pub fn new(password: impl Into<String>) -> Password {
        Password(password.into())
    }
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(hidden)")
    }
}

#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// None when the remote shell was killed by a signal.
    pub status: Option<i32>,
    /// This script started a new remote shell (a session) on the host.
    pub new_session: bool,
}

/// A script's output, or what came of it before the host's session went
/// away while it ran.
#[derive(Debug)]
pub enum Exec {
    Done(ExecOutput),
    Lost { partial: ExecOutput, why: TransportError },
}

/// Which of a remote shell's output streams a piece comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("connection lost: {0}")]
    Exec(String),
    /// The host answers, but the shell running the script was killed (by
    /// a signal: the OOM killer, an admin): a failed host, not an
    /// unreachable one.
    #[error("the remote shell running the script was killed (by a signal); the host still answers")]
    ShellKilled,
    /// The host's session shell exited in the middle of a script (it could
    /// not read the script: a shell syntax error): a failed host.
    #[error("the remote shell exited with status {0} in the middle of a script")]
    ShellExited(i32),
}

/// Called with each piece of the script's output as it arrives, for what a
/// host says while the script still runs (a step that finished, a wait for
/// the deploy lock).
pub type Progress<'a> = &'a (dyn Fn(Stream, &[u8]) + Send + Sync);

pub trait Connection: Send + Sync {
    /// Run a shell script on the host's session (one `sh -s` per host, see
    /// [`session`]; started by the first script) and collect its output,
    /// bounded as [`CappedFrames`] bounds it; its output goes to `progress`
    /// as it arrives. Err: the script did not run (no session could be
    /// started, or it could not be sent).
    fn exec<'a>(&'a self, script: &'a Script, progress: Progress<'a>) -> BoxFuture<'a, Result<Exec, TransportError>>;
    /// Can a later play still run on this connection? (It may have closed
    /// itself while idle.)
    fn reusable(&self) -> bool {
        true
    }
    /// Close cleanly (ssh master exited, control socket removed).
    fn close(self: Box<Self>) -> BoxFuture<'static, ()>;
}

pub trait Connector: Send + Sync {
    fn connect<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<Box<dyn Connection>, TransportError>>;
}

/// Runs local targets locally and the rest over SSH.
pub struct DefaultConnector {
    pub ssh: SshConnector,
    pub local: LocalConnector,
}

impl Connector for DefaultConnector {
    fn connect<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<Box<dyn Connection>, TransportError>> {
        if target.local {
            self.local.connect(target)
        } else {
            self.ssh.connect(target)
        }
    }
}

/// Error text with its causes, the way ssh's own message reads best.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(part.trim()) {
            text.push_str(": ");
            text.push_str(part.trim());
        }
        source = s.source();
    }
    text
}
