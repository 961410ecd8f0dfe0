//! Hosts, groups and the edges between them, built up by the format parsers
//! and then "reconciled" the way Ansible's `InventoryData` does it
//! (ansible/inventory/data.py, group.py, host.py):
//!
//! * `all` and `ungrouped` always exist and `ungrouped` is a child of `all`;
//! * after loading, every group without a parent becomes a child of `all`;
//! * a host that ended up in no group (or only in `all`) goes to `ungrouped`,
//!   and a host in `ungrouped` that is also in a real group leaves it;
//! * a group may not be its own ancestor (checked as each edge is added, so
//!   the error can point at the edge that closes the cycle).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::diagnostic::{Diagnostic, Span};

use super::Warning;

pub type Vars = Map<String, Value>;

#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    /// Variables from inventory files (`[g:vars]`, `vars:`).
    pub vars: Vars,
    /// `ansible_group_priority`: among groups of the same depth, higher
    /// priority is merged later and so wins. Default 1, as in Ansible.
    pub priority: i64,
    /// Hosts put directly in this group, in the order they were added.
    pub hosts: Vec<String>,
    pub children: Vec<String>,
    pub parents: Vec<String>,
    /// Where the group was first mentioned (None for the implicit groups).
    pub span: Option<Span>,
}

#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    /// Variables from inventory files, including `ansible_port` from
    /// `name:port` and `inventory_file`/`inventory_dir`, as Ansible stores them.
    pub vars: Vars,
    /// Groups the host was put in directly (ancestors are implied).
    pub groups: Vec<String>,
    pub span: Option<Span>,
}

#[derive(Debug, Clone)]
pub struct InventoryData {
    pub groups: IndexMap<String, Group>,
    pub hosts: IndexMap<String, Host>,
    /// The file being parsed; hosts created now record it as their source.
    pub current_source: Option<PathBuf>,
    /// Longest path from `all`, filled in by [`InventoryData::reconcile`].
    depth: HashMap<String, usize>,
}

pub const ALL: &str = "all";
pub const UNGROUPED: &str = "ungrouped";

impl Default for InventoryData {
    fn default() -> Self {
        let mut data = InventoryData {
            groups: IndexMap::new(),
            hosts: IndexMap::new(),
            current_source: None,
            depth: HashMap::new(),
        };
        data.add_group(ALL, None);
        data.add_group(UNGROUPED, None);
        data.link(ALL, UNGROUPED);
        data
    }
}

impl InventoryData {
    /// Declare a group (idempotent).
    pub fn add_group(&mut self, name: &str, span: Option<&Span>) {
        if !self.groups.contains_key(name) {
            self.groups.insert(
                name.to_string(),
                Group {
                    name: name.to_string(),
                    vars: Vars::new(),
                    priority: 1,
                    hosts: Vec::new(),
                    children: Vec::new(),
                    parents: Vec::new(),
                    span: span.cloned(),
                },
            );
        }
    }

    /// Declare a host, optionally in `group` (which must exist). As in
    /// Ansible, a port only counts the first time a host is seen.
    pub fn add_host(&mut self, name: &str, group: Option<&str>, port: Option<i64>, span: Option<&Span>) {
        if !self.hosts.contains_key(name) {
            let mut vars = Vars::new();
            if let Some(port) = port {
                vars.insert("ansible_port".into(), Value::from(port));
            }
            let (file, dir) = match &self.current_source {
                Some(path) if path.exists() => (
                    Value::String(path.display().to_string()),
                    path.parent().map_or(Value::Null, |d| Value::String(d.display().to_string())),
                ),
                // A `-i a,b,` host list: Ansible records the list text and no directory.
                Some(path) => (Value::String(path.display().to_string()), Value::Null),
                None => (Value::Null, Value::Null),
            };
            vars.insert("inventory_file".into(), file);
            vars.insert("inventory_dir".into(), dir);
            self.hosts.insert(
                name.to_string(),
                Host { name: name.to_string(), vars, groups: Vec::new(), span: span.cloned() },
            );
        }
        if let Some(group) = group {
            self.put_host_in_group(name, group);
        }
    }

