use crate::args::{ArgError, Args, Kind, Param};
use crate::{Controller, Module, Op};

/// `shell`: runs a command line through a shell (`executable`, /bin/sh by
/// default).
pub struct Shell;

const PARAMS: &[Param] = &[
    Param::new("_raw_params", Kind::Str),
    Param::new("cmd", Kind::Str),
    Param::new("creates", Kind::Str),
    Param::new("removes", Kind::Str),
    Param::new("chdir", Kind::Str),
    Param::new("executable", Kind::Str),
    Param::new("stdin", Kind::Str),
    Param::new("stdin_add_newline", Kind::Bool),
];

impl Module for Shell {
    fn name(&self) -> &'static str {
        "shell"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn free_form(&self) -> bool {
        true
    }
    /// The command line is shell code by design (the engine already quoted
    /// the values it templated into it). It is handed to `sh -c` as one
    /// quoted word, exactly as Ansible runs `/bin/sh -c CMD`: it runs in its
    /// own shell, not under the snippet's `set -e` nor next to its helpers.
    fn plan(&self, args: &Args, _: &dyn Controller) -> Result<Op, ArgError> {
        let cmd = match (args.str("_raw_params"), args.str("cmd")) {
            (Some(c), None) | (None, Some(c)) => c,
            (None, None) => return Err(ArgError::general("no command given")),
            (Some(_), Some(_)) => return Err(ArgError::invalid("cmd", "give the command once: as free form or `cmd`")),
        };
        if cmd.trim().is_empty() {
            return Err(ArgError::invalid("cmd", "the command is empty"));
        }
        let executable = args.str("executable").unwrap_or("/bin/sh");
        super::command::run(args, serde_json::json!({ "argv": [], "executable": executable, "cmd": cmd }))
    }
}
