//! Playbooks: plays, tasks, handlers, roles and imports, loaded into plain
//! data with the source position of everything a later error may be about.

mod keywords;
mod load;
mod loops;
mod model;
mod roles;

pub use load::{load_playbook, load_playbook_with_roles, parse_extra_var};
pub use loops::{pause_seconds, LoopKind, LoopSpec, PAUSE_HINT};
pub use model::*;
pub use roles::search_dirs as role_search_dirs;
