//! Faults between controller and host, on real sshd hosts on 127.0.0.1:
//! the controller dying or going silent, a host going silent, the remote
//! shell killed. Each is the real thing (signals to the real processes of
//! the run); none needs a lab, so they stay cheap.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use push_tests::{descendants, is_alive, push_bin, require, require_sshd, write, Fleet, PushCmd};

/// Write `work/NAME` with `@ROOT@` replaced by the fleet's work folder.
fn playbook(fleet: &Fleet, name: &str, text: &str) -> PathBuf {
    let path = fleet.work_dir().join(name);
    write(&path, text.replace("@ROOT@", &fleet.work_dir().display().to_string()));
    path
}

/// A task that records the pid of its `sleep` (the step's own process on
/// the host) and sleeps far longer than any test waits.
const SLEEPER: &str =
    "- hosts: all\n  tasks:\n    - shell: sleep 600 & echo $! >@ROOT@/{{ inventory_hostname }}.pid; wait\n";

/// `push run` in the background, its ssh masters' control sockets under
/// `tmp` (so they can be found), JSON output kept in `work/out.json`.
fn spawn_run(fleet: &Fleet, playbook: &Path, tmp: &Path, extra: &[&str]) -> Child {
    let out = std::fs::File::create(fleet.work_dir().join("out.json")).unwrap();
    Command::new(push_bin())
        .args(["run".as_ref(), playbook.as_os_str(), "-i".as_ref(), fleet.inventory().as_os_str()])
        .args(["--format", "json"])
        .args(extra)
        .env("TMPDIR", tmp)
        .current_dir(fleet.work_dir())
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Wait (up to a generous minute) until every host's sleeper runs; its pid.
fn sleeper_pid(fleet: &Fleet, alias: &str) -> u32 {
    let file = fleet.work_dir().join(format!("{alias}.pid"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(pid) = std::fs::read_to_string(&file).ok().and_then(|s| s.trim().parse().ok()) {
            return pid;
        }
        assert!(Instant::now() < deadline, "the task never started on {alias}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .unwrap_or_default()
}

/// Pids of the ssh masters of runs whose TMPDIR is `tmp`.
fn ssh_masters_under(tmp: &Path) -> Vec<u32> {
    let needle = tmp.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            let line = cmdline(pid);
            line.starts_with("ssh ") && line.contains(" -M ") && line.contains(&needle)
        })
        .collect()
}

/// The processes a host's sshd runs for its sessions (everything under
/// the listener), alive.
fn host_side(fleet: &Fleet, alias: &str) -> Vec<u32> {
    descendants(fleet.host(alias).pid().expect("sshd runs")).into_iter().filter(|&p| is_alive(p)).collect()
}

/// The host's `sh -s`: the remote shell running the script.
fn remote_shell(fleet: &Fleet, alias: &str) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(pid) = host_side(fleet, alias).into_iter().find(|&p| cmdline(p).trim_end() == "sh -s") {
            return pid;
        }
        assert!(Instant::now() < deadline, "no `sh -s` on {alias}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a process of this test's own run.
    unsafe { libc::kill(pid as i32, sig) };
}

/// Wait until `gone` holds, up to `limit` (a bound for hangs, not a timing).
fn eventually(limit: Duration, mut gone: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if gone() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    gone()
}

fn private_tmp(fleet: &Fleet) -> PathBuf {
    let tmp = fleet.work_dir().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    tmp
}

/// The controller dies (SIGKILL: no handler runs) with its ssh master: the
/// connection closes, but the step would sleep on for ten minutes and the
/// script after it. The host ends both at once: its watcher sees the end
/// of the session's stdin.
#[test]
fn a_host_ends_the_run_when_its_controller_dies() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let tmp = private_tmp(&fleet);
    let pb = playbook(&fleet, "sleep.yml", SLEEPER);
    let mut run = spawn_run(&fleet, &pb, &tmp, &[]);
    let step = sleeper_pid(&fleet, "h1");
    let shell = remote_shell(&fleet, "h1");
    let masters = ssh_masters_under(&tmp);
    assert_eq!(masters.len(), 1, "one master for one host");
    signal(run.id(), libc::SIGKILL);
    signal(masters[0], libc::SIGKILL);
    run.wait().unwrap();
    assert!(
        eventually(Duration::from_secs(30), || !is_alive(step) && !is_alive(shell)),
        "the host kept the script ({}) or its step ({}) after its controller died",
        is_alive(shell),
        is_alive(step)
    );
    assert!(eventually(Duration::from_secs(30), || host_side(&fleet, "h1").is_empty()), "sshd's session stayed");
}

/// The controller goes silent without closing anything (its master
/// stopped: to the host, a network cut), so sshd sees nothing wrong and
/// would keep the session until TCP keepalive, hours later. The host ends
/// the script and its step once the heartbeats have stopped for 3x
/// --timeout (here 6 s; the bound below is for hangs only).
#[test]
fn a_host_ends_the_run_when_its_controller_goes_silent() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let tmp = private_tmp(&fleet);
    let pb = playbook(&fleet, "sleep.yml", SLEEPER);
    let mut run = spawn_run(&fleet, &pb, &tmp, &["--timeout", "2"]);
    let step = sleeper_pid(&fleet, "h1");
    let shell = remote_shell(&fleet, "h1");
    let masters = ssh_masters_under(&tmp);
    assert_eq!(masters.len(), 1, "one master for one host");
    signal(masters[0], libc::SIGSTOP);
    signal(run.id(), libc::SIGKILL);
    run.wait().unwrap();
    let ended = eventually(Duration::from_secs(40), || !is_alive(step) && !is_alive(shell));
    signal(masters[0], libc::SIGKILL);
    assert!(ended, "the host kept the script or its step with its controller silent");
}

