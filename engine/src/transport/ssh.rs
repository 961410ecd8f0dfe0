//! SSH through the system's OpenSSH (the `openssh` crate, process-mux): one
//! master connection per host, every script over it. The user's
//! ~/.ssh/config, agent, ProxyJump and known_hosts apply as with `ssh`.

use std::sync::Arc;
use std::time::Duration;

use openssh::{KnownHosts, Session, SessionBuilder, Stdio};
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

use super::{error_chain, BoxFuture, Connection, Connector, ExecOutput, Target, TransportError};

#[derive(Debug, Clone)]
pub struct SshOptions {
    /// Accept (and remember) keys of hosts not yet in known_hosts. Off by
    /// default: an unknown key is refused, as `StrictHostKeyChecking=yes`.
    pub accept_new_host_keys: bool,
    pub connect_timeout: Duration,
    /// How many connections may be in their handshake at once; sshd's
    /// MaxStartups (10 by default) drops bursts beyond that.
    pub max_concurrent_connects: usize,
    /// An ssh_config for every host (`--ssh-config`), unless a host sets
    /// `push_ssh_config`.
    pub ssh_config: Option<std::path::PathBuf>,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            accept_new_host_keys: false,
            connect_timeout: Duration::from_secs(10),
            max_concurrent_connects: 10,
            ssh_config: None,
        }
    }
}

pub struct SshConnector {
    options: SshOptions,
    starting: Arc<Semaphore>,
    /// Control sockets live here, removed when the run ends.
    control_dir: tempfile::TempDir,
}

impl SshConnector {
    pub fn new(options: SshOptions) -> std::io::Result<SshConnector> {
        let control_dir = tempfile::Builder::new().prefix("push-ssh.").tempdir()?;
        Ok(SshConnector {
            starting: Arc::new(Semaphore::new(options.max_concurrent_connects.max(1))),
            options,
            control_dir,
        })
    }

    fn builder(&self, target: &Target) -> SessionBuilder {
        let mut b = SessionBuilder::default();
        b.known_hosts_check(if self.options.accept_new_host_keys { KnownHosts::Add } else { KnownHosts::Strict })
            .connect_timeout(self.options.connect_timeout)
            .server_alive_interval(Duration::from_secs(15))
            .control_directory(self.control_dir.path());
        if let Some(port) = target.port {
            b.port(port);
        }
        if let Some(user) = &target.user {
            b.user(user.clone());
        }
        if let Some(key) = &target.key_file {
            b.keyfile(key);
        }
        if let Some(config) = target.ssh_config.as_ref().or(self.options.ssh_config.as_ref()) {
            b.config_file(config);
        }
        if let Some(file) = &target.known_hosts_file {
            b.user_known_hosts_file(file);
        }
        b
    }
}

impl Connector for SshConnector {
    fn connect<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<Box<dyn Connection>, TransportError>> {
        Box::pin(async move {
            let _permit = self.starting.acquire().await.map_err(|e| TransportError::Connect(e.to_string()))?;
            let session = self
                .builder(target)
                .connect(&target.address)
                .await
                .map_err(|e| TransportError::Connect(error_chain(&e)))?;
            Ok(Box::new(SshConnection { session }) as Box<dyn Connection>)
        })
    }
}

struct SshConnection {
    session: Session,
}

impl Connection for SshConnection {
    fn exec<'a>(&'a self, script: &'a str) -> BoxFuture<'a, Result<ExecOutput, TransportError>> {
        Box::pin(async move {
            let lost = |e: openssh::Error| TransportError::Exec(error_chain(&e));
            let mut child = self
                .session
                .command("sh")
                .arg("-s")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .await
                .map_err(lost)?;
            let mut stdin = child.stdin().take().expect("piped stdin");
            let write = async move {
                let r = stdin.write_all(script.as_bytes()).await;
                drop(stdin);
                r
            };
            let (written, output) = tokio::join!(write, child.wait_with_output());
            let output = output.map_err(lost)?;
            written.map_err(|e| TransportError::Exec(e.to_string()))?;
            // 255 is ssh's own "the connection failed" exit code.
            if output.status.code() == Some(255) && output.stdout.is_empty() {
                return Err(TransportError::Exec(String::from_utf8_lossy(&output.stderr).trim().to_string()));
            }
            Ok(ExecOutput { stdout: output.stdout, stderr: output.stderr, status: output.status.code() })
        })
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let _ = self.session.close().await;
        })
    }
}
