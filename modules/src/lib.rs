//! Built-in modules.
//!
//! A module turns validated arguments into an [`Op`]: two shell snippets
//! rendered from a template in `modules/templates/`, one that only looks
//! (the probe) and one that looks again and acts (the apply). Both decide on
//! the host, from the host's real state at the moment they run, so an apply
//! stays correct even when an earlier task in the same run changed what this
//! one touches. Modules never talk to the network; the engine batches every
//! op's snippet of one host into one remote exec.
//!
//! The snippet contract (see `templates/prelude.sh` for the helpers):
//! - it runs in its own subshell under `set -e`, with stdin from /dev/null,
//!   in `/`;
//! - it reports "this would change / changed" by calling `push_changed WHY`
//!   and "nothing to do, skipped" with `push_skipped WHY`; saying nothing
//!   means ok; `push_ok WHY` is ok too, and makes what the look printed
//!   the step's registered output;
//! - it asks for one of its op's [`Deferred`] actions with `push_defer KEY`;
//! - it fails by exiting non-zero; stderr becomes the message;
//! - when `$PUSH_DIFF` is 1 it may write `$PUSH_D/before` and
//!   `$PUSH_D/after` for a diff (`after` can also come from the controller,
//!   see [`Op::diff_after`]);
//! - stdout and stderr are captured for `register`.

mod ansible_names;
pub mod args;
pub mod deferred;
pub mod not_in_push;
mod registry;
pub mod shell;
mod templates;

pub mod modules;

pub use args::{ArgError, Args, Kind, Param};
pub use deferred::{Deferred, DeferredKind};
pub use registry::{lookup, names};

/// What the controller can do for a module that needs files from the
/// controller side (`copy: src=`, `template: src=`).
pub trait Controller {
    /// Bytes of a controller-side file, found the way Ansible finds it
    /// (the role's `files/`, the playbook's `files/`, the playbook folder).
    fn read_file(&self, src: &str) -> Result<Vec<u8>, ControllerError>;
    /// Where a controller-side file is, found as [`Self::read_file`] finds
    /// it, for content sent from the file itself ([`Attachment`]).
    fn find_file(&self, src: &str) -> Result<std::path::PathBuf, ControllerError>;
    /// The opened content of a controller-side file that is an Ansible
    /// Vault, found as [`Self::read_file`] finds it; `None` for a plain
    /// file. Opened content travels inline, never from a file on disk.
    fn read_vaulted(&self, src: &str) -> Result<Option<Vec<u8>>, ControllerError>;
    /// A controller-side template rendered with the host's variables.
    fn render_template(&self, src: &str) -> Result<String, ControllerError>;
}

/// Why the controller could not give a module a controller-side file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ControllerError {
    #[error("`{src}` not found (looked in {})", .looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NotFound { src: String, looked: Vec<std::path::PathBuf> },
    #[error("{} does not exist", .0.display())]
    Missing(std::path::PathBuf),
    #[error("cannot read {}: {error}", .path.display())]
    Unreadable { path: std::path::PathBuf, error: String },
    /// `message` says why the vault did not open and how to open it.
    #[error("cannot open vaulted file {}: {message}", .path.display())]
    Vault { path: std::path::PathBuf, message: String },
    #[error("{} is not UTF-8 text", .0.display())]
    NotText(std::path::PathBuf),
    #[error("{}{}: {message}", .path.display(), .line.map(|l| format!(":{l}")).unwrap_or_default())]
    Template { path: std::path::PathBuf, line: Option<usize>, message: String },
    /// Asked of a controller that serves no files (a sub-op's).
    #[error("{0}: no controller files here")]
    NoFiles(String),
}

/// One task for one host, ready to be put into a probe or apply script.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Op {
    /// Snippet for the probe: looks, reports, never changes anything.
    pub probe: String,
    /// Snippet for the apply: looks again, acts, reports.
    pub apply: String,
    /// The desired file content when the controller knows it, so `--diff`
    /// needs no second copy from the host.
    pub diff_after: Option<Vec<u8>>,
    /// What a diff of this op is about (a path), for its header.
    pub diff_label: Option<String>,
    /// Work to do once per host after all tasks (before handlers), when a
    /// snippet asks for it with `push_defer KEY`: e.g. one `daemon-reload`
    /// for any number of changed units, then each restart.
    pub deferred: Vec<Deferred>,
    /// A controller-side file the apply snippet carries, base64-encoded,
    /// where the attachment's token stands: read only as the script is
    /// sent, so a large file is never held in memory.
    pub attachment: Option<Attachment>,
    /// Paths the probe snippet will stat or hash. The engine fetches them
    /// for all of a host's steps at once before the probe's steps run (one
    /// `stat`, one `sha256sum`), and the snippets' `push_stat` and
    /// `push_sha256` find them there: a no-op run then starts a handful of
    /// processes per host instead of a few per task.
    pub prefetch: Prefetch,
}

/// See [`Op::attachment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub path: std::path::PathBuf,
    /// A word in the apply snippet that the file's base64 text replaces.
    /// Made from the file's hash: nothing else in a script spells it.
    pub token: String,
}

/// See [`Op::prefetch`]. Only absolute paths of plain characters are
/// fetched; a snippet looking at anything else looks it up itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prefetch {
    /// For `stat -L -c '%a %U %u %G %g'`.
    pub stat: Vec<String>,
    /// For `sha256sum` of the content.
    pub sha256: Vec<String>,
}

/// A built-in module: a name, its parameters and how to build an op.
pub trait Module: Sync {
    fn name(&self) -> &'static str;
    fn params(&self) -> &'static [Param];
    /// Modules like `command` take a bare string (`command: ls -l`); the
    /// engine passes it as the `_raw_params` argument.
    fn free_form(&self) -> bool {
        false
    }
    /// Are the arguments checked against [`Module::params`]? Not for a
    /// module push does not have ([`not_in_push`]), which takes any.
    fn checks_args(&self) -> bool {
        true
    }
    /// Arguments naming container images whose tags the engine pins to a
    /// digest once per run (so a rollout cannot pick up a moving tag).
    fn pinned_image_args(&self) -> &'static [&'static str] {
        &[]
    }
    /// Build the op. `args` were already checked against [`Module::params`].
    fn plan(&self, args: &Args, ctl: &dyn Controller) -> Result<Op, ArgError>;
    /// Does `push rollback` do anything for this module's tasks?
    fn rolls_back(&self) -> bool {
        false
    }
    /// The op `push rollback` runs for a task of this module: put back what
    /// the task's last change replaced. Only asked when [`Module::rolls_back`].
    fn plan_rollback(&self, args: &Args) -> Result<Op, ArgError> {
        let _ = args;
        Err(ArgError::general(format!("{} cannot be rolled back", self.name())))
    }
}

/// Check `args` against a module's parameters and build its op.
pub fn plan(
    module: &dyn Module,
    args: serde_json::Map<String, serde_json::Value>,
    ctl: &dyn Controller,
) -> Result<Op, ArgError> {
    if !module.checks_args() {
        return module.plan(&Args::unchecked(args), ctl);
    }
    let args = Args::check(module.params(), args)?;
    module.plan(&args, ctl)
}

/// Check `args` against a module's parameters and build its rollback op.
pub fn plan_rollback(module: &dyn Module, args: serde_json::Map<String, serde_json::Value>) -> Result<Op, ArgError> {
    let args = Args::check(module.params(), args)?;
    module.plan_rollback(&args)
}

impl std::fmt::Debug for dyn Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Module({})", self.name())
    }
}
