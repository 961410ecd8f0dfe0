//! `push run` against real sshd hosts on 127.0.0.1 (see tests/support).
//!
//! Every test starts its own hosts and writes its own playbook into the
//! fleet's tempdir; every path a playbook touches is inside that tempdir
//! (`@ROOT@` in the playbook texts below), so no test changes the machine.
//! The hosts log in as the user running the tests (root in CI).

use std::path::{Path, PathBuf};

use push_tests::{read, require, require_sshd, write, Fleet, PushCmd, RunOutput};

#[path = "shared/converge.rs"]
mod converge;

/// Write `text` as `work/NAME` with `@ROOT@` replaced by `root`.
fn playbook(fleet: &Fleet, name: &str, text: &str, root: &Path) -> PathBuf {
    let path = fleet.work_dir().join(name);
    write(&path, text.replace("@ROOT@", &root.display().to_string()));
    path
}

/// `push run PLAYBOOK -i INVENTORY --format json EXTRA...` from the work dir.
/// Checks the output is JSON lines ending with a recap.
fn run_json(fleet: &Fleet, playbook: &Path, inventory: &Path, extra: &[&str]) -> RunOutput {
    let out = PushCmd::run_playbook(playbook, inventory)
        .args(["--format", "json"])
        .args(extra.iter().copied())
        .current_dir(fleet.work_dir())
        .run();
    out.recap();
    out
}

/// `work/out/<alias>` for each alias, created.
fn out_dirs(fleet: &Fleet) -> PathBuf {
    let root = fleet.work_dir().join("out");
    for alias in fleet.aliases() {
        std::fs::create_dir_all(root.join(alias)).unwrap();
    }
    root
}

/// `word` appears in `text` as a whole word (not inside a path or a longer name).
fn has_word(text: &str, word: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).any(|w| w == word)
}

#[test]
fn converge_ten_tasks_then_rerun_changes_nothing() {
    require!(require_sshd());
    let mut fleet = Fleet::start(2);
    let (pb, root) = converge::stage(&mut fleet);

    let first = run_json(&fleet, &pb, &fleet.inventory(), &[]);
    first.assert_code(0);
    let recap = first.recap();
    for (alias, color) in converge::COLORS {
        let r = recap.host(alias);
        assert_eq!((r.failed, r.unreachable), (0, 0), "{alias}: {r:?}\n{first}");
        assert_eq!(r.changed, 10, "every task changes something on a new host ({alias}: {r:?})\n{first}");
        let events = first.tasks_of(alias);
        let names: Vec<&str> = events.iter().map(|e| e.task.as_str()).collect();
        assert_eq!(names, converge::TASKS, "task events of {alias} in order\n{first}");
        assert!(events.iter().all(|e| e.status == "changed"), "{first}");
        converge::assert_converged(&root, alias, color);
    }

    let second = run_json(&fleet, &pb, &fleet.inventory(), &[]);
    second.assert_code(0);
    let recap = second.recap();
    for (alias, color) in converge::COLORS {
        let r = recap.host(alias);
        assert_eq!((r.changed, r.failed, r.unreachable), (0, 0, 0), "{alias}: {r:?}\n{second}");
        assert!(r.remote_execs <= 2, "a no-op run may cost at most 2 remote execs per host ({alias}: {r:?})\n{second}");
        assert!(r.remote_execs >= 1, "the host was not even looked at? ({alias}: {r:?})\n{second}");
        for e in second.tasks_of(alias) {
            assert!(e.status == "ok" || e.status == "skipped", "second run: {e:?}\n{second}");
        }
        assert_eq!(second.tasks_of(alias).len(), 10, "{second}");
        converge::assert_converged(&root, alias, color);
    }
}

#[test]
fn check_mode_reports_changes_and_changes_nothing() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let root = out_dirs(&fleet);
    let text = |content: &str| {
        format!(
            "- name: check\n  hosts: all\n  tasks:\n    - name: settings file\n      copy:\n        dest: \"@ROOT@/{{{{ inventory_hostname }}}}/settings.conf\"\n        content: \"{content}\"\n"
        )
    };
    let file = root.join("h1/settings.conf");
    let pb = playbook(&fleet, "check.yml", &text("first = 1\\ncolor = old\\n"), &root);
    run_json(&fleet, &pb, &fleet.inventory(), &[]).assert_code(0);
    assert_eq!(read(&file), "first = 1\ncolor = old\n");

    playbook(&fleet, "check.yml", &text("first = 1\\ncolor = new\\n"), &root);
    let check = run_json(&fleet, &pb, &fleet.inventory(), &["--check"]);
    check.assert_code(0);
    assert_eq!(check.task("h1", "settings file").status, "changed", "{check}");
    assert_eq!(check.recap().host("h1").changed, 1, "{check}");
    assert_eq!(read(&file), "first = 1\ncolor = old\n", "--check wrote the file");

    let diff = run_json(&fleet, &pb, &fleet.inventory(), &["--check", "--diff"]);
    diff.assert_code(0);
    let event = diff.task("h1", "settings file");
    assert_eq!(event.status, "changed");
    let d = event.diff_text().unwrap_or_else(|| panic!("no diff in the event with --diff: {event:?}\n{diff}"));
    assert!(d.contains("color = old") && d.contains("color = new"), "diff does not show both lines: {d}");
    if event.diff.as_ref().is_some_and(|v| v.is_string()) {
        assert!(d.lines().any(|l| l == "-color = old"), "no `-color = old` line in the diff:\n{d}");
        assert!(d.lines().any(|l| l == "+color = new"), "no `+color = new` line in the diff:\n{d}");
        assert!(
            !d.lines().any(|l| l.starts_with(['-', '+']) && l.contains("first = 1")),
            "unchanged line shown as changed:\n{d}"
        );
    }
    assert_eq!(read(&file), "first = 1\ncolor = old\n", "--check --diff wrote the file");

    // The human output shows the diff too.
    let text_run = PushCmd::run_playbook(&pb, &fleet.inventory()).args(["-C", "-D"]).run();
    text_run.assert_code(0);
    let out = text_run.plain_stdout();
    assert!(out.lines().any(|l| l.trim_end() == "-color = old"), "text diff lacks `-color = old`:\n{text_run}");
    assert!(out.lines().any(|l| l.trim_end() == "+color = new"), "text diff lacks `+color = new`:\n{text_run}");
    assert_eq!(read(&file), "first = 1\ncolor = old\n", "-C -D wrote the file");

    // And for real, at last.
    let real = run_json(&fleet, &pb, &fleet.inventory(), &[]);
    real.assert_code(0);
    assert_eq!(real.recap().host("h1").changed, 1, "{real}");
    assert_eq!(read(&file), "first = 1\ncolor = new\n");
}

#[test]
fn unreachable_host_beside_a_good_one_exits_3() {
    require!(require_sshd());
    let mut fleet = Fleet::start(1);
    fleet.add_unreachable("h2");
    let root = out_dirs(&fleet);
    let pb = playbook(
        &fleet,
        "site.yml",
        r#"
- name: converge
  hosts: all
  tasks:
    - name: marker
      copy:
        dest: "@ROOT@/{{ inventory_hostname }}/done"
        content: "converged {{ inventory_hostname }}\n"
    - name: second marker
      copy:
        dest: "@ROOT@/{{ inventory_hostname }}/done2"
        content: "two\n"
"#,
        &root,
    );
    let out = run_json(&fleet, &pb, &fleet.inventory(), &[]);
    out.assert_code(3);
    assert_eq!(read(root.join("h1/done")), "converged h1\n");
    assert_eq!(read(root.join("h1/done2")), "two\n");
    assert!(!root.join("h2/done").exists());
    let recap = out.recap();
    let good = recap.host("h1");
    assert_eq!((good.changed, good.failed, good.unreachable), (2, 0, 0), "{out}");
    let bad = recap.host("h2");
    assert_eq!((bad.unreachable, bad.failed, bad.changed), (1, 0, 0), "{out}");
    let h2 = out.tasks_of("h2");
    assert!(h2.iter().any(|e| e.status == "unreachable"), "no unreachable event for h2\n{out}");
    assert!(h2.iter().all(|e| e.status == "unreachable"), "{out}");
}

