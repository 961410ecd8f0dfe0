//! Roles: where a role is found, and its tasks, handlers, defaults and
//! vars loaded onto the play.

use std::path::Path;

use super::load::{load_task_file, parse_become, parse_tags, vars_of, TaskContext};
use super::model::*;
use crate::diagnostic::Diagnostic;
use crate::template::Vars;
use crate::yaml::{self, Node, NodeValue};

/// A role's variables; its tasks and handlers go onto the play's lists.
pub(super) struct Role {
    pub(super) defaults: Vars,
    pub(super) vars: Vars,
}

/// `roles/NAME/{tasks,handlers,defaults,vars}/main.yml`, next to the playbook.
pub(super) fn load_role(
    node: &Node,
    base_dir: &Path,
    play_ctx: &TaskContext,
    tasks: &mut TaskList,
    handlers: &mut TaskList,
) -> Result<Role, Diagnostic> {
    let (name, name_span, extra) = match &node.value {
        NodeValue::Map(_) => {
            let n = node
                .get("role")
                .or_else(|| node.get("name"))
                .ok_or_else(|| Diagnostic::at(&node.span, "role entry has no `role:` name"))?;
            (n.expect_scalar_text("a role name")?, n.span.clone(), Some(node))
        }
        _ => (node.expect_scalar_text("a role")?, node.span.clone(), None),
    };
    let dir = base_dir.join("roles").join(&name);
    if !dir.is_dir() {
        return Err(Diagnostic::at(&name_span, format!("role `{name}` not found at {}", dir.display()))
            .with_hint("roles live in `roles/NAME/` next to the playbook"));
    }
    let read_vars = |sub: &str| -> Result<Vars, Diagnostic> {
        let file = ["main.yml", "main.yaml"].iter().map(|f| dir.join(sub).join(f)).find(|p| p.exists());
        match file {
            Some(path) => {
                let (_, doc) = yaml::load(&path)?;
                vars_of(&doc, &format!("{sub}/main.yml"))
            }
            None => Ok(Vars::new()),
        }
    };
    let defaults = read_vars("defaults")?;
    let mut vars = read_vars("vars")?;
    let mut tags = play_ctx.tags.clone();
    let mut become_ = play_ctx.become_.clone();
    if let Some(entry) = extra {
        if let Some(t) = entry.get("tags") {
            tags.extend(parse_tags(t)?);
        }
        if let Some(v) = entry.get("vars") {
            vars.extend(vars_of(v, "role `vars`")?);
        }
        // Role parameters (`- role: x` with `port: 80`) are variables too.
        for (key, value) in entry.as_map().unwrap_or(&[]) {
            if !["role", "name", "tags", "vars", "become", "become_user", "become_method", "become_flags", "when"]
                .contains(&key.name.as_str())
            {
                vars.insert(key.name.clone(), value.to_json());
            }
        }
        become_ = parse_become(entry, &become_)?;
    }
    let ctx =
        TaskContext { import_depth: play_ctx.import_depth, ..TaskContext::new(base_dir, Some(&dir), tags, become_) };
    let load_list = |sub: &str, handlers: bool, out: &mut TaskList| -> Result<(), Diagnostic> {
        let file = ["main.yml", "main.yaml"].iter().map(|f| dir.join(sub).join(f)).find(|p| p.exists());
        match file {
            Some(path) => load_task_file(&path, &name_span, &ctx, handlers, out),
            None => Ok(()),
        }
    };
    load_list("tasks", false, tasks)?;
    load_list("handlers", true, handlers)?;
    Ok(Role { defaults, vars })
}