    /// Membership is looked up in the host's groups, a short list, rather
    /// than in the group's hosts: that made loading a group of n hosts take
    /// n^2 steps (minutes at 100k hosts). The two lists change together.
    fn put_host_in_group(&mut self, host: &str, group: &str) {
        let h = &mut self.hosts[host];
        if !h.groups.iter().any(|g| g == group) {
            h.groups.push(group.to_string());
            self.groups.get_mut(group).expect("group declared before use").hosts.push(host.to_string());
        }
    }

    /// Take these hosts out of `group`, in one pass over its hosts (one pass
    /// per host would be n^2 steps for a group of n).
    fn remove_hosts_from_group(&mut self, hosts: &HashSet<String>, group: &str) {
        if let Some(g) = self.groups.get_mut(group) {
            g.hosts.retain(|h| !hosts.contains(h));
        }
        for host in hosts {
            if let Some(h) = self.hosts.get_mut(host) {
                h.groups.retain(|g| g != group);
            }
        }
    }

    /// Set a group variable from an inventory file. `ansible_group_priority`
    /// is not a variable but the group's priority, as in Ansible.
    pub fn set_group_var(&mut self, group: &str, key: &str, value: Value, span: &Span) -> Result<(), Diagnostic> {
        let g = self.groups.get_mut(group).expect("group declared before use");
        if key == "ansible_group_priority" {
            g.priority = priority_value(&value).ok_or_else(|| {
                Diagnostic::at(span, format!("ansible_group_priority must be an integer, found {value}"))
                    .with_hint("groups of the same depth are merged by priority, e.g. `ansible_group_priority: 10`")
            })?;
        } else {
            g.vars.insert(key.to_string(), value);
        }
        Ok(())
    }

    pub fn set_host_var(&mut self, host: &str, key: &str, value: Value) {
        self.hosts.get_mut(host).expect("host declared before use").vars.insert(key.to_string(), value);
    }

    /// Make `child` a child group of `parent`. An edge that would make a group
    /// its own ancestor is refused, pointing at `span` (where the edge is written).
    pub fn add_child_group(&mut self, parent: &str, child: &str, span: &Span) -> Result<(), Diagnostic> {
        if self.groups[parent].children.iter().any(|c| c == child) {
            return Ok(());
        }
        if let Some(path) = self.path_down(child, parent) {
            let cycle = format!("{parent} -> {}", path.join(" -> "));
            let message = if parent == child {
                format!("group `{child}` cannot be a child of itself")
            } else {
                format!("group `{child}` cannot be a child of `{parent}`: `{parent}` is already below `{child}`, so this makes a cycle {cycle}")
            };
            return Err(Diagnostic::at(span, message)
                .with_hint("a group's `children` may not include the group itself or any group it is a child of"));
        }
        self.link(parent, child);
        Ok(())
    }

    fn link(&mut self, parent: &str, child: &str) {
        self.groups[parent].children.push(child.to_string());
        let c = &mut self.groups[child];
        if !c.parents.iter().any(|p| p == parent) {
            c.parents.push(parent.to_string());
        }
    }

    /// Group names from `from` down to `to` through `children` edges, both
    /// included, if `to` is `from` or below it.
    fn path_down(&self, from: &str, to: &str) -> Option<Vec<String>> {
        let mut came_from: HashMap<&str, &str> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([from]);
        let mut seen = HashSet::from([from]);
        while let Some(g) = queue.pop_front() {
            if g == to {
                let mut path = vec![to.to_string()];
                let mut cur = to;
                while let Some(prev) = came_from.get(cur) {
                    path.push(prev.to_string());
                    cur = prev;
                }
                path.reverse();
                return Some(path);
            }
            for c in &self.groups[g].children {
                if seen.insert(c.as_str()) {
                    came_from.insert(c.as_str(), g);
                    queue.push_back(c.as_str());
                }
            }
        }
        None
    }

