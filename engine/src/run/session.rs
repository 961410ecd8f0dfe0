//! One host: its connection (from the pool or new), its segments in order,
//! and each script sent to it with its output read back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use minijinja::value::{Serde, Value as JinjaValue};

use super::finals::Finals;
use super::probe_apply::SegmentEnd;
use super::rollout::Pool;
use super::{PreparedHost, RunOptions};
use crate::flow::{AfterFailure, Flow};
use crate::plan;
use crate::plan::Segment;
use crate::playbook::{Play, Task};
use crate::report::{HostStats, Reporter, Status, TaskResult};
use crate::script::{self, StepReport};
use crate::template::{Mode, Scope};
use crate::transport::{Connection, Connector, Exec, Stream, TransportError};

pub(super) struct HostRun<'a> {
    pub play: &'a Play,
    pub selected: &'a [usize],
    pub opts: &'a RunOptions,
    pub reporter: &'a Arc<dyn Reporter>,
    pub stats: &'a Arc<Mutex<HashMap<String, HostStats>>>,
}

/// A host being worked on: its name, its connection, its deploy lock.
pub(super) struct OnHost<'a> {
    pub name: &'a str,
    pub conn: &'a dyn Connection,
    pub lock: Option<script::Lock>,
    pub become_password: Option<&'a script::BecomePassword>,
}

