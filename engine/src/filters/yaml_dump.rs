//! `to_yaml` and `to_nice_yaml` as Ansible writes them: PyYAML's emitter
//! with keys sorted, block style, sequences in a mapping not indented, and
//! (for `to_yaml`) collections of scalars only in flow style. Text in block
//! style is folded past column 80 as PyYAML folds it; text inside a flow
//! collection is not.

use minijinja::value::{Kwargs, Value};
use minijinja::Error;
use serde_json::Value as J;

/// Dump `v`; `flow_leaves` is PyYAML's `default_flow_style=None`.
pub fn dump(v: &Value, indent: usize, kwargs: Kwargs, flow_leaves: bool) -> Result<String, Error> {
    let indent = kwargs.get::<Option<usize>>("indent")?.unwrap_or(indent).clamp(2, 9);
    let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(true);
    let explicit_start = kwargs.get::<Option<bool>>("explicit_start")?.unwrap_or(false);
    let style = match kwargs.get::<Option<Value>>("default_flow_style")? {
        Some(v) if v.is_none() => Style::FlowLeaves,
        Some(v) if v.is_true() => Style::Flow,
        Some(_) => Style::Block,
        None if flow_leaves => Style::FlowLeaves,
        None => Style::Block,
    };
    // Ansible passes these on to PyYAML; they change nothing here.
    let _ = kwargs.get::<Option<Value>>("width")?;
    let _ = kwargs.get::<Option<Value>>("allow_unicode")?;
    kwargs.assert_all_used()?;
    let json = serde_json::to_value(v).map_err(|e| super::invalid(e.to_string()))?;
    let dumper = Dumper { indent, sort_keys, style };
    let mut text = dumper.block(&json, 0).join("\n");
    text.push('\n');
    if explicit_start {
        text.insert_str(0, "--- ");
    }
    Ok(text)
}

#[derive(Clone, Copy, PartialEq)]
enum Style {
    Block,
    Flow,
    FlowLeaves,
}

struct Dumper {
    indent: usize,
    sort_keys: bool,
    style: Style,
}

fn is_collection(v: &J) -> bool {
    matches!(v, J::Array(a) if !a.is_empty()) || matches!(v, J::Object(m) if !m.is_empty())
}

