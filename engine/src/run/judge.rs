//! `changed_when`, `failed_when` and `until`: the controller's verdict on a
//! task's result, per loop item, as ansible-core's TaskExecutor gives it:
//! `changed_when` first, then `failed_when` (each seeing the result under
//! the task's `register` name, with what the one before set), then
//! `until`, which defaults to "not failed" when only `retries` is given.

use serde_json::Value;

use crate::playbook::{Located, Task};
use crate::report::Status;
use crate::template::Scope;

/// What the controller made of one item's result.
#[derive(Debug, PartialEq)]
pub(super) struct Verdict {
    pub status: Status,
    /// `until` holds (true when the task has none).
    pub until_met: bool,
    /// Why the verdict failed a result the module did not fail.
    pub why: Option<String>,
}

/// Judge one item's `result` (updated in place: `changed`, `failed`,
/// `failed_when_result`, `attempts`) whose module said `status`; `scope`
/// is the item's scope, `attempt` counts from 1.
pub(super) fn judge(task: &Task, scope: &Scope, result: &mut Value, status: Status, attempt: u32) -> Verdict {
    if status == Status::Skipped {
        return Verdict { status, until_met: true, why: None };
    }
    if task.until.is_some() {
        result["attempts"] = Value::from(attempt);
    }
    let bound = |result: &Value| match &task.register {
        Some(r) => scope.with_native([(r.clone(), minijinja::Value::from(minijinja::value::Serde(result)))]),
        None => scope.clone(),
    };
    let mut why = None;
    let mut judged = || -> Result<(), (String, String)> {
        if let Some(conds) = task.changed_when.as_ref().filter(|c| !c.is_empty()) {
            let changed = holds(conds, &bound(result)).map_err(|e| ("changed_when_result".to_string(), e))?;
            result["changed"] = Value::Bool(changed);
        }
        if let Some(conds) = task.failed_when.as_ref().filter(|c| !c.is_empty()) {
            let failed = holds(conds, &bound(result)).map_err(|e| ("failed_when_result".to_string(), e))?;
            result["failed_when_result"] = Value::Bool(failed);
            result["failed"] = Value::Bool(failed);
            if failed && status != Status::Failed {
                why = Some(format!("failed_when: {} holds", texts(conds)));
            }
        }
        Ok(())
    };
    if let Err((key, message)) = judged() {
        result["failed"] = Value::Bool(true);
        why = Some(format!("{}: {message}", key.trim_end_matches("_result")));
        result[key] = Value::String(message);
    }
    let flag = |k: &str| result.get(k).and_then(Value::as_bool).unwrap_or(false);
    let failed = flag("failed") || (status == Status::Failed && task.failed_when.as_ref().is_none_or(Vec::is_empty));
    let status = match (failed, flag("changed")) {
        (true, _) => Status::Failed,
        (false, true) => Status::Changed,
        (false, false) => Status::Ok,
    };
    let until_met = match &task.until {
        None => true,
        Some(u) if u.conditions.is_empty() => !failed,
        Some(u) => holds(&u.conditions, &bound(result)).unwrap_or(false),
    };
    Verdict { status, until_met, why }
}

/// Whether every condition holds; the first error met, as text.
fn holds(conds: &[Located], scope: &Scope) -> Result<bool, String> {
    for c in conds {
        if !scope.eval_bool(&c.text).map_err(|e| e.message)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn texts(conds: &[Located]) -> String {
    conds.iter().map(|c| format!("`{}`", c.text)).collect::<Vec<_>>().join(" and ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::load_playbook;
    use serde_json::json;

    /// The tasks of a playbook, and a scope to judge them in.
    fn tasks(yaml: &str) -> (tempfile::TempDir, crate::playbook::Playbook) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.yml");
        std::fs::write(&path, yaml).unwrap();
        let book = load_playbook(&path).unwrap();
        (dir, book)
    }

    fn scope() -> Scope {
        Scope::new(vec![std::sync::Arc::new(crate::template::Vars::new())], Default::default())
    }

    const PLAY: &str = r#"
- hosts: all
  tasks:
    - name: never changes
      command: "true"
      register: r
      changed_when: false
    - name: changes on output
      command: "true"
      register: r
      changed_when: "'new' in r.stdout"
    - name: fails on output, not on rc
      command: "true"
      register: r
      failed_when: "'ERROR' in r.stdout or r.rc > 1"
    - name: both, the second sees the first
      command: "true"
      register: r
      changed_when: r.rc == 0
      failed_when: r.changed and r.rc == 0
    - name: retried
      command: "true"
      register: r
      until: r.stdout == 'ready'
      retries: 2
    - name: retried until it works
      command: "true"
      retries: 1
    - name: broken condition
      command: "true"
      register: r
      changed_when: r.nope.deeper
"#;

    fn judged(task: usize, result: Value, status: Status) -> (Verdict, Value) {
        let (_d, book) = tasks(PLAY);
        let mut result = result;
        let verdict = judge(&book.plays[0].tasks[task], &scope(), &mut result, status, 1);
        (verdict, result)
    }

    fn out(rc: i32, stdout: &str) -> Value {
        json!({"rc": rc, "stdout": stdout, "changed": true, "failed": rc != 0})
    }

    #[test]
    fn changed_when_decides_changed() {
        let (v, r) = judged(0, out(0, "x"), Status::Changed);
        assert_eq!((v.status, r["changed"].clone()), (Status::Ok, json!(false)));
        assert_eq!(judged(1, out(0, "a new b"), Status::Changed).0.status, Status::Changed);
        assert_eq!(judged(1, out(0, "same"), Status::Changed).0.status, Status::Ok);
        // A failure stays one: changed_when does not say what failed.
        assert_eq!(judged(0, out(2, ""), Status::Failed).0.status, Status::Failed);
    }

    #[test]
    fn failed_when_replaces_the_modules_verdict() {
        let (v, r) = judged(2, out(1, "fine"), Status::Failed);
        assert_eq!(
            (v.status, r["failed"].clone(), r["failed_when_result"].clone()),
            (Status::Changed, json!(false), json!(false))
        );
        let (v, _) = judged(2, out(0, "an ERROR here"), Status::Changed);
        assert_eq!(v.status, Status::Failed);
        assert!(v.why.unwrap().contains("failed_when"));
        let (v, _) = judged(3, out(0, ""), Status::Ok);
        assert_eq!(v.status, Status::Failed, "failed_when sees what changed_when set");
    }

    #[test]
    fn until_and_retries() {
        let (v, r) = judged(4, out(0, "starting"), Status::Changed);
        assert!(!v.until_met);
        assert_eq!(r["attempts"], json!(1));
        assert!(judged(4, out(0, "ready"), Status::Changed).0.until_met);
        assert!(!judged(5, out(1, ""), Status::Failed).0.until_met, "retries alone: until not failed");
        assert!(judged(5, out(0, ""), Status::Changed).0.until_met);
    }

    #[test]
    fn a_condition_that_cannot_be_evaluated_fails_the_task() {
        let (v, r) = judged(6, out(0, ""), Status::Changed);
        assert_eq!(v.status, Status::Failed);
        assert!(r["changed_when_result"].as_str().unwrap().contains("nope"), "{r}");
    }
}