#[test]
fn hostile_variable_values_arrive_as_data() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let root = out_dirs(&fleet);
    let traps = fleet.work_dir().join("traps");
    std::fs::create_dir_all(&traps).unwrap();
    let t = traps.display().to_string();
    // Would create files in `traps/` if any of it ran as shell code.
    let v = format!("'; touch {t}/PWNED #\n$(touch {t}/PWNED2) `touch {t}/PWNED3` \"; touch {t}/PWNED4; \\ * ~ %s ");
    // A file name: no `/`, the same tricks. Anything evaluated changes the name.
    let name = "'; x #\"$(echo EXPANDED) `echo EXPANDED` \\ * ? $HOME %s\nline 2 ";
    let vars = fleet.work_dir().join("vars.yml");
    write(
        &vars,
        format!("v: {}\nname: {}\n", serde_json::to_string(&v).unwrap(), serde_json::to_string(name).unwrap()),
    );
    let pb = playbook(
        &fleet,
        "hostile.yml",
        r#"
- name: hostile
  hosts: all
  vars:
    dir: "@ROOT@/{{ inventory_hostname }}"
  tasks:
    - name: value as content
      copy:
        dest: "{{ dir }}/content"
        content: "{{ v }}"
    - name: value as a file name
      copy:
        dest: "{{ dir }}/{{ name }}"
        content: "named\n"
    - name: value through a shell
      shell: "printf '%s' {{ v }} > {{ dir }}/shell-out"
    - name: name through a shell
      shell: "printf '%s' {{ name }} > {{ dir }}/shell-name"
    - name: key=value extra var as content
      copy:
        dest: "{{ dir }}/kv"
        content: "{{ q }}"
"#,
        &root,
    );
    let at_vars = format!("@{}", vars.display());
    let q = "$(id)`id`;|&<>*";
    let kv = format!("q={q}");
    let run =
        || PushCmd::run_playbook(&pb, &fleet.inventory()).args(["--format", "json", "-e", &at_vars, "-e", &kv]).run();
    let pwned = || std::fs::read_dir(&traps).unwrap().map(|e| e.unwrap().file_name()).collect::<Vec<_>>();
    let out = run();
    // First of all: nothing ran as shell code, whatever else happened.
    assert!(pwned().is_empty(), "hostile values ran as shell code: {:?}\n{out}", pwned());
    out.assert_code(0);
    let dir = root.join("h1");
    let bytes = |p: PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}\n{out}", p.display()));
    assert_eq!(bytes(dir.join("content")), v.as_bytes(), "copy content");
    assert_eq!(bytes(dir.join(name)), b"named\n", "file named by the value");
    assert_eq!(bytes(dir.join("shell-out")), v.as_bytes(), "shell printf");
    assert_eq!(bytes(dir.join("shell-name")), name.as_bytes(), "shell printf of the name");
    assert_eq!(bytes(dir.join("kv")), q.as_bytes(), "-e k=v");
    // Nothing else appeared: an evaluated `$(echo EXPANDED)` would have made another name.
    let mut entries: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    entries.sort();
    let mut expected =
        vec!["content".to_string(), name.to_string(), "shell-out".into(), "shell-name".into(), "kv".into()];
    expected.sort();
    assert_eq!(entries, expected, "files in {}", dir.display());

    // The same values compare as unchanged on a second run.
    let again = run();
    assert!(pwned().is_empty(), "hostile values ran as shell code: {:?}\n{again}", pwned());
    again.assert_code(0);
    for task in ["value as content", "value as a file name", "key=value extra var as content"] {
        assert_eq!(again.task("h1", task).status, "ok", "{again}");
    }
}

/// `no_log: true` hides a loop's items along with everything else a task
/// says (a loop over passwords printed each one, on failure lines too), in
/// text and in JSON. A failed item is named by its place in the loop.
#[test]
fn no_log_hides_loop_items() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let root = out_dirs(&fleet);
    write(root.join("h1/NOLOG-SECRET-1"), "");
    let pb = playbook(
        &fleet,
        "nolog.yml",
        r#"
- name: no_log
  hosts: all
  tasks:
    - name: fails on a secret
      command: "test {{ item }} != NOLOG-SECRET-2"
      loop: [NOLOG-SECRET-0, NOLOG-SECRET-1, NOLOG-SECRET-2]
      when: item != "NOLOG-SECRET-0"
      no_log: true
      ignore_errors: true
    - name: skipped on a secret
      command: "true"
      args:
        creates: "@ROOT@/h1/{{ item }}"
      loop: [NOLOG-SECRET-1]
      no_log: true
"#,
        &root,
    );
    let json = run_json(&fleet, &pb, &fleet.inventory(), &[]);
    json.assert_code(0);
    let text = PushCmd::run_playbook(&pb, &fleet.inventory()).current_dir(fleet.work_dir()).run();
    text.assert_code(0);
    for out in [&json, &text] {
        assert!(!out.stdout().contains("NOLOG-SECRET") && !out.stderr().contains("NOLOG-SECRET"), "{out}");
    }
    let failed = json.task("h1", "fails on a secret");
    assert_eq!(
        (failed.status.as_str(), failed.msg.as_str()),
        ("failed", "(item 3) the output has been hidden due to no_log")
    );
    // `creates:` keeps the command from running: ok, as in Ansible.
    assert_eq!(json.task("h1", "skipped on a secret").status, "ok", "{json}");
    assert!(text.plain_stdout().contains("(item 3) the output has been hidden due to no_log"), "{text}");
}

/// What a task printed: in `--format json` as `stdout`, `stderr` and `rc`;
/// in text with `-v` for changed and failed tasks, `-vv` for every task
/// and with the shell it ran; never for a `no_log` task.
#[test]
fn task_output_in_json_and_with_verbosity_but_never_under_no_log() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let root = out_dirs(&fleet);
    let pb = playbook(
        &fleet,
        "output.yml",
        r#"
- hosts: all
  tasks:
    - name: speaks
      shell: "echo OUT-LINE; echo ERR-LINE >&2"
      notify: tell
    - name: quiet ok
      file:
        path: "@ROOT@"
        state: directory
    - name: hidden
      shell: "echo NOLOG-OUT; echo NOLOG-ERR >&2"
      no_log: true
    - name: fails
      shell: "echo FAIL-OUT; exit 3"
      ignore_errors: true
  handlers:
    - name: tell
      shell: "echo HANDLER-OUT"
"#,
        &root,
    );
    let json = run_json(&fleet, &pb, &fleet.inventory(), &[]);
    json.assert_code(0);
    let event = |name: &str| {
        json.json().into_iter().find(|e| e["event"] == "task" && e["task"] == name).unwrap_or_else(|| panic!("{json}"))
    };
    let speaks = event("speaks");
    assert_eq!((speaks["stdout"].as_str(), speaks["stderr"].as_str()), (Some("OUT-LINE"), Some("ERR-LINE")), "{json}");
    assert_eq!(speaks["rc"], 0, "{json}");
    assert_eq!(event("fails")["rc"], 3, "{json}");
    assert_eq!(event("fails")["stdout"], "FAIL-OUT", "{json}");
    let handler = json
        .json()
        .into_iter()
        .find(|e| e["event"] == "task" && e["task"].as_str().is_some_and(|t| t.contains("tell")));
    let handler = handler.unwrap_or_else(|| panic!("no handler event\n{json}"));
    assert_eq!((handler["stdout"].as_str(), handler["rc"].as_i64()), (Some("HANDLER-OUT"), Some(0)), "{json}");
    let hidden = event("hidden");
    assert!(hidden.get("stdout").is_none() && hidden.get("stderr").is_none() && hidden.get("rc").is_none(), "{json}");

    let text = |v: &[&str]| {
        let out =
            PushCmd::run_playbook(&pb, &fleet.inventory()).args(v.iter().copied()).current_dir(fleet.work_dir()).run();
        out.assert_code(0);
        assert!(!out.stdout().contains("NOLOG-") && !out.stderr().contains("NOLOG-"), "{out}");
        out.plain_stdout()
    };
    let quiet = text(&[]);
    assert!(!quiet.contains("OUT-LINE") && !quiet.contains("  stdout:"), "{quiet}");
    let v = text(&["-v"]);
    assert!(v.contains("  stdout:\n    OUT-LINE\n  stderr:\n    ERR-LINE"), "{v}");
    assert!(v.contains("  stdout:\n    FAIL-OUT\n  rc: 3"), "{v}");
    assert!(!v.contains("  cmd:"), "{v}");
    let vv = text(&["-vv"]);
    assert!(vv.contains("  cmd:") && vv.contains("echo OUT-LINE; echo ERR-LINE >&2"), "{vv}");
    assert!(vv.contains("  rc: 0"), "{vv}");
}

/// Every process's command line on this machine (the hosts' too: they are
/// local), read from /proc over and over until `done`: the distinct ones
/// holding any of `needles`.
fn command_lines_with(
    needles: Vec<String>,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<std::collections::BTreeSet<String>> {
    std::thread::spawn(move || {
        let mut seen = std::collections::BTreeSet::new();
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
                let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                if needles.iter().any(|n| text.contains(n.as_str())) {
                    seen.insert(text);
                }
            }
        }
        seen
    })
}

/// A user account a test makes on this machine (through push): removed
/// when the test ends, however it ends.
struct TestAccount(String);

