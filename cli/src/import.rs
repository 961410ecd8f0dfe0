//! `push import`: other tools' deployment descriptions as playbooks.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use push_engine::ops;

#[derive(Args)]
#[command(
    after_help = "Exit codes: 0 ok, 4 the file cannot be read or converted (the message points at the place), 5 a bad option."
)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub command: ImportCommand,
}

#[derive(Subcommand)]
pub enum ImportCommand {
    /// Print a playbook (YAML, on stdout) equivalent to a geard deployment
    /// file: each container a docker_unit task, its Keys docker_ssh tasks.
    Geard {
        /// The deployment file (JSON).
        file: PathBuf,
    },
}

pub fn run(args: ImportArgs) -> Result<i32, ops::Error> {
    let text = match args.command {
        ImportCommand::Geard { file } => ops::import::geard(ops::import::ImportGeard { file })?,
    };
    crate::output::out(&text);
    Ok(0)
}