/// The host's sshd stops answering (stopped: no FIN, no RST, as a cut
/// cable). With --timeout 3 the run gives the host up after 3 to 4 s of
/// silence, not the 45 to 60 s of a fixed 15 s keepalive, and says so.
#[test]
fn a_silent_host_is_unreachable_after_about_the_timeout() {
    require!(require_sshd());
    let mut fleet = Fleet::start(1);
    // ssh says why it gave up at LogLevel INFO (ssh's default; the
    // fleet's own config keeps ssh quiet).
    let config = fleet.work_dir().join("ssh_config");
    write(&config, fleet.ssh_config_text().replace("LogLevel ERROR", "LogLevel INFO"));
    fleet.set_host_var("h1", "push_ssh_config", &config.display().to_string());
    let tmp = private_tmp(&fleet);
    let pb = playbook(&fleet, "sleep.yml", SLEEPER);
    let mut run = spawn_run(&fleet, &pb, &tmp, &["--timeout", "3"]);
    let step = sleeper_pid(&fleet, "h1");
    let sshds: Vec<u32> = host_side(&fleet, "h1").into_iter().filter(|&p| cmdline(p).starts_with("sshd")).collect();
    assert!(!sshds.is_empty(), "no sshd session process for the run");
    for &p in &sshds {
        signal(p, libc::SIGSTOP);
    }
    let finished = eventually(Duration::from_secs(30), || run.try_wait().unwrap().is_some());
    for &p in &sshds {
        signal(p, libc::SIGKILL);
    }
    signal(step, libc::SIGKILL);
    let (code, out) = end_run(&fleet, run, finished);
    assert!(finished, "the run still waited on a silent host after 30 s:\n{out}");
    assert_eq!(code, Some(3), "a silent host is unreachable:\n{out}");
    assert!(out.contains("no answer from the host for 3 s"), "{out}");
}

/// A run's exit code and its JSON output, killing it first if it has not
/// `finished` by itself (the test then fails on that, with the output).
fn end_run(fleet: &Fleet, mut run: Child, finished: bool) -> (Option<i32>, String) {
    if !finished {
        signal(run.id(), libc::SIGKILL);
    }
    let code = run.wait().unwrap().code();
    (code, std::fs::read_to_string(fleet.work_dir().join("out.json")).unwrap())
}

