//! The benchmark's workloads stay equivalent: `benches/workload/push.yml`,
//! `ansible.yml` and pyinfra's `deploy.py`, each run by its own tool on two
//! fresh sshd hosts in Docker, converge them, change nothing when run again,
//! and leave every host in the same state (modes, owners, contents, link,
//! group, package) whichever tool ran. It drives `benches/run verify`, the
//! benchmark's own code, so the benchmark and this test cannot drift apart.
//! No time is measured or asserted.
//!
//! Needs a Docker engine (`tests/run` leaves this file out without one; run
//! directly, it fails saying so), debootstrap and Debian's mirror the first
//! time the host image is built, and PyPI the first time ansible-core and
//! pyinfra are installed (into /opt/push-bench-venv, then reused).

use std::process::Command;
use std::time::Duration;

use push_tests::{push_bin, require, require_docker, run_with_timeout};

/// A cold machine builds the image (debootstrap) and the venv (pip).
const TIMEOUT: Duration = Duration::from_secs(20 * 60);

#[test]
fn workloads_of_every_tool_leave_hosts_in_the_same_state() {
    require!(require_docker());
    let workspace = push_tests::workspace();
    let out_dir = tempfile::tempdir().expect("tempdir");
    let report_path = out_dir.path().join("verify.json");
    // Its own fleet name, so a benchmark (or another test run) on this
    // machine is left alone.
    let fleet = format!("push-bench-test-{}", std::process::id() % 100_000);
    let out = run_with_timeout(
        Command::new(workspace.join("benches/run"))
            .args(["verify", "--hosts", "2", "--name", &fleet, "--json"])
            .arg(&report_path)
            .arg("--push")
            .arg(push_bin())
            .env("PUSH_BENCH_STATE", out_dir.path().join("state")),
        TIMEOUT,
    );
    // `verify` removes its hosts itself; this covers a timeout.
    let _ = run_with_timeout(
        Command::new(workspace.join("benches/run"))
            .args(["down", "--name", &fleet])
            .env("PUSH_BENCH_STATE", out_dir.path().join("state")),
        Duration::from_secs(120),
    );
    assert!(out.success(), "{out}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).expect("verify.json")).expect("JSON");
    let tools = report["tools"].as_object().expect("tools");
    assert_eq!(tools.keys().map(String::as_str).collect::<Vec<_>>(), ["push", "ansible", "pyinfra"], "{report:#}");
    let reference = &tools["push"]["states"];
    assert_eq!(reference.as_object().map(|h| h.len()), Some(2), "{report:#}");
    for (tool, t) in tools {
        // 9 of the 10 tasks change a fresh host (openssh-server is there).
        assert_eq!(t["first_changed"], 18, "{tool} on fresh hosts: {report:#}");
        assert_eq!(t["noop_changed"], 0, "{tool} run again: {report:#}");
        assert_eq!(t["state_unchanged_by_noop"], true, "{tool}: {report:#}");
        assert_eq!(&t["states"], reference, "{tool} leaves the hosts otherwise than push");
    }
    // The state is the workload's, not an empty one.
    let state = reference["bench-1"].as_str().expect("state text");
    for line in [
        "/opt/bench dir 755 root:root",
        "/opt/bench/conf.d dir 750 root:root",
        "/opt/bench/app.conf file 640 root:root",
        "/opt/bench/current link -> /opt/bench/app.conf",
        "/etc/systemd/system/bench-app.service file 644 root:root",
        "group: bench:",
        "stray files: \n",
    ] {
        assert!(state.contains(line), "no `{line}` in the state of bench-1:\n{state}");
    }
    assert_eq!(report["equal"], true);
    assert_eq!(report["idempotent"], true);
}
