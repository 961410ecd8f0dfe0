//! Running the real `push` binary and reading what it printed.
//!
//! The binary is not built by the tests (Cargo gives `CARGO_BIN_EXE_*` only
//! to the binary's own package): run `cargo build --workspace` first. It is
//! found as `$PUSH_BIN` if set, else `push` in the same profile folder as
//! the running test executable (`<target>/debug/deps/x-HASH` ->
//! `<target>/debug/push`, which follows `CARGO_TARGET_DIR`), else
//! `<workspace>/target/debug/push`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::proc::{run_with_timeout, CmdOutput};

/// Where the `push` binary is; panics with what to do when it is missing.
pub fn push_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PUSH_BIN") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "PUSH_BIN={} does not exist", p.display());
        return p;
    }
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        // <target>/<profile>/deps/<test>-<hash>
        if let Some(profile_dir) = exe.parent().and_then(Path::parent) {
            candidates.push(profile_dir.join("push"));
        }
    }
    let workspace = crate::workspace();
    candidates.push(workspace.join("target").join("debug").join("push"));
    match candidates.iter().find(|p| p.is_file()) {
        Some(p) => {
            warn_if_stale(p, &workspace);
            p.clone()
        }
        None => panic!(
            "the push binary is not built (looked at {}). Run `cargo build --workspace` first \
             (with the same CARGO_TARGET_DIR), or set PUSH_BIN=/path/to/push",
            candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Say so (once per test process) when a source file is newer than the binary.
fn warn_if_stale(bin: &Path, workspace: &Path) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(built) = bin.metadata().and_then(|m| m.modified()) else { return };
        let newest = ["cli/src", "engine/src", "modules/src", "modules/templates"]
            .iter()
            .filter_map(|d| newest_mtime(&workspace.join(d)))
            .max();
        if newest.is_some_and(|n| n > built) {
            eprintln!(
                "warning: {} is older than the sources; run `cargo build --workspace` to test the current code",
                bin.display()
            );
        }
    });
}

fn newest_mtime(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let t = if path.is_dir() { newest_mtime(&path) } else { entry.metadata().ok().and_then(|m| m.modified().ok()) };
        newest = newest.max(t);
    }
    newest
}

/// A `push` command line to run.
pub struct PushCmd {
    args: Vec<OsString>,
    cwd: Option<PathBuf>,
    env: Vec<(OsString, OsString)>,
    timeout: Duration,
    stdin: Option<String>,
}

impl Default for PushCmd {
    fn default() -> Self {
        PushCmd::new()
    }
}

impl PushCmd {
    pub fn new() -> PushCmd {
        let secs = std::env::var("PUSH_TESTS_TIMEOUT").ok().and_then(|s| s.parse().ok()).unwrap_or(180);
        PushCmd { args: Vec::new(), cwd: None, env: Vec::new(), timeout: Duration::from_secs(secs), stdin: None }
    }

    /// `push run PLAYBOOK -i INVENTORY`, run from the playbook's folder.
    pub fn run_playbook(playbook: &Path, inventory: &Path) -> PushCmd {
        let mut cmd = PushCmd::new().arg("run").arg(playbook).arg("-i").arg(inventory);
        if let Some(dir) = playbook.parent() {
            cmd = cmd.current_dir(dir);
        }
        cmd
    }

    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }
    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }
    pub fn arg_path(self, p: &Path) -> Self {
        self.arg(p.as_os_str().to_owned())
    }
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }
    pub fn env(mut self, k: impl Into<OsString>, v: impl Into<OsString>) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
    /// What push reads on its stdin (else /dev/null).
    pub fn stdin(mut self, text: impl Into<String>) -> Self {
        self.stdin = Some(text.into());
        self
    }
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    pub fn run(self) -> RunOutput {
        let mut cmd = Command::new(push_bin());
        cmd.args(&self.args);
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        // Plain output; a panic in push shows where.
        cmd.env("NO_COLOR", "1").env("CLICOLOR", "0").env("TERM", "dumb").env("RUST_BACKTRACE", "1");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = match &self.stdin {
            None => run_with_timeout(&mut cmd, self.timeout),
            Some(text) => {
                let mut file = tempfile::tempfile().expect("tempfile");
                std::io::Write::write_all(&mut file, text.as_bytes()).expect("write stdin");
                std::io::Seek::rewind(&mut file).expect("rewind stdin");
                crate::proc::run_with_timeout_from(&mut cmd, self.timeout, file.into())
            }
        };
        if out.timed_out {
            panic!("push did not finish within {:?}:\n{out}", self.timeout);
        }
        RunOutput(out)
    }
}