/// The remote shell killed under a run (the OOM killer, an admin) while the
/// host answers: a failed host (exit 2) whose message says so, not an
/// unreachable one.
#[test]
fn a_killed_remote_shell_fails_the_host_and_says_so() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let tmp = private_tmp(&fleet);
    let pb = playbook(&fleet, "sleep.yml", SLEEPER);
    let mut run = spawn_run(&fleet, &pb, &tmp, &[]);
    let step = sleeper_pid(&fleet, "h1");
    signal(remote_shell(&fleet, "h1"), libc::SIGKILL);
    let finished = eventually(Duration::from_secs(60), || run.try_wait().unwrap().is_some());
    signal(step, libc::SIGKILL);
    let (code, out) = end_run(&fleet, run, finished);
    assert!(finished, "the run did not end after its remote shell was killed:\n{out}");
    assert_eq!(code, Some(2), "a killed remote shell fails the host:\n{out}");
    assert!(out.contains("remote shell running the script was killed"), "{out}");
    assert!(!out.contains("\"status\":\"unreachable\""), "the host answers; it is not unreachable:\n{out}");
}

/// A run that finds a host locked by another says so as it waits, naming
/// the holder (its user from the user database, even with USER unset) and
/// counting down; past --lock-wait it fails that host, holder named. A run
/// allowed to wait long enough goes on once the lock is free.
#[test]
fn a_run_waiting_for_a_lock_names_the_holder_and_counts_down() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let slow = playbook(&fleet, "slow.yml", "- hosts: all\n  tasks:\n    - shell: touch @ROOT@/started; sleep 8\n");
    let quick = playbook(&fleet, "quick.yml", "- hosts: all\n  tasks:\n    - shell: touch @ROOT@/second\n");
    let mut first = Command::new(push_bin())
        .args(["run".as_ref(), slow.as_os_str(), "-i".as_ref(), fleet.inventory().as_os_str()])
        .env_remove("USER")
        .env_remove("LOGNAME")
        .current_dir(fleet.work_dir())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !fleet.work_dir().join("started").exists() {
        assert!(Instant::now() < deadline, "the first run never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    let holder = format!("push run {} by {}@{machine}", slow.display(), push_tests::current_user());

    let refused = PushCmd::run_playbook(&quick, &fleet.inventory()).args(["--lock-wait", "2"]).run();
    refused.assert_code(2);
    let said = refused.plain_stdout();
    assert!(said.contains(&format!("[h1] waiting up to 2 s for the deploy lock, held by {holder}")), "{refused}");
    assert!(said.contains("host is locked by another run") && said.contains(&holder), "{refused}");
    assert!(!fleet.work_dir().join("second").exists(), "the refused run applied something");

    let waited =
        PushCmd::run_playbook(&quick, &fleet.inventory()).args(["--lock-wait", "60", "--format", "json"]).run();
    waited.assert_code(0);
    let all_phases: Vec<String> = waited
        .json()
        .iter()
        .filter(|e| e["event"] == "host")
        .filter_map(|e| e["phase"].as_str().map(String::from))
        .collect();
    let phases: Vec<&String> = all_phases.iter().filter(|p| p.starts_with("waiting for the deploy lock")).collect();
    assert_eq!(
        all_phases.last().map(String::as_str),
        Some("applying"),
        "the lock taken, back to applying: {all_phases:?}"
    );
    assert!(
        phases.first().is_some_and(|p| p.starts_with("waiting for the deploy lock (60 s left), held by ")),
        "{waited}"
    );
    assert!(phases.iter().all(|p| p.contains(&holder)), "{phases:?}");
    let left: Vec<u64> = phases.iter().filter_map(|p| p.split_once('(')?.1.split_once(' ')?.0.parse().ok()).collect();
    assert!(left.windows(2).all(|w| w[0] > w[1]), "the wait counts down: {phases:?}");
    assert!(fleet.work_dir().join("second").exists(), "the waiting run applied once the lock was free");
    assert!(first.wait().unwrap().success());
}

/// The controller goes silent while the apply script (here carrying a
/// 24 MB file) is still on its way: the host's shell is blocked reading
/// it, and would be until TCP keepalive. It ends once its reading has
/// stalled for 3x --timeout, and nothing of the script ran.
#[test]
fn a_host_ends_a_script_cut_off_on_its_way() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let tmp = private_tmp(&fleet);
    write(fleet.work_dir().join("big.txt"), "0123456789abcdef".repeat(24 << 16));
    let pb =
        playbook(&fleet, "big.yml", "- hosts: all\n  tasks:\n    - copy: {src: big.txt, dest: @ROOT@/copied.txt}\n");
    let mut run = spawn_run(&fleet, &pb, &tmp, &["--timeout", "2"]);
    // The probe's script is small; the apply's carries the file.
    let deadline = Instant::now() + Duration::from_secs(60);
    let shell = loop {
        let reading =
            host_side(&fleet, "h1").into_iter().find(|&p| cmdline(p).trim_end() == "sh -s" && bytes_read(p) > 1 << 20);
        if let Some(pid) = reading {
            break pid;
        }
        assert!(Instant::now() < deadline, "the apply script never arrived");
        std::thread::sleep(Duration::from_millis(5));
    };
    let masters = ssh_masters_under(&tmp);
    assert_eq!(masters.len(), 1, "one master for one host");
    signal(masters[0], libc::SIGSTOP);
    signal(run.id(), libc::SIGKILL);
    run.wait().unwrap();
    let ended = eventually(Duration::from_secs(40), || !is_alive(shell));
    signal(masters[0], libc::SIGKILL);
    assert!(ended, "the host kept a shell whose script stopped coming");
    assert!(!fleet.work_dir().join("copied.txt").exists(), "a script cut off on its way ran");
}

