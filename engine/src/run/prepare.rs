//! Before any connection: the hosts of each play, the tasks its tags
//! select, and for every host its variables, connection target, become
//! password and first planned segment. Bad input stops the run here, with
//! nothing sent.

use std::collections::HashMap;
use std::path::PathBuf;

use minijinja::value::{Serde, Value as JinjaValue};
use serde_json::Value;

use super::RunOptions;
use crate::diagnostic::{Diagnostic, Span};
use crate::inventory::{Inventory, Selection};
use crate::plan::{self, Segment};
use crate::playbook::{Play, Playbook, Task};
use crate::script;
use crate::template::Scope;
use crate::transport::{Password, Target};

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

/// A play whose pattern (or `--limit`) names nothing in the inventory: a
/// typo, not a play to skip.
fn no_hosts(
    play: &Play,
    limit: Option<&str>,
    inventory: &Inventory,
    unmatched: &[(String, Option<String>)],
) -> Diagnostic {
    let with_limit = limit.map(|l| format!(" with --limit `{l}`")).unwrap_or_default();
    let names: Vec<String> = unmatched.iter().map(|(p, _)| format!("`{p}`")).collect();
    let mut message = format!("play `{}`: no hosts matched `{}`{with_limit}", play.name, play.hosts);
    if !names.is_empty() {
        message.push_str(&format!(": {} is no host or group of the inventory", names.join(", ")));
    }
    let suggestions: Vec<String> =
        unmatched.iter().filter_map(|(p, s)| s.as_ref().map(|s| format!("`{s}` for `{p}`"))).collect();
    let hint = if suggestions.is_empty() {
        let sample = |names: Vec<&str>| {
            let more = names.len().saturating_sub(8);
            let mut text = names.into_iter().take(8).collect::<Vec<_>>().join(", ");
            if more > 0 {
                text.push_str(&format!(" and {more} more"));
            }
            text
        };
        format!(
            "the inventory's groups: {}; its hosts: {}",
            sample(inventory.groups().collect()),
            sample(inventory.hosts().collect())
        )
    } else {
        format!("did you mean {}?", suggestions.join(", "))
    };
    Diagnostic::at(&play.span, message).with_hint(hint)
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
        let Selection { hosts, mut warnings, unmatched } = play_hosts(play, inventory, opts.limit.as_deref())?;
        if hosts.is_empty() && !unmatched.is_empty() {
            return Err(no_hosts(play, opts.limit.as_deref(), inventory, &unmatched));
        }
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
            let first = plan::plan_segment(play, &selected, 0, &scope, opts.intent(), &crate::flow::Flow::default())
                .map_err(at_host)?;
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
    if let Some(first) = prepared.first().filter(|_| prepared.iter().all(|p| p.hosts.is_empty())) {
        return Err(no_hosts(first.play, opts.limit.as_deref(), inventory, &[]));
    }
    Ok(prepared)
}
