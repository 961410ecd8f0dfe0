use serde_json::Value;

use crate::args::{ArgError, Args, Kind, Param};
use crate::{Controller, Module, Op};

/// `lineinfile`: one line of a text file, edited on the host. Patterns are
/// PCRE (`grep -P`), not POSIX ERE: Debian's awk (mawk 1.3.4) lacks even
/// `{n,m}`, while PCRE reads Python's `re` syntax (`\d`, `\s`, `(?:)`,
/// `(?i)`, lazy quantifiers) as Ansible does.
pub struct LineInFile;

const PARAMS: &[Param] = &[
    Param::new("path", Kind::Str).required().aliases(&["dest", "destfile", "name"]),
    Param::new("line", Kind::Str).aliases(&["value"]),
    Param::new("regexp", Kind::Str).aliases(&["regex"]),
    Param::new("search_string", Kind::Str),
    Param::new("state", Kind::Str).choices(&["present", "absent"]),
    Param::new("insertafter", Kind::Str),
    Param::new("insertbefore", Kind::Str),
    Param::new("firstmatch", Kind::Bool),
    Param::new("create", Kind::Bool),
    Param::new("backup", Kind::Bool),
    Param::new("backrefs", Kind::Bool),
    Param::new("mode", Kind::Mode),
    Param::new("owner", Kind::Str),
    Param::new("group", Kind::Str),
    Param::new("validate", Kind::Str),
];

impl Module for LineInFile {
    fn name(&self) -> &'static str {
        "lineinfile"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn plan(&self, args: &Args, _: &dyn Controller) -> Result<Op, ArgError> {
        let state = args.str("state").unwrap_or("present");
        let pattern = args.has("regexp") || args.has("search_string");
        if args.bool("backrefs") == Some(true) {
            return Err(ArgError::invalid("backrefs", "backrefs is not supported: write the whole line"));
        }
        if args.has("regexp") && args.has("search_string") {
            return Err(ArgError::invalid("search_string", "regexp and search_string are mutually exclusive"));
        }
        if args.has("insertafter") && args.has("insertbefore") {
            return Err(ArgError::invalid("insertbefore", "insertafter and insertbefore are mutually exclusive"));
        }
        if state == "present" && !args.has("line") {
            return Err(ArgError::invalid("line", "line is required with state=present"));
        }
        if state == "absent" && !pattern && !args.has("line") {
            return Err(ArgError::invalid(
                "line",
                "one of line, regexp or search_string is required with state=absent",
            ));
        }
        let (where_, anchor) = match (args.str("insertafter"), args.str("insertbefore")) {
            (Some("EOF"), _) | (None, None) => ("eof", None),
            (Some("BOF"), _) | (_, Some("BOF")) => ("bof", None),
            (Some(re), _) => ("after", Some(re)),
            (_, Some(re)) => ("before", Some(re)),
        };
        let (home, path) = super::host_path(args.str("path").unwrap_or_default());
        let mut ctx = super::attrs(args);
        ctx.extend([
            ("home".into(), home.into()),
            ("path".into(), path.clone().into()),
            ("state".into(), state.into()),
            ("line".into(), args.str("line").unwrap_or("").into()),
            ("regexp".into(), args.get("regexp").cloned().unwrap_or_default()),
            ("search_string".into(), args.get("search_string").cloned().unwrap_or_default()),
            ("bypattern".into(), u8::from(pattern).into()),
            ("where".into(), where_.into()),
            ("anchor".into(), anchor.into()),
            ("firstmatch".into(), u8::from(args.bool("firstmatch").unwrap_or(false)).into()),
            ("create".into(), args.bool("create").unwrap_or(false).into()),
            ("backup".into(), args.bool("backup").unwrap_or(false).into()),
            ("validate".into(), serde_json::to_value(super::validate_words(args)?).unwrap_or_default()),
        ]);
        let mut op = super::render("lineinfile.sh", Value::Object(ctx))?;
        op.diff_label = args.str("path").map(String::from);
        if !home {
            op.prefetch.stat = vec![path];
        }
        Ok(op)
    }
}
