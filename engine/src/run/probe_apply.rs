//! One segment of a host's plan: a probe (every step's look, one exec),
//! the decision of what differs, an apply (one exec, from the first step
//! that differs, with the play's final actions in its last segment), then
//! each task's result.

use std::collections::HashMap;

use minijinja::value::{Serde, Value as JinjaValue};
use serde_json::json;

use super::finals::{announced_defers, apply_phase, Final, Finals};
use super::judge::judge;
use super::results::{
    diff_text, item_message, item_shown, loop_value, register_value, skipped_value, status_of, step_message,
    step_status, TaskOutput,
};
use super::session::{HostRun, OnHost};
use crate::flow::Failure;
use crate::plan::{Planned, Segment, Step};
use crate::report::{RolloutEvent, Status, StepEnded};
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
            ignore_errors: task.ignore_errors || task.failed_when.is_some(),
            prefetch: probe.then_some(&f.step.op.prefetch),
            attachment: if probe { None } else { f.step.op.attachment.as_ref() },
            pause: None,
            loop_item: LoopItem::Alone,
        }
    }

    /// Probe, decide, apply one segment. `attempt`: of the judged task at
    /// its end, if that is retried (from 1). None if the host is lost or
    /// failed beyond what a block can rescue.
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

        // Probe: one exec, every step's look.
        let mut probe_reports: HashMap<StepId, StepReport> = HashMap::new();
        if !flat.is_empty() {
            let steps: Vec<ScriptStep> =
                flat.iter().enumerate().map(|(i, f)| self.script_step(i, f, true, finals)).collect();
            let mut script = script::probe(&steps, self.opts.diff);
            script.become_password = on.become_password.cloned();
            self.reporter.host_phase(name, "probing");
            let secret = flat.iter().any(|f| f.step.secret);
            let steps_ended = self.steps_ended(name, scope, &flat, &[], finals, &[]);
            let ran = self.exec(on, &script, "probing", secret, &steps_ended).await?;
            if let Some((status, why)) = ran.lost {
                // A look is no result: nothing of the probe is reported.
                self.report(self.result(name, "exec".into(), status, Some(why)));
                return None;
            }
            probe_reports = ran.reports.into_iter().map(|r| (r.id.clone(), r)).collect();
        }
        let first_change = flat
            .iter()
            .enumerate()
            .position(|(i, _)| probe_reports.get(&StepId::Step(i)).is_none_or(|r| r.changed() || r.rc != 0));
        if self.opts.check {
            for (i, f) in flat.iter().enumerate() {
                if let Some(r) = probe_reports.get(&StepId::Step(i)) {
                    finals.raised.extend(self.raised_by(f.step, r));
                }
            }
        }

        // Apply: one exec, from the first step that differs, plus (in the
        // play's last segment) the final actions that are or may be raised.
        let mut apply_reports: HashMap<StepId, StepReport> = HashMap::new();
        let mut applied_from = flat.len();
        let mut final_plan = Vec::new();
        // The session went away during the apply: the steps that finished
        // are reported, then the host, as unreachable or failed.
        let mut apply_lost = None;
        if !self.opts.check && (first_change.is_some() || (last && !finals.raised.is_empty())) {
            applied_from = first_change.unwrap_or(flat.len());
            let steps: Vec<ScriptStep> = flat
                .iter()
                .enumerate()
                .skip(applied_from)
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
            if last {
                final_plan = self.final_steps(scope, finals);
            }
            let final_script: Vec<(String, ScriptStep)> = final_plan
                .iter()
                .flat_map(|(fin, _, steps)| {
                    let flag = finals.flag(fin);
                    steps.iter().enumerate().map(move |(k, s)| {
                        let ignore_errors = matches!(fin, Final::Handler(h) if self.play.handlers[*h].ignore_errors);
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
            let probed =
                flat.iter().enumerate().skip(applied_from).filter_map(|(i, _)| probe_reports.get(&StepId::Step(i)));
            let announced = announced_defers(&finals.raised, probed);
            let phase = apply_phase(&final_plan, &announced, finals);
            self.reporter.host_phase(name, &phase);
            let secret = flat.iter().skip(applied_from).any(|f| f.step.secret)
                || final_plan.iter().flat_map(|(_, _, steps)| steps).any(|s| s.secret);
            // The steps in the order they run, named for the spinner: the
            // first is announced now unless the deploy lock comes first, each
            // next one as the host says the one before it ended.
            let mut named: Vec<(StepId, String)> = vec![(StepId::Lock, String::new())];
            named.extend(
                flat.iter()
                    .enumerate()
                    .skip(applied_from)
                    .map(|(i, f)| (StepId::Step(i), self.task_label(&self.play.tasks[f.step.task], scope))),
            );
            for (fin, label, steps) in &final_plan {
                let flag = finals.flag(fin);
                named.extend((0..steps.len()).map(|k| (StepId::Final { flag: flag.clone(), index: k }, label.clone())));
            }
            if let (None, Some((_, first))) = (&on.lock, named.get(1)) {
                self.reporter.step_start(name, first);
            }
            let steps_ended = self.steps_ended(name, scope, &flat, &final_plan, finals, &named);
            let ran = self.exec(on, &script, &phase, secret, &steps_ended).await?;
            apply_lost = ran.lost;
            apply_reports = ran.reports.into_iter().map(|r| (r.id.clone(), r)).collect();
            if let Some(lock) = apply_reports.get(&StepId::Lock).filter(|r| r.rc != 0) {
                let why = String::from_utf8_lossy(&lock.stderr).trim().to_string();
                self.report(self.result(name, "deploy lock".into(), Status::Failed, Some(why)));
                return None;
            }
            {
                // Raised here, run at the end of the play (in the last
                // segment the script raised them itself; a later segment,
                // after a rescued failure, needs them too).
                for (i, f) in flat.iter().enumerate().skip(applied_from) {
                    if let Some(r) = apply_reports.get(&StepId::Step(i)) {
                        finals.raised.extend(self.raised_by(f.step, r));
                    }
                }
            }
        }

        // Report, per task, from the apply where it ran, else the probe.
        let mut registered = Vec::new();
        for (entry, planned) in segment.entries.iter().enumerate() {
            let task = &self.play.tasks[planned.task()];
            let label = self.task_label(task, scope);
            match planned {
                Planned::Skipped { reason, items, .. } => {
                    self.report(self.result(name, label, Status::Skipped, Some(reason.clone())));
                    if let Some(r) = &task.register {
                        let value = match (&task.loop_, items.first()) {
                            (Some(_), _) => loop_value(items.iter().map(skipped_value).collect()),
                            (None, Some(item)) => skipped_value(item),
                            (None, None) => json!({"changed": false, "skipped": true, "skip_reason": reason}),
                        };
                        registered.push((r.clone(), JinjaValue::from(Serde(value))));
                    }
                    continue;
                }
                Planned::Done { .. } => {
                    // Its variables are in the segment's facts already.
                    self.report(self.result(name, label, Status::Ok, None));
                    continue;
                }
                Planned::Run { .. } => {}
            }
            let mut results = Vec::new();
            let mut statuses = Vec::new();
            let mut msgs = Vec::new();
            let mut diffs = Vec::new();
            let mut output = TaskOutput::default();
            let mut until_met = true;
            for (i, f) in flat.iter().enumerate().filter(|(_, f)| f.entry == entry) {
                let id = StepId::Step(i);
                let from_apply = i >= applied_from;
                let report = if from_apply { apply_reports.get(&id) } else { probe_reports.get(&id) };
                // No report: the host stopped at an earlier failure.
                let Some(report) = report else { continue };
                let mut status = step_status(report);
                // A task may report what an earlier run's rollout did on
                // the host (a switch that run went away from): this run's.
                if from_apply {
                    let events = report.rollouts().filter_map(RolloutEvent::parse);
                    self.stats.lock().unwrap().entry(name.to_string()).or_default().rollout.extend(events);
                }
                // A step carrying a vaulted value says no more than a no_log one.
                let no_log = task.no_log || f.step.secret;
                let mut value = register_value(report, status, &f.step.loop_vars, no_log, !from_apply, self.opts.check);
                let mut why = None;
                if task.judged() {
                    let verdict = judge(task, &self.item_scope(task, scope, f.step), &mut value, status, attempt);
                    (status, why) = (verdict.status, verdict.why);
                    until_met &= verdict.until_met;
                }
                if self.opts.diff && !no_log && report.changed() {
                    if let Some(d) = diff_text(f.step, probe_reports.get(&id)) {
                        diffs.push(d);
                    }
                }
                if let Some(m) = why.or_else(|| step_message(report, status, no_log)) {
                    msgs.push(item_message(f.step, no_log, m));
                }
                if !no_log && (from_apply || self.opts.check) {
                    let cmd = if from_apply { &f.step.op.apply } else { &f.step.op.probe };
                    output.add(report, cmd);
                }
                results.push((f.step.item_position, value));
                statuses.push(status);
            }
            if statuses.is_empty() {
                continue;
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
                    return Some(SegmentEnd::Retry { registered });
                }
                // As ansible-core counts them.
                value["attempts"] = json!(until.retries);
                value["failed"] = json!(true);
                status = Status::Failed;
                msgs.push(format!("gave up after {} attempts", until.retries + 1));
            }
            let ignored = status == Status::Failed && task.ignore_errors;
            let failed = status == Status::Failed && !ignored;
            let mut result = self.result(name, label, status, (!msgs.is_empty()).then(|| msgs.join("\n")));
            result.ignored = ignored;
            result.rescued = failed && crate::flow::rescued(self.play, planned.task());
            result.diff = (!diffs.is_empty()).then(|| diffs.join("\n"));
            output.fill(&mut result);
            self.report(result);
            if task.changed_when.is_some() && status == Status::Changed {
                finals.raised.extend(self.notify_targets(task).into_iter().map(Final::Handler));
            }
            if let Some(r) = &task.register {
                registered.push((r.clone(), JinjaValue::from(Serde(value.clone()))));
            }
            if failed {
                if apply_lost.is_some() {
                    return self.lost(name, apply_lost);
                }
                let failure = Failure { task: planned.task(), result: value };
                return Some(SegmentEnd::Failed { registered, failure });
            }
        }

        if last {
            if self.opts.check {
                for fin in &finals.raised {
                    let label = match fin {
                        Final::Deferred(key) => finals.catalog.get(key).map_or(key.clone(), |(d, _)| d.label.clone()),
                        Final::Handler(h) => format!("handler: {}", self.task_label(&self.play.handlers[*h], scope)),
                    };
                    self.report(self.result(name, label, Status::Changed, Some("would run".into())));
                }
            }
            for (fin, label, steps) in &final_plan {
                let flag = finals.flag(fin);
                let reports: Vec<&StepReport> = (0..steps.len())
                    .filter_map(|k| apply_reports.get(&StepId::Final { flag: flag.clone(), index: k }))
                    .collect();
                if reports.is_empty() {
                    continue;
                }
                let status = reports.iter().map(|r| step_status(r)).max().unwrap_or(Status::Ok);
                let no_log =
                    matches!(fin, Final::Handler(h) if self.play.handlers[*h].no_log) || steps.iter().any(|s| s.secret);
                let msg = reports.iter().find_map(|r| step_message(r, step_status(r), no_log));
                let events = reports.iter().flat_map(|r| r.rollouts().filter_map(RolloutEvent::parse));
                self.stats.lock().unwrap().entry(name.to_string()).or_default().rollout.extend(events);
                let ignore = matches!(fin, Final::Handler(h) if self.play.handlers[*h].ignore_errors);
                let mut result = self.result(name, label.clone(), status, msg);
                if !no_log {
                    let mut output = TaskOutput::default();
                    for (k, s) in steps.iter().enumerate() {
                        if let Some(r) = apply_reports.get(&StepId::Final { flag: flag.clone(), index: k }) {
                            output.add(r, &s.op.apply);
                        }
                    }
                    output.fill(&mut result);
                }
                self.report(result);
                if status == Status::Failed && !ignore {
                    return self.lost(name, apply_lost);
                }
            }
        }
        if apply_lost.is_some() {
            return self.lost(name, apply_lost);
        }
        Some(SegmentEnd::Done { registered })
    }

    /// The scope a step's item was planned in, for judging its result.
    fn item_scope(&self, task: &crate::playbook::Task, scope: &Scope, step: &Step) -> Scope {
        let scope = crate::plan::task_scope(task, scope);
        // The loop's variables for this item: the loop variable, its index, `ansible_loop`.
        scope.with_native(
            step.loop_vars.iter().map(|(k, v)| (k.clone(), JinjaValue::from(Serde(v)))).collect::<Vec<_>>(),
        )
    }

    /// What tells the reporter of each step that ends while a script runs:
    /// steps by their place in `flat`, final steps by their flag. `order`:
    /// an apply's step ids in the order they run, with their tasks' names
    /// (empty for a probe, whose steps are looks): as a step ends well, the
    /// next one's task is announced ([`Reporter::step_start`]), so the
    /// host's spinner names the task at work and its time counts from the
    /// host's own end of the step before.
    fn steps_ended<'s>(
        &'s self,
        host: &'s str,
        scope: &Scope,
        flat: &[Flat],
        final_plan: &[(Final, String, Vec<Step>)],
        finals: &Finals,
        order: &[(StepId, String)],
    ) -> impl Fn(script::StepEnded) + Sync + 's {
        let probe = order.is_empty();
        let next: HashMap<StepId, String> =
            order.windows(2).filter(|w| !w[1].1.is_empty()).map(|w| (w[0].0.clone(), w[1].1.clone())).collect();
        let mut labels: HashMap<StepId, (String, Option<String>)> = HashMap::new();
        for (i, f) in flat.iter().enumerate() {
            let task = &self.play.tasks[f.step.task];
            let no_log = task.no_log || f.step.secret;
            labels.insert(StepId::Step(i), (self.task_label(task, scope), item_shown(f.step, no_log)));
        }
        for (fin, label, steps) in final_plan {
            for k in 0..steps.len() {
                labels.insert(StepId::Final { flag: finals.flag(fin), index: k }, (label.clone(), None));
            }
        }
        move |ended: script::StepEnded| {
            let status = status_of(ended.rc, &ended.status);
            if let Some((task, item)) = labels.get(&ended.id) {
                self.reporter.step_ended(&StepEnded {
                    host: host.to_string(),
                    task: task.clone(),
                    item: item.clone(),
                    status,
                    probe,
                });
            }
            // A failed step may stop the script: its next is said once it runs.
            if let Some(task) = next.get(&ended.id).filter(|_| status != Status::Failed) {
                self.reporter.step_start(host, task);
            }
        }
    }

    /// The host stops here; if its session went away, that is said last.
    fn lost<T>(&self, name: &str, lost: Option<(Status, String)>) -> Option<T> {
        if let Some((status, why)) = lost {
            self.report(self.result(name, "exec".into(), status, Some(why)));
        }
        None
    }
}
