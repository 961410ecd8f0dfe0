//! Fleet upgrades for real (`playbooks/web.yml`): six lab hosts, each
//! running the lab's `web` image as a health-checked container unit, rolled
//! from v1 to v2 two hosts at a time, to the broken v3 (reverted, the rest
//! untouched), back with `push rollback`, with the tag moved halfway
//! through a rollout, and with two runs at once; an upgrade whose push is
//! interrupted, or whose host restarts, in the middle of its switch; an
//! image that cannot be pulled. One lab for the whole story, torn down at
//! the end, pass or fail.
//!
//! Needs a Docker engine (`tests/run` leaves `lab*` binaries out without
//! one, counting them as skipped); the image comes from `push lab images`.
//! Every address used is a lab container's on this machine.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Lines, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use push_tests::{push_bin, read, require, require_docker, run_with_timeout, PushCmd, RunOutput, TestLab};
use serde_json::Value;

const RUN_TIMEOUT: Duration = Duration::from_secs(10 * 60);
const HOSTS: usize = 6;

fn playbook() -> PathBuf {
    push_tests::workspace().join("playbooks/web.yml")
}

/// The lab of this test, with what the rollout story needs on top.
struct WebLab(TestLab);

impl std::ops::Deref for WebLab {
    type Target = TestLab;
    fn deref(&self) -> &TestLab {
        &self.0
    }
}

impl WebLab {
    fn hosts(&self) -> Vec<String> {
        (1..=HOSTS as u32).map(|i| self.host(i)).collect()
    }

    /// `push COMMAND playbooks/web.yml -i INVENTORY --format json EXTRA...`
    fn command(&self, command: &str, extra: &[&str]) -> PushCmd {
        PushCmd::new()
            .arg(command)
            .arg_path(&playbook())
            .arg("-i")
            .arg_path(&self.inventory())
            .args(["--format", "json"])
            .args(extra.iter().copied())
            .timeout(RUN_TIMEOUT)
    }

    fn run(&self, extra: &[&str]) -> RunOutput {
        self.command("run", extra).run()
    }

