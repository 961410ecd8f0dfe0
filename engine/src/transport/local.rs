use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::{BoxFuture, Connection, Connector, ExecOutput, Target, TransportError};

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
    fn exec<'a>(&'a self, script: &'a str) -> BoxFuture<'a, Result<ExecOutput, TransportError>> {
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
                let r = stdin.write_all(script.as_bytes()).await;
                drop(stdin);
                r
            };
            let (written, output) = tokio::join!(write, child.wait_with_output());
            written.map_err(|e| TransportError::Exec(e.to_string()))?;
            let output = output.map_err(|e| TransportError::Exec(e.to_string()))?;
            Ok(ExecOutput { stdout: output.stdout, stderr: output.stderr, status: output.status.code() })
        })
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}
