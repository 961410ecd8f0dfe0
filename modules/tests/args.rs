//! Argument errors: what a user sees for a wrong playbook.

mod support;

use push_modules::ArgError;
use serde_json::json;
use support::try_plan;

fn err(module: &str, args: serde_json::Value) -> ArgError {
    try_plan(module, args).expect_err("should be refused")
}

#[test]
fn misspelled_arguments_suggest_the_right_name() {
    let e = err("copy", json!({"dest": "/x", "contnet": "y"}));
    assert_eq!((e.arg_name(), e.hint().as_deref()), (Some("contnet"), Some("did you mean `content`?")));
    let e = err("lineinfile", json!({"path": "/x", "line": "y", "regex": "^y", "insert_after": "EOF"}));
    assert_eq!(e.hint().as_deref(), Some("did you mean `insertafter`?"));
    let e = err("apt", json!({"name": "nginx", "update_cach": true}));
    assert_eq!(e.hint().as_deref(), Some("did you mean `update_cache`?"));
    // Far from everything: the valid names are listed instead.
    let e = err("group", json!({"name": "g", "colour": "blue"}));
    assert_eq!(e.hint().as_deref(), Some("valid arguments: gid, name, state, system"));
}

#[test]
fn wrong_choices_suggest() {
    let e = err("file", json!({"path": "/x", "state": "directroy"}));
    assert_eq!(e.hint().as_deref(), Some("did you mean `directory`?"));
    let e = err("systemd", json!({"name": "nginx", "state": "restart"}));
    assert_eq!(e.hint().as_deref(), Some("did you mean `restarted`?"));
    let e = err("apt", json!({"name": "nginx", "state": "lastest"}));
    assert_eq!(e.hint().as_deref(), Some("did you mean `latest`?"));
}

#[test]
fn argument_combinations_are_checked() {
    let cases = [
        ("copy", json!({"dest": "/x"}), "one of `content` or `src` is required"),
        ("copy", json!({"dest": "/x", "content": "a", "src": "b"}), "src and content are mutually exclusive"),
        ("copy", json!({"dest": "/x/", "content": "a"}), "can not use content with a dir as dest"),
        ("copy", json!({"dest": "/x", "content": "a", "validate": "visudo -c"}), "validate must contain %s: visudo -c"),
        ("file", json!({"path": "/x", "state": "link"}), "state=link needs `src`"),
        ("file", json!({"path": "/x", "src": "/y"}), "src option requires state to be 'link' or 'hard'"),
        ("file", json!({"path": "/", "state": "absent"}), "refusing to remove /"),
        ("lineinfile", json!({"path": "/x"}), "line is required with state=present"),
        (
            "lineinfile",
            json!({"path": "/x", "state": "absent"}),
            "one of line, regexp or search_string is required with state=absent",
        ),
        (
            "lineinfile",
            json!({"path": "/x", "line": "a", "regexp": "(a)", "backrefs": true}),
            "backrefs is not supported: write the whole line",
        ),
        ("command", json!({}), "no command given"),
        ("command", json!({"_raw_params": "ls 'x"}), "unbalanced quotes in the command"),
        (
            "command",
            json!({"_raw_params": "ls", "argv": ["ls"]}),
            "give the command once: as free form, `cmd` or `argv`",
        ),
        ("apt", json!({"state": "present"}), "one of name, update_cache or autoremove is required"),
        (
            "apt",
            json!({"name": "nginx=1.0", "state": "latest"}),
            "a pinned version (name=version) is inconsistent with state=latest",
        ),
        ("systemd", json!({"enabled": true}), "missing required argument `name`"),
        (
            "systemd",
            json!({"name": "w*", "state": "stopped"}),
            "`w*` is a pattern: systemctl would act on every unit it matches",
        ),
        ("user", json!({"name": "u", "password": "sec:ret"}), "password must be a crypt hash (no ':' or newline)"),
        ("template", json!({"src": "missing.j2", "dest": "/x"}), "`missing.j2` not found (looked in the test's files)"),
    ];
    for (module, args, message) in cases {
        assert_eq!(err(module, args.clone()).to_string(), message, "{module} {args}");
    }
}

#[test]
fn names_and_aliases() {
    let names: Vec<_> = push_modules::names().collect();
    assert_eq!(
        names,
        [
            "command",
            "shell",
            "file",
            "copy",
            "template",
            "lineinfile",
            "apt",
            "systemd",
            "systemd_service",
            "user",
            "group",
            "docker_host",
            "docker_image",
            "docker_unit",
            "docker_ssh"
        ]
    );
    assert!(push_modules::lookup("ansible.builtin.systemd_service").is_some());
    assert!(try_plan("file", json!({"dest": "/x", "state": "touch"})).is_ok());
    assert!(try_plan("apt", json!({"pkg": "nginx,curl", "state": "installed"})).is_ok());
}

#[test]
fn nul_bytes_are_refused_not_truncated() {
    let e = err("file", json!({"path": "/x\u{0}y", "state": "touch"}));
    assert!(e.to_string().contains("NUL"), "{e}");
}
