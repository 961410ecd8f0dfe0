//! The Ansible filters and tests playbooks use most, on top of minijinja's
//! built-ins (default, join, lower, upper, int, list, length, ...).

use base64::Engine as _;
use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};

mod lookups;
mod yaml_dump;

pub fn register(env: &mut Environment<'static>) {
    env.add_function("lookup", lookups::lookup);
    env.add_function("query", lookups::query);
    env.add_function("q", lookups::query);
    env.add_filter("d", minijinja::filters::default);
    env.add_filter("bool", to_bool);
    env.add_filter("to_json", to_json);
    env.add_filter("to_nice_json", to_nice_json);
    env.add_filter("b64encode", |s: String| base64::engine::general_purpose::STANDARD.encode(s));
    env.add_filter("b64decode", b64decode);
    env.add_filter("basename", |s: String| s.rsplit('/').next().unwrap_or_default().to_string());
    env.add_filter("dirname", dirname);
    env.add_filter("quote", |s: String| push_modules::shell::quote(&s));
    env.add_filter("mandatory", mandatory);
    env.add_filter("comment", comment);
    env.add_filter("items2dict", items2dict);
    env.add_filter("flatten", flatten);
    env.add_filter("regex_findall", regex_findall);
    env.add_filter("from_json", from_json);
    env.add_filter("from_yaml", from_yaml);
    env.add_filter("to_yaml", |v: Value, kwargs: Kwargs| yaml_dump::dump(&v, 2, kwargs, true));
    env.add_filter("to_nice_yaml", |v: Value, kwargs: Kwargs| yaml_dump::dump(&v, 4, kwargs, false));
    env.add_filter("hash", |v: String, kind: Option<String>| hash(&v, kind.as_deref().unwrap_or("sha1")));
    env.add_filter("checksum", |v: String| hash(&v, "sha1"));
    env.add_filter("sha1", |v: String| hash(&v, "sha1"));
    env.add_filter("md5", |v: String| hash(&v, "md5"));
    env.add_filter("password_hash", password_hash);
    env.add_filter("union", |a: Vec<Value>, b: Vec<Value>| unique_values(a.into_iter().chain(b)));
    env.add_filter("intersect", |a: Vec<Value>, b: Vec<Value>| unique_values(a.into_iter().filter(|x| b.contains(x))));
    env.add_filter("difference", |a: Vec<Value>, b: Vec<Value>| {
        unique_values(a.into_iter().filter(|x| !b.contains(x)))
    });
    env.add_filter("symmetric_difference", |a: Vec<Value>, b: Vec<Value>| {
        let both: Vec<Value> = a.iter().filter(|x| b.contains(x)).cloned().collect();
        unique_values(a.into_iter().chain(b).filter(|x| !both.contains(x)))
    });
    env.add_filter("product", product);
    env.add_filter("zip_longest", zip_longest);
    env.add_filter("expanduser", expanduser);
    env.add_filter("splitext", splitext);
    env.add_filter("type_debug", type_debug);
    env.add_filter("version_compare", version_compare);
    env.add_test("version", version_compare);
    env.add_test("version_compare", version_compare);
    env.add_filter("ternary", |v: Value, yes: Value, no: Value| if v.is_true() { yes } else { no });
    env.add_filter("combine", combine);
    env.add_filter("dict2items", dict2items);
    env.add_filter("regex_replace", regex_replace);
    env.add_filter("regex_search", regex_search);
    env.add_test("succeeded", |v: Value| !field_true(&v, "failed"));
    env.add_test("success", |v: Value| !field_true(&v, "failed"));
    env.add_test("failed", |v: Value| field_true(&v, "failed"));
    env.add_test("changed", |v: Value| field_true(&v, "changed"));
    env.add_test("skipped", |v: Value| field_true(&v, "skipped"));
}

fn field_true(v: &Value, name: &str) -> bool {
    v.get_attr(name).is_ok_and(|f| f.is_true())
}

fn to_bool(v: Value) -> bool {
    match v.as_str() {
        Some(s) => matches!(s.to_ascii_lowercase().as_str(), "yes" | "true" | "on" | "1" | "y"),
        None => v.is_true(),
    }
}

/// Python's `json.dumps(v)`: `, ` and `: ` separators, non-ASCII escaped.
fn to_json(v: Value, kwargs: Kwargs) -> Result<String, Error> {
    let indent = kwargs.get::<Option<usize>>("indent")?;
    let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    Ok(python_json(&plain_json(&v)?, indent, sort_keys))
}

/// Ansible's `to_nice_json`: indent 4, keys sorted, `,`/`: ` separators.
fn to_nice_json(v: Value, kwargs: Kwargs) -> Result<String, Error> {
    let indent = kwargs.get::<Option<usize>>("indent")?.unwrap_or(4);
    let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(true);
    kwargs.assert_all_used()?;
    Ok(python_json(&plain_json(&v)?, Some(indent), sort_keys))
}

fn plain_json(v: &Value) -> Result<serde_json::Value, Error> {
    serde_json::to_value(v).map_err(|e| invalid(e.to_string()))
}

