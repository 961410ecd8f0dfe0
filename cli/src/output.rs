//! Writing to stdout and stderr without `print!`: those panic when the
//! stream is closed or its reader has gone (`push ... 2>&-`, `| head`).
//! Nothing is left to tell then, so a failed write is dropped and push
//! exits with the code its work earned.

use std::io::Write;

/// The command's result text, on stdout.
pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}

/// The command's result bytes (a decrypted file need not be text), on stdout.
pub fn out_bytes(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(bytes).and_then(|()| stdout.flush());
}
