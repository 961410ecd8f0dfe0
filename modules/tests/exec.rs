//! Snippets run for real, in temp folders, through the engine's framing.

mod support;

use std::fs;

use serde_json::json;
use support::{converge, plan, run};

#[test]
fn command_runs_once_thanks_to_creates() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("done");
    let op = plan("command", json!({"argv": ["touch", marker], "creates": marker}));
    converge(&op, || marker.exists());
    // Ok, not skipped, in Ansible's words: probe and apply alike.
    let m = marker.display();
    for snippet in [&op.probe, &op.apply] {
        let r = run(snippet, false);
        assert_eq!(r.status, format!("ok Did not run command since '{m}' exists"));
        assert_eq!(r.stdout, format!("skipped, since {m} exists\n"));
    }
    let removes =
        plan("command", json!({"argv": ["rm", marker.with_extension("x")], "removes": marker.with_extension("x")}));
    let r = run(&removes.probe, false);
    assert_eq!(r.status, format!("ok Did not run command since '{m}.x' does not exist"));
    assert_eq!(r.stdout, format!("skipped, since {m}.x does not exist\n"));
}

#[test]
fn command_output_and_exit_code_pass_through() {
    let op = plan("command", json!({"_raw_params": "sh -c 'echo out; echo err >&2; exit 3'"}));
    let r = run(&op.probe, false);
    assert_eq!((r.status.as_str(), r.stdout.as_str()), ("changed would run", ""));
    let r = run(&op.apply, false);
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (3, "out\n", "err\n"));
}

#[test]
fn command_words_are_literal() {
    let tmp = tempfile::tempdir().unwrap();
    let hostile = "'; touch pwned #$(touch pwned2)`touch pwned3`\n*";
    let op = plan("command", json!({"argv": ["printf", "%s", hostile], "chdir": tmp.path(), "stdin": "ignored"}));
    let r = run(&op.apply, false);
    assert_eq!((r.code, r.stdout.as_str()), (0, hostile));
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn shell_runs_its_command_line_in_chdir_with_stdin() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("a b"), "").unwrap();
    let op = plan(
        "shell",
        json!({"_raw_params": "false; ls; cat | tr a-z A-Z", "chdir": tmp.path(), "stdin": "hi", "removes": "a *"}),
    );
    let r = run(&op.apply, false);
    assert_eq!((r.code, r.stdout.as_str(), r.status.as_str()), (0, "a b\nHI\n", "changed ran"));
    let op =
        plan("shell", json!({"cmd": "echo $0", "executable": "/bin/bash", "removes": tmp.path().join("nothing*")}));
    assert_eq!(
        run(&op.probe, false).status,
        format!("ok Did not run command since '{}/nothing*' does not exist", tmp.path().display())
    );
    let op = plan("shell", json!({"cmd": "echo $0", "executable": "/bin/bash"}));
    assert_eq!(run(&op.apply, false).stdout, "/bin/bash\n");
}

/// The backup's name holds the pid and the second, so a local user can plant
/// links at every name it may take: the copy must replace such a link, not
/// write through it. Here the step's own shell plants it, knowing both.
#[test]
fn backup_never_writes_through_a_link_planted_at_its_name() {
    let tmp = tempfile::tempdir().unwrap();
    let (f, victim) = (tmp.path().join("conf"), tmp.path().join("victim"));
    fs::write(&f, "old\n").unwrap();
    fs::write(&victim, "precious\n").unwrap();
    // A link to a folder: the copy must not be moved into it either.
    let victim_dir = tempfile::tempdir().unwrap();
    let backup = format!("{}.$$.2026-01-01@00:00:00~", f.display());
    let plant = |target: &std::path::Path| {
        format!("date() {{ echo 2026-01-01@00:00:00; }}\nln -s -- '{}' \"{backup}\"\n", target.display())
    };
    for (module, args, target) in [
        ("copy", json!({"dest": f, "content": "new\n", "backup": true}), victim.as_path()),
        ("lineinfile", json!({"path": f, "line": "more", "backup": true}), victim.as_path()),
        ("copy", json!({"dest": f, "content": "new\n", "backup": true}), victim_dir.path()),
    ] {
        fs::write(&f, "old\n").unwrap();
        let r = run(&format!("{}{}", plant(target), plan(module, args).apply), false);
        assert_eq!(r.code, 0, "{module}: {r:?}");
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n", "{module} wrote through the link");
        assert_eq!(fs::read_dir(victim_dir.path()).unwrap().count(), 0, "{module} wrote into the linked folder");
        let backups: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with('~'))
            .collect();
        assert_eq!(backups.len(), 1, "{module}: {backups:?}");
        assert!(!backups[0].is_symlink(), "{module}: the planted link is still there");
        assert_eq!(fs::read_to_string(&backups[0]).unwrap(), "old\n", "{module}");
        fs::remove_file(&backups[0]).unwrap();
    }
}

