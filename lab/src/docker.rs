//! The `docker` command line, run as a child process. Shelling out keeps
//! the lab independent of Docker API versions (the Debian engine here is
//! 20.10, clients may be newer) and every step is a command a user can
//! paste to see the same thing.

use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::{Error, Result};

/// How many trailing output lines a failed streaming command keeps for its
/// error message and the printed tail.
const TAIL: usize = 25;

#[derive(Debug, Clone)]
pub struct Docker {
    program: String,
}

impl Default for Docker {
    fn default() -> Self {
        Docker { program: "docker".to_string() }
    }
}

/// What `docker container inspect` says about one container, the parts the
/// lab uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `running`, `exited`, `created`...
    pub state: String,
    /// Address on each network it is attached to.
    pub addresses: BTreeMap<String, String>,
    pub image: String,
}

impl Container {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    pub fn is_running(&self) -> bool {
        self.state == "running"
    }

    fn from_inspect(v: &Value) -> Container {
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let labels = v["Config"]["Labels"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), s(v))).collect())
            .unwrap_or_default();
        let addresses = v["NetworkSettings"]["Networks"]
            .as_object()
            .map(|m| {
                m.iter().map(|(net, n)| (net.clone(), s(&n["IPAddress"]))).filter(|(_, ip)| !ip.is_empty()).collect()
            })
            .unwrap_or_default();
        Container {
            name: s(&v["Name"]).trim_start_matches('/').to_string(),
            labels,
            state: s(&v["State"]["Status"]),
            addresses,
            image: s(&v["Config"]["Image"]),
        }
    }
}

/// A docker network: its labels and gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub gateway: Option<String>,
    pub subnet: Option<String>,
}

