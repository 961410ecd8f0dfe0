//! An interrupted dpkg on a lab host (a real Debian host in Docker): the
//! host went down while a package was being configured, so every apt-get
//! refuses ("dpkg was interrupted, you must manually run 'dpkg --configure
//! -a'"). push's apt task finishes dpkg's job first, says so, and the host
//! converges.
//!
//! The interruption is made the way a restart makes it, without the cost
//! of one: a package of the test's own (built on the host with dpkg-deb)
//! whose postinst waits the first time it runs; dpkg and the postinst are
//! killed with SIGKILL while it waits, leaving dpkg's journal as a power
//! cut would. Nothing is downloaded.
//!
//! Needs a Docker engine (`tests/run` leaves `lab*` binaries out without
//! one, counting them as skipped).

use std::path::Path;
use std::time::{Duration, Instant};

use push_tests::{require, require_docker, write, PushCmd, RunOutput, TestLab};

const PACKAGE: &str = "push-interrupted";

/// Build the package on the host: its postinst records its pid and waits
/// the first time, and returns at once after that (as a postinst rerun by
/// `dpkg --configure -a` would after a restart).
const BUILD: &str = r#"set -e
mkdir -p /root/pkg/DEBIAN
cat >/root/pkg/DEBIAN/control <<'EOF'
Package: push-interrupted
Version: 1.0
Architecture: all
Maintainer: push tests <root@localhost>
Description: configured slowly the first time
EOF
cat >/root/pkg/DEBIAN/postinst <<'EOF'
#!/bin/sh
if [ ! -e /root/postinst.pid ]; then echo $$ >/root/postinst.pid; exec sleep 600; fi
EOF
chmod 0755 /root/pkg/DEBIAN/postinst
dpkg-deb --build /root/pkg /root/push-interrupted.deb >/dev/null
"#;

fn run(lab: &TestLab, playbook: &Path, extra: &[&str]) -> RunOutput {
    PushCmd::run_playbook(playbook, &lab.inventory()).args(["--format", "json"]).args(extra.iter().copied()).run()
}

/// The package's dpkg status (`install ok installed`).
fn status(lab: &TestLab, host: &str) -> String {
    lab.on_ok(host, &format!("dpkg-query -W -f='${{Status}}' {PACKAGE}"))
}

/// Start `dpkg -i` of the package in the background and kill it, and its
/// postinst, once the postinst runs.
fn interrupt_dpkg_during_configure(lab: &TestLab, host: &str) {
    lab.on_ok(host, BUILD);
    lab.on_ok(host, "(dpkg -i /root/push-interrupted.deb >/root/dpkg.log 2>&1 & echo $! >/root/dpkg.pid) </dev/null");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !lab.on(host, "test -s /root/postinst.pid").success() {
        assert!(Instant::now() < deadline, "the postinst never ran: {}", lab.on(host, "cat /root/dpkg.log"));
        std::thread::sleep(Duration::from_millis(200));
    }
    lab.on_ok(host, "kill -9 \"$(cat /root/dpkg.pid)\" \"$(cat /root/postinst.pid)\"");
}

#[test]
fn apt_finishes_an_interrupted_dpkg_then_converges() {
    require!(require_docker());
    let lab = TestLab::new("pt-dpkg");
    lab.lab(&["up", "--hosts", "1"]).assert_code(0);
    let host = lab.host(1);
    interrupt_dpkg_during_configure(&lab, &host);

    // The fault, as apt-get reports it.
    let refused = lab.on(&host, &format!("apt-get install -y {PACKAGE}"));
    assert!(!refused.success() && refused.stderr.contains("dpkg was interrupted"), "{refused}");

    let playbook = lab.dir.path().join("apt.yml");
    write(&playbook, format!("- hosts: all\n  tasks:\n    - apt: {{name: {PACKAGE}}}\n"));

    // Check mode says what the run will do, and does nothing.
    let check = run(&lab, &playbook, &["--check"]);
    check.assert_code(0);
    let task = check.task(&host, "apt");
    assert_eq!(task.status, "changed", "{check}");
    assert!(task.msg.contains("dpkg was interrupted: dpkg --configure -a will finish it"), "{check}");
    assert_eq!(status(&lab, &host), "install ok half-configured", "--check changed the host");

    // The run finishes dpkg's job and says so.
    let fixed = run(&lab, &playbook, &[]);
    fixed.assert_code(0);
    let task = fixed.task(&host, "apt");
    assert_eq!(task.status, "changed", "{fixed}");
    assert!(task.msg.contains("dpkg was interrupted: finished it (dpkg --configure -a)"), "{fixed}");
    assert_eq!(status(&lab, &host), "install ok installed");
    lab.on_ok(&host, &format!("apt-get install -y {PACKAGE}"));

    // Converged: nothing left to do.
    let again = run(&lab, &playbook, &[]);
    again.assert_code(0);
    assert_eq!(again.task(&host, "apt").status, "ok", "{again}");
}