/// JSON text as Python's json.dumps writes it (ensure_ascii on).
pub(crate) fn python_json(v: &serde_json::Value, indent: Option<usize>, sort_keys: bool) -> String {
    fn string(s: &str, out: &mut String) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                    let mut buf = [0u16; 2];
                    for unit in c.encode_utf16(&mut buf) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
    fn walk(v: &serde_json::Value, indent: Option<usize>, sort_keys: bool, depth: usize, out: &mut String) {
        let (item_sep, open_pad, close_pad) = match indent {
            Some(n) => {
                (",".to_string(), format!("\n{}", " ".repeat(n * (depth + 1))), format!("\n{}", " ".repeat(n * depth)))
            }
            None => (", ".to_string(), String::new(), String::new()),
        };
        match v {
            serde_json::Value::Array(items) if !items.is_empty() => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    out.push_str(if i == 0 { "" } else { &item_sep });
                    out.push_str(&open_pad);
                    walk(item, indent, sort_keys, depth + 1, out);
                }
                out.push_str(&close_pad);
                out.push(']');
            }
            serde_json::Value::Object(map) if !map.is_empty() => {
                let mut entries: Vec<_> = map.iter().collect();
                if sort_keys {
                    entries.sort_by(|a, b| a.0.cmp(b.0));
                }
                out.push('{');
                for (i, (k, item)) in entries.into_iter().enumerate() {
                    out.push_str(if i == 0 { "" } else { &item_sep });
                    out.push_str(&open_pad);
                    string(k, out);
                    out.push_str(": ");
                    walk(item, indent, sort_keys, depth + 1, out);
                }
                out.push_str(&close_pad);
                out.push('}');
            }
            serde_json::Value::String(s) => string(s, out),
            serde_json::Value::Number(n) if n.is_f64() => {
                let f = n.as_f64().unwrap_or_default();
                out.push_str(&if f.fract() == 0.0 && f.abs() < 1e16 { format!("{f:.1}") } else { format!("{f}") });
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    walk(v, indent, sort_keys, 0, &mut out);
    out
}

fn b64decode(s: String) -> Result<String, Error> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("b64decode: {e}")))?;
    String::from_utf8(bytes).map_err(|_| Error::new(ErrorKind::InvalidOperation, "b64decode: not UTF-8 text"))
}

fn dirname(s: String) -> String {
    match s.rfind('/') {
        Some(0) => "/".to_string(),
        Some(i) => s[..i].to_string(),
        None => String::new(),
    }
}

/// Ansible's `mandatory`: an undefined value is an error, with `msg` if given.
fn mandatory(v: Value, msg: Option<String>) -> Result<Value, Error> {
    if v.is_undefined() {
        Err(match msg {
            // The user's words, as Ansible shows them.
            Some(msg) => invalid(msg),
            // Reported as undefined, naming the variable.
            None => Error::new(ErrorKind::UndefinedError, "Mandatory variable not defined."),
        })
    } else {
        Ok(v)
    }
}

fn invalid(message: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message)
}

/// Ansible's `comment` filter (lib/ansible/plugins/filter/core.py), option
/// for option: a style, then `decoration`, `beginning`, `prefix`,
/// `prefix_count`, `postfix`, `postfix_count`, `end` and `newline`.
fn comment(text: String, style: Option<String>, kwargs: Kwargs) -> Result<String, Error> {
    let style = style.unwrap_or_else(|| "plain".into());
    let (beginning, decoration, end) = match style.as_str() {
        "plain" => ("", "# ", ""),
        "erlang" => ("", "% ", ""),
        "c" => ("", "// ", ""),
        "cblock" => ("/*", " * ", " */"),
        "xml" => ("<!--", " - ", "-->"),
        other => {
            return Err(invalid(format!("Invalid style '{other}'. Available styles: plain, erlang, c, cblock, xml")))
        }
    };
    let text_arg = |name: &str, default: &str| -> Result<String, Error> {
        Ok(kwargs.get::<Option<String>>(name)?.unwrap_or_else(|| default.to_string()))
    };
    let count_arg = |name: &str| -> Result<usize, Error> { Ok(kwargs.get::<Option<usize>>(name)?.unwrap_or(1)) };
    let prepostfix = text_arg("decoration", decoration)?;
    let newline = text_arg("newline", "\n")?;
    let beginning = text_arg("beginning", beginning)?;
    let prefix = text_arg("prefix", prepostfix.trim_end())?;
    let prefix_count = count_arg("prefix_count")?;
    // With a style's own decoration, each line gets it; `decoration=` sets it too.
    let decoration = text_arg("decoration", decoration)?;
    let postfix = text_arg("postfix", prepostfix.trim_end())?;
    let postfix_count = count_arg("postfix_count")?;
    let end = text_arg("end", end)?;
    kwargs.assert_all_used()?;

    let mut out = String::new();
    if !beginning.is_empty() {
        out.push_str(&format!("{beginning}{newline}"));
    }
    if !prefix.is_empty() {
        let one = if prefix != newline { format!("{prefix}{newline}") } else { newline.clone() };
        out.push_str(&one.repeat(prefix_count));
    }
    let body = format!("{decoration}{}", text.replace(&newline, &format!("{newline}{decoration}")));
    out.push_str(&body.replace(&format!("{decoration}{newline}"), &format!("{}{newline}", decoration.trim_end())));
    for _ in 0..postfix_count {
        out.push_str(&format!("{newline}{postfix}"));
    }
    if !end.is_empty() {
        out.push_str(&format!("{newline}{end}"));
    }
    Ok(out)
}

/// Ansible's `items2dict`: `[{key: k, value: v}]` to `{k: v}`.
fn items2dict(items: Vec<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let key_name: String = kwargs.get::<Option<String>>("key_name")?.unwrap_or_else(|| "key".into());
    let value_name: String = kwargs.get::<Option<String>>("value_name")?.unwrap_or_else(|| "value".into());
    kwargs.assert_all_used()?;
    let mut map = indexmap::IndexMap::<Value, Value>::new();
    for item in items {
        let field = |name: &str| {
            item.get_attr(name).ok().filter(|v| !v.is_undefined()).ok_or_else(|| {
                invalid(format!("items2dict requires each dictionary in the list to contain the keys '{key_name}' and '{value_name}'"))
            })
        };
        map.insert(field(&key_name)?, field(&value_name)?);
    }
    Ok(Value::from_object(map))
}