    /// Ansible's `reconcile_inventory`: attach orphan groups to `all`, sort
    /// hosts into or out of `ungrouped`, compute depths, warn about names
    /// used for both a host and a group.
    pub fn reconcile(&mut self) -> Result<Vec<Warning>, Diagnostic> {
        let orphans: Vec<(String, Option<Span>)> = self
            .groups
            .values()
            .filter(|g| g.name != ALL && g.parents.is_empty())
            .map(|g| (g.name.clone(), g.span.clone()))
            .collect();
        for (name, span) in orphans {
            match span {
                Some(span) => self.add_child_group(ALL, &name, &span)?,
                None => self.link(ALL, &name),
            }
        }

        let names: Vec<String> = self.hosts.keys().cloned().collect();
        let mut grouped_elsewhere = HashSet::new();
        for name in names {
            let direct = &self.hosts[&name].groups;
            let real = direct.iter().any(|g| g != ALL && g != UNGROUPED);
            let in_ungrouped = direct.iter().any(|g| g == UNGROUPED);
            if in_ungrouped && real {
                grouped_elsewhere.insert(name);
            } else if !real && !in_ungrouped {
                self.put_host_in_group(&name, UNGROUPED);
            }
        }
        self.remove_hosts_from_group(&grouped_elsewhere, UNGROUPED);

        self.depth = self.compute_depths();

        let warnings = self
            .hosts
            .values()
            .filter(|h| self.groups.contains_key(&h.name))
            .map(|h| {
                let d = Diagnostic::new(format!("found both a group and a host named `{}`", h.name)).with_hint(
                    "a host pattern with this name selects the host only, not the group's other members; rename one",
                );
                Warning(match &h.span {
                    Some(span) => d.or_at(span),
                    None => d,
                })
            })
            .collect();
        Ok(warnings)
    }

    /// Longest path from `all` to each group (Ansible's `Group.depth`).
    fn compute_depths(&self) -> HashMap<String, usize> {
        fn visit<'a>(data: &'a InventoryData, g: &'a str, memo: &mut HashMap<&'a str, usize>) -> usize {
            if let Some(d) = memo.get(g) {
                return *d;
            }
            let group = &data.groups[g];
            let d = group.parents.iter().map(|p| visit(data, p, memo) + 1).max().unwrap_or(0);
            memo.insert(g, d);
            d
        }
        let mut memo = HashMap::new();
        for name in self.groups.keys() {
            visit(self, name, &mut memo);
        }
        memo.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    pub fn depth(&self, group: &str) -> usize {
        self.depth.get(group).copied().unwrap_or(0)
    }

    /// All groups a host belongs to, directly or through children
    /// (Ansible's `host.get_groups()`), in no particular order.
    pub fn host_groups(&self, host: &str) -> Vec<&Group> {
        let mut seen: HashSet<&str> = HashSet::new();
        let mut stack: Vec<&str> = self.hosts[host].groups.iter().map(String::as_str).collect();
        let mut out = Vec::new();
        while let Some(g) = stack.pop() {
            if seen.insert(g) {
                let group = &self.groups[g];
                out.push(group);
                stack.extend(group.parents.iter().map(String::as_str));
            }
        }
        out
    }

