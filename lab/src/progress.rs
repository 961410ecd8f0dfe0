//! What `push lab` shows while it works, on stderr: on a terminal, one
//! spinner with the current phase and the latest line of the tool at work
//! (debootstrap, docker build); elsewhere (CI logs, tests), one plain line
//! per phase and none of the tools' chatter.

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use push_engine::report::escape_controls;

pub struct Progress {
    spinner: Option<ProgressBar>,
    phase: Mutex<(String, Instant)>,
}

impl Progress {
    /// A spinner when stderr is a terminal, plain lines otherwise.
    pub fn auto() -> Progress {
        Progress::new(console::Term::stderr().is_term())
    }

    pub fn new(spinner: bool) -> Progress {
        let spinner = spinner.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix} [{elapsed}] {wide_msg}").expect("valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress { spinner, phase: Mutex::new((String::new(), Instant::now())) }
    }

    /// Silent: for library callers and unit tests.
    pub fn hidden() -> Progress {
        Progress { spinner: None, phase: Mutex::new((String::new(), Instant::now())) }
    }

    /// A new step: `building base image: debootstrap bookworm`.
    pub fn phase(&self, text: &str) {
        *self.phase.lock().expect("phase lock") = (text.to_string(), Instant::now());
        match &self.spinner {
            Some(bar) => {
                bar.set_prefix(text.to_string());
                bar.set_message("");
                bar.reset_elapsed();
            }
            None => {
                let _ = writeln!(std::io::stderr().lock(), "==> {text}");
            }
        }
    }

    /// A line of a tool's output: shown beside the spinner, dropped otherwise.
    /// Tools print what runs inside the lab's containers: escaped, like all
    /// text from hosts.
    pub fn detail(&self, line: &str) {
        if let Some(bar) = &self.spinner {
            bar.set_message(escape_controls(line).into_owned());
        }
    }

    /// A line that stays (a note for the user, a finished step with its time).
    pub fn line(&self, text: &str) {
        match &self.spinner {
            Some(bar) => bar.println(text),
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
        }
    }

    /// The current phase is done: one line with how long it took.
    pub fn done(&self, text: &str) {
        let elapsed = self.phase.lock().expect("phase lock").1.elapsed();
        self.line(&format!("    {text} ({})", seconds(elapsed)));
    }

    /// Print the tail of a failed tool's output so the one-line error that
    /// follows has its context.
    pub fn tail(&self, lines: &[String]) {
        for l in lines {
            self.line(&tail_line(l));
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.spinner {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `4.2s`, `2m05s`.
pub fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1}s")
    } else {
        format!("{}m{:02}s", (s / 60.0) as u64, (s as u64) % 60)
    }
}

/// A line of a failed tool's output as `tail` prints it, escaped.
fn tail_line(line: &str) -> String {
    format!("    | {}", escape_controls(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(seconds(Duration::from_millis(4200)), "4.2s");
        assert_eq!(seconds(Duration::from_secs(125)), "2m05s");
    }

    #[test]
    fn a_tool_line_reaches_the_terminal_escaped() {
        assert_eq!(tail_line("\x1b[31merror\x1b[0m: no space"), "    | \\x1b[31merror\\x1b[0m: no space");
    }
}
