//! Ansible's dynamic flow through the local transport: `set_fact`,
//! `include_vars`, `changed_when`, `failed_when`, `until`/`retries` and
//! `block`/`rescue`/`always`, with the meaning ansible-core gives them (the
//! expectations follow its documentation's examples and TaskExecutor).

use super::tests::{dir, run, Said};
use super::RunOptions;
use crate::report::{Recap, Status};

/// The task results, in order: name, status, message.
fn tasks(said: &[Said]) -> Vec<(String, Status)> {
    said.iter()
        .filter_map(|s| match s {
            Said::Task { task, status, .. } => Some((task.clone(), *status)),
            _ => None,
        })
        .collect()
}

fn msg_of<'s>(said: &'s [Said], name: &str) -> Option<&'s str> {
    said.iter().find_map(|s| match s {
        Said::Task { task, msg, .. } if task == name => msg.as_deref(),
        _ => None,
    })
}

fn read(root: &std::path::Path, name: &str) -> String {
    std::fs::read_to_string(root.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn counts(recap: &Recap) -> (u32, u32, u32, u32, u32) {
    let h = &recap.hosts["local"];
    (h.ok, h.changed, h.failed, h.rescued, h.skipped)
}

use Status::{Changed, Failed, Ok, Skipped};

fn t(name: &str, status: Status) -> (String, Status) {
    (name.to_string(), status)
}

#[test]
fn set_fact_gives_later_tasks_variables_in_order() {
    let (_tmp, root) = dir();
    let playbook = r#"
- hosts: all
  vars:
    port: 80
  tasks:
    - name: facts
      set_fact:
        port: 8080
        url: "http://h:{{ port }}"
    - name: accumulate
      set_fact: names="{{ (names | default([])) + [item] }}"
      loop: [a, b, c]
    - name: registered
      set_fact: {x: 1}
      register: sf
    - shell: "echo dynamic"
      register: out
      changed_when: false
    - name: from a result
      set_fact:
        said: "{{ out.stdout }}"
    - name: write
      copy:
        dest: "@ROOT@/out"
        content: "{{ port }} {{ url }} {{ names | join(',') }} {{ sf.ansible_facts.x }} {{ said }}\n"
"#;
    let (said, recap) = run(&root, playbook, RunOptions::default());
    assert!(root.join("out").exists(), "{said:#?}");
    assert_eq!(read(&root, "out"), "8080 http://h:80 a,b,c 1 dynamic\n", "{said:#?}");
    assert_eq!(
        tasks(&said),
        [
            t("facts", Ok),
            t("accumulate", Ok),
            t("registered", Ok),
            t("shell", Ok),
            t("from a result", Ok),
            t("write", Changed)
        ]
    );
    let host = &recap.hosts["local"];
    assert_eq!(host.sessions, 1);
    // Extra vars win over set_fact, as in Ansible.
    let extra: crate::template::Vars = [("port".to_string(), serde_json::json!(1))].into_iter().collect();
    let (_, _) = run(&root, playbook, RunOptions { extra_vars: std::sync::Arc::new(extra), ..Default::default() });
    assert!(read(&root, "out").starts_with("1 http://h:1 "), "{}", read(&root, "out"));
}

#[test]
fn include_vars_reads_files_beside_the_playbook() {
    let (_tmp, root) = dir();
    std::fs::create_dir_all(root.join("vars/more")).unwrap();
    std::fs::write(root.join("vars/debian.yml"), "pkg: nginx\nport: 81\n").unwrap();
    std::fs::write(root.join("vars/more/a.yml"), "a: 1\n").unwrap();
    std::fs::write(root.join("vars/more/b.json"), "{\"b\": 2}\n").unwrap();
    std::fs::write(root.join("vars/more/skip.txt"), "c: 3\n").unwrap();
    let playbook = r#"
- hosts: all
  tasks:
    - include_vars: debian.yml
    - include_vars: {file: vars/debian.yml, name: os}
    - include_vars: {dir: vars/more}
    - copy:
        dest: "@ROOT@/out"
        content: "{{ pkg }} {{ os.port }} {{ a }} {{ b }} {{ c | default('none') }}\n"
"#;
    let (said, _) = run(&root, playbook, RunOptions::default());
    assert_eq!(read(&root, "out"), "nginx 81 1 2 none\n", "{said:#?}");
}

#[test]
fn changed_when_and_failed_when_judge_the_result() {
    let (_tmp, root) = dir();
    let playbook = r#"
- hosts: all
  tasks:
    - name: a read
      command: "cat /etc/hostname"
      changed_when: false
    - name: changes on output
      shell: "echo created"
      register: r
      changed_when: "'created' in r.stdout"
      notify: note
    - name: same, unchanged
      shell: "echo same"
      register: r
      changed_when: "'created' in r.stdout"
      notify: other
    - name: rc 1 is fine
      shell: "exit 1"
      register: grep
      failed_when: grep.rc > 1
    - name: after
      copy: {dest: "@ROOT@/after", content: "{{ grep.rc }}\n"}
    - name: fails on output
      shell: "echo ERROR"
      register: r
      failed_when: "'ERROR' in r.stdout"
    - name: never
      copy: {dest: "@ROOT@/never", content: "x\n"}
  handlers:
    - name: note
      copy: {dest: "@ROOT@/noted", content: "x\n"}
    - name: other
      copy: {dest: "@ROOT@/other", content: "x\n"}
"#;
    let (said, recap) = run(&root, playbook, RunOptions::default());
    assert_eq!(
        tasks(&said),
        [
            t("a read", Ok),
            t("changes on output", Changed),
            t("same, unchanged", Ok),
            t("rc 1 is fine", Changed),
            t("after", Changed),
            t("fails on output", Failed),
        ],
        "{said:#?}"
    );
    assert_eq!(read(&root, "after"), "1\n");
    assert!(msg_of(&said, "fails on output").unwrap().contains("failed_when"), "{said:#?}");
    assert!(!root.join("never").exists());
    // The host failed before the play's end: no handler ran.
    assert!(!root.join("noted").exists());
    assert_eq!(counts(&recap).2, 1);
}

#[test]
fn changed_when_decides_which_handlers_run() {
    let (_tmp, root) = dir();
    let playbook = r#"
- hosts: all
  tasks:
    - shell: "echo created"
      register: r
      changed_when: "'created' in r.stdout"
      notify: note
    - shell: "echo same"
      register: r
      changed_when: "'created' in r.stdout"
      notify: other
  handlers:
    - name: note
      copy: {dest: "@ROOT@/noted", content: "x\n"}
    - name: other
      copy: {dest: "@ROOT@/other", content: "x\n"}
"#;
    let (said, _) = run(&root, playbook, RunOptions::default());
    assert!(root.join("noted").exists(), "{said:#?}");
    assert!(!root.join("other").exists(), "the shell ran, but changed_when said unchanged: {said:#?}");
}

#[test]
fn until_retries_the_task_on_the_same_session() {
    let (_tmp, root) = dir();
    let playbook = r#"
- hosts: all
  tasks:
    - name: third time lucky
      shell: "echo x >>@ROOT@/tries; wc -l <@ROOT@/tries"
      register: r
      until: r.stdout | int >= 3
      retries: 5
      delay: 0
    - name: record
      copy: {dest: "@ROOT@/attempts", content: "{{ r.attempts }}\n"}
    - name: never works
      shell: "exit 2"
      retries: 1
      delay: 0
"#;
    let (said, recap) = run(&root, playbook, RunOptions::default());
    assert_eq!(read(&root, "tries").lines().count(), 3, "{said:#?}");
    assert_eq!(read(&root, "attempts"), "3\n");
    assert_eq!(tasks(&said), [t("third time lucky", Changed), t("record", Changed), t("never works", Failed)]);
    assert!(msg_of(&said, "never works").unwrap().contains("gave up after 2 attempts"), "{said:#?}");
    assert_eq!(recap.hosts["local"].sessions, 1);
}

const BLOCKS: &str = r#"
- hosts: all
  tasks:
    - name: rescued
      block:
        - name: body ok
          copy: {dest: "@ROOT@/body", content: "x\n"}
          notify: note
        - name: body fails
          shell: "echo boom >&2; exit 3"
        - name: body never
          copy: {dest: "@ROOT@/body-never", content: "x\n"}
      rescue:
        - name: rescue
          copy: {dest: "@ROOT@/rescue", content: "{{ ansible_failed_task.name }} {{ ansible_failed_result.rc }}\n"}
      always:
        - name: always
          copy: {dest: "@ROOT@/always", content: "x\n"}
    - name: untouched rescue
      block:
        - name: fine
          copy: {dest: "@ROOT@/fine", content: "{{ v }}\n"}
      rescue:
        - name: not run
          copy: {dest: "@ROOT@/not-run", content: "x\n"}
      vars:
        v: from the block
    - name: skipped block
      when: false
      block:
        - name: in a skipped block
          copy: {dest: "@ROOT@/skipped", content: "x\n"}
    - name: unrescued
      block:
        - name: fails again
          shell: "exit 5"
      always:
        - name: cleanup
          copy: {dest: "@ROOT@/cleanup", content: "x\n"}
    - name: after the failure
      copy: {dest: "@ROOT@/after", content: "x\n"}
  handlers:
    - name: note
      copy: {dest: "@ROOT@/noted", content: "x\n"}
"#;

#[test]
fn block_rescue_always_as_ansible_runs_them() {
    let (_tmp, root) = dir();
    let (said, recap) = run(&root, BLOCKS, RunOptions::default());
    assert_eq!(
        tasks(&said),
        [
            t("body ok", Changed),
            t("body fails", Failed),
            t("rescue", Changed),
            t("always", Changed),
            t("fine", Changed),
            t("in a skipped block", Skipped),
            t("fails again", Failed),
            t("cleanup", Changed),
        ],
        "{said:#?}"
    );
    assert_eq!(read(&root, "rescue"), "body fails 3\n");
    assert_eq!(read(&root, "fine"), "from the block\n");
    for never in ["body-never", "not-run", "skipped", "after"] {
        assert!(!root.join(never).exists(), "{never}");
    }
    // The host failed in the end: handlers do not run (no force_handlers).
    assert!(!root.join("noted").exists());
    // ok counts changed too, as Ansible's recap does.
    assert_eq!(counts(&recap), (5, 5, 1, 1, 1));
}

#[test]
fn a_rescued_failure_keeps_the_handlers_raised_before_it() {
    let (_tmp, root) = dir();
    let playbook = r#"
- hosts: all
  tasks:
    - block:
        - copy: {dest: "@ROOT@/a", content: "x\n"}
          notify: note
        - shell: "exit 1"
      rescue:
        - copy: {dest: "@ROOT@/r", content: "x\n"}
  handlers:
    - name: note
      copy: {dest: "@ROOT@/noted", content: "x\n"}
"#;
    let (said, recap) = run(&root, playbook, RunOptions::default());
    assert!(root.join("noted").exists(), "{said:#?}");
    assert_eq!(counts(&recap).2, 0, "a rescued failure does not fail the host");
}
