//! Ansible's `lookup()` and `query()`/`q()`: values from the controller
//! (files, environment, commands, other variables), read while the host's
//! plan is made, as Ansible reads them. `lookup` joins a list result with
//! commas (unless `wantlist=True`); `query` always gives the list.
//!
//! Relative paths are looked up where Ansible's `files` search path looks:
//! the role's `files/`, the role, the playbook's `files/`, the playbook's
//! folder (`role_path` and `playbook_dir` of the task's scope).

use std::path::{Path, PathBuf};

use minijinja::value::{Kwargs, Value};
use minijinja::{Error, ErrorKind, State};

const PLUGINS: &[&str] = &["file", "env", "pipe", "vars", "fileglob", "first_found", "items", "list", "indexed_items"];

pub fn lookup(
    state: &State,
    name: String,
    terms: minijinja::value::Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let wantlist: Option<bool> = kwargs.get("wantlist")?;
    let list = run(state, &name, &terms, &kwargs)?;
    kwargs.assert_all_used()?;
    if wantlist == Some(true) {
        return Ok(Value::from(list));
    }
    // A single result stays what it is; several are joined, as Ansible does.
    Ok(match list.len() {
        1 => list.into_iter().next().unwrap_or_default(),
        _ => Value::from(list.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",")),
    })
}

pub fn query(
    state: &State,
    name: String,
    terms: minijinja::value::Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let _: Option<bool> = kwargs.get("wantlist")?;
    let list = run(state, &name, &terms, &kwargs)?;
    kwargs.assert_all_used()?;
    Ok(Value::from(list))
}

