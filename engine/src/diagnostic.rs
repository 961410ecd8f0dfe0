//! Errors about user input: a message, the place in a file it is about, and
//! a hint. Rendered like rustc/just: `file:line:col`, the offending line and
//! a caret, so the user never has to hunt for what we mean.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A file we read user input from. Kept whole so a diagnostic can quote the
/// offending line long after parsing.
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    /// Opened from a vault: its lines are secrets, never quoted.
    pub vaulted: bool,
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Arc<Self> {
        Arc::new(SourceFile { path: path.into(), text: text.into(), vaulted: false })
    }

    /// The plaintext of a vaulted file.
    pub fn vaulted(path: impl Into<PathBuf>, text: impl Into<String>) -> Arc<Self> {
        Arc::new(SourceFile { path: path.into(), text: text.into(), vaulted: true })
    }

    /// The 1-based line `line` without its newline, if it exists.
    pub fn line_text(&self, line: usize) -> Option<&str> {
        self.text.lines().nth(line.checked_sub(1)?)
    }

    /// Span of the whole text starting at byte `offset` (used for errors that
    /// only know an offset, e.g. from a parser).
    pub fn span_at_offset(self: &Arc<Self>, offset: usize, len: usize) -> Span {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Span { file: Arc::clone(self), line, col, len }
    }

    pub fn span(self: &Arc<Self>, line: usize, col: usize, len: usize) -> Span {
        Span { file: Arc::clone(self), line, col, len }
    }
}

/// A place in a source file: 1-based line and column (in characters), and
/// how many characters the caret underline covers.
#[derive(Clone)]
pub struct Span {
    pub file: Arc<SourceFile>,
    pub line: usize,
    pub col: usize,
    pub len: usize,
}

impl Span {
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// A span `delta_line` lines and `col` columns into a multi-line value that
    /// starts at this span (for errors inside a template string).
    pub fn shifted(&self, delta_line: usize, col: Option<usize>) -> Span {
        Span {
            file: Arc::clone(&self.file),
            line: self.line + delta_line,
            col: if delta_line == 0 { self.col } else { col.unwrap_or(1) },
            len: if delta_line == 0 { self.len } else { 1 },
        }
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.path.display(), self.line, self.col)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.path.display(), self.line, self.col)
    }
}

/// One error about user input. Everything the engine refuses before it
/// connects to a host is one of these.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub message: String,
    pub span: Option<Span>,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>) -> Self {
        Diagnostic { message: message.into(), span: None, hint: None }
    }

    pub fn at(span: &Span, message: impl Into<String>) -> Self {
        Diagnostic { message: message.into(), span: Some(span.clone()), hint: None }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Attach a span if the error does not carry one yet.
    pub fn or_at(mut self, span: &Span) -> Self {
        if self.span.is_none() {
            self.span = Some(span.clone());
        }
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        if let Some(span) = &self.span {
            let gutter = span.line.to_string().len();
            writeln!(f, "{:gutter$}--> {}", "", span)?;
            let quotable = if span.file.vaulted { None } else { span.file.line_text(span.line) };
            if let Some(text) = quotable {
                writeln!(f, "{:gutter$} |", "")?;
                writeln!(f, "{} | {}", span.line, text)?;
                // Columns count characters; tabs are kept so the caret lines up.
                let pad: String =
                    text.chars().take(span.col.saturating_sub(1)).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
                writeln!(f, "{:gutter$} | {}{}", "", pad, "^".repeat(span.len.max(1)))?;
            }
        }
        if let Some(hint) = &self.hint {
            writeln!(f, "  = hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// "did you mean" for a misspelled name, if a candidate is close enough.
pub use push_modules::args::suggest;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_file_line_col_and_caret() {
        let file = SourceFile::new("play.yml", "- hosts: all\n  tasks:\n    - cpy: {}\n");
        let d = Diagnostic::at(&file.span(3, 7, 3), "unknown module `cpy`").with_hint("did you mean `copy`?");
        insta::assert_snapshot!(d.to_string(), @r"
        error: unknown module `cpy`
         --> play.yml:3:7
          |
        3 |     - cpy: {}
          |       ^^^
          = hint: did you mean `copy`?
        ");
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(suggest("stat", ["state", "path"]), Some("state"));
        assert_eq!(suggest("xyz", ["state", "path"]), None);
    }

    #[test]
    fn offset_to_line_and_column() {
        let file = SourceFile::new("f", "ab\ncd\n");
        let s = file.span_at_offset(4, 1);
        assert_eq!((s.line, s.col), (2, 2));
    }
}
