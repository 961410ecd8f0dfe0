//! Python's `ast.literal_eval`, as Ansible's INI parser applies it to every
//! `key=value` (both on host lines and in `[group:vars]`).
//!
//! Users write `port=22`, `become=True`, `tags="['a', 'b']"` and expect the
//! types Ansible gives them: 22 (int), true, a list. Anything that is not a
//! Python literal (`yes`, `/usr/bin/python3`, `{{ x }}`) stays a string, which
//! is what [`literal_eval`] returning `None` tells the caller.
//!
//! Supported: ints (decimal, 0x, 0o, 0b, `_` separators), floats, complex
//! numbers (turned into their Python text, as Ansible does), strings with
//! r/b/u prefixes, escapes and implicit concatenation, `True`/`False`/`None`,
//! lists, tuples and sets (all become lists), dicts, `...` (becomes "..."),
//! one leading sign, and `#` comments.

use serde_json::{Map, Value};

/// The value Python's `ast.literal_eval(text)` produces, converted the way
/// Ansible stores it, or `None` where Python raises (the caller keeps the
/// text as a string).
pub fn literal_eval(text: &str) -> Option<Value> {
    // Python strips leading spaces and tabs before parsing.
    let text = text.trim_start_matches([' ', '\t']);
    let mut p = Parser { s: text.as_bytes(), text, pos: 0, depth: 0 };
    let lit = p.expr()?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return None;
    }
    Some(lit.into_json())
}

/// A parsed literal, before conversion to JSON (dict keys and complex
/// numbers need Python's own text form).
#[derive(Debug, Clone)]
enum Lit {
    None,
    Bool(bool),
    Int(i128),
    /// An int too large for i128 kept as its digits.
    BigInt(String),
    Float(f64),
    Complex(f64, f64),
    Str(String),
    Bytes(Vec<u8>),
    Ellipsis,
    List(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
}

impl Lit {
    fn into_json(self) -> Value {
        match self {
            Lit::None => Value::Null,
            Lit::Bool(b) => Value::Bool(b),
            Lit::Int(i) => int_to_json(i),
            Lit::BigInt(s) => Value::String(s),
            Lit::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
            Lit::Complex(re, im) => Value::String(complex_text(re, im)),
            Lit::Str(s) => Value::String(s),
            Lit::Bytes(b) => Value::String(String::from_utf8_lossy(&b).into_owned()),
            Lit::Ellipsis => Value::String("...".into()),
            Lit::List(items) => Value::Array(items.into_iter().map(Lit::into_json).collect()),
            Lit::Dict(entries) => {
                let mut map = Map::new();
                for (k, v) in entries {
                    map.insert(k.key_text(), v.into_json());
                }
                Value::Object(map)
            }
        }
    }

