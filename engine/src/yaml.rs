//! YAML documents as a tree of nodes that remember where they came from.
//!
//! Playbooks and inventories are validated by walking this tree, so every
//! error (unknown module, wrong type, misspelled argument) can point at the
//! exact key or value. Parsing itself is serde-saphyr's job.

use std::path::Path;
use std::sync::Arc;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::{Spanned, Tagged};

use crate::diagnostic::{Diagnostic, SourceFile, Span};

#[derive(Debug, Clone)]
pub struct Node {
    pub value: NodeValue,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

/// A mapping key. Non-string keys (`80: web`) are kept as their text, the way
/// Ansible ends up treating them in variables.
#[derive(Debug, Clone)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

impl Node {
    pub fn type_name(&self) -> &'static str {
        match self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Int(_) => "an integer",
            NodeValue::Float(_) => "a number",
            NodeValue::Str(_) => "a string",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            NodeValue::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            NodeValue::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, NodeValue::Null)
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().find(|(k, _)| k.name == key).map(|(_, v)| v)
    }

    /// A mapping, or an error naming what was expected where.
    pub fn expect_map(&self, what: &str) -> Result<&[(Key, Node)], Diagnostic> {
        match &self.value {
            NodeValue::Map(m) => Ok(m),
            NodeValue::Null => Ok(&[]),
            _ => Err(self.type_error(what, "a mapping")),
        }
    }

    pub fn expect_seq(&self, what: &str) -> Result<&[Node], Diagnostic> {
        match &self.value {
            NodeValue::Seq(s) => Ok(s),
            NodeValue::Null => Ok(&[]),
            _ => Err(self.type_error(what, "a list")),
        }
    }

    /// A scalar as text: strings, numbers and booleans all qualify, since
    /// YAML turns `port: 22` into a number that users mean as text.
    pub fn expect_scalar_text(&self, what: &str) -> Result<String, Diagnostic> {
        self.scalar_text().ok_or_else(|| self.type_error(what, "a string"))
    }

    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            NodeValue::Str(s) => Some(s.clone()),
            NodeValue::Int(i) => Some(i.to_string()),
            NodeValue::Float(f) => Some(f.to_string()),
            NodeValue::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn type_error(&self, what: &str, expected: &str) -> Diagnostic {
        Diagnostic::at(&self.span, format!("{what} must be {expected}, found {}", self.type_name()))
    }

    /// The plain data, for variables and module arguments.
    pub fn to_json(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => Value::from(*i),
            NodeValue::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            NodeValue::Str(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => {
                Value::Object(entries.iter().map(|(k, v)| (k.name.clone(), v.to_json())).collect())
            }
        }
    }
}

/// Parse one YAML document. An empty file is `null`.
pub fn parse(file: &Arc<SourceFile>) -> Result<Node, Diagnostic> {
    if file.text.trim().is_empty() {
        return Ok(Node { value: NodeValue::Null, span: file.span(1, 1, 1) });
    }
    let raw: RawNode = serde_saphyr::from_str(&file.text).map_err(|e| {
        let plain = e.without_snippet().to_string();
        // The library prefixes "error: line L column C: "; we show the place ourselves.
        let message = plain.lines().next().unwrap_or("invalid YAML").to_string();
        let message = message
            .strip_prefix("error: ")
            .and_then(|m| m.split_once(": ").filter(|(p, _)| p.starts_with("line ")).map(|(_, m)| m))
            .unwrap_or(&message)
            .to_string();
        let diag = Diagnostic::new(format!("invalid YAML: {message}"));
        match e.location() {
            Some(loc) => Diagnostic { span: Some(file.span(loc.line() as usize, loc.column() as usize, 1)), ..diag },
            None => diag,
        }
        .with_hint("check indentation and quoting; a value that starts with `{{` must be quoted")
    })?;
    let node = convert(file, raw)?;
    if file.vaulted {
        remember_strings(&node);
    }
    Ok(node)
}

/// Every string of a vaulted file is a secret.
fn remember_strings(node: &Node) {
    match &node.value {
        NodeValue::Str(s) => crate::vault::remember_secret(s),
        NodeValue::Seq(items) => items.iter().for_each(remember_strings),
        NodeValue::Map(entries) => entries.iter().for_each(|(_, v)| remember_strings(v)),
        _ => {}
    }
}

