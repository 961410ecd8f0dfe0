//! Human output. On a terminal, an overall bar and one spinner per host in
//! flight (a bounded number) sit under the log lines; lines are printed
//! through indicatif so a bar never tears them. Elsewhere, plain lines.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use console::style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{escape_controls, Recap, Reporter, Status, TaskResult};

/// At most this many per-host spinners; the overall bar counts the rest.
const MAX_HOST_BARS: usize = 8;

pub struct TextReporter {
    bars: Option<Bars>,
}

struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    hosts: Mutex<HashMap<String, ProgressBar>>,
}

impl TextReporter {
    /// `progress`: draw bars (only when stderr is a terminal).
    pub fn new(progress: bool) -> TextReporter {
        let bars = progress.then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let overall = multi.add(ProgressBar::new(0));
            overall.set_style(
                ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} hosts {msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            overall.enable_steady_tick(Duration::from_millis(120));
            Bars { multi, overall, hosts: Mutex::default() }
        });
        TextReporter { bars }
    }

    fn line(&self, text: &str) {
        match &self.bars {
            Some(b) => {
                let _ = b.multi.println(text);
            }
            None => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{text}");
            }
        }
    }
}

fn styled_status(status: Status, ignored: bool) -> String {
    let word = if ignored { "failed (ignored)" } else { status.as_str() };
    match status {
        Status::Ok => style(word).green().to_string(),
        Status::Changed => style(word).yellow().to_string(),
        Status::Skipped => style(word).cyan().to_string(),
        Status::Failed | Status::Unreachable => style(word).red().bold().to_string(),
    }
}

impl Reporter for TextReporter {
    fn play_start(&self, play: &str, hosts: &[String], check: bool) {
        let mode = if check { " (check mode: nothing will change)" } else { "" };
        self.line(&escape_controls(&format!("\nPLAY [{play}] {} host(s){mode}", hosts.len())));
        if let Some(b) = &self.bars {
            b.overall.set_length(b.overall.length().unwrap_or(0) + hosts.len() as u64);
        }
    }

    fn batch_start(&self, index: usize, total: usize, hosts: &[String]) {
        self.line(&escape_controls(&format!("BATCH {index}/{total}: {}", hosts.join(", "))));
    }

    fn host_start(&self, host: &str) {
        if let Some(b) = &self.bars {
            let mut hosts = b.hosts.lock().unwrap();
            if hosts.len() < MAX_HOST_BARS {
                let bar = b.multi.add(ProgressBar::new_spinner());
                bar.set_style(ProgressStyle::with_template("  {spinner} {msg} ({elapsed})").expect("valid template"));
                bar.set_message(host.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                hosts.insert(host.to_string(), bar);
            }
        }
    }

    fn host_phase(&self, host: &str, phase: &str) {
        if let Some(b) = &self.bars {
            if let Some(bar) = b.hosts.lock().unwrap().get(host) {
                bar.set_message(escape_controls(&format!("{host} - {phase}")).into_owned());
            }
        }
    }

    fn host_note(&self, host: &str, note: &str) {
        self.line(&escape_controls(&format!("[{host}] {note}")));
    }

    fn task(&self, r: &TaskResult) {
        let (host, task) = (escape_controls(&r.host), escape_controls(&r.task));
        let mut text = format!("{}: [{host}] {task}", styled_status(r.status, r.ignored));
        if let Some(msg) = &r.msg {
            if !msg.is_empty() {
                let indented = escape_controls(msg.trim_end()).replace('\n', "\n    ");
                text.push_str(&format!(" => {indented}"));
            }
        }
        if let Some(diff) = &r.diff {
            text.push('\n');
            text.push_str(&escape_controls(diff.trim_end()));
        }
        self.line(&text);
        if let Some(b) = &self.bars {
            if let Some(bar) = b.hosts.lock().unwrap().get(&r.host) {
                bar.set_message(format!("{host} - {task}"));
            }
        }
    }

    fn host_done(&self, host: &str) {
        if let Some(b) = &self.bars {
            if let Some(bar) = b.hosts.lock().unwrap().remove(host) {
                bar.finish_and_clear();
                b.multi.remove(&bar);
            }
            b.overall.inc(1);
        }
    }

    fn warn(&self, message: &str) {
        self.line(&format!("{} {}", style("warning:").yellow().bold(), escape_controls(message)));
    }

    fn recap(&self, recap: &Recap) {
        if let Some(b) = &self.bars {
            b.overall.finish_and_clear();
            let _ = b.multi.clear();
        }
        let mut out = String::from("\nPLAY RECAP\n");
        let width = recap.hosts.keys().map(String::len).max().unwrap_or(0);
        for (host, s) in &recap.hosts {
            out.push_str(&format!(
                "{host:width$} : ok={:<4} changed={:<4} unreachable={:<4} failed={:<4} skipped={:<4} ignored={:<4} execs={}\n",
                s.ok, s.changed, s.unreachable, s.failed, s.skipped, s.ignored, s.remote_execs
            ));
        }
        for (reference, digest) in &recap.pinned {
            out.push_str(&format!("pinned {reference} -> {digest}\n"));
        }
        if recap.any_rollout() {
            out.push_str("\nROLLOUT\n");
            for (outcome, hosts) in recap.rollout_groups() {
                out.push_str(&format!("{:11} ({}): {}\n", outcome.word(), hosts.len(), hosts.join(" ")));
            }
            for (host, s) in recap.hosts.iter().filter(|(_, s)| !s.rollout.is_empty()) {
                for event in &s.rollout {
                    out.push_str(&format!("  {host:width$} {event}\n"));
                }
            }
        }
        let mut stdout = std::io::stdout().lock();
        let _ = write!(stdout, "{}", escape_controls(&out));
    }
}
