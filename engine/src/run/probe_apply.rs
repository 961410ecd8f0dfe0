//! One segment of a host's plan: a probe (every step's look, one chunk),
//! the decision of what differs, an apply (one chunk, from the first step
//! that differs, with the play's final actions in its last segment); each
//! task's result is reported the moment it is final, in the order of the
//! tasks (reporting.rs).

use std::collections::HashMap;
use std::sync::Mutex;

use minijinja::value::{Serde, Value as JinjaValue};
use serde_json::json;

use super::finals::{announced_defers, apply_phase, Final, Finals};
use super::judge::judge;
use super::reporting::{InOrder, Units};
use super::results::{
    diff_text, item_message, item_shown, loop_value, register_value, skipped_value, step_message, step_status,
    TaskOutput,
};
use super::session::{HostRun, OnHost};
use crate::flow::Failure;
use crate::plan::{Planned, Segment, Step};
use crate::report::{RolloutEvent, Status, TaskResult};
use crate::script::{self, LoopItem, ScriptStep, StepId, StepReport};
use crate::template::Scope;

/// How a segment ended on a host that is still there.
pub(super) enum SegmentEnd {
    /// Its tasks ran; what they registered.
    Done { registered: Vec<(String, JinjaValue)> },
    /// Its last task's `until` does not hold yet: that task runs again.
    Retry { registered: Vec<(String, JinjaValue)> },
    /// A task failed: what was registered up to it (its own result too),
    /// and the failure, for the blocks around it.
    Failed { registered: Vec<(String, JinjaValue)>, failure: Failure },
}

/// One step of a segment, flattened out of its task.
pub(super) struct Flat<'a> {
    pub(super) entry: usize,
    pub(super) step: &'a Step,
}

/// A script's steps as the host's spinner names them (see
/// [`HostRun::step_names`]).
pub(super) struct StepNames {
    /// A probe's steps: looks, not changes.
    pub(super) probe: bool,
    /// The task whose step comes after each step.
    pub(super) next: HashMap<StepId, String>,
    /// Each step's task and loop item.
    pub(super) labels: HashMap<StepId, (String, Option<String>)>,
}

/// A segment's step reports: from the apply for the steps from
/// `applied_from` on, from the probe for those before.
pub(super) struct SegmentReports<'r> {
    pub(super) probe: &'r HashMap<StepId, StepReport>,
    pub(super) apply: &'r HashMap<StepId, StepReport>,
    pub(super) applied_from: usize,
}

/// A task's (or final action's) result on a host, and what goes with
/// reporting it.
pub(super) struct TaskDone {
    pub(super) result: TaskResult,
    /// The name and value its `register:` stores.
    pub(super) registered: Option<(String, JinjaValue)>,
    /// What its steps' rollouts did on the host.
    pub(super) rollout: Vec<RolloutEvent>,
    /// Whether the segment goes on after it.
    pub(super) stop: Stop,
    /// Handlers its `changed_when` raised (decided here, not on the host).
    pub(super) raises: Vec<Final>,
}

/// Whether a segment goes on after a result.
pub(super) enum Stop {
    No,
    /// A task failed (not ignored): its failure goes to the blocks around it.
    Failed(Failure),
    /// A task's `until` does not hold yet: it is not reported, it runs again.
    Retry,
    /// A final action failed: the host stops.
    Host,
}

