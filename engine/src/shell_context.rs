//! Where a templated value lands in shell text, and how to keep it data
//! there.
//!
//! A `shell:` or `command:` text is rendered with every `{{ value }}`
//! replaced by a slot (see [`crate::template`]). This module lexes the
//! rendered text the way a POSIX shell reads it, finds the context of each
//! slot and escapes the value for that context:
//!
//! | where the slot sits                     | what the value becomes                     |
//! |-----------------------------------------|--------------------------------------------|
//! | an unquoted word                        | single-quoted whole (`'a b'`)              |
//! | inside `'...'`                          | `'` written as `'\''`                      |
//! | inside `"..."`                          | `\ $ \` "` backslashed                     |
//! | inside `$(...)`                         | a fresh command: as above, recursively     |
//! | inside `` `...` `` (unquoted)           | as above, then `\ $ \`` backslashed again  |
//! | a here-doc body (`<<EOF`)               | `\ $ \`` backslashed                       |
//! | a quoted here-doc body (`<<'EOF'`)      | as is                                      |
//!
//! Where no escape is sound the text is refused: a here-doc delimiter, a
//! `${...}` or `$((...))` expansion, `$'...'`, a comment, right after a
//! backslash or a bare `$`, a backtick inside double quotes, and a here-doc
//! value holding a line that would end the here-doc.
//!
//! A quoted word that is the script of a shell run with `-c` (`sh -c
//! '...'`) is shell text for that inner shell: it is lexed again, and its
//! values are escaped for the inner place, then for the quotes around it.
//!
//! `command:` text is not run by a shell: it is split into words as
//! Ansible's `shlex.split` does, and a value is one word's text, whatever
//! its quotes. When those words run a shell (`sh -c SCRIPT`, `bash -ec
//! SCRIPT`), the script word is shell text again and is lexed as above.
//!
//! Each slot is written as `\u{E000}INDEX\u{E001}` (private-use characters,
//! refused in the playbook's own text) so the lexer sees exactly the text
//! the shell will see, values excepted.

use std::collections::HashMap;
use std::fmt;

/// Opens a slot in rendered text; the slot's index follows, then [`SLOT_CLOSE`].
pub const SLOT_OPEN: char = '\u{E000}';
pub const SLOT_CLOSE: char = '\u{E001}';

/// Why a value cannot be placed where it sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteError {
    pub message: String,
    pub hint: &'static str,
}

impl fmt::Display for QuoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for QuoteError {}

/// A value to place in shell text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotValue {
    /// The text the template printed.
    pub text: String,
    /// Ansible's `| quote` printed `text` from this value: where a bare
    /// word is expected, `text` already is one; `command:` words take the
    /// value itself, as `shlex.split` would have given it back.
    pub quoted_from: Option<String>,
}

impl From<&str> for SlotValue {
    fn from(text: &str) -> SlotValue {
        SlotValue { text: text.to_string(), quoted_from: None }
    }
}

/// The text of a slot for `index`.
pub fn slot(index: usize) -> String {
    format!("{SLOT_OPEN}{index}{SLOT_CLOSE}")
}

/// Shell text with every slot replaced by its value, escaped for the
/// place it sits.
pub fn splice_shell(text: &str, values: &[SlotValue]) -> Result<String, QuoteError> {
    escape_shell(&pieces(text), values)
}

/// Shell text as pieces, each slot replaced by its value escaped for its place.
fn escape_shell(pieces: &[Piece], values: &[SlotValue]) -> Result<String, QuoteError> {
    let mut chains = Chains::new();
    Lexer::new(pieces, &mut chains).command(&[], false)?;
    substitute(pieces, values, &chains)
}

/// The argv of a `command:` text: words split as Python's `shlex.split`
/// splits them (Ansible's way), each slot literal inside its word; the
/// script of a shell run with `-c` is shell text, lexed as in
/// [`splice_shell`].
pub fn split_command(text: &str, values: &[SlotValue]) -> Result<Vec<String>, QuoteError> {
    let words = split_words(&pieces(text))?;
    let literal: Vec<String> = words.iter().map(|w| literal_text(w)).collect();
    let script = shell_script_word(&literal);
    words
        .iter()
        .enumerate()
        .map(|(i, word)| {
            if Some(i) == script {
                escape_shell(word, values)
            } else {
                Ok(word
                    .iter()
                    .map(|p| match p {
                        Piece::Char(c) => c.to_string(),
                        Piece::Slot(i) => {
                            let value = &values[*i];
                            value.quoted_from.clone().unwrap_or_else(|| value.text.clone())
                        }
                    })
                    .collect())
            }
        })
        .collect()
}

