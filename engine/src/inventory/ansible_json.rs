//! `ansible-inventory --list`, `--host H` and `--graph`, with the exact
//! shapes Ansible prints (ansible/cli/inventory.py), so users can diff our
//! view of their inventory against Ansible's.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use super::data::{Vars, ALL};
use super::Inventory;

/// Variables `ansible-inventory` never shows (Ansible's `INTERNAL_STATIC_VARS`).
const INTERNAL_VARS: [&str; 34] = [
    "ansible_async_path",
    "ansible_collection_name",
    "ansible_config_file",
    "ansible_dependent_role_names",
    "ansible_diff_mode",
    "ansible_facts",
    "ansible_forks",
    "ansible_inventory_sources",
    "ansible_limit",
    "ansible_play_batch",
    "ansible_play_hosts",
    "ansible_play_hosts_all",
    "ansible_play_role_names",
    "ansible_playbook_python",
    "ansible_role_name",
    "ansible_role_names",
    "ansible_run_tags",
    "ansible_skip_tags",
    "ansible_verbosity",
    "ansible_version",
    "inventory_dir",
    "inventory_file",
    "inventory_hostname",
    "inventory_hostname_short",
    "groups",
    "group_names",
    "hostvars",
    "playbook_dir",
    "play_hosts",
    "role_name",
    "role_names",
    "role_path",
    "role_uuid",
    "omit",
];

/// A host's variables as `--host` and `_meta.hostvars` show them.
pub fn visible_vars(mut vars: Vars) -> Value {
    for name in INTERNAL_VARS {
        vars.shift_remove(name);
    }
    sorted(Value::Object(vars))
}

/// `--list`, restricted to `hosts` (all hosts, or those a `--limit` selected).
pub fn list(inv: &Inventory, hosts: &[String]) -> Value {
    let available: HashSet<&str> = hosts.iter().map(String::as_str).collect();
    let mut out = Map::new();
    let mut seen = HashSet::new();
    format_group(inv, ALL, &available, &mut seen, &mut out);

    let mut hostvars = Map::new();
    for host in hosts {
        if let Some(vars) = inv.inventory_vars(host) {
            let visible = visible_vars(vars);
            if visible.as_object().is_some_and(|m| !m.is_empty()) {
                hostvars.insert(host.clone(), visible);
            }
        }
    }
    out.insert("_meta".into(), json!({"hostvars": Value::Object(hostvars), "profile": "inventory_legacy"}));
    sorted(Value::Object(out))
}

fn format_group(
    inv: &Inventory,
    name: &str,
    available: &HashSet<&str>,
    seen: &mut HashSet<String>,
    out: &mut Map<String, Value>,
) {
    let group = &inv.data.groups[name];
    let mut entry = Map::new();
    if name != ALL {
        let hosts: Vec<Value> =
            group.hosts.iter().filter(|h| available.contains(h.as_str())).map(|h| Value::String(h.clone())).collect();
        if !hosts.is_empty() {
            entry.insert("hosts".into(), Value::Array(hosts));
        }
    }
    if !group.children.is_empty() {
        entry.insert("children".into(), group.children.iter().map(|c| Value::String(c.clone())).collect());
    }
    // Empty groups are left out of the listing, though their parents still
    // name them as children (that is what Ansible prints).
    if !entry.is_empty() {
        out.insert(name.to_string(), Value::Object(entry));
    }
    for child in &group.children {
        if seen.insert(child.clone()) {
            format_group(inv, child, available, seen, out);
        }
    }
}

/// `--graph [GROUP]`: the tree under `start`, children before hosts, the
/// way Ansible draws it (a group under two parents is drawn twice).
pub fn graph(inv: &Inventory, start: &str) -> String {
    let mut lines = Vec::new();
    graph_group(inv, start, 0, &mut lines);
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

fn graph_group(inv: &Inventory, name: &str, depth: usize, lines: &mut Vec<String>) {
    lines.push(graph_line(&format!("@{name}:"), depth));
    let group = &inv.data.groups[name];
    for child in &group.children {
        graph_group(inv, child, depth + 1, lines);
    }
    if name != ALL {
        for host in &group.hosts {
            lines.push(graph_line(host, depth + 1));
        }
    }
}

fn graph_line(name: &str, depth: usize) -> String {
    if depth == 0 {
        name.to_string()
    } else {
        format!("{}--{name}", "  |".repeat(depth))
    }
}

/// A copy of `value` with every object's keys sorted, like `sort_keys=True`.
pub fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// Text as Python's `json.dumps(value, sort_keys=True, indent=4)` writes it
/// (keys sorted, 4-space indent, non-ASCII escaped as `\uXXXX`), which is
/// what `ansible-inventory --list` and `--host` print.
pub fn to_ansible_json(value: &Value) -> String {
    let value = sorted(value.clone());
    let mut buf = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
    serde::Serialize::serialize(&value, &mut ser).expect("serialising a JSON value cannot fail");
    let text = String::from_utf8(buf).expect("serde_json writes UTF-8");
    // Non-ASCII characters can only occur inside strings, so escaping them
    // all is safe.
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_style_json_text() {
        let v = json!({"b": [1, {"z": 1, "a": "é"}], "a": {}});
        assert_eq!(
            to_ansible_json(&v),
            "{\n    \"a\": {},\n    \"b\": [\n        1,\n        {\n            \"a\": \"\\u00e9\",\n            \"z\": 1\n        }\n    ]\n}"
        );
    }

    #[test]
    fn graph_lines() {
        assert_eq!(graph_line("@all:", 0), "@all:");
        assert_eq!(graph_line("h", 2), "  |  |--h");
    }
}