/// docker_ssh's sudo rule makes its login root in the container: an account
/// push did not create (here `nobody`, which daemons run as) is refused by
/// the probe already. Only the probe runs: nothing is changed here.
#[test]
fn docker_ssh_refuses_an_account_push_did_not_create() {
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ0kZ0Q8n7yq2dJ1o6l8ZbVQ3bC0x2k5y6z7a8b9c0d1 alice@example.org";
    let op = plan("docker_ssh", json!({"name": "web", "login": "nobody", "keys": [key]}));
    let r = run(&op.probe, false);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("nobody exists and was not created by push"), "{r:?}");
}

/// The helper runs as root only for an ssh login of its account: run by
/// anything but sudo started from an sshd session, it refuses before it
/// looks at any container.
#[test]
fn docker_ssh_helper_refuses_a_caller_that_did_not_log_in_through_sshd() {
    let helper = concat!(env!("CARGO_MANIFEST_DIR"), "/templates/docker_ssh_login.sh");
    let out =
        std::process::Command::new("sh").args([helper, "--exec", "0", "id"]).env("SUDO_USER", "web").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "docker-ssh: web did not log in through sshd\n");
}

fn mode_of(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::symlink_metadata(p).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0)
}

fn owner_of(p: &std::path::Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    fs::symlink_metadata(p).map(|m| (m.uid(), m.gid())).unwrap_or((u32::MAX, u32::MAX))
}

#[test]
fn file_directory_creates_parents_with_attributes() {
    let tmp = tempfile::tempdir().unwrap();
    let (top, leaf) = (tmp.path().join("a b"), tmp.path().join("a b/c"));
    let op = plan("file", json!({"path": leaf, "state": "directory", "mode": "0750", "owner": "nobody"}));
    converge(&op, || (top.exists(), mode_of(&leaf)));
    assert_eq!((mode_of(&top), mode_of(&leaf)), (0o750, 0o750));
    assert_eq!(owner_of(&leaf).0, 65534);
}

#[test]
fn file_fixes_attributes_only_when_they_differ() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("f");
    fs::write(&f, "x").unwrap();
    fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let op = plan("file", json!({"path": f, "mode": "u=rw,g=r,o=r", "group": "nogroup"}));
    let (probe, _) = converge(&op, || (mode_of(&f), owner_of(&f)));
    assert_eq!(probe.status, "changed mode group");
    assert_eq!((mode_of(&f), owner_of(&f).1), (0o644, 65534));
    // A setgid folder stays setgid under `chmod 0755` (GNU rule): still ok.
    let d = tmp.path().join("d");
    fs::create_dir(&d).unwrap();
    fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o2700)).unwrap();
    converge(&plan("file", json!({"path": d, "state": "directory", "mode": "0755"})), || mode_of(&d));
    assert_eq!(mode_of(&d), 0o2755);
}

