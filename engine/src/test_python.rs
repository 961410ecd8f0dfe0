//! For tests that compare with the installed ansible-core: its Python
//! runs a script that reads one JSON string per line on stdin and prints
//! one JSON value per line.

/// Runs `script` (with `args`) under ansible-core's Python, each input as
/// a JSON string line, and returns what it printed, parsed, one per input.
pub fn ansible_json_lines<'i>(
    script: &str,
    args: &[&str],
    inputs: impl Iterator<Item = &'i str>,
) -> Vec<serde_json::Value> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let python = std::path::Path::new("/opt/ansible/bin/python3");
    assert!(python.is_file(), "this test needs ansible-core's python (/opt/ansible/bin/python3)");
    let input: String = inputs.map(|t| format!("{}\n", serde_json::json!(t))).collect();
    let mut child = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the comparison script failed");
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}
