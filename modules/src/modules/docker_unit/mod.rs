//! `docker_unit`, in the parts a reader looks for:
//! - `spec.rs`: the arguments, checked and parsed into a `Spec`;
//! - `unit_file.rs`: what a `Spec` becomes on the host's disk: unit
//!   files, with the `docker run` and start-helper command lines escaped
//!   for systemd;
//! - `op.rs`: the op: the snippet that puts the units, env files and
//!   helpers on a host, the deferred switch of each instance to its new
//!   deployment, and `push rollback`'s op.

mod op;
mod spec;
#[cfg(test)]
mod tests;
mod unit_file;

use crate::args::{ArgError, Args, Param};
use crate::{Controller, Module, Op};

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
///   (`docker_common::systemd_quote`).
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

/// The start helper every unit runs first (see
/// `templates/docker_unit_prestart.sh`).
const PRESTART: &str = "/usr/local/lib/push/docker-unit-prestart";
/// The switch to a new deployment (see `templates/docker_unit_switch.sh`).
const SWITCH: &str = "/usr/local/lib/push/docker-unit-switch";
/// The boot-time unit that undoes a switch a restart of the host cut short.
const RECOVER_UNIT: &str = "push-docker-recover";
const UNIT_DIR: &str = "/etc/systemd/system";

impl Module for DockerUnit {
    fn name(&self) -> &'static str {
        "docker_unit"
    }
    fn params(&self) -> &'static [Param] {
        spec::PARAMS
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
        let (base, names) = spec::rollback_units(args)?;
        op::rollback(base, names.as_deref())
    }
    fn plan(&self, args: &Args, _: &dyn Controller) -> Result<Op, ArgError> {
        match spec::parse(args)? {
            spec::Task::Absent { base, purge } => op::absent(base, purge),
            spec::Task::Present(spec) => op::present(&spec),
        }
    }
}
