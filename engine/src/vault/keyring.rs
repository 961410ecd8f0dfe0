//! Vault passwords and where they come from, as Ansible finds them:
//! `--vault-password-file`, `--vault-id [LABEL@]SOURCE`, `--ask-vault-pass`
//! and `ANSIBLE_VAULT_PASSWORD_FILE`. A source is a file (its text,
//! whitespace stripped), an executable (its stdout, line ends stripped) or
//! `prompt` (asked on the terminal without echo).

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

use super::format::{self, Envelope, FormatError};

/// The label of a password given without one.
pub const DEFAULT_LABEL: &str = "default";

/// Where one vault password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultId {
    pub label: String,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file holding the password, or an executable printing it.
    File(PathBuf),
    /// Asked on the terminal.
    Prompt,
}

impl VaultId {
    /// `LABEL@SOURCE` or `SOURCE`, as `--vault-id` takes it.
    pub fn parse(spec: &str) -> VaultId {
        let (label, source) = match spec.split_once('@') {
            Some((label, source)) if !label.is_empty() => (label, source),
            _ => (DEFAULT_LABEL, spec),
        };
        VaultId { label: label.to_string(), source: Source::parse(source) }
    }

    pub fn file(path: impl Into<PathBuf>) -> VaultId {
        VaultId { label: DEFAULT_LABEL.to_string(), source: Source::File(path.into()) }
    }

    pub fn prompt() -> VaultId {
        VaultId { label: DEFAULT_LABEL.to_string(), source: Source::Prompt }
    }
}

impl Source {
    fn parse(source: &str) -> Source {
        if source == "prompt" {
            Source::Prompt
        } else {
            Source::File(PathBuf::from(source))
        }
    }
}

/// Why a password could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("cannot read vault password file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("vault password script {path} failed: {why}")]
    Script { path: PathBuf, why: String },
    #[error("vault password from {0} is empty")]
    Empty(String),
    #[error("cannot ask for the vault password: {0}")]
    Prompt(std::io::Error),
}

/// The passwords of a run, each with its label.
#[derive(Default)]
pub struct Keyring {
    passwords: Vec<(String, Zeroizing<Vec<u8>>)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let labels: Vec<&str> = self.passwords.iter().map(|(l, _)| l.as_str()).collect();
        f.debug_struct("Keyring").field("labels", &labels).finish()
    }
}

/// Why a vaulted text could not be opened with the keyring.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("no vault password was given")]
    NoPassword,
    #[error("no vault password given opens it (tried {0})")]
    NoneOpens(String),
    #[error("{0}")]
    Format(FormatError),
}

impl Keyring {
    /// Read every source now, prompting where asked, in order.
    pub fn load(ids: &[VaultId]) -> Result<Keyring, PasswordError> {
        let mut passwords = Vec::new();
        for id in ids {
            let password = match &id.source {
                Source::File(path) => read_password_source(path, &id.label)?,
                Source::Prompt if id.label == DEFAULT_LABEL => ask("Vault password: ")?,
                Source::Prompt => ask(&format!("Vault password ({}): ", id.label))?,
            };
            passwords.push((id.label.clone(), password));
        }
        Ok(Keyring { passwords })
    }

    /// One password under `label` (for tests and `push vault`).
    pub fn with_password(label: &str, password: &[u8]) -> Keyring {
        Keyring { passwords: vec![(label.to_string(), Zeroizing::new(password.to_vec()))] }
    }

    pub fn is_empty(&self) -> bool {
        self.passwords.is_empty()
    }

    /// The password to encrypt with: the one labelled `label`, else the first.
    pub fn encrypting(&self, label: Option<&str>) -> Option<(&str, &[u8])> {
        let found = match label {
            Some(label) => self.passwords.iter().find(|(l, _)| l == label),
            None => self.passwords.first(),
        };
        found.map(|(l, p)| (l.as_str(), p.as_slice()))
    }

    /// Open a vault: the password of its label first, then every other, as
    /// Ansible tries them.
    pub fn open(&self, text: &str) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        let envelope = format::parse_envelope(text).map_err(OpenError::Format)?;
        if self.passwords.is_empty() {
            return Err(OpenError::NoPassword);
        }
        for (_, password) in self.in_trying_order(&envelope) {
            match envelope.decrypt(password) {
                Err(FormatError::WrongPassword) => continue,
                other => return other.map_err(OpenError::Format),
            }
        }
        let labels: Vec<&str> = self.passwords.iter().map(|(l, _)| l.as_str()).collect();
        Err(OpenError::NoneOpens(labels.join(", ")))
    }

    fn in_trying_order<'a>(&'a self, envelope: &Envelope) -> impl Iterator<Item = &'a (String, Zeroizing<Vec<u8>>)> {
        let label = envelope.label.clone();
        let matches = move |l: &String| Some(l.as_str()) == label.as_deref();
        let (first, rest): (Vec<_>, Vec<_>) = self.passwords.iter().partition(|(l, _)| matches(l));
        first.into_iter().chain(rest)
    }
}

