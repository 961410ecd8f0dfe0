//! One file (or folder, for `docker_unit`) per module, each with its
//! template in `modules/templates/`, registered in `templates.rs` (shared
//! shell helpers live in `templates/prelude.sh`).
//!
//! Choices made where Ansible leaves room:
//! - A probe never fails on a precondition an earlier task of the same run
//!   may still meet (a missing folder, file, user or package): it cannot
//!   know, so it reports a change saying so, and the apply fails if the
//!   precondition still does not hold (`push_unmet`).
//! - `~` and relative paths are under the remote user's home, as in
//!   Ansible; `command`/`shell` run in the home folder too.
//! - Modes are compared by letting chmod compute the result on a scratch
//!   file, so symbolic modes (`u=rwX`) are idempotent like octal ones.

mod apt;
mod authorized_key;
mod command;
mod copy;
mod docker_common;
mod docker_health;
mod docker_host;
mod docker_image;
mod docker_ssh;
#[cfg(test)]
mod docker_tests;
mod docker_unit;
mod file;
mod group;
mod lineinfile;
mod shell;
mod systemd;
mod template;
mod user;

pub use apt::Apt;
pub use command::Command;
pub use copy::Copy;
pub use docker_host::DockerHost;
pub use docker_image::DockerImage;
pub use docker_ssh::DockerSsh;
pub use docker_unit::DockerUnit;
pub use file::File;
pub use group::Group;
pub use lineinfile::LineInFile;
pub use shell::Shell;
pub use systemd::Systemd;
pub use template::Template;
pub use user::User;

use serde_json::{Map, Value};

use crate::{ArgError, Op};

/// Render a module's template as probe and apply. Rendering only fails on
/// values no shell word can hold (a NUL byte), which is the user's to fix.
pub(crate) fn render(template: &str, ctx: Value) -> Result<Op, ArgError> {
    let (probe, apply) = crate::shell::render_pair(template, &ctx).map_err(|e| ArgError::general(e.to_string()))?;
    Ok(Op { probe, apply, ..Default::default() })
}

/// A path as snippets use it. Like Ansible, `~` and relative paths are
/// under the (remote) home folder; snippets prefix `$HOME` when `home` is
/// set. Trailing slashes go, so the folder of a path is `${p%/*}`.
pub(crate) fn host_path(path: &str) -> (bool, String) {
    let (home, rest) = match path {
        "~" => (true, String::new()),
        p if p.starts_with("~/") => (true, p[1..].to_string()),
        p if p.starts_with('/') => (false, p.to_string()),
        p => (true, format!("/{p}")),
    };
    let trimmed = rest.trim_end_matches('/');
    match (home, trimmed.is_empty()) {
        (false, true) => (false, "/".to_string()),
        _ => (home, trimmed.to_string()),
    }
}

/// Template context for the attributes every file-like module manages; a
/// missing one is "" so templates can pass it along as an empty word.
pub(crate) fn attrs(args: &crate::Args) -> Map<String, Value> {
    ["mode", "owner", "group"].iter().map(|k| (k.to_string(), Value::from(args.str(k).unwrap_or("")))).collect()
}

/// `validate` (a command with `%s` for the new file) as words, each split
/// at `%s`: the template quotes the parts and puts the temp file between
/// them. Ansible splits it the same way, without a shell.
pub(crate) fn validate_words(args: &crate::Args) -> Result<Vec<Vec<String>>, ArgError> {
    let Some(cmd) = args.str("validate") else { return Ok(Vec::new()) };
    if !cmd.contains("%s") {
        return Err(ArgError::invalid("validate", format!("validate must contain %s: {cmd}")));
    }
    let words = shlex::split(cmd).ok_or_else(|| ArgError::invalid("validate", "unbalanced quotes in validate"))?;
    Ok(words.iter().map(|w| w.split("%s").map(String::from).collect()).collect())
}

#[cfg(test)]
mod tests {
    use super::host_path;

    #[test]
    fn paths_like_ansible() {
        assert_eq!(host_path("/etc/x/"), (false, "/etc/x".into()));
        assert_eq!(host_path("/"), (false, "/".into()));
        assert_eq!(host_path("~"), (true, "".into()));
        assert_eq!(host_path("~/.bashrc"), (true, "/.bashrc".into()));
        assert_eq!(host_path("notes.txt"), (true, "/notes.txt".into()));
    }
}
