use std::path::PathBuf;

use super::Error;
use crate::inventory::Inventory;

#[derive(Debug, Clone)]
pub enum InventoryView {
    /// `ansible-inventory --list` JSON.
    List,
    /// `ansible-inventory --graph` tree.
    Graph,
    /// One host's variables.
    Host(String),
}

/// `push inventory`.
#[derive(Debug, Clone)]
pub struct InventoryCommand {
    pub inventories: Vec<PathBuf>,
    pub view: InventoryView,
    /// Passwords for vaulted files and values.
    pub vault: super::VaultPasswords,
}

/// What is printed in place of a value opened from a vault.
pub const VAULTED: &str = crate::vault::REDACTED;

fn hide_vaulted(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) if crate::vault::carries_secret(s.as_bytes()) => Value::String(VAULTED.into()),
        Value::Array(items) => Value::Array(items.iter().map(hide_vaulted).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), hide_vaulted(v))).collect()),
        other => other.clone(),
    }
}

/// Returns the text to print.
pub fn inventory(cmd: InventoryCommand) -> Result<String, Error> {
    super::unlock(&cmd.vault)?;
    let inventory = Inventory::load(&cmd.inventories)?;
    Ok(match cmd.view {
        InventoryView::List => pretty(&inventory.list_json()),
        InventoryView::Graph => inventory.graph("all")?,
        InventoryView::Host(host) => match inventory.host_json(&host) {
            Some(v) => pretty(&v),
            None => return Err(Error::Usage(format!("host `{host}` is not in the inventory"))),
        },
    })
}

/// The same text `ansible-inventory` prints, so outputs can be diffed; a
/// value opened from a vault is printed as [`VAULTED`].
fn pretty(v: &serde_json::Value) -> String {
    let mut s = crate::inventory::to_ansible_json(&hide_vaulted(v));
    s.push('\n');
    s
}
