//! The two scripts sent to a host per segment of its plan: the probe
//! (every step's look) and the apply (the steps that differ, and handlers).
//! Each is one chunk on the host's session (one round trip, whatever the
//! number of steps; [`Script::session_text`]), or, kept
//! (`PUSH_KEEP_SCRIPTS`), a script of its own for `sh -s`.
//!
//! Each step runs in its own subshell. Its report is framed by lines that
//! start with a random nonce, so nothing a step prints can be mistaken for
//! them. Every frame line is printed with a newline before it, which belongs
//! to the frame, not to the data before it:
//!
//! ```text
//! stdout: \nNONCE + ID\n  STDOUT   \nNONCE s STATUS LINE\n  (more STDOUT, status)
//!         [\nNONCE b\n  DIFF BEFORE]  [\nNONCE a\n  DIFF AFTER]  \nNONCE = RC\n
//!         ... next step ...  \nNONCE end\n
//! stderr: \nNONCE + ID\n  STDERR  \nNONCE = RC\n
//!         (while the lock step waits, \nNONCE w SECONDS_LEFT HOLDER\n lines
//!         within its frame: LockWaits)
//! ```
//!
//! In a session the chunk's output ends with `\nNONCE done STATUS\n` on
//! both streams (session.sh). Over SSH heartbeats come on the session's
//! stdin, and a watcher on the host (script_watch.sh) ends the session if
//! they stop.
//!
//! A probe without diff or become has no folder on the host at all: output
//! and status stream out as they come. An apply (and a probe with a diff, or
//! steps under sudo) keeps each step's output in files of a private folder,
//! so a daemon a step starts cannot hold the connection open, and prints
//! them after the step.

use std::fmt::Write as _;

use crate::become_method::BecomeAs;
use crate::output_cap::CappedFrames;

/// One step of a script: a module snippet and how to run it.
#[derive(Debug, Clone)]
pub struct ScriptStep<'a> {
    pub id: StepId,
    pub snippet: &'a str,
    pub become_: Option<&'a BecomeAs>,
    /// Flags raised when this step reports `changed` (its handlers).
    pub notify: Vec<String>,
    /// (KEY, flag): flags raised when the step says `push_defer KEY`.
    pub defers: Vec<(String, String)>,
    pub ignore_errors: bool,
    /// What the probe fetches for this step beforehand (see [`prefetch`]).
    pub prefetch: Option<&'a push_modules::Prefetch>,
    /// A file the snippet carries (an apply's `copy src:`).
    pub attachment: Option<&'a push_modules::Attachment>,
    /// Seconds to wait before the step (`loop_control.pause`; apply only).
    pub pause: Option<f64>,
    /// Where the step is among its task's loop items in an apply: a failed
    /// item does not stop the loop, as in Ansible; the task fails after
    /// its last item.
    pub loop_item: LoopItem,
}

/// A step's place among the items of its task's loop, in one apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LoopItem {
    /// Not a loop item, or the only one of its task in the apply.
    #[default]
    Alone,
    /// Another item of the same task runs after it.
    More,
    /// The last of two or more.
    Last,
}

impl<'a> ScriptStep<'a> {
    /// A step that only runs its snippet as the login user: no handlers,
    /// no deferred actions, nothing fetched or carried.
    pub fn plain(id: StepId, snippet: &'a str) -> ScriptStep<'a> {
        ScriptStep {
            id,
            snippet,
            become_: None,
            notify: vec![],
            defers: vec![],
            ignore_errors: false,
            prefetch: None,
            attachment: None,
            pause: None,
            loop_item: LoopItem::Alone,
        }
    }
}

/// A step's id in a script: its frames, its function and its folder on the
/// host are named by it, so it is shell-safe by construction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StepId {
    /// The step at this place among a segment's steps.
    Step(usize),
    /// The `index`th step of the final action whose flag is `flag` (`d0`
    /// for a deferred action, `h2` for a handler).
    Final { flag: String, index: usize },
    /// An apply's deploy lock.
    Lock,
}

impl Default for StepId {
    fn default() -> StepId {
        StepId::Step(0)
    }
}

impl StepId {
    /// An id as the host says it back; None for anything push never sends.
    pub fn parse(text: &str) -> Option<StepId> {
        let number =
            |t: &str| (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse().ok()).flatten();
        if text == "lock" {
            return Some(StepId::Lock);
        }
        if let Some(n) = number(text) {
            return Some(StepId::Step(n));
        }
        let (flag, index) = text.split_once('_')?;
        let (kind, n) = flag.split_at_checked(1)?;
        if !matches!(kind, "d" | "h") || number(n).is_none() {
            return None;
        }
        Some(StepId::Final { flag: flag.to_string(), index: number(index)? })
    }
}

impl std::fmt::Display for StepId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepId::Step(n) => write!(f, "{n}"),
            StepId::Final { flag, index } => write!(f, "{flag}_{index}"),
            StepId::Lock => f.write_str("lock"),
        }
    }
}

/// The host's deploy lock, held for the whole apply (changes, deferred
/// restarts, health gates, handlers) so two runs never interleave them.
#[derive(Debug, Clone)]
pub struct Lock {
    /// The lock folder on the host (`push_lock_path`); None: the default
    /// for the login user, chosen on the host.
    pub path: Option<String>,
    /// Who we are, for the other run's error message.
    pub holder: String,
    /// Seconds to wait for another run's lock.
    pub wait_secs: u64,
    pub break_stale: bool,
}

pub struct Script {
    pub text: String,
    pub nonce: String,
    /// Files whose content goes where their tokens stand in `text`, as the
    /// script is sent ([`crate::attachment`]).
    pub attachments: Vec<push_modules::Attachment>,
    /// The password sudo asks for (`-K`, `ansible_become_password`). It is
    /// set in the shell as the script is sent, never kept with it
    /// ([`crate::attachment`]): `push_as` hands it to sudo on its stdin.
    pub become_password: Option<BecomePassword>,
}

/// A become password: one line, as sudo reads it. Its `Debug` hides it.
#[derive(Clone, PartialEq)]
pub struct BecomePassword(String);

/// Why a become password cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("a become password must be one line: sudo reads it up to the first newline")]
pub struct MultilinePassword;

impl BecomePassword {
    pub fn new(password: impl Into<String>) -> Result<BecomePassword, MultilinePassword> {
        let password = password.into();
        if password.contains(['\n', '\r']) {
            return Err(MultilinePassword);
        }
        Ok(BecomePassword(password))
    }

    /// The shell line that sets it, for the script as sent.
    pub(crate) fn assignment(&self) -> String {
        format!("PUSH_BECOME_PW={}\n", push_modules::shell::quote(&self.0))
    }

    /// The line a kept script has instead: it stops, saying why, unless the
    /// password is given in the environment of whoever runs it by hand.
    pub(crate) const KEPT_ASSIGNMENT: &'static str =
        "PUSH_BECOME_PW=${PUSH_BECOME_PW:?the become password is not kept: set PUSH_BECOME_PW to run this script}\n";
}

impl std::fmt::Debug for BecomePassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BecomePassword(hidden)")
    }
}

fn new_nonce() -> String {
    format!("PUSH{:032x}", rand::random::<u128>())
}

/// The exit status of a script that could not set itself up on the host
/// (its working folder cannot be made or written), before any step ran;
/// why is on its stderr.
pub const SETUP_FAILED: i32 = 125;

