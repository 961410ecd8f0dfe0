//! INI inventories, parsed the way Ansible's `ini` inventory plugin
//! (ansible/plugins/inventory/ini.py) parses them:
//!
//! ```ini
//! web01 ansible_host=192.0.2.10   # hosts before any section are `ungrouped`
//! [web]
//! web[02:04].example.org ansible_user=deploy
//! [prod:children]
//! web
//! [prod:vars]
//! ntp_server=ntp.example.org
//! ```
//!
//! Values are typed with Python's `literal_eval` in both host lines and
//! `:vars` sections (Ansible's documentation says `:vars` values are strings,
//! but its code does not do that; we follow the code). Host lines are
//! shlex-split first, so quotes disappear before typing: `a="1"` is the
//! number 1, while in `:vars` `a="1"` is the string "1".
//!
//! A group listed in `[x:children]` may be defined later in the file; one
//! never defined is an error, as is `[x:vars]` for a group never defined.

use std::sync::{Arc, LazyLock};

use indexmap::IndexMap;
use regex::Regex;
use serde_json::Value;

use crate::diagnostic::{suggest, Diagnostic, SourceFile, Span};

use super::data::{InventoryData, UNGROUPED};
use super::host_range::expand_host_pattern;
use super::python_literal::literal_eval;
use super::python_shlex;

static SECTION: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$").unwrap());
static GROUP_NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^([^:\]\s]+)\s*(?:#.*)?$").unwrap());

#[derive(Clone, Copy, PartialEq, Debug)]
enum State {
    Hosts,
    Children,
    Vars,
}

/// A group mentioned before it was defined: as someone's child, or by a
/// `[x:vars]` section.
struct Pending {
    state: State,
    span: Span,
    /// Groups whose `:children` section listed this one, and where.
    parents: Vec<(String, Span)>,
}

/// One line being parsed: its number and where its trimmed text starts.
struct Line<'a> {
    file: &'a Arc<SourceFile>,
    number: usize,
    indent: usize,
    text: &'a str,
}

impl Line<'_> {
    /// Span of `len` characters starting `col` characters into the trimmed text.
    fn span(&self, col: usize, len: usize) -> Span {
        self.file.span(self.number, self.indent + col + 1, len.max(1))
    }

    fn whole(&self) -> Span {
        self.span(0, self.text.chars().count())
    }
}

/// Unescaped Python value of an INI value: a literal, or the text itself.
pub fn parse_value(text: &str) -> Value {
    literal_eval(text).unwrap_or_else(|| Value::String(text.to_string()))
}

