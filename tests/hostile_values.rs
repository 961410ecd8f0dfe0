//! Hostile values × every place a playbook puts them, against a real sshd
//! host on 127.0.0.1: each value arrives as the same bytes, and nothing a
//! value holds runs.
//!
//! Each value tries to `touch` the file `pwned` in the test's folder in the
//! ways a shell would run it; the test asserts that file never appears,
//! and that every task wrote exactly the value (or what its context makes
//! of it) to its own output file.

use push_tests::{read, require, require_sshd, write, Fleet, PushCmd};
use std::fmt::Write as _;

/// Values, with `@P@` standing for the path a value tries to create.
const HOSTILE: &[&str] = &[
    "plain",
    "a -n -e b c",
    "'",
    "\"",
    "$(touch @P@)",
    "`touch @P@`",
    "x;touch${IFS}@P@;",
    ";touch @P@;",
    "x';touch @P@;'",
    "x\";touch @P@;\"",
    "'\"$(touch @P@)\"'",
    "\"'`touch @P@`'\"",
    "a\ntouch @P@",
    "*",
    "?[a]",
    "-n",
    "\\",
    "\\\\'",
    "\\$(touch @P@)",
    "!",
    "$HOME ${IFS} ~",
    "é ☃ 𝄞",
    ") ( } {",
    "a&&touch @P@",
    "a|touch @P@",
    "#",
    "\t",
];

/// Shell and command texts, `V` standing for `{{ vN }}`, `Q` for
/// `{{ vN | quote }}` and `OUT` for the task's output file; each writes what it got there. The second field is
/// what the file holds for a value.
const SHELL_CONTEXTS: &[(&str, &str, Expect)] = &[
    ("bare", "printf '%s' V > OUT", Expect::Value),
    ("single", "printf '%s' 'V' > OUT", Expect::Value),
    ("double", "printf '%s' \"V\" > OUT", Expect::Value),
    ("double-with-text", "printf '%s' \"<V>\" > OUT", Expect::Angled),
    ("subst", "printf '%s' \"$(printf '%s.' \"V\")\" > OUT", Expect::Dotted),
    ("subst-bare", "x=$(printf '%s.' V); printf '%s' \"$x\" > OUT", Expect::Dotted),
    ("backticks", "x=`printf '%s.' V`; printf '%s' \"$x\" > OUT", Expect::Dotted),
    ("heredoc", "cat > OUT <<EOF\nV\nEOF\n", Expect::Line),
    ("heredoc-quoted", "cat > OUT <<'EOF'\nV\nEOF\n", Expect::Line),
    ("sh-c", "sh -c 'printf %s \"V\" > OUT'", Expect::Value),
    ("quote-filter", "printf '%s' Q > OUT", Expect::Value),
    ("bash-c-double", "bash -c \"printf '%s' V > OUT\"", Expect::Value),
];

/// `command:` texts: a shell it runs with `-c` gets its script escaped.
const COMMAND_CONTEXTS: &[(&str, &str, Expect)] = &[
    ("sh-c", "sh -c 'printf %s V > OUT'", Expect::Value),
    ("sh-c-double", "sh -c 'printf %s \"V\" > OUT'", Expect::Value),
    ("bash-c", "bash -c \"printf '%s' V > OUT\"", Expect::Value),
];

#[derive(Clone, Copy)]
enum Expect {
    Value,
    Angled,
    Dotted,
    Line,
}

impl Expect {
    fn of(self, value: &str) -> String {
        match self {
            Expect::Value => value.to_string(),
            Expect::Angled => format!("<{value}>"),
            Expect::Dotted => format!("{value}."),
            Expect::Line => format!("{value}\n"),
        }
    }
}

/// YAML for one string: JSON is YAML, and escapes every byte safely.
fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

