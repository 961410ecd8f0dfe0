//! The run path end to end through the local transport: real scripts in a
//! real `sh` on this machine, no SSH.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{execute, prepare, RunOptions};
use crate::inventory::Inventory;
use crate::playbook::load_playbook;
use crate::report::{Event, Recap, Reporter, Status};
use crate::transport::LocalConnector;

/// What a run told its reporter, in order.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Said {
    Step { task: String, item: Option<String>, status: Status, probe: bool },
    Task { task: String, status: Status, msg: Option<String> },
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Said>>);

impl Reporter for Recorder {
    fn event(&self, event: Event<'_>) {
        let said = match event {
            Event::StepEnded(s) => {
                Said::Step { task: s.task.clone(), item: s.item.clone(), status: s.status, probe: s.probe }
            }
            Event::Task(r) => Said::Task { task: r.task.clone(), status: r.status, msg: r.msg.clone() },
            _ => return,
        };
        self.0.lock().unwrap().push(said);
    }
}

/// A playbook (`@ROOT@`: `dir`) run on the local host; what was said, and
/// the recap.
pub(super) fn run(dir: &Path, playbook: &str, opts: RunOptions) -> (Vec<Said>, Recap) {
    let pb = dir.join("play.yml");
    std::fs::write(&pb, playbook.replace("@ROOT@", &dir.display().to_string())).unwrap();
    let inv = dir.join("hosts");
    std::fs::write(&inv, "local ansible_connection=local\n").unwrap();
    let playbook = load_playbook(&pb).unwrap();
    let inventory = Inventory::load(&[inv]).unwrap();
    let opts = RunOptions { forks: super::Forks::new(1), ..opts };
    let prepared = prepare(&playbook, &inventory, &opts).unwrap();
    let recorder = Arc::new(Recorder::default());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let recap = runtime.block_on(execute(prepared, Arc::new(LocalConnector), recorder.clone(), &opts));
    let said = recorder.0.lock().unwrap().clone();
    (said, recap)
}

pub(super) fn dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().to_path_buf();
    (tmp, path)
}

fn step(task: &str, item: Option<&str>, status: Status, probe: bool) -> Said {
    Said::Step { task: task.into(), item: item.map(String::from), status, probe }
}

const THREE: &str = r#"
- hosts: all
  tasks:
    - name: one
      copy: {dest: "@ROOT@/one", content: "1\n"}
    - name: two
      shell: "echo {{ item }} >>@ROOT@/two"
      loop: [a, b]
      loop_control: {label: "{{ item | upper }}"}
    - name: three
      copy: {dest: "@ROOT@/three", content: "3\n"}
"#;

/// Each step's end is told as the host says it, before the task results
/// of its script, in the order the steps ran; a loop's steps by their
/// `loop_control.label`, in the task's message too.
#[test]
fn steps_are_told_as_they_end_then_tasks() {
    let (_tmp, root) = dir();
    let (said, recap) = run(&root, THREE, RunOptions::default());
    let probe: Vec<&Said> = said.iter().take_while(|s| matches!(s, Said::Step { probe: true, .. })).collect();
    assert_eq!(probe.len(), 4, "every step's look: {said:#?}");
    let rest = &said[probe.len()..];
    assert_eq!(
        rest,
        [
            step("one", None, Status::Changed, false),
            step("two", Some("A"), Status::Changed, false),
            step("two", Some("B"), Status::Changed, false),
            step("three", None, Status::Changed, false),
            Said::Task { task: "one".into(), status: Status::Changed, msg: Some("create".into()) },
            Said::Task { task: "two".into(), status: Status::Changed, msg: Some("(A) ran\n(B) ran".into()) },
            Said::Task { task: "three".into(), status: Status::Changed, msg: Some("create".into()) },
        ]
    );
    assert_eq!(std::fs::read_to_string(root.join("two")).unwrap(), "a\nb\n");
    let host = &recap.hosts["local"];
    assert_eq!((host.sessions, host.round_trips, host.remote_execs), (1, 2, 1), "{host:?}");

    // Check mode: the probe only; its steps' ends are told as looks.
    let (said, recap) = run(&root, THREE, RunOptions { check: true, ..Default::default() });
    let statuses: Vec<(&str, Status)> = said
        .iter()
        .filter_map(|s| match s {
            Said::Step { task, status, probe, .. } => {
                assert!(probe, "check mode applies nothing: {said:#?}");
                Some((task.as_str(), *status))
            }
            Said::Task { .. } => None,
        })
        .collect();
    let c = Status::Changed;
    assert_eq!(statuses, [("one", Status::Ok), ("two", c), ("two", c), ("three", Status::Ok)]);
    assert_eq!(recap.hosts["local"].round_trips, 1);
}

/// A failing task stops its host: what comes after it is neither run nor
/// reported; an ignored failure does not.
#[test]
fn a_failure_stops_the_host_unless_ignored() {
    let (_tmp, root) = dir();
    let (said, recap) = run(
        &root,
        r#"
- hosts: all
  tasks:
    - name: ignored
      shell: "exit 3"
      ignore_errors: true
    - name: fails
      shell: "echo broken >&2; exit 4"
    - name: never
      copy: {dest: "@ROOT@/never", content: "x\n"}
"#,
        RunOptions::default(),
    );
    let tasks: Vec<(&str, Status, Option<&str>)> = said
        .iter()
        .filter_map(|s| match s {
            Said::Task { task, status, msg } => Some((task.as_str(), *status, msg.as_deref())),
            _ => None,
        })
        .collect();
    assert_eq!(
        tasks,
        [("ignored", Status::Failed, Some("exit code 3")), ("fails", Status::Failed, Some("exit code 4: broken"))]
    );
    assert!(!root.join("never").exists());
    assert_eq!((recap.hosts["local"].failed, recap.hosts["local"].ignored), (1, 1));
}

/// Three register-dependent cuts: four segments, each probed and applied
/// over the one session; a no-op run only probes them.
#[test]
fn register_dependent_cuts_are_round_trips_on_one_session() {
    let (_tmp, root) = dir();
    let playbook = r#"
- hosts: all
  tasks:
    - copy: {dest: "@ROOT@/1", content: "1\n"}
      register: one
    - copy: {dest: "@ROOT@/2", content: "{{ one.changed }}\n"}
      register: two
      when: one is defined
    - copy: {dest: "@ROOT@/3", content: "3\n"}
      register: three
      when: not two.failed
    - copy: {dest: "@ROOT@/4", content: "4\n"}
      when: not three.failed
"#;
    let (_, recap) = run(&root, playbook, RunOptions::default());
    let host = &recap.hosts["local"];
    assert_eq!((host.sessions, host.round_trips, host.changed), (1, 8, 4), "{host:?}");
    assert_eq!(std::fs::read_to_string(root.join("2")).unwrap(), "True\n");
    let (_, recap) = run(&root, playbook, RunOptions::default());
    let host = &recap.hosts["local"];
    // `one` did not change this time: task 2's content follows it.
    assert_eq!((host.sessions, host.round_trips, host.changed), (1, 4 + 1, 1), "{host:?}");
    assert_eq!(std::fs::read_to_string(root.join("2")).unwrap(), "False\n");
}
