//! A `push lab` for one test: lab hosts are containers on this machine's
//! Docker engine, so every address a lab test uses is one of them.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::{free_port, run_with_timeout, CmdOutput, PushCmd, RunOutput};

/// Building images on a cold machine takes minutes (debootstrap, apt).
pub const LAB_BUILD_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// One lab for one test: its own name and inventory folder; `down` when
/// the test ends, pass or fail.
pub struct TestLab {
    pub name: String,
    pub dir: TempDir,
}

impl TestLab {
    /// A lab named `PREFIX-PID`: distinct from the labs of other test
    /// processes on this machine (a parallel run of the suite included).
    pub fn new(prefix: &str) -> TestLab {
        let dir = tempfile::Builder::new().prefix("push-lab-test.").tempdir().expect("tempdir");
        let lab = TestLab { name: format!("{prefix}-{}", std::process::id() % 100_000), dir };
        // A lab left over by an interrupted earlier run.
        lab.lab(&["down"]).assert_code(0);
        lab
    }

    /// The inventory folder `up` writes (hosts.yml, .ssh/).
    pub fn inventory(&self) -> PathBuf {
        self.dir.path().join("inventory")
    }

    /// Host `i` (1-based).
    pub fn host(&self, i: u32) -> String {
        format!("{}-{i}", self.name)
    }

    /// `push lab SUBCOMMAND --name NAME [-i DIR] EXTRA...`
    pub fn lab(&self, args: &[&str]) -> RunOutput {
        let mut cmd = PushCmd::new().arg("lab").arg(args[0]).args(["--name", &self.name]);
        if matches!(args[0], "up" | "down") {
            cmd = cmd.arg("-i").arg_path(&self.inventory());
        }
        cmd.args(args[1..].iter().copied()).current_dir(self.dir.path()).timeout(LAB_BUILD_TIMEOUT).run()
    }

    /// A shell command on a lab host, as root, through Docker: for checks
    /// only, push itself goes through ssh.
    pub fn on(&self, host: &str, script: &str) -> CmdOutput {
        run_with_timeout(Command::new("docker").args(["exec", host, "sh", "-c", script]), Duration::from_secs(120))
    }

    /// [`TestLab::on`] that must succeed; its trimmed stdout.
    pub fn on_ok(&self, host: &str, script: &str) -> String {
        let out = self.on(host, script);
        assert!(out.success(), "{host}: {script}: {out}");
        out.stdout.trim().to_string()
    }
}

impl Drop for TestLab {
    fn drop(&mut self) {
        let _ = self.lab(&["down"]);
    }
}

/// Ports of a host behind a lab's bastion, forwarded to 127.0.0.1 by
/// `ssh -N -L` through the bastion (this machine reaches nothing else
/// there); the ssh process ends on drop.
pub struct SshTunnel {
    child: Child,
    /// `remote port -> 127.0.0.1:local port`.
    ports: Vec<(u16, String)>,
}

impl SshTunnel {
    /// Forward `ports` of `address` (a host's address on the private
    /// network) through `bastion`, as the lab's ssh_config describes it.
    pub fn open(ssh_config: &Path, bastion: &str, address: &str, ports: &[u16]) -> SshTunnel {
        let mut cmd = Command::new("ssh");
        cmd.arg("-F").arg(ssh_config).args(["-N", "-o", "ExitOnForwardFailure=yes"]);
        let mut forwarded = Vec::new();
        for port in ports {
            let local = free_port();
            cmd.arg("-L").arg(format!("127.0.0.1:{local}:{address}:{port}"));
            forwarded.push((*port, format!("127.0.0.1:{local}")));
        }
        cmd.arg(bastion).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("ssh");
        let tunnel_up = Instant::now();
        for (_, local) in &forwarded {
            while TcpStream::connect(local).is_err() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("ssh -L through {bastion} ended: {status}");
                }
                assert!(tunnel_up.elapsed() < Duration::from_secs(30), "no tunnel at {local} after 30 s");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        SshTunnel { child, ports: forwarded }
    }

    /// `127.0.0.1:PORT` where the host's `port` answers.
    pub fn local(&self, port: u16) -> &str {
        self.ports.iter().find(|(p, _)| *p == port).map(|(_, l)| l.as_str()).expect("a forwarded port")
    }
}

impl Drop for SshTunnel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
