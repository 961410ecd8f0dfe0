//! A loop's items, from its rendered terms, as ansible-core's lookup
//! plugins make them for `with_<lookup>` (`items`, `list`, `dict`,
//! `nested`, `together`, `subelements`, `sequence`, `indexed_items`,
//! `fileglob`, `first_found`), and as `loop:` takes its list. Python's
//! ways are kept where they show: iterating a string gives its characters,
//! a mapping its keys, and `_flatten` opens one level of lists.
//!
//! The unit tests compare every case with what ansible-core's own plugins
//! give for the same terms.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::diagnostic::Diagnostic;
use crate::playbook::{LoopKind, LoopSpec};
use crate::template::{Mode, Scope};

/// Why a loop has no items.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoopError {
    #[error("`loop` must give a list, it gave {0}")]
    LoopNotAList(String),
    #[error("`with_list` expects a list, it got {0}")]
    ListNotAList(String),
    #[error("`with_dict` expects a mapping (or a list of them), it got {0}: {1}")]
    DictNotAMapping(String, String),
    #[error("`{keyword}` cannot go through {got}: it expects lists")]
    NotIterable { keyword: &'static str, got: String },
    #[error("`{0}` needs at least one list")]
    NoTerms(&'static str),
    #[error("`with_subelements` expects a list of two or three items{0}")]
    SubelementsTerms(&'static str),
    #[error("`with_subelements` expects mappings in its list, got {0}")]
    SubelementsNotAMapping(String),
    #[error("`with_subelements`: no key `{key}` in {item}")]
    SubelementsMissing { key: String, item: String },
    #[error("`with_subelements`: `{key}` should be a mapping, it is {got}")]
    SubelementsNotADict { key: String, got: String },
    #[error("`with_subelements`: `{key}` should be a list, it is {got}")]
    SubelementsNotAList { key: String, got: String },
    #[error("`with_sequence`: {0}")]
    Sequence(String),
    #[error("`with_fileglob` takes file patterns (strings), not {0}")]
    FileglobTerm(String),
    #[error("`with_first_found` takes file names, lists or mappings with `files`/`paths`/`skip`, not {0}")]
    FirstFoundTerm(String),
    #[error("`with_first_found`: no file was found (looked for {0})")]
    NothingFound(String),
}

impl LoopError {
    pub fn hint(&self) -> &'static str {
        match self {
            LoopError::LoopNotAList(_) => "e.g. `loop: [a, b]`, or `loop: \"{{ users | dict2items }}\"` for a mapping",
            LoopError::ListNotAList(_) => "give `with_list` a list, or use `with_items`",
            LoopError::DictNotAMapping(..) => "give `with_dict` a mapping; for a list, use `with_items` or `loop`",
            LoopError::NotIterable { .. } | LoopError::NoTerms(_) => "give it lists, e.g. `- [a, b]` then `- [1, 2]`",
            LoopError::SubelementsTerms(_) | LoopError::SubelementsNotAMapping(_) => {
                "write `with_subelements: [\"{{ users }}\", authorized]`, optionally with `{skip_missing: true}` third"
            }
            LoopError::SubelementsMissing { .. } => {
                "add the key to every item, or `- {skip_missing: true}` as the third term to skip items without it"
            }
            LoopError::SubelementsNotADict { .. } | LoopError::SubelementsNotAList { .. } => {
                "the key path (`a.b`) must go through mappings and end at a list"
            }
            LoopError::Sequence(_) => {
                "e.g. `with_sequence: start=1 end=5`, `count=4`, or `start=0 end=32 format=u%02x`"
            }
            LoopError::FileglobTerm(_) => "e.g. `with_fileglob: [\"conf.d/*.conf\"]`",
            LoopError::FirstFoundTerm(_) => {
                "e.g. `with_first_found: [\"{{ ansible_distribution }}.yml\", default.yml]`"
            }
            LoopError::NothingFound(_) => "add one of the files, or `- {files: [...], skip: true}` to skip the task",
        }
    }
}

/// Where controller-side files of a task are looked for: its role, then the
/// playbook's folder, as Ansible's `ansible_search_path` has them.
#[derive(Debug, Clone)]
pub struct SearchPaths {
    pub role_dir: Option<PathBuf>,
    pub base_dir: PathBuf,
    /// `with_first_found`'s subfolder: `templates` for a template task,
    /// `vars` for include_vars, else `files` (Ansible picks it from the
    /// task's action name).
    pub first_found_subdir: &'static str,
}

impl SearchPaths {
    /// The task's search path: the role, the role's `tasks/`, the playbook
    /// folder (ansible_search_path, with the basedir appended).
    fn stack(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Some(role) = &self.role_dir {
            out.push(absolute(role));
            out.push(absolute(&role.join("tasks")));
        }
        let base = absolute(&self.base_dir);
        if !out.contains(&base) {
            out.push(base);
        }
        out
    }

    /// Ansible's `path_dwim_relative_stack`: where a relative `needle` is
    /// looked for, in order; an absolute one (or `~/...`) only as itself.
    pub fn candidates(&self, subdir: &str, needle: &str) -> Vec<PathBuf> {
        if needle.starts_with('/') {
            return vec![PathBuf::from(needle)];
        }
        if let Some(rest) = needle.strip_prefix("~/") {
            return vec![std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(rest)];
        }
        // `files/x.conf` is not looked for as `files/files/x.conf`.
        let with_subdir = needle.split('/').next() != Some(subdir);
        let mut out = Vec::new();
        let mut add = |p: &Path| {
            if with_subdir {
                out.push(p.join(subdir).join(needle));
            }
            out.push(p.join(needle));
        };
        for p in self.stack() {
            add(&p);
        }
        // The basedir again, as Ansible's last resort (already in the stack
        // for a play's task: the same places, looked at twice).
        add(&absolute(&self.base_dir));
        out
    }

    fn find(&self, subdir: &str, needle: &str) -> Option<PathBuf> {
        self.candidates(subdir, needle).into_iter().find(|p| p.exists())
    }
}

/// The folder `with_first_found` looks in, picked as Ansible picks it from
/// the task's action name: `templates` for one with `template` in it,
/// `vars` for one with `var` (include_vars), else `files`.
pub fn first_found_subdir(action: &str) -> &'static str {
    if action.contains("template") {
        "templates"
    } else if action.contains("var") {
        "vars"
    } else {
        "files"
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// One pass of a looping task.
#[derive(Debug, Clone)]
pub struct Iteration {
    /// The item's place in the loop, from 1.
    pub position: usize,
    pub item: Value,
    /// The variables the pass sees, which its registered result carries
    /// too: the loop variable, `ansible_loop_var`, and with `index_var`
    /// and `extended` the index and `ansible_loop`.
    pub vars: Map<String, Value>,
}

/// A task's items on one host: its terms rendered with the host's
/// variables, then made into items as the `with_` lookup makes them.
pub fn task_items(spec: &LoopSpec, scope: &Scope, paths: &SearchPaths) -> Result<Vec<Value>, Diagnostic> {
    let terms = if spec.kind == LoopKind::FirstFound {
        // Ansible leaves out the names that use an undefined variable
        // (`{{ ansible_distribution }}.yml` before facts), for with_first_found only.
        render_defined(&spec.items, scope)
            .map_err(|e| crate::plan::template_diag(&spec.span, e))?
            .unwrap_or(Value::Null)
    } else {
        scope.render_json(&spec.items, Mode::Plain).map_err(|e| crate::plan::template_diag(&spec.span, e))?
    };
    items(spec.kind, terms, paths).map_err(|e| Diagnostic::at(&spec.span, e.to_string()).with_hint(e.hint()))
}

/// `v` rendered, without the strings (list items, mapping values) that
/// read an undefined variable; None when `v` itself does.
fn render_defined(v: &Value, scope: &Scope) -> Result<Option<Value>, crate::template::TemplateError> {
    Ok(match v {
        Value::String(s) => match scope.render_str(s, Mode::Plain) {
            Ok(v) => Some(v),
            Err(e) if e.message.starts_with("undefined variable") => None,
            Err(e) => return Err(e),
        },
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .map(|i| render_defined(i, scope))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .flatten()
                .collect(),
        )),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                if let Some(v) = render_defined(v, scope)? {
                    out.insert(k.clone(), v);
                }
            }
            Some(Value::Object(out))
        }
        other => Some(other.clone()),
    })
}