/// Ansible's `flatten`: all levels, or `levels`; nulls (and the texts
/// `None` and `null`) dropped unless `skip_nulls=false`.
fn flatten(list: Vec<Value>, levels: Option<usize>, kwargs: Kwargs) -> Result<Value, Error> {
    let levels = match levels {
        Some(l) => Some(l),
        None => kwargs.get::<Option<usize>>("levels")?,
    };
    let skip_nulls = kwargs.get::<Option<bool>>("skip_nulls")?.unwrap_or(true);
    kwargs.assert_all_used()?;
    fn walk(list: Vec<Value>, levels: Option<usize>, skip_nulls: bool, out: &mut Vec<Value>) -> Result<(), Error> {
        for item in list {
            if skip_nulls && (item.is_none() || matches!(item.as_str(), Some("None" | "null"))) {
                continue;
            }
            if item.kind() == ValueKind::Seq && levels != Some(0) {
                let inner: Vec<Value> = item.try_iter()?.collect();
                walk(inner, levels.map(|l| l - 1), skip_nulls, out)?;
            } else {
                out.push(item);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(list, levels, skip_nulls, &mut out)?;
    Ok(Value::from(out))
}

fn regex_with_flags(pattern: &str, kwargs: &Kwargs) -> Result<regex::Regex, Error> {
    let ignorecase = kwargs.get::<Option<bool>>("ignorecase")?.unwrap_or(false);
    let multiline = kwargs.get::<Option<bool>>("multiline")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    regex::RegexBuilder::new(pattern)
        .case_insensitive(ignorecase)
        .multi_line(multiline)
        .build()
        .map_err(|e| invalid(format!("bad regex: {e}")))
}

/// Python's `re.findall`: whole matches, the group with one group, a list of
/// groups with more.
fn regex_findall(s: String, pattern: String, kwargs: Kwargs) -> Result<Value, Error> {
    let re = regex_with_flags(&pattern, &kwargs)?;
    let group_text = |c: &regex::Captures, i: usize| Value::from(c.get(i).map_or("", |m| m.as_str()));
    let found = re
        .captures_iter(&s)
        .map(|c| match re.captures_len() {
            1 => group_text(&c, 0),
            2 => group_text(&c, 1),
            n => Value::from((1..n).map(|i| group_text(&c, i)).collect::<Vec<_>>()),
        })
        .collect::<Vec<_>>();
    Ok(Value::from(found))
}

fn from_json(s: String) -> Result<Value, Error> {
    let v: serde_json::Value = serde_json::from_str(&s).map_err(|e| invalid(format!("from_json: {e}")))?;
    Ok(Value::from(minijinja::value::Serde(v)))
}

/// YAML read as Ansible reads it (YAML 1.1 types).
fn from_yaml(s: String) -> Result<Value, Error> {
    let file = crate::diagnostic::SourceFile::new("<from_yaml>", s);
    let node = crate::yaml::parse(&file).map_err(|d| invalid(format!("from_yaml: {}", d.message)))?;
    Ok(Value::from(minijinja::value::Serde(node.to_json())))
}

/// Python's hashlib hex digests, for `hash`, `checksum`, `sha1` and `md5`.
fn hash(data: &str, kind: &str) -> Result<String, Error> {
    use sha2::Digest;
    let bytes = data.as_bytes();
    Ok(match kind {
        "sha1" => hex::encode(sha1::Sha1::digest(bytes)),
        "md5" => hex::encode(md5::Md5::digest(bytes)),
        "sha224" => hex::encode(sha2::Sha224::digest(bytes)),
        "sha256" => hex::encode(sha2::Sha256::digest(bytes)),
        "sha384" => hex::encode(sha2::Sha384::digest(bytes)),
        "sha512" => hex::encode(sha2::Sha512::digest(bytes)),
        other => return Err(invalid(format!("unsupported hash type {other}"))),
    })
}

/// Ansible's `password_hash` for `sha512` and `sha256` (crypt(3) `$6$` and
/// `$5$`), with passlib's defaults as Ansible sets them: 656000 rounds for
/// sha512, 535000 for sha256, a random 16-character salt unless given.
fn password_hash(
    password: String,
    kind: Option<String>,
    salt: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let kind = kind.unwrap_or_else(|| "sha512".into());
    let salt = match salt {
        Some(s) => Some(s),
        None => kwargs.get::<Option<String>>("salt")?,
    };
    let rounds = kwargs.get::<Option<usize>>("rounds")?;
    kwargs.assert_all_used()?;
    const SALT_CHARS: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let salt = salt.unwrap_or_else(|| {
        use rand::Rng;
        let mut rng = rand::rng();
        (0..16).map(|_| SALT_CHARS[rng.random_range(0..SALT_CHARS.len())] as char).collect()
    });
    if salt.is_empty() || !salt.bytes().all(|b| SALT_CHARS.contains(&b)) {
        return Err(invalid("password_hash: the salt may only hold the characters ./0-9A-Za-z"));
    }
    let salt: String = salt.chars().take(16).collect();
    let bad_rounds = |_| invalid("password_hash: rounds must be between 1000 and 999999999");
    let (id, rounds, hashed) = match kind.as_str() {
        "sha512" | "sha512_crypt" => {
            let rounds = rounds.unwrap_or(656_000);
            let params = sha_crypt::Sha512Params::new(rounds).map_err(bad_rounds)?;
            let hashed = sha_crypt::sha512_crypt_b64(password.as_bytes(), salt.as_bytes(), &params)
                .map_err(|e| invalid(format!("password_hash: {e:?}")))?;
            ("6", rounds, hashed)
        }
        "sha256" | "sha256_crypt" => {
            let rounds = rounds.unwrap_or(535_000);
            let params = sha_crypt::Sha256Params::new(rounds).map_err(bad_rounds)?;
            let hashed = sha_crypt::sha256_crypt_b64(password.as_bytes(), salt.as_bytes(), &params)
                .map_err(|e| invalid(format!("password_hash: {e:?}")))?;
            ("5", rounds, hashed)
        }
        other => return Err(invalid(format!("password_hash: push supports sha512 and sha256, not {other}"))),
    };
    // passlib leaves out the default of crypt(3), 5000 rounds.
    let rounds = if rounds == 5000 { String::new() } else { format!("rounds={rounds}$") };
    Ok(format!("${id}${rounds}{salt}${hashed}"))
}

/// The values in order, each once.
fn unique_values(values: impl IntoIterator<Item = Value>) -> Value {
    let mut out: Vec<Value> = Vec::new();
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Value::from(out)
}

/// Python's `itertools.product`, as lists.
fn product(first: Vec<Value>, others: minijinja::value::Rest<Vec<Value>>) -> Value {
    let mut rows: Vec<Vec<Value>> = first.into_iter().map(|v| vec![v]).collect();
    for list in others.iter() {
        rows = rows
            .into_iter()
            .flat_map(|row| {
                list.iter().map(move |v| {
                    let mut r = row.clone();
                    r.push(v.clone());
                    r
                })
            })
            .collect();
    }
    Value::from(rows.into_iter().map(Value::from).collect::<Vec<_>>())
}

/// Python's `itertools.zip_longest`, with `fillvalue` (null by default).
fn zip_longest(first: Vec<Value>, others: minijinja::value::Rest<Vec<Value>>, kwargs: Kwargs) -> Result<Value, Error> {
    let fill = kwargs.get::<Option<Value>>("fillvalue")?.unwrap_or(Value::from(()));
    kwargs.assert_all_used()?;
    let lists: Vec<&Vec<Value>> = std::iter::once(&first).chain(others.iter()).collect();
    let len = lists.iter().map(|l| l.len()).max().unwrap_or(0);
    let rows = (0..len)
        .map(|i| Value::from(lists.iter().map(|l| l.get(i).cloned().unwrap_or(fill.clone())).collect::<Vec<_>>()))
        .collect::<Vec<_>>();
    Ok(Value::from(rows))
}

/// Python's `os.path.expanduser` on the controller.
fn expanduser(path: String) -> String {
    let home = || std::env::var("HOME").ok().filter(|h| !h.is_empty());
    match path.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => match home() {
            Some(h) => format!("{}{rest}", if h == "/" && !rest.is_empty() { "" } else { h.as_str() }),
            None => path,
        },
        _ => path,
    }
}

/// Python's `os.path.splitext`: `[root, ext]`; a leading dot is no extension.
fn splitext(path: String) -> Value {
    let name_start = path.rfind('/').map_or(0, |i| i + 1);
    let name = &path[name_start..];
    let stem_start = name.len() - name.trim_start_matches('.').len();
    match name[stem_start..].rfind('.') {
        Some(i) => {
            let dot = name_start + stem_start + i;
            Value::from(vec![Value::from(&path[..dot]), Value::from(&path[dot..])])
        }
        None => Value::from(vec![Value::from(path.as_str()), Value::from("")]),
    }
}

/// The Python type name Ansible shows for a value.
fn type_debug(v: Value) -> &'static str {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if v.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::Map => "dict",
        _ => "object",
    }
}

