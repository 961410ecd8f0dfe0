//! Plans: for one host, the play's tasks turned into module ops (pure data,
//! no network). A plan is cut into segments only where a task reads a
//! result registered earlier in the same segment, because that result only
//! exists after the segment has run on the host.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use minijinja::value::{Serde, Value as JinjaValue};
use serde_json::Value;

use crate::become_method::{BecomeAs, Method, METHOD_HINT};
use crate::diagnostic::{Diagnostic, Span};
use crate::digest::{Credential, DigestResolver};
use crate::flow::Flow;
use crate::playbook::{Action, Meta, Play, Task};
use crate::template::{strings_in, Mode, Scope, TemplateError, Vars};
use push_modules::ControllerError;

/// One module op for one host (one loop item, if the task loops).
#[derive(Debug, Clone)]
pub struct Step {
    pub task: usize,
    pub item: Option<Value>,
    /// Where `item` is in the loop's list, from 1 (0 without a loop): all
    /// that is told of an item under `no_log`.
    pub item_position: usize,
    /// `loop_control.label`, rendered for this item: how the item is
    /// shown instead of the whole of it.
    pub label: Option<String>,
    /// The loop's variables for this item (the loop variable,
    /// `ansible_loop_var`, index, `ansible_loop`): its registered result
    /// carries them. Empty without a loop.
    pub loop_vars: serde_json::Map<String, Value>,
    /// `loop_control.pause`: seconds the host waits before this item when
    /// the item before it ran just before.
    pub pause: Option<f64>,
    pub op: push_modules::Op,
    /// Whom it runs as, when not the login user.
    pub become_: Option<BecomeAs>,
    /// Its arguments or files carry a value opened from a vault: it is
    /// treated as `no_log`, and a script carrying it is not kept.
    pub secret: bool,
    /// The task's `no_log`, on this host (a vaulted value hides as much).
    pub no_log: bool,
    /// The task's `ignore_errors`, on this host.
    pub ignore_errors: bool,
}

/// What a task became on a host.
#[derive(Debug, Clone)]
pub enum Planned {
    /// Ops to run (one per loop item), and the items `when` skipped.
    Run { task: usize, steps: Vec<Step>, skipped: Vec<SkippedItem> },
    /// Decided on the controller: `when` was false (for every item, which
    /// are in `items`), or the loop empty.
    Skipped { task: usize, reason: String, items: Vec<SkippedItem> },
    /// Done on the controller (`set_fact`, `include_vars`): its result.
    Done { task: usize, result: Value },
    /// An `include_tasks`/`include_role` that brought its file or role
    /// (`what`): ok, as ansible-core counts it.
    Included { task: usize, what: String },
    /// Done on the controller and no result of its own: a `meta` task.
    Silent { task: usize },
}

/// A task, or one item of its loop, that `when` skipped: what its
/// registered result says.
#[derive(Debug, Clone)]
pub struct SkippedItem {
    /// Its place in the loop, from 1 (0 without a loop).
    pub position: usize,
    pub loop_vars: serde_json::Map<String, Value>,
    /// The condition that was false, as written.
    pub false_condition: String,
}

impl Planned {
    pub fn task(&self) -> usize {
        match self {
            Planned::Run { task, .. }
            | Planned::Skipped { task, .. }
            | Planned::Done { task, .. }
            | Planned::Included { task, .. }
            | Planned::Silent { task } => *task,
        }
    }
}

/// A run of tasks that can be probed and applied in one go.
#[derive(Debug, Default)]
pub struct Segment {
    pub entries: Vec<Planned>,
    /// Index (into the selected task list) where the next segment starts.
    pub next: usize,
    /// The variables its controller actions gave the host, in order.
    pub facts: Vec<(String, Value)>,
    /// It ends at a task the controller judges (`changed_when`,
    /// `failed_when`, `until`): whatever comes next, handlers included,
    /// waits for that judgement.
    pub judged: bool,
    /// It ends at `meta: flush_handlers`: the final actions raised so far
    /// run at its end.
    pub flush: bool,
    /// It ends at `meta: end_host`/`end_play`: the host is done with the play.
    pub ends_host: bool,
    /// It is one task delegated to this machine (`delegate_to: localhost`,
    /// `connection: local`): it runs here, not on the host.
    pub delegated: bool,
}

/// Finds `src:` files for copy/template and renders templates, Ansible's way.
pub(crate) struct FileLookup<'a> {
    base_dir: &'a Path,
    role_dir: Option<&'a Path>,
    scope: &'a Scope,
    /// Set once a vaulted `src:` file was opened, or a template rendered a
    /// value opened from a vault.
    carries_secret: std::cell::Cell<bool>,
}

impl<'a> FileLookup<'a> {
    pub(crate) fn new(base_dir: &'a Path, role_dir: Option<&'a Path>, scope: &'a Scope) -> FileLookup<'a> {
        FileLookup { base_dir, role_dir, scope, carries_secret: std::cell::Cell::new(false) }
    }

    /// A controller-side file's bytes, opened if it is a vault.
    fn read(&self, path: &Path) -> Result<Vec<u8>, ControllerError> {
        let bytes = std::fs::read(path).map_err(|e| unreadable(path, e))?;
        if !crate::vault::is_vaulted(&bytes) {
            return Ok(bytes);
        }
        let sealed = String::from_utf8_lossy(&bytes);
        let opened = crate::vault::open(&sealed).map_err(|e| ControllerError::Vault {
            path: path.to_path_buf(),
            message: format!("{e} ({})", crate::vault::hint(&e)),
        })?;
        self.carries_secret.set(true);
        Ok(opened.to_vec())
    }

    /// Where `src` is: absolute, or under the role's `sub/`, the role, the
    /// playbook's `sub/`, the playbook's folder, in that order.
    pub(crate) fn find(&self, src: &str, sub: &str) -> Result<PathBuf, ControllerError> {
        let path = Path::new(src);
        if path.is_absolute() {
            return path.exists().then(|| path.to_path_buf()).ok_or_else(|| ControllerError::Missing(path.into()));
        }
        let mut candidates = Vec::new();
        if let Some(role) = self.role_dir {
            candidates.push(role.join(sub).join(src));
            candidates.push(role.join(src));
        }
        candidates.push(self.base_dir.join(sub).join(src));
        candidates.push(self.base_dir.join(src));
        match candidates.iter().find(|p| p.is_file()) {
            Some(found) => Ok(found.clone()),
            None => Err(ControllerError::NotFound { src: src.into(), looked: candidates }),
        }
    }
}

fn unreadable(path: &Path, e: std::io::Error) -> ControllerError {
    ControllerError::Unreadable { path: path.to_path_buf(), error: e.to_string() }
}

impl push_modules::Controller for FileLookup<'_> {
    fn read_file(&self, src: &str) -> Result<Vec<u8>, ControllerError> {
        self.read(&self.find(src, "files")?)
    }

