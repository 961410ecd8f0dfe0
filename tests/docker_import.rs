//! `push import geard`: the real binary on the fixtures in
//! `fixtures/geard/`. The converted playbook is snapshotted and then loaded
//! and planned by `push run` (against a host that refuses connections, so
//! argument errors would show as exit 4 before any connection); what
//! cannot be converted exits 4 pointing at the file, line and column.

use push_tests::{fixture, push, ConnectionTrap, PushCmd};

fn geard(name: &str) -> push_tests::RunOutput {
    push(["import".into(), "geard".into(), fixture("geard").join(name).into_os_string()])
}

#[test]
fn converts_the_mail_deployment() {
    let out = geard("mail.json");
    out.assert_code(0);
    insta::assert_snapshot!(out.stdout());

    // The playbook loads, every task's arguments check out, every unit
    // renders: the run gets as far as connecting.
    let dir = tempfile::tempdir().unwrap();
    let playbook = dir.path().join("mail.yml");
    std::fs::write(&playbook, out.stdout()).unwrap();
    let trap = ConnectionTrap::start();
    let inventory = dir.path().join("hosts.ini");
    std::fs::write(&inventory, format!("h1 ansible_host=127.0.0.1 ansible_port={}\n", trap.port())).unwrap();
    let run = PushCmd::run_playbook(&playbook, &inventory).args(["--no-pin", "--check", "--timeout", "5"]).run();
    assert_eq!(run.code(), 3, "expected unreachable, not an input error:\n{}", run.0);
}

#[test]
fn what_cannot_be_expressed_is_an_error_at_its_place() {
    for (file, at, text) in [
        ("link_alias.json", "link_alias.json:10:11", "`aliasports` cannot be expressed"),
        ("unknown_link.json", "unknown_link.json:3:49", "links to `db`, which is not in this file"),
        ("misspelled.json", "misspelled.json:3:39", "did you mean `publicports`?"),
    ] {
        let out = geard(file);
        assert_eq!(out.code(), 4, "{file}:\n{}", out.0);
        assert!(out.stdout().is_empty(), "{file}: a partial playbook was printed");
        assert!(out.stderr().contains(at) && out.stderr().contains(text), "{file}:\n{}", out.stderr());
    }
    let missing = geard("no-such-file.json");
    assert_eq!(missing.code(), 4, "{}", missing.0);
    let usage = push(["import", "geard"]);
    assert_eq!(usage.code(), 5, "{}", usage.0);
}
