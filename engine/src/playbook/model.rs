use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use super::loops::LoopSpec;
use crate::diagnostic::Span;
use crate::template::Vars;

#[derive(Debug)]
pub struct Playbook {
    pub path: PathBuf,
    pub plays: Vec<Play>,
}

#[derive(Debug)]
pub struct Play {
    pub name: String,
    /// Host pattern, e.g. `mail:&prod`.
    pub hosts: String,
    pub span: Span,
    /// The folder of the playbook file that defined the play: relative
    /// `src:` and `vars_files:` paths start here.
    pub base_dir: PathBuf,
    pub vars: Arc<Vars>,
    /// vars_files already read, in order.
    pub vars_files: Arc<Vars>,
    /// The defaults and vars of the roles exported to the whole play
    /// (`roles:`, `import_role`, a public `include_role`); a role's task
    /// sees its own role's above these (see [`RoleScope`]).
    pub role_defaults: Arc<Vars>,
    pub role_vars: Arc<Vars>,
    /// `ansible_role_names`: every role of the play, dependencies included.
    pub role_names: Vec<String>,
    /// `ansible_play_role_names` (and `role_names`): the roles the play
    /// names itself, without the dependencies they bring.
    pub play_role_names: Vec<String>,
    /// pre_tasks, role tasks, tasks and post_tasks, in run order, with the
    /// tasks of blocks flattened in (each block's body, rescue, always).
    pub tasks: Vec<Task>,
    /// The play's blocks, by the ranges of `tasks` they hold.
    pub blocks: Vec<Block>,
    /// The play's `include_tasks`, each with the files it may include.
    pub includes: Vec<Include>,
    pub handlers: Vec<Task>,
    pub become_: Become,
    pub remote_user: Option<String>,
    /// `connection: local`: the play's tasks run on this machine.
    pub local: bool,
    pub serial: Option<crate::batches::Serial>,
    pub max_fail_percentage: Option<f64>,
}

/// `become`, `become_user`, `become_method` and `become_flags` as a task
/// has them from its own keywords, its role, its play, or the command line
/// and ansible.cfg (in that order): each None where none of them said it.
/// A host's `ansible_become*` variables still win over these (see
/// [`crate::plan`]), as in Ansible.
#[derive(Debug, Clone, Default)]
pub struct Become {
    pub enabled: Option<Flag>,
    pub user: Option<String>,
    pub method: Option<crate::become_method::Method>,
    /// As written; checked against the method that applies on each host.
    pub flags: Option<Located>,
}

impl Become {
    /// Each field this one leaves unsaid, from `outer`.
    pub fn or(&self, outer: &Become) -> Become {
        Become {
            enabled: self.enabled.clone().or_else(|| outer.enabled.clone()),
            user: self.user.clone().or_else(|| outer.user.clone()),
            method: self.method.or(outer.method),
            flags: self.flags.clone().or_else(|| outer.flags.clone()),
        }
    }
}

/// `-b`, `--become-user`, `--become-method` and ansible.cfg: every task and
/// handler takes from `default` what its play, block, role and own
/// keywords leave unsaid; a `become: false` written anywhere above it
/// still wins, as in Ansible.
pub fn become_by_default(playbook: &mut Playbook, default: &Become) {
    for play in &mut playbook.plays {
        for task in play.tasks.iter_mut().chain(play.handlers.iter_mut()) {
            task.become_ = task.become_.or(default);
        }
    }
}

