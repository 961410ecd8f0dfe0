//! One line of an authorized_keys file, read the way sshd reads it
//! (`sshkey_advance_past_options` and `sshauthopt_parse` in OpenSSH) and
//! written back from what is allowed. Checking the text as written is not
//! enough: a parser that splits options differently from sshd (on `\"`
//! inside a quoted value, say) lets an option it never saw reach sshd.
//! So the line is parsed into options, each is checked against an
//! allowlist, and a new line is built from them in one unambiguous form.

/// One option of a key: `name` or `name="value"`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyOption {
    /// Lowercased: sshd matches option names without regard to case.
    name: String,
    /// Unquoted (`\"` read as `"`), as sshd sees it.
    value: Option<String>,
}

/// Options a key may bring along, with whether they take a value: those
/// that only narrow what the key can do.
const ALLOWED: &[(&str, bool)] = &[
    ("from", true),
    ("expiry-time", true),
    ("no-pty", false),
    ("verify-required", false),
    ("no-touch-required", false),
];

/// Does the line start with a key type rather than options? sshd first
/// tries to read a key, then options.
fn starts_with_key_type(line: &str) -> bool {
    ["ssh-", "ecdsa-", "sk-"].iter().any(|p| line.starts_with(p))
}

/// Split `line` into its options and what follows them (`TYPE BLOB
/// [COMMENT]`). Options are `name` or `name="value"`, separated by commas
/// and ended by a blank; in a value, `\"` is a quote and any other
/// character, `\` included, is itself.
fn parse_options(line: &str) -> Result<(Vec<KeyOption>, &str), String> {
    if starts_with_key_type(line) {
        return Ok((Vec::new(), line));
    }
    let mut options = Vec::new();
    let mut rest = line;
    loop {
        let name_end = rest.find(|c: char| c == '=' || c == ',' || c.is_whitespace()).unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        if name.is_empty() {
            return Err("an empty key option".into());
        }
        rest = &rest[name_end..];
        let value = match rest.strip_prefix('=') {
            Some(quoted) => {
                let (value, after) = dequote(quoted)
                    .ok_or_else(|| format!("the value of key option `{name}` is not a closed double-quoted string"))?;
                rest = after;
                Some(value)
            }
            None => None,
        };
        options.push(KeyOption { name, value });
        match rest.chars().next() {
            Some(',') => rest = &rest[1..],
            Some(c) if c.is_whitespace() => return Ok((options, rest.trim_start())),
            _ => return Err("key options but no key after them".into()),
        }
    }
}

/// `"value"...` -> (value, what follows the closing quote), as sshd's
/// `opt_dequote`.
fn dequote(text: &str) -> Option<(String, &str)> {
    let body = text.strip_prefix('"')?;
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if body[i + 1..].starts_with('"') => {
                value.push('"');
                chars.next();
            }
            '"' => return Some((value, &body[i + 1..])),
            c => value.push(c),
        }
    }
    None
}

/// Whether an allowed option takes a value; None for any other option.
fn takes_value(name: &str) -> Option<bool> {
    ALLOWED.iter().find(|(n, _)| *n == name).map(|&(_, value)| value)
}

fn not_allowed(name: &str) -> String {
    let names: Vec<&str> = ALLOWED.iter().map(|(n, _)| *n).collect();
    format!("key option `{name}` is not allowed here (allowed: {})", names.join(", "))
}

/// Check an option against the allowlist and write it back. A value with a
/// quote, backslash, blank or control character is refused rather than
/// escaped: none of the allowed options needs one.
fn allowed(option: &KeyOption) -> Result<String, String> {
    let Some(takes_value) = takes_value(&option.name) else { return Err(not_allowed(&option.name)) };
    match (&option.value, takes_value) {
        (None, false) => Ok(option.name.clone()),
        (Some(v), true) if !v.is_empty() && v.chars().all(|c| c.is_ascii_graphic() && c != '"' && c != '\\') => {
            Ok(format!("{}=\"{v}\"", option.name))
        }
        (Some(v), true) => Err(format!("key option `{}` has a value push does not accept: {v:?}", option.name)),
        (None, true) => Err(format!("key option `{}` needs a value", option.name)),
        (Some(_), false) => Err(format!("key option `{}` takes no value", option.name)),
    }
}

