//! N real sshd hosts plus the files a client needs to reach them with
//! strict host-key checking: an inventory (INI and YAML), `known_hosts` and
//! `ssh_config`.
//!
//! Layout of the fleet's tempdir:
//!
//! ```text
//! inventory/hosts.ini        INI inventory (`fleet.inventory()`, dir: `fleet.inventory_dir()`)
//! inventory-yaml/hosts.yml   the same as YAML (`fleet.inventory_yaml()`)
//! ssh/known_hosts            `[127.0.0.1]:PORT ssh-ed25519 AAAA...`, each host's real key
//! ssh/ssh_config             `Host h1` ... blocks, then `Host *` defaults
//! work/                      for the test's own files (`fleet.work_dir()`)
//! ```
//!
//! Every file is rewritten whenever the fleet changes (a host var, an
//! unreachable host), so what is on disk always matches the fleet.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::proc::{run_with_timeout, CmdOutput};
use crate::sshd::{current_user, free_port, SshHost};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InventoryFormat {
    Ini,
    Yaml,
}

pub struct Fleet {
    hosts: Vec<SshHost>,
    /// Aliases that point at a closed port on 127.0.0.1.
    unreachable: Vec<(String, u16)>,
    host_vars: BTreeMap<String, BTreeMap<String, String>>,
    group_vars: BTreeMap<String, String>,
    dir: TempDir,
}

impl Fleet {
    /// Start `n` hosts named `h1`..`hn`.
    pub fn start(n: usize) -> Fleet {
        let names: Vec<String> = (1..=n).map(|i| format!("h{i}")).collect();
        Fleet::start_named(&names.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// Start one host per alias.
    pub fn start_named(aliases: &[&str]) -> Fleet {
        let dir = tempfile::Builder::new().prefix("push-fleet-").tempdir().expect("fleet tempdir");
        // Started one after another: each start is quick, and a failure names its host.
        let hosts = aliases.iter().map(|a| SshHost::start(a)).collect();
        let fleet =
            Fleet { hosts, unreachable: Vec::new(), host_vars: BTreeMap::new(), group_vars: BTreeMap::new(), dir };
        std::fs::create_dir_all(fleet.work_dir()).expect("mkdir work");
        fleet.write_files();
        fleet
    }

    /// Add a host `alias` on 127.0.0.1 at a port where nothing listens
    /// (connection refused). Returns the port.
    pub fn add_unreachable(&mut self, alias: &str) -> u16 {
        let port = free_port();
        self.unreachable.push((alias.to_string(), port));
        self.write_files();
        port
    }

    /// Set an inventory host variable (a plain string value).
    pub fn set_host_var(&mut self, alias: &str, key: &str, value: &str) -> &mut Self {
        assert!(self.aliases().iter().any(|a| a == alias), "no host `{alias}` in this fleet");
        self.host_vars.entry(alias.to_string()).or_default().insert(key.to_string(), value.to_string());
        self.write_files();
        self
    }

    /// Set a variable on the `all` group (beside `push_ssh_config`).
    pub fn set_group_var(&mut self, key: &str, value: &str) -> &mut Self {
        self.group_vars.insert(key.to_string(), value.to_string());
        self.write_files();
        self
    }

    /// The fleet's tempdir.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    /// A folder for the test's playbooks and outputs, removed with the fleet.
    pub fn work_dir(&self) -> PathBuf {
        self.dir.path().join("work")
    }
    /// The INI inventory file.
    pub fn inventory(&self) -> PathBuf {
        self.inventory_dir().join("hosts.ini")
    }
    /// The folder holding only the INI inventory (for `-i DIR`).
    pub fn inventory_dir(&self) -> PathBuf {
        self.dir.path().join("inventory")
    }
    /// The YAML inventory file (same hosts and vars).
    pub fn inventory_yaml(&self) -> PathBuf {
        self.dir.path().join("inventory-yaml").join("hosts.yml")
    }
    pub fn inventory_file(&self, format: InventoryFormat) -> PathBuf {
        match format {
            InventoryFormat::Ini => self.inventory(),
            InventoryFormat::Yaml => self.inventory_yaml(),
        }
    }
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("ssh").join("known_hosts")
    }
    pub fn ssh_config(&self) -> PathBuf {
        self.dir.path().join("ssh").join("ssh_config")
    }
    pub fn hosts(&self) -> &[SshHost] {
        &self.hosts
    }
    pub fn host(&self, alias: &str) -> &SshHost {
        self.hosts
            .iter()
            .find(|h| h.name() == alias)
            .unwrap_or_else(|| panic!("no running host `{alias}` in this fleet"))
    }
    /// Every alias in inventory order: running hosts, then unreachable ones.
    pub fn aliases(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.name().to_string()).chain(self.unreachable.iter().map(|(a, _)| a.clone())).collect()
    }

    /// Run `command` on host `alias` with the system ssh client and the
    /// fleet's `ssh_config` (strict host-key checking, batch mode).
    pub fn ssh(&self, alias: &str, command: &str) -> CmdOutput {
        let mut cmd = Command::new("ssh");
        cmd.arg("-F").arg(self.ssh_config()).arg(alias).arg("--").arg(command);
        run_with_timeout(&mut cmd, Duration::from_secs(60))
    }