/// The script's start: with `dir`, a private temporary folder with every
/// step's folder in it, made by one `mkdir` (on a fleet, each process a run
/// starts is CPU on every host); then the helpers. The folder's name is
/// random and `mkdir` without `-p` fails if it exists, so it is ours alone.
fn header(out: &mut String, dir: bool, diff: bool, ids: impl Iterator<Item = String>) {
    // Before the script's body: its watcher must see it arrive.
    out.push_str(include_str!("script_watch.sh"));
    out.push_str("push_main() {\n");
    if dir {
        let _ = writeln!(out, "PUSH_T=\"${{TMPDIR:-/tmp}}/push.{:016x}\"", rand::random::<u64>());
        out.push_str("mkdir -m 700 -- \"$PUSH_T\"");
        for id in ids {
            let _ = write!(out, " \"$PUSH_T/{id}\" \"$PUSH_T/{id}/diff\"");
        }
        let _ = writeln!(out, " || exit {SETUP_FAILED}");
        out.push_str("trap 'push_unwatch; rm -rf \"$PUSH_T\"' EXIT\n");
    } else {
        out.push_str("PUSH_T=\n");
        out.push_str("trap push_unwatch EXIT\n");
    }
    // Signals (a kill; the watcher's TERM when the controller is gone, which
    // ends the running step too) leave through the EXIT trap, once the
    // running step has ended: the lock and temporary files go last.
    out.push_str("trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 141' PIPE; trap 'exit 143' TERM\n");
    // The whole script has been read: the heartbeats that follow it on the
    // session's stdin (fd 3 here) go to push_beats, and no step inherits it.
    out.push_str("if [ -n \"$PUSH_W\" ]; then { exec <&3 >/dev/null 2>&1 3<&-; push_beats \"$PUSH_W\"; } & PUSH_B=$!; fi\nexec 3<&-\n");
    let _ = writeln!(out, "PUSH_DIFF={}", u8::from(diff));
    out.push_str(push_modules::shell::prelude());
    out.push_str(include_str!("script_runtime.sh"));
    if dir {
        let _ = writeln!(out, "push_check_workdir || exit {SETUP_FAILED}");
    }
}

/// Write a step: its snippet as a function (or, under sudo, as a file run by
/// a root shell), then the call that runs and reports it. In an apply, a
/// failure stops the script and the step raises the flags of its handlers
/// and deferred actions; a probe runs on and has no final steps to raise.
fn step(out: &mut String, s: &ScriptStep, nonce: &str, apply: bool) {
    let id = &s.id;
    if let Some(secs) = s.pause.filter(|_| apply) {
        // Between two items of a loop, on the host: `sleep` takes fractions
        // (GNU and busybox alike).
        let _ = writeln!(out, "sleep {}", pause_text(secs));
    }
    match s.become_ {
        None => {
            let _ = writeln!(out, "push_step_{id}() {{\n{}\n}}", s.snippet.trim_end());
            let _ = writeln!(out, "push_run {id} push_step_{id}");
        }
        Some(b) => {
            // sudo closes inherited descriptors and drops functions, so the
            // step runs as a standalone script with the helpers prepended,
            // fed to the root shell on stdin (the file stays private to the
            // login user: it may hold secrets). Its own commands read
            // /dev/null, as everywhere else.
            // A file cut short (its filesystem filled up) must not run: the
            // step fails instead, saying why.
            let _ = writeln!(out, "if (umask 077; cat >\"$PUSH_T/{id}.sh\") 2>/dev/null <<'{nonce}'");
            out.push_str("push_main() {\n");
            out.push_str(push_modules::shell::prelude());
            let _ = writeln!(out, "set -e\ncd /\n{}\n}}\npush_main </dev/null\n{nonce}", s.snippet.trim_end());
            let _ = writeln!(out, "then push_run {id} {}", b.invocation(&format!("\"$PUSH_T/{id}.sh\"")));
            let _ = writeln!(out, "else push_run {id} push_write_failed \"$PUSH_T/{id}.sh\" \"$PUSH_T/{id}.sh\"\nfi");
        }
    }
    if !apply {
        return;
    }
    for flag in &s.notify {
        let _ = writeln!(out, "[ \"$push_changed\" = 1 ] && push_flag_{flag}=1");
    }
    for (key, flag) in &s.defers {
        let _ = writeln!(
            out,
            "case $push_defers in *{}*) push_flag_{flag}=1 ;; esac",
            push_modules::shell::quote(&format!(" {key} "))
        );
    }
    match s.loop_item {
        // The item's failure is counted, and the loop goes on.
        LoopItem::More => out.push_str("[ \"$push_rc\" = 0 ] || push_items_failed=1\n"),
        LoopItem::Last if !s.ignore_errors => out.push_str(
            "[ \"$push_rc\" = 0 ] && [ -z \"${push_items_failed-}\" ] || { push_end; exit 0; }\npush_items_failed=\n",
        ),
        LoopItem::Last => out.push_str("push_items_failed=\n"),
        LoopItem::Alone if !s.ignore_errors => out.push_str("[ \"$push_rc\" = 0 ] || { push_end; exit 0; }\n"),
        LoopItem::Alone => {}
    }
}

/// Seconds as `sleep` takes them: `2`, `0.5`.
fn pause_text(secs: f64) -> String {
    let text = format!("{secs:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn footer(out: &mut String) {
    out.push_str("push_end\n}\n");
    out.push_str(STANDALONE_CALL);
}

/// A script's last line when it is a shell's whole input: one line, and the
/// shell exits at its end: stdin stays open for the heartbeats, so reading
/// on would wait for the controller to hang up.
const STANDALONE_CALL: &str = "push_main 3<&0 </dev/null; exit\n";

impl Script {
    /// The script as a chunk of a session (session.sh): without the watcher
    /// (the session has one), run in a subshell so that its `exit` and its
    /// traps end only the chunk, then the chunk's end marker with its exit
    /// status, on both streams.
    pub fn session_text(&self) -> String {
        let watch = include_str!("script_watch.sh");
        let body = self.text.strip_prefix(watch).unwrap_or(&self.text);
        let body = body.strip_suffix(STANDALONE_CALL).unwrap_or(body);
        format!("{body}(push_main) 3<&0 </dev/null; push_chunk_done {} $?\n", self.nonce)
    }
}

/// One `find` and one `sha256sum` for every path the steps will look at,
/// into the tables the prelude's `push_stat`, `push_readlink` and
/// `push_sha256` read: `PATH|MODE USER UID GROUP GID`, or `PATH|-> TARGET`
/// for a symlink, and sha256sum's own `HASH  PATH` lines. Missing files are
/// simply not in them. Only absolute paths of plain characters: the tables
/// are split on `|`, spaces and newlines.
fn prefetch(out: &mut String, steps: &[ScriptStep]) {
    let plain =
        |p: &&String| p.starts_with('/') && p.chars().all(|c| c.is_ascii_alphanumeric() || "_./@+,=:%-".contains(c));
    let mut stat: Vec<&String> = Vec::new();
    let mut sha: Vec<&String> = Vec::new();
    // Under become the step runs in a shell of its own, without the tables.
    for f in steps.iter().filter(|s| s.become_.is_none()).filter_map(|s| s.prefetch) {
        stat.extend(f.stat.iter().filter(plain));
        sha.extend(f.sha256.iter().filter(plain));
    }
    let words = |v: &mut Vec<&String>| {
        v.sort();
        v.dedup();
        v.iter().map(|p| push_modules::shell::quote(p)).collect::<Vec<_>>().join(" ")
    };
    if !stat.is_empty() {
        let _ = writeln!(
            out,
            "PUSH_STATS=$(find {} -maxdepth 0 \\( -type l -printf '%p|-> %l\\n' \\) -o -printf '%p|%m %u %U %g %G\\n' 2>/dev/null)",
            words(&mut stat)
        );
    }
    if !sha.is_empty() {
        let _ = writeln!(out, "PUSH_HASHES=$(sha256sum -- {} 2>/dev/null)", words(&mut sha));
    }
}

/// The probe: every step's look, in order, never stopping.
pub fn probe(steps: &[ScriptStep], diff: bool) -> Script {
    let nonce = new_nonce();
    let mut out = String::new();
    // Steps under sudo run from a file in the folder.
    let dir = diff || steps.iter().any(|s| s.become_.is_some());
    header(&mut out, dir, diff, steps.iter().map(|s| s.id.to_string()));
    let _ = writeln!(out, "PUSH_NONCE={nonce}");
    prefetch(&mut out, steps);
    for s in steps {
        step(&mut out, s, &nonce, false);
    }
    footer(&mut out);
    Script { text: out, nonce, attachments: Vec::new(), become_password: None }
}

/// The apply: the given steps in order, stopping at the first failure, then
/// each final step (deferred actions, then handlers) whose flag is raised,
/// by the controller beforehand (`raised`) or by a step here.
pub fn apply(steps: &[ScriptStep], finals: &[(String, ScriptStep)], raised: &[String], lock: Option<&Lock>) -> Script {
    let nonce = new_nonce();
    let mut out = String::new();
    let ids = steps.iter().chain(finals.iter().map(|(_, s)| s)).map(|s| s.id.to_string());
    header(&mut out, true, false, lock.map(|_| StepId::Lock.to_string()).into_iter().chain(ids));
    let _ = writeln!(out, "PUSH_NONCE={nonce}");
    if let Some(lock) = lock {
        let q = push_modules::shell::quote;
        let _ = writeln!(
            out,
            "push_run lock push_lock {} {} {} {} 8>&2",
            q(lock.path.as_deref().unwrap_or("")),
            q(&lock.holder),
            lock.wait_secs,
            u8::from(lock.break_stale)
        );
        out.push_str("[ \"$push_rc\" = 0 ] || { push_end; exit 0; }\n");
        // Released on every exit of this shell, with the temporary folder.
        out.push_str("trap 'push_unwatch; rm -rf \"$PUSH_T\" \"$(cat \"$PUSH_T/lock.path\")\"' EXIT\n");
    }
    for (flag, _) in finals {
        let _ = writeln!(out, "push_flag_{flag}={}", u8::from(raised.contains(flag)));
    }
    for s in steps {
        step(&mut out, s, &nonce, true);
    }
    for (flag, s) in finals {
        let _ = writeln!(out, "if [ \"$push_flag_{flag}\" = 1 ]; then");
        step(&mut out, s, &nonce, true);
        out.push_str("fi\n");
    }
    footer(&mut out);
    let mut attachments: Vec<push_modules::Attachment> = Vec::new();
    for a in steps.iter().chain(finals.iter().map(|(_, s)| s)).filter_map(|s| s.attachment) {
        if !attachments.contains(a) {
            attachments.push(a.clone());
        }
    }
    Script { text: out, nonce, attachments, become_password: None }
}

/// What one step reported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepReport {
    pub id: StepId,
    pub rc: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Its status lines, parsed as they arrive.
    pub status: StepStatus,
    pub before: Option<Vec<u8>>,
    pub after: Option<Vec<u8>>,
}