/// The passes of a loop over `items`, with the variables `loop_control`
/// asks for, as Ansible's task executor sets them.
pub fn iterations(spec: &LoopSpec, items: Vec<Value>) -> Vec<Iteration> {
    let length = items.len();
    let all = Value::Array(items.clone());
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let mut vars = Map::new();
            vars.insert(spec.loop_var.clone(), item.clone());
            vars.insert("ansible_loop_var".into(), Value::String(spec.loop_var.clone()));
            if let Some(index_var) = &spec.index_var {
                vars.insert(index_var.clone(), i.into());
                vars.insert("ansible_index_var".into(), Value::String(index_var.clone()));
            }
            if spec.extended {
                let mut l = Map::new();
                l.insert("index".into(), (i + 1).into());
                l.insert("index0".into(), i.into());
                l.insert("first".into(), (i == 0).into());
                l.insert("last".into(), (i + 1 == length).into());
                l.insert("length".into(), length.into());
                l.insert("revindex".into(), (length - i).into());
                l.insert("revindex0".into(), (length - i - 1).into());
                if spec.extended_allitems {
                    l.insert("allitems".into(), all.clone());
                }
                if let Some(next) = items.get(i + 1) {
                    l.insert("nextitem".into(), next.clone());
                }
                if i > 0 {
                    l.insert("previtem".into(), items[i - 1].clone());
                }
                vars.insert("ansible_loop".into(), Value::Object(l));
            }
            Iteration { position: i + 1, item: item.clone(), vars }
        })
        .collect()
}

