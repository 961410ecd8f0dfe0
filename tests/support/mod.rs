//! Test support for push: real `sshd` hosts on loopback, a fleet with an
//! inventory, `known_hosts` and `ssh_config` that a real OpenSSH client
//! accepts with strict host-key checking, and a runner for the real `push`
//! binary.
//!
//! ```no_run
//! use push_tests::{require, require_sshd, Fleet, PushCmd};
//!
//! #[test]
//! fn example() {
//!     require!(require_sshd());
//!     let fleet = Fleet::start(2); // h1, h2
//!     let out = PushCmd::run_playbook(&fleet.work_dir().join("site.yml"), &fleet.inventory())
//!         .arg("--format")
//!         .arg("json")
//!         .run();
//!     out.assert_code(0);
//!     assert_eq!(out.recap().host("h1").failed, 0);
//! }
//! ```
//!
//! Nothing here reaches anything but 127.0.0.1.

mod fleet;
mod lab;
pub mod mail;
mod proc;
mod push;
mod skip;
mod sshd;
mod sudo_user;
mod trap;

pub use fleet::{Fleet, InventoryFormat};
pub use lab::{SshTunnel, TestLab, LAB_BUILD_TIMEOUT};
pub use proc::{descendants, is_alive, run_watching, run_with_timeout, run_with_timeout_from, CmdOutput};
pub use push::{parse_json_lines, push, push_bin, strip_ansi, HostRecap, PushCmd, Recap, RunOutput, TaskEvent};
pub use skip::{ansible_bin_dir, require_ansible, require_docker, require_registry, require_sshd, skip};
pub use sshd::{current_user, free_port, SshHost, SSHD};
pub use sudo_user::SudoUser;
pub use trap::ConnectionTrap;

/// Return from the test early (it then passes, having printed
/// `SKIPPED: <why>` to stderr) unless the requirement holds:
/// `require!(require_sshd());`.
#[macro_export]
macro_rules! require {
    ($check:expr) => {
        if !$check {
            return;
        }
    };
}

/// Write `text` to `path`, creating parent folders.
pub fn write(path: impl AsRef<std::path::Path>, text: impl AsRef<[u8]>) {
    let path = path.as_ref();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir -p {}: {e}", parent.display()));
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Read `path` as UTF-8, with the path in the panic message.
pub fn read(path: impl AsRef<std::path::Path>) -> String {
    let path = path.as_ref();
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The workspace root (playbooks/, benches/, target/).
pub fn workspace() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the workspace").to_path_buf()
}

/// `tests/fixtures/NAME`.
pub fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

/// Copy `tests/fixtures/NAME` (a folder, recursively) to `dest`, replacing
/// each `(from, to)` in every file's text (e.g. `("@ROOT@", tempdir)`).
pub fn stage_fixture(name: &str, dest: &std::path::Path, replacements: &[(&str, &str)]) {
    fn copy(from: &std::path::Path, to: &std::path::Path, replacements: &[(&str, &str)]) {
        std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir {}: {e}", to.display()));
        for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
            let entry = entry.expect("dir entry");
            let target = to.join(entry.file_name());
            if entry.file_type().expect("file type").is_dir() {
                copy(&entry.path(), &target, replacements);
            } else {
                let mut text = read(entry.path());
                for (a, b) in replacements {
                    text = text.replace(a, b);
                }
                write(&target, text);
            }
        }
    }
    copy(&fixture(name), dest, replacements);
}
