use serde_json::json;

use crate::args::{ArgError, Args, Kind, Param};
use crate::{Controller, Module, Op};

/// `systemd` (also registered as `systemd_service`): a unit's state,
/// enablement and mask, and daemon-reload.
pub struct Systemd(pub &'static str);

const PARAMS: &[Param] = &[
    Param::new("name", Kind::Str).aliases(&["service", "unit"]),
    Param::new("state", Kind::Str).choices(&["started", "stopped", "restarted", "reloaded"]),
    Param::new("enabled", Kind::Bool),
    Param::new("masked", Kind::Bool),
    Param::new("daemon_reload", Kind::Bool).aliases(&["daemon-reload"]),
];

/// What systemctl reads as a glob in a unit name: `name: "w*"` would stop
/// `web.service` and every other unit starting with `w`.
const GLOB: [char; 3] = ['*', '?', '['];

impl Module for Systemd {
    fn name(&self) -> &'static str {
        self.0
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn plan(&self, args: &Args, _: &dyn Controller) -> Result<Op, ArgError> {
        let daemon_reload = args.bool("daemon_reload").unwrap_or(false);
        let acts_on_unit = ["state", "enabled", "masked"].iter().any(|k| args.has(k));
        if !acts_on_unit && !daemon_reload {
            return Err(ArgError::invalid("state", "one of state, enabled, masked or daemon_reload is required"));
        }
        if acts_on_unit && !args.has("name") {
            return Err(ArgError::Missing { name: "name".into() });
        }
        if let Some(name) = args.str("name").filter(|n| n.contains(GLOB)) {
            return Err(ArgError::invalid(
                "name",
                format!("`{name}` is a pattern: systemctl would act on every unit it matches"),
            )
            .with_hint(
                "unit names are taken literally (there is no `pattern: true`): name each unit, e.g. with `loop`",
            ));
        }
        super::render(
            "systemd.sh",
            json!({
                "name": args.str("name").unwrap_or(""),
                "state": args.str("state").unwrap_or(""),
                "enabled": args.bool("enabled"),
                "masked": args.bool("masked"),
                "daemon_reload": daemon_reload,
            }),
        )
    }
}
