//! Roles: where a role is found, its `meta/main.yml` dependencies, and its
//! tasks, handlers, defaults and vars loaded onto the play, for the
//! `roles:` section, `import_role` (static, like `import_tasks`) and
//! `include_role` (decided per host, like `include_tasks`).
//!
//! Variables, as ansible-core scopes them: the defaults and vars of roles
//! named in `roles:` or by `import_role` (and of their dependencies) are
//! exported to the whole play at load time; a task of a role also sees its
//! own role's defaults and vars (with those of its dependencies and of the
//! roles that depend on it) above every other role's, and its role
//! parameters above its task vars. An `include_role` exports nothing unless
//! `public: true`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::keywords;
use super::load::{begin_include, check_keys, load_task_file, parse_bool, vars_of, TaskContext};
use super::model::*;
use crate::diagnostic::{suggest, Diagnostic, Span};
use crate::template::{self, Vars};
use crate::yaml::{self, Node, NodeValue};

/// What the roles of one play add to it as they are loaded.
#[derive(Default)]
pub(super) struct PlayRoles {
    /// Defaults and vars exported to every task of the play.
    pub defaults: Vars,
    pub vars: Vars,
    /// The roles' handlers, each role's once.
    pub handlers: Vec<Task>,
    /// `ansible_play_role_names`: roles the play names itself.
    pub play_role_names: Vec<String>,
    /// `ansible_role_names`: those and their dependencies.
    pub role_names: Vec<String>,
    /// Roles already in the play with the same parameters: a role runs
    /// once per play unless it allows duplicates.
    seen: HashSet<String>,
    handlers_of: HashSet<PathBuf>,
}

impl PlayRoles {
    fn named(&mut self, name: &str, by_play: bool) {
        if !self.role_names.iter().any(|n| n == name) {
            self.role_names.push(name.to_string());
        }
        if by_play && !self.play_role_names.iter().any(|n| n == name) {
            self.play_role_names.push(name.to_string());
        }
    }
}

/// How a role comes into the play.
#[derive(Clone, Copy, PartialEq, Eq)]
enum How {
    /// Named in `roles:`.
    Play,
    /// A `meta/main.yml` dependency of another role.
    Dependency,
    Import,
    Include {
        public: bool,
    },
}

/// A role as it is asked for.
struct Wanted {
    name: String,
    span: Span,
    /// `tasks_from`, `vars_from`, `defaults_from`, `handlers_from`.
    tasks_from: Option<(String, Span)>,
    vars_from: Option<(String, Span)>,
    defaults_from: Option<(String, Span)>,
    handlers_from: Option<(String, Span)>,
    /// Role parameters (`- role: x` with `port: 80`).
    params: Vars,
    /// `vars:` of a `roles:` entry or dependency: the role's own vars.
    vars: Vars,
    allow_duplicates: Option<bool>,
    how: How,
}

/// The keys of a `roles:` entry or dependency that are not role parameters.
const ROLE_ENTRY: &[&str] = &[
    "role",
    "name",
    "tags",
    "vars",
    "when",
    "become",
    "become_user",
    "become_method",
    "become_flags",
    "ignore_errors",
    "no_log",
    "environment",
    "check_mode",
];

/// The arguments of `import_role` and `include_role`.
const ROLE_ARGS: &[&str] = &[
    "name",
    "tasks_from",
    "vars_from",
    "defaults_from",
    "handlers_from",
    "public",
    "apply",
    "allow_duplicates",
    "rolespec_validate",
];

/// Where roles are looked for, in Ansible's order: the playbook's `roles/`,
/// then `roles_path` (ansible.cfg or `ANSIBLE_ROLES_PATH`; unset, Ansible's
/// default `~/.ansible/roles:/usr/share/ansible/roles:/etc/ansible/roles`),
/// then the playbook's own folder.
pub fn search_dirs(base_dir: &Path, roles_path: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs = vec![base_dir.join("roles")];
    if roles_path.is_empty() {
        if let Some(home) = std::env::var_os("HOME") {
            dirs.push(Path::new(&home).join(".ansible/roles"));
        }
        dirs.push("/usr/share/ansible/roles".into());
        dirs.push("/etc/ansible/roles".into());
    } else {
        dirs.extend(roles_path.iter().map(|p| if p.is_relative() { base_dir.join(p) } else { p.clone() }));
    }
    dirs.push(base_dir.to_path_buf());
    dirs
}

