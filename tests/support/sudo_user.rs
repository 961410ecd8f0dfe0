//! A throwaway login user on this machine whose sudo asks for a password,
//! as on a real server where root cannot log in: made for one test (which
//! must run as root) and removed, with its sudoers rule, when dropped.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use tempfile::TempDir;

pub struct SudoUser {
    name: String,
    password: String,
    sudoers: PathBuf,
    /// Its home, removed with it.
    home: TempDir,
}

impl SudoUser {
    /// `push-<tag>-<pid>` with a random password, allowed every command
    /// through sudo after giving that password.
    pub fn create(tag: &str) -> SudoUser {
        SudoUser::make(tag, true)
    }

    /// The same without any sudo rule: a user others become with su and
    /// its password.
    pub fn without_sudo(tag: &str) -> SudoUser {
        SudoUser::make(tag, false)
    }

    fn make(tag: &str, sudo: bool) -> SudoUser {
        let name = format!("push-{tag}-{}", std::process::id());
        let password = format!("pw-{:016x}", rand_u64());
        let home = tempfile::Builder::new().prefix("push-sudo-user-").tempdir().expect("tempdir");
        std::fs::set_permissions(home.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let home_dir = home.path().join(&name);
        run(Command::new("useradd")
            .args(["--create-home", "--shell", "/bin/sh", "--home-dir"])
            .arg(&home_dir)
            .arg(&name));
        let user = SudoUser { sudoers: PathBuf::from(format!("/etc/sudoers.d/{name}")), name, password, home };
        let mut chpasswd = Command::new("chpasswd").stdin(Stdio::piped()).spawn().expect("chpasswd");
        writeln!(chpasswd.stdin.take().unwrap(), "{}:{}", user.name, user.password).unwrap();
        assert!(chpasswd.wait().unwrap().success(), "chpasswd failed");
        if sudo {
            std::fs::write(&user.sudoers, format!("{} ALL=(ALL) ALL\n", user.name)).unwrap();
            std::fs::set_permissions(&user.sudoers, std::os::unix::fs::PermissionsExt::from_mode(0o440)).unwrap();
        }
        user
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn password(&self) -> &str {
        &self.password
    }
    pub fn home(&self) -> PathBuf {
        self.home.path().join(&self.name)
    }
}

impl Drop for SudoUser {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.sudoers);
        // Its processes (a step still running when a test failed) go first.
        let _ = Command::new("pkill").args(["-KILL", "-u"]).arg(&self.name).status();
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}

fn run(cmd: &mut Command) {
    let status = cmd.status().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?}: {status}");
}

/// Random enough for a throwaway password, without a dependency.
fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.finish()
}