#[test]
fn file_recurse_and_absent() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("tree");
    fs::create_dir_all(d.join("sub")).unwrap();
    fs::write(d.join("sub/f"), "").unwrap();
    let op = plan("file", json!({"path": d, "recurse": true, "mode": "u=rwX,go=rX", "owner": "0"}));
    fs::set_permissions(d.join("sub/f"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    converge(&op, || mode_of(&d.join("sub/f")));
    assert_eq!((mode_of(&d.join("sub")), mode_of(&d.join("sub/f"))), (0o755, 0o644));
    converge(&plan("file", json!({"path": d, "state": "absent"})), || d.exists());
    assert!(!d.exists());
}

#[test]
fn file_links() {
    let tmp = tempfile::tempdir().unwrap();
    let link = tmp.path().join("l");
    fs::write(tmp.path().join("target"), "t").unwrap();
    let op = plan("file", json!({"path": link, "state": "link", "src": "target"}));
    converge(&op, || fs::read_link(&link).ok());
    assert_eq!(fs::read_link(&link).unwrap(), std::path::Path::new("target"));
    // Repointing needs no force; replacing a file does.
    let op = plan("file", json!({"path": link, "state": "link", "src": "elsewhere", "force": true}));
    converge(&op, || fs::read_link(&link).ok());
    let file = tmp.path().join("file");
    fs::write(&file, "").unwrap();
    let r = run(&plan("file", json!({"path": file, "state": "link", "src": "target"})).apply, false);
    assert!(r.code != 0 && r.stderr.contains("refusing to convert"), "{r:?}");
    let hard = tmp.path().join("hard");
    converge(&plan("file", json!({"path": hard, "state": "hard", "src": "target"})), || hard.exists());
    assert_eq!(fs::read_to_string(&hard).unwrap(), "t");
}

#[test]
fn file_missing_file_and_touch() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("f");
    let op = plan("file", json!({"path": f, "state": "file"}));
    assert!(run(&op.probe, false).status.contains("is absent, cannot continue (unless an earlier task"));
    let r = run(&op.apply, false);
    assert_eq!((r.code, r.stderr.trim()), (1, format!("file {} is absent, cannot continue", f.display()).as_str()));
    let op = plan("file", json!({"path": f, "state": "touch", "mode": "0600"}));
    assert!(run(&op.probe, false).changed() && !f.exists());
    assert!(run(&op.apply, false).changed() && run(&op.apply, false).changed());
    assert_eq!(mode_of(&f), 0o600);
}

fn inode(p: &std::path::Path) -> u64 {
    std::os::unix::fs::MetadataExt::ino(&fs::metadata(p).unwrap())
}

#[test]
fn copy_creates_then_replaces_atomically_keeping_attributes() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("conf");
    let op = plan("copy", json!({"dest": f, "content": "one\n", "mode": "0640"}));
    assert_eq!((op.diff_after.as_deref(), op.diff_label.as_deref()), (Some(&b"one\n"[..]), f.to_str()));
    let (probe, _) = converge(&op, || fs::read(&f).ok());
    assert_eq!((probe.status.as_str(), probe.before), ("changed create", None));
    assert_eq!((fs::read_to_string(&f).unwrap(), mode_of(&f)), ("one\n".into(), 0o640));

    // New content, no mode given: the old file's attributes carry over.
    std::os::unix::fs::chown(&f, Some(65534), Some(65534)).unwrap();
    let op = plan("copy", json!({"dest": f, "content": "two\n", "backup": true}));
    let (probe, apply) = converge(&op, || fs::read(&f).unwrap());
    assert_eq!((probe.status.as_str(), probe.before.as_deref()), ("changed content", Some(&b"one\n"[..])));
    assert_eq!(apply.before.as_deref(), Some(&b"one\n"[..]));
    assert_eq!((fs::read_to_string(&f).unwrap(), mode_of(&f), owner_of(&f)), ("two\n".into(), 0o640, (65534, 65534)));
    let names: Vec<String> =
        fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names.len(), 2, "the file and its backup, no temp left: {names:?}");
    assert!(names.iter().any(|n| n.starts_with("conf.") && n.ends_with('~')));

    // Same content, other attributes: only those change, in place.
    let ino = inode(&f);
    let op = plan("copy", json!({"dest": f, "content": "two\n", "mode": "0600", "owner": "root"}));
    let (probe, _) = converge(&op, || (mode_of(&f), owner_of(&f)));
    assert_eq!(probe.status, "changed mode owner");
    assert_eq!((inode(&f), mode_of(&f), owner_of(&f)), (ino, 0o600, (0, 65534)));
}

