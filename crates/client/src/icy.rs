//! Shoutcast/Icecast ("ICY") in-band metadata removal.
//!
//! A server that answers `Icy-MetaData: 1` with `icy-metaint: N` interleaves, after every N audio
//! bytes, one length byte L and then L×16 bytes of metadata (`StreamTitle='…';`). Sending those
//! bytes on as audio would corrupt the MP3/AAC stream, so they are cut out here, whatever the chunk
//! boundaries.

/// Streaming ICY metadata stripper.
#[derive(Debug, Clone)]
pub struct IcyStripper {
    metaint: usize,
    state: State,
    title: Vec<u8>,
    last_title: Option<String>,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// This many audio bytes before the next length byte.
    Audio(usize),
    /// Expecting the length byte.
    Length,
    /// This many metadata bytes still to skip.
    Meta(usize),
}

impl IcyStripper {
    /// `metaint`: the `icy-metaint` header value (audio bytes between metadata blocks), > 0.
    pub fn new(metaint: usize) -> Self {
        Self {
            metaint: metaint.max(1),
            state: State::Audio(metaint.max(1)),
            title: Vec::new(),
            last_title: None,
        }
    }

    /// Appends the audio bytes of `chunk` to `out`, dropping the metadata.
    pub fn push(&mut self, mut chunk: &[u8], out: &mut Vec<u8>) {
        while !chunk.is_empty() {
            match self.state {
                State::Audio(n) => {
                    let take = n.min(chunk.len());
                    out.extend_from_slice(&chunk[..take]);
                    chunk = &chunk[take..];
                    self.state = if take == n {
                        State::Length
                    } else {
                        State::Audio(n - take)
                    };
                }
                State::Length => {
                    let len = usize::from(chunk[0]) * 16;
                    chunk = &chunk[1..];
                    self.title.clear();
                    self.state = if len == 0 {
                        State::Audio(self.metaint)
                    } else {
                        State::Meta(len)
                    };
                }
                State::Meta(n) => {
                    let take = n.min(chunk.len());
                    self.title.extend_from_slice(&chunk[..take]);
                    chunk = &chunk[take..];
                    if take == n {
                        self.finish_block();
                        self.state = State::Audio(self.metaint);
                    } else {
                        self.state = State::Meta(n - take);
                    }
                }
            }
        }
    }

    fn finish_block(&mut self) {
        let text = String::from_utf8_lossy(&self.title);
        let text = text.trim_end_matches('\0');
        if let Some(rest) = text.split("StreamTitle='").nth(1) {
            let title = rest.split("';").next().unwrap_or(rest).to_owned();
            self.last_title = Some(title);
        }
    }

    /// The latest `StreamTitle`, taken (so each change is reported once).
    pub fn take_title(&mut self) -> Option<String> {
        self.last_title.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `audio` with a metadata block after every `metaint` bytes, as an ICY server sends it.
    fn interleave(audio: &[u8], metaint: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, block) in audio.chunks(metaint).enumerate() {
            out.extend_from_slice(block);
            if block.len() == metaint {
                if i % 2 == 0 {
                    let meta = format!("StreamTitle='Song {i}';");
                    let len = meta.len().div_ceil(16);
                    out.push(len as u8);
                    let mut padded = meta.into_bytes();
                    padded.resize(len * 16, 0);
                    out.extend_from_slice(&padded);
                } else {
                    out.push(0);
                }
            }
        }
        out
    }

    #[test]
    fn strips_metadata_at_any_chunking() {
        let audio: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let wire = interleave(&audio, 1000);
        assert!(wire.len() > audio.len() + 9);
        for chunk in [1, 2, 15, 16, 17, 999, 1000, 1001, 4096, wire.len()] {
            let mut s = IcyStripper::new(1000);
            let mut out = Vec::new();
            for c in wire.chunks(chunk) {
                s.push(c, &mut out);
            }
            assert_eq!(out, audio, "chunk size {chunk}");
            assert_eq!(s.take_title().as_deref(), Some("Song 8"));
            assert_eq!(s.take_title(), None);
        }
    }
}
