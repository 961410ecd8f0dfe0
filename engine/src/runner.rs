//! Running a playbook: everything is parsed, rendered and checked for every
//! host first (so bad input never reaches a host), then each host runs its
//! plan with one probe and at most one apply per segment, in parallel up to
//! `forks`. A failing host stops only itself.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use minijinja::value::{Serde, Value as JinjaValue};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::batches::{self, Serial};
use crate::diagnostic::{Diagnostic, Span};
use crate::inventory::{Inventory, Selection};
use crate::plan::{self, Planned, Segment, Step};
use crate::playbook::{Play, Playbook, Task};
use crate::report::{HostStats, Recap, Reporter, Status, TaskResult};
use crate::script::{self, ScriptStep, StepReport};
use crate::template::{Mode, Scope, Vars};
use crate::transport::{Connection, Connector, Password, Target, TransportError};

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub forks: usize,
    pub check: bool,
    pub diff: bool,
    pub limit: Option<String>,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    pub extra_vars: Arc<Vars>,
    /// `--serial`: overrides every play's `serial`.
    pub serial: Option<Serial>,
    /// `--max-fail-percentage`: overrides every play's.
    pub max_fail_percentage: Option<f64>,
    /// The deploy lock every apply takes on its host.
    pub lock: Option<LockOptions>,
    /// Pins image tags to digests (None: images are used as written).
    pub pin_images: Option<Arc<crate::digest::DigestResolver>>,
    /// `push rollback`: plan only the tasks whose module rolls back, as
    /// rollback ops; handlers are not notified.
    pub rollback: bool,
    /// `-u`: the login user of hosts whose variables and play name none.
    pub remote_user: Option<String>,
    /// `-K`: the sudo password of hosts without `ansible_become_password`.
    pub become_password: Option<script::BecomePassword>,
    /// ansible.cfg's `private_key_file`: for hosts that name no key.
    pub default_key_file: Option<PathBuf>,
}

impl RunOptions {
    fn intent(&self) -> plan::Intent<'_> {
        match (&self.pin_images, self.rollback) {
            (_, true) => plan::Intent::Rollback,
            (Some(r), false) => plan::Intent::ConvergePinned(r),
            (None, false) => plan::Intent::Converge,
        }
    }
}

/// How applies take each host's deploy lock.
#[derive(Debug, Clone, Default)]
pub struct LockOptions {
    /// Who we are, for another run's error message.
    pub holder: String,
    /// Seconds to wait for another run's lock.
    pub wait_secs: u64,
    /// Break a lock whose holder process is gone.
    pub break_stale: bool,
}

/// A play, checked and planned up to its first segment for every host.
pub struct PreparedPlay<'a> {
    pub play: &'a Play,
    /// Pattern parts that matched nothing, to warn about.
    pub warnings: Vec<String>,
    /// Indices of the tasks that pass the tag filter, in order.
    pub selected: Vec<usize>,
    pub hosts: Vec<PreparedHost>,
}

pub struct PreparedHost {
    pub name: String,
    pub target: Target,
    /// `push_lock_path`; None: the host's default (see `push_lock` in
    /// script_runtime.sh), which depends on the login user.
    pub lock_path: Option<String>,
    /// What sudo or su is given when it asks (see `push_sudo` and `push_su`
    /// in script_runtime.sh).
    pub become_password: Option<script::BecomePassword>,
    pub scope: Scope,
    pub first: Segment,
}

/// Is a task selected by `--tags` / `--skip-tags`? `always` runs unless
/// skipped by name, `never` only when asked for, as in Ansible.
pub fn tag_selected(task: &Task, opts: &RunOptions) -> bool {
    let has = |t: &str| task.tags.contains(t);
    if opts.skip_tags.iter().any(|t| has(t) || (t == "all")) {
        return false;
    }
    if has("never") && !opts.tags.iter().any(|t| has(t) && t != "never") {
        return false;
    }
    if opts.tags.is_empty() || opts.tags.iter().any(|t| t == "all") {
        return true;
    }
    has("always")
        || opts
            .tags
            .iter()
            .any(|t| has(t) || (t == "tagged" && !task.tags.is_empty()) || (t == "untagged" && task.tags.is_empty()))
}

/// The hosts a play runs on: its pattern, narrowed by `--limit`.
pub fn play_hosts(play: &Play, inventory: &Inventory, limit: Option<&str>) -> Result<Selection, Diagnostic> {
    match limit {
        Some(limit) => inventory.select_limited(&play.hosts, limit),
        None => inventory.select(&play.hosts),
    }
    .map_err(|d| d.or_at(&play.span))
}

/// Every host's inventory variables, merged once per run: they are `hostvars`
/// for every scope and the start of each play's scope for that host.
fn inventory_vars(inventory: &Inventory) -> serde_json::Map<String, Value> {
    inventory.hosts().map(|h| (h.to_string(), Value::Object(inventory.host_vars(h).unwrap_or_default()))).collect()
}

/// Render the connection variables of a host.
fn target(name: &str, scope: &Scope, play: &Play, opts: &RunOptions) -> Result<Target, Diagnostic> {
    let get = |key: &str| -> Result<Option<String>, Diagnostic> {
        match scope.get(key).map_err(|e| Diagnostic::new(format!("host {name}: {key}: {}", e.message)))? {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Ok(Some(other.to_string())),
        }
    };
    let first = |keys: &[&str]| -> Result<Option<String>, Diagnostic> {
        for k in keys {
            if let Some(v) = get(k)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    };
    let port = match first(&["ansible_port", "ansible_ssh_port", "push_port"])? {
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| Diagnostic::new(format!("host {name}: ansible_port `{p}` is not a port number")))?,
        ),
        None => None,
    };
    Ok(Target {
        name: name.to_string(),
        address: first(&["ansible_host", "ansible_ssh_host", "push_host"])?.unwrap_or_else(|| name.to_string()),
        port,
        user: first(&["ansible_user", "ansible_ssh_user", "push_user"])?
            .or_else(|| play.remote_user.clone())
            .or_else(|| opts.remote_user.clone()),
        key_file: first(&["ansible_ssh_private_key_file", "ansible_private_key_file", "push_ssh_private_key_file"])?
            .map(PathBuf::from)
            .or_else(|| opts.default_key_file.clone()),
        ssh_config: get("push_ssh_config")?.map(PathBuf::from),
        known_hosts_file: get("push_known_hosts_file")?.map(PathBuf::from),
        local: first(&["ansible_connection", "push_connection"])?.as_deref() == Some("local"),
        ssh_args: ssh_args(name, &get)?,
        password: first(&["ansible_password", "ansible_ssh_pass", "ansible_ssh_password"])?.map(Password::new),
    })
}

