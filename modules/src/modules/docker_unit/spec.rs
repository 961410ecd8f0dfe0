//! `docker_unit`'s arguments, checked and parsed into a [`Spec`]: ports,
//! volumes, links, the environment, the health check. Nothing here knows
//! what a unit file or a snippet looks like.

use serde_json::Value;

use crate::args::{ArgError, Args, Kind, Param};
use crate::modules::docker_common::{
    check_container_name, check_image, check_volume_name, normalize_path, path_slug, scalar_text, words,
};
use crate::modules::docker_health::Health;

pub(super) const PARAMS: &[Param] = &[
    Param::new("name", Kind::Str).required(),
    Param::new("image", Kind::Str),
    Param::new("state", Kind::Str).choices(&["present", "absent"]),
    Param::new("command", Kind::Any),
    Param::new("env", Kind::Any).aliases(&["environment"]),
    Param::new("ports", Kind::Any).aliases(&["publish", "publicports"]),
    Param::new("volumes", Kind::Any),
    Param::new("links", Kind::Any),
    Param::new("network", Kind::Str),
    Param::new("hostname", Kind::Str),
    Param::new("count", Kind::Int),
    Param::new("extra_args", Kind::Any),
    Param::new("config_files", Kind::List),
    Param::new("stop_timeout", Kind::Int),
    Param::new("purge_volumes", Kind::Bool),
    Param::new("health", Kind::Any).aliases(&["healthcheck"]),
];

/// A published port.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Port {
    pub ip: Option<String>,
    /// None: Docker picks a free host port.
    pub external: Option<u16>,
    pub internal: u16,
    pub proto: Option<String>,
}

fn port_number(text: &str, allow_zero: bool) -> Result<Option<u16>, ArgError> {
    let n: u32 =
        text.trim().parse().map_err(|_| ArgError::invalid("ports", format!("`{text}` is not a port number")))?;
    match n {
        0 if allow_zero => Ok(None),
        1..=65535 => Ok(Some(n as u16)),
        _ => Err(ArgError::invalid("ports", format!("port {n} is not between 1 and 65535"))),
    }
}

fn check_proto(p: &str) -> Result<String, ArgError> {
    match p {
        "tcp" | "udp" | "sctp" => Ok(p.to_string()),
        _ => Err(ArgError::invalid("ports", format!("protocol `{p}` is not tcp, udp or sctp"))),
    }
}

fn check_ip(ip: &str) -> Result<String, ArgError> {
    ip.parse::<std::net::IpAddr>()
        .map(|_| ip.to_string())
        .map_err(|_| ArgError::invalid("ports", format!("`{ip}` is not an IP address")))
}

/// `"4443:443"`, `"127.0.0.1:25:25"`, `"[::1]:80:80"`, `"53:53/udp"`, `"8080"`.
fn parse_port_text(text: &str) -> Result<Port, ArgError> {
    let (spec, proto) = match text.rsplit_once('/') {
        Some((s, p)) => (s, Some(check_proto(p)?)),
        None => (text, None),
    };
    let (ip, rest) = if let Some(r) = spec.strip_prefix('[') {
        let (ip, rest) =
            r.split_once("]:").ok_or_else(|| ArgError::invalid("ports", format!("`{text}`: `[` without `]:`")))?;
        (Some(check_ip(ip)?), rest)
    } else {
        (None, spec)
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, external, internal) = match (ip, parts.as_slice()) {
        (None, [internal]) => (None, None, *internal),
        (None, [external, internal]) => (None, Some(*external), *internal),
        (None, [ip, external, internal]) => (Some(check_ip(ip)?), Some(*external), *internal),
        (Some(ip), [external, internal]) => (Some(ip), Some(*external), *internal),
        _ => {
            return Err(ArgError::invalid(
                "ports",
                format!("`{text}` is not a port like \"4443:443\", \"127.0.0.1:25:25\" or \"53:53/udp\""),
            ))
        }
    };
    let external = match external {
        Some("") | None => None,
        Some(e) => port_number(e, true)?,
    };
    let internal = port_number(internal, false)?.expect("non-zero");
    Ok(Port { ip, external, internal, proto })
}

