//! A `push lab` for one test: lab hosts are containers on this machine's
//! Docker engine, so every address a lab test uses is one of them.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::{run_with_timeout, CmdOutput, PushCmd, RunOutput};

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