/// What a process read so far (`rchar` of /proc/PID/io).
fn bytes_read(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    io.lines().find_map(|l| l.strip_prefix("rchar: ")).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// A host's session dies in the middle of an apply (its shell killed):
/// the steps that finished before are reported as they ended, then the
/// host fails; the other host goes on to the end.
#[test]
fn a_session_that_dies_mid_chunk_reports_what_finished() {
    require!(require_sshd());
    let fleet = Fleet::start(2);
    let tmp = private_tmp(&fleet);
    let pb = playbook(
        &fleet,
        "cut.yml",
        "- hosts: all\n  tasks:\n    - name: before\n      copy: {dest: '@ROOT@/{{ inventory_hostname }}.before', content: \"x\\n\"}\n    \
         - name: sleeper\n      shell: sleep 600 & echo $! >@ROOT@/{{ inventory_hostname }}.pid; wait\n      when: inventory_hostname == 'h1'\n    \
         - name: after\n      copy: {dest: '@ROOT@/{{ inventory_hostname }}.after', content: \"x\\n\"}\n",
    );
    let mut run = spawn_run(&fleet, &pb, &tmp, &[]);
    let step = sleeper_pid(&fleet, "h1");
    let lock = fleet.dir().join("h1.lock");
    assert!(lock.is_dir(), "h1's apply holds its deploy lock");
    signal(remote_shell(&fleet, "h1"), libc::SIGKILL);
    let finished = eventually(Duration::from_secs(60), || run.try_wait().unwrap().is_some());
    signal(step, libc::SIGKILL);
    let (code, out) = end_run(&fleet, run, finished);
    assert!(finished, "the run did not end after h1's session died:\n{out}");
    assert_eq!(code, Some(2), "{out}");
    let tasks: Vec<serde_json::Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "task")
        .collect();
    let of = |host: &str| -> Vec<(String, String)> {
        tasks
            .iter()
            .filter(|e| e["host"] == host)
            .map(|e| (e["task"].as_str().unwrap_or("").to_string(), e["status"].as_str().unwrap_or("").to_string()))
            .collect()
    };
    let pair = |t: &str, s: &str| (t.to_string(), s.to_string());
    assert_eq!(of("h1"), [pair("before", "changed"), pair("exec", "failed")], "{out}");
    assert_eq!(of("h2"), [pair("before", "changed"), pair("sleeper", "skipped"), pair("after", "changed")], "{out}");
    assert!(fleet.work_dir().join("h2.after").exists() && !fleet.work_dir().join("h1.after").exists(), "{out}");
    // The chunk left through its traps: h1's deploy lock is released.
    assert!(eventually(Duration::from_secs(30), || !lock.exists()), "h1's deploy lock stayed:\n{out}");
}
