//! A full filesystem on a host (real sshd on 127.0.0.1): its temporary
//! folder, the folder of its deploy lock, or a file's destination. Every
//! failure names the path and the system's error text, exits 2, and leaves
//! no deploy lock behind.
//!
//! The full filesystem is a tmpfs of 64 KiB mounted on a folder of the
//! test and filled up, so the test runs as root (skipped otherwise, and
//! where mounting is not permitted).

use std::path::{Path, PathBuf};
use std::process::Command;

use push_tests::{require, require_sshd, skip, Fleet, PushCmd, RunOutput};

const ENOSPC: &str = "No space left on device";

/// A tmpfs of 64 KiB on a folder of the fleet; unmounted when dropped.
struct SmallTmpfs {
    path: PathBuf,
}

impl SmallTmpfs {
    /// Mount it, with `folders` made in it. None (the test is skipped)
    /// where this process may not mount.
    fn mount(at: &Path, folders: &[&str]) -> Option<SmallTmpfs> {
        SmallTmpfs::mount_with(at, folders, "size=64k,mode=0700")
    }

    fn mount_with(at: &Path, folders: &[&str], options: &str) -> Option<SmallTmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount").args(["-t", "tmpfs", "-o", options, "tmpfs"]).arg(at).output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                skip(format!("cannot mount a tmpfs here: {}", String::from_utf8_lossy(&o.stderr).trim()));
                return None;
            }
            Err(e) => {
                skip(format!("cannot run mount: {e}"));
                return None;
            }
        }
        for f in folders {
            std::fs::create_dir(at.join(f)).unwrap();
        }
        Some(SmallTmpfs { path: at.to_path_buf() })
    }

    /// A tmpfs with room for a few files only: no file or folder can be
    /// made in it once they are there.
    fn mount_without_inodes(at: &Path) -> Option<SmallTmpfs> {
        let tmpfs = SmallTmpfs::mount_with(at, &[], "size=64k,nr_inodes=8,mode=0700")?;
        let made = (0..8).map(|i| std::fs::write(at.join(format!("f{i}")), "")).find_map(Result::err);
        assert_eq!(made.and_then(|e| e.raw_os_error()), Some(libc::ENOSPC), "the tmpfs should have no inode left");
        Some(tmpfs)
    }

    /// Fill it up. Folders made after this still can be: on a tmpfs they
    /// take no blocks, files do.
    fn fill(self) -> Self {
        let filled = std::fs::write(self.join("filler"), vec![0u8; 128 * 1024]).unwrap_err();
        assert_eq!(filled.raw_os_error(), Some(libc::ENOSPC), "the tmpfs should be full: {filled}");
        self
    }

    fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

fn run(fleet: &Fleet, playbook: &Path) -> RunOutput {
    PushCmd::run_playbook(playbook, &fleet.inventory()).args(["--format", "json", "--lock-wait", "0"]).run()
}

/// The messages of h1's failed tasks, one per line.
fn failures(out: &RunOutput) -> String {
    out.tasks_of("h1")
        .into_iter()
        .filter(|t| t.status == "failed")
        .map(|t| format!("{}: {}\n", t.task, t.msg))
        .collect()
}

