//! Bad input never reaches a host: the corpus in `tests/bad_inputs/`.
//!
//! Each case folder holds `playbook.yml`, `hosts.ini` and `expected.txt`.
//! The case is copied to a tempdir, `@PORT@` in its files is replaced by the
//! port of a [`ConnectionTrap`] (a loopback port that counts connections and
//! hangs up, so a host there is unreachable), and
//! `push run playbook.yml -i hosts.ini ARGS` runs there. Then:
//!
//! - the exit code is the expected one (4 for input errors, 5 for a bad
//!   command line; an engine that connected first would give 3),
//! - the trap saw no connection at all,
//! - nothing went to stdout as a task event, push did not panic,
//! - stderr holds what `expected.txt` asks for.
//!
//! `expected.txt`, one directive a line (`#` starts a comment):
//!
//! ```text
//! exit: 4                  expected exit code (default 4)
//! args: -e novalue         extra arguments after the inventory (shell words)
//! at: playbook.yml:3:16    stderr names this place (`FILE:LINE` pins the line only),
//!                          and quotes that line of the file
//! contains: cpy            stderr contains this text
//! lacks: SECRET            stderr does not contain this text
//! hint: copy               stderr has a line with `hint` and this text
//! hint:                    stderr has a line with `hint`
//! env: PUSH_TEMPLATE_FUEL=1000   an environment variable for push
//! ```

use std::path::{Path, PathBuf};

use push_tests::{ConnectionTrap, PushCmd};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bad_inputs")
}

#[derive(Default, Debug)]
struct Expected {
    exit: Option<i32>,
    args: Vec<String>,
    at: Vec<String>,
    contains: Vec<String>,
    lacks: Vec<String>,
    hints: Vec<String>,
    env: Vec<(String, String)>,
}

fn parse_expected(path: &Path) -> Expected {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut exp = Expected::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once(':').unwrap_or_else(|| panic!("{}:{}: no `key:`", path.display(), n + 1));
        let value = value.trim().to_string();
        match key.trim() {
            "exit" => exp.exit = Some(value.parse().expect("exit code")),
            "args" => exp.args = shlex::split(&value).expect("shell words in args"),
            "at" => exp.at.push(value),
            "contains" => exp.contains.push(value),
            "lacks" => exp.lacks.push(value),
            "hint" => exp.hints.push(value),
            "env" => {
                let (k, v) = value.split_once('=').expect("env: KEY=VALUE");
                exp.env.push((k.to_string(), v.to_string()));
            }
            other => panic!("{}:{}: unknown directive `{other}`", path.display(), n + 1),
        }
    }
    assert!(!exp.hints.is_empty(), "{}: every case asks for a hint", path.display());
    exp
}

/// Copy the case into a tempdir with `@PORT@` replaced.
fn stage(case: &Path, port: u16) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("push-bad-input-").tempdir().unwrap();
    copy_case(case, dir.path(), port);
    dir
}

/// The case's files and folders (a role's `roles/NAME/...`), `@PORT@` replaced.
fn copy_case(from: &Path, to: &Path, port: u16) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_case(&entry.path(), &target, port);
        } else {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            std::fs::write(target, text.replace("@PORT@", &port.to_string())).unwrap();
        }
    }
}

fn run_case(name: &str) {
    check_case(name, &corpus().join(name));
}

