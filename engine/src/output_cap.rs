//! A script's output, received with a bound on what is kept: a step may
//! print gigabytes (a task that cats a disk image), and the controller
//! would hold them all, for each host at once. Of each frame's data (a
//! step's stdout, its stderr, a diff's side; see [`crate::script`]) the
//! first and the last [`KEEP`] bytes are kept, and a line in between says
//! how many bytes were cut. Frame lines themselves always go through whole,
//! so the report parses as before.

/// Bytes kept at each end of a frame's data: enough for any message worth
/// reading, and for a file's diff of ordinary size.
pub const KEEP: usize = 64 << 10;

/// The output of one stream (stdout or stderr) as it arrives, bounded.
pub struct CappedFrames {
    /// `\nNONCE `: where a frame line starts.
    mark: Vec<u8>,
    kept: Vec<u8>,
    /// Received and not yet sorted out: the start of a frame line whose
    /// newline has not come yet, or bytes that may be the start of a mark.
    pending: Vec<u8>,
    in_frame_line: bool,
    data: FrameData,
}

/// The current frame's data beyond what is already kept.
#[derive(Default)]
struct FrameData {
    /// Bytes of this frame's data kept so far at its start.
    head: usize,
    /// The latest bytes past the head: the tail, once trimmed to [`KEEP`].
    tail: Vec<u8>,
    cut: u64,
}

impl CappedFrames {
    pub fn new(nonce: &str) -> CappedFrames {
        CappedFrames {
            mark: format!("\n{nonce} ").into_bytes(),
            kept: Vec::new(),
            pending: Vec::new(),
            in_frame_line: false,
            data: FrameData::default(),
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.pending.extend_from_slice(chunk);
        loop {
            if self.in_frame_line {
                let Some(nl) = self.pending.iter().position(|&b| b == b'\n') else { return };
                self.kept.extend(self.pending.drain(..=nl));
                self.in_frame_line = false;
                continue;
            }
            match self.find_mark() {
                Some(at) => {
                    let data: Vec<u8> = self.pending.drain(..at).collect();
                    self.take_data(&data);
                    self.end_data();
                    self.kept.extend(self.pending.drain(..self.mark.len()));
                    self.in_frame_line = true;
                }
                None => {
                    // The last bytes may be the start of a mark the next chunk ends.
                    let safe = self.pending.len().saturating_sub(self.mark.len() - 1);
                    let data: Vec<u8> = self.pending.drain(..safe).collect();
                    self.take_data(&data);
                    return;
                }
            }
        }
    }

    /// What is kept so far and was not taken before, for a reader of the
    /// stream as it arrives: a frame's data is here whole (bounded) once
    /// the frame line after it is. [`CappedFrames::finish`] then gives only
    /// the rest.
    pub fn take_kept(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.kept)
    }

    /// Everything received, bounded (a frame line cut off by the end of the
    /// stream is kept as it came: the parser reports the output as cut off).
    pub fn finish(mut self) -> Vec<u8> {
        let rest = std::mem::take(&mut self.pending);
        if self.in_frame_line {
            self.kept.extend(rest);
        } else {
            self.take_data(&rest);
            self.end_data();
        }
        self.kept
    }

    /// Where the next mark starts in `pending`. Marks start with a newline,
    /// so only newlines are compared further (a frame's data may be long).
    fn find_mark(&self) -> Option<usize> {
        let p = &self.pending;
        let mut from = 0;
        while let Some(nl) = p[from..].iter().position(|&b| b == b'\n') {
            let at = from + nl;
            if p.len() - at < self.mark.len() {
                return None;
            }
            if p[at..].starts_with(&self.mark) {
                return Some(at);
            }
            from = at + 1;
        }
        None
    }

    fn take_data(&mut self, mut bytes: &[u8]) {
        let d = &mut self.data;
        if d.head < KEEP {
            let n = bytes.len().min(KEEP - d.head);
            self.kept.extend_from_slice(&bytes[..n]);
            d.head += n;
            bytes = &bytes[n..];
        }
        d.tail.extend_from_slice(bytes);
        // Trimmed in batches, so each byte is moved a bounded number of times.
        if d.tail.len() > 2 * KEEP {
            let extra = d.tail.len() - KEEP;
            d.tail.drain(..extra);
            d.cut += extra as u64;
        }
    }

    fn end_data(&mut self) {
        let mut d = std::mem::take(&mut self.data);
        if d.tail.len() > KEEP {
            let extra = d.tail.len() - KEEP;
            d.tail.drain(..extra);
            d.cut += extra as u64;
        }
        if d.cut > 0 {
            self.kept.extend_from_slice(format!("\n[... {} bytes of output cut here ...]\n", d.cut).as_bytes());
        }
        self.kept.extend_from_slice(&d.tail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: &str = "PUSHx";

    fn capped(stream: &[u8], chunk: usize) -> Vec<u8> {
        let mut c = CappedFrames::new(NONCE);
        for part in stream.chunks(chunk.max(1)) {
            c.push(part);
        }
        c.finish()
    }

    #[test]
    fn small_output_goes_through_unchanged_in_any_chunking() {
        let stream = b"motd\n\nPUSHx + 0\nout\nPUSHxy not a mark\n\nPUSHx s changed x\n\nPUSHx = 0\n\nPUSHx end\n";
        for chunk in [1, 2, 3, 7, 64, stream.len()] {
            assert_eq!(capped(stream, chunk), stream, "chunks of {chunk}");
        }
    }

    #[test]
    fn a_long_frame_keeps_its_head_and_tail_and_says_what_was_cut() {
        let mut data = vec![b'h'; KEEP];
        data.extend(std::iter::repeat_n(b'm', 5 * KEEP + 3));
        data.extend(std::iter::repeat_n(b't', KEEP));
        let mut stream = b"\nPUSHx + 0\n".to_vec();
        stream.extend(&data);
        stream.extend(b"\nPUSHx = 0\n\nPUSHx + 1\nshort\nPUSHx = 0\n\nPUSHx end\n");
        for chunk in [4096, 65536 + 17, stream.len()] {
            let out = capped(&stream, chunk);
            let text = String::from_utf8(out.clone()).unwrap();
            let expected = format!(
                "\nPUSHx + 0\n{}\n[... {} bytes of output cut here ...]\n{}\nPUSHx = 0\n\nPUSHx + 1\nshort\nPUSHx = 0\n\nPUSHx end\n",
                "h".repeat(KEEP),
                5 * KEEP + 3,
                "t".repeat(KEEP)
            );
            assert!(text == expected, "chunks of {chunk}: {} bytes, not the expected {}", text.len(), expected.len());
            let reports = crate::script::parse(&out, b"", NONCE).unwrap();
            assert_eq!(reports[1].stdout, b"short");
        }
    }

    #[test]
    fn a_frame_line_cut_off_at_the_end_stays_cut_off() {
        let out = capped(b"\nPUSHx + 0\nout\nPUSHx = ", 5);
        assert_eq!(out, b"\nPUSHx + 0\nout\nPUSHx = ");
    }
}
