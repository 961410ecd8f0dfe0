//! The escaper against real shells: every context × hostile values, run in
//! dash and bash, must print the value's bytes and run nothing.

use std::path::Path;
use std::process::Command;

use proptest::prelude::*;

use super::*;

/// Shell text with each `{v}` a slot of its own holding `value`, as the
/// renderer writes them.
fn slotted(template: &str, value: &str) -> (String, Vec<SlotValue>) {
    let parts: Vec<&str> = template.split("{v}").collect();
    let mut text = parts[0].to_string();
    for (i, part) in parts[1..].iter().enumerate() {
        text.push_str(&slot(i));
        text.push_str(part);
    }
    (text, vec![SlotValue::from(value); parts.len() - 1])
}

fn splice(template: &str, value: &str) -> Result<String, QuoteError> {
    let (text, values) = slotted(template, value);
    splice_shell(&text, &values)
}

/// Each context: a script that prints the value (then `\0`), and what it
/// prints for a value. Contexts that change the data on purpose say how.
const CONTEXTS: &[(&str, &str)] = &[
    ("unquoted", "printf '%s\\0' {v}"),
    ("adjacent to text", "printf '%s\\0' pre{v}post"),
    ("assignment", "x={v}; printf '%s\\0' \"$x\""),
    ("single quotes", "printf '%s\\0' '{v}'"),
    ("single quotes with text", "printf '%s\\0' 'a {v} b'"),
    ("double quotes", "printf '%s\\0' \"{v}\""),
    ("double quotes with text", "printf '%s\\0' \"a $HOME {v} b\""),
    ("command substitution", "x=$(printf '%s.' {v}); printf '%s\\0' \"$x\""),
    ("command substitution in double quotes", "printf '%s\\0' \"$(printf '%s.' \"{v}\")\""),
    ("nested substitutions", "printf '%s\\0' \"$(printf '%s' \"$(printf '%s.' '{v}')\")\""),
    ("backticks", "x=`printf '%s.' {v}`; printf '%s\\0' \"$x\""),
    ("backticks, double quotes", "x=`printf '%s.' \"{v}\"`; printf '%s\\0' \"$x\""),
    ("backticks, single quotes", "x=`printf '%s.' '{v}'`; printf '%s\\0' \"$x\""),
    ("nested backticks", "x=`y=\\`printf '%s.' {v}\\`; printf '%s' \"$y\"`; printf '%s\\0' \"$x\""),
    ("here-doc", "cat <<EOF\n{v}\nEOF\nprintf '\\0'"),
    ("quoted here-doc", "cat <<'EOF'\n{v}\nEOF\nprintf '\\0'"),
    ("sh -c script", "sh -c 'printf \"%s\" {v}'; printf '\\0'"),
    ("sh -c script, inner double quotes", "sh -c 'printf \"%s\" \"{v}\"'; printf '\\0'"),
    ("sh -c double-quoted script", "sh -c \"printf '%s' {v}\"; printf '\\0'"),
    ("bash -c double-quoted script, inner single quotes", "bash -c \"printf '%s' '{v}'\"; printf '\\0'"),
    ("here-doc in a substitution", "x=$(cat <<EOF\n{v}.\nEOF\n); printf '%s\\0' \"$x\""),
];

/// What a context prints for `value`.
fn expected(context: &str, value: &str) -> String {
    match context {
        "adjacent to text" => format!("pre{value}post"),
        "double quotes with text" => format!("a {} {value} b", std::env::var("HOME").unwrap_or_default()),
        "single quotes with text" => format!("a {value} b"),
        c if c.contains("substitution") || c.contains("backticks") => format!("{value}."),
        "here-doc" | "quoted here-doc" => format!("{value}\n"),
        _ => value.to_string(),
    }
}

const HOSTILE: &[&str] = &[
    "plain",
    "",
    "a b  c",
    "'",
    "\"",
    "''",
    "\"\"",
    "$(touch PWN)",
    "`touch PWN`",
    "${IFS}",
    "x;touch${IFS}PWN;",
    ";touch PWN;",
    "x';touch PWN;'",
    "x\";touch PWN;\"",
    "'\"$(touch PWN)\"'",
    "\"'`touch PWN`'\"",
    "a\nb",
    "a\ntouch PWN",
    "*",
    "?[a]",
    "-n",
    "-e -n",
    "\\",
    "\\\\",
    "\\'",
    "\\\"",
    "\\$(touch PWN)",
    "\\`touch PWN\\`",
    "!",
    "!!",
    "$HOME",
    "~",
    "~root",
    "é ☃ 𝄞",
    ")",
    "(",
    "}",
    "EOX",
    "a&&touch PWN",
    "a|touch PWN",
    "a>PWN",
    "<PWN",
    "#",
    "\t",
];