impl HostRun<'_> {
    pub(super) fn report(&self, result: TaskResult) {
        self.stats.lock().unwrap().entry(result.host.clone()).or_default().count(&result);
        self.reporter.task(&result);
    }

    pub(super) fn result(&self, host: &str, task: String, status: Status, msg: Option<String>) -> TaskResult {
        TaskResult::new(&self.play.name, host, task, status, msg)
    }

    /// Count a round trip; returns its number on this host (1-based).
    pub(super) fn count_round_trip(&self, host: &str) -> u32 {
        let mut stats = self.stats.lock().unwrap();
        let round_trips = &mut stats.entry(host.to_string()).or_default().round_trips;
        *round_trips += 1;
        *round_trips
    }

    /// Run the play on one host. Returns false if the host failed or was
    /// unreachable (it then sits out the remaining plays).
    pub(super) async fn host(&self, host: &PreparedHost, connector: &dyn Connector, pool: &Pool) -> bool {
        let name = host.name.as_str();
        let existing = pool.lock().unwrap().remove(name);
        let existing = match existing {
            Some(c) if c.reusable() => Some(c),
            Some(stale) => {
                stale.close().await;
                None
            }
            None => None,
        };
        let conn = match existing {
            Some(c) => c,
            None => match connector.connect(&host.target).await {
                Ok(c) => c,
                Err(e) => {
                    self.report(self.result(name, "connect".into(), Status::Unreachable, Some(e.to_string())));
                    return false;
                }
            },
        };
        let ok = self.segments(host, conn.as_ref()).await;
        pool.lock().unwrap().insert(name.to_string(), conn);
        ok
    }

    /// Run the host's segments in order; each needs the results of the one
    /// before it, so later segments are planned as we go, along the host's
    /// path through the play's blocks.
    pub(super) async fn segments(&self, host: &PreparedHost, conn: &dyn Connection) -> bool {
        let mut scope = host.scope.clone();
        let mut finals = Finals::default();
        let mut flow = Flow::default();
        let mut planned_here: Option<Segment> = None;
        let mut attempt = 1;
        let lock = self.opts.lock.as_ref().map(|l| script::Lock {
            path: host.lock_path.clone(),
            holder: l.holder.clone(),
            wait_secs: l.wait_secs,
            break_stale: l.break_stale,
        });
        let on = OnHost { name: &host.name, conn, lock, become_password: host.become_password.as_ref() };
        loop {
            let segment = planned_here.as_ref().unwrap_or(&host.first);
            let last = segment.next >= self.selected.len() && !segment.judged && !flow.is_failing();
            let Some(end) = self.segment(&on, &scope, segment, &mut finals, last, attempt).await else {
                return false;
            };
            if last && matches!(end, SegmentEnd::Done { .. }) {
                return true;
            }
            scope = scope.with_native(segment.facts.iter().map(|(k, v)| (k.clone(), JinjaValue::from(Serde(v)))));
            let mut next = segment.next;
            match end {
                SegmentEnd::Done { registered } => {
                    scope = scope.with_native(registered);
                    attempt = 1;
                }
                SegmentEnd::Retry { registered } => {
                    scope = scope.with_native(registered);
                    // A judged task ends its segment: it is the one before `next`.
                    next -= 1;
                    let task = &self.play.tasks[self.selected[next]];
                    let delay = task.until.as_ref().map_or(0, |u| u.delay_secs);
                    tokio::time::sleep(std::time::Duration::from_secs(delay)).await;
                    attempt += 1;
                }
                SegmentEnd::Failed { registered, failure } => {
                    scope = scope.with_native(registered);
                    attempt = 1;
                    let failed_task = &self.play.tasks[failure.task];
                    let failed = [
                        (
                            "ansible_failed_task".to_string(),
                            JinjaValue::from(Serde(serde_json::json!({
                                "name": self.task_label(failed_task, &scope),
                                "action": failed_task.module.name(),
                            }))),
                        ),
                        ("ansible_failed_result".to_string(), JinjaValue::from(Serde(&failure.result))),
                    ];
                    match flow.fail(self.play, failure) {
                        AfterFailure::HostFailed => return false,
                        AfterFailure::Rescue { at } => {
                            scope = scope.with_native(failed);
                            next = self.position_of(at);
                        }
                        AfterFailure::Always { at } => next = self.position_of(at),
                    }
                }
            }
            // A failure whose always is done goes on outward.
            while let Some(block) = flow.failing_before(self.play, self.selected.get(next).copied()) {
                match flow.resume_failure(self.play, block) {
                    AfterFailure::HostFailed => return false,
                    AfterFailure::Rescue { at } | AfterFailure::Always { at } => next = self.position_of(at),
                }
            }
            match plan::plan_segment(self.play, self.selected, next, &scope, self.opts.intent(), &flow) {
                Ok(planned) => planned_here = Some(planned),
                Err(d) => {
                    self.report(self.result(&host.name, "plan".into(), Status::Failed, Some(d.to_string())));
                    return false;
                }
            }
        }
    }

    /// Where task `index` (or the first selected one after it) is in the
    /// selected tasks.
    fn position_of(&self, index: usize) -> usize {
        self.selected.partition_point(|&i| i < index)
    }

    pub(super) fn task_label(&self, task: &Task, scope: &Scope) -> String {
        match &task.name {
            // A name that would show a vaulted value is shown as written.
            Some(n) => scope
                .render_text(n, Mode::Plain)
                .ok()
                .filter(|label| !crate::vault::carries_secret(label.as_bytes()))
                .unwrap_or_else(|| n.clone()),
            None => task.module.name().to_string(),
        }
    }

    /// Run one script; on transport or framing trouble the host fails.
    /// `phase`: what the host is doing during the exec, shown again once a
    /// wait for the deploy lock is over. A script carrying a vaulted value
    /// is kept as a note saying so instead. `on_step` hears of each step
    /// as it ends, from the session's stdout.
    pub(super) async fn exec(
        &self,
        on: &OnHost<'_>,
        script: &script::Script,
        phase: &str,
        secret: bool,
        on_step: &(dyn Fn(script::StepEnded) + Sync),
    ) -> Option<Ran> {
        let name = on.name;
        let n = self.count_round_trip(name);
        if let Some(dir) = std::env::var_os("PUSH_KEEP_SCRIPTS") {
            let write = |f: &mut std::fs::File| match secret {
                true => std::io::Write::write_all(f, crate::kept_scripts::WITHHELD.as_bytes()),
                false => crate::attachment::write(script, &mut std::io::BufWriter::new(f)),
            };
            if let Err(e) = crate::kept_scripts::keep(std::path::Path::new(&dir), name, n, write) {
                self.reporter.warn(&format!("PUSH_KEEP_SCRIPTS: cannot keep script {n} of {name} in {dir:?}: {e}"));
            }
        }
        let waits = script::LockWaits::new(&script.nonce);
        let first_wait = std::sync::Once::new();
        let ends = script::StepEvents::new(&script.nonce);
        let progress = |stream: Stream, chunk: &[u8]| {
            if stream == Stream::Stdout {
                ends.feed(chunk).into_iter().for_each(on_step);
                return;
            }
            for wait in waits.feed(chunk) {
                let script::LockWait::Waiting { left_secs, holder } = wait else {
                    self.reporter.host_phase(name, phase);
                    continue;
                };
                first_wait.call_once(|| {
                    let note = format!("waiting up to {left_secs} s for the deploy lock, held by {holder}");
                    self.reporter.host_note(name, &note);
                });
                let waiting = format!("waiting for the deploy lock ({left_secs} s left), held by {holder}");
                self.reporter.host_phase(name, &waiting);
            }
        };
        let (output, lost) = match on.conn.exec(script, &progress).await {
            Ok(Exec::Done(o)) => (o, None),
            Ok(Exec::Lost { partial, why }) => (partial, Some(why)),
            Err(e) => {
                self.report(self.result(name, "exec".into(), lost_status(&e), Some(e.to_string())));
                return None;
            }
        };
        if output.new_session {
            let mut stats = self.stats.lock().unwrap();
            let host = stats.entry(name.to_string()).or_default();
            host.sessions += 1;
            host.remote_execs += 1;
        }
        if let Some(why) = lost {
            // What each step that finished said is known; the rest is not.
            let reports = script::parse_partial(&output.stdout, &output.stderr, &script.nonce);
            let last = reports.last().map_or("before its first step".to_string(), |r| format!("after step {}", r.id));
            return Some(Ran { reports, lost: Some((lost_status(&why), format!("{why} ({phase}, {last})"))) });
        }
        match script::parse(&output.stdout, &output.stderr, &script.nonce) {
            Ok(reports) => Some(Ran { reports, lost: None }),
            Err(script::ParseError::Truncated { last: None }) if output.status == Some(script::SETUP_FAILED) => {
                let why = String::from_utf8_lossy(&output.stderr).trim().to_string();
                self.report(self.result(name, "exec".into(), Status::Failed, Some(why)));
                None
            }
            // The chunk's shell was killed by a signal; the session's shell
            // said so, so the host still answers.
            Err(script::ParseError::Truncated { .. }) if output.status.is_some_and(|s| s > 128) => {
                let why = format!("{} ({phase})", TransportError::ShellKilled);
                self.report(self.result(name, "exec".into(), Status::Failed, Some(why)));
                None
            }
            Err(e) => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                self.report(self.result(
                    name,
                    "exec".into(),
                    Status::Failed,
                    Some(format!("{e}; exit {:?}; stderr: {}", output.status, stderr.trim())),
                ));
                None
            }
        }
    }
}

/// A script's step reports; `lost`: the host's session went away while it
/// ran (the reports are those of the steps that finished), with how the
/// host is to be reported.
pub(super) struct Ran {
    pub reports: Vec<StepReport>,
    pub lost: Option<(Status, String)>,
}

/// A host whose shell was killed or exited still answers: failed; any other
/// trouble with the connection: unreachable.
fn lost_status(e: &TransportError) -> Status {
    match e {
        TransportError::ShellKilled | TransportError::ShellExited(_) => Status::Failed,
        _ => Status::Unreachable,
    }
}
