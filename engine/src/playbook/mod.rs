//! Playbooks: plays, tasks, handlers, roles and imports, loaded into plain
//! data with the source position of everything a later error may be about.

mod keywords;
mod load;
mod loops;
mod model;

pub use load::{load_playbook, parse_extra_var};
pub use loops::{pause_seconds, LoopKind, LoopSpec, PAUSE_HINT};
pub use model::*;
