use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{Error, Outcome, Signal};
use clap::builder::TypedValueParser as _;

use crate::batches::Serial;
use crate::become_method::Method;
use crate::diagnostic::Diagnostic;
use crate::inventory::Inventory;
use crate::playbook::{self, Playbook};
use crate::report::{Format, Printer, Reporter};
use crate::run::{self as run_path, Forks, RunOptions};
use crate::template::Vars;
use crate::transport::{DefaultConnector, LocalConnector, SshConnector, SshOptions};

/// `push run` and `push rollback`: the options as the command line gives
/// them (clap fills this, `rollback` aside), completed from ansible.cfg
/// ([`RunCommand::with_ansible_config`]); [`run`] turns them into the run
/// path's [`RunOptions`] in one place ([`load`]).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunCommand {
    /// The playbook file.
    pub playbook: PathBuf,
    /// Inventory file or folder (repeatable); default: ansible.cfg's `inventory`.
    #[arg(short = 'i', long = "inventory", value_name = "INVENTORY")]
    pub inventories: Vec<PathBuf>,
    /// Narrow the hosts further with a pattern (`web*`, `a:&b`, `@file`).
    #[arg(short = 'l', long)]
    pub limit: Option<String>,
    /// Extra variables: key=value, YAML/JSON, or @file.yml (repeatable; they win over all others).
    #[arg(short = 'e', long = "extra-vars")]
    pub extra_vars: Vec<String>,
    /// How many hosts run at once [default: ansible.cfg's `forks`, else 50].
    #[arg(short = 'f', long, value_parser = clap::value_parser!(u32).range(1..).map(|n| Forks::new(n as usize)))]
    pub forks: Option<Forks>,
    /// Change nothing; report what would change.
    #[arg(short = 'C', long)]
    pub check: bool,
    /// Show diffs of changed files.
    #[arg(short = 'D', long)]
    pub diff: bool,
    /// Only run tasks with these tags (comma-separated or repeated).
    #[arg(short = 't', long)]
    pub tags: Vec<String>,
    /// Skip tasks with these tags.
    #[arg(long)]
    pub skip_tags: Vec<String>,
    /// List the hosts each play would run on, then stop.
    #[arg(long)]
    pub list_hosts: bool,
    /// List the tasks each play would run, then stop.
    #[arg(long)]
    pub list_tasks: bool,
    /// Output: human text, or one JSON event per line.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// An ssh_config file for all hosts (like `ssh -F`).
    #[arg(long)]
    pub ssh_config: Option<PathBuf>,
    /// Accept and remember host keys not yet in known_hosts (default: refuse).
    #[arg(long)]
    pub accept_new_host_keys: bool,
    /// Seconds to wait for an SSH connection.
    #[arg(long = "timeout", value_name = "TIMEOUT", default_value = "10", value_parser = clap::value_parser!(u64).map(Duration::from_secs))]
    pub connect_timeout: Duration,
    /// Roll out in batches: a number, a percentage or a list (`1,5,25%`); overrides plays' `serial`.
    #[arg(long)]
    pub serial: Option<String>,
    /// Stop starting batches once more than this percentage of a batch failed; overrides plays'.
    #[arg(long, value_parser = parse_percentage)]
    pub max_fail_percentage: Option<f64>,
    /// Seconds to wait when another run holds a host's deploy lock (then fail, naming the holder).
    #[arg(long, default_value_t = 60)]
    pub lock_wait: u64,
    /// Use image tags as written (default: pin each tag to its digest once per run).
    #[arg(long)]
    pub no_pin: bool,
    /// Break a host's deploy lock whose holder process is gone.
    #[arg(long)]
    pub break_stale_lock: bool,
    /// Passwords for vaulted files and values.
    #[command(flatten)]
    pub vault: super::VaultPasswords,
    /// Log in as this user where neither the host (`ansible_user`) nor the play (`remote_user`) names one.
    #[arg(short = 'u', long = "user", value_name = "USER")]
    pub remote_user: Option<String>,
    /// Run tasks that say nothing of `become` as another user (root unless --become-user), with sudo unless --become-method.
    #[arg(short = 'b', long = "become")]
    pub become_: bool,
    /// The user tasks become where the playbook names none (root if nothing does).
    #[arg(long)]
    pub become_user: Option<String>,
    /// How tasks become another user where the playbook does not say (sudo if nothing does).
    #[arg(long, value_parser = become_methods())]
    pub become_method: Option<Method>,
    /// Ask for the become password (sudo: the login user's; su: the become
    /// user's), once: read from the terminal without echo, or as one line
    /// from stdin when it is not a terminal.
    #[arg(short = 'K', long)]
    pub ask_become_pass: bool,
    /// Ask for the ssh login password (as -K; asked first when both are given).
    #[arg(short = 'k', long)]
    pub ask_pass: bool,
    /// Show what changed and failed tasks printed (-vv: every task's, and the shell it ran).
    #[arg(short = 'v', long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// `push rollback`: put containers back on their earlier deployment.
    #[arg(skip)]
    pub rollback: bool,
    /// The become password (asked for with `-K`), for hosts without
    /// `ansible_become_password`.
    #[arg(skip)]
    pub become_password: Option<String>,
    /// The login password (asked for with `-k`), for hosts without
    /// `ansible_password`.
    #[arg(skip)]
    pub connection_password: Option<String>,
    /// ansible.cfg's `private_key_file`: the key of hosts that name none.
    #[arg(skip)]
    pub private_key_file: Option<PathBuf>,
    /// ansible.cfg's `[ssh_connection] ssh_args`.
    #[arg(skip)]
    pub ssh_args: Vec<String>,
    /// ansible.cfg's `roles_path` (or `ANSIBLE_ROLES_PATH`): where roles
    /// are looked for after the playbook's `roles/`.
    pub roles_path: Vec<PathBuf>,
    /// What the Ansible config did that the user should know, said once
    /// before the run.
    #[arg(skip)]
    pub notes: Vec<String>,
}

