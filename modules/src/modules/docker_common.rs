//! What the `docker_*` modules share: quoting for systemd's command lines,
//! name checks, rendering the unit and config files they write, and
//! building ops out of other modules' ops (each sub-step keeps its own
//! status, see `templates/docker_sub.sh`).

use serde_json::{json, Map, Value};

use crate::args::ArgError;
use crate::{Controller, ControllerError, Module, Op};

/// Where the docker modules keep their own files on a host.
pub const STATE_DIR: &str = "/etc/push/docker";
/// Files that only live until the next boot (the volume arguments the
/// start helper computes).
pub const RUN_DIR: &str = "/run/push/docker";
/// Helper scripts the modules install.
pub const HELPER_DIR: &str = "/usr/local/lib/push";

/// Quote one word of a systemd command line (`ExecStart=` and friends) so
/// that systemd hands it to the program exactly as given.
///
/// systemd reads such a line in three passes: specifiers (`%n`, `%h`...)
/// are expanded on the whole line first, then the line is split into
/// words with shell-like quotes and C escapes (`\n`, `\\`, `\"`), then
/// `$VAR`/`${VAR}` are replaced in each word. So `%` becomes `%%` and `$`
/// becomes `$$` everywhere, and a word with anything but plain characters
/// goes in double quotes with `\`, `"` and control characters escaped. A
/// NUL byte cannot be passed at all.
pub fn systemd_quote(word: &str) -> Result<String, SystemdQuoteError> {
    if word.contains('\0') {
        return Err(SystemdQuoteError::Nul);
    }
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./:@,+=-".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return Ok(word.to_string());
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(out)
}

/// A word that no systemd command line can carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SystemdQuoteError {
    #[error("a NUL byte cannot be passed on a systemd command line")]
    Nul,
}

/// A line of free text in a unit file (`Description=`): specifiers are
/// expanded there too, and a newline would end the setting.
pub fn unit_text(text: &str) -> String {
    text.replace('%', "%%").replace(['\n', '\r'], " ")
}

/// Docker's rule for container names; systemd accepts all of them as unit
/// names too.
pub fn check_container_name(arg: &str, name: &str) -> Result<(), ArgError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && name.len() <= 100;
    if ok {
        Ok(())
    } else {
        Err(ArgError::invalid(
            arg,
            format!("`{name}` is not a container name: use letters, digits, `_`, `.` and `-`, starting with a letter or digit"),
        ))
    }
}

/// Docker's rule for volume names.
pub fn check_volume_name(arg: &str, name: &str) -> Result<(), ArgError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ArgError::invalid(arg, format!("`{name}` is not a volume name: use letters, digits, `_`, `.` and `-`")))
    }
}

/// An image reference (`registry:5000/team/app:tag`, `app@sha256:...`):
/// a plain word that cannot be mistaken for an option.
pub fn check_image(arg: &str, image: &str) -> Result<(), ArgError> {
    let ok = !image.is_empty()
        && !image.starts_with(['-', ':', '@', '/'])
        && image.chars().all(|c| c.is_ascii_alphanumeric() || "_.-:/@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ArgError::invalid(arg, format!("`{image}` is not an image reference like `registry.example.org/mail:1.2`")))
    }
}

/// The registry part of an image reference, if it names one (Docker's
/// rule: the first path component has a `.` or `:` or is `localhost`).
pub fn image_registry(image: &str) -> Option<&str> {
    let (first, rest) = image.split_once('/')?;
    (!rest.is_empty() && (first.contains(['.', ':']) || first == "localhost")).then_some(first)
}

/// The container path a volume is mounted at, normalized: no trailing
/// slash, no `//`.
pub fn normalize_path(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    format!("/{}", parts.join("/"))
}

/// How the start helper on the host turns an image's VOLUME path into the
/// suffix of its volume name; [`path_slug`] does the same here.
#[cfg_attr(not(test), allow(dead_code))]
pub const SLUG_SED: &str = "s|//*|/|g; s|^/||; s|/$||; s|[^A-Za-z0-9_.-]|-|g";

/// The suffix of the volume that holds a container path: `/var/lib/mysql`
/// -> `var-lib-mysql` (`root` for `/`), as [`SLUG_SED`] makes it.
pub fn path_slug(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        return "root".into();
    }
    trimmed.chars().map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '-' }).collect()
}