/// The folder of role `name`: a path (`../common/roles/ntp`) as written,
/// else the first `NAME/` in the search folders (`ns.role` included, as a
/// folder of that name).
fn find_role(name: &str, span: &Span, ctx: &TaskContext) -> Result<PathBuf, Diagnostic> {
    let dirs = search_dirs(ctx.base_dir, ctx.roles_path);
    if name.contains('/') {
        let path = ctx.base_dir.join(name);
        if path.is_dir() {
            return Ok(path);
        }
    } else if let Some(dir) = dirs.iter().map(|d| d.join(name)).find(|d| d.is_dir() && looks_like_role(d)) {
        return Ok(dir);
    }
    let known: Vec<String> = dirs
        .iter()
        .take(dirs.len() - 1)
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|entries| entries.flatten())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let mut d = Diagnostic::at(span, format!("role `{name}` not found"));
    let searched: Vec<String> = dirs
        .iter()
        .map(|d| match d.as_os_str().is_empty() {
            true => ".".to_string(),
            false => d.display().to_string(),
        })
        .collect();
    d = match suggest(name, known.iter().map(String::as_str)) {
        Some(s) => d.with_hint(format!("did you mean `{s}`? (roles are looked for in {})", searched.join(", "))),
        None => d.with_hint(format!(
            "roles are looked for in {} (set roles_path in ansible.cfg or ANSIBLE_ROLES_PATH for more)",
            searched.join(", ")
        )),
    };
    Err(d)
}

/// A folder of the playbook's own folder is a role only if it has a role's
/// parts (the playbook's folder holds other folders too).
fn looks_like_role(dir: &Path) -> bool {
    ["tasks", "handlers", "defaults", "vars", "meta"].iter().any(|s| dir.join(s).is_dir())
}

/// The files of a role's `sub/` that `from` (or `main`) names, as
/// ansible-core finds them: `main.yml`, `main.yaml`, `main.json`, `main`;
/// a named one first as written, then with those extensions. A folder
/// (with `dir_ok`) stands for every file in it, sorted, recursively.
fn role_files(role: &Path, sub: &str, from: Option<&str>, dir_ok: bool) -> Vec<PathBuf> {
    let base = role.join(sub);
    let exts: &[&str] = match from {
        None => &[".yml", ".yaml", ".json", ""],
        Some(_) => &["", ".yml", ".yaml", ".json"],
    };
    let name = from.unwrap_or("main");
    for ext in exts {
        let path = base.join(format!("{name}{ext}"));
        if path.is_file() {
            return vec![path];
        }
        if dir_ok && path.is_dir() {
            let mut files = Vec::new();
            files_in(&path, &mut files);
            return files;
        }
    }
    Vec::new()
}

fn files_in(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|e| e.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    entries.sort();
    for path in entries {
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            continue;
        }
        if path.is_dir() {
            files_in(&path, out);
        } else if path.extension().is_none_or(|e| ["yml", "yaml", "json"].contains(&&*e.to_string_lossy())) {
            out.push(path);
        }
    }
}

/// A `*_from` that names no file of the role: said where it is written.
fn missing_from(role: &Path, sub: &str, (from, span): &(String, Span)) -> Diagnostic {
    let mut known = Vec::new();
    files_in(&role.join(sub), &mut known);
    let names: Vec<String> =
        known.iter().filter_map(|p| p.strip_prefix(role.join(sub)).ok()).map(|p| p.display().to_string()).collect();
    let name = role.file_name().unwrap_or_default().to_string_lossy();
    let d = Diagnostic::at(span, format!("role `{name}` has no file {sub}/{from}"));
    // `tasks_from: extar` may mean `extra.yml` as well as `extra`.
    let stems: Vec<String> =
        names.iter().map(|n| n.rsplit_once('.').map_or(n.as_str(), |(s, _)| s).to_string()).collect();
    let similar =
        suggest(from, names.iter().map(String::as_str)).or_else(|| suggest(from, stems.iter().map(String::as_str)));
    match similar {
        Some(s) => d.with_hint(format!("did you mean `{s}`?")),
        None if names.is_empty() => d.with_hint(format!("the role has no {sub}/ files")),
        None => d.with_hint(format!("{sub}/ has: {}", names.join(", "))),
    }
}