#[test]
fn hostile_values_stay_data_in_shell_command_and_module_arguments() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let work = fleet.work_dir();
    let out = work.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let pwned = work.join("pwned");
    let values: Vec<String> = HOSTILE.iter().map(|v| v.replace("@P@", &pwned.display().to_string())).collect();

    let mut vars = serde_json::Map::new();
    let mut tasks = String::new();
    let mut expected: Vec<(String, String)> = Vec::new();
    for (n, value) in values.iter().enumerate() {
        vars.insert(format!("v{n}"), value.clone().into());
        let var = format!("{{{{ v{n} }}}}");
        for (module, contexts) in [("shell", SHELL_CONTEXTS), ("command", COMMAND_CONTEXTS)] {
            for (name, text, expect) in contexts {
                let file = format!("{n}-{module}-{name}");
                let text = text
                    .replace('V', &var)
                    .replace('Q', &format!("{{{{ v{n} | quote }}}}"))
                    .replace("OUT", &out.join(&file).display().to_string());
                writeln!(tasks, "    - {module}: {}", yaml_str(&text)).unwrap();
                expected.push((file, expect.of(value)));
            }
        }
        // `command:` without a shell: the value is one argument, quotes or not.
        writeln!(tasks, "    - command: printf %s '{var}'\n      register: r{n}").unwrap();
        let dest = out.join(format!("{n}-command-argv"));
        writeln!(tasks, "    - copy:\n        content: \"{{{{ r{n}.stdout }}}}\"\n        dest: {}", dest.display())
            .unwrap();
        expected.push((format!("{n}-command-argv"), value.clone()));
        // Module arguments: content, a line, a path.
        let dest = out.join(format!("{n}-copy"));
        writeln!(tasks, "    - copy:\n        content: \"{var}\"\n        dest: {}", dest.display()).unwrap();
        expected.push((format!("{n}-copy"), value.clone()));
        if !value.contains('\n') {
            let path = out.join(format!("{n}-lineinfile"));
            writeln!(
                tasks,
                "    - lineinfile:\n        path: {}\n        line: \"{var}\"\n        create: true",
                path.display()
            )
            .unwrap();
            expected.push((format!("{n}-lineinfile"), format!("{value}\n")));
        }
        let name = value.replace('/', "_");
        if !name.is_empty() && name != "." && name != ".." {
            let dir = out.join(format!("{n}-dir"));
            std::fs::create_dir_all(&dir).unwrap();
            writeln!(
                tasks,
                "    - file:\n        path: \"{}/{{{{ v{n} | replace('/', '_') }}}}\"\n        state: touch",
                dir.display()
            )
            .unwrap();
        }
    }
    let vars_file = work.join("values.json");
    write(&vars_file, serde_json::to_string(&vars).unwrap());
    let playbook = work.join("hostile.yml");
    write(&playbook, format!("- hosts: all\n  tasks:\n{tasks}"));

    let run = PushCmd::run_playbook(&playbook, &fleet.inventory())
        .arg("-e")
        .arg(format!("@{}", vars_file.display()))
        .current_dir(&work)
        .run();
    run.assert_code(0);
    assert!(!pwned.exists(), "a value ran as code\n{run}");

    let mut wrong = Vec::new();
    for (file, want) in &expected {
        let got = std::fs::read(out.join(file)).map(|b| String::from_utf8_lossy(&b).into_owned());
        if got.as_deref().ok() != Some(want.as_str()) {
            wrong.push(format!("{file}: want {want:?}, got {got:?}"));
        }
    }
    for (n, value) in values.iter().enumerate() {
        let name = value.replace('/', "_");
        if !name.is_empty() && name != "." && name != ".." && !out.join(format!("{n}-dir")).join(&name).is_file() {
            wrong.push(format!("{n}-dir: no file named {name:?}"));
        }
    }
    assert!(wrong.is_empty(), "{} of {} outputs differ:\n{}", wrong.len(), expected.len(), wrong.join("\n"));
}