    /// `push run playbooks/web.yml --format json EXTRA...` in the
    /// background, its JSON lines to be read as they come.
    fn spawn_run(&self, extra: &[&str]) -> (Child, Lines<BufReader<ChildStdout>>) {
        let mut child = Command::new(push_bin())
            .arg("run")
            .arg(playbook())
            .arg("-i")
            .arg(self.inventory())
            .args(["--format", "json"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("push starts");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        (child, lines)
    }

    /// Waits (within a generous bound) until what push left running on a
    /// host is done: no switch of `web` under way (one goes on without
    /// push), no apply holding the deploy lock.
    fn wait_for_switch_end(&self, host: &str) {
        let busy = "systemctl is-active --quiet push-switch-web || test -e /etc/push/docker/web.switching || test -e /run/push/push.lock";
        wait_until(Duration::from_secs(180), &format!("{host}: the switch of web never ended"), || {
            self.on(host, busy).code != Some(0)
        });
    }

    /// Waits until `web` is active on a host and answers on its port; the
    /// image its unit runs.
    fn wait_for_web(&self, host: &str) -> String {
        let unit = || self.web(host).0;
        wait_until(
            Duration::from_secs(180),
            &format!("{host}: web never became active; its unit runs {}", unit()),
            || self.on(host, "systemctl is-active --quiet web").success(),
        );
        let addr = &self.addresses()[host];
        wait_until(Duration::from_secs(120), &format!("{host} serves nothing; its unit runs {}", unit()), || {
            get(addr, "/version").is_some()
        });
        unit()
    }

    /// `docker kill web` on a host, as a crash would; the image of the
    /// unit systemd starts again.
    fn crash_and_restart(&self, host: &str) -> String {
        let _ = self.on(host, "docker kill web");
        self.wait_for_web(host)
    }

    /// host name -> address, from the lab's hosts.yml.
    fn addresses(&self) -> BTreeMap<String, String> {
        let yml = read(self.inventory().join("hosts.yml"));
        let mut out = BTreeMap::new();
        let mut host = None;
        for line in yml.lines() {
            let t = line.trim();
            if let Some(a) = t.strip_prefix("ansible_host:") {
                out.insert(host.take().expect("a host before its address"), a.trim().trim_matches('"').to_string());
            } else if let Some(h) = t.strip_suffix(':').filter(|h| h.starts_with(&self.name)) {
                host = Some(h.to_string());
            }
        }
        assert_eq!(out.len(), HOSTS, "{yml}");
        out
    }

    /// The registry as this machine's Docker engine pushes to it.
    fn local_registry(&self) -> String {
        let out = run_with_timeout(
            Command::new("docker").args(["port", &format!("{}-registry", self.name), "5000"]),
            Duration::from_secs(30),
        );
        out.stdout.lines().find(|l| l.starts_with("127.0.0.1:")).expect("registry on loopback").trim().to_string()
    }

    /// `(image reference in the unit, container id)` of `web` on a host.
    fn web(&self, host: &str) -> (String, String) {
        let image = self.on_ok(host, "sed -n 's/^# push image: //p' /etc/systemd/system/web.service");
        let id = self.on(host, "docker inspect -f '{{.Id}}' web").stdout.trim().to_string();
        (image, id)
    }
}

/// Polls `check` until it holds; panics with `what` past `limit` (a bound
/// for hangs, not a timing claim).
fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let t = Instant::now();
    while !check() {
        assert!(t.elapsed() < limit, "{what} (waited {limit:?})");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Ctrl-C to a running push: it closes its connections and says so.
fn interrupt(mut child: Child, lines: Lines<BufReader<ChildStdout>>) {
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill runs");
    assert!(sent.success());
    lines.for_each(drop);
    assert_eq!(child.wait().expect("push ends").code(), Some(130), "push says it was interrupted");
}

/// Reads push's JSON lines until a host says its apply waits for its
/// restarts; that host.
fn host_waiting_for_restarts(lines: &mut Lines<BufReader<ChildStdout>>) -> String {
    for line in lines.by_ref() {
        let e: Value = serde_json::from_str(&line.expect("stdout")).unwrap_or_default();
        if e["event"] == "host" && e["phase"].as_str().is_some_and(|p| p.starts_with("applying; restarts wait")) {
            return e["host"].as_str().unwrap().to_string();
        }
    }
    panic!("push ended before any host waited for its restarts");
}

/// Until the switch to `version` is under way on a host: its marker is
/// there, or (as push did before switches) the unit file already names it.
fn wait_for_switch_start(lab: &WebLab, host: &str, version: &str) {
    let probe = format!(
        "test -e /etc/push/docker/web.switching || grep -q '^# push image: .*/web:{version}@' /etc/systemd/system/web.service"
    );
    wait_until(Duration::from_secs(120), &format!("{host}: the switch to {version} never started"), || {
        lab.on(host, &probe).success()
    });
}

/// GET http://ADDR:8080/PATH: `Some(body)` on a 200, else None.
fn get(addr: &str, path: &str) -> Option<String> {
    let sock = format!("{addr}:8080").parse().ok()?;
    let mut s = TcpStream::connect_timeout(&sock, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(1500))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    (head.split(' ').nth(1) == Some("200")).then(|| body.trim().to_string())
}

/// Polls every host's /health from its own thread while a rollout runs and
/// keeps each host's down intervals (no 200), so the most hosts down at the
/// same moment can be worked out afterwards.
struct Prober {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<Vec<(Instant, Instant)>>>,
}

impl Prober {
    fn start(addresses: Vec<String>) -> Prober {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = addresses
            .into_iter()
            .map(|addr| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut down = Vec::new();
                    let mut since: Option<Instant> = None;
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        let up = get(&addr, "/health").is_some();
                        match (up, since) {
                            (false, None) => since = Some(t),
                            (true, Some(s)) => {
                                down.push((s, t));
                                since = None;
                            }
                            _ => {}
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    if let Some(s) = since {
                        down.push((s, Instant::now()));
                    }
                    down
                })
            })
            .collect();
        Prober { stop, threads }
    }

    /// (most hosts down at once, hosts that were ever down)
    fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        let per_host: Vec<Vec<(Instant, Instant)>> = self.threads.into_iter().map(|t| t.join().unwrap()).collect();
        let ever = per_host.iter().filter(|d| !d.is_empty()).count();
        let mut edges: Vec<(Instant, i32)> = per_host.iter().flatten().flat_map(|&(a, b)| [(a, 1), (b, -1)]).collect();
        // At equal instants, ends before starts: touching intervals do not overlap.
        edges.sort_by_key(|&(t, d)| (t, d));
        let (mut now, mut most) = (0, 0);
        for (_, d) in edges {
            now += d;
            most = most.max(now);
        }
        (most as usize, ever)
    }
}

