//! inotify instances, a limit lab hosts run into: systemd and a few of its
//! services each hold some, and every container's root is the machine's
//! root, so the hosts of all labs (and the machine's own services) share
//! one per-user limit, `fs.inotify.max_user_instances` (128 on Debian).
//! Past it, systemd on a new host cannot watch its `.path` units and the
//! host boots degraded (`systemd-ask-password-*.path` failed).

use crate::{Error, Result};

/// What one booted lab host holds: counted on Debian 12 hosts (systemd 5,
/// dbus-daemon 1, systemd-logind 1, journald while it starts): 7 to 8.
/// With the default 128, the 17th host is the first to fail, as seen.
pub const PER_HOST: u64 = 8;

/// Where the machine's limit is.
pub const LIMIT_FILE: &str = "/proc/sys/fs/inotify/max_user_instances";

/// The fix to print: a limit that leaves room for [`super::MAX_HOSTS`]
/// hosts of several labs.
pub const RAISE: &str = "sysctl fs.inotify.max_user_instances=1024";

/// This machine's limit; None where it cannot be read (not Linux, no /proc):
/// then nothing is checked.
pub fn limit() -> Option<u64> {
    std::fs::read_to_string(LIMIT_FILE).ok()?.trim().parse().ok()
}

/// Refuse, before anything boots, to start `booting` hosts beside the
/// `running` ones (lab hosts of every lab on this machine) when together
/// they need more inotify instances than `limit`.
pub fn check(limit: u64, running: usize, booting: usize) -> Result<()> {
    let hosts = (running + booting) as u64;
    let need = hosts * PER_HOST;
    if booting == 0 || need <= limit {
        return Ok(());
    }
    Err(Error::Setup(format!(
        "booting {booting} lab host(s) beside the {running} already running on this machine (all labs) needs about \
         {need} inotify instances ({PER_HOST} per host), and fs.inotify.max_user_instances is {limit}: hosts past it \
         boot degraded (systemd-ask-password-*.path failed). Raise it as root with `{RAISE}`, or run at most {} \
         lab hosts in all",
        limit / PER_HOST
    )))
}

/// What to add to the error of a host that booted degraded with these
/// failed units: `.path` units fail when inotify instances run out.
pub fn degraded_hint(failed_units: &[String]) -> Option<String> {
    failed_units.iter().any(|u| u.ends_with(".path")).then(|| {
        format!(
            "path units fail when the machine runs out of inotify instances (fs.inotify.max_user_instances, \
             about {PER_HOST} per lab host): raise it as root with `{RAISE}`"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_limit_takes_sixteen_hosts_in_all() {
        assert!(check(128, 0, 16).is_ok());
        assert!(check(128, 13, 3).is_ok());
        let e = check(128, 14, 3).unwrap_err();
        assert!(matches!(e, Error::Setup(_)));
        insta::assert_snapshot!(e, @"booting 3 lab host(s) beside the 14 already running on this machine (all labs) needs about 136 inotify instances (8 per host), and fs.inotify.max_user_instances is 128: hosts past it boot degraded (systemd-ask-password-*.path failed). Raise it as root with `sysctl fs.inotify.max_user_instances=1024`, or run at most 16 lab hosts in all");
        assert!(check(1024, 60, 50).is_ok());
    }

    /// `up` on a lab whose hosts all run boots nothing: never refused.
    #[test]
    fn nothing_to_boot_is_never_refused() {
        assert!(check(128, 40, 0).is_ok());
    }

    #[test]
    fn a_failed_path_unit_points_at_the_limit() {
        let units = |u: &[&str]| u.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let hint = degraded_hint(&units(&["systemd-ask-password-console.path", "systemd-ask-password-wall.path"]));
        assert!(hint.unwrap().contains("sysctl fs.inotify.max_user_instances=1024"));
        assert_eq!(degraded_hint(&units(&["ssh.service"])), None);
    }
}
