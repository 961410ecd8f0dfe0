//! Jinja templates as Ansible users know them, with minijinja.
//!
//! - Undefined variables are errors that name the variable (strict mode).
//! - A string that is exactly one `{{ expression }}` keeps the expression's
//!   type (`loop: "{{ users }}"` is a list), as in Ansible.
//! - Variables may themselves hold templates; they are rendered lazily on
//!   use, against the same scope (`admin: "root@{{ domain }}"`).
//! - Shell mode: every interpolated value (a filter's output included) is
//!   escaped for the place it lands in the shell text (see
//!   [`crate::shell_context`]), so a value can never change the command it
//!   is put into. Only `| safe` splices raw shell text.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use minijinja::value::{Enumerator, Object, ObjectRepr, Serde, Value};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};
use serde_json::Value as Json;

use crate::shell_context::{self, QuoteError, SlotValue};
use crate::template_limits as limits;

pub type Vars = serde_json::Map<String, Json>;

/// Two environments sharing filters: `plain` renders text as-is, `shell`
/// writes every value it interpolates as a slot, escaped once the whole
/// text is known.
pub struct Engines {
    plain: Environment<'static>,
    shell: Environment<'static>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plain,
    Shell,
}

pub fn engines() -> &'static Engines {
    static ENGINES: OnceLock<Engines> = OnceLock::new();
    ENGINES.get_or_init(|| {
        let plain = base_environment();
        let mut shell = base_environment();
        shell.set_formatter(|out, _state, value| {
            if let Some(raw) = value.downcast_object_ref::<RawShell>() {
                return out.write_str(&raw.0).map_err(Error::from);
            }
            // Not `is_safe()`: minijinja marks `tojson` and `escape` output
            // safe, and neither is shell code.
            let slot = match value.downcast_object_ref::<ShellWord>() {
                Some(word) => SlotValue { text: value.to_string(), quoted_from: Some(word.0.clone()) },
                None if value.is_none() || value.is_undefined() => SlotValue::from(""),
                None => SlotValue { text: value.to_string(), quoted_from: None },
            };
            let index = SHELL_SLOTS.with(|slots| {
                let mut slots = slots.borrow_mut();
                slots.push(slot);
                slots.len() - 1
            });
            out.write_str(&shell_context::slot(index)).map_err(Error::from)
        });
        shell.add_filter("safe", |value: Value| -> Result<Value, Error> {
            let text = value.to_string();
            if text.contains([shell_context::SLOT_OPEN, shell_context::SLOT_CLOSE]) {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "`| safe` text holds a private-use character push reserves",
                ));
            }
            Ok(Value::from_object(RawShell(text)))
        });
        // Ansible's idiom `echo {{ v | quote }}` keeps its meaning: one word.
        shell.add_filter("quote", |value: Value| Value::from_object(ShellWord(value.to_string())));
        Engines { plain, shell }
    })
}

thread_local! {
    /// The values of the shell text being rendered on this thread, by slot.
    static SHELL_SLOTS: RefCell<Vec<SlotValue>> = const { RefCell::new(Vec::new()) };
}

/// Text a template marked `| safe`: spliced into shell text as it is.
#[derive(Debug)]
struct RawShell(String);

impl Object for RawShell {
    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A value through `| quote`: prints as the quoted word, and the shell
/// text's escaper knows where that word is already right.
#[derive(Debug)]
struct ShellWord(String);

impl Object for ShellWord {
    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&push_modules::shell::quote(&self.0))
    }
}

fn base_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    // Ansible's template module: trim_blocks on, trailing newline kept.
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .expect("valid syntax config"),
    );
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    // Ansible writes a null as nothing in text (`a{{ none }}b` is `ab`).
    env.set_formatter(|out, state, value| {
        if value.is_none() {
            return Ok(());
        }
        minijinja::escape_formatter(out, state, value)
    });
    crate::filters::register(&mut env);
    env.set_fuel(Some(limits::current().fuel));
    env
}

