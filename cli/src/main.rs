//! The `push` command: parse options, call one engine function, map the
//! result to an exit code. Nothing else lives here.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
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
    Run(RunArgs),
    /// Put each host's containers (the playbook's docker_unit tasks) back on
    /// the deployment they ran before the last upgrade, in the plays' batches.
    Rollback(RunArgs),
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
struct RunArgs {
    /// The playbook file.
    playbook: PathBuf,
    /// Inventory file or folder (repeatable); default: ansible.cfg's `inventory`.
    #[arg(short = 'i', long = "inventory")]
    inventory: Vec<PathBuf>,
    /// Narrow the hosts further with a pattern (`web*`, `a:&b`, `@file`).
    #[arg(short = 'l', long)]
    limit: Option<String>,
    /// Extra variables: key=value, YAML/JSON, or @file.yml (repeatable; they win over all others).
    #[arg(short = 'e', long = "extra-vars")]
    extra_vars: Vec<String>,
    /// How many hosts run at once [default: ansible.cfg's `forks`, else 50].
    #[arg(short = 'f', long, value_parser = clap::value_parser!(u32).range(1..))]
    forks: Option<u32>,
    /// Change nothing; report what would change.
    #[arg(short = 'C', long)]
    check: bool,
    /// Show diffs of changed files.
    #[arg(short = 'D', long)]
    diff: bool,
    /// Only run tasks with these tags (comma-separated or repeated).
    #[arg(short = 't', long)]
    tags: Vec<String>,
    /// Skip tasks with these tags.
    #[arg(long)]
    skip_tags: Vec<String>,
    /// List the hosts each play would run on, then stop.
    #[arg(long)]
    list_hosts: bool,
    /// List the tasks each play would run, then stop.
    #[arg(long)]
    list_tasks: bool,
    /// Output: human text, or one JSON event per line.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// An ssh_config file for all hosts (like `ssh -F`).
    #[arg(long)]
    ssh_config: Option<PathBuf>,
    /// Accept and remember host keys not yet in known_hosts (default: refuse).
    #[arg(long)]
    accept_new_host_keys: bool,
    /// Seconds to wait for an SSH connection.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Roll out in batches: a number, a percentage or a list (`1,5,25%`); overrides plays' `serial`.
    #[arg(long)]
    serial: Option<String>,
    /// Stop starting batches once more than this percentage of a batch failed; overrides plays'.
    #[arg(long, value_parser = parse_percentage)]
    max_fail_percentage: Option<f64>,
    /// Seconds to wait when another run holds a host's deploy lock (then fail, naming the holder).
    #[arg(long, default_value_t = 60)]
    lock_wait: u64,
    /// Use image tags as written (default: pin each tag to its digest once per run).
    #[arg(long)]
    no_pin: bool,
    /// Break a host's deploy lock whose holder process is gone.
    #[arg(long)]
    break_stale_lock: bool,
    #[command(flatten)]
    vault: vault::VaultPasswordArgs,
    /// Log in as this user where neither the host (`ansible_user`) nor the play (`remote_user`) names one.
    #[arg(short = 'u', long = "user")]
    user: Option<String>,
    /// Run tasks that say nothing of `become` as another user (root unless --become-user), with sudo unless --become-method.
    #[arg(short = 'b', long = "become")]
    become_: bool,
    /// The user tasks become where the playbook names none (root if nothing does).
    #[arg(long)]
    become_user: Option<String>,
    /// How tasks become another user where the playbook does not say (sudo if nothing does).
    #[arg(long, value_enum)]
    become_method: Option<BecomeMethod>,
    /// Ask for the become password (sudo: the login user's; su: the become
    /// user's), once: read from the terminal without echo, or as one line
    /// from stdin when it is not a terminal.
    #[arg(short = 'K', long)]
    ask_become_pass: bool,
    /// Ask for the ssh login password (as -K; asked first when both are given).
    #[arg(short = 'k', long)]
    ask_pass: bool,
    /// Show what changed and failed tasks printed (-vv: every task's, and the shell it ran).
    #[arg(short = 'v', long, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Clone, Copy, ValueEnum)]
enum BecomeMethod {
    Sudo,
    Su,
}

fn parse_percentage(s: &str) -> Result<f64, String> {
    let p: f64 = s.trim_end_matches('%').parse().map_err(|_| format!("`{s}` is not a percentage"))?;
    if (0.0..=100.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("`{s}` is not between 0 and 100"))
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

impl From<Format> for report::Format {
    fn from(f: Format) -> report::Format {
        match f {
            Format::Text => report::Format::Text,
            Format::Json => report::Format::Json,
        }
    }
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
    vault: vault::VaultPasswordArgs,
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
        Command::Run(args) | Command::Rollback(args) => Printer::stdio(args.format.into(), args.verbose),
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
            let vault = args.vault.into_passwords();
            inventories_or_configured(args.inventory)
                .and_then(|inventories| ops::inventory(ops::InventoryCommand { inventories, view, vault }))
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

fn run(args: RunArgs, rollback: bool, printer: Arc<Printer>) -> Result<i32, ops::Error> {
    let config = push_engine::ansible_cfg::load()?;
    let connection_password = if args.ask_pass { Some(ask_password("SSH password: ")?) } else { None };
    let ask_become_pass = args.ask_become_pass || config.become_ask_pass == Some(true);
    let become_password = if ask_become_pass { Some(ask_password("BECOME password: ")?) } else { None };
    let cmd = ops::RunCommand {
        playbook: args.playbook,
        inventories: args.inventory,
        limit: args.limit,
        extra_vars: args.extra_vars,
        forks: args.forks.map(|f| f as usize),
        check: args.check,
        diff: args.diff,
        tags: args.tags,
        skip_tags: args.skip_tags,
        list_hosts: args.list_hosts,
        list_tasks: args.list_tasks,
        ssh_config: args.ssh_config,
        accept_new_host_keys: args.accept_new_host_keys,
        connect_timeout: Duration::from_secs(args.timeout),
        serial: args.serial,
        max_fail_percentage: args.max_fail_percentage,
        lock_wait: args.lock_wait,
        break_stale_lock: args.break_stale_lock,
        no_pin: args.no_pin,
        rollback,
        vault: args.vault.into_passwords(),
        remote_user: args.user,
        become_: args.become_,
        become_user: args.become_user,
        become_method: args.become_method.map(|m| match m {
            BecomeMethod::Sudo => push_engine::become_method::Method::Sudo,
            BecomeMethod::Su => push_engine::become_method::Method::Su,
        }),
        become_password,
        connection_password,
        roles_path: Vec::new(),
        private_key_file: None,
        ssh_args: Vec::new(),
        notes: Vec::new(),
    }
    .with_ansible_config(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(ops::run(cmd, printer)).map(|o| o.exit_code())
}