/// A dest that is a symlink: the apply replaces the link with the file, so
/// the diff is that of a new file. It used to show the link's target (a
/// file only root may read was printed whole).
#[test]
fn copy_onto_a_symlink_diffs_the_link_not_its_target() {
    let tmp = tempfile::tempdir().unwrap();
    let (secret, link) = (tmp.path().join("secret"), tmp.path().join("link"));
    fs::write(&secret, "root-only secret\n").unwrap();
    fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    let op = plan("copy", json!({"dest": link, "content": "new\n"}));
    let (probe, apply) = converge(&op, || fs::read(&link).unwrap());
    assert_eq!((probe.status.as_str(), probe.before, apply.before), ("changed content", None, None));
    assert_eq!(fs::read_to_string(&secret).unwrap(), "root-only secret\n");
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_file(), "the link was replaced");
}

#[test]
fn copy_hostile_dest_and_content_arrive_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let pwned = tmp.path().join("pwned");
    let hostile = format!("'; rm -rf / #$(touch {0})`touch {0}`\n\"$HOME\" *", pwned.display());
    let f = tmp.path().join(&hostile);
    fs::create_dir_all(f.parent().unwrap()).unwrap();
    let op = plan("copy", json!({"dest": f, "content": hostile}));
    converge(&op, || fs::read(&f).ok());
    assert_eq!(fs::read_to_string(&f).unwrap(), hostile);
    assert!(!pwned.exists());
    assert!(!op.probe.contains("base64"), "content travels in the apply only");
}

#[test]
fn copy_src_into_folder_and_binary_content() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes: Vec<u8> = (0..=255).collect();
    let ctl = support::Ctl(vec![("files/blob.bin", bytes.clone())]);
    let op = support::try_plan_with("copy", json!({"src": "files/blob.bin", "dest": tmp.path()}), &ctl).unwrap();
    converge(&op, || tmp.path().join("blob.bin").exists());
    assert_eq!(fs::read(tmp.path().join("blob.bin")).unwrap(), bytes);
    // force=no leaves an existing file alone.
    let op = support::try_plan_with(
        "copy",
        json!({"src": "files/blob.bin", "dest": tmp.path().join("other"), "force": false}),
        &ctl,
    )
    .unwrap();
    fs::write(tmp.path().join("other"), "mine").unwrap();
    assert!(run(&op.probe, false).ok() && run(&op.apply, false).ok());
    assert_eq!(fs::read(tmp.path().join("other")).unwrap(), b"mine");
}

#[test]
fn copy_needs_its_folder_and_a_valid_file() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("missing/conf");
    let op = plan("copy", json!({"dest": f, "content": "x"}));
    assert!(run(&op.probe, false).status.starts_with("changed Destination directory"));
    let r = run(&op.apply, false);
    assert_eq!(r.code, 1);
    assert!(r.stderr.starts_with("Destination directory") && r.stderr.contains("does not exist"), "{r:?}");

    let f = tmp.path().join("conf");
    let op = plan("copy", json!({"dest": f, "content": "bad", "validate": "grep -q good %s"}));
    let r = run(&op.apply, false);
    assert_eq!((r.code, r.stderr.as_str()), (1, "failed to validate\n"));
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0, "no temp file left");
    let op = plan("copy", json!({"dest": f, "content": "good", "validate": "grep -q good %s"}));
    converge(&op, || f.exists());
}

#[test]
fn template_writes_what_the_engine_rendered() {
    let tmp = tempfile::tempdir().unwrap();
    let ctl = support::Ctl(vec![("motd.j2", b"hello {{ x }}\n".to_vec())]);
    let f = tmp.path().join("motd");
    let op = support::try_plan_with("template", json!({"src": "motd.j2", "dest": f}), &ctl).unwrap();
    converge(&op, || f.exists());
    assert_eq!(fs::read_to_string(&f).unwrap(), "hello X\n");
}

