//! The table of built-in modules and the snippet templates they render.

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

/// Snippet templates, compiled into the binary; the files stay readable in
/// `modules/templates/`.
pub(crate) static TEMPLATES: &[(&str, &str)] = &[
    ("command.sh", include_str!("../templates/command.sh")),
    ("file.sh", include_str!("../templates/file.sh")),
    ("copy.sh", include_str!("../templates/copy.sh")),
    ("validate.sh", include_str!("../templates/validate.sh")),
    ("lineinfile.sh", include_str!("../templates/lineinfile.sh")),
    ("apt.sh", include_str!("../templates/apt.sh")),
    ("systemd.sh", include_str!("../templates/systemd.sh")),
    ("user.sh", include_str!("../templates/user.sh")),
    ("group.sh", include_str!("../templates/group.sh")),
    ("docker_sub.sh", include_str!("../templates/docker_sub.sh")),
    ("docker_refs.sh", include_str!("../templates/docker_refs.sh")),
    ("docker_host.sh", include_str!("../templates/docker_host.sh")),
    ("docker_image.sh", include_str!("../templates/docker_image.sh")),
    ("docker_unit.sh", include_str!("../templates/docker_unit.sh")),
    ("docker_unit_restart.sh", include_str!("../templates/docker_unit_restart.sh")),
    ("docker_unit_outcome.sh", include_str!("../templates/docker_unit_outcome.sh")),
    ("docker_unit_switch_wait.sh", include_str!("../templates/docker_unit_switch_wait.sh")),
    ("docker_unit_rollback.sh", include_str!("../templates/docker_unit_rollback.sh")),
    ("docker_ssh.sh", include_str!("../templates/docker_ssh.sh")),
];

/// The module called `name` (Ansible's `ansible.builtin.` prefix accepted).
pub fn lookup(name: &str) -> Option<&'static dyn Module> {
    let name = name.strip_prefix("ansible.builtin.").unwrap_or(name);
    MODULES.iter().copied().find(|m| m.name() == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    MODULES.iter().map(|m| m.name())
}
