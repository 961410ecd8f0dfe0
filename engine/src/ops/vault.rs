//! `push vault`: Ansible Vault files and strings, readable and writable by
//! `ansible-vault` both ways; and the run's vault passwords.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::Error;
use crate::diagnostic::Diagnostic;
use crate::vault::{self, format, Keyring, OpenError, PasswordError, VaultId};

/// Where the passwords of a command come from, in Ansible's order:
/// `--vault-id`s, then `--vault-password-file`s (or
/// `ANSIBLE_VAULT_PASSWORD_FILE`), then `--ask-vault-pass`: the options
/// every command that reads vaults shares, as `ansible-playbook` takes them.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct VaultPasswords {
    /// A file holding the vault password, or an executable printing it
    /// (repeatable; default: $ANSIBLE_VAULT_PASSWORD_FILE).
    #[arg(long = "vault-password-file", alias = "vault-pass-file", value_name = "FILE", global = true)]
    pub password_files: Vec<PathBuf>,
    /// A labelled password: `LABEL@FILE`, `LABEL@prompt`, or `FILE` (repeatable).
    #[arg(long = "vault-id", value_name = "[LABEL@]SOURCE", global = true)]
    pub ids: Vec<String>,
    /// Ask for the vault password on the terminal.
    #[arg(short = 'J', long = "ask-vault-pass", alias = "ask-vault-password", global = true)]
    pub ask: bool,
}

impl VaultPasswords {
    fn sources(&self) -> Vec<VaultId> {
        let mut ids: Vec<VaultId> = self.ids.iter().map(|s| VaultId::parse(s)).collect();
        let files = if self.password_files.is_empty() {
            std::env::var_os("ANSIBLE_VAULT_PASSWORD_FILE")
                .filter(|f| !f.is_empty())
                .map(PathBuf::from)
                .into_iter()
                .collect()
        } else {
            self.password_files.clone()
        };
        ids.extend(files.into_iter().map(VaultId::file));
        if self.ask {
            ids.push(VaultId::prompt());
        }
        ids
    }

    /// The passwords, read (and asked for) now.
    fn keyring(&self) -> Result<Keyring, Error> {
        Keyring::load(&self.sources()).map_err(password_error)
    }
}

fn password_error(e: PasswordError) -> Error {
    Error::Input(
        Diagnostic::new(e.to_string())
            .with_hint("check --vault-password-file, --vault-id or ANSIBLE_VAULT_PASSWORD_FILE"),
    )
}

/// Read the run's vault passwords and open vaults with them from now on.
pub fn unlock(passwords: &VaultPasswords) -> Result<(), Error> {
    vault::install(passwords.keyring()?);
    Ok(())
}

/// One `push vault` action.
#[derive(Debug, Clone)]
pub enum VaultAction {
    /// Encrypt files in place (or into `output`); no file: stdin to stdout.
    Encrypt {
        files: Vec<PathBuf>,
        output: Option<PathBuf>,
    },
    Decrypt {
        files: Vec<PathBuf>,
        output: Option<PathBuf>,
    },
    /// The plaintext of each file, on stdout.
    View {
        files: Vec<PathBuf>,
    },
    /// Decrypt into a private temporary file, run $EDITOR on it, encrypt it back.
    Edit {
        file: PathBuf,
    },
    /// `!vault |` values to paste into YAML, `NAME: ` before each if named.
    EncryptString {
        strings: Vec<String>,
        names: Vec<String>,
    },
    /// Encrypt files again with `new` password.
    Rekey {
        files: Vec<PathBuf>,
        new: VaultPasswords,
    },
}

#[derive(Debug, Clone)]
pub struct VaultCommand {
    pub action: VaultAction,
    pub passwords: VaultPasswords,
    /// `--encrypt-vault-id LABEL`: which password encrypts.
    pub encrypt_vault_id: Option<String>,
}

/// Runs the action; returns what goes to stdout.
pub fn vault(cmd: VaultCommand) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut out = Zeroizing::new(Vec::new());
    match &cmd.action {
        VaultAction::Encrypt { files, output } => {
            let ring = encrypting_keyring(&cmd.passwords)?;
            let seal = |plain: &[u8]| seal(&ring, cmd.encrypt_vault_id.as_deref(), plain);
            transform(files, output.as_deref(), &mut out, |plain, path| {
                // As ansible-vault: a vault in a vault would need two passwords to read.
                if vault::is_vaulted(plain) {
                    return Err(Error::Input(Diagnostic::new(format!("{} is already encrypted", path.display()))));
                }
                Ok(Zeroizing::new(seal(plain)?.into_bytes()))
            })?;
        }
        VaultAction::Decrypt { files, output } => {
            let ring = cmd.passwords.keyring()?;
            transform(files, output.as_deref(), &mut out, |sealed, path| open(&ring, sealed, path))?;
        }
        VaultAction::View { files } => {
            let ring = cmd.passwords.keyring()?;
            for file in files {
                let plain = open(&ring, &read(file)?, file)?;
                out.extend_from_slice(&plain);
            }
        }
        VaultAction::Edit { file } => edit(&cmd.passwords.keyring()?, file)?,
        VaultAction::EncryptString { strings, names } => {
            let ring = encrypting_keyring(&cmd.passwords)?;
            let strings = if strings.is_empty() { vec![read_stdin()?.to_string()] } else { strings.clone() };
            for (i, s) in strings.iter().enumerate() {
                let sealed = seal(&ring, cmd.encrypt_vault_id.as_deref(), s.as_bytes())?;
                out.extend_from_slice(yaml_vault_value(names.get(i).map(String::as_str), &sealed).as_bytes());
            }
        }
        VaultAction::Rekey { files, new } => {
            let ring = cmd.passwords.keyring()?;
            let new_ring = encrypting_keyring(new)?;
            for file in files {
                let plain = open(&ring, &read(file)?, file)?;
                write_private(file, seal(&new_ring, cmd.encrypt_vault_id.as_deref(), &plain)?.as_bytes())?;
            }
        }
    }
    Ok(out)
}

