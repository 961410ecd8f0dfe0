//! Events from the run path and the one [`Printer`] that shows them: text
//! lines (with progress bars on a terminal) or JSON lines.
//!
//! The run path speaks in [`Event`]s through the [`Reporter`] trait: one
//! per play, batch, host phase and finished task, in whatever order the
//! hosts produce them. A task's event is sent the moment its result is
//! known on the controller; the printer keeps no order of its own, so the
//! sooner the run path learns of a step's end, the sooner its line shows.

mod json;
mod printer;
mod terminal;
mod text;

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

pub use printer::{Format, Printer};
pub use terminal::{escape_controls, Terminal};
pub use text::seconds;

/// Ordered from least to most telling: a task's items (or a handler's
/// steps) report the greatest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Skipped,
    Ok,
    Changed,
    Failed,
    Unreachable,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Changed => "changed",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
            Status::Unreachable => "unreachable",
        }
    }
}

/// One task's outcome on one host.
#[derive(Debug, Clone, Serialize)]
pub struct TaskResult {
    pub play: String,
    pub host: String,
    pub task: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// A failure the task asked to ignore (`ignore_errors`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ignored: bool,
    /// What the task's steps printed and their exit code (the worst of a
    /// loop's items); None under `no_log`, for a value from a vault, and
    /// for results no step gave (a skip decided on the controller, a lost
    /// connection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rc: Option<i32>,
    /// The shell the step ran on the host, for `-vv` (never under `no_log`).
    #[serde(skip)]
    pub cmd: Option<String>,
}

impl TaskResult {
    /// A result with no output: for a controller-side skip or a host's
    /// connection trouble.
    pub fn new(play: &str, host: &str, task: impl Into<String>, status: Status, msg: Option<String>) -> TaskResult {
        TaskResult {
            play: play.to_string(),
            host: host.to_string(),
            task: task.into(),
            status,
            msg,
            diff: None,
            ignored: false,
            stdout: None,
            stderr: None,
            rc: None,
            cmd: None,
        }
    }
}

/// What a rollout did to one container on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum RolloutAction {
    Upgraded,
    RolledBack,
    Reverted,
}

impl RolloutAction {
    /// The word the host says (`push_rollout` in prelude.sh).
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutAction::Upgraded => "upgraded",
            RolloutAction::RolledBack => "rolled-back",
            RolloutAction::Reverted => "reverted",
        }
    }
}

/// One container's switch: `upgraded web A -> B` as the host reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolloutEvent {
    pub action: RolloutAction,
    pub container: String,
    pub from: String,
    pub to: String,
}

impl RolloutEvent {
    /// Parse a host's `rollout ACTION NAME FROM -> TO` line (after
    /// `rollout `); FROM may be empty (nothing ran before).
    pub fn parse(line: &str) -> Option<RolloutEvent> {
        let (left, to) = line.split_once(" -> ")?;
        let mut words = left.split(' ');
        let action = match words.next()? {
            "upgraded" => RolloutAction::Upgraded,
            "rolled-back" => RolloutAction::RolledBack,
            "reverted" => RolloutAction::Reverted,
            _ => return None,
        };
        let container = words.next().filter(|c| !c.is_empty())?.to_string();
        let from = words.next().unwrap_or_default().to_string();
        let to = to.trim();
        let well_formed = words.next().is_none() && !to.is_empty() && !to.contains(char::is_whitespace);
        well_formed.then(|| RolloutEvent { action, container, from, to: to.to_string() })
    }
}

impl fmt::Display for RolloutEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {} -> {}", self.action.as_str(), self.container, self.from, self.to)
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct HostStats {
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failed: u32,
    pub skipped: u32,
    pub ignored: u32,
    /// Scripts run on the host over its connection (probe, apply).
    pub remote_execs: u32,
    /// What rollouts did to containers here (`upgraded web A -> B`,
    /// `reverted web B -> A`, `rolled-back web B -> A`), as data.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rollout: Vec<RolloutEvent>,
}