/// Read and parse a YAML file.
pub fn load(path: &Path) -> Result<(Arc<SourceFile>, Node), Diagnostic> {
    let file = read_source(path)?;
    let node = parse(&file)?;
    Ok((file, node))
}

/// Read a file of YAML; a vaulted one (`ansible-vault encrypt`) is opened
/// with the run's vault passwords.
pub fn read_source(path: &Path) -> Result<Arc<SourceFile>, Diagnostic> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Diagnostic::new(format!("cannot read {}: {e}", path.display())))?;
    if !crate::vault::is_vaulted(text.as_bytes()) {
        return Ok(SourceFile::new(path, text));
    }
    let plain = crate::vault::open_text(&text).map_err(|e| {
        let sealed = SourceFile::new(path, text.clone());
        vault_error(&sealed.span(1, 1, text.lines().next().map_or(1, str::len)), &e)
    })?;
    Ok(SourceFile::vaulted(path, plain.as_str()))
}

fn vault_error(span: &Span, e: &crate::vault::OpenError) -> Diagnostic {
    Diagnostic::at(span, format!("cannot open vaulted value: {e}")).with_hint(crate::vault::hint(e))
}

/// The value of a `!vault |` scalar, opened.
fn open_inline_vault(span: &Span, text: &str) -> Result<String, Diagnostic> {
    let plain = crate::vault::open_text(text).map_err(|e| {
        // The caret covers the header line, not the whole block.
        let header = text.lines().next().map_or(1, |l| l.trim().chars().count());
        vault_error(&Span { len: span.len.min(header.max(1)), ..span.clone() }, &e)
    })?;
    crate::vault::remember_secret(&plain);
    Ok(plain.to_string())
}

fn span_of(file: &Arc<SourceFile>, loc: &serde_saphyr::Location) -> Span {
    file.span(loc.line() as usize, loc.column() as usize, loc.span().len().max(1) as usize)
}

/// Ansible's tag for an inline vaulted value.
const VAULT_TAG: &str = "!vault";

/// Ansible's tag for a value that is never templated.
const UNSAFE_TAG: &str = "!unsafe";

/// The source text of a node where it was defined (an alias's target).
fn source_text<'f>(file: &'f SourceFile, loc: &serde_saphyr::Location) -> Option<&'f str> {
    let span = loc.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    file.text.get(start..start + len)
}

/// Is the scalar at `loc` written plain (not quoted, not a `|`/`>` block)?
/// Only plain scalars get an implicit type in YAML.
fn is_plain(file: &SourceFile, loc: &serde_saphyr::Location) -> bool {
    let Some(start) = loc.span().byte_offset().and_then(|o| usize::try_from(o).ok()) else {
        return false;
    };
    let text = &file.text;
    if text[start..].starts_with(['\'', '"']) {
        return false;
    }
    // A block scalar's span starts at its content, on a line after the
    // `|` or `>` header: look at what precedes it.
    let before = text[..start].trim_end_matches([' ', '\t']);
    if !before.ends_with('\n') && !before.is_empty() {
        return true;
    }
    let header = before.trim_end();
    let last_line = header.rsplit('\n').next().unwrap_or(header);
    let last_line = last_line.split(" #").next().unwrap_or(last_line).trim_end();
    !block_header().is_match(last_line)
}

fn block_header() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"(^|[\s:\-?])[|>]([-+][0-9]?|[0-9][-+]?)?$").expect("valid"))
}

/// A plain scalar as PyYAML's YAML 1.1 resolver types it, which is what
/// Ansible sees: `yes`/`on` are booleans but `y`/`n` stay text, `0644` is
/// octal (420), `0o644` is text, `1_000` is 1000, `1:30` is 90 (base 60),
/// `1e3` is text but `1.0e+3` a number.
fn resolve_plain(text: &str) -> Raw {
    static BOOL: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    static INT: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    static FLOAT: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = |cell: &'static std::sync::OnceLock<regex::Regex>, pattern: &str| -> &'static regex::Regex {
        cell.get_or_init(|| regex::Regex::new(pattern).expect("valid"))
    };
    // The patterns are PyYAML's (yaml/resolver.py), anchored.
    let bool_re = re(&BOOL, r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$");
    let int_re = re(
        &INT,
        r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
    );
    let float_re = re(
        &FLOAT,
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
    );
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Raw::Null,
        _ => {}
    }
    if bool_re.is_match(text) {
        return Raw::Bool(matches!(text, "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON"));
    }
    if int_re.is_match(text) {
        if let Some(raw) = construct_int(text) {
            return raw;
        }
    }
    if float_re.is_match(text) {
        if let Some(f) = construct_float(text) {
            return Raw::Float(f);
        }
    }
    Raw::Str(text.to_string())
}