/// A role's `defaults` or `vars`: its files merged, later ones winning.
fn read_vars(role: &Path, sub: &str, from: Option<&(String, Span)>) -> Result<Vars, Diagnostic> {
    let files = role_files(role, sub, from.map(|(f, _)| f.as_str()), true);
    if files.is_empty() {
        if let Some(from) = from {
            return Err(missing_from(role, sub, from));
        }
    }
    let mut vars = Vars::new();
    for path in files {
        let (_, doc) = yaml::load(&path)?;
        vars.extend(vars_of(&doc, &format!("{sub}/{}", path.file_name().unwrap_or_default().to_string_lossy()))?);
    }
    Ok(vars)
}

/// A role name as written: templates in it cannot be known at load time.
fn static_text(node: &Node, what: &str) -> Result<String, Diagnostic> {
    let text = node.expect_scalar_text(what)?;
    if template::is_template(&text) {
        return Err(Diagnostic::at(&node.span, format!("a templated {what} is not supported by push yet"))
            .with_hint("write the name as it is; choose between roles with `when:`"));
    }
    Ok(text)
}

/// A `roles:` entry or a dependency: `name`, `{role: name, ...}`; with the
/// context its tasks have (its `when`, `tags` and become keywords on top).
fn parse_entry<'a>(node: &Node, ctx: &TaskContext<'a>, how: How) -> Result<(Wanted, TaskContext<'a>), Diagnostic> {
    let Some(entries) = node.as_map() else {
        let name = static_text(node, "role name")?;
        let wanted = Wanted::plain(name, node.span.clone(), how);
        return Ok((wanted, ctx.clone()));
    };
    let n = node
        .get("role")
        .or_else(|| node.get("name"))
        .ok_or_else(|| Diagnostic::at(&node.span, "role entry has no `role:` name").with_hint("e.g. `- role: ntp`"))?;
    let mut wanted = Wanted::plain(static_text(n, "role name")?, n.span.clone(), how);
    if let Some(v) = node.get("vars") {
        wanted.vars = vars_of(v, "role `vars`")?;
    }
    for (key, value) in entries {
        if !ROLE_ENTRY.contains(&key.name.as_str()) {
            wanted.params.insert(key.name.clone(), value.to_json());
        }
    }
    Ok((wanted, ctx.keywords_of(node)?))
}

impl Wanted {
    fn plain(name: String, span: Span, how: How) -> Wanted {
        Wanted {
            name,
            span,
            tasks_from: None,
            vars_from: None,
            defaults_from: None,
            handlers_from: None,
            params: Vars::new(),
            vars: Vars::new(),
            allow_duplicates: None,
            how,
        }
    }

    /// The arguments of `import_role:` / `include_role:`.
    fn from_args(target: &Node, action: &str) -> Result<(Wanted, Option<Node>), Diagnostic> {
        let entries = match &target.value {
            NodeValue::Map(entries) => entries,
            _ => {
                return Err(target
                    .type_error(&format!("the arguments of `{action}`"), "a mapping")
                    .with_hint(format!("e.g. `{action}: {{name: ntp}}`")))
            }
        };
        check_keys(entries, ROLE_ARGS, action)?;
        let name = target.get("name").ok_or_else(|| {
            Diagnostic::at(&target.span, format!("{action} has no `name`"))
                .with_hint(format!("e.g. `{action}: {{name: ntp}}`"))
        })?;
        let flag = |key: &str| target.get(key).map(|n| parse_bool(n, &format!("`{key}`"))).transpose();
        let public = flag("public")?;
        let how = match action {
            "include_role" => How::Include { public: public.unwrap_or(false) },
            _ => How::Import,
        };
        let mut wanted = Wanted::plain(static_text(name, "role name")?, name.span.clone(), how);
        let from = |key: &str| -> Result<Option<(String, Span)>, Diagnostic> {
            target.get(key).map(|n| Ok((static_text(n, &format!("`{key}`"))?, n.span.clone()))).transpose()
        };
        wanted.tasks_from = from("tasks_from")?;
        wanted.vars_from = from("vars_from")?;
        wanted.defaults_from = from("defaults_from")?;
        wanted.handlers_from = from("handlers_from")?;
        wanted.allow_duplicates = flag("allow_duplicates")?;
        Ok((wanted, target.get("apply").cloned()))
    }
}

