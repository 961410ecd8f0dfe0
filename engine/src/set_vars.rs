//! `set_fact` and `include_vars`: tasks that give a host variables, decided
//! on the controller while the host's plan is made. Nothing is sent for
//! them; the variables count from the next task on, above play, role and
//! task vars and below extra vars, as in Ansible.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::diagnostic::Diagnostic;
use crate::plan::{template_diag, FileLookup};
use crate::playbook::{Play, Task};
use crate::template::{Mode, Scope};

/// What a controller action gave: the variables, and the result
/// `register:` keeps (Ansible's shape: `ansible_facts`, `changed: false`).
#[derive(Debug, Clone)]
pub struct Given {
    pub vars: Vec<(String, Value)>,
    pub result: Value,
}

/// `set_fact: {name: value, ...}` (or `name=value ...`): each value
/// rendered in the task's scope; `cacheable` is a flag, not a variable.
pub fn set_fact(task: &Task, scope: &Scope) -> Result<Given, Diagnostic> {
    let mut vars = Vec::new();
    for (key, raw) in task.args.values.iter().filter(|(k, _)| k.as_str() != "cacheable") {
        let span = task.args.key_span(key).unwrap_or(&task.span);
        // Ansible templates the names too (kept for old playbooks).
        let name = scope.render_text(key, Mode::Plain).map_err(|e| template_diag(span, e))?;
        if !crate::template::is_variable_name(&name) {
            return Err(Diagnostic::at(span, format!("set_fact: `{name}` is not a valid variable name"))
                .with_hint("names are letters, digits and `_`, not starting with a digit"));
        }
        let value_span = task.args.value_span(key).unwrap_or(span);
        let value = scope.render_json(raw, Mode::Plain).map_err(|e| template_diag(value_span, e))?;
        vars.push((name, value));
    }
    if vars.is_empty() {
        return Err(Diagnostic::at(&task.span, "set_fact needs at least one variable")
            .with_hint("e.g. `set_fact: {port: 8080}` or `set_fact: port=8080`"));
    }
    let facts: Map<String, Value> = vars.iter().cloned().collect();
    Ok(Given { vars, result: json!({"ansible_facts": facts, "changed": false}) })
}

const FILE_ARGS: &[&str] = &["file", "_raw_params"];
const DIR_ARGS: &[&str] =
    &["dir", "depth", "files_matching", "ignore_files", "extensions", "ignore_unknown_extensions"];
const ANY_ARGS: &[&str] = &["name", "hash_behaviour"];

/// `include_vars`: one file (`file:` or the free form), found as Ansible
/// finds it (the role's `vars/`, the role, the playbook's `vars/`, the
/// playbook's folder), or every YAML/JSON file of a folder in name order;
/// under `name:` as one mapping.
pub fn include_vars(play: &Play, task: &Task, scope: &Scope) -> Result<Given, Diagnostic> {
    let args = render_args(task, scope)?;
    for key in args.keys() {
        if ![FILE_ARGS, DIR_ARGS, ANY_ARGS].concat().contains(&key.as_str()) {
            let span = task.args.key_span(key).unwrap_or(&task.span);
            return Err(Diagnostic::at(span, format!("include_vars has no argument `{key}`"))
                .with_hint(format!("it takes: {}", [FILE_ARGS, DIR_ARGS, ANY_ARGS].concat().join(", "))));
        }
    }
    let text = |k: &str| args.get(k).and_then(Value::as_str).map(str::to_string);
    let lookup = FileLookup::new(&play.base_dir, task.role_dir.as_deref(), scope);
    let files: Vec<PathBuf> = match (text("file").or_else(|| text("_raw_params")), text("dir")) {
        (Some(_), Some(_)) => {
            return Err(Diagnostic::at(&task.span, "include_vars takes `file` or `dir`, not both"));
        }
        (Some(file), None) => {
            vec![lookup.find(&file, "vars").map_err(|e| {
                Diagnostic::at(&task.span, format!("include_vars: {e}")).with_hint(
                    "a relative path is looked up in the role's vars/, the role, vars/ beside the playbook, then beside the playbook",
                )
            })?]
        }
        (None, Some(dir)) => dir_files(play, task, &dir, &args)?,
        (None, None) => {
            return Err(Diagnostic::at(&task.span, "include_vars needs a file or a `dir`")
                .with_hint("e.g. `include_vars: vars/debian.yml` or `include_vars: {dir: vars}`"));
        }
    };
    let mut loaded = Map::new();
    for file in &files {
        let (_, doc) = crate::yaml::load(file)?;
        match doc.to_json() {
            Value::Object(map) => loaded.extend(map),
            Value::Null => {}
            _ => {
                return Err(doc
                    .type_error(&format!("the variables in {}", file.display()), "a mapping of names to values")
                    .with_hint("an include_vars file is a YAML mapping, like group_vars"))
            }
        }
    }
    let facts = match text("name") {
        Some(name) => [(name, Value::Object(loaded))].into_iter().collect(),
        None => loaded,
    };
    let included: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let result = json!({"ansible_facts": facts, "ansible_included_var_files": included, "changed": false});
    Ok(Given { vars: facts.into_iter().collect(), result })
}

