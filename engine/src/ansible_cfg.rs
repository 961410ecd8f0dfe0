//! ansible.cfg, found and read as Ansible finds and reads it: the first of
//! `$ANSIBLE_CONFIG`, `./ansible.cfg`, `~/.ansible.cfg`,
//! `/etc/ansible/ansible.cfg`; an INI file as Python's configparser reads
//! it (Ansible's own settings: `;` starts an inline comment, values are
//! unquoted); `ANSIBLE_*` variables override the file, and the command
//! line overrides both (done by the caller).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::{Diagnostic, SourceFile, Span};

/// Said when neither the command line nor the config names an inventory.
pub const NO_INVENTORY: &str =
    "no inventory: give one with -i, or set `inventory` in ansible.cfg's [defaults] (or ANSIBLE_INVENTORY)";

/// The settings push reads. `None` and empty lists: not set anywhere.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnsibleConfig {
    /// The file they came from, if any.
    pub path: Option<PathBuf>,
    pub inventory: Vec<PathBuf>,
    pub remote_user: Option<String>,
    pub forks: Option<usize>,
    pub private_key_file: Option<PathBuf>,
    pub roles_path: Vec<PathBuf>,
    /// `vault_password_file`: for Ansible Vault, which reads it from here.
    pub vault_password_file: Option<PathBuf>,
    pub host_key_checking: Option<bool>,
    pub become_: Option<bool>,
    pub become_user: Option<String>,
    pub become_method: Option<crate::become_method::Method>,
    pub become_ask_pass: Option<bool>,
    /// `[ssh_connection] ssh_args`, split as a shell would.
    pub ssh_args: Vec<String>,
    /// Settings that are read but have nothing to do in push, named once
    /// in a note: `pipelining`, `control_path`.
    pub not_needed: Vec<&'static str>,
}

/// One setting: its sections in the file, and its environment variable.
struct Key {
    name: &'static str,
    sections: &'static [&'static str],
    env: &'static str,
}

const fn key(name: &'static str, sections: &'static [&'static str], env: &'static str) -> Key {
    Key { name, sections, env }
}

const DEFAULTS: &[&str] = &["defaults"];
/// Ansible reads become settings from `[privilege_escalation]`.
const BECOME: &[&str] = &["privilege_escalation", "defaults"];
const SSH: &[&str] = &["ssh_connection"];

const INVENTORY: Key = key("inventory", DEFAULTS, "ANSIBLE_INVENTORY");
const REMOTE_USER: Key = key("remote_user", DEFAULTS, "ANSIBLE_REMOTE_USER");
const FORKS: Key = key("forks", DEFAULTS, "ANSIBLE_FORKS");
const PRIVATE_KEY_FILE: Key = key("private_key_file", DEFAULTS, "ANSIBLE_PRIVATE_KEY_FILE");
const ROLES_PATH: Key = key("roles_path", DEFAULTS, "ANSIBLE_ROLES_PATH");
const VAULT_PASSWORD_FILE: Key = key("vault_password_file", DEFAULTS, "ANSIBLE_VAULT_PASSWORD_FILE");
const HOST_KEY_CHECKING: Key = key("host_key_checking", DEFAULTS, "ANSIBLE_HOST_KEY_CHECKING");
const BECOME_ON: Key = key("become", BECOME, "ANSIBLE_BECOME");
const BECOME_USER: Key = key("become_user", BECOME, "ANSIBLE_BECOME_USER");
const BECOME_METHOD: Key = key("become_method", BECOME, "ANSIBLE_BECOME_METHOD");
const BECOME_ASK_PASS: Key = key("become_ask_pass", BECOME, "ANSIBLE_BECOME_ASK_PASS");
const SSH_ARGS: Key = key("ssh_args", SSH, "ANSIBLE_SSH_ARGS");
const PIPELINING: Key = key("pipelining", SSH, "ANSIBLE_PIPELINING");
const CONTROL_PATH: Key = key("control_path", SSH, "ANSIBLE_SSH_CONTROL_PATH");

/// Where Ansible would find its config, given the environment.
pub fn find(env: &dyn Fn(&str) -> Option<String>, cwd: &Path) -> Option<PathBuf> {
    if let Some(path) = env("ANSIBLE_CONFIG").filter(|p| !p.is_empty()) {
        let path = expand_home(env, Path::new(&path));
        // A folder stands for the ansible.cfg in it, as in Ansible.
        return Some(if path.is_dir() { path.join("ansible.cfg") } else { path });
    }
    let local = cwd.join("ansible.cfg");
    // Ansible skips a ./ansible.cfg in a world-writable folder: anyone could
    // have put it there.
    if local.is_file() && !world_writable(cwd) {
        return Some(local);
    }
    let home = env("HOME").map(|h| Path::new(&h).join(".ansible.cfg")).filter(|p| p.is_file());
    home.or_else(|| Some(PathBuf::from("/etc/ansible/ansible.cfg")).filter(|p| p.is_file()))
}

fn world_writable(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o002 != 0)
}

