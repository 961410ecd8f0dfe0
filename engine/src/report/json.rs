use std::io::Write;

use serde_json::json;

use super::{Recap, Reporter, TaskResult};

/// One JSON object per line on stdout, for machines.
pub struct JsonReporter;

fn emit(value: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

impl Reporter for JsonReporter {
    fn play_start(&self, play: &str, hosts: &[String], check: bool) {
        emit(json!({"event": "play", "play": play, "hosts": hosts, "check": check}));
    }
    fn batch_start(&self, index: usize, total: usize, hosts: &[String]) {
        emit(json!({"event": "batch", "batch": index, "of": total, "hosts": hosts}));
    }
    fn host_start(&self, _host: &str) {}
    fn host_phase(&self, host: &str, phase: &str) {
        emit(json!({"event": "host", "host": host, "phase": phase}));
    }
    fn task(&self, result: &TaskResult) {
        let mut event = serde_json::Map::new();
        event.insert("event".into(), json!("task"));
        if let serde_json::Value::Object(fields) = serde_json::to_value(result).unwrap_or_default() {
            event.extend(fields);
        }
        emit(serde_json::Value::Object(event));
    }
    fn host_done(&self, _host: &str) {}
    fn warn(&self, message: &str) {
        emit(json!({"event": "warning", "msg": message}));
    }
    fn recap(&self, recap: &Recap) {
        let pinned: serde_json::Map<String, serde_json::Value> =
            recap.pinned.iter().map(|(r, d)| (r.clone(), json!(d))).collect();
        let mut event = json!({"event": "recap", "hosts": recap.hosts, "pinned": pinned});
        if recap.any_rollout() {
            let outcomes: serde_json::Map<String, serde_json::Value> =
                recap.rollout_groups().into_iter().map(|(o, hosts)| (o.key().to_string(), json!(hosts))).collect();
            event["rollout"] = serde_json::Value::Object(outcomes);
        }
        emit(event);
    }
}