/// One part of a version as Python's LooseVersion splits it.
#[derive(Debug, PartialEq)]
enum VersionPart {
    Num(u128),
    Text(String),
}

/// LooseVersion's parts: runs of digits (numbers), runs of lowercase
/// letters and whatever lies between them (text); dots dropped.
fn loose_version(v: &str) -> Vec<VersionPart> {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| regex::Regex::new(r"\d+|[a-z]+|\.").expect("valid"));
    let mut pieces = Vec::new();
    let mut last = 0;
    for m in re.find_iter(v) {
        pieces.push(&v[last..m.start()]);
        pieces.push(m.as_str());
        last = m.end();
    }
    pieces.push(&v[last..]);
    pieces
        .into_iter()
        .filter(|p| !p.is_empty() && *p != ".")
        .map(|p| match p.parse::<u128>() {
            Ok(n) if p.bytes().all(|b| b.is_ascii_digit()) => VersionPart::Num(n),
            _ => VersionPart::Text(p.to_string()),
        })
        .collect()
}

/// Python's list comparison of LooseVersion parts: a number against text
/// is an error there, and here.
fn compare_loose(a: &[VersionPart], b: &[VersionPart]) -> Result<std::cmp::Ordering, Error> {
    for (x, y) in a.iter().zip(b) {
        let ord = match (x, y) {
            (VersionPart::Num(x), VersionPart::Num(y)) => x.cmp(y),
            (VersionPart::Text(x), VersionPart::Text(y)) => x.cmp(y),
            _ => {
                return Err(invalid(
                    "Version comparison failed: '<' not supported between instances of 'int' and 'str'",
                ))
            }
        };
        if ord.is_ne() {
            return Ok(ord);
        }
    }
    Ok(a.len().cmp(&b.len()))
}