/// Runs lineinfile with `args` on a file holding `text`; returns the new
/// text, after checking the probe/apply/apply-again cycle (or that nothing
/// changes when the text was already right).
fn lineinfile(text: &str, args: serde_json::Value) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("f");
    fs::write(&f, text).unwrap();
    let mut args = args;
    args["path"] = json!(f);
    let op = plan("lineinfile", args);
    let probe = run(&op.probe, false);
    if probe.changed() {
        converge(&op, || fs::read(&f).unwrap());
    } else {
        assert!(probe.ok() && run(&op.apply, false).ok(), "{probe:?}");
    }
    fs::read_to_string(&f).unwrap()
}

#[test]
fn lineinfile_follows_ansible_rules() {
    let sshd = "#PermitRootLogin yes\nPort 22\nPermitRootLogin yes\n";
    let args = json!({"regexp": "^#?PermitRootLogin\\s", "line": "PermitRootLogin no"});
    // The last match is replaced; with firstmatch, the first.
    assert_eq!(lineinfile(sshd, args.clone()), "#PermitRootLogin yes\nPort 22\nPermitRootLogin no\n");
    let mut first = args.clone();
    first["firstmatch"] = json!(true);
    assert_eq!(lineinfile(sshd, first), "PermitRootLogin no\nPort 22\nPermitRootLogin yes\n");
    // No match: after the last insertafter match, else at EOF.
    let conf = "[a]\nx=1\n[b]\ny=2\n";
    let add = |extra: serde_json::Value| {
        let mut a = json!({"line": "z=3"});
        a.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        lineinfile(conf, a)
    };
    assert_eq!(add(json!({"insertafter": "^\\[\\w\\]"})), "[a]\nx=1\n[b]\nz=3\ny=2\n");
    assert_eq!(add(json!({"insertafter": "^\\[", "firstmatch": true})), "[a]\nz=3\nx=1\n[b]\ny=2\n");
    assert_eq!(add(json!({"insertbefore": "^\\[b"})), "[a]\nx=1\nz=3\n[b]\ny=2\n");
    assert_eq!(add(json!({"insertbefore": "BOF"})), "z=3\n[a]\nx=1\n[b]\ny=2\n");
    assert_eq!(add(json!({"insertafter": "^nomatch"})), "[a]\nx=1\n[b]\ny=2\nz=3\n");
    // The exact line anywhere: nothing to do.
    assert_eq!(add(json!({"line": "x=1", "insertbefore": "BOF"})), conf);
    // search_string is literal; an empty one is in every line, as in Python.
    assert_eq!(lineinfile("a.*b\nacb\n", json!({"search_string": ".*", "line": "c"})), "c\nacb\n");
    assert_eq!(lineinfile("a\nb\n", json!({"search_string": "", "state": "absent"})), "");
}

#[test]
fn lineinfile_absent_and_unterminated_files() {
    assert_eq!(lineinfile("a\nb1\nc\nb2", json!({"regexp": "^b", "state": "absent"})), "a\nc\n");
    assert_eq!(lineinfile("a\r\nb\nc", json!({"line": "a", "state": "absent"})), "b\nc");
    assert_eq!(lineinfile("a\nb", json!({"line": "c"})), "a\nb\nc\n");
    assert_eq!(lineinfile("a\nb", json!({"line": "c", "insertbefore": "^b"})), "a\nc\nb");
    assert_eq!(lineinfile("a\nb", json!({"line": "c", "insertafter": "^b"})), "a\nb\nc\n");
    assert_eq!(lineinfile("", json!({"line": "c"})), "c\n");
    assert_eq!(lineinfile("\n", json!({"line": "c"})), "\nc\n");
    assert_eq!(lineinfile("a\nb", json!({"line": "b"})), "a\nb");
}

