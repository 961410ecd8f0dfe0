//! One function per subcommand; the CLI parses options into these structs
//! and turns the results into exit codes.

pub mod import;
mod inventory;
mod run;
pub mod vault;

pub use inventory::{inventory, InventoryCommand, InventoryView};
pub use run::{run, RunCommand};
pub use vault::{unlock, vault, VaultAction, VaultCommand, VaultPasswords};

use crate::diagnostic::Diagnostic;

/// Why a command could not do its job, mapped to exit codes by the CLI.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad playbook, inventory, variables or templates: exit 4.
    #[error("{0}")]
    Input(#[from] Diagnostic),
    /// Bad command line (beyond what the parser catches): exit 5.
    #[error("{0}")]
    Usage(String),
    /// Stopped by a signal (Ctrl-C, SIGTERM, SIGHUP) after closing the
    /// connections: exit 128 + the signal's number.
    #[error("{}", .0.describe())]
    Interrupted(Signal),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The signals that stop a run cleanly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Ctrl-C.
    Interrupt,
    /// `kill`, a service manager stopping us.
    Terminate,
    /// The terminal or the ssh session push runs in went away.
    Hangup,
}

impl Signal {
    fn number(self) -> i32 {
        match self {
            Signal::Interrupt => libc::SIGINT,
            Signal::Terminate => libc::SIGTERM,
            Signal::Hangup => libc::SIGHUP,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Signal::Interrupt => "interrupted",
            Signal::Terminate => "terminated",
            Signal::Hangup => "hung up",
        }
    }
}

/// How a run ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// A host failed (exit 2).
    Failed,
    /// A host was unreachable and none failed (exit 3).
    Unreachable,
}

impl Outcome {
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Ok => 0,
            Outcome::Failed => 2,
            Outcome::Unreachable => 3,
        }
    }
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) => 4,
            Error::Usage(_) => 5,
            Error::Interrupted(signal) => 128 + signal.number(),
            Error::Io(_) => 1,
        }
    }
}