/// Ansible's `version` test (`x is version('2.0', '>=')`), loose versions.
fn version_compare(value: Value, version: Value, operator: Option<String>, kwargs: Kwargs) -> Result<bool, Error> {
    let strict = kwargs.get::<Option<bool>>("strict")?.unwrap_or(false);
    let version_type = kwargs.get::<Option<String>>("version_type")?;
    kwargs.assert_all_used()?;
    if strict || version_type.as_deref().is_some_and(|t| t != "loose") {
        return Err(invalid("push compares versions as `loose` only (Ansible's default)"));
    }
    let text = |v: &Value| {
        if v.kind() == ValueKind::String {
            v.as_str().unwrap_or_default().to_string()
        } else {
            v.to_string()
        }
    };
    let (value, version) = (text(&value), text(&version));
    if value.is_empty() {
        return Err(invalid("Input version value cannot be empty"));
    }
    if version.is_empty() {
        return Err(invalid("Version parameter to compare against cannot be empty"));
    }
    let ord = compare_loose(&loose_version(&value), &loose_version(&version))?;
    use std::cmp::Ordering::*;
    Ok(match operator.as_deref().unwrap_or("eq") {
        "==" | "=" | "eq" => ord == Equal,
        "<" | "lt" => ord == Less,
        "<=" | "le" => ord != Greater,
        ">" | "gt" => ord == Greater,
        ">=" | "ge" => ord != Less,
        "!=" | "<>" | "ne" => ord != Equal,
        other => {
            return Err(invalid(format!(
                "Invalid operator type ({other}). Must be one of '==', '=', 'eq', '<', 'lt', '<=', 'le', '>', 'gt', '>=', 'ge', '!=', '<>', 'ne'"
            )))
        }
    })
}

/// Ansible's `combine`: later mappings win, shallow unless recursive=true;
/// lists replaced unless `list_merge` says keep, append, prepend,
/// append_rp or prepend_rp. `[a, b] | combine` combines the list's mappings.
fn combine(base: Value, others: minijinja::value::Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let recursive: bool = kwargs.get::<Option<bool>>("recursive")?.unwrap_or(false);
    let list_merge: String = kwargs.get::<Option<String>>("list_merge")?.unwrap_or_else(|| "replace".into());
    kwargs.assert_all_used()?;
    if !["replace", "keep", "append", "prepend", "append_rp", "prepend_rp"].contains(&list_merge.as_str()) {
        return Err(invalid(format!("'{list_merge}' is not a valid list_merge value")));
    }
    // Ansible flattens the terms one level.
    let mut terms = Vec::new();
    for term in std::iter::once(&base).chain(others.iter()) {
        match plain_json(term)? {
            serde_json::Value::Array(items) => terms.extend(items),
            other => terms.push(other),
        }
    }
    let mut terms = terms.into_iter();
    let Some(mut out) = terms.next() else {
        return Ok(Value::from(minijinja::value::Serde(serde_json::json!({}))));
    };
    for other in terms {
        if !other.is_object() || !out.is_object() {
            return Err(invalid("combine expects mappings"));
        }
        merge(&mut out, other, recursive, &list_merge);
    }
    Ok(Value::from(minijinja::value::Serde(out)))
}

/// Ansible's merge_hash (lib/ansible/utils/vars.py).
fn merge(into: &mut serde_json::Value, from: serde_json::Value, recursive: bool, list_merge: &str) {
    use serde_json::Value as J;
    let (J::Object(a), J::Object(b)) = (&mut *into, from) else {
        return;
    };
    for (k, v) in b {
        match (a.get_mut(&k), v) {
            (Some(existing @ J::Object(_)), v @ J::Object(_)) if recursive => merge(existing, v, true, list_merge),
            (Some(J::Array(x)), J::Array(y)) if list_merge != "replace" => match list_merge {
                "keep" => {}
                "append" => x.extend(y),
                "prepend" => {
                    let old = std::mem::replace(x, y);
                    x.extend(old);
                }
                "append_rp" => {
                    x.retain(|e| !y.contains(e));
                    x.extend(y);
                }
                _ => {
                    let old = std::mem::replace(x, y);
                    let rest: Vec<_> = old.into_iter().filter(|e| !x.contains(e)).collect();
                    x.extend(rest);
                }
            },
            (_, v) => {
                a.insert(k, v);
            }
        }
    }
}

fn dict2items(v: Value) -> Result<Value, Error> {
    if v.kind() != ValueKind::Map {
        return Err(Error::new(ErrorKind::InvalidOperation, "dict2items expects a mapping"));
    }
    let items = v
        .try_iter()?
        .map(|k| {
            let value = v.get_item(&k).unwrap_or_default();
            Value::from(std::collections::BTreeMap::from([("key", k), ("value", value)]))
        })
        .collect::<Vec<_>>();
    Ok(Value::from(items))
}

fn compile(pattern: &str) -> Result<regex::Regex, Error> {
    regex::Regex::new(pattern).map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("bad regex: {e}")))
}