    /// How `json.dumps` writes a non-string dict key.
    fn key_text(&self) -> String {
        match self {
            Lit::Str(s) => s.clone(),
            Lit::None => "null".into(),
            Lit::Bool(b) => b.to_string(),
            Lit::Int(i) => i.to_string(),
            Lit::BigInt(s) => s.clone(),
            Lit::Float(f) => python_float_repr(*f),
            other => other.clone().into_json().to_string(),
        }
    }
}

fn int_to_json(i: i128) -> Value {
    if let Ok(v) = i64::try_from(i) {
        Value::from(v)
    } else if let Ok(v) = u64::try_from(i) {
        Value::from(v)
    } else {
        // Beyond JSON's integers; keep the digits rather than lose precision.
        Value::String(i.to_string())
    }
}

/// `repr(float)` for the common cases (`1.0`, `0.5`, `1e+16`).
fn python_float_repr(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if f.is_nan() {
        return "nan".into();
    }
    if f == f.trunc() && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// `str(complex)`: `2j`, `(1+2j)`, `(1.5-2j)`.
fn complex_text(re: f64, im: f64) -> String {
    let part = |f: f64| if f == f.trunc() && f.abs() < 1e16 { format!("{}", f as i64) } else { format!("{f}") };
    if re == 0.0 && re.is_sign_positive() {
        format!("{}j", part(im))
    } else {
        let sign = if im < 0.0 || (im == 0.0 && im.is_sign_negative()) { '-' } else { '+' };
        format!("({}{sign}{}j)", part(re), part(im.abs()))
    }
}

/// Nesting limit so deeply nested input cannot overflow the stack.
const MAX_DEPTH: usize = 100;

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\x0c' | b'\n' | b'\r' => self.pos += 1,
                b'#' => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// expr := signed_num (('+'|'-') complex)? | atom
    fn expr(&mut self) -> Option<Lit> {
        let first = self.unary()?;
        // `1+2j`: literal_eval allows exactly a real number plus/minus an
        // unsigned imaginary one.
        self.skip_ws();
        if let Some(op @ (b'+' | b'-')) = self.peek() {
            let left = match first {
                Lit::Int(i) => i as f64,
                Lit::Float(f) => f,
                _ => return None,
            };
            self.pos += 1;
            self.skip_ws();
            let Lit::Complex(re, im) = self.number()? else { return None };
            if re != 0.0 {
                return None;
            }
            let im = if op == b'-' { -im } else { im };
            return Some(Lit::Complex(left, im));
        }
        Some(first)
    }

    /// One optional sign, applied only to a number.
    fn unary(&mut self) -> Option<Lit> {
        self.skip_ws();
        match self.peek() {
            Some(sign @ (b'+' | b'-')) => {
                self.pos += 1;
                self.skip_ws();
                let n = self.number()?;
                if sign == b'+' {
                    return Some(n);
                }
                Some(match n {
                    Lit::Int(i) => Lit::Int(-i),
                    Lit::BigInt(s) => Lit::BigInt(format!("-{s}")),
                    Lit::Float(f) => Lit::Float(-f),
                    Lit::Complex(re, im) => Lit::Complex(-re, -im),
                    _ => return None,
                })
            }
            _ => self.atom(),
        }
    }

    fn atom(&mut self) -> Option<Lit> {
        self.skip_ws();
        let c = self.peek()?;
        match c {
            b'0'..=b'9' => self.number(),
            b'.' if self.s[self.pos..].starts_with(b"...") => {
                self.pos += 3;
                Some(Lit::Ellipsis)
            }
            b'.' => self.number(),
            b'\'' | b'"' => self.strings(),
            b'[' => {
                self.pos += 1;
                Some(Lit::List(self.items(b']')?))
            }
            b'(' => {
                self.pos += 1;
                self.nested(|p| {
                    let start = p.pos;
                    if p.eat(b')') {
                        return Some(Lit::List(vec![]));
                    }
                    p.pos = start;
                    let first = p.expr()?;
                    if p.eat(b')') {
                        return Some(first); // parenthesised, not a tuple
                    }
                    if !p.eat(b',') {
                        return None;
                    }
                    let mut rest = p.items(b')')?;
                    rest.insert(0, first);
                    Some(Lit::List(rest))
                })
            }
            b'{' => {
                self.pos += 1;
                self.nested(Parser::dict_or_set)
            }
            c if c == b'_' || c.is_ascii_alphabetic() || c >= 0x80 => self.name_or_prefixed_string(),
            _ => None,
        }
    }

    fn nested(&mut self, f: impl FnOnce(&mut Self) -> Option<Lit>) -> Option<Lit> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let r = f(self);
        self.depth -= 1;
        r
    }

