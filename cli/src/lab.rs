//! `push lab`: real Debian hosts on this machine. (Being built.)

use clap::{Args, Subcommand};
use push_engine::ops;

#[derive(Args)]
pub struct LabArgs {
    #[command(subcommand)]
    pub command: LabCommand,
}

#[derive(Subcommand)]
pub enum LabCommand {
    /// Boot lab hosts.
    Up,
}

pub fn run(args: LabArgs) -> Result<i32, ops::Error> {
    match args.command {
        LabCommand::Up => Err(ops::Error::Usage("`push lab` is not built yet".into())),
    }
}
