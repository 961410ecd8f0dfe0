//! Args in, snippets out: the rendered probe and apply of each module.

mod support;

use serde_json::{json, Value};

fn snippets(module: &str, args: Value) -> String {
    let ctl = support::Ctl(vec![
        ("files/app.conf", b"key = value\n".to_vec()),
        ("app.conf.j2", b"port = {{ x }}\n".to_vec()),
    ]);
    let op = support::try_plan_with(module, args, &ctl).unwrap_or_else(|e| panic!("{e}"));
    for snippet in [&op.probe, &op.apply] {
        let parse = std::process::Command::new("sh").args(["-n", "-c", snippet]).output().unwrap();
        assert!(parse.status.success(), "{}\n{snippet}", String::from_utf8_lossy(&parse.stderr));
    }
    format!("# probe\n{}\n# apply\n{}", op.probe, op.apply)
}

macro_rules! snap {
    ($name:ident, $module:expr, $args:tt) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(snippets($module, json!($args)));
        }
    };
}

snap!(command_argv, "command", {"argv": ["/usr/bin/make", "install", "PREFIX=/opt/my app"], "chdir": "/src", "creates": "/opt/my app/bin/*"});
snap!(command_free_form, "command", {"_raw_params": "tee -a '/tmp/a b' \"$HOME\"", "removes": "/tmp/a b", "stdin": "it's $(not) run", "stdin_add_newline": false});
snap!(shell, "shell", {"_raw_params": "set -o pipefail; ls | wc -l > 'out file'", "executable": "/bin/bash", "creates": "out file"});
snap!(file_directory, "file", {"path": "/srv/app/data/", "state": "directory", "mode": "0750", "owner": "app", "group": "app"});
snap!(file_recurse, "file", {"dest": "/srv/app", "recurse": true, "mode": "u=rwX,g=rX,o=", "owner": "app"});
snap!(file_attributes, "file", {"name": "~/.ssh/config", "mode": 384});
snap!(file_absent, "file", {"path": "/tmp/old", "state": "absent"});
snap!(file_link, "file", {"path": "/etc/nginx/sites-enabled/app", "state": "link", "src": "../sites-available/app", "owner": "root"});
snap!(file_hard, "file", {"path": "/opt/bin/tool", "state": "hard", "src": "/opt/tool/bin/tool", "force": true});
snap!(file_touch, "file", {"path": "/var/log/app.log", "state": "touch", "mode": "0640"});
snap!(copy_content, "copy", {"dest": "/etc/sudoers.d/app", "content": "app ALL=(ALL) NOPASSWD: ALL\n", "mode": "0440", "owner": "root", "group": "root", "backup": true, "validate": "visudo -cf %s"});
snap!(copy_src_into_folder, "copy", {"src": "files/app.conf", "dest": "/etc/app/", "force": false});
snap!(template, "template", {"src": "app.conf.j2", "dest": "/etc/app/app.conf", "mode": "0644"});
snap!(lineinfile_replace, "lineinfile", {"path": "/etc/ssh/sshd_config", "regexp": "^#?PermitRootLogin\\s", "line": "PermitRootLogin no", "insertafter": "^#Authentication", "validate": "/usr/sbin/sshd -t -f %s"});
snap!(lineinfile_create, "lineinfile", {"dest": "/etc/app/env", "search_string": "PATH=", "line": "PATH=/opt/app/bin:$PATH", "insertbefore": "BOF", "firstmatch": true, "create": true, "mode": "0644", "backup": true});
snap!(lineinfile_absent, "lineinfile", {"path": "/etc/hosts", "regexp": "\\sold-name$", "state": "absent"});
snap!(apt_present, "apt", {"name": "nginx, curl=7.88.1-10+deb12u5", "update_cache": true, "cache_valid_time": 3600, "install_recommends": false});
snap!(apt_latest, "apt", {"pkg": ["openssl"], "state": "latest"});
snap!(apt_absent, "apt", {"name": ["apache2"], "state": "absent", "purge": true, "autoremove": true});
snap!(apt_update_only, "apt", {"update_cache": true});
snap!(systemd_all, "systemd", {"name": "nginx", "state": "started", "enabled": true, "daemon_reload": true});
snap!(systemd_masked, "systemd_service", {"name": "apache2.service", "state": "stopped", "enabled": false, "masked": true});
snap!(systemd_reload_only, "systemd", {"daemon_reload": true});
snap!(systemd_reloaded, "systemd", {"name": "nginx", "state": "reloaded", "masked": false});
snap!(user_present, "user", {"name": "deploy", "uid": 1500, "group": "deploy", "groups": "sudo,adm", "append": true, "shell": "/bin/bash", "comment": "Deploy user", "password": "$6$salt$hash", "system": false});
snap!(user_exact_groups, "user", {"name": "app", "groups": ["www-data", "adm"], "home": "/srv/app", "move_home": true, "create_home": false, "system": true, "password": "$6$x$y", "update_password": "on_create"});
snap!(user_absent, "user", {"name": "olduser", "state": "absent", "remove": true});
snap!(group_present, "group", {"name": "deploy", "gid": 1500, "system": true});
snap!(group_absent, "group", {"name": "old", "state": "absent"});