    fn find_file(&self, src: &str) -> Result<PathBuf, ControllerError> {
        self.find(src, "files")
    }

    fn read_vaulted(&self, src: &str) -> Result<Option<Vec<u8>>, ControllerError> {
        let path = self.find(src, "files")?;
        // Only a vault is read whole here; any other file is streamed.
        match starts_as_vault(&path).map_err(|e| unreadable(&path, e))? {
            true => self.read(&path).map(Some),
            false => Ok(None),
        }
    }

    fn render_template(&self, src: &str) -> Result<String, ControllerError> {
        let path = self.find(src, "templates")?;
        let bytes = self.read(&path)?;
        let text = String::from_utf8(bytes).map_err(|_| ControllerError::NotText(path.clone()))?;
        let rendered = self.scope.render_text(&text, Mode::Plain).map_err(|e| ControllerError::Template {
            path: path.clone(),
            line: e.line,
            message: e.message,
        })?;
        if crate::vault::carries_secret(rendered.as_bytes()) {
            self.carries_secret.set(true);
        }
        Ok(rendered)
    }
}

/// Whether the file at `path` begins with a vault's header (only its first
/// bytes are read).
fn starts_as_vault(path: &Path) -> std::io::Result<bool> {
    let mut head = [0u8; 64];
    let n = std::io::Read::read(&mut std::fs::File::open(path)?, &mut head)?;
    Ok(crate::vault::is_vaulted(&head[..n]))
}

/// A template error inside a playbook value, pointed at its line.
pub fn template_diag(span: &Span, e: TemplateError) -> Diagnostic {
    let at = match e.line {
        Some(line) if line > 1 => span.shifted(line - 1, None),
        _ => span.clone(),
    };
    let hint = if let Some(hint) = e.hint.or_else(|| crate::template_limits::hint(&e.message)) {
        hint
    } else if e.message.starts_with("undefined variable") {
        "define it in the play's vars, group_vars/host_vars, or pass it with -e"
    } else {
        "check the template syntax"
    };
    Diagnostic::at(&at, e.message).with_hint(hint)
}

/// What tasks become.
#[derive(Debug, Clone, Copy, Default)]
pub enum Intent<'a> {
    /// Ops that converge the host (`push run`); with a resolver, image tags
    /// are pinned to digests.
    #[default]
    Converge,
    ConvergePinned(&'a DigestResolver),
    /// Ops that put back what each task's last change replaced (`push
    /// rollback`); only tasks whose module rolls back are planned.
    Rollback,
}

/// Plan tasks `selected[start..]` on this host's path through the blocks
/// until one needs a result registered in this segment, one is judged on
/// the controller, or a failure has to go on past a block's always.
/// Controller actions are done here, their variables counting for the
/// tasks after them.
pub fn plan_segment(
    play: &Play,
    selected: &[usize],
    start: usize,
    scope: &Scope,
    intent: Intent,
    flow: &mut Flow,
) -> Result<Segment, Diagnostic> {
    let mut segment = Segment { next: selected.len(), ..Segment::default() };
    let mut pending: HashSet<&str> = HashSet::new();
    let mut scope = scope.clone();
    for (pos, &index) in selected.iter().enumerate().skip(start) {
        if !flow.on_path(play, index) {
            continue;
        }
        let task = &play.tasks[index];
        let waits = !segment.entries.is_empty() && task.reads.iter().any(|r| pending.contains(r.as_str()));
        // A task delegated to this machine runs in a segment of its own.
        let delegated = delegated_here(task, &scope)?;
        if waits || (delegated && !segment.entries.is_empty()) || flow.failing_before(play, Some(index)).is_some() {
            segment.next = pos;
            return Ok(segment);
        }
        let planned = match task.action {
            Action::Module => plan_task(play, index, task, &scope, intent)?,
            Action::SetFact | Action::IncludeVars => {
                let (planned, mut given) = plan_controller_action(play, index, task, &scope)?;
                if let (Some(r), Planned::Done { result, .. }) = (&task.register, &planned) {
                    given.push((r.clone(), result.clone()));
                }
                scope = scope.with_native(given.iter().map(|(k, v)| (k.clone(), JinjaValue::from(Serde(v)))));
                segment.facts.extend(given);
                planned
            }
            Action::Meta(_) => match when_holds(task, &scope)? {
                true => Planned::Silent { task: index },
                false => Planned::Skipped { task: index, reason: "condition was false".into(), items: Vec::new() },
            },
            Action::IncludeTasks(include) => {
                let (planned, candidate) = plan_include(play, index, task, include, &scope)?;
                if let Some(candidate) = candidate {
                    flow.include(crate::playbook::IncludePlace { include, candidate });
                }
                planned
            }
        };
        if let (Action::Meta(meta), Planned::Silent { .. }) = (task.action, &planned) {
            segment.entries.push(planned);
            match meta {
                Meta::FlushHandlers => segment.flush = true,
                Meta::EndHost => segment.ends_host = true,
                Meta::Noop => continue,
            }
            segment.next = pos + 1;
            return Ok(segment);
        }
        let runs = matches!(planned, Planned::Run { .. });
        segment.entries.push(planned);
        if delegated {
            segment.delegated = true;
            segment.judged = task.judged();
            segment.next = pos + 1;
            if let (Some(r), true) = (&task.register, runs) {
                pending.insert(r);
            }
            return Ok(segment);
        }
        if let (Some(r), true) = (&task.register, runs) {
            pending.insert(r);
        }
        if runs && task.judged() {
            segment.next = pos + 1;
            segment.judged = true;
            return Ok(segment);
        }
    }
    Ok(segment)
}

