//! The docker modules' snippets: snapshots of probe and apply for
//! representative arguments, and `sh -n` on every snippet they can make
//! (deferred actions included; the helper scripts they install as written
//! are checked with the template table, see `templates.rs`).

use serde_json::{json, Value};

use super::docker_common::NoFiles;
use crate::{DeferredKind, Op};

fn plan(module: &str, args: Value) -> Op {
    let m = crate::lookup(module).unwrap_or_else(|| panic!("no module {module}"));
    crate::plan(m, args.as_object().expect("a mapping").clone(), &NoFiles).unwrap_or_else(|e| panic!("{module}: {e}"))
}

fn sh_n(what: &str, text: &str) {
    let out = std::process::Command::new("sh").args(["-n", "-c", text]).output().expect("sh runs");
    assert!(out.status.success(), "{what}: {}\n{text}", String::from_utf8_lossy(&out.stderr));
}

/// Every snippet of an op parses, with the prelude's helpers in front.
fn check(module: &str, args: Value) -> Op {
    let op = plan(module, args);
    let prelude = crate::shell::prelude();
    sh_n("probe", &format!("{prelude}\n{}", op.probe));
    sh_n("apply", &format!("{prelude}\n{}", op.apply));
    for d in &op.deferred {
        sh_n(&d.key, &format!("{prelude}\n{}", d.snippet));
    }
    op
}

/// Probe, apply and deferred actions, with the sub-steps' long base64
/// payloads cut short so a snapshot stays readable.
fn snippets(module: &str, args: Value) -> String {
    let op = check(module, args);
    let shorten = |s: &str| -> String {
        s.lines()
            .map(|l| {
                // The payload is the word after `printf %s `: its start and
                // its last character are kept, and the rest of the line.
                let Some(start) = l.find("printf %s ").map(|i| i + "printf %s ".len()) else { return l.to_string() };
                let end = l[start..].find(' ').map_or(l.len(), |e| start + e);
                if end - start > 60 {
                    format!("{}...{}", &l[..start + 50], &l[end - 1..])
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut out = format!("# probe\n{}\n# apply\n{}\n", shorten(&op.probe), shorten(&op.apply));
    for d in &op.deferred {
        out.push_str(&format!("# deferred {} ({})\n{}", d.key, d.label, d.snippet));
    }
    out
}

macro_rules! snap {
    ($name:ident, $module:expr, $args:tt) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(snippets($module, json!($args)));
        }
    };
}

snap!(docker_host_lab, "docker_host", {"insecure_registries": ["192.168.0.1:5000"], "log_driver": "json-file", "log_opts": {"max-size": "10m"}});
snap!(docker_image_missing, "docker_image", {"name": "192.168.0.1:5000/mail:latest"});
snap!(docker_image_always_with_login, "docker_image", {"name": "registry.example.org/team/app:1", "pull": "always", "username": "deploy", "password": "s3cr3t'$(id)"});
snap!(docker_image_absent, "docker_image", {"name": "old:1", "state": "absent"});
snap!(docker_unit_mail, "docker_unit", {"name": "mail", "image": "192.168.0.1:5000/mail:latest", "ports": ["25:25"], "env": {"LOCAL_DOMAINS": "example.org"}, "volumes": ["/etc/push/mail/users:/etc/mail/users:ro"], "config_files": ["/etc/push/mail/users"]});
snap!(docker_unit_count, "docker_unit", {"name": "web", "image": "web:v1", "count": 2, "links": ["db"]});
snap!(docker_unit_absent, "docker_unit", {"name": "mail", "state": "absent", "purge_volumes": true});
snap!(docker_ssh_mail, "docker_ssh", {"name": "mail", "keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ0kZ0Q8n7yq2dJ1o6l8ZbVQ3bC0x2k5y6z7a8b9c0d1 alice@example.org"], "shell": "/bin/bash"});
snap!(docker_ssh_absent, "docker_ssh", {"name": "webmail", "state": "absent"});

/// `push rollback`'s op for a unit of two instances.
#[test]
fn docker_unit_rollback() {
    let m = crate::lookup("docker_unit").unwrap();
    let args = json!({"name": "web", "image": "web:v2", "count": 2});
    let op = crate::plan_rollback(m, args.as_object().unwrap().clone()).unwrap();
    let prelude = crate::shell::prelude();
    sh_n("probe", &format!("{prelude}\n{}", op.probe));
    sh_n("apply", &format!("{prelude}\n{}", op.apply));
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
        ]
    );
    insta::assert_snapshot!(format!("# probe\n{}\n# apply\n{}", op.probe, op.apply));
}

#[test]
fn every_variant_parses() {
    for pull in ["missing", "always"] {
        for login in [json!({}), json!({"username": "u", "password": "p"})] {
            let mut args = json!({"name": "a/b:c", "pull": pull});
            args.as_object_mut().unwrap().extend(login.as_object().unwrap().clone());
            check("docker_image", args);
        }
    }
    for count in [1, 3] {
        for files in [json!(null), json!(["/etc/a", "/etc/b c"])] {
            check(
                "docker_unit",
                json!({"name": "u", "image": "i", "count": count, "config_files": files, "command": "sleep 1"}),
            );
        }
    }
    check("docker_unit", json!({"name": "u", "state": "absent"}));
    check("docker_host", json!({}));
    check("docker_ssh", json!({"name": "x", "keys": []}));
}

#[test]
fn registry_password_only_goes_through_a_pipe() {
    let secret = "pa55-w0rd";
    let op = plan(
        "docker_image",
        json!({"name": "r.example.org/a:1", "pull": "always", "username": "u", "password": secret}),
    );
    for snippet in [&op.probe, &op.apply] {
        for line in snippet.lines().filter(|l| l.contains(secret)) {
            assert!(
                line.trim_start().starts_with(&format!("if ! _out=$(printf '%s' {secret} | docker login")),
                "the password shows up elsewhere: {line}"
            );
        }
    }
}

#[test]
fn env_values_stay_out_of_the_unit_and_the_message() {
    let op =
        plan("docker_unit", json!({"name": "db", "image": "postgres:16", "env": {"POSTGRES_PASSWORD": "hunter2"}}));
    let unit = String::from_utf8(op.diff_after.clone().unwrap()).unwrap();
    assert!(!unit.contains("hunter2") && unit.contains("--env-file /etc/push/docker/db.env"), "{unit}");
    // In the snippets the value is only inside the env file's base64 content.
    assert!(!op.probe.contains("hunter2") && !op.apply.contains("hunter2"));
}