/// `ansible_ssh_common_args` then `ansible_ssh_extra_args`, each split as a
/// shell would split it (`-o ProxyJump=bastion -o 'ProxyCommand=...'`).
fn ssh_args(name: &str, get: &dyn Fn(&str) -> Result<Option<String>, Diagnostic>) -> Result<Vec<String>, Diagnostic> {
    let mut args = Vec::new();
    for key in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
        if let Some(text) = get(key)? {
            args.extend(shlex::split(&text).ok_or_else(|| {
                Diagnostic::new(format!("host {name}: {key} `{text}` has an unclosed quote or a trailing backslash"))
                    .with_hint("these are ssh's arguments split as a shell splits them: close the quote")
            })?);
        }
    }
    Ok(args)
}

/// Connection variables Ansible users set that push does not act on, with
/// what push does instead: each is named in a warning, never silently
/// dropped. (`ansible_python_interpreter` is not among them: push runs no
/// Python on hosts, so it has nothing to mean.)
const UNHONOURED_CONNECTION_VARS: &[(&str, &str)] = &[
    ("ansible_ssh_executable", "push runs the `ssh` on PATH"),
    ("ansible_sftp_batch_mode", "push copies files inside its scripts, not with sftp"),
    ("ansible_sftp_extra_args", "push copies files inside its scripts, not with sftp"),
    ("ansible_scp_extra_args", "push copies files inside its scripts, not with scp"),
    ("ansible_scp_if_ssh", "push copies files inside its scripts, not with scp"),
    ("ansible_ssh_transfer_method", "push copies files inside its scripts"),
    ("ansible_shell_type", "push's scripts run in the host's POSIX sh"),
    ("ansible_shell_executable", "push's scripts run in the host's POSIX sh"),
    ("ansible_ssh_pipelining", "push always sends its scripts on ssh's stdin"),
    ("ansible_pipelining", "push always sends its scripts on ssh's stdin"),
    ("ansible_ssh_retries", "push connects once; an unreachable host is reported"),
    ("ansible_become_exe", "push runs the `sudo` or `su` on PATH"),
    ("ansible_timeout", "use --timeout"),
    ("ansible_ssh_timeout", "use --timeout"),
    ("ansible_host_key_checking", "use --accept-new-host-keys"),
];

/// Warnings for the connection variables `host` sets that push does not
/// honour, and for an `ansible_connection` other than ssh or local.
fn unhonoured_connection_vars(host: &str, scope: &Scope) -> Vec<String> {
    let set = |key: &str| matches!(scope.get(key), Ok(Some(v)) if !v.is_null());
    let mut warnings: Vec<String> = UNHONOURED_CONNECTION_VARS
        .iter()
        .filter(|(key, _)| set(key))
        .map(|(key, instead)| format!("host {host}: {key} is not honoured by push ({instead})"))
        .collect();
    if let Ok(Some(Value::String(connection))) = scope.get("ansible_connection") {
        if !["ssh", "smart", "local", "paramiko", "paramiko_ssh"].contains(&connection.as_str()) {
            warnings
                .push(format!("host {host}: ansible_connection={connection} is not honoured: push connects with ssh"));
        }
    }
    warnings
}

/// A host's own become password (`ansible_become_password`, or its older
/// name `ansible_become_pass`): sudo's is the login user's, su's that of
/// the user it becomes.
fn become_password(name: &str, scope: &Scope) -> Result<Option<script::BecomePassword>, Diagnostic> {
    let get = |key: &str| -> Result<Option<Value>, Diagnostic> {
        scope.get(key).map_err(|e| Diagnostic::new(format!("host {name}: {key}: {}", e.message)))
    };
    for key in ["ansible_become_password", "ansible_become_pass"] {
        let password = match get(key)? {
            None | Some(Value::Null) => continue,
            Some(Value::String(p)) => p,
            // `ansible_become_password=1234` in an INI inventory is a number.
            Some(other) => other.to_string(),
        };
        return script::BecomePassword::new(password)
            .map(Some)
            .map_err(|e| Diagnostic::new(format!("host {name}: {key}: {e}")));
    }
    Ok(None)
}

/// A key file that is missing or unreadable is the inventory's mistake,
/// said before any host is contacted: ssh would only answer `Permission
/// denied (publickey)`, which names neither the file nor the line.
fn check_key_file(target: &Target) -> Result<(), Diagnostic> {
    let Some(key) = &target.key_file else { return Ok(()) };
    // ssh expands a leading `~/` itself.
    let path = match (key.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => key.clone(),
    };
    let Err(e) = std::fs::File::open(&path) else { return Ok(()) };
    Err(Diagnostic::new(format!(
        "host {}: its private key file {} (ansible_private_key_file) cannot be read: {e}",
        target.name,
        key.display()
    ))
    .with_hint("give the path of a key this user can read, or leave the variable out to use ssh's defaults and agent"))
}

/// ssh reads a destination that starts with `-` as an option
/// (`-oProxyCommand=...` runs a command on the controller), so neither a
/// host's name nor its address may start with one.
fn refuse_option_like(target: &Target, declared_at: Option<&Span>) -> Result<(), Diagnostic> {
    let (what, value) = if target.name.starts_with('-') {
        ("name", &target.name)
    } else if target.address.starts_with('-') {
        ("address (ansible_host)", &target.address)
    } else {
        return Ok(());
    };
    let refused = Diagnostic::new(format!(
        "host {}: its {what} `{value}` starts with `-`, which ssh would take for an option",
        target.name
    ))
    .with_hint("a host name or ansible_host must be a DNS name or an IP address");
    Err(match declared_at {
        Some(span) => refused.or_at(span),
        None => refused,
    })
}