    fn write_files(&self) {
        let ssh_dir = self.dir.path().join("ssh");
        std::fs::create_dir_all(&ssh_dir).expect("mkdir ssh");
        crate::write(self.known_hosts(), self.known_hosts_text());
        crate::write(self.ssh_config(), self.ssh_config_text());
        crate::write(self.inventory(), self.ini_text());
        crate::write(self.inventory_yaml(), self.yaml_text());
    }

    /// Each host's real key, in the form ssh looks up for a non-22 port.
    pub fn known_hosts_text(&self) -> String {
        self.hosts.iter().map(|h| format!("{}\n", h.known_hosts_line())).collect()
    }

    /// Per-alias host blocks, then defaults for every host (also when ssh is
    /// called with `127.0.0.1 -p PORT` rather than an alias).
    pub fn ssh_config_text(&self) -> String {
        let mut s = String::from("# Written by push-tests. Strict host-key checking, no prompts.\n\n");
        for h in &self.hosts {
            s.push_str(&format!(
                "Host {}\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n\n",
                h.name(),
                h.port(),
                h.user(),
                h.client_key().display()
            ));
        }
        for (alias, port) in &self.unreachable {
            s.push_str(&format!("Host {alias}\n  HostName 127.0.0.1\n  Port {port}\n  User {}\n\n", current_user()));
        }
        s.push_str(&format!(
            "Host *\n\
             \x20 IdentitiesOnly yes\n\
             \x20 UserKnownHostsFile {known_hosts}\n\
             \x20 GlobalKnownHostsFile /dev/null\n\
             \x20 StrictHostKeyChecking yes\n\
             \x20 UpdateHostKeys no\n\
             \x20 KexAlgorithms curve25519-sha256\n\
             \x20 BatchMode yes\n\
             \x20 ConnectTimeout 10\n\
             \x20 LogLevel ERROR\n",
            known_hosts = self.known_hosts().display()
        ));
        s
    }

    /// `alias -> (port, key file)` in inventory order; unreachable hosts
    /// get the first host's key (any key: nothing answers there).
    fn entries(&self) -> Vec<(String, u16, PathBuf)> {
        let any_key = self.hosts.first().map(|h| h.client_key().to_path_buf()).unwrap_or_default();
        self.hosts
            .iter()
            .map(|h| (h.name().to_string(), h.port(), h.client_key().to_path_buf()))
            .chain(self.unreachable.iter().map(|(a, p)| (a.clone(), *p, any_key.clone())))
            .collect()
    }

    fn all_vars(&self) -> Vec<(String, String)> {
        // Every fleet host is this machine: give each its own deploy lock so
        // hosts and parallel tests do not queue on the machine-wide one.
        let mut vars = vec![
            ("push_ssh_config".to_string(), self.ssh_config().display().to_string()),
            ("push_lock_path".to_string(), format!("{}/{{{{ inventory_hostname }}}}.lock", self.dir().display())),
        ];
        vars.extend(self.group_vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        vars
    }

    pub fn ini_text(&self) -> String {
        let user = current_user();
        let mut s = String::from("# Written by push-tests: sshd hosts on 127.0.0.1.\n");
        for (alias, port, key) in self.entries() {
            s.push_str(&format!(
                "{alias} ansible_host=127.0.0.1 ansible_port={port} ansible_user={user} ansible_ssh_private_key_file={}",
                key.display()
            ));
            for (k, v) in self.host_vars.get(&alias).into_iter().flatten() {
                s.push_str(&format!(" {k}={}", ini_value(v)));
            }
            s.push('\n');
        }
        s.push_str("\n[all:vars]\n");
        for (k, v) in self.all_vars() {
            s.push_str(&format!("{k}={}\n", ini_value(&v)));
        }
        s
    }

    pub fn yaml_text(&self) -> String {
        let user = current_user();
        let q = |v: &str| serde_json::to_string(v).expect("json string");
        let mut s = String::from("# Written by push-tests: sshd hosts on 127.0.0.1.\nall:\n  vars:\n");
        for (k, v) in self.all_vars() {
            s.push_str(&format!("    {k}: {}\n", q(&v)));
        }
        s.push_str("  hosts:\n");
        for (alias, port, key) in self.entries() {
            s.push_str(&format!(
                "    {alias}:\n      ansible_host: 127.0.0.1\n      ansible_port: {port}\n      ansible_user: {}\n      ansible_ssh_private_key_file: {}\n",
                q(&user),
                q(&key.display().to_string())
            ));
            for (k, v) in self.host_vars.get(&alias).into_iter().flatten() {
                s.push_str(&format!("      {k}: {}\n", q(v)));
            }
        }
        s
    }
}

/// An INI inventory value: bare when it is one plain word, else quoted
/// (Ansible reads `"..."` as a string).
fn ini_value(v: &str) -> String {
    let plain = !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:@%+,".contains(c));
    if plain {
        return v.to_string();
    }
    assert!(
        !v.contains(['"', '\\', '\n', '\'']),
        "push-tests writes simple INI values only; use a YAML inventory for {v:?}"
    );
    format!("\"{v}\"")
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("dir", &self.dir.path())
            .field("hosts", &self.hosts)
            .field("unreachable", &self.unreachable)
            .finish()
    }
}
