use crate::args::{ArgError, Args, Kind, Param};
use crate::{Controller, Module, Op};

/// `template`: like `copy`, with `src` rendered by the engine with the
/// host's variables.
pub struct Template;

const PARAMS: &[Param] = &[
    Param::new("src", Kind::Str).required(),
    Param::new("dest", Kind::Str).required(),
    Param::new("mode", Kind::Mode),
    Param::new("owner", Kind::Str),
    Param::new("group", Kind::Str),
    Param::new("backup", Kind::Bool),
    Param::new("force", Kind::Bool),
    Param::new("validate", Kind::Str),
];

impl Module for Template {
    fn name(&self) -> &'static str {
        "template"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn plan(&self, args: &Args, ctl: &dyn Controller) -> Result<Op, ArgError> {
        let src = args.str("src").unwrap_or_default();
        let text = ctl.render_template(src).map_err(|e| ArgError::invalid("src", e.to_string()))?;
        super::copy::write(args, super::copy::Content::Inline(text.as_bytes()), Some(src))
    }
}