/// Passwords to encrypt with; none given: asked for twice on the terminal.
fn encrypting_keyring(passwords: &VaultPasswords) -> Result<Keyring, Error> {
    if !passwords.sources().is_empty() {
        return passwords.keyring();
    }
    let first = vault::keyring::ask("New vault password: ").map_err(password_error)?;
    let again = vault::keyring::ask("Confirm new vault password: ").map_err(password_error)?;
    if first != again {
        return Err(Error::Input(Diagnostic::new("the two vault passwords differ")));
    }
    Ok(Keyring::with_password(vault::keyring::DEFAULT_LABEL, &first))
}

fn seal(ring: &Keyring, label: Option<&str>, plain: &[u8]) -> Result<String, Error> {
    let (label, password) = ring.encrypting(label).ok_or_else(|| {
        Error::Usage(format!("--encrypt-vault-id {}: no --vault-id has that label", label.unwrap_or("?")))
    })?;
    Ok(format::encrypt(plain, password, Some(label)))
}

fn open(ring: &Keyring, sealed: &[u8], path: &Path) -> Result<Zeroizing<Vec<u8>>, Error> {
    let text = String::from_utf8_lossy(sealed);
    ring.open(&text).map_err(|e| open_error(path, &e))
}

fn open_error(path: &Path, e: &OpenError) -> Error {
    Error::Input(Diagnostic::new(format!("cannot open {}: {e}", path.display())).with_hint(vault::hint(e)))
}

/// Each file (stdin with none) through `f`, written back in place, into
/// `output`, or (`-`, or stdin) onto stdout.
fn transform(
    files: &[PathBuf],
    output: Option<&Path>,
    out: &mut Vec<u8>,
    f: impl Fn(&[u8], &Path) -> Result<Zeroizing<Vec<u8>>, Error> + Copy,
) -> Result<(), Error> {
    if files.len() > 1 && output.is_some() {
        return Err(Error::Usage("--output takes one file only".into()));
    }
    if files.is_empty() {
        let input = read_stdin()?;
        let result = f(input.as_bytes(), Path::new("stdin"))?;
        return emit(output.unwrap_or(Path::new("-")), &result, out);
    }
    for file in files {
        let result = f(&read(file)?, file)?;
        emit(output.unwrap_or(file), &result, out)?;
    }
    Ok(())
}

fn emit(target: &Path, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
    if target == Path::new("-") {
        out.extend_from_slice(bytes);
        Ok(())
    } else {
        write_private(target, bytes)
    }
}

fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>, Error> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| Error::Input(Diagnostic::new(format!("cannot read {}: {e}", path.display()))))
}

fn read_stdin() -> Result<Zeroizing<String>, Error> {
    let mut text = Zeroizing::new(String::new());
    std::io::stdin().read_to_string(&mut text)?;
    Ok(text)
}

/// Replace `path` by a new file of mode 0600 holding `bytes` (renamed into
/// place, so a reader never sees half of it).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// What `ansible-vault encrypt_string` prints: a `!vault |` block.
fn yaml_vault_value(name: Option<&str>, sealed: &str) -> String {
    let mut text = match name {
        Some(name) => format!("{name}: !vault |\n"),
        None => "!vault |\n".to_string(),
    };
    for line in sealed.lines() {
        text.push_str(&format!("          {line}\n"));
    }
    text
}

