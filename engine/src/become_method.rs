//! How a step becomes another user: the method (sudo or su), the flags the
//! user gave it (`become_flags`), and the shell words that run a step file
//! that way on the host (`push_sudo` and `push_su` in script_runtime.sh).
//!
//! The become password is never among these words: the runtime hands it to
//! sudo or su on their stdin, and the step's script goes on another
//! descriptor.

use push_modules::shell::quote;

/// A way of becoming another user that push knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// `sudo -u USER`: asks for the login user's password.
    #[default]
    Sudo,
    /// `su USER`: asks for the password of the user it becomes.
    Su,
}

/// Said with a method push does not have.
pub const METHOD_HINT: &str =
    "push becomes other users with sudo or su: write `become_method: sudo` or `become_method: su`, or leave it out (sudo)";

impl Method {
    /// Every method, in the order they are offered.
    pub const ALL: [Method; 2] = [Method::Sudo, Method::Su];

    pub fn parse(name: &str) -> Option<Method> {
        match name {
            "sudo" => Some(Method::Sudo),
            "su" => Some(Method::Su),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Sudo => "sudo",
            Method::Su => "su",
        }
    }

    /// The flags push accepts for this method and what each needs: the ones
    /// that change the user, the shell or the environment a step runs
    /// with. Options that would change how push talks to the method (its
    /// prompt, its command, how it reads the password) are push's own.
    fn flag(self, name: &str) -> Option<Flag> {
        let (plain, valued): (&[&str], &[&str]) = match self {
            Method::Sudo => (
                &[
                    "-H",
                    "--set-home",
                    "-E",
                    "--preserve-env",
                    "-P",
                    "--preserve-groups",
                    "-S",
                    "--stdin",
                    "-n",
                    "--non-interactive",
                ],
                &["-g", "--group"],
            ),
            Method::Su => (
                &["-", "-l", "--login", "-m", "-p", "--preserve-environment"],
                &["-s", "--shell", "-g", "--group", "-G", "--supp-group"],
            ),
        };
        if plain.contains(&name) {
            Some(Flag::Plain)
        } else if valued.contains(&name) {
            Some(Flag::Valued)
        } else if self == Method::Sudo && name.starts_with("--preserve-env=") {
            Some(Flag::Plain)
        } else {
            None
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

enum Flag {
    Plain,
    Valued,
}

/// Why `become_flags` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    #[error("`become_flags` has an unclosed quote")]
    Unclosed,
    #[error("`become_flags` has `{flag}`, which push does not pass to {method}")]
    Unknown { flag: String, method: Method },
    #[error("`become_flags` has `{flag}` without its value")]
    MissingValue { flag: String },
}

impl FlagError {
    /// What to write instead.
    pub fn hint(&self) -> String {
        match self {
            FlagError::Unclosed => "flags are split as a shell splits them: close the quote".into(),
            FlagError::Unknown { method: Method::Sudo, .. } => {
                "for sudo push accepts -H -E --preserve-env[=VARS] -P -g GROUP (and -S -n, which push sets itself)"
                    .into()
            }
            FlagError::Unknown { method: Method::Su, .. } => {
                "for su push accepts - -l -m -p -s SHELL -g GROUP -G GROUP".into()
            }
            FlagError::MissingValue { flag } => format!("write the value after it, e.g. `{flag} VALUE`"),
        }
    }
}

/// `become_flags` as written, split as a shell splits it and checked
/// against what `method` accepts. `--opt=value` stays one word; `-s VALUE`
/// is two.
pub fn parse_flags(method: Method, text: &str) -> Result<Vec<String>, FlagError> {
    let words = shlex::split(text).ok_or(FlagError::Unclosed)?;
    check_flags(method, &words)?;
    Ok(words)
}

/// Are `words` flags `method` accepts?
pub fn check_flags(method: Method, words: &[String]) -> Result<(), FlagError> {
    let mut words = words.iter();
    while let Some(word) = words.next() {
        let (name, inline_value) = match word.split_once('=') {
            Some((name, _)) if name.starts_with("--") && name != "--preserve-env" => (name, true),
            _ => (word.as_str(), false),
        };
        match method.flag(name) {
            Some(Flag::Plain) if !inline_value => {}
            Some(Flag::Valued) if inline_value => {}
            Some(Flag::Valued) => {
                if words.next().is_none_or(|v| v.starts_with('-')) {
                    return Err(FlagError::MissingValue { flag: word.clone() });
                }
            }
            _ if !inline_value && is_short_group(method, word) => {}
            _ => return Err(FlagError::Unknown { flag: word.clone(), method }),
        }
    }
    Ok(())
}

/// `-HE`: several short flags without values in one word.
fn is_short_group(method: Method, word: &str) -> bool {
    let Some(letters) = word.strip_prefix('-') else { return false };
    letters.len() > 1
        && !letters.starts_with('-')
        && letters.chars().all(|c| matches!(method.flag(&format!("-{c}")), Some(Flag::Plain)))
}

/// Whom a step runs as, and how it gets there: resolved for one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BecomeAs {
    pub user: String,
    pub method: Method,
    /// Checked flags ([`check_flags`]).
    pub flags: Vec<String>,
}

impl BecomeAs {
    pub fn root() -> BecomeAs {
        BecomeAs { user: "root".into(), method: Method::Sudo, flags: Vec::new() }
    }

