use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::docker_common::{
    check_container_name, check_image, check_volume_name, copy_op, dir_op, normalize_path, path_slug, render_file,
    scalar_text, sub_ctx, systemd_quote, unit_text, words, HELPER_DIR, RUN_DIR, STATE_DIR,
};
use super::docker_health::{self, Health};
use crate::args::{ArgError, Args, Kind, Param};
use crate::deferred::{OUTCOME_SUFFIX, UNIT_SWITCH_PREFIX};
use crate::{Controller, Deferred, DeferredKind, Module, Op, Prefetch};

/// `docker_unit`: one container as one systemd unit (or `count` of them),
/// recreated on every start, its data in named volumes.
///
/// What lands on the host, for a unit NAME:
/// - `/etc/systemd/system/NAME.service`, enabled: `After=`/`Requires=`
///   docker.service, `Wants=`/`After=` the units of linked containers
///   (see Links below); `ExecStartPre=`
///   removes a stale container and runs the start helper;
///   `ExecStart=/usr/bin/docker run --rm --restart=no --name NAME ...` in
///   the foreground; `ExecStop=docker stop -t 10 NAME`; `Restart=always`.
///   Every word of ExecStart is escaped for systemd's own parsing
///   ([`systemd_quote`]).
/// - `/etc/push/docker/NAME.env` (root, 0600): the environment, passed
///   with `--env-file`, so values stay out of the world-readable unit and
///   out of `ps`.
/// - `/usr/local/lib/push/docker-unit-prestart`, the start helper (see
///   `templates/docker_unit_prestart.sh`), `docker-unit-health` (the
///   health gate) and `docker-unit-switch` (see Switches below).
/// - `/etc/systemd/system/push-docker-recover.service`, enabled: at boot,
///   before docker.service, it undoes a switch the restart cut short.
///
/// Volumes: data outlives every recreate and every image upgrade.
/// - `volumes: [/var/lib/x]` (a bare container path): the named volume
///   `NAME-var-lib-x`, created (labelled) at start.
/// - `volumes: ["data:/var/lib/x:ro"]`: the named volume `data`, as named
///   (share it on purpose); `"/srv/x:/x"`: a bind mount.
/// - each VOLUME the image declares and the unit does not mount: only the
///   host knows the image, so the start helper inspects it at every start,
///   creates `NAME-<path>` and writes `VOLUME_ARGS="-v ..."` to
///   `/run/push/docker/NAME.volumes`, which the unit reads
///   (`EnvironmentFile=`) and ExecStart expands (`$VOLUME_ARGS`, unbraced,
///   so systemd splits it into words). Without it Docker would make
///   anonymous volumes, which `--rm` deletes with the container.
/// - `state: absent` keeps volumes; `purge_volumes: true` removes the
///   ones push created for the unit (by label), never a named or bound one.
///
/// Links: every unit joins one user-defined Docker network per host,
/// `push` (`network`), where containers find each other by name through
/// Docker's DNS, the modern form of `--link`. `links: [mail]` adds
/// `Wants=` and `After=mail.service`: starting this unit starts mail
/// first. Not `Requires=`: with names resolved at each connection nothing
/// needs restarting when mail is recreated, and `Requires=` would turn
/// every restart of mail (a crash included) into a restart of this unit
/// too, and make mail's own recovery wait for it (measured in the lab: a
/// `docker kill mail` took 26 s to recover with it, the webmail going down
/// alongside). `mail:smtp` or `{to: mail, alias: smtp}` also makes `smtp`
/// resolve to mail, for this container only. `Requires=docker.service`
/// stays: containers die with the engine and come back with it.
///
/// `count: N` makes units NAME-1..NAME-N (containers of those names, with
/// published external ports shifted by the instance number - 1) and a
/// unit NAME that stands for all of them: linking to NAME waits for every
/// instance, `systemctl restart NAME` restarts them all, and NAME resolves
/// to every instance on the network.
///
/// Changes: the unit text, the env file content, the image id behind
/// the image's name, the content of `config_files` (host files the
/// container reads at start) and "not running" each recreate the
/// container, once, at the end of the play (`50-restart-NAME`). The
/// message says which containers are recreated and why; `--diff` shows
/// the unit file. A run with nothing changed restarts nothing.
///
/// Switches: the apply never writes a new unit or env file in place, where
/// systemd would start it unchecked on the next crash or boot if the run
/// went away before its restart. It leaves them beside the running ones
/// (`/etc/push/docker/NAME.next.*`); the restart starts the host's switch
/// helper as a transient unit of its own (`push-switch-NAME`), which puts
/// them in place, restarts the unit through its health gate and, if the
/// new one does not come up, puts the replaced one back; the run waits for
/// it and reports its outcome. Detached from the session, a switch ends
/// the same whether the run, its connection or its session lives on; one
/// no run saw end is reported by the next run. A restart of the host in
/// the middle is undone at boot, before docker.service, by
/// `push-docker-recover.service`: the host comes up on the deployment that
/// ran before; a switch that is killed is undone at once by its unit's
/// `ExecStopPost=`. See `templates/docker_unit_switch.sh`.
pub struct DockerUnit;