fn parse_ports(v: Option<&Value>) -> Result<Vec<Port>, ArgError> {
    let items = match v {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ArgError::invalid("ports", "`ports` must be a list")),
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(s) => parse_port_text(s),
            Value::Number(n) => parse_port_text(&n.to_string()),
            Value::Object(m) => {
                for k in m.keys() {
                    if !["internal", "external", "ip", "protocol"].contains(&k.as_str()) {
                        return Err(ArgError::invalid(
                            "ports",
                            format!("unknown port field `{k}` (internal, external, ip, protocol)"),
                        ));
                    }
                }
                let text = |k: &str| m.get(k).and_then(scalar_text).filter(|s| !s.is_empty());
                let internal = text("internal").ok_or_else(|| ArgError::invalid("ports", "a port needs `internal`"))?;
                Ok(Port {
                    ip: text("ip").map(|ip| check_ip(&ip)).transpose()?,
                    external: match text("external") {
                        Some(e) => port_number(&e, true)?,
                        None => None,
                    },
                    internal: port_number(&internal, false)?.expect("non-zero"),
                    proto: text("protocol").map(|p| check_proto(&p)).transpose()?,
                })
            }
            _ => Err(ArgError::invalid("ports", "a port is \"EXTERNAL:INTERNAL\" or {internal, external}")),
        })
        .collect()
}

