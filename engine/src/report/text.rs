//! Human text: each function renders one thing the [`Printer`] shows, as
//! whole lines without the last newline. Pure, so every line is tested as
//! it is drawn.
//!
//! Text from hosts and inputs is escaped ([`escape_controls`]) before it is
//! coloured, so colour codes are ours alone.
//!
//! [`Printer`]: super::Printer

use std::fmt::Write as _;
use std::time::Duration;

use console::Style;

use super::{escape_controls, Recap, RolloutOutcome, Status, TaskResult};

/// Colour, or none (`NO_COLOR`, not a terminal).
#[derive(Debug, Clone, Copy)]
pub struct Paint {
    pub color: bool,
}

impl Paint {
    fn paint(self, style: Style, text: &str) -> String {
        style.force_styling(self.color).apply_to(text).to_string()
    }
    fn status(self, status: Status, text: &str) -> String {
        let style = match status {
            Status::Ok => Style::new().green(),
            Status::Changed => Style::new().yellow(),
            Status::Skipped => Style::new().cyan(),
            Status::Failed | Status::Unreachable => Style::new().red().bold(),
        };
        self.paint(style, text)
    }
    fn dim(self, text: &str) -> String {
        self.paint(Style::new().dim(), text)
    }
    fn bold(self, text: &str) -> String {
        self.paint(Style::new().bold(), text)
    }
}

/// How much of a task's output `-v` shows, per stream.
const SHOWN_LINES: usize = 40;
const SHOWN_BYTES: usize = 4096;

/// `4.2s`, `2m05s`.
pub fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1}s")
    } else {
        format!("{}m{:02}s", (s / 60.0) as u64, (s as u64) % 60)
    }
}

pub fn play(paint: Paint, play: &str, hosts: usize, check: bool) -> String {
    let mode = if check { " (check mode: nothing will change)" } else { "" };
    format!("\n{}", paint.bold(&format!("PLAY [{}] {hosts} host(s){mode}", escape_controls(play))))
}

pub fn batch(paint: Paint, index: usize, total: usize, hosts: &[String]) -> String {
    paint.bold(&format!("BATCH {index}/{total}: {}", escape_controls(&hosts.join(", "))))
}

pub fn host_note(host: &str, note: &str) -> String {
    format!("[{}] {}", escape_controls(host), escape_controls(note))
}

pub fn warning(paint: Paint, message: &str) -> String {
    format!("{} {}", paint.paint(Style::new().yellow().bold(), "warning:"), escape_controls(message))
}

/// `error: ...` and what follows it (a place, a quoted line, a hint): the
/// one way an error is shown as text.
pub fn error(paint: Paint, text: &str) -> String {
    let text = escape_controls(text.trim_end());
    match text.strip_prefix("error:") {
        Some(rest) => format!("{}{rest}", paint.paint(Style::new().red().bold(), "error:")),
        None => format!("{} {text}", paint.paint(Style::new().red().bold(), "error:")),
    }
}

/// A task's line: `changed: [web1] install nginx (2.1s) => why`, its diff
/// (with `--diff`), and with `-v` what a changed or failed task printed
/// (`-vv`: every task's, and the shell it ran).
pub fn task(paint: Paint, r: &TaskResult, verbosity: u8, elapsed: Option<Duration>) -> String {
    let word = if r.ignored { "failed (ignored)" } else { r.status.as_str() };
    let mut text =
        format!("{}: [{}] {}", paint.status(r.status, word), escape_controls(&r.host), escape_controls(&r.task));
    if let Some(d) = elapsed {
        text.push_str(&paint.dim(&format!(" ({})", seconds(d))));
    }
    if let Some(msg) = r.msg.as_deref().filter(|m| !m.is_empty()) {
        let indented = escape_controls(msg.trim_end()).replace('\n', "\n    ");
        let _ = write!(text, " => {indented}");
    }
    if let Some(diff) = &r.diff {
        text.push('\n');
        text.push_str(&self::diff(paint, diff));
    }
    let loud = matches!(r.status, Status::Changed | Status::Failed);
    if verbosity >= 2 || (verbosity >= 1 && loud) {
        if verbosity >= 2 {
            if let Some(cmd) = &r.cmd {
                text.push_str(&block(paint, "cmd", cmd));
            }
        }
        for (name, out) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
            if let Some(out) = out.as_deref().filter(|o| !o.trim().is_empty()) {
                text.push_str(&block(paint, name, out));
            }
        }
        if let Some(rc) = r.rc.filter(|rc| *rc != 0 || verbosity >= 2) {
            let _ = write!(text, "\n  {} {rc}", paint.dim("rc:"));
        }
    }
    text
}