    /// Comma-separated expressions up to `close`, trailing comma allowed.
    fn items(&mut self, close: u8) -> Option<Vec<Lit>> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                break;
            }
            items.push(self.expr()?);
            if self.eat(close) {
                break;
            }
            if !self.eat(b',') {
                return None;
            }
        }
        self.depth -= 1;
        Some(items)
    }

    fn dict_or_set(&mut self) -> Option<Lit> {
        if self.eat(b'}') {
            return Some(Lit::Dict(vec![]));
        }
        let first = self.expr()?;
        if self.eat(b':') {
            let mut entries = vec![(first, self.expr()?)];
            loop {
                if self.eat(b'}') {
                    break;
                }
                if !self.eat(b',') {
                    return None;
                }
                if self.eat(b'}') {
                    break;
                }
                let k = self.expr()?;
                if !self.eat(b':') {
                    return None;
                }
                entries.push((k, self.expr()?));
            }
            // Unhashable keys make Python raise.
            if entries.iter().any(|(k, _)| matches!(k, Lit::List(_) | Lit::Dict(_))) {
                return None;
            }
            Some(Lit::Dict(entries))
        } else {
            let mut items = vec![first];
            if !self.eat(b'}') {
                if !self.eat(b',') {
                    return None;
                }
                items.extend(self.items(b'}')?);
            }
            if items.iter().any(|k| matches!(k, Lit::List(_) | Lit::Dict(_))) {
                return None;
            }
            Some(Lit::List(items))
        }
    }

    fn ident_len(&self) -> usize {
        let rest = &self.text[self.pos..];
        rest.find(|c: char| !(c == '_' || c.is_alphanumeric())).unwrap_or(rest.len())
    }

    fn name_or_prefixed_string(&mut self) -> Option<Lit> {
        let len = self.ident_len();
        let name = &self.text[self.pos..self.pos + len];
        let next = self.s.get(self.pos + len).copied();
        if matches!(next, Some(b'\'' | b'"')) && len <= 2 {
            return self.strings();
        }
        self.pos += len;
        match name {
            "True" => Some(Lit::Bool(true)),
            "False" => Some(Lit::Bool(false)),
            "None" => Some(Lit::None),
            _ => None, // any other name is not a literal
        }
    }

    /// One or more adjacent string literals, concatenated (`'a' 'b'`).
    fn strings(&mut self) -> Option<Lit> {
        let mut text: Option<String> = None;
        let mut bytes: Option<Vec<u8>> = None;
        loop {
            self.skip_ws();
            let len = self.ident_len();
            let prefix_end = self.pos + len;
            if !matches!(self.s.get(prefix_end).copied(), Some(b'\'' | b'"')) {
                break;
            }
            let prefix = self.text[self.pos..prefix_end].to_ascii_lowercase();
            let (raw, is_bytes) = match prefix.as_str() {
                "" | "u" => (false, false),
                "r" => (true, false),
                "b" => (false, true),
                "br" | "rb" => (true, true),
                _ => return None, // f-strings and unknown prefixes are not literals
            };
            self.pos = prefix_end;
            let body = self.string_body(raw, is_bytes)?;
            match (is_bytes, &mut text, &mut bytes) {
                (false, _, Some(_)) | (true, Some(_), _) => return None, // str + bytes
                (false, t, None) => t.get_or_insert_with(String::new).push_str(&String::from_utf8(body).ok()?),
                (true, None, b) => b.get_or_insert_with(Vec::new).extend(body),
            }
        }
        match (text, bytes) {
            (Some(t), None) => Some(Lit::Str(t)),
            (None, Some(b)) => Some(Lit::Bytes(b)),
            _ => None,
        }
    }

    /// The contents of one quoted literal, escapes applied (UTF-8 bytes).
    fn string_body(&mut self, raw: bool, is_bytes: bool) -> Option<Vec<u8>> {
        let q = self.peek()?;
        let triple = self.s[self.pos..].starts_with(&[q, q, q]);
        self.pos += if triple { 3 } else { 1 };
        let mut out = Vec::new();
        loop {
            let c = self.peek()?; // end of input: unterminated string
            if c == q && (!triple || self.s[self.pos..].starts_with(&[q, q, q])) {
                self.pos += if triple { 3 } else { 1 };
                return Some(out);
            }
            if c == b'\n' && !triple {
                return None;
            }
            if is_bytes && c >= 0x80 {
                return None; // bytes literals are ASCII only
            }
            if c != b'\\' {
                out.push(c);
                self.pos += 1;
                continue;
            }
            let e = *self.s.get(self.pos + 1)?;
            if raw {
                // In raw strings a backslash only stops the next quote from
                // ending the string; both characters are kept.
                out.extend([b'\\', e]);
                self.pos += 2;
                continue;
            }
            self.pos += 2;
            match e {
                b'\n' => {}
                b'\\' | b'\'' | b'"' => out.push(e),
                b'a' => out.push(7),
                b'b' => out.push(8),
                b'f' => out.push(12),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'v' => out.push(11),
                b'0'..=b'7' => {
                    let mut v = (e - b'0') as u32;
                    for _ in 0..2 {
                        match self.peek() {
                            Some(d @ b'0'..=b'7') => {
                                v = v * 8 + (d - b'0') as u32;
                                self.pos += 1;
                            }
                            _ => break,
                        }
                    }
                    push_code(&mut out, v, is_bytes)?;
                }
                b'x' => {
                    let v = self.hex_digits(2)?;
                    push_code(&mut out, v, is_bytes)?;
                }
                b'u' if !is_bytes => {
                    let v = self.hex_digits(4)?;
                    push_code(&mut out, v, false)?;
                }
                b'U' if !is_bytes => {
                    let v = self.hex_digits(8)?;
                    push_code(&mut out, v, false)?;
                }
                b'N' if !is_bytes => return None,    // named escapes: not worth a table
                other => out.extend([b'\\', other]), // unknown escapes are kept
            }
        }
    }

    fn hex_digits(&mut self, n: usize) -> Option<u32> {
        let digits = self.text.get(self.pos..self.pos + n)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.pos += n;
        u32::from_str_radix(digits, 16).ok()
    }

    /// A number literal, unsigned.
    fn number(&mut self) -> Option<Lit> {
        let start = self.pos;
        let rest = &self.text[start..];
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')).unwrap_or(rest.len());
        // An exponent sign belongs to the number: `1e-3`.
        let mut end = end;
        while end < rest.len() {
            let b = rest.as_bytes();
            if matches!(b[end], b'+' | b'-') && end > 0 && matches!(b[end - 1], b'e' | b'E') && !is_prefixed_int(rest) {
                let more = rest[end + 1..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                    .map_or(rest.len(), |i| end + 1 + i);
                end = more;
            } else {
                break;
            }
        }
        let token = &rest[..end];
        self.pos = start + end;
        parse_number(token)
    }
}

