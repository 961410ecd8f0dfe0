//! Runs snippets the way the engine does: prelude in the parent shell, the
//! snippet in `( set -e; cd /; ... )` with stdin from /dev/null and the
//! PUSH_S / PUSH_D / PUSH_DIFF files and flags.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};

use push_modules::{ArgError, Controller, ControllerError, Op};
use serde_json::Value;

/// Serves `src` files from a map, and renders templates by returning them
/// with `{{ x }}` replaced by "X" (the real rendering is the engine's).
#[derive(Default)]
pub struct Ctl(pub Vec<(&'static str, Vec<u8>)>);

impl Controller for Ctl {
    fn read_file(&self, src: &str) -> Result<Vec<u8>, ControllerError> {
        let not_found = || ControllerError::NotFound { src: src.into(), looked: vec!["the test's files".into()] };
        self.0.iter().find(|(n, _)| *n == src).map(|(_, b)| b.clone()).ok_or_else(not_found)
    }
    /// The file's bytes, written under a folder of this test process.
    fn find_file(&self, src: &str) -> Result<std::path::PathBuf, ControllerError> {
        static FILES: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
        let dir = FILES.get_or_init(|| tempfile::tempdir().expect("tempdir"));
        let path = dir.path().join(src.replace('/', "_"));
        std::fs::write(&path, self.read_file(src)?)
            .map_err(|e| ControllerError::Unreadable { path: path.clone(), error: e.to_string() })?;
        Ok(path)
    }
    fn read_vaulted(&self, _src: &str) -> Result<Option<Vec<u8>>, ControllerError> {
        Ok(None)
    }
    fn render_template(&self, src: &str) -> Result<String, ControllerError> {
        Ok(String::from_utf8(self.read_file(src)?).unwrap().replace("{{ x }}", "X"))
    }
}

pub fn try_plan(module: &str, args: Value) -> Result<Op, ArgError> {
    try_plan_with(module, args, &Ctl::default())
}

pub fn try_plan_with(module: &str, args: Value, ctl: &Ctl) -> Result<Op, ArgError> {
    let m = push_modules::lookup(module).unwrap_or_else(|| panic!("no module {module}"));
    push_modules::plan(m, args.as_object().expect("args are a mapping").clone(), ctl)
}

/// The apply snippet as the engine sends it: an attached file's content
/// (base64) where its token stands.
pub fn apply_with_attachment(op: &Op) -> String {
    use base64::Engine as _;
    match &op.attachment {
        Some(a) => {
            let bytes = std::fs::read(&a.path).expect("attached file");
            op.apply.replace(&a.token, &base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        None => op.apply.clone(),
    }
}

pub fn plan(module: &str, args: Value) -> Op {
    try_plan(module, args).unwrap_or_else(|e| panic!("{e}"))
}

#[derive(Debug)]
pub struct Run {
    /// The status file: "" (ok), "changed ..." or "skipped ...".
    pub status: String,
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
    pub before: Option<Vec<u8>>,
    pub after: Option<Vec<u8>>,
}

impl Run {
    pub fn changed(&self) -> bool {
        self.code == 0 && self.status.starts_with("changed")
    }
    pub fn ok(&self) -> bool {
        self.code == 0 && self.status.is_empty()
    }
    /// Ok or skipped.
    pub fn unchanged(&self) -> bool {
        self.code == 0 && !self.status.starts_with("changed")
    }
}

pub fn run(snippet: &str, diff: bool) -> Run {
    run_in(Command::new("sh"), snippet, diff)
}

/// `run`, killed after `limit`: a run that took longer has code 124.
pub fn run_within(snippet: &str, diff: bool, limit: std::time::Duration) -> Run {
    let mut sh = Command::new("timeout");
    sh.args([&format!("{}s", limit.as_secs()), "sh"]);
    run_in(sh, snippet, diff)
}

/// `run` with `sh`, a shell command its caller may have given more
/// settings (another PATH...).
pub fn run_in(mut sh: Command, snippet: &str, diff: bool) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let (s, d) = (tmp.path().join("status"), tmp.path().join("diff"));
    std::fs::write(&s, "").unwrap();
    std::fs::create_dir(&d).unwrap();
    let script = format!("{}\n( set -e; cd /\n{snippet}\n)", push_modules::shell::prelude());
    let out = sh
        .arg("-c")
        .arg(script)
        .env("PUSH_S", &s)
        .env("PUSH_D", &d)
        .env("PUSH_DIFF", if diff { "1" } else { "0" })
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let read = |p: &Path| std::fs::read(p).ok();
    Run {
        status: std::fs::read_to_string(&s).unwrap().trim_end().to_string(),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
        code: out.status.code().unwrap_or(-1),
        before: read(&d.join("before")),
        after: read(&d.join("after")),
    }
}

/// The usual life of an op that has work to do: the probe reports a change
/// without making it (`look` reads the state before and after), the apply
/// makes it, and a second apply finds nothing left to do.
pub fn converge<T: PartialEq + std::fmt::Debug>(op: &Op, look: impl Fn() -> T) -> (Run, Run) {
    let before = look();
    let probe = run(&op.probe, true);
    assert!(probe.changed(), "probe: {probe:?}");
    assert_eq!(look(), before, "the probe changed something");
    let apply_text = apply_with_attachment(op);
    let apply = run(&apply_text, true);
    assert!(apply.changed(), "apply: {apply:?}");
    let again = run(&apply_text, false);
    assert!(again.unchanged(), "second apply: {again:?}");
    let probe_again = run(&op.probe, false);
    assert!(probe_again.unchanged(), "second probe: {probe_again:?}");
    (probe, apply)
}