/// Run the case in folder `case` and check it as the module docs say.
fn check_case(name: &str, case: &Path) {
    let exp = parse_expected(&case.join("expected.txt"));
    let trap = ConnectionTrap::start();
    let staged = stage(case, trap.port());
    let mut cmd = PushCmd::new()
        .args(["run", "playbook.yml", "-i", "hosts.ini"])
        .args(exp.args.iter().map(String::as_str))
        .current_dir(staged.path());
    for (k, v) in &exp.env {
        cmd = cmd.env(k, v);
    }
    let out = cmd.run();
    let tmp = staged.path().display().to_string();
    let stderr = out.plain_stderr();
    let shown = format!("case {name}:\n{}", out.to_string().replace(&tmp, "[CASE]"));

    let expected_code = exp.exit.unwrap_or(4);
    assert_eq!(out.0.code, Some(expected_code), "expected exit {expected_code}\n{shown}");
    assert_eq!(trap.connections(), 0, "push connected to the host despite bad input\n{shown}");
    assert!(!stderr.contains("panicked at"), "push panicked\n{shown}");
    assert!(!out.stdout().contains("\"event\":\"task\""), "a task ran\n{shown}");
    assert!(stderr.contains("error"), "no `error` in stderr\n{shown}");

    for at in &exp.at {
        let (file, place) = at.split_once(':').unwrap_or_else(|| panic!("at: FILE:LINE[:COL], got {at}"));
        let line_no: usize = place.split(':').next().unwrap().parse().expect("line number");
        let located = if place.contains(':') {
            stderr.contains(&format!("{file}:{place}"))
        } else {
            // FILE:LINE followed by `:COL`.
            let needle = format!("{file}:{place}:");
            stderr.match_indices(&needle).any(|(i, m)| stderr[i + m.len()..].starts_with(|c: char| c.is_ascii_digit()))
        };
        assert!(located, "stderr does not name `{at}`\n{shown}");
        // The offending line, quoted from the (staged) file.
        let text = std::fs::read_to_string(staged.path().join(file)).unwrap();
        let line = text.lines().nth(line_no - 1).unwrap_or_else(|| panic!("{file} has no line {line_no}"));
        assert!(stderr.contains(line), "stderr does not quote line {line_no} of {file}: {line:?}\n{shown}");
    }
    for c in &exp.contains {
        assert!(stderr.contains(c.as_str()), "stderr lacks {c:?}\n{shown}");
    }
    for l in &exp.lacks {
        assert!(!stderr.contains(l.as_str()), "stderr shows {l:?}\n{shown}");
    }
    for h in &exp.hints {
        let found = stderr.lines().any(|l| l.to_lowercase().contains("hint") && l.contains(h.as_str()));
        assert!(found, "no hint line containing {h:?}\n{shown}");
    }
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_case(stringify!($name));
            }
        )*

        const CASES: &[&str] = &[$(stringify!($name)),*];
    };
}

/// A case too big to keep in the corpus, written from its files' text.
fn generated_case(name: &str, files: &[(&str, &str)]) {
    let dir = tempfile::Builder::new().prefix("push-bad-input-case-").tempdir().unwrap();
    for (file, text) in files {
        std::fs::write(dir.path().join(file), text).unwrap();
    }
    check_case(name, dir.path());
}

const ONE_HOST: &str = "h1 ansible_host=127.0.0.1 ansible_user=root ansible_port=@PORT@\n";

/// 1500 variables, each defined by the previous one: a clear error, not a
/// stack overflow.
#[test]
fn variable_chain_too_deep() {
    let mut playbook = String::from("- hosts: all\n  vars:\n    v0: x\n");
    for i in 1..1500 {
        playbook.push_str(&format!("    v{i}: \"{{{{ v{} }}}}\"\n", i - 1));
    }
    playbook.push_str("  tasks:\n    - command: echo {{ v1499 }}\n");
    let line = 1500 + 4;
    let expected = format!("at: playbook.yml:{line}:16\ncontains: v1499\ncontains: `v1499` -> `v1498`\nhint: nest\n");
    generated_case(
        "variable_chain_too_deep",
        &[("playbook.yml", &playbook), ("hosts.ini", ONE_HOST), ("expected.txt", &expected)],
    );
}

