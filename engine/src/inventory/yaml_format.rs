//! YAML (and JSON) inventories, read the way Ansible's `yaml` inventory
//! plugin (ansible/plugins/inventory/yaml.py) reads them:
//!
//! ```yaml
//! all:                      # any group may appear at the top level
//!   vars: {ntp: ntp.example.org}
//!   children:
//!     web:
//!       hosts:
//!         web[01:03].example.org:
//!           ansible_user: deploy
//! ```
//!
//! A group is a mapping with only `hosts`, `children` and `vars`. Ansible
//! merely warns about anything else (and skips it); we refuse it, since a
//! misspelled `host:` silently drops hosts from a run.

use std::sync::Arc;

use crate::diagnostic::{suggest, Diagnostic, SourceFile};
use crate::yaml::{Key, Node, NodeValue};

use super::data::InventoryData;
use super::host_range::expand_host_pattern;
use super::Warning;

const SECTIONS: [&str; 3] = ["hosts", "children", "vars"];

/// Load a parsed YAML document into `data`.
pub fn parse(
    data: &mut InventoryData,
    file: &Arc<SourceFile>,
    root: &Node,
    warnings: &mut Vec<Warning>,
) -> Result<(), Diagnostic> {
    let entries = match &root.value {
        NodeValue::Map(entries) => entries,
        NodeValue::Null => {
            warnings.push(Warning(
                Diagnostic::at(&file.span(1, 1, 1), "empty inventory file, nothing to load")
                    .with_hint("a YAML inventory starts with `all:` and lists hosts under `hosts:`"),
            ));
            return Ok(());
        }
        _ => {
            return Err(root
                .type_error("a YAML inventory", "a mapping of group names to groups")
                .with_hint("start with a group such as `all:`, then `hosts:`, `children:` and `vars:` below it"))
        }
    };
    if let Some((key, _)) = entries.iter().find(|(k, _)| k.name == "plugin") {
        return Err(Diagnostic::at(&key.span, "inventory plugin configurations are not supported")
            .with_hint("list hosts and groups directly (`all:` / `hosts:` / `children:`), or export them with `ansible-inventory --list -y` once"));
    }
    for (key, value) in entries {
        parse_group(data, key, value)?;
    }
    Ok(())
}

fn parse_group(data: &mut InventoryData, name: &Key, node: &Node) -> Result<(), Diagnostic> {
    let group = name.name.as_str();
    let entries = match &node.value {
        NodeValue::Map(entries) => entries.as_slice(),
        NodeValue::Null => &[],
        NodeValue::Seq(_) => {
            return Err(Diagnostic::at(
                &node.span,
                format!("group `{group}` must be a mapping with `hosts`, `children` or `vars`, found a list"),
            )
            .with_hint(format!(
                "to put hosts in `{group}`, list them as keys under `hosts:` (`hosts: {{web1: , web2: }}`)"
            )))
        }
        _ => return Err(node.type_error(&format!("group `{group}`"), "a mapping with `hosts`, `children` or `vars`")),
    };
    data.add_group(group, Some(&name.span));

    for (key, value) in entries {
        if !SECTIONS.contains(&key.name.as_str()) {
            let hint = match suggest(&key.name, SECTIONS) {
                Some(s) => format!("did you mean `{s}`? a group has only `hosts`, `children` and `vars`"),
                None => format!(
                    "a group has only `hosts`, `children` and `vars`; if `{}` is a host, put it under `hosts:`, if it is a group, under `children:`",
                    key.name
                ),
            };
            return Err(
                Diagnostic::at(&key.span, format!("unknown key `{}` in group `{group}`", key.name)).with_hint(hint)
            );
        }
        let section = section_entries(group, key, value)?;
        match key.name.as_str() {
            "vars" => {
                for (var, v) in &section {
                    data.set_group_var(group, &var.name, v.map_or(serde_json::Value::Null, Node::to_json), &var.span)?;
                }
            }
            "children" => {
                for (child, child_node) in &section {
                    // Linked before its own children are read, so a cycle is
                    // reported at the innermost edge, the one written last.
                    data.add_group(&child.name, Some(&child.span));
                    data.add_child_group(group, &child.name, &child.span)?;
                    if let Some(n) = child_node {
                        parse_group(data, child, n)?;
                    }
                }
            }
            _ => {
                for (host, host_node) in &section {
                    add_hosts(data, group, host, *host_node)?;
                }
            }
        }
    }
    Ok(())
}