/// What a step said of itself in its status lines (`push_changed WHY`,
/// `push_skipped WHY`, `push_defer KEY`, `push_rollout EVENT`; see the
/// prelude in modules/src/shell.rs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepStatus {
    pub outcome: Outcome,
    /// The first reason given with `changed`/`skipped`.
    pub reason: Option<String>,
    /// Keys of the deferred actions the step asked for.
    pub defers: Vec<String>,
    /// The step said `ok` (`push_ok WHY`): its look found nothing to do,
    /// and what it printed there is its result (a command whose
    /// `creates:` exists prints Ansible's "skipped, since ... exists").
    pub done_in_probe: bool,
    /// What a rollout did (`push_rollout`), e.g. `upgraded web A -> B`.
    pub rollouts: Vec<String>,
}

/// A step's own verdict; a failure is its exit code, not a status line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Outcome {
    #[default]
    Ok,
    Skipped,
    /// From a probe: would change.
    Changed,
}

impl StepStatus {
    /// Take one status line. `changed` beats `skipped`, whatever the order.
    pub fn push_line(&mut self, line: &str) {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            w if w.starts_with("changed") || w.starts_with("skipped") => {
                let outcome = if w.starts_with("changed") { Outcome::Changed } else { Outcome::Skipped };
                self.outcome = self.outcome.max_with(outcome);
                let why = rest.trim();
                if self.reason.is_none() && !why.is_empty() {
                    self.reason = Some(why.to_string());
                }
            }
            "ok" => {
                self.done_in_probe = true;
                let why = rest.trim();
                if self.reason.is_none() && !why.is_empty() {
                    self.reason = Some(why.to_string());
                }
            }
            "defer" => self.defers.push(rest.to_string()),
            "rollout" => self.rollouts.push(rest.to_string()),
            _ => {}
        }
    }

    /// Status lines, one after another (tests, and the host's words).
    pub fn from_lines(text: &str) -> StepStatus {
        let mut status = StepStatus::default();
        text.lines().for_each(|l| status.push_line(l));
        status
    }
}

impl Outcome {
    fn max_with(self, other: Outcome) -> Outcome {
        match (self, other) {
            (Outcome::Changed, _) | (_, Outcome::Changed) => Outcome::Changed,
            (Outcome::Skipped, _) | (_, Outcome::Skipped) => Outcome::Skipped,
            _ => Outcome::Ok,
        }
    }
}

impl StepReport {
    pub fn changed(&self) -> bool {
        self.status.outcome == Outcome::Changed
    }
    pub fn skipped(&self) -> bool {
        self.status.outcome == Outcome::Skipped
    }
    /// Keys of the deferred actions the step asked for.
    pub fn defers(&self) -> impl Iterator<Item = &str> {
        self.status.defers.iter().map(String::as_str)
    }

    /// What a rollout did (`push_rollout`), e.g. `upgraded web A -> B`.
    pub fn rollouts(&self) -> impl Iterator<Item = &str> {
        self.status.rollouts.iter().map(String::as_str)
    }

    /// The first reason given with `changed`/`skipped`.
    pub fn reason(&self) -> Option<&str> {
        self.status.reason.as_deref()
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    #[error("the host's output ended early (the script was cut off; last complete step: {last:?})")]
    Truncated { last: Option<String> },
    #[error("the host's output is garbled near step {0}")]
    Garbled(String),
}

/// Read a script's output back into step reports (framing: module docs).
/// Anything outside a step's frame (a login shell's chatter) is ignored.
pub fn parse(stdout: &[u8], stderr: &[u8], nonce: &str) -> Result<Vec<StepReport>, ParseError> {
    match parse_reports(stdout, stderr, nonce)? {
        (reports, true) => Ok(reports),
        (reports, false) => Err(ParseError::Truncated { last: reports.last().map(|r| r.id.to_string()) }),
    }
}

/// The reports of the steps that finished, of a script's output cut off
/// (its session went away while it ran): what is known of each step.
pub fn parse_partial(stdout: &[u8], stderr: &[u8], nonce: &str) -> Vec<StepReport> {
    parse_reports(stdout, stderr, nonce).map(|(reports, _)| reports).unwrap_or_default()
}

/// The reports of the steps that finished, and whether the output came to
/// its end.
fn parse_reports(stdout: &[u8], stderr: &[u8], nonce: &str) -> Result<(Vec<StepReport>, bool), ParseError> {
    /// Where the data after a frame line belongs.
    enum Sink {
        Stdout,
        Before,
        After,
    }
    let mut reports: Vec<StepReport> = Vec::new();
    let mut open: Option<StepReport> = None;
    let mut sink = Sink::Stdout;
    for (head, data) in frames(stdout, nonce) {
        match (head.split_once(' ').unwrap_or((head, "")), open.as_mut()) {
            (("end", ""), None) => return Ok((with_stderr(reports, stderr, nonce), true)),
            (("+", id), None) => {
                let id = StepId::parse(id).ok_or_else(|| ParseError::Garbled(id.to_string()))?;
                open = Some(StepReport { id, ..Default::default() });
                sink = Sink::Stdout;
            }
            (("s", line), Some(r)) => {
                r.status.push_line(line);
                sink = Sink::Stdout;
            }
            (("b", ""), Some(_)) => sink = Sink::Before,
            (("a", ""), Some(_)) => sink = Sink::After,
            (("=", rc), Some(r)) => {
                r.rc = rc.parse().map_err(|_| ParseError::Garbled(r.id.to_string()))?;
                reports.extend(open.take());
            }
            (_, r) => return Err(ParseError::Garbled(r.map_or_else(|| head.to_string(), |r| r.id.to_string()))),
        }
        // Between steps (after `=`) there is nothing to keep.
        if let Some(r) = open.as_mut() {
            match sink {
                Sink::Stdout => r.stdout.extend_from_slice(data),
                Sink::Before => r.before.get_or_insert_with(Vec::new).extend_from_slice(data),
                Sink::After => r.after.get_or_insert_with(Vec::new).extend_from_slice(data),
            }
        }
    }
    Ok((with_stderr(reports, stderr, nonce), false))
}

fn with_stderr(mut reports: Vec<StepReport>, stderr: &[u8], nonce: &str) -> Vec<StepReport> {
    let mut errs = step_data(stderr, nonce);
    for r in &mut reports {
        r.stderr = errs.remove(r.id.to_string().as_str()).unwrap_or_default();
    }
    reports
}

/// The frames of one stream: each frame line's text after the nonce, and
/// the data up to the next frame line (without the newline that starts it).
/// A frame line cut off before its newline ends the stream.
fn frames<'a>(out: &'a [u8], nonce: &str) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
    let mark = format!("\n{nonce} ").into_bytes();
    let starts: Vec<usize> = find_all(out, &mark);
    let ends: Vec<usize> = starts.iter().skip(1).copied().chain([out.len()]).collect();
    starts.into_iter().zip(ends).map_while(move |(start, end)| {
        let rest = &out[start + mark.len()..end];
        let nl = rest.iter().position(|&b| b == b'\n')?;
        Some((std::str::from_utf8(&rest[..nl]).ok()?, &rest[nl + 1..]))
    })
}

fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    let mut at = Vec::new();
    let mut i = 0;
    while let Some(p) = hay.get(i..).and_then(|h| h.windows(needle.len()).position(|w| w == needle)) {
        at.push(i + p);
        i += p + needle.len();
    }
    at
}

/// Each step's data in a stream framed by `+ ID` and `= RC` (stderr). The
/// `w` lines of a lock wait ([`LockWaits`]) come between a step's frames
/// without ending its data.
fn step_data<'a>(out: &'a [u8], nonce: &str) -> std::collections::HashMap<&'a str, Vec<u8>> {
    let mut by_id: std::collections::HashMap<&str, Vec<u8>> = std::collections::HashMap::new();
    let mut open = None;
    for (head, data) in frames(out, nonce) {
        if let Some(id) = head.strip_prefix("+ ") {
            by_id.insert(id, data.to_vec());
            open = Some(id);
        } else if head.starts_with("w ") {
            if let Some(data_of) = open.and_then(|id| by_id.get_mut(id)) {
                data_of.extend_from_slice(data);
            }
        } else {
            open = None;
        }
    }
    by_id
}

/// Each step's report put together from a script's two streams as they
/// arrive, in pieces of any size and in whatever order the two streams'
/// pieces come: a report is whole once its frame has ended on both (its
/// `= RC` line on stdout, in an apply after its output and diff printed
/// from its files, and on stderr after its stderr), and is handed out then,
/// while the rest of the script still runs. Each frame's data is bounded
/// as [`CappedFrames`] bounds a script's whole output, so a report here is
/// the one [`parse`] reads from that output.
pub struct StepStream {
    state: std::sync::Mutex<Sides>,
}

#[derive(Default)]
struct Sides {
    out: FrameReader,
    err: FrameReader,
    /// Of the step whose frame is open on stdout: where its data goes.
    out_open: Option<(StepReport, Sink)>,
    /// Of the step whose frame is open on stderr: its id and stderr.
    err_open: Option<(StepId, Vec<u8>)>,
    /// Ended on one stream, waiting for their end on the other.
    out_ended: std::collections::HashMap<StepId, StepReport>,
    err_ended: std::collections::HashMap<StepId, Vec<u8>>,
}

/// Where the data after a stdout frame line belongs.
#[derive(Clone, Copy)]
enum Sink {
    Stdout,
    Before,
    After,
}

/// One stream's frames as they arrive: frame lines whole, data in pieces.
struct FrameReader {
    /// `\nNONCE `: where a frame line starts.
    mark: Vec<u8>,
    capped: CappedFrames,
    /// Kept and not sorted out yet: what may start a mark, or a frame line
    /// whose newline has not come.
    pending: Vec<u8>,
}

impl Default for FrameReader {
    fn default() -> FrameReader {
        FrameReader { mark: Vec::new(), capped: CappedFrames::new(""), pending: Vec::new() }
    }
}

enum Frame {
    /// A frame line's text after the nonce.
    Line(String),
    Data(Vec<u8>),
}

impl FrameReader {
    fn new(nonce: &str) -> FrameReader {
        FrameReader { mark: format!("\n{nonce} ").into_bytes(), capped: CappedFrames::new(nonce), pending: Vec::new() }
    }

    fn feed(&mut self, piece: &[u8]) -> Vec<Frame> {
        self.capped.push(piece);
        self.pending.extend(self.capped.take_kept());
        let mut frames = Vec::new();
        let mut from = 0;
        loop {
            let rest = &self.pending[from..];
            let Some(at) = rest.windows(self.mark.len()).position(|w| w == self.mark.as_slice()) else {
                // The last bytes may start a mark the next piece ends.
                let data = rest.len().saturating_sub(self.mark.len() - 1);
                if data > 0 {
                    frames.push(Frame::Data(rest[..data].to_vec()));
                }
                from += data;
                break;
            };
            if at > 0 {
                frames.push(Frame::Data(rest[..at].to_vec()));
            }
            let start = at + self.mark.len();
            let Some(nl) = rest[start..].iter().position(|&b| b == b'\n') else {
                from += at;
                break;
            };
            frames.push(Frame::Line(String::from_utf8_lossy(&rest[start..start + nl]).into_owned()));
            from += start + nl + 1;
        }
        self.pending.drain(..from);
        frames
    }
}

impl StepStream {
    pub fn new(nonce: &str) -> StepStream {
        let sides = Sides { out: FrameReader::new(nonce), err: FrameReader::new(nonce), ..Default::default() };
        StepStream { state: std::sync::Mutex::new(sides) }
    }

    /// Take the next piece of one stream; the reports it made whole, in
    /// the order their steps ran.
    pub fn feed(&self, stream: crate::transport::Stream, piece: &[u8]) -> Vec<StepReport> {
        let mut sides = self.state.lock().expect("not poisoned: no panics while held");
        let mut whole = Vec::new();
        match stream {
            crate::transport::Stream::Stdout => {
                for frame in sides.out.feed(piece) {
                    whole.extend(sides.stdout_frame(frame));
                }
            }
            crate::transport::Stream::Stderr => {
                for frame in sides.err.feed(piece) {
                    whole.extend(sides.stderr_frame(frame));
                }
            }
        }
        whole
    }
}

impl Sides {
    /// Framing as [`parse`] reads it; what it would call garbled is passed
    /// over here (the script's whole output says so at its end).
    fn stdout_frame(&mut self, frame: Frame) -> Option<StepReport> {
        let line = match frame {
            Frame::Data(data) => {
                if let Some((r, sink)) = self.out_open.as_mut() {
                    match sink {
                        Sink::Stdout => r.stdout.extend_from_slice(&data),
                        Sink::Before => r.before.get_or_insert_with(Vec::new).extend_from_slice(&data),
                        Sink::After => r.after.get_or_insert_with(Vec::new).extend_from_slice(&data),
                    }
                }
                return None;
            }
            Frame::Line(line) => line,
        };
        let (head, rest) = line.split_once(' ').unwrap_or((&line, ""));
        match (head, self.out_open.as_mut()) {
            ("+", _) => {
                self.out_open = StepId::parse(rest).map(|id| (StepReport { id, ..Default::default() }, Sink::Stdout));
            }
            ("s", Some((r, sink))) => {
                r.status.push_line(rest);
                *sink = Sink::Stdout;
            }
            ("b", Some((_, sink))) if rest.is_empty() => *sink = Sink::Before,
            ("a", Some((_, sink))) if rest.is_empty() => *sink = Sink::After,
            ("=", Some(_)) => {
                let (mut r, _) = self.out_open.take()?;
                r.rc = rest.parse().ok()?;
                match self.err_ended.remove(&r.id) {
                    Some(stderr) => return Some(StepReport { stderr, ..r }),
                    None => {
                        self.out_ended.insert(r.id.clone(), r);
                    }
                }
            }
            _ => self.out_open = None,
        }
        None
    }