cases!(
    role_missing,
    role_tasks_from_missing,
    malformed_yaml,
    malformed_ini,
    unknown_module,
    unknown_fqcn_module,
    misspelled_argument,
    wrong_type_loop,
    with_dict_of_a_list,
    subelements_key_missing,
    unknown_loop_control_key,
    bad_sequence,
    two_loops,
    undefined_variable,
    inventory_cycle,
    unknown_play_keyword,
    missing_required_argument,
    bad_extra_vars,
    bad_health_check,
    host_name_like_an_option,
    ansible_host_like_an_option,
    apt_name_is_a_path,
    systemd_name_is_a_pattern,
    docker_ssh_key_smuggles_an_option,
    vault_wrong_password,
    vault_password_missing,
    vault_extra_vars_without_password,
    vault_value_in_a_bad_argument,
    private_key_file_missing,
    become_method_doas,
    become_method_pbrun_in_a_play,
    become_method_in_ansible_cfg,
    become_flags_not_for_su,
    become_flags_host_var,
    ssh_common_args_unclosed_quote,
    hosts_match_no_host,
    limit_matches_no_host,
    no_play_matches_a_host,
    block_keyword_typo,
    rescue_without_block,
    set_fact_bad_name,
    include_vars_missing,
    until_on_a_loop,
    include_tasks_missing_file,
    meta_unknown,
    delegate_to_another_host,
);

/// With `--format json`, an input error is a JSON event on stdout (and
/// nothing on stderr), naming its place and hint.
#[test]
fn input_errors_are_json_events_with_format_json() {
    let trap = ConnectionTrap::start();
    let staged = stage(&corpus().join("unknown_module"), trap.port());
    let out = PushCmd::new()
        .args(["run", "playbook.yml", "-i", "hosts.ini", "--format", "json"])
        .current_dir(staged.path())
        .run();
    out.assert_code(4);
    assert_eq!(trap.connections(), 0, "{out}");
    assert_eq!(out.stderr(), "", "{out}");
    let events = out.json();
    assert_eq!(events.len(), 1, "{out}");
    let e = &events[0];
    assert_eq!(e["event"], "error", "{out}");
    assert_eq!(e["file"], "playbook.yml", "{out}");
    assert!(e["line"].as_u64().is_some() && e["col"].as_u64().is_some(), "{out}");
    assert!(e["msg"].as_str().is_some_and(|m| m.contains("cpy")), "{out}");
    assert!(e["hint"].as_str().is_some_and(|h| h.contains("copy")), "{out}");
}

#[test]
fn every_case_folder_has_a_test_and_is_well_formed() {
    let mut on_disk: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CASES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "tests/bad_inputs/ and the cases!() list in bad_input.rs differ");
    for name in CASES {
        let case = corpus().join(name);
        for f in ["playbook.yml", "hosts.ini", "expected.txt"] {
            assert!(case.join(f).is_file(), "{name}/{f} missing");
        }
        let exp = parse_expected(&case.join("expected.txt"));
        // Every `at:` points at a real line (and column) of the file.
        for at in &exp.at {
            let mut parts = at.split(':');
            let (file, line) = (parts.next().unwrap(), parts.next().unwrap().parse::<usize>().unwrap());
            let text = std::fs::read_to_string(case.join(file)).unwrap();
            let l = text.lines().nth(line - 1).unwrap_or_else(|| panic!("{name}: {file} has no line {line}"));
            if let Some(col) = parts.next() {
                let col: usize = col.parse().unwrap();
                assert!(col >= 1 && col <= l.chars().count(), "{name}: column {col} is outside {l:?}");
            }
            assert!(!l.contains("@PORT@"), "{name}: `at:` on a line whose text changes when staged");
        }
        if exp.exit.unwrap_or(4) == 4 {
            assert!(!exp.at.is_empty(), "{name}: an input error must name its place");
        }
    }
}

/// A pipe whose reader is already gone: writing to it fails (EPIPE).
fn dead_pipe() -> std::process::Stdio {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills both descriptors, each then owned once.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    let (reader, writer) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(reader);
    writer.into()
}

/// An error message that cannot be written (stderr closed, or its reader
/// gone) still ends in the error's exit code, not in a panic (101).
#[test]
fn input_error_with_stderr_unwritable_exits_4() {
    let case = corpus().join("undefined_variable");
    let trap = ConnectionTrap::start();
    let staged = stage(&case, trap.port());
    let status = std::process::Command::new(push_tests::push_bin())
        .args(["run", "playbook.yml", "-i", "hosts.ini"])
        .current_dir(staged.path())
        .stdout(std::process::Stdio::null())
        .stderr(dead_pipe())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(4));
}

