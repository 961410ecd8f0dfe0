//! Every template the modules use, in one table, compiled into the binary
//! (the files stay readable in `modules/templates/`). This is the only
//! place that reads them: the snippet environment ([`crate::shell`]), the
//! file environment ([`render_file`]) and the modules that install a
//! script or unit as written all take their text from here.

use std::sync::OnceLock;

use minijinja::Environment;

/// How a template's text becomes what a host gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Render {
    /// A shell snippet: rendered with every value shell-quoted by the
    /// environment (see [`crate::shell`]); may include other snippets.
    Snippet,
    /// A unit or config file: rendered plainly, its values escaped in Rust
    /// for the file they land in before they get here.
    File,
    /// Sent as written: the prelude in front of every script, and the
    /// helper scripts and units the modules install on hosts.
    Verbatim,
}

/// One file of `modules/templates/`.
#[derive(Debug)]
pub(crate) struct Template {
    pub name: &'static str,
    pub render: Render,
    pub text: &'static str,
}

macro_rules! template {
    ($render:ident, $name:literal) => {
        Template { name: $name, render: Render::$render, text: include_str!(concat!("../templates/", $name)) }
    };
}

pub(crate) static TEMPLATES: &[Template] = &[
    // The helpers every snippet may call.
    template!(Verbatim, "prelude.sh"),
    // Snippets, one per module, and the pieces they include.
    template!(Snippet, "command.sh"),
    template!(Snippet, "file.sh"),
    template!(Snippet, "copy.sh"),
    template!(Snippet, "validate.sh"),
    template!(Snippet, "lineinfile.sh"),
    template!(Snippet, "apt.sh"),
    template!(Snippet, "systemd.sh"),
    template!(Snippet, "user.sh"),
    template!(Snippet, "group.sh"),
    template!(Snippet, "docker_sub.sh"),
    template!(Snippet, "docker_refs.sh"),
    template!(Snippet, "docker_catch_up.sh"),
    template!(Snippet, "docker_host_restart.sh"),
    template!(Snippet, "docker_host.sh"),
    template!(Snippet, "docker_image.sh"),
    template!(Snippet, "docker_unit.sh"),
    template!(Snippet, "docker_unit_restart.sh"),
    template!(Snippet, "docker_unit_outcome.sh"),
    template!(Snippet, "docker_unit_switch_wait.sh"),
    template!(Snippet, "docker_unit_rollback.sh"),
    template!(Snippet, "docker_ssh.sh"),
    // Files the docker modules write.
    template!(File, "docker_unit.service.j2"),
    template!(File, "docker_unit_group.service.j2"),
    template!(File, "docker_ssh_sshd.conf.j2"),
    // Helpers and units installed on hosts as they are.
    template!(Verbatim, "docker_unit_prestart.sh"),
    template!(Verbatim, "docker_unit_health.sh"),
    template!(Verbatim, "docker_unit_switch.sh"),
    template!(Verbatim, "docker_unit_recover.service"),
    template!(Verbatim, "docker_ssh_login.sh"),
];

/// The text of a template sent as written. Panics only on a name missing
/// from the table, a bug in a built-in module that its tests run into.
pub(crate) fn verbatim(name: &str) -> &'static str {
    match TEMPLATES.iter().find(|t| t.name == name) {
        Some(t) if t.render == Render::Verbatim => t.text,
        _ => panic!("no verbatim template {name} in the table"),
    }
}

/// The settings every built-in template shares: strict undefined, block
/// tags on their own lines, trailing newline kept, no HTML escaping.
pub(crate) fn base_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .expect("valid syntax config"),
    );
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
}

/// Add every template rendered as `render` to `env`. Panics only on a bug
/// in a built-in template, never on user input.
pub(crate) fn add_all(env: &mut Environment<'static>, render: Render) {
    for t in TEMPLATES.iter().filter(|t| t.render == render) {
        env.add_template(t.name, t.text).unwrap_or_else(|e| panic!("built-in template {} parses: {e}", t.name));
    }
}

/// Render a file template (`Render::File`) with `ctx`. No shell quoting
/// here: the caller escapes each value for the file it lands in.
pub(crate) fn render_file(name: &str, ctx: &serde_json::Value) -> Result<String, minijinja::Error> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    let env = ENV.get_or_init(|| {
        let mut env = base_environment();
        add_all(&mut env, Render::File);
        env
    });
    env.get_template(name)?.render(minijinja::Value::from(minijinja::value::Serde(ctx)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file added to `modules/templates/` without a row here would never
    /// reach a host; a row twice would make two sources of one name.
    #[test]
    fn the_table_holds_every_template_file_once() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("templates folder")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8 name"))
            .collect();
        files.sort();
        let mut rows: Vec<String> = TEMPLATES.iter().map(|t| t.name.to_string()).collect();
        rows.sort();
        assert_eq!(rows, files);
    }

    #[test]
    fn every_rendered_template_parses() {
        for render in [Render::Snippet, Render::File] {
            add_all(&mut base_environment(), render);
        }
    }

    /// The helpers installed as written are shell scripts a host runs: they
    /// parse (the snippets are checked as the modules render them).
    #[test]
    fn every_verbatim_script_parses() {
        let scripts: Vec<&Template> =
            TEMPLATES.iter().filter(|t| t.render == Render::Verbatim && t.name.ends_with(".sh")).collect();
        assert!(scripts.len() >= 5, "{scripts:?}");
        for t in scripts {
            let out = std::process::Command::new("sh").args(["-n", "-c", t.text]).output().expect("sh runs");
            assert!(out.status.success(), "{}: {}", t.name, String::from_utf8_lossy(&out.stderr));
        }
    }

    #[test]
    #[should_panic(expected = "no verbatim template docker_unit.sh")]
    fn a_rendered_template_is_not_sent_as_written() {
        verbatim("docker_unit.sh");
    }
}
