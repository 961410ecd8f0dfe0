//! Events from the run path and the reporters that show them: plain lines,
//! progress bars on a terminal, or JSON lines. One [`Printer`] picks.

mod json;
mod terminal;
mod text;

use std::collections::BTreeMap;

use serde::Serialize;

pub use json::JsonReporter;
pub use terminal::escape_controls;
pub use text::TextReporter;

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

/// What a rollout did to one container, as its step said it
/// (`push_rollout KIND NAME FROM -> TO`): the kind, read once, and the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutEvent {
    pub outcome: RolloutOutcome,
    /// `web A -> B`.
    pub what: String,
}

/// A host's rollout outcomes, from the best to the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

    /// The JSON recap's key.
    pub fn key(self) -> &'static str {
        match self {
            RolloutOutcome::RolledBack => "rolled_back",
            other => other.word(),
        }
    }
}

impl RolloutEvent {
    /// A step's `rollout` status line (without `rollout `); None for a
    /// kind push does not know.
    pub fn parse(line: &str) -> Option<RolloutEvent> {
        let (kind, what) = line.split_once(' ').unwrap_or((line, ""));
        let outcome = match kind {
            "upgraded" => RolloutOutcome::Upgraded,
            "rolled-back" => RolloutOutcome::RolledBack,
            "reverted" => RolloutOutcome::Reverted,
            _ => return None,
        };
        Some(RolloutEvent { outcome, what: what.to_string() })
    }
}

impl std::fmt::Display for RolloutEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.outcome {
            RolloutOutcome::RolledBack => "rolled-back",
            other => other.word(),
        };
        write!(f, "{kind} {}", self.what)
    }
}

impl Serialize for RolloutEvent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
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

/// Where run events go. Implementations must be cheap: they are called
/// from every host's task.
pub trait Reporter: Send + Sync {
    fn play_start(&self, play: &str, hosts: &[String], check: bool);
    /// A `serial` batch starts (1-based index).
    fn batch_start(&self, index: usize, total: usize, hosts: &[String]);
    fn host_start(&self, host: &str);
    /// What a host is doing now (`probing`, `applying; restarts wait for
    /// web to come up`): one exec can take a while.
    fn host_phase(&self, host: &str, phase: &str);
    /// Something a host waits for, said once where a phase would go unseen
    /// (text without a terminal); JSON has it in the phase events.
    fn host_note(&self, _host: &str, _note: &str) {}
    /// A step ended on a host (see [`StepEnded`]).
    fn step_ended(&self, _step: &StepEnded) {}
    fn task(&self, result: &TaskResult);
    fn host_done(&self, host: &str);
    fn warn(&self, message: &str);
    fn recap(&self, recap: &Recap);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_counts_by_the_worst_that_happened_to_its_containers() {
        use RolloutOutcome as O;
        let host = |events: &[&str]| HostStats {
            rollout: events.iter().map(|e| RolloutEvent::parse(e).expect("a known kind")).collect(),
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
}
