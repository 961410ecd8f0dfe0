//! A session: one remote shell per host for the whole run, fed over its
//! stdin. The host side is session.sh; each script goes as a chunk
//! ([`Script::session_text`]) and comes back framed as a standalone script's
//! output would, followed on both streams by the chunk's end marker
//! `\nNONCE done STATUS\n`. The next chunk is sent only after both markers
//! arrived, so a dependency on a host's answer costs one round trip here,
//! not a new remote shell.
//!
//! Between and during chunks a heartbeat (an empty line) goes every
//! `heartbeat` (script_watch.sh ends the session when they stop).

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;

use super::{ExecOutput, Progress, Stream};
use crate::output_cap::CappedFrames;
use crate::script::Script;

pub(crate) type Input = Pin<Box<dyn AsyncWrite + Send>>;
pub(crate) type Output = Pin<Box<dyn AsyncRead + Send>>;

/// The remote shell's three streams, as a transport started it.
pub(crate) struct Pipes {
    pub stdin: Input,
    pub stdout: Output,
    pub stderr: Output,
}

/// One live session.
pub(crate) struct Session {
    stdin: Arc<Mutex<Option<Input>>>,
    stdout: Mutex<Splitter>,
    stderr: Mutex<Splitter>,
    heartbeats: Option<tokio::task::JoinHandle<()>>,
    /// Set once a chunk's output ended without its marker: nothing more
    /// can be sent.
    dead: std::sync::atomic::AtomicBool,
}

/// How a chunk ended.
pub(crate) enum ChunkEnd {
    /// Its end marker came on both streams: the output, and its status.
    Done(ExecOutput),
    /// A stream ended before its marker: the session is gone. What came
    /// of the chunk until then.
    Lost { stdout: Vec<u8>, stderr: Vec<u8> },
}

