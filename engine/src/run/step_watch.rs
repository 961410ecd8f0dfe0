//! Which step of a running script just ended, read from its stderr as it
//! arrives. An apply prints each step's stderr frame (`NONCE + ID` ...
//! `NONCE = RC`) once the step is over, so the end of a frame is the end
//! of its step and the start of the next: enough for a host's spinner to
//! name the task at work while one exec runs for minutes.

use std::sync::Mutex;

/// Frame lines longer than this are not ours.
const LONGEST_FRAME_LINE: usize = 256;

pub(super) struct StepWatch {
    mark: String,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The start of a line whose end has not come yet, while it may still
    /// be a frame line.
    line: Vec<u8>,
    /// The current line is not a frame line: skipped to its newline.
    skipping: bool,
    /// The step whose frame is open.
    open: Option<String>,
}

impl StepWatch {
    pub(super) fn new(nonce: &str) -> StepWatch {
        StepWatch { mark: format!("{nonce} "), state: Mutex::default() }
    }

    /// The ids of the steps whose frames `chunk` (with what came before)
    /// closes, in order.
    pub(super) fn feed(&self, chunk: &[u8]) -> Vec<String> {
        let mut state = self.state.lock().expect("not poisoned: no panics while held");
        let mark = self.mark.as_bytes();
        let mut ended = Vec::new();
        let mut rest = chunk;
        loop {
            let nl = rest.iter().position(|&b| b == b'\n');
            let piece = &rest[..nl.unwrap_or(rest.len())];
            if !state.skipping {
                let room = (LONGEST_FRAME_LINE + 1).saturating_sub(state.line.len());
                state.line.extend_from_slice(&piece[..piece.len().min(room)]);
                let n = state.line.len().min(mark.len());
                if state.line.len() > LONGEST_FRAME_LINE || state.line[..n] != mark[..n] {
                    state.line.clear();
                    state.skipping = true;
                }
            }
            let Some(nl) = nl else { return ended };
            if !state.skipping && state.line.len() > mark.len() {
                let line = String::from_utf8_lossy(&state.line[mark.len()..]).trim_end_matches('\r').to_string();
                if let Some(id) = line.strip_prefix("+ ") {
                    state.open = Some(id.to_string());
                } else if line.starts_with("= ") {
                    ended.extend(state.open.take());
                }
            }
            state.line.clear();
            state.skipping = false;
            rest = &rest[nl + 1..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_end_in_order_whatever_the_pieces() {
        let stream = "\nN + lock\nN w 5 someone\nN = 0\n\nN + 0\nwarn: N + 7\nN = 0\n\nN + 1\nN = 2\n";
        for size in [1, 3, 7, stream.len()] {
            let watch = StepWatch::new("N");
            let ended: Vec<String> = stream.as_bytes().chunks(size).flat_map(|c| watch.feed(c)).collect();
            assert_eq!(ended, ["lock", "0", "1"], "pieces of {size}");
        }
    }

    #[test]
    fn data_that_only_looks_like_a_frame_is_not_one() {
        let watch = StepWatch::new("N");
        assert!(watch.feed(b"x N + 0\nN = 0\nNN = 1\n").is_empty());
    }
}
