//! Module arguments: declared parameters, checked once, read with types.

use serde_json::{Map, Value};
use thiserror::Error;

/// The type a parameter takes. Values are coerced the way Ansible does
/// (`"yes"` is a bool, `"0644"` and `420` are both modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Bool,
    Int,
    /// A list of strings; a comma-separated string is accepted too.
    List,
    Map,
    /// A file mode: octal string ("0644") or symbolic ("u=rw,g=r"), or an int.
    Mode,
    /// Anything (checked by the module).
    Any,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Str => "a string",
            Kind::Bool => "a boolean",
            Kind::Int => "an integer",
            Kind::List => "a list",
            Kind::Map => "a mapping",
            Kind::Mode => "a file mode like \"0644\"",
            Kind::Any => "a value",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    /// Allowed values, empty for any.
    pub choices: &'static [&'static str],
    pub aliases: &'static [&'static str],
}

impl Param {
    pub const fn new(name: &'static str, kind: Kind) -> Param {
        Param { name, kind, required: false, choices: &[], aliases: &[] }
    }
    pub const fn required(mut self) -> Param {
        self.required = true;
        self
    }
    pub const fn choices(mut self, choices: &'static [&'static str]) -> Param {
        self.choices = choices;
        self
    }
    pub const fn aliases(mut self, aliases: &'static [&'static str]) -> Param {
        self.aliases = aliases;
        self
    }
}

/// Something wrong with a task's arguments. `name` is the argument as the
/// user wrote it, so the engine can point at it in the playbook.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum ArgError {
    #[error("unsupported argument `{name}`")]
    Unknown { name: String, suggestion: Option<String>, valid: Vec<String> },
    #[error("missing required argument `{name}`")]
    Missing { name: String },
    #[error("argument `{name}` must be {expected}, found {found}")]
    Type { name: String, expected: &'static str, found: String },
    #[error("argument `{name}` must be one of {}, found `{found}`", choices.join(", "))]
    Choice { name: String, found: String, choices: Vec<String>, suggestion: Option<String> },
    #[error("{message}")]
    Invalid { name: Option<String>, message: String, hint: Option<String> },
}

impl ArgError {
    pub fn invalid(name: &str, message: impl Into<String>) -> ArgError {
        ArgError::Invalid { name: Some(name.to_string()), message: message.into(), hint: None }
    }

    /// An error about no argument in particular (a rendering failure...).
    pub fn general(message: impl Into<String>) -> ArgError {
        ArgError::Invalid { name: None, message: message.into(), hint: None }
    }

    /// What to do about an `Invalid` error (the others make their own).
    pub fn with_hint(mut self, text: impl Into<String>) -> ArgError {
        if let ArgError::Invalid { hint, .. } = &mut self {
            *hint = Some(text.into());
        }
        self
    }

    /// The argument this error is about, to point at it.
    pub fn arg_name(&self) -> Option<&str> {
        match self {
            ArgError::Unknown { name, .. }
            | ArgError::Missing { name }
            | ArgError::Type { name, .. }
            | ArgError::Choice { name, .. } => Some(name),
            ArgError::Invalid { name, .. } => name.as_deref(),
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            ArgError::Unknown { suggestion: Some(s), .. } | ArgError::Choice { suggestion: Some(s), .. } => {
                Some(format!("did you mean `{s}`?"))
            }
            ArgError::Unknown { valid, .. } => Some(format!("valid arguments: {}", valid.join(", "))),
            ArgError::Invalid { hint, .. } => hint.clone(),
            _ => None,
        }
    }
}

/// Checked arguments: every key is a declared parameter (aliases resolved to
/// the parameter's name) and every value has the declared type.
#[derive(Debug, Clone, Default)]
pub struct Args {
    values: Map<String, Value>,
}

/// "did you mean": the closest candidate, if it is close enough (a third of
/// the name's length, at least one edit). Shared with the engine's errors.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(d, c)| *d <= (c.len().max(name.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// "a string", "a list"...: a value's type, as error messages say it.
pub fn type_name(v: &Value) -> String {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
    .to_string()
}

