//! What a person at a terminal sees: the real push binary under a
//! pseudo-terminal against real sshd hosts (see tests/support). Task lines
//! come in the order the tasks ran, each with its time, each a line of its
//! own; while a step runs, the host's spinner names its task.

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use push_tests::{push_bin, require, require_sshd, write, Fleet};

/// A new pseudo-terminal: (controller, terminal) ends.
fn open_pty() -> (std::fs::File, OwnedFd) {
    // SAFETY: plain libc calls on descriptors this function owns; the name
    // buffer is sized and NUL-terminated by ptsname_r.
    unsafe {
        let controller = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(controller >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
        assert_eq!(libc::grantpt(controller), 0, "grantpt");
        assert_eq!(libc::unlockpt(controller), 0, "unlockpt");
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(controller, name.as_mut_ptr(), name.len()), 0, "ptsname_r");
        let terminal = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
        assert!(terminal >= 0, "open the terminal end: {}", std::io::Error::last_os_error());
        let size = libc::winsize { ws_row: 40, ws_col: 120, ws_xpixel: 0, ws_ypixel: 0 };
        libc::ioctl(terminal, libc::TIOCSWINSZ, &size);
        (std::fs::File::from_raw_fd(controller), OwnedFd::from_raw_fd(terminal))
    }
}

/// Run push with stdout and stderr on a terminal; everything it drew, as
/// it came, and its exit code.
fn run_on_a_terminal(args: &[&str], cwd: &std::path::Path, env: &[(&str, &str)]) -> (String, Option<i32>) {
    run_on_a_terminal_watching(args, cwd, env, &mut |_| {})
}

/// As [`run_on_a_terminal`], showing `watch` everything drawn so far each
/// time more comes, while push still runs.
fn run_on_a_terminal_watching(
    args: &[&str],
    cwd: &std::path::Path,
    env: &[(&str, &str)],
    watch: &mut dyn FnMut(&str),
) -> (String, Option<i32>) {
    let (mut controller, terminal) = open_pty();
    let mut child = Command::new(push_bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("NO_COLOR")
        .env_remove("CI")
        .env("TERM", "xterm-256color")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::from(terminal.try_clone().unwrap()))
        .stderr(Stdio::from(terminal))
        .spawn()
        .expect("start push");
    // Read until push is gone and the terminal has nothing more (EIO once
    // no one holds the terminal end), handing each piece over as it comes.
    let (pieces, drawn_so_far) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match controller.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if pieces.send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let mut drawn = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        let mut more = false;
        while let Ok(piece) = drawn_so_far.recv_timeout(Duration::from_millis(20)) {
            drawn.extend_from_slice(&piece);
            more = true;
        }
        if more {
            watch(&String::from_utf8_lossy(&drawn));
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("push did not finish in time:\n{}", String::from_utf8_lossy(&drawn));
        }
    };
    reader.join().unwrap();
    drawn.extend(drawn_so_far.try_iter().flatten());
    (String::from_utf8_lossy(&drawn).into_owned(), status.code())
}

/// What was drawn without its escape sequences.
fn without_escapes(drawn: &str) -> String {
    let mut plain = String::new();
    let mut chars = drawn.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // Parameters, then one final byte in @..~.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        plain.push(c);
    }
    plain
}

/// What a terminal shows of each line: escape sequences dropped, and only
/// what follows the last carriage return within it.
fn shown_lines(drawn: &str) -> Vec<String> {
    let plain = without_escapes(drawn);
    // The terminal ends each line with \r\n.
    plain.split('\n').map(|l| l.trim_end_matches('\r').rsplit('\r').next().unwrap_or("").to_string()).collect()
}

/// The seconds of `1.2s) ...`, what follows a task's name and ` (`.
fn timing(after_name: &str) -> Option<f64> {
    after_name.split_once("s)")?.0.parse().ok()
}