/// Would PyYAML read `text`, written plain, back as this same text? Not when
/// it would become a boolean, number, null or date: those need quotes.
pub(crate) fn plain_stays_text(text: &str) -> bool {
    static TIMESTAMP: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let timestamp = TIMESTAMP.get_or_init(|| {
        regex::Regex::new(
            r"^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$",
        )
        .expect("valid")
    });
    matches!(resolve_plain(text), Raw::Str(_)) && !timestamp.is_match(text) && text != "=" && text != "<<"
}

/// PyYAML's construct_yaml_int.
fn construct_int(text: &str) -> Option<Raw> {
    let digits = text.replace('_', "");
    let (sign, digits) = match digits.as_bytes().first() {
        Some(b'-') => (-1i128, &digits[1..]),
        Some(b'+') => (1, &digits[1..]),
        _ => (1, &digits[..]),
    };
    let magnitude: i128 = if digits == "0" {
        0
    } else if let Some(bin) = digits.strip_prefix("0b") {
        i128::from_str_radix(bin, 2).ok()?
    } else if let Some(hex) = digits.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = digits.strip_prefix('0') {
        i128::from_str_radix(oct, 8).ok()?
    } else if digits.contains(':') {
        digits.split(':').try_fold(0i128, |acc, part| acc.checked_mul(60)?.checked_add(part.parse().ok()?))?
    } else {
        digits.parse().ok()?
    };
    let value = sign * magnitude;
    Some(i64::try_from(value).map_or(Raw::Float(value as f64), Raw::Int))
}

/// PyYAML's construct_yaml_float.
fn construct_float(text: &str) -> Option<f64> {
    let lower = text.replace('_', "").to_ascii_lowercase();
    let (sign, rest) = match lower.as_bytes().first() {
        Some(b'-') => (-1.0, &lower[1..]),
        Some(b'+') => (1.0, &lower[1..]),
        _ => (1.0, &lower[..]),
    };
    let magnitude = if rest == ".inf" {
        f64::INFINITY
    } else if rest == ".nan" {
        f64::NAN
    } else if rest.contains(':') {
        rest.split(':').try_fold(0.0f64, |acc, part| Some(acc * 60.0 + part.parse::<f64>().ok()?))?
    } else {
        rest.parse().ok()?
    };
    Some(sign * magnitude)
}

/// An `!unsafe` string: its template characters are kept as text, the way
/// Ansible never templates such a value.
fn unsafe_text(s: String) -> String {
    if crate::template::is_template(&s) {
        format!("{{% raw %}}{s}{{% endraw %}}")
    } else {
        s
    }
}

/// `!unsafe` on a list or mapping covers every string inside it.
fn mark_unsafe(node: &mut Node) {
    match &mut node.value {
        NodeValue::Str(s) => *s = unsafe_text(std::mem::take(s)),
        NodeValue::Seq(items) => items.iter_mut().for_each(mark_unsafe),
        NodeValue::Map(entries) => entries.iter_mut().for_each(|(_, v)| mark_unsafe(v)),
        _ => {}
    }
}

/// A scalar's type as Ansible's YAML loader gives it (see [`resolve_plain`]).
fn retype(file: &SourceFile, loc: &serde_saphyr::Location, raw: Raw) -> Raw {
    match raw {
        Raw::Seq(_) | Raw::Map(_) => raw,
        // serde-saphyr folds a multi-line plain scalar: its value, not its source, is typed.
        Raw::Str(s) if is_plain(file, loc) => resolve_plain(&s),
        Raw::Str(_) => raw,
        // Quoted text is a string: only plain scalars reach here as these.
        other => match source_text(file, loc) {
            Some(text) => resolve_plain(text.trim_end()),
            None => other,
        },
    }
}

