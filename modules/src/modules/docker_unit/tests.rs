//! `docker_unit` as a whole: the unit files and the deferred actions a
//! task's arguments make, and the arguments it refuses.

use serde_json::{json, Value};

use super::DockerUnit;
use crate::{ArgError, DeferredKind, Op};

fn plan(v: Value) -> Result<Op, ArgError> {
    crate::plan(&DockerUnit, v.as_object().unwrap().clone(), &crate::modules::docker_common::NoFiles)
}

fn unit(v: Value) -> String {
    let op = plan(v).unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8(op.diff_after.unwrap()).unwrap()
}

#[test]
fn unit_file_mail() {
    insta::assert_snapshot!(unit(json!({
        "name": "mail",
        "image": "192.168.0.1:5000/mail:latest",
        "hostname": "mail.example.org",
        "ports": ["25:25", "127.0.0.1:143:143", {"internal": 587, "external": 587}],
        "env": {"LOCAL_DOMAINS": "example.org example.net"},
        "volumes": ["/etc/push/mail/users:/etc/mail/users:ro", "/var/spool/exim4"],
    })));
}

#[test]
fn unit_file_hostile_values_are_escaped_for_systemd() {
    insta::assert_snapshot!(unit(json!({
        "name": "odd",
        "image": "web:v1",
        "links": ["mail:smtp", "odd"],
        "command": ["/bin/sh", "-c", "echo \"$HOME\" 100% 'x' \\ ; exit 0"],
        "extra_args": "--cap-add NET_ADMIN --label 'note=a b%c$d'",
        "stop_timeout": 30,
    })));
}

#[test]
fn unit_file_with_a_health_check() {
    insta::assert_snapshot!(unit(json!({
        "name": "web",
        "image": "10.0.0.1:5000/web:v2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "ports": ["8080:80"],
        "health": {"http": {"port": 80, "path": "/health"}, "retries": 5, "interval": "1s", "start_period": 3},
    })));
}

#[test]
fn count_makes_instances_and_a_group() {
    let text = unit(json!({"name": "web", "image": "web:v1", "count": 2, "ports": ["8080:80"], "links": ["db"]}));
    insta::assert_snapshot!(text);
    let op = plan(json!({"name": "web", "image": "web:v1", "count": 2})).unwrap();
    let kinds: Vec<&DeferredKind> = op.deferred.iter().map(|d| &d.kind).collect();
    let unit = |u: &str| u.to_string();
    assert_eq!(
        kinds,
        [
            &DeferredKind::DaemonReload,
            &DeferredKind::UnitSwitch { unit: unit("web-1") },
            &DeferredKind::UnitSwitchOutcome { unit: unit("web-1") },
            &DeferredKind::UnitSwitch { unit: unit("web-2") },
            &DeferredKind::UnitSwitchOutcome { unit: unit("web-2") },
            &DeferredKind::GroupStart { unit: unit("web") },
        ]
    );
    // The snippet asks for each action by the key its kind gives.
    for d in &op.deferred {
        assert!(op.apply.contains(&format!("push_defer {}\n", d.key)), "{}:\n{}", d.key, op.apply);
    }
}

#[test]
fn unit_text_keeps_its_trailing_newline_and_has_no_stray_specifiers() {
    let text = unit(json!({"name": "x", "image": "i", "env": {"P": "100%"}, "hostname": "h"}));
    assert!(text.ends_with("\n") && !text.ends_with("\n\n"));
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let stripped = line.replace("%%", "");
        assert!(!stripped.contains('%'), "unescaped specifier: {line}");
    }
}

#[test]
fn bad_arguments_are_refused() {
    let e = |v: Value| plan(v).unwrap_err().to_string();
    assert!(e(json!({"name": "a b", "image": "i"})).contains("container name"));
    assert!(e(json!({"name": "a"})).contains("image"));
    assert!(e(json!({"name": "a", "image": "i", "count": 0})).contains("count"));
    assert!(e(json!({"name": "a", "state": "absent", "image": "i"})).contains("absent"));
    assert!(e(json!({"name": "a", "image": "i", "purge_volumes": true})).contains("absent"));
    assert!(e(json!({"name": "a", "image": "i", "network": "host", "ports": ["80"]})).contains("network"));
    assert!(e(json!({"name": "a", "image": "i", "command": "echo 'open"})).contains("quotes"));
}
