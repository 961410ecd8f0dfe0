#![allow(dead_code)] // each test binary uses a part
//! The converge fixture (`tests/fixtures/converge/`): staging it for a fleet
//! and checking its result on disk. Shared by run_ssh.rs (push) and
//! ansible_compat.rs (ansible-playbook), so both are held to the same
//! expectations.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use push_tests::{read, stage_fixture, write, Fleet};

/// The task names, in order.
pub const TASKS: [&str; 10] = [
    "app directory",
    "motd from content",
    "script with a mode",
    "config from a template",
    "port line in settings",
    "directory made by command",
    "file written by shell",
    "link to the script",
    "data from a file",
    "stale file removed",
];

/// Host var `color` per host: h1 red, h2 blue.
pub const COLORS: [(&str, &str); 2] = [("h1", "red"), ("h2", "blue")];

/// Stage the fixture in `work/converge` for a 2-host fleet: sets the host
/// vars, makes `work/out/<alias>/stale` (which the play removes). Returns
/// (playbook, out root).
pub fn stage(fleet: &mut Fleet) -> (PathBuf, PathBuf) {
    for (alias, color) in COLORS {
        fleet.set_host_var(alias, "color", color);
    }
    let root = fleet.work_dir().join("out");
    for (alias, _) in COLORS {
        write(root.join(alias).join("stale"), "left over\n");
    }
    let dir = fleet.work_dir().join("converge");
    stage_fixture("converge", &dir, &[("@ROOT@", &root.display().to_string())]);
    (dir.join("site.yml"), root)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o7777
}

/// Every file the play manages on `alias`, exactly.
pub fn assert_converged(root: &Path, alias: &str, color: &str) {
    let app = root.join(alias).join("app");
    assert!(app.is_dir(), "{} missing", app.display());
    assert_eq!(mode(&app), 0o755, "mode of {}", app.display());
    assert_eq!(read(app.join("motd")), format!("hello from {alias}\n"));
    assert_eq!(read(app.join("run.sh")), "#!/bin/sh\necho run\n");
    assert_eq!(mode(&app.join("run.sh")), 0o750);
    assert_eq!(read(app.join("app.conf")), format!("# managed by push\nname = {alias}\ncolor = {color}\n"));
    assert_eq!(read(app.join("settings")), "port=8080\n");
    assert!(app.join("made-by-command").is_dir());
    assert_eq!(read(app.join("shell-out")), format!("shell {alias}\n"));
    assert_eq!(read(app.join("shell-count")), "ran\n", "the shell task ran more than once on {alias}");
    assert_eq!(std::fs::read_link(app.join("current")).unwrap(), app.join("run.sh"));
    assert_eq!(read(app.join("data.txt")), "data file\nline 2\n");
    assert!(!root.join(alias).join("stale").exists(), "stale file still on {alias}");
}
