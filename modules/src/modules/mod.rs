//! One file per module.
