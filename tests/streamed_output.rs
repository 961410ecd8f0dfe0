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
    // no one holds the terminal end).
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match controller.read(&mut buf) {
                Ok(0) | Err(_) => return all,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("push did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let drawn = reader.join().unwrap();
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
    // as the host said the step before it ended, while the apply still ran
    // (before any task line, which needs the apply's whole output).
    let plain = without_escapes(&drawn);
    let named: Vec<usize> = ["first step", "second step", "third step"]
        .iter()
        .map(|t| plain.find(&format!("h1 - {t}")).unwrap_or_else(|| panic!("the spinner never named {t}:\n{drawn:?}")))
        .collect();
    assert!(named.windows(2).all(|w| w[0] < w[1]), "the spinner named the tasks out of order:\n{drawn:?}");
    let first_line = plain.find("changed: [h1] first step").expect("the first task's line");
    assert!(named[2] < first_line, "the last task was named only after the apply ended:\n{drawn:?}");

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
