//! One host: its connection (from the pool or new), its segments in order,
//! and each script sent to it with its output read back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::finals::Finals;
use super::rollout::Pool;
use super::step_watch::StepWatch;
use super::{PreparedHost, RunOptions};
use crate::plan;
use crate::plan::Segment;
use crate::playbook::{Play, Task};
use crate::report::{HostStats, Reporter, Status, TaskResult};
use crate::script::{self, StepReport};
use crate::template::{Mode, Scope};
use crate::transport::{Connection, Connector, TransportError};

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

    /// Count an exec; returns its number on this host (1-based).
    pub(super) fn count_exec(&self, host: &str) -> u32 {
        let mut stats = self.stats.lock().unwrap();
        let execs = &mut stats.entry(host.to_string()).or_default().remote_execs;
        *execs += 1;
        *execs
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
    /// before it, so later segments are planned as we go.
    pub(super) async fn segments(&self, host: &PreparedHost, conn: &dyn Connection) -> bool {
        let mut scope = host.scope.clone();
        let mut finals = Finals::default();
        let mut planned_here: Option<Segment> = None;
        let lock = self.opts.lock.as_ref().map(|l| script::Lock {
            path: host.lock_path.clone(),
            holder: l.holder.clone(),
            wait_secs: l.wait_secs,
            break_stale: l.break_stale,
        });
        let on = OnHost { name: &host.name, conn, lock, become_password: host.become_password.as_ref() };
        loop {
            let segment = planned_here.as_ref().unwrap_or(&host.first);
            let last = segment.next >= self.selected.len();
            let Some(registered) = self.segment(&on, &scope, segment, &mut finals, last).await else {
                return false;
            };
            if last {
                return true;
            }
            scope = scope.with_native(registered);
            match plan::plan_segment(self.play, self.selected, segment.next, &scope, self.opts.intent()) {
                Ok(next) => planned_here = Some(next),
                Err(d) => {
                    self.report(self.result(&host.name, "plan".into(), Status::Failed, Some(d.to_string())));
                    return false;
                }
            }
        }
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
    /// is kept as a note saying so instead. `steps`: the script's step ids
    /// in order with their tasks' names: as each step ends, the next is
    /// announced ([`StepWatch`]).
    pub(super) async fn exec(
        &self,
        on: &OnHost<'_>,
        script: &script::Script,
        phase: &str,
        secret: bool,
        steps: &[(String, String)],
    ) -> Option<Vec<StepReport>> {
        let name = on.name;
        let n = self.count_exec(name);
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
        let watch = StepWatch::new(&script.nonce);
        let progress = |chunk: &[u8]| {
            for ended in watch.feed(chunk) {
                let next = steps.iter().skip_while(|(id, _)| *id != ended).nth(1);
                if let Some((_, task)) = next.filter(|(_, task)| !task.is_empty()) {
                    self.reporter.step_start(name, task);
                }
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
        let output = match on.conn.exec(script, &progress).await {
            Ok(o) => o,
            Err(e) => {
                let status = match e {
                    TransportError::ShellKilled => Status::Failed,
                    _ => Status::Unreachable,
                };
                self.report(self.result(name, "exec".into(), status, Some(e.to_string())));
                return None;
            }
        };
        match script::parse(&output.stdout, &output.stderr, &script.nonce) {
            Ok(reports) => Some(reports),
            Err(script::ParseError::Truncated { last: None }) if output.status == Some(script::SETUP_FAILED) => {
                let why = String::from_utf8_lossy(&output.stderr).trim().to_string();
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
