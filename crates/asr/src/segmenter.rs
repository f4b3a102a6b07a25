//! Cuts one channel's engine-rate audio into windows on the audio clock.
//!
//! This is the simplest honest policy: a window is transcribed when it reaches the model's
//! maximum length, or when the client asks (`Finalize`, `CloseStream`). Successive windows tile
//! the timeline exactly. Voice-activity endpointing and interim results refine this later.

/// A window of audio and where it sits on the channel's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// First sample's index on the audio clock (engine rate).
    pub start_sample: u64,
    pub samples: Vec<f32>,
}

/// Buffers one channel and hands out [`Segment`]s.
#[derive(Debug, Clone)]
pub struct Segmenter {
    max_window_samples: usize,
    buf: Vec<f32>,
    start_sample: u64,
}

impl Segmenter {
    pub fn new(max_window_samples: usize) -> Self {
        Self {
            max_window_samples: max_window_samples.max(1),
            buf: Vec::new(),
            start_sample: 0,
        }
    }

    /// Samples on the clock so far (emitted and buffered).
    pub fn clock_samples(&self) -> u64 {
        self.start_sample + self.buf.len() as u64
    }

    /// Samples waiting for the next window.
    pub fn buffered_samples(&self) -> usize {
        self.buf.len()
    }

    /// Add audio; returns every window that filled up.
    pub fn push(&mut self, mut samples: &[f32]) -> Vec<Segment> {
        let mut full = Vec::new();
        while !samples.is_empty() {
            let room = self.max_window_samples - self.buf.len();
            let take = room.min(samples.len());
            self.buf.extend_from_slice(&samples[..take]);
            samples = &samples[take..];
            if self.buf.len() == self.max_window_samples {
                full.push(self.flush());
            }
        }
        full
    }

    /// Where the buffered audio starts on the clock.
    pub fn snapshot_start(&self) -> u64 {
        self.start_sample
    }

    /// A copy of what is buffered, without consuming it (for interim results).
    pub fn snapshot(&self) -> Segment {
        Segment {
            start_sample: self.start_sample,
            samples: self.buf.clone(),
        }
    }

    /// Hand out the first `n` buffered samples (at most all of them) as a window; the rest stays
    /// buffered and becomes the start of the next one.
    pub fn split(&mut self, n: usize) -> Segment {
        let n = n.min(self.buf.len());
        let rest = self.buf.split_off(n);
        let seg = Segment {
            start_sample: self.start_sample,
            samples: std::mem::replace(&mut self.buf, rest),
        };
        self.start_sample += n as u64;
        seg
    }

    /// The buffered offset in `from..to` where the audio is quietest: the middle of the
    /// `frame`-sample stretch with the least energy (the first of equals). `to` when the range
    /// holds less than one frame. Offsets are clamped to what is buffered.
    pub fn quietest(&self, from: usize, to: usize, frame: usize) -> usize {
        let to = to.min(self.buf.len());
        let from = from.min(to);
        let frame = frame.max(1);
        if to - from < frame {
            return to;
        }
        let energy = |a: usize| self.buf[a..a + frame].iter().map(|x| x * x).sum::<f32>();
        let step = (frame / 2).max(1);
        let (mut best, mut best_e) = (from, f32::INFINITY);
        let mut at = from;
        while at + frame <= to {
            let e = energy(at);
            if e < best_e {
                (best, best_e) = (at, e);
            }
            at += step;
        }
        best + frame / 2
    }

    /// Hand out whatever is buffered (possibly nothing) as a window.
    pub fn flush(&mut self) -> Segment {
        let samples = std::mem::take(&mut self.buf);
        let seg = Segment {
            start_sample: self.start_sample,
            samples,
        };
        self.start_sample += seg.samples.len() as u64;
        seg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_keeps_the_tail_on_the_clock() {
        let mut s = Segmenter::new(100);
        s.push(&(0..30).map(|i| i as f32).collect::<Vec<_>>());
        let head = s.split(12);
        assert_eq!((head.start_sample, head.samples.len()), (0, 12));
        assert_eq!(s.snapshot_start(), 12);
        assert_eq!(s.snapshot().samples[0], 12.0);
        assert_eq!(s.clock_samples(), 30);
        assert_eq!(s.split(99).samples.len(), 18);
    }

    #[test]
    fn the_quietest_point_is_found_in_a_range() {
        let mut s = Segmenter::new(1000);
        let mut audio = vec![0.5f32; 300];
        audio[120..160].fill(0.01); // a pause
        audio[200..230].fill(0.0); // a quieter one, outside the range searched first
        s.push(&audio);
        assert_eq!(s.quietest(100, 180, 20), 130);
        assert_eq!(s.quietest(0, 300, 20), 210);
        // Too short a range, or beyond what is buffered: its end.
        assert_eq!(s.quietest(100, 110, 20), 110);
        assert_eq!(s.quietest(290, 5000, 20), 300);
        assert_eq!(s.quietest(400, 500, 20), 300);
    }

    #[test]
    fn windows_tile_the_timeline() {
        let mut s = Segmenter::new(10);
        let mut segs = s.push(&[0.0; 7]);
        segs.extend(s.push(&[0.0; 25]));
        segs.push(s.flush());
        segs.push(s.flush());
        let spans: Vec<_> = segs
            .iter()
            .map(|g| (g.start_sample, g.samples.len()))
            .collect();
        assert_eq!(spans, vec![(0, 10), (10, 10), (20, 10), (30, 2), (32, 0)]);
        assert_eq!(s.clock_samples(), 32);
    }
}