/// Where a volume entry comes from.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Source {
    /// A volume named after the unit (instance): `NAME-<slug>`.
    Owned,
    Named(String),
    Bind(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Mount {
    pub source: Source,
    pub path: String,
    pub options: Option<String>,
}

fn parse_volumes(v: Option<&Value>) -> Result<Vec<Mount>, ArgError> {
    let items = words("volumes", v)?;
    let mut mounts: Vec<Mount> = Vec::new();
    for item in items {
        let parts: Vec<&str> = item.split(':').collect();
        let (source, path, options) = match parts.as_slice() {
            [path] => (Source::Owned, *path, None),
            [src, path] => (source_of(src)?, *path, None),
            [src, path, opts] => (source_of(src)?, *path, Some(*opts)),
            _ => {
                return Err(ArgError::invalid(
                    "volumes",
                    format!("`{item}` is not PATH, VOLUME:PATH or /HOST/PATH:PATH[:ro]"),
                ))
            }
        };
        if !path.starts_with('/') {
            return Err(ArgError::invalid("volumes", format!("`{item}`: the container path must be absolute")));
        }
        if let Some(o) = options {
            if o.is_empty()
                || !o.split(',').all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
            {
                return Err(ArgError::invalid("volumes", format!("`{item}`: bad mount options `{o}`")));
            }
        }
        let path = normalize_path(path);
        if path.contains(char::is_whitespace) {
            return Err(ArgError::invalid(
                "volumes",
                format!("`{item}`: a container path with spaces is not supported"),
            ));
        }
        if mounts.iter().any(|m| m.path == path) {
            return Err(ArgError::invalid("volumes", format!("two volumes are mounted at {path}")));
        }
        mounts.push(Mount { source, path, options: options.map(String::from) });
    }
    let owned: Vec<String> = mounts.iter().filter(|m| m.source == Source::Owned).map(|m| path_slug(&m.path)).collect();
    for (i, s) in owned.iter().enumerate() {
        if owned[..i].contains(s) {
            return Err(ArgError::invalid(
                "volumes",
                format!("two container paths would share the volume NAME-{s}: name one of them (`VOLUME:PATH`)"),
            ));
        }
    }
    Ok(mounts)
}

fn source_of(src: &str) -> Result<Source, ArgError> {
    if src.starts_with('/') {
        Ok(Source::Bind(src.to_string()))
    } else {
        check_volume_name("volumes", src)?;
        Ok(Source::Named(src.to_string()))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Link {
    pub to: String,
    pub alias: Option<String>,
}

fn parse_links(v: Option<&Value>) -> Result<Vec<Link>, ArgError> {
    let items = match v {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items.clone(),
        Some(Value::String(s)) => s.split(',').map(|s| Value::String(s.trim().to_string())).collect(),
        Some(_) => return Err(ArgError::invalid("links", "`links` must be a list")),
    };
    let mut links = Vec::new();
    for item in items {
        let (to, alias) = match &item {
            Value::String(s) => match s.split_once(':') {
                Some((to, alias)) => (to.to_string(), Some(alias.to_string())),
                None => (s.clone(), None),
            },
            Value::Object(m) => {
                for k in m.keys() {
                    if !["to", "alias"].contains(&k.as_str()) {
                        return Err(ArgError::invalid(
                            "links",
                            format!("unknown link field `{k}` (to, alias): containers on the push network reach every port of each other"),
                        ));
                    }
                }
                let to = m
                    .get("to")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ArgError::invalid("links", "a link needs `to`"))?;
                (to.to_string(), m.get("alias").and_then(Value::as_str).map(String::from))
            }
            _ => return Err(ArgError::invalid("links", "a link is \"NAME\", \"NAME:ALIAS\" or {to: NAME}")),
        };
        check_container_name("links", &to)?;
        if let Some(a) = &alias {
            check_container_name("links", a)?;
        }
        let alias = alias.filter(|a| *a != to);
        if !links.iter().any(|l: &Link| l.to == to && l.alias == alias) {
            links.push(Link { to, alias });
        }
    }
    Ok(links)
}

/// The environment as `KEY=VALUE` lines for `docker run --env-file`, which
/// takes each value literally up to the end of its line.
fn env_file(v: Option<&Value>) -> Result<(String, Vec<String>), ArgError> {
    let pairs: Vec<(String, String)> = match v {
        None => Vec::new(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                scalar_text(v).map(|t| (k.clone(), t)).ok_or_else(|| {
                    ArgError::invalid("env", format!("the value of `{k}` must be a string, number or boolean"))
                })
            })
            .collect::<Result<_, _>>()?,
        // geard's form: [{name: K, value: V}], and ["K=V"].
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::Object(m) => {
                    let k = m.get("name").and_then(Value::as_str);
                    let v = m.get("value").and_then(scalar_text);
                    k.zip(v)
                        .map(|(k, v)| (k.to_string(), v))
                        .ok_or_else(|| ArgError::invalid("env", "an env item is {name, value}"))
                }
                Value::String(s) => s
                    .split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| ArgError::invalid("env", format!("`{s}` is not KEY=VALUE"))),
                _ => Err(ArgError::invalid("env", "an env item is {name, value} or \"KEY=VALUE\"")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ArgError::invalid("env", "`env` must be a mapping")),
    };
    let mut text = String::new();
    let mut keys: Vec<String> = Vec::new();
    for (k, v) in pairs {
        let bad_key =
            k.is_empty() || k.starts_with('#') || k.contains(|c: char| c == '=' || c.is_whitespace() || c == '\0');
        if bad_key {
            return Err(ArgError::invalid("env", format!("`{k}` is not a variable name")));
        }
        if v.contains(['\n', '\r', '\0']) {
            // Never echo the value: it may be a secret.
            return Err(ArgError::invalid(
                "env",
                format!("the value of `{k}` has a line break, which an env file cannot hold"),
            ));
        }
        if keys.contains(&k) {
            return Err(ArgError::invalid("env", format!("`{k}` is set twice")));
        }
        text.push_str(&format!("{k}={v}\n"));
        keys.push(k);
    }
    Ok((text, keys))
}

/// What a `docker_unit` task asks for.
pub(super) enum Task<'a> {
    /// The units gone; with `purge`, the volumes push made for them too.
    Absent {
        base: &'a str,
        purge: bool,
    },
    Present(Box<Spec<'a>>),
}

