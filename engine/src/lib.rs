//! The push engine. Data flows one way:
//! inventory + playbook + extra vars -> variables per host -> a plan per host
//! (pure data) -> probe (one remote exec) -> changes computed here ->
//! apply (one remote exec) -> events -> reporters.

pub mod diagnostic;
pub mod yaml;
pub mod inventory;
pub mod filters;
pub mod template;
pub mod playbook;
pub mod script;
pub mod transport;
pub mod batches;
pub mod digest;
pub mod plan;
pub mod report;
pub mod runner;
pub mod ops;
pub mod lab;
pub mod import;