/// Whether a task runs on this machine instead of its host: its
/// `delegate_to` names this machine. Another host is not supported yet.
fn delegated_here(task: &Task, scope: &Scope) -> Result<bool, Diagnostic> {
    let Some(to) = &task.delegate_to else { return Ok(false) };
    let scope = task_scope(task, scope);
    let name = scope.render_text(&to.text, Mode::Plain).map_err(|e| template_diag(&to.span, e))?;
    let own = scope.get("inventory_hostname").ok().flatten().and_then(|v| v.as_str().map(String::from));
    match name.as_str() {
        "localhost" | "127.0.0.1" | "::1" => Ok(true),
        n if Some(n) == own.as_deref() => Ok(false),
        other => Err(Diagnostic::at(
            &to.span,
            format!("`delegate_to: {other}`: push delegates to this machine only, for now"),
        )
        .with_hint("delegate to localhost, or run the task in a play for that host")),
    }
}

/// Whether every `when` of a task that does not loop holds.
fn when_holds(task: &Task, scope: &Scope) -> Result<bool, Diagnostic> {
    let scope = task_scope(task, scope);
    for cond in &task.when {
        if !scope.eval_bool(&cond.text).map_err(|e| template_diag(&cond.span, e))? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// An `include_tasks` on this host: skipped by its `when`, or included,
/// with the file its name renders to here.
fn plan_include(
    play: &Play,
    index: usize,
    task: &Task,
    include: usize,
    scope: &Scope,
) -> Result<(Planned, Option<usize>), Diagnostic> {
    if !when_holds(task, scope)? {
        return Ok((Planned::Skipped { task: index, reason: "condition was false".into(), items: Vec::new() }, None));
    }
    // An include_role brings its one role.
    if play.includes[include].role {
        let what = play.includes[include].candidates.first().map(|c| c.path.display().to_string()).unwrap_or_default();
        return Ok((Planned::Included { task: index, what }, Some(0)));
    }
    let scope = task_scope(task, scope);
    let (key, raw) = ["file", "_raw_params"]
        .iter()
        .find_map(|k| task.args.values.get(*k).map(|v| (*k, v)))
        .ok_or_else(|| Diagnostic::at(&task.span, "include_tasks names no file"))?;
    let span = task.args.value_span(key).unwrap_or(&task.span);
    let Value::String(name) = scope.render_json(raw, Mode::Plain).map_err(|e| template_diag(span, e))? else {
        return Err(Diagnostic::at(span, "the file of `include_tasks` must be a string"));
    };
    let inc = &play.includes[include];
    let wanted = normalized(&inc.dir.join(&name));
    let Some(k) = inc.candidates.iter().position(|c| normalized(&c.path) == wanted) else {
        return Err(Diagnostic::at(span, format!("include_tasks: task file {} does not exist", wanted.display()))
            .with_hint(format!("it was looked up in {}", inc.dir.display())));
    };
    match &inc.candidates[k].broken {
        Some(why) => Err(Diagnostic::new(format!("include_tasks of {}: {why}", wanted.display()))),
        None => Ok((Planned::Included { task: index, what: wanted.display().to_string() }, Some(k))),
    }
}

/// A path with `.` and `..` taken out, as written (no links followed).
fn normalized(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A controller action on this host: done per loop item in turn (each
/// item sees the variables the one before gave), or skipped by `when`.
fn plan_controller_action(
    play: &Play,
    index: usize,
    task: &Task,
    scope: &Scope,
) -> Result<(Planned, Vec<(String, Value)>), Diagnostic> {
    let mut scope = task_scope(task, scope);
    let passes = loop_passes(play, task, &scope)?.map(|(passes, _)| passes);
    let looped = passes.is_some();
    let mut given = Vec::new();
    let mut results = Vec::new();
    let mut skipped_items = Vec::new();
    let mut ran = false;
    for pass in passes.map_or_else(|| vec![None], |passes| passes.into_iter().map(Some).collect()) {
        let loop_vars = pass.as_ref().map(|p| p.vars.clone()).unwrap_or_default();
        let item_scope = pass_scope(&scope, &loop_vars);
        let mut false_condition = None;
        for cond in &task.when {
            if !item_scope.eval_bool(&cond.text).map_err(|e| template_diag(&cond.span, e))? {
                false_condition = Some(cond.text.clone());
                break;
            }
        }
        if let Some(false_condition) = false_condition {
            let mut skipped = serde_json::json!({
                "changed": false, "skipped": true, "skip_reason": "Conditional result was False",
                "false_condition": false_condition,
            });
            if let Value::Object(map) = &mut skipped {
                map.extend(loop_vars.clone());
            }
            results.push(skipped);
            let position = pass.as_ref().map_or(0, |p| p.position);
            skipped_items.push(SkippedItem { position, loop_vars, false_condition });
            continue;
        }
        let done = match task.action {
            Action::SetFact => crate::set_vars::set_fact(task, &item_scope)?,
            _ => crate::set_vars::include_vars(play, task, &item_scope)?,
        };
        ran = true;
        scope = scope.with_native(done.vars.iter().map(|(k, v)| (k.clone(), JinjaValue::from(Serde(v)))));
        given.extend(done.vars);
        let mut result = done.result;
        if let Value::Object(map) = &mut result {
            map.extend(loop_vars);
        }
        results.push(result);
    }
    if !ran {
        let reason = if looped && results.is_empty() { "empty loop" } else { "condition was false" };
        return Ok((Planned::Skipped { task: index, reason: reason.to_string(), items: skipped_items }, given));
    }
    let result = match looped {
        true => {
            serde_json::json!({"results": results, "changed": false, "skipped": false, "msg": "All items completed"})
        }
        false => results.pop().unwrap_or_default(),
    };
    Ok((Planned::Done { task: index, result }, given))
}

/// The scope a task sees: for a role's task its role's defaults (just
/// above the play's role defaults, the bottom layer of [`play_scope`]) and
/// vars (above every other role's), then its own `vars:`, then its role
/// parameters, all under the extra vars; and the role's magic variables.
pub fn task_scope(task: &Task, scope: &Scope) -> Scope {
    let mut scope = scope.clone();
    if let Some(role) = &task.role {
        if !role.defaults.is_empty() {
            scope = scope.with_layer_at(1, Arc::clone(&role.defaults));
        }
        if !role.vars.is_empty() {
            scope = scope.with_layer(Arc::clone(&role.vars));
        }
    }
    if !task.vars.is_empty() {
        scope = scope.with_layer(Arc::clone(&task.vars));
    }
    match &task.role {
        Some(role) => {
            if !role.params.is_empty() {
                scope = scope.with_layer(Arc::clone(&role.params));
            }
            let list = |names: &[String]| JinjaValue::from(Serde(names));
            scope.with_native([
                ("role_path".to_string(), JinjaValue::from(role.path.display().to_string())),
                ("role_name".to_string(), JinjaValue::from(role.name.clone())),
                ("ansible_role_name".to_string(), JinjaValue::from(role.name.clone())),
                ("ansible_parent_role_names".to_string(), list(&role.parents)),
                ("ansible_parent_role_paths".to_string(), list(&role.parent_paths)),
            ])
        }
        None => scope,
    }
}

/// Ansible's `omit`: an argument whose value renders to this text is left
/// out, as if the task had not written it. Random per run, as in Ansible.
pub fn omit_token() -> &'static str {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN.get_or_init(|| {
        let bytes: [u8; 20] = rand::random();
        format!("__omit_place_holder__{}", hex::encode(bytes))
    })
}

/// The version of Ansible whose playbook language push speaks, as
/// `ansible_version` gives it to playbooks.
pub const ANSIBLE_VERSION: (u32, u32, u32) = (2, 19, 0);

/// Ansible's magic variables that come from the run, not the inventory:
/// `omit`, `playbook_dir`, `ansible_version`, `ansible_managed`.
fn magic_vars(play: &Play) -> Vec<(String, JinjaValue)> {
    let (major, minor, revision) = ANSIBLE_VERSION;
    let full = format!("{major}.{minor}.{revision}");
    let version = serde_json::json!({
        "full": full, "major": major, "minor": minor, "revision": revision, "string": full,
    });
    let dir = play.base_dir.canonicalize().unwrap_or_else(|_| play.base_dir.clone());
    vec![
        ("omit".to_string(), JinjaValue::from(omit_token())),
        ("playbook_dir".to_string(), JinjaValue::from(dir.display().to_string())),
        ("ansible_version".to_string(), JinjaValue::from(Serde(version))),
        // ansible.cfg's default since Ansible 2.x.
        ("ansible_managed".to_string(), JinjaValue::from("Ansible managed")),
        ("ansible_role_names".to_string(), JinjaValue::from(Serde(&play.role_names))),
        ("ansible_play_role_names".to_string(), JinjaValue::from(Serde(&play.play_role_names))),
        ("role_names".to_string(), JinjaValue::from(Serde(&play.play_role_names))),
    ]
}

/// Leave out every value that rendered to `omit`: arguments, list items and
/// mapping entries alike.
fn strip_omitted(args: &mut serde_json::Map<String, Value>) {
    fn omitted(v: &Value) -> bool {
        v.as_str() == Some(omit_token())
    }
    fn walk(v: &mut Value) {
        match v {
            Value::Array(items) => {
                items.retain(|i| !omitted(i));
                items.iter_mut().for_each(walk);
            }
            Value::Object(map) => strip_omitted(map),
            _ => {}
        }
    }
    args.retain(|_, v| !omitted(v));
    args.values_mut().for_each(walk);
}

/// A loop's passes on a host, and its pause in seconds.
type LoopPasses = (Vec<crate::loop_items::Iteration>, Option<f64>);

/// A task's loop on this host: its passes (the items, with the variables
/// `loop_control` gives each) and `loop_control.pause`; None when it does
/// not loop.
fn loop_passes(play: &Play, task: &Task, scope: &Scope) -> Result<Option<LoopPasses>, Diagnostic> {
    let Some(l) = &task.loop_ else { return Ok(None) };
    let paths = crate::loop_items::SearchPaths {
        role_dir: task.role_dir.clone(),
        base_dir: play.base_dir.clone(),
        first_found_subdir: crate::loop_items::first_found_subdir(task.module.name()),
    };
    let items = crate::loop_items::task_items(l, scope, &paths)?;
    Ok(Some((crate::loop_items::iterations(l, items), crate::loop_items::pause(l, scope)?)))
}

/// The scope of one loop pass: the task's, with the pass's variables.
fn pass_scope(scope: &Scope, vars: &serde_json::Map<String, Value>) -> Scope {
    scope.with_native(vars.iter().map(|(k, v)| (k.clone(), JinjaValue::from(Serde(v)))).collect::<Vec<_>>())
}

pub fn plan_task(play: &Play, index: usize, task: &Task, scope: &Scope, intent: Intent) -> Result<Planned, Diagnostic> {
    let scope = task_scope(task, scope);
    let (iterations, pause) = match loop_passes(play, task, &scope)? {
        None => (vec![(0, None, serde_json::Map::new(), scope.clone())], None),
        Some((passes, pause)) => {
            let passes = passes
                .into_iter()
                .map(|it| {
                    let s = pass_scope(&scope, &it.vars);
                    (it.position, Some(it.item), it.vars, s)
                })
                .collect();
            (passes, pause)
        }
    };
    let looped = task.loop_.is_some();
    let mut steps = Vec::new();
    let mut skipped = Vec::new();
    for (item_position, item, loop_vars, scope) in iterations {
        let mut false_condition = None;
        for cond in &task.when {
            if !scope.eval_bool(&cond.text).map_err(|e| template_diag(&cond.span, e))? {
                false_condition = Some(cond.text.clone());
                break;
            }
        }
        if let Some(false_condition) = false_condition {
            skipped.push(SkippedItem { position: item_position, loop_vars, false_condition });
            continue;
        }
        let (mut op, secret) = build_op(play, task, &scope, intent)?;
        let exports = environment_exports(task, &scope)?;
        if !exports.is_empty() {
            op.probe = format!("{exports}{}", op.probe);
            op.apply = format!("{exports}{}", op.apply);
        }
        let become_ = resolve_become(task, &scope)?;
        let label = match task.loop_.as_ref().and_then(|l| Some((l, l.label.as_ref()?))) {
            Some((l, label)) => Some(scope.render_text(label, Mode::Plain).map_err(|e| template_diag(&l.span, e))?),
            None => None,
        };
        let no_log = secret || task.no_log.eval(&scope)?;
        let ignore_errors = task.ignore_errors.eval(&scope)?;
        steps.push(Step {
            task: index,
            item,
            item_position,
            label,
            loop_vars,
            pause,
            op,
            become_,
            secret,
            no_log,
            ignore_errors,
        });
    }
    if steps.is_empty() {
        let reason = if looped && skipped.is_empty() { "empty loop" } else { "condition was false" };
        return Ok(Planned::Skipped { task: index, reason: reason.to_string(), items: skipped });
    }
    Ok(Planned::Run { task: index, steps, skipped })
}

/// A task's `environment:` on this host, as `export NAME=VALUE` lines that
/// start its snippets (which run in a subshell of their own, or as a
/// script of their own under become: the variables reach the module's
/// commands and nothing after them). Values are quoted data; the script
/// travels on the session's stdin, so they never appear in an argv.
fn environment_exports(task: &Task, scope: &Scope) -> Result<String, Diagnostic> {
    let mut merged: indexmap::IndexMap<String, String> = indexmap::IndexMap::new();
    for layer in &task.environment {
        let rendered = scope.render_json(layer, Mode::Plain).map_err(|e| template_diag(&task.span, e))?;
        let Value::Object(map) = rendered else {
            return Err(Diagnostic::at(&task.span, "`environment` must give a mapping of names to values")
                .with_hint("e.g. `environment: {http_proxy: \"http://proxy:3128\"}`"));
        };
        for (name, value) in map {
            if !crate::template::is_variable_name(&name) {
                return Err(Diagnostic::at(&task.span, format!("`environment`: `{name}` is not a variable name"))
                    .with_hint("environment variable names are letters, digits and `_`"));
            }
            // As Python's str() gives them to the module's environment.
            let text = match value {
                Value::String(s) => s,
                Value::Bool(true) => "True".into(),
                Value::Bool(false) => "False".into(),
                Value::Null => "None".into(),
                other => other.to_string(),
            };
            merged.insert(name, text);
        }
    }
    Ok(merged.iter().map(|(k, v)| format!("export {k}={}\n", push_modules::shell::quote(v))).collect())
}

/// A host's own become settings: Ansible's connection variables, which win
/// over the playbook's keywords and the command line.
#[derive(Debug, Default)]
pub struct HostBecome {
    pub enabled: Option<bool>,
    pub user: Option<String>,
    pub method: Option<Method>,
    pub flags: Option<String>,
}

/// Read `ansible_become`, `ansible_become_user`, `ansible_become_method` and
/// `ansible_become_flags` from a host's variables. Errors name the
/// variable; the caller adds the host's place in the inventory.
pub fn host_become(scope: &Scope) -> Result<HostBecome, Diagnostic> {
    let get = |key: &str| -> Result<Option<Value>, Diagnostic> {
        match scope.get(key) {
            Ok(Some(Value::Null)) | Ok(None) => Ok(None),
            Ok(Some(v)) => Ok(Some(v)),
            Err(e) => Err(Diagnostic::new(format!("{key}: {}", e.message))),
        }
    };
    let text = |key: &str| -> Result<Option<String>, Diagnostic> {
        Ok(get(key)?.map(|v| match v {
            Value::String(s) => s,
            // `ansible_become_user=1000` in an INI inventory is a number.
            other => other.to_string(),
        }))
    };
    let enabled = match get("ansible_become")? {
        Some(v) => Some(push_modules::args::parse_bool(&v).ok_or_else(|| {
            Diagnostic::new(format!("ansible_become must be a boolean, it is {v}")).with_hint("write true or false")
        })?),
        None => None,
    };
    let method = match text("ansible_become_method")? {
        Some(name) => Some(Method::parse(&name).ok_or_else(|| {
            Diagnostic::new(format!("ansible_become_method `{name}` is not supported")).with_hint(METHOD_HINT)
        })?),
        None => None,
    };
    Ok(HostBecome { enabled, user: text("ansible_become_user")?, method, flags: text("ansible_become_flags")? })
}

/// Whom a task runs as on this host: each setting from the host's
/// `ansible_become*` variables if set, else from the task (its keywords,
/// then role, play, command line, ansible.cfg); sudo to root by default.
/// Flags are checked against the method that applies here, at the place
/// they were written.
pub fn resolve_become(task: &Task, scope: &Scope) -> Result<Option<BecomeAs>, Diagnostic> {
    let host = host_become(scope)?;
    let enabled = match (host.enabled, &task.become_.enabled) {
        (Some(host), _) => host,
        (None, Some(flag)) => flag.eval(scope)?,
        (None, None) => false,
    };
    if !enabled {
        return Ok(None);
    }
    let method = host.method.or(task.become_.method).unwrap_or_default();
    let flags = match (&host.flags, &task.become_.flags) {
        (Some(text), _) => crate::become_method::parse_flags(method, text).map_err(|e| {
            Diagnostic::new(format!("this host's ansible_become_flags, for {method}: {e}")).with_hint(e.hint())
        })?,
        (None, Some(written)) => crate::become_method::parse_flags(method, &written.text)
            .map_err(|e| Diagnostic::at(&written.span, e.to_string()).with_hint(e.hint()))?,
        (None, None) => Vec::new(),
    };
    let user = host.user.or_else(|| task.become_.user.clone()).unwrap_or_else(|| "root".into());
    Ok(Some(BecomeAs { user, method, flags }))
}

/// Render a task's arguments for this host and let the module build its op;
/// true when they or its files carry a value opened from a vault.
fn build_op(play: &Play, task: &Task, scope: &Scope, intent: Intent) -> Result<(push_modules::Op, bool), Diagnostic> {
    let module = task.module;
    let mut args = serde_json::Map::new();
    // A module push lacks fails on the host whatever its arguments say.
    for (name, raw) in task.args.values.iter().filter(|_| module.checks_args()) {
        let span = task.args.value_span(name).unwrap_or(&task.span);
        let shell_text = matches!(module.name(), "shell" | "command") && matches!(name.as_str(), "_raw_params" | "cmd");
        let value = match (shell_text, raw) {
            // Values interpolated into a command line are escaped for where
            // they land, so they stay data: `shell: echo "{{ v }}"` can never
            // run what `v` holds.
            (true, Value::String(s)) if module.name() == "command" => {
                let words = scope.render_argv(s).map_err(|e| template_diag(span, e))?;
                args.insert("argv".into(), Value::Array(words.into_iter().map(Value::String).collect()));
                continue;
            }
            (true, Value::String(s)) => {
                Value::String(scope.render_text(s, Mode::Shell).map_err(|e| template_diag(span, e))?)
            }
            _ => scope.render_json(raw, Mode::Plain).map_err(|e| template_diag(span, e))?,
        };
        let key = if shell_text && name == "cmd" { "_raw_params".to_string() } else { name.clone() };
        args.insert(key, value);
    }
    strip_omitted(&mut args);
    let lookup = FileLookup {
        base_dir: &play.base_dir,
        role_dir: task.role_dir.as_deref(),
        scope,
        carries_secret: std::cell::Cell::new(false),
    };
    let args_secret = args.values().any(crate::vault::json_carries_secret);
    let arg_error = |e: push_modules::ArgError| {
        let span = e
            .arg_name()
            .and_then(|n| match e {
                push_modules::ArgError::Unknown { .. } => task.args.key_span(n),
                _ => task.args.value_span(n).or_else(|| task.args.key_span(n)),
            })
            .unwrap_or(&task.span);
        let d = Diagnostic::at(span, format!("{}: {e}", module.name()));
        match e.hint() {
            Some(h) => d.with_hint(h),
            None => d,
        }
    };
    let op = match intent {
        Intent::Rollback => push_modules::plan_rollback(module, args).map_err(arg_error),
        Intent::ConvergePinned(resolver) if !module.pinned_image_args().is_empty() => {
            // The arguments are checked before any registry is asked: a typo
            // is reported as one, not as an unreachable registry.
            push_modules::plan(module, args.clone(), &lookup).map_err(arg_error)?;
            pin_images(module, task, scope, resolver, &mut args)?;
            push_modules::plan(module, args, &lookup).map_err(arg_error)
        }
        _ => push_modules::plan(module, args, &lookup).map_err(arg_error),
    }?;
    Ok((op, args_secret || lookup.carries_secret.get()))
}

/// Replace image tags with `tag@digest`, resolved once per run.
fn pin_images(
    module: &dyn push_modules::Module,
    task: &Task,
    scope: &Scope,
    resolver: &DigestResolver,
    args: &mut serde_json::Map<String, Value>,
) -> Result<(), Diagnostic> {
    let insecure: Vec<String> = match scope.get("push_insecure_registries") {
        Ok(Some(Value::Array(items))) => items.iter().filter_map(|i| i.as_str().map(String::from)).collect(),
        Ok(Some(Value::String(s))) => s.split(',').map(|s| s.trim().to_string()).collect(),
        _ => Vec::new(),
    };
    let credential = task_credential(args);
    for &name in module.pinned_image_args() {
        if let Some(Value::String(reference)) = args.get(name) {
            let span = task.args.value_span(name).unwrap_or(&task.span);
            let pinned = resolver.pin(reference, &insecure, credential.clone()).map_err(|e| {
                Diagnostic::at(span, format!("cannot pin image `{reference}` to a digest: {e}")).with_hint(
                    "check the registry, the tag and the credentials (the task's `username`/`password`, or \
                     `docker login` on this machine), name the image by digest, or run with `--no-pin` to use \
                     tags as written (which turns off revert and rollback by digest)",
                )
            })?;
            args.insert(name.to_string(), Value::String(pinned));
        }
    }
    Ok(())
}

/// The registry credentials a task's arguments give (`docker_image`'s
/// `username`, `password` and optional `registry`), for pinning.
fn task_credential(args: &serde_json::Map<String, Value>) -> Option<(Option<String>, Credential)> {
    let text = |k: &str| args.get(k).and_then(Value::as_str);
    let username = text("username").or_else(|| text("registry_username"))?;
    let password = text("password").or_else(|| text("registry_password"))?;
    let credential = Credential::Basic { username: username.to_string(), password: password.to_string() };
    Some((text("registry").map(String::from), credential))
}

/// Where a `shell:` or `command:` text splices `| safe` text: shell code
/// that no escaping guards. Said on every run, `--check` included, so a
/// reviewer sees each place a value is trusted as code.
pub fn raw_shell_warnings(play: &Play, selected: &[usize]) -> Vec<String> {
    static SAFE_FILTER: OnceLock<regex::Regex> = OnceLock::new();
    let safe_filter = SAFE_FILTER.get_or_init(|| regex::Regex::new(r"\|\s*safe\b").expect("valid regex"));
    let mut warnings = Vec::new();
    for &index in selected {
        let task = &play.tasks[index];
        if !matches!(task.module.name(), "shell" | "command") {
            continue;
        }
        for name in ["_raw_params", "cmd"] {
            if let Some(Value::String(text)) = task.args.values.get(name) {
                if safe_filter.is_match(text) {
                    let span = task.args.value_span(name).unwrap_or(&task.span);
                    warnings.push(format!(
                        "{span}: task `{}` splices `| safe` text into its command unescaped: what that value holds runs as shell code",
                        task.display_name()
                    ));
                }
            }
        }
    }
    warnings
}

/// Every variable a task reads must exist for this host, or be registered
/// by an earlier task: checked for all tasks before connecting, so a typo in
/// a late task cannot fail a host halfway through.
pub fn check_reads(play: &Play, selected: &[usize], scope: &Scope) -> Result<(), Diagnostic> {
    let mut registered: HashSet<&str> = HashSet::new();
    // After an include_vars, any name may come from its files: what is
    // still missing is found out when the task's segment is planned.
    let mut files_may_define = false;
    for &index in selected {
        let task = &play.tasks[index];
        let task_scope = task_scope(task, scope);
        for name in &task.reads {
            let missing = !files_may_define
                && !task_scope.contains(name)
                && !registered.contains(name.as_str())
                && !is_builtin(name);
            if missing && !guarded(task, name, &task_scope, &registered) {
                return Err(Diagnostic::at(where_read(task, name), format!("undefined variable `{name}`"))
                    .with_hint("define it in the play's vars, group_vars/host_vars, or pass it with -e"));
            }
        }
        if let Some(r) = &task.register {
            registered.insert(r);
        }
        match task.action {
            Action::SetFact => registered.extend(task.args.values.keys().map(String::as_str)),
            Action::IncludeVars => files_may_define = true,
            Action::Module | Action::IncludeTasks(_) | Action::Meta(_) => {}
        }
    }
    Ok(())
}

/// Does every place that reads the missing `name` cope without it
/// (`x | default(..)`, `x is defined`)? Places that also read a result
/// registered earlier cannot be tried yet: they count as coping, and are
/// checked when their segment is planned.
fn guarded(task: &Task, name: &str, scope: &Scope, registered: &HashSet<&str>) -> bool {
    let loop_vars: Vec<&str> = task.loop_.iter().flat_map(|l| l.variables()).collect();
    let try_text = |text: &str, expression: bool| {
        let roots = crate::template::referenced_roots(text, expression);
        if !roots.contains(name) {
            return true;
        }
        if roots.iter().any(|r| registered.contains(r.as_str()) || loop_vars.contains(&r.as_str())) {
            return true;
        }
        if expression {
            scope.eval_bool(text).is_ok()
        } else {
            scope.render_str(text, Mode::Plain).is_ok()
        }
    };
    let mut texts: Vec<&str> = task.args.values.values().flat_map(strings_in).collect();
    // with_first_found leaves out the names that read an undefined variable.
    if let Some(l) = task.loop_.as_ref().filter(|l| l.kind != crate::playbook::LoopKind::FirstFound) {
        texts.extend(strings_in(&l.items));
    }
    task.when.iter().all(|c| try_text(&c.text, true))
        && texts.iter().all(|t| try_text(t, false))
        && task.name.as_deref().is_none_or(|n| try_text(n, false))
}

/// The place in a task that reads `name`: a `when`, an argument, the loop.
fn where_read<'a>(task: &'a Task, name: &str) -> &'a Span {
    let reads = |s: &str, expr: bool| crate::template::referenced_roots(s, expr).contains(name);
    if let Some(c) = task.when.iter().find(|c| reads(&c.text, true)) {
        return &c.span;
    }
    for (arg, value) in &task.args.values {
        if strings_in(value).iter().any(|s| reads(s, false)) {
            return task.args.value_span(arg).unwrap_or(&task.span);
        }
    }
    match &task.loop_ {
        Some(l) if strings_in(&l.items).iter().any(|s| reads(s, false)) => &l.span,
        _ => &task.span,
    }
}

