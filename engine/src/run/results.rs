//! What a step's report means: its status, the message shown, the value
//! `register:` stores, and the diff of what it changed.

use serde_json::{json, Value};

use serde_json::Map;

use crate::plan::{SkippedItem, Step};
use crate::report::{Status, TaskResult};
use crate::script::{Outcome, StepReport, StepStatus};

/// A step's status. From a probe (check mode), "changed" means "would change".
pub(super) fn step_status(r: &StepReport) -> Status {
    status_of(r.rc, &r.status)
}

/// The status of a step that exited with `rc` and said `status`.
pub(super) fn status_of(rc: i32, status: &StepStatus) -> Status {
    match (rc, status.outcome) {
        (0, Outcome::Changed) => Status::Changed,
        (0, Outcome::Skipped) => Status::Skipped,
        (0, Outcome::Ok) => Status::Ok,
        _ => Status::Failed,
    }
}

/// What to say of a step. Under `no_log`, only that a failure's output is
/// hidden: a module's reason may quote its arguments (a path, a name), and
/// those may be the secret, as in Ansible.
pub(super) fn step_message(r: &StepReport, status: Status, no_log: bool) -> Option<String> {
    if no_log {
        return (status == Status::Failed).then(|| "the output has been hidden due to no_log".into());
    }
    match status {
        Status::Failed => {
            let stderr = String::from_utf8_lossy(&r.stderr);
            let stdout = String::from_utf8_lossy(&r.stdout);
            let detail = if stderr.trim().is_empty() { stdout.trim() } else { stderr.trim() };
            let mut message =
                if detail.is_empty() { format!("exit code {}", r.rc) } else { format!("exit code {}: {detail}", r.rc) };
            if let Some((_, hint)) = BECOME_HINTS.iter().find(|(said, _)| detail.contains(said)) {
                message.push_str("\n  hint: ");
                message.push_str(hint);
            }
            Some(message)
        }
        Status::Changed | Status::Skipped => r.reason().map(str::to_string),
        _ => None,
    }
}

/// What sudo and su (or push_sudo and push_su, script_runtime.sh) say when
/// becoming fails for want of the right password, and the way out.
const BECOME_HINTS: &[(&str, &str)] = &[
    (
        "sudo: a password is required",
        "the login user's sudo needs a password: give it with -K (--ask-become-pass) or ansible_become_password",
    ),
    (
        "sudo on this host refused the become password",
        "sudo asks for the login user's password: check the one given with -K or this host's ansible_become_password",
    ),
    (
        "su: a password is required",
        "su needs the password of the user it becomes: give it with -K (--ask-become-pass) or ansible_become_password",
    ),
    (
        "This account is currently not available",
        "su runs the step from the user's shell in /etc/passwd, here nologin: add `become_flags: \"-s /bin/sh\"`",
    ),
    (
        "su on this host refused the become password",
        "su asks for the password of the user it becomes (root's for root): check the one given with -K or this host's ansible_become_password",
    ),
];

/// A step's message, after its loop item; under `no_log`, after the item's
/// place in the loop only: the item may be the secret (a loop over
/// passwords).
pub(super) fn item_message(step: &Step, no_log: bool, msg: String) -> String {
    match item_shown(step, no_log) {
        None => msg,
        Some(item) => format!("({item}) {msg}"),
    }
}

/// How a step's loop item is shown; under `no_log`, by its place only.
pub(super) fn item_shown(step: &Step, no_log: bool) -> Option<String> {
    match &step.item {
        None => None,
        Some(_) if no_log => Some(format!("item {}", step.item_position)),
        Some(item) => Some(step.label.clone().unwrap_or_else(|| item_label(item))),
    }
}