#[derive(Debug)]
pub struct Task {
    /// `name:` as written (may hold a template); None means "module name".
    pub name: Option<String>,
    /// The module's key: where the task and its module are pointed at.
    pub span: Span,
    /// The module a host runs; for a controller action, the action as
    /// the task names it (for its label), which never runs anywhere.
    pub module: &'static dyn push_modules::Module,
    pub action: Action,
    pub args: TaskArgs,
    /// Its own `when` after those of the blocks around it.
    pub when: Vec<Located>,
    /// `changed_when`, `failed_when`: judged on the controller from the
    /// task's result (None: the module's own verdict stands).
    pub changed_when: Option<Vec<Located>>,
    pub failed_when: Option<Vec<Located>>,
    pub until: Option<Until>,
    /// The innermost block around the task, and in which of its parts.
    pub block: Option<BlockPlace>,
    /// The innermost `include_tasks` that brought the task, and from which
    /// of the files it may include.
    pub include: Option<IncludePlace>,
    pub loop_: Option<LoopSpec>,
    pub notify: Vec<String>,
    /// Handlers: names this handler also answers to (`listen:`).
    pub listen: Vec<String>,
    pub tags: HashSet<String>,
    pub register: Option<String>,
    pub become_: Become,
    pub vars: Arc<Vars>,
    /// `environment:` of the play, blocks, imports and the task, outermost
    /// first: mappings or templates that give one, merged per host.
    pub environment: Vec<Value>,
    pub ignore_errors: Flag,
    pub no_log: Flag,
    /// `check_mode:` as the task, its blocks or its play say it: true runs
    /// the task as in `--check` (it only looks), false runs it for real
    /// even under `--check`; None follows the run.
    pub check_mode: Option<bool>,
    /// `delegate_to:` (a template), or `localhost` for `connection: local`:
    /// where the task runs instead of its host.
    pub delegate_to: Option<Located>,
    /// Folder of the role the task came from, for `src:` lookups.
    pub role_dir: Option<PathBuf>,
    /// The role the task came from: its variables and names.
    pub role: Option<Arc<RoleScope>>,
    /// Root names of every variable the task's templates read; decides
    /// whether a task has to wait for a registered result.
    pub reads: HashSet<String>,
}

impl Task {
    /// Whether the controller must see the task's result before anything
    /// after it runs: its `changed_when`, `failed_when` or `until` decide
    /// what the result is, and so what follows (handlers included).
    pub fn judged(&self) -> bool {
        self.changed_when.is_some() || self.failed_when.is_some() || self.until.is_some()
    }

    pub fn display_name(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => self.module.name().to_string(),
        }
    }
}

/// A string from the playbook and where it was written.
#[derive(Debug, Clone)]
pub struct Located {
    pub text: String,
    pub span: Span,
}

/// A task's module arguments, raw (templates unrendered), with the position
/// of each key and value so a bad one can be pointed at.
#[derive(Debug, Clone)]
pub struct TaskArgs {
    pub values: serde_json::Map<String, serde_json::Value>,
    pub key_spans: Vec<(String, Span)>,
    pub value_spans: Vec<(String, Span)>,
}

impl TaskArgs {
    pub fn key_span(&self, name: &str) -> Option<&Span> {
        self.key_spans.iter().find(|(k, _)| k == name).map(|(_, s)| s)
    }
    pub fn value_span(&self, name: &str) -> Option<&Span> {
        self.value_spans.iter().find(|(k, _)| k == name).map(|(_, s)| s)
    }
}

/// What a task does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Runs its module on the host.
    Module,
    /// `set_fact`: its arguments become variables of the host for the
    /// tasks after it, decided on the controller.
    SetFact,
    /// `include_vars`: variables from YAML files on the controller.
    IncludeVars,
    /// `include_tasks` (the play's include with this index): which file's
    /// tasks run, if any, is decided on each host when it gets there.
    IncludeTasks(usize),
    /// `meta:`, Ansible's instructions to the run itself.
    Meta(Meta),
}

/// The `meta` actions push has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meta {
    /// `noop`, and `reset_connection` (the session stays; see the README).
    Noop,
    /// Run the handlers (and deferred actions) raised so far, now.
    FlushHandlers,
    /// `end_host`, and `end_play` for the host that reaches it.
    EndHost,
}

/// `until`, `retries`, `delay`: the task runs again until the conditions
/// hold on its result, at most `retries` more times.
#[derive(Debug, Clone)]
pub struct Until {
    /// None written (only `retries`): until the task does not fail.
    pub conditions: Vec<Located>,
    pub retries: u32,
    pub delay_secs: u64,
}

