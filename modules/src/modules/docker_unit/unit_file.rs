//! What a [`Spec`] becomes on the host's disk: each instance's unit file,
//! with its `docker run` and start-helper command lines escaped word by
//! word for systemd, and the unit that stands for `count` instances.

use serde_json::json;

use super::spec::{Mount, Port, Source, Spec};
use super::PRESTART;
use crate::args::ArgError;
use crate::modules::docker_common::{path_slug, render_file, systemd_quote, unit_text, RUN_DIR, STATE_DIR};
use crate::modules::docker_health::Health;

/// The first line of every unit file a task writes: the task's snippet
/// finds the units it made by it.
pub(super) fn marker(base: &str) -> String {
    format!("# push: docker_unit {base}")
}

/// The unit file of instance `name`, number `offset` (0-based) of the task.
pub(super) fn unit_file(spec: &Spec, name: &str, offset: u16) -> Result<String, ArgError> {
    let run = docker_run(spec, name, offset)?;
    let prestart = prestart_argv(spec, name);
    let exec_start = exec_start(&run)?;

    // Linked units are wanted and ordered, not required: see the doc
    // comment on DockerUnit (a restart of one must not restart the other).
    let mut links: Vec<String> = Vec::new();
    for l in spec.links.iter().filter(|l| l.to != spec.base) {
        let unit = format!("{}.service", l.to);
        if !links.contains(&unit) {
            links.push(unit);
        }
    }
    let description = if spec.count > 1 {
        format!("Container {name} ({} {} of {}) from {}", spec.base, offset + 1, spec.count, spec.image)
    } else {
        format!("Container {name} from {}", spec.image)
    };
    render_file(
        "docker_unit.service.j2",
        json!({
            "marker": marker(spec.base),
            "name": name,
            "description": unit_text(&description),
            "links": links,
            "part_of": (spec.count > 1).then(|| format!("{}.service", spec.base)),
            "volumes_file": format!("{RUN_DIR}/{name}.volumes"),
            "prestart": quote_all(&prestart)?,
            "run": exec_start,
            "image": spec.image,
            "health": spec.health.as_ref().map(|h| quote_all(&h.helper_args(name))).transpose()?,
            // Pulling a big image counts too: never less than 5 minutes.
            "start_timeout": 300 + spec.health.as_ref().map_or(0, Health::max_secs),
            "stop_timeout": spec.stop_timeout,
        }),
    )
}

/// The unit NAME that stands for the instances NAME-1..NAME-N.
pub(super) fn group_unit_file(spec: &Spec, names: &[String]) -> Result<String, ArgError> {
    render_file(
        "docker_unit_group.service.j2",
        json!({
            "marker": marker(spec.base),
            "base": spec.base,
            "count": spec.count,
            "description": unit_text(&format!("Containers {} ({} instances) from {}", spec.base, spec.count, spec.image)),
            "instances": names.iter().map(|n| format!("{n}.service")).collect::<Vec<_>>(),
        }),
    )
}

/// An instance's `docker run` words, in two parts: the start helper's
/// volumes go between them (see [`exec_start`]).
struct DockerRun {
    /// `docker run` and its options.
    head: Vec<String>,
    /// The extra arguments, the image and its command.
    tail: Vec<String>,
}

fn docker_run(spec: &Spec, name: &str, offset: u16) -> Result<DockerRun, ArgError> {
    let mut head: Vec<String> =
        ["/usr/bin/docker", "run", "--rm", "--restart=no", "--name", name].map(String::from).to_vec();
    head.extend(["--label".into(), format!("push.docker_unit={}", spec.base)]);
    if let Some(h) = spec.hostname {
        head.extend(["--hostname".into(), h.to_string()]);
    }
    head.extend(["--network".into(), spec.network.clone()]);
    if spec.count > 1 {
        head.extend(["--network-alias".into(), spec.base.to_string()]);
    }
    for l in &spec.links {
        if let Some(a) = &l.alias {
            head.extend(["--link".into(), format!("{}:{a}", l.to)]);
        }
    }
    head.extend(["--env-file".into(), format!("{STATE_DIR}/{name}.env")]);
    for p in &spec.ports {
        head.extend(["-p".into(), publish(p, offset)?]);
    }
    for m in &spec.mounts {
        let opts = m.options.as_ref().map(|o| format!(":{o}")).unwrap_or_default();
        head.extend(["-v".into(), format!("{}:{}{opts}", volume_source(m, name).0, m.path)]);
    }
    let mut tail = spec.extra.clone();
    tail.push(spec.image.to_string());
    tail.extend(spec.command.iter().cloned());
    Ok(DockerRun { head, tail })
}