/// `loop_control.pause` for this host, in seconds.
pub fn pause(spec: &LoopSpec, scope: &Scope) -> Result<Option<f64>, Diagnostic> {
    let Some((raw, span)) = &spec.pause else { return Ok(None) };
    let value = scope.render_json(raw, Mode::Plain).map_err(|e| crate::plan::template_diag(span, e))?;
    let secs = crate::playbook::pause_seconds(&value)
        .map_err(|m| Diagnostic::at(span, m).with_hint(crate::playbook::PAUSE_HINT))?;
    Ok((secs > 0.0).then_some(secs))
}

/// The items of a loop of `kind` whose terms rendered to `terms`.
pub fn items(kind: LoopKind, terms: Value, paths: &SearchPaths) -> Result<Vec<Value>, LoopError> {
    if kind == LoopKind::Loop {
        return match terms {
            Value::Array(items) => Ok(items),
            other => Err(LoopError::LoopNotAList(type_name(&other))),
        };
    }
    // A `with_` keyword's terms are a list; anything else is one term.
    let terms = match terms {
        Value::Array(terms) => terms,
        other => vec![other],
    };
    match kind {
        LoopKind::Loop => unreachable!("handled above"),
        LoopKind::Items => Ok(flatten(&terms)),
        LoopKind::List => Ok(terms),
        LoopKind::Dict => dict(terms),
        LoopKind::IndexedItems => {
            Ok(flatten(&terms).into_iter().enumerate().map(|(i, v)| Value::Array(vec![i.into(), v])).collect())
        }
        LoopKind::Nested => nested(terms),
        LoopKind::Together => together(terms),
        LoopKind::Subelements => subelements(terms),
        LoopKind::Sequence => sequence(&terms),
        LoopKind::Fileglob => fileglob(&terms, paths),
        LoopKind::FirstFound => first_found(&terms, paths),
    }
}

fn type_name(v: &Value) -> String {
    push_modules::args::type_name(v)
}

/// What Python's `for x in v` goes through: a list's items, a string's
/// characters, a mapping's keys; None for what it cannot go through.
fn py_iter(v: &Value) -> Option<Vec<Value>> {
    match v {
        Value::Array(items) => Some(items.clone()),
        Value::String(s) => Some(s.chars().map(|c| Value::String(c.to_string())).collect()),
        Value::Object(map) => Some(map.keys().map(|k| Value::String(k.clone())).collect()),
        _ => None,
    }
}

/// LookupBase._flatten: lists among the terms are opened, one level.
fn flatten(terms: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for t in terms {
        match t {
            Value::Array(inner) => out.extend(inner.iter().cloned()),
            other => out.push(other.clone()),
        }
    }
    out
}

fn iter_or(v: &Value, keyword: &'static str) -> Result<Vec<Value>, LoopError> {
    py_iter(v).ok_or_else(|| LoopError::NotIterable { keyword, got: type_name(v) })
}

fn dict(terms: Vec<Value>) -> Result<Vec<Value>, LoopError> {
    let mut out = Vec::new();
    for term in terms {
        let Value::Object(map) = term else { return Err(LoopError::DictNotAMapping(type_name(&term), shown(&term))) };
        for (k, v) in map {
            let mut pair = Map::new();
            pair.insert("key".into(), Value::String(k));
            pair.insert("value".into(), v);
            out.push(Value::Object(pair));
        }
    }
    Ok(out)
}