/// A name a variable may have, as Ansible checks it: letters, digits and
/// `_`, not starting with a digit (set_fact names, loop variables,
/// environment variables).
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Does this string need rendering at all?
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// The inner expression if `s` is exactly one `{{ ... }}`.
fn single_expression(s: &str) -> Option<&str> {
    // Exact: `"{{ x }}\n"` is text with a newline, as in Ansible.
    let inner = s.strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{%") {
        return None;
    }
    if !inner.contains("{{") && !inner.contains("}}") {
        return Some(inner);
    }
    // `{{ {'a': {'b': 1}} | combine(x) }}` is one expression too: braces
    // of a literal, not the end of one `{{ }}` and the start of another.
    engines().plain.compile_expression(inner).is_ok().then_some(inner)
}

/// A template error with what we know to point at it: the line inside the
/// template (1-based) and the undefined variable, if that was the cause.
#[derive(Debug, Clone)]
pub struct TemplateError {
    pub message: String,
    pub line: Option<usize>,
    /// What to do about it, when the error is not about template syntax.
    pub hint: Option<&'static str>,
}

impl TemplateError {
    fn new(message: impl Into<String>) -> TemplateError {
        TemplateError { message: message.into(), line: None, hint: None }
    }
}

impl From<QuoteError> for TemplateError {
    fn from(e: QuoteError) -> TemplateError {
        TemplateError { message: e.message, line: None, hint: Some(e.hint) }
    }
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The variables visible to one task on one host. Layers are searched from
/// the last (highest precedence) to the first.
#[derive(Clone)]
pub struct Scope {
    inner: Arc<ScopeInner>,
}

struct ScopeInner {
    layers: Vec<Arc<Vars>>,
    /// Values that are already minijinja values (hostvars, registered results).
    native: HashMap<String, Value>,
    cache: Mutex<HashMap<String, Value>>,
    /// The variables being rendered, outermost first: a variable's template
    /// reading another nests one render in the other.
    resolving: Mutex<Vec<String>>,
    /// The first error met while rendering a variable lazily; minijinja's
    /// object protocol cannot return errors, so we keep it for the report.
    nested_error: Mutex<Option<String>>,
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scope")
    }
}

impl Scope {
    pub fn new(layers: Vec<Arc<Vars>>, native: HashMap<String, Value>) -> Scope {
        Scope {
            inner: Arc::new(ScopeInner {
                layers,
                native,
                cache: Mutex::default(),
                resolving: Mutex::default(),
                nested_error: Mutex::default(),
            }),
        }
    }

    /// A scope with one more layer just below the top one: by convention
    /// the top layer holds extra vars (`-e`), which always win.
    pub fn with_layer(&self, layer: Arc<Vars>) -> Scope {
        let mut layers = self.inner.layers.clone();
        let at = layers.len().saturating_sub(1);
        layers.insert(at, layer);
        Scope::new(layers, self.inner.native.clone())
    }

    /// A scope with one more layer at `index` (0: the lowest), for layers
    /// that rank among the play's own (a role's defaults).
    pub fn with_layer_at(&self, index: usize, layer: Arc<Vars>) -> Scope {
        let mut layers = self.inner.layers.clone();
        layers.insert(index.min(layers.len()), layer);
        Scope::new(layers, self.inner.native.clone())
    }

    /// A scope with more ready values (registered results, the loop item),
    /// which beat every layer but the top one.
    pub fn with_native(&self, extra: impl IntoIterator<Item = (String, Value)>) -> Scope {
        let mut native = self.inner.native.clone();
        native.extend(extra);
        Scope::new(self.inner.layers.clone(), native)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.inner.native.contains_key(name) || self.inner.layers.iter().any(|l| l.contains_key(name))
    }

    fn raw(&self, name: &str) -> Option<&Json> {
        self.inner.layers.iter().rev().find_map(|l| l.get(name))
    }