/// `--become-method`: the methods push knows, by name.
fn become_methods() -> impl clap::builder::TypedValueParser<Value = Method> {
    clap::builder::PossibleValuesParser::new(Method::ALL.map(Method::name))
        .map(|name| Method::parse(&name).expect("one of the possible values"))
}

/// `--max-fail-percentage`: 0 to 100, with or without `%`.
fn parse_percentage(s: &str) -> Result<f64, String> {
    let p: f64 = s.trim_end_matches('%').parse().map_err(|_| format!("`{s}` is not a percentage"))?;
    if (0.0..=100.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("`{s}` is not between 0 and 100"))
    }
}

impl RunCommand {
    /// Fill in what the command line left out from ansible.cfg and
    /// `ANSIBLE_*` variables (the command line wins, as in Ansible).
    pub fn with_ansible_config(mut self, cfg: &crate::ansible_cfg::AnsibleConfig) -> Result<RunCommand, Error> {
        if self.inventories.is_empty() {
            self.inventories = cfg.inventory.clone();
        }
        if self.inventories.is_empty() {
            return Err(Error::Usage(crate::ansible_cfg::NO_INVENTORY.into()));
        }
        self.forks = self.forks.or(cfg.forks.map(Forks::new));
        self.remote_user = self.remote_user.or_else(|| cfg.remote_user.clone());
        self.become_ |= cfg.become_ == Some(true);
        self.become_user = self.become_user.or_else(|| cfg.become_user.clone());
        self.become_method = self.become_method.or(cfg.become_method);
        self.private_key_file = cfg.private_key_file.clone();
        self.ssh_args = cfg.ssh_args.clone();
        self.roles_path = cfg.roles_path.clone();
        // ansible.cfg's (or ANSIBLE_VAULT_PASSWORD_FILE's) vault password,
        // unless the command line names one.
        if self.vault.password_files.is_empty() {
            self.vault.password_files.extend(cfg.vault_password_file.clone());
        }
        if cfg.host_key_checking == Some(false) && !self.accept_new_host_keys {
            self.accept_new_host_keys = true;
            self.notes.push(
                "host_key_checking = False: push accepts and remembers the keys of hosts it has never met, \
                 but never a key that changed"
                    .into(),
            );
        }
        if !cfg.not_needed.is_empty() {
            self.notes.push(format!(
                "ansible.cfg: {} not needed: push keeps one ssh connection per host and sends its scripts on stdin",
                cfg.not_needed.join(", "),
            ));
        }
        Ok(self)
    }
}

