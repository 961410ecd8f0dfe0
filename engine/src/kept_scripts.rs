//! `PUSH_KEEP_SCRIPTS=DIR`: every script sent to a host kept as
//! `DIR/HOST.N.sh`, to read what a run does or run it by hand (like
//! Ansible's ANSIBLE_KEEP_REMOTE_FILES). The scripts carry file contents,
//! secrets included, so each is a new file of mode 0600 that nothing else
//! can have prepared: not a symlink, not a file someone else opened first.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// What is kept in place of a script that carries a value opened from a
/// vault: the numbering stays, the secret does not.
pub const WITHHELD: &str =
    "# not kept: this script carries a value opened from an Ansible Vault (the task runs as if under no_log)\n";

/// Keep script `n` of `host` in `dir`, its text written by `write`;
/// returns its path. A file already there (an earlier run's, or a link
/// planted in a shared folder) is removed, never written through.
pub fn keep(
    dir: &Path,
    host: &str,
    n: u32,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> std::io::Result<PathBuf> {
    let path = dir.join(format!("{}.{n}.sh", file_name_of(host)));
    let mut file = match create_new(&path) {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            std::fs::remove_file(&path)?;
            create_new(&path)?
        }
        other => other?,
    };
    // The mode given at creation is cut by the umask; only ever narrower.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    write(&mut file)?;
    Ok(path)
}

/// O_CREAT|O_EXCL|O_NOFOLLOW: fails if anything, a symlink included, is
/// at `path`.
fn create_new(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().write(true).create_new(true).custom_flags(libc::O_NOFOLLOW).mode(0o600).open(path)
}

/// `host` as one file name: bytes other than letters, digits, `.`, `_`
/// and `-` as `%XX`, so no name (`../../x`, `a/b`) reaches another folder
/// and two hosts never share a file.
fn file_name_of(host: &str) -> String {
    let mut name = String::with_capacity(host.len());
    for b in host.bytes() {
        if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
            name.push(char::from(b));
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn keep(dir: &Path, host: &str, n: u32, text: &str) -> std::io::Result<PathBuf> {
        super::keep(dir, host, n, |f| f.write_all(text.as_bytes()))
    }

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn scripts_are_new_private_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = keep(dir.path(), "web-1.example.org", 2, "echo one\n").unwrap();
        assert_eq!(path, dir.path().join("web-1.example.org.2.sh"));
        assert_eq!((std::fs::read_to_string(&path).unwrap(), mode(&path)), ("echo one\n".into(), 0o600));
        // An earlier run's file, readable by others, is replaced by a private one.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        keep(dir.path(), "web-1.example.org", 2, "echo two\n").unwrap();
        assert_eq!((std::fs::read_to_string(&path).unwrap(), mode(&path)), ("echo two\n".into(), 0o600));
    }

    #[test]
    fn a_planted_symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let kept = dir.path().join("kept");
        std::fs::create_dir(&kept).unwrap();
        std::os::unix::fs::symlink(&victim, kept.join("h1.1.sh")).unwrap();
        let path = keep(&kept, "h1", 1, "secret\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n", "written through the link");
        assert!(std::fs::symlink_metadata(&path).unwrap().file_type().is_file());
        assert_eq!((std::fs::read_to_string(&path).unwrap(), mode(&path)), ("secret\n".into(), 0o600));
    }

    #[test]
    fn no_host_name_leads_out_of_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let kept = dir.path().join("a/b");
        std::fs::create_dir_all(&kept).unwrap();
        for host in ["../../x", "/etc/x", "..", "a/b%c"] {
            let path = keep(&kept, host, 1, "x\n").unwrap();
            assert_eq!(path.parent(), Some(kept.as_path()), "{host}: {}", path.display());
        }
        let names: std::collections::BTreeSet<String> =
            std::fs::read_dir(&kept).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(names.len(), 4, "{names:?}");
        assert!(names.contains("..%2F..%2Fx.1.sh"), "{names:?}");
        let outside: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(outside, ["a"], "files outside the folder");
    }
}
