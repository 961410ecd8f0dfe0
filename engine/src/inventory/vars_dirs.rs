//! `group_vars/` and `host_vars/` folders, found next to each inventory
//! source and next to the playbook, read as Ansible's `host_group_vars`
//! vars plugin reads them:
//!
//! * for a group or host NAME, the first of `NAME`, `NAME.yml`, `NAME.yaml`,
//!   `NAME.json` that exists is used, and only that one;
//! * if it is a folder, every file in it (recursively, sorted by name) with
//!   no extension or one of those extensions is read, skipping hidden files
//!   and backups ending in `~`; later files replace earlier files' keys;
//! * empty files are ignored; anything else must be a mapping.
//!
//! Everything is read when the inventory is loaded, so a broken vars file is
//! reported before any host is contacted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::diagnostic::Diagnostic;

use super::data::{InventoryData, Vars};
use super::Warning;

const VARS_EXTENSIONS: [&str; 3] = ["yml", "yaml", "json"];

/// The variables found in one folder's `group_vars/` and `host_vars/`.
#[derive(Debug, Clone, Default)]
pub struct VarsDir {
    pub groups: HashMap<String, Vars>,
    pub hosts: HashMap<String, Vars>,
}

impl VarsDir {
    /// Read the vars of every group and host of `data` found under `base`.
    pub fn load(base: &Path, data: &InventoryData, warnings: &mut Vec<Warning>) -> Result<VarsDir, Diagnostic> {
        let mut dir = VarsDir::default();
        if let Some(folder) = vars_folder(&base.join("group_vars"), warnings) {
            for name in data.groups.keys() {
                if let Some(vars) = load_entity(&folder, name)? {
                    dir.groups.insert(name.clone(), vars);
                }
            }
        }
        if let Some(folder) = vars_folder(&base.join("host_vars"), warnings) {
            for name in data.hosts.keys() {
                if let Some(vars) = load_entity(&folder, name)? {
                    dir.hosts.insert(name.clone(), vars);
                }
            }
        }
        Ok(dir)
    }
}

fn vars_folder(path: &Path, warnings: &mut Vec<Warning>) -> Option<PathBuf> {
    if path.is_dir() {
        Some(path.to_path_buf())
    } else {
        if path.exists() {
            warnings.push(Warning(Diagnostic::new(format!(
                "found {} that is not a directory, skipping it",
                path.display()
            ))));
        }
        None
    }
}

/// The merged vars for one group or host name, if any file exists for it.
fn load_entity(folder: &Path, name: &str) -> Result<Option<Vars>, Diagnostic> {
    // Ansible skips names that look like absolute paths (chroot hosts).
    if name.starts_with('/') || name.is_empty() {
        return Ok(None);
    }
    let base = folder.join(name);
    let candidates = std::iter::once(base.clone())
        .chain(VARS_EXTENSIONS.iter().map(|ext| PathBuf::from(format!("{}.{ext}", base.display()))));
    let Some(found) = candidates.into_iter().find(|p| p.exists()) else { return Ok(None) };
    let files = if found.is_dir() { files_in(&found)? } else { vec![found] };
    let mut vars = Vars::new();
    for file in files {
        for (k, v) in load_vars_file(&file)? {
            vars.insert(k, v);
        }
    }
    Ok(Some(vars))
}

/// Vars files under a `NAME/` folder, sorted, recursing into folders that
/// have no extension.
fn files_in(dir: &Path) -> Result<Vec<PathBuf>, Diagnostic> {
    let entries = std::fs::read_dir(dir).map_err(|e| Diagnostic::new(format!("cannot read {}: {e}", dir.display())))?;
    let mut names: Vec<String> =
        entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let mut files = Vec::new();
    for name in names {
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let path = dir.join(&name);
        let ext = path.extension().map(|e| e.to_string_lossy().into_owned());
        if path.is_dir() {
            if ext.is_none() {
                files.extend(files_in(&path)?);
            }
        } else if ext.as_deref().is_none_or(|e| VARS_EXTENSIONS.contains(&e)) {
            files.push(path);
        }
    }
    Ok(files)
}

/// One vars file: a YAML/JSON mapping of variable names to values.
pub fn load_vars_file(path: &Path) -> Result<Vars, Diagnostic> {
    let file = crate::yaml::read_source(path)?;
    if file.text.starts_with("$ANSIBLE_VAULT") {
        return Err(Diagnostic::at(&file.span(1, 1, 14), "vault-encrypted vars files are not supported")
            .with_hint("decrypt it with `ansible-vault decrypt`, or keep secrets outside the inventory"));
    }
    let node = crate::yaml::parse(&file)?;
    match node.to_json() {
        Value::Object(map) => Ok(map),
        // Ansible ignores files whose content is "empty" in Python's sense.
        Value::Null | Value::Bool(false) => Ok(Vars::new()),
        Value::String(s) if s.is_empty() => Ok(Vars::new()),
        Value::Array(a) if a.is_empty() => Ok(Vars::new()),
        _ => Err(node
            .type_error("a vars file", "a mapping of variable names to values")
            .with_hint("write one `name: value` per line at the top level")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn data_with(groups: &[&str], hosts: &[&str]) -> InventoryData {
        let mut d = InventoryData::default();
        for g in groups {
            d.add_group(g, None);
        }
        for h in hosts {
            d.add_host(h, None, None, None);
        }
        d
    }

    #[test]
    fn first_candidate_wins_and_folders_merge_sorted() {
        let tmp = tempfile::tempdir().unwrap();
        let b = tmp.path();
        write(&b.join("group_vars/web"), "from: noext\n");
        write(&b.join("group_vars/web.yml"), "from: yml\n"); // shadowed by `web`
        write(&b.join("group_vars/db/10.yml"), "a: 1\nb: 1\n");
        write(&b.join("group_vars/db/20.json"), "{\"b\": 2}");
        write(&b.join("group_vars/db/sub/30"), "c: 3\n");
        write(&b.join("group_vars/db/notes.txt"), "ignored: true\n");
        write(&b.join("group_vars/db/.hidden.yml"), "ignored: true\n");
        write(&b.join("group_vars/db/old.yml~"), "ignored: true\n");
        write(&b.join("host_vars/h1.yaml"), "hv: 1\n");
        write(&b.join("host_vars/h2.yml"), "");
        let dir = VarsDir::load(b, &data_with(&["web", "db"], &["h1", "h2"]), &mut vec![]).unwrap();
        assert_eq!(Value::Object(dir.groups["web"].clone()), json!({"from": "noext"}));
        assert_eq!(Value::Object(dir.groups["db"].clone()), json!({"a": 1, "b": 2, "c": 3}));
        assert_eq!(Value::Object(dir.hosts["h1"].clone()), json!({"hv": 1}));
        assert!(dir.hosts["h2"].is_empty());
    }

    #[test]
    fn a_list_is_an_error_with_its_place() {
        let tmp = tempfile::tempdir().unwrap();
        write(&tmp.path().join("group_vars/all.yml"), "- a\n- b\n");
        let err = VarsDir::load(tmp.path(), &data_with(&[], &[]), &mut vec![]).unwrap_err();
        assert_eq!(err.message, "a vars file must be a mapping of variable names to values, found a list");
        assert!(err.span.unwrap().path().ends_with("group_vars/all.yml"));
    }
}