fn run(state: &State, name: &str, terms: &[Value], kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let name = name.strip_prefix("ansible.builtin.").unwrap_or(name);
    let texts = || -> Vec<String> { flat(terms).iter().map(|t| t.to_string()).collect() };
    match name {
        "file" => {
            let rstrip: Option<bool> = kwargs.get("rstrip")?;
            let lstrip: Option<bool> = kwargs.get("lstrip")?;
            texts()
                .iter()
                .map(|term| {
                    let path = find(state, "files", term)?;
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| fail(format!("lookup('file'): cannot read {}: {e}", path.display())))?;
                    let text = if rstrip.unwrap_or(true) { text.trim_end() } else { text.as_str() };
                    let text = if lstrip.unwrap_or(false) { text.trim_start() } else { text };
                    Ok(Value::from(text))
                })
                .collect()
        }
        "env" => {
            let default: Option<Value> = kwargs.get("default")?;
            Ok(texts()
                .iter()
                .map(|var| match std::env::var(var) {
                    Ok(v) => Value::from(v),
                    Err(_) => default.clone().unwrap_or_else(|| Value::from("")),
                })
                .collect())
        }
        "pipe" => texts()
            .iter()
            .map(|cmd| {
                let out = std::process::Command::new("/bin/sh")
                    .args(["-c", cmd])
                    .stdin(std::process::Stdio::null())
                    .output()
                    .map_err(|e| fail(format!("lookup('pipe'): {e}")))?;
                if !out.status.success() {
                    return Err(fail(format!("lookup('pipe'): `{cmd}` exited with {}", out.status)));
                }
                Ok(Value::from(String::from_utf8_lossy(&out.stdout).trim_end().to_string()))
            })
            .collect(),
        "vars" => {
            let default: Option<Value> = kwargs.get("default")?;
            texts()
                .iter()
                .map(|var| match state.lookup(var).filter(|v| !v.is_undefined()) {
                    Some(v) => Ok(v),
                    None => default.clone().ok_or_else(|| {
                        Error::new(ErrorKind::UndefinedError, format!("lookup('vars'): no variable `{var}`"))
                    }),
                })
                .collect()
        }
        "fileglob" => {
            let mut found = Vec::new();
            for pattern in texts() {
                let dir = match Path::new(&pattern).parent().filter(|p| !p.as_os_str().is_empty()) {
                    Some(parent) => find(state, "files", &parent.display().to_string()).ok(),
                    None => search_dirs(state, "files").into_iter().find(|d| d.is_dir()),
                };
                let Some(dir) = dir else { continue };
                let name =
                    Path::new(&pattern).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let Ok(matcher) = glob::Pattern::new(&name) else { continue };
                // In the folder's own order, as Python's glob gives them.
                let paths: Vec<PathBuf> = std::fs::read_dir(&dir)
                    .map(|entries| {
                        entries
                            .flatten()
                            .map(|e| e.path())
                            .filter(|p| p.is_file())
                            .filter(|p| p.file_name().is_some_and(|n| matcher.matches(&n.to_string_lossy())))
                            .collect()
                    })
                    .unwrap_or_default();
                found.extend(paths.into_iter().map(|p| Value::from(p.display().to_string())));
            }
            Ok(found)
        }
        "first_found" => {
            let skip: Option<bool> = kwargs.get("skip")?;
            let mut names = Vec::new();
            let mut paths: Vec<String> = kwargs.get::<Option<Vec<String>>>("paths")?.unwrap_or_default();
            names.extend(kwargs.get::<Option<Vec<String>>>("files")?.unwrap_or_default());
            for term in flat(terms) {
                match term.get_attr("files") {
                    Ok(files) if !files.is_undefined() => {
                        names.extend(flat(&[files]).iter().map(|v| v.to_string()));
                        if let Ok(p) = term.get_attr("paths") {
                            paths.extend(flat(&[p]).iter().filter(|v| !v.is_undefined()).map(|v| v.to_string()));
                        }
                    }
                    _ => names.push(term.to_string()),
                }
            }
            for name in &names {
                let candidates: Vec<PathBuf> = match paths.is_empty() {
                    true => vec![PathBuf::from(name)],
                    false => paths.iter().map(|p| Path::new(p).join(name)).collect(),
                };
                for c in candidates {
                    // Called as a lookup (not `with_first_found`), Ansible
                    // looks in the search path itself, not its `files/`.
                    if let Ok(found) = find(state, "", &c.display().to_string()) {
                        return Ok(vec![Value::from(found.display().to_string())]);
                    }
                }
            }
            match skip {
                Some(true) => Ok(Vec::new()),
                _ => Err(fail(format!("lookup('first_found'): none of {} was found", names.join(", ")))),
            }
        }
        "items" | "list" => Ok(if name == "items" { flat(terms) } else { terms.to_vec() }),
        "indexed_items" => {
            Ok(flat(terms).into_iter().enumerate().map(|(i, v)| Value::from(vec![Value::from(i), v])).collect())
        }
        other => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("push has no lookup plugin `{other}` (it has: {})", PLUGINS.join(", ")),
        )),
    }
}

/// Terms as Ansible's lookups take them: a list given as one term counts
/// as its items.
fn flat(terms: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for t in terms {
        match (t.kind(), t.try_iter()) {
            (minijinja::value::ValueKind::Seq, Ok(items)) => out.extend(items),
            _ => out.push(t.clone()),
        }
    }
    out
}

/// Where a relative name is looked for: the role's `SUB/`, the role, the
/// playbook's `SUB/`, the playbook's folder.
fn search_dirs(state: &State, sub: &str) -> Vec<PathBuf> {
    let dir_of = |var: &str| {
        state.lookup(var).filter(|v| !v.is_undefined() && !v.is_none()).map(|v| PathBuf::from(v.to_string()))
    };
    let mut dirs = Vec::new();
    for base in [dir_of("role_path"), dir_of("playbook_dir")].into_iter().flatten() {
        if !sub.is_empty() {
            dirs.push(base.join(sub));
        }
        dirs.push(base);
    }
    dirs
}

fn find(state: &State, sub: &str, name: &str) -> Result<PathBuf, Error> {
    let path = Path::new(name);
    if path.is_absolute() {
        return path.exists().then(|| path.to_path_buf()).ok_or_else(|| fail(format!("{name} was not found")));
    }
    let dirs = search_dirs(state, sub);
    dirs.iter().map(|d| d.join(name)).find(|p| p.exists()).ok_or_else(|| {
        let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        fail(format!("{name} was not found (looked in {})", looked.join(", ")))
    })
}

fn fail(message: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, message)
}
