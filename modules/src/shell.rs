//! Rendering shell snippets from templates, quoted by construction.
//!
//! Every `{{ value }}` in a snippet template is shell-quoted by the
//! environment's formatter, so no value (however hostile: `'; rm -rf / #`,
//! `$(...)`, newlines, backticks) can change the command that runs. Only
//! values explicitly marked safe by a filter here (`quote_each`) skip it,
//! and those quote their own parts.

use std::sync::OnceLock;

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind};

use crate::templates::{self, Render};

/// Quote one word for a POSIX shell. Single quotes keep everything literal;
/// an embedded single quote becomes `'\''`.
pub fn quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:@%+,".contains(&b)) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

fn text_of(value: &Value) -> Result<String, Error> {
    if value.is_undefined() || value.is_none() {
        return Ok(String::new());
    }
    if let Some(s) = value.as_str() {
        if s.contains('\0') {
            return Err(Error::new(ErrorKind::InvalidOperation, "a NUL byte cannot be passed to a shell"));
        }
        return Ok(s.to_string());
    }
    match value.kind() {
        minijinja::value::ValueKind::Seq | minijinja::value::ValueKind::Map => Err(Error::new(
            ErrorKind::InvalidOperation,
            "a list or mapping cannot be one shell word; use `| quote_each`",
        )),
        _ => Ok(value.to_string()),
    }
}

/// `{{ items | quote_each }}`: each item quoted, joined by spaces.
fn quote_each(value: Value) -> Result<Value, Error> {
    let words = value.try_iter()?.map(|v| text_of(&v).map(|t| quote(&t))).collect::<Result<Vec<_>, _>>()?;
    Ok(Value::from_safe_string(words.join(" ")))
}

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        // The formatter below is the escaping: every value shell-quoted.
        let mut env = templates::base_environment();
        env.set_formatter(|out, _state, value| {
            if value.is_safe() {
                return write!(out, "{value}").map_err(Error::from);
            }
            let text = text_of(value)?;
            out.write_str(&quote(&text)).map_err(Error::from)
        });
        env.add_filter("quote_each", quote_each);
        templates::add_all(&mut env, Render::Snippet);
        env
    })
}

/// Render a built-in snippet template (`templates/NAME`) with `ctx`.
/// Panics only on a bug in a built-in template, never on user input.
pub fn render(name: &str, ctx: Value) -> Result<String, Error> {
    environment().get_template(name)?.render(ctx)
}

/// Render a module's template twice: once as the probe (`apply` false,
/// `phase` "probe") and once as the apply (`apply` true, `phase` "apply").
pub fn render_pair(name: &str, ctx: &serde_json::Value) -> Result<(String, String), Error> {
    let ctx = Value::from(minijinja::value::Serde(ctx));
    let probe = render(name, minijinja::context! { apply => false, phase => "probe", ..ctx.clone() })?;
    let apply = render(name, minijinja::context! { apply => true, phase => "apply", ..ctx })?;
    Ok((probe, apply))
}

/// The helpers every snippet may call; the engine puts this once at the top
/// of each script.
pub fn prelude() -> &'static str {
    templates::verbatim("prelude.sh")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_hostile_values_literal() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("'; rm -rf / #"), r"''\''; rm -rf / #'");
        assert_eq!(quote("$(id)`id`\nx"), "'$(id)`id`\nx'");
    }

    #[test]
    fn formatter_quotes_every_value() {
        let env = environment();
        let out = env
            .render_str("echo {{ v }} {{ l | quote_each }}", minijinja::context! { v => "a b", l => vec!["x", "y z"] })
            .unwrap();
        assert_eq!(out, "echo 'a b' x 'y z'");
        let err = env.render_str("echo {{ l }}", minijinja::context! { l => vec!["x"] }).unwrap_err();
        assert!(err.to_string().contains("quote_each"));
    }
}
