//! `docker_unit`'s `health:`: what makes a started container count as
//! healthy, checked by the unit itself.
//!
//! The check runs as the unit's `ExecStartPost=` (the helper in
//! `templates/docker_unit_health.sh`): systemd keeps the unit
//! "activating" until it passes, so `systemctl is-active NAME` means
//! "healthy", `systemctl restart NAME` returns only once the new container
//! is healthy (or fails when it never gets there), and a crash-restart is
//! held to the same check. TCP and HTTP checks connect from inside the
//! container's network namespace (nsenter), so they need nothing in the
//! image and no published port; `cmd` runs in the container.

use serde_json::{Map, Value};

use super::docker_common::words;
use crate::args::ArgError;

pub(crate) const HELPER: &str = "/usr/local/lib/push/docker-unit-health";

#[derive(Debug, Clone, PartialEq)]
enum Check {
    Tcp(u16),
    Http {
        port: u16,
        path: String,
        status: u16,
    },
    Cmd(Vec<String>),
    /// The image's own HEALTHCHECK, as Docker reports it.
    Image,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Health {
    check: Check,
    /// Failed checks (after `start_period`) before the container counts as unhealthy.
    retries: u32,
    interval_ms: u64,
    timeout_ms: u64,
    /// Failures in this first stretch do not count (the service is starting).
    start_period_ms: u64,
}

fn invalid(message: impl Into<String>) -> ArgError {
    ArgError::invalid("health", message)
        .with_hint("e.g. health: {http: {port: 80, path: /health}, interval: 2s, timeout: 2s, retries: 5}")
}

/// `5`, `2.5`, `"500ms"`, `"5s"`, `"2m"`: seconds unless a unit says otherwise.
fn duration_ms(key: &str, v: &Value) -> Result<u64, ArgError> {
    let bad = || invalid(format!("`{key}` must be a duration like 5, \"500ms\", \"5s\" or \"2m\""));
    let (number, scale) = match v {
        Value::Number(n) => (n.as_f64().ok_or_else(bad)?, 1000.0),
        Value::String(s) => {
            let s = s.trim();
            let (n, scale) = if let Some(n) = s.strip_suffix("ms") {
                (n, 1.0)
            } else if let Some(n) = s.strip_suffix('s') {
                (n, 1000.0)
            } else if let Some(n) = s.strip_suffix('m') {
                (n, 60_000.0)
            } else {
                (s, 1000.0)
            };
            (n.trim().parse::<f64>().map_err(|_| bad())?, scale)
        }
        _ => return Err(bad()),
    };
    let ms = number * scale;
    if !(0.0..=3_600_000.0).contains(&ms) {
        return Err(invalid(format!("`{key}` must be between 0 and 1 hour")));
    }
    Ok(ms.round() as u64)
}

fn port(key: &str, v: &Value) -> Result<u16, ArgError> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    n.filter(|n| (1..=65535).contains(n))
        .map(|n| n as u16)
        .ok_or_else(|| invalid(format!("`{key}` must be a port number (1 to 65535)")))
}

const KINDS: [&str; 4] = ["tcp", "http", "cmd", "image"];
const TIMING: [&str; 4] = ["retries", "interval", "timeout", "start_period"];

