//! The one owner of push's stdout, stderr and progress bars, for `push
//! run`, `push rollback` and `push lab`, and the one place errors are
//! printed.
//!
//! - Text on stdout: one line per event, each ending with a newline. On a
//!   terminal, bars live on stderr (an overall bar, one spinner per host in
//!   flight, or `push lab`'s phase spinner) and are cleared while a line is
//!   written ([`MultiProgress::suspend`]), so a line is never torn or padded.
//! - JSON on stdout: one object per line, errors included.
//!
//! What the terminal allows is decided once ([`Terminal`]).

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::text::{self, Paint};
use super::{escape_controls, json, Event, Reporter, Terminal};
use crate::ops::Error;

/// At most this many per-host spinners; the overall bar counts the rest.
const MAX_HOST_BARS: usize = 8;
const TICK: Duration = Duration::from_millis(120);

/// `--format`: human text, or one JSON event per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}

type Sink = Box<dyn Write + Send>;

pub struct Printer {
    format: Format,
    /// `-v` count: 1 shows changed and failed tasks' output, 2 every task's
    /// and the shell it ran.
    verbosity: u8,
    paint: Paint,
    /// Task lines say how long the task took.
    timings: bool,
    bars: Option<Bars>,
    out: Mutex<Sink>,
    err: Mutex<Sink>,
    hosts: Mutex<HashMap<String, HostState>>,
    /// `push lab`'s current phase and when it started.
    phase: Mutex<(String, Instant)>,
}

struct Bars {
    multi: MultiProgress,
    /// Added when the first play with hosts starts, so it never shows 0/0.
    overall: Mutex<Option<ProgressBar>>,
    /// `push lab`'s spinner.
    phase: Mutex<Option<ProgressBar>>,
}

/// A host in flight: its spinner (if it has one), what it does, and the
/// steps announced to have started ([`Event::StepStart`]) and ended
/// ([`Event::StepEnded`]) whose tasks have not been reported yet.
struct HostState {
    bar: Option<ProgressBar>,
    phase: String,
    steps: Vec<StepTime>,
}

/// A task's time on its host: from its first step's start to its last
/// step's end as the host said it (or to the next task's start, or to its
/// result).
struct StepTime {
    task: String,
    start: Instant,
    end: Option<Instant>,
}

impl HostState {
    /// What the spinner says: the task at work, else the phase.
    fn doing(&self) -> &str {
        match self.steps.last() {
            Some(step) if step.end.is_none() => &step.task,
            _ => &self.phase,
        }
    }
}

