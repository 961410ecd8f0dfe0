use serde_json::Value;

use crate::args::{ArgError, Args, Kind, Param};
use crate::{Controller, Module, Op};

/// `file`: a path's kind (file, directory, link...), presence and
/// attributes.
pub struct File;

const PARAMS: &[Param] = &[
    Param::new("path", Kind::Str).required().aliases(&["dest", "name"]),
    Param::new("state", Kind::Str).choices(&["file", "directory", "absent", "link", "touch", "hard"]),
    Param::new("mode", Kind::Mode),
    Param::new("owner", Kind::Str),
    Param::new("group", Kind::Str),
    Param::new("src", Kind::Str),
    Param::new("recurse", Kind::Bool),
    Param::new("force", Kind::Bool),
];

impl Module for File {
    fn name(&self) -> &'static str {
        "file"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn plan(&self, args: &Args, _: &dyn Controller) -> Result<Op, ArgError> {
        let recurse = args.bool("recurse").unwrap_or(false);
        let state = args.str("state").unwrap_or(if recurse { "directory" } else { "any" });
        let linking = matches!(state, "link" | "hard");
        match args.str("src") {
            None if linking => return Err(ArgError::invalid("state", format!("state={state} needs `src`"))),
            Some(_) if !linking => {
                return Err(ArgError::invalid("src", "src option requires state to be 'link' or 'hard'"))
            }
            _ => {}
        }
        if recurse && state != "directory" {
            return Err(ArgError::invalid("recurse", "recurse option requires state to be 'directory'"));
        }
        let (home, path) = super::host_path(args.str("path").unwrap_or_default());
        if state == "absent" && !home && path == "/" {
            return Err(ArgError::invalid("path", "refusing to remove /"));
        }
        let mut ctx = super::attrs(args);
        let stat = if home || state == "absent" { vec![] } else { vec![path.clone()] };
        ctx.extend([
            ("home".into(), home.into()),
            ("path".into(), path.into()),
            ("state".into(), state.into()),
            ("src".into(), args.str("src").unwrap_or("").into()),
            ("recurse".into(), recurse.into()),
            ("force".into(), args.bool("force").unwrap_or(false).into()),
        ]);
        let mut op = super::render("file.sh", Value::Object(ctx))?;
        op.prefetch.stat = stat;
        Ok(op)
    }
}
