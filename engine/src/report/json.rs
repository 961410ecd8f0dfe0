//! `--format json`: one object per line on stdout, for machines. Each
//! function builds one event; the [`Printer`](super::Printer) writes it.

use serde_json::{json, Value};

use super::{Event, Recap, TaskResult};
use crate::diagnostic::Diagnostic;

/// The JSON line of a run event; None for events JSON leaves out (bars'
/// bookkeeping).
pub fn event(event: &Event<'_>) -> Option<Value> {
    Some(match *event {
        Event::Play { play, hosts, check } => json!({"event": "play", "play": play, "hosts": hosts, "check": check}),
        Event::Batch { index, total, hosts } => json!({"event": "batch", "batch": index, "of": total, "hosts": hosts}),
        Event::HostPhase { host, phase } => json!({"event": "host", "host": host, "phase": phase}),
        Event::Task(result) => task(result),
        Event::Warning(message) => json!({"event": "warning", "msg": message}),
        Event::Recap(recap) => self::recap(recap),
        Event::HostStart { .. }
        | Event::HostNote { .. }
        | Event::StepStart { .. }
        | Event::StepEnded(_)
        | Event::HostDone { .. } => return None,
    })
}

fn task(result: &TaskResult) -> Value {
    let mut event = serde_json::Map::new();
    event.insert("event".into(), json!("task"));
    if let Value::Object(fields) = serde_json::to_value(result).unwrap_or_default() {
        event.extend(fields);
    }
    Value::Object(event)
}

fn recap(recap: &Recap) -> Value {
    let pinned: serde_json::Map<String, Value> = recap.pinned.iter().map(|(r, d)| (r.clone(), json!(d))).collect();
    let mut event = json!({"event": "recap", "hosts": recap.hosts, "pinned": pinned});
    if recap.any_rollout() {
        let outcomes: serde_json::Map<String, Value> =
            recap.rollout_groups().into_iter().map(|(o, hosts)| (o.key().to_string(), json!(hosts))).collect();
        event["rollout"] = Value::Object(outcomes);
    }
    event
}

/// An input error: where (if known), what, and the hint.
pub fn input_error(d: &Diagnostic) -> Value {
    let mut event = json!({"event": "error", "msg": d.message});
    if let Some(span) = &d.span {
        event["file"] = json!(span.path().display().to_string());
        event["line"] = json!(span.line);
        event["col"] = json!(span.col);
    }
    if let Some(hint) = &d.hint {
        event["hint"] = json!(hint);
    }
    event
}

/// Any other error: its message.
pub fn error(message: &str) -> Value {
    json!({"event": "error", "msg": message.trim_end()})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::SourceFile;
    use crate::report::{HostStats, RolloutEvent, Status};

    #[test]
    fn run_events() {
        let hosts = ["web1".to_string(), "web2".to_string()];
        let mut changed = TaskResult::new("site", "web1", "run migration", Status::Changed, Some("ran".into()));
        changed.stdout = Some("migrated 3 tables".into());
        changed.stderr = Some(String::new());
        changed.rc = Some(0);
        changed.cmd = Some("not in JSON".into());
        let mut failed = TaskResult::new("site", "web2", "check", Status::Failed, Some("exit code 1".into()));
        failed.ignored = true;
        failed.diff = Some("-a\n+b\n".into());
        let recap = Recap {
            hosts: [(
                "web1".to_string(),
                HostStats {
                    ok: 2,
                    changed: 1,
                    remote_execs: 1,
                    sessions: 1,
                    round_trips: 2,
                    rollout: vec![RolloutEvent::parse("upgraded web sha256:a -> sha256:b").unwrap()],
                    ..Default::default()
                },
            )]
            .into(),
            pinned: vec![("nginx:1".into(), "sha256:b".into())],
        };
        let events = [
            Event::Play { play: "site", hosts: &hosts, check: false },
            Event::Batch { index: 1, total: 2, hosts: &hosts[..1] },
            Event::HostStart { host: "web1" },
            Event::HostPhase { host: "web1", phase: "probing" },
            Event::StepStart { host: "web1", task: "run migration" },
            Event::Task(&changed),
            Event::Task(&failed),
            Event::HostDone { host: "web1" },
            Event::Warning("careful"),
            Event::Recap(&recap),
        ];
        let lines: Vec<String> = events.iter().filter_map(event).map(|v| v.to_string()).collect();
        insta::assert_snapshot!(lines.join("\n"));
    }

    #[test]
    fn errors() {
        let file = SourceFile::new("site.yml", "- hosts: all\n  tasks:\n    - cpy: {}\n");
        let placed = Diagnostic::at(&file.span(3, 7, 3), "unknown module `cpy`").with_hint("did you mean `copy`?");
        let lines = [input_error(&placed), input_error(&Diagnostic::new("no inventory")), error("interrupted\n")];
        insta::assert_snapshot!(lines.iter().map(Value::to_string).collect::<Vec<_>>().join("\n"));
    }
}
