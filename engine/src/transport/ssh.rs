//! SSH through the system's OpenSSH: one master connection (`ssh -M`) per
//! host, started by push ([`super::ssh_master`]: the user's ssh arguments
//! and SSH_ASKPASS need a command line of our own), and over it one
//! session (a remote `sh -s`, [`super::session`]) through the `openssh`
//! crate that carries every script sent to the host. The user's
//! ~/.ssh/config, agent, ProxyJump and known_hosts apply as with `ssh`.
//!
//! The session goes through the master's control socket directly (native
//! mux): no `ssh -S` client process, which on a fleet is a measurable
//! share of a no-op run's CPU. The master itself is ended with SIGTERM (what
//! `ssh -O exit` asks for) rather than left to wind down after the socket
//! goes, so no ssh process outlives the run. Should push die without a
//! chance to end it (SIGKILL), the master still goes once idle for
//! [`CONTROL_PERSIST`].

use std::sync::Arc;
use std::time::Duration;

use std::sync::Mutex;
use std::time::Instant;

use openssh::{Child, Session, Stdio};
use tokio::sync::Semaphore;

use super::session::{self as shell, ChunkEnd, Pipes};
use super::{error_chain, BoxFuture, Connection, Connector, Exec, ExecOutput, Progress, Target, TransportError};
use crate::script::Script;

#[derive(Debug, Clone)]
pub struct SshOptions {
    /// Accept (and remember) keys of hosts not yet in known_hosts. Off by
    /// default: an unknown key is refused, as `StrictHostKeyChecking=yes`.
    pub accept_new_host_keys: bool,
    pub connect_timeout: Duration,
    /// How many connections to one sshd (address and port) may be in their
    /// handshake at once: its MaxStartups (10 by default) drops bursts
    /// beyond that, e.g. of several inventory hosts that are logins on one
    /// machine. Different machines are not held back by each other.
    pub max_concurrent_connects: usize,
    /// An ssh_config for every host (`--ssh-config`), unless a host sets
    /// `push_ssh_config`.
    pub ssh_config: Option<std::path::PathBuf>,
    /// ansible.cfg's `[ssh_connection] ssh_args`, before each host's own.
    pub ssh_args: Vec<String>,
    /// `-k`: the login password of hosts without `ansible_password`.
    pub password: Option<super::Password>,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            accept_new_host_keys: false,
            connect_timeout: Duration::from_secs(10),
            max_concurrent_connects: 10,
            ssh_config: None,
            ssh_args: Vec::new(),
            password: None,
        }
    }
}

/// How a silent host is noticed, and how a silent controller is noticed
/// on the host, both from `--timeout` (T seconds).
///
/// ssh sends a keepalive after every ServerAliveInterval (I) and gives up
/// at the check after ServerAliveCountMax (3, set on the master's command
/// line; the user's ssh arguments may override it) went unanswered: a host that stops answering is dropped
/// between 3I and 4I seconds later. I = ceil(T/3), so that is T to about
/// 4T/3 (T=10: 12 to 16 s; the old fixed I=15 took 45 to 60 s).
///
/// The host ends its side of a run once its controller has been silent
/// for 3T (script_watch.sh); the controller sends a heartbeat every T/2,
/// so a host hears several within any window it looks at.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Keepalive {
    interval: Duration,
    host_silence_limit: Duration,
    heartbeat: Duration,
}

/// ServerAliveCountMax, ssh's default, set explicitly on the master's
/// command line.
const SERVER_ALIVE_COUNT_MAX: u64 = 3;

impl SshOptions {
    fn keepalive(&self) -> Keepalive {
        let t = self.connect_timeout.as_secs().max(1);
        Keepalive {
            interval: Duration::from_secs(t.div_ceil(SERVER_ALIVE_COUNT_MAX)),
            host_silence_limit: Duration::from_secs(3 * t),
            heartbeat: Duration::from_millis(t * 500),
        }
    }
}

/// How long a master stays without a session before it exits on its own.
/// While a host's session is open the master is not idle; a connection
/// whose session went away and that idles longer is replaced (see
/// [`REUSE_WITHIN`]).
const CONTROL_PERSIST: Duration = Duration::from_secs(30);

/// A connection idle for longer is not reused: its master may be about to
/// end itself (the margin covers the time to start the next exec).
const REUSE_WITHIN: Duration = Duration::from_secs(20);

