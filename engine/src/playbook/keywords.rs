//! The keywords a play or task may use. Kept as lists so a misspelling can
//! be answered with "did you mean".

pub const PLAY: &[&str] = &[
    "name",
    "hosts",
    "vars",
    "vars_files",
    "tasks",
    "pre_tasks",
    "post_tasks",
    "handlers",
    "roles",
    "tags",
    "become",
    "become_user",
    "become_method",
    "become_flags",
    "remote_user",
    "gather_facts",
    "serial",
    "max_fail_percentage",
    "environment",
    "check_mode",
    "connection",
];

pub const TASK: &[&str] = &[
    "name",
    "when",
    "loop",
    "with_items",
    "with_list",
    "with_dict",
    "with_nested",
    "with_together",
    "with_subelements",
    "with_sequence",
    "with_indexed_items",
    "with_fileglob",
    "with_first_found",
    "loop_control",
    "notify",
    "listen",
    "tags",
    "register",
    "become",
    "become_user",
    "become_method",
    "become_flags",
    "vars",
    "ignore_errors",
    "no_log",
    "args",
    "environment",
    "check_mode",
    "delegate_to",
    "connection",
    "changed_when",
    "failed_when",
    "until",
    "retries",
    "delay",
];

/// The keywords of a `block:`; all but its three parts are inherited by the
/// tasks in it.
pub const BLOCK: &[&str] = &[
    "name",
    "block",
    "rescue",
    "always",
    "when",
    "tags",
    "become",
    "become_user",
    "become_method",
    "become_flags",
    "vars",
    "ignore_errors",
    "no_log",
    "environment",
    "check_mode",
];

/// The keywords an `import_tasks:` line may carry; the imported tasks
/// inherit them.
pub const IMPORT: &[&str] = &[
    "name",
    "when",
    "tags",
    "become",
    "become_user",
    "become_method",
    "become_flags",
    "vars",
    "ignore_errors",
    "no_log",
    "environment",
    "check_mode",
];

/// Ansible keywords we know but do not implement: refusing them clearly
/// beats silently doing something else.
pub const UNSUPPORTED_TASK: &[&str] = &["run_once", "local_action", "async", "poll"];

/// Ansible's actions that are keywords to push, under any of their names:
/// `include_tasks`, `ansible.builtin.include_tasks`, `ansible.legacy.include_tasks`.
const ACTIONS: &[&str] = &[
    "import_playbook",
    "import_tasks",
    "include_tasks",
    "import_role",
    "include_role",
    "include_vars",
    "set_fact",
    "meta",
];

/// The short name of a builtin action that push treats as a keyword.
pub fn builtin_action(key: &str) -> Option<&str> {
    let short = key.strip_prefix("ansible.builtin.").or_else(|| key.strip_prefix("ansible.legacy.")).unwrap_or(key);
    ACTIONS.contains(&short).then_some(short)
}

/// The value of action `short` in a mapping, written short or fully qualified.
pub fn get_action<'n>(node: &'n crate::yaml::Node, short: &str) -> Option<&'n crate::yaml::Node> {
    node.as_map()?.iter().find(|(k, _)| builtin_action(&k.name) == Some(short)).map(|(_, v)| v)
}