    /// The value of a variable with its templates rendered.
    pub fn get(&self, name: &str) -> Result<Option<Json>, TemplateError> {
        match self.lookup(name) {
            Some(v) => {
                self.take_nested_error()?;
                Ok(Some(serde_json::to_value(&v).map_err(|e| TemplateError::new(e.to_string()))?))
            }
            None => Ok(None),
        }
    }

    fn lookup(&self, name: &str) -> Option<Value> {
        // A render already failed (its error is pending): every lookup after
        // it is moot, and retrying a chain that nests too deep at each of its
        // levels would take exponential time.
        if self.inner.nested_error.lock().unwrap().is_some() {
            return None;
        }
        // Ready values sit above inventory, play and task vars, but below the
        // top layer: extra vars always win, as in Ansible.
        let top_is_extra = self.inner.layers.last().is_some_and(|l| l.contains_key(name));
        if !top_is_extra {
            if let Some(v) = self.inner.native.get(name) {
                return Some(v.clone());
            }
        }
        if let Some(v) = self.inner.cache.lock().unwrap().get(name) {
            return Some(v.clone());
        }
        let raw = self.raw(name)?.clone();
        if let Err(message) = self.enter(name) {
            self.note_error(message);
            return None;
        }
        let rendered = self.render_json(&raw, Mode::Plain).and_then(value_within_limits);
        self.inner.resolving.lock().unwrap().pop();
        match rendered {
            Ok(json) => {
                let v = Value::from(Serde(&json));
                self.inner.cache.lock().unwrap().insert(name.to_string(), v.clone());
                Some(v)
            }
            // The nesting error names its chain already.
            Err(e) if limits::is_too_deep(&e.message) => {
                self.note_error(e.message);
                None
            }
            Err(e) => {
                self.note_error(format!("in variable `{name}`: {}", e.message));
                None
            }
        }
    }

    /// Start rendering variable `name`, unless that loops or nests too deep:
    /// each level is a render on the stack, and a long chain would overflow it.
    fn enter(&self, name: &str) -> Result<(), String> {
        let mut resolving = self.inner.resolving.lock().unwrap();
        if resolving.iter().any(|n| n == name) {
            return Err(format!("variable `{name}` refers to itself"));
        }
        if resolving.len() >= limits::MAX_VARIABLE_DEPTH {
            return Err(limits::too_deep(&resolving));
        }
        resolving.push(name.to_string());
        Ok(())
    }

    fn note_error(&self, message: String) {
        let mut slot = self.inner.nested_error.lock().unwrap();
        if slot.is_none() {
            *slot = Some(message);
        }
    }

    fn take_nested_error(&self) -> Result<(), TemplateError> {
        match self.inner.nested_error.lock().unwrap().take() {
            Some(message) => Err(TemplateError::new(message)),
            None => Ok(()),
        }
    }

    fn context(&self) -> Value {
        Value::from_object(self.clone())
    }

    /// Render a string. A lone `{{ expr }}` keeps its type.
    pub fn render_str(&self, s: &str, mode: Mode) -> Result<Json, TemplateError> {
        if !is_template(s) {
            return Ok(Json::String(s.to_string()));
        }
        if mode == Mode::Plain {
            if let Some(expr) = single_expression(s) {
                let value = self.eval(expr)?;
                if value.is_undefined() {
                    let err = Error::new(ErrorKind::UndefinedError, "undefined value");
                    let env = &engines().plain;
                    return Err(self.explain(err, || {
                        env.compile_expression(expr).map(|c| c.undeclared_variables(true)).unwrap_or_default()
                    }));
                }
                return serde_json::to_value(&value).map_err(|e| TemplateError::new(e.to_string()));
            }
        }
        self.render_text(s, mode).map(Json::String)
    }

