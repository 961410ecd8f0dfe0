//! Ansible-compatible inventories (YAML and INI), host patterns, and the
//! inventory layer of variable precedence.
//!
//! Users bring the inventories they already run Ansible with, so behaviour
//! follows what `ansible-inventory` (ansible-core 2.19) does, including its
//! quirks, and the compatibility tests compare against it. Where we refuse
//! what Ansible only warns about (an unparsable file, a misspelled group
//! key), the module docs say so.
//!
//! ```no_run
//! # use push_engine::inventory::Inventory;
//! # use std::path::{Path, PathBuf};
//! let mut inv = Inventory::load(&[PathBuf::from("inventories/prod")])?;
//! inv.add_playbook_vars_dir(Path::new("playbooks"))?;
//! let selection = inv.select("mail:!mail-backup")?;
//! for host in &selection.hosts {
//!     let vars = inv.host_vars(host).expect("selected hosts exist");
//! }
//! # Ok::<(), push_engine::diagnostic::Diagnostic>(())
//! ```
//!
//! Files, one concern each: `sources` (which files, which format),
//! `ini_format` / `yaml_format` (the two formats, with `python_shlex` and
//! `python_literal` for INI's Python-isms), `host_range` (`web[01:20]`,
//! `host:port`), `data` (groups, hosts, edges), `vars_dirs`
//! (`group_vars/`, `host_vars/`), `precedence` (merging), `pattern` (host
//! patterns), `ansible_json` (`--list` / `--host` / `--graph` output).

mod ansible_json;
mod data;
mod host_range;
mod ini_format;
mod pattern;
mod precedence;
mod python_literal;
mod python_shlex;
mod sources;
mod vars_dirs;
mod yaml_format;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::diagnostic::{suggest, Diagnostic, Span};

pub use ansible_json::to_ansible_json;
pub use pattern::Selection;
pub use sources::absolute;

use data::{InventoryData, Vars, ALL};
use vars_dirs::VarsDir;

/// A non-fatal problem found while loading (Ansible prints these as
/// `[WARNING]`). Displayed like a [`Diagnostic`], with `warning:` instead
/// of `error:`.
#[derive(Debug, Clone)]
pub struct Warning(pub Diagnostic);

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.to_string();
        f.write_str(&text.replacen("error:", "warning:", 1))
    }
}

/// Hosts, groups and their variables from one or more inventory sources.
#[derive(Debug, Clone)]
pub struct Inventory {
    data: InventoryData,
    /// `group_vars/`/`host_vars/` next to each source, in `-i` order.
    inventory_vars: Vec<VarsDir>,
    /// Those next to the playbook; they beat the inventory's.
    playbook_vars: Vec<VarsDir>,
    warnings: Vec<Warning>,
}

impl Inventory {
    /// Load inventory sources, in order: files, folders of files (plus their
    /// `group_vars/` and `host_vars/`), or comma-separated host lists.
    pub fn load(sources: &[PathBuf]) -> Result<Inventory, Diagnostic> {
        let mut data = InventoryData::default();
        let mut warnings = Vec::new();
        let mut bases = Vec::new();
        for source in sources {
            if let Some(base) = sources::load_source(&mut data, source, &mut warnings)? {
                bases.push(base);
            }
        }
        warnings.extend(data.reconcile()?);
        let inventory_vars =
            bases.iter().map(|b| VarsDir::load(b, &data, &mut warnings)).collect::<Result<Vec<_>, _>>()?;
        Ok(Inventory { data, inventory_vars, playbook_vars: Vec::new(), warnings })
    }

    /// Add the `group_vars/` and `host_vars/` found in `dir` (the playbook's
    /// folder). They take precedence over the inventory's, as in Ansible.
    pub fn add_playbook_vars_dir(&mut self, dir: &Path) -> Result<(), Diagnostic> {
        let loaded = VarsDir::load(dir, &self.data, &mut self.warnings)?;
        self.playbook_vars.push(loaded);
        Ok(())
    }

