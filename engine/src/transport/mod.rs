//! How scripts reach hosts. The run path only knows [`Connector`] and
//! [`Connection`]: run a script, get its output. SSH is the real one; the
//! local one runs `sh` on this machine (`ansible_connection=local`) and lets
//! the run path be tested without SSH.

mod local;
mod ssh;
mod ssh_master;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncReadExt};

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
}

/// Called with each piece of the script's stderr as it arrives, for what a
/// host says while the script still runs (a wait for the deploy lock).
pub type Progress<'a> = &'a (dyn Fn(&[u8]) + Send + Sync);

pub trait Connection: Send + Sync {
    /// Run a shell script (fed to `sh -s` on stdin) and collect its output,
    /// bounded by [`read_capped`]; its stderr goes to `progress` as it
    /// arrives.
    fn exec<'a>(
        &'a self,
        script: &'a Script,
        progress: Progress<'a>,
    ) -> BoxFuture<'a, Result<ExecOutput, TransportError>>;
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

/// Read one of a script's output streams to its end as it arrives, keeping
/// only the head and tail of each step's data ([`CappedFrames`]). Each
/// piece goes to `progress` as it was received, before the bound applies.
pub(crate) async fn read_capped(
    mut stream: impl AsyncRead + Unpin,
    script: &Script,
    progress: Option<Progress<'_>>,
) -> std::io::Result<Vec<u8>> {
    let mut capped = CappedFrames::new(&script.nonce);
    let mut buf = vec![0; 64 << 10];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(capped.finish());
        }
        if let Some(progress) = progress {
            progress(&buf[..n]);
        }
        capped.push(&buf[..n]);
    }
}

/// Read a script's stdout and stderr to their ends, both at once, bounded
/// ([`read_capped`]), passing stderr to `progress` as it comes.
pub(crate) async fn read_output(
    stdout: impl AsyncRead + Unpin,
    stderr: impl AsyncRead + Unpin,
    script: &Script,
    progress: Progress<'_>,
) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    tokio::try_join!(read_capped(stdout, script, None), read_capped(stderr, script, Some(progress)))
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
