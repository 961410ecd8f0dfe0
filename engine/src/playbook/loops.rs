//! A task's loop as written: `loop`, one `with_<lookup>` and
//! `loop_control`, parsed into a [`LoopSpec`]. The items themselves are
//! made per host when the task is planned ([`crate::loop_items`]), once the
//! terms are rendered with the host's variables.

use serde_json::Value;

use crate::diagnostic::{suggest, Diagnostic, Span};
use crate::template;
use crate::yaml::{Node, NodeValue};

/// Where the items come from: `loop`, or the lookup a `with_` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopKind {
    /// `loop:`: a list, taken as it is.
    Loop,
    Items,
    List,
    Dict,
    Nested,
    Together,
    Subelements,
    Sequence,
    IndexedItems,
    Fileglob,
    FirstFound,
}

impl LoopKind {
    pub const ALL: &'static [LoopKind] = &[
        LoopKind::Loop,
        LoopKind::Items,
        LoopKind::List,
        LoopKind::Dict,
        LoopKind::Nested,
        LoopKind::Together,
        LoopKind::Subelements,
        LoopKind::Sequence,
        LoopKind::IndexedItems,
        LoopKind::Fileglob,
        LoopKind::FirstFound,
    ];

    /// The task keyword, as written in a playbook.
    pub fn keyword(self) -> &'static str {
        match self {
            LoopKind::Loop => "loop",
            LoopKind::Items => "with_items",
            LoopKind::List => "with_list",
            LoopKind::Dict => "with_dict",
            LoopKind::Nested => "with_nested",
            LoopKind::Together => "with_together",
            LoopKind::Subelements => "with_subelements",
            LoopKind::Sequence => "with_sequence",
            LoopKind::IndexedItems => "with_indexed_items",
            LoopKind::Fileglob => "with_fileglob",
            LoopKind::FirstFound => "with_first_found",
        }
    }

    pub fn from_keyword(key: &str) -> Option<LoopKind> {
        LoopKind::ALL.iter().copied().find(|k| k.keyword() == key)
    }
}

/// `loop_control`'s keys, as Ansible 2.19 has them.
pub const LOOP_CONTROL: &[&str] = &["loop_var", "index_var", "label", "pause", "extended", "extended_allitems"];

/// `loop_control` keys Ansible has that push does not do yet: refused,
/// never ignored.
const LOOP_CONTROL_UNSUPPORTED: &[&str] = &["break_when"];

#[derive(Debug, Clone)]
pub struct LoopSpec {
    pub kind: LoopKind,
    /// The terms as written (templates unrendered): `loop`'s list, or what
    /// the `with_` keyword was given.
    pub items: Value,
    /// The loop's value: where a wrong type is pointed at.
    pub span: Span,
    /// `loop_control.loop_var` (default `item`).
    pub loop_var: String,
    /// `loop_control.label`, a template rendered per item.
    pub label: Option<String>,
    /// `loop_control.index_var`: the item's place from 0, in this variable.
    pub index_var: Option<String>,
    /// `loop_control.extended`: `ansible_loop` with index, first, last...
    pub extended: bool,
    /// `loop_control.extended_allitems` (default true): `ansible_loop.allitems`.
    pub extended_allitems: bool,
    /// `loop_control.pause`: seconds between items, as written (may be a
    /// template), and where.
    pub pause: Option<(Value, Span)>,
}

impl LoopSpec {
    /// The variables the loop itself gives each pass.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        let fixed = ["ansible_loop_var", "ansible_index_var", "ansible_loop"];
        std::iter::once(self.loop_var.as_str()).chain(self.index_var.as_deref()).chain(fixed)
    }
}