/// Names templates may use that are not variables.
fn is_builtin(name: &str) -> bool {
    matches!(
        name,
        "range"
            | "lipsum"
            | "dict"
            | "namespace"
            | "loop"
            | "true"
            | "false"
            | "none"
            | "True"
            | "False"
            | "None"
            | "omit"
            | "lookup"
            | "query"
            | "q"
            // Set for the tasks of a rescue.
            | "ansible_failed_task"
            | "ansible_failed_result"
    )
}

/// The variables every task of a play sees on a host, lowest first:
/// role defaults, inventory, play vars, vars_files, role vars, extra vars.
pub fn play_scope(play: &Play, inventory_vars: Vars, extra: &Arc<Vars>, native: HashMap<String, JinjaValue>) -> Scope {
    let mut native = native;
    for (name, value) in magic_vars(play) {
        native.entry(name).or_insert(value);
    }
    Scope::new(
        vec![
            Arc::clone(&play.role_defaults),
            Arc::new(inventory_vars),
            Arc::clone(&play.vars),
            Arc::clone(&play.vars_files),
            Arc::clone(&play.role_vars),
            Arc::clone(extra),
        ],
        native,
    )
}

#[cfg(test)]
mod become_tests {
    use super::*;
    use crate::become_method::Method;
    use crate::playbook::{become_by_default, load_playbook, Become};

