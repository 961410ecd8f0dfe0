//! Turning `-i` arguments into parsed inventory files, as Ansible's
//! `InventoryManager.parse_source` does:
//!
//! * a file is parsed as YAML if named `.yml`/`.yaml`/`.json`; a file with
//!   no extension is YAML if its content is a YAML mapping (Ansible's yaml
//!   plugin accepts extension-less files too), otherwise INI; any other
//!   name is INI;
//! * a folder is every file in it, sorted by name, recursing into
//!   sub-folders, skipping what Ansible skips: dotfiles, `group_vars`,
//!   `host_vars`, `vars_plugins`, and names ending in `.pyc .pyo .swp .bak ~
//!   .rpm .md .txt .rst .orig .cfg .retry` (plus `README*`, which Ansible
//!   would try and fail to parse);
//! * `host1,host2:2222,` (text with a comma that is not an existing path) is
//!   a list of ungrouped hosts, as Ansible's `host_list` plugin reads it.
//!
//! Unlike Ansible, which only warns "Unable to parse X as an inventory
//! source" and carries on without those hosts, a file we cannot parse is an
//! error: running a play against part of a fleet by accident is worse.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::{suggest, Diagnostic, SourceFile};

use super::data::{InventoryData, UNGROUPED};
use super::host_range::parse_address;
use super::{ini_format, yaml_format, Warning};

const IGNORED_SUFFIXES: [&str; 12] =
    [".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry"];
const IGNORED_NAMES: [&str; 3] = ["host_vars", "group_vars", "vars_plugins"];

/// Parse one `-i` argument into `data`. Returns the folder whose
/// `group_vars/` and `host_vars/` belong to this source, if it has one.
pub fn load_source(
    data: &mut InventoryData,
    source: &Path,
    warnings: &mut Vec<Warning>,
) -> Result<Option<PathBuf>, Diagnostic> {
    let text = source.to_string_lossy();
    if text.contains(',') && !source.exists() {
        load_host_list(data, &text);
        return Ok(None);
    }
    // Files are read through the path as given, so diagnostics show it the
    // way the user wrote it; `inventory_file` gets the absolute path.
    if source.is_dir() {
        load_dir(data, source, warnings)?;
        Ok(Some(source.to_path_buf()))
    } else if source.is_file() {
        load_file(data, source, warnings)?;
        let parent = source.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Ok(Some(parent.to_path_buf()))
    } else {
        Err(not_found(source))
    }
}

fn not_found(source: &Path) -> Diagnostic {
    let d = Diagnostic::new(format!("inventory source {} does not exist", source.display()));
    let parent = source.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let siblings: Vec<String> = std::fs::read_dir(parent)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    let name = source.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match suggest(&name, siblings.iter().map(String::as_str)) {
        Some(s) => d.with_hint(format!("did you mean {}?", parent.join(s).display())),
        None => d.with_hint(
            "`-i` takes an inventory file, a folder of them, or a comma-separated host list like `web1,web2,`",
        ),
    }
}

fn load_host_list(data: &mut InventoryData, text: &str) {
    data.current_source = Some(PathBuf::from(text));
    for item in text.split(',').map(str::trim).filter(|h| !h.is_empty()) {
        let (host, port) = parse_address(item, false).unwrap_or_else(|| (item.to_string(), None));
        data.add_host(&host, Some(UNGROUPED), port, None);
    }
    data.current_source = None;
}

fn is_ignored(name: &str) -> bool {
    name.starts_with('.')
        || IGNORED_NAMES.contains(&name)
        || IGNORED_SUFFIXES.iter().any(|s| name.ends_with(s))
        || name.starts_with("README")
}

fn load_dir(data: &mut InventoryData, dir: &Path, warnings: &mut Vec<Warning>) -> Result<(), Diagnostic> {
    let entries = std::fs::read_dir(dir).map_err(|e| Diagnostic::new(format!("cannot read {}: {e}", dir.display())))?;
    let mut names: Vec<String> =
        entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    for name in names.into_iter().filter(|n| !is_ignored(n)) {
        let path = dir.join(&name);
        if path.is_dir() {
            load_dir(data, &path, warnings)?;
        } else {
            load_file(data, &path, warnings)?;
        }
    }
    Ok(())
}

enum Format {
    Yaml,
    Ini,
    /// No extension: YAML if it reads as a mapping, else INI.
    Either,
}

fn load_file(data: &mut InventoryData, path: &Path, warnings: &mut Vec<Warning>) -> Result<(), Diagnostic> {
    let file = crate::yaml::read_source(path)?;
    if file.text.starts_with("#!") && is_executable(path) {
        return Err(Diagnostic::at(&file.span(1, 1, 2), "dynamic inventory scripts are not supported").with_hint(
            "run the script once and save its output: `ansible-inventory -i SCRIPT --list -y > hosts.yml`",
        ));
    }
    let format = match path.extension().and_then(|e| e.to_str()) {
        Some("yml" | "yaml" | "json") => Format::Yaml,
        Some("toml") => {
            return Err(Diagnostic::new(format!("{}: TOML inventories are not supported", path.display()))
                .with_hint("convert it to YAML or INI"))
        }
        None => Format::Either,
        Some(_) => Format::Ini,
    };
    data.current_source = Some(absolute(path));
    let result = match format {
        Format::Yaml => {
            let root = crate::yaml::parse(&file)?;
            yaml_format::parse(data, &file, &root, warnings)
        }
        Format::Ini => ini_format::parse(data, &file),
        Format::Either => match yaml_mapping(&file) {
            Some(root) => yaml_format::parse(data, &file, &root, warnings),
            None => ini_format::parse(data, &file),
        },
    };
    data.current_source = None;
    result
}

/// The document, if the file is YAML whose top level is a mapping.
fn yaml_mapping(file: &Arc<SourceFile>) -> Option<crate::yaml::Node> {
    crate::yaml::parse(file).ok().filter(|n| n.as_map().is_some())
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_: &Path) -> bool {
    false
}

/// An absolute path with `.` and `..` resolved textually (symlinks are
/// kept, like Ansible's `unfrackpath(follow=False)`).
pub fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(path)).unwrap_or_else(|_| path.to_path_buf())
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignores_what_ansible_ignores() {
        for n in [
            ".git",
            "group_vars",
            "host_vars",
            "x.retry",
            "hosts~",
            "a.bak",
            "README",
            "README.md",
            "notes.txt",
            "ansible.cfg",
        ] {
            assert!(is_ignored(n), "{n}");
        }
        for n in ["hosts", "hosts.ini", "prod.yml", "inventory.json"] {
            assert!(!is_ignored(n), "{n}");
        }
    }

    #[test]
    fn normalises_paths() {
        assert_eq!(absolute(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
    }

    #[test]
    fn host_lists() {
        let mut d = InventoryData::default();
        load_source(&mut d, Path::new("web1, db1:2222,"), &mut vec![]).unwrap();
        assert_eq!(d.groups[UNGROUPED].hosts, ["web1", "db1"]);
        assert_eq!(d.hosts["db1"].vars["ansible_port"], 2222);
    }
}