fn is_prefixed_int(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 1 && b[0] == b'0' && matches!(b[1], b'x' | b'X' | b'o' | b'O' | b'b' | b'B')
}

fn push_code(out: &mut Vec<u8>, v: u32, is_bytes: bool) -> Option<()> {
    if is_bytes {
        out.push(u8::try_from(v).ok()?);
    } else {
        let mut buf = [0; 4];
        out.extend(char::from_u32(v)?.encode_utf8(&mut buf).as_bytes());
    }
    Some(())
}

/// Digits with single `_` separators between them (Python's rule).
fn digits_ok(s: &str, radix: u32) -> bool {
    !s.is_empty()
        && !s.starts_with('_')
        && !s.ends_with('_')
        && !s.contains("__")
        && s.chars().all(|c| c == '_' || c.is_digit(radix))
}

fn parse_number(token: &str) -> Option<Lit> {
    let lower = token.to_ascii_lowercase();
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(digits) = lower.strip_prefix(prefix) {
            // `0x_1f` is valid: one underscore may follow the prefix.
            let digits = digits.strip_prefix('_').unwrap_or(digits);
            if !digits_ok(digits, radix) {
                return None;
            }
            return Some(match i128::from_str_radix(&digits.replace('_', ""), radix) {
                Ok(v) => Lit::Int(v),
                Err(_) => Lit::BigInt(token.to_string()),
            });
        }
    }
    let (body, imaginary) = match lower.strip_suffix('j') {
        Some(b) => (b, true),
        None => (lower.as_str(), false),
    };
    let (mantissa, exponent) = match body.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (body, None),
    };
    if let Some(e) = exponent {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        if !digits_ok(e, 10) {
            return None;
        }
    }
    let is_float = mantissa.contains('.') || exponent.is_some();
    let mantissa_ok = match mantissa.split_once('.') {
        // `1.`, `.5` and `1.5` are floats; `.` alone is not.
        Some((int, frac)) => {
            !(int.is_empty() && frac.is_empty())
                && (int.is_empty() || digits_ok(int, 10))
                && (frac.is_empty() || digits_ok(frac, 10))
        }
        None => digits_ok(mantissa, 10),
    };
    if !mantissa_ok {
        return None;
    }
    if !is_float && !imaginary {
        // Decimal ints may not have leading zeros, except zero itself.
        let digits = mantissa.replace('_', "");
        if digits.len() > 1 && digits.starts_with('0') && digits.bytes().any(|b| b != b'0') {
            return None;
        }
        return Some(match digits.parse::<i128>() {
            Ok(v) => Lit::Int(v),
            Err(_) => Lit::BigInt(digits),
        });
    }
    let value: f64 = body.replace('_', "").parse().ok()?;
    Some(if imaginary { Lit::Complex(0.0, value) } else { Lit::Float(value) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(s: &str) -> Option<Value> {
        literal_eval(s)
    }

    #[test]
    fn scalars_match_python() {
        assert_eq!(ev("1"), Some(json!(1)));
        assert_eq!(ev("  5 # comment"), Some(json!(5)));
        assert_eq!(ev("-3"), Some(json!(-3)));
        assert_eq!(ev("+1"), Some(json!(1)));
        assert_eq!(ev("1_000"), Some(json!(1000)));
        assert_eq!(ev("0x10"), Some(json!(16)));
        assert_eq!(ev("-0x10"), Some(json!(-16)));
        assert_eq!(ev("0o17"), Some(json!(15)));
        assert_eq!(ev("0b101"), Some(json!(5)));
        assert_eq!(ev("00"), Some(json!(0)));
        assert_eq!(ev("1.5"), Some(json!(1.5)));
        assert_eq!(ev("1."), Some(json!(1.0)));
        assert_eq!(ev(".5"), Some(json!(0.5)));
        assert_eq!(ev("1e3"), Some(json!(1000.0)));
        assert_eq!(ev("1e-2"), Some(json!(0.01)));
        assert_eq!(ev("True"), Some(json!(true)));
        assert_eq!(ev("None"), Some(json!(null)));
        assert_eq!(ev("1j"), Some(json!("1j")));
        assert_eq!(ev("1+2j"), Some(json!("(1+2j)")));
        assert_eq!(ev("..."), Some(json!("...")));
        assert_eq!(ev("12345678901234567890"), Some(json!(12345678901234567890u64)));
    }

    #[test]
    fn strings_match_python() {
        assert_eq!(ev("'x'"), Some(json!("x")));
        assert_eq!(ev(r#""a" 'b'"#), Some(json!("ab")));
        assert_eq!(ev(r#""\x41\n""#), Some(json!("A\n")));
        assert_eq!(ev(r#"r"a\b""#), Some(json!("a\\b")));
        assert_eq!(ev(r#"b"x""#), Some(json!("x")));
        assert_eq!(ev(r#""\d""#), Some(json!("\\d")));
        assert_eq!(ev(r#""""tri"ple""""#), Some(json!("tri\"ple")));
        assert_eq!(ev(r#"u"é""#), Some(json!("é")));
    }

    #[test]
    fn containers_match_python() {
        assert_eq!(ev("[1, 'a', None]"), Some(json!([1, "a", null])));
        assert_eq!(ev("[1,]"), Some(json!([1])));
        assert_eq!(ev("(1, 2)"), Some(json!([1, 2])));
        assert_eq!(ev("(1)"), Some(json!(1)));
        assert_eq!(ev("()"), Some(json!([])));
        assert_eq!(ev("{1, 2}"), Some(json!([1, 2])));
        assert_eq!(ev("{}"), Some(json!({})));
        assert_eq!(ev(r#"{"a": [1, {"b": None}], 2: True}"#), Some(json!({"a": [1, {"b": null}], "2": true})));
    }

    #[test]
    fn non_literals_stay_strings() {
        for s in [
            "yes",
            "none",
            "inf",
            "007",
            "09",
            "5 5",
            "1__0",
            "2**3",
            "--1",
            "-True",
            "'open",
            "{k:1}",
            "a=b",
            "/usr/bin/python3",
            "{{ x }}",
            "",
            "f'x'",
            "[1, 2",
            "1abc",
            "x # c",
            "{[1]: 2}",
        ] {
            assert_eq!(ev(s), None, "{s:?} should not be a literal");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_a_crash() {
        let s = "[".repeat(10_000);
        assert_eq!(ev(&s), None);
    }
}