/// Render a unit or config file the docker modules write (a plain
/// template: values are escaped in Rust before they get here).
pub fn render_file(name: &str, ctx: Value) -> Result<String, ArgError> {
    crate::templates::render_file(name, &ctx).map_err(|e| ArgError::general(format!("rendering {name}: {e}")))
}

/// A controller for sub-ops that never read controller-side files.
pub struct NoFiles;

impl Controller for NoFiles {
    fn read_file(&self, src: &str) -> Result<Vec<u8>, ControllerError> {
        Err(ControllerError::NoFiles(src.into()))
    }
    fn find_file(&self, src: &str) -> Result<std::path::PathBuf, ControllerError> {
        Err(ControllerError::NoFiles(src.into()))
    }
    fn read_vaulted(&self, src: &str) -> Result<Option<Vec<u8>>, ControllerError> {
        Err(ControllerError::NoFiles(src.into()))
    }
    fn render_template(&self, src: &str) -> Result<String, ControllerError> {
        Err(ControllerError::NoFiles(src.into()))
    }
}

/// Another module's op, built from JSON arguments.
pub fn sub_op(module: &dyn Module, args: Value) -> Result<Op, ArgError> {
    let Value::Object(map) = args else { unreachable!("sub-op arguments are a mapping") };
    crate::plan(module, map, &NoFiles)
}

/// A sub-op as template context: `{probe, apply}`, for `{{ sub[phase] | safe }}`.
pub fn sub_ctx(op: &Op) -> Value {
    json!({"probe": op.probe, "apply": op.apply})
}

/// `copy` of generated text to a root-owned file.
pub fn copy_op(dest: &str, content: &str, mode: &str) -> Result<Op, ArgError> {
    sub_op(&super::Copy, json!({"dest": dest, "content": content, "mode": mode, "owner": "root", "group": "root"}))
}

/// A root-owned folder.
pub fn dir_op(path: &str, mode: &str) -> Result<Op, ArgError> {
    sub_op(&super::File, json!({"path": path, "state": "directory", "mode": mode, "owner": "root", "group": "root"}))
}

/// A string, number or bool argument value as text (`null` is "").
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

/// A list of words: a YAML list, or one string split like a shell would
/// (`"--cap-add NET_ADMIN --memory 1g"`).
pub fn words(arg: &str, v: Option<&Value>) -> Result<Vec<String>, ArgError> {
    match v {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => {
            shlex::split(s).ok_or_else(|| ArgError::invalid(arg, format!("unbalanced quotes in `{arg}`")))
        }
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| scalar_text(i).ok_or_else(|| ArgError::invalid(arg, format!("`{arg}` must be a list of strings"))))
            .collect(),
        Some(_) => Err(ArgError::invalid(arg, format!("`{arg}` must be a list of strings or a string"))),
    }
}