/// A character of the rendered text, or a value's slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Char(char),
    Slot(usize),
}

/// The text as pieces. Slot characters come only from the renderer: the
/// playbook's text and `| safe` text holding them are refused before.
fn pieces(text: &str) -> Vec<Piece> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == SLOT_OPEN {
            let digits: String = chars.by_ref().take_while(|&c| c != SLOT_CLOSE).collect();
            out.push(Piece::Slot(digits.parse().expect("slots are written by the renderer")));
        } else {
            out.push(Piece::Char(c));
        }
    }
    out
}

/// The text of a word without its slots (for recognising `sh -c`).
fn literal_text(word: &[Piece]) -> String {
    word.iter().map(|p| if let Piece::Char(c) = p { *c } else { SLOT_OPEN }).collect()
}

/// One escape a value goes through; a slot's chain lists them innermost
/// first.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Escape {
    Unquoted,
    SingleQuoted,
    DoubleQuoted,
    HereDoc {
        delimiter: String,
        strip_tabs: bool,
        quoted: bool,
    },
    /// The text of a `` `...` `` is read once more after its backslashes
    /// are taken off.
    Backtick,
}

type Chains = HashMap<usize, Vec<Escape>>;

/// The escapes of a place inside `outer`: its own first.
fn chain(first: Escape, outer: &[Escape]) -> Vec<Escape> {
    let mut chain = vec![first];
    chain.extend_from_slice(outer);
    chain
}

impl Escape {
    fn apply(&self, value: &str) -> Result<String, QuoteError> {
        Ok(match self {
            Escape::Unquoted => push_modules::shell::quote(value),
            Escape::SingleQuoted => value.replace('\'', r"'\''"),
            Escape::DoubleQuoted => backslash(value, &['\\', '$', '`', '"']),
            Escape::HereDoc { delimiter, strip_tabs, quoted } => {
                let ends_here_doc = value.split('\n').any(|line| {
                    let line = if *strip_tabs { line.trim_start_matches('\t') } else { line };
                    line.starts_with(delimiter.as_str())
                });
                if ends_here_doc {
                    return Err(QuoteError {
                        message: format!("a value inside a here-doc has a line starting with its delimiter `{delimiter}`, which would end the here-doc early"),
                        hint: "pick a delimiter the value cannot hold, or write the value with `copy: content:`",
                    });
                }
                if *quoted {
                    value.to_string()
                } else {
                    backslash(value, &['\\', '$', '`'])
                }
            }
            Escape::Backtick => backslash(value, &['\\', '$', '`']),
        })
    }
}

fn backslash(value: &str, special: &[char]) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        if special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn substitute(pieces: &[Piece], values: &[SlotValue], chains: &Chains) -> Result<String, QuoteError> {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Char(c) => out.push(*c),
            Piece::Slot(i) => {
                let value = &values[*i];
                let chain = &chains[i];
                let mut text = value.text.clone();
                let mut escapes = chain.iter();
                if value.quoted_from.is_some() && chain.first() == Some(&Escape::Unquoted) {
                    // Already the one word `| quote` made.
                    escapes.next();
                }
                for escape in escapes {
                    text = escape.apply(&text)?;
                }
                out.push_str(&text);
            }
        }
    }
    Ok(out)
}

/// A context where no escape keeps a value data.
fn refuse(place: &str, hint: &'static str) -> QuoteError {
    QuoteError { message: format!("a templated value sits {place}, where no quoting can keep it data"), hint }
}

const HINT_VARIABLE: &str =
    "assign the value to a shell variable first (`v={{ ... }}; echo \"${v:-none}\"`), or use `| safe` if it is shell code you trust";

/// Reads shell text and records each slot's chain of escapes.
struct Lexer<'p, 'c> {
    p: &'p [Piece],
    i: usize,
    chains: &'c mut Chains,
}

struct PendingHereDoc {
    delimiter: String,
    strip_tabs: bool,
    quoted: bool,
}

impl<'p, 'c> Lexer<'p, 'c> {
    fn new(p: &'p [Piece], chains: &'c mut Chains) -> Self {
        Lexer { p, i: 0, chains }
    }

    fn peek(&self, ahead: usize) -> Option<Piece> {
        self.p.get(self.i + ahead).copied()
    }

