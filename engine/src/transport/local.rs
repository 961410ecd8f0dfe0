use std::process::Stdio;

use tokio::process::{Child, Command};
use tokio::sync::Mutex;

use super::session::{ChunkEnd, Pipes, Session};
use super::{BoxFuture, Connection, Connector, Exec, ExecOutput, Progress, Target, TransportError};
use crate::script::Script;

/// Runs scripts with this machine's `sh`, one session per connection as
/// over SSH (without heartbeats: there is no connection to lose).
#[derive(Debug, Default)]
pub struct LocalConnector;

#[derive(Default)]
struct LocalConnection {
    live: Mutex<Option<(Child, Session)>>,
}

impl Connector for LocalConnector {
    fn connect<'a>(&'a self, _target: &'a Target) -> BoxFuture<'a, Result<Box<dyn Connection>, TransportError>> {
        Box::pin(async { Ok(Box::new(LocalConnection::default()) as Box<dyn Connection>) })
    }
}

async fn start() -> Result<(Child, Session), TransportError> {
    let mut child = Command::new("sh")
        .arg("-s")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| TransportError::Exec(format!("cannot start sh: {e}")))?;
    let pipes = Pipes {
        stdin: Box::pin(child.stdin.take().expect("piped stdin")),
        stdout: Box::pin(child.stdout.take().expect("piped stdout")),
        stderr: Box::pin(child.stderr.take().expect("piped stderr")),
    };
    let session = Session::start(pipes, 0, None).await.map_err(|e| TransportError::Exec(e.to_string()))?;
    Ok((child, session))
}

impl Connection for LocalConnection {
    fn exec<'a>(&'a self, script: &'a Script, progress: Progress<'a>) -> BoxFuture<'a, Result<Exec, TransportError>> {
        Box::pin(async move {
            let mut live = self.live.lock().await;
            let new_session = live.as_ref().is_none_or(|(_, s)| s.is_dead());
            if new_session {
                *live = Some(start().await?);
            }
            let (child, session) = live.as_mut().expect("started above");
            let failed = |e: std::io::Error| TransportError::Exec(e.to_string());
            match session.run(script, progress).await.map_err(failed)? {
                ChunkEnd::Done(mut output) => {
                    output.new_session = new_session;
                    Ok(Exec::Done(output))
                }
                ChunkEnd::Lost { stdout, stderr } => {
                    let status = child.wait().await.map_err(failed)?;
                    let why = match status.code() {
                        None => TransportError::ShellKilled,
                        Some(code) => TransportError::ShellExited(code),
                    };
                    Ok(Exec::Lost { partial: ExecOutput { stdout, stderr, status: status.code(), new_session }, why })
                }
            }
        })
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            if let Some((mut child, session)) = self.live.lock().await.take() {
                session.close().await;
                let _ = child.wait().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{self, ScriptStep};

    /// `printf` arguments that print exactly `bytes`.
    fn printf(bytes: &[u8]) -> String {
        let octal: String = bytes.iter().map(|b| format!("\\{b:03o}")).collect();
        format!("printf '{octal}'")
    }

    /// A script cut off on its way (a file it carries cannot be read) is
    /// an error, not a wait for the rest of it; the next script starts a
    /// new session.
    #[tokio::test]
    async fn a_script_cut_off_on_its_way_ends_its_session() {
        let step = |snippet| ScriptStep::plain(script::StepId::Step(0), snippet);
        let conn = LocalConnector.connect(&Target::default()).await.unwrap();
        let mut cut = script::apply(&[step("echo TOKEN_F | wc -c")], &[], &[], None);
        let missing = std::path::PathBuf::from("/nonexistent/push-test-file");
        cut.attachments.push(push_modules::Attachment { path: missing.clone(), token: "TOKEN_F".into() });
        let Err(e) = conn.exec(&cut, &|_, _| {}).await else { panic!("a script cut off ran") };
        assert!(e.to_string().contains(&missing.display().to_string()), "{e}");
        let next = script::apply(&[step("echo next")], &[], &[], None);
        let Ok(Exec::Done(output)) = conn.exec(&next, &|_, _| {}).await else { panic!("no next session") };
        assert!(output.new_session);
        let reports = script::parse(&output.stdout, &output.stderr, &next.nonce).unwrap();
        assert_eq!(reports[0].stdout, b"next\n");
        conn.close().await;
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]
        /// Steps print any bytes on their stdout and stderr, in a real
        /// shell: a session gives them back exactly, chunk after chunk
        /// (a streamed probe, then one whose steps print into files),
        /// over the one session it started.
        #[test]
        fn a_session_gives_back_what_steps_print(
            steps in proptest::collection::vec(
                (proptest::collection::vec(proptest::num::u8::ANY, 0..1500),
                 proptest::collection::vec(proptest::num::u8::ANY, 0..300)),
                1..4),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let snippets: Vec<String> =
                steps.iter().map(|(out, err)| format!("{}; {} >&2", printf(out), printf(err))).collect();
            let script_steps: Vec<ScriptStep> = snippets
                .iter()
                .enumerate()
                .map(|(i, snippet)| ScriptStep::plain(script::StepId::Step(i), snippet))
                .collect();
            let conn = runtime.block_on(LocalConnector.connect(&Target::default())).unwrap();
            for (round, filed) in [false, true].into_iter().enumerate() {
                let script = script::probe(&script_steps, filed);
                let exec = runtime.block_on(conn.exec(&script, &|_, _| {})).unwrap();
                let Exec::Done(output) = exec else { panic!("the session went away") };
                proptest::prop_assert_eq!(output.new_session, round == 0);
                let reports = script::parse(&output.stdout, &output.stderr, &script.nonce).unwrap();
                proptest::prop_assert_eq!(reports.len(), steps.len());
                for (r, (out, err)) in reports.iter().zip(&steps) {
                    proptest::prop_assert_eq!(&r.stdout, out);
                    proptest::prop_assert_eq!(&r.stderr, err);
                    proptest::prop_assert_eq!(r.rc, 0);
                }
            }
            runtime.block_on(conn.close());
        }
    }
}