/// Parse, render and check everything for every host, touching no host.
pub fn prepare<'a>(
    playbook: &'a Playbook,
    inventory: &Inventory,
    opts: &RunOptions,
) -> Result<Vec<PreparedPlay<'a>>, Diagnostic> {
    let all_vars = inventory_vars(inventory);
    let hostvars = JinjaValue::from(Serde(&all_vars));
    let mut prepared = Vec::new();
    for play in &playbook.plays {
        let Selection { hosts, mut warnings } = play_hosts(play, inventory, opts.limit.as_deref())?;
        let selected: Vec<usize> = (0..play.tasks.len())
            .filter(|&i| tag_selected(&play.tasks[i], opts) && (!opts.rollback || play.tasks[i].module.rolls_back()))
            .collect();
        warnings.extend(plan::raw_shell_warnings(play, &selected));
        let mut prepared_hosts = Vec::new();
        for host in &hosts {
            let native = HashMap::from([
                ("hostvars".to_string(), hostvars.clone()),
                ("ansible_play_hosts".to_string(), JinjaValue::from(Serde(&hosts))),
                ("ansible_check_mode".to_string(), JinjaValue::from(opts.check)),
            ]);
            let vars = match all_vars.get(host) {
                Some(Value::Object(vars)) => vars.clone(),
                // The implicit localhost is selectable but not listed.
                _ => inventory.host_vars(host).unwrap_or_default(),
            };
            let scope = plan::play_scope(play, vars, &opts.extra_vars, native);
            let at_host = |d: Diagnostic| match inventory.host_span(host) {
                Some(span) => d.or_at(span),
                None => d,
            };
            // The host's own become settings are checked before any plan
            // uses them, so that a bad one points at the host's line.
            let host_become = plan::host_become(&scope).map_err(|mut d| {
                d.message = format!("host {host}: {}", d.message);
                at_host(d)
            })?;
            if let Some(flags) = &host_become.flags {
                let method = host_become.method.unwrap_or_default();
                crate::become_method::parse_flags(method, flags)
                    .or_else(|e| match host_become.method {
                        // The play may name another method: checked again per task.
                        None => {
                            crate::become_method::parse_flags(crate::become_method::Method::Su, flags).map_err(|_| e)
                        }
                        Some(_) => Err(e),
                    })
                    .map_err(|e| {
                        at_host(Diagnostic::new(format!("host {host}: ansible_become_flags: {e}")).with_hint(e.hint()))
                    })?;
            }
            plan::check_reads(play, &selected, &scope)?;
            let first = plan::plan_segment(play, &selected, 0, &scope, opts.intent()).map_err(at_host)?;
            let target = target(host, &scope, play, opts).map_err(at_host)?;
            warnings.extend(unhonoured_connection_vars(host, &scope));
            refuse_option_like(&target, inventory.host_span(host))?;
            check_key_file(&target).map_err(at_host)?;
            let lock_path = match scope
                .get("push_lock_path")
                .map_err(|e| Diagnostic::new(format!("host {host}: push_lock_path: {}", e.message)))?
            {
                Some(Value::String(p)) => Some(p),
                _ => None,
            };
            let become_password =
                become_password(host, &scope).map_err(at_host)?.or_else(|| opts.become_password.clone());
            prepared_hosts.push(PreparedHost { name: host.clone(), target, lock_path, become_password, scope, first });
        }
        prepared.push(PreparedPlay { play, warnings, selected, hosts: prepared_hosts });
    }
    Ok(prepared)
}

/// Connections are kept for a host's later plays; each is closed once its
/// host has none left, so at most `forks` are open at a time in a play.
type Pool = Mutex<HashMap<String, Box<dyn Connection>>>;

