//! The push engine. Data flows one way:
//! inventory + playbook + extra vars -> variables per host -> a plan per host
//! (pure data) -> one session per host (a remote shell for the whole run)
//! -> probe (one round trip on it) -> changes computed here -> apply (one
//! more) -> events -> reporters.

pub mod ansible_cfg;
pub mod attachment;
pub mod batches;
pub mod become_method;
pub mod diagnostic;
pub mod digest;
pub mod filters;
pub mod flow;
pub mod import;
pub mod inventory;
pub mod kept_scripts;
pub mod loop_items;
pub mod ops;
pub mod output_cap;
pub mod plan;
pub mod playbook;
pub mod report;
pub mod run;
pub mod script;
pub mod set_vars;
pub mod shell_context;
pub mod template;
pub mod template_limits;
/// For tests (here and in the lab crate): a loopback HTTP server.
#[doc(hidden)]
pub mod test_http;
#[cfg(test)]
mod test_python;
pub mod transport;
pub mod vault;
pub mod yaml;
