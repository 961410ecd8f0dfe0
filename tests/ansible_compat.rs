//! The harness and fixtures, checked against real Ansible (ansible-core in
//! /opt/ansible, which `.ci/run` installs; skipped when absent).
//!
//! This keeps the tests honest: the fleet's inventories read the same in
//! Ansible, Ansible reaches the fleet through its ssh_config with strict
//! host-key checking, and the converge fixture does under ansible-playbook
//! exactly what run_ssh.rs expects push to do.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use push_tests::{current_user, require, require_ansible, require_sshd, run_with_timeout, CmdOutput, Fleet};
use serde_json::Value;

#[path = "shared/converge.rs"]
mod converge;

/// An ansible command with its state kept inside the fleet's tempdir (no
/// ~/.ansible), no colour, and ssh reading the fleet's ssh_config.
fn ansible(bin: &Path, tool: &str, fleet: &Fleet) -> Command {
    let state = fleet.dir().join("ansible-state");
    let cfg = fleet.dir().join("ansible.cfg");
    if !cfg.exists() {
        push_tests::write(&cfg, "# empty: no ansible.cfg of the machine's applies\n[defaults]\n");
    }
    let mut cmd = Command::new(bin.join(tool));
    cmd.env("ANSIBLE_HOME", &state)
        .env("ANSIBLE_LOCAL_TEMP", state.join("tmp"))
        .env("ANSIBLE_REMOTE_TMP", fleet.dir().join("ansible-remote-tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_FORCE_COLOR", "0")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
        .env("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3")
        .env("ANSIBLE_GATHERING", "explicit")
        .env("ANSIBLE_CONFIG", &cfg)
        // No ControlPersist master left behind after the run.
        .env("ANSIBLE_SSH_ARGS", format!("-F {} -o ControlMaster=no", fleet.ssh_config().display()))
        .current_dir(fleet.work_dir());
    cmd
}

fn run(mut cmd: Command) -> CmdOutput {
    let out = run_with_timeout(&mut cmd, Duration::from_secs(300));
    assert!(!out.timed_out, "{out}");
    out
}

#[test]
fn fleet_inventories_read_the_same_in_ansible() {
    require!(require_sshd());
    let Some(bin) = require_ansible() else { return };
    let mut fleet = Fleet::start(2);
    fleet.set_host_var("h1", "color", "red");
    let bad_port = fleet.add_unreachable("h3");
    for inv in [fleet.inventory(), fleet.inventory_yaml(), fleet.inventory_dir()] {
        let mut cmd = ansible(&bin, "ansible-inventory", &fleet);
        cmd.arg("-i").arg(&inv).arg("--list");
        let out = run(cmd);
        assert!(out.success(), "{out}");
        assert!(!out.stderr.contains("WARNING"), "ansible warned about {}:\n{out}", inv.display());
        let list: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
        let hostvars = &list["_meta"]["hostvars"];
        for h in fleet.hosts() {
            let v = &hostvars[h.name()];
            assert_eq!(v["ansible_host"], "127.0.0.1", "{inv:?}: {v}");
            assert_eq!(v["ansible_port"], h.port(), "{inv:?}: {v}");
            assert_eq!(v["ansible_user"], current_user().as_str(), "{inv:?}: {v}");
            assert_eq!(
                v["ansible_ssh_private_key_file"],
                h.client_key().display().to_string().as_str(),
                "{inv:?}: {v}"
            );
            assert_eq!(v["push_ssh_config"], fleet.ssh_config().display().to_string().as_str(), "{inv:?}: {v}");
        }
        assert_eq!(hostvars["h1"]["color"], "red");
        assert_eq!(hostvars["h3"]["ansible_port"], bad_port);
    }
}

#[test]
fn ansible_reaches_the_fleet_with_strict_host_keys() {
    require!(require_sshd());
    let Some(bin) = require_ansible() else { return };
    let fleet = Fleet::start(2);
    let mut cmd = ansible(&bin, "ansible", &fleet);
    cmd.args(["all", "-i"]).arg(fleet.inventory()).args(["-m", "ping"]);
    let out = run(cmd);
    assert!(out.success(), "{out}");
    assert_eq!(out.stdout.matches("\"ping\": \"pong\"").count(), 2, "{out}");
    // With a forged known_hosts, Ansible cannot connect either.
    std::fs::write(
        fleet.known_hosts(),
        format!("[127.0.0.1]:{} {}\n", fleet.host("h1").port(), fleet.host("h2").host_public_key()),
    )
    .unwrap();
    let mut cmd = ansible(&bin, "ansible", &fleet);
    cmd.args(["h1", "-i"]).arg(fleet.inventory()).args(["-m", "ping"]);
    let out = run(cmd);
    assert_eq!(out.code, Some(4), "ansible should find h1 unreachable:\n{out}");
}

/// `h1 : ok=10 changed=10 unreachable=0 ...` -> the number after `key=`.
fn recap_count(out: &CmdOutput, host: &str, key: &str) -> u64 {
    let line = out
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("PLAY RECAP"))
        .find(|l| l.split_whitespace().next() == Some(host))
        .unwrap_or_else(|| panic!("no recap line for {host}:\n{out}"));
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")).map(|n| n.parse().unwrap()))
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
}

#[test]
fn converge_fixture_means_the_same_in_ansible_playbook() {
    require!(require_sshd());
    let Some(bin) = require_ansible() else { return };
    let mut fleet = Fleet::start(2);
    let (pb, root) = converge::stage(&mut fleet);
    let playbook = |fleet: &Fleet| {
        let mut cmd = ansible(&bin, "ansible-playbook", fleet);
        cmd.arg("-i").arg(fleet.inventory()).arg(&pb);
        run(cmd)
    };
    let first = playbook(&fleet);
    assert!(first.success(), "{first}");
    for (alias, color) in converge::COLORS {
        assert_eq!(recap_count(&first, alias, "changed"), 10, "{first}");
        converge::assert_converged(&root, alias, color);
    }
    let second = playbook(&fleet);
    assert!(second.success(), "{second}");
    for (alias, color) in converge::COLORS {
        assert_eq!(recap_count(&second, alias, "changed"), 0, "{second}");
        assert_eq!(recap_count(&second, alias, "failed"), 0, "{second}");
        converge::assert_converged(&root, alias, color);
    }
}