/// Run `script` in `shell` inside `dir`; the fields it printed.
fn run(shell: &str, script: &str, dir: &Path) -> Vec<String> {
    let out = Command::new(shell).arg("-c").arg(script).current_dir(dir).output().expect("run a shell");
    assert!(out.status.success(), "{shell} failed on {script:?}: {}", String::from_utf8_lossy(&out.stderr));
    // Lossy: a shell bug may cut a character (see `dash_drops_a_byte`).
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut fields: Vec<String> = text.split('\0').map(str::to_string).collect();
    assert_eq!(fields.pop().as_deref(), Some(""), "output ends with a NUL: {text:?}");
    fields
}

/// Every context in one script per value and shell; each prints its field.
fn check_round_trip(value: &str, shells: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let mut script = String::new();
    let mut names = Vec::new();
    for (name, template) in CONTEXTS {
        match splice(template, value) {
            Ok(text) => {
                script.push_str(&text);
                script.push('\n');
                names.push(*name);
            }
            Err(e) => {
                // Only a here-doc may refuse, and only a value that would end it.
                assert!(
                    name.contains("here-doc") && value.lines().any(|l| l.starts_with("EOF")),
                    "{name}: {value:?}: {e}"
                );
            }
        }
    }
    for shell in shells {
        let fields = run(shell, &script, dir.path());
        assert_eq!(fields.len(), names.len(), "{shell}: {value:?}\n{script}");
        for (name, field) in names.iter().zip(&fields) {
            if *shell == "dash" && name.contains("here-doc") && dash_drops_a_byte(value) {
                continue;
            }
            assert_eq!(field, &expected(name, value), "{shell}, {name}, value {value:?}:\n{script}");
        }
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "{shell}: value {value:?} ran something (made {left:?}):\n{script}");
    }
}

/// dash 0.5.12 drops the byte after a here-doc line's first characters
/// when they start the delimiter and a non-ASCII byte follows (`E\u{e9}`
/// prints `E` and half a character, with no value involved): a bug of
/// the shell, not of the escaping.
fn dash_drops_a_byte(value: &str) -> bool {
    value.split('\n').any(|line| {
        let ascii: String = line.chars().take_while(char::is_ascii).collect();
        !ascii.is_empty() && "EOF".starts_with(&ascii) && line.len() > ascii.len()
    })
}

#[test]
fn hostile_values_arrive_as_data_in_every_context() {
    for value in HOSTILE {
        check_round_trip(value, &["dash", "bash"]);
    }
}

#[test]
fn here_doc_values_that_would_end_it_are_refused() {
    for template in ["cat <<EOF\n{v}\nEOF", "cat <<'EOF'\n{v}\nEOF", "cat <<-EOF\n\t{v}\n\tEOF"] {
        for value in ["EOF", "x\nEOF", "x\nEOF\ntouch PWN", "x\n\tEOF"] {
            if value.contains('\t') && !template.contains("<<-") {
                continue;
            }
            let e = splice(template, value).unwrap_err();
            assert!(e.message.contains("delimiter `EOF`"), "{template:?} {value:?}: {e}");
        }
    }
}

#[test]
fn places_with_no_sound_escape_are_refused() {
    for (template, place) in [
        ("echo ${v}", "right after a `$`"),
        ("echo ${HOME:-{v}}", "inside a `${...}` expansion"),
        ("echo \"${HOME:-{v}}\"", "inside a `${...}` expansion"),
        ("echo $(( {v} + 1 ))", "inside `$((...))`"),
        ("echo $'{v}'", "inside `$'...'`"),
        ("cat <<{v}\nx\n{v}", "in a here-doc delimiter"),
        ("echo hi # {v}", "in a comment"),
        ("# {v}\necho hi", "in a comment"),
        ("echo \\{v}", "right after a backslash"),
        ("echo \"\\{v}\"", "right after a backslash inside double quotes"),
        ("echo \"`echo {v}`\"", "inside backticks inside double quotes"),
        ("echo `echo \\{v}`", "right after a backslash inside backticks"),
    ] {
        let e = splice(template, "x").unwrap_err();
        assert!(e.message.contains(place), "{template:?}: {e}");
        assert!(!e.hint.is_empty());
    }
}