#[test]
fn task_lines_stream_in_order_with_their_times_and_the_spinner_names_the_task() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let pb = fleet.work_dir().join("slow.yml");
    write(
        &pb,
        "- hosts: all\n  tasks:\n\
         \x20   - name: first step\n      command: sleep 1.5\n\
         \x20   - name: second step\n      command: sleep 1.5\n\
         \x20   - name: third step\n      command: sleep 1.5\n",
    );
    let inventory = fleet.inventory();
    let args = ["run", pb.to_str().unwrap(), "-i", inventory.to_str().unwrap()];
    let (drawn, code) = run_on_a_terminal(&args, &fleet.work_dir(), &[]);
    if std::env::var_os("SHOW_DRAWN").is_some() {
        eprintln!("{drawn:?}");
    }
    let lines = shown_lines(&drawn);
    let shown = lines.join("\n");
    assert_eq!(code, Some(0), "{shown}");

    // On a terminal the words are coloured.
    assert!(drawn.contains("\x1b[33mchanged\x1b[0m"), "no colour on a terminal:\n{drawn:?}");

    // One line per task, in the order they ran, each with its time, which
    // is at least the step's sleep (the host's own, not the whole apply's).
    let mut at = Vec::new();
    for name in ["first step", "second step", "third step"] {
        let prefix = format!("changed: [h1] {name} (");
        let found: Vec<(usize, &String)> = lines.iter().enumerate().filter(|(_, l)| l.starts_with(&prefix)).collect();
        assert_eq!(found.len(), 1, "one line for {name}:\n{shown}");
        let (i, line) = found[0];
        let secs = timing(&line[prefix.len()..]).unwrap_or_else(|| panic!("no time on {line:?}"));
        assert!(secs >= 1.5, "{name} took {secs}s, less than its sleep:\n{shown}");
        at.push(i);
    }
    assert!(at.windows(2).all(|w| w[0] < w[1]), "task lines out of order:\n{shown}");

    // While each step slept, the host's spinner (redrawn in place, not on
    // lines of its own) named its task, in the order they ran: each named
    // as the host said the step before it ended, while the apply still ran.
    let plain = without_escapes(&drawn);
    let named: Vec<usize> = ["first step", "second step", "third step"]
        .iter()
        .map(|t| plain.find(&format!("h1 - {t}")).unwrap_or_else(|| panic!("the spinner never named {t}:\n{drawn:?}")))
        .collect();
    assert!(named.windows(2).all(|w| w[0] < w[1]), "the spinner named the tasks out of order:\n{drawn:?}");
    // Each task's line comes as its step ends, before the next task is
    // named: the first task's line before the third is at work.
    let first_line = plain.find("changed: [h1] first step").expect("the first task's line");
    assert!(first_line < named[2], "the first task's line came after the last task started:\n{drawn:?}");

    // Lines end where their text does: no padding to the terminal's width.
    for line in lines.iter().filter(|l| l.starts_with("changed:") || l.starts_with("PLAY") || l.starts_with("h1 ")) {
        assert_eq!(line.trim_end(), line, "padded line {line:?}");
    }
    // The recap, and never an empty overall bar.
    assert!(lines.iter().any(|l| l.starts_with("h1 : ok=3")), "{shown}");
    assert!(!shown.contains("0/0 hosts"), "{shown}");
}

/// `NO_COLOR` on a terminal: the same lines without colour; the bars stay.
#[test]
fn no_color_on_a_terminal_keeps_the_bars_and_drops_the_colour() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let pb = fleet.work_dir().join("quick.yml");
    write(&pb, "- hosts: all\n  tasks:\n    - name: one step\n      command: sleep 0.5\n");
    let inventory = fleet.inventory();
    let args = ["run", pb.to_str().unwrap(), "-i", inventory.to_str().unwrap(), "--diff"];
    let (drawn, code) = run_on_a_terminal(&args, &fleet.work_dir(), &[("NO_COLOR", "1")]);
    assert_eq!(code, Some(0), "{drawn:?}");
    let lines = shown_lines(&drawn);
    assert!(lines.iter().any(|l| l.starts_with("changed: [h1] one step (")), "{drawn:?}");
    assert!(drawn.contains("1/1 hosts") || drawn.contains("0/1 hosts"), "no bar on a terminal: {drawn:?}");
    for colour in ["\x1b[32m", "\x1b[33m", "\x1b[31m", "\x1b[1m"] {
        assert!(!drawn.contains(colour), "colour {colour:?} despite NO_COLOR: {drawn:?}");
    }
}