/// `  NAME:` and the text indented under it, cut to [`SHOWN_LINES`] lines
/// and [`SHOWN_BYTES`] bytes, saying so when cut.
fn block(paint: Paint, name: &str, text: &str) -> String {
    let text = escape_controls(text.trim_end());
    let total = text.lines().count();
    let mut out = format!("\n  {}", paint.dim(&format!("{name}:")));
    let (mut shown, mut bytes) = (0, 0);
    for line in text.lines() {
        if shown == SHOWN_LINES || bytes + line.len() > SHOWN_BYTES {
            break;
        }
        let _ = write!(out, "\n    {line}");
        shown += 1;
        bytes += line.len() + 1;
    }
    if shown < total {
        let cut = format!("({} more line(s) of {name} not shown; --format json has all the host sent)", total - shown);
        let _ = write!(out, "\n    {}", paint.dim(&cut));
    }
    out
}

/// A unified diff, coloured as `diff --color` does.
pub fn diff(paint: Paint, diff: &str) -> String {
    let lines: Vec<String> = escape_controls(diff.trim_end())
        .lines()
        .map(|l| {
            if l.starts_with("+++") || l.starts_with("---") {
                paint.bold(l)
            } else if l.starts_with('+') {
                paint.paint(Style::new().green(), l)
            } else if l.starts_with('-') {
                paint.paint(Style::new().red(), l)
            } else if l.starts_with("@@") {
                paint.paint(Style::new().cyan(), l)
            } else {
                l.to_string()
            }
        })
        .collect();
    lines.join("\n")
}

