use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::docker_common::{copy_op, dir_op, sub_ctx, sub_op};
use crate::args::{ArgError, Args, Kind, Param};
use crate::{Controller, Deferred, DeferredKind, Module, Op};

/// `docker_host`: prepare a Debian host to run containers as systemd units.
///
/// - systemd and systemd-sysv present (and systemd running as PID 1: the
///   apply fails otherwise), `nsenter` present (util-linux), Debian's
///   Docker engine (`docker.io`) installed, enabled and running.
/// - `/etc/docker/daemon.json` is written from the arguments as a whole
///   (keys sorted, so the text is stable); it is written before the
///   package is installed, so a fresh engine starts with it. When it
///   changes on a host whose engine is running, Docker restarts once, at
///   the end of the play (deferred action `20-restart-docker`), or earlier,
///   just before the first pull of a later `docker_unit` or `docker_image`
///   task, which may need the new registries or mirrors (as if the play
///   had `meta: flush_handlers` there). That restart also restarts every
///   container unit (they `Require=` docker.service).
///
/// Supervision: systemd is the only supervisor. The old way to say so,
/// `DOCKER_OPTS="-r=false"`, is gone from Docker (an unknown flag would
/// keep today's engine from starting). Today the daemon restarts nothing
/// unless a container asks for it, so the intent is expressed as:
/// - containers made by `docker_unit` run with `--rm --restart=no` (a
///   restart policy is never set; `--rm` even forbids one), so the engine
///   never brings one back on its own;
/// - `"live-restore": false` in daemon.json: containers stop with the
///   engine, and when it comes back their units (`Requires=docker.service`,
///   `Restart=always`) recreate them. Nothing runs that systemd does not
///   know about.
pub struct DockerHost;

const PARAMS: &[Param] = &[
    Param::new("insecure_registries", Kind::List),
    Param::new("registry_mirrors", Kind::List),
    Param::new("log_driver", Kind::Str),
    Param::new("log_opts", Kind::Map),
    Param::new("daemon_options", Kind::Map),
];

pub(crate) const DAEMON_JSON: &str = "/etc/docker/daemon.json";

/// The keys this module manages itself; `daemon_options` may not set them.
const MANAGED_KEYS: &[&str] = &["live-restore", "insecure-registries", "registry-mirrors", "log-driver", "log-opts"];

/// daemon.json as the arguments describe it.
fn daemon_json(args: &Args) -> Result<String, ArgError> {
    let mut conf: BTreeMap<String, Value> = BTreeMap::new();
    conf.insert("live-restore".into(), Value::Bool(false));
    let list = |name: &str| args.list(name).into_iter().map(Value::from).collect::<Vec<_>>();
    if args.has("insecure_registries") {
        conf.insert("insecure-registries".into(), Value::Array(list("insecure_registries")));
    }
    if args.has("registry_mirrors") {
        conf.insert("registry-mirrors".into(), Value::Array(list("registry_mirrors")));
    }
    if let Some(driver) = args.str("log_driver") {
        conf.insert("log-driver".into(), driver.into());
    }
    if let Some(Value::Object(opts)) = args.get("log_opts") {
        // Docker wants every log option as a string (`"max-file": "3"`).
        let mut text = Map::new();
        for (k, v) in opts {
            let v = super::docker_common::scalar_text(v)
                .ok_or_else(|| ArgError::invalid("log_opts", format!("log option `{k}` must be a string or number")))?;
            text.insert(k.clone(), Value::String(v));
        }
        conf.insert("log-opts".into(), Value::Object(text));
    }
    if let Some(Value::Object(extra)) = args.get("daemon_options") {
        for (k, v) in extra {
            if MANAGED_KEYS.contains(&k.as_str()) {
                return Err(ArgError::invalid(
                    "daemon_options",
                    format!("`{k}` is set by docker_host itself (live-restore is always false; use the module's own arguments for the others)"),
                ));
            }
            conf.insert(k.clone(), v.clone());
        }
    }
    let conf: Map<String, Value> = conf.into_iter().map(|(k, v)| (k, sorted(v))).collect();
    let mut text = serde_json::to_string_pretty(&conf).expect("JSON values serialize");
    text.push('\n');
    Ok(text)
}

/// The value with the keys of every mapping sorted, so that the file's
/// text only changes when its meaning does.
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

impl Module for DockerHost {
    fn name(&self) -> &'static str {
        "docker_host"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn plan(&self, args: &Args, _: &dyn Controller) -> Result<Op, ArgError> {
        let json = daemon_json(args)?;
        let apt = sub_op(
            &super::Apt,
            json!({
                "name": ["systemd", "systemd-sysv", "util-linux", "ca-certificates", "docker.io"],
                "update_cache": true,
                "cache_valid_time": 3600,
                "install_recommends": false,
            }),
        )?;
        let service =
            sub_op(&super::Systemd("systemd"), json!({"name": "docker", "state": "started", "enabled": true}))?;
        let mut ctx = super::docker_common::formats();
        ctx.extend([
            ("json_path".into(), DAEMON_JSON.into()),
            ("restart_key".into(), DeferredKind::EngineRestart.key().into()),
            ("json_sha".into(), format!("{:x}", Sha256::digest(json.as_bytes())).into()),
            (
                "subs".into(),
                json!({
                    "dir": sub_ctx(&dir_op("/etc/docker", "0755")?),
                    "json": sub_ctx(&copy_op(DAEMON_JSON, &json, "0644")?),
                    "apt": sub_ctx(&apt),
                    "service": sub_ctx(&service),
                }),
            ),
        ]);
        let mut op = super::render("docker_host.sh", Value::Object(ctx))?;
        op.diff_after = Some(json.into_bytes());
        op.diff_label = Some(DAEMON_JSON.into());
        // Skipped when a pull earlier in the play already restarted the
        // engine for this daemon.json; else the container units restart
        // with it (they require it), waited for so the play ends with them up.
        let restart = crate::shell::render("docker_host_restart.sh", minijinja::Value::UNDEFINED)
            .map_err(|e| ArgError::general(e.to_string()))?;
        op.deferred = vec![Deferred::new(DeferredKind::EngineRestart, restart)];
        Ok(op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> Args {
        Args::check(PARAMS, v.as_object().unwrap().clone()).unwrap()
    }

    #[test]
    fn daemon_json_is_stable_and_never_live_restores() {
        let text = daemon_json(&args(json!({
            "log_opts": {"max-size": "10m", "max-file": 3},
            "insecure_registries": ["192.168.0.1:5000"],
            "log_driver": "json-file",
            "daemon_options": {"storage-driver": "vfs"},
        })))
        .unwrap();
        insta::assert_snapshot!(text, @r#"
        {
          "insecure-registries": [
            "192.168.0.1:5000"
          ],
          "live-restore": false,
          "log-driver": "json-file",
          "log-opts": {
            "max-file": "3",
            "max-size": "10m"
          },
          "storage-driver": "vfs"
        }
        "#);
        assert_eq!(daemon_json(&args(json!({}))).unwrap(), "{\n  \"live-restore\": false\n}\n");
        let e = daemon_json(&args(json!({"daemon_options": {"live-restore": true}}))).unwrap_err();
        assert!(e.to_string().contains("live-restore is always false"), "{e}");
    }
}
