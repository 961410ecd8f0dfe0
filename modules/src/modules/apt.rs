use serde_json::json;

use crate::args::{ArgError, Args, Kind, Param};
use crate::{Controller, Module, Op};

/// `apt`: Debian packages present, absent or at their latest version.
pub struct Apt;

const PARAMS: &[Param] = &[
    Param::new("name", Kind::List).aliases(&["pkg", "package"]),
    Param::new("state", Kind::Str).choices(&["present", "absent", "latest", "installed", "removed"]),
    Param::new("update_cache", Kind::Bool).aliases(&["update-cache"]),
    Param::new("cache_valid_time", Kind::Int),
    Param::new("purge", Kind::Bool),
    Param::new("install_recommends", Kind::Bool).aliases(&["install-recommends"]),
    Param::new("autoremove", Kind::Bool),
    Param::new("lock_timeout", Kind::Int),
];

impl Module for Apt {
    fn name(&self) -> &'static str {
        "apt"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn plan(&self, args: &Args, _: &dyn Controller) -> Result<Op, ArgError> {
        let names = args.list("name");
        let state = match args.str("state").unwrap_or("present") {
            "installed" => "present",
            "removed" => "absent",
            s => s,
        };
        // As in Ansible 2.4+, a cache_valid_time asks for an update.
        let update_cache = args.bool("update_cache").unwrap_or(args.has("cache_valid_time"));
        let autoremove = args.bool("autoremove").unwrap_or(false);
        if names.is_empty() && !update_cache && !autoremove {
            return Err(ArgError::invalid("name", "one of name, update_cache or autoremove is required"));
        }
        if let Some(n) = names.iter().find(|n| n.contains(['*', '?', '['])) {
            return Err(ArgError::invalid("name", format!("package name patterns are not supported: {n}")));
        }
        if state == "latest" && names.iter().any(|n| n.contains('=')) {
            return Err(ArgError::invalid(
                "state",
                "a pinned version (name=version) is inconsistent with state=latest",
            ));
        }
        let purge = args.bool("purge").unwrap_or(false);
        let action = match state {
            "absent" if purge => "purge",
            "absent" => "remove",
            _ => "install",
        };
        let mut options =
            vec!["-o".to_string(), format!("DPkg::Lock::Timeout={}", args.int("lock_timeout").unwrap_or(60))];
        if action == "install" {
            // Keep changed config files, take new ones otherwise (Ansible's default).
            options.extend(
                ["-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"].map(String::from),
            );
            if let Some(r) = args.bool("install_recommends") {
                options.extend(["-o".into(), format!("APT::Install-Recommends={}", if r { "yes" } else { "no" })]);
            }
        }
        let bare: Vec<&str> = names.iter().map(|n| n.split_once('=').map_or(n.as_str(), |(name, _)| name)).collect();
        super::render(
            "apt.sh",
            json!({
                "names": names,
                // Without versions, in the loop's order, for one awk to look
                // up in dpkg's status file (apt.sh); not when a name has an
                // architecture.
                "bare_names": bare.iter().all(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)))
                    .then(|| bare.join(" ")),
                "state": state,
                "action": action,
                "update_cache": update_cache,
                "cache_valid_time": args.int("cache_valid_time").unwrap_or(0),
                "purge": purge,
                "autoremove": autoremove,
                "options": options,
            }),
        )
    }
}
