//! An MP4's edit list, read from its bytes as the decoder reads them: which stretch of the
//! track's samples is the audio. AAC encoders prime the decoder with extra samples (1024 or
//! 2112 for ffmpeg and Apple) and pad the last frame; the `elst` box says where the audio starts
//! (`media_time`, in the track's time scale from `mdhd`) and how long it lasts
//! (`segment_duration`, in the movie's time scale from `mvhd`). symphonia 0.6 reads MP4 without
//! it, so hark counted the priming and padding as audio.
//!
//! The scan looks for the `mvhd`, `mdhd` and `elst` boxes by their type and size anywhere in the
//! stream; a trim is used only for a file with exactly one track and one edit list.

use std::io::Read;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
pub(crate) struct EditScan {
    /// The last bytes of the previous read (a box header may straddle two reads).
    tail: Vec<u8>,
    movie_scale: Option<u32>,
    media_scales: Vec<u32>,
    /// Each `elst` box's first edit that holds media: (segment_duration, media_time).
    edits: Vec<(u64, u64)>,
}

/// What to drop, in output frames at `rate_hz`: the first `skip` frames, and all after `keep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Trim {
    pub skip: u64,
    pub keep: Option<u64>,
}

/// Bytes a box needs after its type to be read here.
const NEED: usize = 4 + 8 + 8 + 4 + 8 + 8 + 8;

impl EditScan {
    /// The next bytes of the stream. The bytes are scanned where they lie; only the last few
    /// (or an unfinished box header) are kept for the next read.
    pub fn feed(&mut self, bytes: &[u8]) {
        // Boxes whose size or type straddle the previous read and this one.
        let mut join = Vec::new();
        if !self.tail.is_empty() {
            let t = self.tail.len();
            join = std::mem::take(&mut self.tail);
            join.extend_from_slice(&bytes[..bytes.len().min(NEED + 8)]);
            if let Some(p) = self.scan(&join, 4..t + 4) {
                // (Only when this read was short: all of it is in `join`.)
                self.tail = join[p - 4..].to_vec();
                return;
            }
        }
        // A type (and the size before it) may start in the last 7 bytes of the stream so far.
        let last = if bytes.len() >= 7 || join.is_empty() {
            bytes
        } else {
            &join[..]
        };
        self.tail = match self.scan(bytes, 4..bytes.len()) {
            Some(p) => bytes[p - 4..].to_vec(),
            None => last[last.len().saturating_sub(7)..].to_vec(),
        };
    }

    /// Read the boxes whose type starts at a position in `at`; the first one whose fields are not
    /// all in `buf` yet stops the scan and is returned.
    fn scan(&mut self, buf: &[u8], at: std::ops::Range<usize>) -> Option<usize> {
        for p in at {
            if p + 4 > buf.len() {
                break;
            }
            let tag = &buf[p..p + 4];
            if matches!(tag, b"mvhd" | b"mdhd" | b"elst") {
                if buf.len() < p + 4 + NEED {
                    return Some(p);
                }
                let size = u32::from_be_bytes([buf[p - 4], buf[p - 3], buf[p - 2], buf[p - 1]]);
                self.read_box(tag, size, &buf[p + 4..]);
            }
        }
        None
    }

    fn read_box(&mut self, tag: &[u8], size: u32, body: &[u8]) {
        let u32_at =
            |i: usize| u32::from_be_bytes([body[i], body[i + 1], body[i + 2], body[i + 3]]);
        let u64_at = |i: usize| (u64::from(u32_at(i)) << 32) | u64::from(u32_at(i + 4));
        let version = body[0];
        match (tag, version) {
            // Full box: version, flags; then times (32 or 64 bits) and the time scale.
            (b"mvhd" | b"mdhd", 0) if size >= 32 => self.scale(tag, u32_at(12)),
            (b"mvhd" | b"mdhd", 1) if size >= 44 => self.scale(tag, u32_at(20)),
            (b"elst", 0 | 1) => {
                let count = u32_at(4) as usize;
                let entry = if version == 0 { 12 } else { 20 };
                if count == 0 || size as usize != 16 + count * entry {
                    return;
                }
                // The first edit that holds media (an empty edit, media_time −1, delays it).
                for k in 0..count.min(2) {
                    let at = 8 + k * entry;
                    if at + entry > body.len() {
                        return;
                    }
                    let (duration, time) = if version == 0 {
                        (u64::from(u32_at(at)), i64::from(u32_at(at + 4) as i32))
                    } else {
                        (u64_at(at), u64_at(at + 8) as i64)
                    };
                    if time >= 0 {
                        self.edits.push((duration, time as u64));
                        return;
                    }
                }
            }
            _ => {}
        }
    }

    fn scale(&mut self, tag: &[u8], scale: u32) {
        if scale == 0 {
            return;
        }
        if tag == b"mvhd" {
            self.movie_scale.get_or_insert(scale);
        } else {
            self.media_scales.push(scale);
        }
    }

    /// The trim for output at `rate_hz`, if the file has one track and one edit list.
    pub fn trim(&self, rate_hz: u32) -> Option<Trim> {
        let ([media_scale], [(duration, media_time)]) = (&self.media_scales[..], &self.edits[..])
        else {
            return None;
        };
        let rate = u128::from(rate_hz);
        let skip = (u128::from(*media_time) * rate / u128::from(*media_scale)) as u64;
        let keep = self
            .movie_scale
            .filter(|_| *duration > 0)
            .map(|movie| (u128::from(*duration) * rate / u128::from(movie)) as u64);
        Some(Trim { skip, keep })
    }
}

/// A reader that shows every byte it reads to an [`EditScan`].
pub(crate) struct Scanning<R> {
    pub inner: R,
    pub scan: Arc<Mutex<EditScan>>,
}

impl<R: Read> Read for Scanning<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        if let Ok(mut s) = self.scan.lock() {
            s.feed(&out[..n]);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_box(tag: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((8 + body.len()) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(tag);
        b.extend_from_slice(body);
        b
    }

    fn header(tag: &[u8; 4], scale: u32) -> Vec<u8> {
        let mut body = vec![0u8; 4 + 8];
        body.extend_from_slice(&scale.to_be_bytes());
        body.extend_from_slice(&[0u8; 80]);
        full_box(tag, &body)
    }

    #[test]
    fn an_edit_list_gives_the_priming_and_the_length() {
        let mut file = header(b"mvhd", 1000);
        file.extend(header(b"mdhd", 44_100));
        let mut elst = vec![0u8, 0, 0, 0, 0, 0, 0, 1];
        elst.extend_from_slice(&19_098u32.to_be_bytes());
        elst.extend_from_slice(&1024u32.to_be_bytes());
        elst.extend_from_slice(&[0, 1, 0, 0]);
        file.extend(full_box(b"elst", &elst));
        file.extend_from_slice(&[0u8; 64]);
        // Fed in awkward pieces: box headers straddle reads.
        for piece_len in [1, 3, 5, 7, 13, 61, 1000] {
            let mut scan = EditScan::default();
            for piece in file.chunks(piece_len) {
                scan.feed(piece);
            }
            let t = scan.trim(16_000).expect("a trim");
            assert_eq!(t.skip, 1024 * 16_000 / 44_100, "{piece_len}");
            assert_eq!(t.keep, Some(19_098 * 16));
        }
        // Two tracks: no trim (hark cannot tell which is the audio's).
        let mut two = file.clone();
        two.extend(header(b"mdhd", 48_000));
        let mut scan = EditScan::default();
        scan.feed(&two);
        assert_eq!(scan.trim(16_000), None);
    }
}