/// A role's `meta/main.yml`: its dependencies and `allow_duplicates`.
fn read_meta(role: &Path) -> Result<(Vec<Node>, bool), Diagnostic> {
    let Some(path) = role_files(role, "meta", None, false).into_iter().next() else {
        return Ok((Vec::new(), false));
    };
    let (_, doc) = yaml::load(&path)?;
    if doc.is_null() {
        return Ok((Vec::new(), false));
    }
    doc.expect_map("meta/main.yml")?;
    let deps = match doc.get("dependencies") {
        Some(d) if !d.is_null() => d.expect_seq("`dependencies`")?.to_vec(),
        _ => Vec::new(),
    };
    let allow = doc.get("allow_duplicates").map(|n| parse_bool(n, "`allow_duplicates`")).transpose()?;
    Ok((deps, allow.unwrap_or(false)))
}

/// A role in `roles:`: its dependencies' tasks, then its own, onto `tasks`.
pub(super) fn load_play_role(node: &Node, ctx: &TaskContext, tasks: &mut TaskList) -> Result<(), Diagnostic> {
    let (wanted, inner) = parse_entry(node, ctx, How::Play)?;
    load_role(wanted, &inner, &Inherited::default(), tasks).map(drop)
}

/// `import_role:`: the role's tasks in place, each inheriting the
/// import's `when`, `tags`, `vars` and become keywords.
pub(super) fn load_import_role(
    item: &Node,
    target: &Node,
    ctx: &TaskContext,
    out: &mut TaskList,
) -> Result<(), Diagnostic> {
    let others: Vec<_> = item
        .as_map()
        .unwrap_or(&[])
        .iter()
        .filter(|(k, _)| keywords::builtin_action(&k.name) != Some("import_role"))
        .cloned()
        .collect();
    if let Some((key, _)) = others.iter().find(|(k, _)| ["loop", "with_items"].contains(&k.name.as_str())) {
        return Err(Diagnostic::at(&key.span, "`import_role` cannot loop")
            .with_hint("use `include_role` in a loop, or loop inside the role"));
    }
    check_keys(&others, keywords::IMPORT, "import_role")?;
    let (wanted, _) = Wanted::from_args(target, "import_role")?;
    load_role(wanted, &ctx.inside(item)?, &Inherited::from_ctx(ctx), out).map(drop)
}

/// `include_role:`: the include itself (each host decides it once, by its
/// `when`), then the role's tasks as the include's one candidate.
pub(super) fn load_include_role(
    item: &Node,
    target: &Node,
    ctx: &TaskContext,
    out: &mut TaskList,
) -> Result<(), Diagnostic> {
    if let Some(l) = item.get("loop").or_else(|| item.get("with_items")) {
        return Err(Diagnostic::at(&l.span, "a loop over `include_role` is not supported by push yet")
            .with_hint("loop over the tasks inside the role instead"));
    }
    let (wanted, apply) = Wanted::from_args(target, "include_role")?;
    let id = out.includes.len();
    let dir = find_role(&wanted.name, &wanted.span, ctx)?;
    let include = Include { parent: ctx.include, dir: dir.join("tasks"), candidates: Vec::new(), role: true };
    let mut inner = begin_include(item, ctx, apply.as_ref(), include, out)?;
    inner.include = Some(IncludePlace { include: id, candidate: 0 });
    let start = out.tasks.len();
    load_role(wanted, &inner, &Inherited::from_ctx(ctx), out)?;
    out.includes[id].candidates.push(Candidate { path: dir, tasks: start..out.tasks.len(), broken: None });
    Ok(())
}

