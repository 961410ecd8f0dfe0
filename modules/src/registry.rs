//! The table of built-in modules and the snippet templates they render.

use crate::Module;
use crate::modules::*;

static MODULES: &[&dyn Module] = &[];

/// Snippet templates, compiled into the binary; the files stay readable in
/// `modules/templates/`.
pub(crate) static TEMPLATES: &[(&str, &str)] = &[];

/// The module called `name` (Ansible's `ansible.builtin.` prefix accepted).
pub fn lookup(name: &str) -> Option<&'static dyn Module> {
    let name = name.strip_prefix("ansible.builtin.").unwrap_or(name);
    MODULES.iter().copied().find(|m| m.name() == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    MODULES.iter().map(|m| m.name())
}