/// The four forms a review ran code through, each exactly as written there.
#[test]
fn the_forms_that_ran_code_before_print_the_value() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let work = fleet.work_dir();
    let p = |name: &str| work.join(name).display().to_string();
    let playbook = work.join("forms.yml");
    write(
        &playbook,
        format!(
            "- hosts: all\n  tasks:\n\
             \x20   - shell: echo \"{{{{ v }}}}\" > {dq}\n\
             \x20   - shell: echo '{{{{ w }}}}' > {sq}\n\
             \x20   - command: sh -c 'echo {{{{ c }}}} > {cmd}'\n\
             \x20   - shell: \"echo {{{{ a | tojson }}}} > {json}\"\n",
            dq = p("out-dq"),
            sq = p("out-sq"),
            cmd = p("out-cmd"),
            json = p("out-json"),
        ),
    );
    let vars = serde_json::json!({
        "v": format!("$(touch {})", p("pwned-a")),
        "w": format!("x;touch {};", p("pwned-b")),
        "c": format!("x;touch${{IFS}}{}", p("pwned-c")),
        "a": {"k": format!("$(touch {})", p("pwned-d"))},
    });
    let run =
        PushCmd::run_playbook(&playbook, &fleet.inventory()).arg("-e").arg(vars.to_string()).current_dir(&work).run();
    run.assert_code(0);
    for marker in ["pwned-a", "pwned-b", "pwned-c", "pwned-d"] {
        assert!(!work.join(marker).exists(), "{marker}: a value ran\n{run}");
    }
    assert_eq!(read(work.join("out-dq")), format!("{}\n", vars["v"].as_str().unwrap()));
    assert_eq!(read(work.join("out-sq")), format!("{}\n", vars["w"].as_str().unwrap()));
    assert_eq!(read(work.join("out-cmd")), format!("{}\n", vars["c"].as_str().unwrap()));
    let json: serde_json::Value = serde_json::from_str(read(work.join("out-json")).trim_end()).unwrap();
    assert_eq!(json, vars["a"]);
}

/// Where no escape is sound: exit 4 at the value's place, with a hint, and
/// the host is never contacted.
#[test]
fn a_value_where_no_escape_is_sound_is_refused_before_connecting() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let work = fleet.work_dir();
    let ran = work.join("ran");
    let playbook = work.join("refused.yml");
    write(
        &playbook,
        format!(
            "- hosts: all\n  tasks:\n    - shell: touch {}\n    - shell: echo ${{HOME:-{{{{ v }}}}}}\n",
            ran.display()
        ),
    );
    let run = PushCmd::run_playbook(&playbook, &fleet.inventory()).args(["-e", "v=x"]).current_dir(&work).run();
    run.assert_code(4);
    let err = run.stderr();
    assert!(err.contains("refused.yml:4:14"), "the value's file:line:col\n{run}");
    assert!(err.contains("inside a `${...}` expansion"), "{run}");
    assert!(err.contains("hint:") && err.contains("shell variable first"), "{run}");
    assert!(!ran.exists(), "nothing may run on a refused playbook");
}

/// `| safe` splices shell code: allowed, and named on every run.
#[test]
fn safe_splices_shell_code_and_says_so_in_check_mode() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let work = fleet.work_dir();
    let out = work.join("safe-out");
    let playbook = work.join("safe.yml");
    write(&playbook, "- hosts: all\n  tasks:\n    - name: build\n      shell: \"{{ build | safe }}\"\n");
    let build = serde_json::json!({ "build": format!("echo built > {}", out.display()) }).to_string();
    let check =
        PushCmd::run_playbook(&playbook, &fleet.inventory()).args(["--check", "-e", &build]).current_dir(&work).run();
    check.assert_code(0);
    assert!(
        check.stdout().contains("safe.yml:4:14: task `build` splices `| safe` text into its command unescaped"),
        "{check}"
    );
    assert!(!out.exists(), "--check runs nothing");
    let run = PushCmd::run_playbook(&playbook, &fleet.inventory()).args(["-e", &build]).current_dir(&work).run();
    run.assert_code(0);
    assert_eq!(read(&out), "built\n");
}
