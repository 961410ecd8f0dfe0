//! Inputs far larger than usual: push's time must grow with them linearly.
//! Each test gives push a generous time limit (many times what the linear
//! code needs on a loaded machine, a small share of what quadratic code
//! took): no precise timing is asserted.

use std::fmt::Write as _;
use std::time::Duration;

use push_tests::PushCmd;

/// 50 000 hosts listed first without a group, then again in `web` (so each
/// leaves `ungrouped`), every tenth also in `db`: loading such an inventory
/// took minutes when each host was looked up in, or taken out of, a group's
/// host list one by one.
#[test]
fn inventory_of_50k_hosts_lists_in_linear_time() {
    const HOSTS: usize = 50_000;
    let mut ini = String::new();
    for i in 0..HOSTS {
        let _ = writeln!(ini, "h{i}");
    }
    ini.push_str("[web]\n");
    for i in 0..HOSTS {
        let _ = writeln!(ini, "h{i} ansible_host=10.{}.{}.{} n={i}", i / 65536, (i / 256) % 256, i % 256);
    }
    ini.push_str("[db]\n");
    for i in (0..HOSTS).step_by(10) {
        let _ = writeln!(ini, "h{i}");
    }
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("hosts.ini");
    std::fs::write(&inventory, ini).unwrap();

    let out =
        PushCmd::new().args(["inventory", "--list", "-i"]).arg_path(&inventory).timeout(Duration::from_secs(60)).run();
    out.assert_code(0);
    let list: serde_json::Value = serde_json::from_str(out.stdout()).expect("--list prints JSON");
    assert_eq!(list["web"]["hosts"].as_array().map(Vec::len), Some(HOSTS));
    assert_eq!(list["db"]["hosts"].as_array().map(Vec::len), Some(HOSTS / 10));
    assert!(list.get("ungrouped").and_then(|g| g.get("hosts")).is_none(), "every host left ungrouped");
    assert_eq!(list["_meta"]["hostvars"]["h49999"]["n"], 49999);
}
