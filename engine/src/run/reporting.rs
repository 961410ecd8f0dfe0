//! A segment's results, reported in the order of its tasks, each the
//! moment it is final: as the host says each step ended (its report whole
//! on both streams, [`crate::script::StepStream`]), not when the chunk
//! that ran it returns.
//!
//! When is a task final?
//! - While the probe runs: a task whose every step's look says ok (no
//!   change, no failure) and that lies before the first step that differs
//!   is final after the probe: no apply runs it. In check mode, every task
//!   is final once its looks are in.
//! - After the probe, the tasks before the first step that differs are
//!   final; so is everything when no apply follows.
//! - While the apply runs: a task once its steps are in, or once a later
//!   step is (the apply runs its steps in order; a task's items that do not
//!   come were stopped by a failure); a final action (deferred action,
//!   handler: they run only if raised) once its steps are in or a later
//!   step is; all of them once the apply's output is over.
//!
//! A skip decided on the controller comes in its place in the order. The
//! results themselves are built by one function, the same for a task
//! reported here while its chunk runs and for one reported from what is
//! left at the chunk's end ([`HostRun::task_result`]).

use std::collections::HashMap;
use std::sync::Mutex;

use minijinja::value::Value as JinjaValue;

use super::finals::{Final, Finals};
use super::probe_apply::{Flat, SegmentReports, StepNames, Stop, TaskDone};
use super::results::step_status;
use super::session::HostRun;
use crate::plan::{Segment, Step};
use crate::report::{Status, StepEnded};
use crate::script::{StepId, StepReport};
use crate::template::Scope;

/// What a segment's reporting reads of the segment: its tasks and steps,
/// and in an apply the final actions it may run.
pub(super) struct Units<'a> {
    pub(super) name: &'a str,
    pub(super) scope: &'a Scope,
    pub(super) segment: &'a Segment,
    pub(super) flat: &'a [Flat<'a>],
    pub(super) finals: &'a Finals,
    pub(super) final_plan: &'a [(Final, String, Vec<Step>)],
    /// Of the judged task that ends the segment, if it is retried.
    pub(super) attempt: u32,
}

impl Units<'_> {
    /// A step's place in the apply's order: a task's step by its place in
    /// the segment, a final action's after all of them. None: the lock.
    fn position(&self, id: &StepId) -> Option<usize> {
        match id {
            StepId::Step(i) => Some(*i),
            StepId::Lock => None,
            StepId::Final { flag, index } => {
                let mut before = self.flat.len();
                for (fin, _, steps) in self.final_plan {
                    if self.finals.flag(fin) == *flag {
                        return Some(before + index);
                    }
                    before += steps.len();
                }
                None
            }
        }
    }

    /// The place of a final action's last step in the apply's order.
    fn final_end(&self, j: usize) -> usize {
        self.flat.len() + self.final_plan[..=j].iter().map(|(_, _, steps)| steps.len()).sum::<usize>() - 1
    }
}

/// The reports a segment has so far, and how far its results are reported.
#[derive(Default)]
pub(super) struct InOrder {
    pub(super) probe: HashMap<StepId, StepReport>,
    pub(super) apply: HashMap<StepId, StepReport>,
    /// Where the apply starts among the segment's steps; None while the
    /// probe runs.
    applied_from: Option<usize>,
    /// The furthest place in the apply's order whose step report is in.
    furthest: Option<usize>,
    /// No more of the apply is to come (it ended, or none runs).
    apply_over: bool,
    /// The next unit to report: the segment's tasks, then the final
    /// actions of the apply.
    next: usize,
    pub(super) registered: Vec<(String, JinjaValue)>,
    /// The segment stops here: at a failure that is not ignored, or at a
    /// task that runs again; nothing after it is reported.
    pub(super) stopped: bool,
    /// The failure it stopped at, for the blocks around the task.
    pub(super) failure: Option<crate::flow::Failure>,
    /// It stopped at a task whose `until` does not hold yet.
    pub(super) retry: bool,
    /// Handlers raised on the controller (`changed_when`).
    pub(super) raises: Vec<Final>,
}