/// Run prepared plays. Returns the recap; never fails as a whole: a host's
/// trouble is in its stats.
pub async fn execute(
    plays: Vec<PreparedPlay<'_>>,
    connector: Arc<dyn Connector>,
    reporter: Arc<dyn Reporter>,
    opts: &RunOptions,
) -> Recap {
    let stats: Arc<Mutex<HashMap<String, HostStats>>> = Arc::default();
    let pool: Arc<Pool> = Arc::default();
    let mut dead: BTreeSet<String> = BTreeSet::new();
    let last_play: HashMap<String, usize> =
        plays.iter().enumerate().flat_map(|(i, p)| p.hosts.iter().map(move |h| (h.name.clone(), i))).collect();
    for (play_index, play) in plays.into_iter().enumerate() {
        let hosts: Vec<PreparedHost> = play.hosts.into_iter().filter(|h| !dead.contains(&h.name)).collect();
        let names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
        reporter.play_start(&play.play.name, &names, opts.check);
        for name in &names {
            stats.lock().unwrap().entry(name.clone()).or_default();
        }
        let forks = Arc::new(Semaphore::new(opts.forks.max(1)));
        let run = HostRun { play: play.play, selected: &play.selected, opts, reporter: &reporter, stats: &stats };
        let serial = opts.serial.as_ref().or(play.play.serial.as_ref());
        let max_fail = opts.max_fail_percentage.or(play.play.max_fail_percentage);
        let sizes = serial.map_or_else(|| vec![hosts.len()], |s| s.split(hosts.len()));
        let mut remaining = hosts.into_iter();
        for (index, size) in sizes.iter().enumerate() {
            let batch: Vec<PreparedHost> = remaining.by_ref().take(*size).collect();
            if serial.is_some() {
                let names: Vec<String> = batch.iter().map(|h| h.name.clone()).collect();
                reporter.batch_start(index + 1, sizes.len(), &names);
            }
            // A batch finishes (health gates included) before the next starts.
            let futures = batch.iter().map(|host| {
                let forks = Arc::clone(&forks);
                let connector = Arc::clone(&connector);
                let pool = Arc::clone(&pool);
                let run = &run;
                let last = last_play.get(&host.name) == Some(&play_index);
                async move {
                    let _permit = forks.acquire().await.expect("semaphore open");
                    run.reporter.host_start(&host.name);
                    let ok = run.host(host, connector.as_ref(), &pool).await;
                    run.reporter.host_done(&host.name);
                    // A host done with its plays (or failed: it sits out the
                    // rest) lets its connection go before its fork slot.
                    if last || !ok {
                        let conn = pool.lock().unwrap().remove(&host.name);
                        if let Some(conn) = conn {
                            conn.close().await;
                        }
                    }
                    (host.name.clone(), ok)
                }
            });
            let mut failed = 0;
            for (name, ok) in futures::future::join_all(futures).await {
                if !ok {
                    failed += 1;
                    dead.insert(name);
                }
            }
            if batches::budget_exceeded(failed, batch.len(), max_fail) {
                let untouched: Vec<String> = remaining.by_ref().map(|h| h.name).collect();
                if !untouched.is_empty() {
                    reporter.warn(&format!(
                        "play `{}` stopped: {failed} of {} hosts failed in batch {} (max_fail_percentage {}); not touched: {}",
                        play.play.name,
                        batch.len(),
                        index + 1,
                        max_fail.map_or("not set: the whole batch failed".to_string(), |p| format!("{p}%")),
                        untouched.join(", ")
                    ));
                }
                break;
            }
        }
    }
    let connections: Vec<Box<dyn Connection>> = pool.lock().unwrap().drain().map(|(_, c)| c).collect();
    futures::future::join_all(connections.into_iter().map(|c| c.close())).await;
    let pinned = opts.pin_images.as_ref().map(|r| r.pinned()).unwrap_or_default();
    let recap = Recap { hosts: stats.lock().unwrap().clone().into_iter().collect(), pinned };
    reporter.recap(&recap);
    recap
}

struct HostRun<'a> {
    play: &'a Play,
    selected: &'a [usize],
    opts: &'a RunOptions,
    reporter: &'a Arc<dyn Reporter>,
    stats: &'a Arc<Mutex<HashMap<String, HostStats>>>,
}

/// Something that runs once after all tasks of a play on a host, if raised:
/// modules' deferred actions (sorted by key) first, then handlers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Final {
    Deferred(String),
    Handler(usize),
}

/// The final actions known on a host so far, and which are raised.
#[derive(Default)]
struct Finals {
    /// Each action, with the `become` of the first task that brought it
    /// (a daemon-reload needs the privileges the unit's writer had).
    catalog: std::collections::BTreeMap<String, (push_modules::Deferred, Option<crate::become_method::BecomeAs>)>,
    raised: BTreeSet<Final>,
}

impl Finals {
    /// A shell-safe flag name for the script.
    fn flag(&self, f: &Final) -> String {
        match f {
            Final::Deferred(key) => format!("d{}", self.catalog.keys().position(|k| k == key).unwrap_or(usize::MAX)),
            Final::Handler(h) => format!("h{h}"),
        }
    }
}

/// A host being worked on: its name, its connection, its deploy lock.
struct OnHost<'a> {
    name: &'a str,
    conn: &'a dyn Connection,
    lock: Option<script::Lock>,
    become_password: Option<&'a script::BecomePassword>,
}

/// One step of a segment, flattened out of its task.
struct Flat<'a> {
    entry: usize,
    step: &'a Step,
}