    /// Render a string to text.
    pub fn render_text(&self, s: &str, mode: Mode) -> Result<String, TemplateError> {
        match mode {
            Mode::Plain => self.render_with(&engines().plain, s),
            Mode::Shell => {
                let (text, values) = self.render_slots(s)?;
                within_limits(shell_context::splice_shell(&text, &values)?)
            }
        }
    }

    /// Render a `command:` text to its argv (see [`shell_context::split_command`]).
    pub fn render_argv(&self, s: &str) -> Result<Vec<String>, TemplateError> {
        let (text, values) = self.render_slots(s)?;
        let argv = shell_context::split_command(&text, &values)?;
        limits::check_value(&Json::from(argv.clone())).map_err(TemplateError::new)?;
        Ok(argv)
    }

    /// Shell text with a slot for each value, and the values.
    fn render_slots(&self, s: &str) -> Result<(String, Vec<SlotValue>), TemplateError> {
        if s.contains([shell_context::SLOT_OPEN, shell_context::SLOT_CLOSE]) {
            return Err(TemplateError {
                message: "the command holds a private-use character (U+E000 or U+E001) that push reserves".into(),
                line: None,
                hint: Some("remove the character from the command text"),
            });
        }
        SHELL_SLOTS.with(|slots| slots.borrow_mut().clear());
        let text = self.render_with(&engines().shell, s);
        let values = SHELL_SLOTS.with(|slots| std::mem::take(&mut *slots.borrow_mut()));
        let text = text?;
        if values.iter().any(|v| v.text.contains('\0')) {
            return Err(TemplateError {
                message: "a value holds a NUL byte, which no shell command can carry".into(),
                line: None,
                hint: Some("pass binary data through a file (`copy:`) instead"),
            });
        }
        Ok((text, values))
    }

    fn render_with(&self, env: &Environment<'static>, s: &str) -> Result<String, TemplateError> {
        let result = env.render_str(s, self.context());
        let result = result.map_err(|e| {
            self.explain(e, || env.template_from_str(s).map(|t| t.undeclared_variables(true)).unwrap_or_default())
        });
        self.take_nested_error()?;
        result.and_then(within_limits)
    }

    /// Render every string inside a value.
    pub fn render_json(&self, v: &Json, mode: Mode) -> Result<Json, TemplateError> {
        Ok(match v {
            Json::String(s) => self.render_str(s, mode)?,
            Json::Array(items) => {
                Json::Array(items.iter().map(|i| self.render_json(i, mode)).collect::<Result<_, _>>()?)
            }
            Json::Object(map) => {
                Json::Object(map.iter().map(|(k, v)| Ok((k.clone(), self.render_json(v, mode)?))).collect::<Result<
                    _,
                    TemplateError,
                >>(
                )?)
            }
            other => other.clone(),
        })
    }

    /// Evaluate a bare expression (`when:`), Ansible-style: no braces.
    pub fn eval(&self, expr: &str) -> Result<Value, TemplateError> {
        let env = &engines().plain;
        let compiled = env.compile_expression(expr).map_err(|e| self.explain(e, HashSet::new))?;
        let result = compiled.eval(self.context()).map_err(|e| self.explain(e, || compiled.undeclared_variables(true)));
        self.take_nested_error()?;
        result
    }

    pub fn eval_bool(&self, expr: &str) -> Result<bool, TemplateError> {
        let expr = single_expression(expr).unwrap_or(expr);
        Ok(self.eval(expr)?.is_true())
    }

    /// Turn a minijinja error into one that names the undefined variable.
    fn explain(&self, e: Error, undeclared: impl FnOnce() -> HashSet<String>) -> TemplateError {
        let line = e.line();
        let message = if e.kind() == ErrorKind::UndefinedError {
            let mut missing: Vec<String> = undeclared().into_iter().filter(|name| !self.path_defined(name)).collect();
            missing.sort();
            match missing.first() {
                Some(name) => format!("undefined variable `{name}`"),
                None => format!("undefined value: {}", e.detail().unwrap_or("an attribute or item does not exist")),
            }
        } else if e.kind() == ErrorKind::OutOfFuel {
            limits::out_of_fuel()
        } else {
            let mut m = e.detail().map_or_else(|| e.kind().to_string(), |d| format!("{}: {d}", e.kind()));
            if let Some(source) = std::error::Error::source(&e) {
                m.push_str(&format!(" ({source})"));
            }
            m
        };
        TemplateError { message, line, hint: None }
    }

