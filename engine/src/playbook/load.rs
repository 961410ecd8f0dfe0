//! From YAML to [`Playbook`]: validates structure, module names and argument
//! names up front, so a typo is reported before any host is contacted.

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::keywords;
use super::model::*;
use super::roles::{self, PlayRoles};
use crate::become_method::{Method, METHOD_HINT};
use crate::diagnostic::{suggest, Diagnostic, Span};
use crate::template::{self, Vars};
use crate::yaml::{self, Key, Node, NodeValue};
use push_modules::not_in_push::ModuleName;

/// Load a playbook file, following `import_playbook`.
pub fn load_playbook(path: &Path) -> Result<Playbook, Diagnostic> {
    load_playbook_with_roles(path, &[])
}

/// Load a playbook whose roles may also be in `roles_path` (ansible.cfg's
/// or `ANSIBLE_ROLES_PATH`; empty: Ansible's default folders).
pub fn load_playbook_with_roles(path: &Path, roles_path: &[PathBuf]) -> Result<Playbook, Diagnostic> {
    let mut stack = Vec::new();
    let plays = load_plays(path, roles_path, &mut stack)?;
    Ok(Playbook { path: path.to_path_buf(), plays })
}

fn load_plays(path: &Path, roles_path: &[PathBuf], stack: &mut Vec<PathBuf>) -> Result<Vec<Play>, Diagnostic> {
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    if stack.contains(&canonical) {
        return Err(Diagnostic::new(format!("{} imports itself", path.display())));
    }
    stack.push(canonical);
    let (_, root) = yaml::load(path)?;
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let items = match &root.value {
        NodeValue::Seq(items) => items,
        _ => {
            return Err(root
                .type_error("a playbook", "a list of plays")
                .with_hint("start each play with `- hosts: ...`"))
        }
    };
    let mut plays = Vec::new();
    for item in items {
        if let Some(target) = keywords::get_action(item, "import_playbook") {
            let rel = target.expect_scalar_text("import_playbook")?;
            let file = base_dir.join(&rel);
            if !file.exists() {
                return Err(Diagnostic::at(
                    &target.span,
                    format!("imported playbook {} does not exist", file.display()),
                ));
            }
            plays.extend(load_plays(&file, roles_path, stack)?);
            continue;
        }
        plays.push(load_play(item, &base_dir, roles_path)?);
    }
    stack.pop();
    Ok(plays)
}

/// Where task files and `src:` paths are looked up, and what tasks inherit
/// from the play, role, blocks and imports around them.
#[derive(Clone)]
pub(super) struct TaskContext<'a> {
    pub(super) base_dir: &'a Path,
    pub(super) role_dir: Option<&'a Path>,
    /// The role the tasks come from.
    pub(super) role: Option<Arc<RoleScope>>,
    /// Where roles are looked for besides the playbook's `roles/`.
    pub(super) roles_path: &'a [PathBuf],
    /// What the play's roles add to it as they load.
    pub(super) roles: &'a RefCell<PlayRoles>,
    /// Tags inherited from the play or role.
    pub(super) tags: HashSet<String>,
    pub(super) become_: Become,
    pub(super) import_depth: usize,
    /// The `when`s of the blocks and imports around, outermost first.
    pub(super) when: Vec<Located>,
    /// Their `vars`, the innermost winning.
    pub(super) vars: Vars,
    pub(super) ignore_errors: Option<Flag>,
    pub(super) no_log: Option<Flag>,
    pub(super) check_mode: Option<bool>,
    /// The innermost block around, and which of its parts.
    pub(super) block: Option<BlockPlace>,
    /// The innermost include that brings these tasks.
    pub(super) include: Option<IncludePlace>,
    /// The folder of the file the tasks are read from.
    pub(super) file_dir: Option<PathBuf>,
    /// The `environment:`s around, outermost first.
    pub(super) environment: Vec<Value>,
}

impl<'a> TaskContext<'a> {
    fn new(
        base_dir: &'a Path,
        roles_path: &'a [PathBuf],
        roles: &'a RefCell<PlayRoles>,
        tags: HashSet<String>,
        become_: Become,
    ) -> Self {
        TaskContext {
            base_dir,
            role_dir: None,
            role: None,
            roles_path,
            roles,
            tags,
            become_,
            import_depth: 0,
            when: Vec::new(),
            vars: Vars::new(),
            ignore_errors: None,
            no_log: None,
            check_mode: None,
            block: None,
            include: None,
            file_dir: None,
            environment: Vec::new(),
        }
    }

    /// Where a task file named relatively is: the role's `tasks/`, the
    /// folder of the file naming it, the playbook's folder, as Ansible
    /// looks; the first where `has` holds (else the first of them).
    pub(super) fn task_dir(&self, has: impl Fn(&Path) -> bool) -> PathBuf {
        let dirs: Vec<PathBuf> =
            [self.role_dir.map(|r| r.join("tasks")), self.file_dir.clone(), Some(self.base_dir.to_path_buf())]
                .into_iter()
                .flatten()
                .collect();
        dirs.iter().find(|d| has(d)).unwrap_or(&dirs[0]).clone()
    }