/// Find and read the config of this process's environment and folder.
pub fn load() -> Result<AnsibleConfig, Diagnostic> {
    let env = |k: &str| std::env::var(k).ok();
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let path = find(&env, &cwd);
    let ini = match &path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| Diagnostic::new(format!("cannot read the Ansible config {}: {e}", p.display())))?;
            Ini::parse(SourceFile::new(p.clone(), text))?
        }
        None => Ini::default(),
    };
    settle(&ini, path, &env)
}

/// The settings from the file, overridden by the environment.
fn settle(ini: &Ini, path: Option<PathBuf>, env: &dyn Fn(&str) -> Option<String>) -> Result<AnsibleConfig, Diagnostic> {
    let base = path.as_deref().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default();
    let lookup = Lookup { ini, env, base: &base };
    let mut cfg = AnsibleConfig {
        inventory: lookup.path_list(&INVENTORY, ','),
        remote_user: lookup.text(&REMOTE_USER),
        forks: lookup.number(&FORKS)?,
        private_key_file: lookup.readable_path(&PRIVATE_KEY_FILE)?,
        roles_path: lookup.path_list(&ROLES_PATH, ':'),
        vault_password_file: lookup.path(&VAULT_PASSWORD_FILE),
        host_key_checking: lookup.boolean(&HOST_KEY_CHECKING)?,
        become_: lookup.boolean(&BECOME_ON)?,
        become_user: lookup.text(&BECOME_USER),
        become_method: lookup.become_method(&BECOME_METHOD)?,
        become_ask_pass: lookup.boolean(&BECOME_ASK_PASS)?,
        ssh_args: match lookup.text(&SSH_ARGS) {
            Some(args) => shlex::split(&args).ok_or_else(|| {
                Diagnostic::new(format!("ssh_args `{args}` has an unclosed quote or a trailing backslash"))
            })?,
            None => Vec::new(),
        },
        not_needed: Vec::new(),
        path,
    };
    for (key, name) in [(&PIPELINING, "pipelining"), (&CONTROL_PATH, "control_path")] {
        if lookup.text(key).is_some() {
            cfg.not_needed.push(name);
        }
    }
    Ok(cfg)
}

struct Lookup<'a> {
    ini: &'a Ini,
    env: &'a dyn Fn(&str) -> Option<String>,
    base: &'a Path,
}