/// One sshd: address and port.
type Sshd = (String, Option<u16>);

pub struct SshConnector {
    options: SshOptions,
    /// Handshake slots per sshd.
    starting: std::sync::Mutex<std::collections::HashMap<Sshd, Arc<Semaphore>>>,
    /// Control sockets live here, removed when the run ends.
    control_dir: tempfile::TempDir,
    /// Masters of connections dropped without `close` (a run stopped by a
    /// signal), signalled but maybe not gone yet: see [`Self::end_dropped`].
    dropped: Arc<Mutex<Vec<Master>>>,
}

impl SshConnector {
    pub fn new(options: SshOptions) -> std::io::Result<SshConnector> {
        // Whoever can reach a master's socket can run commands as us on the
        // host: the folder is ours alone.
        let control_dir = tempfile::Builder::new()
            .prefix("push-ssh.")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()?;
        Ok(SshConnector { starting: Default::default(), options, control_dir, dropped: Arc::default() })
    }

    /// Wait until the masters of connections dropped unclosed are gone.
    pub async fn end_dropped(&self) {
        let masters: Vec<Master> =
            std::mem::take(&mut *self.dropped.lock().expect("not poisoned: no panics while held"));
        futures::future::join_all(masters.iter().map(Master::end)).await;
    }

    fn master_spec<'a>(&'a self, target: &'a Target) -> super::ssh_master::MasterSpec<'a> {
        let keepalive = self.options.keepalive();
        super::ssh_master::MasterSpec {
            target,
            accept_new_host_keys: self.options.accept_new_host_keys,
            connect_timeout: self.options.connect_timeout,
            ssh_config: self.options.ssh_config.as_deref(),
            config_ssh_args: &self.options.ssh_args,
            password: target.password.as_ref().or(self.options.password.as_ref()),
            server_alive_interval: keepalive.interval,
            server_alive_count_max: SERVER_ALIVE_COUNT_MAX,
            control_persist: CONTROL_PERSIST,
        }
    }
}

impl Connector for SshConnector {
    fn connect<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<Box<dyn Connection>, TransportError>> {
        Box::pin(async move {
            let slots = {
                let mut starting = self.starting.lock().expect("not poisoned: no panics while held");
                let slots = starting.entry((target.address.clone(), target.port));
                Arc::clone(
                    slots.or_insert_with(|| Arc::new(Semaphore::new(self.options.max_concurrent_connects.max(1)))),
                )
            };
            let _permit = slots.acquire().await.map_err(|e| TransportError::Connect(e.to_string()))?;
            let dir = tempfile::Builder::new()
                .prefix(".ssh-connection")
                .tempdir_in(self.control_dir.path())
                .map_err(|e| TransportError::Connect(format!("cannot make a control folder: {e}")))?;
            let socket = super::ssh_master::launch(&self.master_spec(target), dir.path()).await?;
            let master = Master::of(&socket).await;
            let session = Session::resume_mux(socket.into_boxed_path(), Some(dir.path().join("log").into_boxed_path()));
            let connection = SshConnection {
                _dir: dir,
                session: Some(Arc::new(session)),
                live: Default::default(),
                master,
                keepalive: self.options.keepalive(),
                idle_since: Mutex::new(Instant::now()),
                dropped: Arc::clone(&self.dropped),
            };
            Ok(Box::new(connection) as Box<dyn Connection>)
        })
    }
}

struct SshConnection {
    /// The master's control socket and log; removed with the connection.
    _dir: tempfile::TempDir,
    /// Taken by `close` (which consumes the connection), so `drop` knows the
    /// master was already ended.
    session: Option<Arc<Session>>,
    /// The host's session shell, started by the first script.
    live: tokio::sync::Mutex<Option<Live>>,
    master: Option<Master>,
    keepalive: Keepalive,
    /// When the last exec ended (or the connection was made).
    idle_since: Mutex<Instant>,
    /// The connector's list of masters to wait for, if this connection is
    /// dropped unclosed.
    dropped: Arc<Mutex<Vec<Master>>>,
}

/// A session shell on the host, and the remote process that runs it.
struct Live {
    child: Child<Arc<Session>>,
    shell: shell::Session,
}

/// A connection's master process, ended by push when done with it.
struct Master {
    pid: i32,
    /// Its control socket, named on its command line (`-S`).
    socket: std::path::PathBuf,
}