    /// The context of the tasks inside a block or an import: its `when`,
    /// `vars`, `tags`, become keywords, `ignore_errors` and `no_log` on top
    /// of this one's.
    pub(super) fn inside(&self, node: &Node) -> Result<TaskContext<'a>, Diagnostic> {
        let mut inner = self.keywords_of(node)?;
        if let Some(v) = node.get("vars") {
            inner.vars.extend(vars_of(v, "`vars`")?);
        }
        Ok(inner)
    }

    /// As [`TaskContext::inside`], but for `vars` (a role entry's are the
    /// role's own, scoped apart).
    pub(super) fn keywords_of(&self, node: &Node) -> Result<TaskContext<'a>, Diagnostic> {
        let mut inner = self.clone();
        inner.when.extend(when_of(node)?);
        if let Some(t) = node.get("tags") {
            inner.tags.extend(parse_tags(t)?);
        }
        inner.become_ = parse_become(node, &self.become_)?;
        if let Some(n) = node.get("ignore_errors") {
            inner.ignore_errors = Some(parse_flag(n, "`ignore_errors`")?);
        }
        if let Some(n) = node.get("no_log") {
            inner.no_log = Some(parse_flag(n, "`no_log`")?);
        }
        if let Some(n) = node.get("check_mode") {
            inner.check_mode = Some(parse_bool(n, "`check_mode`")?);
        }
        inner.environment.extend(environment_of(node)?);
        Ok(inner)
    }
}

pub(super) fn check_keys(entries: &[(Key, Node)], allowed: &[&str], what: &str) -> Result<(), Diagnostic> {
    for (key, _) in entries {
        if !allowed.contains(&key.name.as_str()) {
            let mut d = Diagnostic::at(&key.span, format!("unknown {what} keyword `{}`", key.name));
            if let Some(s) = suggest(&key.name, allowed.iter().copied()) {
                d = d.with_hint(format!("did you mean `{s}`?"));
            } else {
                d = d.with_hint(format!("{what} keywords are: {}", allowed.join(", ")));
            }
            return Err(d);
        }
    }
    Ok(())
}

fn load_play(node: &Node, base_dir: &Path, roles_path: &[PathBuf]) -> Result<Play, Diagnostic> {
    let entries = match &node.value {
        NodeValue::Map(m) => m,
        _ => {
            return Err(node
                .type_error("a play", "a mapping")
                .with_hint("a play looks like `- hosts: web` followed by `tasks:`"))
        }
    };
    check_keys(entries, keywords::PLAY, "play")?;
    let hosts_node = node.get("hosts").ok_or_else(|| {
        Diagnostic::at(&node.span, "play has no `hosts`").with_hint("add `hosts: all` or a group name")
    })?;
    let hosts = match &hosts_node.value {
        NodeValue::Seq(items) => {
            items.iter().map(|i| i.expect_scalar_text("a host pattern")).collect::<Result<Vec<_>, _>>()?.join(":")
        }
        _ => hosts_node.expect_scalar_text("`hosts`")?,
    };
    let name = match node.get("name") {
        Some(n) => n.expect_scalar_text("`name`")?,
        None => hosts.clone(),
    };
    let become_ = parse_become(node, &Become::default())?;
    let mut tags = HashSet::new();
    if let Some(t) = node.get("tags") {
        tags = parse_tags(t)?;
    }
    let vars = match node.get("vars") {
        Some(v) => vars_of(v, "`vars`")?,
        None => Vars::new(),
    };
    let mut vars_files = Vars::new();
    if let Some(files) = node.get("vars_files") {
        for f in files.expect_seq("`vars_files`")? {
            let rel = f.expect_scalar_text("a vars file")?;
            let path = base_dir.join(&rel);
            if !path.exists() {
                return Err(Diagnostic::at(&f.span, format!("vars file {} does not exist", path.display())));
            }
            let (_, doc) = yaml::load(&path)?;
            vars_files.extend(vars_of(&doc, "a vars file")?);
        }
    }
    let play_roles = RefCell::new(PlayRoles::default());
    let mut ctx = TaskContext::new(base_dir, roles_path, &play_roles, tags.clone(), become_.clone());
    ctx.environment = environment_of(node)?.into_iter().collect();
    ctx.check_mode = node.get("check_mode").map(|n| parse_bool(n, "`check_mode`")).transpose()?;
    let mut tasks = TaskList::default();
    let mut handlers = TaskList::default();
    if let Some(t) = node.get("pre_tasks") {
        load_task_list(t, &ctx, false, &mut tasks)?;
    }
    if let Some(entries) = node.get("roles").filter(|n| !n.is_null()) {
        for r in entries.expect_seq("`roles`")? {
            roles::load_play_role(r, &ctx, &mut tasks)?;
        }
    }
    if let Some(t) = node.get("tasks") {
        load_task_list(t, &ctx, false, &mut tasks)?;
    }
    if let Some(t) = node.get("post_tasks") {
        load_task_list(t, &ctx, false, &mut tasks)?;
    }
    // The roles' handlers come before the play's, as in ansible-core.
    handlers.tasks = std::mem::take(&mut play_roles.borrow_mut().handlers);
    if let Some(h) = node.get("handlers") {
        load_task_list(h, &ctx, true, &mut handlers)?;
    }
    let PlayRoles { defaults: role_defaults, vars: role_vars, role_names, play_role_names, .. } =
        play_roles.into_inner();
    check_notify(&tasks.tasks, &handlers.tasks)?;
    let remote_user = node.get("remote_user").map(|n| n.expect_scalar_text("`remote_user`")).transpose()?;
    let local = connection_is_local(node)?;
    let max_fail_percentage = match node.get("max_fail_percentage") {
        Some(n) => Some(match n.value {
            NodeValue::Int(i) => i as f64,
            NodeValue::Float(f) => f,
            _ => return Err(n.type_error("`max_fail_percentage`", "a number")),
        }),
        None => None,
    };
    Ok(Play {
        name,
        hosts,
        span: hosts_node.span.clone(),
        base_dir: base_dir.to_path_buf(),
        vars: Arc::new(vars),
        vars_files: Arc::new(vars_files),
        role_defaults: Arc::new(role_defaults),
        role_vars: Arc::new(role_vars),
        role_names,
        play_role_names,
        tasks: tasks.tasks,
        blocks: tasks.blocks,
        includes: tasks.includes,
        handlers: handlers.tasks,
        become_,
        remote_user,
        local,
        serial: match node.get("serial") {
            Some(n) => Some(
                crate::batches::Serial::from_json(&n.to_json()).map_err(|e| Diagnostic::at(&n.span, e.to_string()))?,
            ),
            None => None,
        },
        max_fail_percentage,
    })
}