impl HostStats {
    pub fn count(&mut self, r: &TaskResult) {
        match r.status {
            // Ansible counts a changed task in `ok` too.
            Status::Ok => self.ok += 1,
            Status::Changed => {
                self.ok += 1;
                self.changed += 1
            }
            Status::Skipped => self.skipped += 1,
            Status::Failed if r.ignored => self.ignored += 1,
            Status::Failed => self.failed += 1,
            Status::Unreachable => self.unreachable += 1,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Recap {
    pub hosts: BTreeMap<String, HostStats>,
    /// Image tags pinned for this run: (reference, digest).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pinned: Vec<(String, String)>,
}

impl HostStats {
    /// The recap's word for a host in a rollout: the worst thing that
    /// happened to one of its containers.
    pub fn rollout_outcome(&self) -> &'static str {
        match self.rollout.iter().map(|e| e.action).max() {
            Some(RolloutAction::Reverted) => "reverted",
            Some(RolloutAction::RolledBack) => "rolled back",
            Some(RolloutAction::Upgraded) => "upgraded",
            None => "untouched",
        }
    }
}

impl Recap {
    /// Did any container change image in this run?
    pub fn any_rollout(&self) -> bool {
        self.hosts.values().any(|h| !h.rollout.is_empty())
    }

    /// The hosts by rollout outcome, in the recap's order (upgraded, rolled
    /// back, reverted, untouched), outcomes without hosts left out.
    pub fn rollout_groups(&self) -> Vec<(&'static str, Vec<&str>)> {
        ["upgraded", "rolled back", "reverted", "untouched"]
            .into_iter()
            .map(|outcome| {
                let hosts = self.hosts.iter().filter(|(_, s)| s.rollout_outcome() == outcome).map(|(h, _)| h.as_str());
                (outcome, hosts.collect::<Vec<_>>())
            })
            .filter(|(_, hosts)| !hosts.is_empty())
            .collect()
    }

    pub fn any_failed(&self) -> bool {
        self.hosts.values().any(|h| h.failed > 0)
    }
    pub fn any_unreachable(&self) -> bool {
        self.hosts.values().any(|h| h.unreachable > 0)
    }
}

/// One thing that happened in a run, as the run path tells it. Hosts run at
/// once, so events of different hosts interleave in any order; a host's own
/// events come in its order.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    Play {
        play: &'a str,
        hosts: &'a [String],
        check: bool,
    },
    /// A `serial` batch starts (1-based index).
    Batch {
        index: usize,
        total: usize,
        hosts: &'a [String],
    },
    HostStart {
        host: &'a str,
    },
    /// What a host is doing now (`probing`, `applying; restarts wait for
    /// web to come up`): one exec can take a while.
    HostPhase {
        host: &'a str,
        phase: &'a str,
    },
    /// Something a host waits for, said once where a phase would go unseen
    /// (text without a terminal); JSON has it in the phase events.
    HostNote {
        host: &'a str,
        note: &'a str,
    },
    /// A step of `task` started on the host: its spinner names it and
    /// counts its time.
    StepStart {
        host: &'a str,
        task: &'a str,
    },
    /// A task ended on the host.
    Task(&'a TaskResult),
    HostDone {
        host: &'a str,
    },
    Warning(&'a str),
    Recap(&'a Recap),
}

/// Where run events go: the [`Printer`], or a test's collector. Called from
/// every host's task, so implementations must be cheap.
pub trait Reporter: Send + Sync {
    fn event(&self, event: Event<'_>);

    fn play_start(&self, play: &str, hosts: &[String], check: bool) {
        self.event(Event::Play { play, hosts, check })
    }
    fn batch_start(&self, index: usize, total: usize, hosts: &[String]) {
        self.event(Event::Batch { index, total, hosts })
    }
    fn host_start(&self, host: &str) {
        self.event(Event::HostStart { host })
    }
    fn host_phase(&self, host: &str, phase: &str) {
        self.event(Event::HostPhase { host, phase })
    }
    fn host_note(&self, host: &str, note: &str) {
        self.event(Event::HostNote { host, note })
    }
    fn step_start(&self, host: &str, task: &str) {
        self.event(Event::StepStart { host, task })
    }
    fn task(&self, result: &TaskResult) {
        self.event(Event::Task(result))
    }
    fn host_done(&self, host: &str) {
        self.event(Event::HostDone { host })
    }
    fn warn(&self, message: &str) {
        self.event(Event::Warning(message))
    }
    fn recap(&self, recap: &Recap) {
        self.event(Event::Recap(recap))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_counts_by_the_worst_that_happened_to_its_containers() {
        let host = |events: &[&str]| HostStats {
            rollout: events.iter().map(|e| RolloutEvent::parse(e).expect("a rollout line")).collect(),
            ..Default::default()
        };
        assert_eq!(host(&[]).rollout_outcome(), "untouched");
        assert_eq!(host(&["upgraded web a -> b"]).rollout_outcome(), "upgraded");
        assert_eq!(host(&["upgraded web a -> b", "rolled-back db b -> a"]).rollout_outcome(), "rolled back");
        assert_eq!(host(&["upgraded web a -> b", "reverted db b -> a"]).rollout_outcome(), "reverted");
        let recap = Recap { hosts: [("h1".to_string(), host(&[]))].into(), pinned: vec![] };
        assert!(!recap.any_rollout());
        let hosts = [("a", host(&[])), ("b", host(&["reverted w x -> y"])), ("c", host(&["upgraded w y -> z"]))];
        let recap = Recap { hosts: hosts.into_iter().map(|(h, s)| (h.to_string(), s)).collect(), pinned: vec![] };
        assert_eq!(
            recap.rollout_groups(),
            [("upgraded", vec!["c"]), ("reverted", vec!["b"]), ("untouched", vec!["a"])]
        );
    }

    #[test]
    fn rollout_lines_parse_and_print_back() {
        for line in
            ["upgraded web a -> b", "rolled-back db sha256:1 -> sha256:0", "reverted w x -> y", "upgraded w  -> b"]
        {
            assert_eq!(RolloutEvent::parse(line).expect(line).to_string(), line);
        }
        for bad in ["", "upgraded", "upgraded web a b", "moved web a -> b", "upgraded web a -> b c"] {
            assert_eq!(RolloutEvent::parse(bad), None, "{bad}");
        }
    }
}