    const PLAYBOOK: &str = r#"
- hosts: all
  become: true
  become_user: play-user
  tasks:
    - name: from the play
      command: "true"
    - name: own keywords
      command: "true"
      become_user: task-user
      become_method: su
      become_flags: "-l"
    - name: off
      command: "true"
      become: false
    - name: flags only
      command: "true"
      become_flags: "-H"
- hosts: all
  tasks:
    - name: unsaid
      command: "true"
"#;

    type Resolved = Result<Option<(String, Method, Vec<String>)>, String>;

    /// Who each task becomes, given the command line's defaults and a
    /// host's variables.
    fn resolved(cli: &Become, host_vars: &[(&str, Value)]) -> Vec<Resolved> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.yml");
        std::fs::write(&path, PLAYBOOK).unwrap();
        let mut playbook = load_playbook(&path).unwrap();
        become_by_default(&mut playbook, cli);
        let vars: Vars = host_vars.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        let mut out = Vec::new();
        for play in &playbook.plays {
            let scope = play_scope(play, vars.clone(), &Arc::new(Vars::new()), HashMap::new());
            for task in &play.tasks {
                let b = resolve_become(task, &scope).map_err(|d| d.message);
                out.push(b.map(|b| b.map(|b| (b.user, b.method, b.flags))));
            }
        }
        out
    }

    fn as_(user: &str, method: Method, flags: &[&str]) -> Resolved {
        Ok(Some((user.into(), method, flags.iter().map(|f| f.to_string()).collect())))
    }

    #[test]
    fn the_playbook_alone() {
        assert_eq!(
            resolved(&Become::default(), &[]),
            [
                as_("play-user", Method::Sudo, &[]),
                as_("task-user", Method::Su, &["-l"]),
                Ok(None),
                as_("play-user", Method::Sudo, &["-H"]),
                Ok(None),
            ]
        );
    }

    /// `-b --become-user cli-user --become-method su` fills only what the
    /// playbook leaves unsaid; flags meant for sudo are refused under su.
    #[test]
    fn the_command_line_fills_what_the_playbook_leaves_unsaid() {
        let cli = Become {
            enabled: Some(crate::playbook::Flag::Fixed(true)),
            user: Some("cli-user".into()),
            method: Some(Method::Su),
            flags: None,
        };
        assert_eq!(
            resolved(&cli, &[]),
            [
                as_("play-user", Method::Su, &[]),
                as_("task-user", Method::Su, &["-l"]),
                Ok(None),
                Err("`become_flags` has `-H`, which push does not pass to su".into()),
                as_("cli-user", Method::Su, &[]),
            ]
        );
    }

    /// A host's `ansible_become*` variables win over every keyword, a
    /// `become: false` included, as in Ansible.
    #[test]
    fn host_variables_win() {
        let host = [
            ("ansible_become", Value::String("yes".into())),
            ("ansible_become_user", Value::String("host-user".into())),
            ("ansible_become_method", Value::String("sudo".into())),
            ("ansible_become_flags", Value::String("-E".into())),
        ];
        let all = as_("host-user", Method::Sudo, &["-E"]);
        assert_eq!(resolved(&Become::default(), &host), vec![all; 5]);
        let off = resolved(&Become::default(), &[("ansible_become", Value::Bool(false))]);
        assert_eq!(off, vec![Ok(None); 5]);
        let user_only = resolved(&Become::default(), &[("ansible_become_user", Value::String("h".into()))]);
        assert_eq!(user_only[0], as_("h", Method::Sudo, &[]));
        assert_eq!(user_only[4], Ok(None), "ansible_become_user alone does not turn become on");
        let bad = resolved(&Become::default(), &[("ansible_become_method", Value::String("doas".into()))]);
        assert!(bad[0].as_ref().unwrap_err().contains("`doas` is not supported"), "{bad:?}");
    }
}

