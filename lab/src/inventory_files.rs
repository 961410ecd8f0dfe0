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

use crate::bastion::{Bastion, ADMIN};
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
    /// Behind a bastion: admin's sudo password, vaulted, as the group's vars.
    pub fn become_vault(&self, lab: &LabName) -> PathBuf {
        self.dir.join("group_vars").join(lab.group()).join("vault.yml")
    }
    /// The password of [`LabFiles::become_vault`] (a dotfile: not read as
    /// an inventory).
    pub fn vault_password(&self) -> PathBuf {
        self.dir.join(".vault-password")
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

pub fn render_hosts_yml(
    lab: &LabName,
    files: &LabFiles,
    hosts: &[HostEntry],
    registry: &str,
    bastion: Option<&Bastion>,
) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("a string serializes");
    let mut s = format!(
        "{HEADER} --name {lab}{flag}`: rewritten by every `up`, removed by `push lab down --name {lab}`.\n\
         # Use: push run PLAYBOOK -i {dir}{vault}\n",
        flag = if bastion.is_some() { " --bastion" } else { "" },
        dir = files.dir.display(),
        vault = if bastion.is_some() {
            format!(" --vault-password-file {}", files.vault_password().display())
        } else {
            String::new()
        },
    );
    if bastion.is_some() {
        s.push_str(&format!(
            "# The hosts are reached through the bastion only; admin's sudo password is\n\
             # ansible_become_password in {} (Ansible Vault).\n",
            files.become_vault(lab).display()
        ));
    }
    s.push_str(&format!("{}:\n  hosts:\n", lab.group()));
    for h in hosts {
        s.push_str(&format!("    {}:\n      ansible_host: {}\n", h.name, q(&h.address)));
    }
    s.push_str("  vars:\n");
    match bastion {
        None => s.push_str("    ansible_user: root\n"),
        Some(b) => {
            s.push_str(&format!("    ansible_user: {ADMIN}\n"));
            s.push_str(&format!(
                "    ansible_ssh_common_args: {}\n",
                q(&format!("-o ProxyJump={ADMIN}@{}", b.entry.address))
            ));
        }
    }
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
/// `Include`d. Behind a bastion, the bastion's block comes first and every
/// host jumps through it.
pub fn render_ssh_config(
    lab: &LabName,
    files: &LabFiles,
    hosts: &[HostEntry],
    bastion: Option<&Bastion>,
) -> Result<String> {
    let key = ssh_path(&files.private_key())?;
    let known = ssh_path(&files.known_hosts())?;
    let mut s = format!(
        "# Written by `push lab up --name {lab}{}`. Use: ssh -F {} HOST\n\
         # Strict host-key checking against the hosts' real keys, no prompts.\n",
        if bastion.is_some() { " --bastion" } else { "" },
        ssh_path(&files.ssh_config())?
    );
    let block = |h: &HostEntry, user: &str, jump: Option<&str>| {
        format!(
            "\nHost {name} {address}\n\
             \x20 HostName {address}\n\
             \x20 User {user}\n\
             {jump}\
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
            jump = jump.map(|j| format!("  ProxyJump {j}\n")).unwrap_or_default(),
        )
    };
    match bastion {
        None => hosts.iter().for_each(|h| s.push_str(&block(h, "root", None))),
        Some(b) => {
            s.push_str("\n# The jump host: the only one this machine reaches.");
            s.push_str(&block(&b.entry, ADMIN, None));
            for h in hosts {
                s.push_str(&block(h, ADMIN, Some(&b.entry.name)));
            }
        }
    }
    Ok(s)
}

/// Each key under the host's name and address (the bastion's first).
pub fn render_known_hosts(hosts: &[HostEntry], bastion: Option<&Bastion>) -> String {
    bastion
        .map(|b| &b.entry)
        .into_iter()
        .chain(hosts)
        .flat_map(|h| h.host_keys.iter().map(move |k| format!("{},{} {k}\n", h.name, h.address)))
        .collect()
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
pub fn write_all(
    lab: &LabName,
    files: &LabFiles,
    hosts: &[HostEntry],
    registry: &str,
    bastion: Option<&Bastion>,
) -> Result<()> {
    create_ssh_dir(files)?;
    write_atomic(&files.known_hosts(), &render_known_hosts(hosts, bastion))?;
    write_atomic(&files.ssh_config(), &render_ssh_config(lab, files, hosts, bastion)?)?;
    write_atomic(&files.hosts_yml(), &render_hosts_yml(lab, files, hosts, registry, bastion))
}

/// First line of the vaulted become file we write.
const VAULT_HEADER: &str = "# Written by `push lab up --bastion";

/// Behind a bastion: the password sudo asks `admin` for. Kept as
/// `ansible_become_password` in [`LabFiles::become_vault`], encrypted with
/// Ansible Vault under a random password in [`LabFiles::vault_password`]
/// (0600). Both are made on the first `up` and reused as they are after.
pub fn ensure_become_vault(lab: &LabName, files: &LabFiles) -> Result<String> {
    if let Some(password) = read_become_password(lab, files) {
        return Ok(password);
    }
    let vault_password = random_hex(16)?;
    let become_password = random_hex(12)?;
    let plaintext = format!(
        "{VAULT_HEADER} --name {lab}`: sudo's password for admin on the hosts.\n\
         ansible_become_password: \"{become_password}\"\n"
    );
    let vault = files.become_vault(lab);
    let folder = vault.parent().expect("the vault file is in a folder");
    std::fs::create_dir_all(folder).map_err(|e| Error::Failed(format!("cannot create {}: {e}", folder.display())))?;
    write_private(&files.vault_password(), &format!("{vault_password}\n"))?;
    let sealed = push_engine::vault::format::encrypt(plaintext.as_bytes(), vault_password.as_bytes(), None);
    write_private(&vault, &sealed)?;
    Ok(become_password)
}

/// The become password in the lab's vault, if both files are there, ours,
/// and open.
fn read_become_password(lab: &LabName, files: &LabFiles) -> Option<String> {
    let vault_password = std::fs::read_to_string(files.vault_password()).ok()?;
    let sealed = std::fs::read_to_string(files.become_vault(lab)).ok()?;
    let envelope = push_engine::vault::format::parse_envelope(&sealed).ok()?;
    let plain = envelope.decrypt(vault_password.trim_end().as_bytes()).ok()?;
    let text = std::str::from_utf8(&plain).ok()?;
    if !text.starts_with(VAULT_HEADER) {
        return None;
    }
    let value = text.lines().find_map(|l| l.strip_prefix("ansible_become_password: "))?;
    serde_json::from_str::<String>(value).ok()
}

/// `2 * bytes` hex digits from the kernel's random source.
fn random_hex(bytes: usize) -> Result<String> {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| Error::Failed(format!("cannot read /dev/urandom: {e}")))?;
    Ok(crate::recipes::hex(&buf))
}

/// A file only its owner can read, replaced atomically.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let partial = path.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .and_then(|()| std::fs::rename(&partial, path))
        .map_err(|e| Error::Failed(format!("cannot write {}: {e}", path.display())))
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
pub fn remove_all(lab: &LabName, files: &LabFiles) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let ours = std::fs::read_to_string(files.hosts_yml()).is_ok_and(|t| t.starts_with(HEADER));
    let mut paths = vec![files.ssh_config(), files.known_hosts(), files.private_key(), files.public_key()];
    if ours {
        paths.push(files.hosts_yml());
    }
    // The vault only when it opens with our password and is ours.
    let vault = files.become_vault(lab);
    if read_become_password(lab, files).is_some() {
        paths.push(vault.clone());
    }
    if !vault.exists() || paths.contains(&vault) {
        paths.push(files.vault_password());
    }
    for p in paths {
        match std::fs::remove_file(&p) {
            Ok(()) => removed.push(p),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::Failed(format!("cannot remove {}: {e}", p.display()))),
        }
    }
    let group_vars = files.dir.join("group_vars");
    for dir in [files.ssh_dir(), group_vars.join(lab.group()), group_vars, files.dir.clone()] {
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
        insta::assert_snapshot!(render_hosts_yml(&lab, &files, &hosts, "172.18.0.1:5000", None));
    }

    #[test]
    fn ssh_config() {
        let (lab, files, hosts) = sample();
        insta::assert_snapshot!(render_ssh_config(&lab, &files, &hosts, None).unwrap());
    }

    #[test]
    fn known_hosts() {
        let (_, _, hosts) = sample();
        insta::assert_snapshot!(render_known_hosts(&hosts, None), @r"
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
        std::fs::write(&path, render_hosts_yml(&lab, &files, &hosts, "172.18.0.1:5000", None)).unwrap();
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
        write_all(&lab, &files, &hosts, "172.18.0.1:5000", None).unwrap();
        std::fs::write(files.private_key(), "k").unwrap();
        std::fs::write(files.public_key(), "ssh-ed25519 AAAA push-lab-my-lab").unwrap();
        assert!(files.ssh_config().is_file() && files.known_hosts().is_file() && files.hosts_yml().is_file());
        let removed = remove_all(&lab, &files).unwrap();
        assert_eq!(removed.len(), 7, "{removed:?}");
        assert!(!files.dir.exists());

        // A folder with the user's own files keeps them.
        write_all(&lab, &files, &hosts, "r", None).unwrap();
        std::fs::write(files.dir.join("mine.yml"), "x").unwrap();
        remove_all(&lab, &files).unwrap();
        assert!(files.dir.join("mine.yml").is_file());
        assert!(!files.hosts_yml().exists());
        // A hosts.yml we did not write stays.
        std::fs::write(files.hosts_yml(), "all: {}\n").unwrap();
        remove_all(&lab, &files).unwrap();
        assert!(files.hosts_yml().is_file());
    }

    fn bastion() -> Bastion {
        Bastion {
            entry: HostEntry {
                name: "my-lab-bastion".into(),
                address: "172.18.0.3".into(),
                host_keys: vec!["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBastion".into()],
            },
            private_address: "172.19.0.2".into(),
        }
    }

    /// Behind a bastion: hosts on the private network, admin, the jump.
    fn sample_behind_bastion() -> (LabName, LabFiles, Vec<HostEntry>) {
        let (lab, files, mut hosts) = sample();
        hosts[0].address = "172.19.0.3".into();
        hosts[1].address = "172.19.0.4".into();
        (lab, files, hosts)
    }

    #[test]
    fn hosts_yml_behind_a_bastion() {
        let (lab, files, hosts) = sample_behind_bastion();
        insta::assert_snapshot!(render_hosts_yml(&lab, &files, &hosts, "172.18.0.2:5000", Some(&bastion())));
    }

    #[test]
    fn ssh_config_behind_a_bastion() {
        let (lab, files, hosts) = sample_behind_bastion();
        insta::assert_snapshot!(render_ssh_config(&lab, &files, &hosts, Some(&bastion())).unwrap());
    }

    #[test]
    fn known_hosts_behind_a_bastion() {
        let (_, _, hosts) = sample_behind_bastion();
        insta::assert_snapshot!(render_known_hosts(&hosts, Some(&bastion())), @r"
        my-lab-bastion,172.18.0.3 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBastion
        my-lab-1,172.19.0.3 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOne
        my-lab-1,172.19.0.3 ssh-rsa AAAAB3One
        my-lab-2,172.19.0.4 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITwo
        ");
    }

    #[test]
    fn the_hosts_file_behind_a_bastion_reads_as_an_inventory() {
        let (lab, files, hosts) = sample_behind_bastion();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts.yml");
        std::fs::write(&path, render_hosts_yml(&lab, &files, &hosts, "172.18.0.2:5000", Some(&bastion()))).unwrap();
        let inv = push_engine::inventory::Inventory::load(&[path]).unwrap();
        let vars = inv.host_vars("my-lab-1").unwrap();
        assert_eq!(vars["ansible_user"], "admin");
        assert_eq!(vars["ansible_ssh_common_args"], "-o ProxyJump=admin@172.18.0.3");
        assert_eq!(vars["ansible_host"], "172.19.0.3");
    }

    /// The become password: made once, vaulted, 0600, reused by the next
    /// `up`, read back as the group's vars with the vault password, removed
    /// by `down`.
    #[test]
    fn the_become_vault_is_made_once_and_reads_as_group_vars() {
        use std::os::unix::fs::PermissionsExt;
        let (lab, _, hosts) = sample_behind_bastion();
        let dir = tempfile::tempdir().unwrap();
        let files = LabFiles::new(&dir.path().join("inv"));
        let password = ensure_become_vault(&lab, &files).unwrap();
        assert_eq!(password.len(), 24);
        let sealed = std::fs::read_to_string(files.become_vault(&lab)).unwrap();
        assert!(sealed.starts_with("$ANSIBLE_VAULT;1.1;AES256\n"), "{sealed}");
        assert!(!sealed.contains(&password));
        for f in [files.become_vault(&lab), files.vault_password()] {
            assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600, "{}", f.display());
        }
        assert_eq!(ensure_become_vault(&lab, &files).unwrap(), password);
        assert_eq!(std::fs::read_to_string(files.become_vault(&lab)).unwrap(), sealed, "rewritten");

        write_all(&lab, &files, &hosts, "172.18.0.2:5000", Some(&bastion())).unwrap();
        // As `push run --vault-password-file` reads it.
        let id = push_engine::vault::VaultId::file(files.vault_password());
        push_engine::vault::install(push_engine::vault::Keyring::load(&[id]).unwrap());
        let inv = push_engine::inventory::Inventory::load(std::slice::from_ref(&files.dir)).unwrap();
        assert_eq!(inv.host_vars("my-lab-2").unwrap()["ansible_become_password"], password.as_str());

        std::fs::write(files.private_key(), "k").unwrap();
        std::fs::write(files.public_key(), "ssh-ed25519 AAAA push-lab-my-lab").unwrap();
        remove_all(&lab, &files).unwrap();
        assert!(!files.dir.exists(), "left: {:?}", std::fs::read_dir(&files.dir).map(|d| d.count()));
    }
}