impl HostRun<'_> {
    fn report(&self, result: TaskResult) {
        self.stats.lock().unwrap().entry(result.host.clone()).or_default().count(&result);
        self.reporter.task(&result);
    }

    fn result(&self, host: &str, task: String, status: Status, msg: Option<String>) -> TaskResult {
        TaskResult {
            play: self.play.name.clone(),
            host: host.to_string(),
            task,
            status,
            msg,
            diff: None,
            ignored: false,
        }
    }

    /// Count an exec; returns its number on this host (1-based).
    fn count_exec(&self, host: &str) -> u32 {
        let mut stats = self.stats.lock().unwrap();
        let execs = &mut stats.entry(host.to_string()).or_default().remote_execs;
        *execs += 1;
        *execs
    }

    /// Run the play on one host. Returns false if the host failed or was
    /// unreachable (it then sits out the remaining plays).
    async fn host(&self, host: &PreparedHost, connector: &dyn Connector, pool: &Pool) -> bool {
        let name = host.name.as_str();
        let existing = pool.lock().unwrap().remove(name);
        let existing = match existing {
            Some(c) if c.reusable() => Some(c),
            Some(stale) => {
                stale.close().await;
                None
            }
            None => None,
        };
        let conn = match existing {
            Some(c) => c,
            None => match connector.connect(&host.target).await {
                Ok(c) => c,
                Err(e) => {
                    self.report(self.result(name, "connect".into(), Status::Unreachable, Some(e.to_string())));
                    return false;
                }
            },
        };
        let ok = self.segments(host, conn.as_ref()).await;
        pool.lock().unwrap().insert(name.to_string(), conn);
        ok
    }

    /// Run the host's segments in order; each needs the results of the one
    /// before it, so later segments are planned as we go.
    async fn segments(&self, host: &PreparedHost, conn: &dyn Connection) -> bool {
        let mut scope = host.scope.clone();
        let mut finals = Finals::default();
        let mut planned_here: Option<Segment> = None;
        let lock = self.opts.lock.as_ref().map(|l| script::Lock {
            path: host.lock_path.clone(),
            holder: l.holder.clone(),
            wait_secs: l.wait_secs,
            break_stale: l.break_stale,
        });
        let on = OnHost { name: &host.name, conn, lock, become_password: host.become_password.as_ref() };
        loop {
            let segment = planned_here.as_ref().unwrap_or(&host.first);
            let last = segment.next >= self.selected.len();
            let Some(registered) = self.segment(&on, &scope, segment, &mut finals, last).await else {
                return false;
            };
            if last {
                return true;
            }
            scope = scope.with_native(registered);
            match plan::plan_segment(self.play, self.selected, segment.next, &scope, self.opts.intent()) {
                Ok(next) => planned_here = Some(next),
                Err(d) => {
                    self.report(self.result(&host.name, "plan".into(), Status::Failed, Some(d.to_string())));
                    return false;
                }
            }
        }
    }

    fn task_label(&self, task: &Task, scope: &Scope) -> String {
        match &task.name {
            // A name that would show a vaulted value is shown as written.
            Some(n) => scope
                .render_text(n, Mode::Plain)
                .ok()
                .filter(|label| !crate::vault::carries_secret(label.as_bytes()))
                .unwrap_or_else(|| n.clone()),
            None => task.module.name().to_string(),
        }
    }

    /// Handler indices a task's `notify` names (none in a rollback: the
    /// handlers were written for the change, not for undoing it).
    fn notify_targets(&self, task: &Task) -> Vec<usize> {
        if self.opts.rollback {
            return Vec::new();
        }
        self.play
            .handlers
            .iter()
            .enumerate()
            .filter(|(_, h)| task.notify.iter().any(|n| h.name.as_deref() == Some(n.as_str()) || h.listen.contains(n)))
            .map(|(i, _)| i)
            .collect()
    }

    fn script_step<'b>(&self, i: usize, f: &Flat<'b>, probe: bool, finals: &Finals) -> ScriptStep<'b> {
        let task = &self.play.tasks[f.step.task];
        ScriptStep {
            id: i.to_string(),
            snippet: if probe { &f.step.op.probe } else { &f.step.op.apply },
            become_: f.step.become_.as_ref(),
            notify: self.notify_targets(task).into_iter().map(|h| finals.flag(&Final::Handler(h))).collect(),
            defers: f
                .step
                .op
                .deferred
                .iter()
                .map(|d| (d.key.clone(), finals.flag(&Final::Deferred(d.key.clone()))))
                .collect(),
            ignore_errors: task.ignore_errors,
            prefetch: probe.then_some(&f.step.op.prefetch),
            attachment: if probe { None } else { f.step.op.attachment.as_ref() },
        }
    }

    /// What a step's report raises: its handlers when it changed, and the
    /// deferred actions it asked for.
    fn raised_by(&self, step: &Step, report: &StepReport) -> Vec<Final> {
        let mut raised: Vec<Final> = report.defers().map(|k| Final::Deferred(k.to_string())).collect();
        if report.changed() {
            raised.extend(self.notify_targets(&self.play.tasks[step.task]).into_iter().map(Final::Handler));
        }
        raised
    }

    /// The steps of the final actions that may run at the end of the play.
    fn final_steps(&self, scope: &Scope, finals: &Finals) -> Vec<(Final, String, Vec<Step>)> {
        let mut out = Vec::new();
        for (key, (action, become_)) in &finals.catalog {
            let op = push_modules::Op { apply: action.snippet.clone(), ..Default::default() };
            out.push((
                Final::Deferred(key.clone()),
                action.label.clone(),
                vec![Step {
                    task: usize::MAX,
                    item: None,
                    item_position: 0,
                    op,
                    become_: become_.clone(),
                    secret: false,
                }],
            ));
        }
        if self.opts.rollback {
            // Nothing notifies them (see notify_targets).
            return out;
        }
        for (h, handler) in self.play.handlers.iter().enumerate() {
            let label = format!("handler: {}", self.task_label(handler, scope));
            match plan::plan_task(self.play, h, handler, scope, self.opts.intent()) {
                Ok(Planned::Run { steps, .. }) => out.push((Final::Handler(h), label, steps)),
                Ok(Planned::Skipped { .. }) => {}
                // Planned lazily, so a broken handler surfaces when it runs.
                Err(d) => out.push((Final::Handler(h), format!("{label}: {}", d.message), Vec::new())),
            }
        }
        out
    }

    /// Probe, decide, apply one segment. Returns the registered results, or
    /// None if the host failed.
    async fn segment(
        &self,
        on: &OnHost<'_>,
        scope: &Scope,
        segment: &Segment,
        finals: &mut Finals,
        last: bool,
    ) -> Option<Vec<(String, JinjaValue)>> {
        let name = on.name;
        let mut flat: Vec<Flat> = Vec::new();
        for (entry, planned) in segment.entries.iter().enumerate() {
            if let Planned::Run { steps, .. } = planned {
                flat.extend(steps.iter().map(|step| Flat { entry, step }));
            }
        }
        for f in &flat {
            for d in &f.step.op.deferred {
                finals.catalog.entry(d.key.clone()).or_insert_with(|| (d.clone(), f.step.become_.clone()));
            }
        }

        // Probe: one exec, every step's look.
        let mut probe_reports: HashMap<String, StepReport> = HashMap::new();
        if !flat.is_empty() {
            let steps: Vec<ScriptStep> =
                flat.iter().enumerate().map(|(i, f)| self.script_step(i, f, true, finals)).collect();
            let mut script = script::probe(&steps, self.opts.diff);
            script.become_password = on.become_password.cloned();
            self.reporter.host_phase(name, "probing");
            let secret = flat.iter().any(|f| f.step.secret);
            probe_reports =
                self.exec(on, &script, "probing", secret).await?.into_iter().map(|r| (r.id.clone(), r)).collect();
        }
        let first_change = flat
            .iter()
            .enumerate()
            .position(|(i, _)| probe_reports.get(&i.to_string()).is_none_or(|r| r.changed() || r.rc != 0));
        if self.opts.check {
            for (i, f) in flat.iter().enumerate() {
                if let Some(r) = probe_reports.get(&i.to_string()) {
                    finals.raised.extend(self.raised_by(f.step, r));
                }
            }
        }

        // Apply: one exec, from the first step that differs, plus (in the
        // play's last segment) the final actions that are or may be raised.
        let mut apply_reports: HashMap<String, StepReport> = HashMap::new();
        let mut applied_from = flat.len();
        let mut final_plan = Vec::new();
        if !self.opts.check && (first_change.is_some() || (last && !finals.raised.is_empty())) {
            applied_from = first_change.unwrap_or(flat.len());
            let steps: Vec<ScriptStep> = flat
                .iter()
                .enumerate()
                .skip(applied_from)
                .map(|(i, f)| self.script_step(i, f, false, finals))
                .collect();
            if last {
                final_plan = self.final_steps(scope, finals);
            }
            let final_script: Vec<(String, ScriptStep)> = final_plan
                .iter()
                .flat_map(|(fin, _, steps)| {
                    let flag = finals.flag(fin);
                    steps.iter().enumerate().map(move |(k, s)| {
                        let ignore_errors = matches!(fin, Final::Handler(h) if self.play.handlers[*h].ignore_errors);
                        let step = ScriptStep {
                            id: format!("{flag}_{k}"),
                            snippet: &s.op.apply,
                            become_: s.become_.as_ref(),
                            notify: vec![],
                            defers: vec![],
                            ignore_errors,
                            prefetch: None,
                            attachment: s.op.attachment.as_ref(),
                        };
                        (flag.clone(), step)
                    })
                })
                .collect();
            let raised: Vec<String> = finals.raised.iter().map(|f| finals.flag(f)).collect();
            let mut script = script::apply(&steps, &final_script, &raised, on.lock.as_ref());
            script.become_password = on.become_password.cloned();
            // The apply is one exec: say what it will be waiting for.
            let probed =
                flat.iter().enumerate().skip(applied_from).filter_map(|(i, _)| probe_reports.get(&i.to_string()));
            let announced = announced_defers(&finals.raised, probed);
            let phase = apply_phase(&final_plan, &announced, finals);
            self.reporter.host_phase(name, &phase);
            let secret = flat.iter().skip(applied_from).any(|f| f.step.secret)
                || final_plan.iter().flat_map(|(_, _, steps)| steps).any(|s| s.secret);
            apply_reports =
                self.exec(on, &script, &phase, secret).await?.into_iter().map(|r| (r.id.clone(), r)).collect();
            if let Some(lock) = apply_reports.get("lock").filter(|r| r.rc != 0) {
                let why = String::from_utf8_lossy(&lock.stderr).trim().to_string();
                self.report(self.result(name, "deploy lock".into(), Status::Failed, Some(why)));
                return None;
            }
            if !last {
                // Raised here, run at the end of the play.
                for (i, f) in flat.iter().enumerate().skip(applied_from) {
                    if let Some(r) = apply_reports.get(&i.to_string()) {
                        finals.raised.extend(self.raised_by(f.step, r));
                    }
                }
            }
        }

        // Report, per task, from the apply where it ran, else the probe.
        let mut registered = Vec::new();
        for (entry, planned) in segment.entries.iter().enumerate() {
            let task = &self.play.tasks[planned.task()];
            let label = self.task_label(task, scope);
            if let Planned::Skipped { reason, .. } = planned {
                self.report(self.result(name, label, Status::Skipped, Some(reason.clone())));
                if let Some(r) = &task.register {
                    registered.push((
                        r.clone(),
                        JinjaValue::from(Serde(json!({"changed": false, "skipped": true, "skip_reason": reason}))),
                    ));
                }
                continue;
            }
            let mut results = Vec::new();
            let mut statuses = Vec::new();
            let mut msgs = Vec::new();
            let mut diffs = Vec::new();
            for (i, f) in flat.iter().enumerate().filter(|(_, f)| f.entry == entry) {
                let id = i.to_string();
                let from_apply = i >= applied_from;
                let report = if from_apply { apply_reports.get(&id) } else { probe_reports.get(&id) };
                // No report: the host stopped at an earlier failure.
                let Some(report) = report else { continue };
                let status = step_status(report);
                // A task may report what an earlier run's rollout did on
                // the host (a switch that run went away from): this run's.
                if from_apply {
                    let events = report.rollouts().map(String::from);
                    self.stats.lock().unwrap().entry(name.to_string()).or_default().rollout.extend(events);
                }
                // A step carrying a vaulted value says no more than a no_log one.
                let no_log = task.no_log || f.step.secret;
                if self.opts.diff && !no_log && report.changed() {
                    if let Some(d) = diff_text(f.step, probe_reports.get(&id)) {
                        diffs.push(d);
                    }
                }
                if let Some(m) = step_message(report, status, no_log) {
                    msgs.push(item_message(f.step, no_log, m));
                }
                results.push(register_value(
                    report,
                    status,
                    f.step.item.as_ref(),
                    no_log,
                    !from_apply && !self.opts.check,
                ));
                statuses.push(status);
            }
            if statuses.is_empty() {
                continue;
            }
            let status = statuses.iter().copied().max().unwrap_or(Status::Ok);
            let ignored = status == Status::Failed && task.ignore_errors;
            let mut result = self.result(name, label, status, (!msgs.is_empty()).then(|| msgs.join("\n")));
            result.ignored = ignored;
            result.diff = (!diffs.is_empty()).then(|| diffs.join("\n"));
            self.report(result);
            if let Some(r) = &task.register {
                let value = if task.loop_.is_some() {
                    let any =
                        |k: &str| results.iter().any(|v: &Value| v.get(k).and_then(Value::as_bool).unwrap_or(false));
                    let all_skipped =
                        results.iter().all(|v| v.get("skipped").and_then(Value::as_bool).unwrap_or(false));
                    json!({"results": results, "changed": any("changed"), "failed": any("failed"), "skipped": all_skipped})
                } else {
                    results.into_iter().next().unwrap_or(json!({}))
                };
                registered.push((r.clone(), JinjaValue::from(Serde(value))));
            }
            if status == Status::Failed && !ignored {
                return None;
            }
        }

        if last {
            if self.opts.check {
                for fin in &finals.raised {
                    let label = match fin {
                        Final::Deferred(key) => finals.catalog.get(key).map_or(key.clone(), |(d, _)| d.label.clone()),
                        Final::Handler(h) => format!("handler: {}", self.task_label(&self.play.handlers[*h], scope)),
                    };
                    self.report(self.result(name, label, Status::Changed, Some("would run".into())));
                }
            }
            for (fin, label, steps) in &final_plan {
                let flag = finals.flag(fin);
                let reports: Vec<&StepReport> =
                    (0..steps.len()).filter_map(|k| apply_reports.get(&format!("{flag}_{k}"))).collect();
                if reports.is_empty() {
                    continue;
                }
                let status = reports.iter().map(|r| step_status(r)).max().unwrap_or(Status::Ok);
                let no_log =
                    matches!(fin, Final::Handler(h) if self.play.handlers[*h].no_log) || steps.iter().any(|s| s.secret);
                let msg = reports.iter().find_map(|r| step_message(r, step_status(r), no_log));
                let events = reports.iter().flat_map(|r| r.rollouts().map(String::from));
                self.stats.lock().unwrap().entry(name.to_string()).or_default().rollout.extend(events);
                let ignore = matches!(fin, Final::Handler(h) if self.play.handlers[*h].ignore_errors);
                self.report(self.result(name, label.clone(), status, msg));
                if status == Status::Failed && !ignore {
                    return None;
                }
            }
        }
        Some(registered)
    }

    /// Run one script; on transport or framing trouble the host fails.
    /// `phase`: what the host is doing during the exec, shown again once a
    /// wait for the deploy lock is over. A script carrying a vaulted value
    /// is kept as a note saying so instead.
    async fn exec(
        &self,
        on: &OnHost<'_>,
        script: &script::Script,
        phase: &str,
        secret: bool,
    ) -> Option<Vec<StepReport>> {
        let name = on.name;
        let n = self.count_exec(name);
        if let Some(dir) = std::env::var_os("PUSH_KEEP_SCRIPTS") {
            let write = |f: &mut std::fs::File| match secret {
                true => std::io::Write::write_all(f, crate::kept_scripts::WITHHELD.as_bytes()),
                false => crate::attachment::write(script, &mut std::io::BufWriter::new(f)),
            };
            if let Err(e) = crate::kept_scripts::keep(std::path::Path::new(&dir), name, n, write) {
                self.reporter.warn(&format!("PUSH_KEEP_SCRIPTS: cannot keep script {n} of {name} in {dir:?}: {e}"));
            }
        }
        let waits = script::LockWaits::new(&script.nonce);
        let first_wait = std::sync::Once::new();
        let progress = |chunk: &[u8]| {
            for wait in waits.feed(chunk) {
                let script::LockWait::Waiting { left_secs, holder } = wait else {
                    self.reporter.host_phase(name, phase);
                    continue;
                };
                first_wait.call_once(|| {
                    let note = format!("waiting up to {left_secs} s for the deploy lock, held by {holder}");
                    self.reporter.host_note(name, &note);
                });
                let waiting = format!("waiting for the deploy lock ({left_secs} s left), held by {holder}");
                self.reporter.host_phase(name, &waiting);
            }
        };
        let output = match on.conn.exec(script, &progress).await {
            Ok(o) => o,
            Err(e) => {
                let status = match e {
                    TransportError::ShellKilled => Status::Failed,
                    _ => Status::Unreachable,
                };
                self.report(self.result(name, "exec".into(), status, Some(e.to_string())));
                return None;
            }
        };
        match script::parse(&output.stdout, &output.stderr, &script.nonce) {
            Ok(reports) => Some(reports),
            Err(script::ParseError::Truncated { last: None }) if output.status == Some(script::SETUP_FAILED) => {
                let why = String::from_utf8_lossy(&output.stderr).trim().to_string();
                self.report(self.result(name, "exec".into(), Status::Failed, Some(why)));
                None
            }
            Err(e) => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                self.report(self.result(
                    name,
                    "exec".into(),
                    Status::Failed,
                    Some(format!("{e}; exit {:?}; stderr: {}", output.status, stderr.trim())),
                ));
                None
            }
        }
    }
}