impl Master {
    /// The master behind a control socket: its pid, as it reports it.
    async fn of(socket: &std::path::Path) -> Option<Master> {
        let mut mux = openssh_mux_client::Connection::connect(socket).await.ok()?;
        let pid = mux.send_alive_check().await.ok().and_then(|pid| i32::try_from(pid.get()).ok())?;
        Some(Master { pid, socket: socket.to_path_buf() })
    }

    /// Is the master still running? It may have ended itself (idle for
    /// [`CONTROL_PERSIST`]) and its pid gone to another process since: only
    /// a process naming our socket is ours to signal.
    fn running(&self) -> bool {
        if !running(self.pid) {
            return false;
        }
        let socket = self.socket.as_os_str().as_encoded_bytes();
        std::fs::read(format!("/proc/{}/cmdline", self.pid))
            .is_ok_and(|cmdline| cmdline.split(|&b| b == 0).any(|arg| arg.ends_with(socket)))
    }

    fn terminate(&self) {
        if self.running() {
            // SAFETY: kill(2) of the master this connection started.
            unsafe { libc::kill(self.pid, libc::SIGTERM) };
        }
    }

    /// SIGTERM the master (it closes its connection and exits) and wait, up
    /// to a second, until it is gone. The signal is sent again every 50 ms:
    /// a master signalled right after a session ended was seen still asleep
    /// in poll(2) over half a second later, and a second signal ends it.
    async fn end(&self) {
        for tick in 0..200 {
            if tick % 10 == 0 {
                self.terminate();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            if !running(self.pid) {
                return;
            }
        }
    }
}

/// Is the process there and not a zombie? The master is not our child
/// (`ssh -f` detaches it), so whoever reaps it may take a moment: exited
/// is what counts.
fn running(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "PID (COMM) STATE ...": the state follows the last ')'.
        Ok(stat) => !matches!(stat.rsplit_once(") ").map(|(_, rest)| rest.as_bytes()[0]), Some(b'Z' | b'X')),
        Err(_) => true,
    }
}

impl SshConnection {
    /// The remote shell ended without an exit status. ssh's multiplexing
    /// says the same whether it was killed by a signal or the connection
    /// died; the master tells them apart: alive, only the shell went.
    async fn why_ended(&self, session: &Session) -> TransportError {
        if session.check().await.is_ok() {
            return TransportError::ShellKilled;
        }
        // The master's own words, unless ssh_config's LogLevel keeps them.
        let log = std::fs::read_to_string(session.control_socket().with_file_name("log")).unwrap_or_default();
        let silent = self.keepalive.interval.as_secs() * SERVER_ALIVE_COUNT_MAX;
        TransportError::Exec(match log.lines().rev().map(str::trim).find(|l| !l.is_empty()) {
            Some(line) if line.contains("not responding") => format!("no answer from the host for {silent} s"),
            Some(line) => format!("the connection closed: {line}"),
            None => format!("the connection closed, or the host gave no answer for {silent} s"),
        })
    }
}

impl Drop for SshConnection {
    /// Interrupted (a signal): no waiting here, but the master goes too,
    /// and the connector can wait for it.
    fn drop(&mut self) {
        if self.session.is_some() {
            if let Some(master) = self.master.take() {
                master.terminate();
                self.dropped.lock().expect("not poisoned: no panics while held").push(master);
            }
        }
    }
}

impl SshConnection {
    /// Start the host's session shell over the master.
    async fn start(&self, session: &Arc<Session>) -> Result<Live, TransportError> {
        let lost = |e: openssh::Error| TransportError::Exec(error_chain(&e));
        let mut child = Session::to_command(Arc::clone(session), "sh")
            .arg("-s")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .await
            .map_err(lost)?;
        let pipes = Pipes {
            stdin: Box::pin(child.stdin().take().expect("piped stdin")),
            stdout: Box::pin(child.stdout().take().expect("piped stdout")),
            stderr: Box::pin(child.stderr().take().expect("piped stderr")),
        };
        let limit = self.keepalive.host_silence_limit.as_secs();
        let shell = shell::Session::start(pipes, limit, Some(self.keepalive.heartbeat))
            .await
            .map_err(|e| TransportError::Exec(e.to_string()))?;
        Ok(Live { child, shell })
    }

