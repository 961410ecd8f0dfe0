//! Text from hosts (step output, lock holders, error messages) is printed
//! to the operator's terminal. A host must not be able to drive that
//! terminal: an escape sequence in a step's output could retitle the
//! window, hide lines, or on some terminals answer back with keystrokes.
//! So every control character except newline and tab is shown, not sent.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::IsTerminal;

/// What the terminal allows, decided once per command: colour on stdout
/// only when it is a terminal and `NO_COLOR` is not set; progress bars on
/// stderr only when it is a terminal and we are not in CI (bars in a log
/// are debris).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Terminal {
    pub color: bool,
    pub bars: bool,
}

impl Terminal {
    pub fn detect() -> Terminal {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        Terminal {
            color: std::io::stdout().is_terminal() && !set("NO_COLOR") && !dumb,
            bars: std::io::stderr().is_terminal() && !set("CI") && !dumb,
        }
    }

    /// Neither colour nor bars: for tests and pipes.
    pub fn plain() -> Terminal {
        Terminal::default()
    }
}

/// C0 controls other than `\n` and `\t`, DEL, and the C1 controls
/// (U+0080 to U+009F, which some terminals read as ESC sequences).
fn is_terminal_control(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || ('\u{80}'..='\u{9f}').contains(&c)
}

/// `text` with every terminal control written out as `\xNN` (ESC becomes
/// `\x1b`), so the bytes a host printed can still be read.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_terminal_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_terminal_control(c) {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_and_osc_sequences_are_shown_not_sent() {
        assert_eq!(escape_controls("\x1b]0;pwned\x07\x1b[31mred"), "\\x1b]0;pwned\\x07\\x1b[31mred");
    }

    #[test]
    fn c1_controls_delete_and_carriage_return_are_escaped() {
        assert_eq!(escape_controls("a\u{9b}31mb\u{7f}c\rd\0"), "a\\x9b31mb\\x7fc\\x0dd\\x00");
    }

    #[test]
    fn newlines_tabs_and_other_text_pass_unchanged() {
        let text = "line 1\n\tindented – ünïcode ✓";
        assert!(matches!(escape_controls(text), Cow::Borrowed(t) if t == text));
    }
}