/// The line to write for `line`: `restrict,pty,command="COMMAND"` first
/// (everything off, a pty back on, COMMAND whatever the client asks),
/// then the key's own allowed options, then its type, blob and comment.
pub(crate) fn restricted_line(line: &str, command: &str) -> Result<String, String> {
    let (options, key) = parse_options(line)?;
    let mut words = key.split_whitespace();
    let (Some(kind), Some(blob)) = (words.next(), words.next()) else { return Err("not a public key".into()) };
    // Lenient on the blob (sshd skips a line it cannot read), strict on
    // anything that could be read as more than one word or an option.
    let blob_ok = blob.chars().all(|c| c.is_ascii_alphanumeric() || "+/=.-".contains(c));
    let kind_ok = starts_with_key_type(kind) && kind.chars().all(|c| c.is_ascii_alphanumeric() || "@.-".contains(c));
    if !kind_ok || !blob_ok {
        return Err("not a public key (want `ssh-ed25519 AAAA... comment`)".into());
    }
    // Name what is not allowed at all before what is only written oddly:
    // the option smuggled in is what the user needs to hear of.
    if let Some(unknown) = options.iter().find(|o| takes_value(&o.name).is_none()) {
        return Err(not_allowed(&unknown.name));
    }
    let mut out = format!("restrict,pty,command=\"{command}\"");
    for option in &options {
        out.push(',');
        out.push_str(&allowed(option)?);
    }
    let comment: Vec<&str> = words.collect();
    out.push_str(&format!(" {kind} {blob}"));
    if !comment.is_empty() {
        out.push(' ');
        out.push_str(&comment.join(" "));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ0kZ0Q8n7yq2dJ1o6l8ZbVQ3bC0x2k5y6z7a8b9c0d1 alice@example.org";
    const HELPER: &str = "/usr/local/lib/push/docker-ssh";

    fn option(name: &str, value: Option<&str>) -> KeyOption {
        KeyOption { name: name.into(), value: value.map(String::from) }
    }

    #[test]
    fn options_are_read_as_sshd_reads_them() {
        let line = format!("From=\"10.0.0.0/8,192.0.2.1\",no-pty,environment=\"A=\\\"b c\\\"\\d\" {KEY}");
        let (options, key) = parse_options(&line).unwrap();
        assert_eq!(
            options,
            [
                option("from", Some("10.0.0.0/8,192.0.2.1")),
                option("no-pty", None),
                option("environment", Some("A=\"b c\"\\d"))
            ]
        );
        assert_eq!(key, KEY);
        assert_eq!(parse_options(KEY).unwrap(), (vec![], KEY));
    }

    /// `\"` does not end a value for sshd: an option split on it would let
    /// `port-forwarding` through as part of an allowed `from`.
    #[test]
    fn an_escaped_quote_smuggles_nothing() {
        for (smuggled, named) in [
            // For sshd, one `from` whose value holds a quote and commas.
            (format!("from=\"a\\\",port-forwarding,x\" {KEY}"), "`from` has a value"),
            (format!("from=\"a\\\"\",port-forwarding,from=\"b\" {KEY}"), "`port-forwarding` is not allowed"),
            (format!("from=\"a\\\"\",permitopen=\"x:1\",from=\"b\" {KEY}"), "`permitopen` is not allowed"),
        ] {
            let refused = restricted_line(&smuggled, HELPER).unwrap_err();
            assert!(refused.contains(named), "{smuggled}: {refused}");
        }
        let (options, _) = parse_options(&format!("from=\"a\\\"\",port-forwarding,from=\"b\" {KEY}")).unwrap();
        assert_eq!(options[1], option("port-forwarding", None));
    }

    #[test]
    fn the_line_is_rebuilt_from_allowed_options() {
        assert_eq!(restricted_line(KEY, HELPER).unwrap(), format!("restrict,pty,command=\"{HELPER}\" {KEY}"));
        assert_eq!(
            restricted_line(&format!("FROM=\"10.0.0.0/8,192.0.2.1\",No-Pty   {KEY}"), HELPER).unwrap(),
            format!("restrict,pty,command=\"{HELPER}\",from=\"10.0.0.0/8,192.0.2.1\",no-pty {KEY}")
        );
    }

    #[test]
    fn unknown_options_and_odd_values_are_refused_by_name() {
        for (line, named) in [
            (format!("command=\"/bin/sh\" {KEY}"), "`command`"),
            (format!("permitopen=\"x:1\" {KEY}"), "`permitopen`"),
            (format!("port-forwarding {KEY}"), "`port-forwarding`"),
            (format!("from {KEY}"), "`from` needs a value"),
            (format!("no-pty=\"x\" {KEY}"), "`no-pty` takes no value"),
            (format!("from=\"a b\" {KEY}"), "`from` has a value"),
            (format!("from=\"a\\b\" {KEY}"), "`from` has a value"),
            (format!("from=\"a\\\\\" {KEY}"), "closed double-quoted"),
            (format!("from=10.0.0.1 {KEY}"), "closed double-quoted"),
            (format!("from=\"10.0.0.1 {KEY}"), "closed double-quoted"),
            (format!(",no-pty {KEY}"), "empty key option"),
            ("no-pty".to_string(), "no key"),
        ] {
            let refused = restricted_line(&line, HELPER).unwrap_err();
            assert!(refused.contains(named), "{line}: {refused}");
        }
    }

    #[test]
    fn what_is_not_a_key_is_refused() {
        for bad in ["ssh-ed25519", "not a key at all", "ssh-ed25519 AAAA$(id) x", "ssh-ed25519 \"AAAA\" x"] {
            assert!(restricted_line(bad, HELPER).is_err(), "{bad}");
        }
    }
}