impl Docker {
    fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(&self.program);
        cmd.args(args);
        cmd
    }

    /// Run `docker ARGS`; its stdout (trimmed) when it succeeds.
    pub fn output<I, S>(&self, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.output_with_stdin(args, None)
    }

    /// Run `docker ARGS` with `input` on its stdin.
    pub fn output_with_stdin<I, S>(&self, args: I, input: Option<&[u8]>) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command(args);
        let line = command_line(&cmd);
        cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| Error::Failed(format!("cannot run `{line}`: {e}")))?;
        if let Some(input) = input {
            let mut stdin = child.stdin.take().expect("piped stdin");
            // A failed write shows up as the command's own failure below.
            let _ = stdin.write_all(input);
        }
        let out = child.wait_with_output().map_err(|e| Error::Failed(format!("`{line}`: {e}")))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(Error::Failed(format!("`{line}` failed: {}", last_line(&String::from_utf8_lossy(&out.stderr)))))
        }
    }

    /// Run `docker ARGS`, passing each output line (stdout and stderr) to
    /// `on_line` as it comes, for progress. On failure the error carries
    /// the last line, and `tail` gets the last lines for the user to read.
    pub fn stream<I, S>(&self, args: I, on_line: &(dyn Fn(&str) + Sync), tail: &mut Vec<String>) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let cmd = self.command(args);
        stream_command(cmd, on_line, tail)
    }

    /// True when `docker ARGS` exits 0 (output ignored).
    pub fn succeeds<I, S>(&self, args: I) -> bool
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        cmd.status().is_ok_and(|s| s.success())
    }

    /// The container named exactly `name`, if there is one.
    pub fn container(&self, name: &str) -> Result<Option<Container>> {
        let Some(out) = self.inspect(
            &["container", "inspect", "--", name],
            &format!("docker container inspect {name}"),
            &["No such"],
        )?
        else {
            return Ok(None);
        };
        let v: Value = serde_json::from_slice(&out)
            .map_err(|e| Error::Failed(format!("`docker container inspect {name}`: unreadable output: {e}")))?;
        Ok(v.as_array().and_then(|a| a.first()).map(Container::from_inspect))
    }

    /// stdout of a `docker KIND inspect ...` command (`what` names it in
    /// errors), `None` when docker's error says the object is not there
    /// (one of `absent`).
    fn inspect(&self, args: &[&str], what: &str, absent: &[&str]) -> Result<Option<Vec<u8>>> {
        let mut cmd = self.command(args);
        let out = cmd.stdin(Stdio::null()).output().map_err(|e| Error::Failed(format!("cannot run docker: {e}")))?;
        if out.status.success() {
            return Ok(Some(out.stdout));
        }
        let err = String::from_utf8_lossy(&out.stderr);
        if absent.iter().any(|a| err.contains(a)) {
            return Ok(None);
        }
        Err(Error::Failed(format!("`{what}` failed: {}", last_line(&err))))
    }

    /// Every container (running or not) with label `key=value`.
    pub fn containers_labeled(&self, key: &str, value: &str) -> Result<Vec<Container>> {
        let ids = self.output(["ps", "-a", "-q", "--no-trunc", "--filter", &format!("label={key}={value}")])?;
        let ids: Vec<&str> = ids.lines().filter(|l| !l.is_empty()).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = vec!["container", "inspect"];
        args.extend(ids);
        let text = self.output(args)?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| Error::Failed(format!("`docker container inspect`: unreadable output: {e}")))?;
        Ok(v.as_array().map(|a| a.iter().map(Container::from_inspect).collect()).unwrap_or_default())
    }

    pub fn network(&self, name: &str) -> Result<Option<Network>> {
        let Some(out) = self.inspect(
            &["network", "inspect", "--", name],
            &format!("docker network inspect {name}"),
            &["No such", "not found"],
        )?
        else {
            return Ok(None);
        };
        let v: Value = serde_json::from_slice(&out)
            .map_err(|e| Error::Failed(format!("`docker network inspect {name}`: unreadable output: {e}")))?;
        let Some(n) = v.as_array().and_then(|a| a.first()) else { return Ok(None) };
        let labels = n["Labels"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
            .unwrap_or_default();
        let ipam = n["IPAM"]["Config"].as_array().and_then(|a| a.first());
        let field = |k: &str| ipam.and_then(|c| c[k].as_str()).filter(|s| !s.is_empty()).map(str::to_string);
        Ok(Some(Network {
            name: n["Name"].as_str().unwrap_or(name).to_string(),
            labels,
            gateway: field("Gateway"),
            subnet: field("Subnet"),
        }))
    }

    /// Names of networks / volumes with label `key=value`.
    pub fn networks_labeled(&self, key: &str, value: &str) -> Result<Vec<String>> {
        let out =
            self.output(["network", "ls", "-q", "--filter", &format!("label={key}={value}"), "--format", "{{.Name}}"])?;
        Ok(out.lines().filter(|l| !l.is_empty()).map(str::to_string).collect())
    }

    pub fn volumes_labeled(&self, key: &str, value: &str) -> Result<Vec<String>> {
        let out = self.output(["volume", "ls", "-q", "--filter", &format!("label={key}={value}")])?;
        Ok(out.lines().filter(|l| !l.is_empty()).map(str::to_string).collect())
    }

    /// The value of label `key` on local image `image`: `None` when the image
    /// is not here, `Some("")` when it is but lacks the label.
    pub fn image_label(&self, image: &str, key: &str) -> Result<Option<String>> {
        let Some(out) = self.inspect(
            &["image", "inspect", "--format", "{{json .Config.Labels}}", "--", image],
            &format!("docker image inspect {image}"),
            &["No such"],
        )?
        else {
            return Ok(None);
        };
        let v: Value = serde_json::from_slice(&out).unwrap_or(Value::Null);
        Ok(Some(v[key].as_str().unwrap_or_default().to_string()))
    }

    /// The image's ID, if it is here.
    pub fn image_id(&self, image: &str) -> Result<Option<String>> {
        let mut cmd = self.command(["image", "inspect", "--format", "{{.Id}}", "--", image]);
        let out = cmd.stdin(Stdio::null()).output().map_err(|e| Error::Failed(format!("cannot run docker: {e}")))?;
        if out.status.success() {
            return Ok(Some(String::from_utf8_lossy(&out.stdout).trim().to_string()));
        }
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No such") {
            Ok(None)
        } else {
            Err(Error::Failed(format!("`docker image inspect {image}` failed: {}", last_line(&err))))
        }
    }

    /// `docker exec NAME ARGS...`, its stdout.
    pub fn exec(&self, container: &str, args: &[&str]) -> Result<String> {
        let mut all = vec!["exec", container];
        all.extend_from_slice(args);
        self.output(all)
    }

    /// `docker exec NAME ARGS...` whatever its exit status: `(exit code,
    /// stdout, stderr)`; exit code `None` when killed by a signal.
    pub fn exec_status(&self, container: &str, args: &[&str]) -> Result<(Option<i32>, String, String)> {
        let mut cmd = self.command(["exec", container]);
        cmd.args(args);
        let line = command_line(&cmd);
        let out = cmd.stdin(Stdio::null()).output().map_err(|e| Error::Failed(format!("cannot run `{line}`: {e}")))?;
        Ok((
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }

    /// `docker exec -i NAME ARGS...` with `input` on stdin.
    pub fn exec_with_stdin(&self, container: &str, args: &[&str], input: &[u8]) -> Result<String> {
        let mut all = vec!["exec", "-i", container];
        all.extend_from_slice(args);
        self.output_with_stdin(all, Some(input))
    }
}

/// Run `cmd` with its stdout and stderr read line by line (see
/// [`Docker::stream`]).
pub fn stream_command(mut cmd: Command, on_line: &(dyn Fn(&str) + Sync), tail: &mut Vec<String>) -> Result<()> {
    let line = command_line(&cmd);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| Error::Failed(format!("cannot run `{line}`: {e}")))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let kept = std::sync::Mutex::new(VecDeque::with_capacity(TAIL));
    let read = |r: &mut dyn BufRead| {
        for l in r.split(b'\n').map_while(|l| l.ok()) {
            let text = String::from_utf8_lossy(&l);
            // `\r` redraws (apt, docker pull) become separate updates.
            for part in text.split('\r').map(str::trim_end).filter(|p| !p.trim().is_empty()) {
                on_line(part);
                let mut kept = kept.lock().expect("tail lock");
                if kept.len() == TAIL {
                    kept.pop_front();
                }
                kept.push_back(part.to_string());
            }
        }
    };
    std::thread::scope(|s| {
        s.spawn(|| read(&mut BufReader::new(stderr)));
        read(&mut BufReader::new(stdout));
    });
    let status = child.wait().map_err(|e| Error::Failed(format!("`{line}`: {e}")))?;
    *tail = kept.into_inner().expect("tail lock").into_iter().collect();
    if status.success() {
        Ok(())
    } else {
        let why = tail.last().cloned().unwrap_or_else(|| format!("exit status {status}"));
        Err(Error::Failed(format!("`{line}` failed: {why}")))
    }
}