fn render_args(task: &Task, scope: &Scope) -> Result<Map<String, Value>, Diagnostic> {
    let mut out = Map::new();
    for (key, raw) in &task.args.values {
        let span = task.args.value_span(key).unwrap_or(&task.span);
        out.insert(key.clone(), scope.render_json(raw, Mode::Plain).map_err(|e| template_diag(span, e))?);
    }
    Ok(out)
}

/// The files of `include_vars: {dir: ...}`: under a role, in its `vars/`;
/// else beside the playbook. Sorted by path, as Ansible walks them.
fn dir_files(play: &Play, task: &Task, dir: &str, args: &Map<String, Value>) -> Result<Vec<PathBuf>, Diagnostic> {
    let root = match &task.role_dir {
        Some(role) if dir.split('/').next() == Some("vars") => role.join(dir),
        Some(role) => role.join("vars").join(dir),
        None => play.base_dir.join(dir),
    };
    if !root.is_dir() {
        return Err(Diagnostic::at(&task.span, format!("include_vars: {} is not a directory", root.display())));
    }
    let list = |k: &str| -> Vec<String> {
        match args.get(k) {
            Some(Value::Array(items)) => items.iter().filter_map(|i| i.as_str().map(String::from)).collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    };
    let extensions = match list("extensions") {
        e if e.is_empty() => vec!["yaml".to_string(), "yml".to_string(), "json".to_string()],
        e => e,
    };
    let ignore = list("ignore_files");
    let matching = match args.get("files_matching").and_then(Value::as_str) {
        Some(p) => Some(
            regex::Regex::new(p)
                .map_err(|e| Diagnostic::at(&task.span, format!("include_vars: files_matching: {e}")))?,
        ),
        None => None,
    };
    let depth = args.get("depth").and_then(Value::as_u64).unwrap_or(0) as usize;
    let mut files = Vec::new();
    walk(&root, 1, depth, &mut files);
    files.sort();
    Ok(files
        .into_iter()
        .filter(|f| {
            let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let ext = f.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
            extensions.contains(&ext)
                && !ignore.iter().any(|i| glob::Pattern::new(i).is_ok_and(|p| p.matches(&name)))
                && matching.as_ref().is_none_or(|m| m.is_match(&name))
        })
        .collect())
}

/// Files under `dir`, at most `depth` levels down (0: all).
fn walk(dir: &Path, level: usize, depth: usize, out: &mut Vec<PathBuf>) {
    if depth != 0 && level > depth {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, level + 1, depth, out);
        } else {
            out.push(path);
        }
    }
}