impl Lookup<'_> {
    fn raw(&self, key: &Key) -> Option<(String, Option<Span>)> {
        if let Some(v) = (self.env)(key.env) {
            return Some((v, None));
        }
        key.sections.iter().find_map(|s| self.ini.get(s, key.name)).map(|(v, span)| (v.to_string(), Some(span.clone())))
    }

    fn text(&self, key: &Key) -> Option<String> {
        self.raw(key).map(|(v, _)| v).filter(|v| !v.is_empty())
    }

    /// `~` is the home folder; a relative path is relative to the config
    /// file's folder, as in Ansible.
    fn path(&self, key: &Key) -> Option<PathBuf> {
        self.text(key).map(|v| self.resolve(&v))
    }

    /// A file that must be readable: a key file ssh could not read would
    /// only show as `Permission denied (publickey)` on every host.
    fn readable_path(&self, key: &Key) -> Result<Option<PathBuf>, Diagnostic> {
        let Some((_, span)) = self.raw(key) else { return Ok(None) };
        let Some(path) = self.path(key) else { return Ok(None) };
        match std::fs::File::open(&path) {
            Ok(_) => Ok(Some(path)),
            Err(e) => Err(self.bad(key, span, format!("{} cannot be read: {e}", path.display())).with_hint(
                "give the path of a key this user can read, or leave it out to use ssh's defaults and agent",
            )),
        }
    }

    fn path_list(&self, key: &Key, separator: char) -> Vec<PathBuf> {
        let Some(v) = self.text(key) else { return Vec::new() };
        v.split(separator).map(str::trim).filter(|p| !p.is_empty()).map(|p| self.resolve(p)).collect()
    }

    fn resolve(&self, p: &str) -> PathBuf {
        let p = expand_home(self.env, Path::new(p));
        if p.is_relative() {
            self.base.join(p)
        } else {
            p
        }
    }

    fn number(&self, key: &Key) -> Result<Option<usize>, Diagnostic> {
        let Some((v, span)) = self.raw(key) else { return Ok(None) };
        match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(self.bad(key, span, format!("`{v}` is not a number of at least 1"))),
        }
    }

    /// Ansible's booleans: yes/no, true/false, on/off, 1/0, y/n, t/f.
    fn boolean(&self, key: &Key) -> Result<Option<bool>, Diagnostic> {
        let Some((v, span)) = self.raw(key) else { return Ok(None) };
        match v.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" | "on" | "1" | "true" | "t" | "1.0" => Ok(Some(true)),
            "n" | "no" | "off" | "0" | "false" | "f" | "0.0" => Ok(Some(false)),
            _ => Err(self.bad(key, span, format!("`{v}` is not a boolean (true or false)"))),
        }
    }

    /// sudo or su: another method is refused, never replaced by sudo.
    fn become_method(&self, key: &Key) -> Result<Option<crate::become_method::Method>, Diagnostic> {
        let Some((v, span)) = self.raw(key).filter(|(v, _)| !v.trim().is_empty()) else { return Ok(None) };
        match crate::become_method::Method::parse(v.trim()) {
            Some(method) => Ok(Some(method)),
            None => {
                Err(self.bad(key, span, format!("`{v}` is not supported")).with_hint(crate::become_method::METHOD_HINT))
            }
        }
    }

    fn bad(&self, key: &Key, span: Option<Span>, what: String) -> Diagnostic {
        match span {
            Some(span) => Diagnostic::at(&span, format!("ansible.cfg `{}`: {what}", key.name)),
            None => Diagnostic::new(format!("{}: {what}", key.env)),
        }
    }
}

fn expand_home(env: &dyn Fn(&str) -> Option<String>, p: &Path) -> PathBuf {
    match (p.strip_prefix("~"), env("HOME")) {
        (Ok(rest), Some(home)) => Path::new(&home).join(rest),
        _ => p.to_path_buf(),
    }
}

/// An INI file as configparser reads Ansible's: `[section]`, `key = value`
/// or `key: value` (keys are case-insensitive), whole-line comments with
/// `#` or `;`, inline comments after whitespace and `;`, indented lines
/// continuing the value above, quotes around a value removed.
#[derive(Debug, Default)]
struct Ini {
    /// (section, key, value, where).
    entries: Vec<(String, String, String, Span)>,
}

impl Ini {
    fn parse(file: Arc<SourceFile>) -> Result<Ini, Diagnostic> {
        let mut ini = Ini::default();
        let mut section: Option<String> = None;
        let text = file.text.clone();
        for (n, line) in text.lines().enumerate() {
            let span = Span { file: Arc::clone(&file), line: n + 1, col: 1, len: line.len().max(1) };
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                if let Some(last) = ini.entries.last_mut().filter(|e| Some(&e.0) == section.as_ref()) {
                    last.2.push('\n');
                    last.2.push_str(strip_inline_comment(trimmed));
                    continue;
                }
            }
            if let Some(name) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                section = Some(name.trim().to_string());
                continue;
            }
            let Some(at) = trimmed.find(['=', ':']) else {
                return Err(Diagnostic::at(&span, "this line of ansible.cfg is neither `[section]` nor `key = value`"));
            };
            let Some(current) = &section else {
                return Err(Diagnostic::at(&span, "ansible.cfg: a setting before any `[section]`")
                    .with_hint("settings go under a section such as [defaults]"));
            };
            let name = trimmed[..at].trim().to_ascii_lowercase();
            let value = unquote(strip_inline_comment(trimmed[at + 1..].trim())).to_string();
            // A key written twice: configparser refuses it (strict mode).
            if ini.entries.iter().any(|e| &e.0 == current && e.1 == name) {
                return Err(Diagnostic::at(&span, format!("ansible.cfg: `{name}` is set twice in [{current}]")));
            }
            ini.entries.push((current.clone(), name, value, span));
        }
        Ok(ini)
    }

    fn get(&self, section: &str, key: &str) -> Option<(&str, &Span)> {
        self.entries.iter().find(|e| e.0 == section && e.1 == key).map(|e| (e.2.as_str(), &e.3))
    }
}

fn strip_inline_comment(value: &str) -> &str {
    let cut = value.char_indices().find(|&(i, c)| c == ';' && i > 0 && value[..i].ends_with([' ', '\t']));
    match cut {
        Some((i, _)) => value[..i].trim_end(),
        None => value,
    }
}

