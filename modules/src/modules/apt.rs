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
        for name in &names {
            check_package(name).map_err(|why| {
                ArgError::invalid("name", format!("`{name}` is not a Debian package: {why}")).with_hint(
                    "write a package name as Debian spells it (`nginx`, `libc6:amd64`), optionally with \
                     `=VERSION` or `=VERSION*`; a .deb file is not accepted",
                )
            })?;
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

/// A package as `apt-get install` takes it: `NAME[:ARCH][=VERSION[*]]`.
/// Anything else is refused: apt-get reads a path (`./x.deb`, `/tmp/x.deb`)
/// as a file to install, whose maintainer scripts then run as root, and an
/// option-like word as an option. The trailing `*` of a version asks for
/// any version that starts with the rest.
fn check_package(spec: &str) -> Result<(), String> {
    let (package, version) = match spec.split_once('=') {
        Some((package, version)) => (package, Some(version)),
        None => (spec, None),
    };
    let (name, arch) = match package.split_once(':') {
        Some((name, arch)) => (name, Some(arch)),
        None => (package, None),
    };
    if !is_package_name(name) {
        return Err("a name is 2 or more of a-z, 0-9, `+`, `-`, `.`, starting with a letter or digit".into());
    }
    if let Some(arch) = arch {
        if arch.is_empty() || !arch.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(format!("`{arch}` is not an architecture name"));
        }
    }
    if let Some(version) = version {
        let exact = version.strip_suffix('*').unwrap_or(version);
        if exact.is_empty() || !exact.chars().all(|c| c.is_ascii_alphanumeric() || ".+~:-".contains(c)) {
            return Err(format!("`{version}` is not a version (`*` may only end it)"));
        }
    }
    Ok(())
}

/// Debian policy 5.6.1: lowercase letters, digits, `+`, `-` and `.`, at
/// least two characters, starting with a letter or digit.
fn is_package_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::check_package;

    #[test]
    fn package_names_versions_and_version_prefixes_are_accepted() {
        for spec in [
            "nginx",
            "libc6:amd64",
            "g++",
            "libstdc++6",
            "nginx=1.22.1-9",
            "nginx=1.22*",
            "tzdata=2024a-0+deb12u1",
            "openssl=1:3.0.15-1~deb12u1",
            "x11-common:all=1:7.7*",
        ] {
            assert_eq!(check_package(spec), Ok(()), "{spec}");
        }
    }

    #[test]
    fn paths_options_and_patterns_are_refused() {
        for spec in [
            "/tmp/x.deb",
            "./x.deb",
            "x.deb/",
            "-oDpkg::Pre-Invoke::=id",
            "Nginx",
            "w*",
            "n",
            "",
            "nginx=",
            "nginx=1.2*3",
            "nginx=1.2?",
            "nginx:",
            "nginx:AMD64",
            "nginx/bookworm",
            "nginx=1.2 x",
        ] {
            assert!(check_package(spec).is_err(), "{spec} was accepted");
        }
    }
}
