//! Bounds on what rendering a template may cost, so a playbook cannot make
//! push overflow its stack, run for ever or fill the memory: each bound
//! crossed is an input error at the template's place (exit 4).

use std::sync::OnceLock;

use serde_json::Value as Json;

/// What one render may cost, from `PUSH_TEMPLATE_FUEL` and
/// `PUSH_TEMPLATE_MAX_BYTES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// minijinja's fuel for one render: about one unit per instruction and
    /// one per 64 bytes the template creates, so it bounds both the time a
    /// render takes (nested `range(100000)` loops) and what it allocates
    /// (`'x' * 2**40`).
    pub fuel: u64,
    /// The largest text one render (a task argument, a variable's value)
    /// may produce. Fuel alone would let a chain of variables each doubling
    /// the one before grow to gigabytes, one render at a time.
    pub max_bytes: usize,
}

/// Ample for real templates (a config file looping over thousands of
/// items takes a few hundred thousand fuel); a runaway loop stops within a
/// second, and what one render creates stays under 64 * fuel bytes (320 MB).
pub const DEFAULT: Limits = Limits { fuel: 5_000_000, max_bytes: 16 << 20 };

const FUEL_VAR: &str = "PUSH_TEMPLATE_FUEL";
const MAX_BYTES_VAR: &str = "PUSH_TEMPLATE_MAX_BYTES";

/// The limits set in the environment, read once; an unreadable value is an
/// error for the command line.
pub fn configured() -> Result<&'static Limits, String> {
    static LIMITS: OnceLock<Result<Limits, String>> = OnceLock::new();
    LIMITS.get_or_init(|| from_env(|k| std::env::var(k).ok())).as_ref().map_err(Clone::clone)
}

/// The limits renders run with (the defaults when the environment's are
/// unreadable: the command refuses to start then, see [`configured`]).
pub fn current() -> &'static Limits {
    configured().unwrap_or(&DEFAULT)
}

fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Limits, String> {
    let number = |name: &str, default: u64| -> Result<u64, String> {
        match var(name) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("{name}=`{v}` is not a positive whole number (default: {default})")),
            },
        }
    };
    Ok(Limits {
        fuel: number(FUEL_VAR, DEFAULT.fuel)?,
        max_bytes: usize::try_from(number(MAX_BYTES_VAR, DEFAULT.max_bytes as u64)?).unwrap_or(usize::MAX),
    })
}

const OUT_OF_FUEL: &str = "the template does too much work";
const TOO_LARGE: &str = "the template's result is larger than";

/// The error for a render that used up its fuel.
pub fn out_of_fuel() -> String {
    format!("{OUT_OF_FUEL} (more than {FUEL_VAR}={} steps)", current().fuel)
}

/// Refuse a rendered text larger than the limit.
pub fn check_text(text: &str) -> Result<(), String> {
    check_size(text.len())
}

/// Refuse a rendered value whose strings add up to more than the limit.
pub fn check_value(value: &Json) -> Result<(), String> {
    check_size(size(value))
}

fn check_size(len: usize) -> Result<(), String> {
    let max = current().max_bytes;
    if len > max {
        return Err(format!("{TOO_LARGE} {MAX_BYTES_VAR}={max} bytes ({len} bytes)"));
    }
    Ok(())
}

/// The bytes of text in a value: what a doubling template multiplies.
fn size(value: &Json) -> usize {
    match value {
        Json::String(s) => s.len(),
        Json::Array(items) => items.iter().map(size).sum(),
        Json::Object(map) => map.iter().map(|(k, v)| k.len() + size(v)).sum(),
        _ => 8,
    }
}

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
/// Nested variables prefix their name (`in variable `x`: ...`).
pub fn hint(message: &str) -> Option<&'static str> {
    if is_too_deep(message) {
        Some("define the variable nearer to its values: nest variables only a few levels")
    } else if message.contains(OUT_OF_FUEL) {
        Some(
            "look for loops that run far longer than meant, or values that grow with each use; \
             a template that really needs more: raise PUSH_TEMPLATE_FUEL",
        )
    } else if message.contains(TOO_LARGE) {
        Some("look for a value that grows with each use (`a ~ a`, `'x' * n`); a template that really needs more: raise PUSH_TEMPLATE_MAX_BYTES")
    } else {
        None
    }
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
    fn limits_come_from_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(name, _)| *name == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(from_env(env(&[])), Ok(DEFAULT));
        assert_eq!(
            from_env(env(&[("PUSH_TEMPLATE_FUEL", "1000"), ("PUSH_TEMPLATE_MAX_BYTES", " 2048 ")])),
            Ok(Limits { fuel: 1000, max_bytes: 2048 })
        );
        for bad in ["0", "-1", "many", ""] {
            let e = from_env(move |k: &str| (k == "PUSH_TEMPLATE_FUEL").then(|| bad.to_string())).unwrap_err();
            assert!(e.contains("PUSH_TEMPLATE_FUEL"), "{e}");
        }
    }

    #[test]
    fn sizes_count_the_text_in_a_value() {
        assert_eq!(size(&json!({"ab": ["cde", "f"]})), 6);
        let max = current().max_bytes;
        assert!(check_text(&"x".repeat(max)).is_ok());
        let e = check_value(&json!(["x".repeat(max), "y"])).unwrap_err();
        assert!(hint(&format!("in variable `a`: {e}")).is_some(), "{e}");
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