/// What a capturing printer wrote, for tests.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Printer {
    /// On this process's stdout and stderr, as the terminal allows.
    pub fn stdio(format: Format, verbosity: u8) -> Printer {
        Printer::with(format, verbosity, Terminal::detect(), Box::new(std::io::stdout()), Box::new(std::io::stderr()))
    }

    /// Writing into buffers (no bars, no timings), for tests: the printer,
    /// its stdout and its stderr.
    pub fn capture(format: Format, verbosity: u8, color: bool) -> (Printer, Captured, Captured) {
        let (out, err) = (Captured::default(), Captured::default());
        let terminal = Terminal { color, bars: false };
        let mut printer = Printer::with(format, verbosity, terminal, Box::new(out.clone()), Box::new(err.clone()));
        printer.timings = false;
        (printer, out, err)
    }

    /// Says nothing: for library callers and unit tests.
    pub fn hidden() -> Printer {
        let sink = || Box::new(std::io::sink()) as Sink;
        Printer::with(Format::Text, 0, Terminal::plain(), sink(), sink())
    }

    fn with(format: Format, verbosity: u8, terminal: Terminal, out: Sink, err: Sink) -> Printer {
        let bars = (terminal.bars && format == Format::Text).then(|| Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            overall: Mutex::default(),
            phase: Mutex::default(),
        });
        Printer {
            format,
            verbosity,
            paint: Paint { color: terminal.color && format == Format::Text },
            timings: true,
            bars,
            out: Mutex::new(out),
            err: Mutex::new(err),
            hosts: Mutex::default(),
            phase: Mutex::new((String::new(), Instant::now())),
        }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Write whole lines to stdout (or stderr), with the bars out of the way.
    fn write(&self, to_stderr: bool, text: &str) {
        let write = || {
            let mut sink = if to_stderr { self.err.lock() } else { self.out.lock() }.unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(sink, "{text}").and_then(|()| sink.flush());
        };
        match &self.bars {
            Some(b) => b.multi.suspend(write),
            None => write(),
        }
    }

    fn json(&self, value: &serde_json::Value) {
        self.write(false, &value.to_string());
    }

    /// A line on stdout.
    pub fn line(&self, text: &str) {
        self.write(false, text);
    }

    /// Why a command failed: the one place `error:` is printed (as a JSON
    /// event with `--format json`). An error can carry what a host said (an
    /// ssh message, a lock holder) and an argument's value, which may have
    /// come from a vault: both are redacted and escaped.
    pub fn error(&self, e: &Error) {
        self.finish();
        let redact = |t: &str| crate::vault::redact(t);
        match (self.format, e) {
            (Format::Json, Error::Input(d)) => {
                let mut d = d.clone();
                d.message = redact(&d.message);
                d.hint = d.hint.as_deref().map(redact);
                self.json(&json::input_error(&d));
            }
            (Format::Json, e) => self.json(&json::error(&redact(&e.to_string()))),
            (Format::Text, e) => self.write(true, &text::error(self.paint_stderr(), &redact(&e.to_string()))),
        }
    }

    /// Colour on stderr follows stdout's: a terminal session has both.
    fn paint_stderr(&self) -> Paint {
        self.paint
    }

    // `push lab`: one spinner with the current phase and the latest line of
    // the tool at work; without bars, one line per phase on stderr.

    /// A new step: `building base image: debootstrap bookworm`.
    pub fn phase(&self, text: &str) {
        *self.phase.lock().unwrap() = (text.to_string(), Instant::now());
        let Some(b) = &self.bars else {
            self.write(true, &format!("==> {}", escape_controls(text)));
            return;
        };
        let mut phase = b.phase.lock().unwrap();
        let bar = phase.get_or_insert_with(|| {
            let bar = b.multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix} [{elapsed}] {wide_msg}").expect("valid template"),
            );
            bar.enable_steady_tick(TICK);
            bar
        });
        bar.set_prefix(escape_controls(text).into_owned());
        bar.set_message("");
        bar.reset_elapsed();
    }

    /// A line of a tool's output: beside the spinner, dropped without one.
    /// Tools print what runs inside the lab's containers: escaped.
    pub fn detail(&self, line: &str) {
        if let Some(bar) = self.bars.as_ref().and_then(|b| b.phase.lock().unwrap().clone()) {
            bar.set_message(escape_controls(line).into_owned());
        }
    }

    /// A line that stays, on stderr (a note for the user, a finished step).
    pub fn note(&self, text: &str) {
        self.write(true, text);
    }

    /// The current phase is done: one line with how long it took.
    pub fn done(&self, text: &str) {
        let elapsed = self.phase.lock().unwrap().1.elapsed();
        self.note(&format!("    {text} ({})", text::seconds(elapsed)));
    }

    /// The tail of a failed tool's output, so the error that follows has
    /// its context.
    pub fn tail(&self, lines: &[String]) {
        for l in lines {
            self.note(&format!("    | {}", escape_controls(l)));
        }
    }

    /// Clear every bar (before a recap, an error, the end).
    pub fn finish(&self) {
        let Some(b) = &self.bars else { return };
        for bar in [b.overall.lock().unwrap().take(), b.phase.lock().unwrap().take()].into_iter().flatten() {
            bar.finish_and_clear();
            b.multi.remove(&bar);
        }
        for (_, host) in self.hosts.lock().unwrap().drain() {
            if let Some(bar) = host.bar {
                bar.finish_and_clear();
                b.multi.remove(&bar);
            }
        }
        let _ = b.multi.clear();
    }

    /// How long `task` took on `host`, if its start was announced.
    fn took(&self, host: &str, task: &str) -> Option<Duration> {
        let mut hosts = self.hosts.lock().unwrap();
        let steps = &mut hosts.get_mut(host)?.steps;
        let i = steps.iter().position(|s| s.task == task)?;
        let step = steps.remove(i);
        Some(step.end.unwrap_or_else(Instant::now) - step.start)
    }

    /// Show what the host does now; `reset`: its time starts again.
    fn host_bar(&self, host: &str, reset: bool) {
        let hosts = self.hosts.lock().unwrap();
        let Some(state) = hosts.get(host) else { return };
        if let Some(bar) = &state.bar {
            bar.set_message(escape_controls(&format!("{host} - {}", state.doing())).into_owned());
            if reset {
                bar.reset_elapsed();
            }
        }
    }

    fn text_event(&self, event: &Event<'_>) {
        let paint = self.paint;
        match *event {
            Event::Play { play, hosts, check } => {
                self.line(&text::play(paint, play, hosts.len(), check));
                if let (Some(b), false) = (&self.bars, hosts.is_empty()) {
                    let mut overall = b.overall.lock().unwrap();
                    match overall.as_ref() {
                        Some(bar) => bar.inc_length(hosts.len() as u64),
                        None => {
                            // Its length set before it is drawn: never `0/0 hosts`.
                            let bar = ProgressBar::new(hosts.len() as u64);
                            bar.set_style(
                                ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} hosts {msg}")
                                    .expect("valid template")
                                    .progress_chars("=> "),
                            );
                            let bar = b.multi.insert(0, bar);
                            bar.enable_steady_tick(TICK);
                            *overall = Some(bar);
                        }
                    }
                }
            }
            Event::Batch { index, total, hosts } => self.line(&text::batch(paint, index, total, hosts)),
            Event::HostStart { host } => {
                let mut hosts = self.hosts.lock().unwrap();
                let in_flight = hosts.values().filter(|h| h.bar.is_some()).count();
                let bar = self.bars.as_ref().filter(|_| in_flight < MAX_HOST_BARS).map(|b| {
                    let bar = b.multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("  {spinner} {msg} ({elapsed})").expect("valid template"),
                    );
                    bar.set_message(escape_controls(host).into_owned());
                    bar.enable_steady_tick(TICK);
                    bar
                });
                hosts.insert(host.to_string(), HostState { bar, phase: "connecting".into(), steps: Vec::new() });
            }
            Event::HostPhase { host, phase } => {
                if let Some(state) = self.hosts.lock().unwrap().get_mut(host) {
                    state.phase = phase.to_string();
                }
                self.host_bar(host, true);
            }
            Event::HostNote { host, note } => self.line(&text::host_note(host, note)),
            Event::StepStart { host, task } => {
                let mut hosts = self.hosts.lock().unwrap();
                let Some(state) = hosts.get_mut(host) else { return };
                let now = Instant::now();
                match state.steps.last_mut() {
                    // A loop's next item: the same task goes on.
                    Some(last) if last.task == task => {
                        last.end = None;
                        return;
                    }
                    Some(last) => {
                        last.end.get_or_insert(now);
                    }
                    None => {}
                }
                state.steps.push(StepTime { task: task.to_string(), start: now, end: None });
                drop(hosts);
                self.host_bar(host, true);
            }
            // The host says a step ended: its task's time stops there (a
            // loop's next item starts it again); the task's line follows
            // with its result.
            Event::StepEnded(step) if !step.probe => {
                let mut hosts = self.hosts.lock().unwrap();
                let Some(state) = hosts.get_mut(step.host.as_str()) else { return };
                if let Some(last) = state.steps.last_mut().filter(|last| last.task == step.task) {
                    last.end.get_or_insert_with(Instant::now);
                }
                drop(hosts);
                self.host_bar(&step.host, false);
            }
            Event::StepEnded(_) => {}
            Event::Task(r) => {
                let took = self.took(&r.host, &r.task).filter(|_| self.timings);
                self.line(&text::task(paint, r, self.verbosity, took));
                self.host_bar(&r.host, false);
            }
            Event::HostDone { host } => {
                let state = self.hosts.lock().unwrap().remove(host);
                if let Some(b) = &self.bars {
                    if let Some(bar) = state.and_then(|s| s.bar) {
                        bar.finish_and_clear();
                        b.multi.remove(&bar);
                    }
                    if let Some(overall) = b.overall.lock().unwrap().as_ref() {
                        overall.inc(1);
                    }
                }
            }
            Event::Warning(message) => self.line(&text::warning(paint, message)),
            Event::Recap(recap) => {
                self.finish();
                self.line(&text::recap(paint, recap));
            }
        }
    }
}

