//! A first `playbooks/web.yml` run on a lab host whose Docker engine runs
//! already (`push lab up --prepared`), without the lab's registry among its
//! insecure registries: the play's `docker_host` writes the registry into
//! daemon.json, and that change must take effect before the `docker_unit`
//! pulls from it, so the successful run shows no pull error.
//!
//! Needs a Docker engine (`tests/run` leaves `lab*` binaries out without
//! one, counting them as skipped). Every address used is a lab
//! container's on this machine.

use std::time::Duration;

use push_tests::{require, require_docker, PushCmd, TestLab};

#[test]
fn lab_first_web_run_pulls_after_the_new_daemon_json_and_prints_no_error() {
    require!(require_docker());
    let lab = TestLab::new("pt-first");
    lab.lab(&["up", "--hosts", "1", "--prepared"]).assert_code(0);
    lab.lab(&["images", "web"]).assert_code(0);
    let host = lab.host(1);
    let hosts_yml = push_tests::read(lab.inventory().join("hosts.yml"));
    let registry = hosts_yml
        .lines()
        .find_map(|l| l.trim().strip_prefix("lab_registry:"))
        .map(|r| r.trim().trim_matches('"').to_string())
        .expect("the lab's inventory names its registry");
    let trusted = || lab.on_ok(&host, "docker info -f '{{json .RegistryConfig.IndexConfigs}}'");
    assert!(!trusted().contains(&registry), "the engine must not trust {registry} before the run: {}", trusted());

    let out = PushCmd::new()
        .arg("run")
        .arg_path(&push_tests::workspace().join("playbooks/web.yml"))
        .arg("-i")
        .arg_path(&lab.inventory())
        .args(["--format", "json"])
        .timeout(Duration::from_secs(10 * 60))
        .run();
    out.assert_code(0);
    let text = format!("{}\n{}", out.stdout(), out.stderr());
    for false_error in ["pull failed", "HTTP response to HTTPS client"] {
        assert!(!text.contains(false_error), "a successful first run says `{false_error}`:\n{out}");
    }
    let unit = out.task(&host, "Web container");
    assert_eq!(unit.status, "changed", "{unit:?}");
    assert!(unit.msg.contains("docker restarted first"), "the pull came after the restart: {}", unit.msg);
    // The restart at the end of the play finds the engine on the new
    // daemon.json already: Docker restarted once, not twice.
    let restart = out.task(&host, "restart docker");
    assert_eq!(restart.status, "ok", "{restart:?}");
    assert_eq!(lab.on_ok(&host, "systemctl is-active web"), "active");
    assert!(trusted().contains(&registry), "the engine trusts {registry} after the run: {}", trusted());
}