/// What a role has from the roles it is inside (as a dependency, or by an
/// import or include in their tasks).
#[derive(Default, Clone)]
struct Inherited {
    defaults: Vars,
    vars: Vars,
    /// `ansible_parent_role_names`, the nearest first: the roles whose
    /// tasks import or include this one (not those it is a dependency
    /// of, as in ansible-core).
    parents: Vec<String>,
    parent_paths: Vec<String>,
    /// Whether the role that needs this one is exported to the play.
    exported: bool,
    /// How many roles deep this one is.
    depth: usize,
}

impl Inherited {
    fn from_ctx(ctx: &TaskContext) -> Inherited {
        match &ctx.role {
            Some(role) => Inherited {
                defaults: Vars::new(),
                vars: Vars::new(),
                parents: std::iter::once(role.name.clone()).chain(role.parents.iter().cloned()).collect(),
                parent_paths: std::iter::once(role.path.display().to_string())
                    .chain(role.parent_paths.iter().cloned())
                    .collect(),
                exported: false,
                depth: role.parents.len(),
            },
            None => Inherited::default(),
        }
    }
}

/// Load one role (dependencies first) onto `out`; None if the play has it
/// already with the same parameters.
fn load_role(
    wanted: Wanted,
    ctx: &TaskContext,
    inherited: &Inherited,
    out: &mut TaskList,
) -> Result<Option<Arc<RoleScope>>, Diagnostic> {
    if inherited.depth > 30 {
        return Err(Diagnostic::at(&wanted.span, "role dependencies nest too deep (a dependency cycle?)"));
    }
    let dir = find_role(&wanted.name, &wanted.span, ctx)?;
    let dir = dir.canonicalize().unwrap_or(dir);
    let (deps, meta_allows) = read_meta(&dir)?;
    let allow_duplicates = match wanted.how {
        How::Play | How::Dependency => meta_allows,
        // include_role and import_role run the role each time they are met,
        // unless they say `allow_duplicates: false`.
        How::Import | How::Include { .. } => wanted.allow_duplicates.unwrap_or(true),
    };
    let key = serde_json::json!([
        dir.display().to_string(),
        wanted.tasks_from.as_ref().map(|f| &f.0),
        wanted.params,
        wanted.vars
    ])
    .to_string();
    let first = ctx.roles.borrow_mut().seen.insert(key);
    if !first && !allow_duplicates {
        return Ok(None);
    }
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or(wanted.name.clone());

    let own_defaults = read_vars(&dir, "defaults", wanted.defaults_from.as_ref())?;
    let mut own_vars = read_vars(&dir, "vars", wanted.vars_from.as_ref())?;
    own_vars.extend(wanted.vars.clone());

    // Dependencies first, each seeing this role's defaults and vars below its own.
    let mut below = inherited.clone();
    below.defaults.extend(own_defaults.clone());
    below.vars.extend(own_vars.clone());
    below.depth += 1;
    // Exported to the play: roles of `roles:` and `import_role` (at load
    // time, as ansible-core does), a public `include_role`, and the
    // dependencies of those.
    let exported = match wanted.how {
        How::Play | How::Import => true,
        How::Include { public } => public,
        How::Dependency => inherited.exported,
    };
    below.exported = exported;
    let mut dep_defaults = Vars::new();
    let mut dep_vars = Vars::new();
    for dep in &deps {
        let (dep_wanted, dep_ctx) = parse_entry(dep, ctx, How::Dependency)?;
        if let Some(role) = load_role(dep_wanted, &dep_ctx, &below, out)? {
            dep_defaults.extend(role.defaults.iter().map(|(k, v)| (k.clone(), v.clone())));
            dep_vars.extend(role.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }

    let mut defaults = dep_defaults;
    defaults.extend(inherited.defaults.clone());
    defaults.extend(own_defaults.clone());
    let mut vars = inherited.vars.clone();
    vars.extend(dep_vars);
    vars.extend(own_vars.clone());
    let role = Arc::new(RoleScope {
        name: name.clone(),
        path: dir.clone(),
        defaults: Arc::new(defaults),
        vars: Arc::new(vars),
        params: Arc::new(wanted.params.clone()),
        parents: inherited.parents.clone(),
        parent_paths: inherited.parent_paths.clone(),
    });
    {
        let mut roles = ctx.roles.borrow_mut();
        if exported {
            roles.defaults.extend(own_defaults);
            roles.vars.extend(own_vars);
        }
        roles.named(&name, wanted.how != How::Dependency);
    }

    let mut role_ctx = ctx.clone();
    role_ctx.role_dir = Some(&dir);
    role_ctx.role = Some(Arc::clone(&role));
    role_ctx.file_dir = None;
    let tasks_from = wanted.tasks_from.as_ref();
    match role_files(&dir, "tasks", tasks_from.map(|f| f.0.as_str()), false).first() {
        Some(path) => load_task_file(path, &wanted.span, &role_ctx, false, out)?,
        None if tasks_from.is_some() => return Err(missing_from(&dir, "tasks", tasks_from.expect("checked"))),
        None => {}
    }

    let handlers_from = wanted.handlers_from.as_ref();
    let handlers_file = role_files(&dir, "handlers", handlers_from.map(|f| f.0.as_str()), false).into_iter().next();
    match handlers_file {
        Some(path) if ctx.roles.borrow_mut().handlers_of.insert(path.clone()) => {
            // Handlers run when notified, wherever the role was included.
            let handler_ctx = TaskContext { include: None, block: None, when: Vec::new(), ..role_ctx.clone() };
            let mut handlers = TaskList::default();
            load_task_file(&path, &wanted.span, &handler_ctx, true, &mut handlers)?;
            ctx.roles.borrow_mut().handlers.extend(handlers.tasks);
        }
        Some(_) => {}
        None if handlers_from.is_some() => return Err(missing_from(&dir, "handlers", handlers_from.expect("checked"))),
        None => {}
    }
    Ok(Some(role))
}

#[cfg(test)]
mod tests {
    use crate::playbook::{load_playbook, load_playbook_with_roles, Play};
    use std::path::{Path, PathBuf};

    fn write(root: &Path, files: &[(&str, &str)]) {
        for (path, text) in files {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }

    fn task(name: &str) -> String {
        format!("- name: {name}\n  command: \"true\"\n")
    }

    fn load(root: &Path, playbook: &str, roles_path: &[PathBuf]) -> Result<Play, String> {
        write(root, &[("site.yml", playbook)]);
        load_playbook_with_roles(&root.join("site.yml"), roles_path)
            .map(|mut b| b.plays.remove(0))
            .map_err(|d| format!("{} | {}", d.message, d.hint.unwrap_or_default()))
    }

    fn names(play: &Play) -> Vec<String> {
        play.tasks.iter().map(|t| t.display_name()).collect()
    }

    #[test]
    fn dependencies_run_first_and_once_per_play() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(
            root,
            &[
                ("roles/base/tasks/main.yml", &task("base")),
                ("roles/a/meta/main.yml", "dependencies: [base]\n"),
                ("roles/a/tasks/main.yml", &task("a")),
                ("roles/b/meta/main.yml", "dependencies:\n  - role: base\n"),
                ("roles/b/tasks/main.yml", &task("b")),
                ("roles/dup/meta/main.yml", "allow_duplicates: true\n"),
                ("roles/dup/tasks/main.yml", &task("dup")),
            ],
        );
        let play = load(root, "- hosts: all\n  roles: [a, b, a, dup, dup, {role: b, x: 1}]\n", &[]).unwrap();
        // `a` twice runs once; `dup` allows duplicates; `b` with other
        // parameters is another role (its dependency `base` is not).
        assert_eq!(names(&play), ["base", "a", "b", "dup", "dup", "b"]);
        assert_eq!(play.play_role_names, ["a", "b", "dup"]);
        assert_eq!(play.role_names, ["base", "a", "b", "dup"]);
    }

    #[test]
    fn roles_are_found_where_ansible_looks() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(
            root,
            &[
                ("elsewhere/shared/tasks/main.yml", &task("from roles_path")),
                ("elsewhere/acme.tools/tasks/main.yml", &task("collection-style name")),
                ("vendored/byhand/tasks/main.yml", &task("by path")),
                ("roles/shared/tasks/main.yml", &task("the playbook's roles/ first")),
            ],
        );
        let roles_path = [root.join("elsewhere")];
        let play = load(root, "- hosts: all\n  roles: [shared, acme.tools, vendored/byhand]\n", &roles_path).unwrap();
        assert_eq!(names(&play), ["the playbook's roles/ first", "collection-style name", "by path"]);

        let err = load(root, "- hosts: all\n  roles: [sharde]\n", &roles_path).unwrap_err();
        assert!(err.starts_with("role `sharde` not found | did you mean `shared`?"), "{err}");
        assert!(err.contains(&root.join("elsewhere").display().to_string()), "{err}");
    }

    #[test]
    fn role_variables_are_scoped_and_merged() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(
            root,
            &[
                ("roles/a/tasks/main.yml", &task("a")),
                ("roles/a/defaults/main.json", "{\"d\": \"a\", \"only_a\": 1}"),
                ("roles/a/vars/main/1.yml", "v: a1\nw: a1\n"),
                ("roles/a/vars/main/2.yaml", "w: a2\n"),
                ("roles/b/tasks/main.yml", &task("b")),
                ("roles/b/defaults/main.yml", "d: b\n"),
                ("roles/b/vars/main.yml", "v: b\n"),
                ("roles/c/tasks/main.yml", &task("c")),
                ("roles/c/vars/main.yml", "private: c\n"),
            ],
        );
        let playbook = "- hosts: all\n  roles: [a, {role: b, p: 1}]\n  tasks:\n    - include_role: {name: c}\n";
        let play = load(root, playbook, &[]).unwrap();
        let json = |v: &crate::template::Vars| serde_json::Value::Object(v.clone());
        // Exported to the play: a's and b's, the later winning; not c's.
        assert_eq!(json(&play.role_defaults), serde_json::json!({"d": "b", "only_a": 1}));
        assert_eq!(json(&play.role_vars), serde_json::json!({"v": "b", "w": "a2"}));
        // Each task sees its own role's above the others.
        let a = play.tasks[0].role.as_ref().unwrap();
        assert_eq!((a.name.as_str(), json(&a.vars)), ("a", serde_json::json!({"v": "a1", "w": "a2"})));
        let b = play.tasks[1].role.as_ref().unwrap();
        assert_eq!(json(&b.params), serde_json::json!({"p": 1}));
        let c = play.tasks[3].role.as_ref().unwrap();
        assert_eq!(json(&c.vars), serde_json::json!({"private": "c"}));
        assert!(play.includes[0].role && play.tasks[3].include.is_some());
    }

    #[test]
    fn import_role_passes_its_keywords_to_every_task() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, &[("roles/r/tasks/main.yml", &task("one")), ("roles/r/tasks/extra.yml", &task("two"))]);
        let playbook = "- hosts: all\n  tasks:\n    - import_role: {name: r, tasks_from: extra}\n      when: x is defined\n      tags: [t]\n      become: true\n";
        let play = load(root, playbook, &[]).unwrap();
        assert_eq!(names(&play), ["two"]);
        let t = &play.tasks[0];
        assert_eq!(t.when[0].text, "x is defined");
        assert!(t.tags.contains("t"));
        assert_eq!(t.become_.enabled.as_ref().and_then(crate::playbook::Flag::fixed), Some(true));
        assert!(t.include.is_none(), "an import is static");

        let err = load(root, &playbook.replace("tasks_from: extra", "tasks_from: extar"), &[]).unwrap_err();
        assert!(err.contains("has no file tasks/extar | did you mean `extra`?"), "{err}");
    }

    #[test]
    fn a_missing_role_in_a_dependency_is_said_where_it_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, &[("roles/a/meta/main.yml", "dependencies:\n  - role: nope\n")]);
        write(root, &[("site.yml", "- hosts: all\n  roles: [a]\n")]);
        let err = load_playbook(&root.join("site.yml")).unwrap_err();
        let span = err.span.as_ref().unwrap();
        assert!(span.path().ends_with("roles/a/meta/main.yml"), "{:?}", span.path());
        assert!(err.message.contains("role `nope` not found"));
    }
}