fn convert(file: &Arc<SourceFile>, raw: RawNode) -> Result<Node, Diagnostic> {
    // `referenced` is where an alias was used; errors belong there.
    let span = span_of(file, &raw.referenced);
    let defined = raw.defined;
    let Tagged(raw, tag) = raw.value;
    let raw = match tag.as_deref() {
        None => retype(file, &defined, raw),
        Some(UNSAFE_TAG) => {
            let raw = match raw {
                Raw::Str(s) => Raw::Str(unsafe_text(s)),
                Raw::Seq(_) | Raw::Map(_) => {
                    let mut node = convert(file, Spanned::new(Tagged(raw, None), defined, defined))?;
                    mark_unsafe(&mut node);
                    return Ok(Node { span, ..node });
                }
                // `!unsafe 0644` is the text `0644`.
                other => Raw::Str(unsafe_text(
                    source_text(file, &defined).map_or_else(|| other.into_key_text(), |t| t.trim_end().to_string()),
                )),
            };
            raw
        }
        Some(_) => raw,
    };
    let value = match raw {
        Raw::Str(s) if tag.as_deref() == Some(VAULT_TAG) => NodeValue::Str(open_inline_vault(&span, &s)?),
        _ if tag.as_deref() == Some(VAULT_TAG) => {
            return Err(Diagnostic::at(
                &span,
                "a `!vault` value must be the text `ansible-vault encrypt_string` printed",
            )
            .with_hint("write it as `!vault |` followed by the indented `$ANSIBLE_VAULT;...` lines"));
        }
        Raw::Null => NodeValue::Null,
        Raw::Bool(b) => NodeValue::Bool(b),
        Raw::Int(i) => NodeValue::Int(i),
        Raw::Float(f) => NodeValue::Float(f),
        Raw::Str(s) => NodeValue::Str(s),
        Raw::Seq(items) => NodeValue::Seq(items.into_iter().map(|n| convert(file, n)).collect::<Result<_, _>>()?),
        Raw::Map(entries) => NodeValue::Map(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let key_raw = match k.value.1 {
                        None => retype(file, &k.defined, k.value.0),
                        Some(_) => k.value.0,
                    };
                    let key = Key { span: span_of(file, &k.referenced), name: key_raw.into_key_text() };
                    Ok((key, convert(file, v)?))
                })
                .collect::<Result<_, Diagnostic>>()?,
        ),
    };
    Ok(Node { value, span })
}

/// A node as serde-saphyr hands it over: where it is, and its tag.
type RawNode = Spanned<Tagged<Raw>>;

/// What serde-saphyr hands us, before spans are tied to a file.
#[derive(Debug, PartialEq)]
enum Raw {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<RawNode>),
    Map(Vec<(RawNode, RawNode)>),
}

