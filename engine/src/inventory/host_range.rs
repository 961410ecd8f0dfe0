//! Host names as inventories write them: `web[01:20].example.org`,
//! `db-[a:c]`, `host:2222`, `[2001:db8::1]:22`.
//!
//! This is a port of Ansible's `parse_address` (ansible/parsing/utils/addresses.py)
//! and `expand_hostname_range` (ansible/plugins/inventory/__init__.py). The
//! regular expressions are kept close to the Python ones on purpose: whether
//! `name:port` splits off a port, or a host name keeps a trailing `:22`,
//! depends on exactly these rules, and users' inventories rely on them.
//!
//! Where Ansible silently produces nothing or nonsense (an empty range such
//! as `[3:1]`, a multi-letter alphabetic range), we report an error instead.

use std::sync::LazyLock;

use regex::Regex;

/// An error in a range expression. The caller attaches the span.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeError {
    pub message: String,
    pub hint: &'static str,
}

const RANGE_HINT: &str = "a range is `[begin:end]` or `[begin:end:step]`, e.g. `web[01:20]` or `db-[a:f]`";

/// Upper bound on the hosts one pattern may expand to, so a typo such as
/// `[0:99999999]` is an error rather than an out-of-memory crash.
const MAX_EXPANDED_HOSTS: usize = 100_000;

fn err(message: impl Into<String>) -> RangeError {
    RangeError { message: message.into(), hint: RANGE_HINT }
}

// --- Ansible's address regular expressions ---------------------------------

const NUMERIC_RANGE: &str = r"\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]";
const HEX_RANGE: &str = r"\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]";
const ALNUM_RANGE: &str = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]";

fn ipv6_component() -> String {
    format!(r"(?:[0-9a-f]{{1,4}}|{HEX_RANGE})")
}

fn ipv4_component() -> String {
    format!(r"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{NUMERIC_RANGE})")
}

static BRACKETED_HOSTPORT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\[(.+)\]:([0-9]+)$").unwrap());

static HOSTPORT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$").unwrap());

static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    let c = ipv4_component();
    Regex::new(&format!(r"(?i)^(?:{c}\.){{3}}{c}$")).unwrap()
});

static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    let c = ipv6_component();
    let alternatives = [
        format!("(?:{c}:){{7}}{c}"),
        format!("(?:{c}:){{1,6}}:"),
        format!("(?:{c}:)(?::{c}){{1,6}}"),
        format!("(?:{c}:){{2}}(?::{c}){{1,5}}"),
        format!("(?:{c}:){{3}}(?::{c}){{1,4}}"),
        format!("(?:{c}:){{4}}(?::{c}){{1,3}}"),
        format!("(?:{c}:){{5}}(?::{c}){{1,2}}"),
        format!("(?:{c}:){{6}}(?::{c})"),
        format!(":(?::{c}){{1,6}}"),
        format!("{c}?::"),
        // IPv4-in-IPv6 variants.
        format!(r"(?:0:){{6}}(?:{c}\.){{3}}{c}"),
        format!(r"::(?:ffff:)?(?:{c}\.){{3}}{c}"),
        format!(r"(?:0:){{5}}ffff:(?:{c}\.){{3}}{c}"),
    ];
    Regex::new(&format!("(?i)^(?:{})$", alternatives.join("|"))).unwrap()
});

static HOSTNAME: LazyLock<Regex> = LazyLock::new(|| {
    // Python: (?:\w|R)(?:[\w-]|R)*(?<![_-]) -- "a label must not end in _ or -".
    // The regex crate has no look-behind, so the last element is spelled out:
    // it is a word character other than `_`, or a range.
    let r = ALNUM_RANGE;
    let label = format!(r"(?:(?:\w|{r})(?:[\w-]|{r})*)?(?:[^\W_]|{r})");
    Regex::new(&format!(r"(?i)^{label}(?:\.{label})*$")).unwrap()
});