/// `edit`: the plaintext goes to a private temporary file (0600, in a 0700
/// folder) that is removed afterwards whatever happens; unchanged text is
/// not encrypted again.
fn edit(ring: &Keyring, file: &Path) -> Result<(), Error> {
    let sealed = read(file)?;
    let envelope = format::parse_envelope(&String::from_utf8_lossy(&sealed))
        .map_err(|e| open_error(file, &OpenError::Format(e)))?;
    let plain = open(ring, &sealed, file)?;
    let dir = tempfile::Builder::new().prefix("push-vault-").tempdir()?;
    let name = file.file_name().map_or("vault".into(), |n| n.to_string_lossy().into_owned());
    let scratch = dir.path().join(name);
    write_private(&scratch, &plain)?;
    let editor = std::env::var("EDITOR").ok().filter(|e| !e.is_empty()).unwrap_or_else(|| "vi".into());
    // $EDITOR may carry options (`code -w`), as Ansible allows.
    let mut words = shlex::split(&editor)
        .filter(|w| !w.is_empty())
        .ok_or_else(|| Error::Usage(format!("EDITOR={editor} cannot be split into words")))?;
    let program = words.remove(0);
    let status = std::process::Command::new(&program).args(&words).arg(&scratch).status()?;
    if !status.success() {
        return Err(Error::Usage(format!("{editor} exited with {status}; {} is unchanged", file.display())));
    }
    let edited = Zeroizing::new(std::fs::read(&scratch)?);
    if edited.as_slice() == plain.as_slice() {
        return Ok(());
    }
    let ring_label = envelope.label.as_deref().unwrap_or(vault::keyring::DEFAULT_LABEL);
    let password = ring.encrypting(Some(ring_label)).or_else(|| ring.encrypting(None)).map(|(_, p)| p);
    let password = password.ok_or_else(|| open_error(file, &OpenError::NoPassword))?;
    write_private(file, format::encrypt(&edited, password, envelope.label.as_deref()).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passwords(dir: &Path, password: &str) -> VaultPasswords {
        let file = dir.join(format!("pw-{password}"));
        std::fs::write(&file, password).unwrap();
        VaultPasswords { password_files: vec![file], ..Default::default() }
    }

    fn run(action: VaultAction, passwords: VaultPasswords) -> Result<String, Error> {
        vault(VaultCommand { action, passwords, encrypt_vault_id: None })
            .map(|s| String::from_utf8(s.to_vec()).unwrap())
    }

    #[test]
    fn encrypt_view_rekey_decrypt_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("vars.yml");
        std::fs::write(&file, "a: 1\n").unwrap();
        let one = passwords(dir.path(), "one");
        run(VaultAction::Encrypt { files: vec![file.clone()], output: None }, one.clone()).unwrap();
        assert!(std::fs::read_to_string(&file).unwrap().starts_with("$ANSIBLE_VAULT;1.1;AES256\n"));
        let twice = run(VaultAction::Encrypt { files: vec![file.clone()], output: None }, one.clone());
        assert!(matches!(twice, Err(Error::Input(d)) if d.message.contains("already encrypted")));
        assert_eq!(run(VaultAction::View { files: vec![file.clone()] }, one.clone()).unwrap(), "a: 1\n");
        let two = passwords(dir.path(), "two");
        run(VaultAction::Rekey { files: vec![file.clone()], new: two.clone() }, one.clone()).unwrap();
        assert!(matches!(run(VaultAction::View { files: vec![file.clone()] }, one), Err(Error::Input(_))));
        run(VaultAction::Decrypt { files: vec![file.clone()], output: None }, two).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "a: 1\n");
    }

    #[test]
    fn encrypt_string_prints_a_named_vault_value() {
        let dir = tempfile::tempdir().unwrap();
        let pw = passwords(dir.path(), "pw");
        let action = VaultAction::EncryptString { strings: vec!["s3cret".into()], names: vec!["db_password".into()] };
        let text = run(action, pw).unwrap();
        assert!(text.starts_with("db_password: !vault |\n          $ANSIBLE_VAULT;1.1;AES256\n"), "{text}");
        let sealed: String = text.lines().skip(1).map(|l| format!("{}\n", l.trim())).collect();
        assert_eq!(Keyring::with_password("default", b"pw").open(&sealed).unwrap().as_slice(), b"s3cret");
    }

    #[test]
    fn edit_runs_the_editor_on_a_private_copy_and_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret.yml");
        let pw = passwords(dir.path(), "pw");
        std::fs::write(&file, format::encrypt(b"old\n", b"pw", Some("prod"))).unwrap();
        let seen = dir.path().join("seen");
        let editor = dir.path().join("editor.sh");
        std::fs::write(
            &editor,
            format!("#!/bin/sh\nstat -c %a \"$1\" >{0}\necho \"$1\" >>{0}\necho new >\"$1\"\n", seen.display()),
        )
        .unwrap();
        std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        let ring =
            VaultPasswords { ids: vec![format!("prod@{}", pw.password_files[0].display())], ..Default::default() };
        // EDITOR is read by this test alone.
        std::env::set_var("EDITOR", &editor);
        vault(VaultCommand {
            action: VaultAction::Edit { file: file.clone() },
            passwords: ring,
            encrypt_vault_id: None,
        })
        .unwrap();
        let sealed = std::fs::read_to_string(&file).unwrap();
        assert!(sealed.starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"), "{sealed}");
        assert_eq!(Keyring::with_password("prod", b"pw").open(&sealed).unwrap().as_slice(), b"new\n");
        let seen = std::fs::read_to_string(&seen).unwrap();
        let (mode, scratch) = seen.split_once('\n').unwrap();
        assert_eq!(mode, "600");
        assert!(!Path::new(scratch.trim()).exists(), "the plaintext copy was left at {scratch}");
    }
}