    /// The shell words that run the step file at `file` (shell text, e.g.
    /// `"$PUSH_T/3.sh"`) as this user: a runtime function, the user, the
    /// file, then the flags, each quoted.
    pub fn invocation(&self, file: &str) -> String {
        let function = match self.method {
            Method::Sudo => "push_sudo",
            Method::Su => "push_su",
        };
        let mut words = format!("{function} {} {file}", quote(&self.user));
        for flag in self.passed_flags() {
            words.push(' ');
            words.push_str(&quote(flag));
        }
        words
    }

    /// The flags handed to the method. sudo's `-S` and `-n` are dropped:
    /// push reads the password with `-S` when it has one and uses `-n`
    /// when it has none. su's `-` is `-l`, which su accepts where push
    /// places the flags (`-` only counts right before the user).
    fn passed_flags(&self) -> impl Iterator<Item = &str> {
        self.flags.iter().map(String::as_str).filter_map(move |f| match (self.method, f) {
            (Method::Sudo, "-S" | "--stdin" | "-n" | "--non-interactive") => None,
            (Method::Su, "-") => Some("-l"),
            _ => Some(f),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn become_as(method: Method, user: &str, flags: &str) -> BecomeAs {
        BecomeAs { user: user.into(), method, flags: parse_flags(method, flags).unwrap() }
    }

    #[test]
    fn sudo_invocation_quotes_the_user_and_passes_flags_but_its_own() {
        let b = become_as(Method::Sudo, "web user", "-H -S -n --preserve-env=PATH,HOME -g 'adm'");
        insta::assert_snapshot!(
            b.invocation("\"$PUSH_T/3.sh\""),
            @r#"push_sudo 'web user' "$PUSH_T/3.sh" -H --preserve-env=PATH,HOME -g adm"#
        );
    }

    #[test]
    fn su_invocation_passes_flags_with_their_values() {
        let b = become_as(Method::Su, "postgres", "- -s /bin/bash -G 'my group'");
        insta::assert_snapshot!(
            b.invocation("\"$PUSH_T/0.sh\""),
            @r#"push_su postgres "$PUSH_T/0.sh" -l -s /bin/bash -G 'my group'"#
        );
        let plain = become_as(Method::Su, "root", "");
        assert_eq!(plain.invocation("F"), "push_su root F");
    }

    #[test]
    fn methods_are_sudo_and_su_only() {
        assert_eq!(Method::parse("sudo"), Some(Method::Sudo));
        assert_eq!(Method::parse("su"), Some(Method::Su));
        for other in ["doas", "pbrun", "SU", "runas", ""] {
            assert_eq!(Method::parse(other), None, "{other}");
        }
    }

    #[test]
    fn ansible_usual_sudo_flags_are_accepted() {
        for ok in ["-H -S -n", "-HSn", "-E", "--preserve-env", "--preserve-env=A,B", "-P", "--set-home", "-g adm"] {
            assert!(parse_flags(Method::Sudo, ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn su_flags_are_accepted() {
        for ok in ["-", "-l", "--login", "-m", "-p", "-s /bin/sh", "--shell=/bin/sh", "-g adm -G wheel", "-lm"] {
            assert!(parse_flags(Method::Su, ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn other_flags_are_refused_by_name() {
        let cases: &[(Method, &str, FlagError)] = &[
            (Method::Sudo, "-H -i", FlagError::Unknown { flag: "-i".into(), method: Method::Sudo }),
            (Method::Sudo, "-u bob", FlagError::Unknown { flag: "-u".into(), method: Method::Sudo }),
            (Method::Sudo, "-p 'x'", FlagError::Unknown { flag: "-p".into(), method: Method::Sudo }),
            (Method::Sudo, "-Hi", FlagError::Unknown { flag: "-Hi".into(), method: Method::Sudo }),
            (Method::Sudo, "-l", FlagError::Unknown { flag: "-l".into(), method: Method::Sudo }),
            (Method::Su, "-c id", FlagError::Unknown { flag: "-c".into(), method: Method::Su }),
            (Method::Su, "-H", FlagError::Unknown { flag: "-H".into(), method: Method::Su }),
            (Method::Su, "--login=yes", FlagError::Unknown { flag: "--login=yes".into(), method: Method::Su }),
            (Method::Su, "-s", FlagError::MissingValue { flag: "-s".into() }),
            (Method::Su, "-s -l", FlagError::MissingValue { flag: "-s".into() }),
            (Method::Sudo, "-H 'unclosed", FlagError::Unclosed),
        ];
        for (method, text, expected) in cases {
            assert_eq!(parse_flags(*method, text).as_ref(), Err(expected), "{method} {text}");
        }
    }
}