const PARAMS: &[Param] = &[
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

pub(crate) const PRESTART: &str = "/usr/local/lib/push/docker-unit-prestart";
/// The switch to a new deployment (see `templates/docker_unit_switch.sh`).
const SWITCH: &str = "/usr/local/lib/push/docker-unit-switch";
/// The boot-time unit that undoes a switch a restart of the host cut short.
const RECOVER_UNIT: &str = "push-docker-recover";
const UNIT_DIR: &str = "/etc/systemd/system";

/// A published port.
#[derive(Debug, Clone, PartialEq)]
struct Port {
    ip: Option<String>,
    /// None: Docker picks a free host port.
    external: Option<u16>,
    internal: u16,
    proto: Option<String>,
}

impl Port {
    /// `-p` value for instance `offset` (0-based).
    fn publish(&self, offset: u16) -> Result<String, ArgError> {
        let external = match self.external {
            Some(e) => e
                .checked_add(offset)
                .map(|p| p.to_string())
                .ok_or_else(|| ArgError::invalid("ports", format!("port {e} + {offset} is past 65535")))?,
            None => String::new(),
        };
        let mut s = match (&self.ip, self.external) {
            (Some(ip), _) if ip.contains(':') => format!("[{ip}]:{external}:{}", self.internal),
            (Some(ip), _) => format!("{ip}:{external}:{}", self.internal),
            (None, Some(_)) => format!("{external}:{}", self.internal),
            (None, None) => self.internal.to_string(),
        };
        if let Some(p) = &self.proto {
            s.push('/');
            s.push_str(p);
        }
        Ok(s)
    }
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
enum Source {
    /// A volume named after the unit (instance): `NAME-<slug>`.
    Owned,
    Named(String),
    Bind(String),
}

#[derive(Debug, Clone, PartialEq)]
struct Mount {
    source: Source,
    path: String,
    options: Option<String>,
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
struct Link {
    to: String,
    alias: Option<String>,
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

/// Everything one instance's files and checks need.
struct Instance {
    name: String,
    unit: String,
    env: String,
}

struct Spec<'a> {
    base: &'a str,
    image: &'a str,
    count: u16,
    network: String,
    hostname: Option<&'a str>,
    ports: Vec<Port>,
    mounts: Vec<Mount>,
    links: Vec<Link>,
    command: Vec<String>,
    extra: Vec<String>,
    env: String,
    stop_timeout: i64,
    health: Option<Health>,
}

/// The units (and containers) of a task: NAME, or NAME-1..NAME-N with `count: N`.
fn instance_names(base: &str, count: u16) -> Vec<String> {
    if count == 1 {
        vec![base.to_string()]
    } else {
        (1..=count).map(|i| format!("{base}-{i}")).collect()
    }
}

fn quote_all(words: &[String]) -> Result<String, ArgError> {
    words
        .iter()
        .map(|w| systemd_quote(w).map_err(|e| ArgError::invalid("command", e.to_string())))
        .collect::<Result<Vec<_>, _>>()
        .map(|w| w.join(" "))
}

impl Spec<'_> {
    fn unit_text(&self, name: &str, offset: u16) -> Result<String, ArgError> {
        let mut run: Vec<String> =
            ["/usr/bin/docker", "run", "--rm", "--restart=no", "--name", name].map(String::from).to_vec();
        run.extend(["--label".into(), format!("push.docker_unit={}", self.base)]);
        if let Some(h) = self.hostname {
            run.extend(["--hostname".into(), h.to_string()]);
        }
        run.extend(["--network".into(), self.network.clone()]);
        if self.count > 1 {
            run.extend(["--network-alias".into(), self.base.to_string()]);
        }
        for l in &self.links {
            if let Some(a) = &l.alias {
                run.extend(["--link".into(), format!("{}:{a}", l.to)]);
            }
        }
        run.extend(["--env-file".into(), format!("{STATE_DIR}/{name}.env")]);
        for p in &self.ports {
            run.extend(["-p".into(), p.publish(offset)?]);
        }
        let mut prestart: Vec<String> = vec![
            PRESTART.into(),
            name.into(),
            self.base.into(),
            self.image.into(),
            self.network.clone(),
            format!("{RUN_DIR}/{name}.volumes"),
        ];
        for m in &self.mounts {
            let (source, owned) = match &m.source {
                Source::Owned => (format!("{name}-{}", path_slug(&m.path)), true),
                Source::Named(v) => (v.clone(), false),
                Source::Bind(h) => (h.clone(), false),
            };
            let opts = m.options.as_ref().map(|o| format!(":{o}")).unwrap_or_default();
            run.extend(["-v".into(), format!("{source}:{}{opts}", m.path)]);
            prestart.push(if owned { format!("{source}:{}", m.path) } else { m.path.clone() });
        }
        let mut line = quote_all(&run)?;
        // The start helper's volumes for what the image declares: unquoted,
        // so systemd splits it into words (and the only `$` not doubled).
        line.push_str(" $VOLUME_ARGS");
        let mut tail = self.extra.clone();
        tail.push(self.image.to_string());
        tail.extend(self.command.iter().cloned());
        line.push(' ');
        line.push_str(&quote_all(&tail)?);

        // Linked units are wanted and ordered, not required: see the doc
        // comment on DockerUnit (a restart of one must not restart the other).
        let mut links: Vec<String> = Vec::new();
        for l in self.links.iter().filter(|l| l.to != self.base) {
            let unit = format!("{}.service", l.to);
            if !links.contains(&unit) {
                links.push(unit);
            }
        }
        let description = if self.count > 1 {
            format!("Container {name} ({} {} of {}) from {}", self.base, offset + 1, self.count, self.image)
        } else {
            format!("Container {name} from {}", self.image)
        };
        render_file(
            "docker_unit.service.j2",
            json!({
                "base": self.base,
                "name": name,
                "description": unit_text(&description),
                "links": links,
                "part_of": (self.count > 1).then(|| format!("{}.service", self.base)),
                "volumes_file": format!("{RUN_DIR}/{name}.volumes"),
                "prestart": quote_all(&prestart)?,
                "run": line,
                "image": self.image,
                "health": self.health.as_ref().map(|h| quote_all(&h.helper_args(name))).transpose()?,
                // Pulling a big image counts too: never less than 5 minutes.
                "start_timeout": 300 + self.health.as_ref().map_or(0, Health::max_secs),
                "stop_timeout": self.stop_timeout,
            }),
        )
    }

    fn group_text(&self, names: &[String]) -> Result<String, ArgError> {
        render_file(
            "docker_unit_group.service.j2",
            json!({
                "base": self.base,
                "count": self.count,
                "description": unit_text(&format!("Containers {} ({} instances) from {}", self.base, self.count, self.image)),
                "instances": names.iter().map(|n| format!("{n}.service")).collect::<Vec<_>>(),
            }),
        )
    }
}

fn sha(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

fn marker(base: &str) -> String {
    format!("# push: docker_unit {base}")
}

impl Module for DockerUnit {
    fn name(&self) -> &'static str {
        "docker_unit"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn pinned_image_args(&self) -> &'static [&'static str] {
        &["image"]
    }
    fn rolls_back(&self) -> bool {
        true
    }
    /// `push rollback`: each instance goes back to the unit and env file
    /// kept as NAME.prev (see `templates/docker_unit_rollback.sh`), through
    /// the same deferred restart as a run (health-checked; if the earlier
    /// deployment does not come up, it goes back again).
    fn plan_rollback(&self, args: &Args) -> Result<Op, ArgError> {
        let base = args.str("name").unwrap_or_default();
        check_container_name("name", base)?;
        if args.str("state") == Some("absent") {
            return super::render("docker_unit_rollback.sh", json!({"names": []}));
        }
        let names = instance_names(base, args.int("count").unwrap_or(1).clamp(1, 100) as u16);
        let mut op = super::render(
            "docker_unit_rollback.sh",
            json!({
                "names": names,
                "unit_dir": UNIT_DIR,
                "state_dir": STATE_DIR,
                "run_dir": RUN_DIR,
                // A shell loop names the unit: the key's parts around it.
                "switch_key_prefix": UNIT_SWITCH_PREFIX,
                "outcome_key_suffix": OUTCOME_SUFFIX,
            }),
        )?;
        op.deferred = deferred_restarts(base, &names, false)?;
        Ok(op)
    }
    fn plan(&self, args: &Args, _: &dyn Controller) -> Result<Op, ArgError> {
        let base = args.str("name").unwrap_or_default();
        check_container_name("name", base)?;
        let mut ctx = super::docker_common::formats();
        ctx.extend([
            ("base".into(), base.into()),
            ("marker".into(), marker(base).into()),
            ("unit_dir".into(), UNIT_DIR.into()),
            ("state_dir".into(), STATE_DIR.into()),
            ("run_dir".into(), RUN_DIR.into()),
            ("switch".into(), SWITCH.into()),
            ("daemon_reload_key".into(), DeferredKind::DaemonReload.key().into()),
        ]);
        if args.str("state") == Some("absent") {
            for p in [
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
            ] {
                if args.has(p) {
                    return Err(ArgError::invalid(p, format!("`{p}` means nothing with state: absent")));
                }
            }
            ctx.extend([
                ("state".into(), "absent".into()),
                ("purge".into(), args.bool("purge_volumes").unwrap_or(false).into()),
            ]);
            let mut op = super::render("docker_unit.sh", Value::Object(ctx))?;
            op.deferred = vec![daemon_reload()];
            return Ok(op);
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
                && h.split('.').all(|l| {
                    !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
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
        let spec = Spec {
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
        };
        let names = instance_names(spec.base, spec.count);
        let mut instances = Vec::new();
        for (i, name) in names.iter().enumerate() {
            instances.push(Instance {
                name: name.clone(),
                unit: spec.unit_text(name, i as u16)?,
                env: spec.env.clone(),
            });
        }
        let group = (spec.count > 1).then(|| spec.group_text(&names)).transpose()?;

        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let unit_path = |n: &str| format!("{UNIT_DIR}/{n}.service");
        let mut inst_ctx = Vec::new();
        let mut prefetch = Prefetch::default();
        for inst in &instances {
            let env_path = format!("{STATE_DIR}/{}.env", inst.name);
            prefetch.stat.extend([unit_path(&inst.name), env_path.clone()]);
            prefetch.sha256.extend([unit_path(&inst.name), env_path.clone()]);
            inst_ctx.push(json!({
                "name": inst.name,
                "unit_path": unit_path(&inst.name),
                "unit_sha": sha(&inst.unit),
                "unit_b64": b64(&inst.unit),
                "env_path": env_path,
                "env_b64": b64(&inst.env),
                "env_sha": sha(&inst.env),
                "files_path": format!("{STATE_DIR}/{}.files", inst.name),
                "switch_key": DeferredKind::UnitSwitch { unit: inst.name.clone() }.key(),
                "outcome_key": DeferredKind::UnitSwitchOutcome { unit: inst.name.clone() }.key(),
            }));
        }
        // The diff shows the unit file; with several, all of them, each
        // under its path (the snippet writes the "before" side the same way).
        let mut diff_files: Vec<(String, &str)> = Vec::new();
        if let Some(g) = &group {
            diff_files.push((unit_path(base), g.as_str()));
        }
        for inst in &instances {
            diff_files.push((unit_path(&inst.name), inst.unit.as_str()));
        }
        let diff_after: String = if diff_files.len() == 1 {
            diff_files[0].1.to_string()
        } else {
            diff_files.iter().map(|(p, t)| format!("### {p}\n{t}")).collect()
        };
        let mut expected: Vec<String> = names.clone();
        if group.is_some() {
            expected.push(base.to_string());
        }
        ctx.extend([
            ("state".into(), "present".into()),
            ("image".into(), image.into()),
            ("count".into(), spec.count.into()),
            ("expected".into(), expected.into()),
            ("config_files".into(), config_files.into()),
            ("diff_paths".into(), diff_files.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>().into()),
            ("instances".into(), Value::Array(inst_ctx)),
            (
                "group".into(),
                match &group {
                    Some(g) => json!({
                        "name": base,
                        "unit_path": unit_path(base),
                        "unit_sha": sha(g),
                        "start_key": DeferredKind::GroupStart { unit: base.to_string() }.key(),
                        "unit": sub_ctx(&copy_op(&unit_path(base), g, "0644")?),
                    }),
                    None => Value::Null,
                },
            ),
            (
                "subs".into(),
                json!({
                    "helper_dir": sub_ctx(&dir_op(HELPER_DIR, "0755")?),
                    "helper": sub_ctx(&copy_op(PRESTART, crate::templates::verbatim("docker_unit_prestart.sh"), "0755")?),
                    "health_helper": sub_ctx(&copy_op(docker_health::HELPER, crate::templates::verbatim("docker_unit_health.sh"), "0755")?),
                    "switch_helper": sub_ctx(&copy_op(SWITCH, crate::templates::verbatim("docker_unit_switch.sh"), "0755")?),
                    "recover_unit": sub_ctx(&copy_op(&unit_path(RECOVER_UNIT), crate::templates::verbatim("docker_unit_recover.service"), "0644")?),
                    "state_dir": sub_ctx(&dir_op(STATE_DIR, "0700")?),
                }),
            ),
        ]);
        let mut op = super::render("docker_unit.sh", Value::Object(ctx))?;
        op.diff_after = Some(diff_after.into_bytes());
        op.diff_label =
            Some(if diff_files.len() == 1 { diff_files[0].0.clone() } else { format!("{UNIT_DIR}/{base}*.service") });
        op.deferred = deferred_restarts(base, &names, group.is_some())?;
        op.prefetch = prefetch;
        Ok(op)
    }
}

/// The deferred actions of a unit's task: one daemon-reload, a restart per
/// instance (health-checked, going back to the earlier deployment if the
/// new one does not come up), then the group unit.
fn deferred_restarts(base: &str, names: &[String], group: bool) -> Result<Vec<Deferred>, ArgError> {
    let mut deferred = vec![daemon_reload()];
    for name in names {
        let mut ctx = super::docker_common::formats();
        ctx.extend([
            ("name".into(), name.as_str().into()),
            ("state_dir".into(), STATE_DIR.into()),
            ("run_dir".into(), RUN_DIR.into()),
            ("switch".into(), SWITCH.into()),
        ]);
        let render = |template: &str| {
            crate::shell::render(template, minijinja::Value::from(minijinja::value::Serde(&ctx)))
                .map_err(|e| ArgError::general(e.to_string()))
        };
        // The switch, then its report: see templates/docker_unit_restart.sh.
        deferred
            .push(Deferred::new(DeferredKind::UnitSwitch { unit: name.clone() }, render("docker_unit_restart.sh")?));
        deferred.push(Deferred::new(
            DeferredKind::UnitSwitchOutcome { unit: name.clone() },
            render("docker_unit_outcome.sh")?,
        ));
    }
    if group {
        deferred.push(Deferred::new(
            DeferredKind::GroupStart { unit: base.to_string() },
            format!(
                "systemctl start -- {}\npush_changed started {}\n",
                crate::shell::quote(&format!("{base}.service")),
                crate::shell::quote(base)
            ),
        ));
    }
    Ok(deferred)
}

/// One `systemctl daemon-reload` per host for any number of changed units.
pub(crate) fn daemon_reload() -> Deferred {
    // The time of it: a container started before it ran the old unit.
    Deferred::new(
        DeferredKind::DaemonReload,
        format!(
            "systemctl daemon-reload\nmkdir -p -- {RUN_DIR}\ndate +%s >{RUN_DIR}/.daemon-reload\npush_changed daemon-reload\n"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(v: Value) -> Result<Op, ArgError> {
        crate::plan(&DockerUnit, v.as_object().unwrap().clone(), &super::super::docker_common::NoFiles)
    }

    fn unit(v: Value) -> String {
        let op = plan(v).unwrap_or_else(|e| panic!("{e}"));
        String::from_utf8(op.diff_after.unwrap()).unwrap()
    }

    #[test]
    fn ports_in_all_their_forms() {
        let p = |s: &str| parse_port_text(s).map(|p| p.publish(0).unwrap());
        assert_eq!(p("4443:443").unwrap(), "4443:443");
        assert_eq!(p("127.0.0.1:25:25").unwrap(), "127.0.0.1:25:25");
        assert_eq!(p("[::1]:80:80/tcp").unwrap(), "[::1]:80:80/tcp");
        assert_eq!(p("53:53/udp").unwrap(), "53:53/udp");
        assert_eq!(p("8080").unwrap(), "8080");
        assert_eq!(p("127.0.0.1::80").unwrap(), "127.0.0.1::80");
        assert!(p("99999:1").is_err());
        assert!(p("a:b").is_err());
        assert!(p("1:2/icmp").is_err());
        let ports = parse_ports(Some(&json!([{"internal": 443, "external": "4443"}, {"internal": 80, "external": 0}])))
            .unwrap();
        assert_eq!(ports[0].publish(2).unwrap(), "4445:443");
        assert_eq!(ports[1].publish(2).unwrap(), "80");
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

    #[test]
    fn unit_file_mail() {
        insta::assert_snapshot!(unit(json!({
            "name": "mail",
            "image": "192.168.0.1:5000/mail:latest",
            "hostname": "mail.example.org",
            "ports": ["25:25", "127.0.0.1:143:143", {"internal": 587, "external": 587}],
            "env": {"LOCAL_DOMAINS": "example.org example.net"},
            "volumes": ["/etc/push/mail/users:/etc/mail/users:ro", "/var/spool/exim4"],
        })));
    }

    #[test]
    fn unit_file_hostile_values_are_escaped_for_systemd() {
        insta::assert_snapshot!(unit(json!({
            "name": "odd",
            "image": "web:v1",
            "links": ["mail:smtp", "odd"],
            "command": ["/bin/sh", "-c", "echo \"$HOME\" 100% 'x' \\ ; exit 0"],
            "extra_args": "--cap-add NET_ADMIN --label 'note=a b%c$d'",
            "stop_timeout": 30,
        })));
    }

    #[test]
    fn unit_file_with_a_health_check() {
        insta::assert_snapshot!(unit(json!({
            "name": "web",
            "image": "10.0.0.1:5000/web:v2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "ports": ["8080:80"],
            "health": {"http": {"port": 80, "path": "/health"}, "retries": 5, "interval": "1s", "start_period": 3},
        })));
    }

    #[test]
    fn count_makes_instances_and_a_group() {
        let text = unit(json!({"name": "web", "image": "web:v1", "count": 2, "ports": ["8080:80"], "links": ["db"]}));
        insta::assert_snapshot!(text);
        let op = plan(json!({"name": "web", "image": "web:v1", "count": 2})).unwrap();
        let keys: Vec<&str> = op.deferred.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "10-daemon-reload",
                "50-restart-web-1",
                "50-restart-web-1/outcome",
                "50-restart-web-2",
                "50-restart-web-2/outcome",
                "60-start-web"
            ]
        );
    }

    #[test]
    fn unit_text_keeps_its_trailing_newline_and_has_no_stray_specifiers() {
        let text = unit(json!({"name": "x", "image": "i", "env": {"P": "100%"}, "hostname": "h"}));
        assert!(text.ends_with("\n") && !text.ends_with("\n\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let stripped = line.replace("%%", "");
            assert!(!stripped.contains('%'), "unescaped specifier: {line}");
        }
    }

    #[test]
    fn bad_arguments_are_refused() {
        let e = |v: Value| plan(v).unwrap_err().to_string();
        assert!(e(json!({"name": "a b", "image": "i"})).contains("container name"));
        assert!(e(json!({"name": "a"})).contains("image"));
        assert!(e(json!({"name": "a", "image": "i", "count": 0})).contains("count"));
        assert!(e(json!({"name": "a", "state": "absent", "image": "i"})).contains("absent"));
        assert!(e(json!({"name": "a", "image": "i", "purge_volumes": true})).contains("absent"));
        assert!(e(json!({"name": "a", "image": "i", "network": "host", "ports": ["80"]})).contains("network"));
        assert!(e(json!({"name": "a", "image": "i", "command": "echo 'open"})).contains("quotes"));
    }
}