#[test]
fn a_full_filesystem_is_named_with_its_error_and_leaves_no_lock() {
    require!(require_sshd());
    let mut fleet = Fleet::start(1);
    let Some(full) = SmallTmpfs::mount(&fleet.work_dir().join("full"), &["tmp", "locks", "dest"]) else { return };
    let full = full.fill();
    let spare = fleet.work_dir().join("spare");
    std::fs::create_dir(&spare).unwrap();
    let playbook = fleet.work_dir().join("copy.yml");
    let task = |task: String| push_tests::write(&playbook, format!("- hosts: all\n  tasks:\n    - {task}\n"));
    let copy_to = |dest: &Path| task(format!("copy: {{dest: {}, content: \"hello\\n\"}}", dest.display()));

    // The host's TMPDIR is full: the apply's working files cannot be written.
    fleet.host("h1").set_login_env(&[("TMPDIR", full.join("tmp").to_str().unwrap())]);
    copy_to(&spare.join("a.txt"));
    let out = run(&fleet, &playbook);
    out.assert_code(2);
    let msgs = failures(&out);
    assert!(msgs.contains(&full.join("tmp").display().to_string()) && msgs.contains(ENOSPC), "{out}");
    assert!(!spare.join("a.txt").exists(), "nothing is applied without the working files:\n{out}");
    assert!(!fleet.dir().join("h1.lock").exists(), "the deploy lock is released:\n{out}");

    // The deploy lock's folder is full.
    fleet.host("h1").set_login_env(&[]);
    fleet.set_group_var("push_lock_path", &full.join("locks/{{ inventory_hostname }}.lock").display().to_string());
    let out = run(&fleet, &playbook);
    out.assert_code(2);
    let msgs = failures(&out);
    assert!(msgs.contains(&full.join("locks/h1.lock").display().to_string()) && msgs.contains(ENOSPC), "{out}");
    assert!(!spare.join("a.txt").exists(), "nothing is applied without the lock:\n{out}");
    assert!(!full.join("locks/h1.lock").exists(), "no lock is left behind:\n{out}");

    // The lock's folder cannot even be made: no inode is left.
    let Some(no_inodes) = SmallTmpfs::mount_without_inodes(&fleet.work_dir().join("no-inodes")) else { return };
    fleet.set_group_var("push_lock_path", &no_inodes.join("{{ inventory_hostname }}.lock").display().to_string());
    let out = run(&fleet, &playbook);
    out.assert_code(2);
    let msgs = failures(&out);
    assert!(msgs.contains(&no_inodes.join("h1.lock").display().to_string()) && msgs.contains(ENOSPC), "{out}");
    assert!(!msgs.contains("locked by another run"), "{out}");
    fleet.set_group_var("push_lock_path", &spare.join("{{ inventory_hostname }}.lock").display().to_string());

    // The destination's filesystem is full.
    copy_to(&full.join("dest/b.txt"));
    let out = run(&fleet, &playbook);
    out.assert_code(2);
    let msgs = failures(&out);
    assert!(msgs.contains(&full.join("dest/b.txt").display().to_string()) && msgs.contains(ENOSPC), "{out}");
    assert!(!full.join("dest/b.txt").exists(), "no partial file:\n{out}");
    // The same for a line written into a file there.
    task(format!("lineinfile: {{path: {}, line: hello, create: true}}", full.join("dest/c.txt").display()));
    let out = run(&fleet, &playbook);
    out.assert_code(2);
    let msgs = failures(&out);
    assert!(msgs.contains(&full.join("dest/c.txt").display().to_string()) && msgs.contains(ENOSPC), "{out}");
    let left: Vec<_> = std::fs::read_dir(full.join("dest")).unwrap().flatten().map(|e| e.path()).collect();
    assert!(left.is_empty(), "no file, temporary or partial, is left in the destination's folder: {left:?}");
    assert!(!spare.join("h1.lock").exists(), "the deploy lock is released:\n{out}");
}

/// The host's TMPDIR fills up during the run (an earlier task fills it):
/// a step that runs from a file there (under become) whose file was cut
/// short fails, saying why, rather than run what was written of it.
#[test]
fn a_step_whose_file_the_full_tmpdir_cut_short_fails_instead_of_running() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let Some(tight) = SmallTmpfs::mount(&fleet.work_dir().join("tight"), &["tmp"]) else { return };
    fleet.host("h1").set_login_env(&[("TMPDIR", tight.join("tmp").to_str().unwrap())]);
    let marker = fleet.work_dir().join("ran");
    let playbook = fleet.work_dir().join("fill.yml");
    push_tests::write(
        &playbook,
        format!(
            "- hosts: all\n  tasks:\n    - shell: head -c 100000 /dev/zero >{} || true\n    - command: touch {}\n      become: true\n",
            tight.join("filler").display(),
            marker.display()
        ),
    );
    let out = run(&fleet, &playbook);
    out.assert_code(2);
    let msgs = failures(&out);
    assert!(msgs.starts_with("command: ") && msgs.contains(&tight.join("tmp").display().to_string()), "{out}");
    assert!(msgs.contains(ENOSPC), "{out}");
    assert!(!marker.exists(), "the step ran:\n{out}");
    assert!(!fleet.dir().join("h1.lock").exists(), "the deploy lock is released:\n{out}");
}