    /// Is `a.b.c` defined in this scope?
    fn path_defined(&self, dotted: &str) -> bool {
        let mut parts = dotted.split('.');
        let Some(root) = parts.next() else { return false };
        let Some(mut value) = self.lookup(root) else { return false };
        for part in parts {
            match value.get_attr(part) {
                Ok(v) if !v.is_undefined() => value = v,
                _ => return false,
            }
        }
        true
    }
}

impl Object for Scope {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.lookup(key.as_str()?)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut names: Vec<Value> = self.inner.native.keys().map(|k| Value::from(k.as_str())).collect();
        for layer in &self.inner.layers {
            names.extend(layer.keys().map(|k| Value::from(k.as_str())));
        }
        Enumerator::Values(names)
    }
}

/// A rendered text, unless it is larger than the limit.
fn within_limits(text: String) -> Result<String, TemplateError> {
    limits::check_text(&text).map_err(TemplateError::new)?;
    Ok(text)
}

/// A variable's rendered value, unless its text is larger than the limit.
fn value_within_limits(value: Json) -> Result<Json, TemplateError> {
    limits::check_value(&value).map_err(TemplateError::new)?;
    Ok(value)
}

/// Every string inside a value (arguments, loop items), where templates
/// can hide.
pub fn strings_in(v: &Json) -> Vec<&str> {
    fn walk<'v>(v: &'v Json, out: &mut Vec<&'v str>) {
        match v {
            Json::String(s) => out.push(s),
            Json::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Json::Object(map) => map.values().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut out);
    out
}

/// Names of the variables a template or expression reads (roots only),
/// for deciding statically what a task depends on.
pub fn referenced_roots(s: &str, expression: bool) -> HashSet<String> {
    let env = &engines().plain;
    let names = if expression {
        env.compile_expression(single_expression(s).unwrap_or(s))
            .map(|e| e.undeclared_variables(false))
            .unwrap_or_default()
    } else if is_template(s) {
        env.template_from_str(s).map(|t| t.undeclared_variables(false)).unwrap_or_default()
    } else {
        HashSet::new()
    };
    names
}