/// `push ARGS...` from the current folder.
pub fn push<I: IntoIterator<Item = S>, S: Into<OsString>>(args: I) -> RunOutput {
    PushCmd::new().args(args).run()
}

/// A finished `push` run: exit code, stdout, stderr, with helpers for the
/// `--format json` event stream. `Display` shows it all, for assertion
/// messages.
pub struct RunOutput(pub CmdOutput);

impl RunOutput {
    /// The exit code (panics, showing the run, if push was killed by a signal).
    pub fn code(&self) -> i32 {
        self.0.code.unwrap_or_else(|| panic!("push was killed by a signal:\n{self}"))
    }
    pub fn stdout(&self) -> &str {
        &self.0.stdout
    }
    pub fn stderr(&self) -> &str {
        &self.0.stderr
    }

    /// Panic, showing the whole run, unless the exit code is `expected`.
    pub fn assert_code(&self, expected: i32) -> &Self {
        assert_eq!(self.0.code, Some(expected), "expected exit code {expected}:\n{self}");
        self
    }

    /// stdout parsed as one JSON object per non-empty line; panics, showing
    /// the run, at the first line that is not (the contract of `--format json`).
    pub fn json(&self) -> Vec<Value> {
        parse_json_lines(&self.0.stdout).unwrap_or_else(|e| panic!("{e}\n{self}"))
    }

    /// Every `"event":"task"` object, in order.
    pub fn task_events(&self) -> Vec<TaskEvent> {
        self.json()
            .into_iter()
            .filter(|v| v.get("event").and_then(Value::as_str) == Some("task"))
            .map(|v| TaskEvent::from_json(&v).unwrap_or_else(|e| panic!("{e}: {v}\n{self}")))
            .collect()
    }

    /// The task events of one host.
    pub fn tasks_of(&self, host: &str) -> Vec<TaskEvent> {
        self.task_events().into_iter().filter(|e| e.host == host).collect()
    }

    /// The event of task `task` on `host` (panics unless exactly one).
    pub fn task(&self, host: &str, task: &str) -> TaskEvent {
        let found: Vec<TaskEvent> =
            self.task_events().into_iter().filter(|e| e.host == host && e.task == task).collect();
        assert_eq!(found.len(), 1, "expected one event for task {task:?} on {host}, found {found:?}\n{self}");
        found.into_iter().next().unwrap()
    }

    /// The last line's `"event":"recap"` (panics, showing the run, if the
    /// last JSON line is not a recap).
    pub fn recap(&self) -> Recap {
        let events = self.json();
        let last = events.last().unwrap_or_else(|| panic!("no JSON output at all:\n{self}"));
        assert_eq!(
            last.get("event").and_then(Value::as_str),
            Some("recap"),
            "the last JSON line is not the recap:\n{self}"
        );
        Recap::from_json(last).unwrap_or_else(|e| panic!("{e}\n{self}"))
    }

    /// stdout without ANSI colour codes.
    pub fn plain_stdout(&self) -> String {
        strip_ansi(&self.0.stdout)
    }
    pub fn plain_stderr(&self) -> String {
        strip_ansi(&self.0.stderr)
    }

    /// What the run said went wrong, wherever it was said: stderr's text,
    /// and with `--format json` the `error` events' messages and hints on
    /// stdout (errors are events there).
    pub fn error_text(&self) -> String {
        let mut text = self.plain_stderr();
        for event in self.json().into_iter().filter(|e| e["event"] == "error") {
            for key in ["msg", "hint"] {
                if let Some(line) = event[key].as_str() {
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
        text
    }
}

impl fmt::Display for RunOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for RunOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Parse `--format json` output: one JSON object per non-empty line.
pub fn parse_json_lines(text: &str) -> Result<Vec<Value>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| match serde_json::from_str::<Value>(l) {
            Ok(v) if v.is_object() => Ok(v),
            Ok(_) => Err(format!("stdout line {} is JSON but not an object: {l}", i + 1)),
            Err(e) => Err(format!("stdout line {} is not JSON ({e}): {l}", i + 1)),
        })
        .collect()
}

/// One `{"event":"task",...}` line.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskEvent {
    pub play: String,
    pub host: String,
    pub task: String,
    /// ok | changed | failed | skipped | unreachable
    pub status: String,
    pub msg: String,
    /// Present with `--diff`.
    pub diff: Option<Value>,
    pub raw: Value,
}