/// A password file's text, or an executable's stdout.
fn read_password_source(path: &Path, label: &str) -> Result<Zeroizing<Vec<u8>>, PasswordError> {
    let meta = std::fs::metadata(path).map_err(|source| PasswordError::Read { path: path.into(), source })?;
    let password = if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
        run_password_script(path, label)?
    } else {
        let text =
            Zeroizing::new(std::fs::read(path).map_err(|source| PasswordError::Read { path: path.into(), source })?);
        Zeroizing::new(text.trim_ascii().to_vec())
    };
    if password.is_empty() {
        return Err(PasswordError::Empty(path.display().to_string()));
    }
    Ok(password)
}

/// Run a password script; its stdout (line ends stripped) is the password.
/// Its stderr goes to ours, so it can prompt. A "client" script
/// (`NAME-client`, with or without an extension) is told which label it
/// is asked for, as Ansible tells it.
fn run_password_script(path: &Path, label: &str) -> Result<Zeroizing<Vec<u8>>, PasswordError> {
    let script_error = |why: String| PasswordError::Script { path: path.into(), why };
    let mut command = Command::new(path);
    if path.file_stem().is_some_and(|stem| stem.to_string_lossy().ends_with("-client")) {
        command.args(["--vault-id", label]);
    }
    let output =
        command.stdin(Stdio::inherit()).stderr(Stdio::inherit()).output().map_err(|e| script_error(e.to_string()))?;
    let stdout = Zeroizing::new(output.stdout);
    if !output.status.success() {
        return Err(script_error(output.status.to_string()));
    }
    let end = stdout.iter().rposition(|b| !b"\r\n".contains(b)).map_or(0, |i| i + 1);
    let start = stdout[..end].iter().position(|b| !b"\r\n".contains(b)).unwrap_or(end);
    Ok(Zeroizing::new(stdout[start..end].to_vec()))
}

/// Ask on the terminal, without echo.
pub fn ask(prompt: &str) -> Result<Zeroizing<Vec<u8>>, PasswordError> {
    let answer = Zeroizing::new(rpassword::prompt_password(prompt).map_err(PasswordError::Prompt)?);
    let password = Zeroizing::new(answer.trim().as_bytes().to_vec());
    if password.is_empty() {
        return Err(PasswordError::Empty("the prompt".into()));
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_ids_parse_as_ansible_reads_them() {
        assert_eq!(
            VaultId::parse("prod@/s/pw"),
            VaultId { label: "prod".into(), source: Source::File("/s/pw".into()) }
        );
        assert_eq!(VaultId::parse("dev@prompt"), VaultId { label: "dev".into(), source: Source::Prompt });
        assert_eq!(VaultId::parse("pw.txt"), VaultId::file("pw.txt"));
    }

    #[test]
    fn files_are_stripped_and_scripts_are_run() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "  hunter2 \n").unwrap();
        let script = dir.path().join("pw.sh");
        std::fs::write(&script, "#!/bin/sh\necho ' from-script'\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
        let failing = dir.path().join("fail.sh");
        std::fs::write(&failing, "#!/bin/sh\nexit 3\n").unwrap();
        std::fs::set_permissions(&failing, std::fs::Permissions::from_mode(0o700)).unwrap();
        let client = dir.path().join("keyring-client.sh");
        std::fs::write(&client, "#!/bin/sh\necho \"$*\"\n").unwrap();
        std::fs::set_permissions(&client, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(read_password_source(&file, "default").unwrap().as_slice(), b"hunter2");
        assert_eq!(read_password_source(&script, "prod").unwrap().as_slice(), b" from-script");
        assert_eq!(read_password_source(&client, "prod").unwrap().as_slice(), b"--vault-id prod");
        assert!(matches!(read_password_source(&failing, "default"), Err(PasswordError::Script { .. })));
        std::fs::write(&file, "\n").unwrap();
        assert!(matches!(read_password_source(&file, "default"), Err(PasswordError::Empty(_))));
    }

    #[test]
    fn the_labelled_password_is_tried_first_then_the_others() {
        let text = format::encrypt(b"v", b"right", Some("prod"));
        let ring = Keyring {
            passwords: vec![
                ("dev".into(), Zeroizing::new(b"wrong".to_vec())),
                ("other".into(), Zeroizing::new(b"right".to_vec())),
            ],
        };
        assert_eq!(ring.open(&text).unwrap().as_slice(), b"v");
        assert_eq!(Keyring::default().open(&text), Err(OpenError::NoPassword));
        let wrong = Keyring::with_password("prod", b"nope");
        assert_eq!(wrong.open(&text), Err(OpenError::NoneOpens("prod".into())));
    }
}
