//! A task's op: the snippet that puts its units, env files and helpers on
//! a host (`templates/docker_unit.sh`), the deferred actions that switch
//! each instance to its new deployment, and `push rollback`'s op.

use base64::Engine;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::spec::Spec;
use super::unit_file::{group_unit_file, marker, unit_file};
use super::{PRESTART, RECOVER_UNIT, SWITCH, UNIT_DIR};
use crate::args::ArgError;
use crate::deferred::{OUTCOME_SUFFIX, UNIT_SWITCH_PREFIX};
use crate::modules::docker_common::{copy_op, dir_op, formats, sub_ctx, HELPER_DIR, RUN_DIR, STATE_DIR};
use crate::modules::{docker_health, render};
use crate::templates::verbatim;
use crate::{Deferred, DeferredKind, Op, Prefetch};

/// Everything one instance's files and checks need.
struct Instance {
    name: String,
    unit: String,
    env: String,
}

fn sha(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

fn unit_path(unit: &str) -> String {
    format!("{UNIT_DIR}/{unit}.service")
}

/// What `templates/docker_unit.sh` is given whatever the task asks for.
fn context(base: &str) -> Map<String, Value> {
    let mut ctx = formats();
    ctx.extend([
        ("base".into(), base.into()),
        ("marker".into(), marker(base).into()),
        ("unit_dir".into(), UNIT_DIR.into()),
        ("state_dir".into(), STATE_DIR.into()),
        ("run_dir".into(), RUN_DIR.into()),
        ("switch".into(), SWITCH.into()),
        ("daemon_reload_key".into(), DeferredKind::DaemonReload.key().into()),
    ]);
    ctx
}

/// `state: absent`: the task's units go (and with `purge`, the volumes
/// push made for them).
pub(super) fn absent(base: &str, purge: bool) -> Result<Op, ArgError> {
    let mut ctx = context(base);
    ctx.extend([("state".into(), "absent".into()), ("purge".into(), purge.into())]);
    let mut op = render("docker_unit.sh", Value::Object(ctx))?;
    op.deferred = vec![daemon_reload()];
    Ok(op)
}

/// The units as `spec` says, each recreated at the end of the play when
/// what it runs changed.
pub(super) fn present(spec: &Spec) -> Result<Op, ArgError> {
    let base = spec.base;
    let names = spec.instance_names();
    let mut instances = Vec::new();
    for (i, name) in names.iter().enumerate() {
        instances.push(Instance { name: name.clone(), unit: unit_file(spec, name, i as u16)?, env: spec.env.clone() });
    }
    let group = (spec.count > 1).then(|| group_unit_file(spec, &names)).transpose()?;

    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
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
    let mut ctx = context(base);
    ctx.extend([
        ("state".into(), "present".into()),
        ("image".into(), spec.image.into()),
        ("count".into(), spec.count.into()),
        ("expected".into(), expected.into()),
        ("config_files".into(), spec.config_files.clone().into()),
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
                "helper": sub_ctx(&copy_op(PRESTART, verbatim("docker_unit_prestart.sh"), "0755")?),
                "health_helper": sub_ctx(&copy_op(docker_health::HELPER, verbatim("docker_unit_health.sh"), "0755")?),
                "switch_helper": sub_ctx(&copy_op(SWITCH, verbatim("docker_unit_switch.sh"), "0755")?),
                "recover_unit": sub_ctx(&copy_op(&unit_path(RECOVER_UNIT), verbatim("docker_unit_recover.service"), "0644")?),
                "state_dir": sub_ctx(&dir_op(STATE_DIR, "0700")?),
            }),
        ),
    ]);
    let mut op = render("docker_unit.sh", Value::Object(ctx))?;
    op.diff_after = Some(diff_after.into_bytes());
    op.diff_label =
        Some(if diff_files.len() == 1 { diff_files[0].0.clone() } else { format!("{UNIT_DIR}/{base}*.service") });
    op.deferred = deferred_restarts(base, &names, group.is_some())?;
    op.prefetch = prefetch;
    Ok(op)
}

/// `push rollback` of a task with units `names` (`None`: `state: absent`,
/// nothing to go back to). See `templates/docker_unit_rollback.sh`.
pub(super) fn rollback(base: &str, names: Option<&[String]>) -> Result<Op, ArgError> {
    let Some(names) = names else {
        return render("docker_unit_rollback.sh", json!({"names": []}));
    };
    let mut op = render(
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
    op.deferred = deferred_restarts(base, names, false)?;
    Ok(op)
}

/// The deferred actions of a unit's task: one daemon-reload, a restart per
/// instance (health-checked, going back to the earlier deployment if the
/// new one does not come up), then the group unit.
fn deferred_restarts(base: &str, names: &[String], group: bool) -> Result<Vec<Deferred>, ArgError> {
    let mut deferred = vec![daemon_reload()];
    for name in names {
        let mut ctx = formats();
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
fn daemon_reload() -> Deferred {
    // The time of it: a container started before it ran the old unit.
    Deferred::new(
        DeferredKind::DaemonReload,
        format!(
            "systemctl daemon-reload\nmkdir -p -- {RUN_DIR}\ndate +%s >{RUN_DIR}/.daemon-reload\npush_changed daemon-reload\n"
        ),
    )
}
