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
];

pub const TASK: &[&str] = &[
    "name",
    "when",
    "loop",
    "with_items",
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
];

/// Ansible keywords we know but do not implement: refusing them clearly
/// beats silently doing something else.
pub const UNSUPPORTED_TASK: &[&str] = &[
    "block",
    "rescue",
    "always",
    "delegate_to",
    "run_once",
    "local_action",
    "async",
    "poll",
    "until",
    "retries",
    "delay",
    "environment",
    "changed_when",
    "failed_when",
    "include_tasks",
    "include_role",
    "import_role",
    "with_dict",
    "with_fileglob",
    "check_mode",
];
