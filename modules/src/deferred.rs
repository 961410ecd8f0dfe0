//! Deferred actions: work a module's op brings along for the end of the
//! play, like an implicit handler (one `daemon-reload` for any number of
//! changed units, then each restart).
//!
//! Their keys are a protocol: snippets ask for an action with
//! `push_defer KEY`, the engine runs the asked ones sorted by key, and the
//! key's order prefix sets that order. [`DeferredKind`] is the one place
//! that spells them; templates get them (or, in a shell loop, their
//! [`UNIT_SWITCH_PREFIX`] and [`OUTCOME_SUFFIX`]) from their context.

/// What a deferred action does. Its key and its label follow from it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DeferredKind {
    /// `systemctl daemon-reload`, once per host for any number of changed
    /// units (`docker_unit`).
    DaemonReload,
    /// Docker's engine restarted for a new daemon.json (`docker_host`);
    /// its container units restart with it and are waited for.
    EngineRestart,
    /// A unit's switch to its new deployment (`docker_unit`): started on
    /// the host as a unit of its own and waited for (see
    /// `templates/docker_unit_restart.sh`).
    UnitSwitch { unit: String },
    /// What that switch did, reported right after it: the unit restarted
    /// and healthy, or put back (see `templates/docker_unit_outcome.sh`).
    UnitSwitchOutcome { unit: String },
    /// The unit that stands for the instances of a `count` task, started.
    GroupStart { unit: String },
}

/// The key of a [`DeferredKind::UnitSwitch`] is this and the unit's name;
/// its [`DeferredKind::UnitSwitchOutcome`] adds [`OUTCOME_SUFFIX`].
pub const UNIT_SWITCH_PREFIX: &str = "50-restart-";
/// See [`UNIT_SWITCH_PREFIX`].
pub const OUTCOME_SUFFIX: &str = "/outcome";

impl DeferredKind {
    /// The key snippets ask for the action with (`push_defer KEY`); keys
    /// sort in the order the actions run.
    pub fn key(&self) -> String {
        match self {
            DeferredKind::DaemonReload => "10-daemon-reload".into(),
            DeferredKind::EngineRestart => "20-restart-docker".into(),
            DeferredKind::UnitSwitch { unit } => format!("{UNIT_SWITCH_PREFIX}{unit}"),
            DeferredKind::UnitSwitchOutcome { unit } => format!("{UNIT_SWITCH_PREFIX}{unit}{OUTCOME_SUFFIX}"),
            DeferredKind::GroupStart { unit } => format!("60-start-{unit}"),
        }
    }

    /// What the report calls the action.
    pub fn label(&self) -> String {
        match self {
            DeferredKind::DaemonReload => "systemd daemon-reload".into(),
            // Not "daemon.json changed": the restart is also due when the
            // file is as wanted but the engine started before it was written.
            DeferredKind::EngineRestart => "restart docker".into(),
            DeferredKind::UnitSwitch { unit } => format!("switch {unit}"),
            DeferredKind::UnitSwitchOutcome { unit } => format!("restart {unit}"),
            DeferredKind::GroupStart { unit } => format!("start {unit}"),
        }
    }

    /// The service an apply that runs this action waits for to come up
    /// (restarted, health-checked), as a user would name it.
    pub fn awaited_service(&self) -> Option<&str> {
        match self {
            DeferredKind::EngineRestart => Some("docker"),
            DeferredKind::UnitSwitchOutcome { unit } => Some(unit),
            DeferredKind::DaemonReload | DeferredKind::UnitSwitch { .. } | DeferredKind::GroupStart { .. } => None,
        }
    }
}

/// A deferred action: like an implicit handler that a module brings along.
/// Actions run sorted by `key`, each at most once per host and play.
/// Made with [`Deferred::new`]: `key` and `label` are `kind`'s, kept as
/// fields for the engine's reports and ordering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferred {
    pub kind: DeferredKind,
    /// [`DeferredKind::key`].
    pub key: String,
    /// [`DeferredKind::label`], e.g. "restart mail".
    pub label: String,
    /// The snippet, under the same contract as an apply snippet.
    pub snippet: String,
}

impl Deferred {
    pub fn new(kind: DeferredKind, snippet: String) -> Deferred {
        Deferred { key: kind.key(), label: kind.label(), kind, snippet }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys are what snippets on hosts ask for and their order is the
    /// order of the actions: spelled out here once, as a contract.
    #[test]
    fn keys_sort_in_the_order_the_actions_run() {
        let unit = |u: &str| u.to_string();
        let kinds = [
            DeferredKind::DaemonReload,
            DeferredKind::EngineRestart,
            DeferredKind::UnitSwitch { unit: unit("web-1") },
            DeferredKind::UnitSwitchOutcome { unit: unit("web-1") },
            DeferredKind::UnitSwitch { unit: unit("web-2") },
            DeferredKind::UnitSwitchOutcome { unit: unit("web-2") },
            DeferredKind::GroupStart { unit: unit("web") },
        ];
        let keys: Vec<String> = kinds.iter().map(DeferredKind::key).collect();
        assert_eq!(
            keys,
            [
                "10-daemon-reload",
                "20-restart-docker",
                "50-restart-web-1",
                "50-restart-web-1/outcome",
                "50-restart-web-2",
                "50-restart-web-2/outcome",
                "60-start-web"
            ]
        );
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(sorted, keys);
        let awaited: Vec<&str> = kinds.iter().filter_map(DeferredKind::awaited_service).collect();
        assert_eq!(awaited, ["docker", "web-1", "web-2"]);
    }
}
