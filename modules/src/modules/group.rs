use serde_json::json;

use crate::args::{ArgError, Args, Kind, Param};
use crate::{Controller, Module, Op};

/// `group`: a local group and its gid.
pub struct Group;

const PARAMS: &[Param] = &[
    Param::new("name", Kind::Str).required(),
    Param::new("state", Kind::Str).choices(&["present", "absent"]),
    Param::new("gid", Kind::Int),
    Param::new("system", Kind::Bool),
];

impl Module for Group {
    fn name(&self) -> &'static str {
        "group"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn plan(&self, args: &Args, _: &dyn Controller) -> Result<Op, ArgError> {
        super::render(
            "group.sh",
            json!({
                "name": args.str("name"),
                "state": args.str("state").unwrap_or("present"),
                "gid": args.int("gid"),
                "system": args.bool("system").unwrap_or(false),
            }),
        )
    }
}