impl Drop for TestAccount {
    fn drop(&mut self) {
        let known = std::process::Command::new("getent").args(["passwd", &self.0]).output();
        if known.is_ok_and(|o| o.status.success()) {
            let _ = std::process::Command::new("userdel").arg(&self.0).status();
        }
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// No secret reaches a command line, where every local user sees it
/// (`ps`): copy content (as the login user and through sudo as another),
/// a lineinfile line, pattern and the old line it matches (grep -P's
/// path), `stdin`, a password hash. Command lines are sampled all through
/// a run; the sampler proves it sees the run's processes by catching its
/// `sleep`s.
#[test]
fn secrets_never_show_in_the_process_list() {
    require!(require_sshd());
    assert!(is_root(), "this test needs root: it creates (and removes) a user account");
    let fleet = Fleet::start(1);
    let root = out_dirs(&fleet);
    let account = TestAccount(format!("pushsec{}", std::process::id() % 100_000));
    // A folder the user `nobody` may write to, for the step run as nobody.
    let shared = tempfile::Builder::new().prefix("push-secrets-").tempdir().unwrap();
    std::fs::set_permissions(shared.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    // Enough lines that awk takes a while: a long-lived process is one the
    // sampler cannot miss.
    let mut conf = String::from("REGEX_SECRET_MARK = OLD_SECRET_MARK\n");
    for i in 0..30_000 {
        conf.push_str(&format!("filler{i} = {i}\n"));
    }
    write(root.join("h1/conf"), &conf);
    let pb = playbook(
        &fleet,
        "secrets.yml",
        r#"
- name: secrets
  hosts: all
  vars:
    dir: "@ROOT@/{{ inventory_hostname }}"
  tasks:
    - name: secret content
      copy:
        dest: "{{ dir }}/copied"
        content: COPY_SECRET_MARK
    - name: seen
      command: sleep 1.237
    - name: secret line
      lineinfile:
        path: "{{ dir }}/conf"
        regexp: '^REGEX_SECRET_MARK\s*='
        line: REGEX_SECRET_MARK = LINE_SECRET_MARK
    - name: secret stdin
      shell: cat > {{ dir }}/stdin-copy
      args:
        stdin: STDIN_SECRET_MARK
    - name: secret content as another user
      copy:
        dest: "{{ shared }}/copied"
        content: BECOME_SECRET_MARK
      become: true
      become_user: nobody
    - name: secret password
      user:
        name: "{{ account }}"
        password: "$6$pushsalt$PASSWORD_SECRET_MARK"
        create_home: false
    - name: seen again
      command: sleep 1.237
    - name: account removed
      user:
        name: "{{ account }}"
        state: absent
"#,
        &root,
    );
    // Copy contents travel base64-encoded: each is there as it travels too.
    let secrets = [
        "COPY_SECRET_MARK",
        "Q09QWV9TRUNSRVRfTUFSSw",
        "BECOME_SECRET_MARK",
        "QkVDT01FX1NFQ1JFVF9NQVJL",
        "REGEX_SECRET_MARK",
        "LINE_SECRET_MARK",
        "OLD_SECRET_MARK",
        "STDIN_SECRET_MARK",
        "PASSWORD_SECRET_MARK",
    ];
    let seen_mark = "sleep 1.237";
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let needles = secrets.iter().chain([&seen_mark]).map(|s| s.to_string()).collect();
    let sampler = command_lines_with(needles, std::sync::Arc::clone(&done));
    let vars = format!("account={} shared={}", account.0, shared.path().display());
    let out = run_json(&fleet, &pb, &fleet.inventory(), &["-e", &vars]);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = sampler.join().unwrap();
    out.assert_code(0);
    assert!(seen.iter().any(|l| l.contains(seen_mark)), "the sampler never saw the run's `sleep`: it cannot tell");
    let leaks: Vec<&String> = seen.iter().filter(|l| secrets.iter().any(|s| l.contains(s))).collect();
    assert!(leaks.is_empty(), "secrets in command lines: {leaks:#?}");
    assert_eq!(read(root.join("h1/copied")), "COPY_SECRET_MARK");
    assert_eq!(read(shared.path().join("copied")), "BECOME_SECRET_MARK");
    assert_eq!(read(root.join("h1/stdin-copy")), "STDIN_SECRET_MARK\n");
    assert!(read(root.join("h1/conf")).starts_with("REGEX_SECRET_MARK = LINE_SECRET_MARK\nfiller0 = 0\n"));
    assert_eq!(out.task("h1", "secret password").status, "changed", "{out}");
}

/// A step under a non-root become_user keeps its output and status to
/// that user and root: another local user (daemon) can neither read the
/// step's output nor add a status line while the step runs.
#[test]
fn become_user_step_files_are_private() {
    require!(require_sshd());
    assert!(is_root() && Path::new("/usr/bin/sudo").exists(), "this test needs root and sudo");
    let fleet = Fleet::start(1);
    // Where the step (as nobody) says where its status file is.
    let spot = tempfile::Builder::new().prefix("push-become-").tempdir().unwrap();
    std::fs::set_permissions(spot.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let said = spot.path().join("status-path");
    let pb = playbook(
        &fleet,
        "become.yml",
        r#"
- name: become
  hosts: all
  tasks:
    - name: as nobody
      shell: 'echo STEP_OUTPUT_MARK; printf "%s\n" "$PUSH_S" > @ROOT@/status-path; sleep 3'
      become: true
      become_user: nobody
"#,
        spot.path(),
    );
    let run = std::thread::spawn({
        let (pb, inventory, dir) = (pb.clone(), fleet.inventory(), fleet.work_dir());
        move || PushCmd::run_playbook(&pb, &inventory).args(["--format", "json"]).current_dir(dir).run()
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !said.exists() || read(&said).is_empty() {
        assert!(std::time::Instant::now() < deadline, "the step never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = PathBuf::from(read(&said).trim_end());
    let folder = status.parent().unwrap().to_path_buf();
    let as_daemon = |script: &str| {
        std::process::Command::new("setpriv")
            .args(["--reuid=daemon", "--regid=daemon", "--clear-groups", "sh", "-c", script, "sh"])
            .arg(&folder)
            .output()
            .unwrap()
    };
    let read_out = as_daemon("cat \"$1/out\"");
    let forge = as_daemon("echo 'changed forged' >> \"$1/status\"");
    let list = as_daemon("ls \"$1\"");
    let out = run.join().unwrap();
    out.assert_code(0);
    let shown = |o: &std::process::Output| {
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    };
    assert!(!read_out.status.success(), "another user read the step's output: {}", shown(&read_out));
    assert!(!forge.status.success(), "another user wrote to the step's status file");
    assert!(!list.status.success(), "another user listed the step's folder: {}", shown(&list));
    let task = out.task("h1", "as nobody");
    assert!(!task.msg.contains("forged"), "{out}");
}

#[test]
fn failed_task_stops_that_host_only_and_exits_2() {
    require!(require_sshd());
    let fleet = Fleet::start(2);
    let root = out_dirs(&fleet);
    let pb = playbook(
        &fleet,
        "fail.yml",
        r#"
- name: fail on one host
  hosts: all
  vars:
    dir: "@ROOT@/{{ inventory_hostname }}"
  tasks:
    - name: before
      copy:
        dest: "{{ dir }}/before"
        content: "before\n"
    - name: fails on h1
      command: "test {{ inventory_hostname }} != h1"
    - name: after
      copy:
        dest: "{{ dir }}/after"
        content: "after\n"
"#,
        &root,
    );
    let out = run_json(&fleet, &pb, &fleet.inventory(), &[]);
    out.assert_code(2);
    assert_eq!(read(root.join("h1/before")), "before\n");
    assert!(!root.join("h1/after").exists(), "a task after the failure ran on h1");
    assert_eq!(read(root.join("h2/before")), "before\n");
    assert_eq!(read(root.join("h2/after")), "after\n", "h2 did not go on");
    assert_eq!(out.task("h1", "fails on h1").status, "failed", "{out}");
    assert!(
        !out.tasks_of("h1").iter().any(|e| e.task == "after" && (e.status == "ok" || e.status == "changed")),
        "`after` reported as run on h1\n{out}"
    );
    assert_eq!(out.task("h2", "after").status, "changed", "{out}");
    let recap = out.recap();
    assert_eq!(recap.host("h1").failed, 1, "{out}");
    assert_eq!(recap.host("h1").changed, 1, "{out}");
    assert_eq!(recap.host("h2").failed, 0, "{out}");
    // `before` and `after`; the `command` may count as changed too (as in Ansible).
    assert!(recap.host("h2").changed >= 2, "{out}");
}

/// Events of handler `name` on `host`; its event may be labelled `name` (as
/// Ansible's) or `handler: name`.
fn handler_events(out: &RunOutput, host: &str, name: &str) -> Vec<push_tests::TaskEvent> {
    let labelled = format!("handler: {name}");
    out.tasks_of(host).into_iter().filter(|e| e.task == name || e.task == labelled).collect()
}

#[test]
fn handler_runs_on_change_only() {
    require!(require_sshd());
    let fleet = Fleet::start(2);
    let root = out_dirs(&fleet);
    let text = |content: &str| {
        r#"
- name: handlers
  hosts: all
  vars:
    dir: "@ROOT@/{{ inventory_hostname }}"
  tasks:
    - name: config
      copy:
        dest: "{{ dir }}/app.conf"
        content: "CONTENT"
      notify: restart app
    - name: directory already there
      file:
        path: "{{ dir }}"
        state: directory
      notify: never runs
  handlers:
    - name: restart app
      shell: "echo restarted >> {{ dir }}/restarts"
    - name: never runs
      shell: "echo wrong >> {{ dir }}/never"
"#
        .replace("CONTENT", content)
    };
    // YAML inventory here, to run both formats for real.
    let inv = fleet.inventory_yaml();
    let pb = playbook(&fleet, "handlers.yml", &text("v1\\n"), &root);
    let first = run_json(&fleet, &pb, &inv, &[]);
    first.assert_code(0);
    for alias in ["h1", "h2"] {
        assert_eq!(read(root.join(alias).join("restarts")), "restarted\n", "{first}");
        assert!(!root.join(alias).join("never").exists(), "a handler ran without a change\n{first}");
        let ran = handler_events(&first, alias, "restart app");
        assert_eq!(ran.len(), 1, "one event for the handler on {alias}\n{first}");
        assert_eq!(ran[0].status, "changed", "{first}");
    }

    let second = run_json(&fleet, &pb, &inv, &[]);
    second.assert_code(0);
    for alias in ["h1", "h2"] {
        assert_eq!(read(root.join(alias).join("restarts")), "restarted\n", "handler ran on a no-op run\n{second}");
        assert!(handler_events(&second, alias, "restart app").is_empty(), "{second}");
        assert_eq!(second.recap().host(alias).changed, 0, "{second}");
    }

    playbook(&fleet, "handlers.yml", &text("v2\\n"), &root);
    let third = run_json(&fleet, &pb, &inv, &[]);
    third.assert_code(0);
    for alias in ["h1", "h2"] {
        assert_eq!(read(root.join(alias).join("restarts")), "restarted\nrestarted\n", "{third}");
        assert_eq!(read(root.join(alias).join("app.conf")), "v2\n");
        assert!(!root.join(alias).join("never").exists());
    }
}

#[test]
fn when_on_registered_output_follows_the_host_state() {
    require!(require_sshd());
    let fleet = Fleet::start(2);
    let root = out_dirs(&fleet);
    write(root.join("h1/flag"), "go\n");
    write(root.join("h2/flag"), "stop\n");
    let pb = playbook(
        &fleet,
        "register.yml",
        r#"
- name: register and when
  hosts: all
  vars:
    dir: "@ROOT@/{{ inventory_hostname }}"
  tasks:
    - name: read flag
      command: "cat {{ dir }}/flag"
      register: flag
    - name: act on go
      copy:
        dest: "{{ dir }}/acted"
        content: "acted on {{ flag.stdout }}\n"
      when: "'go' in flag.stdout"
    - name: act on stop
      copy:
        dest: "{{ dir }}/stopped"
        content: "stopped\n"
      when: flag.stdout == "stop"
"#,
        &root,
    );
    let out = run_json(&fleet, &pb, &fleet.inventory(), &[]);
    out.assert_code(0);
    assert_eq!(read(root.join("h1/acted")), "acted on go\n");
    assert!(!root.join("h1/stopped").exists());
    assert_eq!(read(root.join("h2/stopped")), "stopped\n");
    assert!(!root.join("h2/acted").exists());
    assert_eq!(out.task("h1", "act on go").status, "changed", "{out}");
    assert_eq!(out.task("h1", "act on stop").status, "skipped", "{out}");
    assert_eq!(out.task("h2", "act on go").status, "skipped", "{out}");
    assert_eq!(out.task("h2", "act on stop").status, "changed", "{out}");
    assert_eq!(out.recap().host("h1").skipped, 1, "{out}");

    // The flag changes on the host between runs: the decision follows it.
    write(root.join("h1/flag"), "stop\n");
    let again = run_json(&fleet, &pb, &fleet.inventory(), &[]);
    again.assert_code(0);
    assert_eq!(read(root.join("h1/stopped")), "stopped\n", "{again}");
    assert_eq!(again.task("h1", "act on go").status, "skipped", "{again}");
    assert_eq!(again.task("h1", "act on stop").status, "changed", "{again}");
    assert_eq!(again.task("h2", "act on stop").status, "ok", "{again}");
    assert_eq!(read(root.join("h1/acted")), "acted on go\n", "acted was rewritten");
}

#[test]
fn loop_and_tags_select_work() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let root = out_dirs(&fleet);
    let pb = playbook(
        &fleet,
        "tags.yml",
        r#"
- name: tags
  hosts: all
  vars:
    dir: "@ROOT@/{{ inventory_hostname }}"
  tasks:
    - name: tagged a
      copy:
        dest: "{{ dir }}/{{ item }}"
        content: "{{ item }}\n"
      loop: [a1, a2, a3]
      tags: [a]
    - name: tagged b
      copy:
        dest: "{{ dir }}/b"
        content: "b\n"
      tags: b
    - name: untagged
      copy:
        dest: "{{ dir }}/untagged"
        content: "untagged\n"
"#,
        &root,
    );
    let dir = root.join("h1");
    let only_a = run_json(&fleet, &pb, &fleet.inventory(), &["-t", "a"]);
    only_a.assert_code(0);
    for item in ["a1", "a2", "a3"] {
        assert_eq!(read(dir.join(item)), format!("{item}\n"));
    }
    assert!(!dir.join("b").exists() && !dir.join("untagged").exists(), "-t a ran other tasks\n{only_a}");

    let skip_a = run_json(&fleet, &pb, &fleet.inventory(), &["--skip-tags", "a"]);
    skip_a.assert_code(0);
    assert_eq!(read(dir.join("b")), "b\n");
    assert_eq!(read(dir.join("untagged")), "untagged\n");
    assert!(!skip_a.tasks_of("h1").iter().any(|e| e.task == "tagged a" && e.status != "skipped"), "{skip_a}");
}

#[test]
fn limit_and_listing_touch_only_what_they_should() {
    require!(require_sshd());
    let fleet = Fleet::start(2);
    let root = out_dirs(&fleet);
    let pb = playbook(
        &fleet,
        "site.yml",
        r#"
- name: limited
  hosts: all
  tasks:
    - name: marker task
      copy:
        dest: "@ROOT@/{{ inventory_hostname }}/marker"
        content: "here\n"
"#,
        &root,
    );
    // Listing connects to nothing.
    let hosts = PushCmd::run_playbook(&pb, &fleet.inventory()).arg("--list-hosts").run();
    hosts.assert_code(0);
    assert!(has_word(hosts.stdout(), "h1") && has_word(hosts.stdout(), "h2"), "{hosts}");
    let tasks = PushCmd::run_playbook(&pb, &fleet.inventory()).arg("--list-tasks").run();
    tasks.assert_code(0);
    assert!(tasks.stdout().contains("marker task"), "{tasks}");
    let limited_list = PushCmd::run_playbook(&pb, &fleet.inventory()).args(["--list-hosts", "-l", "h2"]).run();
    limited_list.assert_code(0);
    assert!(has_word(limited_list.stdout(), "h2") && !has_word(limited_list.stdout(), "h1"), "{limited_list}");
    for alias in ["h1", "h2"] {
        assert_eq!(fleet.host(alias).accepted_logins(), 0, "listing logged in to {alias}");
    }

    let out = run_json(&fleet, &pb, &fleet.inventory(), &["-l", "h1"]);
    out.assert_code(0);
    assert_eq!(read(root.join("h1/marker")), "here\n");
    assert!(!root.join("h2/marker").exists(), "-l h1 touched h2");
    assert!(!out.recap().hosts.contains_key("h2"), "{out}");
    assert_eq!(fleet.host("h2").accepted_logins(), 0, "-l h1 logged in to h2");
}

/// ssh processes whose command line mentions `dir` (the control sockets of
/// a run live under the run's TMPDIR).
fn ssh_processes_under(dir: &Path) -> Vec<String> {
    let needle = dir.display().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.starts_with("ssh ") && text.contains(&needle) {
            found.push(text);
        }
    }
    found
}

/// The pids of [`ssh_processes_under`].
fn ssh_pids_under(dir: &Path) -> Vec<i32> {
    let needle = dir.display().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.starts_with("ssh ") && text.contains(&needle) {
            found.push(pid);
        }
    }
    found
}

/// A TMPDIR of the fleet's own, for runs whose leftovers a test checks
/// ([`assert_no_leftovers`]).
fn private_tmpdir(fleet: &Fleet) -> PathBuf {
    let tmp = fleet.work_dir().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    tmp
}

fn assert_no_leftovers(tmp: &Path, context: &str) {
    let left: Vec<_> = std::fs::read_dir(tmp).unwrap().flatten().map(|e| e.path()).collect();
    assert!(left.is_empty(), "{context}: leftover files under TMPDIR: {left:?}");
    let procs = ssh_processes_under(tmp);
    assert!(procs.is_empty(), "{context}: leftover ssh processes: {procs:?}");
}

/// Start a run of a 30 s task on two hosts, send `signal` once both are
/// inside it, and check push exits with `code` leaving no ssh master and no
/// control folder behind. Before that, a normal run leaves nothing either.
fn signal_closes_connections(signal: i32, code: i32) {
    require!(require_sshd());
    let fleet = Fleet::start(2);
    let tmp = private_tmpdir(&fleet);
    let root = fleet.work_dir();
    let pb = playbook(
        &fleet,
        "slow.yml",
        "- hosts: all\n  tasks:\n    - shell: touch @ROOT@/started-{{ inventory_hostname }}; sleep 30\n",
        &root,
    );

    let quick = playbook(&fleet, "quick.yml", "- hosts: all\n  tasks:\n    - command: 'true'\n", &root);
    PushCmd::run_playbook(&quick, &fleet.inventory())
        .env("TMPDIR", &tmp)
        .current_dir(fleet.work_dir())
        .run()
        .assert_code(0);
    assert_no_leftovers(&tmp, "after a normal run");

    let mut child = std::process::Command::new(push_tests::push_bin())
        .args(["run".as_ref(), pb.as_os_str(), "-i".as_ref(), fleet.inventory().as_os_str()])
        .env("TMPDIR", &tmp)
        .current_dir(fleet.work_dir())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until both hosts are inside the slow task, with masters up.
    let started = |a: &str| root.join(format!("started-{a}")).exists();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !fleet.aliases().iter().all(|a| started(a)) {
        assert!(std::time::Instant::now() < deadline, "the slow task never started");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(!ssh_processes_under(&tmp).is_empty(), "expected ssh masters while the run is in flight");
    unsafe { libc::kill(child.id() as i32, signal) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(code), "exit code after signal {signal}");
    assert_no_leftovers(&tmp, &format!("after signal {signal}"));
}

#[test]
fn connections_are_closed_after_a_run_and_after_ctrl_c() {
    signal_closes_connections(libc::SIGINT, 130);
}

#[test]
fn sigterm_closes_connections_and_exits_143() {
    signal_closes_connections(libc::SIGTERM, 143);
}

#[test]
fn sighup_closes_connections_and_exits_129() {
    signal_closes_connections(libc::SIGHUP, 129);
}

/// A master push cannot end (push was SIGKILLed) ends itself once idle:
/// it runs with a finite ControlPersist, never `yes`.
#[test]
fn ssh_masters_do_not_persist_for_ever() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let tmp = private_tmpdir(&fleet);
    let root = fleet.work_dir();
    let pb =
        playbook(&fleet, "slow.yml", "- hosts: all\n  tasks:\n    - shell: touch @ROOT@/started; sleep 30\n", &root);
    let mut child = std::process::Command::new(push_tests::push_bin())
        .args(["run".as_ref(), pb.as_os_str(), "-i".as_ref(), fleet.inventory().as_os_str()])
        .env("TMPDIR", &tmp)
        .current_dir(fleet.work_dir())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !root.join("started").exists() {
        assert!(std::time::Instant::now() < deadline, "the slow task never started");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let masters = ssh_processes_under(&tmp);
    for pid in ssh_pids_under(&tmp) {
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    assert!(!masters.is_empty(), "no master left to look at after SIGKILL");
    for m in &masters {
        let persist = m.split_whitespace().find(|w| w.starts_with("ControlPersist="));
        assert!(
            persist.is_some_and(|p| p
                .trim_start_matches("ControlPersist=")
                .trim_end_matches('s')
                .parse::<u32>()
                .is_ok()),
            "a master without a finite ControlPersist: {m}"
        );
    }
}

/// A host's connection kept for its next play may have closed meanwhile
/// (its master ends itself when idle): the next play connects again
/// rather than fail the host. Here h1's master is ended while h2 plays.
#[test]
fn a_connection_closed_between_plays_is_made_again() {
    require!(require_sshd());
    let fleet = Fleet::start(2);
    let tmp = private_tmpdir(&fleet);
    let root = fleet.work_dir();
    let pb = playbook(
        &fleet,
        "plays.yml",
        "- hosts: h1\n  tasks:\n    - command: 'true'\n\
         - hosts: h2\n  tasks:\n    - shell: touch @ROOT@/h2-started; sleep 3\n\
         - hosts: h1\n  tasks:\n    - command: 'true'\n",
        &root,
    );
    let child = std::process::Command::new(push_tests::push_bin())
        .args([
            "run".as_ref(),
            pb.as_os_str(),
            "-i".as_ref(),
            fleet.inventory().as_os_str(),
            "--format".as_ref(),
            "json".as_ref(),
        ])
        .env("TMPDIR", &tmp)
        .current_dir(fleet.work_dir())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !root.join("h2-started").exists() {
        assert!(std::time::Instant::now() < deadline, "h2's play never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let h1_port = format!(" -p {} ", fleet.host("h1").port());
    let h1_masters: Vec<i32> = ssh_pids_under(&tmp)
        .into_iter()
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).replace('\0', " ").contains(&h1_port)
        })
        .collect();
    assert_eq!(h1_masters.len(), 1, "h1's master, kept for its next play");
    unsafe { libc::kill(h1_masters[0], libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let recap = push_tests::parse_json_lines(&stdout).unwrap().into_iter().find(|e| e["event"] == "recap").unwrap();
    assert_eq!(recap["hosts"]["h1"]["ok"], 2, "{recap}");
    assert_no_leftovers(&tmp, "after the run");
}

/// `push run PLAYBOOK -i INVENTORY --format json` from the work dir, and the
/// peak of push's own resident memory in KiB (its VmHWM, a high-water mark,
/// read until it exits: the ssh processes push starts are not counted).
fn run_json_peak_rss(fleet: &Fleet, playbook: &Path) -> (RunOutput, u64) {
    let mut cmd = std::process::Command::new(push_tests::push_bin());
    cmd.args(["run".as_ref(), playbook.as_os_str(), "-i".as_ref(), fleet.inventory().as_os_str()])
        .args(["--format", "json"])
        .current_dir(fleet.work_dir());
    let mut peak = 0;
    // PushCmd's default limit for a run.
    let limit = std::time::Duration::from_secs(180);
    let output = push_tests::run_watching(&mut cmd, limit, std::process::Stdio::null(), |pid| {
        let hwm = std::fs::read_to_string(format!("/proc/{pid}/status")).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        });
        peak = peak.max(hwm.unwrap_or(0));
    });
    assert!(!output.timed_out, "{output}");
    assert!(peak > 0, "push's memory was never read");
    (RunOutput(output), peak)
}

/// A step printing 50 MB: push keeps the head and the tail of it, says how
/// much it cut in between, and its memory does not grow with the output.
#[test]
fn huge_step_output_is_cut_in_the_middle() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let root = fleet.work_dir();
    let pb = playbook(
        &fleet,
        "loud.yml",
        "- hosts: all\n  tasks:\n    - shell: echo the start; head -c 50000000 /dev/zero | tr '\\0' x; echo; echo the end; exit 3\n",
        &root,
    );
    let (out, rss) = run_json_peak_rss(&fleet, &pb);
    out.assert_code(2);
    let msg = out.task("h1", "shell").msg;
    assert!(msg.starts_with("exit code 3: the start\nxxx"), "{}", &msg[..msg.len().min(200)]);
    assert!(msg.ends_with("xxx\nthe end"), "{}", &msg[msg.len().saturating_sub(200)..]);
    let cut: u64 = msg
        .split("[... ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no cut marker in {} bytes of message", msg.len()));
    assert!(msg.len() < 1 << 20, "{} bytes kept", msg.len());
    let marker = format!("\n[... {cut} bytes of output cut here ...]\n");
    let printed = "the start\n".len() + 50_000_000 + "\nthe end".len();
    assert_eq!(
        msg.len() - marker.len() + cut as usize,
        "exit code 3: ".len() + printed,
        "what was kept and what was cut add up"
    );
    assert!(rss < 40 * 1024, "push peaked at {rss} KiB for 50 MB of output");
}

/// `copy src:` of a 96 MiB file arrives whole, and push's memory does not
/// hold copies of it: the file is streamed to the host as it is sent.
#[test]
fn copy_of_a_large_file_streams_it() {
    require!(require_sshd());
    const SIZE: usize = 96 << 20;
    let fleet = Fleet::start(1);
    let root = fleet.work_dir();
    let files = root.join("files");
    std::fs::create_dir_all(&files).unwrap();
    // Not a repeated pattern only: every MiB differs.
    let mut data = Vec::with_capacity(SIZE);
    for mib in 0..(SIZE >> 20) as u32 {
        let line = format!("{mib:08} the quick brown fox jumps over the lazy dog\n");
        while data.len() < ((mib as usize + 1) << 20) {
            data.extend_from_slice(line.as_bytes());
        }
        data.truncate((mib as usize + 1) << 20);
    }
    std::fs::write(files.join("big.bin"), &data).unwrap();
    let pb = playbook(
        &fleet,
        "big.yml",
        "- hosts: all\n  tasks:\n    - copy:\n        src: big.bin\n        dest: @ROOT@/out/big.bin\n",
        &root,
    );
    std::fs::create_dir_all(root.join("out")).unwrap();
    let (out, rss) = run_json_peak_rss(&fleet, &pb);
    out.assert_code(0);
    assert_eq!(out.task("h1", "copy").status, "changed", "{out}");
    assert!(std::fs::read(root.join("out/big.bin")).unwrap() == data, "the copy differs from the source");
    drop(data);
    assert!(rss < (SIZE as u64 / 1024) / 2, "push peaked at {rss} KiB for a {} KiB file", SIZE / 1024);
    let again = run_json(&fleet, &pb, &fleet.inventory(), &[]);
    again.assert_code(0);
    assert_eq!(again.task("h1", "copy").status, "ok", "{again}");
}

/// A host done with its plays lets its connection go at once, so a fleet
/// larger than --forks never has more ssh masters than forks: with
/// --forks 1, one at a time (they used to stay until the end of the run).
#[test]
fn connections_close_when_their_host_is_done() {
    require!(require_sshd());
    let fleet = Fleet::start(3);
    let tmp = private_tmpdir(&fleet);
    let root = fleet.work_dir();
    let pb = playbook(&fleet, "one.yml", "- hosts: all\n  tasks:\n    - command: sleep 0.5\n", &root);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (tmp, done) = (tmp.clone(), std::sync::Arc::clone(&done));
        std::thread::spawn(move || {
            let mut most = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                most = most.max(ssh_processes_under(&tmp).len());
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            most
        })
    };
    PushCmd::run_playbook(&pb, &fleet.inventory())
        .args(["--forks", "1"])
        .env("TMPDIR", &tmp)
        .current_dir(fleet.work_dir())
        .run()
        .assert_code(0);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let most = sampler.join().unwrap();
    assert!(most >= 1, "the sampler saw no ssh master at all: it cannot tell");
    assert_eq!(most, 1, "ssh masters alive at once with --forks 1");
    assert_no_leftovers(&tmp, "after the run");
}

#[test]
fn serial_batches_stop_at_the_fail_budget() {
    require!(require_sshd());
    let fleet = Fleet::start(4);
    let root = out_dirs(&fleet);
    let pb = playbook(
        &fleet,
        "serial.yml",
        "- hosts: all\n  serial: 2\n  max_fail_percentage: 0\n  tasks:\n    - shell: test {{ inventory_hostname }} != h1 && touch @ROOT@/{{ inventory_hostname }}/ran\n",
        &root,
    );
    let out = run_json(&fleet, &pb, &fleet.inventory(), &[]);
    out.assert_code(2);
    let batches: Vec<_> = out.json().into_iter().filter(|e| e["event"] == "batch").collect();
    assert_eq!(batches.len(), 1, "the second batch must not start:\n{out}");
    assert!(root.join("h2/ran").exists(), "h2 is in the first batch with h1");
    for untouched in ["h3", "h4"] {
        assert!(!root.join(untouched).join("ran").exists(), "{untouched} must not be touched");
        assert_eq!(out.recap().host(untouched).remote_execs, 0, "{untouched} got execs:\n{out}");
    }
    // --serial overrides the play; a budget of 50% lets a half-failed batch pass.
    let out = run_json(&fleet, &pb, &fleet.inventory(), &["--serial", "2", "--max-fail-percentage", "50"]);
    out.assert_code(2);
    assert!(root.join("h4/ran").exists(), "with a 50% budget every batch runs:\n{out}");
}

#[test]
fn a_second_run_fails_clearly_while_a_host_is_locked() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let root = out_dirs(&fleet);
    let slow =
        playbook(&fleet, "slow.yml", "- hosts: all\n  tasks:\n    - shell: touch @ROOT@/h1/started; sleep 5\n", &root);
    let quick = playbook(&fleet, "quick.yml", "- hosts: all\n  tasks:\n    - shell: touch @ROOT@/h1/second\n", &root);
    let mut first = std::process::Command::new(push_tests::push_bin())
        .args(["run".as_ref(), slow.as_os_str(), "-i".as_ref(), fleet.inventory().as_os_str()])
        .current_dir(fleet.work_dir())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !root.join("h1/started").exists() {
        assert!(std::time::Instant::now() < deadline, "the first run never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let second = run_json(&fleet, &quick, &fleet.inventory(), &["--lock-wait", "0"]);
    second.assert_code(2);
    let lock = second.task("h1", "deploy lock");
    assert!(lock.msg.contains("locked by another run") && lock.msg.contains("slow.yml"), "{second}");
    assert!(!root.join("h1/second").exists(), "the second run must not have applied anything");
    assert!(first.wait().unwrap().success());
    // Once the first run is over, the lock is gone and the second run works.
    run_json(&fleet, &quick, &fleet.inventory(), &["--lock-wait", "0"]).assert_code(0);

    // A lock whose holder died is stale: reported, and broken only on request.
    let lock_dir = fleet.dir().join("h1.lock");
    std::fs::create_dir(&lock_dir).unwrap();
    write(lock_dir.join("holder"), "push run old.yml by someone@elsewhere since 2026-01-01T00:00:00Z\n");
    write(lock_dir.join("pid"), "999999999\n");
    let stale = run_json(&fleet, &quick, &fleet.inventory(), &["--lock-wait", "0"]);
    stale.assert_code(2);
    assert!(stale.task("h1", "deploy lock").msg.contains("stale deploy lock"), "{stale}");
    run_json(&fleet, &quick, &fleet.inventory(), &["--break-stale-lock"]).assert_code(0);
    assert!(!lock_dir.exists(), "the lock is released after the run");
}

#[test]
fn escape_sequences_a_host_prints_never_reach_the_terminal() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let root = out_dirs(&fleet);
    let pb = playbook(
        &fleet,
        "escapes.yml",
        "- hosts: all\n  tasks:\n    - name: prints escapes\n      shell: |\n        printf '\\033]0;pwned\\007\\033[31mred'\n        printf '\\033]0;pwned\\007\\033[31mred' >&2\n        exit 1\n",
        &root,
    );
    let out = PushCmd::run_playbook(&pb, &fleet.inventory()).current_dir(fleet.work_dir()).run();
    out.assert_code(2);
    assert!(out.stdout().contains("\\x1b]0;pwned\\x07\\x1b[31mred"), "the output is shown, escaped:\n{out}");
    assert!(!out.stdout().contains('\x1b') && !out.stderr().contains('\x1b'), "an ESC reached the terminal:\n{out}");
    assert!(!out.stdout().contains('\x07'), "a BEL reached the terminal:\n{out}");
}

/// A lock in a folder someone else can write could be taken, or planted to
/// block every deploy (as in /run/lock): refused, and nothing is applied.
/// A stale lock's holder is shown with its control characters escaped.
#[test]
fn a_lock_folder_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    require!(require_sshd());
    let mut fleet = Fleet::start(1);
    let root = out_dirs(&fleet);
    let pb = playbook(&fleet, "touch.yml", "- hosts: all\n  tasks:\n    - shell: touch @ROOT@/h1/ran\n", &root);
    let folder = |name: &str, mode: u32| {
        let dir = fleet.dir().join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        dir
    };
    let (shared, theirs, ours) = (folder("shared", 0o1777), folder("theirs", 0o700), folder("ours", 0o700));
    let mut refusals = vec![(shared, "is writable by others (mode 1777)")];
    // Only root can give a folder away.
    if std::os::unix::fs::chown(&theirs, Some(65534), None).is_ok() {
        refusals.push((theirs, "belongs to uid 65534"));
    }
    for (dir, why) in refusals {
        fleet.set_host_var("h1", "push_lock_path", &format!("{}/push.lock", dir.display()));
        let out = run_json(&fleet, &pb, &fleet.inventory(), &[]);
        out.assert_code(2);
        let msg = out.task("h1", "deploy lock").msg;
        assert!(msg.contains(&dir.display().to_string()) && msg.contains(why), "{why}: {out}");
        assert!(!root.join("h1/ran").exists(), "applied under a lock in {}", dir.display());
    }

    let lock = ours.join("push.lock");
    std::fs::create_dir(&lock).unwrap();
    write(lock.join("holder"), "push run \x1b]0;pwned\x07\x1b[2J by someone since 2026-01-01T00:00:00Z\n");
    write(lock.join("pid"), "999999999\n");
    fleet.set_host_var("h1", "push_lock_path", &lock.display().to_string());
    let stale = PushCmd::run_playbook(&pb, &fleet.inventory()).current_dir(fleet.work_dir()).run();
    stale.assert_code(2);
    assert!(stale.stdout().contains("stale deploy lock") && stale.stdout().contains("\\x1b]0;pwned"), "{stale}");
    assert!(!stale.stdout().contains('\x1b'), "the holder's ESC reached the terminal:\n{stale}");
    run_json(&fleet, &pb, &fleet.inventory(), &["--break-stale-lock"]).assert_code(0);
    assert!(root.join("h1/ran").exists() && !lock.exists());
}

/// docker_ssh's helper, run as root through sudo by an sshd session (as
/// the account's login shell does), goes past its check of who asked: it
/// looks for the login's container (none is set up here). Run from the
/// same session by a process that is not sshd's, it refuses.
#[test]
fn docker_ssh_helper_accepts_sudo_from_an_sshd_session_only() {
    require!(require_sshd());
    if !std::process::Command::new("sudo").args(["-n", "true"]).status().is_ok_and(|s| s.success()) {
        push_tests::skip("needs sudo, runnable without a password (apt-get install -y sudo; run as root)");
    }
    let fleet = Fleet::start(1);
    let helper = push_tests::workspace().join("modules/templates/docker_ssh_login.sh");
    let via_sudo = format!("exec sudo -n -- sh {} --exec 0 id", helper.display());
    let login = fleet.ssh("h1", &via_sudo);
    assert!(login.stderr.contains("no container is set up for"), "{login}");
    let other = fleet.ssh("h1", &format!("sh -c '{via_sudo}'; echo"));
    assert!(other.stderr.contains("did not log in through sshd"), "{other}");
}

/// Vaulted values reach the hosts and nothing else: a vaulted group_vars
/// file, a `!vault` value in the play, a template reading both, a vaulted
/// `copy src:` and a `copy content:` from a vaulted `vars_files` file. The hosts get the plaintext; the output (text and
/// JSON, with `--diff`) and the kept scripts never show it, while a task
/// without vaulted values still shows its diff.
#[test]
fn vaulted_values_reach_hosts_and_never_show() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let root = out_dirs(&fleet);
    let work = fleet.work_dir();
    let pw = work.join("vault-pass");
    write(&pw, "run-ssh vault password\n");
    let vault = |args: &[&str]| {
        let out = push_tests::push(["vault", "--vault-password-file", pw.to_str().unwrap()].iter().chain(args));
        out.assert_code(0);
        out.stdout().to_string()
    };
    write(work.join("group_vars/all.yml"), "db_password: VAULT-FILE-SECRET-1\n");
    vault(&["encrypt", work.join("group_vars/all.yml").to_str().unwrap()]);
    write(work.join("files/key.txt"), "VAULT-SRC-SECRET-3\n");
    write(work.join("vaulted-vars.yml"), "pin: VAULT-VARSFILE-SECRET-4\n");
    vault(&["encrypt", work.join("vaulted-vars.yml").to_str().unwrap()]);
    vault(&["encrypt", work.join("files/key.txt").to_str().unwrap()]);
    write(work.join("templates/app.conf.j2"), "db={{ db_password }}\ntoken={{ api_token }}\n");
    let token = vault(&["encrypt_string", "--name", "api_token", "VAULT-INLINE-SECRET-2"]);
    let token: String = token.lines().map(|l| format!("    {l}\n")).collect();
    let pb = playbook(
        &fleet,
        "vaulted.yml",
        &format!(
            r#"
- name: vaulted
  hosts: all
  vars_files: [vaulted-vars.yml]
  vars:
{token}  tasks:
    - name: config from a template
      template: {{src: app.conf.j2, dest: "@ROOT@/h1/app.conf"}}
    - name: "key for {{{{ api_token }}}}"
      copy: {{src: key.txt, dest: "@ROOT@/h1/key.txt"}}
    - name: pin from a vars file
      copy: {{content: "pin={{{{ pin }}}}\n", dest: "@ROOT@/h1/pin.txt"}}
    - name: public file
      copy: {{content: "PUBLIC-TEXT\n", dest: "@ROOT@/h1/public.txt"}}
"#
        ),
        &root,
    );
    let kept = work.join("kept");
    std::fs::create_dir_all(&kept).unwrap();
    let json = PushCmd::run_playbook(&pb, &fleet.inventory())
        .args(["--format", "json", "--diff", "--vault-password-file", pw.to_str().unwrap()])
        .env("PUSH_KEEP_SCRIPTS", &kept)
        .run();
    json.assert_code(0);
    assert_eq!(read(root.join("h1/app.conf")), "db=VAULT-FILE-SECRET-1\ntoken=VAULT-INLINE-SECRET-2\n");
    assert_eq!(read(root.join("h1/key.txt")), "VAULT-SRC-SECRET-3\n");
    assert_eq!(read(root.join("h1/pin.txt")), "pin=VAULT-VARSFILE-SECRET-4\n");
    assert_eq!(json.task("h1", "config from a template").status, "changed", "{json}");
    // A name that would show a vaulted value is shown as written.
    assert_eq!(json.task("h1", "key for {{ api_token }}").status, "changed", "{json}");
    assert!(json.task("h1", "public file").diff_text().is_some_and(|d| d.contains("PUBLIC-TEXT")), "{json}");

    // Changed again, in text: every task reports, none shows a vaulted value.
    std::fs::remove_file(root.join("h1/app.conf")).unwrap();
    std::fs::remove_file(root.join("h1/key.txt")).unwrap();
    std::fs::remove_file(root.join("h1/pin.txt")).unwrap();
    let text = PushCmd::run_playbook(&pb, &fleet.inventory())
        .args(["--diff", "--vault-password-file", pw.to_str().unwrap()])
        .run();
    text.assert_code(0);
    let secrets = ["VAULT-FILE-SECRET-1", "VAULT-INLINE-SECRET-2", "VAULT-SRC-SECRET-3", "VAULT-VARSFILE-SECRET-4"];
    for out in [&json, &text] {
        for secret in secrets {
            assert!(!out.stdout().contains(secret) && !out.stderr().contains(secret), "{secret} shown:\n{out}");
        }
    }
    use base64::{engine::general_purpose::STANDARD, Engine as _};
    let mut withheld = 0;
    for entry in std::fs::read_dir(&kept).unwrap() {
        let script = std::fs::read(entry.unwrap().path()).unwrap();
        let script = String::from_utf8_lossy(&script);
        withheld +=
            usize::from(script.starts_with("# not kept: this script carries a value opened from an Ansible Vault"));
        // Contents travel base64-encoded: look for those forms too.
        let contents = [
            "db=VAULT-FILE-SECRET-1\ntoken=VAULT-INLINE-SECRET-2\n",
            "VAULT-SRC-SECRET-3\n",
            "pin=VAULT-VARSFILE-SECRET-4\n",
        ];
        for plain in contents {
            assert!(!script.contains(&STANDARD.encode(plain)), "a kept script carries {plain:?}");
        }
        for secret in secrets {
            assert!(!script.contains(secret), "a kept script carries {secret}");
        }
    }
    assert!(withheld > 0, "no script was withheld");
}

/// Three tasks read what the task before them registered: the plan is cut
/// three times, and each cut costs a round trip on the host's one session,
/// not a new remote shell. A new host: each of the four segments is probed
/// and applied (8 round trips); a no-op run only probes them (4).
#[test]
fn register_dependent_cuts_cost_round_trips_on_one_session() {
    require!(require_sshd());
    let fleet = Fleet::start(2);
    let root = out_dirs(&fleet);
    let pb = playbook(
        &fleet,
        "cuts.yml",
        r#"
- hosts: all
  vars:
    dir: "@ROOT@/{{ inventory_hostname }}"
  tasks:
    - copy: {dest: "{{ dir }}/1", content: "one\n"}
      register: one
    - copy: {dest: "{{ dir }}/2", content: "two\n"}
      register: two
      when: not one.failed
    - copy: {dest: "{{ dir }}/3", content: "three\n"}
      register: three
      when: not two.failed
    - copy: {dest: "{{ dir }}/4", content: "four\n"}
      when: not three.failed
"#,
        &root,
    );
    for (run, round_trips, changed) in [("first", 8, 4), ("no-op", 4, 0)] {
        let out = run_json(&fleet, &pb, &fleet.inventory(), &[]);
        out.assert_code(0);
        for alias in ["h1", "h2"] {
            let r = out.recap().host(alias);
            assert_eq!((r.sessions, r.remote_execs), (1, 1), "{run} run, {alias}: one session\n{out}");
            assert_eq!(r.round_trips, round_trips, "{run} run, {alias}: round trips\n{out}");
            assert_eq!(r.changed, changed, "{run} run, {alias}\n{out}");
            assert_eq!(read(root.join(alias).join("4")), "four\n");
        }
    }
}

/// A step that reads stdin reads nothing (not the session's next chunk),
/// a step's `exit` ends only that step, and a daemon a step starts holds
/// the session neither open nor up: the later tasks and plays run, and
/// the run ends with the daemon still running.
#[test]
fn steps_cannot_take_over_the_session() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let root = out_dirs(&fleet);
    let pb = playbook(
        &fleet,
        "steps.yml",
        r#"
- hosts: all
  vars:
    dir: "@ROOT@/{{ inventory_hostname }}"
  tasks:
    - name: read stdin
      shell: "cat >{{ dir }}/stdin; echo read"
      register: stdin
    - name: exit early
      shell: "exit 0; echo never >{{ dir }}/never"
    - name: start a daemon
      shell: "sleep 300 & echo $! >{{ dir }}/daemon.pid"
    - name: after
      copy: {dest: "{{ dir }}/after", content: "{{ stdin.stdout }}\n"}
- hosts: all
  tasks:
    - name: next play
      copy: {dest: "@ROOT@/{{ inventory_hostname }}/next", content: "next\n"}
"#,
        &root,
    );
    let out = run_json(&fleet, &pb, &fleet.inventory(), &[]);
    let pid: i32 = read(root.join("h1/daemon.pid")).trim().parse().expect("the daemon's pid");
    // SAFETY: signal 0 checks; then the test ends the daemon it started.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    unsafe { libc::kill(pid, libc::SIGKILL) };
    out.assert_code(0);
    assert!(alive, "the daemon went with the session\n{out}");
    assert_eq!(read(root.join("h1/stdin")), "", "a step read the session's stdin\n{out}");
    assert_eq!(read(root.join("h1/after")), "read\n", "{out}");
    assert!(!root.join("h1/never").exists(), "{out}");
    assert_eq!(read(root.join("h1/next")), "next\n", "{out}");
    let r = out.recap().host("h1");
    assert_eq!(r.sessions, 1, "both plays on one session\n{out}");
}