/// Tag this machine's image `local` as REGISTRY/`name` and push it there.
fn docker_push(registry: &str, local: &str, name: &str) {
    let remote = format!("{registry}/{name}");
    for args in [vec!["tag", local, &remote], vec!["push", &remote]] {
        let out = run_with_timeout(Command::new("docker").args(&args), Duration::from_secs(120));
        assert!(out.success(), "docker {args:?}: {out}");
    }
}

fn recap_rollout(out: &RunOutput, outcome: &str) -> Vec<String> {
    let recap = out.recap();
    let list = recap.raw.get("rollout").and_then(|r| r.get(outcome)).and_then(Value::as_array);
    list.map(|l| l.iter().filter_map(|h| h.as_str().map(String::from)).collect()).unwrap_or_default()
}

fn batches(out: &RunOutput) -> Vec<Vec<String>> {
    out.json()
        .iter()
        .filter(|e| e["event"] == "batch")
        .map(|e| e["hosts"].as_array().unwrap().iter().map(|h| h.as_str().unwrap().to_string()).collect())
        .collect()
}

fn pinned_digest(out: &RunOutput) -> String {
    let pinned = out.recap().raw["pinned"].as_object().cloned().unwrap_or_default();
    assert_eq!(pinned.len(), 1, "one pinned image: {pinned:?}\n{out}");
    pinned.values().next().unwrap().as_str().unwrap().to_string()
}