/// The entries of a `hosts`/`children`/`vars` section. As in Ansible, a
/// single string stands for a mapping with that one key.
fn section_entries<'a>(group: &str, key: &'a Key, value: &'a Node) -> Result<Vec<(Key, Option<&'a Node>)>, Diagnostic> {
    match &value.value {
        NodeValue::Map(entries) => Ok(entries.iter().map(|(k, v)| (k.clone(), Some(v))).collect()),
        NodeValue::Null => Ok(vec![]),
        NodeValue::Str(s) => Ok(vec![(Key { name: s.clone(), span: value.span.clone() }, None)]),
        _ => {
            let what = &key.name;
            let example = match what.as_str() {
                "hosts" => "one host name per key: `hosts:` then `  web1:` and `  web2:` on their own lines",
                "children" => "one group name per key: `children:` then `  web:` and `  db:` on their own lines",
                _ => "one variable per key: `vars:` then `  ntp_server: ntp.example.org`",
            };
            Err(Diagnostic::at(
                &value.span,
                format!("`{what}` of group `{group}` must be a mapping, found {}", value.type_name()),
            )
            .with_hint(format!("Ansible expects {example}")))
        }
    }
}

fn add_hosts(data: &mut InventoryData, group: &str, key: &Key, node: Option<&Node>) -> Result<(), Diagnostic> {
    let (hosts, port) =
        expand_host_pattern(&key.name).map_err(|e| Diagnostic::at(&key.span, e.message).with_hint(e.hint))?;
    if hosts.iter().any(|h| h.is_empty()) {
        return Err(Diagnostic::at(&key.span, "empty host name"));
    }
    let vars = match node.map(|n| &n.value) {
        None | Some(NodeValue::Null) => &[][..],
        Some(NodeValue::Map(entries)) => entries.as_slice(),
        // Ansible treats any "falsy" value as no variables.
        Some(NodeValue::Bool(false)) => &[][..],
        Some(NodeValue::Str(s)) if s.is_empty() => &[][..],
        Some(_) => {
            let n = node.expect("matched Some");
            return Err(n
                .type_error(&format!("the variables of host `{}`", key.name), "a mapping")
                .with_hint(format!("write `{}:` alone, or followed by indented `name: value` lines", key.name)));
        }
    };
    for host in &hosts {
        data.add_host(host, Some(group), port, Some(&key.span));
        for (var, value) in vars {
            data.set_host_var(host, &var.name, value.to_json());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn load(text: &str) -> Result<InventoryData, Diagnostic> {
        let file = SourceFile::new("hosts.yml", text);
        let root = crate::yaml::parse(&file)?;
        let mut data = InventoryData::default();
        parse(&mut data, &file, &root, &mut vec![])?;
        data.reconcile()?;
        Ok(data)
    }

    fn err(text: &str) -> String {
        load(text).unwrap_err().to_string()
    }

    #[test]
    fn groups_hosts_children_vars() {
        let d = load(concat!(
            "all:\n  vars: {a: 1}\n  hosts:\n    direct:\n  children:\n",
            "    web:\n      hosts:\n        web[1:2]:2222:\n          ansible_user: deploy\n",
            "    prod:\n      children:\n        web:\n        db:\n",
            "db:\n  hosts: db1\n  vars:\n    ansible_group_priority: 5\n    enabled: yes\n",
        ))
        .unwrap();
        assert_eq!(d.groups["web"].hosts, ["web1", "web2"]);
        assert_eq!(d.hosts["web2"].vars["ansible_port"], json!(2222));
        assert_eq!(d.hosts["web2"].vars["ansible_user"], json!("deploy"));
        assert_eq!(d.groups["prod"].children, ["web", "db"]);
        assert_eq!(d.groups["db"].hosts, ["db1"]);
        assert_eq!(d.groups["db"].priority, 5);
        assert_eq!(d.groups["db"].vars["enabled"], json!(true));
        assert!(!d.groups["db"].vars.contains_key("ansible_group_priority"));
        // A host directly under `all` with no other group is also `ungrouped`.
        assert_eq!(d.groups["ungrouped"].hosts, ["direct"]);
    }

    #[test]
    fn error_hosts_as_a_list() {
        insta::assert_snapshot!(err("web:\n  hosts:\n    - web1\n    - web2\n"), @r"
        error: `hosts` of group `web` must be a mapping, found a list
         --> hosts.yml:3:5
          |
        3 |     - web1
          |     ^
          = hint: Ansible expects one host name per key: `hosts:` then `  web1:` and `  web2:` on their own lines
        ");
    }

    #[test]
    fn error_misspelled_section() {
        insta::assert_snapshot!(err("all:\n  children:\n    web:\n      host:\n        web1:\n"), @r"
        error: unknown key `host` in group `web`
         --> hosts.yml:4:7
          |
        4 |       host:
          |       ^^^^
          = hint: did you mean `hosts`? a group has only `hosts`, `children` and `vars`
        ");
    }

    #[test]
    fn error_host_directly_under_group() {
        insta::assert_snapshot!(err("web:\n  web1.example.org:\n"), @r"
        error: unknown key `web1.example.org` in group `web`
         --> hosts.yml:2:3
          |
        2 |   web1.example.org:
          |   ^^^^^^^^^^^^^^^^
          = hint: a group has only `hosts`, `children` and `vars`; if `web1.example.org` is a host, put it under `hosts:`, if it is a group, under `children:`
        ");
    }

    #[test]
    fn error_cycle() {
        insta::assert_snapshot!(err("a:\n  children:\n    b:\n      children:\n        a:\n"), @r"
        error: group `a` cannot be a child of `b`: `b` is already below `a`, so this makes a cycle b -> a -> b
         --> hosts.yml:5:9
          |
        5 |         a:
          |         ^
          = hint: a group's `children` may not include the group itself or any group it is a child of
        ");
    }

    #[test]
    fn error_host_vars_not_a_mapping() {
        insta::assert_snapshot!(err("all:\n  hosts:\n    web1: 10.0.0.1\n"), @r"
        error: the variables of host `web1` must be a mapping, found a string
         --> hosts.yml:3:11
          |
        3 |     web1: 10.0.0.1
          |           ^^^^^^^^
          = hint: write `web1:` alone, or followed by indented `name: value` lines
        ");
    }

    #[test]
    fn error_bad_priority() {
        insta::assert_snapshot!(err("web:\n  vars:\n    ansible_group_priority: high\n"), @r#"
        error: ansible_group_priority must be an integer, found "high"
         --> hosts.yml:3:5
          |
        3 |     ansible_group_priority: high
          |     ^^^^^^^^^^^^^^^^^^^^^^
          = hint: groups of the same depth are merged by priority, e.g. `ansible_group_priority: 10`
        "#);
    }

    #[test]
    fn error_not_a_mapping_at_top() {
        insta::assert_snapshot!(err("- web1\n- web2\n"), @r"
        error: a YAML inventory must be a mapping of group names to groups, found a list
         --> hosts.yml:1:1
          |
        1 | - web1
          | ^
          = hint: start with a group such as `all:`, then `hosts:`, `children:` and `vars:` below it
        ");
    }

    #[test]
    fn error_bad_yaml_points_at_line() {
        let e = load("all:\n  hosts:\n    web1:\n   bad: [\n").unwrap_err();
        assert!(e.message.starts_with("invalid YAML"), "{}", e.message);
        assert!(e.span.is_some());
    }
}
