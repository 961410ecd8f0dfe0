//! The files `push lab up` writes into the inventory folder, all rendered
//! from what Docker reports (nothing here is state: `down` works without
//! them):
//!
//! ```text
//! DIR/hosts.yml             the inventory: group NAME, group vars below
//! DIR/.ssh/ssh_config       `ssh -F DIR/.ssh/ssh_config NAME-1` (push_ssh_config)
//! DIR/.ssh/known_hosts      each host's real host keys
//! DIR/.ssh/id_ed25519{,.pub} the lab's client key (ssh-keygen)
//! ```
//!
//! The SSH files sit in a dot-folder because `-i DIR` reads every other
//! file in DIR as an inventory (as Ansible does): an ssh_config or a key
//! there would be a parse error.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::docker::last_line;
use crate::{Error, LabName, Result};

/// First line of every hosts.yml we write; `down` removes only files that
/// start with it.
const HEADER: &str = "# Written by `push lab up";

/// Where one lab's files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabFiles {
    /// Absolute.
    pub dir: PathBuf,
}

impl LabFiles {
    pub fn new(dir: &Path) -> LabFiles {
        LabFiles { dir: push_engine::inventory::absolute(dir) }
    }
    pub fn hosts_yml(&self) -> PathBuf {
        self.dir.join("hosts.yml")
    }
    pub fn ssh_dir(&self) -> PathBuf {
        self.dir.join(".ssh")
    }
    pub fn ssh_config(&self) -> PathBuf {
        self.ssh_dir().join("ssh_config")
    }
    pub fn known_hosts(&self) -> PathBuf {
        self.ssh_dir().join("known_hosts")
    }
    pub fn private_key(&self) -> PathBuf {
        self.ssh_dir().join("id_ed25519")
    }
    pub fn public_key(&self) -> PathBuf {
        self.ssh_dir().join("id_ed25519.pub")
    }
}

/// One host as the files describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    pub name: String,
    pub address: String,
    /// `type base64` lines, the host's real keys.
    pub host_keys: Vec<String>,
}

pub fn render_hosts_yml(lab: &LabName, files: &LabFiles, hosts: &[HostEntry], registry: &str) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("a string serializes");
    let mut s = format!(
        "{HEADER} --name {lab}`: rewritten by every `up`, removed by `push lab down --name {lab}`.\n\
         # Use: push run PLAYBOOK -i {dir}\n",
        dir = files.dir.display()
    );
    s.push_str(&format!("{}:\n  hosts:\n", lab.group()));
    for h in hosts {
        s.push_str(&format!("    {}:\n      ansible_host: {}\n", h.name, q(&h.address)));
    }
    s.push_str("  vars:\n");
    s.push_str("    ansible_user: root\n");
    s.push_str(&format!("    ansible_ssh_private_key_file: {}\n", q(&files.private_key().display().to_string())));
    s.push_str(&format!("    push_ssh_config: {}\n", q(&files.ssh_config().display().to_string())));
    s.push_str(&format!("    lab_registry: {}\n", q(registry)));
    // The controller resolves image tags to digests over plain HTTP here.
    s.push_str(&format!("    push_insecure_registries: [{}]\n", q(registry)));
    s
}

/// One `Host` block per host, matching both its name and its address (the
/// engine connects to `ansible_host`, a user types the name), with every
/// setting spelled out: nothing leaks to other hosts when this file is
/// `Include`d.
pub fn render_ssh_config(lab: &LabName, files: &LabFiles, hosts: &[HostEntry]) -> Result<String> {
    let key = ssh_path(&files.private_key())?;
    let known = ssh_path(&files.known_hosts())?;
    let mut s = format!(
        "# Written by `push lab up --name {lab}`. Use: ssh -F {} HOST\n\
         # Strict host-key checking against the hosts' real keys, no prompts.\n",
        ssh_path(&files.ssh_config())?
    );
    for h in hosts {
        s.push_str(&format!(
            "\nHost {name} {address}\n\
             \x20 HostName {address}\n\
             \x20 User root\n\
             \x20 IdentityFile {key}\n\
             \x20 IdentitiesOnly yes\n\
             \x20 UserKnownHostsFile {known}\n\
             \x20 GlobalKnownHostsFile /dev/null\n\
             \x20 StrictHostKeyChecking yes\n\
             \x20 UpdateHostKeys no\n\
             \x20 KexAlgorithms curve25519-sha256\n\
             \x20 BatchMode yes\n\
             \x20 ConnectTimeout 10\n",
            name = h.name,
            address = h.address,
        ));
    }
    Ok(s)
}