impl InOrder {
    /// The probe is over: the apply starts at `applied_from` (the number of
    /// steps when none runs, `apply_runs` false).
    pub(super) fn probed(&mut self, probe: HashMap<StepId, StepReport>, applied_from: usize, apply_runs: bool) {
        self.probe = probe;
        self.applied_from = Some(applied_from);
        self.apply_over = !apply_runs;
    }

    /// The apply is over; what it reported, read from its whole output.
    pub(super) fn applied(&mut self, apply: HashMap<StepId, StepReport>) {
        self.apply = apply;
        self.apply_over = true;
    }

    fn record(&mut self, report: StepReport, units: &Units) {
        if self.applied_from.is_none() {
            self.probe.insert(report.id.clone(), report);
            return;
        }
        if let Some(at) = units.position(&report.id) {
            self.furthest = Some(self.furthest.map_or(at, |f| f.max(at)));
        }
        self.apply.insert(report.id.clone(), report);
    }

    /// Has the apply come to (or past) this place, or is it over?
    fn applied_through(&self, at: usize) -> bool {
        self.apply_over || self.furthest.is_some_and(|f| f >= at)
    }

    /// Is the result of the segment's `i`th step final? `looks_only`: the
    /// step is not applied (`--check`, `check_mode: true`).
    fn step_final(&self, i: usize, looks_only: bool) -> bool {
        match self.applied_from {
            None => self.probe.get(&StepId::Step(i)).is_some_and(|r| looks_only || (!r.changed() && r.rc == 0)),
            Some(from) if i < from => true,
            Some(_) => self.applied_through(i),
        }
    }
}

impl HostRun<'_> {
    /// A step's report came in while its chunk runs: the host's spinner
    /// hears of it, then every result it makes final is reported, then the
    /// next step's task is announced.
    pub(super) fn step_in(&self, names: &StepNames, units: &Units, order: &Mutex<InOrder>, report: StepReport) {
        let status = step_status(&report);
        if let Some((task, item)) = names.labels.get(&report.id) {
            self.reporter.step_ended(&StepEnded {
                host: units.name.to_string(),
                task: task.clone(),
                item: item.clone(),
                status,
                probe: names.probe,
            });
        }
        // A failed step may stop the script: its next is said once it runs.
        let next = names.next.get(&report.id).filter(|_| status != Status::Failed).cloned();
        {
            let mut order = order.lock().unwrap();
            order.record(report, units);
            self.report_final(units, &mut order);
        }
        if let Some(task) = next {
            self.reporter.step_start(units.name, &task);
        }
    }

    /// Report, in order, each result that is final now; stop at the first
    /// that is not, or at a failure that stops the host.
    pub(super) fn report_final(&self, units: &Units, order: &mut InOrder) {
        let entries = &units.segment.entries;
        while !order.stopped {
            let u = order.next;
            let done = if u < entries.len() {
                let mut steps = units.flat.iter().enumerate().filter(|(_, f)| f.entry == u);
                if !steps.all(|(i, f)| order.step_final(i, self.looks_only(f))) {
                    return;
                }
                let applied_from = order.applied_from.unwrap_or(units.flat.len());
                let reports = SegmentReports { probe: &order.probe, apply: &order.apply, applied_from };
                self.task_result(units.name, units.scope, u, &entries[u], units.flat, &reports, units.attempt)
            } else if let Some((fin, label, steps)) = units.final_plan.get(u - entries.len()) {
                let j = u - entries.len();
                if !steps.is_empty() && !order.applied_through(units.final_end(j)) {
                    return;
                }
                self.final_result(units.name, fin, label, steps, units.finals, &order.apply)
            } else {
                return;
            };
            order.next += 1;
            if let Some(TaskDone { result, registered, rollout, stop, raises }) = done {
                order.raises.extend(raises);
                order.registered.extend(registered);
                // A task that runs again is not reported yet.
                if !matches!(stop, Stop::Retry) {
                    self.report_done(result, rollout);
                }
                order.stopped = !matches!(stop, Stop::No);
                match stop {
                    Stop::Failed(failure) => order.failure = Some(failure),
                    Stop::Retry => order.retry = true,
                    Stop::No | Stop::Host => {}
                }
            }
        }
    }
}