fn nested(terms: Vec<Value>) -> Result<Vec<Value>, LoopError> {
    const K: &str = "with_nested";
    let mut terms = terms.into_iter();
    let Some(first) = terms.next() else { return Err(LoopError::NoTerms(K)) };
    let mut result = first;
    for next in terms {
        let (a, b) = (iter_or(&result, K)?, iter_or(&next, K)?);
        let mut combined = Vec::new();
        for x in &a {
            for y in &b {
                combined.push(Value::Array(flatten(&[x.clone(), y.clone()])));
            }
        }
        result = Value::Array(combined);
    }
    iter_or(&result, K)?.iter().map(|x| Ok(Value::Array(flatten(&iter_or(x, K)?)))).collect()
}

fn together(terms: Vec<Value>) -> Result<Vec<Value>, LoopError> {
    const K: &str = "with_together";
    if terms.is_empty() {
        return Err(LoopError::NoTerms(K));
    }
    let lists = terms.iter().map(|t| iter_or(t, K)).collect::<Result<Vec<_>, _>>()?;
    let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
    Ok((0..longest)
        .map(|i| {
            let row: Vec<Value> = lists.iter().map(|l| l.get(i).cloned().unwrap_or(Value::Null)).collect();
            Value::Array(flatten(&row))
        })
        .collect())
}

/// Python's `repr`-ish text of a value, for messages.
fn shown(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 120 {
        format!("{}...", text.chars().take(117).collect::<String>())
    } else {
        text
    }
}

fn is_false(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Bool(false)))
}

fn subelements(terms: Vec<Value>) -> Result<Vec<Value>, LoopError> {
    if !(2..=3).contains(&terms.len()) {
        return Err(LoopError::SubelementsTerms(""));
    }
    let Some(path) = terms[1].as_str() else {
        return Err(LoopError::SubelementsTerms(": first a mapping or a list, second a string naming the subkey"));
    };
    let subkeys: Vec<&str> = path.split('.').collect();
    let elements: Vec<Value> = match &terms[0] {
        // A registered result that was skipped altogether: nothing.
        Value::Object(map) if !is_false(map.get("skipped")) => return Ok(Vec::new()),
        Value::Object(map) => map.values().cloned().collect(),
        Value::Array(items) => items.clone(),
        _ => return Err(LoopError::SubelementsTerms(": first a mapping or a list, second a string naming the subkey")),
    };
    let skip_missing = match terms.get(2) {
        None => false,
        Some(Value::Object(flags)) => flags.get("skip_missing").is_some_and(truthy),
        Some(_) => return Err(LoopError::SubelementsTerms(": the optional third item must be a mapping of flags")),
    };
    let last = subkeys[subkeys.len() - 1];
    let mut out = Vec::new();
    for item0 in elements {
        let Value::Object(_) = &item0 else { return Err(LoopError::SubelementsNotAMapping(shown(&item0))) };
        if !is_false(item0.get("skipped")) {
            continue;
        }
        let mut item0 = item0;
        // The walk through the subkeys, as the plugin does it, down to the
        // list; the plugin pops the list out of the item it yields.
        let mut at: Vec<&str> = Vec::new();
        let mut sublist: Vec<Value> = Vec::new();
        let mut last_seen = false;
        for &subkey in &subkeys {
            if subkey == last {
                last_seen = true;
            }
            let sub = pointer(&item0, &at);
            let Some(value) = sub.and_then(|s| s.get(subkey)) else {
                if skip_missing {
                    continue;
                }
                return Err(LoopError::SubelementsMissing {
                    key: subkey.to_string(),
                    item: shown(sub.unwrap_or(&Value::Null)),
                });
            };
            if !last_seen {
                if !value.is_object() {
                    if skip_missing {
                        continue;
                    }
                    return Err(LoopError::SubelementsNotADict { key: subkey.to_string(), got: shown(value) });
                }
                at.push(subkey);
            } else {
                let Value::Array(list) = value else {
                    return Err(LoopError::SubelementsNotAList { key: subkey.to_string(), got: shown(value) });
                };
                sublist = list.clone();
                if let Some(Value::Object(map)) = pointer_mut(&mut item0, &at) {
                    map.shift_remove(subkey);
                }
            }
        }
        for item1 in sublist {
            out.push(Value::Array(vec![item0.clone(), item1]));
        }
    }
    Ok(out)
}