impl Health {
    pub(crate) fn parse(v: Option<&Value>) -> Result<Option<Health>, ArgError> {
        let m: &Map<String, Value> = match v {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Object(m)) => m,
            Some(_) => return Err(invalid("`health` is a mapping with one of tcp, http, cmd or image")),
        };
        if let Some(k) = m.keys().find(|k| !KINDS.contains(&k.as_str()) && !TIMING.contains(&k.as_str())) {
            let error = invalid(format!("unknown health field `{k}`"));
            return Err(match crate::args::suggest(k, KINDS.iter().chain(TIMING.iter()).copied()) {
                Some(near) => error.with_hint(format!("did you mean `{near}`?")),
                None => error.with_hint(format!("one of {}, and {}", KINDS.join(", "), TIMING.join(", "))),
            });
        }
        let kinds: Vec<&str> = KINDS.iter().copied().filter(|k| m.contains_key(*k)).collect();
        let check = match kinds.as_slice() {
            ["tcp"] => Check::Tcp(port("tcp", &m["tcp"])?),
            ["http"] => match &m["http"] {
                Value::Object(h) => {
                    if let Some(k) = h.keys().find(|k| !["port", "path", "status"].contains(&k.as_str())) {
                        return Err(invalid(format!("unknown http field `{k}` (port, path, status)")));
                    }
                    let path = match h.get("path") {
                        None => "/".to_string(),
                        Some(Value::String(p)) if p.starts_with('/') && !p.contains(char::is_whitespace) => p.clone(),
                        Some(_) => return Err(invalid("http `path` must start with / and have no spaces")),
                    };
                    let status = match h.get("status") {
                        None => 200,
                        Some(v) => v
                            .as_u64()
                            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                            .filter(|s| (100..=599).contains(s))
                            .ok_or_else(|| invalid("http `status` must be an HTTP status code"))?
                            as u16,
                    };
                    let port = port("http port", h.get("port").ok_or_else(|| invalid("http needs a `port`"))?)?;
                    Check::Http { port, path, status }
                }
                other => Check::Http { port: port("http", other)?, path: "/".into(), status: 200 },
            },
            ["cmd"] => {
                let argv = words("health", m.get("cmd"))?;
                if argv.is_empty() {
                    return Err(invalid("`cmd` needs a command"));
                }
                Check::Cmd(argv)
            }
            ["image"] => match m["image"] {
                Value::Bool(true) => Check::Image,
                _ => return Err(invalid("`image: true` uses the image's own HEALTHCHECK")),
            },
            [] => return Err(invalid("say how to check: one of tcp, http, cmd or image")),
            _ => return Err(invalid(format!("choose one check, not {}", kinds.join(" and ")))),
        };
        let ms = |key: &str, default: u64| m.get(key).map(|v| duration_ms(key, v)).unwrap_or(Ok(default));
        let retries = match m.get("retries") {
            None => 10,
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| invalid("`retries` must be a number from 1 to 1000"))? as u32,
        };
        let health = Health {
            check,
            retries,
            interval_ms: ms("interval", 2000)?,
            timeout_ms: ms("timeout", 2000)?,
            start_period_ms: ms("start_period", 0)?,
        };
        if health.timeout_ms == 0 {
            return Err(invalid("`timeout` must be more than 0"));
        }
        Ok(Some(health))
    }

    /// The helper's command line, for `ExecStartPost=`.
    pub(crate) fn helper_args(&self, instance: &str) -> Vec<String> {
        let secs = |ms: u64| {
            let s = format!("{}.{:03}", ms / 1000, ms % 1000);
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        };
        let mut args = vec![
            HELPER.to_string(),
            instance.to_string(),
            secs(self.start_period_ms),
            secs(self.interval_ms),
            secs(self.timeout_ms),
            self.retries.to_string(),
        ];
        match &self.check {
            Check::Tcp(p) => args.extend(["tcp".into(), p.to_string()]),
            Check::Http { port, path, status } => {
                args.extend(["http".into(), port.to_string(), path.clone(), status.to_string()])
            }
            Check::Cmd(argv) => {
                args.push("cmd".into());
                args.extend(argv.iter().cloned());
            }
            Check::Image => args.push("image".into()),
        }
        args
    }

    /// The longest the check can take, in seconds (rounded up): the unit's
    /// start timeout must leave room for it.
    pub(crate) fn max_secs(&self) -> u64 {
        let ms = self.start_period_ms + u64::from(self.retries) * (self.interval_ms + self.timeout_ms);
        ms.div_ceil(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The error's message and hint, as one text.
    fn parse(v: Value) -> Result<Health, String> {
        Health::parse(Some(&v))
            .map(|h| h.expect("some"))
            .map_err(|e| format!("{e} (hint: {})", e.hint().unwrap_or_default()))
    }

    #[test]
    fn each_kind_becomes_helper_arguments() {
        let h = parse(json!({"http": {"port": 80, "path": "/health"}, "interval": "500ms", "retries": 3})).unwrap();
        assert_eq!(h.helper_args("web"), [HELPER, "web", "0", "0.5", "2", "3", "http", "80", "/health", "200"]);
        assert_eq!(h.max_secs(), 8);
        let h = parse(json!({"tcp": "25", "start_period": "1m", "timeout": 1.25})).unwrap();
        assert_eq!(h.helper_args("mail")[2..], ["60", "2", "1.25", "10", "tcp", "25"]);
        let h = parse(json!({"cmd": ["pg_isready", "-q"]})).unwrap();
        assert_eq!(h.helper_args("db")[6..], ["cmd", "pg_isready", "-q"]);
        let h = parse(json!({"cmd": "test -f /ready"})).unwrap();
        assert_eq!(h.helper_args("db")[6..], ["cmd", "test", "-f", "/ready"]);
        assert_eq!(parse(json!({"image": true})).unwrap().helper_args("x")[6..], ["image"]);
        assert_eq!(parse(json!({"http": 8080})).unwrap().helper_args("x")[6..], ["http", "8080", "/", "200"]);
        assert_eq!(Health::parse(None).unwrap(), None);
    }

    #[test]
    fn bad_health_is_refused_with_a_reason() {
        let e = |v: Value| parse(v).unwrap_err();
        assert!(e(json!({})).contains("one of tcp, http, cmd or image"));
        assert!(e(json!({"tcp": 1, "http": 2})).contains("choose one check"));
        assert!(e(json!({"tcp": 70000})).contains("port number"));
        assert!(e(json!({"tcp": 80, "intervall": 3})).contains("did you mean `interval`"));
        assert!(e(json!({"tcp": 80, "interval": "soon"})).contains("duration"));
        assert!(e(json!({"http": {"port": 80, "path": "health"}})).contains("start with /"));
        assert!(e(json!({"http": {"path": "/"}})).contains("needs a `port`"));
        assert!(e(json!({"http": {"port": 80, "status": 999}})).contains("status code"));
        assert!(e(json!({"image": false})).contains("image: true"));
        assert!(e(json!({"tcp": 80, "timeout": 0})).contains("more than 0"));
        assert!(e(json!("tcp")).contains("mapping"));
    }
}