/// A pattern awk matches itself and one only grep -P reads give the same.
#[test]
fn lineinfile_awk_and_pcre_patterns_agree() {
    let text = "a\nb1\nc\nb2";
    // The line matches each pattern, so the edit is idempotent.
    for (awk, pcre) in [("^b", "^(?:b)"), ("^b[0-9]$", "^b\\d$"), ("c|b", "(?:c|b)")] {
        for extra in [json!({"state": "absent"}), json!({"line": "b9"}), json!({"line": "b9", "firstmatch": true})] {
            let with = |re: &str| {
                let mut a = extra.clone();
                a["regexp"] = json!(re);
                lineinfile(text, a)
            };
            assert_eq!(with(awk), with(pcre), "{awk} / {pcre} with {extra}");
        }
        let anchored = |re: &str| lineinfile(text, json!({"line": "x", "insertbefore": re}));
        assert_eq!(anchored(awk), anchored(pcre), "insertbefore {awk} / {pcre}");
    }
}

#[test]
fn lineinfile_create_diff_and_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("new/dir/f");
    let hostile = "'; rm -rf / # $(touch pwned) `touch pwned` \\1 %s";
    let op = plan("lineinfile", json!({"path": f, "line": hostile}));
    assert!(run(&op.probe, false).status.contains("does not exist !"));
    assert_eq!(run(&op.apply, false).code, 1);
    let op = plan("lineinfile", json!({"path": f, "line": hostile, "create": true, "mode": "0600"}));
    let (probe, _) = converge(&op, || f.exists());
    assert_eq!((probe.before, probe.after), (None, Some(format!("{hostile}\n").into_bytes())));
    assert_eq!((fs::read_to_string(&f).unwrap(), mode_of(&f)), (format!("{hostile}\n"), 0o600));
    assert!(!std::path::Path::new("/pwned").exists());

    let op = plan("lineinfile", json!({"path": f, "regexp": "^'", "line": "x"}));
    let (probe, _) = converge(&op, || fs::read(&f).unwrap());
    assert_eq!(probe.status, "changed line replaced");
    assert_eq!((probe.before.unwrap(), probe.after.unwrap()), (format!("{hostile}\n").into_bytes(), b"x\n".to_vec()));

    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&f, &link).unwrap();
    converge(&plan("lineinfile", json!({"path": link, "line": "y"})), || fs::read(&f).unwrap());
    assert_eq!((fs::read_to_string(&f).unwrap(), fs::read_link(&link).unwrap()), ("x\ny\n".into(), f.clone()));

    let r = run(&plan("lineinfile", json!({"path": f, "regexp": "(", "line": "x"})).probe, false);
    assert!(r.code != 0 && r.stderr.contains("invalid pattern: ("), "{r:?}");
}

/// grep -P's matching lines are data: a matched line holding `\n3:` once
/// reached awk through `-v`, which read it as a newline and a hit on line
/// 3, so `state: absent` deleted an unrelated line.
#[test]
fn lineinfile_pcre_matches_are_read_as_data() {
    let text = "key\\n3:value\nother\nkeep me\n";
    assert_eq!(lineinfile(text, json!({"regexp": "^key\\S", "state": "absent"})), "other\nkeep me\n");
    assert_eq!(lineinfile(text, json!({"regexp": "^key\\S", "line": "key=new"})), "key=new\nother\nkeep me\n");
    let anchored = json!({"line": "x", "insertbefore": "^key\\S", "firstmatch": true});
    assert_eq!(lineinfile(text, anchored), format!("x\n{text}"));
}

/// lineinfile is linear in the file's size: it used to rebuild the text
/// line by line in awk strings, quadratic (a 400k-line file took over 12
/// minutes). The limit is far above what a linear edit needs on a busy
/// machine and far below what the quadratic one took.
#[test]
fn lineinfile_edits_a_large_file_in_linear_time() {
    use std::fmt::Write as _;
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("f");
    let lines = 400_000;
    let mut text = String::new();
    for i in 0..lines {
        let _ = writeln!(text, "key{i} = value {i}");
    }
    let last = format!("key{} = value {}\n", lines - 1, lines - 1);
    let edited = format!("{}key{} = new\n", text.strip_suffix(&last).unwrap(), lines - 1);
    let limit = std::time::Duration::from_secs(60);
    // Through awk's own ERE, and through grep -P (`\s`).
    for regexp in [format!("^key{} =", lines - 1), format!("^key{}\\s", lines - 1)] {
        fs::write(&f, &text).unwrap();
        let op = plan("lineinfile", json!({"path": f, "regexp": regexp, "line": format!("key{} = new", lines - 1)}));
        for (what, snippet, changes) in
            [("probe", &op.probe, true), ("apply", &op.apply, true), ("again", &op.apply, false)]
        {
            let r = support::run_within(snippet, false, limit);
            assert_ne!(r.code, 124, "{regexp}: the {what} took over {limit:?}");
            assert_eq!((r.code, r.changed()), (0, changes), "{regexp}: {what}: {r:?}");
        }
        assert!(fs::read_to_string(&f).unwrap() == edited, "{regexp}: the file was not edited as expected");
    }
}