/// A task's line shows the moment the task ends on its host, while the
/// host still runs the tasks after it: the last task here waits for a file
/// that this test makes only once the first task's line is on the
/// terminal. (Lines that came only with the whole apply's end would leave
/// it waiting until it gives up and fails.)
#[test]
fn a_task_line_shows_while_the_tasks_after_it_still_run() {
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let seen = fleet.work_dir().join("first-line-seen");
    let pb = fleet.work_dir().join("waits.yml");
    write(&pb, waiting_playbook(&seen));
    let inventory = fleet.inventory();
    let args = ["run", pb.to_str().unwrap(), "-i", inventory.to_str().unwrap()];
    let mut seen_while_running = false;
    let (drawn, code) = run_on_a_terminal_watching(&args, &fleet.work_dir(), &[], &mut |drawn| {
        if !seen_while_running && shown_lines(drawn).iter().any(|l| l.starts_with("changed: [h1] first (")) {
            write(&seen, "");
            seen_while_running = true;
        }
    });
    let shown = shown_lines(&drawn).join("\n");
    assert!(seen_while_running, "the first task's line never showed:\n{shown}");
    assert_eq!(code, Some(0), "the last task gave up waiting for the first task's line:\n{shown}");
    let at = |prefix: &str| {
        let lines = shown_lines(&drawn);
        let found: Vec<usize> =
            lines.iter().enumerate().filter(|(_, l)| l.starts_with(prefix)).map(|(i, _)| i).collect();
        assert_eq!(found.len(), 1, "one line for {prefix:?}:\n{shown}");
        found[0]
    };
    let lines =
        [at("changed: [h1] first ("), at("changed: [h1] waits for the first line ("), at("changed: [h1] last (")];
    assert!(lines.windows(2).all(|w| w[0] < w[1]), "task lines out of order:\n{shown}");
}

/// The same with `--format json` on a pipe: each task's event is written
/// (and flushed) as the task ends, in the order of the tasks.
#[test]
fn json_task_events_come_as_tasks_end_in_their_order() {
    use std::io::BufRead;
    require!(require_sshd());
    let fleet = Fleet::start(1);
    let seen = fleet.work_dir().join("first-event-seen");
    let pb = fleet.work_dir().join("waits.yml");
    write(&pb, waiting_playbook(&seen));
    let mut child = Command::new(push_bin())
        .args(["run", pb.to_str().unwrap(), "-i", fleet.inventory().to_str().unwrap(), "--format", "json"])
        .current_dir(fleet.work_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start push");
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut tasks = Vec::new();
    let mut all = String::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        all.push_str(&line);
        all.push('\n');
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        if event["event"] != "task" {
            continue;
        }
        let task =
            (event["task"].as_str().unwrap_or("").to_string(), event["status"].as_str().unwrap_or("").to_string());
        if task.0 == "first" {
            write(&seen, "");
        }
        tasks.push(task);
    }
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(0), "the last task gave up waiting for the first task's event:\n{all}");
    let pair = |t: &str, s: &str| (t.to_string(), s.to_string());
    assert_eq!(
        tasks,
        [pair("first", "changed"), pair("waits for the first line", "changed"), pair("last", "changed")],
        "{all}"
    );
}

/// Three tasks on one host; the second waits (up to a minute, then fails)
/// for `seen`, which the test makes once it saw the first task's result.
fn waiting_playbook(seen: &std::path::Path) -> String {
    let seen = seen.display();
    format!(
        "- hosts: all\n  tasks:\n\
         \x20   - name: first\n      command: 'true'\n\
         \x20   - name: waits for the first line\n      shell: n=0; until [ -e {seen} ]; do n=$((n+1)); [ $n -lt 1200 ] || exit 9; sleep 0.05; done\n\
         \x20   - name: last\n      command: 'true'\n"
    )
}