#[test]
fn ansible_names_and_yaml_as_ansible_reads_them() {
    require!(require_sshd());
    let fleet = Fleet::start(2);
    let root = out_dirs(&fleet);
    let pb = playbook(
        &fleet,
        "names.yml",
        r#"
- hosts: all
  vars:
    dir: "@ROOT@/{{ inventory_hostname }}"
    keys: {y: 1, n: 2}
    literal: !unsafe "{{ not templated }}"
  tasks:
    - name: octal mode as YAML 1.1 reads it
      ansible.builtin.copy:
        dest: "{{ dir }}/octal"
        content: "{{ keys | dict2items | map(attribute='key') | join(',') }} {{ literal }}\n"
        mode: 0640
    - name: decimal mode, taken as Ansible takes it
      ansible.legacy.file:
        path: "{{ dir }}/decimal"
        state: touch
        mode: 420
    - name: a module push lacks, on another OS family
      yum: name={{ undefined_here }} state=present
      when: inventory_hostname == 'nobody'
    - name: the same module where it runs
      community.general.zypper:
        name: foo
      when: inventory_hostname == 'h1'
    - name: after
      ansible.builtin.file:
        path: "{{ dir }}/after"
        state: touch
        mode: "{{ no_such_mode | default(omit) }}"
    - name: key=value arguments with spaces inside a template
      file: path={{ dir ~ '/kv' }} state=touch
    - name: null renders as nothing
      copy:
        dest: "{{ dir }}/null"
        content: "a{{ nothing }}b {{ ansible_managed }}\n"
        owner: "{{ no_such_owner | default(omit) }}"
      vars:
        nothing: ~
"#,
        &root,
    );
    let out = run_json(&fleet, &pb, &fleet.inventory(), &[]);
    out.assert_code(2);
    for host in ["h1", "h2"] {
        assert_eq!(read(root.join(format!("{host}/octal"))), "y,n {{ not templated }}\n");
        let mode = |name: &str| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(root.join(format!("{host}/{name}"))).unwrap().permissions().mode() & 0o7777
        };
        assert_eq!(mode("octal"), 0o640, "{host}");
        assert_eq!(mode("decimal"), 0o644, "{host}");
        assert_eq!(out.task(host, "a module push lacks, on another OS family").status, "skipped", "{out}");
    }
    let failed = out.task("h1", "the same module where it runs");
    assert_eq!(failed.status, "failed", "{out}");
    assert!(out.stdout().contains("push has no module `community.general.zypper`"), "{out}");
    assert!(!root.join("h1/after").exists(), "h1 went on after its failure");
    assert_eq!(out.task("h2", "the same module where it runs").status, "skipped", "{out}");
    assert_eq!(out.task("h2", "after").status, "changed", "{out}");
    assert_eq!(read(root.join("h2/null")), "ab Ansible managed\n");
    assert!(root.join("h2/kv").exists(), "{out}");
}