/// The loop of a task mapping, if it has one.
pub fn parse_loop(node: &Node) -> Result<Option<LoopSpec>, Diagnostic> {
    let entries = node.as_map().unwrap_or(&[]);
    let mut found: Option<(LoopKind, &Node, &Span)> = None;
    for (key, value) in entries {
        let Some(kind) = LoopKind::from_keyword(&key.name) else { continue };
        if let Some((first, _, _)) = found {
            return Err(Diagnostic::at(
                &key.span,
                format!("task has two loops, `{}` and `{}`", first.keyword(), kind.keyword()),
            )
            .with_hint("a task loops once: nest the lists with `with_nested` or a filter such as `product`"));
        }
        found = Some((kind, value, &key.span));
    }
    let control = node.get("loop_control");
    let Some((kind, value, _)) = found else {
        if let Some(c) = control {
            check_control(c)?;
        }
        return Ok(None);
    };
    let items = value.to_json();
    if kind == LoopKind::Loop {
        match &items {
            Value::Array(_) => {}
            Value::String(s) if template::is_template(s) => {}
            _ => {
                return Err(value
                    .type_error("`loop`", "a list or a template that gives a list")
                    .with_hint("e.g. `loop: [a, b]` or `loop: \"{{ users }}\"`"));
            }
        }
    }
    let mut spec = LoopSpec {
        kind,
        items,
        span: value.span.clone(),
        loop_var: "item".to_string(),
        label: None,
        index_var: None,
        extended: false,
        extended_allitems: true,
        pause: None,
    };
    if let Some(c) = control {
        check_control(c)?;
        if let Some(v) = c.get("loop_var") {
            spec.loop_var = variable_name(v, "`loop_var`")?;
        }
        if let Some(v) = c.get("index_var") {
            spec.index_var = Some(variable_name(v, "`index_var`")?);
        }
        spec.label = c.get("label").map(|v| v.expect_scalar_text("`label`")).transpose()?;
        if let Some(v) = c.get("extended") {
            spec.extended = flag(v, "`extended`")?;
        }
        if let Some(v) = c.get("extended_allitems") {
            spec.extended_allitems = flag(v, "`extended_allitems`")?;
        }
        if let Some(v) = c.get("pause") {
            let pause = v.to_json();
            match &pause {
                Value::String(s) if template::is_template(s) => {}
                other => {
                    pause_seconds(other).map_err(|msg| Diagnostic::at(&v.span, msg).with_hint(PAUSE_HINT))?;
                }
            }
            spec.pause = Some((pause, v.span.clone()));
        }
    }
    Ok(Some(spec))
}

pub const PAUSE_HINT: &str = "write the seconds to wait between items, e.g. `pause: 3` or `pause: 0.5`";

/// `pause`'s value as seconds (Ansible takes a float), or why not.
pub fn pause_seconds(v: &Value) -> Result<f64, String> {
    let secs = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match secs {
        Some(s) if s.is_finite() && s >= 0.0 => Ok(s),
        _ => Err(format!("`pause` must be a number of seconds, it is {}", push_modules::args::type_name(v))),
    }
}

fn check_control(c: &Node) -> Result<(), Diagnostic> {
    let NodeValue::Map(entries) = &c.value else {
        return Err(c
            .type_error("`loop_control`", "a mapping")
            .with_hint("e.g. `loop_control: {loop_var: user, label: \"{{ user.name }}\"}`"));
    };
    for (key, _) in entries {
        let k = key.name.as_str();
        if LOOP_CONTROL.contains(&k) {
            continue;
        }
        if LOOP_CONTROL_UNSUPPORTED.contains(&k) {
            return Err(Diagnostic::at(&key.span, format!("`loop_control.{k}` is not supported by push yet"))
                .with_hint("see the README's list of supported keywords"));
        }
        let mut d = Diagnostic::at(&key.span, format!("unknown `loop_control` key `{k}`"));
        d = match suggest(k, LOOP_CONTROL.iter().copied()) {
            Some(s) => d.with_hint(format!("did you mean `{s}`?")),
            None => d.with_hint(format!("`loop_control` takes: {}", LOOP_CONTROL.join(", "))),
        };
        return Err(d);
    }
    Ok(())
}

fn variable_name(v: &Node, what: &str) -> Result<String, Diagnostic> {
    let name = v.expect_scalar_text(what)?;
    if !crate::template::is_variable_name(&name) {
        return Err(Diagnostic::at(&v.span, format!("{what} `{name}` is not a variable name"))
            .with_hint("use letters, digits and `_`, not starting with a digit"));
    }
    Ok(name)
}

fn flag(v: &Node, what: &str) -> Result<bool, Diagnostic> {
    push_modules::args::parse_bool(&v.to_json()).ok_or_else(|| v.type_error(what, "a boolean"))
}