fn check_notify(tasks: &[Task], handlers: &[Task]) -> Result<(), Diagnostic> {
    let known: Vec<String> =
        handlers.iter().flat_map(|h| h.name.iter().cloned().chain(h.listen.iter().cloned())).collect();
    for task in tasks {
        for n in &task.notify {
            if !known.contains(n) {
                let mut d = Diagnostic::at(&task.span, format!("task notifies `{n}`, but no handler has that name"));
                if let Some(s) = suggest(n, known.iter().map(String::as_str)) {
                    d = d.with_hint(format!("did you mean `{s}`?"));
                }
                return Err(d);
            }
        }
    }
    Ok(())
}

pub(super) fn vars_of(node: &Node, what: &str) -> Result<Vars, Diagnostic> {
    match node.to_json() {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Vars::new()),
        _ => Err(node.type_error(what, "a mapping of variable names to values")),
    }
}

pub(super) fn parse_tags(node: &Node) -> Result<HashSet<String>, Diagnostic> {
    match &node.value {
        NodeValue::Seq(items) => items.iter().map(|i| i.expect_scalar_text("a tag")).collect(),
        _ => Ok(node
            .expect_scalar_text("`tags`")?
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()),
    }
}

pub(super) fn parse_bool(node: &Node, what: &str) -> Result<bool, Diagnostic> {
    push_modules::args::parse_bool(&node.to_json()).ok_or_else(|| node.type_error(what, "a boolean"))
}

/// A yes/no keyword that may be a template, decided per host.
pub(super) fn parse_flag(node: &Node, what: &str) -> Result<Flag, Diagnostic> {
    match node.to_json() {
        Value::String(s) if template::is_template(&s) => {
            template::check_syntax(&s, false).map_err(|e| Diagnostic::at(&node.span, e.message))?;
            Ok(Flag::Template(Located { text: s, span: node.span.clone() }))
        }
        _ => parse_bool(node, what).map(Flag::Fixed),
    }
}

/// The become keywords of a play, role entry or task, over what it
/// inherits. A method push does not have is refused at its place, never
/// quietly replaced by sudo; flags are checked here against the method
/// said so far, and again on each host against the one that applies there.
pub(super) fn parse_become(node: &Node, inherited: &Become) -> Result<Become, Diagnostic> {
    let enabled = node.get("become").map(|n| parse_flag(n, "`become`")).transpose()?;
    let user = node.get("become_user").map(|n| n.expect_scalar_text("`become_user`")).transpose()?;
    let method = match node.get("become_method") {
        Some(n) => {
            let name = n.expect_scalar_text("`become_method`")?;
            Some(Method::parse(&name).ok_or_else(|| {
                Diagnostic::at(&n.span, format!("`become_method: {name}` is not supported")).with_hint(METHOD_HINT)
            })?)
        }
        None => None,
    };
    let flags = match node.get("become_flags") {
        Some(n) => Some(Located { text: n.expect_scalar_text("`become_flags`")?, span: n.span.clone() }),
        None => None,
    };
    let own = Become { enabled, user, method, flags };
    let become_ = own.or(inherited);
    if let (Some(flags), Some(method)) = (&own.flags, become_.method) {
        crate::become_method::parse_flags(method, &flags.text)
            .map_err(|e| Diagnostic::at(&flags.span, e.to_string()).with_hint(e.hint()))?;
    } else if let Some(flags) = &own.flags {
        crate::become_method::parse_flags(Method::Sudo, &flags.text)
            .or_else(|e| crate::become_method::parse_flags(Method::Su, &flags.text).map_err(|_| e))
            .map_err(|e| Diagnostic::at(&flags.span, e.to_string()).with_hint(e.hint()))?;
    }
    Ok(become_)
}

pub(super) fn load_task_file(
    path: &Path,
    span: &Span,
    ctx: &TaskContext,
    handlers: bool,
    out: &mut TaskList,
) -> Result<(), Diagnostic> {
    if ctx.import_depth > 20 {
        return Err(Diagnostic::at(span, "import_tasks nests too deep (an import cycle?)"));
    }
    if !path.exists() {
        return Err(Diagnostic::at(span, format!("task file {} does not exist", path.display())));
    }
    let (_, node) = yaml::load(path)?;
    let ctx = TaskContext {
        import_depth: ctx.import_depth + 1,
        file_dir: path.parent().map(Path::to_path_buf),
        ..ctx.clone()
    };
    load_task_list(&node, &ctx, handlers, out)
}