/// Every `with_` lookup, `loop_control` and the registered shape of a loop
/// and of a command `creates:` keeps from running, end to end on one host.
#[test]
fn with_lookups_make_ansibles_items_and_register_its_shape() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let root = out_dirs(&fleet);
    write(fleet.work_dir().join("files/conf/a.conf"), "a\n");
    write(fleet.work_dir().join("files/conf/b.conf"), "b\n");
    write(fleet.work_dir().join("files/conf/.hidden.conf"), "h\n");
    write(fleet.work_dir().join("files/fallback.txt"), "fallback\n");
    let pb = playbook(
        &fleet,
        "loops.yml",
        r#"
- name: loops
  hosts: all
  vars:
    dir: "@ROOT@/{{ inventory_hostname }}"
    users: {alice: {uid: 1001}, bob: {uid: 1002}}
    nested_list: [[p, q], r]
    people:
      - {name: ann, keys: [k1, k2]}
      - {name: ben}
  tasks:
    - name: with_items flattens one level
      copy: {dest: "{{ dir }}/wi-{{ item }}", content: "{{ item }}\n"}
      with_items: "{{ nested_list }}"
    - name: with_list does not
      copy: {dest: "{{ dir }}/wl-{{ item | length }}", content: "{{ item | to_json }}\n"}
      with_list: "{{ nested_list }}"
    - name: with_dict
      copy: {dest: "{{ dir }}/user-{{ item.key }}", content: "{{ item.value.uid }}\n"}
      with_dict: "{{ users }}"
    - name: set_fact over with_dict
      set_fact: {uids: "{{ uids | default([]) + [item.value.uid] }}"}
      with_dict: "{{ users }}"
    - name: uids
      copy: {dest: "{{ dir }}/uids.json", content: "{{ uids | to_json }}"}
    - name: with_nested
      copy: {dest: "{{ dir }}/n-{{ item.0 }}-{{ item.1 }}", content: "x\n"}
      with_nested: [[a, b], [1, 2]]
    - name: with_together
      copy: {dest: "{{ dir }}/t-{{ item.0 }}-{{ item.1 }}", content: "x\n"}
      with_together: [[a, b], [1, 2]]
    - name: with_subelements
      copy: {dest: "{{ dir }}/key-{{ item.0.name }}-{{ item.1 }}", content: "{{ item.0 | to_json }}\n"}
      with_subelements: ["{{ people }}", keys, {skip_missing: true}]
    - name: with_sequence
      copy: {dest: "{{ dir }}/seq-{{ item }}", content: "x\n"}
      with_sequence: start=1 end=9 stride=4 format=s%02d
    - name: with_indexed_items
      copy: {dest: "{{ dir }}/idx-{{ item.0 }}-{{ item.1 }}", content: "x\n"}
      with_indexed_items: [x, y]
    - name: with_fileglob
      copy: {src: "{{ item }}", dest: "{{ dir }}/glob-{{ item | basename }}"}
      with_fileglob: ["conf/*.conf"]
    - name: with_first_found
      copy: {src: "{{ item }}", dest: "{{ dir }}/found"}
      with_first_found: ["missing-{{ no_such_var }}.txt", nope.txt, fallback.txt]
    - name: extended loop
      command: "echo {{ i }}/{{ ansible_loop.length }} {{ item }} {{ ansible_loop.previtem | default('-') }}"
      loop: [a, b, c]
      loop_control: {index_var: i, extended: true, pause: 0.1, label: "{{ item | upper }}"}
      when: item != 'b'
      register: r
    - name: loop results
      copy: {dest: "{{ dir }}/results.json", content: "{{ r | to_json }}"}
    - name: creates
      shell: echo ran
      args: {creates: "{{ dir }}"}
      register: c
    - name: creates result
      copy: {dest: "{{ dir }}/creates.json", content: "{{ c | to_json }}"}
"#,
        &root,
    );
    let out = run_json(&fleet, &pb, &fleet.inventory(), &[]);
    out.assert_code(0);
    let dir = root.join("h1");
    let mut made: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".json"))
        .collect();
    made.sort();
    #[rustfmt::skip]
    let expected = [
        "found", "glob-a.conf", "glob-b.conf", "idx-0-x", "idx-1-y",
        "key-ann-k1", "key-ann-k2", "n-a-1", "n-a-2", "n-b-1", "n-b-2",
        "seq-s01", "seq-s05", "seq-s09", "t-a-1", "t-b-2", "user-alice", "user-bob",
        "wi-p", "wi-q", "wi-r", "wl-1", "wl-2",
    ];
    assert_eq!(made, expected, "{out}");
    assert_eq!(read(dir.join("wl-2")), "[\"p\", \"q\"]\n");
    assert_eq!(read(dir.join("user-bob")), "1002\n");
    assert_eq!(read(dir.join("uids.json")), "[1001, 1002]");
    assert_eq!(read(dir.join("found")), "fallback\n");
    // The item of with_subelements lacks the list it went through, as in Ansible.
    assert_eq!(read(dir.join("key-ann-k1")), "{\"name\": \"ann\"}\n");

    let r: serde_json::Value = serde_json::from_str(&read(dir.join("results.json"))).unwrap();
    let top: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(top, ["results", "skipped", "changed", "msg"], "{r}");
    assert_eq!((&r["changed"], &r["skipped"], &r["msg"]), (&true.into(), &false.into(), &"All items completed".into()));
    let results = r["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "{r}");
    let first = &results[0];
    assert_eq!(first["stdout"], "0/3 a -");
    assert_eq!(first["stdout_lines"], serde_json::json!(["0/3 a -"]));
    assert_eq!((&first["rc"], &first["changed"], &first["failed"]), (&0.into(), &true.into(), &false.into()));
    assert_eq!((&first["item"], &first["ansible_loop_var"]), (&"a".into(), &"item".into()));
    assert_eq!((&first["i"], &first["ansible_index_var"]), (&0.into(), &"i".into()));
    assert_eq!(first["ansible_loop"]["allitems"], serde_json::json!(["a", "b", "c"]));
    assert_eq!(first["ansible_loop"]["nextitem"], "b");
    let skipped = &results[1];
    assert_eq!(skipped["skipped"], true, "{r}");
    assert_eq!(skipped["skip_reason"], "Conditional result was False");
    assert_eq!(skipped["false_condition"], "item != 'b'");
    assert_eq!(
        (&skipped["item"], &skipped["i"], &skipped["ansible_loop"]["index"]),
        (&"b".into(), &1.into(), &2.into())
    );
    assert!(skipped.get("rc").is_none(), "a skipped item ran nothing: {r}");
    assert_eq!(results[2]["stdout"], "2/3 c b");
    assert_eq!(results[2]["ansible_loop"]["last"], true);

    // A command `creates:` keeps from running is ok, with Ansible's words.
    assert_eq!(out.task("h1", "creates").status, "ok", "{out}");
    let c: serde_json::Value = serde_json::from_str(&read(dir.join("creates.json"))).unwrap();
    let said = format!("skipped, since {} exists", dir.display());
    assert_eq!(c["stdout"], said.as_str(), "{c}");
    assert_eq!(c["stdout_lines"], serde_json::json!([said]));
    assert_eq!(
        (&c["rc"], &c["changed"], &c["skipped"], &c["failed"]),
        (&0.into(), &false.into(), &false.into(), &false.into())
    );
    assert_eq!(c["msg"], format!("Did not run command since '{}' exists", dir.display()));

    // Nothing left to do: every loop's items are ok the second time.
    let again = run_json(&fleet, &pb, &fleet.inventory(), &[]);
    again.assert_code(0);
    for task in ["with_items flattens one level", "with_dict", "with_subelements", "with_fileglob", "with_first_found"]
    {
        assert_eq!(again.task("h1", task).status, "ok", "{task}\n{again}");
    }
}