    /// A step's stderr lies between its `+ ID` and `= RC` frame lines; the
    /// `w` lines of a lock wait come within it ([`LockWaits`]).
    fn stderr_frame(&mut self, frame: Frame) -> Option<StepReport> {
        let line = match frame {
            Frame::Data(data) => {
                if let Some((_, stderr)) = self.err_open.as_mut() {
                    stderr.extend_from_slice(&data);
                }
                return None;
            }
            Frame::Line(line) => line,
        };
        let (head, rest) = line.split_once(' ').unwrap_or((&line, ""));
        match head {
            "+" => self.err_open = StepId::parse(rest).map(|id| (id, Vec::new())),
            "w" => {}
            "=" => {
                let (id, stderr) = self.err_open.take()?;
                match self.out_ended.remove(&id) {
                    Some(r) => return Some(StepReport { stderr, ..r }),
                    None => {
                        self.err_ended.insert(id, stderr);
                    }
                }
            }
            _ => self.err_open = None,
        }
        None
    }
}

/// A host waiting for another run's deploy lock, as `push_lock` says it on
/// the script's stderr while it waits: `\nNONCE w SECONDS_LEFT HOLDER\n`,
/// and `\nNONCE w taken\n` once it got the lock after all.
#[derive(Debug, Clone, PartialEq)]
pub enum LockWait {
    Waiting { left_secs: u64, holder: String },
    Taken,
}

/// The longest `w` line waited for across pieces: the holder in it is at
/// most 200 bytes (`push_lock` reads no more). Any longer line is not one
/// and is skipped, so a step's long stderr line is never held here.
const LONGEST_WAIT_LINE: usize = 1024;

/// Picks the [`LockWait`] lines out of stderr as it arrives in pieces.
pub struct LockWaits {
    mark: String,
    partial: std::sync::Mutex<PartialLine>,
}

/// The start of a line whose end has not arrived yet.
#[derive(Default)]
struct PartialLine {
    /// What came of it so far, while it may still be a `w` line.
    line: Vec<u8>,
    /// It is not one: skipped up to its newline.
    skipping: bool,
}

impl LockWaits {
    pub fn new(nonce: &str) -> LockWaits {
        LockWaits { mark: format!("{nonce} w "), partial: Default::default() }
    }

    /// The waits in the complete lines of `chunk` (with what came before).
    pub fn feed(&self, chunk: &[u8]) -> Vec<LockWait> {
        let mut partial = self.partial.lock().expect("not poisoned: no panics while held");
        let mark = self.mark.as_bytes();
        let mut waits = Vec::new();
        let mut rest = chunk;
        loop {
            let nl = rest.iter().position(|&b| b == b'\n');
            let piece = &rest[..nl.unwrap_or(rest.len())];
            if !partial.skipping {
                let room = LONGEST_WAIT_LINE + 1 - partial.line.len();
                partial.line.extend_from_slice(&piece[..piece.len().min(room)]);
                let n = partial.line.len().min(mark.len());
                if partial.line.len() > LONGEST_WAIT_LINE || partial.line[..n] != mark[..n] {
                    partial.line.clear();
                    partial.skipping = true;
                }
            }
            let Some(nl) = nl else { return waits };
            if !partial.skipping {
                waits.extend(self.wait(&partial.line));
            }
            partial.line.clear();
            partial.skipping = false;
            rest = &rest[nl + 1..];
        }
    }