fn split_list(values: &[String]) -> Vec<String> {
    values.iter().flat_map(|v| v.split(',')).map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// Load and check everything; nothing touches the network here.
fn load(cmd: &RunCommand) -> Result<(Playbook, Inventory, RunOptions), Error> {
    crate::template_limits::configured().map_err(|e| {
        let d = Diagnostic::new(e.clone()).with_hint("unset it for the default, or give a number of at least 1");
        Error::Usage(d.to_string().trim_end().to_string())
    })?;
    super::unlock(&cmd.vault)?;
    let mut extra = Vars::new();
    for e in &cmd.extra_vars {
        extra.extend(playbook::parse_extra_var(e).map_err(|d| match &d.span {
            // A place in an `@file` (a vaulted value it cannot open, a YAML
            // slip) is an input error; the option's own text is a bad command line.
            Some(span) if span.path() != std::path::Path::new("<-e>") => Error::Input(d),
            _ => Error::Usage(d.to_string().trim_end().to_string()),
        })?);
    }
    let mut playbook = playbook::load_playbook_with_roles(&cmd.playbook, &cmd.roles_path)?;
    // The command line and ansible.cfg fill only what the playbook leaves
    // unsaid; a host's ansible_become* variables win over both (plan.rs).
    let defaults = playbook::Become {
        enabled: cmd.become_.then_some(crate::playbook::Flag::Fixed(true)),
        user: cmd.become_user.clone(),
        method: cmd.become_method,
        flags: None,
    };
    playbook::become_by_default(&mut playbook, &defaults);
    let become_password = cmd
        .become_password
        .clone()
        .map(crate::script::BecomePassword::new)
        .transpose()
        .map_err(|e| Error::Usage(format!("--ask-become-pass: {e}")))?;
    let mut inventory = Inventory::load(&cmd.inventories)?;
    if let Some(dir) = cmd.playbook.parent() {
        let dir = if dir.as_os_str().is_empty() { std::path::Path::new(".") } else { dir };
        inventory.add_playbook_vars_dir(dir)?;
    }
    let opts = RunOptions {
        forks: cmd.forks.unwrap_or_default(),
        default_key_file: cmd.private_key_file.clone(),
        check: cmd.check,
        diff: cmd.diff,
        limit: cmd.limit.clone(),
        tags: split_list(&cmd.tags),
        skip_tags: split_list(&cmd.skip_tags),
        extra_vars: Arc::new(extra),
        serial: cmd
            .serial
            .as_deref()
            .map(Serial::from_arg)
            .transpose()
            .map_err(|e| Error::Usage(format!("--serial: {e}")))?,
        max_fail_percentage: cmd.max_fail_percentage,
        pin_images: (!cmd.no_pin && !cmd.rollback).then(Default::default),
        rollback: cmd.rollback,
        remote_user: cmd.remote_user.clone(),
        become_password,
        lock: Some(run_path::LockOptions {
            holder: lock_holder(&cmd.playbook, if cmd.rollback { "rollback" } else { "run" }),
            wait_secs: cmd.lock_wait,
            break_stale: cmd.break_stale_lock,
        }),
    };
    Ok((playbook, inventory, opts))
}

/// Who holds a deploy lock, as the other run will see it.
fn lock_holder(playbook: &std::path::Path, command: &str) -> String {
    let user = real_user().or_else(|| std::env::var("USER").ok()).unwrap_or_else(|| "?".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    format!("push {command} {} by {user}@{host} (pid {})", playbook.display(), std::process::id())
}

/// The name of the user this process runs as, from the user database:
/// `USER` may be unset (cron, a CI runner, `env -i`) or say anything.
fn real_user() -> Option<String> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: getpwuid_r writes only into `pwd` and `buf` (whose length it
    // is given) and sets `found` to &pwd or null; pw_name points into buf.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(libc::geteuid(), &mut pwd, buf.as_mut_ptr().cast(), buf.len(), &mut found);
        if rc != 0 || found.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        Some(std::ffi::CStr::from_ptr(pwd.pw_name).to_string_lossy().into_owned())
    }
}

/// Run a playbook, shown by `printer`. Input errors come back before any
/// host is contacted.
pub async fn run(cmd: RunCommand, printer: Arc<Printer>) -> Result<Outcome, Error> {
    let (playbook, inventory, opts) = load(&cmd)?;
    if cmd.list_hosts || cmd.list_tasks {
        printer.line(list(&playbook, &inventory, &opts, cmd.list_hosts, cmd.list_tasks)?.trim_end());
        return Ok(Outcome::Ok);
    }
    let prepared = run_path::prepare(&playbook, &inventory, &opts)?;
    let reporter: Arc<dyn Reporter> = printer;
    for note in &cmd.notes {
        reporter.warn(note);
    }
    for w in inventory.warnings() {
        reporter.warn(w.to_string().trim_start_matches("warning: ").trim_end());
    }
    for play in &prepared {
        for w in &play.warnings {
            reporter.warn(w);
        }
        if play.hosts.is_empty() {
            reporter.warn(&format!("play `{}`: no hosts matched `{}`; it is skipped", play.play.name, play.play.hosts));
        }
    }
    // Before the control folder exists, so a signal cannot leave it behind.
    let stop = stop_signals()?;
    let ssh = SshConnector::new(SshOptions {
        accept_new_host_keys: cmd.accept_new_host_keys,
        connect_timeout: cmd.connect_timeout,
        ssh_config: cmd.ssh_config.clone(),
        ssh_args: cmd.ssh_args.clone(),
        password: cmd.connection_password.clone().map(crate::transport::Password::new),
        ..SshOptions::default()
    })?;
    let connector = Arc::new(DefaultConnector { ssh, local: LocalConnector });
    // A signal drops the run: each connection's drop signals its ssh master,
    // we wait for them to go, and the control directory goes with the
    // connector.
    let recap = tokio::select! {
        recap = run_path::execute(prepared, Arc::clone(&connector) as _, reporter, &opts) => recap,
        signal = stop => {
            connector.ssh.end_dropped().await;
            return Err(Error::Interrupted(signal));
        }
    };
    Ok(if recap.any_failed() {
        Outcome::Failed
    } else if recap.any_unreachable() {
        Outcome::Unreachable
    } else {
        Outcome::Ok
    })
}

/// The first of Ctrl-C, SIGTERM and SIGHUP. Their handlers are in place
/// once this returns: from then on they no longer kill push outright.
fn stop_signals() -> std::io::Result<impl std::future::Future<Output = Signal>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => Signal::Interrupt,
            _ = terminate.recv() => Signal::Terminate,
            _ = hangup.recv() => Signal::Hangup,
        }
    })
}

