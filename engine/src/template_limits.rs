//! Bounds on what rendering a template may cost, so a playbook cannot make
//! push overflow its stack, run for ever or fill the memory: each bound
//! crossed is an input error at the template's place (exit 4).

/// How many variables may be rendering inside each other (`a: "{{ b }}"`,
/// `b: "{{ c }}"`, ...). Each level is a render on the stack, tens of KiB
/// in a debug build: 1500 levels overflowed it, 64 fit in 2 MiB (a test
/// thread's stack; push renders on its main thread, with 8 MiB). Real
/// playbooks nest a handful.
pub const MAX_VARIABLE_DEPTH: usize = 64;

const TOO_DEEP: &str = "variables nest deeper than";

/// The error for a chain of variables nesting past the limit, naming where
/// it starts.
pub fn too_deep(chain: &[String]) -> String {
    let shown: Vec<String> = chain.iter().take(5).map(|n| format!("`{n}`")).collect();
    format!("{TOO_DEEP} {MAX_VARIABLE_DEPTH} levels: {} -> ...", shown.join(" -> "))
}

pub fn is_too_deep(message: &str) -> bool {
    message.starts_with(TOO_DEEP)
}

/// What to do about a template error that crossed a bound, if it did.
pub fn hint(message: &str) -> Option<&'static str> {
    is_too_deep(message).then_some("define the variable nearer to its values: nest variables only a few levels")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use serde_json::{json, Value};

    use super::*;
    use crate::template::{Mode, Scope};

    /// `v0: x`, `v1: "{{ v0 }}"`, ... up to `v{n-1}`.
    fn chain(n: usize) -> Scope {
        let mut vars = serde_json::Map::new();
        vars.insert("v0".into(), json!("x"));
        for i in 1..n {
            vars.insert(format!("v{i}"), json!(format!("{{{{ v{} }}}}", i - 1)));
        }
        Scope::new(vec![Arc::new(vars)], HashMap::new())
    }

    #[test]
    fn a_chain_up_to_the_limit_resolves() {
        let scope = chain(MAX_VARIABLE_DEPTH);
        let last = format!("{{{{ v{} }}}}", MAX_VARIABLE_DEPTH - 1);
        assert_eq!(scope.render_str(&last, Mode::Plain).unwrap(), Value::from("x"));
    }

    #[test]
    fn a_longer_chain_is_an_error_naming_its_start() {
        let scope = chain(MAX_VARIABLE_DEPTH + 1);
        let last = format!("{{{{ v{} }}}}", MAX_VARIABLE_DEPTH);
        let e = scope.render_str(&last, Mode::Plain).unwrap_err();
        assert!(is_too_deep(&e.message), "{}", e.message);
        assert!(
            e.message.contains(&format!("`v{}` -> `v{}`", MAX_VARIABLE_DEPTH, MAX_VARIABLE_DEPTH - 1)),
            "{}",
            e.message
        );
        assert!(hint(&e.message).is_some());
    }
}
