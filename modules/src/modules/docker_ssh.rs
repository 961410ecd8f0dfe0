use serde_json::{json, Value};

use super::authorized_key;
use super::docker_common::{check_container_name, copy_op, dir_op, render_file, sub_ctx, sub_op, HELPER_DIR};
use crate::args::{ArgError, Args, Kind, Param};
use crate::{Controller, Module, Op};

/// `docker_ssh`: `ssh NAME@HOST` opens a shell in the running container
/// NAME; `ssh NAME@HOST CMD` runs CMD there. Agentless and declarative:
/// what geard did with a daemon and a JSON file is a few files on the host.
///
/// - A system account NAME (`login`) whose login shell is the helper
///   `/usr/local/lib/push/docker-ssh`, created by push (its GECOS field
///   says so). Any other existing account is refused (`nobody`, Debian's
///   `mail`...): whatever runs as it would get the sudo rule below.
/// - Its keys (`keys`, and the lines of controller-side `key_files`) in
///   `/etc/push/ssh/authorized_keys/NAME` (root-owned, the
///   whole file managed: a key left out of `keys` is removed), each as
///   `restrict,pty,command="/usr/local/lib/push/docker-ssh" KEY`: no port,
///   agent or X11 forwarding, a pty only when the client asks for one.
/// - An sshd drop-in (`Match User NAME`: that keys file only, public keys
///   only, `DisableForwarding`, `ForceCommand` the helper); sshd is
///   checked (`sshd -t`) and reloaded right away when it changed (not at
///   the end of the play: a play failing later must not leave sshd
///   without a drop-in it was meant to read).
/// - The container is looked up at login, by name: it is recreated on
///   every restart, so no id or pid is written down in advance. The helper
///   runs `docker exec -i` (`-t` only when the client has a terminal) as
///   `user` (default root) with `shell` (default /bin/sh).
///
/// Privilege: the account is not in the docker group (that would make it
/// root on the host: the docker socket can start a privileged container).
/// A sudoers rule lets it run only the helper as root, and the helper
/// only `docker exec`s into the container and user configured for that
/// account (in `/etc/push/ssh/logins/NAME`, root-owned), and only when
/// sudo was run by an sshd session (a process of the account started
/// otherwise is refused). So a login is `user` inside the container: by
/// default root there, which is root on the host only as far as the
/// container is not isolated (a `--privileged` container or one with the
/// docker socket mounted is the host).
pub struct DockerSsh;

const PARAMS: &[Param] = &[
    Param::new("name", Kind::Str).required().aliases(&["container"]),
    Param::new("login", Kind::Str),
    Param::new("keys", Kind::Any),
    Param::new("key_files", Kind::List),
    Param::new("user", Kind::Str),
    Param::new("shell", Kind::Str),
    Param::new("state", Kind::Str).choices(&["present", "absent"]),
];

pub(crate) const HELPER: &str = "/usr/local/lib/push/docker-ssh";
const KEYS_DIR: &str = "/etc/push/ssh/authorized_keys";
const LOGINS_DIR: &str = "/etc/push/ssh/logins";
/// What our accounts' GECOS field starts with.
const GECOS: &str = "push docker_ssh";

fn check_login(login: &str, arg: &str) -> Result<(), ArgError> {
    let mut chars = login.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(c))
        && login.len() <= 32;
    if !ok {
        return Err(ArgError::invalid(
            arg,
            format!(
                "`{login}` cannot be a login name (a-z, 0-9, `_`, `-`, starting with a letter or `_`): set `login`"
            ),
        ));
    }
    if login == "root" {
        return Err(ArgError::invalid(arg, "docker_ssh will not take over root"));
    }
    Ok(())
}

/// One authorized_keys line, locked to the helper (see [`authorized_key`]).
fn key_line(key: &str) -> Result<String, ArgError> {
    authorized_key::restricted_line(key, HELPER).map_err(|why| {
        ArgError::invalid("keys", format!("{why}: {}", key.chars().take(40).collect::<String>())).with_hint(
            "a key is `[OPTIONS] TYPE BLOB [COMMENT]`; the options a key may narrow itself with are \
             from=\"PATTERNS\", expiry-time=\"TIME\", no-pty, verify-required and no-touch-required",
        )
    })
}

