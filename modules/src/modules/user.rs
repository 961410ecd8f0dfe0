use serde_json::json;
use sha2::{Digest, Sha256};

use crate::args::{ArgError, Args, Kind, Param};
use crate::{Controller, Module, Op};

/// `user`: a local user account.
pub struct User;

const PARAMS: &[Param] = &[
    Param::new("name", Kind::Str).required().aliases(&["user"]),
    Param::new("state", Kind::Str).choices(&["present", "absent"]),
    Param::new("uid", Kind::Int),
    Param::new("group", Kind::Str),
    Param::new("groups", Kind::List),
    Param::new("append", Kind::Bool),
    Param::new("shell", Kind::Str),
    Param::new("home", Kind::Str),
    Param::new("move_home", Kind::Bool),
    Param::new("create_home", Kind::Bool).aliases(&["createhome"]),
    Param::new("system", Kind::Bool),
    Param::new("password", Kind::Str),
    Param::new("update_password", Kind::Str).choices(&["always", "on_create"]),
    Param::new("comment", Kind::Str),
    Param::new("remove", Kind::Bool),
];

impl Module for User {
    fn name(&self) -> &'static str {
        "user"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn plan(&self, args: &Args, _: &dyn Controller) -> Result<Op, ArgError> {
        let password = args.str("password").unwrap_or("");
        if password.contains([':', '\n']) {
            // Never echo the value: it is a secret.
            return Err(ArgError::invalid("password", "password must be a crypt hash (no ':' or newline)"));
        }
        let mut groups = args.has("groups").then(|| args.list("groups"));
        if let Some(g) = groups.as_mut() {
            // Sorted like the host's `LC_ALL=C sort -u` of current memberships.
            g.sort_unstable();
            g.dedup();
        }
        let compare_password = !password.is_empty() && args.str("update_password") != Some("on_create");
        super::render(
            "user.sh",
            json!({
                "name": args.str("name"),
                "state": args.str("state").unwrap_or("present"),
                "uid": args.int("uid"),
                "group": args.str("group").unwrap_or(""),
                "groups": groups,
                "append": args.bool("append").unwrap_or(false),
                "comment": args.str("comment"),
                "home": args.str("home").unwrap_or(""),
                "move_home": args.bool("move_home").unwrap_or(false),
                "shell": args.str("shell").unwrap_or(""),
                "remove": args.bool("remove").unwrap_or(false),
                "password": password,
                "password_sha256": if compare_password { format!("{:x}", Sha256::digest(password)) } else { String::new() },
                "create_options": create_options(args),
            }),
        )
    }
}

/// useradd's options, as words, for the attributes that were given.
fn create_options(args: &Args) -> Vec<String> {
    let mut words = Vec::new();
    let mut opt = |flag: &str, value: Option<String>| {
        if let Some(v) = value {
            words.extend([flag.to_string(), v]);
        }
    };
    opt("-u", args.int("uid").map(|u| u.to_string()));
    opt("-g", args.str("group").map(String::from));
    opt("-G", Some(args.list("groups").join(",")).filter(|g| !g.is_empty()));
    opt("-c", args.str("comment").map(String::from));
    opt("-d", args.str("home").map(String::from));
    opt("-s", args.str("shell").map(String::from));
    if args.bool("system") == Some(true) {
        words.push("-r".into());
    }
    // Ansible creates the home folder unless told not to, system users too.
    words.push(if args.bool("create_home").unwrap_or(true) { "-m" } else { "-M" }.into());
    words
}