impl Session {
    /// Start a session on a freshly started `sh -s`: the silence limit
    /// (0: no watcher), then the host side's functions.
    pub async fn start(pipes: Pipes, silence_limit_secs: u64, heartbeat: Option<Duration>) -> std::io::Result<Session> {
        let Pipes { mut stdin, stdout, stderr } = pipes;
        let prologue = format!(
            "PUSH_SILENCE={silence_limit_secs}\n{}{}",
            include_str!("../script_watch.sh"),
            include_str!("../session.sh")
        );
        stdin.write_all(prologue.as_bytes()).await?;
        stdin.flush().await?;
        let stdin = Arc::new(Mutex::new(Some(stdin)));
        let heartbeats = heartbeat.map(|every| {
            let stdin = Arc::clone(&stdin);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let mut guard = stdin.lock().await;
                    let Some(input) = guard.as_mut() else { return };
                    if input.write_all(b"\n").await.is_err() || input.flush().await.is_err() {
                        return;
                    }
                }
            })
        });
        Ok(Session {
            stdin,
            stdout: Mutex::new(Splitter::new(stdout)),
            stderr: Mutex::new(Splitter::new(stderr)),
            heartbeats,
            dead: Default::default(),
        })
    }

    /// Has a chunk found the session gone?
    pub fn is_dead(&self) -> bool {
        self.dead.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Send one script as a chunk and read its output up to its end
    /// markers. Err: the chunk could not be sent whole (the session is
    /// gone before it ran).
    pub async fn run(&self, script: &Script, progress: Progress<'_>) -> std::io::Result<ChunkEnd> {
        let (mut out, mut err) = (self.stdout.lock().await, self.stderr.lock().await);
        let text = script.session_text();
        let send = async {
            let mut guard = self.stdin.lock().await;
            let input = guard.as_mut().ok_or_else(|| std::io::Error::other("the session is closed"))?;
            crate::attachment::send_text(script, &text, input).await?;
            input.flush().await
        };
        let marker = format!("\n{} done ", script.nonce).into_bytes();
        let (on_out, on_err) =
            (|piece: &[u8]| progress(Stream::Stdout, piece), |piece: &[u8]| progress(Stream::Stderr, piece));
        let read = async { tokio::join!(out.chunk(script, &marker, &on_out), err.chunk(script, &marker, &on_err)) };
        tokio::pin!(send, read);
        let (sent, (out, err)) = tokio::select! {
            read = &mut read => (Ok(()), read),
            sent = &mut send => {
                if sent.is_err() {
                    // Cut off on its way (a file it carries could not be
                    // read): the host's shell must not wait for the rest.
                    self.close().await;
                }
                (sent, read.await)
            }
        };
        if let Err(e) = sent {
            self.dead.store(true, std::sync::atomic::Ordering::Relaxed);
            return Err(e);
        }
        match (out?, err?) {
            (Read::Marked { data: stdout, status }, Read::Marked { data: stderr, .. }) => {
                Ok(ChunkEnd::Done(ExecOutput { stdout, stderr, status: Some(status), new_session: false }))
            }
            (out, err) => {
                self.dead.store(true, std::sync::atomic::Ordering::Relaxed);
                Ok(ChunkEnd::Lost { stdout: out.into_data(), stderr: err.into_data() })
            }
        }
    }

    /// End the session: its stdin closes, so the host's shell exits after
    /// what it is doing.
    pub async fn close(&self) {
        if let Some(h) = &self.heartbeats {
            h.abort();
        }
        if let Some(mut input) = self.stdin.lock().await.take() {
            let _ = input.shutdown().await;
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(h) = &self.heartbeats {
            h.abort();
        }
    }
}

/// One of the session's output streams, cut into chunks at their markers.
struct Splitter {
    stream: Output,
    /// Received past the last marker.
    rest: Vec<u8>,
    ended: bool,
}

enum Read {
    Marked { data: Vec<u8>, status: i32 },
    Ended { data: Vec<u8> },
}

impl Read {
    fn into_data(self) -> Vec<u8> {
        match self {
            Read::Marked { data, .. } | Read::Ended { data } => data,
        }
    }
}

impl Splitter {
    fn new(stream: Output) -> Splitter {
        Splitter { stream, rest: Vec::new(), ended: false }
    }

    /// Read up to `marker` and the rest of its line (the status), bounded
    /// as [`CappedFrames`] bounds a script's output; each piece goes to
    /// `progress` as it arrives.
    async fn chunk(
        &mut self,
        script: &Script,
        marker: &[u8],
        progress: &(dyn Fn(&[u8]) + Sync),
    ) -> std::io::Result<Read> {
        let mut capped = CappedFrames::new(&script.nonce);
        let mut pending = std::mem::take(&mut self.rest);
        // Received with the chunk before (nothing, as the host sends
        // nothing after a marker until the next chunk): this chunk's.
        if !pending.is_empty() {
            progress(&pending);
        }
        let mut buf = vec![0; 64 << 10];
        loop {
            match find(&pending, marker) {
                Some(at) => {
                    let after = at + marker.len();
                    if let Some(nl) = pending[after..].iter().position(|&b| b == b'\n') {
                        let line = &pending[after..after + nl];
                        let status = std::str::from_utf8(line).ok().and_then(|s| s.parse::<i32>().ok());
                        let end = after + nl + 1;
                        match status {
                            Some(status) => {
                                capped.push(&pending[..at]);
                                self.rest = pending[end..].to_vec();
                                return Ok(Read::Marked { data: capped.finish(), status });
                            }
                            // Not a marker after all: data.
                            None => {
                                capped.push(&pending[..end]);
                                pending.drain(..end);
                                continue;
                            }
                        }
                    }
                    // The marker's line is not whole yet.
                    capped.push(&pending[..at]);
                    pending.drain(..at);
                }
                None => {
                    // Keep what may be the start of the marker.
                    let safe = pending.len().saturating_sub(marker.len());
                    capped.push(&pending[..safe]);
                    pending.drain(..safe);
                }
            }
            if self.ended {
                capped.push(&pending);
                return Ok(Read::Ended { data: capped.finish() });
            }
            let n = self.stream.read(&mut buf).await?;
            if n == 0 {
                self.ended = true;
                continue;
            }
            progress(&buf[..n]);
            pending.extend_from_slice(&buf[..n]);
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn splitter(bytes: &[u8]) -> Splitter {
        Splitter::new(Box::pin(std::io::Cursor::new(bytes.to_vec())))
    }

    fn script(nonce: &str) -> Script {
        Script { text: String::new(), nonce: nonce.into(), attachments: Vec::new(), become_password: None }
    }

    #[tokio::test]
    async fn chunks_are_cut_at_their_markers() {
        let stream = b"\nA + 0\nout\nA = 0\n\nA end\n\nA done 0\n\nB + 0\nB done 1 not the end\n\nB done 3\n";
        let mut s = splitter(stream);
        let nothing = |_: &[u8]| {};
        let Read::Marked { data, status } = s.chunk(&script("A"), b"\nA done ", &nothing).await.unwrap() else {
            panic!("no marker")
        };
        assert_eq!((data.as_slice(), status), (&b"\nA + 0\nout\nA = 0\n\nA end\n"[..], 0));
        let Read::Marked { data, status } = s.chunk(&script("B"), b"\nB done ", &nothing).await.unwrap() else {
            panic!("no marker")
        };
        assert_eq!((data.as_slice(), status), (&b"\nB + 0\nB done 1 not the end\n"[..], 3));
        let Read::Ended { data } = s.chunk(&script("C"), b"\nC done ", &nothing).await.unwrap() else {
            panic!("a marker in an empty stream")
        };
        assert!(data.is_empty());
    }

    #[tokio::test]
    async fn a_stream_that_ends_early_gives_what_came() {
        let mut s = splitter(b"\nA + 0\npartial\nA = 0\n\nA + 1\nhalf");
        let Read::Ended { data } = s.chunk(&script("A"), b"\nA done ", &|_| {}).await.unwrap() else {
            panic!("a marker that never came")
        };
        assert_eq!(data, b"\nA + 0\npartial\nA = 0\n\nA + 1\nhalf");
    }

    /// A stream that gives its bytes in the pieces it was made of.
    struct Pieces(std::collections::VecDeque<Vec<u8>>);

    impl AsyncRead for Pieces {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            if let Some(mut piece) = self.0.pop_front() {
                let n = piece.len().min(buf.remaining());
                buf.put_slice(&piece[..n]);
                if n < piece.len() {
                    self.0.push_front(piece.split_off(n));
                }
            }
            std::task::Poll::Ready(Ok(()))
        }
    }

    /// The framed output of steps that printed `data` (stdout, stderr,
    /// exit code), as a script's stdout and stderr, each chunk ended by its
    /// marker.
    fn framed(nonce: &str, steps: &[(Vec<u8>, Vec<u8>, i32)]) -> (Vec<u8>, Vec<u8>) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        for (i, (stdout, stderr, rc)) in steps.iter().enumerate() {
            out.extend(format!("\n{nonce} + {i}\n").as_bytes());
            out.extend(stdout);
            out.extend(format!("\n{nonce} s changed step {i}\n\n{nonce} = {rc}\n").as_bytes());
            err.extend(format!("\n{nonce} + {i}\n").as_bytes());
            err.extend(stderr);
            err.extend(format!("\n{nonce} = {rc}\n").as_bytes());
        }
        out.extend(format!("\n{nonce} end\n").as_bytes());
        for stream in [&mut out, &mut err] {
            stream.extend(format!("\n{nonce} done 0\n").as_bytes());
        }
        (out, err)
    }

    fn cut(bytes: &[u8], sizes: &[usize]) -> std::collections::VecDeque<Vec<u8>> {
        let mut pieces = std::collections::VecDeque::new();
        let mut rest = bytes;
        for &size in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let n = size.clamp(1, rest.len());
            pieces.push_back(rest[..n].to_vec());
            rest = &rest[n..];
        }
        pieces
    }

    proptest::proptest! {
        /// Whatever bytes steps print, cut in whatever pieces, two chunks
        /// one after the other come back as their steps printed them, each
        /// step's end is seen once, in order, and nothing of one chunk
        /// leaks into the next.
        #[test]
        fn arbitrary_step_output_comes_back_whole(
            steps in proptest::collection::vec(
                (proptest::collection::vec(proptest::num::u8::ANY, 0..300),
                 proptest::collection::vec(proptest::num::u8::ANY, 0..300),
                 0..3i32),
                1..5),
            sizes in proptest::collection::vec(1usize..200, 1..8),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let (first, second) = (script("PUSHaaaa"), script("PUSHbbbb"));
            let (out1, err1) = framed(&first.nonce, &steps);
            let (out2, err2) = framed(&second.nonce, &steps[..1]);
            let mut out = splitter(b"");
            out.stream = Box::pin(Pieces(cut(&[out1, out2].concat(), &sizes)));
            let mut err = splitter(b"");
            err.stream = Box::pin(Pieces(cut(&[err1, err2].concat(), &sizes)));
            for (script, steps) in [(&first, &steps[..]), (&second, &steps[..1])] {
                let marker = format!("\n{} done ", script.nonce).into_bytes();
                let events = crate::script::StepStream::new(&script.nonce);
                let ended = std::sync::Mutex::new(Vec::new());
                let seen = |stream, piece: &[u8]| ended.lock().unwrap().extend(events.feed(stream, piece));
                let (seen_out, seen_err) = (|p: &[u8]| seen(Stream::Stdout, p), |p: &[u8]| seen(Stream::Stderr, p));
                let (o, e) = runtime.block_on(async {
                    tokio::join!(out.chunk(script, &marker, &seen_out), err.chunk(script, &marker, &seen_err))
                });
                let (o, e) = (o.unwrap(), e.unwrap());
                let (Read::Marked { data: o, status: 0 }, Read::Marked { data: e, .. }) = (o, e) else {
                    panic!("a chunk without its marker")
                };
                let reports = crate::script::parse(&o, &e, &script.nonce).unwrap();
                proptest::prop_assert_eq!(reports.len(), steps.len());
                for (r, (stdout, stderr, rc)) in reports.iter().zip(steps) {
                    proptest::prop_assert_eq!(&r.stdout, stdout);
                    proptest::prop_assert_eq!(&r.stderr, stderr);
                    proptest::prop_assert_eq!(r.rc, *rc);
                    proptest::prop_assert!(r.changed());
                }
                // Each step's report, put together as the pieces came, is
                // the one read from the whole output.
                proptest::prop_assert_eq!(ended.into_inner().unwrap(), reports);
            }
        }
    }
}
