//! Start a fleet of sshd hosts on 127.0.0.1 (as the tests do) and keep it
//! up for poking at by hand:
//!
//! `PUSH_TESTS_HOLD=600 PUSH_TESTS_HOSTS=2 cargo run -p push-tests --example hold_fleet`
//!
//! prints the inventory and ssh_config paths, then waits that many seconds
//! (300 by default).

use std::time::Duration;

use push_tests::{require_sshd, Fleet};

fn main() {
    if !require_sshd() {
        std::process::exit(1);
    }
    let n = std::env::var("PUSH_TESTS_HOSTS").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    let secs = std::env::var("PUSH_TESTS_HOLD").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
    let fleet = Fleet::start(n);
    eprintln!("inventory:      {}", fleet.inventory().display());
    eprintln!("inventory yaml: {}", fleet.inventory_yaml().display());
    eprintln!("ssh_config:     {}", fleet.ssh_config().display());
    eprintln!("work dir:       {}", fleet.work_dir().display());
    eprintln!("try: ssh -F {} h1 true", fleet.ssh_config().display());
    let ready = fleet.dir().parent().unwrap().join("push-tests-fleet-ready");
    std::fs::write(&ready, format!("{}\n", fleet.dir().display())).unwrap();
    std::thread::sleep(Duration::from_secs(secs));
    let _ = std::fs::remove_file(ready);
}