/// Ansible's `parse_address`: split an optional `:port` off a host name or
/// address. `None` when the text is not a host name, IPv4 or IPv6 address
/// (Ansible then uses the text verbatim, port and all, as the host name).
pub fn parse_address(address: &str, allow_ranges: bool) -> Option<(String, Option<i64>)> {
    let mut address = address.to_string();
    let mut port = None;
    // Both forms are tried in turn, as in Ansible (`[a]:1` strips to `a`,
    // which is then tried as `host:port` again).
    for re in [&*BRACKETED_HOSTPORT, &*HOSTPORT] {
        if let Some(c) = re.captures(&address) {
            let p = c[2].parse::<i64>().ok()?;
            address = c[1].to_string();
            port = Some(p);
        }
    }
    let valid = IPV4.is_match(&address) || IPV6.is_match(&address) || HOSTNAME.is_match(&address);
    if !valid || (!allow_ranges && address.contains('[')) {
        return None;
    }
    Some((address, port))
}

/// Whether a name is an IPv4 or IPv6 address; `inventory_hostname_short` keeps
/// addresses whole instead of cutting at the first dot.
pub fn is_ip_address(name: &str) -> bool {
    IPV4.is_match(name) || IPV6.is_match(name)
}

/// Ansible's `_expand_hostpattern`: one inventory host entry to host names
/// plus the port given with it, if any.
pub fn expand_host_pattern(pattern: &str) -> Result<(Vec<String>, Option<i64>), RangeError> {
    let (name, port) = parse_address(pattern, true).unwrap_or_else(|| (pattern.to_string(), None));
    let names = if name.contains('[') { expand_hostname_range(&name)? } else { vec![name] };
    Ok((names, port))
}

/// Expand every `[begin:end(:step)]` in `line`, left to right.
pub fn expand_hostname_range(line: &str) -> Result<Vec<String>, RangeError> {
    let mut out = Vec::new();
    expand_into(line, &mut out)?;
    Ok(out)
}

fn expand_into(line: &str, out: &mut Vec<String>) -> Result<(), RangeError> {
    let (Some(open), Some(close)) = (line.find('['), line.find(']')) else {
        return Err(err(format!("unbalanced `[` in host range `{line}`")));
    };
    if close < open || line.contains('|') {
        return Err(err(format!("cannot read the host range in `{line}`")));
    }
    let (head, nrange, tail) = (&line[..open], &line[open + 1..close], &line[close + 1..]);
    let bounds: Vec<&str> = nrange.split(':').collect();
    if bounds.len() != 2 && bounds.len() != 3 {
        return Err(err(format!("host range `[{nrange}]` must be begin:end or begin:end:step")));
    }
    let beg = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    if end.is_empty() {
        return Err(err(format!("host range `[{nrange}]` must specify an end value")));
    }
    let step = match bounds.get(2) {
        None => 1,
        Some(s) => parse_python_int(s)
            .filter(|s| *s > 0)
            .ok_or_else(|| err(format!("the step of host range `[{nrange}]` must be a positive number")))?,
    };
    // A leading zero asks for zero-padding to the width of `begin`.
    let width = if beg.starts_with('0') && beg.len() > 1 {
        if beg.len() != end.len() {
            return Err(err(format!(
                "host range `[{nrange}]` must use equal-length begin and end (`{beg}` has {} digits, `{end}` has {})",
                beg.len(),
                end.len()
            )));
        }
        beg.len()
    } else {
        0
    };

    let items: Vec<String> = if let (Some(b), Some(e)) = (single_letter(beg), single_letter(end)) {
        if b > e {
            return Err(err(format!("host range `[{nrange}]` must have begin <= end")));
        }
        ASCII_LETTERS[b..=e].iter().step_by(step as usize).map(|c| format!("{c:0>width$}")).collect()
    } else {
        let (Some(b), Some(e)) = (parse_python_int(beg), parse_python_int(end)) else {
            return Err(err(format!("host range `[{nrange}]` must be numbers (`[1:9]`) or single letters (`[a:f]`)")));
        };
        if b > e {
            return Err(err(format!("host range `[{nrange}]` is empty: begin must be <= end")));
        }
        let count = (e as i128 - b as i128) / step as i128 + 1;
        if count > (MAX_EXPANDED_HOSTS - out.len()) as i128 {
            return Err(err(format!("host range `[{nrange}]` expands to more than {MAX_EXPANDED_HOSTS} hosts")));
        }
        (b..=e).step_by(step as usize).map(|n| zfill(n, width)).collect()
    };

    for item in items {
        let name = format!("{head}{item}{tail}");
        if name.contains('[') {
            expand_into(&name, out)?;
        } else {
            out.push(name);
        }
        if out.len() > MAX_EXPANDED_HOSTS {
            return Err(err(format!("host pattern `{line}` expands to more than {MAX_EXPANDED_HOSTS} hosts")));
        }
    }
    Ok(())
}

