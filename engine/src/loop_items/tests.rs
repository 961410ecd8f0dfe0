//! push's items against ansible-core's lookup plugins. `CASES` holds what
//! ansible-core 2.19 gave for each input (`@D`: a folder laid out by
//! [`layout`]); `live_ansible_lookups_agree` asks the installed
//! ansible-core again, so a change on either side shows.

use serde_json::Value;

use super::*;

/// (lookup, terms as JSON, what ansible-core gave: `{"ok": items}` or
/// `{"error": its message}`).
const CASES: &[(&str, &str, &str)] = &[
    ("items", r#"[1, [2, 3], [[4]], "ab", {"k": 1}]"#, r#"{"ok": [1, 2, 3, [4], "ab", {"k": 1}]}"#),
    ("items", r#"[]"#, r#"{"ok": []}"#),
    ("items", r#""x""#, r#"{"ok": ["x"]}"#),
    ("list", r#"[1, [2, 3], 4]"#, r#"{"ok": [1, [2, 3], 4]}"#),
    ("list", r#"{"a": 1}"#, r#"{"ok": [{"a": 1}]}"#),
    (
        "dict",
        r#"{"alice": {"uid": 1}, "bob": {"uid": 2}}"#,
        r#"{"ok": [{"key": "alice", "value": {"uid": 1}}, {"key": "bob", "value": {"uid": 2}}]}"#,
    ),
    ("dict", r#"[{"a": 1}, {"b": 2}]"#, r#"{"ok": [{"key": "a", "value": 1}, {"key": "b", "value": 2}]}"#),
    ("dict", r#"[1]"#, r#"{"error": "the 'dict' lookup plugin expects a dictionary, got '1' of type <class 'int'>)"}"#),
    (
        "dict",
        r#""text""#,
        r#"{"error": "the 'dict' lookup plugin expects a dictionary, got 'text' of type <class 'str'>)"}"#,
    ),
    ("indexed_items", r#"["a", ["b", "c"], "d"]"#, r#"{"ok": [[0, "a"], [1, "b"], [2, "c"], [3, "d"]]}"#),
    (
        "nested",
        r#"[["a", "b"], [1, 2], ["x"]]"#,
        r#"{"ok": [["a", 1, "x"], ["a", 2, "x"], ["b", 1, "x"], ["b", 2, "x"]]}"#,
    ),
    ("nested", r#"[["a", "b"], [[1, 2]]]"#, r#"{"ok": [["a", 1, 2], ["b", 1, 2]]}"#),
    ("nested", r#"["abc"]"#, r#"{"ok": [["a"], ["b"], ["c"]]}"#),
    ("nested", r#"[["a"], "xy"]"#, r#"{"ok": [["a", "x"], ["a", "y"]]}"#),
    ("nested", r#"[]"#, r#"{"error": "with_nested requires at least one element in the nested list"}"#),
    ("nested", r#"[[1], 5]"#, r#"{"error": "'int' object is not iterable"}"#),
    ("together", r#"[[1, 2, 3], ["a", "b"]]"#, r#"{"ok": [[1, "a"], [2, "b"], [3, null]]}"#),
    ("together", r#"[[[1, 2]], [3]]"#, r#"{"ok": [[1, 2, 3]]}"#),
    ("together", r#"[[1], {"k": 2}]"#, r#"{"ok": [[1, "k"]]}"#),
    ("together", r#"[[1], 5]"#, r#"{"error": "'int' object is not iterable"}"#),
    (
        "subelements",
        r#"[[{"name": "alice", "keys": ["k1", "k2"]}, {"name": "bob", "keys": ["k3"]}], "keys"]"#,
        r#"{"ok": [[{"name": "alice"}, "k1"], [{"name": "alice"}, "k2"], [{"name": "bob"}, "k3"]]}"#,
    ),
    (
        "subelements",
        r#"[[{"name": "a", "db": {"hosts": ["h1", "h2"], "pw": "x"}}], "db.hosts"]"#,
        r#"{"ok": [[{"name": "a", "db": {"pw": "x"}}, "h1"], [{"name": "a", "db": {"pw": "x"}}, "h2"]]}"#,
    ),
    (
        "subelements",
        r#"[[{"n": 1, "k": [1, 2]}, {"n": 2}], "k", {"skip_missing": true}]"#,
        r#"{"ok": [[{"n": 1}, 1], [{"n": 1}, 2]]}"#,
    ),
    (
        "subelements",
        r#"[[{"n": 1, "k": [1, 2]}, {"n": 2}], "k"]"#,
        r#"{"error": "could not find 'k' key in iterated item '{'n': 2}'"}"#,
    ),
    (
        "subelements",
        r#"[[{"n": 1, "k": "notalist"}], "k"]"#,
        r#"{"error": "the key k should point to a list, got 'notalist'"}"#,
    ),
    (
        "subelements",
        r#"[{"a": {"n": 1, "k": [1]}, "b": {"n": 2, "k": [2]}}, "k"]"#,
        r#"{"ok": [[{"n": 1}, 1], [{"n": 2}, 2]]}"#,
    ),
    ("subelements", r#"[{"skipped": true}, "k"]"#, r#"{"ok": []}"#),
    (
        "subelements",
        r#"[[{"n": 1, "k": [1], "skipped": true}, {"n": 2, "k": [2]}], "k"]"#,
        r#"{"ok": [[{"n": 2}, 2]]}"#,
    ),
    ("subelements", r#"[[1, 2], "k"]"#, r#"{"error": "subelements lookup expects a dictionary, got '1'"}"#),
    ("subelements", r#"[[{"k": [1]}]]"#, r#"{"error": "subelements lookup expects a list of two or three items,"}"#),
    ("subelements", r#"[[{"d": {"x": 1}}], "d.k", {"skip_missing": "yes"}]"#, r#"{"ok": []}"#),
    ("sequence", r#""start=1 end=5""#, r#"{"ok": ["1", "2", "3", "4", "5"]}"#),
    (
        "sequence",
        r#""start=0 end=32 stride=8 format=testuser%02x""#,
        r#"{"ok": ["testuser00", "testuser08", "testuser10", "testuser18", "testuser20"]}"#,
    ),
    ("sequence", r#""count=4""#, r#"{"ok": ["1", "2", "3", "4"]}"#),
    (
        "sequence",
        r#""start=10 end=0 stride=-1""#,
        r#"{"ok": ["10", "9", "8", "7", "6", "5", "4", "3", "2", "1", "0"]}"#,
    ),
    ("sequence", r#""5""#, r#"{"ok": ["1", "2", "3", "4", "5"]}"#),
    ("sequence", r#""5-8""#, r#"{"ok": ["5", "6", "7", "8"]}"#),
    ("sequence", r#""2-10/2""#, r#"{"ok": ["2", "4", "6", "8", "10"]}"#),
    ("sequence", r#""4:host%02d""#, r#"{"ok": ["host01", "host02", "host03", "host04"]}"#),
    ("sequence", r#""start=0600 end=0602""#, r#"{"ok": ["600", "601", "602"]}"#),
    ("sequence", r#""start=0 count=5 stride=2""#, r#"{"ok": ["0", "2", "4", "6", "8"]}"#),
    ("sequence", r#""start=1 end=3 format=%5.2f""#, r#"{"ok": [" 1.00", " 2.00", " 3.00"]}"#),
    ("sequence", r#""start=1 end=3 format=%-4d|""#, r#"{"ok": ["1   |", "2   |", "3   |"]}"#),
    ("sequence", r#""start=1 end=3 format=%+05d""#, r#"{"ok": ["+0001", "+0002", "+0003"]}"#),
    ("sequence", r#""start=1 end=3 format=%#o""#, r#"{"ok": ["0o1", "0o2", "0o3"]}"#),
    ("sequence", r#""start=1 end=3 format=%s""#, r#"{"ok": ["1", "2", "3"]}"#),
    ("sequence", r#"["start=1 end=2", "start=5 end=6"]"#, r#"{"ok": ["1", "2", "5", "6"]}"#),
    ("sequence", r#""start=5 end=1""#, r#"{"error": "to count backwards make stride negative"}"#),
    ("sequence", r#""start=1 end=5 stride=-1""#, r#"{"error": "to count forward don't make stride negative"}"#),
    ("sequence", r#""start=1 end=3 stride=0""#, r#"{"ok": []}"#),
    ("sequence", r#""count=0""#, r#"{"ok": []}"#),
    ("sequence", r#""start=1""#, r#"{"error": "must specify count or end in with_sequence"}"#),
    ("sequence", r#""end=3 count=3""#, r#"{"error": "can't specify both count and end in with_sequence"}"#),
    ("sequence", r#""start=1 end=3 format=%d%d""#, r#"{"error": "bad formatting string: %d%d"}"#),
    (
        "sequence",
        r#""start=0x10 end=0x12""#,
        r#"{"error": "Config 'end' for 'sequence' lookup plugin from 'Direct' has an invalid value: Invalid value provided for 'integer': '0x12'"}"#,
    ),
    ("sequence", r#""start=1 end=2 bogus=3""#, r#"{"error": "unrecognized arguments to with_sequence: ['bogus']"}"#),
    ("sequence", r#""start=1.0 end=3""#, r#"{"ok": ["1", "2", "3"]}"#),
    (
        "sequence",
        r#""start=1.5 end=3""#,
        r#"{"error": "Config 'start' for 'sequence' lookup plugin from 'Direct' has an invalid value: Invalid value provided for 'integer': '1.5'"}"#,
    ),
    ("fileglob", r#"["*.conf"]"#, r#"{"ok": ["@D/roles/r/files/c.conf"]}"#),
    ("fileglob", r#"["files/*.conf"]"#, r#"{"ok": ["@D/roles/r/files/c.conf"]}"#),
    ("fileglob", r#"["@D/files/*"]"#, r#"{"ok": ["@D/files/a.conf", "@D/files/b.conf"]}"#),
    ("fileglob", r#"["@D/*.conf"]"#, r#"{"ok": ["@D/top.conf"]}"#),
    ("fileglob", r#"["nope/*"]"#, r#"{"ok": []}"#),
    ("fileglob", r#"["*.nothing", "*.yml"]"#, r#"{"ok": ["@D/x.yml"]}"#),
    ("first_found", r#"["nope.yml", "x.yml"]"#, r#"{"ok": ["@D/x.yml"]}"#),
    ("first_found", r#"["@D/nope", "@D/files/a.conf"]"#, r#"{"ok": ["@D/files/a.conf"]}"#),
    ("first_found", r#"[{"files": ["a.conf", "b.conf"], "paths": ["@D/files"]}]"#, r#"{"ok": ["@D/files/a.conf"]}"#),
    ("first_found", r#"[{"files": ["zz"], "paths": ["@D"], "skip": true}]"#, r#"{"ok": []}"#),
    (
        "first_found",
        r#"["nope", "also-nope"]"#,
        r#"{"error": "The lookup plugin 'first_found' failed: No file was found when using first_found."}"#,
    ),
    ("first_found", r#"["nope.yml;x.yml"]"#, r#"{"ok": ["@D/x.yml"]}"#),
];

/// The files the fileglob and first_found cases look for: a playbook
/// folder with `files/`, and a role `r` with its own `files/`.
fn layout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for folder in ["files", "roles/r/files", "roles/r/tasks"] {
        std::fs::create_dir_all(d.join(folder)).unwrap();
    }
    for file in ["files/a.conf", "files/b.conf", ".h.conf", "top.conf", "roles/r/files/c.conf", "x.yml"] {
        std::fs::write(d.join(file), "").unwrap();
    }
    dir
}

fn kind(lookup: &str) -> LoopKind {
    LoopKind::from_keyword(&format!("with_{lookup}")).unwrap()
}

/// push's answer for one case, in the table's shape.
fn ours(lookup: &str, terms: &str, dir: &Path) -> Value {
    let d = dir.to_string_lossy();
    let terms: Value = serde_json::from_str(&terms.replace("@D", &d)).unwrap();
    let paths =
        SearchPaths { role_dir: Some(dir.join("roles/r")), base_dir: dir.to_path_buf(), first_found_subdir: "files" };
    match items(kind(lookup), terms, &paths) {
        Ok(items) => {
            let text = Value::Array(items).to_string().replace(d.as_ref(), "@D");
            serde_json::json!({"ok": serde_json::from_str::<Value>(&text).unwrap()})
        }
        Err(e) => serde_json::json!({"error": e.to_string()}),
    }
}

/// Same items, or both an error (the words differ: push names the keyword).
fn same(ours: &Value, theirs: &Value) -> bool {
    match (ours.get("ok"), theirs.get("ok")) {
        (Some(a), Some(b)) => a == b,
        (None, None) => true,
        _ => false,
    }
}

#[test]
fn items_are_those_of_ansible_lookups() {
    let dir = layout();
    for (lookup, terms, recorded) in CASES {
        let recorded: Value = serde_json::from_str(recorded).unwrap();
        let ours = ours(lookup, terms, dir.path());
        assert!(same(&ours, &recorded), "with_{lookup}: {terms}\n push:    {ours}\n ansible: {recorded}");
    }
}

/// Asks the installed ansible-core's lookup plugins. `tests/run` leaves
/// this out (and counts it skipped) when Ansible is missing.
#[test]
fn live_ansible_lookups_agree() {
    let dir = layout();
    let d = dir.path().canonicalize().unwrap();
    let lines = crate::test_python::ansible_json_lines(
        LIVE_SCRIPT,
        &[&d.to_string_lossy()],
        CASES
            .iter()
            .map(|(lookup, terms, _)| format!("{lookup}\t{terms}"))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str),
    );
    assert_eq!(lines.len(), CASES.len());
    for ((lookup, terms, recorded), theirs) in CASES.iter().zip(lines) {
        let recorded: Value = serde_json::from_str(recorded).unwrap();
        assert!(
            same(&recorded, &theirs),
            "ansible-core's {lookup} gives {theirs} for {terms} now, recorded {recorded}"
        );
        let ours = ours(lookup, terms, &d);
        assert!(same(&ours, &theirs), "with_{lookup}: {terms}\n push:    {ours}\n ansible: {theirs}");
    }
}

/// Runs each lookup as `with_<lookup>` hands it its terms (anything but a
/// list is one term); fileglob and first_found through a templar whose
/// search path is the role's then the playbook folder's.
const LIVE_SCRIPT: &str = r#"
import json, sys
from ansible.plugins.loader import lookup_loader, init_plugin_loader
from ansible.template import Templar, trust_as_template
from ansible.parsing.dataloader import DataLoader
init_plugin_loader()
d = sys.argv[1]
loader = DataLoader()
loader.set_basedir(d)
search = {'ansible_search_path': [d + '/roles/r', d + '/roles/r/tasks', d], 'role_path': d + '/roles/r'}
for line in sys.stdin.read().splitlines():
    name, terms = json.loads(line).split('\t', 1)
    terms = json.loads(terms.replace('@D', d))
    if not isinstance(terms, list):
        terms = [terms]
    try:
        if name in ('fileglob', 'first_found'):
            t = Templar(loader=loader, variables=dict(search, terms=terms))
            out = t.template(trust_as_template("{{ query('%s', *terms) }}" % name))
            if name == 'fileglob':
                out = sorted(out)
        else:
            out = lookup_loader.get(name, loader=loader).run(terms, variables={})
        print(json.dumps({"ok": json.loads(json.dumps(list(out)))}).replace(d, '@D'))
    except Exception as e:
        print(json.dumps({"error": str(e).splitlines()[0]}))
"#;

/// The plan of `tasks` (YAML) for one host with no variables of its own.
fn planned(tasks: &str) -> Vec<Result<crate::plan::Planned, crate::diagnostic::Diagnostic>> {
    use std::collections::HashMap;
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.yml");
    std::fs::write(&path, format!("- hosts: all\n  tasks:\n{tasks}")).unwrap();
    let playbook = crate::playbook::load_playbook(&path).unwrap();
    let play = &playbook.plays[0];
    let scope = crate::plan::play_scope(play, Default::default(), &Arc::new(Default::default()), HashMap::new());
    play.tasks
        .iter()
        .enumerate()
        .map(|(i, t)| crate::plan::plan_task(play, i, t, &scope, crate::plan::Intent::Converge))
        .collect()
}

/// `loop_var`, `index_var`, `extended`, `label` and `pause`: what each
/// item's step sees, shows and carries into its registered result, and the
/// items `when` skipped, in their places.
#[test]
fn loop_control_sets_what_each_item_sees() {
    let plans = planned(
        r#"    - command: "echo {{ i }} {{ ansible_loop.revindex }} {{ u.n }} {{ (ansible_loop.previtem | default({'n': '-'})).n }}"
      loop: [{n: a}, {n: b}, {n: c}]
      when: u.n != 'b'
      loop_control: {loop_var: u, index_var: i, extended: true, extended_allitems: false, label: "{{ u.n | upper }}", pause: 1.5}
"#,
    );
    let crate::plan::Planned::Run { steps, skipped, .. } = plans[0].as_ref().unwrap() else { panic!("not run") };
    let seen: Vec<_> = steps.iter().map(|s| (s.item_position, s.label.clone().unwrap(), s.pause)).collect();
    assert_eq!(seen, [(1, "A".to_string(), Some(1.5)), (3, "C".to_string(), Some(1.5))]);
    assert!(steps[0].op.apply.contains("echo 0 3 a -"), "{}", steps[0].op.apply);
    assert!(steps[1].op.apply.contains("echo 2 1 c b"), "{}", steps[1].op.apply);
    let carried = Value::Object(steps[1].loop_vars.clone());
    assert_eq!(
        carried,
        serde_json::json!({
            "u": {"n": "c"}, "ansible_loop_var": "u", "i": 2, "ansible_index_var": "i",
            "ansible_loop": {"index": 3, "index0": 2, "first": false, "last": true, "length": 3,
                             "revindex": 1, "revindex0": 0, "previtem": {"n": "b"}},
        })
    );
    assert_eq!(skipped.len(), 1);
    assert_eq!((skipped[0].position, skipped[0].false_condition.as_str()), (2, "u.n != 'b'"));
    assert_eq!(skipped[0].loop_vars["u"], serde_json::json!({"n": "b"}));
}

/// Without `extended`/`index_var` an item carries only the loop variable
/// and `ansible_loop_var`; a loop whose every item `when` skips is skipped
/// with its items, and an empty one without.
#[test]
fn plain_loops_carry_only_their_variable() {
    let plans = planned(
        r#"    - command: "echo {{ item }}"
      with_items: [[p, q], r]
    - command: "echo {{ item }}"
      loop: [a]
      when: false
    - command: "echo {{ item }}"
      loop: []
"#,
    );
    let crate::plan::Planned::Run { steps, .. } = plans[0].as_ref().unwrap() else { panic!("not run") };
    let items: Vec<_> = steps.iter().map(|s| s.item.clone().unwrap()).collect();
    assert_eq!(items, ["p", "q", "r"]);
    assert_eq!(Value::Object(steps[2].loop_vars.clone()), serde_json::json!({"item": "r", "ansible_loop_var": "item"}));
    assert_eq!(steps[2].pause, None);
    let crate::plan::Planned::Skipped { items, .. } = plans[1].as_ref().unwrap() else { panic!("not skipped") };
    assert_eq!(items.len(), 1);
    let crate::plan::Planned::Skipped { items, reason, .. } = plans[2].as_ref().unwrap() else { panic!("not skipped") };
    assert_eq!((items.len(), reason.as_str()), (0, "empty loop"));
}

/// Wrong types and bad `loop_control` are refused where they are written.
#[test]
fn loop_errors_point_at_the_loop() {
    let plans = planned("    - command: \"echo {{ item }}\"\n      with_dict: [a]\n");
    let d = plans[0].as_ref().unwrap_err();
    assert!(d.message.contains("`with_dict` expects a mapping"), "{}", d.message);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.yml");
    for (control, said) in [
        ("{index_vra: i}", "did you mean `index_var`?"),
        ("{pause: soon}", "`pause` must be a number of seconds"),
        ("{loop_var: 'a b'}", "is not a variable name"),
        ("{break_when: [x]}", "not supported by push yet"),
        ("[i]", "`loop_control`"),
    ] {
        let text = format!(
            "- hosts: all\n  tasks:\n    - command: \"true\"\n      loop: [a]\n      loop_control: {control}\n"
        );
        std::fs::write(&path, text).unwrap();
        let d = crate::playbook::load_playbook(&path).unwrap_err();
        let shown = format!("{} {:?}", d.message, d.hint);
        assert!(shown.contains(said), "{control}: {shown}");
        assert_eq!(d.span.as_ref().map(|s| s.line), Some(5), "{control}");
    }
}
