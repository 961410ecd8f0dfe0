//! `push import geard FILE.json`: print the playbook that does what a geard
//! deployment file did. See [`crate::import::geard`].

use std::path::PathBuf;

use super::Error;

pub struct ImportGeard {
    pub file: PathBuf,
}

/// The playbook text, for stdout. Anything the playbook could not express
/// is an input error (exit 4) pointing at it.
pub fn geard(cmd: ImportGeard) -> Result<String, Error> {
    Ok(crate::import::geard::convert_file(&cmd.file)?)
}
