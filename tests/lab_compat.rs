//! The vendored roles of tests/compat/ (real public roles and roles written
//! in their style), run by push the way tests/compat/record ran them with
//! ansible-playbook, on twin fresh Debian 12 lab hosts:
//!
//! - host A: host-setup.sh, then a first run and a second run;
//! - host B: host-setup.sh, then a run with `--check --diff`.
//!
//! After each run tests/compat/state-dump.sh runs on the host (the same
//! script the recording used) and its output must equal the recorded one;
//! the per-task statuses (ok, changed, skipped, failed) must equal
//! Ansible's, in order; and the run must succeed or fail as Ansible's did.
//! A role that differs fails the test unless [`KNOWN_DIFFERENCES`] lists
//! it with a reason. A role push refuses up front (exit 4 on
//! `--list-tasks`) costs no host.
//!
//! Needs a Docker engine (`tests/run` leaves `lab*` binaries out without
//! one, counting them as skipped). Ansible is not needed: its side is the
//! recording under tests/compat/recorded/.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use push_tests::{
    require, require_docker, run_with_timeout, run_with_timeout_from, workspace, CmdOutput, PushCmd, TestLab,
};
use serde_json::Value;

/// Roles allowed to differ from Ansible today, and why. When a feature
/// lands, remove the roles it was holding back: from then on they must
/// match. The test prints a note for an entry whose role matches already.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    ("apache", "push has no `service` module (#16); `command` skipped by `creates:`/`removes:` is reported skipped, Ansible says ok (#15); in check mode Ansible fails on lineinfile of a file apt has not made yet, push reports changed"),
    ("app_service", "with_sequence, with_nested, with_indexed_items, with_together, role dependencies from meta/main.yml, until/retries (#15)"),
    ("chrony", "include_tasks, include_vars with_first_found, `service`/`package` modules, facts (#15, #16)"),
    ("cron_logrotate", "changed_when/failed_when (#15), the `cron` module (#16)"),
    ("git_mirror", "push has no `git` module (#16)"),
    ("memcached", "include_vars and include_tasks with a templated file name, facts (#15, #16)"),
    ("motd", "no facts yet (#16): `ansible_hostname`, `ansible_distribution`... are undefined, push stops at exit 4"),
    ("nginx_site", "changed_when/failed_when, loop_control label, `service` module (#15, #16)"),
    ("postfix", "changed_when (#15), the `debconf` and `service` modules (#16)"),
    ("ragleap_base", "include_tasks, block/rescue, set_fact, `stat`/`assert`/`service` modules (#15, #16)"),
    ("redis", "with_dict, set_fact, `combine` (#15), `service` module (#16)"),
    ("sshd", "block/rescue/always, changed_when/failed_when, `service` module (#15, #16)"),
    ("sysctl_limits", "failed_when/changed_when, set_fact, `is changed` (#15)"),
    ("unattended_upgrades", "include_vars with with_first_found, facts (#15, #16)"),
    ("users", "with_dict, with_subelements (#15), `group` module (#16)"),
];

/// Roles run at once: two hosts each (the lab tests share a 2-core machine).
const BATCH: usize = 4;

/// Setup and dumps over ssh; apt on a fresh host takes a while.
const SSH_TIMEOUT: Duration = Duration::from_secs(300);

fn compat_dir() -> PathBuf {
    workspace().join("tests").join("compat")
}

/// Every `playbooks/NAME.yml`, sorted.
fn role_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(compat_dir().join("playbooks"))
        .expect("tests/compat/playbooks")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".yml")).map(str::to_string))
        .collect();
    names.sort();
    names
}

/// One task result as both sides write it: Ansible's status word and the
/// task's name as shown in the output.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TaskLine {
    status: String,
    name: String,
}

/// Fact gathering is not a task of the role (push gathers without a task
/// event); both sides leave it out.
fn is_fact_gathering(name: &str) -> bool {
    name == "Gathering Facts"
}

/// Ansible shows a role's task as `ROLE : NAME`; push's events name the
/// task alone. The role is display, not the task: compare the names.
fn without_role_prefix(name: &str) -> String {
    match name.split_once(" : ") {
        Some((role, task)) if compat_dir().join("roles").join(role).is_dir() => task.to_string(),
        _ => name.to_string(),
    }
}

/// recorded/NAME/RUN.tasks: `STATUS<TAB>TASK` per line.
fn recorded_tasks(role: &str, run: &str) -> Vec<TaskLine> {
    let text = read(&compat_dir().join("recorded").join(role).join(format!("{run}.tasks")));
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (status, name) = l.split_once('\t').unwrap_or_else(|| panic!("{role}/{run}.tasks: bad line {l:?}"));
            TaskLine { status: status.to_string(), name: without_role_prefix(name) }
        })
        .filter(|t| !is_fact_gathering(&t.name))
        .collect()
}