/// Python's `string.ascii_letters`, the alphabet alphabetic ranges walk.
const ASCII_LETTERS: [char; 52] = {
    let mut letters = ['a'; 52];
    let mut i = 0;
    while i < 26 {
        letters[i] = (b'a' + i as u8) as char;
        letters[i + 26] = (b'A' + i as u8) as char;
        i += 1;
    }
    letters
};

fn single_letter(s: &str) -> Option<usize> {
    let mut chars = s.chars();
    let c = chars.next()?;
    if chars.next().is_some() {
        return None;
    }
    ASCII_LETTERS.iter().position(|l| *l == c)
}

/// Python's `int(text)` for the cases ranges meet: optional sign, digits,
/// underscores between digits, surrounding whitespace.
fn parse_python_int(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    let n: i64 = digits.replace('_', "").parse().ok()?;
    Some(if neg { -n } else { n })
}

/// Python's `str(n).zfill(width)`.
fn zfill(n: i64, width: usize) -> String {
    if n < 0 {
        format!("-{:0>w$}", -n, w = width.saturating_sub(1))
    } else {
        format!("{n:0>width$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &str) -> Vec<String> {
        expand_host_pattern(p).unwrap().0
    }

    #[test]
    fn numeric_ranges_keep_zero_padding() {
        assert_eq!(names("web[01:03].example.org"), ["web01.example.org", "web02.example.org", "web03.example.org"]);
        assert_eq!(names("n[8:10]"), ["n8", "n9", "n10"]);
        assert_eq!(names("n[:2]"), ["n0", "n1", "n2"]);
    }

    #[test]
    fn steps_and_letters_and_several_ranges() {
        assert_eq!(names("w[01:07:3]"), ["w01", "w04", "w07"]);
        assert_eq!(names("db-[a:c]"), ["db-a", "db-b", "db-c"]);
        assert_eq!(names("[y:B]"), ["y", "z", "A", "B"]);
        assert_eq!(names("r[1:2]-[a:b]"), ["r1-a", "r1-b", "r2-a", "r2-b"]);
    }

    #[test]
    fn ports_split_off_like_ansible() {
        assert_eq!(expand_host_pattern("web:2222").unwrap(), (vec!["web".into()], Some(2222)));
        assert_eq!(expand_host_pattern("[2001:db8::1]:22").unwrap(), (vec!["2001:db8::1".into()], Some(22)));
        assert_eq!(expand_host_pattern("2001:db8::1").unwrap(), (vec!["2001:db8::1".into()], None));
        assert_eq!(expand_host_pattern("192.0.2.[1:2]:22").unwrap().1, Some(22));
        // Not a valid host name (label ends in `_`): Ansible keeps the text whole.
        assert_eq!(expand_host_pattern("foo_:22").unwrap(), (vec!["foo_:22".into()], None));
    }

    #[test]
    fn addresses_are_recognised() {
        assert!(is_ip_address("192.0.2.10"));
        assert!(is_ip_address("2001:db8::10"));
        assert!(is_ip_address("::1"));
        assert!(!is_ip_address("web01.example.org"));
        assert!(!is_ip_address("999.1.1.1"));
    }

    #[test]
    fn bad_ranges_are_errors() {
        for bad in
            ["x[1:", "x[1]", "x[1:2:3:4]", "x[1:]", "x[01:9]", "x[3:1]", "x[c:a]", "x[a:1]", "x[1:3:0]", "x[0:9999999]"]
        {
            assert!(expand_host_pattern(bad).is_err(), "{bad} should be an error");
        }
    }
}