impl HostRun<'_> {
    pub(super) fn script_step<'b>(&self, i: usize, f: &Flat<'b>, probe: bool, finals: &Finals) -> ScriptStep<'b> {
        let task = &self.play.tasks[f.step.task];
        ScriptStep {
            id: StepId::Step(i),
            snippet: if probe { &f.step.op.probe } else { &f.step.op.apply },
            become_: f.step.become_.as_ref(),
            // Under `changed_when`, the controller says what changed and raises.
            notify: match task.changed_when {
                None => self.notify_targets(task).into_iter().map(|h| finals.flag(&Final::Handler(h))).collect(),
                Some(_) => Vec::new(),
            },
            defers: f
                .step
                .op
                .deferred
                .iter()
                .map(|d| (d.key.clone(), finals.flag(&Final::Deferred(d.key.clone()))))
                .collect(),
            // Under `failed_when`, the controller says what failed: the
            // script goes on (the task ends its segment anyway).
            ignore_errors: f.step.ignore_errors || task.failed_when.is_some(),
            prefetch: probe.then_some(&f.step.op.prefetch),
            attachment: if probe { None } else { f.step.op.attachment.as_ref() },
            pause: None,
            loop_item: LoopItem::Alone,
        }
    }

    /// Probe, decide, apply one segment. `last`: the final actions raised
    /// so far run at its end. `attempt`: of the judged task at its end, if
    /// that is retried (from 1). None if the host is lost or failed beyond
    /// what a block can rescue.
    pub(super) async fn segment(
        &self,
        on: &OnHost<'_>,
        scope: &Scope,
        segment: &Segment,
        finals: &mut Finals,
        last: bool,
        attempt: u32,
    ) -> Option<SegmentEnd> {
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

        // Each result is reported the moment it is final, in the order of
        // the tasks (reporting.rs), while the probe or the apply still runs.
        let order = Mutex::new(InOrder::default());

        // Probe: one exec, every step's look.
        let mut probe_reports: HashMap<StepId, StepReport> = HashMap::new();
        if !flat.is_empty() {
            let steps: Vec<ScriptStep> =
                flat.iter().enumerate().map(|(i, f)| self.script_step(i, f, true, finals)).collect();
            let mut script = script::probe(&steps, self.opts.diff);
            script.become_password = on.become_password.cloned();
            self.reporter.host_phase(name, "probing");
            let secret = flat.iter().any(|f| f.step.secret);
            let units = Units { name, scope, segment, flat: &flat, finals, final_plan: &[], attempt };
            let names = self.step_names(scope, &flat, &[], finals, &[]);
            let step_in = |report: StepReport| self.step_in(&names, &units, &order, report);
            let ran = self.exec(on, &script, "probing", secret, &step_in).await?;
            if let Some((status, why)) = ran.lost {
                // A look is no result: only the tasks its looks had made
                // final are reported.
                self.report(self.result(name, "exec".into(), status, Some(why)));
                return None;
            }
            probe_reports = ran.reports.into_iter().map(|r| (r.id.clone(), r)).collect();
        }
        // Steps that only look (`--check`, or `check_mode: true`) are
        // reported from the probe; the apply starts at the first step that
        // acts and differs, and runs every acting step after it.
        let first_change = flat.iter().enumerate().position(|(i, f)| {
            !self.looks_only(f) && probe_reports.get(&StepId::Step(i)).is_none_or(|r| r.changed() || r.rc != 0)
        });
        if self.opts.check {
            for (i, f) in flat.iter().enumerate().filter(|(_, f)| self.looks_only(f)) {
                if let Some(r) = probe_reports.get(&StepId::Step(i)) {
                    finals.raised.extend(self.raised_by(f.step, r));
                }
            }
        }
        let apply_runs = first_change.is_some() || (!self.opts.check && last && !finals.raised.is_empty());
        let applied_from = if apply_runs { first_change.unwrap_or(flat.len()) } else { flat.len() };
        // The tasks before the apply's first step are final now (all of them
        // when no apply runs).
        let stopped = {
            let units = Units { name, scope, segment, flat: &flat, finals, final_plan: &[], attempt };
            let mut guard = order.lock().unwrap();
            guard.probed(probe_reports, applied_from, apply_runs);
            self.report_final(&units, &mut guard);
            guard.stopped
        };
        if stopped {
            return self.stopped(name, order.into_inner().unwrap(), finals, None);
        }

        // Apply: one exec, from the first step that differs, plus (in the
        // play's last segment) the final actions that are or may be raised.
        // The session went away during the apply: the steps that finished
        // are reported, then the host, as unreachable or failed.
        let mut apply_lost = None;
        if apply_runs {
            let steps: Vec<ScriptStep> = flat
                .iter()
                .enumerate()
                .skip(applied_from)
                .filter(|(_, f)| !self.looks_only(f))
                .map(|(i, f)| {
                    let mut step = self.script_step(i, f, false, finals);
                    // `loop_control.pause` waits between two items of one
                    // task, not before the first this apply runs.
                    let after_one = i > applied_from && flat[i - 1].entry == f.entry;
                    let before_one = flat.get(i + 1).is_some_and(|next| next.entry == f.entry);
                    if after_one {
                        step.pause = f.step.pause;
                    }
                    step.loop_item = match (after_one, before_one) {
                        (_, true) => LoopItem::More,
                        (true, false) => LoopItem::Last,
                        (false, false) => LoopItem::Alone,
                    };
                    step
                })
                .collect();
            // Under --check, the final actions are only said (below).
            let final_plan = if last && !self.opts.check { self.final_steps(scope, finals) } else { Vec::new() };
            let final_script: Vec<(String, ScriptStep)> = final_plan
                .iter()
                .flat_map(|(fin, _, steps)| {
                    let flag = finals.flag(fin);
                    steps.iter().enumerate().map(move |(k, s)| {
                        let ignore_errors = s.ignore_errors;
                        let step = ScriptStep {
                            id: StepId::Final { flag: flag.clone(), index: k },
                            snippet: &s.op.apply,
                            become_: s.become_.as_ref(),
                            notify: vec![],
                            defers: vec![],
                            ignore_errors,
                            prefetch: None,
                            attachment: s.op.attachment.as_ref(),
                            pause: None,
                            loop_item: LoopItem::Alone,
                        };
                        (flag.clone(), step)
                    })
                })
                .collect();
            let raised: Vec<String> = finals.raised.iter().map(|f| finals.flag(f)).collect();
            let mut script = script::apply(&steps, &final_script, &raised, on.lock.as_ref());
            script.become_password = on.become_password.cloned();
            // The apply is one exec: say what it will be waiting for.
            let announced = {
                let order = order.lock().unwrap();
                let probed = (applied_from..flat.len())
                    .filter(|&i| !self.looks_only(&flat[i]))
                    .filter_map(|i| order.probe.get(&StepId::Step(i)));
                announced_defers(&finals.raised, probed)
            };
            let phase = apply_phase(&final_plan, &announced, finals);
            self.reporter.host_phase(name, &phase);
            let secret = flat.iter().skip(applied_from).any(|f| f.step.secret && !self.looks_only(f))
                || final_plan.iter().flat_map(|(_, _, steps)| steps).any(|s| s.secret);
            // The steps in the order they run, named for the spinner: the
            // first is announced now unless the deploy lock comes first, each
            // next one as the host says the one before it ended.
            let mut named: Vec<(StepId, String)> = vec![(StepId::Lock, String::new())];
            named.extend(
                flat.iter()
                    .enumerate()
                    .skip(applied_from)
                    .filter(|(_, f)| !self.looks_only(f))
                    .map(|(i, f)| (StepId::Step(i), self.task_label(&self.play.tasks[f.step.task], scope))),
            );
            for (fin, label, steps) in &final_plan {
                let flag = finals.flag(fin);
                named.extend((0..steps.len()).map(|k| (StepId::Final { flag: flag.clone(), index: k }, label.clone())));
            }
            if let (None, Some((_, first))) = (&on.lock, named.get(1)) {
                self.reporter.step_start(name, first);
            }
            let units = Units { name, scope, segment, flat: &flat, finals, final_plan: &final_plan, attempt };
            let names = self.step_names(scope, &flat, &final_plan, finals, &named);
            let step_in = |report: StepReport| self.step_in(&names, &units, &order, report);
            let ran = self.exec(on, &script, &phase, secret, &step_in).await?;
            apply_lost = ran.lost;
            let apply_reports: HashMap<StepId, StepReport> =
                ran.reports.into_iter().map(|r| (r.id.clone(), r)).collect();
            if let Some(lock) = apply_reports.get(&StepId::Lock).filter(|r| r.rc != 0) {
                let why = String::from_utf8_lossy(&lock.stderr).trim().to_string();
                self.report(self.result(name, "deploy lock".into(), Status::Failed, Some(why)));
                return None;
            }
            // What the apply's output left unreported: the tasks and final
            // actions after the last step whose end was streamed, or all
            // of them when the session went away mid-chunk.
            let mut guard = order.lock().unwrap();
            guard.applied(apply_reports);
            self.report_final(&units, &mut guard);
            // Raised here, run at the end of the play (in the last segment
            // the script raised them itself; a later segment, after a
            // rescued failure, needs them too).
            let raised: Vec<Final> = flat
                .iter()
                .enumerate()
                .skip(applied_from)
                .filter(|(_, f)| !self.looks_only(f))
                .filter_map(|(i, f)| Some(self.raised_by(f.step, guard.apply.get(&StepId::Step(i))?)))
                .flatten()
                .collect();
            let stopped = guard.stopped;
            drop(guard);
            finals.raised.extend(raised);
            if stopped {
                return self.stopped(name, order.into_inner().unwrap(), finals, apply_lost);
            }
        }

        if last && self.opts.check {
            for fin in &finals.raised {
                let label = match fin {
                    Final::Deferred(key) => finals.catalog.get(key).map_or(key.clone(), |(d, _)| d.label.clone()),
                    Final::Handler(h) => format!("handler: {}", self.task_label(&self.play.handlers[*h], scope)),
                };
                self.report(self.result(name, label, Status::Changed, Some("would run".into())));
            }
        }
        if apply_lost.is_some() {
            return self.lost(name, apply_lost);
        }
        let order = order.into_inner().unwrap();
        finals.raised.extend(order.raises);
        Some(SegmentEnd::Done { registered: order.registered })
    }

    /// The segment stopped at a task: its failure goes to the blocks
    /// around it, or it runs again (`until`); if the session went away,
    /// the host is lost whatever the task said.
    fn stopped(
        &self,
        name: &str,
        order: InOrder,
        finals: &mut Finals,
        lost: Option<(Status, String)>,
    ) -> Option<SegmentEnd> {
        finals.raised.extend(order.raises);
        if lost.is_some() {
            return self.lost(name, lost);
        }
        let registered = order.registered;
        match (order.retry, order.failure) {
            (true, _) => Some(SegmentEnd::Retry { registered }),
            (false, Some(failure)) => Some(SegmentEnd::Failed { registered, failure }),
            (false, None) => None,
        }
    }

    /// Whether a step only looks: its task's `check_mode`, else `--check`.
    pub(super) fn looks_only(&self, f: &Flat) -> bool {
        self.play.tasks[f.step.task].check_mode.unwrap_or(self.opts.check)
    }

    /// The scope a step's item was planned in, for judging its result.
    fn item_scope(&self, task: &crate::playbook::Task, scope: &Scope, step: &Step) -> Scope {
        let scope = crate::plan::task_scope(task, scope);
        // The loop's variables for this item: the loop variable, its index, `ansible_loop`.
        scope.with_native(
            step.loop_vars.iter().map(|(k, v)| (k.clone(), JinjaValue::from(Serde(v)))).collect::<Vec<_>>(),
        )
    }

    /// One task's result on a host, from its steps' reports (the apply's
    /// where it ran, else the probe's), judged by its `changed_when`,
    /// `failed_when` and `until`; or the controller's skip or action. None
    /// when there is nothing to report: no step of it reported (the host
    /// stopped at an earlier failure), or it is an include or a `meta`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn task_result(
        &self,
        name: &str,
        scope: &Scope,
        entry: usize,
        planned: &Planned,
        flat: &[Flat],
        reports: &SegmentReports,
        attempt: u32,
    ) -> Option<TaskDone> {
        let task = &self.play.tasks[planned.task()];
        let label = self.task_label(task, scope);
        let done = |result, registered| TaskDone {
            result,
            registered,
            rollout: Vec::new(),
            stop: Stop::No,
            raises: Vec::new(),
        };
        match planned {
            Planned::Skipped { reason, items, .. } => {
                let registered = task.register.as_ref().map(|r| {
                    let value = match (&task.loop_, items.first()) {
                        (Some(_), _) => loop_value(items.iter().map(skipped_value).collect()),
                        (None, Some(item)) => skipped_value(item),
                        (None, None) => json!({"changed": false, "skipped": true, "skip_reason": reason}),
                    };
                    (r.clone(), JinjaValue::from(Serde(value)))
                });
                return Some(done(self.result(name, label, Status::Skipped, Some(reason.clone())), registered));
            }
            // Its variables (and registered value) are in the segment's facts.
            Planned::Done { .. } => return Some(done(self.result(name, label, Status::Ok, None), None)),
            // ansible-core counts an include as ok, a meta task not at all.
            Planned::Included { what, .. } => {
                return Some(done(self.result(name, label, Status::Ok, Some(format!("included: {what}"))), None))
            }
            Planned::Silent { .. } => return None,
            Planned::Run { .. } => {}
        }
        let mut results = Vec::new();
        let mut statuses = Vec::new();
        let mut msgs = Vec::new();
        let mut diffs = Vec::new();
        let mut rollout = Vec::new();
        let mut output = TaskOutput::default();
        let mut until_met = true;
        for (i, f) in flat.iter().enumerate().filter(|(_, f)| f.entry == entry) {
            let id = StepId::Step(i);
            let looks_only = self.looks_only(f);
            let from_apply = i >= reports.applied_from && !looks_only;
            let report = if from_apply { reports.apply.get(&id) } else { reports.probe.get(&id) };
            // No report: the host stopped at an earlier failure.
            let Some(report) = report else { continue };
            let mut status = step_status(report);
            // A task may report what an earlier run's rollout did on
            // the host (a switch that run went away from): this run's.
            if from_apply {
                rollout.extend(report.rollouts().filter_map(RolloutEvent::parse));
            }
            // A step carrying a vaulted value says no more than a no_log one.
            let no_log = f.step.no_log;
            let mut value = register_value(report, status, &f.step.loop_vars, no_log, !from_apply, looks_only);
            let mut why = None;
            if task.judged() {
                let verdict = judge(task, &self.item_scope(task, scope, f.step), &mut value, status, attempt);
                (status, why) = (verdict.status, verdict.why);
                until_met &= verdict.until_met;
            }
            if self.opts.diff && !no_log && report.changed() {
                if let Some(d) = diff_text(f.step, reports.probe.get(&id)) {
                    diffs.push(d);
                }
            }
            if let Some(m) = why.or_else(|| step_message(report, status, no_log)) {
                msgs.push(item_message(f.step, no_log, m));
            }
            if !no_log && (from_apply || looks_only) {
                let cmd = if from_apply { &f.step.op.apply } else { &f.step.op.probe };
                output.add(report, cmd);
            }
            results.push((f.step.item_position, value));
            statuses.push(status);
        }
        if statuses.is_empty() {
            return None;
        }
        let mut status = statuses.iter().copied().max().unwrap_or(Status::Ok);
        let mut value = if task.loop_.is_some() {
            // The items `when` skipped, in their places among those that ran.
            if let Planned::Run { skipped, .. } = planned {
                results.extend(skipped.iter().map(|s| (s.position, skipped_value(s))));
            }
            results.sort_by_key(|(position, _)| *position);
            loop_value(results.into_iter().map(|(_, v)| v).collect())
        } else {
            results.into_iter().next().map(|(_, v)| v).unwrap_or(json!({}))
        };
        if let Some(until) = task.until.as_ref().filter(|_| !until_met) {
            if attempt <= until.retries {
                let left = until.retries + 1 - attempt;
                self.reporter.host_note(name, &format!("FAILED - RETRYING: {label} ({left} retries left)"));
                let registered = task.register.as_ref().map(|r| (r.clone(), JinjaValue::from(Serde(&value))));
                return Some(TaskDone {
                    stop: Stop::Retry,
                    ..done(self.result(name, label, status, None), registered)
                });
            }
            // As ansible-core counts them.
            value["attempts"] = json!(until.retries);
            value["failed"] = json!(true);
            status = Status::Failed;
            msgs.push(format!("gave up after {} attempts", until.retries + 1));
        }
        let ignore_errors = flat.iter().any(|f| f.entry == entry && f.step.ignore_errors);
        let ignored = status == Status::Failed && ignore_errors;
        let failed = status == Status::Failed && !ignored;
        let mut result = self.result(name, label, status, (!msgs.is_empty()).then(|| msgs.join("\n")));
        result.ignored = ignored;
        result.rescued = failed && crate::flow::rescued(self.play, planned.task());
        result.diff = (!diffs.is_empty()).then(|| diffs.join("\n"));
        output.fill(&mut result);
        let raises = match task.changed_when.is_some() && status == Status::Changed {
            true => self.notify_targets(task).into_iter().map(Final::Handler).collect(),
            false => Vec::new(),
        };
        let registered = task.register.as_ref().map(|r| (r.clone(), JinjaValue::from(Serde(&value))));
        let stop = match failed {
            true => Stop::Failed(Failure { task: planned.task(), result: value }),
            false => Stop::No,
        };
        Some(TaskDone { result, registered, rollout, stop, raises })
    }

    /// One final action's result on a host, from its steps' reports in the
    /// apply. None when none of its steps ran (it was not raised).
    pub(super) fn final_result(
        &self,
        name: &str,
        fin: &Final,
        label: &str,
        steps: &[Step],
        finals: &Finals,
        apply: &HashMap<StepId, StepReport>,
    ) -> Option<TaskDone> {
        let flag = finals.flag(fin);
        let reports: Vec<(&Step, &StepReport)> = steps
            .iter()
            .enumerate()
            .filter_map(|(k, s)| Some((s, apply.get(&StepId::Final { flag: flag.clone(), index: k })?)))
            .collect();
        if reports.is_empty() {
            return None;
        }
        let status = reports.iter().map(|(_, r)| step_status(r)).max().unwrap_or(Status::Ok);
        let no_log = steps.iter().any(|s| s.no_log);
        let msg = reports.iter().find_map(|(_, r)| step_message(r, step_status(r), no_log));
        let rollout = reports.iter().flat_map(|(_, r)| r.rollouts().filter_map(RolloutEvent::parse)).collect();
        let ignore = steps.iter().any(|s| s.ignore_errors);
        let mut result = self.result(name, label.to_string(), status, msg);
        if !no_log {
            let mut output = TaskOutput::default();
            for (s, r) in &reports {
                output.add(r, &s.op.apply);
            }
            output.fill(&mut result);
        }
        // A failed final action stops the host: it is past every block.
        let stop = if status == Status::Failed && !ignore { Stop::Host } else { Stop::No };
        Some(TaskDone { result, registered: None, rollout, stop, raises: Vec::new() })
    }

    /// Report a task's (or final action's) result: its rollouts count in
    /// the host's stats, its registered value is kept.
    pub(super) fn report_done(&self, done: TaskResult, rollout: Vec<RolloutEvent>) {
        if !rollout.is_empty() {
            self.stats.lock().unwrap().entry(done.host.clone()).or_default().rollout.extend(rollout);
        }
        self.report(done);
    }

    /// Each step's task and item as the reporter names them, for the
    /// host's spinner: steps by their place in `flat`, final steps by their
    /// flag. `order`: an apply's step ids in the order they run, with their
    /// tasks' names (empty for a probe, whose steps are looks): as a step
    /// ends well, the next one's task is announced
    /// ([`Reporter::step_start`]), so the spinner names the task at work
    /// and its time counts from the host's own end of the step before.
    fn step_names(
        &self,
        scope: &Scope,
        flat: &[Flat],
        final_plan: &[(Final, String, Vec<Step>)],
        finals: &Finals,
        order: &[(StepId, String)],
    ) -> StepNames {
        let next: HashMap<StepId, String> =
            order.windows(2).filter(|w| !w[1].1.is_empty()).map(|w| (w[0].0.clone(), w[1].1.clone())).collect();
        let mut labels: HashMap<StepId, (String, Option<String>)> = HashMap::new();
        for (i, f) in flat.iter().enumerate() {
            let task = &self.play.tasks[f.step.task];
            let no_log = f.step.no_log;
            labels.insert(StepId::Step(i), (self.task_label(task, scope), item_shown(f.step, no_log)));
        }
        for (fin, label, steps) in final_plan {
            for k in 0..steps.len() {
                labels.insert(StepId::Final { flag: finals.flag(fin), index: k }, (label.clone(), None));
            }
        }
        StepNames { probe: order.is_empty(), next, labels }
    }

    /// The host stops here; if its session went away, that is said last.
    fn lost<T>(&self, name: &str, lost: Option<(Status, String)>) -> Option<T> {
        if let Some((status, why)) = lost {
            self.report(self.result(name, "exec".into(), status, Some(why)));
        }
        None
    }
}