    /// A whole line, if it is a `w` line.
    fn wait(&self, line: &[u8]) -> Option<LockWait> {
        let line = String::from_utf8_lossy(line);
        let rest = line.trim_end_matches('\r').strip_prefix(self.mark.as_str())?;
        match rest.split_once(' ') {
            None if rest == "taken" => Some(LockWait::Taken),
            None => None,
            Some((left, holder)) => {
                Some(LockWait::Waiting { left_secs: left.parse().ok()?, holder: holder.to_string() })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sh -s` with the script on its stdin, as a host runs it.
    fn sh_s(script: &Script) -> std::process::Output {
        use std::io::Write;
        let mut child = std::process::Command::new("sh")
            .arg("-s")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(script.text.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    fn run_locally(script: &Script) -> Vec<StepReport> {
        let out = sh_s(script);
        parse(&out.stdout, &out.stderr, &script.nonce).unwrap()
    }

    fn s<'a>(id: &str, snippet: &'a str) -> ScriptStep<'a> {
        ScriptStep::plain(StepId::parse(id).expect("an id push sends"), snippet)
    }

    /// A loop's failed item does not stop the loop: the items after it
    /// run, and the script stops after the last one; the next task's
    /// steps do not run.
    #[test]
    fn a_failed_loop_item_lets_the_others_run_then_stops() {
        let steps = [
            ScriptStep { loop_item: LoopItem::More, ..s("0", "echo a") },
            ScriptStep { loop_item: LoopItem::More, ..s("1", "false") },
            ScriptStep { loop_item: LoopItem::Last, ..s("2", "echo c") },
            s("3", "echo next task"),
        ];
        let reports = run_locally(&apply(&steps, &[], &[], None));
        let rcs: Vec<(StepId, i32)> = reports.iter().map(|r| (r.id.clone(), r.rc)).collect();
        assert_eq!(rcs, [(StepId::Step(0), 0), (StepId::Step(1), 1), (StepId::Step(2), 0)]);
        // All went well: on to the next task; a flag from an ignored loop does not leak.
        let ignored = [
            ScriptStep { loop_item: LoopItem::More, ignore_errors: true, ..s("0", "false") },
            ScriptStep { loop_item: LoopItem::Last, ignore_errors: true, ..s("1", "true") },
            ScriptStep { loop_item: LoopItem::More, ..s("2", "true") },
            ScriptStep { loop_item: LoopItem::Last, ..s("3", "true") },
            s("4", "echo next task"),
        ];
        assert_eq!(run_locally(&apply(&ignored, &[], &[], None)).len(), 5);
    }

    /// `loop_control.pause` is a `sleep` on the host before the item, in an
    /// apply only (a probe only looks), in the form `sleep` takes.
    #[test]
    fn a_loop_pause_sleeps_on_the_host_before_its_item() {
        let steps = [s("0", "echo a"), ScriptStep { pause: Some(0.25), ..s("1", "echo b") }];
        let apply = apply(&steps, &[], &[], None);
        assert!(apply.text.contains("sleep 0.25\npush_step_1() {"), "{}", apply.text);
        assert_eq!(apply.text.matches("\nsleep ").count(), 1);
        let reports = run_locally(&apply);
        assert_eq!(
            reports.iter().map(|r| (r.rc, r.stdout.clone())).collect::<Vec<_>>(),
            [(0, b"a\n".to_vec()), (0, b"b\n".to_vec())]
        );
        assert!(!probe(&steps, false).text.contains("\nsleep "));
        assert_eq!((pause_text(2.0), pause_text(0.5), pause_text(1.25)), ("2".into(), "0.5".into(), "1.25".into()));
    }

    /// Where `push_lock` puts its lock without `push_lock_path`, for a login
    /// user who is not root (`id -u` says 1000 here): a folder of theirs,
    /// made 0700, never a shared one.
    #[test]
    fn the_default_lock_of_a_user_who_is_not_root_is_in_a_private_folder() {
        use std::os::unix::fs::PermissionsExt;
        use std::path::{Path, PathBuf};
        let tmp = tempfile::tempdir().unwrap();
        let (runtime, home) = (tmp.path().join("run"), tmp.path().join("home"));
        std::fs::create_dir(&runtime).unwrap();
        let script = format!(
            "id() {{ if [ \"$1\" = -u ]; then echo 1000; else command id \"$@\"; fi; }}\n{}\npush_lock_default",
            include_str!("script_runtime.sh")
        );
        let lock_of = |runtime_dir: Option<&Path>| {
            let mut sh = std::process::Command::new("sh");
            sh.arg("-c").arg(&script).env("HOME", &home).env_remove("XDG_RUNTIME_DIR");
            if let Some(dir) = runtime_dir {
                sh.env("XDG_RUNTIME_DIR", dir);
            }
            let out = sh.output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            PathBuf::from(String::from_utf8(out.stdout).unwrap().trim_end())
        };
        assert_eq!(lock_of(Some(&runtime)), runtime.join("push/push.lock"));
        assert_eq!(lock_of(None), home.join(".cache/push/push.lock"));
        for folder in [runtime.join("push"), home.join(".cache/push")] {
            let mode = std::fs::metadata(&folder).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{}", folder.display());
        }
    }

    /// A run waiting for another's lock says so on stderr while it waits;
    /// those lines are read in whatever pieces they arrive and are not part
    /// of the lock step's own output.
    #[test]
    fn lock_waits_are_said_as_they_happen_and_kept_out_of_the_step_output() {
        let dir = tempfile::tempdir().unwrap();
        let lock_dir = dir.path().join("push.lock");
        std::fs::create_dir(&lock_dir).unwrap();
        std::fs::write(lock_dir.join("holder"), "push run other.yml by someone@elsewhere\n").unwrap();
        std::fs::write(lock_dir.join("pid"), format!("{}\n", std::process::id())).unwrap();
        let lock =
            Lock { path: Some(lock_dir.display().to_string()), holder: "me".into(), wait_secs: 1, break_stale: false };
        let script = apply(&[s("0", "echo applied")], &[], &[], Some(&lock));
        let out = sh_s(&script);

        let waits = LockWaits::new(&script.nonce);
        let said: Vec<LockWait> = out.stderr.chunks(7).flat_map(|piece| waits.feed(piece)).collect();
        assert_eq!(
            said,
            [LockWait::Waiting { left_secs: 1, holder: "push run other.yml by someone@elsewhere".into() }]
        );
        let reports = parse(&out.stdout, &out.stderr, &script.nonce).unwrap();
        assert_eq!(reports.iter().map(|r| (r.id.clone(), r.rc)).collect::<Vec<_>>(), [(StepId::Lock, 75)]);
        assert_eq!(
            String::from_utf8_lossy(&reports[0].stderr),
            format!(
                "host is locked by another run: push run other.yml by someone@elsewhere (waited 1s for {})\n",
                lock_dir.display()
            )
        );
    }

    /// A script cut off on its way (the connection closed mid-transfer)
    /// never runs, and its shell exits without its traps: the watcher it
    /// started goes too, instead of waiting on a shell that is gone.
    #[test]
    fn the_watcher_of_a_script_cut_off_on_its_way_ends() {
        use std::io::Write;
        let script = apply(&[s("0", "echo applied")], &[], &[], None);
        let cut = &script.text[..script.text.find("push_run 0").expect("the step's call")];
        let id = format!("{:016x}", rand::random::<u64>());
        let mark = format!("PUSH_TEST_WATCHED={id}");
        let mut child = std::process::Command::new("sh")
            .arg("-s")
            .env("PUSH_TEST_WATCHED", &id)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(format!("PUSH_SILENCE=3\n{cut}").as_bytes()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert!(!String::from_utf8_lossy(&out.stdout).contains("applied"), "a script cut off ran");
        let marked = || -> Vec<u32> {
            let pids = std::fs::read_dir("/proc")
                .unwrap()
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok());
            pids.filter(|pid| {
                std::fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == mark.as_bytes()))
            })
            .collect()
        };
        assert!(!marked().is_empty(), "no watcher started");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !marked().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert_eq!(marked(), Vec::<u32>::new(), "the watcher outlived its script's shell");
    }

    /// Wait lines are found in pieces of any size, among lines of any
    /// length; a line too long to be one is skipped, not held.
    #[test]
    fn lock_waits_skip_other_lines_without_holding_them() {
        let mut stream = b"\nPUSHx + lock\n".to_vec();
        stream.extend(std::iter::repeat_n(b'e', 3 * LONGEST_WAIT_LINE));
        stream.extend(b"PUSHx w 9 not at the start of a line\n\nPUSHx w 60 push run a.yml by me@here\n");
        stream.extend(b"PUSHx w soon bad\n\nPUSHx w taken\nerr\nPUSHx = 0\n");
        for chunk in [1, 5, 64, stream.len()] {
            let waits = LockWaits::new("PUSHx");
            let said: Vec<LockWait> = stream
                .chunks(chunk)
                .flat_map(|piece| {
                    let said = waits.feed(piece);
                    assert!(waits.partial.lock().unwrap().line.len() <= LONGEST_WAIT_LINE, "chunks of {chunk}");
                    said
                })
                .collect();
            let waiting = LockWait::Waiting { left_secs: 60, holder: "push run a.yml by me@here".into() };
            assert_eq!(said, [waiting, LockWait::Taken], "chunks of {chunk}");
        }
    }

    #[test]
    fn probe_reports_every_step_even_after_failures() {
        let steps =
            [s("0", "echo out; echo err >&2; push_changed because"), s("1", "false"), s("2", "push_skipped exists")];
        let reports = run_locally(&probe(&steps, false));
        assert_eq!(reports.len(), 3);
        assert_eq!(reports[0].stdout, b"out\n");
        assert_eq!(reports[0].stderr, b"err\n");
        assert!(reports[0].changed());
        assert_eq!(reports[0].reason(), Some("because"));
        assert_ne!(reports[1].rc, 0);
        assert!(reports[2].skipped());
    }

    /// The probe's tables are what the helpers read: a file changed after
    /// the prefetch still shows its state from before (so the tables were
    /// used), a path left out of them is looked at directly, and both agree
    /// with stat, readlink and sha256sum. A symlink's attributes are looked
    /// up live (the table holds its target).
    #[test]
    fn probe_helpers_read_the_prefetched_tables() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, l) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("l"));
        std::fs::write(&a, "first\n").unwrap();
        std::fs::write(&b, "other\n").unwrap();
        std::os::unix::fs::symlink(&a, &l).unwrap();
        let (a, b, l) = (a.display().to_string(), b.display().to_string(), l.display().to_string());
        let fetched = push_modules::Prefetch { stat: vec![a.clone(), l.clone()], sha256: vec![a.clone()] };
        let snippet = format!(
            "chmod 600 {a}; echo changed >{a}; ln -sfn {b} {l}\n\
             push_stat {a}; push_sha256 {a}; echo \"${{push_s%% *}} $push_h\"\n\
             push_stat {b}; push_sha256 {b}; echo \"${{push_s%% *}} $push_h\"\n\
             push_readlink {l}; echo \"$push_l\"; push_stat {l}; echo \"${{push_s%% *}}\"\n\
             push_readlink {a} || echo no link; push_readlink {b} || echo no link"
        );
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &str| format!("{:o}", std::fs::metadata(p).unwrap().permissions().mode() & 0o7777);
        let sha = |text: &str| format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(text));
        let before = mode(&a);
        assert_ne!(before, "600");
        let mut step = s("0", &snippet);
        step.prefetch = Some(&fetched);
        let reports = run_locally(&probe(&[step], false));
        let out = String::from_utf8_lossy(&reports[0].stdout).into_owned();
        let b_mode = mode(&b);
        assert_eq!(
            out,
            format!("{before} {}\n{b_mode} {}\n{a}\n{b_mode}\nno link\nno link\n", sha("first\n"), sha("other\n")),
            "{reports:?}"
        );
    }

    #[test]
    fn apply_stops_at_failure_and_runs_notified_handlers() {
        let mut a = s("0", "push_changed x; push_defer 10-reload");
        a.notify = vec!["h0".into()];
        a.defers = vec![("10-reload".into(), "d0".into())];
        let handlers = [
            ("d0".to_string(), s("d0_0", "echo reloaded")),
            ("h0".to_string(), s("h0_0", "echo handled")),
            ("h1".to_string(), s("h1_0", "echo never")),
        ];
        let reports = run_locally(&apply(&[a.clone()], &handlers, &[], None));
        let ids: Vec<String> = reports.iter().map(|r| r.id.to_string()).collect();
        assert_eq!(ids, ["0", "d0_0", "h0_0"]);
        assert_eq!(reports[0].defers().collect::<Vec<_>>(), ["10-reload"]);

        let failing = [a, s("1", "exit 3"), s("2", "echo not reached")];
        let reports = run_locally(&apply(&failing, &handlers, &[], None));
        let ids: Vec<String> = reports.iter().map(|r| r.id.to_string()).collect();
        assert_eq!(ids, ["0", "1"]);
        assert_eq!(reports[1].rc, 3);
    }

    /// A probe streams its report, a diff probe or an apply prints it from
    /// files: the reports must not differ, whatever the steps print.
    #[test]
    fn streamed_and_filed_reports_agree() {
        let steps = [
            s("0", "printf 'no newline'; printf 'err\\n\\n' >&2; push_changed one; printf '\\0bin\\n'; push_defer k"),
            s("1", "push_skipped why; exit 4"),
            s("2", "echo; echo >&2"),
            s("3", "true"),
        ];
        let streamed = run_locally(&probe(&steps, false));
        let filed = run_locally(&probe(&steps, true));
        assert!(!probe(&steps, false).text.contains("mkdir -m 700"), "a probe without diff makes no folder");
        assert_eq!(streamed, filed);
        assert_eq!(streamed[0].stdout, b"no newline\0bin\n");
        assert_eq!(streamed[0].stderr, b"err\n\n");
        assert_eq!(streamed[0].status, StepStatus::from_lines("changed one\ndefer k\n"));
        assert_eq!(streamed[0].defers().collect::<Vec<_>>(), ["k"]);
        assert_eq!((streamed[1].rc, streamed[1].skipped()), (4, true));
        assert_eq!((&streamed[2].stdout[..], &streamed[2].stderr[..]), (&b"\n"[..], &b"\n"[..]));
        assert_eq!(streamed[3], StepReport { id: StepId::Step(3), ..Default::default() });
    }

    #[test]
    fn diff_files_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "old\n").unwrap();
        let snippet = format!("push_diff_before {}; printf new >\"$PUSH_D/after\"", f.display());
        let reports = run_locally(&probe(&[s("0", &snippet), s("1", "true")], true));
        assert_eq!(reports[0].before.as_deref(), Some(&b"old\n"[..]));
        assert_eq!(reports[0].after.as_deref(), Some(&b"new"[..]));
        assert_eq!((reports[1].before.as_ref(), reports[1].after.as_ref()), (None, None));
    }

    #[test]
    fn step_output_cannot_forge_framing() {
        let forged = "echo 'PUSH0 end'; printf '\\n\\n'";
        let reports = run_locally(&probe(&[s("0", forged), s("1", "true")], false));
        assert_eq!(reports.len(), 2);
    }

    #[test]
    fn stdin_of_steps_is_not_the_script() {
        let reports = run_locally(&probe(&[s("0", "cat"), s("1", "echo still here")], false));
        assert_eq!(reports[0].stdout, b"");
        assert_eq!(reports[1].stdout, b"still here\n");
    }

    #[test]
    fn become_runs_the_step_as_that_user_from_a_private_file() {
        if !std::path::Path::new("/usr/bin/sudo").exists() || !is_root() {
            panic!("this test needs root and sudo (apt-get install -y sudo)");
        }
        let nobody = BecomeAs { user: "nobody".into(), ..BecomeAs::root() };
        let mut step = s("0", "id -un; push_changed as me; cat");
        step.become_ = Some(&nobody);
        let reports = run_locally(&apply(&[step], &[], &[], None));
        assert_eq!(
            reports[0].rc,
            0,
            "{}{}",
            String::from_utf8_lossy(&reports[0].stderr),
            String::from_utf8_lossy(&reports[0].stdout)
        );
        assert_eq!(String::from_utf8_lossy(&reports[0].stdout), "nobody\n");
        assert!(reports[0].changed());
        let script = apply(&[ScriptStep { become_: Some(&nobody), ..s("0", "true") }], &[], &[], None);
        assert!(script.text.contains("(umask 077; cat >"), "step files holding secrets are private");
    }

    /// su runs the step as that user in the shell its flags name (nobody's
    /// own is nologin), with the step's status, diff folder and stderr
    /// working as under sudo, and nothing of su's own in the output.
    /// `-l` empties the environment: the step's variables still arrive.
    #[test]
    fn su_runs_the_step_as_that_user_with_its_flags() {
        if !is_root() {
            panic!("this test needs root (su without a password)");
        }
        for flags in [vec!["-s", "/bin/sh"], vec!["-l", "-s", "/bin/sh"]] {
            let nobody = BecomeAs {
                user: "nobody".into(),
                method: crate::become_method::Method::Su,
                flags: flags.iter().map(|f| f.to_string()).collect(),
            };
            let snippet = "id -un; echo to-stderr >&2; push_changed as nobody; echo new >\"$PUSH_D/after\"; cat";
            let reports =
                run_locally(&apply(&[ScriptStep { become_: Some(&nobody), ..s("0", snippet) }], &[], &[], None));
            let r = &reports[0];
            assert_eq!(r.rc, 0, "{flags:?}: {}", String::from_utf8_lossy(&r.stderr));
            assert_eq!(String::from_utf8_lossy(&r.stdout), "nobody\n", "{flags:?}");
            assert_eq!(String::from_utf8_lossy(&r.stderr), "to-stderr\n", "{flags:?}");
            assert!(r.changed(), "{flags:?}: {r:?}");
            assert_eq!(r.after.as_deref(), Some(&b"new\n"[..]), "{flags:?}");
        }
        // Without -s, su runs nobody's nologin shell: the step fails, saying so.
        let nologin = BecomeAs { user: "nobody".into(), method: crate::become_method::Method::Su, flags: Vec::new() };
        let reports = run_locally(&apply(&[ScriptStep { become_: Some(&nologin), ..s("0", "true") }], &[], &[], None));
        assert_ne!(reports[0].rc, 0);
        let said = String::from_utf8_lossy(&reports[0].stdout) + String::from_utf8_lossy(&reports[0].stderr);
        assert!(said.contains("not available"), "{:?}", reports[0]);
    }

    /// A step under a non-root become_user writes its status and diff into
    /// a folder that is that user's alone (and root's): no other local user
    /// reads its output or forges its status lines (it was 0777, the status
    /// file 0666).
    #[test]
    fn become_user_step_folder_is_private_to_that_user() {
        if !std::path::Path::new("/usr/bin/sudo").exists() || !is_root() {
            panic!("this test needs root and sudo (apt-get install -y sudo)");
        }
        let nobody = BecomeAs { user: "nobody".into(), ..BecomeAs::root() };
        let look = "d=${PUSH_S%/*}; stat -c '%a %U' \"${d%/*}\" \"$d\" \"$PUSH_D\" \"$PUSH_S\" \"$d/out\" \"$d/err\"";
        let step = ScriptStep { become_: Some(&nobody), ..s("0", look) };
        let reports = run_locally(&apply(&[step], &[], &[], None));
        let out = String::from_utf8_lossy(&reports[0].stdout).into_owned();
        let lines: Vec<(&str, &str)> = out.lines().filter_map(|l| l.split_once(' ')).collect();
        assert_eq!(lines.len(), 6, "{out}{}", String::from_utf8_lossy(&reports[0].stderr));
        assert_eq!(lines[0], ("711", "root"), "the run's folder: entered, not listed\n{out}");
        assert_eq!(&lines[1..3], [("700", "nobody"), ("700", "nobody")], "the step's folders\n{out}");
        for (mode, _) in &lines[3..] {
            let bits = u32::from_str_radix(mode, 8).unwrap();
            assert_eq!(bits & 0o022, 0, "a step file others may write to\n{out}");
        }
    }

    /// Under a become_user the step's folder is that user's: links it puts
    /// there in place of the step's files are not read through when the
    /// report comes back (a root-only file would reach it).
    #[test]
    fn become_user_cannot_make_the_report_read_through_links() {
        if !std::path::Path::new("/usr/bin/sudo").exists() || !is_root() {
            panic!("this test needs root and sudo (apt-get install -y sudo)");
        }
        let secret = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(secret.path(), "root-only\n").unwrap();
        let p = secret.path().display();
        let snippet = format!(
            "d=${{PUSH_S%/*}}; rm -f \"$d/out\" \"$d/err\"\n\
             for f in \"$d/out\" \"$d/err\" \"$PUSH_D/before\" \"$PUSH_D/after\"; do ln -s {p} \"$f\"; done"
        );
        let nobody = BecomeAs { user: "nobody".into(), ..BecomeAs::root() };
        let reports = run_locally(&apply(&[ScriptStep { become_: Some(&nobody), ..s("0", &snippet) }], &[], &[], None));
        let r = &reports[0];
        assert_eq!(r.rc, 0, "{}", String::from_utf8_lossy(&r.stderr));
        let none = Vec::new();
        let (before, after) = (r.before.as_ref().unwrap_or(&none), r.after.as_ref().unwrap_or(&none));
        for (what, data) in [("stdout", &r.stdout), ("stderr", &r.stderr), ("before", before), ("after", after)] {
            assert!(!String::from_utf8_lossy(data).contains("root-only"), "{what}: {r:?}");
        }
    }

    fn is_root() -> bool {
        std::fs::read_to_string("/proc/self/status")
            .is_ok_and(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
    }

    /// Status lines are read once, as they come: `changed` beats `skipped`
    /// in any order, the first reason given is the reason, defers and
    /// rollouts are kept in order, other lines are ignored.
    #[test]
    fn status_lines_are_parsed_once_into_a_step_status() {
        let status = StepStatus::from_lines(
            "skipped \nskipped exists\ndefer 10-reload\nsomething else\nchanged wrote\nrollout upgraded web a -> b\ndefer 50-restart-web\n",
        );
        assert_eq!(
            status,
            StepStatus {
                outcome: Outcome::Changed,
                reason: Some("exists".into()),
                defers: vec!["10-reload".into(), "50-restart-web".into()],
                rollouts: vec!["upgraded web a -> b".into()],
                done_in_probe: false,
            }
        );
        assert_eq!(StepStatus::from_lines("skipped why\n").outcome, Outcome::Skipped);
        let ok = StepStatus::from_lines("ok Did not run command since '/x' exists\n");
        assert_eq!((ok.outcome, ok.done_in_probe), (Outcome::Ok, true));
        assert_eq!(ok.reason.as_deref(), Some("Did not run command since '/x' exists"));
        assert_eq!(StepStatus::from_lines("").outcome, Outcome::Ok);
    }

    /// Each step's report is put together from the two streams cut in
    /// pieces of any size, whichever stream's pieces come first: the
    /// reports [`parse`] reads from the whole output (bounded alike, for a
    /// step that prints more than is kept), each once, in order, and each
    /// as soon as its frame ended on both streams.
    #[test]
    fn reports_are_put_together_as_the_output_arrives() {
        use crate::transport::Stream;
        let steps = [
            s("0", "printf 'no newline'; printf 'err\\n' >&2; push_changed wrote it; head -c 150000 /dev/zero | tr '\\0' x"),
            s("1", "push_skipped exists; head -c 150000 /dev/zero | tr '\\0' e >&2; exit 3"),
            s("2", "echo"),
        ];
        for diff in [false, true] {
            let script = probe(&steps, diff);
            let out = sh_s(&script);
            let capped = |bytes: &[u8]| {
                let mut c = CappedFrames::new(&script.nonce);
                c.push(bytes);
                c.finish()
            };
            let expected = parse(&capped(&out.stdout), &capped(&out.stderr), &script.nonce).unwrap();
            assert_eq!(expected.len(), 3);
            assert!(String::from_utf8_lossy(&expected[0].stdout).contains("bytes of output cut here"));
            assert!(String::from_utf8_lossy(&expected[1].stderr).contains("bytes of output cut here"));
            for size in [97, 4096, usize::MAX] {
                let pieces =
                    |bytes: &[u8], stream| bytes.chunks(size).map(move |p| (stream, p.to_vec())).collect::<Vec<_>>();
                let (o, e) = (pieces(&out.stdout, Stream::Stdout), pieces(&out.stderr, Stream::Stderr));
                let alternating: Vec<_> =
                    (0..o.len().max(e.len())).flat_map(|i| o.get(i).into_iter().chain(e.get(i)).cloned()).collect();
                let orders = [[o.clone(), e.clone()].concat(), [e.clone(), o.clone()].concat(), alternating];
                for (n, order) in orders.iter().enumerate() {
                    let stream = StepStream::new(&script.nonce);
                    let mut whole = Vec::new();
                    for (i, (which, piece)) in order.iter().enumerate() {
                        let made = stream.feed(*which, piece);
                        // Nothing is whole while one stream has not begun.
                        let other_begun = order[..i].iter().any(|(w, _)| w != which);
                        assert!(made.is_empty() || other_begun, "a report before its other stream came");
                        whole.extend(made);
                    }
                    assert_eq!(whole, expected, "pieces of {size}, order {n}, diff {diff}");
                }
            }
            // With stdout in, the first step is whole the moment the end of
            // its frame on stderr is, before anything else of stderr.
            let stream = StepStream::new(&script.nonce);
            assert_eq!(stream.feed(Stream::Stdout, &out.stdout), []);
            let end = format!("\n{} = 0\n", script.nonce);
            let at = out.stderr.windows(end.len()).position(|w| w == end.as_bytes()).unwrap() + end.len();
            assert_eq!(stream.feed(Stream::Stderr, &out.stderr[..at - 1]), []);
            assert_eq!(stream.feed(Stream::Stderr, &out.stderr[at - 1..at]), expected[..1]);
            assert_eq!(stream.feed(Stream::Stderr, &out.stderr[at..]), expected[1..]);
        }
    }

    /// Ids go to the host and come back as they were; anything else is
    /// not an id.
    #[test]
    fn step_ids_round_trip_and_nothing_else_parses() {
        let ids = [StepId::Step(0), StepId::Step(17), StepId::Final { flag: "d3".into(), index: 0 }, StepId::Lock];
        for id in ids {
            assert_eq!(StepId::parse(&id.to_string()), Some(id.clone()), "{id}");
        }
        for bad in ["", "x", "-1", "d_0", "x1_0", "h1_", "h1_x", "lock_0", "0 1", "h1_0;rm"] {
            assert_eq!(StepId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn truncated_output_is_an_error() {
        assert!(matches!(parse(b"\nPUSHx + 0\nout\n", b"", "PUSHx"), Err(ParseError::Truncated { .. })));
        assert!(matches!(
            parse(b"\nPUSHx + 0\n\nPUSHx = 0\n\nPUSHx end", b"", "PUSHx"),
            Err(ParseError::Truncated { .. })
        ));
    }
}