#[test]
fn a_shell_script_word_in_shell_text_is_lexed_for_the_inner_shell() {
    assert_eq!(splice("sh -c 'echo {v}'", "a'b").unwrap(), r"sh -c 'echo '\''a'\''\'\'''\''b'\'''");
    assert_eq!(splice("x; bash -ec \"echo {v}\"", "$x").unwrap(), r#"x; bash -ec "echo '\$x'""#);
    // Not a script: an argument of another program.
    assert_eq!(splice("grep -c '{v}' f", "a'b").unwrap(), r"grep -c 'a'\''b' f");
    let e = splice("sh -c \"echo $(echo {v})\"", "x").unwrap_err();
    assert!(e.message.contains("outer shell expands first"), "{e}");
}

#[test]
fn comments_and_expansions_without_values_are_fine() {
    let text = splice("echo ${HOME:-/} $((1+2)) # a comment's }\necho {v} \"a#b\" x#y", "v w").unwrap();
    assert_eq!(text, "echo ${HOME:-/} $((1+2)) # a comment's }\necho 'v w' \"a#b\" x#y");
}

#[test]
fn each_context_gets_its_own_escape() {
    let v = "a'b\"c$d`e\\f";
    assert_eq!(splice("echo {v}", v).unwrap(), r#"echo 'a'\''b"c$d`e\f'"#);
    assert_eq!(splice("echo '{v}'", v).unwrap(), r#"echo 'a'\''b"c$d`e\f'"#);
    assert_eq!(splice("echo \"{v}\"", v).unwrap(), r#"echo "a'b\"c\$d\`e\\f""#);
    assert_eq!(splice("echo \"$(echo {v})\"", v).unwrap(), r#"echo "$(echo 'a'\''b"c$d`e\f')""#);
    assert_eq!(splice("echo `echo {v}`", v).unwrap(), r#"echo `echo 'a'\\''b"c\$d\`e\\f'`"#);
    assert_eq!(splice("cat <<E\n{v}\nE", v).unwrap(), "cat <<E\na'b\"c\\$d\\`e\\\\f\nE");
    assert_eq!(splice("cat <<'E'\n{v}\nE", v).unwrap(), "cat <<'E'\na'b\"c$d`e\\f\nE");
}

#[test]
fn text_after_a_here_doc_is_a_command_again() {
    let text = splice("cat <<EOF\n$HOME \"{v}\"\nEOF\necho {v}", "a b").unwrap();
    assert_eq!(text, "cat <<EOF\n$HOME \"a b\"\nEOF\necho 'a b'");
}

fn command(template: &str, value: &str) -> Vec<String> {
    let (text, values) = slotted(template, value);
    split_command(&text, &values).unwrap()
}

#[test]
fn command_words_keep_a_value_whole_whatever_its_quotes() {
    let v = "a -n -e b c";
    assert_eq!(command("echo '{v}'", v), ["echo", v]);
    assert_eq!(command("echo \"{v}\"", v), ["echo", v]);
    assert_eq!(command("echo {v}", v), ["echo", v]);
    assert_eq!(command("echo x{v}y", "'\""), ["echo", "x'\"y"]);
    // Python's shlex: inside double quotes only `\` and `"` are escaped.
    assert_eq!(command(r#"echo "a\$b\"c\\d" e\ f"#, ""), ["echo", r#"a\$b"c\d"#, "e f"]);
    assert_eq!(command("echo '#' #x", ""), ["echo", "#", "#x"]);
    let e = split_command("echo 'open", &[]).unwrap_err();
    assert!(e.message.contains("unbalanced quotes"), "{e}");
}

#[test]
fn a_shell_run_by_command_gets_its_script_quoted() {
    let v = "x;touch${IFS}PWN";
    assert_eq!(command("sh -c 'echo {v}'", v), ["sh", "-c", "echo 'x;touch${IFS}PWN'"]);
    assert_eq!(
        command("/bin/bash -euc \"echo {v}\" name", v),
        ["/bin/bash", "-euc", "echo 'x;touch${IFS}PWN'", "name"]
    );
    assert_eq!(
        command("env A=1 dash -c 'echo \"{v}\"'", v),
        ["env", "A=1", "dash", "-c", "echo \"x;touch\\${IFS}PWN\""]
    );
    assert_eq!(command("busybox sh -c 'echo {v}'", v)[3], "echo 'x;touch${IFS}PWN'");
    // Not a shell script: the value is an argument as it is.
    assert_eq!(command("grep -c {v} f", v), ["grep", "-c", v, "f"]);
    assert_eq!(command("sh script.sh {v}", v), ["sh", "script.sh", v]);
    assert_eq!(command("bash -o pipefail -c 'echo {v}'", v)[4], "echo 'x;touch${IFS}PWN'");
}

#[test]
fn a_shell_run_by_command_runs_nothing_from_values() {
    let dir = tempfile::tempdir().unwrap();
    for value in HOSTILE {
        for template in ["sh -c 'printf %s {v}'", "bash -c \"printf %s '{v}'\"", "dash -c 'printf %s \"{v}\"'"] {
            let argv = command(template, value);
            let out = Command::new(&argv[0]).args(&argv[1..]).current_dir(dir.path()).output().unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), *value, "{template} {value:?}: {argv:?}");
        }
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "a value ran");
}

/// Text that leans on what shells treat specially.
fn shellish() -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec![
        '\'', '"', '\\', '$', '`', '(', ')', '{', '}', ';', '&', '|', '<', '>', '*', '?', '[', ']', '~', '#', '!', '-',
        ' ', '\t', '\n', '=', 'a', 'E', 'O', 'F', 'é', '\u{2603}',
    ]);
    prop::collection::vec(prop_oneof![3 => special, 1 => any::<char>().prop_filter("no NUL", |c| *c != '\0')], 0..24)
        .prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn any_value_round_trips_through_dash_and_bash(value in shellish()) {
        check_round_trip(&value, &["dash", "bash"]);
    }
}