/// Docker's Go templates the snippets pass to `--format`; kept here so the
/// shell templates need no `{% raw %}`.
pub fn formats() -> Map<String, Value> {
    [
        ("fmt_id", "{{.Id}}"),
        ("fmt_image", "{{.Image}}"),
        ("fmt_running", "{{.State.Running}}"),
        ("fmt_id_running", "{{.Id}} {{.State.Running}}"),
        ("fmt_label", "{{index .Config.Labels \"push.docker_unit\"}}"),
        ("fmt_started", "{{.State.StartedAt}}"),
        ("fmt_arch", "{{.Server.Os}}/{{.Server.Arch}}"),
        ("fmt_insecure", "{{range .RegistryConfig.IndexConfigs}}{{if not .Secure}}{{.Name}} {{end}}{{end}}"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Value::from(v)))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// systemd's own reading of a command line, as `systemd.service(5)`
    /// describes it, to check that [`systemd_quote`] round-trips: `%%` ->
    /// `%` on the line, then words with quotes and C escapes, then `$$` ->
    /// `$` in each word.
    fn systemd_split(line: &str) -> Vec<String> {
        let mut spec = String::new();
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '%' {
                assert_eq!(chars.next(), Some('%'), "unescaped specifier in {line}");
            }
            spec.push(c);
        }
        let mut words = Vec::new();
        let mut chars = spec.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if chars.peek().is_none() {
                break;
            }
            let mut word = String::new();
            let mut quote: Option<char> = None;
            while let Some(&c) = chars.peek() {
                if quote.is_none() && c.is_whitespace() {
                    break;
                }
                chars.next();
                match (c, quote) {
                    ('"' | '\'', None) => quote = Some(c),
                    (q, Some(open)) if q == open => quote = None,
                    ('\\', _) => match chars.next().expect("escape at end") {
                        'n' => word.push('\n'),
                        't' => word.push('\t'),
                        'r' => word.push('\r'),
                        'x' => {
                            let hex: String = [chars.next().unwrap(), chars.next().unwrap()].iter().collect();
                            word.push(u8::from_str_radix(&hex, 16).unwrap() as char);
                        }
                        other => word.push(other),
                    },
                    (c, _) => word.push(c),
                }
            }
            assert!(quote.is_none(), "unbalanced quote in {line}");
            let mut out = String::new();
            let mut w = word.chars().peekable();
            while let Some(c) = w.next() {
                if c == '$' {
                    assert_eq!(w.next(), Some('$'), "unescaped variable in {word}");
                }
                out.push(c);
            }
            words.push(out);
        }
        words
    }

    #[test]
    fn systemd_quote_round_trips_hostile_words() {
        let hostile = [
            "plain",
            "--publish=127.0.0.1:25:25",
            "",
            "two words",
            "$HOME and ${HOME} and $$",
            "100% %n %h %%",
            "double \" quote",
            "single ' quote",
            "back\\slash\\",
            "new\nline\r\tand tab",
            "bell\x07 del\x7f",
            ";",
            "-c",
            "ünïcödé ✓",
            "'; rm -rf / #`id`$(id)",
        ];
        let line = hostile.iter().map(|w| systemd_quote(w).unwrap()).collect::<Vec<_>>().join(" ");
        assert!(!line.contains('\n') && !line.ends_with('\\'), "{line}");
        assert_eq!(systemd_split(&line), hostile);
    }

    #[test]
    fn systemd_quote_leaves_plain_words_alone() {
        assert_eq!(systemd_quote("/usr/bin/docker").unwrap(), "/usr/bin/docker");
        assert_eq!(systemd_quote("mail:latest").unwrap(), "mail:latest");
        assert_eq!(systemd_quote("a b").unwrap(), "\"a b\"");
        assert_eq!(systemd_quote("$X").unwrap(), "\"$$X\"");
        assert_eq!(systemd_quote("50%").unwrap(), "\"50%%\"");
        assert_eq!(systemd_quote("a\"b").unwrap(), r#""a\"b""#);
        assert_eq!(systemd_quote("").unwrap(), "\"\"");
        assert_eq!(systemd_quote("nul\0"), Err(SystemdQuoteError::Nul));
    }

    #[test]
    fn names_and_slugs() {
        assert!(check_container_name("name", "mail").is_ok());
        assert!(check_container_name("name", "web-1.prod_x").is_ok());
        for bad in ["", "-x", "a b", "a/b", "a$b", ".x"] {
            assert!(check_container_name("name", bad).is_err(), "{bad}");
        }
        assert!(check_image("image", "192.168.0.1:5000/mail:latest").is_ok());
        assert!(check_image("image", "mail@sha256:0123abcd").is_ok());
        assert!(check_image("image", "--privileged").is_err());
        assert_eq!(image_registry("192.168.0.1:5000/mail:latest"), Some("192.168.0.1:5000"));
        assert_eq!(image_registry("localhost/x"), Some("localhost"));
        assert_eq!(image_registry("library/debian"), None);
        assert_eq!(image_registry("debian:12"), None);
        assert_eq!(path_slug("/var/lib/my app/"), "var-lib-my-app");
        assert_eq!(path_slug("/"), "root");
        assert_eq!(normalize_path("//var//mail/"), "/var/mail");
    }

    #[test]
    fn path_slug_matches_the_host_helper() {
        let helper = crate::templates::verbatim("docker_unit_prestart.sh");
        assert!(helper.contains(&format!("sed '{SLUG_SED}'")), "the helper's slug rule differs from SLUG_SED");
        for path in ["/var/mail", "/data/", "/a b/c.d_e-f", "/", "//x//y"] {
            let out = std::process::Command::new("sh")
                .args(["-c", &format!("printf '%s' \"$1\" | sed '{SLUG_SED}'"), "sh", path])
                .output()
                .unwrap();
            let host = String::from_utf8(out.stdout).unwrap();
            let host = if host.is_empty() { "root".to_string() } else { host };
            assert_eq!(host, path_slug(&normalize_path(path)), "{path}");
        }
    }
}