/// recorded/NAME/runs.txt: `RUN EXIT_CODE` per line.
fn recorded_exit(role: &str, run: &str) -> i32 {
    let text = read(&compat_dir().join("recorded").join(role).join("runs.txt"));
    text.lines()
        .find_map(|l| l.strip_prefix(run).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or_else(|| panic!("recorded/{role}/runs.txt has no exit code for `{run}`"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}; record it with tests/compat/record", path.display()))
}

/// push's task events for `host`, in the same shape.
fn push_tasks(out: &push_tests::RunOutput, host: &str) -> Vec<TaskLine> {
    out.json()
        .into_iter()
        .filter(|v| v.get("event").and_then(Value::as_str) == Some("task"))
        .filter(|v| v.get("host").and_then(Value::as_str) == Some(host))
        .map(|v| TaskLine {
            status: v.get("status").and_then(Value::as_str).unwrap_or("?").to_string(),
            name: v.get("task").and_then(Value::as_str).unwrap_or("?").to_string(),
        })
        .filter(|t| !is_fact_gathering(&t.name))
        .collect()
}

/// What went wrong in a push run: its error events and the messages of
/// its failed tasks, at most `MAX` lines.
fn push_errors(out: &push_tests::RunOutput, host: &str) -> String {
    const MAX: usize = 12;
    let mut lines: Vec<String> = out.error_text().lines().map(str::to_string).collect();
    for event in out.json() {
        if event.get("event").and_then(Value::as_str) == Some("task")
            && event.get("host").and_then(Value::as_str) == Some(host)
            && event.get("status").and_then(Value::as_str) == Some("failed")
        {
            let task = event.get("task").and_then(Value::as_str).unwrap_or("?");
            let msg = event.get("msg").and_then(Value::as_str).unwrap_or("");
            lines.push(format!("task {task:?} failed: {}", msg.lines().next().unwrap_or("")));
        }
    }
    lines.retain(|l| !l.trim().is_empty());
    let more = lines.len().saturating_sub(MAX);
    lines.truncate(MAX);
    if more > 0 {
        lines.push(format!("... {more} more"));
    }
    lines.join("\n")
}

/// `ssh -F ssh_config HOST sh -s < SCRIPT`.
fn on_host(lab: &TestLab, host: &str, script: &str) -> CmdOutput {
    let ssh_config = lab.inventory().join(".ssh").join("ssh_config");
    let file = File::open(compat_dir().join(script)).expect(script);
    run_with_timeout_from(
        Command::new("ssh").arg("-F").arg(ssh_config).args([host, "sh", "-s"]),
        SSH_TIMEOUT,
        file.into(),
    )
}

fn on_host_ok(lab: &TestLab, host: &str, script: &str) -> String {
    let out = on_host(lab, host, script);
    assert!(out.success(), "{script} on {host} failed:\n{out}");
    out.stdout
}

/// A unified diff of the two dumps (`diff -u`), at most `MAX_DIFF_LINES`.
fn state_diff(expected: &str, actual: &str, run: &str) -> Option<String> {
    if expected == actual {
        return None;
    }
    const MAX_DIFF_LINES: usize = 150;
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("ansible"), dir.path().join("push"));
    std::fs::write(&a, expected).unwrap();
    std::fs::write(&b, actual).unwrap();
    let out = run_with_timeout(
        Command::new("diff")
            .args(["-u", "--label", &format!("ansible/{run}.state"), "--label", &format!("push/{run}.state")])
            .arg(&a)
            .arg(&b),
        Duration::from_secs(30),
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    let mut text = lines.iter().take(MAX_DIFF_LINES).copied().collect::<Vec<_>>().join("\n");
    if lines.len() > MAX_DIFF_LINES {
        let _ = write!(text, "\n... {} more diff lines", lines.len() - MAX_DIFF_LINES);
    }
    Some(text)
}

/// Ansible's and push's task lists side by side, aligned on task names
/// (longest common subsequence), `!` marking rows that differ.
fn task_table(ansible: &[TaskLine], push: &[TaskLine]) -> String {
    let (n, m) = (ansible.len(), push.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] =
                if ansible[i].name == push[j].name { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let width = ansible.iter().map(|t| t.name.chars().count()).max().unwrap_or(0).clamp(20, 60);
    let mut out = format!("  {:<8} {:<width$} | {:<8} {}\n", "ansible", "task", "push", "task");
    let row = |out: &mut String, a: Option<&TaskLine>, p: Option<&TaskLine>| {
        let same = matches!((a, p), (Some(a), Some(p)) if a == p);
        let _ = writeln!(
            out,
            "{} {:<8} {:<width$} | {:<8} {}",
            if same { ' ' } else { '!' },
            a.map_or("-", |t| t.status.as_str()),
            a.map_or("", |t| t.name.as_str()),
            p.map_or("-", |t| t.status.as_str()),
            p.map_or("", |t| t.name.as_str()),
        );
    };
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && ansible[i].name == push[j].name {
            row(&mut out, Some(&ansible[i]), Some(&push[j]));
            i += 1;
            j += 1;
        } else if j >= m || (i < n && lcs[i + 1][j] >= lcs[i][j + 1]) {
            row(&mut out, Some(&ansible[i]), None);
            i += 1;
        } else {
            row(&mut out, None, Some(&push[j]));
            j += 1;
        }
    }
    out
}

/// What one role came to.
enum Outcome {
    /// push stopped at exit 4 before any host (its message's first lines).
    Refused(String),
    /// Compared on hosts: one entry per run that differed.
    Compared(Vec<String>),
}

impl Outcome {
    fn matches(&self) -> bool {
        matches!(self, Outcome::Compared(diffs) if diffs.is_empty())
    }
    fn word(&self) -> &'static str {
        match self {
            Outcome::Refused(_) => "refused",
            Outcome::Compared(d) if d.is_empty() => "matches",
            Outcome::Compared(_) => "differs",
        }
    }
}

/// `push run --list-tasks`: loads the playbook, roles and all, and stops
/// before any connection. Exit 4 is a refusal.
fn refusal(role: &str) -> Option<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let inventory = dir.path().join("hosts.yml");
    std::fs::write(&inventory, "all:\n  hosts:\n    h:\n      ansible_host: 127.0.0.1\n").unwrap();
    let playbook = compat_dir().join("playbooks").join(format!("{role}.yml"));
    let out = PushCmd::run_playbook(&playbook, &inventory).arg("--list-tasks").run();
    match out.code() {
        0 => None,
        4 => Some(out.plain_stderr().lines().take(4).collect::<Vec<_>>().join("\n")),
        other => panic!("push run {role}.yml --list-tasks exited {other} (expected 0 or 4):\n{out}"),
    }
}