/// Beyond the snapshots: every combination of the options that shape a
/// template renders to snippets `sh -n` accepts (an `if` left with an empty
/// body is the usual way to break one).
#[test]
fn every_variant_parses() {
    let bools = [json!(null), json!(true), json!(false)];
    for state in ["present", "absent", "latest"] {
        for name in [json!(null), json!("nginx")] {
            for flag in &bools {
                let args = json!({"name": name, "state": state, "update_cache": flag, "purge": flag, "autoremove": flag, "install_recommends": flag});
                if support::try_plan("apt", args.clone()).is_ok() {
                    snippets("apt", args);
                }
            }
        }
    }
    for state in [json!(null), json!("started"), json!("stopped"), json!("restarted"), json!("reloaded")] {
        for enabled in &bools {
            for masked in &bools {
                snippets(
                    "systemd",
                    json!({"name": "x", "state": state, "enabled": enabled, "masked": masked, "daemon_reload": true}),
                );
            }
        }
    }
    for state in
        [json!(null), json!("file"), json!("directory"), json!("absent"), json!("link"), json!("touch"), json!("hard")]
    {
        for force in &bools {
            let src = if matches!(state.as_str(), Some("link" | "hard")) { json!("/s") } else { json!(null) };
            snippets("file", json!({"path": "/p", "state": state, "src": src, "force": force}));
            snippets(
                "file",
                json!({"path": "/p", "state": state, "src": src, "force": force, "mode": "0644", "owner": "o", "group": "g"}),
            );
        }
    }
    for force in &bools {
        snippets("copy", json!({"dest": "/d", "content": "", "force": force, "backup": force, "validate": "true %s"}));
    }
    for state in ["present", "absent"] {
        for pattern in [json!({}), json!({"regexp": "x"}), json!({"search_string": "x"})] {
            for place in [
                json!({}),
                json!({"insertafter": "EOF"}),
                json!({"insertbefore": "^y"}),
                json!({"create": true, "backup": true}),
            ] {
                let mut args = json!({"path": "/f", "line": "l", "state": state});
                args.as_object_mut().unwrap().extend(pattern.as_object().unwrap().clone());
                args.as_object_mut().unwrap().extend(place.as_object().unwrap().clone());
                snippets("lineinfile", args);
            }
        }
    }
    for state in ["present", "absent"] {
        snippets("user", json!({"name": "u", "state": state}));
        snippets("group", json!({"name": "g", "state": state}));
    }
    snippets("user", json!({"name": "u", "groups": [], "append": true, "password": "h", "update_password": "always"}));
}