/// `cmd` as one line for messages (quoted where a shell would need it).
pub fn command_line(cmd: &Command) -> String {
    let program = cmd.get_program().to_string_lossy().into_owned();
    std::iter::once(program)
        .chain(cmd.get_args().map(|a| {
            let a = a.to_string_lossy();
            shlex::try_quote(&a).map(|q| q.into_owned()).unwrap_or_else(|_| format!("{a:?}"))
        }))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last non-empty line of a command's stderr, for a one-line error.
pub fn last_line(text: &str) -> String {
    text.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("no output").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_container_inspect() {
        let v: Value = serde_json::from_str(
            r#"{"Name": "/lab-1", "State": {"Status": "running"},
                "Config": {"Image": "push-lab/debian:12", "Labels": {"push.lab": "lab", "push.lab.index": "1"}},
                "NetworkSettings": {"Networks": {"push-lab-lab": {"IPAddress": "172.18.0.3"}, "none": {"IPAddress": ""}}}}"#,
        )
        .unwrap();
        let c = Container::from_inspect(&v);
        assert_eq!(c.name, "lab-1");
        assert!(c.is_running());
        assert_eq!(c.label("push.lab"), Some("lab"));
        assert_eq!(c.addresses.get("push-lab-lab").map(String::as_str), Some("172.18.0.3"));
        assert_eq!(c.addresses.len(), 1);
    }

    #[test]
    fn last_line_of_stderr() {
        assert_eq!(last_line("a\nError: no such thing\n\n"), "Error: no such thing");
        assert_eq!(last_line(""), "no output");
    }

    #[test]
    fn streams_lines_and_keeps_a_tail() {
        let seen = std::sync::Mutex::new(Vec::new());
        let mut tail = Vec::new();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo one; echo two >&2; printf 'a\\rb\\n'; exit 3"]);
        let err = stream_command(cmd, &|l| seen.lock().unwrap().push(l.to_string()), &mut tail).unwrap_err();
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        assert_eq!(seen, ["a", "b", "one", "two"]);
        assert_eq!(tail.len(), 4);
        assert!(err.to_string().contains("failed"), "{err}");
    }
}