/// `--list-hosts` / `--list-tasks`, in Ansible's layout, for the printer
/// (a closed stdout, `| head`, ends the listing quietly).
fn list(
    playbook: &Playbook,
    inventory: &Inventory,
    opts: &RunOptions,
    hosts: bool,
    tasks: bool,
) -> Result<String, Error> {
    use std::fmt::Write as _;
    let mut text = String::new();
    let _ = writeln!(text, "\nplaybook: {}", playbook.path.display());
    for (i, play) in playbook.plays.iter().enumerate() {
        let _ = writeln!(text, "\n  play #{} ({}): {}", i + 1, play.hosts, play.name);
        if hosts {
            let matched = run_path::play_hosts(play, inventory, opts.limit.as_deref())?.hosts;
            let _ = writeln!(text, "    pattern: ['{}']", play.hosts);
            let _ = writeln!(text, "    hosts ({}):", matched.len());
            for h in matched {
                let _ = writeln!(text, "      {h}");
            }
        }
        if tasks {
            let _ = writeln!(text, "    tasks:");
            for task in play.tasks.iter().filter(|t| run_path::tag_selected(t, opts)) {
                let mut tags: Vec<&str> = task.tags.iter().map(String::as_str).collect();
                tags.sort_unstable();
                let _ = writeln!(text, "      {}\tTAGS: [{}]", task.display_name(), tags.join(", "));
            }
        }
    }
    Ok(text)
}
