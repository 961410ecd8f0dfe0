//! `push import geard FILE.json`: a geard deployment file as a playbook.
//!
//! geard (OpenShift's 2014 container agent) read a deployment file and, on
//! each host, ran each container as a systemd unit through its daemon.
//! Here each container becomes a `docker_unit` task (name, image, count,
//! published ports, environment, links) and the file's `Keys` become
//! `docker_ssh` tasks: the same result, agentless and idempotent.
//!
//! geard decoded its JSON with Go's `encoding/json`, which matches field
//! names without regard to case (`PublicPorts` and `publicports` are one
//! field); so does this. Anything the playbook could not express the same
//! way is an error that points at it, never a silent drop:
//! - `AliasPorts`, `Ports`, `NonLocal`, `MatchPort` on a link: geard
//!   rewrote ports between hosts with iptables; on the push network every
//!   container reaches every port of the ones it links to, by name;
//! - `Affinity` (placing instances across hosts: the inventory's job here),
//!   `Notify`, `RandomizeIds`, a non-empty `Instances` (geard's record of a
//!   previous deployment: push keeps no such state).

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use crate::diagnostic::{suggest, Diagnostic, SourceFile};
use crate::yaml::{self, Node, NodeValue};

/// Read `path` and return the playbook text.
pub fn convert_file(path: &Path) -> Result<String, Diagnostic> {
    let file = yaml::read_source(path)?;
    convert(&file)
}

/// One field of an object, found the way Go's decoder finds it.
struct Fields<'a> {
    node: &'a Node,
    what: &'static str,
}

impl<'a> Fields<'a> {
    fn new(node: &'a Node, what: &'static str, known: &[&str]) -> Result<Fields<'a>, Diagnostic> {
        let entries = match &node.value {
            NodeValue::Map(m) => m,
            _ => return Err(node.type_error(what, "an object")),
        };
        for (i, (key, _)) in entries.iter().enumerate() {
            let lower = key.name.to_ascii_lowercase();
            if !known.contains(&lower.as_str()) {
                let d = Diagnostic::at(&key.span, format!("{what}: unknown field `{}`", key.name));
                return Err(match suggest(&lower, known.iter().copied()) {
                    Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                    None => d.with_hint(format!("geard's fields here: {}", known.join(", "))),
                });
            }
            if entries[..i].iter().any(|(k, _)| k.name.eq_ignore_ascii_case(&key.name)) {
                return Err(Diagnostic::at(&key.span, format!("{what}: field `{}` is given twice", key.name)));
            }
        }
        Ok(Fields { node, what })
    }

    fn get(&self, name: &str) -> Option<&'a Node> {
        self.node
            .as_map()?
            .iter()
            .find(|(k, _)| k.name.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    fn key_span(&self, name: &str) -> Option<&'a crate::diagnostic::Span> {
        self.node.as_map()?.iter().find(|(k, _)| k.name.eq_ignore_ascii_case(name)).map(|(k, _)| &k.span)
    }

    fn string(&self, name: &str) -> Result<Option<String>, Diagnostic> {
        match self.get(name) {
            None => Ok(None),
            Some(n) => n
                .as_str()
                .map(|s| Some(s.to_string()))
                .ok_or_else(|| n.type_error(&format!("{} `{name}`", self.what), "a string")),
        }
    }

    fn int(&self, name: &str) -> Result<Option<i64>, Diagnostic> {
        match self.get(name) {
            None => Ok(None),
            Some(n) => match n.value {
                NodeValue::Int(i) => Ok(Some(i)),
                _ => Err(n.type_error(&format!("{} `{name}`", self.what), "an integer")),
            },
        }
    }

    fn list(&self, name: &str) -> Result<&'a [Node], Diagnostic> {
        match self.get(name) {
            None => Ok(&[]),
            Some(n) => n.as_seq().ok_or_else(|| n.type_error(&format!("{} `{name}`", self.what), "a list")),
        }
    }

    /// A field push cannot express: an error at it unless it is unset
    /// (missing, null, false, 0, empty).
    fn refuse(&self, name: &str, why: &str) -> Result<(), Diagnostic> {
        let set = match self.get(name).map(|n| &n.value) {
            None | Some(NodeValue::Null) | Some(NodeValue::Bool(false)) | Some(NodeValue::Int(0)) => false,
            Some(NodeValue::Str(s)) => !s.is_empty(),
            Some(NodeValue::Seq(s)) => !s.is_empty(),
            Some(NodeValue::Map(m)) => !m.is_empty(),
            Some(_) => true,
        };
        if set {
            let span = self.key_span(name).expect("a set field has a key");
            return Err(Diagnostic::at(
                span,
                format!("{}: `{name}` cannot be expressed in a push playbook", self.what),
            )
            .with_hint(why));
        }
        Ok(())
    }
}