/// The same for stdout: `push inventory --list | head -c0`.
#[test]
fn listing_to_a_gone_reader_exits_0() {
    let case = corpus().join("undefined_variable");
    let status = std::process::Command::new(push_tests::push_bin())
        .args(["inventory", "--list", "-i", "hosts.ini"])
        .current_dir(&case)
        .stdout(dead_pipe())
        .stderr(dead_pipe())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

/// A playbook of one task `command: ARG` (ARG as YAML text, on line 3 at
/// column 16).
fn one_task(arg: &str) -> String {
    format!("- hosts: all\n  tasks:\n    - command: {arg}\n")
}

/// Forty variables, each the one before twice over: 16 bytes become 16 TiB
/// unless the size of what a render makes is bounded.
#[test]
fn template_doubling_through_variables() {
    let mut playbook = String::from("- hosts: all\n  vars:\n    a0: xxxxxxxxxxxxxxxx\n");
    for i in 1..=40 {
        playbook.push_str(&format!("    a{i}: \"{{{{ a{} ~ a{} }}}}\"\n", i - 1, i - 1));
    }
    playbook.push_str("  tasks:\n    - command: echo {{ a40 }}\n");
    let expected =
        "at: playbook.yml:45:16\ncontains: PUSH_TEMPLATE_MAX_BYTES\ncontains: in variable `a40`\nhint: a ~ a\n";
    generated_case(
        "template_doubling_through_variables",
        &[("playbook.yml", &playbook), ("hosts.ini", ONE_HOST), ("expected.txt", expected)],
    );
}

#[test]
fn template_repeating_a_string_2_to_the_40() {
    let expected = "at: playbook.yml:3:16\ncontains: PUSH_TEMPLATE_FUEL\nhint: PUSH_TEMPLATE_FUEL\n";
    let playbook = one_task("echo {{ 'x' * 2**40 }}");
    generated_case(
        "template_repeating_a_string",
        &[("playbook.yml", &playbook), ("hosts.ini", ONE_HOST), ("expected.txt", expected)],
    );
}

/// Ten billion turns of a loop: stopped by the fuel, not after hours.
#[test]
fn template_nested_loops() {
    let expected = "at: playbook.yml:3:16\ncontains: PUSH_TEMPLATE_FUEL\nhint: loops\n";
    let playbook = one_task("\"{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\"");
    generated_case(
        "template_nested_loops",
        &[("playbook.yml", &playbook), ("hosts.ini", ONE_HOST), ("expected.txt", expected)],
    );
}

/// Both limits are the user's: lowered, they stop templates that pass with
/// the defaults.
#[test]
fn template_limits_are_configurable() {
    let loop_ = one_task("\"{% for i in range(1000) %}{{ i }}{% endfor %}\"");
    let expected = "env: PUSH_TEMPLATE_FUEL=1000\nat: playbook.yml:3:16\ncontains: PUSH_TEMPLATE_FUEL=1000 \nhint: PUSH_TEMPLATE_FUEL\n";
    generated_case(
        "template_fuel_lowered",
        &[("playbook.yml", &loop_), ("hosts.ini", ONE_HOST), ("expected.txt", expected)],
    );
    let expected = "exit: 5\nenv: PUSH_TEMPLATE_FUEL=many\ncontains: PUSH_TEMPLATE_FUEL=`many`\nhint: default\n";
    generated_case(
        "template_fuel_unreadable",
        &[("playbook.yml", &loop_), ("hosts.ini", ONE_HOST), ("expected.txt", expected)],
    );
    let long = one_task("echo {{ 'x' * 100 }}");
    let expected = "env: PUSH_TEMPLATE_MAX_BYTES=50\nat: playbook.yml:3:16\ncontains: PUSH_TEMPLATE_MAX_BYTES=50 \nhint: PUSH_TEMPLATE_MAX_BYTES\n";
    generated_case(
        "template_size_lowered",
        &[("playbook.yml", &long), ("hosts.ini", ONE_HOST), ("expected.txt", expected)],
    );
}