    fn peek_char(&self, ahead: usize) -> Option<char> {
        match self.peek(ahead) {
            Some(Piece::Char(c)) => Some(c),
            _ => None,
        }
    }

    fn record(&mut self, slot: usize, first: Escape, outer: &[Escape]) {
        self.chains.insert(slot, chain(first, outer));
    }

    /// Text that is read again as a command (a backtick's, a `sh -c`
    /// script), its values escaped for their place there, then by `first`
    /// and `outer`.
    fn command_within(&mut self, body: &[Piece], first: Escape, outer: &[Escape]) -> Result<(), QuoteError> {
        Lexer::new(body, self.chains).command(&chain(first, outer), false)
    }

    /// Command text, up to the end or (inside `$(`) the closing `)`.
    /// `outer` is the chain of escapes of the text around this command.
    fn command(&mut self, outer: &[Escape], in_subst: bool) -> Result<(), QuoteError> {
        let mut simple = SimpleCommand::default();
        let mut depth = 0usize;
        let mut pending: Vec<PendingHereDoc> = Vec::new();
        while let Some(piece) = self.peek(0) {
            self.i += 1;
            let c = match piece {
                Piece::Slot(s) => {
                    self.record(s, Escape::Unquoted, outer);
                    simple.not_plain();
                    continue;
                }
                Piece::Char(c) => c,
            };
            match c {
                '\\' => {
                    if let Some(Piece::Slot(_)) = self.peek(0) {
                        return Err(refuse(
                            "right after a backslash",
                            "drop the backslash: the value is quoted for you",
                        ));
                    }
                    self.i += 1;
                    simple.not_plain();
                }
                '\'' => {
                    if simple.script_comes_next() {
                        self.script_in_single_quotes(outer)?;
                    } else {
                        self.single_quoted(outer);
                    }
                    simple.not_plain();
                }
                '"' => {
                    if simple.script_comes_next() {
                        self.script_in_double_quotes(outer)?;
                    } else {
                        self.double_quoted(outer)?;
                    }
                    simple.not_plain();
                }
                '`' => {
                    self.backtick(outer)?;
                    simple.not_plain();
                }
                '$' => {
                    self.dollar(outer)?;
                    simple.not_plain();
                }
                '#' if simple.at_word_start() => self.comment()?,
                '<' if self.peek_char(0) == Some('<') => {
                    self.i += 1;
                    if self.peek_char(0) == Some('<') {
                        // A here-string: the word after it is an ordinary word.
                        self.i += 1;
                    } else {
                        pending.push(self.here_doc_operator()?);
                    }
                    simple.end_word();
                }
                '\n' => {
                    for doc in pending.drain(..) {
                        self.here_doc_body(&doc, outer)?;
                    }
                    simple.end_command();
                }
                '(' => {
                    depth += 1;
                    simple.end_command();
                }
                ')' if in_subst && depth == 0 => return Ok(()),
                ')' => {
                    depth = depth.saturating_sub(1);
                    simple.end_command();
                }
                ';' | '|' | '&' => simple.end_command(),
                ' ' | '\t' | '<' | '>' => simple.end_word(),
                c => simple.push(c),
            }
        }
        Ok(())
    }

    /// `sh -c '...'`: the script is shell text read by the inner shell.
    fn script_in_single_quotes(&mut self, outer: &[Escape]) -> Result<(), QuoteError> {
        let mut body = Vec::new();
        while let Some(piece) = self.peek(0) {
            self.i += 1;
            if piece == Piece::Char('\'') {
                break;
            }
            body.push(piece);
        }
        self.command_within(&body, Escape::SingleQuoted, outer)
    }

    /// `sh -c "..."`: the outer shell takes off its backslashes, the inner
    /// one reads the rest. A `$(...)` or backtick there would be run by
    /// the outer shell first: with a value in the script, that is refused.
    fn script_in_double_quotes(&mut self, outer: &[Escape]) -> Result<(), QuoteError> {
        let mut body = Vec::new();
        let mut expands = false;
        while let Some(piece) = self.peek(0) {
            self.i += 1;
            match piece {
                Piece::Char('"') => break,
                Piece::Char('\\') => match self.peek(0) {
                    Some(Piece::Slot(_)) => {
                        return Err(refuse(
                            "right after a backslash inside double quotes",
                            "drop the backslash: the value is escaped for you",
                        ))
                    }
                    Some(Piece::Char(next @ ('\\' | '"' | '$' | '`'))) => {
                        self.i += 1;
                        body.push(Piece::Char(next));
                    }
                    Some(Piece::Char('\n')) => self.i += 1,
                    _ => body.push(piece),
                },
                Piece::Char('`') => {
                    expands = true;
                    body.push(piece);
                }
                Piece::Char('$') if self.peek_char(0) == Some('(') => {
                    expands = true;
                    body.push(piece);
                }
                other => body.push(other),
            }
        }
        if expands && body.iter().any(|p| matches!(p, Piece::Slot(_))) {
            return Err(refuse(
                "in a double-quoted `sh -c` script that the outer shell expands first",
                "put the script in single quotes: sh -c '...'",
            ));
        }
        self.command_within(&body, Escape::DoubleQuoted, outer)
    }