/// A step's status. From a probe (check mode), "changed" means "would change".
fn step_status(r: &StepReport) -> Status {
    if r.rc != 0 {
        Status::Failed
    } else if r.changed() {
        Status::Changed
    } else if r.skipped() {
        Status::Skipped
    } else {
        Status::Ok
    }
}

/// What to say of a step. Under `no_log`, only that a failure's output is
/// hidden: a module's reason may quote its arguments (a path, a name), and
/// those may be the secret, as in Ansible.
fn step_message(r: &StepReport, status: Status, no_log: bool) -> Option<String> {
    if no_log {
        return (status == Status::Failed).then(|| "the output has been hidden due to no_log".into());
    }
    match status {
        Status::Failed => {
            let stderr = String::from_utf8_lossy(&r.stderr);
            let stdout = String::from_utf8_lossy(&r.stdout);
            let detail = if stderr.trim().is_empty() { stdout.trim() } else { stderr.trim() };
            let mut message =
                if detail.is_empty() { format!("exit code {}", r.rc) } else { format!("exit code {}: {detail}", r.rc) };
            if let Some((_, hint)) = BECOME_HINTS.iter().find(|(said, _)| detail.contains(said)) {
                message.push_str("\n  hint: ");
                message.push_str(hint);
            }
            Some(message)
        }
        Status::Changed | Status::Skipped => r.reason().map(str::to_string),
        _ => None,
    }
}