/// `keys`: a list, or one string with a key per line, plus the lines of
/// `key_files` (read on the controller). Blank lines and `#` comments are
/// skipped.
fn keys_file(
    v: Option<&Value>,
    files: &[String],
    ctl: &dyn Controller,
    login: &str,
    container: &str,
) -> Result<String, ArgError> {
    let mut items: Vec<String> = match v {
        None if files.is_empty() => return Err(ArgError::Missing { name: "keys".into() }),
        None => Vec::new(),
        Some(Value::String(s)) => s.lines().map(String::from).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(String::from).ok_or_else(|| ArgError::invalid("keys", "each key is a string")))
            .collect::<Result<Vec<_>, _>>()?
            .iter()
            .flat_map(|s| s.lines().map(String::from).collect::<Vec<_>>())
            .collect(),
        Some(_) => return Err(ArgError::invalid("keys", "`keys` must be a list of public keys")),
    };
    for f in files {
        let bytes = ctl.read_file(f).map_err(|e| ArgError::invalid("key_files", e.to_string()))?;
        items.extend(String::from_utf8_lossy(&bytes).lines().map(String::from));
    }
    let mut text = format!("# push: docker_ssh {login}\n# Written by push (docker_ssh): keys that log in as {login} into container {container}.\n");
    let mut seen = Vec::new();
    for k in items.iter().map(|k| k.trim()).filter(|k| !k.is_empty() && !k.starts_with('#')) {
        let line = key_line(k)?;
        if !seen.contains(&line) {
            text.push_str(&line);
            text.push('\n');
            seen.push(line);
        }
    }
    Ok(text)
}