/// Load a list of tasks (and blocks, and imports) onto the end of `out`.
fn load_task_list(node: &Node, ctx: &TaskContext, handlers: bool, out: &mut TaskList) -> Result<(), Diagnostic> {
    for item in node.expect_seq(if handlers { "`handlers`" } else { "a task list" })? {
        if let Some(target) = keywords::get_action(item, "import_tasks") {
            let action_key =
                item.as_map().and_then(|m| m.iter().find(|(k, _)| keywords::builtin_action(&k.name).is_some()));
            let others: Vec<(Key, Node)> = item
                .as_map()
                .unwrap_or(&[])
                .iter()
                .filter(|(k, _)| Some(&k.name) != action_key.map(|(a, _)| &a.name))
                .cloned()
                .collect();
            check_keys(&others, keywords::IMPORT, "import_tasks")?;
            let rel = target.expect_scalar_text("import_tasks")?;
            let dir = ctx.task_dir(|d| d.join(&rel).exists());
            load_task_file(&dir.join(rel), &target.span, &ctx.inside(item)?, handlers, out)?;
            continue;
        }
        if let Some(target) = keywords::get_action(item, "import_role") {
            if handlers {
                return Err(Diagnostic::at(&target.span, "`import_role` among handlers is not supported by push yet")
                    .with_hint("list the role in the play's `roles:`; its handlers come with it"));
            }
            roles::load_import_role(item, target, ctx, out)?;
            continue;
        }
        if let Some(target) = keywords::get_action(item, "include_role") {
            if handlers {
                return Err(Diagnostic::at(&target.span, "`include_role` among handlers is not supported by push yet")
                    .with_hint("list the role in the play's `roles:`; its handlers come with it"));
            }
            roles::load_include_role(item, target, ctx, out)?;
            continue;
        }
        if let Some(target) = keywords::get_action(item, "include_tasks") {
            if handlers {
                return Err(Diagnostic::at(
                    &target.span,
                    "`include_tasks` among handlers is not supported by push yet",
                )
                .with_hint("write the handler's tasks as separate handlers that `listen` to one name"));
            }
            load_include(item, target, ctx, out)?;
            continue;
        }
        if item.get("block").is_some() {
            if handlers {
                return Err(Diagnostic::at(&item.span, "a `block` among handlers is not supported by push yet")
                    .with_hint("write the handler's tasks as separate handlers that `listen` to one name"));
            }
            load_block(item, ctx, out)?;
            continue;
        }
        for part in ["rescue", "always"] {
            if let Some((key, _)) = item.as_map().and_then(|m| m.iter().find(|(k, _)| k.name == part)) {
                return Err(Diagnostic::at(&key.span, format!("`{part}` without a `block`"))
                    .with_hint(format!("`{part}:` belongs next to a `block:` in the same list item")));
            }
        }
        out.tasks.push(load_task(item, ctx, handlers)?);
    }
    Ok(())
}

/// An `include_tasks:` line: the include itself (a task each host decides
/// when it gets there), then the tasks of every file it may name, each
/// knowing which file it came from.
fn load_include(item: &Node, target: &Node, ctx: &TaskContext, out: &mut TaskList) -> Result<(), Diagnostic> {
    if let Some(l) = item.get("loop").or_else(|| item.get("with_items")) {
        return Err(Diagnostic::at(&l.span, "a loop over `include_tasks` is not supported by push yet")
            .with_hint("loop over the tasks inside the included file instead"));
    }
    let (file_node, apply) = match &target.value {
        NodeValue::Map(entries) => {
            check_keys(entries, &["file", "apply"], "include_tasks")?;
            let file = target.get("file").ok_or_else(|| {
                Diagnostic::at(&target.span, "include_tasks has no `file`")
                    .with_hint("e.g. `include_tasks: {file: setup.yml}`")
            })?;
            (file, target.get("apply"))
        }
        _ => (target, None),
    };
    let file = file_node.expect_scalar_text("the file of `include_tasks`")?;
    let id = out.includes.len();
    let templated = template::is_template(&file);
    let dir = match templated {
        false => ctx.task_dir(|d| d.join(&file).exists()),
        true => ctx.task_dir(|d| !candidate_files(d, &file).is_empty()),
    };
    let include = Include { parent: ctx.include, dir: dir.clone(), candidates: Vec::new(), role: false };
    let inner = begin_include(item, ctx, apply, include, out)?;
    let paths = match templated {
        false => vec![dir.join(&file)],
        true => candidate_files(&dir, &file),
    };
    for (k, path) in paths.into_iter().enumerate() {
        let (tasks, blocks, includes) = (out.tasks.len(), out.blocks.len(), out.includes.len());
        let part_ctx = TaskContext { include: Some(IncludePlace { include: id, candidate: k }), ..inner.clone() };
        let loaded = match path.exists() {
            true => load_task_file(&path, &file_node.span, &part_ctx, false, out),
            false => Err(Diagnostic::at(&file_node.span, format!("task file {} does not exist", path.display()))),
        };
        let broken = match loaded {
            Ok(()) => None,
            // A file only some hosts may include is judged on those hosts.
            Err(d) if templated || !path.exists() => {
                out.tasks.truncate(tasks);
                out.blocks.truncate(blocks);
                out.includes.truncate(includes);
                Some(d.to_string())
            }
            Err(d) => return Err(d),
        };
        out.includes[id].candidates.push(Candidate { path, tasks: tasks..out.tasks.len(), broken });
    }
    Ok(())
}

/// An include's own task (each host decides it when it gets there) and the
/// context of the tasks it brings: the include's `vars` and its `apply`
/// keywords, not its `when` (that decided the include, once). Its index
/// is the next of `out.includes`.
pub(super) fn begin_include<'a>(
    item: &Node,
    ctx: &TaskContext<'a>,
    apply: Option<&Node>,
    include: Include,
    out: &mut TaskList,
) -> Result<TaskContext<'a>, Diagnostic> {
    let id = out.includes.len();
    out.includes.push(include);
    let mut include_task = load_task(item, ctx, false)?;
    include_task.action = Action::IncludeTasks(id);
    out.tasks.push(include_task);
    let mut inner = ctx.clone();
    if let Some(v) = item.get("vars") {
        inner.vars.extend(vars_of(v, "`vars`")?);
    }
    if let Some(apply) = apply {
        check_keys(apply.expect_map("`apply`")?, keywords::BLOCK, "apply")?;
        inner = inner.inside(apply)?;
    }
    Ok(inner)
}

