//! `push vault` and the vault password options every command shares.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use push_engine::ops;

#[derive(Args)]
#[command(
    after_help = "Files are compatible both ways with ansible-vault (formats 1.1 and 1.2).\nExit codes: 0 ok, 4 a file or password that does not do (wrong password, not a vault), 5 a bad option."
)]
pub struct VaultArgs {
    #[command(subcommand)]
    command: VaultCommand,
    #[command(flatten)]
    passwords: ops::VaultPasswords,
    /// The label (of a --vault-id) whose password encrypts.
    #[arg(long, global = true, value_name = "LABEL")]
    encrypt_vault_id: Option<String>,
}

#[derive(Subcommand)]
enum VaultCommand {
    /// Encrypt files in place (no file: stdin to stdout).
    Encrypt {
        files: Vec<PathBuf>,
        /// Write here instead (`-` for stdout).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Decrypt files in place (no file: stdin to stdout).
    Decrypt {
        files: Vec<PathBuf>,
        /// Write here instead (`-` for stdout).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Print the plaintext of vaulted files.
    View {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Edit a vaulted file with $EDITOR on a private copy, removed afterwards.
    Edit { file: PathBuf },
    /// Print `!vault |` values to paste into YAML (no string: read stdin).
    #[command(name = "encrypt_string", alias = "encrypt-string")]
    EncryptString {
        strings: Vec<String>,
        /// The variable name of each value, in order (repeatable).
        #[arg(short = 'n', long = "name")]
        names: Vec<String>,
    },
    /// Encrypt vaulted files again with a new password.
    Rekey {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The new password: a file or an executable.
        #[arg(long, value_name = "FILE")]
        new_vault_password_file: Option<PathBuf>,
        /// The new password as `[LABEL@]SOURCE`.
        #[arg(long, value_name = "[LABEL@]SOURCE")]
        new_vault_id: Option<String>,
    },
}

pub fn run(args: VaultArgs) -> Result<i32, ops::Error> {
    let action = match args.command {
        VaultCommand::Encrypt { files, output } => ops::VaultAction::Encrypt { files, output },
        VaultCommand::Decrypt { files, output } => ops::VaultAction::Decrypt { files, output },
        VaultCommand::View { files } => ops::VaultAction::View { files },
        VaultCommand::Edit { file } => ops::VaultAction::Edit { file },
        VaultCommand::EncryptString { strings, names } => ops::VaultAction::EncryptString { strings, names },
        VaultCommand::Rekey { files, new_vault_password_file, new_vault_id } => ops::VaultAction::Rekey {
            files,
            new: ops::VaultPasswords {
                ids: new_vault_id.into_iter().collect(),
                password_files: new_vault_password_file.into_iter().collect(),
                ask: false,
            },
        },
    };
    let cmd = ops::VaultCommand { action, passwords: args.passwords, encrypt_vault_id: args.encrypt_vault_id };
    let out = ops::vault(cmd)?;
    crate::output::out_bytes(&out);
    Ok(0)
}