/// Ansible keeps `'\1'` in a template as a backslash and a digit; our
/// template engine reads it as the octal escape for the byte 1. Give those
/// bytes back their meaning of a regex group.
fn backrefs(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{1}'..='\u{7}' => format!("\\{}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

/// Python's `\1` backreferences become the regex crate's `${1}`.
fn regex_replace(s: String, pattern: String, replacement: Option<String>) -> Result<String, Error> {
    let re = compile(&pattern)?;
    let replacement = backrefs(&replacement.unwrap_or_default());
    let converted = regex::Regex::new(r"\\(\d+)").expect("valid").replace_all(&replacement, "$${$1}");
    Ok(re.replace_all(&s, converted.as_ref()).into_owned())
}

/// Ansible's `regex_search`: the match, or with `'\\1'`/`'\\g<name>'`
/// arguments the list of those groups; none when nothing matches.
fn regex_search(
    s: String,
    pattern: String,
    groups: minijinja::value::Rest<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let re = regex_with_flags(&pattern, &kwargs)?;
    let Some(caps) = re.captures(&s) else {
        return Ok(Value::from(()));
    };
    if groups.is_empty() {
        return Ok(Value::from(caps.get(0).map_or("", |m| m.as_str())));
    }
    let mut out = Vec::new();
    for g in groups.iter() {
        let g = backrefs(g);
        let m = if let Some(name) = g.strip_prefix("\\g<").and_then(|n| n.strip_suffix('>')) {
            caps.name(name)
        } else if let Some(n) = g.strip_prefix('\\').and_then(|n| n.parse::<usize>().ok()) {
            caps.get(n)
        } else {
            return Err(invalid("Unknown argument"));
        };
        out.push(m.map_or(Value::from(()), |m| Value::from(m.as_str())));
    }
    Ok(Value::from(out))
}

#[cfg(test)]
mod tests {
    use crate::template::{Mode, Scope};
    use serde_json::json;
    use std::sync::Arc;

    fn render(t: &str, vars: serde_json::Value) -> serde_json::Value {
        Scope::new(vec![Arc::new(vars.as_object().unwrap().clone())], Default::default())
            .render_str(t, Mode::Plain)
            .unwrap()
    }

    #[test]
    fn ansible_filters() {
        assert_eq!(render("{{ 'yes' | bool }}", json!({})), json!(true));
        assert_eq!(render("{{ '/a/b.txt' | basename }}-{{ '/a/b.txt' | dirname }}", json!({})), json!("b.txt-/a"));
        assert_eq!(
            render("{{ a | combine(b) }}", json!({"a": {"x": 1, "y": 1}, "b": {"y": 2}})),
            json!({"x": 1, "y": 2})
        );
        assert_eq!(render("{{ 'abc' | regex_replace('(b)', 'X\\\\1') }}", json!({})), json!("aXbc"));
        assert_eq!(render("{{ r is changed }}", json!({"r": {"changed": true}})), json!(true));
        assert_eq!(render("{{ 'x' | b64encode | b64decode }}", json!({})), json!("x"));
        assert_eq!(
            render("{{ d | dict2items }}", json!({"d": {"b": 1, "a": 2}})),
            json!([{"key": "b", "value": 1}, {"key": "a", "value": 2}])
        );
    }
}

/// Templates with what ansible-core 2.19 renders for them, recorded by
/// rendering each with Ansible's Templar and [`ANSIBLE_TABLE_VARS`]
/// (`live_ansible_filters_agree` renders them again). password_hash: passlib
/// was not installed, so crypt(3) with the salt and rounds Ansible hands
/// passlib gave those.
#[cfg(test)]
const ANSIBLE_TABLE: &[(&str, &str)] = &[
    (r##"{{ text | comment }}"##, r##""#\n# hello\n# world\n#""##),
    (r##"{{ 'a' | comment('c') }}"##, r##""//\n// a\n//""##),
    (r##"{{ blank | comment('cblock') }}"##, r##""/*\n *\n * a\n *\n * b\n *\n */""##),
    (r##"{{ 'x' | comment('xml') }}"##, r##""<!--\n -\n - x\n -\n-->""##),
    (r##"{{ 'x' | comment(decoration='; ', prefix_count=2) }}"##, r##"";\n;\n; x\n;""##),
    (r##"{{ 'x' | comment('erlang', postfix='%%%') }}"##, r##""%\n% x\n%%%""##),
    (r##"{{ '1.10.2' is version('1.9', '>=') }}"##, r##"true"##),
    (r##"{{ '2.0' is version('2.0.0', '<') }}"##, r##"true"##),
    (r##"{{ '1.2.3' is version_compare('1.2.3', '==') }}"##, r##"true"##),
    (r##"{{ '12.1' is version('12', 'gt') }}"##, r##"true"##),
    (r##"{{ '1.0a' is version('1.0b', 'lt') }}"##, r##"true"##),
    (r##"{{ [{'key': 'a', 'value': 1}, {'key': 'b', 'value': 2}] | items2dict }}"##, r##"{"a": 1, "b": 2}"##),
    (r##"{{ [{'n': 'a', 'v': 1}] | items2dict(key_name='n', value_name='v') }}"##, r##"{"a": 1}"##),
    (r##"{{ [1, [2, [3, [4]]], None, 'null', 'x'] | flatten }}"##, r##"[1, 2, 3, 4, "x"]"##),
    (r##"{{ [1, [2, [3, [4]]]] | flatten(levels=1) }}"##, r##"[1, 2, [3, [4]]]"##),
    (r##"{{ [1, [2, [3]]] | flatten(1) }}"##, r##"[1, 2, [3]]"##),
    (r##"{{ 'server1 and server22' | regex_search('server[0-9]+') }}"##, r##""server1""##),
    (r##"{{ 'server1 and server22' | regex_search('(server)([0-9]+)', '\2', '\1') }}"##, r##"["1", "server"]"##),
    (r##"{{ 'abc' | regex_search('x') }}"##, r##"null"##),
    (r##"{{ 'a1 b22 c333' | regex_findall('[a-z]([0-9]+)') }}"##, r##"["1", "22", "333"]"##),
    (r##"{{ 'a1 b22' | regex_findall('([a-z])([0-9]+)') }}"##, r##"[["a", "1"], ["b", "22"]]"##),
    (r##"{{ 'A1 a2' | regex_findall('a[0-9]', ignorecase=true) }}"##, r##"["A1", "a2"]"##),
    (
        r##"{{ {'b': [1, {'x': None}], 'a': 'é', 'c': [], 'd': {}} | to_nice_json }}"##,
        r##""{\n    \"a\": \"\\u00e9\",\n    \"b\": [\n        1,\n        {\n            \"x\": null\n        }\n    ],\n    \"c\": [],\n    \"d\": {}\n}""##,
    ),
    (
        r##"{{ {'b': 1, 'a': 'é', 'l': [1, 2.5]} | to_json }}"##,
        r##""{\"b\": 1, \"a\": \"\\u00e9\", \"l\": [1, 2.5]}""##,
    ),
    (r##"{{ '{"a": [1, 2]}' | from_json }}"##, r##"{"a": [1, 2]}"##),
    (r##"{{ yamltext | from_yaml }}"##, r##"{"a": true, "b": "y", "c": 420, "d": 90}"##),
    (
        r##"{{ {'b': 1, 'a': [1, 'x', {'k': 'v', 'j': [1]}], 'c': {'d': 'e f', 'e': multi, 'f': '', 'g': 'yes', 'h': None, 'i': True, 'j': 1.5, 'k': '0644', 'l': ': x', 'm': '#x', 'n': 'a #b', 'o': 'x: y', 'p': [], 'q': {}, 'r': "it's", 's': '-x', 't': 'é'}} | to_nice_yaml }}"##,
        r##""a:\n- 1\n- x\n-   j:\n    - 1\n    k: v\nb: 1\nc:\n    d: e f\n    e: 'multi\n\n        line'\n    f: ''\n    g: 'yes'\n    h: null\n    i: true\n    j: 1.5\n    k: '0644'\n    l: ': x'\n    m: '#x'\n    n: 'a #b'\n    o: 'x: y'\n    p: []\n    q: {}\n    r: it's\n    s: -x\n    t: é\n""##,
    ),
    (
        r##"{{ {'b': 1, 'a': [1, 'x', {'k': 'v', 'j': [1]}], 'c': {'d': 'e f', 'e': multi, 'u': [[1, 2], [3]]}} | to_yaml }}"##,
        r##""a:\n- 1\n- x\n- j: [1]\n  k: v\nb: 1\nc:\n  d: e f\n  e: 'multi\n\n    line'\n  u:\n  - [1, 2]\n  - [3]\n""##,
    ),
    (r##"{{ {'a': 1} | to_yaml }}"##, r##""{a: 1}\n""##),
    (r##"{{ [[1, 2], {'a': [3]}] | to_nice_yaml(indent=2) }}"##, r##""- - 1\n  - 2\n- a:\n  - 3\n""##),
    (r##"{{ 'abc' | to_yaml }}"##, r##""abc\n""##),
    (
        r##"{{ {'d': '2001-12-14', 'n': '~', 'x': 'a, b', 'y': 'null'} | to_yaml }}"##,
        r##""{d: '2001-12-14', n: '~', x: 'a, b', y: 'null'}\n""##,
    ),
    (r##"{{ 'hello' | hash }}"##, r##""aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d""##),
    (r##"{{ 'hello' | hash('md5') }}"##, r##""5d41402abc4b2a76b9719d911017c592""##),
    (r##"{{ 'hello' | hash('sha256') }}"##, r##""2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824""##),
    (r##"{{ 'hello' | checksum }}"##, r##""aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d""##),
    (
        r##"{{ 'pw' | password_hash('sha512', 'saltsalt') }}"##,
        r##""$6$rounds=656000$saltsalt$JEklmo18QDRJICgly.JaHaLrPMO2enY/zqc7n8wa/M1Pm/3o//x2DcpQ/Y2KkrrP./b2XHUSe09sxTJiD5VWx1""##,
    ),
    (
        r##"{{ 'pw' | password_hash('sha512', 'saltsalt', rounds=5000) }}"##,
        r##""$6$saltsalt$pauPrmdmG4BTE9h2HPmywiw152IFch6BJCEsaY6D.PLTfpV8sqvXwWdyfsgVgozkYH9B80bAip/08R2BPH2xk/""##,
    ),
    (
        r##"{{ 'pw' | password_hash('sha256', 'abcdefgh') }}"##,
        r##""$5$rounds=535000$abcdefgh$gXVMabTJLp.FFtjG2fDVVm80m2CrbGZnQV5UPxU9vW5""##,
    ),
    (r##"{{ [1, 2, 2, 3] | unique }}"##, r##"[1, 2, 3]"##),
    (r##"{{ [1, 2, 3] | union([3, 4]) }}"##, r##"[1, 2, 3, 4]"##),
    (r##"{{ [1, 2, 3] | intersect([3, 2, 5]) }}"##, r##"[2, 3]"##),
    (r##"{{ [1, 2, 3] | difference([2]) }}"##, r##"[1, 3]"##),
    (r##"{{ [1, 2, 3] | symmetric_difference([3, 4]) }}"##, r##"[1, 2, 4]"##),
    (r##"{{ [1, 2] | zip(['a', 'b', 'c']) | list }}"##, r##"[[1, "a"], [2, "b"]]"##),
    (r##"{{ [1, 2] | zip_longest(['a', 'b', 'c'], fillvalue='-') | list }}"##, r##"[[1, "a"], [2, "b"], ["-", "c"]]"##),
    (r##"{{ [1, 2] | product(['a', 'b']) | list }}"##, r##"[[1, "a"], [1, "b"], [2, "a"], [2, "b"]]"##),
    (r##"{{ '/etc/nginx/nginx.conf' | dirname }}"##, r##""/etc/nginx""##),
    (r##"{{ 'nginx.conf' | dirname }}"##, r##""""##),
    (r##"{{ '/etc/' | dirname }}"##, r##""/etc""##),
    (r##"{{ '/a/b.tar.gz' | splitext }}"##, r##"["/a/b.tar", ".gz"]"##),
    (r##"{{ '/a/.bashrc' | splitext }}"##, r##"["/a/.bashrc", ""]"##),
    (r##"{{ 'x.d/file' | splitext }}"##, r##"["x.d/file", ""]"##),
    (
        r##"{{ [1, 'a', {}, [], None, True, 1.5] | map('type_debug') | list }}"##,
        r##"["int", "str", "dict", "list", "NoneType", "bool", "float"]"##,
    ),
    (
        r##"{{ {'a': {'x': 1, 'l': [1]}, 'b': 1} | combine({'a': {'y': 2, 'l': [2]} }, recursive=true) }}"##,
        r##"{"a": {"x": 1, "l": [2], "y": 2}, "b": 1}"##,
    ),
    (r##"{{ {'a': {'x': 1}} | combine({'a': {'y': 2} }) }}"##, r##"{"a": {"y": 2}}"##),
    (r##"{{ {'l': [1, 2]} | combine({'l': [2, 3]}, list_merge='append_rp') }}"##, r##"{"l": [1, 2, 3]}"##),
    (r##"{{ {'l': [1, 2]} | combine({'l': [2, 3]}, list_merge='prepend') }}"##, r##"{"l": [2, 3, 1, 2]}"##),
    (r##"{{ [{'a': 1}, {'b': 2}] | combine }}"##, r##"{"a": 1, "b": 2}"##),
    (r##"{{ {'a': 1} | dict2items }}"##, r##"[{"key": "a", "value": 1}]"##),
    (
        r##"{{ {'a': long, 'b': {'c': long}, 'l': [long], 'q': long ~ "'s", 'm': long ~ nl ~ long} | to_nice_yaml }}"##,
        r##""a: word word word word word word word word word word word word word word word word\n    word word word word word word word word word end\nb:\n    c: word word word word word word word word word word word word word word word\n        word word word word word word word word word word end\nl:\n- word word word word word word word word word word word word word word word word\n    word word word word word word word word word end\nm: 'word word word word word word word word word word word word word word word word\n    word word word word word word word word word end\n\n    word word word word word word word word word word word word word word word word\n    word word word word word word word word word end'\nq: word word word word word word word word word word word word word word word word\n    word word word word word word word word word end's\n""##,
    ),
    (
        r##"{{ {'a': long, 'l': [long, {'x': 1}]} | to_yaml }}"##,
        r##""a: word word word word word word word word word word word word word word word word\n  word word word word word word word word word end\nl:\n- word word word word word word word word word word word word word word word word\n  word word word word word word word word word end\n- {x: 1}\n""##,
    ),
    (
        r##"{{ long | to_nice_yaml }}"##,
        r##""word word word word word word word word word word word word word word word word word\n    word word word word word word word word end\n""##,
    ),
];

#[cfg(test)]
const ANSIBLE_TABLE_VARS: &str = r#"{"nl": "\n", "long": "word word word word word word word word word word word word word word word word word word word word word word word word word end", "text": "hello\nworld", "blank": "a\n\nb", "multi": "multi\nline", "yamltext": "a: yes\nb: y\nc: 0644\nd: 1:30\n"}"#;

#[cfg(test)]
mod table_tests {
    use super::{ANSIBLE_TABLE, ANSIBLE_TABLE_VARS};
    use crate::template::{Mode, Scope};
    use std::sync::Arc;

    fn render(template: &str) -> Result<serde_json::Value, String> {
        let vars: serde_json::Value = serde_json::from_str(ANSIBLE_TABLE_VARS).unwrap();
        Scope::new(vec![Arc::new(vars.as_object().unwrap().clone())], Default::default())
            .render_str(template, Mode::Plain)
            .map_err(|e| e.message)
    }

    #[test]
    fn filters_render_as_ansible_renders_them() {
        let mut wrong = Vec::new();
        for (template, want) in ANSIBLE_TABLE {
            let want: serde_json::Value = serde_json::from_str(want).unwrap();
            match render(template) {
                Ok(got) if got == want => {}
                other => wrong.push(format!("{template}\n  want {want}\n  got  {other:?}")),
            }
        }
        assert!(wrong.is_empty(), "{} of {} differ:\n{}", wrong.len(), ANSIBLE_TABLE.len(), wrong.join("\n"));
    }

    #[test]
    fn random_salts_differ_and_errors_name_the_problem() {
        let a = render("{{ 'pw' | password_hash('sha512') }}").unwrap();
        let b = render("{{ 'pw' | password_hash('sha512') }}").unwrap();
        assert_ne!(a, b);
        assert!(a.as_str().unwrap().starts_with("$6$rounds=656000$"), "{a}");
        assert!(render("{{ '1.0' is version('1.a', '<') }}").unwrap_err().contains("Version comparison failed"));
        let e = render("{{ nothing | mandatory }}").unwrap_err();
        assert!(e.contains("nothing"), "{e}");
        let e = render("{{ nothing | mandatory('set nothing') }}").unwrap_err();
        assert!(e.contains("set nothing"), "{e}");
        assert!(render("{{ 'x' | comment('basic') }}").unwrap_err().contains("Invalid style 'basic'"));
    }

    /// Renders [`ANSIBLE_TABLE`] with the installed ansible-core and compares.
    /// `tests/run` leaves this out when Ansible is missing.
    #[test]
    fn live_ansible_filters_agree() {
        let script = r#"
import json, sys
from ansible.template import Templar, trust_as_template
from ansible.parsing.dataloader import DataLoader
t = Templar(loader=DataLoader(), variables=json.loads(sys.argv[1]))
for line in sys.stdin.read().splitlines():
    try:
        v = t.template(trust_as_template(json.loads(line)))
        print(json.dumps({"ok": v}, default=lambda o: o if isinstance(o, str) else list(o)))
    except Exception as e:
        print(json.dumps({"error": str(e).splitlines()[0]}))
"#;
        // password_hash needs passlib, which ansible-core does not bring.
        let cases: Vec<_> = ANSIBLE_TABLE.iter().filter(|(t, _)| !t.contains("password_hash")).collect();
        let theirs =
            crate::test_python::ansible_json_lines(script, &[ANSIBLE_TABLE_VARS], cases.iter().map(|(t, _)| *t));
        assert_eq!(theirs.len(), cases.len());
        for ((template, recorded), theirs) in cases.iter().zip(theirs) {
            let recorded: serde_json::Value = serde_json::from_str(recorded).unwrap();
            assert_eq!(theirs, serde_json::json!({"ok": recorded}), "Ansible renders {template} otherwise now");
            assert_eq!(render(template), Ok(recorded), "{template}");
        }
    }
}