/// Check that a template or expression parses; the error carries the line.
pub fn check_syntax(s: &str, expression: bool) -> Result<(), TemplateError> {
    let env = &engines().plain;
    let result = if expression {
        env.compile_expression(single_expression(s).unwrap_or(s)).map(|_| ())
    } else if is_template(s) {
        env.template_from_str(s).map(|_| ())
    } else {
        Ok(())
    };
    result.map_err(|e| TemplateError {
        message: format!("template syntax error: {}", e.detail().unwrap_or("invalid syntax")),
        line: e.line(),
        hint: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope(v: Json) -> Scope {
        Scope::new(vec![Arc::new(v.as_object().unwrap().clone())], HashMap::new())
    }

    #[test]
    fn lone_expression_keeps_type_and_vars_render_lazily() {
        let s = scope(json!({"users": ["a", "b"], "domain": "example.org", "admin": "root@{{ domain }}"}));
        assert_eq!(s.render_str("{{ users }}", Mode::Plain).unwrap(), json!(["a", "b"]));
        assert_eq!(s.render_str("to {{ admin }}", Mode::Plain).unwrap(), json!("to root@example.org"));
    }

    #[test]
    fn undefined_variable_is_named() {
        let s = scope(json!({"a": 1}));
        let e = s.render_str("x\n{{ a }} {{ missing_var }}", Mode::Plain).unwrap_err();
        assert_eq!(e.message, "undefined variable `missing_var`");
        assert_eq!(e.line, Some(2));
        let e = s.eval_bool("nope == 1").unwrap_err();
        assert_eq!(e.message, "undefined variable `nope`");
    }

    #[test]
    fn undefined_inside_a_variable_is_reported() {
        let s = scope(json!({"a": "{{ b }}"}));
        let e = s.render_str("{{ a }}", Mode::Plain).unwrap_err();
        assert!(e.message.contains("in variable `a`"), "{}", e.message);
        let s = scope(json!({"a": "{{ a }}"}));
        assert!(s.render_str("{{ a }}", Mode::Plain).is_err());
    }

    #[test]
    fn shell_mode_escapes_values_where_they_land() {
        let s = scope(json!({"v": "'; rm -rf / #", "d": "$(id)", "a": {"k": "$(id)"}}));
        assert_eq!(s.render_text("echo {{ v }}", Mode::Shell).unwrap(), r"echo ''\''; rm -rf / #'");
        assert_eq!(s.render_text("echo \"{{ d }}\"", Mode::Shell).unwrap(), r#"echo "\$(id)""#);
        assert_eq!(s.render_text("echo '{{ v }}'", Mode::Shell).unwrap(), r"echo ''\''; rm -rf / #'");
        // Filters that minijinja marks safe are still values.
        assert_eq!(s.render_text("echo {{ a | tojson }}", Mode::Shell).unwrap(), r#"echo '{"k": "$(id)"}'"#);
        assert_eq!(s.render_text("echo {{ d | escape }}", Mode::Shell).unwrap(), "echo '$(id)'");
        // Only `| safe` splices shell text, and the lexer reads what it spliced.
        assert_eq!(s.render_text("{{ 'echo \"' | safe }}{{ d }}\"", Mode::Shell).unwrap(), r#"echo "\$(id)""#);
        assert_eq!(s.render_text("{{ d | safe }}", Mode::Shell).unwrap(), "$(id)");
        // Ansible's `| quote` is one word where a word goes, and text elsewhere.
        assert_eq!(s.render_text("echo {{ v | quote }}", Mode::Shell).unwrap(), r"echo ''\''; rm -rf / #'");
        assert_eq!(s.render_text("echo \"{{ d | quote }}\"", Mode::Shell).unwrap(), r#"echo "'\$(id)'""#);
        assert_eq!(s.render_argv("echo {{ v | quote }}").unwrap(), ["echo", "'; rm -rf / #"]);
    }

    #[test]
    fn command_text_splits_with_values_whole() {
        let s = scope(json!({"x": "a -n -e b c"}));
        assert_eq!(s.render_argv("echo '{{ x }}' {{ x }}").unwrap(), ["echo", "a -n -e b c", "a -n -e b c"]);
        let e = s.render_text("echo ${HOME:-{{ x }}}", Mode::Shell).unwrap_err();
        assert!(e.message.contains("`${...}`") && e.hint.is_some(), "{e}");
    }

    #[test]
    fn null_renders_as_nothing_in_text_and_stays_null_alone() {
        let s = scope(json!({"x": null, "l": [null]}));
        assert_eq!(s.render_str("a{{ x }}b", Mode::Plain).unwrap(), json!("ab"));
        assert_eq!(s.render_str("{{ x }}", Mode::Plain).unwrap(), json!(null));
        assert_eq!(s.render_str("{{ l }}", Mode::Plain).unwrap(), json!([null]));
        assert_eq!(s.render_str("{{ x is none }}", Mode::Plain).unwrap(), json!(true));
    }

    #[test]
    fn defaults_and_tests_work() {
        let s = scope(json!({"a": 1}));
        assert!(s.eval_bool("a == 1 and b is not defined").unwrap());
        assert_eq!(s.render_str("{{ b | default('x') }}", Mode::Plain).unwrap(), json!("x"));
    }
}
