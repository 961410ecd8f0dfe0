//! Converting other tools' descriptions of a deployment into playbooks.

pub mod geard;
