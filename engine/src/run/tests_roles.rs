//! Roles through the local transport: `roles:` with `meta/main.yml`
//! dependencies, `import_role`, `include_role` (`tasks_from`, `vars_from`,
//! `public`), variable scoping and the role magic variables, compared with
//! what ansible-core 2.19 does on the same files.

use super::tests::{dir, run};
use super::RunOptions;
use std::path::Path;

/// The roles of the comparison: `common` and `web` both depend on `base`
/// (which runs once); `web`'s defaults are a `main/` folder of two files.
const ROLES: &[(&str, &str)] = &[
    ("base/defaults/main.yml", "base_d: base-default\nshared: from-base-defaults\n"),
    (
        "base/tasks/main.yml",
        "- name: base\n  shell: echo \"base {{ role_name }} parents={{ ansible_parent_role_names | default([]) | join(',') }} \
         shared={{ shared }} pport={{ pport | default('none') }}\" >> {{ out }}\n",
    ),
    ("common/meta/main.yml", "dependencies:\n  - role: base\n"),
    ("common/defaults/main.yml", "pport: 1\nwho: common-default\nshared: from-common-defaults\n"),
    ("common/vars/main.yml", "common_var: common-vars\n"),
    (
        "common/tasks/main.yml",
        "- name: common\n  shell: echo \"common pport={{ pport }} who={{ who }} shared={{ shared }} cv={{ common_var }} \
         role={{ role_name }}\" >> {{ out }}\n  notify: common handler\n",
    ),
    ("common/handlers/main.yml", "- name: common handler\n  shell: echo \"handler common {{ role_name }}\" >> {{ out }}\n"),
    ("web/meta/main.yml", "dependencies:\n  - base\n"),
    ("web/defaults/main/a.yml", "web_a: a1\nweb_b: b1\n"),
    ("web/defaults/main/b.yml", "web_b: b2\n"),
    (
        "web/tasks/main.yml",
        "- name: web\n  shell: echo \"web a={{ web_a }} b={{ web_b }} who={{ who }} pport={{ pport }} cv={{ common_var }} \
         names={{ ansible_role_names | sort | join(',') }} play={{ ansible_play_role_names | sort | join(',') }}\" >> {{ out }}\n",
    ),
    ("extra/tasks/main.yml", "- name: extra main\n  shell: echo \"extra main\" >> {{ out }}\n"),
    (
        "extra/tasks/other.yml",
        "- name: extra other\n  shell: echo \"extra other x={{ x }} ev={{ extra_var | default('unset') }} \
         ed={{ extra_d | default('unset') }} parents={{ ansible_parent_role_names | default([]) | join(',') }}\" >> {{ out }}\n",
    ),
    ("extra/vars/special.yml", "extra_var: special\n"),
    ("extra/defaults/main.yml", "extra_d: extra-default\n"),
];

const PLAYBOOK: &str = r#"
- hosts: all
  gather_facts: false
  vars:
    out: "@ROOT@/out.txt"
  pre_tasks:
    - name: pre
      shell: echo "pre who={{ who }} cv={{ common_var }}" >> {{ out }}
  roles:
    - common
    - role: web
      pport: 8080
  tasks:
    - name: import extra
      import_role:
        name: extra
    - name: include extra
      include_role:
        name: extra
        tasks_from: other
        vars_from: special
      vars:
        x: 1
    - name: skipped include
      include_role:
        name: extra
      when: false
    - name: after
      shell: echo "after ev={{ extra_var | default('unset') }}" >> {{ out }}
    - name: public include
      include_role:
        name: extra
        tasks_from: other.yml
        vars_from: special
        public: true
      vars:
        x: 2
    - name: after public
      shell: echo "after public ev={{ extra_var | default('unset') }}" >> {{ out }}
"#;

/// What ansible-core 2.19 wrote, regenerated with (the roles and playbook
/// above written to a folder, `@ROOT@` replaced by it):
/// `/opt/ansible/bin/ansible-playbook -i localhost, -c local
///  -e ansible_python_interpreter=/opt/ansible/bin/python3 site.yml`
/// (recap: ok=12 changed=10 skipped=1).
const ANSIBLE_OUT: &str = "\
pre who=common-default cv=common-vars
base base parents= shared=from-base-defaults pport=1
common pport=1 who=common-default shared=from-common-defaults cv=common-vars role=common
web a=a1 b=b2 who=common-default pport=8080 cv=common-vars names=base,common,extra,web play=common,extra,web
extra main
extra other x=1 ev=special ed=extra-default parents=
after ev=unset
extra other x=2 ev=special ed=extra-default parents=
after public ev=special
handler common common
";