/// The files a templated include name may render to: each `{{ ... }}` may
/// be anything, the rest is as written.
fn candidate_files(dir: &Path, file: &str) -> Vec<PathBuf> {
    static TEMPLATE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let template = TEMPLATE.get_or_init(|| regex::Regex::new(r"\{\{.*?\}\}|\{%.*?%\}").expect("valid regex"));
    let mut pattern = String::new();
    let mut last = 0;
    for m in template.find_iter(file) {
        pattern.push_str(&glob::Pattern::escape(&file[last..m.start()]));
        pattern.push('*');
        last = m.end();
    }
    pattern.push_str(&glob::Pattern::escape(&file[last..]));
    let full = match Path::new(&pattern).is_absolute() {
        true => pattern,
        false => format!("{}/{pattern}", glob::Pattern::escape(&dir.display().to_string())),
    };
    let mut found: Vec<PathBuf> =
        glob::glob(&full).map(|paths| paths.flatten().filter(|p| p.is_file()).collect()).unwrap_or_default();
    found.sort();
    found
}

/// A `block:` with its `rescue:` and `always:`: their tasks go onto `out`
/// one part after the other, each knowing its place.
fn load_block(node: &Node, ctx: &TaskContext, out: &mut TaskList) -> Result<(), Diagnostic> {
    check_keys(node.expect_map("a block")?, keywords::BLOCK, "block")?;
    let inner = ctx.inside(node)?;
    let id = out.blocks.len();
    out.blocks.push(Block { parent: ctx.block, body: 0..0, rescue: 0..0, always: 0..0 });
    for (part, key) in [(BlockPart::Body, "block"), (BlockPart::Rescue, "rescue"), (BlockPart::Always, "always")] {
        let start = out.tasks.len();
        if let Some(list) = node.get(key).filter(|n| !n.is_null()) {
            let part_ctx = TaskContext { block: Some(BlockPlace { block: id, part }), ..inner.clone() };
            load_task_list(list, &part_ctx, false, out)?;
        }
        let range = start..out.tasks.len();
        let block = &mut out.blocks[id];
        match part {
            BlockPart::Body => block.body = range,
            BlockPart::Rescue => block.rescue = range,
            BlockPart::Always => block.always = range,
        }
    }
    Ok(())
}

/// `connection:`: push has `ssh` (its default) and `local`.
fn connection_is_local(node: &Node) -> Result<bool, Diagnostic> {
    match node.get("connection") {
        None => Ok(false),
        Some(n) => match n.expect_scalar_text("`connection`")?.as_str() {
            "local" => Ok(true),
            "ssh" | "smart" | "paramiko" | "ansible.builtin.ssh" => Ok(false),
            other => Err(Diagnostic::at(&n.span, format!("`connection: {other}` is not supported by push"))
                .with_hint("push connects with ssh, or runs on this machine with `connection: local`")),
        },
    }
}

/// An `environment:` keyword: a mapping of names to values, or a template
/// that gives one.
fn environment_of(node: &Node) -> Result<Option<Value>, Diagnostic> {
    let Some(env) = node.get("environment") else { return Ok(None) };
    match env.to_json() {
        Value::Object(map) => Ok(Some(Value::Object(map))),
        Value::Null => Ok(None),
        Value::String(s) if template::is_template(&s) => Ok(Some(Value::String(s))),
        _ => Err(env.type_error("`environment`", "a mapping of variable names to values").with_hint(
            "e.g. `environment: {http_proxy: \"http://proxy:3128\"}` or `environment: \"{{ proxy_env }}\"`",
        )),
    }
}

/// A `when:` as written: one condition or a list of them, all of which must hold.
pub(super) fn when_of(node: &Node) -> Result<Vec<Located>, Diagnostic> {
    conditions(node, "when")
}

/// A condition keyword (`when`, `changed_when`, `failed_when`, `until`):
/// one expression, a boolean, or a list of them; each checked for syntax.
fn conditions(node: &Node, key: &str) -> Result<Vec<Located>, Diagnostic> {
    let conds: Vec<Located> = match node.get(key) {
        None => return Ok(Vec::new()),
        Some(w) => match &w.value {
            NodeValue::Seq(items) => {
                items.iter().map(|i| located(i, &format!("a `{key}` condition"))).collect::<Result<_, _>>()?
            }
            _ => vec![located(w, &format!("`{key}`"))?],
        },
    };
    for cond in &conds {
        template::check_syntax(&cond.text, true).map_err(|e| Diagnostic::at(&cond.span, e.message))?;
    }
    Ok(conds)
}