struct Port {
    internal: i64,
    external: Option<i64>,
}

struct Container {
    name: String,
    image: String,
    count: i64,
    ports: Vec<Port>,
    env: Vec<(String, String)>,
    links: Vec<(String, crate::diagnostic::Span)>,
    keys: Vec<String>,
}

const TOP: &[&str] = &["containers", "keys", "instances", "idprefix", "randomizeids"];
const CONTAINER: &[&str] =
    &["name", "image", "count", "publicports", "environment", "links", "keys", "notify", "affinity"];
const PORT: &[&str] = &["internal", "external"];
const LINK: &[&str] = &["to", "nonlocal", "matchport", "ports", "aliasports"];
const ENV: &[&str] = &["name", "value"];
const KEY: &[&str] = &["type", "value"];

fn port(node: &Node) -> Result<Port, Diagnostic> {
    let f = Fields::new(node, "a public port", PORT)?;
    let internal = f.int("internal")?.ok_or_else(|| Diagnostic::at(&node.span, "a public port needs `internal`"))?;
    let check = |n: i64, name: &str| -> Result<(), Diagnostic> {
        if (0..=65535).contains(&n) {
            Ok(())
        } else {
            Err(Diagnostic::at(&f.get(name).expect("given").span, format!("port {n} is not between 0 and 65535")))
        }
    };
    check(internal, "internal")?;
    if internal == 0 {
        return Err(Diagnostic::at(&f.get("internal").expect("given").span, "the internal port cannot be 0"));
    }
    let external = f.int("external")?;
    if let Some(e) = external {
        check(e, "external")?;
    }
    Ok(Port { internal, external: external.filter(|e| *e != 0) })
}

fn keys(nodes: &[Node]) -> Result<Vec<String>, Diagnostic> {
    nodes
        .iter()
        .map(|k| match &k.value {
            NodeValue::Str(s) => Ok(s.trim().to_string()),
            NodeValue::Map(_) => {
                let f = Fields::new(k, "a key", KEY)?;
                if let Some(t) = f.string("type")? {
                    if !(t == "authorized_keys" || t.starts_with("ssh-") || t.starts_with("ecdsa-")) {
                        return Err(Diagnostic::at(
                            &f.get("type").expect("given").span,
                            format!("key type `{t}` is not an SSH public key"),
                        )
                        .with_hint("push gives SSH access to containers; other geard key types have no equivalent"));
                    }
                }
                f.string("value")?
                    .map(|v| v.trim().to_string())
                    .ok_or_else(|| Diagnostic::at(&k.span, "a key needs `value`"))
            }
            _ => Err(k.type_error("a key", "a string or {Type, Value}")),
        })
        .collect()
}

fn container(node: &Node, prefix: &str) -> Result<Container, Diagnostic> {
    let f = Fields::new(node, "a container", CONTAINER)?;
    f.refuse("notify", "geard's readiness notification has no equivalent; remove `Notify`")?;
    f.refuse("affinity", "where instances run is the inventory's job in push (the play's hosts); remove `Affinity`")?;
    let name_node = f.get("name").ok_or_else(|| Diagnostic::at(&node.span, "a container needs `name`"))?;
    let name = format!("{prefix}{}", f.string("name")?.unwrap_or_default());
    let name_ok = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !name_ok {
        return Err(Diagnostic::at(
            &name_node.span,
            format!("`{name}` is not a container name (letters, digits, `_`, `.`, `-`)"),
        ));
    }
    let image =
        f.string("image")?.ok_or_else(|| Diagnostic::at(&node.span, format!("container `{name}` needs `image`")))?;
    let count = f.int("count")?.unwrap_or(1);
    if !(1..=100).contains(&count) {
        let at = f.get("count").map_or(&node.span, |n| &n.span);
        return Err(Diagnostic::at(at, format!("count {count} is not between 1 and 100")));
    }
    let ports = f.list("publicports")?.iter().map(port).collect::<Result<Vec<_>, _>>()?;
    let mut env: Vec<(String, String)> = Vec::new();
    for e in f.list("environment")? {
        let ef = Fields::new(e, "an environment variable", ENV)?;
        let key = ef.string("name")?.ok_or_else(|| Diagnostic::at(&e.span, "an environment variable needs `name`"))?;
        let value = match ef.get("value") {
            None => String::new(),
            Some(v) => v.scalar_text().ok_or_else(|| v.type_error("an environment value", "a string"))?,
        };
        if value.contains(['\n', '\r']) {
            return Err(Diagnostic::at(
                &e.span,
                format!("the value of `{key}` has a line break, which Docker's env files cannot hold"),
            ));
        }
        if env.iter().any(|(k, _)| *k == key) {
            return Err(Diagnostic::at(&e.span, format!("environment variable `{key}` is set twice")));
        }
        env.push((key, value));
    }
    let mut links = Vec::new();
    for l in f.list("links")? {
        let lf = Fields::new(l, "a link", LINK)?;
        let why = "on the push network every container reaches every port of those it links to, by name; remove it";
        for field in ["aliasports", "ports", "nonlocal", "matchport"] {
            lf.refuse(field, why)?;
        }
        let to = lf.string("to")?.ok_or_else(|| Diagnostic::at(&l.span, "a link needs `to`"))?;
        links.push((format!("{prefix}{to}"), l.span.clone()));
    }
    let keys = keys(f.list("keys")?)?;
    Ok(Container { name, image, count, ports, env, links, keys })
}