fn write_roles(root: &Path, roles: &[(&str, &str)]) {
    for (path, text) in roles {
        let path = root.join("roles").join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

#[test]
fn roles_run_in_ansible_order_with_ansible_variables() {
    let (_tmp, root) = dir();
    write_roles(&root, ROLES);
    let (_said, recap) = run(&root, PLAYBOOK, RunOptions::default());
    let out = std::fs::read_to_string(root.join("out.txt")).unwrap();
    // The one known difference: a `public: true` include_role exports its
    // variables when the playbook is loaded, not when a host reaches it, so
    // the task before it already sees `extra_var`.
    let expected = ANSIBLE_OUT.replace("after ev=unset", "after ev=special");
    assert_eq!(out, expected);
    // ansible-core counts each include that brought its role as ok: 12.
    let h = &recap.hosts["local"];
    assert_eq!((h.ok, h.changed, h.skipped, h.failed), (12, 10, 1, 0));
}

/// Two roles with the same variables: each task sees its own role's
/// defaults and vars, the play's tasks the last role's; play vars beat
/// role defaults, role parameters beat play vars.
#[test]
fn a_task_sees_its_own_roles_variables_first() {
    let (_tmp, root) = dir();
    write_roles(
        &root,
        &[
            ("a/vars/main.yml", "v: a\n"),
            ("a/defaults/main.yml", "d: a\npv: a-default\n"),
            (
                "a/tasks/main.yml",
                "- name: a\n  shell: echo \"a v={{ v }} d={{ d }} pv={{ pv }} p={{ p | default(0) }}\" >> {{ out }}\n",
            ),
            ("b/vars/main.yml", "v: b\n"),
            ("b/defaults/main.yml", "d: b\n"),
            ("b/tasks/main.yml", "- name: b\n  shell: echo \"b v={{ v }} d={{ d }}\" >> {{ out }}\n"),
        ],
    );
    let playbook = r#"
- hosts: all
  gather_facts: false
  vars:
    out: "@ROOT@/out.txt"
    pv: play
    p: play
  roles:
    - role: a
      p: param
    - b
  tasks:
    - name: play
      shell: echo "play v={{ v }} d={{ d }} p={{ p }}" >> {{ out }}
"#;
    run(&root, playbook, RunOptions::default());
    // ansible-core 2.19, as above (ok=3 changed=3).
    let ansible = "a v=a d=a pv=play p=param\nb v=b d=b\nplay v=b d=b p=play\n";
    assert_eq!(std::fs::read_to_string(root.join("out.txt")).unwrap(), ansible);
}

/// `ansible_parent_role_names` names the role whose tasks import or
/// include this one; a dependency has its dependent's parents; the
/// dependency runs once though `inner` comes twice.
#[test]
fn parent_role_names_follow_imports_and_includes() {
    let (_tmp, root) = dir();
    let echo = |what: &str| {
        format!(
            "- shell: echo \"{what} {{{{ ansible_parent_role_names | default([]) | join(',') }}}}\" >> {{{{ out }}}}\n"
        )
    };
    let (inner, dep) = (echo("inner"), echo("dep"));
    write_roles(
        &root,
        &[
            ("outer/tasks/main.yml", "- import_role: {name: inner}\n- include_role: {name: inner}\n"),
            ("inner/meta/main.yml", "dependencies: [dep]\n"),
            ("inner/tasks/main.yml", &inner),
            ("dep/tasks/main.yml", &dep),
        ],
    );
    let playbook = "- hosts: all\n  gather_facts: false\n  vars: {out: \"@ROOT@/out.txt\"}\n  roles: [outer]\n";
    run(&root, playbook, RunOptions::default());
    // ansible-core 2.19 on the same files (ok=4 changed=3).
    let ansible = "dep outer\ninner outer\ninner outer\n";
    assert_eq!(std::fs::read_to_string(root.join("out.txt")).unwrap(), ansible);
}