/// PLAY RECAP, pinned images and the ROLLOUT summary, coloured as the task
/// lines are: a count in its status's colour when it is not zero, a host in
/// the colour of the worst that happened to it.
pub fn recap(paint: Paint, recap: &Recap) -> String {
    let mut out = format!("\n{}\n", paint.bold("PLAY RECAP"));
    let width = recap.hosts.keys().map(|h| escape_controls(h).chars().count()).max().unwrap_or(0);
    for (host, s) in &recap.hosts {
        let worst = if s.failed > 0 || s.unreachable > 0 {
            Some(Status::Failed)
        } else if s.changed > 0 {
            Some(Status::Changed)
        } else if s.ok > 0 {
            Some(Status::Ok)
        } else {
            None
        };
        let host = escape_controls(host);
        let pad = " ".repeat(width - host.chars().count());
        let name = worst.map_or_else(|| host.to_string(), |st| paint.status(st, &host));
        let _ = write!(out, "{name}{pad} :");
        let counts = [
            ("ok", s.ok, Status::Ok),
            ("changed", s.changed, Status::Changed),
            ("unreachable", s.unreachable, Status::Unreachable),
            ("failed", s.failed, Status::Failed),
            ("skipped", s.skipped, Status::Skipped),
            ("rescued", s.rescued, Status::Ok),
            ("ignored", s.ignored, Status::Skipped),
        ];
        for (key, n, status) in counts {
            let field = format!("{key}={n}");
            let field_pad = " ".repeat((key.len() + 5).saturating_sub(field.len()));
            let shown = if n > 0 { paint.status(status, &field) } else { field };
            let _ = write!(out, " {shown}{field_pad}");
        }
        let _ = writeln!(out, " execs={}", s.remote_execs);
    }
    for (reference, digest) in &recap.pinned {
        let _ = writeln!(out, "pinned {} -> {}", escape_controls(reference), escape_controls(digest));
    }
    if recap.any_rollout() {
        let _ = writeln!(out, "\n{}", paint.bold("ROLLOUT"));
        for (outcome, hosts) in recap.rollout_groups() {
            let status = match outcome {
                RolloutOutcome::Reverted | RolloutOutcome::RolledBack => Status::Failed,
                RolloutOutcome::Upgraded => Status::Changed,
                RolloutOutcome::Untouched => Status::Ok,
            };
            let word = paint.status(status, &format!("{:11}", outcome.word()));
            let _ = writeln!(out, "{word} ({}): {}", hosts.len(), escape_controls(&hosts.join(" ")));
        }
        for (host, s) in recap.hosts.iter().filter(|(_, s)| !s.rollout.is_empty()) {
            let host = escape_controls(host);
            let pad = " ".repeat(width - host.chars().count());
            for event in &s.rollout {
                let _ = writeln!(out, "  {host}{pad} {}", escape_controls(&event.to_string()));
            }
        }
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{HostStats, RolloutEvent};

    const PLAIN: Paint = Paint { color: false };
    const COLOR: Paint = Paint { color: true };

    fn result(status: Status) -> TaskResult {
        TaskResult::new("site", "web1", "install nginx", status, None)
    }

    fn with_output(status: Status) -> TaskResult {
        let mut r = result(status);
        r.stdout = Some("Setting up nginx (1.22.1-9)\n".into());
        r.stderr = Some("debconf: falling back\n".into());
        r.rc = Some(if status == Status::Failed { 100 } else { 0 });
        r.cmd = Some("apt-get install -y nginx".into());
        r
    }

    #[test]
    fn task_lines() {
        let mut changed = result(Status::Changed);
        changed.msg = Some("installed".into());
        let mut failed = result(Status::Failed);
        failed.msg = Some("exit code 1: E: Unable to locate package\nsecond line".into());
        let mut ignored = failed.clone();
        ignored.ignored = true;
        let hostile = TaskResult::new("p", "web\x1b[2J", "name\x07", Status::Ok, Some("\x1b]0;title\x07".into()));
        let lines = [
            task(PLAIN, &result(Status::Ok), 0, None),
            task(PLAIN, &changed, 0, Some(Duration::from_millis(2140))),
            task(PLAIN, &result(Status::Skipped), 0, Some(Duration::from_secs(125))),
            task(PLAIN, &failed, 0, None),
            task(PLAIN, &ignored, 0, None),
            task(PLAIN, &TaskResult::new("p", "db1", "connect", Status::Unreachable, Some("refused".into())), 0, None),
            task(PLAIN, &hostile, 0, None),
        ];
        insta::assert_snapshot!(lines.join("\n"));
    }

    #[test]
    fn task_lines_in_colour() {
        let mut changed = result(Status::Changed);
        changed.diff = Some("--- before: /etc/motd\n+++ after: /etc/motd\n@@ -1 +1 @@\n-old\n+new\n".into());
        let lines = [
            task(COLOR, &result(Status::Ok), 0, Some(Duration::from_millis(300))),
            task(COLOR, &changed, 0, None),
            task(COLOR, &result(Status::Failed), 0, None),
            warning(COLOR, "careful"),
            error(COLOR, "error: bad\n  = hint: good"),
        ];
        insta::assert_snapshot!(lines.join("\n"));
    }

    #[test]
    fn verbosity_shows_output_of_changed_and_failed_tasks_then_all() {
        let mut shown = Vec::new();
        for v in 0..=2 {
            for status in [Status::Ok, Status::Changed, Status::Failed] {
                shown.push(format!("-v x{v}, {}:\n{}", status.as_str(), task(PLAIN, &with_output(status), v, None)));
            }
        }
        insta::assert_snapshot!(shown.join("\n\n"));
    }

    #[test]
    fn long_output_is_cut_and_says_so() {
        let mut r = result(Status::Changed);
        r.stdout = Some((1..=100).map(|i| format!("line {i}\n")).collect());
        r.stderr = Some(format!("{}\n", "x".repeat(10_000)));
        let text = task(PLAIN, &r, 1, None);
        assert!(text.contains("line 40\n") && !text.contains("line 41\n"), "{text}");
        assert!(text.contains("(60 more line(s) of stdout not shown"), "{text}");
        assert!(text.contains("(1 more line(s) of stderr not shown"), "{text}");
    }

    #[test]
    fn plays_batches_notes_warnings_errors() {
        let lines = [
            play(PLAIN, "web servers", 3, false),
            play(PLAIN, "db", 1, true),
            batch(PLAIN, 1, 2, &["web1".into(), "web2".into()]),
            host_note("web1", "waiting up to 60 s for the deploy lock, held by push run"),
            warning(PLAIN, "Could not match supplied host pattern, ignoring: webb"),
            error(PLAIN, "error: unknown module `cpy`\n --> site.yml:3:5\n  = hint: did you mean `copy`?\n"),
            error(PLAIN, "interrupted"),
        ];
        insta::assert_snapshot!(lines.join("\n"));
    }

    fn stats(ok: u32, changed: u32, failed: u32, rollout: &[&str]) -> HostStats {
        HostStats {
            ok,
            changed,
            failed,
            skipped: 1,
            remote_execs: 2,
            rollout: rollout.iter().map(|l| RolloutEvent::parse(l).unwrap()).collect(),
            ..Default::default()
        }
    }

    fn sample_recap() -> Recap {
        Recap {
            hosts: [
                ("web1".to_string(), stats(5, 2, 0, &["upgraded web sha256:a -> sha256:b"])),
                ("web10".to_string(), stats(3, 0, 1, &["reverted web sha256:b -> sha256:a"])),
                ("db".to_string(), stats(4, 0, 0, &[])),
            ]
            .into(),
            pinned: vec![("nginx:1.27".into(), "sha256:b".into())],
        }
    }

    #[test]
    fn recap_plain() {
        insta::assert_snapshot!(recap(PLAIN, &sample_recap()));
    }

    #[test]
    fn recap_in_colour() {
        insta::assert_snapshot!(recap(COLOR, &sample_recap()));
    }

    #[test]
    fn a_coloured_diff() {
        let d = "--- before: a\n+++ after: a\n@@ -1,2 +1,2 @@\n same\n-gone\n+come\n";
        insta::assert_snapshot!(diff(COLOR, d));
    }

    #[test]
    fn durations() {
        assert_eq!(seconds(Duration::from_millis(4200)), "4.2s");
        assert_eq!(seconds(Duration::from_secs(125)), "2m05s");
    }
}