/// A YAML double-quoted string (JSON's syntax is a subset), with anything
/// push would read as a template kept literal.
fn quoted(s: &str) -> String {
    let text = if s.contains("{{") || s.contains("{%") || s.contains("{#") {
        format!("{{% raw %}}{s}{{% endraw %}}")
    } else {
        s.to_string()
    };
    serde_json::to_string(&text).expect("a string serializes")
}

pub fn convert(file: &Arc<SourceFile>) -> Result<String, Diagnostic> {
    // JSON first, for its own errors; then the spanned tree (YAML reads
    // JSON, once tabs, which JSON allows between tokens, are spaces).
    if let Err(e) = serde_json::from_str::<serde_json::Value>(&file.text) {
        let span = file.span(e.line().max(1), e.column().max(1), 1);
        let message = e.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message).to_string();
        return Err(Diagnostic::at(&span, format!("invalid JSON: {message}")));
    }
    let spaced = SourceFile::new(file.path.clone(), file.text.replace('\t', " "));
    // Diagnostics quote this copy: same path, same lines and columns.
    let root = yaml::parse(&spaced)?;
    let top = Fields::new(&root, "the deployment", TOP)?;
    top.refuse(
        "randomizeids",
        "push names each container after its `Name` (and instance number); remove `RandomizeIds`",
    )?;
    top.refuse(
        "instances",
        "`Instances` is geard's record of a previous deployment; push keeps no such state: remove it",
    )?;
    let prefix = top.string("idprefix")?.unwrap_or_default();
    let top_keys = keys(top.list("keys")?)?;
    let nodes = top.list("containers")?;
    if nodes.is_empty() {
        return Err(Diagnostic::at(&root.span, "the deployment has no `Containers`"));
    }
    let mut containers: Vec<Container> = Vec::new();
    for n in nodes {
        let c = container(n, &prefix)?;
        if containers.iter().any(|o| o.name == c.name) {
            return Err(Diagnostic::at(&n.span, format!("two containers are named `{}`", c.name)));
        }
        containers.push(c);
    }
    // Links point at containers of the same file, as geard required.
    for c in &containers {
        for (to, span) in &c.links {
            if !containers.iter().any(|o| o.name == *to) {
                return Err(Diagnostic::at(
                    span,
                    format!("container `{}` links to `{to}`, which is not in this file", c.name),
                ));
            }
        }
    }

    let source = file.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut out = String::new();
    let _ = writeln!(out, "# Converted by `push import geard` from {source}.");
    out.push_str(
        "# Each container is a docker_unit: a systemd unit that recreates it on\n\
         # every start; containers find the ones they link to by name on the\n\
         # host's `push` network. Run the containers' hosts through docker_host\n\
         # first (see playbooks/mail.yml).\n",
    );
    let _ = writeln!(out, "- name: {}", quoted(&format!("geard deployment {source}")));
    out.push_str("  hosts: all\n  become: true\n  tasks:\n");
    for c in &containers {
        let _ = writeln!(out, "    - name: {}", quoted(&format!("Container {}", c.name)));
        out.push_str("      docker_unit:\n");
        let _ = writeln!(out, "        name: {}", quoted(&c.name));
        let _ = writeln!(out, "        image: {}", quoted(&c.image));
        if c.count != 1 {
            let _ = writeln!(out, "        count: {}", c.count);
        }
        if !c.ports.is_empty() {
            out.push_str("        ports:\n");
            for p in &c.ports {
                match p.external {
                    Some(e) if c.count > 1 => {
                        let _ = writeln!(out, "          - \"{e}:{}\"  # instance N publishes {e} + N - 1", p.internal);
                    }
                    Some(e) => {
                        let _ = writeln!(out, "          - \"{e}:{}\"", p.internal);
                    }
                    None => {
                        let _ = writeln!(
                            out,
                            "          - \"{}\"  # external 0: Docker picks a free host port at each start",
                            p.internal
                        );
                    }
                }
            }
        }
        if !c.env.is_empty() {
            out.push_str("        env:\n");
            for (k, v) in &c.env {
                let _ = writeln!(out, "          {}: {}", quoted(k), quoted(v));
            }
        }
        let links: Vec<&String> = c.links.iter().map(|(to, _)| to).collect();
        if !links.is_empty() {
            out.push_str("        links:\n");
            for l in links {
                let note =
                    if *l == c.name { "  # its own instances: reachable by name, no unit dependency" } else { "" };
                let _ = writeln!(out, "          - {}{note}", quoted(l));
            }
        }
    }
    for c in &containers {
        let keys: Vec<&String> = top_keys.iter().chain(c.keys.iter()).collect();
        if keys.is_empty() {
            continue;
        }
        let targets: Vec<String> = if c.count == 1 {
            vec![c.name.clone()]
        } else {
            (1..=c.count).map(|i| format!("{}-{i}", c.name)).collect()
        };
        for t in targets {
            let _ = writeln!(out, "    - name: {}", quoted(&format!("ssh {t}@HOST opens a shell in container {t}")));
            out.push_str("      docker_ssh:\n");
            let _ = writeln!(out, "        name: {}", quoted(&t));
            let login_ok = t.chars().next().is_some_and(|ch| ch.is_ascii_lowercase() || ch == '_')
                && t.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "_-".contains(ch))
                && t.len() <= 32;
            if !login_ok {
                let login: String = t
                    .to_ascii_lowercase()
                    .chars()
                    .map(|ch| if ch.is_ascii_alphanumeric() || ch == '-' { ch } else { '_' })
                    .take(32)
                    .collect();
                let login = if login.starts_with(|ch: char| ch.is_ascii_digit() || ch == '-') {
                    format!("_{login}")
                } else {
                    login
                };
                let _ = writeln!(
                    out,
                    "        login: {}  # `{t}` is not a login name",
                    quoted(&login[..login.len().min(32)])
                );
            }
            out.push_str("        keys:\n");
            for k in &keys {
                let _ = writeln!(out, "          - {}", quoted(k));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert_text(name: &str, text: &str) -> Result<String, String> {
        convert(&SourceFile::new(name, text)).map_err(|d| d.to_string())
    }

    #[test]
    fn go_style_field_names_and_defaults() {
        let out = convert_text(
            "d.json",
            r#"{"Containers":[{"Name":"db","Image":"mongo","PublicPorts":[{"Internal":27017}]}],"containers2":1}"#,
        )
        .unwrap_err();
        assert!(out.contains("unknown field `containers2`"), "{out}");
        let out = convert_text(
            "d.json",
            r#"{"CONTAINERS":[{"NAME":"db","image":"mongo","publicPorts":[{"internal":27017,"external":0}]}]}"#,
        )
        .unwrap();
        assert!(out.contains("name: \"db\"") && out.contains("- \"27017\"  # external 0"), "{out}");
    }

    #[test]
    fn templates_in_values_stay_literal() {
        let out = convert_text(
            "d.json",
            r#"{"containers":[{"name":"a","image":"i","environment":[{"name":"T","value":"{{ x }}"}]}]}"#,
        )
        .unwrap();
        assert!(out.contains(r#""T": "{% raw %}{{ x }}{% endraw %}""#), "{out}");
    }

    #[test]
    fn json_errors_point_at_the_place() {
        let e = convert_text("bad.json", "{\n  \"containers\": [\n    {\"name\": \"a\",}\n  ]\n}\n").unwrap_err();
        assert!(e.contains("bad.json:3:"), "{e}");
    }

    #[test]
    fn tabs_between_tokens_are_fine() {
        let out = convert_text("t.json", "{\n\t\"containers\": [\n\t\t{\"name\": \"a\", \"image\": \"i\"}\n\t]\n}\n")
            .unwrap();
        assert!(out.contains("docker_unit"), "{out}");
    }
}