/// A unit (or `count` of them), its arguments checked.
pub(super) struct Spec<'a> {
    pub base: &'a str,
    pub image: &'a str,
    pub count: u16,
    pub network: String,
    pub hostname: Option<&'a str>,
    pub ports: Vec<Port>,
    pub mounts: Vec<Mount>,
    pub links: Vec<Link>,
    pub command: Vec<String>,
    pub extra: Vec<String>,
    /// The env file's text (see [`env_file`]).
    pub env: String,
    pub stop_timeout: i64,
    pub health: Option<Health>,
    /// Host files the container reads at start: a change recreates it.
    pub config_files: Vec<String>,
}

/// The arguments other than `name` and `state`, all meaningless when the
/// units are to be gone.
const PRESENT_ONLY: [&str; 11] = [
    "image",
    "command",
    "env",
    "ports",
    "volumes",
    "links",
    "hostname",
    "count",
    "extra_args",
    "config_files",
    "health",
];

/// Check a task's arguments and parse them; the first problem found is
/// the error.
pub(super) fn parse(args: &Args) -> Result<Task<'_>, ArgError> {
    let base = args.str("name").unwrap_or_default();
    check_container_name("name", base)?;
    if args.str("state") == Some("absent") {
        if let Some(p) = PRESENT_ONLY.into_iter().find(|p| args.has(p)) {
            return Err(ArgError::invalid(p, format!("`{p}` means nothing with state: absent")));
        }
        return Ok(Task::Absent { base, purge: args.bool("purge_volumes").unwrap_or(false) });
    }
    if args.has("purge_volumes") {
        return Err(ArgError::invalid("purge_volumes", "`purge_volumes` goes with state: absent"));
    }
    let image = args.str("image").ok_or_else(|| ArgError::Missing { name: "image".into() })?;
    check_image("image", image)?;
    let count = args.int("count").unwrap_or(1);
    if !(1..=100).contains(&count) {
        return Err(ArgError::invalid("count", format!("count must be between 1 and 100, found {count}")));
    }
    let network = args.str("network").unwrap_or("push").to_string();
    let links = parse_links(args.get("links"))?;
    let ports = parse_ports(args.get("ports"))?;
    if matches!(network.as_str(), "host" | "none") && (!links.is_empty() || !ports.is_empty()) {
        return Err(ArgError::invalid(
            "network",
            format!("with network `{network}` there are no links or published ports"),
        ));
    }
    if !matches!(network.as_str(), "host" | "none" | "bridge") {
        check_container_name("network", &network)?;
    }
    if let Some(h) = args.str("hostname") {
        let ok = !h.is_empty()
            && h.len() <= 253
            && h.split('.')
                .all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        if !ok {
            return Err(ArgError::invalid("hostname", format!("`{h}` is not a host name")));
        }
    }
    let (env, _) = env_file(args.get("env"))?;
    let stop_timeout = args.int("stop_timeout").unwrap_or(10);
    if !(0..=3600).contains(&stop_timeout) {
        return Err(ArgError::invalid("stop_timeout", "stop_timeout is seconds, 0 to 3600"));
    }
    let config_files = args.list("config_files");
    if let Some(f) = config_files.iter().find(|f| !f.starts_with('/')) {
        return Err(ArgError::invalid("config_files", format!("`{f}` is not an absolute path")));
    }
    Ok(Task::Present(Box::new(Spec {
        base,
        image,
        count: count as u16,
        network,
        hostname: args.str("hostname"),
        ports,
        mounts: parse_volumes(args.get("volumes"))?,
        links,
        command: words("command", args.get("command"))?,
        extra: words("extra_args", args.get("extra_args"))?,
        env,
        stop_timeout,
        health: Health::parse(args.get("health"))?,
        config_files,
    })))
}

impl Spec<'_> {
    /// This task's units (and containers).
    pub(super) fn instance_names(&self) -> Vec<String> {
        instance_names(self.base, self.count)
    }
}