/// `ExecStart=`: the start helper's volumes for what the image declares
/// go in unquoted, so systemd splits them into words (and theirs is the
/// only `$` not doubled).
fn exec_start(run: &DockerRun) -> Result<String, ArgError> {
    Ok(format!("{} $VOLUME_ARGS {}", quote_all(&run.head)?, quote_all(&run.tail)?))
}

/// The start helper's words (see `templates/docker_unit_prestart.sh`):
/// the instance, its task, image, network and volumes file, then each
/// mount: a volume of the unit's own as `VOLUME:PATH` (the helper creates
/// it), any other by its path alone (so the helper leaves that path out of
/// the image's volumes).
fn prestart_argv(spec: &Spec, name: &str) -> Vec<String> {
    let mut argv: Vec<String> = vec![
        PRESTART.into(),
        name.into(),
        spec.base.into(),
        spec.image.into(),
        spec.network.clone(),
        format!("{RUN_DIR}/{name}.volumes"),
    ];
    for m in &spec.mounts {
        argv.push(match volume_source(m, name) {
            (source, true) => format!("{source}:{}", m.path),
            (_, false) => m.path.clone(),
        });
    }
    argv
}

/// What a mount of instance `name` mounts, and whether it is a volume of
/// the unit's own (`NAME-<slug>`).
fn volume_source(m: &Mount, name: &str) -> (String, bool) {
    match &m.source {
        Source::Owned => (format!("{name}-{}", path_slug(&m.path)), true),
        Source::Named(v) => (v.clone(), false),
        Source::Bind(h) => (h.clone(), false),
    }
}

/// `-p` value of a port for instance `offset` (0-based): published
/// external ports shift by it.
fn publish(port: &Port, offset: u16) -> Result<String, ArgError> {
    let external = match port.external {
        Some(e) => e
            .checked_add(offset)
            .map(|p| p.to_string())
            .ok_or_else(|| ArgError::invalid("ports", format!("port {e} + {offset} is past 65535")))?,
        None => String::new(),
    };
    let mut s = match (&port.ip, port.external) {
        (Some(ip), _) if ip.contains(':') => format!("[{ip}]:{external}:{}", port.internal),
        (Some(ip), _) => format!("{ip}:{external}:{}", port.internal),
        (None, Some(_)) => format!("{external}:{}", port.internal),
        (None, None) => port.internal.to_string(),
    };
    if let Some(p) = &port.proto {
        s.push('/');
        s.push_str(p);
    }
    Ok(s)
}

fn quote_all(words: &[String]) -> Result<String, ArgError> {
    words
        .iter()
        .map(|w| systemd_quote(w).map_err(|e| ArgError::invalid("command", e.to_string())))
        .collect::<Result<Vec<_>, _>>()
        .map(|w| w.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(ip: Option<&str>, external: Option<u16>, internal: u16, proto: Option<&str>) -> Port {
        Port { ip: ip.map(String::from), external, internal, proto: proto.map(String::from) }
    }

    #[test]
    fn ports_in_all_their_forms() {
        let p = |port: Port| publish(&port, 0).unwrap();
        assert_eq!(p(port(None, Some(4443), 443, None)), "4443:443");
        assert_eq!(p(port(Some("127.0.0.1"), Some(25), 25, None)), "127.0.0.1:25:25");
        assert_eq!(p(port(Some("::1"), Some(80), 80, Some("tcp"))), "[::1]:80:80/tcp");
        assert_eq!(p(port(None, Some(53), 53, Some("udp"))), "53:53/udp");
        assert_eq!(p(port(None, None, 8080, None)), "8080");
        assert_eq!(p(port(Some("127.0.0.1"), None, 80, None)), "127.0.0.1::80");
    }

    #[test]
    fn published_ports_shift_with_the_instance() {
        assert_eq!(publish(&port(None, Some(4443), 443, None), 2).unwrap(), "4445:443");
        assert_eq!(publish(&port(None, None, 80, None), 2).unwrap(), "80");
        let e = publish(&port(None, Some(65535), 1, None), 1).unwrap_err();
        assert!(e.to_string().contains("past 65535"), "{e}");
    }

    #[test]
    fn a_nul_byte_is_refused_not_passed() {
        let e = quote_all(&["ok".into(), "n\0l".into()]).unwrap_err();
        assert!(e.to_string().contains("NUL"), "{e}");
    }
}