/// A `block:` with its `rescue:` and `always:`, as ranges of the play's
/// task list (body, then rescue, then always, one after the other).
#[derive(Debug, Clone)]
pub struct Block {
    /// Where the block itself sits, if in another block.
    pub parent: Option<BlockPlace>,
    pub body: std::ops::Range<usize>,
    pub rescue: std::ops::Range<usize>,
    pub always: std::ops::Range<usize>,
}

/// A place in a block: which block, which of its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockPlace {
    pub block: usize,
    pub part: BlockPart,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockPart {
    Body,
    Rescue,
    Always,
}

/// An `include_tasks:`. Its file's tasks are loaded with the play, after
/// the include, so that bad input in them is found before anything runs;
/// a templated file name (`setup-{{ ansible_os_family }}.yml`) brings
/// every file it may name, and each host runs the one its name renders to.
#[derive(Debug, Clone)]
pub struct Include {
    pub parent: Option<IncludePlace>,
    /// Where a relative file name is looked up (the role's `tasks/`, or
    /// the folder of the playbook).
    pub dir: std::path::PathBuf,
    pub candidates: Vec<Candidate>,
    /// An `include_role`: its one candidate is the role, whatever the
    /// task's arguments say.
    pub role: bool,
}

/// A file an include may bring: its tasks, or why it cannot be loaded
/// (said only on a host that includes it, as Ansible would).
#[derive(Debug, Clone)]
pub struct Candidate {
    pub path: std::path::PathBuf,
    pub tasks: std::ops::Range<usize>,
    pub broken: Option<String>,
}

/// Tasks that came from candidate `candidate` of include `include`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncludePlace {
    pub include: usize,
    pub candidate: usize,
}

/// Tasks as they are loaded, with the blocks and includes among them
/// (indices into the same lists).
#[derive(Debug, Default)]
pub struct TaskList {
    pub tasks: Vec<Task>,
    pub blocks: Vec<Block>,
    pub includes: Vec<Include>,
}

/// A yes/no keyword (`ignore_errors`, `no_log`, `become`): as written, or a
/// template decided per host (`no_log: "{{ not debug }}"`).
#[derive(Debug, Clone)]
pub enum Flag {
    Fixed(bool),
    Template(Located),
}

impl Flag {
    /// Its value on a host.
    pub fn eval(&self, scope: &crate::template::Scope) -> Result<bool, crate::diagnostic::Diagnostic> {
        match self {
            Flag::Fixed(b) => Ok(*b),
            Flag::Template(t) => {
                let value = scope
                    .render_str(&t.text, crate::template::Mode::Plain)
                    .map_err(|e| crate::plan::template_diag(&t.span, e))?;
                push_modules::args::parse_bool(&value).ok_or_else(|| {
                    crate::diagnostic::Diagnostic::at(&t.span, format!("`{}` gave {value}, not a boolean", t.text))
                        .with_hint("the template must give true or false (yes/no, 1/0)")
                })
            }
        }
    }

    /// As written, when that is all it can be (a handler's, a play's).
    pub fn fixed(&self) -> Option<bool> {
        match self {
            Flag::Fixed(b) => Some(*b),
            Flag::Template(_) => None,
        }
    }
}

/// One role as a play has it: what its tasks and handlers see.
#[derive(Debug)]
pub struct RoleScope {
    /// `role_name`: the name of the role's folder.
    pub name: String,
    /// `role_path`.
    pub path: PathBuf,
    /// Its defaults over those of its dependencies and the roles around
    /// it: above every other role's defaults, below inventory.
    pub defaults: Arc<Vars>,
    /// Its vars (`vars/`, the entry's `vars:`) over those of its
    /// dependencies and the roles around: above every other role's vars.
    pub vars: Arc<Vars>,
    /// Role parameters (`- role: x` with `port: 80`): above task vars.
    pub params: Arc<Vars>,
    /// `ansible_parent_role_names` and `ansible_parent_role_paths`: the
    /// roles that depend on or include this one, the nearest first.
    pub parents: Vec<String>,
    pub parent_paths: Vec<String>,
}
