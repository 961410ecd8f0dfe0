//! Python's `shlex.split(line, comments=True)`, which Ansible's INI parser
//! uses to cut a host line into `name key=value ...` tokens.
//!
//! Its quirks are what users' inventories already depend on, so they are
//! kept: quotes are removed before the value is typed (`port="22"` is the
//! number 22), a `#` anywhere outside quotes starts a comment, even inside a
//! word (`password=abc#123` is `abc`), and `\` escapes the next character
//! outside single quotes.

/// One token and the character column (0-based) where it starts in the line.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub text: String,
    pub col: usize,
    /// Length in characters of the token as written (quotes included).
    pub len: usize,
}

/// Why a line could not be split, and the column of the problem.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitError {
    pub message: &'static str,
    pub col: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    Between,
    Word,
    Quote(char),
    /// After a backslash; remembers the state to return to.
    Escape(Escaped),
}

#[derive(Clone, Copy, PartialEq)]
enum Escaped {
    Word,
    DoubleQuote,
}

pub fn split(line: &str) -> Result<Vec<Token>, SplitError> {
    let chars: Vec<char> = line.chars().collect();
    let mut tokens = Vec::new();
    let mut state = State::Between;
    let mut token = String::new();
    let mut quoted = false;
    let mut start = 0;
    let mut quote_col = 0;
    let mut i = 0;

    let finish = |tokens: &mut Vec<Token>, token: &mut String, quoted: &mut bool, start: usize, end: usize| {
        if !token.is_empty() || *quoted {
            tokens.push(Token { text: std::mem::take(token), col: start, len: end - start });
        }
        *quoted = false;
    };

    while i < chars.len() {
        let c = chars[i];
        match state {
            State::Between | State::Word => {
                if c.is_ascii_whitespace() {
                    if state == State::Word {
                        finish(&mut tokens, &mut token, &mut quoted, start, i);
                    }
                    state = State::Between;
                } else if c == '#' {
                    // The rest of the line is a comment.
                    if state == State::Word {
                        finish(&mut tokens, &mut token, &mut quoted, start, i);
                    }
                    return Ok(tokens);
                } else {
                    if state == State::Between {
                        start = i;
                        state = State::Word;
                    }
                    match c {
                        '\\' => state = State::Escape(Escaped::Word),
                        '\'' | '"' => {
                            quote_col = i;
                            state = State::Quote(c);
                        }
                        _ => token.push(c),
                    }
                }
            }
            State::Quote(q) => {
                quoted = true;
                if c == q {
                    state = State::Word;
                } else if c == '\\' && q == '"' {
                    state = State::Escape(Escaped::DoubleQuote);
                } else {
                    token.push(c);
                }
            }
            State::Escape(back) => {
                // Inside double quotes only `\"` and `\\` are escapes; any
                // other backslash is kept.
                if back == Escaped::DoubleQuote && c != '"' && c != '\\' {
                    token.push('\\');
                }
                token.push(c);
                state = if back == Escaped::DoubleQuote { State::Quote('"') } else { State::Word };
            }
        }
        i += 1;
    }
    match state {
        State::Quote(_) => Err(SplitError { message: "no closing quotation", col: quote_col }),
        State::Escape(_) => Err(SplitError { message: "no escaped character after `\\`", col: i.saturating_sub(1) }),
        State::Word => {
            finish(&mut tokens, &mut token, &mut quoted, start, i);
            Ok(tokens)
        }
        State::Between => Ok(tokens),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<String> {
        split(line).unwrap().into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn splits_like_python_shlex() {
        assert_eq!(texts(r#"web1 a=1 b="two words" c='x'"#), ["web1", "a=1", "b=two words", "c=x"]);
        assert_eq!(texts("h pw=abc#123 rest"), ["h", "pw=abc"]);
        assert_eq!(texts("h # comment"), ["h"]);
        assert_eq!(texts(r#"h a=x\ y b="q\"q\n" c='a\b' d=''"#), ["h", "a=x y", "b=q\"q\\n", "c=a\\b", "d="]);
        assert_eq!(texts("h e=\"\""), ["h", "e="]);
    }

    #[test]
    fn reports_columns() {
        let t = split("web1   k=\"v w\"").unwrap();
        assert_eq!((t[1].col, t[1].len), (7, 7));
    }

    #[test]
    fn unclosed_quote_is_an_error() {
        assert_eq!(split("h a='x").unwrap_err().col, 4);
        assert!(split("h a=x\\").is_err());
    }
}
