//! Host patterns, for a play's `hosts:` and for `--limit`, evaluated the way
//! Ansible's `InventoryManager.get_hosts` does (ansible/inventory/manager.py):
//!
//! * `web01`, `webservers`: a host, or all hosts of a group and its children
//! * `all` or `*`: every host; `web*`, `*.example.org`: globs over group and
//!   host names; `~web\d+`: a regular expression (matched at the start)
//! * `a:b` or `a,b`: union; `a:&b`: intersection; `a:!b`: exclusion. Unions
//!   are applied first, then intersections, then exclusions, whatever the
//!   order written; a pattern of only `&`/`!` parts starts from `all`
//! * `web[0]`, `web[-1]`, `web[1:3]`, `web[2:]`: a slice of what a pattern matched
//! * `@file` (in `--limit` only): one pattern per line
//!
//! Results are in inventory order and without duplicates. A part that
//! matches nothing is not an error; it yields a warning for the caller.

use std::collections::HashSet;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use crate::diagnostic::{suggest, Diagnostic};

use super::data::{InventoryData, ALL};
use super::host_range::parse_address;

/// Hosts matched by a pattern, and what the caller should warn about.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    pub hosts: Vec<String>,
    /// Ansible-style warnings, e.g. "Could not match supplied host pattern,
    /// ignoring: webservers".
    pub warnings: Vec<String>,
    /// Pattern parts that name no host or group, each with the closest
    /// name the inventory has, if one is close.
    pub unmatched: Vec<(String, Option<String>)>,
}

/// Names Ansible treats as an implicit `localhost` when the inventory lacks them.
pub const LOCALHOST_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

static SUBSCRIPT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$").unwrap());

static PATTERN_PART: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?:[^\s:\[\]]|\[[^\]]*\])+").unwrap());

/// Ansible's `split_host_pattern`: `a,b` splits on commas only; otherwise
/// on `:` and whitespace, except inside `[...]` and except when the whole
/// text is one address (so `2001:db8::1` stays whole).
pub fn split_pattern(pattern: &str) -> Vec<String> {
    let parts: Vec<&str> = if pattern.contains(',') {
        pattern.split(',').collect()
    } else if parse_address(pattern, true).is_some() {
        vec![pattern]
    } else {
        PATTERN_PART.find_iter(pattern).map(|m| m.as_str()).collect()
    };
    parts.into_iter().map(str::trim).filter(|p| !p.is_empty()).map(String::from).collect()
}

pub struct Matcher<'a> {
    data: &'a InventoryData,
    warnings: Vec<String>,
    unmatched: Vec<(String, Option<String>)>,
}

impl<'a> Matcher<'a> {
    pub fn new(data: &'a InventoryData) -> Self {
        Matcher { data, warnings: Vec::new(), unmatched: Vec::new() }
    }

    /// Hosts for `pattern`, narrowed to those `limit` selects (if given).
    pub fn select(mut self, pattern: &str, limit: Option<&str>) -> Result<Selection, Diagnostic> {
        let mut hosts = self.evaluate(&split_pattern(pattern))?;
        if let Some(limit) = limit {
            let mut parts = Vec::new();
            for part in split_pattern(limit) {
                match part.strip_prefix('@') {
                    Some(file) => parts.extend(read_limit_file(Path::new(file))?),
                    None => parts.push(part),
                }
            }
            let allowed: HashSet<String> = self.evaluate(&parts)?.into_iter().collect();
            hosts.retain(|h| allowed.contains(h));
        }
        let mut seen = HashSet::new();
        hosts.retain(|h| seen.insert(h.clone()));
        Ok(Selection { hosts, warnings: self.warnings, unmatched: self.unmatched })
    }

