use std::process::Stdio;

use tokio::process::Command;

use super::{read_output, BoxFuture, Connection, Connector, ExecOutput, Progress, Target, TransportError};
use crate::script::Script;

/// Runs scripts with this machine's `sh`.
#[derive(Debug, Default)]
pub struct LocalConnector;

struct LocalConnection;

impl Connector for LocalConnector {
    fn connect<'a>(&'a self, _target: &'a Target) -> BoxFuture<'a, Result<Box<dyn Connection>, TransportError>> {
        Box::pin(async { Ok(Box::new(LocalConnection) as Box<dyn Connection>) })
    }
}

impl Connection for LocalConnection {
    fn exec<'a>(
        &'a self,
        script: &'a Script,
        progress: Progress<'a>,
    ) -> BoxFuture<'a, Result<ExecOutput, TransportError>> {
        Box::pin(async move {
            let mut child = Command::new("sh")
                .arg("-s")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| TransportError::Exec(format!("cannot start sh: {e}")))?;
            let mut stdin = child.stdin.take().expect("piped stdin");
            let write = async move {
                let r = crate::attachment::send(script, &mut stdin).await;
                drop(stdin);
                r
            };
            let (stdout, stderr) =
                (child.stdout.take().expect("piped stdout"), child.stderr.take().expect("piped stderr"));
            let (written, output) = tokio::join!(write, read_output(stdout, stderr, script, progress));
            let failed = |e: std::io::Error| TransportError::Exec(e.to_string());
            written.map_err(failed)?;
            let (stdout, stderr) = output.map_err(failed)?;
            let status = child.wait().await.map_err(failed)?;
            Ok(ExecOutput { stdout, stderr, status: status.code() })
        })
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}