/// Each key under the host's name and address.
pub fn render_known_hosts(hosts: &[HostEntry]) -> String {
    hosts.iter().flat_map(|h| h.host_keys.iter().map(move |k| format!("{},{} {k}\n", h.name, h.address))).collect()
}

/// A path as an ssh_config argument: `%` escaped (ssh expands `%` tokens
/// in these options), quoted when it has spaces.
fn ssh_path(path: &Path) -> Result<String> {
    let text = path.display().to_string();
    if text.contains('"') || text.contains('\n') {
        return Err(Error::Usage(format!(
            "the inventory folder path {text:?} has a character ssh_config cannot quote"
        )));
    }
    let escaped = text.replace('%', "%%");
    Ok(if escaped.contains([' ', '\t']) { format!("\"{escaped}\"") } else { escaped })
}

/// The lab's client key: made with ssh-keygen when missing, else reused.
/// Returns the public key line.
pub fn ensure_client_key(lab: &LabName, files: &LabFiles) -> Result<String> {
    let (private, public) = (files.private_key(), files.public_key());
    create_ssh_dir(files)?;
    if !(private.is_file() && public.is_file()) {
        let _ = std::fs::remove_file(&private);
        let _ = std::fs::remove_file(&public);
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", &format!("push-lab-{lab}"), "-f"])
            .arg(&private)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::Failed(format!("cannot run ssh-keygen: {e}")))?;
        if !out.status.success() {
            return Err(Error::Failed(format!(
                "ssh-keygen failed: {}",
                last_line(&String::from_utf8_lossy(&out.stderr))
            )));
        }
    }
    let text = std::fs::read_to_string(&public)
        .map_err(|e| Error::Failed(format!("cannot read {}: {e}", public.display())))?;
    Ok(text.trim().to_string())
}

fn create_ssh_dir(files: &LabFiles) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::create_dir_all(&files.dir)
        .map_err(|e| Error::Failed(format!("cannot create {}: {e}", files.dir.display())))?;
    let dir = files.ssh_dir();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| Error::Failed(format!("cannot create {}: {e}", dir.display())))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| Error::Failed(format!("cannot chmod {}: {e}", dir.display())))
}

/// Write hosts.yml, ssh_config and known_hosts (each replaced atomically).
pub fn write_all(lab: &LabName, files: &LabFiles, hosts: &[HostEntry], registry: &str) -> Result<()> {
    create_ssh_dir(files)?;
    write_atomic(&files.known_hosts(), &render_known_hosts(hosts))?;
    write_atomic(&files.ssh_config(), &render_ssh_config(lab, files, hosts)?)?;
    write_atomic(&files.hosts_yml(), &render_hosts_yml(lab, files, hosts, registry))
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text)
        .and_then(|()| std::fs::rename(&partial, path))
        .map_err(|e| Error::Failed(format!("cannot write {}: {e}", path.display())))
}