/// A command in PATH for [`argv_logged`]: the real one, or a stand-in
/// that prints `output` and succeeds.
enum Shim {
    Real(&'static str),
    Fake(&'static str, &'static str),
}

/// Runs `snippet` (as `run` does) with each of `shims` first in PATH,
/// logging its name and arguments; returns the run and the log.
fn argv_logged(snippet: &str, shims: &[Shim]) -> (support::Run, String) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("argv.log");
    let path = std::env::var("PATH").unwrap();
    let logged = |name: &str| format!("#!/bin/sh\nprintf '%s %s\\n' {name} \"$*\" >>'{}'\n", log.display());
    for shim in shims {
        let (name, text) = match shim {
            Shim::Real(name) => {
                let real = std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file()).unwrap();
                (name, format!("{}exec '{}' \"$@\"\n", logged(name), real.display()))
            }
            Shim::Fake(name, output) => (name, format!("{}printf %s '{output}'\n", logged(name))),
        };
        let file = dir.path().join(name);
        fs::write(&file, text).unwrap();
        fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let mut sh = std::process::Command::new("sh");
    sh.env("PATH", format!("{}:{path}", dir.path().display()));
    let r = support::run_in(sh, snippet, false);
    (r, fs::read_to_string(&log).unwrap_or_default())
}

/// No process shows lineinfile's line, pattern or the file's lines in its
/// arguments (readable by every local user in the process list): they go
/// through stdin, the environment and here-documents.
#[test]
fn lineinfile_keeps_lines_and_patterns_out_of_argv() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("f");
    let secrets = ["hunter2", "NEWSECRET", "password", "SECTION"];
    for args in [
        json!({"regexp": "^password\\s*=", "line": "password = NEWSECRET"}),
        json!({"regexp": "^nomatch\\S", "line": "password = NEWSECRET", "insertafter": "^\\[SECTION\\]\\s*$"}),
        json!({"search_string": "password", "line": "password = NEWSECRET"}),
    ] {
        fs::write(&f, "[SECTION]\npassword = hunter2\n").unwrap();
        let mut args = args;
        args["path"] = json!(f);
        let op = plan("lineinfile", args.clone());
        for snippet in [&op.probe, &op.apply] {
            let (r, argv) = argv_logged(snippet, &[Shim::Real("awk"), Shim::Real("grep")]);
            assert!(r.changed(), "{args}: {r:?}");
            assert!(argv.lines().any(|l| l.starts_with("awk ")), "the awk wrapper saw nothing: {argv}");
            for secret in secrets {
                assert!(!argv.contains(secret), "{args}: `{secret}` in an argument list:\n{argv}");
            }
        }
        assert!(fs::read_to_string(&f).unwrap().contains("password = NEWSECRET\n"), "{args}");
    }
}