/// What sudo and su (or push_sudo and push_su, script_runtime.sh) say when
/// becoming fails for want of the right password, and the way out.
const BECOME_HINTS: &[(&str, &str)] = &[
    (
        "sudo: a password is required",
        "the login user's sudo needs a password: give it with -K (--ask-become-pass) or ansible_become_password",
    ),
    (
        "sudo on this host refused the become password",
        "sudo asks for the login user's password: check the one given with -K or this host's ansible_become_password",
    ),
    (
        "su: a password is required",
        "su needs the password of the user it becomes: give it with -K (--ask-become-pass) or ansible_become_password",
    ),
    (
        "This account is currently not available",
        "su runs the step from the user's shell in /etc/passwd, here nologin: add `become_flags: \"-s /bin/sh\"`",
    ),
    (
        "su on this host refused the become password",
        "su asks for the password of the user it becomes (root's for root): check the one given with -K or this host's ansible_become_password",
    ),
];

/// A step's message, after its loop item; under `no_log`, after the item's
/// place in the loop only: the item may be the secret (a loop over
/// passwords).
fn item_message(step: &Step, no_log: bool, msg: String) -> String {
    match &step.item {
        None => msg,
        Some(_) if no_log => format!("(item {}) {msg}", step.item_position),
        Some(item) => format!("({}) {msg}", item_label(item)),
    }
}

