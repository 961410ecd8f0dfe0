//! Text from hosts (step output, lock holders, error messages) is printed
//! to the operator's terminal. A host must not be able to drive that
//! terminal: an escape sequence in a step's output could retitle the
//! window, hide lines, or on some terminals answer back with keystrokes.
//! So every control character except newline and tab is shown, not sent.

use std::borrow::Cow;
use std::fmt::Write as _;

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
