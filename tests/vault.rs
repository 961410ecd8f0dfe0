//! `push vault` against the real `ansible-vault` (ansible-core in
//! /opt/ansible, which `.ci/run` installs): what one encrypts the other
//! opens, both ways, files and strings, labels and rekeys. The tests that
//! need ansible-core are named `live_ansible_*` (tests/run skips them when it
//! is absent); the others need nothing.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use push_tests::{push, require_ansible, write};

/// A folder with a plaintext file and two password files.
struct Scene {
    dir: tempfile::TempDir,
}

const PLAIN: &str = "db_password: \"round-trip secret\"\nlist: [1, 2]\n";

impl Scene {
    fn new() -> Scene {
        let dir = tempfile::Builder::new().prefix("push-vault-").tempdir().unwrap();
        write(dir.path().join("pw"), "first password\n");
        write(dir.path().join("pw2"), "second password\n");
        write(dir.path().join("plain.yml"), PLAIN);
        Scene { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn copy_plain(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::copy(self.path("plain.yml"), &path).unwrap();
        path
    }

    fn arg(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

/// Run `program args` with `stdin` fed in; (exit code, stdout, stderr).
fn run_with_stdin(program: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(program)
        .args(args)
        .env("ANSIBLE_NOCOLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (out.status.code().unwrap_or(-1), text(out.stdout), text(out.stderr))
}

fn ansible_vault(bin: &Path, args: &[&str]) -> String {
    let (code, stdout, stderr) = run_with_stdin(&bin.join("ansible-vault"), args, "");
    assert_eq!(code, 0, "ansible-vault {args:?}:\n{stdout}\n{stderr}");
    stdout
}

fn push_vault(args: &[&str]) -> String {
    let out = push(std::iter::once("vault").chain(args.iter().copied()));
    out.assert_code(0);
    out.stdout().to_string()
}

/// The `$ANSIBLE_VAULT` lines of a `!vault |` block, unindented.
fn vault_block_text(yaml: &str) -> String {
    yaml.lines().skip(1).map(|l| format!("{}\n", l.trim())).collect()
}

#[test]
fn live_ansible_files_push_encrypts_ansible_vault_opens() {
    let Some(bin) = require_ansible() else { return };
    let s = Scene::new();
    let plain = s.copy_plain("a.yml");
    push_vault(&["encrypt", "--vault-password-file", &s.arg("pw"), plain.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&plain).unwrap().starts_with("$ANSIBLE_VAULT;1.1;AES256\n"));
    assert_eq!(ansible_vault(&bin, &["view", "--vault-password-file", &s.arg("pw"), plain.to_str().unwrap()]), PLAIN);

    // A labelled password writes format 1.2, which Ansible reads with that id.
    let labelled = s.copy_plain("b.yml");
    let id = format!("prod@{}", s.arg("pw2"));
    push_vault(&["encrypt", "--vault-id", &id, labelled.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&labelled).unwrap().starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"));
    assert_eq!(ansible_vault(&bin, &["view", "--vault-id", &id, labelled.to_str().unwrap()]), PLAIN);

    // Rekeyed by push, opened by Ansible with the new password only.
    push_vault(&[
        "rekey",
        "--vault-password-file",
        &s.arg("pw"),
        "--new-vault-password-file",
        &s.arg("pw2"),
        plain.to_str().unwrap(),
    ]);
    assert_eq!(ansible_vault(&bin, &["view", "--vault-password-file", &s.arg("pw2"), plain.to_str().unwrap()]), PLAIN);

    // A string: the block push prints, unindented, is what ansible-vault decrypts.
    let block = push_vault(&["encrypt_string", "--vault-password-file", &s.arg("pw"), "--name", "token", "s3cr3t"]);
    assert!(block.starts_with("token: !vault |\n          $ANSIBLE_VAULT;1.1;AES256\n"), "{block}");
    let (code, stdout, stderr) = run_with_stdin(
        &bin.join("ansible-vault"),
        &["decrypt", "--vault-password-file", &s.arg("pw"), "--output", "-"],
        &vault_block_text(&block),
    );
    assert_eq!((code, stdout.as_str()), (0, "s3cr3t"), "{stderr}");
}

#[test]
fn live_ansible_files_ansible_vault_encrypts_push_opens() {
    let Some(bin) = require_ansible() else { return };
    let s = Scene::new();
    let plain = s.copy_plain("a.yml");
    ansible_vault(&bin, &["encrypt", "--vault-password-file", &s.arg("pw"), plain.to_str().unwrap()]);
    assert_eq!(push_vault(&["view", "--vault-password-file", &s.arg("pw"), plain.to_str().unwrap()]), PLAIN);

    // Several ids: the one whose label the file names opens it.
    let labelled = s.copy_plain("b.yml");
    let prod = format!("prod@{}", s.arg("pw2"));
    ansible_vault(&bin, &["encrypt", "--vault-id", &prod, labelled.to_str().unwrap()]);
    let dev = format!("dev@{}", s.arg("pw"));
    assert_eq!(push_vault(&["view", "--vault-id", &dev, "--vault-id", &prod, labelled.to_str().unwrap()]), PLAIN);

    // A password script (an executable file), as Ansible runs it.
    let script = s.path("pw.sh");
    write(&script, "#!/bin/sh\necho 'first password'\n");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    push_vault(&["decrypt", "--vault-password-file", script.to_str().unwrap(), plain.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&plain).unwrap(), PLAIN);

    let block =
        ansible_vault(&bin, &["encrypt_string", "--vault-password-file", &s.arg("pw"), "--name", "t", "s3cr3t"]);
    let sealed = s.path("string.vault");
    write(&sealed, vault_block_text(&block));
    let opened =
        push_vault(&["decrypt", "--vault-password-file", &s.arg("pw"), "--output", "-", sealed.to_str().unwrap()]);
    assert_eq!(opened, "s3cr3t");
}

/// A password that does not open the file is an input error naming it;
/// the file is left as it was.
#[test]
fn a_wrong_password_names_the_file_and_changes_nothing() {
    let s = Scene::new();
    let plain = s.copy_plain("a.yml");
    push_vault(&["encrypt", "--vault-password-file", &s.arg("pw"), plain.to_str().unwrap()]);
    let sealed = std::fs::read_to_string(&plain).unwrap();
    let out = push(["vault", "decrypt", "--vault-password-file", &s.arg("pw2"), plain.to_str().unwrap()]);
    out.assert_code(4);
    assert!(out.stderr().contains("a.yml") && out.stderr().contains("hint"), "{out}");
    assert_eq!(std::fs::read_to_string(&plain).unwrap(), sealed);
}

/// An inventory folder with a vaulted group_vars file and a `!vault` value
/// in its YAML inventory: read with the password, printed as `<vaulted>`;
/// without it, an input error at the vaulted value.
#[test]
fn inventories_read_vaulted_vars_and_never_print_them() {
    let s = Scene::new();
    let inv = s.path("inv");
    write(inv.join("group_vars/all.yml"), "from_file: INV-FILE-SECRET\nplain_too: shown\n");
    push_vault(&["encrypt", "--vault-password-file", &s.arg("pw"), inv.join("group_vars/all.yml").to_str().unwrap()]);
    let token =
        push_vault(&["encrypt_string", "--vault-password-file", &s.arg("pw"), "--name", "inline", "INV-INLINE-SECRET"]);
    let token: String = token.lines().map(|l| format!("      {l}\n")).collect();
    write(inv.join("hosts.yml"), format!("all:\n  hosts:\n    h1:\n      color: red\n{token}"));
    let inv_arg = inv.to_str().unwrap();

    let out = push(["inventory", "-i", inv_arg, "--host", "h1", "--vault-password-file", &s.arg("pw")]);
    out.assert_code(0);
    let vars: serde_json::Value = serde_json::from_str(out.stdout()).unwrap();
    assert_eq!(
        (&vars["from_file"], &vars["inline"], &vars["color"]),
        (&"<vaulted>".into(), &"<vaulted>".into(), &"red".into()),
        "{out}"
    );
    assert!(!out.stdout().contains("SECRET"), "{out}");

    let out = push(["inventory", "-i", inv_arg, "--host", "h1"]);
    out.assert_code(4);
    assert!(
        out.stderr().contains("no vault password was given") && out.stderr().contains("--vault-password-file"),
        "{out}"
    );
}

/// `ANSIBLE_VAULT_PASSWORD_FILE` stands in for `--vault-password-file`, as
/// in Ansible; an option given wins over it.
#[test]
fn the_password_file_can_come_from_the_environment() {
    let s = Scene::new();
    let plain = s.copy_plain("a.yml");
    push_vault(&["encrypt", "--vault-password-file", &s.arg("pw"), plain.to_str().unwrap()]);
    let view = |env_file: &str, args: &[&str]| {
        push_tests::PushCmd::new()
            .args(["vault", "view"])
            .args(args.iter().copied())
            .arg(&plain)
            .env("ANSIBLE_VAULT_PASSWORD_FILE", env_file)
            .run()
    };
    let out = view(&s.arg("pw"), &[]);
    out.assert_code(0);
    assert_eq!(out.stdout(), PLAIN);
    view(&s.arg("pw2"), &["--vault-password-file", &s.arg("pw")]).assert_code(0);
    view(&s.arg("pw2"), &[]).assert_code(4);
}
