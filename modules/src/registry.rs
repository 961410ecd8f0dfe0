//! The table of built-in modules.

use crate::modules::*;
use crate::Module;

static MODULES: &[&dyn Module] = &[
    &Command,
    &Shell,
    &File,
    &Copy,
    &Template,
    &LineInFile,
    &Apt,
    &Systemd("systemd"),
    &Systemd("systemd_service"),
    &User,
    &Group,
    &DockerHost,
    &DockerImage,
    &DockerUnit,
    &DockerSsh,
];

/// The module called `name` (Ansible's `ansible.builtin.` prefix accepted).
pub fn lookup(name: &str) -> Option<&'static dyn Module> {
    let name = name.strip_prefix("ansible.builtin.").unwrap_or(name);
    MODULES.iter().copied().find(|m| m.name() == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    MODULES.iter().map(|m| m.name())
}