    /// Groups sorted the way Ansible merges their variables: by depth, then
    /// priority, then name; later ones win.
    pub fn sort_groups<'a>(&self, mut groups: Vec<&'a Group>) -> Vec<&'a Group> {
        groups.sort_by(|a, b| {
            (self.depth(&a.name), a.priority, &a.name).cmp(&(self.depth(&b.name), b.priority, &b.name))
        });
        groups
    }

    /// Every host in `group` or below it, in Ansible's order: the group's own
    /// hosts, then its children's, level by level (`Group.get_hosts()`).
    /// For `all` this is what Ansible calls inventory order.
    pub fn group_hosts(&self, group: &str) -> Vec<&str> {
        let mut ordered: Vec<&str> = vec![group];
        let mut seen: HashSet<&str> = HashSet::new();
        let mut level: Vec<&str> = self.groups[group].children.iter().map(String::as_str).collect();
        ordered.extend(&level);
        while !level.is_empty() {
            seen.extend(&level);
            let mut next: Vec<&str> = Vec::new();
            for g in &level {
                for c in &self.groups[*g].children {
                    if !next.contains(&c.as_str()) {
                        next.push(c);
                    }
                    if !seen.contains(c.as_str()) {
                        ordered.push(c);
                    }
                }
            }
            next.retain(|g| !seen.contains(g));
            level = next;
        }
        let mut hosts_seen: HashSet<&str> = HashSet::new();
        let mut hosts = Vec::new();
        for g in ordered {
            for h in &self.groups[g].hosts {
                if hosts_seen.insert(h) {
                    hosts.push(h.as_str());
                }
            }
        }
        hosts
    }
}

/// Python's `int(value)` as Ansible applies it to `ansible_group_priority`.
fn priority_value(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)),
        Value::Bool(b) => Some(*b as i64),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::SourceFile;

    fn span() -> Span {
        SourceFile::new("t", "x\n").span(1, 1, 1)
    }

    #[test]
    fn orphans_join_all_and_hosts_leave_ungrouped() {
        let mut d = InventoryData::default();
        d.add_group("web", None);
        d.add_host("a", Some(UNGROUPED), None, None);
        d.add_host("a", Some("web"), None, None);
        d.add_host("b", None, None, None);
        d.reconcile().unwrap();
        assert_eq!(d.groups[ALL].children, ["ungrouped", "web"]);
        assert_eq!(d.groups[UNGROUPED].hosts, ["b"]);
        assert_eq!(d.group_hosts(ALL), ["b", "a"]);
    }

    /// Hosts leaving `ungrouped` together keep the order of those staying,
    /// and each host's own list of groups agrees with the groups' lists.
    #[test]
    fn many_hosts_leave_ungrouped_at_once() {
        let mut d = InventoryData::default();
        d.add_group("web", None);
        for h in ["a", "b", "c", "d", "e"] {
            d.add_host(h, Some(UNGROUPED), None, None);
        }
        for h in ["d", "b", "b"] {
            d.add_host(h, Some("web"), None, None);
        }
        d.reconcile().unwrap();
        assert_eq!(d.groups[UNGROUPED].hosts, ["a", "c", "e"]);
        assert_eq!(d.groups["web"].hosts, ["d", "b"]);
        for h in ["b", "d"] {
            assert_eq!(d.hosts[h].groups, ["web"], "{h}");
        }
        assert_eq!(d.hosts["a"].groups, [UNGROUPED]);
    }

    #[test]
    fn cycles_are_refused_with_the_path() {
        let mut d = InventoryData::default();
        for g in ["a", "b", "c"] {
            d.add_group(g, None);
        }
        d.add_child_group("a", "b", &span()).unwrap();
        d.add_child_group("b", "c", &span()).unwrap();
        let err = d.add_child_group("c", "a", &span()).unwrap_err();
        assert!(err.message.contains("c -> a -> b -> c"), "{}", err.message);
        assert!(d.add_child_group("a", "a", &span()).is_err());
    }

    #[test]
    fn depth_is_the_longest_path_from_all() {
        let mut d = InventoryData::default();
        for g in ["a", "b", "c"] {
            d.add_group(g, None);
        }
        d.add_child_group("a", "b", &span()).unwrap();
        d.add_child_group("b", "c", &span()).unwrap();
        d.add_child_group("a", "c", &span()).unwrap();
        d.reconcile().unwrap();
        assert_eq!((d.depth("all"), d.depth("a"), d.depth("b"), d.depth("c")), (0, 1, 2, 3));
    }
}
