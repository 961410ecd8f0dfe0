//! The inventory layer of Ansible's variable precedence: which of a host's
//! many variable sources wins. Lowest first (each later layer replaces keys
//! of the earlier ones; dicts are replaced whole, Ansible's default
//! `hash_behaviour = replace`):
//!
//! 1. inventory-file vars of `all`
//! 2. inventory-file vars of the host's other groups, sorted by depth, then
//!    `ansible_group_priority`, then name (so a child beats its parent)
//! 3. inventory `group_vars/all`
//! 4. playbook `group_vars/all`
//! 5. inventory `group_vars/<group>`, groups sorted as in 2
//! 6. playbook `group_vars/<group>`
//! 7. inventory-file host vars
//! 8. inventory `host_vars/<host>`
//! 9. playbook `host_vars/<host>`
//!
//! This is `VariableManager.get_vars` with the default
//! `VARIABLE_PRECEDENCE`. One consequence users trip over, kept on purpose:
//! `group_vars/all` (3) beats a child group's vars written in the inventory
//! file (2). With several `-i` sources, layers 5 and 8 go source by source,
//! and within one source group by group, exactly as Ansible does.

use serde_json::Value;

use super::data::{InventoryData, Vars, ALL};
use super::vars_dirs::VarsDir;

/// The merged inventory-layer variables of `host` (no magic variables).
/// `host` must exist in `data`.
pub fn merged_vars(data: &InventoryData, inventory: &[VarsDir], playbook: &[VarsDir], host: &str) -> Vars {
    let groups: Vec<&str> = data
        .sort_groups(data.host_groups(host).into_iter().filter(|g| g.name != ALL).collect())
        .into_iter()
        .map(|g| g.name.as_str())
        .collect();
    let mut vars = Vars::new();
    layer(&mut vars, &data.groups[ALL].vars);
    for g in &groups {
        layer(&mut vars, &data.groups[*g].vars);
    }
    dirs_layer(&mut vars, inventory, playbook, &[ALL], |d, name| d.groups.get(name));
    dirs_layer(&mut vars, inventory, playbook, &groups, |d, name| d.groups.get(name));
    layer(&mut vars, &data.hosts[host].vars);
    dirs_layer(&mut vars, inventory, playbook, &[host], |d, name| d.hosts.get(name));
    vars
}

/// Ansible's implicit `localhost` (a play for `localhost` when the inventory
/// has no such host): `all`'s vars, `ansible_connection: local`, and any
/// `host_vars/localhost`.
pub fn implicit_localhost_vars(data: &InventoryData, inventory: &[VarsDir], playbook: &[VarsDir], name: &str) -> Vars {
    let mut vars = Vars::new();
    layer(&mut vars, &data.groups[ALL].vars);
    dirs_layer(&mut vars, inventory, playbook, &[ALL], |d, n| d.groups.get(n));
    vars.insert("ansible_connection".into(), Value::String("local".into()));
    dirs_layer(&mut vars, inventory, playbook, &[name], |d, n| d.hosts.get(n));
    vars
}

fn layer(into: &mut Vars, from: &Vars) {
    for (k, v) in from {
        into.insert(k.clone(), v.clone());
    }
}

/// Inventory folders first, then playbook folders; within each, folder by
/// folder and then name by name.
fn dirs_layer<'a>(
    into: &mut Vars,
    inventory: &'a [VarsDir],
    playbook: &'a [VarsDir],
    names: &[&str],
    get: impl Fn(&'a VarsDir, &str) -> Option<&'a Vars>,
) {
    for dir in inventory.iter().chain(playbook) {
        for name in names {
            if let Some(v) = get(dir, name) {
                layer(into, v);
            }
        }
    }
}