impl Reporter for Printer {
    fn event(&self, event: Event<'_>) {
        match self.format {
            Format::Text => self.text_event(&event),
            Format::Json => {
                if let Some(value) = json::event(&event) {
                    self.json(&value);
                }
            }
        }
    }
}

impl Drop for Printer {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::{Diagnostic, SourceFile};
    use crate::report::{HostStats, Recap, Status, StepEnded, TaskResult};

    /// A run's events as the hosts send them, interleaved.
    fn a_run(p: &dyn Reporter) {
        let hosts = ["web1".to_string(), "web2".to_string()];
        p.play_start("site", &hosts, false);
        p.host_start("web1");
        p.host_start("web2");
        p.host_phase("web1", "probing");
        p.step_start("web2", "install nginx");
        let mut changed = TaskResult::new("site", "web2", "install nginx", Status::Changed, None);
        changed.stdout = Some("Setting up nginx\n".into());
        changed.rc = Some(0);
        p.task(&changed);
        p.host_note("web1", "waiting up to 60 s for the deploy lock, held by push run x");
        p.task(&TaskResult::new("site", "web1", "install nginx", Status::Ok, None));
        p.host_done("web2");
        p.warn("something to know");
        p.host_done("web1");
        let stats = HostStats { ok: 1, remote_execs: 2, ..Default::default() };
        p.recap(&Recap { hosts: [("web1".into(), stats.clone()), ("web2".into(), stats)].into(), pinned: vec![] });
    }