/// Ansible's truthy/falsy strings.
pub fn parse_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().and_then(|i| match i {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" | "1" | "y" => Some(true),
            "no" | "false" | "off" | "0" | "n" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn coerce(param: &Param, name: &str, v: Value) -> Result<Value, ArgError> {
    let bad =
        |v: &Value| ArgError::Type { name: name.to_string(), expected: param.kind.describe(), found: type_name(v) };
    let v = match param.kind {
        Kind::Any => v,
        Kind::Str => match v {
            Value::String(_) => v,
            Value::Number(n) => Value::String(n.to_string()),
            Value::Bool(b) => Value::String(b.to_string()),
            other => return Err(bad(&other)),
        },
        Kind::Bool => Value::Bool(parse_bool(&v).ok_or_else(|| bad(&v))?),
        Kind::Int => match &v {
            Value::Number(n) if n.is_i64() => v,
            Value::String(s) => Value::from(s.trim().parse::<i64>().map_err(|_| bad(&v))?),
            _ => return Err(bad(&v)),
        },
        Kind::List => match v {
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|i| match i {
                        Value::String(_) => Ok(i),
                        Value::Number(n) => Ok(Value::String(n.to_string())),
                        other => Err(bad(&other)),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Value::String(s) => Value::Array(
                s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.into())).collect(),
            ),
            other => return Err(bad(&other)),
        },
        Kind::Map => match v {
            Value::Object(_) => v,
            other => return Err(bad(&other)),
        },
        Kind::Mode => match &v {
            // YAML reads an unquoted 0644 as the integer 644 (or 420 for
            // 0o644); Ansible takes integers as already octal-converted.
            Value::Number(n) if n.is_u64() => Value::String(format!("{:04o}", n.as_u64().unwrap_or(0))),
            Value::String(s) if is_mode(s) => v,
            _ => return Err(bad(&v)),
        },
    };
    if !param.choices.is_empty() {
        let text = match &v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if !param.choices.contains(&text.as_str()) {
            return Err(ArgError::Choice {
                name: name.to_string(),
                suggestion: suggest(&text, param.choices.iter().copied()).map(str::to_string),
                choices: param.choices.iter().map(|c| c.to_string()).collect(),
                found: text,
            });
        }
    }
    Ok(v)
}

fn is_mode(s: &str) -> bool {
    let octal = !s.is_empty() && s.len() <= 5 && s.chars().all(|c| c.is_digit(8));
    let symbolic = !s.is_empty()
        && s.split(',').all(|clause| {
            let (who, rest) = clause.split_at(clause.find(['=', '+', '-']).unwrap_or(clause.len()));
            who.chars().all(|c| "ugoa".contains(c))
                && !rest.is_empty()
                && rest[1..].chars().all(|c| "rwxXst".contains(c))
        });
    octal || symbolic
}

impl Args {
    /// Arguments taken as they are, for a module that declares none.
    pub fn unchecked(values: Map<String, Value>) -> Args {
        Args { values }
    }

    /// Check raw arguments against the declared parameters.
    pub fn check(params: &[Param], raw: Map<String, Value>) -> Result<Args, ArgError> {
        let mut values = Map::new();
        for (name, value) in raw {
            let Some(param) = params.iter().find(|p| p.name == name || p.aliases.contains(&name.as_str())) else {
                let mut all: Vec<&str> = params.iter().filter(|p| !p.name.starts_with('_')).map(|p| p.name).collect();
                let with_aliases: Vec<&str> =
                    params.iter().flat_map(|p| std::iter::once(p.name).chain(p.aliases.iter().copied())).collect();
                let suggestion = suggest(&name, with_aliases.iter().copied()).map(str::to_string);
                all.sort_unstable();
                return Err(ArgError::Unknown { name, suggestion, valid: all.iter().map(|s| s.to_string()).collect() });
            };
            // null means "not given", as in Ansible (`mode: ~`).
            if value.is_null() {
                continue;
            }
            let value = coerce(param, &name, value)?;
            values.insert(param.name.to_string(), value);
        }
        for p in params.iter().filter(|p| p.required) {
            if !values.contains_key(p.name) {
                return Err(ArgError::Missing { name: p.name.to_string() });
            }
        }
        Ok(Args { values })
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        self.values.get(name).and_then(Value::as_str)
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        self.values.get(name).and_then(Value::as_bool)
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        self.values.get(name).and_then(Value::as_i64)
    }

    pub fn list(&self, name: &str) -> Vec<String> {
        match self.values.get(name) {
            Some(Value::Array(items)) => items.iter().filter_map(|i| i.as_str().map(String::from)).collect(),
            _ => Vec::new(),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// All checked values, for templates.
    pub fn values(&self) -> &Map<String, Value> {
        &self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PARAMS: &[Param] = &[
        Param::new("path", Kind::Str).required().aliases(&["dest", "name"]),
        Param::new("state", Kind::Str).choices(&["file", "directory", "absent"]),
        Param::new("mode", Kind::Mode),
        Param::new("force", Kind::Bool),
    ];

    fn check(v: Value) -> Result<Args, ArgError> {
        Args::check(PARAMS, v.as_object().unwrap().clone())
    }

    #[test]
    fn aliases_and_coercions() {
        let a = check(json!({"dest": "/x", "mode": 420, "force": "yes"})).unwrap();
        assert_eq!(a.str("path"), Some("/x"));
        assert_eq!(a.str("mode"), Some("0644"));
        assert_eq!(a.bool("force"), Some(true));
    }

    #[test]
    fn integer_modes_are_the_mode_bits() {
        // YAML's `mode: 0644` is the integer 420 (octal, as PyYAML reads it).
        assert_eq!(check(json!({"path": "/x", "mode": 420})).unwrap().str("mode"), Some("0644"));
        // `mode: 644` is decimal 644: Ansible's set_mode_if_different hands an
        // int to chmod as it is, so the file gets 0o1204, surprising as that is.
        assert_eq!(check(json!({"path": "/x", "mode": 644})).unwrap().str("mode"), Some("1204"));
        assert!(check(json!({"path": "/x", "mode": 6.5})).is_err());
    }

    #[test]
    fn misspelled_argument_suggests() {
        let e = check(json!({"path": "/x", "stat": "file"})).unwrap_err();
        assert_eq!(e.arg_name(), Some("stat"));
        assert_eq!(e.hint().as_deref(), Some("did you mean `state`?"));
    }

    #[test]
    fn wrong_choice_and_missing() {
        let e = check(json!({"path": "/x", "state": "directroy"})).unwrap_err();
        assert_eq!(e.hint().as_deref(), Some("did you mean `directory`?"));
        assert!(matches!(check(json!({})).unwrap_err(), ArgError::Missing { .. }));
        let e = check(json!({"path": "/x", "force": "maybe"})).unwrap_err();
        assert_eq!(e.to_string(), "argument `force` must be a boolean, found a string");
    }
}
