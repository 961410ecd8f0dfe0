use serde_json::Value;

use crate::args::{ArgError, Args, Kind, Param};
use crate::{Controller, Module, Op};

/// `lineinfile`: one line of a text file, edited on the host by one awk.
/// Patterns are Python's `re`, as in Ansible. awk matches them itself when
/// its ERE reads them the same way ([`as_ere`]); others go to PCRE
/// (`grep -P`, which reads `\d`, `\s`, `(?:)`, `(?i)`, lazy quantifiers
/// as Python does), at the price of one more process on every host:
/// Debian's awk (mawk 1.3.4) lacks even `{n,m}`.
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
            ("regexp_ere".into(), args.str("regexp").and_then(as_ere).into()),
            ("anchor_ere".into(), anchor.and_then(as_ere).into()),
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

/// `re`, a Python regexp, as a POSIX ERE that means the same on one line
/// of text, if it is written in the part of the syntax where the two agree:
/// literals, `.`, `^` first, `$` last, `* + ?` (not lazy), groups without
/// `(?`, `|`, bracket expressions without escapes or classes, and escaped
/// punctuation. Anything else (`\d`, `\s`, `{n,m}`, lookarounds...) is left
/// to PCRE.
fn as_ere(re: &str) -> Option<String> {
    let b = re.as_bytes();
    let mut depth = 0usize;
    // Whether a quantifier may follow (something to repeat is before it).
    let mut atom = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        atom = match c {
            b'^' if i == 0 => false,
            b'$' if i == b.len() - 1 => false,
            b'*' | b'+' | b'?' if atom => false,
            b'\\' => {
                i += 1;
                // Not `\-`: gawk warns of it as an unknown escape.
                if !b.get(i).is_some_and(|e| b".[](){}*+?^$|\\/".contains(e)) {
                    return None;
                }
                true
            }
            b'[' => {
                let body_start = i + 1 + usize::from(b.get(i + 1) == Some(&b'^'));
                let close = b.get(body_start + 1..)?.iter().position(|&x| x == b']')? + body_start + 1;
                let body = &b[body_start..close];
                if body.iter().any(|x| matches!(x, b'\\' | b'[')) {
                    return None;
                }
                i = close;
                true
            }
            b'(' if b.get(i + 1).is_some_and(|&n| n != b'?' && n != b')' && n != b'|') => {
                depth += 1;
                false
            }
            b')' if depth > 0 && atom => {
                depth -= 1;
                true
            }
            b'|' if atom && b.get(i + 1).is_some_and(|&n| n != b')' && n != b'|') => false,
            b'.' => true,
            c if c.is_ascii_alphanumeric() || b" =_-:/,#@%!'\"<>;~&".contains(&c) => true,
            _ => return None,
        };
        i += 1;
    }
    (depth == 0 && !b.is_empty() && !b.ends_with(b"|")).then(|| re.to_string())
}

#[cfg(test)]
mod tests {
    use super::as_ere;

    #[test]
    fn python_regexps_awk_reads_alike_and_the_rest() {
        for same in
            ["^BENCH_MODE=", "^#?PermitRootLogin +no$", "a.*b", "^\\[b", "x\\.y", "^(a|b)c?$", "[^a-z_]", "[]a]"]
        {
            assert_eq!(as_ere(same).as_deref(), Some(same), "{same}");
        }
        for pcre in [
            "",
            "\\s",
            "\\d+",
            "a{2}",
            "(?i)a",
            "(?:a)",
            "a*?",
            "a+?",
            "a??",
            "(a",
            "a)",
            "()",
            "a|",
            "(|a)",
            "[\\d]",
            "[[:space:]]",
            "[a",
            "^^",
            "a$b",
            "*a",
            "é",
            "\\bx",
            "a\\",
            "a\\-b",
        ] {
            assert_eq!(as_ere(pcre), None, "{pcre}");
        }
    }
}