    /// Ansible's `_evaluate_patterns`.
    fn evaluate(&mut self, parts: &[String]) -> Result<Vec<String>, Diagnostic> {
        let mut regular: Vec<&str> = Vec::new();
        let mut intersect: Vec<&str> = Vec::new();
        let mut exclude: Vec<&str> = Vec::new();
        for p in parts.iter().filter(|p| !p.is_empty()) {
            match p.as_bytes()[0] {
                b'!' => exclude.push(p),
                b'&' => intersect.push(p),
                _ => regular.push(p),
            }
        }
        if regular.is_empty() {
            regular.push(ALL);
        }
        let mut hosts: Vec<String> = Vec::new();
        for p in regular.into_iter().chain(intersect).chain(exclude) {
            if self.data.hosts.contains_key(p) {
                hosts.push(p.to_string());
                continue;
            }
            let matched = self.match_one(p)?;
            match p.as_bytes()[0] {
                b'!' => {
                    let set: HashSet<&String> = matched.iter().collect();
                    hosts.retain(|h| !set.contains(h));
                }
                b'&' => {
                    let set: HashSet<&String> = matched.iter().collect();
                    hosts.retain(|h| set.contains(h));
                }
                _ => {
                    let existing: HashSet<String> = hosts.iter().cloned().collect();
                    hosts.extend(matched.into_iter().filter(|h| !existing.contains(h)));
                }
            }
        }
        Ok(hosts)
    }

    /// One pattern part without its `&`/`!`, with an optional `[subscript]`.
    fn match_one(&mut self, part: &str) -> Result<Vec<String>, Diagnostic> {
        let part = part.strip_prefix(['&', '!']).unwrap_or(part);
        let (expr, subscript) = self.split_subscript(part);
        let hosts = self.enumerate(&expr)?;
        apply_subscript(hosts, subscript).ok_or_else(|| {
            Diagnostic::new(format!("no hosts matched the subscripted pattern `{part}`")).with_hint(
                "subscripts count from 0 over the hosts the pattern matches, e.g. `web[0]`, `web[-1]`, `web[0:2]`",
            )
        })
    }

    fn split_subscript(&mut self, part: &str) -> (String, Option<(i64, Option<i64>)>) {
        if part.starts_with('~') {
            return (part.to_string(), None);
        }
        let Some(c) = SUBSCRIPT.captures(part) else { return (part.to_string(), None) };
        let expr = c[1].to_string();
        if let Some(idx) = c.get(2) {
            return (expr, idx.as_str().parse().ok().map(|i| (i, None)));
        }
        if &c[4] == "-" {
            self.warnings.push("Use [x:y] inclusive subscripts instead of [x-y] which has been removed".into());
        }
        let start = c[3].parse().unwrap_or(0);
        let end = if c[5].is_empty() { -1 } else { c[5].parse().unwrap_or(0) };
        (expr, Some((start, Some(end))))
    }

    /// Ansible's `_enumerate_matches`: group names first (all their hosts),
    /// then host names when no group matched or the pattern is a glob/regex.
    fn enumerate(&mut self, pattern: &str) -> Result<Vec<String>, Diagnostic> {
        let re = compile(pattern)?;
        let mut results: Vec<String> = Vec::new();
        let mut matched_group = false;
        for name in self.data.groups.keys().filter(|g| re.is_match(g)) {
            matched_group = true;
            results.extend(self.data.group_hosts(name).into_iter().map(String::from));
        }
        let wildcard = pattern.starts_with('~') || pattern.contains(['.', '?', '*', '[']);
        if !matched_group || wildcard {
            results.extend(self.data.hosts.keys().filter(|h| re.is_match(h)).cloned());
        }
        if results.is_empty() && LOCALHOST_NAMES.contains(&pattern) {
            results.push(pattern.to_string());
        }
        if results.is_empty() && !matched_group && pattern != ALL {
            let names = self.data.groups.keys().chain(self.data.hosts.keys()).map(String::as_str);
            let mut msg = format!("Could not match supplied host pattern, ignoring: {pattern}");
            let suggestion = suggest(pattern, names);
            if let Some(s) = suggestion {
                msg.push_str(&format!(" (did you mean `{s}`?)"));
            }
            self.warnings.push(msg);
            self.unmatched.push((pattern.to_string(), suggestion.map(String::from)));
        }
        Ok(results)
    }
}

