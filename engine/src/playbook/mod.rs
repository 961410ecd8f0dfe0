//! Playbooks: plays, tasks, handlers, roles and imports, loaded into plain
//! data with the source position of everything a later error may be about.

mod keywords;
mod load;
mod model;
mod roles;

pub use load::{load_playbook, parse_extra_var};
pub use model::*;