#[cfg(test)]
mod magic_tests {
    use super::*;
    use crate::playbook::load_playbook;

    #[test]
    fn magic_vars_and_omit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.yml");
        std::fs::write(&path, "- hosts: all\n  tasks:\n    - command: \"true\"\n").unwrap();
        let playbook = load_playbook(&path).unwrap();
        let play = &playbook.plays[0];
        let scope = play_scope(play, Vars::new(), &Arc::new(Vars::new()), HashMap::new());
        let render = |t: &str| scope.render_str(t, Mode::Plain).unwrap();
        let dir_text = dir.path().canonicalize().unwrap().display().to_string();
        assert_eq!(render("{{ playbook_dir }}"), Value::String(dir_text));
        assert_eq!(render("{{ ansible_managed }}"), serde_json::json!("Ansible managed"));
        assert_eq!(render("{{ ansible_version.full is version('2.9', '>=') }}"), serde_json::json!(true));
        assert_eq!(render("{{ nope | default(omit) }}"), serde_json::json!(omit_token()));

        let mut args = serde_json::json!({
            "path": "/x",
            "mode": omit_token(),
            "list": ["a", omit_token()],
            "map": {"k": omit_token(), "j": 1},
        });
        strip_omitted(args.as_object_mut().unwrap());
        assert_eq!(args, serde_json::json!({"path": "/x", "list": ["a"], "map": {"j": 1}}));
    }
}