impl Raw {
    fn into_key_text(self) -> String {
        match self {
            Raw::Null => String::new(),
            // Python's str() of the key PyYAML made.
            Raw::Bool(true) => "True".to_string(),
            Raw::Bool(false) => "False".to_string(),
            Raw::Int(i) => i.to_string(),
            Raw::Float(f) => f.to_string(),
            Raw::Str(s) => s,
            Raw::Seq(_) | Raw::Map(_) => "<complex key>".to_string(),
        }
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(i64::try_from(v).map_or(Raw::Float(v as f64), Raw::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = access.next_element()? {
            items.push(item);
        }
        Ok(Raw::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = access.next_entry()? {
            entries.push(entry);
        }
        Ok(Raw::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Raw, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Node, Diagnostic> {
        parse(&SourceFile::new("t.yml", text))
    }

    #[test]
    fn keeps_positions_of_keys_and_values() {
        let node = parse_str("- hosts: all\n  tasks:\n    - copy: {dest: /x}\n").unwrap();
        let play = &node.as_seq().unwrap()[0];
        let tasks = play.get("tasks").unwrap().as_seq().unwrap();
        let (key, value) = &tasks[0].as_map().unwrap()[0];
        assert_eq!((key.name.as_str(), key.span.line, key.span.col), ("copy", 3, 7));
        assert_eq!(value.get("dest").unwrap().as_str(), Some("/x"));
    }

    #[test]
    fn yaml_types_follow_ansible_expectations() {
        let node = parse_str("a: yes\nb: '010'\nc: 22\nd: ~\n").unwrap();
        assert_eq!(node.to_json(), serde_json::json!({"a": true, "b": "010", "c": 22, "d": null}));
    }

    #[test]
    fn syntax_error_points_at_line_and_column() {
        let err = parse_str("- hosts: [a\n").unwrap_err();
        let span = err.span.as_ref().unwrap();
        assert_eq!(span.line, 1);
        assert!(err.message.starts_with("invalid YAML"), "{}", err.message);
    }

    /// Unit tests share one process: every test that opens vaults uses this password.
    fn install_test_vault_password() {
        crate::vault::install(crate::vault::Keyring::with_password("default", b"yaml-test"));
    }

    fn vault_block(plain: &str) -> String {
        let sealed = crate::vault::format::encrypt(plain.as_bytes(), b"yaml-test", None);
        sealed.lines().map(|l| format!("  {l}\n")).collect()
    }

    #[test]
    fn inline_vault_values_are_opened_and_remembered_as_secrets() {
        install_test_vault_password();
        let text = format!("user: app\npassword: !vault |\n{}port: 5432\n", vault_block("yaml-inline-secret"));
        let node = parse_str(&text).unwrap();
        assert_eq!(node.to_json(), serde_json::json!({"user": "app", "password": "yaml-inline-secret", "port": 5432}));
        assert!(crate::vault::carries_secret(b"pw=yaml-inline-secret;"));
        assert!(!crate::vault::carries_secret(b"app"));
    }

    #[test]
    fn a_vaulted_file_is_opened_and_its_lines_never_quoted() {
        install_test_vault_password();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vars.yml");
        let sealed = crate::vault::format::encrypt(b"token: yaml-file-secret\nbad: [\n", b"yaml-test", None);
        std::fs::write(&path, sealed).unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("vars.yml:"), "{err}");
        assert!(!err.contains("yaml-file-secret") && !err.contains("bad: ["), "{err}");
        std::fs::write(&path, crate::vault::format::encrypt(b"token: yaml-file-secret\n", b"yaml-test", None)).unwrap();
        assert_eq!(load(&path).unwrap().1.to_json(), serde_json::json!({"token": "yaml-file-secret"}));
        assert!(crate::vault::carries_secret(b"x yaml-file-secret x"));
    }

    #[test]
    fn a_vault_tag_on_a_mapping_is_an_error_at_its_place() {
        install_test_vault_password();
        let err = parse_str("a: 1\nb: !vault {x: 1}\n").unwrap_err();
        assert_eq!(err.span.unwrap().line, 2);
    }

    /// Plain scalars and what Ansible's YAML loader (PyYAML 6, YAML 1.1)
    /// makes of them, recorded with
    /// `/opt/ansible/bin/python3 -c 'yaml.load("k: " + v, Loader=AnsibleLoader)'`
    /// (ansible-core 2.19); `live_ansible_yaml_scalars_agree` re-checks them.
    const PYYAML_SCALARS: &[(&str, &str)] = &[
        ("y", r#""y""#),
        ("n", r#""n""#),
        ("Y", r#""Y""#),
        ("N", r#""N""#),
        ("yes", "true"),
        ("Yes", "true"),
        ("YES", "true"),
        ("yEs", r#""yEs""#),
        ("no", "false"),
        ("on", "true"),
        ("On", "true"),
        ("ON", "true"),
        ("off", "false"),
        ("oN", r#""oN""#),
        ("true", "true"),
        ("TRUE", "true"),
        ("tRue", r#""tRue""#),
        ("false", "false"),
        ("0644", "420"),
        ("644", "644"),
        ("0755", "493"),
        ("0o644", r#""0o644""#),
        ("0x1F", "31"),
        ("0b101", "5"),
        ("1_000", "1000"),
        ("1:30", "90"),
        ("190:20:30", "685230"),
        ("-0644", "-420"),
        ("+12", "12"),
        ("08", r#""08""#),
        ("0", "0"),
        ("00", "0"),
        ("0_7", "7"),
        ("1e3", r#""1e3""#),
        ("1.0e3", r#""1.0e3""#),
        ("1.0e+3", "1000.0"),
        (".5", "0.5"),
        ("-.5", r#""-.5""#),
        ("1.", "1.0"),
        ("1.5", "1.5"),
        ("1:3.5", "63.5"),
        ("~", "null"),
        ("null", "null"),
        ("NULL", "null"),
        ("nUll", r#""nUll""#),
        ("", "null"),
        ("2001-12-14", r#""2001-12-14""#),
        ("12:30:45", "45045"),
        ("1.2.3", r#""1.2.3""#),
        ("0.10", "0.1"),
    ];

    #[test]
    fn plain_scalars_are_typed_as_pyyaml_does() {
        for (text, want) in PYYAML_SCALARS {
            let node = parse_str(&format!("k: {text}\n")).unwrap();
            let got = node.get("k").unwrap().to_json();
            let want: serde_json::Value = serde_json::from_str(want).unwrap();
            assert_eq!(got, want, "k: {text}");
        }
    }

    #[test]
    fn quoted_block_and_tagged_scalars_stay_text() {
        let text = "a: 'yes'\nb: \"0644\"\nc: !!str 0644\nd: |-\n  yes\ne: >-\n  0644\nf: [y, n, on]\ng:\n  yes\n";
        let node = parse_str(text).unwrap();
        assert_eq!(
            node.to_json(),
            serde_json::json!({"a": "yes", "b": "0644", "c": "0644", "d": "yes", "e": "0644", "f": ["y", "n", true], "g": true})
        );
    }

    #[test]
    fn keys_are_typed_as_pyyaml_does() {
        // `{y: 1, n: 2}` keeps both keys; a YAML 1.1 boolean key is Python's `True`.
        let node = parse_str("{y: 1, n: 2}\n").unwrap();
        assert_eq!(node.to_json(), serde_json::json!({"y": 1, "n": 2}));
        let node = parse_str("yes: 1\n0644: 2\n").unwrap();
        assert_eq!(node.to_json(), serde_json::json!({"True": 1, "420": 2}));
    }

    #[test]
    fn unsafe_values_are_never_templated() {
        let text = "a: !unsafe '{{ lookup(\"pipe\", \"id\") }}'\nb: !unsafe 0644\nc: !unsafe ['{% x %}', plain]\nd: !unsafe\n  k: '{{ y }}'\n";
        let node = parse_str(text).unwrap();
        let vars = node.to_json();
        assert_eq!(vars["b"], serde_json::json!("0644"));
        let scope = crate::template::Scope::new(vec![Arc::new(serde_json::Map::new())], Default::default());
        let rendered = scope.render_json(&vars, crate::template::Mode::Plain).unwrap();
        assert_eq!(
            rendered,
            serde_json::json!({"a": "{{ lookup(\"pipe\", \"id\") }}", "b": "0644", "c": ["{% x %}", "plain"], "d": {"k": "{{ y }}"}})
        );
    }

    /// Compares [`PYYAML_SCALARS`] with the YAML loader of the installed
    /// ansible-core. `tests/run` leaves this out when Ansible is missing.
    #[test]
    fn live_ansible_yaml_scalars_agree() {
        let script = r#"
import json, sys
import yaml
from ansible.parsing.yaml.loader import AnsibleLoader
for line in sys.stdin.read().splitlines():
    v = yaml.load("k: " + json.loads(line) + "\n", Loader=AnsibleLoader)["k"]
    if type(v).__name__.endswith("Date"):
        v = str(v)
    print(json.dumps(v))
"#;
        let lines = crate::test_python::ansible_json_lines(script, &[], PYYAML_SCALARS.iter().map(|(t, _)| *t));
        assert_eq!(lines.len(), PYYAML_SCALARS.len());
        for ((text, recorded), theirs) in PYYAML_SCALARS.iter().zip(lines) {
            let recorded: serde_json::Value = serde_json::from_str(recorded).unwrap();
            assert_eq!(recorded, theirs, "PyYAML reads `k: {text}` differently than recorded");
            let ours = parse_str(&format!("k: {text}\n")).unwrap().get("k").unwrap().to_json();
            assert_eq!(ours, theirs, "k: {text}");
        }
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse_str("a: 1\na: 2\n").unwrap_err();
        assert_eq!(err.span.unwrap().line, 2);
    }
}
