//! What `push lab` shows while it works is the engine's one printer: on a
//! terminal, one spinner with the current phase and the latest line of the
//! tool at work (debootstrap, docker build); elsewhere (CI logs, tests), one
//! plain line per phase on stderr and none of the tools' chatter.

pub use push_engine::report::{seconds, Printer as Progress};