/// The three runs on hosts `a` and `b`, compared with the recording:
/// `first` and `second` on `a` while `check` runs on `b`.
fn compare_on_hosts(lab: &TestLab, role: &str, a: &str, b: &str, base: &str) -> Vec<String> {
    let fresh = |host: &str| {
        on_host_ok(lab, host, "host-setup.sh");
        let start = on_host_ok(lab, host, "state-dump.sh");
        if let Some(diff) = state_diff(base, &start, "base") {
            panic!("{role}: the fresh host {host} does not start as the recorded one did (re-record, or fix state-dump.sh's exclusions):\n{diff}");
        }
    };
    let (mut diffs, check) = std::thread::scope(|s| {
        let check = s.spawn(|| {
            fresh(b);
            compare_run(lab, role, "check", b)
        });
        fresh(a);
        let diffs: Vec<String> = ["first", "second"].iter().filter_map(|run| compare_run(lab, role, run, a)).collect();
        (diffs, check.join().expect("the check run panicked"))
    });
    diffs.extend(check);
    diffs
}

/// One run of push on `host`, compared with the recorded run: exit,
/// per-task status, state. `None` when all three match.
fn compare_run(lab: &TestLab, role: &str, run: &str, host: &str) -> Option<String> {
    let playbook = compat_dir().join("playbooks").join(format!("{role}.yml"));
    let mut cmd = PushCmd::run_playbook(&playbook, &lab.inventory()).args(["--format", "json", "-l", host]);
    if run == "check" {
        cmd = cmd.args(["--check", "--diff"]);
    }
    let out = cmd.timeout(Duration::from_secs(600)).run();
    let state = on_host_ok(lab, host, "state-dump.sh");
    let expected_state = read(&compat_dir().join("recorded").join(role).join(format!("{run}.state")));
    let ansible_tasks = recorded_tasks(role, run);
    let tasks = push_tasks(&out, host);
    let mut report = String::new();
    let ansible_ok = recorded_exit(role, run) == 0;
    if ansible_ok != (out.code() == 0) {
        let _ = writeln!(
            report,
            "exit: ansible-playbook {}, push exited {}; push said:\n{}",
            if ansible_ok { "succeeded" } else { "failed" },
            out.code(),
            push_errors(&out, host)
        );
    }
    if tasks != ansible_tasks {
        let _ = writeln!(report, "tasks differ:\n{}", task_table(&ansible_tasks, &tasks));
    }
    if let Some(diff) = state_diff(&expected_state, &state, run) {
        let _ = writeln!(report, "state differs:\n{diff}");
    }
    (!report.is_empty()).then(|| format!("--- {role}, {run} run ---\n{report}"))
}