/// As in Ansible, a failed item does not stop its loop: the items after it
/// run, then the task fails (or, under ignore_errors, registers "One or
/// more items failed") and the host stops there.
#[test]
fn a_failed_loop_item_lets_the_loop_finish_then_fails_the_task() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let root = out_dirs(&fleet);
    let pb = playbook(
        &fleet,
        "loop_fail.yml",
        r#"
- name: failing items
  hosts: all
  vars:
    dir: "@ROOT@/{{ inventory_hostname }}"
  tasks:
    - name: ignored
      shell: "test {{ item }} != bad && touch {{ dir }}/ignored-{{ item }}"
      loop: [a, bad, c]
      ignore_errors: true
      register: r
    - name: loop results
      copy: {dest: "{{ dir }}/results.json", content: "{{ r | to_json }}"}
    - name: failing
      shell: "test {{ item }} != bad && touch {{ dir }}/failing-{{ item }}"
      loop: [a, bad, c]
    - name: after
      copy: {dest: "{{ dir }}/after", content: "x\n"}
"#,
        &root,
    );
    let out = run_json(&fleet, &pb, &fleet.inventory(), &[]);
    out.assert_code(2);
    let dir = root.join("h1");
    for file in ["ignored-a", "ignored-c", "failing-a", "failing-c"] {
        assert!(dir.join(file).exists(), "{file} missing\n{out}");
    }
    assert!(!dir.join("after").exists(), "the host went on after a failed task\n{out}");
    assert_eq!(out.task("h1", "failing").status, "failed", "{out}");
    let r: serde_json::Value = serde_json::from_str(&read(dir.join("results.json"))).unwrap();
    assert_eq!(
        (&r["failed"], &r["changed"], &r["msg"]),
        (&true.into(), &true.into(), &"One or more items failed".into())
    );
    let failed: Vec<bool> = r["results"].as_array().unwrap().iter().map(|i| i["failed"] == true).collect();
    assert_eq!(failed, [false, true, false], "{r}");
    assert_eq!(r["results"][1]["rc"], 1);
}