impl Dumper {
    fn entries<'v>(&self, map: &'v serde_json::Map<String, J>) -> Vec<(&'v String, &'v J)> {
        let mut entries: Vec<_> = map.iter().collect();
        if self.sort_keys {
            entries.sort_by(|a, b| a.0.cmp(b.0));
        }
        entries
    }

    /// Written on one line (flow style or a scalar)?
    fn inline(&self, v: &J) -> bool {
        match self.style {
            _ if !is_collection(v) => true,
            Style::Flow => true,
            Style::Block => false,
            Style::FlowLeaves => match v {
                J::Array(items) => items.iter().all(|i| !is_collection(i)),
                J::Object(map) => map.values().all(|i| !is_collection(i)),
                _ => true,
            },
        }
    }

    /// The lines of `v` as a block node whose first line starts at `col`.
    fn block(&self, v: &J, col: usize) -> Vec<String> {
        let pad = " ".repeat(col);
        if self.inline(v) {
            return vec![format!("{pad}{}", self.flow(v, col, false, col))];
        }
        let mut lines = Vec::new();
        match v {
            J::Object(map) => {
                for (k, item) in self.entries(map) {
                    let key = scalar_text(k, col, self.indent, false, None);
                    if self.inline(item) {
                        let start = col + key.chars().count() + 2;
                        lines.push(format!("{pad}{key}: {}", self.flow(item, col, false, start)));
                    } else if item.is_array() {
                        lines.push(format!("{pad}{key}:"));
                        lines.extend(self.block(item, col));
                    } else {
                        lines.push(format!("{pad}{key}:"));
                        lines.extend(self.block(item, col + self.indent));
                    }
                }
            }
            J::Array(items) => {
                for item in items {
                    if self.inline(item) {
                        lines.push(format!("{pad}- {}", self.flow(item, col, false, col + 2)));
                    } else {
                        let inner_col = col + self.indent;
                        let mut inner = self.block(item, inner_col);
                        let first = &inner[0][inner_col..];
                        inner[0] = format!("{pad}-{}{first}", " ".repeat(self.indent - 1));
                        lines.extend(inner);
                    }
                }
            }
            _ => unreachable!("scalars are inline"),
        }
        lines
    }

    /// `v` on one line: a scalar, or a collection in flow style. `start`:
    /// the column it starts at, for folding block text.
    fn flow(&self, v: &J, col: usize, in_flow: bool, start: usize) -> String {
        match v {
            J::Array(items) => {
                format!("[{}]", items.iter().map(|i| self.flow(i, col, true, 0)).collect::<Vec<_>>().join(", "))
            }
            J::Object(map) => format!(
                "{{{}}}",
                self.entries(map)
                    .into_iter()
                    .map(|(k, i)| {
                        format!("{}: {}", scalar_text(k, col, self.indent, true, None), self.flow(i, col, true, 0))
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            J::Null => "null".into(),
            J::Bool(b) => b.to_string(),
            J::Number(n) => match n.as_f64() {
                Some(f) if n.is_f64() => python_float(f),
                _ => n.to_string(),
            },
            J::String(s) => scalar_text(s, col, self.indent, in_flow, (!in_flow).then_some(start)),
        }
    }
}

fn python_float(f: f64) -> String {
    if f.is_nan() {
        ".nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { ".inf" } else { "-.inf" }.into()
    } else if f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// Can `s` be written without quotes?
fn plain_allowed(s: &str, in_flow: bool) -> bool {
    if s.is_empty() || s.contains('\n') || s != s.trim() || !crate::yaml::plain_stays_text(s) {
        return false;
    }
    let first = s.chars().next().unwrap_or(' ');
    let second = s.chars().nth(1);
    if ",[]{}#&*!|>'\"%@`".contains(first) {
        return false;
    }
    if "-?:".contains(first) && second.is_none_or(|c| c == ' ') {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    if in_flow && s.contains([',', '[', ']', '{', '}', '?']) {
        return false;
    }
    s.chars().all(|c| c == '\t' || !c.is_control())
}

/// PyYAML's best_width.
const WIDTH: usize = 80;

/// PyYAML's folding: a single space between words, met past column 80,
/// becomes a line break and the continuation indent. `column`: where the
/// text starts.
fn fold(text: &str, mut column: usize, continuation: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let single_space =
            c == ' ' && i > 0 && chars[i - 1] != ' ' && chars.get(i + 1).is_some_and(|&n| n != ' ' && n != '\n');
        if single_space && column > WIDTH {
            out.push('\n');
            out.push_str(&" ".repeat(continuation));
            column = continuation;
        } else if c == '\n' {
            out.push(c);
            column = 0;
        } else {
            out.push(c);
            column += 1;
        }
    }
    out
}

/// A string as PyYAML writes it: plain if it can be, else single-quoted
/// (a line break written as an empty line), else double-quoted; in block
/// style (`start` given) folded past column 80.
fn scalar_text(s: &str, col: usize, indent: usize, in_flow: bool, start: Option<usize>) -> String {
    if plain_allowed(s, in_flow) {
        return match start {
            Some(start) => fold(s, start, col + indent),
            None => s.to_string(),
        };
    }
    if s.chars().any(|c| c != '\n' && c != '\t' && c.is_control()) {
        return super::python_json(&J::String(s.to_string()), None, false);
    }
    let continuation = format!("\n{}", " ".repeat(col + indent));
    let quoted = s.replace('\'', "''");
    let lines: Vec<&str> = quoted.split('\n').collect();
    let mut out = String::from("'");
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(&continuation);
        }
        out.push_str(line);
    }
    out.push('\'');
    match start {
        // The quotes stay on their words: PyYAML never breaks at the text's ends.
        Some(start) => fold(&out, start, col + indent),
        None => out,
    }
}