fn item_label(item: &Value) -> String {
    match item {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What `register:` stores, shaped like Ansible's result.
fn register_value(r: &StepReport, status: Status, item: Option<&Value>, no_log: bool, before_apply: bool) -> Value {
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim_end_matches('\n').to_string();
    let (stdout, stderr) =
        if no_log || before_apply { (String::new(), String::new()) } else { (text(&r.stdout), text(&r.stderr)) };
    let mut v = json!({
        "changed": status == Status::Changed,
        "failed": status == Status::Failed,
        "skipped": status == Status::Skipped,
        "rc": r.rc,
        "stdout": stdout,
        "stderr": stderr,
        "stdout_lines": stdout.lines().collect::<Vec<_>>(),
        "stderr_lines": stderr.lines().collect::<Vec<_>>(),
        "msg": r.reason().unwrap_or_default(),
    });
    if let Some(item) = item {
        v["item"] = item.clone();
    }
    v
}

/// The deferred actions an apply is known to run before it starts: those
/// raised already, and those the probe of a step it applies asked for
/// (`push_defer`). A step's probe asks for them only when the change that
/// needs them is due, so a final step that is merely possible is not here.
fn announced_defers<'r>(raised: &BTreeSet<Final>, probed: impl Iterator<Item = &'r StepReport>) -> BTreeSet<String> {
    let before = raised.iter().filter_map(|f| match f {
        Final::Deferred(key) => Some(key.clone()),
        Final::Handler(_) => None,
    });
    before.chain(probed.flat_map(|r| r.defers().map(str::to_string).collect::<Vec<_>>())).collect()
}

/// What a host does during its apply: the restarts among its final steps
/// that are announced (`announced_defers`), by the services they wait for.
fn apply_phase(final_plan: &[(Final, String, Vec<Step>)], announced: &BTreeSet<String>, finals: &Finals) -> String {
    let restarts: Vec<&str> = final_plan
        .iter()
        .filter_map(|(fin, _, _)| match fin {
            Final::Deferred(key) if announced.contains(key) => finals.catalog.get(key),
            _ => None,
        })
        .filter_map(|(action, _)| action.kind.awaited_service())
        .collect();
    match restarts.as_slice() {
        [] => "applying".to_string(),
        r => format!("applying; restarts wait for {} to come up", r.join(", ")),
    }
}

/// A unified diff of what a step changes, from the probe's "before" and the
/// controller's (or the host's) "after".
fn diff_text(step: &Step, probe: Option<&StepReport>) -> Option<String> {
    let probe = probe?;
    let after = step.op.diff_after.clone().or_else(|| probe.after.clone())?;
    let before = probe.before.clone().unwrap_or_default();
    let (before, after) = (String::from_utf8_lossy(&before).into_owned(), String::from_utf8_lossy(&after).into_owned());
    if before == after {
        return None;
    }
    let label = step.op.diff_label.clone().unwrap_or_default();
    Some(
        similar::TextDiff::from_lines(&before, &after)
            .unified_diff()
            .context_radius(3)
            .header(&format!("before: {label}"), &format!("after: {label}"))
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A final step of a deferred action, and the action in the catalog.
    fn deferred(kind: push_modules::DeferredKind, finals: &mut Finals) -> (Final, String, Vec<Step>) {
        let action = push_modules::Deferred::new(kind, String::new());
        let fin = (Final::Deferred(action.key.clone()), action.label.clone(), Vec::new());
        finals.catalog.insert(action.key.clone(), (action, None));
        fin
    }

    fn probed(status: &str) -> StepReport {
        StepReport { status: status.into(), ..Default::default() }
    }

    /// A play with docker_host and a docker_unit has both restarts among its
    /// final steps; an apply that only upgrades web waits for web alone.
    #[test]
    fn the_apply_phase_names_only_the_restarts_the_probe_announced() {
        use push_modules::DeferredKind as Kind;
        let web = || "web".to_string();
        let mut finals = Finals::default();
        let plan = [
            deferred(Kind::DaemonReload, &mut finals),
            deferred(Kind::EngineRestart, &mut finals),
            deferred(Kind::UnitSwitch { unit: web() }, &mut finals),
            deferred(Kind::UnitSwitchOutcome { unit: web() }, &mut finals),
        ];
        let web_only = [probed(&format!(
            "changed unit\ndefer {}\ndefer {}\ndefer {}\n",
            Kind::DaemonReload.key(),
            Kind::UnitSwitch { unit: web() }.key(),
            Kind::UnitSwitchOutcome { unit: web() }.key()
        ))];
        let announced = announced_defers(&BTreeSet::new(), web_only.iter());
        assert_eq!(apply_phase(&plan, &announced, &finals), "applying; restarts wait for web to come up");

        let raised = BTreeSet::from([Final::Deferred(Kind::EngineRestart.key()), Final::Handler(0)]);
        let announced = announced_defers(&raised, web_only.iter());
        assert_eq!(apply_phase(&plan, &announced, &finals), "applying; restarts wait for docker, web to come up");

        let nothing = announced_defers(&BTreeSet::new(), [probed("changed file\n")].iter());
        assert_eq!(apply_phase(&plan, &nothing, &finals), "applying");
    }
}