pub(super) fn load_task(node: &Node, ctx: &TaskContext, is_handler: bool) -> Result<Task, Diagnostic> {
    let entries = match &node.value {
        NodeValue::Map(m) => m,
        _ => {
            return Err(node
                .type_error("a task", "a mapping")
                .with_hint("a task looks like `- name: ...` then `copy: {...}`"))
        }
    };
    let mut module: Option<(&Key, &Node, &'static dyn push_modules::Module)> = None;
    let mut action = Action::Module;
    for (key, value) in entries {
        let k = key.name.as_str();
        if keywords::TASK.contains(&k) {
            continue;
        }
        let controller_action = match keywords::builtin_action(k) {
            Some("set_fact") => Some((Action::SetFact, "ansible.builtin.set_fact")),
            Some("include_vars") => Some((Action::IncludeVars, "ansible.builtin.include_vars")),
            Some("meta") => Some((Action::Meta(Meta::Noop), "ansible.builtin.meta")),
            // Its index is given by load_include.
            Some("include_tasks") => Some((Action::IncludeTasks(usize::MAX), "ansible.builtin.include_tasks")),
            Some("include_role") => Some((Action::IncludeTasks(usize::MAX), "ansible.builtin.include_role")),
            _ => None,
        };
        if let Some((a, fqcn)) = controller_action {
            if is_handler {
                return Err(Diagnostic::at(&key.span, format!("`{k}` as a handler is not supported by push yet"))
                    .with_hint("set the variables in a task before the handlers run"));
            }
            if let Some((first, _, _)) = module {
                return Err(Diagnostic::at(&key.span, format!("task has two modules, `{}` and `{k}`", first.name))
                    .with_hint("split them into two tasks"));
            }
            module = Some((key, value, push_modules::not_in_push::not_in_push(k, fqcn)));
            action = a;
            continue;
        }
        if keywords::UNSUPPORTED_TASK.contains(&k) {
            return Err(Diagnostic::at(&key.span, format!("`{k}` is not supported by push yet"))
                .with_hint("see the README's list of supported keywords"));
        }
        if let Some(short) = keywords::builtin_action(k) {
            if keywords::UNSUPPORTED_TASK.contains(&short) {
                return Err(Diagnostic::at(&key.span, format!("`{k}` is not supported by push yet"))
                    .with_hint("see the README's list of supported keywords"));
            }
        }
        let found = match push_modules::not_in_push::resolve(k) {
            ModuleName::Push(m) => Some(m),
            ModuleName::NotInPush(fqcn) => Some(push_modules::not_in_push::not_in_push(k, fqcn)),
            ModuleName::Unknown => None,
        };
        match found {
            Some(m) => {
                if let Some((first, _, _)) = module {
                    return Err(Diagnostic::at(&key.span, format!("task has two modules, `{}` and `{k}`", first.name))
                        .with_hint("split them into two tasks"));
                }
                module = Some((key, value, m));
            }
            None => {
                let ours: Vec<&str> = push_modules::names().chain(keywords::TASK.iter().copied()).collect();
                let mut d = Diagnostic::at(&key.span, format!("unknown module or task keyword `{k}`"));
                // `ansible.builtin.coppy`: the short name is what is misspelt.
                let (prefix, short) = match k.rsplit_once('.') {
                    Some((p @ ("ansible.builtin" | "ansible.legacy"), short)) => (format!("{p}."), short),
                    _ => (String::new(), k),
                };
                // push's own names first, then every module Ansible has.
                let similar =
                    suggest(short, ours).or_else(|| suggest(short, push_modules::not_in_push::ansible_names()));
                d = match similar.map(|s| format!("{prefix}{s}")) {
                    Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                    None => {
                        d.with_hint(format!("modules are: {}", push_modules::names().collect::<Vec<_>>().join(", ")))
                    }
                };
                return Err(d);
            }
        }
    }
    let Some((module_key, module_value, module)) = module else {
        return Err(Diagnostic::at(&node.span, "task has no module").with_hint("add one, e.g. `command: /bin/true`"));
    };
    if let Action::Meta(_) = action {
        action = Action::Meta(meta_action(module_value)?);
    }
    let mut args = match (action, &module_value.value) {
        // `include_vars: file.yml`: the free form names the file.
        (Action::IncludeVars, NodeValue::Str(text)) if split_key_values(text).is_none_or(|w| !w[0].contains('=')) => {
            free_form_args(module_key, module_value)?
        }
        (Action::SetFact, NodeValue::Str(text)) => key_value_args(module_key, module_value, text)?,
        _ => module_args(module, module_key, module_value)?,
    };
    if let Some(extra) = node.get("args") {
        let extra_args = module_args(module, module_key, extra)?;
        args.values.extend(extra_args.values);
        args.key_spans.extend(extra_args.key_spans);
        args.value_spans.extend(extra_args.value_spans);
    }
    if module.checks_args() {
        check_arg_names(module, &args, &module_key.span)?;
    }

    let name = node.get("name").map(|n| n.expect_scalar_text("`name`")).transpose()?;
    let mut when = ctx.when.clone();
    when.extend(when_of(node)?);
    let judge = |key: &str| -> Result<Option<Vec<Located>>, Diagnostic> {
        node.get(key).map(|_| conditions(node, key)).transpose()
    };
    let (changed_when, failed_when) = (judge("changed_when")?, judge("failed_when")?);
    // `retries` alone retries until the task does not fail (ansible-core 2.16+).
    let until_conditions = judge("until")?;
    let until = match (until_conditions, node.get("retries")) {
        (None, None) => None,
        (conditions, _) => {
            let loop_node = node.as_map().and_then(|m| {
                m.iter().find(|(k, _)| super::loops::LoopKind::from_keyword(&k.name).is_some()).map(|(_, v)| v)
            });
            if let Some(l) = loop_node {
                return Err(Diagnostic::at(
                    &l.span,
                    "`until`/`retries` on a looping task is not supported by push yet",
                )
                .with_hint("retry a task without a loop"));
            }
            let count = |key: &str, default: u64| -> Result<u64, Diagnostic> {
                match node.get(key) {
                    None => Ok(default),
                    Some(n) => match n.to_json() {
                        Value::Number(v) if v.as_u64().is_some() => Ok(v.as_u64().unwrap_or(default)),
                        Value::String(t) if t.trim().parse::<u64>().is_ok() => Ok(t.trim().parse().unwrap_or(default)),
                        _ => Err(n.type_error(&format!("`{key}`"), "a whole number")),
                    },
                }
            };
            // Ansible's defaults: 3 retries, 5 seconds apart.
            let retries = u32::try_from(count("retries", 3)?).unwrap_or(u32::MAX);
            Some(Until { conditions: conditions.unwrap_or_default(), retries, delay_secs: count("delay", 5)? })
        }
    };
    let loop_ = super::loops::parse_loop(node)?;
    let list_of_names = |key: &str| -> Result<Vec<String>, Diagnostic> {
        match node.get(key) {
            None => Ok(Vec::new()),
            Some(n) => match &n.value {
                NodeValue::Seq(items) => items.iter().map(|i| i.expect_scalar_text("a handler name")).collect(),
                _ => Ok(vec![n.expect_scalar_text(&format!("`{key}`"))?]),
            },
        }
    };
    let notify = list_of_names("notify")?;
    let listen = if is_handler { list_of_names("listen")? } else { Vec::new() };
    let mut tags = ctx.tags.clone();
    if let Some(t) = node.get("tags") {
        tags.extend(parse_tags(t)?);
    }
    let register = node.get("register").map(|n| n.expect_scalar_text("`register`")).transpose()?;
    let mut vars = ctx.vars.clone();
    if let Some(v) = node.get("vars") {
        vars.extend(vars_of(v, "`vars`")?);
    }
    let flag = |key: &str, inherited: Option<Flag>| {
        node.get(key)
            .map(|n| parse_flag(n, &format!("`{key}`")))
            .transpose()
            .map(|f| f.or(inherited).unwrap_or(Flag::Fixed(false)))
    };

    let environment: Vec<Value> = ctx.environment.iter().cloned().chain(environment_of(node)?).collect();
    let mut reads = HashSet::new();
    for env in &environment {
        collect_reads(env, &mut reads);
    }
    if let Some(d) = node.get("delegate_to").and_then(Node::scalar_text) {
        reads.extend(template::referenced_roots(&d, false));
    }
    // A module push lacks never renders its arguments.
    if module.checks_args() || action != Action::Module {
        collect_reads(&Value::Object(args.values.clone()), &mut reads);
    }
    for cond in &when {
        reads.extend(template::referenced_roots(&cond.text, true));
    }
    if let Some(l) = &loop_ {
        collect_reads(&l.items, &mut reads);
    }
    if let Some(n) = &name {
        reads.extend(template::referenced_roots(n, false));
    }
    if let Some(l) = &loop_ {
        for v in l.variables() {
            reads.remove(v);
        }
    }

    Ok(Task {
        name,
        span: module_key.span.clone(),
        module,
        action,
        args,
        when,
        changed_when,
        failed_when,
        until,
        block: ctx.block,
        include: ctx.include,
        loop_,
        notify,
        listen,
        tags,
        register,
        become_: parse_become(node, &ctx.become_)?,
        vars: Arc::new(vars),
        environment,
        ignore_errors: flag("ignore_errors", ctx.ignore_errors.clone())?,
        no_log: flag("no_log", ctx.no_log.clone())?,
        delegate_to: match (node.get("delegate_to"), connection_is_local(node)?) {
            (Some(d), _) => Some(located(d, "`delegate_to`")?),
            (None, true) => Some(Located { text: "localhost".into(), span: module_key.span.clone() }),
            (None, false) => None,
        },
        check_mode: node.get("check_mode").map(|n| parse_bool(n, "`check_mode`")).transpose()?.or(ctx.check_mode),
        role_dir: ctx.role_dir.map(Path::to_path_buf),
        role: ctx.role.clone(),
        reads,
    })
}

fn collect_reads(v: &Value, out: &mut HashSet<String>) {
    for text in template::strings_in(v) {
        out.extend(template::referenced_roots(text, false));
    }
}

fn located(node: &Node, what: &str) -> Result<Located, Diagnostic> {
    Ok(Located { text: node.expect_scalar_text(what)?, span: node.span.clone() })
}

/// What a `meta:` task asks for.
fn meta_action(node: &Node) -> Result<Meta, Diagnostic> {
    let name = node.expect_scalar_text("`meta`")?;
    match name.as_str() {
        "noop" | "reset_connection" => Ok(Meta::Noop),
        "flush_handlers" => Ok(Meta::FlushHandlers),
        "end_host" | "end_play" => Ok(Meta::EndHost),
        other => {
            let known = ["noop", "flush_handlers", "end_host", "end_play", "reset_connection"];
            let ansible = ["refresh_inventory", "clear_facts", "clear_host_errors", "end_batch", "end_role"];
            let d = Diagnostic::at(&node.span, format!("`meta: {other}` is not supported by push"));
            Err(match (ansible.contains(&other), suggest(other, known.iter().copied())) {
                (true, _) => d.with_hint(format!("push has meta: {}", known.join(", "))),
                (false, Some(s)) => d.with_hint(format!("did you mean `{s}`?")),
                (false, None) => d.with_hint(format!("meta takes: {}", known.join(", "))),
            })
        }
    }
}

/// A free-form argument alone, as `_raw_params`.
fn free_form_args(key: &Key, value: &Node) -> Result<TaskArgs, Diagnostic> {
    let text = value.expect_scalar_text(&format!("`{}`", key.name))?;
    Ok(TaskArgs {
        values: [("_raw_params".to_string(), Value::String(text))].into_iter().collect(),
        key_spans: vec![("_raw_params".into(), key.span.clone())],
        value_spans: vec![("_raw_params".into(), value.span.clone())],
    })
}

/// A module's arguments: a mapping, a free-form string (`command: ls`), or
/// Ansible's `key=value` string (`file: path=/x state=directory`).
fn module_args(module: &dyn push_modules::Module, key: &Key, value: &Node) -> Result<TaskArgs, Diagnostic> {
    let mut args = TaskArgs { values: Default::default(), key_spans: Vec::new(), value_spans: Vec::new() };
    match &value.value {
        NodeValue::Null => {}
        NodeValue::Map(entries) => {
            for (k, v) in entries {
                args.values.insert(k.name.clone(), v.to_json());
                args.key_spans.push((k.name.clone(), k.span.clone()));
                args.value_spans.push((k.name.clone(), v.span.clone()));
            }
        }
        _ if module.free_form() => return free_form_args(key, value),
        NodeValue::Str(text) => return key_value_args(key, value, text),
        _ => return Err(value.type_error(&format!("arguments of `{}`", key.name), "a mapping")),
    }
    Ok(args)
}

/// Ansible's `key=value ...` argument string.
fn key_value_args(key: &Key, value: &Node, text: &str) -> Result<TaskArgs, Diagnostic> {
    let mut args = TaskArgs { values: Default::default(), key_spans: Vec::new(), value_spans: Vec::new() };
    let words = split_key_values(text)
        .ok_or_else(|| Diagnostic::at(&value.span, "unbalanced quotes or `{{ }}` in arguments"))?;
    for word in words {
        let Some((k, v)) = word.split_once('=') else {
            return Err(Diagnostic::at(&value.span, format!("`{word}` is not a key=value argument"))
                .with_hint(format!("`{}` takes arguments as a mapping or as key=value pairs", key.name)));
        };
        args.values.insert(k.to_string(), Value::String(v.to_string()));
        args.key_spans.push((k.to_string(), value.span.clone()));
        args.value_spans.push((k.to_string(), value.span.clone()));
    }
    Ok(args)
}

/// Unknown and missing argument names are known before any variable is:
/// report them at load time, where the playbook is still the only input.
/// `key=value` words as Ansible splits them: at spaces outside quotes and
/// outside `{{ }}`, `{% %}` and `{# #}`, so `path={{ dir }}/x` is one word.
/// Quotes outside templates are removed (`msg="a b"` is `a b`), as a shell
/// would; a template's text is kept as written.
fn split_key_values(text: &str) -> Option<Vec<String>> {
    let chars: Vec<char> = text.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut template_depth = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '{' && matches!(next, Some('{' | '%' | '#')) {
            template_depth += 1;
            word.push(c);
            word.push(next.unwrap_or_default());
            in_word = true;
            i += 2;
            continue;
        }
        if template_depth > 0 {
            if matches!(c, '}' | '%' | '#') && next == Some('}') {
                template_depth -= 1;
                word.push(c);
                word.push('}');
                i += 2;
            } else {
                word.push(c);
                i += 1;
            }
            continue;
        }
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), _) if c == q => quote = None,
            (Some('"'), '\\') if matches!(next, Some('"' | '\\' | '$' | '`')) => {
                word.push(next.unwrap_or_default());
                i += 1;
            }
            (None, '\\') if next.is_some() => {
                word.push(next.unwrap_or_default());
                in_word = true;
                i += 1;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (_, c) => {
                word.push(c);
                in_word = true;
            }
        }
        i += 1;
    }
    if quote.is_some() || template_depth > 0 {
        return None;
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

fn check_arg_names(module: &dyn push_modules::Module, args: &TaskArgs, module_span: &Span) -> Result<(), Diagnostic> {
    let params = module.params();
    let names = |p: &push_modules::Param| std::iter::once(p.name).chain(p.aliases.iter().copied()).collect::<Vec<_>>();
    for (name, _) in &args.values {
        if !params.iter().any(|p| names(p).contains(&name.as_str())) {
            let span = args.key_span(name).unwrap_or(module_span);
            let all: Vec<&str> = params.iter().flat_map(&names).collect();
            let mut d = Diagnostic::at(span, format!("module `{}` has no argument `{name}`", module.name()));
            d = match suggest(name, all.iter().copied()) {
                Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                None => {
                    let mut visible: Vec<&str> =
                        params.iter().map(|p| p.name).filter(|n| !n.starts_with('_')).collect();
                    visible.sort_unstable();
                    d.with_hint(format!("`{}` takes: {}", module.name(), visible.join(", ")))
                }
            };
            return Err(d);
        }
    }
    for p in params.iter().filter(|p| p.required) {
        if !names(p).iter().any(|n| args.values.contains_key(*n)) {
            return Err(Diagnostic::at(
                module_span,
                format!("module `{}` needs the argument `{}`", module.name(), p.name),
            )
            .with_hint(format!("add `{}: ...` to the task's `{}` arguments", p.name, module.name())));
        }
    }
    Ok(())
}

/// One `-e` argument: `key=value ...`, `@file.yml`, or inline YAML/JSON.
pub fn parse_extra_var(arg: &str) -> Result<Vars, Diagnostic> {
    if let Some(file) = arg.strip_prefix('@') {
        let (_, doc) = yaml::load(Path::new(file))?;
        return vars_of(&doc, "an extra-vars file");
    }
    let trimmed = arg.trim_start();
    if trimmed.starts_with('{') {
        let file = crate::diagnostic::SourceFile::new("<-e>", arg);
        let doc = yaml::parse(&file)?;
        return vars_of(&doc, "`-e`");
    }
    let words = shlex::split(arg).ok_or_else(|| Diagnostic::new(format!("-e {arg:?}: unbalanced quotes")))?;
    let mut vars = Vars::new();
    for word in words {
        let Some((k, v)) = word.split_once('=') else {
            return Err(Diagnostic::new(format!("-e {arg:?}: `{word}` is not key=value"))
                .with_hint("use -e key=value, -e '{\"key\": \"value\"}' or -e @file.yml"));
        };
        if k.is_empty() {
            return Err(Diagnostic::new(format!("-e {arg:?}: empty variable name")));
        }
        vars.insert(k.to_string(), Value::String(v.to_string()));
    }
    Ok(vars)
}

#[cfg(test)]
mod key_value_tests {
    use super::split_key_values;

    #[test]
    fn templates_with_spaces_stay_in_their_word() {
        let words = |t: &str| split_key_values(t).unwrap();
        assert_eq!(words("path={{ dir }}/x state=directory"), ["path={{ dir }}/x", "state=directory"]);
        assert_eq!(words("msg=\"a b\" n='c d'"), ["msg=a b", "n=c d"]);
        assert_eq!(words("line='{{ a | join(\" \") }}' regexp=^x"), ["line={{ a | join(\" \") }}", "regexp=^x"]);
        // As ansible.parsing.splitter.split_args splits it: a block tag ends at `%}`.
        assert_eq!(words("cmd={% if x %}a b{% endif %} k=v"), ["cmd={% if x %}a", "b{% endif %}", "k=v"]);
        assert_eq!(words("  a=1   b=2 "), ["a=1", "b=2"]);
        assert_eq!(split_key_values("a='b"), None);
        assert_eq!(split_key_values("a={{ b"), None);
    }
}
