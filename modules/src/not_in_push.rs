//! Modules Ansible has and push does not. A task naming one loads like any
//! other, so a role whose `yum:` task sits behind `when: ansible_os_family
//! == 'RedHat'` runs on Debian; the task fails only on a host where it runs,
//! naming the module.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::ansible_names::{BUILTIN, REDIRECTS};
#[cfg(test)]
use crate::ControllerError;
use crate::{ArgError, Args, Controller, Module, Op, Param};

/// How a module name that a task uses is understood.
#[derive(Clone, Copy)]
pub enum ModuleName {
    /// One of push's modules, under its short name or a fully qualified one.
    Push(&'static dyn Module),
    /// A module Ansible has (its fully qualified name), push does not.
    NotInPush(&'static str),
    /// No module of Ansible's either.
    Unknown,
}

/// What module `name` (as a task writes it) is.
pub fn resolve(name: &str) -> ModuleName {
    let short = name.strip_prefix("ansible.builtin.").or_else(|| name.strip_prefix("ansible.legacy."));
    if let Some(short) = short.or((!name.contains('.')).then_some(name)) {
        if let Some(m) = crate::lookup(short) {
            return ModuleName::Push(m);
        }
        if BUILTIN.contains(&short) {
            return ModuleName::NotInPush(intern(&format!("ansible.builtin.{short}")));
        }
        return match REDIRECTS.iter().find(|(n, _)| *n == short) {
            // The short name a role writes, e.g. `ufw` for community.general.ufw.
            Some((_, fqcn)) => ModuleName::NotInPush(fqcn),
            None => ModuleName::Unknown,
        };
    }
    // Another collection: a push module under the name that collection
    // gives it, or a module of that collection push lacks.
    if let Some((_, short)) = REDIRECTS.iter().find(|(_, fqcn)| *fqcn == name) {
        return match crate::lookup(short) {
            Some(m) => ModuleName::Push(m),
            None => ModuleName::NotInPush(intern(name)),
        };
    }
    // A misspelt name, or a collection push knows nothing of (which Ansible
    // too would refuse unless it is installed).
    ModuleName::Unknown
}

/// Every module name Ansible takes, short and fully qualified, for "did you mean".
pub fn ansible_names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().copied().chain(REDIRECTS.iter().flat_map(|(short, fqcn)| [*short, *fqcn]))
}

fn intern(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    let mut names = NAMES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    names.entry(name.to_string()).or_insert_with(|| Box::leak(name.to_string().into_boxed_str()))
}

/// A module push does not have, as a task names it: planning it gives an op
/// that fails on the host, saying so.
pub struct NotInPush {
    /// As the task writes it.
    written: &'static str,
    /// Ansible's fully qualified name.
    fqcn: &'static str,
}

/// The module for a task naming `written`, which Ansible knows as `fqcn`.
pub fn not_in_push(written: &str, fqcn: &'static str) -> &'static dyn Module {
    static MODULES: OnceLock<Mutex<HashMap<String, &'static NotInPush>>> = OnceLock::new();
    let mut modules = MODULES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    *modules
        .entry(written.to_string())
        .or_insert_with(|| Box::leak(Box::new(NotInPush { written: intern(written), fqcn })))
}

impl NotInPush {
    pub fn message(&self) -> String {
        let also = if self.written == self.fqcn { String::new() } else { format!(" ({})", self.fqcn) };
        format!("push has no module `{}`{also}: this task cannot run on this host", self.written)
    }
}

impl Module for NotInPush {
    fn name(&self) -> &'static str {
        self.written
    }
    fn params(&self) -> &'static [Param] {
        &[]
    }
    fn free_form(&self) -> bool {
        true
    }
    fn checks_args(&self) -> bool {
        false
    }
    fn plan(&self, _args: &Args, _ctl: &dyn Controller) -> Result<Op, ArgError> {
        let snippet = format!("printf '%s\\n' {} >&2\nexit 1\n", crate::shell::quote(&self.message()));
        Ok(Op { probe: snippet.clone(), apply: snippet, ..Op::default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(name: &str) -> String {
        match resolve(name) {
            ModuleName::Push(m) => format!("push {}", m.name()),
            ModuleName::NotInPush(fqcn) => format!("ansible {fqcn}"),
            ModuleName::Unknown => "unknown".into(),
        }
    }

    #[test]
    fn names_resolve_as_ansible_resolves_them() {
        let cases = [
            ("copy", "push copy"),
            ("ansible.builtin.copy", "push copy"),
            ("ansible.legacy.copy", "push copy"),
            ("ansible.builtin.systemd_service", "push systemd_service"),
            ("rpm_key", "ansible ansible.builtin.rpm_key"),
            ("ansible.builtin.rpm_key", "ansible ansible.builtin.rpm_key"),
            ("yum", "ansible ansible.builtin.dnf"),
            ("dnf", "ansible ansible.builtin.dnf"),
            ("zypper", "ansible community.general.zypper"),
            ("community.general.zypper", "ansible community.general.zypper"),
            ("ufw", "ansible community.general.ufw"),
            ("ansible.posix.sysctl", "ansible ansible.posix.sysctl"),
            ("sysctl", "ansible ansible.posix.sysctl"),
            ("debug", "ansible ansible.builtin.debug"),
            ("coppy", "unknown"),
            ("ansible.builtin.coppy", "unknown"),
            ("community.general.zyper", "unknown"),
            ("ansible.posix.copy", "unknown"),
            ("acme.corp.thing", "unknown"),
        ];
        for (name, want) in cases {
            assert_eq!(kind(name), want, "{name}");
        }
    }

    #[test]
    fn a_missing_module_fails_on_the_host_naming_it() {
        let m = not_in_push("yum", "ansible.builtin.dnf");
        assert_eq!(m.name(), "yum");
        assert!(std::ptr::eq(m, not_in_push("yum", "ansible.builtin.dnf")));
        let op = crate::plan(m, serde_json::json!({"name": "x", "anything": 1}).as_object().unwrap().clone(), &NoFiles)
            .unwrap();
        let out = std::process::Command::new("sh").args(["-c", &op.apply]).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "push has no module `yum` (ansible.builtin.dnf): this task cannot run on this host\n"
        );
    }

    struct NoFiles;
    impl Controller for NoFiles {
        fn read_file(&self, src: &str) -> Result<Vec<u8>, ControllerError> {
            Err(ControllerError::NoFiles(src.into()))
        }
        fn find_file(&self, src: &str) -> Result<std::path::PathBuf, ControllerError> {
            Err(ControllerError::NoFiles(src.into()))
        }
        fn read_vaulted(&self, _: &str) -> Result<Option<Vec<u8>>, ControllerError> {
            Ok(None)
        }
        fn render_template(&self, src: &str) -> Result<String, ControllerError> {
            Err(ControllerError::NoFiles(src.into()))
        }
    }
}
