//! `become_method: su` to root on a real Debian host (a lab host in
//! Docker), where root has a password and the login user has no sudo: the
//! case su is for, which this machine's own root (no password) cannot
//! stand in for. One host, two runs: root's password runs the step as
//! root; another password fails the host, saying so.
//!
//! Needs a Docker engine (`tests/run` leaves `lab*` binaries out without
//! one, counting them as skipped).

use push_tests::{require, require_docker, write, PushCmd, TestLab};

const ROOT_PASSWORD: &str = "r00t-pw-for-su";

/// A login user `admin` with the lab's key, no sudo, and a root password.
const SETUP: &str = r#"set -e
useradd --create-home --shell /bin/bash admin
mkdir -p /home/admin/.ssh
cp /root/.ssh/authorized_keys /home/admin/.ssh/
chown -R admin: /home/admin/.ssh
echo "root:r00t-pw-for-su" | chpasswd
"#;

const PLAY: &str = r#"
- name: root through su
  hosts: all
  become: true
  become_method: su
  tasks:
    - name: as root
      shell: 'test "$(id -u)" = 0 && id -un >/root/became'
"#;

#[test]
fn su_to_root_with_roots_password() {
    require!(require_docker());
    let lab = TestLab::new("pt-su");
    lab.lab(&["up", "--hosts", "1"]).assert_code(0);
    let host = lab.host(1);
    lab.on_ok(&host, SETUP);
    let dir = tempfile::tempdir().unwrap();
    let pb = dir.path().join("su.yml");
    write(&pb, PLAY);
    let run = |password: &str| {
        PushCmd::run_playbook(&pb, &lab.inventory())
            .args(["--format", "json", "-e", "ansible_user=admin", "-K"])
            .stdin(format!("{password}\n"))
            .run()
    };
    let wrong = run("not-roots-password");
    wrong.assert_code(2);
    let failed = wrong.task(&host, "as root");
    assert!(failed.msg.contains("su on this host refused the become password for root: incorrect password"), "{wrong}");
    assert!(failed.msg.contains("hint: su asks for the password of the user it becomes"), "{wrong}");
    assert!(!lab.on(&host, "test -e /root/became").success(), "the step ran with a wrong password");

    let right = run(ROOT_PASSWORD);
    right.assert_code(0);
    assert_eq!(right.task(&host, "as root").status, "changed", "{right}");
    assert_eq!(lab.on_ok(&host, "cat /root/became"), "root");
    for out in [&wrong, &right] {
        assert!(!out.stdout().contains(ROOT_PASSWORD) && !out.stderr().contains(ROOT_PASSWORD), "{out}");
    }
}