    /// Every host, in inventory order (Ansible's order for the `all` pattern).
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.data.group_hosts(ALL).into_iter()
    }

    /// Where a host is first written in an inventory file (None for hosts
    /// of `-i a,b` lists and the implicit localhost).
    pub fn host_span(&self, host: &str) -> Option<&Span> {
        self.data.hosts.get(host).and_then(|h| h.span.as_ref())
    }

    /// Every group name, `all` and `ungrouped` first, then in the order defined.
    pub fn groups(&self) -> impl Iterator<Item = &str> {
        self.data.groups.keys().map(String::as_str)
    }

    /// Non-fatal problems found while loading, for the caller to print.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// A host's merged inventory-layer variables plus the magic variables
    /// `inventory_hostname`, `inventory_hostname_short`, `group_names`,
    /// `groups`, `inventory_file` and `inventory_dir`. `None` for a host not
    /// in the inventory, except the implicit `localhost` (see [`Self::select`]).
    /// Templates (`"{{ x }}"`) are left unrendered.
    pub fn host_vars(&self, host: &str) -> Option<Map<String, Value>> {
        let mut vars = self.inventory_vars(host)?;
        let known = self.data.hosts.contains_key(host);
        let short = if host_range::is_ip_address(host) { host } else { host.split('.').next().unwrap_or(host) };
        let mut group_names: Vec<&str> = if known {
            self.data.host_groups(host).into_iter().map(|g| g.name.as_str()).filter(|g| *g != ALL).collect()
        } else {
            Vec::new()
        };
        group_names.sort();
        vars.insert("inventory_hostname".into(), Value::String(host.to_string()));
        vars.insert("inventory_hostname_short".into(), Value::String(short.to_string()));
        vars.insert("group_names".into(), group_names.into_iter().map(|g| Value::String(g.into())).collect());
        vars.insert("groups".into(), self.groups_var());
        vars.entry("inventory_file").or_insert(Value::Null);
        vars.entry("inventory_dir").or_insert(Value::Null);
        Some(vars)
    }

    /// Merged inventory-layer variables without magic variables.
    fn inventory_vars(&self, host: &str) -> Option<Vars> {
        if self.data.hosts.contains_key(host) {
            Some(precedence::merged_vars(&self.data, &self.inventory_vars, &self.playbook_vars, host))
        } else if pattern::LOCALHOST_NAMES.contains(&host) {
            Some(precedence::implicit_localhost_vars(&self.data, &self.inventory_vars, &self.playbook_vars, host))
        } else {
            None
        }
    }

    /// The `groups` magic variable: every group (including `all` and
    /// `ungrouped`) to its hosts, in inventory order.
    fn groups_var(&self) -> Value {
        let map: Map<String, Value> = self
            .data
            .groups
            .keys()
            .map(|g| (g.clone(), self.data.group_hosts(g).into_iter().map(|h| Value::String(h.into())).collect()))
            .collect();
        Value::Object(map)
    }

    /// Hosts matching a host pattern (a play's `hosts:`; join a YAML list of
    /// patterns with `,`). Parts matching nothing are not errors; see
    /// [`Selection::warnings`]. As in Ansible, `localhost` (or `127.0.0.1`,
    /// `::1`) selects an implicit local host when the inventory lacks it.
    /// Errors (bad regex, subscript out of range) carry no span: attach the
    /// pattern's with [`Diagnostic::or_at`].
    pub fn select(&self, pattern: &str) -> Result<Selection, Diagnostic> {
        pattern::Matcher::new(&self.data).select(pattern, None)
    }

    /// [`Self::select`] narrowed by a `--limit` pattern, which may use
    /// `@FILE` for a file with one pattern per line.
    pub fn select_limited(&self, pattern: &str, limit: &str) -> Result<Selection, Diagnostic> {
        pattern::Matcher::new(&self.data).select(pattern, Some(limit))
    }

    /// `ansible-inventory --list` as JSON (keys sorted as Ansible prints them).
    pub fn list_json(&self) -> Value {
        let hosts: Vec<String> = self.hosts().map(String::from).collect();
        ansible_json::list(self, &hosts)
    }

    /// `ansible-inventory --host HOST` as JSON, `None` for an unknown host.
    pub fn host_json(&self, host: &str) -> Option<Value> {
        self.data.hosts.get(host)?;
        Some(ansible_json::visible_vars(self.inventory_vars(host)?))
    }

    /// `ansible-inventory --graph [GROUP]` text (ends with a newline).
    pub fn graph(&self, group: &str) -> Result<String, Diagnostic> {
        if !self.data.groups.contains_key(group) {
            let d = Diagnostic::new(format!("`{group}` is not a group in the inventory"));
            return Err(match suggest(group, self.groups()) {
                Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                None => d.with_hint("--graph takes a group name, e.g. `all`"),
            });
        }
        Ok(ansible_json::graph(self, group))
    }
}