    fn single_quoted(&mut self, outer: &[Escape]) {
        while let Some(piece) = self.peek(0) {
            self.i += 1;
            match piece {
                Piece::Char('\'') => return,
                Piece::Slot(s) => self.record(s, Escape::SingleQuoted, outer),
                Piece::Char(_) => {}
            }
        }
    }

    fn double_quoted(&mut self, outer: &[Escape]) -> Result<(), QuoteError> {
        while let Some(piece) = self.peek(0) {
            self.i += 1;
            match piece {
                Piece::Slot(s) => self.record(s, Escape::DoubleQuoted, outer),
                Piece::Char('"') => return Ok(()),
                Piece::Char(c) => self.expanding(c, outer, "inside double quotes")?,
            }
        }
        Ok(())
    }

    /// A character of text that expands as double quotes do (a `"..."`
    /// string, an unquoted here-doc body): `\` escapes the next one, `$`
    /// and backticks expand.
    fn expanding(&mut self, c: char, outer: &[Escape], place: &str) -> Result<(), QuoteError> {
        match c {
            '\\' => {
                if let Some(Piece::Slot(_)) = self.peek(0) {
                    return Err(refuse(
                        &format!("right after a backslash {place}"),
                        "drop the backslash: the value is escaped for you",
                    ));
                }
                self.i += 1;
            }
            '$' => self.dollar(outer)?,
            '`' => self.backtick_in_double_quotes()?,
            _ => {}
        }
        Ok(())
    }

    /// After a `$`: a command substitution, or an expansion no value may
    /// enter.
    fn dollar(&mut self, outer: &[Escape]) -> Result<(), QuoteError> {
        match self.peek(0) {
            Some(Piece::Char('(')) if self.peek_char(1) == Some('(') => {
                self.i += 2;
                self.skip_refusing(&['('], &[')'], 2, "inside `$((...))` arithmetic", HINT_VARIABLE)
            }
            Some(Piece::Char('(')) => {
                self.i += 1;
                self.command(outer, true)
            }
            Some(Piece::Char('{')) => {
                self.i += 1;
                self.skip_refusing(&['{'], &['}'], 1, "inside a `${...}` expansion", HINT_VARIABLE)
            }
            Some(Piece::Char('\'')) => {
                self.i += 1;
                self.skip_ansi_c()
            }
            Some(Piece::Slot(_)) => Err(refuse("right after a `$`", HINT_VARIABLE)),
            _ => Ok(()),
        }
    }