pub(super) fn item_label(item: &Value) -> String {
    match item {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What `register:` stores, shaped like Ansible's result; a loop item's
/// carries the loop's variables (`item`, `ansible_loop_var`...) too.
pub(super) fn register_value(
    r: &StepReport,
    status: Status,
    loop_vars: &Map<String, Value>,
    no_log: bool,
    from_probe: bool,
    check: bool,
) -> Value {
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim_end_matches('\n').to_string();
    // A probe's output is its look's, not the module's (but for --check,
    // where the look is all there is): unless the step said its probe was
    // its whole work (`push_ok`, a command `creates:` keeps from running).
    let probe_only = from_probe && !check && !r.status.done_in_probe;
    let (stdout, stderr) =
        if no_log || probe_only { (String::new(), String::new()) } else { (text(&r.stdout), text(&r.stderr)) };
    let mut v = json!({
        // A command that ran and failed changed something, as Ansible has it:
        // `failed_when` may make that a success that changed.
        "changed": status == Status::Changed || (status == Status::Failed && r.changed()),
        "failed": status == Status::Failed,
        "skipped": status == Status::Skipped,
        "rc": r.rc,
        "stdout": stdout,
        "stderr": stderr,
        "stdout_lines": stdout.lines().collect::<Vec<_>>(),
        "stderr_lines": stderr.lines().collect::<Vec<_>>(),
        "msg": msg(r, check),
    });
    if let Value::Object(map) = &mut v {
        map.extend(loop_vars.clone());
    }
    v
}

/// A step's reason as its registered `msg`; under --check, a command's
/// "Did not run" is Ansible's "Would not run".
fn msg(r: &StepReport, check: bool) -> String {
    let reason = r.reason().unwrap_or_default();
    match reason.strip_prefix("Did not run command") {
        Some(rest) if check && r.status.done_in_probe => format!("Would not run command{rest}"),
        _ => reason.to_string(),
    }
}

/// What `register:` stores for a task, or a loop item, that `when` skipped.
pub(super) fn skipped_value(s: &SkippedItem) -> Value {
    let mut v = json!({
        "changed": false,
        "skipped": true,
        "skip_reason": "Conditional result was False",
        "false_condition": s.false_condition,
    });
    if let Value::Object(map) = &mut v {
        map.extend(s.loop_vars.clone());
    }
    v
}

/// What `register:` stores for a loop: each item's result, in the loop's
/// order, under `results`, and the flags and message Ansible's task
/// executor sums them up with.
pub(super) fn loop_value(results: Vec<Value>) -> Value {
    if results.is_empty() {
        return json!({"changed": false, "skipped": true, "skipped_reason": "No items in the list", "results": []});
    }
    let flag = |v: &Value, k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
    let changed = results.iter().any(|v| flag(v, "changed"));
    let failed = results.iter().any(|v| flag(v, "failed"));
    let skipped = results.iter().all(|v| flag(v, "skipped"));
    let mut v = json!({"results": results, "skipped": skipped, "changed": changed});
    if failed {
        v["failed"] = true.into();
    }
    v["msg"] = match (skipped, failed) {
        (true, _) => "All items skipped",
        (false, true) => "One or more items failed",
        (false, false) => "All items completed",
    }
    .into();
    v
}

/// A unified diff of what a step changes, from the probe's "before" and the
/// controller's (or the host's) "after".
pub(super) fn diff_text(step: &Step, probe: Option<&StepReport>) -> Option<String> {
    let probe = probe?;
    let after = step.op.diff_after.clone().or_else(|| probe.after.clone())?;
    let before = probe.before.clone().unwrap_or_default();
    let (before, after) = (String::from_utf8_lossy(&before).into_owned(), String::from_utf8_lossy(&after).into_owned());
    if before == after {
        return None;
    }
    let label = step.op.diff_label.clone().unwrap_or_default();
    Some(
        similar::TextDiff::from_lines(&before, &after)
            .unified_diff()
            .context_radius(3)
            .header(&format!("before: {label}"), &format!("after: {label}"))
            .to_string(),
    )
}

/// What a task's steps printed, for `-v` and `--format json`: a loop's
/// items' output one after the other, and the worst exit code.
#[derive(Default)]
pub(super) struct TaskOutput {
    stdout: Vec<String>,
    stderr: Vec<String>,
    cmd: Vec<String>,
    rc: Option<i32>,
}

impl TaskOutput {
    pub(super) fn add(&mut self, r: &StepReport, cmd: &str) {
        let text = |b: &[u8]| String::from_utf8_lossy(b).trim_end_matches('\n').to_string();
        self.stdout.push(text(&r.stdout));
        self.stderr.push(text(&r.stderr));
        self.cmd.push(cmd.trim().to_string());
        self.rc = Some(match self.rc {
            Some(rc) if rc != 0 => rc,
            _ => r.rc,
        });
    }

    pub(super) fn fill(self, result: &mut TaskResult) {
        let Some(rc) = self.rc else { return };
        let join = |parts: Vec<String>| parts.into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join("\n");
        result.stdout = Some(join(self.stdout));
        result.stderr = Some(join(self.stderr));
        result.cmd = Some(join(self.cmd));
        result.rc = Some(rc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::StepStatus;

    /// The sums Ansible's task executor makes of a loop's item results.
    #[test]
    fn loop_values_sum_their_items_as_ansible_does() {
        assert_eq!(
            loop_value(vec![]),
            json!({"changed": false, "skipped": true, "skipped_reason": "No items in the list", "results": []})
        );
        let ok = json!({"changed": false, "failed": false, "skipped": false});
        let changed = json!({"changed": true, "failed": false, "skipped": false});
        let failed = json!({"changed": false, "failed": true, "skipped": false});
        let skipped = json!({"changed": false, "skipped": true});
        let top = |items: Vec<&Value>| {
            let mut v = loop_value(items.into_iter().cloned().collect());
            v.as_object_mut().unwrap().remove("results");
            v
        };
        assert_eq!(top(vec![&ok, &changed]), json!({"skipped": false, "changed": true, "msg": "All items completed"}));
        assert_eq!(
            top(vec![&ok, &failed, &skipped]),
            json!({"skipped": false, "changed": false, "failed": true, "msg": "One or more items failed"})
        );
        assert_eq!(
            top(vec![&skipped, &skipped]),
            json!({"skipped": true, "changed": false, "msg": "All items skipped"})
        );
    }

    /// A command `creates:` kept from running: what its look printed is
    /// its result, in Ansible's words for a run and for --check.
    #[test]
    fn a_command_kept_from_running_registers_what_its_look_said() {
        let report = StepReport {
            stdout: b"skipped, since /x exists\n".to_vec(),
            status: StepStatus::from_lines("ok Did not run command since '/x' exists\n"),
            ..Default::default()
        };
        let v = register_value(&report, Status::Ok, &Map::new(), false, true, false);
        assert_eq!(
            (&v["stdout"], &v["stdout_lines"], &v["rc"], &v["msg"]),
            (
                &json!("skipped, since /x exists"),
                &json!(["skipped, since /x exists"]),
                &json!(0),
                &json!("Did not run command since '/x' exists")
            )
        );
        let checked = register_value(&report, Status::Ok, &Map::new(), false, true, true);
        assert_eq!(checked["msg"], "Would not run command since '/x' exists");
        // Any other look's output is no result.
        let look = StepReport { stdout: b"look\n".to_vec(), ..Default::default() };
        assert_eq!(register_value(&look, Status::Ok, &Map::new(), false, true, false)["stdout"], "");
        let mut item = Map::new();
        item.insert("item".into(), json!("a"));
        assert_eq!(register_value(&look, Status::Ok, &item, true, false, false)["item"], "a");
    }
}