fn unquote(value: &str) -> &str {
    for q in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(q) && value.ends_with(q) {
            return &value[1..value.len() - 1];
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settled(text: &str, env: &[(&str, &str)]) -> Result<AnsibleConfig, Diagnostic> {
        let ini = Ini::parse(SourceFile::new("/etc/fleet/ansible.cfg", text.to_string()))?;
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let lookup = move |k: &str| env.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        settle(&ini, Some(PathBuf::from("/etc/fleet/ansible.cfg")), &lookup)
    }

    #[test]
    fn reads_ansible_settings_where_ansible_puts_them() {
        let cfg = settled(
            "# fleet\n[defaults]\ninventory = hosts.ini, /srv/more\nREMOTE_USER: admin ; who logs in\nforks=7\n\
             host_key_checking = False\nvault_password_file = vault.pass\n\
             [privilege_escalation]\nbecome = yes\nbecome_user = \"deploy\"\nbecome_ask_pass = True\n\
             [ssh_connection]\nssh_args = -C -o ControlMaster=auto\n  -o 'ProxyJump=admin@bastion'\npipelining = True\n",
            &[("HOME", "/home/me")],
        )
        .unwrap();
        assert_eq!(cfg.inventory, [PathBuf::from("/etc/fleet/hosts.ini"), PathBuf::from("/srv/more")]);
        assert_eq!(cfg.remote_user.as_deref(), Some("admin"));
        assert_eq!(cfg.forks, Some(7));
        assert_eq!(cfg.host_key_checking, Some(false));
        assert_eq!(cfg.vault_password_file, Some(PathBuf::from("/etc/fleet/vault.pass")));
        assert_eq!(
            (cfg.become_, cfg.become_user.as_deref(), cfg.become_ask_pass),
            (Some(true), Some("deploy"), Some(true))
        );
        assert_eq!(cfg.ssh_args, ["-C", "-o", "ControlMaster=auto", "-o", "ProxyJump=admin@bastion"]);
        assert_eq!(cfg.not_needed, ["pipelining"]);
    }

    #[test]
    fn environment_wins_over_the_file() {
        let cfg = settled("[defaults]\nforks = 7\nremote_user = admin\n", &[("ANSIBLE_FORKS", "3")]).unwrap();
        assert_eq!((cfg.forks, cfg.remote_user.as_deref()), (Some(3), Some("admin")));
    }

    #[test]
    fn bad_values_point_at_their_line() {
        let e = settled("[defaults]\n\nhost_key_checking = maybe\n", &[]).unwrap_err().to_string();
        assert!(e.contains("ansible.cfg:3") && e.contains("not a boolean"), "{e}");
        let e = settled("forks = 3\n", &[]).unwrap_err().to_string();
        assert!(e.contains("before any `[section]`"), "{e}");
    }

    #[test]
    fn a_key_file_that_cannot_be_read_is_an_error_at_its_line() {
        let e = settled("[defaults]\nprivate_key_file = ~/.ssh/fleet\n", &[("HOME", "/nonexistent/home")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("ansible.cfg:2") && e.contains("/nonexistent/home/.ssh/fleet cannot be read"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id");
        std::fs::write(&key, "").unwrap();
        let cfg = settled(&format!("[defaults]\nprivate_key_file = {}\n", key.display()), &[]).unwrap();
        assert_eq!(cfg.private_key_file, Some(key));
    }

    #[test]
    fn found_as_ansible_finds_it() {
        let dir = tempfile::tempdir().unwrap();
        let env_file = dir.path().join("custom.cfg");
        std::fs::write(&env_file, "").unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir(&home).unwrap();
        std::fs::write(home.join(".ansible.cfg"), "").unwrap();
        let cwd = dir.path().join("project");
        std::fs::create_dir(&cwd).unwrap();
        let with = |vars: Vec<(&'static str, PathBuf)>| {
            move |k: &str| vars.iter().find(|(key, _)| *key == k).map(|(_, v)| v.display().to_string())
        };
        assert_eq!(find(&with(vec![("HOME", home.clone())]), &cwd), Some(home.join(".ansible.cfg")));
        std::fs::write(cwd.join("ansible.cfg"), "").unwrap();
        assert_eq!(find(&with(vec![("HOME", home.clone())]), &cwd), Some(cwd.join("ansible.cfg")));
        let both = with(vec![("HOME", home.clone()), ("ANSIBLE_CONFIG", env_file.clone())]);
        assert_eq!(find(&both, &cwd), Some(env_file));
    }
}