impl Module for DockerSsh {
    fn name(&self) -> &'static str {
        "docker_ssh"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn plan(&self, args: &Args, ctl: &dyn Controller) -> Result<Op, ArgError> {
        let container = args.str("name").unwrap_or_default();
        check_container_name("name", container)?;
        let login = args.str("login").unwrap_or(container);
        check_login(login, if args.has("login") { "login" } else { "name" })?;
        let keys_path = format!("{KEYS_DIR}/{login}");
        let login_path = format!("{LOGINS_DIR}/{login}");
        let sudoers_path = format!("/etc/sudoers.d/push-docker-ssh-{login}");
        let sshd_path = format!("/etc/ssh/sshd_config.d/push-docker-ssh-{login}.conf");
        let mut ctx = super::docker_common::formats();
        ctx.extend([
            ("login".into(), login.into()),
            ("container".into(), container.into()),
            ("helper".into(), HELPER.into()),
            ("gecos".into(), format!("{GECOS} for container {container}").into()),
            ("gecos_prefix".into(), GECOS.into()),
            ("files".into(), json!([keys_path, login_path, sudoers_path, sshd_path])),
            ("sshd_path".into(), sshd_path.clone().into()),
        ]);
        if args.str("state") == Some("absent") {
            for p in ["keys", "key_files", "user", "shell"] {
                if args.has(p) {
                    return Err(ArgError::invalid(p, format!("`{p}` means nothing with state: absent")));
                }
            }
            ctx.insert("state".into(), "absent".into());
            return super::render("docker_ssh.sh", Value::Object(ctx));
        }
        let user = args.str("user").unwrap_or("root");
        if user.is_empty() || !user.chars().all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c)) {
            return Err(ArgError::invalid("user", format!("`{user}` is not a user (NAME, UID or UID:GID)")));
        }
        let shell = args.str("shell").unwrap_or("/bin/sh");
        if !shell.starts_with('/') || shell.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(ArgError::invalid("shell", format!("`{shell}` is not an absolute path to a shell")));
        }
        let keys = keys_file(args.get("keys"), &args.list("key_files"), ctl, login, container)?;
        let login_conf = format!(
            "# push: docker_ssh {login}\n# Written by push (docker_ssh): where `ssh {login}@HOST` lands.\ncontainer={container}\nuser={user}\nshell={shell}\n"
        );
        let sudoers = format!(
            "# push: docker_ssh {login}\n# Written by push (docker_ssh): {login} may run the container login helper as root, nothing else.\n{login} ALL=(root) NOPASSWD: {HELPER} --exec *\n"
        );
        let sshd = render_file(
            "docker_ssh_sshd.conf.j2",
            json!({
                "login": login,
                "container": container,
                "helper": HELPER,
                "keys_file": keys_path,
                "keys_file_pattern": format!("{KEYS_DIR}/%u"),
            }),
        )?;
        let apt = sub_op(&super::Apt, json!({"name": ["sudo"], "update_cache": true, "cache_valid_time": 86400}))?;
        let sudoers_op = sub_op(
            &super::Copy,
            json!({"dest": sudoers_path, "content": sudoers, "mode": "0440", "owner": "root", "group": "root", "validate": "visudo -cf %s"}),
        )?;
        ctx.extend([
            ("state".into(), "present".into()),
            (
                "subs".into(),
                json!({
                    "apt": sub_ctx(&apt),
                    "helper_dir": sub_ctx(&dir_op(HELPER_DIR, "0755")?),
                    "helper": sub_ctx(&copy_op(HELPER, crate::templates::verbatim("docker_ssh_login.sh"), "0755")?),
                    "push_dir": sub_ctx(&dir_op("/etc/push", "0755")?),
                    "ssh_dir": sub_ctx(&dir_op("/etc/push/ssh", "0755")?),
                    "keys_dir": sub_ctx(&dir_op(KEYS_DIR, "0755")?),
                    "logins_dir": sub_ctx(&dir_op(LOGINS_DIR, "0755")?),
                    "keys": sub_ctx(&copy_op(&keys_path, &keys, "0644")?),
                    "login_conf": sub_ctx(&copy_op(&login_path, &login_conf, "0644")?),
                    "sudoers": sub_ctx(&sudoers_op),
                    "sshd": sub_ctx(&copy_op(&sshd_path, &sshd, "0644")?),
                }),
            ),
        ]);
        let mut op = super::render("docker_ssh.sh", Value::Object(ctx))?;
        op.diff_after = Some(keys.into_bytes());
        op.diff_label = Some(keys_path);
        Ok(op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ0kZ0Q8n7yq2dJ1o6l8ZbVQ3bC0x2k5y6z7a8b9c0d1 alice@example.org";

    use crate::modules::docker_common::NoFiles;

    #[test]
    fn a_refused_key_names_the_argument_and_the_key() {
        let e = key_line(&format!("permitopen=\"x:1\" {KEY}")).unwrap_err();
        assert!(e.to_string().starts_with("key option `permitopen` is not allowed here"), "{e}");
        assert!(e.to_string().ends_with(": permitopen=\"x:1\" ssh-ed25519 AAAAC3NzaC1"), "{e}");
        assert!(matches!(&e, ArgError::Invalid { name: Some(n), .. } if n == "keys"), "{e:?}");
    }

    #[test]
    fn the_whole_keys_file_is_managed() {
        let text = keys_file(Some(&json!([KEY, "", "# a comment", KEY])), &[], &NoFiles, "mail", "mail").unwrap();
        assert_eq!(text.lines().filter(|l| l.starts_with("restrict")).count(), 1);
        let text =
            keys_file(Some(&json!(format!("{KEY}\n{}", KEY.replace("alice", "bob")))), &[], &NoFiles, "mail", "mail")
                .unwrap();
        assert_eq!(text.lines().filter(|l| l.starts_with("restrict")).count(), 2);
    }

    #[test]
    fn logins() {
        assert!(check_login("mail", "name").is_ok());
        assert!(check_login("root", "name").is_err());
        assert!(check_login("Web.1", "name").unwrap_err().to_string().contains("set `login`"));
    }
}