/// Python slicing as Ansible's `_apply_subscript` does it; `None` for an
/// index out of range.
fn apply_subscript(hosts: Vec<String>, subscript: Option<(i64, Option<i64>)>) -> Option<Vec<String>> {
    let Some((start, end)) = subscript else { return Some(hosts) };
    if hosts.is_empty() {
        return Some(hosts);
    }
    let len = hosts.len() as i64;
    match end {
        // `[x:0]` falls through to a single index in Ansible (0 is falsy).
        Some(end) if end != 0 => {
            let end = if end == -1 { len - 1 } else { end };
            let (s, e) = (start.clamp(0, len), (end + 1).clamp(0, len));
            Some(if s < e { hosts[s as usize..e as usize].to_vec() } else { vec![] })
        }
        _ => {
            let i = if start < 0 { len + start } else { start };
            (0..len).contains(&i).then(|| vec![hosts[i as usize].clone()])
        }
    }
}

/// A regex for `~regex` parts (matched at the start, like Python's
/// `re.match`) or a glob translated like Python's `fnmatch.translate`.
fn compile(pattern: &str) -> Result<Regex, Diagnostic> {
    let source = match pattern.strip_prefix('~') {
        Some(re) => format!(r"^(?:{})", re.replace(r"\Z", r"\z")),
        None => format!(r"^(?s:{})\z", glob_to_regex(pattern)),
    };
    Regex::new(&source).map_err(|e| {
        Diagnostic::new(format!("invalid host pattern `{pattern}`"))
            .with_hint(format!("{}", e).lines().last().unwrap_or("check the regular expression").to_string())
    })
}

/// `*` any text, `?` one character, `[abc]`/`[a-z]`/`[!abc]` a set; an
/// unclosed `[` is literal. Case-sensitive.
fn glob_to_regex(glob: &str) -> String {
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => {
                while chars.get(i) == Some(&'*') {
                    i += 1;
                }
                out.push_str(".*");
            }
            '?' => out.push('.'),
            '[' => {
                let mut j = i;
                if chars.get(j) == Some(&'!') {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push_str(r"\[");
                    continue;
                }
                let set: Vec<char> = chars[i..j].to_vec();
                i = j + 1;
                out.push_str(&glob_set(&set));
            }
            _ => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out
}

fn glob_set(set: &[char]) -> String {
    let (negate, body) = match set.first() {
        Some('!') => (true, &set[1..]),
        _ => (false, set),
    };
    if body.is_empty() {
        return if negate { ".".into() } else { "[^\\s\\S]".into() };
    }
    let mut class = String::from(if negate { "[^" } else { "[" });
    for (k, c) in body.iter().enumerate() {
        let is_range_dash = *c == '-' && k > 0 && k + 1 < body.len();
        match c {
            '-' if is_range_dash => class.push('-'),
            '\\' | '[' | ']' | '&' | '~' | '^' | '-' => {
                class.push('\\');
                class.push(*c);
            }
            _ => class.push(*c),
        }
    }
    class.push(']');
    class
}