pub fn parse(data: &mut InventoryData, file: &Arc<SourceFile>) -> Result<(), Diagnostic> {
    let mut group = UNGROUPED.to_string();
    let mut state = State::Hosts;
    let mut pending: IndexMap<String, Pending> = IndexMap::new();

    for (index, raw) in file.text.lines().enumerate() {
        let text = raw.trim();
        if text.is_empty() || text.starts_with('#') || text.starts_with(';') {
            continue;
        }
        let indent = raw.chars().count() - raw.trim_start().chars().count();
        let line = Line { file, number: index + 1, indent, text };

        if let Some(c) = SECTION.captures(text) {
            let name = c[1].to_string();
            state = match c.get(2).map(|m| m.as_str()) {
                None | Some("hosts") => State::Hosts,
                Some("children") => State::Children,
                Some("vars") => State::Vars,
                Some(other) => {
                    let at = line.span(name.chars().count() + 2, other.chars().count());
                    let mut d = Diagnostic::at(&at, format!("section `[{name}:{other}]` has unknown type `{other}`"));
                    // Edit distance misses truncations such as `child`, so try prefixes too.
                    let kinds = ["children", "vars", "hosts"];
                    let close = suggest(other, kinds)
                        .or_else(|| kinds.into_iter().find(|k| k.starts_with(other) || other.starts_with(k)));
                    d = match close {
                        Some(s) => d.with_hint(format!("did you mean `[{name}:{s}]`?")),
                        None => d.with_hint("a section is `[group]`, `[group:children]` or `[group:vars]`"),
                    };
                    return Err(d);
                }
            };
            let name_span = line.span(1, name.chars().count());
            if !data.groups.contains_key(&name) {
                if state == State::Vars && !pending.contains_key(&name) {
                    pending.insert(name.clone(), Pending { state, span: name_span.clone(), parents: vec![] });
                }
                data.add_group(&name, Some(&name_span));
            }
            // A real declaration resolves a pending mention.
            if state != State::Vars {
                if let Some(p) = pending.shift_remove(&name) {
                    for (parent, edge) in p.parents {
                        data.add_child_group(&parent, &name, &edge)?;
                    }
                }
            }
            group = name;
            continue;
        }
        if text.starts_with('[') && text.ends_with(']') {
            return Err(Diagnostic::at(&line.whole(), format!("invalid section header `{text}`"))
                .with_hint("a section is `[group]`, `[group:children]` or `[group:vars]`, without spaces"));
        }

        match state {
            State::Hosts => parse_host_line(data, &line, &group)?,
            State::Vars => {
                let (key, value) = parse_var_line(&line)?;
                data.set_group_var(&group, &key, value, &line.whole())?;
            }
            State::Children => {
                let Some(c) = GROUP_NAME.captures(text) else {
                    return Err(Diagnostic::at(&line.whole(), format!("expected a group name, found `{text}`"))
                        .with_hint(format!(
                            "`[{group}:children]` lists one group name per line; hosts go in a `[{group}]` section"
                        )));
                };
                let child = c[1].to_string();
                let edge = line.span(0, child.chars().count());
                if data.groups.contains_key(&child) {
                    data.add_child_group(&group, &child, &edge)?;
                } else {
                    pending
                        .entry(child)
                        .or_insert_with(|| Pending { state: State::Children, span: edge.clone(), parents: vec![] })
                        .parents
                        .push((group.clone(), edge));
                }
            }
        }
    }

    // Whatever is still pending was mentioned but never defined.
    if let Some((name, p)) = pending.into_iter().next() {
        // `[x:vars]` declared `x` as a placeholder; don't suggest it to itself.
        let known: Vec<&str> = data.groups.keys().map(String::as_str).filter(|g| *g != name).collect();
        let did_you_mean = suggest(&name, known.iter().copied()).map(|s| format!("did you mean `{s}`? otherwise "));
        let did_you_mean = did_you_mean.unwrap_or_default();
        return Err(match p.state {
            State::Vars => Diagnostic::at(
                &p.span,
                format!("`[{name}:vars]` sets variables for group `{name}`, which is never defined"),
            )
            .with_hint(format!("{did_you_mean}declare it with a `[{name}]` section (it may be empty)")),
            _ => {
                let parent = p.parents.last().map_or("?", |(g, _)| g.as_str());
                Diagnostic::at(
                    &p.span,
                    format!("`[{parent}:children]` includes group `{name}`, which is never defined"),
                )
                .with_hint(format!("{did_you_mean}add a `[{name}]` section (it may be empty)"))
            }
        });
    }
    Ok(())
}

/// `name[range][:port] key=value ...`
fn parse_host_line(data: &mut InventoryData, line: &Line, group: &str) -> Result<(), Diagnostic> {
    let tokens = python_shlex::split(line.text).map_err(|e| {
        Diagnostic::at(&line.span(e.col, 1), format!("cannot split host line: {}", e.message))
            .with_hint("quote values that contain spaces, and close every quote: key=\"a b\"")
    })?;
    let Some((first, rest)) = tokens.split_first() else { return Ok(()) };
    let pattern_span = line.span(first.col, first.len);

    if first.text.trim() == "---" {
        return Err(Diagnostic::at(&pattern_span, "`---` is not a host name; this looks like a YAML file")
            .with_hint("YAML inventories need a `.yml` or `.yaml` file name to be read as YAML"));
    }
    let (hosts, port) = expand_host_pattern(&first.text).map_err(|e| {
        let hint = if first.text.starts_with('[') {
            "to start a section write `[group]`; a host range looks like `web[01:20]`".to_string()
        } else {
            e.hint.to_string()
        };
        Diagnostic::at(&pattern_span, e.message).with_hint(hint)
    })?;
    if first.text.trim_end().ends_with(':') && port.is_none() {
        return Err(Diagnostic::at(&pattern_span, format!("invalid host `{}`: it ends in `:`", first.text))
            .with_hint("`:` after a host name introduces a port, e.g. `web01:2222`"));
    }
    if hosts.iter().any(|h| h.is_empty()) {
        return Err(Diagnostic::at(&pattern_span, "empty host name"));
    }

    let mut vars = Vec::new();
    for t in rest {
        let Some((key, value)) = t.text.split_once('=') else {
            return Err(Diagnostic::at(&line.span(t.col, t.len), format!("expected key=value, found `{}`", t.text))
                .with_hint(
                    "host variables are written key=value after the host name; quote values with spaces: key=\"a b\"",
                ));
        };
        if key.is_empty() {
            return Err(Diagnostic::at(&line.span(t.col, t.len), "variable name missing before `=`"));
        }
        vars.push((key.to_string(), parse_value(value)));
    }

    for host in &hosts {
        data.add_host(host, Some(group), port, Some(&pattern_span));
        for (k, v) in &vars {
            data.set_host_var(host, k, v.clone());
        }
    }
    Ok(())
}

