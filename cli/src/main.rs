//! The `push` command: parse options, call one engine function, map the
//! result to an exit code. Nothing else lives here.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use push_engine::ops;
use push_engine::report::{self, Printer};

mod import;
mod lab;
mod output;
mod vault;

/// Agentless, Ansible-style push executor: converge hosts over SSH.
#[derive(Parser)]
#[command(name = "push", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a playbook against an inventory.
    Run(ops::RunCommand),
    /// Put each host's containers (the playbook's docker_unit tasks) back on
    /// the deployment they ran before the last upgrade, in the plays' batches.
    Rollback(ops::RunCommand),
    /// Show an inventory the way `ansible-inventory` does.
    Inventory(InventoryArgs),
    /// Real Debian hosts (containers with systemd and sshd) on this machine.
    Lab(lab::LabArgs),
    /// Convert another tool's deployment description into a playbook.
    Import(import::ImportArgs),
    /// Encrypt, decrypt, view, edit and rekey Ansible Vault files and strings.
    Vault(vault::VaultArgs),
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("view").required(true).args(["list", "graph", "host"])))]
struct InventoryArgs {
    /// Inventory file or folder (repeatable); default: ansible.cfg's `inventory`.
    #[arg(short = 'i', long = "inventory")]
    inventory: Vec<PathBuf>,
    /// All groups and hosts, as `ansible-inventory --list` prints them.
    #[arg(long)]
    list: bool,
    /// The group tree.
    #[arg(long)]
    graph: bool,
    /// One host's variables.
    #[arg(long)]
    host: Option<String>,
    #[command(flatten)]
    vault: ops::VaultPasswords,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 5 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // The one printer: run events, bars, and every command's error.
    let printer = Arc::new(match &cli.command {
        Command::Run(args) | Command::Rollback(args) => Printer::stdio(args.format, args.verbose),
        _ => Printer::stdio(report::Format::Text, 0),
    });
    let result = match cli.command {
        Command::Run(args) => run(args, false, Arc::clone(&printer)),
        Command::Rollback(args) => run(args, true, Arc::clone(&printer)),
        Command::Lab(args) => lab::run(args, &printer),
        Command::Import(args) => import::run(args),
        Command::Vault(args) => vault::run(args),
        Command::Inventory(args) => {
            let view = match (args.list, args.graph, args.host) {
                (_, _, Some(h)) => ops::InventoryView::Host(h),
                (_, true, _) => ops::InventoryView::Graph,
                _ => ops::InventoryView::List,
            };
            inventories_or_configured(args.inventory)
                .and_then(|inventories| ops::inventory(ops::InventoryCommand { inventories, view, vault: args.vault }))
                .map(|text| {
                    output::out(&text);
                    0
                })
        }
    };
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            printer.error(&e);
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// The inventories given with -i, else ansible.cfg's, as ansible-inventory
/// finds them.
fn inventories_or_configured(given: Vec<PathBuf>) -> Result<Vec<PathBuf>, ops::Error> {
    if !given.is_empty() {
        return Ok(given);
    }
    let configured = push_engine::ansible_cfg::load()?.inventory;
    if configured.is_empty() {
        return Err(ops::Error::Usage(push_engine::ansible_cfg::NO_INVENTORY.into()));
    }
    Ok(configured)
}

/// `-k`, `-K`: a password, asked for once for the whole run, as Ansible
/// does. A terminal gets a prompt without echo; a pipe gives its next line
/// (for scripts and tests that cannot type).
fn ask_password(prompt: &str) -> Result<String, ops::Error> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        return Ok(rpassword::prompt_password(prompt)?);
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// `push run` and `push rollback`: the command line's options, the
/// passwords they ask for, then ansible.cfg's for what they left out.
fn run(mut cmd: ops::RunCommand, rollback: bool, printer: Arc<Printer>) -> Result<i32, ops::Error> {
    let config = push_engine::ansible_cfg::load()?;
    cmd.rollback = rollback;
    if cmd.ask_pass {
        cmd.connection_password = Some(ask_password("SSH password: ")?);
    }
    if cmd.ask_become_pass || config.become_ask_pass == Some(true) {
        cmd.become_password = Some(ask_password("BECOME password: ")?);
    }
    let cmd = cmd.with_ansible_config(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(ops::run(cmd, printer)).map(|o| o.exit_code())
}
