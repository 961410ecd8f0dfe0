//! What runs once at the end of a play on a host, if raised: modules'
//! deferred actions (daemon reloads, restarts and their health gates), then
//! handlers.

use std::collections::BTreeSet;

use super::session::HostRun;
use crate::plan::{self, Planned, Step};
use crate::playbook::Task;
use crate::script::StepReport;
use crate::template::Scope;

/// Something that runs once after all tasks of a play on a host, if raised:
/// modules' deferred actions (sorted by key) first, then handlers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Final {
    Deferred(String),
    Handler(usize),
}

/// The final actions known on a host so far, and which are raised.
#[derive(Default)]
pub(super) struct Finals {
    /// Each action, with the `become` of the first task that brought it
    /// (a daemon-reload needs the privileges the unit's writer had).
    pub(super) catalog:
        std::collections::BTreeMap<String, (push_modules::Deferred, Option<crate::become_method::BecomeAs>)>,
    pub(super) raised: BTreeSet<Final>,
}

impl Finals {
    /// A shell-safe flag name for the script.
    pub(super) fn flag(&self, f: &Final) -> String {
        match f {
            Final::Deferred(key) => format!("d{}", self.catalog.keys().position(|k| k == key).unwrap_or(usize::MAX)),
            Final::Handler(h) => format!("h{h}"),
        }
    }
}

impl HostRun<'_> {
    /// Handler indices a task's `notify` names (none in a rollback: the
    /// handlers were written for the change, not for undoing it).
    pub(super) fn notify_targets(&self, task: &Task) -> Vec<usize> {
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

    /// What a step's report raises: its handlers when it changed (unless
    /// `changed_when` decides that, on the controller), and the deferred
    /// actions it asked for.
    pub(super) fn raised_by(&self, step: &Step, report: &StepReport) -> Vec<Final> {
        let mut raised: Vec<Final> = report.defers().map(|k| Final::Deferred(k.to_string())).collect();
        if report.changed() && self.play.tasks[step.task].changed_when.is_none() {
            raised.extend(self.notify_targets(&self.play.tasks[step.task]).into_iter().map(Final::Handler));
        }
        raised
    }

    /// The steps of the final actions that may run at the end of the play.
    pub(super) fn final_steps(&self, scope: &Scope, finals: &Finals) -> Vec<(Final, String, Vec<Step>)> {
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
                    label: None,
                    loop_vars: Default::default(),
                    pause: None,
                    op,
                    become_: become_.clone(),
                    secret: false,
                    no_log: false,
                    ignore_errors: false,
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
                // No handler is a controller action (the loader refuses them).
                Ok(
                    Planned::Skipped { .. } | Planned::Done { .. } | Planned::Included { .. } | Planned::Silent { .. },
                ) => {}
                // Planned lazily, so a broken handler surfaces when it runs.
                Err(d) => out.push((Final::Handler(h), format!("{label}: {}", d.message), Vec::new())),
            }
        }
        out
    }
}

/// The deferred actions an apply is known to run before it starts: those
/// raised already, and those the probe of a step it applies asked for
/// (`push_defer`). A step's probe asks for them only when the change that
/// needs them is due, so a final step that is merely possible is not here.
pub(super) fn announced_defers<'r>(
    raised: &BTreeSet<Final>,
    probed: impl Iterator<Item = &'r StepReport>,
) -> BTreeSet<String> {
    let before = raised.iter().filter_map(|f| match f {
        Final::Deferred(key) => Some(key.clone()),
        Final::Handler(_) => None,
    });
    before.chain(probed.flat_map(|r| r.defers().map(str::to_string).collect::<Vec<_>>())).collect()
}

/// What a host does during its apply: the restarts among its final steps
/// that are announced (`announced_defers`), by the services they wait for.
pub(super) fn apply_phase(
    final_plan: &[(Final, String, Vec<Step>)],
    announced: &BTreeSet<String>,
    finals: &Finals,
) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A final step of a deferred action, and the action in the catalog.
    pub(super) fn deferred(kind: push_modules::DeferredKind, finals: &mut Finals) -> (Final, String, Vec<Step>) {
        let action = push_modules::Deferred::new(kind, String::new());
        let fin = (Final::Deferred(action.key.clone()), action.label.clone(), Vec::new());
        finals.catalog.insert(action.key.clone(), (action, None));
        fin
    }

    pub(super) fn probed(status: &str) -> StepReport {
        StepReport { status: crate::script::StepStatus::from_lines(status), ..Default::default() }
    }

    /// A play with docker_host and a docker_unit has both restarts among its
    /// final steps; an apply that only upgrades web waits for web alone.
    #[test]
    pub(super) fn the_apply_phase_names_only_the_restarts_the_probe_announced() {
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