/// `key = value` in a `[group:vars]` section: everything after the first
/// `=` is the value (no shlex here, so quotes and `#` stay for literal_eval).
fn parse_var_line(line: &Line) -> Result<(String, Value), Diagnostic> {
    let Some((key, value)) = line.text.split_once('=') else {
        return Err(Diagnostic::at(&line.whole(), format!("expected key=value, found `{}`", line.text))
            .with_hint("a `:vars` section holds one `name=value` per line"));
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(Diagnostic::at(&line.span(0, 1), "variable name missing before `=`"));
    }
    Ok((key.to_string(), parse_value(value.trim())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn load(text: &str) -> Result<InventoryData, Diagnostic> {
        let mut data = InventoryData::default();
        parse(&mut data, &SourceFile::new("hosts.ini", text))?;
        data.reconcile()?;
        Ok(data)
    }

    fn err(text: &str) -> String {
        load(text).unwrap_err().to_string()
    }

    #[test]
    fn hosts_groups_children_and_vars() {
        let d = load(
            "solo a=1\n[web]\nweb[1:2] ansible_user=deploy\n[prod:children]\nweb\ndb\n[db]\ndb1:2222\n[prod:vars]\nntp=ntp.example.org\n",
        )
        .unwrap();
        assert_eq!(d.groups["web"].hosts, ["web1", "web2"]);
        assert_eq!(d.groups["prod"].children, ["web", "db"]);
        assert_eq!(d.groups["ungrouped"].hosts, ["solo"]);
        assert_eq!(d.hosts["db1"].vars["ansible_port"], json!(2222));
        assert_eq!(d.groups["prod"].vars["ntp"], json!("ntp.example.org"));
        // `web` and `db` are children of `prod`, so only `prod` hangs off `all`.
        assert_eq!(d.groups["all"].children, ["ungrouped", "prod"]);
    }

    #[test]
    fn values_are_typed_like_ansible() {
        let d = load(concat!(
            "h a=1 b=\"two words\" c='1' d=yes e=True f=1.5 g=[1,2] h={'k':1} i=0x10 j=010 k=None o=a=b p=x#c\n",
            "[all:vars]\n",
            "s1=1\ns2=yes\ns3=\"1\"\ns4 = spaced value ; not a comment\ns5=5 # five\n",
        ))
        .unwrap();
        let h = &d.hosts["h"].vars;
        let expect = json!({"a": 1, "b": "two words", "c": 1, "d": "yes", "e": true, "f": 1.5, "g": [1, 2],
            "h": "{k:1}", "i": 16, "j": "010", "k": null, "o": "a=b", "p": "x"});
        for (k, v) in expect.as_object().unwrap() {
            assert_eq!(&h[k], v, "host var {k}");
        }
        let g = &d.groups["all"].vars;
        assert_eq!(
            Value::Object(g.clone()),
            json!({"s1": 1, "s2": "yes", "s3": "1", "s4": "spaced value ; not a comment", "s5": 5})
        );
    }

    #[test]
    fn children_may_be_defined_later() {
        let d = load("[a:children]\nb\n[b:children]\nc\n[c]\nh\n").unwrap();
        assert_eq!(d.groups["a"].children, ["b"]);
        assert_eq!(d.groups["b"].children, ["c"]);
        assert_eq!(d.depth("c"), 3);
    }

    #[test]
    fn vars_may_come_before_the_group() {
        let d = load("[web:vars]\nport=80\n[web]\nw1\n").unwrap();
        assert_eq!(d.groups["web"].vars["port"], json!(80));
        assert_eq!(d.groups["web"].hosts, ["w1"]);
    }

    #[test]
    fn error_undefined_child() {
        insta::assert_snapshot!(err("[webs]\nw1\n[prod:children]\nweb\n"), @r"
        error: `[prod:children]` includes group `web`, which is never defined
         --> hosts.ini:4:1
          |
        4 | web
          | ^^^
          = hint: did you mean `webs`? otherwise add a `[web]` section (it may be empty)
        ");
    }

    #[test]
    fn error_vars_for_undefined_group() {
        insta::assert_snapshot!(err("[web:vars]\nx=1\n"), @r"
        error: `[web:vars]` sets variables for group `web`, which is never defined
         --> hosts.ini:1:2
          |
        1 | [web:vars]
          |  ^^^
          = hint: declare it with a `[web]` section (it may be empty)
        ");
    }

    #[test]
    fn error_missing_equals_in_host_line() {
        insta::assert_snapshot!(err("[web]\n  web1 ansible_user deploy\n"), @r#"
        error: expected key=value, found `ansible_user`
         --> hosts.ini:2:8
          |
        2 |   web1 ansible_user deploy
          |        ^^^^^^^^^^^^
          = hint: host variables are written key=value after the host name; quote values with spaces: key="a b"
        "#);
    }

    #[test]
    fn error_missing_equals_in_vars() {
        insta::assert_snapshot!(err("[web]\n[web:vars]\nntp_server\n"), @r"
        error: expected key=value, found `ntp_server`
         --> hosts.ini:3:1
          |
        3 | ntp_server
          | ^^^^^^^^^^
          = hint: a `:vars` section holds one `name=value` per line
        ");
    }

    #[test]
    fn error_unknown_section_type() {
        insta::assert_snapshot!(err("[web:child]\n"), @r"
        error: section `[web:child]` has unknown type `child`
         --> hosts.ini:1:6
          |
        1 | [web:child]
          |      ^^^^^
          = hint: did you mean `[web:children]`?
        ");
    }

    #[test]
    fn error_bad_section_header() {
        insta::assert_snapshot!(err("[web servers]\n"), @r"
        error: invalid section header `[web servers]`
         --> hosts.ini:1:1
          |
        1 | [web servers]
          | ^^^^^^^^^^^^^
          = hint: a section is `[group]`, `[group:children]` or `[group:vars]`, without spaces
        ");
    }

    #[test]
    fn error_bad_range() {
        insta::assert_snapshot!(err("[web]\nweb[01:9].example.org\n"), @r"
        error: host range `[01:9]` must use equal-length begin and end (`01` has 2 digits, `9` has 1)
         --> hosts.ini:2:1
          |
        2 | web[01:9].example.org
          | ^^^^^^^^^^^^^^^^^^^^^
          = hint: a range is `[begin:end]` or `[begin:end:step]`, e.g. `web[01:20]` or `db-[a:f]`
        ");
    }

    #[test]
    fn error_unclosed_section() {
        insta::assert_snapshot!(err("[web\nhost\n"), @r"
        error: unbalanced `[` in host range `[web`
         --> hosts.ini:1:1
          |
        1 | [web
          | ^^^^
          = hint: to start a section write `[group]`; a host range looks like `web[01:20]`
        ");
    }

    #[test]
    fn error_unclosed_quote() {
        insta::assert_snapshot!(err("web1 motd='hello\n"), @r#"
        error: cannot split host line: no closing quotation
         --> hosts.ini:1:11
          |
        1 | web1 motd='hello
          |           ^
          = hint: quote values that contain spaces, and close every quote: key="a b"
        "#);
    }

    #[test]
    fn error_cycle_points_at_closing_edge() {
        insta::assert_snapshot!(err("[a:children]\nb\n[b:children]\nc\n[c:children]\na\n"), @r"
        error: group `a` cannot be a child of `c`: `c` is already below `a`, so this makes a cycle c -> a -> b -> c
         --> hosts.ini:6:1
          |
        6 | a
          | ^
          = hint: a group's `children` may not include the group itself or any group it is a child of
        ");
    }

    #[test]
    fn error_yaml_in_ini() {
        insta::assert_snapshot!(err("---\nall:\n"), @r"
        error: `---` is not a host name; this looks like a YAML file
         --> hosts.ini:1:1
          |
        1 | ---
          | ^^^
          = hint: YAML inventories need a `.yml` or `.yaml` file name to be read as YAML
        ");
    }
}