#[test]
fn vendored_roles_converge_like_ansible() {
    require!(require_docker());
    let names = role_names();
    assert!(names.len() >= 15, "tests/compat/playbooks has {} roles, the test bed wants at least 15", names.len());
    let known: BTreeMap<&str, &str> = KNOWN_DIFFERENCES.iter().copied().collect();
    for role in known.keys() {
        assert!(names.iter().any(|n| n == role), "KNOWN_DIFFERENCES names `{role}`, which has no playbook");
    }
    // COMPAT_ROLES=a,b runs only those roles (when working on one).
    let names: Vec<String> = match std::env::var("COMPAT_ROLES") {
        Ok(only) if !only.trim().is_empty() => {
            let only: Vec<&str> = only.split(',').map(str::trim).collect();
            for role in &only {
                assert!(names.iter().any(|n| n == role), "COMPAT_ROLES names `{role}`, which has no playbook");
            }
            names.into_iter().filter(|n| only.contains(&n.as_str())).collect()
        }
        _ => names,
    };
    let base = read(&compat_dir().join("recorded").join("base.state"));

    // Where the time goes, on stderr (the machine is shared: not asserted).
    let started = Instant::now();
    let phase = |what: &str| eprintln!("lab_compat: {what} after {:.0?}", started.elapsed());
    let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
    let mut on_hosts = Vec::new();
    for role in &names {
        match refusal(role) {
            Some(msg) => {
                outcomes.insert(role.clone(), Outcome::Refused(msg));
            }
            None => on_hosts.push(role.clone()),
        }
    }

    phase(&format!("{} roles refused up front, {} to run on hosts", outcomes.len(), on_hosts.len()));
    let lab = TestLab::new("pt-compat");
    if on_hosts.is_empty() {
        // Nothing to run, but the twins' starting point is still checked:
        // a recording that no fresh host reproduces would hide every later
        // difference behind this one.
        lab.lab(&["up", "--hosts", "1"]).assert_code(0);
        let host = lab.host(1);
        on_host_ok(&lab, &host, "host-setup.sh");
        let start = on_host_ok(&lab, &host, "state-dump.sh");
        if let Some(diff) = state_diff(&base, &start, "base") {
            panic!("a fresh host does not start as the recorded ones did (re-record, or fix state-dump.sh's exclusions):\n{diff}");
        }
    }
    for batch in on_hosts.chunks(BATCH) {
        lab.lab(&["down"]).assert_code(0);
        lab.lab(&["up", "--hosts", &(2 * batch.len()).to_string()]).assert_code(0);
        phase(&format!("{} hosts up for {}", 2 * batch.len(), batch.join(", ")));
        let results: Vec<(String, Vec<String>)> = std::thread::scope(|s| {
            let handles: Vec<_> = batch
                .iter()
                .enumerate()
                .map(|(i, role)| {
                    let (a, b) = (lab.host(2 * i as u32 + 1), lab.host(2 * i as u32 + 2));
                    let (lab, base) = (&lab, &base);
                    s.spawn(move || (role.clone(), compare_on_hosts(lab, role, &a, &b, base)))
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("a role's comparison panicked")).collect()
        });
        for (role, diffs) in results {
            outcomes.insert(role, Outcome::Compared(diffs));
        }
        phase(&format!("compared {}", batch.join(", ")));
    }

    let mut summary = String::from("role                 outcome  known difference\n");
    let mut failures = String::new();
    for (role, outcome) in &outcomes {
        let reason = known.get(role.as_str()).copied();
        let _ = writeln!(summary, "{role:<20} {:<8} {}", outcome.word(), reason.unwrap_or("-"));
        match (outcome, reason) {
            (o, Some(_)) if o.matches() => {
                let _ = writeln!(summary, "  note: {role} matches Ansible now: remove it from KNOWN_DIFFERENCES");
            }
            (_, Some(_)) => {}
            (Outcome::Refused(msg), None) => {
                let _ = writeln!(failures, "--- {role}: push refused the playbook ---\n{msg}\n");
            }
            (Outcome::Compared(diffs), None) => {
                for d in diffs {
                    failures.push_str(d);
                    failures.push('\n');
                }
            }
        }
    }
    let matching = outcomes.values().filter(|o| o.matches()).count();
    let refused = outcomes.values().filter(|o| matches!(o, Outcome::Refused(_))).count();
    let _ = writeln!(
        summary,
        "compat: {matching} of {} roles match ansible-playbook fully (first run, second run, --check --diff); {refused} refused up front",
        outcomes.len()
    );
    println!("{summary}");
    // The differences of listed roles, for whoever works on them.
    for (role, outcome) in &outcomes {
        if let (Outcome::Compared(diffs), true) = (outcome, known.contains_key(role.as_str())) {
            for d in diffs {
                println!("(known) {d}");
            }
        }
    }
    assert!(
        failures.is_empty(),
        "roles that differ from ansible-playbook and are not in KNOWN_DIFFERENCES:\n\n{failures}\n{summary}"
    );
}
