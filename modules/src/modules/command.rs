use crate::args::{ArgError, Args, Kind, Param};
use crate::{Controller, Module, Op};

/// `command`: runs a program with its arguments, no shell involved.
pub struct Command;

const PARAMS: &[Param] = &[
    Param::new("_raw_params", Kind::Str),
    Param::new("cmd", Kind::Str),
    Param::new("argv", Kind::List),
    Param::new("creates", Kind::Str),
    Param::new("removes", Kind::Str),
    Param::new("chdir", Kind::Str),
    Param::new("stdin", Kind::Str),
    Param::new("stdin_add_newline", Kind::Bool),
];

impl Module for Command {
    fn name(&self) -> &'static str {
        "command"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn free_form(&self) -> bool {
        true
    }
    fn plan(&self, args: &Args, _: &dyn Controller) -> Result<Op, ArgError> {
        let given: Vec<&str> = ["argv", "_raw_params", "cmd"].into_iter().filter(|k| args.has(k)).collect();
        let argv = match given.as_slice() {
            ["argv"] => args.list("argv"),
            [text] => shlex::split(args.str(text).unwrap_or_default())
                .ok_or_else(|| ArgError::invalid(text, "unbalanced quotes in the command"))?,
            [] => return Err(ArgError::general("no command given")),
            [_, second, ..] => {
                return Err(ArgError::invalid(second, "give the command once: as free form, `cmd` or `argv`"));
            }
        };
        if argv.is_empty() {
            return Err(ArgError::invalid(given[0], "the command is empty"));
        }
        run(args, serde_json::json!({ "argv": argv, "executable": "", "cmd": "" }))
    }
}

/// The op for `command` and `shell`, which differ only in what they exec.
pub(super) fn run(args: &Args, mut ctx: serde_json::Value) -> Result<Op, ArgError> {
    let newline = args.bool("stdin_add_newline").unwrap_or(true);
    for key in ["creates", "removes", "chdir", "stdin"] {
        ctx[key] = args.get(key).cloned().unwrap_or_default();
    }
    ctx["stdin_format"] = (if newline { "%s\\n" } else { "%s" }).into();
    super::render("command.sh", ctx)
}