/// What `push rollback` goes back on for a task: its base name and its
/// units, none for `state: absent`. Only these arguments are read: the
/// others describe the deployment being left.
pub(super) fn rollback_units(args: &Args) -> Result<(&str, Option<Vec<String>>), ArgError> {
    let base = args.str("name").unwrap_or_default();
    check_container_name("name", base)?;
    if args.str("state") == Some("absent") {
        return Ok((base, None));
    }
    Ok((base, Some(instance_names(base, args.int("count").unwrap_or(1).clamp(1, 100) as u16))))
}

/// The units (and containers) of a task: NAME, or NAME-1..NAME-N with `count: N`.
fn instance_names(base: &str, count: u16) -> Vec<String> {
    if count == 1 {
        vec![base.to_string()]
    } else {
        (1..=count).map(|i| format!("{base}-{i}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ports_in_all_their_forms() {
        let p = |s: &str| parse_port_text(s);
        let port = |ip: Option<&str>, external, internal, proto: Option<&str>| Port {
            ip: ip.map(String::from),
            external,
            internal,
            proto: proto.map(String::from),
        };
        assert_eq!(p("4443:443").unwrap(), port(None, Some(4443), 443, None));
        assert_eq!(p("127.0.0.1:25:25").unwrap(), port(Some("127.0.0.1"), Some(25), 25, None));
        assert_eq!(p("[::1]:80:80/tcp").unwrap(), port(Some("::1"), Some(80), 80, Some("tcp")));
        assert_eq!(p("53:53/udp").unwrap(), port(None, Some(53), 53, Some("udp")));
        assert_eq!(p("8080").unwrap(), port(None, None, 8080, None));
        assert_eq!(p("127.0.0.1::80").unwrap(), port(Some("127.0.0.1"), None, 80, None));
        assert!(p("99999:1").is_err());
        assert!(p("a:b").is_err());
        assert!(p("1:2/icmp").is_err());
        let ports = parse_ports(Some(&json!([{"internal": 443, "external": "4443"}, {"internal": 80, "external": 0}])))
            .unwrap();
        assert_eq!(ports, [port(None, Some(4443), 443, None), port(None, None, 80, None)]);
        assert!(parse_ports(Some(&json!([{"internal": 1, "bogus": 2}]))).is_err());
    }

    #[test]
    fn volumes_and_links() {
        let m = parse_volumes(Some(&json!(["/var/mail/", "data:/srv:ro", "/etc/x:/etc/x:ro,z"]))).unwrap();
        assert_eq!(m[0], Mount { source: Source::Owned, path: "/var/mail".into(), options: None });
        assert_eq!(m[1].source, Source::Named("data".into()));
        assert_eq!(m[2].source, Source::Bind("/etc/x".into()));
        assert!(parse_volumes(Some(&json!(["relative/path"]))).is_err());
        assert!(parse_volumes(Some(&json!(["/a", "b:/a"]))).is_err());
        assert!(parse_volumes(Some(&json!(["/a-b", "/a/b"]))).is_err());
        let l = parse_links(Some(&json!(["mail", "db:database", {"to": "cache"}, {"to": "mail"}]))).unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(l[1], Link { to: "db".into(), alias: Some("database".into()) });
        let e = parse_links(Some(&json!([{"to": "db", "aliasports": []}]))).unwrap_err();
        assert!(e.to_string().contains("aliasports"), "{e}");
    }

    #[test]
    fn env_file_is_literal_and_refuses_line_breaks() {
        let (text, keys) = env_file(Some(&json!({"A": "x y $HOME %h \"q\" 's'", "N": 3, "B": true}))).unwrap();
        assert_eq!(text, "A=x y $HOME %h \"q\" 's'\nN=3\nB=true\n");
        assert_eq!(keys, ["A", "N", "B"]);
        let (text, _) = env_file(Some(&json!([{"name": "K", "value": "v"}, "L=w=x"]))).unwrap();
        assert_eq!(text, "K=v\nL=w=x\n");
        let e = env_file(Some(&json!({"PASSWORD": "sec\nret"}))).unwrap_err();
        assert!(!e.to_string().contains("sec"), "the value leaked: {e}");
        assert!(env_file(Some(&json!({"A B": "x"}))).is_err());
    }
}