fn pointer<'v>(v: &'v Value, at: &[&str]) -> Option<&'v Value> {
    at.iter().try_fold(v, |v, k| v.get(*k))
}

fn pointer_mut<'v>(v: &'v mut Value, at: &[&str]) -> Option<&'v mut Value> {
    at.iter().try_fold(v, |v, k| v.get_mut(*k))
}

/// Ansible's non-strict boolean.
fn truthy(v: &Value) -> bool {
    push_modules::args::parse_bool(v).unwrap_or(false)
}

/// `with_sequence`'s options.
#[derive(Debug)]
struct Sequence {
    start: i64,
    end: Option<i64>,
    count: Option<i64>,
    stride: i64,
    format: String,
}

fn sequence(terms: &[Value]) -> Result<Vec<Value>, LoopError> {
    let mut out = Vec::new();
    for term in terms {
        let mut seq = Sequence { start: 1, end: None, count: None, stride: 1, format: "%d".into() };
        match term {
            Value::String(s) => {
                if !sequence_shortcut(s, &mut seq)? {
                    let words =
                        shlex::split(s).ok_or_else(|| LoopError::Sequence(format!("unbalanced quotes in {s:?}")))?;
                    let mut unknown = Vec::new();
                    for w in words {
                        // Ansible's parse_kv leaves words without `=` out.
                        let Some((k, v)) = w.split_once('=') else { continue };
                        if !sequence_option(&mut seq, k, &Value::String(v.to_string()))? {
                            unknown.push(k.to_string());
                        }
                    }
                    if !unknown.is_empty() {
                        return Err(LoopError::Sequence(format!("unrecognized arguments: {}", unknown.join(", "))));
                    }
                }
            }
            // The options as a mapping, as `query('sequence', start=1, end=5)` gives them.
            Value::Object(map) => {
                let mut unknown = Vec::new();
                for (k, v) in map {
                    if !v.is_null() && !sequence_option(&mut seq, k, v)? {
                        unknown.push(k.clone());
                    }
                }
                if !unknown.is_empty() {
                    return Err(LoopError::Sequence(format!("unrecognized arguments: {}", unknown.join(", "))));
                }
            }
            other => return Err(LoopError::Sequence(format!("cannot read arguments from {}", type_name(other)))),
        }
        out.extend(generate(seq)?.into_iter().map(Value::String));
    }
    Ok(out)
}

/// `[start-]end[/stride][:format]`; false when the term is not written so.
fn sequence_shortcut(term: &str, seq: &mut Sequence) -> Result<bool, LoopError> {
    static SHORTCUT: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = SHORTCUT.get_or_init(|| {
        let num = "(0?x?[0-9a-f]+)";
        regex::Regex::new(&format!("(?is)^({num}-)?{num}(/{num})?(:(.+))?$")).expect("valid regex")
    });
    let Some(c) = re.captures(term) else { return Ok(false) };
    for (group, key) in [(2, "start"), (3, "end"), (5, "stride"), (7, "format")] {
        if let Some(m) = c.get(group) {
            sequence_option(seq, key, &Value::String(m.as_str().to_string()))?;
        }
    }
    Ok(true)
}

