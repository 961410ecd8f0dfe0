//! Files that travel inside a script (`copy src:`). The script's text holds
//! a token where each file's base64 text goes; the file is read and encoded
//! only as the script is written out, a chunk at a time. So a file is never
//! held whole in memory, whatever its size and however many hosts get it.

use std::io::{self, Read, Write};
use std::path::Path;

use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::script::Script;

/// Bytes read at a time: a multiple of 3, so that the chunks' base64 texts
/// put end to end are the whole file's.
const CHUNK: usize = 3 << 14;

enum Piece<'a> {
    Text(&'a str),
    File(&'a Path),
}

/// A script's text cut at its attachments' tokens.
fn pieces<'a>(script: &'a Script, text: &'a str) -> Vec<Piece<'a>> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        let next =
            script.attachments.iter().filter_map(|a| rest.find(&a.token).map(|at| (at, a))).min_by_key(|(at, _)| *at);
        let Some((at, attachment)) = next else {
            out.push(Piece::Text(rest));
            return out;
        };
        out.push(Piece::Text(&rest[..at]));
        out.push(Piece::File(&attachment.path));
        rest = &rest[at + attachment.token.len()..];
    }
}

/// An error reading an attached file names it.
fn unreadable(path: &Path) -> impl Fn(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))
}

/// Write the script, its files base64-encoded in place (`PUSH_KEEP_SCRIPTS`).
pub fn write(script: &Script, out: &mut impl Write) -> io::Result<()> {
    let mut buf = vec![0; CHUNK];
    let mut text = String::new();
    if script.become_password.is_some() {
        out.write_all(crate::script::BecomePassword::KEPT_ASSIGNMENT.as_bytes())?;
    }
    for piece in pieces(script, &script.text) {
        match piece {
            Piece::Text(t) => out.write_all(t.as_bytes())?,
            Piece::File(path) => {
                let mut file = std::fs::File::open(path).map_err(unreadable(path))?;
                loop {
                    let n = fill(&mut file, &mut buf).map_err(unreadable(path))?;
                    if n == 0 {
                        break;
                    }
                    encode(&buf[..n], &mut text);
                    out.write_all(text.as_bytes())?;
                }
            }
        }
    }
    out.flush()
}

/// Send the script to a host's shell, its files base64-encoded in place.
pub async fn send(script: &Script, out: &mut (impl AsyncWrite + Unpin)) -> io::Result<()> {
    send_text(script, &script.text, out).await
}

/// Send `text`, a form of `script` (its standalone text or its session
/// chunk), its files base64-encoded in place.
pub async fn send_text(script: &Script, text: &str, out: &mut (impl AsyncWrite + Unpin)) -> io::Result<()> {
    let mut buf = vec![0; CHUNK];
    let mut text_buf = String::new();
    if let Some(password) = &script.become_password {
        out.write_all(password.assignment().as_bytes()).await?;
    }
    for piece in pieces(script, text) {
        match piece {
            Piece::Text(t) => out.write_all(t.as_bytes()).await?,
            Piece::File(path) => {
                let mut file = tokio::fs::File::open(path).await.map_err(unreadable(path))?;
                loop {
                    let n = fill_async(&mut file, &mut buf).await.map_err(unreadable(path))?;
                    if n == 0 {
                        break;
                    }
                    encode(&buf[..n], &mut text_buf);
                    out.write_all(text_buf.as_bytes()).await?;
                }
            }
        }
    }
    out.flush().await
}

fn encode(bytes: &[u8], text: &mut String) {
    text.clear();
    base64::engine::general_purpose::STANDARD.encode_string(bytes, text);
}

/// Read until `buf` is full or the file ends: a short chunk in the middle
/// would pad the base64 text there.
fn fill(file: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

async fn fill_async(file: &mut (impl AsyncRead + Unpin), buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]).await? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use push_modules::Attachment;

    /// A file larger than a chunk, and not a multiple of 3 bytes, sent
    /// twice and written: the same text as encoding it whole, in place.
    #[test]
    fn files_go_where_their_tokens_stand() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let bytes: Vec<u8> = (0..CHUNK * 2 + 7).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let other = dir.path().join("g");
        std::fs::write(&other, b"g").unwrap();
        let script = Script {
            text: "a TOKEN_F b TOKEN_G c TOKEN_F".into(),
            nonce: String::new(),
            attachments: vec![
                Attachment { path: path.clone(), token: "TOKEN_F".into() },
                Attachment { path: other, token: "TOKEN_G".into() },
            ],
            become_password: None,
        };
        let whole = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let expected = format!("a {whole} b Zw== c {whole}");

        let mut written = Vec::new();
        write(&script, &mut written).unwrap();
        assert!(written == expected.as_bytes(), "written");

        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut sent = Vec::new();
        runtime.block_on(send(&script, &mut sent)).unwrap();
        assert!(sent == expected.as_bytes(), "sent");

        std::fs::remove_file(&path).unwrap();
        let e = write(&script, &mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    }

    /// The become password is set in the shell as the script is sent; a
    /// kept script has a line asking for it instead.
    #[test]
    fn the_become_password_is_sent_but_never_kept() {
        let script = Script {
            text: "echo hi\n".into(),
            nonce: String::new(),
            attachments: Vec::new(),
            become_password: Some(crate::script::BecomePassword::new("it's s3cret").unwrap()),
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut sent = Vec::new();
        runtime.block_on(send(&script, &mut sent)).unwrap();
        assert_eq!(String::from_utf8(sent).unwrap(), "PUSH_BECOME_PW='it'\\''s s3cret'\necho hi\n");
        let mut kept = Vec::new();
        write(&script, &mut kept).unwrap();
        let kept = String::from_utf8(kept).unwrap();
        assert!(!kept.contains("s3cret") && kept.starts_with("PUSH_BECOME_PW=${PUSH_BECOME_PW:?"), "{kept}");
    }

    #[test]
    fn a_become_password_is_one_line() {
        assert!(crate::script::BecomePassword::new("a\nb").is_err());
    }
}