fn read_limit_file(path: &Path) -> Result<Vec<String>, Diagnostic> {
    if path.is_dir() {
        return Err(Diagnostic::new(format!("limit file {} is a directory", path.display()))
            .with_hint("`--limit @FILE` reads one host pattern per line from a file"));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Diagnostic::new(format!("cannot read limit file {}: {e}", path.display())))?;
    Ok(text.split('\n').map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::SourceFile;

    /// The inventory used for the pattern experiments against real Ansible
    /// (see the expected lists below, taken from `ansible PATTERN --list-hosts`).
    fn inventory() -> InventoryData {
        let text = "solo\n[web]\nweb1\nweb2\nweb10\n[db]\ndb1\nweb2\n[prod:children]\nweb\ndb\n[staging]\nstg-web1\n[ungroupedx]\n";
        let mut d = InventoryData::default();
        super::super::ini_format::parse(&mut d, &SourceFile::new("p.ini", text)).unwrap();
        d.reconcile().unwrap();
        d
    }

    fn sel(p: &str) -> Vec<String> {
        Matcher::new(&inventory()).select(p, None).unwrap().hosts
    }

    #[test]
    fn matches_real_ansible_list_hosts() {
        let cases: &[(&str, &[&str])] = &[
            ("all", &["solo", "stg-web1", "web1", "web2", "web10", "db1"]),
            ("*", &["solo", "stg-web1", "web1", "web2", "web10", "db1"]),
            ("web", &["web1", "web2", "web10"]),
            ("web*", &["web1", "web2", "web10"]),
            ("web:db", &["web1", "web2", "web10", "db1"]),
            ("web,db", &["web1", "web2", "web10", "db1"]),
            ("db:web", &["db1", "web2", "web1", "web10"]),
            ("prod:&db", &["web2", "db1"]),
            ("prod:!db", &["web1", "web10"]),
            ("!db", &["solo", "stg-web1", "web1", "web10"]),
            ("&db", &["web2", "db1"]),
            (r"~web\d$", &["web1", "web2"]),
            (r"~web\d+", &["web1", "web2", "web10"]),
            ("web[0]", &["web1"]),
            ("web[-1]", &["web10"]),
            ("web[1:]", &["web2", "web10"]),
            ("web[0:1]", &["web1", "web2"]),
            ("nothing", &[]),
            ("nothing:web", &["web1", "web2", "web10"]),
            ("ungrouped", &["solo"]),
            ("w?b1", &["web1"]),
            ("all:!web1", &["solo", "stg-web1", "web2", "web10", "db1"]),
            ("web1:web1", &["web1"]),
            ("prod[1]", &["web2"]),
        ];
        for (pattern, expected) in cases {
            assert_eq!(sel(pattern), *expected, "pattern {pattern}");
        }
    }

    #[test]
    fn limit_narrows_and_reads_files() {
        let d = inventory();
        let s = Matcher::new(&d).select("all", Some("web*:!web2")).unwrap();
        assert_eq!(s.hosts, ["web1", "web10"]);
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("limit.txt");
        std::fs::write(&file, "web1\n\ndb1\n").unwrap();
        let s = Matcher::new(&d).select("all", Some(&format!("@{}", file.display()))).unwrap();
        assert_eq!(s.hosts, ["web1", "db1"]);
    }

    #[test]
    fn unmatched_parts_warn_with_a_suggestion() {
        let s = Matcher::new(&inventory()).select("webb", None).unwrap();
        assert!(s.hosts.is_empty());
        assert_eq!(s.warnings, ["Could not match supplied host pattern, ignoring: webb (did you mean `web`?)"]);
    }

    #[test]
    fn implicit_localhost_and_errors() {
        assert_eq!(sel("localhost"), ["localhost"]);
        let d = inventory();
        assert!(Matcher::new(&d).select("web[7]", None).is_err());
        assert!(Matcher::new(&d).select("~web(", None).is_err());
    }

    #[test]
    fn subscript_out_of_range_is_an_error() {
        let e = Matcher::new(&inventory()).select("web[7]", None).unwrap_err();
        insta::assert_snapshot!(e.to_string(), @r"
        error: no hosts matched the subscripted pattern `web[7]`
          = hint: subscripts count from 0 over the hosts the pattern matches, e.g. `web[0]`, `web[-1]`, `web[0:2]`
        ");
    }

    #[test]
    fn splitting_keeps_addresses_and_brackets_whole() {
        assert_eq!(split_pattern("2001:db8::1"), ["2001:db8::1"]);
        assert_eq!(split_pattern("web[0:1]:db"), ["web[0:1]", "db"]);
        assert_eq!(split_pattern("a, b ,,c"), ["a", "b", "c"]);
    }

    #[test]
    fn globs_translate_like_fnmatch() {
        let m = |g: &str, s: &str| Regex::new(&format!(r"^(?s:{})\z", glob_to_regex(g))).unwrap().is_match(s);
        assert!(m("web[0-9]", "web5"));
        assert!(!m("web[!0-9]", "web5"));
        assert!(m("a[", "a["));
        assert!(m("*.example.org", "web.example.org"));
        assert!(!m("*.example.org", "example.org"));
    }
}