/// Remove what [`write_all`] and [`ensure_client_key`] wrote, then the
/// folders if that left them empty. A hosts.yml we did not write is left
/// alone. Returns what was removed.
pub fn remove_all(files: &LabFiles) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let ours = std::fs::read_to_string(files.hosts_yml()).is_ok_and(|t| t.starts_with(HEADER));
    let mut paths = vec![files.ssh_config(), files.known_hosts(), files.private_key(), files.public_key()];
    if ours {
        paths.push(files.hosts_yml());
    }
    for p in paths {
        match std::fs::remove_file(&p) {
            Ok(()) => removed.push(p),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::Failed(format!("cannot remove {}: {e}", p.display()))),
        }
    }
    for dir in [files.ssh_dir(), files.dir.clone()] {
        if std::fs::remove_dir(&dir).is_ok() {
            removed.push(dir);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (LabName, LabFiles, Vec<HostEntry>) {
        let lab = LabName::parse("my-lab").unwrap();
        let files = LabFiles::new(Path::new("/work/inventories/my-lab"));
        let hosts = vec![
            HostEntry {
                name: "my-lab-1".into(),
                address: "172.18.0.3".into(),
                host_keys: vec!["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOne".into(), "ssh-rsa AAAAB3One".into()],
            },
            HostEntry {
                name: "my-lab-2".into(),
                address: "172.18.0.4".into(),
                host_keys: vec!["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITwo".into()],
            },
        ];
        (lab, files, hosts)
    }

    #[test]
    fn hosts_yml() {
        let (lab, files, hosts) = sample();
        insta::assert_snapshot!(render_hosts_yml(&lab, &files, &hosts, "172.18.0.1:5000"));
    }

    #[test]
    fn ssh_config() {
        let (lab, files, hosts) = sample();
        insta::assert_snapshot!(render_ssh_config(&lab, &files, &hosts).unwrap());
    }

    #[test]
    fn known_hosts() {
        let (_, _, hosts) = sample();
        insta::assert_snapshot!(render_known_hosts(&hosts), @r"
        my-lab-1,172.18.0.3 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOne
        my-lab-1,172.18.0.3 ssh-rsa AAAAB3One
        my-lab-2,172.18.0.4 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITwo
        ");
    }

    #[test]
    fn ssh_paths_are_escaped_and_quoted() {
        assert_eq!(ssh_path(Path::new("/a/b")).unwrap(), "/a/b");
        assert_eq!(ssh_path(Path::new("/my labs/100%")).unwrap(), "\"/my labs/100%%\"");
        assert!(matches!(ssh_path(Path::new("/a\"b")), Err(Error::Usage(_))));
    }

    #[test]
    fn the_hosts_file_reads_as_an_inventory() {
        let (lab, files, hosts) = sample();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts.yml");
        std::fs::write(&path, render_hosts_yml(&lab, &files, &hosts, "172.18.0.1:5000")).unwrap();
        let inv = push_engine::inventory::Inventory::load(&[path]).unwrap();
        let vars = inv.host_vars("my-lab-2").unwrap();
        assert_eq!(vars["ansible_host"], "172.18.0.4");
        assert_eq!(vars["push_ssh_config"], "/work/inventories/my-lab/.ssh/ssh_config");
        assert_eq!(vars["lab_registry"], "172.18.0.1:5000");
        assert_eq!(vars["ansible_user"], "root");
    }

    #[test]
    fn writes_and_removes_only_its_files() {
        let (lab, _, hosts) = sample();
        let dir = tempfile::tempdir().unwrap();
        let files = LabFiles::new(&dir.path().join("inv"));
        write_all(&lab, &files, &hosts, "172.18.0.1:5000").unwrap();
        std::fs::write(files.private_key(), "k").unwrap();
        std::fs::write(files.public_key(), "ssh-ed25519 AAAA push-lab-my-lab").unwrap();
        assert!(files.ssh_config().is_file() && files.known_hosts().is_file() && files.hosts_yml().is_file());
        let removed = remove_all(&files).unwrap();
        assert_eq!(removed.len(), 7, "{removed:?}");
        assert!(!files.dir.exists());

        // A folder with the user's own files keeps them.
        write_all(&lab, &files, &hosts, "r").unwrap();
        std::fs::write(files.dir.join("mine.yml"), "x").unwrap();
        remove_all(&files).unwrap();
        assert!(files.dir.join("mine.yml").is_file());
        assert!(!files.hosts_yml().exists());
        // A hosts.yml we did not write stays.
        std::fs::write(files.hosts_yml(), "all: {}\n").unwrap();
        remove_all(&files).unwrap();
        assert!(files.hosts_yml().is_file());
    }
}