    #[test]
    fn text_lines_each_end_with_a_newline_in_event_order() {
        let (printer, out, err) = Printer::capture(Format::Text, 1, false);
        a_run(&printer);
        insta::assert_snapshot!(out.text());
        assert_eq!(err.text(), "");
        assert!(!out.text().contains("  \n"), "no padding");
    }

    #[test]
    fn json_lines() {
        let (printer, out, _) = Printer::capture(Format::Json, 0, true);
        a_run(&printer);
        for line in out.text().lines() {
            serde_json::from_str::<serde_json::Value>(line).expect(line);
        }
        insta::assert_snapshot!(out.text());
    }

    #[test]
    fn errors_as_text_on_stderr_and_as_json_events_on_stdout() {
        let file = SourceFile::new("site.yml", "- hosts: all\n  tasks:\n    - cpy: {}\n");
        let d = Diagnostic::at(&file.span(3, 7, 3), "unknown module `cpy`").with_hint("did you mean `copy`?");
        let (text, out, err) = Printer::capture(Format::Text, 0, false);
        text.error(&Error::Input(d.clone()));
        text.error(&Error::Usage("--serial: `x` is not a number".into()));
        assert_eq!(out.text(), "");
        insta::assert_snapshot!("errors_text", err.text());
        let (json, out, err) = Printer::capture(Format::Json, 0, false);
        json.error(&Error::Input(d));
        json.error(&Error::Usage("--serial: `x` is not a number".into()));
        assert_eq!(err.text(), "");
        insta::assert_snapshot!("errors_json", out.text());
    }

    #[test]
    fn a_task_whose_start_was_announced_says_how_long_it_took() {
        let (mut printer, out, _) = Printer::capture(Format::Text, 0, false);
        printer.timings = true;
        printer.host_start("h1");
        printer.step_start("h1", "slow");
        printer.step_start("h1", "slow");
        printer.step_start("h1", "next");
        printer.task(&TaskResult::new("p", "h1", "quick", Status::Ok, None));
        printer.task(&TaskResult::new("p", "h1", "slow", Status::Changed, None));
        printer.task(&TaskResult::new("p", "h1", "next", Status::Changed, Some("why".into())));
        let text = out.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "ok: [h1] quick", "no start announced, no time");
        for (line, name) in [(lines[1], "slow"), (lines[2], "next")] {
            let rest = line.strip_prefix(&format!("changed: [h1] {name} (")).unwrap_or_else(|| panic!("{line}"));
            let secs = rest.split_once("s)").map(|(s, _)| s).unwrap_or_else(|| panic!("{line}"));
            assert!(secs.parse::<f64>().is_ok(), "{line}");
        }
        assert!(lines[2].ends_with("s) => why"), "{text}");
    }

    #[test]
    fn a_step_end_the_host_said_stops_its_task_and_a_loop_item_goes_on() {
        let (mut printer, out, _) = Printer::capture(Format::Text, 0, false);
        printer.timings = true;
        printer.host_start("h1");
        let ended = |task: &str, probe: bool| StepEnded {
            host: "h1".into(),
            task: task.into(),
            item: None,
            status: Status::Changed,
            probe,
        };
        // A probe's step ends nothing; an apply's ends its task, and the
        // next item of the same loop starts it again.
        printer.step_ended(&ended("loop", true));
        printer.step_start("h1", "loop");
        printer.step_ended(&ended("loop", false));
        assert!(printer.hosts.lock().unwrap()["h1"].steps[0].end.is_some());
        printer.step_start("h1", "loop");
        assert!(printer.hosts.lock().unwrap()["h1"].steps[0].end.is_none(), "the loop goes on");
        assert_eq!(printer.hosts.lock().unwrap()["h1"].steps.len(), 1, "one time for the whole loop");
        printer.step_ended(&ended("loop", false));
        // A step end for another task leaves this one's time alone.
        printer.step_start("h1", "next");
        printer.step_ended(&ended("other", false));
        assert!(printer.hosts.lock().unwrap()["h1"].steps[1].end.is_none());
        printer.task(&TaskResult::new("p", "h1", "loop", Status::Changed, None));
        let text = out.text();
        assert!(text.starts_with("changed: [h1] loop (") && text.trim_end().ends_with("s)"), "{text}");
    }

    #[test]
    fn lab_phases_without_a_terminal_are_plain_lines_on_stderr() {
        let (p, out, err) = Printer::capture(Format::Text, 0, false);
        p.phase("building base image");
        p.detail("I: Retrieving InRelease");
        p.tail(&["E: \x1b[31mfailed".into()]);
        assert_eq!(out.text(), "");
        assert_eq!(err.text(), "==> building base image\n    | E: \\x1b[31mfailed\n");
    }
}