    /// Skip to the matching close of an expansion, refusing any slot in it.
    /// Quotes inside are skipped whole, so a `}` in them does not close.
    fn skip_refusing(
        &mut self,
        open: &[char],
        close: &[char],
        mut depth: usize,
        place: &str,
        hint: &'static str,
    ) -> Result<(), QuoteError> {
        let mut quote: Option<char> = None;
        while let Some(piece) = self.peek(0) {
            self.i += 1;
            let c = match piece {
                Piece::Slot(_) => return Err(refuse(place, hint)),
                Piece::Char(c) => c,
            };
            match (quote, c) {
                (Some('\''), '\'') | (Some('"'), '"') => quote = None,
                (Some('"') | None, '\\') => self.i += 1,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, c) if open.contains(&c) => depth += 1,
                (None, c) if close.contains(&c) => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn skip_ansi_c(&mut self) -> Result<(), QuoteError> {
        while let Some(piece) = self.peek(0) {
            self.i += 1;
            match piece {
                Piece::Slot(_) => return Err(refuse("inside `$'...'`", "use plain '...' quotes around the value")),
                Piece::Char('\\') => self.i += 1,
                Piece::Char('\'') => return Ok(()),
                Piece::Char(_) => {}
            }
        }
        Ok(())
    }

    fn comment(&mut self) -> Result<(), QuoteError> {
        while let Some(piece) = self.peek(0) {
            match piece {
                Piece::Char('\n') => return Ok(()),
                Piece::Slot(_) => {
                    return Err(refuse(
                        "in a comment (a newline in it would end the comment)",
                        "move the value out of the comment",
                    ))
                }
                Piece::Char(_) => self.i += 1,
            }
        }
        Ok(())
    }

    /// `` `...` `` outside double quotes: its text, backslashes taken off
    /// as the shell does, is a command read again.
    fn backtick(&mut self, outer: &[Escape]) -> Result<(), QuoteError> {
        let mut body = Vec::new();
        while let Some(piece) = self.peek(0) {
            self.i += 1;
            match piece {
                Piece::Char('`') => break,
                Piece::Char('\\') => match self.peek(0) {
                    Some(Piece::Slot(_)) => {
                        return Err(refuse(
                            "right after a backslash inside backticks",
                            "use $(...) instead of backticks",
                        ))
                    }
                    Some(Piece::Char(next @ ('$' | '`' | '\\'))) => {
                        self.i += 1;
                        body.push(Piece::Char(next));
                    }
                    _ => body.push(piece),
                },
                other => body.push(other),
            }
        }
        self.command_within(&body, Escape::Backtick, outer)
    }

    fn backtick_in_double_quotes(&mut self) -> Result<(), QuoteError> {
        while let Some(piece) = self.peek(0) {
            self.i += 1;
            match piece {
                Piece::Slot(_) => {
                    return Err(refuse("inside backticks inside double quotes", "use \"$(...)\" instead of backticks"))
                }
                Piece::Char('\\') => self.i += 1,
                Piece::Char('`') => return Ok(()),
                Piece::Char(_) => {}
            }
        }
        Ok(())
    }

    /// After `<<`: the delimiter word. Quotes anywhere in it make the body
    /// literal.
    fn here_doc_operator(&mut self) -> Result<PendingHereDoc, QuoteError> {
        let strip_tabs = self.peek_char(0) == Some('-');
        if strip_tabs {
            self.i += 1;
        }
        while matches!(self.peek_char(0), Some(' ' | '\t')) {
            self.i += 1;
        }
        let mut delimiter = String::new();
        let mut quoted = false;
        let mut quote: Option<char> = None;
        while let Some(piece) = self.peek(0) {
            let c = match piece {
                Piece::Slot(_) => {
                    return Err(refuse("in a here-doc delimiter", "write the delimiter literally, e.g. <<'EOF'"))
                }
                Piece::Char(c) => c,
            };
            match (quote, c) {
                (None, ' ' | '\t' | '\n' | ';' | '|' | '&' | '<' | '>' | '(' | ')') => break,
                (None, '\'' | '"') => {
                    quoted = true;
                    quote = Some(c);
                }
                (Some(q), c) if q == c => quote = None,
                (None, '\\') => {
                    quoted = true;
                    self.i += 1;
                    if let Some(Piece::Char(next)) = self.peek(0) {
                        delimiter.push(next);
                    }
                }
                (_, c) => delimiter.push(c),
            }
            self.i += 1;
        }
        Ok(PendingHereDoc { delimiter, strip_tabs, quoted })
    }

    /// A here-doc's lines, up to the delimiter line. An unquoted body
    /// expands `$(...)` and backticks like double quotes do.
    fn here_doc_body(&mut self, doc: &PendingHereDoc, outer: &[Escape]) -> Result<(), QuoteError> {
        let escape =
            Escape::HereDoc { delimiter: doc.delimiter.clone(), strip_tabs: doc.strip_tabs, quoted: doc.quoted };
        loop {
            if self.at_delimiter_line(doc) {
                return Ok(());
            }
            let Some(piece) = self.peek(0) else { return Ok(()) };
            self.i += 1;
            match piece {
                Piece::Slot(s) => self.record(s, escape.clone(), outer),
                Piece::Char(_) if doc.quoted => {}
                Piece::Char(c) => self.expanding(c, outer, "in a here-doc")?,
            }
        }
    }

    /// Is the line starting here the delimiter line? If so, skip it.
    fn at_delimiter_line(&mut self, doc: &PendingHereDoc) -> bool {
        if self.i > 0 && self.p.get(self.i - 1) != Some(&Piece::Char('\n')) {
            return false;
        }
        let mut j = self.i;
        if doc.strip_tabs {
            while self.p.get(j) == Some(&Piece::Char('\t')) {
                j += 1;
            }
        }
        for want in doc.delimiter.chars() {
            if self.p.get(j) != Some(&Piece::Char(want)) {
                return false;
            }
            j += 1;
        }
        match self.p.get(j) {
            None => {
                self.i = j;
                true
            }
            Some(Piece::Char('\n')) => {
                self.i = j + 1;
                true
            }
            _ => false,
        }
    }
}

/// The words of the simple command being read, as far as they are plain
/// text: enough to see `sh -c SCRIPT` coming.
#[derive(Default)]
struct SimpleCommand {
    words: Vec<String>,
    word: Option<String>,
}

impl SimpleCommand {
    fn push(&mut self, c: char) {
        self.word.get_or_insert_with(String::new).push(c);
    }

    /// The current word holds quotes, a value or an expansion: it names no
    /// shell and no option.
    fn not_plain(&mut self) {
        self.push(SLOT_OPEN);
    }

    fn end_word(&mut self) {
        self.words.extend(self.word.take());
    }

    fn end_command(&mut self) {
        self.word = None;
        self.words.clear();
    }

    fn at_word_start(&self) -> bool {
        self.word.is_none()
    }

    /// Is a word starting here the script of a shell run with `-c`?
    fn script_comes_next(&self) -> bool {
        if self.word.is_some() {
            return false;
        }
        let mut argv = self.words.clone();
        argv.push(String::new());
        shell_script_word(&argv) == Some(self.words.len())
    }
}

/// Split like Python's `shlex.split` (POSIX mode, no comments): quotes
/// group, `\` escapes outside quotes and, inside double quotes, only `\`
/// and `"`. A slot is part of the word it sits in.
fn split_words(p: &[Piece]) -> Result<Vec<Vec<Piece>>, QuoteError> {
    let mut words = Vec::new();
    let mut word: Option<Vec<Piece>> = None;
    let mut i = 0;
    while i < p.len() {
        let piece = p[i];
        i += 1;
        match piece {
            Piece::Char(c) if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            Piece::Char(q @ ('\'' | '"')) => {
                let w = word.get_or_insert_with(Vec::new);
                loop {
                    let Some(&inner) = p.get(i) else {
                        return Err(QuoteError {
                            message: "unbalanced quotes in the command".into(),
                            hint: "`command` splits its text like a shell; check the quotes",
                        });
                    };
                    i += 1;
                    match inner {
                        Piece::Char(c) if c == q => break,
                        Piece::Char('\\') if q == '"' => match p.get(i) {
                            Some(&Piece::Char(next @ ('\\' | '"'))) => {
                                i += 1;
                                w.push(Piece::Char(next));
                            }
                            _ => w.push(inner),
                        },
                        other => w.push(other),
                    }
                }
            }
            Piece::Char('\\') => {
                let w = word.get_or_insert_with(Vec::new);
                if let Some(&next) = p.get(i) {
                    i += 1;
                    w.push(next);
                }
            }
            other => word.get_or_insert_with(Vec::new).push(other),
        }
    }
    words.extend(word);
    Ok(words)
}

/// The index of the script word when `argv` runs a shell with `-c`
/// (`sh -c S`, `bash -euc S`, `env A=1 dash -c S`).
fn shell_script_word(argv: &[String]) -> Option<usize> {
    const SHELLS: &[&str] = &["sh", "bash", "dash", "ash", "ksh", "mksh", "zsh", "busybox"];
    let mut i = 0;
    if argv.first().is_some_and(|w| w.rsplit('/').next() == Some("env")) {
        i = 1;
        while argv.get(i).is_some_and(|w| w.contains('=') && !w.starts_with('-')) {
            i += 1;
        }
    }
    let program = argv.get(i)?.rsplit('/').next()?;
    if !SHELLS.contains(&program) {
        return None;
    }
    i += 1;
    if program == "busybox" {
        if argv.get(i).map(String::as_str) != Some("sh") {
            return None;
        }
        i += 1;
    }
    let mut has_c = false;
    while let Some(option) = argv.get(i).filter(|w| w.starts_with('-') || w.starts_with('+')) {
        i += 1;
        if option == "--" {
            break;
        }
        if matches!(option.as_str(), "-o" | "+o" | "-O" | "+O") {
            i += 1;
        } else if option.starts_with('-') && !option.starts_with("--") && option.contains('c') {
            has_c = true;
        }
    }
    (has_c && i < argv.len()).then_some(i)
}

#[cfg(test)]
mod tests;
