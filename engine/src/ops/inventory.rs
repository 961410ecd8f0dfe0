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
}

/// Returns the text to print.
pub fn inventory(cmd: InventoryCommand) -> Result<String, Error> {
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

/// The same text `ansible-inventory` prints, so outputs can be diffed.
fn pretty(v: &serde_json::Value) -> String {
    let mut s = crate::inventory::to_ansible_json(v);
    s.push('\n');
    s
}
