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
    /// A failure a block's `rescue` takes over.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub rescued: bool,
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
            rescued: false,
            stdout: None,
            stderr: None,
            rc: None,
            cmd: None,
        }
    }
}

/// What a rollout did to one container on a host, as its step said it
/// (`push_rollout ACTION NAME FROM -> TO`), read once. In JSON:
/// `{"action": "upgraded", "container": "web", "from": "sha256:..", "to": "sha256:.."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolloutEvent {
    #[serde(rename = "action")]
    pub outcome: RolloutOutcome,
    pub container: String,
    /// Empty when nothing ran before.
    pub from: String,
    pub to: String,
}

/// A host's rollout outcomes, from the best to the worst; a container's
/// is one of the three that are not `Untouched`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutOutcome {
    Untouched,
    Upgraded,
    RolledBack,
    Reverted,
}

impl RolloutOutcome {
    /// In order, as the recap lists them.
    pub const RECAP_ORDER: [RolloutOutcome; 4] =
        [RolloutOutcome::Upgraded, RolloutOutcome::RolledBack, RolloutOutcome::Reverted, RolloutOutcome::Untouched];

    /// The recap's word.
    pub fn word(self) -> &'static str {
        match self {
            RolloutOutcome::Untouched => "untouched",
            RolloutOutcome::Upgraded => "upgraded",
            RolloutOutcome::RolledBack => "rolled back",
            RolloutOutcome::Reverted => "reverted",
        }
    }

    /// The JSON key (and a rollout entry's `action`).
    pub fn key(self) -> &'static str {
        match self {
            RolloutOutcome::RolledBack => "rolled_back",
            other => other.word(),
        }
    }

    /// The word the host says (`push_rollout` in prelude.sh).
    fn host_word(self) -> &'static str {
        match self {
            RolloutOutcome::RolledBack => "rolled-back",
            other => other.word(),
        }
    }
}

impl RolloutEvent {
    /// Parse a host's `rollout ACTION NAME FROM -> TO` line (after
    /// `rollout `); FROM may be empty (nothing ran before). None for an
    /// action push does not know or a line that is not of this shape.
    pub fn parse(line: &str) -> Option<RolloutEvent> {
        let (left, to) = line.split_once(" -> ")?;
        let mut words = left.split(' ');
        let outcome = match words.next()? {
            "upgraded" => RolloutOutcome::Upgraded,
            "rolled-back" => RolloutOutcome::RolledBack,
            "reverted" => RolloutOutcome::Reverted,
            _ => return None,
        };
        let container = words.next().filter(|c| !c.is_empty())?.to_string();
        let from = words.next().unwrap_or_default().to_string();
        let to = to.trim();
        let well_formed = words.next().is_none() && !to.is_empty() && !to.contains(char::is_whitespace);
        well_formed.then(|| RolloutEvent { outcome, container, from, to: to.to_string() })
    }
}

impl fmt::Display for RolloutEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {} -> {}", self.outcome.host_word(), self.container, self.from, self.to)
    }
}

/// A step that ended on a host, said the moment the host said it, while
/// the rest of its script still runs: for showing work as it happens. The
/// task's result ([`Reporter::task`]) follows once all of its steps are in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepEnded {
    pub host: String,
    pub task: String,
    /// The loop item's label, for a step of a loop (its place in the loop
    /// under `no_log`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    pub status: Status,
    /// A probe's step: a look (in check mode, what would change), not the
    /// change itself.
    pub probe: bool,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct HostStats {
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failed: u32,
    pub skipped: u32,
    /// Failures a block's `rescue` took over.
    pub rescued: u32,
    pub ignored: u32,
    /// Remote commands started on the host: one per session.
    pub remote_execs: u32,
    /// Session shells started on the host (one for the whole run, unless
    /// one went away).
    pub sessions: u32,
    /// Scripts sent over the host's sessions (a probe, an apply), each one
    /// round trip.
    pub round_trips: u32,
    /// What rollouts did to containers here, e.g. `upgraded web A -> B`,
    /// `reverted web B -> A`, `rolled-back web B -> A`.
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
            Status::Failed if r.rescued => self.rescued += 1,
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
    /// A host's outcome in a rollout: the worst thing that happened to
    /// one of its containers.
    pub fn rollout_outcome(&self) -> RolloutOutcome {
        self.rollout.iter().map(|e| e.outcome).max().unwrap_or(RolloutOutcome::Untouched)
    }
}

impl Recap {
    /// Did any container change image in this run?
    pub fn any_rollout(&self) -> bool {
        self.hosts.values().any(|h| !h.rollout.is_empty())
    }

    /// The hosts by rollout outcome, in the recap's order (upgraded, rolled
    /// back, reverted, untouched), outcomes without hosts left out.
    pub fn rollout_groups(&self) -> Vec<(RolloutOutcome, Vec<&str>)> {
        RolloutOutcome::RECAP_ORDER
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
    /// A step ended on the host, as the host said it (see [`StepEnded`]).
    StepEnded(&'a StepEnded),
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
    fn step_ended(&self, step: &StepEnded) {
        self.event(Event::StepEnded(step))
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
        use RolloutOutcome as O;
        let host = |events: &[&str]| HostStats {
            rollout: events.iter().map(|e| RolloutEvent::parse(e).expect("a rollout line")).collect(),
            ..Default::default()
        };
        assert_eq!(host(&[]).rollout_outcome(), O::Untouched);
        assert_eq!(host(&["upgraded web a -> b"]).rollout_outcome(), O::Upgraded);
        assert_eq!(host(&["upgraded web a -> b", "rolled-back db b -> a"]).rollout_outcome(), O::RolledBack);
        assert_eq!(host(&["upgraded web a -> b", "reverted db b -> a"]).rollout_outcome(), O::Reverted);
        assert_eq!(host(&["rolled-back db b -> a"]).rollout[0].to_string(), "rolled-back db b -> a");
        assert_eq!(RolloutEvent::parse("exploded web"), None);
        let recap = Recap { hosts: [("h1".to_string(), host(&[]))].into(), pinned: vec![] };
        assert!(!recap.any_rollout());
        let hosts = [("a", host(&[])), ("b", host(&["reverted w x -> y"])), ("c", host(&["upgraded w y -> z"]))];
        let recap = Recap { hosts: hosts.into_iter().map(|(h, s)| (h.to_string(), s)).collect(), pinned: vec![] };
        assert_eq!(
            recap.rollout_groups(),
            [(O::Upgraded, vec!["c"]), (O::Reverted, vec!["b"]), (O::Untouched, vec!["a"])]
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