/// `delegate_to: localhost` and `connection: local` run a task on this
/// machine (no ssh session around it), the host's other tasks on the host,
/// with the host's variables either way.
#[test]
fn delegate_to_localhost_runs_the_task_here() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let root = out_dirs(&fleet);
    let pb = playbook(
        &fleet,
        "delegate.yml",
        r#"
- hosts: all
  tasks:
    - name: on the host
      shell: 'echo "${SSH_CONNECTION:+ssh} {{ inventory_hostname }}" >@ROOT@/{{ inventory_hostname }}/host'
    - name: delegated
      shell: 'echo "${SSH_CONNECTION:+ssh}here {{ inventory_hostname }}" >@ROOT@/{{ inventory_hostname }}/delegated'
      delegate_to: localhost
      register: d
    - name: local connection
      shell: 'echo "${SSH_CONNECTION:+ssh}here {{ d.rc }}" >@ROOT@/{{ inventory_hostname }}/local'
      connection: local
    - name: back on the host
      shell: 'echo "${SSH_CONNECTION:+ssh}" >@ROOT@/{{ inventory_hostname }}/back'
"#,
        &root,
    );
    // This machine's ssh session, if the tests run in one, is not the host's.
    let out = PushCmd::run_playbook(&pb, &fleet.inventory())
        .args(["--format", "json"])
        .env("SSH_CONNECTION", "")
        .current_dir(fleet.work_dir())
        .run();
    out.assert_code(0);
    let alias = &fleet.aliases()[0];
    let file = |name: &str| read(root.join(alias).join(name));
    assert_eq!(file("host"), format!("ssh {alias}\n"), "{out}");
    assert_eq!(file("delegated"), format!("here {alias}\n"), "{out}");
    assert_eq!(file("local"), "here 0\n", "{out}");
    assert_eq!(file("back"), "ssh\n", "{out}");
}