#[test]
fn lab_rolling_upgrade_revert_rollback_and_locks() {
    require!(require_docker());
    let lab = WebLab(TestLab::new("pt-web"));
    let t = Instant::now();
    lab.lab(&["up", "--hosts", "6", "--prepared"]).assert_code(0);
    lab.lab(&["images", "web"]).assert_code(0);
    eprintln!("lab up + images: {:.1}s", t.elapsed().as_secs_f64());
    let hosts = lab.hosts();
    let addrs = lab.addresses();
    let version = |h: &str| get(&addrs[h], "/version");

    // v1 everywhere, in three batches of two.
    let t = Instant::now();
    let out = lab.run(&[]);
    out.assert_code(0);
    eprintln!("first converge (v1): {:.1}s", t.elapsed().as_secs_f64());
    assert_eq!(batches(&out).len(), 3, "{out}");
    for h in &hosts {
        assert_eq!(version(h).as_deref(), Some("v1"), "{h}");
        lab.on_ok(h, &format!("docker exec web sh -c 'echo data-of-{h} > /www/data/token'"));
        assert_eq!(lab.on_ok(h, "systemctl is-active web"), "active");
    }

    // Push goes away in the middle of an upgrade to the broken v3: Ctrl-C
    // as soon as the first batch's hosts wait for their restarts, then a
    // container is killed. Whether a host's switch had started or not, what
    // systemd starts after the crash is the checked v1, never v3.
    let v1_unit = lab.web(&hosts[0]).0;
    let (child, mut lines) = lab.spawn_run(&["-e", "web_version=v3"]);
    let cut = host_waiting_for_restarts(&mut lines);
    interrupt(child, lines);
    let _ = lab.on(&cut, "docker kill web");
    for h in &hosts[..2] {
        lab.wait_for_switch_end(h);
        assert_eq!(lab.crash_and_restart(h), v1_unit, "{h}: systemd starts the checked v1 after a crash");
        assert_eq!(version(h).as_deref(), Some("v1"), "{h}");
    }

    // The same, with the switch under way when push goes: it ends on its
    // own, health-checked (v3 is not healthy: back on v1), and says so
    // for the next run.
    let away = &hosts[3];
    let (child, lines) = lab.spawn_run(&["-l", away, "-e", "web_version=v3"]);
    wait_for_switch_start(&lab, away, "v3");
    interrupt(child, lines);
    lab.wait_for_switch_end(away);
    assert_eq!(lab.crash_and_restart(away), v1_unit, "{away}: systemd starts the checked v1 after a crash");
    assert_eq!(version(away).as_deref(), Some("v1"), "{away}");
    let outcome = lab.on(away, "cat /etc/push/docker/web.outcome").stdout;
    assert!(outcome.contains("did not come up, so it went back to"), "{away}: for the next run: {outcome}");

    // The host restarts in the middle of its switch to v3 (a power cut:
    // its container is killed and started again): it comes up on v1, the
    // last release that passed its check.
    let rebooted = &hosts[2];
    let (mut child, lines) = lab.spawn_run(&["-l", rebooted, "-e", "web_version=v3"]);
    // The switch's own marker, not the unit file: on a loaded machine the
    // unit can say v3 once the switch is already over, and a restart then
    // has nothing to undo.
    let marker = "test -e /etc/push/docker/web.switching";
    wait_until(Duration::from_secs(120), &format!("{rebooted}: the switch to v3 never started"), || {
        lab.on(rebooted, marker).success()
    });
    let restart = run_with_timeout(Command::new("docker").args(["restart", "-t", "0", rebooted]), RUN_TIMEOUT);
    assert!(restart.success(), "docker restart {rebooted}: {restart}");
    let cut_short: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(!child.wait().expect("push ends").success(), "{}", cut_short.join("\n"));
    assert_eq!(lab.wait_for_web(rebooted), v1_unit, "{rebooted} booted on the checked v1");
    assert_eq!(version(rebooted).as_deref(), Some("v1"), "{rebooted}");
    assert!(
        lab.on_ok(rebooted, "cat /etc/push/docker/web.outcome").contains("cut short (the host restarted)"),
        "{rebooted}: the boot says what it undid"
    );

    // The switch itself is killed in the middle (SIGKILL, as the kernel's
    // OOM killer would): what it replaced goes back in place and runs, and
    // the run waiting for it says so.
    let killed = &hosts[5];
    let (mut child, lines) = lab.spawn_run(&["-l", killed, "-e", "web_version=v3"]);
    wait_for_switch_start(&lab, killed, "v3");
    lab.on_ok(killed, "systemctl kill --signal=KILL --kill-who=main push-switch-web");
    let events: Vec<Value> = lines.map_while(Result::ok).filter_map(|l| serde_json::from_str(&l).ok()).collect();
    assert_eq!(child.wait().expect("push ends").code(), Some(2), "{events:?}");
    let restart = events.iter().find(|e| e["event"] == "task" && e["task"] == "restart web").expect("restart web");
    assert_eq!(restart["status"], "failed", "{restart}");
    assert!(restart["msg"].as_str().unwrap().contains("was cut short (the switch was killed)"), "{restart}");
    assert_eq!(lab.wait_for_web(killed), v1_unit, "{killed} runs the checked v1 again");
    assert_eq!(version(killed).as_deref(), Some("v1"), "{killed}");

    // An upgrade to the good v2 whose push goes away while the host still
    // waits to start its switch (held back by a stand-in switch unit): the
    // host ends that run with its controller, so the switch never starts.
    // v1 runs on, the new files wait beside it, the lock is released, and
    // the next run does the upgrade.
    let alone = &hosts[4];
    lab.on_ok(alone, "systemd-run --quiet --collect --unit=push-switch-web sleep 600");
    let (child, mut lines) = lab.spawn_run(&["-l", alone, "-e", "web_version=v2"]);
    host_waiting_for_restarts(&mut lines);
    // The new files are beside the old ones and the restart step has begun.
    let waiting = "test -e /etc/push/docker/web.next.service && ! test -e /run/push/docker/web.due";
    wait_until(Duration::from_secs(120), &format!("{alone} never waited for its switch"), || {
        lab.on(alone, waiting).success()
    });
    interrupt(child, lines);
    wait_until(Duration::from_secs(60), &format!("{alone} kept the run of a push that is gone"), || {
        !lab.on(alone, "test -e /run/push/push.lock").success()
    });
    lab.on_ok(alone, "systemctl stop push-switch-web");
    lab.wait_for_switch_end(alone);
    assert!(lab.web(alone).0.contains("/web:v1@"), "{alone}: a switch started after its push was gone");
    assert_eq!(version(alone).as_deref(), Some("v1"), "{alone}");

    // v2, two at a time: never more than two hosts down, data kept.
    let probe = Prober::start(hosts.iter().map(|h| addrs[h].clone()).collect());
    let t = Instant::now();
    let out = lab.run(&["-e", "web_version=v2"]);
    let (most_down, ever_down) = probe.finish();
    eprintln!("v1 -> v2: {:.1}s, at most {most_down} hosts down at once", t.elapsed().as_secs_f64());
    out.assert_code(0);
    let v2 = pinned_digest(&out);
    assert_eq!(recap_rollout(&out, "upgraded"), hosts, "{out}");
    // The prober does see downtime (each recreate has some), so its bound means something.
    assert_eq!(ever_down, HOSTS, "every host was recreated, so down for a moment");
    assert!(most_down <= 2, "{most_down} hosts were down at the same time with serial 2");
    let restart = out.task(&hosts[0], "restart web");
    assert!(restart.msg.contains("healthy after"), "{}", restart.msg);
    // The run says what the switches it found had done without push.
    for h in [away, rebooted] {
        let found = out.task(h, "Web container").msg;
        assert!(found.contains("an earlier run went away before its switch of web ended"), "{h}: {found}");
    }
    for h in &hosts {
        assert_eq!(version(h).as_deref(), Some("v2"), "{h}");
        assert_eq!(get(&addrs[h], "/data/token").as_deref(), Some(format!("data-of-{h}").as_str()), "{h}");
        assert!(lab.web(h).0.ends_with(&format!("@{v2}")), "{h} runs the pinned digest");
    }

    // The registry does not have the image (a registry down in the middle
    // of a rollout fails the same way): the healthy container is not
    // stopped, the host fails saying so.
    let h = &hosts[0];
    let started = |h: &str| lab.on_ok(h, "docker inspect -f '{{.State.StartedAt}}' web");
    let (unit, since) = (lab.web(h), started(h));
    let out = lab.run(&["-l", h, "--no-pin", "-e", "web_version=v-missing"]);
    out.assert_code(2);
    let failed = out.task(h, "restart web");
    assert!(failed.msg.contains("still runs") && failed.msg.contains("cannot pull"), "{}", failed.msg);
    assert_eq!((lab.web(h), started(h)), (unit, since), "{h}: the running container was never stopped");
    assert_eq!(version(h).as_deref(), Some("v2"), "{h}");

    // The broken v3: the first batch fails its health check and goes back to
    // v2; no other host is touched.
    let before: BTreeMap<String, (String, String)> = hosts.iter().map(|h| (h.clone(), lab.web(h))).collect();
    let out = lab.run(&["-e", "web_version=v3"]);
    out.assert_code(2);
    let first = batches(&out)[0].clone();
    assert_eq!(batches(&out).len(), 1, "no batch after the failed one: {out}");
    assert_eq!(recap_rollout(&out, "reverted"), first, "{out}");
    assert_eq!(recap_rollout(&out, "untouched"), hosts[2..].to_vec(), "{out}");
    eprintln!("a revert reports: {}", out.task(&first[0], "restart web").msg);
    for h in &first {
        let failed = out.task(h, "restart web");
        assert_eq!(failed.status, "failed", "{failed:?}");
        assert!(failed.msg.contains("went back to"), "{}", failed.msg);
        assert!(failed.msg.contains("GET http://127.0.0.1:80/health"), "the check's output: {}", failed.msg);
        assert!(failed.msg.contains("listening on port 8080"), "the container's last log lines: {}", failed.msg);
        assert_eq!(version(h).as_deref(), Some("v2"), "{h} serves v2 again");
        assert_eq!(lab.on_ok(h, "systemctl is-active web"), "active");
        assert_eq!(lab.web(h).0, before[h].0, "{h}: the unit is v2's again");
        assert_eq!(get(&addrs[h], "/data/token").as_deref(), Some(format!("data-of-{h}").as_str()), "{h}");
    }
    for h in &hosts[2..] {
        assert_eq!(lab.web(h), before[h], "{h} was not touched");
        assert_eq!(out.recap().host(h).remote_execs, 0, "{h} was not even contacted");
    }

    // Rollback: every host back on v1, in the same batches, data kept.
    let out = lab.command("rollback", &[]).run();
    out.assert_code(0);
    assert_eq!(batches(&out).len(), 3, "{out}");
    assert_eq!(recap_rollout(&out, "rolled_back"), hosts, "{out}");
    for h in &hosts {
        assert_eq!(version(h).as_deref(), Some("v1"), "{h}");
        assert_eq!(get(&addrs[h], "/data/token").as_deref(), Some(format!("data-of-{h}").as_str()), "{h}");
    }
    // Rolling back twice returns to where it started (on one host).
    let h1 = hosts[0].as_str();
    for expected in ["v2", "v1"] {
        let out = lab.command("rollback", &["-l", h1]).run();
        out.assert_code(0);
        assert_eq!(recap_rollout(&out, "rolled_back"), [h1], "{out}");
        assert_eq!(version(h1).as_deref(), Some(expected), "{out}");
    }

    // The tag moves halfway through a rollout: hosts 3-6 hold their deploy
    // lock (a live holder: pid 1) until the first batch is done and v2 is
    // retagged to v3's content; every host still gets the digest resolved
    // at the start (with the moved tag, batch 2 would fail and revert).
    for h in &hosts[2..] {
        lab.on_ok(
            h,
            "mkdir -p -m 0700 /run/push && mkdir /run/push/push.lock && echo 'the test' >/run/push/push.lock/holder && echo 1 >/run/push/push.lock/pid",
        );
    }
    let mut child = Command::new(push_bin())
        .args(["run"])
        .arg(playbook())
        .arg("-i")
        .arg(lab.inventory())
        .args(["--format", "json", "-e", "web_version=v2", "--lock-wait", "300"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("push starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    loop {
        let line = lines.next().expect("push ended before batch 2").expect("stdout");
        seen.push(line.clone());
        let e: Value = serde_json::from_str(&line).unwrap_or_default();
        if e["event"] == "batch" && e["batch"] == 2 {
            break;
        }
    }
    let registry = lab.local_registry();
    docker_push(&registry, "push-lab/web:v3", "web:v2");
    for h in &hosts[2..] {
        lab.on_ok(h, "rm -rf /run/push/push.lock");
    }
    seen.extend(lines.map_while(Result::ok));
    let status = child.wait().expect("push ends");
    let all = seen.join("\n");
    assert!(status.success(), "{all}");
    assert!(all.contains(&v2), "the recap names the digest resolved at the start: {all}");
    for h in &hosts {
        assert!(lab.web(h).0.ends_with(&format!("@{v2}")), "{h} got the digest from the start");
        assert_eq!(version(h).as_deref(), Some("v2"), "{h}");
    }
    docker_push(&registry, "push-lab/web:v2", "web:v2");

    // Two runs at once on one host: the second fails at once naming the
    // holder and applies nothing; the first finishes; the unit is whole (a
    // third run has nothing to do).
    let h = &hosts[0];
    let mut first = Command::new(push_bin())
        .arg("run")
        .arg(playbook())
        .arg("-i")
        .arg(lab.inventory())
        .args(["-l", h, "--format", "json", "-e", "web_version=v1", "--no-pin"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("push starts");
    let t = Instant::now();
    while lab.on(h, "test -d /run/push/push.lock").code != Some(0) {
        assert!(t.elapsed() < Duration::from_secs(120), "the first run never took the lock");
        std::thread::sleep(Duration::from_millis(100));
    }
    let second = lab.run(&["-l", h, "-e", "web_version=v1", "--no-pin", "--lock-wait", "0"]);
    second.assert_code(2);
    assert!(second.0.to_string().contains("locked by another run: push run"), "{second}");
    let mut first_out = String::new();
    first.stdout.take().unwrap().read_to_string(&mut first_out).unwrap();
    assert!(first.wait().unwrap().success(), "{first_out}");
    assert_eq!(version(h).as_deref(), Some("v1"));
    let again = lab.run(&["-l", h, "-e", "web_version=v1", "--no-pin"]);
    again.assert_code(0);
    assert_eq!(again.recap().host(h).changed, 0, "the unit was left whole: {again}");

    // The other kinds of check, on one host: tcp, cmd in the container, and
    // the image's own HEALTHCHECK (an image made here from v2 with one); and
    // a first deployment that never gets healthy, with nothing to go back to.
    let dockerfile = "FROM push-lab/web:v2\nHEALTHCHECK --interval=1s --timeout=2s CMD wget -q -O /dev/null http://127.0.0.1/health\n";
    let mut build = Command::new("docker")
        .args(["build", "-q", "-t", &format!("{registry}/web:hc"), "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("docker build starts");
    build.stdin.take().unwrap().write_all(dockerfile.as_bytes()).unwrap();
    assert!(build.wait().unwrap().success(), "docker build of web:hc");
    docker_push(&registry, &format!("{registry}/web:hc"), "web:hc");
    let checks = lab.dir.path().join("checks.yml");
    std::fs::write(
        &checks,
        r#"- hosts: all
  become: true
  tasks:
    - docker_unit:
        name: by-tcp
        image: "{{ lab_registry }}/web:v2"
        health: {tcp: 80, interval: 500ms}
    - docker_unit:
        name: by-cmd
        image: "{{ lab_registry }}/web:v2"
        health: {cmd: [wget, -q, -O, /dev/null, "http://127.0.0.1/health"], interval: 500ms}
    - docker_unit:
        name: by-image
        image: "{{ lab_registry }}/web:hc"
        health: {image: true, interval: 1s, retries: 20}
    - docker_unit:
        name: never
        image: "{{ lab_registry }}/web:v2"
        health: {cmd: ["false"], interval: 200ms, retries: 2}
"#,
    )
    .unwrap();
    let out =
        PushCmd::run_playbook(&checks, &lab.inventory()).args(["-l", h, "--format", "json"]).timeout(RUN_TIMEOUT).run();
    out.assert_code(2);
    for unit in ["by-tcp", "by-cmd", "by-image"] {
        let t = out.task(h, &format!("restart {unit}"));
        assert_eq!(t.status, "changed", "{t:?}");
        assert!(t.msg.contains("healthy after"), "{unit}: {}", t.msg);
        assert_eq!(lab.on_ok(h, &format!("systemctl is-active {unit}")), "active");
    }
    let never = out.task(h, "restart never");
    assert_eq!(never.status, "failed", "{never:?}");
    assert!(never.msg.contains("no earlier deployment is kept"), "{}", never.msg);
    assert!(never.msg.contains("(cmd false) failed after"), "{}", never.msg);
    assert_ne!(lab.on(h, "systemctl is-active never").stdout.trim(), "active", "an unhealthy unit is not active");
}