/// copy's content travels through a pipe into `base64 -d`, in no process's
/// arguments, for a new file and for one whose content changes.
#[test]
fn copy_content_never_is_an_argument() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("f");
    // COPY_SECRET_MARK, and its base64 as the snippet carries it.
    let (secret, encoded) = ("COPY_SECRET_MARK", "Q09QWV9TRUNSRVRfTUFSSw");
    let op = plan("copy", json!({"dest": f, "content": secret, "mode": "0600", "backup": true}));
    let tools = ["base64", "mktemp", "chmod", "chown", "mv", "cp", "stat", "sha256sum", "dd", "date"].map(Shim::Real);
    for case in ["new file", "changed content"] {
        let (r, argv) = argv_logged(&op.apply, &tools);
        assert_eq!((r.code, fs::read_to_string(&f).unwrap().as_str()), (0, secret), "{case}: {r:?}");
        assert!(argv.lines().any(|l| l == "base64 -d"), "{case}: base64 was not run: {argv}");
        assert!(!argv.contains(secret) && !argv.contains(encoded), "{case}: the content in an argument list:\n{argv}");
        fs::write(&f, "old\n").unwrap();
    }
}

/// The user module's password hash never is an argument (usermod -p
/// would show it to every local user): chpasswd reads it on stdin, when
/// the account is made and when it is changed. The account tools are
/// stand-ins here: nothing on this machine changes.
#[test]
fn user_password_never_is_an_argument() {
    let hash = "$6$salt$HASH_SECRET_MARK";
    let op = plan("user", json!({"name": "pushtest", "password": hash, "comment": "c"}));
    let tools = |passwd: &'static str| {
        [Shim::Fake("getent", passwd), Shim::Fake("useradd", ""), Shim::Fake("usermod", ""), Shim::Fake("chpasswd", "")]
    };
    // No account yet, then one with another hash (getent prints it for
    // `getent shadow` as well: it only has to differ).
    for (passwd, status) in
        [("", "changed create"), ("pushtest:x:1000:1000:old:/home/pushtest:/bin/sh\n", "changed comment password")]
    {
        let (r, argv) = argv_logged(&op.apply, &tools(passwd));
        assert_eq!((r.code, r.status.as_str()), (0, status), "{r:?}");
        assert!(argv.lines().any(|l| l == "chpasswd -e"), "chpasswd was not run: {argv}");
        assert!(!argv.contains("HASH_SECRET_MARK"), "the hash in an argument list:\n{argv}");
    }
}

/// apt's probe reads package states from dpkg's status file with one awk:
/// it must agree with dpkg-query, here on this machine's own packages (only
/// probes run: nothing is installed or removed).
#[test]
fn apt_probe_agrees_with_dpkg_query() {
    let query = |format: &str, names: &[&str]| {
        let out = std::process::Command::new("dpkg-query").args(["-W", "-f", format, "--"]).args(names).output();
        String::from_utf8(out.expect("dpkg-query (a Debian machine)").stdout).unwrap()
    };
    let states = query("${db:Status-Status} ${Package}\n", &[]);
    let installed: Vec<&str> = states.lines().filter_map(|l| l.strip_prefix("installed ")).collect();
    assert!(installed.len() > 50, "{states}");
    let probe = |args: serde_json::Value| run(&plan("apt", args).probe, false);
    assert!(probe(json!({"name": installed})).ok(), "every installed package is installed");
    let dpkg = format!("dpkg={}", query("${Version}", &["dpkg"]));
    assert!(probe(json!({"name": [dpkg, "bash"]})).ok());
    assert_eq!(
        probe(json!({"name": ["dpkg=0.0-push", "push-no-such-package"]})).status,
        "changed install dpkg=0.0-push push-no-such-package"
    );
    // NAME=VERSION* is a prefix of the installed version.
    let version = query("${Version}", &["dpkg"]);
    let prefix = &version[..version.find('.').expect("a dotted version") + 1];
    assert!(probe(json!({"name": [format!("dpkg={prefix}*")]})).ok(), "dpkg={prefix}* against {version}");
    assert!(probe(json!({"name": [format!("dpkg={version}*")]})).ok(), "dpkg={version}* against {version}");
    assert_eq!(probe(json!({"name": ["dpkg=0.0*"]})).status, "changed install dpkg=0.0*");
    assert!(probe(json!({"name": ["push-no-such-package"], "state": "absent"})).ok());
    assert_eq!(
        probe(json!({"name": ["push-no-such-package", "dpkg"], "state": "absent"})).status,
        "changed remove dpkg"
    );
}