/// Set one option; false for a name `with_sequence` does not have.
fn sequence_option(seq: &mut Sequence, key: &str, v: &Value) -> Result<bool, LoopError> {
    let int =
        || integer(v).ok_or_else(|| LoopError::Sequence(format!("`{key}` must be an integer, it is {}", shown(v))));
    match key {
        "start" => seq.start = int()?,
        "end" => seq.end = Some(int()?),
        "count" => seq.count = Some(int()?),
        "stride" => seq.stride = int()?,
        "format" => {
            seq.format = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// An integer as Ansible's config takes one: a number or a decimal text
/// without a fraction (`0600` is 600; hex is refused, as in 2.19).
fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => {
            let s = s.trim().replace('_', "");
            s.parse::<i64>().ok().or_else(|| {
                let f: f64 = s.parse().ok()?;
                (f.is_finite() && f.fract() == 0.0 && !s.to_ascii_lowercase().contains("inf")).then_some(f as i64)
            })
        }
        _ => None,
    }
}

fn generate(mut seq: Sequence) -> Result<Vec<String>, LoopError> {
    let err = |m: &str| Err(LoopError::Sequence(m.to_string()));
    let end = match (seq.count, seq.end) {
        (None, None) => return err("give `count` or `end`"),
        (Some(_), Some(_)) => return err("give `count` or `end`, not both"),
        (Some(0), None) => return Ok(Vec::new()),
        (Some(count), None) => seq.start + count * seq.stride - 1,
        (None, Some(end)) => end,
    };
    seq.end = Some(end);
    if seq.stride > 0 && end < seq.start {
        return err("to count backwards make stride negative");
    }
    if seq.stride < 0 && end > seq.start {
        return err("to count forward don't make stride negative");
    }
    if seq.stride == 0 {
        return Ok(Vec::new());
    }
    if seq.format.matches('%').count() != 1 {
        return Err(LoopError::Sequence(format!("bad formatting string: {}", seq.format)));
    }
    let mut out = Vec::new();
    let mut i = seq.start;
    let limit = 100_000;
    while (seq.stride > 0 && i <= end) || (seq.stride < 0 && i >= end) {
        if out.len() >= limit {
            return Err(LoopError::Sequence(format!("more than {limit} items")));
        }
        out.push(
            printf_one(&seq.format, i)
                .ok_or_else(|| LoopError::Sequence(format!("problem formatting {i} with {:?}", seq.format)))?,
        );
        i += seq.stride;
    }
    Ok(out)
}

/// Python's `FORMAT % number` for a format with one conversion:
/// flags `-+ 0#`, a width, a precision, and d/i/u/o/x/X/e/E/f/F/g/G/s/r/c.
fn printf_one(format: &str, n: i64) -> Option<String> {
    let (before, spec) = format.split_once('%')?;
    let chars: Vec<char> = spec.chars().collect();
    let mut i = 0;
    let (mut left, mut plus, mut space, mut zero, mut alt) = (false, false, false, false, false);
    while let Some(&c) = chars.get(i) {
        match c {
            '-' => left = true,
            '+' => plus = true,
            ' ' => space = true,
            '0' => zero = true,
            '#' => alt = true,
            _ => break,
        }
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while chars.get(*i).is_some_and(char::is_ascii_digit) {
            *i += 1;
        }
        chars[start..*i].iter().collect::<String>().parse::<usize>().ok()
    };
    let width = digits(&mut i).unwrap_or(0);
    let precision = if chars.get(i) == Some(&'.') {
        i += 1;
        Some(digits(&mut i).unwrap_or(0))
    } else {
        None
    };
    // Python accepts (and ignores) a length modifier.
    if chars.get(i).is_some_and(|c| matches!(c, 'h' | 'l' | 'L')) {
        i += 1;
    }
    let conv = *chars.get(i)?;
    let after: String = chars[i + 1..].iter().collect();
    let sign = if n < 0 {
        "-"
    } else if plus {
        "+"
    } else if space {
        " "
    } else {
        ""
    };
    let magnitude = n.unsigned_abs();
    let (mut body, prefix, numeric) = match conv {
        'd' | 'i' | 'u' => (magnitude.to_string(), "", true),
        'o' => (format!("{magnitude:o}"), if alt { "0o" } else { "" }, true),
        'x' => (format!("{magnitude:x}"), if alt { "0x" } else { "" }, true),
        'X' => (format!("{magnitude:X}"), if alt { "0X" } else { "" }, true),
        'f' | 'F' => (format!("{:.*}", precision.unwrap_or(6), magnitude as f64), "", true),
        'e' | 'E' => {
            let s = python_exp(magnitude as f64, precision.unwrap_or(6));
            (if conv == 'E' { s.to_uppercase() } else { s }, "", true)
        }
        's' | 'r' => {
            let mut s = n.to_string();
            if let Some(p) = precision {
                s.truncate(p);
            }
            (s, "", false)
        }
        'c' => (char::from_u32(u32::try_from(n).ok()?)?.to_string(), "", false),
        _ => return None,
    };
    if numeric && matches!(conv, 'd' | 'i' | 'u' | 'o' | 'x' | 'X') {
        if let Some(p) = precision {
            while body.len() < p {
                body.insert(0, '0');
            }
        }
    }
    let (sign, prefix) = if numeric { (sign, prefix) } else { ("", "") };
    let len = sign.len() + prefix.len() + body.chars().count();
    let pad = width.saturating_sub(len);
    let text = if left {
        format!("{sign}{prefix}{body}{}", " ".repeat(pad))
    } else if zero && numeric {
        format!("{sign}{prefix}{}{body}", "0".repeat(pad))
    } else {
        format!("{}{sign}{prefix}{body}", " ".repeat(pad))
    };
    Some(format!("{before}{text}{after}"))
}

/// `%e` as Python writes it: a two-digit exponent at least.
fn python_exp(v: f64, precision: usize) -> String {
    let s = format!("{v:.precision$e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

fn fileglob(terms: &[Value], paths: &SearchPaths) -> Result<Vec<Value>, LoopError> {
    let mut out = Vec::new();
    for term in terms {
        let Value::String(term) = term else { return Err(LoopError::FileglobTerm(type_name(term))) };
        let (dir, file) = match term.rsplit_once('/') {
            Some((dir, file)) => (Some(if dir.is_empty() { "/" } else { dir }), file),
            None => (None, term.as_str()),
        };
        let folders: Vec<PathBuf> = match dir {
            Some(dir) => paths.find("files", dir).into_iter().collect(),
            None => paths.stack().into_iter().flat_map(|p| [p.join("files"), p]).collect(),
        };
        // The first folder with a match gives the term's files.
        for folder in folders {
            let found = glob_files(&folder, file);
            if !found.is_empty() {
                out.extend(found.into_iter().map(Value::String));
                break;
            }
        }
    }
    Ok(out)
}

/// The files (not folders) in `folder` whose names match `pattern`, as
/// Python's glob matches them (a leading dot only by a leading dot),
/// sorted: Python gives them in the folder's own order, which no one can
/// rely on.
fn glob_files(folder: &Path, pattern: &str) -> Vec<String> {
    let full = format!("{}/{pattern}", glob::Pattern::escape(&folder.to_string_lossy()));
    let options =
        glob::MatchOptions { case_sensitive: true, require_literal_separator: true, require_literal_leading_dot: true };
    let Ok(found) = glob::glob_with(&full, options) else { return Vec::new() };
    let mut files: Vec<String> =
        found.flatten().filter(|p| p.is_file()).map(|p| p.to_string_lossy().into_owned()).collect();
    files.sort();
    files
}

fn first_found(terms: &[Value], paths: &SearchPaths) -> Result<Vec<Value>, LoopError> {
    let mut state = FirstFound::default();
    let search = state.process(terms)?;
    for name in &search {
        if let Some(found) = paths.find(paths.first_found_subdir, name) {
            return Ok(vec![Value::String(found.to_string_lossy().into_owned())]);
        }
    }
    if state.skip {
        return Ok(Vec::new());
    }
    Err(LoopError::NothingFound(search.join(", ")))
}

/// first_found's options, which a mapping term sets for the terms after it
/// too (the plugin keeps them between terms).
#[derive(Default)]
struct FirstFound {
    paths: Vec<String>,
    skip: bool,
}

impl FirstFound {
    fn process(&mut self, terms: &[Value]) -> Result<Vec<String>, LoopError> {
        let mut search = Vec::new();
        for term in terms {
            let files: Vec<String> = match term {
                Value::Object(map) => {
                    self.paths = strings(map.get("paths"))?;
                    self.skip = map.get("skip").is_some_and(truthy);
                    strings(map.get("files"))?
                }
                Value::String(s) => vec![s.clone()],
                Value::Array(inner) => {
                    search.extend(self.process(inner)?);
                    continue;
                }
                other => return Err(LoopError::FirstFoundTerm(type_name(other))),
            };
            let files = split_on(&files, &[',', ';']);
            let folders = split_on(&self.paths, &[',', ':', ';']);
            if folders.is_empty() {
                search.extend(files);
            } else {
                for folder in &folders {
                    for f in &files {
                        search.push(Path::new(folder).join(f).to_string_lossy().into_owned());
                    }
                }
            }
        }
        Ok(search)
    }
}

/// An option of type list: a list of strings, or one string.
fn strings(v: Option<&Value>) -> Result<Vec<String>, LoopError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(LoopError::FirstFoundTerm(type_name(other))),
            })
            .collect(),
        Some(other) => Err(LoopError::FirstFoundTerm(type_name(other))),
    }
}

/// first_found's (deprecated, still done) splitting of names at `,;` and
/// paths at `,:;`.
fn split_on(items: &[String], at: &[char]) -> Vec<String> {
    items.iter().flat_map(|s| s.split(at).map(str::to_string)).collect()
}

#[cfg(test)]
mod tests;