impl TaskEvent {
    fn from_json(v: &Value) -> Result<TaskEvent, String> {
        let s = |k: &str| -> Result<String, String> {
            match v.get(k) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(Value::Null) | None if k == "msg" || k == "play" => Ok(String::new()),
                Some(other) => Ok(other.to_string()),
                None => Err(format!("task event without `{k}`")),
            }
        };
        let status = s("status")?;
        if !["ok", "changed", "failed", "skipped", "unreachable"].contains(&status.as_str()) {
            return Err(format!("task event with unknown status `{status}`"));
        }
        Ok(TaskEvent {
            play: s("play")?,
            host: s("host")?,
            task: s("task")?,
            status,
            msg: s("msg")?,
            diff: v.get("diff").filter(|d| !d.is_null()).cloned(),
            raw: v.clone(),
        })
    }

    /// The diff as text: a string as is, anything else as pretty JSON.
    pub fn diff_text(&self) -> Option<String> {
        self.diff.as_ref().map(|d| match d {
            Value::String(s) => s.clone(),
            other => serde_json::to_string_pretty(other).unwrap_or_default(),
        })
    }
}

/// One host's counters in the recap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostRecap {
    pub ok: u64,
    pub changed: u64,
    pub unreachable: u64,
    pub failed: u64,
    pub skipped: u64,
    pub remote_execs: u64,
    /// Session shells started on the host (0 when the recap has none).
    pub sessions: u64,
    /// Scripts sent over them (0 when the recap has none).
    pub round_trips: u64,
}

/// The `{"event":"recap","hosts":{...}}` line.
#[derive(Debug, Clone)]
pub struct Recap {
    pub hosts: BTreeMap<String, HostRecap>,
    pub raw: Value,
}

impl Recap {
    fn from_json(v: &Value) -> Result<Recap, String> {
        let hosts = v.get("hosts").and_then(Value::as_object).ok_or("recap without a `hosts` object")?;
        let mut out = BTreeMap::new();
        for (name, h) in hosts {
            let n = |k: &str| -> Result<u64, String> {
                h.get(k)
                    .and_then(Value::as_u64)
                    .ok_or_else(|| format!("recap of {name}: `{k}` missing or not a count: {h}"))
            };
            out.insert(
                name.clone(),
                HostRecap {
                    ok: n("ok")?,
                    changed: n("changed")?,
                    unreachable: n("unreachable")?,
                    failed: n("failed")?,
                    skipped: n("skipped")?,
                    remote_execs: n("remote_execs")?,
                    sessions: n("sessions").unwrap_or(0),
                    round_trips: n("round_trips").unwrap_or(0),
                },
            );
        }
        Ok(Recap { hosts: out, raw: v.clone() })
    }

    /// The counters of `host` (panics if the recap does not list it).
    pub fn host(&self, host: &str) -> HostRecap {
        *self.hosts.get(host).unwrap_or_else(|| panic!("recap has no host `{host}`: {}", self.raw))
    }
}

/// Remove ANSI escape sequences (colours, cursor moves).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // Parameters and intermediates, then one final byte in @..~.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_and_recap() {
        let text = concat!(
            r#"{"event":"task","play":"p","host":"h1","task":"t","status":"changed","msg":"wrote"}"#,
            "\n\n",
            r#"{"event":"recap","hosts":{"h1":{"ok":1,"changed":1,"unreachable":0,"failed":0,"skipped":0,"remote_execs":2}}}"#,
            "\n"
        );
        let out = RunOutput(CmdOutput {
            cmdline: "push".into(),
            code: Some(0),
            stdout: text.into(),
            stderr: String::new(),
            timed_out: false,
        });
        assert_eq!(out.task_events()[0].status, "changed");
        assert_eq!(out.recap().host("h1").remote_execs, 2);
        assert!(parse_json_lines("not json").is_err());
        assert!(parse_json_lines("[1]").is_err());
    }

    #[test]
    #[should_panic(expected = "unknown status")]
    fn rejects_unknown_status() {
        let text = r#"{"event":"task","play":"p","host":"h1","task":"t","status":"done","msg":""}"#;
        let out = RunOutput(CmdOutput {
            cmdline: "push".into(),
            code: Some(0),
            stdout: text.into(),
            stderr: String::new(),
            timed_out: false,
        });
        out.task_events();
    }

    #[test]
    fn strips_colours() {
        assert_eq!(strip_ansi("\u{1b}[1;31m-old\u{1b}[0m\n+new"), "-old\n+new");
    }
}