    /// Why the session went away in the middle of a script: the shell's
    /// exit status if it has one, else the master's account.
    async fn why_lost(&self, session: &Session, live: Live, stderr: &[u8]) -> (Option<i32>, TransportError) {
        live.shell.close().await;
        match live.child.wait().await {
            // 255 is ssh's own "the connection failed" exit code.
            Ok(status) if status.code() == Some(255) => {
                (Some(255), TransportError::Exec(String::from_utf8_lossy(stderr).trim().to_string()))
            }
            Ok(status) => {
                (status.code(), status.code().map_or(TransportError::ShellKilled, TransportError::ShellExited))
            }
            Err(openssh::Error::RemoteProcessTerminated) => (None, self.why_ended(session).await),
            Err(e) => (None, TransportError::Exec(error_chain(&e))),
        }
    }
}

impl Connection for SshConnection {
    fn exec<'a>(&'a self, script: &'a Script, progress: Progress<'a>) -> BoxFuture<'a, Result<Exec, TransportError>> {
        Box::pin(async move {
            let session = self.session.as_ref().expect("open until close, which consumes the connection");
            let mut live = self.live.lock().await;
            let new_session = live.as_ref().is_none_or(|l| l.shell.is_dead());
            if new_session {
                if let Some(old) = live.take() {
                    old.shell.close().await;
                }
                *live = Some(self.start(session).await?);
            }
            let running = live.as_ref().expect("started above");
            let result = running.shell.run(script, progress).await;
            *self.idle_since.lock().expect("not poisoned: no panics while held") = Instant::now();
            match result {
                Ok(ChunkEnd::Done(mut output)) => {
                    output.new_session = new_session;
                    Ok(Exec::Done(output))
                }
                Ok(ChunkEnd::Lost { stdout, stderr }) => {
                    let gone = live.take().expect("running");
                    let (status, why) = self.why_lost(session, gone, &stderr).await;
                    Ok(Exec::Lost { partial: ExecOutput { stdout, stderr, status, new_session }, why })
                }
                Err(e) => {
                    if let Some(gone) = live.take() {
                        let (_, why) = self.why_lost(session, gone, &[]).await;
                        return Err(match why {
                            TransportError::Exec(_) => why,
                            _ => TransportError::Exec(e.to_string()),
                        });
                    }
                    Err(TransportError::Exec(e.to_string()))
                }
            }
        })
    }

    fn reusable(&self) -> bool {
        // A live session keeps the master from ending itself; without one,
        // it ends once idle for CONTROL_PERSIST.
        let in_session = self.live.try_lock().is_ok_and(|l| l.as_ref().is_some_and(|l| !l.shell.is_dead()));
        let idle = self.idle_since.lock().expect("not poisoned: no panics while held").elapsed();
        (in_session || idle < REUSE_WITHIN) && self.master.as_ref().is_some_and(Master::running)
    }

    fn close(mut self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            // The session's stdin closes: its shell exits.
            if let Some(live) = self.live.get_mut().take() {
                live.shell.close().await;
                let _ = tokio::time::timeout(Duration::from_secs(2), live.child.wait()).await;
            }
            let session = self.session.take();
            if let Some(master) = &self.master {
                master.end().await;
            }
            // The master is gone already; this only tells a master that
            // outlived its signals to stop.
            if let Some(session) = session.and_then(|s| Arc::try_unwrap(s).ok()) {
                let _ = session.close().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// --timeout T: keepalives every ceil(T/3) s (a silent host is given up
    /// after T to 4T/3 s), the host gives up on us after 3T, heartbeats
    /// every T/2 so it hears several in each of its checks (every T).
    #[test]
    fn keepalives_follow_the_timeout() {
        let at = |secs| SshOptions { connect_timeout: Duration::from_secs(secs), ..SshOptions::default() }.keepalive();
        let s = Duration::from_secs;
        assert_eq!(
            at(10),
            Keepalive { interval: s(4), host_silence_limit: s(30), heartbeat: Duration::from_millis(5000) }
        );
        assert_eq!(
            at(3),
            Keepalive { interval: s(1), host_silence_limit: s(9), heartbeat: Duration::from_millis(1500) }
        );
        assert_eq!(at(0), at(1), "a zero timeout still keeps the connection watched");
    }

    #[test]
    fn the_control_socket_folder_is_private() {
        let connector = SshConnector::new(SshOptions::default()).unwrap();
        let mode = std::fs::metadata(connector.control_dir.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
