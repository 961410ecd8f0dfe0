//! The Ansible filters and tests playbooks use most, on top of minijinja's
//! built-ins (default, join, lower, upper, int, list, length, ...).

use base64::Engine as _;
use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("d", minijinja::filters::default);
    env.add_filter("bool", to_bool);
    env.add_filter("to_json", to_json);
    env.add_filter("to_nice_json", to_nice_json);
    env.add_filter("b64encode", |s: String| base64::engine::general_purpose::STANDARD.encode(s));
    env.add_filter("b64decode", b64decode);
    env.add_filter("basename", |s: String| s.rsplit('/').next().unwrap_or_default().to_string());
    env.add_filter("dirname", dirname);
    env.add_filter("quote", |s: String| push_modules::shell::quote(&s));
    env.add_filter("mandatory", mandatory);
    env.add_filter("ternary", |v: Value, yes: Value, no: Value| if v.is_true() { yes } else { no });
    env.add_filter("combine", combine);
    env.add_filter("dict2items", dict2items);
    env.add_filter("regex_replace", regex_replace);
    env.add_filter("regex_search", regex_search);
    env.add_test("succeeded", |v: Value| !field_true(&v, "failed"));
    env.add_test("success", |v: Value| !field_true(&v, "failed"));
    env.add_test("failed", |v: Value| field_true(&v, "failed"));
    env.add_test("changed", |v: Value| field_true(&v, "changed"));
    env.add_test("skipped", |v: Value| field_true(&v, "skipped"));
}

fn field_true(v: &Value, name: &str) -> bool {
    v.get_attr(name).is_ok_and(|f| f.is_true())
}

fn to_bool(v: Value) -> bool {
    match v.as_str() {
        Some(s) => matches!(s.to_ascii_lowercase().as_str(), "yes" | "true" | "on" | "1" | "y"),
        None => v.is_true(),
    }
}

fn to_json(v: Value) -> Result<String, Error> {
    serde_json::to_string(&v).map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))
}

fn to_nice_json(v: Value) -> Result<String, Error> {
    serde_json::to_string_pretty(&v).map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))
}

fn b64decode(s: String) -> Result<String, Error> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("b64decode: {e}")))?;
    String::from_utf8(bytes).map_err(|_| Error::new(ErrorKind::InvalidOperation, "b64decode: not UTF-8 text"))
}

fn dirname(s: String) -> String {
    match s.rfind('/') {
        Some(0) => "/".to_string(),
        Some(i) => s[..i].to_string(),
        None => String::new(),
    }
}

fn mandatory(v: Value) -> Result<Value, Error> {
    if v.is_undefined() {
        Err(Error::new(ErrorKind::UndefinedError, "mandatory variable is not defined"))
    } else {
        Ok(v)
    }
}

/// Ansible's `combine`: later mappings win, shallow unless recursive=true.
fn combine(base: Value, others: minijinja::value::Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let recursive: bool = kwargs.get::<Option<bool>>("recursive")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    let mut out: serde_json::Value =
        serde_json::to_value(&base).map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
    for other in others.iter() {
        let other: serde_json::Value =
            serde_json::to_value(other).map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
        merge(&mut out, other, recursive);
    }
    Ok(Value::from(minijinja::value::Serde(out)))
}

fn merge(into: &mut serde_json::Value, from: serde_json::Value, recursive: bool) {
    match (into, from) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(existing) if recursive && existing.is_object() && v.is_object() => merge(existing, v, true),
                    _ => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, from) => *slot = from,
    }
}

fn dict2items(v: Value) -> Result<Value, Error> {
    if v.kind() != ValueKind::Map {
        return Err(Error::new(ErrorKind::InvalidOperation, "dict2items expects a mapping"));
    }
    let items = v
        .try_iter()?
        .map(|k| {
            let value = v.get_item(&k).unwrap_or_default();
            Value::from(std::collections::BTreeMap::from([("key", k), ("value", value)]))
        })
        .collect::<Vec<_>>();
    Ok(Value::from(items))
}

fn compile(pattern: &str) -> Result<regex::Regex, Error> {
    regex::Regex::new(pattern).map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("bad regex: {e}")))
}

/// Python's `\1` backreferences become the regex crate's `${1}`.
fn regex_replace(s: String, pattern: String, replacement: Option<String>) -> Result<String, Error> {
    let re = compile(&pattern)?;
    let replacement = replacement.unwrap_or_default();
    let converted = regex::Regex::new(r"\\(\d+)").expect("valid").replace_all(&replacement, "$${$1}");
    Ok(re.replace_all(&s, converted.as_ref()).into_owned())
}

fn regex_search(s: String, pattern: String) -> Result<Value, Error> {
    let re = compile(&pattern)?;
    Ok(re.find(&s).map_or(Value::from(()), |m| Value::from(m.as_str())))
}

#[cfg(test)]
mod tests {
    use crate::template::{Mode, Scope};
    use serde_json::json;
    use std::sync::Arc;

    fn render(t: &str, vars: serde_json::Value) -> serde_json::Value {
        Scope::new(vec![Arc::new(vars.as_object().unwrap().clone())], Default::default())
            .render_str(t, Mode::Plain)
            .unwrap()
    }

    #[test]
    fn ansible_filters() {
        assert_eq!(render("{{ 'yes' | bool }}", json!({})), json!(true));
        assert_eq!(render("{{ '/a/b.txt' | basename }}-{{ '/a/b.txt' | dirname }}", json!({})), json!("b.txt-/a"));
        assert_eq!(
            render("{{ a | combine(b) }}", json!({"a": {"x": 1, "y": 1}, "b": {"y": 2}})),
            json!({"x": 1, "y": 2})
        );
        assert_eq!(render("{{ 'abc' | regex_replace('(b)', 'X\\\\1') }}", json!({})), json!("aXbc"));
        assert_eq!(render("{{ r is changed }}", json!({"r": {"changed": true}})), json!(true));
        assert_eq!(render("{{ 'x' | b64encode | b64decode }}", json!({})), json!("x"));
        assert_eq!(
            render("{{ d | dict2items }}", json!({"d": {"b": 1, "a": 2}})),
            json!([{"key": "b", "value": 1}, {"key": "a", "value": 2}])
        );
    }
}
