//! Running a child process with a deadline, and finding and ending a
//! process's descendants (Linux `/proc`).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What a finished (or killed) command left behind.
#[derive(Clone)]
pub struct CmdOutput {
    /// The command line, for messages.
    pub cmdline: String,
    /// `None` when it was killed (by us on timeout, or by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl fmt::Debug for CmdOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for CmdOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.cmdline)?;
        match (self.code, self.timed_out) {
            (_, true) => writeln!(f, "exit: KILLED after timeout")?,
            (Some(c), _) => writeln!(f, "exit: {c}")?,
            (None, _) => writeln!(f, "exit: killed by a signal")?,
        }
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        writeln!(f, "--- stderr ---\n{}", self.stderr)?;
        write!(f, "--------------")
    }
}

/// `cmd` as one line, quoted enough to paste into a shell.
pub fn cmdline(cmd: &Command) -> String {
    let mut parts =
        vec![shlex::try_quote(&cmd.get_program().to_string_lossy()).map(|c| c.into_owned()).unwrap_or_default()];
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        parts.push(shlex::try_quote(&a).map(|c| c.into_owned()).unwrap_or_else(|_| format!("{a:?}")));
    }
    parts.join(" ")
}

/// Run `cmd` with stdin from /dev/null, capture stdout and stderr, and kill
/// its whole process group if it is still running after `timeout`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> CmdOutput {
    run_with_timeout_from(cmd, timeout, Stdio::null())
}

/// [`run_with_timeout`], with stdin from `stdin` (a file, for what a
/// command reads there: a password given to `-K`).
pub fn run_with_timeout_from(cmd: &mut Command, timeout: Duration, stdin: Stdio) -> CmdOutput {
    run_watching(cmd, timeout, stdin, |_| {})
}

/// [`run_with_timeout_from`], calling `watch` with the child's pid every
/// 10 ms while it runs (to sample its memory, say).
pub fn run_watching(cmd: &mut Command, timeout: Duration, stdin: Stdio, mut watch: impl FnMut(u32)) -> CmdOutput {
    let line = cmdline(cmd);
    cmd.stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped());
    // Own process group, so a timeout can end whatever it started (ssh...).
    cmd.process_group(0);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start `{line}`: {e}"));
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let t_out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let t_err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status: ExitStatus = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break status;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            kill_group(child.id());
            break child.wait().expect("wait for killed child");
        }
        watch(child.id());
        std::thread::sleep(Duration::from_millis(10));
    };
    if !timed_out {
        // Whatever the command left running in its group would keep the pipes
        // open; give it a moment, then end it so the readers finish.
        let grace = Instant::now() + Duration::from_secs(5);
        while !(t_out.is_finished() && t_err.is_finished()) && Instant::now() < grace {
            std::thread::sleep(Duration::from_millis(10));
        }
        if !(t_out.is_finished() && t_err.is_finished()) {
            kill_group(child.id());
        }
    }
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned();
    CmdOutput { cmdline: line, code: status.code(), stdout, stderr, timed_out }
}

/// SIGKILL the process group `pgid` (ignores "no such process").
pub fn kill_group(pgid: u32) {
    if pgid > 1 {
        // SAFETY: plain syscall; a negative pid addresses the process group.
        unsafe {
            libc::kill(-(pgid as i32), libc::SIGKILL);
        }
    }
}

/// SIGKILL one process (ignores "no such process").
pub fn kill_pid(pid: u32) {
    if pid > 1 {
        // SAFETY: plain syscall.
        unsafe {
            libc::kill(pid as i32, libc::SIGKILL);
        }
    }
}

/// Parent pid of every process now visible in /proc.
fn parent_map() -> HashMap<u32, u32> {
    let mut map = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return map };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else { continue };
        let mut fields = rest.split_whitespace();
        let _state = fields.next();
        if let Some(ppid) = fields.next().and_then(|p| p.parse::<u32>().ok()) {
            map.insert(pid, ppid);
        }
    }
    map
}

/// Every living descendant of `root` (children, their children...).
pub fn descendants(root: u32) -> Vec<u32> {
    let parents = parent_map();
    let mut found: Vec<u32> = Vec::new();
    let mut seen: HashSet<u32> = HashSet::from([root]);
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for (&pid, &ppid) in &parents {
            if ppid == p && seen.insert(pid) {
                found.push(pid);
                frontier.push(pid);
            }
        }
    }
    found
}

/// Whether `pid` is alive (a zombie counts as gone).
pub fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().next()).is_some_and(|s| s != "Z"),
        Err(_) => false,
    }
}
